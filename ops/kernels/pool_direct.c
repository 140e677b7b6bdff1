/*
 * pool_direct.c — direct pooling kernels (pool.h): the entry points, which
 * split the image planes across threads and take pool_fast.c's path for
 * tiling windows, and the plain loops over each window of a plane for any
 * window, the reference. Neither writes the columns unfold2d would.
 */
#include <string.h>

#include "par.h"
#include "pool.h"
#include "reduce.h"

nb__pool_kernel nb__pool_geometry(win k, const nb_shape *image)
{
    nb__pool_kernel p = {.k = k, .h = image->dim[2], .w = image->dim[3]};
    p.planes = image->dim[0] * image->dim[1];
    p.oh = (p.h + 2 * k.ph - k.dh * (k.kh - 1) - 1) / k.sh + 1;
    p.ow = (p.w + 2 * k.pw - k.dw * (k.kw - 1) - 1) / k.sw + 1;
    return p;
}

/* The pixel that window entry (i, j) of position (r, c) reads, as an index
 * into an [h, w] plane, or -1 outside the image (unfold2d's padding). */
static inline int64_t pixel(const nb__pool_kernel *p, int64_t r, int64_t c, int64_t i, int64_t j)
{
    int64_t y = r * p->k.sh - p->k.ph + i * p->k.dh, z = c * p->k.sw - p->k.pw + j * p->k.dw;
    return y >= 0 && y < p->h && z >= 0 && z < p->w ? y * p->w + z : -1;
}

/* The window entry (i, j) of position (r, c) in plane x: the pixel, or 0
 * outside the image. */
static inline float entry(const nb__pool_kernel *p, const float *x, int64_t r, int64_t c,
                          int64_t i, int64_t j)
{
    int64_t at = pixel(p, r, c, i, j);
    return at >= 0 ? x[at] : 0.0f;
}

/* Plane q: out[l] = max (or sum) of window l, the entries in unfold2d's
 * order; a max keeps the first of equal values, as reduce_max does. */
static void pool_plane(const nb__pool_kernel *p, const float *x, float *out, int64_t q,
                       bool is_max, float scale)
{
    x += q * p->h * p->w;
    out += q * p->oh * p->ow;
    /* a relu's max(x, s) read through (relu_in) only where this runs: the
     * pattern matches only windows and CPUs nb__pool_2x2_avx2 takes */
    if (is_max && nb__pool_max_2x2_avx2(p, x, scale, out))
        return;
    if (nb__pool_tiles(&p->k)) {
        nb__pool_plane_tiles(p, x, out, is_max, scale);
        return;
    }
    for (int64_t r = 0; r < p->oh; r++)
        for (int64_t c = 0; c < p->ow; c++) {
            float v = entry(p, x, r, c, 0, 0);
            for (int64_t i = 0; i < p->k.kh; i++)
                for (int64_t j = i ? 0 : 1; j < p->k.kw; j++) {
                    float e = entry(p, x, r, c, i, j);
                    v = is_max ? (e > v ? e : v) : v + e;
                }
            out[r * p->ow + c] = is_max || !p->scaled ? v : v * scale;
        }
}

/* Plane q of the max pooling gradient: per window, the count of entries
 * equal to its maximum y (padding included, as eq sees unfold2d's zeros),
 * the share dy / count, and mask · share added to each pixel of the window
 * (entries outside the image are dropped, as fold2d drops them). Windows
 * that do not overlap give each pixel one term: fold2d's own bits. */
static void max_grad_window_plane(const nb__pool_kernel *p, const float *const *in, float *dx,
                                  int64_t q)
{
    const int64_t l = p->oh * p->ow;
    const float *x = in[0] + q * p->h * p->w, *y = in[1] + q * l, *dy = in[2] + q * l;
    if (nb__pool_tiles(&p->k)) {
        nb__pool_max_grad_plane_tiles(p, x, y, dy, dx);
        return;
    }
    if (nb__pool_max_grad_plane_cols(p, x, y, dy, dx))
        return;
    memset(dx, 0, (size_t)(p->h * p->w) * sizeof *dx);
    for (int64_t r = 0; r < p->oh; r++)
        for (int64_t c = 0; c < p->ow; c++) {
            const float m = y[r * p->ow + c];
            float count = 0.0f;
            for (int64_t i = 0; i < p->k.kh; i++)
                for (int64_t j = 0; j < p->k.kw; j++)
                    count += entry(p, x, r, c, i, j) == m ? 1.0f : 0.0f;
            const float share = dy[r * p->ow + c] / count;
            for (int64_t i = 0; i < p->k.kh; i++)
                for (int64_t j = 0; j < p->k.kw; j++) {
                    int64_t at = pixel(p, r, c, i, j);
                    if (at >= 0)
                        dx[at] += (x[at] == m ? 1.0f : 0.0f) * share;
                }
        }
}

