/*
 * yaml_train.c — a model file's training sections (docs/model-format.md):
 * optimizer (sgd, momentum, adam, or cg's options), schedule, clip_norm,
 * train (batch, epochs, seed, shuffle, q_stop, validation and early
 * stopping) and data (idx or hdf5 files, paths taken from the model
 * file's folder), read into nb_train_opts and nb_data_spec:
 *
 *   train:
 *     validation: 0.1               # hold out this fraction of the training set
 *     early_stopping: {patience: 3, min_delta: 0.001, monitor: val_loss,
 *                      restore_best: true}
 *
 * A separate validation file belongs to the data: section (hdf5 format).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml_schema.h"
#include "yaml_sections.h"

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

/* train: validation (a fraction in (0, 1)) or early_stopping (a mapping),
 * key telling which, into t. */
static bool parse_validation(nb__yctx *c, const char *key, const nb__yv *v, nb_train_opts *t)
{
    if (!strcmp(key, "validation"))
        return nb__yto_float(c, v, key, "in train", NB__YR_UNIT_OO, &t->validation);
    return parse_early_stopping(c, v, t);
}

/* ================================================================ optimizer, schedule, train, data */

/* optimizer: {cg: {chunk, iterations, restart, step0, c2, max_evals,
 * max_examples, shuffle}}: chunked conjugate gradients (nb_trainer_fit_cg).
 * Every key is optional; a 0 where the C API reads 0 as "the default" is
 * accepted and means the same. Epochs and seed come from train: at use
 * (nb_model_file_cg). */
static bool parse_cg(nb__yctx *c, const nb__yv *opts)
{
    static const char *const keys[] = {"chunk", "iterations", "restart", "step0", "c2",
                                       "max_evals", "max_examples", "shuffle", NULL};
    static const char *const w = "in optimizer cg";
    nb_cg_opts *o = &c->m->cg_opts;
    *o = (nb_cg_opts){0};
    c->m->cg = true;
    if (!opts)
        return true;
    if (!nb__ycheck_keys(c, opts, w, keys, NULL))
        return false;
    for (int i = 0; i < nb__ypairs(opts); i++) {
        const char *key = NB__YKEY(opts, i)->s;
        const nb__yv *x = NB__YVAL(opts, i);
        int64_t n = 0;
        double d = 0;
        bool ok = true;
        if (!strcmp(key, "shuffle"))
            ok = nb__yto_bool(c, x, key, w, &o->shuffle);
        else if (!strcmp(key, "step0") || !strcmp(key, "c2"))
            ok = nb__yto_float(c, x, key, w, NB__YR_NONNEG, &d);
        else
            ok = nb__yto_int(c, x, key, w, 0, !strcmp(key, "chunk") ||
                             !strcmp(key, "max_examples") ? INT64_MAX : INT32_MAX, &n);
        if (!ok)
            return false;
        if (!strcmp(key, "c2") && !(d < 0.5))
            return nb__yfail(c, NB_ERR_ARG, x->line, x->col, "key 'c2' %s: %g is out of range; "
                             "it must be in [0, 0.5) (0: the default, 0.1)", w, d);
        if (!strcmp(key, "chunk")) o->chunk = n;
        else if (!strcmp(key, "iterations")) o->iterations = (int)n;
        else if (!strcmp(key, "restart")) o->restart = (int)n;
        else if (!strcmp(key, "max_evals")) o->max_evals = (int)n;
        else if (!strcmp(key, "max_examples")) o->max_examples = n;
        else if (!strcmp(key, "step0")) o->step0 = d;
        else if (!strcmp(key, "c2")) o->c2 = d;
    }
    return true;
}

/* optimizer: sgd, or {sgd|adam|rmsprop: {lr, ...}}, or {cg: {...}} (the
 * trainer's optimiser then stays SGD with its defaults: it must exist,
 * though conjugate gradients never step it). */
