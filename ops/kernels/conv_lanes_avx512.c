/*
 * conv_lanes_avx512.c — the block of the filters-in-lanes convolution
 * (conv_lanes.h) with AVX-512 fused multiply-adds over two panels at once:
 * 32 filters (a vector of each panel) by 6 positions in twelve
 * accumulators; per column row two loads of packed weights and six
 * broadcasts for twelve 16-lane multiply-adds. The AVX2 block issues as
 * many loads and twice the instructions for the same work: on Zen 4, whose
 * 512-bit and 256-bit multiply-adds give the same flops a cycle, alone in
 * L1 it ran at 78-97 % of the FMA peak from one round to the next where
 * this one held 96-100 %. Each lane is the plain block's chain.
 */
#include "conv_lanes.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>

#define LN_TARGET __attribute__((target("avx512f,fma")))

/* Positions pos[0..6) of panel 0 (weights w0, sums t0) and panel 1 (w1,
 * t1), as nb__conv_lanes_block_plain for each. */
LN_TARGET static void pair_block(const float *st, const int32_t *pos, const int32_t *offs,
                                 int64_t kb, const float *w0p, const float *w1p, float *t0,
                                 float *t1, bool first)
{
    const float *b0 = st + pos[0], *b1 = st + pos[1], *b2 = st + pos[2];
    const float *b3 = st + pos[3], *b4 = st + pos[4], *b5 = st + pos[5];
    /* one load each from [b + o·4], not st and the offsets added again
     * for every broadcast (as in the AVX2 block) */
    __asm__("" : "+r"(b0), "+r"(b1), "+r"(b2), "+r"(b3), "+r"(b4), "+r"(b5));
    __m512 a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51;
    if (first) {
        a00 = a01 = a10 = a11 = a20 = a21 = _mm512_setzero_ps();
        a30 = a31 = a40 = a41 = a50 = a51 = _mm512_setzero_ps();
    } else {
        a00 = _mm512_loadu_ps(t0 + 0), a01 = _mm512_loadu_ps(t1 + 0);
        a10 = _mm512_loadu_ps(t0 + 16), a11 = _mm512_loadu_ps(t1 + 16);
        a20 = _mm512_loadu_ps(t0 + 32), a21 = _mm512_loadu_ps(t1 + 32);
        a30 = _mm512_loadu_ps(t0 + 48), a31 = _mm512_loadu_ps(t1 + 48);
        a40 = _mm512_loadu_ps(t0 + 64), a41 = _mm512_loadu_ps(t1 + 64);
        a50 = _mm512_loadu_ps(t0 + 80), a51 = _mm512_loadu_ps(t1 + 80);
    }
    for (int64_t p = 0; p < kb; p++) {
        const int64_t o = offs[p];
        const __m512 w0 = _mm512_loadu_ps(w0p + p * 16), w1 = _mm512_loadu_ps(w1p + p * 16);
        __m512 x = _mm512_set1_ps(b0[o]);
        a00 = _mm512_fmadd_ps(w0, x, a00), a01 = _mm512_fmadd_ps(w1, x, a01);
        x = _mm512_set1_ps(b1[o]);
        a10 = _mm512_fmadd_ps(w0, x, a10), a11 = _mm512_fmadd_ps(w1, x, a11);
        x = _mm512_set1_ps(b2[o]);
        a20 = _mm512_fmadd_ps(w0, x, a20), a21 = _mm512_fmadd_ps(w1, x, a21);
        x = _mm512_set1_ps(b3[o]);
        a30 = _mm512_fmadd_ps(w0, x, a30), a31 = _mm512_fmadd_ps(w1, x, a31);
        x = _mm512_set1_ps(b4[o]);
        a40 = _mm512_fmadd_ps(w0, x, a40), a41 = _mm512_fmadd_ps(w1, x, a41);
        x = _mm512_set1_ps(b5[o]);
        a50 = _mm512_fmadd_ps(w0, x, a50), a51 = _mm512_fmadd_ps(w1, x, a51);
    }
    _mm512_storeu_ps(t0 + 0, a00), _mm512_storeu_ps(t1 + 0, a01);
    _mm512_storeu_ps(t0 + 16, a10), _mm512_storeu_ps(t1 + 16, a11);
    _mm512_storeu_ps(t0 + 32, a20), _mm512_storeu_ps(t1 + 32, a21);
    _mm512_storeu_ps(t0 + 48, a30), _mm512_storeu_ps(t1 + 48, a31);
    _mm512_storeu_ps(t0 + 64, a40), _mm512_storeu_ps(t1 + 64, a41);
    _mm512_storeu_ps(t0 + 80, a50), _mm512_storeu_ps(t1 + 80, a51);
}

bool nb__conv_lanes_pair_block_avx512(const float *st, const int32_t *pos, const int32_t *offs,
                                      int64_t kb, const float *wp0, const float *wp1, float *t0,
                                      float *t1, bool first)
{
    if (!nb__conv_avx512_cpu())
        return false;
    pair_block(st, pos, offs, kb, wp0, wp1, t0, t1, first);
    return true;
}

bool nb__conv_lanes_pair_run_avx512(const float *st, const int32_t *pos, int64_t n,
                                    const int32_t *offs, int64_t kb, const float *wp0,
                                    const float *wp1, float *t0, float *t1, bool first)
{
    if (!nb__conv_avx512_cpu())
        return false;
    int64_t q0 = 0;
    for (; q0 + NB__CONV_LANES_P <= n; q0 += NB__CONV_LANES_P)
        pair_block(st, pos + q0, offs, kb, wp0, wp1, t0 + q0 * NB__CONV_LANES_F,
                   t1 + q0 * NB__CONV_LANES_F, first);
    if (q0 < n) {
        int32_t pq[NB__CONV_LANES_P];
        for (int q = 0; q < NB__CONV_LANES_P; q++) /* the last position again */
            pq[q] = pos[q0 + q < n ? q0 + q : n - 1];
        pair_block(st, pq, offs, kb, wp0, wp1, t0 + q0 * NB__CONV_LANES_F,
                   t1 + q0 * NB__CONV_LANES_F, first);
    }
    return true;
}
#else
bool nb__conv_lanes_pair_block_avx512(const float *st, const int32_t *pos, const int32_t *offs,
                                      int64_t kb, const float *wp0, const float *wp1, float *t0,
                                      float *t1, bool first)
{
    (void)st, (void)pos, (void)offs, (void)kb, (void)wp0, (void)wp1, (void)t0, (void)t1;
    return (void)first, false;
}

bool nb__conv_lanes_pair_run_avx512(const float *st, const int32_t *pos, int64_t n,
                                    const int32_t *offs, int64_t kb, const float *wp0,
                                    const float *wp1, float *t0, float *t1, bool first)
{
    (void)st, (void)pos, (void)n, (void)offs, (void)kb, (void)wp0, (void)wp1, (void)t0;
    return (void)t1, (void)first, false;
}
#endif
