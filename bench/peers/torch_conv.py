"""PyTorch's side of the convolution microbenchmark (bench/conv_compare):
GFLOP/s of conv2d forward, its input gradient and its weight gradient
(oneDNN on this machine), in the configurations of bench/conv.c: kernels 3
and 5, channels 16-128 in and out, images 28x28 and 14x14, batch 64,
stride 1, "same" padding, no bias. Each gradient is one autograd call on a
kept forward graph with only that input requiring grad, so it times that
backward product alone. One warm-up, then the median of --repeats.

    /usr/bin/python3 torch_conv.py --threads 1 [--repeats 3] [--batch 64] [--quick]
                                   [--kernels 3,5] [--channels 16,32,64,128]
                                   [--peak-lib fma_round.so]

One line per configuration, the same fields as bench/conv.c:
    conv k=3 c=64 hw=28 batch=64 fwd_gflops=... dx_gflops=... dw_gflops=...
With --peak-lib (fma_round.c built as a shared library: peak.c's FMA loop),
each timed round follows one round of that loop on as many threads, doing
as many flops, as bench/conv.c does, and each direction adds D_peak_gflops
(the median of those peak rounds) and D_peak_pct (the median of the
rounds' conv/peak ratios, in percent).
"""
import ctypes
import statistics
import sys
import time

from common import parse_args

# --quick, --repeats, --kernels and --channels are this script's own;
# common.parse_args takes the rest.
quick = "--quick" in sys.argv


def own(flag, default):
    if flag not in sys.argv:
        return default
    at = sys.argv.index(flag)
    value = sys.argv[at + 1]
    del sys.argv[at:at + 2]
    return value


repeats = int(own("--repeats", "3"))
peak_lib = own("--peak-lib", "")
kernels = [int(k) for k in own("--kernels", "3,5").split(",")]
channels = [int(c) for c in own("--channels", "16,32,64,128").split(",")]
sys.argv = [a for a in sys.argv if a != "--quick"]
args = parse_args(__doc__, batch=64)

import torch  # noqa: E402  (after parse_args: thread settings first)

torch.set_num_threads(args.threads)
print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)


class Peak:
    """Rounds of peak.c's FMA loop through fma_round.so: the better of the
    512- and 256-bit loops (one round of each, 10^7 iterations a thread),
    on args.threads threads."""

    def __init__(self, path, threads):
        self.lib, self.threads = ctypes.CDLL(path), threads
        self.lib.fma_round.restype = ctypes.c_double
        self.lib.fma_round.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long]
        self.lib.fma_round_flops_per_iter.restype = ctypes.c_double
        self.lib.fma_round_flops_per_iter.argtypes = [ctypes.c_int]
        loops = [1, 0] if self.lib.fma_round_has512() else [0]
        self.wide = max(loops, key=lambda w: self.lib.fma_round(w, threads, 10 ** 7))

    def round(self, flops):
        """GFLOP/s of one round doing `flops` (so about a conv round's time)."""
        per_iter = self.lib.fma_round_flops_per_iter(self.wide) * self.threads
        return self.lib.fma_round(self.wide, self.threads, int(flops / per_iter) + 1)


def median_s(fn):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved(fn, flops):
    """As bench/conv.c: a warm-up, then --repeats rounds of one peak round
    and one run of fn; (median conv GFLOP/s, median peak GFLOP/s, median of
    the rounds' conv/peak ratios in percent)."""
    fn()
    peak.round(flops)
    conv, pk, ratio = [], [], []
    for _ in range(repeats):
        pk.append(peak.round(flops))
        t0 = time.perf_counter()
        fn()
        conv.append(flops / (time.perf_counter() - t0) * 1e-9)
        ratio.append(conv[-1] / pk[-1])
    return (statistics.median(conv), statistics.median(pk), 100 * statistics.median(ratio))


def measure(fn, flops):
    """The key=value text of one direction: GFLOP/s, and with --peak-lib the
    interleaved peak's fields."""
    if peak is None:
        return f"{flops / median_s(fn) * 1e-9:.2f}", ""
    g, p, pct = interleaved(fn, flops)
    return f"{g:.2f}", f"{p:.2f}", f"{pct:.1f}"


def one(k, c, hw, n):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, c, hw, hw, generator=g) - 0.5
    w = (torch.rand(c, c, k, k, generator=g) - 0.5) * 0.1
    dy = torch.rand(n, c, hw, hw, generator=g) - 0.5
    conv = torch.nn.functional.conv2d
    flops = 2.0 * n * c * c * k * k * hw * hw
    got = {}
    with torch.no_grad():
        got["fwd"] = measure(lambda: conv(x, w, padding=k // 2), flops)
    xg = x.clone().requires_grad_(True)
    y = conv(xg, w, padding=k // 2)
    got["dx"] = measure(lambda: torch.autograd.grad(y, xg, dy, retain_graph=True), flops)
    wg = w.clone().requires_grad_(True)
    y = conv(x, wg, padding=k // 2)
    got["dw"] = measure(lambda: torch.autograd.grad(y, wg, dy, retain_graph=True), flops)
    line = f"conv k={k} c={c} hw={hw} batch={n}"
    for d, v in got.items():
        line += f" {d}_gflops={v[0]}"
        if peak is not None:
            line += f" {d}_peak_gflops={v[1]} {d}_peak_pct={v[2]}"
    print(line, flush=True)


peak = Peak(peak_lib, args.threads) if peak_lib else None
for k in kernels:
    for hw in (28, 14):
        for c in channels:
            if quick and c in (32, 128):
                continue
            one(k, c, hw, args.batch)
