/*
 * test_inputs.c — models with several inputs and inputs of token ids,
 * through the C API: a two-input DAG (an image and a side vector) whose
 * target depends on the side vector alone learns it, and its predictions
 * move when the side vector is zeroed; token ids on a second input feed an
 * embedding; the inputs after x survive slicing and splitting; and every
 * refusal (an input without data, a wrong shape, data fed to nothing, an
 * id outside the vocabulary, an id that is not a whole number, a value
 * that is not finite) names what and where before any step.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"

/* image [1, 4, 4] and side [3] → concat → 8 (tanh) → 2 logits. */
static nb_status image_and_side(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "image", NB_SHAPE(batch, 1, 4, 4));
    nb_node *side = nb_input(g, "side", NB_SHAPE(batch, 3));
    io->extra[io->n_extra++] = side;
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *parts[] = {nb_flatten(g, io->x), side};
    nb_node *h = nb_dense(g, nb_concat(g, parts, 2, 1),
                          (nb_dense_opts){.units = 8, .activation = NB_ACT_TANH});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 2});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

/* n examples: images of noise, a side vector s, class s0 + s1 > 0: only
 * the side vector tells the class. */
static nb_dataset *image_side_data(int64_t n, uint64_t seed)
{
    nb_error e = {0};
    nb_dataset *ds = nb_dataset_new(n, NB_SHAPE(1, 4, 4), 1, &e);
    cr_assert_not_null(ds, "%s", e.message);
    nb_dataset_input *side = nb_dataset_add_input(ds, "side", NB_SHAPE(3), false, &e);
    cr_assert_not_null(side, "%s", e.message);
    t_fill(ds->x, n * 16, seed, -1, 1);
    t_fill(side->x, n * 3, seed + 1, -1, 1);
    for (int64_t i = 0; i < n; i++)
        ds->y[i] = side->x[3 * i] + side->x[3 * i + 1] > 0;
    ds->n_classes = 2;
    return ds;
}

static nb_trainer *trainer(nb_model_fn fn, nb_shape shape, int epochs)
{
    nb_error e = {0};
    nb_train_opts o = {.batch = 16, .epochs = epochs, .seed = 3,
                       .optimizer = t_optimizer(NB_OPT_ADAM, 0.02f, 0)};
    nb_trainer *t = nb_trainer_new(fn, NULL, shape, 1, &o, &e);
    cr_assert_not_null(t, "%s", e.message);
    return t;
}

Test(inputs, the_side_vector_is_fed_and_learnt)
{
    nb_dataset *train = image_side_data(500, 1), *test = image_side_data(203, 9);
    nb_trainer *t = trainer(image_and_side, NB_SHAPE(1, 4, 4), 30);
    cr_assert_eq(nb_trainer_fit(t, train, NULL), NB_OK, "%s", nb_trainer_error(t));
    double loss, acc;
    cr_assert_eq(nb_trainer_evaluate(t, test, &loss, &acc), NB_OK, "%s", nb_trainer_error(t));
    cr_assert_geq(acc, 0.93, "accuracy %g: the side vector alone tells the class", acc);

    /* The predictions read the side vector: zeroed, they change. */
    int64_t with[203], without[203], moved = 0;
    cr_assert_eq(nb_trainer_predict(t, test, (nb_predict_out){.classes = with}), NB_OK, "%s",
                 nb_trainer_error(t));
    memset(test->extra[0].x, 0, 203 * 3 * sizeof(float));
    cr_assert_eq(nb_trainer_predict(t, test, (nb_predict_out){.classes = without}), NB_OK);
    cr_assert_eq(nb_trainer_evaluate(t, test, &loss, &acc), NB_OK);
    cr_assert_lt(acc, 0.8, "accuracy %g without the side vector", acc);
    for (int i = 0; i < 203; i++)
        moved += with[i] != without[i];
    cr_assert_gt(moved, 20, "%lld predictions moved", (long long)moved);

    /* Predicting from x alone cannot feed the side vector. */
    float out[2];
    cr_assert_neq(nb_trainer_predict_array(t, test->x, 1, (nb_predict_out){.output = out}),
                  NB_OK);
    cr_assert(strstr(nb_trainer_error(t), "inputs after x"), "%s", nb_trainer_error(t));
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_dataset_free(test);
}

