/*
 * test_cg.c — conjugate gradients over chunks (nb_trainer_fit_cg): on real
 * Fashion-MNIST images from the fixture CG reaches a lower loss than
 * full-batch gradient descent with the best of several fixed steps in the
 * same number of gradient evaluations; on linear least squares (a
 * quadratic) it reaches the exact minimum in n iterations, where steepest
 * descent with the same line search does not; restarts happen where they
 * should; failed searches end a visit cleanly; chunks are visited in order,
 * shuffling is seeded; a budget of example gradients is kept; the callback
 * can stop; bad options and data are refused with messages.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

/* ---------------------------------------------------------------- recording */

#define MAX_SEEN 256

/* Every iteration's progress, and when to stop. */
typedef struct seen {
    nb_cg_progress p[MAX_SEEN];
    int n;
    int64_t eval_budget; /* > 0: stop once this many evaluations were spent */
    int stop_after;      /* > 0: stop after this many iterations */
    nb_cg_progress summary; /* what the call returned */
} seen;

static bool on_iteration(const nb_cg_progress *p, void *ud)
{
    seen *s = ud;
    if (s->n < MAX_SEEN)
        s->p[s->n++] = *p;
    if (s->stop_after > 0 && s->n >= s->stop_after)
        return false;
    return !(s->eval_budget > 0 && p->grad_evals >= s->eval_budget);
}

/* ---------------------------------------------------------------- models */

/* 784 → 16 (tanh) → 10 logits, softmax cross-entropy. */
static nb_status mlp(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 28, 28));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_dense(g, nb_flatten(g, io->x), (nb_dense_opts){.units = 16,
                                                                   .activation = NB_ACT_TANH});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 10});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

#define LS_DIM 6

/* Linear least squares: a = x·w + b, loss ½(a - y)² averaged: a quadratic
 * in the LS_DIM + 1 parameters. */
static nb_status linear(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, LS_DIM));
    io->y = nb_input(g, "y", NB_SHAPE(batch, 1));
    io->output = nb_dense(g, io->x, (nb_dense_opts){.units = 1, .name = "lin"});
    io->loss = nb_mse_loss(g, io->output, io->y);
    return nb_graph_status(g);
}

/* n points with columns of different scales (so steepest descent zigzags,
 * though not so ill-conditioned that float32 rounding rules),
 * y = x·w + b + noise. */
static nb_dataset *regression(int64_t n, uint64_t seed)
{
    static const float scale[LS_DIM] = {2.0f, 1.0f, 0.5f, 1.5f, 0.7f, 1.2f};
    static const float w[LS_DIM] = {0.5f, -1.0f, 2.0f, 0.25f, -0.75f, 1.0f};
    nb_dataset *ds = nb_dataset_new(n, NB_SHAPE(LS_DIM), 1, NULL);
    cr_assert_not_null(ds);
    nb_rng r = nb_rng_seed(seed);
    for (int64_t i = 0; i < n; i++) {
        float y = 0.3f;
        for (int j = 0; j < LS_DIM; j++) {
            float x = scale[j] * (2 * nb_rng_uniform(&r) - 1) + 0.1f * (float)j;
            ds->x[i * LS_DIM + j] = x;
            y += w[j] * x;
        }
        ds->y[i] = y + 0.1f * nb_rng_normal(&r);
    }
    return ds;
}

/* The least-squares solution [w; b] in double: normal equations of the
 * design matrix with a column of ones, by Gaussian elimination with
 * partial pivoting. */
static void least_squares(const nb_dataset *ds, double *sol)
{
    enum { K = LS_DIM + 1 };
    double a[K][K + 1] = {{0}};
    for (int64_t i = 0; i < ds->n; i++) {
        double row[K];
        for (int j = 0; j < LS_DIM; j++)
            row[j] = ds->x[i * LS_DIM + j];
        row[LS_DIM] = 1;
        for (int j = 0; j < K; j++) {
            for (int k = 0; k < K; k++)
                a[j][k] += row[j] * row[k];
            a[j][K] += row[j] * ds->y[i];
        }
    }
    for (int c = 0; c < K; c++) {
        int piv = c;
        for (int r = c + 1; r < K; r++)
            if (fabs(a[r][c]) > fabs(a[piv][c]))
                piv = r;
        for (int k = 0; k <= K; k++) {
            double t = a[c][k];
            a[c][k] = a[piv][k];
            a[piv][k] = t;
        }
        for (int r = 0; r < K; r++) {
            if (r == c)
                continue;
            double f = a[r][c] / a[c][c];
            for (int k = c; k <= K; k++)
                a[r][k] -= f * a[c][k];
        }
    }
    for (int j = 0; j < K; j++)
        sol[j] = a[j][K] / a[j][j];
}

