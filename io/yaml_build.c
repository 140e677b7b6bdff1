/*
 * yaml_build.c — a parsed model file (io_internal.h) lowered to a graph
 * through the public builders: nb_input for the inputs and the targets, the
 * layer functions for layers, the primitive builders for ops, the loss
 * functions for the loss. It is an nb_model_fn, so the trainer calls it once
 * per batch size and mode; under the graph's reuse setting a second build
 * finds the first build's parameters by name.
 *
 * A node that cannot be built (shapes that do not fit, an axis out of
 * range) leaves the graph's message rewritten to name the file, the line of
 * the layer or node and what it is: "lenet5.yaml:9:5: layer 3 (conv2d):
 * conv2d2: input ... must have rank 4". Values built so far are called
 * by their layer's name ('conv2d1', not 'conv2d1/add#8'), and the check
 * build that model files get when read (nb__model_probe, at the end)
 * shows the batch as N.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io_internal.h"
#include "yaml_sections.h"

/* [batch, dims of one example...]. The parser keeps ranks below NB_MAX_RANK. */
static nb_shape with_batch(int64_t batch, nb_shape s)
{
    nb_shape r = {.rank = s.rank + 1};
    r.dim[0] = batch;
    for (int i = 0; i < s.rank; i++)
        r.dim[i + 1] = s.dim[i];
    return r;
}

/* ---------------------------------------------------------------- messages */

/* "node 'h1' (add)", "layer 3 'logits' (dense)" or "layer 3 (conv2d)". */
static const char *describe(const nb_model_file *m, const nb__ynode *n, char *buf, size_t size)
{
    const char *op = nb__yop_name(n->op);
    if (m->dag)
        snprintf(buf, size, "node '%s' (%s)", n->name, op);
    else if (n->name)
        snprintf(buf, size, "layer %d '%s' (%s)", n->index, n->name, op);
    else
        snprintf(buf, size, "layer %d (%s)", n->index, op);
    return buf;
}

/* Replaces every "'from'" in msg by "'to'" (to no longer than from). */
static void replace_quoted(char *msg, const char *from, const char *to)
{
    size_t lf = strlen(from), lt = strlen(to);
    for (char *p = strchr(msg, '\''); p && lt <= lf; p = strchr(p + 1, '\'')) {
        if (strncmp(p + 1, from, lf) || p[lf + 1] != '\'')
            continue;
        memmove(p + 1 + lt, p + 1 + lf, strlen(p + 1 + lf) + 1);
        memcpy(p + 1, to, lt);
    }
}

/* Messages call a layer's output by the layer ('conv2d1'), not by the op
 * that ends the layer ('conv2d1/add#8'): a value built so far that has no
 * name of its own but a scope is relabelled as its scope's last part. */
static void name_values(char *msg, nb_node *const *vals, int n_vals)
{
    for (int i = 0; i < n_vals; i++) {
        const char *scope = nb_node_scope(vals[i]);
        if (!vals[i] || nb_node_name(vals[i]) || !scope)
            continue;
        const char *last = strrchr(scope, '/');
        char label[160];
        replace_quoted(msg, nb_node_label(vals[i], label, sizeof label), last ? last + 1 : scope);
    }
}

/* Drops "word: " from the start of msg: `who` already says it. */
static void drop_prefix(char *msg, const char *word)
{
    size_t n = word ? strlen(word) : 0;
    if (n && !strncmp(msg, word, n) && msg[n] == ':' && msg[n + 1] == ' ')
        memmove(msg, msg + n + 2, strlen(msg + n + 2) + 1);
}

/* Replaces the graph's message by "file:line:col: who: message", with the
 * first n_vals values named as the file names them and without a leading
 * "conv2d2: " or "add: " that repeats node n's name or op (n may be NULL);
 * returns the graph's status (NB_ERR_ARG if a builder returned NULL
 * silently). */
