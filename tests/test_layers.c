/*
 * test_layers.c — layers and activations composed from primitive ops:
 * forward values against hand-computed arrays and naive direct loops,
 * refusals (status, message, and the scope popped again), parameter reuse,
 * dropout masks from a seeded generator, batch-norm statistics and state
 * updates, and a finite-difference gradient check of every layer with
 * respect to its input and its parameters.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

/* ---------------------------------------------------------------- helpers */

/* A parameter filled from t_fill. */
static nb_node *rand_param(nb_graph *g, const char *name, nb_shape s, uint64_t seed, float lo,
                           float hi)
{
    int64_t n = nb_shape_numel(s);
    float *v = malloc((size_t)n * sizeof *v);
    t_fill(v, n, seed, lo, hi);
    nb_node *p = nb_param(g, name, s, v);
    free(v);
    cr_assert_not_null(p, "%s", nb_graph_error(g));
    return p;
}

/* The node of this full name, which must exist. */
static nb_node *find(nb_graph *g, const char *name)
{
    nb_node *n = nb_graph_find(g, name);
    cr_assert_not_null(n, "no node named %s", name);
    return n;
}

/* Overwrites a parameter's values from t_fill. */
static void refill(nb_node *p, uint64_t seed, float lo, float hi)
{
    t_fill(nb_param_data(p), nb_shape_numel(nb_node_shape(p)), seed, lo, hi);
}

static void assert_shape(const nb_node *n, nb_shape want)
{
    char a[64], b[64];
    cr_assert(nb_shape_equal(nb_node_shape(n), want), "shape %s, expected %s",
              nb_shape_format(nb_node_shape(n), a, sizeof a), nb_shape_format(want, b, sizeof b));
}

/* After a refusal the layer's scope is popped: a new node has no scope. */
static void assert_scope_popped(nb_graph *g)
{
    cr_assert_null(nb_node_scope(nb_scalar(g, 1.0f)), "a refused layer left its scope pushed");
}

/* The graph's noise input (there must be exactly one). */
static nb_node *noise_node(nb_graph *g)
{
    nb_node *found = NULL;
    for (int i = 0; i < nb_graph_node_count(g); i++)
        if (nb_node_is_noise(nb_graph_node(g, i))) {
            cr_assert_null(found, "more than one noise input");
            found = nb_graph_node(g, i);
        }
    cr_assert_not_null(found, "no noise input");
    return found;
}

/* Distinct values spaced 0.05 apart in a scrambled order: max pooling has
 * no ties, and finite differences never swap a window's winner. */
static void fill_distinct(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = 0.05f * (float)((i * 37 + 11) % n) - 0.025f * (float)n;
}

static int64_t out_size(int64_t h, int k, int s, int p, int d)
{
    return (h + 2 * p - d * (k - 1) - 1) / s + 1;
}

/* ---------------------------------------------------------------- naive references */

typedef struct conv_case {
    int64_t n, c, h, w, f;
    int kh, kw, s, p, d, groups;
} conv_case;

static nb_conv2d_opts conv_opts(conv_case k)
{
    return (nb_conv2d_opts){.filters = k.f, .kh = k.kh, .kw = k.kw, .stride = k.s, .pad = k.p,
                            .dilation = k.d, .groups = k.groups};
}

/* The pixel a window element reads, or -1 when it falls in the padding. */
static int64_t pixel(const conv_case *k, const float *x, int64_t b, int64_t ch, int64_t oy,
                     int64_t ox, int i, int j, float *v)
{
    int64_t ih = oy * k->s - k->p + i * k->d, iw = ox * k->s - k->p + j * k->d;
    if (ih < 0 || ih >= k->h || iw < 0 || iw >= k->w)
        return -1;
    *v = x[((b * k->c + ch) * k->h + ih) * k->w + iw];
    return 0;
}

/* y[n,o,oy,ox] = b[o] + Σ_{ci,i,j} x[n, g·C/G + ci, ...] · w[o, ci, i, j]
 * (local: w[l, ci·kh·kw + i·kw + j, o] and b[o, l]), g = o / (F/G). */
static void naive_conv(conv_case k, bool local, const float *x, const float *w, const float *b,
                       float *y)
{
    int64_t oh = out_size(k.h, k.kh, k.s, k.p, k.d), ow = out_size(k.w, k.kw, k.s, k.p, k.d);
    int64_t cg = k.c / k.groups, fg = k.f / k.groups, kk = cg * k.kh * k.kw;
    for (int64_t n = 0; n < k.n; n++)
        for (int64_t o = 0; o < k.f; o++)
            for (int64_t oy = 0; oy < oh; oy++)
                for (int64_t ox = 0; ox < ow; ox++) {
                    int64_t l = oy * ow + ox, grp = o / fg;
                    double acc = local ? b[o * oh * ow + l] : b[o];
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int i = 0; i < k.kh; i++)
                            for (int j = 0; j < k.kw; j++) {
                                float v;
                                if (pixel(&k, x, n, grp * cg + ci, oy, ox, i, j, &v) < 0)
                                    continue;
                                int64_t r = (ci * k.kh + i) * k.kw + j;
                                acc += v * (local ? w[(l * kk + r) * k.f + o] : w[o * kk + r]);
                            }
                    y[((n * k.f + o) * oh + oy) * ow + ox] = (float)acc;
                }
}

/* Max (padding -∞) or mean (padding 0, counted) of each window. */
static void naive_pool(conv_case k, bool max, const float *x, float *y)
{
    int64_t oh = out_size(k.h, k.kh, k.s, k.p, 1), ow = out_size(k.w, k.kw, k.s, k.p, 1);
    for (int64_t n = 0; n < k.n; n++)
        for (int64_t ch = 0; ch < k.c; ch++)
            for (int64_t oy = 0; oy < oh; oy++)
                for (int64_t ox = 0; ox < ow; ox++) {
                    double acc = max ? -INFINITY : 0;
                    for (int i = 0; i < k.kh; i++)
                        for (int j = 0; j < k.kw; j++) {
                            float v;
                            if (pixel(&k, x, n, ch, oy, ox, i, j, &v) < 0)
                                continue;
                            acc = max ? fmax(acc, v) : acc + v;
                        }
                    y[((n * k.c + ch) * oh + oy) * ow + ox] =
                        (float)(max ? acc : acc / (k.kh * k.kw));
                }
}

/* ---------------------------------------------------------------- activations */

