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

static float *filled(int64_t n, uint64_t seed)
{
    float *x = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    t_fill(x, n, seed, -1, 1);
    return x;
}

/* Forward blocks: slots reading a staged buffer at offsets, full slots and
 * partial ones (12, 5, 1 real lanes), groups of slots that leave a partial
 * group of four. */
Test(kernels_conv, forward_blocks_agree_with_the_plain_loops)
{
    const int64_t ms[] = {1, 6, 7, 13}, kb = 27, ldc = 200;
    const int widths[] = {16, 12, 16, 5, 16, 1, 16};
    float *st = filled(4096, 4);
    int32_t offs[27];
    for (int p = 0; p < 27; p++)
        offs[p] = (p / 9) * 900 + (p % 9 / 3) * 64 + p % 3 * 2; /* 3 channels, 3×3, dilation 2 */
    for (size_t im = 0; im < 4; im++)
        for (int n = 1; n <= 7; n++)
            for (int first = 0; first <= 1; first++) {
                const int64_t m = ms[im];
                float *a = filled(m * kb, 5), *want = filled(m * ldc, 6);
                float *start = malloc((size_t)(m * ldc) * 4), *got = malloc((size_t)(m * ldc) * 4);
                memcpy(start, want, (size_t)(m * ldc) * 4);
                nb__conv_slots sw = {.n = n, .ldc = ldc}, sg = sw;
                for (int s = 0; s < n; s++) {
                    sw.b[s] = sg.b[s] = st + 37 * s;
                    sw.c[s] = want + 20 * s, sg.c[s] = got + 20 * s;
                    sw.w[s] = sg.w[s] = widths[s];
                }
                nb__conv_direct_block_plain(m, kb, a, kb, offs, &sw, first);
                for (int64_t i = 0; i < m; i++) /* the plain loops against the sums */
                    for (int s = 0; s < n; s++)
                        for (int l = 0; l < widths[s]; l++) {
                            double v = first ? 0 : start[i * ldc + 20 * s + l];
                            for (int p = 0; p < kb; p++)
                                v += (double)a[i * kb + p] * sw.b[s][offs[p] + l];
                            cr_assert(fabs(want[i * ldc + 20 * s + l] - v) <= 1e-4 * (1 + fabs(v)));
                        }
                memcpy(got, start, (size_t)(m * ldc) * 4);
                if (nb__conv_direct_block_avx2(m, kb, a, kb, offs, &sg, first))
                    cr_assert(memcmp(got, want, (size_t)(m * ldc) * 4) == 0, "avx2 m %lld n %d",
                              (long long)m, n);
                memcpy(got, start, (size_t)(m * ldc) * 4);
                if (nb__conv_direct_block_avx512(m, kb, a, kb, offs, &sg, first))
                    cr_assert(memcmp(got, want, (size_t)(m * ldc) * 4) == 0, "avx512 m %lld n %d",
                              (long long)m, n);
                free(a), free(want), free(start), free(got);
            }
    free(st);
}

/* Weight-gradient blocks: filters around the blocks' 3 and 4, column rows
 * around their 2 and 6, one and three vectors of positions. */
Test(kernels_conv, weight_gradient_blocks_agree_with_the_plain_loops)
{
    const int64_t nfs[] = {1, 3, 4, 5, 13}, nps[] = {1, 2, 6, 7, 25}, lens[] = {16, 48};
    const int64_t ldd = 53, ldt = 61;
    for (size_t i0 = 0; i0 < 5; i0++)
        for (size_t j0 = 0; j0 < 5; j0++)
            for (size_t q0 = 0; q0 < 2; q0++) {
                const int64_t nf = nfs[i0], np = nps[j0], len = lens[q0];
                const int64_t na = nf * np * NB__CONV_WG_LANES;
                float *d = filled(nf * ldd, 7), *t = filled(np * ldt, 8);
                float *want = filled(na, 9), *got = malloc((size_t)na * 4);
                float *start = malloc((size_t)na * 4);
                memcpy(start, want, (size_t)na * 4);
                nb__conv_wg_block_plain(nf, np, d, ldd, t, ldt, len, want);
                for (int64_t i = 0; i < nf; i++) /* the plain loops against the sums */
                    for (int64_t j = 0; j < np; j++)
                        for (int l = 0; l < NB__CONV_WG_LANES; l++) {
                            const int64_t at = (i * np + j) * NB__CONV_WG_LANES + l;
                            double v = start[at];
                            for (int64_t q = l; q < len; q += NB__CONV_WG_LANES)
                                v += (double)d[i * ldd + q] * t[j * ldt + q];
                            cr_assert(fabs(want[at] - v) <= 1e-4 * (1 + fabs(v)));
                        }
                memcpy(got, start, (size_t)na * 4);
                if (nb__conv_wg_block_avx2(nf, np, d, ldd, t, ldt, len, got))
                    cr_assert(memcmp(got, want, (size_t)na * 4) == 0, "avx2 %lld×%lld×%lld",
                              (long long)nf, (long long)np, (long long)len);
                memcpy(got, start, (size_t)na * 4);
                if (nb__conv_wg_block_avx512(nf, np, d, ldd, t, ldt, len, got))
                    cr_assert(memcmp(got, want, (size_t)na * 4) == 0, "avx512 %lld×%lld×%lld",
                              (long long)nf, (long long)np, (long long)len);
                free(d), free(t), free(want), free(got), free(start);
            }
}
