/*
 * test_ops_unfold_matmul.c — im2col (unfold2d), its adjoint col2im
 * (fold2d) and batched matmul: shape rules and refusals, forward values
 * against hand-computed arrays and naive loops, the adjoint identity, and
 * finite-difference gradient checks for every window and transpose variant.
 */
#include <math.h>
#include <stdlib.h>

#include "helpers.h"

/* ---------------------------------------------------------------- naive references */

/* unfold2d by its definition, one output element at a time. */
static void naive_unfold(const float *x, int64_t n, int64_t c, int64_t h, int64_t w,
                         nb_window2d k, float *out)
{
    k = t_window_norm(k);
    int64_t oh = t_window_out(h, k.kh, k.sh, k.ph, k.dh), ow = t_window_out(w, k.kw, k.sw, k.pw, k.dw);
    int64_t rows = c * k.kh * k.kw, l = oh * ow;
    for (int64_t b = 0; b < n; b++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int i = 0; i < k.kh; i++)
                for (int j = 0; j < k.kw; j++)
                    for (int64_t y = 0; y < oh; y++)
                        for (int64_t z = 0; z < ow; z++) {
                            int64_t ih = y * k.sh - k.ph + i * k.dh, iw = z * k.sw - k.pw + j * k.dw;
                            int64_t row = ch * k.kh * k.kw + i * k.kw + j;
                            bool in = ih >= 0 && ih < h && iw >= 0 && iw < w;
                            out[(b * rows + row) * l + y * ow + z] =
                                in ? x[((b * c + ch) * h + ih) * w + iw] : 0;
                        }
}

/* fold2d by its definition: every column entry added to its pixel. */
static void naive_fold(const float *cols, int64_t n, int64_t c, int64_t h, int64_t w,
                       nb_window2d k, float *out)
{
    k = t_window_norm(k);
    int64_t oh = t_window_out(h, k.kh, k.sh, k.ph, k.dh), ow = t_window_out(w, k.kw, k.sw, k.pw, k.dw);
    int64_t rows = c * k.kh * k.kw, l = oh * ow;
    for (int64_t i = 0; i < n * c * h * w; i++)
        out[i] = 0;
    for (int64_t b = 0; b < n; b++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int i = 0; i < k.kh; i++)
                for (int j = 0; j < k.kw; j++)
                    for (int64_t y = 0; y < oh; y++)
                        for (int64_t z = 0; z < ow; z++) {
                            int64_t ih = y * k.sh - k.ph + i * k.dh, iw = z * k.sw - k.pw + j * k.dw;
                            int64_t row = ch * k.kh * k.kw + i * k.kw + j;
                            if (ih >= 0 && ih < h && iw >= 0 && iw < w)
                                out[((b * c + ch) * h + ih) * w + iw] +=
                                    cols[(b * rows + row) * l + y * ow + z];
                        }
}

/* A plain triple loop over broadcast batch items: c = op(a)·op(b). */
static void naive_matmul(const float *a, nb_shape as, const float *b, nb_shape bs, bool ta,
                         bool tb, float *c, nb_shape cs)
{
    int64_t m = cs.dim[cs.rank - 2], n = cs.dim[cs.rank - 1];
    int64_t k = ta ? as.dim[as.rank - 2] : as.dim[as.rank - 1];
    int64_t items = nb_shape_numel(cs) / (m * n);
    int br = cs.rank - 2;
    for (int64_t t = 0; t < items; t++) {
        int64_t ia = 0, ib = 0, sa = 1, sb = 1, rest = t;
        for (int d = br - 1; d >= 0; d--) {
            int64_t x = rest % cs.dim[d];
            rest /= cs.dim[d];
            int da = as.rank - 2 - br + d, db = bs.rank - 2 - br + d;
            int64_t na = da >= 0 ? as.dim[da] : 1, nb = db >= 0 ? bs.dim[db] : 1;
            ia += (na == 1 ? 0 : x) * sa, ib += (nb == 1 ? 0 : x) * sb;
            sa *= na, sb *= nb;
        }
        const float *pa = a + ia * m * k, *pb = b + ib * k * n;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                for (int64_t p = 0; p < k; p++)
                    s += (double)(ta ? pa[p * m + i] : pa[i * k + p]) *
                         (tb ? pb[j * k + p] : pb[p * n + j]);
                c[t * m * n + i * n + j] = (float)s;
            }
    }
}

