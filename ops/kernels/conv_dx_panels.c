/*
 * conv_dx_panels.c — a convolution's input gradient for stride 1 with the
 * channels of dx in the lanes and W packed once per call (conv_dx.h).
 *
 * With stride 1 the input gradient is the forward convolution of dy by the
 * flipped kernel (nb__conv_dx_direct), and where dx's channels fill vectors
 * of 16 that runs on the forward's filters-in-lanes blocks (conv_lanes.c):
 * 16 channels × 6 positions in twelve accumulators, per column row (f, i,
 * j) two loads of packed weights, six broadcasts of staged dy, twelve FMAs.
 * Those blocks ran at the FMA peak, yet were 80 % of the time (perf,
 * callgrind: 3×3, 32–128 channels); the rest was the forward's driver
 * around them, shaped for the forward's weights: every item packed its
 * panels' weights again, and in the input gradient a channel's taps lie
 * apart from the next (runs of kh·kw floats, each a transposition of its
 * own: 4–6 % of the instructions at 128 channels); and the packed weights
 * of all panels share 32 KB, so 128 channels took blocks of 7 filters (63
 * column rows a run of blocks, each block loading and storing its twelve
 * accumulators again, and 128 = 18·7 + 2 leaving a block of 2).
 *
 * Here W is packed once per call, [panel][f·kh·kw][16] (nb_malloc; the
 * forward form runs when that fails), a panel's column rows being a slice
 * of it, and the blocks of filters are as even as ≤ 256 column rows allow
 * (a panel's slice, 16 KB, stays in L1 while every position runs over
 * it). The cut of the work (output rows × images × panels) follows
 * conv_lanes.c's with a tile of its own; the blocks' runs
 * (nb__conv_lanes_run_avx2), the staging with the next stage's rows
 * prefetched, and the transposition into dx are the forward's.
 *
 * Each element is one chain of fused multiply-adds over the column rows
 * p = (f, i, j) ascending, from 0, dy's pixel at the flipped tap: the chain
 * of conv_lanes.c's blocks, so the AVX2 runs, the plain ones
 * (nb__conv_lanes_run_plain) and the forward form give the same bits, at
 * any thread count (tests/test_kernels_conv_dx.c).
 */
#include <string.h>

#include "conv_direct.h"
#include "conv_dx.h"
#include "conv_lanes.h"
#include "par.h"

#define PN_F NB__CONV_LANES_F
#define PN_P NB__CONV_LANES_P

/* Floats of an item's tile (its positions by its panels' 16 channels, in
 * L2: 100 KB holds a whole 14×14 image at 128 channels, whose tiles of 7
 * rows padded 98 positions to 102, and a whole 28×28 image at 32: those
 * two ran 1.05–1.15× faster than with 96 KB) and of the stage (a block of
 * filters of the item's dy rows); the most column rows of a block (a
 * panel's slice of the packed weights, 16 KB, in L1) and positions of an
 * image. Positions an item aims for at
 * least: a few small images share one item, and rows are cut no shorter
 * when panels share them. */
#define PN_TILE (25 * 1024)
#define PN_STAGE (8 * 1024)
#define PN_K 256
#define PN_POS 1024
#define PN_AIM 400
#define PN_MIN 96

/* How an item cuts its work, from the shape alone: tr output rows of ni
 * images (ni > 1 only for whole images) by pg panels of 16 channels; each
 * image's dy rows staged as sr rows of sw floats, cb filters at a time;
 * lp positions of the tile an image (tr·ow rounded up to whole blocks). */
typedef struct panels_cut {
    int64_t tr, ni, pg, sr, sw, cb, lp;
} panels_cut;

static int64_t whole_blocks(int64_t n)
{
    return (n + PN_P - 1) / PN_P * PN_P;
}

/* g is the forward form's geometry (nb__conv_dx_geom): its filters are
 * dx's channels, its channels dy's filters. */