Test(inputs, a_validation_split_and_slices_keep_every_input)
{
    nb_dataset *ds = image_side_data(40, 2);
    nb_error e = {0};
    nb_dataset *s = nb_dataset_slice(ds, 5, 10, &e);
    cr_assert_not_null(s, "%s", e.message);
    cr_assert_eq(s->n_extra, 1);
    cr_assert_str_eq(s->extra[0].name, "side");
    cr_assert_eq(memcmp(s->extra[0].x, ds->extra[0].x + 15, 30 * sizeof(float)), 0);
    nb_dataset *rest, *held;
    int64_t idx[8];
    cr_assert_eq(nb_dataset_split(ds, 0.2, 7, &rest, &held, idx, &e), NB_OK, "%s", e.message);
    cr_assert_eq(held->n, 8);
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(memcmp(held->extra[0].x + 3 * i, ds->extra[0].x + 3 * idx[i],
                            3 * sizeof(float)), 0);
        cr_assert_eq(memcmp(held->x + 16 * i, ds->x + 16 * idx[i], 16 * sizeof(float)), 0);
    }
    cr_assert_eq(rest->extra[0].x[0], ds->extra[0].x[idx[0] == 0 ? 3 : 0]);

    /* and a fit holding out a fraction trains on both inputs */
    nb_train_opts o = {.batch = 8, .epochs = 2, .seed = 1, .validation = 0.25};
    nb_trainer *t = nb_trainer_new(image_and_side, NULL, NB_SHAPE(1, 4, 4), 1, &o, &e);
    cr_assert_not_null(t, "%s", e.message);
    cr_assert_eq(nb_trainer_fit(t, ds, NULL), NB_OK, "%s", nb_trainer_error(t));
    nb_trainer_free(t);
    nb_dataset_free(s);
    nb_dataset_free(rest);
    nb_dataset_free(held);
    nb_dataset_free(ds);
}

/* The fit's message for ds on the image-and-side model. */
static void fit_refused(nb_dataset *ds, const char *want)
{
    nb_trainer *t = trainer(image_and_side, NB_SHAPE(1, 4, 4), 1);
    cr_assert_neq(nb_trainer_fit(t, ds, NULL), NB_OK);
    cr_assert(strstr(nb_trainer_error(t), want), "got: %s", nb_trainer_error(t));
    cr_assert_eq(nb_trainer_state(t).global_step, 0);
    nb_trainer_free(t);
}

Test(inputs, refuses_missing_misshapen_unused_and_nonfinite_inputs)
{
    nb_error e = {0};
    nb_dataset *none = nb_dataset_new(10, NB_SHAPE(1, 4, 4), 1, &e);
    fit_refused(none, "the model's input 'side' [3] has no data in the training set (it holds "
                      "only x)");
    cr_assert_not_null(nb_dataset_add_input(none, "sidee", NB_SHAPE(3), false, &e));
    fit_refused(none, "has no data in the training set (it holds x and 'sidee')");
    nb_dataset_free(none);

    nb_dataset *wide = nb_dataset_new(10, NB_SHAPE(1, 4, 4), 1, &e);
    cr_assert_not_null(nb_dataset_add_input(wide, "side", NB_SHAPE(4), false, &e));
    fit_refused(wide, "the training set's input 'side' holds examples [4]; the model's input "
                      "'side' takes [3]");
    nb_dataset_free(wide);

    nb_dataset *more = image_side_data(10, 3);
    cr_assert_not_null(nb_dataset_add_input(more, "meta", NB_SHAPE(2), false, &e));
    fit_refused(more, "the training set's input 'meta' feeds no input of the model");
    nb_dataset_free(more);

    nb_dataset *nan_side = image_side_data(10, 3);
    nan_side->extra[0].x[3 * 6 + 2] = NAN;
    fit_refused(nan_side, "example 6 holds nan (value 2 of 3 of input 'side')");
    nb_dataset_free(nan_side);

    nb_dataset *ds = image_side_data(4, 3);
    cr_assert_null(nb_dataset_add_input(ds, "side", NB_SHAPE(3), false, &e));
    cr_assert(strstr(e.message, "has an input of that name already"), "%s", e.message);
    cr_assert_null(nb_dataset_add_input(ds, "y", NB_SHAPE(3), false, &e));
    cr_assert(strstr(e.message, "'y' names the targets"), "%s", e.message);
    nb_dataset_free(ds);
}

/* features [2] in x, then 3 token ids ("tokens") into an embedding of 6
 * rows of 4 → flatten, concat → 2 logits. */
static nb_status features_and_tokens(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "features", NB_SHAPE(batch, 2));
    nb_node *tokens = nb_input(g, "tokens", NB_SHAPE(batch, 3));
    io->extra[io->n_extra++] = tokens;
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *emb = nb_embedding(g, tokens, (nb_embedding_opts){.vocab = 6, .dim = 4,
                                                               .name = "emb"});
    nb_node *parts[] = {io->x, nb_flatten(g, emb)};
    io->output = nb_dense(g, nb_concat(g, parts, 2, 1), (nb_dense_opts){.units = 2});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

/* n examples whose class is whether token 5 is among the three; ids as
 * bytes taken as they are (x_div 1). */
