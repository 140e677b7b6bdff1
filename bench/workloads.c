/*
 * workloads.c — nabla's side of the PyTorch comparison, one workload per
 * run, each matching a PyTorch reference script in bench/peers:
 *
 *     workloads <name> --threads N [--epochs E] [--steps S] [--seed S] [--data DIR]
 *
 *   mlp        MLP 784-256-10 (ReLU), softmax CE, SGD lr 0.02 momentum 0.9,
 *              batch 64, shuffled, E epochs over Fashion-MNIST (torch_mlp.py)
 *   lenet5     LeNet-5 of examples/models/lenet5.yaml, same training (torch_cnn.py)
 *   tiny       XOR 2-2-1 (tanh, sigmoid, mean squared error), batch 4,
 *              SGD lr 0.5, S steps (20000): steps per second (torch_tiny.py)
 *   mlp_b1     the MLP at batch 1, lr 0.01 momentum 0.9, S steps (20000)
 *              over a shuffled order: steps per second (torch_tiny.py)
 *   dense1024  a dense layer 1024→1024 at batch 256, forward + backward
 *              (three GEMMs), against the same three cblas_sgemm calls
 *   fwdbwd     forward + backward time over forward time, MLP and LeNet-5
 *              at batch 64 (random data)
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
} args;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int usage(void)
{
    fprintf(stderr, "usage: workloads mlp|lenet5|tiny|mlp_b1|dense1024|fwdbwd|memory "
                    "[--threads N] [--epochs E] [--steps S] [--seed S] [--data DIR]\n");
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
        else
            return false;
    }
    return a->threads >= 1 && a->epochs >= 1 && a->steps >= 0;
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
    if (!*train || (test && !*test)) {
        fprintf(stderr, "workloads: %s\n", err.message);
        nb_dataset_free(*train);
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

/* mlp and lenet5: E epochs of minibatch SGD, then the test accuracy. */
static int run_epochs(const args *a, nb_model_fn build)
{
    nb_dataset *train, *test;
    if (!load(a, &train, &test))
        return 1;
    epoch_clock c = {0};
    nb_train_opts o = {.batch = 64, .epochs = a->epochs, .seed = a->seed,
                       .optimizer = {.kind = NB_OPT_SGD, .lr = 0.02f, .momentum = 0.9f},
                       .on_epoch = on_epoch, .ud = &c};
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(build, NULL, train->shape, 1, &o, &err);
    double acc = 0, loss = 0;
    int rc = 0;
    if (!t) {
        fprintf(stderr, "workloads: %s\n", err.message);
        rc = 1;
    } else if (nb_trainer_fit(t, train, NULL) != NB_OK ||
               nb_trainer_evaluate(t, test, &loss, &acc) != NB_OK) {
        fprintf(stderr, "workloads: %s\n", nb_trainer_error(t));
        rc = 1;
    } else {
        printf("# %s: steps=%lld train_s=%.3f test_loss=%.4f\n", a->name, (long long)c.steps,
               c.seconds, loss);
        printf("%s threads=%d epoch_s=%.3f test_acc=%.4f steps_per_s=%.1f\n", a->name,
               a->threads, c.seconds / a->epochs, acc, (double)c.steps / c.seconds);
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
    double loss = 0, t0 = now();
    for (int64_t s = 0; s < steps; s++)
        if (nb_trainer_step(t, x, y, 4, &loss) != NB_OK) {
            fprintf(stderr, "workloads: %s\n", nb_trainer_error(t));
            nb_trainer_free(t);
            return 1;
        }
    double dt = now() - t0;
    nb_trainer_free(t);
    if (!isfinite(loss)) {
        fprintf(stderr, "workloads: tiny: the loss is %g\n", loss);
        return 1;
    }
    printf("# tiny: steps=%lld s=%.3f\n", (long long)steps, dt);
    printf("tiny threads=%d steps_per_s=%.0f final_loss=%.6f\n", a->threads, (double)steps / dt,
           loss);
    return 0;
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

/* Median seconds per run of rt over `rounds` rounds of `iters` runs. */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double time_runs(nb_runtime *rt, int iters)
{
    enum { ROUNDS = 5 };
    double r[ROUNDS];
    nb_runtime_run(rt); /* warm-up */
    for (int k = 0; k < ROUNDS; k++) {
        double t0 = now();
        for (int i = 0; i < iters; i++)
            nb_runtime_run(rt);
        r[k] = (now() - t0) / iters;
    }
    qsort(r, ROUNDS, sizeof *r, cmp_double);
    return r[ROUNDS / 2];
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
        double f = time_runs(p.fwd, iters), fb = time_runs(p.train, iters);
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
    if (!strcmp(a.name, "mlp"))
        return run_epochs(&a, build_mlp);
    if (!strcmp(a.name, "lenet5"))
        return run_epochs(&a, build_lenet5);
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
