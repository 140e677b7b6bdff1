/*
 * The gate patterns of the fusion table (ops/fusion_gates.c): an LSTM's
 * steps (and a GRU's, which no gate pattern matches), forward and every
 * gradient, give with fusion on the very values the plain steps give
 * (nb_set_fusion(false)), at 1 and 2 threads — batch 1, hidden sizes that are no multiple of the vector
 * width, with and without initial states, bidirectional, stacked — and
 * the groups are really formed (every time step's gate gradients are one
 * step); a value something else reads is never folded.
 */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define MAX_OUT 64

typedef struct counts {
    int activation, gradients, cell;
} counts;

/* How many steps of each gate pattern a fused runtime for out has. */
static counts count_groups(nb_graph *g, nb_node *const *out, int n_out)
{
    nb_set_fusion(true);
    nb_runtime *rt = nb_runtime_new(g, out, n_out);
    cr_assert_not_null(rt, "%s", nb_graph_error(g));
    counts c = {0};
    nb_runtime_step_info s;
    for (int i = 0; nb_runtime_step(rt, i, &s); i++) {
        if (!s.pattern)
            continue;
        c.activation += strcmp(s.pattern, "gate activation") == 0;
        c.gradients += strcmp(s.pattern, "gate gradients") == 0;
        c.cell += strcmp(s.pattern, "cell gradient") == 0;
    }
    nb_runtime_free(rt);
    return c;
}

typedef struct rcase {
    bool gru;
    int64_t n, t, f, h;
    int layers;
    bool bidir, init, sequence;
} rcase;

/* The layer of rc, a loss reading its output (and c_n) through fixed
 * random weights, and the gradient of the loss with respect to x, the
 * initial states and every parameter; runs it both ways and returns the
 * gate groups found. */
static counts recurrent_case(rcase rc)
{
    nb_graph *g = nb_graph_new();
    nb_graph_seed(g, 11);
    const int d = rc.bidir ? 2 : 1;
    nb_node *in[5];
    float *data[5];
    int n_in = 0;
    nb_shape shapes[3] = {NB_SHAPE(rc.n, rc.t, rc.f), NB_SHAPE(d * rc.layers, rc.n, rc.h),
                          NB_SHAPE(d * rc.layers, rc.n, rc.h)};
    const char *names[3] = {"x", "h0", "c0"};
    const int wanted = rc.init ? (rc.gru ? 2 : 3) : 1;
    for (int k = 0; k < wanted; k++) {
        in[n_in] = nb_input(g, names[k], shapes[k]);
        int64_t m = nb_shape_numel(shapes[k]);
        data[n_in] = malloc((size_t)m * sizeof(float));
        t_fill(data[n_in], m, 40 + (uint64_t)k, -1.5f, 1.5f);
        n_in++;
    }
    nb_node *h_n = NULL, *c_n = NULL;
    nb_rnn_opts o = {.hidden = rc.h, .layers = rc.layers, .bidirectional = rc.bidir,
                     .sequence = rc.sequence, .h_n = &h_n, .c_n = rc.gru ? NULL : &c_n,
                     .h0 = rc.init ? in[1] : NULL, .c0 = rc.init && !rc.gru ? in[2] : NULL};
    nb_node *y = rc.gru ? nb_gru(g, in[0], o) : nb_lstm(g, in[0], o);
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    /* The loss weighs every output element differently: Σ y·r + Σ c_n·s. */
    nb_node *r = nb_input(g, "r", nb_node_shape(y));
    int64_t m = nb_shape_numel(nb_node_shape(y));
    in[n_in] = r, data[n_in] = malloc((size_t)m * sizeof(float));
    t_fill(data[n_in], m, 77, -1, 1);
    n_in++;
    nb_node *loss = nb_sum(g, nb_mul(g, y, r), NULL, 0, false);
    if (c_n) {
        nb_node *s = nb_input(g, "s", nb_node_shape(c_n));
        m = nb_shape_numel(nb_node_shape(c_n));
        in[n_in] = s, data[n_in] = malloc((size_t)m * sizeof(float));
        t_fill(data[n_in], m, 78, -1, 1);
        n_in++;
        loss = nb_add(g, loss, nb_sum(g, nb_mul(g, c_n, s), NULL, 0, false));
    }
    nb_node *wrt[MAX_OUT], *grads[MAX_OUT], *out[MAX_OUT];
    int n_wrt = 0, n_out = 0;
    for (int k = 0; k < wanted; k++)
        wrt[n_wrt++] = in[k];
    for (int p = 0; p < nb_graph_num_params(g); p++)
        wrt[n_wrt++] = nb_graph_param(g, p);
    cr_assert_eq(nb_grad(g, loss, wrt, n_wrt, grads), NB_OK, "%s", nb_graph_error(g));
    out[n_out++] = y;
    out[n_out++] = h_n;
    if (c_n)
        out[n_out++] = c_n;
    out[n_out++] = loss;
    for (int k = 0; k < n_wrt; k++)
        out[n_out++] = grads[k];
    /* The same expressions op by op: the same bits, so no tolerance. */
    cr_assert_gt(t_fused_both_ways(g, out, n_out, in, data, n_in, 0.0f), 0);
    counts c = count_groups(g, out, n_out);
    for (int k = 0; k < n_in; k++)
        free(data[k]);
    nb_graph_free(g);
    return c;
}