static float *rnd(int64_t n, uint64_t seed)
{
    float *x = malloc((size_t)n * sizeof *x);
    cr_assert_not_null(x);
    t_fill(x, n, seed, -1, 1);
    return x;
}

/* ---------------------------------------------------------------- unfold2d forward */

typedef struct win_case {
    int64_t n, c, h, w;
    nb_window2d k;
} win_case;

/* Strides 1 and 2, paddings 0..2, dilations 1 and 2, non-square kernels,
 * C = 2 and N = 2, and stride/dilation left at 0 (meaning 1). */
static const win_case cases[] = {
    {2, 2, 5, 6, {.kh = 3, .kw = 3}},
    {2, 2, 5, 6, {.kh = 3, .kw = 2, .sh = 2, .sw = 2, .ph = 1, .pw = 1}},
    {2, 2, 6, 5, {.kh = 2, .kw = 3, .sh = 1, .sw = 2, .ph = 2, .pw = 0, .dh = 2, .dw = 1}},
    {1, 2, 7, 6, {.kh = 3, .kw = 3, .sh = 2, .sw = 2, .ph = 2, .pw = 2, .dh = 2, .dw = 2}},
    {2, 1, 5, 5, {.kh = 2, .kw = 2, .sh = 2, .sw = 2}},
    {2, 2, 4, 3, {.kh = 1, .kw = 1}},
    {1, 2, 3, 4, {.kh = 3, .kw = 4, .ph = 1, .pw = 2, .sh = 1, .sw = 3}},
    {1, 1, 2, 2, {.kh = 3, .kw = 3, .ph = 2, .pw = 2, .dh = 2, .dw = 1}},
};

Test(unfold2d, hand_values_2x2_window)
{
    nb_graph *g = nb_graph_new();
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    nb_node *p = nb_param(g, "x", NB_SHAPE(1, 1, 3, 3), x);
    nb_node *u = nb_unfold2d(g, p, (nb_window2d){.kh = 2, .kw = 2});
    cr_assert(nb_shape_equal(nb_node_shape(u), NB_SHAPE(1, 4, 4)));
    float want[16] = {1, 2, 4, 5, 2, 3, 5, 6, 4, 5, 7, 8, 5, 6, 8, 9};
    float *got = t_eval(g, u, NULL, 0);
    t_assert_close(got, want, 16, 0);
    free(got);
    nb_graph_free(g);
}

Test(unfold2d, hand_values_padding_and_stride)
{
    nb_graph *g = nb_graph_new();
    float x[4] = {1, 2, 3, 4};
    nb_node *p = nb_param(g, "x", NB_SHAPE(1, 1, 2, 2), x);
    /* 2x2 window, stride 2, padding 1: positions at (-1,-1), (-1,1), (1,-1), (1,1). */
    nb_node *u = nb_unfold2d(g, p, (nb_window2d){.kh = 2, .kw = 2, .sh = 2, .sw = 2, .ph = 1, .pw = 1});
    cr_assert(nb_shape_equal(nb_node_shape(u), NB_SHAPE(1, 4, 4)));
    float want[16] = {0, 0, 0, 4, 0, 0, 3, 0, 0, 2, 0, 0, 1, 0, 0, 0};
    float *got = t_eval(g, u, NULL, 0);
    t_assert_close(got, want, 16, 0);
    free(got);
    nb_graph_free(g);
}

