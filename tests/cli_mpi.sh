#!/usr/bin/env bash
# MPI (docs/mpi.md): the landscape-lab commands and data-parallel train under mpirun -np 3 (and -np 1,
# 2, 4 and 2 ranks x 2 threads for some) write the bytes of the plain single-process run: CSV, .npy,
# .dat, .gp, figures, summary.json and manifest.json but for timing fields and
# the manifest's "ranks" and "threads"; stdout the same but for timings. A bad input on one
# rank and a killed rank end the whole job with one message and no run
# directory. Skips (exit 0) without mpirun or when the binary has no MPI.
# Usage: cli_mpi.sh path/to/sgdscape
set -u
B=$1
command -v mpirun >/dev/null || { echo "cli_mpi: skipped: no mpirun"; exit 0; }
ldd "$B" 2>/dev/null | grep -q libmpi || { echo "cli_mpi: skipped: $B built without MPI (SGD_MPI=OFF or no MPI found)"; exit 0; }
T=$(mktemp -d /tmp/sgd_mpi_XXXXXX)
trap 'rm -rf "$T"' EXIT
export SGD_QUIET=1
# an ASan build: Open MPI does not free all it allocates by MPI_Finalize (not ours to fix)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
MPI=(mpirun -q --oversubscribe --allow-run-as-root) # -q: no banner of mpirun's own
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# The files of run directory $2 against those of $1: every file byte for byte,
# the JSON files without timing fields and "ranks", train.csv/.dat without timings. Prints what differs.
cmp_dirs() {
    local a=$1 b=$2 f rc=0
    [ -d "$b" ] || { echo "no $b"; return 1; }
    [ "$(cd "$a" && find . -type f | sort)" = "$(cd "$b" && find . -type f | sort)" ] || { echo "file lists differ"; rc=1; }
    for f in $(cd "$a" && find . -type f | sort); do
        case "$f" in
        *.json)
            /usr/bin/python3 - "$a/$f" "$b/$f" <<'PY' || { echo "$f differs"; rc=1; }
import json, sys
SKIP = ("time", "second", "elapsed", "wall", "date", "host", "version", "command", "rate", "argv", "out",
        "created", "ranks", "threads")
def strip(o):
    if isinstance(o, dict): return {k: strip(v) for k, v in o.items() if not any(w in k for w in SKIP)}
    if isinstance(o, list): return [strip(v) for v in o]
    return o
sys.exit(0 if strip(json.load(open(sys.argv[1]))) == strip(json.load(open(sys.argv[2]))) else 1)
PY
            ;;
        *train.csv | *train.dat) # a train run's last two columns (img_per_s, seconds) are timings
            cmp -s <(sed -E 's/[ ,][^ ,]*[ ,][^ ,]*$//' "$a/$f") <(sed -E 's/[ ,][^ ,]*[ ,][^ ,]*$//' "$b/$f") ||
                { echo "$f differs"; rc=1; } ;;
        *) cmp -s "$a/$f" "$b/$f" || { echo "$f differs"; rc=1; } ;;
        esac
    done
    return $rc
}
norm() { sed -E 's/[0-9.]+(e[-+]?[0-9]+)? ?(s|ms)\b//g; s#'"$T"'/[a-z0-9_]+#DIR#g' "$1"; } # a time may print as 9.97e-05 s

