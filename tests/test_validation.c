/*
 * test_validation.c — validation and early stopping in the trainer: the
 * held-out split (sizes, disjointness, determinism, refusals), the
 * validation metrics an epoch reports, the epoch's mean training loss,
 * stopping at the right epoch on a case built so that validation loss
 * falls and then rises, the best weights restored bit for bit (or the last
 * kept on request), and the best-so-far state surviving a checkpoint.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

/* n examples of one value each, x = i (so every example is recognisable),
 * y = slope·x; in the float form, or bytes when `bytes`. */
static nb_dataset *ramp(int64_t n, float slope, bool bytes)
{
    nb_dataset *ds = bytes ? nb_dataset_new_u8(n, NB_SHAPE(1), 1, 1.0f, NULL)
                           : nb_dataset_new(n, NB_SHAPE(1), 1, NULL);
    cr_assert_not_null(ds);
    for (int64_t i = 0; i < n; i++) {
        if (bytes)
            ds->x_u8[i] = (uint8_t)i;
        else
            ds->x[i] = (float)i;
        ds->y[i] = slope * (float)i;
    }
    return ds;
}

/* ---------------------------------------------------------------- the split */

Test(validation, split_sizes_disjoint_and_covering)
{
    for (int bytes = 0; bytes < 2; bytes++) {
        nb_dataset *ds = ramp(50, 2.0f, bytes), *rest = NULL, *held = NULL;
        int64_t idx[50];
        nb_error err = {0};
        cr_assert_eq(nb_dataset_split(ds, 0.2, 7, &rest, &held, idx, &err), NB_OK, "%s",
                     err.message);
        cr_assert_eq(held->n, 10);
        cr_assert_eq(rest->n, 40);
        cr_assert_eq(!held->x, (bool)bytes, "the held-out set keeps the dataset's form");
        bool seen[50] = {0};
        for (int s = 0; s < 2; s++) {
            const nb_dataset *d = s ? held : rest;
            float prev = -1;
            for (int64_t i = 0; i < d->n; i++) {
                float x = bytes ? d->x_u8[i] : d->x[i];
                int k = (int)x;
                cr_assert(!seen[k], "example %d is in both sets", k);
                seen[k] = true;
                cr_assert_gt(x, prev, "each set keeps the dataset's order");
                prev = x;
                cr_assert_eq(d->y[i], 2.0f * x, "targets travel with their examples");
                if (s)
                    cr_assert_eq(idx[i], k, "held_index names the held-out examples");
            }
        }
        for (int k = 0; k < 50; k++)
            cr_assert(seen[k], "example %d is in neither set", k);
        nb_dataset_free(rest);
        nb_dataset_free(held);
        nb_dataset_free(ds);
    }
}

Test(validation, split_depends_on_the_seed_alone)
{
    nb_dataset *ds = ramp(200, 1.0f, false), *r1, *h1, *r2, *h2, *r3, *h3;
    int64_t a[40], b[40], c[40];
    cr_assert_eq(nb_dataset_split(ds, 0.2, 3, &r1, &h1, a, NULL), NB_OK);
    cr_assert_eq(nb_dataset_split(ds, 0.2, 3, &r2, &h2, b, NULL), NB_OK);
    cr_assert_eq(nb_dataset_split(ds, 0.2, 4, &r3, &h3, c, NULL), NB_OK);
    cr_assert_arr_eq(a, b, sizeof a, "the same seed holds out the same examples");
    cr_assert(memcmp(a, c, sizeof a) != 0, "another seed holds out others");
    bool last_fifth = true; /* not simply the tail, as Keras takes it */
    for (int i = 0; i < 40; i++)
        last_fifth = last_fifth && a[i] == 160 + i;
    cr_assert(!last_fifth);
    nb_dataset *sets[] = {ds, r1, h1, r2, h2, r3, h3};
    for (int i = 0; i < 7; i++)
        nb_dataset_free(sets[i]);
}