static nb_dataset *token_data(int64_t n, uint64_t seed)
{
    nb_error e = {0};
    nb_dataset *ds = nb_dataset_new(n, NB_SHAPE(2), 1, &e);
    cr_assert_not_null(ds, "%s", e.message);
    nb_dataset_input *tok = nb_dataset_add_input(ds, "tokens", NB_SHAPE(3), true, &e);
    cr_assert_not_null(tok, "%s", e.message);
    tok->ids = true;
    nb_rng r = nb_rng_seed(seed);
    t_fill(ds->x, 2 * n, seed, -1, 1);
    for (int64_t i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++)
            tok->x_u8[3 * i + k] = (uint8_t)(nb_rng_next(&r) % 6);
        ds->y[i] = tok->x_u8[3 * i] == 5 || tok->x_u8[3 * i + 1] == 5 || tok->x_u8[3 * i + 2] == 5;
    }
    ds->n_classes = 2;
    return ds;
}

Test(inputs, token_ids_on_a_second_input_feed_an_embedding)
{
    nb_dataset *train = token_data(400, 4), *test = token_data(100, 5);
    nb_trainer *t = trainer(features_and_tokens, NB_SHAPE(2), 20);
    cr_assert_eq(nb_trainer_fit(t, train, test), NB_OK, "%s", nb_trainer_error(t));
    double acc;
    cr_assert_eq(nb_trainer_evaluate(t, test, NULL, &acc), NB_OK, "%s", nb_trainer_error(t));
    cr_assert_geq(acc, 0.95, "accuracy %g", acc);

    /* An id outside the table, then one that is not a whole number (bytes
     * divided by 255 as pixels would be), are named before any step. */
    test->extra[0].x_u8[3 * 17 + 1] = 6;
    cr_assert_neq(nb_trainer_evaluate(t, test, NULL, &acc), NB_OK);
    cr_assert(strstr(nb_trainer_error(t), "evaluation example 17 of input 'tokens' holds id 6 at "
                                          "position 1, outside the vocabulary 0…5 of 'emb/table'"),
              "%s", nb_trainer_error(t));
    test->extra[0].x_u8[3 * 17 + 1] = 2;
    test->extra[0].x_div = 255;
    cr_assert_neq(nb_trainer_evaluate(t, test, NULL, &acc), NB_OK);
    cr_assert(strstr(nb_trainer_error(t), "not a whole number: token ids are integers 0…5"),
              "%s", nb_trainer_error(t));
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_dataset_free(test);
}

Test(inputs, ids_declared_without_an_embedding_are_whole_numbers)
{
    nb_dataset *ds = image_side_data(10, 3);
    ds->extra[0].ids = true;
    fit_refused(ds, "training example 0 of input 'side' holds");
    for (int i = 0; i < 30; i++)
        ds->extra[0].x[i] = (float)(i % 4);
    ds->extra[0].x[3 * 8] = -1;
    fit_refused(ds, "training example 8 of input 'side' holds id -1 at position 0, outside "
                    "0…16777215");
    nb_dataset_free(ds);
}

/* A model file's inputs of integer ids, x among them, are written back in
 * the long form by nb_model_yaml (the graph does not record the type), so
 * the text it gives reads back with the same inputs; a model built in C
 * has float inputs alone. */
Test(inputs, a_written_model_keeps_its_integer_id_inputs)
{
    static const char *yaml =
        "nabla: 1\n"
        "input: {words: {shape: [3], type: int}, features: [2], tags: {shape: [2], type: int}}\n"
        "nodes:\n"
        "  - {name: w, op: embedding, inputs: [words], vocab: 6, dim: 2}\n"
        "  - {name: t, op: embedding, inputs: [tags], vocab: 4, dim: 2}\n"
        "  - {name: wf, op: flatten, inputs: [w]}\n"
        "  - {name: tf, op: flatten, inputs: [t]}\n"
        "  - {name: all, op: concat, inputs: [wf, features, tf], axis: 1}\n"
        "  - {name: logits, op: dense, units: 2}\n"
        "loss: softmax_cross_entropy\n";
    nb_error e = {0};
    nb_model_file *m = nb_model_file_parse(yaml, strlen(yaml), "ids.yaml", &e);
    cr_assert_not_null(m, "%s", e.message);
    char *text = nb_model_yaml(nb_model_file_build, m, NULL, &e);
    cr_assert_not_null(text, "%s", e.message);
    cr_assert(strstr(text, "input: {\"words\": {shape: [3], type: int}, \"features\": [2], "
                           "\"tags\": {shape: [2], type: int}}"), "%s", text);
    nb_model_file *back = nb_model_file_parse(text, strlen(text), "written", &e);
    cr_assert_not_null(back, "%s", e.message);
    nb_model_input in[NB_MAX_INPUTS];
    cr_assert_eq(nb_model_file_inputs(back, in, NB_MAX_INPUTS), 3);
    cr_assert(in[0].ids && !in[1].ids && in[2].ids, "%s", text);
    nb_model_file_free(back);
    nb_free(text);
    nb_model_file_free(m);

    text = nb_model_yaml(features_and_tokens, NULL, NULL, &e);
    cr_assert_not_null(text, "%s", e.message);
    cr_assert(strstr(text, "input: {\"features\": [2], \"y\": [], \"tokens\": [3]}"), "%s",
              text);
    nb_free(text);
}
