/*
 * test_hdf5.c — HDF5 weights, checkpoints, datasets and arrays: round trips
 * (values and model outputs identical after save and load, the model's YAML
 * text, a checkpoint resumed through the file bit for bit), atomic writes
 * (a writer killed with SIGKILL mid-save never damages the file in place),
 * h5dump reading a weights file with no nabla code, and a corpus of bad,
 * truncated and wrong files, each refused with a message naming the file
 * and what is wrong, the model left untouched.
 *
 * Every file is made by the test in its own temporary folder. Tests that
 * need the HDF5 command-line tools (h5dump, h5import; Debian hdf5-tools)
 * skip themselves when those are not installed.
 */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

/* ---------------------------------------------------------------- files */

/* A fresh folder under TMPDIR (or /tmp); the caller removes it. */
static char *temp_dir(void)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *d = malloc(strlen(base) + 32);
    cr_assert_not_null(d);
    sprintf(d, "%s/nb_h5_XXXXXX", base);
    cr_assert_not_null(mkdtemp(d), "mkdtemp failed");
    return d;
}

/* Removes the folder and the files in it (it holds no subfolders). */
static void remove_dir(char *d)
{
    DIR *dir = opendir(d);
    for (struct dirent *e; dir && (e = readdir(dir));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", d, e->d_name);
        unlink(p);
    }
    if (dir)
        closedir(dir);
    rmdir(d);
    free(d);
}

/* "<dir>/<name>" in a static ring of buffers (enough for one assertion). */
static const char *in(const char *dir, const char *name)
{
    static char ring[8][1024];
    static int at;
    char *p = ring[at++ % 8];
    snprintf(p, sizeof ring[0], "%s/%s", dir, name);
    return p;
}

static unsigned char *read_all(const char *path, long *size)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    *size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)*size + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)*size, f), (size_t)*size);
    fclose(f);
    return buf;
}

static void write_all(const char *path, const void *data, long size)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fwrite(data, 1, (size_t)size, f), (size_t)size);
    fclose(f);
}

static bool have_tool(const char *path)
{
    return access(path, X_OK) == 0;
}

/* Runs a shell command; returns its exit status. */
static int run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* ---------------------------------------------------------------- models */

/* x [2,1,6,6] → conv2d 3×3 (3 filters, relu) → batch norm → local2d 2×2
 * (2 filters) → flatten → dense 4: every parameter layout, and frozen
 * state (the running statistics). */
static nb_node *conv_model(nb_graph *g, nb_node **x)
{
    *x = nb_input(g, "x", NB_SHAPE(2, 1, 6, 6));
    nb_node *h = nb_conv2d(g, *x, (nb_conv2d_opts){.filters = 3, .kernel = 3,
                                                   .activation = NB_ACT_RELU});
    h = nb_batchnorm(g, h, (nb_batchnorm_opts){0});
    h = nb_local2d(g, h, (nb_conv2d_opts){.filters = 2, .kernel = 2});
    return nb_dense(g, nb_flatten(g, h), (nb_dense_opts){.units = 4});
}

/* Puts seeded random values in every parameter (running variances kept
 * positive), so nothing is at its initial value. */
static void scramble(nb_graph *g, uint64_t seed)
{
    for (int i = 0; i < nb_graph_num_params(g); i++) {
        nb_node *p = nb_graph_param(g, i);
        t_fill(nb_param_data(p), nb_shape_numel(nb_node_shape(p)), seed + (uint64_t)i, 0.2f,
               1.5f);
    }
}

/* x [4,2] → dense 8 (tanh) → batch norm → dense 2: the corpus's model. */
static nb_graph *small_graph(uint64_t seed)
{
    nb_graph *g = nb_graph_new();
    nb_graph_seed(g, seed);
    nb_node *x = nb_input(g, "x", NB_SHAPE(4, 2));
    nb_node *h = nb_dense(g, x, (nb_dense_opts){.units = 8, .activation = NB_ACT_TANH});
    h = nb_batchnorm(g, h, (nb_batchnorm_opts){0});
    cr_assert_not_null(nb_dense(g, h, (nb_dense_opts){.units = 2}), "%s", nb_graph_error(g));
    scramble(g, seed);
    return g;
}

/* Every parameter's values, end to end (malloc'd). */
static float *snapshot(nb_graph *g, int64_t *total)
{
    int64_t n = 0;
    for (int i = 0; i < nb_graph_num_params(g); i++)
        n += nb_shape_numel(nb_node_shape(nb_graph_param(g, i)));
    float *s = malloc((size_t)n * sizeof *s), *at = s;
    cr_assert_not_null(s);
    for (int i = 0; i < nb_graph_num_params(g); i++) {
        nb_node *p = nb_graph_param(g, i);
        int64_t k = nb_shape_numel(nb_node_shape(p));
        memcpy(at, nb_param_data(p), (size_t)k * sizeof *s);
        at += k;
    }
    *total = n;
    return s;
}

/* Asserts two graphs hold the same parameters, bit for bit, by name. */
static void assert_same_params(nb_graph *a, nb_graph *b)
{
    cr_assert_eq(nb_graph_num_params(a), nb_graph_num_params(b));
    for (int i = 0; i < nb_graph_num_params(a); i++) {
        nb_node *pa = nb_graph_param(a, i);
        nb_node *pb = nb_graph_find(b, nb_node_name(pa));
        cr_assert_not_null(pb, "no %s", nb_node_name(pa));
        int64_t n = nb_shape_numel(nb_node_shape(pa));
        cr_assert(!memcmp(nb_param_data(pa), nb_param_data(pb), (size_t)n * sizeof(float)),
                  "%s differs", nb_node_name(pa));
    }
}

/* ---------------------------------------------------------------- weights */

/* Saved, overwritten, loaded: the same values and the same outputs; and a
 * freshly built graph (other initial values) loads them too. */
Test(hdf5, weights_round_trip_gives_identical_values_and_outputs)
{
    char *dir = temp_dir();
    const char *w = in(dir, "w.h5");
    float xin[72];
    t_fill(xin, 72, 3, -1, 1);
    nb_graph *g = nb_graph_new();
    nb_graph_seed(g, 1);
    nb_node *x, *y = conv_model(g, &x);
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    scramble(g, 11);
    nb_feed feed = {x, xin};
    float *before = t_eval(g, y, &feed, 1);
    int64_t n;
    float *saved = snapshot(g, &n);
    nb_error err = {0};
    cr_assert_eq(nb_weights_save(g, w, NULL, &err), NB_OK, "%s", err.message);

    scramble(g, 99);
    cr_assert_eq(nb_weights_load(g, w, &err), NB_OK, "%s", err.message);
    float *loaded = snapshot(g, &n);
    cr_assert(!memcmp(saved, loaded, (size_t)n * sizeof(float)), "values differ after load");
    float *after = t_eval(g, y, &feed, 1);
    cr_assert(!memcmp(before, after, 8 * sizeof(float)), "outputs differ after load");

    nb_graph *g2 = nb_graph_new();
    nb_graph_seed(g2, 2);
    nb_node *x2, *y2 = conv_model(g2, &x2);
    cr_assert_eq(nb_weights_load(g2, w, &err), NB_OK, "%s", err.message);
    assert_same_params(g, g2);
    nb_feed feed2 = {x2, xin};
    float *fresh = t_eval(g2, y2, &feed2, 1);
    cr_assert(!memcmp(before, fresh, 8 * sizeof(float)), "a fresh graph computes otherwise");

    free(before), free(after), free(fresh), free(saved), free(loaded);
    nb_graph_free(g);
    nb_graph_free(g2);
    remove_dir(dir);
}

