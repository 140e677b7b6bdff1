/*
 * xor.c — a 2-2-1 network learns XOR by stochastic gradient descent.
 *
 *     h = tanh(x·W1 + b1)        x [1,2], W1 [2,2], b1 [2]
 *     a = sigmoid(h·W2 + b2)     W2 [2,1], b2 [1]
 *     ε = ½(a - y)²              the loss on one example
 *
 * One neuron cannot compute XOR (see neuron_logic.c); two layers can, and
 * here they find the weights themselves. The network is written by hand with
 * the graph API; nb_grad appends the backward pass, and one runtime computes
 * the loss and all four gradients per step. Training is the lecture's SGD:
 * take the examples in a shuffled order, step every parameter against its
 * gradient (w -= lr·∂ε/∂w, in place through nb_param_data), and follow the
 * running loss estimate Q = (1 - η)Q + ηε, started at the mean loss.
 *
 * The squared loss of a 2-2-1 net has local minima: about one start in three
 * settles with two or three inputs right and Q stuck near 0.13 or 0.07. Then,
 * as the lecture suggests, we start again from new random weights.
 *
 * Usage: xor [seed]. Deterministic for a given seed. Exits 0 only when all
 * four inputs are classified right; the last line reads
 * "xor: loss=<Q> correct=<k>/4".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "nabla.h"

#define LR 0.5f          /* SGD step */
#define ETA 0.01         /* smoothing of the running loss estimate Q */
#define STEPS 4000       /* per start: 1000 passes over the four examples */
#define PRINT_EVERY 500
#define MAX_STARTS 8

static const float xs[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
static const float ys[4] = {0, 1, 1, 0};

/* ---------------------------------------------------------------- random numbers */

/* xorshift64*, seeded through splitmix64 so nearby seeds diverge at once.
 * The state is a value the caller owns: no global state. */
typedef struct rng {
    uint64_t s;
} rng;

static rng rng_new(uint64_t seed)
{
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (rng){z ? z : 1};
}

static uint64_t rng_next(rng *r)
{
    r->s ^= r->s >> 12, r->s ^= r->s << 25, r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [lo, hi), 24 bits. */
static float rng_uniform(rng *r, float lo, float hi)
{
    return lo + (hi - lo) * (float)((rng_next(r) >> 40) / 16777216.0);
}

/* Fisher–Yates over order[0..n). */
static void rng_shuffle(rng *r, int *order, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rng_next(r) % (uint64_t)(i + 1));
        int t = order[i];
        order[i] = order[j], order[j] = t;
    }
}

/* ---------------------------------------------------------------- the network */

enum { P_W1, P_B1, P_W2, P_B2, N_PARAMS };

typedef struct net {
    nb_graph *g;
    nb_node *x, *y;                /* inputs [1,2] and [1,1] */
    nb_node *param[N_PARAMS];
    nb_node *grad[N_PARAMS];       /* ∂ε/∂param, each of its param's shape */
    nb_node *a, *loss;             /* output [1,1], loss (scalar) */
} net;

/* Builds the forward graph, the loss and its gradients. Parameters start at
 * zero (net_init draws them). Returns false with the message in n->g. */
static bool net_build(net *n)
{
    nb_graph *g = n->g;
    n->x = nb_input(g, "x", NB_SHAPE(1, 2));
    n->y = nb_input(g, "y", NB_SHAPE(1, 1));
    n->param[P_W1] = nb_param(g, "W1", NB_SHAPE(2, 2), NULL);
    n->param[P_B1] = nb_param(g, "b1", NB_SHAPE(2), NULL);
    n->param[P_W2] = nb_param(g, "W2", NB_SHAPE(2, 1), NULL);
    n->param[P_B2] = nb_param(g, "b2", NB_SHAPE(1), NULL);
    nb_node *h = nb_tanh(g, nb_add(g, nb_matmul(g, n->x, n->param[P_W1], false, false),
                                   n->param[P_B1]));
    n->a = nb_sigmoid(g, nb_add(g, nb_matmul(g, h, n->param[P_W2], false, false),
                                n->param[P_B2]));
    nb_node *d = nb_sub(g, n->a, n->y);
    n->loss = nb_sum(g, nb_mul(g, nb_scalar(g, 0.5f), nb_mul(g, d, d)), NULL, 0, false);
    return nb_grad(g, n->loss, n->param, N_PARAMS, n->grad) == NB_OK;
}

/* Draws every parameter uniformly from [-1, 1). */
static void net_init(net *n, rng *r)
{
    for (int p = 0; p < N_PARAMS; p++) {
        float *v = nb_param_data(n->param[p]);
        int64_t count = nb_shape_numel(nb_node_shape(n->param[p]));
        for (int64_t i = 0; i < count; i++)
            v[i] = rng_uniform(r, -1.0f, 1.0f);
    }
}

/* ---------------------------------------------------------------- training */

