/*
 * sgd_heuristics.c — the lecture's SGD heuristics compared on Fashion-MNIST,
 * one factor at a time from a baseline (784-128-10 ReLU MLP, softmax cross
 * entropy, SGD lr 0.02 momentum 0.9, batch 64, shuffled, Glorot uniform,
 * constant step size, no weight decay):
 *
 *   initialisation   Glorot uniform (baseline), He normal, plain N(0, 0.01²),
 *                    and the lecture's recipe (nb_init_lecture: each hidden
 *                    neuron fitted by ridge least squares as its own linear
 *                    model to a random ±1 split of the classes, or to one
 *                    class against the rest, on a random subsample of 1000
 *                    examples, with all inputs — 60 conjugate-gradient
 *                    steps, which agree with the closed form to ~3e-4 — or
 *                    a random quarter of them, closed form)
 *   presentation     shuffled (baseline), fixed (the file's order every
 *                    epoch), hardest first (largest current loss first)
 *   step size        constant (baseline), step schedule (×0.3 each epoch),
 *                    cosine to 0, Adam (lr 1e-3), RMSprop (lr 1e-3)
 *   weight decay     off (baseline), on (λ = 5e-4)
 *
 * Prints one Markdown table: final test accuracy, the first step at which
 * the running loss estimate Q = (1-η)Q + ηε (η = 0.01) falls to the target
 * ("—" if it never does), final Q and seconds per row. Exit status 0 when
 * every row trained.
 *
 *     sgd_heuristics [--epochs 3] [--limit N] [--target 0.5] [--hidden 128]
 *                    [--threads 0] [--seed 1] [--data DIR]
 *
 * DIR holds {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz, or the test
 * fixture's fmnist-{train,test}-… files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmdline.h"
#include "fashion_common.h"

typedef struct args {
    int epochs, threads;
    int64_t limit, hidden;
    double target;
    uint64_t seed;
    const char *dir;
} args;

/* One row: what differs from the baseline (zeros mean "as the baseline"). */
typedef struct variant {
    const char *factor, *name;
    nb_init init;                 /* both dense layers' weights */
    float lecture_fraction;       /* > 0: dense1 by nb_init_lecture with this input share, */
    int lecture_steps;            /* … these conjugate-gradient steps (0: closed form) */
    nb_lecture_target lecture_target; /* … and these targets */
    bool no_shuffle, hardest_first;
    nb_optimizer_kind opt;
    float lr;                     /* 0: 0.02 */
    nb_schedule_kind schedule;
    float weight_decay;
} variant;

static const variant variants[] = {
    {.factor = "baseline", .name = "Glorot uniform, shuffled, SGD constant lr 0.02, no decay"},
    {.factor = "init", .name = "He normal", .init = {NB_INIT_HE_NORMAL}},
    {.factor = "init", .name = "plain normal N(0, 0.01²)", .init = {NB_INIT_NORMAL, 0, 0.01f}},
    {.factor = "init", .name = "lecture: ±1 class splits, 1000 examples, all inputs (CG 60)",
     .lecture_fraction = 1, .lecture_steps = 60},
    {.factor = "init", .name = "lecture: ±1 class splits, 1000 examples, 1/4 of inputs",
     .lecture_fraction = 0.25f},
    {.factor = "init", .name = "lecture: class vs rest, 1000 examples, 1/4 of inputs",
     .lecture_fraction = 0.25f, .lecture_target = NB_LECTURE_CLASS_VS_REST},
    {.factor = "order", .name = "fixed (no shuffle)", .no_shuffle = true},
    {.factor = "order", .name = "hardest first", .hardest_first = true},
    {.factor = "step size", .name = "step schedule (×0.3 each epoch)", .schedule = NB_SCHEDULE_STEP},
    {.factor = "step size", .name = "cosine to 0", .schedule = NB_SCHEDULE_COSINE},
    {.factor = "step size", .name = "Adam lr 1e-3", .opt = NB_OPT_ADAM, .lr = 1e-3f},
    {.factor = "step size", .name = "RMSprop lr 1e-3", .opt = NB_OPT_RMSPROP, .lr = 1e-3f},
    {.factor = "weight decay", .name = "on, λ = 5e-4", .weight_decay = 5e-4f},
};
#define N_VARIANTS ((int)(sizeof variants / sizeof variants[0]))

/* ---------------------------------------------------------------- data */

static bool parse(int argc, char **argv, args *a)
{
    const cmdline_opt opts[] = {
        {"--epochs", CMDLINE_INT, &a->epochs},    {"--limit", CMDLINE_I64, &a->limit},
        {"--target", CMDLINE_DOUBLE, &a->target}, {"--hidden", CMDLINE_I64, &a->hidden},
        {"--threads", CMDLINE_INT, &a->threads},  {"--seed", CMDLINE_U64, &a->seed},
        {"--data", CMDLINE_STR, &a->dir},         {0}};
    return cmdline_parse(argc, argv, opts) && a->epochs > 0 && a->hidden > 0 && a->limit >= 0;
}

/* ---------------------------------------------------------------- one row */

typedef struct ctx {
    const variant *v;
    int64_t hidden;
} ctx;

/* 784 → dense1 (hidden, ReLU) → logits (10), weights by the row's init. */
static nb_status build(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    const ctx *c = ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 28, 28));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_dense(g, nb_flatten(g, io->x), (nb_dense_opts){.units = c->hidden,
                          .activation = NB_ACT_RELU, .init = c->v->init, .name = "dense1"});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 10, .init = c->v->init, .name = "logits"});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

