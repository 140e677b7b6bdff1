/*
 * conv_direct_simd.h — the register-blocked blocks of the direct
 * convolutions (conv_direct.h), written once for a vector of CD_LANES
 * floats and compiled once per instruction set: conv_direct_fma.c (AVX2,
 * 8 lanes) and conv_direct_avx512.c (16 lanes) each define
 *
 *   CD_LANES    floats per vector
 *   CD_TARGET   the target attribute of the blocks
 *   CD_FWD_V    vectors per row of a forward panel (panels are 6 rows)
 *   CD_WG_I     filters of a weight-gradient block
 *   CD_WG_J     column rows of a weight-gradient block
 *   CD_FWD_NAME, CD_WG_NAME   the entry points' names
 *
 * and include this file once. Every lane computes the chain its plain loop
 * (conv_direct.c) computes, so every instruction set gives the same bits.
 */
#include <string.h>

#include "conv_direct.h"

#define CD_INLINE static inline __attribute__((always_inline))
#define CD_STRIP (CD_FWD_V * CD_LANES)              /* columns of a forward panel */
#define CD_WG_V (NB__CONV_WG_LANES / CD_LANES)      /* vectors of a gradient accumulator */

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

/* R (≤ 6) rows of a against V (≤ CD_FWD_V) vectors of columns of the
 * packed tile at b, both constants once inlined: c[r, 0..V·CD_LANES)
 * continues (or, first, starts) its chains over p < kb, the R × V
 * accumulators in registers throughout. */
CD_INLINE CD_TARGET void fwd_panel(const int R, const int V, const float *a, int64_t lda,
                                   const float *b, int64_t ldb, int64_t kb, float *c,
                                   int64_t ldc, bool first)
{
    vec acc[6][CD_FWD_V];
#pragma GCC unroll 6
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < V; v++)
            acc[r][v] = first ? splat(0.0f) : (vec)(*(const vecu *)(c + r * ldc + v * CD_LANES));
    for (int64_t p = 0; p < kb; p++) {
        vec y[CD_FWD_V];
#pragma GCC unroll 4
        for (int v = 0; v < V; v++)
            y[v] = *(const vecu *)(b + p * ldb + v * CD_LANES);
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            const vec x = splat(a[r * lda + p]);
#pragma GCC unroll 4
            for (int v = 0; v < V; v++)
                acc[r][v] = fmav(x, y[v], acc[r][v]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < V; v++)
            *(vecu *)(c + r * ldc + v * CD_LANES) = acc[r][v];
}

/* fwd_panel for sizes known only at run time. */
CD_TARGET static void fwd_panel_any(int rows, int vecs, const float *a, int64_t lda,
                                    const float *b, int64_t ldb, int64_t kb, float *c,
                                    int64_t ldc, bool first)
{
#define FWD_CASE(R, V)                                                                         \
    case (R) * 8 + (V): fwd_panel(R, V, a, lda, b, ldb, kb, c, ldc, first); return
#define FWD_ROWS(V)                                                                            \
    FWD_CASE(1, V); FWD_CASE(2, V); FWD_CASE(3, V); FWD_CASE(4, V); FWD_CASE(5, V);           \
    FWD_CASE(6, V)
    switch (rows * 8 + vecs) {
        FWD_ROWS(1);
        FWD_ROWS(2);
#if CD_FWD_V > 2
        FWD_ROWS(3);
        FWD_ROWS(4);
#endif
    default: return;
    }
#undef FWD_ROWS
#undef FWD_CASE
}

/* Rows of the next panel when `left` rows remain: six while that leaves
 * none or enough for a panel of four, so 7 and 8 rows go as 4 + 3, 4 + 4. */
static int panel_rows(int64_t left)
{
    return left <= 6 ? (int)left : left <= 8 ? 4 : 6;
}

/* The forward block: for each CD_STRIP columns of the tile (in L1 while
 * every panel of rows uses them), the panels of rows; columns that end
 * inside a vector go through a copy of their rows. */
