/*
 * conv_dx.h — a convolution's input gradient in one kernel (ops/fusion_conv_dx.c
 * matches it, the planner runs it): the transposed convolution
 *
 *   dx[n, c, h, w] = Σ_{f, i, j} W[f, c, i, j] · dy[n, f, oh, ow]
 *                    over oh·sh - ph + i·dh = h, ow·sw - pw + j·dw = w
 *
 * that the plain graph computes as dcols = matmul(W [F, C·kh·kw], dy
 * [N, F, L], ta) [N, C·kh·kw, L] followed by fold2d (col2im). The kernel
 * never writes that column gradient: it computes it a tile of rows and
 * output rows at a time, in a buffer on the stack that stays in cache, and
 * folds each tile into dx at once.
 *
 * Two files, the plain loops beside the tuned ones:
 *   conv_dx_plain.c  the definition above as plain loops: the reference,
 *                    and the kernel on CPUs without AVX2 and FMA
 *   conv_dx.c        the work split and the tiled kernel, whose products
 *                    are 6×16 register blocks of AVX2 FMAs
 *   conv_dx_avx512.c the same products as 12×32 blocks of AVX-512 FMAs,
 *                    on CPUs that have it
 * and, for stride 1, the input gradient as a forward convolution of dy by
 * the flipped, transposed kernel on the forward's direct tiles
 * (nb__conv_dx_direct in conv_dx.c, conv_direct.c's panels): what runs
 * on CPUs with AVX-512 where it takes the shape; with AVX2, where dx's
 * channels fill its lanes, the same forward form with W packed once per
 * call (conv_dx_panels.c); and for few channels on narrow rows with AVX2,
 * the gather form of conv_dx_rows.c, or with the filters a multiple of 8,
 * the filters-in-the-lanes form of conv_dx_lanes.c.
 * Work is cut into items (one image, a block of channels) fixed by the
 * shape; each item writes its own planes of dx in an order fixed by the
 * shape, so the values are the same bits at any thread count.
 */
#ifndef NB_CONV_DX_H
#define NB_CONV_DX_H

#include "../ops_internal.h"
#include "conv_direct.h"

/* The geometry of one input gradient: dy [n, f, oh, ow], W [f, c, kh, kw],
 * dx [n, c, h, w], and the window's stride, padding and dilation. */
typedef struct nb__conv_dx {
    int64_t n, c, h, w, f;
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
    int64_t oh, ow;
} nb__conv_dx;
_Static_assert(sizeof(nb__conv_dx) <= NB__KERNEL_BYTES, "the geometry fits a step's bytes");

/* Rows (channel·kh·kw) of the column gradient computed at once, and the
 * floats of the buffer they are computed in: NB__CONV_DX_GROUP times one
 * output row must fit, or the shape is left to the plain graph. */
#define NB__CONV_DX_GROUP 48
#define NB__CONV_DX_TILE 16384

/* The output positions o in [0, outs) whose input coordinate
 * o·s - p + off lies in [0, size): [*lo, *hi), possibly empty. */
static inline void nb__conv_dx_range(int64_t outs, int64_t size, int64_t s, int64_t p,
                                     int64_t off, int64_t *lo, int64_t *hi)
{
    const int64_t shift = p - off; /* input = o·s - shift */
    *lo = shift > 0 ? (shift + s - 1) / s : 0;
    *hi = size - 1 + shift >= 0 ? (size - 1 + shift) / s + 1 : 0;
    if (*hi > outs)
        *hi = outs;
    if (*lo > *hi)
        *lo = *hi;
}

/* Channels per work item: enough rows (channels·kh·kw) for whole 6-row
 * panels where the kernel size allows, at most c. */
int64_t nb__conv_dx_block(const nb__conv_dx *d);

/* in[0] = W as [f, c·kh·kw], in[1] = dy [n, f, oh·ow] → out = dx [n, c, h, w],
 * by the forward's direct tiles where they take the shape
 * (nb__conv_dx_direct), else the best blocks this CPU runs. */
void nb__conv_dx_run(const nb__kernel *k, const float *const *in, float *out);

/* The same as a forward convolution of dy by the flipped, transposed
 * kernel (conv_direct.c's direct tiles): false, nothing written, when the
 * shape is not one they take (a stride other than 1, among others). */
bool nb__conv_dx_direct(const nb__conv_dx *d, const float *const *in, float *out);

