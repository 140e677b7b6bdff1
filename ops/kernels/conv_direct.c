/*
 * conv_direct.c — convolutions that never write their columns (conv_direct.h):
 * tiles of the column matrix packed from the image through unfold2d's
 * window arithmetic, the products over them (the vector blocks of
 * conv_direct_simd.h, or the plain loops here), the forward epilogue, and
 * the split across threads.
 *
 * Work items are fixed by the shape alone, each output is computed by one
 * item as one chain of multiply-adds in a fixed order, so values do not
 * depend on the thread count:
 *   forward: one item per image and tile of CD_TILE_L positions (all
 *            filters; the packed tile serves every filter);
 *   weight gradient: one item per block of CD_WG_F filters and CD_WG_P
 *            column rows, summing over every image and position.
 */
#include <string.h>

#include "conv_direct.h"
#include "gemm.h"
#include "window.h"

/* Positions of a forward tile and column rows packed at once: the packed
 * tile (32 KB) stays in L2 while every filter runs over it, and its 16
 * columns at a time in L1. */
#define CD_TILE_L 64
#define CD_TILE_K 128

/* A weight-gradient item's filters (a multiple of the blocks' 3 and 4) and
 * column rows (a multiple of their 2 and 6), and the positions packed at
 * once (a multiple of 16): its accumulators (72 KB) and tile of columns
 * (24 KB) stay in L2, dy is read in place. */
#define CD_WG_F 48
#define CD_WG_P 24
#define CD_WG_L 256

/* ---------------------------------------------------------------- plain blocks */

void nb__conv_fwd_block_plain(int64_t m, int64_t kb, const float *a, int64_t lda,
                              const float *b, int64_t ldb, int64_t cnt, float *c, int64_t ldc,
                              bool first)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < cnt; j++) {
            float s = first ? 0.0f : c[i * ldc + j];
            for (int64_t p = 0; p < kb; p++)
                s = NB__MADD(a[i * lda + p], b[p * ldb + j], s);
            c[i * ldc + j] = s;
        }
}

void nb__conv_wg_block_plain(int64_t nf, int64_t np, const float *d, int64_t ldd, const float *t,
                             int64_t ldt, int64_t len, float *acc)
{
    for (int64_t i = 0; i < nf; i++)
        for (int64_t j = 0; j < np; j++)
            for (int64_t l = 0; l < NB__CONV_WG_LANES; l++) {
                float *s = acc + (i * np + j) * NB__CONV_WG_LANES + l;
                for (int64_t q = l; q < len; q += NB__CONV_WG_LANES)
                    *s = NB__MADD(d[i * ldd + q], t[j * ldt + q], *s);
            }
}

/* ---------------------------------------------------------------- packing */

/* Image row ih of kernel row i for output row oh, or -1 in the padding. */
static inline int64_t image_row(const nb__conv_geom *g, int64_t oh, int64_t i)
{
    const int64_t ih = oh * g->sh - g->ph + i * g->dh;
    return ih >= 0 && ih < g->h ? ih : -1;
}

/* Output columns [ow0, ow1) of column row (c, i, j) for output row oh into
 * dst[0, ow1 - ow0): image pixels inside [lo, hi) (valid_range for j),
 * zeros outside. */
static inline void pack_run(const nb__conv_geom *g, const float *plane, int64_t ih, int64_t off,
                            int64_t lo, int64_t hi, int64_t ow0, int64_t ow1, float *dst)
{
    int64_t a = lo < ow0 ? ow0 : lo > ow1 ? ow1 : lo, b = hi > ow1 ? ow1 : hi < a ? a : hi;
    if (ih < 0)
        a = b = ow1;
    for (int64_t o = ow0; o < a; o++)
        dst[o - ow0] = 0.0f;
    if (a < b) {
        const float *src = plane + ih * g->w + off + a * g->sw; /* inside the image */
        if (g->sw == 1)
            memcpy(dst + (a - ow0), src, (size_t)(b - a) * sizeof(float));
        else
            for (int64_t o = a; o < b; o++)
                dst[o - ow0] = src[(o - a) * g->sw];
    }
    for (int64_t o = b; o < ow1; o++)
        dst[o - ow0] = 0.0f;
}

/*
 * Rows [p0, p1) and positions [l0, l0 + cnt) of image x's columns (x
 * [C, H, W]) → dst [p1 - p0, ld], zeros in columns [cnt, ld): the tile a
 * block multiplies, the same values unfold2d writes for those entries.
 */
