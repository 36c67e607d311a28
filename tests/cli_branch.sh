#!/bin/bash
# sgdscape branch end to end on 300 random 28x28 images: the files and
# columns; 1 and 2 threads give the same bytes; --run of a train run with the
# prefix's settings gives the same branches; a run killed (SIGKILL) or
# stopped (SIGINT) while training resumes to the same bytes; bad input gives
# one line, a nonzero exit and no output directory.
set -u
CLI="$1"
# gnuplot takes most of the time of these tiny runs (every train run draws
# train.png): only the first run renders figures
fast() { PATH=/nonexistent "$CLI" "$@"; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

. "$(dirname "$0")/lib_data.sh" # npyhdr, tiny_images
DATA=$(tiny_images "$T")
small=(--data "$DATA" --branches 3 --shared-epochs 1 --epochs 2 --batches 2)
OUTS="branch.csv inner.npy distances.csv distances.npy finals.csv summary.json branch_hist.dat branch_heat.dat"
same_outputs() { # A B WHAT
    local f
    for f in $OUTS branches/b000/x.npy branches/b002/x/x_0001.npy; do
        cmp -s "$1/$f" "$2/$f" || { bad "$3: $f differs"; return; }
    done
    ok "$3: same bytes"
}

"$CLI" branch --model mlp:w=8,d=1 "${small[@]}" --threads 2 --out "$T/b2" >"$T/b2.out" || bad "branch"
hdr='branch,epoch,loss,grad_norm,inner_self,inner_min,inner_mean,inner_max,nonpositive,nonpositive_others'
[ "$(head -1 "$T/b2/branch.csv")" = "$hdr" ] && ok "columns" || bad "columns: $(head -1 "$T/b2/branch.csv")"
[ "$(wc -l <"$T/b2/branch.csv")" -eq 7 ] && ok "3 branches x 2 epochs" || bad "rows"
head -c 128 "$T/b2/inner.npy" | grep -q "'shape': (3, 2, 3)" && ok "inner.npy (B, E1, B)" || bad "inner.npy shape"
[ "$(wc -l <"$T/b2/distances.csv")" -eq 4 ] && ok "3 pairs" || bad "distances.csv"
for f in $OUTS manifest.json branch_hist.gp branch_heat.gp prefix/x.npy branches/b001/x/x_0000.npy; do
    [ -s "$T/b2/$f" ] || bad "missing $f"
done
if command -v gnuplot >/dev/null; then
    [ -s "$T/b2/branch_hist.png" ] && [ -s "$T/b2/branch_heat.svg" ] && ok figures || bad figures
fi
grep -q '"inner_count_others":	12' "$T/b2/summary.json" && grep -q '"min_pairwise_distance"' "$T/b2/summary.json" &&
    ok "summary claims" || bad "summary claims"
[ ! -e "$T/b2/rows" ] && [ ! -e "$T/b2.partial" ] && ok "no leftovers" || bad "leftovers"
# epoch 0 is the shared point: the same loss in every branch
[ "$(awk -F, '$2 == 0 { print $3 }' "$T/b2/branch.csv" | sort -u | wc -l)" -eq 1 ] && ok "shared branch point" ||
    bad "epoch 0 differs between branches"

fast branch --model mlp:w=8,d=1 "${small[@]}" --threads 1 --out "$T/b1" >/dev/null || bad "branch 1 thread"
same_outputs "$T/b1" "$T/b2" "threads 1 vs 2"

# --sharpness: each final's top Hessian eigenvalue is hessian's on that branch's run
fast branch --model mlp:w=8,d=1 "${small[@]}" --sharpness 4 --threads 2 --out "$T/bs" >/dev/null || bad "--sharpness"
[ "$(head -1 "$T/bs/finals.csv")" = "branch,seed,loss,dist_start,dist_nearest,sharpness,sharpness_resid" ] &&
    ok "finals.csv sharpness columns" || bad "finals.csv: $(head -1 "$T/bs/finals.csv")"
fast hessian "$T/bs/branches/b001" --batches 2 --top 1 --lanczos-steps 4 --tol 1e-6 --quiet --out "$T/hs" >/dev/null ||
    bad "hessian of a branch"
[ "$(awk -F, 'NR == 3 { print $6 }' "$T/bs/finals.csv")" = "$(awk -F, 'NR == 2 { print $3 }' "$T/hs/eigenvalues.csv")" ] &&
    ok "sharpness = hessian's top eigenvalue" || bad "sharpness vs hessian: $(sed -n 3p "$T/bs/finals.csv")"
# --sharpness-precision 32: hessian --precision 32's eigenvalue, within float32's reach of float64's
fast branch --model mlp:w=8,d=1 "${small[@]}" --sharpness 4 --sharpness-precision 32 --threads 2 --out "$T/b32" \
    >/dev/null || bad "--sharpness-precision 32"
fast hessian "$T/b32/branches/b001" --batches 2 --top 1 --lanczos-steps 4 --tol 1e-6 --precision 32 --quiet \
    --out "$T/h32" >/dev/null || bad "hessian --precision 32 of a branch"
s32=$(awk -F, 'NR == 3 { print $6 }' "$T/b32/finals.csv") s64=$(awk -F, 'NR == 3 { print $6 }' "$T/bs/finals.csv")
[ "$s32" = "$(awk -F, 'NR == 2 { print $3 }' "$T/h32/eigenvalues.csv")" ] && ok "float32 sharpness = hessian's" ||
    bad "float32 sharpness $s32 vs hessian's $(cat "$T/h32/eigenvalues.csv")"
awk -v a="$s32" -v b="$s64" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-4 * (b < 0 ? -b : b) && a != b) }' &&
    ok "float32 sharpness near float64's" || bad "float32 sharpness $s32 vs float64 $s64"
