/*
 * reduce.c — sum and max over chosen axes, and mean as their composition.
 *
 * Attributes (sum and reduce_max): i[0] = bitmask of the reduced axes
 * (bit a set: axis a of the input is reduced; already normalised, so no
 * negative axes), i[1] = keepdims (0 or 1).
 *
 * x [d0, …, dr-1] → out: each reduced axis dropped, or kept as 1 with
 * keepdims. Reducing every axis without keepdims gives a scalar (rank 0).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels/reduce.h"

enum { MASK, KEEPDIMS };

int64_t nb__reduce_axes(const nb_node *n)
{
    return n->attrs.i[MASK];
}

/* ---------------------------------------------------------------- axes */

/*
 * Turns the user's axes into a bitmask over x's axes: negative axes count
 * from the end, n_axes 0 means every axis. Refuses an axis out of range and
 * an axis named twice, naming op, node, shape and the axis.
 */
static nb_status axes_mask(nb_graph *g, const char *op, const nb_node *x, const int *axes,
                           int n_axes, int64_t *mask)
{
    char d[300];
    int rank = x->shape.rank;
    if (n_axes == 0) {
        *mask = rank ? (int64_t)((1u << rank) - 1) : 0;
        return NB_OK;
    }
    if (n_axes < 0)
        return nb_graph_fail(g, NB_ERR_ARG, "%s: n_axes is %d (must be >= 0) for %s", op, n_axes,
                             nb__describe(x, d, sizeof d));
    if (!axes)
        return nb_graph_fail(g, NB_ERR_ARG, "%s: axes is NULL but n_axes is %d for %s", op, n_axes,
                             nb__describe(x, d, sizeof d));
    int64_t m = 0;
    for (int k = 0; k < n_axes; k++) {
        int a = nb__axis(axes[k], rank);
        if (a < 0)
            return nb_graph_fail(g, NB_ERR_ARG, "%s: axis %d is out of range for %s (rank %d)", op,
                                 axes[k], nb__describe(x, d, sizeof d), rank);
        if (m & ((int64_t)1 << a))
            return nb_graph_fail(g, NB_ERR_ARG, "%s: axis %d (axis %d) is repeated for %s", op,
                                 axes[k], a, nb__describe(x, d, sizeof d));
        m |= (int64_t)1 << a;
    }
    *mask = m;
    return NB_OK;
}

/* The reduced axes of a mask, in increasing order; returns how many. */
static int mask_axes(int64_t mask, int rank, int *axes)
{
    int n = 0;
    for (int a = 0; a < rank; a++)
        if (mask & ((int64_t)1 << a))
            axes[n++] = a;
    return n;
}

/* x's shape with the reduced axes set to 1: the keepdims shape. */
static nb_shape keep_shape(nb_shape x, int64_t mask)
{
    for (int a = 0; a < x.rank; a++)
        if (mask & ((int64_t)1 << a))
            x.dim[a] = 1;
    return x;
}

/* ---------------------------------------------------------------- shape */

/* Drops (or sets to 1 with keepdims) every reduced axis. */
nb_status nb__reduce_shape(nb_graph *g, const nb_node *n, nb_shape *out)
{
    const nb_node *x = n->in[0];
    int64_t mask = n->attrs.i[MASK];
    if (mask < 0 || mask >> x->shape.rank) {
        char d[300];
        return nb_graph_fail(g, NB_ERR_ARG, "%s: axis mask 0x%llx names axes outside %s",
                             n->op->name, (unsigned long long)mask, nb__describe(x, d, sizeof d));
    }
    nb_shape s = {.rank = 0};
    for (int a = 0; a < x->shape.rank; a++) {
        bool red = mask & ((int64_t)1 << a);
        if (!red || n->attrs.i[KEEPDIMS])
            s.dim[s.rank++] = red ? 1 : x->shape.dim[a];
    }
    *out = s;
    return NB_OK;
}

/* ---------------------------------------------------------------- layout */

/* The runs of n's input (reduce.h): its axes as reduced and kept runs. */
static inline runs runs_of(const nb_node *n)
{
    const nb_shape *s = &n->in[0]->shape;
    int64_t mask = n->attrs.i[MASK];
    runs r = {0};
    for (int a = 0; a < s->rank; a++) {
        bool red = mask & ((int64_t)1 << a);
        if (s->dim[a] == 1)
            continue;
        if (r.n && r.red[r.n - 1] == red)
            r.size[r.n - 1] *= s->dim[a];
        else
            r.size[r.n] = s->dim[a], r.red[r.n++] = red;
    }
    return r;
}

/* The kernel choice of sum and reduce_max: the input's layout, found once
 * instead of on every run, when it has a kernel of its own. */
static nb__kernel_fn reduce_fast(const nb_node *n, nb__kernel *k, bool is_max)
{
    const runs r = runs_of(n);
    return nb__reduce_layout_kernel(&r, is_max, k) ? nb__reduce_kernel(k) : NULL;
}

