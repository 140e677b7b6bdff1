/*
 * test_losses_robust.c — L1 and Huber losses (PyTorch's nn.L1Loss and
 * nn.HuberLoss, mean over every element): values by hand, gradients against
 * finite differences, refusals, and the same losses named in model files
 * and written back.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "nabla.h"

/* a − y = [1, −2, 0.5, 2.5]. */
static const float av[] = {1, -2, 0.5f, 3}, yv[] = {0, 0, 0, 0.5f};

static float scalar(nb_graph *g, nb_node *loss)
{
    cr_assert_not_null(loss, "%s", nb_graph_error(g));
    cr_assert_eq(nb_node_shape(loss).rank, 0);
    float *v = t_eval(g, loss, NULL, 0), x = v[0];
    free(v);
    return x;
}

/* |d| mean: 6 / 4. Huber δ = 1: 0.5 (on the edge both pieces agree), 1.5,
 * 0.125, 2 → 4.125 / 4; δ = 2: 0.5, 2, 0.125, 3 → 5.625 / 4. */
Test(robust_losses, values_by_hand)
{
    nb_graph *g = nb_graph_new();
    nb_node *a = nb_constant(g, NB_SHAPE(2, 2), av), *y = nb_constant(g, NB_SHAPE(2, 2), yv);
    nb_node *l1 = nb_l1_loss(g, a, y);
    cr_assert_float_eq(scalar(g, l1), 1.5f, 1e-6f);
    cr_assert(strstr(nb_node_scope(l1), "l1_loss"), "scope %s", nb_node_scope(l1));
    cr_assert_float_eq(scalar(g, nb_huber_loss(g, a, y, 0)), 1.03125f, 1e-6f);
    cr_assert_float_eq(scalar(g, nb_huber_loss(g, a, y, 1)), 1.03125f, 1e-6f);
    cr_assert_float_eq(scalar(g, nb_huber_loss(g, a, y, 2)), 1.40625f, 1e-6f);
    int n = nb_graph_num_layers(g);
    const nb_layer_record *r = nb_graph_layer(g, n - 1);
    cr_assert_eq(r->kind, NB_LAYER_HUBER);
    cr_assert_float_eq(r->delta, 2.0f, 0);
    cr_assert_float_eq(nb_graph_layer(g, n - 3)->delta, 1.0f, 0, "delta 0 records 1");
    cr_assert_str_eq(nb_layer_kind_name(NB_LAYER_L1), "l1_loss");
    cr_assert_str_eq(nb_layer_kind_name(NB_LAYER_HUBER), "huber_loss");
    nb_graph_free(g);
}

/* Slopes: L1 sign(d)/4; Huber d/4 inside, δ·sign(d)/4 outside. */
Test(robust_losses, gradients_by_hand_and_gradcheck)
{
    nb_graph *g = nb_graph_new();
    nb_node *a = nb_param(g, "a", NB_SHAPE(2, 2), av), *y = nb_constant(g, NB_SHAPE(2, 2), yv);
    nb_node *da;
    cr_assert_eq(nb_grad(g, nb_huber_loss(g, a, y, 1.5f), &a, 1, &da), NB_OK, "%s",
                 nb_graph_error(g));
    float *d = t_eval(g, da, NULL, 0);
    t_assert_close(d, (const float[]){0.25f, -0.375f, 0.125f, 0.375f}, 4, 1e-6f);
    free(d);
    cr_assert_eq(nb_grad(g, nb_l1_loss(g, a, y), &a, 1, &da), NB_OK, "%s", nb_graph_error(g));
    d = t_eval(g, da, NULL, 0);
    t_assert_close(d, (const float[]){0.25f, -0.25f, 0.25f, 0.25f}, 4, 1e-6f);
    free(d);
    float rv[12], tv[12];
    t_fill(rv, 12, 5, -2, 2);
    t_fill(tv, 12, 6, -2, 2);
    for (int i = 0; i < 12; i++) /* |d| away from 0 and from δ = 0.7 */
        if (fabsf(fabsf(rv[i] - tv[i]) - 0.7f) < 0.05f || fabsf(rv[i] - tv[i]) < 0.05f)
            rv[i] += 0.2f;
    nb_node *p = nb_param(g, "p", NB_SHAPE(3, 4), rv), *t = nb_constant(g, NB_SHAPE(3, 4), tv);
    t_gradcheck(g, nb_l1_loss(g, p, t), &p, 1, NULL, 0);
    t_gradcheck(g, nb_huber_loss(g, p, t, 0.7f), &p, 1, NULL, 0);
    t_gradcheck(g, nb_huber_loss(g, p, t, 0), &p, 1, NULL, 0);
    nb_graph_free(g);
}

