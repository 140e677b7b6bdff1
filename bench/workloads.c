/*
 * workloads.c — nabla's side of the PyTorch comparison, one workload per
 * run, each matching a PyTorch reference script in bench/peers:
 *
 *     workloads <name> --threads N [--epochs E] [--steps S] [--seed S] [--data DIR]
 *               [--limit N]
 *
 *   mlp        MLP 784-256-10 (ReLU), softmax CE, SGD lr 0.02 momentum 0.9,
 *              batch 64, shuffled, E epochs over Fashion-MNIST (torch_mlp.py)
 *   lenet5     LeNet-5 of examples/models/lenet5.yaml, same training (torch_cnn.py)
 *   lstm       a character-level language model: token ids [32, 64] (vocab
 *              96, synthetic seeded tokens) → embedding 64 → LSTM 128 over
 *              the whole sequence → dense 96 at every step, softmax CE over
 *              all 32·64 predictions, plain SGD lr 0.5, S steps (100, one
 *              "epoch"): seconds and steps per second (torch_lstm.py)
 *   lstm_seq   Fashion-MNIST row by row (28 steps of 28 pixels) → LSTM 128
 *              → dense 10, Adam lr 0.002, clip_norm 5, batch 64, E epochs
 *              (torch_lstm.py --task seq)
 *   tiny       XOR 2-2-1 (tanh, sigmoid, mean squared error), batch 4,
 *              SGD lr 0.5, S steps (20000): steps per second, wall and CPU time
 *              (torch_tiny.py)
 *   mlp_b1     the MLP at batch 1, lr 0.01 momentum 0.9, S steps (20000)
 *              over a shuffled order: steps per second (torch_tiny.py)
 *   dense1024  a dense layer 1024→1024 at batch 256, forward + backward
 *              (three GEMMs), against the same three cblas_sgemm calls
 *   fwdbwd     forward + backward time over forward time, MLP and LeNet-5
 *              at batch 64 (random data): medians of 41 interleaved rounds,
 *              5·S runs of each in all (S: --steps, 200 MLP, 40 LeNet-5)
 *   memory     planned against no-reuse bytes of the training step,
 *              MLP and LeNet-5 at batch 64
 *
 * Only the training loop is timed: not data loading, building, nor the
 * test pass. The last line printed is key=value fields, like the PyTorch
 * scripts' ("mlp threads=1 epoch_s=0.81 test_acc=0.86 steps_per_s=1155");
 * lines before it start with '#'. Exit status 0 on success, 1 on an error
 * (message on stderr), 2 on bad arguments.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nabla.h"

typedef struct args {
    const char *name;
    int threads;
    int epochs;
    int64_t steps;   /* 0: the workload's default */
    uint64_t seed;
    const char *dir;
    int64_t limit;   /* mlp, lenet5, lstm_seq: the first N training examples (0: all) */
} args;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The process's CPU time: steadier than wall time on a loaded machine. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int usage(void)
{
    fprintf(stderr, "usage: workloads mlp|lenet5|lstm|lstm_seq|tiny|mlp_b1|dense1024|fwdbwd|"
                    "memory [--threads N] [--epochs E] [--steps S] [--seed S] [--data DIR] "
                    "[--limit N]\n");
    return 2;
}

/* Parses argv into *a over its defaults; false on anything unknown. */
static bool parse(int argc, char **argv, args *a)
{
    if (argc < 2 || argv[1][0] == '-')
        return false;
    a->name = argv[1];
    for (int i = 2; i < argc; i++) {
        if (i + 1 >= argc)
            return false;
        const char *k = argv[i], *v = argv[++i];
        if (!strcmp(k, "--threads"))
            a->threads = atoi(v);
        else if (!strcmp(k, "--epochs"))
            a->epochs = atoi(v);
        else if (!strcmp(k, "--steps"))
            a->steps = atoll(v);
        else if (!strcmp(k, "--seed"))
            a->seed = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--data"))
            a->dir = v;
        else if (!strcmp(k, "--limit"))
            a->limit = atoll(v);
        else
            return false;
    }
    return a->threads >= 1 && a->epochs >= 1 && a->steps >= 0 && a->limit >= 0;
}

/* ---------------------------------------------------------------- models */

