#!/usr/bin/env bash
# User formulas (docs/formula.md, COMPILED FORMULAS): sgdscape's compiled
# formula, its interpreter (--no-jit) and the same experiment in numpy, in
# the same run on the same machine; then the compiled formula against the
# hand-written catalog landscape (rastrigin, spiky), and the compile and
# cached-load times and the gradient alone per point (bench/formula_bench.c, built as
# BUILD/bench_formula). Prints medians and ratios.
#   bench/formula_bench.sh [-s STEPS] [-r REPEATS] [-t THREADS] [-b BUILD_DIR]
# (defaults: 20000 steps, 2 repeats, all cores, build; needs python3-numpy)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=20000 REPS=2 THREADS=$(nproc) BUILD=build
while getopts "s:r:t:b:h" o; do
    case $o in
    s) STEPS=$OPTARG ;; r) REPS=$OPTARG ;; t) THREADS=$OPTARG ;; b) BUILD=$OPTARG ;;
    *) sed -n '2,9p' "$0"; exit 2 ;;
    esac
done
BIN=$BUILD/sgdscape
[ -x "$BIN" ] && [ -x "$BUILD/bench_formula" ] || { cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build "$BUILD" -j2 >/dev/null; }
PY=/usr/bin/python3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export XDG_CACHE_HOME=$TMP/cache
TRIALS=2000 LEVELS=0.01,0.05,0.13,0.4
F='x^2 + (1-cos(6*x))*x^2/(x^2+1) + 0.05*(1-cos(60*x))'
RAST='sum(x^2 - 10*cos(2*pi*x)) + 10*d'
# the catalog's spiky (src/landscape/spiky.c) as a user would type it
U='min(max((abs(x)-1.5)/0.5, 0), 1)'
SPIKY="x^2/2 + 0.008*(1-cos(80*x)) + 0.35*$U*$U*$U*(10 - 15*$U + 6*$U*$U)*(1-cos(20*x))"

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "compiler for formulas: ${CC:-cc} = $(${CC:-cc} --version | head -1)"

# Seconds of one `sgdscape run` per level, summed over the levels (the
# run's own timer, summary.json "seconds": the trial loop without start-up).
# once D STEPS LEVELS ARGS...
once() {
    local d=$1 steps=$2 levels=$3
    shift 3
    local tot=0
    for lv in ${levels//,/ }; do
        "$BIN" run "$@" --d "$d" --trials $TRIALS --steps "$steps" --level "$lv" --eta 0.01 \
            --threads "$THREADS" --out "$TMP/r" --force >/dev/null
        tot=$($PY -c 'import json,sys; print(float(sys.argv[1]) + json.load(open(sys.argv[2]))["seconds"])' \
            "$tot" "$TMP/r/summary.json")
        rm -rf "$TMP/r"
    done
    echo "$tot"
}

# Trial-steps per second from the median of the repeats' seconds.
# rate STEPS NLEVELS SECONDS...
rate() {
    $PY -c 'import sys; s = sorted(map(float, sys.argv[4:])); m = s[(len(s) - 1) // 2]
print("%.6g" % (int(sys.argv[1]) * int(sys.argv[2]) * int(sys.argv[3]) / m))' $TRIALS "$@"
}

# The configurations compared with each other run in turn within each
# repeat, so that a change of the machine's speed falls on all of them.
"$BIN" run --f "$F" --trials 1 --steps 1 --out "$TMP/w" >/dev/null 2>&1 && rm -rf "$TMP/w" # compile once
echo
echo "== $TRIALS trials x $STEPS steps x 4 levels ($LEVELS, eta 0.01), f = $F"
cs=() is=()
for ((k = 0; k < REPS; k++)); do
    cs+=("$(once 1 "$STEPS" $LEVELS --f "$F")")
    is+=("$(once 1 "$STEPS" $LEVELS --f "$F" --no-jit)")
done
c=$(rate "$STEPS" 4 "${cs[@]}")
i=$(rate "$STEPS" 4 "${is[@]}")
p=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $PY bench/formula_bench.py $TRIALS "$STEPS" "$REPS" $LEVELS)
$PY - "$c" "$i" "$p" "$THREADS" <<'PY'
import json, sys
c, i, p, t = float(sys.argv[1]), float(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4])
n = p["trial_steps_per_s"]
print("%-22s %14s %10s" % ("", "trial-steps/s", "vs numpy"))
print("%-22s %14.3g %9.1fx   (%d threads; per thread %.1fx)" % ("sgdscape compiled", c, c / n, t, c / n / t))
print("%-22s %14.3g %9.1fx   (%d threads; per thread %.1fx)" % ("sgdscape interpreted", i, i / n, t, i / n / t))
print("%-22s %14.3g %9.1fx   (%s, 1 thread)" % ("numpy", n, 1.0, p["impl"]))
PY