/* The model's YAML is stored as text and read back byte for byte; a file
 * saved without one says so. */
Test(hdf5, model_yaml_text_is_stored_and_read_back)
{
    char *dir = temp_dir();
    nb_graph *g = small_graph(1);
    size_t len = 100000;
    char *yaml = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        yaml[i] = "layers:\n  - dense: {units: 8}  # ünïcode\n"[i % 42];
    yaml[len] = '\0';
    nb_error err = {0};
    cr_assert_eq(nb_weights_save(g, in(dir, "y.h5"), yaml, &err), NB_OK, "%s", err.message);
    char *back = nb_weights_model_yaml(in(dir, "y.h5"), &err);
    cr_assert_not_null(back, "%s", err.message);
    cr_assert_str_eq(back, yaml);
    nb_free(back);

    cr_assert_eq(nb_weights_save(g, in(dir, "n.h5"), NULL, &err), NB_OK, "%s", err.message);
    cr_assert_null(nb_weights_model_yaml(in(dir, "n.h5"), &err));
    cr_assert(strstr(err.message, "n.h5: /model_yaml: missing"), "%s", err.message);
    nb_array floats = {"model_yaml", NB_SHAPE(1), (float[]){1}};
    cr_assert_eq(nb_hdf5_write(in(dir, "f.h5"), &floats, 1, &err), NB_OK, "%s", err.message);
    cr_assert_null(nb_weights_model_yaml(in(dir, "f.h5"), &err));
    cr_assert(strstr(err.message, "f.h5: /model_yaml: holds floats, not text"), "%s",
              err.message);
    free(yaml);
    nb_graph_free(g);
    remove_dir(dir);
}

/* A parameter frozen since the file was written is found in the other
 * group (/params instead of /state) and loads. */
Test(hdf5, a_parameter_frozen_since_saving_still_loads)
{
    char *dir = temp_dir();
    nb_graph *g = small_graph(1), *h = small_graph(2);
    nb_error err = {0};
    cr_assert_eq(nb_weights_save(g, in(dir, "w.h5"), NULL, &err), NB_OK, "%s", err.message);
    nb_param_set_trainable(nb_graph_find(h, "dense1/w"), false);
    cr_assert_eq(nb_weights_load(h, in(dir, "w.h5"), &err), NB_OK, "%s", err.message);
    assert_same_params(g, h);
    nb_graph_free(g);
    nb_graph_free(h);
    remove_dir(dir);
}

/* examples/models/<name>, found from the fixtures folder meson points at
 * (or from the source root when run by hand there). */
static const char *model_path(const char *name)
{
    static char path[1024];
    const char *fx = getenv("NABLA_FIXTURES");
    if (fx)
        snprintf(path, sizeof path, "%s/../../examples/models/%s", fx, name);
    else
        snprintf(path, sizeof path, "examples/models/%s", name);
    return path;
}

/* Builds a model file's model for a batch of 2; returns its output. */
static nb_node *build_model_file(nb_graph *g, nb_model_file *m, nb_node **x)
{
    nb_model_io io = {0};
    cr_assert_eq(nb_model_file_build(g, 2, &io, m), NB_OK, "%s", nb_graph_error(g));
    cr_assert_not_null(io.x);
    cr_assert_not_null(io.output);
    *x = io.x;
    return io.output;
}

/* lenet5.yaml → graph → weights saved with the YAML → the YAML read back
 * from the file alone → a fresh graph (other initial values) → weights
 * loaded → identical outputs. */
Test(hdf5, yaml_model_round_trip_through_the_weights_file)
{
    char *dir = temp_dir();
    nb_error err = {0};
    nb_model_file *m = nb_model_file_load(model_path("lenet5.yaml"), &err);
    cr_assert_not_null(m, "%s", err.message);
    nb_graph *g = nb_graph_new();
    nb_graph_seed(g, 1);
    nb_node *x, *y = build_model_file(g, m, &x);
    cr_assert_eq(nb_graph_num_params(g), 10, "5 layers with weights and biases");
    int64_t n = nb_shape_numel(nb_node_shape(x));
    float *xin = malloc((size_t)n * sizeof *xin);
    t_fill(xin, n, 4, 0, 1);
    nb_feed feed = {x, xin};
    float *before = t_eval(g, y, &feed, 1);
    cr_assert_eq(nb_weights_save(g, in(dir, "lenet5.h5"), nb_model_file_text(m), &err), NB_OK,
                 "%s", err.message);

    char *text = nb_weights_model_yaml(in(dir, "lenet5.h5"), &err);
    cr_assert_not_null(text, "%s", err.message);
    cr_assert_str_eq(text, nb_model_file_text(m));
    nb_model_file *m2 = nb_model_file_parse(text, strlen(text), "lenet5.h5:/model_yaml", &err);
    cr_assert_not_null(m2, "%s", err.message);
    nb_graph *g2 = nb_graph_new();
    nb_graph_seed(g2, 2);
    nb_node *x2, *y2 = build_model_file(g2, m2, &x2);
    cr_assert_eq(nb_weights_load(g2, in(dir, "lenet5.h5"), &err), NB_OK, "%s", err.message);
    assert_same_params(g, g2);
    nb_feed feed2 = {x2, xin};
    float *after = t_eval(g2, y2, &feed2, 1);
    int64_t k = nb_shape_numel(nb_node_shape(y));
    cr_assert_eq(k, 20);
    cr_assert(!memcmp(before, after, (size_t)k * sizeof(float)), "outputs differ after load");

    free(before), free(after), free(xin), nb_free(text);
    nb_model_file_free(m);
    nb_model_file_free(m2);
    nb_graph_free(g);
    nb_graph_free(g2);
    remove_dir(dir);
}

