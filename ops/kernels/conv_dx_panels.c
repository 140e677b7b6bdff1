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
 * around them, shaped for the forward's weights:
 *
 * - every item packed its panels' weights again, and in the input gradient
 *   a channel's taps lie apart from the next (runs of kh·kw floats, each an
 *   8×8 transposition and a scalar column): 4–6 % of the instructions at
 *   128 channels;
 * - the packed weights of all panels shared 32 KB, so 128 channels took
 *   blocks of 7 filters (63 column rows, and 128 = 18·7 + 2): each call of
 *   a block loaded and stored its twelve accumulators for 63 column rows;
 * - a call (and a CPU check) per block of 6 positions.
 *
 * Here W is packed once per call, [panel][f·kh·kw][16] (nb_malloc; the
 * forward form runs when that fails), a panel's column rows being a slice
 * of it; the blocks of filters are as even as ≤ 256 column rows allow
 * (a panel's slice, 16 KB, stays in L1 while every position runs over
 * it); and one call runs a panel over all of a tile's positions. The cut
 * of the work (output rows × images × panels), the staging (nb__conv_stage)
 * and the transposition into dx are the forward's.
 *
 * Each element is one chain of fused multiply-adds over the column rows
 * p = (f, i, j) ascending, from 0, dy's pixel at the flipped tap: the chain
 * of conv_lanes.c's blocks, so these blocks, the plain ones
 * (nb__conv_lanes_block_plain) and the forward form give the same bits, at
 * any thread count (tests/test_kernels_conv_dx.c).
 */
#include <string.h>

#include "conv_direct.h"
#include "conv_dx.h"
#include "conv_lanes.h"

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

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>

#define PN_FMA __attribute__((target("avx2,fma")))

/* t[q·16 + v] (+)= Σ_{p < kb} wp[p·16 + v]·st[pos[q] + offs[p]] for the tile's
 * positions q < lt, six at a time (the last block repeats the last
 * position): conv_lanes_fma.c's block, looped over the positions. */
static PN_FMA void panel_avx2(const float *st, const int32_t *pos, int64_t lt,
                              const int32_t *offs, int64_t kb, const float *wp, float *t,
                              bool first)
{
    for (int64_t q0 = 0; q0 < lt; q0 += PN_P, t += PN_P * PN_F) {
        const int64_t last = lt - 1;
        const float *b0 = st + pos[q0], *b1 = st + pos[q0 + 1 < lt ? q0 + 1 : last];
        const float *b2 = st + pos[q0 + 2 < lt ? q0 + 2 : last];
        const float *b3 = st + pos[q0 + 3 < lt ? q0 + 3 : last];
        const float *b4 = st + pos[q0 + 4 < lt ? q0 + 4 : last];
        const float *b5 = st + pos[q0 + 5 < lt ? q0 + 5 : last];
        /* six pointers, each broadcast one load from [b + o·4] (left to
         * itself GCC adds st and the offsets again for every broadcast) */
        __asm__("" : "+r"(b0), "+r"(b1), "+r"(b2), "+r"(b3), "+r"(b4), "+r"(b5));
        __m256 a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51;
        if (first) {
            a00 = a01 = a10 = a11 = a20 = a21 = _mm256_setzero_ps();
            a30 = a31 = a40 = a41 = a50 = a51 = _mm256_setzero_ps();
        } else {
            a00 = _mm256_loadu_ps(t + 0), a01 = _mm256_loadu_ps(t + 8);
            a10 = _mm256_loadu_ps(t + 16), a11 = _mm256_loadu_ps(t + 24);
            a20 = _mm256_loadu_ps(t + 32), a21 = _mm256_loadu_ps(t + 40);
            a30 = _mm256_loadu_ps(t + 48), a31 = _mm256_loadu_ps(t + 56);
            a40 = _mm256_loadu_ps(t + 64), a41 = _mm256_loadu_ps(t + 72);
            a50 = _mm256_loadu_ps(t + 80), a51 = _mm256_loadu_ps(t + 88);
        }
        for (int64_t p = 0; p < kb; p++) {
            const int64_t o = offs[p];
            const __m256 w0 = _mm256_loadu_ps(wp + p * 16), w1 = _mm256_loadu_ps(wp + p * 16 + 8);
            __m256 x = _mm256_broadcast_ss(b0 + o);
            a00 = _mm256_fmadd_ps(w0, x, a00), a01 = _mm256_fmadd_ps(w1, x, a01);
            x = _mm256_broadcast_ss(b1 + o);
            a10 = _mm256_fmadd_ps(w0, x, a10), a11 = _mm256_fmadd_ps(w1, x, a11);
            x = _mm256_broadcast_ss(b2 + o);
            a20 = _mm256_fmadd_ps(w0, x, a20), a21 = _mm256_fmadd_ps(w1, x, a21);
            x = _mm256_broadcast_ss(b3 + o);
            a30 = _mm256_fmadd_ps(w0, x, a30), a31 = _mm256_fmadd_ps(w1, x, a31);
            x = _mm256_broadcast_ss(b4 + o);
            a40 = _mm256_fmadd_ps(w0, x, a40), a41 = _mm256_fmadd_ps(w1, x, a41);
            x = _mm256_broadcast_ss(b5 + o);
            a50 = _mm256_fmadd_ps(w0, x, a50), a51 = _mm256_fmadd_ps(w1, x, a51);
        }
        _mm256_storeu_ps(t + 0, a00), _mm256_storeu_ps(t + 8, a01);
        _mm256_storeu_ps(t + 16, a10), _mm256_storeu_ps(t + 24, a11);
        _mm256_storeu_ps(t + 32, a20), _mm256_storeu_ps(t + 40, a21);
        _mm256_storeu_ps(t + 48, a30), _mm256_storeu_ps(t + 56, a31);
        _mm256_storeu_ps(t + 64, a40), _mm256_storeu_ps(t + 72, a41);
        _mm256_storeu_ps(t + 80, a50), _mm256_storeu_ps(t + 88, a51);
    }
}

