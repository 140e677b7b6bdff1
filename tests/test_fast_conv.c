/*
 * test_fast_conv.c — the convolution path's optimised kernels give the
 * values of plain loops written here: unfold2d and fold2d on every kernel
 * path (windows that tile the image, column stride 1 with and without
 * padding, strided and dilated windows), the reductions the layers use
 * (both ends reduced as in a bias gradient, the middle axis as in pooling,
 * rows of every tail length, the general walk), and the conv2d and
 * maxpool2d layers forward and backward against naive loops. Shapes hit the
 * fast paths and their edges: odd sizes, padding wider than the kernel
 * reach, images not a multiple of the pooling size, and sizes long enough
 * to split across two threads.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

/* ---------------------------------------------------------------- helpers */

static float *randn(int64_t n, uint64_t seed)
{
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    cr_assert_not_null(v);
    t_fill(v, n, seed, -1, 1);
    return v;
}

/* The image pixel (ih, iw) that column entry (i, j, y, z) reads, and
 * whether it lies inside the h×w image. */
static bool pixel(nb_window2d k, int i, int j, int64_t y, int64_t z, int64_t h, int64_t w,
                  int64_t *ih, int64_t *iw)
{
    *ih = y * k.sh - k.ph + i * k.dh, *iw = z * k.sw - k.pw + j * k.dw;
    return *ih >= 0 && *ih < h && *iw >= 0 && *iw < w;
}

/* unfold2d (into = false) or fold2d (into = true) by the definition, one
 * column entry at a time: img [N,C,H,W] ↔ cols [N, C·kh·kw, OH·OW]. */
static void naive_window(float *img, float *cols, int64_t n, int64_t c, int64_t h, int64_t w,
                         nb_window2d k, bool into)
{
    k = t_window_norm(k);
    int64_t oh = t_window_out(h, k.kh, k.sh, k.ph, k.dh);
    int64_t ow = t_window_out(w, k.kw, k.sw, k.pw, k.dw);
    int64_t kk = k.kh * k.kw, l = oh * ow;
    if (into)
        memset(img, 0, (size_t)(n * c * h * w) * sizeof *img);
    for (int64_t p = 0; p < n * c; p++)
        for (int i = 0; i < k.kh; i++)
            for (int j = 0; j < k.kw; j++)
                for (int64_t y = 0; y < oh; y++)
                    for (int64_t z = 0; z < ow; z++) {
                        int64_t ih, iw;
                        bool in = pixel(k, i, j, y, z, h, w, &ih, &iw);
                        float *col = &cols[(p * kk + i * k.kw + j) * l + y * ow + z];
                        if (into && in)
                            img[(p * h + ih) * w + iw] += *col;
                        else if (!into)
                            *col = in ? img[(p * h + ih) * w + iw] : 0;
                    }
}

/* unfold2d and fold2d of random data against naive_window, exactly (both
 * are copies; fold sums in the same kernel order for a given pixel). */
static void check_window(int64_t n, int64_t c, int64_t h, int64_t w, nb_window2d k)
{
    nb_window2d kn = t_window_norm(k);
    int64_t oh = t_window_out(h, kn.kh, kn.sh, kn.ph, kn.dh);
    int64_t ow = t_window_out(w, kn.kw, kn.sw, kn.pw, kn.dw);
    int64_t ni = n * c * h * w, nc = n * c * kn.kh * kn.kw * oh * ow;
    float *x = randn(ni, 7), *cols = randn(nc, 8), *want_c = malloc((size_t)nc * sizeof(float));
    float *want_i = malloc((size_t)ni * sizeof(float));
    naive_window(x, want_c, n, c, h, w, k, false);
    naive_window(want_i, cols, n, c, h, w, k, true);

    nb_graph *g = nb_graph_new();
    nb_node *xi = nb_input(g, "x", NB_SHAPE(n, c, h, w));
    nb_node *ci = nb_input(g, "cols", NB_SHAPE(n, c * kn.kh * kn.kw, oh * ow));
    float *got_c = t_eval(g, nb_unfold2d(g, xi, k), (nb_feed[]){{xi, x}}, 1);
    float *got_i = t_eval(g, nb_fold2d(g, ci, h, w, k), (nb_feed[]){{ci, cols}}, 1);
    t_assert_close(got_c, want_c, nc, 0);
    t_assert_close(got_i, want_i, ni, 1e-6f);
    nb_graph_free(g);
    free(x), free(cols), free(want_c), free(want_i), free(got_c), free(got_i);
}

