/*
 * test_layers_sequence.c — the layers sequence models are made of:
 * embedding (rows of a table by token id) and layer normalisation. Values
 * against hand-computed arrays, gradient checks, default initialisation,
 * the parameters' names and shapes, and refusals naming the layer.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static nb_node *find(nb_graph *g, const char *name)
{
    nb_node *n = nb_graph_find(g, name);
    cr_assert_not_null(n, "no node named %s", name);
    return n;
}

static void assert_shape(const nb_node *n, nb_shape want)
{
    char a[64], b[64];
    cr_assert_not_null(n);
    cr_assert(nb_shape_equal(nb_node_shape(n), want), "shape %s, expected %s",
              nb_shape_format(nb_node_shape(n), a, sizeof a), nb_shape_format(want, b, sizeof b));
}

/* After a refusal the layer's scope is popped: a new node has no scope. */
static void assert_scope_popped(nb_graph *g)
{
    cr_assert_null(nb_node_scope(nb_scalar(g, 1.0f)), "a refused layer left its scope pushed");
}

/* ---------------------------------------------------------------- embedding */

Test(embedding, rows_of_its_table_by_token_id)
{
    nb_graph *g = nb_graph_new();
    nb_node *ids = nb_input(g, "tokens", NB_SHAPE(2, 3));
    nb_node *y = nb_embedding(g, ids, (nb_embedding_opts){.vocab = 5, .dim = 2});
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    assert_shape(y, NB_SHAPE(2, 3, 2));
    nb_node *table = find(g, "embedding1/table");
    assert_shape(table, NB_SHAPE(5, 2));
    for (int i = 0; i < 10; i++)
        nb_param_data(table)[i] = (float)(i / 2 * 10 + i % 2); /* row r: 10r, 10r + 1 */
    float *v = t_eval(g, y, &(nb_feed){ids, (float[]){4, 0, 2, 2, 1, 4}}, 1);
    t_assert_close(v, (float[]){40, 41, 0, 1, 20, 21, 20, 21, 10, 11, 40, 41}, 12, 0);
    free(v);
    const nb_layer_record *r = nb_graph_layer(g, 0);
    cr_assert_eq(r->kind, NB_LAYER_EMBEDDING);
    cr_assert_eq(r->embedding.vocab, 5);
    cr_assert_str_eq(nb_layer_kind_name(NB_LAYER_EMBEDDING), "embedding");
    nb_graph_free(g);
}

/* PyTorch's nn.Embedding draws N(0, 1); so does nabla by default. */
Test(embedding, default_init_is_standard_normal)
{
    nb_graph *g = nb_graph_new();
    nb_graph_seed(g, 7);
    nb_node *ids = nb_input(g, "tokens", NB_SHAPE(1));
    cr_assert_not_null(nb_embedding(g, ids, (nb_embedding_opts){.vocab = 1000, .dim = 20}));
    const float *t = nb_param_data(find(g, "embedding1/table"));
    double sum = 0, sq = 0;
    for (int i = 0; i < 20000; i++)
        sum += t[i], sq += (double)t[i] * t[i];
    double mean = sum / 20000, sd = sqrt(sq / 20000 - mean * mean);
    cr_assert(fabs(mean) < 0.03 && fabs(sd - 1) < 0.03, "mean %g, sd %g", mean, sd);
    nb_node *u = nb_embedding(g, ids, (nb_embedding_opts){
        .vocab = 3, .dim = 2, .init = {.kind = NB_INIT_CONSTANT, .a = 0.5f}});
    cr_assert_not_null(u);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(nb_param_data(find(g, "embedding2/table"))[i], 0.5f);
    nb_graph_free(g);
}

