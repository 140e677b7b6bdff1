/*
 * test_model_write.c — models built in C written as model files
 * (nb_model_yaml, nb_trainer_save): an MLP, a CNN with convolution,
 * pooling, batch norm and dropout, and a residual graph of primitive ops,
 * scopes, a parameter of its own, constants and a softmax output. Each is
 * trained a little, saved, rebuilt from the YAML in the weights file with
 * the weights loaded, and must predict the same outputs and losses (to
 * float rounding) and have the same architecture text. Then the refusals,
 * each naming the node, and the YAML additions read on their own.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

/* ---------------------------------------------------------------- models */

static nb_status mlp(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 8));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_dense(g, io->x, (nb_dense_opts){.units = 16, .activation = NB_ACT_RELU});
    h = nb_dense(g, h, (nb_dense_opts){.units = 12, .activation = NB_ACT_TANH,
                                       .init = {.kind = NB_INIT_HE_NORMAL}});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 3, .name = "logits"});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

static nb_status cnn(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 8, 8));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_conv2d(g, io->x, (nb_conv2d_opts){.filters = 4, .kernel = 3, .pad = 1,
                                                      .no_bias = true});
    h = nb_relu(g, nb_batchnorm(g, h, (nb_batchnorm_opts){.momentum = 0.2f}));
    h = nb_dropout(g, nb_maxpool2d(g, h, (nb_pool2d_opts){.size = 2}), 0.25f); /* [N,4,4,4] */
    h = nb_conv2d(g, h, (nb_conv2d_opts){.filters = 6, .kh = 3, .kw = 2, .stride = 1,
                                         .activation = NB_ACT_LEAKY_RELU});     /* [N,6,2,3] */
    h = nb_avgpool2d(g, h, (nb_pool2d_opts){.size = 2, .stride = 1});           /* [N,6,1,2] */
    h = nb_dense(g, nb_flatten(g, h), (nb_dense_opts){.units = 8});
    h = nb_dropout(g, nb_relu(g, nb_batchnorm(g, h, (nb_batchnorm_opts){0})), 0.5f);
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 3, .name = "logits"});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

/* Token ids [N, 6] of a vocabulary of 10: embedding, layer norm over the
 * tokens' vectors and over whole examples, a dense head. */
static nb_status tokens(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "ids", NB_SHAPE(batch, 6));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_embedding(g, io->x, (nb_embedding_opts){
        .vocab = 10, .dim = 4, .init = {.kind = NB_INIT_UNIFORM, .a = -0.5f, .b = 0.5f}});
    h = nb_layernorm(g, h, (nb_layernorm_opts){.eps = 1e-3f});
    h = nb_layernorm(g, h, (nb_layernorm_opts){.axis = 1, .no_affine = true, .name = "whole"});
    io->output = nb_dense(g, nb_flatten(g, h), (nb_dense_opts){.units = 3, .name = "logits"});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

/* Group norm over an image batch's channels (two groups, with gamma and
 * beta) and over a dense layer's units (four groups, no affine). */
static nb_status grouped(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 6, 6));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_conv2d(g, io->x, (nb_conv2d_opts){.filters = 4, .kernel = 3});
    h = nb_relu(g, nb_groupnorm(g, h, (nb_groupnorm_opts){.groups = 2, .eps = 1e-3f}));
    h = nb_dense(g, nb_flatten(g, h), (nb_dense_opts){.units = 8});
    h = nb_groupnorm(g, h, (nb_groupnorm_opts){.groups = 4, .no_affine = true, .name = "gn"});
    io->output = nb_dense(g, nb_tanh(g, h), (nb_dense_opts){.units = 3, .name = "logits"});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

/* Token ids through every recurrent cell: a bidirectional GRU's whole
 * sequence into a two-layer LSTM, its last state into an RNN's input. */
