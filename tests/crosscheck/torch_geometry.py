#!/usr/bin/python3
"""Cross-checks nabla's windows per axis against PyTorch.

usage: torch_geometry.py NABLA_EXE WORKDIR

Two small CNNs under a squared-error loss, each written as a nabla model
file:
  A. conv2d with stride [2, 1], padding [top 1, left 0, bottom 2, right 1]
     (F.pad, then F.conv2d) and dilation [1, 2]; max pooling 3x2, stride
     [2, 1], padding [1, 0], ceil_mode; conv2d; average pooling with
     padding 1 and count_include_pad false; dense;
  B. conv2d; average pooling 3x3, stride 2, padding 1, ceil_mode, counting
     the padding (a last window overhanging it divides by what it covers of
     the padded input); max pooling 2x3, stride 3, padding 1, ceil_mode,
     where rounding up would start a last row of windows in the bottom
     padding (5 rows: 2 windows, not 3) and a last column overhangs the
     right padding; dense.

1. `nabla train` one short epoch (Adam), so the weights are trained, not
   just initialised, and stored in nabla's HDF5 layout;
2. `nabla grad` writes the loss, the output and every parameter's gradient
   (the poolings' gradients flow into the convolutions' below them);
3. PyTorch computes the same from the HDF5 weights alone, in double; each
   must agree to a relative error of 1e-4 (max |a - b| / max |b| per
   tensor).

Exits 77 (meson's "skipped") when torch or h5py is missing.
"""
import os
import sys

from common import compare, grad_checks, load_params, train_and_grad

try:
    import h5py  # noqa: F401 (common.py reads and writes the HDF5 files with it)
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # the reference is optional; nabla never needs it
    print(f"skipped: {e}")
    sys.exit(77)

N, C, H, W, OUT = 16, 2, 11, 12, 3


LAYERS = {
    "a": """  - conv2d: {filters: 4, kernel: 3, stride: [2, 1], pad: [1, 0, 2, 1], dilation: [1, 2], activation: tanh}
  - maxpool2d: {kh: 3, kw: 2, stride: [2, 1], pad: [1, 0], ceil_mode: true}
  - conv2d: {filters: 3, kernel: 2, activation: tanh}
  - avgpool2d: {size: 2, pad: 1, count_include_pad: false}
""",
    "b": """  - conv2d: {filters: 4, kernel: 3, activation: tanh}
  - avgpool2d: {size: 3, stride: 2, pad: 1, ceil_mode: true}
  - maxpool2d: {kh: 2, kw: 3, stride: 3, pad: 1, ceil_mode: true}
""",
}


def model(kind):
    return f"""nabla: 1
input: {{x: [{C}, {H}, {W}]}}
layers:
{LAYERS[kind]}  - flatten
  - dense: {{units: {OUT}}}
loss: mse
optimizer: {{adam: {{lr: 0.02}}}}
train: {{batch: 8, epochs: 1, seed: 3}}
data: {{format: hdf5, train: data.h5}}
"""


def reference(kind, p, x):
    """The same network in PyTorch; p maps 'conv2d1/w' to a leaf tensor."""
    if kind == "a":
        h = F.pad(x, (0, 1, 1, 2))  # left, right, top, bottom
        h = torch.tanh(F.conv2d(h, p["conv2d1/w"], p["conv2d1/b"], stride=(2, 1),
                                dilation=(1, 2)))
        h = F.max_pool2d(h, (3, 2), stride=(2, 1), padding=(1, 0), ceil_mode=True)
        h = torch.tanh(F.conv2d(h, p["conv2d2/w"], p["conv2d2/b"]))
        h = F.avg_pool2d(h, 2, padding=1, count_include_pad=False)
    else:
        h = torch.tanh(F.conv2d(x, p["conv2d1/w"], p["conv2d1/b"]))
        h = F.avg_pool2d(h, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=True)
        h = F.max_pool2d(h, (2, 3), stride=3, padding=1, ceil_mode=True)
    return torch.flatten(h, 1) @ p["dense1/w"] + p["dense1/b"]


def check(kind, work, nabla):
    rng = np.random.default_rng(11)
    x = rng.uniform(-1, 1, (N, C, H, W)).astype(np.float32)
    y = rng.uniform(-0.5, 0.5, (N, OUT)).astype(np.float32)
    weights, grads = train_and_grad(nabla, work, kind, model(kind), x, y)
    params = {name: torch.tensor(v, requires_grad=True)
              for name, v in load_params(weights).items()}
    out = reference(kind, params, torch.tensor(x, dtype=torch.float64))
    loss = 0.5 * ((out - torch.tensor(y, dtype=torch.float64)) ** 2).sum() / N
    loss.backward()

    checks = grad_checks(grads, loss, out,
                         {name: t.grad.numpy() for name, t in sorted(params.items())})
    worst = compare(checks, f"model {kind}")
    print(f"model {kind}: loss, output and {len(checks) - 2} gradients agree with PyTorch; "
          f"worst {worst:.2e}")


def main():
    nabla, work = sys.argv[1:3]
    os.makedirs(work, exist_ok=True)
    for kind in ("a", "b"):
        check(kind, work, nabla)


if __name__ == "__main__":
    main()
