#!/usr/bin/python3
"""Cross-checks `nabla grad` against PyTorch on LeNet-5.

usage: torch_lenet5.py NABLA_EXE MODEL_YAML FIXTURE_DIR WORKDIR

1. `nabla train` one short epoch on the fixture, so the weights are trained
   (not just initialised) and stored in nabla's HDF5 layout;
2. 32 fixture images and labels go to X.h5 (h5py, no nabla code);
3. `nabla grad` writes the loss, the logits and every parameter's gradient;
4. PyTorch builds the same LeNet-5 from the HDF5 weights alone and computes
   the same three things; each must agree to a relative error of 1e-4
   (max |a - b| / max |b| per tensor).

Exits 77 (meson's "skipped") when torch or h5py is missing.
"""
import gzip
import os
import struct
import sys

from common import compare, grad_checks, link_fmnist, load_params, run, write_data

try:
    import h5py  # noqa: F401 (common.py reads and writes the HDF5 files with it)
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # the reference is optional; nabla never needs it
    print(f"skipped: {e}")
    sys.exit(77)

def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 0x803:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data[16:], np.uint8).reshape(n, 1, rows, cols)
    return np.frombuffer(data[8:], np.uint8)


def main():
    nabla, model, fixtures, work = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    data = os.path.join(work, "data")
    link_fmnist(fixtures, data)
    text = open(model).read().replace("/usr/share/datasets/fashion-mnist", data)
    yaml = os.path.join(work, "lenet5.yaml")
    open(yaml, "w").write(text)

    weights = os.path.join(work, "w.h5")
    run(nabla, "train", yaml, "--epochs", "1", "--limit", "256", "--out", weights,
        "--graph", os.path.join(work, "g.svg"), "--quiet")

    images = idx(os.path.join(fixtures, "fmnist-test-images-idx3-ubyte.gz"))[:32]
    labels = idx(os.path.join(fixtures, "fmnist-test-labels-idx1-ubyte.gz"))[:32]
    x = (images.astype(np.float32) / 255.0)
    y = labels.astype(np.float32)
    xfile, gfile = os.path.join(work, "X.h5"), os.path.join(work, "grad.h5")
    write_data(xfile, x, y)
    run(nabla, "grad", yaml, "--weights", weights, "--input", xfile, "--output", gfile)

    torch.set_default_dtype(torch.float64)  # the reference in double
    params = {name: torch.tensor(v, requires_grad=True)
              for name, v in load_params(weights).items()}

    def layer(kind, i):
        return params[f"{kind}{i}/w"], params[f"{kind}{i}/b"]

    xt = torch.tensor(x, dtype=torch.float64)
    w, b = layer("conv2d", 1)
    h = F.max_pool2d(F.relu(F.conv2d(xt, w, b, padding=2)), 2)
    w, b = layer("conv2d", 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, w, b)), 2)
    h = h.reshape(h.shape[0], -1)
    for i in (1, 2):
        w, b = layer("dense", i)
        h = F.relu(h @ w + b)
    w, b = params["logits/w"], params["logits/b"]  # lenet5.yaml names its last layer
    logits = h @ w + b
    loss = F.cross_entropy(logits, torch.tensor(labels.astype(np.int64)))
    loss.backward()

    checks = grad_checks(gfile, loss, logits,
                         {name: t.grad.numpy() for name, t in sorted(params.items())})
    worst = compare(checks, show=True)
    print(f"crosscheck: loss, output and {len(params)} gradients agree with PyTorch; worst {worst:.2e}")


if __name__ == "__main__":
    main()