Test(validation, split_refuses_fractions_that_leave_a_side_empty)
{
    nb_dataset *ds = ramp(50, 1.0f, false), *rest = (void *)1, *held = (void *)1;
    nb_error err = {0};
    cr_assert_eq(nb_dataset_split(ds, 1.5, 1, &rest, &held, NULL, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "1.5") && strstr(err.message, "between 0 and 1"), "%s",
              err.message);
    cr_assert_null(rest);
    cr_assert_null(held);
    cr_assert_eq(nb_dataset_split(ds, 0.001, 1, &rest, &held, NULL, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "0.001 of 50") && strstr(err.message, "no validation example"),
              "%s", err.message);
    cr_assert_eq(nb_dataset_split(ds, 0.999, 1, &rest, &held, NULL, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "no training example"), "%s", err.message);
    nb_dataset_free(ds);
}

/* ---------------------------------------------------------------- the model */

/* ŷ = w·x + b, w and b starting at zero, squared error. */
static nb_status line(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1));
    io->y = nb_input(g, "y", NB_SHAPE(batch, 1));
    io->output = nb_dense(g, io->x, (nb_dense_opts){.units = 1, .init = {.kind = NB_INIT_ZEROS}});
    io->loss = nb_mse_loss(g, io->output, io->y);
    return nb_graph_status(g);
}

/* x spread over [-1, 1], y = slope·x. */
static nb_dataset *line_data(int64_t n, float slope, uint64_t seed)
{
    nb_dataset *ds = nb_dataset_new(n, NB_SHAPE(1), 1, NULL);
    cr_assert_not_null(ds);
    t_fill(ds->x, n, seed, -1.0f, 1.0f);
    for (int64_t i = 0; i < n; i++)
        ds->y[i] = slope * ds->x[i];
    return ds;
}

#define MAX_EPOCHS 64

/* What the callbacks saw: each step's loss and size, each epoch's progress
 * and weights (w, b). */
typedef struct seen {
    double step_loss[1024];
    int64_t step_n[1024], examples_before;
    int steps;
    nb_progress last_step, epoch[MAX_EPOCHS + 1];
    float w[MAX_EPOCHS + 1][2];
    int epochs;
    nb_trainer *t;
    int save_at;          /* > 0: checkpoint to `path` after this epoch */
    char path[64];
} seen;

static void on_step(const nb_progress *p, void *ud)
{
    seen *s = ud;
    if (p->step == 1)
        s->examples_before = 0;
    s->step_loss[s->steps] = p->loss;
    s->step_n[s->steps++] = p->examples - s->examples_before;
    s->examples_before = p->examples;
    s->last_step = *p;
}

static void on_epoch(const nb_progress *p, void *ud)
{
    seen *s = ud;
    nb_graph *g = nb_trainer_graph(s->t);
    s->epoch[p->epoch] = *p;
    s->w[p->epoch][0] = nb_param_data(nb_graph_param(g, 0))[0];
    s->w[p->epoch][1] = nb_param_data(nb_graph_param(g, 1))[0];
    s->epochs = p->epoch;
    nb_error err = {0};
    if (p->epoch == s->save_at)
        cr_assert_eq(nb_checkpoint_save(s->t, s->path, NULL, &err), NB_OK, "%s", err.message);
}

static nb_train_opts line_opts(seen *s, int epochs)
{
    return (nb_train_opts){.batch = 8, .epochs = epochs, .seed = 5,
                           .optimizer = {.kind = NB_OPT_SGD, .lr = 0.05f},
                           .on_step = on_step, .on_epoch = on_epoch, .ud = s};
}

static nb_trainer *line_trainer(seen *s, const nb_train_opts *o)
{
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(line, NULL, NB_SHAPE(1), 1, o, &err);
    cr_assert_not_null(t, "%s", err.message);
    s->t = t;
    return t;
}

/* ---------------------------------------------------------------- mean loss */