/* MLP 784-256-10 with ReLU; loss softmax cross-entropy. */
static nb_status build_mlp(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 28, 28));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_dense(g, nb_flatten(g, io->x),
                          (nb_dense_opts){.units = 256, .activation = NB_ACT_RELU});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 10, .name = "logits"});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

/* LeNet-5 as examples/models/lenet5.yaml has it. */
static nb_status build_lenet5(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 28, 28));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_conv2d(g, io->x, (nb_conv2d_opts){.filters = 6, .kernel = 5, .pad = 2,
                                                      .activation = NB_ACT_RELU});
    h = nb_maxpool2d(g, h, (nb_pool2d_opts){.size = 2});
    h = nb_conv2d(g, h, (nb_conv2d_opts){.filters = 16, .kernel = 5, .activation = NB_ACT_RELU});
    h = nb_maxpool2d(g, h, (nb_pool2d_opts){.size = 2});
    h = nb_flatten(g, h);
    h = nb_dense(g, h, (nb_dense_opts){.units = 120, .activation = NB_ACT_RELU});
    h = nb_dense(g, h, (nb_dense_opts){.units = 84, .activation = NB_ACT_RELU});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 10, .name = "logits"});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

/* Fashion-MNIST as 28 steps of 28 pixels into an LSTM of 128 units whose
 * last state a dense layer classifies (examples/models/fashion_lstm.yaml). */
static nb_status build_lstm_seq(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 28, 28));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_reshape(g, io->x, NB_SHAPE(batch, 28, 28));
    h = nb_lstm(g, h, (nb_rnn_opts){.hidden = 128, .name = "lstm1"});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 10, .name = "logits"});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

/* The character-level language model's sizes. */
enum { LM_VOCAB = 96, LM_SEQ = 64, LM_EMBED = 64, LM_HIDDEN = 128, LM_BATCH = 32 };

/* Token ids [N, T] → embedding → LSTM over every step → dense at every
 * step; the loss is the mean cross-entropy over all N·T predictions of the
 * next token (labels [N, T]). */
static nb_status build_lstm_lm(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, LM_SEQ));
    io->y = nb_input(g, "y", NB_SHAPE(batch, LM_SEQ));
    nb_node *h = nb_embedding(g, io->x, (nb_embedding_opts){.vocab = LM_VOCAB, .dim = LM_EMBED,
                                                            .name = "embed"});
    h = nb_lstm(g, h, (nb_rnn_opts){.hidden = LM_HIDDEN, .sequence = true, .name = "lstm1"});
    h = nb_dense(g, h, (nb_dense_opts){.units = LM_VOCAB, .name = "logits"});
    io->output = nb_reshape(g, h, NB_SHAPE(batch * LM_SEQ, LM_VOCAB));
    io->loss = nb_softmax_cross_entropy(g, io->output,
                                        nb_reshape(g, io->y, NB_SHAPE(batch * LM_SEQ)));
    return nb_graph_status(g);
}

/* XOR 2-2-1: tanh hidden, sigmoid output, mean squared error (PyTorch's
 * MSELoss: the mean over elements, no ½). */
static nb_status build_xor(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 2));
    io->y = nb_input(g, "y", NB_SHAPE(batch, 1));
    nb_node *h = nb_dense(g, io->x, (nb_dense_opts){.units = 2, .activation = NB_ACT_TANH});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 1, .activation = NB_ACT_SIGMOID});
    nb_node *d = nb_sub(g, io->output, io->y);
    io->loss = nb_mean(g, nb_mul(g, d, d), NULL, 0, false);
    return nb_graph_status(g);
}

/* ---------------------------------------------------------------- data */

/* The Fashion-MNIST splits as byte datasets (a quarter of the memory of
 * floats; the trainer converts each minibatch). */
static bool load(const args *a, nb_dataset **train, nb_dataset **test)
{
    char xi[512], yi[512];
    nb_error err = {0};
    snprintf(xi, sizeof xi, "%s/train-images-idx3-ubyte.gz", a->dir);
    snprintf(yi, sizeof yi, "%s/train-labels-idx1-ubyte.gz", a->dir);
    *train = nb_idx_load_u8(xi, yi, &err);
    if (*train && test) {
        snprintf(xi, sizeof xi, "%s/t10k-images-idx3-ubyte.gz", a->dir);
        snprintf(yi, sizeof yi, "%s/t10k-labels-idx1-ubyte.gz", a->dir);
        *test = nb_idx_load_u8(xi, yi, &err);
    }
    if (*train && (!test || *test) && a->limit > 0 && a->limit < (*train)->n) {
        nb_dataset *head = nb_dataset_slice(*train, 0, a->limit, &err);
        nb_dataset_free(*train);
        *train = head;
    }
    if (!*train || (test && !*test)) {
        fprintf(stderr, "workloads: %s\n", err.message);
        nb_dataset_free(*train);
        if (test)
            nb_dataset_free(*test);
        return false;
    }
    return true;
}

