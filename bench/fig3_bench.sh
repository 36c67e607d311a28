#!/usr/bin/env bash
# Figure-3 throughput: sgdscape against the same experiment in numpy, in the
# same run on the same machine. Prints medians and the ratio.
#   bench/fig3_bench.sh [REPEATS]      (needs python3-numpy: apt-get install python3-numpy)
# BUILD=DIR picks the build (default build); SGD_ISA=baseline|avx2|avx512 a kernel variant.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-5}
B=${BUILD:-build}
[ -x "$B/bench_fig3" ] || { cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build "$B" -j2 >/dev/null; }
PY=/usr/bin/python3
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(nproc) cores"
echo "sgdscape kernels: $("$B/sgdscape" isa | head -n 1) variant (sgdscape isa), branch-free sincos + Philox vectorised over trials (src/core/fastmath.h)"
printf "%-16s %14s %14s %12s %8s %10s\n" "trials x steps" "sgdscape/s" "numpy/s" "ratio" "ns/ts" "ns/grad"
for cfg in "100 20000" "10000 2000"; do
    set -- $cfg
    c=$("$B/bench_fig3" "$1" "$2" 2 "$REPS")
    p=$($PY bench/fig3_bench.py "$1" "$2" "$REPS")
    $PY - "$c" "$p" <<'PY'
import json, sys
c, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("%-16s %14.3g %14.3g %11.1fx %8.2f %10.2f   (sgdscape %d threads; %s, %d thread, SIMD %s)" % (
    "%dx%d" % (c["trials"], c["steps"]), c["trial_steps_per_s"], p["trial_steps_per_s"],
    c["trial_steps_per_s"] / p["trial_steps_per_s"], c["ns_per_trial_step_per_thread"], c["ns_per_gradient"],
    c["threads"], p["impl"], p["threads"], p["simd"]))
PY
done
