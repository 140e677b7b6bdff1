/*
 * conv_dx.c — a convolution's input gradient without its column matrix
 * (conv_dx.h). Each work item (image n, channels [c0, c1)) owns those
 * planes of dx. It walks the output rows a chunk at a time: the chunk's
 * column gradient t = W[:, rows]ᵀ · dy[n, :, chunk] (rows the item's
 * channels·kh·kw) is computed into a buffer on the stack by 6×16 register
 * blocks of fused multiply-adds, each element one chain over the filters
 * in ascending order, then folded (col2im) into the item's planes while it
 * is still in cache. The blocks read W where it lies ([F, C·kh·kw]: the
 * six rows of a block are six adjacent floats of each filter's row) and dy
 * where it lies (sixteen adjacent positions of each filter's plane), so
 * nothing is packed.
 */
#include <string.h>

#include "conv_direct.h"
#include "conv_dx.h"
#include "conv_lanes.h"
#include "par.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>
#endif

/* Rows of one AVX2 register block, and the rows an item aims for: whole
 * blocks of 12 (the AVX-512 ones) where the kernel size allows (36 = four
 * channels of a 3×3 kernel). */
#define CDX_MR 6
#define CDX_ROWS 36

/* Floats of the tile a chunk of output rows aims for: the tile and the
 * filters' slice of dy it is made from stay in L2. */
#define CDX_CHUNK 12288

int64_t nb__conv_dx_block(const nb__conv_dx *d)
{
    const int64_t kk = d->kh * d->kw;
    int64_t cb = (CDX_ROWS + kk - 1) / kk;
    for (int64_t b = cb; b < cb + 2 * CDX_MR; b++)
        if (b * kk % (2 * CDX_MR) == 0) {
            cb = b;
            break;
        }
    return cb < d->c ? cb : d->c;
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define CDX_HAVE_FMA 1
#define CDX_FMA __attribute__((target("avx2,fma")))
#define CDX_INLINE static inline __attribute__((always_inline)) CDX_FMA

/* The first n of 8 lanes (n may be below 0 or above 8), as a load mask. */
CDX_INLINE __m256i lanes(int n)
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

/* Rows of a block's accumulators, each element one chain of fused
 * multiply-adds over the filters in ascending order. */
#define CDX_ROW(r, acc0, acc1)                                                \
    do {                                                                      \
        const __m256 av = _mm256_broadcast_ss(af + (r));                      \
        acc0 = _mm256_fmadd_ps(av, b0, acc0);                                 \
        acc1 = _mm256_fmadd_ps(av, b1, acc1);                                 \
    } while (0)

#define CDX_LOOP(LOAD0, LOAD1)                                                \
    for (int64_t f = 0; f < nf; f++) {                                        \
        const __m256 b0 = LOAD0, b1 = LOAD1;                                  \
        const float *af = a + f * lda;                                        \
        CDX_ROW(0, c00, c01);                                                 \
        CDX_ROW(o1, c10, c11);                                                \
        CDX_ROW(o2, c20, c21);                                                \
        CDX_ROW(o3, c30, c31);                                                \
        CDX_ROW(o4, c40, c41);                                                \
        CDX_ROW(o5, c50, c51);                                                \
    }

/* Stores row r's two accumulators, the first nr columns of them. */
CDX_INLINE void put(float *t, int nr, __m256i m0, __m256i m1, __m256 x0, __m256 x1)
{
    if (nr == 16) {
        _mm256_storeu_ps(t, x0);
        _mm256_storeu_ps(t + 8, x1);
    } else { /* through the stack: AMD runs a masked store as microcode */
        _Alignas(32) float b[16];
        _mm256_store_ps(b, x0);
        _mm256_store_ps(b + 8, x1);
        for (int j = 0; j < nr; j++)
            t[j] = b[j];
        (void)m0, (void)m1;
    }
}

/*
 * t[r, j] = Σ_f a[f·lda + r]·b[f·ldb + j] for r < mr ≤ 6, j < nr ≤ 16:
 * two vectors of b (masked to nr columns: lanes beyond are never read) and
 * six broadcasts of a per filter, twelve accumulators. Rows beyond mr
 * repeat row mr - 1 and are not stored, so one loop serves every block and
 * each element is the same chain wherever it falls.
 */
static CDX_FMA void block(int mr, int nr, int64_t nf, const float *a, int64_t lda,
                          const float *b, int64_t ldb, float *t, int64_t ldt)
{
    const int o1 = mr > 1 ? 1 : mr - 1, o2 = mr > 2 ? 2 : mr - 1, o3 = mr > 3 ? 3 : mr - 1;
    const int o4 = mr > 4 ? 4 : mr - 1, o5 = mr > 5 ? 5 : mr - 1;
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const __m256i m0 = lanes(nr), m1 = lanes(nr - 8);
    if (nr == 16) {
        CDX_LOOP(_mm256_loadu_ps(b + f * ldb), _mm256_loadu_ps(b + f * ldb + 8))
    } else {
        CDX_LOOP(_mm256_maskload_ps(b + f * ldb, m0), _mm256_maskload_ps(b + f * ldb + 8, m1))
    }
    const __m256 acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                              {c30, c31}, {c40, c41}, {c50, c51}};
    for (int r = 0; r < mr; r++)
        put(t + r * ldt, nr, m0, m1, acc[r][0], acc[r][1]);
}

