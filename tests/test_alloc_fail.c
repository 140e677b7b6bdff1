/*
 * test_alloc_fail.c — SQLite's malloc test for nabla: through the process
 * allocator (nb_set_allocator), each scenario is run once to count the
 * allocations K it makes, then again with the Nth allocation refused for
 * every N in 1…K, and again with every allocation from the Nth on refused.
 * Each refused run must end in NB_ERR_NOMEM with a message that says memory
 * ran out and names what was being allocated, every byte it allocated
 * freed (the hook counts live bytes, and ASan's leak check sees the rest),
 * no file half written, and a clean run afterwards gives the same result.
 * A run that recovers from the refusal must give the clean run's result
 * (a save whose file is already in place skips fsyncing its folder when
 * it cannot allocate the folder's name: the one recovery seen).
 *
 * Scenarios: building a graph of layers, differentiating it, planning and
 * running a runtime, a deep graph, parsing and building a model file (both
 * forms), loading weights, a training step (trainer, model, optimiser),
 * fitting with validation, a trainer over a model file, saving weights, a
 * checkpoint and arrays, resuming, datasets, streams, predicting,
 * drawing and writing a model built in C as YAML, exporting and importing
 * ONNX. The models are tiny so the whole sweep takes seconds.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

/* ---------------------------------------------------------------- the hook */

typedef struct faulty {
    bool armed;      /* count and refuse only while the scenario's act runs */
    long count;      /* allocations (new blocks and resizes) while armed */
    long fail_at;    /* refuse allocation number fail_at (1-based); 0: none */
    bool persist;    /* … and every one after it */
    long refused;
    long long live;  /* bytes allocated and not freed, armed or not */
} faulty;

static faulty fa;

static void *faulty_alloc(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    faulty *f = ud;
    size_t old = ptr ? old_size : 0;
    if (new_size == 0) {
        free(ptr);
        f->live -= (long long)old;
        return NULL;
    }
    if (f->armed) {
        long n = ++f->count;
        if (f->fail_at && (n == f->fail_at || (f->persist && n > f->fail_at))) {
            f->refused++;
            return NULL;
        }
    }
    void *p = realloc(ptr, new_size);
    if (p)
        f->live += (long long)new_size - (long long)old;
    return p;
}

/* ---------------------------------------------------------------- scenarios
 * A scenario sets up what it needs with the hook unarmed, acts with it
 * armed, and tears down unarmed. act returns the status and leaves the
 * message in msg and, on success, a number that sums up the result. */

typedef struct scenario {
    const char *name;
    void (*setup)(void *ctx);
    nb_status (*act)(void *ctx, char *msg, size_t size, double *result);
    void (*teardown)(void *ctx);
    void (*check_files)(void *ctx); /* after each run: nothing half written */
} scenario;

typedef struct sweep_stats {
    long points;     /* K: allocations in a clean run */
    long recovered;  /* refusals the scenario recovered from */
} sweep_stats;

static nb_status run_once(const scenario *s, void *ctx, long fail_at, bool persist, char *msg,
                          size_t size, double *result)
{
    long long live0 = fa.live;
    fa = (faulty){.live = fa.live};
    if (s->setup)
        s->setup(ctx);
    msg[0] = '\0';
    *result = NAN;
    fa.fail_at = fail_at;
    fa.persist = persist;
    fa.armed = true;
    nb_status st = s->act(ctx, msg, size, result);
    fa.armed = false;
    if (s->teardown)
        s->teardown(ctx);
    if (s->check_files)
        s->check_files(ctx);
    cr_assert_eq(fa.live, live0, "%s (fail at %ld%s): %lld bytes not freed", s->name, fail_at,
                 persist ? " on" : "", fa.live - live0);
    return st;
}

/* "… out of memory <what> …": the message says memory ran out and goes on
 * to say for what ("for the graph arena", "looking up /params/dense1/w"). */
static bool mentions_memory(const char *msg)
{
    const char *at = strstr(msg, "out of memory");
    return at && at[13] == ' ' && strlen(at + 14) >= 3;
}

static sweep_stats sweep(const scenario *s, void *ctx)
{
    nb_set_allocator(faulty_alloc, &fa);
    char msg[1024];
    double clean;
    nb_status st = run_once(s, ctx, 0, false, msg, sizeof msg, &clean);
    cr_assert_eq(st, NB_OK, "%s: the clean run failed: %s", s->name, msg);
    sweep_stats out = {.points = fa.count};
    cr_assert_gt(out.points, 0, "%s: no allocation went through the hook", s->name);
    for (int persist = 0; persist < 2; persist++) {
        for (long n = 1; n <= out.points; n++) {
            double r;
            st = run_once(s, ctx, n, persist, msg, sizeof msg, &r);
            cr_assert_geq(fa.refused, 1, "%s: allocation %ld never happened", s->name, n);
            if (st == NB_OK) {
                cr_assert(r == clean || (isnan(r) && isnan(clean)),
                          "%s (fail at %ld%s): recovered with %.9g, the clean run gave %.9g",
                          s->name, n, persist ? " on" : "", r, clean);
                out.recovered++;
                continue;
            }
            cr_assert_eq(st, NB_ERR_NOMEM, "%s (fail at %ld%s): status %d, not NB_ERR_NOMEM: %s",
                         s->name, n, persist ? " on" : "", (int)st, msg);
            cr_assert(mentions_memory(msg), "%s (fail at %ld%s): message \"%s\" does not say "
                      "memory ran out for what", s->name, n, persist ? " on" : "", msg);
        }
    }
    double again;
    st = run_once(s, ctx, 0, false, msg, sizeof msg, &again);
    cr_assert_eq(st, NB_OK, "%s: a clean run after the sweep failed: %s", s->name, msg);
    cr_assert(again == clean, "%s: a clean run after the sweep gave %.9g, before %.9g", s->name,
              again, clean);
    nb_set_allocator(NULL, NULL);
    cr_log_info("%s: %ld allocation points, %ld refusals recovered from", s->name, out.points,
                out.recovered);
    return out;
}

