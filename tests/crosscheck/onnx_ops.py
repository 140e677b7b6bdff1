#!/usr/bin/python3
"""Checks every ONNX operator `nb_onnx_export` writes, numerically.

usage: onnx_ops.py ONNX_OPS_MODEL WORKDIR

ONNX_OPS_MODEL (tests/onnx_ops_model.c) builds a model that uses every op
and layer the exporter maps, runs it at batch 3 and exports it. This script
checks the file with python3-onnx's checker (full_check), then evaluates it
with the small NumPy interpreter below — written from the ONNX operator
specifications, independent of nabla — and requires nabla's own output to
1e-4 (max |a - b| / max |b|). It also evaluates the file at batch 1 and 5
against the batch-3 rows it can compare (each example's output depends on
that example alone), so the symbolic batch axis is checked too.

Exits 77 (meson's "skipped") when python3-onnx or NumPy is missing.
"""
import math
import os
import subprocess
import sys

try:
    import numpy as np
    import onnx
    import onnx.numpy_helper
except ImportError as e:
    print(f"skipped: {e}")
    sys.exit(77)

RTOL, ATOL = 1e-4, 1e-5
N = 3


def worst(got, ref):
    """The largest |got - ref| / (RTOL |ref| + ATOL): within tolerance when <= 1."""
    return float((np.abs(got - ref) / (RTOL * np.abs(ref) + ATOL)).max())


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def conv(x, w, b, a):
    """Conv as the spec defines it: NCHW, groups, strides, pads, dilations."""
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    g = a.get("group", 1)
    sh, sw = a.get("strides", [1, 1])
    dh, dw = a.get("dilations", [1, 1])
    pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n, f, oh, ow), np.float64)
    fg = f // g
    for gi in range(g):
        xs = xp[:, gi * cg:(gi + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                           j * dw:j * dw + sw * (ow - 1) + 1:sw]
                y[:, gi * fg:(gi + 1) * fg] += np.einsum(
                    "nchw,fc->nfhw", patch, w[gi * fg:(gi + 1) * fg, :, i, j])
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def conv_transpose(x, w, b, a):
    """ConvTranspose: every input value spreads over its window; group g
    takes channels and filters in g contiguous blocks, w [C, F/g, kh, kw]."""
    g = a.get("group", 1)
    if g > 1:
        cg = x.shape[1] // g
        y = np.concatenate([conv_transpose(x[:, k * cg:(k + 1) * cg], w[k * cg:(k + 1) * cg],
                                           None, dict(a, group=1)) for k in range(g)], axis=1)
        return y if b is None else y + b.reshape(1, -1, 1, 1)
    n, c, h, wd = x.shape
    _, f, kh, kw = w.shape
    sh, sw = a.get("strides", [1, 1])
    dh, dw = a.get("dilations", [1, 1])
    pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
    oph, opw = a.get("output_padding", [0, 0])
    fh = sh * (h - 1) + dh * (kh - 1) + 1 + oph
    fw = sw * (wd - 1) + dw * (kw - 1) + 1 + opw
    full = np.zeros((n, f, fh, fw), np.float64)
    for i in range(kh):
        for j in range(kw):
            full[:, :, i * dh:i * dh + sh * (h - 1) + 1:sh,
                 j * dw:j * dw + sw * (wd - 1) + 1:sw] += np.einsum("nchw,cf->nfhw", x,
                                                                     w[:, :, i, j])
    y = full[:, :, pt:fh - pb, pl:fw - pr]
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def pool(x, a, kind):
    """MaxPool or AveragePool: strides, pads per side, dilations, and
    ceil_mode with PyTorch's rule (the last window starts inside the input
    or the leading padding); past the trailing padding a ceil_mode window
    reads -inf or zeros that no count includes. An average divides by the
    input pixels its window covers (count_include_pad 0) or by those of the
    padded input (1)."""
    kh, kw = a["kernel_shape"]
    sh, sw = a.get("strides", [1, 1])
    dh, dw = a.get("dilations", [1, 1])
    pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
    ceil = a.get("ceil_mode", 0)
    h, w = x.shape[2:]

    def out(n, k, s, d, before, after):
        room = n + before + after - d * (k - 1) - 1
        o = (-(-room // s) if ceil else room // s) + 1
        return o - 1 if ceil and (o - 1) * s >= n + before else o

    oh, ow = out(h, kh, sh, dh, pt, pb), out(w, kw, sw, dw, pl, pr)
    eh = max(0, (oh - 1) * sh + dh * (kh - 1) + 1 - (h + pt + pb))
    ew = max(0, (ow - 1) * sw + dw * (kw - 1) + 1 - (w + pl + pr))
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb + eh), (pl, pr + ew)), constant_values=fill)
    inside = np.pad(np.ones((h, w)), ((pt, pb + eh), (pl, pr + ew)))
    extent = np.pad(np.ones((h + pt + pb, w + pl + pr)), ((0, eh), (0, ew)))

    def windows(v):
        return np.stack([v[..., i * dh:i * dh + sh * (oh - 1) + 1:sh,
                           j * dw:j * dw + sw * (ow - 1) + 1:sw]
                         for i in range(kh) for j in range(kw)])

    if kind == "max":
        return windows(xp).max(0)
    count = windows(extent if a.get("count_include_pad", 0) else inside).sum(0)
    return windows(xp).sum(0) / count