Test(embedding, gradcheck_through_the_table)
{
    nb_graph *g = nb_graph_new();
    nb_node *ids = nb_constant(g, NB_SHAPE(2, 3), (float[]){1, 3, 1, 0, 3, 3});
    nb_node *y = nb_embedding(g, ids, (nb_embedding_opts){.vocab = 4, .dim = 3});
    nb_node *table = find(g, "embedding1/table");
    float w[18];
    t_fill(w, 18, 9, -1, 1);
    nb_node *loss = nb_sum(g, nb_mul(g, nb_mul(g, y, y), nb_constant(g, NB_SHAPE(2, 3, 3), w)),
                           NULL, 0, false);
    t_gradcheck(g, loss, &table, 1, NULL, 0);
    nb_graph_free(g);
}

Test(embedding, refusals)
{
    nb_graph *g = nb_graph_new();
    nb_node *ids = nb_input(g, "tokens", NB_SHAPE(2, 3));
    cr_assert_null(nb_embedding(g, ids, (nb_embedding_opts){.vocab = 0, .dim = 2}));
    t_assert_error(g, "embedding1", "vocab 0 is outside 1..", NULL);
    assert_scope_popped(g);
    nb_graph_clear_error(g);
    cr_assert_null(nb_embedding(g, ids, (nb_embedding_opts){.vocab = (int64_t)1 << 25, .dim = 2}));
    t_assert_error(g, "embedding2", "vocab 33554432 is outside", "2^24", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_embedding(g, ids, (nb_embedding_opts){.vocab = 4}));
    t_assert_error(g, "embedding3", "dim 0 must be >= 1", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_embedding(g, nb_scalar(g, 1), (nb_embedding_opts){.vocab = 4, .dim = 2}));
    t_assert_error(g, "embedding4", "must have a batch axis", NULL);
    assert_scope_popped(g);
    cr_assert_eq(nb_graph_num_params(g), 0, "refused layers made parameters");
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- layernorm */

/* Each row [1, 2, 3, 4]·k + c normalises to the same ±1.3416, ±0.4472
 * (mean 2.5, biased variance 1.25), whatever its scale and shift. */
Test(layernorm, rows_normalised_by_their_own_statistics)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_constant(g, NB_SHAPE(2, 4), (float[]){1, 2, 3, 4, 10, 30, 50, 70});
    nb_node *y = nb_layernorm(g, x, (nb_layernorm_opts){.eps = 1e-12f});
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    assert_shape(find(g, "layernorm1/gamma"), NB_SHAPE(4));
    assert_shape(find(g, "layernorm1/beta"), NB_SHAPE(4));
    float *v = t_eval(g, y, NULL, 0);
    const float a = 1.5f / sqrtf(1.25f), b = 0.5f / sqrtf(1.25f);
    t_assert_close(v, (float[]){-a, -b, b, a, -a, -b, b, a}, 8, 1e-5f);
    free(v);
    /* gamma and beta scale and shift each normalised column */
    float *gm = nb_param_data(find(g, "layernorm1/gamma")), *bt = nb_param_data(find(g, "layernorm1/beta"));
    for (int i = 0; i < 4; i++)
        gm[i] = (float)(i + 1), bt[i] = 0.5f;
    v = t_eval(g, y, NULL, 0);
    t_assert_close(v, (float[]){0.5f - a, 0.5f - 2 * b, 0.5f + 3 * b, 0.5f + 4 * a,
                                0.5f - a, 0.5f - 2 * b, 0.5f + 3 * b, 0.5f + 4 * a}, 8, 1e-5f);
    free(v);
    nb_graph_free(g);
}

/* axis 1 of [N, C, L] normalises each example over C·L values, with gamma
 * and beta of shape [C, L]; no_affine makes no parameters. */