Test(activations, softmax_hand_values_and_rows_sum_to_one)
{
    nb_graph *g = nb_graph_new();
    const float xv[] = {1, 2, 3, 1, 1, 1};
    nb_node *x = nb_constant(g, NB_SHAPE(2, 3), xv);
    nb_node *y = nb_softmax(g, x, -1);
    assert_shape(y, NB_SHAPE(2, 3));
    float *v = t_eval(g, y, NULL, 0);
    const float want[] = {0.09003057f, 0.24472847f, 0.66524096f, 1 / 3.0f, 1 / 3.0f, 1 / 3.0f};
    t_assert_close(v, want, 6, 1e-6f);
    free(v);
    float *ls = t_eval(g, nb_log_softmax(g, x, 1), NULL, 0);
    const float lwant[] = {-2.40760596f, -1.40760596f, -0.40760596f, -1.09861229f, -1.09861229f,
                           -1.09861229f};
    t_assert_close(ls, lwant, 6, 1e-6f);
    free(ls);
    nb_graph_free(g);
}

Test(activations, softmax_over_axis_0)
{
    nb_graph *g = nb_graph_new();
    const float xv[] = {0, 5, 0, 5};
    nb_node *x = nb_constant(g, NB_SHAPE(2, 2), xv);
    float *v = t_eval(g, nb_softmax(g, x, 0), NULL, 0);
    const float want[] = {0.5f, 0.5f, 0.5f, 0.5f};
    t_assert_close(v, want, 4, 1e-6f);
    free(v);
    nb_graph_free(g);
}

Test(activations, large_logits_stay_finite)
{
    nb_graph *g = nb_graph_new();
    const float big[] = {1000, 1001, 1002, -1000, 0, 1000};
    nb_node *x = nb_constant(g, NB_SHAPE(2, 3), big);
    float *s = t_eval(g, nb_softmax(g, x, -1), NULL, 0);
    float *ls = t_eval(g, nb_log_softmax(g, x, -1), NULL, 0);
    const float want[] = {0.09003057f, 0.24472847f, 0.66524096f, 0, 0, 1};
    const float lwant[] = {-2.40760596f, -1.40760596f, -0.40760596f, -2000, -1000, 0};
    for (int i = 0; i < 6; i++)
        cr_assert(isfinite(s[i]) && isfinite(ls[i]), "element %d: %g, %g", i, s[i], ls[i]);
    t_assert_close(s, want, 6, 1e-6f);
    t_assert_close(ls, lwant, 6, 1e-5f);
    for (int r = 0; r < 2; r++)
        cr_assert_float_eq(s[3 * r] + s[3 * r + 1] + s[3 * r + 2], 1.0f, 1e-6f);
    free(s);
    free(ls);
    nb_graph_free(g);
}

Test(activations, softmax_refuses_axis_out_of_range)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(2, 3));
    cr_assert_null(nb_softmax(g, x, 2));
    cr_assert_eq(nb_graph_status(g), NB_ERR_ARG);
    t_assert_error(g, "softmax", "axis 2", "'x' [2,3]", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_log_softmax(g, x, -3));
    t_assert_error(g, "log_softmax", "axis -3", NULL);
    nb_graph_free(g);
}

Test(activations, leaky_relu_values_and_refusals)
{
    nb_graph *g = nb_graph_new();
    const float xv[] = {-2, -0.5f, 0.5f, 3};
    nb_node *x = nb_constant(g, NB_SHAPE(4), xv);
    float *v = t_eval(g, nb_leaky_relu(g, x, 0.2f), NULL, 0);
    const float want[] = {-0.4f, -0.1f, 0.5f, 3};
    t_assert_close(v, want, 4, 1e-6f);
    free(v);
    v = t_eval(g, nb_activate(g, x, NB_ACT_LEAKY_RELU), NULL, 0);
    const float want01[] = {-0.02f, -0.005f, 0.5f, 3};
    t_assert_close(v, want01, 4, 1e-6f);
    free(v);
    cr_assert_null(nb_leaky_relu(g, x, 1.5f));
    cr_assert_eq(nb_graph_status(g), NB_ERR_ARG);
    t_assert_error(g, "leaky_relu", "alpha 1.5", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_leaky_relu(g, x, -0.1f));
    t_assert_error(g, "alpha -0.1", NULL);
    nb_graph_free(g);
}

Test(activations, activate_dispatches_each_kind)
{
    nb_graph *g = nb_graph_new();
    const float xv[] = {-1.5f, -0.25f, 0.5f, 2};
    nb_node *x = nb_constant(g, NB_SHAPE(1, 4), xv);
    cr_assert_eq(nb_activate(g, x, NB_ACT_NONE), x);
    float want[4];
    struct { nb_activation act; float (*f)(float); } kinds[] = {
        {NB_ACT_RELU, NULL}, {NB_ACT_SIGMOID, NULL}, {NB_ACT_TANH, tanhf}, {NB_ACT_SIGN, NULL}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        for (int i = 0; i < 4; i++) {
            float z = xv[i];
            switch (kinds[k].act) {
            case NB_ACT_RELU: want[i] = z > 0 ? z : 0; break;
            case NB_ACT_SIGMOID: want[i] = 1 / (1 + expf(-z)); break;
            case NB_ACT_SIGN: want[i] = z > 0 ? 1.0f : -1.0f; break;
            default: want[i] = kinds[k].f(z);
            }
        }
        float *v = t_eval(g, nb_activate(g, x, kinds[k].act), NULL, 0);
        t_assert_close(v, want, 4, 1e-6f);
        free(v);
    }
    float *s = t_eval(g, nb_activate(g, x, NB_ACT_SOFTMAX), NULL, 0);
    float *ls = t_eval(g, nb_activate(g, x, NB_ACT_LOG_SOFTMAX), NULL, 0);
    for (int i = 0; i < 4; i++)
        cr_assert_float_eq(logf(s[i]), ls[i], 1e-5f);
    free(s);
    free(ls);
    cr_assert_null(nb_activate(g, x, (nb_activation)42));
    t_assert_error(g, "activation 42", NULL);
    nb_graph_free(g);
}

Test(activations, threshold_forward_and_grad_refusal)
{
    nb_graph *g = nb_graph_new();
    const float xv[] = {-2, 0, 3, -0.5f};
    nb_node *x = nb_param(g, "x", NB_SHAPE(4), xv);
    nb_node *y = nb_threshold(g, x);
    cr_assert_str_eq(nb_node_op(y), "threshold");
    float *v = t_eval(g, y, NULL, 0);
    const float want[] = {-1, 0, 1, -1};
    t_assert_close(v, want, 4, 0);
    free(v);
    nb_node *loss = nb_sum(g, y, NULL, 0, false), *dx = NULL;
    cr_assert_eq(nb_grad(g, loss, &x, 1, &dx), NB_ERR_GRAD);
    t_assert_error(g, "threshold", "no gradient rule", NULL);
    nb_graph_free(g);
}

