/*
 * grow.c — growing a network (the lecture's recipe). A 784-H-10 ReLU MLP on
 * Fashion-MNIST starts with too few hidden neurons. Each stage trains until
 * the running loss estimate Q stabilises (the trainer's q_stop options: Q
 * moved by less than 1 % over 1000 steps) or the stage's epochs run out;
 * then k neurons are added:
 *
 *   1. each new neuron is first trained ALONE on the current residual
 *      r = onehot(y) − softmax(logits) of a sample of training images
 *      (nb_grow_fit: k units act(a·w + b)·v fitted to r by least squares);
 *   2. the model is built again k units wider and the trained weights carried
 *      over by name (nb_grow_dense): the new units get the fitted incoming
 *      weights and ZERO outgoing weights, so the network's function is
 *      unchanged at the moment of growth (checked on the test images:
 *      max |Δ logit| is printed);
 *   3. backprop (plain SGD, so no optimiser state is lost) continues on the
 *      wider network; Q, the step count and the presentation order carry on.
 *
 * Growing stops when a stage ends with Q less than --tol (relatively) below
 * the best stage before it, or at --max-width. (Q averages the loss over
 * the last ~100 steps, so SGD's step-to-step noise does not decide; Q(w),
 * the mean loss over the whole training set at the final weights, is shown
 * too.) A table then shows width, epochs, Q, Q(w), test loss and accuracy
 * per stage, the residual share the new units explained and the growth
 * check; a network trained from scratch at the final width for the same
 * number of epochs is the last row. Exit status 0 when every growth step
 * left the outputs unchanged (max |Δ logit| ≤ 1e-6·max(1, max |logit|): bit
 * for bit, or the last-bit rounding of OpenBLAS blocking a wider matmul
 * differently) and Q fell.
 *
 *     grow [--quick] [--data DIR] [--start 2] [--k 2] [--max-width 64]
 *          [--epochs 5] [--tol 0.01] [--lr 0.05] [--fit-n 2000] [--random-units]
 *          [--threads 0] [--seed 1]
 *
 * DIR holds {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz, or the test
 * fixture's fmnist-{train,test}-… files; --quick takes the fixture (from
 * NABLA_FIXTURES or tests/fixtures) and small settings. --random-units skips
 * step 1 (new incoming weights keep their Glorot initialisation), for
 * comparison. The loop is nb_trainer_fit_grow, the one `nabla train --grow`
 * runs; this program adds the stop rule and the table.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmdline.h"
#include "fashion_common.h"

typedef struct args {
    const char *dir;
    bool quick, random_units;
    int epochs, threads;
    int64_t start, k, max_width, fit_n, batch;
    double tol;
    float lr;
    uint64_t seed;
} args;

/* One stage of growth, as the table shows it. */
typedef struct stage {
    int64_t width;
    int epochs;
    double q, train_loss, test_loss, test_acc, seconds;
    double explained;   /* share of the residual the units added after this stage explain */
    double growth_diff; /* max |Δ logit| on the test images when they were added */
    double logit_scale; /* max |logit| there */
} stage;

#define MAX_STAGES 64

/* ---------------------------------------------------------------- data */

static bool parse(int argc, char **argv, args *a)
{
    const cmdline_opt opts[] = {
        {"--quick", CMDLINE_FLAG, &a->quick},   {"--random-units", CMDLINE_FLAG, &a->random_units},
        {"--data", CMDLINE_STR, &a->dir},       {"--start", CMDLINE_I64, &a->start},
        {"--k", CMDLINE_I64, &a->k},            {"--max-width", CMDLINE_I64, &a->max_width},
        {"--epochs", CMDLINE_INT, &a->epochs},  {"--tol", CMDLINE_DOUBLE, &a->tol},
        {"--lr", CMDLINE_FLOAT, &a->lr},        {"--fit-n", CMDLINE_I64, &a->fit_n},
        {"--threads", CMDLINE_INT, &a->threads}, {"--seed", CMDLINE_U64, &a->seed},
        {0}};
    return cmdline_parse(argc, argv, opts) && a->start >= 1 && a->k >= 1 && a->epochs >= 1 &&
           a->fit_n >= 1;
}

/* ---------------------------------------------------------------- the model */

/* 784-H-10: "hidden" (ReLU) feeding "logits"; H is *ud. */
static nb_status mlp(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    int64_t h = *(const int64_t *)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 28, 28));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *hid = nb_dense(g, nb_flatten(g, io->x),
                            (nb_dense_opts){.units = h, .activation = NB_ACT_RELU, .name = "hidden"});
    io->output = nb_dense(g, hid, (nb_dense_opts){.units = 10, .name = "logits"});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

static void on_epoch(const nb_progress *p, void *ud)
{
    (void)ud;
    printf("    epoch %d  Q %.4f  test_acc %.4f%s\n", p->epoch, p->q, p->test_acc,
           p->stopped ? "  (Q stabilised)" : "");
    fflush(stdout);
}

