/*
 * test_kernels_conv.c — the blocks of the direct convolutions
 * (ops/kernels/conv_direct.h) checked from inside the library: the AVX2 and
 * AVX-512 blocks give the plain loops' values bit for bit (each lane is the
 * same chain of fused multiply-adds), on sizes that leave partial panels,
 * partial vectors and single rows; and the plain loops give the sums
 * written out here in double precision, within float rounding.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "../ops/kernels/conv_direct.h"
#include "../ops/kernels/conv_wg.h"

static float *filled(int64_t n, uint64_t seed)
{
    float *x = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    t_fill(x, n, seed, -1, 1);
    return x;
}

/* Forward blocks: slots reading a staged buffer at offsets, full slots and
 * partial ones (12, 5, 1 real lanes), groups of slots that leave a partial
 * group of four; weights as the forward reads them (rows of kb) and as the
 * input gradient does (runs of 9 taps, a filter of m·9 floats apart). */
Test(kernels_conv, forward_blocks_agree_with_the_plain_loops)
{
    const int64_t ms[] = {1, 6, 7, 13}, kb = 27, ldc = 200;
    const int widths[] = {16, 12, 16, 5, 16, 1, 16};
    float *st = filled(4096, 4);
    int32_t offs[27];
    for (int p = 0; p < 27; p++)
        offs[p] = (p / 9) * 900 + (p % 9 / 3) * 64 + p % 3 * 2; /* 3 channels, 3×3, dilation 2 */
    for (size_t im = 0; im < 8; im++) /* the four m, rows then runs */
        for (int n = 1; n <= 7; n++)
            for (int first = 0; first <= 1; first++) {
                const int64_t m = ms[im % 4];
                const bool runs = im >= 4;
                float *a = filled(m * kb, 5), *want = filled(m * ldc, 6);
                float *start = malloc((size_t)(m * ldc) * 4), *got = malloc((size_t)(m * ldc) * 4);
                memcpy(start, want, (size_t)(m * ldc) * 4);
                nb__conv_slots sw = {.n = n, .ldc = ldc}, sg = sw;
                for (int s = 0; s < n; s++) {
                    sw.b[s] = sg.b[s] = st + 37 * s;
                    sw.c[s] = want + 20 * s, sg.c[s] = got + 20 * s;
                    sw.w[s] = sg.w[s] = widths[s];
                }
                const nb__conv_rows ra = runs ? (nb__conv_rows){a, 9, 9, m * 9}
                                              : (nb__conv_rows){a, kb, kb, 0};
                nb__conv_direct_block_plain(m, kb, &ra, offs, &sw, first);
                for (int64_t i = 0; i < m; i++) /* the plain loops against the sums */
                    for (int s = 0; s < n; s++)
                        for (int l = 0; l < widths[s]; l++) {
                            double v = first ? 0 : start[i * ldc + 20 * s + l];
                            for (int p = 0; p < kb; p++)
                                v += (double)a[runs ? i * 9 + p / 9 * m * 9 + p % 9 : i * kb + p] *
                                     sw.b[s][offs[p] + l];
                            cr_assert(fabs(want[i * ldc + 20 * s + l] - v) <= 1e-4 * (1 + fabs(v)));
                        }
                memcpy(got, start, (size_t)(m * ldc) * 4);
                if (nb__conv_direct_block_avx2(m, kb, &ra, offs, &sg, first))
                    cr_assert(memcmp(got, want, (size_t)(m * ldc) * 4) == 0, "avx2 m %lld n %d",
                              (long long)m, n);
                memcpy(got, start, (size_t)(m * ldc) * 4);
                if (nb__conv_direct_block_avx512(m, kb, &ra, offs, &sg, first))
                    cr_assert(memcmp(got, want, (size_t)(m * ldc) * 4) == 0, "avx512 m %lld n %d",
                              (long long)m, n);
                free(a), free(want), free(start), free(got);
            }
    free(st);
}

/* Weight-gradient tiles: column rows around the panels' 6, 8 and 12,
 * filters of 1 to 5 vectors (5: the 3 + 2 split), column strides 1 and 2,
 * single rows and positions, accumulators that continue a chain. */