Test(activations, gradcheck_every_activation)
{
    nb_graph *g = nb_graph_new();
    float xv[12];
    t_fill(xv, 12, 3, -2, 2);
    for (int i = 0; i < 12; i++) /* away from the kink at 0 */
        xv[i] += xv[i] >= 0 ? 0.2f : -0.2f;
    nb_node *x = nb_param(g, "x", NB_SHAPE(3, 4), xv);
    const nb_activation acts[] = {NB_ACT_NONE, NB_ACT_RELU, NB_ACT_LEAKY_RELU, NB_ACT_SIGMOID,
                                  NB_ACT_TANH, NB_ACT_SOFTMAX, NB_ACT_LOG_SOFTMAX};
    for (size_t k = 0; k < sizeof acts / sizeof acts[0]; k++)
        t_gradcheck(g, nb_activate(g, x, acts[k]), &x, 1, NULL, 0);
    t_gradcheck(g, nb_leaky_relu(g, x, 0.3f), &x, 1, NULL, 0);
    t_gradcheck(g, nb_softmax(g, x, 0), &x, 1, NULL, 0);
    t_gradcheck(g, nb_log_softmax(g, x, 0), &x, 1, NULL, 0);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- dense and flatten */

/* x [2,3] = [1,2,3; -1,0,1], w = [1,0; 0,1; 1,-1], b = [0.5,-0.5]. */
static nb_node *hand_dense(nb_graph *g, nb_node *x, nb_activation act)
{
    nb_node *y = nb_dense(g, x, (nb_dense_opts){.units = 2, .activation = act});
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    const char *scope = nb_node_scope(y);
    char wn[64], bn[64];
    snprintf(wn, sizeof wn, "%s/w", scope), snprintf(bn, sizeof bn, "%s/b", scope);
    const float w[] = {1, 0, 0, 1, 1, -1}, b[] = {0.5f, -0.5f};
    memcpy(nb_param_data(find(g, wn)), w, sizeof w);
    memcpy(nb_param_data(find(g, bn)), b, sizeof b);
    return y;
}

Test(dense, hand_values_for_rank_1_2_and_3)
{
    nb_graph *g = nb_graph_new();
    const float xv[] = {1, 2, 3, -1, 0, 1};
    nb_node *y = hand_dense(g, nb_constant(g, NB_SHAPE(2, 3), xv), NB_ACT_NONE);
    assert_shape(y, NB_SHAPE(2, 2));
    cr_assert_str_eq(nb_node_scope(y), "dense1");
    float *v = t_eval(g, y, NULL, 0);
    const float want[] = {4.5f, -1.5f, 0.5f, -1.5f};
    t_assert_close(v, want, 4, 1e-6f);
    free(v);
    y = hand_dense(g, nb_constant(g, NB_SHAPE(2, 3), xv), NB_ACT_RELU);
    cr_assert_str_eq(nb_node_scope(y), "dense2");
    v = t_eval(g, y, NULL, 0);
    const float relu[] = {4.5f, 0, 0.5f, 0};
    t_assert_close(v, relu, 4, 1e-6f);
    free(v);
    y = hand_dense(g, nb_constant(g, NB_SHAPE(3), xv), NB_ACT_NONE);
    assert_shape(y, NB_SHAPE(2));
    v = t_eval(g, y, NULL, 0);
    t_assert_close(v, want, 2, 1e-6f);
    free(v);
    y = hand_dense(g, nb_constant(g, NB_SHAPE(2, 1, 3), xv), NB_ACT_NONE);
    assert_shape(y, NB_SHAPE(2, 1, 2));
    v = t_eval(g, y, NULL, 0);
    t_assert_close(v, want, 4, 1e-6f);
    free(v);
    nb_graph_free(g);
}

Test(dense, default_init_is_glorot_uniform_with_zero_bias)
{
    nb_graph *g = nb_graph_new();
    nb_graph_seed(g, 5);
    nb_node *x = nb_input(g, "x", NB_SHAPE(4, 30));
    cr_assert_not_null(nb_dense(g, x, (nb_dense_opts){.units = 20, .name = "fc"}));
    nb_node *w = find(g, "fc/w"), *b = find(g, "fc/b");
    assert_shape(w, NB_SHAPE(30, 20));
    assert_shape(b, NB_SHAPE(20));
    cr_assert(nb_param_trainable(w) && nb_param_trainable(b));
    float limit = sqrtf(6.0f / 50), big = 0;
    const float *wv = nb_param_data(w), *bv = nb_param_data(b);
    for (int i = 0; i < 600; i++) {
        cr_assert(fabsf(wv[i]) <= limit, "w[%d] = %g beyond %g", i, wv[i], limit);
        big = fmaxf(big, fabsf(wv[i]));
    }
    cr_assert_gt(big, 0.9f * limit);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(bv[i], 0.0f);
    /* chosen initialisers, and no bias */
    cr_assert_not_null(nb_dense(g, x, (nb_dense_opts){
        .units = 3, .init = {.kind = NB_INIT_CONSTANT, .a = 0.25f},
        .bias_init = {.kind = NB_INIT_CONSTANT, .a = -1}}));
    cr_assert_eq(nb_param_data(find(g, "dense1/w"))[7], 0.25f);
    cr_assert_eq(nb_param_data(find(g, "dense1/b"))[2], -1.0f);
    int before = nb_graph_num_params(g);
    cr_assert_not_null(nb_dense(g, x, (nb_dense_opts){.units = 3, .no_bias = true}));
    cr_assert_eq(nb_graph_num_params(g), before + 1);
    cr_assert_null(nb_graph_find(g, "dense2/b"));
    nb_graph_free(g);
}

Test(dense, gradcheck_input_weights_bias)
{
    nb_graph *g = nb_graph_new();
    nb_graph_seed(g, 2);
    nb_node *x = rand_param(g, "x", NB_SHAPE(3, 4), 1, -1, 1);
    nb_node *y = nb_dense(g, x, (nb_dense_opts){.units = 3, .activation = NB_ACT_TANH,
                                                .bias_init = {.kind = NB_INIT_UNIFORM, .a = -1,
                                                              .b = 1}});
    nb_node *wrt[] = {x, find(g, "dense1/w"), find(g, "dense1/b")};
    t_gradcheck(g, y, wrt, 3, NULL, 0);
    nb_node *x3 = rand_param(g, "x3", NB_SHAPE(2, 2, 4), 2, -1, 1);
    y = nb_dense(g, x3, (nb_dense_opts){.units = 2, .activation = NB_ACT_SOFTMAX});
    nb_node *wrt3[] = {x3, find(g, "dense2/w"), find(g, "dense2/b")};
    t_gradcheck(g, y, wrt3, 3, NULL, 0);
    nb_graph_free(g);
}

Test(dense, reuse_shares_the_parameter_node)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(4, 3));
    nb_node *y1 = nb_dense(g, x, (nb_dense_opts){.units = 2});
    cr_assert_not_null(y1);
    nb_node *w = find(g, "dense1/w"), *b = find(g, "dense1/b");
    cr_assert_eq(nb_graph_num_params(g), 2);
    nb_graph_set_reuse(g, true);
    nb_node *x8 = nb_input(g, "x8", NB_SHAPE(8, 3));
    nb_node *y2 = nb_dense(g, x8, (nb_dense_opts){.units = 2});
    cr_assert_not_null(y2, "%s", nb_graph_error(g));
    cr_assert_str_eq(nb_node_scope(y2), "dense1");
    cr_assert_eq(nb_graph_num_params(g), 2, "reuse made new parameters");
    nb_node *mm = nb_node_input(y2, 0);
    cr_assert_str_eq(nb_node_op(mm), "matmul");
    cr_assert_eq(nb_node_input(mm, 1), w);
    cr_assert_eq(nb_node_input(y2, 1), b);
    /* reusing with another shape is refused */
    nb_graph_set_reuse(g, true);
    cr_assert_null(nb_dense(g, x8, (nb_dense_opts){.units = 5}));
    t_assert_error(g, "dense1/w", "[3,5]", NULL);
    nb_graph_free(g);
}

