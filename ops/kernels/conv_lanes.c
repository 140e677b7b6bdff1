/*
 * conv_lanes.c — the direct convolution with filters in the vector lanes
 * (conv_lanes.h): the cut of the work, the packing of a panel's weights,
 * the staging of whole images, the transposition of the sums into y with
 * the epilogue, the split across threads, and the plain block, the
 * reference the AVX2 block (conv_lanes_fma.c) and the AVX-512 pairs of
 * panels (conv_lanes_avx512.c) are checked against.
 */
#include <string.h>

#include "conv_lanes.h"
#include "gemm.h"
#include "par.h"

/* Floats of an item's tile (its positions, each image's padded to whole
 * blocks, by the filters of its panels), of the stage (a block of
 * channels of the item's image rows) and of the packed weights (its
 * panels' for a block of channels); the most column rows of a block and
 * positions of an image. The tile stays in L2 while a block of channels
 * at a time is added into it; a panel's packed weights (at most 16 KB) and
 * the staged rows stay in L1 while every block of positions runs over
 * them. The tile holds a whole 14×14 image for 128 filters (198 positions,
 * so its weights are packed once an image, not twice), and the weights 14
 * channels of 3×3 for 128 filters (each block of sums loaded and stored
 * once per 126 column rows, not 63). About 200 KB of stack. */
#define LN_TILE (26 * 1024)
#define LN_STAGE (8 * 1024)
#define LN_WP (16 * 1024)
#define LN_K 256
#define LN_POS 1024
/* Positions an item aims for at least: a few small images share one
 * packing, and rows are cut no shorter when panels share them. */
#define LN_AIM 400
#define LN_MIN 96

void nb__conv_lanes_block_plain(const float *st, const int32_t *pos, const int32_t *offs,
                                int64_t kb, const float *wp, float *t, bool first)
{
    for (int q = 0; q < NB__CONV_LANES_P; q++)
        for (int v = 0; v < NB__CONV_LANES_F; v++) {
            float acc = first ? 0.0f : t[q * NB__CONV_LANES_F + v];
            for (int64_t p = 0; p < kb; p++)
                acc = NB__MADD(wp[p * NB__CONV_LANES_F + v], st[pos[q] + offs[p]], acc);
            t[q * NB__CONV_LANES_F + v] = acc;
        }
}

void nb__conv_lanes_run_plain(const float *st, const int32_t *pos, int64_t n, const int32_t *offs,
                              int64_t kb, const float *wp, float *t, bool first)
{
    for (int64_t q0 = 0; q0 < n; q0 += NB__CONV_LANES_P) {
        int32_t pq[NB__CONV_LANES_P];
        for (int q = 0; q < NB__CONV_LANES_P; q++)
            pq[q] = pos[q0 + q < n ? q0 + q : n - 1];
        nb__conv_lanes_block_plain(st, pq, offs, kb, wp, t + q0 * NB__CONV_LANES_F, first);
    }
}

/* How an item cuts its work, from the shape alone: tr output rows of ni
 * images (ni > 1 only for whole images) by pg panels of filters; each
 * image's rows staged as sr rows of sw floats (column 0 being image
 * column -pw), cb channels at a time; lp positions of the tile an image
 * (tr·OW rounded up to whole blocks). */
typedef struct lanes_cut {
    int64_t tr, ni, pg, sr, sw, cb, lp;
} lanes_cut;

static int64_t whole_blocks(int64_t n)
{
    return (n + NB__CONV_LANES_P - 1) / NB__CONV_LANES_P * NB__CONV_LANES_P;
}

