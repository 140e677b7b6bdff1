/*
 * conv_wg.c — the weight gradient of a convolution without its columns
 * (conv_direct.h): dW [F, C·kh·kw] = Σ over images n and positions l of
 * dy[n, f, l]·cols[n, p, l], as an outer product whose block of dW stays
 * in vector registers while a tile of positions goes by:
 *
 *     for each position l of the tile:
 *         dW[p .. p+R, f .. f+16·S] += cols[l, p .. p+R] ⊗ dy[l, f .. f+16·S]
 *
 * The vectors run along the filters: dy's tile is transposed once into
 * dyt [positions, filters] (a few KB, shared by every column row of the
 * item; a tile of whole output rows is one run of positions), and each
 * column entry is one broadcast straight from the staged image rows
 * (unfold2d's window arithmetic as an offset per column row), or from the
 * image itself when there is no padding (nothing staged: LeNet-5's second
 * layer), so the columns are never packed at all.
 *
 * Work items are blocks of filters by blocks of channels, fixed by the
 * shape alone — times chunks of the batch when those are too few to keep
 * the threads busy (wg_chunks); each item sums over every image of its
 * chunk and position in order:
 * each output is one chain of fused multiply-adds per tile (positions
 * ascending, at most 128 of them), each tile's sum added to the output's
 * running sum tile by tile, image by image (two levels: a single chain
 * over a whole batch loses digits), the same sums in the plain loops here
 * and in the vector panels of conv_direct_simd.h, the chunks' sums added
 * in chunk order: the same bits at any thread count and on any path.
 *
 * Layers of few filters (LeNet-5's first: 6, in 6 of 16 lanes) whose
 * output rows fill vectors better take conv_wg.h's tiles instead, the
 * vectors running along a row of positions; every lane sums its positions
 * tile by tile, image by image, and the eight lanes are added once, at the
 * end of the item, in one fixed order.
 */
#include <string.h>

#include "conv_direct.h"
#include "conv_wg.h"
#include "gemm.h"
#include "par.h"

/* Positions a tile of the filter tiles aims at (whole output rows when
 * they are shorter; WG_POS vectors a lane for the position tiles), the
 * most filters and column rows of an item, and floats of its staged rows:
 * dyt (≤ 49 KB; a panel's slice of 16 filters, ≤ 12.3 KB, in L1) and the
 * staged rows (≤ 64 KB) stay in L1/L2 over every panel of the tile, the
 * accumulators (≤ 128 KB) in L2, each panel's block of them in registers
 * over the whole tile. 196 positions: a whole 14×14 image a tile, 7 rows
 * of 28 (with 128, tiles of 9 and 5 rows of 14 and of 4 rows of 28 staged
 * 18 rows of 16 an image where 16 do, 42 rows of 30 where 36 do, and each
 * panel's set-up and sums weighed on fewer multiply-adds). */
#define WG_POS 128
#define WG_FPOS 196
#define WG_F 64
#define WG_P 512
#define WG_STAGE (16 * 1024)

/* How the weight gradient cuts its work, from the shape alone: fb filters
 * and cb channels an item; tiles of tr output rows by cols positions; the
 * tile's image rows staged as sr rows of sw floats (column 0 being image
 * column -pw); positions or filters in the lanes (pos). */
typedef struct wg_cut {
    int64_t fb, cb, tr, cols, sr, sw;
    bool pos, flat;
} wg_cut;

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Positions in the lanes when the filters are few (one block of at most
 * WG_PF) and a row of positions fills 8-lane vectors better than the
 * filters fill their 16 lanes; only for column stride 1 (the positions of
 * a vector read consecutive pixels). */
#define WG_PF 12

/* Floats of room in the flat tiles' stage buffer beyond the staged rows
 * and their shifted copies (conv_wg.h's nb__conv_wgp_shift_avx2 reads
 * (kw - 1)·dw + 7 past the staged rows, writes 7 past the copies; the
 * copies start on a whole vector). */
static int64_t wg_slack(const nb__conv_geom *g)
{
    return (int64_t)(g->kw - 1) * g->dw + 24;
}

static bool wg_by_positions(const nb__conv_geom *g)
{
    const int64_t fv = (g->f + 15) / 16 * 16, pv = ((int64_t)g->ow + 7) / 8 * 8;
    return g->sw == 1 && g->f <= WG_PF && (int64_t)g->ow * fv > (int64_t)g->f * pv;
}

