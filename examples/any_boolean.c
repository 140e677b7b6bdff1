/*
 * any_boolean.c — two layers of McCulloch–Pitts neurons compute any Boolean
 * function, shown by construction.
 *
 * For f : {0,1}^n → {0,1}, the network has one hidden neuron per input m
 * where f(m) = 1 (a true minterm), and one output neuron that ORs them:
 *
 *     hidden m:  w_i = +1 where m_i = 1, −1 where m_i = 0,  w0 = |m| − ½
 *                <w, x> = |m| only at x = m (every other x loses at least
 *                1), so the neuron fires exactly at x = m;
 *     output:    Σ hidden − ½ > 0, the OR of the minterm detectors.
 *
 * A function true nowhere (f ≡ 0) gets one hidden neuron that never fires
 * (w = 0, w0 = ½). The thresholds are half-integers, so no sum sits on a
 * threshold and sign never gives 0.
 *
 * Each network is a nabla graph (nb_matmul, nb_sub, nb_threshold: the
 * lecture's sign neuron) run on all 2^n inputs at once, a batch [2^n, n];
 * its output column is compared with f's truth table. Checked: every one
 * of the 2^(2^n) functions of n = 1, 2 and 3 inputs (4 + 16 + 256), and
 * --random functions (default 100) of each n = 4 … --max-n (default 8),
 * drawn with seed --seed. The hidden layer is as wide as f has true
 * minterms: at most 2^n, which is why the theorem is one of existence and
 * not of economy.
 *
 * Exits 0 only if every truth table is right; it is its own test.
 *
 *     any_boolean [--random 100] [--max-n 8] [--seed 1]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "nabla.h"

#define MAX_N 10

typedef struct args {
    int random, max_n;
    uint64_t seed;
} args;

/* Every input of {0,1}^n, row r holding the bits of r (bit i = input i). */
static void all_inputs(int n, float *x)
{
    for (int r = 0; r < (1 << n); r++)
        for (int i = 0; i < n; i++)
            x[r * n + i] = (float)((r >> i) & 1);
}

/* A threshold layer: (sign(x·w − w0) + 1) / 2, firing 1, silent 0.
 * x [N, in], w [in, out], w0 [out] → [N, out]. */
static nb_node *threshold_layer(nb_graph *g, nb_node *x, int in, int out, const float *w,
                                const float *w0)
{
    nb_node *s = nb_sub(g, nb_matmul(g, x, nb_constant(g, NB_SHAPE(in, out), w), false, false),
                        nb_constant(g, NB_SHAPE(out), w0));
    return nb_mul(g, nb_add(g, nb_threshold(g, s), nb_scalar(g, 1.0f)), nb_scalar(g, 0.5f));
}

/*
 * The two-layer network for the truth table f (f[r] for input r, 2^n
 * rows), built in g over x [2^n, n]. *hidden receives the hidden width.
 * NULL on failure (message in g, or out of memory).
 */
static nb_node *build_network(nb_graph *g, nb_node *x, int n, const uint8_t *f, int *hidden)
{
    int rows = 1 << n, h = 0;
    for (int r = 0; r < rows; r++)
        h += f[r];
    int width = h ? h : 1;
    float *w1 = calloc((size_t)n * (size_t)width, sizeof *w1);
    float *w01 = malloc((size_t)width * sizeof *w01);
    float *w2 = malloc((size_t)width * sizeof *w2);
    nb_node *out = NULL;
    if (w1 && w01 && w2) {
        w01[0] = 0.5f; /* f ≡ 0: the one neuron that never fires */
        for (int r = 0, j = 0; r < rows; r++) {
            if (!f[r])
                continue;
            int ones = 0;
            for (int i = 0; i < n; i++) {
                int bit = (r >> i) & 1;
                w1[i * width + j] = bit ? 1.0f : -1.0f;
                ones += bit;
            }
            w01[j++] = (float)ones - 0.5f;
        }
        for (int j = 0; j < width; j++)
            w2[j] = 1.0f;
        static const float or_threshold = 0.5f;
        nb_node *hid = threshold_layer(g, x, n, width, w1, w01);
        out = threshold_layer(g, hid, width, 1, w2, &or_threshold);
    }
    free(w1);
    free(w01);
    free(w2);
    *hidden = width;
    return out;
}

/* Runs f's network on every input; returns the number of wrong rows, or −1
 * after printing an error. */
