/*
 * trainer.c — the training loop. The trainer owns a graph and builds the
 * user's model into it once per (batch size, mode) it needs: the training
 * batch, a shorter last batch, and the inference versions for evaluation,
 * all sharing parameters by name. A step copies a minibatch in, runs
 * forward and backward in one runtime, clips, updates, applies state
 * updates (batch norm's running statistics) and tracks the lecture's
 * running loss estimate Q = (1 - η)Q + ηε. Nothing is allocated per step.
 * Without clipping, the optimiser reads each gradient where the runtime left
 * it; a gradient the runtime leaves as an outer product (a dense weight's at
 * batch 1, nb_runtime_new_outer) is never formed: the update reads its two
 * vectors.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train_internal.h"

#define MAX_INSTANCES 32

/* One build of the model: its nodes and the runtime computing them. */
typedef struct instance {
    int64_t batch;
    bool training;
    nb_model_io io;
    nb_runtime *rt;
    nb_runtime *out_rt;      /* inference, made by predictions: the output alone (x only) */
    nb_node **grads;         /* training: one per trainable parameter */
    int first_update, n_updates; /* this build's state updates */
    bool skip;               /* a short training batch the model cannot train on */
} instance;

struct nb_trainer {
    nb_graph *g;
    nb_model_fn build;
    void *ud;
    nb_shape shape;          /* one example */
    int64_t numel, y_width;
    int64_t classes;         /* > 0: the targets are class indices 0..classes-1 */
    const nb_node *scores;   /* the node whose columns the classes are, or NULL */
    nb_train_opts o;
    nb_rng rng;              /* presentation order and dropout masks */
    instance inst[MAX_INSTANCES];
    int n_inst;
    nb_node **params;        /* trainable, in the graph's order */
    int n_params;
    nb_optimizer *opt;
    float *grads;            /* every gradient, end to end */
    nb__grad_src *gsrc;      /* per trainable parameter: where its gradient is this step */
    float *xb, *yb;          /* one staged minibatch */
    nb__feed feed;           /* and its inputs after x (feed.c) */
    int64_t staged;          /* examples xb and yb hold room for */
    int64_t *order;
    int64_t order_n;
    int64_t global_step;
    int64_t skipped;         /* examples of short batches skipped (see instance.skip) */
    int epochs_done;
    double q;
    int best_epoch, bad_epochs; /* validation: the best epoch, epochs since it */
    double best;                /* its monitored metric */
    float *best_w;              /* early stopping: every parameter at best_epoch */
    int64_t best_n;
    nb_status status;        /* of the last error, which err describes */
    nb__range_acc seen;         /* inputs trained on: the last fit's set, or every step's */
    float seen_x_div;           /* its byte divisor (0: floats) */
    const int64_t *held;        /* during a fit holding out a validation fraction: the held
                                   indices (ascending), to name examples as the caller counts */
    int64_t n_held;
    nb_dist *dist;              /* the group, when it has more than one rank; else NULL */
    int64_t share_at, share_of; /* during a data-parallel step: this rank's first example
                                   in the global batch, and that batch's size (0: none) */
    nb__dsum *dsum;             /* data-parallel: what the ranks sum each step */
    int64_t state_n;            /* floats of the state updates (batch norm statistics) */
    char err[512];
};

/* What the ranks sum after a step (t->dsum): every state update's value
 * (batch norm's running statistics) weighted by the rank's part of the
 * batch, then these; then every gradient (dist_sum.c), weighted alike. */
enum { SUM_LOSS, SUM_HITS, SUM_FAILED, SUM_SKIPPED, SUM_TAIL };

/* ---------------------------------------------------------------- errors */

static nb_status fail(nb_trainer *t, nb_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->err, sizeof t->err, fmt, ap);
    va_end(ap);
    t->status = st;
    return st;
}

nb_status nb__trainer_fail(nb_trainer *t, nb_status st, const char *message)
{
    return fail(t, st, "%s", message);
}

nb_status nb__trainer_status(const nb_trainer *t)
{
    return t->status != NB_OK ? t->status : NB_ERR_STATE;
}

const char *nb_trainer_error(const nb_trainer *t)
{
    return t ? t->err : "no trainer (NULL)";
}

/* ---------------------------------------------------------------- building */

/* The callback's nodes must be there and fit the data: x [batch, shape…],
 * y [batch] or [batch, y_width], a scalar loss. */
static nb_status check_io(nb_trainer *t, const instance *in)
{
    const nb_model_io *io = &in->io;
    if (!io->x || !io->y || !io->output || !io->loss)
        return fail(t, NB_ERR_ARG, "train: the model left %s unset",
                    !io->x ? "x" : !io->y ? "y" : !io->output ? "output" : "loss");
    nb_shape xs = nb_node_shape(io->x), ys = nb_node_shape(io->y);
    bool x_ok = xs.rank == t->shape.rank + 1 && xs.dim[0] == in->batch;
    for (int i = 0; x_ok && i < t->shape.rank; i++)
        x_ok = xs.dim[i + 1] == t->shape.dim[i];
    bool y_ok = ys.rank >= 1 && ys.dim[0] == in->batch && nb_shape_numel(ys) == in->batch * t->y_width;
    char a[128], b[128];
    if (!x_ok)
        return fail(t, NB_ERR_SHAPE, "train: model input x is %s; the data needs [%lld, …%s]",
                    nb_shape_format(xs, a, sizeof a), (long long)in->batch,
                    nb_shape_format(t->shape, b, sizeof b));
    if (!y_ok)
        return fail(t, NB_ERR_SHAPE, "train: model targets y are %s; the data has %lld per example",
                    nb_shape_format(ys, a, sizeof a), (long long)t->y_width);
    if (nb_shape_numel(nb_node_shape(io->loss)) != 1)
        return fail(t, NB_ERR_SHAPE, "train: the loss is %s, not a scalar",
                    nb_shape_format(nb_node_shape(io->loss), a, sizeof a));
    char m[sizeof t->err];
    nb_status st = nb__feed_check_io(io, t->n_inst ? &t->inst[0].io : NULL, in->batch, m, sizeof m);
    return st == NB_OK ? NB_OK : fail(t, st, "%s", m);
}

/* The trainable parameters after the first build: what the optimiser owns. */
static nb_status collect_params(nb_trainer *t)
{
    int n = nb_graph_num_params(t->g);
    t->params = nb_malloc((size_t)(n ? n : 1) * sizeof *t->params);
    if (!t->params)
        return fail(t, NB_ERR_NOMEM, "train: out of memory for the list of %d parameters", n);
    for (int i = 0; i < n; i++)
        if (nb_param_trainable(nb_graph_param(t->g, i)))
            t->params[t->n_params++] = nb_graph_param(t->g, i);
    if (t->n_params == 0)
        return fail(t, NB_ERR_ARG, "train: the model has no trainable parameters");
    return NB_OK;
}

/* Outputs of a training runtime: loss, output, gradients, update values.
 * The gradients may be left as outer products (nb_runtime_new_outer): the
 * update reads their vectors (locate_grads). */