/* ---------------------------------------------------------------- unfold / fold */

/* Windows that tile the image (pooling): 2×2 and 3×3, images that are and
 * are not a multiple of the size (the uncovered edge must fold to zero). */
Test(fast_conv, window_tiles)
{
    check_window(2, 3, 8, 8, (nb_window2d){.kh = 2, .kw = 2, .sh = 2, .sw = 2});
    check_window(2, 3, 7, 9, (nb_window2d){.kh = 2, .kw = 2, .sh = 2, .sw = 2});
    check_window(1, 2, 10, 11, (nb_window2d){.kh = 3, .kw = 3, .sh = 3, .sw = 3});
    check_window(1, 2, 9, 7, (nb_window2d){.kh = 2, .kw = 3, .sh = 2, .sw = 3});
    check_window(1, 1, 5, 5, (nb_window2d){.kh = 1, .kw = 1});
}

/* fold2d(unfold2d(-x)) for tiling windows over an image not a multiple of
 * the size: the planner hands fold2d the buffer -x lived in, so pixels no
 * window covers must be written as zeros, not left as they were. */
Test(fast_conv, fold_tiles_zeroes_uncovered)
{
    const int64_t n = 2, c = 3, h = 7, w = 9;
    nb_window2d k = {.kh = 2, .kw = 2, .sh = 2, .sw = 2};
    float *x = randn(n * c * h * w, 5), *want = malloc((size_t)(n * c * h * w) * sizeof(float));
    float *cols = malloc((size_t)(n * c * 4 * 3 * 4) * sizeof(float));
    for (int64_t i = 0; i < n * c * h * w; i++)
        x[i] = -x[i];
    naive_window(x, cols, n, c, h, w, k, false);
    naive_window(want, cols, n, c, h, w, k, true);
    for (int64_t i = 0; i < n * c * h * w; i++)
        x[i] = -x[i];
    nb_graph *g = nb_graph_new();
    nb_node *xi = nb_input(g, "x", NB_SHAPE(n, c, h, w));
    nb_node *y = nb_fold2d(g, nb_unfold2d(g, nb_neg(g, xi), k), h, w, k);
    float *got = t_eval(g, y, (nb_feed[]){{xi, x}}, 1);
    t_assert_close(got, want, n * c * h * w, 0);
    nb_graph_free(g);
    free(x), free(want), free(cols), free(got);
}

/* Column stride 1 without padding: every tail length of a window row (OW
 * from 1 to 17) and LeNet's 5×5 over 14×14. */
Test(fast_conv, window_stride1)
{
    for (int64_t w = 5; w <= 21; w++)
        check_window(1, 2, 6, w, (nb_window2d){.kh = 3, .kw = 5});
    check_window(2, 6, 14, 14, (nb_window2d){.kh = 5, .kw = 5});
    check_window(1, 3, 4, 4, (nb_window2d){.kh = 4, .kw = 4});
}

/* Column stride 1 with padding: LeNet's pad 2, odd sizes, padding as wide
 * as the kernel's reach and wider (whole window rows and columns in the
 * padding), row stride and dilation other than 1. */
Test(fast_conv, window_stride1_padded)
{
    check_window(2, 1, 28, 28, (nb_window2d){.kh = 5, .kw = 5, .ph = 2, .pw = 2});
    check_window(1, 2, 7, 9, (nb_window2d){.kh = 3, .kw = 3, .ph = 1, .pw = 1});
    check_window(1, 2, 5, 6, (nb_window2d){.kh = 3, .kw = 3, .ph = 2, .pw = 3});
    check_window(1, 1, 3, 3, (nb_window2d){.kh = 2, .kw = 2, .ph = 4, .pw = 5});
    check_window(1, 2, 9, 8, (nb_window2d){.kh = 3, .kw = 3, .sh = 2, .ph = 1, .pw = 2});
    check_window(1, 2, 9, 10, (nb_window2d){.kh = 3, .kw = 2, .dh = 2, .ph = 1, .pw = 1});
    check_window(1, 1, 4, 12, (nb_window2d){.kh = 1, .kw = 9, .pw = 4});
}

