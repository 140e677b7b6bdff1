/*
 * dataset.c — examples held in memory: x [n, shape…] and y [n, y_width],
 * two plain float buffers the dataset owns. Loaders (io/idx.c) and users
 * fill them; the trainer reads them by index.
 */
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

/*
 * A dataset of n examples of the given shape with y_width targets each, x
 * and y zero-filled. n_classes starts at 0 (not class labels); a loader of
 * class labels sets it. Refuses n < 1, a bad shape, y_width < 1 and sizes
 * past MAX_ELEMENTS (NB_ERR_ARG / NB_ERR_SHAPE), and out-of-memory
 * (NB_ERR_NOMEM), with a message in *err when err is not NULL.
 */
nb_dataset *nb_dataset_new(int64_t n, nb_shape shape, int64_t y_width, nb_error *err)
{
    char why[256];
    if (n < 1)
        return nb_error_set(err, NB_ERR_ARG, "dataset: %lld examples (need at least 1)",
                             (long long)n), NULL;
    if (!example_shape_ok(shape, why, sizeof why))
        return nb_error_set(err, NB_ERR_SHAPE, "dataset: bad example shape: %s", why), NULL;
    if (y_width < 1)
        return nb_error_set(err, NB_ERR_ARG, "dataset: y_width %lld (need at least 1)",
                             (long long)y_width), NULL;
    int64_t numel = nb_shape_numel(shape);
    if (numel > MAX_ELEMENTS / n || y_width > MAX_ELEMENTS / n)
        return nb_error_set(err, NB_ERR_ARG, "dataset: %lld examples of %lld values and %lld "
                             "targets are too many", (long long)n, (long long)numel,
                             (long long)y_width), NULL;
    nb_dataset *ds = calloc(1, sizeof *ds);
    if (ds) {
        *ds = (nb_dataset){.n = n, .shape = shape, .y_width = y_width};
        ds->x = calloc((size_t)(n * numel), sizeof(float));
        ds->y = calloc((size_t)(n * y_width), sizeof(float));
    }
    if (!ds || !ds->x || !ds->y) {
        nb_dataset_free(ds);
        return nb_error_set(err, NB_ERR_NOMEM, "dataset: out of memory for %lld examples of "
                             "%lld values", (long long)n, (long long)numel), NULL;
    }
    return ds;
}

/* Frees the dataset and both buffers; NULL is ignored. */
void nb_dataset_free(nb_dataset *ds)
{
    if (!ds)
        return;
    free(ds->x);
    free(ds->y);
    free(ds);
}

/*
 * Examples [start, start + count) copied into a new dataset with the same
 * shape, y_width and n_classes. Refuses a NULL dataset, count < 1 and a
 * range that leaves [0, ds->n), naming both.
 */
nb_dataset *nb_dataset_slice(const nb_dataset *ds, int64_t start, int64_t count, nb_error *err)
{
    if (!ds)
        return nb_error_set(err, NB_ERR_ARG, "dataset slice: no dataset (NULL)"), NULL;
    if (start < 0 || count < 1 || start > ds->n || count > ds->n - start)
        return nb_error_set(err, NB_ERR_ARG, "dataset slice: %lld examples from index %lld "
                             "are out of range for a dataset of %lld (need start >= 0, "
                             "count >= 1, start + count <= %lld)", (long long)count,
                             (long long)start, (long long)ds->n, (long long)ds->n), NULL;
    nb_dataset *out = nb_dataset_new(count, ds->shape, ds->y_width, err);
    if (!out)
        return NULL;
    int64_t numel = nb_shape_numel(ds->shape);
    memcpy(out->x, ds->x + start * numel, (size_t)(count * numel) * sizeof(float));
    memcpy(out->y, ds->y + start * ds->y_width, (size_t)(count * ds->y_width) * sizeof(float));
    out->n_classes = ds->n_classes;
    return out;
}
