/*
 * pool.c — max and average pooling: the convolution's window walk with the
 * weighted sum replaced by a maximum or a mean ("max-subsampling"). unfold2d
 * gathers each size×size window of each channel into kh·kw consecutive rows,
 * so viewing the columns as [N, C, size², L] puts every window along axis 2.
 */
#include <math.h>

#include "layers_internal.h"

/* The window of a pooling layer, with stride 0 meaning size. */
static nb_window2d pool_window(const nb_pool2d_opts *o, int pad)
{
    int s = o->stride ? o->stride : o->size;
    return (nb_window2d){.kh = o->size, .kw = o->size, .sh = s, .sw = s, .ph = pad, .pw = pad};
}

/*
 * Checks a pooling layer's options and input from inside its scope. Max
 * pooling also refuses pad >= size: a window of padding only would have no
 * maximum (-∞), while every smaller padding leaves each window a pixel.
 */
static bool pool_options(nb_graph *g, nb_node *x, const nb_pool2d_opts *o, bool max)
{
    nb_shape xs = nb_node_shape(x);
    char d[300];
    bool ok = false;
    if (o->size < 1)
        nb__layer_refuse(g, NB_ERR_ARG, "size %d must be >= 1", o->size);
    else if (o->stride < 0 || o->pad < 0)
        nb__layer_refuse(g, NB_ERR_ARG, "stride %d and pad %d must be >= 0", o->stride, o->pad);
    else if (max && o->pad >= o->size)
        nb__layer_refuse(g, NB_ERR_ARG, "pad %d must be smaller than size %d (a window of padding "
                         "only has no maximum)", o->pad, o->size);
    else if (xs.rank != 4)
        nb__layer_refuse(g, NB_ERR_SHAPE, "input %s must have rank 4 [N,C,H,W], not %d",
                         nb__layer_describe(x, d, sizeof d), xs.rank);
    else
        ok = nb__layer_window_fits(g, x, "size", o->size, o->size, o->pad, 1);
    return ok;
}

/* cols [N, C·k², L] → reduced over each window → [N, C, OH, OW], where the
 * image seen by the window was h×w (after any explicit padding). */
static nb_node *pool_reduce(nb_graph *g, nb_node *cols, nb_shape xs, nb_window2d win, int64_t h,
                            int64_t w, bool max)
{
    int64_t n = xs.dim[0], c = xs.dim[1], k2 = (int64_t)win.kh * win.kw;
    int64_t oh = (h + 2 * win.ph - win.kh) / win.sh + 1, ow = (w + 2 * win.pw - win.kw) / win.sw + 1;
    int axis = 2;
    nb_node *v = nb_reshape(g, cols, NB_SHAPE(n, c, k2, oh * ow));
    v = max ? nb_reduce_max(g, v, &axis, 1, false)
            : nb_mul(g, nb_sum(g, v, &axis, 1, false), nb_scalar(g, (float)(1.0 / (double)k2)));
    return nb_reshape(g, v, NB_SHAPE(n, c, oh, ow));
}

/*
 * x [N, C, H, W] → [N, C, OH, OW], the maximum of each window; the padding
 * is -∞ (an explicit nb_pad before unfold2d, whose own padding is zeros),
 * so it never wins. Ties share the gradient. Refuses size < 1, negative
 * stride or pad, pad >= size, a rank other than 4 and a window larger than
 * the padded input.
 */
nb_node *nb_maxpool2d(nb_graph *g, nb_node *x, nb_pool2d_opts o)
{
    if (nb__layer_null_input(g, x, "maxpool2d") || nb_layer_scope(g, "maxpool2d", o.name) != NB_OK)
        return NULL;
    int first = nb_graph_node_count(g);
    if (!pool_options(g, x, &o, true))
        return NULL;
    nb_shape xs = nb_node_shape(x);
    nb_node *xp = x;
    if (o.pad > 0) {
        const int64_t p[4] = {0, 0, o.pad, o.pad};
        xp = nb_pad(g, x, p, p, -INFINITY);
    }
    nb_window2d win = pool_window(&o, 0);
    nb_node *cols = nb_unfold2d(g, xp, win);
    if (!cols)
        return nb__layer_end(g, NULL);
    return nb__layer_done(g, (nb_layer_record){.kind = NB_LAYER_MAXPOOL2D, .input = x, .pool = o},
                          first, pool_reduce(g, cols, xs, win, xs.dim[2] + 2 * o.pad,
                                             xs.dim[3] + 2 * o.pad, true));
}

/*
 * x [N, C, H, W] → [N, C, OH, OW], the mean of each window, zero padding
 * counted (every window divides by size²). Refuses size < 1, negative
 * stride or pad, a rank other than 4 and a window larger than the padded
 * input.
 */
nb_node *nb_avgpool2d(nb_graph *g, nb_node *x, nb_pool2d_opts o)
{
    if (nb__layer_null_input(g, x, "avgpool2d") || nb_layer_scope(g, "avgpool2d", o.name) != NB_OK)
        return NULL;
    int first = nb_graph_node_count(g);
    if (!pool_options(g, x, &o, false))
        return NULL;
    nb_shape xs = nb_node_shape(x);
    nb_window2d win = pool_window(&o, o.pad);
    nb_node *cols = nb_unfold2d(g, x, win);
    if (!cols)
        return nb__layer_end(g, NULL);
    return nb__layer_done(g, (nb_layer_record){.kind = NB_LAYER_AVGPOOL2D, .input = x, .pool = o},
                          first, pool_reduce(g, cols, xs, win, xs.dim[2], xs.dim[3], false));
}

/* ---------------------------------------------------------------- global */

/* Refuses a NULL x or one not of rank 4, naming the layer. */
static bool global_input(nb_graph *g, nb_node *x, const char *kind)
{
    char d[300];
    if (nb__layer_null_input(g, x, kind))
        return false;
    if (nb_node_shape(x).rank == 4)
        return true;
    nb_graph_fail(g, NB_ERR_SHAPE, "%s: input %s must have rank 4 [N,C,H,W], not %d", kind,
                  nb__layer_describe(x, d, sizeof d), nb_node_shape(x).rank);
    return false;
}

/* x [N, C, H, W] → [N, C]: the mean over H and W. */
nb_node *nb_global_avgpool2d(nb_graph *g, nb_node *x)
{
    static const int hw[2] = {2, 3};
    return global_input(g, x, "global_avgpool2d") ? nb_mean(g, x, hw, 2, false) : NULL;
}

/* x [N, C, H, W] → [N, C]: the maximum over H and W. */
nb_node *nb_global_maxpool2d(nb_graph *g, nb_node *x)
{
    static const int hw[2] = {2, 3};
    return global_input(g, x, "global_maxpool2d") ? nb_reduce_max(g, x, hw, 2, false) : NULL;
}
