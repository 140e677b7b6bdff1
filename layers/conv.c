/*
 * conv.c — 2-D convolution and its unshared cousin, the locally connected
 * layer, both composed as the lecture puts them: unfold2d gathers every
 * window into a column, then a matrix product applies the weights — one
 * kernel matrix for all positions (conv2d), or one per position (local2d).
 *
 * Groups split the C·kh·kw rows of the columns into G contiguous blocks of
 * (C/G)·kh·kw rows, since unfold2d orders rows channel first: group k reads
 * channels [k·C/G, (k+1)·C/G) and writes filters [k·F/G, (k+1)·F/G). Viewing
 * the groups as one more batch dimension of matmul does every group at once,
 * which equals slicing x and w per group, convolving and concatenating.
 */
#include "layers_internal.h"

/* The options of one layer with defaults applied, and its geometry. */
typedef struct conv_geom {
    int64_t n, c, h, w;   /* input [N, C, H, W] */
    int64_t f, groups;    /* filters, groups */
    int64_t kh, kw;       /* kernel */
    int64_t k;            /* rows per group: (C/groups)·kh·kw */
    int64_t oh, ow;       /* output positions */
    nb__window win;
} conv_geom;

/* Refuses a negative stride, padding, dilation or groups, naming it. */
static bool conv_nonnegative(nb_graph *g, const nb_conv2d_opts *o)
{
    static const char *const names[] = {"stride", "pad", "dilation", "groups", "sh", "sw", "dh",
                                        "dw", "pads[0] (top)", "pads[1] (left)",
                                        "pads[2] (bottom)", "pads[3] (right)"};
    const int v[] = {o->stride, o->pad, o->dilation, o->groups, o->sh, o->sw, o->dh, o->dw,
                     o->pads[0], o->pads[1], o->pads[2], o->pads[3]};
    return nb__window_nonnegative(g, names, v, 12);
}

/* Checks the options, then the input, against each other; fills *q. */
static bool conv_options(nb_graph *g, nb_node *x, const nb_conv2d_opts *o, conv_geom *q)
{
    int kh = o->kh ? o->kh : o->kernel, kw = o->kw ? o->kw : o->kernel;
    int groups = o->groups ? o->groups : 1;
    nb_shape xs = nb_node_shape(x);
    char d[300];
    nb__layer_describe(x, d, sizeof d);
    bool ok = false;
    q->win = nb__window_conv(o);
    if (o->filters < 1)
        nb__layer_refuse(g, NB_ERR_ARG, "filters %lld must be >= 1", (long long)o->filters);
    else if (kh < 1 || kw < 1)
        nb__layer_refuse(g, NB_ERR_ARG, "kernel %dx%d must be >= 1 (set kernel, or kh and kw)", kh,
                         kw);
    else if (!conv_nonnegative(g, o))
        return false; /* refused, naming the value */
    else if (!nb__layer_activation_ok(o->activation))
        nb__layer_refuse(g, NB_ERR_ARG, "activation %d is unknown", (int)o->activation);
    else if (xs.rank != 4)
        nb__layer_refuse(g, NB_ERR_SHAPE, "input %s must have rank 4 [N,C,H,W], not %d", d,
                         xs.rank);
    else if (xs.dim[1] % groups)
        nb__layer_refuse(g, NB_ERR_ARG, "groups %d does not divide the %lld input channels of %s",
                         groups, (long long)xs.dim[1], d);
    else if (o->filters % groups)
        nb__layer_refuse(g, NB_ERR_ARG, "groups %d does not divide filters %lld", groups,
                         (long long)o->filters);
    else
        ok = nb__window_fit(g, x, "kernel", &q->win);
    if (!ok)
        return false;
    nb__window win = q->win;
    *q = (conv_geom){.n = xs.dim[0], .c = xs.dim[1], .h = xs.dim[2], .w = xs.dim[3],
                     .f = o->filters, .groups = groups, .kh = kh, .kw = kw,
                     .k = xs.dim[1] / groups * kh * kw, .oh = win.ax[0].out,
                     .ow = win.ax[1].out, .win = win};
    return true;
}

/* unfold2d(x) [N, C·kh·kw, L] (after an nb_pad of zeros when the two sides
 * of an axis are padded differently); NULL with the message of the op that
 * refused. */
static nb_node *columns(nb_graph *g, nb_node *x, const conv_geom *q)
{
    return nb__window_columns(g, x, &q->win, 0.0f);
}

/* ---------------------------------------------------------------- conv2d */

/* w [F, C/G, kh, kw] · cols [N, C·kh·kw, L] → [N, F, L]; with groups, the
 * product runs over [G, F/G, k] · [N, G, k, L] → [N, G, F/G, L]. */
static nb_node *conv_product(nb_graph *g, nb_node *w, nb_node *cols, const conv_geom *q)
{
    int64_t l = q->oh * q->ow;
    if (q->groups == 1)
        return nb_matmul(g, nb_reshape(g, w, NB_SHAPE(q->f, q->k)), cols, false, false);
    nb_node *wg = nb_reshape(g, w, NB_SHAPE(q->groups, q->f / q->groups, q->k));
    nb_node *cg = nb_reshape(g, cols, NB_SHAPE(q->n, q->groups, q->k, l));
    return nb_reshape(g, nb_matmul(g, wg, cg, false, false), NB_SHAPE(q->n, q->f, l));
}