bool nb__yparse_optimizer(nb__yctx *c, const nb__yv *v, nb_optimizer_opts *o)
{
    static const char *const kinds[] = {"sgd", "adam", "rmsprop", "cg", NULL};
    static const char *const keys[][6] = {
        {"lr", "momentum", "nesterov", "weight_decay", NULL},
        {"lr", "beta1", "beta2", "eps", "weight_decay", NULL},
        {"lr", "alpha", "momentum", "eps", "weight_decay", NULL}};
    const nb__yv *word, *opts;
    if (!nb__yone_key(c, v, "optimizer", "{sgd: {lr: 0.01, momentum: 0.9}}", &word, &opts))
        return false;
    int k = nb__ylookup(c, word, "optimizer", kinds);
    if (k < 0)
        return false;
    if (!strcmp(kinds[k], "cg"))
        return parse_cg(c, opts);
    *o = nb_optimizer_defaults((nb_optimizer_kind)k);
    if (!opts)
        return true;
    char w[48];
    snprintf(w, sizeof w, "in optimizer %s", kinds[k]);
    if (!nb__ycheck_keys(c, opts, w, keys[k], NULL))
        return false;
    for (int i = 0; i < nb__ypairs(opts); i++) {
        const char *key = NB__YKEY(opts, i)->s;
        const nb__yv *x = NB__YVAL(opts, i);
        double d = 0;
        nb__yrange r = !strcmp(key, "lr") || !strcmp(key, "eps") ? NB__YR_POS
                       : !strcmp(key, "momentum") || !strcmp(key, "beta1")
                         || !strcmp(key, "beta2") || !strcmp(key, "alpha") ? NB__YR_UNIT_CO
                       : !strcmp(key, "weight_decay") ? NB__YR_NONNEG : NB__YR_UNIT_OO;
        bool ok = !strcmp(key, "nesterov") ? nb__yto_bool(c, x, key, w, &o->nesterov)
                                           : nb__yto_float(c, x, key, w, r, &d);
        if (!ok)
            return false;
        float f = (float)d;
        if (!strcmp(key, "lr")) o->lr = f;
        else if (!strcmp(key, "momentum")) o->momentum = f;
        else if (!strcmp(key, "weight_decay")) o->weight_decay = f;
        else if (!strcmp(key, "beta1")) o->beta1 = f;
        else if (!strcmp(key, "beta2")) o->beta2 = f;
        else if (!strcmp(key, "alpha")) o->alpha = f;
        else if (!strcmp(key, "eps")) o->eps = f;
    }
    if (o->nesterov && !(o->momentum > 0))
        return nb__yfail(c, NB_ERR_ARG, opts->line, opts->col, "optimizer sgd: nesterov needs a "
                         "momentum > 0");
    return true;
}

/* schedule: constant, or {step: {every, gamma}}, or {cosine: {total, min_ratio}}. */
bool nb__yparse_schedule(nb__yctx *c, const nb__yv *v, nb_schedule *s)
{
    static const char *const kinds[] = {"constant", "step", "cosine", NULL};
    static const char *const keys[][3] = {{NULL}, {"every", "gamma", NULL},
                                          {"total", "min_ratio", NULL}};
    const nb__yv *word, *opts;
    if (!nb__yone_key(c, v, "schedule", "{cosine: {total: 5000, min_ratio: 0.01}}", &word, &opts))
        return false;
    int k = nb__ylookup(c, word, "schedule", kinds);
    if (k < 0)
        return false;
    *s = (nb_schedule){.kind = (nb_schedule_kind)k, .gamma = 0.1f};
    char w[48];
    snprintf(w, sizeof w, "in schedule %s", kinds[k]);
    if (k && (!opts || !nb__yget(opts, keys[k][0])))
        return nb__yfail(c, NB_ERR_ARG, (opts ? opts : v)->line, (opts ? opts : v)->col,
                         "key '%s' is missing in schedule %s", keys[k][0], kinds[k]);
    if (!opts)
        return true;
    double d = 0;
    const nb__yv *x;
    if (!nb__ycheck_keys(c, opts, w, keys[k], NULL))
        return false;
    if (k == NB_SCHEDULE_STEP)
        return nb__yto_int(c, nb__yget(opts, "every"), "every", w, 1, INT64_MAX, &s->every) &&
               (!(x = nb__yget(opts, "gamma")) ||
                (nb__yto_float(c, x, "gamma", w, NB__YR_UNIT_OC, &d) &&
                 (s->gamma = (float)d, true)));
    return nb__yto_int(c, nb__yget(opts, "total"), "total", w, 1, INT64_MAX, &s->total) &&
           (!(x = nb__yget(opts, "min_ratio")) ||
            (nb__yto_float(c, x, "min_ratio", w, NB__YR_UNIT_CC, &d) &&
             (s->min_ratio = (float)d, true)));
}

