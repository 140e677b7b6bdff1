/*
 * trainer.c — the trainer made and freed, and its errors. The trainer owns
 * a graph and builds the user's model into it once per (batch size, mode)
 * it needs (trainer_build.c): the training batch, a shorter last batch, and
 * the inference versions for evaluation, all sharing parameters by name.
 * Making it builds the first training batch, the optimiser over its
 * trainable parameters and the room every step reuses, so that nothing is
 * allocated per step; options that cannot work are refused first.
 *
 * The rest of the trainer, a job a file (the struct they share is in
 * trainer_internal.h): trainer_build.c (the model's builds),
 * trainer_check.c (data checked against the model), trainer_batch.c (a
 * minibatch staged and run), trainer_step.c (the optimiser step),
 * trainer_nonfinite.c (a step that went non-finite, explained),
 * trainer_dist.c (data-parallel steps), trainer_epoch.c (one pass over
 * the training set), trainer_fit.c (the epochs), trainer_best.c (early
 * stopping), trainer_eval.c (inference-mode runs), trainer_access.c (what
 * the trainer holds, read and restored).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "trainer_internal.h"

/* ---------------------------------------------------------------- errors */

nb_status nb__trainer_failf(nb_trainer *t, nb_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->err, sizeof t->err, fmt, ap);
    va_end(ap);
    t->status = st;
    return st;
}

nb_status nb__trainer_fail(nb_trainer *t, nb_status st, const char *message)
{
    return nb__trainer_failf(t, st, "%s", message);
}

nb_status nb__trainer_status(const nb_trainer *t)
{
    return t->status != NB_OK ? t->status : NB_ERR_STATE;
}

const char *nb_trainer_error(const nb_trainer *t)
{
    return t ? t->err : "no trainer (NULL)";
}

/* ---------------------------------------------------------------- life */

/* Floats of the first build's state updates (batch norm's statistics). */
static int64_t state_floats(const nb_trainer *t)
{
    int64_t n = 0;
    for (int u = 0; u < t->inst[0].n_updates; u++) {
        nb_node *state;
        nb_graph_update(t->g, t->inst[0].first_update + u, &state, NULL);
        n += nb_shape_numel(nb_node_shape(state));
    }
    return n;
}

static nb_train_opts defaults(const nb_train_opts *opts)
{
    nb_train_opts o = opts ? *opts : (nb_train_opts){0};
    o.batch = o.batch > 0 ? o.batch : 32;
    o.epochs = o.epochs > 0 ? o.epochs : 1;
    o.q_eta = o.q_eta > 0 ? o.q_eta : 0.01;
    o.q_stop_window = o.q_stop_window > 0 ? o.q_stop_window : 1000;
    o.eval_batch = o.eval_batch > 0 ? o.eval_batch : 256;
    if (o.optimizer.lr <= 0)
        o.optimizer.lr = o.optimizer.kind == NB_OPT_SGD ? 0.01f : 0.001f;
    return o;
}

/* Validation and early stopping options that cannot work, refused before
 * anything is built. */
static nb_status check_opts(nb_trainer *t)
{
    const nb_train_opts *o = &t->o;
    bool validated = o->validation > 0 || o->validation_data;
    if (!(o->validation >= 0 && o->validation < 1))
        return nb__trainer_failf(t, NB_ERR_ARG,
                                 "train: validation %g is not a fraction of the training set "
                                 "(0 < validation < 1; 0: none)",
                                 o->validation);
    if (o->validation > 0 && o->validation_data)
        return nb__trainer_failf(t, NB_ERR_ARG,
                                 "train: validation %g and validation_data are both given; "
                                 "hold out a fraction or pass a set, not both",
                                 o->validation);
    if (o->patience < 0)
        return nb__trainer_failf(
            t, NB_ERR_ARG, "train: patience %d is negative (0: no early stopping)", o->patience);
    if (!(o->min_delta >= 0) || !isfinite(o->min_delta))
        return nb__trainer_failf(t, NB_ERR_ARG, "train: min_delta %g is not a finite number >= 0",
                                 o->min_delta);
    if (o->monitor != NB_MONITOR_VAL_LOSS && o->monitor != NB_MONITOR_VAL_ACC)
        return nb__trainer_failf(t, NB_ERR_ARG,
                                 "train: monitor %d is neither NB_MONITOR_VAL_LOSS nor "
                                 "NB_MONITOR_VAL_ACC",
                                 (int)o->monitor);
    if (o->patience > 0 && !validated)
        return nb__trainer_failf(t, NB_ERR_ARG,
                                 "train: patience %d (early stopping) needs a validation set: "
                                 "give validation (a fraction) or validation_data",
                                 o->patience);
    return NB_OK;
}