static nb_trainer *trainer(nb_model_fn build, nb_shape shape, int64_t y_width, const args *a,
                           int64_t batch, float lr, float momentum)
{
    nb_train_opts o = {.batch = batch, .epochs = a->epochs, .seed = a->seed,
                       .optimizer = {.kind = NB_OPT_SGD, .lr = lr, .momentum = momentum}};
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(build, NULL, shape, y_width, &o, &err);
    if (!t)
        fprintf(stderr, "workloads: %s\n", err.message);
    return t;
}

/* ---------------------------------------------------------------- epochs */

typedef struct epoch_clock {
    double seconds; /* training time summed over epochs */
    int64_t steps;
} epoch_clock;

static void on_epoch(const nb_progress *p, void *ud)
{
    epoch_clock *c = ud;
    c->seconds += p->seconds;
    c->steps += p->step;
}

/* mlp, lenet5 and lstm_seq: E epochs of minibatches of 64 with the given
 * optimiser (and gradient clipping when clip > 0), then the test accuracy. */
static int run_epochs(const args *a, nb_model_fn build, nb_optimizer_opts opt, float clip)
{
    nb_dataset *train = NULL, *test = NULL;
    if (!load(a, &train, &test))
        return 1;
    epoch_clock c = {0};
    nb_train_opts o = {.batch = 64, .epochs = a->epochs, .seed = a->seed, .optimizer = opt,
                       .clip_norm = clip, .on_epoch = on_epoch, .ud = &c};
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(build, NULL, train->shape, 1, &o, &err);
    double acc = 0, loss = 0, cpu = cpu_now();
    int rc = 0;
    nb_status st = t ? nb_trainer_fit(t, train, NULL) : NB_OK;
    cpu = cpu_now() - cpu;
    if (!t) {
        fprintf(stderr, "workloads: %s\n", err.message);
        rc = 1;
    } else if (st != NB_OK || nb_trainer_evaluate(t, test, &loss, &acc) != NB_OK) {
        fprintf(stderr, "workloads: %s\n", nb_trainer_error(t));
        rc = 1;
    } else {
        printf("# %s: steps=%lld train_s=%.3f test_loss=%.4f\n", a->name, (long long)c.steps,
               c.seconds, loss);
        printf("%s threads=%d epoch_s=%.3f test_acc=%.4f steps_per_s=%.1f cpu_s=%.3f\n",
               a->name, a->threads, c.seconds / a->epochs, acc, (double)c.steps / c.seconds, cpu);
    }
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_dataset_free(test);
    return rc;
}

/* ---------------------------------------------------------------- steps */

static int run_tiny(const args *a)
{
    static const float x[] = {0, 0, 0, 1, 1, 0, 1, 1}, y[] = {0, 1, 1, 0};
    int64_t steps = a->steps ? a->steps : 20000;
    nb_trainer *t = trainer(build_xor, NB_SHAPE(2), 1, a, 4, 0.5f, 0.0f);
    if (!t)
        return 1;
    double loss = 0, t0 = now(), c0 = cpu_now();
    for (int64_t s = 0; s < steps; s++)
        if (nb_trainer_step(t, x, y, 4, &loss) != NB_OK) {
            fprintf(stderr, "workloads: %s\n", nb_trainer_error(t));
            nb_trainer_free(t);
            return 1;
        }
    double dt = now() - t0, cpu = cpu_now() - c0;
    nb_trainer_free(t);
    if (!isfinite(loss)) {
        fprintf(stderr, "workloads: tiny: the loss is %g\n", loss);
        return 1;
    }
    printf("# tiny: steps=%lld s=%.3f\n", (long long)steps, dt);
    printf("tiny threads=%d steps_per_s=%.0f final_loss=%.6f cpu_s=%.3f cpu_steps_per_s=%.0f\n",
           a->threads, (double)steps / dt, loss, cpu, (double)steps / cpu);
    return 0;
}

