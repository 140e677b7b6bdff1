"""What the cross-checks of this folder share: running nabla, the
Fashion-MNIST fixtures linked where nabla's idx reader looks, a model
trained and its gradients written by `nabla grad`, the weights read back,
and nabla's numbers held to a reference's by relative error.

The scripts import it from their own folder (python3 puts a script's folder
first on sys.path, whatever the working directory). h5py and NumPy are
optional here: each script imports what it needs itself and exits 77
(skipped) without it, so that a fault in this file fails a script instead
of skipping it.
"""
import os
import subprocess
import sys

try:
    import h5py
    import numpy as np
except ImportError:  # the scripts skip before calling what needs them
    h5py = np = None

TOL = 1e-4


def run(*args):
    """Runs a command and returns its output; exits with it when it fails."""
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


def link_fmnist(fixtures, data):
    """Links the Fashion-MNIST fixtures (fmnist-train-…, fmnist-test-…) into
    the folder data under the names nabla reads (train-…, t10k-…)."""
    os.makedirs(data, exist_ok=True)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        for kind in ("images-idx3", "labels-idx1"):
            link = os.path.join(data, f"{prefix}-{kind}-ubyte.gz")
            if not os.path.exists(link):
                os.symlink(os.path.abspath(os.path.join(fixtures, f"fmnist-{split}-{kind}-ubyte.gz")),
                           link)


def write_data(path, x, y=None):
    """x (and y) as the datasets X (and y) of a new HDF5 file."""
    with h5py.File(path, "w") as f:
        f["X"] = x
        if y is not None:
            f["y"] = y


def predict(nabla, weights, inputs, out):
    """`nabla predict` of the HDF5 file inputs with weights, written to out;
    returns the output."""
    run(nabla, "predict", weights, "--input", inputs, "--output", out)
    with h5py.File(out, "r") as f:
        return f["output"][()]


def train_and_grad(nabla, work, name, text, x, y):
    """Writes x and y to WORK/data.h5 (the file the model's data section
    names) and the model text to WORK/NAME.yaml; `nabla train` runs the
    model's train section, so the weights are trained, not just initialised;
    `nabla grad` on the same data writes the loss, the output and every
    parameter's gradient. Returns the paths of the weights and gradients."""
    data = os.path.join(work, "data.h5")
    write_data(data, x, y)
    yaml = os.path.join(work, f"{name}.yaml")
    with open(yaml, "w") as f:
        f.write(text)
    weights, grads = os.path.join(work, f"{name}.h5"), os.path.join(work, f"{name}_grad.h5")
    run(nabla, "train", yaml, "--out", weights, "--quiet", "--no-graph")
    run(nabla, "grad", yaml, "--weights", weights, "--input", data, "--output", grads)
    return weights, grads


def load_params(path):
    """The parameters of a weights file in double: {'dense1/w': array, …}."""
    params = {}
    with h5py.File(path, "r") as f:
        def take(name, obj):
            if isinstance(obj, h5py.Dataset):
                params[name] = np.array(obj, dtype=np.float64)
        f["params"].visititems(take)
    return params


def grad_checks(grads, loss, out, want):
    """(what, nabla's, the reference's) for the loss, the output and each
    gradient of want ({'dense1/w': the reference's gradient}, in the order
    to check) against the file `nabla grad` wrote; loss and out are the
    reference's torch tensors."""
    with h5py.File(grads, "r") as f:
        checks = [("loss", np.array(f["loss"]).reshape(-1), loss.detach().numpy().reshape(-1)),
                  ("output", np.array(f["output"]), out.detach().numpy())]
        for name, g in want.items():
            checks.append((f"grad/{name}", np.array(f["grad"][name]), g))
    return checks


def stored_grads(grads):
    """The names ('dense1/w', …) of the gradients `nabla grad` wrote."""
    names = set()
    with h5py.File(grads, "r") as f:
        f["grad"].visititems(lambda n, o: names.add(n) if isinstance(o, h5py.Dataset) else None)
    return names


def relerr(got, want):
    """max |got - want| / max |want|."""
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30))


def compare(checks, label="", tol=TOL, show=False):
    """Holds each (what, nabla's, the reference's) of checks to a relative
    error of tol, printing each when show; exits naming the first whose
    shapes differ or that is off, prefixed with label. Returns the worst."""
    where = f"{label}: " if label else ""
    worst = 0.0
    for what, got, want in checks:
        if got.shape != want.shape:
            sys.exit(f"{where}{what}: nabla shape {got.shape}, PyTorch {want.shape}")
        err = relerr(got, want)
        worst = max(worst, err)
        if show:
            print(f"{what:24s} {str(list(got.shape)):18s} rel err {err:.2e}")
        if err > tol:
            sys.exit(f"{where}{what}: relative error {err:.3e} > {tol}")
    return worst