/* Plane q of the max pooling gradient (above), then times the relu's mask
 * while the plane is in L1: mul(gradient, ge(z, s)) (or gt) as one pass;
 * 2×2 windows of stride 2 by AVX2, the mask in the same pass. */
static void max_grad_plane(const nb__pool_kernel *p, const float *const *in, float *dx,
                           int64_t q)
{
    const int64_t hw = p->h * p->w, l = p->oh * p->ow;
    const float *z = p->mask ? in[3] + q * hw : NULL, s = p->mask ? in[4][0] : 0.0f;
    dx += q * hw;
    if (nb__pool_max_grad_2x2_avx2(p, in[0] + q * hw, in[1] + q * l, in[2] + q * l, z, s, dx)) {
        nb__pool_zero_uncovered(p, dx);
        return;
    }
    max_grad_window_plane(p, in, dx, q);
    if (p->mask)
        nb__pool_mask(dx, z, s, hw, p->mask == NB__POOL_MASK_GE, p->mask_left);
}

/* Plane q of the sum's gradient: each window's d added to its pixels. */
static void sum_grad_plane(const nb__pool_kernel *p, const float *const *in, float *dx, int64_t q)
{
    const float *d = in[0] + q * p->oh * p->ow;
    dx += q * p->h * p->w;
    if (nb__pool_tiles(&p->k)) {
        nb__pool_sum_grad_plane_tiles(p, d, dx);
        return;
    }
    memset(dx, 0, (size_t)(p->h * p->w) * sizeof *dx);
    for (int64_t r = 0; r < p->oh; r++)
        for (int64_t c = 0; c < p->ow; c++)
            for (int64_t i = 0; i < p->k.kh; i++)
                for (int64_t j = 0; j < p->k.kw; j++) {
                    int64_t at = pixel(p, r, c, i, j);
                    if (at >= 0)
                        dx[at] += d[r * p->ow + c];
                }
}

typedef void (*plane_fn)(const nb__pool_kernel *p, const float *const *in, float *out,
                         int64_t q);

/* ---------------------------------------------------------------- stacked planes */

/* Pixels of a block of planes the 2×2 AVX2 kernels take as one image:
 * 16 KiB of each of x and dx, in L1. */
#define POOL_BLOCK_PIXELS 4096

/* The 2×2 AVX2 kernels may take consecutive planes as one tall image when
 * every image row lies in a window row (h even): no window straddles two
 * planes, and the planes' rows of windows follow one another in y and dy
 * as in x. Then a plane's cost is its windows only: a 10×10 plane one
 * call per row and nothing per plane, where the per-plane call, the
 * dispatch and the partial last row took as long as its 100 pixels. */
static bool stacked(const nb__pool_kernel *p)
{
    return p->h % 2 == 0 && nb__pool_2x2_avx2(&p->k);
}

/* Planes per block: about POOL_BLOCK_PIXELS pixels, at least one. */
static int64_t block_planes(const nb__pool_kernel *p)
{
    const int64_t per = POOL_BLOCK_PIXELS / (p->h * p->w);
    return per > 1 ? per : 1;
}

/* Planes [q0, q1) as one image of (q1 - q0)·h rows. */
static nb__pool_kernel tall(const nb__pool_kernel *p, int64_t q0, int64_t q1)
{
    nb__pool_kernel t = *p;
    t.planes = 1;
    t.h = p->h * (q1 - q0);
    t.oh = p->oh * (q1 - q0);
    return t;
}

/* Block b of stacked planes: the maxima, as max_plane gives them plane by
 * plane (each window the same expression wherever it sits). */
static void max_block(const nb__pool_kernel *p, const float *const *in, float *out, int64_t b)
{
    const int64_t per = block_planes(p), q0 = b * per;
    const int64_t q1 = q0 + per < p->planes ? q0 + per : p->planes;
    const nb__pool_kernel t = tall(p, q0, q1);
    nb__pool_max_2x2_avx2(&t, in[0] + q0 * p->h * p->w, p->relu_in ? in[1][0] : 0.0f,
                          out + q0 * p->oh * p->ow);
}

/* Block b of stacked planes: the max gradient (and the relu's mask), as
 * max_grad_plane gives it plane by plane. */
