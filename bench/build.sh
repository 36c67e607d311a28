# Sourced by the benchmarks: bench_build SCRIPT TARGET BINARY builds TARGET
# in $BENCH_BUILD (default build/, configured as Release if it is not yet)
# and sets BUILD and BIN (= BUILD/BINARY). When the build fails (the tree may
# be mid-change) it says so and goes on with an existing binary, or exits.
bench_build() {
    local name=$1 target=$2 log
    BUILD=${BENCH_BUILD:-build}
    BIN=$BUILD/$3
    [ -f "$BUILD/CMakeCache.txt" ] || cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    log=$(mktemp)
    if ! cmake --build "$BUILD" --target "$target" -j2 >"$log" 2>&1; then
        echo "$name: cannot build $target (the tree may be mid-change):" >&2
        tail -20 "$log" >&2
        rm -f "$log"
        [ -x "$BIN" ] || exit 1
        echo "$name: going on with the existing $BIN from $(date -r "$BIN" '+%F %T')" >&2
    fi
    rm -f "$log"
}
