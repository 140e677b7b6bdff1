/*
 * test_lecture_init.c — the lecture's initialiser (nb_init_lecture): each
 * hidden unit fitted as its own linear model. A unit whose target is an
 * exact linear function of its inputs gets exactly those coefficients (all
 * inputs, and a random subset of them, with zeros for the rest); rescaling
 * gives pre-activations of standard deviation 1 without moving the
 * hyperplane; the result depends on the seed alone (not on the thread
 * count or the trainer); missing layers, layers that do not read the data
 * and bad options are refused with messages and leave the weights alone;
 * and a short training from it on the Fashion-MNIST fixture learns.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define IN 5
#define HIDDEN 16

/* Regression data: x uniform in [-1, 1)^5, and y [n, 3] with column c an
 * exact linear function coef[c]·x + icpt[c]. */
static const double coef[3][IN] = {{2, 0, 0, -1, 0}, {0.5, -1.5, 0.25, 0, 1}, {0, 0, 3, 0, 0}};
static const double icpt[3] = {0.5, -2, 0};

static nb_dataset *linear_data(int64_t n)
{
    nb_dataset *ds = nb_dataset_new(n, NB_SHAPE(IN), 3, NULL);
    cr_assert_not_null(ds);
    t_fill(ds->x, n * IN, 11, -1, 1);
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) {
            double v = icpt[c];
            for (int a = 0; a < IN; a++)
                v += coef[c][a] * ds->x[i * IN + a];
            ds->y[i * 3 + c] = (float)v;
        }
    return ds;
}

/* x [batch, 5] → dense1 (16, tanh) → dense2 (3): squared error. */
static nb_status reg_model(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, IN));
    io->y = nb_input(g, "y", NB_SHAPE(batch, 3));
    nb_node *h = nb_dense(g, io->x, (nb_dense_opts){.units = HIDDEN, .activation = NB_ACT_TANH});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 3});
    io->loss = nb_mse_loss(g, io->output, io->y);
    return nb_graph_status(g);
}