static nb_status relabel(nb_graph *g, const nb_model_file *m, int line, int col, const char *who,
                         const nb__ynode *n, nb_node *const *vals, int n_vals)
{
    char msg[512];
    nb_status st = nb_graph_status(g);
    snprintf(msg, sizeof msg, "%s", st != NB_OK ? nb_graph_error(g) : "the builder returned NULL");
    name_values(msg, vals, n_vals);
    if (n) {
        drop_prefix(msg, n->name);
        drop_prefix(msg, nb__yop_name(n->op));
    }
    nb_graph_clear_error(g);
    if (line > 0)
        nb_graph_fail(g, st != NB_OK ? st : NB_ERR_ARG, "%s:%d:%d: %s: %s", m->file, line, col,
                      who, msg);
    else
        nb_graph_fail(g, st != NB_OK ? st : NB_ERR_ARG, "%s: %s: %s", m->file, who, msg);
    return nb_graph_status(g);
}

/* An axis of a node's input with the batch as axis 0 and negatives from the
 * end; refuses the batch axis itself and axes past the rank. */
static bool example_axis(nb_graph *g, const nb__ynode *n, nb_node *x, int64_t axis, int *out)
{
    nb_shape s = nb_node_shape(x);
    int64_t a = axis < 0 ? axis + s.rank : axis;
    char b[128];
    if (a == 0)
        nb_graph_fail(g, NB_ERR_ARG, "%s: axis %lld is the batch axis; the first axis of an "
                      "example is 1 (axes count the batch as 0)", nb__yop_name(n->op),
                      (long long)axis);
    else if (a < 0 || a >= s.rank)
        nb_graph_fail(g, NB_ERR_ARG, "%s: axis %lld is out of range for input %s (rank %d)",
                      nb__yop_name(n->op), (long long)axis, nb_shape_format(s, b, sizeof b),
                      s.rank);
    *out = (int)a;
    return a > 0 && a < s.rank;
}

/* ---------------------------------------------------------------- layers */

static nb_conv2d_opts conv_opts(const nb__ynode *n)
{
    const nb__yattrs *a = &n->a;
    return (nb_conv2d_opts){
        .filters = a->filters, .kernel = (int)a->kernel, .kh = (int)a->kh, .kw = (int)a->kw,
        .sh = (int)a->stride[0], .sw = (int)a->stride[1], .dh = (int)a->dilation[0],
        .dw = (int)a->dilation[1],
        .pads = {(int)a->pad[0], (int)a->pad[1], (int)a->pad[2], (int)a->pad[3]},
        .groups = (int)a->groups, .activation = a->activation, .no_bias = !a->bias,
        .init = a->init, .bias_init = a->bias_init, .name = n->name};
}

static nb_conv_transpose2d_opts conv_transpose_opts(const nb__ynode *n)
{
    const nb__yattrs *a = &n->a;
    return (nb_conv_transpose2d_opts){
        .filters = a->filters, .kernel = (int)a->kernel, .kh = (int)a->kh, .kw = (int)a->kw,
        .stride = (int)a->stride[0], .pad = (int)a->pad[0], .output_padding = (int)a->output_padding,
        .dilation = (int)a->dilation[0], .groups = (int)a->groups, .activation = a->activation,
        .no_bias = !a->bias, .init = a->init, .bias_init = a->bias_init, .name = n->name};
}

static nb_window2d window(const nb__yattrs *a)
{
    int kh = (int)(a->kernel ? a->kernel : a->kh), kw = (int)(a->kernel ? a->kernel : a->kw);
    return (nb_window2d){.kh = kh, .kw = kw, .sh = (int)a->stride[0], .sw = (int)a->stride[1],
                         .ph = (int)a->pad[0], .pw = (int)a->pad[1], .dh = (int)a->dilation[0],
                         .dw = (int)a->dilation[1]};
}

static nb_rnn_opts rnn_opts(const nb__ynode *n)
{
    const nb__yattrs *a = &n->a;
    return (nb_rnn_opts){.hidden = a->hidden, .layers = (int)a->layers,
                         .bidirectional = a->bidirectional, .sequence = a->sequence,
                         .no_bias = !a->bias, .init = a->init, .name = n->name};
}

/*
 * A model file's states are batch first, [N, layers·directions, hidden], as
 * every tensor a file names; the C layers take and give [layers·directions,
 * N, hidden]. Initial state j (h0, c0) of a recurrent node, checked and
 * turned; NULL after a message.
 */
