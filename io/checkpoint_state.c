/*
 * checkpoint_state.c — where training stands, as a checkpoint says it,
 * checked field by field before a resume changes anything. A field that
 * fails is named with its value and what it must be:
 *
 *   "/train: attribute 'optimizer_steps' is 900; it must be an integer
 *    from 0 to 40 (global_step: the optimiser steps once per training step)"
 *
 *   /train attrs  epoch            integer, 0 to 10^9
 *                 global_step      integer, 0 to 2^53
 *                 optimizer_steps  integer, 0 to global_step
 *                 q                a finite number
 *                 rng              4 unsigned 64-bit integers, not all zero
 *                 best_epoch       all three or none: 1 to epoch,
 *                 best             a finite number,
 *                 bad_epochs       0 to epoch - best_epoch
 *   /optimizer/<name>/slot0        finite
 *   /optimizer/<name>/slot1        Adam and RMSprop: finite and ≥ 0 (a
 *                                  running mean of squares); SGD: zeros
 *   /best/<name>                   finite
 *
 * Types, ranks and counts of the attributes (integers where integers are
 * meant, a scalar where one value is meant) are refused by the readers of
 * hdf5_file.c; shapes, missing and extra datasets by hdf5_weights.c. The
 * order of presentation is not stored: the generator state reproduces it.
 *
 * 2^53 bounds the step counts because they go through double (the
 * learning-rate schedule, Adam's bias correction β^t), which counts one by
 * one only that far.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hdf5_internal.h"

#define MAX_EPOCH 1000000000
#define MAX_STEPS ((int64_t)1 << 53)

/* ---------------------------------------------------------------- /train */

/* Integer attribute name of /train into *v; refused outside [lo, hi], with
 * what the bound is (why, may be ""). */
static nb_status train_int(nb__h5 *f, const char *name, int64_t lo, int64_t hi, const char *why,
                           int64_t *v)
{
    if (nb__h5_read_attr_int(f, "/train", name, v) == NB_OK && (*v < lo || *v > hi))
        nb__h5_fail(f, NB_ERR_ARG, "/train: attribute '%s' is %lld; it must be an integer from "
                    "%lld to %lld%s", name, (long long)*v, (long long)lo, (long long)hi, why);
    return nb__h5_status(f);
}

/* Number attribute name of /train into *v; refused unless finite. */
static nb_status train_finite(nb__h5 *f, const char *name, double *v)
{
    if (nb__h5_read_attr_double(f, "/train", name, v) == NB_OK && !isfinite(*v))
        nb__h5_fail(f, NB_ERR_ARG, "/train: attribute '%s' is %g; it must be a finite number",
                    name, *v);
    return nb__h5_status(f);
}

/* Early stopping's state: best_epoch, best and bad_epochs, all or none. */
static nb_status read_best(nb__h5 *f, int64_t epoch, nb_train_state *s)
{
    static const char *const names[] = {"best_epoch", "best", "bad_epochs"};
    int have = -1, lack = -1;
    for (int i = 0; i < 3; i++) {
        if (nb__h5_has_attr(f, "/train", names[i]))
            have = have < 0 ? i : have;
        else
            lack = lack < 0 ? i : lack;
    }
    if (have < 0)
        return NB_OK;
    if (lack >= 0)
        return nb__h5_fail(f, NB_ERR_ARG, "/train: attribute '%s' is there but '%s' is not; "
                           "early stopping's state is best_epoch, best and bad_epochs together",
                           names[have], names[lack]);
    int64_t best_epoch = 0, bad = 0;
    if (train_int(f, "best_epoch", 1, epoch, " (epoch)", &best_epoch) != NB_OK ||
        train_finite(f, "best", &s->best) != NB_OK ||
        train_int(f, "bad_epochs", 0, epoch - best_epoch, " (epoch - best_epoch)", &bad) != NB_OK)
        return nb__h5_status(f);
    s->best_epoch = (int)best_epoch;
    s->bad_epochs = (int)bad;
    return NB_OK;
}

nb_status nb__checkpoint_read_train(nb__h5 *f, nb_train_state *s, int64_t *steps)
{
    int64_t epoch = 0;
    nb_train_state r = {0};
    if (!nb__h5_exists(f, "/train"))
        return nb__h5_fail(f, NB_ERR_ARG, "/train: missing (a weights file, not a checkpoint)");
    if (train_int(f, "epoch", 0, MAX_EPOCH, "", &epoch) != NB_OK ||
        train_int(f, "global_step", 0, MAX_STEPS, " (2^53)", &r.global_step) != NB_OK ||
        train_int(f, "optimizer_steps", 0, r.global_step,
                  " (global_step: the optimiser steps once per training step)", steps) != NB_OK ||
        train_finite(f, "q", &r.q) != NB_OK ||
        nb__h5_read_attr_rng(f, "/train", "rng", &r.rng) != NB_OK)
        return nb__h5_status(f);
    if (!(r.rng.s[0] | r.rng.s[1] | r.rng.s[2] | r.rng.s[3]))
        return nb__h5_fail(f, NB_ERR_ARG, "/train: attribute 'rng' is all zeros; it must be a "
                           "generator state (4 unsigned 64-bit integers, not all zero)");
    if (read_best(f, epoch, &r) != NB_OK)
        return nb__h5_status(f);
    r.epoch = (int)epoch;
    *s = r;
    return NB_OK;
}

/* ---------------------------------------------------------------- values */

/* Element i of shape s as "at [a, b, c] " (empty for a scalar). */
static void format_index(nb_shape s, int64_t i, char *buf, size_t size)
{
    int64_t idx[NB_MAX_RANK];
    for (int d = s.rank - 1; d >= 0; d--) {
        idx[d] = s.dim[d] ? i % s.dim[d] : 0;
        i = s.dim[d] ? i / s.dim[d] : 0;
    }
    size_t at = 0;
    buf[0] = '\0';
    for (int d = 0; d < s.rank && at < size; d++)
        at += (size_t)snprintf(buf + at, size - at, "%s%lld%s", d ? ", " : "at [",
                               (long long)idx[d], d == s.rank - 1 ? "] " : "");
}

nb_status nb__checkpoint_check_values(nb__h5 *f, const char *obj, nb_shape s, const float *v,
                                      nb__rule rule)
{
    static const char *const must[] = {
        [NB__RULE_SLOT] = "an optimiser's state must be finite",
        [NB__RULE_MEAN_SQUARE] = "slot1 holds Adam's v or RMSprop's mean square, running "
                                 "means of squares: it must be finite and ≥ 0",
        [NB__RULE_ZEROS] = "SGD keeps nothing in slot1: it must be all zeros",
        [NB__RULE_BEST] = "the best epoch's weights must be finite",
    };
    if (rule == NB__RULE_NONE || nb__h5_status(f) != NB_OK)
        return nb__h5_status(f);
    int64_t n = nb_shape_numel(s);
    for (int64_t i = 0; i < n; i++) {
        float x = v[i];
        bool bad = rule == NB__RULE_ZEROS ? x != 0 : !isfinite(x) ||
                   (rule == NB__RULE_MEAN_SQUARE && x < 0);
        if (bad) {
            char where[128];
            format_index(s, i, where, sizeof where);
            return nb__h5_fail(f, NB_ERR_ARG, "%s: the value %sis %g; %s", obj, where, (double)x,
                               must[rule]);
        }
    }
    return NB_OK;
}
