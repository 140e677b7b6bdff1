/*
 * overfitting.c — a network that learns its small training set by heart,
 * and three ways of keeping it honest.
 *
 * A 784-H-H-10 relu MLP (H = --hidden, default 256: about 270 000
 * parameters) is trained on only --train images of Fashion-MNIST (default
 * 1 000), with SGD lr 0.01 momentum 0.9, batch 32. The next --val images of
 * the training file (default 5 000) are held out as a validation set
 * (nb_train_opts.validation_data): never trained on, evaluated after every
 * epoch, and the training set evaluated beside it (both in inference mode,
 * so dropout is off). Four settings, each from the same initial weights and
 * presentation order:
 *
 *   plain           no regularisation, --epochs epochs (default 50);
 *   weight decay    λw added to the gradient (λ = --decay, default 5e-3);
 *   dropout         each hidden unit zeroed with probability --dropout
 *                   (default 0.5) while training, the rest scaled by 2;
 *   early stopping  plain, but stopped once the validation loss has not
 *                   improved for --patience epochs (default 5), and the
 *                   weights of the best epoch restored (the trainer's
 *                   nb_train_opts.patience).
 *
 * Prints each epoch's train and validation loss and accuracy, then one
 * Markdown table: per setting, the epochs trained, the best epoch (least
 * validation loss), the final train and validation loss and accuracy, the
 * gap between them and the accuracy on the 10 000 test images. With --plot
 * PATH, the curves as a PNG: loss (left) and accuracy (right) against
 * epochs, training solid and validation dashed, one colour per setting,
 * and early stopping as a line at the epoch whose weights it kept.
 *
 * It checks the claim and exits 1 if it fails: with no regularisation the
 * curves part (at the end the validation loss exceeds the training loss by
 * more than it does at the best epoch), each of the three remedies ends with
 * a smaller loss gap than plain training, and the restored weights
 * reproduce the best epoch's validation loss. meson runs it on the
 * 500/200-image fixture (--train 200 --val 300).
 *
 *     overfitting [--train 1000] [--val 5000] [--epochs 50] [--hidden 256]
 *                 [--decay 5e-3] [--dropout 0.5] [--patience 5] [--threads 0]
 *                 [--seed 1] [--data DIR] [--plot PATH]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "fashion_common.h"
#include "plot.h"

#define MAX_EPOCHS 500
#define N_SETTINGS 4

typedef struct args {
    int epochs, threads, patience;
    int64_t train, val, hidden;
    float decay, dropout;
    uint64_t seed;
    const char *dir, *plot;
} args;

/* One setting: what it changes, and what its run gave. */
typedef struct setting {
    const char *name;
    float weight_decay, dropout;
    int patience;                 /* > 0: early stopping */
    const args *a;
    /* per epoch e = 1..epochs_done; index 0 is before training */
    double train_loss[MAX_EPOCHS + 1], train_acc[MAX_EPOCHS + 1];
    double val_loss[MAX_EPOCHS + 1], val_acc[MAX_EPOCHS + 1], epoch_x[MAX_EPOCHS + 1];
    int epochs_done, best_epoch;
    double final_train_loss, final_train_acc, final_val_loss, final_val_acc, test_acc;
} setting;

static nb_status build(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    const setting *s = ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 28, 28));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_flatten(g, io->x);
    for (int layer = 0; layer < 2; layer++) {
        h = nb_dense(g, h, (nb_dense_opts){.units = s->a->hidden, .activation = NB_ACT_RELU});
        if (s->dropout > 0)
            h = nb_dropout(g, h, s->dropout);
    }
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 10, .name = "logits"});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

/* ---------------------------------------------------------------- one setting */

/* The datasets every setting sees. */
typedef struct data {
    const nb_dataset *train, *val, *test;
} data;

/* What the epoch callback needs: the setting it fills and the trainer, to
 * evaluate the training set as the validation set is (inference mode). */
typedef struct watch {
    setting *s;
    nb_trainer *t;
    const nb_dataset *train;
    nb_status status;
} watch;