Test(unfold2d, matches_naive_loop)
{
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const win_case *k = &cases[t];
        nb_window2d w = t_window_norm(k->k);
        nb_graph *g = nb_graph_new();
        int64_t nx = k->n * k->c * k->h * k->w;
        float *x = rnd(nx, 10 + t);
        nb_node *in = nb_input(g, "x", NB_SHAPE(k->n, k->c, k->h, k->w));
        nb_node *u = nb_unfold2d(g, in, k->k);
        cr_assert_not_null(u, "case %zu: %s", t, nb_graph_error(g));
        int64_t l = t_window_out(k->h, w.kh, w.sh, w.ph, w.dh) * t_window_out(k->w, w.kw, w.sw, w.pw, w.dw);
        cr_assert(nb_shape_equal(nb_node_shape(u), NB_SHAPE(k->n, k->c * w.kh * w.kw, l)),
                  "case %zu: shape", t);
        float *want = malloc((size_t)(k->n * k->c * w.kh * w.kw * l) * sizeof *want);
        naive_unfold(x, k->n, k->c, k->h, k->w, k->k, want);
        nb_feed f = {in, x};
        float *got = t_eval(g, u, &f, 1);
        t_assert_close(got, want, k->n * k->c * w.kh * w.kw * l, 0);
        free(got), free(want), free(x);
        nb_graph_free(g);
    }
}

/* Big enough to cross the OpenMP threshold: the threaded path agrees too. */
Test(unfold2d, large_matches_naive_loop)
{
    nb_window2d k = {.kh = 3, .kw = 3, .ph = 1, .pw = 1};
    int64_t n = 4, c = 8, h = 16, w = 16, nx = n * c * h * w, ny = n * c * 9 * h * w;
    nb_graph *g = nb_graph_new();
    float *x = rnd(nx, 3), *want = malloc((size_t)ny * sizeof *want);
    nb_node *in = nb_input(g, "x", NB_SHAPE(n, c, h, w));
    naive_unfold(x, n, c, h, w, k, want);
    nb_feed f = {in, x};
    float *got = t_eval(g, nb_unfold2d(g, in, k), &f, 1);
    t_assert_close(got, want, ny, 0);
    nb_node *cols = nb_input(g, "cols", NB_SHAPE(n, c * 9, h * w));
    naive_fold(want, n, c, h, w, k, x);
    nb_feed fc = {cols, want};
    float *back = t_eval(g, nb_fold2d(g, cols, h, w, k), &fc, 1);
    t_assert_close(back, x, nx, 1e-5f);
    free(got), free(back), free(want), free(x);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- fold2d forward */

Test(fold2d, hand_values_counts_overlaps)
{
    nb_graph *g = nb_graph_new();
    nb_node *cols = nb_full(g, NB_SHAPE(1, 4, 4), 1);
    nb_node *f = nb_fold2d(g, cols, 3, 3, (nb_window2d){.kh = 2, .kw = 2});
    cr_assert(nb_shape_equal(nb_node_shape(f), NB_SHAPE(1, 1, 3, 3)));
    float want[9] = {1, 2, 1, 2, 4, 2, 1, 2, 1};
    float *got = t_eval(g, f, NULL, 0);
    t_assert_close(got, want, 9, 0);
    free(got);
    nb_graph_free(g);
}

Test(fold2d, matches_naive_loop_and_is_the_adjoint)
{
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const win_case *k = &cases[t];
        nb_window2d w = t_window_norm(k->k);
        int64_t l = t_window_out(k->h, w.kh, w.sh, w.ph, w.dh) * t_window_out(k->w, w.kw, w.sw, w.pw, w.dw);
        int64_t nx = k->n * k->c * k->h * k->w, ny = k->n * k->c * w.kh * w.kw * l;
        float *x = rnd(nx, 20 + t), *y = rnd(ny, 40 + t);
        nb_graph *g = nb_graph_new();
        nb_node *xin = nb_input(g, "x", NB_SHAPE(k->n, k->c, k->h, k->w));
        nb_node *yin = nb_input(g, "y", NB_SHAPE(k->n, k->c * w.kh * w.kw, l));
        nb_node *fy = nb_fold2d(g, yin, k->h, k->w, k->k);
        cr_assert_not_null(fy, "case %zu: %s", t, nb_graph_error(g));
        cr_assert(nb_shape_equal(nb_node_shape(fy), NB_SHAPE(k->n, k->c, k->h, k->w)));
        nb_feed fx = {xin, x}, fyf = {yin, y};
        float *ux = t_eval(g, nb_unfold2d(g, xin, k->k), &fx, 1);
        float *fold = t_eval(g, fy, &fyf, 1);
        float *want = malloc((size_t)nx * sizeof *want);
        naive_fold(y, k->n, k->c, k->h, k->w, k->k, want);
        t_assert_close(fold, want, nx, 1e-5f);
        double lhs = 0, rhs = 0;
        for (int64_t i = 0; i < ny; i++)
            lhs += (double)ux[i] * y[i];
        for (int64_t i = 0; i < nx; i++)
            rhs += (double)x[i] * fold[i];
        cr_assert(fabs(lhs - rhs) <= 1e-5 * (1 + fabs(lhs)),
                  "case %zu: <unfold x, y> = %.9g but <x, fold y> = %.9g", t, lhs, rhs);
        free(ux), free(fold), free(want), free(x), free(y);
        nb_graph_free(g);
    }
}

