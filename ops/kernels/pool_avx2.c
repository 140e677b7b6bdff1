/*
 * pool_avx2.c — max pooling's gradient for 2×2 windows of stride 2 (no
 * padding, dilation 1: LeNet-5's and most CNNs' pooling) with AVX2, eight
 * windows of a row at a time: the two image rows' 16 pixels each compared
 * with their window's maximum, the counts as pair sums, the shares
 * dy / count, and mask · share spread back over the pixels, then (when a
 * relu's gradient joined the group) times the relu's mask, both masks in
 * one product (masked_share) — the values of
 * pool_fast.c's loops in a few instructions a pixel, where rows of 14 and
 * 5 windows left those loops mostly loop overhead. And the forward
 * maximum of the same windows, eight at a time.
 */
#include "pool.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>

#define P2_TARGET __attribute__((target("avx2,fma")))

static bool avx2_cpu(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

#define P2_INLINE static inline __attribute__((always_inline))

/* The first n of 8 lanes at p (all when n ≥ 8, none when n ≤ 0), zeros
 * past them: the windows at the very end of a plane. */
P2_INLINE P2_TARGET __m256 load_n(const float *p, int n)
{
    return _mm256_maskload_ps(
        p, _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
}

/* 8 lanes at p, or the first n when `part` (n a run-time count). */
P2_INLINE P2_TARGET __m256 load8(const float *p, const bool part, int n)
{
    return part ? load_n(p, n) : _mm256_loadu_ps(p);
}

/* 8 lanes to p, or the first n when `part` (all 8 when n ≥ 8: a partial
 * row's first vector of pixels is whole when it has 4 windows or more):
 * through a copy, a masked store being slow on AMD's cores. */
P2_INLINE P2_TARGET void store8(float *p, __m256 v, const bool part, int n)
{
    if (!part || n >= 8) {
        _mm256_storeu_ps(p, v);
        return;
    }
    float t[8];
    _mm256_storeu_ps(t, v);
    for (int i = 0; i < n; i++)
        p[i] = t[i];
}

/* The image's pixels: x, or max(x, s) (x ≥ s ? x : s, binary.h's max)
 * when relu. */
P2_INLINE P2_TARGET __m256 pixels(__m256 x, const bool relu, __m256 s)
{
    return relu ? _mm256_blendv_ps(s, x, _mm256_cmp_ps(x, s, _CMP_GE_OQ)) : x;
}

/* The relu's pixels max(z, s) and the relu's mask [z ≥ s] of the same z:
 * one comparison for both (the gradient of a relu_in group, whose mask is
 * ge of the z the pooling reads). */
P2_INLINE P2_TARGET __m256 relu_pixels(__m256 z, __m256 s, __m256 *ge)
{
    *ge = _mm256_cmp_ps(z, s, _CMP_GE_OQ);
    return _mm256_blendv_ps(s, z, *ge);
}

/*
 * A pixel's gradient e·share times a relu's mask g (g all-ones or zero
 * bits, e 1 or 0), as the graph's steps compute it, (e·share)·[g], or
 * [g]·(e·share) with the mask on the left: here as one product,
 * (e AND g)·share. The two agree bit for bit, whatever share is: with e
 * and [g] both 1 each is share; otherwise each is a product of share and
 * a zero (share's NaN, the default NaN for share ±∞, else 0 with share's
 * sign), and the order of factors never matters with one NaN at most.
 * One product and one AND a vector instead of two products and an AND.
 */
P2_INLINE P2_TARGET __m256 masked_share(__m256 e, __m256 g, __m256 share)
{
    return _mm256_mul_ps(_mm256_and_ps(e, g), share);
}

/* e·share (e 1 or 0) times the relu's mask [z ≥ s] (GE) or [z > s] of
 * the pixels at z (masked_share), or e·share alone without a mask; mode a
 * constant once inlined. */
P2_INLINE P2_TARGET __m256 relu_mask(__m256 e, __m256 share, const float *z, const bool part,
                                     int n, __m256 s, const int mode)
{
    if (mode == NB__POOL_MASK_NONE)
        return _mm256_mul_ps(e, share);
    const __m256 zv = load8(z, part, n);
    return masked_share(e,
                        mode == NB__POOL_MASK_GE ? _mm256_cmp_ps(zv, s, _CMP_GE_OQ)
                                                 : _mm256_cmp_ps(zv, s, _CMP_GT_OQ),
                        share);
}

/* Eight windows from column c of window row r: image rows a and b (16
 * pixels each), their maxima and gradients y, d (8 each), the relu's rows
 * za, zb → rows oa, ob. With `part`, only the first nq windows are read
 * and written; without, lanes past the row read and write what lies
 * beyond it (grad_rows orders the writes so that what is right comes
 * last). With relu, a and b are the relu's z (za and zb the same rows,
 * not read again) and the mask is [z ≥ s] of the pixels' comparison. */
P2_INLINE P2_TARGET void windows8(const float *a, const float *b, const float *y, const float *d,
                                  const float *za, const float *zb, __m256 s, float *oa,
                                  float *ob, const bool part, int nq, const int mode,
                                  const bool relu)
{
    const int n0 = 2 * nq, n1 = 2 * nq - 8;
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256i lo = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
    const __m256i hi = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
    const __m256 yv = load8(y, part, nq);
    const __m256 y0 = _mm256_permutevar8x32_ps(yv, lo), y1 = _mm256_permutevar8x32_ps(yv, hi);
    __m256 ga0 = one, ga1 = one, gb0 = one, gb1 = one; /* [z ≥ s] when relu */
    const __m256 pa0 = relu ? relu_pixels(load8(a, part, n0), s, &ga0) : load8(a, part, n0);
    const __m256 pa1 = relu ? relu_pixels(load8(a + 8, part, n1), s, &ga1)
                            : load8(a + 8, part, n1);
    const __m256 pb0 = relu ? relu_pixels(load8(b, part, n0), s, &gb0) : load8(b, part, n0);
    const __m256 pb1 = relu ? relu_pixels(load8(b + 8, part, n1), s, &gb1)
                            : load8(b + 8, part, n1);
    const __m256 ea0 = _mm256_and_ps(_mm256_cmp_ps(pa0, y0, _CMP_EQ_OQ), one);
    const __m256 ea1 = _mm256_and_ps(_mm256_cmp_ps(pa1, y1, _CMP_EQ_OQ), one);
    const __m256 eb0 = _mm256_and_ps(_mm256_cmp_ps(pb0, y0, _CMP_EQ_OQ), one);
    const __m256 eb1 = _mm256_and_ps(_mm256_cmp_ps(pb1, y1, _CMP_EQ_OQ), one);
    /* the counts, sums of ones: exact in any order */
    const __m256 h = _mm256_hadd_ps(_mm256_add_ps(ea0, eb0), _mm256_add_ps(ea1, eb1));
    const __m256 cnt = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(h), 0xd8));
    const __m256 share = _mm256_div_ps(load8(d, part, nq), cnt);
    const __m256 s0 = _mm256_permutevar8x32_ps(share, lo);
    const __m256 s1 = _mm256_permutevar8x32_ps(share, hi);
    if (relu) {
        store8(oa, masked_share(ea0, ga0, s0), part, n0);
        store8(oa + 8, masked_share(ea1, ga1, s1), part, n1);
        store8(ob, masked_share(eb0, gb0, s0), part, n0);
        store8(ob + 8, masked_share(eb1, gb1, s1), part, n1);
        return;
    }
    store8(oa, relu_mask(ea0, s0, za, part, n0, s, mode), part, n0);
    store8(oa + 8, relu_mask(ea1, s1, za + 8, part, n1, s, mode), part, n1);
    store8(ob, relu_mask(eb0, s0, zb, part, n0, s, mode), part, n0);
    store8(ob + 8, relu_mask(eb1, s1, zb + 8, part, n1, s, mode), part, n1);
}