Test(kernels_conv, weight_gradient_tiles_agree_with_the_plain_loops)
{
    const int64_t nps[] = {1, 5, 6, 7, 13, 25}, fps[] = {16, 32, 48, 64, 80, 128};
    const int64_t shapes[][3] = {{1, 1, 1}, {3, 7, 1}, {2, 9, 2}, {4, 14, 1}};
    float *st = filled(4096, 4);
    int32_t offs[25];
    for (int p = 0; p < 25; p++)
        offs[p] = (p / 9) * 700 + (p % 9 / 3) * 40 + p % 3 * 2; /* 3×3, dilation 2 */
    for (size_t i0 = 0; i0 < 6; i0++)
        for (size_t j0 = 0; j0 < 6; j0++)
            for (size_t s0 = 0; s0 < 4; s0++) {
                const int64_t np = nps[i0], fp = fps[j0], na = np * fp;
                const int64_t rows = shapes[s0][0], cols = shapes[s0][1];
                float *dyt = filled(rows * cols * fp, 7), *want = filled(na, 9);
                float *got = malloc((size_t)na * 4), *start = malloc((size_t)na * 4);
                memcpy(start, want, (size_t)na * 4);
                nb__conv_wg_tile t = {.np = np, .fp = fp, .rows = rows, .cols = cols,
                                      .rstep = 80, .cstep = shapes[s0][2], .offs = offs,
                                      .st = st, .dyt = dyt, .acc = want};
                nb__conv_wg_tile_plain(&t);
                for (int64_t p = 0; p < np; p++) /* the plain loops against the sums */
                    for (int64_t f = 0; f < fp; f++) {
                        double v = start[p * fp + f];
                        for (int64_t y = 0; y < rows; y++)
                            for (int64_t x = 0; x < cols; x++)
                                v += (double)st[offs[p] + y * 80 + x * t.cstep] *
                                     dyt[(y * cols + x) * fp + f];
                        cr_assert(fabs(want[p * fp + f] - v) <= 1e-4 * (1 + fabs(v)));
                    }
                t.acc = got;
                memcpy(got, start, (size_t)na * 4);
                if (nb__conv_wg_tile_avx2(&t))
                    cr_assert(memcmp(got, want, (size_t)na * 4) == 0, "avx2 %lld×%lld shape %zu",
                              (long long)np, (long long)fp, s0);
                memcpy(got, start, (size_t)na * 4);
                if (nb__conv_wg_tile_avx512(&t))
                    cr_assert(memcmp(got, want, (size_t)na * 4) == 0, "avx512 %lld×%lld shape %zu",
                              (long long)np, (long long)fp, s0);
                free(dyt), free(want), free(got), free(start);
            }
    free(st);
}

/* The weight gradient takes every shape whose staged rows of one channel
 * fit its stage (16 K floats); wider images keep the plain steps. */
Test(kernels_conv, weight_gradient_declines_rows_too_wide_to_stage)
{
    nb__conv_geom g = {.n = 1, .c = 3, .h = 28, .w = 28, .f = 8, .oh = 28, .ow = 28, .kh = 3,
                       .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1, .dw = 1};
    cr_assert(nb__conv_wg_fits(&g));
    g.w = g.ow = 6000, g.h = g.oh = 3;
    cr_assert_not(nb__conv_wg_fits(&g));
}

/* The weight gradient's transposition of dy's tile: AVX-512 and AVX2
 * shuffles (each where the CPU has it) give the plain loops' floats, zeros
 * past the filters, on tiles with partial blocks of filters and positions,
 * one row and several, a window inside the rows. */
Test(kernels_conv, weight_gradient_transposition_agrees_with_the_plain_loops)
{
    bool (*const fast[])(const nb__conv_wg_dy *) = {nb__conv_wg_transpose_avx512,
                                                    nb__conv_wg_transpose_avx2};
    const int64_t nfs[][2] = {{1, 16}, {6, 16}, {16, 16}, {17, 32}, {45, 48}, {64, 64}};
    const int64_t tiles[][4] = {{1, 1, 0, 0}, {2, 28, 3, 0}, {4, 14, 0, 0}, {1, 37, 5, 40},
                                {3, 10, 2, 7}};
    const int64_t oh = 9, ow = 80, l = oh * ow;
    float *dy = filled(64 * l, 11);
    for (size_t i = 0; i < sizeof nfs / sizeof nfs[0]; i++)
        for (size_t j = 0; j < sizeof tiles / sizeof tiles[0]; j++) {
            const int64_t fp = nfs[i][1], n = tiles[j][0] * tiles[j][1] * fp;
            float *want = filled(n, 12), *got = filled(n, 13);
            nb__conv_wg_dy t = {.dy = dy, .dyt = want, .l = l, .ow = ow, .oh0 = tiles[j][2],
                                .ow0 = tiles[j][3], .rows = tiles[j][0], .cols = tiles[j][1],
                                .nf = nfs[i][0], .fp = fp};
            nb__conv_wg_transpose_plain(&t);
            cr_assert_float_eq(want[fp - 1], nfs[i][0] == fp ? dy[(fp - 1) * l + t.oh0 * ow + t.ow0]
                                                             : 0.0f, 0);
            t.dyt = got;
            for (size_t v = 0; v < sizeof fast / sizeof fast[0]; v++) {
                memset(got, 0xff, (size_t)n * 4); /* NaNs: every float must be written */
                if (fast[v](&t))
                    cr_assert(memcmp(got, want, (size_t)n * 4) == 0, "%s nf %lld tile %zu",
                              v ? "avx2" : "avx512", (long long)nfs[i][0], j);
            }
            free(want), free(got);
        }
    free(dy);
}