/* The general path: column stride 2 or 3, column dilation, overlapping
 * strided windows, pooling with padding. */
Test(fast_conv, window_strided_dilated)
{
    check_window(2, 2, 9, 11, (nb_window2d){.kh = 3, .kw = 3, .sh = 2, .sw = 2, .ph = 1, .pw = 1});
    check_window(1, 2, 10, 10, (nb_window2d){.kh = 3, .kw = 3, .sh = 1, .sw = 3});
    check_window(1, 2, 11, 12, (nb_window2d){.kh = 3, .kw = 3, .dh = 2, .dw = 2, .pw = 2});
    check_window(1, 2, 8, 8, (nb_window2d){.kh = 2, .kw = 2, .sh = 2, .sw = 2, .ph = 1, .pw = 1});
    check_window(1, 2, 9, 9, (nb_window2d){.kh = 3, .kw = 3, .sh = 2, .sw = 2});
}

/* Enough planes to split across two threads, each path. */
Test(fast_conv, window_two_threads)
{
    nb_set_threads(2);
    check_window(64, 6, 28, 28, (nb_window2d){.kh = 2, .kw = 2, .sh = 2, .sw = 2});
    check_window(16, 6, 14, 14, (nb_window2d){.kh = 5, .kw = 5});
    check_window(16, 1, 28, 28, (nb_window2d){.kh = 5, .kw = 5, .ph = 2, .pw = 2});
    check_window(16, 4, 15, 15, (nb_window2d){.kh = 3, .kw = 3, .sh = 2, .sw = 2, .pw = 1});
}

/* ---------------------------------------------------------------- reductions */

/* sum or max of x [d0..d3] over the axes in mask, keepdims, element by
 * element into an output of the keepdims shape, summed in double. */
static void naive_reduce(const float *x, const int64_t *d, int mask, bool is_max, float *out)
{
    int64_t od[4], on = 1;
    for (int a = 0; a < 4; a++)
        od[a] = mask & (1 << a) ? 1 : d[a], on *= od[a];
    double *acc = malloc((size_t)on * sizeof *acc);
    cr_assert_not_null(acc);
    for (int64_t i = 0; i < on; i++)
        acc[i] = is_max ? -INFINITY : 0;
    int64_t i = 0;
    for (int64_t a = 0; a < d[0]; a++)
        for (int64_t b = 0; b < d[1]; b++)
            for (int64_t c = 0; c < d[2]; c++)
                for (int64_t e = 0; e < d[3]; e++, i++) {
                    int64_t idx[4] = {a, b, c, e}, o = 0;
                    for (int k = 0; k < 4; k++)
                        o = o * od[k] + (mask & (1 << k) ? 0 : idx[k]);
                    acc[o] = is_max ? fmax(acc[o], x[i]) : acc[o] + x[i];
                }
    for (int64_t k = 0; k < on; k++)
        out[k] = (float)acc[k];
    free(acc);
}

