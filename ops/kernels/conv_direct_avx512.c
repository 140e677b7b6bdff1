/*
 * conv_direct_avx512.c — the blocks of the direct convolutions with
 * AVX-512 fused multiply-adds (conv_direct_simd.h at 16 lanes): forward
 * panels of up to 6 filters by 64 positions, weight-gradient panels of up
 * to 64 filters by 6 column rows; twenty-four accumulators each, of the 32
 * AVX-512 registers. On CPUs that execute 512-bit multiply-adds at full
 * width this doubles the AVX2 blocks' rate; elsewhere they cost no more.
 */
#include "conv_direct.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h> /* masks and the transposition's shuffles */
#endif

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
bool nb__conv_avx512_cpu(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
}

#define CD_LANES 16
#define CD_TARGET __attribute__((target("avx512f,fma")))
#define CD_FWD_S 4
#define CD_WG_RMAX 12
#define CD_WG_SMAX 4
/* Four vectors of filters by 6 column rows while that leaves none or 2+
 * (five go as 3 + 2), then 3 by 8, 2 by 12, 1 by 12: 24 accumulators at
 * most, the panel's loads (S + R a position) well under its S·R
 * multiply-adds. */
#define CD_WG_SHAPES(X) X(6, 4) X(8, 3) X(12, 2) X(12, 1)
#define CD_WG_PANELS(left, t, f)                                                               \
    do {                                                                                       \
        const int s_ = (left) >= 4 && (left) != 5 ? 4 : (left) >= 3 ? 3 : (int)(left);        \
        if (s_ == 4)                                                                           \
            wg_panels(6, 4, t, f);                                                             \
        else if (s_ == 3)                                                                      \
            wg_panels(8, 3, t, f);                                                             \
        else if (s_ == 2)                                                                      \
            wg_panels(12, 2, t, f);                                                            \
        else                                                                                   \
            wg_panels(12, 1, t, f);                                                            \
        f += s_ * CD_LANES;                                                                    \
    } while (0)
#define CD_DIRECT_NAME nb__conv_direct_block_avx512
#define CD_WG_NAME nb__conv_wg_tile_avx512
#define CD_CPU_HAS nb__conv_avx512_cpu
#define CD_TRANSPOSE nb__conv_wg_transpose_avx512
#include "conv_direct_simd.h"
#else
bool nb__conv_avx512_cpu(void)
{
    return false;
}

bool nb__conv_direct_block_avx512(int64_t m, int64_t kb, const nb__conv_rows *a,
                                const int32_t *offs, const nb__conv_slots *sl, bool first)
{
    (void)m, (void)kb, (void)a, (void)offs, (void)sl;
    return (void)first, false;
}

bool nb__conv_wg_tile_avx512(const nb__conv_wg_tile *t)
{
    return (void)t, false;
}

bool nb__conv_wg_transpose_avx512(const nb__conv_wg_dy *t)
{
    return (void)t, false;
}
#endif
