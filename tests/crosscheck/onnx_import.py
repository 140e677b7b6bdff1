#!/usr/bin/python3
"""Checks `nabla import` against PyTorch, and `nabla export` → `nabla import`.

usage: onnx_import.py NABLA_EXE MODELS_DIR FIXTURES WORKDIR

1. PyTorch networks with random weights (batch norm with random running
   statistics too), in eval mode, exported by torch.onnx.export at opset 13:
   - an MLP: Linear (Gemm), Dropout, ReLU, a product by a parameter plus a
     bias (MatMul + Add), Tanh, Sigmoid, Linear, Softmax; batch symbolic;
   - a CNN: Conv + BatchNorm + ReLU (which the exporter folds into the Conv),
     a residual block added back, MaxPool, BatchNorm2d, a grouped strided
     Conv beside a 1×1 one, concatenated, AvgPool with padding (Pad, then
     AveragePool), flatten, BatchNorm1d, Linear; batch fixed;
   - an upsampling decoder: Linear, reshaped to a small image, then
     ConvTranspose2d three times (stride 2 with padding and output_padding;
     grouped and dilated; a rectangular kernel without bias at stride 3),
     with ReLU and Sigmoid; batch symbolic;
   - windows per axis (Geometry below): strides, dilations and padding that
     differ between rows and columns, padding per side, MaxPool with
     ceil_mode, AveragePool with and without the padding in its count;
   - a CNN ending in AdaptiveAvgPool2d(1) (GlobalAveragePool) beside
     AdaptiveMaxPool2d(1) (a MaxPool over the whole image), concatenated,
     flatten, Linear; batch symbolic;
   - activations: Linear, LeakyReLU(0.2), ELU(0.7), Softplus, GELU (the
     Div → Erf → Add → Mul → Mul pattern, one gelu node), GELU's tanh form
     and Softplus(beta=2) (each op by op: Mul, Add, Tanh, Div), arithmetic
     with scalar constants on either side (x·0.5 − 1, 1 − x, x / 3);
   - a CNN ending in AdaptiveAvgPool2d(1) → flatten → Linear, with a
     learned [C, 1, 1] bias added and a [1, C, 1, 1] constant multiplied
     after a GELU; batch symbolic;
   - group norms: GroupNorm(2, 6) after a Conv, GroupNorm(3, 6) on a
     residual branch, GroupNorm(4, 4) without affine, each written by
     torch as Reshape → InstanceNormalization → Reshape → Mul → Add and
     imported as one groupnorm layer; InstanceNorm2d with and without
     affine (one InstanceNormalization each), as groupnorm with one channel
     a group; batch symbolic.
   `nabla import` turns each into a YAML model and weights; `nabla predict`
   on random inputs (written with h5py, at the exported batch and another)
   must agree with PyTorch's outputs to 1e-4 (max |a - b| / max |b|).
   Also a graph written with onnx.helper, held to NumPy: GlobalMaxPool,
   which torch.onnx.export does not write, → Flatten → Gemm (alpha 0.5,
   beta 2, transB 0) → Gemm (alpha −1.5, transB 1, one bias for every
   output).
3. A nabla model with windows per axis (pads per side, ceil_mode kept and
   rewritten as pads, averages with and without the padding), trained,
   exported and imported back, predicts the same (to 1e-5); so does one of
   GELU, ELU, softplus, leaky ReLU and SiLU, its GELU imported as one gelu
   node again.
2. LeNet-5 trained one short epoch, `nabla export`ed and `nabla import`ed:
   the imported model predicts what the trained one does (to 1e-5), and
   `nabla train` trains it (one epoch, given a data section).

Exits 77 (meson's "skipped") when torch, onnx or h5py is missing.
"""
import gzip
import os
import sys

from common import TOL, link_fmnist, predict, relerr, run, write_data

