#!/usr/bin/env bash
# Install into a temporary prefix and build a program against the library
# with pkg-config: the installed headers, library and sgdscape.pc work. Then
# every ```c block of README.md and docs/*.md is compiled against them and
# run: the documentation's code works as written. A block without main() is
# a fragment: its #include lines go first and the rest becomes main's body.
set -u
T=$(mktemp -d /tmp/sgd_install_XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
cmake --install "$SGD_BUILD_DIR" --prefix "$T/prefix" >/dev/null 2>&1 && ok || bad "cmake --install"
pc=$(find "$T/prefix" -name sgdscape.pc | head -1)
[ -n "$pc" ] && ok || bad "no sgdscape.pc installed"
cat > "$T/use.c" <<'C'
#include <sgdscape/optim.h>
#include <stdio.h>
int main(void)
{
    sgd_landscape *f = sgd_landscape_create("quadratic:a=2", 1);
    double x = 3, g;
    double v = f->fg(f, &x, &g);
    sgd_landscape_free(f);
    printf("%g %g\n", v, g);
    return !(v == 9 && g == 6);
}
C
export PKG_CONFIG_PATH=$(dirname "$pc")
libdir=$(pkg-config --variable=libdir sgdscape)
cc "$T/use.c" $(pkg-config --cflags --libs sgdscape) -Wl,-rpath,"$libdir" -o "$T/use" 2>"$T/cc.err" && ok || bad "compile against installed library: $(head -3 "$T/cc.err")"
# An ASan build of the library needs its runtime; it need not come first here.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
[ -x "$T/use" ] && "$T/use" >/dev/null && ok || bad "program against installed library"
[ -x "$T/prefix/bin/sgdscape" ] && "$T/prefix/bin/sgdscape" --version >/dev/null && ok || bad "installed CLI"

# The documentation's C blocks (the sanitizer build's library needs its runtime).
san=""
grep -q '^SGD_SANITIZE:BOOL=ON' "$SGD_BUILD_DIR/CMakeCache.txt" 2>/dev/null && san="-fsanitize=address,undefined"
nsnip=0
for md in "$SGD_SOURCE_DIR"/README.md "$SGD_SOURCE_DIR"/docs/*.md; do
    awk -v out="$T/snip_$(basename "$md" .md)_" '
        /^```c[[:space:]]*$/ { n++; f = out n ".txt"; inside = 1; line0 = NR; print "// " FILENAME ":" NR + 1 > f; next }
        /^```/ && inside { inside = 0; close(f); next }
        inside { print > f }' "$md"
done
for f in "$T"/snip_*.txt; do
    [ -e "$f" ] || continue
    nsnip=$((nsnip + 1))
    where=$(head -1 "$f" | cut -c4-)
    c="${f%.txt}.c"
    if grep -q 'main(' "$f"; then cp "$f" "$c"
    else
        { grep '^#include' "$f"; echo "int main(void) {"; grep -v '^#include' "$f"; echo "return 0; }"; } > "$c"
    fi
    if cc -std=c11 -Wall -Wextra -Werror $san "$c" $(pkg-config --cflags --libs sgdscape) -Wl,-rpath,"$libdir" -o "${c%.c}" 2>"$T/cc.err"; then
        ok
        (cd "$T" && SGD_QUIET=1 "${c%.c}" >"$T/run.out" 2>&1) && ok || bad "doc snippet at $where exits non-zero: $(tail -2 "$T/run.out")"
    else
        bad "doc snippet at $where does not compile: $(grep -m2 error "$T/cc.err")"
    fi
done
[ $nsnip -ge 4 ] && ok || bad "found only $nsnip C blocks in README.md and docs/"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
