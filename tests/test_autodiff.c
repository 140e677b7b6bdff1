/*
 * test_autodiff.c — nb_grad as a graph transformation: fan-out, unreached
 * nodes, second derivatives and Hessian-vector products against analytic
 * values, refusals, and the gradient checker catching wrong rules.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

/* Runs the given nodes once and returns a copy of node k's values. */
static float *values_of(nb_graph *g, nb_node *n)
{
    return t_eval(g, n, NULL, 0);
}

Test(autodiff, fan_out_is_accumulated)
{
    nb_graph *g = nb_graph_new();
    float xv[3] = {0.5f, -1, 2};
    nb_node *x = nb_param(g, "x", NB_SHAPE(3), xv);
    nb_node *y = nb_sum(g, nb_add(g, nb_mul(g, x, x), x), NULL, 0, false); /* Σ x² + x */
    nb_node *dx;
    cr_assert_eq(nb_grad(g, y, &x, 1, &dx), NB_OK, "%s", nb_graph_error(g));
    float *d = values_of(g, dx), want[3];
    for (int i = 0; i < 3; i++)
        want[i] = 2 * xv[i] + 1;
    t_assert_close(d, want, 3, 1e-6f);
    cr_assert(nb_node_is_backward(dx));
    cr_assert_not(nb_node_is_backward(y));
    free(d);
    nb_graph_free(g);
}

Test(autodiff, unreached_nodes_get_zero_gradients)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_param(g, "x", NB_SHAPE(2), (float[]){1, 2});
    nb_node *z = nb_param(g, "z", NB_SHAPE(2, 2), NULL);
    nb_node *y = nb_sum(g, nb_exp(g, x), NULL, 0, false);
    nb_node *wrt[] = {x, z}, *d[2];
    cr_assert_eq(nb_grad(g, y, wrt, 2, d), NB_OK);
    cr_assert(nb_shape_equal(nb_node_shape(d[1]), NB_SHAPE(2, 2)));
    float *dz = values_of(g, d[1]);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(dz[i], 0.0f);
    free(dz);
    nb_graph_free(g);
}

/* f = Σ x³: ∇f = 3x², and the Hessian-vector product ∇(∇f · v) = 6 x ⊙ v. */
Test(autodiff, second_derivative_and_hessian_vector_product)
{
    nb_graph *g = nb_graph_new();
    float xv[4] = {0.5f, -1, 2, 1.5f}, vv[4] = {1, 2, -1, 0.5f};
    nb_node *x = nb_param(g, "x", NB_SHAPE(4), xv);
    nb_node *v = nb_constant(g, NB_SHAPE(4), vv);
    nb_node *f = nb_sum(g, nb_mul(g, x, nb_mul(g, x, x)), NULL, 0, false);
    nb_node *gx, *hv;
    cr_assert_eq(nb_grad(g, f, &x, 1, &gx), NB_OK, "%s", nb_graph_error(g));
    nb_node *gv = nb_sum(g, nb_mul(g, gx, v), NULL, 0, false);
    cr_assert_eq(nb_grad(g, gv, &x, 1, &hv), NB_OK, "%s", nb_graph_error(g));
    float *d1 = values_of(g, gx), *d2 = values_of(g, hv), w1[4], w2[4];
    for (int i = 0; i < 4; i++) {
        w1[i] = 3 * xv[i] * xv[i];
        w2[i] = 6 * xv[i] * vv[i];
    }
    t_assert_close(d1, w1, 4, 1e-6f);
    t_assert_close(d2, w2, 4, 1e-6f);
    free(d1);
    free(d2);
    nb_graph_free(g);
}

/* The gradient of a gradient checked numerically: tanh through a matmul. */
Test(autodiff, gradient_of_a_gradient_passes_gradcheck)
{
    nb_graph *g = nb_graph_new();
    float wv[6], xv[6];
    t_fill(wv, 6, 3, -1, 1);
    t_fill(xv, 6, 4, -1, 1);
    nb_node *x = nb_param(g, "x", NB_SHAPE(2, 3), xv);
    nb_node *w = nb_param(g, "w", NB_SHAPE(3, 2), wv);
    nb_node *y = nb_sum(g, nb_tanh(g, nb_matmul(g, x, w, false, false)), NULL, 0, false);
    nb_node *dx;
    cr_assert_eq(nb_grad(g, y, &x, 1, &dx), NB_OK, "%s", nb_graph_error(g));
    nb_node *wrt[] = {x, w};
    t_gradcheck(g, dx, wrt, 2, NULL, 0);
    nb_graph_free(g);
}

