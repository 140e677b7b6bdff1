/*
 * dataset.c — examples held in memory: x [n, shape…] and y [n, y_width],
 * buffers the dataset owns. The examples are floats (x) or bytes with a
 * divisor (x_u8, x_div: a quarter of the memory, what the IDX loader gives
 * for training); the targets are floats. Loaders (io/idx.c) and users fill
 * them; the trainer reads them a minibatch at a time through
 * nb_dataset_gather, which converts bytes as it copies.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train_internal.h"

/* Elements in one dataset buffer are capped so byte counts fit in int64 and
 * size_t everywhere (2^60 floats is far beyond any real memory anyway). */
#define MAX_ELEMENTS ((int64_t)1 << 60)

/* Checks one example's shape: rank 0 … NB_MAX_RANK-1 (the batch takes one
 * more axis), every dimension ≥ 1, at most MAX_ELEMENTS values (so
 * nb_shape_numel cannot overflow). On refusal writes why into why. */
static bool example_shape_ok(nb_shape s, char *why, size_t size)
{
    char buf[160];
    if (s.rank < 0 || s.rank >= NB_MAX_RANK) {
        snprintf(why, size, "rank %d (an example has rank 0 to %d: the batch adds one axis)",
                 s.rank, NB_MAX_RANK - 1);
        return false;
    }
    int64_t numel = 1;
    for (int i = 0; i < s.rank; i++) {
        if (s.dim[i] < 1) {
            snprintf(why, size, "%s has dimension %d of size %lld (must be at least 1)",
                     nb_shape_format(s, buf, sizeof buf), i, (long long)s.dim[i]);
            return false;
        }
        if (s.dim[i] > MAX_ELEMENTS / numel) {
            snprintf(why, size, "%s holds too many values", nb_shape_format(s, buf, sizeof buf));
            return false;
        }
        numel *= s.dim[i];
    }
    return true;
}

/* The dataset both constructors make: x (floats) or x_u8 (bytes) and y,
 * zero-filled, after the checks nb_dataset_new documents. */
static nb_dataset *dataset_alloc(int64_t n, nb_shape shape, int64_t y_width, bool bytes,
                                 nb_error *err)
{
    char why[256];
    if (n < 1)
        return nb_error_set(err, NB_ERR_ARG, "dataset: %lld examples (need at least 1)",
                             (long long)n), NULL;
    if (!example_shape_ok(shape, why, sizeof why))
        return nb_error_set(err, NB_ERR_SHAPE, "dataset: bad example shape: %s", why), NULL;
    if (y_width < 0)
        return nb_error_set(err, NB_ERR_ARG, "dataset: y_width %lld (need 0 for examples "
                             "without targets, or more)", (long long)y_width), NULL;
    int64_t numel = nb_shape_numel(shape);
    if (numel > MAX_ELEMENTS / n || y_width > MAX_ELEMENTS / n)
        return nb_error_set(err, NB_ERR_ARG, "dataset: %lld examples of %lld values and %lld "
                             "targets are too many", (long long)n, (long long)numel,
                             (long long)y_width), NULL;
    nb_dataset *ds = nb_calloc(1, sizeof *ds);
    if (ds) {
        *ds = (nb_dataset){.n = n, .shape = shape, .y_width = y_width, .x_div = 1};
        if (bytes)
            ds->x_u8 = nb_calloc((size_t)(n * numel), 1);
        else
            ds->x = nb_calloc((size_t)(n * numel), sizeof(float));
        ds->y = y_width ? nb_calloc((size_t)(n * y_width), sizeof(float)) : NULL;
    }
    if (!ds || !(ds->x || ds->x_u8) || (y_width && !ds->y)) {
        nb_dataset_free(ds);
        return nb_error_set(err, NB_ERR_NOMEM, "dataset: out of memory for %lld examples of "
                             "%lld values", (long long)n, (long long)numel), NULL;
    }
    return ds;
}

/*
 * A dataset of n examples of the given shape with y_width targets each, x
 * and y zero-filled (the float form); y_width 0: examples without targets
 * (y NULL), for running a model. n_classes starts at 0 (not class labels);
 * a loader of class labels sets it. Refuses n < 1, a bad shape,
 * y_width < 0 and sizes past MAX_ELEMENTS (NB_ERR_ARG / NB_ERR_SHAPE), and
 * out-of-memory (NB_ERR_NOMEM), with a message in *err when err is not NULL.
 */
nb_dataset *nb_dataset_new(int64_t n, nb_shape shape, int64_t y_width, nb_error *err)
{
    return dataset_alloc(n, shape, y_width, false, err);
}

/* The byte form of nb_dataset_new: x_u8 zero-filled, x NULL, values
 * x_u8[i] / x_div; also refuses a divisor that is zero or not finite. */
