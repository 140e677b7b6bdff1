#!/usr/bin/python3
"""Checks `nabla export` against two ONNX readers.

usage: onnx_export.py NABLA_EXE MODELS_DIR FIXTURES WORKDIR

For each example model (LeNet-5, the residual MLP, the locally connected
networks, the CNN with batch norm, the MLP, the row-by-row LSTM) and the
models written out below (transposed convolutions; group norm; windows per axis:
strides, dilations and pads that differ per axis and side, ceil_mode,
averages with and without the padding in their count):

1. `nabla train` one short epoch on the Fashion-MNIST fixtures, so the
   weights (and batch norm's running statistics) are trained, not initial;
2. `nabla export` writes the ONNX file; python3-onnx's checker
   (full_check: types and shapes inferred) must accept it, the batch must
   be the symbolic axis "N", and every parameter of the weights file must be
   an initialiser under nabla's own name;
3. OpenCV's dnn module runs the file on test images, at two batch sizes;
   its outputs must agree with `nabla predict` on the same images to 1e-4
   (max |a - b| / max |b|);
4. for the windows per axis, the Conv, MaxPool and AveragePool nodes carry
   the attributes listed in GEOMETRY (pads top, left, bottom, right);
5. the group norm model is `nabla import`ed back: its groupnorm layers are
   groupnorm layers again, predicting what the trained model does (1e-5).

Exits 77 (meson's "skipped") when python3-onnx, python3-opencv or h5py is
missing.
"""
import gzip
import os
import sys

from common import link_fmnist, predict, relerr, run, write_data

try:
    import cv2
    import h5py
    import numpy as np
    import onnx
    import onnx.numpy_helper
except ImportError as e:  # the readers are optional; nabla never needs them
    print(f"skipped: {e}")
    sys.exit(77)

TOL = 1e-4
MODELS = ["lenet5", "residual", "local", "lenet5_local", "fashion_cnn_bn", "fashion_mlp",
          "fashion_lstm"]

# Models with windows per axis on 28x28 images, each layer's output size
# beside it, and the nodes their export must hold (op, attributes). ONNX's
# opset 13 rounds ceil_mode up with no exception, where nabla leaves out a
# last window that would start in the trailing padding (PyTorch's rule):
# the exporter writes ceil_mode only where both agree, and elsewhere the
# overhang of the last window as more trailing padding in floor mode. An
# average counting the padding pads explicitly (Pad), then counts what each
# window reads of the padded input (count_include_pad 0): OpenCV 4.6 does
# not honour count_include_pad 1.
GEOMETRY = {
    "geometry_max": ("""
  - conv2d: {filters: 4, kh: 3, kw: 2, stride: [2, 1], pad: [1, 0, 1, 1], dilation: [1, 2], activation: relu}  # [4, 14, 27]
  - maxpool2d: {size: 3, stride: 2, pad: 1, ceil_mode: true}                  # [4, 8, 14]: ceil_mode kept
  - maxpool2d: {kh: 3, kw: 2, stride: [2, 3], pad: 1, ceil_mode: true}        # [4, 5, 5]: opset 13 says 6 columns
  - avgpool2d: {size: 3, stride: 1, pad: 1}                                   # [4, 5, 5]: Pad, then AveragePool
  - local2d: {filters: 2, kh: 2, kw: 3, stride: [1, 2], pad: [1, 0, 0, 2]}     # [2, 5, 3]
""", [("Conv", {"kernel_shape": [3, 2], "strides": [2, 1], "pads": [1, 0, 1, 1],
                "dilations": [1, 2]}),
      ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1],
                   "ceil_mode": 1}),
      ("MaxPool", {"kernel_shape": [3, 2], "strides": [2, 3], "pads": [1, 1, 2, 1]}),
      ("Pad", {}),
      ("AveragePool", {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [0, 0, 0, 0],
                       "count_include_pad": 0})]),
    "geometry_avg": ("""
  - conv2d: {filters: 4, kernel: 3, stride: [1, 2], pad: [0, 1], dilation: [2, 1], activation: relu}  # [4, 24, 14]
  - avgpool2d: {size: 3, stride: 2, pad: 1, ceil_mode: true}                  # [4, 13, 8]: overhangs both axes
  - avgpool2d: {kh: 2, kw: 3, stride: [3, 2], pad: 1, ceil_mode: true, count_include_pad: false}  # [4, 5, 5]
""", [("Conv", {"kernel_shape": [3, 3], "strides": [1, 2], "pads": [0, 1, 0, 1],
                "dilations": [2, 1]}),
      ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [0, 0, 1, 1],
                       "count_include_pad": 0}),
      ("AveragePool", {"kernel_shape": [2, 3], "strides": [3, 2], "pads": [1, 1, 1, 2],
                       "count_include_pad": 0})]),
}


def geometry_yaml(name):
    return f"""nabla: 1
name: {name}
input: {{x: [1, 28, 28]}}
layers:{GEOMETRY[name][0]}  - flatten
  - dense: {{units: 10, name: logits}}
loss: softmax_cross_entropy
optimizer: {{sgd: {{lr: 0.02, momentum: 0.9}}}}
train: {{batch: 32, epochs: 1, seed: 1, shuffle: true}}
data: {{format: idx, dir: data}}
"""