/* sum and reduce_max over the axes in mask of a [d0..d3] tensor. */
static void check_reduce(int64_t d0, int64_t d1, int64_t d2, int64_t d3, int mask)
{
    const int64_t d[4] = {d0, d1, d2, d3};
    int axes[4], na = 0;
    for (int a = 0; a < 4; a++)
        if (mask & (1 << a))
            axes[na++] = a;
    int64_t n = d0 * d1 * d2 * d3, on = 1;
    for (int a = 0; a < 4; a++)
        on *= mask & (1 << a) ? 1 : d[a];
    float *x = randn(n, 11), *want = malloc((size_t)on * sizeof(float));
    for (int is_max = 0; is_max < 2; is_max++) {
        nb_graph *g = nb_graph_new();
        nb_node *xi = nb_input(g, "x", NB_SHAPE(d0, d1, d2, d3));
        nb_node *y = is_max ? nb_reduce_max(g, xi, axes, na, true) : nb_sum(g, xi, axes, na, true);
        float *got = t_eval(g, y, (nb_feed[]){{xi, x}}, 1);
        naive_reduce(x, d, mask, is_max, want);
        /* max is exact; a float sum of n/on terms drifts by ~eps·√terms */
        t_assert_close(got, want, on, is_max ? 0 : 1e-6f * sqrtf((float)(n / on)) + 1e-6f);
        free(got);
        nb_graph_free(g);
    }
    free(x), free(want);
}

/* Batch and positions reduced, channels kept: the bias gradient of conv2d
 * ([N, F, H, W] over axes 0, 2, 3), with odd sizes and one channel. */
Test(fast_conv, reduce_both_ends)
{
    check_reduce(4, 6, 7, 9, 0xD);
    check_reduce(3, 1, 5, 5, 0xD);
    check_reduce(5, 16, 1, 3, 0xD);
    check_reduce(2, 3, 4, 5, 0x9); /* axes 0 and 3: same layout */
    check_reduce(37, 5, 3, 7, 0xD); /* folded in 4 chunks of the batch */
}

/* One contiguous reduced run: rows of every tail length (last axis), the
 * pooling window axis (2), leading axis, and everything. */
Test(fast_conv, reduce_rows_and_middle)
{
    for (int64_t len = 1; len <= 40; len++)
        check_reduce(2, 3, 1, len, 0x8);
    check_reduce(3, 6, 4, 49, 0x4);
    check_reduce(7, 3, 4, 5, 0x1);
    check_reduce(3, 4, 5, 37, 0xF);
    check_reduce(3, 4, 5, 6, 0xC);
}

/* Several reduced runs, the general walk: last run reduced (folded as a
 * row) and last run kept. */
Test(fast_conv, reduce_general)
{
    check_reduce(3, 4, 5, 19, 0xA);
    check_reduce(3, 4, 5, 6, 0x5);
    check_reduce(2, 3, 4, 33, 0xB);
}

/* Long enough to split across two threads. */
Test(fast_conv, reduce_two_threads)
{
    nb_set_threads(2);
    check_reduce(64, 6, 28, 28, 0xD);
    check_reduce(64, 6, 4, 196, 0x4);
    check_reduce(600, 1, 1, 300, 0x8);
    check_reduce(1, 64, 1, 6000, 0x1);
}

/* The same bits at 1 and 2 threads where a long batch is folded in chunks
 * (a bias gradient: 64 images in 8 chunks, 37 in 4 of 9 or 10). */
Test(fast_conv, reduce_both_ends_same_bits_on_two_threads)
{
    const int64_t shapes[][4] = {{64, 6, 28, 28}, {37, 5, 3, 7}, {17, 300, 2, 2}};
    for (int s = 0; s < 3; s++) {
        const int64_t *d = shapes[s], n = d[0] * d[1] * d[2] * d[3];
        float *x = randn(n, 5), *got[2];
        for (int t = 0; t < 2; t++) {
            nb_set_threads(t + 1);
            nb_graph *g = nb_graph_new();
            nb_node *xi = nb_input(g, "x", NB_SHAPE(d[0], d[1], d[2], d[3]));
            nb_node *y = nb_sum(g, xi, (int[]){0, 2, 3}, 3, true);
            got[t] = t_eval(g, y, (nb_feed[]){{xi, x}}, 1);
            nb_graph_free(g);
        }
        cr_assert(memcmp(got[0], got[1], (size_t)d[1] * sizeof(float)) == 0, "shape %d", s);
        free(got[0]), free(got[1]), free(x);
    }
    nb_set_threads(0);
}

/* ---------------------------------------------------------------- layers */

/* The only parameter of g named like `suffix` ("w" or "b"), filled with
 * random values; returns the node and its data. */
