/*
 * transpose8_avx2.h — an 8×8 block of floats transposed in AVX2 registers
 * (unpack, shuffle, then swap of 128-bit halves: 24 shuffles), the one copy
 * the kernels that stage tiles by shuffles share (conv_lanes_fma.c,
 * conv_dx_lanes.c, conv_wg_fma.c). Included only where GCC compiles for
 * x86-64 and <immintrin.h> is in reach; each caller runs it inside its own
 * avx2,fma code, on CPUs it has checked.
 */
#ifndef NB_TRANSPOSE8_AVX2_H
#define NB_TRANSPOSE8_AVX2_H

#include <immintrin.h>

/* r[i] (8 floats each) → r[j] holding element j of each, in place. */
static inline __attribute__((always_inline, target("avx2,fma"))) void
nb__transpose8_avx2(__m256 r[8])
{
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x20);
        r[4 + i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x31);
    }
}

#endif /* NB_TRANSPOSE8_AVX2_H */
