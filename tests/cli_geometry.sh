#!/bin/bash
# sgdscape interp, surface and pca end to end on a tiny train run (a BN
# convnet on 200 random 12x12 images, 3 epochs): the files; interp at alpha
# 0 and 1 and the surface at (0, 0) equal `sgdscape grad` at A, B and X;
# the PCA ratios sum to 1 and x_T sits at the origin; 1 and 2 threads (and,
# with MPI, 1 and 2 ranks) give the same bytes; a surface or interp stopped
# (SIGINT) or killed (-9) resumes to the same bytes, and a --resume with other
# options or with nothing to resume is refused; bad input leaves no directory
# and gives one line and a nonzero exit.
set -u
CLI="$1"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }
export SGD_QUIET=1

. "$(dirname "$0")/lib_data.sh" # npyhdr, stop_when
images() { # N NAME: N random 12x12 images and labels i mod 4
    { npyhdr '|u1' "$1, 12, 12"; head -c $(($1 * 144)) /dev/urandom; } >"$T/X$2.npy"
    { npyhdr '|u1' "$1,"; for i in $(seq 0 $(($1 - 1))); do printf "\\x$(printf %02x $((i % 4)))"; done; } >"$T/y$2.npy"
}
images 200 ""
images 64 t
DATA="npy:$T/X.npy,$T/y.npy,$T/Xt.npy,$T/yt.npy"
M=convnet:w=2
"$CLI" train --model $M --data "$DATA" --epochs 3 --batch 32 --quiet --threads 1 --out "$T/run" >/dev/null || bad "train"
nofig() { PATH=/nonexistent "$CLI" "$@"; }
# f as `sgdscape grad` computes it (the run's batch and normalisation, seed 1)
gradloss() {
    "$CLI" grad --model $M --data "$DATA" --weights "$1" --batch 32 --batches 2 --threads 1 --out "$T/g" >/dev/null &&
        /usr/bin/python3 -c "import json; print(repr(json.load(open('$T/g/summary.json'))['loss']))"
}
py() { /usr/bin/python3 -c "$1"; }

# ---- interp -----------------------------------------------------------------------
"$CLI" interp --run "$T/run" --alpha -0.5:1.5:9 --batches 2 --threads 2 --out "$T/i2" >"$T/i2.out" || bad "interp"
[ "$(head -1 "$T/i2/interp.csv")" = "alpha,train_loss,train_acc,val_loss,val_acc" ] && [ "$(wc -l <"$T/i2/interp.csv")" = 10 ] &&
    ok "interp columns and rows" || bad "interp.csv: $(head -2 "$T/i2/interp.csv")"
for f in interp.npy interp.dat interp.gp summary.json manifest.json; do [ -s "$T/i2/$f" ] || bad "missing interp/$f"; done
command -v gnuplot >/dev/null && { [ -s "$T/i2/interp.png" ] && [ -s "$T/i2/interp.svg" ] && ok "interp figure" || bad "interp figure"; }
fa=$(gradloss "$T/run/x/x_0000.npy") fb=$(gradloss "$T/run/x.npy")
py "
import csv, json
rows = {float(r['alpha']): r for r in csv.DictReader(open('$T/i2/interp.csv'))}
# bit for bit: grad computes the normalisation from the data, interp reads it from the run's
# manifest.json, whose numbers print with every digit needed to read back exactly (src/io/json.c)
close = lambda a, b: a == b
assert close(float(rows[0.0]['train_loss']), $fa), (rows[0.0]['train_loss'], $fa)
assert close(float(rows[1.0]['train_loss']), $fb), (rows[1.0]['train_loss'], $fb)
assert all(r['val_loss'] != 'nan' for r in rows.values())
s = json.load(open('$T/i2/summary.json'))['train_loss']
top = max(float(r['train_loss']) for a, r in rows.items() if 0 <= a <= 1)
assert s['barrier'] == top - max(float(rows[0.0]['train_loss']), float(rows[1.0]['train_loss'])), (s, top)
" && ok "interp at 0 and 1 = grad at x_0 and x_T; barrier by its definition" || bad "interp values"
nofig interp --run "$T/run" --alpha -0.5:1.5:9 --batches 2 --threads 1 --out "$T/i1" >/dev/null || bad "interp 1 thread"
same() { # A B FILES...: the same bytes
    local a=$1 b=$2 f
    shift 2
    for f in "$@"; do cmp -s "$a/$f" "$b/$f" || { echo "  $f differs"; return 1; }; done
}
IF=(interp.csv interp.npy interp.dat interp.gp)
same "$T/i1" "$T/i2" "${IF[@]}" && ok "interp: threads 1 = threads 2" || bad "interp threads 1 vs 2"
# BN modes: eval with the run's buffers, recomputed statistics
nofig interp --run "$T/run" --alpha 0:1:3 --batches 2 --bn eval --threads 1 --out "$T/ie" >/dev/null &&
    nofig interp --run "$T/run" --alpha 0:1:3 --batches 2 --bn-recompute --bn-batches 3 --threads 1 --out "$T/ir" >/dev/null &&
    ! cmp -s "$T/ie/interp.csv" "$T/ir/interp.csv" && grep -q recomputed "$T/ir/manifest.json" && ok "bn eval, recompute" ||
    bad "bn modes"

