/*
 * backprop_cost.c — the lecture's claim that the gradient costs about as
 * much as the network itself: for MLPs and CNNs of growing size, at batch
 * 64 on random inputs, the time of one forward run (the loss) against one
 * forward + backward run (the loss and every parameter's gradient), and
 * their ratio. Both runtimes are compiled from the same graph: the second
 * one plans the nodes nb_grad appended as well.
 *
 *     backprop_cost [--threads N] [--repeats N] [--batch N] [--only TEXT] [--smoke]
 *
 * Timing: a few warm-up runs, then `repeats` rounds; each round times k
 * forward runs and k forward+backward runs back to back (k chosen so a round
 * takes about 0.2 s), and the table shows the median per-run time over the
 * rounds. --smoke runs each model once, checks that the loss and gradients
 * are finite and prints no times: what the test suite runs to keep the
 * program compiling and working (speed figures never go in tests).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nabla.h"

#define MAX_PARAMS 64
#define MAX_REPEATS 101

typedef nb_node *(*body_fn)(nb_graph *g, nb_node *x, int scale);

/* One benchmarked model: its name, per-example input shape, and body. */
typedef struct model {
    const char *name;
    int64_t c, h, w;        /* input per example: [c, h, w], or [w] when c = h = 0 */
    body_fn body;
    int arg;                /* the body's size argument */
} model;

typedef struct args {
    int threads, repeats;
    int64_t batch;
    const char *only;       /* run models whose name contains this */
    bool smoke;
} args;

/* ---------------------------------------------------------------- models */

/* 784 → hidden … → 10, ReLU hidden layers; arg encodes the hidden widths. */
static nb_node *mlp(nb_graph *g, nb_node *x, int hidden)
{
    int widths[2] = {hidden, 0};
    if (hidden == -1) /* 784-1024-1024-10 */
        widths[0] = widths[1] = 1024;
    nb_node *h = x;
    for (int i = 0; i < 2 && widths[i]; i++)
        h = nb_dense(g, h, (nb_dense_opts){.units = widths[i], .activation = NB_ACT_RELU});
    return nb_dense(g, h, (nb_dense_opts){.units = 10, .name = "logits"});
}

/* LeNet-5 with scale× the filters of each convolution (6 and 16 at 1). */
static nb_node *lenet(nb_graph *g, nb_node *x, int scale)
{
    nb_node *h = nb_conv2d(g, x, (nb_conv2d_opts){.filters = 6 * scale, .kernel = 5, .pad = 2,
                                                  .activation = NB_ACT_RELU});
    h = nb_maxpool2d(g, h, (nb_pool2d_opts){.size = 2});
    h = nb_conv2d(g, h, (nb_conv2d_opts){.filters = 16 * scale, .kernel = 5,
                                         .activation = NB_ACT_RELU});
    h = nb_maxpool2d(g, h, (nb_pool2d_opts){.size = 2});
    h = nb_flatten(g, h);
    h = nb_dense(g, h, (nb_dense_opts){.units = 120, .activation = NB_ACT_RELU});
    h = nb_dense(g, h, (nb_dense_opts){.units = 84, .activation = NB_ACT_RELU});
    return nb_dense(g, h, (nb_dense_opts){.units = 10, .name = "logits"});
}

static const model models[] = {
    {"mlp 784-64-10", 0, 0, 784, mlp, 64},
    {"mlp 784-256-10", 0, 0, 784, mlp, 256},
    {"mlp 784-1024-10", 0, 0, 784, mlp, 1024},
    {"mlp 784-1024-1024-10", 0, 0, 784, mlp, -1},
    {"lenet5 (6,16 filters)", 1, 28, 28, lenet, 1},
    {"lenet5 2x (12,32)", 1, 28, 28, lenet, 2},
    {"lenet5 4x (24,64)", 1, 28, 28, lenet, 4},
};

/* ---------------------------------------------------------------- one model */

/* A model built at a batch, with both runtimes and random inputs set. */
typedef struct bench {
    nb_graph *g;
    nb_node *x, *y, *loss;
    nb_node *params[MAX_PARAMS], *grads[MAX_PARAMS];
    int n_params;
    int64_t n_weights;
    nb_runtime *fwd, *fwd_bwd;
    float *xdata, *ydata;
} bench;

static void bench_free(bench *b)
{
    nb_runtime_free(b->fwd);
    nb_runtime_free(b->fwd_bwd);
    nb_graph_free(b->g);
    free(b->xdata);
    free(b->ydata);
}

/* Fails with the graph's message (or `what`) on stderr. */
static bool failed(const bench *b, const model *m, const char *what)
{
    const char *msg = b->g && nb_graph_error(b->g)[0] ? nb_graph_error(b->g) : what;
    fprintf(stderr, "backprop_cost: %s: %s\n", m->name, msg);
    return false;
}

