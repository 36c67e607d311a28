#!/bin/bash
# sgdscape spectrum end to end on 300 random 28x28 images (a base of 3
# epochs, fine-tunes from epochs 0 and 2): the files and columns of Figure 6;
# 1 and 2 threads give the same bytes; reusing the base with --run gives the
# same minima; a spectrum stopped by SIGINT or killed in a fine-tune resumes
# to the same bytes; bad input gives one line, a nonzero exit and no output
# directory.
set -u
CLI="$1"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

. "$(dirname "$0")/lib_data.sh" # npyhdr, tiny_images
DATA=$(tiny_images "$T")
# gnuplot renders the figures of the first run only (8 renders take seconds); the others
# write the same .gp and .dat files
nofig() { PATH=/nonexistent "$CLI" "$@"; }
common=(--model mlp:w=8,d=1 --data "$DATA" --epochs 3 --starts 0,2 --epochs-fine 2 --batches 2 --quiet)

"$CLI" spectrum "${common[@]}" --threads 2 --out "$T/s2" >"$T/s2.out" || bad "spectrum"
hdr='start,train_loss,train_acc,val_loss,val_acc,fit_loss,fit_acc,dist_init,dist_start,start_dist_init,onepoint_frac,inner_min'
[ "$(head -1 "$T/s2/spectrum.csv")" = "$hdr" ] && ok "columns" || bad "columns: $(head -1 "$T/s2/spectrum.csv")"
[ "$(cut -d, -f1 "$T/s2/spectrum.csv" | tr '\n' ' ')" = "start 0 2 " ] && ok "one row per start" || bad "rows"
for f in inner.npy summary.json manifest.json fig6a.gp fig6a.dat fig6b.gp fig6b.dat fig6c.gp fig6c.dat fig6d.gp \
    fig6d.dat base/x/x_0000.npy base/x.npy fine/s0000/x/x_0001.npy fine/s0002/x.npy fine/s0002/train.csv; do
    [ -s "$T/s2/$f" ] || bad "missing $f"
done
if command -v gnuplot >/dev/null; then
    [ -s "$T/s2/fig6a.png" ] && [ -s "$T/s2/fig6b.svg" ] && [ -s "$T/s2/fig6c.png" ] && [ -s "$T/s2/fig6d.png" ] &&
        ok figures || bad figures
fi
grep -q '"spearman_start_dist_init"' "$T/s2/summary.json" && grep -q '"fraction_minima_onepoint"' "$T/s2/summary.json" &&
    ok "summary claims" || bad "summary claims"
[ ! -e "$T/s2.partial" ] && ok "no leftovers" || bad "leftovers"
# the fine-tunes ran at 0.01; no test split: validation is nan; the start of s = 0 is x_0
awk -F, 'NR > 1 && $2 != 0.01 { exit 1 }' "$T/s2/fine/s0002/train.csv" && ok "lr-fine" || bad "lr-fine"
awk -F, 'NR > 1 && ($4 != "nan" || $5 != "nan") { exit 1 } NR == 2 && $10 != 0 { exit 1 }' "$T/s2/spectrum.csv" &&
    ok "nan validation, |x_0 - x_0| = 0" || bad "validation or start distance"

nofig spectrum "${common[@]}" --threads 1 --out "$T/s1" >/dev/null || bad "spectrum 1 thread"
same() { # A B: the result files of two spectrum runs are the same bytes
    for f in spectrum.csv inner.npy summary.json fig6a.dat fig6b.dat fig6c.dat fig6d.dat fine/s0000/x.npy \
        fine/s0002/x.npy; do
        cmp -s "$1/$f" "$2/$f" || { echo "  $f differs"; return 1; }
    done
}
same "$T/s1" "$T/s2" && ok "threads 1 = threads 2" || bad "threads 1 vs 2"

# --sharpness: each minimum's top Hessian eigenvalue is hessian's on that fine-tune (the same
# f, Lanczos start and steps), and the other columns are those of the run without it
nofig spectrum "${common[@]}" --threads 2 --sharpness 4 --out "$T/sh" >"$T/sh.out" || bad "spectrum --sharpness"
[ "$(head -1 "$T/sh/spectrum.csv")" = "$hdr,sharpness,sharpness_resid" ] && ok "sharpness columns" ||
    bad "sharpness columns: $(head -1 "$T/sh/spectrum.csv")"
[ "$(cut -d, -f1-12 "$T/sh/spectrum.csv")" = "$(cat "$T/s2/spectrum.csv")" ] && ok "other columns unchanged" ||
    bad "--sharpness changed other columns"
nofig hessian "$T/sh/fine/s0002" --batches 2 --top 1 --lanczos-steps 4 --tol 1e-6 --quiet --out "$T/hs" >/dev/null ||
    bad "hessian of a fine-tune"