Test(dense, refusals_name_the_layer)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(4, 3));
    cr_assert_null(nb_dense(g, x, (nb_dense_opts){.units = 0}));
    cr_assert_eq(nb_graph_status(g), NB_ERR_ARG);
    t_assert_error(g, "dense1", "units 0", NULL);
    assert_scope_popped(g);
    nb_graph_clear_error(g);
    cr_assert_null(nb_dense(g, nb_scalar(g, 1), (nb_dense_opts){.units = 2, .name = "head"}));
    cr_assert_eq(nb_graph_status(g), NB_ERR_SHAPE);
    t_assert_error(g, "head", "rank >= 1", "[]", NULL);
    assert_scope_popped(g);
    nb_graph_clear_error(g);
    cr_assert_null(nb_dense(g, x, (nb_dense_opts){.units = 2, .activation = (nb_activation)99}));
    t_assert_error(g, "dense2", "activation 99", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_dense(g, NULL, (nb_dense_opts){.units = 2}));
    t_assert_error(g, "dense", "NULL", NULL);
    nb_graph_free(g);
}

Test(flatten, shapes_values_gradient_and_refusal)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = rand_param(g, "x", NB_SHAPE(2, 3, 2, 2), 4, -1, 1);
    nb_node *y = nb_flatten(g, x);
    assert_shape(y, NB_SHAPE(2, 12));
    float *v = t_eval(g, y, NULL, 0);
    t_assert_close(v, nb_param_data(x), 24, 0);
    free(v);
    assert_shape(nb_flatten(g, nb_input(g, "v", NB_SHAPE(5))), NB_SHAPE(5, 1));
    t_gradcheck(g, nb_tanh(g, y), &x, 1, NULL, 0);
    cr_assert_null(nb_flatten(g, nb_scalar(g, 2)));
    cr_assert_eq(nb_graph_status(g), NB_ERR_SHAPE);
    t_assert_error(g, "flatten", "rank >= 1", NULL);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- conv2d and local2d */

static const conv_case conv_cases[] = {
    {2, 3, 6, 5, 4, 3, 3, 1, 0, 1, 1},   /* plain */
    {2, 3, 7, 6, 2, 3, 3, 2, 1, 1, 1},   /* stride 2, pad 1 */
    {1, 2, 7, 7, 3, 3, 2, 1, 2, 2, 1},   /* 3x2 kernel, dilation 2, pad 2 */
    {2, 4, 6, 6, 6, 3, 3, 2, 1, 1, 2},   /* groups 2, stride 2, pad 1 */
    {1, 4, 5, 6, 4, 2, 2, 1, 1, 2, 2},   /* groups 2, dilation 2 */
    {1, 6, 4, 4, 3, 1, 1, 1, 0, 1, 3},   /* 1x1, groups 3 */
};

/* Builds conv2d or local2d for case k on random x, w, b and compares with
 * the naive loop. */
static void check_conv_case(conv_case k, bool local)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = rand_param(g, "x", NB_SHAPE(k.n, k.c, k.h, k.w), 7, -1, 1);
    nb_conv2d_opts o = conv_opts(k);
    o.name = "layer";
    nb_node *y = local ? nb_local2d(g, x, o) : nb_conv2d(g, x, o);
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    int64_t oh = out_size(k.h, k.kh, k.s, k.p, k.d), ow = out_size(k.w, k.kw, k.s, k.p, k.d);
    assert_shape(y, NB_SHAPE(k.n, k.f, oh, ow));
    nb_node *w = find(g, "layer/w"), *b = find(g, "layer/b");
    int64_t kk = k.c / k.groups * k.kh * k.kw;
    if (local) {
        assert_shape(w, NB_SHAPE(oh * ow, kk, k.f));
        assert_shape(b, NB_SHAPE(k.f, oh * ow));
    } else {
        assert_shape(w, NB_SHAPE(k.f, k.c / k.groups, k.kh, k.kw));
        assert_shape(b, NB_SHAPE(k.f));
    }
    refill(w, 8, -1, 1);
    refill(b, 9, -1, 1);
    float *got = t_eval(g, y, NULL, 0);
    int64_t n = nb_shape_numel(nb_node_shape(y));
    float *want = malloc((size_t)n * sizeof *want);
    naive_conv(k, local, nb_param_data(x), nb_param_data(w), nb_param_data(b), want);
    t_assert_close(got, want, n, 1e-4f);
    free(got);
    free(want);
    nb_graph_free(g);
}

Test(conv2d, matches_naive_loop_over_settings)
{
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
        check_conv_case(conv_cases[i], false);
}

Test(local2d, matches_naive_loop_over_settings)
{
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
        check_conv_case(conv_cases[i], true);
}

