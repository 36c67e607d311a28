#!/bin/bash
# Robustness of the network commands (data, model, train, grad): out of
# memory, class counts, damaged test splits and .gz files, non-finite weights,
# --resume without or with a damaged checkpoint, conflicting flags, and no
# partial output after a failure. Each case checks the exit status, the key
# words of the one-line message and that no DIR / DIR.partial is left. The
# data are a few tiny .npy / IDX / CIFAR files made here with printf.
set -u
CLI=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

# expect NAME RC KEYWORDS... -- COMMAND...: exit status RC, one line on stderr
# holding every keyword, nothing on stdout, and no out/ or out.partial left.
expect() {
    local name=$1 want=$2
    shift 2
    local keys=()
    while [ "$1" != "--" ]; do keys+=("$1"); shift; done
    shift
    rm -rf out out.partial
    "$@" >stdout 2>stderr
    local rc=$? why=
    [ "$rc" -eq "$want" ] || why="exit $rc, want $want"
    [ "$(wc -l <stderr)" -eq 1 ] || why="$why; stderr has $(wc -l <stderr) lines"
    [ -s stdout ] && why="$why; stdout not empty"
    for k in "${keys[@]}"; do grep -qF -- "$k" stderr || why="$why; no '$k'"; done
    [ -e out ] || [ -e out.partial ] && why="$why; output left behind"
    [ -z "$why" ] && ok "$name: $(cat stderr)" || bad "$name: $why: $(cat stderr)"
}

