/*
 * matmul.c — batched matrix product with transpose flags, the hot path of
 * every dense and convolution layer. Products go to OpenBLAS's sgemm, except
 * the shapes where its call and packing cost more than the arithmetic:
 * tiny ones (a scalar triple loop, inline), small ones, one row (batch 1),
 * an inner size of 1 (outer products) and one column, which plain
 * vectorised loops compute (mm_small), and, on CPUs with AVX2 and FMA, a
 * convolution's per-image products (small inner sizes, or few outputs over
 * a long one), which register-blocked FMA kernels compute without packing
 * (mm_panels, mm_panels_tb, mm_dots). The items of a batched product split
 * across threads, each product on one; sgemm's products split into blocks
 * fixed by their shape (sgemm_split). Either way no value depends on the
 * thread count.
 *
 * Attributes: i[0] = ta, i[1] = tb (0 or 1). op(a) is a's last two
 * dimensions, transposed when ta; likewise op(b).
 *
 * a [..., M, K] (ta: [..., K, M]) · b [..., K, N] (tb: [..., N, K]) →
 * [..., M, N], the leading (batch) dimensions broadcast NumPy style.
 */
#include <stdio.h>

#include "ops_internal.h"

enum { TA, TB };

/* The sizes of one product, read from a node's inputs and attributes. */
typedef struct mm {
    bool ta, tb;
    int64_t m, k, n;      /* op(a) is m×k, op(b) is k×n */
    int64_t kb;           /* b's inner size, k when the shapes agree */
} mm;

static inline mm mm_of(const nb_node *n)
{
    const nb_shape *a = &n->in[0]->shape, *b = &n->in[1]->shape;
    mm s = {.ta = n->attrs.i[TA] != 0, .tb = n->attrs.i[TB] != 0};
    int64_t ar = a->dim[a->rank - 2], ac = a->dim[a->rank - 1];
    int64_t br = b->dim[b->rank - 2], bc = b->dim[b->rank - 1];
    s.m = s.ta ? ac : ar, s.k = s.ta ? ar : ac;
    s.kb = s.tb ? bc : br, s.n = s.tb ? br : bc;
    return s;
}

/* The batch part of s: every dimension but the last two. */
static nb_shape batch_of(nb_shape s)
{
    return nb_shape_make(s.rank - 2, s.dim);
}

/* ---------------------------------------------------------------- shape */

/* Refuses rank < 2, different inner sizes and batches that do not broadcast. */
nb_status nb__matmul_shape(nb_graph *g, const nb_node *n, nb_shape *out)
{
    const nb_node *a = n->in[0], *b = n->in[1];
    char da[300], db[300];
    nb__describe(a, da, sizeof da);
    nb__describe(b, db, sizeof db);
    if (a->shape.rank < 2 || b->shape.rank < 2)
        return nb_graph_fail(g, NB_ERR_SHAPE,
                             "matmul: both inputs need rank >= 2 (matrices), got %s and %s", da,
                             db);
    mm s = mm_of(n);
    if (s.k != s.kb)
        return nb_graph_fail(g, NB_ERR_SHAPE, "matmul: inner dimensions differ: %s (%sK=%lld) and "
                             "%s (%sK=%lld)", da, s.ta ? "transposed, " : "", (long long)s.k, db,
                             s.tb ? "transposed, " : "", (long long)s.kb);
    nb_shape batch;
    if (!nb__broadcast_shape(batch_of(a->shape), batch_of(b->shape), &batch))
        return nb_graph_fail(g, NB_ERR_SHAPE,
                             "matmul: batch dimensions do not broadcast: %s and %s", da, db);
    batch.dim[batch.rank++] = s.m;
    batch.dim[batch.rank++] = s.n;
    *out = batch;
    return NB_OK;
}

/* ---------------------------------------------------------------- kernel */

/* Multiply-adds below which a plain loop beats sgemm's call and packing. */
#define NB__MM_SMALL 8192

/* Columns per work item when a one-row product is split across threads. */
#define NB__MM_COLS 64