static nb_node *initial_state(nb_graph *g, const nb__ynode *n, nb_node *s, int j)
{
    static const int swap[3] = {1, 0, 2};
    const nb__yattrs *a = &n->a;
    nb_shape got = nb_node_shape(s), want = nb_node_shape(s);
    want.rank = 3;
    want.dim[1] = (a->layers ? a->layers : 1) * (a->bidirectional ? 2 : 1);
    want.dim[2] = a->hidden;
    char b[128], w[128];
    if (got.rank == 3 && got.dim[1] == want.dim[1] && got.dim[2] == want.dim[2])
        return nb_permute(g, s, swap);
    return nb_graph_fail(g, NB_ERR_SHAPE, "%s: %s is %s; it must be [N, layers·directions, hidden] "
                         "= %s", nb__yop_name(n->op), j ? "c0" : "h0",
                         nb_shape_format(got, b, sizeof b),
                         nb_shape_format(got.rank >= 1 ? want : NB_SHAPE(1), w, sizeof w)), NULL;
}

/* rnn, gru, lstm: from the initial states in[1], in[2] when the node reads
 * them; the final states it names turned batch first and named. */
static nb_node *recurrent(nb_graph *g, const nb__ynode *n, nb_node *const *in)
{
    nb_rnn_opts o = rnn_opts(n);
    nb_node *final[2] = {NULL, NULL};
    if (n->state_in[0] && !(o.h0 = initial_state(g, n, in[1], 0)))
        return NULL;
    if (n->state_in[1] && !(o.c0 = initial_state(g, n, in[2], 1)))
        return NULL;
    o.h_n = n->state_out[0] ? &final[0] : NULL;
    o.c_n = n->state_out[1] ? &final[1] : NULL;
    nb_node *y = n->op == NB__Y_RNN ? nb_rnn(g, in[0], o)
                 : n->op == NB__Y_GRU ? nb_gru(g, in[0], o) : nb_lstm(g, in[0], o);
    static const int swap[3] = {1, 0, 2};
    for (int j = 0; y && j < 2; j++)
        if (final[j] && !nb_name(nb_permute(g, final[j], swap), n->state_out[j]))
            return NULL;
    return y;
}

/* The layers that have options structs (and scopes of their own); in[0]
 * is the input, in[1] and in[2] a recurrent layer's initial states. */
static nb_node *apply_layer(nb_graph *g, const nb__ynode *n, nb_node *const *in)
{
    nb_node *x = in[0];
    const nb__yattrs *a = &n->a;
    nb_pool2d_opts pool = {.size = (int)a->size, .kh = (int)a->kh, .kw = (int)a->kw,
                           .sh = (int)a->stride[0], .sw = (int)a->stride[1],
                           .dh = (int)a->dilation[0], .dw = (int)a->dilation[1],
                           .pads = {(int)a->pad[0], (int)a->pad[1], (int)a->pad[2],
                                    (int)a->pad[3]},
                           .ceil_mode = a->ceil_mode, .exclude_pad = !a->count_include_pad,
                           .name = n->name};
    int axis = 0;
    switch (n->op) {
    case NB__Y_DENSE:
        return nb_dense(g, x, (nb_dense_opts){.units = a->units, .activation = a->activation,
                                              .no_bias = !a->bias, .init = a->init,
                                              .bias_init = a->bias_init, .name = n->name});
    case NB__Y_CONV2D:
        return nb_conv2d(g, x, conv_opts(n));
    case NB__Y_LOCAL2D:
        return nb_local2d(g, x, conv_opts(n));
    case NB__Y_CONV_TRANSPOSE2D:
        return nb_conv_transpose2d(g, x, conv_transpose_opts(n));
    case NB__Y_MAXPOOL2D:
        return nb_maxpool2d(g, x, pool);
    case NB__Y_AVGPOOL2D:
        return nb_avgpool2d(g, x, pool);
    case NB__Y_FLATTEN:
        return nb_flatten(g, x);
    case NB__Y_DROPOUT:
        return nb_dropout(g, x, (float)a->rate);
    case NB__Y_LAYERNORM: /* axis 0 is the C default (-1): refused here as the batch axis */
        return !example_axis(g, n, x, a->axis, &axis) ? NULL :
               nb_layernorm(g, x, (nb_layernorm_opts){.axis = (int)a->axis, .eps = (float)a->eps,
                                                      .no_affine = !a->affine, .name = n->name});
    case NB__Y_GROUPNORM:
        return nb_groupnorm(g, x, (nb_groupnorm_opts){.groups = (int)a->groups, .eps = (float)a->eps,
                                                      .no_affine = !a->affine, .name = n->name});
    case NB__Y_RNN:
    case NB__Y_GRU:
    case NB__Y_LSTM:
        return recurrent(g, n, in);
    case NB__Y_EMBEDDING:
        return nb_embedding(g, x, (nb_embedding_opts){.vocab = a->vocab, .dim = a->dim,
                                                      .init = a->init, .name = n->name});
    default: /* NB__Y_BATCHNORM */
        return nb_batchnorm(g, x, (nb_batchnorm_opts){.momentum = (float)a->momentum,
                                                      .eps = (float)a->eps, .name = n->name});
    }
}