/* ---------------------------------------------------------------- models */

#define BATCH 2

/* A small CNN with every kind of layer: conv, pool, batch norm, dropout,
 * dense, and the loss. */
static nb_status small_cnn(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 6, 6));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_conv2d(g, io->x, (nb_conv2d_opts){.filters = 2, .kernel = 3, .pad = 1,
                                                      .activation = NB_ACT_RELU});
    h = nb_maxpool2d(g, h, (nb_pool2d_opts){.size = 2});
    h = nb_batchnorm(g, h, (nb_batchnorm_opts){0});
    h = nb_flatten(g, h);
    h = nb_dense(g, h, (nb_dense_opts){.units = 5, .activation = NB_ACT_TANH});
    h = nb_dropout(g, h, 0.25f);
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 3, .name = "logits"});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

static const char model_yaml[] =
    "nabla: 1\n"
    "name: tiny\n"
    "input: {x: [1, 6, 6]}\n"
    "layers:\n"
    "  - conv2d: {filters: 2, kernel: 3, pad: 1, activation: relu}\n"
    "  - maxpool2d: {size: 2}\n"
    "  - flatten\n"
    "  - dense: {units: 4, activation: relu}\n"
    "  - dense: {units: 3, name: logits}\n"
    "loss: softmax_cross_entropy\n"
    "optimizer: {adam: {lr: 0.01}}\n"
    "train: {batch: 2, epochs: 1, seed: 1}\n";

static const float x_data[BATCH * 36] = {
    0.1f, 0.5f, 0.9f, 0.2f, 0.4f, 0.0f, 0.3f, 0.8f, 0.6f, 0.7f, 0.1f, 0.2f,
    0.9f, 0.4f, 0.5f, 0.3f, 0.2f, 0.6f, 0.0f, 0.1f, 0.7f, 0.8f, 0.9f, 0.5f,
    0.4f, 0.3f, 0.2f, 0.1f, 0.6f, 0.7f, 0.5f, 0.5f, 0.1f, 0.9f, 0.3f, 0.8f,
    0.2f, 0.7f, 0.3f, 0.6f, 0.4f, 0.5f, 0.8f, 0.1f, 0.9f, 0.0f, 0.2f, 0.3f,
    0.6f, 0.4f, 0.7f, 0.5f, 0.1f, 0.8f, 0.9f, 0.3f, 0.2f, 0.4f, 0.6f, 0.0f,
    0.5f, 0.7f, 0.1f, 0.3f, 0.8f, 0.2f, 0.4f, 0.9f, 0.6f, 0.1f, 0.5f, 0.7f};
static const float y_data[BATCH] = {2, 0};

static double sum_params(nb_graph *g)
{
    double s = 0;
    for (int i = 0; i < nb_graph_num_params(g); i++) {
        nb_node *p = nb_graph_param(g, i);
        const float *v = nb_param_data(p);
        for (int64_t k = 0; k < nb_shape_numel(nb_node_shape(p)); k++)
            s += v[k] * (double)(k % 7 + 1);
    }
    return s;
}

static void copy_msg(char *msg, size_t size, const char *m)
{
    snprintf(msg, size, "%s", m ? m : "");
}

/* ---------------------------------------------------------------- (a) building */

typedef struct graph_ctx {
    nb_graph *g;
    nb_model_io io;
    nb_node *grads[16];
    int n_params;
    nb_runtime *rt;
} graph_ctx;

static nb_status act_build(void *ctx, char *msg, size_t size, double *result)
{
    graph_ctx *c = ctx;
    c->g = nb_graph_new();
    if (!c->g) {
        copy_msg(msg, size, "out of memory for a graph (nb_graph_new gave NULL)");
        return NB_ERR_NOMEM;
    }
    nb_graph_seed(c->g, 3);
    nb_graph_set_training(c->g, true);
    nb_status st = small_cnn(c->g, BATCH, &c->io, NULL);
    copy_msg(msg, size, nb_graph_error(c->g));
    *result = st == NB_OK ? nb_graph_node_count(c->g) + sum_params(c->g) : NAN;
    return st;
}

static void teardown_graph(void *ctx)
{
    graph_ctx *c = ctx;
    nb_runtime_free(c->rt);
    nb_graph_free(c->g);
    *c = (graph_ctx){0};
}

Test(alloc_fail, building_a_graph_of_layers)
{
    graph_ctx c = {0};
    scenario s = {.name = "build", .act = act_build, .teardown = teardown_graph};
    sweep(&s, &c);
}

/* ---------------------------------------------------------------- (b) differentiating */

static void setup_built(void *ctx)
{
    graph_ctx *c = ctx;
    char msg[512];
    double r;
    cr_assert_eq(act_build(c, msg, sizeof msg, &r), NB_OK, "%s", msg);
}

