/*
 * neuron_logic.c — the McCulloch–Pitts neuron as a nabla graph.
 *
 * A neuron computes a(x, w) = sign(<w, x> - w0): it weighs its inputs, and
 * fires when the sum passes a threshold. With the right weights one neuron
 * is a logic gate:
 *
 *     AND   x1 + x2 - 3/2 > 0
 *     OR    x1 + x2 - 1/2 > 0
 *     NOT   -x1 + 1/2 > 0
 *
 * But the set where a neuron fires is a half-plane: a single neuron is a
 * linear threshold, and XOR ({0,1} and {1,0} on one side, {0,0} and {1,1}
 * on the other) is not linearly separable. Two ways out, both shown here:
 *
 *   - a nonlinear feature: give the neuron x1·x2 as a third input, and
 *     x1 + x2 - 2·x1x2 - 1/2 > 0 is XOR (the sum is -1/2, 1/2, 1/2, -1/2
 *     over 00, 01, 10, 11). The sign of the product's weight matters:
 *     x1 + x2 + 2·x1x2 - 1/2 reaches 7/2 at (1, 1) and fires there, so it
 *     computes OR, not XOR; the program shows that table too;
 *   - a second layer (a superposition of neurons): the OR and AND neurons
 *     form a first layer, and (x1 ∨ x2) - (x1 ∧ x2) - 1/2 > 0 is XOR.
 *
 * All four binary inputs go through the graph at once, as a batch x [4,2].
 * Each neuron maps sign's -1/+1 to 0/1 as (sign + 1) / 2. The program prints
 * every truth table and is also a test: it exits 0 only if every table is
 * right, and a search over a grid of single neurons finds AND and OR
 * neurons but no XOR one.
 */
#include <stdio.h>

#include "nabla.h"

#define N_ROWS 4 /* every binary input pair, one per row of the batch */

static const float inputs[N_ROWS * 2] = {0, 0, 0, 1, 1, 0, 1, 1};

/* ---------------------------------------------------------------- neurons */

/*
 * A layer of n_out threshold neurons over x [N, n_in]: w is [n_in, n_out]
 * (column j holds neuron j's weights), w0 its n_out thresholds. Returns the
 * firing pattern [N, n_out] in 0/1. NULL (message in g) if building failed.
 */
static nb_node *threshold_layer(nb_graph *g, nb_node *x, int n_in, int n_out, const float *w,
                                const float *w0)
{
    nb_node *weights = nb_constant(g, NB_SHAPE(n_in, n_out), w);
    nb_node *thresholds = nb_constant(g, NB_SHAPE(n_out), w0);
    nb_node *s = nb_sign(g, nb_sub(g, nb_matmul(g, x, weights, false, false), thresholds));
    return nb_mul(g, nb_add(g, s, nb_scalar(g, 1.0f)), nb_scalar(g, 0.5f));
}

/* One neuron: a layer of one. x [N, n_in] → [N, 1]. */
static nb_node *neuron(nb_graph *g, nb_node *x, int n_in, const float *w, float w0)
{
    return threshold_layer(g, x, n_in, 1, w, &w0);
}

/* ---------------------------------------------------------------- the gates */

/* A named truth table: the graph node computing it and the wanted column. */
typedef struct gate {
    const char *name;
    const char *rule;
    nb_node *out;           /* [4,1] */
    float want[N_ROWS];
} gate;

enum { G_AND, G_OR, G_NOT, G_XOR_FEATURE, G_PLUS_FEATURE, G_XOR_LAYERS, N_GATES };

/* One neuron over the features (x1, x2, x1·x2) with weights (1, 1, w12) and
 * threshold 1/2: the product is a node of the graph, built with nb_mul from
 * the two input columns. w12 = -2 gives XOR; w12 = +2 fires at (1, 1) too. */
static nb_node *neuron_on_product(nb_graph *g, nb_node *x, float w12)
{
    nb_node *x1 = nb_slice(g, x, 1, 0, 1, 1);
    nb_node *x2 = nb_slice(g, x, 1, 1, 2, 1);
    nb_node *features[] = {x1, x2, nb_mul(g, x1, x2)};
    nb_node *phi = nb_concat(g, features, 3, 1); /* [4,3] */
    const float w[] = {1, 1, w12};
    return neuron(g, phi, 3, w, 0.5f);
}

/* XOR from two layers: the first holds the OR and AND neurons side by side
 * (one matmul), the second fires for "OR but not AND". */
static nb_node *xor_by_layers(nb_graph *g, nb_node *x)
{
    static const float w1[] = {1, 1,  /* x1 → OR, AND */
                               1, 1}; /* x2 → OR, AND */
    static const float w01[] = {0.5f, 1.5f};
    nb_node *h = threshold_layer(g, x, 2, 2, w1, w01); /* [4,2]: OR, AND */
    static const float w2[] = {1, -1};
    return neuron(g, h, 2, w2, 0.5f);
}