static nb_status compile_training(nb_trainer *t, instance *in)
{
    nb_graph *g = t->g;
    in->grads = nb_malloc((size_t)t->n_params * sizeof *in->grads);
    int n_out = 2 + t->n_params + in->n_updates;
    nb_node **outs = nb_malloc((size_t)n_out * sizeof *outs);
    bool *outer = nb_malloc((size_t)n_out * sizeof *outer);
    if (!in->grads || !outs || !outer) {
        nb_free(outs);
        nb_free(outer);
        return fail(t, NB_ERR_NOMEM, "train: out of memory for the lists of %d gradients and "
                    "%d outputs", t->n_params, n_out);
    }
    nb_status st = nb_grad(g, in->io.loss, t->params, t->n_params, in->grads);
    if (st == NB_OK) {
        outs[0] = in->io.loss;
        outs[1] = in->io.output;
        int at = 2;
        for (int i = 0; i < t->n_params; i++)
            outs[at++] = in->grads[i];
        for (int u = 0; u < in->n_updates; u++)
            nb_graph_update(g, in->first_update + u, NULL, &outs[at++]);
        for (int i = 0; i < at; i++)
            outer[i] = i >= 2 && i < 2 + t->n_params;
        in->rt = nb_runtime_new_outer(g, outs, at, outer);
    }
    nb_free(outs);
    nb_free(outer);
    if (st != NB_OK || !in->rt)
        return fail(t, st != NB_OK ? st : nb_graph_status(g), "train: %s", nb_graph_error(g));
    return NB_OK;
}

/* Builds the model for (batch, training) through the callback and compiles
 * its runtime; the first build makes the parameters, later ones reuse them. */
static instance *build_instance(nb_trainer *t, int64_t batch, bool training)
{
    if (t->n_inst == MAX_INSTANCES) {
        fail(t, NB_ERR_STATE, "train: more than %d model builds", MAX_INSTANCES);
        return NULL;
    }
    instance *in = &t->inst[t->n_inst];
    *in = (instance){.batch = batch, .training = training};
    nb_graph *g = t->g;
    nb_graph_set_training(g, training);
    nb_graph_set_reuse(g, t->n_inst > 0);
    in->first_update = nb_graph_num_updates(g);
    nb_status st = t->build(g, batch, &in->io, t->ud);
    in->n_updates = nb_graph_num_updates(g) - in->first_update;
    if (st != NB_OK || nb_graph_status(g) != NB_OK) {
        st = st != NB_OK ? st : nb_graph_status(g);
        fail(t, st, "train: building the model (batch %lld): %s", (long long)batch,
             nb_graph_error(g));
        /* The model built at the full batch, so a shorter one it cannot train
         * on (batch norm's one value per channel) is skipped, not fatal. */
        if (!training || t->n_inst == 0 || batch >= t->o.batch || st == NB_ERR_NOMEM)
            return NULL;
        nb_graph_clear_error(g);
        in->skip = true;
        t->n_inst++;
    }
    if (in->skip)
        return in;
    if (check_io(t, in) != NB_OK || (t->n_inst == 0 && collect_params(t) != NB_OK))
        return NULL;
    nb_node *eval_outs[] = {in->io.loss, in->io.output};
    if (training ? compile_training(t, in) != NB_OK : !(in->rt = nb_runtime_new(g, eval_outs, 2))) {
        if (!training)
            fail(t, nb_graph_status(g), "train: %s", nb_graph_error(g));
        nb_free(in->grads);
        return NULL;
    }
    t->n_inst++;
    return in;
}

/* The build for (batch, training), made on first use. */
static instance *instance_for(nb_trainer *t, int64_t batch, bool training)
{
    for (int i = 0; i < t->n_inst; i++)
        if (t->inst[i].batch == batch && t->inst[i].training == training)
            return &t->inst[i];
    return build_instance(t, batch, training);
}

/* ---------------------------------------------------------------- life */

static int64_t share(const nb_trainer *t, int64_t b, int64_t *at);

/* Floats of the first build's state updates (batch norm's statistics). */
static int64_t state_floats(const nb_trainer *t)
{
    int64_t n = 0;
    for (int u = 0; u < t->inst[0].n_updates; u++) {
        nb_node *state;
        nb_graph_update(t->g, t->inst[0].first_update + u, &state, NULL);
        n += nb_shape_numel(nb_node_shape(state));
    }
    return n;
}

static nb_train_opts defaults(const nb_train_opts *opts)
{
    nb_train_opts o = opts ? *opts : (nb_train_opts){0};
    o.batch = o.batch > 0 ? o.batch : 32;
    o.epochs = o.epochs > 0 ? o.epochs : 1;
    o.q_eta = o.q_eta > 0 ? o.q_eta : 0.01;
    o.q_stop_window = o.q_stop_window > 0 ? o.q_stop_window : 1000;
    o.eval_batch = o.eval_batch > 0 ? o.eval_batch : 256;
    if (o.optimizer.lr <= 0)
        o.optimizer.lr = o.optimizer.kind == NB_OPT_SGD ? 0.01f : 0.001f;
    return o;
}

/* Validation and early stopping options that cannot work, refused before
 * anything is built. */
static nb_status check_opts(nb_trainer *t)
{
    const nb_train_opts *o = &t->o;
    bool validated = o->validation > 0 || o->validation_data;
    if (!(o->validation >= 0 && o->validation < 1))
        return fail(t, NB_ERR_ARG, "train: validation %g is not a fraction of the training set "
                    "(0 < validation < 1; 0: none)", o->validation);
    if (o->validation > 0 && o->validation_data)
        return fail(t, NB_ERR_ARG, "train: validation %g and validation_data are both given; "
                    "hold out a fraction or pass a set, not both", o->validation);
    if (o->patience < 0)
        return fail(t, NB_ERR_ARG, "train: patience %d is negative (0: no early stopping)",
                    o->patience);
    if (!(o->min_delta >= 0) || !isfinite(o->min_delta))
        return fail(t, NB_ERR_ARG, "train: min_delta %g is not a finite number >= 0",
                    o->min_delta);
    if (o->monitor != NB_MONITOR_VAL_LOSS && o->monitor != NB_MONITOR_VAL_ACC)
        return fail(t, NB_ERR_ARG, "train: monitor %d is neither NB_MONITOR_VAL_LOSS nor "
                    "NB_MONITOR_VAL_ACC", (int)o->monitor);
    if (o->patience > 0 && !validated)
        return fail(t, NB_ERR_ARG, "train: patience %d (early stopping) needs a validation set: "
                    "give validation (a fraction) or validation_data", o->patience);
    return NB_OK;
}

/* Room to stage `batch` examples, allocated once (the largest batch seen). */
static nb_status stage_room(nb_trainer *t, int64_t batch)
{
    if (batch <= t->staged)
        return NB_OK;
    nb_free(t->xb);
    nb_free(t->yb);
    t->xb = nb_malloc((size_t)(batch * t->numel) * sizeof(float));
    t->yb = nb_malloc((size_t)(batch * t->y_width) * sizeof(float));
    t->staged = t->xb && t->yb && nb__feed_room(&t->feed, &t->inst[0].io, batch) == NB_OK ? batch
                                                                                        : 0;
    return t->staged ? NB_OK : fail(t, NB_ERR_NOMEM, "train: out of memory for a batch");
}

