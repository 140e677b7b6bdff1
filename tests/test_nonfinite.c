/*
 * test_nonfinite.c — numbers that are not finite never pass silently:
 * weights files and data files holding NaN, ±inf or float64 values beyond
 * float32 are refused naming file, dataset, index and value (and load when
 * allowed); training refuses such data (and inputs that overflow float32)
 * before the first step, and stops at the first non-finite loss or
 * gradient before the update, naming the epoch, the step and the example
 * whose own loss is not finite. Also the input range a model was trained
 * on: kept by the trainer, stored with the weights, compared with new
 * inputs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

/* ---------------------------------------------------------------- files */

static char *temp_dir(void)
{
    static char dir[64];
    snprintf(dir, sizeof dir, "/tmp/nabla-nonfinite-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    return dir;
}

static const char *in(const char *dir, const char *name)
{
    static char path[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}

static void assert_has(const char *message, const char *part)
{
    cr_assert(strstr(message, part), "expected \"%s\" in: %s", part, message);
}

/* ---------------------------------------------------------------- models */

/* Two Gaussian blobs in the plane, labels 0 and 1. */
static nb_dataset *blobs(int64_t n)
{
    nb_dataset *ds = nb_dataset_new(n, NB_SHAPE(2), 1, NULL);
    nb_rng r = nb_rng_seed(3);
    for (int64_t i = 0; i < n; i++) {
        ds->x[2 * i] = (i % 2 ? 1.0f : -1.0f) + 0.5f * nb_rng_normal(&r);
        ds->x[2 * i + 1] = 0.5f * nb_rng_normal(&r);
        ds->y[i] = (float)(i % 2);
    }
    ds->n_classes = 2;
    return ds;
}

/* 2 → 4 (tanh) → 2 logits, softmax cross-entropy. */
static nb_status blob_model(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 2));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_dense(g, io->x, (nb_dense_opts){.units = 4, .activation = NB_ACT_TANH});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 2});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

/* One input x and one weight w (1 at the start): output f(x)·w with f
 * given by ud ("sqrt": √(x·w) instead, whose gradient at x = 0 is 0·∞;
 * "log": log(x)·w, NaN for x < 0), squared error against y. */
static nb_status scalar_model(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    const char *f = ud;
    const float one = 1.0f;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1));
    io->y = nb_input(g, "y", NB_SHAPE(batch, 1));
    nb_node *w = nb_graph_find(g, "w"); /* built again at another batch: the same w */
    w = w ? w : nb_param(g, "w", NB_SHAPE(1, 1), &one);
    io->output = !strcmp(f, "sqrt") ? nb_sqrt(g, nb_mul(g, io->x, w))
                                    : nb_mul(g, nb_log(g, io->x), w);
    io->loss = nb_mse_loss(g, io->output, io->y);
    return nb_graph_status(g);
}

static nb_dataset *scalars(const float *x, int64_t n)
{
    nb_dataset *ds = nb_dataset_new(n, NB_SHAPE(1), 1, NULL);
    for (int64_t i = 0; i < n; i++) {
        ds->x[i] = x[i];
        ds->y[i] = 1;
    }
    return ds;
}

