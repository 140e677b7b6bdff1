#!/usr/bin/env python3
"""test_bench_conv_output.py — bench/conv's arguments and output, as
bench/conv_compare and bench/compare read them: a `peak` line (the
run-wide FMA peak: threads, loop, GFLOP/s), then one `conv` line per
configuration with each direction's GFLOP/s, the FMA peak measured in
rounds interleaved with it and its fraction of that peak; conv_compare's
results() and peaks() parse them; bad arguments are refused with exit 2.
Nothing is timed: figures are only checked to be positive and finite.

usage: test_bench_conv_output.py CONV_EXE SOURCE_ROOT
"""
import importlib.machinery
import importlib.util
import math
import os
import subprocess
import sys

DIRS = ("fwd", "dx", "dw")
failed = 0


def check(what, cond, out=""):
    global failed
    if cond:
        print(f"ok - {what}")
    else:
        failed += 1
        print(f"not ok - {what}")
        for line in out.splitlines()[-20:]:
            print("    " + line)


def conv_compare(root):
    path = os.path.join(root, "bench", "conv_compare")
    loader = importlib.machinery.SourceFileLoader("conv_compare", path)
    spec = importlib.util.spec_from_loader("conv_compare", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def positive(text):
    try:
        x = float(text)
    except ValueError:
        return False
    return math.isfinite(x) and x > 0


def run(exe, *args):
    return subprocess.run([exe] + list(args), capture_output=True, text=True, timeout=120)


def main():
    exe, root = sys.argv[1], sys.argv[2]
    cc = conv_compare(root)
    small = ["--batch", "2", "--kernels", "3", "--channels", "4,5"]
    for threads, extra in (("1", []), ("2", []), ("1", ["--cpu-time"])):
        r = run(exe, "--threads", threads, "--repeats", "3", *small, *extra)
        what = f"--threads {threads} {' '.join(extra)}".strip()
        out = r.stdout + r.stderr
        check(f"{what}: exit 0", r.returncode == 0, out)
        lines = r.stdout.splitlines()
        first = lines[0].split() if lines else []
        f = dict(kv.split("=", 1) for kv in first[1:] if "=" in kv)
        check(f"{what}: first line is the run-wide peak",
              first[:1] == ["peak"] and f.get("threads") == threads
              and f.get("kernel") in ("fma256", "fma512") and positive(f.get("gflops", "")), out)
        conv = [l for l in lines if l.startswith("conv ")]
        check(f"{what}: one conv line per configuration (2 sizes x 2 channel counts)",
              len(conv) == 4, out)
        keys = [f"{d}_{k}" for d in DIRS for k in ("gflops", "peak_gflops", "peak_pct")]
        fs = [cc.fields(l) for l in conv]
        check(f"{what}: every conv line has {', '.join(keys)}, all positive",
              fs and all(all(positive(x.get(k, "")) for k in keys) for x in fs), out)
        got, pk = cc.results(r.stdout), cc.peaks(r.stdout)
        want = {(3, c, hw) for c in (4, 5) for hw in (28, 14)}
        check(f"{what}: conv_compare's results() and peaks() read every configuration",
              set(got) == want and set(pk) == want
              and all(set(got[key]) == set(DIRS) and set(pk[key]) == set(DIRS) for key in want),
              out)
        if set(pk) == want:
            x = fs[0]
            check(f"{what}: peaks() gives the line's peak GFLOP/s and fraction",
                  pk[(3, 4, 28)]["dw"] == (float(x["dw_peak_gflops"]), float(x["dw_peak_pct"])),
                  out)
    # A line without the interleaved peak (PyTorch's) is a result, not a peak.
    torch_line = "conv k=3 c=4 hw=28 batch=2 fwd_gflops=1.0 dx_gflops=2.0 dw_gflops=3.0\n"
    check("a line without peak fields: results() reads it, peaks() leaves it out",
          cc.results(torch_line) == {(3, 4, 28): {"fwd": 1.0, "dx": 2.0, "dw": 3.0}}
          and cc.peaks(torch_line) == {})
    for bad in (["--repeats", "0"], ["--repeats", "65"], ["--threads", "0"],
                ["--channels", "4,x"], ["--kernels", ""], ["--bogus"], ["--repeats"]):
        r = run(exe, *bad)
        check(f"{' '.join(bad)}: refused with exit 2 and a message, no output",
              r.returncode == 2 and r.stderr.startswith(("conv:", "usage: conv"))
              and r.stdout == "", r.stdout + r.stderr)
    print(f"bench_conv_output: {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