Test(validation, mean_loss_is_the_mean_of_the_step_losses)
{
    int64_t sizes[] = {40, 43}; /* 5 steps of 8; then 5 of 8 and one of 3 */
    for (int c = 0; c < 2; c++) {
        seen *s = calloc(1, sizeof *s);
        nb_dataset *train = line_data(sizes[c], 1.0f, 1);
        nb_train_opts o = line_opts(s, 1);
        nb_trainer *t = line_trainer(s, &o);
        cr_assert_eq(nb_trainer_fit(t, train, NULL), NB_OK, "%s", nb_trainer_error(t));
        double sum = 0, plain = 0;
        int64_t n = 0;
        for (int i = 0; i < s->steps; i++) {
            sum += s->step_loss[i] * (double)s->step_n[i];
            plain += s->step_loss[i];
            n += s->step_n[i];
        }
        cr_assert_eq(n, sizes[c]);
        cr_assert_float_eq(s->epoch[1].mean_loss, sum / (double)n, 1e-12 * sum / (double)n);
        if (c == 0) /* equal batches: the plain mean of the step losses */
            cr_assert_float_eq(s->epoch[1].mean_loss, plain / s->steps, 1e-12 * plain);
        cr_assert_neq(s->epoch[1].mean_loss, s->epoch[1].loss, "not the last batch's loss");
        nb_trainer_free(t);
        nb_dataset_free(train);
        free(s);
    }
}

/* ---------------------------------------------------------------- validation metrics */

Test(validation, a_held_out_fraction_is_evaluated_after_each_epoch)
{
    seen *s = calloc(1, sizeof *s);
    nb_dataset *train = line_data(50, 1.0f, 2), *rest, *held, *test = line_data(10, 1.0f, 3);
    nb_train_opts o = line_opts(s, 2);
    o.validation = 0.2;
    nb_trainer *t = line_trainer(s, &o);
    cr_assert_eq(nb_trainer_fit(t, train, test), NB_OK, "%s", nb_trainer_error(t));
    cr_assert_eq(s->epoch[1].examples, 40, "the 10 held-out examples are not trained on");
    cr_assert_eq(nb_dataset_split(train, 0.2, o.seed, &rest, &held, NULL, NULL), NB_OK);
    double loss, acc;
    cr_assert_eq(nb_trainer_evaluate(t, held, &loss, &acc), NB_OK);
    cr_assert_eq(s->epoch[2].val_loss, loss, "val_loss is the held-out set's, split by the seed");
    cr_assert_eq(s->epoch[2].val_acc, acc);
    cr_assert(!isnan(s->epoch[2].test_loss) && s->epoch[2].test_loss != loss,
              "the test set is evaluated apart");
    cr_assert_eq(s->epoch[2].best_epoch, s->epoch[2].val_loss < s->epoch[1].val_loss ? 2 : 1);
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_dataset_free(rest);
    nb_dataset_free(held);
    nb_dataset_free(test);
    free(s);
}

/* ---------------------------------------------------------------- early stopping */

/* Trained on y = x from w = 0, validated on y = x/2: w climbs towards 1,
 * so validation loss falls until w passes 1/2 and rises after. */
static seen *stop_run(int patience, bool no_restore, nb_trainer **out)
{
    seen *s = calloc(1, sizeof *s);
    nb_dataset *train = line_data(40, 1.0f, 11), *val = line_data(20, 0.5f, 12);
    nb_train_opts o = line_opts(s, MAX_EPOCHS);
    o.validation_data = val;
    o.patience = patience;
    o.no_restore_best = no_restore;
    nb_trainer *t = line_trainer(s, &o);
    cr_assert_eq(nb_trainer_fit(t, train, NULL), NB_OK, "%s", nb_trainer_error(t));
    nb_dataset_free(train);
    nb_dataset_free(val);
    *out = t;
    return s;
}