static bool lanes_cut_of(const nb__conv_geom *g, lanes_cut *d)
{
    const int64_t kk = (int64_t)g->kh * g->kw, l = (int64_t)g->oh * g->ow;
    const int64_t panels = (g->f + NB__CONV_LANES_F - 1) / NB__CONV_LANES_F;
    const int64_t reach = (int64_t)(g->ow - 1) * g->sw + (int64_t)(g->kw - 1) * g->dw + 1;
    if (kk > LN_K || (int64_t)g->ow > LN_POS)
        return false;
    /* every panel on one staging of the rows, unless that leaves rows
     * shorter than LN_MIN positions: then half the panels, and so on */
    for (d->pg = panels;; d->pg = (d->pg + 1) / 2) {
        int64_t most = LN_TILE / (NB__CONV_LANES_F * d->pg); /* positions */
        most = most > LN_POS ? LN_POS : most;
        d->tr = most / g->ow;
        while (d->tr > 0 && whole_blocks(d->tr * g->ow) > most)
            d->tr--;
        if (d->tr > g->oh)
            d->tr = g->oh;
        if ((d->tr * g->ow >= LN_MIN || d->tr == g->oh || d->pg == 1) && d->tr >= 1)
            break;
        if (d->pg == 1)
            return false;
    }
    d->tr = (g->oh + (g->oh + d->tr - 1) / d->tr - 1) / ((g->oh + d->tr - 1) / d->tr); /* even */
    d->lp = whole_blocks(d->tr * g->ow);
    d->ni = 1;
    if (d->tr == g->oh) {
        d->ni = (LN_AIM + l - 1) / l;
        const int64_t most = LN_TILE / (NB__CONV_LANES_F * d->pg * d->lp);
        d->ni = d->ni > most ? most : d->ni > g->n ? g->n : d->ni;
    }
    d->sr = (d->tr - 1) * g->sh + (int64_t)(g->kh - 1) * g->dh + 1;
    d->sw = reach > g->pw + g->w ? reach : g->pw + g->w;
    d->sw = (d->sw + 7) / 8 * 8; /* whole AVX2 vectors a staged row */
    d->cb = LN_WP / (NB__CONV_LANES_F * d->pg) / kk;
    if (d->cb > LN_K / kk)
        d->cb = LN_K / kk;
    if (d->cb > LN_STAGE / (d->sr * d->sw))
        d->cb = LN_STAGE / (d->sr * d->sw);
    if (d->cb > g->c)
        d->cb = g->c;
    return d->cb >= 1 && d->ni >= 1 && d->lp <= LN_POS;
}

bool nb__conv_lanes_pays(const nb__conv_geom *g)
{
    lanes_cut d;
    const int64_t panels = (g->f + NB__CONV_LANES_F - 1) / NB__CONV_LANES_F;
    const int64_t slots = (g->ow + NB__CONV_SLOT - 1) / NB__CONV_SLOT;
    /* real lanes of the filters' panels against those of the pixel slots
     * (which need column stride 1; other strides pack their columns) */
    const bool fuller = g->sw != 1 || (int64_t)g->f * slots * NB__CONV_SLOT >=
                                          (int64_t)g->ow * panels * NB__CONV_LANES_F;
    return g->f >= NB__CONV_LANES_F && fuller && nb__conv_fma_cpu() && lanes_cut_of(g, &d);
}

/* What an item reads and writes (nb__conv_lanes's arguments). */
typedef struct lanes_job {
    const nb__conv_geom *g;
    const lanes_cut *d;
    const nb__conv_weights *w;
    const float *x;
    float *y;
    const nb__conv_kernel *k;
    const float *const *in;
    int isa;
} lanes_job;

/* The weights of filters [f0, f0 + 16) (zeros past the last filter) and
 * channels [c0, c0 + cb) → wp [cb·kh·kw][16], column row (c, tap) as the
 * chains take them: runs of column rows that lie together in w (all of
 * them in the forward, a channel's taps in the input gradient), each a
 * transposition. */
static void pack(const nb__conv_geom *g, const nb__conv_weights *w, int isa, int64_t f0,
                 int64_t c0, int64_t cb, float *wp)
{
    const int64_t kk = (int64_t)g->kh * g->kw, rows = g->f - f0 < 16 ? g->f - f0 : 16;
    const int64_t run = w->cs == kk ? cb * kk : kk;
    for (int64_t r0 = 0; r0 < cb * kk; r0 += run) {
        const float *src = w->a + f0 * w->lda + c0 * w->cs + r0 / kk * w->cs;
        float *dst = wp + r0 * NB__CONV_LANES_F;
        if (isa == 0 || !nb__conv_lanes_pack_avx2(src, w->lda, rows, run, dst))
            for (int64_t t = 0; t < run; t++)
                for (int64_t v = 0; v < NB__CONV_LANES_F; v++)
                    dst[t * NB__CONV_LANES_F + v] = v < rows ? src[v * w->lda + t] : 0.0f;
    }
}