/* ---------------------------------------------------------------- elementwise */

/* The activations and global pools that are compositions, and matmul; NULL
 * for other ops. */
static nb_node *apply_elementwise(nb_graph *g, const nb__ynode *n, nb_node *const *in)
{
    const nb__yattrs *a = &n->a;
    int axis = 0;
    switch (n->op) {
    case NB__Y_RELU:
        return nb_relu(g, in[0]);
    case NB__Y_THRESHOLD:
        return nb_threshold(g, in[0]);
    case NB__Y_LEAKY_RELU:
        return nb_leaky_relu(g, in[0], (float)a->alpha);
    case NB__Y_GELU:
        return nb_gelu(g, in[0]);
    case NB__Y_SILU:
        return nb_silu(g, in[0]);
    case NB__Y_ELU:
        return nb_elu(g, in[0], (float)a->alpha);
    case NB__Y_SOFTPLUS:
        return nb_softplus(g, in[0]);
    case NB__Y_GLOBAL_AVGPOOL2D:
        return nb_global_avgpool2d(g, in[0]);
    case NB__Y_GLOBAL_MAXPOOL2D:
        return nb_global_maxpool2d(g, in[0]);
    case NB__Y_SOFTMAX:
        return example_axis(g, n, in[0], a->axis, &axis) ? nb_softmax(g, in[0], axis) : NULL;
    case NB__Y_LOG_SOFTMAX:
        return example_axis(g, n, in[0], a->axis, &axis) ? nb_log_softmax(g, in[0], axis) : NULL;
    case NB__Y_MATMUL:
        return nb_matmul(g, in[0], in[1], a->transpose_a, a->transpose_b);
    default:
        return NULL;
    }
}

/* ---------------------------------------------------------------- shapes and axes */

/* sum, mean, reduce_max over example axes. */
static nb_node *apply_reduce(nb_graph *g, const nb__ynode *n, nb_node *x)
{
    const nb__yattrs *a = &n->a;
    int axes[NB_MAX_RANK];
    for (int i = 0; i < a->n_axes; i++)
        if (!example_axis(g, n, x, a->axes[i], &axes[i]))
            return NULL;
    if (n->op == NB__Y_SUM)
        return nb_sum(g, x, axes, a->n_axes, a->keepdims);
    if (n->op == NB__Y_MEAN)
        return nb_mean(g, x, axes, a->n_axes, a->keepdims);
    return nb_reduce_max(g, x, axes, a->n_axes, a->keepdims);
}

/* pad: before/after give one example's axes; the batch is never padded. */
static nb_node *apply_pad(nb_graph *g, const nb__ynode *n, nb_node *x)
{
    const nb__yattrs *a = &n->a;
    int rank = nb_node_shape(x).rank, given = a->n_before ? a->n_before : a->n_after;
    int64_t before[NB_MAX_RANK] = {0}, after[NB_MAX_RANK] = {0};
    char b[128];
    if (given != rank - 1)
        return nb_graph_fail(g, NB_ERR_SHAPE, "pad: %d sizes for input %s, whose examples have "
                             "%d axes", given, nb_shape_format(nb_node_shape(x), b, sizeof b),
                             rank - 1), NULL;
    for (int i = 0; i < given; i++) {
        before[i + 1] = a->n_before ? a->before[i] : 0;
        after[i + 1] = a->n_after ? a->after[i] : 0;
    }
    return nb_pad(g, x, before, after, (float)a->value);
}

