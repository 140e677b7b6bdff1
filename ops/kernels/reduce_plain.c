/*
 * reduce_plain.c — sum and max by one walk over the input (reduce.h): the
 * general case, and the reference the layout kernels are checked against.
 */
#include "reduce.h"

/*
 * The general case (several reduced runs, e.g. axes 0 and 2 of [a,b,c,d]):
 * walks the input once in row-major order with an odometer over the runs,
 * keeping the matching output offset, and folds each element into it. out
 * must hold the identity (0 for sum, -inf for max) beforehand. A last run
 * that is reduced folds as one contiguous row.
 */
void nb__reduce_walk(const runs *r, const float *x, float *out, bool is_max)
{
    int64_t ostride[NB_MAX_RANK] = {0}, idx[NB_MAX_RANK] = {0}, total = 1, os = 1;
    for (int k = r->n - 1; k >= 0; k--) {
        ostride[k] = r->red[k] ? 0 : os;
        os *= r->red[k] ? 1 : r->size[k];
        total *= r->size[k];
    }
    const int last = r->n - 1;
    const int64_t len = r->size[last], step = ostride[last];
    int64_t o = 0;
    for (int64_t i = 0; i < total; i += len) {
        float *dst = out + o;
        if (step == 0) {
            float v = row_fold(x + i, len, is_max);
            *dst = is_max ? (v > *dst ? v : *dst) : *dst + v;
        } else if (is_max)
            for (int64_t j = 0; j < len; j++)
                dst[j * step] = x[i + j] > dst[j * step] ? x[i + j] : dst[j * step];
        else
            for (int64_t j = 0; j < len; j++)
                dst[j * step] += x[i + j];
        for (int k = last - 1; k >= 0; k--) {
            o += ostride[k];
            if (++idx[k] < r->size[k])
                break;
            o -= ostride[k] * r->size[k];
            idx[k] = 0;
        }
    }
}

