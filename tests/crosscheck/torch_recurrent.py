#!/usr/bin/python3
"""Cross-checks nabla's rnn, gru and lstm layers against PyTorch's.

usage: torch_recurrent.py NABLA_EXE WORKDIR

For each cell, a two-layer bidirectional layer over sequences of 5 steps
of 3 features, once returning every step's output and once the final
states, under a squared-error loss:

1. `nabla train` one short epoch (Adam), so the weights are trained, not
   just initialised, and stored in nabla's HDF5 layout;
2. `nabla grad` writes the loss, the output and every parameter's gradient;
3. PyTorch's nn.RNN / nn.GRU / nn.LSTM (batch_first=True), given the HDF5
   weights by their names alone (weight_ih_l0, bias_hh_l1_reverse, ...),
   computes the same; each must agree to a relative error of 1e-4
   (max |a - b| / max |b| per tensor).

Exits 77 (meson's "skipped") when torch or h5py is missing.
"""
import os
import sys

from common import compare, grad_checks, load_params, train_and_grad

try:
    import h5py  # noqa: F401 (common.py reads and writes the HDF5 files with it)
    import numpy as np
    import torch
except ImportError as e:  # the reference is optional; nabla never needs it
    print(f"skipped: {e}")
    sys.exit(77)

N, T, F, H, LAYERS = 16, 5, 3, 4, 2


def model(cell, sequence):
    return f"""nabla: 1
input: {{x: [{T}, {F}]}}
layers:
  - {{{cell}: {{hidden: {H}, layers: {LAYERS}, bidirectional: true, sequence: {str(sequence).lower()}}}}}
  - flatten
loss: mse
optimizer: {{adam: {{lr: 0.05}}}}
train: {{batch: 8, epochs: 1, seed: 3}}
data: {{format: hdf5, train: data.h5}}
"""


def reference(cell, params, x, sequence):
    cls = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[cell]
    net = cls(F, H, num_layers=LAYERS, bidirectional=True, batch_first=True).double()
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.copy_(torch.tensor(params[f"{cell}1/{name}"]))
    out, state = net(torch.tensor(x))
    h_n = state[0] if cell == "lstm" else state
    if sequence:
        y = out
    else:  # the last layer's final states, forward then backward
        y = torch.cat([h_n[-2], h_n[-1]], dim=1)
    return net, y.reshape(N, -1)


def check(cell, sequence, work, nabla):
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, (N, T, F)).astype(np.float32)
    width = T * 2 * H if sequence else 2 * H
    y = rng.uniform(-0.5, 0.5, (N, width)).astype(np.float32)
    weights, grads = train_and_grad(nabla, work, cell, model(cell, sequence), x, y)

    torch.set_default_dtype(torch.float64)  # the reference in double
    net, out = reference(cell, load_params(weights), x.astype(np.float64), sequence)
    loss = 0.5 * ((out - torch.tensor(y, dtype=torch.float64)) ** 2).sum() / N
    loss.backward()

    checks = grad_checks(grads, loss, out, {f"{cell}1/{name}": p.grad.numpy()
                                            for name, p in net.named_parameters()})
    worst = compare(checks, f"{cell} (sequence {sequence})")
    print(f"{cell:4s} sequence={str(sequence):5s}: loss, output and {len(checks) - 2} gradients "
          f"agree with PyTorch; worst {worst:.2e}")


def main():
    nabla, work = sys.argv[1:3]
    os.makedirs(work, exist_ok=True)
    for cell in ("rnn", "gru", "lstm"):
        for sequence in (True, False):
            check(cell, sequence, work, nabla)


if __name__ == "__main__":
    main()
