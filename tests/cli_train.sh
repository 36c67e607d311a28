#!/bin/bash
# sgdscape model / train / grad end to end on a 2000-image Fashion-MNIST
# subset: the loss falls and accuracy passes a threshold; 1 and 2 threads
# give the same bits; --resume continues bit-identically; bad input gives a
# one-line error, nonzero exit and no output directory.
set -u
CLI="$1"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

# model: acceptance parameter counts
"$CLI" model --spec resnet20 | grep -q "parameters: 272474" && ok resnet20 || bad resnet20
"$CLI" model --spec densenet:depth=100,k=12 --classes 100 | grep -q "parameters: 800032" && ok densenet100 || bad densenet100
"$CLI" model --spec resnet:n=1,w=6 --in 1x28x28 --layout "$T/layout.json" >/dev/null && grep -q '"layer1.0.conv1.weight"' "$T/layout.json" && ok layout || bad layout
err=$("$CLI" model --spec nosuchnet 2>&1); rc=$?
[ $rc -ne 0 ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && ok "unknown spec: $err" || bad "unknown spec rc=$rc"

D=/usr/share/datasets/fashion-mnist
if [ ! -d "$D" ]; then
    echo "Fashion-MNIST not installed at $D (apt install dataset-fashion-mnist)"
    exit 1
fi
common=(--model convnet:w=8 --data fashion-mnist --subset 2000 --val-subset 500 --lr 0.05 --quiet)

# learning: 3 epochs, 2 threads
"$CLI" train "${common[@]}" --epochs 3 --threads 2 --out "$T/a" || bad "train a"
[ -f "$T/a/x.npy" ] && [ -f "$T/a/manifest.json" ] && [ -f "$T/a/checkpoint/state.json" ] && ok "run dir" || bad "run dir"
# train.png: its data are train.csv's rows; the script and (with gnuplot) the images beside them
[ -f "$T/a/train.gp" ] && [ "$(grep -vc '^#' "$T/a/train.dat")" -eq "$(($(wc -l < "$T/a/train.csv") - 1))" ] \
    && [ "$(tr ',' ' ' < "$T/a/train.csv" | tail -n +2)" = "$(grep -v '^#' "$T/a/train.dat")" ] && ok "train.dat" || bad "train.dat"
if command -v gnuplot >/dev/null; then [ -s "$T/a/train.png" ] && [ -s "$T/a/train.svg" ] && ok "train.png" || bad "train.png"; fi
awk -F, 'NR==2{l0=$3} END{l=$3; acc=$6; if (l < 0.8*l0 && acc > 0.4 && $4 > 0.4) {print "loss " l0 " -> " l ", val acc " acc; exit 0} else {print "loss " l0 " -> " l ", val acc " acc; exit 1}}' "$T/a/train.csv" && ok learning || bad learning

# 1 thread, 1 epoch: x after epoch 0 equals run a's x at the start of epoch 1
"$CLI" train "${common[@]}" --epochs 1 --threads 1 --out "$T/b" || bad "train b"
cmp -s "$T/b/x.npy" "$T/a/x/x_0001.npy" && ok "threads 1 == threads 2" || bad "thread determinism"

# resume b to 3 epochs: same bits as the uninterrupted run a
"$CLI" train "${common[@]}" --epochs 3 --threads 2 --resume --out "$T/b" || bad "resume b"
cmp -s "$T/b/x.npy" "$T/a/x.npy" && cmp -s "$T/b/buffers.npy" "$T/a/buffers.npy" && ok "resume bit-identical" || bad "resume"
[ "$(wc -l < "$T/b/train.csv")" -eq 4 ] && ok "csv rows after resume" || bad "csv rows"

# grad at the trained weights, and mismatched weights
"$CLI" grad --model convnet:w=8 --weights "$T/a/x.npy" --subset 2000 --batches 2 --out "$T/g" >/dev/null && [ -f "$T/g/grad.npy" ] && ok grad || bad grad
err=$("$CLI" grad --model convnet:w=4 --weights "$T/a/x.npy" --subset 2000 --out "$T/g2" 2>&1); rc=$?
[ $rc -ne 0 ] && [ ! -e "$T/g2" ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && ok "mismatched weights: $err" || bad "mismatched weights rc=$rc"
err=$("$CLI" train --model convnet:w=4 --init "$T/a/x.npy" --subset 200 --epochs 1 --quiet --out "$T/i" 2>&1); rc=$?
[ $rc -ne 0 ] && [ ! -e "$T/i" ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && echo "$err" | grep -q "parameters" && ok "mismatched --init: $err" || bad "mismatched --init rc=$rc: $err"
err=$("$CLI" train --model bogus:n=1 --subset 100 --out "$T/c" 2>&1); rc=$?
[ $rc -ne 0 ] && [ ! -e "$T/c" ] && ok "bad spec in train: $err" || bad "bad spec in train"

# NaN: an absurd learning rate on an MLP (no BN to tame it)
err=$("$CLI" train --model mlp:w=16,d=1 --subset 500 --val-subset 100 --lr 1e30 --no-momentum --epochs 2 --quiet --out "$T/n" 2>&1); rc=$?
[ $rc -ne 0 ] && echo "$err" | grep -q "epoch 0" && [ -f "$T/n/checkpoint/x_000000.npy" ] && ok "NaN stop: $err" || bad "NaN stop rc=$rc: $err"

exit $fail
