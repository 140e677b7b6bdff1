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

#include "ops_internal.h"

enum { MASK, KEEPDIMS };

/* Elements per parallel block in the [outer, reduced, inner] kernels. */
#define NB__RED_BLOCK 256

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

/*
 * The input viewed as runs of reduced and kept axes: adjacent axes of the
 * same kind merge, axes of size 1 vanish. With at most one reduced run the
 * input is [outer, reduced, inner] and the fast kernels apply.
 */
typedef struct runs {
    int n;
    int64_t size[NB_MAX_RANK];
    bool red[NB_MAX_RANK];
} runs;

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

/* True with outer × red × inner when r has at most one reduced run. */
static bool three_blocks(const runs *r, int64_t *outer, int64_t *red, int64_t *inner)
{
    int k = 0;
    *outer = *red = *inner = 1;
    if (k < r->n && !r->red[k])
        *outer = r->size[k++];
    if (k < r->n && r->red[k])
        *red = r->size[k++];
    if (k < r->n && !r->red[k])
        *inner = r->size[k++];
    return k == r->n;
}

/* ---------------------------------------------------------------- rows */

/* Accumulators a contiguous row is folded into: independent lanes, so the
 * loop vectorises and does not wait on one add's latency per element. */
#define NB__RED_LANES 16

/* Σ x[0..len), len >= 1, summed lane by lane, then the lanes together. */
static inline float row_sum(const float *x, int64_t len)
{
    if (len < NB__RED_LANES) {
        float s = x[0];
        for (int64_t i = 1; i < len; i++)
            s += x[i];
        return s;
    }
    float acc[NB__RED_LANES] = {0};
    int64_t i = 0;
    for (; i + NB__RED_LANES <= len; i += NB__RED_LANES)
        for (int k = 0; k < NB__RED_LANES; k++)
            acc[k] += x[i + k];
    float s = 0.0f;
    for (int k = 0; k < NB__RED_LANES; k++)
        s += acc[k];
    for (; i < len; i++)
        s += x[i];
    return s;
}

/* max x[0..len), len >= 1, lane by lane like row_sum. */
static inline float row_max(const float *x, int64_t len)
{
    if (len < NB__RED_LANES) {
        float m = x[0];
        for (int64_t i = 1; i < len; i++)
            m = x[i] > m ? x[i] : m;
        return m;
    }
    float acc[NB__RED_LANES];
    for (int k = 0; k < NB__RED_LANES; k++)
        acc[k] = x[k];
    int64_t i = NB__RED_LANES;
    for (; i + NB__RED_LANES <= len; i += NB__RED_LANES)
        for (int k = 0; k < NB__RED_LANES; k++)
            acc[k] = x[i + k] > acc[k] ? x[i + k] : acc[k];
    float m = acc[0];
    for (int k = 1; k < NB__RED_LANES; k++)
        m = acc[k] > m ? acc[k] : m;
    for (; i < len; i++)
        m = x[i] > m ? x[i] : m;
    return m;
}

/* The fold of one contiguous row: its sum or its maximum. */
static inline float row_fold(const float *x, int64_t len, bool is_max)
{
    return is_max ? row_max(x, len) : row_sum(x, len);
}

/*
 * The general case (several reduced runs, e.g. axes 0 and 2 of [a,b,c,d]):
 * walks the input once in row-major order with an odometer over the runs,
 * keeping the matching output offset, and folds each element into it. out
 * must hold the identity (0 for sum, -inf for max) beforehand. A last run
 * that is reduced folds as one contiguous row.
 */