/* h5dump, with no nabla code, lists the parameters and their layouts. */
Test(hdf5, h5dump_reads_a_weights_file)
{
    if (!have_tool("/usr/bin/h5dump"))
        cr_skip_test("h5dump is not installed (Debian hdf5-tools)");
    char *dir = temp_dir();
    nb_graph *g = nb_graph_new();
    nb_node *x;
    cr_assert_not_null(conv_model(g, &x));
    nb_error err = {0};
    cr_assert_eq(nb_weights_save(g, in(dir, "w.h5"), "layers: []\n", &err), NB_OK, "%s",
                 err.message);
    char cmd[1200], out[65536];
    snprintf(cmd, sizeof cmd, "/usr/bin/h5dump -n 1 '%s' 2>&1; /usr/bin/h5dump '%s' 2>&1",
             in(dir, "w.h5"), in(dir, "w.h5"));
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t got = fread(out, 1, sizeof out - 1, p);
    out[got] = '\0';
    cr_assert_eq(pclose(p), 0, "h5dump failed: %s", out);
    const char *want[] = {"/params/conv2d1/w", "/params/conv2d1/b", "/params/local2d1/w",
                          "/params/dense1/w", "/state/batchnorm1/running_mean", "/model_yaml",
                          "\"OIHW\"", "\"LIO\"", "\"IO\"", "\"OL\"", "\"nabla\"",
                          "H5T_IEEE_F32LE", "DATASPACE  SIMPLE { ( 3, 1, 3, 3 )"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        cr_assert(strstr(out, want[i]), "h5dump output lacks %s", want[i]);
    nb_graph_free(g);
    remove_dir(dir);
}

/* ---------------------------------------------------------------- checkpoints */

/* Two Gaussian blobs, labels 0 and 1. */
static nb_dataset *blobs(int64_t n, uint64_t seed)
{
    nb_dataset *ds = nb_dataset_new(n, NB_SHAPE(2), 1, NULL);
    cr_assert_not_null(ds);
    nb_rng r = nb_rng_seed(seed);
    for (int64_t i = 0; i < n; i++) {
        int c = (int)(i % 2);
        ds->x[2 * i] = (c ? 1.0f : -1.0f) + 0.5f * nb_rng_normal(&r);
        ds->x[2 * i + 1] = (c ? -0.5f : 0.5f) + 0.5f * nb_rng_normal(&r);
        ds->y[i] = (float)c;
    }
    ds->n_classes = 2;
    return ds;
}

/* 2 → 8 (tanh; or *(int *)ud units) → batch norm → dropout → 2 logits. */
static nb_status bn_dropout_model(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    int64_t units = ud ? *(const int *)ud : 8;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 2));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_dense(g, io->x, (nb_dense_opts){.units = units, .activation = NB_ACT_TANH});
    h = nb_dropout(g, nb_batchnorm(g, h, (nb_batchnorm_opts){0}), 0.2f);
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 2});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

typedef struct losses {
    double v[1024];
    int n;
} losses;

static void on_step(const nb_progress *p, void *ud)
{
    losses *l = ud;
    if (l->n < 1024)
        l->v[l->n++] = p->loss;
}

static nb_trainer *new_trainer(losses *l, int epochs, nb_optimizer_kind kind)
{
    nb_train_opts o = {.batch = 16, .epochs = epochs, .seed = 7,
                       .optimizer = t_optimizer(kind, 0.01f, 0.9f),
                       .on_step = on_step, .ud = l};
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(bn_dropout_model, NULL, NB_SHAPE(2), 1, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    return t;
}

/* 4 epochs straight, or 2 → checkpoint file → a new trainer loads it and
 * trains on: the same per-step losses, bit for bit, for each optimiser. */
Test(hdf5, checkpoint_resume_through_the_file_is_bit_for_bit)
{
    nb_optimizer_kind kinds[] = {NB_OPT_ADAM, NB_OPT_SGD, NB_OPT_RMSPROP};
    char *dir = temp_dir();
    nb_dataset *train = blobs(90, 5);
    for (int k = 0; k < 3; k++) {
        losses *full = calloc(1, sizeof *full), *part = calloc(1, sizeof *part);
        nb_trainer *a = new_trainer(full, 4, kinds[k]);
        cr_assert_eq(nb_trainer_fit(a, train, NULL), NB_OK, "%s", nb_trainer_error(a));

        nb_trainer *b = new_trainer(part, 2, kinds[k]);
        cr_assert_eq(nb_trainer_fit(b, train, NULL), NB_OK, "%s", nb_trainer_error(b));
        nb_error err = {0};
        cr_assert_eq(nb_checkpoint_save(b, in(dir, "c.h5"), "model: x\n", &err), NB_OK, "%s",
                     err.message);
        nb_trainer_free(b);

        nb_trainer *c = new_trainer(part, 4, kinds[k]);
        cr_assert_eq(nb_checkpoint_load(c, in(dir, "c.h5"), &err), NB_OK, "%s", err.message);
        cr_assert_eq(nb_trainer_state(c).epoch, 2);
        cr_assert_eq(nb_trainer_fit(c, train, NULL), NB_OK, "%s", nb_trainer_error(c));
        cr_assert_eq(full->n, 4 * 6, "4 epochs of 6 steps");
        cr_assert_eq(part->n, full->n, "optimiser %d: %d steps vs %d", k, part->n, full->n);
        for (int i = 0; i < full->n; i++)
            cr_assert(!memcmp(&part->v[i], &full->v[i], sizeof(double)),
                      "optimiser %d, step %d: %.9g vs %.9g", k, i, part->v[i], full->v[i]);
        nb_trainer_free(a);
        nb_trainer_free(c);
        free(full);
        free(part);
    }
    nb_dataset_free(train);
    remove_dir(dir);
}

/* ---------------------------------------------------------------- resuming another model */

/* 2 → 8 (activation *ud, relu for NULL) → 2 logits; one more tanh layer of
 * no parameters before the logits when the activation is NB_ACT_SIGMOID. */
static nb_status act_model(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    nb_activation act = ud ? *(const nb_activation *)ud : NB_ACT_RELU;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 2));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_dense(g, io->x, (nb_dense_opts){
        .units = 8, .activation = act == NB_ACT_SIGMOID ? NB_ACT_RELU : act});
    if (act == NB_ACT_SIGMOID)
        h = nb_tanh(g, h);
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 2});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