static void copy_error(nb_trainer *t, nb_error *err)
{
    if (err) {
        err->status = t->status != NB_OK ? t->status : NB_ERR_ARG;
        snprintf(err->message, sizeof err->message, "%s", t->err);
    }
}

nb_trainer *nb_trainer_new(nb_model_fn build, void *ud, nb_shape example_shape, int64_t y_width,
                           const nb_train_opts *opts, nb_error *err)
{
    nb_trainer *t = nb_calloc(1, sizeof *t);
    if (!t || !build || y_width < 1) {
        if (err)
            *err = (nb_error){.status = t ? NB_ERR_ARG : NB_ERR_NOMEM};
        if (err)
            snprintf(err->message, sizeof err->message, "train: %s",
                     !t ? "out of memory for a trainer" : !build ? "no model function" : "y_width must be >= 1");
        nb_free(t);
        return NULL;
    }
    t->build = build;
    t->ud = ud;
    t->shape = example_shape;
    t->numel = nb_shape_numel(example_shape);
    t->y_width = y_width;
    t->o = defaults(opts);
    t->dist = nb_dist_size(t->o.dist) > 1 ? t->o.dist : NULL;
    t->rng = nb_rng_seed(t->o.seed ^ 0x5851F42D4C957F2Dull);
    t->g = nb_graph_new();
    if (!t->g) {
        fail(t, NB_ERR_NOMEM, "train: out of memory for the model's graph");
    } else if (check_opts(t) == NB_OK) {
        nb_graph_seed(t->g, t->o.seed);
        int64_t at, first = t->dist ? share(t, t->o.batch, &at) : t->o.batch;
        first += first == 0; /* a rank with no part of the batch still holds the model */
        if (instance_for(t, first, true) && stage_room(t, first) == NB_OK) {
            t->classes = nb_node_classes(t->inst[0].io.y, &t->scores);
            nb_error oe = {0};
            t->opt = nb_optimizer_new(t->o.optimizer, t->params, t->n_params, &oe);
            t->grads = t->opt ? nb_malloc((size_t)nb_optimizer_size(t->opt) * sizeof(float)) : NULL;
            t->gsrc = nb_malloc((size_t)t->n_params * sizeof *t->gsrc);
            t->state_n = state_floats(t);
            t->dsum = t->opt && t->dist ? nb__dsum_new(t->dist, t->params, t->n_params,
                                                       t->state_n + SUM_TAIL) : NULL;
            if (t->grads && t->gsrc && (t->dsum || !t->dist))
                return t;
            if (!t->opt)
                fail(t, oe.status, "train: %s", oe.message);
            else
                fail(t, NB_ERR_NOMEM, "train: out of memory for the optimiser's state and the "
                     "gradients of %lld values", (long long)nb_trainer_num_param_values(t));
        }
    }
    copy_error(t, err);
    nb_trainer_free(t);
    return NULL;
}

void nb_trainer_free(nb_trainer *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n_inst; i++) {
        nb_runtime_free(t->inst[i].rt);
        nb_runtime_free(t->inst[i].out_rt);
        nb_free(t->inst[i].grads);
    }
    nb_optimizer_free(t->opt);
    nb_graph_free(t->g);
    nb_free(t->params);
    nb_free(t->grads);
    nb_free(t->gsrc);
    nb_free(t->xb);
    nb_free(t->yb);
    nb__feed_free(&t->feed);
    nb_free(t->order);
    nb_free(t->best_w);
    nb__dsum_free(t->dsum);
    nb_free(t);
}

nb_graph *nb_trainer_graph(nb_trainer *t)
{
    return t ? t->g : NULL;
}

/* ---------------------------------------------------------------- one batch */

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
        return fail(t, NB_ERR_ARG, "train: label %.9g of %s example %lld is outside 0…%lld (%s)",
                    v, which, (long long)(i / ds->y_width), (long long)t->classes - 1, whose);
    return fail(t, NB_ERR_ARG, "train: label %.9g of %s example %lld is not a class index (an "
                "integer in 0…%lld; %s)", v, which, (long long)(i / ds->y_width),
                (long long)t->classes - 1, whose);
}

static nb_status check_data(nb_trainer *t, const nb_dataset *ds, const char *which)
{
    char a[128], b[128];
    if (!ds || ds->n < 1)
        return fail(t, NB_ERR_ARG, "train: the %s set is empty", which);
    if (!nb_shape_equal(ds->shape, t->shape) || ds->y_width != t->y_width)
        return fail(t, NB_ERR_SHAPE,
                    "train: the %s set holds examples %s with %lld targets; the model takes %s "
                    "with %lld",
                    which, nb_shape_format(ds->shape, a, sizeof a), (long long)ds->y_width,
                    nb_shape_format(t->shape, b, sizeof b), (long long)t->y_width);
    char m[sizeof t->err];
    nb_status st = nb__feed_check(t->g, &t->inst[0].io, ds, which, m, sizeof m);
    return st == NB_OK ? check_labels(t, ds, which) : fail(t, st, "%s", m);
}

/* Refuses the first value of a set (`which`: "training", "this step's")
 * that nb_dataset_check_values refuses, naming the set, and adds its inputs
 * to acc (NULL: not kept). */
static nb_status check_values(nb_trainer *t, const nb_dataset *ds, const char *which,
                              nb__range_acc *acc)
{
    nb_error e; /* filled on a refusal; clearing its 516 bytes was a tenth of a tiny step */
    if (nb_dataset_check_values(ds, &e) != NB_OK)
        return fail(t, e.status, "train: %s %s", which, e.message);
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
    nb_status st = check_data(t, ds, which);
    if (st == NB_OK)
        st = check_values(t, ds, which, &seen);
    if (st == NB_OK) {
        t->seen = seen; /* what this method trains on, as fit keeps it */
        t->seen_x_div = ds->x ? 0 : ds->x_div;
    }
    return st;
}

/* Copies examples idx[0..batch) (or start.. in order when idx is NULL)
 * into the staging buffers as floats (nb_dataset_gather converts a byte
 * dataset here, one minibatch at a time) and feeds them. */
static nb_status feed(nb_trainer *t, instance *in, const nb_dataset *ds, const int64_t *idx,
                      int64_t start)
{
    nb_error e;
    if (in->skip)
        return NB_ERR_STATE; /* t->err says why the model did not build */
    if (nb_dataset_gather(ds, idx, start, in->batch, t->xb, t->yb, &e) != NB_OK)
        return fail(t, e.status, "train: %s", e.message);
    if (nb__feed_set(&t->feed, in->rt, &in->io, &t->inst[0].io, ds, idx, start, in->batch,
                     &e) != NB_OK)
        return fail(t, e.status, "train: %s", e.message);
    nb_status st = nb_runtime_set_input(in->rt, in->io.x, t->xb);
    if (st == NB_OK)
        st = nb_runtime_set_input(in->rt, in->io.y, t->yb);
    if (t->share_of > 0) /* a share of a global batch: its rows of the global batch's masks */
        nb_runtime_fill_noise_rows(in->rt, &t->rng, in->batch, t->share_at, t->share_of);
    else
        nb_runtime_fill_noise(in->rt, &t->rng);
    if (st == NB_OK)
        st = nb_runtime_run(in->rt);
    return st == NB_OK ? NB_OK
                       : fail(t, st, "train: %s", nb__message_detail(nb_runtime_error(in->rt)));
}

