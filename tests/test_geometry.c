/*
 * test_geometry.c — conv2d, local2d and the poolings with their window
 * given per axis: strides, dilations and kernels that differ between rows
 * and columns, padding that differs between the sides of an axis, pooling's
 * ceil mode and averages that leave the padding out of their count. Each
 * against the definition written out as loops (PyTorch's semantics), by
 * gradient check, and with its refusals.
 */
#include <math.h>
#include <stdlib.h>

#include "helpers.h"

/* A window per axis: kernel, stride, dilation, padding before and after. */
typedef struct axis {
    int k, s, d, before, after;
} axis;

typedef struct geom {
    int n, c, h, w, f;
    axis ax[2];
    bool ceil, exclude;
} geom;

/* Output length of axis a over n pixels, floor or PyTorch's ceil mode. */
static int64_t out_len(axis a, int64_t n, bool ceil)
{
    int64_t room = n + a.before + a.after - (int64_t)a.d * (a.k - 1) - 1;
    int64_t o = (ceil ? (room + a.s - 1) / a.s : room / a.s) + 1;
    if (ceil && (o - 1) * a.s >= n + a.before)
        o--;
    return o;
}

/* The pixel tap j of position i reads, or -1 in the padding. */
static int64_t tap(axis a, int64_t i, int64_t j, int64_t n)
{
    int64_t p = i * a.s + j * a.d - a.before;
    return p >= 0 && p < n ? p : -1;
}

static nb_conv2d_opts conv_of(const geom *q)
{
    return (nb_conv2d_opts){.filters = q->f, .kh = q->ax[0].k, .kw = q->ax[1].k,
                            .sh = q->ax[0].s, .sw = q->ax[1].s, .dh = q->ax[0].d,
                            .dw = q->ax[1].d,
                            .pads = {q->ax[0].before, q->ax[1].before, q->ax[0].after,
                                     q->ax[1].after}, .name = "layer"};
}

static nb_pool2d_opts pool_of(const geom *q)
{
    return (nb_pool2d_opts){.kh = q->ax[0].k, .kw = q->ax[1].k, .sh = q->ax[0].s,
                            .sw = q->ax[1].s, .dh = q->ax[0].d, .dw = q->ax[1].d,
                            .pads = {q->ax[0].before, q->ax[1].before, q->ax[0].after,
                                     q->ax[1].after},
                            .ceil_mode = q->ceil, .exclude_pad = q->exclude};
}

static nb_node *find(nb_graph *g, const char *name)
{
    nb_node *n = nb_graph_find(g, name);
    cr_assert_not_null(n, "no node '%s'", name);
    return n;
}

static nb_node *rand_param(nb_graph *g, const char *name, nb_shape s, uint64_t seed)
{
    nb_node *p = nb_param(g, name, s, NULL);
    t_fill(nb_param_data(p), nb_shape_numel(s), seed, -1, 1);
    return p;
}

/* ---------------------------------------------------------------- conv2d and local2d */

/* y[n, f, i, j] = b[f] + Σ w · x over the window, local: w [L, C·kh·kw, F]
 * and b [F, L], else w [F, C, kh, kw] and b [F]. */
static void naive_conv(const geom *q, bool local, const float *x, const float *w,
                       const float *b, float *y)
{
    const axis A = q->ax[0], B = q->ax[1];
    int64_t oh = out_len(A, q->h, false), ow = out_len(B, q->w, false), l = oh * ow;
    int64_t kk = (int64_t)q->c * A.k * B.k;
    for (int n = 0; n < q->n; n++)
        for (int f = 0; f < q->f; f++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    int64_t pos = i * ow + j;
                    double s = local ? b[f * l + pos] : b[f];
                    for (int c = 0; c < q->c; c++)
                        for (int u = 0; u < A.k; u++)
                            for (int v = 0; v < B.k; v++) {
                                int64_t y0 = tap(A, i, u, q->h), x0 = tap(B, j, v, q->w);
                                if (y0 < 0 || x0 < 0)
                                    continue;
                                int64_t r = ((int64_t)c * A.k + u) * B.k + v;
                                float wv = local ? w[(pos * kk + r) * q->f + f]
                                                 : w[(int64_t)f * kk + r];
                                s += wv * x[(((int64_t)n * q->c + c) * q->h + y0) * q->w + x0];
                            }
                    y[((int64_t)n * q->f + f) * l + pos] = (float)s;
                }
}

