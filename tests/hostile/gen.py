#!/usr/bin/python3
"""gen.py ROOT NABLA: writes the binary cases of the hostile-input corpus.

Text cases (YAML, CSV) are files in tests/hostile/<class>/; the binary ones
(HDF5, IDX, gzip, float32 records, ONNX protocol buffers) are written here,
reproducibly, into ROOT/<class>/ beside them (test_hostile.sh runs this on a copy of the corpus
in the build folder). Each writer below says what is wrong with its file;
the class's `cases` manifest says what nabla must print for it.

The good weights and checkpoint that the broken ones start from are written
by NABLA itself (one epoch of weights/model.yaml on weights/data.h5), so
they always have the layout this nabla writes.
"""
import gzip
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile

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


# ---------------------------------------------------------------- ONNX files
#
# Written byte by byte (protocol buffers are simple enough, and nothing but
# nabla has to parse them, so python3-onnx is not needed): a small good
# model, a Gemm, a Relu and a MatMul, which nabla imports (checked below),
# and copies of it with one thing wrong each. Field numbers are those of
# onnx.proto (io/onnx/onnx.proto keeps the ones nabla reads).

def pb_varint(n):
    n &= (1 << 64) - 1              # a negative int64 is its 10-byte two's complement
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def pb_int(field, n):
    return pb_varint(field << 3) + pb_varint(n)


def pb_bytes(field, data):
    data = data.encode() if isinstance(data, str) else data
    return pb_varint(field << 3 | 2) + pb_varint(len(data)) + data


def pb_float(field, x):
    return pb_varint(field << 3 | 5) + struct.pack("<f", x)


FLOAT, INT64, FLOAT16, DOUBLE = 1, 7, 10, 11


def tensor(name, dims, values=None, dtype=FLOAT, raw=None, floats=None, location=None,
           external=None):
    """TensorProto: values as little-endian raw_data of dtype (float32 or
    int64), or raw bytes as given, or float_data."""
    b = b"".join(pb_int(1, d) for d in dims) + pb_int(2, dtype) + pb_bytes(8, name)
    if values is not None:
        raw = struct.pack("<%d%s" % (len(values), "q" if dtype == INT64 else "f"), *values)
    if raw is not None:
        b += pb_bytes(9, raw)
    if floats is not None:
        b += pb_bytes(4, struct.pack("<%df" % len(floats), *floats))
    for k, v in (external or {}).items():    # external_data: key/value entries
        b += pb_bytes(13, pb_bytes(1, k) + pb_bytes(2, v))
    if location is not None:
        b += pb_int(14, location)
    return b


def attr(name, kind, value):
    """AttributeProto of type kind: 'i', 'f', 'ints', 's', 't', 'g', 'sparse'."""
    types = {"f": 1, "i": 2, "s": 3, "t": 4, "g": 5, "ints": 7, "sparse": 11}
    b = pb_bytes(1, name) + pb_int(20, types[kind])
    if kind == "i":
        b += pb_int(3, value)
    elif kind == "f":
        b += pb_float(2, value)
    elif kind == "ints":
        b += b"".join(pb_int(8, v) for v in value)
    elif kind == "s":
        b += pb_bytes(4, value)
    elif kind == "t":
        b += pb_bytes(5, value)
    elif kind == "g":
        b += pb_bytes(6, value)
    elif kind == "sparse":
        b += pb_bytes(22, value)
    return b


def node(op, inputs, outputs, name=None, attrs=(), domain=None):
    b = b"".join(pb_bytes(1, i) for i in inputs) + b"".join(pb_bytes(2, o) for o in outputs)
    b += pb_bytes(3, name if name is not None else op + "_" + outputs[0] if outputs else op)
    b += pb_bytes(4, op) + b"".join(pb_bytes(5, a) for a in attrs)
    if domain is not None:
        b += pb_bytes(7, domain)
    return b


def value(name, dims=None, elem=FLOAT):
    """ValueInfoProto of a tensor: dims ints (dim_value), strings (dim_param)
    or None (a dimension with neither); dims None: no shape at all."""
    t = pb_int(1, elem)
    if dims is not None:
        shape = b""
        for d in dims:
            dim = b"" if d is None else pb_bytes(2, d) if isinstance(d, str) else pb_int(1, d)
            shape += pb_bytes(1, dim)
        t += pb_bytes(2, shape)
    return pb_bytes(1, name) + pb_bytes(2, pb_bytes(1, t))


