/*
 * reduce_fast.c — the kernels of the reduction layouts that have one of
 * their own (reduce.h): rows, the middle axis, both ends; each a fixed
 * summation order per element, so the thread count does not change values.
 */
#include "reduce.h"

/* Elements per parallel block in the [outer, reduced, inner] kernels. */
#define NB__RED_BLOCK 256

/* True with outer × red × inner when r has at most one reduced run. */
static bool three_blocks(const runs *r, int64_t *outer, int64_t *red, int64_t *inner)
{
    int k = 0;
    *outer = *red = *inner = 1;
    if (k < r->n && !r->red[k])
        *outer = r->size[k++];
    if (k < r->n && r->red[k])
        *red = r->size[k++];
    if (k < r->n && !r->red[k])
        *inner = r->size[k++];
    return k == r->n;
}

/* x [outer, red] → out [outer]: one row each. */
static inline void rows_range(const float *x, float *out, int64_t o0, int64_t o1, int64_t red,
                              bool is_max)
{
    for (int64_t o = o0; o < o1; o++)
        out[o] = row_fold(x + o * red, red, is_max);
}

/* x [outer, red] → out [outer]: each row folded, rows across threads. */
static void reduce_rows(const float *x, float *out, int64_t outer, int64_t red, bool is_max)
{
    if (nb__par(outer * red)) {
#pragma omp parallel for
        for (int64_t o = 0; o < outer; o++)
            rows_range(x, out, o, o + 1, red, is_max);
    } else
        rows_range(x, out, 0, outer, red, is_max);
}

/*
 * dst[i0..i1) folded with the red rows src + j·inner (j < red), in row
 * order: dst[i] = (((src0[i] ⊕ src1[i]) ⊕ src2[i]) ⊕ …). Four rows per pass,
 * so dst is loaded and stored once per four rows, not once per row (a max
 * pool's window axis has four); the order of the folds per element stays
 * the rows' order.
 */
NB__SIMD static void middle_rows(const float *src, float *dst, int64_t i0, int64_t i1,
                                 int64_t red, int64_t inner, bool is_max)
{
    for (int64_t i = i0; i < i1; i++)
        dst[i] = src[i];
    int64_t j = 1;
    for (; j + 4 <= red; j += 4) {
        const float *r0 = src + j * inner, *r1 = r0 + inner, *r2 = r1 + inner, *r3 = r2 + inner;
        if (is_max)
            for (int64_t i = i0; i < i1; i++) {
                float t = r0[i] > dst[i] ? r0[i] : dst[i];
                t = r1[i] > t ? r1[i] : t;
                t = r2[i] > t ? r2[i] : t;
                dst[i] = r3[i] > t ? r3[i] : t;
            }
        else
            for (int64_t i = i0; i < i1; i++)
                dst[i] = (((dst[i] + r0[i]) + r1[i]) + r2[i]) + r3[i];
    }
    for (; j < red; j++) {
        const float *row = src + j * inner;
        if (is_max)
            for (int64_t i = i0; i < i1; i++)
                dst[i] = row[i] > dst[i] ? row[i] : dst[i];
        else
            for (int64_t i = i0; i < i1; i++)
                dst[i] += row[i];
    }
}

/* Block b of reduce_middle: inner elements [i0, i1) of outer row o. */
static inline void middle_block(const float *x, float *out, int64_t b, int64_t nblk, int64_t red,
                                int64_t inner, bool is_max)
{
    const int64_t o = b / nblk, i0 = (b % nblk) * NB__RED_BLOCK;
    const int64_t i1 = i0 + NB__RED_BLOCK < inner ? i0 + NB__RED_BLOCK : inner;
    middle_rows(x + o * red * inner, out + o * inner, i0, i1, red, inner, is_max);
}

/*
 * x [outer, red, inner] → out [outer, inner] with inner > 1: the reduced
 * rows are folded element by element (contiguous, vectorisable). Work is cut
 * into blocks of NB__RED_BLOCK inner elements so that reducing the leading
 * axis (outer = 1) still spreads across threads.
 */
