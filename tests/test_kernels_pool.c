/*
 * test_kernels_pool.c — the direct max pooling kernels of 2×2 windows of
 * stride 2 (ops/kernels/pool_direct.c, pool_avx2.c: LeNet-5's poolings)
 * checked from inside the library against the definition written out here
 * one window at a time: the maximum of each window's four entries in
 * unfold2d's order, and the gradient count / share / spread, times a
 * relu's mask. Bit for bit, at 1 and 2 threads, on widths whose rows end
 * in partial vectors (2, 6, 10, odd widths with an uncovered column),
 * even heights (whose planes the AVX2 kernels stack into one image) and
 * odd ones (an uncovered row per plane), batch 1, and a plane count that
 * leaves a partial block. Buffers are exactly sized, so a read or write
 * past one shows under the sanitizers.
 */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "../ops/kernels/pool.h"

/* A pool kernel's bytes as a runtime step holds them. */
typedef union kbytes {
    nb__kernel k;
    unsigned char b[NB__KERNEL_BYTES];
} kbytes;

static kbytes bytes_of(const nb__pool_kernel *p)
{
    kbytes kb;
    memset(&kb, 0, sizeof kb);
    memcpy(kb.b, p, sizeof *p);
    return kb;
}

/* Values on a grid of quarters in [-1, 1], zeros among them: ties within
 * windows, and pixels at a relu's threshold 0. */
static float *grid(int64_t n, uint64_t seed)
{
    float *x = malloc((size_t)n * sizeof *x);
    t_fill(x, n, seed, -1.0f, 1.0f);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(int)(x[i] * 4.0f) / 4.0f;
    return x;
}

/* Pixel (i, j) of plane q as the pooling sees it: x, or max(x, s) as
 * binary.c's max (x ≥ s ? x : s) when relu. */
static float pix(const nb__pool_kernel *p, const float *x, int64_t q, int64_t i, int64_t j,
                 bool relu, float s)
{
    const float v = x[(q * p->h + i) * p->w + j];
    return relu ? (v >= s ? v : s) : v;
}

/* The maxima, window by window: entries (0,0), (0,1), (1,0), (1,1), each
 * folded as reduce_max folds (e > v ? e : v). */
static void ref_max(const nb__pool_kernel *p, const float *x, bool relu, float s, float *y)
{
    for (int64_t q = 0; q < p->planes; q++)
        for (int64_t r = 0; r < p->oh; r++)
            for (int64_t c = 0; c < p->ow; c++) {
                float v = pix(p, x, q, 2 * r, 2 * c, relu, s);
                for (int e = 1; e < 4; e++) {
                    const float u = pix(p, x, q, 2 * r + e / 2, 2 * c + e % 2, relu, s);
                    v = u > v ? u : v;
                }
                y[(q * p->oh + r) * p->ow + c] = v;
            }
}

/* The gradient: per window the count of entries equal to y, the share
 * dy / count, (entry == y) · share to each pixel, 0 where no window
 * reaches; then times the relu's mask [z ≥ s] or [z > s] (mask on the
 * left when left), as the mul step multiplies. */
static void ref_grad(const nb__pool_kernel *p, const float *x, const float *y, const float *dy,
                     const float *z, float s, bool relu, float *dx)
{
    const int64_t hw = p->h * p->w;
    memset(dx, 0, (size_t)(p->planes * hw) * sizeof *dx);
    for (int64_t q = 0; q < p->planes; q++)
        for (int64_t r = 0; r < p->oh; r++)
            for (int64_t c = 0; c < p->ow; c++) {
                const int64_t at = (q * p->oh + r) * p->ow + c;
                float count = 0.0f;
                for (int e = 0; e < 4; e++)
                    count += pix(p, x, q, 2 * r + e / 2, 2 * c + e % 2, relu, s) == y[at] ? 1.0f
                                                                                       : 0.0f;
                const float share = dy[at] / count;
                for (int e = 0; e < 4; e++) {
                    const int64_t i = 2 * r + e / 2, j = 2 * c + e % 2;
                    const float m = pix(p, x, q, i, j, relu, s) == y[at] ? 1.0f : 0.0f;
                    dx[q * hw + i * p->w + j] = m * share;
                }
            }
    if (p->mask == NB__POOL_MASK_NONE)
        return;
    for (int64_t i = 0; i < p->planes * hw; i++) {
        const float m = (p->mask == NB__POOL_MASK_GE ? z[i] >= s : z[i] > s) ? 1.0f : 0.0f;
        dx[i] = p->mask_left ? m * dx[i] : dx[i] * m;
    }
}

/* Bitwise equality of n floats; the first difference reported. */
static void same_bits(const float *got, const float *want, int64_t n, const char *what,
                      const nb__pool_kernel *p, int threads)
{
    for (int64_t i = 0; i < n; i++)
        cr_assert(!memcmp(&got[i], &want[i], sizeof *got),
                  "%s, %lld planes of %lldx%lld, mask %d left %d relu %d, %d threads: element "
                  "%lld is %a, want %a",
                  what, (long long)p->planes, (long long)p->h, (long long)p->w, p->mask,
                  p->mask_left, p->relu_in, threads, (long long)i, (double)got[i],
                  (double)want[i]);
}

/* The shapes: widths ending in partial vectors, odd widths and heights,
 * batch 1, LeNet-5's two poolings, 37 planes of 10×10 (a partial last
 * block of stacked planes), and images large enough that 2 threads split
 * them. */
