/*
 * fused.h — the kernels of fused groups (ops/fusion.c matches them, the
 * planner runs them): a chain of elementwise ops as one pass over memory,
 * and a product whose elementwise epilogue (bias, activation, ...) runs on
 * each block of rows right after the product wrote it.
 *
 * A group's value is rows × len (len its last dimension). Its elementwise
 * steps are a little program: step t applies op[t] to the running value
 * and, for a binary op, to in[arg[t]], read whole (FULL: the value's
 * shape), as one row under every row (ROW: a bias) or as one number
 * (SCALAR); right[t] when the running value is the op's right operand
 * (1 - s). Each step computes what the op's own kernel computes, with the
 * same expressions (binary.c, unary.c, ew_math.h).
 */
#ifndef NB_FUSED_H
#define NB_FUSED_H

#include <stdint.h>

#include "../ops_internal.h"

/* How a step's other operand is read. CHANNEL: one number per channel, the
 * row r of the value reading in[arg][r mod chans] (a convolution's bias
 * [F, 1, 1] over its rows of OH·OW positions, one row per image and
 * channel). */
enum { NB__FZ_FULL, NB__FZ_ROW, NB__FZ_SCALAR, NB__FZ_CHANNEL };

/* Steps of a program, at most: a chain's members (fewer than a whole group's,
 * NB__FUSE_MAX, so that the program fits a step's kernel bytes). */
#define NB__FZ_STEPS 12

typedef struct nb__fused_kernel {
    int64_t rows, len;            /* the value is rows × len */
    int64_t m, k, n;              /* product head: op(a) m×k, op(b) k×n, rows = items·m */
    bool ta, tb;                  /* product head: in[0], in[1] transposed */
    uint8_t load_kind;            /* elementwise head: how in[0] is read */
    uint8_t n_ops;                /* steps of the program */
    uint8_t op[NB__FZ_STEPS];     /* each step's nb__op_id */
    int8_t arg[NB__FZ_STEPS];     /* its other operand's index in in[]; -1 for a unary op */
    uint8_t kind[NB__FZ_STEPS];   /* how that operand is read */
    bool right[NB__FZ_STEPS];     /* the running value is the right operand */
    int32_t chans;                /* CHANNEL operands: rows cycle through this many */
} nb__fused_kernel;
_Static_assert(sizeof(nb__fused_kernel) <= NB__KERNEL_BYTES, "a fused kernel fits a step's bytes");

/* The program over v[0, cnt), elements [j0, j0 + cnt) of row r, in place:
 * for kernels that produce the rows themselves (kernels/conv_direct.c). */
void nb__fused_program(const nb__fused_kernel *f, const float *const *in, int64_t r, int64_t j0,
                       float *v, int64_t cnt);
/* A chain of elementwise ops: in[0] read per load_kind, the program, out. */
void nb__fused_chain(const nb__kernel *k, const float *const *in, float *out);
/* out = op(in[0])·op(in[1]), then the program over out, a block of rows at a time. */
void nb__fused_product(const nb__kernel *k, const float *const *in, float *out);

#endif /* NB_FUSED_H */
