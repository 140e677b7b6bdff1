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

/* Whether all n floats at v are finite (no exponent of all ones: NaN or
 * ±inf). Subnormals, zeros of either sign and ±FLT_MAX are finite. */
bool nb__finite_all(const float *v, int64_t n);

#endif /* NB_FINITE_KERNEL_H */