static nb_status act_grad(void *ctx, char *msg, size_t size, double *result)
{
    graph_ctx *c = ctx;
    nb_node *params[16];
    c->n_params = nb_graph_num_params(c->g);
    cr_assert_leq(c->n_params, 16);
    int n = 0;
    for (int i = 0; i < c->n_params; i++)
        if (nb_param_trainable(nb_graph_param(c->g, i)))
            params[n++] = nb_graph_param(c->g, i);
    c->n_params = n;
    nb_status st = nb_grad(c->g, c->io.loss, params, n, c->grads);
    copy_msg(msg, size, nb_graph_error(c->g));
    *result = st == NB_OK ? nb_graph_node_count(c->g) : NAN;
    return st;
}

Test(alloc_fail, differentiating)
{
    graph_ctx c = {0};
    scenario s = {.name = "grad", .setup = setup_built, .act = act_grad,
                  .teardown = teardown_graph};
    sweep(&s, &c);
}

/* ---------------------------------------------------------------- (c) planning and running */

static void setup_grad(void *ctx)
{
    setup_built(ctx);
    graph_ctx *c = ctx;
    char msg[512];
    double r;
    cr_assert_eq(act_grad(c, msg, sizeof msg, &r), NB_OK, "%s", msg);
}

static nb_status act_runtime(void *ctx, char *msg, size_t size, double *result)
{
    graph_ctx *c = ctx;
    nb_node *outs[17] = {c->io.loss};
    for (int i = 0; i < c->n_params; i++)
        outs[1 + i] = c->grads[i];
    c->rt = nb_runtime_new(c->g, outs, 1 + c->n_params);
    if (!c->rt) {
        copy_msg(msg, size, nb_graph_error(c->g));
        return nb_graph_status(c->g);
    }
    nb_rng rng = nb_rng_seed(11);
    nb_runtime_fill_noise(c->rt, &rng);
    nb_status st = nb_runtime_set_input(c->rt, c->io.x, x_data);
    if (st == NB_OK)
        st = nb_runtime_set_input(c->rt, c->io.y, y_data);
    if (st == NB_OK)
        st = nb_runtime_run(c->rt);
    if (st != NB_OK) {
        copy_msg(msg, size, nb_runtime_error(c->rt));
        return st;
    }
    double s = nb_runtime_value(c->rt, c->io.loss)[0];
    for (int i = 0; i < c->n_params; i++)
        s += nb_runtime_value(c->rt, c->grads[i])[0];
    *result = s;
    return NB_OK;
}

Test(alloc_fail, planning_and_running_a_runtime)
{
    graph_ctx c = {0};
    scenario s = {.name = "runtime", .setup = setup_grad, .act = act_runtime,
                  .teardown = teardown_graph};
    sweep(&s, &c);
}

/* ---------------------------------------------------------------- (d) model files */

typedef struct file_ctx {
    char dir[256], path[300], weights[300];
    nb_model_file *m;
    nb_graph *g;
    nb_trainer *t;
    char *text;
} file_ctx;

static nb_status act_model_file(void *ctx, char *msg, size_t size, double *result)
{
    file_ctx *c = ctx;
    nb_error err = {0};
    c->m = nb_model_file_load(c->path, &err);
    if (!c->m) {
        copy_msg(msg, size, err.message);
        return err.status;
    }
    c->g = nb_graph_new();
    if (!c->g) {
        copy_msg(msg, size, "out of memory for a graph (nb_graph_new gave NULL)");
        return NB_ERR_NOMEM;
    }
    nb_model_io io = {0};
    nb_status st = nb_model_file_build(c->g, BATCH, &io, c->m);
    copy_msg(msg, size, nb_graph_error(c->g));
    *result = st == NB_OK ? nb_graph_node_count(c->g) : NAN;
    return st;
}

static void teardown_files(void *ctx)
{
    file_ctx *c = ctx;
    nb_trainer_free(c->t);
    nb_graph_free(c->g);
    nb_model_file_free(c->m);
    nb_free(c->text);
    c->t = NULL, c->g = NULL, c->m = NULL, c->text = NULL;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static void make_dir(file_ctx *c)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(c->dir, sizeof c->dir, "%s/nb_allocfail_XXXXXX", base);
    cr_assert_not_null(mkdtemp(c->dir));
    snprintf(c->path, sizeof c->path, "%s/tiny.yaml", c->dir);
    snprintf(c->weights, sizeof c->weights, "%s/tiny.h5", c->dir);
    write_text(c->path, model_yaml);
}

static void remove_dir(file_ctx *c)
{
    DIR *d = opendir(c->dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            char p[600];
            snprintf(p, sizeof p, "%s/%s", c->dir, e->d_name);
            unlink(p);
        }
    }
    if (d)
        closedir(d);
    rmdir(c->dir);
}

Test(alloc_fail, parsing_and_building_a_model_file)
{
    file_ctx c = {0};
    make_dir(&c);
    scenario s = {.name = "model file", .act = act_model_file, .teardown = teardown_files};
    sweep(&s, &c);
    remove_dir(&c);
}

/* The graph form: named nodes, a skip connection, a concat, batch norm
 * and dropout. */