static const geom conv_cases[] = {
    {2, 3, 7, 6, 4, {{3, 2, 1, 1, 1}, {3, 1, 2, 1, 1}}, false, false}, /* stride (2,1), dil (1,2) */
    {1, 2, 6, 7, 3, {{2, 1, 1, 0, 1}, {3, 2, 1, 2, 1}}, false, false}, /* asymmetric pads */
    {2, 2, 5, 8, 2, {{3, 3, 2, 2, 0}, {1, 1, 1, 0, 0}}, false, false}, /* 3x1, dil 2, top pad */
    {1, 3, 6, 6, 2, {{2, 1, 1, 1, 0}, {2, 1, 1, 0, 1}}, false, false}, /* TF "same" for even */
};

static void check_conv(const geom *q, bool local)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = rand_param(g, "x", NB_SHAPE(q->n, q->c, q->h, q->w), 3);
    nb_conv2d_opts o = conv_of(q);
    nb_node *y = local ? nb_local2d(g, x, o) : nb_conv2d(g, x, o);
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    int64_t oh = out_len(q->ax[0], q->h, false), ow = out_len(q->ax[1], q->w, false);
    cr_assert(nb_shape_equal(nb_node_shape(y), NB_SHAPE(q->n, q->f, oh, ow)));
    nb_node *w = find(g, "layer/w"), *b = find(g, "layer/b");
    t_fill(nb_param_data(w), nb_shape_numel(nb_node_shape(w)), 4, -1, 1);
    t_fill(nb_param_data(b), nb_shape_numel(nb_node_shape(b)), 5, -1, 1);
    float *got = t_eval(g, y, NULL, 0);
    int64_t m = nb_shape_numel(nb_node_shape(y));
    float *want = malloc((size_t)m * sizeof *want);
    naive_conv(q, local, nb_param_data(x), nb_param_data(w), nb_param_data(b), want);
    t_assert_close(got, want, m, 1e-5f);
    nb_node *wrt[] = {x, w, b};
    t_gradcheck(g, nb_tanh(g, y), wrt, 3, NULL, 0);
    free(got);
    free(want);
    nb_graph_free(g);
}

Test(geometry, conv2d_per_axis_and_asymmetric_padding)
{
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
        check_conv(&conv_cases[i], false);
}

Test(geometry, local2d_per_axis_and_asymmetric_padding)
{
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
        check_conv(&conv_cases[i], true);
}

/* The scalar fields still mean both axes, and a per-axis field overrides
 * its axis alone: the same graph either way. */
Test(geometry, scalar_fields_mean_both_axes)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(1, 1, 9, 9));
    nb_node *a = nb_conv2d(g, x, (nb_conv2d_opts){.filters = 1, .kernel = 3, .stride = 2,
                                                  .pad = 1, .dilation = 2, .sw = 1});
    cr_assert_not_null(a, "%s", nb_graph_error(g));
    /* rows: (9 + 2 - 4 - 1) / 2 + 1 = 4; columns: stride 1, 9 + 2 - 4 - 1 + 1 = 7 */
    cr_assert(nb_shape_equal(nb_node_shape(a), NB_SHAPE(1, 1, 4, 7)));
    nb_node *p = nb_conv2d(g, x, (nb_conv2d_opts){.filters = 1, .kernel = 3, .pad = 5,
                                                  .pads = {0, 0, 1, 0}});
    /* pads replace pad: 9 + 1 - 2 rows, 9 - 2 columns */
    cr_assert(nb_shape_equal(nb_node_shape(p), NB_SHAPE(1, 1, 8, 7)));
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- pooling */