/* Graph, loss, gradients; U[0,1) pixels and random labels 0..9. */
static bool bench_build(bench *b, const model *m, int64_t batch, uint64_t seed)
{
    nb_graph *g = b->g = nb_graph_new();
    if (!g)
        return failed(b, m, "out of memory");
    nb_graph_seed(g, seed);
    nb_graph_set_training(g, true);
    nb_shape xs = m->c ? NB_SHAPE(batch, m->c, m->h, m->w) : NB_SHAPE(batch, m->w);
    b->x = nb_input(g, "x", xs);
    b->y = nb_input(g, "y", NB_SHAPE(batch));
    b->loss = nb_softmax_cross_entropy(g, m->body(g, b->x, m->arg), b->y);
    if (!b->loss)
        return failed(b, m, "build failed");
    for (int i = 0; i < nb_graph_num_params(g) && b->n_params < MAX_PARAMS; i++) {
        nb_node *p = nb_graph_param(g, i);
        b->params[b->n_params++] = p;
        b->n_weights += nb_shape_numel(nb_node_shape(p));
    }
    if (nb_grad(g, b->loss, b->params, b->n_params, b->grads) != NB_OK)
        return failed(b, m, "nb_grad failed");
    return true;
}

/* The two runtimes: loss alone; loss and every gradient. Inputs are set
 * once (input buffers are never reused by the planner). */
static bool bench_compile(bench *b, const model *m, uint64_t seed)
{
    nb_node *outs[1 + MAX_PARAMS] = {b->loss};
    memcpy(outs + 1, b->grads, (size_t)b->n_params * sizeof *outs);
    b->fwd = nb_runtime_new(b->g, outs, 1);
    b->fwd_bwd = b->fwd ? nb_runtime_new(b->g, outs, 1 + b->n_params) : NULL;
    if (!b->fwd_bwd)
        return failed(b, m, "runtime failed");
    int64_t nx = nb_shape_numel(nb_node_shape(b->x)), ny = nb_shape_numel(nb_node_shape(b->y));
    b->xdata = malloc((size_t)nx * sizeof(float));
    b->ydata = malloc((size_t)ny * sizeof(float));
    if (!b->xdata || !b->ydata)
        return failed(b, m, "out of memory");
    nb_rng r = nb_rng_seed(seed + 1);
    for (int64_t i = 0; i < nx; i++)
        b->xdata[i] = nb_rng_uniform(&r);
    for (int64_t i = 0; i < ny; i++)
        b->ydata[i] = (float)nb_rng_below(&r, 10);
    nb_runtime *rts[2] = {b->fwd, b->fwd_bwd};
    for (int k = 0; k < 2; k++)
        if (nb_runtime_set_input(rts[k], b->x, b->xdata) != NB_OK ||
            nb_runtime_set_input(rts[k], b->y, b->ydata) != NB_OK) {
            fprintf(stderr, "backprop_cost: %s: %s\n", m->name, nb_runtime_error(rts[k]));
            return false;
        }
    return true;
}

static bool run(nb_runtime *rt, const model *m)
{
    if (nb_runtime_run(rt) == NB_OK)
        return true;
    fprintf(stderr, "backprop_cost: %s: %s\n", m->name, nb_runtime_error(rt));
    return false;
}

/* Both runtimes once: the same finite loss, finite gradients. */
static bool bench_check(bench *b, const model *m)
{
    if (!run(b->fwd, m) || !run(b->fwd_bwd, m))
        return false;
    double l1 = nb_runtime_value(b->fwd, b->loss)[0], l2 = nb_runtime_value(b->fwd_bwd, b->loss)[0];
    bool ok = isfinite(l1) && fabs(l1 - l2) <= 1e-5 * (1 + fabs(l1));
    for (int i = 0; ok && i < b->n_params; i++) {
        const float *d = nb_runtime_value(b->fwd_bwd, b->grads[i]);
        for (int64_t j = 0; ok && j < nb_shape_numel(nb_node_shape(b->params[i])); j++)
            ok = isfinite(d[j]);
    }
    if (!ok)
        fprintf(stderr, "backprop_cost: %s: loss %g / %g or a gradient is not finite\n", m->name,
                l1, l2);
    return ok;
}

