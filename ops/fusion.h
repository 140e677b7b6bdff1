/*
 * fusion.h — what the pattern matchers of ops/ share (fusion.c holds the
 * table and the chains, fusion_pool.c and its siblings the matchers of one
 * family each), and how an elementwise op becomes a step of an epilogue
 * program (kernels/fused.h).
 *
 * A whole-group matcher is handed the node a group would end at. When its
 * pattern ends there it fills, in *f:
 *   nodes[0..n_nodes)  the members, last one = `last`, whose value the
 *                      group writes; every other member must pass sole()
 *                      (read by one input slot only, not fetched): those
 *                      get no step and no buffer;
 *   in[0..n_in)        what the kernel reads, in its order: any planned
 *                      values upstream of `last`, not only the members' own
 *                      inputs. Reading a member's input instead of the
 *                      member (the image x instead of unfold2d(x)) needs no
 *                      sole(): the planner keeps a value while any step
 *                      still reads it, and drops it (no step, no buffer)
 *                      once nothing does;
 *   kernel             the kernel's own bytes (NB__KERNEL_BYTES);
 * and returns true. fusion.c sets the pattern's name, kernel and in-place
 * flag from the record. The kernel must compute what the plain steps it
 * replaces compute, within float rounding, the same bits at any thread
 * count; tests/test_fusion*.c check each pattern both ways.
 */
#ifndef NB_FUSION_H
#define NB_FUSION_H

#include "kernels/fused.h"

typedef bool (*nb__fuse_match_fn)(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx,
                                  nb__fusion *f);

/* The elementwise ops an epilogue or chain may hold: those with a step in
 * kernels/fused.c. */
bool nb__fuse_chain_op(const nb_node *n);

/* Appends to fk's program the step of member n, whose running value is in
 * input slot `slot` (-1: n is the head of a chain and its in[0] the loaded
 * value); a binary op's other operand joins f->in, read the way kind()
 * says against n's shape. */
void nb__fuse_add_step(nb__fusion *f, nb__fused_kernel *fk, const nb_node *n, int slot,
                       int (*kind)(const nb_shape *x, const nb_shape *out));

/* ---------------------------------------------------------------- fusion_pool.c */

/* reduce_max over the windows of unfold2d(x): reads x. */
bool nb__fuse_maxpool(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx, nb__fusion *f);
/* sum over the windows of unfold2d(x), times a scalar when one follows: reads x. */
bool nb__fuse_avgpool(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx, nb__fusion *f);

/* fold2d of max pooling's gradient (reduce_max's vjp): reads x, y, dy. */
bool nb__fuse_maxpool_grad(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx,
                           nb__fusion *f);
/* mul(max pooling's gradient, ge(z, s) or gt(z, s)), a relu's gradient
 * after it: reads x, y, dy, z and s. */
bool nb__fuse_maxpool_relu_grad(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx,
                                nb__fusion *f);
/* Either max gradient group above, when the graph also sums its value over
 * (N, H, W) (a convolution's bias gradient, C > 1): that sum is the
 * group's side value (graph_internal.h), summed in the same pass. */
bool nb__fuse_maxpool_relu_bias_grad(const nb_node *last, nb__fuse_sole_fn sole,
                                     const void *ctx, nb__fusion *f);
bool nb__fuse_maxpool_bias_grad(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx,
                                nb__fusion *f);
/* Takes the side value out of such a group: its nodes, its slot, the
 * kernel's sums. */
void nb__fuse_pool_drop_side(nb__fusion *f);
/* fold2d of a sum over windows' gradient (an expanded value): reads it. */
bool nb__fuse_avgpool_grad(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx,
                           nb__fusion *f);

/* ---------------------------------------------------------------- fusion_conv_dx.c */

/* matmul(W [F, C·kh·kw], dy [N, F, L], ta) → fold2d, a convolution's input
 * gradient: reads W and dy (kernels/conv_dx.h). */
bool nb__fuse_conv_dx(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx, nb__fusion *f);

/* ---------------------------------------------------------------- fusion_conv.c */

/* matmul(w, unfold2d(x)) [→ reshape] [→ elementwise epilogue]: reads w, x
 * and the epilogue's operands. */
bool nb__fuse_conv_forward(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx,
                           nb__fusion *f);
/* The sum over the batch of matmul(dy, unfold2d(x), tb): reads dy and x. */
bool nb__fuse_conv_weight_grad(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx,
                               nb__fusion *f);

/* ---------------------------------------------------------------- fusion_gates.c */

/* sigmoid or tanh of a slice of z along the last axis: reads z. */
bool nb__fuse_gate_activation(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx,
                              nb__fusion *f);
/* concat along the last axis of gates' gradients through their activations
 * (and of any other values): reads the gradients' operands. */
bool nb__fuse_gate_gradients(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx,
                             nb__fusion *f);
/* one gate's gradient through tanh or σ plus an addend (c or c·d). */
bool nb__fuse_cell_gradient(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx,
                            nb__fusion *f);

/* ---------------------------------------------------------------- fusion_sum.c */

/* A chain of adds summing products of one shape (a weight's gradient over
 * the time steps of a recurrent layer): reads the chain's start and each
 * product's operands. */
bool nb__fuse_summed_products(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx,
                              nb__fusion *f);

#endif /* NB_FUSION_H */