/* ---------------------------------------------------------------- unfold/fold gradients */

Test(unfold2d, gradcheck_stride_padding_dilation)
{
    const nb_window2d ws[] = {
        {.kh = 2, .kw = 3},
        {.kh = 3, .kw = 2, .sh = 2, .sw = 1, .ph = 1, .pw = 2},
        {.kh = 2, .kw = 2, .sh = 2, .sw = 2, .ph = 1, .pw = 1, .dh = 2, .dw = 2},
    };
    for (size_t t = 0; t < sizeof ws / sizeof ws[0]; t++) {
        nb_graph *g = nb_graph_new();
        float x[2 * 2 * 4 * 5];
        t_fill(x, 80, 7 + t, -1, 1);
        nb_node *p = nb_param(g, "x", NB_SHAPE(2, 2, 4, 5), x);
        nb_node *u = nb_unfold2d(g, p, ws[t]);
        t_gradcheck(g, u, &p, 1, NULL, 0);
        nb_graph_free(g);
    }
}

Test(fold2d, gradcheck_stride_padding_dilation)
{
    const nb_window2d ws[] = {
        {.kh = 2, .kw = 3},
        {.kh = 3, .kw = 2, .sh = 2, .sw = 1, .ph = 1, .pw = 2},
        {.kh = 2, .kw = 2, .sh = 2, .sw = 2, .ph = 1, .pw = 1, .dh = 2, .dw = 2},
    };
    for (size_t t = 0; t < sizeof ws / sizeof ws[0]; t++) {
        nb_window2d w = t_window_norm(ws[t]);
        int64_t l = t_window_out(4, w.kh, w.sh, w.ph, w.dh) * t_window_out(5, w.kw, w.sw, w.pw, w.dw);
        int64_t rows = 2 * w.kh * w.kw, n = 2 * rows * l;
        float *y = rnd(n, 30 + t);
        nb_graph *g = nb_graph_new();
        nb_node *p = nb_param(g, "cols", NB_SHAPE(2, rows, l), y);
        nb_node *f = nb_fold2d(g, p, 4, 5, ws[t]);
        t_gradcheck(g, f, &p, 1, NULL, 0);
        free(y);
        nb_graph_free(g);
    }
}

