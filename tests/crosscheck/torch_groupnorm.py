#!/usr/bin/python3
"""Cross-checks nabla's groupnorm layer against PyTorch's nn.GroupNorm.

usage: torch_groupnorm.py NABLA_EXE WORKDIR

Two models under a squared-error loss, each:

1. `nabla train` one short epoch (Adam), so gamma and beta are trained,
   not ones and zeros, and stored in nabla's HDF5 layout;
2. `nabla grad` writes the loss, the output and every parameter's gradient
   (the convolution's and dense layer's below a group norm carry its input
   gradient);
3. the same network in PyTorch, with nn.GroupNorm(groups, C, eps, affine)
   given the HDF5 weights by name, computes the same in double; each must
   agree to a relative error of 1e-4 (max |a - b| / max |b| per tensor).

The models: images through conv2d → groupnorm (2 groups of 2 channels,
eps 1e-3) → relu → flatten → dense → groupnorm over the 8 units (4 groups,
no affine) → tanh → dense; and conv2d without bias (which the next layer
would cancel) → groupnorm with one channel a group (instance norm) →
flatten → dense → groupnorm in one group (layer norm) → dense.

Exits 77 (meson's "skipped") when torch or h5py is missing.
"""
import os
import sys

from common import compare, grad_checks, load_params, stored_grads, train_and_grad

try:
    import h5py  # noqa: F401 (common.py reads and writes the HDF5 files with it)
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # the reference is optional; nabla never needs it
    print(f"skipped: {e}")
    sys.exit(77)

N, C_IN, H, W, OUT = 16, 2, 6, 6, 3

# (name, nabla layers, groupnorm settings in order: (groups, channels, eps, affine))
MODELS = [
    ("two_groups", """  - {conv2d: {filters: 4, kernel: 3}}
  - {groupnorm: {groups: 2, eps: 0.001}}
  - relu
  - flatten
  - {dense: {units: 8}}
  - {groupnorm: {groups: 4, affine: false}}
  - tanh
  - {dense: {units: 3}}
""", [(2, 4, 1e-3, True), (4, 8, 1e-5, False)]),
    ("instance_and_layer", """  - {conv2d: {filters: 3, kernel: 3, pad: 1, bias: false}}
  - {groupnorm: {groups: 3}}
  - flatten
  - {dense: {units: 6}}
  - {groupnorm: {groups: 1}}
  - {dense: {units: 3}}
""", [(3, 3, 1e-5, True), (1, 6, 1e-5, True)]),
]


def model_text(layers):
    return f"""nabla: 1
input: {{x: [{C_IN}, {H}, {W}]}}
layers:
{layers}loss: mse
optimizer: {{adam: {{lr: 0.05}}}}
train: {{batch: 8, epochs: 1, seed: 3}}
data: {{format: hdf5, train: data.h5}}
"""


def reference(params, x, norms, layers):
    """The network in PyTorch; returns its output and {nabla name: tensor}."""
    named, gn_i, conv_i, dense_i = {}, 0, 0, 0
    h = torch.tensor(x)
    for line in layers.splitlines():
        item = line.strip()[2:]
        if item.startswith("{conv2d"):
            conv_i += 1
            w = named[f"conv2d{conv_i}/w"] = params[f"conv2d{conv_i}/w"]
            b = None
            if "bias: false" not in item:  # a bias right before instance norm cancels out
                b = named[f"conv2d{conv_i}/b"] = params[f"conv2d{conv_i}/b"]
            h = F.conv2d(h, w, b, padding=1 if "pad: 1" in item else 0)
        elif item.startswith("{groupnorm"):
            groups, channels, eps, affine = norms[gn_i]
            gn_i += 1
            gn = torch.nn.GroupNorm(groups, channels, eps=eps, affine=affine).double()
            if affine:
                with torch.no_grad():
                    gn.weight.copy_(params[f"groupnorm{gn_i}/gamma"])
                    gn.bias.copy_(params[f"groupnorm{gn_i}/beta"])
                named.update({f"groupnorm{gn_i}/gamma": gn.weight, f"groupnorm{gn_i}/beta": gn.bias})
            h = gn(h)
        elif item.startswith("{dense"):
            dense_i += 1
            w, b = (params[f"dense{dense_i}/{k}"] for k in ("w", "b"))
            named.update({f"dense{dense_i}/w": w, f"dense{dense_i}/b": b})
            h = h @ w + b
        elif item == "relu":
            h = F.relu(h)
        elif item == "tanh":
            h = torch.tanh(h)
        elif item == "flatten":
            h = h.reshape(h.shape[0], -1)
        else:
            sys.exit(f"unknown layer {item}")
    return h, named


def check(name, layers, norms, work, nabla):
    rng = np.random.default_rng(11)
    x = rng.uniform(-1, 1, (N, C_IN, H, W)).astype(np.float32)
    y = rng.uniform(-0.5, 0.5, (N, OUT)).astype(np.float32)
    weights, grads = train_and_grad(nabla, work, name, model_text(layers), x, y)

    torch.set_default_dtype(torch.float64)  # the reference in double
    params = {n: torch.tensor(v, requires_grad=True) for n, v in load_params(weights).items()}
    for k, (groups, channels, eps, affine) in enumerate(norms):
        gamma = params.get(f"groupnorm{k + 1}/gamma")
        if affine and np.allclose(gamma.detach().numpy(), 1.0):
            sys.exit(f"{name}: groupnorm{k + 1}/gamma was not trained; the check would be weak")
    out, named = reference(params, x.astype(np.float64), norms, layers)
    loss = 0.5 * ((out - torch.tensor(y, dtype=torch.float64)) ** 2).sum() / N
    loss.backward()

    stored = stored_grads(grads)
    if stored != set(named):
        sys.exit(f"{name}: nabla's gradients {sorted(stored)}, PyTorch's {sorted(named)}")
    checks = grad_checks(grads, loss, out, {p: t.grad.numpy() for p, t in sorted(named.items())})
    worst = compare(checks, name)
    print(f"{name:20s}: loss, output and {len(checks) - 2} gradients agree with PyTorch's "
          f"nn.GroupNorm; worst {worst:.2e}")


def main():
    nabla, work = sys.argv[1:3]
    os.makedirs(work, exist_ok=True)
    for name, layers, norms in MODELS:
        check(name, layers, norms, work, nabla)


if __name__ == "__main__":
    main()