/* Gradient check of conv2d or local2d (with an activation) by x, w, b. */
static void gradcheck_conv_case(conv_case k, bool local, nb_activation act)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = rand_param(g, "x", NB_SHAPE(k.n, k.c, k.h, k.w), 10, -1, 1);
    nb_conv2d_opts o = conv_opts(k);
    o.activation = act;
    o.bias_init = (nb_init){.kind = NB_INIT_UNIFORM, .a = -0.5f, .b = 0.5f};
    nb_node *y = local ? nb_local2d(g, x, o) : nb_conv2d(g, x, o);
    const char *scope = local ? "local2d1" : "conv2d1";
    char wn[32], bn[32];
    snprintf(wn, sizeof wn, "%s/w", scope), snprintf(bn, sizeof bn, "%s/b", scope);
    nb_node *wrt[] = {x, find(g, wn), find(g, bn)};
    t_gradcheck(g, y, wrt, 3, NULL, 0);
    nb_graph_free(g);
}

Test(conv2d, gradcheck_input_weights_bias)
{
    gradcheck_conv_case((conv_case){1, 2, 5, 5, 2, 3, 3, 1, 1, 1, 1}, false, NB_ACT_TANH);
    gradcheck_conv_case((conv_case){2, 2, 6, 5, 3, 2, 3, 2, 1, 2, 1}, false, NB_ACT_NONE);
    gradcheck_conv_case((conv_case){1, 4, 5, 5, 4, 3, 3, 2, 1, 1, 2}, false, NB_ACT_SIGMOID);
}

Test(local2d, gradcheck_input_weights_bias)
{
    gradcheck_conv_case((conv_case){2, 2, 4, 4, 2, 3, 3, 1, 0, 1, 1}, true, NB_ACT_TANH);
    gradcheck_conv_case((conv_case){1, 2, 5, 5, 2, 2, 2, 2, 1, 1, 1}, true, NB_ACT_NONE);
    gradcheck_conv_case((conv_case){1, 4, 5, 5, 2, 3, 3, 1, 0, 2, 2}, true, NB_ACT_NONE);
}

Test(conv2d, default_init_fans_and_scopes)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(1, 4, 8, 8));
    nb_node *y = nb_conv2d(g, x, (nb_conv2d_opts){.filters = 6, .kernel = 3, .groups = 2,
                                                  .activation = NB_ACT_RELU});
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    assert_shape(y, NB_SHAPE(1, 6, 6, 6));
    /* fan_in = 2·3·3 = 18, fan_out = 6·3·3/2 = 27 */
    float limit = sqrtf(6.0f / 45), big = 0;
    nb_node *w = find(g, "conv2d1/w");
    const float *wv = nb_param_data(w);
    for (int i = 0; i < 6 * 2 * 9; i++) {
        cr_assert(fabsf(wv[i]) <= limit, "w[%d] = %g beyond %g", i, wv[i], limit);
        big = fmaxf(big, fabsf(wv[i]));
    }
    cr_assert_gt(big, 0.8f * limit);
    const float *bv = nb_param_data(find(g, "conv2d1/b"));
    for (int i = 0; i < 6; i++)
        cr_assert_eq(bv[i], 0.0f);
    cr_assert_not_null(nb_conv2d(g, x, (nb_conv2d_opts){.filters = 2, .kernel = 1,
                                                        .no_bias = true}));
    cr_assert_null(nb_graph_find(g, "conv2d2/b"));
    nb_graph_free(g);
}

Test(conv2d, refusals)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(2, 4, 5, 5));
    cr_assert_null(nb_conv2d(g, x, (nb_conv2d_opts){.filters = 6, .kernel = 3, .groups = 3}));
    cr_assert_eq(nb_graph_status(g), NB_ERR_ARG);
    t_assert_error(g, "conv2d1", "groups 3", "4 input channels", "'x' [2,4,5,5]", NULL);
    assert_scope_popped(g);
    nb_graph_clear_error(g);
    cr_assert_null(nb_conv2d(g, x, (nb_conv2d_opts){.filters = 3, .kernel = 3, .groups = 2}));
    t_assert_error(g, "conv2d2", "groups 2", "filters 3", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_conv2d(g, x, (nb_conv2d_opts){.filters = 3}));
    t_assert_error(g, "conv2d3", "kernel 0x0", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_conv2d(g, x, (nb_conv2d_opts){.filters = 0, .kernel = 3}));
    t_assert_error(g, "conv2d4", "filters 0", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_conv2d(g, x, (nb_conv2d_opts){.filters = 1, .kernel = 3, .stride = -1}));
    t_assert_error(g, "conv2d5", "stride -1", NULL);
    nb_graph_clear_error(g);
    nb_node *x3 = nb_input(g, "x3", NB_SHAPE(4, 5, 5));
    cr_assert_null(nb_conv2d(g, x3, (nb_conv2d_opts){.filters = 1, .kernel = 3, .name = "c"}));
    cr_assert_eq(nb_graph_status(g), NB_ERR_SHAPE);
    t_assert_error(g, "c: ", "rank 4", "'x3' [4,5,5]", NULL);
    nb_graph_clear_error(g);
    int params = nb_graph_num_params(g);
    cr_assert_null(nb_conv2d(g, x, (nb_conv2d_opts){.filters = 1, .kernel = 7}));
    cr_assert_eq(nb_graph_status(g), NB_ERR_SHAPE);
    t_assert_error(g, "conv2d6: kernel 7x7 is larger than the padded input 5x5 of "
                   "'x' [2,4,5,5]", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_conv2d(g, x, (nb_conv2d_opts){.filters = 1, .kernel = 3, .dilation = 3}));
    t_assert_error(g, "conv2d7: kernel 3x3 (dilation 3) is larger than the padded input 5x5", NULL);
    cr_assert_eq(nb_graph_num_params(g), params, "a refused layer made parameters");
    assert_scope_popped(g);
    nb_graph_clear_error(g);
    cr_assert_not_null(nb_conv2d(g, x, (nb_conv2d_opts){.filters = 1, .kernel = 3, .dilation = 3,
                                                       .pad = 1}));  /* 7x7 fits 7x7 */
    nb_graph_free(g);
}

Test(local2d, refusals)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(1, 3, 4, 4));
    cr_assert_null(nb_local2d(g, x, (nb_conv2d_opts){.filters = 0, .kernel = 3}));
    t_assert_error(g, "local2d1", "filters 0", NULL);
    assert_scope_popped(g);
    nb_graph_clear_error(g);
    cr_assert_null(nb_local2d(g, x, (nb_conv2d_opts){.filters = 2, .kernel = 3, .groups = 2}));
    t_assert_error(g, "local2d2", "groups 2", "3 input channels", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_local2d(g, x, (nb_conv2d_opts){.filters = 2, .kernel = 5}));
    t_assert_error(g, "local2d3: kernel 5x5 is larger than the padded input 4x4",
                   NULL);
    assert_scope_popped(g);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- pooling */

