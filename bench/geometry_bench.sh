#!/usr/bin/env bash
# Loss-surface geometry (issue 13, Benchmarks): `sgdscape surface` and
# `sgdscape hessian --top 1` against the same loops in PyTorch (loss-landscape
# and PyHessian style), from the same weight, buffer, direction and data
# files, in the same run on the same machine, alternating the two sides.
# Prints the times, the ratios and the agreement of the values.
#
#   bench/geometry_bench.sh [-t THREADS] [-r REPEATS] [-g GRID] [-n IMAGES] [-N IMAGES] [-k STEPS]
#                           [-w POLICY] [-m MODEL] [-p 64|32] [--no-surface] [--no-hessian]
#     -t  threads on both sides (2)
#     -r  alternate sgdscape / PyTorch runs R times; medians (2)
#     -g  surface grid G x G on [-1, 1]^2 (7; the issue's figure is 21)
#     -n  surface images, a multiple of 128 (128; the issue says 10 000)
#     -N  Hessian images, a multiple of 128 (128; the issue says 1 280)
#     -k  Lanczos steps; both sides then make k + 1 Hessian-vector products (3)
#     -w  OMP_WAIT_POLICY for both sides: passive (default), active, or env
#     -m  model spec (resnet20)
#     -p  precision of sgdscape's Hessian-vector products: 64 (default) or 32,
#         PyTorch's (PyHessian's) float32
#   Environment: BENCH_BUILD (build directory; default build/, configured if
#   missing), BENCH_JSON (file to append the raw JSON lines to).
#
# f on both sides: BN in eval mode with fixed running statistics, every image
# once in batches of 128 (so sgdscape's shuffle does not matter); the defaults
# take 3 (quiet) to 6 (loaded) minutes on the 2 shared cores (docs/bench.md). The issue's full
# sizes (-g 21 -n 10240 -N 1280 -k 20) take hours there.

set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=2 REPS=2 GRID=7 SIMG=128 HIMG=128 STEPS=3 WAIT=passive SPEC=resnet20 DO_S=1 DO_H=1 PREC=64
while [ $# -gt 0 ]; do
    case "$1" in
    -t) THREADS=$2; shift 2 ;;
    -r) REPS=$2; shift 2 ;;
    -g) GRID=$2; shift 2 ;;
    -n) SIMG=$2; shift 2 ;;
    -N) HIMG=$2; shift 2 ;;
    -k) STEPS=$2; shift 2 ;;
    -w) WAIT=$2; shift 2 ;;
    -m) SPEC=$2; shift 2 ;;
    -p) PREC=$2; shift 2 ;;
    --no-surface) DO_S=0; shift ;;
    --no-hessian) DO_H=0; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "geometry_bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$PREC" in
64|32) ;;
*) echo "geometry_bench.sh: -p wants 64 or 32" >&2; exit 2 ;;
esac
case "$WAIT" in
passive|active) export OMP_WAIT_POLICY=$WAIT ;;
env) ;;
*) echo "geometry_bench.sh: -w wants passive, active or env" >&2; exit 2 ;;
esac
PY=/usr/bin/python3
GB=bench/geometry_bench.py
. bench/build.sh
bench_build geometry_bench.sh sgdscape_cli sgdscape
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
ROWS=$TMP/rows D=$TMP/data
load() { cut -d' ' -f1-3 /proc/loadavg; }
err_row() {
    $PY -c 'import json,sys; print(json.dumps({"impl": sys.argv[1], "kind": sys.argv[2],
        "error": open(sys.argv[3]).read().strip()[-300:] or "failed"}))' "$1" "$2" "$3"
}
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }'; }

LOAD0=$(load)
: >"$ROWS"
$PY $GB info "$BIN" >"$TMP/info"
# the weights, BN buffers, directions and images, made once: every run reads the same files
$PY $GB gen "$SPEC" "$D" --surface-images "$SIMG" --hessian-images "$HIMG" --threads "$THREADS" >>"$ROWS"
COMMON=(--model "$SPEC" --batch 128 --batches 0 --bn eval --buffers "$D/buffers.npy" --threads "$THREADS" --quiet)
for ((r = 0; r < REPS; r++)); do
    if [ "$DO_S" = 1 ]; then
        rm -rf "$TMP/os"
        t0=$EPOCHREALTIME
        if "$BIN" surface "$D/x.npy" "${COMMON[@]}" --data "npy:$D/s_X.npy,$D/s_y.npy" \
            --dirs "$D/d1.npy,$D/d2.npy" --alpha "-1:1:$GRID" --beta "-1:1:$GRID" --out "$TMP/os" \
            >/dev/null 2>"$TMP/err"; then
            $PY $GB ours-surface "$SPEC" "$TMP/os" "$(since "$t0")" >"$TMP/row"
        else
            err_row sgdscape surface "$TMP/err" >"$TMP/row"
        fi
        if $PY $GB surface "$SPEC" "$D" --grid "$GRID" --threads "$THREADS" >>"$ROWS" 2>"$TMP/err"; then
            [ -f "$TMP/os/surface.npy" ] && $PY $GB compare-surface "$(cat "$TMP/row")" "$TMP/os" \
                "$D/torch_surface.npy" >"$TMP/row2" && mv "$TMP/row2" "$TMP/row"
        else
            err_row pytorch surface "$TMP/err" >>"$ROWS"
        fi
        cat "$TMP/row" >>"$ROWS"
    fi
    if [ "$DO_H" = 1 ]; then
        rm -rf "$TMP/oh"
        t0=$EPOCHREALTIME
        if "$BIN" hessian "$D/x.npy" "${COMMON[@]}" --data "npy:$D/h_X.npy,$D/h_y.npy" --top 1 \
            --lanczos-steps "$STEPS" --precision "$PREC" --vectors --out "$TMP/oh" >/dev/null 2>"$TMP/err"; then
            $PY $GB ours-hessian "$SPEC" "$TMP/oh" "$(since "$t0")" >>"$ROWS"
            check=()
            [ "$r" -eq 0 ] && check=(--check "$TMP/oh")
        else
            err_row sgdscape hessian "$TMP/err" >>"$ROWS"
            check=()
        fi
        $PY $GB hessian "$SPEC" "$D" --steps "$STEPS" --threads "$THREADS" "${check[@]}" >>"$ROWS" 2>"$TMP/err" \
            || err_row pytorch hessian "$TMP/err" >>"$ROWS"
    fi
done
$PY -c 'import json,sys; i=json.load(open(sys.argv[1])); i.update(load0=sys.argv[2], load1=sys.argv[3],
    wait=sys.argv[4], threads=int(sys.argv[5]), precision=int(sys.argv[6])); print(json.dumps(i))' \
    "$TMP/info" "$LOAD0" "$(load)" "${OMP_WAIT_POLICY:-unset}" "$THREADS" "$PREC" >>"$ROWS"
[ -n "${BENCH_JSON:-}" ] && cat "$ROWS" >>"$BENCH_JSON"
$PY $GB report "$ROWS"
