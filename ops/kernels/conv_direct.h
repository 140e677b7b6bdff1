/*
 * conv_direct.h — convolutions that never write their columns (ops/fusion_conv.c
 * matches them, the planner runs them): the forward product of a
 * convolution with its epilogue, and its weight gradient, each reading the
 * image through the window arithmetic of unfold2d (ops/unfold.c):
 *
 *     cols[n, p, l] = x[n, c, oh·sh - ph + i·dh, ow·sw - pw + j·dw]
 *     (p = c·kh·kw + i·kw + j, l = oh·OW + ow, 0 outside the image)
 *
 * Both are implicit products: a tile of cols (a few hundred rows by a few
 * dozen positions, on the stack) is packed from the image, used at once by
 * a register-blocked product and dropped; the full column matrix never
 * exists. Split as matmul's kernels are:
 *
 *   conv_direct.c         the tiles, the packing, the epilogue, the split
 *                         across threads, and the plain block loops: the
 *                         reference
 *   conv_direct_simd.h    the same blocks register-blocked, written once for
 *                         any vector width
 *   conv_direct_fma.c     ... compiled for AVX2 and FMA
 *   conv_direct_avx512.c  ... compiled for AVX-512
 *
 * Each output is one fused multiply-add chain in an order fixed by the
 * shape, and the plain and FMA blocks compute the same chains, so values
 * are the same bits at any thread count and on either path
 * (tests/test_conv_direct.c).
 */
#ifndef NB_CONV_DIRECT_H
#define NB_CONV_DIRECT_H

#include "fused.h"

/* A convolution's sizes, small enough to sit beside the epilogue program
 * in a step's bytes: ops/fusion_conv.c matches only shapes that fit. */
typedef struct nb__conv_geom {
    int32_t n;                        /* images */
    int16_t c, h, w;                  /* input channels and image */
    int16_t f, oh, ow;                /* filters and output positions */
    int16_t kh, kw, sh, sw, ph, pw, dh, dw; /* the window, as unfold2d's */
} nb__conv_geom;

/* What a step of either kernel reads. The forward kernel runs fz's program
 * over its value as rows = N·F rows of len = OH·OW (chans = F). */
typedef struct nb__conv_kernel {
    nb__fused_kernel fz;
    nb__conv_geom g;
} nb__conv_kernel;
_Static_assert(sizeof(nb__conv_kernel) <= NB__KERNEL_BYTES, "a convolution fits a step's bytes");

/* The largest value of each size the geometry holds. */
#define NB__CONV_DIM_MAX 32767

/* in[0] = w [F, C·kh·kw], in[1] = x [N, C, H, W], in[2...] the epilogue's
 * operands → out [N, F, OH·OW]: the product, then the program, a tile of
 * positions at a time while the tile is in cache. */
void nb__conv_forward(const nb__kernel *k, const float *const *in, float *out);

/* in[0] = dy [N, F, OH·OW], in[1] = x [N, C, H, W] → out [F, C·kh·kw]:
 * Σ over images and positions of dy[n, f, l]·cols[n, p, l]. */
void nb__conv_weight_grad(const nb__kernel *k, const float *const *in, float *out);

/* True when the vector blocks run on this CPU (AVX2 and FMA at least). */
bool nb__conv_fma_cpu(void);
/* True when the AVX-512 blocks do (AVX-512F and FMA): conv_direct_avx512.c
 * and conv_lanes_avx512.c ask it. */
bool nb__conv_avx512_cpu(void);

/* ---------------------------------------------------------------- blocks */

/* Positions a packed forward tile is padded to a multiple of: a slot. */
#define NB__CONV_FWD_LANES 16

/* Lanes of a slot: sixteen consecutive output positions, read as one
 * vector at an offset per column row: from a staged copy of the image rows
 * (column stride 1: positions of one output row), or from a packed tile. */
#define NB__CONV_SLOT 16
#define NB__CONV_SLOTS_MAX 144

/* The slots of a direct tile: for slot s, b[s] + offs[p] is the staged
 * pixel of column row p (p local to the staged channels) for its lane 0,
 * and c[s] its output for filter 0 (filter i at c[s] + i·ldc); w[s] lanes
 * are real positions, the others are computed and dropped. */
typedef struct nb__conv_slots {
    int n;
    int64_t ldc;
    const float *b[NB__CONV_SLOTS_MAX];
    float *c[NB__CONV_SLOTS_MAX];
    int w[NB__CONV_SLOTS_MAX];
} nb__conv_slots;

/* Where a block reads its weights: row i's entry for column row p at
 * a[i·lda + (p / kg)·gs + p % kg], runs of kg column rows gs floats apart.
 * The forward reads W [F, C·kh·kw] as it lies (one run, kg ≥ kb); the
 * input gradient (conv_dx.c) reads W [F, C, kh·kw] transposed, each
 * channel's kh·kw taps a run, runs a filter (C·kh·kw floats) apart. */
typedef struct nb__conv_rows {
    const float *a;
    int64_t lda, kg, gs;
} nb__conv_rows;

