/*
 * pool.h — direct pooling kernels (pool_direct.c): the groups of
 * ops/fusion_pool.c, which read the image through the window arithmetic
 * instead of unfold2d's columns. Each computes what the plain steps it
 * replaces compute: the window's entries in the order unfold2d lays them
 * out (kernel row, then column), a position the window reads outside the
 * image as 0 (unfold2d's zero padding); max pooling's -∞ padding is the
 * nb_pad step before unfold2d, which stays a step of its own.
 *
 * Images are [planes, h, w] (planes = N·C), window values [planes, oh·ow].
 * The planes split across threads, each computed the same way at any
 * thread count, so the values are the same bits at 1 and 2 threads.
 *
 *   pool_direct.c  the entry points, and the plain loops for any window,
 *                  one window position at a time: the reference
 *   pool_fast.c    tiling windows (stride = size, no padding, dilation 1),
 *                  a row of positions per kernel offset, the same bits,
 *                  and the max gradient a row of windows at a time; the
 *                  max gradient of any other plane of at most 4096 column
 *                  entries, as the graph's steps on that plane in L1
 *   pool_avx2.c    2×2 windows of stride 2 with AVX2, eight at a time:
 *                  the maxima, and the max gradient with a relu's mask in
 *                  the same pass; pool_direct.c hands them blocks of
 *                  planes of even height as one tall image (no window
 *                  straddles two planes), so small planes (LeNet-5's
 *                  10×10) pay nothing per plane
 *
 * A relu before max pooling puts its gradient (mul by ge(z, s)) right
 * after the max gradient: fusion_pool.c gives both one group, and the
 * kernel multiplies each plane by the mask while it is in cache.
 */
#ifndef NB_POOL_KERNELS_H
#define NB_POOL_KERNELS_H

#include "window.h"

typedef struct nb__pool_kernel {
    win k;                  /* the window of the unfold2d or fold2d */
    int64_t planes, h, w;   /* the image */
    int64_t oh, ow;         /* window positions */
    bool scaled;            /* sum: times the scalar in[1][0] */
    uint8_t mask;           /* max gradient: times a relu's mask (NB__POOL_MASK_*) */
    bool mask_left;         /* the mask is the product's left operand */
    bool relu_in;           /* 2×2 max and max gradient: the image is max(z, s), z in[0]
                               and s in[1][0] (forward) or in[4][0] (gradient); the
                               gradient's mask is then ge of that same z */
    int8_t bias_at;         /* max gradient: > 0, the slot of in[] whose buffer takes
                               the sums of dx over (N, H, W), a convolution's bias
                               gradient (written, not read; NB__POOL_BIAS_PLANES) */
    int64_t chans;          /* with bias_at: C of the image [N, C, h, w] */
} nb__pool_kernel;

/* Planes, at most, of a max gradient that sums its planes (bias_at): their
 * sums sit on the caller's stack until they are combined. */
#define NB__POOL_BIAS_PLANES 8192

/* The mask a max gradient is multiplied by, pixel by pixel, when a relu's
 * gradient follows it (fusion_pool.c): none, [z ≥ s] or [z > s], z in[3]
 * (the image's shape) and s the number in[4][0]. */
enum { NB__POOL_MASK_NONE, NB__POOL_MASK_GE, NB__POOL_MASK_GT };
_Static_assert(sizeof(nb__pool_kernel) <= NB__KERNEL_BYTES, "a pool kernel fits a step's bytes");

/* The pool kernel of window k over images [planes, h, w]. */
nb__pool_kernel nb__pool_geometry(win k, const nb_shape *image);

/* in[0] x [planes, h, w] → out [planes, oh·ow], the maximum of each window:
 * reduce_max(reshape(unfold2d(x)), axis 2). */
void nb__pool_max(const nb__kernel *k, const float *const *in, float *out);
/* in[0] x → out [planes, oh·ow], the sum of each window, times in[1][0]
 * when scaled: sum(reshape(unfold2d(x)), axis 2) (· s). */
void nb__pool_sum(const nb__kernel *k, const float *const *in, float *out);

