/*
 * gemm_fma.c — hand-tuned kernels for the products of a convolution's
 * per-image shapes, which OpenBLAS's sgemm packs at a cost larger than the
 * arithmetic: register-blocked dot products (mm_dots) and panels of six
 * rows against 16 columns (mm_panels, mm_panels_tb), with AVX2 fused
 * multiply-adds; and the same panels over a dense layer's products at a
 * training batch (mm_dense: forward and weight gradient; mm_dense_tb: the
 * input gradient dy·Wᵀ, as cᵀ = W·dyᵀ), where sgemm packs the whole
 * weight, or clears the whole weight gradient, on every call whatever the
 * batch. Each output's summation order is fixed by the shape; the plain
 * loops (gemm_plain.c) compute the same products for comparison.
 */
#include "gemm.h"

/* Inner size from which a product of rows against rows (no ta, tb: both
 * read along contiguous p) with few outputs runs as blocked dot products
 * (mm_dots) rather than sgemm, and the most outputs it may have: a
 * convolution's weight gradient per image (6×25 outputs, k = 784), where
 * sgemm's packing costs more than the arithmetic (bench/workloads lenet5
 * times the epoch these products are part of). */
#define NB__MM_DOT_K 512
#define NB__MM_DOT_MN 1024

/* The largest inner size and product (multiply-adds) mm_panels computes in
 * place of sgemm: a convolution's per-image products (LeNet-5's
 * 6×25·25×784, 16×150·150×100, 150×16ᵀ·16×100), where sgemm's packing of
 * both operands costs more than it saves. Beyond 2^18 OpenBLAS may also
 * thread the product. */
#define NB__MM_PANEL_K 256
#define NB__MM_PANEL_WORK (1 << 18)

/* The dense layers' products mm_dense takes (mm_dense_shape), from
 * measurements against sgemm on a Zen 3 core (a weight of 784×256: at
 * batch 16-64 the forward took 0.83-0.95 of sgemm's time and the weight
 * gradient 0.6-0.85; at batch 128 the forward 1.04, the gradient 0.94):
 * the most rows of a forward, the largest inner size of a weight
 * gradient, the most floats of the weight. Its blocks of op(b)'s rows: a
 * 16-column strip of NB__MM_DENSE_KC rows is 16 KB, half of L1. The most
 * blocks it cuts a product into for the thread pool. */
#define NB__MM_DENSE_ROWS 64
#define NB__MM_DENSE_INNER 128
#define NB__MM_DENSE_WEIGHT (1 << 18)
#define NB__MM_DENSE_KC 256
#define NB__MM_DENSE_CUTS 8
/* Floats of op(a)'s block up to which mm_dense runs strips outer (128 KB:
 * a quarter of L2, read again by every strip). */
#define NB__MM_DENSE_L2 32768
/* Floats of aᵀ mm_dense_tb stages on the stack, the batch times the
 * layer's outputs (64 × 128: 32 KB); mm_dense_tb_shape reads it on every
 * compiler. */
#define NB__MM_DENSE_TB_AT 8192

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define NB__MM_HAVE_DOTS 1

/* The FMA kernels (mm_dots, mm_panels, mm_panels_tb) are compiled for AVX2
 * with FMA only, and taken only on CPUs that have both (cpu_has_fma): their
 * multiply-adds are fused (fmaf, one rounding), as OpenBLAS's are, which
 * doubles their throughput; elsewhere sgemm computes those shapes. Each
 * output's summation order is fixed by the shape alone. */
#define NB__MM_FMA __attribute__((target("avx2,fma")))

/* Eight floats as one vector (GCC's vector extension: one AVX2 register),
 * and the same type read from any float address. */
#include "transpose8_avx2.h"

typedef float nb__v8 __attribute__((vector_size(32)));
typedef float nb__v8u __attribute__((vector_size(32), aligned(4), may_alias));
#define NB__MM_LANES 8

/* c + a·b lane by lane, each lane one fused multiply-add (vfmadd). */
static inline __attribute__((always_inline)) NB__MM_FMA nb__v8 fma8(nb__v8 a, nb__v8 b, nb__v8 c)
{
    nb__v8 r;
    for (int l = 0; l < NB__MM_LANES; l++)
        r[l] = __builtin_fmaf(a[l], b[l], c[l]);
    return r;
}

/* v in every lane: one vbroadcastss from memory. (A vector plus a scalar,
 * z + v, is not that: the add of zero must stay for v = -0, so GCC loads,
 * adds, then broadcasts, three instructions in series for each.) */
static inline __attribute__((always_inline)) NB__MM_FMA nb__v8 bcast8(float v)
{
    return (nb__v8){v, v, v, v, v, v, v, v};
}

/* The sum of v's lanes, in lane order. */
static inline __attribute__((always_inline)) NB__MM_FMA float lanes_sum(nb__v8 v)
{
    float t = 0.0f;
    for (int l = 0; l < NB__MM_LANES; l++)
        t += v[l];
    return t;
}

