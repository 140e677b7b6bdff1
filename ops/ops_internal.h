/*
 * ops_internal.h — the functions each op file gives the op table
 * (ops/op_table.c), and the helpers vjp rules share. Shape rules report
 * refusals through nb_graph_fail with the op, the nodes and the shapes.
 */
#ifndef NB_OPS_INTERNAL_H
#define NB_OPS_INTERNAL_H

#include "../graph/graph_internal.h"
#include "../graph/simd.h"

#include <omp.h>

/* Loops shorter than this stay on one thread: OpenMP start-up costs more. */
#define NB__PAR_MIN 32768

/* True when a loop over `work` elements should fork the thread pool. When it
 * is false, kernels run a plain loop instead of an OpenMP construct with a
 * false if clause: entering the construct at all allocates a team, which
 * cost more than the whole op on tiny graphs (XOR 2-2-1). */
static inline bool nb__par(int64_t work)
{
    return work > NB__PAR_MIN && omp_get_max_threads() > 1;
}

/* ---------------------------------------------------------------- shared rules */

/* Output shape = input 0's shape (elementwise unary). */
nb_status nb__shape_same(nb_graph *g, const nb_node *n, nb_shape *out);
/* Output shape = broadcast of all inputs (binary ops, where). */
nb_status nb__shape_broadcast(nb_graph *g, const nb_node *n, nb_shape *out);

/* dy summed down to `shape` over the axes broadcasting stretched: the adjoint
 * of broadcasting. Returns dy itself when the shapes already agree. */
nb_node *nb__unbroadcast(nb_graph *g, nb_node *dy, nb_shape shape);

/* ---------------------------------------------------------------- blas.c */
/* c (m×n, row stride ldc) = op(a)·op(b) by OpenBLAS's sgemm on the calling
 * thread, row-major, op() transposing when ta / tb. False, with c untouched,
 * when OpenBLAS is not loaded (its buffers did not fit under the memory
 * limit: nb_blas_note says so) or this thread is not one it has a buffer
 * for: the caller computes the product itself. The first call loads it. */
bool nb__blas_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float *a,
                    int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc);

/* ---------------------------------------------------------------- leaves.c */
nb_status nb__leaf_shape(nb_graph *g, const nb_node *n, nb_shape *out);
void nb__leaf_forward(const nb_node *n, const float *const *in, float *out);
nb_status nb__leaf_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx);

/* ---------------------------------------------------------------- unary.c */
#define NB__UNARY(op)                                                        \
    void nb__##op##_forward(const nb_node *n, const float *const *in, float *out); \
    nb_status nb__##op##_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx);
NB__UNARY(neg)
NB__UNARY(exp)
NB__UNARY(log)
NB__UNARY(sqrt)
NB__UNARY(abs)
NB__UNARY(sign)
NB__UNARY(tanh)
NB__UNARY(sigmoid)

/* ---------------------------------------------------------------- binary.c */
NB__UNARY(add)
NB__UNARY(sub)
NB__UNARY(mul)
NB__UNARY(div)
NB__UNARY(max)
NB__UNARY(min)
NB__UNARY(pow)
NB__UNARY(gt)
NB__UNARY(ge)
NB__UNARY(eq)
NB__UNARY(where)
/* nb__fast_kernel's part for the binary ops and where: true with *f filled
 * when the operands' pattern has a kernel of its own (equal layouts, a
 * scalar, a bias row, a tiny output). */
bool nb__binary_fast(const nb_node *n, nb__fast *f);

/* ---------------------------------------------------------------- reduce.c */
nb_status nb__reduce_shape(nb_graph *g, const nb_node *n, nb_shape *out);
NB__UNARY(sum)
NB__UNARY(reduce_max)
/* nb__fast_kernel's part for sum and reduce_max: true with *f filled when
 * the input's layout has a kernel of its own ([outer, reduced, inner], or
 * both ends reduced), chosen once instead of on every run. */
bool nb__reduce_fast(const nb_node *n, nb__fast *f);

/* ---------------------------------------------------------------- movement.c */
nb_status nb__reshape_shape(nb_graph *g, const nb_node *n, nb_shape *out);
NB__UNARY(reshape)
nb_status nb__permute_shape(nb_graph *g, const nb_node *n, nb_shape *out);
NB__UNARY(permute)
nb_status nb__expand_shape(nb_graph *g, const nb_node *n, nb_shape *out);
NB__UNARY(expand)

/* ---------------------------------------------------------------- slice_pad_concat.c */
nb_status nb__slice_shape(nb_graph *g, const nb_node *n, nb_shape *out);
NB__UNARY(slice)
nb_status nb__pad_shape(nb_graph *g, const nb_node *n, nb_shape *out);
NB__UNARY(pad)
nb_status nb__concat_shape(nb_graph *g, const nb_node *n, nb_shape *out);
NB__UNARY(concat)

/* ---------------------------------------------------------------- unfold.c */
nb_status nb__unfold2d_shape(nb_graph *g, const nb_node *n, nb_shape *out);
NB__UNARY(unfold2d)
nb_status nb__fold2d_shape(nb_graph *g, const nb_node *n, nb_shape *out);
NB__UNARY(fold2d)

/* ---------------------------------------------------------------- matmul.c */
nb_status nb__matmul_shape(nb_graph *g, const nb_node *n, nb_shape *out);
NB__UNARY(matmul)
/* nb__fast_kernel's part for matmul: true with *f filled when n is a matmul
 * computed as one product (no batch, or b a single matrix under a's rows). */
bool nb__matmul_fast(const nb_node *n, nb__fast *f);

/* ---------------------------------------------------------------- one_hot.c */
nb_status nb__one_hot_shape(nb_graph *g, const nb_node *n, nb_shape *out);
NB__UNARY(one_hot)
nb_status nb__one_hot_check(const nb_node *n, const float *const *in, char *msg, size_t size);

#undef NB__UNARY

#endif /* NB_OPS_INTERNAL_H */