/* Synthetic text for the language model: each row a walk in which the next
 * token is 5·t + 1 + r mod 96, r uniform in 0…3 (2 bits a character to
 * learn; the speed does not depend on the text). x gets tokens 0…T−1 of
 * each row and y tokens 1…T, rows × (T + 1) drawn in all. */
static void lm_batch(nb_rng *rng, int64_t rows, float *x, float *y)
{
    for (int64_t r = 0; r < rows; r++) {
        uint64_t tok = nb_rng_below(rng, LM_VOCAB);
        for (int t = 0; t <= LM_SEQ; t++) {
            if (t < LM_SEQ)
                x[r * LM_SEQ + t] = (float)tok;
            if (t > 0)
                y[r * LM_SEQ + t - 1] = (float)tok;
            tok = (5 * tok + 1 + nb_rng_below(rng, 4)) % LM_VOCAB;
        }
    }
}

/* lstm: S steps of plain SGD through nb_trainer_step on batches drawn
 * before the clock starts. */
static int run_lstm_lm(const args *a)
{
    int64_t steps = a->steps ? a->steps : 100, per = (int64_t)LM_BATCH * LM_SEQ;
    nb_trainer *t = trainer(build_lstm_lm, NB_SHAPE(LM_SEQ), LM_SEQ, a, LM_BATCH, 0.5f, 0.0f);
    float *x = malloc((size_t)(steps * per) * sizeof *x),
          *y = malloc((size_t)(steps * per) * sizeof *y);
    int rc = !t || !x || !y;
    nb_rng rng = nb_rng_seed(a->seed + 11);
    if (!rc)
        lm_batch(&rng, steps * LM_BATCH, x, y);
    double loss = 0, first = 0, t0 = now(), c0 = cpu_now();
    for (int64_t s = 0; s < steps && !rc; s++) {
        if (nb_trainer_step(t, x + s * per, y + s * per, LM_BATCH, &loss) != NB_OK) {
            fprintf(stderr, "workloads: %s\n", nb_trainer_error(t));
            rc = 1;
        }
        if (s == 0)
            first = loss;
    }
    double dt = now() - t0, cpu = cpu_now() - c0;
    if (!rc && !isfinite(loss)) {
        fprintf(stderr, "workloads: lstm: the loss is %g\n", loss);
        rc = 1;
    }
    if (!rc) {
        printf("# lstm: batch %d, sequence %d, steps=%lld s=%.3f first_loss=%.4f\n", LM_BATCH,
               LM_SEQ, (long long)steps, dt, first);
        printf("lstm threads=%d epoch_s=%.3f steps_per_s=%.2f final_loss=%.4f cpu_s=%.3f\n",
               a->threads, dt, (double)steps / dt, loss, cpu);
    }
    nb_trainer_free(t);
    free(x);
    free(y);
    return rc;
}

static int run_mlp_b1(const args *a)
{
    int64_t steps = a->steps ? a->steps : 20000;
    nb_dataset *train;
    if (!load(a, &train, NULL))
        return 1;
    nb_trainer *t = trainer(build_mlp, train->shape, 1, a, 1, 0.01f, 0.9f);
    int64_t *order = malloc((size_t)train->n * sizeof *order);
    float *x = malloc((size_t)nb_shape_numel(train->shape) * sizeof *x), y;
    if (!t || !order || !x) {
        nb_trainer_free(t);
        nb_dataset_free(train);
        free(order);
        free(x);
        return 1;
    }
    for (int64_t i = 0; i < train->n; i++)
        order[i] = i;
    nb_rng rng = nb_rng_seed(a->seed + 1);
    nb_rng_shuffle(&rng, order, train->n);
    double loss = 0, t0 = now();
    int rc = 0;
    for (int64_t s = 0; s < steps && rc == 0; s++) {
        /* The example as floats (the dataset is bytes), as the trainer
         * stages a minibatch; e < train->n, so the gather cannot refuse. */
        nb_dataset_gather(train, &order[s % train->n], 0, 1, x, &y, NULL);
        if (nb_trainer_step(t, x, &y, 1, &loss) != NB_OK) {
            fprintf(stderr, "workloads: %s\n", nb_trainer_error(t));
            rc = 1;
        }
    }
    double dt = now() - t0;
    if (rc == 0) {
        printf("# mlp_b1: steps=%lld s=%.3f last_loss=%.4f\n", (long long)steps, dt, loss);
        printf("mlp_b1 threads=%d steps_per_s=%.0f\n", a->threads, (double)steps / dt);
    }
    nb_trainer_free(t);
    nb_dataset_free(train);
    free(order);
    free(x);
    return rc;
}