grep -Eq '"sharpness_precision":[[:space:]]*32' "$T/b32/manifest.json" && ok "manifest: sharpness_precision" ||
    bad "manifest lacks sharpness_precision 32"
"$CLI" branch --model mlp:w=8,d=1 --sharpness 4 --sharpness-precision 16 --out "$T/bx" >/dev/null 2>"$T/bx.err"
[ $? -eq 2 ] && grep -q "give 64 or 32" "$T/bx.err" && ok "--sharpness-precision 16: usage error" ||
    bad "--sharpness-precision 16: $(cat "$T/bx.err")"

# a train run with the prefix's settings as --run: the same branches
fast train --model mlp:w=8,d=1 --data "$DATA" --epochs 1 --quiet --out "$T/run" >/dev/null || bad "train"
fast branch --run "$T/run" --branches 3 --shared-epochs 1 --epochs 2 --batches 2 --out "$T/br" >/dev/null ||
    bad "branch --run"
same_outputs "$T/br" "$T/b2" "--run = own prefix"

# killed or interrupted while a branch trains, then --resume: the same bytes
long=(--model mlp:w=8,d=1 --data "$DATA" --branches 3 --shared-epochs 1 --epochs 6 --batches 2 --threads 1)
fast branch "${long[@]}" --out "$T/full" >/dev/null || bad "full run"
stopped() { # SIGNAL NAME
    rm -rf "$T/$2" "$T/$2.partial"
    PATH=/nonexistent "$CLI" branch "${long[@]}" --out "$T/$2" >/dev/null 2>"$T/$2.err" &
    local pid=$! i=0
    while [ $i -lt 3000 ] && ! ls "$T/$2.partial/branches/b001"*/x/x_0002.npy >/dev/null 2>&1; do
        sleep 0.01
        i=$((i + 1))
    done
    kill -"$1" $pid 2>/dev/null
    wait $pid
    local rc=$?
    if [ -d "$T/$2" ]; then
        echo "skip: the run finished before SIG$1"
        return
    fi
    [ -f "$T/$2.partial/config.txt" ] && ok "SIG$1 (exit $rc) keeps $2.partial" || bad "SIG$1: nothing kept"
    fast branch "${long[@]}" --resume --out "$T/$2" >"$T/$2.out" || bad "resume after SIG$1"
    [ ! -e "$T/$2.partial" ] && ok "resumed run committed" || bad "resume leftovers"
    grep -q resumed "$T/$2.out" && ok "reported as resumed" || bad "not reported as resumed"
    same_outputs "$T/$2" "$T/full" "resume after SIG$1"
}
stopped KILL sigkill
stopped INT sigint
grep -q -- "--resume" "$T/sigint.err" 2>/dev/null && ok "SIGINT message" || echo "note: $(cat "$T/sigint.err")"

# errors: one line, nonzero exit, nothing written
expect_error() { # WHAT PATTERN ARGS...
    local what=$1 pat=$2
    shift 2
    rm -rf "$T/e" "$T/e.partial"
    err=$(fast branch "$@" --out "$T/e" 2>&1 >/dev/null); rc=$?
    if [ $rc -ne 0 ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && echo "$err" | grep -q -- "$pat" && [ ! -e "$T/e" ] &&
        [ ! -e "$T/e.partial" ]; then ok "$what: $err"; else bad "$what: rc=$rc '$err'"; fi
}
expect_error "unknown model" "unknown model" --model nope "${small[@]}"
expect_error "no model" "--model" "${small[@]}"
expect_error "no branches" "--branches" --model mlp:d=0 --data "$DATA" --branches 0
expect_error "too many batches" "--batches 99" --model mlp:d=0 --data "$DATA" --batches 99
expect_error "crop too wide" "crop padding 40" --model mlp:d=0 --data "$DATA" --crop 40 --batches 2
expect_error "bad data" "nothere.npy" --model mlp:d=0 --data "npy:$T/nothere.npy,$T/y.npy"
expect_error "run not a directory" "nothere" --run "$T/nothere"
expect_error "run and model" "--model" --run "$T/run" --model mlp:d=0
expect_error "epoch not in the run" "x_0005.npy: missing" --run "$T/run" --shared-epochs 5 --batches 2
rm "$T/run/checkpoint/momentum_000001.npy"
expect_error "no momentum at E0" "fresh-momentum" --run "$T/run" --shared-epochs 1 --batches 2
expect_error "resume without a run" "no branch run" --model mlp:d=0 --data "$DATA" --batches 2 --resume
exit $fail
