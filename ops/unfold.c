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
 * Kernels work one (n, c) image plane at a time (planes split across
 * threads) and pick a path by window: tiling windows (stride = kernel, no
 * padding or dilation: pooling) deal each image row out once and fold back
 * without sums; column stride and dilation 1 (convolutions) copy each
 * window row as one contiguous run, with the padding found as ranges up
 * front ("valid" windows without padding skip even those); anything else
 * (column stride or dilation > 1) takes the general, bounds-checked path.
 * tests/test_fast_conv.c checks every path against the definition.
 */
#include <stdio.h>
#include <string.h>

#include "ops_internal.h"

enum { KH, KW, SH, SW, PH, PW, DH, DW, OUT_H, OUT_W };

/* The geometry both kernels walk, read back from a node's attributes. */
typedef struct win {
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
} win;

static win win_of(const nb_node *n)
{
    const int64_t *a = n->attrs.i;
    return (win){a[KH], a[KW], a[SH], a[SW], a[PH], a[PW], a[DH], a[DW]};
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

/*
 * The output columns ow in [*lo, *hi) whose pixel ow·s + off lies inside
 * 0..w-1; the others read padding. Empty ranges come back as lo == hi.
 */
static void valid_range(int64_t off, int64_t s, int64_t w, int64_t ow, int64_t *lo, int64_t *hi)
{
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = w - 1 - off < 0 ? 0 : (w - 1 - off) / s + 1;
    if (b > ow)
        b = ow;
    if (a > b)
        a = b;
    *lo = a, *hi = b;
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

/* The plane geometry both kernels share: image h×w, oh×ow positions. */
typedef struct plane_geom {
    win k;
    int64_t h, w, oh, ow, l, kk;
} plane_geom;

static plane_geom plane_geom_of(const nb_node *n, int64_t h, int64_t w, int64_t l)
{
    plane_geom p = {.k = win_of(n), .h = h, .w = w, .l = l};
    p.kk = p.k.kh * p.k.kw;
    p.ow = (w + 2 * p.k.pw - p.k.dw * (p.k.kw - 1) - 1) / p.k.sw + 1;
    p.oh = l / p.ow;
    return p;
}

/* True when the windows tile the image: stride = kernel, no dilation and no
 * padding (pooling's default). Each pixel then lies in at most one window. */
static bool tiles(const win *k)
{
    return k->sh == k->kh && k->sw == k->kw && k->dh == 1 && k->dw == 1 && k->ph == 0 &&
           k->pw == 0;
}

/*
 * d[0..n8+t) = s[0..n8+t), n8 a multiple of 8 and t < 8: a window row of
 * stride-1 positions, copied in fixed-size blocks the compiler inlines (a
 * plain copy loop becomes a memmove call costing more than the short copy
 * itself). n8 and t are the same for every row, so the branch predicts.
 */
static inline void copy_run(float *restrict d, const float *restrict s, int64_t n8, int64_t t)
{
    for (int64_t c = 0; c < n8; c += 8)
        memcpy(d + c, s + c, 8 * sizeof *d);
    d += n8, s += n8;
    if (t & 4) {
        memcpy(d, s, 4 * sizeof *d);
        d += 4, s += 4;
    }
    if (t & 2) {
        memcpy(d, s, 2 * sizeof *d);
        d += 2, s += 2;
    }
    if (t & 1)
        d[0] = s[0];
}

/* One window row of unfold2d whose columns c·sw + off fall partly in the
 * padding: dst[c] = row[off + c·sw] inside [lo, hi), zeros outside. */
static inline void unfold_row(const float *restrict row, float *restrict dst, int64_t off,
                              int64_t sw, int64_t w, int64_t ow)
{
    int64_t lo, hi;
    valid_range(off, sw, w, ow, &lo, &hi);
    for (int64_t c = 0; c < lo; c++)
        dst[c] = 0;
    for (int64_t c = lo; c < hi; c++)
        dst[c] = row[off + c * sw];
    for (int64_t c = hi; c < ow; c++)
        dst[c] = 0;
}

/* The window rows r whose kernel row i reads an image row: [*rlo, *rhi);
 * the others read the top or bottom padding, and are zeroed here in each
 * block (i, j) of blk. */
static void unfold_pad_rows(const plane_geom *p, int64_t i, float *blk, int64_t *rlo,
                            int64_t *rhi)
{
    valid_range(i * p->k.dh - p->k.ph, p->k.sh, p->h, p->oh, rlo, rhi);
    for (int64_t j = 0; j < p->k.kw; j++) {
        float *d = blk + j * p->l;
        if (*rlo > 0)
            memset(d, 0, (size_t)(*rlo * p->ow) * sizeof *d);
        if (*rhi < p->oh)
            memset(d + *rhi * p->ow, 0, (size_t)((p->oh - *rhi) * p->ow) * sizeof *d);
    }
}

/* The kernel columns j whose every position reads inside the image when
 * columns step by 1: [*jlo, *jhi); the others touch the side padding. */
static void inner_columns(const plane_geom *p, int64_t *jlo, int64_t *jhi)
{
    const int64_t kw = p->k.kw, pw = p->k.pw;
    *jlo = pw < kw ? pw : kw;
    *jhi = p->w - p->ow + pw + 1;
    if (*jhi > kw)
        *jhi = kw;
    if (*jhi < *jlo)
        *jhi = *jlo;
}

/*
 * src [H, W] → dst [kh·kw, OH·OW] for column stride and dilation 1 (any row
 * stride, dilation and padding): each image row a window row reads is
 * copied once per kernel column as one contiguous run; only the kernel
 * columns that reach the side padding take the bounds-checked path.
 */
static void unfold_plane_s1(const plane_geom *p, const float *restrict src, float *restrict dst)
{
    const int64_t kw = p->k.kw, pw = p->k.pw, w = p->w, ow = p->ow, l = p->l;
    const int64_t n8 = ow & ~(int64_t)7, t = ow & 7;
    int64_t jlo, jhi;
    inner_columns(p, &jlo, &jhi);
    for (int64_t i = 0; i < p->k.kh; i++) {
        float *blk = dst + i * kw * l;
        int64_t top = i * p->k.dh - p->k.ph, rlo, rhi;
        unfold_pad_rows(p, i, blk, &rlo, &rhi);
        for (int64_t r = rlo; r < rhi; r++) {
            const float *restrict row = src + (r * p->k.sh + top) * w;
            float *restrict d = blk + r * ow;
            for (int64_t j = 0; j < jlo; j++)
                unfold_row(row, d + j * l, j - pw, 1, w, ow);
            for (int64_t j = jlo; j < jhi; j++)
                copy_run(d + j * l, row + j - pw, n8, t);
            for (int64_t j = jhi; j < kw; j++)
                unfold_row(row, d + j * l, j - pw, 1, w, ow);
        }
    }
}

/* src [H, W] → dst [kh·kw, OH·OW] for stride and dilation 1 without
 * padding (a "valid" convolution): every window row is a run of OW pixels,
 * with no zeros anywhere, so the loops carry nothing but the copies. */
static void unfold_plane_valid(const plane_geom *p, const float *restrict src,
                               float *restrict dst)
{
    const int64_t kh = p->k.kh, kw = p->k.kw, w = p->w, oh = p->oh, ow = p->ow, l = p->l;
    const int64_t n8 = ow & ~(int64_t)7, t = ow & 7;
    for (int64_t i = 0; i < kh; i++)
        for (int64_t r = 0; r < oh; r++) {
            const float *restrict row = src + (r + i) * w;
            float *restrict d = dst + i * kw * l + r * ow;
            for (int64_t j = 0; j < kw; j++)
                copy_run(d + j * l, row + j, n8, t);
        }
}

/* src [H, W] → dst [kh·kw, OH·OW], any window: every kernel offset (i, j)
 * fills its own row block of positions; rows in the padding are zeroed up
 * front, so the loop over image rows carries no row bounds check. */
static void unfold_plane_any(const plane_geom *p, const float *restrict src, float *restrict dst)
{
    const win k = p->k;
    for (int64_t i = 0; i < k.kh; i++) {
        float *blk = dst + i * k.kw * p->l;
        int64_t top = i * k.dh - k.ph, rlo, rhi;
        unfold_pad_rows(p, i, blk, &rlo, &rhi);
        for (int64_t j = 0; j < k.kw; j++)
            for (int64_t r = rlo; r < rhi; r++)
                unfold_row(src + (r * k.sh + top) * p->w, blk + j * p->l + r * p->ow,
                           j * k.dw - k.pw, k.sw, p->w, p->ow);
    }
}

/* src [H, W] → dst [kh·kw, OH·OW] for tiling windows: each image row
 * ih = r·kh + i is read once and dealt out to its kw kernel columns. */
static void unfold_plane_tiles(const plane_geom *p, const float *restrict src, float *restrict dst)
{
    const int64_t kh = p->k.kh, kw = p->k.kw, ow = p->ow;
    for (int64_t r = 0; r < p->oh; r++)
        for (int64_t i = 0; i < kh; i++) {
            const float *restrict row = src + (r * kh + i) * p->w;
            float *restrict d = dst + i * kw * p->l + r * ow;
            if (kw == 2) {
                float *restrict d1 = d + p->l;
                for (int64_t c = 0; c < ow; c++)
                    d[c] = row[2 * c], d1[c] = row[2 * c + 1];
            } else
                for (int64_t j = 0; j < kw; j++)
                    for (int64_t c = 0; c < ow; c++)
                        d[j * p->l + c] = row[c * kw + j];
        }
}

/* Plane q of unfold2d: [H, W] at x + q·H·W → [kh·kw, L] at out + q·kh·kw·L. */
static inline void unfold_plane(const plane_geom *p, const float *x, float *out, int64_t q)
{
    const float *src = x + q * p->h * p->w;
    float *dst = out + q * p->kk * p->l;
    const win *k = &p->k;
    if (tiles(k))
        unfold_plane_tiles(p, src, dst);
    else if (k->sh == 1 && k->sw == 1 && k->dh == 1 && k->dw == 1 && k->ph == 0 && k->pw == 0)
        unfold_plane_valid(p, src, dst);
    else if (k->sw == 1 && k->dw == 1)
        unfold_plane_s1(p, src, dst);
    else
        unfold_plane_any(p, src, dst);
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
            unfold_plane(&p, in[0], out, q);
    } else
        for (int64_t q = 0; q < planes; q++)
            unfold_plane(&p, in[0], out, q);
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

/* One window row of fold2d: row[off + c·sw] += src[c] for the positions c
 * whose column lies inside the image. */
static inline void fold_row(const float *restrict src, float *restrict row, int64_t off,
                            int64_t sw, int64_t w, int64_t ow)
{
    int64_t lo, hi;
    valid_range(off, sw, w, ow, &lo, &hi);
    for (int64_t c = lo; c < hi; c++)
        row[off + c * sw] += src[c];
}

/*
 * src [kh·kw, OH·OW] → dst [H, W] for column stride and dilation 1: dst is
 * zeroed, then each kernel offset's window rows are added back onto the
 * image rows they were read from, as contiguous runs of OW for the kernel
 * columns that never reach the side padding.
 */
static void fold_plane_s1(const plane_geom *p, const float *restrict src, float *restrict dst)
{
    const int64_t kw = p->k.kw, pw = p->k.pw, w = p->w, ow = p->ow, l = p->l;
    int64_t jlo, jhi;
    inner_columns(p, &jlo, &jhi);
    memset(dst, 0, (size_t)(p->h * w) * sizeof *dst);
    for (int64_t i = 0; i < p->k.kh; i++) {
        int64_t top = i * p->k.dh - p->k.ph, rlo, rhi;
        valid_range(top, p->k.sh, p->h, p->oh, &rlo, &rhi);
        for (int64_t j = 0; j < kw; j++) {
            const float *restrict s = src + (i * kw + j) * l;
            const int64_t off = j - pw;
            if (j < jlo || j >= jhi) {
                for (int64_t r = rlo; r < rhi; r++)
                    fold_row(s + r * ow, dst + (r * p->k.sh + top) * w, off, 1, w, ow);
                continue;
            }
            const int64_t step = p->k.sh * w;
            for (int64_t r = 0; r < rhi - rlo; r++) {
                float *restrict row = dst + (rlo * p->k.sh + top) * w + off + r * step;
                const float *restrict sr = s + (rlo + r) * ow;
                for (int64_t c = 0; c < ow; c++)
                    row[c] += sr[c];
            }
        }
    }
}

/* src [kh·kw, OH·OW] → dst [H, W], any window: dst is zeroed, then every
 * column entry inside the image is added to its pixel. */
static void fold_plane_any(const plane_geom *p, const float *restrict src, float *restrict dst)
{
    const win k = p->k;
    memset(dst, 0, (size_t)(p->h * p->w) * sizeof *dst);
    for (int64_t i = 0; i < k.kh; i++) {
        int64_t top = i * k.dh - k.ph, rlo, rhi;
        valid_range(top, k.sh, p->h, p->oh, &rlo, &rhi);
        for (int64_t j = 0; j < k.kw; j++)
            for (int64_t r = rlo; r < rhi; r++)
                fold_row(src + (i * k.kw + j) * p->l + r * p->ow, dst + (r * k.sh + top) * p->w,
                         j * k.dw - k.pw, k.sw, p->w, p->ow);
    }
}

/* src [kh·kw, OH·OW] → dst [H, W] for tiling windows: every covered pixel
 * takes its one column entry (a scatter, no sums); pixels past the last
 * whole window (H or W not a multiple of the kernel) are zero. */
static void fold_plane_tiles(const plane_geom *p, const float *restrict src, float *restrict dst)
{
    const int64_t kh = p->k.kh, kw = p->k.kw, ow = p->ow, w = p->w;
    for (int64_t r = 0; r < p->oh; r++)
        for (int64_t i = 0; i < kh; i++) {
            float *restrict row = dst + (r * kh + i) * w;
            const float *restrict s = src + i * kw * p->l + r * ow;
            if (kw == 2) {
                const float *restrict s1 = s + p->l;
                for (int64_t c = 0; c < ow; c++)
                    row[2 * c] = s[c], row[2 * c + 1] = s1[c];
            } else
                for (int64_t j = 0; j < kw; j++)
                    for (int64_t c = 0; c < ow; c++)
                        row[c * kw + j] = s[j * p->l + c];
            for (int64_t c = ow * kw; c < w; c++)
                row[c] = 0;
        }
    int64_t covered = p->oh * kh * w;
    memset(dst + covered, 0, (size_t)(p->h * w - covered) * sizeof *dst);
}

/* Plane q of fold2d: [kh·kw, L] at cols + q·kh·kw·L → [H, W] at out + q·H·W. */
static inline void fold_plane(const plane_geom *p, const float *cols, float *out, int64_t q)
{
    const float *src = cols + q * p->kk * p->l;
    float *dst = out + q * p->h * p->w;
    if (tiles(&p->k))
        fold_plane_tiles(p, src, dst);
    else if (p->k.sw == 1 && p->k.dw == 1)
        fold_plane_s1(p, src, dst);
    else
        fold_plane_any(p, src, dst);
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
            fold_plane(&p, in[0], out, q);
    } else
        for (int64_t q = 0; q < planes; q++)
            fold_plane(&p, in[0], out, q);
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
