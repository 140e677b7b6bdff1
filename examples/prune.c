/*
 * prune.c — pruning a trained network (the lecture's "remove weak
 * connections and neurons"). A 784-H-10 ReLU MLP is trained on
 * Fashion-MNIST; then each hidden unit gets a saliency, the sum over its
 * incoming and outgoing weights of
 *
 *   magnitude   ½·w²
 *   OBD         ½·h_ii·w_i² (Optimal Brain Damage), h_ii the exact
 *               diagonal of the Hessian of the training loss, computed by
 *               second-order autodiff on a sample of training images
 *               (nb_unit_saliency; nb_dense_hessian_diagonal)
 *   random      a seeded random score, as the baseline
 *
 * and the 0, 25, 50, 75 % least salient units are removed FOR REAL: the
 * model is built again with fewer units (fewer parameters, a smaller
 * matmul) and the kept weights are carried over by name
 * (nb_dense_remap_units). The table shows units, parameters, the hidden
 * matmul's weight shape and the test accuracy right after pruning and after
 * a short fine-tune. A second table prunes connections of the hidden layer
 * by masking (nb_prune_weights): the fraction of its weights set to zero
 * against test accuracy, by magnitude and by OBD, without fine-tuning.
 *
 * Exit status 0 when removing 0 % keeps the test accuracy exactly and
 * every removal shrinks the parameter count and the matmul.
 *
 *     prune [--quick] [--data DIR] [--hidden 64] [--epochs 8] [--obd-n 2000]
 *           [--finetune 1] [--lr 0.02] [--threads 0] [--seed 1]
 *
 * DIR holds {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz, or the test
 * fixture's fmnist-{train,test}-… files; --quick takes the fixture (from
 * NABLA_FIXTURES or tests/fixtures) and small settings.
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
    int64_t hidden, obd_n, batch;
    int epochs, finetune, threads;
    float lr;
    uint64_t seed;
} args;

enum { N_METHODS = 3, N_FRACTIONS = 4 };
static const char *const method_names[N_METHODS] = {"magnitude", "OBD", "random"};

/* ---------------------------------------------------------------- data */

static bool parse(int argc, char **argv, args *a)
{
    bool quick = false; /* its defaults are set before parsing (main) */
    const cmdline_opt opts[] = {
        {"--quick", CMDLINE_FLAG, &quick},      {"--data", CMDLINE_STR, &a->dir},
        {"--hidden", CMDLINE_I64, &a->hidden},  {"--epochs", CMDLINE_INT, &a->epochs},
        {"--obd-n", CMDLINE_I64, &a->obd_n},    {"--finetune", CMDLINE_INT, &a->finetune},
        {"--lr", CMDLINE_FLOAT, &a->lr},        {"--threads", CMDLINE_INT, &a->threads},
        {"--seed", CMDLINE_U64, &a->seed},      {0}};
    return cmdline_parse(argc, argv, opts) && a->hidden >= 4 && a->epochs >= 1 &&
           a->obd_n >= 1 && a->finetune >= 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
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
    if (ud)
        printf("  epoch %d/%d  Q %.4f  test_acc %.4f  %.1f s\n", p->epoch, p->epochs, p->q,
               p->test_acc, p->seconds);
    fflush(stdout);
}

static nb_trainer *trainer_at(const args *a, int64_t *width, int epochs, bool verbose)
{
    nb_train_opts o = {.batch = a->batch, .epochs = epochs > 0 ? epochs : 1, .seed = a->seed,
                       .optimizer = {.kind = NB_OPT_SGD, .lr = a->lr, .momentum = 0.9f},
                       .on_epoch = on_epoch, .ud = verbose ? (void *)1 : NULL};
    nb_error err;
    nb_trainer *t = nb_trainer_new(mlp, width, NB_SHAPE(1, 28, 28), 1, &o, &err);
    if (!t)
        fprintf(stderr, "prune: %s\n", err.message);
    return t;
}

static int64_t param_count(nb_graph *g)
{
    int64_t n = 0;
    for (int i = 0; i < nb_graph_num_params(g); i++)
        n += nb_shape_numel(nb_node_shape(nb_graph_param(g, i)));
    return n;
}

