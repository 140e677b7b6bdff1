/*
 * test_train.c — the training loop: convergence on a small problem, bit
 * for bit repeatability from a seed, the last partial batch, the running
 * estimate Q and stopping when it stabilises, evaluation, models with
 * training-only layers, refusals, and a short run on real Fashion-MNIST
 * images from the fixture.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

/* Two Gaussian blobs in the plane, labels 0 and 1, as class indices. */
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

/* 2 → 8 (tanh) → 2 logits; with ud non-NULL also dropout and batch norm. */
static nb_status small_model(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    io->x = nb_input(g, "x", NB_SHAPE(batch, 2));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_dense(g, io->x, (nb_dense_opts){.units = 8, .activation = NB_ACT_TANH});
    if (ud)
        h = nb_dropout(g, nb_batchnorm(g, h, (nb_batchnorm_opts){0}), 0.2f);
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 2});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

/* Records every step's loss and Q, and the last progress seen. */
typedef struct record {
    double loss[4096], q[4096];
    int n;
    nb_progress last_step, last_epoch;
    int epochs_seen;
} record;

static void on_step(const nb_progress *p, void *ud)
{
    record *r = ud;
    if (r->n < 4096) {
        r->loss[r->n] = p->loss;
        r->q[r->n++] = p->q;
    }
    r->last_step = *p;
}

static void on_epoch(const nb_progress *p, void *ud)
{
    record *r = ud;
    r->last_epoch = *p;
    r->epochs_seen++;
}

static nb_train_opts opts_for(record *r, int64_t batch, int epochs)
{
    return (nb_train_opts){.batch = batch, .epochs = epochs, .seed = 7,
                           .optimizer = {.kind = NB_OPT_SGD, .lr = 0.1f, .momentum = 0.9f},
                           .on_step = on_step, .on_epoch = on_epoch, .ud = r};
}

