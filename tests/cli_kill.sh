#!/usr/bin/env bash
# kill -9 during `train` (docs/testing.md): whatever moment the process dies at
# (loading data, between epochs, while a checkpoint is being written), `--resume`
# finishes the run with the bytes of an uninterrupted run: x.npy, buffers.npy and
# the timing-free columns of train.csv. The assertions do not depend on timing;
# the moments are spread over the run so that most cases die mid-training.
set -u
SGD=${1:?usage: cli_kill.sh path/to/sgdscape}
tmp=/tmp; [ -d /dev/shm ] && [ -w /dev/shm ] && tmp=/dev/shm
T=$(mktemp -d "$tmp/sgd_kill_XXXXXX")
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
[ -d /usr/share/datasets/fashion-mnist ] || { echo "Fashion-MNIST not installed"; exit 1; }

TR=(train --model convnet:w=4 --data fashion-mnist --subset 2000 --val-subset 200 --epochs 8 --quiet)
csv7() { cut -d, -f1-7 "$1"; }
t0=$(date +%s.%N)
"$SGD" "${TR[@]}" --threads 1 --out "$T/ref" >/dev/null 2>&1 || { echo "reference run failed"; exit 1; }
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
echo "reference run: ${secs}s"

died=0
# Fractions of the reference run's time: the first kill lands while the data loads.
for frac in 0.15 0.35 0.5 0.65 0.8 0.95; do
    d=$(awk -v s="$secs" -v f="$frac" 'BEGIN {printf "%.2f", s * f}')
    out=$T/k$frac
    "$SGD" "${TR[@]}" --threads 2 --out "$out" >/dev/null 2>&1 &
    pid=$!
    sleep "$d"
    kill -9 "$pid" 2>/dev/null && died=$((died + 1))
    wait "$pid" 2>/dev/null
    pid=
    # A new run is built in DIR.partial; --resume wants a checkpoint (none when the
    # process died before its first one: then the run starts over).
    at="no checkpoint yet" res=()
    for st in "$out.partial/checkpoint/state.json" "$out/checkpoint/state.json"; do
        [ -f "$st" ] && { at="checkpoint of epoch $(jq -r .epoch "$st" 2>/dev/null)"; res=(--resume); break; }
    done
    [ -f "$out/x.npy" ] && at="finished"
    if "$SGD" "${TR[@]}" --threads 1 "${res[@]}" --out "$out" >/dev/null 2>"$T/err" && [ ! -e "$out.partial" ] &&
        cmp -s "$out/x.npy" "$T/ref/x.npy" && cmp -s "$out/buffers.npy" "$T/ref/buffers.npy" &&
        [ "$(csv7 "$out/train.csv")" = "$(csv7 "$T/ref/train.csv")" ]; then
        ok
        echo "kill at ${d}s ($at): resume bit-identical"
    else
        bad "kill at ${d}s ($at): resume differs or failed: $(head -c 300 "$T/err")"
    fi
    # The dead process's temporary files are swept by the resume.
    left=$(find "$out" -name '*.tmp.*' 2>/dev/null | head -n 3)
    [ -z "$left" ] && ok || bad "kill at ${d}s: temporary files left after resume: $left"
done
echo "$died of 6 processes killed before they finished; $pass passed, $fail failed"
[ $fail -eq 0 ]