static nb_status recurrent(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "ids", NB_SHAPE(batch, 6));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_embedding(g, io->x, (nb_embedding_opts){.vocab = 10, .dim = 3});
    h = nb_gru(g, h, (nb_rnn_opts){.hidden = 4, .bidirectional = true, .sequence = true});
    h = nb_lstm(g, h, (nb_rnn_opts){.hidden = 3, .layers = 2, .sequence = true, .name = "enc"});
    h = nb_rnn(g, h, (nb_rnn_opts){.hidden = 5, .no_bias = true,
                                   .init = {.kind = NB_INIT_UNIFORM, .a = -0.2f, .b = 0.2f}});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 3, .name = "logits"});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

/* An LSTM from an initial state the C code feeds. */
static nb_status with_state(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 4, 2));
    nb_node *h0 = nb_input(g, "h0", NB_SHAPE(1, batch, 3));
    nb_node *c0 = nb_input(g, "c0", NB_SHAPE(1, batch, 3));
    io->output = nb_lstm(g, io->x, (nb_rnn_opts){.hidden = 3, .h0 = h0, .c0 = c0});
    return nb_graph_status(g);
}

/* x + alpha · conv(swish(conv(x))), in scope "block1": a skip connection
 * and an activation composed by hand, with a learned scale of its own. */
static nb_node *block(nb_graph *g, nb_node *x)
{
    nb_scope_push(g, "block1");
    nb_node *h = nb_conv2d(g, x, (nb_conv2d_opts){.filters = 2, .kernel = 3, .pad = 1});
    h = nb_mul(g, h, nb_sigmoid(g, h));
    h = nb_conv2d(g, h, (nb_conv2d_opts){.filters = 2, .kernel = 3, .pad = 1, .name = "c2"});
    nb_node *alpha = nb_param_init(g, "alpha", NB_SHAPE(1),
                                   (nb_init){.kind = NB_INIT_CONSTANT, .a = 0.5f}, 1, 1);
    nb_node *y = nb_name(nb_add(g, x, nb_mul(g, h, alpha)), "res");
    nb_scope_pop(g);
    return y;
}

static nb_status residual(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    static const float shift[] = {0.25f, -0.5f};
    io->x = nb_input(g, "x", NB_SHAPE(batch, 2, 6, 6));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = block(g, io->x);
    h = nb_add(g, h, nb_constant(g, NB_SHAPE(2, 1, 1), shift));
    const int hw[] = {2, 3}, perm[] = {0, 2, 1};
    nb_node *pooled = nb_mean(g, h, hw, 2, false);                        /* [N,2] */
    nb_node *rows = nb_reshape(g, h, NB_SHAPE(batch, 2, 36));             /* [N,2,36] */
    rows = nb_permute(g, nb_slice(g, rows, 2, 0, 36, 4), perm);           /* [N,9,2] */
    const int64_t before[] = {0, 1, 0}, after[] = {0, 0, 0};
    rows = nb_reshape(g, nb_pad(g, rows, before, after, 0.5f), NB_SHAPE(batch, 20));
    nb_node *both = nb_concat(g, (nb_node *[]){pooled, rows}, 2, 1);       /* [N,22] */
    nb_node *frozen = nb_param_init(g, "scale", NB_SHAPE(22),
                                    (nb_init){.kind = NB_INIT_UNIFORM, .a = 0.5f, .b = 1.5f}, 22, 22);
    nb_param_set_trainable(frozen, false);
    both = nb_leaky_relu(g, nb_mul(g, both, frozen), 0.1f);
    nb_node *logits = nb_dense(g, both, (nb_dense_opts){.units = 3, .name = "logits"});
    io->output = nb_name(nb_softmax(g, logits, -1), "probs");
    io->loss = nb_softmax_cross_entropy(g, logits, io->y);
    return nb_graph_status(g);
}

/* ---------------------------------------------------------------- the round trip */

static nb_dataset *data(nb_shape shape, int64_t n, uint64_t seed)
{
    nb_dataset *ds = nb_dataset_new(n, shape, 1, NULL);
    cr_assert_not_null(ds);
    t_fill(ds->x, n * nb_shape_numel(shape), seed, -1, 1);
    for (int64_t i = 0; i < n; i++)
        ds->y[i] = (float)(i % 3);
    return ds;
}

