#!/bin/sh
# test_without.sh — the command in a nabla built without HDF5 or Graphviz
# (meson -Dhdf5=disabled, -Dgraphviz=disabled): what needs the missing
# library is refused before any work, with exit status 1, one line saying
# "nabla was built without …" and nothing written; what does not need it
# (inspecting a YAML model, training with --no-graph when only Graphviz is
# missing) still works. --version names what is missing.
#
# usage: test_without.sh NABLA FIXTURES SOURCE_ROOT HAVE_HDF5 HAVE_GRAPHVIZ
# (HAVE_*: "hdf5" / "graphviz" when built with it, else empty)
set -u
. "$(dirname "$0")/lib.sh"

nabla=$(abs "$1")
fixtures=$(abs "$2")
root=$(abs "$3")
have_hdf5=$4
have_graphviz=$5
test_tmp without

# err_is TEXT: stderr is exactly one line, equal to TEXT.
err_is() { [ "$(lines "$tmp/last.err")" = 1 ] && [ "$(cat "$tmp/last.err")" = "$1" ]; }
# refused TEXT FILE: status 1, stderr TEXT, nothing on stdout, FILE not written.
refused() {
    [ "$rc" = 1 ] && err_is "$1" && [ ! -s "$tmp/last.out" ] && [ ! -e "$tmp/$2" ]
}

fixture_data "$fixtures" "$tmp/data"
train="train --data $tmp/data --epochs 1 --limit 100 --batch 50"

run --version
missing="$([ -z "$have_hdf5" ] && printf ' HDF5')$([ -z "$have_graphviz" ] && printf ' Graphviz')"
check "--version names what is missing" grep -q "^built without:$missing" "$tmp/last.out"

no_onnx=$(grep -c "^built without:.* protobuf-c" "$tmp/last.out")

run inspect "$root/examples/models/xor.yaml"
check "inspect reads a YAML model" [ "$rc" = 0 ]

if [ "$no_onnx" = 1 ]; then
    run export "$root/examples/models/xor.yaml" -o x.onnx
    check "export: refused, the ONNX file named" \
        refused "nabla export: nabla was built without protobuf-c: cannot write the ONNX file 'x.onnx'" x.onnx
    run import x.onnx -o x.yaml --weights x.h5
    check "import: refused, the ONNX file named" \
        refused "nabla import: nabla was built without protobuf-c: cannot read the ONNX file 'x.onnx'" x.yaml
fi

if [ -z "$have_hdf5" ]; then
    run $train
    check "train: refused before training, the weights file named" \
        refused "nabla train: nabla was built without HDF5: cannot write the weights file 'lenet5.h5'" lenet5.h5
    run train "$root/examples/models/xor.yaml" --stream --out x.h5
    check "train --stream: refused before reading" \
        refused "nabla train: nabla was built without HDF5: cannot write the weights file 'x.h5'" x.h5
    run inspect "$root/examples/models/xor.h5"
    check "inspect W.h5: refused, saying why" \
        grep -q "nabla was built without HDF5: cannot read or write '.*xor.h5'" "$tmp/last.err"
    check "inspect W.h5: exit status 1" [ "$rc" = 1 ]
fi

if [ -z "$have_graphviz" ]; then
    run dot "$root/examples/models/xor.yaml" -o x.svg
    check "dot: refused, the drawing named" \
        refused "nabla dot: nabla was built without Graphviz: cannot write the drawing 'x.svg'" x.svg
    run dot --plan "$root/examples/models/xor.yaml" -o p.dot
    check "dot --plan: refused, the drawing named" \
        refused "nabla dot: nabla was built without Graphviz: cannot write the drawing 'p.dot'" p.dot
    if [ -n "$have_hdf5" ]; then
        run $train
        check "train: the default drawing refused, --no-graph offered" \
            refused "nabla train: nabla was built without Graphviz: cannot write the drawing 'lenet5.svg' (--no-graph trains without it)" lenet5.h5
        run $train --no-graph
        check "train --no-graph: trains and saves" test "$rc" = 0 -a -s "$tmp/lenet5.h5"
    fi
fi

echo "test_without: $passed passed, $failed failed"
[ "$failed" = 0 ]
