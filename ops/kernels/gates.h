/*
 * gates.h — the kernels of a recurrent cell's gate groups (ops/fusion_gates.c
 * matches them): the elementwise work an LSTM or GRU step does around its
 * [N, G·H] gate product, in one pass over memory instead of a step per op.
 *
 *   gate activation:  out [rows, w] = act(z[:, off : off + w]), z [rows, zw]
 *                     (sigmoid or tanh of one gate, read in place: no slice)
 *   gate gradients:   out [rows, Σ w_p] = the pieces side by side (a concat
 *                     along the last axis), each piece p [rows, w_p] one of
 *                       COPY     a                        (a value read whole)
 *                       SIGMOID  (a·b)·(y·(k − y))        (σ's vjp, y = σ(·))
 *                       TANH     (a·b)·(k − y·y)          (tanh's vjp, y = tanh(·))
 *                     plus an addend when one is given: c, or c·d, added
 *                     (an LSTM's cell-state gradient is one TANH piece plus
 *                     the next step's dc·f).
 *
 * a, b, c, d, y are values of the piece's shape read whole, k a number
 * (in[k][0], the vjp rule's constant 1). Every expression is the one the
 * plain steps compute, op by op, in the same order (a product and a sum
 * of two floats do not depend on the operands' order), so the values are
 * the same bits as the plain steps', at any thread count. The rows split
 * across threads; each element is computed alone.
 *
 * gates.c holds both: one plain loop per piece kind over a row; the
 * reference they are checked against is the plain steps themselves
 * (nb_set_fusion(false), tests/test_fusion_gates.c).
 */
#ifndef NB_GATES_H
#define NB_GATES_H

#include <stdint.h>

#include "../ops_internal.h"

enum { NB__GATE_COPY, NB__GATE_SIGMOID, NB__GATE_TANH };

#define NB__GATE_PIECES 6

typedef struct nb__gate_piece {
    uint8_t kind;       /* NB__GATE_* */
    int8_t a, b, y, k;  /* indices in in[]; COPY reads a alone */
    int8_t c, d;        /* the addend: none (c < 0), c (d < 0), or c·d */
    int32_t width;      /* w_p */
} nb__gate_piece;

typedef struct nb__gate_kernel {
    int64_t rows;
    int64_t width;      /* out's row: Σ w_p, or w for an activation */
    int64_t zw, off;    /* activation: z's row, the gate's first column */
    int32_t n_pieces;   /* gradients */
    uint8_t act;        /* activation: NB_OP_SIGMOID or NB_OP_TANH */
    nb__gate_piece piece[NB__GATE_PIECES];
} nb__gate_kernel;
_Static_assert(sizeof(nb__gate_kernel) <= NB__KERNEL_BYTES, "a gate kernel fits a step's bytes");

/* out = act(in[0][:, off : off + width]). */
void nb__gate_activation(const nb__kernel *k, const float *const *in, float *out);
/* out = the pieces side by side. */
void nb__gate_gradients(const nb__kernel *k, const float *const *in, float *out);

#endif /* NB_GATES_H */