/* Offsets into a stage of column rows p < cb·kk (channel, tap (i, j), or
 * (kh-1-i, kw-1-j) when flip), and of each output position's window. */
static void offsets(const nb__conv_geom *g, const lanes_cut *d, int64_t cb, bool flip,
                    int32_t *offs, int32_t *pos)
{
    int64_t p = 0;
    for (int64_t c = 0; c < cb; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                const int64_t ii = flip ? g->kh - 1 - i : i, jj = flip ? g->kw - 1 - j : j;
                offs[p++] = (int32_t)((c * d->sr + ii * g->dh) * d->sw + jj * g->dw);
            }
    int64_t q = 0;
    for (int64_t oh = 0; oh < d->tr; oh++)
        for (int64_t ow = 0; ow < g->ow; ow++)
            pos[q++] = (int32_t)(oh * g->sh * d->sw + ow * g->sw);
}

static void run(int isa, const float *st, const int32_t *pos, int64_t n, const int32_t *offs,
                int64_t kb, const float *wp, float *t, bool first)
{
    if (isa == 0 || !nb__conv_lanes_run_avx2(st, pos, n, offs, kb, wp, t, first))
        nb__conv_lanes_run_plain(st, pos, n, offs, kb, wp, t, first);
}

/* Where the stage after that of image n0 + i, channels from c0, in item it
 * (images [n0, n0 + ni) from row ih0) reads: the item's next image, its
 * next block of channels, or the first block of item it + 1, the one this
 * thread runs next unless it is taking another's items (par.h); nothing
 * after the last item.
 * Its rows come from memory while this stage's are multiplied. */
static nb__conv_ahead ahead_of(const lanes_job *j, int64_t it, int64_t n0, int64_t ni,
                               int64_t ih0, int64_t c0, int64_t i)
{
    const nb__conv_geom *g = j->g;
    const lanes_cut *d = j->d;
    const int64_t chw = (int64_t)g->c * g->h * g->w, pf = NB__CONV_LANES_F * d->pg;
    const int64_t groups = (g->f + pf - 1) / pf, tiles = (g->oh + d->tr - 1) / d->tr;
    const int64_t next = it + 1, items = (g->n + d->ni - 1) / d->ni * tiles * groups;
    if (i + 1 < ni)
        return (nb__conv_ahead){.x = j->x + (n0 + i + 1) * chw, .c0 = c0, .ih0 = ih0};
    if (c0 + d->cb < g->c)
        return (nb__conv_ahead){.x = j->x + n0 * chw, .c0 = c0 + d->cb, .ih0 = ih0};
    if (next >= items)
        return (nb__conv_ahead){.x = j->x, .c0 = 0, .ih0 = g->h}; /* no row inside */
    return (nb__conv_ahead){.x = j->x + next / groups / tiles * d->ni * chw, .c0 = 0,
                            .ih0 = next / groups % tiles * d->tr * g->sh - g->ph};
}

/* Item it: output rows [oh0, oh0 + tr) of the images of group
 * it / (tiles·groups), by the filters of panel group it % groups, a
 * block of channels at a time (its panels' weights packed, each image's
 * rows staged once for them all), then the tile into y and the
 * epilogue. */
