/*
 * fuzz_hdf5_data.c — HDF5 data files (`data: {format: hdf5}`): the input,
 * written to a temporary file, is read by nb_hdf5_data_load three ways:
 * examples and targets X and y as floats; the examples kept as bytes when
 * they are uint8 (what training reads); the examples only (what predict
 * reads).
 *
 * Promises checked: every refusal carries a message; an accepted data set
 * is what the call promises (at least one example, a shape of rank ≥ 0,
 * targets when asked for, the form asked for, class labels in range).
 */
#include <math.h>
#include <stdlib.h>

#include "fuzz.h"

static void check(const nb_dataset *ds, nb_hdf5_data_opts o)
{
    if (ds->n < 1)
        fuzz_fail("nb_hdf5_data_load: accepted %lld examples", (long long)ds->n);
    if (!ds->x && !ds->x_u8)
        fuzz_fail("nb_hdf5_data_load: accepted a data set with no examples' values");
    if (ds->x_u8 && !o.keep_bytes)
        fuzz_fail("nb_hdf5_data_load: bytes without keep_bytes");
    if (o.no_targets ? ds->y_width != 0 || ds->y : ds->y_width < 1 || !ds->y)
        fuzz_fail("nb_hdf5_data_load: y_width %lld with no_targets %d", (long long)ds->y_width,
                  (int)o.no_targets);
    if (ds->n_classes > 0) {
        for (int64_t i = 0; i < ds->n; i++)
            if (!(ds->y[i] >= 0 && ds->y[i] < (float)ds->n_classes))
                fuzz_fail("label %g of example %lld outside the %d classes", (double)ds->y[i],
                          (long long)i, ds->n_classes);
    }
    /* Reading every example as floats must work on what was accepted. */
    int64_t numel = nb_shape_numel(ds->shape);
    float *x = malloc((size_t)(numel > 0 ? numel : 1) * sizeof *x);
    if (x) {
        nb_error err = {0};
        nb_status st = nb_dataset_gather(ds, NULL, ds->n - 1, 1, x, NULL, &err);
        fuzz_require_error("nb_dataset_gather", st, &err);
        if (st != NB_OK)
            fuzz_fail("nb_dataset_gather refused an accepted data set: %s", err.message);
        free(x);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file(0, ".h5", data, size);
    const nb_hdf5_data_opts ways[] = {
        {0},
        {.keep_bytes = true},
        {.no_targets = true, .keep_bytes = true},
    };
    for (size_t i = 0; i < sizeof ways / sizeof ways[0]; i++) {
        nb_error err = {0};
        nb_dataset *ds = nb_hdf5_data_load(path, ways[i], &err);
        fuzz_require_error("nb_hdf5_data_load", ds ? NB_OK : NB_ERR_ARG, &err);
        if (ds)
            check(ds, ways[i]);
        nb_dataset_free(ds);
    }
    fuzz_require_hdf5_closed("nb_hdf5_data_load");
    fuzz_remove_files();
    return 0;
}
