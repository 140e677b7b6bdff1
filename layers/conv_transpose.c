/*
 * conv_transpose.c — the transposed convolution, PyTorch's
 * nn.ConvTranspose2d with its parameter layout: the adjoint of conv2d's map
 * from image to output, so an image grows (an upsampling decoder). Composed
 * as that adjoint reads: the kernel matrix, transposed, times the input
 * gives one column of kh·kw taps per filter and input pixel; fold2d
 * (col2im) sums each column into the output pixels its window covers.
 *
 * With w [C, F/G, kh, kw] viewed as [C, (F/G)·kh·kw] per group, the columns
 * are cols[n, f·kh·kw + i·kw + j, l] = Σ_c w[c, f, i, j]·x[n, c, l] — the
 * row order fold2d reads — and fold2d with the output size OH×OW, the
 * stride, padding and dilation places tap (i, j) of input pixel (y, x) at
 * output (y·s − p + i·d, x·s − p + j·d), which is the definition.
 *
 * fold2d's window over the output must take exactly H×W positions: with
 * OH = (H−1)·s − 2p + d·(kh−1) + op + 1 it takes H + ⌊op/s⌋ rows, so an
 * output_padding op ≥ stride (allowed, as in PyTorch, when op < dilation)
 * needs ⌊op/s⌋ more input rows: zeros, padded below x, which add nothing.
 */
#include "layers_internal.h"

/* The options with defaults applied, and the geometry of one build. */
typedef struct convt_geom {
    int64_t n, c, h, w;    /* input [N, C, H, W] */
    int64_t f, groups;     /* filters, groups */
    int64_t kh, kw;
    int64_t oh, ow;        /* output */
    int64_t eh, ew;        /* zero rows and columns padded below and right of x */
    nb_window2d win;
} convt_geom;

/* The options alone, before the input is looked at; true when they hold. */
static bool options_ok(nb_graph *g, const nb_conv_transpose2d_opts *o, int kh, int kw)
{
    int s = o->stride ? o->stride : 1, d = o->dilation ? o->dilation : 1;
    if (o->filters < 1)
        nb__layer_refuse(g, NB_ERR_ARG, "filters %lld must be >= 1", (long long)o->filters);
    else if (kh < 1 || kw < 1)
        nb__layer_refuse(g, NB_ERR_ARG, "kernel %dx%d must be >= 1 (set kernel, or kh and kw)", kh,
                         kw);
    else if (o->stride < 0 || o->pad < 0 || o->output_padding < 0 || o->dilation < 0 ||
             o->groups < 0)
        nb__layer_refuse(g, NB_ERR_ARG, "stride %d, pad %d, output_padding %d, dilation %d and "
                         "groups %d must be >= 0 (0: the default)", o->stride, o->pad,
                         o->output_padding, o->dilation, o->groups);
    else if (o->output_padding >= s && o->output_padding >= d)
        nb__layer_refuse(g, NB_ERR_ARG, "output_padding %d must be smaller than the stride %d or "
                         "the dilation %d (as in PyTorch: a larger one adds rows no input "
                         "reaches)", o->output_padding, s, d);
    else if (!nb__layer_activation_ok(o->activation))
        nb__layer_refuse(g, NB_ERR_ARG, "activation %d is unknown", (int)o->activation);
    else
        return true;
    return false;
}