static int check_function(int n, const uint8_t *f, int *hidden)
{
    int rows = 1 << n, wrong = -1;
    float x_data[(1 << MAX_N) * MAX_N];
    all_inputs(n, x_data);
    nb_graph *g = nb_graph_new();
    nb_node *x = g ? nb_input(g, "x", NB_SHAPE(rows, n)) : NULL;
    nb_node *out = x ? build_network(g, x, n, f, hidden) : NULL;
    nb_runtime *rt = out ? nb_runtime_new(g, &out, 1) : NULL;
    if (rt && nb_runtime_set_input(rt, x, x_data) == NB_OK && nb_runtime_run(rt) == NB_OK) {
        const float *v = nb_runtime_value(rt, out);
        wrong = 0;
        for (int r = 0; r < rows; r++)
            wrong += v[r] != (float)f[r];
    } else {
        fprintf(stderr, "any_boolean: n=%d: %s\n", n,
                rt ? nb_runtime_error(rt) : g ? nb_graph_error(g) : "out of memory");
    }
    nb_runtime_free(rt);
    nb_graph_free(g);
    return wrong;
}

/* What one n's functions gave. */
typedef struct tally {
    int functions, wrong_functions, max_hidden;
    double hidden_sum;
} tally;

/* Checks one function into t; false on an error (printed). */
static bool tally_one(int n, const uint8_t *f, tally *t)
{
    int hidden = 0, wrong = check_function(n, f, &hidden);
    if (wrong < 0)
        return false;
    t->functions++;
    t->wrong_functions += wrong > 0;
    t->hidden_sum += hidden;
    t->max_hidden = hidden > t->max_hidden ? hidden : t->max_hidden;
    return true;
}

/* Every function of n ≤ 3 inputs (the integer k's bits are its table), or
 * `count` random ones. */
static bool check_n(int n, int count, nb_rng *rng, tally *t)
{
    int rows = 1 << n;
    uint8_t f[1 << MAX_N];
    if (n <= 3) {
        for (int k = 0; k < (1 << rows); k++) {
            for (int r = 0; r < rows; r++)
                f[r] = (uint8_t)((k >> r) & 1);
            if (!tally_one(n, f, t))
                return false;
        }
        return true;
    }
    for (int k = 0; k < count; k++) {
        for (int r = 0; r < rows; r++)
            f[r] = (uint8_t)nb_rng_below(rng, 2);
        if (!tally_one(n, f, t))
            return false;
    }
    return true;
}

static bool parse(int argc, char **argv, args *a)
{
    const cmdline_opt opts[] = {{"--random", CMDLINE_INT, &a->random},
                                {"--max-n", CMDLINE_INT, &a->max_n},
                                {"--seed", CMDLINE_U64, &a->seed},
                                {0}};
    return cmdline_parse(argc, argv, opts) && a->random >= 0 && a->max_n >= 1 &&
           a->max_n <= MAX_N;
}

int main(int argc, char **argv)
{
    args a = {.random = 100, .max_n = 8, .seed = 1};
    if (!parse(argc, argv, &a)) {
        fprintf(stderr, "usage: %s [--random N] [--max-n 1..%d] [--seed N]\n", argv[0], MAX_N);
        return 2;
    }
    nb_rng rng = nb_rng_seed(a.seed);
    printf("| n | functions | checked | wrong | hidden units: mean | max | 2^n |\n"
           "|---|---|---|---|---|---|---|\n");
    int wrong = 0, total = 0;
    for (int n = 1; n <= a.max_n; n++) {
        tally t = {0};
        if (!check_n(n, a.random, &rng, &t))
            return 1;
        char all[32];
        if (n <= 4)
            snprintf(all, sizeof all, "%llu", 1ull << (1 << n));
        else
            snprintf(all, sizeof all, "2^%d", 1 << n);
        printf("| %d | %s | %s%d | %d | %.1f | %d | %d |\n", n, all, n <= 3 ? "all " : "random ",
               t.functions, t.wrong_functions, t.hidden_sum / t.functions, t.max_hidden, 1 << n);
        wrong += t.wrong_functions;
        total += t.functions;
    }
    if (wrong) {
        fprintf(stderr, "any_boolean: %d of %d truth tables wrong\n", wrong, total);
        return 1;
    }
    printf("any_boolean: all %d truth tables right\n", total);
    return 0;
}
