/*
 * test_kernels_gemm.c — the FMA kernels of a dense layer's products
 * (ops/kernels/gemm_fma.c, mm_dense: forward x·W at a training batch,
 * weight gradient xᵀ·dy with the batch as inner size; mm_dense_tb: input
 * gradient dy·Wᵀ) checked from inside
 * the library: each product the dispatcher gives them against the plain
 * loops (gemm_plain.c) bit for bit — every element one fused multiply-add
 * chain from zero, p ascending, in both — and against the product in
 * double within the rounding of a float sum; at 1 and 2 threads the same
 * bits; nothing written outside c (guards on both sides) and nothing read
 * outside the inputs (each in its own allocation of its exact size, for
 * AddressSanitizer). Shapes: the MLP's (784-256 at batches 16 to 128),
 * sizes off the panels' six rows and 16, 8 and 4 columns, inner sizes off
 * the blocks of 256 rows, batch 1; for dy·Wᵀ LeNet-5's three dense layers,
 * batches off the 8 lanes (16 to 64 rows), weights of 1 to 401 rows. And a
 * flat range of a weight gradient formed from its factors (dense_wgrad.h):
 * the whole product's bits.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "../ops/kernels/gemm.h"
#include "../ops/kernels/dense_wgrad.h"

/* Floats of guard on each side of c, and their bits (a NaN no kernel makes). */
#define GUARD 24
#define GUARD_BITS 0x7fc0beefu

/* n floats in [-1, 1) from a seeded generator, not exactly summable. */
static float *values(int64_t n, uint64_t seed)
{
    float *v = malloc((size_t)n * sizeof *v);
    cr_assert_not_null(v);
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        v[i] = (float)(seed >> 40) / (float)(1 << 23) - 1.0f;
    }
    return v;
}

/* c with GUARD floats of GUARD_BITS before and after its m·n. */
static float *guarded(int64_t mn)
{
    float *g = malloc((size_t)(mn + 2 * GUARD) * sizeof *g);
    const uint32_t bits = GUARD_BITS;
    cr_assert_not_null(g);
    for (int64_t i = 0; i < mn + 2 * GUARD; i++)
        memcpy(&g[i], &bits, sizeof bits);
    return g;
}

static void assert_guards(const float *g, int64_t mn, const char *what)
{
    const uint32_t bits = GUARD_BITS;
    for (int64_t i = 0; i < GUARD; i++) {
        cr_assert(!memcmp(&g[i], &bits, sizeof bits), "%s: wrote %lld floats before c", what,
                  (long long)(GUARD - i));
        cr_assert(!memcmp(&g[GUARD + mn + i], &bits, sizeof bits),
                  "%s: wrote c's %lld-th float past its end", what, (long long)(i + 1));
    }
}

/* True when this CPU runs the FMA kernels (gemm_fma.c takes no shape
 * elsewhere, and the dispatcher falls back to sgemm). */
