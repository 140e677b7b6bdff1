#!/usr/bin/env python3
"""bench/dist_model.py LINES_FILE — docs/scaling.md's model of data-parallel
efficiency at 8, 64 and 512 ranks from bench/dist_scaling's key=value lines.

Per model: t_c, the compute of one step at one rank (epoch_s / steps of the
ranks=1 line, per-rank batch 64, one thread), and S, the bytes each rank
hands to allreduce per step. On this machine the ranks=2 line's allreduce of
S bytes alone (ranks lined up first) and of one float give alpha (latency)
and beta (bandwidth): t(2) = S/beta + 2 alpha for a ring. Between hosts,
two assumed networks. The ring allreduce of S bytes on N ranks costs
2(N-1)/N S/beta + 2(N-1) alpha; a step with a fixed per-rank batch (weak
scaling) takes t_c + t_ar(N) without overlap, max(t_c, t_ar) with perfect
overlap; efficiency = t_c / step time.
"""
import sys

runs = {}
for line in open(sys.argv[1]):
    if line.startswith("model="):
        kv = dict(f.split("=", 1) for f in line.split())
        runs[(kv["model"], int(kv["ranks"]))] = kv

def ring(S, N, alpha, beta):
    return 2 * (N - 1) / N * S / beta + 2 * (N - 1) * alpha

nets = {}
two = [kv for (model, ranks), kv in runs.items()
       if ranks == 2 and float(kv["allreduce_alone_us"]) > 0]
if two:  # the largest message measures the bandwidth best
    kv = max(two, key=lambda kv: int(kv["bytes_per_step"]))
    alpha = max(float(kv["allreduce_latency_us"]) * 1e-6 / 2, 1e-7)
    beta = int(kv["bytes_per_step"]) / max(float(kv["allreduce_alone_us"]) * 1e-6 - 2 * alpha, 1e-9)
    nets[f"this machine's shared memory (measured: alpha {alpha*1e6:.1f} us, "
         f"beta {beta/1e9:.1f} GB/s)"] = (alpha, beta)
nets["10 GbE (assumed: alpha 25 us, beta 1.1 GB/s)"] = (25e-6, 1.1e9)
nets["100 Gb/s InfiniBand (assumed: alpha 2 us, beta 11 GB/s)"] = (2e-6, 11e9)

print("| network | model | t_c per step | S per step | N = 8 | N = 64 | N = 512 |")
print("|---|---|---|---|---|---|---|")
for net, (alpha, beta) in nets.items():
    for (model, ranks), kv in sorted(runs.items()):
        if ranks != 1 or (model, 2) not in runs:
            continue
        tc = float(kv["epoch_s"]) / int(kv["steps"])
        S = int(runs[(model, 2)]["bytes_per_step"])
        cells = []
        for N in (8, 64, 512):
            t = ring(S, N, alpha, beta)
            cells.append(f"{t*1e3:.2f} ms: {tc/(tc+t):.0%} ({tc/max(tc, t):.0%})")
        print(f"| {net} | {model} | {tc*1e3:.2f} ms | {S} B | " + " | ".join(cells) + " |")