echo
# cube noise: uniform per coordinate, the trial loop's vectorised draw (ball
# noise in d = 10 draws per trial and would hide the gradient's cost)
echo "== compiled formula against the hand-written catalog entry (level 0.13, cube noise, $TRIALS trials)"
RS=$((STEPS / 10)) SS=$((STEPS / 2))
"$BIN" run --f "$RAST" --d 10 --trials 1 --steps 1 --out "$TMP/w" >/dev/null 2>&1 && rm -rf "$TMP/w"
"$BIN" run --f "$SPIKY" --trials 1 --steps 1 --out "$TMP/w" >/dev/null 2>&1 && rm -rf "$TMP/w"
for row in "rastrigin d=10|10|$RS|rastrigin|$RAST" "spiky|1|$SS|spiky|$SPIKY"; do
    IFS='|' read -r name d steps cat form <<<"$row"
    as=() bs=() es=()
    for ((k = 0; k < REPS; k++)); do
        as+=("$(once "$d" "$steps" 0.13 --noise cube --f "$cat")")
        bs+=("$(once "$d" "$steps" 0.13 --noise cube --f "$form")")
        es+=("$(once "$d" "$steps" 0.13 --noise cube --f "$form" --no-jit)")
    done
    a=$(rate "$steps" 1 "${as[@]}") b=$(rate "$steps" 1 "${bs[@]}") e=$(rate "$steps" 1 "${es[@]}")
    $PY -c 'import sys; a, b, e = map(float, sys.argv[2:5])
print("%-16s catalog %.3g/s, compiled formula %.3g/s (catalog/compiled %.2fx), interpreted %.3g/s   (%s steps, %s threads)"
      % (sys.argv[1], a, b, a / b, e, sys.argv[5], sys.argv[6]))' "$name" "$a" "$b" "$e" "$steps" "$THREADS"
done

echo
echo "== compile and load (sgd_landscape_formula_jit alone), and the gradient alone: CPU ns per point,"
echo "   batches of 64 points on one thread (median of 5; bench/formula_bench.c)"
for row in "issue formula|1|$F|" "rastrigin d=10|10|$RAST|rastrigin" "spiky|1|$SPIKY|spiky"; do
    IFS='|' read -r name d form cat <<<"$row"
    XDG_CACHE_HOME=$TMP/cache_t "$BUILD/bench_formula" "$form" "$d" 5 $cat | $PY -c 'import json, sys
j = json.loads(sys.stdin.read())
print("%-16s first call (compile) %.0f ms wall, the compiler %.0f ms CPU; cached call %.2f ms" %
      (sys.argv[1], j["compile_s"] * 1e3, j["compile_cpu_s"] * 1e3, j["cached_s"] * 1e3))
k = j["grad_catalog_ns"]
print("%-16s gradient: interpreted %.1f ns, compiled %.1f ns%s" % ("", j["grad_interp_ns"], j["grad_jit_ns"],
      ", catalog entry %.1f ns (compiled/catalog %.2fx)" % (k, j["grad_jit_ns"] / k) if k > 0 else ""))' "$name"
    rm -rf "$TMP/cache_t"
done
