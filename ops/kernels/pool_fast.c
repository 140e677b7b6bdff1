/*
 * pool_fast.c — the fast paths of the direct pooling kernels (pool.h).
 * Tiling windows (stride = size, no padding, dilation 1: LeNet-5's and
 * most poolings), where every pixel lies in at most one window: each
 * output row is built one kernel offset (i, j) at a time over the whole
 * row, in the order the plain loops of pool_direct.c take (and unfold2d
 * lays the columns out), so the same bits as those loops and as the
 * graph's steps; their max gradient a row of windows at a time. The max
 * gradient of any other plane small enough: the graph's own steps on that
 * plane in a stack scratch. Everything else takes the plain loops.
 */
#include <math.h>
#include <string.h>

#include "pool.h"

/* Column entries of one plane the max gradient works on at once, on the
 * stack (with the shares, 32 KiB): LeNet-5's planes need 784 and 100. */
#define POOL_COLS 4096
/* Floats of a relu's mask nb__pool_mask forms at once (2 KiB, in L1). */
#define POOL_MASK 512

bool nb__pool_tiles(const win *k)
{
    return k->sh == k->kh && k->sw == k->kw && k->dh == 1 && k->dw == 1 && k->ph == 0 &&
           k->pw == 0;
}

/* Window row r of a 2-wide tiling window, kernel row i: o[c] folds in the
 * pair row[2c], row[2c + 1] in that order (the first kernel row starts
 * from the pair's first entry). Written out so the pairs deinterleave in
 * vector registers instead of walking a stride. */
static inline void pair_row(const float *restrict row, float *restrict o, int64_t ow, bool first,
                            bool is_max)
{
    if (is_max)
        for (int64_t c = 0; c < ow; c++) {
            float a = row[2 * c], b = row[2 * c + 1];
            float v = first ? a : (a > o[c] ? a : o[c]);
            o[c] = b > v ? b : v;
        }
    else
        for (int64_t c = 0; c < ow; c++) {
            float a = row[2 * c], b = row[2 * c + 1];
            o[c] = (first ? a : o[c] + a) + b;
        }
}

/* Plane x [h, w] → out [oh, ow]: window row r's maximum (or sum, times
 * scale when scaled) over entries (i, j) in order. */
NB__SIMD void nb__pool_plane_tiles(const nb__pool_kernel *p, const float *x, float *out,
                                   bool is_max, float scale)
{
    const int64_t kh = p->k.kh, kw = p->k.kw, ow = p->ow;
    for (int64_t r = 0; r < p->oh; r++) {
        float *restrict o = out + r * ow;
        for (int64_t i = 0; i < kh; i++) {
            const float *restrict row = x + (r * kh + i) * p->w;
            if (kw == 2) {
                pair_row(row, o, ow, i == 0, is_max);
                continue;
            }
            for (int64_t j = 0; j < kw; j++) {
                if (i == 0 && j == 0)
                    for (int64_t c = 0; c < ow; c++)
                        o[c] = row[c * kw];
                else if (is_max)
                    for (int64_t c = 0; c < ow; c++) {
                        float e = row[c * kw + j];
                        o[c] = e > o[c] ? e : o[c];
                    }
                else
                    for (int64_t c = 0; c < ow; c++)
                        o[c] += row[c * kw + j];
            }
        }
        if (!is_max && p->scaled)
            for (int64_t c = 0; c < ow; c++)
                o[c] *= scale;
    }
}

/* Zeroes the pixels of plane dx no window covers: the columns right of the
 * last whole window, the rows below it. */
void nb__pool_zero_uncovered(const nb__pool_kernel *p, float *dx)
{
    const int64_t covered = p->oh * p->k.kh;
    for (int64_t y = 0; y < covered; y++)
        for (int64_t z = p->ow * p->k.kw; z < p->w; z++)
            dx[y * p->w + z] = 0.0f;
    memset(dx + covered * p->w, 0, (size_t)((p->h - covered) * p->w) * sizeof *dx);
}

/*
 * The max gradient of one plane, as the graph's own steps on that plane,
 * in a stack scratch that stays in L1: the plane's columns (unfold2d's
 * kernel), mask = (column == y) and the counts over each window, the shares
 * dy / count, mask · share in place, then fold2d's kernel back onto dx.
 * Every loop runs over a whole row of L window positions, contiguous, so
 * it vectorises; the values are the graph's bits. False, with nothing
 * written, when the columns do not fit the scratch.
 */
NB__SIMD bool nb__pool_max_grad_plane_cols(const nb__pool_kernel *p, const float *x,
                                           const float *y, const float *dy, float *dx)
{
    const int64_t kk = p->k.kh * p->k.kw, l = p->oh * p->ow;
    if (kk * l > POOL_COLS || l > POOL_COLS)
        return false;
    float cols[POOL_COLS], share[POOL_COLS];
    const plane_geom g = {.k = p->k, .h = p->h, .w = p->w, .oh = p->oh, .ow = p->ow, .l = l,
                          .kk = kk};
    nb__unfold_plane(&g, x, cols, 0);
    for (int64_t c = 0; c < l; c++)
        share[c] = 0.0f;
    for (int64_t e = 0; e < kk; e++) {
        float *restrict row = cols + e * l;
        for (int64_t c = 0; c < l; c++) {
            row[c] = row[c] == y[c] ? 1.0f : 0.0f;
            share[c] += row[c];
        }
    }
    for (int64_t c = 0; c < l; c++)
        share[c] = dy[c] / share[c];
    for (int64_t e = 0; e < kk; e++) {
        float *restrict row = cols + e * l;
        for (int64_t c = 0; c < l; c++)
            row[c] *= share[c];
    }
    nb__fold_plane(&g, cols, dx, 0);
    return true;
}

