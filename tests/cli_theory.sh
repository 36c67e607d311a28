#!/usr/bin/env bash
# CLI tests for smooth / check / bounds / verify. $1 = path of the sgdscape binary.
set -u
B="$1"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
# numeric value of a top-level key in a pretty-printed JSON file
jget() { sed -n "s/^[[:space:]]*\"$2\":[[:space:]]*\([^,]*\),\{0,1\}$/\1/p" "$1" | head -1; }
# awk comparison: cmp A OP B
cmp() { awk -v a="$1" -v b="$3" "BEGIN { exit !(a $2 b) }"; }

# ---- bounds: Theorem 1 by hand (see tests/test_theory.c) ----
out=$("$B" bounds --eta 0.1 --c 1 --L 1 --r 1 --y0-dist2 16 --T2 1000 --out "$T/b1") && ok || bad "bounds exit"
echo "$out" | grep -q "= 0.19$" && ok || bad "lambda 0.19: $out"
echo "$out" | grep -q "T1 .* = 30 " && ok || bad "T1 = 30"
echo "$out" | grep -q "1.273684211" && ok || bad "20b/lambda"
v=$(jget "$T/b1/bounds.json" T1); [ "$v" = "30" ] && ok || bad "bounds.json T1 = $v"
# impossible input: nonzero exit, an explanation, no numbers
for args in "--eta 0.6 --c 1 --L 1 --r 1" "--eta 0.1 --c 0 --L 1 --r 1" "--eta 0.1 --c 1 --L -1 --r 1" \
            "--eta 0.1 --c 1 --L 1 --r -1" "--eta 0.1 --c nan --L 1 --r 1" "--eta 0.3 --c 0.25 --L 1 --r 1"; do
    msg=$("$B" bounds $args 2>&1) && bad "bounds $args should fail" || ok
    echo "$msg" | grep -q "lambda *=" && bad "bounds $args printed numbers" || ok
    [ -n "$msg" ] && ok || bad "bounds $args: no message"
done
"$B" bounds --eta 0.3 --c 0.25 --L 1 --r 1 2>&1 | grep -q "c/L^2" && ok || bad "names c/L^2"
# Corollary 2 and Theorem 3
out=$("$B" bounds --stages 0.1:1:1,0.05:1.5:1 --L 2 --y0-dist2 16) && ok || bad "stages"
echo "$out" | grep -q "probability >= 0.25" && ok || bad "cor2 prob"
echo "$out" | grep -q "0.432143" && ok || bad "cor2 radius"
"$B" bounds --stages 0.1:1:1,0.05:0.5:1 --L 2 >/dev/null 2>&1 && bad "cor2 c decreasing accepted" || ok
out=$("$B" bounds --thm3 --f quadratic --d 2 --x 3,4 --eta-gd 2.5) && ok || bad "thm3"
echo "$out" | grep -q "= 2: GD" && ok || bad "thm3 threshold 2: $out"
echo "$out" | grep -q "25 -> 56.25" && ok || bad "thm3 step"

# ---- smooth: quadrature and MC against the closed form ----
"$B" smooth --f rastrigin --noise cube --eta 0.1 --r 1 --method quad --compare --n 41 --out "$T/s1" >/dev/null && ok || bad "smooth quad"
v=$(jget "$T/s1/summary.json" coverage); [ "$v" = "1" ] && ok || bad "quad coverage $v"
"$B" smooth --f spiky --level 0.15 --method mc --samples 20000 --confidence 0.999 --compare --n 21 --out "$T/s2" >/dev/null && ok || bad "smooth mc"
v=$(jget "$T/s2/summary.json" coverage); cmp "$v" ">=" 0.95 && ok || bad "mc coverage $v"
[ -f "$T/s2/smooth.gp" ] && [ -f "$T/s2/smooth.csv" ] && ok || bad "smooth files"
if command -v gnuplot >/dev/null; then [ -s "$T/s2/smooth.png" ] && [ -s "$T/s2/smooth.svg" ] && ok || bad "smooth figure"; fi
"$B" smooth --f quadratic --d 100 --at "0.5;1" --method mc --tol 0.01 --no-grad --out "$T/s3" >/dev/null && ok || bad "smooth --tol"
v=$(jget "$T/s3/summary.json" max_error); cmp "$v" "<=" 0.0105 && ok || bad "tol respected: $v"
"$B" smooth --f rastrigin --d 3 --method quad --at 0 >/dev/null 2>&1 && bad "quad d=3 accepted" || ok
"$B" smooth --f quadratic --d 3 --out "$T/s4" >/dev/null 2>&1 && bad "grid in d=3 accepted" || ok

