/*
 * conv_direct_simd.h — the register-blocked blocks of the direct
 * convolutions (conv_direct.h), written once for a vector of CD_LANES
 * floats and compiled once per instruction set: conv_direct_fma.c (AVX2,
 * 8 lanes) and conv_direct_avx512.c (16 lanes) each define
 *
 *   CD_LANES    floats per vector
 *   CD_TARGET   the target attribute of the blocks
 *   CD_FWD_S    slots of a forward panel (panels are 4 or 6 rows)
 *   CD_WG_RMAX, CD_WG_SMAX   the most column rows and vectors of filters
 *               of a weight-gradient panel
 *   CD_WG_SHAPES(X)  X(R, S) for each panel shape used
 *   CD_WG_PANELS(left, t, f)  runs the panels of the next vectors of
 *               filters from f (left of them) and advances f
 *   CD_DIRECT_NAME, CD_WG_NAME   the entry points' names
 *
 * and include this file once. Every lane computes the chain its plain loop
 * (conv_direct.c) computes, so every instruction set gives the same bits.
 */
#include <string.h>

#include "conv_direct.h"

#define CD_INLINE static inline __attribute__((always_inline))
#define CD_SV (NB__CONV_SLOT / CD_LANES)            /* vectors of a direct slot */

typedef float vec __attribute__((vector_size(CD_LANES * 4)));
typedef float vecu __attribute__((vector_size(CD_LANES * 4), aligned(4), may_alias));

/* c + a·b lane by lane, each lane one fused multiply-add. */
CD_INLINE CD_TARGET vec fmav(vec a, vec b, vec c)
{
    vec r;
    for (int l = 0; l < CD_LANES; l++)
        r[l] = __builtin_fmaf(a[l], b[l], c[l]);
    return r;
}

CD_INLINE CD_TARGET vec splat(float x)
{
    vec r;
    for (int l = 0; l < CD_LANES; l++)
        r[l] = x;
    return r;
}

/* ---------------------------------------------------------------- forward */

/* The first n lanes (all when n ≥ CD_LANES, none when n ≤ 0) of the
 * vector at p, zeros past them, and their store: through masks, so a slot
 * of fewer real positions (a row of 14 or 28 fills 16 or 32 lanes) is read
 * and written in place, never past its row. */
#if CD_LANES == 16
CD_INLINE CD_TARGET __mmask16 lane_mask(int n)
{
    return (__mmask16)(n >= 16 ? 0xffffu : n <= 0 ? 0u : (1u << n) - 1u);
}

CD_INLINE CD_TARGET vec load_lanes(const float *p, int n)
{
    return (vec)_mm512_maskz_loadu_ps(lane_mask(n), p);
}

