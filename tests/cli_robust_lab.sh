#!/usr/bin/env bash
# Issue 14 (parts 3 and 4) for the landscape-lab commands: limits on counts,
# threads and work, interrupts, and one-line messages that say what is wrong.
# Every refusal: the exit status, the key words, one line on stderr, and no
# DIR or DIR.partial left behind. Nothing here is timed.
set -u
SGD=${1:?usage: cli_robust_lab.sh path/to/sgdscape}
T=$(mktemp -d /tmp/sgd_robust_XXXXXX)
trap 'rm -rf "$T"' EXIT
export SGD_QUIET=1
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
O=(--out "$T/o")

# expect STATUS PATTERN ARGS...: exit STATUS, one stderr line matching PATTERN, no $T/o(.partial)
expect() {
    local want=$1 pat=$2; shift 2
    rm -rf "$T/o" "$T/o.partial"
    "$SGD" "$@" >"$T/stdout" 2>"$T/stderr"
    local rc=$? lines; lines=$(wc -l <"$T/stderr")
    if [ $rc -eq "$want" ] && [ "$lines" -eq 1 ] && grep -qE -- "$pat" "$T/stderr" && [ ! -e "$T/o" ] &&
        [ ! -e "$T/o.partial" ]; then ok
    else bad "$*: rc=$rc (want $want) lines=$lines stderr=$(cat "$T/stderr")"; fi
}

# --threads: capped for every command (libgomp crashed with 60000)
for cmd in run fig3 smooth check verify bounds; do
    expect 2 "threads: at most 1024" $cmd --threads 100000 "${O[@]}"
done
expect 2 "threads: at most 1024" run --threads 60000 "${O[@]}"
expect 2 "threads: at most 1024" data info fashion-mnist --threads 60000

# counts: one validation for all, work above the limit refused without --force
expect 2 "gradient evaluations.*add --force" run --schedule 'stages:1e12@0.04' "${O[@]}"
expect 1 "stage 1: .*too many" run --schedule 'stages:18446744073709551615@0.01' "${O[@]}"
expect 2 "steps: .*too large" fig3 --steps 18446744073709551615 "${O[@]}"
expect 2 "gradient evaluations.*add --force" fig3 --steps 1e12 "${O[@]}"
expect 2 "gradient evaluations.*add --force" run --steps 100000000000 "${O[@]}"
expect 2 "tol 1e-300 asks for.*add --force" smooth --method mc --tol 1e-300 "${O[@]}"
expect 2 "tol 1e-09 asks for.*add --force" smooth --method mc --interval hoeffding --tol 1e-9 "${O[@]}"
expect 2 "T2 = 100000000000.*add --force" verify --T2 1e11 "${O[@]}"
expect 2 "add --force" check --method mc --samples 1e9 --points 1000 "${O[@]}"
expect 2 "too large" verify --trials 1e300 "${O[@]}"
expect 2 "not a non-negative integer" run --steps 1.5 "${O[@]}"

# a missing value names the option, for every command
for cmd in run fig3 smooth check verify bounds; do
    expect 2 "option --seed needs a value" $cmd --seed
done
expect 2 "option --steps needs a value" run --steps
expect 2 "option --T2 needs a value" verify --T2

# numbers out of double range
expect 2 "eta: '1e-320' is too small: it underflows" run --eta 1e-320 "${O[@]}"
expect 2 "eta: '1e400' is too large" run --eta 1e400 "${O[@]}"
expect 1 "b = eta\^2 r\^2 \(1 \+ eta L\)\^2 underflows" bounds --eta 1e-300 --c 1 --L 1 --r 1
expect 1 "b = .* overflows" bounds --eta 0.1 --c 1 --L 1 --r 1e200
expect 2 "x0: the start is out of range" verify --x0 1e300 "${O[@]}"
expect 2 "start: the start is out of range" verify --start -1e300:1e300 "${O[@]}"
expect 1 "domain is out of range" check --box -1e300:1e300 --points 10 "${O[@]}"

# empty lists
expect 2 "within: empty list" run --within '' "${O[@]}"
expect 2 "x-star: empty list" run --x-star '' "${O[@]}"
expect 2 "levels: empty list" fig3 --levels '' "${O[@]}"

# out of memory names the bytes and the way out
expect 1 "recording 100000001 rows x 100 trials x 1 dims.* GB.*larger --record-every" \
    run --record-every 1 --steps 1e8 "${O[@]}"

# conflicting flags are refused, not last-one-wins
expect 2 "y0-dist or --y0-dist2, not both" bounds --eta 0.1 --c 1 --L 1 --r 1 --y0-dist 2 --y0-dist2 4
expect 2 "thm3 is a statement of its own" bounds --thm3 --x 1 --stages 0.1:1:1
expect 2 "samples or --tol, not both" smooth --samples 100 --tol 0.1 "${O[@]}"
expect 2 "at or --grid/--n, not both" smooth --at 0.5 --grid -1:1 "${O[@]}"
expect 2 "one of --box, --grid and --ball" check --box -1:1 --grid -1:1 "${O[@]}"
expect 2 "one of --box, --grid and --ball" check --ball 1 --box -1:1 "${O[@]}"
expect 2 "x0 or --start, not both" verify --x0 1 --start 0:1 "${O[@]}"

# a staged run names its stages' levels
"$SGD" run --schedule 'stages:50@0.04~-1.5:1.5,50@0.02,50@0.01' --trials 8 --out "$T/st" >"$T/stdout" 2>&1 &&
    grep -q "stage levels 0.04,0.02,0.01" "$T/stdout" && ok || bad "staged summary: $(cat "$T/stdout")"

# --force lets big work through after one line with the estimate (small work: silent)
"$SGD" run --steps 10 --trials 4 --out "$T/f" >/dev/null 2>"$T/stderr" && [ ! -s "$T/stderr" ] && ok ||
    bad "small run not silent: $(cat "$T/stderr")"

# SIGINT / SIGTERM: no DIR.partial, exit 130 / 143, one line
for sig in INT TERM; do
    rm -rf "$T/o" "$T/o.partial"
    "$SGD" run --trials 1000 --steps 1e7 --out "$T/o" >/dev/null 2>"$T/stderr" &
    pid=$!
    for _ in $(seq 100); do [ -e "$T/o.partial" ] && break; sleep 0.05; done
    sleep 0.3
    kill -$sig $pid
    wait $pid
    rc=$?
    want=$([ $sig = INT ] && echo 130 || echo 143)
    if [ $rc -eq "$want" ] && [ "$(wc -l <"$T/stderr")" -eq 1 ] && grep -q "interrupted (SIG$sig)" "$T/stderr" &&
        [ ! -e "$T/o" ] && [ ! -e "$T/o.partial" ]; then ok
    else bad "SIG$sig: rc=$rc stderr=$(cat "$T/stderr") $(ls "$T")"; fi
done

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
