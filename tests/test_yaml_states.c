/*
 * test_yaml_states.c — a model file's recurrent layers started from states
 * it names (h0, c0: inputs or nodes above, batch first [N, layers·dirs,
 * hidden]) and giving their final states graph names (h_n, c_n): the
 * layout turned to the C layers' and back, truncated backpropagation
 * through time's carry (two windows with the state carried compute what one
 * window of twice the length does), and every misuse refused, named.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static nb_model_file *parse(const char *text)
{
    nb_error err = {0};
    nb_model_file *m = nb_model_file_parse(text, strlen(text), "states.yaml", &err);
    cr_assert_not_null(m, "parse failed: %s", err.message);
    return m;
}

static nb_graph *build(const nb_model_file *m, int64_t batch, nb_model_io *io)
{
    nb_graph *g = nb_graph_new();
    nb_graph_seed(g, 7);
    cr_assert_eq(nb_model_file_build(g, batch, io, (void *)m), NB_OK, "build: %s",
                 nb_graph_error(g));
    return g;
}

static nb_node *find(nb_graph *g, const char *name)
{
    nb_node *n = nb_graph_find(g, name);
    cr_assert_not_null(n, "no node '%s'", name);
    return n;
}

/* A two-layer LSTM over T steps of 2 features, from states h0, c0. */
static char *lstm_text(char *buf, size_t size, int steps)
{
    snprintf(buf, size,
             "nabla: 1\n"
             "input: {x: [%d, 2], h0: [2, 3], c0: [2, 3]}\n"
             "nodes:\n"
             "  - {name: rnn, op: lstm, inputs: [x], hidden: 3, layers: 2, sequence: true,\n"
             "     h0: h0, c0: c0, h_n: h_n, c_n: c_n}\n", steps);
    return buf;
}

/* ---------------------------------------------------------------- layout */

/* The file's [N, L, H] states are the C layer's [L, N, H]: a C nb_lstm
 * given the same weights and the states turned by hand agrees. */
Test(yaml_states, batch_first_states_are_the_layers_turned)
{
    char text[512];
    nb_model_file *m = parse(lstm_text(text, sizeof text, 3));
    nb_model_io io;
    nb_graph *g = build(m, 2, &io);
    nb_node *hn = find(g, "h_n"), *cn = find(g, "c_n");
    cr_assert(nb_shape_equal(nb_node_shape(hn), NB_SHAPE(2, 2, 3)));
    cr_assert(nb_shape_equal(nb_node_shape(cn), NB_SHAPE(2, 2, 3)));

    float x[2 * 3 * 2], h0[2 * 2 * 3], c0[2 * 2 * 3], h0t[12], c0t[12];
    for (int i = 0; i < 12; i++)
        x[i] = sinf(0.7f * (float)i), h0[i] = 0.1f * (float)(i - 6), c0[i] = cosf((float)i);
    for (int n = 0; n < 2; n++)  /* [N, L, H] → [L, N, H] */
        for (int l = 0; l < 2; l++)
            for (int k = 0; k < 3; k++)
                h0t[(l * 2 + n) * 3 + k] = h0[(n * 2 + l) * 3 + k],
                c0t[(l * 2 + n) * 3 + k] = c0[(n * 2 + l) * 3 + k];

    nb_graph *r = nb_graph_new();
    nb_node *rhn = NULL, *rcn = NULL;
    nb_node *seq = nb_lstm(r, nb_constant(r, NB_SHAPE(2, 3, 2), x),
                           (nb_rnn_opts){.hidden = 3, .layers = 2, .sequence = true,
                                         .h0 = nb_constant(r, NB_SHAPE(2, 2, 3), h0t),
                                         .c0 = nb_constant(r, NB_SHAPE(2, 2, 3), c0t),
                                         .h_n = &rhn, .c_n = &rcn, .name = "rnn"});
    cr_assert_not_null(seq, "%s", nb_graph_error(r));
    for (int i = 0; i < nb_graph_num_params(g); i++) {
        nb_node *p = nb_graph_param(g, i);
        memcpy(nb_param_data(find(r, nb_node_name(p))), nb_param_data(p),
               (size_t)nb_shape_numel(nb_node_shape(p)) * sizeof(float));
    }

    nb_node *outs[] = {io.output, hn, cn}, *routs[] = {seq, rhn, rcn};
    nb_runtime *rt = nb_runtime_new(g, outs, 3), *rr = nb_runtime_new(r, routs, 3);
    cr_assert(rt && rr);
    nb_runtime_set_input(rt, find(g, "x"), x);
    nb_runtime_set_input(rt, find(g, "h0"), h0);
    nb_runtime_set_input(rt, find(g, "c0"), c0);
    cr_assert_eq(nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt));
    cr_assert_eq(nb_runtime_run(rr), NB_OK, "%s", nb_runtime_error(rr));
    for (int i = 0; i < 2 * 3 * 3; i++)
        cr_assert_float_eq(nb_runtime_value(rt, io.output)[i], nb_runtime_value(rr, seq)[i], 1e-6);
    for (int n = 0; n < 2; n++)
        for (int l = 0; l < 2; l++)
            for (int k = 0; k < 3; k++) {
                int bf = (n * 2 + l) * 3 + k, lf = (l * 2 + n) * 3 + k;
                cr_assert_float_eq(nb_runtime_value(rt, hn)[bf], nb_runtime_value(rr, rhn)[lf],
                                   1e-6);
                cr_assert_float_eq(nb_runtime_value(rt, cn)[bf], nb_runtime_value(rr, rcn)[lf],
                                   1e-6);
            }
    nb_runtime_free(rt);
    nb_runtime_free(rr);
    nb_graph_free(r);
    nb_graph_free(g);
    nb_model_file_free(m);
}

