#!/bin/bash
# sgdscape paper5 --preset smoke end to end: every stage runs, the claims
# equal the stages' own summaries, the report embeds the figures; a rerun of a
# finished report does nothing; a run killed with -9 and rerun (one thread
# instead of two) gives the same bytes; bad input leaves no directory.
set -u
CLI="$1"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
    echo "Fashion-MNIST not installed (apt install dataset-fashion-mnist)"
    exit 1
fi

"$CLI" paper5 --preset smoke --threads 2 --quiet --out "$T/a" > "$T/a.out" || bad "smoke run"
[ -f "$T/a/report.html" ] && [ -f "$T/a/claims.csv" ] && [ ! -e "$T/a.partial" ] && ok "report" || bad "report files"
[ "$(tail -n +2 "$T/a/claims.csv" | wc -l)" -eq 10 ] && ok "10 claims" || bad "claims rows: $(wc -l < "$T/a/claims.csv")"
# each claim is the stage's own number (the 5c step bound, the 5.3 fraction, a 5.4 correlation)
num() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(repr(float(d['claims'][sys.argv[2]])))" "$@"; }
col() { awk -F'"' -v n="$1" 'NR==n+1 {split($NF, a, ","); print a[2]}' "$T/a/claims.csv"; }
same() { python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) == float(sys.argv[2]) else 1)" "$1" "$2"; }
same "$(col 4)" "$(num "$T"/a/s51_*/probe/summary.json max_step_bound)" && ok "5c = probe summary" || bad "5c claim"
same "$(col 5)" "$(num "$T"/a/s53_*/summary.json fraction_nonpositive_others)" && ok "5.3 = branch summary" || bad "5.3 claim"
same "$(col 9)" "$(num "$T"/a/s54_*/summary.json spearman_start_dist_init)" && ok "5.4 = spectrum summary" || bad "5.4 claim"
if command -v gnuplot >/dev/null; then
    [ "$(grep -o 'src="data:image/png;base64,' "$T/a/report.html" | wc -l)" -eq 10 ] && ok "10 figures embedded" \
        || bad "figures embedded: $(grep -o 'data:image/png' "$T/a/report.html" | wc -l)"
fi
"$CLI" paper5 --preset smoke --quiet --out "$T/a" | grep -q "is complete" && ok "rerun of a finished report" || bad "rerun"

# killed (-9) part-way, then the same command (one thread): the same bytes
"$CLI" paper5 --preset smoke --threads 1 --quiet --out "$T/b" > /dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do
    [ -e "$T/b.partial/s53_resnet_n1_w4" ] && break
    sleep 0.1
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
[ -d "$T/b.partial" ] && [ ! -e "$T/b" ] && ok "killed run keeps b.partial" || bad "after kill"
"$CLI" paper5 --preset smoke --threads 1 --quiet --out "$T/b" > "$T/b.out" || bad "rerun after kill"
grep -q "found finished" "$T/b.out" && ! grep -q " 0 found finished" "$T/b.out" && ok "finished stages skipped" || bad "skip: $(head -1 "$T/b.out")"
for f in claims.csv s51_resnet_n1_w4_step/probe/probe.csv s51_resnet_n1_w4_step/trial1/x.npy \
         s53_resnet_n1_w4/inner.npy s54_resnet_n1_w4/spectrum.csv; do
    cmp -s "$T/a/$f" "$T/b/$f" && ok "same bytes: $f" || bad "differs after kill/rerun, threads 1 vs 2: $f"
done

# bad input: one line, exit code, no directory
err=$("$CLI" paper5 --preset nosuch --out "$T/c" 2>&1); rc=$?
[ $rc -eq 2 ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && [ ! -e "$T/c" ] && [ ! -e "$T/c.partial" ] && ok "bad preset: $err" || bad "bad preset rc=$rc"
err=$("$CLI" paper5 --preset smoke --data "npy:$T/none.npy,$T/none_y.npy" --out "$T/d" 2>&1); rc=$?
[ $rc -eq 1 ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && [ ! -e "$T/d" ] && [ ! -e "$T/d.partial" ] && ok "bad data: $err" || bad "bad data rc=$rc: $err"
exit $fail
