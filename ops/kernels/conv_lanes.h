/*
 * conv_lanes.h — the direct convolution with filters in the vector lanes:
 * the second block of conv_direct.c's forward (and so of the input
 * gradient that runs as a forward convolution, conv_dx.c), for AVX2 and
 * AVX-512.
 *
 * The pixel slots of conv_direct.h put sixteen output positions in a
 * vector: on rows of 10 or 14 positions a slot holds 10 or 14 real lanes
 * of 16. Here a vector holds filters instead: a block keeps 16 filters
 * (two AVX2 vectors) by 6 output positions in twelve accumulators, and
 * each column row (channel, tap) costs two vector loads of weights packed
 * [column row][16 filters] and six broadcasts of staged pixels, twelve
 * fused multiply-adds: every lane is real work whenever the filters are a
 * multiple of 16, whatever the row length, stride or padding. With
 * AVX-512 two panels go at once, a 16-lane vector of each: two loads and
 * six broadcasts for twelve multiply-adds of twice the width.
 *
 * An item is a group of panels of 16 filters (all of them where the tile
 * allows) over a tile of output rows, or a few whole small images: per
 * block of channels the group's weights are packed once and each image's
 * rows staged once (zeros in the padding) for every panel; the sums wait
 * in a tile [panel][positions][16] on the stack, and after the last block
 * the tile is transposed into y [N, F, OH·OW] (8×8 shuffles) and the
 * epilogue runs over its rows while they are in cache.
 *
 * Each output is one chain of fused multiply-adds over the column rows
 * p = (c, i, j) ascending, from 0: the chain of conv_direct.c's blocks,
 * so any block, the plain loops here and any thread count give the
 * same bits (tests/test_kernels_conv_lanes.c).
 *
 *   conv_lanes.c         the cut, the packing, staging, transposition
 *                        and threads, and the plain block: the reference
 *   conv_lanes_fma.c     the block with AVX2 fused multiply-adds
 *   conv_lanes_avx512.c  two panels' blocks at once with AVX-512
 */
#ifndef NB_CONV_LANES_H
#define NB_CONV_LANES_H

#include "conv_direct.h"

/* Filters of a panel, and output positions of a block. */
#define NB__CONV_LANES_F 16
#define NB__CONV_LANES_P 6

/*
 * For the P = NB__CONV_LANES_P positions whose staged pixel of column
 * row p is st[pos[q] + offs[p]], and filters v < 16 whose weight of
 * column row p is wp[p·16 + v]: t[q·16 + v] = (first ? 0 : t[q·16 + v])
 * + Σ_{p < kb} wp[p·16 + v]·st[pos[q] + offs[p]], one chain of fused
 * multiply-adds per output, p ascending. All six positions are computed
 * and stored (the caller repeats a real one to fill a block).
 */
void nb__conv_lanes_block_plain(const float *st, const int32_t *pos, const int32_t *offs,
                                int64_t kb, const float *wp, float *t, bool first);
/* The same by AVX2 fused multiply-adds; false when this CPU lacks them. */
bool nb__conv_lanes_block_avx2(const float *st, const int32_t *pos, const int32_t *offs,
                               int64_t kb, const float *wp, float *t, bool first);

/*
 * The blocks of n > 0 positions, one panel's: block b takes positions
 * pos[6b, 6b + 6) (past n the last, pos[n - 1], again) into t + b·6·16,
 * as nb__conv_lanes_block_plain: one call per panel and run of positions,
 * so the CPU is asked once, not once a block.
 */
void nb__conv_lanes_run_plain(const float *st, const int32_t *pos, int64_t n, const int32_t *offs,
                              int64_t kb, const float *wp, float *t, bool first);
bool nb__conv_lanes_run_avx2(const float *st, const int32_t *pos, int64_t n, const int32_t *offs,
                             int64_t kb, const float *wp, float *t, bool first);

/*
 * Two panels at once, 32 filters by 6 positions in AVX-512 registers:
 * panel 0's weights wp0 and sums t0, panel 1's wp1 and t1, each exactly
 * as nb__conv_lanes_block_plain / nb__conv_lanes_run_plain give them
 * (conv_lanes_avx512.c); false when this CPU lacks AVX-512.
 */
bool nb__conv_lanes_pair_block_avx512(const float *st, const int32_t *pos, const int32_t *offs,
                                      int64_t kb, const float *wp0, const float *wp1, float *t0,
                                      float *t1, bool first);
bool nb__conv_lanes_pair_run_avx512(const float *st, const int32_t *pos, int64_t n,
                                    const int32_t *offs, int64_t kb, const float *wp0,
                                    const float *wp1, float *t0, float *t1, bool first);

/* nb__conv_stage_ahead's staging (the same floats in dst) by AVX2 masked
 * loads, a row of sw floats (a multiple of 8, at most NB__CONV_LANES_SW)
 * as whole vectors; false, nothing written, when this CPU lacks AVX2 or
 * sw is not one it takes. Rows of 14 or 28 pixels are too short for the
 * plain copy's runs to pay. */
#define NB__CONV_LANES_SW 128
bool nb__conv_lanes_stage_avx2(const nb__conv_geom *g, const float *x, int64_t c0, int64_t cb,
                               int64_t ih0, int64_t sr, int64_t sw, const nb__conv_ahead *ah,
                               float *dst);

/* Moves, by AVX2 shuffles (false when this CPU lacks them): dst[t·16 + v]
 * = src[v·lda + t] for t < cols, v < 16 (zeros for v ≥ rows): a run of a
 * panel's weights packed; y[v·ldy + q] = t[q·16 + v] for q < n, v < nf: a
 * tile's sums into the filters' rows of y. */
bool nb__conv_lanes_pack_avx2(const float *src, int64_t lda, int64_t rows, int64_t cols,
                              float *dst);
bool nb__conv_lanes_unpack_avx2(const float *t, int64_t n, int64_t nf, float *y, int64_t ldy);

/* True when the lanes block is the one to run for g on this CPU: a rule
 * of the shape alone (the filters fill the lanes at least as well as the
 * output rows fill pixel slots, and an image's rows fit the stage). */
bool nb__conv_lanes_pays(const nb__conv_geom *g);

/*
 * y [N, F, OH·OW] = the convolution of x [N, C, H, W] by g with the
 * weights w (as nb__conv_direct reads them, taps flipped when w->flip),
 * then, when k, k's epilogue over each row (the kernel's inputs in). isa
 * 0 runs the plain block, 1 the AVX2 one, 2 the AVX-512 pairs of panels
 * where this CPU has them (the AVX2 block for a last odd panel): the same
 * bits whichever. False, nothing written, when g is not a shape the cut
 * takes.
 */
bool nb__conv_lanes(const nb__conv_geom *g, const nb__conv_weights *w, const float *x, float *y,
                    const nb__conv_kernel *k, const float *const *in, int isa);

#endif /* NB_CONV_LANES_H */