/* PyTorch's max_pool2d (padding -inf) or avg_pool2d: the divisor counts the
 * window's taps inside the padded input (ceil mode's overhang left out), or
 * with exclude the input pixels only. */
static void naive_pool(const geom *q, bool max, const float *x, float *y)
{
    const axis A = q->ax[0], B = q->ax[1];
    int64_t oh = out_len(A, q->h, q->ceil), ow = out_len(B, q->w, q->ceil);
    for (int64_t p = 0; p < (int64_t)q->n * q->c; p++)
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++) {
                double s = max ? -INFINITY : 0;
                int64_t count = 0;
                for (int u = 0; u < A.k; u++)
                    for (int v = 0; v < B.k; v++) {
                        int64_t r = i * A.s + u * A.d - A.before, c = j * B.s + v * B.d - B.before;
                        bool inside = r >= 0 && r < q->h && c >= 0 && c < q->w;
                        bool padded = r >= -A.before && r < q->h + A.after &&
                                      c >= -B.before && c < q->w + B.after;
                        count += q->exclude ? inside : padded;
                        if (!inside)
                            continue;
                        float e = x[(p * q->h + r) * q->w + c];
                        s = max ? fmax(s, e) : s + e;
                    }
                y[(p * oh + i) * ow + j] = (float)(max ? s : s / (double)count);
            }
}

static const geom pool_cases[] = {
    {2, 2, 7, 6, 0, {{3, 2, 1, 1, 1}, {2, 1, 1, 0, 0}}, false, false}, /* 3x2, stride (2,1) */
    {1, 2, 7, 9, 0, {{3, 2, 1, 1, 1}, {3, 3, 1, 1, 1}}, true, false},  /* ceil mode */
    {1, 2, 7, 9, 0, {{3, 2, 1, 1, 1}, {3, 3, 1, 1, 1}}, true, true},   /* ceil, exclude */
    {2, 1, 6, 7, 0, {{2, 2, 1, 1, 0}, {3, 2, 1, 0, 2}}, false, true},  /* asymmetric, exclude */
    {1, 2, 10, 8, 0, {{2, 2, 2, 1, 1}, {3, 1, 1, 1, 1}}, true, false}, /* dilated rows, ceil */
    {1, 1, 5, 5, 0, {{2, 2, 1, 0, 0}, {2, 2, 1, 0, 0}}, true, false},  /* ceil adds a window */
};

static void check_pool(const geom *q, bool max)
{
    nb_graph *g = nb_graph_new();
    int64_t n = (int64_t)q->n * q->c * q->h * q->w;
    nb_node *x = nb_param(g, "x", NB_SHAPE(q->n, q->c, q->h, q->w), NULL);
    float *xv = nb_param_data(x);
    for (int64_t i = 0; i < n; i++) /* distinct: no ties for the max */
        xv[i] = (float)((i * 37) % n) / (float)n - 0.5f;
    nb_node *y = max ? nb_maxpool2d(g, x, pool_of(q)) : nb_avgpool2d(g, x, pool_of(q));
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    int64_t oh = out_len(q->ax[0], q->h, q->ceil), ow = out_len(q->ax[1], q->w, q->ceil);
    cr_assert(nb_shape_equal(nb_node_shape(y), NB_SHAPE(q->n, q->c, oh, ow)),
              "shape %lldx%lld expected", (long long)oh, (long long)ow);
    float *got = t_eval(g, y, NULL, 0);
    int64_t m = (int64_t)q->n * q->c * oh * ow;
    float *want = malloc((size_t)m * sizeof *want);
    naive_pool(q, max, nb_param_data(x), want);
    t_assert_close(got, want, m, 1e-6f);
    t_gradcheck(g, nb_tanh(g, y), &x, 1, NULL, 0);
    free(got);
    free(want);
    nb_graph_free(g);
}

