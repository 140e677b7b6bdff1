/*
 * cg_compare.c — convergence acceleration, the lecture's chapter 7:
 * nonlinear conjugate gradients over chunks of the training set
 * (nb_trainer_fit_cg) against minibatch SGD with momentum and Adam, on the
 * Fashion-MNIST MLP 784-H-10 (ReLU, softmax cross-entropy), all from the
 * same initial weights. Two more rows isolate the ideas: steepest descent
 * with the same chunks and line search (what the conjugate directions
 * add), and CG on the whole set as one chunk (what the chunks add).
 *
 * The unit of work is the example gradient: the loss and gradient of one
 * example. A minibatch step of B examples costs B; one CG evaluation of a
 * chunk's loss and gradient costs `chunk` (every line-search trial is one);
 * 60000 of them (the training-set size) are one epoch's worth. Every method
 * gets the same budget of example gradients. At checkpoints (every --every
 * epochs' worth) the whole training set's mean loss is evaluated; that time
 * is not counted. Two tables: loss against example gradients, and loss
 * against seconds; then the final test accuracy per method.
 *
 *     cg_compare [--epochs 5] [--hidden 256] [--chunk 1000] [--iterations 10]
 *                [--c2 0.1] [--cg-batch 500] [--every 0.25] [--threads 1]
 *                [--seed 1] [--limit N] [--data DIR] [--no-full]
 *
 * --no-full leaves out CG on the whole set as one chunk (batch CG), which
 * the budget allows only a few iterations.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmdline.h"
#include "fashion_common.h"

#define MAX_CHECKS 512
#define MAX_METHODS 5

typedef struct config {
    int epochs, iterations, threads;
    int64_t hidden, chunk, cg_batch;
    double every, c2;
    uint64_t seed;
    bool no_full;
    fashion_args data;
} config;

/* One checkpoint: work done, time spent (evaluations excluded), loss. */
typedef struct check {
    int64_t examples;
    double seconds, loss;
} check;

/* A method's run: its checkpoints and final numbers. */
typedef struct method {
    const char *name, *detail;
    check c[MAX_CHECKS];
    int n;
    double test_acc, test_loss, seconds;
    nb_cg_progress last; /* CG only: the totals */
} method;

/* What the callbacks need to take checkpoints. */
typedef struct watch {
    nb_trainer *t;
    const nb_dataset *train;
    method *m;
    int64_t next, every; /* the next checkpoint, and the spacing */
    double t0, paused;
} watch;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------- model */

static nb_status build(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    const config *cfg = ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 28, 28));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_dense(g, nb_flatten(g, io->x), (nb_dense_opts){.units = cfg->hidden,
                                                                   .activation = NB_ACT_RELU});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 10, .name = "logits"});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

/* ---------------------------------------------------------------- checkpoints */

/* Records the whole training set's loss at `examples`, the evaluation's
 * time set aside. */
static void checkpoint(watch *w, int64_t examples)
{
    double t = now(), loss = NAN;
    if (nb_trainer_evaluate(w->t, w->train, &loss, NULL) != NB_OK)
        fprintf(stderr, "cg_compare: %s\n", nb_trainer_error(w->t));
    if (w->m->n < MAX_CHECKS)
        w->m->c[w->m->n++] = (check){examples, t - w->t0 - w->paused, loss};
    w->paused += now() - t;
}

/* Minibatch methods: work so far is every example of every step. */
static void on_step(const nb_progress *p, void *ud)
{
    watch *w = ud;
    int64_t done = (int64_t)(p->epoch - 1) * w->train->n + p->examples;
    if (done >= w->next) {
        checkpoint(w, done);
        while (w->next <= done)
            w->next += w->every;
    }
}

static bool on_iteration(const nb_cg_progress *p, void *ud)
{
    watch *w = ud;
    if (p->examples >= w->next) {
        checkpoint(w, p->examples);
        while (w->next <= p->examples)
            w->next += w->every;
    }
    return true;
}

/* ---------------------------------------------------------------- runs */

