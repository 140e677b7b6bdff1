#!/bin/sh
# test_nonfinite.sh — the `nabla` command and numbers that are not finite,
# and inputs unlike those a model was trained on, end to end on the
# Fashion-MNIST fixture: weights or examples holding NaN are refused with
# one line naming file, dataset, index and value (and load with
# --allow-nonfinite); data that overflows float32 stops train before any
# epoch, writing nothing; predict, eval and grad warn when float inputs
# range far beyond what training saw (0…255 for a model trained on 0…1),
# and stay silent on the normal path.
#
# usage: test_nonfinite.sh NABLA FIXTURES_DIR SOURCE_ROOT
set -u

. "$(dirname "$0")/lib.sh"
nabla=$(abs "$1")
fixtures=$(abs "$2")
src=$(abs "$3")
test_tmp nonfinite

# expect STATUS CMD DESCRIPTION ARGS...: the status, and stderr one line "nabla CMD: ".
expect() {
    want=$1 cmd=$2 desc=$3; shift 3
    run "$@"
    check "$desc: exit $want, one line 'nabla $cmd: '" \
        sh -c '[ "$1" = "$2" ] && [ "$(wc -l < "$3" | tr -d " ")" = 1 ] && grep -q "^nabla $4: " "$3"' \
        _ "$rc" "$want" "$tmp/last.err" "$cmd"
}
says() { grep -q -- "$1" "$tmp/last.err"; }
silent() { [ "$rc" = 0 ] && [ ! -s "$tmp/last.err" ]; }

if ! /usr/bin/python3 -c 'import h5py, numpy' 2> /dev/null; then
    echo "skip - /usr/bin/python3 has no h5py to write the input files"
    exit 77
fi

fixture_data "$fixtures" "$tmp/data"
sed "s|/usr/share/datasets/fashion-mnist|$tmp/data|" "$src/examples/models/fashion_mlp.yaml" \
    > "$tmp/mlp.yaml"
/usr/bin/python3 - "$tmp" <<'EOF'
import sys, h5py, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(5)
pixels = rng.integers(0, 256, size=(20, 1, 28, 28))
pixels[0, 0, 0, 0], pixels[0, 0, 0, 1] = 0, 255
y = rng.integers(0, 10, size=20).astype(np.float32)
def write(name, x, y=y):
    with h5py.File(d + "/" + name + ".h5", "w") as f:
        f["X"] = x
        f["y"] = y
write("raw", pixels.astype(np.float32))          # floats 0…255: unscaled
write("scaled", (pixels / 255).astype(np.float32))
write("bytes", pixels.astype(np.uint8))          # nabla divides by the model's x_div
bad = (pixels / 255).astype(np.float32)
bad[3, 0, 0, 10] = np.nan
write("nan", bad)
huge = (pixels / 255).astype(np.float32)
huge[2, 0, 5, 5] = 1e30
write("huge", huge)
EOF

# ---------------------------------------------------------------- training keeps the input range
run train mlp.yaml --epochs 1 --limit 100 --out m.h5 --graph none --quiet
check "train exits 0 and writes m.h5" sh -c '[ '$rc' = 0 ] && [ -s "$1/m.h5" ]' _ "$tmp"
run inspect m.h5
check "inspect shows the inputs training saw: 0…1, bytes divided by 255" \
    grep -q "^trained on inputs in 0…1 (mean .*, 78400 values, bytes divided by 255)" "$tmp/last.out"

# ---------------------------------------------------------------- unscaled inputs warn
run predict m.h5 -i raw.h5 -o p.h5
check "predict on float pixels 0…255: exit 0, a warning naming both ranges and x_div" \
    sh -c '[ '$rc' = 0 ] && grep -q "^nabla predict: warning: inputs range 0…255 but the model was trained on 0…1 (bytes divided by 255); if they are pixels 0…255, divide them by 255" "$1"' \
    _ "$tmp/last.err"
run grad m.h5 -i raw.h5 -o g.h5
check "grad on float pixels 0…255 warns too" \
    sh -c '[ '$rc' = 0 ] && grep -q "^nabla grad: warning: inputs range 0…255" "$1"' _ "$tmp/last.err"
