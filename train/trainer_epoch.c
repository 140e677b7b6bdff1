/*
 * trainer_epoch.c — one pass over the training set: the presentation
 * order (shuffled, or the lecture's hardest first), the steps in batches
 * (of one process or data-parallel), the progress each step reports to
 * on_step, and whether Q has stabilised.
 */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "trainer_internal.h"

/* ---------------------------------------------------------------- presentation order */

/* The epoch's presentation order: 0..n-1, shuffled unless asked not to.
 * It depends on the generator alone, so a resumed run draws the same one. */
nb_status nb__trainer_reorder(nb_trainer *t, int64_t n)
{
    if (t->order_n != n) {
        nb_free(t->order);
        t->order = nb_malloc((size_t)n * sizeof *t->order);
        t->order_n = t->order ? n : 0;
        if (!t->order)
            return nb__trainer_failf(t, NB_ERR_NOMEM, "train: out of memory for the order");
    }
    for (int64_t i = 0; i < n; i++)
        t->order[i] = i;
    if (!t->o.no_shuffle)
        nb_rng_shuffle(&t->rng, t->order, n);
    return NB_OK;
}

/* An example and its current loss, for ordering hardest first. */
typedef struct ranked {
    double loss;
    int64_t index;
} ranked;

static int by_loss_descending(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->loss != y->loss)
        return x->loss < y->loss ? 1 : -1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* The lecture's "hardest first": present the examples the current network
 * gets most wrong before the rest (ties in index order). */
nb_status nb__trainer_hardest_first(nb_trainer *t, const nb_dataset *ds)
{
    double *loss = nb_malloc((size_t)ds->n * sizeof *loss);
    ranked *r = nb_malloc((size_t)ds->n * sizeof *r);
    nb_status st = loss && r
                       ? nb_trainer_example_losses(t, ds, loss)
                       : nb__trainer_failf(t, NB_ERR_NOMEM, "train: out of memory for the order");
    for (int64_t i = 0; st == NB_OK && i < ds->n; i++)
        r[i] = (ranked){loss[i], i};
    if (st == NB_OK) {
        qsort(r, (size_t)ds->n, sizeof *r, by_loss_descending);
        for (int64_t i = 0; i < ds->n; i++)
            t->order[i] = r[i].index;
    }
    nb_free(loss);
    nb_free(r);
    return st;
}

/* ---------------------------------------------------------------- the pass */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Q has stabilised when it moved by less than q_stop_rtol (relatively)
 * over the last window of steps. */
static bool q_stable(nb_trainer *t, double *q_ref)
{
    if (t->o.q_stop_rtol <= 0 || t->global_step % t->o.q_stop_window != 0)
        return false;
    bool stable = !isnan(*q_ref) && fabs(t->q - *q_ref) <= t->o.q_stop_rtol * fabs(*q_ref);
    *q_ref = t->q;
    return stable;
}

/* One pass over the training set; p carries the progress shown to callbacks. */
nb_status nb__trainer_epoch(nb_trainer *t, const nb_dataset *ds, nb_progress *p, double *q_ref)
{
    int64_t n = ds->n, batch = t->o.batch < n ? t->o.batch : n, hits = 0;
    double t0 = now(), loss_sum = 0;
    p->steps = (n + batch - 1) / batch;
    p->examples = 0;
    for (p->step = 1; p->step <= p->steps && !p->stopped; p->step++) {
        int64_t at = (p->step - 1) * batch, b = n - at < batch ? n - at : batch;
        double loss = NAN;
        int64_t h = 0;
        bool skipped = false;
        nb_status st = (t->dist ? nb__trainer_step_dist : nb__trainer_step_one)(
            t, ds, t->order + at, b, p, &loss, &h, &skipped);
        if (st != NB_OK)
            return st;
        if (skipped) {
            t->skipped += b;
            continue;
        }
        hits += h;
        p->examples += b;
        loss_sum += loss * (double)b;
        *p = (nb_progress){.epoch = p->epoch, .epochs = p->epochs, .step = p->step,
                           .steps = p->steps, .global_step = t->global_step, .loss = loss,
                           .q = t->q, .mean_loss = loss_sum / (double)p->examples,
                           .train_acc = (double)hits / (double)p->examples,
                           .lr = nb_schedule_lr(t->o.schedule, t->o.optimizer.lr, t->global_step - 1),
                           .seconds = now() - t0, .examples = p->examples,
                           .test_loss = NAN, .test_acc = NAN, .val_loss = NAN, .val_acc = NAN,
                           .best_epoch = t->best_epoch, .stopped = q_stable(t, q_ref)};
        if (t->o.on_step)
            t->o.on_step(p, t->o.ud);
    }
    p->step--; /* the last step taken */
    return NB_OK;
}
