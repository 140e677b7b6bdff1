/*
 * activations.c — the choice of activation, compared: the same network
 * (784-H-…-H-10: --depth hidden layers, default 2, of H = --hidden units,
 * default 128) with sigmoid, tanh, relu and leaky relu (α = 0.01) in its
 * hidden layers, everything else equal: Glorot
 * uniform initialisation from the same seed, SGD lr 0.02 momentum 0.9,
 * batch 64, the same shuffled order, --epochs passes over the first --limit
 * training images of Fashion-MNIST, evaluated on the test set after each.
 *
 * Prints the running training loss Q as it goes and one Markdown table: test
 * accuracy after each epoch, the final test loss and Q, seconds per epoch.
 * With --plot PATH it draws the curves into a PNG: Q against epochs (left)
 * and test accuracy against epochs (right), one line per activation.
 *
 * Exits 0 when every network trained: Q fell below its value after the
 * first tenth of the first epoch and every test figure is finite (meson runs
 * it on the 500/200-image fixture for 2 epochs, with the plot).
 *
 *     activations [--epochs 5] [--limit 10000] [--hidden 128] [--depth 2] [--threads 0]
 *                 [--seed 1] [--data DIR] [--plot PATH]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "fashion_common.h"
#include "plot.h"

#define MAX_EPOCHS 100
#define N_ACTS 4

typedef struct args {
    int epochs, threads, depth;
    int64_t limit, hidden;
    uint64_t seed;
    const char *dir, *plot;
} args;

static const struct {
    const char *name;
    nb_activation act;
} acts[N_ACTS] = {
    {"sigmoid", NB_ACT_SIGMOID}, {"tanh", NB_ACT_TANH}, {"relu", NB_ACT_RELU},
    {"leaky relu", NB_ACT_LEAKY_RELU},
};

/* One network's run: its curves and figures. */
typedef struct run {
    const args *a;
    const char *name;
    nb_activation act;
    int64_t steps_per_epoch;
    double *q_x, *q_y; /* Q after each step, x in epochs */
    int64_t n_q;
    double test_acc[MAX_EPOCHS + 1], test_loss[MAX_EPOCHS + 1], epoch_x[MAX_EPOCHS + 1];
    double q_first, q_final, seconds;
    int epochs_done;
} run;

static nb_status build(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    const run *r = ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 28, 28));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_flatten(g, io->x);
    for (int layer = 0; layer < r->a->depth; layer++)
        h = nb_dense(g, h, (nb_dense_opts){.units = r->a->hidden, .activation = r->act});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 10, .name = "logits"});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

static void on_step(const nb_progress *p, void *ud)
{
    run *r = ud;
    r->q_x[r->n_q] = (double)(p->global_step) / (double)r->steps_per_epoch;
    r->q_y[r->n_q++] = p->q;
    if (p->global_step == (r->steps_per_epoch + 9) / 10)
        r->q_first = p->q;
}

static void on_epoch(const nb_progress *p, void *ud)
{
    run *r = ud;
    r->epochs_done = p->epoch;
    r->epoch_x[p->epoch] = p->epoch;
    r->test_acc[p->epoch] = p->test_acc;
    r->test_loss[p->epoch] = p->test_loss;
    r->q_final = p->q;
    r->seconds += p->seconds;
    printf("%-10s epoch %d/%d  Q %.4f  train_acc %.4f  test_loss %.4f  test_acc %.4f  %.1f s\n",
           r->name, p->epoch, p->epochs, p->q, p->train_acc, p->test_loss, p->test_acc, p->seconds);
    fflush(stdout);
}

/* Trains one network; false after printing why. */
static bool train_one(const args *a, const nb_dataset *train, const nb_dataset *test, run *r)
{
    nb_train_opts o = {.batch = 64, .epochs = a->epochs, .seed = a->seed,
                       .optimizer = {.kind = NB_OPT_SGD, .lr = 0.02f, .momentum = 0.9f},
                       .on_step = on_step, .on_epoch = on_epoch, .ud = r};
    r->steps_per_epoch = (train->n + o.batch - 1) / o.batch;
    r->q_x = malloc((size_t)(r->steps_per_epoch * a->epochs) * sizeof *r->q_x);
    r->q_y = malloc((size_t)(r->steps_per_epoch * a->epochs) * sizeof *r->q_y);
    r->q_first = NAN;
    nb_error err = {0};
    nb_trainer *t = r->q_x && r->q_y ? nb_trainer_new(build, r, train->shape, 1, &o, &err) : NULL;
    bool ok = t && nb_trainer_fit(t, train, test) == NB_OK;
    if (!ok)
        fprintf(stderr, "activations: %s\n", t ? nb_trainer_error(t) : err.message);
    nb_trainer_free(t);
    return ok;
}

