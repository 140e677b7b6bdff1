/*
 * conv_lanes_fma.c — the block of the filters-in-lanes convolution
 * (conv_lanes.h) with AVX2 fused multiply-adds: 16 filters (two vectors)
 * by 6 positions in twelve accumulators; per column row two loads of
 * packed weights and six broadcasts of staged pixels (a load each on
 * Zen 3 and Intel alike) for twelve multiply-adds, so the multiply-adds,
 * not the loads (three a cycle), bound it. Each lane is the plain block's
 * chain.
 */
#include "conv_lanes.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>

#include "transpose8_avx2.h"

#define LN_TARGET __attribute__((target("avx2,fma")))

LN_TARGET static void lanes_block(const float *st, const int32_t *pos, const int32_t *offs,
                                  int64_t kb, const float *wp, float *t, bool first)
{
    const float *b0 = st + pos[0], *b1 = st + pos[1], *b2 = st + pos[2];
    const float *b3 = st + pos[3], *b4 = st + pos[4], *b5 = st + pos[5];
    /* six pointers, each broadcast one load from [b + o·4]: left to
     * itself GCC keeps st and the six offsets and adds them again for
     * every broadcast, seven more instructions a column row */
    __asm__("" : "+r"(b0), "+r"(b1), "+r"(b2), "+r"(b3), "+r"(b4), "+r"(b5));
    __m256 a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51;
    if (first) {
        a00 = a01 = a10 = a11 = a20 = a21 = _mm256_setzero_ps();
        a30 = a31 = a40 = a41 = a50 = a51 = _mm256_setzero_ps();
    } else {
        a00 = _mm256_loadu_ps(t + 0), a01 = _mm256_loadu_ps(t + 8);
        a10 = _mm256_loadu_ps(t + 16), a11 = _mm256_loadu_ps(t + 24);
        a20 = _mm256_loadu_ps(t + 32), a21 = _mm256_loadu_ps(t + 40);
        a30 = _mm256_loadu_ps(t + 48), a31 = _mm256_loadu_ps(t + 56);
        a40 = _mm256_loadu_ps(t + 64), a41 = _mm256_loadu_ps(t + 72);
        a50 = _mm256_loadu_ps(t + 80), a51 = _mm256_loadu_ps(t + 88);
    }
    for (int64_t p = 0; p < kb; p++) {
        const int64_t o = offs[p];
        const __m256 w0 = _mm256_loadu_ps(wp + p * 16), w1 = _mm256_loadu_ps(wp + p * 16 + 8);
        __m256 x = _mm256_broadcast_ss(b0 + o);
        a00 = _mm256_fmadd_ps(w0, x, a00), a01 = _mm256_fmadd_ps(w1, x, a01);
        x = _mm256_broadcast_ss(b1 + o);
        a10 = _mm256_fmadd_ps(w0, x, a10), a11 = _mm256_fmadd_ps(w1, x, a11);
        x = _mm256_broadcast_ss(b2 + o);
        a20 = _mm256_fmadd_ps(w0, x, a20), a21 = _mm256_fmadd_ps(w1, x, a21);
        x = _mm256_broadcast_ss(b3 + o);
        a30 = _mm256_fmadd_ps(w0, x, a30), a31 = _mm256_fmadd_ps(w1, x, a31);
        x = _mm256_broadcast_ss(b4 + o);
        a40 = _mm256_fmadd_ps(w0, x, a40), a41 = _mm256_fmadd_ps(w1, x, a41);
        x = _mm256_broadcast_ss(b5 + o);
        a50 = _mm256_fmadd_ps(w0, x, a50), a51 = _mm256_fmadd_ps(w1, x, a51);
    }
    _mm256_storeu_ps(t + 0, a00), _mm256_storeu_ps(t + 8, a01);
    _mm256_storeu_ps(t + 16, a10), _mm256_storeu_ps(t + 24, a11);
    _mm256_storeu_ps(t + 32, a20), _mm256_storeu_ps(t + 40, a21);
    _mm256_storeu_ps(t + 48, a30), _mm256_storeu_ps(t + 56, a31);
    _mm256_storeu_ps(t + 64, a40), _mm256_storeu_ps(t + 72, a41);
    _mm256_storeu_ps(t + 80, a50), _mm256_storeu_ps(t + 88, a51);
}

