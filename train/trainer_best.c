/*
 * trainer_best.c — early stopping: after each validated epoch, whether the
 * monitored metric improved by more than min_delta; the best epoch's
 * weights kept (every parameter, end to end) and restored at the end of
 * fit; patience epochs without improvement stop the run.
 */
#include <math.h>
#include <string.h>

#include "trainer_internal.h"

/* ---------------------------------------------------------------- early stopping */

/* Whether the best epoch's weights are kept, to be restored at the end. */
static bool keeps_best(const nb_trainer *t)
{
    return t->o.patience > 0 && !t->o.no_restore_best;
}

/* Room for every parameter of the graph, end to end. */
float *nb__trainer_best_room(nb_trainer *t)
{
    if (t->best_w)
        return t->best_w;
    int64_t n = 0;
    for (int i = 0; i < nb_graph_num_params(t->g); i++)
        n += nb_shape_numel(nb_node_shape(nb_graph_param(t->g, i)));
    t->best_w = nb_malloc((size_t)(n ? n : 1) * sizeof(float));
    t->best_n = t->best_w ? n : 0;
    if (!t->best_w)
        nb__trainer_failf(t, NB_ERR_NOMEM,
                          "train: out of memory for the best epoch's weights (%lld values)",
                          (long long)n);
    return t->best_w;
}

/* Copies every parameter into the best weights (to_best) or back. */
static void copy_best(nb_trainer *t, bool to_best)
{
    int64_t at = 0;
    for (int i = 0; i < nb_graph_num_params(t->g); i++) {
        nb_node *p = nb_graph_param(t->g, i);
        size_t n = (size_t)nb_shape_numel(nb_node_shape(p));
        if (to_best)
            memcpy(t->best_w + at, nb_param_data(p), n * sizeof(float));
        else
            memcpy(nb_param_data(p), t->best_w + at, n * sizeof(float));
        at += (int64_t)n;
    }
}

/* True when the metric v beats the best so far by more than min_delta (the
 * first finite value always does). */
static bool improved(const nb_trainer *t, double v)
{
    if (isnan(v))
        return false;
    if (t->best_epoch == 0)
        return true;
    return t->o.monitor == NB_MONITOR_VAL_ACC ? v > t->best + t->o.min_delta
                                              : v < t->best - t->o.min_delta;
}

/* True when early stopping has seen patience epochs without improvement. */
bool nb__trainer_patience_out(const nb_trainer *t)
{
    return t->o.patience > 0 && t->bad_epochs >= t->o.patience;
}

/* After a validated epoch: the best so far (and its weights), the count of
 * epochs without improvement, and what p reports of them. */
nb_status nb__trainer_track_best(nb_trainer *t, nb_progress *p)
{
    double v = t->o.monitor == NB_MONITOR_VAL_ACC ? p->val_acc : p->val_loss;
    if (improved(t, v)) {
        if (keeps_best(t) && !nb__trainer_best_room(t))
            return NB_ERR_NOMEM;
        t->best = v;
        t->best_epoch = p->epoch;
        t->bad_epochs = 0;
        if (keeps_best(t))
            copy_best(t, true);
    } else {
        t->bad_epochs++;
    }
    p->best_epoch = t->best_epoch;
    p->early_stopped = nb__trainer_patience_out(t);
    return NB_OK;
}

/* At the end of fit: the best epoch's weights back in the parameters. */
void nb__trainer_restore_best(nb_trainer *t)
{
    if (keeps_best(t) && t->best_w && t->best_epoch > 0 && t->best_epoch != t->epochs_done)
        copy_best(t, false);
}

float *nb_trainer_best_weights(nb_trainer *t, int64_t *n)
{
    if (n)
        *n = t && t->best_w ? t->best_n : 0;
    return t ? t->best_w : NULL;
}

void nb__trainer_best_resume(nb_trainer *t)
{
    if (t->best_epoch > 0 && keeps_best(t) && !t->best_w && nb__trainer_best_room(t))
        copy_best(t, true); /* until a checkpoint loader fills in the best epoch's */
}
