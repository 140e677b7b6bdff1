/*
 * conv_wg_fma.c — conv_wg.h's position tiles with AVX2 fused multiply-adds:
 * panels of F filters by T column rows, their F·T vectors of eight
 * positions' sums in registers over the whole tile (6 × 2, 4 × 3, 3 × 4:
 * twelve accumulators), each vector of positions one load of T staged
 * pixel runs and F output-gradient runs. A row's last partial vector is
 * read through masks (zeros past the row, as the plain loops add 0·0).
 * And the filter tiles' transposition of dy (conv_direct.h) by AVX2
 * shuffles, 8 filters by 8 positions at a time.
 */
#include "conv_direct.h"
#include "conv_wg.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>

#include "transpose8_avx2.h"

bool nb__conv_fma_cpu(void);

#define WGP_TARGET __attribute__((target("avx2,fma")))
#define WGP_INLINE static inline __attribute__((always_inline))

/* Column rows [p, p + T) by filters [f, f + F), F and T constants once
 * inlined: T + F loads for F·T FMAs a vector of positions. */
WGP_INLINE WGP_TARGET void wgp_panel(const int F, const int T, const nb__conv_wgp_tile *t,
                                     int64_t p, int64_t f)
{
    __m256 s[6][4];
    const float *xb[4], *db[6];
#pragma GCC unroll 4
    for (int j = 0; j < T; j++) {
        xb[j] = t->st + t->offs[p + j];
#pragma GCC unroll 6
        for (int i = 0; i < F; i++)
            s[i][j] = _mm256_setzero_ps();
    }
#pragma GCC unroll 6
    for (int i = 0; i < F; i++)
        db[i] = t->dy + (f + i) * t->ldf;
    const int64_t cols = t->cols, full = cols & ~(int64_t)7;
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(cols - full)),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (int64_t y = 0; y < t->rows; y++) {
        const int64_t xo = y * t->rstep, yo = y * t->ldy;
        for (int64_t x = 0; x < full; x += 8) {
            __m256 xv[4];
#pragma GCC unroll 4
            for (int j = 0; j < T; j++)
                xv[j] = _mm256_loadu_ps(xb[j] + xo + x);
#pragma GCC unroll 6
            for (int i = 0; i < F; i++) {
                __m256 d = _mm256_loadu_ps(db[i] + yo + x);
                /* in a register: else GCC folds the load into each of the
                 * T multiply-adds, T loads where one does, and Zen 3's two
                 * 256-bit loads a cycle, not its FMAs, bound the loop */
                __asm__("" : "+x"(d));
#pragma GCC unroll 4
                for (int j = 0; j < T; j++)
                    s[i][j] = _mm256_fmadd_ps(xv[j], d, s[i][j]);
            }
        }
        if (full < cols) {
            __m256 xv[4];
#pragma GCC unroll 4
            for (int j = 0; j < T; j++)
                xv[j] = _mm256_maskload_ps(xb[j] + xo + full, mask);
#pragma GCC unroll 6
            for (int i = 0; i < F; i++) {
                const __m256 d = _mm256_maskload_ps(db[i] + yo + full, mask);
#pragma GCC unroll 4
                for (int j = 0; j < T; j++)
                    s[i][j] = _mm256_fmadd_ps(xv[j], d, s[i][j]);
            }
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < T; j++)
#pragma GCC unroll 6
        for (int i = 0; i < F; i++) {
            float *a = t->acc + ((p + j) * t->nf + f + i) * 8;
            _mm256_storeu_ps(a, _mm256_add_ps(_mm256_loadu_ps(a), s[i][j]));
        }
}

/* Every panel of T column rows against filters [f, f + F): one function per
 * shape, so each inner loop gets the registers to itself. */
#define WGP_PANELS_OF(F, T)                                                                    \
    __attribute__((noinline)) WGP_TARGET static void wgp_panels_##F(const nb__conv_wgp_tile *t, \
                                                                    int64_t f)                 \
    {                                                                                          \
        int64_t p = 0;                                                                         \
        for (; p + T <= t->np; p += T)                                                         \
            wgp_panel(F, T, t, p, f);                                                          \
        /* the last few column rows by a narrower panel: no dropped sums */                   \
        const int64_t r = t->np - p;                                                           \
        if (r == 1)                                                                            \
            wgp_panel(F, 1, t, p, f);                                                          \
        else if (T > 2 && r == 2)                                                              \
            wgp_panel(F, 2, t, p, f);                                                          \
        else if (T > 3 && r == 3)                                                              \
            wgp_panel(F, 3, t, p, f);                                                          \
    }
