/*
 * unfold.c — im2col and its adjoint col2im: the sliding 2-D window that
 * convolution, pooling and locally connected layers are composed from.
 *
 * Attributes (both ops): i[0..7] = kh, kw, sh, sw, ph, pw, dh, dw, with zero
 * stride and dilation already turned into 1 by the builders. fold2d also
 * keeps the output image size: i[8] = H, i[9] = W.
 *
 * Layout: unfold2d(x)[n, c·kh·kw + i·kw + j, oh·OW + ow] =
 *         x[n, c, oh·sh - ph + i·dh, ow·sw - pw + j·dw]  (0 outside the image)
 * with OH = (H + 2ph - dh(kh-1) - 1) / sh + 1 and OW likewise. fold2d sums
 * every column entry back into the pixel it was read from.
 *
 * This file keeps the op: shape rules, attributes, the forward entry points
 * (which split the (n, c) image planes across threads), the gradient rules
 * and the builders. The kernels of one plane live in ops/kernels/window.h:
 * the general, bounds-checked path in window_plain.c (the reference) and
 * the tuned paths for tiling, "valid" and column-stride-1 windows with the
 * choice among them in window_fast.c. tests/test_fast_conv.c checks every
 * path against the definition.
 */
#include <stdio.h>

#include "kernels/window.h"

enum { KH, KW, SH, SW, PH, PW, DH, DW, OUT_H, OUT_W };

/* The window the kernels walk, read back from a node's attributes. */
static win win_of(const nb_node *n)
{
    const int64_t *a = n->attrs.i;
    return (win){a[KH], a[KW], a[SH], a[SW], a[PH], a[PW], a[DH], a[DW]};
}

win nb__window_of(const nb_node *n)
{
    return win_of(n);
}

static nb_window2d window_of(const nb_node *n)
{
    const int64_t *a = n->attrs.i;
    return (nb_window2d){.kh = (int)a[KH], .kw = (int)a[KW], .sh = (int)a[SH], .sw = (int)a[SW],
                         .ph = (int)a[PH], .pw = (int)a[PW], .dh = (int)a[DH], .dw = (int)a[DW]};
}

/* Packs a user's window into attributes, zero stride and dilation meaning 1. */
static nb_attrs pack(nb_window2d w)
{
    nb_attrs a = {0};
    a.i[KH] = w.kh, a.i[KW] = w.kw;
    a.i[SH] = w.sh ? w.sh : 1, a.i[SW] = w.sw ? w.sw : 1;
    a.i[PH] = w.ph, a.i[PW] = w.pw;
    a.i[DH] = w.dh ? w.dh : 1, a.i[DW] = w.dw ? w.dw : 1;
    return a;
}

/* ---------------------------------------------------------------- geometry */

/*
 * Checks the window against an image of h×w pixels and gives the number of
 * window positions oh×ow. Refuses a kernel < 1, a negative padding or stride
 * or dilation < 1 (NB_ERR_ARG), and a dilated window larger than the padded
 * image (NB_ERR_SHAPE); `who` describes the node for the message.
 */
static nb_status window_fit(nb_graph *g, const char *op, const win *k, int64_t h, int64_t w,
                            const char *who, int64_t *oh, int64_t *ow)
{
    if (k->kh < 1 || k->kw < 1 || k->ph < 0 || k->pw < 0 || k->sh < 1 || k->sw < 1 || k->dh < 1 ||
        k->dw < 1)
        return nb_graph_fail(g, NB_ERR_ARG,
                             "%s: bad window for %s: kernel %lldx%lld (must be >= 1), stride "
                             "%lldx%lld, padding %lldx%lld (must be >= 0), dilation %lldx%lld",
                             op, who, (long long)k->kh, (long long)k->kw, (long long)k->sh,
                             (long long)k->sw, (long long)k->ph, (long long)k->pw,
                             (long long)k->dh, (long long)k->dw);
    int64_t eh = k->dh * (k->kh - 1) + 1, ew = k->dw * (k->kw - 1) + 1;
    int64_t hp = h + 2 * k->ph, wp = w + 2 * k->pw;
    if (eh > hp || ew > wp)
        return nb_graph_fail(g, NB_ERR_SHAPE,
                             "%s: window %lldx%lld (dilation %lldx%lld) is larger than the padded "
                             "input %lldx%lld of %s",
                             op, (long long)k->kh, (long long)k->kw, (long long)k->dh,
                             (long long)k->dw, (long long)hp, (long long)wp, who);
    *oh = (hp - eh) / k->sh + 1;
    *ow = (wp - ew) / k->sw + 1;
    return NB_OK;
}

/* The plane geometry of node n: image h×w, l = OH·OW window positions. */
static plane_geom plane_geom_of(const nb_node *n, int64_t h, int64_t w, int64_t l)
{
    plane_geom p = {.k = win_of(n), .h = h, .w = w, .l = l};
    p.kk = p.k.kh * p.k.kw;
    p.ow = (w + 2 * p.k.pw - p.k.dw * (p.k.kw - 1) - 1) / p.k.sw + 1;
    p.oh = l / p.ow;
    return p;
}

/* ---------------------------------------------------------------- unfold2d */