/* ---------------------------------------------------------------- the carry */

/* Runs the model's graph over x from states h, c (batch first), leaving the
 * final states in h, c and the outputs in out. */
static void run_window(nb_graph *g, nb_node *output, const float *x, float *h, float *c,
                       float *out, int64_t n_out)
{
    nb_node *hn = find(g, "h_n"), *cn = find(g, "c_n");
    nb_node *outs[] = {output, hn, cn};
    nb_runtime *rt = nb_runtime_new(g, outs, 3);
    cr_assert_not_null(rt, "%s", nb_graph_error(g));
    nb_runtime_set_input(rt, find(g, "x"), x);
    nb_runtime_set_input(rt, find(g, "h0"), h);
    nb_runtime_set_input(rt, find(g, "c0"), c);
    cr_assert_eq(nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt));
    memcpy(out, nb_runtime_value(rt, output), (size_t)n_out * sizeof(float));
    memcpy(h, nb_runtime_value(rt, hn), 12 * sizeof(float));
    memcpy(c, nb_runtime_value(rt, cn), 12 * sizeof(float));
    nb_runtime_free(rt);
}

/* Truncated BPTT's forward pass: two windows of 4 steps, the final states
 * of the first fed as the initial states of the second, give the outputs
 * and final states of one window of 8 steps. */