/*
 * Every row of windows, eight at a time. A row's last few windows (its
 * width not a multiple of 8) go first, as eight whose extra lanes read and
 * write past the row, inside the plane: into the uncovered columns and the
 * next image row, which this row's other windows (after it, all of them)
 * and the next window row (after that) then write, and which the caller
 * zeroes where no window covers. At the very end of the plane, where the
 * extra lanes would leave it, only the row's windows are read and written.
 */
P2_INLINE P2_TARGET void grad_rows(const nb__pool_kernel *p, const float *x, const float *y,
                                   const float *dy, const float *z, float s, float *dx,
                                   const int mode, const bool relu)
{
    const int64_t w = p->w, ow = p->ow, full = ow & ~(int64_t)7, hw = p->h * w;
    const int64_t l = p->oh * ow;
    const __m256 sv = _mm256_set1_ps(s);
    for (int64_t r = 0; r < p->oh; r++) {
        const int64_t at = 2 * r * w;
        const float *a = x + at, *yr = y + r * ow, *dr = dy + r * ow;
        const float *za = mode ? z + at : NULL, *zb = mode ? z + at + w : NULL;
        float *oa = dx + at;
        if (full < ow) {
            const int64_t c = full;
            const int nq = (int)(ow - c);
            if (at + w + 2 * c + 16 <= hw && r * ow + c + 8 <= l)
                windows8(a + 2 * c, a + w + 2 * c, yr + c, dr + c, mode ? za + 2 * c : NULL,
                         mode ? zb + 2 * c : NULL, sv, oa + 2 * c, oa + w + 2 * c, false, 8,
                         mode, relu);
            else
                windows8(a + 2 * c, a + w + 2 * c, yr + c, dr + c, mode ? za + 2 * c : NULL,
                         mode ? zb + 2 * c : NULL, sv, oa + 2 * c, oa + w + 2 * c, true, nq,
                         mode, relu);
        }
        for (int64_t c = 0; c < full; c += 8)
            windows8(a + 2 * c, a + w + 2 * c, yr + c, dr + c, mode ? za + 2 * c : NULL,
                     mode ? zb + 2 * c : NULL, sv, oa + 2 * c, oa + w + 2 * c, false, 8, mode,
                     relu);
    }
}