def softmax(x, axis):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def step(node, v):
    a = attrs(node)
    i = [v[name] if name else None for name in node.input]
    op = node.op_type
    unary = {"Neg": np.negative, "Exp": np.exp, "Log": np.log, "Sqrt": np.sqrt, "Abs": np.abs,
             "Sign": np.sign, "Tanh": np.tanh, "Sigmoid": lambda t: 1 / (1 + np.exp(-t)),
             "Relu": lambda t: np.maximum(t, 0)}
    binary = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide,
              "Max": np.maximum, "Min": np.minimum, "Pow": np.power, "Greater": np.greater,
              "GreaterOrEqual": np.greater_equal, "Equal": np.equal}
    if op in unary:
        return unary[op](i[0])
    if op in binary:
        return binary[op](i[0], i[1])
    if op == "Erf":
        return np.vectorize(math.erf)(i[0])
    if op == "Elu":
        return np.where(i[0] > 0, i[0], a.get("alpha", 1.0) * (np.exp(np.minimum(i[0], 0)) - 1))
    if op == "Softplus":
        return np.logaddexp(0, i[0])
    if op == "LeakyRelu":
        return np.where(i[0] >= 0, i[0], a["alpha"] * i[0])
    if op == "Softmax":
        return softmax(i[0], a.get("axis", -1))
    if op == "LogSoftmax":
        return np.log(softmax(i[0], a.get("axis", -1)))
    if op == "Cast":
        return i[0].astype({1: np.float64, 7: np.int64, 9: bool}[a["to"]])
    if op == "Where":
        return np.where(i[0], i[1], i[2])
    if op == "ReduceSum":
        return i[0].sum(tuple(i[1]), keepdims=bool(a.get("keepdims", 1)))
    if op == "ReduceMax":
        return i[0].max(tuple(a["axes"]), keepdims=bool(a.get("keepdims", 1)))
    if op == "Reshape":
        shape = [i[0].shape[k] if d == 0 else d for k, d in enumerate(i[1])]
        return i[0].reshape(shape)
    if op == "Transpose":
        return i[0].transpose(a["perm"])
    if op == "Expand":
        return i[0] * np.ones(i[1], i[0].dtype)
    if op == "Slice":
        sl = [slice(None)] * i[0].ndim
        for st, en, ax, sp in zip(i[1], i[2], i[3], i[4]):
            sl[ax] = slice(st, en, sp)
        return i[0][tuple(sl)]
    if op == "Pad":
        r = i[0].ndim
        return np.pad(i[0], [(i[1][k], i[1][r + k]) for k in range(r)],
                      constant_values=float(i[2]))
    if op == "Concat":
        return np.concatenate(i, a["axis"])
    if op == "MatMul":
        return np.matmul(i[0], i[1])
    if op == "Gemm":
        return i[0] @ i[1] + (i[2] if len(i) > 2 else 0)
    if op == "Gather":
        return np.take(i[0], i[1], axis=a.get("axis", 0))
    if op == "OneHot":
        depth = int(np.asarray(i[1]).reshape(-1)[0])
        return np.where(np.arange(depth) == i[0][..., None], i[2][1], i[2][0])
    if op == "Shape":
        return np.array(i[0].shape, np.int64)
    if op == "ConstantOfShape":
        return np.full(i[0], onnx.numpy_helper.to_array(a["value"])[0], np.float64)
    if op == "Conv":
        return conv(i[0], i[1], i[2] if len(i) > 2 else None, a)
    if op == "ConvTranspose":
        return conv_transpose(i[0], i[1], i[2] if len(i) > 2 else None, a)
    if op == "MaxPool":
        return pool(i[0], a, "max")
    if op == "AveragePool":
        return pool(i[0], a, "avg")
    if op == "BatchNormalization":
        x, g, b, m, var = i
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return (x - m.reshape(shape)) / np.sqrt(var.reshape(shape) + a.get("epsilon", 1e-5)) * \
            g.reshape(shape) + b.reshape(shape)
    if op == "InstanceNormalization":  # each example's channel over its other axes
        x, shape = i[0], (1, -1) + (1,) * (i[0].ndim - 2)
        axes = tuple(range(2, x.ndim))
        m = x.mean(axes, keepdims=True)
        var = ((x - m) ** 2).mean(axes, keepdims=True)
        return (x - m) / np.sqrt(var + a.get("epsilon", 1e-5)) * i[1].reshape(shape) + \
            i[2].reshape(shape)
    sys.exit(f"the interpreter has no operator {op} (node {node.name})")


