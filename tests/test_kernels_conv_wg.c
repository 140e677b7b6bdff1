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
    const int64_t shapes[][2] = {{1, 1}, {3, 5}, {2, 8}, {4, 13}, {1, 16}, {5, 28}};
    const int64_t rstep = 40, ldy = 29, ldf = 200;
    float *st = filled(4096, 4), *dy = filled(12 * ldf, 5);
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
