/*
 * gemm_sum.c — a running sum of products as one step (ops/fusion_sum.c
 * matches it): out = prev + op(a₁)·op(b₁) + op(a₂)·op(b₂) + …, added in
 * that order, each product added into out as it is computed
 * (nb__gemm_acc) instead of being written to a value of its own and read
 * back by an add. A recurrent layer's weight gradient is such a sum, one
 * product per time step (autodiff adds each step's gradient to the running
 * one): this saves every step's product value and its add.
 *
 * Each element gets the bits of the plain steps: a product rounded on its
 * own, then one add, in the chain's order (gemm.h: the plain loops and
 * sgemm sum a product the same way).
 */
#include <string.h>

#include "gemm.h"

void nb__gemm_sum(const nb__kernel *k, const float *const *in, float *out)
{
    const nb__gemm_sum_kernel *s = (const nb__gemm_sum_kernel *)k;
    const int64_t size = s->mm.m * s->mm.n;
    int first = 0;
    if (s->prev) {
        memcpy(out, in[0], (size_t)size * sizeof(float));
        in++;
    } else {
        /* the first product starts the sum: written, not added */
        nb__gemm(&s->mm, s->mm.m, in[0], in[1], out);
        first = 1;
    }
    for (int t = first; t < s->terms; t++)
        nb__gemm_acc(&s->mm, s->mm.m, in[2 * t], in[2 * t + 1], out);
}