/* ---------------------------------------------------------------- graphs for timing */

/* A model built into a plain graph at batch 64 with random inputs, and two
 * runtimes: the forward pass alone (the loss) and the training step (the
 * loss and every parameter's gradient). */
typedef struct step_pair {
    nb_graph *g;
    nb_runtime *fwd, *train;
} step_pair;

static void pair_free(step_pair *p)
{
    nb_runtime_free(p->fwd);
    nb_runtime_free(p->train);
    nb_graph_free(p->g);
}

static bool pair_build(nb_model_fn build, int64_t batch, uint64_t seed, step_pair *p)
{
    nb_model_io io = {0};
    nb_node *params[64], *grads[65];
    *p = (step_pair){.g = nb_graph_new()};
    if (!p->g)
        return false;
    nb_graph_seed(p->g, seed);
    nb_graph_set_training(p->g, true);
    if (build(p->g, batch, &io, NULL) != NB_OK)
        goto fail;
    int n = nb_graph_num_params(p->g);
    if (n > 64)
        n = 64;
    for (int i = 0; i < n; i++)
        params[i] = nb_graph_param(p->g, i);
    if (nb_grad(p->g, io.loss, params, n, grads + 1) != NB_OK)
        goto fail;
    grads[0] = io.loss;
    p->fwd = nb_runtime_new(p->g, &io.loss, 1);
    p->train = nb_runtime_new(p->g, grads, n + 1);
    if (!p->fwd || !p->train)
        goto fail;
    nb_shape xs = nb_node_shape(io.x);
    int64_t nx = nb_shape_numel(xs);
    float *x = malloc((size_t)nx * sizeof *x), *y = malloc((size_t)batch * sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        goto fail;
    }
    nb_rng rng = nb_rng_seed(seed + 7);
    for (int64_t i = 0; i < nx; i++)
        x[i] = nb_rng_uniform(&rng);
    for (int64_t i = 0; i < batch; i++)
        y[i] = (float)nb_rng_below(&rng, 10);
    bool ok = nb_runtime_set_input(p->fwd, io.x, x) == NB_OK &&
              nb_runtime_set_input(p->fwd, io.y, y) == NB_OK &&
              nb_runtime_set_input(p->train, io.x, x) == NB_OK &&
              nb_runtime_set_input(p->train, io.y, y) == NB_OK;
    free(x);
    free(y);
    if (ok)
        return true;
fail:
    fprintf(stderr, "workloads: %s\n", nb_graph_error(p->g));
    pair_free(p);
    return false;
}

/* Ascending order of doubles, for qsort. */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Rounds of each runtime in fwdbwd (odd: the median is the middle one),
 * and the rounds of `iters` runs whose runs they share out. */
#define PAIR_ROUNDS 41
#define PAIR_RUNS_OF 5

/* Seconds per run of one round of `iters` runs of rt. */
static double time_round(nb_runtime *rt, int iters)
{
    double t0 = now();
    for (int i = 0; i < iters; i++)
        nb_runtime_run(rt);
    return (now() - t0) / iters;
}

/*
 * Median seconds per run of the forward (*f) and the training step (*fb):
 * PAIR_RUNS_OF·iters runs of each, in PAIR_ROUNDS short rounds interleaved
 * (forward, training, forward, training, …), each the plain median of its
 * own rounds' times. Timed as two blocks (five forward rounds of `iters`,
 * then five training rounds) the machine's speed drifting between the
 * blocks moved LeNet-5's ratio by ± 0.5 from run to run on a loaded
 * machine (1.58–3.84 over 22 runs at load 2–13); five interleaved rounds
 * did no better (2.04–4.66 over 16), 41 short ones held it to 2.26–2.83
 * (14 runs at load 6–13; docs/performance.md,
 * "LeNet-5's dense input gradient by FMA panels, fwdbwd's interleaved
 * rounds, …"): both medians are taken over the same stretch of time.
 */
