/*
 * sgd.h — the SGD update kernels beneath the optimiser (train/optim.c):
 * one for a gradient formed in memory, one for a dense layer's batch-1
 * gradient left as the outer product u·vᵀ of two vectors, and the row
 * former through which the other rules (Adam, RMSprop) read such a
 * gradient a chunk at a time. A narrow interface, plain pointers and
 * counts, so train/ needs nothing else of ops/.
 *
 * Velocities are flushed: a velocity v whose step lr·v would be smaller
 * than FLT_MIN (the smallest normal float) — |v| < FLT_MIN / |lr| when
 * |lr| < 1, else |v| < FLT_MIN — is stored as exactly zero, and the step
 * uses that zero. With momentum, the velocity of a weight whose gradient
 * stays zero (an input pixel that is always 0) decays as μ^t and would
 * otherwise pass into the subnormal range, where x86 arithmetic takes a
 * microcode assist per operation producing such a value and the update
 * runs many times slower for as long as training lasts; flushing at
 * FLT_MIN alone still leaves the products lr·v subnormal for a stretch of
 * steps. A flushed velocity moves no weight of ordinary size (w - lr·v
 * rounds to w for |w| above 2^-102). The flush is done in the kernel, in
 * portable C, rather than by setting the FPU's flush-to-zero modes: it
 * touches only the velocity, leaves the caller's floating-point state and
 * every other value (weights, gradients, other rules) as IEEE arithmetic
 * gives them, behaves the same on every CPU and in every thread (OpenMP
 * workers would each need the mode set and restored), and a step's values
 * still do not depend on the thread count.
 */
#ifndef NB_SGD_KERNEL_H
#define NB_SGD_KERNEL_H

#include <stdbool.h>
#include <stdint.h>

/* The SGD rule's constants: momentum μ, weight decay λ, Nesterov. */
typedef struct nb__sgd_rule {
    float mu, wd;
    bool nesterov;
} nb__sgd_rule;

/* k elements with gradient g: with weight decay folded in (gi = g + λw),
 * v ← flush(μv + gi), the step v, or gi + μv with Nesterov, or gi without
 * momentum (μ = 0: v untouched, never read); w ← w - lr·step. */
void nb__sgd_update(const nb__sgd_rule *r, float *restrict w, const float *restrict g,
                    float *restrict m, int64_t k, float lr);

/* One parameter of a list update: its k values w, gradient g and
 * velocity m (nb__sgd_update's arguments). */
typedef struct nb__sgd_span {
    float *w;
    const float *g;
    float *m;
    int64_t k;
} nb__sgd_span;

/* Spans up to this long go in a list; longer ones are worth a call (and
 * a vector loop) each. */
#define NB__SGD_LIST_MAX 64

/* nb__sgd_update on s[0], s[1], … s[n-1] (each k ≤ NB__SGD_LIST_MAX) in
 * that order, in one call and in scalar loops: the same values bit for
 * bit, without a call and a vector loop's set-up per parameter (on a small
 * network's step, with parameters of one to four floats, those cost more
 * than the arithmetic). */
void nb__sgd_update_list(const nb__sgd_rule *r, const nb__sgd_span *s, int n, float lr);

/* The same rule on rows × n elements (row stride n) whose gradient is the
 * outer product u[r]·v[j], read from the two vectors and never formed: the
 * result is nb__sgd_update's on the formed gradient, bit for bit. */
void nb__sgd_update_outer(const nb__sgd_rule *r, float *restrict w, float *restrict m,
                          const float *u, const float *restrict v, int64_t rows, int64_t n,
                          float lr);

/* g[0..len) = ur · v[0..len): one stretch of an outer-product row. */
void nb__outer_row(float ur, const float *restrict v, int64_t len, float *restrict g);

#endif /* NB_SGD_KERNEL_H */
