# lib.sh — what the shell tests share, sourced at their top:
#
#     . "$(dirname "$0")/lib.sh"
#     nabla=$(abs "$1")
#     test_tmp cli              # $tmp, removed at exit
#     run train model.yaml      # nabla in $tmp: $rc, $tmp/last.out, $tmp/last.err
#     check "it trained" has "epochs=2" "$tmp/last.out"
#     echo "cli: $passed passed, $failed failed"
#
# TAP-like lines ("ok - ...", "not ok - ..." with the last run's output
# indented below); the counts are the script's to print and judge.

passed=0
failed=0

# The path made absolute against the current folder.
abs() { case $1 in /*) echo "$1" ;; *) echo "$(pwd)/$1" ;; esac; }

# A fresh folder in $tmp (nabla-NAME.XXXXXX under $TMPDIR), removed when the
# script exits; an interrupt exits (and so removes it).
test_tmp() {
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/nabla-$1.XXXXXX") || exit 1
    trap 'rm -rf "$tmp"' EXIT
    trap 'exit 1' INT TERM
}

# fixture_data FIXTURES DIR: DIR (made) holds tests/fixtures' 500 + 200
# Fashion-MNIST images under the data set's own file names, as links.
fixture_data() {
    mkdir -p "$2" || exit 1
    for kind in images-idx3 labels-idx1; do
        ln -s "$1/fmnist-train-$kind-ubyte.gz" "$2/train-$kind-ubyte.gz"
        ln -s "$1/fmnist-test-$kind-ubyte.gz" "$2/t10k-$kind-ubyte.gz"
    done
}

ok() { passed=$((passed + 1)); echo "ok - $1"; }
# fail DESCRIPTION: a failed check, with the last run's output below it
# (the files $last_out and $last_err, by default $tmp/last.out and last.err).
fail() {
    failed=$((failed + 1))
    echo "not ok - $1"
    for f in "${last_out:-$tmp/last.out}" "${last_err:-$tmp/last.err}"; do
        [ -s "$f" ] && sed 's/^/    | /' "$f" | head -20
    done
}
# check DESCRIPTION CMD ARGS...: ok when the command succeeds, else fail.
check() { desc=$1; shift; if "$@"; then ok "$desc"; else fail "$desc"; fi; }

# run ARGS...: $nabla ARGS in $tmp; its status in $rc, its output in
# $tmp/last.out and last.err (stderr also gathered in $tmp/all.err).
run() {
    (cd "$tmp" && "$nabla" "$@") > "$tmp/last.out" 2> "$tmp/last.err"
    rc=$?
    cat "$tmp/last.err" >> "$tmp/all.err"
}
has() { grep -q -- "$1" "$2"; }
lines() { wc -l < "$1" | tr -d ' '; }