Test(geometry, maxpool2d_per_axis_ceil_and_asymmetric_padding)
{
    for (size_t i = 0; i < sizeof pool_cases / sizeof pool_cases[0]; i++)
        check_pool(&pool_cases[i], true);
}

Test(geometry, avgpool2d_per_axis_ceil_and_excluded_padding)
{
    for (size_t i = 0; i < sizeof pool_cases / sizeof pool_cases[0]; i++)
        check_pool(&pool_cases[i], false);
}

/* Worked by hand on x = 1..9 as 3x3, size 2, stride 2, pad 1: */
Test(geometry, pooling_hand_values)
{
    nb_graph *g = nb_graph_new();
    const float xv[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    nb_node *x = nb_constant(g, NB_SHAPE(1, 1, 3, 3), xv);
    /* windows start at -1 and 1 on each axis: [-1, 0] and [1, 2] */
    nb_node *inc = nb_avgpool2d(g, x, (nb_pool2d_opts){.size = 2, .pad = 1});
    nb_node *exc = nb_avgpool2d(g, x, (nb_pool2d_opts){.size = 2, .pad = 1, .exclude_pad = true});
    const float want_inc[] = {1 / 4.f, 5 / 4.f, 11 / 4.f, 28 / 4.f};
    const float want_exc[] = {1, 5 / 2.f, 11 / 2.f, 28 / 4.f};
    float *v = t_eval(g, inc, NULL, 0);
    t_assert_close(v, want_inc, 4, 1e-6f);
    free(v);
    v = t_eval(g, exc, NULL, 0);
    t_assert_close(v, want_exc, 4, 1e-6f);
    free(v);
    /* size 2, stride 2, no pad over 3: floor gives 1 window, ceil 2, the
     * second [2, 3) reading one pixel and one past the input */
    nb_node *fl = nb_maxpool2d(g, x, (nb_pool2d_opts){.size = 2});
    nb_node *ce = nb_maxpool2d(g, x, (nb_pool2d_opts){.size = 2, .ceil_mode = true});
    nb_node *ca = nb_avgpool2d(g, x, (nb_pool2d_opts){.size = 2, .ceil_mode = true});
    cr_assert(nb_shape_equal(nb_node_shape(fl), NB_SHAPE(1, 1, 1, 1)));
    cr_assert(nb_shape_equal(nb_node_shape(ce), NB_SHAPE(1, 1, 2, 2)));
    const float want_ce[] = {5, 6, 8, 9}, want_ca[] = {3, 4.5f, 7.5f, 9};
    v = t_eval(g, ce, NULL, 0);
    t_assert_close(v, want_ce, 4, 0);
    free(v);
    v = t_eval(g, ca, NULL, 0);
    t_assert_close(v, want_ca, 4, 1e-6f);
    free(v);
    /* ceil mode never starts a window in the trailing padding: size 2,
     * stride 2, pad 1 over 3 is 2 windows either way */
    nb_node *cp = nb_maxpool2d(g, x, (nb_pool2d_opts){.size = 2, .pad = 1, .ceil_mode = true});
    cr_assert(nb_shape_equal(nb_node_shape(cp), NB_SHAPE(1, 1, 2, 2)));
    nb_graph_free(g);
}

/* The default average keeps its one scalar divisor (the graph fusion
 * matches); only counts that vary bring a constant of counts. */
Test(geometry, average_divisor_is_a_scalar_unless_counts_vary)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(1, 1, 4, 4));
    nb_node *a = nb_avgpool2d(g, x, (nb_pool2d_opts){.size = 2, .pad = 1});
    nb_node *b = nb_avgpool2d(g, x, (nb_pool2d_opts){.size = 2, .pad = 1, .exclude_pad = true});
    cr_assert_str_eq(nb_node_op(a), "reshape");
    cr_assert_str_eq(nb_node_op(b), "mul");
    nb_node *c = nb_node_input(b, 1);
    cr_assert_eq(nb_node_kind_of(c), NB_NODE_CONST);
    cr_assert(nb_shape_equal(nb_node_shape(c), NB_SHAPE(3, 3)));
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- refusals */