/* Correct predictions in the batch just run: argmax against a class index,
 * or, for one output per example, output > 0 against target > 0.5 (logits
 * and margins; labels 0/1 or -1/+1 alike). */
static int64_t correct(const nb_trainer *t, const instance *in)
{
    const float *out = nb_runtime_value(in->rt, in->io.output);
    int64_t width = nb_shape_numel(nb_node_shape(in->io.output)) / in->batch, hits = 0;
    for (int64_t b = 0; b < in->batch; b++) {
        const float *o = out + b * width;
        float y = t->yb[b * t->y_width];
        if (width == 1) {
            hits += (o[0] > 0) == (y > 0.5f);
            continue;
        }
        int64_t best = 0;
        for (int64_t c = 1; c < width; c++)
            if (o[c] > o[best])
                best = c;
        hits += best == (int64_t)y;
    }
    return hits;
}

/* Where each parameter's gradient is after the batch just run, in
 * t->gsrc: the runtime's value, or the two vectors of an outer product. */
static void locate_grads(nb_trainer *t, const instance *in)
{
    for (int i = 0; i < t->n_params; i++) {
        nb__grad_src *s = &t->gsrc[i];
        const float *g = nb_runtime_value(in->rt, in->grads[i]), *u, *v;
        if (!g && nb_runtime_outer(in->rt, in->grads[i], &u, &v)) {
            nb_shape ps = nb_node_shape(t->params[i]);
            *s = (nb__grad_src){.u = u, .v = v, .n = ps.dim[ps.rank - 1]};
        } else {
            *s = (nb__grad_src){.g = g};
        }
    }
}

/* Copies the batch's gradients times scale into dst, end to end (forming
 * outer products: u[i]·v[j], the product the matmul would give); returns
 * the count. */
static int64_t gather(nb_trainer *t, const instance *in, float *dst, float scale)
{
    int64_t at = 0;
    locate_grads(t, in);
    for (int i = 0; i < t->n_params; i++) {
        const nb__grad_src *s = &t->gsrc[i];
        int64_t n = nb_shape_numel(nb_node_shape(t->params[i]));
        if (s->g && scale == 1)
            memcpy(dst + at, s->g, (size_t)n * sizeof(float));
        else if (s->g)
            for (int64_t e = 0; e < n; e++)
                dst[at + e] = scale * s->g[e];
        else
            for (int64_t e = 0; e < n; e++)
                dst[at + e] = scale * (s->u[e / s->n] * s->v[e % s->n]);
        at += n;
    }
    return at;
}

/* Updates parameters and state after first_bad_grad found every gradient
 * finite (t->gsrc is where it located them). Clipping needs the gradients
 * end to end (gathered, then scaled); otherwise the optimiser reads each
 * one where the runtime left it. */
static void update(nb_trainer *t, instance *in)
{
    float lr = nb_schedule_lr(t->o.schedule, t->o.optimizer.lr, t->global_step);
    if (t->o.clip_norm > 0) {
        nb_clip_grad_norm(t->grads, gather(t, in, t->grads, 1), t->o.clip_norm);
        nb_optimizer_step(t->opt, t->grads, lr);
    } else {
        nb__optimizer_step_src(t->opt, t->gsrc, lr);
    }
    for (int u = 0; u < in->n_updates; u++) {
        nb_node *state, *value;
        nb_graph_update(t->g, in->first_update + u, &state, &value);
        memcpy(nb_param_data(state), nb_runtime_value(in->rt, value),
               (size_t)nb_shape_numel(nb_node_shape(state)) * sizeof(float));
    }
}

/* ---------------------------------------------------------------- non-finite steps */

/* The largest |v[i]| of n values. */
static double max_abs(const float *v, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        m = fabs(v[i]) > m ? fabs(v[i]) : m;
    return m;
}

/* The first trainable parameter whose gradient (after the batch just run)
 * is not finite everywhere, or n_params when all are: an outer-product
 * gradient u ⊗ v is checked through its vectors (finite, and no product
 * beyond float32's range). Costs one read of every gradient. */
static int first_bad_grad(nb_trainer *t, const instance *in)
{
    locate_grads(t, in);
    for (int i = 0; i < t->n_params; i++) {
        const nb__grad_src *s = &t->gsrc[i];
        int64_t n = nb_shape_numel(nb_node_shape(t->params[i]));
        bool ok = s->g ? nb__all_finite(s->g, n)
                       : nb__all_finite(s->u, n / s->n) && nb__all_finite(s->v, s->n) &&
                             max_abs(s->u, n / s->n) * max_abs(s->v, s->n) <= 3.4028234663852886e38;
        if (!ok)
            return i;
    }
    return t->n_params;
}

/* Example k of the batch just staged, as the caller counts: its index in
 * the set given to fit (through the held-out indices when a validation
 * fraction was split off), else its place in the step's examples. */
static int64_t example_index(const nb_trainer *t, const int64_t *idx, int64_t start, int64_t k)
{
    int64_t i = idx ? idx[k] : start + k;
    for (int64_t h = 0; idx && h < t->n_held && t->held[h] <= i; h++)
        i++;
    return i;
}

/* What the batch's examples give alone, for the message of a step that
 * went non-finite: each one's loss in inference mode (batch 1), so an
 * example whose own loss is not finite is named, and weights that give no
 * example a finite loss are said to have diverged. Runs only after a
 * failure; the trainer's message is kept. */
static void blame(nb_trainer *t, const instance *in, const nb_dataset *ds, const int64_t *idx,
                  int64_t start, bool fitting, char *why, size_t size)
{
    int64_t b = in->batch, first = -1, bad = 0, k = 0;
    double lo = INFINITY, hi = -INFINITY, first_loss = 0;
    for (int64_t i = 0; i < b * t->numel; i++) {
        lo = t->xb[i] < lo ? t->xb[i] : lo;
        hi = t->xb[i] > hi ? t->xb[i] : hi;
    }
    char saved[sizeof t->err];
    nb_status saved_status = t->status;
    memcpy(saved, t->err, sizeof saved);
    instance *one = instance_for(t, 1, false);
    for (; one && k < b; k++) {
        if (feed(t, one, ds, idx ? idx + k : NULL, idx ? 0 : start + k) != NB_OK)
            break;
        double l = nb_runtime_value(one->rt, one->io.loss)[0];
        if (!isfinite(l) && bad++ == 0)
            first = k, first_loss = isnan(l) ? NAN : l; /* "nan", never "-nan" */
    }
    memcpy(t->err, saved, sizeof saved);
    t->status = saved_status;
    int n = snprintf(why, size, "; the batch's inputs lie in [%g, %g]", lo, hi);
    size_t at = n > 0 && (size_t)n < size ? (size_t)n : size - 1;
    if (!one || k < b)
        return;
    if (bad == 0)
        snprintf(why + at, size - at, "; alone, each of its %lld examples has a finite loss "
                 "(inference mode)", (long long)b);
    else if (bad == b && b > 1)
        snprintf(why + at, size - at, "; alone, every one of its %lld examples has a loss that "
                 "is not finite: the weights have diverged (a lower learning rate or clip_norm "
                 "may help)", (long long)b);
    else
        snprintf(why + at, size - at, "; alone, %s example %lld has a loss of %g (inference "
                 "mode; %lld of the batch's %lld examples do): look at that example",
                 fitting ? "training" : "this step's", (long long)example_index(t, idx, start, first),
                 first_loss, (long long)bad, (long long)b);
}