Test(yaml_states, two_windows_carried_are_one_window_twice_as_long)
{
    char t8[512], t4[512];
    nb_model_file *m8 = parse(lstm_text(t8, sizeof t8, 8));
    nb_model_file *m4 = parse(lstm_text(t4, sizeof t4, 4));
    nb_model_io io8, io4;
    nb_graph *g8 = build(m8, 2, &io8), *g4 = build(m4, 2, &io4);
    for (int i = 0; i < nb_graph_num_params(g8); i++) {
        nb_node *p = nb_graph_param(g8, i);
        memcpy(nb_param_data(find(g4, nb_node_name(p))), nb_param_data(p),
               (size_t)nb_shape_numel(nb_node_shape(p)) * sizeof(float));
    }
    float x[2 * 8 * 2], half[2][2 * 4 * 2];
    for (int i = 0; i < 32; i++)
        x[i] = sinf(0.37f * (float)i * (float)i);
    for (int n = 0; n < 2; n++)
        for (int w = 0; w < 2; w++)
            memcpy(half[w] + n * 8, x + n * 16 + w * 8, 8 * sizeof(float));

    float h8[12] = {0}, c8[12] = {0}, h4[12] = {0}, c4[12] = {0};
    float y8[2 * 8 * 3], y4[2][2 * 4 * 3];
    run_window(g8, io8.output, x, h8, c8, y8, 48);
    run_window(g4, io4.output, half[0], h4, c4, y4[0], 24);
    run_window(g4, io4.output, half[1], h4, c4, y4[1], 24);
    for (int n = 0; n < 2; n++)
        for (int t = 0; t < 8; t++)
            for (int k = 0; k < 3; k++)
                cr_assert_float_eq(y8[(n * 8 + t) * 3 + k], y4[t / 4][(n * 4 + t % 4) * 3 + k],
                                   1e-5, "n %d step %d unit %d", n, t, k);
    for (int i = 0; i < 12; i++) {
        cr_assert_float_eq(h8[i], h4[i], 1e-5);
        cr_assert_float_eq(c8[i], c4[i], 1e-5);
    }
    nb_graph_free(g8);
    nb_graph_free(g4);
    nb_model_file_free(m8);
    nb_model_file_free(m4);
}

/* A state may be any value above the node: here a node's output; a gru
 * keeps only h. */
Test(yaml_states, a_node_above_can_be_the_state)
{
    nb_model_file *m = parse("nabla: 1\n"
                             "input: {x: [5, 2], s: [6]}\n"
                             "nodes:\n"
                             "  - {name: s2, op: reshape, inputs: [s], shape: [2, 3]}\n"
                             "  - {name: g, op: gru, inputs: [x], hidden: 3, bidirectional: true,\n"
                             "     h0: s2, h_n: last}\n");
    nb_model_io io;
    nb_graph *g = build(m, 4, &io);
    cr_assert(nb_shape_equal(nb_node_shape(find(g, "last")), NB_SHAPE(4, 2, 3)));
    cr_assert(nb_shape_equal(nb_node_shape(io.output), NB_SHAPE(4, 6)));
    nb_graph_free(g);
    nb_model_file_free(m);
}

/* ---------------------------------------------------------------- refusals */

typedef struct bad_case {
    const char *text;
    const char *want[2];
} bad_case;

#define HEAD "nabla: 1\ninput: {x: [5, 2], h: [1, 3], c: [1, 3]}\nnodes:\n"

static const bad_case corpus[] = {
    {HEAD "  - {name: r, op: lstm, inputs: [x], hidden: 3, layers: 2, h0: h, c0: c}\n",
     {"states.yaml:4:5: node 'r' (lstm): h0 is [N,1,3]; it must be [N, layers·directions, hidden] = [N,2,3]"}},
    {HEAD "  - {name: r, op: lstm, inputs: [x], hidden: 4, h0: h, c0: c}\n",
     {"states.yaml:4:5:", "h0 is [N,1,3]; it must be [N, layers·directions, hidden] = [N,1,4]"}},
    {HEAD "  - {name: r, op: lstm, inputs: [x], hidden: 3, h0: h}\n",
     {"states.yaml:4:5:", "lstm starts from both h0 and c0, or from neither (zeros); c0 is missing"}},
    {HEAD "  - {name: r, op: gru, inputs: [x], hidden: 3, c0: c}\n",
     {"states.yaml:4:48:", "key 'c0' is unknown in gru"}},
    {HEAD "  - {name: r, op: rnn, inputs: [x], hidden: 3, h0: later}\n"
          "  - {name: later, op: relu, inputs: [x]}\n",
     {"states.yaml:4:52:", "h0 'later' is not an input or a node above this one"}},
    {HEAD "  - {name: r, op: rnn, inputs: [x], hidden: 3, h_n: x}\n",
     {"states.yaml:4:53:", "name 'x' is already an input"}},
    {HEAD "  - {name: r, op: rnn, inputs: [x], hidden: 3, h_n: r}\n",
     {"states.yaml:4:5:", "h_n 'r' is the name of its own node"}},
    {HEAD "  - {name: r, op: lstm, inputs: [x], hidden: 3, h_n: s, c_n: s}\n",
     {"states.yaml:4:5:", "h_n and c_n are both called 's'"}},
    {HEAD "  - {name: r, op: rnn, inputs: [x], hidden: 3, h_n: last}\n"
          "  - {name: last, op: relu, inputs: [x]}\n",
     {"states.yaml:5:12:", "name 'last' is already the h_n of the node at line 4"}},
    {HEAD "  - {name: r, op: rnn, inputs: [x], hidden: 3, h_n: last}\n"
          "  - {name: o, op: relu, inputs: [last]}\n",
     {"states.yaml:5:34:", "a final state is read by the program that runs the model"}},
    {HEAD "  - {name: r, op: rnn, inputs: [x], hidden: 3, h0: [h]}\n",
     {"states.yaml:4:52:", "key 'h0' in rnn: expected an input or node name"}},
};