static void time_pair(nb_runtime *fwd, nb_runtime *train, int iters, double *f, double *fb)
{
    const int per = (PAIR_RUNS_OF * iters + PAIR_ROUNDS - 1) / PAIR_ROUNDS;
    double rf[PAIR_ROUNDS], rb[PAIR_ROUNDS];
    nb_runtime_run(fwd); /* warm-up */
    nb_runtime_run(train);
    for (int k = 0; k < PAIR_ROUNDS; k++) {
        rf[k] = time_round(fwd, per);
        rb[k] = time_round(train, per);
    }
    qsort(rf, PAIR_ROUNDS, sizeof *rf, cmp_double);
    qsort(rb, PAIR_ROUNDS, sizeof *rb, cmp_double);
    *f = rf[PAIR_ROUNDS / 2];
    *fb = rb[PAIR_ROUNDS / 2];
}

static int run_fwdbwd(const args *a)
{
    static const struct {
        const char *name;
        nb_model_fn build;
        int iters;
    } m[] = {{"mlp", build_mlp, 200}, {"lenet5", build_lenet5, 40}};
    char line[512];
    int at = snprintf(line, sizeof line, "fwdbwd threads=%d", a->threads);
    for (int k = 0; k < 2; k++) {
        step_pair p;
        if (!pair_build(m[k].build, 64, a->seed, &p))
            return 1;
        int iters = a->steps ? (int)a->steps : m[k].iters;
        double f, fb;
        time_pair(p.fwd, p.train, iters, &f, &fb);
        printf("# %s: forward %d steps, forward+backward %d steps\n", m[k].name,
               nb_runtime_num_steps(p.fwd), nb_runtime_num_steps(p.train));
        at += snprintf(line + at, sizeof line - (size_t)at, " %s_fwd_ms=%.3f %s_fwdbwd_ms=%.3f %s_ratio=%.2f",
                       m[k].name, 1e3 * f, m[k].name, 1e3 * fb, m[k].name, fb / f);
        pair_free(&p);
    }
    printf("%s\n", line);
    return 0;
}

static int run_memory(const args *a)
{
    static const struct {
        const char *name;
        nb_model_fn build;
    } m[] = {{"mlp", build_mlp}, {"lenet5", build_lenet5}};
    char line[512];
    int at = snprintf(line, sizeof line, "memory threads=%d", a->threads);
    for (int k = 0; k < 2; k++) {
        step_pair p;
        if (!pair_build(m[k].build, 64, a->seed, &p))
            return 1;
        double planned = (double)nb_runtime_planned_bytes(p.train),
               naive = (double)nb_runtime_naive_bytes(p.train);
        at += snprintf(line + at, sizeof line - (size_t)at,
                       " %s_planned_mb=%.2f %s_naive_mb=%.2f %s_ratio=%.3f", m[k].name,
                       planned / 1048576.0, m[k].name, naive / 1048576.0, m[k].name,
                       naive > 0 ? planned / naive : 0.0);
        pair_free(&p);
    }
    printf("%s\n", line);
    return 0;
}

/* ---------------------------------------------------------------- dense 1024 */

/* The three GEMMs of a dense layer's training step, x [B,K], w [K,N]:
 * y = x·w, dw = xᵀ·dy, dx = dy·wᵀ, done by cblas_sgemm directly. */
static void raw_gemms(int B, int K, int N, const float *x, const float *w, const float *dy,
                      float *y, float *dw, float *dx)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, N, K, 1, x, K, w, N, 0, y, N);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, B, 1, x, K, dy, N, 0, dw, N);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, K, N, 1, dy, N, w, N, 0, dx, K);
}