/* The shape of the weight the hidden layer's matmuls multiply by. */
static nb_shape hidden_matmul_w(nb_graph *g)
{
    nb_node *w = nb_graph_find(g, "hidden/w");
    for (int i = 0; w && i < nb_graph_node_count(g); i++) {
        nb_node *n = nb_graph_node(g, i);
        if (!nb_node_is_backward(n) && !strcmp(nb_node_op(n), "matmul") && nb_node_input(n, 1) == w)
            return nb_node_shape(w);
    }
    return NB_SCALAR;
}

/* ---------------------------------------------------------------- saliency */

/* A graph with the model for all of ds at *width (inference), parameters
 * from `from`. */
static nb_graph *model_for(nb_graph *from, int64_t *width, const nb_dataset *ds, nb_model_io *io)
{
    nb_graph *g = nb_graph_new();
    nb_error err = {0};
    nb_graph_set_training(g, false);
    if (mlp(g, ds->n, io, width) != NB_OK || nb_params_copy(from, g, &err) != NB_OK) {
        fprintf(stderr, "prune: %s%s\n", nb_graph_error(g), err.message);
        nb_graph_free(g);
        return NULL;
    }
    return g;
}

/* Unit saliencies by every method; seconds[m] is what each took. */
static bool unit_saliencies(const args *a, nb_graph *trained, const nb_dataset *sample,
                            double *s, double *seconds)
{
    int64_t h = a->hidden;
    for (int m = 0; m < 2; m++) {
        nb_model_io io;
        nb_graph *g = model_for(trained, &h, sample, &io);
        nb_feed f[] = {{io.x, sample->x}, {io.y, sample->y}};
        nb_error err;
        double t0 = now();
        nb_status st = g ? nb_unit_saliency(g, io.loss, "hidden", "logits", f, 2,
                                            m == 0 ? NB_SALIENCY_MAGNITUDE : NB_SALIENCY_OBD,
                                            s + m * h, &err)
                         : NB_ERR_STATE;
        seconds[m] = now() - t0;
        nb_graph_free(g);
        if (st != NB_OK) {
            fprintf(stderr, "prune: %s\n", g ? err.message : "no model");
            return false;
        }
    }
    nb_rng r = nb_rng_seed(a->seed + 77);
    for (int64_t j = 0; j < h; j++)
        s[2 * h + j] = nb_rng_uniform(&r);
    seconds[2] = 0;
    return true;
}

/* ---------------------------------------------------------------- removing units */

/* One row of the unit table. */
typedef struct row {
    int64_t kept, params;
    nb_shape w;
    double acc, acc_tuned;
} row;

/* Removes n_remove units of the trained model by saliency s, rebuilds,
 * evaluates, fine-tunes and evaluates again. */
static bool prune_units(const args *a, nb_graph *trained, const double *s, int64_t n_remove,
                        const nb_dataset *train, const nb_dataset *test, row *r)
{
    int64_t *keep = malloc((size_t)a->hidden * sizeof *keep);
    static int64_t width; /* the trainer's ud: lives as long as it does */
    width = a->hidden - n_remove;
    nb_error err = {0};
    nb_trainer *t = keep ? trainer_at(a, &width, a->finetune, false) : NULL;
    bool ok = t && nb_prune_select(s, a->hidden, n_remove, keep, &err) == NB_OK &&
              nb_dense_remap_units(trained, nb_trainer_graph(t), "hidden", "logits", keep, width,
                                   &err) == NB_OK;
    ok = ok && nb_trainer_evaluate(t, test, NULL, &r->acc) == NB_OK;
    r->kept = width;
    r->params = ok ? param_count(nb_trainer_graph(t)) : 0;
    r->w = ok ? hidden_matmul_w(nb_trainer_graph(t)) : NB_SCALAR;
    r->acc_tuned = NAN;
    if (ok && a->finetune > 0)
        ok = nb_trainer_fit(t, train, NULL) == NB_OK &&
             nb_trainer_evaluate(t, test, NULL, &r->acc_tuned) == NB_OK;
    if (!ok)
        fprintf(stderr, "prune: %s%s\n", err.message, t ? nb_trainer_error(t) : "");
    nb_trainer_free(t);
    free(keep);
    return ok;
}