static const char dag_yaml[] =
    "nabla: 1\n"
    "name: dag\n"
    "input: {x: [1, 6, 6]}\n"
    "nodes:\n"
    "  - {name: flat, op: flatten, inputs: [x]}\n"
    "  - {name: h1, op: dense, inputs: [flat], units: 6, activation: relu}\n"
    "  - {name: bn, op: batchnorm, inputs: [h1]}\n"
    "  - {name: h2, op: dense, inputs: [bn], units: 6}\n"
    "  - {name: skip, op: add, inputs: [h1, h2]}\n"
    "  - {name: both, op: concat, inputs: [skip, h1], axis: 1}\n"
    "  - {name: drop, op: dropout, inputs: [both], rate: 0.5}\n"
    "  - {name: logits, op: dense, inputs: [drop], units: 3}\n"
    "output: logits\n"
    "loss: softmax_cross_entropy\n";

Test(alloc_fail, parsing_and_building_a_model_file_in_graph_form)
{
    file_ctx c = {0};
    make_dir(&c);
    write_text(c.path, dag_yaml);
    scenario s = {.name = "model file (nodes)", .act = act_model_file,
                  .teardown = teardown_files};
    sweep(&s, &c);
    remove_dir(&c);
}

/* ---------------------------------------------------------------- (e) loading weights */

/* Weights of the tiny model, saved once with the default allocator. */
static void save_weights(file_ctx *c)
{
    nb_error err = {0};
    nb_model_file *m = nb_model_file_parse(model_yaml, strlen(model_yaml), "tiny", &err);
    cr_assert_not_null(m, "%s", err.message);
    nb_graph *g = nb_graph_new();
    nb_graph_seed(g, 7);
    nb_model_io io = {0};
    cr_assert_eq(nb_model_file_build(g, BATCH, &io, m), NB_OK, "%s", nb_graph_error(g));
    cr_assert_eq(nb_weights_save(g, c->weights, model_yaml, &err), NB_OK, "%s", err.message);
    nb_graph_free(g);
    nb_model_file_free(m);
}

static void setup_model_graph(void *ctx)
{
    file_ctx *c = ctx;
    nb_error err = {0};
    c->m = nb_model_file_parse(model_yaml, strlen(model_yaml), "tiny", &err);
    cr_assert_not_null(c->m, "%s", err.message);
    c->g = nb_graph_new();
    nb_model_io io = {0};
    cr_assert_eq(nb_model_file_build(c->g, BATCH, &io, c->m), NB_OK, "%s", nb_graph_error(c->g));
}

static nb_status act_load_weights(void *ctx, char *msg, size_t size, double *result)
{
    file_ctx *c = ctx;
    nb_error err = {0};
    c->text = nb_weights_model_yaml(c->weights, &err);
    if (!c->text) {
        copy_msg(msg, size, err.message);
        return err.status;
    }
    nb_status st = nb_weights_load(c->g, c->weights, &err);
    copy_msg(msg, size, err.message);
    *result = st == NB_OK ? sum_params(c->g) + (double)strlen(c->text) : NAN;
    return st;
}

Test(alloc_fail, loading_weights)
{
    t_need("hdf5");
    file_ctx c = {0};
    make_dir(&c);
    save_weights(&c);
    scenario s = {.name = "weights load", .setup = setup_model_graph, .act = act_load_weights,
                  .teardown = teardown_files};
    sweep(&s, &c);
    remove_dir(&c);
}

/* ---------------------------------------------------------------- (f) a training step */

static nb_status act_train_step(void *ctx, char *msg, size_t size, double *result)
{
    file_ctx *c = ctx;
    nb_error err = {0};
    nb_train_opts o = {.batch = BATCH, .seed = 5,
                       .optimizer = t_optimizer(NB_OPT_ADAM, 0.01f, 0)};
    c->t = nb_trainer_new(small_cnn, NULL, NB_SHAPE(1, 6, 6), 1, &o, &err);
    if (!c->t) {
        copy_msg(msg, size, err.message);
        return err.status;
    }
    double loss = 0, l;
    for (int i = 0; i < 2; i++) {
        nb_status st = nb_trainer_step(c->t, x_data, y_data, BATCH, &l);
        if (st != NB_OK) {
            copy_msg(msg, size, nb_trainer_error(c->t));
            return st;
        }
        loss += l;
    }
    *result = loss + sum_params(nb_trainer_graph(c->t));
    return NB_OK;
}

Test(alloc_fail, a_training_step)
{
    file_ctx c = {0};
    scenario s = {.name = "train step", .act = act_train_step, .teardown = teardown_files};
    sweep(&s, &c);
}

/* ---------------------------------------------------------------- saving */

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s is gone", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* After every run the folder holds the model, the weights file (or the
 * drawing) as it was before the run (a refused save) or a whole new one,
 * and nothing else: no temporary left behind. */
static void check_no_half_file(void *ctx)
{
    file_ctx *c = ctx;
    DIR *d = opendir(c->dir);
    for (struct dirent *e; d && (e = readdir(d));)
        cr_assert(!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
                      !strcmp(e->d_name, "tiny.yaml") || !strcmp(e->d_name, "tiny.h5") ||
                      !strcmp(e->d_name, "tiny.dot") || !strcmp(e->d_name, "tiny.onnx"),
                  "a save left %s behind in %s", e->d_name, c->dir);
    closedir(d);
}

