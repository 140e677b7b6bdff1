#!/bin/sh
# test_help_examples.sh — every example in every command's --help runs as
# written, from a copy of the source folder's examples/models whose data
# sections read the 500 + 200 Fashion-MNIST images in tests/fixtures. To be
# quick, `nabla train` on a data set gets --epochs 1 --limit 100 (--epochs 2
# when it resumes the checkpoint written before), and the bare `nabla train`
# (the built-in LeNet-5) reads the fixtures through --data. Lines for other tools (h5dump, python3 with h5py)
# run when the tool is there. Each command's examples run in order in one
# folder, train's first, so later ones find the files earlier ones wrote.
#
# usage: test_help_examples.sh NABLA FIXTURES_DIR SOURCE_ROOT
set -u

. "$(dirname "$0")/lib.sh"
nabla=$(abs "$1")
fixtures=$(abs "$2")
src=$(abs "$3")
test_tmp help
skipped=0

mkdir -p "$tmp/data" "$tmp/bin" "$tmp/examples/models"
ln -s "$nabla" "$tmp/bin/nabla"
fixture_data "$fixtures" "$tmp/data"
for f in "$src"/examples/models/*; do
    case $f in
    *.yaml) sed "s|/usr/share/datasets/fashion-mnist|$tmp/data|" "$f" > "$tmp/examples/models/${f##*/}" ;;
    *) cp "$f" "$tmp/examples/models/" ;;
    esac
done

# The example lines of a --help text: after a line "example...:", up to the
# next blank line; a line ending in '\' continues on the next.
examples() {
    awk '/^examples?( .*)?:$/ { on = 1; next }
         /^$/ { on = 0 }
         on { sub(/^  /, ""); if (sub(/\\$/, "")) { part = part $0; next }
              print part $0; part = "" }'
}

# What runs for an example line: without its trailing comment, quick.
quick() {
    line=$(printf '%s\n' "$1" | sed 's/  *#  *[^"'\'']*$//')
    case $line in
    "nabla train") line="nabla train --data $tmp/data" ;;
    esac
    case $line in # mpirun as the suite runs it (tests/mpi_run.sh: root, a time limit)
    "mpirun "*) line="$(dirname "$0")/mpi_run.sh ${line#mpirun }" ;;
    esac
    case $line in
    *"nabla train "*--stream*) ;;
    *"nabla train "*--resume*) line="$line --epochs 2 --limit 100" ;;
    *"nabla train "*) line="$line --epochs 1 --limit 100" ;;
    esac
    printf '%s\n' "$line"
}

for cmd in train eval predict grad dot inspect export import; do
    "$nabla" "$cmd" --help | examples > "$tmp/$cmd.examples"
    if [ ! -s "$tmp/$cmd.examples" ]; then
        failed=$((failed + 1)); echo "not ok - nabla $cmd --help shows no example"; continue
    fi
    while IFS= read -r example; do
        tool=${example%% *}
        if [ "$tool" != nabla ] && [ "$tool" != cat ] && ! command -v "$tool" > /dev/null; then
            skipped=$((skipped + 1)); echo "ok - # SKIP no $tool: $example"; continue
        fi
        if { [ "$cmd" = export ] || [ "$cmd" = import ]; } && "$nabla" --version | grep -q "^built without:.* protobuf-c"; then
            skipped=$((skipped + 1)); echo "ok - # SKIP nabla built without protobuf-c: $example"; continue
        fi
        if [ "$tool" = mpirun ] && "$nabla" --version | grep -q "^built without:.* MPI"; then
            skipped=$((skipped + 1)); echo "ok - # SKIP nabla built without MPI: $example"; continue
        fi
        if [ "$tool" = python3 ] && ! python3 -c "import h5py" 2> /dev/null; then
            skipped=$((skipped + 1)); echo "ok - # SKIP no h5py: $example"; continue
        fi
        run=$(quick "$example")
        if (cd "$tmp" && PATH="$tmp/bin:$PATH" sh -c "$run") > "$tmp/out" 2> "$tmp/err" < /dev/null; then
            passed=$((passed + 1)); echo "ok - $cmd: $example"
        else
            failed=$((failed + 1)); echo "not ok - $cmd: $example"; echo "    ran: $run"
            sed 's/^/    | /' "$tmp/err" | head -10
        fi
    done < "$tmp/$cmd.examples"
done

echo "help examples: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ] && [ "$passed" -ge 15 ]
