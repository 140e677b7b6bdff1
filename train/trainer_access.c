/*
 * trainer_access.c — what the trainer holds, read out: its training state
 * (for checkpoints, and set back to resume), its optimiser, parameters,
 * model function and options, the counts it keeps, the input range it
 * trained on, and the first build's nodes (the trained network).
 */
#include <math.h>

#include "trainer_internal.h"

/* ---------------------------------------------------------------- state */

nb_train_state nb_trainer_state(const nb_trainer *t)
{
    if (!t)
        return (nb_train_state){0};
    return (nb_train_state){.epoch = t->epochs_done, .global_step = t->global_step, .q = t->q,
                            .rng = t->rng, .best_epoch = t->best_epoch, .best = t->best,
                            .bad_epochs = t->bad_epochs};
}

void nb_trainer_set_state(nb_trainer *t, const nb_train_state *s)
{
    if (!t || !s)
        return;
    t->epochs_done = s->epoch;
    t->global_step = s->global_step;
    t->q = s->q;
    t->rng = s->rng;
    t->best_epoch = s->best_epoch > 0 ? s->best_epoch : 0;
    t->best = s->best;
    t->bad_epochs = s->bad_epochs > 0 ? s->bad_epochs : 0;
    nb__trainer_best_resume(t);
}

int64_t nb_trainer_skipped(const nb_trainer *t)
{
    return t ? t->skipped : 0;
}

double nb_trainer_q(const nb_trainer *t)
{
    return t ? t->q : NAN;
}

nb_input_range nb_trainer_input_range(const nb_trainer *t)
{
    return t ? nb__range_result(&t->seen, t->seen_x_div) : (nb_input_range){0};
}

/* ---------------------------------------------------------------- the model */

nb_optimizer *nb_trainer_optimizer(nb_trainer *t)
{
    return t ? t->opt : NULL;
}

int nb_trainer_num_param_tensors(const nb_trainer *t)
{
    return t ? t->n_params : 0;
}

int64_t nb_trainer_num_param_values(const nb_trainer *t)
{
    int64_t n = 0;
    for (int i = 0; t && i < t->n_params; i++)
        n += nb_shape_numel(nb_node_shape(t->params[i]));
    return n;
}

nb_node *nb_trainer_param(const nb_trainer *t, int i)
{
    return t && i >= 0 && i < t->n_params ? t->params[i] : NULL;
}

nb_model_fn nb_trainer_model(const nb_trainer *t, void **ud)
{
    if (ud)
        *ud = t ? t->ud : NULL;
    return t ? t->build : NULL;
}

nb_train_opts *nb__trainer_opts(nb_trainer *t)
{
    return &t->o;
}

nb_trainer *nb__trainer_like(const nb_trainer *t, const nb_train_opts *o, nb_error *err)
{
    return nb_trainer_new(t->build, t->ud, t->shape, t->y_width, o, err);
}

char *nb_trainer_architecture(const nb_trainer *t, nb_error *err)
{
    if (!t)
        return nb_error_set(err, NB_ERR_ARG, "architecture: no trainer (NULL)"), NULL;
    return nb_model_architecture(t->build, t->ud, err);
}

/* ---------------------------------------------------------------- the trained network */

nb_model_io nb_trainer_model_io(const nb_trainer *t)
{
    return t && t->n_inst > 0 ? t->inst[0].io : (nb_model_io){0};
}

nb_node *nb_trainer_grad(const nb_trainer *t, int i)
{
    return t && t->n_inst > 0 && i >= 0 && i < t->n_params ? t->inst[0].grads[i] : NULL;
}

nb_shape nb_trainer_example_shape(const nb_trainer *t)
{
    return t ? t->shape : (nb_shape){0};
}

int64_t nb_trainer_output_width(nb_trainer *t)
{
    if (!t || t->n_inst == 0)
        return -1;
    return nb_shape_numel(nb_node_shape(t->inst[0].io.output)) / t->inst[0].batch;
}

int64_t nb__trainer_eval_batch(const nb_trainer *t)
{
    return t->o.eval_batch;
}