static bool have_fma(void)
{
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

/* op(b)(p, j): b [k,n], or [n,k] with tb. */
static float b_at(const float *b, bool tb, int64_t k, int64_t n, int64_t p, int64_t j)
{
    return tb ? b[j * k + p] : b[p * n + j];
}

/*
 * op(a)·op(b) (a [m,k], or [k,m] with ta; b [k,n], or [n,k] with tb) by the FMA kernels at
 * `threads`, into a guarded c: the FMA kernels must take it (on a CPU that
 * has them), write c alone, give the plain loops' bits and the product in
 * double within a float sum's rounding (each element: k·2⁻²⁴ of the sum of
 * its terms' magnitudes, and no closer test is sound for any order).
 * Returns c (m·n floats; free with c - GUARD).
 */
static float *check_dense_at(bool ta, bool tb, int64_t m, int64_t k, int64_t n, int threads,
                             int b_line)
{
    const nb__mm s = {.ta = ta, .tb = tb, .m = m, .k = k, .n = n, .kb = k};
    float *a = values(m * k, 7 + (uint64_t)(m * 31 + k)), *b = values(k * n, 11 + (uint64_t)n);
    float *b_block = NULL; /* b_line ≥ 0: b that many floats past a 64-byte line */
    if (b_line >= 0) {
        b_block = aligned_alloc(64, (size_t)(k * n + 16 + 15) / 16 * 16 * sizeof *b);
        cr_assert_not_null(b_block);
        memcpy(b_block + b_line, b, (size_t)(k * n) * sizeof *b);
        free(b);
        b = b_block + b_line;
    }
    float *g = guarded(m * n), *c = g + GUARD, *ref = malloc((size_t)(m * n) * sizeof *ref);
    char what[96];
    snprintf(what, sizeof what, "%s %lldx%lld·%lldx%lld at %d threads, b at %d",
             ta ? "aᵀ·b" : tb ? "a·bᵀ" : "a·b",
             (long long)m, (long long)k, (long long)k, (long long)n, threads, b_line);
    nb_set_threads(threads);
    if (have_fma())
        cr_assert(nb__gemm_fma(&s, m, a, b, c), "%s: the FMA kernels refused it", what);
    else
        nb__gemm_big(&s, m, a, b, c);
    assert_guards(g, m * n, what);
    nb__gemm_block(&s, a, b, ref, 0, m, 0, n);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double exact = 0, mag = 0;
            for (int64_t p = 0; p < k; p++) {
                const double t =
                    (double)(ta ? a[p * m + i] : a[i * k + p]) * b_at(b, tb, k, n, p, j);
                exact += t, mag += fabs(t);
            }
            const float got = c[i * n + j];
            cr_assert(!memcmp(&got, &ref[i * n + j], sizeof got),
                      "%s (%lld,%lld): %.9g, the plain loops %.9g", what, (long long)i,
                      (long long)j, got, ref[i * n + j]);
            cr_assert(fabs(got - exact) <= (double)k * 0x1p-24 * mag,
                      "%s (%lld,%lld): %.9g, in double %.9g", what, (long long)i, (long long)j,
                      got, exact);
        }
    free(a), free(b_block ? b_block : b), free(ref);
    return c;
}

/* check_dense_at with b in its own allocation of its exact size. */
static float *check_dense(bool ta, bool tb, int64_t m, int64_t k, int64_t n, int threads)
{
    return check_dense_at(ta, tb, m, k, n, threads, -1);
}

/* check_dense at 1 and at 2 threads: the same bits. */
static void check_dense_threads(bool ta, bool tb, int64_t m, int64_t k, int64_t n)
{
    float *one = check_dense(ta, tb, m, k, n, 1), *two = check_dense(ta, tb, m, k, n, 2);
    cr_assert(!memcmp(one, two, (size_t)(m * n) * sizeof *one),
              "%s %lldx%lld·%lldx%lld: other bits at 2 threads than at 1",
              ta ? "aᵀ·b" : tb ? "a·bᵀ" : "a·b",
              (long long)m, (long long)k, (long long)k, (long long)n);
    free(one - GUARD), free(two - GUARD);
    nb_set_threads(1);
}

/* The MLP's first layer (784 → 256): forward x·W at the batches a rank
 * trains (panels 6+6+4 rows at 16, four of 6 then 4+4 at 32, ten of 6
 * then 4 at 64), k = 784 in four blocks of 196 rows carried through c. */
Test(kernels_gemm, dense_forward_mlp_shapes)
{
    static const int64_t batch[] = {16, 32, 64};
    for (size_t t = 0; t < sizeof batch / sizeof *batch; t++)
        check_dense_threads(false, false, batch[t], 784, 256);
}

/* The MLP's weight gradient xᵀ·dy [784, 256] with the batch as inner size:
 * each element written once from registers. */
Test(kernels_gemm, dense_weight_gradient_mlp_shapes)
{
    static const int64_t batch[] = {16, 32, 64, 128};
    for (size_t t = 0; t < sizeof batch / sizeof *batch; t++)
        check_dense_threads(true, false, 784, batch[t], 256);
}

/* Rows off the panels' six (1, 5, 7, 8, 13, 61), columns off 16, 8 and 4
 * (17, 23, 29, 45, 61, 257: strips of 16, then 8, 4 and single columns),
 * inner sizes off the 8 lanes and the blocks (3, 17, 259, 513, 785, 1000),
 * batch 1 either way (one row forward, an inner size of 1 backward). */