bool nb__conv_lanes_block_avx2(const float *st, const int32_t *pos, const int32_t *offs,
                               int64_t kb, const float *wp, float *t, bool first)
{
    if (!nb__conv_fma_cpu())
        return false;
    lanes_block(st, pos, offs, kb, wp, t, first);
    return true;
}

bool nb__conv_lanes_run_avx2(const float *st, const int32_t *pos, int64_t n, const int32_t *offs,
                             int64_t kb, const float *wp, float *t, bool first)
{
    if (!nb__conv_fma_cpu())
        return false;
    int64_t q0 = 0;
    for (; q0 + NB__CONV_LANES_P <= n; q0 += NB__CONV_LANES_P)
        lanes_block(st, pos + q0, offs, kb, wp, t + q0 * NB__CONV_LANES_F, first);
    if (q0 < n) {
        int32_t pq[NB__CONV_LANES_P];
        for (int q = 0; q < NB__CONV_LANES_P; q++) /* the last position again */
            pq[q] = pos[q0 + q < n ? q0 + q : n - 1];
        lanes_block(st, pq, offs, kb, wp, t + q0 * NB__CONV_LANES_F, first);
    }
    return true;
}

/* Each staged row as sw / 8 vectors, vector k's lane l the pixel of
 * column 8k + l - pw where that is inside the image (a masked load: the
 * lanes outside read nothing), zero elsewhere; the next stage's rows
 * prefetched beside, as nb__conv_stage_ahead does. */
LN_TARGET static void stage_avx2(const nb__conv_geom *g, const float *x, int64_t c0, int64_t cb,
                                 int64_t ih0, int64_t sr, int64_t sw, const nb__conv_ahead *ah,
                                 float *dst)
{
    const int64_t nv = sw / 8, pw = g->pw, w = g->w;
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i m[NB__CONV_LANES_SW / 8];
    for (int64_t k = 0; k < nv; k++) /* lanes with pw ≤ 8k + l < pw + w */
        m[k] = _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)(pw - 8 * k)), iota),
                                   _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(pw + w - 8 * k)),
                                                      iota));
    for (int64_t c = 0; c < cb; c++)
        for (int64_t r = 0; r < sr; r++) {
            float *row = dst + (c * sr + r) * sw;
            const int64_t ih = ih0 + r, ia = ah->ih0 + r;
            if (ia >= 0 && ia < g->h && ah->c0 + c < g->c) {
                const float *next = ah->x + ((ah->c0 + c) * g->h + ia) * w;
                for (int64_t k = 0; k < w; k += 16)
                    __builtin_prefetch(next + k);
            }
            if (ih < 0 || ih >= g->h) {
                for (int64_t k = 0; k < nv; k++)
                    _mm256_storeu_ps(row + 8 * k, _mm256_setzero_ps());
                continue;
            }
            /* column -pw of the row: masked lanes never touch memory */
            const float *src = x + ((c0 + c) * g->h + ih) * w - pw;
            for (int64_t k = 0; k < nv; k++)
                _mm256_storeu_ps(row + 8 * k, _mm256_maskload_ps(src + 8 * k, m[k]));
        }
}

bool nb__conv_lanes_stage_avx2(const nb__conv_geom *g, const float *x, int64_t c0, int64_t cb,
                               int64_t ih0, int64_t sr, int64_t sw, const nb__conv_ahead *ah,
                               float *dst)
{
    if (sw % 8 || sw > NB__CONV_LANES_SW || !nb__conv_fma_cpu())
        return false;
    stage_avx2(g, x, c0, cb, ih0, sr, sw, ah, dst);
    return true;
}