static void setup_trainer(void *ctx)
{
    file_ctx *c = ctx;
    char msg[512];
    double r;
    cr_assert_eq(act_train_step(c, msg, sizeof msg, &r), NB_OK, "%s", msg);
}

/* The saved file, read back with the default allocator: its parameters
 * and its model text, or the bytes it had before when the save failed. */
static nb_status act_save(void *ctx, char *msg, size_t size, double *result, bool checkpoint)
{
    file_ctx *c = ctx;
    nb_error err = {0};
    size_t before_len;
    unsigned char *before = read_all(c->weights, &before_len);
    nb_status st = checkpoint ? nb_checkpoint_save(c->t, c->weights, model_yaml, &err)
                              : nb_weights_save(nb_trainer_graph(c->t), c->weights, model_yaml,
                                                &err);
    copy_msg(msg, size, err.message);
    size_t len;
    unsigned char *now = read_all(c->weights, &len);
    if (st != NB_OK) {
        cr_assert(len == before_len && !memcmp(now, before, len),
                  "a refused save changed %s", c->weights);
    } else {
        *result = (double)nb_trainer_num_param_values(c->t);
    }
    free(now);
    free(before);
    return st;
}

static nb_status act_save_weights(void *ctx, char *msg, size_t size, double *result)
{
    return act_save(ctx, msg, size, result, false);
}

static nb_status act_save_checkpoint(void *ctx, char *msg, size_t size, double *result)
{
    return act_save(ctx, msg, size, result, true);
}

Test(alloc_fail, saving_weights_and_checkpoints)
{
    t_need("hdf5");
    file_ctx c = {0};
    make_dir(&c);
    save_weights(&c);
    scenario s = {.name = "weights save", .setup = setup_trainer, .act = act_save_weights,
                  .teardown = teardown_files, .check_files = check_no_half_file};
    sweep(&s, &c);
    scenario k = {.name = "checkpoint save", .setup = setup_trainer, .act = act_save_checkpoint,
                  .teardown = teardown_files, .check_files = check_no_half_file};
    sweep(&k, &c);
    remove_dir(&c);
}

/* ---------------------------------------------------------------- ONNX export */

/* The small CNN as an ONNX file; the result is the file's size, which a
 * run that recovered must match byte for byte in count. */
static nb_status act_onnx_export(void *ctx, char *msg, size_t size, double *result)
{
    file_ctx *c = ctx;
    char path[320];
    snprintf(path, sizeof path, "%s/tiny.onnx", c->dir);
    nb_error err = {0};
    nb_status st = nb_onnx_export(small_cnn, NULL, NULL, path, &err);
    copy_msg(msg, size, err.message);
    struct stat sb;
    if (st == NB_OK && stat(path, &sb) == 0)
        *result = (double)sb.st_size;
    remove(path);
    return st;
}

Test(alloc_fail, exporting_onnx)
{
    t_need("onnx");
    file_ctx c = {0};
    make_dir(&c);
    scenario s = {.name = "onnx export", .act = act_onnx_export,
                  .check_files = check_no_half_file};
    sweep(&s, &c);
    remove_dir(&c);
}

/* ---------------------------------------------------------------- ONNX import */

static void setup_onnx_file(void *ctx)
{
    file_ctx *c = ctx;
    char path[320];
    snprintf(path, sizeof path, "%s/tiny.onnx", c->dir);
    nb_error err = {0};
    cr_assert_eq(nb_onnx_export(small_cnn, NULL, NULL, path, &err), NB_OK, "%s", err.message);
}

/* The small CNN's ONNX file imported as a model and weights; the result
 * sums the model's size and its parameters as the weights file holds
 * them. A refused import leaves neither (check_no_half_file). */
static nb_status act_onnx_import(void *ctx, char *msg, size_t size, double *result)
{
    file_ctx *c = ctx;
    char onnx[320], yaml[320], weights[320];
    snprintf(onnx, sizeof onnx, "%s/tiny.onnx", c->dir);
    snprintf(yaml, sizeof yaml, "%s/imported.yaml", c->dir);
    snprintf(weights, sizeof weights, "%s/imported.h5", c->dir);
    nb_error err = {0};
    nb_status st = nb_onnx_import(onnx, yaml, weights, &err);
    copy_msg(msg, size, err.message);
    if (st == NB_OK) {
        bool armed = fa.armed;
        fa.armed = false;   /* reading back is not what is swept */
        size_t len;
        free(read_all(yaml, &len));
        nb_model_file *mf = nb_model_file_load(yaml, &err);
        cr_assert_not_null(mf, "%s", err.message);
        nb_graph *g = nb_graph_new();
        nb_model_io io = {0};
        cr_assert_eq(nb_model_file_build(g, BATCH, &io, mf), NB_OK, "%s", nb_graph_error(g));
        cr_assert_eq(nb_weights_load(g, weights, &err), NB_OK, "%s", err.message);
        *result = (double)len + sum_params(g);
        nb_graph_free(g);
        nb_model_file_free(mf);
        fa.armed = armed;
    }
    remove(yaml);
    remove(weights);
    return st;
}

Test(alloc_fail, importing_onnx)
{
    t_need("onnx");
    t_need("hdf5");
    file_ctx c = {0};
    make_dir(&c);
    setup_onnx_file(&c);
    scenario s = {.name = "onnx import", .act = act_onnx_import,
                  .check_files = check_no_half_file};
    sweep(&s, &c);
    remove_dir(&c);
}