static const int64_t SHAPES[][4] = {
    {1, 1, 2, 2},   {1, 1, 10, 10}, {1, 3, 6, 6},   {2, 5, 2, 10},  {1, 2, 10, 6},
    {2, 3, 8, 5},   {1, 4, 7, 9},   {3, 2, 9, 11},  {1, 1, 4, 3},   {2, 2, 6, 7},
    {1, 37, 10, 10}, {4, 16, 10, 10}, {2, 6, 28, 28}, {1, 3, 12, 34}, {1, 2, 5, 40},
    {3, 1, 16, 18},
    /* large enough to split across threads */
    {64, 16, 10, 10}, {3, 7, 40, 46}, {9, 4, 31, 33},
};

/* Each shape at 1 and 2 threads: the maxima of x and of a relu's max(x,
 * s), and the gradient with each mask (none, ge, gt, left and right, and
 * read past the relu), all as the definition gives them. */
Test(kernels_pool, two_by_two_agrees_with_the_definition)
{
    const win k = {.kh = 2, .kw = 2, .sh = 2, .sw = 2, .dh = 1, .dw = 1};
    for (size_t c = 0; c < sizeof SHAPES / sizeof SHAPES[0]; c++)
        for (int threads = 1; threads <= 2; threads++) {
            nb_set_threads(threads);
            const nb_shape shape = NB_SHAPE(SHAPES[c][0], SHAPES[c][1], SHAPES[c][2],
                                            SHAPES[c][3]);
            const nb__pool_kernel base = nb__pool_geometry(k, &shape);
            const int64_t n = nb_shape_numel(shape), l = base.planes * base.oh * base.ow;
            float *x = grid(n, 7 + c), *z = grid(n, 11 + c), *dy = grid(l, 13 + c);
            float *y = malloc((size_t)l * sizeof *y), *want_y = malloc((size_t)l * sizeof *y);
            float *dx = malloc((size_t)n * sizeof *dx), *want = malloc((size_t)n * sizeof *dx);
            for (int relu = 0; relu <= 1; relu++)
                for (int si = 0; si < 2; si++) {
                    const float s = si ? 0.25f : 0.0f;
                    nb__pool_kernel p = base;
                    p.relu_in = relu && nb__pool_2x2_avx2(&k);
                    if (relu && !p.relu_in)
                        continue; /* read past a relu only where the AVX2 kernels run */
                    kbytes kb = bytes_of(&p);
                    const float *in[2] = {x, &s};
                    nb__pool_max(&kb.k, in, y);
                    ref_max(&p, x, relu, s, want_y);
                    same_bits(y, want_y, l, "maxima", &p, threads);
                    /* the gradient: no mask, ge and gt either side; past a
                     * relu, ge of the image's own z */
                    for (int mode = 0; mode < 5; mode++) {
                        if (relu && mode != 1 && mode != 2)
                            continue;
                        p.mask = mode == 0 ? NB__POOL_MASK_NONE
                                 : mode <= 2 ? NB__POOL_MASK_GE
                                             : NB__POOL_MASK_GT;
                        p.mask_left = mode == 2 || mode == 4;
                        const float *zz = relu ? x : z;
                        kb = bytes_of(&p);
                        const float *gin[5] = {x, y, dy, zz, &s};
                        nb__pool_max_grad(&kb.k, gin, dx);
                        ref_grad(&p, x, y, dy, zz, s, relu, want);
                        same_bits(dx, want, n, "gradient", &p, threads);
                    }
                }
            free(x), free(z), free(dy), free(y), free(want_y), free(dx), free(want);
        }
    nb_set_threads(0);
}

/* Maxima no entry equals (y off the grid of quarters by an eighth): every
 * count is 0 and every share dy / 0 is ±∞ or NaN, so each pixel's
 * gradient is 0 · share, the default NaN, then times the relu's mask —
 * the cases where the AVX2 kernel's one product (e AND mask) · share must
 * still give the bits of the steps' two, (e · share) · mask: no mask, ge
 * on either side, and read past the relu, at 1 and 2 threads. */
Test(kernels_pool, two_by_two_gradient_of_counts_of_zero)
{
    const win k = {.kh = 2, .kw = 2, .sh = 2, .sw = 2, .dh = 1, .dw = 1};
    static const int64_t shapes[][4] = {{2, 3, 8, 10}, {1, 6, 28, 28}, {3, 2, 9, 11}};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++)
        for (int threads = 1; threads <= 2; threads++)
            for (int mode = 0; mode < 4; mode++) {
                nb_set_threads(threads);
                const nb_shape shape =
                    NB_SHAPE(shapes[c][0], shapes[c][1], shapes[c][2], shapes[c][3]);
                nb__pool_kernel p = nb__pool_geometry(k, &shape);
                const bool relu = mode == 3;
                p.mask = mode == 0 ? NB__POOL_MASK_NONE : NB__POOL_MASK_GE;
                p.mask_left = mode == 2;
                p.relu_in = relu && nb__pool_2x2_avx2(&k);
                if (relu && !p.relu_in)
                    continue;
                const int64_t n = nb_shape_numel(shape), l = p.planes * p.oh * p.ow;
                float *x = grid(n, 5 + c), *dy = grid(l, 9 + c);
                float *y = malloc((size_t)l * sizeof *y), *dx = malloc((size_t)n * sizeof *dx);
                float *want = malloc((size_t)n * sizeof *dx);
                const float s = 0.0f;
                ref_max(&p, x, relu, s, y);
                for (int64_t i = 0; i < l; i++)
                    y[i] += 0.125f;
                kbytes kb = bytes_of(&p);
                const float *gin[5] = {x, y, dy, x, &s};
                nb__pool_max_grad(&kb.k, gin, dx);
                ref_grad(&p, x, y, dy, x, s, relu, want);
                same_bits(dx, want, n, "gradient of counts of 0", &p, threads);
                free(x), free(dy), free(y), free(dx), free(want);
            }
    nb_set_threads(0);
}
