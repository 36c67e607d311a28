#!/usr/bin/env bash
# User-defined landscapes through the CLI: bad formulas and plugins fail with
# status 1 and a message naming the column or symbol; good ones run.
# usage: cli_formula.sh PATH/TO/sgdscape   (ctest runs it in the build dir)
set -u
BIN=${1:?usage: cli_formula.sh SGDSCAPE}
BUILD=${SGD_BUILD_DIR:-.}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# expect_fail STATUS FRAGMENT ARGS...: exit status and a stderr fragment.
expect_fail() {
    local want=$1 frag=$2
    shift 2
    local out rc
    out=$("$BIN" "$@" 2>&1 >/dev/null)
    rc=$?
    if [ "$rc" -eq "$want" ] && [[ "$out" == *"$frag"* ]]; then ok; else
        bad "$* -> status $rc, stderr: $out (wanted $want and '$frag')"
    fi
}

# A JSON number field from summary.json (the file is cJSON's tab layout).
field() { sed -n "s/.*\"$2\":[[:space:]]*\([-0-9.eE+]*\).*/\1/p" "$1/summary.json"; }

expect_fail 1 "formula: column 7: expected ')'" run --f 'x^2 + (3*x' --out "$TMP/a"
expect_fail 1 "column 1: 'x' is ambiguous when d=3" run --f 'x^2 + 1' --d 3 --out "$TMP/b"
expect_fail 1 "column 6: no coordinate 'x5'" run --f 'x1 + x5' --d 2 --out "$TMP/c"
expect_fail 1 "formula: column 3: unexpected '2'" run --f 'formula:x 2' --out "$TMP/d"
expect_fail 1 "missing symbol 'sgd_plugin_fg'" run --f "plugin:$BUILD/plugin_missing_symbol.so" --out "$TMP/e"
expect_fail 1 "plugin $TMP/none.so: cannot load" run --f "plugin:$TMP/none.so" --out "$TMP/f"
[ ! -e "$TMP/a/summary.json" ] && ok || bad "a failed run left a summary"

# The 1-D spiky formula with medium noise: every trial ends near x* = 0.
if "$BIN" run --f 'x^2 + 0.05*(1-cos(60*x))' --level 0.05 --trials 8 --steps 5000 --seed 3 \
    --threads 2 --out "$TMP/g" >/dev/null 2>&1; then
    ok
    [ "$(field "$TMP/g" trials)" = 8 ] && ok || bad "trials in summary"
    [ "$(field "$TMP/g" diverged)" = 0 ] && ok || bad "diverged trials on a bounded formula"
    [ "$(field "$TMP/g" fraction_within_1_5)" = 1 ] && ok || bad "trials did not reach [-1.5, 1.5]"
    grep -q 'formula' "$TMP/g/manifest.json" && ok || bad "manifest does not name the formula"
else
    bad "formula run failed"
fi

# log(x) from negative starts is NaN at once: counted as diverged, no crash.
if "$BIN" run --f 'log(x)' --start -2:-1 --trials 4 --steps 10 --out "$TMP/h" >/dev/null 2>&1; then
    ok
    [ "$(field "$TMP/h" diverged)" = 4 ] && ok || bad "NaN trials not counted as diverged"
else
    bad "run with a NaN formula failed"
fi

# A plugin runs in d = 2 and reports its name.
if "$BIN" run --f "plugin:$BUILD/plugin_quartic.so" --d 2 --trials 4 --steps 200 \
    --out "$TMP/i" >"$TMP/i.log" 2>&1; then
    ok
    grep -q 'quartic-double-well' "$TMP/i.log" && ok || bad "plugin name not shown"
else
    bad "plugin run failed: $(cat "$TMP/i.log")"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
