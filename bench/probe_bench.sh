#!/usr/bin/env bash
# Section 5 probes (issue 9, "Benchmark, not a test"): `sgdscape probe`
# against the same 5.1 and 5.2 inner products in PyTorch, from the same x_t
# files, in the same run on the same machine. Prints one table: agreement of
# the 5.1 values, time per gradient on each side and the ratio, and our probe's
# time per gradient against `sgdscape train`'s time per image on the same data.
#
#   bench/probe_bench.sh [-t THREADS] [-r REPEATS] [-s SECONDS] [-e EPOCHS] [-w POLICY] [-m MODEL]...
#     -t  threads on both sides (2)
#     -r  alternate sgdscape / PyTorch runs R times per model; medians (3)
#     -s  about this many seconds of gradients per side and run: sets the
#         neighbourhood points per epoch P (2..64) from PyTorch's gradient time (3)
#     -e  x_t files, epochs of the trajectory (3)
#     -w  OMP_WAIT_POLICY for both sides: passive (default), active, or env
#         (leave the environment alone); see docs/bench.md, nn_bench
#     -m  model spec, repeatable (default: resnet20, resnet:n=1,w=6 and the
#         ~10K DenseNet-BC densenet:depth=22,k=4)
#   Environment: BENCH_BUILD (build directory; default build/, configured if
#   missing), BENCH_JSON (file to append the raw JSON lines to).
#
# f on both sides: mean cross-entropy over one batch of all 128 images, BN with
# batch statistics, so it does not depend on the probe's shuffle (docs/bench.md).

set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=2 REPS=3 SECONDS_PER=3 EPOCHS=3 WAIT=passive
MODELS=()
while [ $# -gt 0 ]; do
    case "$1" in
    -t) THREADS=$2; shift 2 ;;
    -r) REPS=$2; shift 2 ;;
    -s) SECONDS_PER=$2; shift 2 ;;
    -e) EPOCHS=$2; shift 2 ;;
    -w) WAIT=$2; shift 2 ;;
    -m) MODELS+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "probe_bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$WAIT" in
passive|active) export OMP_WAIT_POLICY=$WAIT ;;
env) ;;
*) echo "probe_bench.sh: -w wants passive, active or env" >&2; exit 2 ;;
esac
[ ${#MODELS[@]} -gt 0 ] || MODELS=("resnet20" "resnet:n=1,w=6" "densenet:depth=22,k=4")
PY=/usr/bin/python3
PB=bench/probe_bench.py
. bench/build.sh
bench_build probe_bench.sh sgdscape_cli sgdscape
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
ROWS=$TMP/rows
load() { cut -d' ' -f1-3 /proc/loadavg; }

# one JSON line: {"impl": IMPL, "spec": SPEC, "error": last 300 characters of FILE}
err_row() {
    $PY -c 'import json,sys; print(json.dumps({"impl": sys.argv[1], "spec": sys.argv[2],
        "error": open(sys.argv[3]).read().strip()[-300:] or "failed"}))' "$1" "$2" "$3"
}

LOAD0=$(load)
$PY $PB ours-info "$BIN" >"$TMP/info"
: >"$ROWS"
for spec in "${MODELS[@]}"; do
    D=$TMP/data
    rm -rf "$D"
    # the data and trajectory, made once per model: every run reads the same files
    if ! $PY $PB gen "$spec" "$D" --epochs "$EPOCHS" --seconds "$SECONDS_PER" --threads "$THREADS" \
        >"$TMP/gen" 2>"$TMP/err"; then
        err_row gen "$spec" "$TMP/err" >>"$ROWS"
        continue
    fi
    cat "$TMP/gen" >>"$ROWS"
    read -r P TE < <($PY -c 'import json,sys; g=json.load(open(sys.argv[1])); print(g["points"], g["train_epochs"])' "$TMP/gen")
    for ((r = 0; r < REPS; r++)); do
        rm -rf "$TMP"/o "$TMP"/o0 "$TMP"/t "$TMP"/*.partial
        # ours: the probe on E epochs with P points, and on epoch 0 alone without points (setup,
        # reading the files and the first gradient's allocations: subtracted, docs/bench.md)
        t0=$EPOCHREALTIME
        if "$BIN" probe --traj "$D" --target "$D/xT.npy" --model "$spec" --data "npy:$D/X.npy,$D/y.npy" \
            --classes 10 --no-normalize --batch 128 --batches 1 --points "$P" --sg-batches 0 \
            --threads "$THREADS" --out "$TMP/o" >/dev/null 2>"$TMP/err" &&
            wall=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }') &&
            "$BIN" probe --traj "$D" --target "$D/xT.npy" --model "$spec" --data "npy:$D/X.npy,$D/y.npy" \
                --classes 10 --no-normalize --batch 128 --batches 1 --points 0 --sg-batches 0 --epochs 0:0 \
                --threads "$THREADS" --out "$TMP/o0" >/dev/null 2>"$TMP/err"; then
            $PY $PB ours-row "$spec" "$TMP/o" "$TMP/o0" "$wall" >>"$ROWS"
        else
            err_row sgdscape "$spec" "$TMP/err" >>"$ROWS"
        fi
        f64=()
        [ "$r" -eq 0 ] && f64=(--f64)
        $PY $PB probe "$spec" "$D" --points "$P" --threads "$THREADS" "${f64[@]}" >>"$ROWS" 2>"$TMP/err" \
            || err_row pytorch "$spec" "$TMP/err" >>"$ROWS"
        # train on the same 128 images: one step per epoch, no augmentation (the probe has none)
        if "$BIN" train --model "$spec" --data "npy:$D/X.npy,$D/y.npy" --no-normalize --crop 0 --no-flip \
            --epochs "$TE" --batch 128 --threads "$THREADS" --quiet --no-save-x --out "$TMP/t" \
            >/dev/null 2>"$TMP/err"; then
            $PY $PB train-row "$spec" "$TMP/t" >>"$ROWS"
        else
            err_row train "$spec" "$TMP/err" >>"$ROWS"
        fi
    done
done
$PY -c 'import json,sys; i=json.load(open(sys.argv[1])); i.update(kind="info", load0=sys.argv[2],
    load1=sys.argv[3], wait=sys.argv[4], reps=int(sys.argv[5])); print(json.dumps(i))' \
    "$TMP/info" "$LOAD0" "$(load)" "${OMP_WAIT_POLICY:-unset}" "$REPS" >>"$ROWS"
[ -n "${BENCH_JSON:-}" ] && cat "$ROWS" >>"$BENCH_JSON"
$PY $PB report "$ROWS" "$THREADS"