/* Checks the options, then the input, against each other; fills *q. */
static bool convt_options(nb_graph *g, nb_node *x, const nb_conv_transpose2d_opts *o,
                          convt_geom *q)
{
    int kh = o->kh ? o->kh : o->kernel, kw = o->kw ? o->kw : o->kernel;
    int groups = o->groups ? o->groups : 1;
    int s = o->stride ? o->stride : 1, d = o->dilation ? o->dilation : 1;
    if (!options_ok(g, o, kh, kw))
        return false;
    nb_shape xs = nb_node_shape(x);
    char dx[300];
    nb__layer_describe(x, dx, sizeof dx);
    if (xs.rank != 4)
        return nb__layer_refuse(g, NB_ERR_SHAPE, "input %s must have rank 4 [N,C,H,W], not %d",
                                dx, xs.rank), false;
    if (xs.dim[1] % groups)
        return nb__layer_refuse(g, NB_ERR_ARG, "groups %d does not divide the %lld input "
                                "channels of %s", groups, (long long)xs.dim[1], dx), false;
    if (o->filters % groups)
        return nb__layer_refuse(g, NB_ERR_ARG, "groups %d does not divide filters %lld", groups,
                                (long long)o->filters), false;
    int64_t oh = (xs.dim[2] - 1) * s - 2 * (int64_t)o->pad + (int64_t)d * (kh - 1) +
                 o->output_padding + 1;
    int64_t ow = (xs.dim[3] - 1) * s - 2 * (int64_t)o->pad + (int64_t)d * (kw - 1) +
                 o->output_padding + 1;
    if (oh < 1 || ow < 1)
        return nb__layer_refuse(g, NB_ERR_SHAPE, "output size %lldx%lld must be >= 1: pad %d "
                                "takes more than a kernel %dx%d (stride %d, dilation %d) gives "
                                "input %s", (long long)oh, (long long)ow, o->pad, kh, kw, s, d,
                                dx), false;
    *q = (convt_geom){.n = xs.dim[0], .c = xs.dim[1], .h = xs.dim[2], .w = xs.dim[3],
                      .f = o->filters, .groups = groups, .kh = kh, .kw = kw, .oh = oh, .ow = ow,
                      .eh = o->output_padding / s, .ew = o->output_padding / s};
    q->win = (nb_window2d){.kh = kh, .kw = kw, .sh = s, .sw = s, .ph = o->pad, .pw = o->pad,
                           .dh = d, .dw = d};
    return true;
}

/* w [C, F/G, kh, kw] transposed times x [N, C, H', W'] → cols
 * [N, F·kh·kw, H'·W']; with groups, the product runs over [G, C/G, K]ᵀ ·
 * [N, G, C/G, L] → [N, G, K, L], K = (F/G)·kh·kw. */
static nb_node *columns(nb_graph *g, nb_node *w, nb_node *x, const convt_geom *q)
{
    int64_t l = (q->h + q->eh) * (q->w + q->ew), k = q->f / q->groups * q->kh * q->kw;
    if (q->eh || q->ew) {
        int64_t after[4] = {0, 0, q->eh, q->ew};
        x = nb_pad(g, x, NULL, after, 0.0f);
    }
    if (q->groups == 1)
        return nb_matmul(g, nb_reshape(g, w, NB_SHAPE(q->c, k)),
                         nb_reshape(g, x, NB_SHAPE(q->n, q->c, l)), true, false);
    nb_node *wg = nb_reshape(g, w, NB_SHAPE(q->groups, q->c / q->groups, k));
    nb_node *xg = nb_reshape(g, x, NB_SHAPE(q->n, q->groups, q->c / q->groups, l));
    return nb_reshape(g, nb_matmul(g, wg, xg, true, false), NB_SHAPE(q->n, q->f * q->kh * q->kw, l));
}

/*
 * x [N, C, H, W] → act(conv_transpose(x, w) + b) [N, F, OH, OW],
 * w [C, F/G, kh, kw] (Glorot uniform by default, fan_in (C/G)·kh·kw and
 * fan_out (F/G)·kh·kw: the taps of the data flow, whichever way it is
 * read), b [F] (zeros by default) broadcast as [F, 1, 1]. Refusals as
 * conv2d's, plus output_padding not below stride or dilation and an output
 * of no pixels (too much padding).
 */
nb_node *nb_conv_transpose2d(nb_graph *g, nb_node *x, nb_conv_transpose2d_opts o)
{
    if (nb__layer_null_input(g, x, "conv_transpose2d") ||
        nb_layer_scope(g, "conv_transpose2d", o.name) != NB_OK)
        return NULL;
    int first = nb_graph_node_count(g);
    convt_geom q;
    if (!convt_options(g, x, &o, &q))
        return NULL;
    int64_t fan_in = q.c / q.groups * q.kh * q.kw, fan_out = q.f / q.groups * q.kh * q.kw;
    nb_node *w = nb_param_init(g, "w", NB_SHAPE(q.c, q.f / q.groups, q.kh, q.kw), o.init, fan_in,
                               fan_out);
    nb_node *y = nb_fold2d(g, columns(g, w, x, &q), q.oh, q.ow, q.win);
    if (!o.no_bias) {
        nb_node *b = nb_param_init(g, "b", NB_SHAPE(q.f), nb__layer_bias_init(o.bias_init), fan_in,
                                   fan_out);
        y = nb_add(g, y, nb_reshape(g, b, NB_SHAPE(q.f, 1, 1)));
    }
    nb_layer_record r = {.kind = NB_LAYER_CONV_TRANSPOSE2D, .input = x, .conv_transpose = o};
    return nb__layer_done(g, r, first, nb_activate(g, y, o.activation));
}