/* ---------------------------------------------------------------- a deep graph
 * Enough nodes (40 dense layers and their backward pass) to fill several
 * arena blocks, so refusals land between layers, inside nb_grad and in
 * the planner rather than only at the first block. */

#define DEEP_LAYERS 40

static nb_status act_deep(void *ctx, char *msg, size_t size, double *result)
{
    graph_ctx *c = ctx;
    c->g = nb_graph_new();
    if (!c->g) {
        copy_msg(msg, size, "out of memory for a graph (nb_graph_new gave NULL)");
        return NB_ERR_NOMEM;
    }
    nb_graph_seed(c->g, 9);
    nb_node *x = nb_input(c->g, "x", NB_SHAPE(BATCH, 36)), *h = x;
    for (int i = 0; i < DEEP_LAYERS; i++)
        h = nb_dense(c->g, h, (nb_dense_opts){.units = 4, .activation = NB_ACT_TANH});
    nb_node *loss = nb_sum(c->g, nb_mul(c->g, h, h), NULL, 0, false);
    nb_node *first = nb_graph_param(c->g, 0), *grad = NULL;
    nb_status st = first ? nb_grad(c->g, loss, &first, 1, &grad) : nb_graph_status(c->g);
    nb_node *outs[] = {loss, grad};
    if (st == NB_OK && !(c->rt = nb_runtime_new(c->g, outs, 2)))
        st = nb_graph_status(c->g);
    if (st == NB_OK && (st = nb_runtime_set_input(c->rt, x, x_data)) == NB_OK)
        st = nb_runtime_run(c->rt);
    copy_msg(msg, size, nb_graph_error(c->g));
    if (st == NB_OK)
        *result = nb_runtime_value(c->rt, loss)[0] + nb_runtime_value(c->rt, grad)[0];
    return st;
}

Test(alloc_fail, a_deep_graph_built_differentiated_and_run)
{
    graph_ctx c = {0};
    scenario s = {.name = "deep graph", .act = act_deep, .teardown = teardown_graph};
    sweep_stats st = sweep(&s, &c);
    cr_assert_gt(st.points, 8, "the deep graph fits in %ld allocations", st.points);
}

/* ---------------------------------------------------------------- fitting
 * nb_trainer_fit over 8 examples for 2 epochs with a held-out validation
 * set and early stopping (the best weights kept), a test set, then a
 * classification report: the shuffle order, the split, the evaluation
 * builds and the best-weights buffer all allocate. */

typedef struct fit_ctx {
    nb_dataset *train, *test;
    nb_trainer *t;
    nb_class_report report;
} fit_ctx;

static void setup_fit(void *ctx)
{
    fit_ctx *c = ctx;
    nb_error err = {0};
    c->train = nb_dataset_new(8, NB_SHAPE(1, 6, 6), 1, &err);
    c->test = nb_dataset_new(3, NB_SHAPE(1, 6, 6), 1, &err);
    cr_assert(c->train && c->test, "%s", err.message);
    for (int64_t i = 0; i < 8 * 36; i++)
        c->train->x[i] = x_data[i % (BATCH * 36)] * (float)(1 + i % 3);
    for (int64_t i = 0; i < 3 * 36; i++)
        c->test->x[i] = x_data[(i + 5) % (BATCH * 36)];
    for (int i = 0; i < 8; i++)
        c->train->y[i] = (float)(i % 3);
    for (int i = 0; i < 3; i++)
        c->test->y[i] = (float)i;
}

static nb_status act_fit(void *ctx, char *msg, size_t size, double *result)
{
    fit_ctx *c = ctx;
    nb_error err = {0};
    nb_train_opts o = {.batch = 3, .epochs = 2, .seed = 4, .validation = 0.25, .patience = 1,
                       .eval_batch = 2, .optimizer = {.kind = NB_OPT_SGD, .lr = 0.1f,
                                                      .momentum = 0.9f}};
    c->t = nb_trainer_new(small_cnn, NULL, NB_SHAPE(1, 6, 6), 1, &o, &err);
    if (!c->t) {
        copy_msg(msg, size, err.message);
        return err.status;
    }
    double loss = 0, acc = 0;
    nb_status st = nb_trainer_fit(c->t, c->train, c->test);
    if (st == NB_OK)
        st = nb_trainer_evaluate(c->t, c->test, &loss, &acc);
    if (st == NB_OK)
        st = nb_trainer_class_report(c->t, c->test, 2, &c->report, NULL);
    copy_msg(msg, size, nb_trainer_error(c->t));
    if (st == NB_OK)
        *result = loss + acc + c->report.macro_f1 + sum_params(nb_trainer_graph(c->t));
    return st;
}

static void teardown_fit(void *ctx)
{
    fit_ctx *c = ctx;
    nb_class_report_free(&c->report);
    nb_trainer_free(c->t);
    nb_dataset_free(c->train);
    nb_dataset_free(c->test);
    *c = (fit_ctx){0};
}

Test(alloc_fail, fitting_with_validation_and_a_report)
{
    fit_ctx c = {0};
    scenario s = {.name = "fit", .setup = setup_fit, .act = act_fit, .teardown = teardown_fit};
    sweep(&s, &c);
}

/* ---------------------------------------------------------------- resuming */