/* Through an input node with a feed, and composed: fold(unfold(x)). */
Test(unfold2d, gradcheck_through_input_and_composition)
{
    nb_graph *g = nb_graph_new();
    float x[1 * 2 * 5 * 4];
    t_fill(x, 40, 5, -1, 1);
    nb_node *in = nb_input(g, "x", NB_SHAPE(1, 2, 5, 4));
    nb_window2d w = {.kh = 3, .kw = 2, .sh = 2, .ph = 1, .dw = 2};
    nb_node *y = nb_fold2d(g, nb_unfold2d(g, in, w), 5, 4, w);
    nb_feed f = {in, x};
    t_gradcheck(g, y, &in, 1, &f, 1);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- unfold/fold refusals */

Test(unfold2d, refuses_window_larger_than_padded_input)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(1, 1, 3, 3));
    cr_assert_null(nb_unfold2d(g, x, (nb_window2d){.kh = 5, .kw = 5}));
    cr_assert_eq(nb_graph_status(g), NB_ERR_SHAPE);
    t_assert_error(g,
                   "unfold2d: window 5x5 (dilation 1x1) is larger than the padded input 3x3 of "
                   "'x' [1,1,3,3]",
                   NULL);
    /* Padding makes room; dilation takes it away again. */
    nb_graph_clear_error(g);
    cr_assert_not_null(nb_unfold2d(g, x, (nb_window2d){.kh = 5, .kw = 5, .ph = 1, .pw = 1}));
    cr_assert_null(nb_unfold2d(g, x, (nb_window2d){.kh = 2, .kw = 3, .ph = 1, .dw = 2}));
    t_assert_error(g, "unfold2d: window 2x3 (dilation 1x2)", "padded input 5x3", "'x'", NULL);
    nb_graph_free(g);
}

Test(unfold2d, refuses_rank_3_and_bad_window)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "img", NB_SHAPE(1, 4, 4));
    cr_assert_null(nb_unfold2d(g, x, (nb_window2d){.kh = 2, .kw = 2}));
    cr_assert_eq(nb_graph_status(g), NB_ERR_SHAPE);
    t_assert_error(g, "unfold2d", "'img' [1,4,4]", "rank 4", NULL);

    nb_graph_clear_error(g);
    nb_node *x4 = nb_input(g, "x4", NB_SHAPE(1, 1, 4, 4));
    cr_assert_null(nb_unfold2d(g, x4, (nb_window2d){.kh = 0, .kw = 2}));
    cr_assert_eq(nb_graph_status(g), NB_ERR_ARG);
    t_assert_error(g, "unfold2d", "'x4' [1,1,4,4]", "kernel 0x2", NULL);

    nb_graph_clear_error(g);
    cr_assert_null(nb_unfold2d(g, x4, (nb_window2d){.kh = 2, .kw = 2, .pw = -1}));
    t_assert_error(g, "unfold2d", "padding 0x-1", NULL);

    nb_graph_clear_error(g);
    cr_assert_null(nb_unfold2d(g, x4, (nb_window2d){.kh = 2, .kw = 2, .sh = -2}));
    t_assert_error(g, "unfold2d", "stride -2x1", NULL);

    /* A NULL input keeps the first message; a NULL graph gives NULL. */
    nb_graph_clear_error(g);
    cr_assert_null(nb_unfold2d(g, nb_unfold2d(g, x, (nb_window2d){.kh = 1, .kw = 1}),
                               (nb_window2d){.kh = 1, .kw = 1}));
    t_assert_error(g, "'img' [1,4,4]", NULL);
    cr_assert_null(nb_unfold2d(NULL, x4, (nb_window2d){.kh = 1, .kw = 1}));
    nb_graph_free(g);
}