/*
 * Rows a0, a1, a2 of op(a) against rows b, b+k, b+2k, b+3k of op(b) (all
 * contiguous along p, length k) → the ri×rj block at c (row stride n).
 * Twelve vector accumulators (with three a and one b vector: sixteen AVX2
 * registers), so each load feeds three or four multiply-adds. With fewer
 * rows (ri < 3, rj < 4) the spare pointers repeat a real row and their sums
 * are dropped. The last k mod 8 products are added one by one.
 */
static inline __attribute__((always_inline)) NB__MM_FMA void
dot_3x4(const float *a0, const float *a1, const float *a2, const float *b, int64_t k, float *c,
        int64_t n, int64_t ri, int64_t rj)
{
    const float *b0 = b, *b1 = b + (rj > 1) * k, *b2 = b + (rj > 2) * 2 * k,
                *b3 = b + (rj > 3) * 3 * k;
    const nb__v8 zero = {0};
    nb__v8 s00 = zero, s01 = zero, s02 = zero, s03 = zero, s10 = zero, s11 = zero, s12 = zero,
           s13 = zero, s20 = zero, s21 = zero, s22 = zero, s23 = zero;
    int64_t p = 0;
    for (; p + NB__MM_LANES <= k; p += NB__MM_LANES) {
        const nb__v8 x0 = *(const nb__v8u *)(a0 + p), x1 = *(const nb__v8u *)(a1 + p),
                     x2 = *(const nb__v8u *)(a2 + p);
        nb__v8 y = *(const nb__v8u *)(b0 + p);
        s00 = fma8(x0, y, s00), s10 = fma8(x1, y, s10), s20 = fma8(x2, y, s20);
        y = *(const nb__v8u *)(b1 + p);
        s01 = fma8(x0, y, s01), s11 = fma8(x1, y, s11), s21 = fma8(x2, y, s21);
        y = *(const nb__v8u *)(b2 + p);
        s02 = fma8(x0, y, s02), s12 = fma8(x1, y, s12), s22 = fma8(x2, y, s22);
        y = *(const nb__v8u *)(b3 + p);
        s03 = fma8(x0, y, s03), s13 = fma8(x1, y, s13), s23 = fma8(x2, y, s23);
    }
    const nb__v8 r[3][4] = {{s00, s01, s02, s03}, {s10, s11, s12, s13}, {s20, s21, s22, s23}};
    for (int64_t i = 0; i < ri; i++)
        for (int64_t j = 0; j < rj; j++) {
            const float *ar = i == 0 ? a0 : i == 1 ? a1 : a2, *br = b + j * k;
            float t = lanes_sum(r[i][j]);
            for (int64_t q = p; q < k; q++)
                t = __builtin_fmaf(ar[q], br[q], t);
            c[i * n + j] = t;
        }
}

/* c (m×n) = a (m×k) · bᵀ (b n×k), both row-major: every output a dot
 * product of two contiguous rows, computed in 3×4 blocks (dot_3x4). */
NB__MM_FMA static void mm_dots(int64_t m, int64_t n, int64_t k, const float *a, const float *b,
                               float *c)
{
    for (int64_t i = 0; i < m; i += 3) {
        const int64_t ri = m - i < 3 ? m - i : 3;
        const float *a0 = a + i * k, *a1 = ri > 1 ? a0 + k : a0, *a2 = ri > 2 ? a0 + 2 * k : a0;
        for (int64_t j = 0; j < n; j += 4)
            dot_3x4(a0, a1, a2, b + j * k, k, c + i * n + j, n, ri, n - j < 4 ? n - j : 4);
    }
}

/* Four floats as one vector (an SSE register), for the panels' last columns. */
typedef float nb__v4 __attribute__((vector_size(16)));
typedef float nb__v4u __attribute__((vector_size(16), aligned(4), may_alias));

/* v in four lanes. */
static inline __attribute__((always_inline)) NB__MM_FMA nb__v4 bcast4(float v)
{
    return (nb__v4){v, v, v, v};
}

/* c + a·b lane by lane, fused, on four lanes. */
static inline __attribute__((always_inline)) NB__MM_FMA nb__v4 fma4(nb__v4 a, nb__v4 b, nb__v4 c)
{
    nb__v4 r;
    for (int l = 0; l < 4; l++)
        r[l] = __builtin_fmaf(a[l], b[l], c[l]);
    return r;
}

/* The start of a panel's row-ROW accumulator when it carries on c's sums:
 * the ROW-th row's vector at p when that row is real (ROW < ri), else zero
 * (a repeated row, whose result is dropped: never read past c's rows). */
#define START8(p, ROW) ((ROW) < ri ? (nb__v8)(*(const nb__v8u *)(p)) : z)
#define START4(p, ROW) ((ROW) < ri ? (nb__v4)(*(const nb__v4u *)(p)) : z)

/* Rows of a panel: one broadcast of op(a)(i,p) feeds every vector of row i. */
#define NB__MM_PANEL 6

/* The six rows of op(a) a panel starting at a reads (row step ai); past the
 * ri real rows they repeat the first, and their results are dropped. */