static void setup_resume(void *ctx)
{
    file_ctx *c = ctx;
    char msg[512];
    double r;
    cr_assert_eq(act_train_step(c, msg, sizeof msg, &r), NB_OK, "%s", msg);
}

static nb_status act_resume(void *ctx, char *msg, size_t size, double *result)
{
    file_ctx *c = ctx;
    nb_error err = {0};
    nb_status st = nb_checkpoint_load(c->t, c->weights, &err);
    copy_msg(msg, size, err.message);
    if (st == NB_OK)
        *result = sum_params(nb_trainer_graph(c->t));
    return st;
}

Test(alloc_fail, resuming_from_a_checkpoint)
{
    t_need("hdf5");
    file_ctx c = {0};
    make_dir(&c);
    setup_resume(&c);
    nb_error err = {0};
    cr_assert_eq(nb_checkpoint_save(c.t, c.weights, model_yaml, &err), NB_OK, "%s", err.message);
    teardown_files(&c);
    scenario s = {.name = "checkpoint load", .setup = setup_resume, .act = act_resume,
                  .teardown = teardown_files};
    sweep(&s, &c);
    remove_dir(&c);
}

/* ---------------------------------------------------------------- datasets
 * The IDX fixture read in its byte form, a slice turned to floats, and an
 * HDF5 dataset file read back. */

typedef struct data_ctx {
    char dir[256], h5[300], images[512], labels[512];
    nb_dataset *idx, *slice, *h;
} data_ctx;

static nb_status act_datasets(void *ctx, char *msg, size_t size, double *result)
{
    data_ctx *c = ctx;
    nb_error err = {0};
    nb_status st = NB_OK;
    if (!(c->idx = nb_idx_load_u8(c->images, c->labels, &err)) ||
        !(c->slice = nb_dataset_slice(c->idx, 10, 20, &err)) ||
        (st = nb_dataset_to_float(c->slice, &err)) != NB_OK ||
        !(c->h = nb_hdf5_data_load(c->h5, (nb_hdf5_data_opts){0}, &err))) {
        copy_msg(msg, size, err.message);
        return err.status;
    }
    double s = 0;
    for (int64_t i = 0; i < c->slice->n * 784; i++)
        s += c->slice->x[i];
    for (int64_t i = 0; i < c->h->n * 36; i++)
        s += c->h->x[i] * (double)(i % 5);
    *result = s + c->idx->n + c->h->y[1];
    return st;
}

static void teardown_datasets(void *ctx)
{
    data_ctx *c = ctx;
    nb_dataset_free(c->idx);
    nb_dataset_free(c->slice);
    nb_dataset_free(c->h);
    c->idx = c->slice = c->h = NULL;
}

Test(alloc_fail, loading_datasets)
{
    t_need("hdf5");
    data_ctx c = {0};
    const char *fx = getenv("NABLA_FIXTURES");
    cr_assert_not_null(fx, "NABLA_FIXTURES is not set");
    snprintf(c.images, sizeof c.images, "%s/fmnist-test-images-idx3-ubyte.gz", fx);
    snprintf(c.labels, sizeof c.labels, "%s/fmnist-test-labels-idx1-ubyte.gz", fx);
    file_ctx f = {0};
    make_dir(&f);
    snprintf(c.h5, sizeof c.h5, "%s/data.h5", f.dir);
    nb_array arrays[] = {{"X", NB_SHAPE(BATCH, 1, 6, 6), x_data}, {"y", NB_SHAPE(BATCH), y_data}};
    nb_error err = {0};
    cr_assert_eq(nb_hdf5_write(c.h5, arrays, 2, &err), NB_OK, "%s", err.message);
    scenario s = {.name = "datasets", .act = act_datasets, .teardown = teardown_datasets};
    sweep(&s, &c);
    remove_dir(&f);
}

/* ---------------------------------------------------------------- predicting and drawing */

static nb_status act_predict_draw(void *ctx, char *msg, size_t size, double *result)
{
    file_ctx *c = ctx;
    float probs[BATCH * 3];
    int64_t classes[BATCH];
    nb_status st = nb_trainer_predict_array(c->t, x_data, BATCH,
                                            (nb_predict_out){.probs = probs, .classes = classes});
    if (st != NB_OK) {
        copy_msg(msg, size, nb_trainer_error(c->t));
        return st;
    }
    char path[320];
    snprintf(path, sizeof path, "%s/tiny.dot", c->dir);
    nb_error err = {0};
    if ((st = nb_trainer_dot_write(c->t, (nb_dot_opts){.backward = true}, path, &err)) != NB_OK) {
        copy_msg(msg, size, err.message);
        return st;
    }
    *result = probs[0] + probs[4] + (double)classes[1];
    return NB_OK;
}

Test(alloc_fail, predicting_and_drawing)
{
    t_need("hdf5");
    t_need("graphviz");
    file_ctx c = {0};
    make_dir(&c);
    scenario s = {.name = "predict and dot", .setup = setup_resume, .act = act_predict_draw,
                  .teardown = teardown_files, .check_files = check_no_half_file};
    sweep(&s, &c);
    remove_dir(&c);
}

/* ---------------------------------------------------------------- a model file trained
 * What `nabla train` does first: the model file parsed, its options read,
 * a trainer over nb_model_file_build, one step. */