/* The unit table; false if a claim fails. */
static bool unit_table(const args *a, nb_graph *trained, const double *s, double base_acc,
                       int64_t base_params, const nb_dataset *train, const nb_dataset *test)
{
    bool claims = true;
    printf("\n| method | removed | hidden units | parameters | hidden matmul weight | test acc "
           "(pruned) | test acc (after %d epoch%s fine-tune) |\n|---|---|---|---|---|---|---|\n",
           a->finetune, a->finetune == 1 ? "" : "s");
    for (int m = 0; m < N_METHODS; m++) {
        int64_t last = base_params + 1;
        for (int q = 0; q < N_FRACTIONS; q++) {
            int64_t n_remove = a->hidden * q / 4;
            row r;
            if (!prune_units(a, trained, s + m * a->hidden, n_remove, train, test, &r))
                return false;
            printf("| %s | %d%% | %lld | %lld | [%lld,%lld] | %.4f | %.4f |\n", method_names[m],
                   25 * q, (long long)r.kept, (long long)r.params, (long long)r.w.dim[0],
                   (long long)r.w.dim[1], r.acc, r.acc_tuned);
            fflush(stdout);
            claims = claims && r.params < last && r.w.dim[1] == r.kept &&
                     (q > 0 || (r.acc == base_acc && r.params == base_params));
            last = r.params;
        }
    }
    return claims;
}

/* ---------------------------------------------------------------- masking connections */

/* Zeroes `fraction` of hidden/w in a copy of the trained model by per-weight
 * saliency s_w and measures test accuracy (no fine-tune). */
static bool mask_row(const args *a, nb_graph *trained, const float *s_w, double fraction,
                     const nb_dataset *test, double *acc, int64_t *nonzero)
{
    static int64_t width;
    width = a->hidden;
    nb_error err = {0};
    nb_trainer *t = trainer_at(a, &width, 1, false);
    nb_node *w = t ? nb_graph_find(nb_trainer_graph(t), "hidden/w") : NULL;
    bool ok = w && nb_params_copy(trained, nb_trainer_graph(t), &err) == NB_OK &&
              nb_prune_weights(w, s_w, fraction, &err) >= 0 &&
              nb_trainer_evaluate(t, test, NULL, acc) == NB_OK;
    *nonzero = 0;
    for (int64_t i = 0; ok && i < nb_shape_numel(nb_node_shape(w)); i++)
        *nonzero += nb_param_data(w)[i] != 0;
    if (!ok)
        fprintf(stderr, "prune: %s%s\n", err.message, t ? nb_trainer_error(t) : "");
    nb_trainer_free(t);
    return ok;
}

