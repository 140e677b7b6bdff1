/*
 * conv.c — nabla's side of the convolution microbenchmark (bench/conv_compare
 * runs it beside PyTorch's conv2d and the FMA peak): GFLOP/s of the forward
 * convolution, its input gradient and its weight gradient, each its own
 * runtime (the plan keeps only what that value needs), for square kernels
 * with as many output channels as input channels, stride 1, "same" padding,
 * no bias.
 *
 *     conv [--threads N] [--repeats R] [--batch B] [--quick] [--cpu-time]
 *          [--kernels 3,5] [--channels 16,32,64,128]
 *
 * Configurations: kernels 3 and 5, channels 16, 32, 64, 128, images 28×28
 * and 14×14 (--quick: channels 16 and 64 only; --kernels and --channels
 * choose others, bench/compare's conv rows take 3×3 at 32–128). Each direction runs once
 * to warm up, then R times (3); the median counts. One line per
 * configuration, key=value fields:
 *
 *     conv k=3 c=64 hw=28 batch=64 fwd_gflops=… dx_gflops=… dw_gflops=…
 *
 * 2·N·C·C·k²·H·W flops each direction (multiply and add counted apart, the
 * convention of every published figure). Exit 1 on an error (stderr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nabla.h"

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

/* Median seconds of `repeats` runs of rt, after one to warm up. */
static double timed(nb_runtime *rt, int repeats)
{
    double t[64];
    if (nb_runtime_run(rt) != NB_OK)
        return -1;
    for (int r = 0; r < repeats; r++) {
        double t0 = now();
        if (nb_runtime_run(rt) != NB_OK)
            return -1;
        t[r] = now() - t0;
    }
    qsort(t, (size_t)repeats, sizeof t[0], cmp_double);
    return t[repeats / 2];
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
    double gf[3];
    bool ok = xv && dyv;
    for (int dir = 0; ok && dir < 3; dir++) {
        nb_runtime *rt = nb_runtime_new(g, &outs[dir], 1);
        ok = rt != NULL;
        if (ok) {
            nb_runtime_set_input(rt, x, xv);
            nb_runtime_set_input(rt, dy, dyv);
            double s = timed(rt, repeats);
            ok = s > 0;
            if (!ok)
                fprintf(stderr, "conv: %s\n", nb_runtime_error(rt));
            gf[dir] = 2.0 * (double)n * (double)c * k * k / s * 1e-9;
        } else {
            fprintf(stderr, "conv: %s\n", nb_graph_error(g));
        }
        nb_runtime_free(rt);
    }
    if (ok)
        printf("conv k=%d c=%lld hw=%lld batch=%lld fwd_gflops=%.2f dx_gflops=%.2f "
               "dw_gflops=%.2f\n", k, (long long)c, (long long)hw, (long long)batch, gf[0],
               gf[1], gf[2]);
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