nb_dataset *nb_dataset_new_u8(int64_t n, nb_shape shape, int64_t y_width, float x_div,
                              nb_error *err)
{
    if (!isfinite(x_div) || x_div == 0)
        return nb_error_set(err, NB_ERR_ARG, "dataset: x_div %g (need a finite, non-zero "
                             "divisor, e.g. 255 for pixels in [0, 1])", (double)x_div), NULL;
    nb_dataset *ds = dataset_alloc(n, shape, y_width, true, err);
    if (ds)
        ds->x_div = x_div;
    return ds;
}

/* Frees the dataset and its buffers; NULL is ignored. */
void nb_dataset_free(nb_dataset *ds)
{
    if (!ds)
        return;
    nb_free(ds->x);
    nb_free(ds->x_u8);
    nb_free(ds->y);
    nb__dataset_free_extra(ds);
    nb_free(ds);
}

/*
 * Examples [start, start + count) copied into a new dataset with the same
 * shape, y_width, n_classes and form (bytes stay bytes, with their x_div).
 * Refuses a NULL dataset, one with no examples buffer, count < 1 and a
 * range that leaves [0, ds->n), naming both.
 */
nb_dataset *nb_dataset_slice(const nb_dataset *ds, int64_t start, int64_t count, nb_error *err)
{
    if (!ds)
        return nb_error_set(err, NB_ERR_ARG, "dataset slice: no dataset (NULL)"), NULL;
    if (!ds->x && !ds->x_u8)
        return nb_error_set(err, NB_ERR_ARG, "dataset slice: the dataset holds no examples "
                             "(x and x_u8 are NULL)"), NULL;
    if (start < 0 || count < 1 || start > ds->n || count > ds->n - start)
        return nb_error_set(err, NB_ERR_ARG, "dataset slice: %lld examples from index %lld "
                             "are out of range for a dataset of %lld (need start >= 0, "
                             "count >= 1, start + count <= %lld)", (long long)count,
                             (long long)start, (long long)ds->n, (long long)ds->n), NULL;
    bool bytes = !ds->x;
    nb_dataset *out = bytes ? nb_dataset_new_u8(count, ds->shape, ds->y_width, ds->x_div, err)
                            : nb_dataset_new(count, ds->shape, ds->y_width, err);
    if (!out)
        return NULL;
    int64_t numel = nb_shape_numel(ds->shape);
    if (bytes)
        memcpy(out->x_u8, ds->x_u8 + start * numel, (size_t)(count * numel));
    else
        memcpy(out->x, ds->x + start * numel, (size_t)(count * numel) * sizeof(float));
    if (ds->y_width)
        memcpy(out->y, ds->y + start * ds->y_width, (size_t)(count * ds->y_width) * sizeof(float));
    out->n_classes = ds->n_classes;
    if (nb__dataset_copy_extra(ds, out, NULL, start, err) != NB_OK) {
        nb_dataset_free(out);
        return NULL;
    }
    return out;
}

/* ---------------------------------------------------------------- held-out sets */

/* The examples whose mark equals `want` (in order) copied into a new
 * dataset of ds's form; count is how many there are. */
static nb_dataset *pick(const nb_dataset *ds, const bool *held, bool want, int64_t count,
                        nb_error *err)
{
    bool bytes = !ds->x;
    nb_dataset *out = bytes ? nb_dataset_new_u8(count, ds->shape, ds->y_width, ds->x_div, err)
                            : nb_dataset_new(count, ds->shape, ds->y_width, err);
    if (!out)
        return NULL;
    int64_t numel = nb_shape_numel(ds->shape), at = 0;
    for (int64_t i = 0; i < ds->n; i++) {
        if (held[i] != want)
            continue;
        if (bytes)
            memcpy(out->x_u8 + at * numel, ds->x_u8 + i * numel, (size_t)numel);
        else
            memcpy(out->x + at * numel, ds->x + i * numel, (size_t)numel * sizeof(float));
        memcpy(out->y + at * ds->y_width, ds->y + i * ds->y_width,
               (size_t)ds->y_width * sizeof(float));
        at++;
    }
    out->n_classes = ds->n_classes;
    int64_t *rows = ds->n_extra ? nb_malloc((size_t)count * sizeof *rows) : NULL;
    for (int64_t i = 0, k = 0; rows && i < ds->n; i++)
        if (held[i] == want)
            rows[k++] = i;
    if (ds->n_extra && (!rows || nb__dataset_copy_extra(ds, out, rows, 0, err) != NB_OK)) {
        if (!rows)
            nb_error_set(err, NB_ERR_NOMEM, "dataset split: out of memory");
        nb_dataset_free(out);
        out = NULL;
    }
    nb_free(rows);
    return out;
}