/* The forward geometry of d's input gradient (a convolution of dy, its
 * filters as channels, by the flipped kernel, dx's channels as filters):
 * false when it has none (a stride other than 1, padding beyond the
 * window's reach, sizes beyond the geometry's). */
bool nb__conv_dx_geom(const nb__conv_dx *d, nb__conv_geom *g);

/* The same by the tiled column gradient with the blocks chosen: isa 2 AVX-512, 1 AVX2 and FMA, 0 the
 * plain loops; at most nb__conv_dx_isa(), the best this CPU runs. */
void nb__conv_dx_with(const nb__conv_dx *d, int isa, const float *const *in, float *out);
int nb__conv_dx_isa(void);

/* ---------------------------------------------------------------- conv_dx_avx512.c */

/* The tile t [rows, lc] = aᵀ·b, a [nf, ·] (row stride lda), b [nf, ·] (row
 * stride ldb), by AVX-512 blocks; only when nb__conv_dx_has512(). */
void nb__conv_dx_tile512(int64_t nf, const float *a, int64_t lda, const float *b, int64_t ldb,
                         float *t, int64_t rows, int64_t lc);
/* True when this CPU has AVX-512F. */
bool nb__conv_dx_has512(void);

/* ---------------------------------------------------------------- conv_dx_rows.c */

/* The gather form for stride 1 on rows of at most 16 columns: each row of
 * dx from the rows of dy its taps reach (no products on dy's padding
 * rows), six channels by two vectors of positions in registers. */
bool nb__conv_dx_rows_takes(const nb__conv_dx *d);
/* dx by it, the AVX2 blocks when `fast` and the CPU has them, else the
 * plain loops computing the same chains: false, nothing written, when
 * nb__conv_dx_rows_takes(d) is false. */
bool nb__conv_dx_rows(const nb__conv_dx *d, bool fast, const float *const *in, float *out);
/* Image n of dx by the same chains as plain loops (fmaf); only when
 * nb__conv_dx_rows_takes(d). */
void nb__conv_dx_rows_plain(const nb__conv_dx *d, const float *wt, const float *dy, float *dx,
                            int64_t n);

/* ---------------------------------------------------------------- conv_dx_lanes.c */

/* The filters-in-the-lanes form for stride 1: each element of dx a sum
 * over 8 lanes of filters, six channels by two positions of a row in
 * registers, over the rows of dy its taps reach. */
bool nb__conv_dx_lanes_takes(const nb__conv_dx *d);
/* dx by it, the AVX2 blocks when `fast` and the CPU has them, else the
 * plain loops computing the same chains: false, nothing written, when
 * nb__conv_dx_lanes_takes(d) is false. */
bool nb__conv_dx_lanes(const nb__conv_dx *d, bool fast, const float *const *in, float *out);
/* Image n of dx by the same chains as plain loops (fmaf) from W [f, c·kh·kw]
 * and dy as they lie; only when nb__conv_dx_lanes_takes(d). */
void nb__conv_dx_lanes_plain(const nb__conv_dx *d, const float *w, const float *dy, float *dx,
                             int64_t n);

/* ---------------------------------------------------------------- conv_dx_panels.c */

/* The forward form with dx's channels in the lanes of conv_lanes.h's
 * blocks and W packed once per call: true for stride 1 where the forward
 * geometry exists and its cut fits (at most 256 taps, rows of at most
 * 1024). nb__conv_dx_run takes it with AVX2 where those blocks pay
 * (nb__conv_lanes_pays of the forward geometry). */
bool nb__conv_dx_panels_takes(const nb__conv_dx *d);
/* dx by it, the AVX2 blocks when `fast` and the CPU has them, else the
 * plain block computing the same chains (the same bits as
 * nb__conv_dx_direct where that runs the lanes blocks): false, nothing
 * written, when nb__conv_dx_panels_takes(d) is false or the packed
 * weights cannot be allocated. */
bool nb__conv_dx_panels(const nb__conv_dx *d, bool fast, const float *const *in, float *out);

/* ---------------------------------------------------------------- conv_dx_plain.c */

/* Planes [c0, c1) of image n of dx, by the definition. */
void nb__conv_dx_plain(const nb__conv_dx *d, const float *wt, const float *dy, float *dx,
                       int64_t n, int64_t c0, int64_t c1);

#endif /* NB_CONV_DX_H */