def graph(nodes, inits=(), inputs=(), outputs=(), name="g"):
    return (b"".join(pb_bytes(1, n) for n in nodes) + pb_bytes(2, name) +
            b"".join(pb_bytes(5, t) for t in inits) + b"".join(pb_bytes(11, v) for v in inputs) +
            b"".join(pb_bytes(12, v) for v in outputs))


def model(g, opset=13, ir=7, opset_domain=""):
    b = pb_int(1, ir) + pb_bytes(2, "gen.py") + pb_bytes(3, "1")
    if g is not None:
        b += pb_bytes(7, g)
    if opset is not None:
        b += pb_bytes(8, pb_bytes(1, opset_domain) + pb_int(2, opset))
    return b


# The good model: x [N, 4] → Gemm (W [3, 4], transB) → Relu → MatMul (V [3, 2]) → y [N, 2].
W = [0.1 * (i - 5) for i in range(12)]
GOOD_INITS = [tensor("W", [3, 4], W), tensor("b", [3], [0.5, -0.5, 0.25]),
              tensor("V", [3, 2], [0.3, -0.2, 0.1, 0.4, -0.6, 0.2])]
GOOD_NODES = [node("Gemm", ["x", "W", "b"], ["h"], "fc1", [attr("transB", "i", 1)]),
              node("Relu", ["h"], ["r"], "relu1"),
              node("MatMul", ["r", "V"], ["y"], "fc2")]
GOOD_IN = [value("x", ["N", 4])]
GOOD_OUT = [value("y", ["N", 2])]


def onnx_model(nodes=None, inits=None, inputs=None, outputs=None, **kw):
    return model(graph(GOOD_NODES if nodes is None else nodes,
                       GOOD_INITS if inits is None else inits,
                       GOOD_IN if inputs is None else inputs,
                       GOOD_OUT if outputs is None else outputs), **kw)


def inits_with(w):
    """The good initialisers with W replaced."""
    return [w] + GOOD_INITS[1:]


def nodes_with(i, n):
    """The good nodes with node i replaced (or removed: n None)."""
    nodes = list(GOOD_NODES)
    if n is None:
        del nodes[i]
    else:
        nodes[i] = n
    return nodes


def gemm(*attrs, inputs=("x", "W", "b")):
    return node("Gemm", list(inputs), ["h"], "fc1", list(attrs) or [attr("transB", "i", 1)])


