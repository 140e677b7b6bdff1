/*
 * hdf5_weights.c — weights, checkpoints, datasets and arrays in HDF5 files,
 * in the layout nabla.h documents, through the handle of hdf5_file.c:
 *
 *   /                        attrs format = "nabla", version = 1
 *   /model_yaml              the model's YAML text (scalar string), optional
 *   /params/<full name>      trainable parameters, float32, attr layout
 *   /state/<full name>       frozen parameters (batch norm running stats)
 *   /optimizer/<full name>/slot0, slot1    checkpoints: the optimiser slots
 *                            (attr kind on /optimizer: sgd, adam, rmsprop)
 *   /architecture            checkpoints: the model's lowered graph as text
 *   /train                   checkpoints: attrs epoch, global_step, q, rng
 *                            (uint64[4]), optimizer_steps; with validation
 *                            also best_epoch, best, bad_epochs
 *   /best/<full name>        checkpoints with early stopping: every
 *                            parameter at the best epoch, restored at the end
 *
 * The optimiser slots are named slot0 and slot1, not m / v / momentum: the
 * public API does not tell which kind of optimiser a trainer has, so the
 * file cannot either. slot0 is SGD's velocity, Adam's m and RMSprop's
 * momentum buffer; slot1 is Adam's v and RMSprop's mean square (zeros for
 * SGD). An attribute "slots" on /optimizer says so for a reader without
 * nabla. Slot k holds the trainer's parameters end to end in
 * nb_trainer_param order; the file stores each one's stretch by name.
 *
 * Loading is by name, all or nothing: every parameter the graph has must be
 * in the file (trainable ones under /params, frozen ones under /state;
 * either group is accepted) with the graph's shape, and every dataset under
 * those groups (and /optimizer for a checkpoint) must belong to the model —
 * a user loading the wrong file hears so, naming the datasets. Values are
 * first read into a staging buffer; the graph (and trainer) change only
 * when everything was read. A checkpoint must also come from the same
 * architecture and optimiser kind (checkpoint_check.c), and every field of
 * its state pass the checks of checkpoint_state.c, slot values included.
 * Loads and saves first sweep away the temporaries of dead writers of the
 * same path (nb__h5_sweep_temps).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hdf5_internal.h"

#define FORMAT_NAME "nabla"
#define FORMAT_VERSION 1
/* A model's YAML text above this is not a model file (the YAML reader has
 * its own, smaller bound); it guards the allocation. */
#define MAX_YAML_BYTES ((size_t)16 << 20)

/* ---------------------------------------------------------------- helpers */

/* The status of a failed call that wrote into e, copied out to err. */
static nb_status give(nb_error *err, const nb_error *e)
{
    if (err)
        *err = *e;
    return e->status != NB_OK ? e->status : NB_ERR_ARG;
}

/* "<group>/<name>" (or "/<name>" for group NULL), malloc'd. */
static char *join(const char *group, const char *name)
{
    size_t n = (group ? strlen(group) : 0) + strlen(name) + 2;
    char *s = nb_malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", group ? group : "", name);
    return s;
}

/* A parameter's full name, or a failure when it has none. */
static const char *param_name(nb__h5 *f, nb_node *p, int i)
{
    const char *name = nb_node_name(p);
    if (!name || !*name)
        nb__h5_fail(f, NB_ERR_ARG, "parameter #%d of the graph has no name", i);
    return name;
}

/* ---------------------------------------------------------------- writing */

/* Whether parameter p belongs to a conv_transpose2d layer of g: its name
 * is that layer's scope, '/', a leaf. */
static bool in_conv_transpose(nb_graph *g, const char *name)
{
    const char *slash = name ? strrchr(name, '/') : NULL;
    for (int i = 0; slash && i < nb_graph_num_layers(g); i++) {
        const nb_layer_record *r = nb_graph_layer(g, i);
        if (r->kind == NB_LAYER_CONV_TRANSPOSE2D && r->scope &&
            strlen(r->scope) == (size_t)(slash - name) && !strncmp(r->scope, name, slash - name))
            return true;
    }
    return false;
}

/* The layout attribute by rank: "O" (biases, batch norm vectors), "IO"
 * (dense weights), "LIO" (local2d weights), "OIHW" (conv2d weights) or
 * "IOHW" (conv_transpose2d's, as PyTorch's ConvTranspose2d). A rank-2 bias
 * ("…/b") is local2d's [filters, positions]: "OL". */
static const char *layout_of(nb_graph *g, nb_node *p)
{
    nb_shape s = nb_node_shape(p);
    const char *name = nb_node_name(p), *slash = name ? strrchr(name, '/') : NULL;
    const char *base = slash ? slash + 1 : name ? name : "";
    switch (s.rank) {
    case 1: return "O";
    case 2: return strcmp(base, "b") ? "IO" : "OL";
    case 3: return "LIO";
    case 4: return in_conv_transpose(g, name) ? "IOHW" : "OIHW";
    default: return NULL;
    }
}

/* Root attributes and, when given, the model's YAML. */
static nb_status write_header(nb__h5 *f, const char *model_yaml)
{
    nb__h5_write_attr_string(f, "/", "format", FORMAT_NAME);
    nb__h5_write_attr_int(f, "/", "version", FORMAT_VERSION);
    if (model_yaml)
        nb__h5_write_string(f, "/model_yaml", model_yaml);
    return nb__h5_status(f);
}