Test(geometry, refusals_name_the_value)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(1, 2, 5, 5));
    cr_assert_null(nb_conv2d(g, x, (nb_conv2d_opts){.filters = 1, .kernel = 3, .sw = -1}));
    cr_assert_eq(nb_graph_status(g), NB_ERR_ARG);
    t_assert_error(g, "conv2d1: sw -1 must be >= 0", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_local2d(g, x, (nb_conv2d_opts){.filters = 1, .kernel = 3,
                                                     .pads = {0, 0, -2, 0}}));
    t_assert_error(g, "local2d1: pads[2] (bottom) -2 must be >= 0", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_conv2d(g, x, (nb_conv2d_opts){.filters = 1, .kh = 3, .kw = 4, .dw = 2}));
    cr_assert_eq(nb_graph_status(g), NB_ERR_SHAPE);
    t_assert_error(g, "conv2d2: kernel 3x4 (dilation 1x2) is larger than the padded input 5x5",
                   NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_conv2d(g, x, (nb_conv2d_opts){.filters = 1, .kernel = 7,
                                                    .pads = {1, 1, 0, 0}}));
    t_assert_error(g, "kernel 7x7 is larger than the padded input 6x6", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_maxpool2d(g, x, (nb_pool2d_opts){.size = 2, .dh = -1}));
    t_assert_error(g, "maxpool2d1: dh -1 must be >= 0", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_maxpool2d(g, x, (nb_pool2d_opts){.size = 2, .pads = {0, 2, 0, 0}}));
    t_assert_error(g, "maxpool2d2: pad 2 must be smaller than size 2", NULL);
    nb_graph_clear_error(g);
    /* size 2, dilation 3, pad 1 over 2 rows: one window, taps at rows -1
     * and 2, both padding */
    nb_node *x2 = nb_input(g, "x2", NB_SHAPE(1, 1, 2, 4));
    cr_assert_null(nb_maxpool2d(g, x2, (nb_pool2d_opts){.size = 2, .pad = 1, .dh = 3,
                                                        .sh = 1}));
    cr_assert_eq(nb_graph_status(g), NB_ERR_ARG);
    t_assert_error(g, "maxpool2d3: the window at row 0 of the output reads padding only",
                   "-inf", "'x2' [1,1,2,4]", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_avgpool2d(g, x, (nb_pool2d_opts){.size = 2, .pad = 2,
                                                       .exclude_pad = true}));
    t_assert_error(g, "avgpool2d1: the window at row 0", "exclude_pad", NULL);
    nb_graph_clear_error(g);
    /* counting the padding, the same window is a mean of zeros */
    cr_assert_not_null(nb_avgpool2d(g, x, (nb_pool2d_opts){.size = 2, .pad = 2}));
    cr_assert_null(nb_avgpool2d(g, x, (nb_pool2d_opts){.kh = 2}));
    t_assert_error(g, "size 0 must be >= 1 (or set kh and kw)", NULL);
    cr_assert_null(nb_scope_current(g), "a refused layer left its scope open");
    nb_graph_free(g);
}

/* The record keeps the options as given, for model files to write back. */
Test(geometry, record_keeps_the_options)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(1, 2, 8, 8));
    nb_node *y = nb_avgpool2d(g, x, (nb_pool2d_opts){.size = 3, .sh = 2, .sw = 1,
                                                     .pads = {1, 0, 0, 1}, .ceil_mode = true,
                                                     .exclude_pad = true});
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    const nb_layer_record *r = nb_graph_layer(g, 0);
    cr_assert_eq(r->pool.sh, 2);
    cr_assert_eq(r->pool.pads[3], 1);
    cr_assert(r->pool.ceil_mode && r->pool.exclude_pad);
    nb_graph_free(g);
}