static void copy_error(nb_trainer *t, nb_error *err)
{
    if (err) {
        err->status = t->status != NB_OK ? t->status : NB_ERR_ARG;
        snprintf(err->message, sizeof err->message, "%s", t->err);
    }
}

nb_trainer *nb_trainer_new(nb_model_fn build, void *ud, nb_shape example_shape, int64_t y_width,
                           const nb_train_opts *opts, nb_error *err)
{
    nb_trainer *t = nb_calloc(1, sizeof *t);
    if (!t || !build || y_width < 1) {
        if (err)
            *err = (nb_error){.status = t ? NB_ERR_ARG : NB_ERR_NOMEM};
        if (err)
            snprintf(err->message, sizeof err->message, "train: %s",
                     !t ? "out of memory for a trainer" : !build ? "no model function" : "y_width must be >= 1");
        nb_free(t);
        return NULL;
    }
    t->build = build;
    t->ud = ud;
    t->shape = example_shape;
    t->numel = nb_shape_numel(example_shape);
    t->y_width = y_width;
    t->o = defaults(opts);
    t->dist = nb_dist_size(t->o.dist) > 1 ? t->o.dist : NULL;
    t->rng = nb_rng_seed(t->o.seed ^ 0x5851F42D4C957F2Dull);
    t->g = nb_graph_new();
    if (!t->g) {
        nb__trainer_failf(t, NB_ERR_NOMEM, "train: out of memory for the model's graph");
    } else if (check_opts(t) == NB_OK) {
        nb_graph_seed(t->g, t->o.seed);
        int64_t at, first = t->dist ? nb__trainer_share(t, t->o.batch, &at) : t->o.batch;
        first += first == 0; /* a rank with no part of the batch still holds the model */
        if (nb__trainer_instance(t, first, true) && nb__trainer_stage_room(t, first) == NB_OK) {
            t->classes = nb_node_classes(t->inst[0].io.y, &t->scores);
            nb_error oe = {0};
            t->opt = nb_optimizer_new(t->o.optimizer, t->params, t->n_params, &oe);
            t->grads = t->opt ? nb_malloc((size_t)nb_optimizer_size(t->opt) * sizeof(float)) : NULL;
            t->gsrc = nb_malloc((size_t)t->n_params * sizeof *t->gsrc);
            t->state_n = state_floats(t);
            t->dsum = t->opt && t->dist ? nb__dsum_new(t->dist, t->params, t->n_params,
                                                       t->state_n + SUM_TAIL) : NULL;
            if (t->grads && t->gsrc && (t->dsum || !t->dist))
                return t;
            if (!t->opt)
                nb__trainer_failf(t, oe.status, "train: %s", oe.message);
            else
                nb__trainer_failf(t, NB_ERR_NOMEM,
                                  "train: out of memory for the optimiser's state and the "
                                  "gradients of %lld values",
                                  (long long)nb_trainer_num_param_values(t));
        }
    }
    copy_error(t, err);
    nb_trainer_free(t);
    return NULL;
}

void nb_trainer_free(nb_trainer *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n_inst; i++) {
        nb_runtime_free(t->inst[i].rt);
        nb_runtime_free(t->inst[i].out_rt);
        nb_free(t->inst[i].grads);
    }
    nb_optimizer_free(t->opt);
    nb__dsum_free(t->dsum); /* its window may hold parameters of the graph: first */
    nb_graph_free(t->g);
    nb_free(t->params);
    nb_free(t->param_numel);
    nb_free(t->grads);
    nb_free(t->gsrc);
    nb_free(t->xb);
    nb_free(t->yb);
    nb__feed_free(&t->feed);
    nb_free(t->order);
    nb_free(t->best_w);
    nb_free(t);
}

nb_graph *nb_trainer_graph(nb_trainer *t)
{
    return t ? t->g : NULL;
}
