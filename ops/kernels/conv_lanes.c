/*
 * conv_lanes.c — the direct convolution with filters in the vector lanes
 * (conv_lanes.h): the cut of the work, the packing of a panel's weights,
 * the staging of whole images, the transposition of the sums into y with
 * the epilogue, the split across threads, and the plain block, the
 * reference the AVX2 block (conv_lanes_fma.c) is checked against.
 */
#include <string.h>

#include "conv_lanes.h"
#include "gemm.h"

/* Positions of an item's tile (its images, each padded to whole blocks),
 * floats of the stage (a block of channels of one image, whole), and
 * column rows of a block of channels: the tile stays in L2 and the
 * block's packed weights (16 KB) in L1 while every block of positions
 * runs over them. About 130 KB of stack. */
#define LN_POS 1024
#define LN_STAGE (12 * 1024)
#define LN_K 256
/* Positions an item aims for: a few small images share one packing. */
#define LN_AIM 400

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

/* How an item cuts its work, from the shape alone: each image staged as
 * sr rows of sw floats from image row -ph (column 0 being image column
 * -pw), cb channels at a time; ni images an item, each lp positions of
 * the tile (l rounded up to whole blocks). */
typedef struct lanes_cut {
    int64_t sr, sw, cb, ni, lp;
} lanes_cut;

static bool lanes_cut_of(const nb__conv_geom *g, lanes_cut *d)
{
    const int64_t kk = (int64_t)g->kh * g->kw, l = (int64_t)g->oh * g->ow;
    const int64_t reach = (int64_t)(g->ow - 1) * g->sw + (int64_t)(g->kw - 1) * g->dw + 1;
    d->sr = (int64_t)(g->oh - 1) * g->sh + (int64_t)(g->kh - 1) * g->dh + 1;
    d->sw = reach > g->pw + g->w ? reach : g->pw + g->w;
    d->lp = (l + NB__CONV_LANES_P - 1) / NB__CONV_LANES_P * NB__CONV_LANES_P;
    if (kk > LN_K || d->sr * d->sw > LN_STAGE || d->lp > LN_POS)
        return false;
    d->cb = LN_K / kk;
    if (d->cb > LN_STAGE / (d->sr * d->sw))
        d->cb = LN_STAGE / (d->sr * d->sw);
    if (d->cb > g->c)
        d->cb = g->c;
    d->ni = (LN_AIM + l - 1) / l;
    if (d->ni > LN_POS / d->lp)
        d->ni = LN_POS / d->lp;
    if (d->ni > g->n)
        d->ni = g->n;
    return true;
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
 * chains take them. */
static void pack(const nb__conv_geom *g, const nb__conv_weights *w, int64_t f0, int64_t c0,
                 int64_t cb, float *wp)
{
    const int64_t kk = (int64_t)g->kh * g->kw;
    for (int64_t v = 0; v < NB__CONV_LANES_F; v++) {
        if (f0 + v >= g->f) {
            for (int64_t p = 0; p < cb * kk; p++)
                wp[p * NB__CONV_LANES_F + v] = 0.0f;
            continue;
        }
        const float *src = w->a + (f0 + v) * w->lda + c0 * w->cs;
        for (int64_t c = 0; c < cb; c++)
            for (int64_t t = 0; t < kk; t++)
                wp[(c * kk + t) * NB__CONV_LANES_F + v] = src[c * w->cs + t];
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
    for (int64_t oh = 0; oh < g->oh; oh++)
        for (int64_t ow = 0; ow < g->ow; ow++)
            pos[q++] = (int32_t)(oh * g->sh * d->sw + ow * g->sw);
}

static void block(int isa, const float *st, const int32_t *pos, const int32_t *offs, int64_t kb,
                  const float *wp, float *t, bool first)
{
    if (isa == 0 || !nb__conv_lanes_block_avx2(st, pos, offs, kb, wp, t, first))
        nb__conv_lanes_block_plain(st, pos, offs, kb, wp, t, first);
}

/* Item it: the panel of filters it % panels for the images of group
 * it / panels, a block of channels at a time, then the tile into y and
 * the epilogue. */
static void lanes_item(const lanes_job *j, int64_t it)
{
    const nb__conv_geom *g = j->g;
    const lanes_cut *d = j->d;
    const int64_t kk = (int64_t)g->kh * g->kw, l = (int64_t)g->oh * g->ow;
    const int64_t panels = (g->f + NB__CONV_LANES_F - 1) / NB__CONV_LANES_F;
    const int64_t f0 = it % panels * NB__CONV_LANES_F, n0 = it / panels * d->ni;
    const int64_t ni = g->n - n0 < d->ni ? g->n - n0 : d->ni;
    const int64_t nf = g->f - f0 < NB__CONV_LANES_F ? g->f - f0 : NB__CONV_LANES_F;
    _Alignas(64) float tile[LN_POS * NB__CONV_LANES_F], st[LN_STAGE], wp[LN_K * NB__CONV_LANES_F];
    int32_t offs[LN_K], pos[LN_POS];
    offsets(g, d, d->cb, j->w->flip, offs, pos);
    for (int64_t c0 = 0; c0 < g->c; c0 += d->cb) {
        const int64_t cb = g->c - c0 < d->cb ? g->c - c0 : d->cb;
        pack(g, j->w, f0, c0, cb, wp);
        for (int64_t i = 0; i < ni; i++) {
            nb__conv_stage(g, j->x + (n0 + i) * g->c * g->h * g->w, c0, cb, -(int64_t)g->ph,
                           d->sr, d->sw, st);
            for (int64_t q0 = 0; q0 < l; q0 += NB__CONV_LANES_P) {
                int32_t pq[NB__CONV_LANES_P];
                for (int q = 0; q < NB__CONV_LANES_P; q++) /* the last position again */
                    pq[q] = pos[q0 + q < l ? q0 + q : l - 1];
                block(j->isa, st, pq, offs, cb * kk, wp, tile + (i * d->lp + q0) * NB__CONV_LANES_F,
                      c0 == 0);
            }
        }
    }
    for (int64_t i = 0; i < ni; i++)
        for (int64_t v = 0; v < nf; v++) {
            float *yr = j->y + ((n0 + i) * g->f + f0 + v) * l;
            const float *tr = tile + i * d->lp * NB__CONV_LANES_F + v;
            for (int64_t q = 0; q < l; q++)
                yr[q] = tr[q * NB__CONV_LANES_F];
            if (j->k && j->k->fz.n_ops)
                nb__fused_program(&j->k->fz, j->in, (n0 + i) * g->f + f0 + v, 0, yr, l);
        }
}

bool nb__conv_lanes(const nb__conv_geom *g, const nb__conv_weights *w, const float *x, float *y,
                    const nb__conv_kernel *k, const float *const *in, int isa)
{
    lanes_cut d;
    if (!lanes_cut_of(g, &d))
        return false;
    const lanes_job job = {.g = g, .d = &d, .w = w, .x = x, .y = y, .k = k, .in = in, .isa = isa};
    const int64_t panels = (g->f + NB__CONV_LANES_F - 1) / NB__CONV_LANES_F;
    const int64_t items = (g->n + d.ni - 1) / d.ni * panels;
    const int64_t work = (int64_t)g->n * g->f * g->oh * g->ow * g->c * g->kh * g->kw;
    if (items > 1 && nb__par(work) && !omp_in_parallel()) {
#pragma omp parallel for schedule(static)
        for (int64_t t = 0; t < items; t++)
            lanes_item(&job, t);
    } else {
        for (int64_t t = 0; t < items; t++)
            lanes_item(&job, t);
    }
    return true;
}