Test(fold2d, refuses_size_mismatch)
{
    nb_graph *g = nb_graph_new();
    nb_window2d w = {.kh = 3, .kw = 3};
    nb_node *c = nb_input(g, "cols", NB_SHAPE(1, 9, 5));
    cr_assert_null(nb_fold2d(g, c, 4, 4, w));
    cr_assert_eq(nb_graph_status(g), NB_ERR_SHAPE);
    t_assert_error(g, "fold2d", "'cols' [1,9,5]", "5 columns", "over 4x4", "= 4 positions", NULL);

    nb_graph_clear_error(g);
    nb_node *r = nb_input(g, "rows", NB_SHAPE(1, 10, 4));
    cr_assert_null(nb_fold2d(g, r, 4, 4, w));
    t_assert_error(g, "fold2d", "'rows' [1,10,4]", "10 rows", "kh*kw = 9", NULL);

    nb_graph_clear_error(g);
    nb_node *r4 = nb_input(g, "r4", NB_SHAPE(1, 1, 9, 4));
    cr_assert_null(nb_fold2d(g, r4, 4, 4, w));
    t_assert_error(g, "fold2d", "'r4' [1,1,9,4]", "rank 3", NULL);

    nb_graph_clear_error(g);
    cr_assert_null(nb_fold2d(g, c, 2, 2, w));
    t_assert_error(g, "fold2d: window 3x3", "padded input 2x2", NULL);

    nb_graph_clear_error(g);
    cr_assert_null(nb_fold2d(g, c, 0, 4, w));
    cr_assert_eq(nb_graph_status(g), NB_ERR_ARG);
    t_assert_error(g, "fold2d", "output size 0x4", NULL);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- matmul forward */

Test(matmul, hand_values_all_transpose_flags)
{
    /* a [2,3], b [3,2]: a·b = [[4,5],[10,11]]... computed by hand below. */
    float a[6] = {1, 2, 3, 4, 5, 6}, at[6] = {1, 4, 2, 5, 3, 6};
    float b[6] = {1, 0, 0, 1, 1, 1}, bt[6] = {1, 0, 1, 0, 1, 1};
    float want[4] = {4, 5, 10, 11};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            nb_graph *g = nb_graph_new();
            nb_node *pa = nb_param(g, "a", ta ? NB_SHAPE(3, 2) : NB_SHAPE(2, 3), ta ? at : a);
            nb_node *pb = nb_param(g, "b", tb ? NB_SHAPE(2, 3) : NB_SHAPE(3, 2), tb ? bt : b);
            nb_node *c = nb_matmul(g, pa, pb, ta, tb);
            cr_assert(nb_shape_equal(nb_node_shape(c), NB_SHAPE(2, 2)), "ta=%d tb=%d", ta, tb);
            float *got = t_eval(g, c, NULL, 0);
            t_assert_close(got, want, 4, 1e-6f);
            free(got);
            nb_graph_free(g);
        }
}

Test(matmul, hand_values_batched_rank2_b)
{
    /* a [2,1,2] · b [2,2]: one sgemm over both batch rows. */
    float a[4] = {1, 2, 3, 4}, b[4] = {1, 2, 3, 4};
    float want[4] = {7, 10, 15, 22};
    nb_graph *g = nb_graph_new();
    nb_node *c = nb_matmul(g, nb_param(g, "a", NB_SHAPE(2, 1, 2), a),
                           nb_param(g, "b", NB_SHAPE(2, 2), b), false, false);
    cr_assert(nb_shape_equal(nb_node_shape(c), NB_SHAPE(2, 1, 2)));
    float *got = t_eval(g, c, NULL, 0);
    t_assert_close(got, want, 4, 1e-6f);
    free(got);
    nb_graph_free(g);
}

typedef struct mm_case {
    nb_shape a, b, c;
    bool ta, tb;
} mm_case;

/* Every kernel path: one folded sgemm, per-item loops with stride-0 reads on
 * either side, broadcasting in both directions, all transpose flags. */