CD_TARGET static void fwd_block(int64_t m, int64_t kb, const float *a, int64_t lda,
                                const float *b, int64_t ldb, int64_t cnt, float *c, int64_t ldc,
                                bool first)
{
    for (int64_t j = 0; j < cnt; j += CD_STRIP) {
        const int64_t w = cnt - j < CD_STRIP ? cnt - j : CD_STRIP;
        const int vecs = (int)((w + CD_LANES - 1) / CD_LANES);
        for (int64_t i = 0; i < m;) {
            const int rows = panel_rows(m - i);
            float *ci = c + i * ldc + j;
            if (w == (int64_t)vecs * CD_LANES) {
                fwd_panel_any(rows, vecs, a + i * lda, lda, b + j, ldb, kb, ci, ldc, first);
            } else {
                float t[6 * CD_STRIP] = {0};
                for (int r = 0; r < rows && !first; r++)
                    memcpy(t + r * CD_STRIP, ci + r * ldc, (size_t)w * sizeof(float));
                fwd_panel_any(rows, vecs, a + i * lda, lda, b + j, ldb, kb, t, CD_STRIP, first);
                for (int r = 0; r < rows; r++)
                    memcpy(ci + r * ldc, t + r * CD_STRIP, (size_t)w * sizeof(float));
            }
            i += rows;
        }
    }
}

/* ---------------------------------------------------------------- weight gradient */

/* RI (≤ CD_WG_I) rows of d (row stride ldd) against RJ (≤ CD_WG_J) rows of
 * t (row stride ldt), over positions [0, len) (a multiple of
 * NB__CONV_WG_LANES): the RI × RJ accumulators of NB__CONV_WG_LANES lanes
 * at acc (row stride acs) continue their chains. */
CD_INLINE CD_TARGET void wg_panel(const int RI, const int RJ, const float *d, int64_t ldd,
                                  const float *t, int64_t ldt, int64_t len, float *acc,
                                  int64_t acs)
{
    vec s[CD_WG_I][CD_WG_J][CD_WG_V];
#pragma GCC unroll 4
    for (int i = 0; i < RI; i++)
#pragma GCC unroll 6
        for (int j = 0; j < RJ; j++)
#pragma GCC unroll 2
            for (int h = 0; h < CD_WG_V; h++)
                s[i][j][h] = *(const vecu *)(acc + i * acs + j * NB__CONV_WG_LANES + h * CD_LANES);
    for (int64_t q = 0; q < len; q += NB__CONV_WG_LANES) {
#pragma GCC unroll 2
        for (int h = 0; h < CD_WG_V; h++) {
            vec x[CD_WG_I];
#pragma GCC unroll 4
            for (int i = 0; i < RI; i++)
                x[i] = *(const vecu *)(d + i * ldd + q + h * CD_LANES);
#pragma GCC unroll 6
            for (int j = 0; j < RJ; j++) {
                const vec y = *(const vecu *)(t + j * ldt + q + h * CD_LANES);
#pragma GCC unroll 4
                for (int i = 0; i < RI; i++)
                    s[i][j][h] = fmav(x[i], y, s[i][j][h]);
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < RI; i++)
#pragma GCC unroll 6
        for (int j = 0; j < RJ; j++)
#pragma GCC unroll 2
            for (int h = 0; h < CD_WG_V; h++)
                *(vecu *)(acc + i * acs + j * NB__CONV_WG_LANES + h * CD_LANES) = s[i][j][h];
}

/* wg_panel for block sizes known only at run time. */
CD_TARGET static void wg_panel_any(int ri, int rj, const float *d, int64_t ldd, const float *t,
                                   int64_t ldt, int64_t len, float *acc, int64_t acs)
{
/* Sizes past the block's (never reached) are clamped, so that every case
 * compiles to a block that fits its accumulators. */
#define WG_MIN(a, b) ((a) < (b) ? (a) : (b))
#define WG_CASE(I, J)                                                                          \
    case (I) * 8 + (J):                                                                        \
        wg_panel(WG_MIN(I, CD_WG_I), WG_MIN(J, CD_WG_J), d, ldd, t, ldt, len, acc, acs);       \
        return
#define WG_ROW(I)                                                                              \
    WG_CASE(I, 1); WG_CASE(I, 2); WG_CASE(I, 3); WG_CASE(I, 4); WG_CASE(I, 5); WG_CASE(I, 6)
    switch (ri * 8 + rj) {
        WG_ROW(1);
        WG_ROW(2);
        WG_ROW(3);
        WG_ROW(4);
    default: return;
    }
#undef WG_ROW
#undef WG_CASE
#undef WG_MIN
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
            wg_panel_any(ri, np - j < CD_WG_J ? (int)(np - j) : CD_WG_J, d + i * ldd, ldd,
                         t + j * ldt, ldt, len, acc + i * acs + j * NB__CONV_WG_LANES, acs);
    }
}

/* ---------------------------------------------------------------- entry points */

bool CD_FWD_NAME(int64_t m, int64_t kb, const float *a, int64_t lda, const float *b, int64_t ldb,
                 int64_t cnt, float *c, int64_t ldc, bool first)
{
    if (!CD_CPU_HAS())
        return false;
    fwd_block(m, kb, a, lda, b, ldb, cnt, c, ldc, first);
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