static nb_trainer *act_trainer(nb_activation *act, nb_optimizer_kind kind, int64_t batch)
{
    nb_train_opts o = {.batch = batch, .epochs = 3, .seed = 3,
                       .optimizer = t_optimizer(kind, 0.01f, 0.5f)};
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(act_model, act, NB_SHAPE(2), 1, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    return t;
}

/* A refused load leaves the trainer as it was: weights, state, optimiser. */
static void expect_untouched(nb_trainer *t, const float *w0)
{
    nb_node *w = nb_graph_find(nb_trainer_graph(t), "dense1/w");
    cr_assert(!memcmp(nb_param_data(w), w0, 16 * sizeof(float)), "a refused load changed weights");
    cr_assert_eq(nb_trainer_state(t).epoch, 0);
    cr_assert_eq(*nb_optimizer_steps(nb_trainer_optimizer(t)), 0);
}

/* An Adam checkpoint does not load into an SGD or RMSprop trainer (Adam's m
 * would become SGD's velocity), naming both; the weights alone do, with
 * the optimiser starting afresh and the epoch count carried on. */
Test(hdf5, checkpoint_of_another_optimiser_is_refused_unless_weights_only)
{
    char *dir = temp_dir();
    nb_dataset *train = blobs(40, 5);
    nb_trainer *a = act_trainer(NULL, NB_OPT_ADAM, 8);
    nb_error err = {0};
    cr_assert_eq(nb_trainer_fit(a, train, NULL), NB_OK, "%s", nb_trainer_error(a));
    cr_assert_eq(nb_checkpoint_save(a, in(dir, "c.h5"), NULL, &err), NB_OK, "%s", err.message);
    const char *want[] = {"checkpoint has adam state (m, v); this model trains with sgd",
                          "checkpoint has adam state (m, v); this model trains with rmsprop"};
    nb_optimizer_kind kinds[] = {NB_OPT_SGD, NB_OPT_RMSPROP};
    for (int k = 0; k < 2; k++) {
        nb_trainer *b = act_trainer(NULL, kinds[k], 8);
        float w0[16];
        memcpy(w0, nb_param_data(nb_graph_find(nb_trainer_graph(b), "dense1/w")), sizeof w0);
        err = (nb_error){0};
        cr_assert_eq(nb_checkpoint_load(b, in(dir, "c.h5"), &err), NB_ERR_ARG);
        cr_assert_eq(err.status, NB_ERR_ARG);
        cr_assert(strstr(err.message, "c.h5: ") && strstr(err.message, want[k]), "%s",
                  err.message);
        expect_untouched(b, w0);
        nb_trainer_free(b);
    }

    nb_trainer *b = act_trainer(NULL, NB_OPT_SGD, 8);
    float *slot0 = nb_optimizer_slot(nb_trainer_optimizer(b), 0);
    slot0[0] = 1; /* state from before the load goes too */
    cr_assert_eq(nb_checkpoint_load_weights(b, in(dir, "c.h5"), &err), NB_OK, "%s", err.message);
    for (int i = 0; i < nb_graph_num_params(nb_trainer_graph(a)); i++) {
        nb_node *p = nb_graph_param(nb_trainer_graph(a), i);
        nb_node *q = nb_graph_find(nb_trainer_graph(b), nb_node_name(p));
        cr_assert(!memcmp(nb_param_data(p), nb_param_data(q),
                          (size_t)nb_shape_numel(nb_node_shape(p)) * sizeof(float)),
                  "%s differs after loading the weights", nb_node_name(p));
    }
    nb_optimizer *opt = nb_trainer_optimizer(b);
    for (int k = 0; k < 2; k++)
        for (int64_t i = 0; i < nb_optimizer_size(opt); i++)
            cr_assert_eq(nb_optimizer_slot(opt, k)[i], 0.0f, "slot %d [%lld] kept", k,
                         (long long)i);
    cr_assert_eq(*nb_optimizer_steps(opt), 0);
    cr_assert_eq(nb_trainer_state(b).epoch, 3);
    cr_assert_eq(nb_trainer_state(b).global_step, nb_trainer_state(a).global_step);
    nb_trainer_free(a);
    nb_trainer_free(b);
    nb_dataset_free(train);
    remove_dir(dir);
}

/* A relu model's checkpoint does not load into a tanh model, nor into one
 * with a parameter-free layer more, even weights only: the message names
 * the layer and what each model computes there. Another batch size, lr
 * or momentum is a training setting: that loads. */
Test(hdf5, checkpoint_of_another_architecture_is_refused)
{
    char *dir = temp_dir();
    nb_trainer *a = act_trainer(NULL, NB_OPT_SGD, 8);
    nb_error err = {0};
    cr_assert_eq(nb_checkpoint_save(a, in(dir, "c.h5"), NULL, &err), NB_OK, "%s", err.message);

    nb_activation tanh_act = NB_ACT_TANH, extra = NB_ACT_SIGMOID;
    nb_trainer *b = act_trainer(&tanh_act, NB_OPT_SGD, 8);
    float w0[16];
    memcpy(w0, nb_param_data(nb_graph_find(nb_trainer_graph(b), "dense1/w")), sizeof w0);
    cr_assert_eq(nb_checkpoint_load(b, in(dir, "c.h5"), &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "c.h5: this checkpoint was written by a different model: in "
                                  "layer 'dense1' its model computes max(dense1/add, 0) [N,8]; "
                                  "this model computes tanh(dense1/add) [N,8]"),
              "%s", err.message);
    expect_untouched(b, w0);
    err = (nb_error){0};
    cr_assert_eq(nb_checkpoint_load_weights(b, in(dir, "c.h5"), &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "layer 'dense1' its model computes max("), "%s", err.message);
    expect_untouched(b, w0);
    nb_trainer_free(b);

    b = act_trainer(&extra, NB_OPT_SGD, 8);
    cr_assert_eq(nb_checkpoint_load(b, in(dir, "c.h5"), &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "different model: in layer 'tanh' its model computes "
                                  "matmul(dense1/max, dense2/w[8,2]) [N,2]; this model computes "
                                  "tanh(dense1/max) [N,8]"), "%s", err.message);
    nb_trainer_free(b);

    nb_train_opts o = {.batch = 5, .epochs = 9, .seed = 11,
                       .optimizer = {.kind = NB_OPT_SGD, .lr = 0.5f, .momentum = 0.9f}};
    b = nb_trainer_new(act_model, NULL, NB_SHAPE(2), 1, &o, &err);
    cr_assert_not_null(b, "%s", err.message);
    cr_assert_eq(nb_checkpoint_load(b, in(dir, "c.h5"), &err), NB_OK, "%s", err.message);
    nb_trainer_free(b);
    nb_trainer_free(a);
    remove_dir(dir);
}

/* The architecture text: one line per forward node, the batch as N, the
 * same at any batch size, different for another activation. */
Test(hdf5, architecture_text_names_nodes_and_the_batch)
{
    nb_error err = {0};
    nb_activation tanh_act = NB_ACT_TANH;
    char *relu = nb_model_architecture(act_model, NULL, &err);
    cr_assert_not_null(relu, "%s", err.message);
    char *tanh_text = nb_model_architecture(act_model, &tanh_act, &err);
    cr_assert_not_null(tanh_text, "%s", err.message);
    cr_assert(strstr(relu, "x = input [N,2]\n"), "%s", relu);
    cr_assert(strstr(relu, "dense1/matmul = matmul(#0, dense1/w[2,8]) [N,8]\n"), "%s", relu);
    cr_assert(strstr(relu, "y = input [N]\n"), "%s", relu);
    cr_assert(strstr(relu, "dense1/max = max(#3, 0) [N,8]\n"), "%s", relu);
    cr_assert(strstr(tanh_text, "dense1/tanh = tanh(#3) [N,8]\n"), "%s", tanh_text);
    cr_assert(strcmp(relu, tanh_text));
    nb_trainer *t = act_trainer(NULL, NB_OPT_ADAM, 13);
    char *mine = nb_trainer_architecture(t, &err);
    cr_assert_not_null(mine, "%s", err.message);
    cr_assert_str_eq(mine, relu, "the trainer's batch does not show");
    nb_free(mine);
    nb_free(relu);
    nb_free(tanh_text);
    nb_trainer_free(t);
}

/* ---------------------------------------------------------------- atomic writes */

static void fill_all(nb_graph *g, float v)
{
    for (int i = 0; i < nb_graph_num_params(g); i++) {
        nb_node *p = nb_graph_param(g, i);
        float *d = nb_param_data(p);
        for (int64_t j = 0, n = nb_shape_numel(nb_node_shape(p)); j < n; j++)
            d[j] = v;
    }
}

/* All values of every parameter equal to the first one, which it returns. */
static float uniform_value(nb_graph *g)
{
    float v = nb_param_data(nb_graph_param(g, 0))[0];
    for (int i = 0; i < nb_graph_num_params(g); i++) {
        nb_node *p = nb_graph_param(g, i);
        const float *d = nb_param_data(p);
        for (int64_t j = 0, n = nb_shape_numel(nb_node_shape(p)); j < n; j++)
            cr_assert_eq(d[j], v, "%s[%lld] is %g, not %g: a mixed file", nb_node_name(p),
                         (long long)j, d[j], v);
    }
    return v;
}

/*
 * A child process saves a model of 3 million parameters to one path over
 * and over, every value equal to its save count, and is killed with
 * SIGKILL at a random moment. After each kill the file loads and holds one
 * whole save, no older than the one before. The only other file the folder
 * may hold is the child's own temporary ".big.h5.tmp-<child pid>" (a save
 * cut short: what a crash leaves, never in the target's place); the test
 * counts those to be sure some kills did land mid-save, then removes them.
 */
Test(hdf5, a_writer_killed_mid_save_never_damages_the_file)
{
    char *dir = temp_dir(), target[1024];
    snprintf(target, sizeof target, "%s/big.h5", dir);
    nb_graph *g = nb_graph_new();
    cr_assert_not_null(nb_param(g, "big/w", NB_SHAPE(1500, 2000), NULL));
    cr_assert_not_null(nb_param(g, "big/b", NB_SHAPE(2000), NULL));
    nb_error err = {0};
    fill_all(g, 1);
    cr_assert_eq(nb_weights_save(g, target, NULL, &err), NB_OK, "%s", err.message);
    uint64_t seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 16;
    nb_rng r = nb_rng_seed(seed);
    float good = 1;
    int cut_short = 0;
    for (int round = 0; round < 40 && (round < 6 || !cut_short); round++) {
        fflush(NULL);
        pid_t pid = fork();
        cr_assert_geq(pid, 0, "fork failed");
        if (pid == 0) {
            for (float k = good + 1;; k++) {
                fill_all(g, k);
                if (nb_weights_save(g, target, NULL, NULL) != NB_OK)
                    _exit(3);
            }
        }
        long us = 10000 + (long)nb_rng_below(&r, 300000);
        nanosleep(&(struct timespec){.tv_sec = us / 1000000, .tv_nsec = us % 1000000 * 1000}, NULL);
        kill(pid, SIGKILL);
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFSIGNALED(status), "the writer stopped by itself (status %d)", status);

        char own[64];
        snprintf(own, sizeof own, ".big.h5.tmp-%ld", (long)pid);
        DIR *d = opendir(dir);
        for (struct dirent *e; (e = readdir(d));) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
                !strcmp(e->d_name, "big.h5"))
                continue;
            cr_assert_str_eq(e->d_name, own, "a stray file (seed %llu)", (unsigned long long)seed);
            cut_short++;
            unlink(in(dir, own));
        }
        closedir(d);

        fill_all(g, -1);
        cr_assert_eq(nb_weights_load(g, target, &err), NB_OK, "round %d (seed %llu): %s", round,
                     (unsigned long long)seed, err.message);
        float v = uniform_value(g);
        cr_assert_geq(v, good, "the file went back from save %g to %g", good, v);
        good = v;
    }
    cr_assert_gt(cut_short, 0, "no kill landed during a save (seed %llu)",
                 (unsigned long long)seed);
    nb_graph_free(g);
    remove_dir(dir);
}