#undef CDX_ROW
#undef CDX_LOOP

/* The tile t [rows, lc] = aᵀ·b for a = W's columns of the item (row stride
 * lda), b = dy's chunk (row stride ldb): a strip of 16 columns at a time,
 * whose slice of b (filters × 16) stays in L1 across the strip's blocks. */
static CDX_FMA void tile(int64_t nf, const float *a, int64_t lda, const float *b, int64_t ldb,
                         float *t, int64_t rows, int64_t lc)
{
    for (int64_t j0 = 0; j0 < lc; j0 += 16) {
        const int nr = (int)(lc - j0 < 16 ? lc - j0 : 16);
        for (int64_t r0 = 0; r0 < rows; r0 += CDX_MR)
            block((int)(rows - r0 < CDX_MR ? rows - r0 : CDX_MR), nr, nf, a + r0, lda, b + j0,
                  ldb, t + r0 * lc + j0, lc);
    }
}

/* Folds the tile t [r1 - r0, lc] of the item's rows [r0, r1) and output
 * rows [o0, o1) into image n's planes from c0: each row (c, i, j) adds into
 * the pixels its tap was applied to. The ranges of output rows and columns
 * each tap reaches are computed once per tap row and column (divisions
 * per row of the tile were a fifth of LeNet-5's second input gradient). */
static CDX_FMA void fold(const nb__conv_dx *d, const float *t, int64_t lc, float *dx, int64_t n,
                         int64_t c0, int64_t r0, int64_t r1, int64_t o0, int64_t o1)
{
    const int64_t kk = d->kh * d->kw, plane = d->h * d->w;
    int64_t yr[2 * 64], xr[2 * 64];
    const bool tabled = d->kh <= 64 && d->kw <= 64;
    if (tabled) {
        for (int64_t i = 0; i < d->kh; i++)
            nb__conv_dx_range(d->oh, d->h, d->sh, d->ph, i * d->dh, &yr[2 * i], &yr[2 * i + 1]);
        for (int64_t j = 0; j < d->kw; j++)
            nb__conv_dx_range(d->ow, d->w, d->sw, d->pw, j * d->dw, &xr[2 * j], &xr[2 * j + 1]);
    }
    for (int64_t r = r0; r < r1; r++) {
        const int64_t c = c0 + r / kk, i = r % kk / d->kw, j = r % d->kw;
        int64_t y0, y1, x0, x1;
        if (tabled)
            y0 = yr[2 * i], y1 = yr[2 * i + 1], x0 = xr[2 * j], x1 = xr[2 * j + 1];
        else {
            nb__conv_dx_range(d->oh, d->h, d->sh, d->ph, i * d->dh, &y0, &y1);
            nb__conv_dx_range(d->ow, d->w, d->sw, d->pw, j * d->dw, &x0, &x1);
        }
        if (y0 < o0)
            y0 = o0;
        if (y1 > o1)
            y1 = o1;
        float *x = dx + (n * d->c + c) * plane;
        for (int64_t oy = y0; oy < y1; oy++) {
            const float *src = t + (r - r0) * lc + (oy - o0) * d->ow;
            const int64_t at = (oy * d->sh - d->ph + i * d->dh) * d->w - d->pw + j * d->dw;
            if (d->sw == 1)
                for (int64_t ox = x0; ox < x1; ox++)
                    x[at + ox] += src[ox];
            else
                for (int64_t ox = x0; ox < x1; ox++)
                    x[at + ox * d->sw] += src[ox];
        }
    }
}