static int run_dense1024(const args *a)
{
    enum { B = 256, K = 1024, N = 1024, ROUNDS = 7 };
    int iters = a->steps ? (int)a->steps : 20;
    double flops = 3.0 * 2.0 * B * K * N;
    nb_graph *g = nb_graph_new();
    if (!g)
        return 1;
    nb_graph_seed(g, a->seed);
    float *buf = malloc(sizeof(float) * ((size_t)B * K * 2 + (size_t)K * N * 2 + (size_t)B * N * 2));
    if (!buf) {
        nb_graph_free(g);
        return 1;
    }
    float *x = buf, *dx = x + (size_t)B * K, *w = dx + (size_t)B * K, *dw = w + (size_t)K * N,
          *y = dw + (size_t)K * N, *dy = y + (size_t)B * N;
    nb_rng rng = nb_rng_seed(a->seed + 3);
    for (size_t i = 0; i < (size_t)B * K; i++)
        x[i] = nb_rng_uniform(&rng) - 0.5f;
    for (size_t i = 0; i < (size_t)K * N; i++)
        w[i] = (nb_rng_uniform(&rng) - 0.5f) * 0.06f;
    for (size_t i = 0; i < (size_t)B * N; i++)
        dy[i] = 1.0f;

    /* The layer: xp is a parameter so the step computes dx as well as dw. */
    nb_node *xp = nb_param(g, "x", NB_SHAPE(B, K), x);
    nb_node *out = nb_dense(g, xp, (nb_dense_opts){.units = N, .name = "dense"});
    nb_node *loss = nb_sum(g, out, NULL, 0, false);
    nb_node *wrt[] = {xp, nb_graph_find(g, "dense/w"), nb_graph_find(g, "dense/b")}, *grads[4];
    nb_runtime *rt = NULL;
    if (nb_grad(g, loss, wrt, 3, grads + 1) == NB_OK) {
        grads[0] = loss;
        rt = nb_runtime_new(g, grads, 4);
    }
    if (!rt) {
        fprintf(stderr, "workloads: %s\n", nb_graph_error(g));
        nb_graph_free(g);
        free(buf);
        return 1;
    }
    /* Alternate the two, best round of each (the machine is shared). */
    double best_nb = INFINITY, best_raw = INFINITY;
    nb_runtime_run(rt);
    raw_gemms(B, K, N, x, w, dy, y, dw, dx);
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now();
        for (int i = 0; i < iters; i++)
            raw_gemms(B, K, N, x, w, dy, y, dw, dx);
        double t1 = now();
        for (int i = 0; i < iters; i++)
            nb_runtime_run(rt);
        double t2 = now();
        best_raw = fmin(best_raw, (t1 - t0) / iters);
        best_nb = fmin(best_nb, (t2 - t1) / iters);
    }
    double g_nb = flops / best_nb * 1e-9, g_raw = flops / best_raw * 1e-9;
    printf("# dense1024: batch %d, %d→%d, %d steps in the training runtime, best of %d "
           "rounds of %d\n", B, K, N, nb_runtime_num_steps(rt), ROUNDS, iters);
    printf("dense1024 threads=%d step_ms=%.3f gflops=%.1f sgemm_ms=%.3f sgemm_gflops=%.1f "
           "fraction=%.3f\n", a->threads, 1e3 * best_nb, g_nb, 1e3 * best_raw, g_raw,
           g_nb / g_raw);
    nb_runtime_free(rt);
    nb_graph_free(g);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    args a = {.threads = 1, .epochs = 1, .dir = "/usr/share/datasets/fashion-mnist"};
    if (!parse(argc, argv, &a))
        return usage();
    nb_set_threads(a.threads);
    nb_optimizer_opts sgd = {.kind = NB_OPT_SGD, .lr = 0.02f, .momentum = 0.9f},
                      adam = nb_optimizer_defaults(NB_OPT_ADAM);
    adam.lr = 0.002f;
    if (!strcmp(a.name, "mlp"))
        return run_epochs(&a, build_mlp, sgd, 0);
    if (!strcmp(a.name, "lenet5"))
        return run_epochs(&a, build_lenet5, sgd, 0);
    if (!strcmp(a.name, "lstm_seq"))
        return run_epochs(&a, build_lstm_seq, adam, 5.0f);
    if (!strcmp(a.name, "lstm"))
        return run_lstm_lm(&a);
    if (!strcmp(a.name, "tiny"))
        return run_tiny(&a);
    if (!strcmp(a.name, "mlp_b1"))
        return run_mlp_b1(&a);
    if (!strcmp(a.name, "dense1024"))
        return run_dense1024(&a);
    if (!strcmp(a.name, "fwdbwd"))
        return run_fwdbwd(&a);
    if (!strcmp(a.name, "memory"))
        return run_memory(&a);
    return usage();
}
