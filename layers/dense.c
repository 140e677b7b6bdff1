/*
 * dense.c — the fully connected layer, y = act(x·W + b), and flatten, which
 * turns images into the rows a dense layer reads.
 */
#include "layers_internal.h"

/* x [..., in] · w [in, units]: a rank-1 x is one row, viewed as [1, in] for
 * matmul and back; higher ranks broadcast w over their leading dimensions
 * (one sgemm for all rows). */
static nb_node *times_w(nb_graph *g, nb_node *x, nb_node *w, int64_t in, int64_t units)
{
    if (nb_node_shape(x).rank > 1)
        return nb_matmul(g, x, w, false, false);
    nb_node *row = nb_matmul(g, nb_reshape(g, x, NB_SHAPE(1, in)), w, false, false);
    return nb_reshape(g, row, NB_SHAPE(units));
}

/* "'conv2d2' [N,16,5,5]": x by its name, else its layer, with the batch
 * (the leading axis) shown as N. */
static const char *describe_batched(const nb_node *x, char *buf, size_t size)
{
    char label[160];
    const char *scope = nb_node_scope(x);
    if (!nb_node_name(x) && scope)
        snprintf(label, sizeof label, "%s", scope);
    else
        nb_node_label(x, label, sizeof label);
    nb_shape s = nb_node_shape(x);
    int at = snprintf(buf, size, "'%s' [N", label);
    for (int i = 1; i < s.rank && at > 0 && (size_t)at < size; i++)
        at += snprintf(buf + at, size - (size_t)at, ",%lld", (long long)s.dim[i]);
    if (at > 0 && (size_t)at < size)
        snprintf(buf + at, size - (size_t)at, "]");
    return buf;
}

/*
 * x [..., in] → act(x · w + b) [..., units] with w [in, units] (Glorot
 * uniform by default, fan_in = in, fan_out = units) and b [units] (zeros by
 * default) under the layer's scope ("dense1/w"). Refuses units < 1, an
 * unknown activation, a rank-0 input, and an input of rank 4 or more (a
 * conv output that lacks a flatten) with a hint to flatten it first.
 */
nb_node *nb_dense(nb_graph *g, nb_node *x, nb_dense_opts o)
{
    if (nb__layer_null_input(g, x, "dense") || nb_layer_scope(g, "dense", o.name) != NB_OK)
        return NULL;
    int first = nb_graph_node_count(g);
    nb_shape xs = nb_node_shape(x);
    char d[300];
    if (o.units < 1)
        return nb__layer_refuse(g, NB_ERR_ARG, "units %lld must be >= 1", (long long)o.units);
    if (!nb__layer_activation_ok(o.activation))
        return nb__layer_refuse(g, NB_ERR_ARG, "activation %d is unknown", (int)o.activation);
    if (xs.rank < 1)
        return nb__layer_refuse(g, NB_ERR_SHAPE, "input %s must have rank >= 1 [..., in]",
                                nb__layer_describe(x, d, sizeof d));
    if (xs.rank >= 4)
        return nb__layer_refuse(g, NB_ERR_SHAPE, "input %s has %d axes, like an image batch "
                                "[N, C, H, W]; a dense layer reads rows [N, in]: put a flatten "
                                "before it (it gives [N, %lld])", describe_batched(x, d, sizeof d),
                                xs.rank, (long long)(nb_shape_numel(xs) / xs.dim[0]));
    int64_t in = xs.dim[xs.rank - 1];
    nb_node *w = nb_param_init(g, "w", NB_SHAPE(in, o.units), o.init, in, o.units);
    nb_node *y = times_w(g, x, w, in, o.units);
    if (!o.no_bias)
        y = nb_add(g, y, nb_param_init(g, "b", NB_SHAPE(o.units), nb__layer_bias_init(o.bias_init),
                                       in, o.units));
    return nb__layer_done(g, (nb_layer_record){.kind = NB_LAYER_DENSE, .input = x, .dense = o},
                          first, nb_activate(g, y, o.activation));
}

/* x [N, ...] → [N, prod(...)] (a view; [N] becomes [N, 1]). Refuses a
 * rank-0 x, which has no batch axis. */
nb_node *nb_flatten(nb_graph *g, nb_node *x)
{
    if (nb__layer_null_input(g, x, "flatten"))
        return NULL;
    nb_shape xs = nb_node_shape(x);
    char d[300];
    if (xs.rank < 1)
        return nb_graph_fail(g, NB_ERR_SHAPE, "flatten: input %s must have rank >= 1 [N, ...]",
                             nb__layer_describe(x, d, sizeof d)), NULL;
    return nb_reshape(g, x, NB_SHAPE(xs.dim[0], -1));
}
