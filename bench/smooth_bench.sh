#!/usr/bin/env bash
# Monte Carlo smoothing throughput (samples x dims per second) of `sgdscape smooth --method mc`
# against the same estimate vectorised in numpy (bench/smooth_bench.py), at d = 10, 1e3, 1e6.
# Usage: bench/smooth_bench.sh [path/to/sgdscape] [repeats] [samples x dims per run]
# Prints the median of `repeats` runs for each (landscape, d, threads) and the ratio to numpy.
# Each run estimates n samples of d coordinates, n d = 1e8 by default (about 0.1-0.5 s of C
# time): shorter runs measure the start of the second thread as much as the estimate (in this
# VM a 15 ms run got 1.2-1.7x from 2 threads, a 90 ms one 1.85x).
# The C time is the estimate alone (summary.json "seconds"); numpy's is wall time of its loop.
# Each repeat runs numpy, C on 1 thread and C on 2 threads in turn (the machine's slow spells then
# fall on both sides alike; numpy's memory-bound loop moved by 1.1-1.6e8/s between runs here).
# The last two columns use CPU time instead (1 thread on both sides): steadier on a shared machine.
set -eu
B=${1:-build/sgdscape}
REPS=${2:-5}
ND=${3:-100000000}
PY=${PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo "# $(date -u +%FT%TZ)  $(uname -m)  $(nproc) cores  load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), vector ISA: $(grep -qw avx512f /proc/cpuinfo && echo AVX-512 || (grep -qw avx2 /proc/cpuinfo && echo AVX2 || echo SSE))"
echo "# C kernels: Philox4x32-10, 8 blocks per AVX2 register, counters built in registers (sgd_philox4x32_run), 4 coordinates per block;"
echo "#   separable f tile by tile, values with the draw fused in (f->phi_cube_sum/acc); OpenMP threads as in C_1thr / C_2thr. numpy: 1 thread, PCG64."
echo "# noise: uniform cube, eta = 0.1, r = 1 (spiky: 1.5), y = 0.1 (all coordinates); rastrigin/quadratic: value g only,"
echo "# spiky-grad: grad g only (phi' of the Figure-3 function); numpy $($PY -c 'import numpy; print(numpy.__version__)')"
printf "%-10s %8s %8s %12s %12s %12s %8s %8s %12s %12s %8s\n" landscape d n numpy_1thr C_1thr C_2thr \
    ratio_1 ratio_2 np_cpu C1_cpu r_cpu
for f in rastrigin quadratic spiky-grad; do
    for cfg in "10 $((ND / 10))" "1000 $((ND / 1000))" "1000000 $((ND / 1000000))"; do
        set -- $cfg
        d=$1 n=$2
        # numpy and the two C runs take turns, so that a slow spell of this
        # shared machine falls on both sides alike
        : >"$T/np"
        : >"$T/c1"
        : >"$T/c2"
        for i in $(seq "$REPS"); do
            "$PY" "$HERE/smooth_bench.py" "$f" "$d" "$n" 1 >>"$T/np"
            for th in 1 2; do
                if [ "$f" = spiky-grad ]; then
                    what="--f spiky --r 1.5 --grad-only"
                else
                    what="--f $f --r 1 --no-grad"
                fi
                "$B" smooth $what --d "$d" --noise cube --eta 0.1 --at 0.1 --method mc --samples "$n" \
                    --threads "$th" --out "$T/run" >/dev/null
                s=$(sed -n 's/^[[:space:]]*"seconds":[[:space:]]*\([^,]*\),\{0,1\}$/\1/p' "$T/run/summary.json")
                cs=$(sed -n 's/^[[:space:]]*"cpu_seconds":[[:space:]]*\([^,]*\),\{0,1\}$/\1/p' "$T/run/summary.json")
                awk -v n="$n" -v d="$d" -v s="$s" 'BEGIN { printf "%.6e\n", n * d / s }' >>"$T/c$th"
                [ "$th" = 1 ] && awk -v n="$n" -v d="$d" -v s="$cs" 'BEGIN { printf "%.6e\n", n * d / s }' >>"$T/cpu"
            done
        done
        np=$(awk '{print $5}' "$T/np" | median)
        npc=$(awk '{print $6}' "$T/np" | median)
        c=("$(median <"$T/c1")" "$(median <"$T/c2")")
        ccpu=$(median <"$T/cpu")
        rm -f "$T/cpu"
        awk -v f="$f" -v d="$d" -v n="$n" -v p="$np" -v a="${c[0]}" -v b="${c[1]}" -v pc="$npc" -v cc="$ccpu" \
            'BEGIN { printf "%-10s %8d %8d %12.4g %12.4g %12.4g %8.2f %8.2f %12.4g %12.4g %8.2f\n", f, d, n, p, a, b, a / p, b / p, pc, cc, cc / pc }'
    done
done
