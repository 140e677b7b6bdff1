/*
 * conv_dx_rows.c — a convolution's input gradient for few channels on
 * narrow rows (conv_dx.h): the gather form, each row of dx computed in
 * registers from the rows of dy its taps reach, and stored once.
 *
 * With stride 1, dx[n, c, y, x] = Σ_{f, i, j} W[f, c, i, j]·dy[n, f, y + ph
 * - i·dh, x + pw - j·dw]. A row y of dx takes only the kernel rows i whose
 * dy row exists, so no product is spent on dy's padding rows (the direct
 * form, a forward convolution of padded dy, spends 1.96× the products on
 * LeNet-5's second layer). The positions of a row lie in two vectors (16
 * lanes: rows of at most 16 columns); dy's rows are staged with zeros
 * either side, so each tap column j is one unaligned load of each vector,
 * and the columns outside dy add w·0. Six channels × two vectors are twelve
 * accumulators; per (f, i, j) two loads of dy and six broadcasts of W feed
 * twelve FMAs. The tiled form (conv_dx.c) computes the column gradient
 * then folds it: with few filters its product chains are short and the
 * fold cost as much as they did.
 *
 * Each element is one chain of fused multiply-adds over f, then the rows i
 * whose dy row exists, then every j, all ascending (the columns outside dy
 * contributing w·0): nb__conv_dx_rows_plain computes the same chains with
 * fmaf. Items are whole images, so the bits do not depend on the threads.
 */
#include <math.h>
#include <string.h>

#include "conv_direct.h" /* nb__conv_fma_cpu */
#include "conv_dx.h"
#include "par.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>
#endif

/* Floats of dy's staged rows for one image. */
#define ROWS_STAGE 8192

/* Floats of one staged row: kw - 1 dilated taps left of the 16 lanes. */
static int64_t row_len(const nb__conv_dx *d)
{
    return d->dw * (d->kw - 1) + 16;
}

/* The kernel rows [*i0, *i1) whose dy row y + ph - i·dh lies in [0, oh). */
static void taps(const nb__conv_dx *d, int64_t y, int64_t *i0, int64_t *i1)
{
    const int64_t top = y + d->ph, low = top - d->oh + 1; /* i·dh in [low, top] */
    *i0 = low > 0 ? (low + d->dh - 1) / d->dh : 0;
    *i1 = top / d->dh + 1 < d->kh ? top / d->dh + 1 : d->kh;
    if (*i0 > *i1)
        *i0 = *i1;
}

bool nb__conv_dx_rows_takes(const nb__conv_dx *d)
{
    return d->sh == 1 && d->sw == 1 && d->w <= 16 && d->pw <= d->dw * (d->kw - 1) &&
           d->ph >= 0 && d->pw >= 0 && d->dw * (d->kw - 1) <= 64 &&
           d->f * d->oh * row_len(d) <= ROWS_STAGE;
}

/* dy[n]'s rows into st [f·oh][row_len]: dy column ox at ox + dw·(kw-1) - pw,
 * zeros elsewhere. */
static void stage(const nb__conv_dx *d, const float *dy, int64_t n, float *st)
{
    const int64_t rl = row_len(d), off = d->dw * (d->kw - 1) - d->pw;
    memset(st, 0, (size_t)(d->f * d->oh * rl) * sizeof(float));
    for (int64_t r = 0; r < d->f * d->oh; r++)
        memcpy(st + r * rl + off, dy + (n * d->f * d->oh + r) * d->ow,
               (size_t)d->ow * sizeof(float));
}

