/*
 * conv_direct.c — the forward convolution that never writes its columns
 * (conv_direct.h): tiles of the column matrix packed from the image through
 * unfold2d's window arithmetic (or image rows staged as they are), the
 * products over them (the vector blocks of conv_direct_simd.h, or the
 * plain loops here), the epilogue, and the split across threads. The
 * weight gradient is conv_wg.c.
 *
 * Work items are fixed by the shape alone, each output is computed by one
 * item as one chain of multiply-adds in a fixed order, so values do not
 * depend on the thread count: one item per image and tile of positions
 * (all filters; the packed tile serves every filter). Items run through
 * nb__par_items (par.h): each thread owns the range a static schedule
 * gives it, so it writes (and the next step reads) the same images run
 * after run and their lines stay in its core's cache, and takes the other
 * thread's last items only when that one lags; a dynamic schedule moved
 * half of them between cores every run, which cost a first layer's
 * forward all that its second thread gave.
 */
#include <string.h>

#include "conv_direct.h"
#include "conv_lanes.h"
#include "gemm.h"
#include "par.h"
#include "window.h"

/* Positions of a forward tile and column rows packed at once: the packed
 * tile (32 KB) stays in L2 while every filter runs over it, and its 16
 * columns at a time in L1. */
#define CD_TILE_L 64
#define CD_TILE_K 128

/* ---------------------------------------------------------------- plain blocks */

