/*
 * mpi_trainer.c — the trainer across MPI ranks, run by the suite under
 * `mpirun -np N` (tests/mpi_run.sh):
 *
 *     mpi_trainer MODEL.yaml DATA_DIR equivalence BATCH [overlap]
 *     mpi_trainer MODEL.yaml DATA_DIR steps BATCH
 *     mpi_trainer MODEL.yaml DATA_DIR grow BATCH FIRST
 *     mpi_trainer MODEL.yaml DATA_DIR fail-labels | fail-step | fail-grad | fail-grad-wide
 *
 * DATA_DIR holds the fixture (fmnist-{train,test}-*-ubyte.gz: 500 and 200
 * images). equivalence: one epoch of the model on the training images
 * at global batch BATCH, shared over the ranks, against one process
 * training the same model alone at batch BATCH on every rank: every
 * parameter tensor within 1e-5 relative (max |a − b| / max |b|), the same
 * weights on every rank bit for bit, the same Q and mean loss to 1e-5, and
 * evaluation split over the ranks giving every rank the one process's
 * loss (1e-5) and accuracy (to one example). overlap: the model is deep
 * enough that some gradients' sums must start while backward still runs
 * (nb_dist_stats.overlapped > 0). A model of two inputs (x and "side")
 * gets its side vectors from the labels (add_side).
 *
 * fail-labels: rank 1 alone holds a bad label (as a damaged data file on
 * one host would give); fail-step: rank 1's weights go non-finite during
 * the epoch (after its third step); fail-grad (MODEL.yaml unused): a model
 * √(x·w) on x = 1…4 and 0, 5, 6, 7, whose gradient at rank 1's x = 0 is
 * NaN under a finite loss (found as the gradients are copied for the
 * sum); fail-grad-wide: the same with w 20 000 wide, a weight sharded over
 * the ranks and summed from where the runtime left it, unchecked (found
 * in the sum, then named by the rank that made it). Every rank must stop,
 * with fit failing and
 * a message naming rank 1 — and no rank may wait forever (the time limit of
 * mpi_run.sh fails a hang).
 *
 * steps BATCH: three epochs on N ranks and in one process, step by step:
 * each step's loss (the global batch's, made by every rank's forward pass)
 * and a fingerprint of the weights as each rank reads them after the
 * step, within 1e-5 of one process's at every step, and the fingerprints
 * the same on every rank bit for bit. On one host the first layer's
 * weights are one copy in shared memory that each rank updates its piece
 * of in place (train/dist_sum.c): a rank that read a piece before its
 * owner had written it — stale, or half updated — would make that step's
 * loss or fingerprint differ.
 *
 * grow BATCH FIRST: the same checks over three epochs on the first FIRST
 * (< BATCH) examples, then three on the whole set, each trainer going
 * on: later global batches are larger than the first step's, which the
 * shared window's rows of a factored weight were sized for.
 *
 * Exit 0 when every check passes on every rank; rank 0 prints the figures.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nabla.h"

static int failures;

static void check(nb_dist *d, bool ok, const char *what, double got)
{
    if (!ok) {
        failures++;
        fprintf(stderr, "rank %d: FAILED: %s (%.3g)\n", nb_dist_rank(d), what, got);
    }
}

/* The largest, over parameter tensors, of max |a − b| / max |b|. */
static double param_distance(nb_trainer *a, nb_trainer *b)
{
    double worst = 0;
    for (int i = 0; i < nb_trainer_num_param_tensors(a); i++) {
        nb_node *pa = nb_trainer_param(a, i), *pb = nb_trainer_param(b, i);
        const float *x = nb_param_data(pa), *y = nb_param_data(pb);
        double diff = 0, scale = 0;
        for (int64_t e = 0; e < nb_shape_numel(nb_node_shape(pa)); e++) {
            diff = fmax(diff, fabs((double)x[e] - y[e]));
            scale = fmax(scale, fabs((double)y[e]));
        }
        worst = fmax(worst, diff / fmax(scale, 1e-30));
    }
    return worst;
}

