/*
 * dataset_inputs.c — the inputs of a dataset after x, for models with
 * several (an image and a side vector; token ids beside features). Each is
 * n examples of its own shape, floats or bytes, named after the model
 * input it feeds; the dataset owns them. Slicing, splitting and freeing a
 * dataset carry them along (dataset.c calls the helpers at the bottom).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "train_internal.h"

/* A view of input k as a dataset of its own (no targets), so the gathering
 * and checks of dataset.c serve every input alike. */
nb_dataset nb__dataset_input_view(const nb_dataset *ds, int k)
{
    const nb_dataset_input *in = &ds->extra[k];
    return (nb_dataset){.n = ds->n, .shape = in->shape, .x = in->x, .x_u8 = in->x_u8,
                        .x_div = in->x_div, .x_ids = in->ids};
}

/* A name for an input: 1–63 characters, not "y" (the targets). */
static bool name_ok(const char *name, char *why, size_t size)
{
    size_t n = name ? strlen(name) : 0;
    if (n < 1 || n > 63)
        snprintf(why, size, "the name must be 1 to 63 characters (%s)",
                 !name ? "NULL" : n ? "too long" : "empty");
    else if (!strcmp(name, "y"))
        snprintf(why, size, "'y' names the targets, not an input");
    else
        return true;
    return false;
}

nb_dataset_input *nb_dataset_add_input(nb_dataset *ds, const char *name, nb_shape shape,
                                       bool bytes, nb_error *err)
{
    char why[128];
    if (!ds)
        return nb_error_set(err, NB_ERR_ARG, "dataset input: no dataset (NULL)"), NULL;
    if (!name_ok(name, why, sizeof why))
        return nb_error_set(err, NB_ERR_ARG, "dataset input: %s", why), NULL;
    if (nb_dataset_find_input(ds, name))
        return nb_error_set(err, NB_ERR_ARG, "dataset input '%s': the dataset has an input of "
                             "that name already", name), NULL;
    if (ds->n_extra + 1 >= NB_MAX_INPUTS)
        return nb_error_set(err, NB_ERR_ARG, "dataset input '%s': a dataset holds at most %d "
                             "inputs (x and %d more)", name, NB_MAX_INPUTS,
                             NB_MAX_INPUTS - 1), NULL;
    /* The buffer is made the way a dataset's x is, so its shape is checked alike. */
    nb_dataset *one = bytes ? nb_dataset_new_u8(ds->n, shape, 0, 1, err)
                            : nb_dataset_new(ds->n, shape, 0, err);
    nb_dataset_input *list = one ? nb_realloc(ds->extra, (size_t)(ds->n_extra + 1) * sizeof *list)
                                 : NULL;
    if (!list) {
        if (one)
            nb_error_set(err, NB_ERR_NOMEM, "dataset input '%s': out of memory", name);
        nb_dataset_free(one);
        return NULL;
    }
    ds->extra = list;
    nb_dataset_input *in = &list[ds->n_extra++];
    *in = (nb_dataset_input){.shape = shape, .x = one->x, .x_u8 = one->x_u8, .x_div = 1};
    snprintf(in->name, sizeof in->name, "%s", name);
    one->x = NULL, one->x_u8 = NULL;
    nb_dataset_free(one);
    return in;
}

nb_dataset_input *nb_dataset_find_input(const nb_dataset *ds, const char *name)
{
    for (int k = 0; ds && name && k < ds->n_extra; k++)
        if (!strcmp(ds->extra[k].name, name))
            return &ds->extra[k];
    return NULL;
}

nb_status nb_dataset_gather_input(const nb_dataset *ds, int k, const int64_t *idx, int64_t start,
                                  int64_t count, float *x, nb_error *err)
{
    if (!ds || k < 0 || k >= ds->n_extra)
        return nb_error_set(err, NB_ERR_ARG, "dataset gather: no input %d after x (the dataset "
                            "has %d)", k, ds ? ds->n_extra : 0);
    nb_dataset view = nb__dataset_input_view(ds, k);
    nb_status st = nb_dataset_gather(&view, idx, start, count, x, NULL, err);
    if (st != NB_OK && err) {
        char m[sizeof err->message];
        snprintf(m, sizeof m, "%s", err->message);
        nb_error_set(err, st, "input '%s': %s", ds->extra[k].name, m);
    }
    return st;
}

/* ---------------------------------------------------------------- for dataset.c */

void nb__dataset_free_extra(nb_dataset *ds)
{
    for (int k = 0; k < ds->n_extra; k++) {
        nb_free(ds->extra[k].x);
        nb_free(ds->extra[k].x_u8);
    }
    nb_free(ds->extra);
    ds->extra = NULL;
    ds->n_extra = 0;
}

/* dst (dst->n examples, no inputs after x yet) gets src's inputs after x,
 * in their form, with examples rows[0..dst->n) of src (or start.. in order
 * when rows is NULL). */
nb_status nb__dataset_copy_extra(const nb_dataset *src, nb_dataset *dst, const int64_t *rows,
                                 int64_t start, nb_error *err)
{
    dst->x_ids = src->x_ids;
    for (int k = 0; k < src->n_extra; k++) {
        const nb_dataset_input *from = &src->extra[k];
        nb_dataset_input *to = nb_dataset_add_input(dst, from->name, from->shape, !from->x, err);
        if (!to)
            return err ? err->status : NB_ERR_NOMEM;
        to->x_div = from->x_div;
        to->ids = from->ids;
        size_t size = from->x ? sizeof(float) : 1;
        int64_t numel = nb_shape_numel(from->shape);
        const char *s = from->x ? (const char *)from->x : (const char *)from->x_u8;
        char *d = to->x ? (char *)to->x : (char *)to->x_u8;
        for (int64_t i = 0; i < dst->n; i++)
            memcpy(d + (size_t)(i * numel) * size,
                   s + (size_t)((rows ? rows[i] : start + i) * numel) * size,
                   (size_t)numel * size);
    }
    return NB_OK;
}