/*
 * For every slot and row i < m: c = (first ? 0 : c) + Σ_p a(i, p)·b[offs[p]]
 * over p < kb, each lane one chain c = fma(a(i, p), b[s][offs[p] + lane], c),
 * p ascending (a(i, p) as nb__conv_rows says): the forward product.
 */
void nb__conv_direct_block_plain(int64_t m, int64_t kb, const nb__conv_rows *a,
                                 const int32_t *offs, const nb__conv_slots *sl, bool first);
bool nb__conv_direct_block_avx2(int64_t m, int64_t kb, const nb__conv_rows *a,
                                const int32_t *offs, const nb__conv_slots *sl, bool first);
bool nb__conv_direct_block_avx512(int64_t m, int64_t kb, const nb__conv_rows *a,
                                  const int32_t *offs, const nb__conv_slots *sl, bool first);

/*
 * The direct convolution of x [N, C, H, W] by g (column stride 1) into
 * y [N, F, OH·OW], the weights of staged channel block from c0 at
 * a = w->a + c0·cs (read as nb__conv_rows {a, w->lda, kh·kw, cs}), the
 * taps flipped (tap (i, j) reads the pixel of (kh-1-i, kw-1-j)) when flip:
 * the input gradient as a forward convolution of dy (conv_dx.c). No
 * epilogue. False, nothing written, when g is not one the direct tiles
 * take; the same bits at any thread count.
 */
typedef struct nb__conv_weights {
    const float *a;
    int64_t lda, cs;
    bool flip;
} nb__conv_weights;
bool nb__conv_direct(const nb__conv_geom *g, const nb__conv_weights *w, const float *x, float *y);

/* Channels [c0, c0 + cb) of image x, sr image rows from ih0 → dst
 * [cb][sr][sw], each row's column 0 being image column -pw: zeros in the
 * padding and the slack (sw ≥ w + 2·pw). Prefetches the same channels'
 * rows sr further down, those of the next tile of rows (its callers'
 * tiles are sr rows or fewer apart). */
void nb__conv_stage(const nb__conv_geom *g, const float *x, int64_t c0, int64_t cb, int64_t ih0,
                    int64_t sr, int64_t sw, float *dst);

/* The block a stage prefetches, row by row beside its own copy: for the
 * staged row (c, r), row ah.ih0 + r of channel ah.c0 + c of image ah.x
 * (those inside the image), so that the next stage, wherever it reads,
 * finds its rows in cache. */
typedef struct nb__conv_ahead {
    const float *x;
    int64_t c0, ih0;
} nb__conv_ahead;

void nb__conv_stage_ahead(const nb__conv_geom *g, const float *x, int64_t c0, int64_t cb,
                          int64_t ih0, int64_t sr, int64_t sw, const nb__conv_ahead *ah,
                          float *dst);

/* Filters a weight-gradient panel spans are padded to a multiple of: one
 * AVX-512 vector, two AVX2 ones. */
#define NB__CONV_WG_LANES 16

/*
 * One tile of the weight gradient (conv_wg.c) as its panels read it: for
 * column rows p < np and filters f < fp (a multiple of 16),
 *
 *     acc[p, f] += Σ st[offs[p] + r·rstep + o·cstep]·dyt[r·cols + o, f]
 *
 * over the tile's output rows r < rows and positions o < cols, the sum one
 * chain of fused multiply-adds from 0, r then o ascending, then one add.
 * st is the staged image, dyt the tile's output gradient transposed
 * ([rows·cols, fp]).
 */
typedef struct nb__conv_wg_tile {
    int64_t np, fp, rows, cols, rstep, cstep;
    const int32_t *offs;
    const float *st, *dyt;
    float *acc;
} nb__conv_wg_tile;

void nb__conv_wg_tile_plain(const nb__conv_wg_tile *t);
/* The same by register-blocked panels (a block of acc in vector registers
 * over the whole tile); false when this CPU lacks the instruction set. */
bool nb__conv_wg_tile_avx2(const nb__conv_wg_tile *t);
bool nb__conv_wg_tile_avx512(const nb__conv_wg_tile *t);

/* A tile of an image's output gradient dy [F, OH·OW] (from the item's
 * first filter, l = OH·OW positions a row) to transpose: output rows
 * [oh0, oh0 + rows), columns [ow0, ow0 + cols), filters [0, nf) → dyt
 * [rows·cols, fp], zeros in lanes nf..fp. */
typedef struct nb__conv_wg_dy {
    const float *dy;
    float *dyt;
    int64_t l, ow, oh0, ow0, rows, cols, nf, fp;
} nb__conv_wg_dy;

void nb__conv_wg_transpose_plain(const nb__conv_wg_dy *t);
/* The same by AVX-512 shuffles, 16 by 16; false without AVX-512. */
bool nb__conv_wg_transpose_avx512(const nb__conv_wg_dy *t);

/* True when g's weight gradient fits the tiles of conv_wg.c (a block of
 * one channel's staged rows and column rows fits them). */
bool nb__conv_wg_fits(const nb__conv_geom *g);

#endif /* NB_CONV_DIRECT_H */