/* Every parameter of g under /params or /state, with its layout. */
static nb_status write_params(nb__h5 *f, nb_graph *g)
{
    nb__h5_write_group(f, "/params");
    nb__h5_write_group(f, "/state");
    for (int i = 0; i < nb_graph_num_params(g) && nb__h5_status(f) == NB_OK; i++) {
        nb_node *p = nb_graph_param(g, i);
        const char *name = param_name(f, p, i), *layout = layout_of(g, p);
        char *obj = name ? join(nb_param_trainable(p) ? "/params" : "/state", name) : NULL;
        if (name && !obj)
            nb__h5_fail(f, NB_ERR_NOMEM, "out of memory for the path of parameter '%s'", name);
        if (obj && nb__h5_write_floats(f, obj, nb_node_shape(p), nb_param_data(p)) == NB_OK &&
            layout)
            nb__h5_write_attr_string(f, obj, "layout", layout);
        nb_free(obj);
    }
    return nb__h5_status(f);
}

/* /inputs: what training saw of the inputs, when anything is known. */
static nb_status write_inputs(nb__h5 *f, const nb_input_range *r)
{
    if (!r || r->count < 1)
        return nb__h5_status(f);
    nb__h5_write_group(f, "/inputs");
    nb__h5_write_attr_int(f, "/inputs", "count", r->count);
    nb__h5_write_attr_double(f, "/inputs", "min", r->min);
    nb__h5_write_attr_double(f, "/inputs", "max", r->max);
    nb__h5_write_attr_double(f, "/inputs", "mean", r->mean);
    nb__h5_write_attr_double(f, "/inputs", "std", r->std);
    nb__h5_write_attr_double(f, "/inputs", "x_div", r->x_div);
    return nb__h5_status(f);
}

nb_status nb_weights_save_with(nb_graph *g, const char *path, const char *model_yaml,
                               nb_weights_opts o, nb_error *err)
{
    if (!g)
        return nb_error_set(err, NB_ERR_ARG, "%s: no graph to save (NULL)", path ? path : "weights");
    nb_error e = {0};
    nb__h5 *f = nb__h5_create(path, &e);
    if (!f)
        return give(err, &e);
    write_header(f, model_yaml);
    write_params(f, g);
    write_inputs(f, o.inputs);
    return nb__h5_commit(f) == NB_OK ? NB_OK : give(err, &e);
}

nb_status nb_weights_save(nb_graph *g, const char *path, const char *model_yaml, nb_error *err)
{
    return nb_weights_save_with(g, path, model_yaml, (nb_weights_opts){0}, err);
}

/* slot0 and slot1 of every trainer parameter under /optimizer/<name>/. */
static nb_status write_slots(nb__h5 *f, nb_trainer *t)
{
    nb_optimizer *opt = nb_trainer_optimizer(t);
    int64_t at = 0;
    for (int i = 0; i < nb_trainer_num_param_tensors(t) && nb__h5_status(f) == NB_OK; i++) {
        nb_node *p = nb_trainer_param(t, i);
        nb_shape s = nb_node_shape(p);
        const char *name = param_name(f, p, i);
        for (int k = 0; name && k < 2; k++) {
            char *dir = join("/optimizer", name), *obj = dir ? join(dir, k ? "slot1" : "slot0") : NULL;
            if (!obj)
                nb__h5_fail(f, NB_ERR_NOMEM, "out of memory for the path of the optimiser "
                            "slot of '%s'", name);
            else
                nb__h5_write_floats(f, obj, s, nb_optimizer_slot(opt, k) + at);
            nb_free(dir);
            nb_free(obj);
        }
        at += nb_shape_numel(s);
    }
    if (nb__h5_status(f) == NB_OK && at != nb_optimizer_size(opt))
        nb__h5_fail(f, NB_ERR_STATE, "the trainer's %d parameters hold %lld values but its "
                    "optimiser %lld", nb_trainer_num_param_tensors(t), (long long)at,
                    (long long)nb_optimizer_size(opt));
    return nb__h5_status(f);
}

/* The /train group: where training stands. */
static nb_status write_train(nb__h5 *f, nb_trainer *t)
{
    nb_train_state s = nb_trainer_state(t);
    nb__h5_write_group(f, "/train");
    nb__h5_write_attr_int(f, "/train", "epoch", s.epoch);
    nb__h5_write_attr_int(f, "/train", "global_step", s.global_step);
    nb__h5_write_attr_double(f, "/train", "q", s.q);
    nb__h5_write_attr_rng(f, "/train", "rng", &s.rng);
    nb__h5_write_attr_int(f, "/train", "optimizer_steps",
                          *nb_optimizer_steps(nb_trainer_optimizer(t)));
    if (s.best_epoch > 0) {
        nb__h5_write_attr_int(f, "/train", "best_epoch", s.best_epoch);
        nb__h5_write_attr_double(f, "/train", "best", s.best);
        nb__h5_write_attr_int(f, "/train", "bad_epochs", s.bad_epochs);
    }
    return nb__h5_status(f);
}

/* /best/<name>: the best epoch's weights early stopping will restore, when
 * the trainer keeps them. */