# ---- surface ----------------------------------------------------------------------
"$CLI" surface --run "$T/run" --alpha -1:1:5 --beta -0.5:0.5:3 --batches 2 --threads 2 --out "$T/s2" >/dev/null ||
    bad "surface"
for f in surface.npy surface.csv surface.dat directions.npy trajectory.csv trajectory.dat summary.json manifest.json \
    surface_contour.gp surface_3d.gp; do [ -s "$T/s2/$f" ] || bad "missing surface/$f"; done
command -v gnuplot >/dev/null && { [ -s "$T/s2/surface_contour.png" ] && [ -s "$T/s2/surface_3d.svg" ] && ok "surface figures" || bad "surface figures"; }
fx=$(gradloss "$T/run/x.npy")
py "
import json, csv
s = json.load(open('$T/s2/summary.json'))
close = lambda a, b: a == b # as for interp above
assert close(s['center_loss'], $fx), (s['center_loss'], $fx)
rows = list(csv.DictReader(open('$T/s2/surface.csv')))
assert len(rows) == 15
c = [r for r in rows if float(r['alpha']) == 0 and float(r['beta']) == 0][0]
assert close(float(c['train_loss']), $fx)
t = list(csv.DictReader(open('$T/s2/trajectory.csv')))
assert [r['epoch'] for r in t] == ['0', '1', '2', '-1'] and float(t[-1]['alpha']) == 0
" && ok "surface at (0, 0) = grad at x_T; trajectory rows" || bad "surface values"
grep -q "'<f8', 'fortran_order': False, 'shape': (5, 3, 2)" "$T/s2/surface.npy" && ok "surface.npy 5 x 3 x 2" || bad "surface.npy shape"
nofig surface --run "$T/run" --alpha -1:1:5 --beta -0.5:0.5:3 --batches 2 --threads 1 --out "$T/s1" >/dev/null || bad "surface 1"
SF=(surface.npy surface.csv surface.dat directions.npy trajectory.csv surface_contour.gp surface_3d.gp)
same "$T/s1" "$T/s2" "${SF[@]}" && ok "surface: threads 1 = threads 2" || bad "surface threads 1 vs 2"

# ---- pca --------------------------------------------------------------------------
"$CLI" pca "$T/run" --threads 1 --out "$T/p" >/dev/null || bad "pca"
py "
import csv
r = list(csv.DictReader(open('$T/p/pca.csv')))
assert len(r) == 3 and abs(float(r[-1]['cumulative']) - 1) < 1e-12
assert float(r[0]['ratio']) >= float(r[1]['ratio']) >= float(r[2]['ratio']) > 0
p = list(csv.DictReader(open('$T/p/path.csv')))
assert len(p) == 4 and p[-1] == {'epoch': '-1', 'pc1': '0', 'pc2': '0'}
" && ok "pca: ratios, path" || bad "pca values"
# the PCA directions as files: the same plane as --dirs pca
nofig surface --run "$T/run" --dirs pca --alpha -1:1:3 --beta -1:1:3 --batches 2 --threads 1 --out "$T/sp" >/dev/null &&
    cmp -s "$T/sp/directions.npy" "$T/p/directions.npy" && ok "surface --dirs pca = pca's directions" || bad "--dirs pca"

