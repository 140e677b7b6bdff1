#!/usr/bin/python3
"""make_fixture.py — cuts the small Fashion-MNIST fixture the tests read.

Reads Debian's dataset-fashion-mnist files from /usr/share/datasets/fashion-mnist
and writes real IDX files (gzip) with the first 500 training and the first 200
test examples into tests/fixtures:

    fmnist-train-images-idx3-ubyte.gz   fmnist-train-labels-idx1-ubyte.gz
    fmnist-test-images-idx3-ubyte.gz    fmnist-test-labels-idx1-ubyte.gz

The headers are rewritten with the new counts; pixels and labels are copied
byte for byte. Output is reproducible (gzip mtime 0, no file name), so running
the script again leaves the committed files unchanged.

Usage: scripts/make_fixture.py [SOURCE_DIR [OUT_DIR]]. Standard library only.
"""
import gzip
import os
import struct
import sys

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
SPLITS = (("train", "train", 500), ("t10k", "test", 200))


def read_idx(path, magic, ndims):
    """Returns (dims, payload bytes) of an IDX file, checking its magic."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    header = 4 * (1 + ndims)
    if len(data) < header:
        sys.exit(f"make_fixture: {path}: truncated header")
    found, *dims = struct.unpack(">" + "I" * (1 + ndims), data[:header])
    if found != magic:
        sys.exit(f"make_fixture: {path}: magic 0x{found:08X}, expected 0x{magic:08X}")
    return dims, data[header:]


def write_idx(path, magic, dims, payload):
    """Writes an IDX file, gzip-compressed, reproducibly."""
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as f:
            f.write(struct.pack(">" + "I" * (1 + len(dims)), magic, *dims))
            f.write(payload)


def cut(src_dir, out_dir, src, dst, count):
    """Copies the first `count` examples of one split."""
    (n, rows, cols), pixels = read_idx(
        os.path.join(src_dir, f"{src}-images-idx3-ubyte.gz"), IMAGES_MAGIC, 3)
    (n_labels,), labels = read_idx(
        os.path.join(src_dir, f"{src}-labels-idx1-ubyte.gz"), LABELS_MAGIC, 1)
    if n != n_labels or count > n:
        sys.exit(f"make_fixture: {src}: {n} images, {n_labels} labels, {count} wanted")
    images_out = os.path.join(out_dir, f"fmnist-{dst}-images-idx3-ubyte.gz")
    labels_out = os.path.join(out_dir, f"fmnist-{dst}-labels-idx1-ubyte.gz")
    write_idx(images_out, IMAGES_MAGIC, (count, rows, cols), pixels[: count * rows * cols])
    write_idx(labels_out, LABELS_MAGIC, (count,), labels[:count])
    for p in (images_out, labels_out):
        print(f"{p}: {os.path.getsize(p)} bytes")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    src_dir = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
    default_out = os.path.normpath(os.path.join(here, "..", "tests", "fixtures"))
    out_dir = sys.argv[2] if len(sys.argv) > 2 else default_out
    os.makedirs(out_dir, exist_ok=True)
    for src, dst, count in SPLITS:
        cut(src_dir, out_dir, src, dst, count)


if __name__ == "__main__":
    main()
