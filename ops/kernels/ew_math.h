/*
 * ew_math.h — the scalar functions behind the elementwise kernels that are
 * more than one libm call, shared by the ops' own kernels (unary.c) and the
 * fused ones (fused.c), so both compute the same bits.
 */
#ifndef NB_EW_MATH_H
#define NB_EW_MATH_H

#include <math.h>

#include "../ops_internal.h"

/*
 * tanh without libm's tanhf, which goes through expm1f, slow enough to
 * show in a small network's step. |v| < 0.625: the odd Taylor series to v^19 (the
 * next term is below 1e-8 of the result). Otherwise, with e = e^-2|v| (never overflows):
 * (1 - e) / (1 + e), where the subtraction loses less than one bit. Sign
 * restored last; NaN stays NaN and ±inf gives ±1. Within 2 ulp of tanhf.
 */
static inline float nb__tanh1(float v)
{
    float a = fabsf(v), r;
    if (a < 0.625f) {
        float x2 = a * a;
        float p = -443861162.0f / 1856156927625.0f;
        p = p * x2 + 6404582.0f / 10854718875.0f;
        p = p * x2 - 929569.0f / 638512875.0f;
        p = p * x2 + 21844.0f / 6081075.0f;
        p = p * x2 - 1382.0f / 155925.0f;
        p = p * x2 + 62.0f / 2835.0f;
        p = p * x2 - 17.0f / 315.0f;
        p = p * x2 + 2.0f / 15.0f;
        p = p * x2 - 1.0f / 3.0f;
        r = a + a * (x2 * p);
    } else {
        float e = expf(-2.0f * a);
        r = (1.0f - e) / (1.0f + e);
    }
    return copysignf(r, v);
}

/*
 * sigmoid, with e = e^-|v|: 1 / (1 + e) for v ≥ 0 and e / (1 + e) for
 * v < 0. The exponential only ever sees -|v|, so it never overflows, and
 * results near 0 keep their relative precision instead of rounding 1 - tiny.
 */
static inline float nb__sigmoid1(float v)
{
    float e = expf(-fabsf(v)), r = 1.0f / (1.0f + e);
    return v >= 0.0f ? r : e * r;
}

#endif /* NB_EW_MATH_H */