static nb_node *set_param(nb_graph *g, const char *suffix, uint64_t seed, float **data)
{
    for (int i = 0;; i++) {
        nb_node *p = nb_graph_param(g, i);
        cr_assert_not_null(p, "no parameter ending in '%s'", suffix);
        char label[160];
        nb_node_label(p, label, sizeof label);
        size_t ls = strlen(label), ss = strlen(suffix);
        if (ls >= ss && !strcmp(label + ls - ss, suffix) && label[ls - ss - 1] == '/') {
            *data = nb_param_data(p);
            t_fill(*data, nb_shape_numel(nb_node_shape(p)), seed, -1, 1);
            return p;
        }
    }
}

/*
 * conv2d (no activation) forward and all three gradients against loops:
 * y[n,f,oy,ox] = b[f] + Σ w[f,c,i,j]·x[n,c,oy·s-p+i·d, ox·s-p+j·d], and for
 * the loss Σ y·r: db = Σ r, dw = Σ r·x, dx = Σ r·w over the same pairs.
 */
static void check_conv(int64_t n, int64_t c, int64_t h, int64_t w, int f, int k, int s, int p,
                       int d)
{
    nb_window2d win = t_window_norm(
        (nb_window2d){.kh = k, .kw = k, .sh = s, .sw = s, .ph = p, .pw = p, .dh = d, .dw = d});
    int64_t oh = t_window_out(h, k, win.sh, p, win.dh), ow = t_window_out(w, k, win.sw, p, win.dw);
    int64_t ny = n * f * oh * ow, nx = n * c * h * w, nw = (int64_t)f * c * k * k;
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(n, c, h, w)), *r = nb_input(g, "r", NB_SHAPE(n, f, oh, ow));
    nb_node *y = nb_conv2d(g, x, (nb_conv2d_opts){.filters = f, .kernel = k, .stride = s, .pad = p,
                                                  .dilation = d});
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    float *wd, *bd;
    nb_node *wp = set_param(g, "w", 21, &wd), *bp = set_param(g, "b", 22, &bd);
    float *xv = randn(nx, 23), *rv = randn(ny, 24);
    nb_node *loss = nb_sum(g, nb_mul(g, y, r), NULL, 0, false);
    nb_node *wrt[3] = {x, wp, bp}, *grads[3];
    cr_assert_eq(nb_grad(g, loss, wrt, 3, grads), NB_OK, "%s", nb_graph_error(g));
    nb_feed feeds[2] = {{x, xv}, {r, rv}};
    float *gy = t_eval(g, y, feeds, 2), *gdx = t_eval(g, grads[0], feeds, 2);
    float *gdw = t_eval(g, grads[1], feeds, 2), *gdb = t_eval(g, grads[2], feeds, 2);

    double *acc = calloc((size_t)(ny + nx + nw + f), sizeof(double));
    cr_assert_not_null(acc);
    double *ay = acc, *adx = ay + ny, *adw = adx + nx, *adb = adw + nw;
    for (int64_t b = 0; b < n; b++)
        for (int fo = 0; fo < f; fo++)
            for (int64_t yy = 0; yy < oh; yy++)
                for (int64_t xx = 0; xx < ow; xx++) {
                    int64_t o = ((b * f + fo) * oh + yy) * ow + xx;
                    ay[o] = bd[fo];
                    adb[fo] += rv[o];
                    for (int64_t ch = 0; ch < c; ch++)
                        for (int i = 0; i < k; i++)
                            for (int j = 0; j < k; j++) {
                                int64_t ih, iw, wi = ((fo * c + ch) * k + i) * k + j;
                                if (!pixel(win, i, j, yy, xx, h, w, &ih, &iw))
                                    continue;
                                int64_t xi = ((b * c + ch) * h + ih) * w + iw;
                                ay[o] += (double)wd[wi] * xv[xi];
                                adw[wi] += (double)rv[o] * xv[xi];
                                adx[xi] += (double)rv[o] * wd[wi];
                            }
                }
    float *want = malloc((size_t)(ny + nx + nw + f) * sizeof *want);
    cr_assert_not_null(want);
    for (int64_t i = 0; i < ny + nx + nw + f; i++)
        want[i] = (float)acc[i];
    t_assert_close(gy, want, ny, 1e-4f);
    t_assert_close(gdx, want + ny, nx, 1e-4f);
    t_assert_close(gdw, want + ny + nx, nw, 1e-4f);
    t_assert_close(gdb, want + ny + nx + nw, f, 1e-4f);
    nb_graph_free(g);
    free(xv), free(rv), free(gy), free(gdx), free(gdw), free(gdb), free(acc), free(want);
}