# each under np 3; "+": also np 2 x 2 threads (hybrid); the first also np 1 and 2.
# run without --record-every takes its trials' blocks from a queue the ranks
# share (src/dist/queue.c); with it, static slices
cmds=(
    "+run --f spiky --trials 13 --steps 300 --level 0.1 --record-every 50"
    "run --f rastrigin --d 3 --noise cube --trials 10 --steps 200 --schedule stages:100@0.05,100@0.01"
    "run --f quadratic --d 2 --noise gauss --trials 7 --steps 150 --momentum 0.5 --level 0.05 --stop-radius 0.01"
    "+run --f spiky --trials 900 --steps 120 --level 0.1 --stop-radius 0.3 --schedule stages:60@0.05,60@0.02"
    "fig3 --trials 7 --steps 300"
    "+verify --f quadratic --d 2 --noise cube --trials 9 --T2 50 --start -1:1"
    "smooth --f spiky --n 23"
    "+smooth --f rastrigin --d 3 --method mc --samples 800 --at 0.1;0.5;0.3"
    "+smooth --f rastrigin --d 50 --noise cube --method mc --samples 20000 --at 0.1 --interval hoeffding"
    "smooth --f spiky --d 3 --noise ball --method mc --tol 0.02 --at 0.2"
    "check --f rastrigin --d 2 --method mc --samples 200 --points 17"
    "+check --f spiky --points 30 --scan-eta 0.005,0.01,0.02"
)
i=0
for c in "${cmds[@]}"; do
    i=$((i + 1))
    runs=("3 1") # mpirun starts in ~1.5 s here: a few K per command
    [ $i = 1 ] && runs+=("1 1" "2 1")
    [ "${c:0:1}" = + ] && runs+=("2 2") && c=${c:1}
    read -ra args <<<"$c"
    "$B" "${args[@]}" --threads 1 --out "$T/p$i" >"$T/p$i.out" 2>"$T/p$i.err" || { bad "plain: $c: $(head -2 "$T/p$i.err")"; continue; }
    for run in "${runs[@]}"; do
        set -- $run
        np=$1 th=$2 o="$T/m${i}_${np}_$th"
        if ! "${MPI[@]}" -np "$np" "$B" "${args[@]}" --threads "$th" --out "$o" >"$o.out" 2>"$o.err"; then
            bad "np $np x $th threads: $c: $(head -3 "$o.err")"
            continue
        fi
        if d=$(cmp_dirs "$T/p$i" "$o"); then ok; else bad "np $np x $th threads: $c: $d"; fi
        cmp -s <(norm "$T/p$i.out") <(norm "$o.out") && ok || bad "np $np: stdout differs: $c"
        [ ! -s "$o.err" ] && ok || bad "np $np: stderr not empty: $c: $(head -2 "$o.err")"
        grep -Eq "\"ranks\":[[:space:]]*$np,?\$" "$o/manifest.json" && ok || bad "np $np: manifest lacks ranks $np: $c"
    done
done
# K = 4, once
"${MPI[@]}" -np 4 "$B" run --f spiky --trials 13 --steps 300 --level 0.1 --record-every 50 --threads 1 \
    --out "$T/k4" >/dev/null 2>&1 && cmp_dirs "$T/p1" "$T/k4" >/dev/null && ok || bad "np 4: run differs"
# More ranks than items: ranks with nothing to do
"$B" verify --trials 2 --T2 30 --threads 1 --out "$T/few" >/dev/null 2>&1
"${MPI[@]}" -np 3 "$B" verify --trials 2 --T2 30 --threads 1 --out "$T/few3" >/dev/null 2>&1 &&
    cmp_dirs "$T/few" "$T/few3" >/dev/null && ok || bad "np 3, 2 trials: verify differs"

# ---- faults -------------------------------------------------------------------
A=(run --f spiky --trials 30 --steps 200 --level 0.1 --threads 1)
# bad input on one rank (MPMD: rank 2 gets a plugin that does not exist)
"${MPI[@]}" -np 2 "$B" "${A[@]}" --out "$T/f1" : -np 1 "$B" "${A[@]}" --f plugin:/nonexistent/p.so --out "$T/f1" \
    >"$T/f1.out" 2>"$T/f1.err"
rc=$?
[ $rc -ne 0 ] && ok || bad "bad input on rank 2: exit 0"
[ "$(grep -c '^sgdscape ' "$T/f1.err")" = 1 ] && ok || bad "bad input on rank 2: not one message: $(cat "$T/f1.err")"
grep -q "^sgdscape run: rank 2: .*nonexistent" "$T/f1.err" && ok || bad "bad input on rank 2: message: $(head -3 "$T/f1.err")"
[ ! -e "$T/f1" ] && [ ! -e "$T/f1.partial" ] && ok || bad "bad input on rank 2: left a run directory"
# a usage error every rank sees: one message, exit 2
"${MPI[@]}" -np 3 "$B" run --trials x --out "$T/f2" >/dev/null 2>"$T/f2.err"
rc=$?
[ $rc -eq 2 ] && ok || bad "usage error under mpirun: exit $rc"
[ "$(grep -c '^sgdscape ' "$T/f2.err")" = 1 ] && ok || bad "usage error: not one message: $(cat "$T/f2.err")"
# a failure inside one rank's slice (point 2 of 4 is rank 2's: sqrt of negative numbers): the
# message a single process gives
P=(smooth --f "sqrt(x)" --method mc --samples 100 --at "1;2;-5;3" --threads 1)
"$B" "${P[@]}" --out "$T/f3p" >/dev/null 2>"$T/f3p.err"
"${MPI[@]}" -np 3 "$B" "${P[@]}" --out "$T/f3" >/dev/null 2>"$T/f3.err"
rc=$?
[ $rc -ne 0 ] && ok || bad "diverging point: exit 0"
cmp -s "$T/f3p.err" "$T/f3.err" && ok || bad "diverging point: message differs: $(cat "$T/f3p.err") vs $(cat "$T/f3.err")"
[ ! -e "$T/f3" ] && [ ! -e "$T/f3.partial" ] && ok || bad "diverging point: left a run directory"
# ... and a single point whose Monte Carlo chunks are split over the ranks
P=(smooth --f "sqrt(-x)" --method mc --samples 300000 --at -0.599995 --level 0.6 --threads 1) # sample 224715 alone: chunk 2 of 4, rank 2
"$B" "${P[@]}" --out "$T/f5p" >/dev/null 2>"$T/f5p.err"
"${MPI[@]}" -np 3 "$B" "${P[@]}" --out "$T/f5" >/dev/null 2>"$T/f5.err"
rc=$?
[ $rc -ne 0 ] && [ -s "$T/f5p.err" ] && ok || bad "diverging chunk: exit $rc"
cmp -s "$T/f5p.err" "$T/f5.err" && ok || bad "diverging chunk: message differs: $(cat "$T/f5p.err") vs $(cat "$T/f5.err")"
# a rank killed mid-run: the job ends, no run directory (DIR.partial at most). Every rank
# runs the same endless command (the ranks share one queue of trial blocks: a rank with
# other arguments would not be "its slice"); the third is killed after 2 s
K=(run --f spiky --trials 30 --steps 1e9 --level 0.1 --threads 1 --force --out "$T/f4")
timeout 60 "${MPI[@]}" -np 2 "$B" "${K[@]}" : -np 1 timeout -s KILL 2 "$B" "${K[@]}" >/dev/null 2>"$T/f4.err"
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && ok || bad "killed rank: exit $rc"
[ ! -e "$T/f4" ] && ok || bad "killed rank: left a run directory"
# a plain start of the MPI binary never touches MPI: no launcher variables, same as before
env | grep -q '^OMPI_COMM_WORLD' && bad "test runs inside mpirun" || ok