static int64_t wg_chunks(const nb__conv_geom *g, int64_t items);

/* The cut of g; false when the staged rows of one channel or one channel's
 * column rows do not fit an item. */
static bool wg_cut_of(const nb__conv_geom *g, wg_cut *d)
{
    const int64_t kk = (int64_t)g->kh * g->kw, fblocks = (g->f + WG_F - 1) / WG_F;
    d->pos = wg_by_positions(g);
    d->fb = (g->f + fblocks - 1) / fblocks;
    d->cols = min64(g->ow, WG_FPOS);
    d->tr = min64(WG_FPOS / d->cols, g->oh);
    if (d->pos) { /* whole rows, each lane's chain at most WG_POS long */
        d->cols = g->ow;
        d->tr = min64(g->oh, WG_POS / ((d->cols + 7) / 8) > 1 ? WG_POS / ((d->cols + 7) / 8) : 1);
    }
    d->sr = (d->tr - 1) * g->sh + (int64_t)(g->kh - 1) * g->dh + 1;
    d->sw = (int64_t)g->w + 2 * g->pw;
    int64_t cb = min64(WG_P / kk, g->c);
    /* flat tiles: a channel's staged rows and their kw shifted copies */
    const int64_t flat_cb = (WG_STAGE - wg_slack(g)) / (d->sr * (d->sw + g->kw * (int64_t)g->ow));
    d->flat = d->pos && g->sh == 1 && flat_cb >= 1;
    cb = min64(cb, d->flat ? flat_cb : WG_STAGE / (d->sr * d->sw));
    if (d->pos) /* eight sums a weight */
        cb = min64(cb, WG_P * WG_F / NB__CONV_WGP_LANES / (d->fb * kk));
    if (cb < 1 || g->f < 1)
        return false;
    int64_t cblocks = (g->c + cb - 1) / cb;
    /* two items at least where the channels allow and the batch is too
     * small to be cut into chunks (wg_chunks), so that two threads share a
     * layer of few filters and channels; its dy tiles are then transposed
     * twice. A larger batch goes in chunks of one item instead, each dy
     * tile transposed once (LeNet-5's second layer at batch 64: 150 column
     * rows, 25 whole panels of 6, in 8 chunks, where two items of 75 had
     * 12 panels and a half one each) */
    if (fblocks * cblocks < 2 && g->c >= 2 && wg_chunks(g, 1) < 2)
        cblocks = 2;
    d->cb = (g->c + cblocks - 1) / cblocks;
    return true;
}

bool nb__conv_wg_fits(const nb__conv_geom *g)
{
    wg_cut d;
    return wg_cut_of(g, &d);
}

/* ---------------------------------------------------------------- plain tile */

void nb__conv_wg_tile_plain(const nb__conv_wg_tile *t)
{
    for (int64_t p = 0; p < t->np; p++)
        for (int64_t f = 0; f < t->fp; f++) {
            float a = 0.0f;
            for (int64_t y = 0; y < t->rows; y++)
                for (int64_t x = 0; x < t->cols; x++)
                    a = NB__MADD(t->st[t->offs[p] + y * t->rstep + x * t->cstep],
                                 t->dyt[(y * t->cols + x) * t->fp + f], a);
            t->acc[p * t->fp + f] += a;
        }
}

/* The tile by the widest vector panels this CPU has, or the plain loops:
 * the same bits whichever. */
static void wg_tile(const nb__conv_wg_tile *t)
{
    if (!nb__conv_wg_tile_avx512(t) && !nb__conv_wg_tile_avx2(t))
        nb__conv_wg_tile_plain(t);
}

void nb__conv_wgp_tile_plain(const nb__conv_wgp_tile *t)
{
    enum { LN = NB__CONV_WGP_LANES };
    const int64_t xe = (t->cols + LN - 1) / LN * LN; /* the row's vectors' lanes */
    for (int64_t p = 0; p < t->np; p++)
        for (int64_t f = 0; f < t->nf; f++)
            for (int64_t j = 0; j < LN; j++) {
                float a = 0.0f;
                for (int64_t y = 0; y < t->rows; y++)
                    for (int64_t x = j; x < xe; x += LN) {
                        const bool in = x < t->cols;
                        a = NB__MADD(in ? t->st[t->offs[p] + y * t->rstep + x] : 0.0f,
                                     in ? t->dy[f * t->ldf + y * t->ldy + x] : 0.0f, a);
                    }
                t->acc[(p * t->nf + f) * LN + j] += a;
            }
}