/* The message of a step whose loss (bad < 0) or gradient of parameter
 * `bad` is not finite: what, when (p: the epoch and step in fit; NULL for
 * nb_trainer_step) and what the examples give alone. */
static nb_status step_failed(nb_trainer *t, const instance *in, const nb_dataset *ds,
                             const int64_t *idx, int64_t start, const nb_progress *p, int bad,
                             double loss)
{
    char what[400], when[128], why[320] = "", name[128], shape[64];
    loss = isnan(loss) ? NAN : loss; /* "nan", never "-nan" */
    if (bad < 0) {
        snprintf(what, sizeof what, "the loss is %g", loss);
    } else {
        const nb__grad_src *s = &t->gsrc[bad];
        nb_shape ps = nb_node_shape(t->params[bad]);
        int64_t n = nb_shape_numel(ps), e = 0;
        while (s->g && e < n && isfinite(s->g[e]))
            e++;
        e = s->g && e < n ? e : -1;
        nb_node_label(t->params[bad], name, sizeof name);
        nb_shape_format(ps, shape, sizeof shape);
        if (e >= 0)
            snprintf(what, sizeof what, "the gradient of '%s' %s is %g at element %lld (the "
                     "loss is %.6g)", name, shape, isnan(s->g[e]) ? NAN : (double)s->g[e],
                     (long long)e, loss);
        else
            snprintf(what, sizeof what, "the gradient of '%s' %s overflows float32 (the loss "
                     "is %.6g)", name, shape, loss);
    }
    if (p)
        snprintf(when, sizeof when, "epoch %d, step %lld of %lld (optimiser step %lld)", p->epoch,
                 (long long)p->step, (long long)p->steps, (long long)t->global_step + 1);
    else
        snprintf(when, sizeof when, "optimiser step %lld", (long long)t->global_step + 1);
    blame(t, in, ds, idx, start, p != NULL, why, sizeof why);
    return fail(t, NB_ERR_STATE, "train: %s at %s; no update was made%s", what, when, why);
}

/* One training step on a staged batch: forward and backward, the checks
 * (a finite loss, then finite gradients), update, Q. p: where fit stands
 * (NULL from nb_trainer_step). */
static nb_status step_on(nb_trainer *t, instance *in, const nb_dataset *ds, const int64_t *idx,
                         int64_t start, const nb_progress *p, double *loss)
{
    nb_status st = feed(t, in, ds, idx, start);
    if (st != NB_OK)
        return st;
    *loss = nb_runtime_value(in->rt, in->io.loss)[0];
    int bad = isfinite(*loss) ? first_bad_grad(t, in) : -1;
    if (bad < t->n_params)
        return step_failed(t, in, ds, idx, start, p, bad, *loss);
    update(t, in);
    t->q = t->global_step == 0 ? *loss : (1 - t->o.q_eta) * t->q + t->o.q_eta * *loss;
    t->global_step++;
    return NB_OK;
}

/* ---------------------------------------------------------------- data parallelism */

/* The status the ranks agree on (nb_dist_agree) after a phase that may
 * fail on some alone: st itself without a group; else every rank gets the
 * lowest failing rank's status, its message in t->err. */
static nb_status agreed(nb_trainer *t, nb_status st)
{
    if (!t->dist)
        return st;
    nb_error e = {.status = st};
    if (st != NB_OK)
        snprintf(e.message, sizeof e.message, "%s", nb__message_detail(t->err));
    st = nb_dist_agree(t->dist, st, &e);
    return st == NB_OK ? NB_OK : fail(t, st, "train: %s", e.message);
}

/* This rank's part of a global batch of b examples: the count, and in *at
 * the first one's place in the batch (the first b mod N ranks take one
 * more than b / N). */
static int64_t share(const nb_trainer *t, int64_t b, int64_t *at)
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
    nb_status st = feed(t, in, ds, idx, 0);
    if (st == NB_OK) {
        loss = nb_runtime_value(in->rt, in->io.loss)[0];
        int bad = !isfinite(loss)               ? -1
                  : nb__dsum_collect(t->dsum) ? t->n_params /* checked as copied */
                                              : first_bad_grad(t, in);
        if (bad < t->n_params)
            st = step_failed(t, in, ds, idx, 0, p, bad, loss);
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
    tail[SUM_HITS] = (float)correct(t, in);
    return NB_OK;
}

/* After a step whose sharded sums are not finite (gradients summed from
 * where the runtime left them, unchecked): the lowest rank with a gradient
 * that is not finite says which, as share_run would have; when every
 * rank's are finite, their sum overflowed. No update is made. */
static nb_status sums_failed(nb_trainer *t, instance *in, const nb_dataset *ds,
                             const int64_t *idx, const nb_progress *p)
{
    int bad = in && !in->skip ? first_bad_grad(t, in) : t->n_params;
    nb_status st = bad < t->n_params
                       ? step_failed(t, in, ds, idx, 0, p, bad,
                                     nb_runtime_value(in->rt, in->io.loss)[0])
                       : NB_OK;
    if ((st = agreed(t, st)) != NB_OK)
        return st;
    return fail(t, NB_ERR_STATE, "train: the gradient summed over the ranks overflows float32 "
                "at optimiser step %lld; no update was made", (long long)t->global_step + 1);
}

/* One data-parallel step on the global batch order[0..b): this rank's
 * part run, the sums taken over the ranks, then the update (clipping the
 * summed gradient), each rank making its part and all gathering the
 * weights (nb__dsum_update), state values and Q from the sums.
 * *skipped when some rank's build cannot train on its part (no update). */