Test(fusion_gates, lstm_every_value_and_gradient_the_same_as_plain_steps)
{
    const rcase cases[] = {
        {.n = 3, .t = 4, .f = 5, .h = 13, .layers = 1, .init = true, .sequence = true},
        {.n = 1, .t = 3, .f = 2, .h = 7, .layers = 1},
        {.n = 2, .t = 3, .f = 3, .h = 9, .layers = 2, .bidir = true, .init = true},
        {.n = 5, .t = 2, .f = 4, .h = 17, .layers = 2, .sequence = true},
        {.n = 4, .t = 5, .f = 6, .h = 24, .layers = 1, .bidir = true, .sequence = true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const rcase rc = cases[i];
        const counts c = recurrent_case(rc);
        const int cells = rc.layers * (rc.bidir ? 2 : 1), steps = cells * (int)rc.t;
        /* Each time step: its gates' activations read in place (the
         * forget gate of a step from zero states reads nothing), its gate
         * gradients one step, its cell-state gradient one step. */
        const int zero_starts = rc.init ? 0 : cells;
        cr_assert_eq(c.activation, 4 * steps - zero_starts, "case %zu: %d gate activations", i,
                     c.activation);
        cr_assert_eq(c.gradients, steps, "case %zu: %d gate gradient steps", i, c.gradients);
        cr_assert_eq(c.cell, steps, "case %zu: %d cell gradient steps", i, c.cell);
    }
}

Test(fusion_gates, gru_every_value_and_gradient_the_same_as_plain_steps)
{
    const rcase cases[] = {
        {.gru = true, .n = 3, .t = 4, .f = 5, .h = 13, .layers = 1, .init = true, .sequence = true},
        {.gru = true, .n = 1, .t = 3, .f = 2, .h = 7, .layers = 2, .bidir = true},
    };
    /* A GRU's gates add the input's and the hidden part's slices before
     * their activation, and each gate's gradient is read by both parts'
     * concats: no gate pattern applies, and fusion must leave its values
     * alone all the same. */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        recurrent_case(cases[i]);
}

/* One LSTM cell's gate gradients written out by hand over z [n, 4h]: the
 * activations' slices, and dz the concat of the four gates' gradients.
 * With `fetch`, a member of the gate gradients (dc·g) and a gate's slice
 * are outputs too. */
typedef struct hand {
    nb_graph *g;
    nb_node *in[4], *out[3], *dcg, *slice3;
    float *data[4];
} hand;

static hand hand_cell(int64_t n, int64_t h)
{
    hand c = {.g = nb_graph_new()};
    nb_graph *g = c.g;
    nb_node *z = nb_input(g, "z", NB_SHAPE(n, 4 * h)), *cp = nb_input(g, "c", NB_SHAPE(n, h));
    nb_node *dh = nb_input(g, "dh", NB_SHAPE(n, h)), *dc = nb_input(g, "dc", NB_SHAPE(n, h));
    nb_node *sl[4], *gate[4];
    for (int j = 0; j < 4; j++) {
        sl[j] = nb_slice(g, z, -1, j * h, (j + 1) * h, 1);
        gate[j] = j == 2 ? nb_tanh(g, sl[j]) : nb_sigmoid(g, sl[j]);
    }
    nb_node *one = nb_scalar(g, 1.0f);
    c.dcg = nb_mul(g, dc, gate[2]);
    nb_node *pieces[4] = {
        nb_mul(g, c.dcg, nb_mul(g, gate[0], nb_sub(g, one, gate[0]))),
        nb_mul(g, nb_mul(g, dc, cp), nb_mul(g, gate[1], nb_sub(g, one, gate[1]))),
        nb_mul(g, nb_mul(g, dc, gate[0]), nb_sub(g, one, nb_mul(g, gate[2], gate[2]))),
        nb_mul(g, nb_mul(g, dh, cp), nb_mul(g, gate[3], nb_sub(g, one, gate[3]))),
    };
    c.out[0] = nb_concat(g, pieces, 4, 1);
    c.slice3 = sl[3];
    nb_node *in[4] = {z, cp, dh, dc};
    for (int k = 0; k < 4; k++) {
        c.in[k] = in[k];
        int64_t m = nb_shape_numel(nb_node_shape(in[k]));
        c.data[k] = malloc((size_t)m * sizeof(float));
        t_fill(c.data[k], m, 90 + (uint64_t)k, -2, 2);
    }
    return c;
}

static void hand_free(hand *c)
{
    for (int k = 0; k < 4; k++)
        free(c->data[k]);
    nb_graph_free(c->g);
}

/* Values past the size at which the gate kernels split their rows across
 * threads ([300, 120] activations, [300, 480] gradients): the same bits
 * as the plain steps at 1 and 2 threads. */
Test(fusion_gates, rows_split_across_threads)
{
    hand c = hand_cell(300, 120);
    cr_assert_gt(t_fused_both_ways(c.g, c.out, 1, c.in, c.data, 4, 0.0f), 0);
    hand_free(&c);
}

/* The caller fetches a member of the gate gradients (dc·g) and a gate's
 * slice: neither is folded, and the values still agree. */
Test(fusion_gates, a_fetched_member_is_never_folded)
{
    hand c = hand_cell(3, 5);
    nb_node *dz = c.out[0], *dcg = c.dcg;
    c.out[1] = dcg, c.out[2] = c.slice3;
    cr_assert_gt(t_fused_both_ways(c.g, c.out, 3, c.in, c.data, 4, 0.0f), 0);
    nb_set_fusion(true);
    nb_runtime *rt = nb_runtime_new(c.g, c.out, 3);
    cr_assert_not_null(rt);
    nb_runtime_step_info s;
    bool dcg_own = false, slice_own = false, grouped = false;
    for (int i = 0; nb_runtime_step(rt, i, &s); i++) {
        dcg_own |= !s.pattern && s.nodes[0] == dcg;
        slice_own |= !s.pattern && s.nodes[0] == c.slice3;
        grouped |= s.pattern && strcmp(s.pattern, "gate gradients") == 0 &&
                   s.nodes[s.n_nodes - 1] == dz;
    }
    cr_assert(dcg_own && slice_own, "the fetched values are steps of their own");
    cr_assert(grouped, "the other three pieces are still one step");
    nb_runtime_free(rt);
    nb_set_fusion(false);
    rt = nb_runtime_new(c.g, c.out, 3);
    for (int i = 0; nb_runtime_step(rt, i, &s); i++)
        cr_assert_null(s.pattern, "fusion off: every op its own step");
    nb_runtime_free(rt);
    nb_set_fusion(true);
    hand_free(&c);
}