static void wgp_tile(const nb__conv_wgp_tile *t)
{
    if (!nb__conv_wgp_tile_avx2(t))
        nb__conv_wgp_tile_plain(t);
}

/* ---------------------------------------------------------------- items */

void nb__conv_wg_transpose_plain(const nb__conv_wg_dy *t)
{
    for (int64_t f = 0; f < t->fp; f++)
        for (int64_t y = 0; y < t->rows; y++)
            for (int64_t x = 0; x < t->cols; x++)
                t->dyt[(y * t->cols + x) * t->fp + f] =
                    f < t->nf ? t->dy[f * t->l + (t->oh0 + y) * t->ow + t->ow0 + x] : 0.0f;
}

void nb__conv_wgp_shift_plain(const nb__conv_wgp_shift *t)
{
    for (int64_t c = 0; c < t->nc; c++)
        for (int64_t kx = 0; kx < t->kw; kx++)
            for (int64_t r = 0; r < t->sr; r++)
                for (int64_t x = 0; x < t->ow; x++)
                    t->out[((c * t->kw + kx) * t->sr + r) * t->ow + x] =
                        t->st[(c * t->sr + r) * t->sw + kx * t->dw + x];
}

/* wg_item by position tiles: the item's nf filters (all of them), whole
 * output rows a tile, each weight's eight lane sums added at the end.
 *
 * With row stride 1 the tiles are flat (d->flat): the staged rows are
 * copied once per kernel column, shifted by kx·dw (conv_wg.h's
 * nb__conv_wgp_shift), so that a tile's rows × ow output positions,
 * flattened, meet each column row's pixels at the same stride as dy's:
 * the tile is one row of rows·ow positions, lane j summing the positions
 * i ≡ j (mod 8) of the flattened tile in ascending order (LeNet-5's first
 * layer: 98 vectors an image, no padding lanes, one masked vector at most
 * a tile). The row form (row stride > 1) sums, per output row, the
 * positions x ≡ j (mod 8) of the row, a partial vector at each row's end. */
static void wg_item_pos(const nb__conv_kernel *k, const wg_cut *d, const float *const *in,
                        float *out, int64_t t, int64_t n0, int64_t n1)
{
    const nb__conv_geom *g = &k->g;
    const int64_t kk = (int64_t)g->kh * g->kw, ck = g->c * kk, l = (int64_t)g->oh * g->ow;
    const int64_t nf = g->f, c0 = t * d->cb, nc = min64(d->cb, g->c - c0), np = nc * kk;
    enum { LN = NB__CONV_WGP_LANES };
    _Alignas(64) float acc[WG_P * WG_F], st[WG_STAGE];
    int32_t offs[WG_P];
    memset(acc, 0, (size_t)(np * nf * LN) * sizeof(float));
    /* flat: the shifted copies after the staged rows and their room */
    const int64_t staged = nc * d->sr * d->sw;
    const int64_t so = (staged + (int64_t)(g->kw - 1) * g->dw + 8 + 7) / 8 * 8;
    const nb__conv_wgp_shift sh = {.st = st, .out = st + so, .nc = nc, .kw = g->kw,
                                   .dw = g->dw, .sr = d->sr, .sw = d->sw, .ow = g->ow};
    if (d->flat)
        memset(st + staged, 0, (size_t)(so - staged) * sizeof(float));
    for (int64_t p = 0; p < np; p++) {
        const int64_t c = p / kk, ky = p % kk / g->kw, kx = p % g->kw;
        offs[p] = (int32_t)(d->flat ? ((c * g->kw + kx) * d->sr + ky * g->dh) * g->ow
                                    : (c * d->sr + ky * g->dh) * d->sw + kx * g->dw);
    }
    nb__conv_wgp_tile tl = {.np = np, .nf = nf, .cols = g->ow, .rstep = g->sh * d->sw,
                            .ldf = l, .ldy = g->ow, .offs = offs, .st = d->flat ? sh.out : st,
                            .acc = acc};
    for (int64_t n = n0; n < n1; n++) {
        const float *x = in[1] + n * g->c * g->h * g->w, *dy = in[0] + n * g->f * l;
        for (int64_t oh0 = 0; oh0 < g->oh; oh0 += d->tr) {
            const int64_t rows = min64(d->tr, g->oh - oh0);
            nb__conv_stage(g, x, c0, nc, oh0 * g->sh - g->ph, d->sr, d->sw, st);
            if (d->flat) {
                if (!nb__conv_wgp_shift_avx2(&sh))
                    nb__conv_wgp_shift_plain(&sh);
                tl.rows = 1;
                tl.cols = tl.ldy = tl.rstep = rows * g->ow;
            } else
                tl.rows = rows;
            tl.dy = dy + oh0 * g->ow;
            wgp_tile(&tl);
        }
    }
    for (int64_t f = 0; f < nf; f++)
        for (int64_t p = 0; p < np; p++) {
            const float *a = acc + (p * nf + f) * LN;
            out[f * ck + c0 * kk + p] =
                ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
        }
}