/* The epoch with the lowest validation loss (the first, on ties). */
static int lowest(const seen *s)
{
    int best = 1;
    for (int e = 2; e <= s->epochs; e++)
        if (s->epoch[e].val_loss < s->epoch[best].val_loss)
            best = e;
    return best;
}

Test(validation, early_stopping_stops_patience_epochs_after_the_best)
{
    nb_trainer *t;
    seen *s = stop_run(3, false, &t);
    int best = lowest(s);
    cr_assert_gt(best, 2, "the case is built so validation loss first falls (best %d)", best);
    cr_assert_gt(s->epoch[best + 1].val_loss, s->epoch[best].val_loss, "… then rises");
    cr_assert_eq(s->epochs, best + 3, "stopped after epoch %d, the best was %d", s->epochs, best);
    cr_assert(s->epoch[s->epochs].early_stopped);
    for (int e = 1; e < s->epochs; e++)
        cr_assert(!s->epoch[e].early_stopped, "epoch %d", e);
    cr_assert_eq(s->epoch[s->epochs].best_epoch, best);
    nb_train_state st = nb_trainer_state(t);
    cr_assert_eq(st.epoch, best + 3);
    cr_assert_eq(st.best_epoch, best);
    cr_assert_eq(st.bad_epochs, 3);
    cr_assert_eq(st.best, s->epoch[best].val_loss);
    nb_graph *g = nb_trainer_graph(t);
    float now[2] = {nb_param_data(nb_graph_param(g, 0))[0], nb_param_data(nb_graph_param(g, 1))[0]};
    cr_assert_arr_eq(now, s->w[best], sizeof now, "the best epoch's weights, bit for bit");
    cr_assert(memcmp(now, s->w[s->epochs], sizeof now) != 0, "not the last epoch's");
    nb_trainer_free(t);
    free(s);
}

Test(validation, no_restore_best_keeps_the_last_weights)
{
    nb_trainer *t;
    seen *s = stop_run(2, true, &t);
    cr_assert_eq(s->epochs, lowest(s) + 2);
    nb_graph *g = nb_trainer_graph(t);
    float now[2] = {nb_param_data(nb_graph_param(g, 0))[0], nb_param_data(nb_graph_param(g, 1))[0]};
    cr_assert_arr_eq(now, s->w[s->epochs], sizeof now);
    cr_assert_null(nb_trainer_best_weights(t, NULL), "no copy kept when it is not restored");
    nb_trainer_free(t);
    free(s);
}

Test(validation, min_delta_and_accuracy_monitoring)
{
    /* A min_delta larger than any epoch's gain: the first epoch stays best. */
    seen *s = calloc(1, sizeof *s);
    nb_dataset *train = line_data(40, 1.0f, 11), *val = line_data(20, 0.5f, 12);
    nb_train_opts o = line_opts(s, MAX_EPOCHS);
    o.validation_data = val;
    o.patience = 2;
    o.min_delta = 10;
    nb_trainer *t = line_trainer(s, &o);
    cr_assert_eq(nb_trainer_fit(t, train, NULL), NB_OK, "%s", nb_trainer_error(t));
    cr_assert_eq(s->epochs, 3);
    cr_assert_eq(nb_trainer_state(t).best_epoch, 1);
    nb_trainer_free(t);
    /* Accuracy (output > 0 against target > 0.5) does not move here: the
     * first epoch stays best too. */
    memset(s, 0, sizeof *s);
    o.min_delta = 0;
    o.monitor = NB_MONITOR_VAL_ACC;
    t = line_trainer(s, &o);
    cr_assert_eq(nb_trainer_fit(t, train, NULL), NB_OK, "%s", nb_trainer_error(t));
    cr_assert_eq(s->epoch[2].val_acc, s->epoch[1].val_acc);
    cr_assert_eq(s->epochs, 3);
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_dataset_free(val);
    free(s);
}