/* A trainer at *width; q_stop: stop when Q stabilises (the stages), else
 * run every epoch (the from-scratch comparison). */
static nb_trainer *trainer_at(const args *a, int64_t *width, int epochs, bool q_stop)
{
    nb_train_opts o = {
        .batch = a->batch, .epochs = epochs, .seed = a->seed,
        .optimizer = {.kind = NB_OPT_SGD, .lr = a->lr}, /* plain SGD: no slots to lose */
        .q_stop_rtol = q_stop && !a->quick ? 0.01 : 0, .q_stop_window = 1000,
        .on_epoch = on_epoch,
    };
    nb_error err;
    nb_trainer *t = nb_trainer_new(mlp, width, NB_SHAPE(1, 28, 28), 1, &o, &err);
    if (!t)
        fprintf(stderr, "grow: %s\n", err.message);
    return t;
}

/* nb_grow_opts.set_units: the hidden layer of mlp() is *ud units wide. */
static nb_status set_width(void *ud, const char *layer, int64_t units, nb_error *err)
{
    (void)layer;
    (void)err;
    *(int64_t *)ud = units;
    return NB_OK;
}

/* ---------------------------------------------------------------- stages */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The stage's figures once it has trained: epochs, Q, Q(w), test loss
 * and accuracy, seconds since t0. */
static bool measure(nb_trainer *t, const nb_dataset *train, const nb_dataset *test, double t0,
                    stage *s)
{
    if (nb_trainer_evaluate(t, train, &s->train_loss, NULL) != NB_OK ||
        nb_trainer_evaluate(t, test, &s->test_loss, &s->test_acc) != NB_OK) {
        fprintf(stderr, "grow: %s\n", nb_trainer_error(t));
        return false;
    }
    s->epochs = nb_trainer_state(t).epoch;
    s->q = nb_trainer_q(t);
    s->seconds = now() - t0;
    return true;
}

/* Trains the stage and measures it. */
static bool run_stage(nb_trainer *t, const nb_dataset *train, const nb_dataset *test, stage *s)
{
    double t0 = now();
    if (nb_trainer_fit(t, train, test) != NB_OK) {
        fprintf(stderr, "grow: %s\n", nb_trainer_error(t));
        return false;
    }
    return measure(t, train, test, t0, s);
}

static void print_table(const stage *st, int n, const stage *scratch)
{
    printf("\n| stage | width | epochs | Q (running) | Q(w) train loss | test loss | test acc | "
           "residual explained by the next units | max abs change of logits at growth | s |\n"
           "|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++) {
        printf("| %d | %lld | %d | %.4f | %.4f | %.4f | %.4f | ", i + 1, (long long)st[i].width,
               st[i].epochs, st[i].q, st[i].train_loss, st[i].test_loss, st[i].test_acc);
        if (i + 1 < n && !isnan(st[i].explained))
            printf("%.3f | ", st[i].explained);
        else
            printf("— | ");
        if (i > 0)
            printf("%.3g (max abs logit %.1f) | %.1f |\n", st[i].growth_diff, st[i].logit_scale,
                   st[i].seconds);
        else
            printf("— | %.1f |\n", st[i].seconds);
    }
    if (scratch)
        printf("| scratch | %lld | %d | %.4f | %.4f | %.4f | %.4f | — | — | %.1f |\n",
               (long long)scratch->width, scratch->epochs, scratch->q, scratch->train_loss,
               scratch->test_loss, scratch->test_acc, scratch->seconds);
}

/* The growing run as nb_trainer_fit_grow's callbacks see it. */
typedef struct grow_run {
    const args *a;
    const nb_dataset *train, *test;
    stage *st;
    int n;          /* stages measured */
    double best;    /* the lowest Q at the end of a stage so far */
    double t0;      /* when the current stage started */
    bool ok, failed;
} grow_run;

/* After a stage: measures it; growing goes on while Q improves. */
static bool on_stage(nb_trainer *t, const nb_grow_stage *s, void *ud)
{
    grow_run *r = ud;
    stage *cur = &r->st[r->n];
    cur->width = s->units;
    if (!measure(t, r->train, r->test, r->t0, cur)) {
        r->failed = true;
        return false;
    }
    r->n++;
    bool improved = r->n == 1 || cur->q < (1 - r->a->tol) * r->best;
    r->best = r->n == 1 || cur->q < r->best ? cur->q : r->best;
    if (!improved)
        printf("Q improved by less than %.1f%%: growing stops\n", 100 * r->a->tol);
    return improved && r->n < MAX_STAGES;
}

