/*
 * trainer_dist.c — the trainer's data parallelism: each rank takes its
 * share of every global batch, runs it as a step of one process is run,
 * and the gradients, state values, loss and hits are summed over the ranks
 * (dist_sum.c) before one update every rank agrees on; a failure on one
 * rank is agreed on by all, with its message. Before a fit, rank 0's
 * weights and training state are sent to every rank.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "trainer_internal.h"

/* ---------------------------------------------------------------- data parallelism */

/* The status the ranks agree on (nb_dist_agree) after a phase that may
 * fail on some alone: st itself without a group; else every rank gets the
 * lowest failing rank's status, its message in t->err. */
nb_status nb__trainer_agreed(nb_trainer *t, nb_status st)
{
    if (!t->dist)
        return st;
    nb_error e = {.status = st};
    if (st != NB_OK)
        snprintf(e.message, sizeof e.message, "%s", nb__message_detail(t->err));
    st = nb_dist_agree(t->dist, st, &e);
    return st == NB_OK ? NB_OK : nb__trainer_failf(t, st, "train: %s", e.message);
}

/* This rank's part of a global batch of b examples: the count, and in *at
 * the first one's place in the batch (the first b mod N ranks take one
 * more than b / N). */
int64_t nb__trainer_share(const nb_trainer *t, int64_t b, int64_t *at)
{
    int64_t n = nb_dist_size(t->dist), r = nb_dist_rank(t->dist), q = b / n, extra = b % n;
    *at = r * q + (r < extra ? r : extra);
    return q + (r < extra);
}

/* This rank's part of a data-parallel step: its examples (idx, in their
 * build `in`; NULL: it has none) run and checked as a step of one process
 * is, its gradients sent as backward makes them, its state values times w,
 * weighted loss, hits and flags into v (the sum's head). The generator
 * advances as for the whole global batch on every rank, so the ranks stay
 * in step. */
static nb_status share_run(nb_trainer *t, instance *in, const nb_dataset *ds, const int64_t *idx,
                           const nb_progress *p, float w, float *v)
{
    float *tail = v + t->state_n;
    memset(v, 0, (size_t)(t->state_n + SUM_TAIL) * sizeof *v);
    if (!in || in->skip) {
        nb_runtime_skip_noise(t->inst[0].rt, &t->rng, t->inst[0].batch, t->share_of);
        tail[SUM_SKIPPED] = in != NULL;
        return NB_OK;
    }
    double loss = NAN;
    nb__dsum_arm(t->dsum, in->rt, in->grads, w);
    nb_status st = nb__trainer_feed(t, in, ds, idx, 0);
    if (st == NB_OK) {
        loss = nb_runtime_value(in->rt, in->io.loss)[0];
        int bad = !isfinite(loss)             ? -1
                  : nb__dsum_collect(t->dsum) ? t->n_params /* checked as copied */
                                              : nb__trainer_first_bad_grad(t, in);
        if (bad < t->n_params)
            st = nb__trainer_step_failed(t, in, ds, idx, 0, p, bad, loss);
    }
    if (st != NB_OK) {
        tail[SUM_FAILED] = 1;
        return st;
    }
    int64_t at = 0;
    for (int u = 0; u < in->n_updates; u++) {
        nb_node *state, *value;
        nb_graph_update(t->g, in->first_update + u, &state, &value);
        const float *x = nb_runtime_value(in->rt, value);
        for (int64_t e = 0, m = nb_shape_numel(nb_node_shape(state)); e < m; e++)
            v[at++] = w * x[e];
    }
    tail[SUM_LOSS] = w * (float)loss;
    tail[SUM_HITS] = (float)nb__trainer_hits(t, in);
    return NB_OK;
}

/* After a step whose sharded sums are not finite (gradients summed from
 * where the runtime left them, unchecked): the lowest rank with a gradient
 * that is not finite says which, as share_run would have; when every
 * rank's are finite, their sum overflowed. No update is made. */
static nb_status sums_failed(nb_trainer *t, instance *in, const nb_dataset *ds,
                             const int64_t *idx, const nb_progress *p)
{
    int bad = in && !in->skip ? nb__trainer_first_bad_grad(t, in) : t->n_params;
    nb_status st = bad < t->n_params
                       ? nb__trainer_step_failed(t, in, ds, idx, 0, p, bad,
                                                 nb_runtime_value(in->rt, in->io.loss)[0])
                       : NB_OK;
    if ((st = nb__trainer_agreed(t, st)) != NB_OK)
        return st;
    return nb__trainer_failf(t, NB_ERR_STATE,
                             "train: the gradient summed over the ranks overflows float32 "
                             "at optimiser step %lld; no update was made",
                             (long long)t->global_step + 1);
}