/* x [N,C,H,W] → [N, C·kh·kw, OH·OW]. */
nb_status nb__unfold2d_shape(nb_graph *g, const nb_node *n, nb_shape *out)
{
    const nb_node *x = n->in[0];
    char d[300];
    nb__describe(x, d, sizeof d);
    if (x->shape.rank != 4)
        return nb_graph_fail(g, NB_ERR_SHAPE, "unfold2d: %s must have rank 4 [N,C,H,W], not %d", d,
                             x->shape.rank);
    win k = win_of(n);
    int64_t oh = 0, ow = 0;
    nb_status st = window_fit(g, "unfold2d", &k, x->shape.dim[2], x->shape.dim[3], d, &oh, &ow);
    if (st != NB_OK)
        return st;
    *out = NB_SHAPE(x->shape.dim[0], x->shape.dim[1] * k.kh * k.kw, oh * ow);
    return NB_OK;
}

/*
 * x [N,C,H,W] → out [N, C·kh·kw, OH·OW]. Each (n, c) image plane fills its
 * own contiguous block of kh·kw rows, so the planes split across threads.
 */
void nb__unfold2d_forward(const nb_node *n, const float *const *in, float *out)
{
    const nb_shape *xs = &n->in[0]->shape;
    const int64_t planes = xs->dim[0] * xs->dim[1];
    const plane_geom p = plane_geom_of(n, xs->dim[2], xs->dim[3], n->shape.dim[2]);
    if (nb__par(planes * p.kk * p.l)) {
#pragma omp parallel for
        for (int64_t q = 0; q < planes; q++)
            nb__unfold_plane(&p, in[0], out, q);
    } else
        for (int64_t q = 0; q < planes; q++)
            nb__unfold_plane(&p, in[0], out, q);
}

/* d unfold2d: the columns' gradient folds back onto the image. */
nb_status nb__unfold2d_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    const nb_shape *xs = &n->in[0]->shape;
    dx[0] = nb_fold2d(g, dy, xs->dim[2], xs->dim[3], window_of(n));
    return dx[0] ? NB_OK : g->status;
}

nb_node *nb_unfold2d(nb_graph *g, nb_node *x, nb_window2d w)
{
    if (!g)
        return NULL;
    nb_attrs a = pack(w);
    return nb__node_new(g, NB__OP(UNFOLD2D), &x, 1, &a);
}

/* ---------------------------------------------------------------- fold2d */

/* cols [N, C·kh·kw, OH·OW] → [N,C,H,W] for the H, W in the attributes. */
nb_status nb__fold2d_shape(nb_graph *g, const nb_node *n, nb_shape *out)
{
    const nb_node *x = n->in[0];
    const int64_t h = n->attrs.i[OUT_H], w = n->attrs.i[OUT_W];
    char d[300];
    nb__describe(x, d, sizeof d);
    if (x->shape.rank != 3)
        return nb_graph_fail(g, NB_ERR_SHAPE,
                             "fold2d: %s must have rank 3 [N, C*kh*kw, OH*OW], not %d", d,
                             x->shape.rank);
    if (h < 1 || w < 1)
        return nb_graph_fail(g, NB_ERR_ARG, "fold2d: output size %lldx%lld for %s must be >= 1",
                             (long long)h, (long long)w, d);
    win k = win_of(n);
    int64_t oh = 0, ow = 0;
    nb_status st = window_fit(g, "fold2d", &k, h, w, d, &oh, &ow);
    if (st != NB_OK)
        return st;
    if (x->shape.dim[1] % (k.kh * k.kw))
        return nb_graph_fail(g, NB_ERR_SHAPE,
                             "fold2d: %s has %lld rows, not a multiple of kh*kw = %lld", d,
                             (long long)x->shape.dim[1], (long long)(k.kh * k.kw));
    if (x->shape.dim[2] != oh * ow)
        return nb_graph_fail(g, NB_ERR_SHAPE,
                             "fold2d: %s has %lld columns, but a %lldx%lld window (stride "
                             "%lldx%lld, padding %lldx%lld, dilation %lldx%lld) over %lldx%lld "
                             "has %lldx%lld = %lld positions",
                             d, (long long)x->shape.dim[2], (long long)k.kh, (long long)k.kw,
                             (long long)k.sh, (long long)k.sw, (long long)k.ph, (long long)k.pw,
                             (long long)k.dh, (long long)k.dw, (long long)h, (long long)w,
                             (long long)oh, (long long)ow, (long long)(oh * ow));
    *out = NB_SHAPE(x->shape.dim[0], x->shape.dim[1] / (k.kh * k.kw), h, w);
    return NB_OK;
}

/*
 * cols [N, C·kh·kw, OH·OW] → out [N,C,H,W]. Planes are disjoint, so they
 * split across threads without races.
 */
void nb__fold2d_forward(const nb_node *n, const float *const *in, float *out)
{
    const int64_t planes = n->shape.dim[0] * n->shape.dim[1];
    const plane_geom p = plane_geom_of(n, n->shape.dim[2], n->shape.dim[3], n->in[0]->shape.dim[2]);
    if (nb__par(planes * p.kk * p.l)) {
#pragma omp parallel for
        for (int64_t q = 0; q < planes; q++)
            nb__fold_plane(&p, in[0], out, q);
    } else
        for (int64_t q = 0; q < planes; q++)
            nb__fold_plane(&p, in[0], out, q);
}

/* d fold2d: the image's gradient is read back out into columns. */
nb_status nb__fold2d_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    dx[0] = nb_unfold2d(g, dy, window_of(n));
    return dx[0] ? NB_OK : g->status;
}

nb_node *nb_fold2d(nb_graph *g, nb_node *cols, int64_t h, int64_t w, nb_window2d win)
{
    if (!g)
        return NULL;
    nb_attrs a = pack(win);
    a.i[OUT_H] = h, a.i[OUT_W] = w;
    return nb__node_new(g, NB__OP(FOLD2D), &cols, 1, &a);
}
