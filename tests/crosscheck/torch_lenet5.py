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
import subprocess
import sys

try:
    import h5py
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # the reference is optional; nabla never needs it
    print(f"skipped: {e}")
    sys.exit(77)

TOL = 1e-4


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 0x803:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data[16:], np.uint8).reshape(n, 1, rows, cols)
    return np.frombuffer(data[8:], np.uint8)


def run(*args):
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


def main():
    nabla, model, fixtures, work = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    data = os.path.join(work, "data")
    os.makedirs(data, exist_ok=True)
    for split, name in (("train", "train"), ("t10k", "test")):
        for kind in ("images-idx3", "labels-idx1"):
            dst = os.path.join(data, f"{split}-{kind}-ubyte.gz")
            if not os.path.exists(dst):
                os.symlink(os.path.abspath(os.path.join(fixtures, f"fmnist-{name}-{kind}-ubyte.gz")), dst)
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
    with h5py.File(xfile, "w") as f:
        f["X"] = x
        f["y"] = y
    run(nabla, "grad", yaml, "--weights", weights, "--input", xfile, "--output", gfile)

    torch.set_default_dtype(torch.float64)  # the reference in double
    with h5py.File(weights, "r") as f:
        params = {}

        def take(name, obj):
            if isinstance(obj, h5py.Dataset):
                params[name] = torch.tensor(np.array(obj), dtype=torch.float64, requires_grad=True)

        f["params"].visititems(take)

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

    worst = 0.0
    with h5py.File(gfile, "r") as f:
        checks = [("loss", np.array(f["loss"]).reshape(-1), loss.detach().numpy().reshape(-1)),
                  ("output", np.array(f["output"]), logits.detach().numpy())]
        for name, t in sorted(params.items()):
            checks.append((f"grad/{name}", np.array(f["grad"][name]), t.grad.numpy()))
    for name, got, want in checks:
        if got.shape != want.shape:
            sys.exit(f"{name}: nabla shape {got.shape}, PyTorch {want.shape}")
        err = float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30))
        worst = max(worst, err)
        print(f"{name:24s} {str(list(got.shape)):18s} rel err {err:.2e}")
        if err > TOL:
            sys.exit(f"{name}: relative error {err:.3e} > {TOL}")
    print(f"crosscheck: loss, output and {len(params)} gradients agree with PyTorch; worst {worst:.2e}")


if __name__ == "__main__":
    main()