/* Floats of the aligned copy of an item's planes (fold_aligned). */
#define CDX_PLANES 8192

/*
 * fold for column stride 1 into pl [c1 - c0][h][wp] (wp a multiple of 8,
 * pl aligned to 32 bytes): every access to pl is one aligned vector, each
 * lane adding the tile's float or -0 (which leaves every float as it is).
 * In dx itself the taps of a row add runs shifted by one float into the
 * runs just stored, and each such load waited for the stores it overlaps
 * (half of LeNet-5's second input gradient); aligned vectors forward.
 * The same sums in the same order as fold's.
 */
static CDX_FMA void fold_aligned(const nb__conv_dx *d, const float *t, int64_t lc, float *pl,
                                 int64_t wp, int64_t r0, int64_t r1, int64_t o0, int64_t o1)
{
    const int64_t kk = d->kh * d->kw;
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 nz = _mm256_set1_ps(-0.0f);
    /* (c, i, j) of row r0, then counted on: no division per row */
    int64_t c = r0 / kk, i = r0 % kk / d->kw, j = r0 % d->kw;
    for (int64_t r = r0; r < r1; r++) {
        int64_t y0, y1, x0, x1;
        nb__conv_dx_range(d->oh, d->h, 1, d->ph - i * d->dh, 0, &y0, &y1);
        nb__conv_dx_range(d->ow, d->w, 1, d->pw - j * d->dw, 0, &x0, &x1);
        if (d->sh != 1)
            nb__conv_dx_range(d->oh, d->h, d->sh, d->ph, i * d->dh, &y0, &y1);
        y0 = y0 < o0 ? o0 : y0, y1 = y1 > o1 ? o1 : y1;
        const int64_t shift = j * d->dw - d->pw; /* column of output column ox: ox + shift */
        const int64_t k1 = x1 + shift;
        for (int64_t k = (x0 + shift) / 8 * 8; x0 < x1 && k < k1; k += 8) {
            /* lane l: column k + l, output column k + l - shift */
            const __m256i m = _mm256_andnot_si256(
                _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(x0 + shift - k)), idx),
                _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(k1 - k)), idx));
            const float *src = t + (r - r0) * lc + (y0 - o0) * d->ow - shift + k;
            float *row = pl + (c * d->h + y0 * d->sh - d->ph + i * d->dh) * wp + k;
            for (int64_t oy = y0; oy < y1; oy++, src += d->ow, row += d->sh * wp) {
                const __m256 v = _mm256_blendv_ps(nz, _mm256_maskload_ps(src, m),
                                                  _mm256_castsi256_ps(m));
                _mm256_store_ps(row, _mm256_add_ps(_mm256_load_ps(row), v));
            }
        }
        if (++j == d->kw && (j = 0, ++i == d->kh))
            i = 0, c++;
    }
}

/* Output rows per chunk: a tile of NB__CONV_DX_GROUP rows of about
 * CDX_CHUNK floats, cut to whole strips of 32 columns where that keeps a
 * chunk of at least one output row. */