Test(layernorm, over_several_axes_and_without_affine)
{
    nb_graph *g = nb_graph_new();
    float xv[2 * 2 * 3];
    t_fill(xv, 12, 3, -2, 2);
    nb_node *x = nb_constant(g, NB_SHAPE(2, 2, 3), xv);
    nb_node *y = nb_layernorm(g, x, (nb_layernorm_opts){.axis = 1, .no_affine = true});
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    cr_assert_eq(nb_graph_num_params(g), 0);
    float *v = t_eval(g, y, NULL, 0);
    for (int e = 0; e < 2; e++) {
        double m = 0, s = 0;
        for (int i = 0; i < 6; i++)
            m += xv[e * 6 + i];
        m /= 6;
        for (int i = 0; i < 6; i++)
            s += (xv[e * 6 + i] - m) * (xv[e * 6 + i] - m);
        s /= 6;
        for (int i = 0; i < 6; i++)
            cr_assert_float_eq(v[e * 6 + i], (xv[e * 6 + i] - m) / sqrt(s + 1e-5), 1e-5,
                               "example %d element %d", e, i);
    }
    free(v);
    cr_assert_not_null(nb_layernorm(g, x, (nb_layernorm_opts){.axis = -2}));
    assert_shape(find(g, "layernorm2/gamma"), NB_SHAPE(2, 3));
    nb_graph_free(g);
}

Test(layernorm, gradcheck_input_gamma_beta)
{
    nb_graph *g = nb_graph_new();
    float xv[3 * 5], w[15];
    t_fill(xv, 15, 5, -2, 2);
    t_fill(w, 15, 6, -1, 1);
    nb_node *x = nb_param(g, "x", NB_SHAPE(3, 5), xv);
    nb_node *y = nb_layernorm(g, x, (nb_layernorm_opts){0});
    float *gm = nb_param_data(find(g, "layernorm1/gamma")), *bt = nb_param_data(find(g, "layernorm1/beta"));
    t_fill(gm, 5, 7, 0.5f, 1.5f);
    t_fill(bt, 5, 8, -0.5f, 0.5f);
    nb_node *loss = nb_sum(g, nb_mul(g, nb_tanh(g, y), nb_constant(g, NB_SHAPE(3, 5), w)), NULL,
                           0, false);
    nb_node *wrt[] = {x, find(g, "layernorm1/gamma"), find(g, "layernorm1/beta")};
    t_gradcheck(g, loss, wrt, 3, NULL, 0);
    nb_graph_free(g);
}

Test(layernorm, refusals)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(2, 3, 4));
    cr_assert_null(nb_layernorm(g, x, (nb_layernorm_opts){.eps = -1}));
    t_assert_error(g, "layernorm1", "eps -1 must be > 0", NULL);
    assert_scope_popped(g);
    nb_graph_clear_error(g);
    cr_assert_null(nb_layernorm(g, x, (nb_layernorm_opts){.axis = -3}));
    t_assert_error(g, "layernorm2", "axis -3 of input 'x' [2,3,4] is outside 1…2",
                   "the batch axis 0 is never normalised over", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_layernorm(g, x, (nb_layernorm_opts){.axis = 3}));
    t_assert_error(g, "layernorm3", "axis 3", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_layernorm(g, nb_input(g, "v", NB_SHAPE(4)), (nb_layernorm_opts){0}));
    t_assert_error(g, "layernorm4", "must have a batch axis and at least one axis", NULL);
    assert_scope_popped(g);
    cr_assert_eq(nb_graph_num_params(g), 0, "refused layers made parameters");
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- in a model file */

/* Token ids through embedding and layernorm in the layers form: the
 * parameters the file names, and a refusal of axis 0 with its line. */