static record *train_blobs(void *model_ud, int64_t n, int64_t batch, int epochs, double *acc)
{
    record *r = calloc(1, sizeof *r);
    nb_dataset *train = blobs(n, 1), *test = blobs(200, 2);
    nb_train_opts o = opts_for(r, batch, epochs);
    o.ud = r;
    nb_error err;
    nb_trainer *t = nb_trainer_new(small_model, model_ud, NB_SHAPE(2), 1, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    cr_assert_eq(nb_trainer_fit(t, train, test), NB_OK, "%s", nb_trainer_error(t));
    cr_assert_eq(nb_trainer_evaluate(t, test, NULL, acc), NB_OK, "%s", nb_trainer_error(t));
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_dataset_free(test);
    return r;
}

Test(train, learns_a_separable_problem)
{
    double acc;
    record *r = train_blobs(NULL, 400, 16, 5, &acc);
    cr_assert_gt(acc, 0.9, "test accuracy %.3f", acc);
    cr_assert_lt(r->q[r->n - 1], r->q[0] * 0.8, "Q fell from %g to %g", r->q[0], r->q[r->n - 1]);
    cr_assert_eq(r->epochs_seen, 5);
    cr_assert_float_eq(r->last_epoch.test_acc, acc, 1e-12);
    free(r);
}

Test(train, same_seed_same_run_bit_for_bit)
{
    double a1, a2;
    record *r1 = train_blobs((void *)1, 300, 32, 3, &a1); /* with dropout and batch norm */
    record *r2 = train_blobs((void *)1, 300, 32, 3, &a2);
    cr_assert_eq(r1->n, r2->n);
    for (int i = 0; i < r1->n; i++)
        cr_assert_eq(r1->loss[i], r2->loss[i], "step %d: %.9g vs %.9g", i, r1->loss[i], r2->loss[i]);
    cr_assert_eq(a1, a2);
    free(r1);
    free(r2);
}

Test(train, last_partial_batch_and_running_estimate)
{
    double acc;
    record *r = train_blobs(NULL, 10, 4, 2, &acc); /* steps of 4, 4, 2 */
    cr_assert_eq(r->n, 6);
    cr_assert_eq(r->last_step.steps, 3);
    cr_assert_eq(r->last_step.examples, 10);
    cr_assert_eq(r->last_step.global_step, 6);
    double q = r->loss[0];
    for (int i = 1; i < r->n; i++) {
        q = 0.99 * q + 0.01 * r->loss[i]; /* Q = (1 - η)Q + ηε, η = 0.01 */
        cr_assert_float_eq(r->q[i], q, 1e-9);
    }
    free(r);
}

/* Batch norm cannot train on a batch of one (one value per channel): a
 * last batch of 1 is skipped, counted and explained, never fatal — in fit
 * (9 examples in batches of 4: steps of 4 and 4) and in single steps. */
Test(train, short_last_batch_the_model_cannot_train_on_is_skipped)
{
    int bn = 1;
    nb_dataset *ds = blobs(9, 3);
    nb_train_opts o = {.batch = 4, .epochs = 2, .seed = 1,
                       .optimizer = {.kind = NB_OPT_SGD, .lr = 0.1f}};
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(small_model, &bn, NB_SHAPE(2), 1, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    cr_assert_eq(nb_trainer_fit(t, ds, NULL), NB_OK, "%s", nb_trainer_error(t));
    cr_assert_eq(nb_trainer_state(t).global_step, 4, "2 epochs of 2 full batches");
    cr_assert_eq(nb_trainer_skipped(t), 2, "one example an epoch");
    cr_assert(strstr(nb_trainer_error(t), "batch 1") &&
              strstr(nb_trainer_error(t), "more than one value per channel"), "%s",
              nb_trainer_error(t));
    double loss = 0;
    cr_assert_eq(nb_trainer_step(t, ds->x, ds->y, 4, &loss), NB_OK, "%s", nb_trainer_error(t));
    cr_assert(isfinite(loss));
    cr_assert_eq(nb_trainer_step(t, ds->x, ds->y, 1, &loss), NB_OK, "%s", nb_trainer_error(t));
    cr_assert(isnan(loss), "a skipped step has no loss");
    cr_assert_eq(nb_trainer_state(t).global_step, 5);
    cr_assert_eq(nb_trainer_skipped(t), 3);
    double acc;
    cr_assert_eq(nb_trainer_evaluate(t, ds, &loss, &acc), NB_OK, "%s", nb_trainer_error(t));
    nb_trainer_free(t);
    nb_dataset_free(ds);
}

Test(train, stops_when_q_stabilises)
{
    record *r = calloc(1, sizeof *r);
    nb_dataset *train = blobs(64, 3);
    nb_train_opts o = opts_for(r, 8, 200);
    o.q_stop_rtol = 0.05;
    o.q_stop_window = 40;
    nb_trainer *t = nb_trainer_new(small_model, NULL, NB_SHAPE(2), 1, &o, NULL);
    cr_assert_eq(nb_trainer_fit(t, train, NULL), NB_OK, "%s", nb_trainer_error(t));
    cr_assert(r->last_step.stopped);
    cr_assert_lt(r->epochs_seen, 200, "training should stop early");
    cr_assert_eq(r->n % 40, 0, "it stops at a window's end");
    nb_trainer_free(t);
    nb_dataset_free(train);
    free(r);
}

Test(train, refuses_mismatched_data_and_broken_models)
{
    nb_dataset *wrong = nb_dataset_new(8, NB_SHAPE(3), 1, NULL);
    nb_trainer *t = nb_trainer_new(small_model, NULL, NB_SHAPE(2), 1, NULL, NULL);
    cr_assert_eq(nb_trainer_fit(t, wrong, NULL), NB_ERR_SHAPE);
    cr_assert(strstr(nb_trainer_error(t), "training set holds examples [3]"), "%s",
              nb_trainer_error(t));
    nb_trainer_free(t);
    nb_dataset_free(wrong);
    nb_error err;
    t = nb_trainer_new(small_model, NULL, NB_SHAPE(5), 1, NULL, &err);
    cr_assert_null(t);
    cr_assert(strstr(err.message, "model input x is [32,2]"), "%s", err.message);
}

/* Real images: a short MLP run on the fixture's 500 training images. */
static nb_status fixture_mlp(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 28, 28));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_dense(g, nb_flatten(g, io->x), (nb_dense_opts){.units = 64,
                                                                   .activation = NB_ACT_RELU});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 10});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

