/*
 * finite.c — the finite check (finite.h): one pass over the exponent bits
 * with no branch per value, compiled twice by NB__SIMD. The baseline
 * copy's four-float vectors took 9 µs for the 100 352 floats of the MLP's
 * half weight gradient (hot in cache, one core here), the AVX2 copy 4.4:
 * every step checks every gradient, 200 000 floats for the MLP.
 */
#include <string.h>

#include "finite.h"
#include "../../graph/simd.h"

NB__SIMD bool nb__finite_long(const float *v, int64_t n)
{
    uint32_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &v[i], sizeof b);
        bad |= (b & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}
