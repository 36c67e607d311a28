#!/usr/bin/env bash
# User-defined landscapes through the CLI: bad formulas and plugins fail with
# status 1 and a message naming the column or symbol; good ones run.
# usage: cli_formula.sh PATH/TO/sgdscape   (ctest runs it in the build dir)
set -u
BIN=${1:?usage: cli_formula.sh SGDSCAPE}
BUILD=${SGD_BUILD_DIR:-.}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export XDG_CACHE_HOME=$TMP/cache # compiled formulas go here, not into ~/.cache
unset SGD_NO_JIT CC
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

# Compiled (the default), --no-jit, SGD_NO_JIT=1 and no compiler at all: the
# same trials to the byte. Without a compiler the run goes on interpreted
# after one line that says why; otherwise nothing is said.
F='x^2 + (1-cos(6*x))*x^2/(x^2+1) + 0.05*(1-cos(60*x))'
jrun() { # jrun NAME ARGS...: the run, its stderr in NAME.err
    local name=$1
    shift
    "$BIN" run --f "$F" --level 0.13 --trials 70 --steps 3000 --seed 5 --threads 2 --out "$TMP/$name" "$@" \
        >/dev/null 2>"$TMP/$name.err" && ok || bad "formula run $name failed: $(cat "$TMP/$name.err")"
}
jrun jit
jrun nojit --no-jit
SGD_NO_JIT=1 jrun envoff
CC=/nonexistent/sgd-no-cc jrun nocc
ls "$XDG_CACHE_HOME"/sgdscape/formula-*.so >/dev/null 2>&1 && ok || bad "no compiled object in the cache"
[ ! -s "$TMP/jit.err" ] && [ ! -s "$TMP/nojit.err" ] && ok || bad "compiled run printed: $(cat "$TMP/jit.err")"
[ "$(wc -l <"$TMP/nocc.err")" = 1 ] && grep -q "note: the formula runs interpreted: no C compiler" "$TMP/nocc.err" \
    && ok || bad "no-compiler note: $(cat "$TMP/nocc.err")"
for v in nojit envoff nocc; do
    cmp -s "$TMP/jit/trials.csv" "$TMP/$v/trials.csv" && ok || bad "trials differ: compiled vs $v"
done
# A cached object is used as it is (a second run compiles nothing new).
before=$(ls "$XDG_CACHE_HOME"/sgdscape)
jrun jit2
[ "$(ls "$XDG_CACHE_HOME"/sgdscape)" = "$before" ] && ok || bad "cache changed: $(ls "$XDG_CACHE_HOME"/sgdscape)"
cmp -s "$TMP/jit/trials.csv" "$TMP/jit2/trials.csv" && ok || bad "trials differ between compiled runs"
for c in run check smooth verify fig3; do
    "$BIN" "$c" --help | grep -q -- "--no-jit" && ok || bad "$c --help does not list --no-jit"
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
