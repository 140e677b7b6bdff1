/*
 * conv_direct_fma.c — the blocks of the direct convolutions with AVX2 fused
 * multiply-adds (conv_direct_simd.h at 8 lanes): forward panels of up to 6
 * filters by 16 positions, weight-gradient blocks of 3 filters by 2 column
 * rows of 16 lanes; twelve accumulators each, in the sixteen AVX2
 * registers. For CPUs with AVX2 and FMA but not AVX-512.
 */
#include "conv_direct.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
bool nb__conv_fma_cpu(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

#define CD_LANES 8
#define CD_TARGET __attribute__((target("avx2,fma")))
#define CD_FWD_S 1
#define CD_WG_I 3
#define CD_WG_J 2
#define CD_DIRECT_NAME nb__conv_direct_block_avx2
#define CD_WG_NAME nb__conv_wg_block_avx2
#define CD_CPU_HAS nb__conv_fma_cpu
#include "conv_direct_simd.h"
#else
bool nb__conv_fma_cpu(void)
{
    return false;
}

bool nb__conv_direct_block_avx2(int64_t m, int64_t kb, const float *a, int64_t lda,
                                const int32_t *offs, const nb__conv_slots *sl, bool first)
{
    (void)m, (void)kb, (void)a, (void)lda, (void)offs, (void)sl;
    return (void)first, false;
}

bool nb__conv_wg_block_avx2(int64_t nf, int64_t np, const float *d, int64_t ldd, const float *t,
                            int64_t ldt, int64_t len, float *acc)
{
    (void)nf, (void)np, (void)d, (void)ldd, (void)t, (void)ldt, (void)len;
    return (void)acc, false;
}
#endif
