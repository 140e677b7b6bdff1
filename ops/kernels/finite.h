/*
 * finite.h — whether a block of floats holds a NaN or an infinity: the
 * check beneath the trainer's (train/) test of every gradient before an
 * update, and of a data-parallel rank's summed pieces. A narrow interface,
 * plain pointers and counts, so train/ needs nothing else of ops/.
 */
#ifndef NB_FINITE_KERNEL_H
#define NB_FINITE_KERNEL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Blocks up to this many floats are checked inline, in the caller: on a
 * small network's gradients (XOR's: 1 to 4 floats each) the call through
 * the clones' dispatch and the vector loop's set-up cost more than the
 * check. */
#define NB__FINITE_SHORT 16

/* nb__finite_all on a block of any length, in its vector loop (finite.c). */
bool nb__finite_long(const float *v, int64_t n);

/* Whether all n floats at v are finite (no exponent of all ones: NaN or
 * ±inf). Subnormals, zeros of either sign and ±FLT_MAX are finite. */
static inline bool nb__finite_all(const float *v, int64_t n)
{
    if (n > NB__FINITE_SHORT)
        return nb__finite_long(v, n);
    for (int64_t i = 0; i < n; i++) { /* the exit keeps it scalar: no vector set-up */
        uint32_t b;
        memcpy(&b, &v[i], sizeof b);
        if ((b & 0x7f800000u) == 0x7f800000u)
            return false;
    }
    return true;
}

#endif /* NB_FINITE_KERNEL_H */
