/*
 * conv_dx_avx512.c — the tile of a convolution's column gradient
 * (conv_dx.c) with AVX-512: blocks of 12 rows against 32 columns, 24
 * accumulators, on CPUs that have AVX-512F (where the FMA peak doubles).
 * Each element is one chain of fused multiply-adds over the filters in
 * ascending order, as in the AVX2 blocks of conv_dx.c.
 */
#include "conv_dx.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>

#define CDX512 __attribute__((target("avx512f")))
#define MR 12
#define NR 32

/* The first n of 16 lanes (n may be below 0 or above 16). */
static inline CDX512 __mmask16 lanes16(int n)
{
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

#define ROW(r, acc0, acc1)                                                    \
    do {                                                                      \
        const __m512 av = _mm512_set1_ps(af[(r)]);                            \
        acc0 = _mm512_fmadd_ps(av, b0, acc0);                                 \
        acc1 = _mm512_fmadd_ps(av, b1, acc1);                                 \
    } while (0)

/*
 * t[r, j] = Σ_f a[f·lda + r]·b[f·ldb + j] for r < mr ≤ 12, j < nr ≤ 32:
 * two vectors of b, masked to nr columns (lanes beyond are never read),
 * and twelve broadcasts of a per filter. Rows beyond mr repeat row mr - 1
 * and are not stored.
 */
static CDX512 void block(int mr, int nr, int64_t nf, const float *a, int64_t lda, const float *b,
                         int64_t ldb, float *t, int64_t ldt)
{
    int o[MR];
    for (int r = 0; r < MR; r++)
        o[r] = r < mr ? r : mr - 1;
    const int o1 = o[1], o2 = o[2], o3 = o[3], o4 = o[4], o5 = o[5], o6 = o[6], o7 = o[7];
    const int o8 = o[8], o9 = o[9], o10 = o[10], o11 = o[11];
    const __mmask16 m0 = lanes16(nr), m1 = lanes16(nr - 16);
    __m512 c[MR][2];
    __m512 z = _mm512_setzero_ps();
    __m512 c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
    __m512 c40 = z, c41 = z, c50 = z, c51 = z, c60 = z, c61 = z, c70 = z, c71 = z;
    __m512 c80 = z, c81 = z, c90 = z, c91 = z, ca0 = z, ca1 = z, cb0 = z, cb1 = z;
    for (int64_t f = 0; f < nf; f++) {
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, b + f * ldb);
        const __m512 b1 = _mm512_maskz_loadu_ps(m1, b + f * ldb + 16);
        const float *af = a + f * lda;
        ROW(0, c00, c01);
        ROW(o1, c10, c11);
        ROW(o2, c20, c21);
        ROW(o3, c30, c31);
        ROW(o4, c40, c41);
        ROW(o5, c50, c51);
        ROW(o6, c60, c61);
        ROW(o7, c70, c71);
        ROW(o8, c80, c81);
        ROW(o9, c90, c91);
        ROW(o10, ca0, ca1);
        ROW(o11, cb0, cb1);
    }
    c[0][0] = c00, c[0][1] = c01, c[1][0] = c10, c[1][1] = c11, c[2][0] = c20, c[2][1] = c21;
    c[3][0] = c30, c[3][1] = c31, c[4][0] = c40, c[4][1] = c41, c[5][0] = c50, c[5][1] = c51;
    c[6][0] = c60, c[6][1] = c61, c[7][0] = c70, c[7][1] = c71, c[8][0] = c80, c[8][1] = c81;
    c[9][0] = c90, c[9][1] = c91, c[10][0] = ca0, c[10][1] = ca1, c[11][0] = cb0, c[11][1] = cb1;
    for (int r = 0; r < mr; r++) {
        _mm512_mask_storeu_ps(t + r * ldt, m0, c[r][0]);
        _mm512_mask_storeu_ps(t + r * ldt + 16, m1, c[r][1]);
    }
}

#undef ROW

void nb__conv_dx_tile512(int64_t nf, const float *a, int64_t lda, const float *b, int64_t ldb,
                         float *t, int64_t rows, int64_t lc)
{
    for (int64_t j0 = 0; j0 < lc; j0 += NR) {
        const int nr = (int)(lc - j0 < NR ? lc - j0 : NR);
        for (int64_t r0 = 0; r0 < rows; r0 += MR)
            block((int)(rows - r0 < MR ? rows - r0 : MR), nr, nf, a + r0, lda, b + j0, ldb,
                  t + r0 * lc + j0, lc);
    }
}

bool nb__conv_dx_has512(void)
{
    return __builtin_cpu_supports("avx512f");
}
#else
void nb__conv_dx_tile512(int64_t nf, const float *a, int64_t lda, const float *b, int64_t ldb,
                         float *t, int64_t rows, int64_t lc)
{
    (void)nf, (void)a, (void)lda, (void)b, (void)ldb, (void)t, (void)rows, (void)lc;
}

bool nb__conv_dx_has512(void)
{
    return false;
}
#endif