# ---- Section 5: probe, branch, spectrum, paper5 over ranks; kill -9 of mpirun, then --resume ----
. "$(dirname "$0")/lib_data.sh"
DATA=$(tiny_images "$T")
"$B" train --model mlp:w=8,d=1 --data "$DATA" --epochs 3 --quiet --threads 1 --out "$T/tr" >/dev/null || bad "train"
PR=(probe --run "$T/tr" --run "$T/tr" --batches 2 --points 5 --sg-batches 3)
BR=(branch --model mlp:w=8,d=1 --data "$DATA" --branches 3 --shared-epochs 1 --epochs 2 --batches 2)
SP=(spectrum --model mlp:w=8,d=1 --data "$DATA" --epochs 3 --starts 0,1,2 --epochs-fine 2 --batches 2 --quiet)
for name in PR BR SP; do
    eval "args=(\"\${$name[@]}\")"
    "$B" "${args[@]}" --threads 1 --out "$T/${name}p" >/dev/null 2>&1 || { bad "$name: plain run"; continue; }
    for np in 2 3; do
        "${MPI[@]}" -np $np "$B" "${args[@]}" --threads 1 --out "$T/${name}$np" >/dev/null 2>"$T/${name}$np.err" ||
            { bad "$name np $np: $(head -2 "$T/${name}$np.err")"; continue; }
        if d=$(cmp_dirs "$T/${name}p" "$T/${name}$np"); then ok; else bad "$name np $np: $d"; fi
        [ ! -s "$T/${name}$np.err" ] && ok || bad "$name np $np: stderr: $(head -2 "$T/${name}$np.err")"
    done
done
# ---- data-parallel train: every file of the plain run at np 1..4 (and 2 ranks x 2 threads) ----
# Batch 48 = 3 chunks of 16, 40 = 3 with the last partial, 16 = 1 (a rank with no chunk);
# ResNet (BN: its partials are shared), DenseNet-BC (concatenation, BN-ReLU recomputed in
# backward), the MLP (linear layers: their inputs are shared), ResNet and DenseNet with oneDNN
# or im2col convolutions between the BNs (SGD_NN_DIRECT=0, SGD_NN_DNNL=0: their dW chunk
# partials are shared), the convnet. A missed batch-wide sum changes x.
trains=(
    "1 2 3 2x2|resnet:n=1,w=6 --batch 48 --epochs 2"
    "3|resnet:n=1,w=6 --batch 40 --epochs 2"
    "2|resnet:n=1,w=6 --batch 16 --epochs 1 --subset 64"
    "2 3|densenet:depth=10,k=4 --batch 48 --epochs 2"
    "4|densenet:depth=10,k=4 --batch 40 --epochs 1"
    "3|mlp:w=8,d=1 --batch 48 --epochs 2"
    "2|mlp:w=8,d=1 --batch 40 --epochs 2"
    "3|resnet:n=1,w=6 --batch 40 --epochs 1 --subset 120|SGD_NN_DIRECT=0"
    "2|densenet:depth=10,k=4 --batch 40 --epochs 1 --subset 120|SGD_NN_DIRECT=0 SGD_NN_DNNL=0"
    "3|convnet --batch 48 --epochs 1 --subset 144"
)
i=0
for t in "${trains[@]}"; do
    i=$((i + 1))
    IFS='|' read -r nps c envs <<<"$t"
    read -ra args <<<"$c"
    E=(env ${envs:-SGD_QUIET=1})
    "${E[@]}" "$B" train --model "${args[@]}" --data "$DATA" --quiet --threads 1 --out "$T/t$i" >/dev/null 2>&1 ||
        { bad "train plain: $c"; continue; }
    for np in $nps; do
        th=1
        [ "$np" = 2x2 ] && np=2 th=2
        o="$T/t${i}_${np}_$th"
        if ! "${MPI[@]}" -np "$np" "${E[@]}" "$B" train --model "${args[@]}" --data "$DATA" --quiet --threads "$th" \
            --out "$o" >/dev/null 2>"$o.err"; then
            bad "train np $np x $th: $c: $(head -3 "$o.err")"
            continue
        fi
        if d=$(cmp_dirs "$T/t$i" "$o"); then ok; else bad "train np $np x $th: $c: $d"; fi
        [ ! -s "$o.err" ] && ok || bad "train np $np: stderr: $c: $(head -2 "$o.err")"
    done