/*
 * The max gradient of one plane of tiling windows, a row of windows at a
 * time: each window's count of entries equal to its maximum y, the share
 * dy / count, and mask · share written to each pixel (fold2d's tiling path
 * writes each column entry to its one pixel) — the values the graph's
 * steps give (nb__pool_max_grad_plane_cols), without the columns. The
 * window's y and share are first spread over its pixels' columns (me, se),
 * so every loop over a kernel row is contiguous and branch-free, and
 * vectorises; the counts are sums of ones, exact in any order.
 */
NB__SIMD void nb__pool_max_grad_plane_tiles(const nb__pool_kernel *p, const float *x,
                                            const float *y, const float *dy, float *dx)
{
    const int64_t kh = p->k.kh, kw = p->k.kw, ow = p->ow, w = p->w, per = POOL_COLS / kw;
    /* one block, each array a cache line past the last: arrays a multiple
     * of 4 KiB apart make each load of one after a store to the other wait */
    float buf[4 * POOL_COLS + 64];
    float *me = buf, *se = me + POOL_COLS + 16, *eq = se + POOL_COLS + 16,
          *share = eq + POOL_COLS + 16;
    for (int64_t r = 0; r < p->oh; r++)
        for (int64_t c0 = 0; c0 < ow; c0 += per) {
            const int64_t n = ow - c0 < per ? ow - c0 : per, nz = n * kw;
            const float *restrict m = y + r * ow + c0, *restrict d = dy + r * ow + c0;
            if (kw == 2)
                for (int64_t c = 0; c < n; c++)
                    me[2 * c] = m[c], me[2 * c + 1] = m[c];
            else
                for (int64_t c = 0; c < n; c++)
                    for (int64_t j = 0; j < kw; j++)
                        me[c * kw + j] = m[c];
            for (int64_t z = 0; z < nz; z++)
                eq[z] = 0.0f;
            for (int64_t i = 0; i < kh; i++) {
                const float *restrict row = x + (r * kh + i) * w + c0 * kw;
                for (int64_t z = 0; z < nz; z++)
                    eq[z] += row[z] == me[z] ? 1.0f : 0.0f;
            }
            if (kw == 2)
                for (int64_t c = 0; c < n; c++)
                    share[c] = d[c] / (eq[2 * c] + eq[2 * c + 1]);
            else
                for (int64_t c = 0; c < n; c++) {
                    float count = 0.0f;
                    for (int64_t j = 0; j < kw; j++)
                        count += eq[c * kw + j];
                    share[c] = d[c] / count;
                }
            if (kw == 2)
                for (int64_t c = 0; c < n; c++)
                    se[2 * c] = share[c], se[2 * c + 1] = share[c];
            else
                for (int64_t c = 0; c < n; c++)
                    for (int64_t j = 0; j < kw; j++)
                        se[c * kw + j] = share[c];
            for (int64_t i = 0; i < kh; i++) {
                const float *restrict row = x + (r * kh + i) * w + c0 * kw;
                float *restrict out = dx + (r * kh + i) * w + c0 * kw;
                for (int64_t z = 0; z < nz; z++)
                    out[z] = (row[z] == me[z] ? 1.0f : 0.0f) * se[z];
            }
        }
    nb__pool_zero_uncovered(p, dx);
}

/* dx[i] times [z[i] ≥ s] (or [z[i] > s] when !ge), the mask on the left of
 * the product when left: a relu's gradient as its mul and ge steps give
 * it. The mask goes through a block of floats first: fused with the
 * product, the compiler turns m·dx into a branch around a store (m = 1
 * keeps dx) that does not vectorise; the quiet comparisons give ≥ and >
 * for every value, NaN included, and vectorise. */
NB__SIMD void nb__pool_mask(float *restrict dx, const float *restrict z, float s, int64_t n,
                            bool ge, bool left)
{
    float mk[POOL_MASK];
    for (int64_t i0 = 0; i0 < n; i0 += POOL_MASK) {
        const int64_t b = n - i0 < POOL_MASK ? n - i0 : POOL_MASK;
        const float *restrict zi = z + i0;
        float *restrict di = dx + i0;
        if (ge)
            for (int64_t i = 0; i < b; i++)
                mk[i] = isgreaterequal(zi[i], s) ? 1.0f : 0.0f;
        else
            for (int64_t i = 0; i < b; i++)
                mk[i] = isgreater(zi[i], s) ? 1.0f : 0.0f;
        if (left)
            for (int64_t i = 0; i < b; i++)
                di[i] = mk[i] * di[i];
        else
            for (int64_t i = 0; i < b; i++)
                di[i] = di[i] * mk[i];
    }
}

NB__SIMD void nb__pool_sum_grad_plane_tiles(const nb__pool_kernel *p, const float *d, float *dx)
{
    const int64_t kh = p->k.kh, kw = p->k.kw, ow = p->ow;
    for (int64_t r = 0; r < p->oh; r++)
        for (int64_t i = 0; i < kh; i++) {
            float *restrict row = dx + (r * kh + i) * p->w;
            const float *restrict s = d + r * ow;
            if (kw == 2)
                for (int64_t c = 0; c < ow; c++)
                    row[2 * c] = s[c], row[2 * c + 1] = s[c];
            else
                for (int64_t j = 0; j < kw; j++)
                    for (int64_t c = 0; c < ow; c++)
                        row[c * kw + j] = s[c];
        }
    nb__pool_zero_uncovered(p, dx);
}
