/*
 * hdf5_internal.h — the small HDF5 layer under the weights, checkpoint and
 * dataset files (io/hdf5_file.c). Only hdf5_file.c includes <hdf5.h>: the
 * callers see an opaque handle and nabla types, so every HDF5 id lives and
 * dies inside one function there.
 *
 * A handle is either a writer (nb__h5_create) or a reader (nb__h5_open).
 * Both keep the caller's nb_error and the first failure: after one, every
 * later call on the handle does nothing and returns that status, so a
 * caller can make a run of writes and check once. Messages read
 * "<file>: <object path>: <what is wrong>"; the file is named as the caller
 * gave it, never by the temporary name.
 *
 * Object paths are absolute ("/params/dense1/w"). Not thread-safe: the
 * serial HDF5 library is not.
 */
#ifndef NB_IO_HDF5_INTERNAL_H
#define NB_IO_HDF5_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "nabla.h"

typedef struct nb__h5 nb__h5;

/* Fails like nb_error, prefixed "<file>: "; keeps the first failure. */
nb_status nb__h5_fail(nb__h5 *f, nb_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
nb_status nb__h5_status(const nb__h5 *f);
const char *nb__h5_path(const nb__h5 *f);

/* ---------------------------------------------------------------- writing
 * nb__h5_create makes "<dir>/.<base>.tmp-<pid>" beside path; nothing
 * touches path itself until nb__h5_commit renames the finished file over
 * it. nb__h5_close on a writer abandons it (the temporary is removed). */

nb__h5 *nb__h5_create(const char *path, nb_error *err);
/* Removes what writers of path killed mid-write left beside it: files
 * named exactly ".<base>.tmp-<pid>" whose process no longer exists and
 * that nobody holds locked. Silent, best effort; nb__h5_create calls it,
 * and the weights and checkpoint loaders do. */
void nb__h5_sweep_temps(const char *path);
/* A float32 dataset of shape s (rank 0 is a scalar); missing groups on the
 * way are created. */
nb_status nb__h5_write_floats(nb__h5 *f, const char *obj, nb_shape s, const float *data);
/* A scalar string dataset holding text. */
nb_status nb__h5_write_string(nb__h5 *f, const char *obj, const char *text);
/* An empty group (and its parents). */
nb_status nb__h5_write_group(nb__h5 *f, const char *obj);
/* Scalar attributes name on the existing object obj ("/" is the root). */
nb_status nb__h5_write_attr_int(nb__h5 *f, const char *obj, const char *name, int64_t v);
nb_status nb__h5_write_attr_double(nb__h5 *f, const char *obj, const char *name, double v);
nb_status nb__h5_write_attr_string(nb__h5 *f, const char *obj, const char *name, const char *v);
/* A uint64[4] attribute: a generator state. */
nb_status nb__h5_write_attr_rng(nb__h5 *f, const char *obj, const char *name, const nb_rng *v);
/* Flushes and closes the file, fsyncs it, renames it over the target and
 * frees f. After any earlier failure (or a failure here) the temporary is
 * removed and the target left as it was. Returns the handle's status. */
nb_status nb__h5_commit(nb__h5 *f);

/* ---------------------------------------------------------------- reading */

/* Opens an existing file read-only; NULL with a message in err when it is
 * missing, not a regular file, empty, not HDF5, or damaged. */
nb__h5 *nb__h5_open(const char *path, nb_error *err);
/* Closes a reader, or abandons a writer; NULL is ignored. */
void nb__h5_close(nb__h5 *f);

/* True when every link on the way to obj exists (no message otherwise). */
bool nb__h5_exists(nb__h5 *f, const char *obj);
bool nb__h5_has_attr(nb__h5 *f, const char *obj, const char *name);
/* The shape of a numeric (integer or float) dataset; refuses anything else
 * (strings, compounds, rank above NB_MAX_RANK, a missing object). */
nb_status nb__h5_dataset_shape(nb__h5 *f, const char *obj, nb_shape *s);
/* Reads a numeric dataset of numel elements as float32 (HDF5 converts). */
nb_status nb__h5_read_floats(nb__h5 *f, const char *obj, float *out, int64_t numel);
/* Whether obj is a dataset of 8-bit unsigned integers (false, without a
 * message, when it is anything else or missing); reading one as it is. */
bool nb__h5_is_u8(nb__h5 *f, const char *obj);
/* Element `at` (row-major) of a numeric dataset read as a double: the value
 * as stored, before any conversion to float32 (a float64 1e300 that
 * nb__h5_read_floats turned into inf). */
nb_status nb__h5_read_double_at(nb__h5 *f, const char *obj, int64_t at, double *v);
nb_status nb__h5_read_u8(nb__h5 *f, const char *obj, uint8_t *out, int64_t numel);
/* A scalar string dataset (fixed or variable length) as a malloc'd text
 * (caller frees); refuses texts above max_bytes. */
nb_status nb__h5_read_string(nb__h5 *f, const char *obj, size_t max_bytes, char **text);
/* Scalar attributes; integers and floats convert as HDF5 converts them. */
nb_status nb__h5_read_attr_int(nb__h5 *f, const char *obj, const char *name, int64_t *v);
nb_status nb__h5_read_attr_double(nb__h5 *f, const char *obj, const char *name, double *v);
/* A string attribute into buf (NUL-terminated; longer ones are refused). */
nb_status nb__h5_read_attr_string(nb__h5 *f, const char *obj, const char *name, char *buf,
                                  size_t size);
nb_status nb__h5_read_attr_rng(nb__h5 *f, const char *obj, const char *name, nb_rng *v);

/* Calls fn(ud, name) for every dataset below group (name relative to it,
 * "dense1/w"), reached through hard links; fn returns false to stop. A
 * missing group lists nothing. */
typedef bool (*nb__h5_visit_fn)(void *ud, const char *name);
nb_status nb__h5_list_datasets(nb__h5 *f, const char *group, nb__h5_visit_fn fn, void *ud);

/* ---------------------------------------------------------------- checkpoints
 * (checkpoint_check.c) */

/* Writes what identifies the trainer's run: /architecture and the
 * optimiser's kind on /optimizer (which must exist). */
nb_status nb__checkpoint_write_identity(nb__h5 *f, nb_trainer *t);
/* Refuses a checkpoint written by another model (or, unless weights_only,
 * with another optimiser's state) than t's, naming the difference. */
nb_status nb__checkpoint_check(nb__h5 *f, nb_trainer *t, bool weights_only);

/* ---------------------------------------------------------------- checkpoint state
 * (checkpoint_state.c) */

/* Reads /train (epoch, steps, Q, generator, early stopping) into *s and the
 * optimiser's step count into *steps, checking each field's type, count
 * and range; *s is unchanged unless every field is good. */
nb_status nb__checkpoint_read_train(nb__h5 *f, nb_train_state *s, int64_t *steps);

/* What the values of a dataset read from a checkpoint must be. */
typedef enum nb__rule {
    NB__RULE_NONE,        /* anything (parameters: their own check) */
    NB__RULE_SLOT,        /* an optimiser slot: finite */
    NB__RULE_MEAN_SQUARE, /* Adam's v, RMSprop's mean square: finite, ≥ 0 */
    NB__RULE_ZEROS,       /* SGD's unused slot1: zeros */
    NB__RULE_BEST,        /* the best epoch's weights: finite */
} nb__rule;

/* Refuses the first of v's values (shape s, read from obj) that breaks
 * rule, naming obj, the element's index and its value. */
nb_status nb__checkpoint_check_values(nb__h5 *f, const char *obj, nb_shape s, const float *v,
                                      nb__rule rule);

/* A model's inputs in a data file (hdf5_inputs.c): every source in o names
 * an input of o->model; the dataset feeding x into buf (a source naming
 * the first input, else o->x, else the dataset of the input's name when
 * the file has it, else "X"; without a model o->x or "X"); the inputs
 * after x read into ds (and x checked when it holds ids); a dataset read
 * as integer ids checked to hold whole numbers 0…2^24. */
nb_status nb__h5_check_sources(nb__h5 *f, const nb_hdf5_data_opts *o);
const char *nb__h5_x_dataset(nb__h5 *f, const nb_hdf5_data_opts *o, char *buf, size_t size);
nb_status nb__h5_read_extra(nb__h5 *f, const nb_hdf5_data_opts *o, const char *xo, nb_dataset *ds);
nb_status nb__h5_check_ids(nb__h5 *f, const char *obj, const float *x, const uint8_t *u8,
                           int64_t n, nb_shape shape);

#endif
