/*
 * pool.c — max and average pooling: the convolution's window walk with the
 * weighted sum replaced by a maximum or a mean ("max-subsampling"). unfold2d
 * gathers each size×size window of each channel into kh·kw consecutive rows,
 * so viewing the columns as [N, C, size², L] puts every window along axis 2.
 */
#include <math.h>

#include "layers_internal.h"

/* Refuses a negative size, stride, padding or dilation, naming it. */
static bool pool_nonnegative(nb_graph *g, const nb_pool2d_opts *o)
{
    static const char *const names[] = {"stride", "pad", "kh", "kw", "sh", "sw", "dilation",
                                        "dh", "dw", "pads[0] (top)", "pads[1] (left)",
                                        "pads[2] (bottom)", "pads[3] (right)"};
    const int v[] = {o->stride, o->pad, o->kh, o->kw, o->sh, o->sw, o->dilation, o->dh, o->dw,
                     o->pads[0], o->pads[1], o->pads[2], o->pads[3]};
    return nb__window_nonnegative(g, names, v, 13);
}

/* Max pooling refuses padding as wide as the window on any side: a window
 * of padding only would have no maximum (-∞), while every narrower padding
 * leaves each undilated window a pixel (dilated ones are checked one by
 * one, nb__window_covers). */
static bool pool_pad_fits(nb_graph *g, const nb__window *q)
{
    for (int a = 0; a < 2; a++) {
        const nb__axis *ax = &q->ax[a];
        int64_t p = ax->before > ax->after ? ax->before : ax->after;
        if (p >= ax->k) {
            nb__layer_refuse(g, NB_ERR_ARG, "pad %lld must be smaller than size %lld (a window "
                             "of padding only has no maximum)", (long long)p, (long long)ax->k);
            return false;
        }
    }
    return true;
}

/*
 * Checks a pooling layer's options and input from inside its scope and
 * fills its window *q.
 */
static bool pool_options(nb_graph *g, nb_node *x, const nb_pool2d_opts *o, bool max,
                         nb__window *q)
{
    nb_shape xs = nb_node_shape(x);
    char d[300];
    *q = nb__window_pool(o);
    if (!pool_nonnegative(g, o))
        return false;
    if (q->ax[0].k < 1 || q->ax[1].k < 1)
        nb__layer_refuse(g, NB_ERR_ARG, "size %d must be >= 1 (or set kh and kw)",
                         q->ax[0].k < 1 ? (int)q->ax[0].k : (int)q->ax[1].k);
    else if (max && !pool_pad_fits(g, q))
        return false;
    else if (xs.rank != 4)
        nb__layer_refuse(g, NB_ERR_SHAPE, "input %s must have rank 4 [N,C,H,W], not %d",
                         nb__layer_describe(x, d, sizeof d), xs.rank);
    else if (nb__window_fit(g, x, "size", q))
        return !(max || o->exclude_pad) ||
               nb__window_covers(g, x, q, max ? "a maximum of padding only is -inf"
                                              : "exclude_pad: a mean of no pixels");
    return false;
}

/*
 * The divisor of each window of an average as one constant [OH, OW] of
 * 1/count, count being the taps that read the input (input_only) or the
 * padded input (ceil mode's overhang left out); NULL after a message when
 * memory ran out.
 */
static nb_node *reciprocal_counts(nb_graph *g, const nb__window *q, nb_shape xs, bool input_only)
{
    int64_t oh = q->ax[0].out, ow = q->ax[1].out;
    float *r = nb_malloc((size_t)(oh * ow) * sizeof *r);
    if (!r)
        return nb_graph_fail(g, NB_ERR_NOMEM, "avgpool2d: no memory for the %lldx%lld window "
                             "counts", (long long)oh, (long long)ow), NULL;
    for (int64_t i = 0; i < oh; i++) {
        int64_t ch = nb__window_count(&q->ax[0], i, xs.dim[2], input_only);
        for (int64_t j = 0; j < ow; j++)
            r[i * ow + j] = (float)(1.0 / (double)(ch * nb__window_count(&q->ax[1], j, xs.dim[3],
                                                                          input_only)));
    }
    nb_node *c = nb_constant(g, NB_SHAPE(oh, ow), r);
    nb_free(r);
    return c;
}

