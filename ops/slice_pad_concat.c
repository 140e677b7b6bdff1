/*
 * slice_pad_concat.c — ops that cut, frame and join tensors along axes:
 * slice (every step-th element of a range), pad (a border of one value) and
 * concat (tensors end to end). Each one's gradient is built from the others.
 *
 * Attributes:
 *   slice:  i[0] = axis, i[1] = start, i[2] = stop, i[3] = step, already
 *           normalised by the builder: 0 <= start < stop <= dim, step >= 1
 *   pad:    i[k] = before axis k, i[NB_MAX_RANK + k] = after axis k (>= 0),
 *           f[0] = the padding value
 *   concat: i[0] = axis (normalised)
 */
#include <stdio.h>
#include <string.h>

#include "ops_internal.h"

enum { AXIS, START, STOP, STEP };

/* Product of s's dims in [from, to). */
static int64_t span(const nb_shape *s, int from, int to)
{
    int64_t p = 1;
    for (int k = from; k < to; k++)
        p *= s->dim[k];
    return p;
}

/* ---------------------------------------------------------------- slice */

/* x [.., D, ..] → [.., ceil((stop - start) / step), ..] along the axis. */
nb_status nb__slice_shape(nb_graph *g, const nb_node *n, nb_shape *out)
{
    const nb_node *x = n->in[0];
    const int64_t *a = n->attrs.i;
    if (a[AXIS] < 0 || a[AXIS] >= x->shape.rank || a[STEP] < 1 || a[START] < 0 ||
        a[STOP] > x->shape.dim[a[AXIS]] || a[START] >= a[STOP]) {
        char d[300];
        return nb_graph_fail(g, NB_ERR_ARG, "slice: [%lld:%lld:%lld] along axis %lld does not fit %s",
                             (long long)a[START], (long long)a[STOP], (long long)a[STEP],
                             (long long)a[AXIS], nb__describe(x, d, sizeof d));
    }
    *out = x->shape;
    out->dim[a[AXIS]] = (a[STOP] - a[START] + a[STEP] - 1) / a[STEP];
    return NB_OK;
}

/* Row b = (o, k) of slice: out[o, k, :] = x[o, start + k·step, :]. */
static inline void slice_row(const float *x, float *out, int64_t b, int64_t m, int64_t dim,
                             int64_t start, int64_t step, int64_t inner)
{
    const int64_t o = b / m, k = b % m;
    const float *src = x + (o * dim + start + k * step) * inner;
    float *dst = out + b * inner;
    if (inner == 1)
        dst[0] = src[0];
    else
        memcpy(dst, src, (size_t)inner * sizeof *dst);
}

/* x [outer, D, inner] → out [outer, m, inner], out[o, k] = x[o, start + k·step]. */
void nb__slice_forward(const nb_node *n, const float *const *in, float *out)
{
    const nb_shape *xs = &n->in[0]->shape;
    const int axis = (int)n->attrs.i[AXIS];
    const int64_t start = n->attrs.i[START], step = n->attrs.i[STEP];
    const int64_t outer = span(xs, 0, axis), inner = span(xs, axis + 1, xs->rank);
    const int64_t dim = xs->dim[axis], m = n->shape.dim[axis];
    if (nb__par(outer * m * inner)) {
#pragma omp parallel for
        for (int64_t b = 0; b < outer * m; b++)
            slice_row(in[0], out, b, m, dim, start, step, inner);
    } else
        for (int64_t b = 0; b < outer * m; b++)
            slice_row(in[0], out, b, m, dim, start, step, inner);
}

/* d at offset `at` of a zero line of length `len` along axis (d's length
 * plus at may exceed len only by trailing zeros, which are cut off). */