/* LeNet-5's two convolutions, and padded, strided and dilated ones. */
Test(fast_conv, conv2d_against_loops)
{
    check_conv(3, 1, 28, 28, 6, 5, 1, 2, 1);
    check_conv(3, 6, 14, 14, 16, 5, 1, 0, 1);
    check_conv(2, 3, 9, 8, 4, 3, 2, 1, 1);
    check_conv(2, 2, 11, 10, 3, 3, 1, 2, 2);
}

Test(fast_conv, conv2d_two_threads)
{
    nb_set_threads(2);
    check_conv(32, 1, 28, 28, 6, 5, 1, 2, 1);
    check_conv(32, 6, 14, 14, 16, 5, 1, 0, 1);
}

/*
 * conv2d's output and its three gradients at 1 and at 2 threads, bit for
 * bit: the per-image products split across threads whole (each on one
 * thread, OpenBLAS included), and every other kernel of the layer keeps one
 * summation order per element, so the thread count does not change values.
 * LeNet-5's layers at batch 16 (the first one's weight gradient per image
 * takes the blocked dot products) and an odd padded, strided one.
 */
static void check_conv_threads(int64_t n, int64_t c, int64_t h, int64_t w, int f, int k, int s,
                               int p)
{
    nb_graph *g = nb_graph_new();
    int64_t oh = t_window_out(h, k, s, p, 1), ow = t_window_out(w, k, s, p, 1);
    nb_node *x = nb_input(g, "x", NB_SHAPE(n, c, h, w)), *r = nb_input(g, "r", NB_SHAPE(n, f, oh, ow));
    nb_node *y = nb_conv2d(g, x, (nb_conv2d_opts){.filters = f, .kernel = k, .stride = s, .pad = p});
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    float *wd, *bd;
    nb_node *wp = set_param(g, "w", 51, &wd), *bp = set_param(g, "b", 52, &bd);
    nb_node *loss = nb_sum(g, nb_mul(g, y, r), NULL, 0, false);
    nb_node *wrt[3] = {x, wp, bp}, *outs[4] = {y};
    cr_assert_eq(nb_grad(g, loss, wrt, 3, outs + 1), NB_OK, "%s", nb_graph_error(g));
    float *xv = randn(n * c * h * w, 53), *rv = randn(n * f * oh * ow, 54);
    nb_feed feeds[2] = {{x, xv}, {r, rv}};
    for (int o = 0; o < 4; o++) {
        nb_set_threads(1);
        float *one = t_eval(g, outs[o], feeds, 2);
        nb_set_threads(2);
        float *two = t_eval(g, outs[o], feeds, 2);
        t_assert_close(two, one, nb_shape_numel(nb_node_shape(outs[o])), 0);
        free(one), free(two);
    }
    free(xv), free(rv);
    nb_graph_free(g);
}

Test(fast_conv, conv2d_same_values_on_two_threads)
{
    check_conv_threads(16, 1, 28, 28, 6, 5, 1, 2);
    check_conv_threads(16, 6, 14, 14, 16, 5, 1, 0);
    check_conv_threads(9, 3, 13, 11, 5, 3, 2, 1);
}

/*
 * Window o = (q, yy, xx) of a max pooling over img [planes, H, W]: mode 0
 * returns its maximum, mode 1 the number of pixels equal to m, mode 2 adds
 * `share` to the gradient of each of those pixels.
 */
