#!/bin/sh
# pkgconfig_test.sh BUILD_ROOT SOURCE_ROOT
#
# Installs the build into a scratch directory (meson install --destdir), then
# builds programs the way a user would, with the flags of the installed
# nabla.pc, and runs them against the installed shared library:
#   - tests/pkgconfig_prog.c, which checks a gradient and prints "ok";
#   - the C example in README.md (the first ```c block), which must compile
#     without warnings, exit 0 and print what the README says it prints.
# The .pc names prefix=/usr/local (or whatever was configured); the files sit
# under the scratch directory, so prefix is redefined to point there.
# (pkgconf's --define-prefix guesses the prefix as the .pc's directory minus
# two levels, which is wrong for multiarch libdirs like lib/x86_64-linux-gnu.)
# In a sanitized build the library needs the sanitizer runtime, so the
# programs are compiled with the same -fsanitize flags.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_ROOT SOURCE_ROOT" >&2
    exit 2
fi
build_root=$1
source_root=$2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

fail() {
    echo "pkgconfig_test: FAILED: $*" >&2
    exit 1
}

# ---------------------------------------------------------------- install
dest=$tmp/dest
meson install -C "$build_root" --no-rebuild --destdir "$dest" >"$tmp/install.log" 2>&1 || {
    cat "$tmp/install.log" >&2
    fail "meson install -C $build_root --destdir $dest"
}
pc=$(find "$dest" -name nabla.pc | head -n 1)
[ -n "$pc" ] || fail "no nabla.pc installed under $dest"
pcdir=$(dirname "$pc")
libso=$(find "$dest" -name 'libnabla.so*' | head -n 1)
[ -n "$libso" ] || fail "no libnabla.so installed under $dest"
libdir=$(dirname "$libso")
[ -n "$(find "$dest" -name nabla.h)" ] || fail "no nabla.h installed under $dest"

prefix=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=prefix nabla) ||
    fail "pkg-config cannot read $pc"
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --define-variable=prefix="$dest$prefix" \
    --cflags --libs nabla) || fail "pkg-config --cflags --libs nabla"
echo "pkg-config flags: $flags"

# ---------------------------------------------------------------- sanitizers
sanitize=$(meson introspect --buildoptions "$build_root" | python3 -c '
import json, sys
for o in json.load(sys.stdin):
    if o["name"] == "b_sanitize":
        v = o["value"]
        print(",".join(v) if isinstance(v, list) else v)
') || fail "meson introspect --buildoptions $build_root"
extra=""
if [ -n "$sanitize" ] && [ "$sanitize" != none ]; then
    extra="-fsanitize=$sanitize"
fi

# ---------------------------------------------------------------- build and run
# build_and_run NAME SOURCE: compiles SOURCE against the installed nabla and
# runs it; its output lands in $tmp/NAME.out.
build_and_run() {
    # $flags and $extra are word lists on purpose.
    # shellcheck disable=SC2086
    ${CC:-cc} -std=c11 -Wall -Wextra -Werror $extra -o "$tmp/$1" "$2" $flags ||
        fail "compiling $2 against the installed nabla.pc"
    LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$tmp/$1" >"$tmp/$1.out" 2>&1 || {
        cat "$tmp/$1.out" >&2
        fail "$2 exited non-zero"
    }
    cat "$tmp/$1.out"
}

build_and_run prog "$source_root/tests/pkgconfig_prog.c"
[ "$(cat "$tmp/prog.out")" = ok ] || fail "pkgconfig_prog printed '$(cat "$tmp/prog.out")', not 'ok'"

# The README's example, verbatim.
awk '/^```c$/ { inside = 1; next } /^```/ { if (inside) exit } inside' \
    "$source_root/README.md" >"$tmp/readme_example.c"
[ -s "$tmp/readme_example.c" ] || fail "no \`\`\`c block in $source_root/README.md"
build_and_run readme_example "$tmp/readme_example.c"
# The README says what it prints ("It prints `...`"): it must be true.
# shellcheck disable=SC2016 # backquotes are literal here
claim=$(sed -n 's/^It prints `\([^`]*\)`.*/\1/p' "$source_root/README.md")
if [ -n "$claim" ] && [ "$claim" != "$(cat "$tmp/readme_example.out")" ]; then
    fail "README example printed '$(cat "$tmp/readme_example.out")'; README says '$claim'"
fi

# ---------------------------------------------------------------- uninstalled
# The README's two ways to build against a build tree that was never
# installed: meson's nabla-uninstalled.pc, and plain flags naming include/
# and the build folder (an rpath so the program finds libnabla.so there).
uninst=$build_root/meson-uninstalled
[ -f "$uninst/nabla-uninstalled.pc" ] || fail "no $uninst/nabla-uninstalled.pc"
uflags=$(PKG_CONFIG_PATH=$uninst pkg-config --cflags --libs nabla-uninstalled) ||
    fail "pkg-config --cflags --libs nabla-uninstalled"
abs_build=$(cd "$build_root" && pwd)
# shellcheck disable=SC2086
${CC:-cc} -std=c11 -Wall -Wextra -Werror $extra -o "$tmp/prog_uninstalled" \
    "$source_root/tests/pkgconfig_prog.c" $uflags -Wl,-rpath,"$abs_build" ||
    fail "compiling against nabla-uninstalled.pc"
[ "$("$tmp/prog_uninstalled")" = ok ] || fail "the program built with nabla-uninstalled.pc"
# shellcheck disable=SC2086
${CC:-cc} -std=c11 -Wall -Wextra -Werror $extra -o "$tmp/prog_flags" \
    "$source_root/tests/pkgconfig_prog.c" -I"$source_root/include" -L"$abs_build" -lnabla \
    -Wl,-rpath,"$abs_build" || fail "compiling with -I include -L build -lnabla"
[ "$("$tmp/prog_flags")" = ok ] || fail "the program built with -I include -L build -lnabla"
echo "uninstalled build tree: ok"

echo "pkgconfig_test: ok"