/* ---------------------------------------------------------------- bad files */

/* Loading path into a fresh corpus model fails; the message names the file
 * and holds every string given (NULL-terminated); the model is unchanged. */
static void expect_refused(const char *path, ...)
{
    nb_graph *g = small_graph(3);
    int64_t n;
    float *before = snapshot(g, &n);
    nb_error err = {0};
    nb_status st = nb_weights_load(g, path, &err);
    cr_assert_neq(st, NB_OK, "%s was accepted", path);
    cr_assert_eq(err.status, st);
    cr_assert(strstr(err.message, path), "\"%s\" does not name %s", err.message, path);
    va_list ap;
    va_start(ap, path);
    for (const char *want; (want = va_arg(ap, const char *));)
        cr_assert(strstr(err.message, want), "\"%s\" lacks \"%s\"", err.message, want);
    va_end(ap);
    float *after = snapshot(g, &n);
    cr_assert(!memcmp(before, after, (size_t)n * sizeof(float)), "a refused load changed %s",
              path);
    free(before);
    free(after);
    nb_graph_free(g);
}

/* The corpus model's parameters written with nb_hdf5_write as params/… and
 * state/… — leaving out `drop`, giving `reshape` the shape [2,9], and
 * adding `extra` ([3]) — so the file is a weights file but for that. */
static void write_as_arrays(const char *path, const char *drop, const char *reshape,
                            const char *extra)
{
    static float zeros[64];
    nb_graph *g = small_graph(1);
    nb_array a[16];
    char names[16][128];
    int n = 0;
    for (int i = 0; i < nb_graph_num_params(g); i++) {
        nb_node *p = nb_graph_param(g, i);
        const char *name = nb_node_name(p);
        if (drop && !strcmp(name, drop))
            continue;
        snprintf(names[n], sizeof names[n], "%s/%s",
                 nb_param_trainable(p) ? "params" : "state", name);
        bool bad = reshape && !strcmp(name, reshape);
        a[n] = (nb_array){names[n], bad ? NB_SHAPE(2, 9) : nb_node_shape(p),
                          bad ? zeros : nb_param_data(p)};
        n++;
    }
    if (extra)
        a[n++] = (nb_array){extra, NB_SHAPE(3), zeros};
    nb_error err = {0};
    cr_assert_eq(nb_hdf5_write(path, a, n, &err), NB_OK, "%s", err.message);
    nb_graph_free(g);
}

/* A good corpus weights file, then copies of it damaged in place. */
static void make_damaged_copies(const char *dir, long *size)
{
    nb_graph *g = small_graph(1);
    nb_error err = {0};
    cr_assert_eq(nb_weights_save(g, in(dir, "good.h5"), NULL, &err), NB_OK, "%s", err.message);
    nb_graph_free(g);
    unsigned char *buf = read_all(in(dir, "good.h5"), size);
    long lengths[] = {8, 100, 512, *size / 3, *size / 2, *size - 100, *size - 1};
    for (int i = 0; i < 7; i++) {
        char name[64];
        snprintf(name, sizeof name, "cut%d.h5", i);
        write_all(in(dir, name), buf, lengths[i]);
    }
    unsigned char *hit = NULL;
    for (long i = 0; i + 5 <= *size; i++)
        if (!memcmp(buf + i, "nabla", 5)) {
            cr_assert_null(hit, "\"nabla\" twice in the file");
            hit = buf + i;
        }
    cr_assert_not_null(hit);
    memcpy(hit, "torch", 5);
    write_all(in(dir, "torch.h5"), buf, *size);
    free(buf);
}

/* Truncated copies, files that are not HDF5 or not nabla's, and weights
 * files that do not fit the model: each refused, naming file and what. */