/* Multiply-adds from which the plain loops split across threads. Their
 * shapes are memory-bound (one row, an outer product), so a fork pays only
 * on big ones; like OpenBLAS (which stays on one thread below 2^18 for
 * sgemm), a batch-1 dense layer of 784×256 runs on one. */
#define NB__MM_PAR_MIN (1 << 20)

/* a·b + c with one rounding. Every plain-loop product sums each element
 * as one chain of these, p ascending from zero: the order and rounding
 * OpenBLAS's sgemm kernels use, so a product gives the same bits whichever
 * of them computes it, and appending zero terms (a dense layer grown by new
 * units with zero outgoing weights) changes nothing. Compiled into the
 * NB__SIMD clones, it is one vfmadd in the AVX2 copy and glibc's exact fmaf
 * in the baseline one. */
#define NB__MADD(a, b, c) __builtin_fmaf((a), (b), (c))

/*
 * One row of c, columns [j0, j1): cr[j] = Σp a[p·ap]·b[p·n + j], built from
 * b's rows four at a time so each pass over cr does four multiply-adds per
 * load and store of cr (a one-row product is bound by those), each element
 * still one chain p = 0, 1, … (NB__MADD). The first pass writes cr, so
 * nothing is zeroed first (an outer product, k = 1, is one pass).
 */
#if defined(__GNUC__)
__attribute__((always_inline)) /* into each NB__SIMD clone of mm_block: compiled
                                * on its own it would be baseline code, calling
                                * libm's fmaf per element (3x slower at -O2) */
#endif
static inline void axpy_row(const float *a, int64_t ap, const float *b, float *restrict cr,
                            int64_t k, int64_t n, int64_t j0, int64_t j1)
{
    int64_t p = 0;
    if (k >= 4) {
        const float a0 = a[0], a1 = a[ap], a2 = a[2 * ap], a3 = a[3 * ap];
        const float *b0 = b, *b1 = b + n, *b2 = b + 2 * n, *b3 = b + 3 * n;
        for (int64_t j = j0; j < j1; j++)
            cr[j] = NB__MADD(a3, b3[j],
                             NB__MADD(a2, b2[j], NB__MADD(a1, b1[j], NB__MADD(a0, b0[j], 0.0f))));
        p = 4;
    } else {
        const float a0 = a[0];
        for (int64_t j = j0; j < j1; j++)
            cr[j] = NB__MADD(a0, b[j], 0.0f);
        p = 1;
    }
    for (; p + 4 <= k; p += 4) {
        const float a0 = a[p * ap], a1 = a[(p + 1) * ap], a2 = a[(p + 2) * ap],
                    a3 = a[(p + 3) * ap];
        const float *b0 = b + p * n, *b1 = b0 + n, *b2 = b1 + n, *b3 = b2 + n;
        for (int64_t j = j0; j < j1; j++)
            cr[j] = NB__MADD(a3, b3[j],
                             NB__MADD(a2, b2[j], NB__MADD(a1, b1[j], NB__MADD(a0, b0[j], cr[j]))));
    }
    for (; p < k; p++) {
        const float a0 = a[p * ap], *b0 = b + p * n;
        for (int64_t j = j0; j < j1; j++)
            cr[j] = NB__MADD(a0, b0[j], cr[j]);
    }
}

/*
 * Rows [i0, i1) and columns [j0, j1) of c (m×n, row stride n) = op(a)·op(b),
 * by plain loops. op(a)(i,p) is a[i·k + p], or a[p·s->m + i] with ta;
 * op(b)(p,j) is b[p·n + j], or b[j·k + p] with tb. When op(b)'s rows are
 * contiguous (no tb) and long enough to fill vectors, each c row is built
 * by axpys along j (axpy_row), which vectorise; otherwise each element is a
 * dot product along p, summed in a register. Either way one NB__MADD chain
 * per element.
 */
