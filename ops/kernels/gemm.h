/*
 * gemm.h — the products behind matmul (ops/matmul.c), one row-major
 * product c (m×n) = op(a)·op(b) at a time, op() transposing a when ta and
 * b when tb. Three files, llm.c's way, the plain loops beside the tuned ones:
 *
 *   gemm_plain.c  plain C loops, one NB__MADD chain per element: the
 *                 reference the other kernels are checked against
 *                 (tests/test_fast_paths.c), and the kernel of small,
 *                 one-row and outer-product shapes
 *   gemm_fma.c    hand-tuned AVX2/FMA register-blocked kernels for a
 *                 convolution's per-image shapes and a dense layer's at a
 *                 training batch, on CPUs that have both
 *   gemm.c        which kernel computes a product, and OpenBLAS's sgemm
 *                 for the rest, cut into blocks fixed by the shape
 */
#ifndef NB_GEMM_H
#define NB_GEMM_H

#include "../ops_internal.h"

/* The sizes of one product. */
typedef struct nb__mm {
    bool ta, tb;
    int64_t m, k, n;      /* op(a) is m×k, op(b) is k×n */
    int64_t kb;           /* b's inner size, k when the shapes agree */
} nb__mm;

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

/* ---------------------------------------------------------------- gemm_plain.c */

/* Rows [i0, i1) and columns [j0, j1) of c (m×n, row stride n), plain loops. */
void nb__gemm_block(const nb__mm *s, const float *a, const float *b, float *c, int64_t i0,
                    int64_t i1, int64_t j0, int64_t j1);
/* Rows [i0, i1) and columns [j0, j1) of c += op(a)·op(b), plain loops: each
 * element's product summed as nb__gemm_block sums it, then added. */
void nb__gemm_block_acc(const nb__mm *s, const float *a, const float *b, float *c, int64_t i0,
                        int64_t i1, int64_t j0, int64_t j1);
/* c (m×n) by nb__gemm_block, across threads when large. */
void nb__gemm_loops(const nb__mm *s, int64_t m, const float *a, const float *b, float *c);
/* c (m×n) for a handful of elements: one dot product each. */
void nb__gemm_tiny(const nb__mm *s, int64_t m, const float *a, const float *b, float *c);
/* A runtime step's kernel for matmul's one product f (ta, tb, m, k, n, rows
 * filled by nb__matmul_fast) when it is tiny (rows·n·k ≤ NB__MM_TINY) and
 * its inner size is 1 to 4: nb__gemm_tiny's values, bit for bit, with the
 * dot products written out; the strides stored in f's ea, sa, eb, sb.
 * NULL (f's strides unset) for any other product. */
nb__kernel_fn nb__gemm_tiny_kernel(nb__kernel *f);

/* ---------------------------------------------------------------- gemm_fma.c */

/* c (m×n) by a hand-tuned FMA kernel when this CPU has AVX2 and FMA and
 * the shape is one they are tuned for; false, c untouched, otherwise. */
bool nb__gemm_fma(const nb__mm *s, int64_t m, const float *a, const float *b, float *c);

/* ---------------------------------------------------------------- gemm.c */

/* c (m×n) above NB__MM_TINY multiply-adds, by whichever kernel suits. */
void nb__gemm_big(const nb__mm *s, int64_t m, const float *a, const float *b, float *c);

/* c (m×n) += op(a)·op(b), each element the bits of the product computed on
 * its own then added to c (plain loops or sgemm with beta 1, on the blocks
 * nb__gemm_big would cut): a sum of products without their values. */
void nb__gemm_acc(const nb__mm *s, int64_t m, const float *a, const float *b, float *c);

/* Multiply-adds up to which a product runs as one scalar triple loop, inline:
 * a call through the vector dispatcher costs more than such a product. */
#define NB__MM_TINY 64

/* One row-major product c (m×n) = op(a) · op(b): a scalar triple loop for a
 * handful of multiply-adds, inline; nb__gemm_big for the rest. */
static inline void nb__gemm(const nb__mm *s, int64_t m, const float *a, const float *b, float *c)
{
    if (m * s->n * s->k <= NB__MM_TINY)
        nb__gemm_tiny(s, m, a, b, c);
    else
        nb__gemm_big(s, m, a, b, c);
}

/* ---------------------------------------------------------------- gemm_sum.c */

/* A running sum of `terms` products of one shape mm, as one fused step:
 * out = in[0] + Σ op(a_t)·op(b_t) when prev (a_t, b_t = in[1 + 2t],
 * in[2 + 2t]), else the sum starts at the first product (in[2t], in[2t+1]).
 * Added in t's order, each element with the bits of the plain steps. */
typedef struct nb__gemm_sum_kernel {
    nb__mm mm;
    int32_t terms;
    bool prev;
} nb__gemm_sum_kernel;

void nb__gemm_sum(const nb__kernel *k, const float *const *in, float *out);

#endif /* NB_GEMM_H */
