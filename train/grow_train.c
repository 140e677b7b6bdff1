/*
 * grow_train.c — training that grows a dense layer whenever Q stabilises
 * (nb_trainer_fit_grow): the loop `nabla train --grow` and examples/grow.c
 * share. Each growth fits the new units to the residual (nb_grow_fit),
 * widens the model through the caller's set_units, builds a wider trainer
 * with the same options, carries the weights over (nb_grow_dense) and the
 * training state on, and measures how far the outputs moved.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train_internal.h"

/* What one growth needs besides the trainer. */
typedef struct grower {
    const nb_grow_opts *o;
    const char *next;          /* the dense layer reading the grown one's units */
    char next_buf[256];
    const nb_dataset *sample;  /* fit sample, float form */
    const nb_dataset *check;   /* outputs compared here, float form */
    int64_t max;
    nb_status (*set_units)(void *model_ud, const char *layer, int64_t units, nb_error *err);
} grower;

/* ---------------------------------------------------------------- the layers */

/* The width of the grown layer in t: the columns of "<layer>/w". */
static int64_t units_of(nb_trainer *t, const char *layer)
{
    nb_node *w = nb__layer_param(nb_trainer_graph(t), layer, "w");
    nb_shape s = w ? nb_node_shape(w) : (nb_shape){0};
    return s.rank == 2 ? s.dim[1] : -1;
}

/* The dense layer reading `layer`'s h units: the first parameter "<next>/w"
 * of shape [h, out] other than layer's own; NULL when there is none. */
static const char *find_next(nb_graph *g, const char *layer, int64_t h, char *buf, size_t size)
{
    for (int i = 0; i < nb_graph_num_params(g); i++) {
        const char *name = nb_node_name(nb_graph_param(g, i));
        nb_shape s = nb_node_shape(nb_graph_param(g, i));
        size_t n = name ? strlen(name) : 0;
        if (n < 3 || strcmp(name + n - 2, "/w") || s.rank != 2 || s.dim[0] != h ||
            (strncmp(name, layer, n - 2) == 0 && strlen(layer) == n - 2) || n - 2 >= size)
            continue;
        memcpy(buf, name, n - 2);
        buf[n - 2] = '\0';
        return buf;
    }
    return NULL;
}

/* The model file's own widening, for a trainer built by nb_model_file_build. */
static nb_status set_file_units(void *model_file, const char *layer, int64_t units,
                                nb_error *err)
{
    return nb_model_file_set_units(model_file, layer, units, err);
}

/* ---------------------------------------------------------------- running the model */

/* The model of t built for ds->n examples in inference mode into a new
 * graph holding `from`'s parameters; NULL with err set. */
static nb_graph *model_for(nb_trainer *t, nb_graph *from, const nb_dataset *ds,
                           nb_model_io *io, nb_error *err)
{
    void *ud = NULL;
    nb_model_fn build = nb_trainer_model(t, &ud);
    nb_graph *g = nb_graph_new();
    if (!g) {
        nb_error_set(err, NB_ERR_NOMEM, "grow: out of memory for a graph");
        return NULL;
    }
    nb_graph_set_training(g, false);
    *io = (nb_model_io){0};
    if (build(g, ds->n, io, ud) != NB_OK || nb_graph_status(g) != NB_OK) {
        nb_error_set(err, NB_ERR_ARG, "grow: %s", nb__message_detail(nb_graph_error(g)));
        nb_graph_free(g);
        return NULL;
    }
    if (nb_params_copy(from, g, err) != NB_OK) {
        nb_graph_free(g);
        return NULL;
    }
    return g;
}

/* The outputs of t's model (with t's parameters) on ds, nb_malloc'd;
 * *count floats. NULL with err set. */
static float *outputs(nb_trainer *t, const nb_dataset *ds, int64_t *count, nb_error *err)
{
    nb_model_io io;
    nb_graph *g = model_for(t, nb_trainer_graph(t), ds, &io, err);
    nb_runtime *rt = g ? nb_runtime_new(g, &io.output, 1) : NULL;
    float *out = NULL;
    if (rt && nb_runtime_set_input(rt, io.x, ds->x) == NB_OK && nb_runtime_run(rt) == NB_OK) {
        *count = nb_shape_numel(nb_node_shape(io.output));
        out = nb_malloc((size_t)*count * sizeof *out);
        if (out)
            memcpy(out, nb_runtime_value(rt, io.output), (size_t)*count * sizeof *out);
        else
            nb_error_set(err, NB_ERR_NOMEM, "grow: out of memory for the model's outputs");
    } else if (g) {
        nb_error_set(err, NB_ERR_NOMEM, "grow: the model did not run: %s",
                     nb__message_detail(nb_graph_error(g)));
    }
    nb_runtime_free(rt);
    nb_graph_free(g);
    return out;
}