# npy FILE DESCR SHAPE: a .npy header (version 1.0, padded to 64 bytes); the
# caller appends the data.
npy() {
    local h="{'descr': '$2', 'fortran_order': False, 'shape': $3, }"
    local pad=$(( (64 - (${#h} + 11) % 64) % 64 )) hl
    hl=$(( ${#h} + pad + 1 ))
    { printf '\x93NUMPY\x01\x00'; printf "\\x$(printf %02x $((hl % 256)))\\x$(printf %02x $((hl / 256)))"
      printf '%s' "$h"; printf "%${pad}s\n" ''; } >"$1"
}
labels() { # FILE MOD: 40 uint8 labels i % MOD
    npy "$1" '|u1' '(40,)'
    for i in $(seq 40); do printf "\\x0$((i % $2))"; done >>"$1"
}
npy X.npy '|u1' '(40, 8, 8)'; head -c 2560 /dev/urandom >>X.npy
labels y.npy 4
labels y3.npy 3
labels y1.npy 1
npy ybig.npy '<i4' '(2,)'; printf '\x01\x00\x00\x00\xfe\xff\xff\x7f' >>ybig.npy
npy Xbig.npy '|u1' '(2, 8, 8)'; head -c 128 /dev/zero >>Xbig.npy
M=(--model mlp:w=4,d=1 --batch 8 --quiet)
NPY=npy:X.npy,y.npy,X.npy,y.npy

# A finished 2-epoch run to resume, damage and take weights from.
"$CLI" train "${M[@]}" --data $NPY --epochs 2 --out good >/dev/null && [ -f good/x.npy ] &&
    [ ! -e good.partial ] && grep -q '"crc32"' good/checkpoint/state.json && ok "reference run" || bad "reference run"
"$CLI" train "${M[@]}" --data $NPY --epochs 3 --out ref >/dev/null || bad "reference run, 3 epochs"

# ---- out of memory -------------------------------------------------------
expect "absurd label" 1 ybig.npy 2147483646 classes -- "$CLI" data info npy:Xbig.npy,ybig.npy
if ldd "$CLI" 2>/dev/null | grep -q asan; then
    echo "skip: address-space limits under ASan"
else
    expect "train batch OOM" 1 "out of memory" "input batch" bytes "--batch" -- \
        bash -c 'ulimit -v 2000000; exec "$@"' _ "$CLI" train "${M[@]}" --data $NPY --batch 100000000 --out out
    [ ! -e out/checkpoint ] && [ ! -e out/x ] || bad "train OOM left folders"
    expect "network OOM" 1 "network: out of memory" activations bytes "batch of 20000" -- \
        bash -c 'ulimit -v 700000; "$@" >/dev/null' _ "$CLI" model --spec convnet:w=64 --in 1x8x8 --bench 1 \
        --batch 20000 --threads 1
fi

# ---- classes -------------------------------------------------------------
expect "model --classes 0" 2 "--classes 0" "at least 2" -- "$CLI" model --spec mlp --classes 0
expect "one-class labels" 1 "labels in y1.npy" "only one class (0)" -- \
    "$CLI" train "${M[@]}" --data npy:X.npy,y1.npy --epochs 1 --out out
expect "grad: weights for other classes" 1 "280 parameters" "3 classes needs 275" "--classes" -- \
    "$CLI" grad --model mlp:w=4,d=1 --weights good/x.npy --data npy:X.npy,y3.npy --batch 8 --out out
"$CLI" grad --model mlp:w=4,d=1 --weights good/x.npy --data npy:X.npy,y3.npy --batch 8 --classes 4 \
    --out g >/dev/null && [ -f g/grad.npy ] && ok "grad --classes 4" || bad "grad --classes 4"

# ---- a damaged test split --------------------------------------------------
mkdir c10
for k in 1 2 3 4 5; do { printf '\x03'; head -c 3072 /dev/urandom; } >c10/data_batch_$k.bin; done
{ printf '\x01'; head -c 3000 /dev/urandom; } >c10/test_batch.bin
expect "truncated test_batch.bin" 1 test_batch.bin "not a positive multiple" -- \
    "$CLI" train "${M[@]}" --data cifar10:c10 --epochs 1 --out out
expect "bad third npy file" 1 "y1.npy" "images shape" -- \
    "$CLI" train "${M[@]}" --data npy:X.npy,y.npy,y1.npy,y.npy --epochs 1 --out out
expect "missing third npy file" 1 "nothere.npy" -- \
    "$CLI" train "${M[@]}" --data npy:X.npy,y.npy,nothere.npy,y.npy --epochs 1 --out out

# ---- a .gz without its trailer --------------------------------------------
mkdir ix
{ printf '\x00\x00\x08\x03\x00\x00\x00\x04\x00\x00\x00\x08\x00\x00\x00\x08'; head -c 256 /dev/urandom; } |
    gzip -c >ix/train-images-idx3-ubyte.gz
printf '\x00\x00\x08\x01\x00\x00\x00\x04\x00\x01\x02\x03' | gzip -c >ix/train-labels-idx1-ubyte.gz
"$CLI" data info --split train mnist:ix >/dev/null && ok "whole .gz" || bad "whole .gz"
for cut in 8 1; do
    head -c $(( $(stat -c %s ix/train-images-idx3-ubyte.gz) - cut )) ix/train-images-idx3-ubyte.gz >cut.gz
    mkdir -p "ix$cut"; mv cut.gz "ix$cut/train-images-idx3-ubyte.gz"; cp ix/train-labels-idx1-ubyte.gz "ix$cut/"
    expect ".gz cut by $cut bytes" 1 "ix$cut/train-images-idx3-ubyte.gz" "truncated gzip" -- \
        "$CLI" data info --split train "mnist:ix$cut"
done

# ---- non-finite weights ------------------------------------------------------
# fill SRC DST BYTES: SRC's .npy header, every float32 set to the 4 BYTES
fill() {
    local h=$(( 10 + $(od -An -tu2 -j8 -N2 "$1") )) n
    n=$(( ($(stat -c %s "$1") - h) / 4 ))
    { head -c $h "$1"; for _ in $(seq $n); do printf "$3"; done; } >"$2"
}
fill good/x.npy big.npy '\xca\xf2\x49\x71'   # 1e30
fill good/x.npy nan.npy '\x00\x00\xc0\x7f'
expect "grad at 1e30" 1 "not finite" "overflow" "|x|max = 1e+30" "batch 0" -- \
    "$CLI" grad --model mlp:w=4,d=1 --weights big.npy --data $NPY --batch 8 --out out
expect "grad at NaN" 1 "--weights nan.npy hold NaN at index 0" "tensor fc1.weight" -- \
    "$CLI" grad --model mlp:w=4,d=1 --weights nan.npy --data $NPY --batch 8 --out out
expect "train --init NaN" 1 "--init nan.npy hold NaN" -- \
    "$CLI" train "${M[@]}" --data $NPY --init nan.npy --epochs 1 --out out
# divergence: same message style, and the checkpoint of that epoch stays in DIR
rm -rf div
"$CLI" train "${M[@]}" --data $NPY --init big.npy --epochs 1 --out div 2>stderr >/dev/null
rc=$?
[ $rc -eq 1 ] && grep -q "the loss is NaN at epoch 0 step 0 (overflow" stderr && [ -f div/checkpoint/state.json ] &&
    [ ! -e div.partial ] && ok "train divergence: $(cat stderr)" || bad "train divergence rc=$rc: $(cat stderr)"

# ---- --resume ----------------------------------------------------------------
mkdir empty
expect "resume into an empty dir" 1 "--resume: no checkpoint in empty" -- \
    "$CLI" train "${M[@]}" --data $NPY --resume --out empty
[ -z "$(ls -A empty)" ] && [ ! -e empty.partial ] || bad "resume into an empty dir wrote something"
expect "resume into a missing dir" 1 "--resume: no checkpoint in out" -- \
    "$CLI" train "${M[@]}" --data $NPY --resume --out out
cp -r good c1
printf '\x01' | dd of=c1/checkpoint/x_000002.npy bs=1 seek=200 conv=notrunc 2>/dev/null
cp -r c1 c1.before
expect "resume, corrupt byte" 1 "c1 is damaged" x_000002.npy "CRC32" "refusing" -- \
    "$CLI" train "${M[@]}" --data $NPY --epochs 3 --resume --out c1
diff -r c1 c1.before >/dev/null && ok "corrupt checkpoint left untouched" || bad "corrupt checkpoint changed"
cp -r good c2
truncate -s 1000 c2/checkpoint/momentum_000002.npy
expect "resume, truncated file" 1 "c2 is damaged" momentum_000002.npy "truncated (1000 bytes" -- \
    "$CLI" train "${M[@]}" --data $NPY --epochs 3 --resume --out c2
cp -r good c3
head -c 20 good/checkpoint/state.json >c3/checkpoint/state.json
expect "resume, cut state.json" 1 "state.json" "refusing" -- \
    "$CLI" train "${M[@]}" --data $NPY --epochs 3 --resume --out c3
# a killed new run lives in DIR.partial: --resume continues it and renames it
cp -r good k.partial
"$CLI" train "${M[@]}" --data $NPY --epochs 3 --resume --out k >/dev/null && [ ! -e k.partial ] &&
    cmp -s k/x.npy ref/x.npy && ok "resume from DIR.partial bit-identical" || bad "resume from DIR.partial"

# ---- conflicting flags ---------------------------------------------------------
expect "--no-momentum --momentum" 2 "--no-momentum and --momentum" -- \
    "$CLI" train "${M[@]}" --data $NPY --no-momentum --momentum 0.5 --out out
expect "--flip --no-flip" 2 "--flip and --no-flip" -- "$CLI" train "${M[@]}" --data $NPY --flip --no-flip --out out
expect "--wd --no-wd" 2 "--wd and --no-wd" -- "$CLI" train "${M[@]}" --data $NPY --wd 0.1 --no-wd --out out
expect "train --spec --model" 2 "--model and --spec" -- "$CLI" train "${M[@]}" --spec convnet --data $NPY --out out
expect "grad --spec --model" 2 "--spec and --model" -- \
    "$CLI" grad --spec mlp --model convnet --weights good/x.npy --data $NPY --out out
expect "model --spec --model" 2 "--spec and --model" -- "$CLI" model --spec mlp --model convnet
expect "duplicate spec key" 1 "model spec: key 'n' given twice" -- "$CLI" model --spec resnet:n=1,w=4,n=2

exit $fail