Test(hdf5, a_corpus_of_bad_files_is_refused_with_reasons)
{
    char *dir = temp_dir();
    long size;
    make_damaged_copies(dir, &size);
    for (int i = 0; i < 7; i++) {
        char name[64];
        snprintf(name, sizeof name, "cut%d.h5", i);
        expect_refused(in(dir, name), "a damaged or unreadable HDF5 file (HDF5: ", NULL);
    }
    write_all(in(dir, "text.h5"), "hello, this is not HDF5\n", 24);
    expect_refused(in(dir, "text.h5"), "not an HDF5 file", NULL);
    write_all(in(dir, "empty.h5"), "", 0);
    expect_refused(in(dir, "empty.h5"), "empty file", NULL);
    expect_refused(in(dir, "missing.h5"), "cannot open: No such file", NULL);
    expect_refused(dir, "not a regular file", NULL);
    /* The format attribute edited in place, its header's checksum not:
     * refused as damage. (Files that say another format or version
     * properly are in tests/hostile/weights.) */
    expect_refused(in(dir, "torch.h5"), "a damaged or unreadable HDF5 file (HDF5: ",
                   "checksum", NULL);

    static const float x[12];
    nb_array data = {"X", NB_SHAPE(3, 4), x};
    cr_assert_eq(nb_hdf5_write(in(dir, "data.h5"), &data, 1, NULL), NB_OK);
    expect_refused(in(dir, "data.h5"), "/params: missing", NULL);
    write_as_arrays(in(dir, "shape.h5"), NULL, "dense1/w", NULL);
    expect_refused(in(dir, "shape.h5"), "/params/dense1/w is [2,9], the model has [2,8]", NULL);
    write_as_arrays(in(dir, "lack.h5"), "dense2/b", NULL, NULL);
    expect_refused(in(dir, "lack.h5"), "/params/dense2/b: missing", "[2]", NULL);
    write_as_arrays(in(dir, "lackstate.h5"), "batchnorm1/running_var", NULL, NULL);
    expect_refused(in(dir, "lackstate.h5"), "/state/batchnorm1/running_var: missing", NULL);
    write_as_arrays(in(dir, "extra.h5"), NULL, NULL, "params/dense9/w");
    expect_refused(in(dir, "extra.h5"), "/params/dense9/w: not in the model", NULL);
    write_as_arrays(in(dir, "extras.h5"), NULL, NULL, "state/old/running_mean");
    expect_refused(in(dir, "extras.h5"), "/state/old/running_mean", "right file", NULL);
    remove_dir(dir);
}

/* A checkpoint that lacks /train (a plain weights file), or whose model
 * differs, is refused and the trainer left as it was. */
Test(hdf5, checkpoints_missing_parts_are_refused)
{
    char *dir = temp_dir();
    losses l = {0};
    nb_trainer *t = new_trainer(&l, 1, NB_OPT_ADAM);
    nb_error err = {0};
    cr_assert_eq(nb_weights_save(nb_trainer_graph(t), in(dir, "w.h5"), NULL, &err), NB_OK);
    cr_assert_neq(nb_checkpoint_load(t, in(dir, "w.h5"), &err), NB_OK);
    cr_assert(strstr(err.message, "w.h5: /train: missing"), "%s", err.message);

    cr_assert_eq(nb_checkpoint_save(t, in(dir, "c.h5"), NULL, &err), NB_OK, "%s", err.message);
    cr_assert_eq(nb_weights_load(nb_trainer_graph(t), in(dir, "c.h5"), &err), NB_OK,
                 "a checkpoint is a weights file too: %s", err.message);
    int64_t steps = *nb_optimizer_steps(nb_trainer_optimizer(t));

    nb_train_opts o = {.batch = 16, .epochs = 1, .optimizer = t_optimizer(NB_OPT_ADAM, 0.01f, 0)};
    int units = 16;
    nb_trainer *wide = nb_trainer_new(bn_dropout_model, &units, NB_SHAPE(2), 1, &o, &err);
    cr_assert_not_null(wide, "%s", err.message);
    nb_train_state before = nb_trainer_state(wide);
    cr_assert_neq(nb_checkpoint_load(wide, in(dir, "c.h5"), &err), NB_OK);
    cr_assert(strstr(err.message, "c.h5: /params/dense1/w is [2,8], the model has [2,16]"), "%s",
              err.message);
    nb_train_state after = nb_trainer_state(wide);
    cr_assert(!memcmp(&before, &after, sizeof before), "a refused load changed the state");
    cr_assert_eq(*nb_optimizer_steps(nb_trainer_optimizer(wide)), 0);
    cr_assert_eq(nb_checkpoint_load(t, in(dir, "c.h5"), &err), NB_OK, "%s", err.message);
    cr_assert_eq(*nb_optimizer_steps(nb_trainer_optimizer(t)), steps);
    nb_trainer_free(wide);
    nb_trainer_free(t);
    remove_dir(dir);
}

/* h5import (hdf5-tools) adds a dataset of another type to a file: the
 * values in text, the type and shape given. */
static void h5import(const char *dir, const char *file, const char *obj, const char *values,
                     const char *in_class, const char *out_class, int bits, const char *dims,
                     int rank)
{
    write_all(in(dir, "values.txt"), values, (long)strlen(values));
    char cfg[512];
    snprintf(cfg, sizeof cfg, "PATH %s\nINPUT-CLASS %s\nRANK %d\nDIMENSION-SIZES %s\n"
             "OUTPUT-CLASS %s\nOUTPUT-SIZE %d\nOUTPUT-ARCHITECTURE NATIVE\n", obj, in_class,
             rank, dims, out_class, bits);
    write_all(in(dir, "cfg.txt"), cfg, (long)strlen(cfg));
    cr_assert_eq(run("/usr/bin/h5import '%s' -c '%s' -o '%s' >/dev/null 2>&1",
                     in(dir, "values.txt"), in(dir, "cfg.txt"), in(dir, file)), 0,
                 "h5import failed");
}

/* Weights stored as float64 load converted; strings where numbers should
 * be are refused; integer X and y load as floats. */
Test(hdf5, other_types_convert_or_are_refused)
{
    if (!have_tool("/usr/bin/h5import"))
        cr_skip_test("h5import is not installed (Debian hdf5-tools)");
    char *dir = temp_dir();
    write_as_arrays(in(dir, "f64.h5"), "dense1/w", NULL, NULL);
    h5import(dir, "f64.h5", "params/dense1/w",
             "0.5 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15.25\n", "TEXTFP", "FP", 64, "2 8", 2);
    nb_graph *g = small_graph(5);
    nb_error err = {0};
    cr_assert_eq(nb_weights_load(g, in(dir, "f64.h5"), &err), NB_OK, "%s", err.message);
    const float *w = nb_param_data(nb_graph_find(g, "dense1/w"));
    cr_assert(w[0] == 0.5f && w[3] == 3.0f && w[15] == 15.25f);
    nb_graph_free(g);

    write_as_arrays(in(dir, "str.h5"), "dense1/w", NULL, NULL);
    write_all(in(dir, "s.txt"), "hello\n", 6);
    cr_assert_eq(run("/usr/bin/h5import '%s' -d 1 -p params/dense1/w -t STR -o '%s' >/dev/null "
                     "2>&1", in(dir, "s.txt"), in(dir, "str.h5")), 0);
    expect_refused(in(dir, "str.h5"), "/params/dense1/w: holds strings, not numbers", NULL);
    cr_assert_eq(run("/usr/bin/h5import '%s' -d 1 -p model_yaml -t STR -o '%s' >/dev/null 2>&1",
                     in(dir, "s.txt"), in(dir, "str.h5")), 0);
    char *text = nb_weights_model_yaml(in(dir, "str.h5"), &err);
    cr_assert_not_null(text, "a variable-length string: %s", err.message);
    cr_assert(!strncmp(text, "hello", 5), "read \"%s\"", text);
    nb_free(text);

    h5import(dir, "int.h5", "X", "1 2 3 4 5 6 7 8\n", "TEXTIN", "IN", 16, "4 2", 2);
    h5import(dir, "int.h5", "y", "0 2 1 2\n", "TEXTIN", "UIN", 8, "4", 1);
    nb_dataset *ds = nb_hdf5_dataset_load(in(dir, "int.h5"), NULL, NULL, &err);
    cr_assert_not_null(ds, "%s", err.message);
    cr_assert_eq(ds->n, 4);
    cr_assert_eq(ds->shape.rank, 1);
    cr_assert_eq(ds->shape.dim[0], 2);
    cr_assert_eq(ds->n_classes, 3);
    cr_assert(ds->x[0] == 1 && ds->x[7] == 8 && ds->y[1] == 2 && ds->y[3] == 2);
    nb_dataset_free(ds);
    expect_refused(in(dir, "int.h5"), "/: no attribute 'format': not a nabla file", NULL);
    cr_assert_null(nb_hdf5_dataset_load(in(dir, "str.h5"), "params/dense1/w", "X", &err));
    cr_assert(strstr(err.message, "str.h5: /params/dense1/w: holds strings, not numbers"), "%s",
              err.message);
    remove_dir(dir);
}

