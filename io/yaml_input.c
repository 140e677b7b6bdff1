/*
 * yaml_input.c — what a model file says about the numbers it is fed rather
 * than about its graph: the input scaling `x_div` (examples stored as bytes
 * are divided by it, in training and in every later use of the model), and
 * moving the data folder a file names (`nabla --data DIR`), and the shape
 * of what the model outputs.
 */
#include <stdio.h>
#include <string.h>

#include "yaml_values.h"

/* ---------------------------------------------------------------- x_div */

/* x_div: a number > 0, at most 2^24 (a float holds every integer to there). */
bool nb__yparse_x_div(nb__yctx *c, const nb__yv *v, float *out)
{
    double d = 0;
    if (!nb__yto_float(c, v, "x_div", "at the top level", NB__YR_POS, &d))
        return false;
    if (d > 16777216.0)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key 'x_div' at the top level: %g is "
                         "too large (at most 16777216; 255 gives pixels in [0, 1])", d);
    *out = (float)d;
    return true;
}

float nb_model_file_x_div(const nb_model_file *m)
{
    return m ? m->x_div : 255.0f;
}

/* Bytes / the model's x_div, for every input but those of integer ids
 * (`type: int`, or a dataset marked so), which enter as stored. */
nb_status nb_model_file_scale(const nb_model_file *m, nb_dataset *ds, nb_error *err)
{
    if (!m || !ds)
        return nb_error_set(err, NB_ERR_ARG, "scaling data: no %s (NULL)", !m ? "model" : "dataset");
    nb_model_input in[NB_MAX_INPUTS];
    int n = nb_model_file_inputs(m, in, NB_MAX_INPUTS);
    if (!ds->x && ds->x_u8 && !ds->x_ids && !(n > 0 && in[0].ids))
        ds->x_div = m->x_div;
    for (int k = 0; k < ds->n_extra; k++) {
        nb_dataset_input *d = &ds->extra[k];
        bool ids = d->ids;
        for (int j = 1; j < n; j++)
            ids |= in[j].ids && !strcmp(in[j].name, d->name);
        if (!d->x && d->x_u8 && !ids)
            d->x_div = m->x_div;
    }
    return NB_OK;
}

int nb_model_file_inputs(const nb_model_file *m, nb_model_input *out, int max)
{
    int n = 0;
    for (int i = 0; m && i < m->n_inputs; i++) {
        if (i > 0 && !strcmp(m->inputs[i].name, "y"))
            continue; /* the targets, declared among the inputs */
        if (out && n < max)
            out[n] = (nb_model_input){.name = m->inputs[i].name, .shape = m->inputs[i].shape,
                                      .ids = m->inputs[i].ids};
        n++;
    }
    return n;
}

/* ---------------------------------------------------------------- the data folder */

/* dir/<the last part of path>, in the model's pool; NULL when out of memory
 * or too long (with the message in err). */
static const char *moved(nb_model_file *m, const char *dir, const char *path, nb_error *err)
{
    nb__yctx c = {.m = m, .err = err};
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    size_t n = strlen(dir) + 1 + strlen(base) + 1;
    char *p = nb__ypool_add(&c, n);
    if (p)
        snprintf(p, n, "%s/%s", dir, base);
    return p;
}

nb_status nb_model_file_set_data_dir(nb_model_file *m, const char *dir, nb_error *err)
{
    if (!m || !dir || !*dir)
        return nb_error_set(err, NB_ERR_ARG, "data folder: no %s", !m ? "model (NULL)" : "folder "
                            "given");
    if (!m->data.format)
        return nb_error_set(err, NB_ERR_ARG, "data folder '%s': model '%s' has no data section "
                            "to take it", dir, m->name);
    nb_data_spec d = m->data;
    nb__yctx c = {.m = m, .err = err};
    if (!strcmp(d.format, "idx"))
        d.dir = nb__ypool_str(&c, dir);
    else if (!(d.train = moved(m, dir, d.train, err)) ||
             (d.test && !(d.test = moved(m, dir, d.test, err))))
        return NB_ERR_NOMEM;
    if (!strcmp(d.format, "idx") && !d.dir)
        return NB_ERR_NOMEM;
    m->data = d;
    return NB_OK;
}

/* ---------------------------------------------------------------- the output */

nb_shape nb_model_file_output_shape(const nb_model_file *m)
{
    return m ? m->output_shape : (nb_shape){0};
}