/*
 * x [N, C, H, W] → act(conv(x, w) + b) [N, F, OH, OW], w [F, C/G, kh, kw]
 * (Glorot uniform by default with fan_in (C/G)·kh·kw and fan_out F·kh·kw/G),
 * b [F] (zeros by default) broadcast as [F, 1, 1]. Refuses filters < 1,
 * kernel < 1, a negative stride/pad/dilation/groups (any axis or side), a
 * rank other than 4, and
 * groups not dividing C or F, and a kernel larger than the padded input.
 */
nb_node *nb_conv2d(nb_graph *g, nb_node *x, nb_conv2d_opts o)
{
    if (nb__layer_null_input(g, x, "conv2d") || nb_layer_scope(g, "conv2d", o.name) != NB_OK)
        return NULL;
    int first = nb_graph_node_count(g);
    conv_geom q;
    if (!conv_options(g, x, &o, &q))
        return NULL;
    nb_node *cols = columns(g, x, &q);
    if (!cols)
        return nb__layer_end(g, NULL);
    nb_node *w = nb_param_init(g, "w", NB_SHAPE(q.f, q.c / q.groups, q.kh, q.kw), o.init, q.k,
                               q.f * q.kh * q.kw / q.groups);
    nb_node *y = nb_reshape(g, conv_product(g, w, cols, &q), NB_SHAPE(q.n, q.f, q.oh, q.ow));
    if (!o.no_bias) {
        nb_node *b = nb_param_init(g, "b", NB_SHAPE(q.f), nb__layer_bias_init(o.bias_init), q.k,
                                   q.f * q.kh * q.kw / q.groups);
        y = nb_add(g, y, nb_reshape(g, b, NB_SHAPE(q.f, 1, 1)));
    }
    return nb__layer_done(g, (nb_layer_record){.kind = NB_LAYER_CONV2D, .input = x, .conv = o},
                          first, nb_activate(g, y, o.activation));
}

/* ---------------------------------------------------------------- local2d */

/*
 * cols [N, G·k, L] with w [L, k, F] (one k×F matrix per position l):
 * y[n, f, l] = Σ_r cols[n, r, l] · w[l, r, f], as a product batched over l
 * (and groups): cols → [N, G, k, L] → [L, G, N, k]; w → [L, k, G, F/G] →
 * [L, G, k, F/G]; product [L, G, N, F/G] → [N, G, F/G, L] = [N, F, L].
 */
static nb_node *local_product(nb_graph *g, nb_node *w, nb_node *cols, const conv_geom *q)
{
    static const int cols_perm[] = {3, 1, 0, 2}, w_perm[] = {0, 2, 1, 3}, y_perm[] = {2, 1, 3, 0};
    int64_t l = q->oh * q->ow, fg = q->f / q->groups;
    nb_node *c = nb_reshape(g, cols, NB_SHAPE(q->n, q->groups, q->k, l));
    c = nb_permute(g, c, cols_perm);
    nb_node *wg = q->groups == 1 ? nb_reshape(g, w, NB_SHAPE(l, 1, q->k, fg))
                                 : nb_permute(g, nb_reshape(g, w, NB_SHAPE(l, q->k, q->groups, fg)),
                                              w_perm);
    nb_node *y = nb_permute(g, nb_matmul(g, c, wg, false, false), y_perm);
    return nb_reshape(g, y, NB_SHAPE(q->n, q->f, l));
}

/*
 * x [N, C, H, W] → act(local(x, w) + b) [N, F, OH, OW]: a convolution whose
 * every output position l has its own weights, w [OH·OW, (C/G)·kh·kw, F]
 * (Glorot uniform by default, fans as conv2d's) and its own bias,
 * b [F, OH·OW] (zeros by default). Same options and refusals as conv2d.
 */
nb_node *nb_local2d(nb_graph *g, nb_node *x, nb_conv2d_opts o)
{
    if (nb__layer_null_input(g, x, "local2d") || nb_layer_scope(g, "local2d", o.name) != NB_OK)
        return NULL;
    int first = nb_graph_node_count(g);
    conv_geom q;
    if (!conv_options(g, x, &o, &q))
        return NULL;
    nb_node *cols = columns(g, x, &q);
    if (!cols)
        return nb__layer_end(g, NULL);
    int64_t l = q.oh * q.ow, fan_out = q.f * q.kh * q.kw / q.groups;
    nb_node *w = nb_param_init(g, "w", NB_SHAPE(l, q.k, q.f), o.init, q.k, fan_out);
    nb_node *y = local_product(g, w, cols, &q);
    if (!o.no_bias)
        y = nb_add(g, y, nb_param_init(g, "b", NB_SHAPE(q.f, l), nb__layer_bias_init(o.bias_init),
                                       q.k, fan_out));
    y = nb_reshape(g, y, NB_SHAPE(q.n, q.f, q.oh, q.ow));
    return nb__layer_done(g, (nb_layer_record){.kind = NB_LAYER_LOCAL2D, .input = x, .conv = o},
                          first, nb_activate(g, y, o.activation));
}