static bool cut_of(const nb__conv_geom *g, panels_cut *d)
{
    const int64_t kk = (int64_t)g->kh * g->kw, l = (int64_t)g->oh * g->ow;
    const int64_t panels = (g->f + PN_F - 1) / PN_F;
    const int64_t reach = (int64_t)(g->ow - 1) + (int64_t)(g->kw - 1) * g->dw + 1;
    if (kk > PN_K || g->ow > PN_POS || g->sh != 1 || g->sw != 1)
        return false;
    /* every panel on one staging of the rows, unless that leaves rows
     * shorter than PN_MIN positions: then half the panels, and so on */
    for (d->pg = panels;; d->pg = (d->pg + 1) / 2) {
        int64_t most = PN_TILE / (PN_F * d->pg);
        most = most > PN_POS ? PN_POS : most;
        d->tr = most / g->ow;
        while (d->tr > 0 && whole_blocks(d->tr * g->ow) > most)
            d->tr--;
        if (d->tr > g->oh)
            d->tr = g->oh;
        if ((d->tr * g->ow >= PN_MIN || d->tr == g->oh || d->pg == 1) && d->tr >= 1)
            break;
        if (d->pg == 1)
            return false;
    }
    const int64_t tiles = (g->oh + d->tr - 1) / d->tr;
    d->tr = (g->oh + tiles - 1) / tiles; /* even tiles */
    d->lp = whole_blocks(d->tr * g->ow);
    d->ni = 1;
    if (d->tr == g->oh) {
        d->ni = (PN_AIM + l - 1) / l;
        const int64_t most = PN_TILE / (PN_F * d->pg * d->lp);
        d->ni = d->ni > most ? most : d->ni > g->n ? g->n : d->ni;
    }
    d->sr = d->tr - 1 + (int64_t)(g->kh - 1) * g->dh + 1;
    d->sw = reach > g->pw + g->w ? reach : g->pw + g->w;
    d->sw = (d->sw + 7) / 8 * 8; /* whole AVX2 vectors a staged row */
    /* the fewest blocks of filters the column rows and the stage allow,
     * then as even as they go: no short block at the end */
    int64_t cb = PN_K / kk;
    if (cb > PN_STAGE / (d->sr * d->sw))
        cb = PN_STAGE / (d->sr * d->sw);
    if (cb < 1)
        return false;
    const int64_t blocks = (g->c + cb - 1) / cb;
    d->cb = (g->c + blocks - 1) / blocks;
    return d->ni >= 1 && d->lp <= PN_POS;
}

bool nb__conv_dx_panels_takes(const nb__conv_dx *d)
{
    nb__conv_geom g;
    panels_cut cut;
    return nb__conv_dx_geom(d, &g) && cut_of(&g, &cut);
}

/* W [f, c, kh, kw] → wp [panel][f·kh·kw][16]: wp[((q·F + f)·kk + t)·16 + v]
 * = W[f, 16q + v, t], zeros past the last channel. */
static void pack(const nb__conv_dx *d, const float *w, float *wp)
{
    const int64_t kk = d->kh * d->kw, panels = (d->c + PN_F - 1) / PN_F;
    for (int64_t q = 0; q < panels; q++)
        for (int64_t f = 0; f < d->f; f++) {
            const float *src = w + (f * d->c + q * PN_F) * kk;
            float *dst = wp + (q * d->f + f) * kk * PN_F;
            const int64_t nv = d->c - q * PN_F < PN_F ? d->c - q * PN_F : PN_F;
            for (int64_t t = 0; t < kk; t++)
                for (int64_t v = 0; v < PN_F; v++)
                    dst[t * PN_F + v] = v < nv ? src[v * kk + t] : 0.0f;
        }
}

/* What an item reads and writes. */
typedef struct panels_job {
    const nb__conv_geom *g;
    const panels_cut *d;
    const float *wp, *dy;
    float *dx;
    bool fast;
} panels_job;

/* Where the stage after that of image n0 + i, filters from c0, in item it
 * reads (conv_lanes.c's rule): the item's next image, its next block of
 * filters, or the first block of item it + 1, the one this thread runs
 * next unless it is taking another's items (par.h); nothing after the
 * last item. */
static nb__conv_ahead ahead_of(const panels_job *j, int64_t it, int64_t n0, int64_t ni,
                               int64_t ih0, int64_t c0, int64_t i)
{
    const nb__conv_geom *g = j->g;
    const panels_cut *d = j->d;
    const int64_t chw = (int64_t)g->c * g->h * g->w, pf = PN_F * d->pg;
    const int64_t groups = (g->f + pf - 1) / pf, tiles = (g->oh + d->tr - 1) / d->tr;
    const int64_t next = it + 1, items = (g->n + d->ni - 1) / d->ni * tiles * groups;
    if (i + 1 < ni)
        return (nb__conv_ahead){.x = j->dy + (n0 + i + 1) * chw, .c0 = c0, .ih0 = ih0};
    if (c0 + d->cb < g->c)
        return (nb__conv_ahead){.x = j->dy + n0 * chw, .c0 = c0 + d->cb, .ih0 = ih0};
    if (next >= items)
        return (nb__conv_ahead){.x = j->dy, .c0 = 0, .ih0 = g->h}; /* no row inside */
    return (nb__conv_ahead){.x = j->dy + next / groups / tiles * d->ni * chw, .c0 = 0,
                            .ih0 = next / groups % tiles * d->tr - g->ph};
}

/* Item it: output rows [oh0, oh0 + tr) of the images of group
 * it / (tiles·groups), by the channels of panel group it % groups, a block
 * of dy's filters at a time (each image's rows staged once for all
 * panels), then the tile transposed into dx. */