static nb_status write_best(nb__h5 *f, nb_trainer *t)
{
    int64_t n = 0, at = 0;
    const float *best = nb_trainer_best_weights(t, &n);
    nb_graph *g = nb_trainer_graph(t);
    if (!best || nb_trainer_state(t).best_epoch < 1)
        return nb__h5_status(f);
    nb__h5_write_group(f, "/best");
    for (int i = 0; i < nb_graph_num_params(g) && nb__h5_status(f) == NB_OK; i++) {
        nb_node *p = nb_graph_param(g, i);
        const char *name = param_name(f, p, i);
        char *obj = name ? join("/best", name) : NULL;
        if (name && !obj)
            nb__h5_fail(f, NB_ERR_NOMEM, "out of memory for the path of /best/%s", name);
        if (obj)
            nb__h5_write_floats(f, obj, nb_node_shape(p), best + at);
        nb_free(obj);
        at += nb_shape_numel(nb_node_shape(p));
    }
    return nb__h5_status(f);
}

nb_status nb_checkpoint_save(nb_trainer *t, const char *path, const char *model_yaml,
                             nb_error *err)
{
    if (!t || !nb_trainer_optimizer(t))
        return nb_error_set(err, NB_ERR_ARG, "%s: no trainer to save (NULL)",
                       path ? path : "checkpoint");
    nb_error e = {0};
    nb__h5 *f = nb__h5_create(path, &e);
    if (!f)
        return give(err, &e);
    write_header(f, model_yaml);
    write_params(f, nb_trainer_graph(t));
    nb__h5_write_group(f, "/optimizer");
    nb__h5_write_attr_string(f, "/optimizer", "slots",
                             "slot0: SGD velocity, Adam m, RMSprop momentum; "
                             "slot1: Adam v, RMSprop mean square (zeros for SGD)");
    write_slots(f, t);
    nb__checkpoint_write_identity(f, t);
    write_train(f, t);
    write_best(f, t);
    nb_input_range seen = nb_trainer_input_range(t);
    write_inputs(f, &seen);
    return nb__h5_commit(f) == NB_OK ? NB_OK : give(err, &e);
}

/* ---------------------------------------------------------------- load plans
 * What a load will read: one entry per dataset, checked all together
 * before anything is read, read into one staging buffer, and copied to
 * its place only when every read succeeded. */

typedef struct want {
    char *obj;      /* "/params/dense1/w" */
    nb_shape shape; /* what the model has */
    float *into;    /* the parameter's values or an optimiser slot's stretch */
    nb__rule rule;  /* what its values must be (checkpoint_state.c) */
} want;

typedef struct plan {
    nb__h5 *f;
    want *w;
    int n, cap;
    float *stage;
    bool allow_nonfinite; /* weights loaded to be looked at, NaN and all */
} plan;

static void plan_free(plan *pl)
{
    for (int i = 0; i < pl->n; i++)
        nb_free(pl->w[i].obj);
    nb_free(pl->w);
    nb_free(pl->stage);
}

/* Adds a dataset to read (obj is taken over, NULL meaning out of memory). */
static nb_status plan_add(plan *pl, char *obj, nb_shape s, float *into, nb__rule rule)
{
    if (obj && pl->n == pl->cap) {
        int cap = pl->cap ? 2 * pl->cap : 16;
        want *w = nb_realloc(pl->w, (size_t)cap * sizeof *w);
        if (w)
            pl->w = w, pl->cap = cap;
    }
    if (!obj || pl->n == pl->cap) {
        nb_free(obj);
        return nb__h5_fail(pl->f, NB_ERR_NOMEM, "out of memory for the list of %d datasets to read",
                           pl->n + 1);
    }
    pl->w[pl->n++] = (want){obj, s, into, rule};
    return NB_OK;
}

/* Every parameter of g: under its own group, or the other one if only the
 * other has it (a parameter frozen since the file was written). */
static nb_status plan_params(plan *pl, nb_graph *g)
{
    for (int i = 0; i < nb_graph_num_params(g) && nb__h5_status(pl->f) == NB_OK; i++) {
        nb_node *p = nb_graph_param(g, i);
        const char *name = param_name(pl->f, p, i);
        bool trainable = nb_param_trainable(p);
        char *obj = name ? join(trainable ? "/params" : "/state", name) : NULL;
        if (obj && !nb__h5_exists(pl->f, obj)) {
            char *other = join(trainable ? "/state" : "/params", name);
            if (other && nb__h5_exists(pl->f, other))
                nb_free(obj), obj = other;
            else
                nb_free(other);
        }
        if (name)
            plan_add(pl, obj, nb_node_shape(p), nb_param_data(p), NB__RULE_NONE);
    }
    return nb__h5_status(pl->f);
}

/* A wanted dataset that is not there: names the group when the whole group
 * is missing, else the dataset and what the model has. */
static nb_status fail_missing(plan *pl, const want *w)
{
    char group[64], shape[96];
    const char *second = strchr(w->obj + 1, '/');
    int len = second ? (int)(second - w->obj) : (int)strlen(w->obj);
    snprintf(group, sizeof group, "%.*s", len, w->obj);
    nb_shape_format(w->shape, shape, sizeof shape);
    if (!nb__h5_exists(pl->f, group))
        return nb__h5_fail(pl->f, NB_ERR_ARG, "%s: missing (the model needs %s %s there)", group,
                           w->obj, shape);
    return nb__h5_fail(pl->f, NB_ERR_ARG, "%s: missing (the model has it, %s)", w->obj, shape);
}