static nb_trainer *trainer(nb_model_fn build, void *ud, nb_shape shape)
{
    nb_train_opts o = {.batch = 4, .epochs = 2, .seed = 5, .eval_batch = 7,
                       .optimizer = t_optimizer(NB_OPT_ADAM, 0.01f, 0)};
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(build, ud, shape, 1, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    return t;
}

static void same_architecture(nb_trainer *a, nb_trainer *b)
{
    nb_error err = {0};
    char *x = nb_trainer_architecture(a, &err), *y = nb_trainer_architecture(b, &err);
    cr_assert(x && y, "%s", err.message);
    cr_assert_str_eq(x, y, "architectures differ:\n--- C\n%s--- YAML\n%s", x, y);
    nb_free(x);
    nb_free(y);
}

/* Trains build a little on ds, saves it with its YAML, rebuilds it from the
 * file and compares predictions, losses and architectures; frees ds. */
static void round_trip_on(nb_model_fn build, nb_shape shape, const char *path, nb_dataset *ds)
{
    nb_trainer *t = trainer(build, NULL, shape);
    cr_assert_eq(nb_trainer_fit(t, ds, NULL), NB_OK, "%s", nb_trainer_error(t));
    nb_error err = {0};
    cr_assert_eq(nb_trainer_save(t, path, &(nb_model_yaml_opts){.name = "c_model"}, &err), NB_OK,
                 "%s", err.message);

    char *yaml = nb_weights_model_yaml(path, &err);
    cr_assert_not_null(yaml, "%s", err.message);
    nb_model_file *m = nb_model_file_parse(yaml, strlen(yaml), path, &err);
    cr_assert_not_null(m, "%s\n%s", err.message, yaml);
    cr_assert_str_eq(nb_model_file_name(m), "c_model");
    nb_trainer *r = trainer(nb_model_file_build, m, nb_model_file_input_shape(m));
    cr_assert_eq(nb_weights_load(nb_trainer_graph(r), path, &err), NB_OK, "%s", err.message);

    int64_t w = nb_trainer_output_width(t);
    cr_assert_eq(nb_trainer_output_width(r), w);
    float *pa = malloc((size_t)(ds->n * w) * sizeof *pa), *pb = malloc((size_t)(ds->n * w) * sizeof *pb);
    cr_assert_eq(nb_trainer_predict(t, ds, (nb_predict_out){.output = pa}), NB_OK, "%s",
                 nb_trainer_error(t));
    cr_assert_eq(nb_trainer_predict(r, ds, (nb_predict_out){.output = pb}), NB_OK, "%s",
                 nb_trainer_error(r));
    t_assert_close(pb, pa, ds->n * w, 1e-5f);
    double la, lb, aa, ab;
    cr_assert_eq(nb_trainer_evaluate(t, ds, &la, &aa), NB_OK);
    cr_assert_eq(nb_trainer_evaluate(r, ds, &lb, &ab), NB_OK);
    cr_assert(fabs(la - lb) <= 1e-5 * fmax(1, fabs(la)), "loss %g (C) and %g (YAML)", la, lb);
    cr_assert_eq(aa, ab);
    same_architecture(t, r);

    free(pa);
    free(pb);
    nb_free(yaml);
    nb_trainer_free(r);
    nb_model_file_free(m);
    nb_trainer_free(t);
    nb_dataset_free(ds);
    unlink(path);
}

static void round_trip(nb_model_fn build, nb_shape shape, const char *path)
{
    round_trip_on(build, shape, path, data(shape, 20, 11));
}

Test(model_write, mlp_round_trip)
{
    t_need("hdf5");
    round_trip(mlp, NB_SHAPE(8), "mw_mlp.h5");
}

Test(model_write, cnn_with_batchnorm_and_dropout_round_trip)
{
    t_need("hdf5");
    round_trip(cnn, NB_SHAPE(1, 8, 8), "mw_cnn.h5");
}

Test(model_write, residual_primitives_round_trip)
{
    t_need("hdf5");
    round_trip(residual, NB_SHAPE(2, 6, 6), "mw_residual.h5");
}

Test(model_write, embedding_and_layernorm_round_trip)
{
    t_need("hdf5");
    nb_dataset *ds = data(NB_SHAPE(6), 20, 11);
    for (int64_t i = 0; i < 20 * 6; i++)
        ds->x[i] = (float)((i * 7) % 10);
    round_trip_on(tokens, NB_SHAPE(6), "mw_tokens.h5", ds);
}

Test(model_write, groupnorm_round_trip)
{
    t_need("hdf5");
    round_trip(grouped, NB_SHAPE(1, 6, 6), "mw_groupnorm.h5");
    nb_error err = {0};
    char *y = nb_model_yaml(grouped, NULL, NULL, &err);
    cr_assert_not_null(y, "%s", err.message);
    const char *want[] = {"op: groupnorm, inputs: [\"conv2d1\"], groups: 2, eps: 0.001",
                          "{name: \"gn\", op: groupnorm, inputs: [\"dense1\"], groups: 4, "
                          "affine: false}", NULL};
    for (int i = 0; want[i]; i++)
        cr_assert(strstr(y, want[i]), "missing %s in\n%s", want[i], y);
    nb_free(y);
}

Test(model_write, recurrent_layers_round_trip)
{
    t_need("hdf5");
    nb_dataset *ds = data(NB_SHAPE(6), 20, 12);
    for (int64_t i = 0; i < 20 * 6; i++)
        ds->x[i] = (float)((i * 3) % 10);
    round_trip_on(recurrent, NB_SHAPE(6), "mw_recurrent.h5", ds);
}

/* A model file's recurrent layers start from zeros: an initial state fed
 * from C is refused by name, not written as if it were not there. */
Test(model_write, refuses_an_initial_state_given_in_c)
{
    nb_error err = {0};
    cr_assert_null(nb_model_yaml(with_state, NULL, NULL, &err));
    cr_assert(strstr(err.message, "layer 'lstm1' starts from an initial state given in C"),
              "%s", err.message);
}

/* What the residual model's file says, in the words of the format. */
Test(model_write, residual_yaml_text)
{
    nb_error err = {0};
    char *y = nb_model_yaml(residual, NULL, NULL, &err);
    cr_assert_not_null(y, "%s", err.message);
    const char *want[] = {"input: {\"x\": [2, 6, 6], \"y\": []}",
                          "{name: \"block1/conv2d1\", op: conv2d, inputs: [\"x\"], filters: 2, kernel: 3, pad: 1",
                          "{name: \"block1/alpha\", op: param, shape: [1]}",
                          "{name: \"block1/res\", op: add",
                          "op: constant, shape: [2, 1, 1], values: [0.25, -0.5]}",
                          "{name: \"scale\", op: param, shape: [22], trainable: false}",
                          "op: pad, inputs:", "before: [1, 0], after: [0, 0], value: 0.5}",
                          "op: reshape, inputs:", "shape: [20]}",
                          "output: \"probs\"",
                          "loss: {softmax_cross_entropy: {node: \"logits\"}}", NULL};
    for (int i = 0; want[i]; i++)
        cr_assert(strstr(y, want[i]), "missing %s in\n%s", want[i], y);
    nb_free(y);
}

/* ---------------------------------------------------------------- refusals */

static nb_status with_threshold(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 4));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_threshold(g, nb_dense(g, io->x, (nb_dense_opts){.units = 4}));
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 2});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