static nb_trainer *new_trainer(const config *cfg, const nb_dataset *train, nb_train_opts o)
{
    nb_error err = {0};
    o.seed = cfg->seed;
    nb_trainer *t = nb_trainer_new(build, (void *)cfg, train->shape, 1, &o, &err);
    if (!t)
        fprintf(stderr, "cg_compare: %s\n", err.message);
    return t;
}

/* The test set's accuracy and the run's totals into m. */
static bool finish(nb_trainer *t, method *m, const nb_dataset *test)
{
    m->seconds = m->n ? m->c[m->n - 1].seconds : 0;
    if (nb_trainer_evaluate(t, test, &m->test_loss, &m->test_acc) != NB_OK) {
        fprintf(stderr, "cg_compare: %s\n", nb_trainer_error(t));
        return false;
    }
    printf("  %-10s done: %.2f s, test accuracy %.4f\n", m->name, m->seconds, m->test_acc);
    fflush(stdout);
    return true;
}

/* SGD with momentum or Adam, minibatch 64, for the budget's epochs. */
static bool run_minibatch(const config *cfg, const nb_dataset *train, const nb_dataset *test,
                          method *m, nb_optimizer_opts opt)
{
    watch w = {.train = train, .m = m, .every = (int64_t)(cfg->every * (double)train->n)};
    nb_train_opts o = {.batch = 64, .epochs = cfg->epochs, .optimizer = opt, .on_step = on_step,
                       .ud = &w};
    nb_trainer *t = new_trainer(cfg, train, o);
    if (!t)
        return false;
    w.t = t;
    w.t0 = now();
    checkpoint(&w, 0);
    w.next = w.every;
    bool ok = nb_trainer_fit(t, train, NULL) == NB_OK;
    if (!ok)
        fprintf(stderr, "cg_compare: %s\n", nb_trainer_error(t));
    if (ok && m->c[m->n - 1].examples < (int64_t)cfg->epochs * train->n)
        checkpoint(&w, (int64_t)cfg->epochs * train->n);
    ok = ok && finish(t, m, test);
    nb_trainer_free(t);
    return ok;
}

/* Conjugate gradients over chunks until the budget is spent; restart 1
 * makes every direction -∇: steepest descent with the same line search. */
static bool run_cg(const config *cfg, const nb_dataset *train, const nb_dataset *test, method *m,
                   int64_t chunk, int restart)
{
    watch w = {.train = train, .m = m, .every = (int64_t)(cfg->every * (double)train->n)};
    nb_trainer *t = new_trainer(cfg, train, (nb_train_opts){.batch = cfg->cg_batch});
    if (!t)
        return false;
    w.t = t;
    w.t0 = now();
    checkpoint(&w, 0);
    w.next = w.every;
    nb_error err = {0};
    nb_cg_opts o = {.chunk = chunk, .iterations = chunk >= train->n ? 1000000 : cfg->iterations,
                    .restart = restart,
                    .epochs = 1000000, .max_examples = (int64_t)cfg->epochs * train->n,
                    .c2 = cfg->c2, .shuffle = true, .seed = cfg->seed,
                    .on_iteration = on_iteration, .ud = &w};
    bool ok = nb_trainer_fit_cg(t, train, o, &m->last, &err) == NB_OK;
    if (!ok)
        fprintf(stderr, "cg_compare: %s\n", err.message);
    if (ok && m->c[m->n - 1].examples < m->last.examples) /* work spent after the last step */
        checkpoint(&w, m->last.examples);
    ok = ok && finish(t, m, test);
    nb_trainer_free(t);
    return ok;
}

/* ---------------------------------------------------------------- tables */

/* The last checkpoint of m at or before `seconds` (NULL if none). */
static const check *at_time(const method *m, double seconds)
{
    const check *c = NULL;
    for (int i = 0; i < m->n && m->c[i].seconds <= seconds; i++)
        c = &m->c[i];
    return c;
}

/* The first checkpoint of m at or after `examples` (NULL if none). */
static const check *at_work(const method *m, int64_t examples)
{
    for (int i = 0; i < m->n; i++)
        if (m->c[i].examples >= examples)
            return &m->c[i];
    return NULL;
}