Test(sequence_yaml, embedding_and_layernorm_layers)
{
    static const char text[] =
        "nabla: 1\n"
        "input: {tokens: [6]}\n"
        "layers:\n"
        "  - {embedding: {vocab: 10, dim: 4}}\n"
        "  - {layernorm: {eps: 0.001}}\n"
        "  - flatten\n"
        "  - {dense: {units: 3}}\n"
        "loss: softmax_cross_entropy\n";
    nb_error err = {0};
    nb_model_file *m = nb_model_file_parse(text, strlen(text), "seq.yaml", &err);
    cr_assert_not_null(m, "%s", err.message);
    nb_graph *g = nb_graph_new();
    nb_model_io io = {0};
    cr_assert_eq(nb_model_file_build(g, 2, &io, m), NB_OK, "%s", nb_graph_error(g));
    assert_shape(find(g, "embedding1/table"), NB_SHAPE(10, 4));
    assert_shape(find(g, "layernorm1/gamma"), NB_SHAPE(4));
    assert_shape(io.output, NB_SHAPE(2, 3));
    nb_graph_free(g);
    nb_model_file_free(m);

    static const char bad[] =
        "nabla: 1\n"
        "input: {tokens: [6]}\n"
        "layers:\n"
        "  - {embedding: {vocab: 10, dim: 4}}\n"
        "  - {layernorm: {axis: 0}}\n";
    cr_assert_null(nb_model_file_parse(bad, strlen(bad), "bad.yaml", &err));
    cr_assert(strstr(err.message, "bad.yaml:5:5: layer 2 'layernorm1' (layernorm): axis 0 is "
                                  "the batch axis"), "%s", err.message);
    static const char nodim[] = "nabla: 1\ninput: {t: [3]}\nlayers:\n"
                                "  - {embedding: {vocab: 10}}\n";
    cr_assert_null(nb_model_file_parse(nodim, strlen(nodim), "nodim.yaml", &err));
    cr_assert(strstr(err.message, "dim"), "%s", err.message);
}

/* ---------------------------------------------------------------- rnn, gru, lstm */

typedef nb_node *(*cell_fn)(nb_graph *g, nb_node *x, nb_rnn_opts o);

/* Shapes of the result and of every parameter, PyTorch's names, the
 * default U(−1/√H, 1/√H), for each cell, stacked and bidirectional. */
Test(recurrent, shapes_names_and_default_init)
{
    const struct { cell_fn fn; const char *name; int gates; } cells[] = {
        {nb_rnn, "rnn", 1}, {nb_gru, "gru", 3}, {nb_lstm, "lstm", 4}};
    for (int c = 0; c < 3; c++) {
        nb_graph *g = nb_graph_new();
        nb_node *x = nb_input(g, "x", NB_SHAPE(2, 7, 3));
        nb_node *last = cells[c].fn(g, x, (nb_rnn_opts){.hidden = 5});
        assert_shape(last, NB_SHAPE(2, 5));
        nb_node *seq = cells[c].fn(g, x, (nb_rnn_opts){.hidden = 4, .layers = 2,
                                                       .bidirectional = true, .sequence = true});
        assert_shape(seq, NB_SHAPE(2, 7, 8));
        char name[96];
        int gh = cells[c].gates * 4;
        snprintf(name, sizeof name, "%s2/weight_ih_l0", cells[c].name);
        assert_shape(find(g, name), NB_SHAPE(gh, 3));
        snprintf(name, sizeof name, "%s2/weight_ih_l1_reverse", cells[c].name);
        assert_shape(find(g, name), NB_SHAPE(gh, 8));
        snprintf(name, sizeof name, "%s2/weight_hh_l1", cells[c].name);
        assert_shape(find(g, name), NB_SHAPE(gh, 4));
        snprintf(name, sizeof name, "%s2/bias_hh_l0_reverse", cells[c].name);
        assert_shape(find(g, name), NB_SHAPE(gh));
        cr_assert_eq(nb_graph_num_params(g), 4 + 16, "%s", cells[c].name);
        snprintf(name, sizeof name, "%s1/weight_hh_l0", cells[c].name);
        const float *w = nb_param_data(find(g, name));
        float lo = 1, hi = -1, bound = 1 / sqrtf(5.0f);
        for (int i = 0; i < cells[c].gates * 5 * 5; i++)
            lo = fminf(lo, w[i]), hi = fmaxf(hi, w[i]);
        cr_assert(lo >= -bound && hi <= bound && hi - lo > bound, "%s: [%g, %g]", cells[c].name,
                  (double)lo, (double)hi);
        const nb_layer_record *r = nb_graph_layer(g, 1);
        cr_assert_str_eq(nb_layer_kind_name(r->kind), cells[c].name);
        cr_assert_eq(r->rnn.layers, 2);
        cr_assert(r->rnn.bidirectional && r->rnn.sequence);
        nb_graph_free(g);
    }
}