static mm_case mm_cases(int i)
{
    mm_case cs[] = {
        {NB_SHAPE(3, 4), NB_SHAPE(4, 5), NB_SHAPE(3, 5), 0, 0},
        {NB_SHAPE(2, 3, 4), NB_SHAPE(4, 5), NB_SHAPE(2, 3, 5), 0, 0},
        {NB_SHAPE(2, 4, 3), NB_SHAPE(4, 5), NB_SHAPE(2, 3, 5), 1, 0},
        {NB_SHAPE(2, 3, 4), NB_SHAPE(5, 4), NB_SHAPE(2, 3, 5), 0, 1},
        {NB_SHAPE(2, 4, 3), NB_SHAPE(5, 4), NB_SHAPE(2, 3, 5), 1, 1},
        {NB_SHAPE(2, 1, 3, 4), NB_SHAPE(3, 4, 5), NB_SHAPE(2, 3, 3, 5), 0, 0},
        {NB_SHAPE(3, 1, 4, 3), NB_SHAPE(2, 5, 4), NB_SHAPE(3, 2, 3, 5), 1, 1},
        {NB_SHAPE(3, 4), NB_SHAPE(2, 4, 5), NB_SHAPE(2, 3, 5), 0, 0},
        {NB_SHAPE(4, 3), NB_SHAPE(2, 5, 4), NB_SHAPE(2, 3, 5), 1, 1},
        {NB_SHAPE(2, 3, 4), NB_SHAPE(1, 4, 5), NB_SHAPE(2, 3, 5), 0, 0},
        {NB_SHAPE(1, 3, 4), NB_SHAPE(2, 4, 5), NB_SHAPE(2, 3, 5), 0, 0},
        {NB_SHAPE(2, 2, 3, 4), NB_SHAPE(2, 1, 4, 5), NB_SHAPE(2, 2, 3, 5), 0, 0},
    };
    return cs[i];
}
#define N_MM_CASES 12

Test(matmul, matches_naive_loop_with_broadcast_batches)
{
    for (int t = 0; t < N_MM_CASES; t++) {
        mm_case k = mm_cases(t);
        nb_graph *g = nb_graph_new();
        float *a = rnd(nb_shape_numel(k.a), 50 + t), *b = rnd(nb_shape_numel(k.b), 70 + t);
        nb_node *c = nb_matmul(g, nb_param(g, "a", k.a, a), nb_param(g, "b", k.b, b), k.ta, k.tb);
        cr_assert_not_null(c, "case %d: %s", t, nb_graph_error(g));
        char s1[64], s2[64];
        cr_assert(nb_shape_equal(nb_node_shape(c), k.c), "case %d: shape %s, expected %s", t,
                  nb_shape_format(nb_node_shape(c), s1, sizeof s1), nb_shape_format(k.c, s2, sizeof s2));
        float *want = malloc((size_t)nb_shape_numel(k.c) * sizeof *want);
        naive_matmul(a, k.a, b, k.b, k.ta, k.tb, want, k.c);
        float *got = t_eval(g, c, NULL, 0);
        t_assert_close(got, want, nb_shape_numel(k.c), 1e-5f);
        free(got), free(want), free(a), free(b);
        nb_graph_free(g);
    }
}

/* ---------------------------------------------------------------- matmul gradients */

Test(matmul, gradcheck_every_case)
{
    for (int t = 0; t < N_MM_CASES; t++) {
        mm_case k = mm_cases(t);
        nb_graph *g = nb_graph_new();
        float *a = rnd(nb_shape_numel(k.a), 90 + t), *b = rnd(nb_shape_numel(k.b), 110 + t);
        nb_node *w[2] = {nb_param(g, "a", k.a, a), nb_param(g, "b", k.b, b)};
        nb_node *c = nb_matmul(g, w[0], w[1], k.ta, k.tb);
        nb_gradcheck_report rep;
        nb_status st = nb_gradcheck(g, c, w, 2, NULL, 0, NULL, &rep);
        cr_assert_eq(st, NB_OK, "case %d (ta=%d tb=%d): %s", t, k.ta, k.tb, nb_graph_error(g));
        cr_assert_eq(rep.checked, nb_shape_numel(k.a) + nb_shape_numel(k.b));
        free(a), free(b);
        nb_graph_free(g);
    }
}

/* An input on one side, fed at run time. */
Test(matmul, gradcheck_with_input_feed)
{
    nb_graph *g = nb_graph_new();
    float x[12], w0[8];
    t_fill(x, 12, 1, -1, 1);
    t_fill(w0, 8, 2, -1, 1);
    nb_node *in = nb_input(g, "x", NB_SHAPE(3, 4));
    nb_node *w = nb_param(g, "w", NB_SHAPE(4, 2), w0);
    nb_node *wrt[2] = {in, w};
    nb_feed f = {in, x};
    t_gradcheck(g, nb_matmul(g, in, w, false, false), wrt, 2, &f, 1);
    nb_graph_free(g);
}

