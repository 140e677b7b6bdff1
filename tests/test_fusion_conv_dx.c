/*
 * A convolution's input gradient fused (ops/fusion_conv_dx.c,
 * ops/kernels/conv_dx.c): the gradient of a convolution with respect to
 * its input, which autodiff writes as matmul(Wᵀ, dy) → fold2d, gives with
 * fusion on the values it gives with fusion off and the values of the
 * transposed convolution written out here, at 1 and 2 threads, and the
 * same bits at 1 and 2 threads; on odd shapes: stride 2, padding,
 * dilation 2, each differing between rows and columns, batch 1, channel counts that are not multiples of 8, 1×1,
 * 3×3 and 5×5 kernels, non-square images and kernels. Shapes the kernel
 * does not take (grouped convolutions) keep the plain steps.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

typedef struct geom {
    int64_t n, c, h, w, f, kh, kw;
    int s, p, d;       /* rows, and columns unless given below */
    int sw, pw, dw;    /* columns when nonzero */
} geom;

/* The column stride, padding and dilation of q. */
static int col_s(const geom *q) { return q->sw ? q->sw : q->s; }
static int col_p(const geom *q) { return q->pw ? q->pw : q->p; }
static int col_d(const geom *q) { return q->dw ? q->dw : q->d; }

typedef struct conv_case {
    nb_graph *g;
    nb_node *x, *w, *r, *dx;
    float *xv, *wv, *rv;
    geom q;
    int64_t oh, ow;
} conv_case;

/* y = conv(x, w) built from the primitives as conv2d builds it, loss =
 * Σ y·r (so dy = r), and dx = d loss / d x. */
static void build(conv_case *k, geom q)
{
    k->q = q;
    k->g = nb_graph_new();
    nb_graph *g = k->g;
    k->oh = (q.h + 2 * q.p - q.d * (q.kh - 1) - 1) / q.s + 1;
    k->ow = (q.w + 2 * col_p(&q) - col_d(&q) * (q.kw - 1) - 1) / col_s(&q) + 1;
    k->x = nb_input(g, "x", NB_SHAPE(q.n, q.c, q.h, q.w));
    k->w = nb_input(g, "w", NB_SHAPE(q.f, q.c, q.kh, q.kw));
    k->r = nb_input(g, "r", NB_SHAPE(q.n, q.f, k->oh, k->ow));
    nb_window2d win = {.kh = (int)q.kh, .kw = (int)q.kw, .sh = q.s, .sw = col_s(&q), .ph = q.p,
                       .pw = col_p(&q), .dh = q.d, .dw = col_d(&q)};
    nb_node *cols = nb_unfold2d(g, k->x, win);
    nb_node *wm = nb_reshape(g, k->w, NB_SHAPE(q.f, q.c * q.kh * q.kw));
    nb_node *y = nb_reshape(g, nb_matmul(g, wm, cols, false, false),
                            NB_SHAPE(q.n, q.f, k->oh, k->ow));
    nb_node *loss = nb_sum(g, nb_mul(g, y, k->r), NULL, 0, false);
    cr_assert_eq(nb_grad(g, loss, &k->x, 1, &k->dx), NB_OK, "%s", nb_graph_error(g));
    int64_t nx = q.n * q.c * q.h * q.w, nw = q.f * q.c * q.kh * q.kw, nr = q.n * q.f * k->oh * k->ow;
    k->xv = malloc((size_t)nx * sizeof(float));
    k->wv = malloc((size_t)nw * sizeof(float));
    k->rv = malloc((size_t)nr * sizeof(float));
    t_fill(k->xv, nx, 1, -1, 1);
    t_fill(k->wv, nw, 2, -1, 1);
    t_fill(k->rv, nr, 3, -1, 1);
}

static void case_free(conv_case *k)
{
    free(k->xv);
    free(k->wv);
    free(k->rv);
    nb_graph_free(k->g);
}

/* dx by the definition: every tap of every filter adds w·dy into the
 * pixel it read, summed in double. */
static double *reference(const conv_case *k)
{
    const geom *q = &k->q;
    double *dx = calloc((size_t)(q->n * q->c * q->h * q->w), sizeof(double));
    for (int64_t n = 0; n < q->n; n++)
        for (int64_t f = 0; f < q->f; f++)
            for (int64_t c = 0; c < q->c; c++)
                for (int64_t i = 0; i < q->kh; i++)
                    for (int64_t j = 0; j < q->kw; j++)
                        for (int64_t oy = 0; oy < k->oh; oy++)
                            for (int64_t ox = 0; ox < k->ow; ox++) {
                                int64_t y = oy * q->s - q->p + i * q->d;
                                int64_t x = ox * col_s(q) - col_p(q) + j * col_d(q);
                                if (y < 0 || y >= q->h || x < 0 || x >= q->w)
                                    continue;
                                dx[((n * q->c + c) * q->h + y) * q->w + x] +=
                                    (double)k->wv[((f * q->c + c) * q->kh + i) * q->kw + j] *
                                    k->rv[((n * q->f + f) * k->oh + oy) * k->ow + ox];
                            }
    return dx;
}

