#!/usr/bin/python3
"""gen.py ROOT NABLA: writes the binary cases of the hostile-input corpus.

Text cases (YAML, CSV) are files in tests/hostile/<class>/; the binary ones
(HDF5, IDX, gzip, float32 records) are written here, reproducibly, into
ROOT/<class>/ beside them (test_hostile.sh runs this on a copy of the corpus
in the build folder). Each writer below says what is wrong with its file;
the class's `cases` manifest says what nabla must print for it.

The good weights and checkpoint that the broken ones start from are written
by NABLA itself (one epoch of weights/model.yaml on weights/data.h5), so
they always have the layout this nabla writes.
"""
import gzip
import os
import shutil
import struct
import subprocess
import sys

import h5py
import numpy as np

ROOT, NABLA = sys.argv[1], sys.argv[2]


def path(*parts):
    p = os.path.join(ROOT, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def examples(n=6, d=4):
    """n examples of d features and their class labels (0 or 1)."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(n, d)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    return x, y


def write_data(p, x, y, xname="X", yname="y"):
    with h5py.File(p, "w") as f:
        if x is not None:
            f[xname] = x
        if y is not None:
            f[yname] = y


def copy_edit(src, dst, edit):
    """dst: a copy of src, changed by edit(h5py.File)."""
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        edit(f)


def replace(f, name, data, **kw):
    attrs = dict(f[name].attrs) if name in f else {}
    if name in f:
        del f[name]
    f.create_dataset(name, data=data, **kw)
    for k, v in attrs.items():
        f[name].attrs[k] = v


def truncated(src, dst, frac):
    data = open(src, "rb").read()
    open(dst, "wb").write(data[: int(len(data) * frac)])


# ---------------------------------------------------------------- weights

def weights():
    x, y = examples()
    write_data(path("weights", "data.h5"), x, y)
    write_data(path("checkpoint", "data.h5"), x, y)
    good, ck = path("weights", "good.h5"), path("checkpoint", "good.h5")
    subprocess.run([NABLA, "train", path("weights", "model.yaml"), "-q", "--no-graph",
                    "--out", good, "--checkpoint", ck], check=True, stdout=subprocess.DEVNULL)
    w = lambda name: path("weights", name + ".h5")

    copy_edit(good, w("missing-param"), lambda f: f.__delitem__("params/out/b"))
    copy_edit(good, w("missing-layer"), lambda f: f.__delitem__("params/h"))
    copy_edit(good, w("extra-param"), lambda f: f.create_dataset(
        "params/out/c", data=np.zeros(2, np.float32)))
    copy_edit(good, w("extra-layer"), lambda f: f.create_dataset(
        "params/h2/w", data=np.zeros((3, 3), np.float32)))
    copy_edit(good, w("transposed"), lambda f: replace(
        f, "params/h/w", np.zeros((3, 4), np.float32)))
    copy_edit(good, w("wrong-rank"), lambda f: replace(
        f, "params/out/b", np.zeros((2, 1), np.float32)))
    copy_edit(good, w("scalar-param"), lambda f: replace(
        f, "params/out/b", np.float32(0)))
    copy_edit(good, w("strings-param"), lambda f: replace(
        f, "params/out/b", np.array([b"0.5", b"1.5"])))
    copy_edit(good, w("compound-param"), lambda f: replace(
        f, "params/out/b", np.zeros(2, dtype=[("re", "f4"), ("im", "f4")])))
    copy_edit(good, w("param-is-group"), lambda f: (
        f.__delitem__("params/out/b"), f.create_group("params/out/b/inner")))
    copy_edit(good, w("params-is-dataset"), lambda f: (
        f.__delitem__("params"), f.create_dataset("params", data=np.zeros(3, np.float32))))
    copy_edit(good, w("huge-dims"), lambda f: replace(
        f, "params/out/b", None, shape=(1 << 40,), dtype=np.float32, chunks=(1024,)))
    copy_edit(good, w("empty-param"), lambda f: replace(
        f, "params/out/b", np.zeros(0, np.float32)))
    copy_edit(good, w("null-dataspace"), lambda f: replace(
        f, "params/out/b", h5py.Empty("f4")))
    copy_edit(good, w("format-attr"), lambda f: f.attrs.__setitem__("format", "keras"))
    copy_edit(good, w("no-format-attr"), lambda f: f.attrs.__delitem__("format"))
    copy_edit(good, w("version-99"), lambda f: f.attrs.__setitem__("version", np.int64(99)))
    copy_edit(good, w("version-string"), lambda f: f.attrs.__setitem__("version", "1"))
    copy_edit(good, w("no-model-yaml"), lambda f: f.__delitem__("model_yaml"))
    copy_edit(good, w("model-yaml-numbers"), lambda f: replace(
        f, "model_yaml", np.arange(5, dtype=np.int32)))
    copy_edit(good, w("model-yaml-broken"), lambda f: replace(
        f, "model_yaml", "nabla: 1\nname: mlp\ninput: {x: [4]\nlayers:\n  - relu\n"))
    copy_edit(good, w("model-yaml-tag"), lambda f: replace(
        f, "model_yaml", "nabla: 1\nname: !!python/name:os.system\ninput: {x: [4]}\n"
        "layers: [flatten]\n"))
    copy_edit(good, w("model-yaml-other-model"), lambda f: replace(
        f, "model_yaml", open(path("weights", "model.yaml")).read().replace("units: 3", "units: 5")))
    copy_edit(good, w("model-yaml-huge"), lambda f: replace(
        f, "model_yaml", "nabla: 1\n" + "#" * (2 << 20) + "\n"))
    copy_edit(good, w("model-yaml-two-strings"), lambda f: replace(
        f, "model_yaml", np.array([b"nabla: 1", b"name: mlp"])))
    nan_b = lambda f: f["params/out/b"].__setitem__(1, np.float32("nan"))
    copy_edit(good, w("nan-param"), nan_b)
    copy_edit(good, w("inf-param"), lambda f: f["params/h/w"].__setitem__(
        (2, 1), np.float32("-inf")))
    copy_edit(good, w("float64-beyond-float32"), lambda f: replace(
        f, "params/out/b", np.array([0.0, 1e300], np.float64)))
    open(w("not-hdf5"), "w").write("nabla: 1\nthis is text, not HDF5\n")
    open(w("empty"), "wb").close()
    truncated(good, w("truncated-half"), 0.5)
    truncated(good, w("truncated-header"), 0.01)
    data = bytearray(open(good, "rb").read())
    for i in range(512, len(data), 97):   # scribble over everything after the superblock
        data[i] ^= 0x5A
    open(w("scribbled"), "wb").write(bytes(data))


# ---------------------------------------------------------------- checkpoints

def checkpoints():
    ck = path("checkpoint", "good.h5")
    c = lambda name: path("checkpoint", name + ".h5")
    shutil.copyfile(path("weights", "good.h5"), c("weights-not-checkpoint"))
    copy_edit(ck, c("no-train-group"), lambda f: f.__delitem__("train"))
    copy_edit(ck, c("no-optimizer"), lambda f: f.__delitem__("optimizer"))
    copy_edit(ck, c("no-architecture"), lambda f: f.__delitem__("architecture"))
    copy_edit(ck, c("architecture-other"), lambda f: replace(
        f, "architecture", f["architecture"][()].decode().replace("[4,3]", "[4,5]")))
    copy_edit(ck, c("optimizer-kind"), lambda f: f["optimizer"].attrs.__setitem__("kind", "lbfgs"))
    copy_edit(ck, c("slot-missing"), lambda f: f.__delitem__("optimizer/h/w/slot0"))
    copy_edit(ck, c("epoch-negative"), lambda f: f["train"].attrs.__setitem__(
        "epoch", np.int64(-3)))
    copy_edit(ck, c("q-nan"), lambda f: f["train"].attrs.__setitem__("q", np.float64("nan")))
    copy_edit(ck, c("missing-param"), lambda f: f.__delitem__("params/out/b"))
    truncated(ck, c("truncated"), 0.6)
    a = lambda name, value: (lambda f: f["train"].attrs.__setitem__(name, value))
    copy_edit(ck, c("epoch-fraction"), a("epoch", np.float64(1.5)))
    copy_edit(ck, c("step-huge"), a("optimizer_steps", np.int64(1 << 62)))
    copy_edit(ck, c("rng-short"), a("rng", np.array([1, 2], np.uint64)))
    copy_edit(ck, c("rng-zero"), a("rng", np.zeros(4, np.uint64)))
    copy_edit(ck, c("rng-string"), a("rng", "seed"))
    copy_edit(ck, c("slot-nan"), lambda f: f["optimizer/h/w/slot0"].__setitem__(
        (0, 0), np.float32("nan")))
    copy_edit(ck, c("slot-misshaped"), lambda f: replace(
        f, "optimizer/h/w/slot0", np.zeros((3, 4), np.float32)))
    copy_edit(ck, c("slot-extra"), lambda f: f.create_dataset(
        "optimizer/h/w/slot7", data=np.zeros((4, 3), np.float32)))


# ---------------------------------------------------------------- HDF5 data

def hdf5_data():
    x, y = examples()
    d = lambda case: path("data", case, "train.h5")

    def case(name, x, y, test=None, **kw):
        write_data(d(name), x, y, **kw)
        tx, ty = test if test is not None else examples()
        write_data(path("data", name, "test.h5"), tx, ty)

    case("good", x, y)
    case("count-mismatch", x, y[:5])
    case("x-strings", np.array([[b"a"] * 4] * 6), y)
    case("y-strings", x, np.array([b"cat"] * 6))
    case("x-wrong-width", np.zeros((6, 5), np.float32), y)
    case("x-scalar", np.float32(1), y)
    case("y-rank-3", x, np.zeros((6, 1, 1), np.int64))
    case("label-out-of-range", x, np.array([0, 1, 2, 0, 1, 0]))
    case("label-negative", x, np.array([0, 1, -1, 0, 1, 0]))
    case("label-fraction", x, np.array([0, 1, 0.5, 0, 1, 0], np.float32))
    case("label-nan", x, np.array([0, 1, np.nan, 0, 1, 0], np.float32))
    case("label-huge", x, np.array([0, 1, 0, 0, 1, 1e30], np.float64))
    big = x.copy()
    big[3, 1] = 1e30
    case("x-1e30", big, y)
    nan = x.copy()
    nan[4, 2] = np.nan
    case("x-nan", nan, y)
    case("no-examples", np.zeros((0, 4), np.float32), np.zeros(0, np.int64))
    case("missing-x", None, y)
    case("missing-y", x, None)
    case("x-named-otherwise", x, y, xname="images")
    case("x-compound", np.zeros((6, 4), dtype=[("a", "f4"), ("b", "f4")]), y)
    case("test-count-mismatch", x, y, test=(x, y[:4]))
    case("test-label-out-of-range", x, y, test=(x, np.array([0, 1, 7, 0, 1, 0])))
    with h5py.File(d("x-huge-dims"), "w") as f:
        f.create_dataset("X", shape=(1 << 40, 4), dtype=np.float32, chunks=(1024, 4))
        f["y"] = y
    with h5py.File(path("data", "xy-huge-dims", "train.h5"), "w") as f:
        f.create_dataset("X", shape=(1 << 40, 4), dtype=np.float32, chunks=(1024, 4))
        f.create_dataset("y", shape=(1 << 40,), dtype=np.int64, chunks=(1024,))
    for name in ("x-huge-dims", "xy-huge-dims"):
        shutil.copyfile(path("data", "good", "test.h5"), path("data", name, "test.h5"))
    # files that are not HDF5 data at all
    for name, content in [("not-hdf5", b"X,y\n1,2\n"), ("empty-file", b"")]:
        open(d(name), "wb").write(content)
        shutil.copyfile(path("data", "good", "test.h5"), path("data", name, "test.h5"))
    truncated(path("data", "good", "train.h5"), d("truncated"), 0.5)
    shutil.copyfile(path("data", "good", "test.h5"), path("data", "truncated", "test.h5"))
    shutil.copyfile(path("data", "good", "test.h5"), path("data", "no-train-file", "test.h5"))
    # predict's and grad's -i inputs
    write_data(path("data", "predict-wrong-shape.h5"), np.zeros((3, 5), np.float32), None)
    write_data(path("data", "predict-strings.h5"), np.array([[b"a"] * 4] * 3), None)
    write_data(path("data", "predict-no-x.h5"), None, y)
    write_data(path("data", "grad-count-mismatch.h5"), x, y[:2])
    write_data(path("data", "grad-label-out-of-range.h5"), x, np.array([0, 1, 0, 0, 5, 0]))


# ---------------------------------------------------------------- IDX

def idx_bytes(magic_type, dims, payload, magic=None):
    head = magic if magic is not None else bytes([0, 0, magic_type, len(dims)])
    return head + b"".join(struct.pack(">I", d) for d in dims) + bytes(payload)


def idx():
    n = 6
    img = [(i * 37) % 256 for i in range(n * 4)]
    lab = [i % 3 for i in range(n)]

    def case(name, tri=None, trl=None, tei=None, tel=None, gz=True):
        files = {
            "train-images-idx3-ubyte": tri if tri is not None else idx_bytes(8, [n, 2, 2], img),
            "train-labels-idx1-ubyte": trl if trl is not None else idx_bytes(8, [n], lab),
            "t10k-images-idx3-ubyte": tei if tei is not None else idx_bytes(8, [n, 2, 2], img),
            "t10k-labels-idx1-ubyte": tel if tel is not None else idx_bytes(8, [n], lab),
        }
        for fname, content in files.items():
            if isinstance(content, tuple):          # (name, raw bytes): written as given
                open(path("idx", name, content[0]), "wb").write(content[1])
            elif gz:
                with gzip.GzipFile(path("idx", name, fname + ".gz"), "wb", mtime=0) as g:
                    g.write(content)
            else:                                   # plain bytes, read as they are
                open(path("idx", name, fname + ".gz"), "wb").write(content)

    case("good")
    case("images-bad-magic", tri=idx_bytes(8, [n, 2, 2], img, magic=b"\x1f\x8b\x08\x03"))
    case("labels-bad-magic", trl=idx_bytes(8, [n], lab, magic=b"PK\x03\x04"))
    case("images-float-type", tri=idx_bytes(0x0D, [n, 2, 2], [0] * (n * 16)))
    case("images-rank-2", tri=idx_bytes(8, [n, 4], img))
    case("images-truncated", tri=idx_bytes(8, [n, 2, 2], img[:10]))
    case("images-header-only", tri=bytes([0, 0, 8, 3, 0, 0]))
    case("images-zero-count", tri=idx_bytes(8, [0, 2, 2], []), trl=idx_bytes(8, [0], []))
    case("images-huge-count", tri=idx_bytes(8, [0x7FFFFFFF, 2, 2], img))
    case("images-huge-dims", tri=idx_bytes(8, [n, 65536, 65536], img))
    case("images-wrong-size", tri=idx_bytes(8, [n, 3, 3], [0] * (n * 9)))
    case("labels-count-mismatch", trl=idx_bytes(8, [n - 1], lab[:-1]))
    case("label-out-of-range", trl=idx_bytes(8, [n], [0, 1, 2, 9, 1, 0]))
    case("test-label-out-of-range", tel=idx_bytes(8, [n], [0, 1, 2, 0, 1, 200]))
    case("images-extra-bytes", tri=idx_bytes(8, [n, 2, 2], img + [1, 2, 3]))
    case("plain-extra-bytes", trl=idx_bytes(8, [n], lab + [0]), gz=False)
    case("plain-truncated", tri=idx_bytes(8, [n, 2, 2], img[:7]), gz=False)
    good = gzip.compress(idx_bytes(8, [n, 2, 2], img), mtime=0)
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF                      # a flipped byte: the CRC fails
    case("gz-corrupt", tri=("train-images-idx3-ubyte.gz", bytes(bad)))
    case("gz-truncated", tri=("train-images-idx3-ubyte.gz", good[: len(good) - 12]))
    case("gz-not-gzip", tri=("train-images-idx3-ubyte.gz", b"\x1f\x8b but not gzip at all"))
    case("gz-empty", tri=("train-images-idx3-ubyte.gz", b""))
    for fname in os.listdir(os.path.join(ROOT, "idx", "good")):
        if fname != "train-labels-idx1-ubyte.gz":
            shutil.copyfile(path("idx", "good", fname), path("idx", "missing-file", fname))


# ---------------------------------------------------------------- stream records

def stream():
    rec = lambda *v: struct.pack("<%df" % len(v), *v)
    s = lambda name: path("stream", name + ".f32")
    good = rec(0.5, -0.5, 1) + rec(-0.25, 0.75, 0)
    open(s("truncated-record"), "wb").write(good + rec(0.5, 0.5)[:6])
    open(s("empty"), "wb").close()
    open(s("label-out-of-range"), "wb").write(good + rec(0.5, 0.5, 2))
    open(s("label-fraction"), "wb").write(good + rec(0.5, 0.5, 0.5))
    open(s("label-nan"), "wb").write(good + rec(0.5, 0.5, float("nan")))
    open(s("one-byte"), "wb").write(b"\x00")
    open(s("value-inf"), "wb").write(good + rec(float("inf"), 0.5, 1))


weights()
checkpoints()
hdf5_data()
idx()
stream()