static bool connection_table(const args *a, nb_graph *trained, const nb_dataset *sample,
                             const nb_dataset *test)
{
    int64_t h = a->hidden, n_w = 784 * h;
    float *s = malloc((size_t)(2 * n_w) * sizeof *s);
    bool ok = s != NULL;
    for (int m = 0; ok && m < 2; m++) {
        nb_model_io io;
        nb_graph *g = model_for(trained, &h, sample, &io);
        nb_feed f[] = {{io.x, sample->x}, {io.y, sample->y}};
        nb_error err;
        ok = g && nb_dense_saliency(g, io.loss, "hidden", f, 2,
                                    m == 0 ? NB_SALIENCY_MAGNITUDE : NB_SALIENCY_OBD, s + m * n_w,
                                    NULL, &err) == NB_OK;
        if (!ok)
            fprintf(stderr, "prune: %s\n", g ? err.message : "no model");
        nb_graph_free(g);
    }
    const double fractions[] = {0, 0.5, 0.75, 0.9, 0.95};
    printf("\n| hidden-layer weights masked to zero | nonzero weights left | test acc, magnitude | "
           "test acc, OBD |\n|---|---|---|---|\n");
    for (int q = 0; ok && q < 5; q++) {
        double acc[2];
        int64_t nz[2];
        for (int m = 0; ok && m < 2; m++)
            ok = mask_row(a, trained, s + m * n_w, fractions[q], test, &acc[m], &nz[m]);
        if (ok)
            printf("| %.0f%% | %lld of %lld | %.4f | %.4f |\n", 100 * fractions[q],
                   (long long)nz[1], (long long)n_w, acc[0], acc[1]);
    }
    free(s);
    return ok;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    args a = {.dir = "/usr/share/datasets/fashion-mnist", .hidden = 64, .obd_n = 2000,
              .batch = 64, .epochs = 8, .finetune = 1, .lr = 0.02f, .seed = 1};
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--quick")) {
            const char *fx = getenv("NABLA_FIXTURES");
            a = (args){.dir = fx ? fx : "tests/fixtures", .hidden = 16, .obd_n = 500, .batch = 50,
                       .epochs = 4, .finetune = 1, .lr = 0.05f, .threads = 2, .seed = 1};
        }
    if (!parse(argc, argv, &a)) {
        fprintf(stderr, "usage: %s [--quick] [--data DIR] [--hidden H] [--epochs E] [--obd-n N] "
                        "[--finetune E] [--lr LR] [--threads N] [--seed N]\n", argv[0]);
        return 2;
    }
    nb_set_threads(a.threads);
    nb_error err = {0};
    nb_dataset *train = fashion_split(a.dir, true, &err), *test = train ? fashion_split(a.dir, false, &err) : NULL;
    nb_dataset *sample = test ? nb_dataset_slice(train, 0, a.obd_n < train->n ? a.obd_n : train->n,
                                                 &err) : NULL;
    /* The sample is fed whole as floats (nb_feed): convert it; the training
     * and test sets stay bytes for the trainer. */
    if (!sample || nb_dataset_to_float(sample, &err) != NB_OK) {
        fprintf(stderr, "prune: %s\n", err.message);
        return 1;
    }
    double t0 = now();
    printf("training 784-%lld-10 on %lld images, %d epochs\n", (long long)a.hidden,
           (long long)train->n, a.epochs);
    int64_t h = a.hidden;
    nb_trainer *t = trainer_at(&a, &h, a.epochs, true);
    double base_acc = 0, seconds[N_METHODS];
    double *s = malloc((size_t)(N_METHODS * a.hidden) * sizeof *s);
    bool ok = t && s && nb_trainer_fit(t, train, test) == NB_OK &&
              nb_trainer_evaluate(t, test, NULL, &base_acc) == NB_OK;
    int64_t base_params = ok ? param_count(nb_trainer_graph(t)) : 0;
    ok = ok && unit_saliencies(&a, nb_trainer_graph(t), sample, s, seconds);
    int64_t silent = 0; /* OBD saliency 0: the unit never fires on the sample */
    for (int64_t j = 0; ok && j < a.hidden; j++)
        silent += s[a.hidden + j] == 0;
    if (ok)
        printf("trained: test acc %.4f, %lld parameters; unit saliency on %lld images: "
               "magnitude %.3f s, OBD %.3f s (%lld Hessian-vector runs); %lld units have OBD "
               "saliency 0 (silent on the sample)\n",
               base_acc, (long long)base_params, (long long)sample->n, seconds[0], seconds[1],
               (long long)(a.hidden + 10), (long long)silent);
    bool claims = ok && unit_table(&a, nb_trainer_graph(t), s, base_acc, base_params, train, test);
    ok = ok && connection_table(&a, nb_trainer_graph(t), sample, test);
    printf("prune hidden=%lld base_acc=%.4f claims=%s seconds=%.1f\n", (long long)a.hidden,
           base_acc, claims ? "yes" : "no", now() - t0);
    nb_trainer_free(t);
    free(s);
    nb_dataset_free(sample);
    nb_dataset_free(train);
    nb_dataset_free(test);
    return ok && claims ? 0 : 1;
}