Test(kernels_gemm, dense_odd_shapes)
{
    static const int64_t fwd[][3] = {{1, 784, 256}, {7, 785, 23}, {13, 513, 45}, {8, 1000, 29},
                                     {61, 259, 37}, {5, 300, 17}, {64, 17, 61}, {2, 3, 16}};
    static const int64_t wg[][3] = {{784, 1, 256}, {785, 33, 257}, {13, 7, 45}, {19, 128, 23},
                                    {250, 17, 61}, {7, 100, 16}, {100, 3, 21}, {1, 64, 29}};
    for (size_t t = 0; t < sizeof fwd / sizeof *fwd; t++)
        check_dense_threads(false, false, fwd[t][0], fwd[t][1], fwd[t][2]);
    for (size_t t = 0; t < sizeof wg / sizeof *wg; t++)
        check_dense_threads(true, false, wg[t][0], wg[t][1], wg[t][2]);
}

/* b (the weight forward, dy backward) at every float past a cache line:
 * the strips of 16 columns start on b's lines (the columns before the
 * first in 8s, 4s and ones), and 2 threads cut the columns on those
 * lines, so every alignment must give the plain loops' bits, the same at
 * 1 and 2 threads, with nothing written outside c. The MLP's forward at
 * the batches a rank trains, its weight gradient, and columns off the
 * strips (n = 48 and 40, and 61: rows of b that do not all start alike). */
Test(kernels_gemm, dense_b_at_every_place_in_a_line)
{
    static const int64_t fwd[][3] = {{32, 784, 256}, {64, 784, 256}, {13, 300, 48},
                                     {7, 400, 40}, {6, 260, 61}};
    static const int64_t wg[][3] = {{784, 32, 256}, {400, 64, 48}, {300, 32, 61}};
    for (int line = 0; line < 16; line++) {
        for (size_t t = 0; t < sizeof fwd / sizeof *fwd + sizeof wg / sizeof *wg; t++) {
            const bool back = t >= sizeof fwd / sizeof *fwd;
            const int64_t *d = back ? wg[t - sizeof fwd / sizeof *fwd] : fwd[t];
            float *one = check_dense_at(back, false, d[0], d[1], d[2], 1, line);
            float *two = check_dense_at(back, false, d[0], d[1], d[2], 2, line);
            cr_assert(!memcmp(one, two, (size_t)(d[0] * d[2]) * sizeof *one),
                      "%lldx%lld·%lldx%lld, b %d floats past a line: other bits at 2 threads",
                      (long long)d[0], (long long)d[1], (long long)d[1], (long long)d[2], line);
            free(one - GUARD), free(two - GUARD);
        }
    }
    nb_set_threads(1);
}

/* The input gradient dy·Wᵀ [batch, in] of LeNet-5's dense layers (400,
 * 120 and 84 inputs; W [in, out] is b [n, k]) and the MLP's second (256
 * inputs, 10 outputs) at batch 64: c's columns in blocks of 96 rows of cᵀ,
 * stored back by 8×8 transpositions. */
Test(kernels_gemm, dense_input_gradient_shapes)
{
    static const int64_t dx[][3] = {{64, 120, 400}, {64, 84, 120}, {64, 10, 84}, {64, 10, 256}};
    for (size_t t = 0; t < sizeof dx / sizeof *dx; t++)
        check_dense_threads(false, true, dx[t][0], dx[t][1], dx[t][2]);
}

/* dy·Wᵀ off the shapes: batches off the 8 lanes and the 16-column strips
 * (16, 17, 23, 31, 61, 64), inner sizes 1 to 128 (the stack block's
 * bound at batch 64), weights of 1 to 401 rows (off the six-row panels,
 * the 96-row blocks and the 8×8 transpositions). */
Test(kernels_gemm, dense_input_gradient_odd_shapes)
{
    static const int64_t dx[][3] = {{16, 120, 400}, {17, 3, 401}, {23, 17, 97}, {31, 128, 9},
                                    {61, 33, 200}, {64, 128, 1}, {64, 1, 23}, {40, 100, 193}};
    for (size_t t = 0; t < sizeof dx / sizeof *dx; t++)
        check_dense_threads(false, true, dx[t][0], dx[t][1], dx[t][2]);
}

/* Shapes past the dense kernels' limits (65 rows forward, an inner size of
 * 129 backward, a 1024×1024 weight, fewer than 16 columns; b transposed
 * with 65 rows, an inner size of 784 at batch 32 or of 129 at 64, a weight
 * of 1024×1024, or fewer than 16 rows) are refused with c untouched:
 * sgemm computes those. */