static nb_status own_loss(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 4));
    io->y = nb_input(g, "y", NB_SHAPE(batch, 2));
    io->output = nb_dense(g, io->x, (nb_dense_opts){.units = 2});
    nb_node *d = nb_name(nb_sub(g, io->output, io->y), "diff");
    io->loss = nb_name(nb_mean(g, nb_mul(g, d, d), NULL, 0, false), "my_loss");
    return nb_graph_status(g);
}

static nb_status over_batch(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    const int axis0 = 0;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 4));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *centred = nb_sub(g, io->x, nb_name(nb_reduce_max(g, io->x, &axis0, 1, true), "bmax"));
    io->output = nb_dense(g, centred, (nb_dense_opts){.units = 2});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

static nb_status reads_inside(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 4));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_dense(g, io->x, (nb_dense_opts){.units = 4});
    nb_node *tied = nb_name(nb_matmul(g, h, nb_graph_find(g, "dense1/w"), false, false), "tied");
    io->output = nb_dense(g, tied, (nb_dense_opts){.units = 2});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

/* The writer refuses, naming the node and why; nothing is saved. */
static void refused(nb_model_fn build, const char *a, const char *b)
{
    nb_error err = {0};
    char *y = nb_model_yaml(build, NULL, NULL, &err);
    cr_assert_null(y, "written:\n%s", y);
    cr_assert_eq(err.status, NB_ERR_ARG, "%s", err.message);
    cr_assert(strstr(err.message, a) && strstr(err.message, b), "message: %s", err.message);
}