Test(robust_losses, refusals)
{
    const float bad[] = {-1, NAN, INFINITY};
    for (int i = 0; i < 3; i++) {
        nb_graph *g = nb_graph_new();
        nb_node *a = nb_constant(g, NB_SHAPE(2, 2), av), *y = nb_constant(g, NB_SHAPE(2, 2), yv);
        cr_assert_null(nb_huber_loss(g, a, y, bad[i]));
        t_assert_error(g, "huber_loss", "delta", NULL);
        nb_graph_free(g);
    }
    nb_graph *g = nb_graph_new();
    nb_node *a = nb_constant(g, NB_SHAPE(2, 2), av), *y = nb_constant(g, NB_SHAPE(4), av);
    cr_assert_null(nb_l1_loss(g, a, y));
    t_assert_error(g, "l1_loss", "differ", NULL);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- model files */

static nb_model_file *parse(const char *text, nb_error *err)
{
    return nb_model_file_parse(text, strlen(text), "t.yaml", err);
}

/* loss: l1 and {huber: {delta: …}} build the C losses, and a model written
 * back keeps the kind and delta. */
Test(robust_losses, model_files)
{
    const char *texts[] = {"nabla: 1\ninput: {x: [4]}\nlayers:\n  - dense: {units: 2}\nloss: l1\n",
                           "nabla: 1\ninput: {x: [4]}\nlayers:\n  - dense: {units: 2}\n"
                           "loss: {huber: {delta: 0.25}}\n"};
    const nb_layer_kind kinds[] = {NB_LAYER_L1, NB_LAYER_HUBER};
    const char *written[] = {"loss: {l1: {node: ", "delta: 0.25}}"};
    for (int k = 0; k < 2; k++) {
        nb_error err = {0};
        nb_model_file *m = parse(texts[k], &err);
        cr_assert_not_null(m, "%s", err.message);
        nb_graph *g = nb_graph_new();
        nb_model_io io;
        cr_assert_eq(nb_model_file_build(g, 3, &io, m), NB_OK, "%s", nb_graph_error(g));
        const nb_layer_record *r = nb_graph_layer(g, nb_graph_num_layers(g) - 1);
        cr_assert_eq(r->kind, kinds[k]);
        cr_assert_eq(r->output, io.loss);
        if (kinds[k] == NB_LAYER_HUBER)
            cr_assert_float_eq(r->delta, 0.25f, 0);
        char *text = nb_model_yaml(nb_model_file_build, m, NULL, &err);
        cr_assert_not_null(text, "%s", err.message);
        cr_assert(strstr(text, written[k]), "'%s' not in:\n%s", written[k], text);
        nb_free(text);
        nb_graph_free(g);
        nb_model_file_free(m);
    }
}

Test(robust_losses, model_file_refusals)
{
    const char *texts[] = {
        "nabla: 1\ninput: {x: [4]}\nlayers:\n  - dense: {units: 2}\nloss: {huber: {delta: 0}}\n",
        "nabla: 1\ninput: {x: [4]}\nlayers:\n  - dense: {units: 2}\nloss: {l1: {delta: 2}}\n",
        "nabla: 1\ninput: {x: [4]}\nlayers:\n  - dense: {units: 2}\nloss: hubber\n"};
    const char *words[][2] = {{"delta", "huber"}, {"delta", "l1"}, {"hubber", "huber"}};
    for (int k = 0; k < 3; k++) {
        nb_error err = {0};
        cr_assert_null(parse(texts[k], &err));
        for (int w = 0; w < 2; w++)
            cr_assert(strstr(err.message, words[k][w]), "'%s' not in: %s", words[k][w],
                      err.message);
    }
}
