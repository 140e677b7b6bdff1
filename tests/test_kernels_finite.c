/*
 * test_kernels_finite.c — the finite check beneath the trainer's gradient
 * tests (ops/kernels/finite.h): a NaN (quiet, signalling, either sign) or
 * an infinity of either sign at every place of blocks up to a few vectors
 * long and past them (the vector loop and its tail), found; subnormals,
 * signed zeros and ±FLT_MAX, the largest finite values, not.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "../ops/kernels/finite.h"

/* Floats from bits, as a NaN's payload or sign is set. */
static float from_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

Test(kernels_finite, finite_values_pass)
{
    float v[67];
    const float edge[] = {0.0f, -0.0f, FLT_MAX, -FLT_MAX, FLT_MIN, from_bits(1), -from_bits(1),
                          from_bits(0x007fffffu), 1.0f, -3.0e38f};
    for (int n = 0; n <= 67; n++) {
        for (int i = 0; i < n; i++)
            v[i] = edge[(i * 7 + n) % (int)(sizeof edge / sizeof *edge)];
        cr_assert(nb__finite_all(v, n), "%d finite values (edges, subnormals) called not finite", n);
    }
}

Test(kernels_finite, nan_and_infinity_found_at_every_place)
{
    float v[67];
    const float bad[] = {NAN, -NAN, INFINITY, -INFINITY, from_bits(0x7f800001u) /* signalling */,
                         from_bits(0xffc00001u)};
    for (int n = 1; n <= 67; n++)
        for (int at = 0; at < n; at++)
            for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
                for (int i = 0; i < n; i++)
                    v[i] = i % 3 ? FLT_MAX : -1.5f;
                v[at] = bad[k];
                cr_assert(!nb__finite_all(v, n), "value %zu of the bad ones at %d of %d missed", k,
                          at, n);
            }
}
