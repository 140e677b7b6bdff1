/*
 * hdf5_inputs.c — which datasets of an HDF5 data file feed which inputs of
 * a model with several (nb_hdf5_data_opts.model), and reading the inputs
 * after the first: each [N, its shape…] with N the examples of X, floats,
 * or bytes as stored (uint8, keep_bytes); an input of integer ids
 * (`type: int`) holds whole numbers 0…2^24 whatever its storage, and a
 * value that is not one is refused naming the file, the dataset, the
 * example and the value.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hdf5_internal.h"
#include "io_internal.h"

/* "/name" (or name when it starts with '/') into buf. */
static const char *absolute(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s", name[0] == '/' ? "" : "/", name);
    return buf;
}

/* The source the options give for model input `name`, or NULL. */
static const char *source_of(const nb_hdf5_data_opts *o, const char *name)
{
    for (int i = 0; i < o->n_sources; i++)
        if (o->sources[i].input && !strcmp(o->sources[i].input, name))
            return o->sources[i].dataset;
    return NULL;
}

nb_status nb__h5_check_sources(nb__h5 *f, const nb_hdf5_data_opts *o)
{
    nb_model_input in[NB_MAX_INPUTS];
    int n = nb_model_file_inputs(o->model, in, NB_MAX_INPUTS);
    for (int i = 0; i < o->n_sources; i++) {
        const nb_input_source *s = &o->sources[i];
        int k = 0;
        while (k < n && (!s->input || strcmp(in[k].name, s->input)))
            k++;
        if (k == n || !s->dataset || !*s->dataset) {
            char names[400] = "";
            for (int j = 0, at = 0; j < n && at >= 0 && (size_t)at < sizeof names; j++)
                at += snprintf(names + at, sizeof names - (size_t)at, "%s%s", j ? ", " : "",
                               in[j].name);
            return k == n ? nb__h5_fail(f, NB_ERR_ARG, "input '%s' named to read from '%s' is "
                                        "not an input of model '%s' (its inputs: %s)",
                                        s->input ? s->input : "(NULL)",
                                        s->dataset ? s->dataset : "", nb_model_file_name(o->model),
                                        names)
                          : nb__h5_fail(f, NB_ERR_ARG, "input '%s' is given no dataset to read",
                                        s->input);
        }
    }
    return NB_OK;
}

const char *nb__h5_x_dataset(nb__h5 *f, const nb_hdf5_data_opts *o, char *buf, size_t size)
{
    nb_model_input in[NB_MAX_INPUTS];
    const char *s;
    if (!o->model || nb_model_file_inputs(o->model, in, NB_MAX_INPUTS) < 1)
        return absolute(o->x && *o->x ? o->x : "X", buf, size);
    if ((s = source_of(o, in[0].name)) || ((s = o->x) && *s))
        return absolute(s, buf, size);
    absolute(in[0].name, buf, size);
    return nb__h5_exists(f, buf) ? buf : absolute("X", buf, size);
}

/* The first value of v (a dataset's x, or one input's view) that is not a
 * whole number in 0…2^24, as the index of the value; n·numel when none. */
static int64_t first_non_id(const float *x, const uint8_t *u8, int64_t total)
{
    for (int64_t i = 0; x && i < total; i++)
        if (!(x[i] >= 0 && x[i] <= 16777216.0f && x[i] == floorf(x[i])))
            return i;
    (void)u8; /* bytes as stored (x_div 1) are whole numbers 0…255 */
    return total;
}

nb_status nb__h5_check_ids(nb__h5 *f, const char *obj, const float *x, const uint8_t *u8,
                           int64_t n, nb_shape shape)
{
    int64_t numel = nb_shape_numel(shape), i = first_non_id(x, u8, n * numel);
    if (i == n * numel)
        return NB_OK;
    double v = x[i];
    return nb__h5_fail(f, NB_ERR_ARG, "%s: example %lld holds %g at position %lld; the model "
                       "reads it as integer ids (type: int), whole numbers 0…16777216",
                       obj, (long long)(i / numel), isnan(v) ? NAN : v, (long long)(i % numel));
}

/* Input `in` (after x) from its dataset into ds: N examples like X. */
static nb_status read_one(nb__h5 *f, const nb_hdf5_data_opts *o, const nb_model_input *in,
                          nb_dataset *ds)
{
    char obj[1100], a[96];
    const char *s = source_of(o, in->name);
    absolute(s ? s : in->name, obj, sizeof obj);
    nb_shape fs;
    if (!nb__h5_exists(f, obj))
        return nb__h5_fail(f, NB_ERR_ARG, "no dataset %s for the model's input '%s' (name "
                           "another with data: {inputs: {%s: NAME}} or --input %s=NAME)", obj,
                           in->name, in->name, in->name);
    if (nb__h5_dataset_shape(f, obj, &fs) != NB_OK)
        return nb__h5_status(f);
    nb_shape ex = {.rank = fs.rank - 1};
    for (int i = 1; i < fs.rank; i++)
        ex.dim[i - 1] = fs.dim[i];
    if (fs.rank < 1 || fs.dim[0] != ds->n)
        return nb__h5_fail(f, NB_ERR_SHAPE, "%s is %s: %lld examples, but the data has %lld "
                           "(every input and y hold one row per example)", obj,
                           nb_shape_format(fs, a, sizeof a), fs.rank < 1 ? 0LL
                           : (long long)fs.dim[0], (long long)ds->n);
    bool bytes = o->keep_bytes && nb__h5_is_u8(f, obj);
    nb_error e = {0};
    nb_dataset_input *d = nb_dataset_add_input(ds, in->name, ex, bytes, &e);
    if (!d)
        return nb__h5_fail(f, e.status, "%s: %s", obj, e.message);
    d->ids = in->ids;
    nb_status st = bytes ? nb__h5_read_u8(f, obj, d->x_u8, nb_shape_numel(fs))
                         : nb__h5_read_floats(f, obj, d->x, nb_shape_numel(fs));
    if (st == NB_OK && in->ids)
        st = nb__h5_check_ids(f, obj, d->x, d->x_u8, ds->n, ex);
    for (int64_t i = 0, m = nb_shape_numel(fs); st == NB_OK && !o->allow_nonfinite && d->x && i < m; i++)
        if (!isfinite(d->x[i]))
            st = nb__h5_fail(f, NB_ERR_ARG, "%s: example %lld holds %g (value %lld of %lld): "
                             "examples must be finite numbers", obj,
                             (long long)(i / nb_shape_numel(ex)),
                             isnan(d->x[i]) ? NAN : (double)d->x[i],
                             (long long)(i % nb_shape_numel(ex)), (long long)nb_shape_numel(ex));
    return st;
}

nb_status nb__h5_read_extra(nb__h5 *f, const nb_hdf5_data_opts *o, const char *xo, nb_dataset *ds)
{
    nb_model_input in[NB_MAX_INPUTS];
    int n = o->model ? nb_model_file_inputs(o->model, in, NB_MAX_INPUTS) : 0;
    if (n < 1)
        return NB_OK;
    ds->x_ids = in[0].ids;
    if (in[0].ids && nb__h5_check_ids(f, xo, ds->x, ds->x_u8, ds->n, ds->shape) != NB_OK)
        return nb__h5_status(f);
    for (int k = 1; k < n; k++)
        if (read_one(f, o, &in[k], ds) != NB_OK)
            return nb__h5_status(f);
    return NB_OK;
}