static void reduce_middle(const float *x, float *out, int64_t outer, int64_t red, int64_t inner,
                          bool is_max)
{
    const int64_t nblk = (inner + NB__RED_BLOCK - 1) / NB__RED_BLOCK;
    if (nb__par(outer * red * inner)) {
#pragma omp parallel for
        for (int64_t b = 0; b < outer * nblk; b++)
            middle_block(x, out, b, nblk, red, inner, is_max);
    } else /* the same blocks, walked without a division per block */
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i0 = 0; i0 < inner; i0 += NB__RED_BLOCK)
                middle_rows(x + o * red * inner, out + o * inner, i0,
                            i0 + NB__RED_BLOCK < inner ? i0 + NB__RED_BLOCK : inner, red, inner,
                            is_max);
}

/* Output j of reduce_ends over outer rows [i0, i1): the fold of the rows
 * x[i, j, :] in order. */
static inline float ends_one(const float *x, int64_t j, int64_t i0, int64_t i1, int64_t mid,
                             int64_t inner, bool is_max)
{
    float acc = row_fold(x + (i0 * mid + j) * inner, inner, is_max);
    for (int64_t i = i0 + 1; i < i1; i++) {
        float v = row_fold(x + (i * mid + j) * inner, inner, is_max);
        acc = is_max ? (v > acc ? v : acc) : acc + v;
    }
    return acc;
}

/* Chunks of the outer axis reduce_ends folds apart, from the shape alone:
 * at least NB__RED_CHUNK_ROWS rows each, at most NB__RED_CHUNKS, their
 * partial results (NB__RED_PART floats at most) on the caller's stack. */
#define NB__RED_CHUNK_ROWS 8
#define NB__RED_CHUNKS 8
#define NB__RED_PART 2048

static int64_t ends_chunks(int64_t outer, int64_t mid)
{
    int64_t c = outer / NB__RED_CHUNK_ROWS < NB__RED_CHUNKS ? outer / NB__RED_CHUNK_ROWS
                                                             : NB__RED_CHUNKS;
    if (c * mid > NB__RED_PART)
        c = NB__RED_PART / mid;
    return c < 2 ? 1 : c;
}

/* Item t of reduce_ends: output t % mid over chunk t / mid of the outer
 * rows, into part (chunk-major), or straight into out with one chunk. */
static inline void ends_item(const float *x, float *out, float *part, int64_t t, int64_t chunks,
                             int64_t outer, int64_t mid, int64_t inner, bool is_max)
{
    const int64_t c = t / mid, j = t % mid;
    const float v = ends_one(x, j, c * outer / chunks, (c + 1) * outer / chunks, mid, inner,
                             is_max);
    if (chunks == 1)
        out[j] = v;
    else
        part[t] = v;
}

/*
 * x [outer, mid, inner] → out [mid], both ends reduced: a convolution's
 * bias gradient, summed over the batch and the positions of [N, F, H·W].
 * A long batch is cut into chunks of consecutive images (ends_chunks),
 * each output folded over each chunk, then the chunks in order; items are
 * (chunk, output), chunk-major under a static schedule, so each thread
 * reads the images the step before it wrote. Splitting by output alone
 * left LeNet-5's 6 channels at 1.0x on 2 threads: each thread read half of
 * every image, and half of those lines sat in the other core's cache.
 */
static void reduce_ends(const float *x, float *out, int64_t outer, int64_t mid, int64_t inner,
                        bool is_max)
{
    const int64_t chunks = ends_chunks(outer, mid), items = chunks * mid;
    float part[chunks > 1 ? items : 1];
    if (nb__par(outer * mid * inner) && items > 1) {
#pragma omp parallel for schedule(static)
        for (int64_t t = 0; t < items; t++)
            ends_item(x, out, part, t, chunks, outer, mid, inner, is_max);
    } else
        for (int64_t t = 0; t < items; t++)
            ends_item(x, out, part, t, chunks, outer, mid, inner, is_max);
    for (int64_t j = 0; chunks > 1 && j < mid; j++) {
        float acc = part[j];
        for (int64_t c = 1; c < chunks; c++)
            acc = is_max ? (part[c * mid + j] > acc ? part[c * mid + j] : acc)
                         : acc + part[c * mid + j];
        out[j] = acc;
    }
}