def evaluate(model, feeds):
    v = {t.name: onnx.numpy_helper.to_array(t).astype(
        np.float64 if t.data_type == 1 else np.int64) for t in model.graph.initializer}
    v.update(feeds)
    for node in model.graph.node:
        v[node.output[0]] = step(node, v)
    return v[model.graph.output[0].name]


def main():
    exe, work = sys.argv[1:3]
    os.makedirs(work, exist_ok=True)
    r = subprocess.run([exe, work], capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"{exe} failed:\n{r.stdout}{r.stderr}")
    model = onnx.load(os.path.join(work, "ops.onnx"))
    onnx.checker.check_model(model, full_check=True)
    raw = {k: np.fromfile(os.path.join(work, k + ".f32"), np.float32).astype(np.float64)
           for k in ("x", "ids", "labels", "out")}
    feeds = {"x": raw["x"].reshape(N, 2, 6, 6), "ids": raw["ids"].reshape(N, 3),
             "labels": raw["labels"].reshape(N)}
    ref = raw["out"].reshape(N, -1)
    ops = sorted({n.op_type for n in model.graph.node})
    print(f"{len(model.graph.node)} nodes, operators: {', '.join(ops)}")
    got = evaluate(model, feeds)
    score = worst(got, ref)
    print(f"batch {N}: worst |a - b| / (1e-4 |b| + 1e-5) = {score:.3f}, "
          f"max |a - b| {np.abs(got - ref).max():.2e}")
    for n in (1, 5):  # rows repeat the batch-3 examples cyclically
        rows = [k % N for k in range(n)]
        out = evaluate(model, {k: f[rows] for k, f in feeds.items()})
        s = worst(out, ref[rows])
        print(f"batch {n}: worst {s:.3f}")
        score = max(score, s)
    missing = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "BatchNormalization", "Gather",
               "OneHot", "MatMul", "Transpose", "Slice", "Pad", "Expand", "Where", "ReduceSum",
               "ReduceMax", "LeakyRelu", "Softmax", "Relu", "Erf", "Elu", "Softplus",
               "InstanceNormalization"} - set(ops)
    if missing:
        sys.exit(f"the model no longer exercises {sorted(missing)}")
    if not any(n.op_type == "ConvTranspose" and attrs(n).get("group", 1) == 2
               and attrs(n).get("output_padding") for n in model.graph.node):
        sys.exit("conv_transpose2d is no longer written as one grouped ConvTranspose")
    sys.exit(0 if score <= 1 else f"differs from nabla beyond 1e-4 |b| + 1e-5 ({score:.1f} times)")


if __name__ == "__main__":
    main()
