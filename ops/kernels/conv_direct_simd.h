/*
 * conv_direct_simd.h — the register-blocked blocks of the direct
 * convolutions (conv_direct.h), written once for a vector of CD_LANES
 * floats and compiled once per instruction set: conv_direct_fma.c (AVX2,
 * 8 lanes) and conv_direct_avx512.c (16 lanes) each define
 *
 *   CD_LANES    floats per vector
 *   CD_TARGET   the target attribute of the blocks
 *   CD_FWD_S    slots of a forward panel (panels are 4 or 6 rows)
 *   CD_WG_I     filters of a weight-gradient block
 *   CD_WG_J     column rows of a weight-gradient block
 *   CD_DIRECT_NAME, CD_WG_NAME   the entry points' names
 *
 * and include this file once. Every lane computes the chain its plain loop
 * (conv_direct.c) computes, so every instruction set gives the same bits.
 */
#include <string.h>

#include "conv_direct.h"

#define CD_INLINE static inline __attribute__((always_inline))
#define CD_WG_V (NB__CONV_WG_LANES / CD_LANES)      /* vectors of a gradient accumulator */
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
 * (row stride ldc[s]). The R × S × CD_SV accumulators stay in registers
 * throughout. */
CD_INLINE CD_TARGET void direct_panel(const int R, const int S, int rows, const float *a,
                                      int64_t lda, const float *const *b, const int32_t *offs,
                                      int64_t kb, float *const *c, const int64_t *ldc,
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
                acc[r][s][h] = first || r >= rows
                                   ? splat(0.0f)
                                   : (vec)(*(const vecu *)(c[s] + r * ldc[s] + h * CD_LANES));
    }
    for (int64_t p = 0; p < kb; p++) {
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
#pragma GCC unroll 6
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int s = 0; s < S; s++)
#pragma GCC unroll 2
            for (int h = 0; h < CD_SV; h++)
                if (r < rows)
                    *(vecu *)(c[s] + r * ldc[s] + h * CD_LANES) = acc[r][s][h];
}

/* direct_panel for sizes known only at run time. */
CD_TARGET static void direct_panel_any(int rows, int slots, const float *a, int64_t lda,
                                       const float *const *b, const int32_t *offs, int64_t kb,
                                       float *const *c, const int64_t *ldc, bool first)
{
#define DIRECT_MIN(x, y) ((x) < (y) ? (x) : (y))
#define DIRECT_CASE(R, S)                                                                      \
    case (R) * 8 + (S):                                                                        \
        direct_panel(R, DIRECT_MIN(S, CD_FWD_S), rows, a, lda, b, offs, kb, c, ldc, first);    \
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
#undef DIRECT_MIN
}

/* The direct block: each CD_FWD_S slots (their staged pixels in L1 while
 * every panel of rows uses them) against the panels of rows; a slot with
 * fewer real lanes goes through a copy of its rows. */
CD_TARGET static void direct_block(int64_t m, int64_t kb, const float *a, int64_t lda,
                                   const int32_t *offs, const nb__conv_slots *sl, bool first)
{
    for (int g0 = 0; g0 < sl->n; g0 += CD_FWD_S) {
        const int slots = sl->n - g0 < CD_FWD_S ? sl->n - g0 : CD_FWD_S;
        for (int64_t i = 0; i < m;) {
            const int rows = panel_rows(m - i);
            float t[CD_FWD_S][6 * NB__CONV_SLOT];
            float *c[CD_FWD_S];
            int64_t ldc[CD_FWD_S];
            for (int s = 0; s < slots; s++) {
                const int w = sl->w[g0 + s];
                c[s] = sl->c[g0 + s] + i * sl->ldc, ldc[s] = sl->ldc;
                if (w == NB__CONV_SLOT)
                    continue;
                memset(t[s], 0, sizeof t[s]);
                for (int r = 0; r < rows && !first; r++)
                    memcpy(t[s] + r * NB__CONV_SLOT, c[s] + r * sl->ldc, (size_t)w * sizeof(float));
                c[s] = t[s], ldc[s] = NB__CONV_SLOT;
            }
            direct_panel_any(rows, slots, a + i * lda, lda, sl->b + g0, offs, kb, c, ldc, first);
            for (int s = 0; s < slots; s++)
                for (int r = 0; r < rows && sl->w[g0 + s] != NB__CONV_SLOT; r++)
                    memcpy(sl->c[g0 + s] + (i + r) * sl->ldc, t[s] + r * NB__CONV_SLOT,
                           (size_t)sl->w[g0 + s] * sizeof(float));
            i += rows;
        }
    }
}

