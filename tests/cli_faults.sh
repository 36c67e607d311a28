#!/usr/bin/env bash
# Write faults (docs/testing.md): the LD_PRELOAD interposer tests/fault/faultwrite.c
# fails the N-th write / rename / fsync / close of a short `train`, a short `run` and
# a short `probe` with ENOSPC or EIO, for every N the command performs. Each time: a non-zero exit
# and one line on stderr naming the file; no temporary file left; every final file
# present is whole (the .npy arrays byte-identical to an unfaulted run's, the JSON
# parses, the CSV rows complete); `run` and `probe` leave neither DIR nor DIR.partial;
# and `train --resume` / a rerun of `run` or `probe` gives the bytes of an
# uninterrupted run.
set -u
SGD=${1:?usage: cli_faults.sh path/to/sgdscape}
FW=${SGD_FAULTWRITE:-$(dirname "$SGD")/faultwrite.so}
[ -f "$FW" ] || { echo "interposer not found: $FW (set SGD_FAULTWRITE)"; exit 1; }
# tmpfs when there is one: every file is fsynced, ~7 ms each on a disk, and this
# runs the commands ~300 times.
tmp=/tmp; [ -d /dev/shm ] && [ -w /dev/shm ] && tmp=/dev/shm
T=$(mktemp -d "$tmp/sgd_faults_XXXXXX")
trap 'rm -rf "$T"' EXIT
# $W: the workspace of one shard of cases (two shards run side by side).
W=$T/main
mkdir -p "$W"
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
# ASan builds: the interposer is preloaded ahead of the sanitizer runtime.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
# No gnuplot (PATH without it): figures are optional, and forks are not counted.
nogp() { PATH=/nonexistent "$@"; }

# faulted N ERRNO ARGS...: run sgdscape with the N-th counted operation failing
# (N = 0: count only; the count goes to $W/log).
faulted() {
    local n=$1 e=$2; shift 2
    rm -f "$W/log"
    LD_PRELOAD=$FW SGD_FAULT_N=$n SGD_FAULT_ERRNO=$e SGD_FAULT_LOG=$W/log nogp "$SGD" "$@"
}
count_of() { awk '$1 == "count" {print $2}' "$W/log"; }
# "OP PATH" of the failed operation, from the log (bash builtins: this runs ~260 times)
fault_of() { local k n op path; while read -r k n op path; do [ "$k" = fault ] && echo "$op $path"; done <"$W/log"; }

# A small Fashion-MNIST in IDX form (200 train, 100 test images): decompressing
# the full set would cost most of each run's time.
D=/usr/share/datasets/fashion-mnist
[ -d "$D" ] || { echo "Fashion-MNIST not installed at $D"; exit 1; }
mkdir -p "$W/fm"
be32() { printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)))"; }
idx() { # idx SRC DST N BYTES_PER_ITEM NDIM: the first N items of SRC
    { be32 $((0x800 + $5)); be32 "$3"; [ "$5" -eq 3 ] && { be32 28; be32 28; }
      gzip -dc "$1" | tail -c +$((5 + 4 * $5)) | head -c $(($3 * $4)); } >"$2"
}
idx "$D/train-images-idx3-ubyte.gz" "$W/fm/train-images-idx3-ubyte" 200 784 3
idx "$D/train-labels-idx1-ubyte.gz" "$W/fm/train-labels-idx1-ubyte" 200 1 1
idx "$D/t10k-images-idx3-ubyte.gz" "$W/fm/t10k-images-idx3-ubyte" 100 784 3
idx "$D/t10k-labels-idx1-ubyte.gz" "$W/fm/t10k-labels-idx1-ubyte" 100 1 1