/* Movement ops, reductions, the constant. */
static nb_node *apply_shaped(nb_graph *g, const nb__ynode *n, nb_node *const *in, int64_t batch)
{
    const nb__yattrs *a = &n->a;
    nb_node *x = n->n_in ? in[0] : NULL;
    int axis = 0, perm[NB_MAX_RANK];
    switch (n->op) {
    case NB__Y_SUM:
    case NB__Y_MEAN:
    case NB__Y_REDUCE_MAX:
        return apply_reduce(g, n, x);
    case NB__Y_RESHAPE:
        return nb_reshape(g, x, with_batch(batch, a->shape));
    case NB__Y_EXPAND:
        return nb_expand(g, x, with_batch(batch, a->shape));
    case NB__Y_PERMUTE:
        for (int i = 0; i < a->n_perm; i++)
            perm[i] = (int)a->perm[i];
        if (a->n_perm != nb_node_shape(x).rank)
            return nb_graph_fail(g, NB_ERR_SHAPE, "permute: perm has %d entries and the input "
                                 "has rank %d", a->n_perm, nb_node_shape(x).rank), NULL;
        return nb_permute(g, x, perm);
    case NB__Y_SLICE:
        return example_axis(g, n, x, a->axis, &axis)
                   ? nb_slice(g, x, axis, a->start, a->stop, a->step) : NULL;
    case NB__Y_PAD:
        return apply_pad(g, n, x);
    case NB__Y_CONCAT:
        return example_axis(g, n, x, a->axis, &axis) ? nb_concat(g, in, n->n_in, axis) : NULL;
    case NB__Y_UNFOLD2D:
        return nb_unfold2d(g, x, window(a));
    case NB__Y_FOLD2D:
        return nb_fold2d(g, x, a->h, a->w, window(a));
    default: /* NB__Y_FULL */
        return nb_full(g, a->shape, (float)a->value);
    }
}

/* ---------------------------------------------------------------- nodes */

static nb_node *apply(nb_graph *g, const nb__ynode *n, nb_node *const *in, int64_t batch)
{
    const nb_op_def *builtin = nb__yop_builtin(n->op);
    if (builtin)
        return nb_builtin_apply(g, builtin, in, n->n_in);
    if (n->op <= NB__Y_BATCHNORM)
        return apply_layer(g, n, in);
    if (n->op >= NB__Y_PARAM)
        return nb__ybuild_leaf(g, n);
    if (n->op <= NB__Y_MATMUL)
        return apply_elementwise(g, n, in);
    return apply_shaped(g, n, in, batch);
}

/* Names an op's result after its node when it was made in the node's own
 * scope (the top level, or the scopes of a name such as "block1/res") and
 * is a new node (not an input passed through, as inference dropout does):
 * layers with scopes are named by their scope instead. An automatic name a
 * node already holds (a rebuild under reuse) is left. */
static void name_result(nb_graph *g, nb_node *y, const nb__ynode *n, bool automatic,
                        nb_node *const *in)
{
    const char *scope = nb_node_scope(y), *here = nb_scope_current(g);
    bool layer = scope && (!here || strcmp(scope, here));
    if (!n->name || nb_node_name(y) || layer || (automatic && nb_graph_find(g, n->name)))
        return;
    for (int i = 0; i < n->n_in; i++)
        if (in[i] == y)
            return;
    nb_name(y, n->name);
}

/* Whether a name is one the file gives an input or a node. */
static bool file_name(const nb_model_file *m, const char *name)
{
    for (int i = 0; i < m->n_inputs; i++)
        if (!strcmp(m->inputs[i].name, name))
            return true;
    for (int k = 0; k < m->n_nodes; k++)
        if (m->nodes[k].name && !strcmp(m->nodes[k].name, name))
            return true;
    return false;
}

/*
 * The name of an unnamed layer, as messages, drawings and `nabla inspect`
 * call it: the automatic one nb_layer_scope gives its kind ("conv2d2",
 * "flatten1"), taken here and handed to the layer as its name, so the
 * numbering is exactly the layer's own. NULL for dropout (it names its own
 * scope), for a name the file gives another node, or on failure.
 */