static int64_t chunk_rows(const nb__conv_dx *d)
{
    int64_t per = CDX_CHUNK / (NB__CONV_DX_GROUP * d->ow), q = 32;
    for (int64_t ow = d->ow; ow % 2 == 0 && q > 1; ow /= 2)
        q /= 2; /* the fewest rows whose columns are a multiple of 32 */
    if (per >= q)
        per -= per % q;
    return per < 1 ? 1 : per > d->oh ? d->oh : per;
}

/* Planes [c0, c1) of image n: for each chunk of output rows, the item's
 * rows a group at a time, each group's tile computed then folded. */
static void item_fast(const nb__conv_dx *d, bool wide, const float *wt, const float *dy,
                      float *dx, int64_t n, int64_t c0, int64_t c1)
{
    _Alignas(64) float t[NB__CONV_DX_TILE];
    const int64_t kk = d->kh * d->kw, rows = (c1 - c0) * kk, l = d->oh * d->ow;
    const int64_t per = chunk_rows(d), wp = (d->w + 7) / 8 * 8;
    _Alignas(64) float pl[CDX_PLANES];
    const bool aligned = d->sw == 1 && (c1 - c0) * d->h * wp <= CDX_PLANES;
    if (aligned)
        memset(pl, 0, (size_t)((c1 - c0) * d->h * wp) * sizeof(float));
    else
        memset(dx + (n * d->c + c0) * d->h * d->w, 0,
               (size_t)((c1 - c0) * d->h * d->w) * sizeof(float));
    for (int64_t o0 = 0; o0 < d->oh; o0 += per) {
        const int64_t o1 = o0 + per < d->oh ? o0 + per : d->oh, lc = (o1 - o0) * d->ow;
        for (int64_t r0 = 0; r0 < rows; r0 += NB__CONV_DX_GROUP) {
            const int64_t r1 = r0 + NB__CONV_DX_GROUP < rows ? r0 + NB__CONV_DX_GROUP : rows;
            const float *a = wt + c0 * kk + r0, *b = dy + n * d->f * l + o0 * d->ow;
            if (wide)
                nb__conv_dx_tile512(d->f, a, d->c * kk, b, l, t, r1 - r0, lc);
            else
                tile(d->f, a, d->c * kk, b, l, t, r1 - r0, lc);
            if (aligned)
                fold_aligned(d, t, lc, pl, wp, r0, r1, o0, o1);
            else
                fold(d, t, lc, dx, n, c0, r0, r1, o0, o1);
        }
    }
    if (aligned)
        for (int64_t c = c0; c < c1; c++)
            for (int64_t y = 0; y < d->h; y++)
                memcpy(dx + ((n * d->c + c) * d->h + y) * d->w, pl + ((c - c0) * d->h + y) * wp,
                       (size_t)d->w * sizeof(float));
}