/* Every wanted dataset exists, is numeric and has the model's shape. */
static nb_status plan_check(plan *pl)
{
    for (int i = 0; i < pl->n && nb__h5_status(pl->f) == NB_OK; i++) {
        const want *w = &pl->w[i];
        nb_shape s;
        if (!nb__h5_exists(pl->f, w->obj))
            return fail_missing(pl, w);
        if (nb__h5_dataset_shape(pl->f, w->obj, &s) != NB_OK)
            break;
        if (!nb_shape_equal(s, w->shape)) {
            char a[96], b[96];
            return nb__h5_fail(pl->f, NB_ERR_SHAPE, "%s is %s, the model has %s", w->obj,
                               nb_shape_format(s, a, sizeof a),
                               nb_shape_format(w->shape, b, sizeof b));
        }
    }
    return nb__h5_status(pl->f);
}

/* Datasets of a group that no entry of the plan reads. */
typedef struct extras {
    plan *pl;
    const char *group;
    char list[360];
    int count;
    bool nomem;
} extras;

static bool note_extra(void *ud, const char *name)
{
    extras *x = ud;
    char *obj = join(x->group, name);
    if (!obj)
        return !(x->nomem = true);
    bool used = false;
    for (int i = 0; i < x->pl->n && !used; i++)
        used = !strcmp(x->pl->w[i].obj, obj);
    if (!used) {
        size_t at = strlen(x->list);
        if (at + strlen(obj) + 8 < sizeof x->list)
            snprintf(x->list + at, sizeof x->list - at, "%s%s", x->count ? ", " : "", obj);
        else if (!strstr(x->list, ", …"))
            snprintf(x->list + at, sizeof x->list - at, ", …");
        x->count++;
    }
    nb_free(obj);
    return true;
}

/* Refuses datasets in the groups that the model does not have. */
static nb_status plan_extras(plan *pl, const char *const *groups, int n)
{
    extras x = {.pl = pl};
    for (int i = 0; i < n && nb__h5_status(pl->f) == NB_OK && !x.nomem; i++) {
        x.group = groups[i];
        nb__h5_list_datasets(pl->f, groups[i], note_extra, &x);
    }
    if (x.nomem)
        return nb__h5_fail(pl->f, NB_ERR_NOMEM, "out of memory listing the file's datasets");
    if (x.count && nb__h5_status(pl->f) == NB_OK)
        return nb__h5_fail(pl->f, NB_ERR_ARG, "%s: not in the model (%d dataset%s the model "
                           "does not have: is this the right file?)", x.list, x.count,
                           x.count > 1 ? "s" : "");
    return nb__h5_status(pl->f);
}

/* ---------------------------------------------------------------- finite values */

/* The first of n values that is NaN or ±inf, or n. */
static int64_t first_nonfinite(const float *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return i;
    return n;
}

/* Refuses value `at` of obj (read as float32 into v): what the file holds
 * there (a float64 beyond float32's range reads back as ±inf, so the stored
 * value is read again to be named), where, and `what` must be finite. */
static nb_status fail_nonfinite(nb__h5 *f, const char *obj, int64_t at, float v, int64_t per,
                                const char *unit, nb_shape shape, const char *what)
{
    double stored = v;
    char where[400] = "", index[200] = "", dims[96];
    if (isinf(v) && nb__h5_read_double_at(f, obj, at, &stored) != NB_OK)
        return nb__h5_status(f);
    stored = isnan(stored) ? NAN : stored; /* "nan", never "-nan" */
    if (per > 0)
        snprintf(where, sizeof where, "%s %lld, value %lld of %lld", unit, (long long)(at / per),
                 (long long)(at % per), (long long)per);
    else {
        size_t used = 0;
        for (int d = 0; d < shape.rank && used < sizeof index; d++) {
            int64_t stride = 1;
            for (int k = d + 1; k < shape.rank; k++)
                stride *= shape.dim[k];
            used += (size_t)snprintf(index + used, sizeof index - used, "%s%lld", d ? ", " : "",
                                     (long long)(at / stride % shape.dim[d]));
        }
        snprintf(where, sizeof where, "element %lld ([%s] of %s)", (long long)at, index,
                 nb_shape_format(shape, dims, sizeof dims));
    }
    if (isfinite(stored))
        return nb__h5_fail(f, NB_ERR_ARG, "%s: %s is %g, beyond float32's range (±3.4e38): %s "
                           "must be finite float32 numbers", obj, where, stored, what);
    return nb__h5_fail(f, NB_ERR_ARG, "%s: %s is %g: %s must be finite numbers", obj, where,
                       stored, what);
}

/* Every staged value is finite, unless the caller allows otherwise. */
static nb_status plan_finite(plan *pl)
{
    int64_t at = 0;
    for (int i = 0; i < pl->n && !pl->allow_nonfinite; i++) {
        int64_t numel = nb_shape_numel(pl->w[i].shape);
        int64_t bad = first_nonfinite(pl->stage + at, numel);
        if (bad < numel)
            return fail_nonfinite(pl->f, pl->w[i].obj, bad, pl->stage[at + bad], 0, NULL,
                                  pl->w[i].shape, "weights");
        at += numel;
    }
    return nb__h5_status(pl->f);
}

