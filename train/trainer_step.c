/*
 * trainer_step.c — one optimiser step of one process: a staged batch run
 * forward and backward, checked (a finite loss, then finite gradients),
 * clipped, the parameters and state (batch norm's running statistics)
 * updated, and the lecture's running loss estimate Q = (1 - η)Q + ηε
 * tracked; and the methods that run batches outside fit: a step on arrays
 * (streams) and a chunk's mean gradient (conjugate gradients). Without
 * clipping, the optimiser reads each gradient where the runtime left it,
 * an outer product through its two vectors, never formed.
 */
#include <math.h>
#include <string.h>

#include "trainer_internal.h"

/* ---------------------------------------------------------------- steps */

/* Updates parameters and state after nb__trainer_first_bad_grad found every gradient
 * finite (t->gsrc is where it located them). Clipping needs the gradients
 * end to end (gathered, then scaled); otherwise the optimiser reads each
 * one where the runtime left it. */
static void update(nb_trainer *t, instance *in)
{
    float lr = nb_schedule_lr(t->o.schedule, t->o.optimizer.lr, t->global_step);
    if (t->o.clip_norm > 0) {
        nb_clip_grad_norm(t->grads, nb__trainer_gather_grads(t, in, t->grads, 1), t->o.clip_norm);
        nb_optimizer_step(t->opt, t->grads, lr);
    } else {
        nb__optimizer_step_src(t->opt, t->gsrc, lr, nb_graph_param_stamp(t->g));
    }
    for (int u = 0; u < in->n_updates; u++) {
        nb_node *state, *value;
        nb_graph_update(t->g, in->first_update + u, &state, &value);
        memcpy(nb_param_data(state), nb_runtime_value(in->rt, value),
               (size_t)nb_shape_numel(nb_node_shape(state)) * sizeof(float));
    }
}

/* One training step on a staged batch: forward and backward, the checks
 * (a finite loss, then finite gradients), update, Q. p: where fit stands
 * (NULL from nb_trainer_step). */
static nb_status step_on(nb_trainer *t, instance *in, const nb_dataset *ds, const int64_t *idx,
                         int64_t start, const nb_progress *p, double *loss)
{
    nb_status st = nb__trainer_feed(t, in, ds, idx, start);
    if (st != NB_OK)
        return st;
    *loss = nb_runtime_value(in->rt, in->io.loss)[0];
    int bad = isfinite(*loss) ? nb__trainer_first_bad_grad(t, in) : -1;
    if (bad < t->n_params)
        return nb__trainer_step_failed(t, in, ds, idx, start, p, bad, *loss);
    update(t, in);
    t->q = t->global_step == 0 ? *loss : (1 - t->o.q_eta) * t->q + t->o.q_eta * *loss;
    t->global_step++;
    return NB_OK;
}

/* One step of one process on order[0..b) (fit's), in the build for b. */
nb_status nb__trainer_step_one(nb_trainer *t, const nb_dataset *ds, const int64_t *order, int64_t b,
                               const nb_progress *p, double *loss, int64_t *hits, bool *skipped)
{
    instance *in = nb__trainer_instance(t, b, true);
    *skipped = in && in->skip; /* a short last batch the model cannot train on */
    if (*skipped)
        return NB_OK;
    nb_status st = step_on(t, in, ds, order, 0, p, loss);
    if (st == NB_OK)
        *hits = nb__trainer_hits(t, in);
    return st;
}

nb_status nb_trainer_step(nb_trainer *t, const float *x, const float *y, int64_t n, double *loss)
{
    if (!t)
        return NB_ERR_ARG;
    if (!x || !y || n < 1)
        return nb__trainer_failf(t, NB_ERR_ARG,
                                 "train: a step needs x, y and at least one example");
    if (t->inst[0].io.n_extra > 0)
        return nb__trainer_failf(t, NB_ERR_ARG,
                                 "train: nb_trainer_step feeds x alone; the model has %d more "
                                 "inputs: give them in a dataset to nb_trainer_fit",
                                 t->inst[0].io.n_extra);
    instance *in = nb__trainer_instance(t, n, true);
    if (in && in->skip) {
        t->skipped += n;
        if (loss)
            *loss = NAN;
        return NB_OK;
    }
    if (!in || nb__trainer_stage_room(t, n) != NB_OK)
        return nb__trainer_status(t);
    nb_dataset view = {.n = n, .shape = t->shape, .y_width = t->y_width, .x = (float *)x,
                       .y = (float *)y};
    double l = NAN; /* what a failed step reports as its loss */
    nb_status st = nb__trainer_check_values(t, &view, "this step's", NULL);
    if (st != NB_OK)
        return st;
    nb__range_add(&t->seen, x, n * t->numel);
    st = step_on(t, in, &view, NULL, 0, NULL, &l);
    if (loss)
        *loss = l;
    return st;
}

/* ---------------------------------------------------------------- a chunk's gradient */

nb_status nb_trainer_loss_grad(nb_trainer *t, const nb_dataset *ds, int64_t start, int64_t count,
                               float *grads, double *loss)
{
    if (!t)
        return NB_ERR_ARG;
    nb_status st = nb__trainer_check_set(t, ds, "chunk's");
    if (st != NB_OK)
        return st;
    if (!grads || start < 0 || count < 1 || start + count > ds->n)
        return nb__trainer_failf(t, NB_ERR_ARG,
                                 "train: chunk [%lld, %lld) is outside the %lld examples",
                                 (long long)start, (long long)(start + count), (long long)ds->n);
    int64_t batch = t->o.batch < count ? t->o.batch : count, size = nb_optimizer_size(t->opt);
    if ((st = nb__trainer_prepare(t, count, batch, true)) != NB_OK)
        return st;
    double total = 0;
    memset(grads, 0, (size_t)size * sizeof *grads);
    for (int64_t at = 0; at < count; at += batch) {
        int64_t b = count - at < batch ? count - at : batch;
        instance *in = nb__trainer_instance(t, b, true);
        if ((st = nb__trainer_feed(t, in, ds, NULL, start + at)) != NB_OK)
            return st;
        total += (double)nb_runtime_value(in->rt, in->io.loss)[0] * (double)b;
        nb__trainer_gather_grads(t, in, t->grads, 1);
        float w = (float)b / (float)count; /* each batch's loss is its mean */
        for (int64_t i = 0; i < size; i++)
            grads[i] += w * t->grads[i];
    }
    if (loss)
        *loss = total / (double)count;
    return NB_OK;
}
