/*
 * test_losses.c — each loss against values worked out by hand (the
 * expected numbers are the textbook formulas evaluated in double here, never
 * through the graph), extreme logits that must stay finite, the exact
 * gradient at a zero logit, finite-difference gradient checks with respect
 * to the prediction, and refusals with their messages.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

/* Evaluates a scalar loss and frees the copy. */
static float scalar(nb_graph *g, nb_node *loss, const nb_feed *feeds, int n_feeds)
{
    cr_assert_not_null(loss, "building failed: %s", nb_graph_error(g));
    cr_assert_eq(nb_node_shape(loss).rank, 0, "a loss is a scalar");
    float *v = t_eval(g, loss, feeds, n_feeds);
    float x = v[0];
    free(v);
    return x;
}

/* log(1 + e^x) in double, stably. */
static double softplus(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

/* ---------------------------------------------------------------- mse */

/* diffs [-.5, 0, 1] and [0, 2, -1]: squares sum to 6.25; ½·6.25/2. */
Test(mse, forward)
{
    nb_graph *g = nb_graph_new();
    nb_node *a = nb_constant(g, NB_SHAPE(2, 3), (float[]){1, 2, 3, 4, 5, 6});
    nb_node *y = nb_constant(g, NB_SHAPE(2, 3), (float[]){1.5f, 2, 2, 4, 3, 7});
    nb_node *loss = nb_mse_loss(g, a, y);
    cr_assert_float_eq(scalar(g, loss, NULL, 0), 1.5625f, 1e-6f);
    cr_assert(strstr(nb_node_scope(loss), "mse_loss"), "scope %s", nb_node_scope(loss));
    nb_graph_free(g);
}

/* Rank 1 ([N]): one value per example. */
Test(mse, rank_one)
{
    nb_graph *g = nb_graph_new();
    nb_node *a = nb_constant(g, NB_SHAPE(4), (float[]){1, 2, 3, 4});
    nb_node *y = nb_constant(g, NB_SHAPE(4), (float[]){0, 0, 0, 0});
    cr_assert_float_eq(scalar(g, nb_mse_loss(g, a, y), NULL, 0), 0.5f * 30 / 4, 1e-6f);
    nb_graph_free(g);
}

Test(mse, gradcheck)
{
    nb_graph *g = nb_graph_new();
    float a0[6], y0[6];
    t_fill(a0, 6, 1, -1, 1);
    t_fill(y0, 6, 2, -1, 1);
    nb_node *a = nb_param(g, "a", NB_SHAPE(3, 2), a0);
    nb_node *y = nb_constant(g, NB_SHAPE(3, 2), y0);
    t_gradcheck(g, nb_mse_loss(g, a, y), &a, 1, NULL, 0);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- softmax cross-entropy */

/* Row 0: -log softmax([1,2,3])[2]; row 1: -log(1/3); mean of the two. */
Test(cross_entropy, forward)
{
    nb_graph *g = nb_graph_new();
    nb_node *z = nb_constant(g, NB_SHAPE(2, 3), (float[]){1, 2, 3, 1, 1, 1});
    nb_node *l = nb_input(g, "labels", NB_SHAPE(2));
    nb_feed f = {l, (float[]){2, 0}};
    double row0 = log(exp(1) + exp(2) + exp(3)) - 3, row1 = log(3.0);
    float got = scalar(g, nb_softmax_cross_entropy(g, z, l), &f, 1);
    cr_assert_float_eq(got, (row0 + row1) / 2, 1e-6, "got %g", (double)got);
    nb_graph_free(g);
}

/* Logits of ±1000 overflow a naive exp: the loss is 0 for the confident
 * right answer and 1000 for the confidently wrong one. */
Test(cross_entropy, large_logits_stay_finite)
{
    nb_graph *g = nb_graph_new();
    nb_node *z = nb_param(g, "z", NB_SHAPE(2, 3), (float[]){1000, 0, -1000, -1000, 1000, 0});
    nb_node *l = nb_constant(g, NB_SHAPE(2), (float[]){0, 2});
    nb_node *loss = nb_softmax_cross_entropy(g, z, l), *dz;
    cr_assert_float_eq(scalar(g, loss, NULL, 0), 500.0f, 1e-3f);
    cr_assert_eq(nb_grad(g, loss, &z, 1, &dz), NB_OK, "%s", nb_graph_error(g));
    float *d = t_eval(g, dz, NULL, 0);
    /* (softmax - onehot)/N: row 0 all zero, row 1 [0, .5, -.5]. */
    t_assert_close(d, (float[]){0, 0, 0, 0, 0.5f, -0.5f}, 6, 1e-6f);
    free(d);
    nb_graph_free(g);
}

/* Every class once, with labels fed as an input the way trainers do. */
Test(cross_entropy, gradcheck)
{
    nb_graph *g = nb_graph_new();
    float z0[12];
    t_fill(z0, 12, 3, -2, 2);
    nb_node *z = nb_param(g, "z", NB_SHAPE(4, 3), z0);
    nb_node *l = nb_input(g, "labels", NB_SHAPE(4));
    nb_feed f = {l, (float[]){0, 1, 2, 1}};
    t_gradcheck(g, nb_softmax_cross_entropy(g, z, l), &z, 1, &f, 1);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- binary cross-entropy */

/* Per element softplus(z) - z·t, summed over the row, mean over rows. */
Test(bce, forward)
{
    nb_graph *g = nb_graph_new();
    float zv[4] = {2, -1, 0, 3}, tv[4] = {1, 0, 1, 0};
    nb_node *z = nb_constant(g, NB_SHAPE(2, 2), zv), *t = nb_constant(g, NB_SHAPE(2, 2), tv);
    double want = 0;
    for (int i = 0; i < 4; i++)
        want += softplus(zv[i]) - (double)zv[i] * tv[i];
    cr_assert_float_eq(scalar(g, nb_bce_with_logits(g, z, t), NULL, 0), want / 2, 1e-6);
    nb_graph_free(g);
}

/* z = ±1000: e^1000 overflows a float, yet the stable form gives 0 for
 * the right answers and |z| for the wrong ones. */
Test(bce, large_logits_stay_finite)
{
    nb_graph *g = nb_graph_new();
    nb_node *z = nb_constant(g, NB_SHAPE(1, 4), (float[]){1000, -1000, 1000, -1000});
    nb_node *t = nb_constant(g, NB_SHAPE(1, 4), (float[]){1, 0, 0, 1});
    cr_assert_float_eq(scalar(g, nb_bce_with_logits(g, z, t), NULL, 0), 2000.0f, 1e-3f);
    nb_graph_free(g);
}

/* A zero-initialised output layer gives z = 0 exactly: the gradient must be
 * (σ(0) - t)/N = (½ - t)/N there, not a one-sided kink value. */
Test(bce, gradient_exact_at_zero)
{
    nb_graph *g = nb_graph_new();
    nb_node *z = nb_param(g, "z", NB_SHAPE(2, 1), NULL), *dz;
    nb_node *t = nb_constant(g, NB_SHAPE(2, 1), (float[]){0.25f, 1});
    nb_node *loss = nb_bce_with_logits(g, z, t);
    cr_assert_float_eq(scalar(g, loss, NULL, 0), (float)log(2.0), 1e-6f);
    cr_assert_eq(nb_grad(g, loss, &z, 1, &dz), NB_OK, "%s", nb_graph_error(g));
    float *d = t_eval(g, dz, NULL, 0);
    t_assert_close(d, (float[]){0.125f, -0.25f}, 2, 1e-7f);
    free(d);
    nb_graph_free(g);
}

/* Rank 3 targets, soft labels: summed over both non-batch axes. */
Test(bce, gradcheck)
{
    nb_graph *g = nb_graph_new();
    float z0[12], t0[12];
    t_fill(z0, 12, 4, -3, 3);
    t_fill(t0, 12, 5, 0, 1);
    nb_node *z = nb_param(g, "z", NB_SHAPE(2, 3, 2), z0);
    nb_node *t = nb_constant(g, NB_SHAPE(2, 3, 2), t0);
    t_gradcheck(g, nb_bce_with_logits(g, z, t), &z, 1, NULL, 0);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- margin losses */

/* s = [2, -.5, .3], y = [1, 1, -1]: M = [2, -.5, -.3]. */
static const float S[3] = {2, -0.5f, 0.3f}, Y[3] = {1, 1, -1}, M[3] = {2, -0.5f, -0.3f};

static float margin(nb_margin_kind kind, nb_shape shape)
{
    nb_graph *g = nb_graph_new();
    nb_node *s = nb_constant(g, shape, S), *y = nb_constant(g, shape, Y);
    float v = scalar(g, nb_margin_loss(g, s, y, kind), NULL, 0);
    nb_graph_free(g);
    return v;
}

Test(margin, forward_each_kind)
{
    double lg = 0, hi = 0, ex = 0;
    for (int i = 0; i < 3; i++) {
        lg += softplus(-M[i]);
        hi += fmax(0, 1 - M[i]);
        ex += exp(-M[i]);
    }
    nb_shape shapes[2] = {NB_SHAPE(3), NB_SHAPE(3, 1)};
    for (int k = 0; k < 2; k++) {
        cr_assert_float_eq(margin(NB_MARGIN_LOGISTIC, shapes[k]), lg / 3, 1e-6);
        cr_assert_float_eq(margin(NB_MARGIN_HINGE, shapes[k]), hi / 3, 1e-6);
        cr_assert_float_eq(margin(NB_MARGIN_EXPONENTIAL, shapes[k]), ex / 3, 1e-6);
    }
    cr_assert_float_eq(hi / 3, 2.8 / 3, 1e-6); /* [0, 1.5, 1.3] */
}

/* Logistic loss of M = ±1000: 0 and 1000, never inf or NaN. */
Test(margin, logistic_large_margins_stay_finite)
{
    nb_graph *g = nb_graph_new();
    nb_node *s = nb_param(g, "s", NB_SHAPE(2), (float[]){1000, -1000}), *ds;
    nb_node *y = nb_constant(g, NB_SHAPE(2), (float[]){1, 1});
    nb_node *loss = nb_margin_loss(g, s, y, NB_MARGIN_LOGISTIC);
    cr_assert_float_eq(scalar(g, loss, NULL, 0), 500.0f, 1e-3f);
    cr_assert_eq(nb_grad(g, loss, &s, 1, &ds), NB_OK, "%s", nb_graph_error(g));
    float *d = t_eval(g, ds, NULL, 0);
    t_assert_close(d, (float[]){0, -0.5f}, 2, 1e-6f);
    free(d);
    nb_graph_free(g);
}

/* At M = 0 the logistic gradient is -σ(0)·y/N = -y/(2N). */
Test(margin, logistic_gradient_exact_at_zero)
{
    nb_graph *g = nb_graph_new();
    nb_node *s = nb_param(g, "s", NB_SHAPE(2, 1), NULL), *ds;
    nb_node *y = nb_constant(g, NB_SHAPE(2, 1), (float[]){1, -1});
    cr_assert_eq(nb_grad(g, nb_margin_loss(g, s, y, NB_MARGIN_LOGISTIC), &s, 1, &ds), NB_OK);
    float *d = t_eval(g, ds, NULL, 0);
    t_assert_close(d, (float[]){-0.25f, 0.25f}, 2, 1e-7f);
    free(d);
    nb_graph_free(g);
}

/* Margins away from the hinge's kink at 1 (M = 2.4, -.5, -.3, .6). */
Test(margin, gradcheck_each_kind)
{
    for (int k = NB_MARGIN_LOGISTIC; k <= NB_MARGIN_EXPONENTIAL; k++) {
        nb_graph *g = nb_graph_new();
        nb_node *s = nb_param(g, "s", NB_SHAPE(4), (float[]){2.4f, -0.5f, 0.3f, -0.6f});
        nb_node *y = nb_constant(g, NB_SHAPE(4), (float[]){1, 1, -1, -1});
        t_gradcheck(g, nb_margin_loss(g, s, y, (nb_margin_kind)k), &s, 1, NULL, 0);
        nb_graph_free(g);
    }
}

/* ---------------------------------------------------------------- refusals */

/* After a refusal the loss's scope is closed again. */
static void assert_scope_closed(nb_graph *g)
{
    const char *sc = nb_node_scope(nb_scalar(g, 0));
    cr_assert(!sc || !*sc, "scope '%s' left open", sc);
}

Test(refusals, mse_shapes_differ)
{
    nb_graph *g = nb_graph_new();
    nb_node *a = nb_input(g, "a", NB_SHAPE(4, 3)), *y = nb_input(g, "y", NB_SHAPE(4, 2));
    cr_assert_null(nb_mse_loss(g, a, y));
    cr_assert_eq(nb_graph_status(g), NB_ERR_SHAPE);
    t_assert_error(g, "mse_loss", "'a' [4,3]", "'y' [4,2]", "differ", NULL);
    assert_scope_closed(g);
    nb_graph_free(g);
}

Test(refusals, rank_zero)
{
    nb_graph *g = nb_graph_new();
    cr_assert_null(nb_mse_loss(g, nb_scalar(g, 1), nb_scalar(g, 2)));
    t_assert_error(g, "mse_loss", "no batch axis", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_bce_with_logits(g, nb_scalar(g, 1), nb_scalar(g, 2)));
    t_assert_error(g, "bce_with_logits", "no batch axis", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_margin_loss(g, nb_scalar(g, 1), nb_scalar(g, 2), NB_MARGIN_HINGE));
    t_assert_error(g, "margin_loss", "no batch axis", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_softmax_cross_entropy(g, nb_scalar(g, 1), nb_scalar(g, 2)));
    t_assert_error(g, "softmax_cross_entropy", "logits", "rank 2", NULL);
    assert_scope_closed(g);
    nb_graph_free(g);
}

Test(refusals, cross_entropy_shapes)
{
    nb_graph *g = nb_graph_new();
    nb_node *z = nb_input(g, "z", NB_SHAPE(4, 3));
    cr_assert_null(nb_softmax_cross_entropy(g, nb_input(g, "flat", NB_SHAPE(12)),
                                            nb_input(g, "l", NB_SHAPE(12))));
    cr_assert_eq(nb_graph_status(g), NB_ERR_SHAPE);
    t_assert_error(g, "softmax_cross_entropy", "logits 'flat' [12]", "[N, C]", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_softmax_cross_entropy(g, z, nb_input(g, "short", NB_SHAPE(3))));
    t_assert_error(g, "softmax_cross_entropy", "labels 'short' [3]", "[4]", "'z' [4,3]", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_softmax_cross_entropy(g, z, nb_input(g, "col", NB_SHAPE(4, 1))));
    t_assert_error(g, "labels 'col' [4,1]", "must be [4]", NULL);
    assert_scope_closed(g);
    nb_graph_free(g);
}

Test(refusals, bce_and_margin_shapes)
{
    nb_graph *g = nb_graph_new();
    nb_node *z = nb_input(g, "z", NB_SHAPE(2, 3)), *t = nb_input(g, "t", NB_SHAPE(3, 2));
    cr_assert_null(nb_bce_with_logits(g, z, t));
    t_assert_error(g, "bce_with_logits", "'z' [2,3]", "'t' [3,2]", "differ", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_margin_loss(g, z, nb_input(g, "y", NB_SHAPE(2, 3)), NB_MARGIN_HINGE));
    t_assert_error(g, "margin_loss", "scores 'z' [2,3]", "[N] or [N, 1]", NULL);
    nb_graph_clear_error(g);
    nb_node *s = nb_input(g, "s", NB_SHAPE(2)), *y = nb_input(g, "y2", NB_SHAPE(2, 1));
    cr_assert_null(nb_margin_loss(g, s, y, NB_MARGIN_LOGISTIC));
    t_assert_error(g, "margin_loss", "'s' [2]", "'y2' [2,1]", "differ", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_margin_loss(g, s, nb_input(g, "y3", NB_SHAPE(2)), (nb_margin_kind)7));
    cr_assert_eq(nb_graph_status(g), NB_ERR_ARG);
    t_assert_error(g, "margin_loss", "kind 7", NULL);
    assert_scope_closed(g);
    nb_graph_free(g);
}

/* A NULL input keeps the first message; a NULL graph gives NULL. */
Test(refusals, null_inputs)
{
    nb_graph *g = nb_graph_new();
    nb_node *bad = nb_add(g, nb_input(g, "p", NB_SHAPE(2)), nb_input(g, "q", NB_SHAPE(3)));
    cr_assert_null(bad);
    char first[512];
    snprintf(first, sizeof first, "%s", nb_graph_error(g));
    cr_assert_null(nb_mse_loss(g, bad, nb_input(g, "r", NB_SHAPE(2))));
    cr_assert_null(nb_softmax_cross_entropy(g, bad, NULL));
    cr_assert_str_eq(nb_graph_error(g), first);
    cr_assert_null(nb_mse_loss(NULL, NULL, NULL));
    cr_assert_null(nb_margin_loss(NULL, NULL, NULL, NB_MARGIN_HINGE));
    assert_scope_closed(g);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- class labels at run time */

/* Runs loss (and its gradient with respect to z) on labels fed at run time,
 * the way a user's own program does: the status of the run, and the
 * runtime's message in msg. */
static nb_status run_ce(const float *labels, int64_t n, char *msg, size_t size)
{
    nb_graph *g = nb_graph_new();
    float z0[3 * 5];
    t_fill(z0, 15, 4, -1, 1);
    nb_node *z = nb_param(g, "logits", NB_SHAPE(n, 5), z0);
    nb_node *l = nb_input(g, "labels", NB_SHAPE(n));
    nb_node *loss = nb_softmax_cross_entropy(g, z, l), *dz;
    cr_assert_eq(nb_grad(g, loss, &z, 1, &dz), NB_OK, "%s", nb_graph_error(g));
    nb_runtime *rt = nb_runtime_new(g, (nb_node *[]){loss, dz}, 2);
    cr_assert_not_null(rt, "%s", nb_graph_error(g));
    cr_assert_eq(nb_runtime_set_input(rt, l, labels), NB_OK);
    nb_status st = nb_runtime_run(rt);
    snprintf(msg, size, "%s", nb_runtime_error(rt));
    nb_runtime_free(rt);
    nb_graph_free(g);
    return st;
}

/* Labels 7, 9 and -1 on 5 logits used to give loss -0 and all-zero
 * gradients without a word: the run is refused, naming the label, its
 * example and the logits' width. */
Test(cross_entropy, labels_outside_the_classes_stop_the_run)
{
    char msg[512];
    cr_assert_eq(run_ce((float[]){7, 9, -1}, 3, msg, sizeof msg), NB_ERR_ARG);
    cr_assert_str_eq(msg, "run: softmax_cross_entropy1: label 7 of example 0 is outside 0…4 "
                          "(the output 'logits' has 5 units)");
    cr_assert_eq(run_ce((float[]){0, 4, -1}, 3, msg, sizeof msg), NB_ERR_ARG);
    cr_assert(strstr(msg, "label -1 of example 2 is outside 0…4"), "%s", msg);
    cr_assert_eq(run_ce((float[]){0, 4, 5}, 3, msg, sizeof msg), NB_ERR_ARG);
    cr_assert(strstr(msg, "label 5 of example 2 is outside 0…4"), "%s", msg);
    cr_assert_eq(run_ce((float[]){0, 4, 1}, 3, msg, sizeof msg), NB_OK, "%s", msg);
    cr_assert_str_eq(msg, "");
}

/* A class target is an integer: 2.5 and NaN are refused, not rounded. */
Test(cross_entropy, non_integer_labels_stop_the_run)
{
    char msg[512];
    cr_assert_eq(run_ce((float[]){1, 2.5f}, 2, msg, sizeof msg), NB_ERR_ARG);
    cr_assert_str_eq(msg, "run: softmax_cross_entropy1: label 2.5 of example 1 is not a class "
                          "index (an integer in 0…4) (the output 'logits' has 5 units)");
    cr_assert_eq(run_ce((float[]){NAN, 1}, 2, msg, sizeof msg), NB_ERR_ARG);
    cr_assert(strstr(msg, "label nan of example 0 is not a class index"), "%s", msg);
}

/* ---------------------------------------------------------------- one_hot */

Test(one_hot, forward_and_no_gradient)
{
    nb_graph *g = nb_graph_new();
    nb_node *l = nb_input(g, "l", NB_SHAPE(3));
    nb_node *h = nb_one_hot(g, l, 4, NULL);
    cr_assert_not_null(h, "%s", nb_graph_error(g));
    cr_assert_str_eq(nb_node_op(h), "one_hot");
    nb_feed f = {l, (float[]){2, 0, 3}};
    float *v = t_eval(g, h, &f, 1);
    t_assert_close(v, (float[]){0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1}, 12, 0);
    free(v);
    /* the labels get no gradient: a zero constant */
    nb_node *dl;
    cr_assert_eq(nb_grad(g, nb_sum(g, h, NULL, 0, false), &l, 1, &dl), NB_OK, "%s",
                 nb_graph_error(g));
    cr_assert_eq(nb_node_kind_of(dl), NB_NODE_CONST);
    nb_graph_free(g);
}

/* Without a scores node the message counts the classes; the op's name
 * stands in for a layer outside any scope. */
Test(one_hot, refused_values_without_scores)
{
    nb_graph *g = nb_graph_new();
    nb_node *l = nb_input(g, "l", NB_SHAPE(2));
    nb_node *h = nb_one_hot(g, l, 3, NULL);
    nb_runtime *rt = nb_runtime_new(g, &h, 1);
    nb_runtime_set_input(rt, l, (float[]){1, 3});
    cr_assert_eq(nb_runtime_run(rt), NB_ERR_ARG);
    cr_assert_str_eq(nb_runtime_error(rt), "run: one_hot: label 3 of example 1 is outside 0…2 "
                                           "(3 classes)");
    nb_runtime_set_input(rt, l, (float[]){1, 2});
    cr_assert_eq(nb_runtime_run(rt), NB_OK, "a good run after a refused one");
    cr_assert_eq(nb_runtime_value(rt, h)[5], 1.0f);
    nb_runtime_free(rt);
    nb_graph_free(g);
}

Test(one_hot, shape_refusals)
{
    nb_graph *g = nb_graph_new();
    cr_assert_null(nb_one_hot(g, nb_input(g, "m", NB_SHAPE(2, 1)), 3, NULL));
    cr_assert_eq(nb_graph_status(g), NB_ERR_SHAPE);
    t_assert_error(g, "one_hot", "labels 'm' [2,1]", "must be [N]", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_one_hot(g, nb_input(g, "l", NB_SHAPE(2)), 0, NULL));
    cr_assert_eq(nb_graph_status(g), NB_ERR_ARG);
    t_assert_error(g, "one_hot", "0 classes", "'l' [2]", NULL);
    nb_graph_clear_error(g);
    nb_graph *other = nb_graph_new();
    cr_assert_null(nb_one_hot(g, nb_input(g, "k", NB_SHAPE(2)), 2,
                              nb_input(other, "s", NB_SHAPE(2, 2))));
    t_assert_error(g, "one_hot", "another graph", NULL);
    nb_graph_free(other);
    nb_graph_free(g);
}

/* What a trainer asks before the first step: the classes its targets are
 * read as, through reshapes too, and the node they belong to. */
Test(one_hot, classes_of_a_labels_node)
{
    nb_graph *g = nb_graph_new();
    nb_node *y = nb_input(g, "y", NB_SHAPE(4)), *z = nb_input(g, "z", NB_SHAPE(4, 6));
    nb_node *t = nb_input(g, "t", NB_SHAPE(4, 1));
    const nb_node *s = NULL;
    cr_assert_eq(nb_node_classes(y, &s), 0);
    cr_assert_not_null(nb_softmax_cross_entropy(g, z, y), "%s", nb_graph_error(g));
    cr_assert_eq(nb_node_classes(y, &s), 6);
    cr_assert_eq(s, z);
    cr_assert_not_null(nb_one_hot(g, nb_reshape(g, t, NB_SHAPE(4)), 3, NULL));
    cr_assert_eq(nb_node_classes(t, &s), 3);
    cr_assert_null(s);
    cr_assert_eq(nb_node_classes(z, NULL), 0, "logits are not read as classes");
    cr_assert_eq(nb_node_classes(NULL, NULL), 0);
    nb_graph_free(g);
}
