/*
 * gemm.c — which kernel computes a product: the plain loops for small and
 * vector-like shapes (gemm_plain.c), the FMA kernels for a convolution's
 * per-image shapes and a dense layer's at a training batch (gemm_fma.c),
 * and OpenBLAS's sgemm for the rest, cut
 * into blocks fixed by the shape so that no value depends on the thread
 * count.
 */
#include "gemm.h"

/* Multiply-adds below which a plain loop beats sgemm's call and packing. */
#define NB__MM_SMALL 8192

/* True when the plain loops should compute an m-row product: it is small,
 * or it has a shape sgemm handles poorly — one row (batch 1), an inner size
 * of 1 (an outer product), or one column read along a's contiguous rows. */
static bool mm_small(const nb__mm *s, int64_t m)
{
    return m * s->n * s->k <= NB__MM_SMALL || m == 1 || s->k == 1 || (s->n == 1 && !s->ta);
}

/* The most blocks sgemm_split cuts a product into, and the fewest rows or
 * columns a block has: enough blocks to keep every core of the machine busy
 * (a machine constant, never the thread count), few enough that packing the
 * uncut operand once per block stays small against the arithmetic. */
#define NB__MM_BLOCKS_MIN 8
#define NB__MM_BLOCK_MIN 64

/* c rows [i0, i1) and columns [j0, j1) = op(a)·op(b) restricted to them
 * (acc: added to them), by one single-threaded sgemm (the leading
 * dimensions stay the whole matrices'), or by the plain loops when OpenBLAS
 * is not there (ops/blas.c: not loaded under a memory limit too small for
 * its buffers). */
static void sgemm_block(const nb__mm *s, bool acc, const float *a, const float *b, float *c,
                        int64_t i0, int64_t i1, int64_t j0, int64_t j1)
{
    const int64_t lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
    const float *ab = a + (s->ta ? i0 : i0 * lda), *bb = b + (s->tb ? j0 * ldb : j0);
    if (nb__blas_sgemm(s->ta, s->tb, i1 - i0, j1 - j0, s->k, ab, lda, bb, ldb, acc ? 1.0f : 0.0f,
                       c + i0 * s->n + j0, s->n))
        return;
    if (acc)
        nb__gemm_block_acc(s, a, b, c, i0, i1, j0, j1);
    else
        nb__gemm_block(s, a, b, c, i0, i1, j0, j1);
}

/* Block [lo, lo + step) of c's rows (rows) or columns, clipped to c. */
static void sgemm_cut(const nb__mm *s, bool acc, int64_t m, const float *a, const float *b,
                      float *c, bool rows, int64_t lo, int64_t step)
{
    const int64_t len = rows ? m : s->n, hi = lo + step < len ? lo + step : len;
    if (rows)
        sgemm_block(s, acc, a, b, c, lo, hi, 0, s->n);
    else
        sgemm_block(s, acc, a, b, c, 0, m, lo, hi);
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
static void sgemm_split(const nb__mm *s, bool acc, int64_t m, const float *a, const float *b,
                        float *c)
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
            sgemm_cut(s, acc, m, a, b, c, rows, t * step, step);
    } else {
        /* OpenBLAS's OpenMP build follows OpenMP's count outside a parallel
         * region, whatever its own setting: hold it at one for these calls. */
        const int threads = omp_get_max_threads();
        if (threads > 1)
            omp_set_num_threads(1);
        for (int64_t t = 0; t < blocks; t++)
            sgemm_cut(s, acc, m, a, b, c, rows, t * step, step);
        if (threads > 1)
            omp_set_num_threads(threads);
    }
}

/* Products above NB__MM_TINY: the plain loops for small and vector-like
 * shapes, the FMA kernels for a convolution's per-image shapes and a dense
 * layer's at a training batch, sgemm for the rest. Out of line, so the tiny case (nb__gemm) stays a short inline
 * path. */
void nb__gemm_big(const nb__mm *s, int64_t m, const float *a, const float *b, float *c)
{
    if (mm_small(s, m))
        nb__gemm_loops(s, m, a, b, c);
    else if (!nb__gemm_fma(s, m, a, b, c))
        sgemm_split(s, false, m, a, b, c);
}

/* c += op(a)·op(b): the plain loops for the shapes nb__gemm_big gives them
 * (small, one row, outer products), sgemm adding into c (beta 1) over the
 * blocks nb__gemm_big cuts for the rest, so each element gets the very sum
 * a product then an add would give it, one rounding for the add. */
void nb__gemm_acc(const nb__mm *s, int64_t m, const float *a, const float *b, float *c)
{
    if (mm_small(s, m))
        nb__gemm_block_acc(s, a, b, c, 0, m, 0, s->n);
    else
        sgemm_split(s, true, m, a, b, c);
}