/* Item t: filters [f0, f0 + nf) by channels [c0, c0 + nc), summed over
 * images [n0, n1) and every tile of positions in order, then written to
 * out [F, C·kh·kw] (dW, or a chunk's partial sums). */
static void wg_item(const nb__conv_kernel *k, const wg_cut *d, const float *const *in, float *out,
                    int64_t t, int64_t n0, int64_t n1)
{
    const nb__conv_geom *g = &k->g;
    if (d->pos) {
        wg_item_pos(k, d, in, out, t, n0, n1);
        return;
    }
    const int64_t kk = (int64_t)g->kh * g->kw, ck = g->c * kk, l = (int64_t)g->oh * g->ow;
    const int64_t fblocks = (g->f + d->fb - 1) / d->fb;
    const int64_t f0 = t % fblocks * d->fb, c0 = t / fblocks * d->cb;
    const int64_t nf = min64(d->fb, g->f - f0), nc = min64(d->cb, g->c - c0), np = nc * kk;
    const int64_t fp = (nf + NB__CONV_WG_LANES - 1) / NB__CONV_WG_LANES * NB__CONV_WG_LANES;
    _Alignas(64) float acc[WG_P * WG_F], st[WG_STAGE], dyt[WG_FPOS * WG_F];
    int32_t offs[WG_P];
    memset(acc, 0, (size_t)(np * fp) * sizeof(float));
    /* Without padding every pixel a tile reads lies in the image: the
     * panels read x itself (channels h·w apart, rows w), nothing staged */
    const bool direct = g->ph == 0 && g->pw == 0;
    const int64_t cs = direct ? (int64_t)g->h * g->w : d->sr * d->sw, rs = direct ? g->w : d->sw;
    for (int64_t p = 0; p < np; p++)
        offs[p] = (int32_t)(p / kk * cs + p % kk / g->kw * g->dh * rs + p % g->kw * g->dw);
    nb__conv_wg_tile tl = {.np = np, .fp = fp, .rstep = g->sh * rs, .cstep = g->sw,
                           .offs = offs, .dyt = dyt, .acc = acc};
    for (int64_t n = n0; n < n1; n++) {
        const float *x = in[1] + n * g->c * g->h * g->w, *dy = in[0] + (n * g->f + f0) * l;
        for (int64_t oh0 = 0; oh0 < g->oh; oh0 += d->tr) {
            tl.rows = min64(d->tr, g->oh - oh0);
            const float *sb = st;
            if (direct)
                sb = x + (c0 * g->h + oh0 * g->sh) * g->w;
            else
                nb__conv_stage(g, x, c0, nc, oh0 * g->sh - g->ph, d->sr, d->sw, st);
            for (int64_t ow0 = 0; ow0 < g->ow; ow0 += d->cols) {
                tl.cols = min64(d->cols, g->ow - ow0);
                /* a tile of whole rows is one run of dy a filter: transposed
                 * as one row, 8 positions at a time across the rows' ends */
                const bool whole = tl.cols == g->ow;
                const nb__conv_wg_dy td = {.dy = dy, .dyt = dyt, .l = l, .ow = g->ow,
                                           .oh0 = oh0, .ow0 = ow0, .rows = whole ? 1 : tl.rows,
                                           .cols = whole ? tl.rows * tl.cols : tl.cols,
                                           .nf = nf, .fp = fp};
                if (!nb__conv_wg_transpose_avx512(&td) && !nb__conv_wg_transpose_avx2(&td))
                    nb__conv_wg_transpose_plain(&td);
                tl.st = sb + ow0 * g->sw;
                wg_tile(&tl);
            }
        }
    }
    for (int64_t f = 0; f < nf; f++)
        for (int64_t p = 0; p < np; p++)
            out[(f0 + f) * ck + c0 * kk + p] = acc[p * fp + f];
}

