/*
 * conv_direct_avx512.c — the blocks of the direct convolutions with
 * AVX-512 fused multiply-adds (conv_direct_simd.h at 16 lanes): forward
 * panels of up to 6 filters by 64 positions, weight-gradient blocks of 4
 * filters by 6 column rows; twenty-four accumulators each, of the 32
 * AVX-512 registers. On CPUs that execute 512-bit multiply-adds at full
 * width this doubles the AVX2 blocks' rate; elsewhere they cost no more.
 */
#include "conv_direct.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
/* True when this CPU runs the AVX-512 blocks. */
static bool avx512_cpu(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
}

#define CD_LANES 16
#define CD_TARGET __attribute__((target("avx512f,fma")))
#define CD_FWD_S 4
#define CD_WG_I 4
#define CD_WG_J 6
#define CD_DIRECT_NAME nb__conv_direct_block_avx512
#define CD_WG_NAME nb__conv_wg_block_avx512
#define CD_CPU_HAS avx512_cpu
#include "conv_direct_simd.h"
#else
bool nb__conv_direct_block_avx512(int64_t m, int64_t kb, const float *a, int64_t lda,
                                const int32_t *offs, const nb__conv_slots *sl, bool first)
{
    (void)m, (void)kb, (void)a, (void)lda, (void)offs, (void)sl;
    return (void)first, false;
}

bool nb__conv_wg_block_avx512(int64_t nf, int64_t np, const float *d, int64_t ldd,
                              const float *t, int64_t ldt, int64_t len, float *acc)
{
    (void)nf, (void)np, (void)d, (void)ldd, (void)t, (void)ldt, (void)len;
    return (void)acc, false;
}
#endif