NB__SIMD static void mm_block(const mm *s, const float *a, const float *b, float *c, int64_t i0,
                              int64_t i1, int64_t j0, int64_t j1)
{
    const int64_t k = s->k, n = s->n, lda = s->ta ? s->m : s->k;
    const int64_t ap = s->ta ? lda : 1, ai = s->ta ? 1 : lda; /* a's steps along p, i */
    if (!s->tb && n > 1 && (n >= 16 || k >= 16)) {
        for (int64_t i = i0; i < i1; i++)
            axpy_row(a + i * ai, ap, b, c + i * n, k, n, j0, j1);
        return;
    }
    const int64_t bp = s->tb ? 1 : n, bj = s->tb ? k : 1; /* b's steps along p, j */
    for (int64_t i = i0; i < i1; i++) {
        const float *ar = a + i * ai;
        for (int64_t j = j0; j < j1; j++) {
            const float *bc = b + j * bj;
            float acc = 0.0f;
            for (int64_t p = 0; p < k; p++)
                acc = NB__MADD(ar[p * ap], bc[p * bp], acc);
            c[i * n + j] = acc;
        }
    }
}

/* c (m×n) = op(a)·op(b) by mm_block: all at once when small or already
 * inside a parallel region (batch items split across threads), else rows
 * (or, for one row, column blocks) across the thread pool. */
static void mm_loops(const mm *s, int64_t m, const float *a, const float *b, float *c)
{
    const int64_t n = s->n;
    if (m * n * s->k < NB__MM_PAR_MIN || !nb__par(m * n * s->k) || omp_in_parallel()) {
        mm_block(s, a, b, c, 0, m, 0, n);
    } else if (m > 1) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < m; i++)
            mm_block(s, a, b, c, i, i + 1, 0, n);
    } else {
        const int64_t chunks = (n + NB__MM_COLS - 1) / NB__MM_COLS;
#pragma omp parallel for schedule(static)
        for (int64_t t = 0; t < chunks; t++)
            mm_block(s, a, b, c, 0, 1, t * NB__MM_COLS,
                     n - t * NB__MM_COLS < NB__MM_COLS ? n : (t + 1) * NB__MM_COLS);
    }
}

/* True when the plain loops should compute an m-row product: it is small,
 * or it has a shape sgemm handles poorly — one row (batch 1), an inner size
 * of 1 (an outer product), or one column read along a's contiguous rows. */
static bool mm_small(const mm *s, int64_t m)
{
    return m * s->n * s->k <= NB__MM_SMALL || m == 1 || s->k == 1 || (s->n == 1 && !s->ta);
}

/* Inner size from which a product of rows against rows (no ta, tb: both
 * read along contiguous p) with few outputs runs as blocked dot products
 * (mm_dots) rather than sgemm, and the most outputs it may have: a
 * convolution's weight gradient per image (6×25 outputs, k = 784), where
 * sgemm's packing costs more than the arithmetic (64 such products, one
 * thread, min of 200 runs: sgemm 500 µs, mm_dots 160 µs). */
#define NB__MM_DOT_K 512
#define NB__MM_DOT_MN 1024

/* The largest inner size and product (multiply-adds) mm_panels computes in
 * place of sgemm: a convolution's per-image products, where sgemm's packing
 * of both operands costs more than it saves (64 products, one thread, min of
 * 200 runs: 6×25·25×784 sgemm 240 µs, mm_panels 120; 16×150·150×100 340,
 * 300; 150×16ᵀ·16×100 320, 250). Beyond 2^18 OpenBLAS may also thread the
 * product. */
#define NB__MM_PANEL_K 256
#define NB__MM_PANEL_WORK (1 << 18)

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

/* c + a·b lane by lane, fused, on four lanes. */
static inline __attribute__((always_inline)) NB__MM_FMA nb__v4 fma4(nb__v4 a, nb__v4 b, nb__v4 c)
{
    nb__v4 r;
    for (int l = 0; l < 4; l++)
        r[l] = __builtin_fmaf(a[l], b[l], c[l]);
    return r;
}

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
 * this beats sgemm, which packs both operands on every call.
 */