static void pack_cols(const nb__conv_geom *g, const float *x, int64_t p0, int64_t p1, int64_t l0,
                      int64_t cnt, float *dst, int64_t ld)
{
    const int64_t kk = (int64_t)g->kh * g->kw;
    for (int64_t p = p0; p < p1; p++) {
        const int64_t c = p / kk, i = p % kk / g->kw, j = p % g->kw;
        const int64_t off = j * g->dw - g->pw;
        const float *plane = x + c * g->h * g->w;
        float *d = dst + (p - p0) * ld;
        int64_t lo, hi;
        valid_range(off, g->sw, g->w, g->ow, &lo, &hi);
        for (int64_t l = l0; l < l0 + cnt;) {
            const int64_t oh = l / g->ow, ow0 = l % g->ow;
            const int64_t ow1 = g->ow < ow0 + (l0 + cnt - l) ? g->ow : ow0 + (l0 + cnt - l);
            pack_run(g, plane, image_row(g, oh, i), off, lo, hi, ow0, ow1, d + (l - l0));
            l += ow1 - ow0;
        }
        memset(d + cnt, 0, (size_t)(ld - cnt) * sizeof(float));
    }
}

/* ---------------------------------------------------------------- forward */

/* The tile's product block by the widest vector blocks this CPU has, or
 * the plain loops: the same bits whichever. */
static void fwd_block(int64_t m, int64_t kb, const float *a, int64_t lda, const float *b,
                      int64_t ldb, int64_t cnt, float *c, int64_t ldc, bool first)
{
    if (!nb__conv_fwd_block_avx512(m, kb, a, lda, b, ldb, cnt, c, ldc, first) &&
        !nb__conv_fwd_block_avx2(m, kb, a, lda, b, ldb, cnt, c, ldc, first))
        nb__conv_fwd_block_plain(m, kb, a, lda, b, ldb, cnt, c, ldc, first);
}

/* Item t of the forward: image t / tiles, positions of tile t % tiles for
 * every filter, CD_TILE_K column rows at a time, then the epilogue over the
 * tile's rows while they are in cache. */
static void fwd_item(const nb__conv_kernel *k, const float *const *in, float *out, int64_t t)
{
    const nb__conv_geom *g = &k->g;
    const int64_t l = (int64_t)g->oh * g->ow, ck = (int64_t)g->c * g->kh * g->kw;
    const int64_t tiles = (l + CD_TILE_L - 1) / CD_TILE_L, n = t / tiles, l0 = t % tiles * CD_TILE_L;
    const int64_t cnt = l - l0 < CD_TILE_L ? l - l0 : CD_TILE_L;
    const int64_t ld = (cnt + NB__CONV_FWD_LANES - 1) / NB__CONV_FWD_LANES * NB__CONV_FWD_LANES;
    _Alignas(64) float tile[CD_TILE_K * CD_TILE_L];
    const float *x = in[1] + n * g->c * g->h * g->w;
    float *y = out + n * g->f * l + l0;
    for (int64_t p0 = 0; p0 < ck; p0 += CD_TILE_K) {
        const int64_t kb = ck - p0 < CD_TILE_K ? ck - p0 : CD_TILE_K;
        pack_cols(g, x, p0, p0 + kb, l0, cnt, tile, ld);
        fwd_block(g->f, kb, in[0] + p0, ck, tile, ld, cnt, y, l, p0 == 0);
    }
    if (k->fz.n_ops)
        for (int64_t f = 0; f < g->f; f++)
            nb__fused_program(&k->fz, in, n * g->f + f, l0, y + f * l, cnt);
}

void nb__conv_forward(const nb__kernel *kernel, const float *const *in, float *out)
{
    const nb__conv_kernel *k = (const nb__conv_kernel *)kernel;
    const nb__conv_geom *g = &k->g;
    const int64_t l = (int64_t)g->oh * g->ow;
    const int64_t items = g->n * ((l + CD_TILE_L - 1) / CD_TILE_L);
    const int64_t work = (int64_t)g->n * g->f * l * g->c * g->kh * g->kw;
    if (items > 1 && nb__par(work) && !omp_in_parallel()) {
#pragma omp parallel for schedule(dynamic, 1)
        for (int64_t t = 0; t < items; t++)
            fwd_item(k, in, out, t);
    } else {
        for (int64_t t = 0; t < items; t++)
            fwd_item(k, in, out, t);
    }
}

/* ---------------------------------------------------------------- weight gradient */

static void wg_block(int64_t nf, int64_t np, const float *d, int64_t ldd, const float *t,
                     int64_t ldt, int64_t len, float *acc)
{
    if (!nb__conv_wg_block_avx512(nf, np, d, ldd, t, ldt, len, acc) &&
        !nb__conv_wg_block_avx2(nf, np, d, ldd, t, ldt, len, acc))
        nb__conv_wg_block_plain(nf, np, d, ldd, t, ldt, len, acc);
}

