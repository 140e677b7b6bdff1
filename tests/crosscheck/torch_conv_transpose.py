#!/usr/bin/python3
"""Cross-checks nabla's conv_transpose2d layer against PyTorch's
nn.ConvTranspose2d.

usage: torch_conv_transpose.py NABLA_EXE WORKDIR

Two small decoders of two transposed convolutions each, between them
stride 2 and 3, padding, output_padding (below the stride, and one at
least the stride but below the dilation), dilation 2, groups 2, a
rectangular kernel, an activation and a layer without bias, under a
squared-error loss:

1. `nabla train` one short epoch (Adam), so the weights are trained, not
   just initialised, and stored in nabla's HDF5 layout;
2. `nabla grad` writes the loss, the output and every parameter's gradient;
3. PyTorch's nn.ConvTranspose2d, given the HDF5 weights by their names
   alone (w → weight, b → bias: the same layout, [C, filters/groups, kh,
   kw]), computes the same in double; each must agree to a relative error
   of 1e-4 (max |a - b| / max |b| per tensor).

Exits 77 (meson's "skipped") when torch or h5py is missing.
"""
import os
import sys

from common import compare, grad_checks, train_and_grad

try:
    import h5py
    import numpy as np
    import torch
except ImportError as e:  # the reference is optional; nabla never needs it
    print(f"skipped: {e}")
    sys.exit(77)

N = 12

# (input shape, [layer options as nabla writes them, activation]); PyTorch's
# keywords follow from the same numbers.
MODELS = {
    "stride2": ((3, 5, 4), [
        dict(filters=4, kernel=3, stride=2, pad=1, output_padding=1, act="tanh"),
        dict(filters=2, kh=2, kw=3, dilation=2, groups=2, pad=1),
    ]),
    "stride3": ((4, 3, 3), [
        dict(filters=6, kernel=4, stride=3, pad=2, output_padding=2, groups=2, act="sigmoid"),
        dict(filters=3, kernel=3, output_padding=1, dilation=2, bias=False),
    ]),
}


def yaml_of(shape, layers):
    lines = [f"nabla: 1", f"input: {{x: {list(shape)}}}", "layers:"]
    for o in layers:
        opts = [f"{k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in o.items()
                if k != "act"]
        if "act" in o:
            opts.append(f"activation: {o['act']}")
        lines.append(f"  - conv_transpose2d: {{{', '.join(opts)}}}")
    lines += ["  - flatten", "loss: mse", "optimizer: {adam: {lr: 0.02}}",
              "train: {batch: 4, epochs: 1, seed: 3}", "data: {format: hdf5, train: data.h5}"]
    return "\n".join(lines) + "\n"


def torch_net(shape, layers):
    mods, c = [], shape[0]
    for o in layers:
        kh, kw = (o["kernel"], o["kernel"]) if "kernel" in o else (o["kh"], o["kw"])
        mods.append(torch.nn.ConvTranspose2d(
            c, o["filters"], (kh, kw), stride=o.get("stride", 1), padding=o.get("pad", 0),
            output_padding=o.get("output_padding", 0), groups=o.get("groups", 1),
            bias=o.get("bias", True), dilation=o.get("dilation", 1)))
        if "act" in o:
            mods.append({"tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}[o["act"]]())
        c = o["filters"]
    return torch.nn.Sequential(*mods).double()


def check(name, shape, layers, work, nabla):
    torch.set_default_dtype(torch.float64)  # the reference in double
    net = torch_net(shape, layers)
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (N, *shape)).astype(np.float32)
    width = net(torch.zeros(1, *shape)).numel()
    y = rng.uniform(-0.5, 0.5, (N, width)).astype(np.float32)
    weights, grads = train_and_grad(nabla, work, name, yaml_of(shape, layers), x, y)

    convs = [m for m in net if isinstance(m, torch.nn.ConvTranspose2d)]
    with h5py.File(weights, "r") as f, torch.no_grad():
        for i, m in enumerate(convs):
            group = f["params"][f"conv_transpose2d{i + 1}"]
            if group["w"].attrs["layout"] != b"IOHW" and group["w"].attrs["layout"] != "IOHW":
                sys.exit(f"{name}: conv_transpose2d{i + 1}/w has layout "
                         f"{group['w'].attrs['layout']!r}, not IOHW")
            m.weight.copy_(torch.tensor(np.array(group["w"], dtype=np.float64)))
            if m.bias is not None:
                m.bias.copy_(torch.tensor(np.array(group["b"], dtype=np.float64)))
    out = net(torch.tensor(x, dtype=torch.float64)).reshape(N, -1)
    loss = 0.5 * ((out - torch.tensor(y, dtype=torch.float64)) ** 2).sum() / N
    loss.backward()

    want = {}
    for i, m in enumerate(convs):
        want[f"conv_transpose2d{i + 1}/w"] = m.weight.grad.numpy()
        if m.bias is not None:
            want[f"conv_transpose2d{i + 1}/b"] = m.bias.grad.numpy()
    checks = grad_checks(grads, loss, out, want)
    worst = compare(checks, name)
    print(f"{name}: loss, output [{N}, {width}] and {len(checks) - 2} gradients agree with "
          f"PyTorch's nn.ConvTranspose2d; worst {worst:.2e}")


def main():
    nabla, work = sys.argv[1:3]
    os.makedirs(work, exist_ok=True)
    for name, (shape, layers) in MODELS.items():
        check(name, shape, layers, work, nabla)


if __name__ == "__main__":
    main()