static bool parse(int argc, char **argv, args *a)
{
    const cmdline_opt opts[] = {
        {"--epochs", CMDLINE_INT, &a->epochs},  {"--threads", CMDLINE_INT, &a->threads},
        {"--seed", CMDLINE_U64, &a->seed},      {"--limit", CMDLINE_I64, &a->limit},
        {"--hidden", CMDLINE_I64, &a->hidden},  {"--depth", CMDLINE_INT, &a->depth},
        {"--data", CMDLINE_STR, &a->dir},       {"--plot", CMDLINE_STR, &a->plot},
        {0}};
    return cmdline_parse(argc, argv, opts) && a->epochs > 0 && a->epochs <= MAX_EPOCHS &&
           a->hidden > 0 && a->depth > 0;
}

/* The table; false if a network did not train. */
static bool report(const args *a, const run *r)
{
    printf("\n| activation |");
    for (int e = 1; e <= a->epochs; e++)
        printf(" test acc ep %d |", e);
    printf(" test loss | Q after 1/10 epoch | final Q | s/epoch |\n|---|");
    for (int e = 0; e < a->epochs + 4; e++)
        printf("---|");
    printf("\n");
    bool ok = true;
    for (int i = 0; i < N_ACTS; i++) {
        printf("| %s |", acts[i].name);
        for (int e = 1; e <= a->epochs; e++)
            printf(" %.4f |", r[i].test_acc[e]);
        printf(" %.4f | %.4f | %.4f | %.2f |\n", r[i].test_loss[a->epochs], r[i].q_first,
               r[i].q_final, r[i].seconds / a->epochs);
        bool trained = r[i].epochs_done == a->epochs && r[i].q_final < r[i].q_first &&
                       isfinite(r[i].test_loss[a->epochs]) && isfinite(r[i].test_acc[a->epochs]);
        if (!trained)
            fprintf(stderr, "activations: %s did not train\n", acts[i].name);
        ok &= trained;
    }
    return ok;
}

/* Q and test accuracy against epochs, one line per activation. */
static bool draw(const args *a, const run *r)
{
    plot_series q[N_ACTS], acc[N_ACTS];
    double q_max = 0, acc_min = 1;
    for (int i = 0; i < N_ACTS; i++) {
        q[i] = (plot_series){acts[i].name, r[i].q_x, r[i].q_y, (int)r[i].n_q, i, false};
        acc[i] = (plot_series){acts[i].name, r[i].epoch_x + 1, r[i].test_acc + 1, a->epochs, i, false};
        for (int64_t k = 0; k < r[i].n_q; k++)
            q_max = r[i].q_y[k] > q_max ? r[i].q_y[k] : q_max;
        for (int e = 1; e <= a->epochs; e++)
            acc_min = r[i].test_acc[e] < acc_min ? r[i].test_acc[e] : acc_min;
    }
    acc_min = floor(acc_min * 10) / 10;
    plot_panel panels[2] = {
        {"running training loss Q", "epochs", 0, a->epochs, 0, ceil(q_max * 2) / 2, q, N_ACTS},
        {"test accuracy", "epochs", 0, a->epochs, acc_min < 0.5 ? acc_min : 0.5, 1, acc, N_ACTS},
    };
    nb_error err = {0};
    if (plot_write(a->plot, panels, 2, &err) != NB_OK) {
        fprintf(stderr, "activations: %s\n", err.message);
        return false;
    }
    printf("wrote %s\n", a->plot);
    return true;
}

int main(int argc, char **argv)
{
    args a = {.epochs = 5, .limit = 10000, .hidden = 128, .depth = 2, .seed = 1,
              .dir = "/usr/share/datasets/fashion-mnist"};
    if (!parse(argc, argv, &a)) {
        fprintf(stderr, "usage: %s [--epochs 1..%d] [--limit N] [--hidden N] [--depth N] [--threads N] "
                "[--seed N] [--data DIR] [--plot PATH]\n", argv[0], MAX_EPOCHS);
        return 2;
    }
    fashion_args fa = {.dir = a.dir, .limit = a.limit};
    nb_dataset *train, *test;
    if (!fashion_load(&fa, &train, &test))
        return 1;
    nb_set_threads(a.threads);
    printf("activations: 784-%lld(x%d)-10, train %lld, test %lld images, %d epochs, seed %llu, "
           "%d thread(s)\n", (long long)a.hidden, a.depth, (long long)train->n,
           (long long)test->n, a.epochs, (unsigned long long)a.seed, nb_get_threads());
    run r[N_ACTS] = {0};
    bool ok = true;
    for (int i = 0; i < N_ACTS && ok; i++) {
        r[i] = (run){.a = &a, .name = acts[i].name, .act = acts[i].act};
        ok = train_one(&a, train, test, &r[i]);
    }
    ok = ok && report(&a, r);
    if (ok && a.plot)
        ok = draw(&a, r);
    for (int i = 0; i < N_ACTS; i++)
        free(r[i].q_x), free(r[i].q_y);
    nb_dataset_free(train);
    nb_dataset_free(test);
    return ok ? 0 : 1;
}
