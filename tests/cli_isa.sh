#!/usr/bin/env bash
# CLI: kernel variants (include/sgdscape/isa.h). `sgdscape isa` names the
# variant chosen; SGD_ISA forces one, and an unknown or unsupported one is a
# one-line error with no run directory; Figure 3 (shortened) gives the same
# files under every variant this CPU runs, and its manifest names the variant.
set -u
SGD=${1:?usage: cli_isa.sh path/to/sgdscape}
T=$(mktemp -d /tmp/sgd_cli_XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# expect_error NAME PATTERN ISA ARGS...: non-zero exit, one stderr line containing PATTERN, no $T/out
expect_error() {
    local name=$1 pat=$2 isa=$3; shift 3
    rm -rf "$T/out" "$T/out.partial"
    SGD_ISA=$isa "$SGD" "$@" >"$T/stdout" 2>"$T/stderr"
    local rc=$?
    local lines; lines=$(wc -l <"$T/stderr")
    if [ $rc -ne 0 ] && [ "$lines" -eq 1 ] && grep -q -- "$pat" "$T/stderr" && [ ! -e "$T/out" ] && [ ! -e "$T/out.partial" ]; then ok
    else bad "$name: rc=$rc lines=$lines stderr=$(cat "$T/stderr")"; fi
}

"$SGD" isa --help | grep -q "SGD_ISA" && ok || bad "isa --help"
chosen=$(env -u SGD_ISA "$SGD" isa | head -n 1)
case "$chosen" in baseline | avx2 | avx512) ok ;; *) bad "isa printed '$chosen'" ;; esac
# the choice is the widest variant the listing calls supported
widest=$(env -u SGD_ISA "$SGD" isa | awk 'NR > 1 && $2 == "supported" {w = $1} END {print w}')
[ "$chosen" = "$widest" ] && ok || bad "chose $chosen, widest supported $widest"
[ "$(SGD_ISA=baseline "$SGD" isa | head -n 1)" = baseline ] && ok || bad "SGD_ISA=baseline not used"

expect_error "unknown variant" "SGD_ISA" sse4 isa
expect_error "unknown variant, fig3" "sse4" sse4 fig3 --trials 8 --steps 30 --out "$T/out"
for v in avx2 avx512; do
    if ! "$SGD" isa | grep -q "^  $v  *supported"; then
        expect_error "unsupported $v" "cannot run" "$v" fig3 --trials 8 --steps 30 --out "$T/out"
    fi
done

# Figure 3, shortened, under each supported variant: the same bytes in every file
# but the manifest (time, command line, the variant's name).
ref=""
for v in $("$SGD" isa | awk 'NR > 1 && $2 == "supported" {print $1}'); do
    if SGD_ISA=$v "$SGD" fig3 --trials 40 --steps 600 --threads 2 --out "$T/fig3_$v" >/dev/null 2>"$T/stderr"; then ok
    else bad "fig3 under $v: $(cat "$T/stderr")"; continue; fi
    grep -q "\"kernels\":[[:space:]]*\"$v\"" "$T/fig3_$v/manifest.json" && ok || bad "manifest does not name $v"
    [ -z "$ref" ] && { ref=$v; continue; }
    same=1
    for f in "$T/fig3_$ref"/*; do
        b=$(basename "$f")
        case "$b" in manifest.json | *.png | *.svg) continue ;; esac
        if [ "$b" = summary.json ]; then # all but the wall-clock seconds
            cmp -s <(grep -v '"seconds"' "$f") <(grep -v '"seconds"' "$T/fig3_$v/$b") || { same=0; echo "differs: $b" >&2; }
        else
            cmp -s "$f" "$T/fig3_$v/$b" || { same=0; echo "differs: $b" >&2; }
        fi
    done
    [ $same = 1 ] && ok || bad "fig3 files under $v differ from $ref"
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