static nb_trainer *reg_trainer(uint64_t seed)
{
    nb_error err;
    nb_train_opts o = {.batch = 16, .seed = seed};
    nb_trainer *t = nb_trainer_new(reg_model, NULL, NB_SHAPE(IN), 3, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    return t;
}

static float *param(nb_trainer *t, const char *name)
{
    nb_node *p = nb_graph_find(nb_trainer_graph(t), name);
    cr_assert_not_null(p, "no parameter %s", name);
    return nb_param_data(p);
}

Test(lecture_init, all_inputs_give_the_exact_linear_coefficients)
{
    nb_dataset *ds = linear_data(300);
    nb_trainer *t = reg_trainer(1);
    nb_error err;
    nb_lecture_init_opts o = {.target = NB_LECTURE_COLUMN, .subsample = 300, .ridge = 1e-9f,
                              .no_rescale = true, .seed = 3};
    cr_assert_eq(nb_init_lecture(t, "dense1", ds, o, &err), NB_OK, "%s", err.message);
    const float *w = param(t, "dense1/w"), *b = param(t, "dense1/b");
    for (int j = 0; j < HIDDEN; j++) {
        for (int a = 0; a < IN; a++)
            cr_assert_float_eq(w[a * HIDDEN + j], coef[j % 3][a], 1e-4, "unit %d input %d: %g", j,
                               a, (double)w[a * HIDDEN + j]);
        cr_assert_float_eq(b[j], icpt[j % 3], 1e-4, "unit %d bias %g", j, (double)b[j]);
    }
    nb_trainer_free(t);
    nb_dataset_free(ds);
}

/* Conjugate gradients (5 inputs: exact in 5 steps) agree with the closed
 * form, and stop early once they have converged. */
Test(lecture_init, conjugate_gradients_agree_with_the_closed_form)
{
    nb_dataset *ds = linear_data(300);
    nb_trainer *a = reg_trainer(1), *b = reg_trainer(1);
    nb_error err;
    nb_lecture_init_opts o = {.target = NB_LECTURE_COLUMN, .subsample = 200, .ridge = 0.05f,
                              .seed = 3};
    cr_assert_eq(nb_init_lecture(a, "dense1", ds, o, &err), NB_OK, "%s", err.message);
    o.steps = 50;
    cr_assert_eq(nb_init_lecture(b, "dense1", ds, o, &err), NB_OK, "%s", err.message);
    t_assert_close(param(b, "dense1/w"), param(a, "dense1/w"), IN * HIDDEN, 1e-5f);
    t_assert_close(param(b, "dense1/b"), param(a, "dense1/b"), HIDDEN, 1e-5f);
    nb_trainer_free(a);
    nb_trainer_free(b);
    nb_dataset_free(ds);
}

/* With 3 of 5 inputs per unit, a unit that saw both inputs of column 0
 * (2·x0 - x3 + 0.5) fits it exactly; every unit has exactly 2 zero rows. */
Test(lecture_init, a_subset_of_inputs_leaves_zeros_and_fits_exactly_where_it_can)
{
    nb_dataset *ds = linear_data(200);
    nb_trainer *t = reg_trainer(1);
    nb_error err;
    nb_lecture_init_opts o = {.target = NB_LECTURE_COLUMN, .input_fraction = 0.6f,
                              .ridge = 1e-9f, .no_rescale = true, .seed = 5};
    cr_assert_eq(nb_init_lecture(t, "dense1", ds, o, &err), NB_OK, "%s", err.message);
    const float *w = param(t, "dense1/w"), *b = param(t, "dense1/b");
    int exact = 0;
    for (int j = 0; j < HIDDEN; j++) {
        int zeros = 0;
        for (int a = 0; a < IN; a++)
            zeros += w[a * HIDDEN + j] == 0.0f;
        cr_assert_eq(zeros, 2, "unit %d has %d zero inputs, expected 2", j, zeros);
        if (j % 3 != 0 || w[0 * HIDDEN + j] == 0.0f || w[3 * HIDDEN + j] == 0.0f)
            continue;
        exact++;
        for (int a = 0; a < IN; a++)
            cr_assert_float_eq(w[a * HIDDEN + j], coef[0][a], 1e-4, "unit %d input %d", j, a);
        cr_assert_float_eq(b[j], icpt[0], 1e-4, "unit %d bias", j);
    }
    cr_assert_gt(exact, 0, "no unit of column 0 drew both x0 and x3 (seed 5)");
    nb_trainer_free(t);
    nb_dataset_free(ds);
}

/* Three classes in the plane of the first two inputs (labels 0, 1, 2). */
static nb_dataset *class_data(int64_t n)
{
    nb_dataset *ds = nb_dataset_new(n, NB_SHAPE(IN), 1, NULL);
    cr_assert_not_null(ds);
    t_fill(ds->x, n * IN, 21, -1, 1);
    for (int64_t i = 0; i < n; i++) {
        float *x = ds->x + i * IN;
        ds->y[i] = x[0] + x[1] > 0.5f ? 2.0f : x[0] - x[1] > 0 ? 1.0f : 0.0f;
    }
    ds->n_classes = 3;
    return ds;
}

static nb_status cls_model(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, IN));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_dense(g, io->x, (nb_dense_opts){.units = HIDDEN, .activation = NB_ACT_RELU});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 3});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