static void walk_general(const runs *r, const float *x, float *out, bool is_max)
{
    int64_t ostride[NB_MAX_RANK] = {0}, idx[NB_MAX_RANK] = {0}, total = 1, os = 1;
    for (int k = r->n - 1; k >= 0; k--) {
        ostride[k] = r->red[k] ? 0 : os;
        os *= r->red[k] ? 1 : r->size[k];
        total *= r->size[k];
    }
    const int last = r->n - 1;
    const int64_t len = r->size[last], step = ostride[last];
    int64_t o = 0;
    for (int64_t i = 0; i < total; i += len) {
        float *dst = out + o;
        if (step == 0) {
            float v = row_fold(x + i, len, is_max);
            *dst = is_max ? (v > *dst ? v : *dst) : *dst + v;
        } else if (is_max)
            for (int64_t j = 0; j < len; j++)
                dst[j * step] = x[i + j] > dst[j * step] ? x[i + j] : dst[j * step];
        else
            for (int64_t j = 0; j < len; j++)
                dst[j * step] += x[i + j];
        for (int k = last - 1; k >= 0; k--) {
            o += ostride[k];
            if (++idx[k] < r->size[k])
                break;
            o -= ostride[k] * r->size[k];
            idx[k] = 0;
        }
    }
}

/* ---------------------------------------------------------------- kernels */

/* x [outer, red] → out [outer]: one row each. */
static inline void rows_range(const float *x, float *out, int64_t o0, int64_t o1, int64_t red,
                              bool is_max)
{
    for (int64_t o = o0; o < o1; o++)
        out[o] = row_fold(x + o * red, red, is_max);
}

/* x [outer, red] → out [outer]: each row folded, rows across threads. */
static void reduce_rows(const float *x, float *out, int64_t outer, int64_t red, bool is_max)
{
    if (nb__par(outer * red)) {
#pragma omp parallel for
        for (int64_t o = 0; o < outer; o++)
            rows_range(x, out, o, o + 1, red, is_max);
    } else
        rows_range(x, out, 0, outer, red, is_max);
}

/*
 * dst[i0..i1) folded with the red rows src + j·inner (j < red), in row
 * order: dst[i] = (((src0[i] ⊕ src1[i]) ⊕ src2[i]) ⊕ …). Four rows per pass,
 * so dst is loaded and stored once per four rows, not once per row (a max
 * pool's window axis has four); the order of the folds per element stays
 * the rows' order.
 */
NB__SIMD static void middle_rows(const float *src, float *dst, int64_t i0, int64_t i1,
                                 int64_t red, int64_t inner, bool is_max)
{
    for (int64_t i = i0; i < i1; i++)
        dst[i] = src[i];
    int64_t j = 1;
    for (; j + 4 <= red; j += 4) {
        const float *r0 = src + j * inner, *r1 = r0 + inner, *r2 = r1 + inner, *r3 = r2 + inner;
        if (is_max)
            for (int64_t i = i0; i < i1; i++) {
                float t = r0[i] > dst[i] ? r0[i] : dst[i];
                t = r1[i] > t ? r1[i] : t;
                t = r2[i] > t ? r2[i] : t;
                dst[i] = r3[i] > t ? r3[i] : t;
            }
        else
            for (int64_t i = i0; i < i1; i++)
                dst[i] = (((dst[i] + r0[i]) + r1[i]) + r2[i]) + r3[i];
    }
    for (; j < red; j++) {
        const float *row = src + j * inner;
        if (is_max)
            for (int64_t i = i0; i < i1; i++)
                dst[i] = row[i] > dst[i] ? row[i] : dst[i];
        else
            for (int64_t i = i0; i < i1; i++)
                dst[i] += row[i];
    }
}

/* Block b of reduce_middle: inner elements [i0, i1) of outer row o. */
static inline void middle_block(const float *x, float *out, int64_t b, int64_t nblk, int64_t red,
                                int64_t inner, bool is_max)
{
    const int64_t o = b / nblk, i0 = (b % nblk) * NB__RED_BLOCK;
    const int64_t i1 = i0 + NB__RED_BLOCK < inner ? i0 + NB__RED_BLOCK : inner;
    middle_rows(x + o * red * inner, out + o * inner, i0, i1, red, inner, is_max);
}

/*
 * x [outer, red, inner] → out [outer, inner] with inner > 1: the reduced
 * rows are folded element by element (contiguous, vectorisable). Work is cut
 * into blocks of NB__RED_BLOCK inner elements so that reducing the leading
 * axis (outer = 1) still spreads across threads.
 */