/* Whether every rank's parameters are rank 0's, bit for bit. */
static bool same_on_every_rank(nb_dist *d, nb_trainer *t)
{
    int differ = 0;
    for (int i = 0; i < nb_trainer_num_param_tensors(t); i++) {
        nb_node *p = nb_trainer_param(t, i);
        int64_t n = nb_shape_numel(nb_node_shape(p));
        float *mine = nb_param_data(p), *root = malloc((size_t)n * sizeof *root);
        memcpy(root, mine, (size_t)n * sizeof *root);
        nb_dist_broadcast(d, root, n * (int64_t)sizeof *root, NULL);
        differ |= memcmp(root, mine, (size_t)n * sizeof *root) != 0;
        free(root);
    }
    float v = (float)differ;
    nb_dist_allreduce(d, &v, 1, NULL);
    return v == 0;
}

typedef struct sabotage {
    nb_trainer **t;
    int rank;
} sabotage;

/* fail-step: after its 3rd step, rank 1's output bias becomes NaN (as
 * memory gone bad on one host would make it), so its next loss is NaN. */
static void break_rank1(const nb_progress *p, void *ud)
{
    sabotage *s = ud;
    nb_node *b = nb_trainer_param(*s->t, nb_trainer_num_param_tensors(*s->t) - 1);
    if (s->rank == 1 && p->global_step == 3)
        for (int64_t e = 0; e < nb_shape_numel(nb_node_shape(b)); e++)
            nb_param_data(b)[e] = NAN;
}

/* fail-grad's model: output √(x·w), w one weight (1 at the start), squared
 * error against y: finite everywhere, its gradient NaN at x = 0. With a
 * width (*ud > 1), w is [1, width] and the output the mean of the width
 * values √(x·w_j): a weight large enough to be sharded over the ranks. */
#define WIDE 20000

static nb_status sqrt_model(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    static float ones[WIDE];
    int64_t width = *(const int64_t *)ud;
    const int axis = 1;
    for (int64_t j = 0; j < width; j++)
        ones[j] = 1;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1));
    io->y = nb_input(g, "y", NB_SHAPE(batch, 1));
    nb_node *w = nb_graph_find(g, "w"); /* built again at another batch: the same w */
    w = w ? w : nb_param(g, "w", NB_SHAPE(1, width), ones);
    io->output = nb_mean(g, nb_sqrt(g, nb_mul(g, io->x, w)), &axis, 1, true);
    io->loss = nb_mse_loss(g, io->output, io->y);
    return nb_graph_status(g);
}

/* fail-grad: one global batch of 8 in order, rank 1's half holding x = 0;
 * the model sqrt_model of this width. */
static void failing_grad(nb_dist *d, int64_t width)
{
    nb_dataset *ds = nb_dataset_new(8, NB_SHAPE(1), 1, NULL);
    for (int64_t i = 0; i < 8; i++)
        ds->x[i] = i < 4 ? (float)(i + 1) : (float)(i == 4 ? 0 : i), ds->y[i] = 1;
    nb_train_opts o = {.batch = 8, .epochs = 1, .no_shuffle = true, .optimizer = {.lr = 0.1f},
                       .dist = d};
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(sqrt_model, &width, NB_SHAPE(1), 1, &o, &err);
    nb_status st = t ? nb_trainer_fit(t, ds, NULL) : err.status;
    const char *msg = t ? nb_trainer_error(t) : err.message;
    char what[64];
    snprintf(what, sizeof what, "the gradient of 'w' [1,%lld] is nan", (long long)width);
    check(d, st != NB_OK, "fit fails on every rank", st);
    check(d, strstr(msg, "rank 1 of") && strstr(msg, what),
          "the message is rank 1's, naming the gradient", 0);
    bool kept = t != NULL;
    for (int64_t j = 0; kept && j < width; j++)
        kept = nb_param_data(nb_trainer_param(t, 0))[j] == 1.0f;
    check(d, kept, "no update was made", 0);
    if (nb_dist_rank(d) == 0)
        printf("failing rank (a NaN gradient, %lld wide): every rank stopped: %s\n",
               (long long)width, msg);
    nb_trainer_free(t);
    nb_dataset_free(ds);
}

/* A model of a second input (mpi_two_inputs.yaml): the input "side" [3]
 * of every example, one-hot of its label mod 3, so every shard must feed
 * each example's side vector with its image for the steps to agree. */
static bool add_side(const nb_model_file *m, nb_dataset *ds, nb_error *err)
{
    if (nb_model_file_inputs(m, NULL, 0) < 2)
        return true;
    nb_dataset_input *side = nb_dataset_add_input(ds, "side", (nb_shape){.rank = 1, .dim = {3}},
                                                  false, err);
    for (int64_t i = 0; side && i < ds->n; i++)
        for (int k = 0; k < 3; k++)
            side->x[3 * i + k] = (int)ds->y[i] % 3 == k;
    return side != NULL;
}