/*
 * How many chunks of the batch the weight gradient sums apart, from the
 * shape alone: with fewer than WG_ITEMS items (LeNet-5's convolutions, 6
 * filters × 1 channel and 16 × 6, are one item each) the other threads
 * would idle, so the batch is cut into chunks of at least WG_CHUNK_N
 * images, enough for WG_ITEMS items, whose partial sums (WG_PART floats at
 * most, on the caller's stack) are added in chunk order. Chunks are
 * consecutive images, so in its own range (par.h) each thread reads the
 * images the forward and input-gradient steps gave it. Their count is a
 * power of two, so that items × chunks split evenly over 2 or 4 threads
 * (3 chunks of one item left one of two threads idle a third of the time).
 * A layer of 32 filters and channels (9216 weights) takes 2 chunks of one
 * item: each image's dy transposed once, where two blocks of channels
 * transposed it twice.
 */
#define WG_ITEMS 8
#define WG_CHUNK_N 8
#define WG_PART (32 * 1024)

static int64_t wg_chunks(const nb__conv_geom *g, int64_t items)
{
    const int64_t per = (int64_t)g->f * g->c * g->kh * g->kw;
    int64_t chunks = min64((WG_ITEMS + items - 1) / items, g->n / WG_CHUNK_N);
    chunks = min64(chunks, WG_PART / per);
    while (chunks & (chunks - 1)) /* down to a power of two */
        chunks &= chunks - 1;
    return items >= WG_ITEMS || chunks < 2 ? 1 : chunks;
}

/* Item t of items × chunks: chunk t / items of the batch (image bounds by
 * the shape alone) into its partial sums, or the whole batch into out. */
static void wg_chunk_item(const nb__conv_kernel *k, const wg_cut *d, const float *const *in,
                          float *out, float *part, int64_t t, int64_t items, int64_t chunks)
{
    const nb__conv_geom *g = &k->g;
    const int64_t c = t / items, per = (int64_t)g->f * g->c * g->kh * g->kw;
    if (chunks == 1)
        wg_item(k, d, in, out, t, 0, g->n);
    else
        wg_item(k, d, in, part + c * per, t % items, c * g->n / chunks, (c + 1) * g->n / chunks);
}

/* nb__conv_weight_grad's items × chunks, as nb__par_items calls them. */
typedef struct wg_job {
    const nb__conv_kernel *k;
    const wg_cut *d;
    const float *const *in;
    float *out, *part;
    int64_t items, chunks;
} wg_job;

static void wg_job_item(const void *ctx, int64_t t)
{
    const wg_job *j = ctx;
    wg_chunk_item(j->k, j->d, j->in, j->out, j->part, t, j->items, j->chunks);
}

void nb__conv_weight_grad(const nb__kernel *kernel, const float *const *in, float *out)
{
    const nb__conv_kernel *k = (const nb__conv_kernel *)kernel;
    const nb__conv_geom *g = &k->g;
    wg_cut d;
    if (!wg_cut_of(g, &d)) /* the matcher admits only shapes that fit */
        return;
    const int64_t items = (g->f + d.fb - 1) / d.fb * ((g->c + d.cb - 1) / d.cb);
    const int64_t chunks = wg_chunks(g, items), all = items * chunks;
    const int64_t per = (int64_t)g->f * g->c * g->kh * g->kw;
    const int64_t work = (int64_t)g->n * g->f * g->oh * g->ow * g->c * g->kh * g->kw;
    _Alignas(64) float part[chunks > 1 ? chunks * per : 1];
    const wg_job job = {.k = k, .d = &d, .in = in, .out = out, .part = part, .items = items,
                        .chunks = chunks};
    nb__par_items(all, work, wg_job_item, &job);
    for (int64_t i = 0; chunks > 1 && i < per; i++) {
        float s = part[i];
        for (int64_t c = 1; c < chunks; c++)
            s += part[c * per + i];
        out[i] = s;
    }
}