/* One copy of the rows per mask (either side: masked_share's product is
 * the same bits with the mask on the left or the right). */
#define P2_ROWS(name, mode, relu)                                                              \
    __attribute__((noinline)) P2_TARGET static void name(                                     \
        const nb__pool_kernel *p, const float *x, const float *y, const float *dy,             \
        const float *z, float s, float *dx)                                                    \
    {                                                                                          \
        grad_rows(p, x, y, dy, z, s, dx, mode, relu);                                          \
    }
P2_ROWS(rows_none, NB__POOL_MASK_NONE, false)
P2_ROWS(rows_ge, NB__POOL_MASK_GE, false)
P2_ROWS(rows_gt, NB__POOL_MASK_GT, false)
/* the image itself max(z, s): a relu's max before the pooling */
P2_ROWS(rows_ge_relu, NB__POOL_MASK_GE, true)

static void grad_2x2(const nb__pool_kernel *p, const float *x, const float *y, const float *dy,
                     const float *z, float s, float *dx)
{
    if (p->relu_in) /* fusion_pool.c pairs it with a ge mask only */
        rows_ge_relu(p, x, y, dy, z, s, dx);
    else if (p->mask == NB__POOL_MASK_NONE)
        rows_none(p, x, y, dy, z, s, dx);
    else if (p->mask == NB__POOL_MASK_GE)
        rows_ge(p, x, y, dy, z, s, dx);
    else
        rows_gt(p, x, y, dy, z, s, dx);
}

/* ---------------------------------------------------------------- forward */

/* Eight windows' maxima from rows a, b → o, each window's entries in
 * unfold2d's order as reduce_max folds them (v = e > v ? e : v: maxps(e, v)
 * keeps v on ties and NaNs); with `part`, only nq windows read and
 * written. */
