/*
 * window_fast.c — the tuned unfold2d and fold2d paths of one image plane
 * (window.h) and the choice among them by window: tiling windows, "valid"
 * windows, column stride and dilation 1; anything else takes the general
 * path of window_plain.c.
 */
#include "window.h"

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
void nb__unfold_plane(const plane_geom *p, const float *x, float *out, int64_t q)
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
        nb__unfold_plane_any(p, src, dst);
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
void nb__fold_plane(const plane_geom *p, const float *cols, float *out, int64_t q)
{
    const float *src = cols + q * p->kk * p->l;
    float *dst = out + q * p->h * p->w;
    if (tiles(&p->k))
        fold_plane_tiles(p, src, dst);
    else if (p->k.sw == 1 && p->k.dw == 1)
        fold_plane_s1(p, src, dst);
    else
        nb__fold_plane_any(p, src, dst);
}
