#!/bin/bash
# sgdscape hessian end to end: a formula quadratic with condition number 1000
# gives its exact eigenvalues in eigenvalues.csv (and the catalog's
# quadratic:cond=1000 too); the trace interval covers the exact trace; the
# files are there; --threads 1 and 2 give the same bytes; a network (a small
# MLP trained for one epoch on 300 random images) gives the same spectrum from
# its run directory and from its weights file; bad input gives one line, a
# nonzero exit and no output directory.
set -u
CLI="$1"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }
nofig() { PATH=/nonexistent "$CLI" "$@"; }

# f = 1/2 sum_i a_i x_i^2 with a_i = 1, 10, 100, 1000 and a_1 = a_2 = 1:
# eigenvalues 1000, 100, 10, 1, 1 (d = 5), trace 1112
F='0.5*x1^2 + 0.5*x2^2 + 5*x3^2 + 50*x4^2 + 500*x5^2'
"$CLI" hessian --f "$F" --at 1,-2,0.5,3,0.25 --top 3 --bottom 2 --trace 30 --density 4 --vectors --quiet \
    --out "$T/q" >"$T/q.out" || bad "formula run"
want='end,k,eigenvalue,residual
top,1,1000
top,2,100
top,3,10
bottom,1,1
bottom,2,1'
got=$(awk -F, 'NR == 1 { print; next } { v = $3 + 0; printf "%s,%s,%.12g\n", $1, $2, v }' "$T/q/eigenvalues.csv")
[ "$got" = "$want" ] && ok "exact eigenvalues of the formula quadratic" || bad "eigenvalues: $got"
awk -F, 'NR > 1 && $4 + 0 > 1e-9 { exit 1 }' "$T/q/eigenvalues.csv" && ok "residuals below 1e-9" || bad "residuals"
# the diagonal Hessian: Rademacher z^T H z = tr H exactly, every sample
awk -F, 'NR > 1 && ($2 + 0 != 1112) { exit 1 }' "$T/q/trace.csv" && ok "trace samples = 1112" || bad "trace"
for f in eigenvalues.csv eigvecs_top.npy eigvecs_bottom.npy trace.csv density.csv density.npy slq_nodes.csv \
    density.gp density.dat summary.json manifest.json; do
    [ -s "$T/q/$f" ] || bad "missing $f"
done
grep -q '"hvp":	"exact Hessian' "$T/q/manifest.json" && ok "manifest names the exact Hessian" || bad "manifest hvp"
grep -q '"mass":	0.99999' "$T/q/summary.json" && ok "density integrates to 1" || bad "density mass"

# the catalog's quadratic, condition 1000 in d = 4: a_i = 1000^(i/3) = 1, 10, 100, 1000; by differences too
"$CLI" hessian --f quadratic:cond=1000 --d 4 --at 0.5 --top 1 --bottom 1 --quiet --out "$T/c" >/dev/null &&
    awk -F, 'NR == 2 && sprintf("%.10g", $3) != "1000" { exit 1 } NR == 3 && sprintf("%.10g", $3) != "1" { exit 1 }' \
        "$T/c/eigenvalues.csv" && ok "quadratic:cond=1000" || bad "quadratic:cond=1000: $(cat "$T/c/eigenvalues.csv")"
"$CLI" hessian --f quadratic:cond=1000 --d 4 --at 0.5 --fd --quiet --out "$T/fd" >/dev/null &&
    awk -F, 'NR == 2 && ($3 < 1000 - 1e-4 || $3 > 1000 + 1e-4) { exit 1 }' "$T/fd/eigenvalues.csv" &&
    grep -q 'central differences' "$T/fd/manifest.json" && ok "central differences" || bad "--fd"

# threads: the same bytes (the dense products split rows over threads from d = 256)
G='x1*x2 + sum(sin(x)^2 + 0.3*x^4)'
for t in 1 2; do
    nofig hessian --f "$G" --d 300 --at "$(seq -s, 0.01 0.01 3)" --top 2 --bottom 2 --trace 4 --density 2 --density-steps 15 --quiet \
        --threads $t --out "$T/t$t" >/dev/null || bad "threads $t"
done
same=1
for f in eigenvalues.csv trace.csv density.csv density.npy slq_nodes.csv summary.json; do
    cmp -s "$T/t1/$f" "$T/t2/$f" || { same=0; bad "threads: $f differs"; }
done
[ $same = 1 ] && ok "--threads 1 and 2: identical files"