nb_status nb_dataset_split(const nb_dataset *ds, double fraction, uint64_t seed,
                           nb_dataset **rest, nb_dataset **held, int64_t *held_index,
                           nb_error *err)
{
    if (!ds || !rest || !held)
        return nb_error_set(err, NB_ERR_ARG, "dataset split: no dataset or no place for the "
                            "sets (NULL)");
    *rest = *held = NULL;
    if (!ds->x && !ds->x_u8)
        return nb_error_set(err, NB_ERR_ARG, "dataset split: the dataset holds no examples "
                            "(x and x_u8 are NULL)");
    if (!(fraction > 0 && fraction < 1))
        return nb_error_set(err, NB_ERR_ARG, "dataset split: the fraction held out is %g; it "
                            "must lie strictly between 0 and 1", fraction);
    int64_t k = (int64_t)llround(fraction * (double)ds->n);
    if (k < 1 || k > ds->n - 1)
        return nb_error_set(err, NB_ERR_ARG, "dataset split: %g of %lld examples holds out "
                            "%lld, leaving %s; it must leave at least one on each side",
                            fraction, (long long)ds->n, (long long)k,
                            k < 1 ? "no validation example" : "no training example");
    int64_t *perm = nb_malloc((size_t)ds->n * sizeof *perm);
    bool *mark = nb_calloc((size_t)ds->n, sizeof *mark);
    if (!perm || !mark) {
        nb_free(perm);
        nb_free(mark);
        return nb_error_set(err, NB_ERR_NOMEM, "dataset split: out of memory for a shuffle of %lld "
                            "examples", (long long)ds->n);
    }
    nb_rng r = nb_rng_seed(seed ^ 0x76616C6964617465ull);
    for (int64_t i = 0; i < ds->n; i++)
        perm[i] = i;
    nb_rng_shuffle(&r, perm, ds->n);
    for (int64_t i = 0; i < k; i++)
        mark[perm[i]] = true;
    for (int64_t i = 0, at = 0; held_index && i < ds->n; i++)
        if (mark[i])
            held_index[at++] = i;
    *rest = pick(ds, mark, false, ds->n - k, err);
    *held = *rest ? pick(ds, mark, true, k, err) : NULL;
    nb_free(perm);
    nb_free(mark);
    if (*held)
        return NB_OK;
    nb_dataset_free(*rest);
    *rest = NULL;
    return err ? err->status : NB_ERR_NOMEM;
}

/* ---------------------------------------------------------------- as floats */

/* dst[i] = src[i] / div, [n] bytes → [n] floats: one pass the compiler
 * vectorises (widen to 32 bits, convert, divide; 4 lanes, 8 in the AVX2
 * clone). A true division, not a multiplication by 1/div: b · (1/255.0f)
 * differs from b / 255.0f in the last bit for 126 of the 256 bytes, which
 * is enough to move a one-epoch test accuracy (MLP 0.8373 → 0.8354, LeNet-5
 * 0.8463 → 0.8617 at seed 0); the division costs ~0.5 % of an MLP step. */
NB__SIMD static void bytes_to_floats(float *restrict dst, const uint8_t *restrict src, int64_t n,
                                     float div)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = (float)src[i] / div;
}

/* Examples this far ahead in an index list are prefetched while the
 * current one is converted: a shuffled minibatch reads rows scattered over
 * the whole dataset, and each row's first lines would otherwise stall on
 * memory. */
#define PREFETCH_AHEAD 4

/* Asks for example e's cache lines (64 bytes each) ahead of their use: its
 * values when x, its first target when y (the targets are small, but the
 * GEMMs between two minibatches evict them from the near caches, and each
 * scattered read would otherwise wait on memory too). Always inlined: GCC
 * deems a function of prefetches alone pure and drops the call. */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline void prefetch_example(const nb_dataset *ds, bool x, bool y, int64_t e,
                                    int64_t numel)
{
#if defined(__GNUC__)
    const char *p = ds->x ? (const char *)(ds->x + e * numel)
                          : (const char *)(ds->x_u8 + e * numel);
    int64_t bytes = !x ? 0 : ds->x ? numel * (int64_t)sizeof(float) : numel;
    for (int64_t at = 0; at < bytes; at += 64)
        __builtin_prefetch(p + at);
    if (y)
        __builtin_prefetch(ds->y + e * ds->y_width);
#else
    (void)ds, (void)x, (void)y, (void)e, (void)numel;
#endif
}