Test(kernels_gemm, dense_limits_refused_and_c_untouched)
{
    static const struct { bool ta, tb; int64_t m, k, n; } out[] = {
        {false, false, 65, 784, 256}, {true, false, 784, 129, 256},
        {false, false, 32, 1024, 1024}, {true, false, 1024, 64, 1024},
        {false, false, 32, 784, 15}, {false, true, 32, 784, 256},
        {false, true, 65, 120, 400}, {false, true, 64, 129, 400},
        {false, true, 16, 1024, 1024}, {false, true, 8, 120, 400}};
    for (size_t t = 0; t < sizeof out / sizeof *out; t++) {
        const nb__mm s = {.ta = out[t].ta, .tb = out[t].tb, .m = out[t].m, .k = out[t].k,
                          .n = out[t].n, .kb = out[t].k};
        const int64_t mn = s.m * s.n;
        float *a = values(s.m * s.k, 3), *b = values(s.k * s.n, 5), *g = guarded(mn);
        cr_assert(!nb__gemm_fma(&s, s.m, a, b, g + GUARD), "case %zu was taken", t);
        const uint32_t bits = GUARD_BITS;
        for (int64_t i = 0; i < mn + 2 * GUARD; i++)
            cr_assert(!memcmp(&g[i], &bits, sizeof bits), "case %zu: c written at %lld", t,
                      (long long)i);
        free(a), free(b), free(g);
    }
}

/* ---------------------------------------------------------------- a range of xᵀ·dz */

/*
 * nb__dense_wgrad_range on [lo, hi) of xᵀ·dz (x k×m, dz k×n), into a
 * guarded buffer: the bits of the whole product (nb__gemm_big, as matmul
 * forms it) at those places, nothing written outside [0, hi − lo). A row
 * of scratch is given only when lo or hi cuts a row (else NULL: it must
 * not be touched).
 */
static void check_range(int64_t k, int64_t m, int64_t n, int64_t lo, int64_t hi)
{
    const nb__mm s = {.ta = true, .m = m, .k = k, .n = n, .kb = k};
    float *x = values(k * m, 3 + (uint64_t)(k * 7 + m)), *dz = values(k * n, 5 + (uint64_t)n);
    float *whole = malloc((size_t)(m * n) * sizeof *whole), *g = guarded(hi - lo);
    float *row = lo % n || hi % n ? malloc((size_t)n * sizeof *row) : NULL;
    cr_assert_not_null(whole);
    nb__gemm_big(&s, m, x, dz, whole);
    nb__dense_wgrad_range(x, dz, k, m, n, lo, hi, g + GUARD, row);
    char what[96];
    snprintf(what, sizeof what, "[%lld, %lld) of xᵀ·dz %lldx%lld, k = %lld", (long long)lo,
             (long long)hi, (long long)m, (long long)n, (long long)k);
    assert_guards(g, hi - lo, what);
    for (int64_t e = lo; e < hi; e++)
        cr_assert(!memcmp(&g[GUARD + e - lo], &whole[e], sizeof *whole),
                  "%s: element %lld (%lld, %lld) is %.9g, the whole product's %.9g", what,
                  (long long)e, (long long)(e / n), (long long)(e % n), g[GUARD + e - lo],
                  whole[e]);
    free(x), free(dz), free(whole), free(g), free(row);
}

/* The pieces a data-parallel rank forms (dist_sum.c): the MLP's halves at
 * a global batch of 64 (whole rows), thirds (cut inside rows), and ranges
 * on odd shapes — inside one row, starting or ending at a row's edge,
 * one element, empty, the whole product. */
Test(kernels_gemm, dense_weight_gradient_range_of_the_whole)
{
    const int64_t mn = 784 * 256;
    for (int r = 0; r < 2; r++)
        check_range(64, 784, 256, r * mn / 2, (r + 1) * mn / 2);
    for (int r = 0; r < 3; r++)
        check_range(64, 784, 256, r * mn / 3 + (r > 0), (r + 1) * mn / 3 + (r < 2));
    check_range(63, 784, 256, 1000, 1200);
    static const int64_t odd[][2] = {{0, 13 * 37}, {5, 30}, {37, 74}, {36, 75}, {37, 100},
                                     {10, 37}, {40, 41}, {50, 50}, {0, 1}, {13 * 37 - 1, 13 * 37},
                                     {3, 13 * 37 - 2}};
    for (size_t t = 0; t < sizeof odd / sizeof *odd; t++)
        check_range(9, 13, 37, odd[t][0], odd[t][1]);
}