static nb_trainer *trainer(nb_model_file *m, nb_train_opts o, nb_error *err)
{
    return nb_trainer_new(nb_model_file_build, m, nb_model_file_input_shape(m),
                          nb_model_file_y_width(m), &o, err);
}

static void equivalence(nb_dist *d, nb_model_file *m, nb_dataset *train, nb_dataset *test,
                        int64_t batch, bool overlap)
{
    nb_train_opts o = nb_model_file_train_opts(m);
    o.epochs = 1;
    o.batch = batch;
    nb_error err = {0};
    nb_trainer *one = trainer(m, o, &err);
    o.dist = d;
    nb_trainer *spread = trainer(m, o, &err);
    if (!one || !spread) {
        check(d, false, err.message, 0);
        return;
    }
    nb_status a = nb_trainer_fit(spread, train, NULL), b = nb_trainer_fit(one, train, NULL);
    check(d, a == NB_OK && b == NB_OK, nb_trainer_error(a ? spread : one), 0);
    double dist = param_distance(spread, one);
    check(d, dist <= 1e-5, "parameters within 1e-5 of one process's", dist);
    check(d, same_on_every_rank(d, spread), "the same parameters on every rank", 0);
    double q1 = nb_trainer_q(one), qn = nb_trainer_q(spread);
    check(d, fabs(q1 - qn) <= 1e-5 * fabs(q1), "Q within 1e-5 of one process's", qn - q1);
    check(d, nb_trainer_state(spread).global_step == nb_trainer_state(one).global_step,
          "as many steps as one process", 0);
    double l1, acc1, ln, accn, acc_all[1];
    nb_trainer_evaluate(one, test, &l1, &acc1);
    check(d, nb_trainer_evaluate(spread, test, &ln, &accn) == NB_OK, nb_trainer_error(spread), 0);
    check(d, fabs(l1 - ln) <= 1e-5 * fabs(l1), "test loss within 1e-5 of one process's", ln - l1);
    check(d, fabs(acc1 - accn) * (double)test->n <= 1, "test accuracy within one example",
          accn - acc1);
    acc_all[0] = accn;
    nb_dist_broadcast(d, acc_all, sizeof acc_all, NULL);
    check(d, acc_all[0] == accn, "the same accuracy on every rank", accn - acc_all[0]);
    nb_dist_stats s = nb_dist_get_stats(d);
    check(d, !overlap || s.overlapped > 0, "sums started during backward", (double)s.overlapped);
    if (nb_dist_rank(d) == 0)
        printf("equivalence: %d ranks, global batch %lld: parameters within %.2g (relative) of "
               "one process's; Q %.6f vs %.6f; test loss %.6f vs %.6f, accuracy %.4f vs %.4f; "
               "%lld of %lld bytes summed during backward\n",
               nb_dist_size(d), (long long)batch, dist, qn, q1, ln, l1, accn, acc1,
               (long long)s.overlapped, (long long)s.bytes);
    nb_trainer_free(one);
    nb_trainer_free(spread);
}

/* One process's trainer (*one, callbacks' ud ud_one) and the ranks'
 * (*spread, o with dist d, ud_spread), each fitted on train; every
 * failure checked. Each is stored before its fit, so callbacks that reach
 * it through *one or *spread see it. False when either could not be made
 * or fitted. */
static bool fit_both(nb_dist *d, nb_model_file *m, nb_train_opts o, nb_dataset *train,
                     void *ud_one, void *ud_spread, nb_trainer **one, nb_trainer **spread)
{
    nb_error err = {0};
    o.ud = ud_one;
    *one = trainer(m, o, &err);
    o.ud = ud_spread;
    o.dist = d;
    *spread = *one ? trainer(m, o, &err) : NULL;
    nb_status a = *spread ? nb_trainer_fit(*spread, train, NULL) : err.status;
    check(d, a == NB_OK, *spread ? nb_trainer_error(*spread) : err.message, a);
    nb_status b = *one ? nb_trainer_fit(*one, train, NULL) : err.status;
    check(d, b == NB_OK, *one ? nb_trainer_error(*one) : err.message, b);
    return a == NB_OK && b == NB_OK;
}