static const char *auto_name(nb_graph *g, const nb_model_file *m, const nb__ynode *n, char *buf,
                             size_t size)
{
    if (n->name || n->op == NB__Y_DROPOUT || nb_layer_scope(g, nb__yop_name(n->op), NULL) != NB_OK)
        return NULL;
    const char *scope = nb_scope_current(g), *last = strrchr(scope, '/');
    snprintf(buf, size, "%s", last ? last + 1 : scope);
    nb_scope_pop(g);
    return n->op > NB__Y_BATCHNORM && file_name(m, buf) ? NULL : buf;
}

/*
 * Builds node k into vals[n_inputs + k]. `trainable: false` freezes the
 * parameters the node creates (a rebuild under reuse creates none and finds
 * them frozen already); a frozen batchnorm is also built in inference mode,
 * so it normalises with its running statistics and never updates them.
 */
static nb_status build_node(nb_graph *g, const nb_model_file *m, int k, nb_node **vals,
                            int64_t batch)
{
    nb__ynode named = m->nodes[k];
    char automatic[64];
    nb__yscoped scoped;
    if (!named.name)
        named.name = auto_name(g, m, &named, automatic, sizeof automatic);
    if (!nb__yscope_enter(g, named.name, &scoped)) {
        nb__yscope_leave(g, &scoped);
        return relabel(g, m, named.line, named.col, "node", NULL, vals, m->n_inputs + k);
    }
    named.name = scoped.anonymous ? NULL : scoped.last;
    const nb__ynode *n = &named;
    nb_node *in[NB__YAML_MAX_NODE_INPUTS];
    for (int i = 0; i < n->n_in; i++)
        in[i] = vals[n->in[i]];
    for (int j = 0; j < 2 && n->n_in == 1; j++) /* a recurrent layer's initial states */
        in[1 + j] = n->state_in[j] ? vals[n->state_in[j] - 1] : NULL;
    int before = nb_graph_num_params(g);
    bool training = nb_graph_training(g);
    if (!n->trainable && n->op == NB__Y_BATCHNORM)
        nb_graph_set_training(g, false);
    nb_node *y = apply(g, n, in, batch);
    nb_graph_set_training(g, training);
    if (y && nb_graph_status(g) == NB_OK)
        name_result(g, y, n, !m->nodes[k].name, in);
    nb__yscope_leave(g, &scoped);
    named.name = m->nodes[k].name ? m->nodes[k].name : named.name;
    if (!y || nb_graph_status(g) != NB_OK) {
        char who[128];
        return relabel(g, m, n->line, n->col, describe(m, n, who, sizeof who), n, vals,
                       m->n_inputs + k);
    }
    for (int i = before; !n->trainable && i < nb_graph_num_params(g); i++)
        nb_param_set_trainable(nb_graph_param(g, i), false);
    vals[m->n_inputs + k] = y;
    return NB_OK;
}

/* ---------------------------------------------------------------- targets and loss */

static nb_node *apply_loss(nb_graph *g, nb__yloss loss, double m_delta, nb_node *t, nb_node *y)
{
    switch (loss) {
    case NB__LOSS_SOFTMAX_CE:
        return nb_softmax_cross_entropy(g, t, y);
    case NB__LOSS_MSE:
        return nb_mse_loss(g, t, y);
    case NB__LOSS_BCE:
        return nb_bce_with_logits(g, t, y);
    case NB__LOSS_MARGIN_LOGISTIC:
        return nb_margin_loss(g, t, y, NB_MARGIN_LOGISTIC);
    case NB__LOSS_MARGIN_HINGE:
        return nb_margin_loss(g, t, y, NB_MARGIN_HINGE);
    case NB__LOSS_MARGIN_EXPONENTIAL:
        return nb_margin_loss(g, t, y, NB_MARGIN_EXPONENTIAL);
    case NB__LOSS_L1:
        return nb_l1_loss(g, t, y);
    case NB__LOSS_HUBER:
        return nb_huber_loss(g, t, y, (float)m_delta);
    default:
        return NULL;
    }
}

/* A node the targets or the loss read must keep the batch axis. */
static bool has_batch(nb_graph *g, nb_node *v, int64_t batch, const char *what)
{
    nb_shape s = nb_node_shape(v);
    char b[128], l[160];
    if (s.rank >= 1 && s.dim[0] == batch)
        return true;
    nb_graph_fail(g, NB_ERR_SHAPE, "the %s '%s' is %s, without the batch axis (%lld)", what,
                  nb_node_label(v, l, sizeof l), nb_shape_format(s, b, sizeof b), (long long)batch);
    return false;
}

