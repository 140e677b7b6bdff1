/*
 * conv.c — nabla's side of the convolution microbenchmark (bench/conv_compare
 * runs it beside PyTorch's conv2d, bench/compare takes its rows): GFLOP/s of
 * the forward convolution, its input gradient and its weight gradient, each
 * its own runtime (the plan keeps only what that value needs), for square
 * kernels with as many output channels as input channels, stride 1, "same"
 * padding, no bias, and each direction's fraction of the FP32 FMA peak
 * measured beside it.
 *
 *     conv [--threads N] [--repeats R] [--batch B] [--quick] [--cpu-time]
 *          [--kernels 3,5] [--channels 16,32,64,128]
 *
 * Configurations: kernels 3 and 5, channels 16, 32, 64, 128, images 28×28
 * and 14×14 (--quick: channels 16 and 64 only; --kernels and --channels
 * choose others, bench/compare's conv rows take 3×3 at 32–128).
 *
 * The peak: first one long round of bench/peers/peak.c's FMA loops (its
 * iteration count, the better of its 512- and 256-bit loops, the same
 * threads: the run-wide peak a figure used to be divided by), then, for
 * each configuration and direction, one warm-up run and R rounds (3) of
 * one short peak round (the better loop, as many flops as the
 * convolution: it lasts about as long) followed by one convolution
 * round. This VM's speed drifts over seconds (a pure FMA loop's time
 * moves 3–39 % between 1-second runs), so a shape is set against the
 * machine of the same moment. Output, key=value fields:
 *
 *     peak threads=1 kernel=fma256 gflops=…            (the run-wide peak)
 *     conv k=3 c=64 hw=28 batch=64 fwd_gflops=… fwd_peak_gflops=… fwd_peak_pct=…
 *          dx_gflops=… dx_peak_gflops=… dx_peak_pct=… dw_… (one line)
 *
 * D_gflops: the median of the convolution rounds; D_peak_gflops: the
 * median of the peak rounds interleaved with them; D_peak_pct: the median
 * of the rounds' ratios (convolution GFLOP/s over the peak round just
 * before it) in percent — see interleaved(). 2·N·C·C·k²·H·W flops each
 * direction (multiply and add counted apart, the convention of every
 * published figure). With --cpu-time both the convolution and the peak
 * rounds are timed in the process's CPU time. Exit 1 on an error
 * (stderr), 2 on bad arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <omp.h>

#include "nabla.h"
#include "peers/fma_peak.h"

/* The clock: wall time, or with --cpu-time the process's CPU time, which
 * a machine shared with other jobs inflates far less (at 1 thread the
 * kernel's own time; at N threads their sum, so GFLOP/s per core). */
static clockid_t clock_id = CLOCK_MONOTONIC;