def missing_nodes(m, expected):
    """The (op, attributes) of expected that no node of m matches."""
    have = []
    for n in m.graph.node:
        attrs = {a.name: (list(a.ints) if a.ints else a.i) for a in n.attribute}
        have.append((n.op_type, attrs))
    return [f"no {op} node with {want}" for op, want in expected
            if not any(o == op and all(a.get(k) == v for k, v in want.items())
                       for o, a in have)]


# Down and up again: conv_transpose2d as ConvTranspose with stride, padding,
# output_padding, groups and an activation, and without a bias. Grouped:
# groupnorm (as PyTorch writes nn.GroupNorm) on images, with and without
# gamma and beta, one channel a group, and on features.
INLINE = {"updown": """nabla: 1
input: {x: [1, 28, 28]}
layers:
  - conv2d: {filters: 4, kernel: 3, stride: 2, pad: 1, activation: relu}
  - conv_transpose2d: {filters: 4, kernel: 3, stride: 2, pad: 1, output_padding: 1, activation: relu}
  - conv_transpose2d: {filters: 6, kernel: 2, groups: 2, bias: false}
  - maxpool2d: {size: 4}
  - flatten
  - dense: {units: 10, name: logits}
loss: softmax_cross_entropy
optimizer: {adam: {lr: 0.001}}
train: {batch: 32, epochs: 1, seed: 1}
data: {format: idx, dir: data}
""", "grouped": """nabla: 1
input: {x: [1, 28, 28]}
layers:
  - conv2d: {filters: 6, kernel: 3, stride: 2, bias: false}
  - groupnorm: {groups: 3}
  - relu
  - conv2d: {filters: 4, kernel: 3, stride: 2}
  - groupnorm: {groups: 4, eps: 0.001, affine: false}
  - flatten
  - dense: {units: 16}
  - groupnorm: {groups: 2}
  - dense: {units: 10, name: logits}
loss: softmax_cross_entropy
optimizer: {adam: {lr: 0.01}}
train: {batch: 32, epochs: 1, seed: 1}
data: {format: idx, dir: data}
"""}
INLINE.update({name: geometry_yaml(name) for name in GEOMETRY})

# Models `nabla import` must read back as they were (groupnorm layers each).
BACK = {"grouped": 3}


def params(path):
    names = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and name.startswith("params/"):
                names[name[len("params/"):]] = obj[()]
        f.visititems(visit)
    return names


def main():
    nabla, models, fixtures, work = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    data = os.path.join(work, "data")
    link_fmnist(fixtures, data)
    with gzip.open(os.path.join(fixtures, "fmnist-test-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read()[16:], np.uint8)[:13 * 784].reshape(13, 784)
    images = images.astype(np.float32) / 255
    failed = 0
    for name in INLINE:
        with open(os.path.join(work, name + ".yaml"), "w") as f:
            f.write(INLINE[name])
    for name in MODELS + list(INLINE):
        w = os.path.join(work, name + ".h5")
        out = os.path.join(work, name + ".onnx")
        yaml = os.path.join(work if name in INLINE else models, name + ".yaml")
        run(nabla, "train", yaml, "--data", data, "--epochs", "1",
            "--limit", "200", "--no-graph", "--quiet", "--out", w)
        run(nabla, "export", w, "-o", out)
        m = onnx.load(out)
        onnx.checker.check_model(m, full_check=True)
        dims = m.graph.input[0].type.tensor_type.shape.dim
        problems = []
        if dims[0].dim_param != "N":
            problems.append(f"the input's first axis is {dims[0]}, not N")
        inits = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
        for p, v in params(w).items():
            if p not in inits:
                problems.append(f"parameter {p} is not an initialiser")
            elif not np.array_equal(inits[p], v):
                problems.append(f"initialiser {p} differs from the weights file")
        if name in GEOMETRY:
            problems += missing_nodes(m, GEOMETRY[name][1])
        shape = [d.dim_value for d in dims[1:]]
        net = cv2.dnn.readNetFromONNX(out)
        worst = 0.0
        for n in (1, 13):
            x = images[:n].reshape([n] + shape)
            xin = os.path.join(work, f"{name}_x{n}.h5")
            pred = os.path.join(work, f"{name}_p{n}.h5")
            write_data(xin, x)
            ref = predict(nabla, w, xin, pred)
            net.setInput(x)
            got = net.forward().reshape(ref.shape)
            worst = max(worst, relerr(got, ref))
            if name in BACK:
                back = os.path.join(work, name + "_back")
                run(nabla, "import", out, "-o", back + ".yaml", "--weights", back + ".h5")
                again = predict(nabla, back + ".h5", xin, pred)
                if np.abs(again - ref).max() > 1e-5 * np.abs(ref).max():
                    problems.append(f"imported back, it predicts otherwise (by "
                                    f"{np.abs(again - ref).max():.1e})")
                with open(back + ".yaml") as f:
                    if f.read().count("op: groupnorm") != BACK[name]:
                        problems.append(f"imported back without its {BACK[name]} groupnorm layers")
        if worst > TOL:
            problems.append(f"OpenCV's outputs differ from nabla predict's by {worst:.2e}")
        ops = sorted({n.op_type for n in m.graph.node})
        status = "ok" if not problems else "FAILED"
        print(f"{status} {name}: {len(m.graph.node)} nodes ({', '.join(ops)}), "
              f"OpenCV vs nabla {worst:.1e}")
        for p in problems:
            print(f"    {p}")
        failed += bool(problems)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