static nb_status act_file_trainer(void *ctx, char *msg, size_t size, double *result)
{
    file_ctx *c = ctx;
    nb_error err = {0};
    c->m = nb_model_file_parse(model_yaml, strlen(model_yaml), "tiny.yaml", &err);
    if (!c->m) {
        copy_msg(msg, size, err.message);
        return err.status;
    }
    nb_train_opts o = nb_model_file_train_opts(c->m);
    c->t = nb_trainer_new(nb_model_file_build, c->m, nb_model_file_input_shape(c->m),
                          nb_model_file_y_width(c->m), &o, &err);
    if (!c->t) {
        copy_msg(msg, size, err.message);
        return err.status;
    }
    double loss;
    nb_status st = nb_trainer_step(c->t, x_data, y_data, BATCH, &loss);
    copy_msg(msg, size, nb_trainer_error(c->t));
    if (st == NB_OK)
        *result = loss + sum_params(nb_trainer_graph(c->t));
    return st;
}

Test(alloc_fail, training_a_model_file)
{
    file_ctx c = {0};
    scenario s = {.name = "model file trainer", .act = act_file_trainer,
                  .teardown = teardown_files};
    sweep(&s, &c);
}

/* ---------------------------------------------------------------- writing arrays */

static nb_status act_write_arrays(void *ctx, char *msg, size_t size, double *result)
{
    file_ctx *c = ctx;
    size_t before_len, len;
    unsigned char *before = read_all(c->weights, &before_len);
    nb_array arrays[] = {{"X", NB_SHAPE(BATCH, 36), x_data}, {"deep/y", NB_SHAPE(BATCH), y_data}};
    nb_error err = {0};
    nb_status st = nb_hdf5_write(c->weights, arrays, 2, &err);
    copy_msg(msg, size, err.message);
    unsigned char *now = read_all(c->weights, &len);
    if (st != NB_OK)
        cr_assert(len == before_len && !memcmp(now, before, len), "a refused write changed %s",
                  c->weights);
    else
        *result = 2;
    free(now);
    free(before);
    return st;
}

Test(alloc_fail, writing_arrays)
{
    t_need("hdf5");
    file_ctx c = {0};
    make_dir(&c);
    save_weights(&c);
    scenario s = {.name = "hdf5 write", .act = act_write_arrays, .check_files = check_no_half_file};
    sweep(&s, &c);
    remove_dir(&c);
}

/* ---------------------------------------------------------------- streams
 * The --stream readers, CSV and f32, over text in memory (getline's line
 * buffer is the C library's, outside the hook). */

typedef struct stream_ctx {
    FILE *in;
    nb_stream *s;
    nb_stream_format format;
} stream_ctx;

static const char csv_text[] = "# x1,x2,x3,y\n0.5,1,2,1\n\n3,4,5.25,0\n";
static const float f32_records[] = {0.5f, 1, 2, 1, 3, 4, 5.25f, 0};

static void setup_stream(void *ctx)
{
    stream_ctx *c = ctx;
    c->in = c->format == NB_STREAM_CSV ? fmemopen((void *)csv_text, strlen(csv_text), "r")
                                       : fmemopen((void *)f32_records, sizeof f32_records, "r");
    cr_assert_not_null(c->in);
}

static nb_status act_stream(void *ctx, char *msg, size_t size, double *result)
{
    stream_ctx *c = ctx;
    nb_error err = {0};
    c->s = nb_stream_new(c->in, (nb_stream_opts){.format = c->format, .d = 3, .k = 1,
                                                 .classes = 2, .name = "mem"}, &err);
    if (!c->s) {
        copy_msg(msg, size, err.message);
        return err.status;
    }
    float x[3], y[1];
    double s = 0;
    int r;
    while ((r = nb_stream_read(c->s, x, y, &err)) == 1)
        s += x[0] + 2 * x[1] + 3 * x[2] + 4 * y[0];
    if (r < 0) {
        copy_msg(msg, size, err.message);
        return err.status;
    }
    *result = s + (double)nb_stream_position(c->s);
    return NB_OK;
}

static void teardown_stream(void *ctx)
{
    stream_ctx *c = ctx;
    nb_stream_free(c->s);
    fclose(c->in);
    c->s = NULL, c->in = NULL;
}

Test(alloc_fail, reading_streams)
{
    for (int f = 0; f < 2; f++) {
        stream_ctx c = {.format = f ? NB_STREAM_F32 : NB_STREAM_CSV};
        scenario s = {.name = f ? "stream f32" : "stream csv", .setup = setup_stream,
                      .act = act_stream, .teardown = teardown_stream};
        sweep(&s, &c);
    }
}

/* ---------------------------------------------------------------- a model written as YAML */

/* nb_model_yaml of the small CNN: two builds, the walk, the text and its
 * reading back. The result: the text's length and a checksum of it. */
static nb_status act_model_yaml(void *ctx, char *msg, size_t size, double *result)
{
    (void)ctx;
    nb_error err = {0};
    char *text = nb_model_yaml(small_cnn, NULL, NULL, &err);
    copy_msg(msg, size, err.message);
    if (!text)
        return err.status;
    double sum = 0;
    for (size_t i = 0; text[i]; i++)
        sum += (double)(unsigned char)text[i] * (double)(i % 13 + 1);
    *result = sum;
    nb_free(text);
    return NB_OK;
}

Test(alloc_fail, writing_a_model_built_in_c)
{
    scenario s = {.name = "model yaml", .act = act_model_yaml};
    sweep(&s, NULL);
}