/* nb__conv_stage's rows (zeros in the padding and the slack) by whole
 * vectors, the last of a run overlapping the one before: its runs of 14
 * or 28 floats went a float at a time past the first vectors (9 % of the
 * instructions at 32 channels on 14×14). (GCC would turn the zeros back
 * into a call of memset.) */
__attribute__((optimize("no-tree-loop-distribute-patterns"))) static PN_FMA void stage_avx2(const nb__conv_geom *g, const float *x, int64_t c0, int64_t cb,
                              int64_t ih0, int64_t sr, int64_t sw, float *dst)
{
    const __m256 z = _mm256_setzero_ps();
    const int64_t h = g->h, w = g->w, pw = g->pw; /* not reread past each store */
    for (int64_t c = 0; c < cb; c++)
        for (int64_t r = 0; r < sr; r++) {
            float *row = dst + (c * sr + r) * sw;
            const int64_t ih = ih0 + r;
            int64_t k = 0;
            for (; k + 8 <= sw; k += 8)
                _mm256_storeu_ps(row + k, z);
            if (k < sw && sw >= 8)
                _mm256_storeu_ps(row + sw - 8, z);
            else
                for (; k < sw; k++)
                    row[k] = 0.0f;
            if (ih < 0 || ih >= h)
                continue;
            const float *src = x + ((c0 + c) * h + ih) * w;
            float *to = row + pw;
            for (k = 0; k + 8 <= w; k += 8)
                _mm256_storeu_ps(to + k, _mm256_loadu_ps(src + k));
            if (k < w && w >= 8)
                _mm256_storeu_ps(to + w - 8, _mm256_loadu_ps(src + w - 8));
            else
                for (; k < w; k++)
                    to[k] = src[k];
        }
}
#define PN_HAVE_FMA 1
#else
#define PN_HAVE_FMA 0
#endif

/* The same sums by the plain block, six positions at a time. */
static void panel_plain(const float *st, const int32_t *pos, int64_t lt, const int32_t *offs,
                        int64_t kb, const float *wp, float *t, bool first)
{
    for (int64_t q0 = 0; q0 < lt; q0 += PN_P) {
        int32_t pq[PN_P];
        for (int q = 0; q < PN_P; q++) /* the last position again */
            pq[q] = pos[q0 + q < lt ? q0 + q : lt - 1];
        nb__conv_lanes_block_plain(st, pq, offs, kb, wp, t + q0 * PN_F, first);
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

/* Item it: output rows [oh0, oh0 + tr) of the images of group
 * it / (tiles·groups), by the channels of panel group it % groups, a block
 * of dy's filters at a time (each image's rows staged once for all
 * panels), then the tile transposed into dx. */
static void panels_item(const panels_job *j, int64_t it)
{
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
#if PN_HAVE_FMA
            if (j->fast)
                stage_avx2(g, x, c0, cb, oh0 - g->ph, d->sr, d->sw, st);
            else
#endif
                nb__conv_stage(g, x, c0, cb, oh0 - g->ph, d->sr, d->sw, st);
            for (int64_t q = 0; q < pn; q++) {
                const float *wq = j->wp + ((f0 / PN_F + q) * g->c + c0) * kk * PN_F;
                float *tq = tile + (q * d->ni + i) * d->lp * PN_F;
#if PN_HAVE_FMA
                if (j->fast) {
                    panel_avx2(st, pos, lt, offs, kb, wq, tq, c0 == 0);
                    continue;
                }
#endif
                panel_plain(st, pos, lt, offs, kb, wq, tq, c0 == 0);
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
                            .fast = fast && PN_HAVE_FMA && nb__conv_fma_cpu()};
    const int64_t pf = PN_F * cut.pg;
    const int64_t items = (g.n + cut.ni - 1) / cut.ni * ((g.oh + cut.tr - 1) / cut.tr) *
                          ((g.f + pf - 1) / pf);
    const int64_t work = d->n * d->c * kk * d->oh * d->ow * d->f;
    if (items > 1 && nb__par(work) && !omp_in_parallel()) {
#pragma omp parallel for schedule(static)
        for (int64_t t = 0; t < items; t++)
            panels_item(&job, t);
    } else {
        for (int64_t t = 0; t < items; t++)
            panels_item(&job, t);
    }
    nb_free(wp);
    return true;
}
