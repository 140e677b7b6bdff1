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