static nb_trainer *cls_trainer(uint64_t seed)
{
    nb_error err;
    nb_train_opts o = {.batch = 16, .seed = seed};
    nb_trainer *t = nb_trainer_new(cls_model, NULL, NB_SHAPE(IN), 1, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    return t;
}

/* Rescaling multiplies (w, b) of a unit by one positive factor that makes
 * the pre-activations' standard deviation 1 over the subsample (here all
 * the data): compare with the unscaled fit. */
Test(lecture_init, rescaling_gives_unit_spread_and_keeps_the_hyperplane)
{
    nb_dataset *ds = class_data(400);
    nb_trainer *raw = cls_trainer(1), *scaled = cls_trainer(1);
    nb_error err;
    nb_lecture_init_opts o = {.subsample = 400, .seed = 9, .no_rescale = true};
    cr_assert_eq(nb_init_lecture(raw, "dense1", ds, o, &err), NB_OK, "%s", err.message);
    o.no_rescale = false;
    cr_assert_eq(nb_init_lecture(scaled, "dense1", ds, o, &err), NB_OK, "%s", err.message);
    const float *w0 = param(raw, "dense1/w"), *b0 = param(raw, "dense1/b");
    const float *w1 = param(scaled, "dense1/w"), *b1 = param(scaled, "dense1/b");
    for (int j = 0; j < HIDDEN; j++) {
        double f = b1[j] / b0[j], sum = 0, sum2 = 0;
        cr_assert_gt(f, 0, "unit %d: factor %g", j, f);
        for (int a = 0; a < IN; a++)
            cr_assert_float_eq(w1[a * HIDDEN + j], f * w0[a * HIDDEN + j],
                               1e-4 * (1 + fabs(w1[a * HIDDEN + j])), "unit %d input %d", j, a);
        for (int64_t i = 0; i < ds->n; i++) {
            double z = b1[j];
            for (int a = 0; a < IN; a++)
                z += w1[a * HIDDEN + j] * ds->x[i * IN + a];
            sum += z;
            sum2 += z * z;
        }
        double sd = sqrt(sum2 / 400 - (sum / 400) * (sum / 400));
        cr_assert_float_eq(sd, 1.0, 1e-3, "unit %d: pre-activation sd %g", j, sd);
    }
    nb_trainer_free(raw);
    nb_trainer_free(scaled);
    nb_dataset_free(ds);
}

/* Copies of a trainer's dense1/w and b after nb_init_lecture with opts. */
static void init_copy(uint64_t trainer_seed, nb_lecture_init_opts o, float *w, float *b)
{
    nb_dataset *ds = class_data(300);
    nb_trainer *t = cls_trainer(trainer_seed);
    nb_error err;
    cr_assert_eq(nb_init_lecture(t, "dense1", ds, o, &err), NB_OK, "%s", err.message);
    memcpy(w, param(t, "dense1/w"), IN * HIDDEN * sizeof *w);
    memcpy(b, param(t, "dense1/b"), HIDDEN * sizeof *b);
    nb_trainer_free(t);
    nb_dataset_free(ds);
}

Test(lecture_init, the_seed_alone_decides)
{
    float w[4][IN * HIDDEN], b[4][HIDDEN];
    nb_lecture_init_opts o = {.subsample = 100, .input_fraction = 0.6f, .seed = 4};
    int threads = nb_get_threads();
    nb_set_threads(1);
    init_copy(1, o, w[0], b[0]);
    nb_set_threads(2);
    init_copy(2, o, w[1], b[1]); /* another trainer seed and thread count */
    o.seed = 5;
    init_copy(1, o, w[2], b[2]);
    o = (nb_lecture_init_opts){.target = NB_LECTURE_CLASS_VS_REST, .subsample = 100, .seed = 4};
    init_copy(1, o, w[3], b[3]);
    nb_set_threads(threads);
    cr_assert(!memcmp(w[0], w[1], sizeof w[0]) && !memcmp(b[0], b[1], sizeof b[0]),
              "same seed, different results");
    cr_assert(memcmp(w[0], w[2], sizeof w[0]), "seeds 4 and 5 gave the same weights");
    cr_assert(memcmp(w[0], w[3], sizeof w[0]), "split and class-vs-rest gave the same weights");
}

/* A refused call names what is wrong and leaves the weights as they were. */
static void assert_refused(nb_trainer *t, const char *layer, const nb_dataset *ds,
                           nb_lecture_init_opts o, nb_status status, const char *needle)
{
    float before[IN * HIDDEN];
    memcpy(before, param(t, "dense1/w"), sizeof before);
    nb_error err = {0};
    nb_status st = nb_init_lecture(t, layer, ds, o, &err);
    cr_assert_eq(st, status, "status %d, expected %d (%s)", st, status, err.message);
    cr_assert_eq(err.status, status);
    cr_assert(strstr(err.message, needle), "message \"%s\" lacks \"%s\"", err.message, needle);
    cr_assert(!memcmp(before, param(t, "dense1/w"), sizeof before), "weights changed: %s",
              err.message);
}

Test(lecture_init, refusals_name_the_problem)
{
    nb_dataset *cls = class_data(50), *reg = linear_data(50);
    nb_trainer *t = cls_trainer(1);
    nb_lecture_init_opts ok = {0};
    assert_refused(t, "dense9", cls, ok, NB_ERR_ARG, "'dense9/w'");
    assert_refused(t, "", cls, ok, NB_ERR_ARG, "no layer named");
    assert_refused(t, "dense2", cls, ok, NB_ERR_SHAPE, "must read the raw input");
    assert_refused(t, "dense1", cls, (nb_lecture_init_opts){.input_fraction = 1.5f}, NB_ERR_ARG,
                   "input_fraction 1.5");
    assert_refused(t, "dense1", cls, (nb_lecture_init_opts){.input_fraction = NAN}, NB_ERR_ARG,
                   "input_fraction");
    assert_refused(t, "dense1", cls, (nb_lecture_init_opts){.subsample = 51}, NB_ERR_ARG,
                   "subsample 51 is outside 2..50");
    assert_refused(t, "dense1", cls, (nb_lecture_init_opts){.subsample = -3}, NB_ERR_ARG,
                   "subsample -3");
    assert_refused(t, "dense1", cls, (nb_lecture_init_opts){.ridge = -1}, NB_ERR_ARG, "ridge -1");
    assert_refused(t, "dense1", cls, (nb_lecture_init_opts){.scale = INFINITY}, NB_ERR_ARG,
                   "scale inf");
    assert_refused(t, "dense1", cls, (nb_lecture_init_opts){.steps = -1}, NB_ERR_ARG, "steps -1");
    assert_refused(t, "dense1", cls, (nb_lecture_init_opts){.target = (nb_lecture_target)7},
                   NB_ERR_ARG, "unknown target kind 7");
    cls->y[7] = 3; /* a label past n_classes */
    assert_refused(t, "dense1", cls, ok, NB_ERR_ARG, "example 7 has label 3");
    nb_error err;
    cr_assert_eq(nb_init_lecture(NULL, "dense1", cls, ok, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "no trainer"), "%s", err.message);
    cr_assert_eq(nb_init_lecture(t, "dense1", NULL, ok, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "no data"), "%s", err.message);
    nb_trainer_free(t);
    /* class targets on regression data (3 target columns, no classes) */
    nb_trainer *r = reg_trainer(1);
    nb_error e2;
    cr_assert_eq(nb_init_lecture(r, "dense1", reg, ok, &e2), NB_ERR_ARG);
    cr_assert(strstr(e2.message, "target split needs class labels"), "%s", e2.message);
    cr_assert(strstr(e2.message, "y_width 3"), "%s", e2.message);
    nb_trainer_free(r);
    nb_dataset_free(cls);
    nb_dataset_free(reg);
}

/* ---------------------------------------------------------------- the fixture */

static nb_dataset *fixture(const char *split)
{
    const char *dir = getenv("NABLA_FIXTURES");
    cr_assert_not_null(dir, "NABLA_FIXTURES is not set");
    char images[512], labels[512];
    snprintf(images, sizeof images, "%s/fmnist-%s-images-idx3-ubyte.gz", dir, split);
    snprintf(labels, sizeof labels, "%s/fmnist-%s-labels-idx1-ubyte.gz", dir, split);
    nb_error err;
    nb_dataset *ds = nb_idx_load(images, labels, &err);
    cr_assert_not_null(ds, "%s", err.message);
    return ds;
}

/* 784 → dense1 (64, relu) → 10 logits. */
static nb_status mlp(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 28, 28));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_dense(g, nb_flatten(g, io->x),
                          (nb_dense_opts){.units = 64, .activation = NB_ACT_RELU});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 10});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