def onnx():
    o = lambda name: path("onnx", name + ".onnx")

    def case(name, data):
        open(o(name), "wb").write(data)

    good = onnx_model()
    # The good model must import (its opset named by either name of ONNX's
    # domain), so that each case below is refused for its one defect and
    # not for something they all share.
    for g in (good, onnx_model(opset_domain="ai.onnx")):
        with tempfile.TemporaryDirectory() as tmp:
            open(os.path.join(tmp, "good.onnx"), "wb").write(g)
            subprocess.run([NABLA, "import", "good.onnx", "-o", "good.yaml", "--weights", "good.h5"],
                           cwd=tmp, check=True, stdout=subprocess.DEVNULL)

    case("good", good)       # for outputs that cannot be written

    # not an ONNX file, or not all of one
    case("not-protobuf", b"nabla: 1\nthis is text, not a protocol buffer\n")
    case("empty", b"")
    case("random-bytes", bytes((i * 131 + 7) % 256 for i in range(4096)))
    case("truncated-header", good[:3])
    case("truncated-half", good[: len(good) // 2])
    case("truncated-last-byte", good[:-1])
    case("length-huge", pb_varint(7 << 3 | 2) + pb_varint(1 << 62) + good[:20])
    case("hdf5-file", b"\x89HDF\r\n\x1a\n" + bytes(504))

    # the model's frame
    case("no-graph", model(None))
    case("opset-missing", onnx_model(opset=None))
    case("opset-6", onnx_model(opset=6))
    case("opset-other-domain", onnx_model(opset_domain="com.example"))
    case("no-inputs", onnx_model(inputs=[]))
    case("only-initialiser-inputs", onnx_model(inputs=[value("W", [3, 4])]))
    case("no-outputs", onnx_model(outputs=[]))
    case("two-outputs", onnx_model(outputs=GOOD_OUT + [value("r", ["N", 3])]))
    case("output-undefined", onnx_model(outputs=[value("z", ["N", 2])]))
    case("output-is-input", onnx_model(outputs=[value("x", ["N", 4])]))
    case("no-nodes", onnx_model(nodes=[]))

    # graph inputs
    case("input-no-type", onnx_model(inputs=[pb_bytes(1, "x")]))
    case("input-no-shape", onnx_model(inputs=[value("x")]))
    case("input-int64", onnx_model(inputs=[value("x", ["N", 4], elem=INT64)]))
    case("input-symbolic-dim", onnx_model(inputs=[value("x", ["N", "features"])]))
    case("input-dim-unset", onnx_model(inputs=[value("x", ["N", None])]))
    case("input-dim-negative", onnx_model(inputs=[value("x", ["N", -4])]))
    case("input-dim-zero", onnx_model(inputs=[value("x", ["N", 0])]))
    case("input-huge-dims", onnx_model(inputs=[value("x", ["N", 1 << 20, 1 << 20])]))
    case("input-rank-1", onnx_model(inputs=[value("x", ["N"])]))
    case("input-rank-9", onnx_model(inputs=[value("x", ["N"] + [1] * 8)]))

    # initialisers
    case("init-int64", onnx_model(inits=inits_with(tensor("W", [3, 4], list(range(12)), dtype=INT64))))
    case("init-double", onnx_model(inits=inits_with(tensor("W", [3, 4], dtype=DOUBLE,
                                                           raw=struct.pack("<12d", *W)))))
    case("init-float16", onnx_model(inits=inits_with(tensor("W", [3, 4], dtype=FLOAT16,
                                                            raw=bytes(24)))))
    case("raw-data-short", onnx_model(inits=inits_with(tensor("W", [3, 4], raw=bytes(44)))))
    case("raw-data-long", onnx_model(inits=inits_with(tensor("W", [3, 4], raw=bytes(52)))))
    case("raw-data-ragged", onnx_model(inits=inits_with(tensor("W", [3, 4], raw=bytes(49)))))
    case("float-data-short", onnx_model(inits=inits_with(tensor("W", [3, 4], floats=W[:11]))))
    case("init-no-data", onnx_model(inits=inits_with(tensor("W", [3, 4]))))
    case("init-dim-negative", onnx_model(inits=inits_with(tensor("W", [3, -4], raw=bytes(48)))))
    case("init-huge-dims", onnx_model(inits=inits_with(tensor("W", [1 << 20, 1 << 20], raw=bytes(48)))))
    case("init-dim-int64-max", onnx_model(inits=inits_with(tensor("W", [(1 << 63) - 1, 0], raw=b""))))
    case("init-rank-9", onnx_model(inits=inits_with(tensor("W", [1] * 9, [0.5]))))
    case("init-nan", onnx_model(inits=inits_with(tensor("W", [3, 4], W[:5] + [float("nan")] + W[6:]))))
    case("init-unnamed", onnx_model(inits=GOOD_INITS + [tensor("", [1], [1.0])]))
    case("init-named-twice", onnx_model(inits=GOOD_INITS + [tensor("b", [3], [1, 2, 3])]))
    # values in another file: nabla never opens a path a file names
    case("external-data", onnx_model(inits=inits_with(tensor(
        "W", [3, 4], location=1, external={"location": "/etc/passwd", "offset": "0",
                                          "length": "48"}))))
    case("external-data-with-raw", onnx_model(inits=inits_with(tensor(
        "W", [3, 4], W, location=1, external={"location": "../weights.bin"}))))

    # the graph's structure
    case("cycle", onnx_model(nodes=[
        node("Gemm", ["x", "W", "b"], ["h"], "fc1", [attr("transB", "i", 1)]),
        node("Add", ["h", "s"], ["r"], "loop_a"),
        node("Relu", ["r"], ["s"], "loop_b"),
        GOOD_NODES[2]]))
    case("self-loop", onnx_model(nodes=nodes_with(1, node("Relu", ["r"], ["r"], "relu1"))))
    case("undefined-input", onnx_model(nodes=nodes_with(1, node("Relu", ["ghost"], ["r"], "relu1"))))
    case("reversed-order", onnx_model(nodes=GOOD_NODES[::-1]))
    case("duplicate-output", onnx_model(nodes=GOOD_NODES[:2] + [
        node("Sigmoid", ["h"], ["r"], "again"), GOOD_NODES[2]]))
    case("output-redefines-input", onnx_model(nodes=nodes_with(1, node("Relu", ["h"], ["x"], "relu1"))))
    case("output-redefines-initialiser", onnx_model(nodes=nodes_with(1, node("Relu", ["h"], ["V"], "relu1"))))
    case("node-no-output", onnx_model(nodes=nodes_with(1, node("Relu", ["h"], [], "relu1"))))
    # an Add that joins the MatMul as its bias redefines the graph input
    case("fused-add-redefines-input", onnx_model(
        nodes=GOOD_NODES[:2] + [node("MatMul", ["r", "V"], ["m"], "fc2"),
                                node("Add", ["m", "c"], ["x"], "bias"),
                                node("Relu", ["x"], ["y"], "out")],
        inits=GOOD_INITS + [tensor("c", [2], [0.5, 0.5])]))

    case("fused-add-other-domain", onnx_model(
        nodes=GOOD_NODES[:2] + [node("MatMul", ["r", "V"], ["m"], "fc2"),
                                node("Add", ["m", "c"], ["y"], "bias", domain="com.example")],
        inits=GOOD_INITS + [tensor("c", [2], [0.5, 0.5])]))

    # a Dropout read while the table of values moves (its 65th value): then
    # an operator nabla does not know
    case("dropout-as-values-grow", onnx_model(
        nodes=[GOOD_NODES[0], node("Dropout", ["h"], ["d"], "drop"),
               node("FancyOp", ["d"], ["y"], "end")],
        inits=GOOD_INITS + [tensor("pad%d" % i, [1], [1.0]) for i in range(59)]))

    # operators
    case("unknown-op", onnx_model(nodes=nodes_with(1, node("FancyActivation", ["h"], ["r"], "relu1"))))
    case("op-empty", onnx_model(nodes=nodes_with(1, node("", ["h"], ["r"], "relu1"))))
    case("op-other-domain", onnx_model(nodes=nodes_with(1, node("Relu", ["h"], ["r"], "relu1",
                                                                domain="com.microsoft"))))
    sub = graph([node("Relu", ["h"], ["t"], "inner")], outputs=[value("t", ["N", 3])], name="then")
    case("if-subgraph", onnx_model(
        nodes=[GOOD_NODES[0], node("If", ["cond"], ["r"], "branch",
                                   [attr("then_branch", "g", sub), attr("else_branch", "g", sub)]),
               GOOD_NODES[2]],
        inits=GOOD_INITS + [tensor("cond", [], dtype=9, raw=b"\x01")]))
    case("loop-subgraph", onnx_model(
        nodes=[GOOD_NODES[0], node("Loop", ["", "", "h"], ["r"], "loop", [attr("body", "g", sub)]),
               GOOD_NODES[2]]))
    case("gemm-missing-input", onnx_model(nodes=nodes_with(0, gemm(inputs=("x",)))))
    case("gemm-extra-input", onnx_model(nodes=nodes_with(0, gemm(inputs=("x", "W", "b", "b")))))
    case("relu-extra-input", onnx_model(nodes=nodes_with(1, node("Relu", ["h", "b"], ["r"], "relu1"))))
    case("relu-no-input", onnx_model(nodes=nodes_with(1, node("Relu", [], ["r"], "relu1"))))
    case("relu-two-outputs", onnx_model(nodes=nodes_with(1, node("Relu", ["h"], ["r", "r2"], "relu1"))))
    case("pad-axes-input", onnx_model(   # opset 18: pads for the axes named, not all
        nodes=nodes_with(1, node("Pad", ["h", "p", "", "ax"], ["r"], "pad")),
        inits=GOOD_INITS + [tensor("p", [4], [0, 0, 0, 0], dtype=INT64),
                            tensor("ax", [2], [1, 0], dtype=INT64)], opset=18))
    case("matmul-weight-not-constant", onnx_model(nodes=nodes_with(2, node("MatMul", ["r", "x"], ["y"], "fc2"))))
    case("gemm-weight-wrong-shape", onnx_model(inits=inits_with(tensor("W", [4, 4], W + W[:4]))))
    case("gemm-transB-float", onnx_model(nodes=nodes_with(0, gemm(attr("transB", "f", 1.0)))))
    # square: the weight read untransposed would fit, and be wrong
    case("gemm-transB-float-square", onnx_model(
        nodes=nodes_with(0, gemm(attr("transB", "f", 1.0))),
        inits=[tensor("W", [4, 4], W + W[:4]), tensor("b", [4], [0.5] * 4),
               tensor("V", [4, 2], [0.25] * 8)]))
    case("gemm-transB-string", onnx_model(nodes=nodes_with(0, gemm(attr("transB", "s", "1")))))
    case("gemm-alpha-int", onnx_model(nodes=nodes_with(0, gemm(attr("transB", "i", 1),
                                                               attr("alpha", "i", 2)))))
    case("gemm-attribute-twice", onnx_model(nodes=nodes_with(0, gemm(attr("transB", "i", 1),
                                                                      attr("transB", "i", 0)))))
    case("gemm-alpha-inf", onnx_model(nodes=nodes_with(0, gemm(attr("transB", "i", 1),
                                                               attr("alpha", "f", math.inf)))))
    # alpha and beta are multiplied into the weights: a product beyond float32
    case("gemm-alpha-overflow", onnx_model(
        nodes=nodes_with(0, gemm(attr("transB", "i", 1), attr("alpha", "f", 1e38))),
        inits=inits_with(tensor("W", [3, 4], [100 * v for v in W]))))
    case("gemm-beta-overflow", onnx_model(
        nodes=nodes_with(0, gemm(attr("transB", "i", 1), attr("beta", "f", 1e38))),
        inits=[GOOD_INITS[0], tensor("b", [3], [500, -0.5, 0.25]), GOOD_INITS[2]]))
    # arithmetic: on constants alone, a constant that would reach the batch
    case("add-two-constants", onnx_model(nodes=nodes_with(1, node("Add", ["b", "b"], ["r"], "add"))))
    case("mul-constant-batch", onnx_model(
        nodes=nodes_with(1, node("Mul", ["h", "B"], ["r"], "mul")),
        inits=GOOD_INITS + [tensor("B", [2, 3], [1.0] * 6)]))
    case("leaky-relu-alpha-2", onnx_model(nodes=nodes_with(1, node("LeakyRelu", ["h"], ["r"], "leaky",
                                                                   [attr("alpha", "f", 2.0)]))))
    # a GELU whose Erf redefines an initialiser no other node reads: not
    # taken as one gelu node (that would skip the node's checks) but read
    # node by node, and refused
    gelu_inits = GOOD_INITS + [tensor("s2", [], [math.sqrt(2)]), tensor("one", [], [1.0]),
                               tensor("half", [], [0.5]), tensor("unused", [1], [0.0])]
    case("gelu-output-redefines", onnx_model(
        nodes=[GOOD_NODES[0], node("Div", ["h", "s2"], ["d"], "div"),
               node("Erf", ["d"], ["unused"], "erf"), node("Add", ["unused", "one"], ["a"], "add"),
               node("Mul", ["a", "h"], ["m"], "mul"), node("Mul", ["m", "half"], ["r"], "mul2"),
               GOOD_NODES[2]], inits=gelu_inits))
    case("softmax-axis-0", onnx_model(nodes=nodes_with(1, node("Softmax", ["h"], ["r"], "sm",
                                                               [attr("axis", "i", 0)]))))
    case("constant-sparse", onnx_model(
        nodes=[node("Constant", [], ["b"], "const", [attr("sparse_value", "sparse", tensor("v", [3], [1, 2, 3]))])] +
        GOOD_NODES, inits=[GOOD_INITS[0], GOOD_INITS[2]]))
    case("constant-value-float", onnx_model(
        nodes=[node("Constant", [], ["b"], "const", [attr("value_float", "f", 1.0)])] + GOOD_NODES,
        inits=[GOOD_INITS[0], GOOD_INITS[2]]))
    case("constant-value-not-tensor", onnx_model(
        nodes=[node("Constant", [], ["b"], "const", [attr("value", "i", 3)])] + GOOD_NODES,
        inits=[GOOD_INITS[0], GOOD_INITS[2]]))
    case("reshape-shape-float", onnx_model(
        nodes=nodes_with(1, node("Reshape", ["h", "shape"], ["r"], "reshape")),
        inits=GOOD_INITS + [tensor("shape", [2], [1.0, 3.0])]))
    case("reshape-huge", onnx_model(
        nodes=nodes_with(1, node("Reshape", ["h", "shape"], ["r"], "reshape")),
        inits=GOOD_INITS + [tensor("shape", [3], [0, 1 << 40, 1 << 40], dtype=INT64)]))
    case("add-broadcast", onnx_model(nodes=nodes_with(1, node("Add", ["h", "x"], ["r"], "add"))))
    conv_in = [value("x", ["N", 1, 8, 8])]
    conv_nodes = lambda *attrs: [node("Conv", ["x", "K"], ["c"], "conv", list(attrs)),
                                 node("Flatten", ["c"], ["y"], "flat")]
    conv_inits = [tensor("K", [2, 1, 3, 3], [0.1] * 18)]
    conv_out = [value("y", ["N", 72])]
    case("conv-pads-int", model(graph(conv_nodes(attr("pads", "i", 1)), conv_inits, conv_in, conv_out)))
    case("conv-dilation-huge", model(graph(conv_nodes(attr("dilations", "ints", [1 << 40, 1 << 40])),
                                           conv_inits, conv_in, conv_out)))
    case("conv-kernel-larger", model(graph(conv_nodes(), [tensor("K", [2, 1, 9, 9], [0.1] * 162)],
                                           conv_in, conv_out)))
    case("conv-group-zero", model(graph(conv_nodes(attr("group", "i", 0)), conv_inits, conv_in, conv_out)))
    case("conv-auto-pad-same", model(graph(conv_nodes(attr("auto_pad", "s", "SAME_UPPER")),
                                           conv_inits, conv_in, conv_out)))
    case("batchnorm-variance-negative", onnx_model(
        nodes=nodes_with(1, node("BatchNormalization", ["h", "g", "beta", "mu", "var"], ["r"], "bn")),
        inits=GOOD_INITS + [tensor("g", [3], [1, 1, 1]), tensor("beta", [3], [0, 0, 0]),
                            tensor("mu", [3], [0, 0, 0]), tensor("var", [3], [1, -1, 1])]))

    # sizes: many nodes that all want one name, one node with many inputs
    many = 20000
    case("too-many-nodes", onnx_model(nodes=[GOOD_NODES[0]] + [
        node("Relu", ["h" if i == 0 else "r%d" % (i - 1)], ["r%d" % i], "same") for i in range(many)] +
        [node("MatMul", ["r%d" % (many - 1), "V"], ["y"], "fc2")]))
    case("same-name-nodes", onnx_model(nodes=[GOOD_NODES[0]] + [
        node("Relu", ["h" if i == 0 else "r%d" % (i - 1)], ["r%d" % i], "same") for i in range(5000)] +
        [node("Add", ["r4999", "missing"], ["y"], "end")]))
    # 19990 constants, one read a million times: each name is found at once
    case("many-inputs-many-values", onnx_model(
        nodes=GOOD_NODES[:2] + [node("Concat", ["t0"] * 1000000, ["y"], "cat", [attr("axis", "i", 1)])],
        inits=GOOD_INITS + [tensor("t%d" % i, [1], [1.0]) for i in range(19990)]))
    # 10000 MatMuls, each asking whether one node alone reads its output,
    # in a graph of a million node inputs
    case("many-matmuls", onnx_model(
        nodes=GOOD_NODES[:2] + [node("MatMul", ["r" if i == 0 else "m%d" % (i - 1), "S"],
                                     ["m%d" % i], "mm%d" % i) for i in range(10000)] +
        [node("FancyOp", ["S"] * 1000000, ["y"], "end")],
        inits=GOOD_INITS + [tensor("S", [3, 3], [0.5] * 9)]))


weights()
checkpoints()
hdf5_data()
idx()
stream()
if "onnx" not in os.environ.get("HOSTILE_SKIP", "").split():   # nabla without protobuf-c
    onnx()