Test(train, short_run_on_real_fashion_mnist)
{
    nb_dataset *train = t_fixture("train"), *test = t_fixture("test");
    nb_error err;
    record *r = calloc(1, sizeof *r);
    nb_train_opts o = opts_for(r, 32, 8);
    o.optimizer.lr = 0.05f;
    nb_trainer *t = nb_trainer_new(fixture_mlp, NULL, train->shape, 1, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    cr_assert_eq(nb_trainer_fit(t, train, test), NB_OK, "%s", nb_trainer_error(t));
    printf("fixture MLP: 8 epochs on %lld images: test accuracy %.3f (200 images)\n",
           (long long)train->n, r->last_epoch.test_acc);
    cr_assert_gt(r->last_epoch.test_acc, 0.65, "accuracy %.3f", r->last_epoch.test_acc);
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_dataset_free(test);
    free(r);
}

/* Adam with beta1 = 0 trains with beta1 = 0: after each step the first
 * moment (slot 0) is that step's gradient itself, where the default 0.9
 * would keep a tenth of it plus the past. An Adam struct that never had its
 * defaults is refused by nb_trainer_new, saying how to get them. */
Test(train, adam_beta1_zero_is_taken_as_given)
{
    nb_dataset *ds = blobs(32, 9);
    nb_train_opts o = {.batch = 16, .seed = 3, .optimizer = t_optimizer(NB_OPT_ADAM, 0.01f, 0)};
    o.optimizer.beta1 = 0;
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(small_model, NULL, NB_SHAPE(2), 1, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    int64_t n = nb_optimizer_size(nb_trainer_optimizer(t));
    float *g = malloc((size_t)n * sizeof *g);
    for (int step = 0; step < 2; step++) {
        int64_t at = 16 * step;
        cr_assert_eq(nb_trainer_loss_grad(t, ds, at, 16, g, NULL), NB_OK, "%s",
                     nb_trainer_error(t));
        cr_assert_eq(nb_trainer_step(t, ds->x + 2 * at, ds->y + at, 16, NULL), NB_OK, "%s",
                     nb_trainer_error(t));
        t_assert_close(nb_optimizer_slot(nb_trainer_optimizer(t), 0), g, n, 1e-6f);
    }
    free(g);
    nb_trainer_free(t);

    o.optimizer = (nb_optimizer_opts){.kind = NB_OPT_ADAM, .lr = 0.01f};
    cr_assert_null(nb_trainer_new(small_model, NULL, NB_SHAPE(2), 1, &o, &err));
    cr_assert(strstr(err.message, "train: optimizer adam: eps 0 must be > 0 (start from "
                                  "nb_optimizer_defaults()"), "%s", err.message);
    nb_dataset_free(ds);
}

/* Stopping after 2 of 4 epochs and carrying the state (weights, optimiser
 * slots and steps, trainer state) into a fresh trainer continues exactly
 * as the uninterrupted run. */
Test(train, resuming_from_saved_state_is_bit_for_bit)
{
    nb_dataset *train = blobs(90, 5);
    record *full = calloc(1, sizeof *full), *part = calloc(1, sizeof *part);
    nb_train_opts o = opts_for(full, 16, 4);
    o.optimizer = t_optimizer(NB_OPT_ADAM, 0.01f, 0);
    nb_trainer *a = nb_trainer_new(small_model, (void *)1, NB_SHAPE(2), 1, &o, NULL);
    cr_assert_eq(nb_trainer_fit(a, train, NULL), NB_OK, "%s", nb_trainer_error(a));

    o.ud = part;
    o.epochs = 2;
    nb_trainer *b = nb_trainer_new(small_model, (void *)1, NB_SHAPE(2), 1, &o, NULL);
    cr_assert_eq(nb_trainer_fit(b, train, NULL), NB_OK);
    o.epochs = 4;
    nb_trainer *c = nb_trainer_new(small_model, (void *)1, NB_SHAPE(2), 1, &o, NULL);
    nb_graph *gb = nb_trainer_graph(b), *gc = nb_trainer_graph(c);
    for (int i = 0; i < nb_graph_num_params(gb); i++) {
        nb_node *pb = nb_graph_param(gb, i), *pc = nb_graph_param(gc, i);
        cr_assert_str_eq(nb_node_name(pb), nb_node_name(pc));
        memcpy(nb_param_data(pc), nb_param_data(pb),
               (size_t)nb_shape_numel(nb_node_shape(pb)) * sizeof(float));
    }
    nb_optimizer *ob = nb_trainer_optimizer(b), *oc = nb_trainer_optimizer(c);
    int64_t size = nb_optimizer_size(ob);
    for (int k = 0; k < 2; k++)
        memcpy(nb_optimizer_slot(oc, k), nb_optimizer_slot(ob, k), (size_t)size * sizeof(float));
    *nb_optimizer_steps(oc) = *nb_optimizer_steps(ob);
    nb_train_state s = nb_trainer_state(b);
    cr_assert_eq(s.epoch, 2);
    nb_trainer_set_state(c, &s);
    cr_assert_eq(nb_trainer_fit(c, train, NULL), NB_OK, "%s", nb_trainer_error(c));
    cr_assert_eq(part->n, full->n, "2 + 2 epochs of steps");
    for (int i = 0; i < full->n; i++)
        cr_assert_eq(part->loss[i], full->loss[i], "step %d: %.9g vs %.9g", i, part->loss[i],
                     full->loss[i]);
    nb_trainer_free(a);
    nb_trainer_free(b);
    nb_trainer_free(c);
    nb_dataset_free(train);
    free(full);
    free(part);
}

/* Learning from a stream: examples one at a time through nb_trainer_step. */
Test(train, learns_from_a_stream_of_single_examples)
{
    nb_dataset *data = blobs(600, 9), *test = blobs(200, 10);
    nb_train_opts o = {.batch = 1, .seed = 3, .optimizer = {.kind = NB_OPT_SGD, .lr = 0.05f}};
    nb_trainer *t = nb_trainer_new(small_model, NULL, NB_SHAPE(2), 1, &o, NULL);
    double loss, q0 = NAN, acc;
    for (int64_t i = 0; i < data->n; i++) {
        cr_assert_eq(nb_trainer_step(t, data->x + 2 * i, data->y + i, 1, &loss), NB_OK, "%s",
                     nb_trainer_error(t));
        if (i == 0)
            q0 = nb_trainer_q(t);
    }
    cr_assert_lt(nb_trainer_q(t), q0, "Q fell from %g to %g", q0, nb_trainer_q(t));
    cr_assert_eq(nb_trainer_evaluate(t, test, NULL, &acc), NB_OK);
    cr_assert_gt(acc, 0.85, "accuracy %.3f", acc);
    cr_assert_eq(nb_trainer_state(t).global_step, 600);
    cr_assert_eq(nb_trainer_step(t, NULL, data->y, 1, NULL), NB_ERR_ARG);
    nb_trainer_free(t);
    nb_dataset_free(data);
    nb_dataset_free(test);
}

/* The chunk gradient is the mean over the chunk: checked against a central
 * difference of the chunk loss along one parameter element. */
Test(train, chunk_loss_and_gradient_agree_with_differences)
{
    nb_dataset *data = blobs(50, 11);
    nb_train_opts o = {.batch = 16, .seed = 4};
    nb_trainer *t = nb_trainer_new(small_model, NULL, NB_SHAPE(2), 1, &o, NULL);
    int64_t size = nb_optimizer_size(nb_trainer_optimizer(t));
    float *g = malloc((size_t)size * sizeof *g), *scratch = malloc((size_t)size * sizeof *g);
    double loss, lp, lm, eval_loss;
    cr_assert_eq(nb_trainer_loss_grad(t, data, 5, 40, g, &loss), NB_OK, "%s", nb_trainer_error(t));
    nb_dataset *chunk = nb_dataset_slice(data, 5, 40, NULL);
    cr_assert_eq(nb_trainer_evaluate(t, chunk, &eval_loss, NULL), NB_OK);
    cr_assert_float_eq(loss, eval_loss, 1e-6);
    float *w = nb_param_data(nb_trainer_param(t, 0)), w0 = w[3], h = 1e-2f;
    w[3] = w0 + h;
    nb_trainer_loss_grad(t, data, 5, 40, scratch, &lp);
    w[3] = w0 - h;
    nb_trainer_loss_grad(t, data, 5, 40, scratch, &lm);
    w[3] = w0;
    double numeric = (lp - lm) / (2 * h);
    cr_assert(fabs(numeric - g[3]) < 1e-3 + 1e-2 * fabs(numeric), "autodiff %g, differences %g",
              g[3], numeric);
    cr_assert_eq(nb_trainer_loss_grad(t, data, 45, 10, g, NULL), NB_ERR_ARG);
    cr_assert(strstr(nb_trainer_error(t), "chunk [45, 55)"), "%s", nb_trainer_error(t));
    free(g);
    free(scratch);
    nb_dataset_free(chunk);
    nb_dataset_free(data);
    nb_trainer_free(t);
}

/* Hardest first: the first batch of an epoch holds the largest losses. */
Test(train, hardest_first_presents_the_largest_losses_first)
{
    nb_dataset *data = blobs(64, 12);
    record *r = calloc(1, sizeof *r);
    nb_train_opts o = opts_for(r, 8, 1);
    o.hardest_first = true;
    o.optimizer.lr = 1e-6f; /* barely move, so the first step sees the ranking */
    nb_trainer *t = nb_trainer_new(small_model, NULL, NB_SHAPE(2), 1, &o, NULL);
    double *losses = malloc(64 * sizeof *losses), mean = 0;
    cr_assert_eq(nb_trainer_example_losses(t, data, losses), NB_OK);
    for (int i = 0; i < 64; i++)
        mean += losses[i] / 64;
    cr_assert_eq(nb_trainer_fit(t, data, NULL), NB_OK, "%s", nb_trainer_error(t));
    cr_assert_gt(r->loss[0], mean, "first batch %g, mean %g", r->loss[0], mean);
    cr_assert_lt(r->loss[7], mean, "last batch %g, mean %g", r->loss[7], mean);
    free(losses);
    free(r);
    nb_trainer_free(t);
    nb_dataset_free(data);
}

/* ---------------------------------------------------------------- targets checked before training */

/* 2 → 5 logits ("logits"), softmax cross-entropy: 5 classes. */
static nb_status five_classes(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 2));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    io->output = nb_dense(g, io->x, (nb_dense_opts){.units = 5, .name = "logits"});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

/* The status and message of fitting five_classes to train (and test), after
 * asserting that no step was taken and no weight moved. */
static nb_status fit_five(const nb_dataset *train, const nb_dataset *test, char *msg, size_t size)
{
    record *r = calloc(1, sizeof *r);
    nb_train_opts o = opts_for(r, 4, 2);
    nb_trainer *t = nb_trainer_new(five_classes, NULL, NB_SHAPE(2), 1, &o, NULL);
    cr_assert_not_null(t);
    float w0 = nb_param_data(nb_trainer_param(t, 0))[0];
    nb_status st = nb_trainer_fit(t, train, test);
    snprintf(msg, size, "%s", nb_trainer_error(t));
    if (st != NB_OK) {
        cr_assert_eq(r->n, 0, "%d steps were taken", r->n);
        cr_assert_eq(nb_trainer_state(t).global_step, 0);
        cr_assert_eq(nb_param_data(nb_trainer_param(t, 0))[0], w0, "a weight moved");
    }
    nb_trainer_free(t);
    free(r);
    return st;
}

/* A 5-unit output trained on labels up to 9 used to train without a word
 * (labels past the output matched no column): the whole set is checked
 * before the first step, here with the bad label late in the set. */
Test(train, fit_refuses_labels_outside_the_output_before_any_step)
{
    nb_dataset *train = blobs(40, 13), *test = blobs(12, 14);
    char msg[512];
    cr_assert_eq(fit_five(train, test, msg, sizeof msg), NB_OK, "%s", msg);
    train->y[37] = 7;
    cr_assert_eq(fit_five(train, test, msg, sizeof msg), NB_ERR_ARG);
    cr_assert_str_eq(msg, "train: label 7 of training example 37 is outside 0…4 (the output "
                          "'logits' has 5 units)");
    train->y[37] = 4;
    test->y[11] = -1;
    cr_assert_eq(fit_five(train, test, msg, sizeof msg), NB_ERR_ARG);
    cr_assert_str_eq(msg, "train: label -1 of test example 11 is outside 0…4 (the output "
                          "'logits' has 5 units)");
    nb_dataset_free(train);
    nb_dataset_free(test);
}

Test(train, fit_refuses_non_integer_class_targets)
{
    nb_dataset *train = blobs(16, 15);
    char msg[512];
    train->y[5] = 2.5f;
    cr_assert_eq(fit_five(train, NULL, msg, sizeof msg), NB_ERR_ARG);
    cr_assert_str_eq(msg, "train: label 2.5 of training example 5 is not a class index (an "
                          "integer in 0…4; the output 'logits' has 5 units)");
    train->y[5] = NAN;
    cr_assert_eq(fit_five(train, NULL, msg, sizeof msg), NB_ERR_ARG);
    cr_assert(strstr(msg, "label nan of training example 5 is not a class index"), "%s", msg);
    nb_dataset_free(train);
}

/* Evaluation and single steps are refused too: evaluate checks the set
 * first, a step's run refuses the batch (nothing is updated). */
Test(train, evaluate_and_step_refuse_bad_labels)
{
    nb_dataset *ds = blobs(10, 16);
    ds->y[9] = 5;
    nb_trainer *t = nb_trainer_new(five_classes, NULL, NB_SHAPE(2), 1, NULL, NULL);
    cr_assert_eq(nb_trainer_evaluate(t, ds, NULL, NULL), NB_ERR_ARG);
    cr_assert(strstr(nb_trainer_error(t), "label 5 of evaluation example 9 is outside 0…4"), "%s",
              nb_trainer_error(t));
    cr_assert_eq(nb_trainer_step(t, ds->x + 2 * 8, ds->y + 8, 2, NULL), NB_ERR_ARG);
    cr_assert_str_eq(nb_trainer_error(t), "train: softmax_cross_entropy1: label 5 of example 1 "
                                          "is outside 0…4 (the output 'logits' has 5 units)");
    cr_assert_eq(nb_trainer_state(t).global_step, 0, "the refused step counted");
    nb_trainer_free(t);
    nb_dataset_free(ds);
}

/* 2 → 3 outputs against 3 targets each, squared error. */
static nb_status three_targets(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 2));
    io->y = nb_input(g, "y", NB_SHAPE(batch, 3));
    io->output = nb_dense(g, io->x, (nb_dense_opts){.units = 3, .name = "out"});
    io->loss = nb_mse_loss(g, io->output, io->y);
    return nb_graph_status(g);
}