void nb__conv_direct_block_plain(int64_t m, int64_t kb, const nb__conv_rows *a,
                                 const int32_t *offs, const nb__conv_slots *sl, bool first)
{
    for (int s = 0; s < sl->n; s++)
        for (int64_t i = 0; i < m; i++)
            for (int l = 0; l < sl->w[s]; l++) {
                float *c = sl->c[s] + i * sl->ldc + l, acc = first ? 0.0f : *c;
                for (int64_t p = 0; p < kb; p++)
                    acc = NB__MADD(a->a[i * a->lda + p / a->kg * a->gs + p % a->kg],
                                   sl->b[s][offs[p] + l], acc);
                *c = acc;
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

/* The forward block by the widest vector blocks this CPU has, or the plain
 * loops: the same bits whichever. */
static void direct_block(int64_t m, int64_t kb, const nb__conv_rows *a, const int32_t *offs,
                         const nb__conv_slots *sl, bool first)
{
    if (!nb__conv_direct_block_avx512(m, kb, a, offs, sl, first) &&
        !nb__conv_direct_block_avx2(m, kb, a, offs, sl, first))
        nb__conv_direct_block_plain(m, kb, a, offs, sl, first);
}

/* Item t of a packed forward: image t / tiles, positions of tile t % tiles
 * for every filter, CD_TILE_K column rows packed at a time (slots of 16
 * columns of the tile), then the epilogue over the tile's rows while they
 * are in cache. */
static void fwd_item(const nb__conv_kernel *k, const float *const *in, float *out, int64_t t)
{
    const nb__conv_geom *g = &k->g;
    const int64_t l = (int64_t)g->oh * g->ow, ck = (int64_t)g->c * g->kh * g->kw;
    const int64_t tiles = (l + CD_TILE_L - 1) / CD_TILE_L, n = t / tiles, l0 = t % tiles * CD_TILE_L;
    const int64_t cnt = l - l0 < CD_TILE_L ? l - l0 : CD_TILE_L;
    const int64_t ld = (cnt + NB__CONV_FWD_LANES - 1) / NB__CONV_FWD_LANES * NB__CONV_FWD_LANES;
    _Alignas(64) float tile[CD_TILE_K * CD_TILE_L];
    int32_t offs[CD_TILE_K];
    const float *x = in[1] + n * g->c * g->h * g->w;
    float *y = out + n * g->f * l + l0;
    nb__conv_slots sl = {.n = (int)(ld / NB__CONV_SLOT), .ldc = l};
    for (int s = 0; s < sl.n; s++) {
        sl.b[s] = tile + s * NB__CONV_SLOT, sl.c[s] = y + s * NB__CONV_SLOT;
        sl.w[s] = (int)(cnt - s * NB__CONV_SLOT < NB__CONV_SLOT ? cnt - s * NB__CONV_SLOT
                                                                : NB__CONV_SLOT);
    }
    for (int64_t p = 0; p < CD_TILE_K; p++)
        offs[p] = (int32_t)(p * ld);
    for (int64_t p0 = 0; p0 < ck; p0 += CD_TILE_K) {
        const int64_t kb = ck - p0 < CD_TILE_K ? ck - p0 : CD_TILE_K;
        pack_cols(g, x, p0, p0 + kb, l0, cnt, tile, ld);
        const nb__conv_rows a = {.a = in[0] + p0, .lda = ck, .kg = kb, .gs = 0};
        direct_block(g->f, kb, &a, offs, &sl, p0 == 0);
    }
    if (k->fz.n_ops)
        for (int64_t f = 0; f < g->f; f++)
            nb__fused_program(&k->fz, in, n * g->f + f, l0, y + f * l, cnt);
}

/* ---------------------------------------------------------------- direct forward */

/* Floats of a staged block of channels (64 KB: L2, its slots' rows in L1),
 * positions a direct tile aims at, column rows per staged block, and the
 * most column rows of one channel the offsets may hold. */
#define CD_STAGE_MAX (16 * 1024)
#define CD_DIRECT_POS 128
#define CD_DIRECT_K 256
#define CD_DIRECT_TAPS 1024

/* How a direct forward cuts its work, from the shape alone: tr output rows
 * per tile, each staged as sr image rows of sw floats (padding included,
 * column 0 being image column -pw, slack past the last window), cb
 * channels per staged block. */
typedef struct direct_cut {
    int64_t tr, sr, sw, cb;
} direct_cut;

/* The direct cut of g: false when the window has a column stride other
 * than 1 (a slot's lanes would not be consecutive pixels) or a block of one
 * channel does not fit. */
static bool direct_cut_of(const nb__conv_geom *g, direct_cut *d)
{
    const int64_t kk = (int64_t)g->kh * g->kw, slot_rows = (g->ow + NB__CONV_SLOT - 1) / NB__CONV_SLOT;
    d->tr = CD_DIRECT_POS / g->ow < 1 ? 1 : CD_DIRECT_POS / g->ow;
    d->tr = d->tr > g->oh ? g->oh : d->tr;
    /* whole groups of four slots (the AVX-512 panels' width) when that
     * leaves a row: nine rows of 14 leave a panel of one slot, which loads
     * as much as it multiplies */
    if (d->tr * slot_rows > 4 && d->tr * slot_rows / 4 * 4 / slot_rows >= 1 &&
        d->tr * slot_rows / 4 * 4 % slot_rows == 0)
        d->tr = d->tr * slot_rows / 4 * 4 / slot_rows;
    d->sr = (d->tr - 1) * g->sh + (int64_t)(g->kh - 1) * g->dh + 1;
    d->sw = (g->w + 2 * g->pw + NB__CONV_SLOT - 1) / NB__CONV_SLOT * NB__CONV_SLOT + NB__CONV_SLOT;
    d->cb = CD_DIRECT_K / kk < 1 ? 1 : CD_DIRECT_K / kk;
    d->cb = d->cb > g->c ? g->c : d->cb;
    if (d->cb * d->sr * d->sw > CD_STAGE_MAX)
        d->cb = CD_STAGE_MAX / (d->sr * d->sw);
    return g->sw == 1 && d->cb >= 1 && d->cb * kk <= CD_DIRECT_TAPS &&
           d->tr * slot_rows <= NB__CONV_SLOTS_MAX;
}

/* n floats from s to d, eight at a time, and n zeros at d: a staged row
 * is a few dozen floats, too short for a call to memcpy or memset to pay. */
static inline void copy_run(float *restrict d, const float *restrict s, int64_t n)
{
    typedef float f8 __attribute__((vector_size(32), aligned(4), may_alias));
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        *(f8 *)(d + i) = *(const f8 *)(s + i);
    for (; i < n; i++)
        d[i] = s[i];
}

static inline void zero_run(float *d, int64_t n)
{
    typedef float f8 __attribute__((vector_size(32), aligned(4), may_alias));
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        *(f8 *)(d + i) = (f8){0};
    for (; i < n; i++)
        d[i] = 0.0f;
}

/* (GCC would turn the runs back into calls of memmove and memset.) */
__attribute__((optimize("no-tree-loop-distribute-patterns"))) void
nb__conv_stage_ahead(const nb__conv_geom *g, const float *x, int64_t c0, int64_t cb, int64_t ih0,
                     int64_t sr, int64_t sw, const nb__conv_ahead *ah, float *dst)
{
    for (int64_t c = 0; c < cb; c++)
        for (int64_t r = 0; r < sr; r++) {
            float *row = dst + (c * sr + r) * sw;
            const int64_t ih = ih0 + r, ia = ah->ih0 + r;
            /* the rows the next stage reads (this block's channels lie
             * far apart in memory, beyond the hardware's prefetch) */
            if (ia >= 0 && ia < g->h && ah->c0 + c < g->c) {
                const float *next = ah->x + ((ah->c0 + c) * g->h + ia) * g->w;
                for (int64_t k = 0; k < g->w; k += 16)
                    __builtin_prefetch(next + k);
            }
            if (ih < 0 || ih >= g->h) {
                zero_run(row, sw);
                continue;
            }
            const float *src = x + ((c0 + c) * g->h + ih) * g->w;
            zero_run(row, g->pw);
            copy_run(row + g->pw, src, g->w);
            zero_run(row + g->pw + g->w, sw - g->pw - g->w);
        }
}

void nb__conv_stage(const nb__conv_geom *g, const float *x, int64_t c0, int64_t cb, int64_t ih0,
                    int64_t sr, int64_t sw, float *dst)
{
    const nb__conv_ahead ah = {.x = x, .c0 = c0, .ih0 = ih0 + sr};
    nb__conv_stage_ahead(g, x, c0, cb, ih0, sr, sw, &ah, dst);
}

/* The slots of output rows [oh0, oh0 + rows) against the staged block at
 * st, their outputs in y (image n's [F, OH·OW]). */
static void direct_slots(const nb__conv_geom *g, const direct_cut *d, const float *st, float *y,
                         int64_t oh0, int64_t rows, nb__conv_slots *sl)
{
    sl->n = 0;
    sl->ldc = (int64_t)g->oh * g->ow;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t ow = 0; ow < g->ow; ow += NB__CONV_SLOT) {
            sl->b[sl->n] = st + r * g->sh * d->sw + ow;
            sl->c[sl->n] = y + (oh0 + r) * g->ow + ow;
            sl->w[sl->n++] = (int)(g->ow - ow < NB__CONV_SLOT ? g->ow - ow : NB__CONV_SLOT);
        }
}

/* What a direct item reads and writes: the image x [N, C, H, W], the
 * weights, the output y [N, F, OH·OW]; the epilogue (k, in) when k. */
typedef struct direct_job {
    const nb__conv_geom *g;
    const direct_cut *d;
    nb__conv_weights w;
    const float *x;
    float *y;
    const nb__conv_kernel *k;
    const float *const *in;
} direct_job;

/* Offsets of column rows p < cb·kk (staged channel, tap) into a staged
 * block: tap (i, j), or (kh-1-i, kw-1-j) when flip. */
static void direct_offs(const nb__conv_geom *g, const direct_cut *d, int64_t cb, bool flip,
                        int32_t *offs)
{
    int64_t p = 0; /* nested loops: divisions per column row cost a small layer 8 % */
    for (int64_t c = 0; c < cb; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                const int64_t ii = flip ? g->kh - 1 - i : i, jj = flip ? g->kw - 1 - j : j;
                offs[p++] = (int32_t)((c * d->sr + ii * g->dh) * d->sw + jj * g->dw);
            }
}

/* Item t of a direct convolution: image t / tiles, output rows of tile
 * t % tiles for every filter, a staged block of channels at a time, then
 * the epilogue over the tile's positions while they are in cache. */
static void direct_item(const direct_job *job, int64_t t)
{
    const nb__conv_geom *g = job->g;
    const direct_cut *d = job->d;
    const int64_t l = (int64_t)g->oh * g->ow, kk = (int64_t)g->kh * g->kw;
    const int64_t tiles = (g->oh + d->tr - 1) / d->tr, n = t / tiles, oh0 = t % tiles * d->tr;
    const int64_t rows = g->oh - oh0 < d->tr ? g->oh - oh0 : d->tr;
    _Alignas(64) float st[CD_STAGE_MAX];
    int32_t offs[CD_DIRECT_TAPS];
    nb__conv_slots sl;
    float *y = job->y + n * g->f * l;
    direct_slots(g, d, st, y, oh0, rows, &sl);
    for (int64_t c0 = 0; c0 < g->c; c0 += d->cb) {
        const int64_t cb = g->c - c0 < d->cb ? g->c - c0 : d->cb;
        nb__conv_stage(g, job->x + n * g->c * g->h * g->w, c0, cb, oh0 * g->sh - g->ph, d->sr,
                       d->sw, st);
        if (c0 == 0) /* a shorter last block reads the first of them */
            direct_offs(g, d, d->cb, job->w.flip, offs);
        /* one run when the weights lie as the column rows do */
        const nb__conv_rows a = {.a = job->w.a + c0 * job->w.cs, .lda = job->w.lda,
                                 .kg = job->w.cs == kk ? cb * kk : kk, .gs = job->w.cs};
        direct_block(g->f, cb * kk, &a, offs, &sl, c0 == 0);
    }
    if (job->k && job->k->fz.n_ops)
        for (int64_t f = 0; f < g->f; f++)
            nb__fused_program(&job->k->fz, job->in, n * g->f + f, oh0 * g->ow,
                              y + f * l + oh0 * g->ow, rows * g->ow);
}

/* The forward's items through packed tiles, as nb__par_items calls them. */
typedef struct tiles_job {
    const nb__conv_kernel *k;
    const float *const *in;
    float *out;
} tiles_job;

static void tiles_item(const void *ctx, int64_t t)
{
    const tiles_job *j = ctx;
    fwd_item(j->k, j->in, j->out, t);
}

static void direct_item_of(const void *ctx, int64_t t)
{
    direct_item(ctx, t);
}

/* Direct (column stride 1: the slots read the staged image rows as they
 * are) or through packed tiles (any other window). */
void nb__conv_forward(const nb__kernel *kernel, const float *const *in, float *out)
{
    const nb__conv_kernel *k = (const nb__conv_kernel *)kernel;
    const nb__conv_geom *g = &k->g;
    const int64_t l = (int64_t)g->oh * g->ow, kk = (int64_t)g->kh * g->kw;
    const nb__conv_weights wl = {.a = in[0], .lda = g->c * kk, .cs = kk};
    if (nb__conv_lanes_pays(g) && nb__conv_lanes(g, &wl, in[1], out, k, in, 2))
        return;
    direct_cut cut;
    const bool direct = direct_cut_of(g, &cut);
    const direct_job job = {.g = g, .d = &cut, .w = {.a = in[0], .lda = g->c * kk, .cs = kk},
                            .x = in[1], .y = out, .k = k, .in = in};
    const int64_t items = g->n * (direct ? (g->oh + cut.tr - 1) / cut.tr
                                         : (l + CD_TILE_L - 1) / CD_TILE_L);
    const int64_t work = (int64_t)g->n * g->f * l * g->c * kk;
    const tiles_job tiles = {.k = k, .in = in, .out = out};
    if (direct)
        nb__par_items(items, work, direct_item_of, &job);
    else
        nb__par_items(items, work, tiles_item, &tiles);
}

bool nb__conv_direct(const nb__conv_geom *g, const nb__conv_weights *w, const float *x, float *y)
{
    if (nb__conv_lanes_pays(g) && nb__conv_lanes(g, w, x, y, NULL, NULL, 2))
        return true;
    direct_cut cut;
    if (!direct_cut_of(g, &cut))
        return false;
    const direct_job job = {.g = g, .d = &cut, .w = *w, .x = x, .y = y};
    const int64_t items = g->n * ((g->oh + cut.tr - 1) / cut.tr);
    const int64_t work = (int64_t)g->n * g->f * g->oh * g->ow * g->c * g->kh * g->kw;
    nb__par_items(items, work, direct_item_of, &job);
    return true;
}