static void table_by_work(const method *ms, int k, const config *cfg, int64_t n)
{
    printf("\ntraining loss (mean over the %lld training examples) against example gradients\n"
           "(epochs = example gradients / %lld; per method: loss, seconds; a CG checkpoint is\n"
           "taken at the first iteration that ends past the mark: its own work is shown)\n\n",
           (long long)n, (long long)n);
    printf("%8s", "epochs");
    for (int j = 0; j < k; j++)
        printf(" | %-22s", ms[j].name);
    printf("\n");
    int steps = (int)lround(cfg->epochs / cfg->every);
    for (int i = 0; i <= steps; i++) {
        int64_t mark = (int64_t)llround(i * cfg->every * (double)n);
        printf("%8.2f", (double)mark / (double)n);
        for (int j = 0; j < k; j++) {
            const check *c = at_work(&ms[j], mark);
            if (!c)
                printf(" | %-22s", "-");
            else if (c->examples == mark)
                printf(" | %7.4f %7.2fs       ", c->loss, c->seconds);
            else
                printf(" | %7.4f %7.2fs @%4.2f ", c->loss, c->seconds,
                       (double)c->examples / (double)n);
        }
        printf("\n");
    }
}

/* Eight rows, evenly spaced up to the longest run. */
static void table_by_time(const method *ms, int k)
{
    double longest = 0;
    for (int j = 0; j < k; j++)
        longest = fmax(longest, ms[j].seconds);
    printf("\ntraining loss against seconds (the last checkpoint reached by then)\n\n%8s",
           "seconds");
    for (int j = 0; j < k; j++)
        printf(" | %-10s", ms[j].name);
    printf("\n");
    for (int i = 1; i <= 8; i++) {
        double mark = longest * i / 8;
        printf("%8.2f", mark);
        for (int j = 0; j < k; j++) {
            const check *c = at_time(&ms[j], mark);
            if (c)
                printf(" | %10.4f", c->loss);
            else
                printf(" | %10s", "-");
        }
        printf("\n");
    }
}

static void table_final(const method *ms, int k, int64_t n)
{
    printf("\nfinal (same budget of example gradients each)\n\n");
    printf("%-10s | %10s | %8s | %9s | %9s | %s\n", "method", "train loss", "seconds",
           "test loss", "test acc", "");
    for (int j = 0; j < k; j++) {
        const method *m = &ms[j];
        char extra[200] = "";
        if (m->last.iterations)
            snprintf(extra, sizeof extra,
                     "%lld iterations, %lld evaluations (%.2f per iteration), %lld restarts, "
                     "%lld failed searches, %.2f epochs of work",
                     (long long)m->last.iterations, (long long)m->last.grad_evals,
                     (double)m->last.grad_evals / (double)m->last.iterations,
                     (long long)m->last.restarts, (long long)m->last.failed_searches,
                     (double)m->last.examples / (double)n);
        printf("%-10s | %10.4f | %8.2f | %9.4f | %9.4f | %s\n", m->name, m->c[m->n - 1].loss,
               m->seconds, m->test_loss, m->test_acc, extra);
    }
}

/* ---------------------------------------------------------------- main */

static bool parse(int argc, char **argv, config *c)
{
    const cmdline_opt opts[] = {
        {"--no-full", CMDLINE_FLAG, &c->no_full},     {"--epochs", CMDLINE_INT, &c->epochs},
        {"--hidden", CMDLINE_I64, &c->hidden},        {"--chunk", CMDLINE_I64, &c->chunk},
        {"--iterations", CMDLINE_INT, &c->iterations}, {"--cg-batch", CMDLINE_I64, &c->cg_batch},
        {"--c2", CMDLINE_DOUBLE, &c->c2},             {"--every", CMDLINE_DOUBLE, &c->every},
        {"--threads", CMDLINE_INT, &c->threads},      {"--seed", CMDLINE_U64, &c->seed},
        {"--limit", CMDLINE_I64, &c->data.limit},     {"--data", CMDLINE_STR, &c->data.dir},
        {0}};
    return cmdline_parse(argc, argv, opts) && c->epochs > 0 && c->hidden > 0 && c->chunk > 0 &&
           c->iterations > 0 && c->cg_batch > 0 && c->every > 0 && c->c2 >= 0 && c->c2 < 0.5;
}

