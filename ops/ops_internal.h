/*
 * ops_internal.h — what the files of ops/ share: the op ids and the
 * prototypes of each op's functions, both generated from op_list.h, the
 * kernel a runtime step runs (nb__kernel, private to ops/), and the helpers
 * vjp rules share. Shape rules report refusals through nb_graph_fail with
 * the op, the nodes and the shapes.
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

/* The axes a sum or reduce_max node reduces, as a bitmask over its input's
 * axes (bit a: axis a), keepdims or not (reduce.c). */
int64_t nb__reduce_axes(const nb_node *n);

/* ---------------------------------------------------------------- blas.c */
/* c (m×n, row stride ldc) = op(a)·op(b) + beta·c by OpenBLAS's sgemm on the
 * calling thread, row-major, op() transposing when ta / tb (beta 0: c is
 * only written; beta 1: each element's product, summed as a plain product
 * sums it, is added to c with one rounding). False, with c untouched,
 * when OpenBLAS is not loaded (its buffers did not fit under the memory
 * limit: nb_blas_note says so) or this thread is not one it has a buffer
 * for: the caller computes the product itself. The first call loads it. */
bool nb__blas_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float *a,
                    int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* ---------------------------------------------------------------- the ops */

/* The built-in ops' ids, from op_list.h: NB_OP_INPUT, ..., NB_OP_COUNT. */
typedef enum nb__op_id {
#define NB_OP(ID, NAME, IMPL, ARITY, FLAGS, SHAPE, FAST, CHECK) NB_OP_##ID,
#include "op_list.h"
#undef NB_OP
    NB_OP_COUNT
} nb__op_id;

/* The op table (op_table.c), indexed by id. */
extern const nb_op_def nb__op_table[NB_OP_COUNT];
#define NB__OP(id) (&nb__op_table[NB_OP_##id])

/*
 * A kernel chosen for one node (nb__kernel_choose): what the op's forward
 * would compute, specialised for the node's shapes so that a run does not
 * re-derive the broadcast pattern or the product's sizes, which cost more
 * than the arithmetic on tiny graphs. graph/ only stores it; the fields are
 * the kernels' own.
 */
struct nb__kernel {
    int op;            /* binary: which operation; reduce: which layout */
    bool ta, tb;       /* matmul: transpose flags; reduce: ta for max */
    int64_t sa, sb;    /* binary: a's and b's steps from one row to the next */
    int64_t ea, eb;    /* binary: a's and b's steps along a row (0 or 1) */
    int64_t rows, len; /* binary: out is rows × len; matmul: rows of the product */
    int64_t m, k, n;   /* matmul: op(a) is m×k, op(b) k×n; reduce: outer, reduced, inner */
};
_Static_assert(sizeof(nb__kernel) <= NB__KERNEL_BYTES && _Alignof(nb__kernel) <= 16,
               "the runtime holds NB__KERNEL_BYTES, aligned to 16, per step");

/* Each op's functions, named from its list entry: the shape rule, the
 * kernel nb__<impl>_forward, the gradient rule nb__<impl>_vjp, and where
 * the list says so the kernel choice nb__<impl>_fast (the kernel for the
 * node's shapes, with *k filled, or NULL when they have none of their own)
 * and the value check nb__<impl>_check. */
#define NB__FAST_DECL_0(impl)
#define NB__FAST_DECL_1(impl) nb__kernel_fn nb__##impl##_fast(const nb_node *n, nb__kernel *k);
#define NB__CHECK_DECL_0(impl)
#define NB__CHECK_DECL_1(impl) \
    nb_status nb__##impl##_check(const nb_node *n, const float *const *in, char *msg, size_t size);
#define NB_OP(ID, NAME, IMPL, ARITY, FLAGS, SHAPE, FAST, CHECK)                                   \
    nb_status SHAPE(nb_graph *g, const nb_node *n, nb_shape *out);                              \
    void nb__##IMPL##_forward(const nb_node *n, const float *const *in, float *out);            \
    nb_status nb__##IMPL##_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx);             \
    NB__FAST_DECL_##FAST(IMPL) NB__CHECK_DECL_##CHECK(IMPL)
#include "op_list.h"
#undef NB_OP

#endif /* NB_OPS_INTERNAL_H */
