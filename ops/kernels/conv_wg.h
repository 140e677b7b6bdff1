/*
 * conv_wg.h — the weight gradient's second tile (conv_wg.c), for layers of
 * few filters: output positions in the lanes instead of filters. A layer
 * of 6 filters (LeNet-5's first) fills 6 of the 16 filter lanes of
 * conv_direct.h's panels; its output rows of 28 positions fill 28 of 32
 * position lanes. Every lane sums its own positions, so a weight's sum is
 * eight chains added at the end, the same eight chains on every path: the
 * lanes are fixed at 8 (AVX2's vector; AVX-512 CPUs run the AVX2 panels).
 */
#ifndef NB_CONV_WG_H
#define NB_CONV_WG_H

#include <stdbool.h>
#include <stdint.h>

/* Lanes a position tile's sums are split into. */
#define NB__CONV_WGP_LANES 8

/*
 * One tile: for column rows p < np, filters f < nf and lanes j < 8,
 *
 *     acc[(p·nf + f)·8 + j] += Σ st[offs[p] + y·rstep + x]·dy[f·ldf + y·ldy + x]
 *
 * over output rows y < rows and the positions x < cols with x ≡ j (mod 8),
 * as one chain of fused multiply-adds from 0 (y, then x ascending; the
 * lanes past cols of a row's last vector add 0·0), then one add. st is the
 * staged image (column stride 1), dy the tile's first output row of the
 * first filter.
 */
typedef struct nb__conv_wgp_tile {
    int64_t np, nf, rows, cols, rstep, ldf, ldy;
    const int32_t *offs;
    const float *st, *dy;
    float *acc;
} nb__conv_wgp_tile;

void nb__conv_wgp_tile_plain(const nb__conv_wgp_tile *t);
/* The same by AVX2 panels of filters × column rows held in registers over
 * the tile; false when this CPU lacks AVX2 and FMA. */
bool nb__conv_wgp_tile_avx2(const nb__conv_wgp_tile *t);

/*
 * The staged rows shifted once per kernel column, for the flat tiles
 * (conv_wg.c, wg_flat): for channels c < nc, kernel columns kx < kw, rows
 * r < sr and positions x < ow,
 *
 *     out[((c·kw + kx)·sr + r)·ow + x] = st[(c·sr + r)·sw + kx·dw + x]
 *
 * so that with row stride 1 the pixel of column row (c, ky, kx) at output
 * position i of a tile's rows × ow (flattened) is out[((c·kw + kx)·sr +
 * ky·dh)·ow + i]: dy's rows and the image's run at one stride, every term
 * a term of the true sum.
 */
typedef struct nb__conv_wgp_shift {
    const float *st;
    float *out;
    int64_t nc, kw, dw, sr, sw, ow;
} nb__conv_wgp_shift;

void nb__conv_wgp_shift_plain(const nb__conv_wgp_shift *t);
/* The same by AVX2 vectors of 8: reads up to 7 floats past a run's last
 * pixel and writes up to 7 past a run's end (the next run overwrites them;
 * the caller leaves 8 floats of room after out's last run and after st's
 * last row); false when this CPU lacks AVX2 and FMA. */
bool nb__conv_wgp_shift_avx2(const nb__conv_wgp_shift *t);

/* conv_direct.h's nb__conv_wg_transpose_plain by AVX2 shuffles, 8 by 8;
 * false when this CPU lacks AVX2 and FMA. */
struct nb__conv_wg_dy;
bool nb__conv_wg_transpose_avx2(const struct nb__conv_wg_dy *t);

#endif /* NB_CONV_WG_H */