/* The backward graph is differentiable again: check the gradient of
 * L = Σ (a·bᵀ)² with respect to a, itself against both a and b. */
Test(matmul, second_derivative)
{
    nb_graph *g = nb_graph_new();
    float a0[6], b0[12];
    t_fill(a0, 6, 3, -1, 1);
    t_fill(b0, 12, 4, -1, 1);
    nb_node *a = nb_param(g, "a", NB_SHAPE(2, 3), a0);
    nb_node *b = nb_param(g, "b", NB_SHAPE(1, 4, 3), b0);
    nb_node *c = nb_matmul(g, a, b, false, true);
    nb_node *loss = nb_sum(g, nb_mul(g, c, c), NULL, 0, false);
    nb_node *da;
    cr_assert_eq(nb_grad(g, loss, &a, 1, &da), NB_OK, "%s", nb_graph_error(g));
    nb_node *wrt[2] = {a, b};
    t_gradcheck(g, da, wrt, 2, NULL, 0);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- matmul refusals */

Test(matmul, refuses_inner_mismatch)
{
    nb_graph *g = nb_graph_new();
    nb_node *a = nb_input(g, "a", NB_SHAPE(3, 4)), *b = nb_input(g, "b", NB_SHAPE(5, 2));
    cr_assert_null(nb_matmul(g, a, b, false, false));
    cr_assert_eq(nb_graph_status(g), NB_ERR_SHAPE);
    t_assert_error(g, "matmul: inner dimensions differ: 'a' [3,4] (K=4) and 'b' [5,2] (K=5)", NULL);

    nb_graph_clear_error(g);
    cr_assert_null(nb_matmul(g, a, b, true, true));
    t_assert_error(g, "matmul: inner dimensions differ", "'a' [3,4] (transposed, K=3)",
                   "'b' [5,2] (transposed, K=2)", NULL);

    /* The same shapes fit once transposed where they should be. */
    nb_graph_clear_error(g);
    nb_node *b2 = nb_input(g, "b2", NB_SHAPE(2, 4));
    nb_node *ok = nb_matmul(g, a, b2, false, true);
    cr_assert_not_null(ok, "%s", nb_graph_error(g));
    cr_assert(nb_shape_equal(nb_node_shape(ok), NB_SHAPE(3, 2)));
    nb_graph_free(g);
}

Test(matmul, refuses_rank_1_and_unbroadcastable_batches)
{
    nb_graph *g = nb_graph_new();
    nb_node *v = nb_input(g, "v", NB_SHAPE(4)), *m = nb_input(g, "m", NB_SHAPE(4, 2));
    cr_assert_null(nb_matmul(g, v, m, false, false));
    cr_assert_eq(nb_graph_status(g), NB_ERR_SHAPE);
    t_assert_error(g, "matmul", "rank >= 2", "'v' [4]", "'m' [4,2]", NULL);

    nb_graph_clear_error(g);
    cr_assert_null(nb_matmul(g, m, v, false, false));
    t_assert_error(g, "matmul", "rank >= 2", "'v' [4]", NULL);

    nb_graph_clear_error(g);
    nb_node *a = nb_input(g, "a", NB_SHAPE(2, 3, 4)), *b = nb_input(g, "b", NB_SHAPE(3, 4, 5));
    cr_assert_null(nb_matmul(g, a, b, false, false));
    t_assert_error(g, "matmul: batch dimensions do not broadcast", "'a' [2,3,4]", "'b' [3,4,5]",
                   NULL);

    /* NULL operands keep the first error; a NULL graph gives NULL. */
    nb_graph_clear_error(g);
    cr_assert_null(nb_matmul(g, nb_matmul(g, v, m, false, false), m, false, false));
    t_assert_error(g, "'v' [4]", NULL);
    cr_assert_null(nb_matmul(NULL, m, m, false, false));
    nb_graph_free(g);
}