/* Reads every wanted dataset into the staging buffer, checking its values
 * by its rule, then that every value is finite (parameters included). */
static nb_status plan_stage(plan *pl)
{
    int64_t total = 0, at = 0;
    for (int i = 0; i < pl->n; i++)
        total += nb_shape_numel(pl->w[i].shape);
    pl->stage = nb_malloc((size_t)(total > 0 ? total : 1) * sizeof(float));
    if (!pl->stage)
        return nb__h5_fail(pl->f, NB_ERR_NOMEM, "out of memory for %lld values",
                           (long long)total);
    for (int i = 0; i < pl->n && nb__h5_status(pl->f) == NB_OK; i++) {
        int64_t numel = nb_shape_numel(pl->w[i].shape);
        if (nb__h5_read_floats(pl->f, pl->w[i].obj, pl->stage + at, numel) == NB_OK)
            nb__checkpoint_check_values(pl->f, pl->w[i].obj, pl->w[i].shape, pl->stage + at,
                                        pl->w[i].rule);
        at += numel;
    }
    return nb__h5_status(pl->f) == NB_OK ? plan_finite(pl) : nb__h5_status(pl->f);
}

/* Copies the staged values to their places. */
static void plan_commit(plan *pl)
{
    int64_t at = 0;
    for (int i = 0; i < pl->n; i++) {
        int64_t numel = nb_shape_numel(pl->w[i].shape);
        memcpy(pl->w[i].into, pl->stage + at, (size_t)numel * sizeof(float));
        at += numel;
    }
}

/* ---------------------------------------------------------------- loading */

/* The root says format "nabla", version 1. */
static nb_status check_header(nb__h5 *f)
{
    char format[64];
    int64_t version = 0;
    if (!nb__h5_has_attr(f, "/", "format"))
        return nb__h5_fail(f, NB_ERR_ARG, "/: no attribute 'format': not a nabla file");
    if (nb__h5_read_attr_string(f, "/", "format", format, sizeof format) != NB_OK)
        return nb__h5_status(f);
    if (strcmp(format, FORMAT_NAME))
        return nb__h5_fail(f, NB_ERR_ARG, "/: attribute 'format' is \"%s\", not \"%s\": not a "
                           "nabla file", format, FORMAT_NAME);
    if (nb__h5_read_attr_int(f, "/", "version", &version) != NB_OK)
        return nb__h5_status(f);
    if (version != FORMAT_VERSION)
        return nb__h5_fail(f, NB_ERR_ARG, "/: format version %lld, but this nabla reads "
                           "version %d", (long long)version, FORMAT_VERSION);
    return NB_OK;
}

nb_status nb_weights_load_with(nb_graph *g, const char *path, nb_weights_opts o, nb_error *err)
{
    if (!g)
        return nb_error_set(err, NB_ERR_ARG, "%s: no graph to load into (NULL)",
                       path ? path : "weights");
    nb_error e = {0};
    nb__h5_sweep_temps(path);
    plan pl = {.f = nb__h5_open(path, &e), .allow_nonfinite = o.allow_nonfinite};
    if (!pl.f)
        return give(err, &e);
    static const char *const groups[] = {"/params", "/state"};
    if (check_header(pl.f) == NB_OK && plan_params(&pl, g) == NB_OK && plan_check(&pl) == NB_OK &&
        plan_extras(&pl, groups, 2) == NB_OK && plan_stage(&pl) == NB_OK)
        plan_commit(&pl);
    nb_status st = nb__h5_status(pl.f);
    plan_free(&pl);
    nb__h5_close(pl.f);
    return st == NB_OK ? NB_OK : give(err, &e);
}

nb_status nb_weights_load(nb_graph *g, const char *path, nb_error *err)
{
    return nb_weights_load_with(g, path, (nb_weights_opts){0}, err);
}

nb_status nb_weights_input_range(const char *path, nb_input_range *r, nb_error *err)
{
    if (!r)
        return nb_error_set(err, NB_ERR_ARG, "%s: no room for the range (NULL)",
                            path ? path : "weights");
    *r = (nb_input_range){0};
    nb_error e = {0};
    nb__h5 *f = nb__h5_open(path, &e);
    if (!f)
        return give(err, &e);
    nb_input_range got = {0};
    double x_div = 0;
    if (check_header(f) == NB_OK && nb__h5_exists(f, "/inputs")) {
        nb__h5_read_attr_int(f, "/inputs", "count", &got.count);
        nb__h5_read_attr_double(f, "/inputs", "min", &got.min);
        nb__h5_read_attr_double(f, "/inputs", "max", &got.max);
        nb__h5_read_attr_double(f, "/inputs", "mean", &got.mean);
        nb__h5_read_attr_double(f, "/inputs", "std", &got.std);
        nb__h5_read_attr_double(f, "/inputs", "x_div", &x_div);
        got.x_div = (float)x_div;
        if (nb__h5_status(f) == NB_OK &&
            !(got.count >= 1 && isfinite(got.min) && isfinite(got.max) && got.min <= got.max &&
              isfinite(got.mean) && got.std >= 0 && isfinite(got.std) && isfinite(got.x_div) &&
              got.x_div >= 0))
            nb__h5_fail(f, NB_ERR_ARG, "/inputs: count %lld, min %g, max %g, mean %g, std %g, "
                        "x_div %g do not describe inputs", (long long)got.count, got.min,
                        got.max, got.mean, got.std, x_div);
    }
    nb_status st = nb__h5_status(f);
    if (st == NB_OK)
        *r = got;
    nb__h5_close(f);
    return st == NB_OK ? NB_OK : give(err, &e);
}