static void reduce_middle(const float *x, float *out, int64_t outer, int64_t red, int64_t inner,
                          bool is_max)
{
    const int64_t nblk = (inner + NB__RED_BLOCK - 1) / NB__RED_BLOCK;
    if (nb__par(outer * red * inner)) {
#pragma omp parallel for
        for (int64_t b = 0; b < outer * nblk; b++)
            middle_block(x, out, b, nblk, red, inner, is_max);
    } else
        for (int64_t b = 0; b < outer * nblk; b++)
            middle_block(x, out, b, nblk, red, inner, is_max);
}

/* Output j of reduce_ends: the fold of the outer rows x[i, j, :]. */
static inline float ends_one(const float *x, int64_t j, int64_t outer, int64_t mid,
                             int64_t inner, bool is_max)
{
    float acc = row_fold(x + j * inner, inner, is_max);
    for (int64_t i = 1; i < outer; i++) {
        float v = row_fold(x + (i * mid + j) * inner, inner, is_max);
        acc = is_max ? (v > acc ? v : acc) : acc + v;
    }
    return acc;
}

/*
 * x [outer, mid, inner] → out [mid], both ends reduced: a convolution's
 * bias gradient, summed over the batch and the positions of [N, F, H·W].
 * Each output folds outer contiguous rows; outputs split across threads.
 */
static void reduce_ends(const float *x, float *out, int64_t outer, int64_t mid, int64_t inner,
                        bool is_max)
{
    if (nb__par(outer * mid * inner) && mid > 1) {
#pragma omp parallel for
        for (int64_t j = 0; j < mid; j++)
            out[j] = ends_one(x, j, outer, mid, inner, is_max);
    } else
        for (int64_t j = 0; j < mid; j++)
            out[j] = ends_one(x, j, outer, mid, inner, is_max);
}

/* The layouts with a kernel of their own, kept in nb__kernel's op field. */
enum { RED_ROWS = 1, RED_MIDDLE, RED_ENDS };

/* The kernel of layout k (from layout_kernel) on x → out: outer, reduced
 * and inner sizes in m, k, n (for RED_ENDS: outer, mid, inner); ta set for
 * max. */
static inline void run_layout(const nb__kernel *k, const float *x, float *out)
{
    if (k->op == RED_ROWS)
        reduce_rows(x, out, k->m, k->k, k->ta);
    else if (k->op == RED_MIDDLE)
        reduce_middle(x, out, k->m, k->k, k->n, k->ta);
    else
        reduce_ends(x, out, k->m, k->k, k->n, k->ta);
}

/* The kernel reduce_fast chose, on the sizes it kept. */
static void fast_reduce(const nb__kernel *f, const float *const *in, float *out)
{
    run_layout(f, in[0], out);
}

/* True with *k filled when the runs r of a sum (or max, with is_max) have
 * a kernel of their own: one reduced run ([outer, reduced, inner]) or a
 * reduced run at both ends. */
static inline bool layout_kernel(const runs *r, bool is_max, nb__kernel *k)
{
    int64_t outer, red, inner;
    *k = (nb__kernel){.ta = is_max};
    if (three_blocks(r, &outer, &red, &inner))
        k->op = inner == 1 ? RED_ROWS : RED_MIDDLE, k->m = outer, k->k = red, k->n = inner;
    else if (r->n == 3 && r->red[0] && !r->red[1] && r->red[2])
        k->op = RED_ENDS, k->m = r->size[0], k->k = r->size[1], k->n = r->size[2];
    else
        return false;
    return true;
}

/* The kernel choice of sum and reduce_max: the input's layout, found once
 * instead of on every run, when it has a kernel of its own. */
static nb__kernel_fn reduce_fast(const nb_node *n, nb__kernel *k, bool is_max)
{
    const runs r = runs_of(n);
    return layout_kernel(&r, is_max, k) ? fast_reduce : NULL;
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
    if (layout_kernel(&r, is_max, &f)) {
        run_layout(&f, x, out);
        return;
    }
    const int64_t m = nb__numel(&n->shape);
    for (int64_t i = 0; i < m; i++)
        out[i] = is_max ? -INFINITY : 0.0f;
    walk_general(&r, x, out, is_max);
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