done
# bad input on rank 1 only (MPMD): one message naming rank 1, no run directory
"${MPI[@]}" -np 1 "$B" train --model mlp:w=8,d=1 --data "$DATA" --quiet --threads 1 --out "$T/tf" : \
    -np 1 "$B" train --model mlp:w=8,d=1 --data "npy:$T/none.npy,$T/none.npy" --quiet --threads 1 --out "$T/tf" \
    >/dev/null 2>"$T/tf.err"
[ $? -ne 0 ] && ok || bad "train, bad input on rank 1: exit 0"
[ "$(grep -c '^sgdscape ' "$T/tf.err")" = 1 ] && grep -q '^sgdscape train: rank 1: .*none.npy' "$T/tf.err" && ok ||
    bad "train, bad input on rank 1: message: $(head -3 "$T/tf.err")"
[ ! -e "$T/tf" ] && [ ! -e "$T/tf.partial" ] && ok || bad "train, bad input on rank 1: left a run directory"

# kill -9 of mpirun once WAITFOR exists in DIR.partial, its orphaned ranks too; the same
# command with --resume under mpirun gives the files FILES of an uninterrupted plain run
killed() { # NAME WAITFOR FILES ARGS...
    local name=$1 wait=$2 files=$3 i=0 f
    shift 3
    "$B" "$@" --threads 1 --out "$T/${name}_full" >/dev/null 2>&1 || { bad "$name: plain run"; return; }
    "${MPI[@]}" -np 2 "$B" "$@" --threads 1 --out "$T/$name" >/dev/null 2>&1 &
    local pid=$!
    while [ $i -lt 3000 ] && ! ls "$T/$name.partial/"$wait >/dev/null 2>&1; do
        sleep 0.01
        i=$((i + 1))
    done
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    pkill -9 -f "$T/$name( |\$)" 2>/dev/null
    sleep 0.3
    if [ -d "$T/$name" ]; then
        echo "cli_mpi: note: $name finished before the kill"
        return
    fi
    [ -d "$T/$name.partial" ] && ok || bad "$name: kill -9 of mpirun kept no $name.partial"
    "${MPI[@]}" -np 2 "$B" "$@" --resume --threads 1 --out "$T/$name" >/dev/null 2>"$T/$name.err" ||
        { bad "$name: --resume under mpirun: $(head -2 "$T/$name.err")"; return; }
    [ ! -e "$T/$name.partial" ] && ok || bad "$name: resumed run left $name.partial"
    for f in $files; do
        cmp -s "$T/${name}_full/$f" "$T/$name/$f" && ok || bad "$name: after kill -9 and --resume: $f differs"
    done
}
killed k_train 'x/x_0010.npy' 'x.npy x/x_0020.npy x/x_0039.npy' \
    train --model mlp:w=8,d=1 --data "$DATA" --epochs 40 --quiet
killed k_probe 'rows/row_0000_000001.bin' 'probe.csv neighbors.npy summary.json' \
    probe --run "$T/tr" --run "$T/tr" --batches 2 --points 300 --sg-batches 3
killed k_branch 'branches/b001/x/x_0002.npy' 'branch.csv inner.npy distances.csv finals.csv branches/b002/x.npy' \
    branch --model mlp:w=8,d=1 --data "$DATA" --branches 3 --shared-epochs 1 --epochs 8 --batches 2

echo "cli_mpi: $pass passed, $fail failed"
[ $fail -eq 0 ]