/* A runtime for dx with fusion on or off at `threads`, run; its step count
 * in *steps and a copy of dx returned. */
static float *run(conv_case *k, bool fuse, int threads, int *steps)
{
    nb_set_threads(threads);
    nb_set_fusion(fuse);
    nb_runtime *rt = nb_runtime_new(k->g, &k->dx, 1);
    cr_assert_not_null(rt, "%s", nb_graph_error(k->g));
    cr_assert_eq(nb_runtime_set_input(rt, k->x, k->xv), NB_OK);
    cr_assert_eq(nb_runtime_set_input(rt, k->w, k->wv), NB_OK);
    cr_assert_eq(nb_runtime_set_input(rt, k->r, k->rv), NB_OK);
    cr_assert_eq(nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt));
    int64_t nx = nb_shape_numel(nb_node_shape(k->dx));
    float *v = malloc((size_t)nx * sizeof(float));
    memcpy(v, nb_runtime_value(rt, k->dx), (size_t)nx * sizeof(float));
    *steps = nb_runtime_num_steps(rt);
    /* With fusion, one step computes the product and the fold. */
    int groups = 0;
    nb_runtime_step_info s;
    for (int i = 0; nb_runtime_step(rt, i, &s); i++)
        if (s.pattern && !strcmp(s.pattern, "convolution input gradient")) {
            groups++;
            cr_assert_eq(s.n_nodes, 2);
            cr_assert_str_eq(nb_node_op(s.nodes[0]), "matmul");
            cr_assert_str_eq(nb_node_op(s.nodes[1]), "fold2d");
            cr_assert_eq(s.nodes[1], k->dx, "it writes dx");
            cr_assert_eq(s.n_inputs, 2, "it reads W and dy");
        }
    cr_assert_eq(groups, fuse ? 1 : 0, "the input gradient is %s", fuse ? "fused" : "not fused");
    nb_runtime_free(rt);
    nb_set_fusion(true);
    return v;
}

/* |a - ref| within tol of the size of the terms summed into each pixel. */
static void assert_near(const float *a, const double *ref, int64_t n, double tol, const char *what)
{
    for (int64_t i = 0; i < n; i++)
        cr_assert(fabs(a[i] - ref[i]) <= tol * (1 + fabs(ref[i])),
                  "%s: element %lld is %.7g, the definition gives %.7g", what, (long long)i,
                  (double)a[i], ref[i]);
}

/* Checks case q every way; returns the steps fusion saved. */
static int check(geom q)
{
    conv_case k;
    build(&k, q);
    const int64_t nx = q.n * q.c * q.h * q.w;
    double *ref = reference(&k);
    /* Each pixel sums up to f·kh·kw products of numbers in [-1, 1]. */
    const double tol = 2e-6 * (double)(q.f * q.kh * q.kw);
    int s_plain = 0, s_fused = 0, s2 = 0;
    float *fused1 = run(&k, true, 1, &s_fused), *fused2 = run(&k, true, 2, &s2);
    for (int threads = 1; threads <= 2; threads++) {
        float *plain = run(&k, false, threads, &s_plain);
        assert_near(plain, ref, nx, tol, "plain steps");
        free(plain);
    }
    assert_near(fused1, ref, nx, tol, "fused, 1 thread");
    assert_near(fused2, ref, nx, tol, "fused, 2 threads");
    cr_assert(memcmp(fused1, fused2, (size_t)nx * sizeof(float)) == 0,
              "fused dx is the same bits at 1 and 2 threads");
    cr_assert_eq(s_fused, s2, "the same steps at 1 and 2 threads");
    free(fused1);
    free(fused2);
    free(ref);
    case_free(&k);
    return s_plain - s_fused;
}