static void on_epoch(const nb_progress *p, void *ud)
{
    watch *w = ud;
    setting *s = w->s;
    int e = p->epoch;
    if (w->status != NB_OK ||
        (w->status = nb_trainer_evaluate(w->t, w->train, &s->train_loss[e], &s->train_acc[e])) !=
            NB_OK)
        return;
    s->val_loss[e] = p->val_loss;
    s->val_acc[e] = p->val_acc;
    s->epoch_x[e] = e;
    s->epochs_done = e;
    s->best_epoch = p->best_epoch;
    printf("%-14s epoch %3d  train loss %.4f acc %.4f   val loss %.4f acc %.4f%s\n", s->name, e,
           s->train_loss[e], s->train_acc[e], s->val_loss[e], s->val_acc[e],
           p->early_stopped ? "   stopped: best epoch restored" : "");
    fflush(stdout);
}

/* Trains one setting: the trainer evaluates the validation set after each
 * epoch and, with patience, stops early and restores the best epoch's
 * weights (nb_train_opts.validation_data, .patience). The final figures are
 * those of the weights the setting ends with. */
static bool train_setting(const args *a, const data *d, setting *s)
{
    watch w = {.s = s, .train = d->train};
    nb_train_opts o = {.batch = 32, .epochs = a->epochs, .seed = a->seed,
                       .optimizer = {.kind = NB_OPT_SGD, .lr = 0.01f, .momentum = 0.9f,
                                     .weight_decay = s->weight_decay},
                       .validation_data = d->val, .patience = s->patience,
                       .on_epoch = on_epoch, .ud = &w};
    nb_error err = {0};
    nb_trainer *t = w.t = nb_trainer_new(build, s, d->train->shape, 1, &o, &err);
    nb_status st = t ? NB_OK : NB_ERR_ARG;
    /* Epoch 0: the initial weights. */
    if (st == NB_OK && (st = nb_trainer_evaluate(t, d->train, &s->train_loss[0],
                                                 &s->train_acc[0])) == NB_OK)
        st = nb_trainer_evaluate(t, d->val, &s->val_loss[0], &s->val_acc[0]);
    if (st == NB_OK && (st = nb_trainer_fit(t, d->train, NULL)) == NB_OK)
        st = w.status;
    if (st == NB_OK)
        st = nb_trainer_evaluate(t, d->train, &s->final_train_loss, &s->final_train_acc);
    if (st == NB_OK)
        st = nb_trainer_evaluate(t, d->val, &s->final_val_loss, &s->final_val_acc);
    if (st == NB_OK)
        st = nb_trainer_evaluate(t, d->test, NULL, &s->test_acc);
    if (st != NB_OK)
        fprintf(stderr, "overfitting: %s: %s\n", s->name, t ? nb_trainer_error(t) : err.message);
    nb_trainer_free(t);
    return st == NB_OK;
}

/* ---------------------------------------------------------------- report */