/* q_stop: {rtol, window}. */
static bool parse_q_stop(nb__yctx *c, const nb__yv *v, nb_train_opts *t)
{
    static const char *const keys[] = {"rtol", "window", NULL};
    const char *w = "in train q_stop";
    const nb__yv *x;
    if (!nb__ywant_map(c, v, "q_stop", "in train") || !nb__ycheck_keys(c, v, w, keys, NULL))
        return false;
    if (!nb__yget(v, "rtol"))
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key 'rtol' is missing in train q_stop");
    return nb__yto_float(c, nb__yget(v, "rtol"), "rtol", w, NB__YR_POS, &t->q_stop_rtol) &&
           (!(x = nb__yget(v, "window")) ||
            nb__yto_int(c, x, "window", w, 1, INT64_MAX, &t->q_stop_window));
}

/* train: {batch, epochs, seed, shuffle, eval_batch, q_eta, q_stop,
 * validation, early_stopping} (the last two in yaml_train.c). */
bool nb__yparse_train(nb__yctx *c, const nb__yv *v, nb_train_opts *t)
{
    static const char *const keys[] = {"batch", "epochs", "seed", "shuffle", "eval_batch", "q_eta",
                                       "q_stop", "validation", "early_stopping", NULL};
    const char *w = "in train";
    if (!nb__ywant_map(c, v, "train", "at the top level") || !nb__ycheck_keys(c, v, w, keys, NULL))
        return false;
    for (int i = 0; i < nb__ypairs(v); i++) {
        const char *key = NB__YKEY(v, i)->s;
        const nb__yv *x = NB__YVAL(v, i);
        int64_t n = 0;
        bool shuffle = true, ok;
        if (!strcmp(key, "batch"))
            ok = nb__yto_int(c, x, key, w, 1, NB__YMAX_UNITS, &t->batch);
        else if (!strcmp(key, "eval_batch"))
            ok = nb__yto_int(c, x, key, w, 1, NB__YMAX_UNITS, &t->eval_batch);
        else if (!strcmp(key, "epochs"))
            ok = nb__yto_int(c, x, key, w, 1, 1000000, &n) && (t->epochs = (int)n, true);
        else if (!strcmp(key, "seed"))
            ok = nb__yto_int(c, x, key, w, 0, INT64_MAX, &n) && (t->seed = (uint64_t)n, true);
        else if (!strcmp(key, "shuffle"))
            ok = nb__yto_bool(c, x, key, w, &shuffle) && (t->no_shuffle = !shuffle, true);
        else if (!strcmp(key, "q_eta"))
            ok = nb__yto_float(c, x, key, w, NB__YR_UNIT_OC, &t->q_eta);
        else if (!strcmp(key, "q_stop"))
            ok = parse_q_stop(c, x, t);
        else
            ok = parse_validation(c, key, x, t);
        if (!ok)
            return false;
    }
    return true;
}

/* A path as written, or joined to the model file's folder when relative. */
static const char *resolve(nb__yctx *c, const char *path)
{
    const char *file = c->m->file, *slash = strrchr(file, '/');
    if (path[0] == '/' || !slash)
        return nb__ypool_str(c, path);
    size_t dir = (size_t)(slash - file), n = strlen(path);
    char *p = nb__ypool_add(c, dir + 1 + n + 1);
    if (p) {
        memcpy(p, file, dir + 1);
        memcpy(p + dir + 1, path, n + 1);
    }
    return p;
}

