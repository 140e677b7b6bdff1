/*
 * dense_wgrad.c — a flat range of a dense layer's weight gradient xᵀ·dz
 * from its factors (dense_wgrad.h), by the products matmul uses
 * (nb__gemm: the FMA panels at a training batch), so the range holds the
 * bits the whole product would.
 */
#include "dense_wgrad.h"
#include <string.h>

#include "gemm.h"

void nb__dense_wgrad_range(const float *x, const float *dz, int64_t k, int64_t m, int64_t n,
                           int64_t lo, int64_t hi, float *out, float *row)
{
    const nb__mm s = {.ta = true, .m = m, .k = k, .n = n, .kb = k};
    int64_t r0 = (lo + n - 1) / n, r1 = hi / n; /* the whole rows [r0, r1) */
    if (r0 > r1) /* lo and hi inside one row */
        r0 = r1 = lo / n + 1;
    if (lo < r0 * n) { /* the end of row r0 − 1, or [lo, hi) inside it */
        int64_t i = r0 - 1, e = hi < r0 * n ? hi : r0 * n;
        nb__gemm(&s, 1, x + i, dz, row);
        memcpy(out, row + (lo - i * n), (size_t)(e - lo) * sizeof *out);
    }
    if (r1 > r0) /* op(a)'s rows r0.. are x's columns: x + r0, row stride m */
        nb__gemm(&s, r1 - r0, x + r0, dz, out + (r0 * n - lo));
    if (hi > r1 * n) { /* the start of row r1 */
        nb__gemm(&s, 1, x + r1, dz, row);
        memcpy(out + (r1 * n - lo), row, (size_t)(hi - r1 * n) * sizeof *out);
    }
}