try:
    import h5py  # noqa: F401 (common.py reads and writes the HDF5 files with it)
    import numpy as np
    import onnx
    import torch
    import torch.nn.functional as F
    from onnx import TensorProto, helper, numpy_helper
    from torch import nn
except ImportError as e:  # PyTorch is optional; nabla never needs it
    print(f"skipped: {e}")
    sys.exit(77)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 32)
        self.drop = nn.Dropout(0.3)
        self.w = nn.Parameter(torch.randn(32, 16) * 0.3)
        self.b = nn.Parameter(torch.randn(16))
        self.fc2 = nn.Linear(16, 8)
        self.fc3 = nn.Linear(8, 5)

    def forward(self, x):
        h = torch.relu(self.drop(self.fc1(x)))
        h = torch.tanh(h @ self.w + self.b)
        h = torch.sigmoid(self.fc2(h))
        return torch.softmax(self.fc3(h), dim=-1)


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8, eps=1e-3)
        self.pool = nn.MaxPool2d(2)
        self.bn4 = nn.BatchNorm2d(8)  # after a pool, so the exporter cannot fold it into a Conv
        self.g = nn.Conv2d(8, 4, 3, stride=2, padding=1, groups=2)
        self.p = nn.Conv2d(8, 4, 1, stride=2)
        self.avg = nn.AvgPool2d(3, stride=1, padding=1)
        self.bn3 = nn.BatchNorm1d(8 * 3 * 3)
        self.fc = nn.Linear(8 * 3 * 3, 6)

    def forward(self, x):
        h = torch.relu(self.bn1(self.c1(x)))
        h = torch.relu(h + self.bn2(self.c2(h)))
        h = self.bn4(self.pool(h))
        h = torch.cat([torch.relu(self.g(h)), self.p(h)], dim=1)
        h = torch.flatten(self.avg(h), 1)
        return self.fc(self.bn3(h))


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 4 * 3 * 3)
        self.up1 = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1)
        self.up2 = nn.ConvTranspose2d(6, 4, 3, padding=2, dilation=2, groups=2, output_padding=1)
        self.up3 = nn.ConvTranspose2d(4, 2, (2, 3), stride=3, padding=1, bias=False)

    def forward(self, z):
        h = torch.relu(self.fc(z)).reshape(-1, 4, 3, 3)
        h = torch.relu(self.up1(h))          # [N, 6, 6, 6]
        h = torch.relu(self.up2(h))          # [N, 4, 7, 7]
        return torch.sigmoid(self.up3(h))    # [N, 2, 18, 19]


class Geometry(nn.Module):
    """Windows per axis: a Conv with strides (2, 1), dilations (1, 2) and
    padding (1, 0); MaxPool (3, 2) with strides (2, 1) and ceil_mode;
    AveragePool without the padding in its count (count_include_pad 0), and
    with ceil_mode counting it (Pad, then AveragePool). (Padding apart on
    each side of an axis, F.pad, exports as shape arithmetic nabla does not
    import; check_geometry_round_trip takes Conv pads per side through
    nabla's own export.)"""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 6, 3, stride=(2, 1), padding=(1, 0), dilation=(1, 2))
        self.c2 = nn.Conv2d(6, 5, (2, 2))
        self.fc = nn.Linear(5 * 2 * 3 + 5 * 2 * 4, 4)

    def forward(self, x):
        h = torch.relu(self.c1(x))
        h = F.max_pool2d(h, (3, 2), stride=(2, 1), padding=(1, 0), ceil_mode=True)
        h = torch.tanh(self.c2(h))
        a = F.avg_pool2d(h, 3, stride=2, padding=1, count_include_pad=False)
        b = F.avg_pool2d(h, 3, stride=2, padding=1, ceil_mode=True)
        return self.fc(torch.cat([torch.flatten(a, 1), torch.flatten(b, 1)], 1))


class PoolCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.c2 = nn.Conv2d(6, 8, 3, stride=2)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        h = torch.relu(self.c2(torch.relu(self.bn(self.c1(x)))))
        h = torch.cat([nn.AdaptiveAvgPool2d(1)(h), nn.AdaptiveMaxPool2d(1)(h)], dim=1)
        return self.fc(torch.flatten(h, 1))


class Activations(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(12, 16)
        self.fc2 = nn.Linear(16, 16)
        self.fc3 = nn.Linear(16, 6)

    def forward(self, x):
        h = nn.functional.leaky_relu(self.fc1(x), 0.2)
        h = nn.functional.elu(h, 0.7)
        h = nn.functional.softplus(h) * 0.5 - 1
        h = nn.functional.gelu(self.fc2(h))
        h = 1 - nn.functional.gelu(h, approximate="tanh") / 3
        return self.fc3(nn.functional.softplus(h, beta=2))


class GapCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 6, 3, padding=1)
        self.bias = nn.Parameter(torch.randn(6, 1, 1))
        self.c2 = nn.Conv2d(6, 8, 3, stride=2)
        self.register_buffer("gain", torch.rand(1, 8, 1, 1) + 0.5)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        h = nn.functional.gelu(self.c1(x)) + self.bias
        h = torch.relu(self.c2(h)) * self.gain
        return self.fc(torch.flatten(nn.AdaptiveAvgPool2d(1)(h), 1))