/* ---------------------------------------------------------------- timing */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Seconds per run over k runs. */
static double time_runs(nb_runtime *rt, const model *m, int k)
{
    double t0 = now();
    for (int i = 0; i < k; i++)
        if (!run(rt, m))
            return NAN;
    return (now() - t0) / k;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Median seconds per forward and per forward+backward run. Warm-up runs
 * also size k: about 0.1 s of each kind per round. */
static bool bench_time(bench *b, const model *m, int repeats, double *fwd, double *fb)
{
    double warm = time_runs(b->fwd_bwd, m, 3);
    if (isnan(warm) || isnan(time_runs(b->fwd, m, 3)))
        return false;
    int k = warm > 0 ? (int)(0.1 / warm) : 1000;
    k = k < 1 ? 1 : k > 1000 ? 1000 : k;
    double tf[MAX_REPEATS], tb[MAX_REPEATS];
    for (int r = 0; r < repeats; r++) {
        tf[r] = time_runs(b->fwd, m, k);
        tb[r] = time_runs(b->fwd_bwd, m, k);
        if (isnan(tf[r]) || isnan(tb[r]))
            return false;
    }
    *fwd = median(tf, repeats);
    *fb = median(tb, repeats);
    return true;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *out)
{
    fprintf(out, "usage: backprop_cost [--threads N] [--repeats N] [--batch N] [--only TEXT] "
                 "[--smoke]\n"
                 "  --threads N  threads for nabla and OpenBLAS (default 0: every core)\n"
                 "  --repeats N  timed rounds per model, median reported (default 7, max %d)\n"
                 "  --batch N    examples per run (default 64)\n"
                 "  --only TEXT  only the models whose name contains TEXT (\"mlp\", \"lenet\")\n"
                 "  --smoke      run each model once and check it; print no times\n",
                 MAX_REPEATS);
}

/* A whole number in [lo, hi] from text, or false. */
static bool whole(const char *text, long lo, long hi, long *out)
{
    char *end = NULL;
    long v = text ? strtol(text, &end, 10) : 0;
    if (!text || !*text || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* 0: run; 1: help printed; 2: a bad option (said on stderr). */
static int parse(int argc, char **argv, args *a)
{
    for (int i = 1; i < argc; i++) {
        long v = 0;
        const char *o = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--smoke")) {
            a->smoke = true;
        } else if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(o, "--threads") && whole(val, 0, 4096, &v)) {
            a->threads = (int)v;
            i++;
        } else if (!strcmp(o, "--repeats") && whole(val, 1, MAX_REPEATS, &v)) {
            a->repeats = (int)v;
            i++;
        } else if (!strcmp(o, "--only") && val) {
            a->only = val;
            i++;
        } else if (!strcmp(o, "--batch") && whole(val, 1, 100000, &v)) {
            a->batch = v;
            i++;
        } else {
            fprintf(stderr, "backprop_cost: bad option or value: %s%s%s\n", o, val ? " " : "",
                    val && strncmp(val, "--", 2) ? val : "");
            usage(stderr);
            return 2;
        }
    }
    return 0;
}

/* Builds, checks and (unless smoke) times one model; prints its row. */
static bool bench_model(const model *m, const args *a, uint64_t seed)
{
    bench b = {0};
    bool ok = bench_build(&b, m, a->batch, seed) && bench_compile(&b, m, seed) &&
              bench_check(&b, m);
    double fwd = 0, fb = 0;
    if (ok && !a->smoke)
        ok = bench_time(&b, m, a->repeats, &fwd, &fb);
    int steps_f = ok ? nb_runtime_num_steps(b.fwd) : 0;
    int steps_b = ok ? nb_runtime_num_steps(b.fwd_bwd) - steps_f : 0;
    if (ok && a->smoke)
        printf("%-22s %10lld  ok (%d forward + %d backward steps)\n", m->name,
               (long long)b.n_weights, steps_f, steps_b);
    else if (ok)
        printf("%-22s %10lld %10.3f %13.3f %7.2f\n", m->name, (long long)b.n_weights, fwd * 1e3,
               fb * 1e3, fb / fwd);
    fflush(stdout);
    bench_free(&b);
    return ok;
}

int main(int argc, char **argv)
{
    args a = {.repeats = 7, .batch = 64};
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc == 1 ? 0 : 2;
    nb_set_threads(a.threads);
    printf("# forward (loss) vs forward+backward (loss and every parameter gradient)\n"
           "# batch %lld, random inputs, %d thread(s)%s\n",
           (long long)a.batch, nb_get_threads(),
           a.smoke ? ", smoke run (no timing)" : "");
    if (a.smoke)
        printf("%-22s %10s  %s\n", "model", "params", "check");
    else
        printf("# median of %d rounds; times per run in ms\n%-22s %10s %10s %13s %7s\n",
               a.repeats, "model", "params", "forward", "fwd+backward", "ratio");
    int failures = 0;
    for (size_t i = 0; i < sizeof models / sizeof *models; i++)
        if (!a.only || strstr(models[i].name, a.only))
            failures += !bench_model(&models[i], &a, 42 + i);
    return failures ? 1 : 0;
}
