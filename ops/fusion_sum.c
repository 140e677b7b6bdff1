/*
 * fusion_sum.c — the "summed products" pattern of the fusion table
 * (fusion.c): a chain of adds summing products of one shape,
 *
 *     add(add(add(prev, p₁), p₂), p₃) …     pₜ = matmul(aₜ, bₜ), rank 2,
 *
 * as autodiff builds the gradient of a weight that several products read
 * (accumulate in autodiff/grad.c adds each one's gradient to the running
 * sum): a recurrent layer's weight_hh, read once per time step, gets one
 * product per step, hᵀ·dz. The group runs as one step (kernels/gemm.h,
 * nb__gemm_sum) that adds each product into the sum as it computes it: no
 * product gets a value of its own, no add reads one back. The chain's
 * start, prev, is read as it is (the previous group of the same chain, or
 * any value); when the chain starts at add(p₀, p₁) the first product
 * starts the sum.
 *
 * A group holds at most SUM_TERMS products (2 inputs each, with prev:
 * NB__FUSE_MAX + 1 inputs); a longer chain is cut into several groups, the
 * later one reading the earlier's value as its prev. Each product and each
 * inner add must pass sole(): a product or partial sum anything else reads
 * stays its own step, and the chain stops there.
 */
#include <string.h>

#include "fusion.h"
#include "kernels/gemm.h"

/* Products a group sums, at most: 2 inputs each plus prev fit in[]. */
#define SUM_TERMS (NB__FUSE_MAX / 2)

static bool is_op(const nb_node *n, nb__op_id id)
{
    return n->kind == NB_NODE_OP && n->op == &nb__op_table[id];
}

/* n is a product of two matrices (no batch) whose sizes are *mm, or,
 * when *mm is unset (m = 0), sets them. */
static bool product_of(const nb_node *n, nb__mm *mm)
{
    nb__kernel k;
    if (!is_op(n, NB_OP_MATMUL) || n->shape.rank != 2 || n->in[0]->shape.rank != 2 ||
        n->in[1]->shape.rank != 2 || !nb__matmul_fast(n, &k))
        return false;
    const nb__mm s = {.ta = k.ta, .tb = k.tb, .m = k.m, .k = k.k, .n = k.n, .kb = k.k};
    if (mm->m == 0)
        *mm = s;
    return s.ta == mm->ta && s.tb == mm->tb && s.m == mm->m && s.k == mm->k && s.n == mm->n;
}

/* An add of two values of its own shape (no broadcasting). */
static bool plain_add(const nb_node *n)
{
    return is_op(n, NB_OP_ADD) && nb_shape_equal(n->in[0]->shape, n->shape) &&
           nb_shape_equal(n->in[1]->shape, n->shape);
}

bool nb__fuse_summed_products(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx,
                              nb__fusion *f)
{
    if (!plain_add(last))
        return false;
    const nb_node *prod[SUM_TERMS], *adds[SUM_TERMS];
    const nb_node *cur = last, *prev = NULL;
    nb__mm mm = {0};
    int terms = 0, n_adds = 0;
    /* walk the chain down from its end: each add's slot 1 the product
     * added (autodiff's order), slot 0 the running sum */
    while (terms < SUM_TERMS) {
        const nb_node *p = cur->in[1], *rest = cur->in[0];
        if (!sole(ctx, p) || !product_of(p, &mm))
            break;
        adds[n_adds++] = cur, prod[terms++] = p;
        if (terms < SUM_TERMS && sole(ctx, rest) && product_of(rest, &mm)) {
            prod[terms++] = rest; /* the chain's first add: p₀ starts the sum */
            break;
        }
        if (terms == SUM_TERMS || !plain_add(rest) || !sole(ctx, rest)) {
            prev = rest;
            break;
        }
        cur = rest;
    }
    /* one product onto prev is product+epilogue's case, not this one */
    if (terms < 2)
        return false;
    /* members in plan order: products and adds from the chain's start */
    f->n_nodes = 0;
    f->n_in = 0;
    if (prev)
        f->in[f->n_in++] = (nb_node *)prev;
    for (int t = terms - 1; t >= 0; t--) {
        f->nodes[f->n_nodes++] = prod[t];
        f->in[f->n_in++] = prod[t]->in[0];
        f->in[f->n_in++] = prod[t]->in[1];
    }
    for (int a = n_adds - 1; a >= 0; a--)
        f->nodes[f->n_nodes++] = adds[a];
    nb__gemm_sum_kernel k = {.mm = mm, .terms = terms, .prev = prev != NULL};
    _Static_assert(sizeof k <= NB__KERNEL_BYTES, "the kernel fits a step's bytes");
    memset(f->kernel, 0, sizeof f->kernel);
    memcpy(f->kernel, &k, sizeof k);
    return true;
}