static nb_status step_dist(nb_trainer *t, const nb_dataset *ds, const int64_t *order, int64_t b,
                           const nb_progress *p, double *loss, int64_t *hits, bool *skipped)
{
    int64_t at, mine = share(t, b, &at);
    instance *in = mine ? instance_for(t, mine, true) : NULL;
    float *v = nb__dsum_head(t->dsum), *tail = v + t->state_n;
    nb_status st = nb__trainer_status(t);
    t->share_at = at;
    t->share_of = b;
    nb__dsum_begin(t->dsum, b % nb_dist_size(t->dist) == 0 ? (float)mine / (float)b : 0);
    if (mine && !in) {
        memset(v, 0, (size_t)(t->state_n + SUM_TAIL) * sizeof *v);
        tail[SUM_FAILED] = 1;
    } else {
        st = share_run(t, in, ds, order + at, p, (float)mine / (float)b, v);
    }
    t->share_of = 0;
    nb__dsum_finish(t->dsum);
    if (tail[SUM_FAILED] > 0)
        return agreed(t, st); /* the failing rank's message on every rank */
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

/* One step of one process on order[0..b) (fit's), in the build for b. */
static nb_status step_one(nb_trainer *t, const nb_dataset *ds, const int64_t *order, int64_t b,
                          const nb_progress *p, double *loss, int64_t *hits, bool *skipped)
{
    instance *in = instance_for(t, b, true);
    *skipped = in && in->skip; /* a short last batch the model cannot train on */
    if (*skipped)
        return NB_OK;
    nb_status st = step_on(t, in, ds, order, 0, p, loss);
    if (st == NB_OK)
        *hits = correct(t, in);
    return st;
}

/* ---------------------------------------------------------------- epochs */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The builds a pass over n examples in batches of `batch` needs, made
 * before the pass so no step pays for building. */
static nb_status prepare(nb_trainer *t, int64_t n, int64_t batch, bool training)
{
    int64_t full = batch < n ? batch : n, tail = n % full;
    if (!instance_for(t, full, training) || (tail && !instance_for(t, tail, training)))
        return nb__trainer_status(t);
    return stage_room(t, full);
}

/* Examples [lo, hi) of ds in inference mode, in evaluation batches: adds
 * their summed loss and correct predictions to sums[0] and sums[1]. */
static nb_status evaluate_range(nb_trainer *t, const nb_dataset *ds, int64_t lo, int64_t hi,
                                double *sums)
{
    int64_t batch = t->o.eval_batch < hi - lo ? t->o.eval_batch : hi - lo;
    nb_status st = prepare(t, hi - lo, batch, false);
    for (int64_t at = lo; st == NB_OK && at < hi; at += batch) {
        int64_t b = hi - at < batch ? hi - at : batch;
        instance *in = instance_for(t, b, false);
        if ((st = feed(t, in, ds, NULL, at)) != NB_OK)
            break;
        sums[0] += (double)nb_runtime_value(in->rt, in->io.loss)[0] * (double)b;
        sums[1] += (double)correct(t, in);
    }
    return st;
}

/* With a group, rank r of N evaluates examples [n·r/N, n·(r+1)/N) and the
 * sums are summed (with a failure flag: a rank that failed is agreed on);
 * the generator is left as it was, so ranks stay in step. */
nb_status nb_trainer_evaluate(nb_trainer *t, const nb_dataset *ds, double *loss, double *accuracy)
{
    if (!t)
        return NB_ERR_ARG;
    nb_status st = check_data(t, ds, "evaluation");
    int64_t n = st == NB_OK ? ds->n : 0, size = nb_dist_size(t->dist), r = nb_dist_rank(t->dist);
    int64_t lo = n * r / size, hi = n * (r + 1) / size;
    double sums[3] = {0};
    nb_rng kept = t->rng;
    if (st == NB_OK && hi > lo)
        st = evaluate_range(t, ds, lo, hi, sums);
    if (t->dist) {
        t->rng = kept;
        sums[2] = st != NB_OK;
        nb__dist_sum_doubles(t->dist, sums, 3);
        st = sums[2] > 0 ? agreed(t, st) : NB_OK;
    }
    if (st != NB_OK)
        return st;
    if (loss)
        *loss = sums[0] / (double)n;
    if (accuracy)
        *accuracy = sums[1] / (double)n;
    return NB_OK;
}

/* Runs ds in inference mode in evaluation batches, keeping every output
 * row and label, then nb_class_report_compute. */
nb_status nb_trainer_class_report(nb_trainer *t, const nb_dataset *ds, int top_k,
                                  nb_class_report *r, double *loss)
{
    if (!t || !r)
        return NB_ERR_ARG;
    *r = (nb_class_report){0};
    nb_status st = check_data(t, ds, "evaluation");
    if (st == NB_OK && t->y_width != 1)
        st = fail(t, NB_ERR_ARG, "class report: the targets are %lld numbers per example; a "
                  "class report needs one class label each", (long long)t->y_width);
    int64_t batch = st == NB_OK && t->o.eval_batch < ds->n ? t->o.eval_batch : ds ? ds->n : 0;
    if (st != NB_OK || (st = prepare(t, ds->n, batch, false)) != NB_OK)
        return st;
    instance *first = instance_for(t, batch, false);
    int64_t width = nb_shape_numel(nb_node_shape(first->io.output)) / batch;
    float *scores = nb_malloc((size_t)(ds->n * width) * sizeof *scores);
    float *labels = nb_malloc((size_t)ds->n * sizeof *labels);
    double sum = 0;
    if (!scores || !labels)
        st = fail(t, NB_ERR_NOMEM, "class report: out of memory for %lld outputs",
                  (long long)ds->n);
    for (int64_t at = 0; st == NB_OK && at < ds->n; at += batch) {
        int64_t b = ds->n - at < batch ? ds->n - at : batch;
        instance *in = instance_for(t, b, false);
        if ((st = feed(t, in, ds, NULL, at)) != NB_OK)
            break;
        sum += (double)nb_runtime_value(in->rt, in->io.loss)[0] * (double)b;
        memcpy(scores + at * width, nb_runtime_value(in->rt, in->io.output),
               (size_t)(b * width) * sizeof *scores);
        memcpy(labels + at, t->yb, (size_t)b * sizeof *labels);
    }
    nb_error e = {0};
    if (st == NB_OK && (st = nb_class_report_compute(scores, width, labels, ds->n, top_k, r, &e)))
        fail(t, st, "%s", e.message);
    if (st == NB_OK && loss)
        *loss = sum / (double)ds->n;
    nb_free(scores);
    nb_free(labels);
    return st;
}

/* The epoch's presentation order: 0..n-1, shuffled unless asked not to.
 * It depends on the generator alone, so a resumed run draws the same one. */
static nb_status reorder(nb_trainer *t, int64_t n)
{
    if (t->order_n != n) {
        nb_free(t->order);
        t->order = nb_malloc((size_t)n * sizeof *t->order);
        t->order_n = t->order ? n : 0;
        if (!t->order)
            return fail(t, NB_ERR_NOMEM, "train: out of memory for the order");
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
static nb_status hardest_first(nb_trainer *t, const nb_dataset *ds)
{
    double *loss = nb_malloc((size_t)ds->n * sizeof *loss);
    ranked *r = nb_malloc((size_t)ds->n * sizeof *r);
    nb_status st = loss && r ? nb_trainer_example_losses(t, ds, loss)
                             : fail(t, NB_ERR_NOMEM, "train: out of memory for the order");
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
static nb_status epoch(nb_trainer *t, const nb_dataset *ds, nb_progress *p, double *q_ref)
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
        nb_status st = (t->dist ? step_dist : step_one)(t, ds, t->order + at, b, p, &loss, &h,
                                                        &skipped);
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

/* ---------------------------------------------------------------- early stopping */

/* Whether the best epoch's weights are kept, to be restored at the end. */
static bool keeps_best(const nb_trainer *t)
{
    return t->o.patience > 0 && !t->o.no_restore_best;
}

/* Room for every parameter of the graph, end to end. */
static float *best_room(nb_trainer *t)
{
    if (t->best_w)
        return t->best_w;
    int64_t n = 0;
    for (int i = 0; i < nb_graph_num_params(t->g); i++)
        n += nb_shape_numel(nb_node_shape(nb_graph_param(t->g, i)));
    t->best_w = nb_malloc((size_t)(n ? n : 1) * sizeof(float));
    t->best_n = t->best_w ? n : 0;
    if (!t->best_w)
        fail(t, NB_ERR_NOMEM, "train: out of memory for the best epoch's weights (%lld values)",
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
static bool patience_out(const nb_trainer *t)
{
    return t->o.patience > 0 && t->bad_epochs >= t->o.patience;
}

/* After a validated epoch: the best so far (and its weights), the count of
 * epochs without improvement, and what p reports of them. */
static nb_status track_best(nb_trainer *t, nb_progress *p)
{
    double v = t->o.monitor == NB_MONITOR_VAL_ACC ? p->val_acc : p->val_loss;
    if (improved(t, v)) {
        if (keeps_best(t) && !best_room(t))
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
    p->early_stopped = patience_out(t);
    return NB_OK;
}

/* At the end of fit: the best epoch's weights back in the parameters. */
static void restore_best(nb_trainer *t)
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

/* ---------------------------------------------------------------- fitting */

/* The builds for this rank's parts of the global batches of a pass over
 * n examples (the full batch's part and the short last batch's). */
static nb_status prepare_shares(nb_trainer *t, int64_t n)
{
    int64_t full = t->o.batch < n ? t->o.batch : n, at, most = 1;
    int64_t parts[2] = {share(t, full, &at), share(t, n % full, &at)};
    for (int i = 0; i < 2; i++) {
        if (parts[i] > 0 && !instance_for(t, parts[i], true))
            return nb__trainer_status(t);
        most = parts[i] > most ? parts[i] : most;
    }
    return stage_room(t, most);
}

/* The epochs: each a pass over train, then validation and test. */
static nb_status fit(nb_trainer *t, const nb_dataset *train, const nb_dataset *val,
                     const nb_dataset *test)
{
    nb_status st = NB_OK;
    int64_t batch = t->o.batch < train->n ? t->o.batch : train->n;
    if (!(test && ((st = check_data(t, test, "test")) != NB_OK ||
                   (st = check_values(t, test, "test", NULL)) != NB_OK)) &&
        !(val && ((st = check_data(t, val, "validation")) != NB_OK ||
                  (st = check_values(t, val, "validation", NULL)) != NB_OK)))
        st = t->dist ? prepare_shares(t, train->n) : prepare(t, train->n, batch, true);
    if ((st = agreed(t, st)) != NB_OK)
        return st;
    nb_progress p = {.epochs = t->o.epochs, .test_loss = NAN, .test_acc = NAN};
    double q_ref = NAN;
    for (p.epoch = t->epochs_done + 1;
         p.epoch <= t->o.epochs && !p.stopped && !patience_out(t); p.epoch++) {
        st = reorder(t, train->n);
        if (st == NB_OK && t->o.hardest_first)
            st = hardest_first(t, train);
        if ((st = agreed(t, st)) == NB_OK)
            st = epoch(t, train, &p, &q_ref);
        nb__dsum_gather_state(t->dsum, t->opt); /* every rank's slots whole (each updates its
                                                   part): what a checkpoint reads */
        if (st != NB_OK)
            return st;
        t->epochs_done = p.epoch;
        if (val && ((st = nb_trainer_evaluate(t, val, &p.val_loss, &p.val_acc)) != NB_OK ||
                    (st = agreed(t, track_best(t, &p))) != NB_OK))
            return st;
        if (test && (st = nb_trainer_evaluate(t, test, &p.test_loss, &p.test_acc)) != NB_OK)
            return st;
        if (t->o.on_epoch)
            t->o.on_epoch(&p, t->o.ud);
    }
    restore_best(t);
    return NB_OK;
}

/* Rank 0's parameters (every one: frozen and state too), optimiser slots
 * and step count, training state and best weights, on every rank. */
static nb_status sync_from_root(nb_trainer *t)
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
    nb_status st = agreed(t, best && !best_room(t) ? NB_ERR_NOMEM : NB_OK);
    if (st == NB_OK && best)
        nb_dist_broadcast(d, t->best_w, t->best_n * (int64_t)sizeof(float), NULL);
    return st;
}

nb_status nb_trainer_fit(nb_trainer *t, const nb_dataset *train, const nb_dataset *test)
{
    if (!t)
        return NB_ERR_ARG;
    nb_dataset *kept = NULL, *held = NULL;
    nb_error e = {0};
    nb__range_acc seen = {0};
    int64_t *held_index = NULL;
    nb_status st = check_data(t, train, "training");
    if (st == NB_OK)
        st = check_values(t, train, "training", &seen);
    if (st == NB_OK && t->o.validation > 0 &&
        !(held_index = nb_malloc((size_t)train->n * sizeof *held_index)))
        st = fail(t, NB_ERR_NOMEM, "train: out of memory for the validation split");
    if (st == NB_OK && t->o.validation > 0 &&
        nb_dataset_split(train, t->o.validation, t->o.seed, &kept, &held, held_index, &e) != NB_OK)
        st = fail(t, e.status, "train: validation: %s", e.message);
    if (t->dist && (st = agreed(t, st)) == NB_OK)
        st = sync_from_root(t);
    if (st == NB_OK) {
        t->seen = seen;
        t->seen_x_div = train->x ? 0 : train->x_div;
        t->held = held_index;
        t->n_held = held ? held->n : 0;
        st = fit(t, kept ? kept : train, held ? held : t->o.validation_data, test);
        t->held = NULL;
        t->n_held = 0;
    }
    nb_free(held_index);
    nb_dataset_free(kept);
    nb_dataset_free(held);
    return st;
}

nb_input_range nb_trainer_input_range(const nb_trainer *t)
{
    return t ? nb__range_result(&t->seen, t->seen_x_div) : (nb_input_range){0};
}

/* ---------------------------------------------------------------- state */

nb_train_state nb_trainer_state(const nb_trainer *t)
{
    if (!t)
        return (nb_train_state){0};
    return (nb_train_state){.epoch = t->epochs_done, .global_step = t->global_step, .q = t->q,
                            .rng = t->rng, .best_epoch = t->best_epoch, .best = t->best,
                            .bad_epochs = t->bad_epochs};
}

void nb_trainer_set_state(nb_trainer *t, const nb_train_state *s)
{
    if (!t || !s)
        return;
    t->epochs_done = s->epoch;
    t->global_step = s->global_step;
    t->q = s->q;
    t->rng = s->rng;
    t->best_epoch = s->best_epoch > 0 ? s->best_epoch : 0;
    t->best = s->best;
    t->bad_epochs = s->bad_epochs > 0 ? s->bad_epochs : 0;
    if (t->best_epoch > 0 && keeps_best(t) && !t->best_w && best_room(t))
        copy_best(t, true); /* until a checkpoint loader fills in the best epoch's */
}

nb_optimizer *nb_trainer_optimizer(nb_trainer *t)
{
    return t ? t->opt : NULL;
}

int nb_trainer_num_param_tensors(const nb_trainer *t)
{
    return t ? t->n_params : 0;
}

int64_t nb_trainer_num_param_values(const nb_trainer *t)
{
    int64_t n = 0;
    for (int i = 0; t && i < t->n_params; i++)
        n += nb_shape_numel(nb_node_shape(t->params[i]));
    return n;
}

nb_node *nb_trainer_param(const nb_trainer *t, int i)
{
    return t && i >= 0 && i < t->n_params ? t->params[i] : NULL;
}

nb_model_fn nb_trainer_model(const nb_trainer *t, void **ud)
{
    if (ud)
        *ud = t ? t->ud : NULL;
    return t ? t->build : NULL;
}

nb_train_opts *nb__trainer_opts(nb_trainer *t)
{
    return &t->o;
}

nb_trainer *nb__trainer_like(const nb_trainer *t, const nb_train_opts *o, nb_error *err)
{
    return nb_trainer_new(t->build, t->ud, t->shape, t->y_width, o, err);
}

char *nb_trainer_architecture(const nb_trainer *t, nb_error *err)
{
    if (!t)
        return nb_error_set(err, NB_ERR_ARG, "architecture: no trainer (NULL)"), NULL;
    return nb_model_architecture(t->build, t->ud, err);
}

/* ---------------------------------------------------------------- streams and batch methods */

nb_status nb_trainer_step(nb_trainer *t, const float *x, const float *y, int64_t n, double *loss)
{
    if (!t)
        return NB_ERR_ARG;
    if (!x || !y || n < 1)
        return fail(t, NB_ERR_ARG, "train: a step needs x, y and at least one example");
    if (t->inst[0].io.n_extra > 0)
        return fail(t, NB_ERR_ARG, "train: nb_trainer_step feeds x alone; the model has %d more "
                    "inputs: give them in a dataset to nb_trainer_fit", t->inst[0].io.n_extra);
    instance *in = instance_for(t, n, true);
    if (in && in->skip) {
        t->skipped += n;
        if (loss)
            *loss = NAN;
        return NB_OK;
    }
    if (!in || stage_room(t, n) != NB_OK)
        return nb__trainer_status(t);
    nb_dataset view = {.n = n, .shape = t->shape, .y_width = t->y_width, .x = (float *)x,
                       .y = (float *)y};
    double l = NAN; /* what a failed step reports as its loss */
    nb_status st = check_values(t, &view, "this step's", NULL);
    if (st != NB_OK)
        return st;
    nb__range_add(&t->seen, x, n * t->numel);
    st = step_on(t, in, &view, NULL, 0, NULL, &l);
    if (loss)
        *loss = l;
    return st;
}

int64_t nb_trainer_skipped(const nb_trainer *t)
{
    return t ? t->skipped : 0;
}

double nb_trainer_q(const nb_trainer *t)
{
    return t ? t->q : NAN;
}

nb_status nb_trainer_loss_grad(nb_trainer *t, const nb_dataset *ds, int64_t start, int64_t count,
                               float *grads, double *loss)
{
    if (!t)
        return NB_ERR_ARG;
    nb_status st = check_data(t, ds, "chunk's");
    if (st != NB_OK)
        return st;
    if (!grads || start < 0 || count < 1 || start + count > ds->n)
        return fail(t, NB_ERR_ARG, "train: chunk [%lld, %lld) is outside the %lld examples",
                    (long long)start, (long long)(start + count), (long long)ds->n);
    int64_t batch = t->o.batch < count ? t->o.batch : count, size = nb_optimizer_size(t->opt);
    if ((st = prepare(t, count, batch, true)) != NB_OK)
        return st;
    double total = 0;
    memset(grads, 0, (size_t)size * sizeof *grads);
    for (int64_t at = 0; at < count; at += batch) {
        int64_t b = count - at < batch ? count - at : batch;
        instance *in = instance_for(t, b, true);
        if ((st = feed(t, in, ds, NULL, start + at)) != NB_OK)
            return st;
        total += (double)nb_runtime_value(in->rt, in->io.loss)[0] * (double)b;
        gather(t, in, t->grads, 1);
        float w = (float)b / (float)count; /* each batch's loss is its mean */
        for (int64_t i = 0; i < size; i++)
            grads[i] += w * t->grads[i];
    }
    if (loss)
        *loss = total / (double)count;
    return NB_OK;
}

nb_status nb_trainer_example_losses(nb_trainer *t, const nb_dataset *ds, double *losses)
{
    if (!t)
        return NB_ERR_ARG;
    nb_status st = check_data(t, ds, "evaluation");
    if (st == NB_OK && !losses)
        st = fail(t, NB_ERR_ARG, "train: no room for the losses");
    if (st != NB_OK || (st = prepare(t, ds->n, 1, false)) != NB_OK)
        return st;
    instance *in = instance_for(t, 1, false);
    for (int64_t i = 0; i < ds->n; i++) {
        if ((st = feed(t, in, ds, NULL, i)) != NB_OK)
            return st;
        losses[i] = nb_runtime_value(in->rt, in->io.loss)[0];
    }
    return NB_OK;
}

/* ---------------------------------------------------------------- the trained network */

nb_model_io nb_trainer_model_io(const nb_trainer *t)
{
    return t && t->n_inst > 0 ? t->inst[0].io : (nb_model_io){0};
}

nb_node *nb_trainer_grad(const nb_trainer *t, int i)
{
    return t && t->n_inst > 0 && i >= 0 && i < t->n_params ? t->inst[0].grads[i] : NULL;
}

nb_shape nb_trainer_example_shape(const nb_trainer *t)
{
    return t ? t->shape : (nb_shape){0};
}

int64_t nb_trainer_output_width(nb_trainer *t)
{
    if (!t || t->n_inst == 0)
        return -1;
    return nb_shape_numel(nb_node_shape(t->inst[0].io.output)) / t->inst[0].batch;
}

int64_t nb__trainer_eval_batch(const nb_trainer *t)
{
    return t->o.eval_batch;
}

const float *nb__trainer_output_run(nb_trainer *t, int64_t batch, const float *x,
                                    const nb_dataset *ds, int64_t at)
{
    instance *in = instance_for(t, batch, false);
    if (!in)
        return NULL;
    if (!in->out_rt && !(in->out_rt = nb_runtime_new(t->g, &in->io.output, 1))) {
        fail(t, nb_graph_status(t->g), "predict: %s", nb_graph_error(t->g));
        return NULL;
    }
    nb_error e = {.status = NB_ERR_NOMEM, .message = "out of memory for a batch"};
    if (in->io.n_extra) {
        t->staged = 0; /* the inputs' room is resized to this batch: stage_room remakes it */
        if (!ds) {
            fail(t, NB_ERR_ARG, "predict: the model has %d inputs after x; give them in a "
                 "dataset (nb_trainer_predict)", in->io.n_extra);
            return NULL;
        }
        if (nb__feed_room(&t->feed, &in->io, batch) != NB_OK ||
            nb__feed_set(&t->feed, in->out_rt, &in->io, &t->inst[0].io, ds, NULL, at, batch, &e) != NB_OK) {
            fail(t, e.status, "predict: %s", e.message);
            return NULL;
        }
    }
    nb_status st = nb_runtime_set_input(in->out_rt, in->io.x, x);
    nb_runtime_fill_noise(in->out_rt, &t->rng);
    if (st == NB_OK)
        st = nb_runtime_run(in->out_rt);
    if (st != NB_OK) {
        fail(t, st, "predict: %s", nb__message_detail(nb_runtime_error(in->out_rt)));
        return NULL;
    }
    return nb_runtime_value(in->out_rt, in->io.output);
}
