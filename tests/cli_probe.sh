#!/bin/bash
# sgdscape probe end to end on a tiny train run (300 random 28x28 images):
# the files and columns of Figure 5; 1 and 2 threads give the same bytes; a
# probe stopped by SIGINT or killed resumes to the same bytes; --traj gives
# the run's inner products; bad input gives one line naming the file, a
# nonzero exit and no output directory.
set -u
CLI="$1"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

. "$(dirname "$0")/lib_data.sh" # npyhdr, tiny_images, stop_when
npy() { # COUNT FILE [NAN_AT]: a float32 vector of zeros
    { npyhdr '<f4' "$1,"
      if [ $# -ge 3 ]; then
          head -c $(($3 * 4)) /dev/zero; printf '\x00\x00\xc0\x7f'; head -c $((($1 - $3 - 1) * 4)) /dev/zero
      else head -c $(($1 * 4)) /dev/zero; fi; } >"$2"
}
# 300 random 28x28 images, labels i mod 10 (Fashion-MNIST takes a second to load, every call)
DATA=$(tiny_images "$T")
"$CLI" train --model mlp:w=8,d=1 --data "$DATA" --epochs 3 --quiet --out "$T/run" >/dev/null || bad "train"
common=(--run "$T/run" --run "$T/run" --batches 2 --points 6 --sg-batches 3)

"$CLI" probe "${common[@]}" --threads 2 --out "$T/p2" >"$T/p2.out" || bad "probe"
hdr='trial,epoch,lr,loss,grad_norm,dist,inner,cos,nb_mean,nb_min,nb_max,nb_std,nb_hoeffding_lower,nb_clt_lower,sg_mean,sg_min,sg_max,step_bound'
[ "$(head -1 "$T/p2/probe.csv")" = "$hdr" ] && ok "columns" || bad "columns: $(head -1 "$T/p2/probe.csv")"
[ "$(wc -l <"$T/p2/probe.csv")" -eq 7 ] && ok "2 trials x 3 epochs" || bad "rows"
for f in neighbors.npy summary.json manifest.json fig5a.gp fig5a.dat fig5b.gp fig5b.dat fig5c.gp fig5c.dat; do
    [ -s "$T/p2/$f" ] || bad "missing $f"
done
if command -v gnuplot >/dev/null; then
    [ -s "$T/p2/fig5a.png" ] && [ -s "$T/p2/fig5b.svg" ] && [ -s "$T/p2/fig5c.png" ] && ok figures || bad figures
fi
grep -q '"fraction_epochs_neighborhood_min_positive"' "$T/p2/summary.json" &&
    grep -q '"max_step_bound"' "$T/p2/summary.json" && ok "summary claims" || bad "summary claims"
[ ! -e "$T/p2/rows" ] && [ ! -e "$T/p2.partial" ] && ok "no leftovers" || bad "leftovers"
# lr_t from train.csv, step bound = lr_t * sg_max
awk -F, 'NR > 1 && ($3 != 0.10000000000000001 || $18 != $3 * $17) { exit 1 }' "$T/p2/probe.csv" &&
    ok "lr and step bound" || bad "lr and step bound"

"$CLI" probe "${common[@]}" --threads 1 --out "$T/p1" >/dev/null || bad "probe 1 thread"
for f in probe.csv neighbors.npy summary.json fig5a.dat fig5b.dat fig5c.dat; do
    cmp -s "$T/p1/$f" "$T/p2/$f" || bad "threads 1 vs 2: $f differs"
done
ok "threads 1 = threads 2"

# stop after the first finished row, then --resume: the same bytes
stopped() { # SIGNAL NAME
    rm -rf "$T/$2" "$T/$2.partial"
    "$CLI" probe "${one[@]}" --out "$T/$2" >/dev/null 2>"$T/$2.err" &
    stop_when "$1" $! "$T/$2.partial/rows/" '^row_' 2000
    local rc=$?
    if [ -d "$T/$2" ]; then
        echo "skip: the probe finished before SIG$1"
        return
    fi
    [ -d "$T/$2.partial/rows" ] && ok "SIG$1 (exit $rc) keeps $2.partial/rows" || bad "SIG$1: no rows kept"
    "$CLI" probe "${one[@]}" --resume --out "$T/$2" >"$T/$2.out" || bad "resume after SIG$1"
    [ ! -e "$T/$2.partial" ] && [ ! -e "$T/$2/rows" ] && ok "resumed run committed" || bad "resume leftovers"
    for f in probe.csv neighbors.npy summary.json; do
        cmp -s "$T/$2/$f" "$T/full/$f" || bad "resume after SIG$1: $f differs"
    done
    ok "resume after SIG$1: same bytes"
}
one=(--run "$T/run" --batches 2 --points 200 --sg-batches 3 --threads 1)
"$CLI" probe "${one[@]}" --out "$T/full" >/dev/null || bad "full probe"
stopped INT sigint
grep -q -- "--resume" "$T/sigint.err" 2>/dev/null && ok "SIGINT message" || echo "note: $(cat "$T/sigint.err")"
stopped KILL sigkill
err=$("$CLI" probe "${one[@]}" --resume --out "$T/full" 2>&1); rc=$?
[ $rc -ne 0 ] && ok "resume with nothing to continue: $err" || bad "resume without partial"

# --traj: the same trajectory by hand gives the same inner products
"$CLI" probe --traj "$T/run/x" --target "$T/run/x.npy" --model mlp:w=8,d=1 --data "$DATA" \
    --batches 2 --points 6 --sg-batches 3 --threads 1 --out "$T/tr" >/dev/null || bad "traj"
[ "$(cut -d, -f2,4-17 "$T/tr/probe.csv")" = "$(awk -F, '$1 != 1' "$T/p2/probe.csv" | cut -d, -f2,4-17)" ] &&
    ok "--traj = --run" || bad "--traj differs from --run"
awk -F, 'NR > 1 && ($3 != "nan" || $18 != "nan") { exit 1 }' "$T/tr/probe.csv" && ok "traj without --lr: nan" ||
    bad "traj lr"
"$CLI" probe --traj "$T/run/x" --target "$T/run/x.npy" --model mlp:w=8,d=1 --data "$DATA" \
    --batches 2 --points 0 --sg-batches 2 --threads 1 --lr 0.1 --schedule step --out "$T/tr2" >/dev/null || bad "traj --lr"
awk -F, 'NR == 2 && $3 != 0.1 { exit 1 } NR == 3 && $3 != 0.01 { exit 1 } NR == 4 && $3 != 0.001 { exit 1 }' "$T/tr2/probe.csv" &&
    ok "traj --lr --schedule step" || bad "traj step schedule"

# errors: one line naming the file, nonzero exit, nothing written
expect_error() { # WHAT PATTERN ARGS...
    local what=$1 pat=$2
    shift 2
    rm -rf "$T/e" "$T/e.partial"
    err=$("$CLI" probe "$@" --out "$T/e" 2>&1 >/dev/null); rc=$?
    if [ $rc -ne 0 ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && echo "$err" | grep -q -- "$pat" && [ ! -e "$T/e" ] &&
        [ ! -e "$T/e.partial" ]; then ok "$what: $err"; else bad "$what: rc=$rc '$err'"; fi
}
mkdir -p "$T/bad"
cp "$T/run/x/"*.npy "$T/bad/"
tra=(--traj "$T/bad" --target "$T/run/x.npy" --model mlp:w=8,d=1 --data "$DATA" --batches 2 --points 2 --sg-batches 1 --threads 1)
npy 6370 "$T/ok.npy"
"$CLI" probe "${tra[@]}" --out "$T/e0" >/dev/null && ok "hand-made npy accepted" || bad "hand-made npy"
expect_error "missing epoch" "x_0003.npy: missing" "${tra[@]}" --epochs 0:4
expect_error "missing target" "nothere.npy: missing" "${tra[@]}" --target "$T/nothere.npy"
npy 6369 "$T/bad/x_0001.npy"
expect_error "wrong length" "x_0001.npy: 6369 float32 values" "${tra[@]}"
npy 6370 "$T/bad/x_0001.npy" 17
expect_error "NaN weights" "x_0001.npy hold NaN at index 17" "${tra[@]}"
cp "$T/run/x/x_0001.npy" "$T/bad/x_0001.npy"
rm "$T/run/x/x_0002.npy"
expect_error "missing epoch of a run" "x_0002.npy: missing" --run "$T/run" --epochs 0:2 --points 2
expect_error "not a run" "manifest.json" --run "$T/bad"
err=$("$CLI" probe --run "$T/run" --traj "$T/bad" 2>&1); [ $? -eq 2 ] && ok "run and traj: $err" || bad "run+traj"
exit $fail