WGP_PANELS_OF(1, 4)
WGP_PANELS_OF(2, 4)
WGP_PANELS_OF(3, 4)
WGP_PANELS_OF(4, 3)
WGP_PANELS_OF(5, 2)
WGP_PANELS_OF(6, 2)

bool nb__conv_wgp_tile_avx2(const nb__conv_wgp_tile *t)
{
    if (!nb__conv_fma_cpu())
        return false;
    /* filters six at a time; 7 and 8 go as 4 + 3, 4 + 4 */
    for (int64_t f = 0; f < t->nf;) {
        const int64_t left = t->nf - f;
        const int F = left <= 6 ? (int)left : left <= 8 ? 4 : 6;
        switch (F) {
        case 1: wgp_panels_1(t, f); break;
        case 2: wgp_panels_2(t, f); break;
        case 3: wgp_panels_3(t, f); break;
        case 4: wgp_panels_4(t, f); break;
        case 5: wgp_panels_5(t, f); break;
        default: wgp_panels_6(t, f); break;
        }
        f += F;
    }
    return true;
}
/* conv_wg.h's shifted rows: each run whole vectors, the last spilling up
 * to 7 floats into the next run's place, which the next run overwrites. */
WGP_TARGET bool nb__conv_wgp_shift_avx2(const nb__conv_wgp_shift *t)
{
    if (!nb__conv_fma_cpu())
        return false;
    float *o = t->out;
    for (int64_t c = 0; c < t->nc; c++)
        for (int64_t kx = 0; kx < t->kw; kx++) {
            const float *src = t->st + c * t->sr * t->sw + kx * t->dw;
            for (int64_t r = 0; r < t->sr; r++, src += t->sw, o += t->ow)
                for (int64_t x = 0; x < t->ow; x += 8)
                    _mm256_storeu_ps(o + x, _mm256_loadu_ps(src + x));
        }
    return true;
}

/* ---------------------------------------------------------------- transposition */

/* conv_direct.h's transposition of dy's tile, 8 filters by 8 positions of
 * a row at a time: masked loads past the row's positions, zeros for the
 * filters past nf. */
WGP_TARGET bool nb__conv_wg_transpose_avx2(const nb__conv_wg_dy *t)
{
    if (!nb__conv_fma_cpu())
        return false;
    for (int64_t f0 = 0; f0 < t->fp; f0 += 8) {
        const int64_t left = t->nf - f0 > 8 ? 8 : t->nf - f0 < 0 ? 0 : t->nf - f0;
        for (int64_t y = 0; y < t->rows; y++) {
            const float *src = t->dy + f0 * t->l + (t->oh0 + y) * t->ow + t->ow0;
            float *dst = t->dyt + y * t->cols * t->fp + f0;
            for (int64_t x = 0; x < t->cols; x += 8) {
                const int nq = t->cols - x < 8 ? (int)(t->cols - x) : 8;
                const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(nq),
                                                     _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
                __m256 r[8];
                for (int i = 0; i < 8; i++)
                    r[i] = i >= left  ? _mm256_setzero_ps()
                           : nq == 8  ? _mm256_loadu_ps(src + i * t->l + x)
                                      : _mm256_maskload_ps(src + i * t->l + x, m);
                nb__transpose8_avx2(r);
                for (int q = 0; q < nq; q++)
                    _mm256_storeu_ps(dst + (x + q) * t->fp, r[q]);
            }
        }
    }
    return true;
}
#else
bool nb__conv_wgp_tile_avx2(const nb__conv_wgp_tile *t)
{
    return (void)t, false;
}

bool nb__conv_wg_transpose_avx2(const nb__conv_wg_dy *t)
{
    return (void)t, false;
}

bool nb__conv_wgp_shift_avx2(const nb__conv_wgp_shift *t)
{
    return (void)t, false;
}
#endif