/* Example e's numel values into dst as floats, from either form. */
static inline void example_to_floats(const nb_dataset *ds, int64_t e, int64_t numel, float *dst)
{
    if (ds->x)
        memcpy(dst, ds->x + e * numel, (size_t)numel * sizeof(float));
    else
        bytes_to_floats(dst, ds->x_u8 + e * numel, numel, ds->x_div);
}

/* Checks what nb_dataset_gather reads: a dataset with examples (when x is
 * wanted) and targets (when y is), count ≥ 0, and every index (or the run
 * from start) in [0, n). */
static nb_status gather_check(const nb_dataset *ds, const int64_t *idx, int64_t start,
                              int64_t count, bool want_x, bool want_y, nb_error *err)
{
    if (!ds)
        return nb_error_set(err, NB_ERR_ARG, "dataset gather: no dataset (NULL)");
    if (want_x && !ds->x && !ds->x_u8)
        return nb_error_set(err, NB_ERR_ARG, "dataset gather: the dataset holds no examples "
                             "(x and x_u8 are NULL)");
    if (want_y && !ds->y)
        return nb_error_set(err, NB_ERR_ARG, "dataset gather: the dataset holds no targets "
                             "(y is NULL)");
    if (count < 0)
        return nb_error_set(err, NB_ERR_ARG, "dataset gather: count %lld (need count >= 0)",
                             (long long)count);
    if (!idx && (start < 0 || start > ds->n || count > ds->n - start))
        return nb_error_set(err, NB_ERR_ARG, "dataset gather: %lld examples from index %lld "
                             "are out of range for a dataset of %lld", (long long)count,
                             (long long)start, (long long)ds->n);
    for (int64_t b = 0; idx && b < count; b++)
        if (idx[b] < 0 || idx[b] >= ds->n)
            return nb_error_set(err, NB_ERR_ARG, "dataset gather: index %lld (at %lld) is "
                                 "out of range for a dataset of %lld", (long long)idx[b],
                                 (long long)b, (long long)ds->n);
    return NB_OK;
}

/*
 * Examples idx[0..count) (or start.. in order) as floats into x [count,
 * shape…] and their targets into y [count, y_width]; x or y may be NULL.
 * A run of examples in order is one pass over contiguous memory; an index
 * list is one pass per example. Nothing is allocated.
 */
nb_status nb_dataset_gather(const nb_dataset *ds, const int64_t *idx, int64_t start,
                            int64_t count, float *x, float *y, nb_error *err)
{
    nb_status st = gather_check(ds, idx, start, count, x != NULL, y != NULL, err);
    if (st != NB_OK || count == 0)
        return st;
    int64_t numel = nb_shape_numel(ds->shape), yw = ds->y_width;
    if (!idx) {
        if (x && ds->x)
            memcpy(x, ds->x + start * numel, (size_t)(count * numel) * sizeof(float));
        else if (x)
            bytes_to_floats(x, ds->x_u8 + start * numel, count * numel, ds->x_div);
        if (y)
            memcpy(y, ds->y + start * yw, (size_t)(count * yw) * sizeof(float));
        return NB_OK;
    }
    for (int64_t b = 0; b < count; b++) {
        if (b + PREFETCH_AHEAD < count)
            prefetch_example(ds, x != NULL, y != NULL, idx[b + PREFETCH_AHEAD], numel);
        if (x)
            example_to_floats(ds, idx[b], numel, x + b * numel);
        if (y)
            memcpy(y + b * yw, ds->y + idx[b] * yw, (size_t)yw * sizeof(float));
    }
    return NB_OK;
}

/*
 * A byte dataset turned into the float form in place: x allocated and
 * filled with x_u8 / x_div, then x_u8 freed. A float dataset is left as
 * it is. Refuses NULL, a dataset with neither form, and out-of-memory
 * (then ds is unchanged).
 */
nb_status nb_dataset_to_float(nb_dataset *ds, nb_error *err)
{
    if (!ds)
        return nb_error_set(err, NB_ERR_ARG, "dataset to float: no dataset (NULL)");
    if (ds->x)
        return NB_OK;
    if (!ds->x_u8)
        return nb_error_set(err, NB_ERR_ARG, "dataset to float: the dataset holds no examples "
                             "(x and x_u8 are NULL)");
    int64_t total = ds->n * nb_shape_numel(ds->shape);
    float *x = nb_malloc((size_t)total * sizeof *x);
    if (!x)
        return nb_error_set(err, NB_ERR_NOMEM, "dataset to float: out of memory for %lld "
                             "values", (long long)total);
    bytes_to_floats(x, ds->x_u8, total, ds->x_div);
    nb_free(ds->x_u8);
    ds->x_u8 = NULL;
    ds->x = x;
    return NB_OK; /* the inputs after x are read through nb_dataset_gather_input */
}