/*
 * Positions [l0, l0 + cnt) of image n into the accumulators of filters
 * [f0, f0 + nf) by the column rows packed in ct (row stride ld, zeros past
 * cnt): the whole multiples of 16 read dy in place, the last few positions
 * from a zero-padded copy.
 */
static void wg_tile(const nb__conv_geom *g, const float *dy, int64_t n, int64_t f0, int64_t nf,
                    int64_t np, int64_t l0, int64_t cnt, const float *ct, int64_t ld, float *acc)
{
    const int64_t l = (int64_t)g->oh * g->ow, whole = cnt / NB__CONV_WG_LANES * NB__CONV_WG_LANES;
    const float *d = dy + (n * g->f + f0) * l + l0;
    if (whole)
        wg_block(nf, np, d, l, ct, ld, whole, acc);
    if (whole < cnt) {
        _Alignas(64) float dt[CD_WG_F * NB__CONV_WG_LANES] = {0};
        for (int64_t i = 0; i < nf; i++)
            memcpy(dt + i * NB__CONV_WG_LANES, d + i * l + whole,
                   (size_t)(cnt - whole) * sizeof(float));
        wg_block(nf, np, dt, NB__CONV_WG_LANES, ct + whole, ld, NB__CONV_WG_LANES, acc);
    }
}

/* Item t of the weight gradient: filters [f0, f0 + nf) by column rows
 * [p0, p0 + np), summed over every image and tile of positions in order,
 * each output's lanes added in lane order at the end. */
static void wg_item(const nb__conv_kernel *k, const float *const *in, float *out, int64_t t)
{
    const nb__conv_geom *g = &k->g;
    const int64_t l = (int64_t)g->oh * g->ow, ck = (int64_t)g->c * g->kh * g->kw;
    const int64_t fblocks = (g->f + CD_WG_F - 1) / CD_WG_F;
    const int64_t f0 = t % fblocks * CD_WG_F, p0 = t / fblocks * CD_WG_P;
    const int64_t nf = g->f - f0 < CD_WG_F ? g->f - f0 : CD_WG_F;
    const int64_t np = ck - p0 < CD_WG_P ? ck - p0 : CD_WG_P;
    _Alignas(64) float acc[CD_WG_F * CD_WG_P * NB__CONV_WG_LANES];
    _Alignas(64) float ct[CD_WG_P * CD_WG_L];
    memset(acc, 0, (size_t)(nf * np * NB__CONV_WG_LANES) * sizeof(float));
    for (int64_t n = 0; n < g->n; n++) {
        const float *x = in[1] + n * g->c * g->h * g->w;
        for (int64_t l0 = 0; l0 < l; l0 += CD_WG_L) {
            const int64_t cnt = l - l0 < CD_WG_L ? l - l0 : CD_WG_L;
            const int64_t ld = (cnt + NB__CONV_WG_LANES - 1) / NB__CONV_WG_LANES * NB__CONV_WG_LANES;
            pack_cols(g, x, p0, p0 + np, l0, cnt, ct, ld);
            wg_tile(g, in[0], n, f0, nf, np, l0, cnt, ct, ld, acc);
        }
    }
    for (int64_t i = 0; i < nf; i++)
        for (int64_t j = 0; j < np; j++) {
            const float *a = acc + (i * np + j) * NB__CONV_WG_LANES;
            float s = 0.0f;
            for (int q = 0; q < NB__CONV_WG_LANES; q++)
                s += a[q];
            out[(f0 + i) * ck + p0 + j] = s;
        }
}

void nb__conv_weight_grad(const nb__kernel *kernel, const float *const *in, float *out)
{
    const nb__conv_kernel *k = (const nb__conv_kernel *)kernel;
    const nb__conv_geom *g = &k->g;
    const int64_t ck = (int64_t)g->c * g->kh * g->kw;
    const int64_t items = (g->f + CD_WG_F - 1) / CD_WG_F * ((ck + CD_WG_P - 1) / CD_WG_P);
    const int64_t work = (int64_t)g->n * g->f * g->oh * g->ow * ck;
    if (items > 1 && nb__par(work) && !omp_in_parallel()) {
#pragma omp parallel for schedule(dynamic, 1)
        for (int64_t t = 0; t < items; t++)
            wg_item(k, in, out, t);
    } else {
        for (int64_t t = 0; t < items; t++)
            wg_item(k, in, out, t);
    }
}