static double now(void)
{
    struct timespec ts;
    clock_gettime(clock_id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The peak rounds: peak.c's loop (fma512 or fma256, the better one here)
 * on as many threads as the convolutions use, the way peak.c runs it — on
 * the calling thread at 1 thread, else one OpenMP parallel region with
 * every thread looping `iters` times. */
static double (*peak_loop)(long, float *);
static int peak_threads = 1;
static volatile float peak_sink; /* the loops' sums: keeps them from being optimised away */

/* GFLOP/s of one peak round of `iters` iterations a thread (the clock of
 * now(): CPU time with --cpu-time, so the peak is in the same unit). */
static double peak_round(long iters)
{
    const double t0 = now(), flops = fma_peak_team(peak_loop, peak_threads, iters, &peak_sink);
    return flops / (now() - t0) * 1e-9;
}

/* The run-wide peak, as peak.c measures it (10^8 iterations a thread,
 * the better of the 512- and 256-bit loops); it also picks peak_loop.
 * Printed as the `peak` line. */
static void run_wide_peak(void)
{
    const long iters = 100000000;
    struct { const char *name; double (*loop)(long, float *); } loops[2] = {
        {"fma512", fma512}, {"fma256", fma256}};
    double best = 0;
    const char *name = "";
    for (int i = 0; i < 2; i++) {
        if (loops[i].loop == fma512 && !__builtin_cpu_supports("avx512f"))
            continue;
        peak_loop = loops[i].loop;
        double g = peak_round(iters);
        if (g > best)
            best = g, name = loops[i].name;
    }
    peak_loop = !strcmp(name, "fma512") ? fma512 : fma256;
    printf("peak threads=%d kernel=%s gflops=%.2f\n", peak_threads, name, best);
    fflush(stdout);
}

/* One direction: a warm-up run, then `repeats` rounds of one peak round
 * and one run of rt. The peak round does the convolution's `flops`
 * (iterations split over the threads), so it lasts about as long as the
 * convolution round (its fraction of the peak). Out: the convolution's
 * median GFLOP/s, the peak rounds' median GFLOP/s, and the median of the
 * rounds' ratios (conv GFLOP/s / the peak round just before it).
 *
 * Why the median of the ratios and not the ratio of the medians: a pair is
 * two adjacent rounds (together ≤ ≈ 0.4 s for the 3×3 shapes at 1 thread), so the speed the machine
 * drifts to over seconds divides out of each ratio, while the two medians
 * are each taken over the whole R-round window (several seconds for the
 * large shapes) and may come from different stretches of it; the median
 * over the pairs then drops the pairs another process interrupted. Both
 * medians are printed too, so the other quotient can be formed. False on
 * an error. */
static bool interleaved(nb_runtime *rt, int repeats, double flops, double *gflops,
                        double *peak_gflops, double *pct)
{
    double conv[64], peak[64], ratio[64];
    float sink = 0;
    double per_iter = peak_loop(1, &sink) * peak_threads; /* flops of one iteration, all threads */
    long iters = (long)(flops / per_iter) + 1;
    if (nb_runtime_run(rt) != NB_OK)
        return false;
    peak_round(iters);
    for (int r = 0; r < repeats; r++) {
        peak[r] = peak_round(iters);
        double t0 = now();
        if (nb_runtime_run(rt) != NB_OK)
            return false;
        conv[r] = flops / (now() - t0) * 1e-9;
        ratio[r] = conv[r] / peak[r];
    }
    *gflops = median(conv, repeats);
    *peak_gflops = median(peak, repeats);
    *pct = 100 * median(ratio, repeats);
    return true;
}

static void fill(float *x, int64_t n, unsigned seed)
{
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
}

/* One configuration: false (message on stderr) on an error. */
static bool one(int k, int64_t c, int64_t hw, int64_t batch, int repeats)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(batch, c, hw, hw));
    nb_node *y = nb_conv2d(g, x, (nb_conv2d_opts){.filters = c, .kernel = k, .pad = k / 2,
                                                  .no_bias = true});
    nb_node *dy = nb_input(g, "dy", NB_SHAPE(batch, c, hw, hw));
    nb_node *loss = nb_sum(g, nb_mul(g, y, dy), NULL, 0, false);
    nb_node *wrt[2] = {x, nb_graph_param(g, 0)}, *d[2];
    if (!loss || nb_grad(g, loss, wrt, 2, d) != NB_OK) {
        fprintf(stderr, "conv: %s\n", nb_graph_error(g));
        nb_graph_free(g);
        return false;
    }
    int64_t n = batch * c * hw * hw;
    float *xv = malloc((size_t)n * sizeof(float)), *dyv = malloc((size_t)n * sizeof(float));
    fill(xv, n, 1);
    fill(dyv, n, 2);
    nb_node *outs[3] = {y, d[0], d[1]};
    double flops = 2.0 * (double)n * (double)c * k * k, gf[3], pk[3], pct[3];
    bool ok = xv && dyv;
    for (int dir = 0; ok && dir < 3; dir++) {
        nb_runtime *rt = nb_runtime_new(g, &outs[dir], 1);
        ok = rt != NULL;
        if (ok) {
            nb_runtime_set_input(rt, x, xv);
            nb_runtime_set_input(rt, dy, dyv);
            ok = interleaved(rt, repeats, flops, &gf[dir], &pk[dir], &pct[dir]);
            if (!ok)
                fprintf(stderr, "conv: %s\n", nb_runtime_error(rt));
        } else {
            fprintf(stderr, "conv: %s\n", nb_graph_error(g));
        }
        nb_runtime_free(rt);
    }
    if (ok) {
        static const char *const names[3] = {"fwd", "dx", "dw"};
        printf("conv k=%d c=%lld hw=%lld batch=%lld", k, (long long)c, (long long)hw,
               (long long)batch);
        for (int dir = 0; dir < 3; dir++)
            printf(" %s_gflops=%.2f %s_peak_gflops=%.2f %s_peak_pct=%.1f", names[dir], gf[dir],
                   names[dir], pk[dir], names[dir], pct[dir]);
        printf("\n");
    }
    fflush(stdout);
    free(xv);
    free(dyv);
    nb_graph_free(g);
    return ok;
}

/* A comma list of at most max positive numbers into v; its length, or -1. */
static int list(const char *text, int64_t *v, int max)
{
    int n = 0;
    for (const char *p = text; *p && n < max; p += *p == ',') {
        char *end;
        long long x = strtoll(p, &end, 10);
        if (end == p || x < 1 || (*end && *end != ','))
            return -1;
        v[n++] = x;
        p = end;
    }
    return n;
}

int main(int argc, char **argv)
{
    int threads = 1, repeats = 3;
    int64_t batch = 64;
    bool quick = false;
    int64_t kernels[8] = {3, 5}, chans[8] = {16, 32, 64, 128};
    int n_kernels = 2, n_chans = 4;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--repeats") && i + 1 < argc)
            repeats = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--cpu-time"))
            clock_id = CLOCK_PROCESS_CPUTIME_ID;
        else if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (!strcmp(argv[i], "--kernels") && i + 1 < argc)
            n_kernels = list(argv[++i], kernels, 8);
        else if (!strcmp(argv[i], "--channels") && i + 1 < argc)
            n_chans = list(argv[++i], chans, 8);
        else {
            fprintf(stderr, "usage: conv [--threads N] [--repeats R] [--batch B] [--quick] [--cpu-time] "
                            "[--kernels 3,5] [--channels 16,32,64,128]\n");
            return 2;
        }
    }
    if (threads < 1 || repeats < 1 || repeats > 64 || batch < 1 || n_kernels < 1 ||
        n_chans < 1) {
        fprintf(stderr, "conv: threads and batch must be >= 1, repeats 1 to 64, kernels and "
                        "channels lists of 1 to 8 numbers >= 1\n");
        return 2;
    }
    nb_set_threads(threads);
    peak_threads = threads;
    run_wide_peak();
    const int64_t sizes[] = {28, 14};
    for (int ki = 0; ki < n_kernels; ki++)
        for (int s = 0; s < 2; s++)
            for (int ci = 0; ci < n_chans; ci++) {
                if (quick && (chans[ci] == 32 || chans[ci] == 128))
                    continue;
                if (!one((int)kernels[ki], chans[ci], sizes[s], batch, repeats))
                    return 1;
            }
    return 0;
}
