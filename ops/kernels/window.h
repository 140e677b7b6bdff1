/*
 * window.h — the kernels behind unfold2d and fold2d (ops/unfold.c), split
 * as matmul's are, the plain loops beside the tuned ones. Both work on one
 * (n, c) image plane at a time; ops/unfold.c splits the planes across
 * threads.
 *
 *   window_plain.c  the general, bounds-checked path, any window: the
 *                   reference, the plain loops the tuned paths must match
 *   window_fast.c   the tuned paths and the choice among them per window:
 *                   tiling windows (stride = kernel, no padding or
 *                   dilation: pooling) deal each image row out once and
 *                   fold back without sums; column stride and dilation 1
 *                   (convolutions) copy each window row as one contiguous
 *                   run, with the padding found as ranges up front ("valid"
 *                   windows without padding skip even those); anything else
 *                   takes the general path
 *
 * Both build on the row helpers below. tests/test_fast_conv.c checks every
 * path, the general one too, against the definition written out as loops.
 */
#ifndef NB_WINDOW_KERNELS_H
#define NB_WINDOW_KERNELS_H

#include <string.h>

#include "../ops_internal.h"

/* The window both kernels walk: kernel, stride, padding and dilation,
 * rows then columns (ops/unfold.c reads it from a node's attributes). */
typedef struct win {
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
} win;

/* The window of an unfold2d or fold2d node (ops/unfold.c). */
win nb__window_of(const nb_node *n);

/* The plane geometry both kernels share: image h×w, oh×ow positions. */
typedef struct plane_geom {
    win k;
    int64_t h, w, oh, ow, l, kk;
} plane_geom;

/*
 * The output columns ow in [*lo, *hi) whose pixel ow·s + off lies inside
 * 0..w-1; the others read padding. Empty ranges come back as lo == hi.
 */
static inline void valid_range(int64_t off, int64_t s, int64_t w, int64_t ow, int64_t *lo,
                               int64_t *hi)
{
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = w - 1 - off < 0 ? 0 : (w - 1 - off) / s + 1;
    if (b > ow)
        b = ow;
    if (a > b)
        a = b;
    *lo = a, *hi = b;
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
static inline void unfold_pad_rows(const plane_geom *p, int64_t i, float *blk, int64_t *rlo,
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

/* ---------------------------------------------------------------- window_plain.c */

/* src [H, W] → dst [kh·kw, OH·OW], any window. */
void nb__unfold_plane_any(const plane_geom *p, const float *restrict src, float *restrict dst);
/* src [kh·kw, OH·OW] → dst [H, W], any window. */
void nb__fold_plane_any(const plane_geom *p, const float *restrict src, float *restrict dst);

/* ---------------------------------------------------------------- window_fast.c */

/* Plane q of unfold2d: [H, W] at x + q·H·W → [kh·kw, L] at out + q·kh·kw·L,
 * by the path that fits the window. */
void nb__unfold_plane(const plane_geom *p, const float *x, float *out, int64_t q);
/* Plane q of fold2d: [kh·kw, L] at cols + q·kh·kw·L → [H, W] at out + q·H·W,
 * by the path that fits the window. */
void nb__fold_plane(const plane_geom *p, const float *cols, float *out, int64_t q);

#endif /* NB_WINDOW_KERNELS_H */