void nb__conv_dx_rows_plain(const nb__conv_dx *d, const float *wt, const float *dy, float *dx,
                            int64_t n)
{
    float st[ROWS_STAGE];
    stage(d, dy, n, st);
    const int64_t kk = d->kh * d->kw, ck = d->c * kk, rl = row_len(d);
    for (int64_t c = 0; c < d->c; c++)
        for (int64_t y = 0; y < d->h; y++) {
            int64_t i0, i1;
            taps(d, y, &i0, &i1);
            for (int64_t x = 0; x < d->w; x++) {
                float acc = 0.0f;
                for (int64_t f = 0; f < d->f; f++)
                    for (int64_t i = i0; i < i1; i++) {
                        const float *row = st + (f * d->oh + y + d->ph - i * d->dh) * rl;
                        for (int64_t j = 0; j < d->kw; j++)
                            acc = fmaf(wt[f * ck + c * kk + i * d->kw + j],
                                       row[x + d->dw * (d->kw - 1 - j)], acc);
                    }
                dx[((n * d->c + c) * d->h + y) * d->w + x] = acc;
            }
        }
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define ROWS_FMA __attribute__((target("avx2,fma")))

#define ROWS_TAP(r, acc0, acc1)                                               \
    do {                                                                      \
        const __m256 av = _mm256_broadcast_ss(wj + (r));                      \
        acc0 = _mm256_fmadd_ps(av, b0, acc0);                                 \
        acc1 = _mm256_fmadd_ps(av, b1, acc1);                                 \
    } while (0)

/* Row y of channels [c0, c0 + mr), mr ≤ 6, of image n: channels beyond mr
 * repeat channel mr - 1 and are not stored. kw and dw are the window's,
 * constants where row_k is inlined for a common window (no reload and
 * multiply of dw per tap). */
static inline __attribute__((always_inline)) ROWS_FMA void
row_k(const nb__conv_dx *d, const float *wt, const float *st, float *dx, int64_t n, int64_t c0,
      int mr, int64_t y, const int64_t kw, const int64_t dw)
{
    const int64_t kk = d->kh * kw, ck = d->c * kk, rl = dw * (kw - 1) + 16, reach = dw * (kw - 1);
    const int64_t o1 = (mr > 1 ? 1 : mr - 1) * kk, o2 = (mr > 2 ? 2 : mr - 1) * kk;
    const int64_t o3 = (mr > 3 ? 3 : mr - 1) * kk, o4 = (mr > 4 ? 4 : mr - 1) * kk;
    const int64_t o5 = (mr > 5 ? 5 : mr - 1) * kk;
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    int64_t i0, i1;
    taps(d, y, &i0, &i1);
    for (int64_t f = 0; f < d->f; f++)
        for (int64_t i = i0; i < i1; i++) {
            const float *rw = st + (f * d->oh + y + d->ph - i * d->dh) * rl + reach;
            const float *wi = wt + f * ck + c0 * kk + i * kw;
            /* unrolled, the taps' loads were hoisted and the accumulators spilled */
#pragma GCC unroll 1
            for (int64_t j = 0; j < kw; j++) {
                const float *b = rw - j * dw, *wj = wi + j;
                const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
                ROWS_TAP(0, c00, c01);
                ROWS_TAP(o1, c10, c11);
                ROWS_TAP(o2, c20, c21);
                ROWS_TAP(o3, c30, c31);
                ROWS_TAP(o4, c40, c41);
                ROWS_TAP(o5, c50, c51);
            }
        }
    const __m256 acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                              {c30, c31}, {c40, c41}, {c50, c51}};
    for (int r = 0; r < mr; r++) {
        float *out = dx + ((n * d->c + c0 + r) * d->h + y) * d->w;
        if (d->w == 16) {
            _mm256_storeu_ps(out, acc[r][0]);
            _mm256_storeu_ps(out + 8, acc[r][1]);
        } else { /* through the stack: AMD runs a masked store as microcode */
            _Alignas(32) float b[16];
            _mm256_store_ps(b, acc[r][0]);
            _mm256_store_ps(b + 8, acc[r][1]);
            memcpy(out, b, (size_t)d->w * sizeof(float));
        }
    }
}

#undef ROWS_TAP

static ROWS_FMA void row(const nb__conv_dx *d, const float *wt, const float *st, float *dx,
                         int64_t n, int64_t c0, int mr, int64_t y)
{
    if (d->kw == 5 && d->dw == 1)
        row_k(d, wt, st, dx, n, c0, mr, y, 5, 1);
    else if (d->kw == 3 && d->dw == 1)
        row_k(d, wt, st, dx, n, c0, mr, y, 3, 1);
    else
        row_k(d, wt, st, dx, n, c0, mr, y, d->kw, d->dw);
}

static void image(const nb__conv_dx *d, const float *wt, const float *dy, float *dx, int64_t n)
{
    _Alignas(64) float st[ROWS_STAGE];
    stage(d, dy, n, st);
    for (int64_t c0 = 0; c0 < d->c; c0 += 6)
        for (int64_t y = 0; y < d->h; y++)
            row(d, wt, st, dx, n, c0, (int)(d->c - c0 < 6 ? d->c - c0 : 6), y);
}
#else
static void image(const nb__conv_dx *d, const float *wt, const float *dy, float *dx, int64_t n)
{
    nb__conv_dx_rows_plain(d, wt, dy, dx, n);
}
#endif

/* Image n of nb__conv_dx_rows, as nb__par_items calls it. */
typedef struct rows_job {
    const nb__conv_dx *d;
    bool fast;
    const float *const *in;
    float *out;
} rows_job;

static void rows_item(const void *ctx, int64_t n)
{
    const rows_job *j = ctx;
    if (j->fast)
        image(j->d, j->in[0], j->in[1], j->out, n);
    else
        nb__conv_dx_rows_plain(j->d, j->in[0], j->in[1], j->out, n);
}

bool nb__conv_dx_rows(const nb__conv_dx *d, bool fast, const float *const *in, float *out)
{
    if (!nb__conv_dx_rows_takes(d))
        return false;
    const int64_t work = d->n * d->c * d->kh * d->kw * d->oh * d->ow * d->f;
    const rows_job job = {.d = d, .fast = fast && nb__conv_fma_cpu(), .in = in, .out = out};
    nb__par_items(d->n, work, rows_item, &job);
    return true;
}