static const conv_case pool_cases[] = {
    {2, 3, 6, 6, 0, 2, 2, 2, 0, 1, 1},   /* 2x2, stride 2 */
    {1, 2, 7, 6, 0, 3, 3, 2, 1, 1, 1},   /* 3x3, stride 2, pad 1 */
    {2, 2, 5, 5, 0, 2, 2, 1, 0, 1, 1},   /* overlapping, stride 1 */
    {1, 3, 5, 7, 0, 3, 3, 3, 2, 1, 1},   /* pad 2 */
};

static void check_pool_case(conv_case k, bool max)
{
    nb_graph *g = nb_graph_new();
    int64_t n = k.n * k.c * k.h * k.w;
    float *xv = malloc((size_t)n * sizeof *xv);
    fill_distinct(xv, n);
    nb_node *x = nb_param(g, "x", NB_SHAPE(k.n, k.c, k.h, k.w), xv);
    nb_pool2d_opts o = {.size = k.kh, .stride = k.s, .pad = k.p};
    nb_node *y = max ? nb_maxpool2d(g, x, o) : nb_avgpool2d(g, x, o);
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    int64_t oh = out_size(k.h, k.kh, k.s, k.p, 1), ow = out_size(k.w, k.kw, k.s, k.p, 1);
    assert_shape(y, NB_SHAPE(k.n, k.c, oh, ow));
    float *got = t_eval(g, y, NULL, 0);
    int64_t m = k.n * k.c * oh * ow;
    float *want = malloc((size_t)m * sizeof *want);
    naive_pool(k, max, xv, want);
    t_assert_close(got, want, m, 1e-5f);
    t_gradcheck(g, y, &x, 1, NULL, 0);
    free(got);
    free(want);
    free(xv);
    nb_graph_free(g);
}

Test(maxpool2d, matches_naive_loop_and_gradcheck)
{
    for (size_t i = 0; i < sizeof pool_cases / sizeof pool_cases[0]; i++)
        check_pool_case(pool_cases[i], true);
}

Test(avgpool2d, matches_naive_loop_and_gradcheck)
{
    for (size_t i = 0; i < sizeof pool_cases / sizeof pool_cases[0]; i++)
        check_pool_case(pool_cases[i], false);
}

Test(maxpool2d, padding_never_wins_on_negative_input)
{
    nb_graph *g = nb_graph_new();
    const float xv[] = {-4, -3, -2, -1};
    nb_node *x = nb_constant(g, NB_SHAPE(1, 1, 2, 2), xv);
    nb_node *y = nb_maxpool2d(g, x, (nb_pool2d_opts){.size = 2, .stride = 1, .pad = 1});
    assert_shape(y, NB_SHAPE(1, 1, 3, 3));
    float *v = t_eval(g, y, NULL, 0);
    const float want[] = {-4, -3, -3, -2, -1, -1, -2, -1, -1};
    t_assert_close(v, want, 9, 0);
    free(v);
    /* average pooling counts the zero padding */
    v = t_eval(g, nb_avgpool2d(g, x, (nb_pool2d_opts){.size = 2, .stride = 1, .pad = 1}), NULL, 0);
    const float avg[] = {-1, -1.75f, -0.75f, -1.5f, -2.5f, -1, -0.5f, -0.75f, -0.25f};
    t_assert_close(v, avg, 9, 1e-6f);
    free(v);
    nb_graph_free(g);
}

Test(pool2d, refusals)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(1, 2, 4, 4));
    cr_assert_null(nb_maxpool2d(g, x, (nb_pool2d_opts){.size = 0}));
    cr_assert_eq(nb_graph_status(g), NB_ERR_ARG);
    t_assert_error(g, "maxpool2d1", "size 0", NULL);
    assert_scope_popped(g);
    nb_graph_clear_error(g);
    cr_assert_null(nb_maxpool2d(g, x, (nb_pool2d_opts){.size = 2, .pad = 2}));
    t_assert_error(g, "maxpool2d2", "pad 2", "size 2", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_avgpool2d(g, x, (nb_pool2d_opts){.size = 2, .stride = -2}));
    t_assert_error(g, "avgpool2d1", "stride -2", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_avgpool2d(g, nb_input(g, "v", NB_SHAPE(2, 4, 4)),
                                (nb_pool2d_opts){.size = 2, .name = "pool"}));
    cr_assert_eq(nb_graph_status(g), NB_ERR_SHAPE);
    t_assert_error(g, "pool: ", "rank 4", "'v' [2,4,4]", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_maxpool2d(g, x, (nb_pool2d_opts){.size = 5}));
    t_assert_error(g, ": size 5x5 is larger than the padded input 4x4 of 'x' [1,2,4,4]",
                   NULL);
    assert_scope_popped(g);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- dropout */

Test(dropout, inference_and_rate_zero_are_the_identity)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(3, 4));
    cr_assert_eq(nb_dropout(g, x, 0.5f), x);
    nb_graph_set_training(g, true);
    cr_assert_eq(nb_dropout(g, x, 0.0f), x);
    cr_assert_neq(nb_dropout(g, x, 0.5f), x);
    nb_graph_free(g);
}

/* Runs y (x = ones) with noise from seed; a malloc'd copy of y. */
static float *run_dropout(nb_graph *g, nb_node *y, uint64_t seed)
{
    nb_runtime *rt = nb_runtime_new(g, &y, 1);
    cr_assert_not_null(rt, "%s", nb_graph_error(g));
    nb_rng rng = nb_rng_seed(seed);
    nb_runtime_fill_noise(rt, &rng);
    cr_assert_eq(nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt));
    int64_t n = nb_shape_numel(nb_node_shape(y));
    float *v = malloc((size_t)n * sizeof *v);
    memcpy(v, nb_runtime_value(rt, y), (size_t)n * sizeof *v);
    nb_runtime_free(rt);
    return v;
}

Test(dropout, training_zeroes_about_rate_and_scales_the_rest)
{
    enum { N = 4000 };
    nb_graph *g = nb_graph_new();
    nb_graph_set_training(g, true);
    nb_node *x = nb_full(g, NB_SHAPE(N), 1.0f);
    nb_node *y = nb_dropout(g, x, 0.3f);
    cr_assert_str_eq(nb_node_scope(y), "dropout1");
    float *a = run_dropout(g, y, 11), *b = run_dropout(g, y, 11), *c = run_dropout(g, y, 12);
    int zeros = 0, differ = 0;
    for (int i = 0; i < N; i++) {
        cr_assert(a[i] == 0.0f || fabsf(a[i] - 1 / 0.7f) < 1e-6f, "y[%d] = %g", i, a[i]);
        zeros += a[i] == 0.0f;
        cr_assert_eq(a[i], b[i], "same seed, different mask at %d", i);
        differ += a[i] != c[i];
    }
    cr_assert(fabs(zeros / (double)N - 0.3) < 0.04, "dropped %d of %d", zeros, N);
    cr_assert_gt(differ, N / 10, "another seed gave (nearly) the same mask");
    free(a), free(b), free(c);
    nb_graph_free(g);
}