/* One unit, one feature, two steps from given states, worked by hand:
 * LSTM c1 = f·c0 + i·g, h1 = o·tanh(c1), and its final states. */
Test(recurrent, lstm_steps_by_hand_with_initial_and_final_states)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_constant(g, NB_SHAPE(1, 2, 1), (float[]){0.5f, -1.0f});
    nb_node *h0 = nb_constant(g, NB_SHAPE(1, 1, 1), (float[]){0.2f});
    nb_node *c0 = nb_constant(g, NB_SHAPE(1, 1, 1), (float[]){-0.3f});
    nb_node *hn = NULL, *cn = NULL;
    nb_node *seq = nb_lstm(g, x, (nb_rnn_opts){.hidden = 1, .sequence = true, .h0 = h0, .c0 = c0,
                                               .h_n = &hn, .c_n = &cn});
    cr_assert_not_null(seq, "%s", nb_graph_error(g));
    assert_shape(hn, NB_SHAPE(1, 1, 1));
    assert_shape(cn, NB_SHAPE(1, 1, 1));
    /* gates i, f, g, o: w_ih = [0.1, 0.2, 0.3, 0.4], w_hh = [0.5, -0.5, 1, -1],
     * bias_ih = [0, 0.1, 0, -0.1], bias_hh = [0.2, 0, 0, 0] */
    const float wih[] = {0.1f, 0.2f, 0.3f, 0.4f}, whh[] = {0.5f, -0.5f, 1, -1};
    const float bih[] = {0, 0.1f, 0, -0.1f}, bhh[] = {0.2f, 0, 0, 0};
    memcpy(nb_param_data(find(g, "lstm1/weight_ih_l0")), wih, sizeof wih);
    memcpy(nb_param_data(find(g, "lstm1/weight_hh_l0")), whh, sizeof whh);
    memcpy(nb_param_data(find(g, "lstm1/bias_ih_l0")), bih, sizeof bih);
    memcpy(nb_param_data(find(g, "lstm1/bias_hh_l0")), bhh, sizeof bhh);
    double h = 0.2, c = -0.3, want[2];
    const double xs[] = {0.5, -1.0};
    for (int t = 0; t < 2; t++) {
        double z[4];
        for (int k = 0; k < 4; k++)
            z[k] = wih[k] * xs[t] + bih[k] + whh[k] * h + bhh[k];
        double i = 1 / (1 + exp(-z[0])), f = 1 / (1 + exp(-z[1])), gg = tanh(z[2]),
               o = 1 / (1 + exp(-z[3]));
        c = f * c + i * gg;
        h = o * tanh(c);
        want[t] = h;
    }
    nb_node *outs[] = {seq, hn, cn};
    nb_runtime *rt = nb_runtime_new(g, outs, 3);
    cr_assert_not_null(rt, "%s", nb_graph_error(g));
    cr_assert_eq(nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt));
    const float *s = nb_runtime_value(rt, seq);
    cr_assert_float_eq(s[0], want[0], 1e-6);
    cr_assert_float_eq(s[1], want[1], 1e-6);
    cr_assert_float_eq(nb_runtime_value(rt, hn)[0], h, 1e-6);
    cr_assert_float_eq(nb_runtime_value(rt, cn)[0], c, 1e-6);
    nb_runtime_free(rt);
    nb_graph_free(g);
}

/* Gradients with respect to the input, the initial states and the
 * weights, through two steps and two stacked bidirectional layers. */
