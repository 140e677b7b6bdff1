/*
 * conv_direct_fma.c — the blocks of the direct convolutions with AVX2 fused
 * multiply-adds (conv_direct_simd.h at 8 lanes): forward panels of up to 6
 * filters by 16 positions, weight-gradient panels of 16 filters by 6
 * column rows; twelve accumulators each, in the sixteen AVX2 registers.
 * For CPUs with AVX2 and FMA but not AVX-512.
 */
#include "conv_direct.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h> /* the masked loads and stores of partial slots */

bool nb__conv_fma_cpu(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

#define CD_LANES 8
#define CD_TARGET __attribute__((target("avx2,fma")))
#define CD_FWD_S 1
#define CD_WG_RMAX 6
#define CD_WG_SMAX 2
/* Sixteen filters (two vectors) by 6 column rows: twelve accumulators. */
#define CD_WG_SHAPES(X) X(6, 2)
#define CD_WG_PANELS(left, t, f) (wg_panels(6, 2, t, f), (void)(left), f += 2 * CD_LANES)
#define CD_DIRECT_NAME nb__conv_direct_block_avx2
#define CD_WG_NAME nb__conv_wg_tile_avx2
#define CD_CPU_HAS nb__conv_fma_cpu
#include "conv_direct_simd.h"
#else
bool nb__conv_fma_cpu(void)
{
    return false;
}

bool nb__conv_direct_block_avx2(int64_t m, int64_t kb, const nb__conv_rows *a,
                                const int32_t *offs, const nb__conv_slots *sl, bool first)
{
    (void)m, (void)kb, (void)a, (void)offs, (void)sl;
    return (void)first, false;
}

bool nb__conv_wg_tile_avx2(const nb__conv_wg_tile *t)
{
    return (void)t, false;
}
#endif