CD_INLINE CD_TARGET void store_lanes(float *p, int n, vec v)
{
    _mm512_mask_storeu_ps(p, lane_mask(n), (__m512)v);
}
#else
CD_INLINE CD_TARGET __m256i lane_mask(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

CD_INLINE CD_TARGET vec load_lanes(const float *p, int n)
{
    return (vec)_mm256_maskload_ps(p, lane_mask(n));
}

CD_INLINE CD_TARGET void store_lanes(float *p, int n, vec v)
{
    _mm256_maskstore_ps(p, lane_mask(n), (__m256)v);
}
#endif

/* The first n lanes of v at p (none when n ≤ 0): AVX-512's masked store
 * is native; AVX2's is microcode on AMD, so there the lanes go through
 * the stack one float at a time. */
CD_INLINE CD_TARGET void store_part(float *p, int n, vec v)
{
#if CD_LANES == 16
    store_lanes(p, n, v);
#else
    _Alignas(32) float b[CD_LANES];
    *(vec *)b = v;
    for (int l = 0; l < n; l++)
        p[l] = b[l];
#endif
}

/* Rows of the next panel when `left` rows remain: six while that leaves
 * none or enough for a panel of four, so 7 and 8 rows go as 4 + 3, 4 + 4. */
static int panel_rows(int64_t left)
{
    return left <= 6 ? (int)left : left <= 8 ? 4 : 6;
}

/* ---------------------------------------------------------------- forward */

/* R (4 or 6) rows of a, the first `rows` real (as fwd_panel's), against
 * S (≤ CD_FWD_S) slots, both constants once inlined: slot s reads
 * b[s] + offs[p] and continues (or starts) the chains of its rows at c[s]
 * (row stride ldc[s]). Row r's weights are runs of kg column rows, gs
 * floats apart (nb__conv_rows). The R × S × CD_SV accumulators stay in
 * registers throughout. */
CD_INLINE CD_TARGET void direct_panel(const int R, const int S, int rows, const float *a,
                                      int64_t lda, int64_t kg, int64_t gs,
                                      const float *const *b, const int32_t *offs, int64_t kb,
                                      float *const *c, const int64_t *ldc, const int *w,
                                      bool first)
{
    vec acc[6][CD_FWD_S][CD_SV];
    const float *ar[6];
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
        ar[r] = a + (r < rows ? r : 0) * lda;
#pragma GCC unroll 4
        for (int s = 0; s < S; s++)
#pragma GCC unroll 2
            for (int h = 0; h < CD_SV; h++)
                acc[r][s][h] = first || r >= rows ? splat(0.0f)
                                                  : load_lanes(c[s] + r * ldc[s] + h * CD_LANES,
                                                               w[s] - h * CD_LANES);
    }
    for (int64_t p0 = 0; p0 < kb; p0 += kg) {
        const int64_t pe = kb - p0 < kg ? kb : p0 + kg;
        for (int64_t p = p0; p < pe; p++) {
            const int64_t o = offs[p];
            vec y[CD_FWD_S][CD_SV];
#pragma GCC unroll 4
            for (int s = 0; s < S; s++)
#pragma GCC unroll 2
                for (int h = 0; h < CD_SV; h++)
                    y[s][h] = *(const vecu *)(b[s] + o + h * CD_LANES);
#pragma GCC unroll 6
            for (int r = 0; r < R; r++) {
                const vec x = splat(ar[r][p]);
#pragma GCC unroll 4
                for (int s = 0; s < S; s++)
#pragma GCC unroll 2
                    for (int h = 0; h < CD_SV; h++)
                        acc[r][s][h] = fmav(x, y[s][h], acc[r][s][h]);
            }
        }
        /* the next run: ar[r][p] for p from pe reads gs - kg floats on */
#pragma GCC unroll 6
        for (int r = 0; r < R; r++)
            ar[r] += gs - kg;
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int s = 0; s < S; s++)
#pragma GCC unroll 2
            for (int h = 0; h < CD_SV; h++)
                if (r < rows) {
                    /* a full vector by a plain store: AMD's masked store
                     * is microcoded, a dozen cycles each */
                    if (w[s] - h * CD_LANES >= CD_LANES)
                        *(vecu *)(c[s] + r * ldc[s] + h * CD_LANES) = acc[r][s][h];
                    else
                        store_part(c[s] + r * ldc[s] + h * CD_LANES, w[s] - h * CD_LANES,
                                   acc[r][s][h]);
                }
}

/* One function per panel shape, so each inner loop gets the registers
 * to itself (inlined into the switch below, the loops around it kept
 * their values in registers and the panel's pointers went to the stack). */
#define DIRECT_PANEL_OF(R, S)                                                                  \
    __attribute__((noinline)) CD_TARGET static void direct_panel_##R##_##S(                   \
        int rows, const float *a, int64_t lda, int64_t kg, int64_t gs, const float *const *b,  \
        const int32_t *offs, int64_t kb, float *const *c, const int64_t *ldc, const int *w,    \
        bool first)                                                                            \
    {                                                                                          \
        direct_panel(R, (S) < CD_FWD_S ? (S) : CD_FWD_S, rows, a, lda, kg, gs, b, offs, kb, c, \
                     ldc, w, first);                                                           \
    }
DIRECT_PANEL_OF(4, 1)
DIRECT_PANEL_OF(6, 1)
#if CD_FWD_S > 1
DIRECT_PANEL_OF(4, 2)
DIRECT_PANEL_OF(6, 2)
DIRECT_PANEL_OF(4, 3)
DIRECT_PANEL_OF(6, 3)
DIRECT_PANEL_OF(4, 4)
DIRECT_PANEL_OF(6, 4)
#endif

/* direct_panel for sizes known only at run time. */
CD_TARGET static void direct_panel_any(int rows, int slots, const float *a, int64_t lda,
                                       int64_t kg, int64_t gs, const float *const *b,
                                       const int32_t *offs, int64_t kb, float *const *c,
                                       const int64_t *ldc, const int *w, bool first)
{
#define DIRECT_CASE(R, S)                                                                      \
    case (R) * 8 + (S):                                                                        \
        direct_panel_##R##_##S(rows, a, lda, kg, gs, b, offs, kb, c, ldc, w, first);           \
        return
    switch ((rows <= 4 ? 4 : 6) * 8 + slots) {
        DIRECT_CASE(4, 1); DIRECT_CASE(6, 1);
#if CD_FWD_S > 1
        DIRECT_CASE(4, 2); DIRECT_CASE(6, 2);
        DIRECT_CASE(4, 3); DIRECT_CASE(6, 3);
        DIRECT_CASE(4, 4); DIRECT_CASE(6, 4);
#endif
    default: return;
    }
#undef DIRECT_CASE
}