Test(autodiff, non_scalar_loss_is_refused)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_param(g, "x", NB_SHAPE(3, 4), NULL);
    nb_node *y = nb_name(nb_exp(g, x), "y");
    nb_node *d;
    cr_assert_eq(nb_grad(g, y, &x, 1, &d), NB_ERR_GRAD);
    t_assert_error(g, "grad", "'y' [3,4]", "not a scalar", "12 elements", NULL);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- custom ops */

/* square: y = x², with a vjp rule chosen by attrs.i[0]: 0 right (2x·dy),
 * 1 off by a factor of two (4x·dy). */
static nb_status same_shape(nb_graph *g, const nb_node *n, nb_shape *out)
{
    (void)g;
    *out = nb_node_shape(nb_node_input(n, 0));
    return NB_OK;
}

static void square_forward(const nb_node *n, const float *const *in, float *out)
{
    int64_t m = nb_shape_numel(nb_node_shape(n));
    for (int64_t i = 0; i < m; i++)
        out[i] = in[0][i] * in[0][i];
}

static nb_status square_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    float k = nb_node_attrs(n)->i[0] ? 4.0f : 2.0f;
    dx[0] = nb_mul(g, dy, nb_mul(g, nb_scalar(g, k), nb_node_input(n, 0)));
    return dx[0] ? NB_OK : nb_graph_status(g);
}

static const nb_op_def square_def = {
    .name = "square", .arity = 1, .flags = NB_OP_ELEMENTWISE,
    .shape = same_shape, .forward = square_forward, .vjp = square_vjp};
static const nb_op_def square_no_vjp = {
    .name = "square_fwd_only", .arity = 1, .shape = same_shape, .forward = square_forward};

Test(autodiff, a_correct_custom_op_passes_gradcheck)
{
    nb_graph *g = nb_graph_new();
    float xv[5] = {0.3f, -0.7f, 1.1f, 2, -1.5f};
    nb_node *x = nb_param(g, "x", NB_SHAPE(5), xv);
    nb_node *y = nb_custom(g, &square_def, &x, 1, NULL);
    cr_assert_str_eq(nb_node_op(y), "square");
    t_gradcheck(g, y, &x, 1, NULL, 0);
    nb_graph_free(g);
}

Test(autodiff, gradcheck_catches_a_rule_off_by_two)
{
    nb_graph *g = nb_graph_new();
    float xv[5] = {0.3f, -0.7f, 1.1f, 2, -1.5f};
    nb_node *x = nb_param(g, "x", NB_SHAPE(5), xv);
    nb_attrs wrong = {.i = {1}};
    nb_node *y = nb_custom(g, &square_def, &x, 1, &wrong);
    nb_gradcheck_report rep;
    cr_assert_eq(nb_gradcheck(g, y, &x, 1, NULL, 0, NULL, &rep), NB_ERR_GRAD);
    cr_assert_gt(rep.worst_error, 1.0);
    cr_assert_eq(rep.worst_node, x);
    cr_assert(fabs(rep.analytic - 2 * rep.numeric) < 1e-2 * fabs(rep.numeric) + 1e-3,
              "analytic %g should be twice numeric %g", rep.analytic, rep.numeric);
    t_assert_error(g, "gradcheck", "'x' [5]", "autodiff", "finite differences", NULL);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(nb_param_data(x)[i], xv[i], "parameters must be restored");
    nb_graph_free(g);
}

/* matvec: y[i] = Σ_j W[i,j] x[j] with W square; the wrong rule returns
 * dW = x ⊗ dy (transposed) instead of dy ⊗ x — same shape, wrong indices. */
static nb_status matvec_shape(nb_graph *g, const nb_node *n, nb_shape *out)
{
    (void)g;
    *out = nb_node_shape(nb_node_input(n, 1));
    return NB_OK;
}

static void matvec_forward(const nb_node *n, const float *const *in, float *out)
{
    int64_t m = nb_node_shape(nb_node_input(n, 1)).dim[0];
    for (int64_t i = 0; i < m; i++) {
        out[i] = 0;
        for (int64_t j = 0; j < m; j++)
            out[i] += in[0][i * m + j] * in[1][j];
    }
}