/* ---------------------------------------------------------------- weight gradient */

/* CD_WG_I rows of d (row stride ldd) against CD_WG_J rows of t (row stride
 * ldt), over positions [0, len) (a multiple of NB__CONV_WG_LANES): the
 * accumulators of NB__CONV_WG_LANES lanes at acc (row stride acs) continue
 * their chains. Only the first ri rows of d and rj of t are real: the
 * others repeat the first and their sums are dropped, so one block size
 * serves every edge. */
CD_TARGET static void wg_panel(int ri, int rj, const float *d, int64_t ldd, const float *t,
                               int64_t ldt, int64_t len, float *acc, int64_t acs)
{
    vec s[CD_WG_I][CD_WG_J][CD_WG_V];
    const float *dr[CD_WG_I], *tr[CD_WG_J];
#pragma GCC unroll 4
    for (int i = 0; i < CD_WG_I; i++)
        dr[i] = d + (i < ri ? i : 0) * ldd;
#pragma GCC unroll 6
    for (int j = 0; j < CD_WG_J; j++)
        tr[j] = t + (j < rj ? j : 0) * ldt;
#pragma GCC unroll 4
    for (int i = 0; i < CD_WG_I; i++)
#pragma GCC unroll 6
        for (int j = 0; j < CD_WG_J; j++)
#pragma GCC unroll 2
            for (int h = 0; h < CD_WG_V; h++)
                s[i][j][h] = i < ri && j < rj ? (vec)(*(const vecu *)(acc + i * acs +
                                                       j * NB__CONV_WG_LANES + h * CD_LANES))
                                              : splat(0.0f);
    for (int64_t q = 0; q < len; q += NB__CONV_WG_LANES) {
#pragma GCC unroll 2
        for (int h = 0; h < CD_WG_V; h++) {
            vec x[CD_WG_I];
#pragma GCC unroll 4
            for (int i = 0; i < CD_WG_I; i++)
                x[i] = *(const vecu *)(dr[i] + q + h * CD_LANES);
#pragma GCC unroll 6
            for (int j = 0; j < CD_WG_J; j++) {
                const vec y = *(const vecu *)(tr[j] + q + h * CD_LANES);
#pragma GCC unroll 4
                for (int i = 0; i < CD_WG_I; i++)
                    s[i][j][h] = fmav(x[i], y, s[i][j][h]);
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < CD_WG_I; i++)
#pragma GCC unroll 6
        for (int j = 0; j < CD_WG_J; j++)
#pragma GCC unroll 2
            for (int h = 0; h < CD_WG_V; h++)
                if (i < ri && j < rj)
                    *(vecu *)(acc + i * acs + j * NB__CONV_WG_LANES + h * CD_LANES) = s[i][j][h];
}

/* The weight-gradient block: each CD_WG_I rows of d against every CD_WG_J
 * rows of t, which stays in L1 meanwhile. */
CD_TARGET static void wg_block(int64_t nf, int64_t np, const float *d, int64_t ldd,
                               const float *t, int64_t ldt, int64_t len, float *acc)
{
    const int64_t acs = np * NB__CONV_WG_LANES;
    for (int64_t i = 0; i < nf; i += CD_WG_I) {
        const int ri = nf - i < CD_WG_I ? (int)(nf - i) : CD_WG_I;
        for (int64_t j = 0; j < np; j += CD_WG_J)
            wg_panel(ri, np - j < CD_WG_J ? (int)(np - j) : CD_WG_J, d + i * ldd, ldd,
                     t + j * ldt, ldt, len, acc + i * acs + j * NB__CONV_WG_LANES, acs);
    }
}

/* ---------------------------------------------------------------- entry points */

bool CD_DIRECT_NAME(int64_t m, int64_t kb, const float *a, int64_t lda, const int32_t *offs,
                    const nb__conv_slots *sl, bool first)
{
    if (!CD_CPU_HAS())
        return false;
    direct_block(m, kb, a, lda, offs, sl, first);
    return true;
}

bool CD_WG_NAME(int64_t nf, int64_t np, const float *d, int64_t ldd, const float *t, int64_t ldt,
                int64_t len, float *acc)
{
    if (!CD_CPU_HAS())
        return false;
    wg_block(nf, np, d, ldd, t, ldt, len, acc);
    return true;
}