/* Fits k new units of the layer to the residual of t's model on the
 * sample (nb_grow_fit): w_new [in, k], b_new [k]. */
static nb_status fit_units(const grower *gr, nb_trainer *t, float *w_new, float *b_new,
                           double *explained, nb_error *err)
{
    nb_model_io io;
    nb_graph *g = model_for(t, nb_trainer_graph(t), gr->sample, &io, err);
    if (!g)
        return err->status;
    nb_status st;
    if (!io.loss) {
        st = nb_error_set(err, NB_ERR_ARG, "grow: the model names no loss");
    } else {
        nb_feed f[] = {{io.x, gr->sample->x}, {io.y, gr->sample->y}};
        nb_grow_fit_opts fo = {.activation = gr->o->activation,
                               .seed = nb__trainer_opts(t)->seed};
        st = nb_grow_fit(g, io.loss, gr->o->layer, gr->next, gr->o->k, f, 2, &fo, w_new, b_new,
                         explained, err);
    }
    nb_graph_free(g);
    return st;
}

/* ---------------------------------------------------------------- one growth */

/* max |a - b| and max |a| over n values into s. */
static void compare(const float *a, const float *b, int64_t n, nb_grow_stage *s)
{
    s->max_change = 0;
    s->max_output = 0;
    for (int64_t i = 0; i < n; i++) {
        s->max_change = fmax(s->max_change, fabs((double)a[i] - b[i]));
        s->max_output = fmax(s->max_output, fabs((double)a[i]));
    }
}

/* The trainer k units wider than t with t's weights plus the new units and
 * t's state (its epoch count restarted when the options say so); the
 * model is left at the new width. NULL with err set (the model's width
 * then as it was). s gets the fit's share explained and the outputs'
 * change on the check set. */
static nb_trainer *grow_once(const grower *gr, nb_trainer *t, int64_t h, nb_grow_stage *s,
                             nb_error *err)
{
    void *ud = NULL;
    nb_trainer_model(t, &ud);
    const nb_grow_opts *o = gr->o;
    int64_t in = nb_node_shape(nb__layer_param(nb_trainer_graph(t), o->layer, "w")).dim[0];
    float *w_new = o->random_units ? NULL : nb_malloc((size_t)(in * o->k) * sizeof *w_new);
    float *b_new = o->random_units ? NULL : nb_malloc((size_t)o->k * sizeof *b_new);
    int64_t n_before = 0, n_after = 0;
    float *before = outputs(t, gr->check, &n_before, err), *after = NULL;
    nb_trainer *t2 = NULL;
    bool widened = false;
    s->explained = NAN;
    if (before && !o->random_units && (!w_new || !b_new))
        nb_error_set(err, NB_ERR_NOMEM, "grow: out of memory for %lld new units",
                     (long long)o->k);
    else if (before &&
             (o->random_units || fit_units(gr, t, w_new, b_new, &s->explained, err) == NB_OK) &&
             (widened = gr->set_units(ud, o->layer, h + o->k, err) == NB_OK) &&
             (t2 = nb__trainer_like(t, nb__trainer_opts(t), err)) &&
             nb_grow_dense(nb_trainer_graph(t), nb_trainer_graph(t2), o->layer, gr->next, o->k,
                           w_new, b_new, err) == NB_OK &&
             (after = outputs(t2, gr->check, &n_after, err))) {
        nb_train_state st = nb_trainer_state(t); /* Q, the step count and the order carry on */
        if (o->restart_epochs)
            st.epoch = 0;
        nb_trainer_set_state(t2, &st);
        compare(before, after, n_before == n_after ? n_before : 0, s);
        if (n_before != n_after)
            s->max_change = INFINITY;
    } else {
        nb_trainer_free(t2);
        t2 = NULL;
        nb_error undo = {0};
        if (widened)
            gr->set_units(ud, o->layer, h, &undo);
    }
    nb_free(w_new);
    nb_free(b_new);
    nb_free(before);
    nb_free(after);
    return t2;
}

/* ---------------------------------------------------------------- the loop */

/* A float copy of ds when it holds bytes (*own set), else ds itself. */
static const nb_dataset *as_float(const nb_dataset *ds, int64_t n, nb_dataset **own,
                                  nb_error *err)
{
    if (ds->x && n == ds->n)
        return ds;
    *own = nb_dataset_slice(ds, 0, n, err);
    if (*own && nb_dataset_to_float(*own, err) != NB_OK) {
        nb_dataset_free(*own);
        *own = NULL;
    }
    return *own;
}

