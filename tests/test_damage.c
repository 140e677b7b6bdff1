/*
 * test_damage.c — what a damaged nabla file does when it is read back.
 *
 * A weights file and a checkpoint are written by nabla, then every byte of
 * each is damaged in turn (all its bits flipped) and the copy is loaded.
 * Each load must either be refused with a message, or give exactly what
 * the undamaged file gives: the same parameters, the same stored YAML and,
 * for a checkpoint, the same next training step (so optimiser state and
 * position are the same too). A load that succeeds with anything else is
 * a wrong answer without a word. What makes this hold is nabla's writer:
 * checksummed HDF5 metadata and Fletcher-32 checksums on every tensor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

static const char model_text[] =
    "nabla: 1\n"
    "name: damage\n"
    "input: {x: [1, 6, 6]}\n"
    "layers:\n"
    "  - conv2d: {filters: 2, kernel: 3}\n"
    "  - batchnorm\n"
    "  - relu\n"
    "  - flatten\n"
    "  - dense: {units: 3, name: logits}\n"
    "loss: softmax_cross_entropy\n"
    "optimizer: {adam: {lr: 0.01}}\n"
    "train: {batch: 4, epochs: 1, seed: 3}\n";

enum { N_EX = 4, X_LEN = 36 };

static nb_model_file *model(void)
{
    nb_error err = {0};
    nb_model_file *m = nb_model_file_parse(model_text, strlen(model_text), "damage.yaml", &err);
    cr_assert_not_null(m, "%s", err.message);
    return m;
}

static nb_trainer *trainer(nb_model_file *m)
{
    nb_train_opts o = nb_model_file_train_opts(m);
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(nb_model_file_build, m, nb_model_file_input_shape(m),
                                   nb_model_file_y_width(m), &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    return t;
}

static void batch(float *x, float *y)
{
    t_fill(x, N_EX * X_LEN, 7, -1, 1);
    for (int i = 0; i < N_EX; i++)
        y[i] = (float)(i % 3);
}

/* Every parameter and frozen tensor of g, end to end; *n its length. */
static float *values(nb_graph *g, size_t *n)
{
    size_t total = 0;
    for (int i = 0; i < nb_graph_num_params(g); i++)
        total += (size_t)nb_shape_numel(nb_node_shape(nb_graph_param(g, i)));
    float *v = malloc((total ? total : 1) * sizeof *v), *at = v;
    cr_assert_not_null(v);
    for (int i = 0; i < nb_graph_num_params(g); i++) {
        nb_node *p = nb_graph_param(g, i);
        size_t k = (size_t)nb_shape_numel(nb_node_shape(p));
        memcpy(at, nb_param_data(p), k * sizeof *at);
        at += k;
    }
    *n = total;
    return v;
}

static unsigned char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(*size);
    cr_assert_not_null(b);
    cr_assert_eq(fread(b, 1, *size, f), *size);
    fclose(f);
    return b;
}

static void spill(const char *path, const unsigned char *b, size_t size)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fwrite(b, 1, size, f), size);
    fclose(f);
}

static char *temp_path(const char *name)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *p = malloc(strlen(base) + strlen(name) + 32);
    cr_assert_not_null(p);
    sprintf(p, "%s/nb_damage_%d_%s", base, (int)getpid(), name);
    return p;
}

/* How the damaged copies fared. */
typedef struct {
    int refused, same, silent;
    long first_silent;
} tally;

static void report(const char *what, size_t size, tally t)
{
    cr_log_info("%s: %zu bytes damaged in turn: %d refused, %d loaded the same, %d silently "
                "different", what, size, t.refused, t.same, t.silent);
    cr_expect_eq(t.silent, 0,
                 "%s: %d damaged copies loaded different values without a word (first: "
                 "byte %ld)", what, t.silent, t.first_silent);
    cr_expect_gt(t.refused, 0, "%s: no damaged copy was refused", what);
}

static void count(tally *t, size_t at, bool refused, bool same)
{
    if (refused)
        t->refused++;
    else if (same)
        t->same++;
    else if (t->silent++ == 0)
        t->first_silent = (long)at;
}