Test(validation, best_so_far_survives_a_checkpoint)
{
    t_need("hdf5");
    /* The whole run, then the same run checkpointed (as nabla train does,
     * from on_epoch) after an epoch past the best, before patience ran
     * out, and resumed in a new trainer: the resumed run stops at the same
     * epoch and restores the same weights. */
    nb_trainer *full;
    seen *s = stop_run(3, false, &full);
    int best = lowest(s);
    seen *p = calloc(1, sizeof *p);
    nb_dataset *train = line_data(40, 1.0f, 11), *val = line_data(20, 0.5f, 12);
    nb_train_opts o = line_opts(p, MAX_EPOCHS);
    o.validation_data = val;
    o.patience = 3;
    nb_trainer *a = line_trainer(p, &o);
    p->save_at = best + 1;
    snprintf(p->path, sizeof p->path, "/tmp/nabla_validation_XXXXXX");
    int fd = mkstemp(p->path);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(nb_trainer_fit(a, train, NULL), NB_OK, "%s", nb_trainer_error(a));
    p->save_at = 0;
    const char *path = p->path;
    nb_error err = {0};
    nb_trainer *b = line_trainer(p, &o);
    cr_assert_eq(nb_checkpoint_load(b, path, &err), NB_OK, "%s", err.message);
    nb_train_state st = nb_trainer_state(b);
    cr_assert_eq(st.best_epoch, best);
    cr_assert_eq(st.bad_epochs, 1);
    cr_assert_eq(nb_trainer_fit(b, train, NULL), NB_OK, "%s", nb_trainer_error(b));
    cr_assert_eq(nb_trainer_state(b).epoch, s->epochs);
    nb_graph *gf = nb_trainer_graph(full), *gb = nb_trainer_graph(b);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(nb_param_data(nb_graph_param(gb, i))[0],
                     nb_param_data(nb_graph_param(gf, i))[0], "parameter %d", i);
    unlink(path);
    nb_trainer_free(full);
    nb_trainer_free(a);
    nb_trainer_free(b);
    nb_dataset_free(train);
    nb_dataset_free(val);
    free(s);
    free(p);
}

/* ---------------------------------------------------------------- refusals */