char *nb_weights_model_yaml(const char *path, nb_error *err)
{
    nb_error e = {0};
    nb__h5 *f = nb__h5_open(path, &e);
    char *text = NULL;
    if (!f)
        return give(err, &e), NULL;
    if (check_header(f) == NB_OK && !nb__h5_exists(f, "/model_yaml"))
        nb__h5_fail(f, NB_ERR_ARG, "/model_yaml: missing (saved without the model's YAML)");
    if (nb__h5_status(f) == NB_OK)
        nb__h5_read_string(f, "/model_yaml", MAX_YAML_BYTES, &text);
    if (nb__h5_status(f) != NB_OK)
        give(err, &e);
    nb__h5_close(f);
    return text;
}

/* Both slots of every trainer parameter: slot0 finite; slot1 a mean of
 * squares (Adam, RMSprop) or zeros (SGD). */
static nb_status plan_slots(plan *pl, nb_trainer *t)
{
    nb_optimizer *opt = nb_trainer_optimizer(t);
    nb__rule second = nb_optimizer_kind_of(opt) == NB_OPT_SGD ? NB__RULE_ZEROS
                                                               : NB__RULE_MEAN_SQUARE;
    int64_t at = 0;
    for (int i = 0; i < nb_trainer_num_param_tensors(t) && nb__h5_status(pl->f) == NB_OK; i++) {
        nb_node *p = nb_trainer_param(t, i);
        const char *name = param_name(pl->f, p, i);
        char *dir = name ? join("/optimizer", name) : NULL;
        if (name && !dir)
            nb__h5_fail(pl->f, NB_ERR_NOMEM, "out of memory for the path of /optimizer/%s", name);
        for (int k = 0; dir && k < 2; k++)
            plan_add(pl, join(dir, k ? "slot1" : "slot0"), nb_node_shape(p),
                     nb_optimizer_slot(opt, k) + at, k ? second : NB__RULE_SLOT);
        nb_free(dir);
        at += nb_shape_numel(nb_node_shape(p));
    }
    if (nb__h5_status(pl->f) == NB_OK && at != nb_optimizer_size(opt))
        nb__h5_fail(pl->f, NB_ERR_STATE, "the trainer's parameters hold %lld values but its "
                    "optimiser %lld", (long long)at, (long long)nb_optimizer_size(opt));
    return nb__h5_status(pl->f);
}

/* /best, when the file has it: every parameter's best-epoch values, staged
 * into *buf (malloc'd here) to be handed to the trainer after the load. */
static nb_status plan_best(plan *pl, nb_graph *g, float **buf)
{
    int64_t total = 0, at = 0;
    if (!nb__h5_exists(pl->f, "/best"))
        return nb__h5_status(pl->f);
    for (int i = 0; i < nb_graph_num_params(g); i++)
        total += nb_shape_numel(nb_node_shape(nb_graph_param(g, i)));
    if (!(*buf = nb_malloc((size_t)(total ? total : 1) * sizeof(float))))
        return nb__h5_fail(pl->f, NB_ERR_NOMEM, "out of memory for the %lld best weights",
                           (long long)total);
    for (int i = 0; i < nb_graph_num_params(g) && nb__h5_status(pl->f) == NB_OK; i++) {
        nb_node *p = nb_graph_param(g, i);
        const char *name = param_name(pl->f, p, i);
        if (name)
            plan_add(pl, join("/best", name), nb_node_shape(p), *buf + at, NB__RULE_BEST);
        at += nb_shape_numel(nb_node_shape(p));
    }
    return nb__h5_status(pl->f);
}

/*
 * Loads a checkpoint into t: the parameters, frozen state and training
 * position, and, unless weights_only, the optimiser's slots and step count
 * (else they restart at zero). Refused before anything changes when the
 * file was written by another architecture or optimiser kind.
 */