static void max_grad_block(const nb__pool_kernel *p, const float *const *in, float *out,
                           int64_t b)
{
    const int64_t per = block_planes(p), q0 = b * per, hw = p->h * p->w, l = p->oh * p->ow;
    const int64_t q1 = q0 + per < p->planes ? q0 + per : p->planes;
    const nb__pool_kernel t = tall(p, q0, q1);
    const float *z = p->mask ? in[3] + q0 * hw : NULL, s = p->mask ? in[4][0] : 0.0f;
    float *dx = out + q0 * hw;
    nb__pool_max_grad_2x2_avx2(&t, in[0] + q0 * hw, in[1] + q0 * l, in[2] + q0 * l, z, s, dx);
    nb__pool_zero_uncovered(&t, dx);
}

/* Plane q of the forward kernels, through the plane_fn signature. */
static void max_plane(const nb__pool_kernel *p, const float *const *in, float *out, int64_t q)
{
    pool_plane(p, in[0], out, q, true, p->relu_in ? in[1][0] : 1.0f);
}

static void sum_plane(const nb__pool_kernel *p, const float *const *in, float *out, int64_t q)
{
    pool_plane(p, in[0], out, q, false, p->scaled ? in[1][0] : 1.0f);
}

/* Item q of each_plane: plane q (per = 1) or block q of per planes, then
 * with `sums` each of its planes of out summed while in cache, as the sum
 * step sums a row (reduce.h's row_sum), into sums[plane]. */
static void item(const nb__pool_kernel *p, const float *const *in, float *out, plane_fn fn,
                 int64_t q, int64_t per, float *sums)
{
    fn(p, in, out, q);
    const int64_t hw = p->h * p->w, end = (q + 1) * per < p->planes ? (q + 1) * per : p->planes;
    if (!sums || nb__pool_plane_sums_avx2(out + q * per * hw, hw, end - q * per, sums + q * per))
        return;
    for (int64_t e = q * per; e < end; e++)
        sums[e] = row_sum(out + e * hw, hw);
}

/* each_plane's items, as nb__par_items calls them. */
typedef struct plane_job {
    const nb__pool_kernel *p;
    const float *const *in;
    float *out;
    plane_fn fn;
    int64_t per;
    float *sums;
} plane_job;

static void plane_item(const void *ctx, int64_t q)
{
    const plane_job *j = ctx;
    item(j->p, j->in, j->out, j->fn, q, j->per, j->sums);
}

/* Every plane, split across threads when the work is large; each plane is
 * computed alone, so the bits do not depend on the thread count. With
 * `block` (stacked planes), blocks of planes, each pixel's value the same
 * expression as plane by plane. With `sums`, each output plane's sum. */
static void each_plane(const nb__kernel *k, const float *const *in, float *out, plane_fn fn,
                       plane_fn block, float *sums)
{
    const nb__pool_kernel *p = (const nb__pool_kernel *)k;
    const int64_t work = p->planes * p->oh * p->ow * p->k.kh * p->k.kw;
    int64_t n = p->planes, per = 1;
    if (block && stacked(p))
        fn = block, per = block_planes(p), n = (p->planes + per - 1) / per;
    const plane_job job = {.p = p, .in = in, .out = out, .fn = fn, .per = per, .sums = sums};
    nb__par_items(n, work, plane_item, &job);
}

void nb__pool_max(const nb__kernel *k, const float *const *in, float *out)
{
    each_plane(k, in, out, max_plane, max_block, NULL);
}

void nb__pool_sum(const nb__kernel *k, const float *const *in, float *out)
{
    each_plane(k, in, out, sum_plane, NULL, NULL);
}

/* With bias_at, the planes' sums (at most NB__POOL_BIAS_PLANES, the
 * pattern's bound) then combined as the sum step's kernel combines them:
 * one thread, in a fixed order, so the same bits at any thread count. */
void nb__pool_max_grad(const nb__kernel *k, const float *const *in, float *out)
{
    const nb__pool_kernel *p = (const nb__pool_kernel *)k;
    if (!p->bias_at) {
        each_plane(k, in, out, max_grad_plane, max_grad_block, NULL);
        return;
    }
    float sums[p->planes]; /* at most NB__POOL_BIAS_PLANES */
    each_plane(k, in, out, max_grad_plane, max_grad_block, sums);
    nb__reduce_ends_combine(sums, (float *)in[p->bias_at], p->planes / p->chans, p->chans);
}

void nb__pool_sum_grad(const nb__kernel *k, const float *const *in, float *out)
{
    each_plane(k, in, out, sum_grad_plane, NULL, NULL);
}
