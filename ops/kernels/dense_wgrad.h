/*
 * dense_wgrad.h — a dense layer's weight gradient xᵀ·dz, or a flat range
 * of it, from its two factors: for a caller that keeps the factors
 * instead of the product (nb_runtime_new_factored) and forms only the
 * part it needs — a data-parallel rank its piece of the weights, over the
 * rows of every rank's batch (train/dist_sum.c). A narrow interface, plain
 * pointers and counts, so train/ needs nothing else of ops/.
 */
#ifndef NB_DENSE_WGRAD_H
#define NB_DENSE_WGRAD_H

#include <stdint.h>

/* out[0, hi − lo) = the elements [lo, hi) of c = xᵀ·dz in row-major order
 * (x: k×m, dz: k×n, both row-major; c: m×n), 0 ≤ lo ≤ hi ≤ m·n. Each
 * element is computed as matmul computes it (the same kernel, the same
 * bits for the same rows of x and dz): whole rows of c in place, a row cut
 * by lo or hi into `row` (n floats of scratch; NULL will do when lo and hi
 * are multiples of n) and the part wanted copied out. */
void nb__dense_wgrad_range(const float *x, const float *dz, int64_t k, int64_t m, int64_t n,
                           int64_t lo, int64_t hi, float *out, float *row);

#endif /* NB_DENSE_WGRAD_H */