run predict m.h5 -i scaled.h5 -o p.h5
check "predict on floats 0…1: silent" silent
run predict m.h5 -i bytes.h5 -o p.h5
check "predict on uint8 pixels (divided by x_div): silent" silent
run grad m.h5 -i scaled.h5 -o g.h5
check "grad on floats 0…1: silent" silent
run eval m.h5 --limit 50
check "eval on the model's own test set: silent" silent
cp "$tmp/m.h5" "$tmp/old.h5"
/usr/bin/python3 -c 'import sys, h5py; del h5py.File(sys.argv[1], "r+")["inputs"]' "$tmp/old.h5"
run predict old.h5 -i raw.h5 -o p.h5
check "weights that do not say what training saw: no warning" silent

# ---------------------------------------------------------------- non-finite weights
cp "$tmp/m.h5" "$tmp/nanw.h5"
/usr/bin/python3 - "$tmp/nanw.h5" <<'EOF'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    w = f["params/dense1/w"]
    a = w[...]
    a[3, 7] = np.nan
    w[...] = a
EOF
for c in predict grad; do
    expect 1 $c "$c with a NaN weight" $c nanw.h5 -i scaled.h5 -o x.h5
    check "... names file, dataset, index and value, and --allow-nonfinite" \
        says "nanw.h5: /params/dense1/w: element 775 (\[3, 7\] of \[784,256\]) is nan: weights must be finite numbers (--allow-nonfinite loads it anyway"
done
expect 1 eval "eval with a NaN weight" eval nanw.h5 --limit 20
expect 1 inspect "inspect with a NaN weight" inspect nanw.h5
check "... names the element" says "element 775 (\[3, 7\] of \[784,256\]) is nan"
run inspect nanw.h5 --allow-nonfinite
check "inspect --allow-nonfinite shows it, counting the value that is not finite" \
    sh -c '[ '$rc' = 0 ] && grep -q "^dense1/w .*(1 not finite)" "$1"' _ "$tmp/last.out"

# ---------------------------------------------------------------- non-finite and overflowing data
expect 1 predict "predict on examples holding NaN" predict m.h5 -i nan.h5 -o x.h5
check "... names file, dataset, example, value" \
    says "nan.h5: /X: example 3, value 10 of 784 is nan: examples must be finite numbers"
run predict m.h5 -i nan.h5 -o x.h5 --allow-nonfinite
check "predict --allow-nonfinite takes them" [ "$rc" = 0 ]
sed -e 's|^data: .*$|data: {format: hdf5, train: huge.h5}|' "$tmp/mlp.yaml" > "$tmp/huge.yaml"
expect 1 train "train on data with 1e30" train huge.yaml --epochs 1 --out h.h5 --graph none
check "... names the file, the example and the value, before any epoch, no weights written" \
    sh -c 'grep -q "huge.h5: training example 2 holds 1e+30 (input value 145 of 784): inputs beyond ±1.8e19 (2^64) overflow float32" "$1" &&
           ! grep -q "^epoch" "$1" && [ ! -e "$2/h.h5" ]' _ "$tmp/last.err" "$tmp"
expect 1 train "--validation 0.5 on data with 1e30" train huge.yaml --epochs 1 --validation 0.5 \
    --out h.h5 --graph none
check "... the example by its index in the file, not among those left after the hold-out" \
    says "huge.h5: training example 2 holds 1e+30"
sed -e 's|^data: .*$|data: {format: hdf5, train: nan.h5}|' "$tmp/mlp.yaml" > "$tmp/nan.yaml"
expect 1 train "train on data holding NaN" train nan.yaml --epochs 1 --out h.h5 --graph none
check "... refused as it loads, naming the file" says "nan.h5: /X: example 3, value 10 of 784 is nan"

check "no sanitizer reports (ASan, UBSan, LeakSanitizer)" \
    sh -c '! grep -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$1"' _ "$tmp/all.err"

echo "nonfinite: $passed passed, $failed failed"
[ "$failed" = 0 ]
