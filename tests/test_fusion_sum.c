/*
 * The "summed products" pattern of the fusion table (ops/fusion_sum.c): a
 * recurrent layer's weight_hh gradient, one product per time step summed
 * by a chain of adds, runs as steps of up to 12 products each, every
 * product added into the sum as it is computed. Every output and gradient
 * of RNN, GRU and LSTM layers (batch 1, odd sizes, stacked, bidirectional,
 * with and without initial states, sequences long enough to cut the chain
 * into several groups) agrees with the plain steps (nb_set_fusion(false))
 * within float rounding at 1 and 2 threads (the fused values the same
 * bits at both), and the groups are really formed.
 */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define MAX_OUT 64

/* Products a group sums, at most (fusion_sum.c). */
#define TERMS 12

typedef enum kind { RNN, GRU, LSTM } kind;

typedef struct rcase {
    kind cell;
    int64_t n, t, f, h;
    int layers;
    bool bidir, init;
} rcase;

/* How many "summed products" steps a fused runtime for out has. */
static int count_sums(nb_graph *g, nb_node *const *out, int n_out)
{
    nb_set_fusion(true);
    nb_runtime *rt = nb_runtime_new(g, out, n_out);
    cr_assert_not_null(rt, "%s", nb_graph_error(g));
    int c = 0;
    nb_runtime_step_info s;
    for (int i = 0; nb_runtime_step(rt, i, &s); i++)
        c += s.pattern && strcmp(s.pattern, "summed products") == 0;
    nb_runtime_free(rt);
    return c;
}

/* The layer of rc under a loss Σ y·r, its gradient with respect to x, the
 * initial states and every parameter, run both ways; returns the groups. */
static int recurrent_case(rcase rc)
{
    nb_graph *g = nb_graph_new();
    nb_graph_seed(g, 5);
    const int d = rc.bidir ? 2 : 1;
    const nb_shape shapes[3] = {NB_SHAPE(rc.n, rc.t, rc.f), NB_SHAPE(d * rc.layers, rc.n, rc.h),
                                NB_SHAPE(d * rc.layers, rc.n, rc.h)};
    const char *names[3] = {"x", "h0", "c0"};
    const int wanted = rc.init ? (rc.cell == LSTM ? 3 : 2) : 1;
    nb_node *in[4];
    float *data[4];
    int n_in = 0;
    for (int k = 0; k < wanted; k++, n_in++) {
        in[n_in] = nb_input(g, names[k], shapes[k]);
        int64_t m = nb_shape_numel(shapes[k]);
        data[n_in] = malloc((size_t)m * sizeof(float));
        t_fill(data[n_in], m, 20 + (uint64_t)k, -1.5f, 1.5f);
    }
    nb_rnn_opts o = {.hidden = rc.h, .layers = rc.layers, .bidirectional = rc.bidir,
                     .sequence = true, .h0 = rc.init ? in[1] : NULL,
                     .c0 = rc.init && rc.cell == LSTM ? in[2] : NULL};
    nb_node *y = rc.cell == RNN ? nb_rnn(g, in[0], o)
                 : rc.cell == GRU ? nb_gru(g, in[0], o) : nb_lstm(g, in[0], o);
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    nb_node *r = nb_input(g, "r", nb_node_shape(y));
    int64_t m = nb_shape_numel(nb_node_shape(y));
    in[n_in] = r, data[n_in] = malloc((size_t)m * sizeof(float));
    t_fill(data[n_in], m, 31, -1, 1);
    n_in++;
    nb_node *loss = nb_sum(g, nb_mul(g, y, r), NULL, 0, false);
    nb_node *wrt[MAX_OUT], *grads[MAX_OUT], *out[MAX_OUT];
    int n_wrt = 0, n_out = 0;
    for (int k = 0; k < wanted; k++)
        wrt[n_wrt++] = in[k];
    for (int p = 0; p < nb_graph_num_params(g); p++)
        wrt[n_wrt++] = nb_graph_param(g, p);
    cr_assert_eq(nb_grad(g, loss, wrt, n_wrt, grads), NB_OK, "%s", nb_graph_error(g));
    out[n_out++] = y;
    out[n_out++] = loss;
    for (int k = 0; k < n_wrt; k++)
        out[n_out++] = grads[k];
    /* The sums are added in the plain steps' order, each product rounded
     * before its add; but a plain product may run on another kernel (the
     * FMA panels of gemm_fma.c) than the accumulating one: within float
     * rounding, a last-place difference seen. */
    cr_assert_gt(t_fused_both_ways(g, out, n_out, in, data, n_in, 1e-6f), 0);
    int c = count_sums(g, out, n_out);
    for (int k = 0; k < n_in; k++)
        free(data[k]);
    nb_graph_free(g);
    return c;
}

/* Groups a chain of `terms` products (terms - 1 adds) is cut into: each
 * group holds up to TERMS of the adds, walking down from the chain's end;
 * the first product, when no add is left for it, is its own step. */
static int groups_of(int64_t terms)
{
    return terms < 2 ? 0 : (int)((terms - 1 + TERMS - 1) / TERMS);
}

static void run_cases(const rcase *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const rcase rc = cases[i];
        const int cells = rc.layers * (rc.bidir ? 2 : 1);
        /* weight_hh is read once a step, but not by a step from zero states */
        const int64_t terms = rc.init ? rc.t : rc.t - 1;
        const int got = recurrent_case(rc), want = cells * groups_of(terms);
        cr_assert_eq(got, want, "case %zu: %d summed-product steps, not %d", i, got, want);
    }
}

Test(fusion_sum, lstm_weight_gradients_agree_with_plain_steps)
{
    const rcase cases[] = {
        {.cell = LSTM, .n = 3, .t = 29, .f = 5, .h = 13, .layers = 1},
        {.cell = LSTM, .n = 1, .t = 14, .f = 2, .h = 7, .layers = 1, .init = true},
        {.cell = LSTM, .n = 2, .t = 5, .f = 3, .h = 9, .layers = 2, .bidir = true, .init = true},
        {.cell = LSTM, .n = 33, .t = 13, .f = 6, .h = 40, .layers = 1, .bidir = true},
        {.cell = LSTM, .n = 4, .t = 2, .f = 3, .h = 5, .layers = 1},
    };
    run_cases(cases, sizeof cases / sizeof cases[0]);
}

Test(fusion_sum, gru_and_rnn_weight_gradients_agree_with_plain_steps)
{
    const rcase cases[] = {
        {.cell = GRU, .n = 3, .t = 15, .f = 5, .h = 11, .layers = 2, .init = true},
        {.cell = GRU, .n = 1, .t = 4, .f = 2, .h = 7, .layers = 1, .bidir = true},
        {.cell = RNN, .n = 5, .t = 26, .f = 4, .h = 17, .layers = 1},
        {.cell = RNN, .n = 1, .t = 3, .f = 2, .h = 3, .layers = 2, .bidir = true, .init = true},
    };
    run_cases(cases, sizeof cases / sizeof cases[0]);
}