static void panels_item(const void *ctx, int64_t it)
{
    const panels_job *j = ctx;
    const nb__conv_geom *g = j->g;
    const panels_cut *d = j->d;
    const int64_t kk = (int64_t)g->kh * g->kw, l = (int64_t)g->oh * g->ow;
    const int64_t pf = PN_F * d->pg; /* channels of the group */
    const int64_t groups = (g->f + pf - 1) / pf, tiles = (g->oh + d->tr - 1) / d->tr;
    const int64_t f0 = it % groups * pf, oh0 = it / groups % tiles * d->tr;
    const int64_t n0 = it / groups / tiles * d->ni, ni = g->n - n0 < d->ni ? g->n - n0 : d->ni;
    const int64_t rows = g->oh - oh0 < d->tr ? g->oh - oh0 : d->tr, lt = rows * g->ow;
    const int64_t nf = g->f - f0 < pf ? g->f - f0 : pf;
    const int64_t pn = (nf + PN_F - 1) / PN_F; /* panels here */
    _Alignas(64) float tile[PN_TILE], st[PN_STAGE];
    int32_t offs[PN_K], pos[PN_POS];
    /* column row (f, i, j) of a block reads dy's tap (kh-1-i, kw-1-j) */
    int64_t p = 0;
    for (int64_t c = 0; c < d->cb; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t jj = 0; jj < g->kw; jj++)
                offs[p++] = (int32_t)((c * d->sr + (g->kh - 1 - i) * g->dh) * d->sw +
                                      (g->kw - 1 - jj) * g->dw);
    for (int64_t q = 0, r = 0; r < rows; r++)
        for (int64_t ow = 0; ow < g->ow; ow++)
            pos[q++] = (int32_t)(r * d->sw + ow);
    for (int64_t c0 = 0; c0 < g->c; c0 += d->cb) {
        const int64_t cb = g->c - c0 < d->cb ? g->c - c0 : d->cb, kb = cb * kk;
        for (int64_t i = 0; i < ni; i++) {
            const float *x = j->dy + (n0 + i) * g->c * g->h * g->w;
            const int64_t ih0 = oh0 - g->ph;
            const nb__conv_ahead ah = ahead_of(j, it, n0, ni, ih0, c0, i);
            if (!j->fast || !nb__conv_lanes_stage_avx2(g, x, c0, cb, ih0, d->sr, d->sw, &ah, st))
                nb__conv_stage_ahead(g, x, c0, cb, ih0, d->sr, d->sw, &ah, st);
            for (int64_t q = 0; q < pn; q++) {
                const float *wq = j->wp + ((f0 / PN_F + q) * g->c + c0) * kk * PN_F;
                float *tq = tile + (q * d->ni + i) * d->lp * PN_F;
                if (!j->fast || !nb__conv_lanes_run_avx2(st, pos, lt, offs, kb, wq, tq, c0 == 0))
                    nb__conv_lanes_run_plain(st, pos, lt, offs, kb, wq, tq, c0 == 0);
            }
        }
    }
    for (int64_t i = 0; i < ni; i++)
        for (int64_t q = 0; q < pn; q++) {
            const int64_t fq = f0 + q * PN_F;
            const int64_t nq = g->f - fq < PN_F ? g->f - fq : PN_F;
            float *y = j->dx + ((n0 + i) * g->f + fq) * l + oh0 * g->ow;
            const float *tq = tile + (q * d->ni + i) * d->lp * PN_F;
            if (!j->fast || !nb__conv_lanes_unpack_avx2(tq, lt, nq, y, l))
                for (int64_t v = 0; v < nq; v++)
                    for (int64_t k = 0; k < lt; k++)
                        y[v * l + k] = tq[k * PN_F + v];
        }
}

bool nb__conv_dx_panels(const nb__conv_dx *d, bool fast, const float *const *in, float *out)
{
    nb__conv_geom g;
    panels_cut cut;
    if (!nb__conv_dx_geom(d, &g) || !cut_of(&g, &cut))
        return false;
    const int64_t kk = d->kh * d->kw, panels = (d->c + PN_F - 1) / PN_F;
    float *wp = nb_malloc((size_t)(panels * PN_F * d->f * kk) * sizeof(float));
    if (!wp)
        return false;
    pack(d, in[0], wp);
    const panels_job job = {.g = &g, .d = &cut, .wp = wp, .dy = in[1], .dx = out,
                            .fast = fast && nb__conv_fma_cpu()};
    const int64_t pf = PN_F * cut.pg;
    const int64_t items = (g.n + cut.ni - 1) / cut.ni * ((g.oh + cut.tr - 1) / cut.tr) *
                          ((g.f + pf - 1) / pf);
    const int64_t work = d->n * d->c * kk * d->oh * d->ow * d->f;
    nb__par_items(items, work, panels_item, &job);
    nb_free(wp);
    return true;
}