# ---- MPI: 2 ranks, the same bytes -------------------------------------------------
if command -v mpirun >/dev/null && ldd "$CLI" 2>/dev/null | grep -q libmpi; then
    MPI=(mpirun -q --oversubscribe --allow-run-as-root -np 2)
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" PATH=/nonexistent:$PATH "${MPI[@]}" "$CLI" interp \
        --run "$T/run" --alpha -0.5:1.5:9 --batches 2 --threads 1 --out "$T/im" >/dev/null 2>"$T/im.err" &&
        same "$T/i1" "$T/im" "${IF[@]}" && ok "interp: np 2 = one process" || bad "interp np 2: $(head -2 "$T/im.err")"
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "${MPI[@]}" "$CLI" surface --run "$T/run" \
        --alpha -1:1:5 --beta -0.5:0.5:3 --batches 2 --threads 1 --out "$T/sm" >/dev/null 2>"$T/sm.err" &&
        same "$T/s1" "$T/sm" "${SF[@]}" && ok "surface: np 2 = one process" || bad "surface np 2: $(head -2 "$T/sm.err")"
else
    echo "skip: no mpirun or no MPI in $CLI"
fi

# ---- stopped (SIGINT) or killed (-9), then --resume: the same bytes ----------------
# resumed SIG NAME FULL SUB 'OPT VALUE' CMD ARGS...: CMD stopped by SIG once it has
# kept a part in NAME.partial/SUB, a --resume with OPT VALUE refused (naming OPT),
# then --resume: every file of the uninterrupted run FULL the same bytes (summary.json
# but its seconds), manifest.json's resumed_SUB the parts that were kept
resumed() {
    local sig=$1 name=$2 full=$3 sub=$4 other=$5 cmd=$6 f rc n
    shift 6
    rm -rf "$T/$name" "$T/$name.partial"
    PATH=/nonexistent "$CLI" "$cmd" "$@" --out "$T/$name" >/dev/null 2>"$T/$name.err1" &
    stop_when "$sig" $! "$T/$name.partial/$sub/" '\.bin$'
    rc=$?
    if [ -d "$T/$name" ]; then
        echo "skip: $cmd finished before SIG$sig (no resume to test)"
        return
    fi
    n=$(ls "$T/$name.partial/$sub" 2>/dev/null | grep -c '\.bin$')
    [ "$n" -gt 0 ] && ok "$cmd SIG$sig (exit $rc) keeps $n parts in $name.partial/$sub" || { bad "$cmd SIG$sig: none kept"; return; }
    # shellcheck disable=SC2086 # OPT VALUE: two words
    err=$("$CLI" "$cmd" "$@" $other --resume --out "$T/$name" 2>&1 >/dev/null)
    [ $? -ne 0 ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && echo "$err" | grep -q -- "(${other%% *}: " && [ -d "$T/$name.partial" ] &&
        ok "$cmd --resume with $other refused: $err" || bad "$cmd --resume with $other: '$err'"
    PATH=/nonexistent "$CLI" "$cmd" "$@" --resume --out "$T/$name" >/dev/null 2>"$T/$name.err" ||
        { bad "$cmd --resume after SIG$sig: $(cat "$T/$name.err")"; return; }
    [ ! -e "$T/$name.partial" ] && [ ! -e "$T/$name/$sub" ] && ok "$cmd: resumed run committed" || bad "$cmd resume leftovers"
    for f in $(ls "$T/$full"); do
        case $f in summary.json | manifest.json) ;; *) cmp -s "$T/$full/$f" "$T/$name/$f" || bad "$cmd resume after SIG$sig: $f differs" ;; esac
    done
    py "