/* Runs the loss runtime on example k; returns ε, or -1 on error (printed). */
static float loss_on(nb_runtime *rt, const net *n, int k)
{
    if (nb_runtime_set_input(rt, n->x, xs[k]) != NB_OK ||
        nb_runtime_set_input(rt, n->y, &ys[k]) != NB_OK || nb_runtime_run(rt) != NB_OK) {
        fprintf(stderr, "xor: %s\n", nb_runtime_error(rt));
        return -1;
    }
    return nb_runtime_value(rt, n->loss)[0];
}

/* p -= lr · ∂ε/∂p for every parameter, with the gradients of the last run. */
static void sgd_step(nb_runtime *rt, net *n)
{
    for (int p = 0; p < N_PARAMS; p++) {
        float *v = nb_param_data(n->param[p]);
        const float *d = nb_runtime_value(rt, n->grad[p]);
        int64_t count = nb_shape_numel(nb_node_shape(n->param[p]));
        for (int64_t i = 0; i < count; i++)
            v[i] -= LR * d[i];
    }
}

/* STEPS steps of per-example SGD from the current parameters. Returns the
 * final Q, or -1 on error. */
static double train(nb_runtime *rt, net *n, rng *r)
{
    double q = 0;
    for (int k = 0; k < 4; k++) {
        float e = loss_on(rt, n, k);
        if (e < 0)
            return -1;
        q += e / 4;
    }
    int order[4] = {0, 1, 2, 3};
    for (int t = 0; t < STEPS; t++) {
        if (t % 4 == 0)
            rng_shuffle(r, order, 4);
        float e = loss_on(rt, n, order[t % 4]);
        if (e < 0)
            return -1;
        sgd_step(rt, n);
        q = (1 - ETA) * q + ETA * e;
        if ((t + 1) % PRINT_EVERY == 0)
            printf("  step %5d  Q=%.6f\n", t + 1, q);
    }
    return q;
}

/* Runs the output runtime on all four inputs, prints the truth table, and
 * returns how many are classified right (a > 1/2 means 1), or -1 on error. */
static int evaluate(nb_runtime *rt, const net *n, bool print)
{
    int correct = 0;
    if (print)
        printf("   x1 x2 |   a      | class want\n");
    for (int k = 0; k < 4; k++) {
        if (nb_runtime_set_input(rt, n->x, xs[k]) != NB_OK || nb_runtime_run(rt) != NB_OK) {
            fprintf(stderr, "xor: %s\n", nb_runtime_error(rt));
            return -1;
        }
        float a = nb_runtime_value(rt, n->a)[0];
        int cls = a > 0.5f;
        correct += cls == (int)ys[k];
        if (print)
            printf("    %.0f  %.0f | %.6f |   %d    %.0f%s\n", xs[k][0], xs[k][1], a, cls, ys[k],
                   cls == (int)ys[k] ? "" : "   WRONG");
    }
    return correct;
}

/* ---------------------------------------------------------------- main */

/* Trains from up to MAX_STARTS random starts until all four are right.
 * Returns 0 on success. */
static int run(net *n, nb_runtime *train_rt, nb_runtime *out_rt, uint64_t seed)
{
    rng r = rng_new(seed);
    double q = -1;
    int correct = 0;
    for (int start = 1; start <= MAX_STARTS && correct < 4; start++) {
        printf("start %d (seed %llu)\n", start, (unsigned long long)seed);
        net_init(n, &r);
        q = train(train_rt, n, &r);
        correct = q < 0 ? -1 : evaluate(out_rt, n, false);
        if (correct < 0)
            return 1;
        if (correct < 4)
            printf("  stuck in a local minimum (%d/4 right): new random weights\n", correct);
    }
    evaluate(out_rt, n, true);
    printf("xor: loss=%.6f correct=%d/4\n", q, correct);
    return correct == 4 ? 0 : 1;
}

int main(int argc, char **argv)
{
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    net n = {.g = nb_graph_new()};
    if (!n.g)
        return fprintf(stderr, "xor: out of memory\n"), 1;
    nb_runtime *train_rt = NULL, *out_rt = NULL;
    if (net_build(&n)) {
        nb_node *outs[1 + N_PARAMS] = {n.loss};
        for (int p = 0; p < N_PARAMS; p++)
            outs[1 + p] = n.grad[p];
        train_rt = nb_runtime_new(n.g, outs, 1 + N_PARAMS);
        out_rt = train_rt ? nb_runtime_new(n.g, &n.a, 1) : NULL;
    }
    int rc = 1;
    if (out_rt)
        rc = run(&n, train_rt, out_rt, seed);
    else
        fprintf(stderr, "xor: %s\n", nb_graph_error(n.g));
    nb_runtime_free(out_rt);
    nb_runtime_free(train_rt);
    nb_graph_free(n.g);
    return rc;
}