# a network: the run directory and its weights file give the same spectrum
. "$(dirname "$0")/lib_data.sh" # npyhdr
# fixed pseudo-random images (an LCG), so the spectrum is the same on every run
{ npyhdr '|u1' '300, 28, 28'
  LC_ALL=C awk 'BEGIN { s = 7; for (i = 0; i < 300 * 784; i++) { s = (s * 1103515245 + 12345) % 2147483648; printf "%c", int(s / 8388608) } }'
} >"$T/X.npy"
{ npyhdr '|u1' '300,'; for i in $(seq 0 299); do printf "\\x$(printf %02x $((i % 10)))"; done; } >"$T/y.npy"
DATA="npy:$T/X.npy,$T/y.npy"
if nofig train --model mlp:w=8,d=1 --data "$DATA" --epochs 1 --batch 32 --quiet --out "$T/run" >/dev/null 2>&1; then
    net=(--top 2 --bottom 1 --trace 2 --batches 1 --batch 32 --lanczos-steps 40 --quiet)
    nofig hessian "$T/run" "${net[@]}" --out "$T/n1" >"$T/n1.out" || bad "network from the run: $(cat "$T/n1.out")"
    nofig hessian "$T/run/x.npy" --model mlp:w=8,d=1 --data "$DATA" "${net[@]}" --out "$T/n2" >/dev/null ||
        bad "network from weights"
    cmp -s "$T/n1/eigenvalues.csv" "$T/n2/eigenvalues.csv" && ok "network: run = weights file" ||
        bad "network: $(cat "$T/n1/eigenvalues.csv" "$T/n2/eigenvalues.csv")"
    nofig hessian "$T/run" "${net[@]}" --threads 1 --out "$T/n3" >/dev/null
    cmp -s "$T/n1/eigenvalues.csv" "$T/n3/eigenvalues.csv" && cmp -s "$T/n1/trace.csv" "$T/n3/trace.csv" &&
        ok "network: --threads 1 = all" || bad "network threads"
    # the top pair: true residual ||H y - theta y|| small against theta
    awk -F, 'NR == 2 { top = $3; r = $4 } END { exit !(top > 0 && r < 1e-6 * top) }' "$T/n1/eigenvalues.csv" &&
        ok "network: top pair converged" || bad "network residual: $(cat "$T/n1/eigenvalues.csv")"
    grep -q 'R-operator' "$T/n1/manifest.json" && ok "network: manifest" || bad "network manifest"
    # float32 products: the same eigenvalues to float32 rounding, recorded in the manifest
    nofig hessian "$T/run" "${net[@]}" --precision 32 --out "$T/n4" >/dev/null || bad "network --precision 32"
    paste -d, "$T/n1/eigenvalues.csv" "$T/n4/eigenvalues.csv" | awk -F, 'NR > 1 { d = $3 - $7; if (d < 0) d = -d;
        a = $3 < 0 ? -$3 : $3; if (!(d <= 1e-4 * a + 1e-6)) bad = 1; n++ } END { exit bad || n != 3 }' &&
        grep -q '"precision":[[:space:]]*32' "$T/n4/manifest.json" && grep -q 'float32' "$T/n4/manifest.json" &&
        ok "network: --precision 32 = float64 eigenvalues to 1e-4" ||
        bad "network --precision 32: $(cat "$T/n1/eigenvalues.csv" "$T/n4/eigenvalues.csv")"
else
    bad "train for the network case"
fi

# errors: one line, nonzero exit, nothing written
expect_error() { # WHAT CODE PATTERN ARGS...
    local what=$1 code=$2 pat=$3
    shift 3
    rm -rf "$T/e" "$T/e.partial"
    err=$("$CLI" hessian "$@" --out "$T/e" 2>&1 >/dev/null); rc=$?
    if [ $rc -eq "$code" ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && echo "$err" | grep -q -- "$pat" &&
        [ ! -e "$T/e" ] && [ ! -e "$T/e.partial" ]; then ok "$what: $err"; else bad "$what: rc=$rc '$err'"; fi
}
expect_error "no point" 2 "--at" --f "$F"
expect_error "wrong --at count" 2 "give 1 or 5 numbers" --f "$F" --d 5 --at 1,2
expect_error "too many eigenvalues" 2 "the Hessian has n = 5" --f "$F" --at 1 --d 5 --top 4 --bottom 2
expect_error "bad formula" 2 "" --f 'x1^^2' --at 1
expect_error "bad --top" 2 "--top" --f "$F" --at 1 --d 5 --top x
expect_error "bad --bn" 2 "--bn" "$T/run" --bn sideways
expect_error "bad --precision" 2 "--precision" "$T/run" --precision 16
expect_error "--precision on a landscape" 2 "--precision" --f "$F" --at 1 --precision 32
expect_error "weights without model" 2 "--model" "$T/run/x.npy"
expect_error "landscape and network" 2 "not both" "$T/run" --f "$F" --at 1
expect_error "missing weights" 1 "nothere.npy" "$T/nothere.npy" --model mlp:w=8,d=1 --data "$DATA"
expect_error "wrong weights" 2 "float32 weights" "$T/q/density.npy" --model mlp:w=8,d=1 --data "$DATA"
expect_error "unknown option" 2 "unknown option" --f "$F" --at 1 --bogus
"$CLI" hessian --help | grep -q "Hutchinson" && ok "--help" || bad "--help"
exit $fail