#define PANEL_ROWS(a, ai, ri)                                                                  \
    const float *r0 = (a), *r1 = (a) + ((ri) > 1) * (ai), *r2 = (a) + ((ri) > 2) * 2 * (ai),    \
                *r3 = (a) + ((ri) > 3) * 3 * (ai), *r4 = (a) + ((ri) > 4) * 4 * (ai),          \
                *r5 = (a) + ((ri) > 5) * 5 * (ai)

/*
 * One panel of c = op(a)·b with b row-major (no tb): rows [0, ri) (ri ≤ 6)
 * of op(a) from a (op(a)(i,p) = a[i·ai + p·ap]) against columns [0, 16) of
 * b (row stride n) → c (row stride n). The 6×16 block stays in twelve
 * vector accumulators over all of p, so c is written once and nothing is
 * packed: for the small inner sizes of a convolution's per-image products
 * this beats sgemm, which packs both operands on every call. With acc the
 * sums start from c's ri rows instead of zero: a later block of p (mm_dense)
 * carries on each element's chain through memory, which keeps its bits.
 */
static inline __attribute__((always_inline)) NB__MM_FMA void
panel_6x16(const float *a, int64_t ai, int64_t ap, const float *b, int64_t k, int64_t n, float *c,
           int64_t ri, bool acc)
{
    PANEL_ROWS(a, ai, ri);
    const nb__v8 z = {0};
    nb__v8 c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z,
           c41 = z, c50 = z, c51 = z;
    if (acc) {
        c00 = START8(c, 0), c01 = START8(c + 8, 0), c10 = START8(c + n, 1);
        c11 = START8(c + n + 8, 1), c20 = START8(c + 2 * n, 2), c21 = START8(c + 2 * n + 8, 2);
        c30 = START8(c + 3 * n, 3), c31 = START8(c + 3 * n + 8, 3);
        c40 = START8(c + 4 * n, 4), c41 = START8(c + 4 * n + 8, 4);
        c50 = START8(c + 5 * n, 5), c51 = START8(c + 5 * n + 8, 5);
    }
    for (int64_t p = 0; p < k; p++) {
        const nb__v8 y0 = *(const nb__v8u *)(b + p * n), y1 = *(const nb__v8u *)(b + p * n + 8);
        nb__v8 x = bcast8(r0[p * ap]);
        c00 = fma8(x, y0, c00), c01 = fma8(x, y1, c01);
        x = bcast8(r1[p * ap]), c10 = fma8(x, y0, c10), c11 = fma8(x, y1, c11);
        x = bcast8(r2[p * ap]), c20 = fma8(x, y0, c20), c21 = fma8(x, y1, c21);
        x = bcast8(r3[p * ap]), c30 = fma8(x, y0, c30), c31 = fma8(x, y1, c31);
        x = bcast8(r4[p * ap]), c40 = fma8(x, y0, c40), c41 = fma8(x, y1, c41);
        x = bcast8(r5[p * ap]), c50 = fma8(x, y0, c50), c51 = fma8(x, y1, c51);
    }
    const nb__v8 r[NB__MM_PANEL][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                                       {c30, c31}, {c40, c41}, {c50, c51}};
    for (int64_t i = 0; i < ri; i++)
        *(nb__v8u *)(c + i * n) = r[i][0], *(nb__v8u *)(c + i * n + 8) = r[i][1];
}

/* panel_6x16 for a last panel of at most four rows (ri ≤ 4): eight
 * accumulators, so no multiply-adds go to repeated rows. */