P2_INLINE P2_TARGET void max8(const float *a, const float *b, float *o, const bool part, int nq,
                              const bool relu, __m256 s)
{
    const int n0 = 2 * nq, n1 = 2 * nq - 8;
    const __m256 a0 = pixels(load8(a, part, n0), relu, s);
    const __m256 a1 = pixels(load8(a + 8, part, n1), relu, s);
    const __m256 b0 = pixels(load8(b, part, n0), relu, s);
    const __m256 b1 = pixels(load8(b + 8, part, n1), relu, s);
    /* even and odd columns: windows 0, 1, 4, 5 | 2, 3, 6, 7 */
    const __m256 ea = _mm256_shuffle_ps(a0, a1, 0x88), oa = _mm256_shuffle_ps(a0, a1, 0xdd);
    const __m256 eb = _mm256_shuffle_ps(b0, b1, 0x88), ob = _mm256_shuffle_ps(b0, b1, 0xdd);
    __m256 v = _mm256_max_ps(oa, ea);
    v = _mm256_max_ps(eb, v);
    v = _mm256_max_ps(ob, v);
    store8(o, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(v), 0xd8)), part, nq);
}

/* Every row of windows, as grad_rows: the row's last few windows first,
 * as eight whose extra lanes read past the row and write into the next
 * output row (written after), except at the very end of the plane. */
P2_INLINE P2_TARGET void max_rows(const nb__pool_kernel *p, const float *x, float *out,
                                  const bool relu, float s)
{
    const __m256 sv = _mm256_set1_ps(s);
    const int64_t w = p->w, ow = p->ow, full = ow & ~(int64_t)7, hw = p->h * w;
    const int64_t l = p->oh * ow;
    for (int64_t r = 0; r < p->oh; r++) {
        const int64_t at = 2 * r * w;
        const float *a = x + at;
        float *o = out + r * ow;
        if (full < ow) {
            const int64_t c = full;
            if (at + w + 2 * c + 16 <= hw && r * ow + c + 8 <= l)
                max8(a + 2 * c, a + w + 2 * c, o + c, false, 8, relu, sv);
            else
                max8(a + 2 * c, a + w + 2 * c, o + c, true, (int)(ow - c), relu, sv);
        }
        for (int64_t c = 0; c < full; c += 8)
            max8(a + 2 * c, a + w + 2 * c, o + c, false, 8, relu, sv);
    }
}

__attribute__((noinline)) P2_TARGET static void max_plain(const nb__pool_kernel *p,
                                                          const float *x, float *out)
{
    max_rows(p, x, out, false, 0.0f);
}

__attribute__((noinline)) P2_TARGET static void max_relu(const nb__pool_kernel *p, const float *x,
                                                         float s, float *out)
{
    max_rows(p, x, out, true, s);
}

bool nb__pool_2x2_avx2(const win *k)
{
    return k->kh == 2 && k->kw == 2 && nb__pool_tiles(k) && avx2_cpu();
}

bool nb__pool_max_2x2_avx2(const nb__pool_kernel *p, const float *x, float s, float *out)
{
    if (!nb__pool_2x2_avx2(&p->k))
        return false;
    if (p->relu_in)
        max_relu(p, x, s, out);
    else
        max_plain(p, x, out);
    return true;
}

/* ---------------------------------------------------------------- plane sums */

/* Σ of a plane as reduce.h's row_sum adds it (hw ≥ 16): sixteen lanes,
 * lane k over x[k], x[k + 16], … in order (the two vectors of a), then the
 * lanes in order from 0, then the tail in order. */
P2_INLINE P2_TARGET float finish_sum(const __m256 *a, const float *x, int64_t full, int64_t hw)
{
    float t[16], s = 0.0f;
    _mm256_storeu_ps(t, a[0]);
    _mm256_storeu_ps(t + 8, a[1]);
    for (int k = 0; k < 16; k++)
        s += t[k];
    for (int64_t i = full; i < hw; i++)
        s += x[i];
    return s;
}