/* in[0] x [planes, h, w], in[1] y and in[2] dy [planes, oh·ow] → out dx
 * [planes, h, w]: the gradient of max pooling as reduce_max's vjp and
 * unfold2d's compose it, fold2d(reshape(mask · dy / Σ mask)) with mask =
 * (entry == y) over each window (0 for an entry outside the image): ties
 * share the window's gradient equally. With a mask (k->mask), each pixel's
 * gradient times [z ≥ s] or [z > s] as the mul and ge (gt) steps of a
 * relu's gradient compute it. With bias_at, also in[bias_at][c] = the sum
 * of dx over the images and pixels of channel c with the sum step's bits:
 * each plane summed by reduce.h's row_sum while it is in cache, the
 * planes' sums combined as reduce_ends combines them
 * (nb__reduce_ends_combine). */
void nb__pool_max_grad(const nb__kernel *k, const float *const *in, float *out);
/* in[0] d [planes, oh·ow] → out [planes, h, w]: every window's value added
 * to each pixel of the window, fold2d(reshape(expand(d))), the gradient of
 * a sum over windows. */
void nb__pool_sum_grad(const nb__kernel *k, const float *const *in, float *out);

/* ---------------------------------------------------------------- pool_fast.c */

/* The window tiles the image: stride = size, no padding, dilation 1 (and
 * not wider than the fast path's stack blocks). */
bool nb__pool_tiles(const win *k);
/* One plane, tiling windows: x [h, w] → out [oh, ow], max or sum (· scale
 * when p->scaled). */
void nb__pool_plane_tiles(const nb__pool_kernel *p, const float *x, float *out, bool is_max,
                          float scale);
/* One plane, any window whose columns fit a stack scratch: the max
 * gradient, x [h, w], y, dy [oh, ow] → dx [h, w], as the graph's steps on
 * that plane (the same bits). False, nothing written, when they do not fit. */
bool nb__pool_max_grad_plane_cols(const nb__pool_kernel *p, const float *x, const float *y,
                                  const float *dy, float *dx);
/* One plane, tiling windows: the max gradient as the graph's steps give it
 * (nb__pool_max_grad_plane_cols' bits), a row of windows at a time. */
void nb__pool_max_grad_plane_tiles(const nb__pool_kernel *p, const float *x, const float *y,
                                   const float *dy, float *dx);
/* Zeroes the pixels of plane dx no tiling window covers (right of the last
 * whole window, below it). */
void nb__pool_zero_uncovered(const nb__pool_kernel *p, float *dx);
/* The max gradient of one plane of 2×2 windows of stride 2 (no padding,
 * dilation 1) by AVX2, times the relu's mask of z and s when k->mask: the
 * values of nb__pool_max_grad_plane_tiles then nb__pool_mask, the pixels no
 * window covers left alone. With p->relu_in, x is z and the image
 * max(z, s). False, nothing written, for any other window
 * or without AVX2 (pool_avx2.c). */
bool nb__pool_max_grad_2x2_avx2(const nb__pool_kernel *p, const float *x, const float *y,
                                const float *dy, const float *z, float s, float *dx);
/* The maxima of one plane of 2×2 windows of stride 2 by AVX2: x [h, w] →
 * out [oh, ow], nb__pool_plane_tiles' bits; with p->relu_in, of the
 * image max(x, s) (binary.h's max, pixel by pixel) without it being
 * written. False, nothing written, for any other window or without AVX2
 * (pool_avx2.c). */
bool nb__pool_max_2x2_avx2(const nb__pool_kernel *p, const float *x, float s, float *out);
/* sums[e] = row_sum (reduce.h) of plane e of n consecutive planes of hw
 * floats from x, the same bits, by AVX2; false, nothing written, for
 * hw < 16 (row_sum's short rows) or without AVX2 (pool_avx2.c). */
bool nb__pool_plane_sums_avx2(const float *x, int64_t hw, int64_t n, float *sums);
/* Whether the 2×2 AVX2 kernels take window k on this CPU: the fusion
 * patterns that read z for a relu's max(z, s) match only then. */
bool nb__pool_2x2_avx2(const win *k);
/* dx[0, n) times a relu's mask, [z ≥ s] (ge) or [z > s], the mask the
 * product's left operand when left (pool.h's NB__POOL_MASK_*). */
void nb__pool_mask(float *dx, const float *z, float s, int64_t n, bool ge, bool left);
/* One plane, tiling windows: the sum's gradient, d [oh, ow] → dx [h, w]. */
void nb__pool_sum_grad_plane_tiles(const nb__pool_kernel *p, const float *d, float *dx);

#endif /* NB_POOL_KERNELS_H */