/* uint8 examples stay bytes when asked (x_u8, x_div 1: the values as
 * stored), and a model's x_div then scales them exactly as training scales
 * IDX bytes; examples load without targets when asked, even with no y in
 * the file; wider integers and floats always load as floats. */
Test(hdf5, bytes_kept_for_the_model_to_scale_and_no_targets)
{
    if (!have_tool("/usr/bin/h5import"))
        cr_skip_test("h5import is not installed (Debian hdf5-tools)");
    char *dir = temp_dir();
    h5import(dir, "u8.h5", "X", "0 1 128 255 7 254\n", "TEXTIN", "UIN", 8, "3 2", 2);
    h5import(dir, "u8.h5", "w", "0 1 128 255 7 254\n", "TEXTIN", "UIN", 16, "3 2", 2);
    nb_error err = {0};
    nb_dataset *ds = nb_hdf5_data_load(in(dir, "u8.h5"),
                                       (nb_hdf5_data_opts){.no_targets = true, .keep_bytes = true},
                                       &err);
    cr_assert_not_null(ds, "%s", err.message);
    cr_assert(ds->n == 3 && ds->y_width == 0 && !ds->y && !ds->x && ds->x_u8);
    cr_assert(ds->x_div == 1 && ds->x_u8[2] == 128 && ds->x_u8[3] == 255);
    const char *yaml = "nabla: 1\ninput: {x: [2]}\nlayers: [relu]\n";
    nb_model_file *m = nb_model_file_parse(yaml, strlen(yaml), "m.yaml", &err);
    cr_assert_not_null(m, "%s", err.message);
    cr_assert_eq(nb_model_file_x_div(m), 255.0f, "the default scaling");
    cr_assert_eq(nb_model_file_scale(m, ds, &err), NB_OK, "%s", err.message);
    float x[6];
    cr_assert_eq(nb_dataset_gather(ds, NULL, 0, 3, x, NULL, &err), NB_OK, "%s", err.message);
    for (int i = 0; i < 6; i++)
        cr_assert(x[i] == (float)ds->x_u8[i] / 255.0f, "x[%d] = %g", i, (double)x[i]);
    nb_dataset_free(ds);

    ds = nb_hdf5_data_load(in(dir, "u8.h5"), (nb_hdf5_data_opts){.x = "w", .no_targets = true,
                                                                  .keep_bytes = true}, &err);
    cr_assert_not_null(ds, "%s", err.message);
    cr_assert(ds->x && !ds->x_u8 && ds->x[3] == 255, "16-bit integers load as floats");
    cr_assert_eq(nb_model_file_scale(m, ds, &err), NB_OK);
    cr_assert(ds->x[3] == 255, "floats enter as they are");
    nb_dataset_free(ds);
    ds = nb_hdf5_data_load(in(dir, "u8.h5"), (nb_hdf5_data_opts){.no_targets = true}, &err);
    cr_assert(ds && ds->x && ds->x[3] == 255, "without keep_bytes: floats, the values as stored");
    nb_dataset_free(ds);
    cr_assert_null(nb_hdf5_data_load(in(dir, "u8.h5"), (nb_hdf5_data_opts){0}, &err));
    cr_assert(strstr(err.message, "u8.h5: /y: missing"), "targets wanted: %s", err.message);
    nb_model_file_free(m);
    remove_dir(dir);
}

/* ---------------------------------------------------------------- datasets and arrays */

/* X [5,2,3] and labels y [5] written by nb_hdf5_write come back whole,
 * with the class count; under other names and groups too. */
Test(hdf5, datasets_round_trip_with_class_counts)
{
    char *dir = temp_dir();
    float x[30], y[5] = {0, 3, 1, 1, 2}, y2[10], ybad[5] = {0, 1, 0.5f, 1, 0};
    t_fill(x, 30, 1, -1, 1);
    t_fill(y2, 10, 2, 0, 1);
    nb_array a[] = {{"X", NB_SHAPE(5, 2, 3), x}, {"y", NB_SHAPE(5), y},
                    {"data/images", NB_SHAPE(5, 2, 3), x}, {"/data/targets", NB_SHAPE(5, 2), y2},
                    {"frac", NB_SHAPE(5), ybad}};
    nb_error err = {0};
    cr_assert_eq(nb_hdf5_write(in(dir, "d.h5"), a, 5, &err), NB_OK, "%s", err.message);

    nb_dataset *ds = nb_hdf5_dataset_load(in(dir, "d.h5"), NULL, NULL, &err);
    cr_assert_not_null(ds, "%s", err.message);
    cr_assert(ds->n == 5 && ds->shape.rank == 2 && ds->shape.dim[0] == 2 && ds->shape.dim[1] == 3);
    cr_assert_eq(ds->y_width, 1);
    cr_assert_eq(ds->n_classes, 4);
    cr_assert(!memcmp(ds->x, x, sizeof x) && !memcmp(ds->y, y, sizeof y));
    nb_dataset_free(ds);

    ds = nb_hdf5_dataset_load(in(dir, "d.h5"), "/data/images", "data/targets", &err);
    cr_assert_not_null(ds, "%s", err.message);
    cr_assert_eq(ds->y_width, 2);
    cr_assert_eq(ds->n_classes, 0);
    cr_assert(!memcmp(ds->y, y2, sizeof y2));
    nb_dataset_free(ds);

    ds = nb_hdf5_dataset_load(in(dir, "d.h5"), "X", "frac", &err);
    cr_assert_not_null(ds, "%s", err.message);
    cr_assert_eq(ds->n_classes, 0, "0.5 is not a class label");
    nb_dataset_free(ds);
    remove_dir(dir);
}

/* Loading refuses X and y that disagree, bad shapes, missing names,
 * groups, files that are not HDF5; each message names file and dataset. */
