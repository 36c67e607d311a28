#!/usr/bin/env bash
# CLI: bad input gives one line on stderr, a non-zero exit and no run
# directory; one seed gives identical files whatever the thread count.
set -u
SGD=${1:?usage: cli_core.sh path/to/sgdscape}
T=$(mktemp -d /tmp/sgd_cli_XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# expect_error NAME PATTERN ARGS...: non-zero exit, exactly one stderr line containing PATTERN, no $T/out
expect_error() {
    local name=$1 pat=$2; shift 2
    rm -rf "$T/out" "$T/out.partial"
    "$SGD" "$@" >"$T/stdout" 2>"$T/stderr"
    local rc=$?
    local lines; lines=$(wc -l <"$T/stderr")
    if [ $rc -ne 0 ] && [ "$lines" -eq 1 ] && grep -q -- "$pat" "$T/stderr" && [ ! -e "$T/out" ] && [ ! -e "$T/out.partial" ]; then ok
    else bad "$name: rc=$rc lines=$lines stderr=$(cat "$T/stderr")"; fi
}

expect_error "unknown landscape" "nosuch" run --f nosuch --out "$T/out"
expect_error "unknown noise" "wobble" run --noise wobble --out "$T/out"
expect_error "malformed formula" "column" run --f 'x^2 + (3*x' --out "$T/out"
expect_error "eta zero" "eta" run --eta 0 --out "$T/out"
expect_error "eta negative" "eta" run --eta -1 --out "$T/out"
expect_error "eta NaN" "eta" run --eta nan --out "$T/out"
expect_error "level NaN" "level" run --level nan --out "$T/out"
expect_error "steps garbage" "steps" run --steps 12abc --out "$T/out"
expect_error "unwritable out" "out" run --steps 10 --out /proc/sgd/x
expect_error "missing plugin symbol" "sgd_plugin_fg" run --f "plugin:$SGD_BUILD_DIR/plugin_missing_symbol.so" --out "$T/out"
expect_error "missing plugin file" "nope.so" run --f "plugin:$T/nope.so" --out "$T/out"
expect_error "bad schedule" "schedule" run --schedule "stages:10@" --out "$T/out"
expect_error "unknown option" "--bogus" run --bogus 1
expect_error "fig3 bad levels" "levels" fig3 --levels 0.1,0.2 --out "$T/out"
expect_error "fig3 too few steps" "steps" fig3 --steps 2 --out "$T/out"

# The landscape/noise options run, check, smooth and verify share (cli_problem_opt in src/cli/cli.c).
for cmd in run check smooth verify; do
    expect_error "$cmd --r and --level" "not both" $cmd --r 1 --level 0.1 --out "$T/out"
done
expect_error "run r negative" "must be >= 0" run --r -1 --out "$T/out"
expect_error "run threads negative" "threads: must be >= 0" run --threads -1 --out "$T/out"
expect_error "smooth level negative" "must be >= 0" smooth --level -1 --out "$T/out"
expect_error "verify r zero" "must be > 0" verify --r 0 --out "$T/out"
expect_error "check without x*" "give --x-star" check --f 'x^2' --out "$T/out"
expect_error "verify x* length" "give 1 or 1 numbers" verify --x-star 1,2 --out "$T/out"
"$SGD" check --level 0 --points 20 --out "$T/l0" >/dev/null 2>&1 && ok || bad "check --level 0"

# Divergence is counted, not a crash.
if "$SGD" run --f quadratic --eta 3 --noise none --steps 2000 --trials 5 --out "$T/div" >/dev/null 2>&1 &&
   grep -q '"diverged":\s*5' "$T/div/summary.json"; then ok; else bad "divergence not reported"; fi

# Determinism across thread counts (bit-identical CSV).
"$SGD" run --f spiky --level 0.13 --steps 3000 --trials 64 --seed 9 --threads 1 --record-every 500 --out "$T/a" >/dev/null 2>&1 || bad "run a"
"$SGD" run --f spiky --level 0.13 --steps 3000 --trials 64 --seed 9 --threads 2 --record-every 500 --out "$T/b" >/dev/null 2>&1 || bad "run b"
if cmp -s "$T/a/trials.csv" "$T/b/trials.csv" && cmp -s "$T/a/traj_x.npy" "$T/b/traj_x.npy"; then ok; else bad "threads change results"; fi
for f in manifest.json summary.json trials.csv histogram.csv traj_x.npy traj_y.npy; do
    [ -s "$T/a/$f" ] && ok || bad "missing $f"
done
"$SGD" run --f spiky --level 0.13 --steps 3000 --trials 64 --seed 10 --threads 2 --out "$T/c" >/dev/null 2>&1
cmp -s "$T/a/trials.csv" "$T/c/trials.csv" && bad "different seeds gave identical results" || ok

# Formula and plugin landscapes run end to end.
"$SGD" run --f 'x^2 + 0.05*(1-cos(60*x))' --level 0.1 --steps 500 --trials 8 --out "$T/fo" >/dev/null 2>&1 && ok || bad "formula run"
"$SGD" run --f "plugin:$SGD_BUILD_DIR/plugin_quartic.so" --d 2 --level 0.05 --steps 500 --trials 8 --out "$T/pl" >/dev/null 2>&1 && ok || bad "plugin run"

# --help everywhere.
for c in $("$SGD" --help | awk '/^commands:/{f=1;next} /^$/{f=0} f{print $1}'); do
    "$SGD" "$c" --help >/dev/null 2>&1 && ok || bad "$c --help"
done

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