/* Regression targets are not class indices (any value trains), but their
 * width must be the output's: one target per example for 3 outputs is
 * refused, and a model whose targets differ from its output does not build. */
Test(train, mse_targets_of_the_wrong_width_are_refused)
{
    nb_dataset *one = blobs(8, 17), *three = nb_dataset_new(8, NB_SHAPE(2), 3, NULL);
    for (int i = 0; i < 24; i++)
        three->y[i] = 0.37f * (float)i - 2.5f;
    for (int i = 0; i < 16; i++)
        three->x[i] = one->x[i];
    nb_train_opts o = {.batch = 4};
    nb_trainer *t = nb_trainer_new(three_targets, NULL, NB_SHAPE(2), 3, &o, NULL);
    cr_assert_eq(nb_trainer_fit(t, three, NULL), NB_OK, "%s", nb_trainer_error(t));
    cr_assert_eq(nb_trainer_fit(t, one, NULL), NB_ERR_SHAPE);
    cr_assert_str_eq(nb_trainer_error(t), "train: the training set holds examples [2] with 1 "
                                          "targets; the model takes [2] with 3");
    nb_trainer_free(t);
    nb_error err;
    cr_assert_null(nb_trainer_new(three_targets, NULL, NB_SHAPE(2), 1, &o, &err));
    nb_dataset_free(one);
    nb_dataset_free(three);
}