Test(recurrent, gradcheck_every_cell)
{
    const cell_fn fns[] = {nb_rnn, nb_gru, nb_lstm};
    for (int c = 0; c < 3; c++) {
        nb_graph *g = nb_graph_new();
        float xv[2 * 3 * 2], hv[4 * 2 * 2], cv[4 * 2 * 2], w[2 * 3 * 4];
        t_fill(xv, 12, 11, -1, 1);
        t_fill(hv, 16, 12, -0.5f, 0.5f);
        t_fill(cv, 16, 13, -0.5f, 0.5f);
        t_fill(w, 24, 14, -1, 1);
        nb_node *x = nb_param(g, "x", NB_SHAPE(2, 3, 2), xv);
        nb_node *h0 = nb_param(g, "h0", NB_SHAPE(4, 2, 2), hv);
        nb_node *c0 = fns[c] == nb_lstm ? nb_param(g, "c0", NB_SHAPE(4, 2, 2), cv) : NULL;
        nb_node *y = fns[c](g, x, (nb_rnn_opts){.hidden = 2, .layers = 2, .bidirectional = true,
                                                .sequence = true, .h0 = h0, .c0 = c0});
        cr_assert_not_null(y, "%s", nb_graph_error(g));
        nb_node *loss = nb_sum(g, nb_mul(g, y, nb_constant(g, NB_SHAPE(2, 3, 4), w)), NULL, 0,
                               false);
        nb_node *wrt[] = {x, h0, nb_graph_find(g, c == 0 ? "rnn1/weight_hh_l1_reverse"
                                                  : c == 1 ? "gru1/weight_hh_l0"
                                                           : "lstm1/bias_ih_l1"), c0};
        t_gradcheck(g, loss, wrt, c0 ? 4 : 3, NULL, 0);
        nb_graph_free(g);
    }
}

Test(recurrent, refusals)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(2, 7, 3));
    cr_assert_null(nb_lstm(g, x, (nb_rnn_opts){0}));
    t_assert_error(g, "lstm1", "hidden 0 must be >= 1", NULL);
    assert_scope_popped(g);
    nb_graph_clear_error(g);
    cr_assert_null(nb_gru(g, x, (nb_rnn_opts){.hidden = 2, .layers = 17}));
    t_assert_error(g, "gru1", "layers 17 is outside 1..16", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_rnn(g, nb_input(g, "img", NB_SHAPE(2, 1, 28, 28)), (nb_rnn_opts){.hidden = 2}));
    t_assert_error(g, "rnn1", "input 'img' [2,1,28,28] must be [N, T, F]", "row by row", NULL);
    nb_graph_clear_error(g);
    nb_node *s = nb_input(g, "s", NB_SHAPE(1, 2, 2));
    cr_assert_null(nb_gru(g, x, (nb_rnn_opts){.hidden = 2, .c0 = s}));
    t_assert_error(g, "gru2", "a cell state (c0, c_n) belongs to lstm", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_lstm(g, x, (nb_rnn_opts){.hidden = 2, .h0 = s}));
    t_assert_error(g, "lstm2", "both initial states h0 and c0, or neither", NULL);
    nb_graph_clear_error(g);
    nb_node *wrong = nb_input(g, "h0", NB_SHAPE(1, 3, 2));
    cr_assert_null(nb_rnn(g, x, (nb_rnn_opts){.hidden = 2, .bidirectional = true, .h0 = wrong}));
    t_assert_error(g, "rnn2", "initial state h0 'h0' [1,3,2] must be [2,2,2]", NULL);
    assert_scope_popped(g);
    cr_assert_eq(nb_graph_num_params(g), 0, "refused layers made parameters");
    nb_graph_free(g);
}

/* Token ids → embedding → LSTM → dense, in a model file, trained: the loss
 * falls, and with clip_norm every step's update is at most lr·clip_norm
 * long (plain SGD), so clipping reaches the recurrent weights. */
static nb_status seq_model(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "ids", NB_SHAPE(batch, 6));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_embedding(g, io->x, (nb_embedding_opts){.vocab = 4, .dim = 3});
    h = nb_lstm(g, h, (nb_rnn_opts){.hidden = 8});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 2});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

/* Sequences of 6 ids in 0..3; the class is whether id 3 comes before id 0
 * (order matters, so no bag of tokens solves it). */