static inline __attribute__((always_inline)) NB__MM_FMA void
panel_6x16(const float *a, int64_t ai, int64_t ap, const float *b, int64_t k, int64_t n, float *c,
           int64_t ri)
{
    PANEL_ROWS(a, ai, ri);
    const nb__v8 z = {0};
    nb__v8 c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z,
           c41 = z, c50 = z, c51 = z;
    for (int64_t p = 0; p < k; p++) {
        const nb__v8 y0 = *(const nb__v8u *)(b + p * n), y1 = *(const nb__v8u *)(b + p * n + 8);
        nb__v8 x = {0};
        x += r0[p * ap], c00 = fma8(x, y0, c00), c01 = fma8(x, y1, c01);
        x = z + r1[p * ap], c10 = fma8(x, y0, c10), c11 = fma8(x, y1, c11);
        x = z + r2[p * ap], c20 = fma8(x, y0, c20), c21 = fma8(x, y1, c21);
        x = z + r3[p * ap], c30 = fma8(x, y0, c30), c31 = fma8(x, y1, c31);
        x = z + r4[p * ap], c40 = fma8(x, y0, c40), c41 = fma8(x, y1, c41);
        x = z + r5[p * ap], c50 = fma8(x, y0, c50), c51 = fma8(x, y1, c51);
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
           int64_t ri)
{
    const float *r0 = a, *r1 = a + (ri > 1) * ai, *r2 = a + (ri > 2) * 2 * ai,
                *r3 = a + (ri > 3) * 3 * ai;
    const nb__v8 z = {0};
    nb__v8 c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
    for (int64_t p = 0; p < k; p++) {
        const nb__v8 y0 = *(const nb__v8u *)(b + p * n), y1 = *(const nb__v8u *)(b + p * n + 8);
        nb__v8 x = z + r0[p * ap];
        c00 = fma8(x, y0, c00), c01 = fma8(x, y1, c01);
        x = z + r1[p * ap], c10 = fma8(x, y0, c10), c11 = fma8(x, y1, c11);
        x = z + r2[p * ap], c20 = fma8(x, y0, c20), c21 = fma8(x, y1, c21);
        x = z + r3[p * ap], c30 = fma8(x, y0, c30), c31 = fma8(x, y1, c31);
    }
    const nb__v8 r[4][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
    for (int64_t i = 0; i < ri; i++)
        *(nb__v8u *)(c + i * n) = r[i][0], *(nb__v8u *)(c + i * n + 8) = r[i][1];
}

/* panel_6x16 on 4 columns (the last n mod 16 in fours). */
static inline __attribute__((always_inline)) NB__MM_FMA void
panel_6x4(const float *a, int64_t ai, int64_t ap, const float *b, int64_t k, int64_t n, float *c,
          int64_t ri)
{
    PANEL_ROWS(a, ai, ri);
    const nb__v4 z = {0};
    nb__v4 c0 = z, c1 = z, c2 = z, c3 = z, c4 = z, c5 = z;
    for (int64_t p = 0; p < k; p++) {
        const nb__v4 y = *(const nb__v4u *)(b + p * n);
        c0 = fma4(z + r0[p * ap], y, c0), c1 = fma4(z + r1[p * ap], y, c1);
        c2 = fma4(z + r2[p * ap], y, c2), c3 = fma4(z + r3[p * ap], y, c3);
        c4 = fma4(z + r4[p * ap], y, c4), c5 = fma4(z + r5[p * ap], y, c5);
    }
    const nb__v4 r[NB__MM_PANEL] = {c0, c1, c2, c3, c4, c5};
    for (int64_t i = 0; i < ri; i++)
        *(nb__v4u *)(c + i * n) = r[i];
}

/* panel_6x16 on one column (the last n mod 4): six independent sums. */
static inline __attribute__((always_inline)) NB__MM_FMA void
panel_6x1(const float *a, int64_t ai, int64_t ap, const float *b, int64_t k, int64_t n, float *c,
          int64_t ri)
{
    PANEL_ROWS(a, ai, ri);
    float c0 = 0.0f, c1 = 0.0f, c2 = 0.0f, c3 = 0.0f, c4 = 0.0f, c5 = 0.0f;
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

/* c (m×n) = op(a)·b, b row-major (no tb), in panels of six rows (the last
 * one of four or fewer in panel_4x16): 16 columns at a time, then fours,
 * then single columns. */
NB__MM_FMA static void mm_panels(const mm *s, int64_t m, const float *a, const float *b, float *c)
{
    const int64_t n = s->n, k = s->k, ai = s->ta ? 1 : k, ap = s->ta ? s->m : 1;
    for (int64_t i = 0; i < m; i += NB__MM_PANEL) {
        const int64_t ri = m - i < NB__MM_PANEL ? m - i : NB__MM_PANEL;
        const float *ar = a + i * ai;
        float *cr = c + i * n;
        int64_t j = 0;
        if (ri <= 4)
            for (; j + 16 <= n; j += 16)
                panel_4x16(ar, ai, ap, b + j, k, n, cr + j, ri);
        for (; j + 16 <= n; j += 16)
            panel_6x16(ar, ai, ap, b + j, k, n, cr + j, ri);
        for (; j + 4 <= n; j += 4)
            panel_6x4(ar, ai, ap, b + j, k, n, cr + j, ri);
        for (; j < n; j++)
            panel_6x1(ar, ai, ap, b + j, k, n, cr + j, ri);
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
NB__MM_FMA static void mm_panels_tb(const mm *s, int64_t m, const float *a, const float *b,
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
                       rows - i < NB__MM_PANEL ? rows - i : NB__MM_PANEL);
        for (int64_t j = 0; j < m; j++)
            for (int64_t i = 0; i < rows; i++)
                c[j * n + i0 + i] = ct[i * W + j];
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
static void mm_panels(const mm *s, int64_t m, const float *a, const float *b, float *c)
{
    (void)s, (void)m, (void)a, (void)b, (void)c;
}
static void mm_panels_tb(const mm *s, int64_t m, const float *a, const float *b, float *c)
{
    (void)s, (void)m, (void)a, (void)b, (void)c;
}
static bool cpu_has_fma(void)
{
    return false;
}
#endif

/* True when mm_dots should compute an m-row product (see NB__MM_DOT_K). */
static bool mm_dot_shape(const mm *s, int64_t m)
{
    return NB__MM_HAVE_DOTS && !s->ta && s->tb && s->k >= NB__MM_DOT_K &&
           m * s->n <= NB__MM_DOT_MN && cpu_has_fma();
}


/* True when mm_panels should compute an m-row product: b not transposed
 * (its rows are the panels' vectors), rows wide enough to fill them. */
static bool mm_panel_shape(const mm *s, int64_t m)
{
    return NB__MM_HAVE_DOTS && !s->tb && s->n >= 16 && s->k <= NB__MM_PANEL_K &&
           m * s->n * s->k <= NB__MM_PANEL_WORK && cpu_has_fma();
}

/* True when mm_panels_tb should compute an m-row product: b transposed, a
 * not, 9 to 16 rows (fewer would leave most of its 16 columns idle). */
static bool mm_panel_tb_shape(const mm *s, int64_t m)
{
    return NB__MM_HAVE_DOTS && !s->ta && s->tb && m > 8 && m <= 16 && s->n >= 16 &&
           s->k <= NB__MM_PANEL_K && m * s->n * s->k <= NB__MM_PANEL_WORK && cpu_has_fma();
}

/* Multiply-adds up to which a product runs as one scalar triple loop, inline:
 * a call through the vector dispatcher costs more than such a product. */
#define NB__MM_TINY 64

/* c (m×n) = op(a)·op(b) for a handful of elements, each a dot product
 * summed in a register by one NB__MADD chain (cloned like the loops above:
 * the AVX2 copy's fused multiply-add is one instruction). */
NB__SIMD static void mm_tiny(const mm *s, int64_t m, const float *a, const float *b, float *c)
{
    const int64_t k = s->k, n = s->n, lda = s->ta ? s->m : s->k;
    const int64_t ap = s->ta ? lda : 1, ai = s->ta ? 1 : lda;
    const int64_t bp = s->tb ? 1 : n, bj = s->tb ? k : 1;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            float acc = 0.0f;
            for (int64_t p = 0; p < k; p++)
                acc = NB__MADD(a[i * ai + p * ap], b[j * bj + p * bp], acc);
            c[i * n + j] = acc;
        }
}

/* The most blocks sgemm_split cuts a product into, and the fewest rows or
 * columns a block has: enough blocks to keep every core of the machine busy
 * (a machine constant, never the thread count), few enough that packing the
 * uncut operand once per block stays small against the arithmetic. */
#define NB__MM_BLOCKS_MIN 8
#define NB__MM_BLOCK_MIN 64

/* c rows [i0, i1) and columns [j0, j1) = op(a)·op(b) restricted to them, by
 * one single-threaded sgemm (the leading dimensions stay the whole
 * matrices'), or by the plain loops when OpenBLAS is not there (ops/blas.c:
 * not loaded under a memory limit too small for its buffers). */
static void sgemm_block(const mm *s, const float *a, const float *b, float *c, int64_t i0,
                        int64_t i1, int64_t j0, int64_t j1)
{
    const int64_t lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
    const float *ab = a + (s->ta ? i0 : i0 * lda), *bb = b + (s->tb ? j0 * ldb : j0);
    if (!nb__blas_sgemm(s->ta, s->tb, i1 - i0, j1 - j0, s->k, ab, lda, bb, ldb,
                        c + i0 * s->n + j0, s->n))
        mm_block(s, a, b, c, i0, i1, j0, j1);
}

/* Block [lo, lo + step) of c's rows (rows) or columns, clipped to c. */
static void sgemm_cut(const mm *s, int64_t m, const float *a, const float *b, float *c, bool rows,
                      int64_t lo, int64_t step)
{
    const int64_t len = rows ? m : s->n, hi = lo + step < len ? lo + step : len;
    if (rows)
        sgemm_block(s, a, b, c, lo, hi, 0, s->n);
    else
        sgemm_block(s, a, b, c, 0, m, lo, hi);
}

/*
 * c (m×n) = op(a)·op(b) by sgemm, cut along its longer side into blocks
 * whose bounds depend on the shape alone; nabla's thread pool computes the
 * blocks (dynamic schedule: a thread slowed by another process takes fewer)
 * and OpenBLAS runs each on one thread (inside nabla's parallel region, or
 * with the count held at one). OpenBLAS splitting a product itself gives different bits at
 * different thread counts (its edge kernels sum in another order: a
 * 64×120·120×84 product differed at 1 and 2 threads); with the cut fixed,
 * every element is computed by the same call whatever the thread count, so
 * training gives the same bits at any count and the count may change
 * between steps (nb_set_threads(0)).
 */
static void sgemm_split(const mm *s, int64_t m, const float *a, const float *b, float *c)
{
    const bool rows = m >= s->n;
    const int64_t len = rows ? m : s->n;
    int64_t most = 2 * (int64_t)omp_get_num_procs();
    most = most < NB__MM_BLOCKS_MIN ? NB__MM_BLOCKS_MIN : most;
    int64_t step = (len + most - 1) / most;
    step = step < NB__MM_BLOCK_MIN ? NB__MM_BLOCK_MIN : (step + 15) / 16 * 16;
    const int64_t blocks = (len + step - 1) / step;
    if (blocks > 1 && nb__par(m * s->n * s->k) && !omp_in_parallel()) {
#pragma omp parallel for schedule(dynamic, 1)
        for (int64_t t = 0; t < blocks; t++)
            sgemm_cut(s, m, a, b, c, rows, t * step, step);
    } else {
        /* OpenBLAS's OpenMP build follows OpenMP's count outside a parallel
         * region, whatever its own setting: hold it at one for these calls. */
        const int threads = omp_get_max_threads();
        if (threads > 1)
            omp_set_num_threads(1);
        for (int64_t t = 0; t < blocks; t++)
            sgemm_cut(s, m, a, b, c, rows, t * step, step);
        if (threads > 1)
            omp_set_num_threads(threads);
    }
}

/* gemm's products above NB__MM_TINY: the plain loops for small and
 * vector-like shapes, the FMA kernels for a convolution's per-image shapes
 * (mm_dots, mm_panels), sgemm for the rest. Kept out of line so the tiny
 * case stays a short inline path. */
static void gemm_big(const mm *s, int64_t m, const float *a, const float *b, float *c)
{
    if (mm_small(s, m))
        mm_loops(s, m, a, b, c);
    else if (mm_dot_shape(s, m))
        mm_dots(m, s->n, s->k, a, b, c);
    else if (mm_panel_shape(s, m))
        mm_panels(s, m, a, b, c);
    else if (mm_panel_tb_shape(s, m))
        mm_panels_tb(s, m, a, b, c);
    else
        sgemm_split(s, m, a, b, c);
}

/* One row-major product c (m×n) = op(a) · op(b): a scalar triple loop for a
 * handful of multiply-adds, gemm_big for the rest. */
static inline void gemm(const mm *s, int64_t m, const float *a, const float *b, float *c)
{
    if (m * s->n * s->k <= NB__MM_TINY)
        mm_tiny(s, m, a, b, c);
    else
        gemm_big(s, m, a, b, c);
}

/* The one-product case as a specialised kernel: the sizes kept in f. */
static void fast_matmul(const nb__kernel *f, const float *const *in, float *out)
{
    const mm s = {.ta = f->ta, .tb = f->tb, .m = f->m, .k = f->k, .n = f->n, .kb = f->k};
    gemm(&s, f->rows, in[0], in[1], out);
}

/* matmul's kernel choice: one product, when there is no batch or b is a
 * single matrix under a's rows (see nb__matmul_forward). */
nb__kernel_fn nb__matmul_fast(const nb_node *n, nb__kernel *f)
{
    const nb_shape *as = &n->in[0]->shape, *bs = &n->in[1]->shape;
    const mm s = mm_of(n);
    const int64_t items = nb__numel(&n->shape) / (s.m * s.n);
    if (nb__numel(bs) != s.k * s.n || !(items == 1 || (!s.ta && as->rank >= bs->rank)))
        return NULL;
    *f = (nb__kernel){.ta = s.ta, .tb = s.tb, .m = s.m, .k = s.k, .n = s.n, .rows = items * s.m};
    return fast_matmul;
}

/* A product of rank-2 matrices with inner size 1: op(a) [M, 1] and op(b)
 * [1, N] are M and N contiguous floats in either orientation, and
 * c[i, j] = a[i]·b[j]. */
bool nb__outer_product(const nb_node *n)
{
    return n->kind == NB_NODE_OP && n->op == NB__OP(MATMUL) && n->shape.rank == 2 &&
           mm_of(n).k == 1;
}

/* Batch item t of a batched product: its inputs found through the broadcast
 * batch strides sa, sb of a and b against the output's batch shape ob. */
static inline void item_product(const mm *s, const nb_shape *ob, const int64_t *sa,
                                const int64_t *sb, const float *const *in, float *out, int64_t t)
{
    int64_t ia = 0, ib = 0, rest = t;
    for (int d = ob->rank - 1; d >= 0; d--) {
        int64_t x = rest % ob->dim[d];
        rest /= ob->dim[d];
        ia += x * sa[d], ib += x * sb[d];
    }
    gemm(s, s->m, in[0] + ia * s->m * s->k, in[1] + ib * s->k * s->n, out + t * s->m * s->n);
}

/*
 * a, b → out [batch..., M, N]. One product when there is no batch at all, or
 * when b's batch is a single matrix and a is not transposed: a's batch rows
 * are then just more rows of one M'×K matrix (the dense layer on any batch
 * shape; nb__matmul_fast). Otherwise one product per batch item, each input
 * stepping by its broadcast batch stride (0 along dimensions it stretches,
 * so a rank-2 a is read in place for every item). Products go to the plain
 * loops or to sgemm (gemm). Items split across threads when the batch's
 * work is large enough (a convolution's per-image products, too small for
 * OpenBLAS to thread; big products in a batch of a few split inside
 * instead): each item then runs on one thread (OpenBLAS and
 * mm_loops stay serial inside a parallel region) and writes its own output
 * block, so values do not depend on the thread count.
 */
void nb__matmul_forward(const nb_node *n, const float *const *in, float *out)
{
    nb__kernel f;
    nb__kernel_fn run = nb__matmul_fast(n, &f);
    if (run) {
        run(&f, in, out);
        return;
    }
    const nb_shape *as = &n->in[0]->shape, *bs = &n->in[1]->shape;
    const mm s = mm_of(n);
    const int64_t items = nb__numel(&n->shape) / (s.m * s.n);
    const nb_shape ob = batch_of(n->shape);
    int64_t sa[NB_MAX_RANK], sb[NB_MAX_RANK];
    nb__broadcast_strides(batch_of(*as), ob, sa);
    nb__broadcast_strides(batch_of(*bs), ob, sb);
    const int64_t work = s.m * s.n * s.k;
    if (items > 1 && nb__par(items * work) && (work < NB__MM_PAR_MIN || items >= 8)) {
#pragma omp parallel for schedule(static)
        for (int64_t t = 0; t < items; t++)
            item_product(&s, &ob, sa, sb, in, out, t);
    } else
        for (int64_t t = 0; t < items; t++)
            item_product(&s, &ob, sa, sb, in, out, t);
}

/* ---------------------------------------------------------------- vjp */

/*
 * d b for b a single matrix [K,N] (or [N,K] with tb) and a batched, not
 * transposed: the sum over batch items of aᵢᵀ·dCᵢ is one product of the
 * flattened a [B·M, K] and dC [B·M, N], with no [B, K, N] intermediate.
 */
static nb_node *db_flat(nb_graph *g, nb_node *a, nb_node *dc, const mm *s)
{
    int64_t rows = nb__numel(&a->shape) / s->k;
    nb_node *af = nb_reshape(g, a, NB_SHAPE(rows, s->k));
    nb_node *cf = nb_reshape(g, dc, NB_SHAPE(rows, s->n));
    return s->tb ? nb_matmul(g, cf, af, true, false) : nb_matmul(g, af, cf, true, false);
}

/*
 * C = op(A)·op(B): dA = dC·op(B)ᵀ and dB = op(A)ᵀ·dC, each written back into
 * A's and B's own orientation, then summed over the batch dimensions that
 * broadcasting stretched.
 */
nb_status nb__matmul_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    nb_node *a = n->in[0], *b = n->in[1];
    const mm s = mm_of(n);
    nb_node *da, *db;
    if (!s.ta)
        da = s.tb ? nb_matmul(g, dy, b, false, false) : nb_matmul(g, dy, b, false, true);
    else
        da = s.tb ? nb_matmul(g, b, dy, true, true) : nb_matmul(g, b, dy, false, true);
    if (!s.ta && b->shape.rank == 2 && a->shape.rank > 2)
        db = db_flat(g, a, dy, &s);
    else if (!s.tb)
        db = nb_matmul(g, a, dy, !s.ta, false);
    else
        db = nb_matmul(g, dy, a, true, s.ta);
    dx[0] = nb__unbroadcast(g, da, a->shape);
    dx[1] = nb__unbroadcast(g, db, b->shape);
    return dx[0] && dx[1] ? NB_OK : g->status;
}

nb_node *nb_matmul(nb_graph *g, nb_node *a, nb_node *b, bool ta, bool tb)
{
    if (!g)
        return NULL;
    nb_attrs at = {0};
    at.i[TA] = ta, at.i[TB] = tb;
    nb_node *in[2] = {a, b};
    return nb__node_new(g, NB__OP(MATMUL), in, 2, &at);
}