/*
 * io->y: class indices [batch] for softmax cross-entropy, else the shape of
 * the node the loss reads (or of the output, when there is no loss); then
 * the loss itself, NULL when the file names none.
 */
static nb_status build_loss(nb_graph *g, const nb_model_file *m, int64_t batch, nb_node **vals,
                            nb_model_io *io)
{
    nb_node *t = vals[m->n_inputs + (m->loss ? m->loss_node : m->output)];
    io->output = vals[m->n_inputs + m->output];
    char who[64];
    snprintf(who, sizeof who, "loss %s", nb__yloss_name(m->loss));
    if (has_batch(g, io->output, batch, "output") && has_batch(g, t, batch, "node")) {
        nb_shape ys = m->loss == NB__LOSS_SOFTMAX_CE ? NB_SHAPE(batch) : nb_node_shape(t);
        io->y = nb__ytargets(g, m, vals, ys);
        if (io->y && m->loss)
            io->loss = apply_loss(g, m->loss, m->loss_delta, t, io->y);
    }
    if (nb_graph_status(g) != NB_OK || !io->y || (m->loss && !io->loss))
        return relabel(g, m, m->loss_line, m->loss_col, who, NULL, vals, m->n_inputs + m->n_nodes);
    return NB_OK;
}

/* ---------------------------------------------------------------- the model function */

nb_status nb_model_file_build(nb_graph *g, int64_t batch, nb_model_io *io, void *model_file)
{
    const nb_model_file *m = model_file;
    if (!g)
        return NB_ERR_ARG;
    if (!io || !m)
        return nb_graph_fail(g, NB_ERR_ARG, "model file: %s is NULL", !io ? "io" : "the model");
    *io = (nb_model_io){0};
    if (nb_graph_status(g) != NB_OK)
        return nb_graph_status(g);
    if (batch < 1)
        return nb_graph_fail(g, NB_ERR_ARG, "%s: batch %lld must be >= 1", m->file,
                             (long long)batch);
    nb_node **vals = nb_calloc((size_t)(m->n_inputs + m->n_nodes), sizeof *vals);
    if (!vals)
        return nb_graph_fail(g, NB_ERR_NOMEM, "%s: out of memory for the list of %d nodes",
                             m->file, m->n_inputs + m->n_nodes);
    nb_status st = NB_OK;
    for (int i = 0; st == NB_OK && i < m->n_inputs; i++) {
        vals[i] = nb_input(g, m->inputs[i].name, with_batch(batch, m->inputs[i].shape));
        if (!vals[i])
            st = relabel(g, m, m->inputs[i].line, m->inputs[i].col, "input", NULL, vals, 0);
    }
    for (int k = 0; st == NB_OK && k < m->n_nodes; k++)
        st = build_node(g, m, k, vals, batch);
    if (st == NB_OK)
        st = build_loss(g, m, batch, vals, io);
    io->x = vals[0];
    for (int i = 1; i < m->n_inputs && io->n_extra < NB_MAX_INPUTS - 1; i++)
        if (strcmp(m->inputs[i].name, "y")) /* the targets, declared among the inputs */
            io->extra[io->n_extra++] = vals[i];
    nb_free(vals);
    if (st != NB_OK)
        *io = (nb_model_io){0};
    return st;
}

/* ================================================================ the probe build */

#define PROBE_BYTES ((size_t)2 << 30)  /* memory the probe build may take */
/* The probe's batch: 2, not 1, so a shape that only fits because a batch
 * of one broadcasts against anything is refused when the file is read. */
#define PROBE_BATCH 2

typedef struct budget {
    size_t used, cap;
    bool hit;   /* an allocation was refused for the budget */
} budget;

/* An allocator that refuses to go past its budget: a model whose
 * parameters would not fit is refused instead of exhausting memory. */