import json
a, b = (json.load(open(d + '/summary.json')) for d in ('$T/$full', '$T/$name'))
a.pop('seconds', None); b.pop('seconds', None)
assert a == b, (a, b)
m = json.load(open('$T/$name/manifest.json'))
assert m['resumed_$sub'] == $n, m['resumed_$sub']
" && ok "$cmd resume after SIG$sig: every file the same ($(ls "$T/$full" | wc -l) files)" || bad "$cmd resume summary"
}
SARGS=(--run "$T/run" --alpha -1:1:21 --beta -1:1:21 --batches 2 --threads 1)
nofig surface "${SARGS[@]}" --out "$T/sfull" >/dev/null || bad "surface 21 x 21"
resumed KILL skill sfull points "--alpha -1:1:3" surface "${SARGS[@]}"
resumed INT sint sfull points "--beta 0:1:3" surface "${SARGS[@]}"
[ ! -e "$T/sint.err1" ] || grep -q "continue with --resume" "$T/sint.err1" && ok "SIGINT message" ||
    bad "SIGINT message: $(cat "$T/sint.err1")"
IARGS=(--run "$T/run" --alpha -0.5:1.5:201 --batches 2 --threads 1)
nofig interp "${IARGS[@]}" --out "$T/ifull" >/dev/null || bad "interp 201"
resumed KILL ikill ifull points "--batches 3" interp "${IARGS[@]}"
# hessian: the Hutchinson samples and SLQ runs kept; the eigenvalue Lanczos starts over
HARGS=("$T/run" --top 2 --trace 150 --density 15 --density-steps 20 --batches 2 --threads 1)
nofig hessian "${HARGS[@]}" --out "$T/hfull" >/dev/null || bad "hessian"
resumed KILL hkill hfull parts "--trace 149" hessian "${HARGS[@]}"
err=$("$CLI" surface "${SARGS[@]}" --resume --out "$T/sfull" 2>&1 >/dev/null)
[ $? -eq 1 ] && echo "$err" | grep -q "holds no surface to continue" && [ ! -e "$T/sfull.partial" ] &&
    ok "--resume with nothing to continue: $err" || bad "--resume without DIR.partial: '$err'"

# ---- errors: one line, nonzero exit, nothing written ------------------------------
expect_error() { # WHAT CODE PATTERN ARGS...
    local what=$1 code=$2 pat=$3
    shift 3
    rm -rf "$T/e" "$T/e.partial"
    err=$("$CLI" "$@" --threads 1 --out "$T/e" 2>&1 >/dev/null); rc=$?
    if [ $rc -eq "$code" ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && echo "$err" | grep -q -- "$pat" && [ ! -e "$T/e" ] &&
        [ ! -e "$T/e.partial" ]; then ok "$what: $err"; else bad "$what: rc=$rc '$err'"; fi
}
expect_error "interp: no run" 1 "nothere: not a directory" interp --run "$T/nothere"
expect_error "interp: no operands" 2 "give --run" interp --model $M
expect_error "interp: one operand" 2 "two weight files" interp --run "$T/run" "$T/run/x.npy"
expect_error "interp: bad alpha" 2 "--alpha '1:0:5'" interp --run "$T/run" --alpha 1:0:5
expect_error "interp: bad bn" 2 "--bn 'foo'" interp --run "$T/run" --bn foo
expect_error "interp: wrong weights" 1 "X.npy" interp --model $M --data "$DATA" --batches 1 "$T/X.npy" "$T/run/x.npy"
expect_error "interp: eval without buffers" 1 "--buffers" interp --model $M --data "$DATA" --bn eval --batches 1 \
    "$T/run/x.npy" "$T/run/x/x_0000.npy"
expect_error "interp: run and model" 1 "leave them out" interp --run "$T/run" --model $M
expect_error "interp: too many batches" 1 "--batches 99" interp --run "$T/run" --batches 99
expect_error "surface: bad dirs" 2 "--dirs 'a.npy'" surface --run "$T/run" --dirs a.npy
expect_error "surface: pca without run" 2 "needs --run" surface --model $M "$T/run/x.npy" --dirs pca
expect_error "surface: missing dir file" 1 "nothere.npy" surface --run "$T/run" --batches 2 --dirs "$T/nothere.npy,$T/run/x.npy"
expect_error "surface: unknown option" 2 "unknown option" surface --run "$T/run" --bogus
cp -r "$T/run" "$T/r2" && rm "$T/r2/x/x_0001.npy" "$T/r2/x/x_0002.npy" "$T/r2/x/x_0000.npy"
expect_error "pca: no stored epochs" 1 "no x_EEEE.npy" pca "$T/r2"
expect_error "pca: no run" 2 "one train run" pca
exit $fail