/* Checks the options against the trainer and finds the next layer. */
static nb_status setup(grower *gr, nb_trainer *t, nb_error *err)
{
    const nb_grow_opts *o = gr->o;
    void *ud = NULL;
    nb_model_fn build = nb_trainer_model(t, &ud);
    gr->set_units = o->set_units ? o->set_units
                  : build == nb_model_file_build ? set_file_units : NULL;
    gr->max = o->max > 0 ? o->max : (int64_t)1 << 24;
    if (!o->layer || o->k < 1 || o->fit_n < 0)
        return nb_error_set(err, NB_ERR_ARG, "grow: %s", !o->layer ? "no layer named"
                            : o->k < 1 ? "k (units per growth) must be >= 1"
                                       : "fit_n must be >= 0 (0: 1000)");
    if (!gr->set_units)
        return nb_error_set(err, NB_ERR_ARG, "grow: no set_units to widen the model with");
    int64_t h = units_of(t, o->layer);
    if (h < 1)
        return nb_error_set(err, NB_ERR_ARG, "grow: the model has no dense layer '%s' "
                            "(no parameter '%s/w' of rank 2)", o->layer, o->layer);
    gr->next = o->next ? o->next
                       : find_next(nb_trainer_graph(t), o->layer, h, gr->next_buf,
                                   sizeof gr->next_buf);
    if (!gr->next)
        return nb_error_set(err, NB_ERR_ARG, "grow: no dense layer reads the %lld units of '%s'",
                            (long long)h, o->layer);
    return NB_OK;
}

/* Trains one stage (the widest of a counting run to the end: Q unwatched). */
static nb_status train_stage(nb_trainer *t, const grower *gr, int64_t h,
                             const nb_dataset *train, const nb_dataset *test, nb_error *err)
{
    if (!gr->o->restart_epochs && h + gr->o->k > gr->max)
        nb__trainer_opts(t)->q_stop_rtol = 0;
    if (nb_trainer_fit(t, train, test) == NB_OK)
        return NB_OK;
    return nb_error_set(err, nb__trainer_status(t), "%s", nb_trainer_error(t));
}

/* A failed growth's message begins "grow: " (the inner call's after it),
 * so a caller can tell it from a failed stage of training. */
static nb_status growth_failed(nb_error *err)
{
    if (!err->status)
        err->status = NB_ERR_ARG;
    if (strncmp(err->message, "grow: ", 6) != 0) {
        char inner[sizeof err->message];
        snprintf(inner, sizeof inner, "%s", err->message[0] ? err->message : "growing failed");
        nb_error_set(err, err->status, "grow: %s", inner);
    }
    return err->status;
}

/* The stages: train, ask on_stage, grow, until the width, the epochs or
 * the caller end it. */
static nb_status stages(grower *gr, nb_trainer **t, const nb_dataset *train,
                        const nb_dataset *test, nb_error *err)
{
    const nb_grow_opts *o = gr->o;
    for (int stage = 1;; stage++) {
        int64_t h = units_of(*t, o->layer);
        nb_status st = train_stage(*t, gr, h, train, test, err);
        if (st != NB_OK)
            return st;
        nb_grow_stage s = {.stage = stage, .units = h, .grown_to = h, .q = nb_trainer_q(*t),
                           .explained = NAN};
        if (o->on_stage && !o->on_stage(*t, &s, o->ud))
            return NB_OK;
        if (h + o->k > gr->max ||
            (!o->restart_epochs && nb_trainer_state(*t).epoch >= nb__trainer_opts(*t)->epochs))
            return NB_OK;
        nb_trainer *wider = grow_once(gr, *t, h, &s, err);
        if (!wider)
            return growth_failed(err);
        nb_trainer_free(*t);
        *t = wider;
        s.grown_to = h + o->k;
        if (o->on_grow)
            o->on_grow(*t, &s, o->ud);
    }
}

nb_status nb_trainer_fit_grow(nb_trainer **t, const nb_dataset *train, const nb_dataset *test,
                              const nb_grow_opts *o, nb_error *err)
{
    nb_error local = {0};
    if (!err)
        err = &local;
    if (!t || !*t || !train || !o)
        return nb_error_set(err, NB_ERR_ARG, "grow: %s is NULL",
                            !t || !*t ? "the trainer" : !train ? "the training set"
                                                              : "the options");
    grower gr = {.o = o};
    nb_status st = setup(&gr, *t, err);
    if (st != NB_OK)
        return st;
    nb_dataset *own_sample = NULL, *own_check = NULL;
    int64_t fit_n = o->fit_n > 0 ? o->fit_n : 1000;
    gr.sample = as_float(train, train->n < fit_n ? train->n : fit_n, &own_sample, err);
    gr.check = !gr.sample ? NULL
             : o->check ? as_float(o->check, o->check->n, &own_check, err) : gr.sample;
    st = gr.check ? stages(&gr, t, train, test, err) : err->status;
    nb_dataset_free(own_sample);
    nb_dataset_free(own_check);
    return st;
}
