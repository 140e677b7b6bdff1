/*
 * ew_math.h — the scalar functions behind the elementwise kernels that are
 * more than one libm call, shared by the ops' own kernels (unary.c) and the
 * fused ones (fused.c), so both compute the same bits. Each is written
 * without calls or branches, so a loop over it vectorises in the NB__SIMD
 * copies; tests/test_ew_math.c checks them against double precision.
 */
#ifndef NB_EW_MATH_H
#define NB_EW_MATH_H

#include <math.h>
#include <stdint.h>

#include "../ops_internal.h"

/*
 * Bits to float and back. The selects below compare bits, not floats: with
 * trapping math on (C11's default), GCC keeps a float comparison feeding a
 * select as a branch, and a loop with a branch does not vectorise.
 */
static inline float nb__bits_float(uint32_t u)
{
    union { uint32_t u; float f; } c = {.u = u};
    return c.f;
}

static inline uint32_t nb__float_bits(float f)
{
    union { float f; uint32_t u; } c = {.f = f};
    return c.u;
}

/* |v| < w for w a positive float's bits, false for NaN. */
static inline bool nb__abs_below(float v, uint32_t w)
{
    return (nb__float_bits(v) & 0x7fffffffu) < w;
}

/*
 * e^v in plain arithmetic, so a loop of it vectorises (libm's expf is a call
 * per element); the reference it is checked against is exp in double
 * (tests/test_ew_math.c). v is clamped to ±104 first (e^±104 is already 0
 * and inf; NaN, whose magnitude bits lie above inf's, passes through and
 * gives NaN). Then v = n·ln2 + r with n = round(v/ln2), the rounding by
 * adding and subtracting 1.5·2^23, and |r| ≤ ln2/2 from ln2 split into a
 * part of 9 bits (n·NB__LN2_HI is exact for |n| ≤ 150) and the rest;
 * e^r = 1 + r + r²·p(r), Cephes' degree-5 fit; 2^n as two halves built in
 * the exponent bits, so n down to -150 gives denormals and up to 150 gives
 * inf without an exponent field overflowing. No branch and no FMA (C11
 * mode keeps contraction off), so every ISA copy gives the same bits.
 */
#define NB__LN2_HI 0.693359375f
#define NB__LN2_LO -2.12194440e-4f

static inline float nb__exp1(float v)
{
    const float magic = 12582912.0f; /* 1.5·2^23: adding it rounds to an integer */
    const uint32_t u = nb__float_bits(v), a = u & 0x7fffffffu, lim = 0x42D00000u; /* 104 */
    v = a > lim && a <= 0x7f800000u ? nb__bits_float((u & 0x80000000u) | lim) : v;
    const float t = v * 1.44269504088896341f + magic, n = t - magic;
    float r = v - n * NB__LN2_HI;
    r = r - n * NB__LN2_LO;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = (r * r) * p + r + 1.0f;
    /* n sits in t's low mantissa bits, offset by magic's 0x400000 */
    const int32_t ni = (int32_t)(nb__float_bits(t) - 0x4B400000u), n1 = ni / 2, n2 = ni - n1;
    return p * nb__bits_float((uint32_t)(n1 + 127) << 23) *
           nb__bits_float((uint32_t)(n2 + 127) << 23);
}

/*
 * tanh without libm's tanhf, which goes through expm1f, slow enough to
 * show in a small network's step. |v| < 0.625: the odd Taylor series to v^19 (the
 * next term is below 1e-8 of the result). Otherwise, with e = e^-2|v| (never overflows):
 * (1 - e) / (1 + e), where the subtraction loses less than one bit. Both
 * sides are computed and one picked by a bit mask (a select on them stays a
 * branch: the division may trap). Sign restored last; NaN stays NaN and
 * ±inf gives ±1.
 */
static inline float nb__tanh1(float v)
{
    const float a = fabsf(v), x2 = a * a;
    float p = -443861162.0f / 1856156927625.0f;
    p = p * x2 + 6404582.0f / 10854718875.0f;
    p = p * x2 - 929569.0f / 638512875.0f;
    p = p * x2 + 21844.0f / 6081075.0f;
    p = p * x2 - 1382.0f / 155925.0f;
    p = p * x2 + 62.0f / 2835.0f;
    p = p * x2 - 17.0f / 315.0f;
    p = p * x2 + 2.0f / 15.0f;
    p = p * x2 - 1.0f / 3.0f;
    const float e = nb__exp1(-2.0f * a);
    const float near0 = a + a * (x2 * p), far = (1.0f - e) / (1.0f + e);
    const uint32_t m = 0u - (uint32_t)nb__abs_below(v, 0x3F200000u); /* 0.625 */
    const float r = nb__bits_float((nb__float_bits(near0) & m) | (nb__float_bits(far) & ~m));
    return copysignf(r, v);
}

/*
 * sigmoid, with e = e^-|v|: 1 / (1 + e) for v ≥ 0 and e / (1 + e) for
 * v < 0, picked by the sign bit. The exponential only ever sees -|v|, so
 * it never overflows, and results near 0 keep their relative precision
 * instead of rounding 1 - tiny.
 */
static inline float nb__sigmoid1(float v)
{
    const float e = nb__exp1(-fabsf(v));
    return (nb__float_bits(v) >> 31 ? e : 1.0f) / (1.0f + e);
}

#endif /* NB_EW_MATH_H */
