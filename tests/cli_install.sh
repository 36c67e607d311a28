#!/usr/bin/env bash
# Install into a temporary prefix and build a program against the library
# with pkg-config: the installed headers, library and sgdscape.pc work.
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
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
