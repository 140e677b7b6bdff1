/*
 * model_data.c — loading the data a model file's `data:` section names
 * (nb_model_file_load_data): IDX files from a folder or HDF5 files, the
 * examples kept as bytes where they are stored so and scaled by the
 * model's x_div, as training, evaluation and the `nabla` commands want them.
 */
#include <stdio.h>
#include <string.h>

#include "io_internal.h"

/* The folder Debian's dataset-fashion-mnist package installs into. */
#define DEBIAN_FASHION_DIR "/usr/share/datasets/fashion-mnist"

static nb_dataset *load_idx(const char *dir, const char *split, nb_error *err)
{
    char images[2048], labels[2048];
    snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", dir, split);
    snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", dir, split);
    return nb_idx_load_u8(images, labels, err); /* bytes: the trainer converts per batch */
}

/* One split; a file missing from Debian's folder names the package. */
static nb_dataset *load_split(const nb_model_file *m, nb_data_spec d, bool train,
                              nb_data_load_opts lo, nb_error *err)
{
    bool allow_nonfinite = lo.allow_nonfinite;
    /* the caller's sources first: the first naming an input wins */
    nb_input_source all[2 * NB_MAX_INPUTS];
    int n = 0;
    for (int i = 0; i < lo.n_sources && n < NB_MAX_INPUTS; i++)
        all[n++] = lo.sources[i];
    for (int i = 0; i < d.n_inputs && i < NB_MAX_INPUTS; i++)
        all[n++] = d.inputs[i];
    nb_dataset *ds;
    if (!strcmp(d.format, "idx")) {
        const char *dir = d.dir ? d.dir : ".";
        ds = load_idx(dir, train ? "train" : "t10k", err);
        if (!ds && !strcmp(dir, DEBIAN_FASHION_DIR) && strstr(err->message, "cannot open")) {
            char inner[sizeof err->message];
            snprintf(inner, sizeof inner, "%s", err->message);
            nb_error_set(err, err->status, "%s (the Debian package dataset-fashion-mnist "
                         "installs these files)", inner);
        }
        return ds;
    }
    nb_hdf5_data_opts o = {.x = d.x, .y = d.y, .keep_bytes = true,
                           .allow_nonfinite = allow_nonfinite, .model = m,
                           .sources = all, .n_sources = n};
    return nb_hdf5_data_load(train ? d.train : d.test, o, err);
}

/* Keeps the first `limit` examples of *ds (when it has more). */
static nb_status apply_limit(nb_dataset **ds, int64_t limit, nb_error *err)
{
    if (limit <= 0 || limit >= (*ds)->n)
        return NB_OK;
    nb_dataset *part = nb_dataset_slice(*ds, 0, limit, err);
    nb_dataset_free(*ds);
    *ds = part;
    return part ? NB_OK : err->status;
}

/* Both splits loaded and scaled, or an error with neither kept. */
static nb_status load(const nb_model_file *m, nb_data_spec d, nb_dataset **train,
                      nb_dataset **test, nb_data_load_opts o, nb_error *err)
{
    if (train && !(*train = load_split(m, d, true, o, err)))
        return err->status ? err->status : NB_ERR_ARG;
    bool has_test = !strcmp(d.format, "idx") || d.test;
    if (test && has_test && !(*test = load_split(m, d, false, o, err)))
        return err->status ? err->status : NB_ERR_ARG;
    nb_dataset *sets[2] = {train ? *train : NULL, test ? *test : NULL};
    for (int i = 0; i < 2; i++)
        if (sets[i])
            nb_model_file_scale(m, sets[i], err); /* bytes / the model's x_div */
    nb_dataset **limited = train ? train : test;
    return limited && *limited ? apply_limit(limited, o.limit, err) : NB_OK;
}

nb_status nb_model_file_load_data(const nb_model_file *m, nb_dataset **train, nb_dataset **test,
                                  nb_data_load_opts o, nb_error *err)
{
    nb_error local = {0};
    if (!err)
        err = &local;
    if (train)
        *train = NULL;
    if (test)
        *test = NULL;
    if (!m)
        return nb_error_set(err, NB_ERR_ARG, "data: no model file (NULL)");
    nb_data_spec d = nb_model_file_data(m);
    if (!d.format)
        return nb_error_set(err, NB_ERR_ARG, "model '%s' has no data section to load",
                            nb_model_file_name(m));
    if (strcmp(d.format, "idx") && strcmp(d.format, "hdf5"))
        return nb_error_set(err, NB_ERR_ARG, "model '%s': unknown data format '%s'",
                            nb_model_file_name(m), d.format);
    nb_status st = load(m, d, train, test, o, err);
    if (st != NB_OK) {
        if (train) {
            nb_dataset_free(*train);
            *train = NULL;
        }
        if (test) {
            nb_dataset_free(*test);
            *test = NULL;
        }
    }
    return st;
}