/* One data-parallel step on the global batch order[0..b): this rank's
 * part run, the sums taken over the ranks, then the update (clipping the
 * summed gradient), each rank making its part and all gathering the
 * weights (nb__dsum_update), state values and Q from the sums.
 * *skipped when some rank's build cannot train on its part (no update). */
nb_status nb__trainer_step_dist(nb_trainer *t, const nb_dataset *ds, const int64_t *order,
                                int64_t b, const nb_progress *p, double *loss, int64_t *hits,
                                bool *skipped)
{
    int64_t at, mine = nb__trainer_share(t, b, &at);
    instance *in = mine ? nb__trainer_instance(t, mine, true) : NULL;
    float *v = nb__dsum_head(t->dsum), *tail = v + t->state_n;
    nb_status st = nb__trainer_status(t);
    t->share_at = at;
    t->share_of = b;
    nb__dsum_begin(t->dsum, b % nb_dist_size(t->dist) == 0 ? (float)mine / (float)b : 0, at,
                   mine, b);
    if (mine && !in) {
        memset(v, 0, (size_t)(t->state_n + SUM_TAIL) * sizeof *v);
        tail[SUM_FAILED] = 1;
    } else {
        st = share_run(t, in, ds, order + at, p, (float)mine / (float)b, v);
    }
    t->share_of = 0;
    nb__dsum_finish(t->dsum);
    if (tail[SUM_FAILED] > 0)
        return nb__trainer_agreed(t, st); /* the failing rank's message on every rank */
    if (!nb__dsum_sums_finite(t->dsum))
        return sums_failed(t, in, ds, order + at, p);
    *skipped = tail[SUM_SKIPPED] > 0;
    if (*skipped)
        return NB_OK;
    *loss = tail[SUM_LOSS];
    *hits = (int64_t)tail[SUM_HITS];
    nb__dsum_update(t->dsum, t->opt, nb_schedule_lr(t->o.schedule, t->o.optimizer.lr,
                                                     t->global_step), t->o.clip_norm);
    const instance *first = &t->inst[0];
    for (int u = 0, k = 0; u < first->n_updates; u++) {
        nb_node *state;
        nb_graph_update(t->g, first->first_update + u, &state, NULL);
        int64_t m = nb_shape_numel(nb_node_shape(state));
        memcpy(nb_param_data(state), v + k, (size_t)m * sizeof(float));
        k += (int)m;
    }
    t->q = t->global_step == 0 ? *loss : (1 - t->o.q_eta) * t->q + t->o.q_eta * *loss;
    t->global_step++;
    return NB_OK;
}

/* Rank 0's parameters (every one: frozen and state too), optimiser slots
 * and step count, training state and best weights, on every rank. */
nb_status nb__trainer_sync_from_root(nb_trainer *t)
{
    nb_dist *d = t->dist;
    for (int i = 0; i < nb_graph_num_params(t->g); i++) {
        nb_node *p = nb_graph_param(t->g, i);
        nb_dist_broadcast(d, nb_param_data(p),
                          nb_shape_numel(nb_node_shape(p)) * (int64_t)sizeof(float), NULL);
    }
    int64_t n = nb_optimizer_size(t->opt) * (int64_t)sizeof(float);
    nb_dist_broadcast(d, nb_optimizer_slot(t->opt, 0), n, NULL);
    nb_dist_broadcast(d, nb_optimizer_slot(t->opt, 1), n, NULL);
    nb_dist_broadcast(d, nb_optimizer_steps(t->opt), sizeof(int64_t), NULL);
    nb_train_state s = nb_trainer_state(t);
    nb_dist_broadcast(d, &s, sizeof s, NULL);
    int best = t->best_w != NULL;
    nb_dist_broadcast(d, &best, sizeof best, NULL);
    if (nb_dist_rank(d) > 0)
        nb_trainer_set_state(t, &s);
    nb_status st = nb__trainer_agreed(t, best && !nb__trainer_best_room(t) ? NB_ERR_NOMEM : NB_OK);
    if (st == NB_OK && best)
        nb_dist_broadcast(d, t->best_w, t->best_n * (int64_t)sizeof(float), NULL);
    return st;
}
