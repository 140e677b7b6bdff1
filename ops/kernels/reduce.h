/*
 * reduce.h — the kernels behind sum and reduce_max (ops/reduce.c), split
 * as matmul's are, the plain loops beside the tuned ones:
 *
 *   reduce_plain.c  one walk over the input in row-major order, any set of
 *                   reduced axes: the reference the layout kernels are
 *                   checked against (tests/test_fast_paths.c)
 *   reduce_fast.c   the kernels of the layouts with one of their own
 *                   ([outer, reduced, inner], or reduced runs at both
 *                   ends), which a runtime picks once per node
 *
 * Both fold contiguous rows through row_sum and row_max below.
 */
#ifndef NB_REDUCE_KERNELS_H
#define NB_REDUCE_KERNELS_H

#include "../ops_internal.h"

/*
 * The input viewed as runs of reduced and kept axes: adjacent axes of the
 * same kind merge, axes of size 1 vanish. With at most one reduced run the
 * input is [outer, reduced, inner] and the fast kernels apply.
 */
typedef struct runs {
    int n;
    int64_t size[NB_MAX_RANK];
    bool red[NB_MAX_RANK];
} runs;

/* Accumulators a contiguous row is folded into: independent lanes, so the
 * loop vectorises and does not wait on one add's latency per element. */
#define NB__RED_LANES 16

/* Σ x[0..len), len >= 1, summed lane by lane, then the lanes together. */
static inline float row_sum(const float *x, int64_t len)
{
    if (len < NB__RED_LANES) {
        float s = x[0];
        for (int64_t i = 1; i < len; i++)
            s += x[i];
        return s;
    }
    float acc[NB__RED_LANES] = {0};
    int64_t i = 0;
    for (; i + NB__RED_LANES <= len; i += NB__RED_LANES)
        for (int k = 0; k < NB__RED_LANES; k++)
            acc[k] += x[i + k];
    float s = 0.0f;
    for (int k = 0; k < NB__RED_LANES; k++)
        s += acc[k];
    for (; i < len; i++)
        s += x[i];
    return s;
}

/* max x[0..len), len >= 1, lane by lane like row_sum. */
static inline float row_max(const float *x, int64_t len)
{
    if (len < NB__RED_LANES) {
        float m = x[0];
        for (int64_t i = 1; i < len; i++)
            m = x[i] > m ? x[i] : m;
        return m;
    }
    float acc[NB__RED_LANES];
    for (int k = 0; k < NB__RED_LANES; k++)
        acc[k] = x[k];
    int64_t i = NB__RED_LANES;
    for (; i + NB__RED_LANES <= len; i += NB__RED_LANES)
        for (int k = 0; k < NB__RED_LANES; k++)
            acc[k] = x[i + k] > acc[k] ? x[i + k] : acc[k];
    float m = acc[0];
    for (int k = 1; k < NB__RED_LANES; k++)
        m = acc[k] > m ? acc[k] : m;
    for (; i < len; i++)
        m = x[i] > m ? x[i] : m;
    return m;
}

/* The fold of one contiguous row: its sum or its maximum. */
static inline float row_fold(const float *x, int64_t len, bool is_max)
{
    return is_max ? row_max(x, len) : row_sum(x, len);
}

/* ---------------------------------------------------------------- reduce_plain.c */

/* Folds x into out (holding the identity: 0 for sum, -inf for max) over
 * the runs r, any layout. */
void nb__reduce_walk(const runs *r, const float *x, float *out, bool is_max);

/* ---------------------------------------------------------------- reduce_fast.c */

/* The layouts with a kernel of their own, kept in nb__kernel's op field. */
enum { RED_ROWS = 1, RED_MIDDLE, RED_ENDS };

/* True with *k filled when the runs r of a sum (or max, with is_max) have
 * a kernel of their own. */
bool nb__reduce_layout_kernel(const runs *r, bool is_max, nb__kernel *k);
/* out[j] = the sum reduce_ends gives for x [outer, mid, inner] from the
 * rows' own sums, sums[i·mid + j] = row_sum(row (i, j)): the same chunks of
 * the outer axis, each folded in order, then the chunks in order, so the
 * same bits (outer = 1: out[j] = sums[j], the rows kernel's). For a kernel
 * that sums each row while it writes it (kernels/pool_direct.c: a
 * convolution's bias gradient beside the pooling gradient). */
void nb__reduce_ends_combine(const float *sums, float *out, int64_t outer, int64_t mid);
/* The kernel of layout k on x → out. */
void nb__reduce_run_layout(const nb__kernel *k, const float *x, float *out);
/* The same as an nb__kernel_fn, on in[0]. */
void nb__reduce_fast_run(const nb__kernel *f, const float *const *in, float *out);
/* The kernel a runtime step runs for layout k (nb__reduce_layout_kernel):
 * nb__reduce_fast_run, or for a tiny [outer, red, inner] (≤ 64 floats) a
 * plain fold per output with the same order and bits. */
nb__kernel_fn nb__reduce_kernel(const nb__kernel *k);

#endif /* NB_REDUCE_KERNELS_H */