Test(model_write, refuses_user_ops)
{
    refused(with_threshold, "'threshold'", "an op of its own");
}

Test(model_write, refuses_a_loss_of_its_own)
{
    refused(own_loss, "the loss 'my_loss'", "not made by one of nabla's losses");
}

Test(model_write, refuses_ops_over_the_batch)
{
    refused(over_batch, "node 'bmax' (reduce_max)", "batch axis 0");
}

Test(model_write, refuses_reading_inside_a_layer)
{
    refused(reads_inside, "'tied' reads 'dense1/w', inside layer 'dense1'",
            "a layer's output only");
    nb_trainer *t = trainer(reads_inside, NULL, NB_SHAPE(4));
    nb_error err = {0};
    cr_assert_eq(nb_trainer_save(t, "mw_refused.h5", NULL, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "inside layer 'dense1'"), "message: %s", err.message);
    cr_assert_neq(access("mw_refused.h5", F_OK), 0, "a refused save wrote a file");
    nb_trainer_free(t);
}

/* ---------------------------------------------------------------- every plain built-in op */

/* dense, then the built-in op ud (NB_OP_NO_ATTRS) reading it arity times. */
static nb_status plain_op(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    const nb_op_def *def = ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 4));
    nb_node *h = nb_dense(g, io->x, (nb_dense_opts){.units = 3});
    nb_node *in[3] = {h, h, h};
    io->output = nb_builtin_apply(g, def, in, def->arity);
    return nb_graph_status(g);
}

/* Written by its op list name and read back to the same op, with no code
 * of its own in the writer or the reader. */
Test(model_write, every_plain_builtin_op_round_trips)
{
    int plain = 0;
    for (int i = 0; nb_builtin_op(i); i++) {
        const nb_op_def *def = nb_builtin_op(i);
        if (!(def->flags & NB_OP_NO_ATTRS))
            continue;
        nb_error err = {0};
        char *yaml = nb_model_yaml(plain_op, (void *)def, NULL, &err);
        cr_assert_not_null(yaml, "%s: %s", def->name, err.message);
        char want[64];
        snprintf(want, sizeof want, "op: %s,", def->name);
        cr_expect(strstr(yaml, want), "%s: no \"%s\" in\n%s", def->name, want, yaml);
        nb_model_file *m = nb_model_file_parse(yaml, strlen(yaml), "plain.yaml", &err);
        cr_assert_not_null(m, "%s: %s\n%s", def->name, err.message, yaml);
        nb_graph *g = nb_graph_new();
        nb_model_io io = {0};
        cr_assert_eq(nb_model_file_build(g, 2, &io, m), NB_OK, "%s", nb_graph_error(g));
        cr_expect_str_eq(nb_node_op(io.output), def->name);
        cr_expect_eq(nb_node_num_inputs(io.output), def->arity, "%s", def->name);
        nb_graph_free(g);
        nb_model_file_free(m);
        nb_free(yaml);
        plain++;
    }
    cr_expect_geq(plain, 19, "only %d plain built-in ops", plain);
}