Test(dropout, gradcheck_with_a_fed_mask)
{
    nb_graph *g = nb_graph_new();
    nb_graph_set_training(g, true);
    nb_node *x = rand_param(g, "x", NB_SHAPE(4, 5), 3, -1, 1);
    nb_node *y = nb_dropout(g, x, 0.4f);
    nb_node *u = noise_node(g);
    float uv[20];
    t_fill(uv, 20, 4, 0, 1);
    nb_feed feed = {u, uv};
    float *v = t_eval(g, y, &feed, 1);
    const float *xv = nb_param_data(x);
    for (int i = 0; i < 20; i++)
        cr_assert_float_eq(v[i], uv[i] >= 0.4f ? xv[i] / 0.6f : 0.0f, 1e-6f, "element %d", i);
    free(v);
    t_gradcheck(g, y, &x, 1, &feed, 1);
    nb_graph_free(g);
}

Test(dropout, refuses_rate_outside_0_1)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(3));
    cr_assert_null(nb_dropout(g, x, 1.0f));
    cr_assert_eq(nb_graph_status(g), NB_ERR_ARG);
    t_assert_error(g, "dropout1", "rate 1", "[0, 1)", NULL);
    assert_scope_popped(g);
    nb_graph_clear_error(g);
    cr_assert_null(nb_dropout(g, x, -0.25f));
    t_assert_error(g, "dropout2", "rate -0.25", NULL);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- batchnorm */

/* Per channel c of x [N, C, S] (S = H·W, or 1): mean and biased variance. */
static void channel_stats(const float *x, int64_t n, int64_t c, int64_t s, int64_t ch,
                          double *mean, double *var)
{
    double sum = 0, sq = 0;
    for (int64_t b = 0; b < n; b++)
        for (int64_t k = 0; k < s; k++)
            sum += x[(b * c + ch) * s + k];
    *mean = sum / (double)(n * s);
    for (int64_t b = 0; b < n; b++)
        for (int64_t k = 0; k < s; k++) {
            double d = x[(b * c + ch) * s + k] - *mean;
            sq += d * d;
        }
    *var = sq / (double)(n * s);
}

/* Trains one batch of x [N, C, S…] through batch norm: checks y's per-channel
 * statistics, the state update values, then applies the updates by hand and
 * checks the inference build uses them. */
static void check_batchnorm_training(nb_shape xs)
{
    int64_t n = xs.dim[0], c = xs.dim[1], s = nb_shape_numel(xs) / (n * c);
    nb_graph *g = nb_graph_new();
    nb_graph_set_training(g, true);
    nb_node *x = rand_param(g, "x", xs, 21, -2, 3);
    nb_node *y = nb_batchnorm(g, x, (nb_batchnorm_opts){0});
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    assert_shape(y, xs);
    nb_node *rm = find(g, "batchnorm1/running_mean"), *rv = find(g, "batchnorm1/running_var");
    cr_assert(nb_param_trainable(find(g, "batchnorm1/gamma")));
    cr_assert(nb_param_trainable(find(g, "batchnorm1/beta")));
    cr_assert(!nb_param_trainable(rm) && !nb_param_trainable(rv));
    cr_assert_eq(nb_graph_num_updates(g), 2);
    nb_node *st[2], *val[2];
    for (int i = 0; i < 2; i++)
        nb_graph_update(g, i, &st[i], &val[i]);
    cr_assert_eq(st[0], rm);
    cr_assert_eq(st[1], rv);
    nb_node *outs[] = {y, val[0], val[1]};
    nb_runtime *rt = nb_runtime_new(g, outs, 3);
    cr_assert_not_null(rt, "%s", nb_graph_error(g));
    cr_assert_eq(nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt));
    const float *xv = nb_param_data(x), *yv = nb_runtime_value(rt, y);
    const float *new_mean = nb_runtime_value(rt, val[0]), *new_var = nb_runtime_value(rt, val[1]);
    double cnt = (double)(n * s);
    for (int64_t ch = 0; ch < c; ch++) {
        double ym, yvar, xm, xvar;
        channel_stats(yv, n, c, s, ch, &ym, &yvar);
        cr_assert(fabs(ym) < 1e-5, "channel %lld: mean %g", (long long)ch, ym);
        cr_assert(fabs(yvar - 1) < 1e-3, "channel %lld: variance %g", (long long)ch, yvar);
        channel_stats(xv, n, c, s, ch, &xm, &xvar);
        cr_assert_float_eq(new_mean[ch], 0.1 * xm, 1e-5, "running mean %lld", (long long)ch);
        cr_assert_float_eq(new_var[ch], 0.9 + 0.1 * xvar * cnt / (cnt - 1), 1e-5,
                           "running var %lld", (long long)ch);
    }
    /* apply the updates as a trainer would, then build for inference */
    memcpy(nb_param_data(rm), new_mean, (size_t)c * sizeof(float));
    memcpy(nb_param_data(rv), new_var, (size_t)c * sizeof(float));
    nb_runtime_free(rt);
    nb_graph_set_training(g, false);
    nb_graph_set_reuse(g, true);
    nb_node *yi = nb_batchnorm(g, x, (nb_batchnorm_opts){0});
    cr_assert_not_null(yi, "%s", nb_graph_error(g));
    cr_assert_eq(nb_graph_num_updates(g), 2, "inference registered updates");
    float *v = t_eval(g, yi, NULL, 0);
    const float *m = nb_param_data(rm), *var = nb_param_data(rv);
    for (int64_t i = 0; i < nb_shape_numel(xs); i++) {
        int64_t ch = i / s % c;
        float want = (float)((xv[i] - m[ch]) / sqrt(var[ch] + 1e-5));
        cr_assert_float_eq(v[i], want, 1e-5f, "element %lld", (long long)i);
    }
    free(v);
    nb_graph_free(g);
}

Test(batchnorm, training_statistics_and_state_updates_rank_2)
{
    check_batchnorm_training(NB_SHAPE(8, 3));
}

Test(batchnorm, training_statistics_and_state_updates_rank_4)
{
    check_batchnorm_training(NB_SHAPE(3, 2, 3, 4));
}