/* The sums of n planes of hw ≥ 16 floats from x, row_sum's bits: four
 * planes at a time, whose chains of adds are independent (one plane's
 * sixteen lanes wait on their own adds, a latency apart). */
__attribute__((noinline)) P2_TARGET static void plane_sums(const float *x, int64_t hw,
                                                           int64_t n, float *sums)
{
    const int64_t full = hw / 16 * 16;
    int64_t q = 0;
    for (; q + 4 <= n; q += 4) {
        const float *p0 = x + q * hw, *p1 = p0 + hw, *p2 = p1 + hw, *p3 = p2 + hw;
        __m256 a0[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()}, a1[2] = {a0[0], a0[1]},
               a2[2] = {a0[0], a0[1]}, a3[2] = {a0[0], a0[1]};
        for (int64_t i = 0; i < full; i += 16) {
            a0[0] = _mm256_add_ps(a0[0], _mm256_loadu_ps(p0 + i));
            a0[1] = _mm256_add_ps(a0[1], _mm256_loadu_ps(p0 + i + 8));
            a1[0] = _mm256_add_ps(a1[0], _mm256_loadu_ps(p1 + i));
            a1[1] = _mm256_add_ps(a1[1], _mm256_loadu_ps(p1 + i + 8));
            a2[0] = _mm256_add_ps(a2[0], _mm256_loadu_ps(p2 + i));
            a2[1] = _mm256_add_ps(a2[1], _mm256_loadu_ps(p2 + i + 8));
            a3[0] = _mm256_add_ps(a3[0], _mm256_loadu_ps(p3 + i));
            a3[1] = _mm256_add_ps(a3[1], _mm256_loadu_ps(p3 + i + 8));
        }
        sums[q] = finish_sum(a0, p0, full, hw);
        sums[q + 1] = finish_sum(a1, p1, full, hw);
        sums[q + 2] = finish_sum(a2, p2, full, hw);
        sums[q + 3] = finish_sum(a3, p3, full, hw);
    }
    for (; q < n; q++) {
        const float *p0 = x + q * hw;
        __m256 a0[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int64_t i = 0; i < full; i += 16) {
            a0[0] = _mm256_add_ps(a0[0], _mm256_loadu_ps(p0 + i));
            a0[1] = _mm256_add_ps(a0[1], _mm256_loadu_ps(p0 + i + 8));
        }
        sums[q] = finish_sum(a0, p0, full, hw);
    }
}

bool nb__pool_plane_sums_avx2(const float *x, int64_t hw, int64_t n, float *sums)
{
    if (hw < 16 || !avx2_cpu())
        return false;
    plane_sums(x, hw, n, sums);
    return true;
}

/* ---------------------------------------------------------------- entry points */

bool nb__pool_max_grad_2x2_avx2(const nb__pool_kernel *p, const float *x, const float *y,
                                const float *dy, const float *z, float s, float *dx)
{
    if (!nb__pool_2x2_avx2(&p->k))
        return false;
    grad_2x2(p, x, y, dy, z, s, dx);
    return true;
}
#else
bool nb__pool_plane_sums_avx2(const float *x, int64_t hw, int64_t n, float *sums)
{
    return (void)x, (void)hw, (void)n, (void)sums, false;
}

bool nb__pool_2x2_avx2(const win *k)
{
    return (void)k, false;
}

bool nb__pool_max_2x2_avx2(const nb__pool_kernel *p, const float *x, float s, float *out)
{
    return (void)p, (void)x, (void)s, (void)out, false;
}

bool nb__pool_max_grad_2x2_avx2(const nb__pool_kernel *p, const float *x, const float *y,
                                const float *dy, const float *z, float s, float *dx)
{
    (void)p, (void)x, (void)y, (void)dy, (void)z, (void)s, (void)dx;
    return false;
}
#endif