static void order_task(float *x, float *y, int n, uint64_t seed)
{
    nb_rng r = nb_rng_seed(seed);
    for (int i = 0; i < n; i++) {
        int first3 = -1, first0 = -1;
        for (int t = 0; t < 6; t++) {
            int v = (int)(nb_rng_uniform(&r) * 4) % 4;
            x[i * 6 + t] = (float)v;
            if (v == 3 && first3 < 0)
                first3 = t;
            if (v == 0 && first0 < 0)
                first0 = t;
        }
        y[i] = first3 >= 0 && (first0 < 0 || first3 < first0) ? 1.0f : 0.0f;
    }
}

static double param_distance(nb_trainer *t, const float *before)
{
    nb_graph *g = nb_trainer_graph(t);
    double sq = 0;
    int64_t k = 0;
    for (int i = 0; i < nb_graph_num_params(g); i++) {
        nb_node *p = nb_graph_param(g, i);
        const float *v = nb_param_data(p);
        for (int64_t j = 0; j < nb_shape_numel(nb_node_shape(p)); j++, k++)
            sq += ((double)v[j] - before[k]) * ((double)v[j] - before[k]);
    }
    return sqrt(sq);
}

static float *params_copy(nb_trainer *t)
{
    nb_graph *g = nb_trainer_graph(t);
    int64_t n = 0;
    for (int i = 0; i < nb_graph_num_params(g); i++)
        n += nb_shape_numel(nb_node_shape(nb_graph_param(g, i)));
    float *v = malloc((size_t)n * sizeof *v);
    n = 0;
    for (int i = 0; i < nb_graph_num_params(g); i++) {
        nb_node *p = nb_graph_param(g, i);
        int64_t m = nb_shape_numel(nb_node_shape(p));
        memcpy(v + n, nb_param_data(p), (size_t)m * sizeof *v);
        n += m;
    }
    return v;
}

Test(recurrent, trains_and_clip_norm_bounds_each_step)
{
    float x[64 * 6], y[64];
    order_task(x, y, 64, 21);
    nb_error err = {0};
    nb_train_opts o = {.batch = 16, .epochs = 1, .seed = 4, .clip_norm = 0.01f,
                       .optimizer = t_optimizer(NB_OPT_SGD, 0.5f, 0)};
    nb_trainer *t = nb_trainer_new(seq_model, NULL, NB_SHAPE(6), 1, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    for (int s = 0; s < 4; s++) {
        float *before = params_copy(t);
        double loss;
        cr_assert_eq(nb_trainer_step(t, x + s * 16 * 6, y + s * 16, 16, &loss), NB_OK, "%s",
                     nb_trainer_error(t));
        double moved = param_distance(t, before);
        cr_assert(moved > 0 && moved <= 0.5 * 0.01 * (1 + 1e-5), "step %d moved %g", s, moved);
        free(before);
    }
    nb_trainer_free(t);

    o.clip_norm = 0;
    o.epochs = 30;
    o.optimizer = t_optimizer(NB_OPT_ADAM, 0.02f, 0);
    t = nb_trainer_new(seq_model, NULL, NB_SHAPE(6), 1, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    nb_dataset *ds = nb_dataset_new(64, NB_SHAPE(6), 1, NULL);
    memcpy(ds->x, x, sizeof x);
    memcpy(ds->y, y, sizeof y);
    double before_loss, after_loss, acc;
    cr_assert_eq(nb_trainer_evaluate(t, ds, &before_loss, &acc), NB_OK, "%s", nb_trainer_error(t));
    cr_assert_eq(nb_trainer_fit(t, ds, NULL), NB_OK, "%s", nb_trainer_error(t));
    cr_assert_eq(nb_trainer_evaluate(t, ds, &after_loss, &acc), NB_OK, "%s", nb_trainer_error(t));
    cr_assert(after_loss < 0.5 * before_loss && acc >= 0.9, "loss %g → %g, accuracy %g",
              before_loss, after_loss, acc);
    nb_dataset_free(ds);
    nb_trainer_free(t);
}