[ "$(awk -F, 'NR == 3 { print $13 }' "$T/sh/spectrum.csv")" = "$(awk -F, 'NR == 2 { print $3 }' "$T/hs/eigenvalues.csv")" ] &&
    ok "sharpness = hessian's top eigenvalue" ||
    bad "sharpness $(awk -F, 'NR == 3 { print $13 }' "$T/sh/spectrum.csv") vs hessian's $(cat "$T/hs/eigenvalues.csv")"
grep -q '"spearman_start_sharpness"' "$T/sh/summary.json" && ok "sharpness in summary" || bad "sharpness summary"
nofig spectrum --run "$T/s2/base" --starts 0,2 --epochs-fine 2 --batches 2 --quiet --out "$T/r" >/dev/null || bad "--run"
same "$T/r" "$T/s2" && [ ! -e "$T/r/base" ] && ok "--run reuses the base: same minima" || bad "--run differs"

# stopped in a fine-tune, then --resume: the same bytes
long=(--model mlp:w=8,d=1 --data "$DATA" --epochs 3 --starts 0,2 --epochs-fine 20 --batches 2 --quiet --threads 1)
nofig spectrum "${long[@]}" --out "$T/full" >/dev/null || bad "full spectrum"
stopped() { # SIGNAL NAME WAITFOR: kill once WAITFOR exists in NAME.partial
    rm -rf "$T/$2" "$T/$2.partial"
    PATH=/nonexistent "$CLI" spectrum "${long[@]}" --out "$T/$2" >/dev/null 2>"$T/$2.err" &
    local pid=$! i=0
    while [ $i -lt 3000 ] && [ ! -e "$T/$2.partial/$3" ]; do
        sleep 0.01
        i=$((i + 1))
    done
    kill -"$1" $pid 2>/dev/null
    wait $pid
    local rc=$?
    if [ -d "$T/$2" ]; then
        echo "skip: the spectrum finished before SIG$1"
        return
    fi
    [ -d "$T/$2.partial/fine" ] && ok "SIG$1 (exit $rc) keeps $2.partial" || bad "SIG$1: nothing kept"
    nofig spectrum "${long[@]}" --resume --out "$T/$2" >"$T/$2.out" || bad "resume after SIG$1: $(cat "$T/$2.out")"
    [ ! -e "$T/$2.partial" ] && ok "resumed run committed" || bad "resume leftovers"
    same "$T/$2" "$T/full" && ok "resume after SIG$1: same bytes" || bad "resume after SIG$1 differs"
}
stopped INT sigint fine/s0000.partial/x/x_0005.npy
grep -q -- "--resume" "$T/sigint.err" 2>/dev/null && ok "SIGINT message" || echo "note: $(cat "$T/sigint.err")"
stopped KILL sigkill fine/s0002.partial/x/x_0005.npy
grep -q '"fine_resumed":	1' "$T/sigkill/manifest.json" && grep -q '"fine_reused":	1' "$T/sigkill/manifest.json" &&
    ok "kill in the second fine-tune: the first reused, the second resumed" || echo "note: $(grep fine_ "$T/sigkill/manifest.json")"

# errors: one line, nonzero exit, nothing written
expect_error() { # WHAT PATTERN ARGS...
    local what=$1 pat=$2
    shift 2
    rm -rf "$T/e" "$T/e.partial"
    err=$("$CLI" spectrum "$@" --out "$T/e" 2>&1 >/dev/null); rc=$?
    if [ $rc -ne 0 ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && echo "$err" | grep -q -- "$pat" && [ ! -e "$T/e" ] &&
        [ ! -e "$T/e.partial" ]; then ok "$what: $err"; else bad "$what: rc=$rc '$err'"; fi
}
expect_error "decreasing starts" "--starts '2,1'" "${common[@]}" --starts 2,1
expect_error "start beyond E" "epoch 5 is beyond the base run's 3 epochs" "${common[@]}" --starts 0,5
expect_error "bad every" "every:K" "${common[@]}" --starts every:0
expect_error "lr-fine 0" "--lr-fine" "${common[@]}" --lr-fine 0
expect_error "epochs-fine 0" "--epochs-fine" "${common[@]}" --epochs-fine 0
expect_error "no model" "--model" --data "$DATA"
expect_error "missing run" "not a directory" --run "$T/nothere"
expect_error "run and other epochs" "trained with --epochs 3, not 4" --run "$T/s2/base" --epochs 4
cp -r "$T/s2/base" "$T/b2" && rm "$T/b2/x/x_0002.npy"
expect_error "missing start point" "x_0002.npy: missing" --run "$T/b2" --starts 0,2 --batches 2
expect_error "too many probe batches" "--batches 9" "${common[@]}" --batches 9
expect_error "bad data" "nothere.npy" "${common[@]}" --data "npy:$T/nothere.npy,$T/y.npy"
expect_error "resume with nothing" "holds no spectrum to continue" "${common[@]}" --resume
expect_error "unknown option" "unknown option" "${common[@]}" --bogus
exit $fail
