/*
 * yaml_train.c — the validation and early stopping keys of a model file's
 * train: section (docs/model-format.md), read into nb_train_opts:
 *
 *   train:
 *     validation: 0.1               # hold out this fraction of the training set
 *     early_stopping: {patience: 3, min_delta: 0.001, monitor: val_loss,
 *                      restore_best: true}
 *
 * A separate validation file belongs to the data: section (hdf5 format).
 */
#include <string.h>

#include "yaml_values.h"

/* early_stopping: {patience, min_delta, monitor, restore_best}; patience
 * is required. */
static bool parse_early_stopping(nb__yctx *c, const nb__yv *v, nb_train_opts *t)
{
    static const char *const keys[] = {"patience", "min_delta", "monitor", "restore_best", NULL};
    static const char *const monitors[] = {"val_loss", "val_acc", NULL};
    const char *w = "in train early_stopping";
    const nb__yv *x;
    int64_t patience = 0;
    bool restore = true;
    if (!nb__ywant_map(c, v, "early_stopping", "in train") ||
        !nb__ycheck_keys(c, v, w, keys, NULL))
        return false;
    if (!(x = nb__yget(v, "patience")))
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key 'patience' is missing in train "
                         "early_stopping (epochs without improvement before stopping, e.g. 3)");
    if (!nb__yto_int(c, x, "patience", w, 1, 1000000, &patience))
        return false;
    t->patience = (int)patience;
    if ((x = nb__yget(v, "min_delta")) &&
        !nb__yto_float(c, x, "min_delta", w, NB__YR_NONNEG, &t->min_delta))
        return false;
    if ((x = nb__yget(v, "monitor"))) {
        int k = nb__ylookup(c, x, "monitor", monitors);
        if (k < 0)
            return false;
        t->monitor = k ? NB_MONITOR_VAL_ACC : NB_MONITOR_VAL_LOSS;
    }
    if ((x = nb__yget(v, "restore_best")) && !nb__yto_bool(c, x, "restore_best", w, &restore))
        return false;
    t->no_restore_best = !restore;
    return true;
}

bool nb__yparse_validation(nb__yctx *c, const char *key, const nb__yv *v, nb_train_opts *t)
{
    if (!strcmp(key, "validation"))
        return nb__yto_float(c, v, key, "in train", NB__YR_UNIT_OO, &t->validation);
    return parse_early_stopping(c, v, t);
}