static nb_trainer *trainer(nb_model_fn build, void *ud, nb_shape shape, nb_train_opts o)
{
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(build, ud, shape, 1, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    return t;
}

/* ---------------------------------------------------------------- training data */

Test(nonfinite, fit_refuses_a_nan_input_naming_the_example)
{
    nb_dataset *ds = blobs(40);
    ds->x[2 * 13 + 1] = NAN;
    nb_trainer *t = trainer(blob_model, NULL, NB_SHAPE(2), (nb_train_opts){.batch = 8, .seed = 1});
    cr_assert_eq(nb_trainer_fit(t, ds, NULL), NB_ERR_ARG);
    assert_has(nb_trainer_error(t), "training example 13 holds nan (input value 1 of 2)");
    cr_assert_eq(nb_trainer_state(t).global_step, 0, "no step was taken");
    nb_trainer_free(t);
    nb_dataset_free(ds);
}

/* 1e30 is finite, but trains (here, through tanh) to a result without
 * meaning: refused as overflowing float32. */
Test(nonfinite, fit_refuses_inputs_that_overflow_float32)
{
    nb_dataset *ds = blobs(40), *test = blobs(10);
    ds->x[2 * 7] = 1e30f;
    nb_trainer *t = trainer(blob_model, NULL, NB_SHAPE(2), (nb_train_opts){.batch = 8, .seed = 1});
    cr_assert_eq(nb_trainer_fit(t, ds, NULL), NB_ERR_ARG);
    assert_has(nb_trainer_error(t), "training example 7 holds 1e+30 (input value 0 of 2)");
    assert_has(nb_trainer_error(t), "overflow float32");
    ds->x[2 * 7] = 1e18f; /* below 2^64: trained on */
    test->x[2 * 3 + 1] = -INFINITY;
    cr_assert_eq(nb_trainer_fit(t, ds, test), NB_ERR_ARG);
    assert_has(nb_trainer_error(t), "test example 3 holds -inf (input value 1 of 2)");
    nb_trainer_free(t);
    nb_dataset_free(ds);
    nb_dataset_free(test);
}

Test(nonfinite, fit_refuses_a_target_that_is_not_finite)
{
    const float x[] = {1, 2, 3, 4};
    nb_dataset *ds = scalars(x, 4);
    ds->y[2] = INFINITY;
    nb_trainer *t = trainer(scalar_model, "log", NB_SHAPE(1), (nb_train_opts){.batch = 4});
    cr_assert_eq(nb_trainer_fit(t, ds, NULL), NB_ERR_ARG);
    assert_has(nb_trainer_error(t), "training example 2 has target inf (value 0 of 1)");
    nb_trainer_free(t);
    nb_dataset_free(ds);
}

Test(nonfinite, check_values_names_the_first_bad_value_in_either_form)
{
    nb_dataset *f = blobs(10);
    nb_error err = {0};
    cr_assert_eq(nb_dataset_check_values(f, &err), NB_OK, "%s", err.message);
    f->y[4] = NAN;
    cr_assert_eq(nb_dataset_check_values(f, &err), NB_ERR_ARG);
    cr_assert_str_eq(err.message, "example 4 has target nan (value 0 of 1): targets must be "
                                  "finite numbers");
    f->x[7] = -3e19f;
    cr_assert_eq(nb_dataset_check_values(f, &err), NB_ERR_ARG);
    assert_has(err.message, "example 3 holds -3e+19 (input value 1 of 2): inputs beyond ±1.8e19");
    nb_dataset *b = nb_dataset_new_u8(2, NB_SHAPE(3), 0, 1e-20f, NULL);
    cr_assert_eq(nb_dataset_check_values(b, &err), NB_OK, "zero bytes are 0: %s", err.message);
    b->x_u8[4] = 1;
    cr_assert_eq(nb_dataset_check_values(b, &err), NB_ERR_ARG);
    assert_has(err.message, "example 1 holds 1e+20 (input value 1 of 3)");
    nb_dataset_free(f);
    nb_dataset_free(b);
}

/* The loss is finite but the gradient is not (√ at 0): training stops
 * before the update, so the weight keeps its value, and says where. */
Test(nonfinite, a_nan_gradient_under_a_finite_loss_stops_before_the_update)
{
    const float x[] = {1, 2, 0, 3};
    nb_dataset *ds = scalars(x, 4);
    nb_trainer *t = trainer(scalar_model, "sqrt", NB_SHAPE(1),
                            (nb_train_opts){.batch = 4, .optimizer = {.lr = 0.1f}});
    cr_assert_eq(nb_trainer_fit(t, ds, NULL), NB_ERR_STATE);
    const char *m = nb_trainer_error(t);
    assert_has(m, "the gradient of 'w' [1,1] is nan at element 0");
    assert_has(m, "at epoch 1, step 1 of 1 (optimiser step 1); no update was made");
    cr_assert_eq(nb_param_data(nb_trainer_param(t, 0))[0], 1.0f, "the weight was not updated");
    cr_assert_eq(nb_trainer_state(t).global_step, 0);
    nb_trainer_free(t);
    nb_dataset_free(ds);
}

/* log(−1) makes one example's loss NaN: the message names it by its index
 * in the set given to fit, through the shuffle and the held-out fraction. */
Test(nonfinite, a_nan_loss_names_the_example_whose_own_loss_is_nan)
{
    const float x[] = {1, 2, 3, 4, 5, -1, 7, 8};
    nb_dataset *ds = scalars(x, 8);
    nb_trainer *t = trainer(scalar_model, "log", NB_SHAPE(1),
                            (nb_train_opts){.batch = 6, .seed = 5, .validation = 0.25,
                                            .optimizer = {.lr = 0.01f}});
    cr_assert_eq(nb_trainer_fit(t, ds, NULL), NB_ERR_STATE);
    const char *m = nb_trainer_error(t);
    assert_has(m, "the loss is nan at epoch 1, step 1 of 1");
    assert_has(m, "training example 5 has a loss of nan");
    assert_has(m, "1 of the batch's 6 examples do");
    nb_trainer_free(t);
    nb_dataset_free(ds);
}

Test(nonfinite, a_step_names_its_own_example)
{
    const float x[] = {1, 2, -3}, y[] = {1, 1, 1}, bad[] = {1, NAN, 2};
    nb_trainer *t = trainer(scalar_model, "log", NB_SHAPE(1), (nb_train_opts){.batch = 3});
    double loss = 0;
    cr_assert_eq(nb_trainer_step(t, x, y, 3, &loss), NB_ERR_STATE);
    assert_has(nb_trainer_error(t), "the loss is nan at optimiser step 1");
    assert_has(nb_trainer_error(t), "this step's example 2 has a loss of nan");
    cr_assert_eq(nb_trainer_step(t, bad, y, 3, &loss), NB_ERR_ARG);
    assert_has(nb_trainer_error(t), "this step's example 1 holds nan");
    cr_assert_eq(nb_trainer_step(t, bad, bad, 1, &loss), NB_OK, "%s", nb_trainer_error(t));
    cr_assert_eq(nb_trainer_state(t).global_step, 1);
    nb_trainer_free(t);
}

/* ---------------------------------------------------------------- weights files */

/* A graph with one parameter "layer/w" [2, 3], all 0.5. */
static nb_graph *one_param_graph(void)
{
    nb_graph *g = nb_graph_new();
    float v[6] = {.5f, .5f, .5f, .5f, .5f, .5f};
    cr_assert_not_null(nb_param(g, "layer/w", NB_SHAPE(2, 3), v));
    return g;
}

static void write_weights(const char *path, float bad_value)
{
    float w[6] = {1, 2, 3, 4, 5, 6};
    w[5] = bad_value;
    nb_array a = {.name = "params/layer/w", .shape = NB_SHAPE(2, 3), .data = w};
    nb_error err = {0};
    cr_assert_eq(nb_hdf5_write(path, &a, 1, &err), NB_OK, "%s", err.message);
}

Test(nonfinite, weights_holding_nan_or_inf_are_refused_unless_allowed)
{
    t_need("hdf5");
    char *dir = temp_dir();
    nb_graph *g = one_param_graph();
    nb_error err = {0};
    write_weights(in(dir, "nan.h5"), NAN);
    cr_assert_eq(nb_weights_load(g, in(dir, "nan.h5"), &err), NB_ERR_ARG);
    assert_has(err.message, "nan.h5: /params/layer/w: element 5 ([1, 2] of [2,3]) is nan: "
                            "weights must be finite numbers");
    cr_assert_eq(nb_param_data(nb_graph_param(g, 0))[0], 0.5f, "nothing was loaded");
    write_weights(in(dir, "inf.h5"), -INFINITY);
    cr_assert_eq(nb_weights_load(g, in(dir, "inf.h5"), &err), NB_ERR_ARG);
    assert_has(err.message, "is -inf");
    cr_assert_eq(nb_weights_load_with(g, in(dir, "nan.h5"),
                                      (nb_weights_opts){.allow_nonfinite = true}, &err),
                 NB_OK, "%s", err.message);
    cr_assert(isnan(nb_param_data(nb_graph_param(g, 0))[5]));
    cr_assert_eq(nb_param_data(nb_graph_param(g, 0))[0], 1.0f);
    nb_graph_free(g);
}

/* A float64 value beyond float32's range would become inf: named as stored. */
Test(nonfinite, float64_weights_beyond_float32_are_refused_with_their_value)
{
    t_need("hdf5");
    if (access("/usr/bin/h5import", X_OK) != 0)
        cr_skip_test("h5import is not installed (Debian hdf5-tools)");
    char *dir = temp_dir(), cmd[1024];
    FILE *f = fopen(in(dir, "v.txt"), "w");
    fputs("1 2 3 4 1e300 6\n", f);
    fclose(f);
    f = fopen(in(dir, "cfg.txt"), "w");
    fputs("PATH params/layer/w\nINPUT-CLASS TEXTFP\nINPUT-SIZE 64\nRANK 2\nDIMENSION-SIZES 2 3\n"
          "OUTPUT-CLASS FP\nOUTPUT-SIZE 64\nOUTPUT-ARCHITECTURE NATIVE\n", f);
    fclose(f);
    /* the root attributes nabla needs, then the float64 dataset beside them */
    nb_array none = {.name = "unused", .shape = NB_SHAPE(1), .data = (float[]){0}};
    nb_error err = {0};
    cr_assert_eq(nb_hdf5_write(in(dir, "w64.h5"), &none, 1, &err), NB_OK, "%s", err.message);
    snprintf(cmd, sizeof cmd, "/usr/bin/h5import %s -c %s -o %s >/dev/null 2>&1",
             in(dir, "v.txt"), in(dir, "cfg.txt"), in(dir, "w64.h5"));
    cr_assert_eq(system(cmd), 0, "h5import failed");
    nb_graph *g = one_param_graph();
    cr_assert_eq(nb_weights_load(g, in(dir, "w64.h5"), &err), NB_ERR_ARG);
    assert_has(err.message, "/params/layer/w: element 4 ([1, 1] of [2,3]) is 1e+300, beyond "
                            "float32's range");
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- data files */

Test(nonfinite, data_files_holding_nan_or_inf_are_refused_unless_allowed)
{
    t_need("hdf5");
    char *dir = temp_dir();
    float x[3 * 4] = {0}, y[3] = {0, 1, 0};
    x[2 * 4 + 3] = NAN;
    nb_array a[] = {{.name = "X", .shape = NB_SHAPE(3, 4), .data = x},
                    {.name = "y", .shape = NB_SHAPE(3), .data = y}};
    nb_error err = {0};
    cr_assert_eq(nb_hdf5_write(in(dir, "d.h5"), a, 2, &err), NB_OK, "%s", err.message);
    cr_assert_null(nb_hdf5_dataset_load(in(dir, "d.h5"), NULL, NULL, &err));
    cr_assert_eq(err.status, NB_ERR_ARG);
    assert_has(err.message, "d.h5: /X: example 2, value 3 of 4 is nan: examples must be finite");
    nb_dataset *ds = nb_hdf5_data_load(in(dir, "d.h5"), (nb_hdf5_data_opts){.allow_nonfinite = true},
                                       &err);
    cr_assert_not_null(ds, "%s", err.message);
    cr_assert(isnan(ds->x[11]));
    nb_dataset_free(ds);
    x[11] = 0;
    y[1] = INFINITY;
    cr_assert_eq(nb_hdf5_write(in(dir, "e.h5"), a, 2, &err), NB_OK, "%s", err.message);
    cr_assert_null(nb_hdf5_dataset_load(in(dir, "e.h5"), NULL, NULL, &err));
    assert_has(err.message, "e.h5: /y: example 1, value 0 of 1 is inf: targets must be finite");
}

/* ---------------------------------------------------------------- input ranges */

Test(nonfinite, the_range_of_a_dataset_in_either_form)
{
    nb_dataset *f = nb_dataset_new(2, NB_SHAPE(2), 0, NULL);
    float v[] = {1, 2, 3, 6};
    memcpy(f->x, v, sizeof v);
    nb_input_range r = nb_dataset_input_range(f);
    cr_assert(r.count == 4 && r.min == 1 && r.max == 6 && r.x_div == 0);
    cr_assert_float_eq(r.mean, 3.0, 1e-12);
    cr_assert_float_eq(r.std, sqrt(3.5), 1e-12);
    nb_dataset *b = nb_dataset_new_u8(1, NB_SHAPE(3), 0, 255, NULL);
    b->x_u8[0] = 0, b->x_u8[1] = 255, b->x_u8[2] = 51;
    r = nb_dataset_input_range(b);
    cr_assert(r.count == 3 && r.min == 0 && r.max == 1 && r.x_div == 255);
    cr_assert_float_eq(r.mean, (0 + 1 + 0.2) / 3, 1e-6);
    nb_dataset_free(f);
    nb_dataset_free(b);
}

Test(nonfinite, inputs_far_outside_the_trained_range_are_flagged_and_others_are_not)
{
    nb_input_range pixels = {.count = 100, .min = 0, .max = 1, .mean = 0.3, .std = 0.3,
                             .x_div = 255};
    nb_input_range raw = {.count = 50, .min = 0, .max = 255, .mean = 80, .std = 60};
    nb_input_range near = {.count = 50, .min = -0.2, .max = 1.5, .mean = 0.3, .std = 0.3};
    nb_input_range none = {0};
    char msg[256] = "";
    cr_assert(nb_input_range_outside(&pixels, &raw, msg, sizeof msg));
    cr_assert_str_eq(msg, "inputs range 0…255 but the model was trained on 0…1 "
                          "(bytes divided by 255)");
    msg[0] = 0;
    cr_assert_not(nb_input_range_outside(&pixels, &pixels, msg, sizeof msg));
    cr_assert_not(nb_input_range_outside(&pixels, &near, msg, sizeof msg));
    cr_assert_not(nb_input_range_outside(&raw, &pixels, msg, sizeof msg));
    cr_assert_not(nb_input_range_outside(&none, &raw, msg, sizeof msg));
    cr_assert_str_eq(msg, "", "nothing written when not flagged");
    nb_input_range below = {.count = 5, .min = -5, .max = 0.5};
    cr_assert(nb_input_range_outside(&pixels, &below, NULL, 0));
}

/* fit keeps the range of its training set; weights files and checkpoints
 * store it; a file without one reads back count 0. */
Test(nonfinite, the_trained_range_is_kept_and_saved)
{
    t_need("hdf5");
    char *dir = temp_dir();
    nb_dataset *ds = blobs(40);
    nb_trainer *t = trainer(blob_model, NULL, NB_SHAPE(2), (nb_train_opts){.batch = 8, .seed = 1});
    cr_assert_eq(nb_trainer_input_range(t).count, 0);
    cr_assert_eq(nb_trainer_fit(t, ds, NULL), NB_OK, "%s", nb_trainer_error(t));
    nb_input_range seen = nb_trainer_input_range(t), want = nb_dataset_input_range(ds), back;
    cr_assert(seen.count == 80 && seen.min == want.min && seen.max == want.max);
    cr_assert_float_eq(seen.mean, want.mean, 1e-12);
    nb_error err = {0};
    cr_assert_eq(nb_weights_save_with(nb_trainer_graph(t), in(dir, "w.h5"), NULL,
                                      (nb_weights_opts){.inputs = &seen}, &err), NB_OK, "%s",
                 err.message);
    cr_assert_eq(nb_weights_input_range(in(dir, "w.h5"), &back, &err), NB_OK, "%s", err.message);
    cr_assert(back.count == 80 && back.min == seen.min && back.max == seen.max &&
              back.mean == seen.mean && back.std == seen.std && back.x_div == 0);
    cr_assert_eq(nb_checkpoint_save(t, in(dir, "c.h5"), NULL, &err), NB_OK, "%s", err.message);
    cr_assert_eq(nb_weights_input_range(in(dir, "c.h5"), &back, &err), NB_OK, "%s", err.message);
    cr_assert(back.count == 80 && back.max == seen.max);
    cr_assert_eq(nb_weights_save(nb_trainer_graph(t), in(dir, "old.h5"), NULL, &err), NB_OK);
    cr_assert_eq(nb_weights_input_range(in(dir, "old.h5"), &back, &err), NB_OK, "%s", err.message);
    cr_assert_eq(back.count, 0);
    nb_trainer_free(t);
    nb_dataset_free(ds);
}