/* steps: what each step left, on each rank. */
#define MAX_STEPS 64

typedef struct trace {
    nb_trainer **t;
    int n;
    double loss[MAX_STEPS];
    double print[MAX_STEPS][2]; /* Σ w_e·k_e over every weight, and Σ |w_e|·k_e */
    int off_line;               /* steps after which the first weight was not on a
                                   64-byte line (from the third) */
} trace;

/* Every weight t's graph reads now, each weighted by 1 + e mod 7, summed
 * (print[0]) and in absolute value (print[1], the scale): a piece of a
 * tensor that differs shows even where the whole tensor's sum would not. */
static void fingerprint(nb_trainer *t, double print[2])
{
    double sum = 0, size = 0;
    for (int i = 0; i < nb_trainer_num_param_tensors(t); i++) {
        nb_node *w = nb_trainer_param(t, i);
        const float *x = nb_param_data(w);
        for (int64_t e = 0; e < nb_shape_numel(nb_node_shape(w)); e++)
            sum += (double)x[e] * (double)(1 + e % 7), size += fabs((double)x[e]) * (1 + e % 7);
    }
    print[0] = sum, print[1] = size;
}

/* After each step: its loss, and every weight as this rank reads it now,
 * each weighted by 1 + e mod 7, so a piece of a tensor that differs
 * shows even where the whole tensor's sum would not. */
static void record(const nb_progress *p, void *ud)
{
    trace *r = ud;
    if (r->n == MAX_STEPS)
        return;
    r->loss[r->n] = p->loss;
    fingerprint(*r->t, r->print[r->n]);
    r->off_line += r->n >= 2 && (uintptr_t)nb_param_data(nb_trainer_param(*r->t, 0)) % 64 != 0;
    r->n++;
}

/* The ranks' trace a against one process's b, step by step (steps
 * says what must hold); what rank 0 prints begins with `what`. */
static void compare_traces(nb_dist *d, const trace *a, const trace *b, const char *what,
                           int64_t batch)
{
    trace *root = calloc(1, sizeof *root);
    check(d, a->n == b->n && a->n > 16, "as many steps as one process, more than 16", a->n);
    double loss_gap = 0, print_gap = 0;
    int first_bad = -1;
    for (int k = 0; k < a->n && k < b->n; k++) {
        double l = fabs(a->loss[k] - b->loss[k]) / fmax(fabs(b->loss[k]), 1e-30);
        double w = fabs(a->print[k][0] - b->print[k][0]) / fmax(b->print[k][1], 1e-30);
        if (first_bad < 0 && (l > 1e-5 || w > 1e-5))
            first_bad = k + 1;
        loss_gap = fmax(loss_gap, l), print_gap = fmax(print_gap, w);
    }
    check(d, first_bad < 0, "every step's loss and weights within 1e-5 of one process's (the "
                            "first step that is not)", first_bad);
    memcpy(root, a, sizeof *root);
    nb_dist_broadcast(d, root, sizeof *root, NULL);
    int differ = memcmp(root->loss, a->loss, sizeof a->loss) != 0 ||
                 memcmp(root->print, a->print, sizeof a->print) != 0;
    float v = (float)differ;
    nb_dist_allreduce(d, &v, 1, NULL);
    check(d, v == 0, "every rank read the same weights and loss after every step", v);
    /* Through the shared window (on from the second step's update), the
       first layer's weights are one copy there, which must start on a
       cache line: the dense kernels read it more slowly otherwise. */
    const char *shm = getenv("NABLA_DIST_SHM");
    if (nb_dist_size(d) > 1 && !(shm && !strcmp(shm, "0")))
        check(d, a->off_line == 0, "the first weight in the window on a 64-byte line (steps "
                                   "after which it was not)", a->off_line);
    if (nb_dist_rank(d) == 0)
        printf("%s: %d ranks, global batch %lld, %d steps: each step's loss within %.2g, "
               "the weights within %.2g (relative) of one process's; the same on every rank\n",
               what, nb_dist_size(d), (long long)batch, a->n, loss_gap, print_gap);
    free(root);
}

/* steps, and grow when first > 0: three epochs on the first `first`
 * examples alone (fewer than a batch: the first step's global batch is
 * smaller than every later one), then three on the whole set, each
 * trainer going on from where its first fit left it. On one host the
 * window holds the rows of a factored weight's x and dz for the first
 * step's global batch (train/dist_sum.c): a larger one must form the
 * gradient on each rank and sum it, and give the one process's steps. */