static nb_trainer *trainer(nb_model_fn build, const nb_dataset *ds, nb_train_opts o)
{
    nb_error err;
    nb_trainer *t = nb_trainer_new(build, NULL, ds->shape, ds->y_width, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    return t;
}

static double full_loss(nb_trainer *t, const nb_dataset *ds)
{
    float *g = malloc((size_t)nb_optimizer_size(nb_trainer_optimizer(t)) * sizeof *g);
    double loss;
    cr_assert_eq(nb_trainer_loss_grad(t, ds, 0, ds->n, g, &loss), NB_OK, "%s",
                 nb_trainer_error(t));
    free(g);
    return loss;
}

/* The largest |parameter - solution| of the linear model. */
static double ls_error(nb_trainer *t, const double *sol)
{
    const float *w = nb_param_data(nb_graph_find(nb_trainer_graph(t), "lin/w"));
    const float *b = nb_param_data(nb_graph_find(nb_trainer_graph(t), "lin/b"));
    double worst = fabs(b[0] - sol[LS_DIM]);
    for (int j = 0; j < LS_DIM; j++)
        worst = fmax(worst, fabs(w[j] - sol[j]));
    return worst;
}

/* ---------------------------------------------------------------- the claim */

/* Full-batch gradient descent on the fixture (500 images) with a fixed step
 * lr, for `evals` steps: each step is one gradient evaluation. */
static double gradient_descent(const nb_dataset *ds, float lr, int evals)
{
    nb_trainer *t = trainer(mlp, ds, (nb_train_opts){.batch = ds->n, .seed = 3,
                                                     .optimizer = {.kind = NB_OPT_SGD, .lr = lr}});
    for (int i = 0; i < evals; i++)
        cr_assert_eq(nb_trainer_step(t, ds->x, ds->y, ds->n, NULL), NB_OK, "%s",
                     nb_trainer_error(t));
    double loss = full_loss(t, ds);
    nb_trainer_free(t);
    return loss;
}

Test(cg, lower_loss_than_gradient_descent_in_the_same_evaluations)
{
    enum { EVALS = 40 };
    nb_dataset *ds = t_fixture("train");
    static const float lrs[] = {0.1f, 0.3f, 1.0f, 3.0f};
    double best_gd = INFINITY, best_lr = 0;
    for (size_t i = 0; i < sizeof lrs / sizeof *lrs; i++) {
        double l = gradient_descent(ds, lrs[i], EVALS);
        printf("gradient descent lr %.1f: loss %.4f after %d evaluations\n", lrs[i], l, EVALS);
        if (l < best_gd)
            best_gd = l, best_lr = lrs[i];
    }
    nb_trainer *t = trainer(mlp, ds, (nb_train_opts){.batch = ds->n, .seed = 3});
    double start = full_loss(t, ds);
    seen *s = calloc(1, sizeof *s);
    s->eval_budget = EVALS;
    nb_error err;
    nb_cg_opts o = {.iterations = 1000, .on_iteration = on_iteration, .ud = s};
    cr_assert_eq(nb_trainer_fit_cg(t, ds, o, &s->summary, &err), NB_OK, "%s",
                 err.message);
    /* the loss at the last iteration that stayed within the budget */
    double cg_loss = start;
    int64_t used = 0;
    for (int i = 0; i < s->n && s->p[i].grad_evals <= EVALS; i++)
        cg_loss = s->p[i].loss, used = s->p[i].grad_evals;
    printf("conjugate gradients: loss %.4f -> %.4f after %lld evaluations (%d iterations); "
           "best gradient descent (lr %.1f) %.4f\n",
           start, cg_loss, (long long)used, s->n, best_lr, best_gd);
    cr_assert_lt(cg_loss, best_gd, "CG %.4f, GD %.4f", cg_loss, best_gd);
    /* the reported loss is the loss at the parameters CG left */
    cr_assert_float_eq(s->p[s->n - 1].loss, full_loss(t, ds), 1e-5);
    nb_trainer_free(t);
    nb_dataset_free(ds);
    free(s);
}

/* ---------------------------------------------------------------- quadratics */

/* CG with `restart` on the regression problem for `iterations`, with a
 * nearly exact line search (c2 = 1e-4), as CG's theory on quadratics
 * assumes. */
static nb_trainer *least_squares_cg(const nb_dataset *ds, int iterations, int restart, seen *s)
{
    nb_trainer *t = trainer(linear, ds, (nb_train_opts){.batch = ds->n, .seed = 5});
    nb_error err;
    nb_cg_opts o = {.iterations = iterations, .restart = restart, .c2 = 1e-4,
                    .on_iteration = on_iteration, .ud = s};
    cr_assert_eq(nb_trainer_fit_cg(t, ds, o, &s->summary, &err), NB_OK, "%s",
                 err.message);
    return t;
}

/* The least-squares loss at the exact solution, in double. */
static double least_squares_loss(const nb_dataset *ds, const double *sol)
{
    double sum = 0;
    for (int64_t i = 0; i < ds->n; i++) {
        double a = sol[LS_DIM];
        for (int j = 0; j < LS_DIM; j++)
            a += sol[j] * ds->x[i * LS_DIM + j];
        sum += 0.5 * (a - ds->y[i]) * (a - ds->y[i]);
    }
    return sum / (double)ds->n;
}

Test(cg, quadratic_exact_minimum_in_n_iterations)
{
    nb_dataset *ds = regression(64, 11);
    double sol[LS_DIM + 1];
    least_squares(ds, sol);
    double best = least_squares_loss(ds, sol);
    seen *s = calloc(1, sizeof *s), *sd = calloc(1, sizeof *sd), *s2 = calloc(1, sizeof *s2);
    /* n = 7 parameters: in exact arithmetic CG is done after 7 steps */
    nb_trainer *t = least_squares_cg(ds, LS_DIM + 1, 0, s);
    double excess_cg = full_loss(t, ds) - best;
    nb_trainer *u = least_squares_cg(ds, LS_DIM + 1, 1, sd); /* steepest descent */
    double excess_sd = full_loss(u, ds) - best, err_sd = ls_error(u, sol);
    /* two more steps (a restart after n) mop up float32 rounding */
    nb_trainer *v = least_squares_cg(ds, LS_DIM + 3, 0, s2);
    double err_cg = ls_error(v, sol);
    printf("least squares, 7 parameters, min loss %.9f: after 7 iterations CG is %.2e above it "
           "(%lld evaluations), steepest descent %.2e (max |w - w*| %.2e); after 9 CG "
           "iterations max |w - w*| = %.2e, |grad| = %.2e (%lld evaluations)\n",
           best, excess_cg, (long long)s->p[s->n - 1].grad_evals, excess_sd, err_sd, err_cg,
           s2->p[s2->n - 1].grad_norm, (long long)s2->p[s2->n - 1].grad_evals);
    cr_assert_eq(s->n, LS_DIM + 1);
    for (int i = 1; i < s->n; i++)
        cr_assert_gt(s->p[i].beta, 0, "iteration %d restarted", i + 1);
    cr_assert_lt(excess_cg, 1e-5 * best, "CG after n steps: %.3g above the minimum", excess_cg);
    cr_assert_gt(excess_sd, 100 * excess_cg, "steepest descent %.3g, CG %.3g", excess_sd,
                 excess_cg);
    cr_assert_eq(s2->n, LS_DIM + 3);
    cr_assert_lt(err_cg, 1e-5, "CG is %.3g away from the least-squares solution", err_cg);
    cr_assert_lt(s2->p[s2->n - 1].grad_norm, 1e-5);
    nb_trainer_free(t);
    nb_trainer_free(u);
    nb_trainer_free(v);
    nb_dataset_free(ds);
    free(s);
    free(sd);
    free(s2);
}

Test(cg, restarts_every_k_iterations)
{
    nb_dataset *ds = regression(64, 11);
    seen *s = calloc(1, sizeof *s);
    nb_trainer *t = least_squares_cg(ds, 6, 2, s);
    cr_assert_eq(s->n, 6);
    for (int i = 0; i < 6; i++) /* iterations 1, 3, 5 start from -∇ */
        cr_assert_eq(s->p[i].beta > 0, i % 2 == 1, "iteration %d: beta %g", i + 1, s->p[i].beta);
    cr_assert_eq(s->p[5].restarts, 2);
    cr_assert_eq(s->p[0].restarts, 0);
    for (int i = 1; i < 6; i++)
        cr_assert_lt(s->p[i].loss, s->p[i - 1].loss);
    nb_trainer_free(t);
    nb_dataset_free(ds);
    free(s);
}

/* After the minimum is reached no lower loss exists along any line: the
 * searches fail, the direction restarts at -∇, a failed steepest-descent
 * search ends the visit, and the parameters stay at the best point. */
Test(cg, failed_searches_restart_then_end_the_visit)
{
    nb_dataset *ds = regression(64, 11);
    double sol[LS_DIM + 1];
    least_squares(ds, sol);
    seen *s = calloc(1, sizeof *s);
    nb_trainer *t = least_squares_cg(ds, 60, 0, s);
    printf("least squares with 60 iterations allowed: %lld taken, %lld failed searches, "
           "%lld restarts, %lld evaluations\n",
           (long long)s->summary.iterations, (long long)s->summary.failed_searches,
           (long long)s->summary.restarts, (long long)s->summary.grad_evals);
    cr_assert_lt(s->summary.iterations, 60, "all 60 iterations found a lower loss");
    cr_assert_eq(s->summary.iterations, s->n);
    cr_assert_geq(s->summary.failed_searches, 1);
    cr_assert_geq(s->summary.restarts, 1);
    cr_assert_geq(s->summary.grad_evals, s->p[s->n - 1].grad_evals);
    cr_assert_lt(ls_error(t, sol), 1e-5);
    cr_assert_float_eq(full_loss(t, ds), s->p[s->n - 1].loss, 1e-9);
    nb_trainer_free(t);
    nb_dataset_free(ds);
    free(s);
}

/* ---------------------------------------------------------------- chunks */

Test(cg, visits_chunks_in_order_and_counts_examples)
{
    nb_dataset *ds = regression(400, 3);
    nb_trainer *t = trainer(linear, ds, (nb_train_opts){.batch = 50, .seed = 5});
    seen *s = calloc(1, sizeof *s);
    nb_error err;
    nb_cg_opts o = {.chunk = 100, .iterations = 2, .epochs = 2, .on_iteration = on_iteration,
                    .ud = s};
    cr_assert_eq(nb_trainer_fit_cg(t, ds, o, &s->summary, &err), NB_OK, "%s",
                 err.message);
    cr_assert_eq(s->n, 16);
    for (int i = 0; i < 16; i++) {
        const nb_cg_progress *p = &s->p[i];
        cr_assert_eq(p->epoch, 1 + i / 8);
        cr_assert_eq(p->chunk, (i / 2) % 4);
        cr_assert_eq(p->chunks, 4);
        cr_assert_eq(p->iteration, 1 + i % 2);
        cr_assert_eq(p->iterations, i + 1);
        cr_assert_eq(p->examples, 100 * p->grad_evals);
        cr_assert(p->seconds >= 0 && (i == 0 || p->seconds >= s->p[i - 1].seconds));
        if (i % 2 == 1) /* within a visit the chunk's loss only falls */
            cr_assert_lt(p->loss, s->p[i - 1].loss);
    }
    /* each visit costs its first gradient plus the searches */
    cr_assert_geq(s->p[15].grad_evals, 8 + 16);
    nb_trainer_free(t);
    nb_dataset_free(ds);
    free(s);
}

/* Runs shuffled chunk CG with a seed; returns the trajectory. */
static seen *shuffled(const nb_dataset *ds, uint64_t seed)
{
    nb_trainer *t = trainer(linear, ds, (nb_train_opts){.batch = 50, .seed = 5});
    seen *s = calloc(1, sizeof *s);
    nb_error err;
    nb_cg_opts o = {.chunk = 150, .iterations = 2, .epochs = 2, .shuffle = true, .seed = seed,
                    .on_iteration = on_iteration, .ud = s};
    cr_assert_eq(nb_trainer_fit_cg(t, ds, o, &s->summary, &err), NB_OK, "%s",
                 err.message);
    nb_trainer_free(t);
    return s;
}

Test(cg, shuffled_chunks_follow_the_seed)
{
    nb_dataset *ds = regression(400, 3);
    seen *a = shuffled(ds, 1), *b = shuffled(ds, 1), *c = shuffled(ds, 2);
    cr_assert_eq(a->n, 12); /* chunks of 150, 150, 100 */
    cr_assert_eq(a->p[0].chunks, 3);
    cr_assert_eq(a->n, b->n);
    bool differ = false;
    for (int i = 0; i < a->n; i++) {
        cr_assert_eq(a->p[i].loss, b->p[i].loss, "iteration %d", i + 1);
        differ |= a->p[i].loss != c->p[i].loss;
    }
    cr_assert(differ, "another seed gave the same chunks");
    /* the last chunk holds 100 examples */
    int64_t per = (a->p[5].examples - a->p[3].examples) / (a->p[5].grad_evals - a->p[3].grad_evals);
    cr_assert_eq(per, 100);
    nb_dataset_free(ds);
    free(a);
    free(b);
    free(c);
}

Test(cg, chunks_lower_the_whole_loss_on_real_images)
{
    nb_dataset *ds = t_fixture("train");
    nb_trainer *t = trainer(mlp, ds, (nb_train_opts){.batch = 100, .seed = 3});
    double before = full_loss(t, ds);
    nb_error err;
    nb_cg_opts o = {.chunk = 100, .iterations = 3, .epochs = 2, .shuffle = true, .seed = 9};
    cr_assert_eq(nb_trainer_fit_cg(t, ds, o, NULL, &err), NB_OK, "%s", err.message);
    double after = full_loss(t, ds);
    printf("chunks of 100, 3 iterations each, 2 epochs: loss %.4f -> %.4f\n", before, after);
    cr_assert_lt(after, 0.6 * before);
    nb_trainer_free(t);
    nb_dataset_free(ds);
}

Test(cg, keeps_a_budget_of_example_gradients)
{
    nb_dataset *ds = regression(400, 3);
    nb_trainer *t = trainer(linear, ds, (nb_train_opts){.batch = 50, .seed = 5});
    seen *s = calloc(1, sizeof *s);
    nb_error err;
    nb_cg_opts o = {.chunk = 100, .iterations = 5, .epochs = 100, .max_examples = 2550,
                    .on_iteration = on_iteration, .ud = s};
    cr_assert_eq(nb_trainer_fit_cg(t, ds, o, &s->summary, &err), NB_OK, "%s", err.message);
    cr_assert_eq(s->summary.examples, 2500); /* a 26th evaluation would pass 2550 */
    cr_assert_eq(s->summary.grad_evals, 25);
    cr_assert_eq(s->summary.iterations, s->n);
    cr_assert(s->summary.epoch >= s->p[s->n - 1].epoch && s->summary.epoch < 100,
              "stopped in epoch %d", s->summary.epoch);
    cr_assert(s->summary.chunk >= 0 && s->summary.chunk < 4);
    nb_trainer_free(t);
    nb_dataset_free(ds);
    free(s);
}

Test(cg, the_callback_can_stop)
{
    nb_dataset *ds = regression(64, 11);
    nb_trainer *t = trainer(linear, ds, (nb_train_opts){.batch = 64, .seed = 5});
    seen *s = calloc(1, sizeof *s);
    s->stop_after = 1;
    nb_error err;
    nb_cg_opts o = {.iterations = 5, .epochs = 3, .on_iteration = on_iteration, .ud = s};
    cr_assert_eq(nb_trainer_fit_cg(t, ds, o, &s->summary, &err), NB_OK, "%s",
                 err.message);
    cr_assert_eq(s->n, 1);
    cr_assert_float_eq(full_loss(t, ds), s->p[0].loss, 1e-9);
    nb_trainer_free(t);
    nb_dataset_free(ds);
    free(s);
}

/* ---------------------------------------------------------------- refusals */

static void refused(nb_trainer *t, const nb_dataset *ds, nb_cg_opts o, nb_status status,
                    const char *text)
{
    nb_error err = {0};
    cr_assert_eq(nb_trainer_fit_cg(t, ds, o, NULL, &err), status, "expected a refusal: %s", text);
    cr_assert_eq(err.status, status, "%s: status %d", err.message, err.status);
    cr_assert(strstr(err.message, text), "message \"%s\" lacks \"%s\"", err.message, text);
}

Test(cg, refusals_name_the_option)
{
    nb_dataset *ds = regression(64, 11);
    nb_trainer *t = trainer(linear, ds, (nb_train_opts){.batch = 64, .seed = 5});
    float before[LS_DIM];
    memcpy(before, nb_param_data(nb_graph_find(nb_trainer_graph(t), "lin/w")), sizeof before);
    refused(NULL, ds, (nb_cg_opts){0}, NB_ERR_ARG, "cg: no trainer");
    refused(t, NULL, (nb_cg_opts){0}, NB_ERR_ARG, "cg: the training set is empty");
    refused(t, ds, (nb_cg_opts){.chunk = -5}, NB_ERR_ARG, "cg: chunk is -5; it must be >= 0");
    refused(t, ds, (nb_cg_opts){.iterations = -1}, NB_ERR_ARG, "iterations is -1");
    refused(t, ds, (nb_cg_opts){.restart = -2}, NB_ERR_ARG, "restart is -2");
    refused(t, ds, (nb_cg_opts){.epochs = -3}, NB_ERR_ARG, "epochs is -3");
    refused(t, ds, (nb_cg_opts){.max_evals = -4}, NB_ERR_ARG, "max_evals is -4");
    refused(t, ds, (nb_cg_opts){.step0 = -0.5}, NB_ERR_ARG, "step0 is -0.5; it must be finite");
    refused(t, ds, (nb_cg_opts){.step0 = NAN}, NB_ERR_ARG, "step0 is nan");
    refused(t, ds, (nb_cg_opts){.c2 = 0.5}, NB_ERR_ARG, "c2 is 0.5; it must lie in [0, 0.5)");
    nb_dataset *wrong = nb_dataset_new(10, NB_SHAPE(3), 1, NULL);
    refused(t, wrong, (nb_cg_opts){0}, NB_ERR_SHAPE,
            "cg: the training set holds examples [3]");
    cr_assert_eq(memcmp(before, nb_param_data(nb_graph_find(nb_trainer_graph(t), "lin/w")),
                        sizeof before), 0, "a refused call moved the parameters");
    nb_dataset_free(wrong);
    nb_trainer_free(t);
    nb_dataset_free(ds);
}

/* ---------------------------------------------------------------- epochs (nb_trainer_fit_cg_epochs) */

#define MAX_EPOCHS 8

/* The epochs nb_trainer_fit_cg_epochs reported through on_epoch. */
typedef struct epochs_seen {
    nb_progress p[MAX_EPOCHS];
    int n;
} epochs_seen;

static void on_cg_epoch(const nb_progress *p, void *ud)
{
    epochs_seen *e = ud;
    cr_assert_lt(e->n, MAX_EPOCHS);
    e->p[e->n++] = *p;
}

/* Three epochs of 4 chunks on the fixture: one line each with the state
 * advanced, Q the training set's loss, the test figures evaluated; a
 * trainer set back to epoch 2 runs epoch 3 alone, from its own order. */
Test(cg_epochs, epochs_advance_the_state_and_report_like_fit)
{
    nb_dataset *train = t_fixture("train"), *test = t_fixture("test");
    epochs_seen e = {0};
    nb_train_opts to = {.batch = 125, .seed = 3, .on_epoch = on_cg_epoch, .ud = &e};
    nb_trainer *t = trainer(mlp, train, to);
    seen *s = calloc(1, sizeof *s);
    nb_cg_opts o = {.chunk = 125, .iterations = 2, .epochs = 3, .shuffle = true, .seed = 9,
                    .on_iteration = on_iteration, .ud = s};
    nb_error err = {0};
    cr_assert_eq(nb_trainer_fit_cg_epochs(t, train, test, o, &err), NB_OK, "%s", err.message);
    cr_assert_eq(e.n, 3);
    cr_assert_eq(s->n, 3 * 4 * 2, "the caller's on_iteration saw every iteration");
    int64_t steps = 0;
    for (int i = 0; i < 3; i++) {
        nb_progress *p = &e.p[i];
        steps += p->steps;
        cr_assert_eq(p->epoch, i + 1);
        cr_assert_eq(p->epochs, 3);
        cr_assert_eq(p->steps, 8, "4 chunks of 2 iterations");
        cr_assert_eq(p->global_step, steps);
        cr_assert(isfinite(p->loss) && p->loss == p->mean_loss);
        cr_assert(p->test_acc >= 0 && p->test_acc <= 1 && isfinite(p->test_loss));
        cr_assert(isnan(p->val_loss) && isnan(p->val_acc), "no validation set");
    }
    double q, acc;
    cr_assert_eq(nb_trainer_evaluate(t, train, &q, &acc), NB_OK);
    cr_assert_float_eq(e.p[2].q, q, 1e-9, "Q is the training set's loss");
    cr_assert_float_eq(nb_trainer_q(t), q, 1e-9);
    cr_assert_eq(nb_trainer_state(t).epoch, 3);
    cr_assert_eq(nb_trainer_state(t).global_step, 24);
    /* finished: nothing more to run */
    cr_assert_eq(nb_trainer_fit_cg_epochs(t, train, test, o, &err), NB_OK, "%s", err.message);
    cr_assert_eq(e.n, 3);
    /* set back to epoch 2: epoch 3 runs again, reported as epoch 3 */
    nb_train_state st = nb_trainer_state(t);
    st.epoch = 2;
    nb_trainer_set_state(t, &st);
    cr_assert_eq(nb_trainer_fit_cg_epochs(t, train, NULL, o, &err), NB_OK, "%s", err.message);
    cr_assert_eq(e.n, 4);
    cr_assert_eq(e.p[3].epoch, 3);
    cr_assert(isnan(e.p[3].test_loss), "no test set this time");
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_dataset_free(test);
    free(s);
}

/* The caller's on_iteration ends the run after the epoch it stopped in;
 * a validation fraction or early stopping is refused. */
Test(cg_epochs, stops_when_asked_and_refuses_what_it_cannot_do)
{
    nb_dataset *train = t_fixture("train");
    epochs_seen e = {0};
    nb_trainer *t = trainer(mlp, train, (nb_train_opts){.batch = 250, .seed = 3,
                                                        .on_epoch = on_cg_epoch, .ud = &e});
    seen *s = calloc(1, sizeof *s);
    s->stop_after = 3;
    nb_cg_opts o = {.chunk = 250, .iterations = 2, .epochs = 4, .on_iteration = on_iteration,
                    .ud = s};
    nb_error err = {0};
    cr_assert_eq(nb_trainer_fit_cg_epochs(t, train, NULL, o, &err), NB_OK, "%s", err.message);
    cr_assert_eq(e.n, 1, "stopped within epoch 1: %d epochs ran", e.n);
    cr_assert_eq(nb_trainer_state(t).epoch, 1);
    nb_trainer_free(t);
    t = trainer(mlp, train, (nb_train_opts){.batch = 250, .validation = 0.2});
    cr_assert_eq(nb_trainer_fit_cg_epochs(t, train, NULL, o, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "a validation fraction does not apply"), "%s", err.message);
    cr_assert_eq(nb_trainer_fit_cg_epochs(NULL, train, NULL, o, &err), NB_ERR_ARG);
    nb_trainer_free(t);
    nb_dataset_free(train);
    free(s);
}