Test(yaml_states, misuse_is_refused_where_and_what)
{
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
        nb_error err = {0};
        nb_model_file *m = nb_model_file_parse(corpus[i].text, strlen(corpus[i].text),
                                               "states.yaml", &err);
        cr_expect_null(m, "case %zu was accepted", i);
        nb_model_file_free(m);
        for (int k = 0; k < 2 && corpus[i].want[k]; k++)
            cr_expect(strstr(err.message, corpus[i].want[k]), "case %zu: \"%s\" lacks \"%s\"", i,
                      err.message, corpus[i].want[k]);
    }
}

/* A written model file cannot name a state the C code gave (a graph built
 * from a file with states is such a graph): refused, saying what to do. */
Test(yaml_states, model_yaml_refuses_states_it_cannot_name)
{
    char text[512];
    nb_model_file *m = parse(lstm_text(text, sizeof text, 3));
    nb_error err = {0};
    char *yaml = nb_model_yaml(nb_model_file_build, m, NULL, &err);
    cr_assert_null(yaml);
    cr_assert(strstr(err.message, "layer 'rnn' starts from an initial state given in C"), "%s",
              err.message);
    cr_assert(strstr(err.message, "write the file by hand"), "%s", err.message);
    nb_model_file_free(m);
}

/* ---------------------------------------------------------------- the example model */

/* examples/models/char_lm.yaml (examples/char_lm.c): by hand, embedding
 * 98·64 = 6272, LSTM 4·128·64 + 4·128·128 + 2·4·128 = 99328, dense
 * 128·98 + 98 = 12642: 118242 parameters; logits at every step and states
 * batch first. */
Test(yaml_states, the_char_lm_example_model_builds)
{
    const char *fx = getenv("NABLA_FIXTURES");
    char path[1024];
    snprintf(path, sizeof path, "%s/../../examples/models/char_lm.yaml", fx ? fx : "tests/fixtures");
    nb_error err = {0};
    nb_model_file *m = nb_model_file_load(path, &err);
    cr_assert_not_null(m, "%s", err.message);
    nb_model_io io;
    nb_graph *g = build(m, 4, &io);
    int64_t params = 0;
    for (int i = 0; i < nb_graph_num_params(g); i++)
        params += nb_shape_numel(nb_node_shape(nb_graph_param(g, i)));
    cr_expect_eq(params, 118242, "%lld parameters", (long long)params);
    cr_expect(nb_shape_equal(nb_node_shape(io.output), NB_SHAPE(4, 64, 98)));
    cr_expect(nb_shape_equal(nb_node_shape(find(g, "h_n")), NB_SHAPE(4, 1, 128)));
    cr_expect(nb_shape_equal(nb_node_shape(find(g, "c_n")), NB_SHAPE(4, 1, 128)));
    cr_expect(nb_shape_equal(nb_node_shape(find(g, "h0")), NB_SHAPE(4, 1, 128)));
    cr_expect_null(io.loss, "the loss is the program's");
    nb_graph_free(g);
    nb_model_file_free(m);
}