/* What the callbacks record. */
typedef struct result {
    double target;
    int64_t hit_step;       /* first step with Q <= target, or -1 */
    double q, test_acc, seconds;
} result;

static void on_step(const nb_progress *p, void *ud)
{
    result *r = ud;
    if (r->hit_step < 0 && p->q <= r->target)
        r->hit_step = p->global_step;
    r->q = p->q;
}

static void on_epoch(const nb_progress *p, void *ud)
{
    result *r = ud;
    r->test_acc = p->test_acc;
    fprintf(stderr, "  epoch %d/%d  Q %.4f  test_acc %.4f\n", p->epoch, p->epochs, p->q,
            p->test_acc);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The baseline's options with the row's one change. */
static nb_train_opts options(const variant *v, const args *a, int64_t n, result *r)
{
    int64_t per_epoch = (n + 63) / 64;
    nb_optimizer_opts opt = nb_optimizer_defaults(v->opt);
    opt.lr = v->lr > 0 ? v->lr : 0.02f;
    opt.momentum = v->opt == NB_OPT_SGD ? 0.9f : 0;
    opt.weight_decay = v->weight_decay;
    nb_train_opts o = {
        .batch = 64, .epochs = a->epochs, .seed = a->seed,
        .no_shuffle = v->no_shuffle, .hardest_first = v->hardest_first,
        .optimizer = opt,
        .schedule = {.kind = v->schedule, .every = per_epoch, .gamma = 0.3f,
                     .total = per_epoch * a->epochs},
        .on_step = on_step, .on_epoch = on_epoch, .ud = r,
    };
    return o;
}

/* Trains one row; false (after printing why) on failure. */
static bool run(const variant *v, const args *a, const nb_dataset *train, const nb_dataset *test,
                result *r)
{
    ctx c = {v, a->hidden};
    *r = (result){.target = a->target, .hit_step = -1};
    nb_train_opts o = options(v, a, train->n, r);
    nb_error err = {0};
    double t0 = now();
    nb_trainer *t = nb_trainer_new(build, &c, train->shape, 1, &o, &err);
    bool ok = t != NULL;
    if (ok && v->lecture_fraction > 0) {
        nb_lecture_init_opts lo = {.subsample = train->n < 1000 ? train->n : 1000,
                                   .input_fraction = v->lecture_fraction,
                                   .target = v->lecture_target, .steps = v->lecture_steps,
                                   .seed = a->seed};
        ok = nb_init_lecture(t, "dense1", train, lo, &err) == NB_OK;
        if (ok)
            fprintf(stderr, "  lecture init: %.2f s\n", now() - t0);
    }
    if (ok && nb_trainer_fit(t, train, test) != NB_OK) {
        snprintf(err.message, sizeof err.message, "%s", nb_trainer_error(t));
        ok = false;
    }
    r->seconds = now() - t0;
    if (!ok)
        fprintf(stderr, "sgd_heuristics: %s: %s\n", v->name, err.message);
    nb_trainer_free(t);
    return ok;
}

/* ---------------------------------------------------------------- table */

static void print_row(const variant *v, const result *r)
{
    char steps[32];
    if (r->hit_step >= 0)
        snprintf(steps, sizeof steps, "%lld", (long long)r->hit_step);
    else
        snprintf(steps, sizeof steps, "—");
    printf("| %s | %s | %.4f | %s | %.4f | %.1f |\n", v->factor, v->name, r->test_acc, steps, r->q,
           r->seconds);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    args a = {.epochs = 3, .hidden = 128, .target = 0.5, .seed = 1,
              .dir = "/usr/share/datasets/fashion-mnist"};
    if (!parse(argc, argv, &a)) {
        fprintf(stderr, "usage: %s [--epochs 3] [--limit N] [--target 0.5] [--hidden 128] "
                        "[--threads 0] [--seed 1] [--data DIR]\n", argv[0]);
        return 2;
    }
    nb_error err = {0};
    nb_dataset *train = fashion_split(a.dir, true, &err);
    nb_dataset *test = train ? fashion_split(a.dir, false, &err) : NULL;
    if (!train || !test) {
        fprintf(stderr, "sgd_heuristics: %s\n", err.message);
        nb_dataset_free(train);
        return 1;
    }
    if (a.limit > 0 && a.limit < train->n) {
        nb_dataset *part = nb_dataset_slice(train, 0, a.limit, &err);
        nb_dataset_free(train);
        train = part;
        if (!train) {
            fprintf(stderr, "sgd_heuristics: %s\n", err.message);
            nb_dataset_free(test);
            return 1;
        }
    }
    nb_set_threads(a.threads);
    printf("Fashion-MNIST, MLP 784-%lld-10 (ReLU), %d epochs on %lld training images, batch 64, "
           "seed %llu, %d threads; test accuracy on %lld images; Q target %.2f\n\n",
           (long long)a.hidden, a.epochs, (long long)train->n, (unsigned long long)a.seed,
           nb_get_threads(), (long long)test->n, a.target);
    printf("| factor | variant | test acc | steps to Q ≤ %.2f | final Q | s |\n", a.target);
    printf("| --- | --- | ---: | ---: | ---: | ---: |\n");
    int failed = 0;
    double t0 = now();
    for (int i = 0; i < N_VARIANTS; i++) {
        result r;
        fprintf(stderr, "%s: %s\n", variants[i].factor, variants[i].name);
        if (run(&variants[i], &a, train, test, &r))
            print_row(&variants[i], &r);
        else
            failed++;
    }
    printf("\n%d rows, %.1f s in all\n", N_VARIANTS, now() - t0);
    nb_dataset_free(train);
    nb_dataset_free(test);
    return failed ? 1 : 0;
}
