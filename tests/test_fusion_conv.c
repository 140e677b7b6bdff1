/*
 * Convolutions that never write their columns (ops/fusion_conv.c,
 * ops/kernels/conv_direct.c): a conv2d layer's forward value, with and
 * without its bias and activation, and its weight gradient give, within
 * float rounding, what the plain steps give (nb_set_fusion(false)), at 1
 * and 2 threads, and the same bits at 1 and 2 threads, on odd shapes:
 * stride 2, padding, dilation 2, batch 1, channel counts that are not
 * multiples of the vector width, 1×1 and 5×5 kernels, non-square images.
 * Fused, the columns get no step and no buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

typedef struct conv_case {
    int64_t n, c, h, w, f;
    int kh, kw, stride, pad, dilation, groups;
    int sh, sw, dh, dw, pads[4]; /* per axis, as nb_conv2d_opts */
    bool bias;
    nb_activation act;
} conv_case;

#define MAX_OUT 5

/* What a test fetches besides y: nothing, the loss and the gradients of x,
 * w and b, or (a first layer, whose input is data) of w and b only. */
enum { FORWARD, TRAIN, TRAIN_PARAMS };

/* A conv2d layer of case s, the loss Σ y·r (r fixed), and its outputs. */
typedef struct built {
    nb_graph *g;
    nb_node *x, *r, *out[MAX_OUT];
    int n_out;
    float *xv, *rv;
} built;

static built build(const conv_case *s, int train)
{
    built b = {.g = nb_graph_new()};
    b.x = nb_input(b.g, "x", NB_SHAPE(s->n, s->c, s->h, s->w));
    nb_node *y = nb_conv2d(b.g, b.x, (nb_conv2d_opts){.filters = s->f, .kh = s->kh, .kw = s->kw,
                                                       .stride = s->stride, .pad = s->pad,
                                                       .dilation = s->dilation,
                                                       .sh = s->sh, .sw = s->sw, .dh = s->dh,
                                                       .dw = s->dw,
                                                       .pads = {s->pads[0], s->pads[1],
                                                                s->pads[2], s->pads[3]},
                                                       .groups = s->groups,
                                                       .activation = s->act,
                                                       .no_bias = !s->bias});
    cr_assert_not_null(y, "%s", nb_graph_error(b.g));
    b.r = nb_input(b.g, "r", nb_node_shape(y));
    b.out[b.n_out++] = y;
    int64_t nx = s->n * s->c * s->h * s->w, nr = nb_shape_numel(nb_node_shape(y));
    b.xv = malloc((size_t)nx * sizeof(float));
    b.rv = malloc((size_t)nr * sizeof(float));
    t_fill(b.xv, nx, 7, -1, 1);
    t_fill(b.rv, nr, 8, -1, 1);
    if (train) {
        nb_node *loss = nb_sum(b.g, nb_mul(b.g, y, b.r), NULL, 0, false);
        nb_node *wrt[3] = {b.x, nb_graph_param(b.g, 0), s->bias ? nb_graph_param(b.g, 1) : NULL};
        nb_node *d[3] = {0};
        const int skip = train == TRAIN_PARAMS, n_wrt = (s->bias ? 3 : 2) - skip;
        memmove(wrt, wrt + skip, (size_t)n_wrt * sizeof wrt[0]);
        cr_assert_eq(nb_grad(b.g, loss, wrt, n_wrt, d), NB_OK, "%s", nb_graph_error(b.g));
        b.out[b.n_out++] = loss;
        for (int k = 0; k < n_wrt; k++)
            b.out[b.n_out++] = d[k];
    }
    if (s->bias) /* a bias of zeros would hide a bias read wrongly */
        t_fill(nb_param_data(nb_graph_param(b.g, 1)), s->f, 9, -0.5f, 0.5f);
    return b;
}

static void built_free(built *b)
{
    free(b->xv);
    free(b->rv);
    nb_graph_free(b->g);
}

/* A runtime for b's outputs, fusion on or off, at `threads`, fed and run. */
static nb_runtime *run(built *b, bool fuse, int threads)
{
    nb_set_threads(threads);
    nb_set_fusion(fuse);
    nb_runtime *rt = nb_runtime_new(b->g, b->out, b->n_out);
    nb_set_fusion(true);
    cr_assert_not_null(rt, "%s", nb_graph_error(b->g));
    cr_assert_eq(nb_runtime_set_input(rt, b->x, b->xv), NB_OK);
    cr_assert_eq(nb_runtime_set_input(rt, b->r, b->rv), NB_OK);
    cr_assert_eq(nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt));
    return rt;
}

/* Checks case s both ways at 1 and 2 threads (t_fused_both_ways); returns
 * how many steps fusion saved. */
static int check_case(const conv_case *s, int train, float tol)
{
    built b = build(s, train);
    nb_node *in[2] = {b.x, b.r};
    float *data[2] = {b.xv, b.rv};
    int saved = t_fused_both_ways(b.g, b.out, b.n_out, in, data, 2, tol);
    built_free(&b);
    return saved;
}

