/*
 * without/hdf5_file.c — the HDF5 layer of a nabla built without HDF5
 * (-Dhdf5=disabled, or libhdf5 not found): every file it would open or
 * create is refused with one sentence saying so, so weights, checkpoints
 * and HDF5 data calls fail with that reason and the rest of nabla works.
 * No handle ever exists, so the calls on one are never reached; they are
 * defined for the callers in hdf5_weights.c and checkpoint_*.c to link.
 */
#include "../hdf5_internal.h"

/* The stand-ins take the real calls' parameters and need none of them. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

static nb_status missing(const char *path, nb_error *err)
{
    return nb_error_set(err, NB_ERR_UNAVAILABLE, "nabla was built without HDF5: cannot read or "
                        "write '%s' (weights, checkpoints and HDF5 data need libhdf5; rebuild "
                        "with it installed)", path ? path : "(no file)");
}

nb__h5 *nb__h5_create(const char *path, nb_error *err)
{
    missing(path, err);
    return NULL;
}

nb__h5 *nb__h5_open(const char *path, nb_error *err)
{
    missing(path, err);
    return NULL;
}

void nb__h5_sweep_temps(const char *path)
{
}

void nb__h5_close(nb__h5 *f)
{
}

nb_status nb__h5_fail(nb__h5 *f, nb_status s, const char *fmt, ...)
{
    return s;
}

nb_status nb__h5_status(const nb__h5 *f)
{
    return NB_ERR_UNAVAILABLE;
}

const char *nb__h5_path(const nb__h5 *f)
{
    return "(no file)";
}

/* ---------------------------------------------------------------- unreachable without a handle */

#define NO_HANDLE() { return NB_ERR_UNAVAILABLE; }

nb_status nb__h5_write_floats(nb__h5 *f, const char *o, nb_shape s, const float *d) NO_HANDLE()
nb_status nb__h5_write_string(nb__h5 *f, const char *o, const char *t) NO_HANDLE()
nb_status nb__h5_write_group(nb__h5 *f, const char *o) NO_HANDLE()
nb_status nb__h5_write_attr_int(nb__h5 *f, const char *o, const char *n, int64_t v) NO_HANDLE()
nb_status nb__h5_write_attr_double(nb__h5 *f, const char *o, const char *n, double v) NO_HANDLE()
nb_status nb__h5_write_attr_string(nb__h5 *f, const char *o, const char *n,
                                   const char *v) NO_HANDLE()
nb_status nb__h5_write_attr_rng(nb__h5 *f, const char *o, const char *n, const nb_rng *v) NO_HANDLE()
nb_status nb__h5_commit(nb__h5 *f) NO_HANDLE()
nb_status nb__h5_dataset_shape(nb__h5 *f, const char *o, nb_shape *s) NO_HANDLE()
nb_status nb__h5_read_floats(nb__h5 *f, const char *o, float *out, int64_t n) NO_HANDLE()
nb_status nb__h5_read_double_at(nb__h5 *f, const char *o, int64_t at, double *v) NO_HANDLE()
nb_status nb__h5_read_u8(nb__h5 *f, const char *o, uint8_t *out, int64_t n) NO_HANDLE()
nb_status nb__h5_read_string(nb__h5 *f, const char *o, size_t max, char **text) NO_HANDLE()
nb_status nb__h5_read_attr_int(nb__h5 *f, const char *o, const char *n, int64_t *v) NO_HANDLE()
nb_status nb__h5_read_attr_double(nb__h5 *f, const char *o, const char *n, double *v) NO_HANDLE()
nb_status nb__h5_read_attr_string(nb__h5 *f, const char *o, const char *n, char *buf,
                                  size_t size) NO_HANDLE()
nb_status nb__h5_read_attr_rng(nb__h5 *f, const char *o, const char *n, nb_rng *v) NO_HANDLE()
nb_status nb__h5_list_datasets(nb__h5 *f, const char *g, nb__h5_visit_fn fn, void *ud) NO_HANDLE()

bool nb__h5_exists(nb__h5 *f, const char *o)
{
    return false;
}

bool nb__h5_has_attr(nb__h5 *f, const char *o, const char *n)
{
    return false;
}

bool nb__h5_is_u8(nb__h5 *f, const char *o)
{
    return false;
}