/* True when this CPU runs the tiled kernel (AVX2 and FMA). */
static bool cpu_has_fma(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
#define CDX_HAVE_FMA 0
static void item_fast(const nb__conv_dx *d, bool wide, const float *wt, const float *dy,
                      float *dx, int64_t n, int64_t c0, int64_t c1)
{
    (void)wide;
    nb__conv_dx_plain(d, wt, dy, dx, n, c0, c1);
}
static bool cpu_has_fma(void)
{
    return false;
}
#endif

/* Work item `it`: image it / blocks, its cb-channel block it % blocks;
 * isa 2 the AVX-512 blocks, 1 the AVX2 ones, 0 the plain loops. */
static void item(const nb__conv_dx *d, int isa, const float *const *in, float *out, int64_t it,
                 int64_t blocks, int64_t cb)
{
    const int64_t n = it / blocks, c0 = it % blocks * cb, c1 = c0 + cb < d->c ? c0 + cb : d->c;
    if (isa > 0)
        item_fast(d, isa == 2, in[0], in[1], out, n, c0, c1);
    else
        nb__conv_dx_plain(d, in[0], in[1], out, n, c0, c1);
}

int nb__conv_dx_isa(void)
{
    return !cpu_has_fma() ? 0 : nb__conv_dx_has512() ? 2 : 1;
}

/* nb__conv_dx_with's items as nb__par_items calls them. */
typedef struct dx_job {
    const nb__conv_dx *d;
    int isa;
    const float *const *in;
    float *out;
    int64_t blocks, cb;
} dx_job;

static void dx_item(const void *ctx, int64_t it)
{
    const dx_job *j = ctx;
    item(j->d, j->isa, j->in, j->out, it, j->blocks, j->cb);
}

void nb__conv_dx_with(const nb__conv_dx *d, int isa, const float *const *in, float *out)
{
    const int64_t cb = nb__conv_dx_block(d), blocks = (d->c + cb - 1) / cb;
    const int64_t work = d->n * d->c * d->kh * d->kw * d->oh * d->ow * d->f;
    const dx_job job = {.d = d, .isa = isa, .in = in, .out = out, .blocks = blocks, .cb = cb};
    nb__par_items(d->n * blocks, work, dx_item, &job);
}

/* ---------------------------------------------------------------- as a forward convolution */

bool nb__conv_dx_geom(const nb__conv_dx *d, nb__conv_geom *g)
{
    const int64_t ph = d->dh * (d->kh - 1) - d->ph, pw = d->dw * (d->kw - 1) - d->pw;
    const int64_t sizes[] = {d->f, d->oh, d->ow, d->c, d->h, d->w, d->kh, d->kw, d->dh, d->dw};
    if (d->sh != 1 || d->sw != 1 || ph < 0 || pw < 0 || ph > NB__CONV_DIM_MAX ||
        pw > NB__CONV_DIM_MAX || d->n > INT32_MAX)
        return false;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i] > NB__CONV_DIM_MAX)
            return false;
    *g = (nb__conv_geom){.n = (int32_t)d->n, .c = (int16_t)d->f, .h = (int16_t)d->oh,
                         .w = (int16_t)d->ow, .f = (int16_t)d->c, .oh = (int16_t)d->h,
                         .ow = (int16_t)d->w, .kh = (int16_t)d->kh, .kw = (int16_t)d->kw,
                         .sh = 1, .sw = 1, .ph = (int16_t)ph, .pw = (int16_t)pw,
                         .dh = (int16_t)d->dh, .dw = (int16_t)d->dw};
    return true;
}

/*
 * With stride 1 the input gradient is itself a convolution: of dy, padded
 * by dh·(kh-1) - ph rows (dw·(kw-1) - pw columns), with the kernel
 * flipped and its filters and channels swapped,
 *
 *     dx[n, c, h, w] = Σ_{f, i, j} W[f, c, kh-1-i, kw-1-j]·dyp[n, f, h + i·dh, w + j·dw]
 *
 * so the forward's direct tiles compute it (conv_direct.c): dy's rows
 * staged as the forward stages an image, output channels c in panels of
 * rows, the flip in the taps' offsets and W read where it lies (each
 * channel's taps a run, runs a filter apart). Each pixel is one chain of
 * fused multiply-adds over (f, tap) ascending, the same at any thread
 * count. False when the shape is not one it takes: a stride, padding
 * wider than the window's reach, sizes beyond the geometry's.
 */
bool nb__conv_dx_direct(const nb__conv_dx *d, const float *const *in, float *out)
{
    nb__conv_geom g;
    if (!nb__conv_dx_geom(d, &g))
        return false;
    const int64_t kk = d->kh * d->kw;
    const nb__conv_weights w = {.a = in[0], .lda = kk, .cs = d->c * kk, .flip = true};
    return nb__conv_direct(&g, &w, in[1], out);
}

/* True when the direct form of d runs the filters-in-lanes block
 * (conv_lanes.h): the channels fill its lanes. */
static bool lanes_pay(const nb__conv_dx *d)
{
    nb__conv_geom g;
    return nb__conv_dx_geom(d, &g) && nb__conv_lanes_pays(&g);
}