int main(int argc, char **argv)
{
    config cfg = {.epochs = 5, .hidden = 256, .chunk = 1000, .iterations = 10, .cg_batch = 500,
                  .every = 0.25, .threads = 1, .seed = 1,
                  .data = {.dir = "/usr/share/datasets/fashion-mnist"}};
    if (!parse(argc, argv, &cfg)) {
        fprintf(stderr, "usage: %s [--epochs 5] [--hidden 256] [--chunk 1000] [--iterations 10] "
                        "[--c2 0.1] [--cg-batch 500] [--every 0.25] [--threads 1] [--seed 1] "
                        "[--limit N] [--data DIR] [--no-full]\n", argv[0]);
        return 2;
    }
    nb_dataset *train, *test;
    if (!fashion_load(&cfg.data, &train, &test))
        return 1;
    nb_set_threads(cfg.threads);
    int64_t n = train->n, chunk = cfg.chunk < n ? cfg.chunk : n;
    char cg_detail[256], full_detail[256];
    snprintf(cg_detail, sizeof cg_detail,
             "PR+, line search c2 %g; chunks of %lld drawn shuffled, %d iterations per chunk "
             "visit; gradients computed %lld at a time",
             cfg.c2 > 0 ? cfg.c2 : 0.1, (long long)chunk, cfg.iterations, (long long)cfg.cg_batch);
    snprintf(full_detail, sizeof full_detail,
             "the same on the whole training set as one chunk (batch CG), restarted every n");
    method *ms = calloc(MAX_METHODS, sizeof *ms);
    ms[0] = (method){.name = "sgd", .detail = "momentum 0.9, lr 0.02, minibatch 64"};
    ms[1] = (method){.name = "adam", .detail = "lr 0.001, minibatch 64"};
    ms[2] = (method){.name = "cg-chunks", .detail = cg_detail};
    ms[3] = (method){.name = "sd-chunks",
                     .detail = "steepest descent: the same chunks and line search, every "
                               "direction -gradient (restart 1)"};
    ms[4] = (method){.name = "cg-whole", .detail = full_detail};
    int k = cfg.no_full || chunk == n ? 4 : 5;
    printf("cg_compare: MLP 784-%lld-10 (ReLU, softmax cross-entropy) on Fashion-MNIST, "
           "%lld training / %lld test images, threads %d, seed %llu\n",
           (long long)cfg.hidden, (long long)n, (long long)test->n, nb_get_threads(),
           (unsigned long long)cfg.seed);
    printf("unit of work: the example gradient (the loss and gradient of one example); "
           "budget %d epochs = %lld each\n", cfg.epochs, (long long)cfg.epochs * n);
    for (int j = 0; j < k; j++)
        printf("  %-10s %s\n", ms[j].name, ms[j].detail);
    fflush(stdout);
    nb_optimizer_opts sgd = {.kind = NB_OPT_SGD, .lr = 0.02f, .momentum = 0.9f};
    nb_optimizer_opts adam = nb_optimizer_defaults(NB_OPT_ADAM); /* lr 0.001 */
    bool ok = run_minibatch(&cfg, train, test, &ms[0], sgd) &&
              run_minibatch(&cfg, train, test, &ms[1], adam) &&
              run_cg(&cfg, train, test, &ms[2], chunk, 0) &&
              run_cg(&cfg, train, test, &ms[3], chunk, 1) &&
              (k < 5 || run_cg(&cfg, train, test, &ms[4], n, 0));
    if (ok) {
        table_by_work(ms, k, &cfg, n);
        table_by_time(ms, k);
        table_final(ms, k, n);
    }
    free(ms);
    nb_dataset_free(train);
    nb_dataset_free(test);
    return ok ? 0 : 1;
}