static nb_node *place(nb_graph *g, nb_node *d, int axis, int64_t at, int64_t len)
{
    if (!d)
        return NULL;
    int64_t have = d->shape.dim[axis];
    if (at + have > len)
        d = nb_slice(g, d, axis, 0, len - at, 1), have = len - at;
    int64_t before[NB_MAX_RANK] = {0}, after[NB_MAX_RANK] = {0};
    before[axis] = at;
    after[axis] = len - at - have;
    return at || after[axis] ? nb_pad(g, d, before, after, 0.0f) : d;
}

/*
 * d slice: dy scattered back to positions start + k·step, zeros elsewhere,
 * from differentiable builders only. With step > 1, dy is viewed as
 * [outer, m, 1, inner], padded to [outer, m, step, inner] (each element
 * followed by step-1 zeros), merged to [outer, m·step, inner]; then placed
 * at offset start of the axis's length and viewed back as x's shape.
 */
nb_status nb__slice_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    const nb_shape xs = n->in[0]->shape;
    const int axis = (int)n->attrs.i[AXIS];
    const int64_t start = n->attrs.i[START], step = n->attrs.i[STEP];
    const int64_t dim = xs.dim[axis], m = n->shape.dim[axis];
    if (step == 1) {
        dx[0] = place(g, dy, axis, start, dim);
        return dx[0] ? NB_OK : g->status;
    }
    const int64_t outer = span(&xs, 0, axis), inner = span(&xs, axis + 1, xs.rank);
    int64_t after[4] = {0, 0, step - 1, 0};
    nb_node *d = nb_reshape(g, dy, NB_SHAPE(outer, m, 1, inner));
    d = nb_pad(g, d, NULL, after, 0.0f);
    d = nb_reshape(g, d, NB_SHAPE(outer, m * step, inner));
    d = place(g, d, 1, start, dim);
    dx[0] = nb_reshape(g, d, xs);
    return dx[0] ? NB_OK : g->status;
}

/*
 * Python's slice rules: negative start/stop count from the end, both clamp
 * to 0..dim. Refuses an axis out of range, step < 1 and an empty result.
 */
nb_node *nb_slice(nb_graph *g, nb_node *x, int axis, int64_t start, int64_t stop, int64_t step)
{
    if (!g)
        return NULL;
    if (!x)
        return nb__node_new(g, NB__OP(SLICE), &x, 1, NULL);
    char d[300];
    int ax = nb__axis(axis, x->shape.rank);
    if (ax < 0)
        return nb_graph_fail(g, NB_ERR_ARG, "slice: axis %d is out of range for %s (rank %d)", axis,
                             nb__describe(x, d, sizeof d), x->shape.rank), NULL;
    if (step < 1)
        return nb_graph_fail(g, NB_ERR_ARG, "slice: step %lld along axis %d of %s must be >= 1",
                             (long long)step, axis, nb__describe(x, d, sizeof d)), NULL;
    const int64_t dim = x->shape.dim[ax];
    int64_t a = start < 0 ? start + dim : start, b = stop < 0 ? stop + dim : stop;
    a = a < 0 ? 0 : a > dim ? dim : a;
    b = b < 0 ? 0 : b > dim ? dim : b;
    if (a >= b)
        return nb_graph_fail(g, NB_ERR_SHAPE,
                             "slice: [%lld:%lld:%lld] along axis %d of %s is empty", (long long)start,
                             (long long)stop, (long long)step, axis, nb__describe(x, d, sizeof d)),
               NULL;
    nb_attrs at = {0};
    at.i[AXIS] = ax, at.i[START] = a, at.i[STOP] = b, at.i[STEP] = step;
    return nb__node_new(g, NB__OP(SLICE), &x, 1, &at);
}

/* ---------------------------------------------------------------- pad */