/* True when every window of an average divides by the window's size: no
 * exclude_pad, and no ceil mode window overhangs the padding. */
static bool uniform_count(const nb__window *q, bool exclude_pad)
{
    return !exclude_pad && !q->ax[0].extra && !q->ax[1].extra;
}

/* cols [N, C·kh·kw, L] → reduced over each window → [N, C, OH, OW]: the
 * maximum, or the sum times 1/(kh·kw), or times a count per window. */
static nb_node *pool_reduce(nb_graph *g, nb_node *cols, nb_shape xs, const nb__window *q,
                            bool max, bool exclude_pad)
{
    int64_t n = xs.dim[0], c = xs.dim[1], k2 = q->ax[0].k * q->ax[1].k;
    int64_t oh = q->ax[0].out, ow = q->ax[1].out;
    int axis = 2;
    nb_node *v = nb_reshape(g, cols, NB_SHAPE(n, c, k2, oh * ow));
    if (max)
        return nb_reshape(g, nb_reduce_max(g, v, &axis, 1, false), NB_SHAPE(n, c, oh, ow));
    v = nb_sum(g, v, &axis, 1, false);
    if (uniform_count(q, exclude_pad))
        return nb_reshape(g, nb_mul(g, v, nb_scalar(g, (float)(1.0 / (double)k2))),
                          NB_SHAPE(n, c, oh, ow));
    nb_node *r = reciprocal_counts(g, q, xs, exclude_pad);
    return r ? nb_mul(g, nb_reshape(g, v, NB_SHAPE(n, c, oh, ow)), r) : NULL;
}

/*
 * x [N, C, H, W] → [N, C, OH, OW], the maximum of each window; the padding
 * is -∞ (an explicit nb_pad before unfold2d, whose own padding is zeros),
 * so it never wins. Ties share the gradient. Refuses a size < 1, a negative
 * stride, pad or dilation, pad >= size, a window reading padding only, a
 * rank other than 4 and a window larger than the padded input.
 */
nb_node *nb_maxpool2d(nb_graph *g, nb_node *x, nb_pool2d_opts o)
{
    if (nb__layer_null_input(g, x, "maxpool2d") || nb_layer_scope(g, "maxpool2d", o.name) != NB_OK)
        return NULL;
    int first = nb_graph_node_count(g);
    nb__window q;
    if (!pool_options(g, x, &o, true, &q))
        return NULL;
    nb_node *cols = nb__window_columns(g, x, &q, -INFINITY);
    if (!cols)
        return nb__layer_end(g, NULL);
    return nb__layer_done(g, (nb_layer_record){.kind = NB_LAYER_MAXPOOL2D, .input = x, .pool = o},
                          first, pool_reduce(g, cols, nb_node_shape(x), &q, true, false));
}

/*
 * x [N, C, H, W] → [N, C, OH, OW], the mean of each window: zero padding
 * counted (every window divides by its size, but for the part of a ceil
 * mode window past the padding), or with exclude_pad only the input pixels
 * (a constant of counts). Refuses a size < 1, a negative stride, pad or
 * dilation, a rank other than 4, a window larger than the padded input,
 * and with exclude_pad a window reading padding only.
 */
nb_node *nb_avgpool2d(nb_graph *g, nb_node *x, nb_pool2d_opts o)
{
    if (nb__layer_null_input(g, x, "avgpool2d") || nb_layer_scope(g, "avgpool2d", o.name) != NB_OK)
        return NULL;
    int first = nb_graph_node_count(g);
    nb__window q;
    if (!pool_options(g, x, &o, false, &q))
        return NULL;
    nb_node *cols = nb__window_columns(g, x, &q, 0.0f);
    if (!cols)
        return nb__layer_end(g, NULL);
    return nb__layer_done(g, (nb_layer_record){.kind = NB_LAYER_AVGPOOL2D, .input = x, .pool = o},
                          first, pool_reduce(g, cols, nb_node_shape(x), &q, false,
                                             o.exclude_pad));
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
