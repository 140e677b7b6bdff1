"""PyTorch's side of the convolution microbenchmark (bench/conv_compare):
GFLOP/s of conv2d forward, its input gradient and its weight gradient
(oneDNN on this machine), in the configurations of bench/conv.c: kernels 3
and 5, channels 16-128 in and out, images 28x28 and 14x14, batch 64,
stride 1, "same" padding, no bias. Each gradient is one autograd call on a
kept forward graph with only that input requiring grad, so it times that
backward product alone. One warm-up, then the median of --repeats.

    /usr/bin/python3 torch_conv.py --threads 1 [--repeats 3] [--batch 64] [--quick]
                                   [--kernels 3,5] [--channels 16,32,64,128]

One line per configuration, the same fields as bench/conv.c:
    conv k=3 c=64 hw=28 batch=64 fwd_gflops=... dx_gflops=... dw_gflops=...
"""
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
kernels = [int(k) for k in own("--kernels", "3,5").split(",")]
channels = [int(c) for c in own("--channels", "16,32,64,128").split(",")]
sys.argv = [a for a in sys.argv if a != "--quick"]
args = parse_args(__doc__, batch=64)

import torch  # noqa: E402  (after parse_args: thread settings first)

torch.set_num_threads(args.threads)
print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)


def median_s(fn):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def one(k, c, hw, n):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, c, hw, hw, generator=g) - 0.5
    w = (torch.rand(c, c, k, k, generator=g) - 0.5) * 0.1
    dy = torch.rand(n, c, hw, hw, generator=g) - 0.5
    conv = torch.nn.functional.conv2d
    with torch.no_grad():
        fwd = median_s(lambda: conv(x, w, padding=k // 2))
    xg = x.clone().requires_grad_(True)
    y = conv(xg, w, padding=k // 2)
    dx = median_s(lambda: torch.autograd.grad(y, xg, dy, retain_graph=True))
    wg = w.clone().requires_grad_(True)
    y = conv(x, wg, padding=k // 2)
    dw = median_s(lambda: torch.autograd.grad(y, wg, dy, retain_graph=True))
    flops = 2.0 * n * c * c * k * k * hw * hw
    print(f"conv k={k} c={c} hw={hw} batch={n} fwd_gflops={flops / fwd * 1e-9:.2f} "
          f"dx_gflops={flops / dx * 1e-9:.2f} dw_gflops={flops / dw * 1e-9:.2f}", flush=True)


for k in kernels:
    for hw in (28, 14):
        for c in channels:
            if quick and c in (32, 128):
                continue
            one(k, c, hw, args.batch)
