/*
 * pool_direct.c — direct pooling kernels (pool.h): plain loops over each
 * window of each image plane, never writing the columns unfold2d would.
 */
#include <math.h>

#include "pool.h"

nb__pool_kernel nb__pool_geometry(win k, const nb_shape *image)
{
    nb__pool_kernel p = {.k = k, .h = image->dim[2], .w = image->dim[3]};
    p.planes = image->dim[0] * image->dim[1];
    p.oh = (p.h + 2 * k.ph - k.dh * (k.kh - 1) - 1) / k.sh + 1;
    p.ow = (p.w + 2 * k.pw - k.dw * (k.kw - 1) - 1) / k.sw + 1;
    return p;
}

/* The window entry (i, j) of position (r, c) in plane x [h, w]: the pixel,
 * or 0 outside the image (unfold2d's padding). */
static inline float entry(const nb__pool_kernel *p, const float *x, int64_t r, int64_t c,
                          int64_t i, int64_t j)
{
    int64_t y = r * p->k.sh - p->k.ph + i * p->k.dh, z = c * p->k.sw - p->k.pw + j * p->k.dw;
    return y >= 0 && y < p->h && z >= 0 && z < p->w ? x[y * p->w + z] : 0.0f;
}

/* Plane q: out[l] = max (or sum) of window l, the entries in unfold2d's
 * order; a max keeps the first of equal values, as reduce_max does. */
static void pool_plane(const nb__pool_kernel *p, const float *x, float *out, int64_t q,
                       bool is_max, float scale)
{
    x += q * p->h * p->w;
    out += q * p->oh * p->ow;
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

/* Every plane, split across threads when the work is large. */
static void pool_run(const nb__pool_kernel *p, const float *x, float *out, bool is_max,
                     float scale)
{
    const int64_t work = p->planes * p->oh * p->ow * p->k.kh * p->k.kw;
    if (nb__par(work) && !omp_in_parallel()) {
#pragma omp parallel for schedule(static)
        for (int64_t q = 0; q < p->planes; q++)
            pool_plane(p, x, out, q, is_max, scale);
    } else {
        for (int64_t q = 0; q < p->planes; q++)
            pool_plane(p, x, out, q, is_max, scale);
    }
}

void nb__pool_max(const nb__kernel *k, const float *const *in, float *out)
{
    pool_run((const nb__pool_kernel *)k, in[0], out, true, 1.0f);
}

void nb__pool_sum(const nb__kernel *k, const float *const *in, float *out)
{
    const nb__pool_kernel *p = (const nb__pool_kernel *)k;
    pool_run(p, in[0], out, false, p->scaled ? in[1][0] : 1.0f);
}