static void last_epoch(const nb_progress *p, void *ud)
{
    *(nb_progress *)ud = *p;
}

Test(lecture_init, a_short_training_from_it_learns_the_fixture, .timeout = 60)
{
    nb_dataset *train = fixture("train"), *test = fixture("test");
    nb_progress last = {0};
    nb_train_opts o = {.batch = 32, .epochs = 5, .seed = 1,
                       .optimizer = {.kind = NB_OPT_SGD, .lr = 0.02f, .momentum = 0.9f},
                       .on_epoch = last_epoch, .ud = &last};
    nb_error err;
    nb_trainer *t = nb_trainer_new(mlp, NULL, train->shape, 1, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    nb_lecture_init_opts lo = {.subsample = 300, .input_fraction = 0.25f, .seed = 2};
    cr_assert_eq(nb_init_lecture(t, "dense1", train, lo, &err), NB_OK, "%s", err.message);
    double acc0;
    cr_assert_eq(nb_trainer_evaluate(t, test, NULL, &acc0), NB_OK, "%s", nb_trainer_error(t));
    cr_assert_eq(nb_trainer_fit(t, train, test), NB_OK, "%s", nb_trainer_error(t));
    printf("lecture init on the fixture: test accuracy %.3f before training, %.3f after 5 "
           "epochs (chance 0.1)\n", acc0, last.test_acc);
    cr_assert_gt(last.test_acc, 0.6, "test accuracy %.3f", last.test_acc);
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_dataset_free(test);
}
