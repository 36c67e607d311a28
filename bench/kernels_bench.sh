#!/usr/bin/env bash
# Hand-written kernels against libraries (issue 12 section 5; docs/bench.md,
# "Hand-written kernels against libraries"): our sin/cos against SLEEF and
# libm, our Philox4x32 against Random123's, the Figure-3 trial step and
# Rastrigin Monte Carlo smoothing with SLEEF in place of our sin/cos
# (bench/kernels_bench.c, built as BUILD/bench_kernels where libsleef-dev is
# installed), and the direct convolutions against oneDNN (bench_nn, the tiny
# ResNet, SGD_NN_DIRECT=0 against the default, one thread). Every row's peer
# runs in the same run, alternating; each run prints medians of REPEATS.
#   bench/kernels_bench.sh [-r REPEATS] [-n RUNS] [-b BUILD_DIR]
# (defaults: 5 repeats, 2 runs, build)
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=5 RUNS=2 BUILD=build
while getopts "r:n:b:h" o; do
    case $o in
    r) REPS=$OPTARG ;; n) RUNS=$OPTARG ;; b) BUILD=$OPTARG ;;
    *) sed -n '2,11p' "$0"; exit 2 ;;
    esac
done
if ! [ -x "$BUILD/bench_kernels" ] || ! [ -x "$BUILD/bench_nn" ] || ! [ -x "$BUILD/sgdscape" ]; then
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build "$BUILD" -j2 >/dev/null
fi
[ -x "$BUILD/bench_kernels" ] || { echo "kernels_bench: no $BUILD/bench_kernels: install libsleef-dev (./run deps) and reconfigure" >&2; exit 1; }
PY=/usr/bin/python3
load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(nproc) cores;" \
    "AVX-512: $(grep -qw avx512f /proc/cpuinfo && echo yes || echo no); compiler ${CC:-cc}: $(${CC:-cc} --version | head -1)"
echo "SLEEF $(pkg-config --modversion sleef 2>/dev/null || echo '?'); the library's default variant here: $("$BUILD/sgdscape" isa | head -n 1)"
for ((k = 1; k <= RUNS; k++)); do
    echo
    echo "######## run $k of $RUNS, $(date -u +%H:%M) UTC, load average $(load)"
    OMP_NUM_THREADS=1 "$BUILD/bench_kernels" "$REPS"
done

# Direct convolutions (src/nn/direct.c) against oneDNN: the whole training
# step of the tiny ResNet (16-channel layers and the 3->4 stem), one thread,
# batch 128, direct path on (default) and off (SGD_NN_DIRECT=0: oneDNN), in
# turn; each variant with oneDNN held to the same ISA (ONEDNN_MAX_CPU_ISA).
echo
echo "== direct convolutions against oneDNN: tiny ResNet (resnet:n=1,w=4) training step, 1 thread, batch 128, img/s"
printf "%-8s %-4s %12s %12s %8s   %s\n" variant run direct oneDNN ratio "load average"
nn() { # nn VARIANT DIRECT -> img/s
    local isa=AVX512_CORE
    [ "$1" = avx2 ] && isa=AVX2
    SGD_ISA=$1 SGD_NN_DIRECT=$2 ONEDNN_MAX_CPU_ISA=$isa OMP_WAIT_POLICY=passive \
        "$BUILD/bench_nn" model resnet:n=1,w=4 1 128 3 20 | $PY -c 'import json,sys; print(json.load(sys.stdin)["img_per_s"])'
}
for v in avx512 avx2; do
    [ $v = avx512 ] && ! grep -qw avx512f /proc/cpuinfo && continue
    for ((k = 1; k <= RUNS; k++)); do
        if ((k % 2)); then d=$(nn $v 1) o=$(nn $v 0); else o=$(nn $v 0) d=$(nn $v 1); fi
        printf "%-8s %-4s %12.0f %12.0f %7.2fx   %s\n" $v $k "$d" "$o" "$($PY -c "print($d / $o)")" "$(load)"
    done
done
