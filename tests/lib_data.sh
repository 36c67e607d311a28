# Sourced by the cli_*.sh tests: small data sets in the formats sgdscape reads,
# made with bash alone (no numpy on the test machine is assumed).

# npyhdr DESCR SHAPE: a .npy version 1.0 header (e.g. npyhdr '<f4' '6370,')
npyhdr() {
    local h="{'descr': '$1', 'fortran_order': False, 'shape': ($2), }"
    local pad=$(((64 - (10 + ${#h} + 1) % 64) % 64)) n
    n=$((${#h} + pad + 1))
    printf '\x93NUMPY\x01\x00'
    printf "\\x$(printf %02x $((n % 256)))\\x$(printf %02x $((n / 256)))"
    printf '%s%*s\n' "$h" $pad ''
}

# tiny_images DIR [N]: DIR/X.npy (N random 28x28 uint8 images, default 300) and
# DIR/y.npy (labels i mod 10); prints the --data spec for them.
tiny_images() {
    local n=${2:-300} i
    { npyhdr '|u1' "$n, 28, 28"; head -c $((n * 784)) /dev/urandom; } >"$1/X.npy"
    { npyhdr '|u1' "$n,"; for i in $(seq 0 $((n - 1))); do printf "\\x$(printf %02x $((i % 10)))"; done; } >"$1/y.npy"
    echo "npy:$1/X.npy,$1/y.npy"
}

# stop_when SIG PID DIR REGEX [TRIES]: once a file name in DIR matches REGEX (polled
# every 10 ms, at most TRIES times, default 3000), send SIG to PID; wait for it and
# return its exit status (the resume tests interrupt a run that has kept a part).
stop_when() {
    local sig=$1 pid=$2 dir=$3 re=$4 tries=${5:-3000} i=0
    while [ $i -lt "$tries" ] && ! ls "$dir" 2>/dev/null | grep -q "$re"; do
        sleep 0.01
        i=$((i + 1))
    done
    kill -"$sig" "$pid" 2>/dev/null
    wait "$pid"
}
