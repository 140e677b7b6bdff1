/*
 * gemm_plain.c — products by plain C loops: the reference the tuned
 * kernels (gemm_fma.c) are checked against, and the kernel of shapes where
 * sgemm's call and packing cost more than the arithmetic (small products,
 * one row, an inner size of 1, one column). Every element is one NB__MADD
 * chain, p ascending from zero.
 */
#include "gemm.h"

/* Columns per work item when a one-row product is split across threads. */
#define NB__MM_COLS 64

/*
 * One row of c, columns [j0, j1): cr[j] = Σp a[p·ap]·b[p·n + j], built from
 * b's rows four at a time so each pass over cr does four multiply-adds per
 * load and store of cr (a one-row product is bound by those), each element
 * still one chain p = 0, 1, … (NB__MADD). The first pass writes cr, so
 * nothing is zeroed first (an outer product, k = 1, is one pass).
 */
#if defined(__GNUC__)
__attribute__((always_inline)) /* into each NB__SIMD clone of nb__gemm_block: compiled
                                * on its own it would be baseline code, calling
                                * libm's fmaf per element */
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
NB__SIMD void nb__gemm_block(const nb__mm *s, const float *a, const float *b, float *c,
                             int64_t i0, int64_t i1, int64_t j0, int64_t j1)
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

/* Rows [i0, i1) and columns [j0, j1) of c += op(a)·op(b): each element's
 * product one NB__MADD chain from zero in p's order, as nb__gemm_block sums
 * it, then added to c: the bits of a product then an add. */
NB__SIMD void nb__gemm_block_acc(const nb__mm *s, const float *a, const float *b, float *c,
                                 int64_t i0, int64_t i1, int64_t j0, int64_t j1)
{
    const int64_t k = s->k, n = s->n, lda = s->ta ? s->m : s->k;
    const int64_t ap = s->ta ? lda : 1, ai = s->ta ? 1 : lda; /* a's steps along p, i */
    const int64_t bp = s->tb ? 1 : n, bj = s->tb ? k : 1;     /* b's steps along p, j */
    for (int64_t i = i0; i < i1; i++) {
        const float *ar = a + i * ai;
        for (int64_t j = j0; j < j1; j++) {
            const float *bc = b + j * bj;
            float acc = 0.0f;
            for (int64_t p = 0; p < k; p++)
                acc = NB__MADD(ar[p * ap], bc[p * bp], acc);
            c[i * n + j] += acc;
        }
    }
}

/* c (m×n) = op(a)·op(b) by nb__gemm_block: all at once when small or already
 * inside a parallel region (batch items split across threads), else rows
 * (or, for one row, column blocks) across the thread pool. */
void nb__gemm_loops(const nb__mm *s, int64_t m, const float *a, const float *b, float *c)
{
    const int64_t n = s->n;
    if (m * n * s->k < NB__MM_PAR_MIN || !nb__par(m * n * s->k) || omp_in_parallel()) {
        nb__gemm_block(s, a, b, c, 0, m, 0, n);
    } else if (m > 1) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < m; i++)
            nb__gemm_block(s, a, b, c, i, i + 1, 0, n);
    } else {
        const int64_t chunks = (n + NB__MM_COLS - 1) / NB__MM_COLS;
#pragma omp parallel for schedule(static)
        for (int64_t t = 0; t < chunks; t++)
            nb__gemm_block(s, a, b, c, 0, 1, t * NB__MM_COLS,
                     n - t * NB__MM_COLS < NB__MM_COLS ? n : (t + 1) * NB__MM_COLS);
    }
}

/* c (m×n) = op(a)·op(b) for a handful of elements, each a dot product
 * summed in a register by one NB__MADD chain in p's order (cloned like the
 * loops above: the AVX2 copy's fused multiply-add is one instruction).
 * Pointers walk the operands, with no index products per element: on a
 * product of a dozen multiply-adds, those were most of its instructions. */
NB__SIMD void nb__gemm_tiny(const nb__mm *s, int64_t m, const float *a, const float *b, float *c)
{
    const int64_t k = s->k, n = s->n, lda = s->ta ? s->m : s->k;
    const int64_t ap = s->ta ? lda : 1, ai = s->ta ? 1 : lda;
    const int64_t bp = s->tb ? 1 : n, bj = s->tb ? k : 1;
    for (int64_t i = 0; i < m; i++, a += ai) {
        const float *bc = b;
        for (int64_t j = 0; j < n; j++, bc += bj) {
            const float *x = a, *y = bc;
            float acc = 0.0f;
            for (int64_t p = 0; p < k; p++, x += ap, y += bp)
                acc = NB__MADD(*x, *y, acc);
            *c++ = acc;
        }
    }
}

/*
 * The tiny products of a runtime step (nb__gemm_tiny_kernel) with their
 * inner size fixed at 1 to 4: each dot product written out (no loop
 * along p, no exit branch that changes from call to call), the strides
 * kept in the kernel. The same chain per element as nb__gemm_tiny: from
 * zero, p ascending, one NB__MADD each. XOR's five products (inner sizes
 * 2, 2, 1, 4, 4) took 1,119 instructions a step in nb__gemm_tiny.
 */
#if defined(__GNUC__)
__attribute__((always_inline)) /* into each NB__SIMD clone below, as axpy_row */
#endif
static inline void tiny_dots(const nb__kernel *f, const float *const *in, float *c, int k)
{
    const int64_t m = f->rows, n = f->n, ap = f->ea, ai = f->sa, bp = f->eb, bj = f->sb;
    const float *a = in[0];
    for (int64_t i = 0; i < m; i++, a += ai) {
        const float *b = in[1];
        for (int64_t j = 0; j < n; j++, b += bj) {
            float acc = NB__MADD(a[0], b[0], 0.0f);
            for (int p = 1; p < k; p++)
                acc = NB__MADD(a[p * ap], b[p * bp], acc);
            *c++ = acc;
        }
    }
}

/* Not vectorised: with p unrolled GCC vectorises along j, behind checks
 * that cost more than XOR's 2-column products (577 instructions a step
 * for its two products of inner size 2, 244 without). */
#define NB__TINY_DOTS(K)                                                                  \
    NB__SIMD NB__NO_VECTORIZE static void tiny_dots_##K(const nb__kernel *f,              \
                                                        const float *const *in, float *c) \
    {                                                                                     \
        tiny_dots(f, in, c, K);                                                           \
    }
NB__TINY_DOTS(1)
NB__TINY_DOTS(2)
NB__TINY_DOTS(3)
NB__TINY_DOTS(4)
#undef NB__TINY_DOTS

nb__kernel_fn nb__gemm_tiny_kernel(nb__kernel *f)
{
    static const nb__kernel_fn by_k[] = {NULL, tiny_dots_1, tiny_dots_2, tiny_dots_3,
                                         tiny_dots_4};
    if (f->k < 1 || f->k > 4 || f->rows * f->n * f->k > NB__MM_TINY)
        return NULL;
    const int64_t lda = f->ta ? f->m : f->k;
    f->ea = f->ta ? lda : 1, f->sa = f->ta ? 1 : lda;   /* a's steps along p, i */
    f->eb = f->tb ? 1 : f->n, f->sb = f->tb ? f->k : 1; /* b's steps along p, j */
    return by_k[f->k];
}
