/*
 * test_kernels_conv_wg.c — the weight gradient's position tiles
 * (ops/kernels/conv_wg.h) checked from inside the library: the AVX2 panels
 * give the plain loops' sums bit for bit (each lane the same chain), on
 * filter counts that leave every panel shape and partial ones, column rows
 * that fill whole panels and that leave 1, 2 or 3 to a narrower panel, rows shorter than a vector, of whole vectors
 * and with a partial last vector, one output row and several; and the
 * plain loops give the sums written out here in double precision. (The
 * filter tiles' transpositions of dy are checked in test_kernels_conv.c.)
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

Test(kernels_conv_wg, position_tiles_agree_with_the_plain_loops)
{
    enum { LN = NB__CONV_WGP_LANES };
    const int64_t nps[] = {1, 2, 4, 5, 6, 7, 25}, nfs[] = {1, 2, 3, 4, 5, 6, 7, 8, 11, 12};
    /* rows × cols; one row of many positions: the flat tiles of conv_wg.c
     * (a whole 28 × 28 image, 100 = 12 vectors and a half) */
    const int64_t shapes[][2] = {{1, 1}, {3, 5}, {2, 8}, {4, 13}, {1, 16}, {5, 28}, {1, 100},
                                 {1, 784}};
    const int64_t rstep = 40, ldy = 29, ldf = 200;
    float *st = filled(4096, 4), *dy = filled(11 * ldf + 784, 5);
    int32_t offs[25];
    for (int p = 0; p < 25; p++)
        offs[p] = (p / 9) * 700 + (p % 9 / 3) * 80 + p % 3 * 2; /* 3×3, dilation 2 */
    for (size_t i0 = 0; i0 < sizeof nps / sizeof nps[0]; i0++)
        for (size_t j0 = 0; j0 < sizeof nfs / sizeof nfs[0]; j0++)
            for (size_t s0 = 0; s0 < sizeof shapes / sizeof shapes[0]; s0++) {
                const int64_t np = nps[i0], nf = nfs[j0], na = np * nf * LN;
                const int64_t rows = shapes[s0][0], cols = shapes[s0][1];
                float *want = filled(na, 9), *got = malloc((size_t)na * 4);
                float *start = malloc((size_t)na * 4);
                memcpy(start, want, (size_t)na * 4);
                nb__conv_wgp_tile t = {.np = np, .nf = nf, .rows = rows, .cols = cols,
                                       .rstep = rstep, .ldf = ldf, .ldy = ldy, .offs = offs,
                                       .st = st, .dy = dy, .acc = want};
                nb__conv_wgp_tile_plain(&t);
                for (int64_t p = 0; p < np; p++) /* the plain loops against the sums */
                    for (int64_t f = 0; f < nf; f++) {
                        double all = 0, parts = 0;
                        for (int j = 0; j < LN; j++) {
                            const int64_t a = (p * nf + f) * LN + j;
                            double v = 0;
                            for (int64_t y = 0; y < rows; y++)
                                for (int64_t x = j; x < cols; x += LN)
                                    v += (double)st[offs[p] + y * rstep + x] *
                                         dy[f * ldf + y * ldy + x];
                            cr_assert(fabs(want[a] - start[a] - v) <= 1e-5 * (1 + fabs(v)),
                                      "lane %d of %lld×%lld shape %zu", j, (long long)p,
                                      (long long)f, s0);
                            all += v, parts += want[a] - start[a];
                        }
                        cr_assert(fabs(all - parts) <= 1e-4 * (1 + fabs(all)));
                    }
                t.acc = got;
                memcpy(got, start, (size_t)na * 4);
                if (nb__conv_wgp_tile_avx2(&t))
                    cr_assert(memcmp(got, want, (size_t)na * 4) == 0, "avx2 %lld×%lld shape %zu",
                              (long long)np, (long long)nf, s0);
                free(want), free(got), free(start);
            }
    free(st), free(dy);
}

/* The shifted copies of the staged rows (conv_wg.h's nb__conv_wgp_shift):
 * each entry the staged pixel its definition names, and the AVX2 copy the
 * plain one's floats, on buffers only as long as the header allows (the
 * sanitized build sees any read or write past them), for runs of whole
 * vectors and partial ones, dilations and several channels. */
Test(kernels_conv_wg, shifted_rows_agree_with_the_definition)
{
    /* nc, kw, dw, sr, ow; sw = ow + (kw - 1)·dw (row stride 1) */
    const int64_t cases[][5] = {{1, 5, 1, 32, 28}, {3, 3, 2, 7, 9}, {2, 1, 1, 4, 5},
                                {1, 2, 3, 3, 17}, {4, 5, 1, 12, 8}, {2, 3, 1, 5, 3}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int64_t nc = cases[i][0], kw = cases[i][1], dw = cases[i][2], sr = cases[i][3],
                      ow = cases[i][4], sw = ow + (kw - 1) * dw;
        const int64_t ns = nc * sr * sw + (kw - 1) * dw + 8, no = nc * kw * sr * ow;
        float *st = filled(ns, 11 + i), *want = malloc((size_t)no * 4);
        float *got = malloc((size_t)(no + 8) * 4);
        nb__conv_wgp_shift t = {.st = st, .out = want, .nc = nc, .kw = kw, .dw = dw, .sr = sr,
                                .sw = sw, .ow = ow};
        nb__conv_wgp_shift_plain(&t);
        for (int64_t c = 0; c < nc; c++)
            for (int64_t kx = 0; kx < kw; kx++)
                for (int64_t r = 0; r < sr; r++)
                    for (int64_t x = 0; x < ow; x++)
                        cr_assert(want[((c * kw + kx) * sr + r) * ow + x] ==
                                      st[(c * sr + r) * sw + kx * dw + x],
                                  "case %zu c %lld kx %lld r %lld x %lld", i, (long long)c,
                                  (long long)kx, (long long)r, (long long)x);
        t.out = got;
        if (nb__conv_wgp_shift_avx2(&t))
            cr_assert(memcmp(got, want, (size_t)no * 4) == 0, "avx2 case %zu", i);
        free(st), free(want), free(got);
    }
}