/* x [d0..] → [before0 + d0 + after0, ..]; refuses negative padding. */
nb_status nb__pad_shape(nb_graph *g, const nb_node *n, nb_shape *out)
{
    const nb_node *x = n->in[0];
    nb_shape s = x->shape;
    for (int k = 0; k < s.rank; k++) {
        int64_t b = n->attrs.i[k], a = n->attrs.i[NB_MAX_RANK + k];
        if (b < 0 || a < 0) {
            char d[300];
            return nb_graph_fail(g, NB_ERR_ARG, "pad: negative padding %lld %s axis %d of %s",
                                 (long long)(b < 0 ? b : a), b < 0 ? "before" : "after", k,
                                 nb__describe(x, d, sizeof d));
        }
        s.dim[k] += b + a;
    }
    *out = s;
    return NB_OK;
}

/* Output row i of pad: all padding when a leading index lies in a border,
 * else before-padding, the input row, after-padding. */
static inline void pad_row(const nb_shape *xs, const nb_shape *os, const int64_t *before,
                           float v, const float *x, float *out, int64_t i)
{
    const int last = os->rank - 1;
    const int64_t len = os->dim[last], xlen = xs->dim[last], b = before[last];
    float *dst = out + i * len;
    int64_t off = 0, xstride = xlen, r = i;
    bool inside = true;
    for (int k = last - 1; k >= 0 && inside; k--) {
        int64_t c = r % os->dim[k] - before[k];
        r /= os->dim[k];
        inside = c >= 0 && c < xs->dim[k];
        off += c * xstride;
        xstride *= xs->dim[k];
    }
    if (!inside) {
        for (int64_t c = 0; c < len; c++)
            dst[c] = v;
        return;
    }
    for (int64_t c = 0; c < b; c++)
        dst[c] = v;
    memcpy(dst + b, x + off, (size_t)xlen * sizeof *dst);
    for (int64_t c = b + xlen; c < len; c++)
        dst[c] = v;
}

/*
 * x [d0..dr-1] → out [b0+d0+a0, ..]: each output row (last dim) is either
 * all padding (some leading index lies in a border) or before-padding, an
 * input row, after-padding. Rows split across threads.
 */
void nb__pad_forward(const nb_node *n, const float *const *in, float *out)
{
    const nb_shape *xs = &n->in[0]->shape, *os = &n->shape;
    const int64_t *before = n->attrs.i;
    const float v = n->attrs.f[0];
    if (os->rank == 0) {
        out[0] = in[0][0];
        return;
    }
    const int64_t len = os->dim[os->rank - 1];
    const int64_t rows = nb_shape_numel(*os) / len;
    if (nb__par(rows * len)) {
#pragma omp parallel for
        for (int64_t i = 0; i < rows; i++)
            pad_row(xs, os, before, v, in[0], out, i);
    } else
        for (int64_t i = 0; i < rows; i++)
            pad_row(xs, os, before, v, in[0], out, i);
}

/* d pad: the gradient with the border sliced off each padded axis. */
nb_status nb__pad_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    const nb_shape *xs = &n->in[0]->shape;
    nb_node *d = dy;
    for (int k = 0; k < xs->rank && d; k++) {
        int64_t b = n->attrs.i[k];
        if (b || n->attrs.i[NB_MAX_RANK + k])
            d = nb_slice(g, d, k, b, b + xs->dim[k], 1);
    }
    dx[0] = d;
    return d ? NB_OK : g->status;
}

nb_node *nb_pad(nb_graph *g, nb_node *x, const int64_t *before, const int64_t *after, float value)
{
    if (!g)
        return NULL;
    if (!x)
        return nb__node_new(g, NB__OP(PAD), &x, 1, NULL);
    nb_attrs a = {0};
    for (int k = 0; k < x->shape.rank; k++) {
        a.i[k] = before ? before[k] : 0;
        a.i[NB_MAX_RANK + k] = after ? after[k] : 0;
    }
    a.f[0] = value;
    return nb__node_new(g, NB__OP(PAD), &x, 1, &a);
}

/* ---------------------------------------------------------------- concat */

