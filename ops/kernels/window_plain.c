/*
 * window_plain.c — unfold2d and fold2d of one image plane for any window
 * (window.h): the general, bounds-checked path, and the reference: the
 * plain loops whose values the tuned paths of window_fast.c must give.
 */
#include "window.h"

/* src [H, W] → dst [kh·kw, OH·OW], any window: every kernel offset (i, j)
 * fills its own row block of positions; rows in the padding are zeroed up
 * front, so the loop over image rows carries no row bounds check. */
void nb__unfold_plane_any(const plane_geom *p, const float *restrict src, float *restrict dst)
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

/* src [kh·kw, OH·OW] → dst [H, W], any window: dst is zeroed, then every
 * column entry inside the image is added to its pixel. */
void nb__fold_plane_any(const plane_geom *p, const float *restrict src, float *restrict dst)
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
