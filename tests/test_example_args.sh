#!/bin/sh
# test_example_args.sh — the examples' command lines (examples/cmdline.c):
# a mistyped option gets "did you mean", a value that is not a whole number
# is refused rather than read in part ("3x" as 3, "-1" as 2^64 - 1), and
# each refusal exits 2 with the example's usage line.
#
# usage: test_example_args.sh ANY_BOOLEAN FASHION_MLP
set -u
any_boolean=$1
fashion_mlp=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nabla-exargs.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
check() { desc=$1; shift; if "$@"; then passed=$((passed + 1)); echo "ok - $desc"
          else failed=$((failed + 1)); echo "not ok - $desc"; sed 's/^/    | /' "$tmp/err"; fi; }
# refused TEXT PROGRAM ARGS...: exit 2, TEXT on stderr, then the usage line.
refused() {
    text=$1; shift
    "$@" > "$tmp/out" 2> "$tmp/err"
    rc=$?
    [ "$rc" = 2 ] && grep -qF -- "$text" "$tmp/err" && grep -q "^usage: " "$tmp/err" && [ ! -s "$tmp/out" ]
}
check "a mistyped option: did you mean" \
    refused "any_boolean: unknown option '--max-m'; did you mean '--max-n'?" "$any_boolean" --max-m 3
check "a number with trailing letters is refused, not read as 3" \
    refused "--max-n wants a whole number, not '3x'" "$any_boolean" --max-n 3x
check "a negative seed is refused, not wrapped around" \
    refused "--seed wants a whole number >= 0, not '-1'" "$fashion_mlp" --seed -1
check "an option without its value" refused "--epochs needs a value" "$fashion_mlp" --epochs
check "a value out of range gets the usage line" refused "usage: " "$any_boolean" --max-n 0
"$any_boolean" --max-n 2 --random 1 --seed 3 > "$tmp/out" 2> "$tmp/err"
check "a correct command line runs" sh -c '[ '$?' = 0 ] && [ -s "$1" ] && [ ! -s "$2" ]' _ "$tmp/out" "$tmp/err"
echo "example_args: $passed passed, $failed failed"
[ "$failed" = 0 ]
