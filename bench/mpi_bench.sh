#!/usr/bin/env bash
# MPI ranks against OpenMP threads on one machine (docs/mpi.md): np 1 x 2 threads vs np 2 x 1
# thread for `run` and `fig3` (trials), Monte Carlo `smooth` (points; one point's chunks) and data-parallel
# `train` (a tiny ResNet on 2048 generated 28x28 images, batch 64: 256 steps), medians of REPS repeats taken in
# turns (a slow spell of the shared machine falls on both alike), and their ratio (> 1: the MPI
# split is slower). The time is the command's own (summary.json "seconds": for run the trials
# with the gather to rank 0, for smooth the estimates up to the last rank's points gathered;
# for train the epochs' seconds in train.csv: the steps without validation and checkpoints);
# wall time of the whole mpirun (MPI start-up included) beside it. Also checks the bytes agree.
# Usage: bench/mpi_bench.sh [path/to/sgdscape] [repeats]   (ONLY=WORD: the cases containing WORD)
set -eu
B=${1:-build/sgdscape}
REPS=${2:-5}
command -v mpirun >/dev/null || { echo "mpi_bench: no mpirun" >&2; exit 1; }
ldd "$B" | grep -q libmpi || { echo "mpi_bench: $B has no MPI (SGD_MPI)" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
MPI=(mpirun -q --oversubscribe --allow-run-as-root --bind-to none)
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
secs() {
    if [ -f "$1/train.csv" ]; then awk -F, 'NR > 1 {s += $NF} END {print s}' "$1/train.csv"
    else sed -n 's/^[[:space:]]*"seconds":[[:space:]]*\([^,]*\),\{0,1\}$/\1/p' "$1/summary.json"; fi
}
. "$(dirname "$0")/../tests/lib_data.sh"
DATA=$(tiny_images "$T" 2048)
echo "# $(date -u +%FT%TZ)  $(nproc) cores  load: $(cut -d' ' -f1-3 /proc/loadavg)  $(mpirun --version | head -1)"
printf "%-58s %10s %10s %7s %9s %9s %7s %s\n" case np1x2thr np2x1thr ratio wall1x2 wall2x1 ratio bytes
cases=(
    "run --f spiky --trials 100000 --steps 2000 --level 0.1"
    "run --f rastrigin --d 10 --noise cube --trials 20000 --steps 1000 --level 0.05"
    "fig3 --trials 20000 --steps 3000"
    "smooth --f rastrigin --d 1000 --noise cube --method mc --samples 20000 --at 0.1;0.2;0.3;0.4;0.5;0.6;0.7;0.8"
    "smooth --f rastrigin --d 1000 --noise cube --method mc --samples 100000 --at 0.1"
    "smooth --f spiky --d 2 --noise cube --method mc --samples 20000 --n 16"
    "train --model resnet:n=1,w=6 --data $DATA --batch 64 --epochs 8 --quiet"
)
for c in "${cases[@]}"; do
    [[ "$c" == *"${ONLY:-}"* ]] || continue
    read -ra args <<<"$c"
    : >"$T/a"; : >"$T/b"; : >"$T/wa"; : >"$T/wb"
    for i in $(seq "$REPS"); do
        rm -rf "$T/r1" "$T/r2"
        t0=$(date +%s.%N)
        "${MPI[@]}" -np 1 "$B" "${args[@]}" --threads 2 --out "$T/r1" >/dev/null
        t1=$(date +%s.%N)
        "${MPI[@]}" -np 2 "$B" "${args[@]}" --threads 1 --out "$T/r2" >/dev/null
        t2=$(date +%s.%N)
        secs "$T/r1" >>"$T/a"
        secs "$T/r2" >>"$T/b"
        echo "$t1 - $t0" | bc >>"$T/wa"
        echo "$t2 - $t1" | bc >>"$T/wb"
    done
    same=identical
    files=$(cd "$T/r1" && ls | grep -v json)
    [ "${args[0]}" = train ] && files=$(cd "$T/r1" && find . -name '*.npy') # train.csv: timings
    for f in $files; do cmp -s "$T/r1/$f" "$T/r2/$f" || same="DIFFER($f)"; done
    a=$(median <"$T/a") b=$(median <"$T/b") wa=$(median <"$T/wa") wb=$(median <"$T/wb")
    c=${c//$T\//}
    printf "%-58s %10.4g %10.4g %7.3f %9.3g %9.3g %7.3f %s\n" "${c:0:58}" "$a" "$b" "$(echo "$b / $a" | bc -l)" \
        "$wa" "$wb" "$(echo "$wb / $wa" | bc -l)" "$same"
done