/* Sums the inputs' lengths along the axis; every other dim must agree with
 * input 0's (the message names the mismatching input and both shapes). */
nb_status nb__concat_shape(nb_graph *g, const nb_node *n, nb_shape *out)
{
    const int axis = (int)n->attrs.i[AXIS];
    const nb_node *x0 = n->in[0];
    char d0[300], d[300];
    if (axis < 0 || axis >= x0->shape.rank)
        return nb_graph_fail(g, NB_ERR_ARG, "concat: axis %d is out of range for input 0 %s",
                             axis, nb__describe(x0, d0, sizeof d0));
    nb_shape s = x0->shape;
    for (int i = 1; i < n->n_in; i++) {
        const nb_shape *xi = &n->in[i]->shape;
        bool ok = xi->rank == s.rank;
        for (int k = 0; ok && k < s.rank; k++)
            ok = k == axis || xi->dim[k] == s.dim[k];
        if (!ok)
            return nb_graph_fail(g, NB_ERR_SHAPE,
                                 "concat: input %d %s does not match input 0 %s outside axis %d",
                                 i, nb__describe(n->in[i], d, sizeof d),
                                 nb__describe(x0, d0, sizeof d0), axis);
        s.dim[axis] += xi->dim[axis];
    }
    *out = s;
    return NB_OK;
}

/* Outer index o of concat: the inputs' blocks copied end to end. */
static inline void concat_row(const nb_node *n, const float *const *in, float *out, int64_t o,
                              int axis, int64_t row)
{
    float *dst = out + o * row;
    for (int i = 0; i < n->n_in; i++) {
        const nb_shape *xs = &n->in[i]->shape;
        const int64_t blk = span(xs, axis, xs->rank);
        memcpy(dst, in[i] + o * blk, (size_t)blk * sizeof *dst);
        dst += blk;
    }
}

/*
 * xs[i] [outer, d_i, inner] → out [outer, Σd_i, inner]: for each outer
 * index, the inputs' blocks of d_i·inner elements are copied end to end.
 */
void nb__concat_forward(const nb_node *n, const float *const *in, float *out)
{
    const int axis = (int)n->attrs.i[AXIS];
    const int64_t outer = span(&n->shape, 0, axis);
    const int64_t row = span(&n->shape, axis, n->shape.rank);
    if (nb__par(outer * row)) {
#pragma omp parallel for
        for (int64_t o = 0; o < outer; o++)
            concat_row(n, in, out, o, axis, row);
    } else
        for (int64_t o = 0; o < outer; o++)
            concat_row(n, in, out, o, axis, row);
}

/* d concat: each input gets its own stretch of the gradient back. */
nb_status nb__concat_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    const int axis = (int)n->attrs.i[AXIS];
    if (n->n_in == 1) {
        dx[0] = dy;
        return NB_OK;
    }
    int64_t at = 0;
    for (int i = 0; i < n->n_in; i++) {
        int64_t len = n->in[i]->shape.dim[axis];
        dx[i] = nb_slice(g, dy, axis, at, at + len, 1);
        if (!dx[i])
            return g->status;
        at += len;
    }
    return NB_OK;
}

nb_node *nb_concat(nb_graph *g, nb_node *const *xs, int n, int axis)
{
    if (!g)
        return NULL;
    if (n < 1 || !xs || !xs[0])
        return nb__node_new(g, NB__OP(CONCAT), xs, n, NULL);
    int ax = nb__axis(axis, xs[0]->shape.rank);
    if (ax < 0) {
        char d[300];
        return nb_graph_fail(g, NB_ERR_ARG, "concat: axis %d is out of range for input 0 %s "
                             "(rank %d)", axis, nb__describe(xs[0], d, sizeof d),
                             xs[0]->shape.rank), NULL;
    }
    nb_attrs a = {0};
    a.i[AXIS] = ax;
    return nb__node_new(g, NB__OP(CONCAT), xs, n, &a);
}