void nb__reduce_ends_combine(const float *sums, float *out, int64_t outer, int64_t mid)
{
    const int64_t chunks = ends_chunks(outer, mid);
    for (int64_t j = 0; j < mid; j++) {
        float total = 0.0f;
        for (int64_t c = 0; c < chunks; c++) {
            const int64_t i0 = c * outer / chunks, i1 = (c + 1) * outer / chunks;
            float acc = sums[i0 * mid + j];
            for (int64_t i = i0 + 1; i < i1; i++)
                acc = acc + sums[i * mid + j];
            total = c ? total + acc : acc;
        }
        out[j] = total;
    }
}

/* The kernel of layout k (from layout_kernel) on x → out: outer, reduced
 * and inner sizes in m, k, n (for RED_ENDS: outer, mid, inner); ta set for
 * max. */
void nb__reduce_run_layout(const nb__kernel *k, const float *x, float *out)
{
    if (k->op == RED_ROWS)
        reduce_rows(x, out, k->m, k->k, k->ta);
    else if (k->op == RED_MIDDLE)
        reduce_middle(x, out, k->m, k->k, k->n, k->ta);
    else
        reduce_ends(x, out, k->m, k->k, k->n, k->ta);
}

/* The kernel reduce_fast chose, on the sizes it kept. */
void nb__reduce_fast_run(const nb__kernel *f, const float *const *in, float *out)
{
    nb__reduce_run_layout(f, in[0], out);
}

/*
 * Tiny reductions (a small network's loss and bias gradients: XOR's three
 * sums of 4 to 8 floats took 477 instructions a step through the layout
 * kernels' dispatch and set-up): [outer, red, inner] with each output one
 * running fold in a register over the red values, in order. The order of
 * row_fold for a row shorter than NB__RED_LANES (inner = 1) and of
 * middle_rows for any red (inner > 1), so the same bits.
 */
#define NB__RED_TINY 64

static void tiny_fold(const nb__kernel *f, const float *const *in, float *out)
{
    const int64_t outer = f->m, red = f->k, inner = f->n;
    const bool is_max = f->ta;
    const float *x = in[0];
    for (int64_t o = 0; o < outer; o++, x += red * inner)
        for (int64_t i = 0; i < inner; i++) {
            float acc = x[i];
            for (int64_t j = 1; j < red; j++) {
                const float v = x[j * inner + i];
                acc = is_max ? (v > acc ? v : acc) : acc + v;
            }
            *out++ = acc;
        }
}

nb__kernel_fn nb__reduce_kernel(const nb__kernel *k)
{
    const bool tiny = k->m * k->k * k->n <= NB__RED_TINY &&
                      (k->op == RED_MIDDLE || (k->op == RED_ROWS && k->k < NB__RED_LANES));
    return tiny ? tiny_fold : nb__reduce_fast_run;
}

/* True with *k filled when the runs r of a sum (or max, with is_max) have
 * a kernel of their own: one reduced run ([outer, reduced, inner]) or a
 * reduced run at both ends. */
bool nb__reduce_layout_kernel(const runs *r, bool is_max, nb__kernel *k)
{
    int64_t outer, red, inner;
    *k = (nb__kernel){.ta = is_max};
    if (three_blocks(r, &outer, &red, &inner))
        k->op = inner == 1 ? RED_ROWS : RED_MIDDLE, k->m = outer, k->k = red, k->n = inner;
    else if (r->n == 3 && r->red[0] && !r->red[1] && r->red[2])
        k->op = RED_ENDS, k->m = r->size[0], k->k = r->size[1], k->n = r->size[2];
    else
        return false;
    return true;
}