# check_common NAME RC: non-zero exit, exactly one stderr line naming a path in
# the output directory, no temporary file anywhere under $W/f.
check_common() {
    local name=$1 rc=$2 err
    mapfile -t err <"$W/err"
    if [ "$rc" -eq 0 ]; then bad "$name: exit 0 although a fault fired"; return 1; fi
    if [ ${#err[@]} -ne 1 ] || [[ "${err[0]}" != *"$W/f"* ]]; then
        bad "$name: want one line naming the file, got ${#err[@]}: ${err[*]:0:3}"; return 1
    fi
    local left=("$W"/f/*.tmp* "$W"/f/*/*.tmp* "$W"/f.partial/*.tmp* "$W"/f.partial/*/*.tmp*)
    if [ -e "${left[0]}" ] || [ -e "${left[1]}" ] || [ -e "${left[2]}" ] || [ -e "${left[3]}" ]; then
        bad "$name: temporary files left: ${left[*]}"; return 1
    fi
    return 0
}

# inject WHAT N ARGS...: sgdscape ARGS --out $W/f with its N-th operation failing
# (ENOSPC for odd N, EIO for even); sets the caller's $name; check_common's status.
inject() {
    local what=$1 n=$2 e=ENOSPC rc; shift 2
    [ $((n % 2)) -eq 0 ] && e=EIO
    rm -rf "$W/f" "$W/f.partial"
    faulted "$n" "$e" "$@" --out "$W/f" >/dev/null 2>"$W/err"
    rc=$?
    name="$what ($e, $(fault_of))"
    check_common "$name" $rc
}

# ---- train ------------------------------------------------------------------
TR=(train --model mlp:w=8,d=1 --data "mnist:$W/fm" --epochs 2 --quiet --threads 1)
"$SGD" "${TR[@]}" --out "$T/ref" >/dev/null 2>&1 || bad "train reference"
faulted 0 ENOSPC "${TR[@]}" --out "$T/cnt" >/dev/null 2>&1 || bad "train under the interposer (count only)"
NT=$(count_of)
cmp -s "$T/cnt/x.npy" "$T/ref/x.npy" || bad "interposer changed the output"
[ "${NT:-0}" -gt 20 ] || bad "train: implausible operation count '${NT:-}'"
# The whole-file checks run ~100 times: one md5sum, one stat, one tail and one
# awk per case rather than a process per file. REF_SUM[rel] and REF_SIZE[kind]:
# the reference's arrays (by checkpoint kind, e.g. checkpoint/x, for the size
# of a checkpoint the reference has since replaced).
declare -A REF_SUM REF_SIZE
while read -r sum f; do REF_SUM[${f#"$T/ref/"}]=$sum; done < <(md5sum "$T"/ref/*.npy "$T"/ref/*/*.npy)
while read -r size f; do f=${f#"$T/ref/"}; REF_SIZE[${f%_*}]=$size; done < <(stat -c '%s %n' "$T"/ref/*/*_*.npy)
NCSV=$(wc -l <"$T/ref/train.csv")
# csv_prefix FILE: its rows are complete (9 fields) and, in the 7 columns that do
# not depend on timing, the first rows of the reference's train.csv.
csv_prefix() {
    awk -F, 'NR == FNR {ref[FNR] = $1 FS $2 FS $3 FS $4 FS $5 FS $6 FS $7; nref = FNR; next}
             NF != 9 || FNR > nref || ref[FNR] != $1 FS $2 FS $3 FS $4 FS $5 FS $6 FS $7 {bad = 1}
             END {exit bad}' "$T/ref/train.csv" "$1"
}

train_case() { # train_case N
    local name R whole npys jsons ends sum size f rel res
    inject "train fault $1/$NT" "$1" "${TR[@]}" || return
    # Every file present is whole: an array has the bytes of the reference's file
    # of that name or (a checkpoint the reference has since replaced) its size; a
    # JSON file ends with its closing brace; train.csv's rows are the reference's.
    # A new run is built in DIR.partial (resumable; renamed to DIR at the end).
    R=$W/f; [ -d "$W/f.partial" ] && R=$W/f.partial
    whole=1
    npys=("$R"/*.npy "$R"/*/*.npy)
    while read -r sum f; do
        rel=${f#"$R/"}
        [ -n "${REF_SUM[$rel]:-}" ] || continue
        [ "$sum" = "${REF_SUM[$rel]}" ] || { whole=0; bad "$name: $rel differs"; }
    done < <(md5sum "${npys[@]}" 2>/dev/null)
    while read -r size f; do
        rel=${f#"$R/"}
        [ -z "${REF_SUM[$rel]:-}" ] || continue
        [ "$size" = "${REF_SIZE[${rel%_*}]:-}" ] || { whole=0; bad "$name: $rel incomplete"; }
    done < <(stat -c '%s %n' "${npys[@]}" 2>/dev/null)
    jsons=("$R"/*.json "$R"/*/*.json)
    [ -e "${jsons[-1]}" ] || unset 'jsons[-1]'
    [ -e "${jsons[0]}" ] || unset 'jsons[0]'
    if [ ${#jsons[@]} -gt 0 ]; then
        ends=$(tail -q -c 2 "${jsons[@]}")
        [ "${ends//[$'\n']/}" = "$(printf '}%.0s' "${jsons[@]}")" ] || { whole=0; bad "$name: a JSON file is not whole"; }
    fi
    [ ! -f "$R/train.csv" ] || csv_prefix "$R/train.csv" || { whole=0; bad "$name: train.csv incomplete"; }
    [ $whole -eq 1 ] || return
    # Resumed without faults (started afresh when no checkpoint was written): the
    # uninterrupted run's bytes.
    res=(); [ -f "$R/checkpoint/state.json" ] && res=(--resume)
    if "$SGD" "${TR[@]}" "${res[@]}" --out "$W/f" >/dev/null 2>"$W/err2" && [ ! -e "$W/f.partial" ] &&
        [ "$(md5sum "$W/f/x.npy" "$W/f/buffers.npy" | cut -d' ' -f1 | tr '\n' ' ')" = \
          "${REF_SUM[x.npy]} ${REF_SUM[buffers.npy]} " ] &&
        csv_prefix "$W/f/train.csv" && [ "$(wc -l <"$W/f/train.csv")" = "$NCSV" ]; then ok
    else bad "$name: --resume does not reproduce the uninterrupted run: $(head -c 300 "$W/err2")"; fi
}

# ---- run --------------------------------------------------------------------
RU=(run --f spiky --steps 200 --trials 6 --threads 1 --record-every 50 --seed 3)
"$SGD" "${RU[@]}" --out "$T/rref" >/dev/null 2>&1 || bad "run reference"
faulted 0 ENOSPC "${RU[@]}" --out "$T/cnt2" >/dev/null 2>&1 || bad "run under the interposer (count only)"
NR=$(count_of)
[ "${NR:-0}" -gt 10 ] || bad "run: implausible operation count '${NR:-}'"
# rerun_case N TOTAL REF "FILES" ARGS...: fault N of TOTAL in sgdscape ARGS leaves
# neither DIR nor DIR.partial, and a rerun gives REF's FILES byte for byte.
rerun_case() {
    local n=$1 total=$2 ref=$3 files=$4 name f; shift 4
    inject "$1 fault $n/$total" "$n" "$@" || return
    if [ -e "$W/f" ] || [ -e "$W/f.partial" ]; then bad "$name: left $(ls -d "$W/f"*)"; return; fi
    nogp "$SGD" "$@" --out "$W/f" >/dev/null 2>&1 || { bad "$name: the rerun fails"; return; }
    for f in $files; do cmp -s "$W/f/$f" "$ref/$f" || { bad "$name: the rerun's $f differs"; return; }; done
    ok
}

# ---- probe (of the train reference: its 3 stored epochs) ----------------------
PR=(probe --run "$T/ref" --batches 1 --points 4 --sg-batches 2 --threads 1 --seed 5)
"$SGD" "${PR[@]}" --out "$T/pref" >/dev/null 2>&1 || bad "probe reference"
faulted 0 ENOSPC "${PR[@]}" --out "$T/cnt3" >/dev/null 2>&1 || bad "probe under the interposer (count only)"
NP=$(count_of)
[ "${NP:-0}" -gt 5 ] || bad "probe: implausible operation count '${NP:-}'"
# Every N, in two shards of alternate cases run side by side (the test's wall time
# halves when a core is free); each shard reports its counts in $W/counts.
shard() {
    W=$T/s$1 pass=0 fail=0
    mkdir -p "$W"
    for n in $(seq $((1 + $1)) 2 "${NT:-0}"); do train_case "$n"; done
    for n in $(seq $((1 + $1)) 2 "${NR:-0}"); do
        rerun_case "$n" "$NR" "$T/rref" "trials.csv traj_x.npy histogram.csv" "${RU[@]}"
    done
    for n in $(seq $((1 + $1)) 2 "${NP:-0}"); do
        rerun_case "$n" "$NP" "$T/pref" "probe.csv neighbors.npy" "${PR[@]}"
    done
    echo "$pass $fail" >"$W/counts"; echo "shard $1: $pass passed, $fail failed"
}
shard 0 &
shard 1 &
wait
for k in 0 1; do
    read -r p f <"$T/s$k/counts" || { bad "shard $k died"; continue; }
    pass=$((pass + p)) fail=$((fail + f))
done
W=$T/main

# A full disk that stays full: the first failing write is reported, nothing is left.
rm -rf "$W/f"
LD_PRELOAD=$FW SGD_FAULT_N=3 SGD_FAULT_STICKY=1 nogp "$SGD" "${RU[@]}" --out "$W/f" >/dev/null 2>"$W/err"
rc=$?
{ [ $rc -ne 0 ] && [ "$(wc -l <"$W/err")" -eq 1 ] && [ ! -e "$W/f" ] && [ ! -e "$W/f.partial" ]; } && ok ||
    bad "sticky ENOSPC: rc=$rc $(head -c 300 "$W/err")"

echo "train: $NT operations, run: $NR, probe: $NP; $pass passed, $fail failed"
[ $fail -eq 0 ]