static nb_status matvec_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    nb_node *w = nb_node_input(n, 0), *x = nb_node_input(n, 1);
    int64_t m = nb_node_shape(x).dim[0];
    nb_node *col_dy = nb_reshape(g, dy, NB_SHAPE(m, 1)), *col_x = nb_reshape(g, x, NB_SHAPE(m, 1));
    dx[0] = nb_matmul(g, col_x, col_dy, false, true); /* wrong: should be dy xᵀ */
    dx[1] = nb_reshape(g, nb_matmul(g, w, col_dy, true, false), NB_SHAPE(m));
    return dx[0] && dx[1] ? NB_OK : nb_graph_status(g);
}

static const nb_op_def matvec_def = {
    .name = "matvec", .arity = 2, .shape = matvec_shape, .forward = matvec_forward,
    .vjp = matvec_vjp};

Test(autodiff, gradcheck_catches_a_transposed_index)
{
    nb_graph *g = nb_graph_new();
    float wv[9], xv[3];
    t_fill(wv, 9, 11, -1, 1);
    t_fill(xv, 3, 12, -1, 1);
    nb_node *w = nb_param(g, "w", NB_SHAPE(3, 3), wv);
    nb_node *x = nb_param(g, "x", NB_SHAPE(3), xv);
    nb_node *y = nb_custom(g, &matvec_def, (nb_node *[]){w, x}, 2, NULL);
    cr_assert_eq(nb_gradcheck(g, y, &x, 1, NULL, 0, NULL, NULL), NB_OK, "dx is right: %s",
                 nb_graph_error(g));
    cr_assert_eq(nb_gradcheck(g, y, &w, 1, NULL, 0, NULL, NULL), NB_ERR_GRAD);
    t_assert_error(g, "gradcheck", "'w' [3,3]", NULL);
    nb_graph_free(g);
}

Test(autodiff, an_op_without_a_rule_is_refused)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_param(g, "x", NB_SHAPE(2), (float[]){1, 2});
    nb_node *y = nb_sum(g, nb_custom(g, &square_no_vjp, &x, 1, NULL), NULL, 0, false);
    nb_node *d;
    cr_assert_eq(nb_grad(g, y, &x, 1, &d), NB_ERR_GRAD);
    t_assert_error(g, "grad", "square_fwd_only", "no gradient rule", NULL);
    nb_graph_free(g);
}

Test(autodiff, gradcheck_refuses_what_it_cannot_perturb)
{
    nb_graph *g = nb_graph_new();
    nb_node *c = nb_full(g, NB_SHAPE(2), 1);
    nb_node *x = nb_input(g, "x", NB_SHAPE(2));
    nb_node *y = nb_mul(g, c, x);
    cr_assert_eq(nb_gradcheck(g, y, &c, 1, NULL, 0, NULL, NULL), NB_ERR_ARG);
    t_assert_error(g, "gradcheck", "not a parameter or an input", NULL);
    nb_graph_clear_error(g);
    cr_assert_eq(nb_gradcheck(g, y, &x, 1, NULL, 0, NULL, NULL), NB_ERR_ARG);
    t_assert_error(g, "gradcheck", "'x' [2]", "without a feed", NULL);
    nb_graph_clear_error(g);
    float xv[2] = {0.5f, 2};
    t_gradcheck(g, y, &x, 1, &(nb_feed){x, xv}, 1);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- values read as slices */

/* How many nodes of g run op `op`. */
static int count_op(nb_graph *g, const char *op)
{
    int n = 0;
    for (int i = 0; i < nb_graph_node_count(g); i++)
        n += !strcmp(nb_node_op(nb_graph_node(g, i)), op);
    return n;
}

/* Σ_t w_t · tanh(x[:, t]) over the steps `at` of x [2, 5, 3], each step a
 * slice of its own, as a recurrent layer reads its input. */
static nb_node *steps_loss(nb_graph *g, nb_node *x, const int *at, const int *len, int n)
{
    nb_node *loss = NULL;
    for (int j = 0; j < n; j++) {
        nb_node *t = nb_tanh(g, nb_slice(g, x, 1, at[j], at[j] + len[j], 1));
        nb_node *w = nb_scalar(g, (float)(j + 1));
        nb_node *term = nb_sum(g, nb_mul(g, t, w), NULL, 0, false);
        loss = loss ? nb_add(g, loss, term) : term;
    }
    return loss;
}

/* Every step of a value read through slices along one axis: its gradient
 * is one concat of the steps' gradients (no pad per step, no sum of T
 * whole-size pads), and it is right. */
Test(autodiff, slices_along_an_axis_join_as_one_concat)
{
    nb_graph *g = nb_graph_new();
    float xv[30];
    t_fill(xv, 30, 3, -1, 1);
    nb_node *x = nb_param(g, "x", NB_SHAPE(2, 5, 3), xv), *dx;
    nb_node *loss = steps_loss(g, x, (int[]){0, 1, 2, 3, 4}, (int[]){1, 1, 1, 1, 1}, 5);
    int pads = count_op(g, "pad");
    cr_assert_eq(nb_grad(g, loss, &x, 1, &dx), NB_OK, "%s", nb_graph_error(g));
    cr_assert_str_eq(nb_node_op(dx), "concat");
    cr_assert_eq(nb_node_num_inputs(dx), 5);
    cr_assert_eq(count_op(g, "pad"), pads, "the gradient padded a step");
    float *d = values_of(g, dx);
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < 5; t++)
            for (int f = 0; f < 3; f++) {
                float v = xv[(b * 5 + t) * 3 + f], th = tanhf(v);
                cr_assert_float_eq(d[(b * 5 + t) * 3 + f], (float)(t + 1) * (1 - th * th), 1e-6,
                                   "[%d,%d,%d]", b, t, f);
            }
    free(d);
    t_gradcheck(g, loss, &x, 1, NULL, 0);
    nb_graph_free(g);
}