/* The odd shapes both directions run: stride 2, padding, dilation 2, batch
 * 1, 3/5/13/17 channels, 1×1, 3×3, 5×5 and 1×3 kernels, non-square images,
 * positions fewer than a tile and not a multiple of 16, many images, and
 * sizes that split the weight gradient into several items and tiles, and
 * batches it cuts into chunks. */
static const conv_case shapes[] = {
    {.n = 2, .c = 3, .h = 9, .w = 7, .f = 5, .kh = 3, .kw = 3, .pad = 1},
    {.n = 1, .c = 13, .h = 11, .w = 10, .f = 17, .kh = 3, .kw = 3, .stride = 2, .pad = 1},
    {.n = 3, .c = 5, .h = 12, .w = 9, .f = 7, .kh = 3, .kw = 3, .pad = 2, .dilation = 2},
    {.n = 2, .c = 17, .h = 6, .w = 13, .f = 9, .kh = 1, .kw = 1},
    {.n = 2, .c = 2, .h = 14, .w = 11, .f = 13, .kh = 5, .kw = 5, .pad = 2},
    {.n = 1, .c = 1, .h = 28, .w = 28, .f = 6, .kh = 5, .kw = 5, .pad = 2},
    {.n = 5, .c = 6, .h = 14, .w = 14, .f = 16, .kh = 5, .kw = 5},
    {.n = 2, .c = 3, .h = 8, .w = 19, .f = 11, .kh = 1, .kw = 3, .stride = 2, .pad = 1},
    {.n = 9, .c = 35, .h = 7, .w = 6, .f = 29, .kh = 3, .kw = 3, .pad = 1},
    /* the weight gradient's blocks of filters (70: two of 35) and channels
     * (60·9 column rows: two of 30 channels), rows longer than a tile */
    {.n = 2, .c = 60, .h = 4, .w = 70, .f = 70, .kh = 3, .kw = 3, .pad = 1},
    /* few weights, many images: the weight gradient sums chunks of the
     * batch apart (4 chunks of 8 or 9 images here, 2 of 8 and 9 below) */
    {.n = 33, .c = 1, .h = 12, .w = 12, .f = 6, .kh = 5, .kw = 5, .pad = 2},
    {.n = 17, .c = 3, .h = 9, .w = 9, .f = 7, .kh = 3, .kw = 3, .pad = 1},
    /* filters in the lanes, one item of every channel in 2 chunks (the
     * 6 channels are not split in two: the batch is cut instead) */
    {.n = 16, .c = 6, .h = 10, .w = 10, .f = 16, .kh = 5, .kw = 5},
    /* staged rows of a padded image longer than a weight-gradient tile
     * (230 positions: tiles of 196 and 34) */
    {.n = 1, .c = 2, .h = 3, .w = 230, .f = 17, .kh = 3, .kw = 3, .pad = 1},
    /* 33 filters by 32·9 column rows (9504 weights): one item in 2 chunks
     * of 8 images, not two blocks of channels */
    {.n = 16, .c = 32, .h = 5, .w = 6, .f = 33, .kh = 3, .kw = 3, .pad = 1},
    /* filters in the lanes (kernels/conv_lanes.h): a stride, a dilation,
     * batch 1, 20 filters (a panel of 4 real lanes of 16), rows of 5 */
    {.n = 1, .c = 3, .h = 11, .w = 9, .f = 20, .kh = 3, .kw = 3, .stride = 2, .pad = 1},
    {.n = 2, .c = 5, .h = 10, .w = 12, .f = 32, .kh = 3, .kw = 3, .pad = 2, .dilation = 2},
    {.n = 3, .c = 19, .h = 5, .w = 5, .f = 48, .kh = 3, .kw = 3, .pad = 1},
    /* positions in the lanes, flat tiles (kernels/conv_wg.c): rows of 3,
     * 2×3 kernels; a dilation, 7 filters, 2 channels, rows of 8 */
    {.n = 1, .c = 4, .h = 6, .w = 5, .f = 3, .kh = 2, .kw = 3},
    {.n = 3, .c = 2, .h = 9, .w = 10, .f = 7, .kh = 3, .kw = 2, .pad = 1, .dilation = 2},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

Test(fusion_conv, forward_with_and_without_bias_and_activation)
{
    const nb_activation acts[] = {NB_ACT_NONE, NB_ACT_RELU, NB_ACT_TANH};
    for (size_t i = 0; i < N_SHAPES; i++)
        for (int bias = 0; bias <= 1; bias++)
            for (size_t a = 0; a < 3; a++) {
                conv_case s = shapes[i];
                s.bias = bias;
                s.act = acts[a];
                /* product, reshape, [add], [activation]: one step (the
                 * product alone when nothing follows its reshape) */
                int want = bias || a > 0 ? 1 + bias + (a > 0) : 0;
                cr_assert_geq(check_case(&s, FORWARD, 1e-5f), want, "shape %zu bias %d act %zu", i,
                              bias, a);
            }
}

Test(fusion_conv, forward_and_weight_gradient_in_training)
{
    for (size_t i = 0; i < N_SHAPES; i++)
        for (int bias = 0; bias <= 1; bias++) {
            conv_case s = shapes[i];
            s.bias = bias;
            s.act = bias ? NB_ACT_RELU : NB_ACT_NONE;
            cr_assert_gt(check_case(&s, TRAIN, 1e-4f), 0, "shape %zu bias %d", i, bias);
            cr_assert_gt(check_case(&s, TRAIN_PARAMS, 1e-4f), 0, "shape %zu bias %d", i, bias);
        }
}

/* Strides, dilations and padding that differ between rows and columns,
 * and padding that differs between the sides of an axis (an nb_pad step
 * before unfold2d, whose padded image the fused step reads): the same
 * values both ways, forward and in training. */
static const conv_case per_axis[] = {
    {.n = 2, .c = 3, .h = 9, .w = 8, .f = 5, .kh = 3, .kw = 3, .sh = 2, .sw = 1, .pad = 1,
     .dh = 1, .dw = 2},
    {.n = 1, .c = 5, .h = 10, .w = 7, .f = 6, .kh = 3, .kw = 2, .sh = 1, .sw = 3,
     .pads = {0, 1, 2, 1}},
    {.n = 2, .c = 4, .h = 7, .w = 12, .f = 9, .kh = 2, .kw = 5, .sh = 3, .sw = 2, .dh = 2,
     .pads = {1, 2, 0, 3}},
    {.n = 3, .c = 2, .h = 8, .w = 8, .f = 4, .kh = 3, .kw = 3, .stride = 2, .pads = {0, 0, 1, 1}},
    {.n = 2, .c = 17, .h = 6, .w = 21, .f = 9, .kh = 1, .kw = 3, .sw = 2, .dw = 3,
     .pads = {0, 3, 0, 3}},
    /* no padding, filters in the lanes: the weight gradient reads the
     * image itself, not staged rows (kernels/conv_wg.c), here with a row
     * stride, a column dilation, rows longer than a tile (203 positions:
     * tiles of 196 and 7) and two blocks of channels (5 and 4) */
    {.n = 2, .c = 9, .h = 7, .w = 205, .f = 19, .kh = 3, .kw = 2, .sh = 2, .sw = 1, .dh = 1,
     .dw = 2},
    /* flat weight-gradient tiles with dilations 2 and 3 and uneven pads */
    {.n = 2, .c = 3, .h = 7, .w = 11, .f = 5, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .dh = 2,
     .dw = 3, .pads = {1, 0, 2, 1}},
};

Test(fusion_conv, per_axis_geometry_agrees_both_ways)
{
    for (size_t i = 0; i < sizeof per_axis / sizeof per_axis[0]; i++)
        for (int bias = 0; bias <= 1; bias++) {
            conv_case s = per_axis[i];
            s.bias = bias;
            s.act = bias ? NB_ACT_RELU : NB_ACT_NONE;
            cr_assert_geq(check_case(&s, FORWARD, 1e-5f), bias ? 2 : 0, "case %zu bias %d", i,
                          bias);
            cr_assert_gt(check_case(&s, TRAIN, 1e-4f), 0, "case %zu bias %d", i, bias);
            cr_assert_gt(check_case(&s, TRAIN_PARAMS, 1e-4f), 0, "case %zu bias %d", i, bias);
        }
}

/* Groups (a batched product per group of channels) do not match: the plain
 * steps compute them, and the values are the same both ways. */
Test(fusion_conv, groups_keep_the_plain_steps)
{
    conv_case s = {.n = 2, .c = 4, .h = 6, .w = 6, .f = 6, .kh = 3, .kw = 3, .pad = 1,
                   .groups = 2, .bias = true};
    check_case(&s, TRAIN, 1e-4f);
}

/* The columns are gone: a first conv2d layer's training step (forward,
 * loss, the weights' gradients) and its inference plan each need at least
 * the column matrix's bytes less with fusion than without, and the fused
 * plans run no unfold2d step. (With x's gradient too, the peak is where
 * that gradient's own columns live, after the forward columns' last
 * reader.) */
Test(fusion_conv, the_columns_get_no_buffer)
{
    const conv_case s = {.n = 4, .c = 3, .h = 12, .w = 10, .f = 8, .kh = 3, .kw = 3, .pad = 1,
                         .bias = true, .act = NB_ACT_RELU};
    const size_t cols = (size_t)(4 * 3 * 9 * 12 * 10) * sizeof(float);
    const int kinds[] = {FORWARD, TRAIN_PARAMS};
    for (int k = 0; k < 2; k++) {
        const int train = kinds[k];
        built b = build(&s, train);
        nb_runtime *plain = run(&b, false, 1), *fused = run(&b, true, 1);
        size_t p = nb_runtime_planned_bytes(plain), f = nb_runtime_planned_bytes(fused);
        cr_assert_leq(f + cols, p, "train %d: fused %zu + columns %zu <= plain %zu", train, f,
                      cols, p);
        cr_assert_lt(nb_runtime_num_steps(fused), nb_runtime_num_steps(plain) - 1);
        nb_runtime_free(plain);
        nb_runtime_free(fused);
        built_free(&b);
    }
}
