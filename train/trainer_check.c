/*
 * trainer_check.c — a data set checked against the model before a whole
 * pass over it, so that no step ever sees bad data: the example shape and
 * target width, the inputs after x, every class label when the model reads
 * class indices, and every value (finite, inputs within range). What the
 * checks read of the inputs is kept as the range trained on.
 */
#include <math.h>
#include <stdio.h>

#include "trainer_internal.h"

/* ---------------------------------------------------------------- data sets */

/* When the model reads its targets as class indices (its loss goes through
 * nb_one_hot), refuses the first target of ds that is not an integer in
 * 0..classes-1, naming it, its example (from 0) and the classes' node: one
 * pass over the targets, so no step ever sees a bad label. */
static nb_status check_labels(nb_trainer *t, const nb_dataset *ds, const char *which)
{
    int64_t n = ds->n * ds->y_width, i = 0;
    float c = (float)t->classes;
    if (t->classes <= 0 || !ds->y)
        return NB_OK;
    while (i < n && ds->y[i] >= 0 && ds->y[i] < c && ds->y[i] == floorf(ds->y[i]))
        i++;
    if (i == n)
        return NB_OK;
    char name[160] = "", whose[256];
    const char *scope = nb_node_scope(t->scores);
    if (t->scores && !nb_node_name(t->scores) && scope)
        snprintf(name, sizeof name, "%s", scope);
    else if (t->scores)
        nb_node_label(t->scores, name, sizeof name);
    if (name[0])
        snprintf(whose, sizeof whose, "the output '%s' has %lld units", name,
                 (long long)t->classes);
    else
        snprintf(whose, sizeof whose, "%lld classes", (long long)t->classes);
    double v = ds->y[i];
    if (isfinite(v) && v == floor(v))
        return nb__trainer_failf(
            t, NB_ERR_ARG, "train: label %.9g of %s example %lld is outside 0…%lld (%s)", v, which,
            (long long)(i / ds->y_width), (long long)t->classes - 1, whose);
    return nb__trainer_failf(t, NB_ERR_ARG,
                             "train: label %.9g of %s example %lld is not a class index (an "
                             "integer in 0…%lld; %s)",
                             v, which, (long long)(i / ds->y_width), (long long)t->classes - 1,
                             whose);
}

nb_status nb__trainer_check_set(nb_trainer *t, const nb_dataset *ds, const char *which)
{
    char a[128], b[128];
    if (!ds || ds->n < 1)
        return nb__trainer_failf(t, NB_ERR_ARG, "train: the %s set is empty", which);
    if (!nb_shape_equal(ds->shape, t->shape) || ds->y_width != t->y_width)
        return nb__trainer_failf(
            t, NB_ERR_SHAPE,
            "train: the %s set holds examples %s with %lld targets; the model takes %s "
            "with %lld",
            which, nb_shape_format(ds->shape, a, sizeof a), (long long)ds->y_width,
            nb_shape_format(t->shape, b, sizeof b), (long long)t->y_width);
    char m[sizeof t->err];
    nb_status st = nb__feed_check(t->g, &t->inst[0].io, ds, which, m, sizeof m);
    return st == NB_OK ? check_labels(t, ds, which) : nb__trainer_failf(t, st, "%s", m);
}

/* Refuses the first value of a set (`which`: "training", "this step's")
 * that nb_dataset_check_values refuses, naming the set, and adds its inputs
 * to acc (NULL: not kept). */
nb_status nb__trainer_check_values(nb_trainer *t, const nb_dataset *ds, const char *which,
                                   nb__range_acc *acc)
{
    nb_error e; /* filled on a refusal; clearing its 516 bytes was a tenth of a tiny step */
    if (nb_dataset_check_values(ds, &e) != NB_OK)
        return nb__trainer_failf(t, e.status, "train: %s %s", which, e.message);
    int64_t total = ds->n * t->numel;
    if (acc && ds->x)
        nb__range_add(acc, ds->x, total);
    else if (acc && ds->x_u8)
        nb__range_add_bytes(acc, ds->x_u8, total, ds->x_div);
    return NB_OK;
}

nb_status nb__trainer_check_data(nb_trainer *t, const nb_dataset *ds, const char *which)
{
    nb__range_acc seen = {0};
    nb_status st = nb__trainer_check_set(t, ds, which);
    if (st == NB_OK)
        st = nb__trainer_check_values(t, ds, which, &seen);
    if (st == NB_OK) {
        t->seen = seen; /* what this method trains on, as fit keeps it */
        t->seen_x_div = ds->x ? 0 : ds->x_div;
    }
    return st;
}
