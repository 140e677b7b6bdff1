/*
 * conv_dx_lanes.c — a convolution's input gradient with the filters in the
 * lanes (conv_dx.h): each element of dx is a sum over the filters f and the
 * taps its window reaches, and here the filters are the vector's lanes, so
 * every lane of every product is useful when f is a multiple of 8.
 *
 * With stride 1, dx[n, c, y, x] = Σ_{f, i, j} W[f, c, i, j]·dy[n, f, y + ph
 * - i·dh, x + pw - j·dw]. The gather form (conv_dx_rows.c) puts a row's
 * positions in the lanes: on LeNet-5's second layer 14 of 16 lanes, and of
 * those the taps whose dy column lies outside dy multiply zeros, 10 useful
 * lanes of 16 in all. Here W is staged as [c][i][kw-1-j][f] and one image
 * of dy as [oh][1 + ow + 1][f] (a zero column either side), and a block is
 * six channels × two adjacent positions of a row: per tap and 8 filters,
 * six loads of W, two of dy and twelve FMAs. The kernel rows i are those
 * whose dy row exists (no products on padding rows); the tap columns are
 * the union of the two positions' (at most one column each side multiplies
 * the staged zeros: 54 of 50 products on LeNet-5's second layer). Each
 * accumulator then holds 8 partial sums, and the end adds them by a fixed
 * tree, ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)), two horizontal
 * adds and one add per pair of channels.
 *
 * Each lane l of an element is one chain of fused multiply-adds over the
 * kernel rows i ascending, the tap columns in the order of dy's columns
 * (j descending), then the filters l, l + 8, …; filters beyond f and
 * columns outside dy contribute 0·0 and w·0. nb__conv_dx_lanes_plain
 * computes the same chains and tree with fmaf from W and dy as they lie.
 * Items are whole images, so the bits do not depend on the threads.
 */
#include <math.h>
#include <string.h>

#include "conv_direct.h" /* nb__conv_fma_cpu */
#include "conv_dx.h"
#include "par.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>

#include "transpose8_avx2.h"
#endif

/* Floats of the staged W (all calls' threads share it) and of one image's
 * staged dy (each thread's own). */
#define LANES_W 8192
#define LANES_DY 8192

/* The filters rounded up to whole vectors of 8 lanes. */
static int64_t fpad(const nb__conv_dx *d)
{
    return (d->f + 7) / 8 * 8;
}

bool nb__conv_dx_lanes_takes(const nb__conv_dx *d)
{
    return d->sh == 1 && d->sw == 1 && d->ph >= 0 && d->pw >= 0 && d->f >= 1 &&
           d->f <= 256 && d->kh <= 64 && d->kw <= 64 && d->ow <= 256 &&
           d->c * d->kh * d->kw * fpad(d) <= LANES_W &&
           d->oh * (d->ow + 2) * fpad(d) <= LANES_DY;
}

/* The kernel rows [*i0, *i1) whose dy row y + ph - i·dh lies in [0, oh). */
static void rows_of(const nb__conv_dx *d, int64_t y, int64_t *i0, int64_t *i1)
{
    const int64_t top = y + d->ph, low = top - d->oh + 1; /* i·dh in [low, top] */
    *i0 = low > 0 ? (low + d->dh - 1) / d->dh : 0;
    *i1 = top / d->dh + 1 < d->kh ? top / d->dh + 1 : d->kh;
    if (*i0 > *i1)
        *i0 = *i1;
}

/* Floor and ceiling of a / b for b > 0, any sign of a. */
static inline int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}
static inline int64_t ceil_div(int64_t a, int64_t b)
{
    return -floor_div(-a, b);
}

/* The flipped tap columns [*q0, *q1) (q = kw - 1 - j) the pair of positions
 * (x, x + 1) reaches: position x reads dy column x + pw - reach + q·dw,
 * which must lie in [0, ow) for x or, one column to the right, for x + 1. */