# ---- check: quadratic c = a; MC interval contains it ----
"$B" check --f quadratic:a=2 --d 2 --eta 0.1 --r 1 --box -3:3 --points 200 --out "$T/c1" >/dev/null && ok || bad "check exact"
v=$(jget "$T/c1/summary.json" c_hat); cmp "$v" "==" 2 && ok || bad "c_hat = $v"
"$B" check --f quadratic:a=2 --d 3 --eta 0.1 --r 1 --box -3:3 --points 50 --method mc --samples 2000 --out "$T/c2" >/dev/null && ok || bad "check mc"
lo=$(jget "$T/c2/summary.json" c_lower); hi=$(jget "$T/c2/summary.json" c_upper)
cmp "$lo" "<=" 2 && cmp "$hi" ">=" 2 && cmp "$lo" ">" 1.5 && ok || bad "MC interval [$lo, $hi] misses c = 2"
grep -q "holds" "$T/c2/summary.json" && ok || bad "verdict holds"
# the spiky default: fails at small noise, with the failing points listed
"$B" check --f spiky --grid -4:4 --points 401 --eta 0.01 --level 0.04 --out "$T/c3" >/dev/null && ok || bad "check spiky"
grep -q '"verdict":.*fails at' "$T/c3/summary.json" && ok || bad "spiky 0.04 fails"
awk -F, 'NR > 1 && $6 == 1' "$T/c3/points.csv" | grep -q . && ok || bad "failing points in csv"
# scan: a window of levels
"$B" check --f spiky --grid -4:4 --points 401 --eta 0.01 --scan-level 0.02,0.04,0.15,0.3,0.5 --exclude 0.1 --out "$T/c4" >/dev/null && ok || bad "scan"
lo=$(jget "$T/c4/summary.json" holds_from); cmp "$lo" ">=" 0.1 && cmp "$lo" "<=" 0.2 && ok || bad "window starts at $lo"
[ "$(wc -l < "$T/c4/scan.csv")" = "6" ] && ok || bad "scan.csv rows"

# ---- bounds --from a check run, verify ----
out=$("$B" bounds --from "$T/c1" --y0-dist2 9) && ok || bad "bounds --from"
echo "$out" | grep -q "c = 2 " && ok || bad "from reads c: $out"
"$B" verify --f quadratic --d 2 --eta 0.1 --r 1 --trials 200 --T2 200 --out "$T/v1" >/dev/null && ok || bad "verify"
v=$(jget "$T/v1/summary.json" p_radius); cmp "$v" ">=" 0.5 && cmp "$v" ">=" 0.95 && ok || bad "P(radius) = $v"
v=$(jget "$T/v1/summary.json" thm3_dist2_after_above); b=$(jget "$T/v1/summary.json" thm3_dist2_before)
cmp "$v" ">=" "$b" && ok || bad "thm3 moved away: $v vs $b"
"$B" check --f quadratic --d 2 --eta 0.05 --r 2 --box -4:4 --points 100 --out "$T/c5" >/dev/null && ok || bad "check for verify"
out=$("$B" verify --from "$T/c5" --d 2 --trials 100 --T2 100 --out "$T/v3") && ok || bad "verify --from"
echo "$out" | grep -q "eta = 0.05, c = 1 (check run" && ok || bad "verify --from reads eta, c: $out"
"$B" verify --f quadratic --eta 0.6 --r 1 --trials 10 --out "$T/v2" >/dev/null 2>&1 && bad "verify outside window" || ok
[ -d "$T/v2" ] && bad "failed verify left a directory" || ok
for c in smooth check bounds verify; do "$B" $c --help | grep -q "usage: sgdscape $c" && ok || bad "$c --help"; done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