static float pool_window(const float *img, float *dimg, nb_window2d win, int64_t q, int64_t yy,
                         int64_t xx, int64_t h, int64_t w, int mode, float m, float share)
{
    float acc = mode == 0 ? -INFINITY : 0;
    for (int i = 0; i < win.kh; i++)
        for (int j = 0; j < win.kw; j++) {
            int64_t ih, iw;
            if (!pixel(win, i, j, yy, xx, h, w, &ih, &iw))
                continue;
            int64_t at = (q * h + ih) * w + iw;
            if (mode == 0)
                acc = img[at] > acc ? img[at] : acc;
            else if (img[at] == m && mode == 1)
                acc += 1;
            else if (img[at] == m)
                dimg[at] += share;
        }
    return acc;
}

/*
 * maxpool2d forward and gradient against loops: y = the max of each window
 * (padding never wins), and dx for the loss Σ y·r gives each window's r to
 * its maximum, split evenly among tied maxima. Values on a grid of 1/8 make
 * ties happen.
 */
static void check_maxpool(int64_t n, int64_t c, int64_t h, int64_t w, int size, int stride,
                          int pad)
{
    int s = stride ? stride : size;
    int64_t oh = (h + 2 * pad - size) / s + 1, ow = (w + 2 * pad - size) / s + 1;
    int64_t nx = n * c * h * w, ny = n * c * oh * ow;
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(n, c, h, w)), *r = nb_input(g, "r", NB_SHAPE(n, c, oh, ow));
    nb_node *y = nb_maxpool2d(g, x, (nb_pool2d_opts){.size = size, .stride = stride, .pad = pad});
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    nb_node *loss = nb_sum(g, nb_mul(g, y, r), NULL, 0, false), *dx;
    cr_assert_eq(nb_grad(g, loss, &x, 1, &dx), NB_OK, "%s", nb_graph_error(g));
    float *xv = randn(nx, 31), *rv = randn(ny, 32);
    for (int64_t i = 0; i < nx; i++)
        xv[i] = roundf(xv[i] * 8) / 8;
    nb_feed feeds[2] = {{x, xv}, {r, rv}};
    float *gy = t_eval(g, y, feeds, 2), *gdx = t_eval(g, dx, feeds, 2);
    float *wy = malloc((size_t)ny * sizeof(float)), *wdx = calloc((size_t)nx, sizeof(float));
    nb_window2d win = {.kh = size, .kw = size, .sh = s, .sw = s, .ph = pad, .pw = pad, .dh = 1,
                       .dw = 1};
    for (int64_t q = 0; q < n * c; q++)
        for (int64_t yy = 0; yy < oh; yy++)
            for (int64_t xx = 0; xx < ow; xx++) {
                int64_t o = (q * oh + yy) * ow + xx;
                float m = pool_window(xv, wdx, win, q, yy, xx, h, w, 0, 0, 0);
                float ties = pool_window(xv, wdx, win, q, yy, xx, h, w, 1, m, 0);
                pool_window(xv, wdx, win, q, yy, xx, h, w, 2, m, rv[o] / ties);
                wy[o] = m;
            }
    t_assert_close(gy, wy, ny, 0);
    t_assert_close(gdx, wdx, nx, 1e-5f);
    free(wy), free(wdx);
    free(xv), free(rv), free(gy), free(gdx);
    nb_graph_free(g);
}

/* LeNet-5's pools, odd images (a row and column no window covers), size 3,
 * overlapping windows and padding. */
Test(fast_conv, maxpool2d_against_loops)
{
    check_maxpool(3, 6, 28, 28, 2, 0, 0);
    check_maxpool(3, 16, 10, 10, 2, 0, 0);
    check_maxpool(2, 3, 7, 9, 2, 0, 0);
    check_maxpool(2, 3, 10, 11, 3, 0, 0);
    check_maxpool(2, 3, 9, 9, 3, 2, 0);
    check_maxpool(2, 3, 8, 7, 2, 0, 1);
}

Test(fast_conv, maxpool2d_two_threads)
{
    nb_set_threads(2);
    check_maxpool(64, 6, 28, 28, 2, 0, 0);
    check_maxpool(64, 16, 11, 10, 2, 0, 0);
}