static inline void cols_of(const nb__conv_dx *d, int64_t x, const int64_t kw, const int64_t dw,
                           int64_t *q0, int64_t *q1)
{
    const int64_t lo = dw * (kw - 1) - d->pw - x; /* q·dw in [lo - 1, lo + ow - 1] */
    *q0 = ceil_div(lo - 1, dw);
    *q1 = floor_div(lo + d->ow - 1, dw) + 1;
    if (*q0 < 0)
        *q0 = 0;
    if (*q1 > kw)
        *q1 = kw;
    if (*q0 > *q1)
        *q0 = *q1;
}

/* The tree that adds an element's eight lanes. */
static float tree(const float *l)
{
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

void nb__conv_dx_lanes_plain(const nb__conv_dx *d, const float *w, const float *dy, float *dx,
                             int64_t n)
{
    const int64_t kk = d->kh * d->kw, ck = d->c * kk, fp = fpad(d);
    const int64_t reach = d->dw * (d->kw - 1);
    for (int64_t c = 0; c < d->c; c++)
        for (int64_t y = 0; y < d->h; y++) {
            int64_t i0, i1;
            rows_of(d, y, &i0, &i1);
            for (int64_t x = 0; x < d->w; x++) {
                int64_t q0, q1;
                cols_of(d, x - (x & 1), d->kw, d->dw, &q0, &q1); /* the pair's columns */
                float acc[8] = {0};
                for (int64_t q = q0; q < q1; q++) {
                    const int64_t col = x + d->pw - reach + q * d->dw;
                    for (int64_t i = i0; i < i1; i++) {
                        const int64_t r = y + d->ph - i * d->dh;
                        for (int64_t f = 0; f < fp; f++) {
                            const bool real = f < d->f;
                            const float a = real ? w[f * ck + c * kk + i * d->kw + d->kw - 1 - q]
                                                 : 0.0f;
                            const float b = real && col >= 0 && col < d->ow
                                                ? dy[((n * d->f + f) * d->oh + r) * d->ow + col]
                                                : 0.0f;
                            acc[f % 8] = fmaf(a, b, acc[f % 8]);
                        }
                    }
                }
                dx[((n * d->c + c) * d->h + y) * d->w + x] = tree(acc);
            }
        }
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define LANES_FMA __attribute__((target("avx2,fma")))

/* W [f, c, kh, kw] into wt [c][kh][kw - 1 - j][fp], zeros for filters
 * beyond f. */
static void stage_w(const nb__conv_dx *d, const float *w, float *wt)
{
    const int64_t kk = d->kh * d->kw, fp = fpad(d);
    memset(wt, 0, (size_t)(d->c * kk * fp) * sizeof(float));
    for (int64_t f = 0; f < d->f; f++)
        for (int64_t c = 0; c < d->c; c++)
            for (int64_t i = 0; i < d->kh; i++)
                for (int64_t j = 0; j < d->kw; j++)
                    wt[((c * d->kh + i) * d->kw + d->kw - 1 - j) * fp + f] =
                        w[(f * d->c + c) * kk + i * d->kw + j];
}

/* dy[n] into st [oh][ow + 2][fp]: dy column ox at ox + 1, zeros elsewhere.
 * With whole vectors of filters and at least 8 positions, 8 filters × 8
 * positions (in dy's order, across its rows) at a time by shuffles, the
 * last 8 positions overlapping the block before; scalar stores otherwise
 * (the stores by position were a sixth of the kernel's time). */
static LANES_FMA void stage_dy(const nb__conv_dx *d, const float *dy, int64_t n, float *st)
{
    const int64_t fp = fpad(d), sw = d->ow + 2, np = d->oh * d->ow;
    const float *src = dy + n * d->f * np;
    if (d->f % 8 != 0 || np < 8) {
        memset(st, 0, (size_t)(d->oh * sw * fp) * sizeof(float));
        for (int64_t f = 0; f < d->f; f++)
            for (int64_t r = 0; r < d->oh; r++)
                for (int64_t x = 0; x < d->ow; x++)
                    st[(r * sw + x + 1) * fp + f] = src[(f * d->oh + r) * d->ow + x];
        return;
    }
    for (int64_t r = 0; r < d->oh; r++) {
        memset(st + r * sw * fp, 0, (size_t)fp * sizeof(float));
        memset(st + (r * sw + sw - 1) * fp, 0, (size_t)fp * sizeof(float));
    }
    for (int64_t p0 = 0; p0 < np; p0 += 8) {
        const int64_t p = p0 + 8 <= np ? p0 : np - 8;
        float *dst[8];
        for (int k = 0; k < 8; k++)
            dst[k] = st + ((p + k) / d->ow * sw + (p + k) % d->ow + 1) * fp;
        for (int64_t f0 = 0; f0 < d->f; f0 += 8) {
            __m256 r[8];
            for (int k = 0; k < 8; k++)
                r[k] = _mm256_loadu_ps(src + (f0 + k) * np + p);
            nb__transpose8_avx2(r);
            for (int k = 0; k < 8; k++)
                _mm256_storeu_ps(dst[k] + f0, r[k]);
        }
    }
}

#define LANES_TAP(o, acc0, acc1)                                              \
    do {                                                                      \
        __m256 a = _mm256_loadu_ps(wq + (o));                                 \
        __asm__("" : "+x"(a));                                                \
        acc0 = _mm256_fmadd_ps(a, b0, acc0);                                  \
        acc1 = _mm256_fmadd_ps(a, b1, acc1);                                  \
    } while (0)

/* Two channels' pair of positions, each summed by tree(): the four sums
 * [c p0, c p1, c' p0, c' p1]. */
static inline __attribute__((always_inline)) LANES_FMA __m128 pair_sums(__m256 c0, __m256 c1,
                                                                       __m256 e0, __m256 e1)
{
    const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(c0, c1), _mm256_hadd_ps(e0, e1));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/* Stores sums of channel r (lanes 0, 1 of s, or 2, 3 when hi) at out, both
 * positions or only the first. */
static inline __attribute__((always_inline)) LANES_FMA void put(float *out, __m128 s, bool hi,
                                                                bool both)
{
    if (hi)
        s = _mm_movehl_ps(s, s);
    if (both)
        _mm_storel_pi((__m64 *)out, s);
    else
        _mm_store_ss(out, s);
}

/* Row y of channels [c0, c0 + mr), mr ≤ 6, of image n, positions in pairs:
 * channels beyond mr repeat channel mr - 1 and are not stored. kw and dw
 * are the window's, constants where it is inlined for a common window. */
static inline __attribute__((always_inline)) LANES_FMA void
row_k(const nb__conv_dx *d, const float *wt, const float *st, float *dx, int64_t n, int64_t c0,
      int mr, int64_t y, const int64_t kw, const int64_t dw, const int64_t fp)
{
    const int64_t sw = d->ow + 2, ckk = d->kh * kw * fp;
    const int64_t o1 = (mr > 1 ? 1 : mr - 1) * ckk, o2 = (mr > 2 ? 2 : mr - 1) * ckk;
    const int64_t o3 = (mr > 3 ? 3 : mr - 1) * ckk, o4 = (mr > 4 ? 4 : mr - 1) * ckk;
    const int64_t o5 = (mr > 5 ? 5 : mr - 1) * ckk;
    const int64_t reach = dw * (kw - 1);
    int64_t i0, i1;
    rows_of(d, y, &i0, &i1);
    if (i0 == i1) { /* no row of dy: the row's sums are zeros */
        for (int r = 0; r < mr; r++)
            memset(dx + ((n * d->c + c0 + r) * d->h + y) * d->w, 0, (size_t)d->w * sizeof(float));
        return;
    }
    const int64_t ni = i1 - i0, wstep = kw * fp, bstep = d->dh * sw * fp;
    for (int64_t x = 0; x < d->w; x += 2) {
        int64_t q0, q1;
        cols_of(d, x, kw, dw, &q0, &q1);
        __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
        __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        /* tap column q outermost: the inner loops' counts (the row's kernel
         * rows, the filters' vectors) are the same for every pair of the
         * row, so only the columns' loop ends where the branch predictor
         * cannot tell */
        for (int64_t q = q0; q < q1; q++) {
            /* staged column of position x at tap q, on dy row y + ph - i0·dh */
            const float *bq = st + ((y + d->ph - i0 * d->dh) * sw + x + d->pw - reach + 1 +
                                    q * dw) * fp;
            const float *wq0 = wt + ((c0 * d->kh + i0) * kw + q) * fp;
            for (int64_t k = 0; k < ni; k++) {
                const float *bi = bq - k * bstep, *wi = wq0 + k * wstep;
                for (int64_t v = 0; v < fp; v += 8) {
                    const float *b = bi + v, *wq = wi + v;
                    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + fp);
                    LANES_TAP(0, c00, c01);
                    LANES_TAP(o1, c10, c11);
                    LANES_TAP(o2, c20, c21);
                    LANES_TAP(o3, c30, c31);
                    LANES_TAP(o4, c40, c41);
                    LANES_TAP(o5, c50, c51);
                }
            }
        }
        const bool both = x + 1 < d->w;
        float *out = dx + ((n * d->c + c0) * d->h + y) * d->w + x;
        const int64_t plane = d->h * d->w;
        const __m128 s01 = pair_sums(c00, c01, c10, c11);
        put(out, s01, false, both);
        if (mr > 1)
            put(out + plane, s01, true, both);
        if (mr > 2) {
            const __m128 s23 = pair_sums(c20, c21, c30, c31);
            put(out + 2 * plane, s23, false, both);
            if (mr > 3)
                put(out + 3 * plane, s23, true, both);
        }
        if (mr > 4) {
            const __m128 s45 = pair_sums(c40, c41, c50, c51);
            put(out + 4 * plane, s45, false, both);
            if (mr > 5)
                put(out + 5 * plane, s45, true, both);
        }
    }
}

#undef LANES_TAP

static LANES_FMA void row(const nb__conv_dx *d, const float *wt, const float *st, float *dx,
                          int64_t n, int64_t c0, int mr, int64_t y)
{
    const int64_t fp = fpad(d);
    if (d->kw == 5 && d->dw == 1 && fp == 16)
        row_k(d, wt, st, dx, n, c0, mr, y, 5, 1, 16);
    else if (d->kw == 3 && d->dw == 1 && fp == 16)
        row_k(d, wt, st, dx, n, c0, mr, y, 3, 1, 16);
    else
        row_k(d, wt, st, dx, n, c0, mr, y, d->kw, d->dw, fp);
}

static void image(const nb__conv_dx *d, const float *wt, const float *dy, float *dx, int64_t n)
{
    _Alignas(64) float st[LANES_DY];
    stage_dy(d, dy, n, st);
    for (int64_t c0 = 0; c0 < d->c; c0 += 6)
        for (int64_t y = 0; y < d->h; y++)
            row(d, wt, st, dx, n, c0, (int)(d->c - c0 < 6 ? d->c - c0 : 6), y);
}
#else
static void stage_w(const nb__conv_dx *d, const float *w, float *wt)
{
    (void)d, (void)w, (void)wt;
}
static void image(const nb__conv_dx *d, const float *wt, const float *dy, float *dx, int64_t n)
{
    (void)d, (void)wt, (void)dy, (void)dx, (void)n;
}
#endif

/* Image n of nb__conv_dx_lanes, as nb__par_items calls it. */
typedef struct lanes_job {
    const nb__conv_dx *d;
    bool fast;
    const float *wt; /* the staged weights, when fast */
    const float *const *in;
    float *out;
} lanes_job;

static void lanes_item(const void *ctx, int64_t n)
{
    const lanes_job *j = ctx;
    if (j->fast)
        image(j->d, j->wt, j->in[1], j->out, n);
    else
        nb__conv_dx_lanes_plain(j->d, j->in[0], j->in[1], j->out, n);
}

bool nb__conv_dx_lanes(const nb__conv_dx *d, bool fast, const float *const *in, float *out)
{
    if (!nb__conv_dx_lanes_takes(d))
        return false;
    fast = fast && nb__conv_fma_cpu();
    _Alignas(64) float wt[LANES_W];
    if (fast)
        stage_w(d, in[0], wt);
    const int64_t work = d->n * d->c * d->kh * d->kw * d->oh * d->ow * d->f;
    const lanes_job job = {.d = d, .fast = fast, .wt = wt, .in = in, .out = out};
    nb__par_items(d->n, work, lanes_item, &job);
    return true;
}