Test(hdf5, dataset_refusals_name_file_and_dataset)
{
    char *dir = temp_dir();
    float v[40] = {0};
    nb_array a[] = {{"X", NB_SHAPE(5, 4), v}, {"y4", NB_SHAPE(4), v},
                    {"y3", NB_SHAPE(5, 2, 2), v}, {"s", NB_SCALAR, v}, {"g/in", NB_SHAPE(1), v},
                    {"none", NB_SHAPE(0, 3), v}, {"y0", NB_SHAPE(0), v}};
    nb_error err = {0};
    cr_assert_eq(nb_hdf5_write(in(dir, "d.h5"), a, 7, &err), NB_OK, "%s", err.message);
    struct {
        const char *x, *y, *want;
    } cases[] = {
        {"X", "y4", "/X has 5 examples ([5,4]) but /y4 has 4 ([4])"},
        {"X", "y3", "/y3 is [5,2,2]; targets need shape [N] or [N, k]"},
        {"s", "y4", "/s: a scalar"},
        {"X", "nothere", "/nothere: missing"},
        {"g", "y4", "/g: a group, not a dataset"},
        {"none", "y0", "/none: no examples"},
        {NULL, NULL, "/y: missing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        err = (nb_error){0};
        cr_assert_null(nb_hdf5_dataset_load(in(dir, "d.h5"), cases[i].x, cases[i].y, &err));
        cr_assert_neq(err.status, NB_OK);
        cr_assert(strstr(err.message, "d.h5: ") && strstr(err.message, cases[i].want),
                  "case %zu: \"%s\" lacks \"%s\"", i, err.message, cases[i].want);
    }
    cr_assert_null(nb_hdf5_dataset_load(in(dir, "nope.h5"), NULL, NULL, &err));
    cr_assert(strstr(err.message, "nope.h5: cannot open"), "%s", err.message);
    write_all(in(dir, "t.h5"), "X,y\n1,2\n", 8);
    cr_assert_null(nb_hdf5_dataset_load(in(dir, "t.h5"), NULL, NULL, &err));
    cr_assert(strstr(err.message, "t.h5: not an HDF5 file"), "%s", err.message);
    cr_assert_null(nb_hdf5_dataset_load(in(dir, "d.h5"), NULL, NULL, NULL), "no err is fine");
    nb_graph *g = small_graph(1);
    cr_assert_eq(nb_weights_save(g, in(dir, "w.h5"), "text: 1\n", &err), NB_OK, "%s", err.message);
    cr_assert_null(nb_hdf5_dataset_load(in(dir, "w.h5"), "model_yaml", "params/dense2/b", &err));
    cr_assert(strstr(err.message, "w.h5: /model_yaml: holds strings, not numbers"), "%s",
              err.message);
    nb_graph_free(g);
    remove_dir(dir);
}

/* Only the target and nothing else is in the folder. */
static void assert_only(const char *dir, const char *name)
{
    DIR *d = opendir(dir);
    for (struct dirent *e; (e = readdir(d));)
        cr_assert(!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
                  (name && !strcmp(e->d_name, name)), "a stray file %s", e->d_name);
    closedir(d);
}

/* nb_hdf5_write refuses bad arguments before touching anything; an HDF5
 * failure midway (a name used as both dataset and group) leaves the old
 * file in place and no temporary behind; a good write replaces it. */
Test(hdf5, array_writes_refuse_cleanly_and_replace_atomically)
{
    char *dir = temp_dir(), path[1024];
    snprintf(path, sizeof path, "%s/a.h5", dir);
    float v[6] = {1, 2, 3, 4, 5, 6};
    nb_error err = {0};
    nb_array one = {"a", NB_SHAPE(2, 3), v};
    cr_assert_eq(nb_hdf5_write(path, &one, 1, &err), NB_OK, "%s", err.message);
    struct {
        nb_array a;
        const char *want;
    } bad[] = {
        {{"", NB_SHAPE(1), v}, "bad name \"\""},
        {{NULL, NB_SHAPE(1), v}, "bad name \"(NULL)\""},
        {{"a//b", NB_SHAPE(1), v}, "bad name \"a//b\""},
        {{"a/", NB_SHAPE(1), v}, "bad name \"a/\""},
        {{"b", NB_SHAPE(2), NULL}, "b: no data"},
        {{"b", {.rank = 2, .dim = {2, -1}}, v}, "b: dimension 1 is -1"},
        {{"b", {.rank = 9}, v}, "b: rank 9"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_neq(nb_hdf5_write(path, &bad[i].a, 1, &err), NB_OK, "case %zu", i);
        cr_assert(strstr(err.message, "a.h5: ") && strstr(err.message, bad[i].want),
                  "case %zu: \"%s\" lacks \"%s\"", i, err.message, bad[i].want);
    }
    cr_assert_neq(nb_hdf5_write(path, NULL, 2, &err), NB_OK);
    cr_assert_neq(nb_hdf5_write(path, &one, -1, &err), NB_OK);
    nb_array clash[] = {{"p", NB_SHAPE(2), v}, {"p/q", NB_SHAPE(2), v}};
    cr_assert_neq(nb_hdf5_write(path, clash, 2, &err), NB_OK);
    cr_assert(strstr(err.message, "a.h5: /p/q: cannot create the dataset"), "%s", err.message);
    assert_only(dir, "a.h5");
    nb_dataset *ds = nb_hdf5_dataset_load(path, "a", "a", &err);
    cr_assert_not_null(ds, "the old file is gone: %s", err.message);
    cr_assert(!memcmp(ds->x, v, sizeof v));
    nb_dataset_free(ds);

    nb_array two = {"a", NB_SHAPE(3, 2), v};
    cr_assert_eq(nb_hdf5_write(path, &two, 1, &err), NB_OK, "%s", err.message);
    ds = nb_hdf5_dataset_load(path, "a", "a", &err);
    cr_assert_not_null(ds, "%s", err.message);
    cr_assert_eq(ds->n, 3);
    nb_dataset_free(ds);
    assert_only(dir, "a.h5");

    cr_assert_neq(nb_hdf5_write(in(dir, "no/such/dir.h5"), &one, 1, &err), NB_OK);
    cr_assert(strstr(err.message, "no/such/dir.h5: cannot create the temporary file"), "%s",
              err.message);
    cr_assert_neq(nb_hdf5_write(dir, &one, 1, &err), NB_OK, "a folder is not replaced");
    cr_assert(strstr(err.message, "cannot put"), "%s", err.message);
    assert_only(dir, "a.h5");
    nb_graph *g = small_graph(1);
    cr_assert_neq(nb_weights_save(g, in(dir, "sub/"), NULL, &err), NB_OK);
    cr_assert(strstr(err.message, "names a folder"), "%s", err.message);
    cr_assert_neq(nb_weights_save(NULL, path, NULL, &err), NB_OK);
    cr_assert_neq(nb_weights_load(NULL, path, &err), NB_OK);
    cr_assert_neq(nb_checkpoint_save(NULL, path, NULL, &err), NB_OK);
    cr_assert_neq(nb_checkpoint_load(NULL, path, &err), NB_OK);
    cr_assert_null(nb_weights_model_yaml(NULL, &err));
    nb_graph_free(g);
    remove_dir(dir);
}

/* A data file whose integer type declares a bit layout libhdf5 cannot
 * hold (found by the hdf5_data fuzzer: HDF5 1.10.8 faulted converting
 * it) is refused before any value is read. */
Test(hdf5, a_damaged_number_type_is_refused_before_reading)
{
    const char *fx = getenv("NABLA_FIXTURES");
    cr_assert_not_null(fx, "NABLA_FIXTURES is not set");
    char path[1024];
    snprintf(path, sizeof path, "%s/../fuzz/corpus/hdf5_data/refused-damaged-integer-type.h5", fx);
    nb_error err = {0};
    nb_dataset *ds = nb_hdf5_dataset_load(path, NULL, NULL, &err);
    cr_assert_null(ds);
    cr_assert(strstr(err.message, "/y: a damaged number type"), "%s", err.message);
}
