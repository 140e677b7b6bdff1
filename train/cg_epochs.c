/*
 * cg_epochs.c — conjugate gradients run the way nb_trainer_fit runs an
 * optimiser (nb_trainer_fit_cg_epochs): epoch by epoch from the trainer's
 * state, each epoch one pass of nb_trainer_fit_cg over the chunks, then the
 * trainer's state advanced and its on_epoch told the epoch's figures, so a
 * checkpoint written there resumes a CG run as it does any other.
 */
#include <math.h>
#include <time.h>

#include "train_internal.h"

/* One epoch as the iteration callback sees it: the last loss of each chunk
 * visit, summed over the visits finished (chunk -1: none begun), and the
 * caller's own callback. */
typedef struct cg_epoch {
    double sum, loss;
    int64_t chunk, visits;
    bool stopped;                /* the caller's callback asked to stop */
    bool (*user)(const nb_cg_progress *p, void *ud);
    void *user_ud;
} cg_epoch;

static bool on_iteration(const nb_cg_progress *p, void *ud)
{
    cg_epoch *e = ud;
    if (p->chunk != e->chunk && e->chunk >= 0)
        e->sum += e->loss, e->visits++;
    e->chunk = p->chunk;
    e->loss = p->loss;
    if (e->user && !e->user(p, e->user_ud))
        e->stopped = true;
    return !e->stopped;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The trainer's figures after a CG epoch: Q and train_acc on the training
 * set, then the validation and test sets (NaN without). */
static nb_status evaluate(nb_trainer *t, const nb_dataset *train, const nb_dataset *test,
                          nb_progress *p, nb_error *err)
{
    const nb_dataset *val = nb__trainer_opts(t)->validation_data;
    if (nb_trainer_evaluate(t, train, &p->q, &p->train_acc) != NB_OK ||
        (val && nb_trainer_evaluate(t, val, &p->val_loss, &p->val_acc) != NB_OK) ||
        (test && nb_trainer_evaluate(t, test, &p->test_loss, &p->test_acc) != NB_OK))
        return nb_error_set(err, nb__trainer_status(t), "%s", nb_trainer_error(t));
    return NB_OK;
}

/* One epoch e of `epochs`: the pass, the state, the callback. */
static nb_status epoch(nb_trainer *t, const nb_dataset *train, const nb_dataset *test,
                       nb_cg_opts o, int e, int epochs, cg_epoch *ce, nb_error *err)
{
    double t0 = now();
    *ce = (cg_epoch){.chunk = -1, .user = o.on_iteration, .user_ud = o.ud};
    o.epochs = 1;
    o.seed += (uint64_t)e;
    o.on_iteration = on_iteration;
    o.ud = ce;
    nb_cg_progress s;
    nb_status st = nb_trainer_fit_cg(t, train, o, &s, err);
    if (st != NB_OK)
        return st;
    if (ce->chunk >= 0)
        ce->sum += ce->loss, ce->visits++;
    nb_progress p = {.epoch = e, .epochs = epochs, .step = s.iterations, .steps = s.iterations,
                     .loss = ce->visits ? ce->sum / (double)ce->visits : s.loss,
                     .examples = s.examples, .test_loss = NAN, .test_acc = NAN,
                     .val_loss = NAN, .val_acc = NAN};
    p.mean_loss = p.loss;
    if ((st = evaluate(t, train, test, &p, err)) != NB_OK)
        return st;
    nb_train_state ts = nb_trainer_state(t);
    ts.epoch = e;
    ts.global_step += s.iterations;
    ts.q = p.q;
    nb_trainer_set_state(t, &ts);
    p.global_step = ts.global_step;
    p.seconds = now() - t0;
    const nb_train_opts *to = nb__trainer_opts(t);
    if (to->on_epoch)
        to->on_epoch(&p, to->ud);
    return NB_OK;
}

nb_status nb_trainer_fit_cg_epochs(nb_trainer *t, const nb_dataset *train,
                                   const nb_dataset *test, nb_cg_opts o, nb_error *err)
{
    if (!t || !train)
        return nb_error_set(err, NB_ERR_ARG, "cg: no %s (NULL)", !t ? "trainer" : "training set");
    const nb_train_opts *to = nb__trainer_opts(t);
    if (to->validation > 0 || to->patience > 0)
        return nb_error_set(err, NB_ERR_ARG, "cg: %s does not apply to conjugate gradients%s",
                            to->validation > 0 ? "a validation fraction" : "early stopping",
                            to->validation > 0 ? "; hold the set out and give validation_data"
                                               : "");
    int epochs = o.epochs > 0 ? o.epochs : 1;
    cg_epoch ce = {0};
    for (int e = nb_trainer_state(t).epoch + 1; e <= epochs && !ce.stopped; e++) {
        nb_status st = epoch(t, train, test, o, e, epochs, &ce, err);
        if (st != NB_OK)
            return st;
    }
    return NB_OK;
}