Test(validation, refuses_options_that_cannot_work)
{
    nb_dataset *val = line_data(20, 0.5f, 12);
    struct {
        nb_train_opts o;
        const char *says;
    } cases[] = {
        {{.validation = 1.5}, "validation 1.5 is not a fraction"},
        {{.validation = -0.1}, "validation -0.1 is not a fraction"},
        {{.validation = 0.2, .validation_data = val}, "not both"},
        {{.patience = 3}, "patience 3 (early stopping) needs a validation set"},
        {{.patience = -1, .validation = 0.2}, "patience -1 is negative"},
        {{.min_delta = -0.5, .validation = 0.2}, "min_delta -0.5 is not a finite number >= 0"},
        {{.min_delta = NAN, .validation = 0.2}, "min_delta nan"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        nb_error err = {0};
        nb_trainer *t = nb_trainer_new(line, NULL, NB_SHAPE(1), 1, &cases[i].o, &err);
        cr_assert_null(t, "case %zu", i);
        cr_assert_eq(err.status, NB_ERR_ARG);
        cr_assert(strstr(err.message, cases[i].says), "case %zu: %s", i, err.message);
    }
    /* A fraction too small for the training set is refused by fit. */
    nb_train_opts o = {.validation = 0.01};
    nb_trainer *t = nb_trainer_new(line, NULL, NB_SHAPE(1), 1, &o, NULL);
    nb_dataset *small = line_data(20, 1.0f, 1);
    cr_assert_eq(nb_trainer_fit(t, small, NULL), NB_ERR_ARG);
    cr_assert(strstr(nb_trainer_error(t), "0.01 of 20 examples holds out 0"), "%s",
              nb_trainer_error(t));
    /* A validation set of the wrong shape, naming it. */
    nb_dataset *wide = nb_dataset_new(5, NB_SHAPE(2), 1, NULL);
    o = (nb_train_opts){.validation_data = wide};
    nb_trainer *t2 = nb_trainer_new(line, NULL, NB_SHAPE(1), 1, &o, NULL);
    cr_assert_eq(nb_trainer_fit(t2, small, NULL), NB_ERR_SHAPE);
    cr_assert(strstr(nb_trainer_error(t2), "the validation set holds examples [2]"), "%s",
              nb_trainer_error(t2));
    nb_trainer_free(t);
    nb_trainer_free(t2);
    nb_dataset_free(small);
    nb_dataset_free(wide);
    nb_dataset_free(val);
}

/* ---------------------------------------------------------------- model files */

static nb_model_file *parse(const char *text, nb_error *err)
{
    return nb_model_file_parse(text, strlen(text), "dir/m.yaml", err);
}

Test(validation, model_files_say_validation_and_early_stopping)
{
    const char *text = "nabla: 1\ninput: {x: [2]}\nlayers: [{dense: {units: 2}}]\n"
                       "loss: softmax_cross_entropy\n"
                       "train: {epochs: 9, validation: 0.25,\n"
                       "        early_stopping: {patience: 4, min_delta: 0.01, monitor: val_acc,\n"
                       "                         restore_best: false}}\n"
                       "data: {format: hdf5, train: t.h5, validation: v.h5}\n";
    nb_error err = {0};
    nb_model_file *m = parse(text, &err);
    cr_assert_not_null(m, "%s", err.message);
    nb_train_opts o = nb_model_file_train_opts(m);
    cr_assert_eq(o.validation, 0.25);
    cr_assert_eq(o.patience, 4);
    cr_assert_eq(o.min_delta, 0.01);
    cr_assert_eq(o.monitor, NB_MONITOR_VAL_ACC);
    cr_assert(o.no_restore_best);
    cr_assert_str_eq(nb_model_file_data(m).validation, "dir/v.h5");
    nb_model_file_free(m);
    /* Silent: no validation, no early stopping, best weights restored. */
    m = parse("nabla: 1\ninput: {x: [2]}\nlayers: [{dense: {units: 2}}]\n"
              "train: {early_stopping: {patience: 2}}\n", &err);
    cr_assert_not_null(m, "%s", err.message);
    o = nb_model_file_train_opts(m);
    cr_assert_eq(o.patience, 2);
    cr_assert_eq(o.validation, 0);
    cr_assert_eq(o.monitor, NB_MONITOR_VAL_LOSS);
    cr_assert(!o.no_restore_best);
    cr_assert_null(nb_model_file_data(m).validation);
    nb_model_file_free(m);
}

Test(validation, model_files_refuse_bad_validation_keys)
{
    struct {
        const char *train, *says;
    } cases[] = {
        {"{validation: 1.5}", "dir/m.yaml:4:21: key 'validation' in train"},
        {"{validation: 0}", "key 'validation' in train"},
        {"{early_stopping: {min_delta: 0.1}}", "key 'patience' is missing in train early_stopping"},
        {"{early_stopping: {patience: 0}}", "key 'patience' in train early_stopping"},
        {"{early_stopping: {patience: 2, monitor: val_los}}", "did you mean 'val_loss'"},
        {"{early_stopping: {patience: 2, min_delta: -1}}", "key 'min_delta'"},
        {"{early_stopping: {patience: 2, restore: true}}", "did you mean 'restore_best'"},
        {"{early_stopping: 3}", "key 'early_stopping' in train"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[512];
        snprintf(text, sizeof text, "nabla: 1\ninput: {x: [2]}\nlayers: [{dense: {units: 2}}]\n"
                 "train: %s\n", cases[i].train);
        nb_error err = {0};
        nb_model_file *m = parse(text, &err);
        cr_assert_null(m, "case %zu", i);
        cr_assert_eq(err.status, NB_ERR_ARG);
        cr_assert(strstr(err.message, cases[i].says), "case %zu: %s", i, err.message);
    }
}