def check_hand(nabla, work):
    """GlobalMaxPool and Gemm's alpha, beta and transB, which torch.onnx.export
    does not write for these models, in a graph made with onnx.helper and
    evaluated by NumPy."""
    rng = np.random.default_rng(5)
    b1, c1 = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=4).astype(np.float32)
    b2, c2 = rng.normal(size=(2, 4)).astype(np.float32), np.array([0.25], np.float32)
    inits = [numpy_helper.from_array(v, n) for v, n in ((b1, "B1"), (c1, "C1"), (b2, "B2"), (c2, "C2"))]
    nodes = [helper.make_node("GlobalMaxPool", ["x"], ["p"], name="gmp"),
             helper.make_node("Flatten", ["p"], ["f"], name="flat", axis=1),
             helper.make_node("Gemm", ["f", "B1", "C1"], ["g1"], name="gemm1", alpha=0.5, beta=2.0),
             helper.make_node("Gemm", ["g1", "B2", "C2"], ["y"], name="gemm2", alpha=-1.5, transB=1)]
    graph = helper.make_graph(nodes, "hand", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 5, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    path = os.path.join(work, "hand.onnx")
    onnx.save(model, path)
    yaml, w = os.path.join(work, "hand.yaml"), os.path.join(work, "hand.h5")
    run(nabla, "import", path, "-o", yaml, "--weights", w)
    x = rng.normal(size=(5, 3, 5, 5)).astype(np.float32)
    f = x.max(axis=(2, 3)).astype(np.float64)
    ref = -1.5 * ((0.5 * f @ b1 + 2.0 * c1) @ b2.T) + c2
    xin, pred = os.path.join(work, "hand_x.h5"), os.path.join(work, "hand_p.h5")
    write_data(xin, x)
    got = predict(nabla, w, xin, pred)
    worst = relerr(got, ref) if got.shape == ref.shape else 1.0
    ok = worst <= TOL and "op: global_maxpool2d" in open(yaml).read()
    print(f"{'ok' if ok else 'FAILED'} hand-made GlobalMaxPool and Gemm: nabla vs NumPy {worst:.1e}")
    return ok


class GroupNormed(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 6, 3, padding=1)
        self.g1 = nn.GroupNorm(2, 6)
        self.c2 = nn.Conv2d(6, 6, 3, padding=1, bias=False)
        self.g2 = nn.GroupNorm(3, 6, eps=1e-3)
        self.c3 = nn.Conv2d(6, 4, 3)
        self.g3 = nn.GroupNorm(4, 4, affine=False)
        self.i1 = nn.InstanceNorm2d(6, affine=True)
        self.i2 = nn.InstanceNorm2d(4)
        self.fc = nn.Linear(4 * 6 * 6, 5)

    def forward(self, x):
        h = torch.relu(self.g1(self.c1(x)))  # [N, 6, 8, 8]
        h = h + self.g2(self.c2(h))          # a residual add after the Add of β
        h = self.i1(h)                       # InstanceNormalization alone
        h = self.g3(self.c3(h))              # one channel a group, no γ and β
        return self.fc(self.i2(torch.tanh(h)).flatten(1))


def randomise(model):
    """Random running statistics and affine parameters, so inference batch
    norm differs from the identity."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
            if isinstance(m, (nn.GroupNorm, nn.InstanceNorm2d)) and m.affine:
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)


def check_torch(nabla, work, name, model, shape, batch, dynamic, expect=None):
    """expect: {text: count} the imported YAML must hold (the nodes an
    operator or a pattern became)."""
    torch.manual_seed(7)
    randomise(model)
    model.eval()
    onnx_path = os.path.join(work, name + ".onnx")
    x0 = torch.randn([batch] + shape)
    kw = {"dynamic_axes": {"x": {0: "N"}, "y": {0: "N"}}} if dynamic else {}
    torch.onnx.export(model, x0, onnx_path, opset_version=13, input_names=["x"],
                      output_names=["y"], **kw)
    yaml, w = os.path.join(work, name + ".yaml"), os.path.join(work, name + ".h5")
    run(nabla, "import", onnx_path, "-o", yaml, "--weights", w)
    text = open(yaml).read()
    for what, count in (expect or {}).items():
        if text.count(what) != count:
            print(f"FAILED {name}: the imported model holds '{what}' {text.count(what)} times, "
                  f"not {count}:\n{text}")
            return False
    worst = 0.0
    for n in (batch, 7) if dynamic else (batch, 3):
        x = torch.randn([n] + shape)
        with torch.no_grad():
            ref = model(x).numpy()
        xin, pred = os.path.join(work, f"{name}_x{n}.h5"), os.path.join(work, f"{name}_p{n}.h5")
        write_data(xin, x.numpy())
        got = predict(nabla, w, xin, pred)
        if got.shape != ref.shape:
            print(f"FAILED {name}: nabla's output is {got.shape}, PyTorch's {ref.shape}")
            return False
        worst = max(worst, relerr(got, ref))
    ok = worst <= TOL
    print(f"{'ok' if ok else 'FAILED'} {name}: nabla vs PyTorch {worst:.1e}")
    return ok


def trained_and_exported(nabla, work, stem, text):
    """The model text (WORK/STEM.yaml) trained by its own train and data
    sections, then `nabla export`ed: the paths of its weights and ONNX file."""
    yaml, w = os.path.join(work, stem + ".yaml"), os.path.join(work, stem + ".h5")
    with open(yaml, "w") as f:
        f.write(text)
    run(nabla, "train", yaml, "--out", w, "--quiet", "--no-graph")
    onnx_path = os.path.join(work, stem + ".onnx")
    run(nabla, "export", w, "-o", onnx_path)
    return w, onnx_path


def imported_back_differs(nabla, work, weights, back, inputs):
    """How far the predictions of a model exported and imported back (its
    weights back) are from the model's own on the HDF5 file inputs:
    max |a - b| / max |a|."""
    own, again = (predict(nabla, w, inputs, os.path.join(work, os.path.basename(w) + ".pred.h5"))
                  for w in (weights, back))
    return relerr(again, own)


# Each pooling's ONNX form beside it: ceil_mode kept where opset 13's size
# is nabla's, else the overhang as trailing pads; an average counting the
# padding as Pad, then AveragePool.
GEOMETRY_YAML = """nabla: 1
input: {x: [2, 19, 20]}
layers:
  - conv2d: {filters: 4, kernel: 3, stride: [2, 1], pad: [1, 0, 2, 1], dilation: [1, 2], activation: tanh}
  - maxpool2d: {kh: 3, kw: 2, stride: [2, 1], pad: [1, 0], ceil_mode: true}   # [4, 6, 16]: ceil_mode
  - maxpool2d: {kh: 3, kw: 2, stride: [2, 3], pad: 1, ceil_mode: true}        # [4, 4, 6]: pads [1, 1, 2, 1]
  - conv2d: {filters: 3, kh: 2, kw: 3, pad: [0, 1, 1, 0]}
  - avgpool2d: {size: 2, pad: 1, ceil_mode: true, count_include_pad: false}  # [3, 3, 3]
  - avgpool2d: {kh: 2, kw: 3, stride: 2, pad: [0, 1], ceil_mode: true}       # [3, 2, 2]: Pad, AveragePool
  - flatten
  - dense: {units: 3}
loss: mse
optimizer: {adam: {lr: 0.02}}
train: {batch: 8, epochs: 1, seed: 3}
data: {format: hdf5, train: data.h5}
"""


def check_geometry_round_trip(nabla, work):
    """A model with windows per axis, pads per side, ceil_mode and averages
    with and without the padding in their count, trained an epoch, `nabla
    export`ed (checked by python3-onnx's full checker when present) and `nabla
    import`ed back: the two predict the same to 1e-5."""
    rng = np.random.default_rng(5)
    data = os.path.join(work, "data.h5")
    write_data(data, rng.uniform(-1, 1, (16, 2, 19, 20)).astype(np.float32),
               rng.uniform(-1, 1, (16, 3)).astype(np.float32))
    w, onnx_path = trained_and_exported(nabla, work, "geo", GEOMETRY_YAML)
    try:
        import onnx
        onnx.checker.check_model(onnx.load(onnx_path), full_check=True)
    except ImportError:
        pass
    back = os.path.join(work, "geo_back.h5")
    run(nabla, "import", onnx_path, "-o", os.path.join(work, "geo_back.yaml"), "--weights", back)
    diff = imported_back_differs(nabla, work, w, back, data)
    ok = diff <= 1e-5
    print(f"{'ok' if ok else 'FAILED'} geometry export → import: predictions differ by {diff:.1e}")
    return ok


ACTIVATIONS_YAML = """nabla: 1
input: {x: [6]}
layers:
  - dense: {units: 8, activation: gelu}
  - dense: {units: 8, activation: elu}
  - dense: {units: 8, activation: softplus}
  - dense: {units: 8, activation: leaky_relu}
  - dense: {units: 8, activation: silu}
  - dense: {units: 3}
loss: mse
optimizer: {adam: {lr: 0.02}}
train: {batch: 8, epochs: 1, seed: 3}
data: {format: hdf5, train: act_data.h5}
"""


def check_activations_round_trip(nabla, work):
    """GELU, ELU, softplus, leaky ReLU and SiLU trained an epoch, `nabla
    export`ed and `nabla import`ed back: the GELU nabla writes (Div, Erf,
    Add, Mul by 0.5, Mul by x) is one gelu node again, ELU, Softplus and
    LeakyRelu their activations, SiLU (x·σ(x)) a sigmoid and a mul; the
    two predict the same to 1e-5."""
    rng = np.random.default_rng(6)
    data = os.path.join(work, "act_data.h5")
    write_data(data, rng.normal(size=(16, 6)).astype(np.float32),
               rng.normal(size=(16, 3)).astype(np.float32))
    w, onnx_path = trained_and_exported(nabla, work, "act", ACTIVATIONS_YAML)
    onnx.checker.check_model(onnx.load(onnx_path))
    back_yaml, back = os.path.join(work, "act_back.yaml"), os.path.join(work, "act_back.h5")
    run(nabla, "import", onnx_path, "-o", back_yaml, "--weights", back)
    text = open(back_yaml).read()
    want = {"op: gelu": 1, "op: erf": 0, "op: elu": 1, "op: softplus": 1, "op: leaky_relu": 1,
            "op: sigmoid": 1}
    wrong = {k: text.count(k) for k, v in want.items() if text.count(k) != v}
    diff = imported_back_differs(nabla, work, w, back, data)
    ok = diff <= 1e-5 and not wrong
    print(f"{'ok' if ok else 'FAILED'} activations export → import: predictions differ by "
          f"{diff:.1e}{'; nodes counted ' + str(wrong) if wrong else ''}")
    return ok


def check_round_trip(nabla, models, fixtures, work):
    data = os.path.join(work, "data")
    link_fmnist(fixtures, data)
    with gzip.open(os.path.join(fixtures, "fmnist-test-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read()[16:], np.uint8)[:13 * 784].reshape(13, 1, 28, 28)
    w = os.path.join(work, "lenet5.h5")
    run(nabla, "train", os.path.join(models, "lenet5.yaml"), "--data", data, "--epochs", "1",
        "--limit", "200", "--no-graph", "--quiet", "--out", w)
    run(nabla, "export", w, "-o", os.path.join(work, "lenet5.onnx"))
    back_yaml, back = os.path.join(work, "lenet5_back.yaml"), os.path.join(work, "lenet5_back.h5")
    run(nabla, "import", os.path.join(work, "lenet5.onnx"), "-o", back_yaml, "--weights", back)
    xin = os.path.join(work, "lenet5_x.h5")
    write_data(xin, images.astype(np.float32) / 255)
    diff = imported_back_differs(nabla, work, w, back, xin)
    # Training needs a data section: the one a user would add.
    tune_yaml = os.path.join(work, "lenet5_tune.yaml")
    with open(back_yaml) as f, open(tune_yaml, "w") as g:
        g.write(f.read() + f"data: {{format: idx, dir: {data}}}\n")
    tuned = os.path.join(work, "lenet5_tuned.h5")
    run(nabla, "train", tune_yaml, "--epochs", "1",
        "--limit", "100", "--no-graph", "--quiet", "--out", tuned)
    ok = diff <= 1e-5 and os.path.exists(tuned)
    print(f"{'ok' if ok else 'FAILED'} lenet5 export → import: predictions differ by {diff:.1e}, "
          "trained one epoch")
    return ok


def main():
    nabla, models, fixtures, work = (os.path.abspath(a) for a in sys.argv[1:5])
    os.makedirs(work, exist_ok=True)
    torch.manual_seed(1)
    ok = check_torch(nabla, work, "mlp", MLP(), [20], 4, True)
    ok &= check_torch(nabla, work, "cnn", CNN(), [3, 12, 12], 2, False)
    ok &= check_torch(nabla, work, "decoder", Decoder(), [6], 3, True)
    ok &= check_torch(nabla, work, "geometry", Geometry(), [3, 13, 12], 2, False)
    ok &= check_torch(nabla, work, "pool_cnn", PoolCNN(), [3, 9, 9], 3, True,
                      {"op: global_avgpool2d": 1, "op: maxpool2d": 1})
    ok &= check_torch(nabla, work, "activations", Activations(), [12], 4, True,
                      {"op: gelu": 1, "op: erf": 0, "op: leaky_relu": 1, "op: elu": 1,
                       "op: softplus": 2, "op: tanh": 1})
    ok &= check_torch(nabla, work, "gap_cnn", GapCNN(), [3, 9, 9], 3, True,
                      {"op: global_avgpool2d": 1, "op: gelu": 1, "op: param": 2})
    ok &= check_hand(nabla, work)
    ok &= check_torch(nabla, work, "groupnorm", GroupNormed(), [3, 8, 8], 2, True,
                      {"op: groupnorm": 5, "affine: false": 2})
    ok &= check_round_trip(nabla, models, fixtures, work)
    ok &= check_geometry_round_trip(nabla, work)
    ok &= check_activations_round_trip(nabla, work)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