static void lanes_item(const void *ctx, int64_t it)
{
    const lanes_job *j = ctx;
    const nb__conv_geom *g = j->g;
    const lanes_cut *d = j->d;
    const int64_t kk = (int64_t)g->kh * g->kw, l = (int64_t)g->oh * g->ow;
    const int64_t pf = NB__CONV_LANES_F * d->pg; /* filters of the group */
    const int64_t groups = (g->f + pf - 1) / pf, tiles = (g->oh + d->tr - 1) / d->tr;
    const int64_t f0 = it % groups * pf, oh0 = it / groups % tiles * d->tr;
    const int64_t n0 = it / groups / tiles * d->ni, ni = g->n - n0 < d->ni ? g->n - n0 : d->ni;
    const int64_t rows = g->oh - oh0 < d->tr ? g->oh - oh0 : d->tr, lt = rows * g->ow;
    const int64_t nf = g->f - f0 < pf ? g->f - f0 : pf;
    const int64_t pn = (nf + NB__CONV_LANES_F - 1) / NB__CONV_LANES_F; /* panels here */
    _Alignas(64) float tile[LN_TILE], st[LN_STAGE], wp[LN_WP];
    int32_t offs[LN_K], pos[LN_POS];
    offsets(g, d, d->cb, j->w->flip, offs, pos);
    for (int64_t c0 = 0; c0 < g->c; c0 += d->cb) {
        const int64_t cb = g->c - c0 < d->cb ? g->c - c0 : d->cb, kb = cb * kk;
        for (int64_t p = 0; p < pn; p++)
            pack(g, j->w, j->isa, f0 + p * NB__CONV_LANES_F, c0, cb,
                 wp + p * kb * NB__CONV_LANES_F);
        for (int64_t i = 0; i < ni; i++) {
            const int64_t ih0 = oh0 * g->sh - g->ph;
            const nb__conv_ahead ah = ahead_of(j, it, n0, ni, ih0, c0, i);
            const float *xi = j->x + (n0 + i) * g->c * g->h * g->w;
            if (j->isa == 0 || !nb__conv_lanes_stage_avx2(g, xi, c0, cb, ih0, d->sr, d->sw, &ah, st))
                nb__conv_stage_ahead(g, xi, c0, cb, ih0, d->sr, d->sw, &ah, st);
            for (int64_t p = 0; p < pn; p++) {
                const float *wq = wp + p * kb * NB__CONV_LANES_F;
                float *tq = tile + (p * d->ni + i) * d->lp * NB__CONV_LANES_F;
                if (j->isa >= 2 && p + 1 < pn &&
                    nb__conv_lanes_pair_run_avx512(st, pos, lt, offs, kb, wq,
                                                   wq + kb * NB__CONV_LANES_F, tq,
                                                   tq + d->ni * d->lp * NB__CONV_LANES_F,
                                                   c0 == 0)) {
                    p++;
                    continue;
                }
                run(j->isa, st, pos, lt, offs, kb, wq, tq, c0 == 0);
            }
        }
    }
    for (int64_t i = 0; i < ni; i++)
        for (int64_t p = 0; p < pn; p++) {
            const int64_t fp = f0 + p * NB__CONV_LANES_F;
            const int64_t np = g->f - fp < NB__CONV_LANES_F ? g->f - fp : NB__CONV_LANES_F;
            float *yp = j->y + ((n0 + i) * g->f + fp) * l + oh0 * g->ow;
            const float *tp = tile + (p * d->ni + i) * d->lp * NB__CONV_LANES_F;
            if (j->isa == 0 || !nb__conv_lanes_unpack_avx2(tp, lt, np, yp, l))
                for (int64_t v = 0; v < np; v++)
                    for (int64_t q = 0; q < lt; q++)
                        yp[v * l + q] = tp[q * NB__CONV_LANES_F + v];
            if (j->k && j->k->fz.n_ops)
                for (int64_t v = 0; v < np; v++)
                    nb__fused_program(&j->k->fz, j->in, (n0 + i) * g->f + fp + v, oh0 * g->ow,
                                      yp + v * l, lt);
        }
}

bool nb__conv_lanes(const nb__conv_geom *g, const nb__conv_weights *w, const float *x, float *y,
                    const nb__conv_kernel *k, const float *const *in, int isa)
{
    lanes_cut d;
    if (!lanes_cut_of(g, &d))
        return false;
    const lanes_job job = {.g = g, .d = &d, .w = w, .x = x, .y = y, .k = k, .in = in, .isa = isa};
    const int64_t pf = NB__CONV_LANES_F * d.pg;
    const int64_t items = (g->n + d.ni - 1) / d.ni * ((g->oh + d.tr - 1) / d.tr) *
                          ((g->f + pf - 1) / pf);
    const int64_t work = (int64_t)g->n * g->f * g->oh * g->ow * g->c * g->kh * g->kw;
    nb__par_items(items, work, lanes_item, &job);
    return true;
}