/* The direct block: each CD_FWD_S slots (their staged pixels in L1 while
 * every panel of rows uses them) against the panels of rows; a slot with
 * fewer real lanes is read and written through masks. */
CD_TARGET static void direct_block(int64_t m, int64_t kb, const nb__conv_rows *ra,
                                   const int32_t *offs, const nb__conv_slots *sl, bool first)
{
    const float *a = ra->a;
    const int64_t lda = ra->lda, kg = ra->kg < kb ? ra->kg : kb, gs = ra->gs;
    for (int g0 = 0; g0 < sl->n; g0 += CD_FWD_S) {
        const int slots = sl->n - g0 < CD_FWD_S ? sl->n - g0 : CD_FWD_S;
        for (int64_t i = 0; i < m;) {
            const int rows = panel_rows(m - i);
            float *c[CD_FWD_S];
            int64_t ldc[CD_FWD_S];
            for (int s = 0; s < slots; s++)
                c[s] = sl->c[g0 + s] + i * sl->ldc, ldc[s] = sl->ldc;
            direct_panel_any(rows, slots, a + i * lda, lda, kg, gs, sl->b + g0, offs, kb, c, ldc,
                             sl->w + g0, first);
            i += rows;
        }
    }
}

/* ---------------------------------------------------------------- weight gradient */

/*
 * R column rows [p, p + R) by S vectors of filters from f, the first `rows`
 * rows real (the others repeat row p and are dropped), both R and S
 * constants once inlined: the R × S sums of the tile stay in registers
 * over its positions, each position one load of S vectors of dyt and R
 * broadcasts of staged pixels, then join acc (conv_direct.h's
 * nb__conv_wg_tile).
 */
CD_INLINE CD_TARGET void wg_panel(const int R, const int S, int rows, const nb__conv_wg_tile *t,
                                  int64_t p, int64_t f)
{
    vec s[CD_WG_RMAX][CD_WG_SMAX];
    int64_t o[CD_WG_RMAX];
    float *acc = t->acc + p * t->fp + f;
#pragma GCC unroll 12
    for (int r = 0; r < R; r++) {
        o[r] = t->offs[p + (r < rows ? r : 0)];
#pragma GCC unroll 4
        for (int h = 0; h < S; h++)
            s[r][h] = splat(0.0f);
    }
    const int64_t cstep = t->cstep, fp = t->fp, cols = t->cols;
    for (int64_t y = 0; y < t->rows; y++) {
        const float *b = t->st + y * t->rstep, *d = t->dyt + y * cols * fp + f;
        for (int64_t x = 0; x < cols; x++, b += cstep, d += fp) {
            vec dv[CD_WG_SMAX];
#pragma GCC unroll 4
            for (int h = 0; h < S; h++)
                dv[h] = *(const vecu *)(d + h * CD_LANES);
#pragma GCC unroll 12
            for (int r = 0; r < R; r++) {
                const vec xv = splat(b[o[r]]);
#pragma GCC unroll 4
                for (int h = 0; h < S; h++)
                    s[r][h] = fmav(xv, dv[h], s[r][h]);
            }
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int h = 0; h < S; h++)
            if (r < rows)
                *(vecu *)(acc + r * t->fp + h * CD_LANES) =
                    (vec)(*(const vecu *)(acc + r * t->fp + h * CD_LANES)) + s[r][h];
}

/* Every panel of R rows against S vectors of filters from f: one function
 * per shape, so each inner loop gets the registers to itself. */
#define CD_WG_PANELS_OF(R, S)                                                                  \
    __attribute__((noinline)) CD_TARGET static void wg_panels_##R##_##S(                      \
        const nb__conv_wg_tile *t, int64_t f)                                                  \
    {                                                                                          \
        for (int64_t p = 0; p < t->np; p += R)                                                 \
            wg_panel(R, S, t->np - p < R ? (int)(t->np - p) : R, t, p, f);                     \
    }
CD_WG_SHAPES(CD_WG_PANELS_OF)
#define wg_panels(R, S, t, f) wg_panels_##R##_##S(t, f)

#ifdef CD_TRANSPOSE
/* u[b], u[4 + b], u[8 + b], u[12 + b] hold, in 128-bit lane j, filters
 * 0-3, 4-7, 8-11, 12-15 at position 4j + b: out[4j + b] gathers lane j of
 * each. */