/* With AVX-512 the direct form where it takes the shape: there the
 * forward's panels (6 rows by 64 positions, 24 FMAs per 10 loads) ran at
 * 44–57 % of the FMA peak where the tiled column gradient ran at 23–42 %
 * (docs/performance.md). With AVX2 both forms are 6×16 register blocks,
 * and the tiled one, reading W's rows as they lie, measured as fast or
 * faster (up to 1.2× at 128 channels), except on rows of one slot (14×14)
 * with at most 32 filters: there the tiled block's chain over the filters
 * is short and its 196-column chunks end in a strip of 4, and the direct
 * form measured 1.2–1.4× faster (16 channels 3×3 and 5×5, 32 channels 5×5;
 * as fast at 32 channels 3×3). */
static bool direct_pays(const nb__conv_dx *d, int isa)
{
    /* the direct form multiplies dy's padding too: h·w positions of dx
     * against oh·ow of dy, 1.96 times the products on LeNet-5's second
     * layer (14×14 from 10×10), where the tiled form, its fold in aligned
     * vectors, measured 810 µs against 990 */
    const bool little_padding = 2 * d->h * d->w < 3 * d->oh * d->ow;
    return isa == 2 || (isa == 1 && lanes_pay(d)) ||
           (isa == 1 && d->f <= 32 && d->w <= NB__CONV_SLOT && little_padding);
}

/* With AVX2 the gather form (conv_dx_rows.c) for few channels and filters
 * on rows of at most 16 columns where dx is much larger than dy: there
 * the tiled block's chains over the filters are short and its fold cost
 * as much as its products, and the direct form multiplies dy's padding
 * rows. AVX-512 CPUs too: Zen 4's 256-bit multiply-adds give as many
 * flops as its 512-bit ones, and LeNet-5's second input gradient (by the
 * filters-in-the-lanes form below) took 349 µs, least of 1518 runs, where
 * the direct form took 812. Where dx is about dy's size ("same" padding,
 * 16 channels on 14×14) the direct form measured 1.2–1.3× faster than the
 * gather form, whose channel blocks of 6 leave one of 4 and whose rows'
 * taps each take eight loads for twelve FMAs. */
static bool rows_pay(const nb__conv_dx *d, int isa)
{
    const bool little_padding = 2 * d->h * d->w < 3 * d->oh * d->ow;
    return isa >= 1 && d->c <= 16 && d->f <= 32 && !little_padding &&
           nb__conv_dx_rows_takes(d);
}

/* Where the gather form would run, the filters-in-the-lanes form
 * (conv_dx_lanes.c) when the filters fill its lanes: its products waste
 * only the union of a pair's tap columns, where the gather form's waste
 * dy's missing columns and the lanes beyond a row (LeNet-5's second input
 * gradient: 2.07 million FMAs against 3.07 million). */
static bool filter_lanes_pay(const nb__conv_dx *d, int isa)
{
    return rows_pay(d, isa) && d->f % 8 == 0 && nb__conv_dx_lanes_takes(d);
}

/* Where the forward form would run the filters-in-lanes blocks with AVX2,
 * those blocks with W packed once per call (conv_dx_panels.c): the same
 * bits in 5–16 % fewer instructions on 3×3 of 32–128 channels
 * (docs/performance.md); the forward form when the packed weights cannot
 * be allocated. */
void nb__conv_dx_run(const nb__kernel *k, const float *const *in, float *out)
{
    const nb__conv_dx *d = (const nb__conv_dx *)k;
    const int isa = nb__conv_dx_isa();
    if (filter_lanes_pay(d, isa) && nb__conv_dx_lanes(d, true, in, out))
        return;
    if (rows_pay(d, isa) && nb__conv_dx_rows(d, true, in, out))
        return;
    if (isa == 1 && lanes_pay(d) && nb__conv_dx_panels(d, true, in, out))
        return;
    if (direct_pays(d, isa) && nb__conv_dx_direct(d, in, out))
        return;
    nb__conv_dx_with(d, isa, in, out);
}
