/*
 * binary.h — the kernels behind the elementwise binary ops and where
 * (ops/binary.c), split as matmul's are, the plain loops beside the tuned
 * ones:
 *
 *   binary_plain.c  the row kernels (one plain loop per op and stride
 *                   pattern, long rows in the NB__SIMD copy) and the
 *                   general driver, which maps out's index space onto each
 *                   input and takes any broadcast: the reference the fast
 *                   paths are checked against (tests/test_fast_paths.c)
 *   binary_fast.c   the specialised kernels a runtime picks once per node
 *                   (nb__kernel_choose) for the common patterns, found
 *                   from element counts alone: a flat run, rows against a
 *                   bias row, where on three flat inputs, and tiny outputs
 *
 * The kernels may run in place (NB_OP_ELEMENTWISE): out may be an input
 * whose shape equals out's, so each element is read before it is written.
 */
#ifndef NB_BINARY_KERNELS_H
#define NB_BINARY_KERNELS_H

#include <math.h>

#include "../ops_internal.h"

/*
 * The binary ops, one line each: the id and name of the op (as in
 * op_list.h) and its value from x (read from a) and y (from b). max and
 * min send ties to a's value, matching the vjp rules; comparisons give
 * exactly 0 or 1. Each op's row kernel, tiny kernel, forward and kernel
 * choice are generated from this list; where, with three inputs, has its
 * own row kernel.
 */
#define EW_OPS(X)                            \
    X(ADD, add, x + y)                       \
    X(SUB, sub, x - y)                       \
    X(MUL, mul, x * y)                       \
    X(DIV, div, x / y)                       \
    X(MAX, max, x >= y ? x : y)              \
    X(MIN, min, x <= y ? x : y)              \
    X(POW, pow, powf(x, y))                  \
    X(GT, gt, x > y ? 1.0f : 0.0f)           \
    X(GE, ge, x >= y ? 1.0f : 0.0f)          \
    X(EQ, eq, x == y ? 1.0f : 0.0f)

typedef enum ew_op {
#define EW_ID(ID, NAME, EXPR) EW_##ID,
    EW_OPS(EW_ID)
#undef EW_ID
    EW_WHERE
} ew_op;

/* Rows longer than this are cut into blocks, so one long flat row still
 * spreads across threads. */
#define EW_BLOCK 8192

/*
 * out[i] = EXPR(x = a[i·sa], y = b[i·sb]) for i < len, sa and sb each 0 or 1.
 * One loop per stride pattern: every loop is unit-stride or reads a hoisted
 * constant, which is what the vectoriser wants.
 */
#define EW_ROW(EXPR)                                                  \
    do {                                                              \
        if (sa && sb) {                                               \
            for (int64_t i = 0; i < len; i++) {                       \
                float x = a[i], y = b[i];                             \
                out[i] = (EXPR);                                      \
            }                                                         \
        } else if (sa) {                                              \
            const float y = b[0];                                     \
            for (int64_t i = 0; i < len; i++) {                       \
                float x = a[i];                                       \
                out[i] = (EXPR);                                      \
            }                                                         \
        } else if (sb) {                                              \
            const float x = a[0];                                     \
            for (int64_t i = 0; i < len; i++) {                       \
                float y = b[i];                                       \
                out[i] = (EXPR);                                      \
            }                                                         \
        } else {                                                      \
            const float x = a[0], y = b[0], v = (EXPR);               \
            for (int64_t i = 0; i < len; i++)                         \
                out[i] = v;                                           \
        }                                                             \
    } while (0)

/* One row of a binary op (EW_OPS). */
static inline __attribute__((always_inline)) void
binary_row_body(ew_op op, const float *a, int64_t sa, const float *b, int64_t sb, float *out,
                int64_t len)
{
    switch (op) {
#define EW_CASE(ID, NAME, EXPR) case EW_##ID: EW_ROW(EXPR); break;
        EW_OPS(EW_CASE)
#undef EW_CASE
    case EW_WHERE: break; /* three inputs: where_row */
    }
}

#undef EW_ROW

/* Rows at least this long go through the vector-dispatched copy; shorter
 * ones run inline, where a call through the dispatcher costs more than the
 * row. */
#define EW_WIDE 64

/* binary_row_body in the vector-dispatched copy (binary_plain.c). */
void nb__binary_row_wide(ew_op op, const float *a, int64_t sa, const float *b, int64_t sb,
                         float *out, int64_t len);

static inline void nb__binary_row(ew_op op, const float *a, int64_t sa, const float *b, int64_t sb,
                                  float *out, int64_t len)
{
    if (len >= EW_WIDE)
        nb__binary_row_wide(op, a, sa, b, sb, out, len);
    else
        binary_row_body(op, a, sa, b, sb, out, len);
}

/* One row of where (binary_plain.c). */
void nb__where_row(const float *c, int64_t sc, const float *a, int64_t sa, const float *b,
                   int64_t sb, float *out, int64_t len);

/* ---------------------------------------------------------------- binary_plain.c */

/* in[k] [broadcastable to out] -> out [n->shape], any broadcast pattern,
 * through the index map. */
void nb__ew_general(const nb_node *n, ew_op op, const float *const *in, float *out);

/* ---------------------------------------------------------------- binary_fast.c */

/* The specialised kernel of op on node n, with *f filled, or NULL when its
 * shapes have none (nb__ew_general takes it). */
nb__kernel_fn nb__ew_classify(const nb_node *n, ew_op op, nb__kernel *f);

#endif /* NB_BINARY_KERNELS_H */