CD_INLINE CD_TARGET void transpose_lanes(const __m512 *u, __m512 *out)
{
    for (int b = 0; b < 4; b++) {
        const __m512 v = _mm512_shuffle_f32x4(u[b], u[4 + b], 0x44);
        const __m512 w = _mm512_shuffle_f32x4(u[8 + b], u[12 + b], 0x44);
        const __m512 v2 = _mm512_shuffle_f32x4(u[b], u[4 + b], 0xee);
        const __m512 w2 = _mm512_shuffle_f32x4(u[8 + b], u[12 + b], 0xee);
        out[b] = _mm512_shuffle_f32x4(v, w, 0x88);
        out[4 + b] = _mm512_shuffle_f32x4(v, w, 0xdd);
        out[8 + b] = _mm512_shuffle_f32x4(v2, w2, 0x88);
        out[12 + b] = _mm512_shuffle_f32x4(v2, w2, 0xdd);
    }
}

/* 16 rows r (16 filters, 16 positions each) → out[position] (16
 * filters): unpacking pairs of rows, then groups of four, then lanes. */
CD_INLINE CD_TARGET void transpose16(const __m512 *r, __m512 *out)
{
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int a = 0; a < 4; a++) {
        u[4 * a] = _mm512_shuffle_ps(t[4 * a], t[4 * a + 2], 0x44);
        u[4 * a + 1] = _mm512_shuffle_ps(t[4 * a], t[4 * a + 2], 0xee);
        u[4 * a + 2] = _mm512_shuffle_ps(t[4 * a + 1], t[4 * a + 3], 0x44);
        u[4 * a + 3] = _mm512_shuffle_ps(t[4 * a + 1], t[4 * a + 3], 0xee);
    }
    transpose_lanes(u, out);
}

/* conv_wg.c's transposition of dy's tile, 16 filters by 16 positions of a
 * row at a time: masked loads past the row's positions, zeros for the
 * filters past nf. */
CD_TARGET static void wg_transpose(const nb__conv_wg_dy *t)
{
    for (int64_t f0 = 0; f0 < t->fp; f0 += 16) {
        const int64_t left = t->nf - f0 > 16 ? 16 : t->nf - f0 < 0 ? 0 : t->nf - f0;
        for (int64_t y = 0; y < t->rows; y++) {
            const float *src = t->dy + f0 * t->l + (t->oh0 + y) * t->ow + t->ow0;
            float *dst = t->dyt + y * t->cols * t->fp + f0;
            /* the next tile's rows: sixteen and more streams a filter
             * apart, beyond the hardware's prefetch */
            const int64_t ahead = (t->oh0 + t->rows + y) * t->ow < t->l ? t->rows * t->ow : 0;
            for (int64_t x = 0; x < t->cols; x += 16) {
                const int nq = t->cols - x < 16 ? (int)(t->cols - x) : 16;
                const __mmask16 m = (__mmask16)((1u << nq) - 1u);
                __m512 r[16], out[16];
                for (int i = 0; i < 16; i++) {
                    r[i] = i < left ? _mm512_maskz_loadu_ps(m, src + i * t->l + x)
                                    : _mm512_setzero_ps();
                    if (i < left && ahead)
                        __builtin_prefetch(src + i * t->l + x + ahead);
                }
                transpose16(r, out);
                for (int q = 0; q < nq; q++)
                    _mm512_storeu_ps(dst + (x + q) * t->fp, out[q]);
            }
        }
    }
}

bool CD_TRANSPOSE(const nb__conv_wg_dy *t)
{
    if (!CD_CPU_HAS())
        return false;
    wg_transpose(t);
    return true;
}
#endif

/* The tile: CD_WG_PANELS picks, for the vectors of filters left, the
 * panel shape (the filters' slice of dyt stays in L1 over every panel of
 * rows). */
CD_TARGET static void wg_tile(const nb__conv_wg_tile *t)
{
    for (int64_t f = 0; f < t->fp;) {
        const int64_t left = (t->fp - f) / CD_LANES;
        CD_WG_PANELS(left, t, f);
    }
}

/* ---------------------------------------------------------------- entry points */

bool CD_DIRECT_NAME(int64_t m, int64_t kb, const nb__conv_rows *a, const int32_t *offs,
                    const nb__conv_slots *sl, bool first)
{
    if (!CD_CPU_HAS())
        return false;
    direct_block(m, kb, a, offs, sl, first);
    return true;
}

bool CD_WG_NAME(const nb__conv_wg_tile *t)
{
    if (!CD_CPU_HAS())
        return false;
    wg_tile(t);
    return true;
}