static nb_status checkpoint_load(nb_trainer *t, const char *path, bool weights_only,
                                 nb_error *err)
{
    if (!t || !nb_trainer_optimizer(t))
        return nb_error_set(err, NB_ERR_ARG, "%s: no trainer to load into (NULL)",
                       path ? path : "checkpoint");
    nb_error e = {0};
    nb__h5_sweep_temps(path);
    plan pl = {.f = nb__h5_open(path, &e)};
    if (!pl.f)
        return give(err, &e);
    static const char *const groups[] = {"/params", "/state", "/best", "/optimizer"};
    nb_train_state s = {0};
    int64_t steps = 0, n_best = 0;
    float *best = NULL, *into;
    if (check_header(pl.f) == NB_OK && nb__checkpoint_read_train(pl.f, &s, &steps) == NB_OK &&
        plan_params(&pl, nb_trainer_graph(t)) == NB_OK &&
        (weights_only || plan_slots(&pl, t) == NB_OK) &&
        plan_best(&pl, nb_trainer_graph(t), &best) == NB_OK && plan_check(&pl) == NB_OK &&
        plan_extras(&pl, groups, weights_only ? 3 : 4) == NB_OK &&
        nb__checkpoint_check(pl.f, t, weights_only) == NB_OK && plan_stage(&pl) == NB_OK) {
        plan_commit(&pl);
        nb_optimizer *opt = nb_trainer_optimizer(t);
        if (weights_only)
            for (int k = 0; k < 2; k++)
                memset(nb_optimizer_slot(opt, k), 0,
                       (size_t)nb_optimizer_size(opt) * sizeof(float));
        *nb_optimizer_steps(opt) = weights_only ? 0 : steps;
        nb_trainer_set_state(t, &s);
        if (best && s.best_epoch > 0 && (into = nb_trainer_best_weights(t, &n_best)))
            memcpy(into, best, (size_t)n_best * sizeof(float));
    }
    nb_free(best);
    nb_status st = nb__h5_status(pl.f);
    plan_free(&pl);
    nb__h5_close(pl.f);
    return st == NB_OK ? NB_OK : give(err, &e);
}

nb_status nb_checkpoint_load(nb_trainer *t, const char *path, nb_error *err)
{
    return checkpoint_load(t, path, false, err);
}

nb_status nb_checkpoint_load_weights(nb_trainer *t, const char *path, nb_error *err)
{
    return checkpoint_load(t, path, true, err);
}

/* ---------------------------------------------------------------- datasets */

/* "/X" for "X"; the name as it is when it starts with '/'. */
static char *absolute(const char *name)
{
    return name[0] == '/' ? join(NULL, name + 1) : join(NULL, name);
}

/* The shapes of X (rank ≥ 1) and y ([N] or [N, k]) and their agreement;
 * yo NULL: examples only. */
static nb_status dataset_shapes(nb__h5 *f, const char *xo, const char *yo, nb_shape *xs,
                                nb_shape *ys)
{
    char a[96], b[96];
    if (nb__h5_dataset_shape(f, xo, xs) != NB_OK || (yo && nb__h5_dataset_shape(f, yo, ys) != NB_OK))
        return nb__h5_status(f);
    nb_shape_format(*xs, a, sizeof a);
    nb_shape_format(*ys, b, sizeof b);
    if (xs->rank < 1)
        return nb__h5_fail(f, NB_ERR_SHAPE, "%s: a scalar; examples need shape [N, …]", xo);
    if (yo && (ys->rank < 1 || ys->rank > 2))
        return nb__h5_fail(f, NB_ERR_SHAPE, "%s is %s; targets need shape [N] or [N, k]", yo, b);
    if (yo && xs->dim[0] != ys->dim[0])
        return nb__h5_fail(f, NB_ERR_SHAPE, "%s has %lld examples (%s) but %s has %lld (%s)", xo,
                           (long long)xs->dim[0], a, yo, (long long)ys->dim[0], b);
    if (xs->dim[0] < 1)
        return nb__h5_fail(f, NB_ERR_SHAPE, "%s: no examples (%s)", xo, a);
    return NB_OK;
}

/* max(y) + 1 when y holds one integer in [0, 65536) per example, else 0. */
static int class_count(const nb_dataset *ds)
{
    float max = 0;
    if (ds->y_width != 1)
        return 0;
    for (int64_t i = 0; i < ds->n; i++) {
        float v = ds->y[i];
        if (!(v >= 0 && v < 65536 && v == floorf(v)))
            return 0;
        max = v > max ? v : max;
    }
    return (int)max + 1;
}

/* Reads x (as bytes when `bytes`) and y (unless yo is NULL) into a new
 * dataset of n examples. */
static nb_dataset *dataset_read(nb__h5 *f, const char *xo, const char *yo, nb_shape xs,
                                nb_shape ys, bool bytes)
{
    nb_shape ex = {.rank = xs.rank - 1};
    for (int i = 1; i < xs.rank; i++)
        ex.dim[i - 1] = xs.dim[i];
    int64_t y_width = !yo ? 0 : ys.rank == 2 ? ys.dim[1] : 1;
    nb_error e = {0};
    nb_dataset *ds = bytes ? nb_dataset_new_u8(xs.dim[0], ex, y_width, 1, &e)
                           : nb_dataset_new(xs.dim[0], ex, y_width, &e);
    if (!ds) {
        nb__h5_fail(f, e.status, "%s%s%s: %s", xo, yo ? ", " : "", yo ? yo : "", e.message);
        return NULL;
    }
    nb_status st = bytes ? nb__h5_read_u8(f, xo, ds->x_u8, nb_shape_numel(xs))
                         : nb__h5_read_floats(f, xo, ds->x, nb_shape_numel(xs));
    if (st == NB_OK && yo)
        st = nb__h5_read_floats(f, yo, ds->y, nb_shape_numel(ys));
    if (st == NB_OK) {
        ds->n_classes = yo && ys.rank == 1 ? class_count(ds) : 0;
        return ds;
    }
    nb_dataset_free(ds);
    return NULL;
}

/* Every value of x (floats) and y is finite: refuses the first that is
 * not, naming the dataset, the example and the value. */