static void *capped_alloc(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    budget *b = ud;
    if (new_size == 0) {
        nb_free(ptr);
        b->used -= ptr ? old_size : 0;
        return NULL;
    }
    size_t old = ptr ? old_size : 0;
    if (new_size > old && new_size - old > b->cap - b->used) {
        b->hit = true;
        return NULL;
    }
    void *p = nb_realloc(ptr, new_size);
    if (p)
        b->used = b->used - old + new_size;
    return p;
}

/*
 * A build's message a at batch 2 with the numbers that follow the batch
 * written in terms of N, given b, the same failure at batch bb: where b
 * reads bb·k for a's 2k, "N" (k = 1) or "kN"; "[2,16,5,5]" becomes
 * "[N,16,5,5]". False (out unspecified) when they differ otherwise.
 */
static bool batch_as_n(const char *a, const char *b, int64_t bb, char *out, size_t size)
{
    size_t k = 0;
    while (*a && *b && k + 24 < size) {
        if (!isdigit((unsigned char)*a) || !isdigit((unsigned char)*b)) {
            if (*a != *b)
                return false;
            out[k++] = *a++, b++;
            continue;
        }
        char *ea, *eb;
        long long x = strtoll(a, &ea, 10), y = strtoll(b, &eb, 10);
        if (x == y)
            k += (size_t)snprintf(out + k, size - k, "%.*s", (int)(ea - a), a);
        else if (x % 2 == 0 && y == x / 2 * bb)
            k += (size_t)snprintf(out + k, size - k, x == 2 ? "N" : "%lldN", x / 2);
        else
            return false;
        a = ea, b = eb;
    }
    out[k] = '\0';
    return !*a && !*b;
}

/* A build of the model at `batch` into a scratch graph within the budget;
 * NULL only when memory ran out. */
static nb_graph *probe_build(nb_model_file *m, int64_t batch, budget *b, nb_model_io *io)
{
    nb_graph *g = nb_graph_new_with_allocator(capped_alloc, b);
    if (g)
        nb_model_file_build(g, batch, io, m);
    return g;
}

/* A failed probe's message: the batch as N, found by building again at
 * batch 5 (or 7, if the model happens to fit at 5), with a note when the
 * budget refused memory. */
static void probe_message(nb_model_file *m, nb_graph *g, bool hit, char *msg, size_t size)
{
    static const int64_t again[] = {5, 7};
    bool done = false;
    for (int i = 0; i < 2 && !done && !hit; i++) {
        budget b = {.cap = PROBE_BYTES};
        nb_model_io io = {0};
        nb_graph *h = probe_build(m, again[i], &b, &io);
        done = h && nb_graph_status(h) != NB_OK &&
               batch_as_n(nb_graph_error(g), nb_graph_error(h), again[i], msg, size);
        nb_graph_free(h);
    }
    if (!done)
        snprintf(msg, size, "%s", nb_graph_error(g));
    size_t k = strlen(msg);
    if (hit)
        snprintf(msg + k, size - k, " (a model file is checked by building it once, within 2 GiB)");
}

nb_status nb__model_probe(nb_model_file *m, char *msg, size_t size)
{
    budget b = {.cap = PROBE_BYTES};
    nb_model_io io = {0};
    nb_graph *g = probe_build(m, PROBE_BATCH, &b, &io);
    if (!g)
        return snprintf(msg, size, "out of memory for a trial build of the model"), NB_ERR_NOMEM;
    nb_status st = nb_graph_status(g);
    if (st == NB_OK) {
        nb_shape os = nb_node_shape(io.output);
        m->y_width = nb_shape_numel(nb_node_shape(io.y)) / PROBE_BATCH;
        m->output_shape = (nb_shape){.rank = os.rank - 1};
        for (int i = 1; i < os.rank; i++)
            m->output_shape.dim[i - 1] = os.dim[i];
    } else {
        probe_message(m, g, b.hit, msg, size);
    }
    nb_graph_free(g);
    return st;
}

/* ---------------------------------------------------------------- a parse's probe */

bool nb__yprobe(nb__yctx *c)
{
    char msg[sizeof c->err->message];
    nb_status st = nb__model_probe(c->m, msg, sizeof msg);
    if (st != NB_OK && !c->failed && c->err) {
        c->err->status = st;
        snprintf(c->err->message, sizeof c->err->message, "%s", msg);
    }
    c->failed = c->failed || st != NB_OK;
    return st == NB_OK;
}