/* The table, then the claim checked; false if it fails. */
static bool report(const setting *s)
{
    printf("\n| setting | epochs | best epoch | train loss | val loss | gap | train acc | val acc "
           "| gap | test acc |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < N_SETTINGS; i++)
        printf("| %s | %d | %d | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f |\n", s[i].name,
               s[i].epochs_done, s[i].best_epoch, s[i].final_train_loss, s[i].final_val_loss,
               s[i].final_val_loss - s[i].final_train_loss, s[i].final_train_acc,
               s[i].final_val_acc, s[i].final_train_acc - s[i].final_val_acc, s[i].test_acc);
    const setting *plain = &s[0];
    int b = plain->best_epoch;
    double gap_best = plain->val_loss[b] - plain->train_loss[b];
    double gap_end = plain->final_val_loss - plain->final_train_loss;
    bool ok = gap_end > gap_best && plain->final_val_loss > plain->val_loss[b];
    printf("\nplain: at the best epoch %d val - train loss %.4f, at the end %.4f (val loss %.4f "
           "→ %.4f): %s\n", b, gap_best, gap_end, plain->val_loss[b], plain->final_val_loss,
           ok ? "the curves part" : "NO PARTING");
    for (int i = 1; i < N_SETTINGS; i++) {
        double gap = s[i].final_val_loss - s[i].final_train_loss;
        bool closes = gap < gap_end;
        printf("%s: loss gap %.4f against plain %.4f: %s\n", s[i].name, gap, gap_end,
               closes ? "smaller" : "NOT SMALLER");
        ok &= closes;
    }
    const setting *es = &s[N_SETTINGS - 1];
    bool restored = fabs(es->final_val_loss - es->val_loss[es->best_epoch]) <= 1e-6;
    printf("early stopping: restored epoch %d, val loss %.6f (at that epoch %.6f): %s\n",
           es->best_epoch, es->final_val_loss, es->val_loss[es->best_epoch],
           restored ? "same" : "DIFFERENT");
    return ok && restored;
}

/* Loss and accuracy against epochs: training solid, validation dashed, one
 * colour per setting. Early stopping's curves are plain's up to where it
 * stopped, so it is drawn as a vertical line at the epoch it restored. */
static bool draw(const args *a, const setting *s)
{
    enum { N = 2 * (N_SETTINGS - 1) + 1 };
    plot_series loss[N], acc[N];
    static char labels[N][64];
    static double mark_x[2], mark_loss[2], mark_acc[2];
    double hi = 0, lo = 1;
    for (int i = 0; i < N_SETTINGS - 1; i++) {
        int n = s[i].epochs_done + 1;
        snprintf(labels[2 * i], sizeof labels[0], "%s: train", s[i].name);
        snprintf(labels[2 * i + 1], sizeof labels[0], "%s: validation", s[i].name);
        loss[2 * i] = (plot_series){labels[2 * i], s[i].epoch_x, s[i].train_loss, n, i, false};
        loss[2 * i + 1] = (plot_series){labels[2 * i + 1], s[i].epoch_x, s[i].val_loss, n, i, true};
        acc[2 * i] = (plot_series){labels[2 * i], s[i].epoch_x, s[i].train_acc, n, i, false};
        acc[2 * i + 1] = (plot_series){labels[2 * i + 1], s[i].epoch_x, s[i].val_acc, n, i, true};
        for (int e = 1; e < n; e++) {
            hi = s[i].val_loss[e] > hi ? s[i].val_loss[e] : hi;
            lo = s[i].val_acc[e] < lo ? s[i].val_acc[e] : lo;
        }
    }
    hi = hi < 2.5 ? ceil(hi * 2) / 2 : 2.5;
    lo = floor(lo * 10) / 10;
    const setting *es = &s[N_SETTINGS - 1];
    mark_x[0] = mark_x[1] = es->best_epoch;
    mark_loss[0] = 0, mark_loss[1] = hi;
    mark_acc[0] = lo, mark_acc[1] = 1;
    snprintf(labels[N - 1], sizeof labels[0], "early stopping: epoch %d kept", es->best_epoch);
    loss[N - 1] = (plot_series){labels[N - 1], mark_x, mark_loss, 2, N_SETTINGS - 1, false};
    acc[N - 1] = (plot_series){labels[N - 1], mark_x, mark_acc, 2, N_SETTINGS - 1, false};
    plot_panel panels[2] = {
        {"loss", "epochs", 0, a->epochs, 0, hi, loss, N},
        {"accuracy", "epochs", 0, a->epochs, lo, 1, acc, N},
    };
    nb_error err = {0};
    if (plot_write(a->plot, panels, 2, &err) != NB_OK) {
        fprintf(stderr, "overfitting: %s\n", err.message);
        return false;
    }
    printf("wrote %s\n", a->plot);
    return true;
}

/* ---------------------------------------------------------------- main */

static bool parse(int argc, char **argv, args *a)
{
    const cmdline_opt opts[] = {
        {"--epochs", CMDLINE_INT, &a->epochs},    {"--threads", CMDLINE_INT, &a->threads},
        {"--patience", CMDLINE_INT, &a->patience}, {"--train", CMDLINE_I64, &a->train},
        {"--val", CMDLINE_I64, &a->val},          {"--hidden", CMDLINE_I64, &a->hidden},
        {"--decay", CMDLINE_FLOAT, &a->decay},    {"--dropout", CMDLINE_FLOAT, &a->dropout},
        {"--seed", CMDLINE_U64, &a->seed},        {"--data", CMDLINE_STR, &a->dir},
        {"--plot", CMDLINE_STR, &a->plot},        {0}};
    return cmdline_parse(argc, argv, opts) && a->epochs > 0 && a->epochs <= MAX_EPOCHS &&
           a->train > 0 && a->val > 0 && a->hidden > 0 && a->patience > 0 && a->decay > 0 &&
           a->dropout > 0 && a->dropout < 1;
}

/* The first a->train training images, the next a->val as validation, and
 * the test set; false after printing why. */
static bool load(const args *a, nb_dataset **train, nb_dataset **val, nb_dataset **test)
{
    nb_error err = {0};
    nb_dataset *all = fashion_split(a->dir, true, &err);
    *train = *val = NULL;
    *test = all ? fashion_split(a->dir, false, &err) : NULL;
    if (*test && all->n < a->train + a->val)
        nb_error_set(&err, NB_ERR_ARG, "--train %lld + --val %lld is more than the %lld images",
                     (long long)a->train, (long long)a->val, (long long)all->n);
    else if (*test)
        *train = nb_dataset_slice(all, 0, a->train, &err);
    if (*train)
        *val = nb_dataset_slice(all, a->train, a->val, &err);
    nb_dataset_free(all);
    if (*val)
        return true;
    fprintf(stderr, "overfitting: %s\n", err.message);
    nb_dataset_free(*train);
    nb_dataset_free(*test);
    return false;
}

int main(int argc, char **argv)
{
    args a = {.epochs = 50, .train = 1000, .val = 5000, .hidden = 256, .decay = 5e-3f,
              .dropout = 0.5f, .patience = 5, .seed = 1, .dir = "/usr/share/datasets/fashion-mnist"};
    if (!parse(argc, argv, &a)) {
        fprintf(stderr, "usage: %s [--train N] [--val N] [--epochs 1..%d] [--hidden N] "
                "[--decay λ] [--dropout p] [--patience N] [--threads N] [--seed N] [--data DIR] "
                "[--plot PATH]\n", argv[0], MAX_EPOCHS);
        return 2;
    }
    nb_dataset *train, *val, *test;
    if (!load(&a, &train, &val, &test))
        return 1;
    nb_set_threads(a.threads);
    printf("overfitting: 784-%lld-%lld-10 relu, %lld training, %lld validation, %lld test images, "
           "up to %d epochs, seed %llu, %d thread(s)\n", (long long)a.hidden, (long long)a.hidden,
           (long long)train->n, (long long)val->n, (long long)test->n, a.epochs,
           (unsigned long long)a.seed, nb_get_threads());
    char decay_name[32], dropout_name[32];
    snprintf(decay_name, sizeof decay_name, "weight decay %g", a.decay);
    snprintf(dropout_name, sizeof dropout_name, "dropout %g", a.dropout);
    static setting s[N_SETTINGS];
    s[0] = (setting){.name = "plain", .a = &a};
    s[1] = (setting){.name = decay_name, .weight_decay = a.decay, .a = &a};
    s[2] = (setting){.name = dropout_name, .dropout = a.dropout, .a = &a};
    s[3] = (setting){.name = "early stopping", .patience = a.patience, .a = &a};
    data d = {train, val, test};
    bool ok = true;
    for (int i = 0; i < N_SETTINGS && ok; i++)
        ok = train_setting(&a, &d, &s[i]);
    ok = ok && report(s);
    if (s[N_SETTINGS - 1].epochs_done && a.plot)
        ok = draw(&a, s) && ok;
    nb_dataset_free(train);
    nb_dataset_free(val);
    nb_dataset_free(test);
    return ok ? 0 : 1;
}