Test(batchnorm, inference_uses_running_statistics)
{
    nb_graph *g = nb_graph_new();
    const float xv[] = {1, 2, 3, 4, 5, 6};
    nb_node *x = nb_constant(g, NB_SHAPE(3, 2), xv);
    nb_node *y = nb_batchnorm(g, x, (nb_batchnorm_opts){.eps = 0.5f, .name = "bn"});
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    cr_assert_eq(nb_graph_num_updates(g), 0);
    const float rm[] = {1, -2}, rv[] = {3.5f, 1.5f}, gamma[] = {2, -1}, beta[] = {0.5f, 1};
    memcpy(nb_param_data(find(g, "bn/running_mean")), rm, sizeof rm);
    memcpy(nb_param_data(find(g, "bn/running_var")), rv, sizeof rv);
    memcpy(nb_param_data(find(g, "bn/gamma")), gamma, sizeof gamma);
    memcpy(nb_param_data(find(g, "bn/beta")), beta, sizeof beta);
    float *v = t_eval(g, y, NULL, 0);
    /* channel 0: 2(x - 1)/2 + 0.5; channel 1: -(x + 2)/√2 + 1 */
    const float want[] = {0.5f, (float)(1 - 4 / sqrt(2)), 2.5f, (float)(1 - 6 / sqrt(2)), 4.5f,
                          (float)(1 - 8 / sqrt(2))};
    t_assert_close(v, want, 6, 1e-6f);
    free(v);
    nb_graph_free(g);
}

Test(batchnorm, gradcheck_training_and_inference)
{
    for (int training = 1; training >= 0; training--) {
        nb_graph *g = nb_graph_new();
        nb_graph_set_training(g, training);
        nb_node *x = rand_param(g, "x", NB_SHAPE(3, 2, 2, 2), 30, -1, 2);
        nb_node *y = nb_batchnorm(g, x, (nb_batchnorm_opts){.momentum = 0.2f});
        nb_node *gamma = find(g, "batchnorm1/gamma"), *beta = find(g, "batchnorm1/beta");
        refill(gamma, 31, 0.5f, 1.5f);
        refill(beta, 32, -1, 1);
        refill(find(g, "batchnorm1/running_mean"), 33, -0.5f, 0.5f);
        refill(find(g, "batchnorm1/running_var"), 34, 0.5f, 2);
        nb_node *wrt[] = {x, gamma, beta};
        t_gradcheck(g, y, wrt, 3, NULL, 0);
        nb_node *x2 = rand_param(g, "x2", NB_SHAPE(5, 3), 35, -1, 1);
        y = nb_batchnorm(g, x2, (nb_batchnorm_opts){.name = "bn2"});
        nb_node *wrt2[] = {x2, find(g, "bn2/gamma"), find(g, "bn2/beta")};
        t_gradcheck(g, nb_tanh(g, y), wrt2, 3, NULL, 0);
        nb_graph_free(g);
    }
}

Test(batchnorm, refusals)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(2, 3, 4));
    cr_assert_null(nb_batchnorm(g, x, (nb_batchnorm_opts){0}));
    cr_assert_eq(nb_graph_status(g), NB_ERR_SHAPE);
    t_assert_error(g, "batchnorm1", "rank 2", "'x' [2,3,4]", NULL);
    assert_scope_popped(g);
    nb_graph_clear_error(g);
    nb_node *x2 = nb_input(g, "x2", NB_SHAPE(2, 3));
    cr_assert_null(nb_batchnorm(g, x2, (nb_batchnorm_opts){.momentum = 1.5f}));
    cr_assert_eq(nb_graph_status(g), NB_ERR_ARG);
    t_assert_error(g, "batchnorm2", "momentum 1.5", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_batchnorm(g, x2, (nb_batchnorm_opts){.eps = -1}));
    t_assert_error(g, "batchnorm3", "eps -1", NULL);
    nb_graph_clear_error(g);
    nb_graph_set_training(g, true);
    cr_assert_null(nb_batchnorm(g, nb_input(g, "one", NB_SHAPE(1, 3)), (nb_batchnorm_opts){0}));
    t_assert_error(g, "batchnorm4", "more than one value per channel", "'one' [1,3]", NULL);
    assert_scope_popped(g);
    cr_assert_eq(nb_graph_num_params(g), 0, "refused layers made parameters");
    nb_graph_free(g);
}

/* A conv output fed to dense without flatten used to build (dense read the
 * last axis) and fail only at the loss: the dense layer refuses it, named,
 * with its input's shape (batch as N) and the flatten that fixes it. */
Test(dense, conv_output_without_flatten_gets_a_hint)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(2, 1, 8, 8));
    nb_node *c = nb_conv2d(g, x, (nb_conv2d_opts){.filters = 4, .kernel = 3,
                                                  .activation = NB_ACT_RELU});
    cr_assert_not_null(c, "%s", nb_graph_error(g));
    cr_assert_null(nb_dense(g, c, (nb_dense_opts){.units = 10, .name = "fc"}));
    cr_assert_eq(nb_graph_status(g), NB_ERR_SHAPE);
    cr_assert_str_eq(nb_graph_error(g), "fc: input 'conv2d1' [N,4,6,6] has 4 axes, like an image "
                                        "batch [N, C, H, W]; a dense layer reads rows [N, in]: put "
                                        "a flatten before it (it gives [N, 144])");
    nb_graph_clear_error(g);
    cr_assert_not_null(nb_dense(g, nb_flatten(g, c), (nb_dense_opts){.units = 10}), "%s",
                       nb_graph_error(g));
    nb_graph_free(g);
}

/* nb_flatten and nb_relu record no layer; the library still tells their
 * nodes (what `nabla inspect` shows), and names every recorded kind. */
Test(layers, composed_layers_are_told_from_their_nodes)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(2, 3, 4, 4));
    nb_node *r = nb_relu(g, x), *f = nb_flatten(g, r), *t = nb_tanh(g, f);
    cr_assert_str_eq(nb_node_composed_layer(r), "relu");
    cr_assert_str_eq(nb_node_composed_layer(f), "flatten");
    cr_assert_null(nb_node_composed_layer(t));
    cr_assert_null(nb_node_composed_layer(x));
    cr_assert_null(nb_node_composed_layer(nb_max(g, x, nb_scalar(g, 1))));
    cr_assert_null(nb_node_composed_layer(NULL));
    cr_assert_str_eq(nb_layer_kind_name(NB_LAYER_CONV2D), "conv2d");
    cr_assert_str_eq(nb_layer_kind_name(NB_LAYER_MARGIN), "margin_loss");
    cr_assert_null(nb_layer_kind_name((nb_layer_kind)99));
    nb_graph_free(g);
}