static inline __attribute__((always_inline)) NB__MM_FMA void
panel_4x16(const float *a, int64_t ai, int64_t ap, const float *b, int64_t k, int64_t n, float *c,
           int64_t ri, bool acc)
{
    const float *r0 = a, *r1 = a + (ri > 1) * ai, *r2 = a + (ri > 2) * 2 * ai,
                *r3 = a + (ri > 3) * 3 * ai;
    const nb__v8 z = {0};
    nb__v8 c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
    if (acc) {
        c00 = START8(c, 0), c01 = START8(c + 8, 0), c10 = START8(c + n, 1);
        c11 = START8(c + n + 8, 1), c20 = START8(c + 2 * n, 2), c21 = START8(c + 2 * n + 8, 2);
        c30 = START8(c + 3 * n, 3), c31 = START8(c + 3 * n + 8, 3);
    }
    for (int64_t p = 0; p < k; p++) {
        const nb__v8 y0 = *(const nb__v8u *)(b + p * n), y1 = *(const nb__v8u *)(b + p * n + 8);
        nb__v8 x = bcast8(r0[p * ap]);
        c00 = fma8(x, y0, c00), c01 = fma8(x, y1, c01);
        x = bcast8(r1[p * ap]), c10 = fma8(x, y0, c10), c11 = fma8(x, y1, c11);
        x = bcast8(r2[p * ap]), c20 = fma8(x, y0, c20), c21 = fma8(x, y1, c21);
        x = bcast8(r3[p * ap]), c30 = fma8(x, y0, c30), c31 = fma8(x, y1, c31);
    }
    const nb__v8 r[4][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
    for (int64_t i = 0; i < ri; i++)
        *(nb__v8u *)(c + i * n) = r[i][0], *(nb__v8u *)(c + i * n + 8) = r[i][1];
}

/* panel_6x16 on 8 columns (a last n mod 16 of 8 or more): six accumulators. */
static inline __attribute__((always_inline)) NB__MM_FMA void
panel_6x8(const float *a, int64_t ai, int64_t ap, const float *b, int64_t k, int64_t n, float *c,
          int64_t ri, bool acc)
{
    PANEL_ROWS(a, ai, ri);
    const nb__v8 z = {0};
    nb__v8 c0 = z, c1 = z, c2 = z, c3 = z, c4 = z, c5 = z;
    if (acc) {
        c0 = START8(c, 0), c1 = START8(c + n, 1), c2 = START8(c + 2 * n, 2);
        c3 = START8(c + 3 * n, 3), c4 = START8(c + 4 * n, 4), c5 = START8(c + 5 * n, 5);
    }
    for (int64_t p = 0; p < k; p++) {
        const nb__v8 y = *(const nb__v8u *)(b + p * n);
        c0 = fma8(bcast8(r0[p * ap]), y, c0), c1 = fma8(bcast8(r1[p * ap]), y, c1);
        c2 = fma8(bcast8(r2[p * ap]), y, c2), c3 = fma8(bcast8(r3[p * ap]), y, c3);
        c4 = fma8(bcast8(r4[p * ap]), y, c4), c5 = fma8(bcast8(r5[p * ap]), y, c5);
    }
    const nb__v8 r[NB__MM_PANEL] = {c0, c1, c2, c3, c4, c5};
    for (int64_t i = 0; i < ri; i++)
        *(nb__v8u *)(c + i * n) = r[i];
}

/* panel_6x16 on 4 columns (the last n mod 16, or mod 8, in fours). */
static inline __attribute__((always_inline)) NB__MM_FMA void
panel_6x4(const float *a, int64_t ai, int64_t ap, const float *b, int64_t k, int64_t n, float *c,
          int64_t ri, bool acc)
{
    PANEL_ROWS(a, ai, ri);
    const nb__v4 z = {0};
    nb__v4 c0 = z, c1 = z, c2 = z, c3 = z, c4 = z, c5 = z;
    if (acc) {
        c0 = START4(c, 0), c1 = START4(c + n, 1), c2 = START4(c + 2 * n, 2);
        c3 = START4(c + 3 * n, 3), c4 = START4(c + 4 * n, 4), c5 = START4(c + 5 * n, 5);
    }
    for (int64_t p = 0; p < k; p++) {
        const nb__v4 y = *(const nb__v4u *)(b + p * n);
        c0 = fma4(bcast4(r0[p * ap]), y, c0), c1 = fma4(bcast4(r1[p * ap]), y, c1);
        c2 = fma4(bcast4(r2[p * ap]), y, c2), c3 = fma4(bcast4(r3[p * ap]), y, c3);
        c4 = fma4(bcast4(r4[p * ap]), y, c4), c5 = fma4(bcast4(r5[p * ap]), y, c5);
    }
    const nb__v4 r[NB__MM_PANEL] = {c0, c1, c2, c3, c4, c5};
    for (int64_t i = 0; i < ri; i++)
        *(nb__v4u *)(c + i * n) = r[i];
}

/* panel_6x16 on one column (the last n mod 4): six independent sums. */
static inline __attribute__((always_inline)) NB__MM_FMA void
panel_6x1(const float *a, int64_t ai, int64_t ap, const float *b, int64_t k, int64_t n, float *c,
          int64_t ri, bool acc)
{
    PANEL_ROWS(a, ai, ri);
    float c0 = 0.0f, c1 = 0.0f, c2 = 0.0f, c3 = 0.0f, c4 = 0.0f, c5 = 0.0f;
    if (acc) {
        c0 = c[0], c1 = ri > 1 ? c[n] : 0.0f, c2 = ri > 2 ? c[2 * n] : 0.0f;
        c3 = ri > 3 ? c[3 * n] : 0.0f, c4 = ri > 4 ? c[4 * n] : 0.0f;
        c5 = ri > 5 ? c[5 * n] : 0.0f;
    }
    for (int64_t p = 0; p < k; p++) {
        const float y = b[p * n];
        c0 = __builtin_fmaf(r0[p * ap], y, c0), c1 = __builtin_fmaf(r1[p * ap], y, c1);
        c2 = __builtin_fmaf(r2[p * ap], y, c2), c3 = __builtin_fmaf(r3[p * ap], y, c3);
        c4 = __builtin_fmaf(r4[p * ap], y, c4), c5 = __builtin_fmaf(r5[p * ap], y, c5);
    }
    const float r[NB__MM_PANEL] = {c0, c1, c2, c3, c4, c5};
    for (int64_t i = 0; i < ri; i++)
        c[i * n] = r[i];
}
#undef PANEL_ROWS
#undef START8
#undef START4

/* c (m×n) = op(a)·b, b row-major (no tb), in panels of six rows (the last
 * one of four or fewer in panel_4x16): 16 columns at a time, then fours,
 * then single columns. */
NB__MM_FMA static void mm_panels(const nb__mm *s, int64_t m, const float *a, const float *b,
                                 float *c)
{
    const int64_t n = s->n, k = s->k, ai = s->ta ? 1 : k, ap = s->ta ? s->m : 1;
    for (int64_t i = 0; i < m; i += NB__MM_PANEL) {
        const int64_t ri = m - i < NB__MM_PANEL ? m - i : NB__MM_PANEL;
        const float *ar = a + i * ai;
        float *cr = c + i * n;
        int64_t j = 0;
        if (ri <= 4)
            for (; j + 16 <= n; j += 16)
                panel_4x16(ar, ai, ap, b + j, k, n, cr + j, ri, false);
        for (; j + 16 <= n; j += 16)
            panel_6x16(ar, ai, ap, b + j, k, n, cr + j, ri, false);
        for (; j + 4 <= n; j += 4)
            panel_6x4(ar, ai, ap, b + j, k, n, cr + j, ri, false);
        for (; j < n; j++)
            panel_6x1(ar, ai, ap, b + j, k, n, cr + j, ri, false);
    }
}

/* Rows of op(b) mm_panels_tb turns into one block of cᵀ at a time. */
#define NB__MM_TB_ROWS 96

/*
 * c (m×n) = a (m×k) · bᵀ (b n×k), m ≤ 16, k ≤ NB__MM_PANEL_K: computed as
 * cᵀ = b · aᵀ in six-row panels of b's rows against aᵀ, which is one panel
 * column of 16 (aᵀ copied once into a zero-padded k×16 block, on the
 * stack). cᵀ comes out NB__MM_TB_ROWS rows at a time and is stored back
 * transposed. A convolution's weight gradient per image (16×100 · 150×100ᵀ)
 * has this shape.
 */
NB__MM_FMA static void mm_panels_tb(const nb__mm *s, int64_t m, const float *a, const float *b,
                                    float *c)
{
    enum { W = 16 };
    const int64_t n = s->n, k = s->k;
    float at[NB__MM_PANEL_K * W], ct[NB__MM_TB_ROWS * W];
    for (int64_t p = 0; p < k; p++)
        for (int64_t j = 0; j < W; j++)
            at[p * W + j] = j < m ? a[j * k + p] : 0.0f;
    for (int64_t i0 = 0; i0 < n; i0 += NB__MM_TB_ROWS) {
        const int64_t rows = n - i0 < NB__MM_TB_ROWS ? n - i0 : NB__MM_TB_ROWS;
        for (int64_t i = 0; i < rows; i += NB__MM_PANEL)
            panel_6x16(b + (i0 + i) * k, k, 1, at, k, W, ct + i * W,
                       rows - i < NB__MM_PANEL ? rows - i : NB__MM_PANEL, false);
        for (int64_t j = 0; j < m; j++)
            for (int64_t i = 0; i < rows; i++)
                c[j * n + i0 + i] = ct[i * W + j];
    }
}

/* Rows of mm_dense's next panel with `rest` rows left: six, or the rest;
 * with seven or eight left, two panels of four rather than six and one or
 * two (a panel's spare rows cost the multiply-adds of real ones). */
static inline int64_t dense_rows(int64_t rest)
{
    return rest == 7 || rest == 8 ? 4 : rest < NB__MM_PANEL ? rest : NB__MM_PANEL;
}

/* Columns of mm_dense's next strip with `left` columns left: 16, 8, 4 or 1. */
static inline int64_t dense_cols(int64_t left)
{
    return left >= 16 ? 16 : left >= 8 ? 8 : left >= 4 ? 4 : 1;
}

/* Floats per cache line: a 16-column strip of b is one line per row when
 * it starts on one. */
#define NB__MM_LINE 16

/* The columns of b (row stride n) before the first one that starts a
 * cache line, 0, 4, 8 or 12, when every row starts at the same place
 * within a line (n a multiple of a line) and b at a multiple of 16 bytes;
 * else 0. A weight that is not line-aligned (the graph packs parameters
 * end to end, 16 bytes past a line with glibc) has every 16-column strip
 * straddle two lines: twice the lines read per row, one load in two split
 * across them. The MLP's 784×256 forward at batch 64, one core (least of
 * 1 200): 276 µs on a line; 309-319 µs at 16 bytes past it, 300 µs with
 * the strips on lines; 308-323 µs at 32 bytes past, 281-285 µs on lines.
 * At 4 or 8 bytes past, the columns before the line would go one at a
 * time, which cost more than straddling (336-344 µs against 316-330). */
static inline int64_t dense_lead(const float *b, int64_t n)
{
    const uintptr_t at = (uintptr_t)b % (NB__MM_LINE * sizeof(float));
    if (n % NB__MM_LINE || at % (4 * sizeof(float)))
        return 0;
    return (int64_t)((NB__MM_LINE * sizeof(float) - at) / sizeof(float)) % NB__MM_LINE;
}

/* Columns of mm_dense's strip at j (of [j, j1)) when b's lines start at
 * the columns ≡ lead (mod 16): up to the next line start in 8s and 4s,
 * then 16 at a time (dense_cols). The widths only cut the work:
 * every kernel sums an element as the same chain. */
static inline int64_t dense_strip(int64_t j, int64_t j1, int64_t lead)
{
    const int64_t to_line = ((lead - j) % NB__MM_LINE + NB__MM_LINE) % NB__MM_LINE;
    return dense_cols(to_line && to_line < j1 - j ? to_line : j1 - j);
}

/* A ri×w tile (ri ≤ 6; w 16, 8, 4 or 1) of c (row stride n) = op(a)·b
 * over kb rows of b (row stride n), by the panel kernel of that size; acc:
 * carrying on earlier rows' sums. */
static inline __attribute__((always_inline)) NB__MM_FMA void
panel_tile(const float *ar, int64_t ai, int64_t ap, const float *bs, int64_t kb, int64_t n,
           float *cr, int64_t ri, int64_t w, bool acc)
{
    if (w == 16 && ri <= 4)
        panel_4x16(ar, ai, ap, bs, kb, n, cr, ri, acc);
    else if (w == 16)
        panel_6x16(ar, ai, ap, bs, kb, n, cr, ri, acc);
    else if (w == 8)
        panel_6x8(ar, ai, ap, bs, kb, n, cr, ri, acc);
    else if (w == 4)
        panel_6x4(ar, ai, ap, bs, kb, n, cr, ri, acc);
    else
        panel_6x1(ar, ai, ap, bs, kb, n, cr, ri, acc);
}

/* The ri×w tile of c at row i, column j over op(b)'s rows [p0, p0 + kb),
 * by panel_tile; acc when carrying on earlier rows' sums. */
static inline __attribute__((always_inline)) NB__MM_FMA void
dense_tile(const nb__mm *s, const float *a, const float *b, float *c, int64_t i, int64_t ri,
           int64_t j, int64_t w, int64_t p0, int64_t kb)
{
    const int64_t n = s->n, ai = s->ta ? 1 : s->k, ap = s->ta ? s->m : 1;
    panel_tile(a + i * ai + p0 * ap, ai, ap, b + p0 * n + j, kb, n, c + i * n + j, ri, w,
               p0 > 0);
}

/*
 * Rows [i0, i1), columns [j0, j1) of c = op(a)·b, b row-major (no tb): a
 * dense layer's products at a training batch, forward x·W (m the batch, k
 * the layer's inputs) and weight gradient xᵀ·dy (k the batch). op(b)'s
 * rows go in blocks of at most NB__MM_DENSE_KC; within a block, tiles of
 * six rows of op(a) (broadcasts) by 16 columns of b (b's rows read in
 * place as vectors: nothing is packed), each strip on whole cache lines of
 * b where b's rows allow (dense_strip). Strips of columns outer, panels of
 * rows inner when op(a)'s block is small enough to stay in L2 while every
 * strip reads it (a forward's x, a weight gradient's x at small batches;
 * each strip's block, at most 16 KB, stays in L1 down the panels);
 * otherwise panels outer, b's block in L2 and the panel's rows in L1.
 * A later block starts each tile from the sums the earlier one stored, so
 * every element is one fused multiply-add chain from zero, p ascending:
 * the plain loops' bits, whatever the blocks, the order of the tiles, and
 * the rows or columns a thread takes. With k at most NB__MM_DENSE_KC (a
 * weight gradient) each element is written once, from registers, with no
 * clearing pass.
 */
NB__MM_FMA static void mm_dense_block(const nb__mm *s, const float *a, const float *b, float *c,
                                      int64_t i0, int64_t i1, int64_t j0, int64_t j1)
{
    const int64_t k = s->k, blocks = (k + NB__MM_DENSE_KC - 1) / NB__MM_DENSE_KC;
    const int64_t kc = (k + blocks - 1) / blocks, lead = dense_lead(b, s->n);
    const bool strips_outer = (i1 - i0) * kc <= NB__MM_DENSE_L2;
    for (int64_t p0 = 0; p0 < k; p0 += kc) {
        const int64_t kb = k - p0 < kc ? k - p0 : kc;
        if (strips_outer) {
            for (int64_t j = j0, w; j < j1; j += w) {
                w = dense_strip(j, j1, lead);
                for (int64_t i = i0, ri; i < i1; i += ri) {
                    ri = dense_rows(i1 - i);
                    dense_tile(s, a, b, c, i, ri, j, w, p0, kb);
                }
            }
        } else {
            for (int64_t i = i0, ri; i < i1; i += ri) {
                ri = dense_rows(i1 - i);
                for (int64_t j = j0, w; j < j1; j += w) {
                    w = dense_strip(j, j1, lead);
                    dense_tile(s, a, b, c, i, ri, j, w, p0, kb);
                }
            }
        }
    }
}

/*
 * c (m×n) = op(a)·b by mm_dense_block, cut along its longer side (rows in
 * multiples of six, columns in multiples of 16 from b's first line start:
 * a block's strips stay on whole lines) into at most
 * NB__MM_DENSE_CUTS blocks fixed by the shape and b's alignment, across the thread pool when
 * the product is large and no parallel region is running (a dynamic
 * schedule: a thread slowed by another process takes fewer). Each element's
 * chain is the same in any block, so the bits do not depend on the threads.
 */
static void mm_dense(const nb__mm *s, int64_t m, const float *a, const float *b, float *c)
{
    const bool rows = m >= s->n;
    const int64_t len = rows ? m : s->n, unit = rows ? NB__MM_PANEL : 16;
    int64_t step = (len + NB__MM_DENSE_CUTS - 1) / NB__MM_DENSE_CUTS;
    step = (step + unit - 1) / unit * unit;
    const int64_t cuts = (len + step - 1) / step, lead = rows ? 0 : dense_lead(b, s->n);
    if (cuts > 1 && nb__par(m * s->n * s->k) && !omp_in_parallel()) {
#pragma omp parallel for schedule(dynamic, 1)
        for (int64_t t = 0; t < cuts; t++) {
            const int64_t at = t ? t * step + lead : 0, lo = at < len ? at : len;
            const int64_t hi = t + 1 < cuts && (t + 1) * step + lead < len ? (t + 1) * step + lead
                                                                            : len;
            if (rows)
                mm_dense_block(s, a, b, c, lo, hi, 0, s->n);
            else
                mm_dense_block(s, a, b, c, 0, m, lo, hi);
        }
    } else {
        mm_dense_block(s, a, b, c, 0, m, 0, s->n);
    }
}

/* d[j·ds + i] = x[i·xs + j] for i < rows, j < cols: a block transposed,
 * 8×8 at a time in registers, the edges one by one. */
NB__MM_FMA static void transpose_block(const float *x, int64_t rows, int64_t cols, int64_t xs,
                                       float *d, int64_t ds)
{
    int64_t i = 0;
    for (; i + 8 <= rows; i += 8) {
        int64_t j = 0;
        for (; j + 8 <= cols; j += 8) {
            __m256 v[8];
            for (int q = 0; q < 8; q++)
                v[q] = _mm256_loadu_ps(x + (i + q) * xs + j);
            nb__transpose8_avx2(v);
            for (int q = 0; q < 8; q++)
                _mm256_storeu_ps(d + (j + q) * ds + i, v[q]);
        }
        for (; j < cols; j++)
            for (int64_t q = 0; q < 8; q++)
                d[j * ds + i + q] = x[(i + q) * xs + j];
    }
    for (; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            d[j * ds + i] = x[i * xs + j];
}

/*
 * Columns [j0, j1) of c (m×n) = a·bᵀ, a dense layer's input gradient dy·Wᵀ
 * (m the batch, b the weight W [n, k]): computed as rows of cᵀ = b·aᵀ, the
 * weight's rows broadcast down six-row panels against aᵀ staged as at (k×m,
 * its rows the panels' vectors: nothing else is packed), NB__MM_TB_ROWS
 * rows of cᵀ at a time into a stack block, then stored into c's columns by
 * transpose_block. Panels outer: a panel's six rows of W stay in L1 while
 * every strip of at (L2) passes them. Each element one fused multiply-add
 * chain from zero, p ascending: the plain loops' bits, in any cut.
 */
NB__MM_FMA static void mm_dense_tb_block(const nb__mm *s, int64_t m, const float *at,
                                         const float *b, float *c, int64_t j0, int64_t j1)
{
    const int64_t k = s->k, n = s->n;
    float ct[NB__MM_TB_ROWS * NB__MM_DENSE_ROWS];
    for (int64_t r0 = j0; r0 < j1; r0 += NB__MM_TB_ROWS) {
        const int64_t rows = j1 - r0 < NB__MM_TB_ROWS ? j1 - r0 : NB__MM_TB_ROWS;
        for (int64_t i = 0, ri; i < rows; i += ri) {
            ri = dense_rows(rows - i);
            for (int64_t j = 0, w; j < m; j += w) {
                w = dense_cols(m - j);
                panel_tile(b + (r0 + i) * k, k, 1, at + j, k, m, ct + i * m + j, ri, w, false);
            }
        }
        transpose_block(ct, rows, m, m, c + r0, n);
    }
}

/* c (m×n) = a·bᵀ by mm_dense_tb_block: aᵀ staged once (transpose_block),
 * c's columns cut into at most NB__MM_DENSE_CUTS blocks of a multiple of 8
 * fixed by the shape, across the thread pool when the product is large
 * (as mm_dense). */
static void mm_dense_tb(const nb__mm *s, int64_t m, const float *a, const float *b, float *c)
{
    float at[NB__MM_DENSE_TB_AT];
    transpose_block(a, m, s->k, s->k, at, m);
    int64_t step = (s->n + NB__MM_DENSE_CUTS - 1) / NB__MM_DENSE_CUTS;
    step = (step + 7) / 8 * 8;
    const int64_t cuts = (s->n + step - 1) / step;
    if (cuts > 1 && nb__par(m * s->n * s->k) && !omp_in_parallel()) {
#pragma omp parallel for schedule(dynamic, 1)
        for (int64_t t = 0; t < cuts; t++) {
            const int64_t lo = t * step, hi = lo + step < s->n ? lo + step : s->n;
            mm_dense_tb_block(s, m, at, b, c, lo, hi);
        }
    } else {
        mm_dense_tb_block(s, m, at, b, c, 0, s->n);
    }
}

/* True when this CPU runs mm_dots (AVX2 and FMA). */
static bool cpu_has_fma(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
#define NB__MM_HAVE_DOTS 0
static void mm_dots(int64_t m, int64_t n, int64_t k, const float *a, const float *b, float *c)
{
    (void)m, (void)n, (void)k, (void)a, (void)b, (void)c;
}
static void mm_panels(const nb__mm *s, int64_t m, const float *a, const float *b, float *c)
{
    (void)s, (void)m, (void)a, (void)b, (void)c;
}
static void mm_panels_tb(const nb__mm *s, int64_t m, const float *a, const float *b, float *c)
{
    (void)s, (void)m, (void)a, (void)b, (void)c;
}
static void mm_dense(const nb__mm *s, int64_t m, const float *a, const float *b, float *c)
{
    (void)s, (void)m, (void)a, (void)b, (void)c;
}
static void mm_dense_tb(const nb__mm *s, int64_t m, const float *a, const float *b, float *c)
{
    (void)s, (void)m, (void)a, (void)b, (void)c;
}
static bool cpu_has_fma(void)
{
    return false;
}
#endif

/* True when mm_dots should compute an m-row product (see NB__MM_DOT_K). */
static bool mm_dot_shape(const nb__mm *s, int64_t m)
{
    return NB__MM_HAVE_DOTS && !s->ta && s->tb && s->k >= NB__MM_DOT_K &&
           m * s->n <= NB__MM_DOT_MN && cpu_has_fma();
}


/* True when mm_panels should compute an m-row product: b not transposed
 * (its rows are the panels' vectors), rows wide enough to fill them. */
static bool mm_panel_shape(const nb__mm *s, int64_t m)
{
    return NB__MM_HAVE_DOTS && !s->tb && s->n >= 16 && s->k <= NB__MM_PANEL_K &&
           m * s->n * s->k <= NB__MM_PANEL_WORK && cpu_has_fma();
}

/* True when mm_panels_tb should compute an m-row product: b transposed, a
 * not, 9 to 16 rows (fewer would leave most of its 16 columns idle). */
static bool mm_panel_tb_shape(const nb__mm *s, int64_t m)
{
    return NB__MM_HAVE_DOTS && !s->ta && s->tb && m > 8 && m <= 16 && s->n >= 16 &&
           s->k <= NB__MM_PANEL_K && m * s->n * s->k <= NB__MM_PANEL_WORK && cpu_has_fma();
}

/* True when mm_dense should compute an m-row product: b not transposed,
 * rows of 16 or more, and a dense layer's shape at a training batch, where
 * sgemm packs the whole weight (forward) or clears the whole gradient
 * (weight gradient) on every call: the forward x·W with at most
 * NB__MM_DENSE_ROWS rows, the weight gradient xᵀ·dy with an inner size of
 * at most NB__MM_DENSE_INNER, the weight-sized matrix (W, or the gradient)
 * at most NB__MM_DENSE_WEIGHT floats. Larger ones measured slower than
 * sgemm here (1024×1024 weights: 1.3-1.6× its time). */
static bool mm_dense_shape(const nb__mm *s, int64_t m)
{
    return NB__MM_HAVE_DOTS && !s->tb && s->n >= 16 &&
           (s->ta ? s->k <= NB__MM_DENSE_INNER && m * s->n <= NB__MM_DENSE_WEIGHT
                  : m <= NB__MM_DENSE_ROWS && s->k * s->n <= NB__MM_DENSE_WEIGHT) &&
           cpu_has_fma();
}

/* True when mm_dense_tb should compute an m-row product: a dense layer's
 * input gradient dy·Wᵀ at a training batch (a not transposed, b = W
 * transposed) of 16 to NB__MM_DENSE_ROWS rows, aᵀ small enough for its
 * stack block, W at most NB__MM_DENSE_WEIGHT floats. LeNet-5's 64×120 ·
 * 400×120ᵀ took 66 µs here against sgemm's 90 (docs/performance.md). */
static bool mm_dense_tb_shape(const nb__mm *s, int64_t m)
{
    return NB__MM_HAVE_DOTS && !s->ta && s->tb && m >= 16 && m <= NB__MM_DENSE_ROWS &&
           m * s->k <= NB__MM_DENSE_TB_AT && s->n * s->k <= NB__MM_DENSE_WEIGHT && cpu_has_fma();
}

bool nb__gemm_fma(const nb__mm *s, int64_t m, const float *a, const float *b, float *c)
{
    if (mm_dot_shape(s, m))
        mm_dots(m, s->n, s->k, a, b, c);
    else if (mm_panel_shape(s, m))
        mm_panels(s, m, a, b, c);
    else if (mm_panel_tb_shape(s, m))
        mm_panels_tb(s, m, a, b, c);
    else if (mm_dense_shape(s, m))
        mm_dense(s, m, a, b, c);
    else if (mm_dense_tb_shape(s, m))
        mm_dense_tb(s, m, a, b, c);
    else
        return false;
    return true;
}