/* A path-valued key of the data section, resolved. */
static bool data_path(nb__yctx *c, const nb__yv *map, const char *key, const char **out)
{
    const nb__yv *v = nb__yget(map, key);
    const char *s;
    if (!v)
        return true;
    if (!nb__yto_str(c, v, key, "in data", &s))
        return false;
    return (*out = resolve(c, s)) != NULL;
}

/* inputs: {side: S, tokens: T}: the dataset feeding each named input (the
 * names are checked against the model's inputs when the data is read). */
static bool parse_sources(nb__yctx *c, const nb__yv *v, nb_data_spec *d)
{
    if (!nb__ywant_map(c, v, "inputs", "in data"))
        return false;
    int n = nb__ypairs(v);
    if (n > NB_MAX_INPUTS)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key 'inputs' in data: %d inputs "
                         "named; a model has at most %d", n, NB_MAX_INPUTS);
    nb_input_source *s = nb__ypool_add(c, (size_t)(n ? n : 1) * sizeof *s);
    if (!s)
        return false;
    for (int i = 0; i < n; i++)
        if (!nb__yto_name(c, NB__YKEY(v, i), "inputs", "in data", &s[i].input) ||
            !nb__yto_str(c, NB__YVAL(v, i), s[i].input, "in data's inputs", &s[i].dataset))
            return false;
    d->inputs = s;
    d->n_inputs = n;
    return true;
}

/* data: {format: idx, dir} or {format: hdf5, train, test, x, y, inputs}. */
bool nb__yparse_data(nb__yctx *c, const nb__yv *v)
{
    static const char *const formats[] = {"idx", "hdf5", NULL};
    static const char *const idx_keys[] = {"format", "dir", NULL};
    static const char *const h5_keys[] = {"format", "train", "test", "validation", "x", "y",
                                          "inputs", NULL};
    nb_data_spec *d = &c->m->data;
    if (!nb__ywant_map(c, v, "data", "at the top level"))
        return false;
    const nb__yv *f = nb__yget(v, "format");
    if (!f)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key 'format' is missing in data (idx or "
                         "hdf5)");
    int k = nb__ylookup(c, f, "data format", formats);
    if (k < 0 || !nb__ycheck_keys(c, v, k ? "in data (format hdf5)" : "in data (format idx)",
                                       k ? h5_keys : idx_keys, NULL))
        return false;
    d->format = formats[k];
    const char *need = k ? "train" : "dir";
    if (!nb__yget(v, need))
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key '%s' is missing in data (format %s)",
                         need, formats[k]);
    d->x = k ? "X" : NULL;
    d->y = k ? "y" : NULL;
    const nb__yv *inputs = nb__yget(v, "inputs");
    return (!inputs || parse_sources(c, inputs, d)) && data_path(c, v, "dir", &d->dir) && data_path(c, v, "train", &d->train) &&
           data_path(c, v, "test", &d->test) &&
           data_path(c, v, "validation", &d->validation) &&
           (!nb__yget(v, "x") || nb__yto_str(c, nb__yget(v, "x"), "x", "in data", &d->x)) &&
           (!nb__yget(v, "y") || nb__yto_str(c, nb__yget(v, "y"), "y", "in data", &d->y));
}

/* The trainer's defaults, written out so callers can show them. */
nb_train_opts nb__ytrain_defaults(void)
{
    return (nb_train_opts){
        .batch = 32, .epochs = 1, .q_eta = 0.01, .q_stop_window = 1000, .eval_batch = 256,
        .optimizer = {.kind = NB_OPT_SGD, .lr = 0.01f}, .schedule = {.kind = NB_SCHEDULE_CONSTANT}};
}

/* clip_norm: a number >= 0 (0: no clipping). */
bool nb__yparse_clip(nb__yctx *c, const nb__yv *v, float *out)
{
    double d = 0;
    if (!nb__yto_float(c, v, "clip_norm", "at the top level", NB__YR_NONNEG, &d))
        return false;
    *out = (float)d;
    return true;
}