/* The parameters after one more step from trainer t's state. */
static float *after_step(nb_trainer *t, size_t *n)
{
    float x[N_EX * X_LEN], y[N_EX];
    batch(x, y);
    double loss;
    cr_assert_eq(nb_trainer_step(t, x, y, N_EX, &loss), NB_OK, "%s", nb_trainer_error(t));
    return values(nb_trainer_graph(t), n);
}

/* A trainer of m that has taken one step (so Adam's slots are not zero). */
static nb_trainer *stepped(nb_model_file *m)
{
    nb_trainer *t = trainer(m);
    size_t n;
    free(after_step(t, &n));
    return t;
}

Test(damage, a_damaged_weights_file_is_refused_or_loads_exactly_what_was_saved, .timeout = 600)
{
    nb_model_file *m = model();
    nb_trainer *t = stepped(m);
    char *good = temp_path("good.h5"), *bad = temp_path("bad.h5");
    nb_error err = {0};
    cr_assert_eq(nb_weights_save(nb_trainer_graph(t), good, model_text, &err), NB_OK, "%s",
                 err.message);
    size_t n_want, size;
    float *want = values(nb_trainer_graph(t), &n_want);
    unsigned char *bytes = slurp(good, &size);

    tally tl = {0};
    for (size_t at = 0; at < size; at++) {
        bytes[at] ^= 0xff;
        spill(bad, bytes, size);
        bytes[at] ^= 0xff;
        nb_graph *g = nb_graph_new();
        nb_model_io io = {0};
        cr_assert_eq(nb_model_file_build(g, 1, &io, m), NB_OK, "%s", nb_graph_error(g));
        nb_error e = {0};
        bool refused = nb_weights_load(g, bad, &e) != NB_OK;
        if (refused)
            cr_assert(e.message[0], "byte %zu: refused without a message", at);
        size_t n_got;
        float *got = values(g, &n_got);
        bool same = !refused && n_got == n_want && !memcmp(got, want, n_want * sizeof *want);
        free(got);
        nb_graph_free(g);
        if (same) {
            nb_error ey = {0};
            char *text = nb_weights_model_yaml(bad, &ey);
            if (text && strcmp(text, model_text) != 0)
                same = false;
            else if (!text)
                cr_assert(ey.message[0], "byte %zu: stored YAML refused without a message", at);
            nb_free(text);
        }
        count(&tl, at, refused, same);
    }
    report("weights", size, tl);
    unlink(good);
    unlink(bad);
    free(bytes);
    free(want);
    free(good);
    free(bad);
    nb_trainer_free(t);
    nb_model_file_free(m);
}

Test(damage, a_damaged_checkpoint_is_refused_or_resumes_exactly_as_saved, .timeout = 600)
{
    nb_model_file *m = model();
    nb_trainer *t = stepped(m);
    char *good = temp_path("good.ck.h5"), *bad = temp_path("bad.ck.h5");
    nb_error err = {0};
    cr_assert_eq(nb_checkpoint_save(t, good, model_text, &err), NB_OK, "%s", err.message);
    size_t n_want, size;
    float *want = after_step(t, &n_want);
    unsigned char *bytes = slurp(good, &size);

    /* A refused load leaves the trainer as it was (test_checkpoint.c
     * checks it), so one fresh trainer serves until a load is accepted. */
    tally tl = {0};
    nb_trainer *r = trainer(m);
    for (size_t at = 0; at < size; at++) {
        bytes[at] ^= 0xff;
        spill(bad, bytes, size);
        bytes[at] ^= 0xff;
        nb_error e = {0};
        bool refused = nb_checkpoint_load(r, bad, &e) != NB_OK;
        if (refused)
            cr_assert(e.message[0], "byte %zu: refused without a message", at);
        bool same = false;
        if (!refused) {
            size_t n_got;
            float *got = after_step(r, &n_got);
            same = n_got == n_want && !memcmp(got, want, n_want * sizeof *want);
            free(got);
            nb_trainer_free(r);
            r = trainer(m);
        }
        count(&tl, at, refused, same);
    }
    nb_trainer_free(r);
    report("checkpoint", size, tl);
    unlink(good);
    unlink(bad);
    free(bytes);
    free(want);
    free(good);
    free(bad);
    nb_trainer_free(t);
    nb_model_file_free(m);
}