/* Steps left out are zeros between the pieces; slices in any order and of
 * any length join sorted by where they start. */
Test(autodiff, sliced_gradient_fills_the_gaps_with_zeros)
{
    nb_graph *g = nb_graph_new();
    float xv[30];
    t_fill(xv, 30, 4, -1, 1);
    nb_node *x = nb_param(g, "x", NB_SHAPE(2, 5, 3), xv), *dx;
    nb_node *loss = steps_loss(g, x, (int[]){3, 0}, (int[]){2, 1}, 2);
    cr_assert_eq(nb_grad(g, loss, &x, 1, &dx), NB_OK, "%s", nb_graph_error(g));
    cr_assert_str_eq(nb_node_op(dx), "concat");
    float *d = values_of(g, dx);
    for (int b = 0; b < 2; b++)
        for (int f = 0; f < 3; f++) {
            cr_assert_eq(d[(b * 5 + 1) * 3 + f], 0.0f);
            cr_assert_eq(d[(b * 5 + 2) * 3 + f], 0.0f);
            float v = xv[(b * 5 + 3) * 3 + f], th = tanhf(v);
            cr_assert_float_eq(d[(b * 5 + 3) * 3 + f], 1 * (1 - th * th), 1e-6);
            v = xv[b * 5 * 3 + f], th = tanhf(v);
            cr_assert_float_eq(d[b * 5 * 3 + f], 2 * (1 - th * th), 1e-6);
        }
    free(d);
    t_gradcheck(g, loss, &x, 1, NULL, 0);
    /* gaps before, between and after every piece: steps 1 and 3 of 5 */
    nb_node *gaps = steps_loss(g, x, (int[]){3, 1}, (int[]){1, 1}, 2);
    cr_assert_eq(nb_grad(g, gaps, &x, 1, &dx), NB_OK, "%s", nb_graph_error(g));
    cr_assert_str_eq(nb_node_op(dx), "concat");
    cr_assert_eq(nb_node_num_inputs(dx), 5);
    t_gradcheck(g, gaps, &x, 1, NULL, 0);
    nb_graph_free(g);
}

/* Overlapping slices, or slices mixed with another reader, keep the plain
 * rule (pads summed) and stay right. */
Test(autodiff, overlapping_or_mixed_readers_keep_the_plain_rule)
{
    nb_graph *g = nb_graph_new();
    float xv[30];
    t_fill(xv, 30, 5, -1, 1);
    nb_node *x = nb_param(g, "x", NB_SHAPE(2, 5, 3), xv);
    nb_node *loss = steps_loss(g, x, (int[]){0, 2}, (int[]){3, 3}, 2);
    t_gradcheck(g, loss, &x, 1, NULL, 0);
    nb_node *mixed = nb_add(g, steps_loss(g, x, (int[]){0, 1}, (int[]){1, 1}, 2),
                            nb_sum(g, nb_mul(g, x, x), NULL, 0, false));
    t_gradcheck(g, mixed, &x, 1, NULL, 0);
    nb_graph_free(g);
}
