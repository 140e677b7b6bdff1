/*
 * trainer_fit.c — nb_trainer_fit: the training set checked, a validation
 * fraction held out when asked, the ranks synchronised, then the epochs:
 * each a pass over the training set, then validation (which early stopping
 * watches) and the test set, then on_epoch; at the end, the best epoch's
 * weights. Every set is checked before the first step, so a long run does
 * not fail late on bad data.
 */
#include <math.h>

#include "trainer_internal.h"

/* ---------------------------------------------------------------- fitting */

/* The epochs: each a pass over train, then validation and test. */
static nb_status fit(nb_trainer *t, const nb_dataset *train, const nb_dataset *val,
                     const nb_dataset *test)
{
    nb_status st = NB_OK;
    int64_t batch = t->o.batch < train->n ? t->o.batch : train->n;
    if (!(test && ((st = nb__trainer_check_set(t, test, "test")) != NB_OK ||
                   (st = nb__trainer_check_values(t, test, "test", NULL)) != NB_OK)) &&
        !(val && ((st = nb__trainer_check_set(t, val, "validation")) != NB_OK ||
                  (st = nb__trainer_check_values(t, val, "validation", NULL)) != NB_OK)))
        st = t->dist ? nb__trainer_prepare_shares(t, train->n)
                     : nb__trainer_prepare(t, train->n, batch, true);
    if ((st = nb__trainer_agreed(t, st)) != NB_OK)
        return st;
    nb_progress p = {.epochs = t->o.epochs, .test_loss = NAN, .test_acc = NAN};
    double q_ref = NAN;
    for (p.epoch = t->epochs_done + 1;
         p.epoch <= t->o.epochs && !p.stopped && !nb__trainer_patience_out(t); p.epoch++) {
        st = nb__trainer_reorder(t, train->n);
        if (st == NB_OK && t->o.hardest_first)
            st = nb__trainer_hardest_first(t, train);
        if ((st = nb__trainer_agreed(t, st)) == NB_OK)
            st = nb__trainer_epoch(t, train, &p, &q_ref);
        nb__dsum_gather_state(t->dsum, t->opt); /* every rank's slots whole (each updates its
                                                   part): what a checkpoint reads */
        if (st != NB_OK)
            return st;
        t->epochs_done = p.epoch;
        if (val && ((st = nb_trainer_evaluate(t, val, &p.val_loss, &p.val_acc)) != NB_OK ||
                    (st = nb__trainer_agreed(t, nb__trainer_track_best(t, &p))) != NB_OK))
            return st;
        if (test && (st = nb_trainer_evaluate(t, test, &p.test_loss, &p.test_acc)) != NB_OK)
            return st;
        if (t->o.on_epoch)
            t->o.on_epoch(&p, t->o.ud);
    }
    return NB_OK;
}

nb_status nb_trainer_fit(nb_trainer *t, const nb_dataset *train, const nb_dataset *test)
{
    if (!t)
        return NB_ERR_ARG;
    nb_dataset *kept = NULL, *held = NULL;
    nb_error e = {0};
    nb__range_acc seen = {0};
    int64_t *held_index = NULL;
    nb_status st = nb__trainer_check_set(t, train, "training");
    if (st == NB_OK)
        st = nb__trainer_check_values(t, train, "training", &seen);
    if (st == NB_OK && t->o.validation > 0 &&
        !(held_index = nb_malloc((size_t)train->n * sizeof *held_index)))
        st = nb__trainer_failf(t, NB_ERR_NOMEM, "train: out of memory for the validation split");
    if (st == NB_OK && t->o.validation > 0 &&
        nb_dataset_split(train, t->o.validation, t->o.seed, &kept, &held, held_index, &e) != NB_OK)
        st = nb__trainer_failf(t, e.status, "train: validation: %s", e.message);
    if (t->dist && (st = nb__trainer_agreed(t, st)) == NB_OK)
        st = nb__trainer_sync_from_root(t);
    if (st == NB_OK) {
        t->seen = seen;
        t->seen_x_div = train->x ? 0 : train->x_div;
        t->held = held_index;
        t->n_held = held ? held->n : 0;
        st = fit(t, kept ? kept : train, held ? held : t->o.validation_data, test);
        /* The sharded parameters out of the ranks' shared window, each rank
         * holding its own copy again: what is written to every rank's
         * parameters from here (the best epoch's weights, the next fit's
         * from rank 0) must not land in one copy all the ranks share. */
        nb__dsum_release(t->dsum);
        if (st == NB_OK)
            nb__trainer_restore_best(t);
        t->held = NULL;
        t->n_held = 0;
    }
    nb_free(held_index);
    nb_dataset_free(kept);
    nb_dataset_free(held);
    return st;
}
