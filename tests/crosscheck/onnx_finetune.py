#!/usr/bin/python3
"""Fine-tunes models that `nabla import` brought from PyTorch with `nabla train`.

usage: onnx_finetune.py NABLA WORKDIR

1. The MLP of onnx_import.py (dropout, softmax at the end), imported, with a
   data section added: one step at a learning rate of 1e-9 from the imported
   weights (`--init-weights`) scores what the imported model scores under
   `nabla eval`, and not what the model's initialisers score — training
   starts from the imported weights.
2. The residual batch-norm CNN of onnx_import.py, its batch-norm running
   statistics those of the data (as after training on it), labelled by its
   own predictions: the imported model classifies all of them right;
   `nabla train --init-weights` fine-tunes it one epoch (train mode: batch
   statistics, running statistics updated) and it still classifies at least
   80 % right, where the same epoch from the initialisers stays near chance
   (1 in 6).

Exits 77 (meson's "skipped") when torch or h5py is missing.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import run, write_data  # noqa: E402 (from this folder, put first just above)

try:
    import h5py  # noqa: F401 (common.py reads and writes the HDF5 files with it)
    import numpy as np
    import torch
    from onnx_import import CNN, MLP, randomise
except ImportError as e:  # PyTorch is optional; nabla never needs it
    print(f"skipped: {e}")
    sys.exit(77)


def closing(out, key):
    """key=value from nabla's closing line."""
    m = re.search(rf"\b{key}=(\S+)", out)
    if not m:
        sys.exit(f"no {key}= in:\n{out}")
    return float(m.group(1))


def imported(nabla, work, name, model, shape, dynamic):
    """model exported at opset 13 and imported: the YAML text and weights path."""
    onnx_path = os.path.join(work, name + ".onnx")
    kw = {"dynamic_axes": {"x": {0: "N"}, "y": {0: "N"}}} if dynamic else {}
    torch.onnx.export(model, torch.randn([2] + shape), onnx_path, opset_version=13,
                      input_names=["x"], output_names=["y"], **kw)
    yaml, w = os.path.join(work, name + ".yaml"), os.path.join(work, name + ".h5")
    run(nabla, "import", onnx_path, "-o", yaml, "--weights", w)
    with open(yaml) as f:
        return f.read(), w


def with_data(work, name, text, x, y, optimizer, batch):
    """The imported YAML with a data section (train and test: x, y) added."""
    data = os.path.join(work, name + "_data.h5")
    write_data(data, x.astype(np.float32), y.astype(np.float32))
    path = os.path.join(work, name + "_tune.yaml")
    with open(path, "w") as f:
        f.write(text + f"optimizer: {optimizer}\n"
                f"train: {{batch: {batch}, epochs: 1, seed: 1, shuffle: true}}\n"
                f"data: {{format: hdf5, train: {data}, test: {data}}}\n")
    return path


def check_starts_from_imported(nabla, work):
    torch.manual_seed(3)
    model = MLP()
    model.eval()
    text, w = imported(nabla, work, "ft_mlp", model, [20], True)
    x = torch.randn(64, 20)
    y = torch.randint(0, 5, (64,))
    tune = with_data(work, "ft_mlp", text, x.numpy(), y.numpy(), "{adam: {lr: 1.0e-9}}", 2)
    scored = closing(run(nabla, "eval", tune, "--weights", w), "test_loss")
    common = ["--epochs", "1", "--limit", "2", "--no-graph", "--quiet"]
    tuned = closing(run(nabla, "train", tune, "--init-weights", w, "--out",
                        os.path.join(work, "ft_mlp_tuned.h5"), *common), "test_loss")
    fresh = closing(run(nabla, "train", tune, "--out", os.path.join(work, "ft_mlp_fresh.h5"),
                        *common), "test_loss")
    ok = abs(tuned - scored) <= 1e-4 * max(1.0, abs(scored)) and abs(fresh - scored) > 1e-3
    print(f"{'ok' if ok else 'FAILED'} mlp: one step at lr 1e-9 from the imported weights "
          f"scores {tuned:.6f}, the imported model {scored:.6f}, from the initialisers {fresh:.6f}")
    return ok


def check_fine_tune_cnn(nabla, work):
    torch.manual_seed(11)
    model = CNN()
    randomise(model)
    x = torch.randn(512, 3, 12, 12)
    # running statistics of the data itself, as after training on it
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # a cumulative mean over the passes
    model.train()
    with torch.no_grad():
        for chunk in x.split(64):
            model(chunk)
    model.eval()
    with torch.no_grad():
        labels = model(x).argmax(1)
    text, w = imported(nabla, work, "ft_cnn", model, [3, 12, 12], False)
    tune = with_data(work, "ft_cnn", text, x.numpy(), labels.numpy(), "{adam: {lr: 1.0e-4}}", 32)
    before = closing(run(nabla, "eval", tune, "--weights", w), "test_acc")
    common = ["--epochs", "1", "--no-graph", "--quiet"]
    out = run(nabla, "train", tune, "--init-weights", w, "--out",
              os.path.join(work, "ft_cnn_tuned.h5"), *common)
    after, loss = closing(out, "test_acc"), closing(out, "loss")
    fresh = closing(run(nabla, "train", tune, "--out", os.path.join(work, "ft_cnn_fresh.h5"),
                        *common), "test_acc")
    ok = before >= 0.999 and after >= 0.8 and fresh <= 0.5 and np.isfinite(loss)
    print(f"{'ok' if ok else 'FAILED'} cnn: imported {before:.3f} right, after one epoch of "
          f"fine-tuning {after:.3f} (training loss {loss:.4f}), the same epoch from the "
          f"initialisers {fresh:.3f}")
    return ok


def main():
    nabla, work = (os.path.abspath(a) for a in sys.argv[1:3])
    os.makedirs(work, exist_ok=True)
    ok = check_starts_from_imported(nabla, work)
    ok &= check_fine_tune_cnn(nabla, work)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