static void steps(nb_dist *d, nb_model_file *m, nb_dataset *train, int64_t batch, int64_t first)
{
    nb_train_opts o = nb_model_file_train_opts(m);
    o.epochs = 3;
    o.batch = batch;
    o.on_step = record;
    nb_trainer *one = NULL, *spread = NULL;
    trace *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    a->t = &spread, b->t = &one;
    nb_error err = {0};
    nb_dataset *head = first > 0 ? nb_dataset_slice(train, 0, first, &err) : NULL;
    if (first > 0 && !head) {
        check(d, false, err.message, 0);
    } else if (fit_both(d, m, o, head ? head : train, b, a, &one, &spread) && head) {
        check(d, a->n == 3 && b->n == 3, "a step an epoch on the first examples", a->n);
        for (int k = 0; k < 2; k++) { /* three more epochs: fit goes on to o.epochs */
            nb_trainer *t = k ? one : spread;
            nb_train_state ts = nb_trainer_state(t);
            ts.epoch = 0;
            nb_trainer_set_state(t, &ts);
        }
        nb_status sa = nb_trainer_fit(spread, train, NULL), sb = nb_trainer_fit(one, train, NULL);
        check(d, sa == NB_OK && sb == NB_OK, nb_trainer_error(sa ? spread : one), 0);
    }
    compare_traces(d, a, b, head ? "grow" : "steps", batch);
    nb_dataset_free(head);
    nb_trainer_free(one);
    nb_trainer_free(spread);
    free(a), free(b);
}

/* early: what on_epoch saw of the last epoch. */
typedef struct last_epoch {
    nb_trainer **t;
    int best_epoch;
    bool stopped;
    double print[2]; /* the weights at the end of the last epoch */
} last_epoch;

static void at_epoch(const nb_progress *p, void *ud)
{
    last_epoch *e = ud;
    e->best_epoch = p->best_epoch;
    e->stopped = p->early_stopped;
    fingerprint(*e->t, e->print);
}

/* early: early stopping restores the first epoch's weights after two
 * epochs that cannot beat its accuracy by min_delta 1. The ranks of a host
 * share one copy of the first layer's weights while they train; the
 * restore must land in each rank's own copy, after the ranks took theirs
 * back: the restored weights within 1e-5 of one process's, the same on
 * every rank, not the last epoch's, and a write to one rank's copy unseen
 * by the others. */
static void early(nb_dist *d, nb_model_file *m, nb_dataset *train, int64_t batch)
{
    nb_train_opts o = nb_model_file_train_opts(m);
    o.epochs = 3;
    o.batch = batch;
    o.validation = 0.2;
    o.patience = 2;
    o.monitor = NB_MONITOR_VAL_ACC;
    o.min_delta = 1.0;
    o.on_epoch = at_epoch;
    nb_trainer *one = NULL, *spread = NULL;
    last_epoch a = {.t = &spread}, b = {.t = &one};
    if (!fit_both(d, m, o, train, &b, &a, &one, &spread))
        goto out;
    check(d, a.stopped && a.best_epoch == 1 && b.stopped && b.best_epoch == 1,
          "stopped early, the first epoch the best (best epoch)", a.best_epoch);
    double now[2];
    fingerprint(spread, now);
    check(d, fabs(now[0] - a.print[0]) > 1e-6 * a.print[1],
          "the weights restored, not the last epoch's", now[0] - a.print[0]);
    double dist = param_distance(spread, one);
    check(d, dist <= 1e-5, "restored parameters within 1e-5 of one process's", dist);
    check(d, same_on_every_rank(d, spread), "the same restored parameters on every rank", 0);
    int big = 0; /* the largest tensor: the first layer's weights, the one shared */
    for (int i = 1; i < nb_trainer_num_param_tensors(spread); i++)
        if (nb_shape_numel(nb_node_shape(nb_trainer_param(spread, i))) >
            nb_shape_numel(nb_node_shape(nb_trainer_param(spread, big))))
            big = i;
    float *w = nb_param_data(nb_trainer_param(spread, big)), before = w[0], sync = 0;
    if (nb_dist_rank(d) == 0)
        w[0] += 1.0f;
    nb_dist_allreduce(d, &sync, 1, NULL); /* rank 0 wrote before any rank passes */
    check(d, nb_dist_rank(d) == 0 || w[0] == before, "each rank's own copy after fit",
          w[0] - before);
    if (nb_dist_rank(d) == 0)
        printf("early: %d ranks, global batch %lld: the first epoch's weights restored within "
               "%.2g (relative) of one process's, the same on every rank, each rank's own\n",
               nb_dist_size(d), (long long)batch, dist);
out:
    nb_trainer_free(one);
    nb_trainer_free(spread);
}