/* dst[t·16 + v] = v < rows ? src[v·lda + t] : 0 for t < cols, v < 16:
 * 8×8 blocks by shuffles, the last (cols mod 8) columns by masked loads
 * (a channel block of 7 taps of 9 leaves 7 of every 63). */
LN_TARGET static void pack_avx2(const float *src, int64_t lda, int64_t rows, int64_t cols,
                                float *dst)
{
    for (int64_t t = 0; t < cols; t += 8) {
        const int64_t left = cols - t < 8 ? cols - t : 8;
        const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)left),
                                             _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        for (int h = 0; h < 2; h++) {
            __m256 r[8];
            for (int i = 0; i < 8; i++)
                r[i] = 8 * h + i >= rows ? _mm256_setzero_ps()
                       : left == 8       ? _mm256_loadu_ps(src + (8 * h + i) * lda + t)
                                         : _mm256_maskload_ps(src + (8 * h + i) * lda + t, m);
            nb__transpose8_avx2(r);
            for (int i = 0; i < left; i++)
                _mm256_storeu_ps(dst + (t + i) * 16 + 8 * h, r[i]);
        }
    }
}

bool nb__conv_lanes_pack_avx2(const float *src, int64_t lda, int64_t rows, int64_t cols,
                              float *dst)
{
    if (!nb__conv_fma_cpu())
        return false;
    pack_avx2(src, lda, rows, cols, dst);
    return true;
}

/* y[v·ldy + q] = t[q·16 + v] for v < nf, q < n: 8×8 blocks by shuffles,
 * the last positions one at a time. */
LN_TARGET static void unpack_avx2(const float *t, int64_t n, int64_t nf, float *y, int64_t ldy)
{
    int64_t q = 0;
    for (; q + 8 <= n; q += 8)
        for (int h = 0; h < 2 && 8 * h < nf; h++) {
            __m256 r[8];
            for (int i = 0; i < 8; i++)
                r[i] = _mm256_loadu_ps(t + (q + i) * 16 + 8 * h);
            nb__transpose8_avx2(r);
            for (int i = 0; i < 8 && 8 * h + i < nf; i++)
                _mm256_storeu_ps(y + (8 * h + i) * ldy + q, r[i]);
        }
    for (; q < n; q++)
        for (int64_t v = 0; v < nf; v++)
            y[v * ldy + q] = t[q * 16 + v];
}

bool nb__conv_lanes_unpack_avx2(const float *t, int64_t n, int64_t nf, float *y, int64_t ldy)
{
    if (!nb__conv_fma_cpu())
        return false;
    unpack_avx2(t, n, nf, y, ldy);
    return true;
}
#else
bool nb__conv_lanes_stage_avx2(const nb__conv_geom *g, const float *x, int64_t c0, int64_t cb,
                               int64_t ih0, int64_t sr, int64_t sw, const nb__conv_ahead *ah,
                               float *dst)
{
    (void)g, (void)x, (void)c0, (void)cb, (void)ih0, (void)sr, (void)sw, (void)ah;
    return (void)dst, false;
}

bool nb__conv_lanes_run_avx2(const float *st, const int32_t *pos, int64_t n, const int32_t *offs,
                             int64_t kb, const float *wp, float *t, bool first)
{
    (void)st, (void)pos, (void)n, (void)offs, (void)kb, (void)wp, (void)t;
    return (void)first, false;
}

bool nb__conv_lanes_block_avx2(const float *st, const int32_t *pos, const int32_t *offs,
                               int64_t kb, const float *wp, float *t, bool first)
{
    (void)st, (void)pos, (void)offs, (void)kb, (void)wp, (void)t;
    return (void)first, false;
}

bool nb__conv_lanes_pack_avx2(const float *src, int64_t lda, int64_t rows, int64_t cols,
                              float *dst)
{
    (void)src, (void)lda, (void)rows, (void)cols;
    return (void)dst, false;
}

bool nb__conv_lanes_unpack_avx2(const float *t, int64_t n, int64_t nf, float *y, int64_t ldy)
{
    (void)t, (void)n, (void)nf, (void)y;
    return (void)ldy, false;
}
#endif
