/*
 * test_predict.c — what a trained trainer gives a C user in one call: its
 * predictions (nb_trainer_predict, nb_trainer_predict_array) checked against
 * the inference graph built and run by hand, with probabilities, classes,
 * byte datasets, a weights file loaded into a fresh trainer, many calls of
 * odd sizes, and the refusals; and the drawing of the one network it
 * trains (nb_trainer_dot_write), read back with cgraph and counted.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if NB_HAVE_GRAPHVIZ
#include <graphviz/cgraph.h>
#endif

#include "helpers.h"

#define IN 4
#define CLASSES 3

/* x [N,4] → dense 6 → batch norm (over the 6 features) → relu → dropout
 * 0.5 → dense `ud` units "logits" → softmax cross-entropy (3 classes) or,
 * for one unit, bce with logits: layers that differ between training and
 * inference. */
static nb_status build(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    int64_t units = ud ? *(const int64_t *)ud : CLASSES;
    io->x = nb_input(g, "x", NB_SHAPE(batch, IN));
    io->y = units == 1 ? nb_input(g, "y", NB_SHAPE(batch, 1)) : nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_dense(g, io->x, (nb_dense_opts){.units = 6});
    h = nb_dropout(g, nb_relu(g, nb_batchnorm(g, h, (nb_batchnorm_opts){0})), 0.5f);
    io->output = nb_dense(g, h, (nb_dense_opts){.units = units, .name = "logits"});
    io->loss = units == 1 ? nb_bce_with_logits(g, io->output, io->y)
                          : nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

/* n examples whose class is the largest of the first three inputs. */
static nb_dataset *make_data(int64_t n, uint64_t seed, bool binary)
{
    nb_dataset *ds = nb_dataset_new(n, NB_SHAPE(IN), 1, NULL);
    cr_assert_not_null(ds);
    t_fill(ds->x, n * IN, seed, -1, 1);
    for (int64_t i = 0; i < n; i++) {
        const float *x = ds->x + i * IN;
        int c = x[1] > x[0] ? 1 : 0;
        c = x[2] > x[c] ? 2 : c;
        ds->y[i] = binary ? (float)(x[0] > 0) : (float)c;
    }
    return ds;
}

/* A trainer fitted for two epochs (batch 8, evaluation batch 16). */
static nb_trainer *trained(const nb_dataset *train, int64_t *units)
{
    nb_train_opts o = {.batch = 8, .epochs = 2, .seed = 3, .eval_batch = 16,
                       .optimizer = {.kind = NB_OPT_SGD, .lr = 0.1f, .momentum = 0.9f}};
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(build, units, NB_SHAPE(IN), 1, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    cr_assert_eq(nb_trainer_fit(t, train, NULL), NB_OK, "%s", nb_trainer_error(t));
    return t;
}

/* The outputs of the inference model for all of ds at once, the way a C
 * user computed them by hand: a second graph in inference mode, the
 * trained parameters copied in by name, one run. */
static float *by_hand(nb_trainer *t, const nb_dataset *ds, int64_t *units)
{
    nb_graph *g = nb_graph_new();
    nb_graph_set_training(g, false);
    nb_model_io io = {0};
    cr_assert_eq(build(g, ds->n, &io, units), NB_OK, "%s", nb_graph_error(g));
    nb_error err = {0};
    cr_assert_eq(nb_params_copy(nb_trainer_graph(t), g, &err), NB_OK, "%s", err.message);
    nb_feed f = {io.x, ds->x};
    float *out = t_eval(g, io.output, &f, 1);
    nb_graph_free(g);
    return out;
}

/* ---------------------------------------------------------------- predictions */

Test(predict, matches_the_inference_graph_by_hand)
{
    nb_dataset *train = make_data(64, 1, false), *test = make_data(37, 2, false);
    nb_trainer *t = trained(train, NULL);
    cr_assert_eq(nb_trainer_output_width(t), CLASSES);
    float *want = by_hand(t, test, NULL);
    float out[37 * CLASSES], probs[37 * CLASSES];
    int64_t cls[37];
    /* 37 = 16 + 16 + 4 + 1 examples per run */
    cr_assert_eq(nb_trainer_predict(t, test, (nb_predict_out){out, probs, cls}), NB_OK, "%s",
                 nb_trainer_error(t));
    t_assert_close(out, want, 37 * CLASSES, 1e-5f);
    int64_t hits = 0;
    for (int64_t i = 0; i < 37; i++) {
        const float *o = want + i * CLASSES;
        int64_t best = o[1] > o[0] ? 1 : 0;
        best = o[2] > o[best] ? 2 : best;
        cr_assert_eq(cls[i], best, "example %lld", (long long)i);
        double sum = 0, z = 0;
        for (int c = 0; c < CLASSES; c++)
            z += exp(o[c] - o[best]);
        for (int c = 0; c < CLASSES; c++) {
            sum += probs[i * CLASSES + c];
            cr_assert_float_eq(probs[i * CLASSES + c], exp(o[c] - o[best]) / z, 1e-6);
        }
        cr_assert_float_eq(sum, 1.0, 1e-6);
        hits += best == (int64_t)test->y[i];
    }
    double acc;
    cr_assert_eq(nb_trainer_evaluate(t, test, NULL, &acc), NB_OK);
    cr_assert_float_eq(acc, (double)hits / 37, 1e-12, "classes agree with evaluate's accuracy");
    free(want);
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_dataset_free(test);
}

Test(predict, array_bytes_and_subsets_agree)
{
    nb_dataset *train = make_data(64, 1, false), *test = make_data(20, 4, false);
    nb_trainer *t = trained(train, NULL);
    float all[20 * CLASSES], part[3 * CLASSES], bytes_out[20 * CLASSES];
    cr_assert_eq(nb_trainer_predict_array(t, test->x, 20, (nb_predict_out){.output = all}), NB_OK);
    /* each example's result does not depend on the others in the call */
    cr_assert_eq(nb_trainer_predict_array(t, test->x + 5 * IN, 3, (nb_predict_out){.output = part}),
                 NB_OK);
    t_assert_close(part, all + 5 * CLASSES, 3 * CLASSES, 1e-6f);
    /* a byte dataset is converted as the trainer converts it */
    nb_dataset *u8 = nb_dataset_new_u8(20, NB_SHAPE(IN), 1, 255.0f, NULL);
    nb_dataset *f = nb_dataset_new(20, NB_SHAPE(IN), 1, NULL);
    for (int64_t i = 0; i < 20 * IN; i++) {
        u8->x_u8[i] = (uint8_t)((i * 37) % 256);
        f->x[i] = (float)u8->x_u8[i] / 255.0f;
    }
    cr_assert_eq(nb_trainer_predict(t, u8, (nb_predict_out){.output = bytes_out}), NB_OK, "%s",
                 nb_trainer_error(t));
    cr_assert_eq(nb_trainer_predict(t, f, (nb_predict_out){.output = all}), NB_OK);
    t_assert_close(bytes_out, all, 20 * CLASSES, 0);
    /* calls of every size from 1 to 40 need no more builds than the trainer holds */
    float many[40 * CLASSES];
    nb_dataset *big = make_data(40, 5, false);
    for (int64_t n = 1; n <= 40; n++)
        cr_assert_eq(nb_trainer_predict_array(t, big->x, n, (nb_predict_out){.output = many}),
                     NB_OK, "n = %lld: %s", (long long)n, nb_trainer_error(t));
    nb_dataset_free(big);
    nb_dataset_free(u8);
    nb_dataset_free(f);
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_dataset_free(test);
}

Test(predict, one_output_gives_the_sigmoid_and_output_above_zero)
{
    int64_t one = 1;
    nb_dataset *train = make_data(64, 1, true), *test = make_data(9, 6, true);
    nb_trainer *t = trained(train, &one);
    cr_assert_eq(nb_trainer_output_width(t), 1);
    float out[9], probs[9];
    int64_t cls[9];
    cr_assert_eq(nb_trainer_predict(t, test, (nb_predict_out){out, probs, cls}), NB_OK, "%s",
                 nb_trainer_error(t));
    for (int i = 0; i < 9; i++) {
        cr_assert_float_eq(probs[i], 1 / (1 + exp(-(double)out[i])), 1e-6);
        cr_assert_eq(cls[i], out[i] > 0);
    }
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_dataset_free(test);
}

Test(predict, a_weights_file_in_a_fresh_trainer_predicts_the_same)
{
    t_need("hdf5");
    char path[] = "/tmp/nabla-predict-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    nb_dataset *train = make_data(64, 1, false), *test = make_data(11, 7, false);
    nb_trainer *t = trained(train, NULL);
    nb_error err = {0};
    cr_assert_eq(nb_weights_save(nb_trainer_graph(t), path, NULL, &err), NB_OK, "%s", err.message);
    nb_train_opts o = {.seed = 99}; /* other initial weights: the file's replace them */
    nb_trainer *fresh = nb_trainer_new(build, NULL, NB_SHAPE(IN), 1, &o, &err);
    cr_assert_not_null(fresh, "%s", err.message);
    cr_assert_eq(nb_weights_load(nb_trainer_graph(fresh), path, &err), NB_OK, "%s", err.message);
    float a[11 * CLASSES], b[11 * CLASSES];
    cr_assert_eq(nb_trainer_predict(t, test, (nb_predict_out){.output = a}), NB_OK);
    cr_assert_eq(nb_trainer_predict(fresh, test, (nb_predict_out){.output = b}), NB_OK);
    t_assert_close(b, a, 11 * CLASSES, 0);
    unlink(path);
    nb_trainer_free(fresh);
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_dataset_free(test);
}

Test(predict, refusals_name_what_is_wrong)
{
    nb_dataset *train = make_data(32, 1, false);
    nb_trainer *t = trained(train, NULL);
    float out[8 * CLASSES];
    nb_dataset *wrong = nb_dataset_new(2, NB_SHAPE(5), 1, NULL);
    cr_assert_eq(nb_trainer_predict(t, wrong, (nb_predict_out){.output = out}), NB_ERR_SHAPE);
    cr_assert(strstr(nb_trainer_error(t), "[5]") && strstr(nb_trainer_error(t), "[4]"), "%s",
              nb_trainer_error(t));
    cr_assert_eq(nb_trainer_predict(t, train, (nb_predict_out){0}), NB_ERR_ARG);
    cr_assert(strstr(nb_trainer_error(t), "nowhere to write"), "%s", nb_trainer_error(t));
    cr_assert_eq(nb_trainer_predict_array(t, train->x, 0, (nb_predict_out){.output = out}),
                 NB_ERR_ARG);
    cr_assert(strstr(nb_trainer_error(t), "no examples"), "%s", nb_trainer_error(t));
    cr_assert_eq(nb_trainer_predict_array(t, NULL, 2, (nb_predict_out){.output = out}), NB_ERR_ARG);
    cr_assert_eq(nb_trainer_predict(t, NULL, (nb_predict_out){.output = out}), NB_ERR_ARG);
    cr_assert_eq(nb_trainer_predict(NULL, train, (nb_predict_out){.output = out}), NB_ERR_ARG);
    nb_dataset_free(wrong);
    nb_trainer_free(t);
    nb_dataset_free(train);
}

/* ---------------------------------------------------------------- drawing */
#if NB_HAVE_GRAPHVIZ

/* Nodes and edges of a DOT file, read back with cgraph. */
static void count_dot(const char *path, int *nodes, int *edges)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    Agraph_t *g = agread(f, NULL);
    fclose(f);
    cr_assert_not_null(g);
    *nodes = agnnodes(g);
    *edges = agnedges(g);
    agclose(g);
}

Test(predict, a_trainers_drawing_shows_one_network)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/nabla-draw-%d.dot", (int)getpid());
    nb_dataset *train = make_data(20, 1, false), *test = make_data(37, 2, false);
    nb_trainer *t = trained(train, NULL); /* batch 8 over 20: a last batch of 4 */
    float out[37 * CLASSES];
    cr_assert_eq(nb_trainer_predict(t, test, (nb_predict_out){.output = out}), NB_OK);
    nb_error err = {0};
    int nodes, edges, all_nodes, all_edges, one_nodes, one_edges, back_nodes, back_edges;
    /* the graph holds six builds now: every node of it is far more */
    cr_assert_eq(nb_dot_write(nb_trainer_graph(t), NULL, 0, (nb_dot_opts){0}, path, &err), NB_OK);
    count_dot(path, &all_nodes, &all_edges);
    cr_assert_eq(nb_trainer_dot_write(t, (nb_dot_opts){.title = "mlp"}, path, &err), NB_OK, "%s",
                 err.message);
    count_dot(path, &nodes, &edges);
    /* the same model built once, at the training batch, in training mode */
    nb_graph *g = nb_graph_new();
    nb_graph_seed(g, 3);
    nb_graph_set_training(g, true);
    nb_model_io io = {0};
    cr_assert_eq(build(g, 8, &io, NULL), NB_OK);
    cr_assert_eq(nb_dot_write(g, (nb_node *[]){io.output, io.loss}, 2, (nb_dot_opts){0}, path,
                              &err), NB_OK);
    count_dot(path, &one_nodes, &one_edges);
    cr_assert_eq(nodes, one_nodes, "%d nodes drawn; one build has %d", nodes, one_nodes);
    cr_assert_eq(edges, one_edges);
    cr_assert_gt(all_nodes, 3 * nodes, "the whole graph: %d nodes", all_nodes);
    /* the x drawn is the training build's: [8,4] */
    cr_assert_eq(nb_shape_numel(nb_node_shape(nb_trainer_model_io(t).x)), 8 * IN);
    cr_assert_eq(nb_trainer_dot_write(t, (nb_dot_opts){.backward = true}, path, &err), NB_OK);
    count_dot(path, &back_nodes, &back_edges);
    cr_assert_gt(back_nodes, nodes);
    cr_assert_not_null(nb_trainer_grad(t, 0));
    cr_assert_null(nb_trainer_grad(t, nb_trainer_num_param_tensors(t)));
    cr_assert_eq(nb_trainer_dot_write(NULL, (nb_dot_opts){0}, path, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "trainer is NULL"), "%s", err.message);
    unlink(path);
    nb_graph_free(g);
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_dataset_free(test);
}
#else
/* Without Graphviz, drawing a trainer's network is refused, saying why. */
Test(predict, drawing_without_graphviz_says_so)
{
    nb_dataset *train = make_data(20, 1, false);
    nb_trainer *t = trained(train, NULL);
    nb_error err = {0};
    cr_assert_eq(nb_trainer_dot_write(t, (nb_dot_opts){0}, "never.dot", &err), NB_ERR_UNAVAILABLE);
    cr_assert(strstr(err.message, "nabla was built without Graphviz: cannot draw 'never.dot'"),
              "%s", err.message);
    cr_assert_eq(access("never.dot", F_OK), -1, "nothing written");
    nb_trainer_free(t);
    nb_dataset_free(train);
}
#endif
