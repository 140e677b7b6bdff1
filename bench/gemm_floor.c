/*
 * gemm_floor.c — the matrix-multiply floor of a training epoch: the time
 * the GEMMs one epoch of the MLP or LeNet-5 must do take when called
 * straight through cblas_sgemm, with nothing else (no activations, no
 * im2col, no optimiser, no data). No framework that does these products
 * with OpenBLAS can train the epoch faster, so the ratio nabla epoch /
 * floor says how much of the epoch is overhead around the arithmetic.
 *
 *     gemm_floor mlp|lenet5 [--threads N] [--steps S]
 *
 * Prints "floor mlp threads=1 epoch_s=0.41 gflop=49.1 gflops=118" (steps
 * default to 938, one epoch of 60 000 at batch 64). The GEMM shapes are the
 * ones nabla's graphs make (layers/dense.c, layers/conv.c): batch 64, no
 * gradient for the input images; a conv is one GEMM per layer over the
 * whole batch's columns (its best case).
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nabla.h"

/* One product C[m,n] = op(A)·op(B) with op(A) [m,k] and op(B) [k,n]. */
typedef struct gemm {
    int ta, tb, m, n, k;
} gemm;

/* y = x·w (forward), dw = xᵀ·dy, dx = dy·wᵀ for a dense layer in → out at
 * batch b; the input gradient only when a layer below needs it. */
static int dense_gemms(gemm *g, int b, int in, int out, int need_dx)
{
    int c = 0;
    g[c++] = (gemm){0, 0, b, out, in};
    g[c++] = (gemm){1, 0, in, out, b};
    if (need_dx)
        g[c++] = (gemm){0, 1, b, in, out};
    return c;
}

/* A conv over cols [ck, l] per image as one GEMM over the batch's columns:
 * y [co, b·l] = w [co, ck] · cols; dw = dy · colsᵀ; dcols = wᵀ · dy. */
static int conv_gemms(gemm *g, int b, int co, int ck, int l, int need_dx)
{
    int c = 0;
    g[c++] = (gemm){0, 0, co, b * l, ck};
    g[c++] = (gemm){0, 1, co, ck, b * l};
    if (need_dx)
        g[c++] = (gemm){1, 0, ck, b * l, co};
    return c;
}

static int model_gemms(const char *name, gemm *g)
{
    int c = 0;
    if (!strcmp(name, "mlp")) {
        c += dense_gemms(g + c, 64, 784, 256, 0);
        c += dense_gemms(g + c, 64, 256, 10, 1);
    } else if (!strcmp(name, "lenet5")) {
        c += conv_gemms(g + c, 64, 6, 1 * 5 * 5, 28 * 28, 0);
        c += conv_gemms(g + c, 64, 16, 6 * 5 * 5, 10 * 10, 1);
        c += dense_gemms(g + c, 64, 400, 120, 1);
        c += dense_gemms(g + c, 64, 120, 84, 1);
        c += dense_gemms(g + c, 64, 84, 10, 1);
    }
    return c;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs every product of g once; operands are 0.01 (the values do not
 * change the time), each product with its own buffers like a real step. */
static void run_step(const gemm *g, int n, float *const *a, float *const *b, float *const *c)
{
    for (int i = 0; i < n; i++) {
        int lda = g[i].ta ? g[i].m : g[i].k, ldb = g[i].tb ? g[i].k : g[i].n;
        cblas_sgemm(CblasRowMajor, g[i].ta ? CblasTrans : CblasNoTrans,
                    g[i].tb ? CblasTrans : CblasNoTrans, g[i].m, g[i].n, g[i].k, 1.0f, a[i], lda,
                    b[i], ldb, 0.0f, c[i], g[i].n);
    }
}

static float *filled(size_t count)
{
    float *p = malloc(count * sizeof *p);
    for (size_t i = 0; p && i < count; i++)
        p[i] = 0.01f;
    return p;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: gemm_floor mlp|lenet5 [--threads N] [--steps S]\n");
        return 2;
    }
    int threads = 1;
    long steps = 938;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps"))
            steps = atol(argv[i + 1]);
        else {
            fprintf(stderr, "gemm_floor: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    gemm g[16];
    int n = model_gemms(argv[1], g);
    if (n == 0 || steps < 1) {
        fprintf(stderr, "gemm_floor: unknown model '%s' (mlp or lenet5) or steps < 1\n", argv[1]);
        return 2;
    }
    nb_set_threads(threads);
    float *a[16], *b[16], *c[16];
    double flop = 0;
    for (int i = 0; i < n; i++) {
        a[i] = filled((size_t)g[i].m * g[i].k);
        b[i] = filled((size_t)g[i].k * g[i].n);
        c[i] = filled((size_t)g[i].m * g[i].n);
        if (!a[i] || !b[i] || !c[i]) {
            fprintf(stderr, "gemm_floor: out of memory\n");
            return 1;
        }
        flop += 2.0 * g[i].m * g[i].n * g[i].k;
    }
    for (int w = 0; w < 20; w++)
        run_step(g, n, a, b, c);
    double t0 = now();
    for (long s = 0; s < steps; s++)
        run_step(g, n, a, b, c);
    double dt = now() - t0;
    double epoch = dt / (double)steps * 938.0;
    printf("floor %s threads=%d epoch_s=%.3f gflop=%.1f gflops=%.1f\n", argv[1], threads, epoch,
           flop * 938.0 / 1e9, flop * (double)steps / dt / 1e9);
    for (int i = 0; i < n; i++) {
        free(a[i]);
        free(b[i]);
        free(c[i]);
    }
    return 0;
}
