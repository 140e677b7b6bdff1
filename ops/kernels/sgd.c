/*
 * sgd.c — the SGD update kernels (sgd.h): plain loops, one pass per case
 * with no branch inside, compiled twice by NB__SIMD so each vectorises.
 */
#include <float.h>
#include <math.h>

#include "sgd.h"
#include "../../graph/simd.h"

/* The magnitude below which a velocity is flushed at learning rate lr
 * (sgd.h): FLT_MIN, raised to FLT_MIN / |lr| when |lr| < 1 so that the
 * step lr·v of a velocity kept is itself a normal float. */
static float flush_below(float lr)
{
    float a = fabsf(lr);
    return a > 0 && a < 1 ? FLT_MIN / a : FLT_MIN;
}

/* v, or exactly 0 when |v| < tiny. NaN stays NaN. A compare and a mask
 * in the vector loops, no branch. */
static inline float flush(float v, float tiny)
{
    return fabsf(v) < tiny ? 0.0f : v;
}

/* The rule on one parameter (nb__sgd_update), inlined into each caller's
 * NB__SIMD clones. */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline void sgd_span(const nb__sgd_rule *r, float *restrict w, const float *restrict g,
                            float *restrict m, int64_t k, float lr)
{
    const float mu = r->mu, wd = r->wd;
    if (!(mu > 0)) { /* before flush_below's division, which only momentum needs: on a
                        parameter of a few floats, its latency was a third of the call */
        for (int64_t i = 0; i < k; i++)
            w[i] -= lr * (g[i] + wd * w[i]);
        return;
    }
    const float tiny = flush_below(lr);
    if (r->nesterov) {
        for (int64_t i = 0; i < k; i++) {
            float gi = g[i] + wd * w[i], mi = flush(mu * m[i] + gi, tiny);
            m[i] = mi;
            w[i] -= lr * (gi + mu * mi);
        }
    } else {
        for (int64_t i = 0; i < k; i++) {
            float mi = flush(mu * m[i] + (g[i] + wd * w[i]), tiny);
            m[i] = mi;
            w[i] -= lr * mi;
        }
    }
}

NB__SIMD void nb__sgd_update(const nb__sgd_rule *r, float *restrict w, const float *restrict g,
                             float *restrict m, int64_t k, float lr)
{
    sgd_span(r, w, g, m, k, lr);
}

NB__SIMD NB__NO_VECTORIZE void nb__sgd_update_list(const nb__sgd_rule *r, const nb__sgd_span *s,
                                                   int n, float lr)
{
    for (int i = 0; i < n; i++)
        sgd_span(r, s[i].w, s[i].g, s[i].m, s[i].k, lr);
}

/* nb__sgd_update's rule, term for term, with g[j] replaced by u[r]·v[j];
 * one pass over w and m, no gradient buffer. */
NB__SIMD void nb__sgd_update_outer(const nb__sgd_rule *r, float *restrict w, float *restrict m,
                                   const float *u, const float *restrict v, int64_t rows,
                                   int64_t n, float lr)
{
    const float mu = r->mu, wd = r->wd, tiny = flush_below(lr);
    for (int64_t row = 0; row < rows; row++, w += n, m += n) {
        const float ur = u[row];
        if (!(mu > 0)) {
            for (int64_t j = 0; j < n; j++)
                w[j] -= lr * (ur * v[j] + wd * w[j]);
        } else if (r->nesterov) {
            for (int64_t j = 0; j < n; j++) {
                float gi = ur * v[j] + wd * w[j], mi = flush(mu * m[j] + gi, tiny);
                m[j] = mi;
                w[j] -= lr * (gi + mu * mi);
            }
        } else {
            for (int64_t j = 0; j < n; j++) {
                float mi = flush(mu * m[j] + (ur * v[j] + wd * w[j]), tiny);
                m[j] = mi;
                w[j] -= lr * mi;
            }
        }
    }
}

NB__SIMD void nb__outer_row(float ur, const float *restrict v, int64_t len, float *restrict g)
{
    for (int64_t j = 0; j < len; j++)
        g[j] = ur * v[j];
}