/* Builds every gate over x. Returns false (message in g) if building failed. */
static bool build_gates(nb_graph *g, nb_node *x, gate *gates)
{
    static const float w_sum[] = {1, 1}, w_not[] = {-1, 0};
    gates[G_AND] = (gate){"AND", "x1 + x2 - 3/2 > 0", neuron(g, x, 2, w_sum, 1.5f), {0, 0, 0, 1}};
    gates[G_OR] = (gate){"OR", "x1 + x2 - 1/2 > 0", neuron(g, x, 2, w_sum, 0.5f), {0, 1, 1, 1}};
    gates[G_NOT] = (gate){"NOT x1", "-x1 + 1/2 > 0", neuron(g, x, 2, w_not, -0.5f), {1, 1, 0, 0}};
    gates[G_XOR_FEATURE] = (gate){"XOR, nonlinear feature", "x1 + x2 - 2*x1x2 - 1/2 > 0",
                                  neuron_on_product(g, x, -2.0f), {0, 1, 1, 0}};
    gates[G_PLUS_FEATURE] = (gate){"OR, not XOR: the product's weight +2",
                                   "x1 + x2 + 2*x1x2 - 1/2 > 0 (7/2 at (1,1))",
                                   neuron_on_product(g, x, 2.0f), {0, 1, 1, 1}};
    gates[G_XOR_LAYERS] = (gate){"XOR, two layers", "(x1 OR x2) - (x1 AND x2) - 1/2 > 0",
                                 xor_by_layers(g, x), {0, 1, 1, 0}};
    return nb_graph_status(g) == NB_OK;
}

/* Prints one truth table; returns the number of wrong rows. */
static int print_table(const gate *gt, const float *got)
{
    int wrong = 0;
    printf("%s:  %s\n   x1 x2 | a\n", gt->name, gt->rule);
    for (int r = 0; r < N_ROWS; r++) {
        bool ok = got[r] == gt->want[r];
        wrong += !ok;
        printf("    %.0f  %.0f | %g", inputs[2 * r], inputs[2 * r + 1], got[r]);
        printf(ok ? "\n" : "   WRONG, want %g\n", gt->want[r]);
    }
    printf("\n");
    return wrong;
}

/* ---------------------------------------------------------------- XOR is not linear */

/*
 * Tries every single neuron on a grid (w1, w2, w0 each in -2, -1.5, ..., 2),
 * feeding the weights as inputs to one compiled graph, and counts how many
 * compute AND, OR and XOR: found[0..2]. The lecture says many, many, none.
 * Returns false on error (printed).
 */
static bool search_single_neurons(int found[3])
{
    static const float want[3][N_ROWS] = {{0, 0, 0, 1}, {0, 1, 1, 1}, {0, 1, 1, 0}};
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_constant(g, NB_SHAPE(N_ROWS, 2), inputs);
    nb_node *w = nb_input(g, "w", NB_SHAPE(2, 1));
    nb_node *w0 = nb_input(g, "w0", NB_SHAPE(1));
    nb_node *s = nb_sign(g, nb_sub(g, nb_matmul(g, x, w, false, false), w0));
    nb_node *a = nb_mul(g, nb_add(g, s, nb_scalar(g, 1.0f)), nb_scalar(g, 0.5f));
    nb_runtime *rt = a ? nb_runtime_new(g, &a, 1) : NULL;
    if (!rt) {
        fprintf(stderr, "neuron_logic: %s\n", g ? nb_graph_error(g) : "out of memory");
        nb_graph_free(g);
        return false;
    }
    bool ok = true;
    found[0] = found[1] = found[2] = 0;
    for (int i = 0; i < 9 * 9 * 9 && ok; i++) {
        float wv[2] = {-2 + 0.5f * (i % 9), -2 + 0.5f * (i / 9 % 9)}, t = -2 + 0.5f * (i / 81);
        ok = nb_runtime_set_input(rt, w, wv) == NB_OK && nb_runtime_set_input(rt, w0, &t) == NB_OK &&
             nb_runtime_run(rt) == NB_OK;
        const float *v = ok ? nb_runtime_value(rt, a) : NULL;
        for (int k = 0; k < 3 && ok; k++)
            found[k] += v[0] == want[k][0] && v[1] == want[k][1] && v[2] == want[k][2] &&
                        v[3] == want[k][3];
    }
    if (!ok)
        fprintf(stderr, "neuron_logic: %s\n", nb_runtime_error(rt));
    nb_runtime_free(rt);
    nb_graph_free(g);
    return ok;
}

/* ---------------------------------------------------------------- main */

int main(void)
{
    nb_graph *g = nb_graph_new();
    if (!g)
        return fprintf(stderr, "neuron_logic: out of memory\n"), 1;
    gate gates[N_GATES];
    nb_node *x = nb_input(g, "x", NB_SHAPE(N_ROWS, 2));
    nb_runtime *rt = NULL;
    if (build_gates(g, x, gates)) {
        nb_node *outs[N_GATES];
        for (int i = 0; i < N_GATES; i++)
            outs[i] = gates[i].out;
        rt = nb_runtime_new(g, outs, N_GATES);
    }
    if (!rt) {
        fprintf(stderr, "neuron_logic: %s\n", nb_graph_error(g));
        nb_graph_free(g);
        return 1;
    }
    int wrong = 0;
    if (nb_runtime_set_input(rt, x, inputs) != NB_OK || nb_runtime_run(rt) != NB_OK) {
        fprintf(stderr, "neuron_logic: %s\n", nb_runtime_error(rt));
        wrong = 1;
    } else {
        for (int i = 0; i < N_GATES; i++)
            wrong += print_table(&gates[i], nb_runtime_value(rt, gates[i].out));
    }
    nb_runtime_free(rt);
    nb_graph_free(g);

    int found[3];
    if (!search_single_neurons(found)) {
        wrong++;
    } else {
        printf("single neurons on a 9x9x9 weight grid: %d compute AND, %d OR, %d XOR\n", found[0],
               found[1], found[2]);
        if (found[0] == 0 || found[1] == 0 || found[2] != 0)
            wrong++, fprintf(stderr, "neuron_logic: expected some AND and OR neurons, no XOR\n");
    }
    if (wrong)
        fprintf(stderr, "neuron_logic: %d wrong\n", wrong);
    else
        printf("neuron_logic: all truth tables right\n");
    return wrong ? 1 : 0;
}