/* After a growth: its figures, and the next stage begins. */
static void on_grow(nb_trainer *t, const nb_grow_stage *s, void *ud)
{
    (void)t;
    grow_run *r = ud;
    r->st[r->n - 1].explained = s->explained; /* NaN for random units: no fit */
    r->st[r->n].growth_diff = s->max_change;
    r->st[r->n].logit_scale = s->max_output;
    printf("  grown to %lld units: residual explained %.3f, max |Δ logit| %.3g "
           "(max |logit| %.1f)\n", (long long)s->grown_to, s->explained, s->max_change,
           s->max_output);
    /* float32 rounding of a differently blocked sgemm, at most */
    r->ok = r->ok && s->max_change <= 1e-6 * fmax(1.0, s->max_output);
    printf("stage %d: %lld hidden units\n", r->n + 1, (long long)s->grown_to);
    r->t0 = now();
}

/* Grows until Q stops improving (nb_trainer_fit_grow, the loop `nabla
 * train --grow` runs); returns the number of stages. */
static int grow_all(const args *a, const nb_dataset *train, const nb_dataset *test, stage *st,
                    bool *ok)
{
    int64_t width = a->start; /* the model's ud: set_width widens it */
    nb_trainer *t = trainer_at(a, &width, a->epochs, true);
    grow_run r = {.a = a, .train = train, .test = test, .st = st, .ok = *ok, .t0 = now()};
    nb_grow_opts go = {.layer = "hidden", .next = "logits", .k = a->k, .max = a->max_width,
                       .activation = NB_ACT_RELU, .fit_n = a->fit_n,
                       .random_units = a->random_units, .restart_epochs = true,
                       .check = test, .set_units = set_width, .on_stage = on_stage,
                       .on_grow = on_grow, .ud = &r};
    nb_error err = {0};
    printf("stage 1: %lld hidden units\n", (long long)width);
    nb_status gst = t ? nb_trainer_fit_grow(&t, train, test, &go, &err) : NB_ERR_ARG;
    if (t && gst != NB_OK)
        fprintf(stderr, "grow: %s\n", err.message);
    *ok = r.ok && gst == NB_OK && !r.failed && r.n >= 2 && st[r.n - 1].q < st[0].q;
    nb_trainer_free(t);
    return r.n;
}

int main(int argc, char **argv)
{
    args a = {.dir = "/usr/share/datasets/fashion-mnist", .start = 2, .k = 2, .max_width = 64,
              .epochs = 5, .tol = 0.01, .fit_n = 2000, .seed = 1, .batch = 64, .lr = 0.05f};
    bool quick = false;
    for (int i = 1; i < argc; i++)
        quick = quick || !strcmp(argv[i], "--quick");
    if (quick) {
        const char *fx = getenv("NABLA_FIXTURES");
        a = (args){.dir = fx ? fx : "tests/fixtures", .start = 2, .k = 2, .max_width = 8,
                   .epochs = 4, .tol = 0.0, .fit_n = 500, .seed = 1, .batch = 50, .threads = 2,
                   .lr = 0.05f};
    }
    if (!parse(argc, argv, &a)) {
        fprintf(stderr, "usage: %s [--quick] [--data DIR] [--start H] [--k K] [--max-width H] "
                        "[--epochs E] [--tol T] [--lr LR] [--fit-n N] [--random-units] [--threads N] "
                        "[--seed N]\n", argv[0]);
        return 2;
    }
    nb_set_threads(a.threads);
    nb_error err = {0};
    nb_dataset *train = fashion_split(a.dir, true, &err), *test = train ? fashion_split(a.dir, false, &err) : NULL;
    /* The test set is where growth checks the outputs: floats, read whole;
     * the training set stays bytes for the trainer. */
    if (!test || nb_dataset_to_float(test, &err) != NB_OK) {
        fprintf(stderr, "grow: %s\n", err.message);
        return 1;
    }
    printf("growing 784-H-10 from H = %lld by k = %lld (%s new units) on %lld training images\n",
           (long long)a.start, (long long)a.k, a.random_units ? "Glorot-initialised" : "residual-fitted",
           (long long)train->n);
    static stage st[MAX_STAGES];
    bool ok = true;
    double t0 = now();
    int n = grow_all(&a, train, test, st, &ok);
    double grow_s = now() - t0;
    stage scratch = {.width = n ? st[n - 1].width : a.start};
    int total = 0;
    for (int i = 0; i < n; i++)
        total += st[i].epochs;
    printf("from scratch: %lld hidden units, %d epochs\n", (long long)scratch.width, total);
    nb_trainer *ts = trainer_at(&a, &scratch.width, total, false);
    bool scratch_ok = ts && run_stage(ts, train, test, &scratch);
    nb_trainer_free(ts);
    print_table(st, n, scratch_ok ? &scratch : NULL);
    printf("grow stages=%d final_width=%lld test_acc=%.4f scratch_test_acc=%.4f growth_ok=%s "
           "seconds=%.1f\n", n, (long long)(n ? st[n - 1].width : 0), n ? st[n - 1].test_acc : 0.0,
           scratch_ok ? scratch.test_acc : 0.0, ok ? "yes" : "no", grow_s);
    nb_dataset_free(train);
    nb_dataset_free(test);
    return ok ? 0 : 1;
}