static void failing_rank(nb_dist *d, nb_model_file *m, nb_dataset *train, bool in_step)
{
    nb_train_opts o = nb_model_file_train_opts(m);
    o.epochs = 1;
    o.dist = d;
    nb_trainer *t = NULL;
    sabotage s = {.t = &t, .rank = nb_dist_rank(d)};
    if (in_step) {
        o.on_step = break_rank1;
        o.ud = &s;
    } else if (s.rank == 1) {
        train->y[7] = 12; /* a label outside 0…9, on rank 1 alone */
    }
    nb_error err = {0};
    t = trainer(m, o, &err);
    nb_status st = t ? nb_trainer_fit(t, train, NULL) : err.status;
    const char *msg = t ? nb_trainer_error(t) : err.message;
    check(d, st != NB_OK, "fit fails on every rank", st);
    check(d, strstr(msg, "rank 1 of") != NULL, "the message names rank 1", 0);
    check(d, strstr(msg, in_step ? "the loss is nan at epoch 1, step 4" : "label 12") != NULL,
          "the message is rank 1's", 0);
    if (nb_dist_rank(d) == 0)
        printf("failing rank (%s): every rank stopped: %s\n", in_step ? "in a step" : "bad label",
               msg);
    nb_trainer_free(t);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: mpi_trainer MODEL.yaml DATA_DIR equivalence BATCH [overlap] | "
                        "steps BATCH | grow BATCH FIRST | early BATCH | fail-labels | "
                        "fail-step | fail-grad | fail-grad-wide\n");
        return 2;
    }
    nb_error err = {0};
    nb_dist *d = nb_dist_new(NULL, &err);
    nb_model_file *m = d ? nb_model_file_load(argv[1], &err) : NULL;
    char path[4][1024];
    const char *names[4] = {"train-images-idx3", "train-labels-idx1", "test-images-idx3",
                            "test-labels-idx1"};
    for (int i = 0; i < 4; i++)
        snprintf(path[i], sizeof path[i], "%s/fmnist-%s-ubyte.gz", argv[2], names[i]);
    nb_dataset *train = m ? nb_idx_load_u8(path[0], path[1], &err) : NULL;
    nb_dataset *test = train ? nb_idx_load_u8(path[2], path[3], &err) : NULL;
    if (!test || nb_model_file_scale(m, train, &err) != NB_OK ||
        nb_model_file_scale(m, test, &err) != NB_OK || !add_side(m, train, &err) ||
        !add_side(m, test, &err)) {
        nb_dataset_free(train);
        fprintf(stderr, "mpi_trainer: %s\n", err.message);
        nb_model_file_free(m);
        nb_dist_free(d);
        return 1;
    }
    if (!strcmp(argv[3], "fail-grad"))
        failing_grad(d, 1);
    else if (!strcmp(argv[3], "fail-grad-wide"))
        failing_grad(d, WIDE);
    else if (!strcmp(argv[3], "steps") && argc > 4)
        steps(d, m, train, atoll(argv[4]), 0);
    else if (!strcmp(argv[3], "grow") && argc > 5)
        steps(d, m, train, atoll(argv[4]), atoll(argv[5]));
    else if (!strcmp(argv[3], "early") && argc > 4)
        early(d, m, train, atoll(argv[4]));
    else if (!strcmp(argv[3], "equivalence") && argc > 4)
        equivalence(d, m, train, test, atoll(argv[4]), argc > 5 && !strcmp(argv[5], "overlap"));
    else
        failing_rank(d, m, train, !strcmp(argv[3], "fail-step"));
    float bad = (float)failures;
    nb_dist_allreduce(d, &bad, 1, NULL);
    nb_dataset_free(train);
    nb_dataset_free(test);
    nb_model_file_free(m);
    nb_dist_free(d);
    return bad > 0;
}