static nb_status dataset_finite(nb__h5 *f, const char *xo, const char *yo, const nb_dataset *ds)
{
    int64_t per = nb_shape_numel(ds->shape), n = ds->x ? ds->n * per : 0;
    int64_t bad = ds->x ? first_nonfinite(ds->x, n) : n;
    if (bad < n)
        return fail_nonfinite(f, xo, bad, ds->x[bad], per, "example", NB_SCALAR, "examples");
    n = ds->y ? ds->n * ds->y_width : 0;
    bad = ds->y ? first_nonfinite(ds->y, n) : n;
    if (bad < n)
        return fail_nonfinite(f, yo, bad, ds->y[bad], ds->y_width, "example", NB_SCALAR,
                              "targets");
    return NB_OK;
}

nb_dataset *nb_hdf5_data_load(const char *path, nb_hdf5_data_opts o, nb_error *err)
{
    nb_error e = {0};
    char xbuf[1100];
    char *yo = o.no_targets ? NULL : absolute(o.y && *o.y ? o.y : "y");
    nb__h5 *f = yo || o.no_targets ? nb__h5_open(path, &e) : NULL;
    nb_dataset *ds = NULL;
    if (!yo && !o.no_targets)
        nb_error_set(&e, NB_ERR_NOMEM, "%s: out of memory for the dataset names",
                     path ? path : "dataset");
    /* a model's inputs: each from its dataset (hdf5_inputs.c) */
    const char *xo = f && (!o.model || nb__h5_check_sources(f, &o) == NB_OK)
                         ? nb__h5_x_dataset(f, &o, xbuf, sizeof xbuf) : NULL;
    nb_shape xs = NB_SCALAR, ys = NB_SCALAR;
    if (xo && dataset_shapes(f, xo, yo, &xs, &ys) == NB_OK)
        ds = dataset_read(f, xo, yo, xs, ys, o.keep_bytes && nb__h5_is_u8(f, xo));
    if (ds && ((!o.allow_nonfinite && dataset_finite(f, xo, yo, ds) != NB_OK) ||
               nb__h5_read_extra(f, &o, xo, ds) != NB_OK)) {
        nb_dataset_free(ds);
        ds = NULL;
    }
    if (!ds)
        give(err, &e);
    nb__h5_close(f);
    nb_free(yo);
    return ds;
}

nb_dataset *nb_hdf5_dataset_load(const char *path, const char *x_name, const char *y_name,
                                 nb_error *err)
{
    return nb_hdf5_data_load(path, (nb_hdf5_data_opts){.x = x_name, .y = y_name}, err);
}

/* ---------------------------------------------------------------- arrays */

/* A name nb_hdf5_write accepts: non-empty parts between single slashes. */
static bool name_ok(const char *name)
{
    if (!name || !*name)
        return false;
    const char *s = name[0] == '/' ? name + 1 : name;
    return *s && s[strlen(s) - 1] != '/' && !strstr(s, "//");
}

/* Refuses an array the file could not hold as given. */
static nb_status check_array(const char *path, const nb_array *a, int i, nb_error *err)
{
    if (!name_ok(a->name))
        return nb_error_set(err, NB_ERR_ARG, "%s: array %d: bad name \"%s\" (need parts like "
                       "\"a/b\", none empty)", path, i, a->name ? a->name : "(NULL)");
    if (a->shape.rank < 0 || a->shape.rank > NB_MAX_RANK)
        return nb_error_set(err, NB_ERR_SHAPE, "%s: %s: rank %d (0 to %d)", path, a->name,
                       a->shape.rank, NB_MAX_RANK);
    for (int d = 0; d < a->shape.rank; d++)
        if (a->shape.dim[d] < 0)
            return nb_error_set(err, NB_ERR_SHAPE, "%s: %s: dimension %d is %lld", path, a->name, d,
                           (long long)a->shape.dim[d]);
    if (!a->data && nb_shape_numel(a->shape) > 0)
        return nb_error_set(err, NB_ERR_ARG, "%s: %s: no data (NULL)", path, a->name);
    return NB_OK;
}

nb_status nb_hdf5_write(const char *path, const nb_array *arrays, int n, nb_error *err)
{
    if (!path || !*path)
        return nb_error_set(err, NB_ERR_ARG, "hdf5: no file name given");
    if (n < 0 || (n > 0 && !arrays))
        return nb_error_set(err, NB_ERR_ARG, "%s: %d arrays%s", path, n, arrays ? "" : " (NULL)");
    for (int i = 0; i < n; i++) {
        nb_status st = check_array(path, &arrays[i], i, err);
        if (st != NB_OK)
            return st;
    }
    nb_error e = {0};
    nb__h5 *f = nb__h5_create(path, &e);
    if (!f)
        return give(err, &e);
    write_header(f, NULL);
    for (int i = 0; i < n && nb__h5_status(f) == NB_OK; i++) {
        char *obj = absolute(arrays[i].name);
        if (!obj)
            nb__h5_fail(f, NB_ERR_NOMEM, "out of memory for the path of array '%s'",
                        arrays[i].name);
        else
            nb__h5_write_floats(f, obj, arrays[i].shape, arrays[i].data);
        nb_free(obj);
    }
    return nb__h5_commit(f) == NB_OK ? NB_OK : give(err, &e);
}