/* ---------------------------------------------------------------- the YAML additions */

static nb_model_file *parse(const char *text, nb_error *err)
{
    *err = (nb_error){0};
    return nb_model_file_parse(text, strlen(text), "t.yaml", err);
}

Test(model_write, yaml_param_constant_and_scoped_names)
{
    const char *text = "nabla: 1\n"
                       "input: {x: [3], y: []}\n"
                       "nodes:\n"
                       "  - {name: \"blk/w\", op: param, shape: [3, 2], init: {constant: {value: 1}}}\n"
                       "  - {name: \"blk/matmul#4\", op: matmul, inputs: [x, \"blk/w\"]}\n"
                       "  - {name: \"constant#5\", op: constant, shape: [2], values: [1, -2]}\n"
                       "  - {name: out, op: add, inputs: [\"blk/matmul#4\", \"constant#5\"]}\n"
                       "loss: softmax_cross_entropy\n";
    nb_error err;
    nb_model_file *m = parse(text, &err);
    cr_assert_not_null(m, "%s", err.message);
    nb_graph *g = nb_graph_new();
    nb_model_io io;
    cr_assert_eq(nb_model_file_build(g, 2, &io, m), NB_OK, "%s", nb_graph_error(g));
    cr_assert_eq(nb_node_id(io.y), 1, "y is made where the file declares it");
    nb_node *w = nb_graph_find(g, "blk/w");
    cr_assert_not_null(w);
    cr_assert_eq(nb_node_kind_of(w), NB_NODE_PARAM);
    cr_assert_float_eq(nb_param_data(w)[5], 1.0f, 0);
    nb_node *mm = nb_node_input(nb_graph_find(g, "out"), 0);
    cr_assert_null(nb_node_name(mm), "an anonymous node stays unnamed");
    cr_assert_str_eq(nb_node_scope(mm), "blk");
    float x[6] = {1, 2, 3, -1, 0, 1};
    float *y = t_eval(g, io.output, (nb_feed[]){{io.x, x}}, 1);
    const float want[4] = {7, 4, 1, -2};
    t_assert_close(y, want, 4, 0);
    free(y);
    nb_graph_free(g);
    nb_model_file_free(m);
}

Test(model_write, yaml_refusals)
{
    const char *base = "nabla: 1\ninput: {x: [2], y: []}\nnodes:\n";
    struct { const char *nodes, *want; } cases[] = {
        {"  - {name: c, op: constant, shape: [3], values: [1, 2]}\n",
         "constant 'c': 'values' holds 2 numbers and 'shape' asks for 3"},
        {"  - {name: s, op: add, inputs: [x, y]}\n", "node 's' reads the targets 'y'"},
        {"  - {name: \"a//b\", op: relu}\n", "'a//b' is not a valid name"},
        {"  - {name: \"a#\", op: relu}\n", "'a#' is not a valid name"},
        {"  - {name: p, op: param}\n", "key 'shape' is missing in param"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "%s%s", base, cases[i].nodes);
        nb_error err;
        nb_model_file *m = parse(text, &err);
        cr_assert_null(m, "case %zu was read", i);
        cr_assert(strstr(err.message, cases[i].want), "case %zu: %s", i, err.message);
    }
    const char *first_y = "nabla: 1\ninput: {y: [2]}\nnodes:\n  - {name: r, op: relu}\n";
    nb_error err;
    cr_assert_null(parse(first_y, &err));
    cr_assert(strstr(err.message, "the name 'y' is reserved for the targets"), "%s", err.message);
    const char *bad_y = "nabla: 1\ninput: {x: [2], y: [2]}\nnodes:\n"
                        "  - {name: o, op: relu, inputs: [x]}\nloss: softmax_cross_entropy\n";
    cr_assert_null(parse(bad_y, &err));
    cr_assert(strstr(err.message, "input 'y' (line 2) is [N,2]; the loss reads targets [N]"), "%s",
              err.message);
}