nb__kernel_fn nb__sum_fast(const nb_node *n, nb__kernel *k)
{
    return reduce_fast(n, k, false);
}

nb__kernel_fn nb__reduce_max_fast(const nb_node *n, nb__kernel *k)
{
    return reduce_fast(n, k, true);
}

/* x (input shape) → out (reduced shape): the layout's own kernel (the one
 * reduce_fast chooses once), else one walk over the input. */
static void reduce_forward(const nb_node *n, const float *x, float *out, bool is_max)
{
    const runs r = runs_of(n);
    nb__kernel f;
    if (nb__reduce_layout_kernel(&r, is_max, &f)) {
        nb__reduce_run_layout(&f, x, out);
        return;
    }
    const int64_t m = nb__numel(&n->shape);
    for (int64_t i = 0; i < m; i++)
        out[i] = is_max ? -INFINITY : 0.0f;
    nb__reduce_walk(&r, x, out, is_max);
}

/* x [...] → out [... with the reduced axes summed]. */
void nb__sum_forward(const nb_node *n, const float *const *in, float *out)
{
    reduce_forward(n, in[0], out, false);
}

/* x [...] → out [... with the maximum over the reduced axes]. */
void nb__reduce_max_forward(const nb_node *n, const float *const *in, float *out)
{
    reduce_forward(n, in[0], out, true);
}

/* ---------------------------------------------------------------- vjp */

/* d from the output's shape to the keepdims shape (a view), or d itself. */
static nb_node *to_keepdims(nb_graph *g, const nb_node *n, nb_node *d)
{
    nb_shape ks = keep_shape(n->in[0]->shape, n->attrs.i[MASK]);
    return nb_shape_equal(d->shape, ks) ? d : nb_reshape(g, d, ks);
}

/* d sum: every input element gets the gradient of the sum it went into:
 * dx = expand(reshape(dy, keepdims shape), x.shape). */
nb_status nb__sum_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    nb_shape xs = n->in[0]->shape;
    nb_node *d = to_keepdims(g, n, dy);
    if (d && !nb_shape_equal(d->shape, xs))
        d = nb_expand(g, d, xs);
    dx[0] = d;
    return d ? NB_OK : g->status;
}

/*
 * d max: the gradient goes to the elements equal to the maximum, shared
 * equally among ties (as PyTorch's amax):
 *   mask = eq(x, y_keepdims);  dx = mask · dy_keepdims / Σ_axes mask.
 * eq has no gradient, so second derivatives treat the mask as constant.
 */
nb_status nb__reduce_max_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    nb_node *x = n->in[0];
    int axes[NB_MAX_RANK];
    int na = mask_axes(n->attrs.i[MASK], x->shape.rank, axes);
    nb_node *y = to_keepdims(g, n, n);
    nb_node *mask = nb_eq(g, x, y); /* y broadcasts over the reduced axes */
    nb_node *count = na ? nb_sum(g, mask, axes, na, true) : mask;
    nb_node *share = nb_div(g, to_keepdims(g, n, dy), count);
    dx[0] = nb_mul(g, mask, share);
    return dx[0] ? NB_OK : g->status;
}

/* ---------------------------------------------------------------- builders */

/* The shared builder: checks the axes, packs them and makes the node. */
static nb_node *reduce(nb_graph *g, const nb_op_def *op, nb_node *x, const int *axes, int n_axes,
                       bool keepdims)
{
    if (!g)
        return NULL;
    if (!x)
        return nb__node_new(g, op, &x, 1, NULL);
    nb_attrs a = {0};
    if (axes_mask(g, op->name, x, axes, n_axes, &a.i[MASK]) != NB_OK)
        return NULL;
    a.i[KEEPDIMS] = keepdims;
    return nb__node_new(g, op, &x, 1, &a);
}

nb_node *nb_sum(nb_graph *g, nb_node *x, const int *axes, int n_axes, bool keepdims)
{
    return reduce(g, NB__OP(SUM), x, axes, n_axes, keepdims);
}

nb_node *nb_reduce_max(nb_graph *g, nb_node *x, const int *axes, int n_axes, bool keepdims)
{
    return reduce(g, NB__OP(REDUCE_MAX), x, axes, n_axes, keepdims);
}

/* mean = sum · 1/n, n the number of elements each output averages. */
nb_node *nb_mean(nb_graph *g, nb_node *x, const int *axes, int n_axes, bool keepdims)
{
    if (!g)
        return NULL;
    if (!x)
        return nb__node_new(g, NB__OP(SUM), &x, 1, NULL);
    int64_t mask;
    if (axes_mask(g, "mean", x, axes, n_axes, &mask) != NB_OK)
        return NULL;
    int64_t count = 1;
    for (int a = 0; a < x->shape.rank; a++)
        if (mask & ((int64_t)1 << a))
            count *= x->shape.dim[a];
    nb_node *s = nb_sum(g, x, axes, n_axes, keepdims);
    return nb_mul(g, s, nb_scalar(g, (float)(1.0 / (double)count)));
}