Test(fusion_conv_dx, odd_shapes_agree_with_the_definition_and_the_plain_steps)
{
    const geom cases[] = {
        /* n, c, h, w, f, kh, kw, stride, pad, dilation, and for the columns */
        {2, 6, 14, 14, 16, 5, 5, 1, 0, 1, 0, 0, 0},  /* LeNet-5's second convolution */
        {1, 3, 9, 9, 5, 3, 3, 1, 1, 1, 0, 0, 0},     /* batch 1, channels below 8 */
        {3, 13, 11, 7, 11, 3, 3, 2, 1, 1, 0, 0, 0},  /* stride 2, non-square image */
        {2, 9, 12, 12, 7, 3, 3, 1, 2, 2, 0, 0, 0},   /* dilation 2, padding 2 */
        {2, 17, 8, 10, 19, 1, 1, 1, 0, 1, 0, 0, 0},  /* 1×1, 17 channels */
        {1, 5, 13, 13, 3, 5, 5, 2, 2, 1, 0, 0, 0},   /* 5×5, stride 2 */
        {2, 4, 10, 9, 6, 3, 5, 1, 1, 1, 0, 0, 0},    /* a non-square kernel */
        {2, 37, 16, 16, 33, 3, 3, 1, 1, 1, 0, 0, 0}, /* 37 channels: a block of one channel left */
        {4, 32, 28, 28, 32, 3, 3, 1, 1, 1, 0, 0, 0}, /* enough work to split across threads */
        {2, 33, 14, 14, 35, 3, 3, 1, 1, 1, 0, 0, 0}, /* 14×14, channels off the vector width */
        {2, 20, 28, 28, 24, 5, 5, 1, 2, 1, 0, 0, 0}, /* 28×28, 5×5 */
        {1, 16, 14, 14, 17, 3, 3, 1, 3, 1, 0, 0, 0}, /* padding beyond the window's reach */
        /* per axis: columns' stride, padding, dilation given apart */
        {2, 5, 11, 9, 7, 3, 3, 2, 1, 1, 1, 0, 2},  /* stride (2, 1), dilation (1, 2) */
        {1, 6, 8, 13, 5, 3, 2, 1, 0, 1, 3, 1, 0},  /* stride (1, 3), padding (0, 1) */
        {2, 3, 12, 10, 4, 2, 5, 1, 2, 2, 2, 1, 1}, /* all three differ */
        {1, 9, 9, 16, 6, 3, 3, 1, 2, 1, 0, 1, 0},  /* stride 1, padding (2, 1) */
        /* channels in the lanes of the forward form (kernels/conv_lanes.h) */
        {1, 20, 9, 7, 48, 3, 3, 1, 1, 1, 0, 0, 0},  /* 20 channels: 4 lanes of the last 16 */
        {2, 16, 10, 10, 6, 5, 5, 1, 2, 1, 0, 0, 0}, /* 5×5, 6 filters, rows of 10 */
        {2, 48, 6, 5, 17, 3, 3, 1, 2, 2, 0, 0, 0},  /* dilation 2, rows of 5 */
        {2, 16, 28, 28, 40, 3, 3, 1, 1, 1, 0, 0, 0}, /* 40 filters: five blocks of 8 */
        /* few channels on rows of at most 16 (kernels/conv_dx_rows.c) */
        {1, 1, 9, 9, 5, 3, 3, 1, 1, 1, 0, 0, 0},    /* one channel */
        {2, 7, 14, 14, 17, 5, 5, 1, 0, 1, 0, 0, 0}, /* 7 channels: a block and one */
        {3, 3, 6, 5, 16, 5, 5, 1, 2, 1, 0, 0, 0},   /* rows of 5 */
        {1, 6, 16, 16, 16, 3, 3, 1, 1, 1, 0, 0, 0}, /* rows of exactly 16 */
        /* the filters in the lanes (kernels/conv_dx_lanes.c) */
        {1, 6, 14, 14, 16, 5, 5, 1, 0, 1, 0, 0, 0}, /* LeNet-5's second, batch 1 */
        {2, 7, 13, 13, 8, 5, 5, 1, 0, 1, 0, 0, 0},  /* odd rows, 7 channels, 8 filters */
        {2, 3, 10, 11, 24, 3, 3, 1, 0, 2, 0, 0, 0}, /* dilation 2, 24 filters */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_geq(check(cases[i]), 1, "case %zu: the input gradient is one step", i);
}

/* A grouped convolution's product is batched over its groups: the plain
 * steps compute it, and agree with the definition of each group. */
Test(fusion_conv_dx, grouped_convolution_keeps_the_plain_steps)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(2, 4, 6, 6));
    nb_node *y = nb_conv2d(g, x, (nb_conv2d_opts){.filters = 6, .kernel = 3, .groups = 2,
                                                  .no_bias = true});
    nb_node *loss = nb_sum(g, nb_mul(g, y, y), NULL, 0, false), *dx;
    cr_assert_eq(nb_grad(g, loss, &x, 1, &dx), NB_OK, "%s", nb_graph_error(g));
    float xv[2 * 4 * 6 * 6];
    t_fill(xv, 2 * 4 * 6 * 6, 5, -1, 1);
    float *v[2];
    for (int fuse = 0; fuse < 2; fuse++) {
        nb_set_fusion(fuse);
        nb_runtime *rt = nb_runtime_new(g, &dx, 1);
        cr_assert_not_null(rt, "%s", nb_graph_error(g));
        cr_assert_eq(nb_runtime_set_input(rt, x, xv), NB_OK);
        cr_assert_eq(nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt));
        v[fuse] = malloc(sizeof xv);
        memcpy(v[fuse], nb_runtime_value(rt, dx), sizeof xv);
        nb_runtime_free(rt);
    }
    nb_set_fusion(true);
    t_assert_close(v[1], v[0], 2 * 4 * 6 * 6, 1e-5f);
    free(v[0]);
    free(v[1]);
    nb_graph_free(g);
}
