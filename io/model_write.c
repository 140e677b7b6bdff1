/*
 * model_write.c — a model built in C written as a model file in the
 * nodes: form (docs/model-format.md, "models written from C"), from what
 * model_graph.c found: the inputs, then every layer and value the output
 * and the loss need in the order the C code made them, the output, the
 * loss by kind. Options that hold shapes are written per example; an
 * option that follows the batch in any other way is refused. The text is
 * read back (nb_model_file_parse) before it is handed out, so what is
 * written is a model file that builds.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer_window.h"
#include "model_write.h"
#include "../graph/text.h"

/* ---------------------------------------------------------------- text */

/* A double-quoted YAML string. */
static void put_str(nb__text *t, const char *s)
{
    nb__put(t, "\"");
    for (; s && *s; s++)
        nb__put(t, *s == '"' || *s == '\\' ? "\\%c" : (unsigned char)*s < 32 ? "\\x%02x" : "%c",
                *s);
    nb__put(t, "\"");
}

static void put_float(nb__text *t, const char *key, float v)
{
    nb__put(t, ", %s: %.9g", key, (double)v);
}

/* [d_from, …, d_rank-1] */
static void put_dims(nb__text *t, const int64_t *d, int from, int rank)
{
    nb__put(t, "[");
    for (int i = from; i < rank; i++)
        nb__put(t, "%s%lld", i > from ? ", " : "", (long long)d[i]);
    nb__put(t, "]");
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static nb_status refuse(nb__mw *w, const nb_node *n, const char *fmt, ...)
{
    char msg[400], l[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nb_error_set(w->err, NB_ERR_ARG, "model yaml: node '%s' (%s): %s",
                        nb_node_label(n, l, sizeof l), nb_node_op(n), msg);
}

/* ---------------------------------------------------------------- primitive ops */

/* A per-example axis: the batch axis 0 has no place in a model file. */
static nb_status put_axis(nb__mw *w, nb__text *t, const nb_node *n, const char *key, int axis)
{
    if (axis == 0)
        return refuse(w, n, "%s 0 is the batch axis; a model file's ops work per example", key);
    nb__put(t, ", %s: %d", key, axis);
    return NB_OK;
}

/* reshape and expand: the target as [N, one example…]. */
static nb_status put_target(nb__mw *w, nb__text *t, const nb_node *n, const nb_op_options *o,
                            int64_t batch)
{
    if (o->shape.rank < 1 || o->shape.dim[0] != batch)
        return refuse(w, n, "its target shape does not start with the batch; a model file "
                      "writes shapes per example");
    nb__put(t, ", shape: ");
    put_dims(t, o->shape.dim, 1, o->shape.rank);
    return NB_OK;
}

static nb_status put_window(nb__mw *w, nb__text *t, const nb_node *n, nb_window2d k)
{
    if (k.sh != k.sw || k.ph != k.pw || k.dh != k.dw)
        return refuse(w, n, "stride, padding and dilation differ between height and width; a "
                      "model file writes one of each");
    nb__put(t, ", kh: %d, kw: %d", k.kh, k.kw);
    if (k.sh != 1)
        nb__put(t, ", stride: %d", k.sh);
    if (k.ph)
        nb__put(t, ", pad: %d", k.ph);
    if (k.dh != 1)
        nb__put(t, ", dilation: %d", k.dh);
    return NB_OK;
}

static nb_status put_reduce(nb__mw *w, nb__text *t, const nb_node *n, const nb_op_options *o)
{
    nb__put(t, ", axes: [");
    for (int i = 0; i < o->n_axes; i++) {
        if (o->axes[i] == 0)
            return refuse(w, n, "it reduces over the batch axis 0; a model file's ops work per "
                          "example");
        nb__put(t, "%s%d", i ? ", " : "", o->axes[i]);
    }
    nb__put(t, "]%s", o->keepdims ? ", keepdims: true" : "");
    return NB_OK;
}

static nb_status put_pad(nb__mw *w, nb__text *t, const nb_node *n, const nb_op_options *o)
{
    int rank = nb_node_shape(nb_node_input(n, 0)).rank;
    if (o->before[0] || o->after[0])
        return refuse(w, n, "it pads the batch axis 0; a model file's ops work per example");
    if (!(o->value - o->value == 0.0f))
        return refuse(w, n, "it pads with %g; a model file writes finite numbers only",
                      (double)o->value);
    nb__put(t, ", before: ");
    put_dims(t, o->before, 1, rank);
    nb__put(t, ", after: ");
    put_dims(t, o->after, 1, rank);
    if (o->value != 0.0f)
        put_float(t, "value", o->value);
    return NB_OK;
}

/* The options of op node n of the build at `batch`. */
static nb_status put_options(nb__mw *w, nb__text *t, const nb_node *n, int64_t batch)
{
    nb_op_options o;
    const char *op = nb_node_op(n);
    int rank = nb_node_shape(nb_node_input(n, 0)).rank;
    nb_node_options(n, &o);
    if (!strcmp(op, "reshape") || !strcmp(op, "expand"))
        return put_target(w, t, n, &o, batch);
    if (!strcmp(op, "sum") || !strcmp(op, "reduce_max"))
        return put_reduce(w, t, n, &o);
    if (!strcmp(op, "permute")) {
        if (o.perm[0] != 0)
            return refuse(w, n, "it moves the batch axis; a model file's permute keeps axis 0 "
                          "first");
        nb__put(t, ", perm: [");
        for (int i = 0; i < rank; i++)
            nb__put(t, "%s%d", i ? ", " : "", o.perm[i]);
        nb__put(t, "]");
        return NB_OK;
    }
    if (!strcmp(op, "slice")) {
        nb__put(t, ", start: %lld, stop: %lld", (long long)o.start, (long long)o.stop);
        if (o.step != 1)
            nb__put(t, ", step: %lld", (long long)o.step);
        return put_axis(w, t, n, "axis", o.axis);
    }
    if (!strcmp(op, "concat"))
        return put_axis(w, t, n, "axis", o.axis);
    if (!strcmp(op, "pad"))
        return put_pad(w, t, n, &o);
    if (!strcmp(op, "fold2d"))
        nb__put(t, ", h: %lld, w: %lld", (long long)o.h, (long long)o.w);
    if (!strcmp(op, "fold2d") || !strcmp(op, "unfold2d"))
        return put_window(w, t, n, o.window);
    if (!strcmp(op, "matmul"))
        nb__put(t, "%s%s", o.transpose_a ? ", transpose_a: true" : "",
            o.transpose_b ? ", transpose_b: true" : "");
    if (!strcmp(op, "one_hot"))
        return refuse(w, n, "one_hot outside a loss has no place in a model file");
    if (!strcmp(op, "scatter_add"))
        return refuse(w, n, "scatter_add, the gradient of gather, has no place in a model file");
    return NB_OK;
}

/* ---------------------------------------------------------------- values */

static void put_leaf(nb__text *t, const nb_node *n)
{
    nb_shape s = nb_node_shape(n);
    nb__put(t, ", shape: ");
    put_dims(t, s.dim, 0, s.rank);
    if (nb_node_kind_of(n) == NB_NODE_PARAM) {
        if (!nb_param_trainable(n))
            nb__put(t, ", trainable: false");
        return;
    }
    const float *v = nb_constant_data(n);
    if (nb__mw_uniform(n)) {
        put_float(t, "value", v[0]);
        return;
    }
    nb__put(t, ", values: [");
    for (int64_t i = 0; i < nb_shape_numel(s); i++)
        nb__put(t, "%s%.9g", i ? ", " : "", (double)v[i]);
    nb__put(t, "]");
}

/* One value node: `- {name: …, op: …, inputs: […], options…}`. The options
 * are written for both builds and must agree: else they follow the batch. */
static nb_status put_value(nb__mw *w, nb__text *t, int id)
{
    nb_node *a = nb_graph_node(w->a, id), *b = nb_graph_node(w->b, id);
    nb__put(t, "  - {name: ");
    put_str(t, w->name[id]);
    nb__put(t, ", op: %s", nb__mw_op(w, a));
    if (w->sugar[id]) {
        nb__put(t, ", inputs: [");
        put_str(t, w->name[nb_node_id(nb_node_input(a, 0))]);
        nb__put(t, "]}\n");
        return NB_OK;
    }
    if (nb_node_kind_of(a) != NB_NODE_OP) {
        put_leaf(t, a);
        nb__put(t, "}\n");
        return NB_OK;
    }
    nb__put(t, ", inputs: [");
    for (int i = 0; i < nb_node_num_inputs(a); i++) {
        nb__put(t, "%s", i ? ", " : "");
        put_str(t, w->name[nb_node_id(nb_node_input(a, i))]);
    }
    nb__put(t, "]");
    nb__text oa = {0}, ob = {0};
    nb_status st = put_options(w, &oa, a, 2);
    if (st == NB_OK)
        st = put_options(w, &ob, b, 3);
    if (st == NB_OK && !oa.nomem && !ob.nomem && strcmp(oa.s ? oa.s : "", ob.s ? ob.s : ""))
        st = refuse(w, a, "its options change with the batch (\"%s\" at batch 2, \"%s\" at "
                    "batch 3) otherwise than by a leading batch axis", oa.len > 2 ? oa.s + 2 : "",
                    ob.len > 2 ? ob.s + 2 : "");
    nb__put(t, "%s}\n", oa.s ? oa.s : "");
    t->nomem |= oa.nomem || ob.nomem;
    nb_free(oa.s);
    nb_free(ob.s);
    return st;
}

/* ---------------------------------------------------------------- layers */

static const char *const act_names[] = {"none", "relu", "leaky_relu", "sigmoid", "tanh",
                                        "softmax", "log_softmax", "threshold", "gelu", "silu",
                                        "elu", "softplus"};
static const char *const init_names[] = {"default", "zeros", "constant", "uniform", "normal",
                                         "xavier_uniform", "xavier_normal", "he_uniform",
                                         "he_normal"};

static void put_init(nb__text *t, const char *key, nb_init i)
{
    if (i.kind == NB_INIT_DEFAULT || (unsigned)i.kind > NB_INIT_HE_NORMAL)
        return;
    if (i.kind == NB_INIT_CONSTANT)
        nb__put(t, ", %s: {constant: {value: %.9g}}", key, (double)i.a);
    else if (i.kind == NB_INIT_UNIFORM)
        nb__put(t, ", %s: {uniform: {low: %.9g, high: %.9g}}", key, (double)i.a, (double)i.b);
    else if (i.kind == NB_INIT_NORMAL)
        nb__put(t, ", %s: {normal: {mean: %.9g, std: %.9g}}", key, (double)i.a, (double)i.b);
    else
        nb__put(t, ", %s: %s", key, init_names[i.kind]);
}

static void put_unit(nb__text *t, nb_activation act, bool no_bias, nb_init init, nb_init bias_init)
{
    if (act != NB_ACT_NONE && (unsigned)act <= NB_ACT_SOFTPLUS)
        nb__put(t, ", activation: %s", act_names[act]);
    if (no_bias)
        nb__put(t, ", bias: false");
    put_init(t, "init", init);
    put_init(t, "bias_init", bias_init);
}

/* `key: v` when both axes agree, else `key: [rows, columns]`; nothing when
 * both are the default `def`. */
static void put_pair(nb__text *t, const char *key, const int *v, const int *def)
{
    if (v[0] == def[0] && v[1] == def[1])
        return;
    if (v[0] == v[1])
        nb__put(t, ", %s: %d", key, v[0]);
    else
        nb__put(t, ", %s: [%d, %d]", key, v[0], v[1]);
}

/* A window's stride, padding and dilation, each as one number when the
 * axes (and sides) agree: pad as p, [rows, columns] or [top, left, bottom,
 * right]. */
static void put_window_axes(nb__text *t, const nb__io_window *w, const int *stride_def)
{
    static const int one[2] = {1, 1};
    const int *p = w->pads;
    put_pair(t, "stride", w->s, stride_def);
    if (p[0] == p[2] && p[1] == p[3]) {
        static const int none[2] = {0, 0};
        put_pair(t, "pad", (const int[]){p[0], p[1]}, none);
    } else {
        nb__put(t, ", pad: [%d, %d, %d, %d]", p[0], p[1], p[2], p[3]);
    }
    put_pair(t, "dilation", w->d, one);
}

static void put_conv(nb__text *t, const nb_conv2d_opts *c)
{
    static const int one[2] = {1, 1};
    nb__io_window w = nb__io_conv_window(c);
    nb__put(t, ", filters: %lld", (long long)c->filters);
    if (w.k[0] == w.k[1])
        nb__put(t, ", kernel: %d", w.k[0]);
    else
        nb__put(t, ", kh: %d, kw: %d", w.k[0], w.k[1]);
    put_window_axes(t, &w, one);
    if (c->groups > 1)
        nb__put(t, ", groups: %d", c->groups);
    put_unit(t, c->activation, c->no_bias, c->init, c->bias_init);
}

static void put_conv_transpose(nb__text *t, const nb_conv_transpose2d_opts *c)
{
    int kh = c->kh ? c->kh : c->kernel, kw = c->kw ? c->kw : c->kernel;
    nb__put(t, ", filters: %lld", (long long)c->filters);
    if (kh == kw)
        nb__put(t, ", kernel: %d", kh);
    else
        nb__put(t, ", kh: %d, kw: %d", kh, kw);
    if (c->stride > 1)
        nb__put(t, ", stride: %d", c->stride);
    if (c->pad)
        nb__put(t, ", pad: %d", c->pad);
    if (c->output_padding)
        nb__put(t, ", output_padding: %d", c->output_padding);
    if (c->dilation > 1)
        nb__put(t, ", dilation: %d", c->dilation);
    if (c->groups > 1)
        nb__put(t, ", groups: %d", c->groups);
    put_unit(t, c->activation, c->no_bias, c->init, c->bias_init);
}

static void put_layer_options(nb__text *t, const nb_layer_record *r)
{
    switch (r->kind) {
    case NB_LAYER_DENSE:
        nb__put(t, ", units: %lld", (long long)r->dense.units);
        put_unit(t, r->dense.activation, r->dense.no_bias, r->dense.init, r->dense.bias_init);
        break;
    case NB_LAYER_CONV2D:
    case NB_LAYER_LOCAL2D:
        put_conv(t, &r->conv);
        break;
    case NB_LAYER_CONV_TRANSPOSE2D:
        put_conv_transpose(t, &r->conv_transpose);
        break;
    case NB_LAYER_MAXPOOL2D:
    case NB_LAYER_AVGPOOL2D: {
        nb__io_window w = nb__io_pool_window(&r->pool);
        if (w.k[0] == w.k[1])
            nb__put(t, ", size: %d", w.k[0]);
        else
            nb__put(t, ", kh: %d, kw: %d", w.k[0], w.k[1]);
        put_window_axes(t, &w, w.k);
        if (r->pool.ceil_mode)
            nb__put(t, ", ceil_mode: true");
        if (r->pool.exclude_pad && r->kind == NB_LAYER_AVGPOOL2D)
            nb__put(t, ", count_include_pad: false");
        break;
    }
    case NB_LAYER_DROPOUT:
        put_float(t, "rate", r->rate);
        break;
    case NB_LAYER_LAYERNORM:
        if (r->layernorm.axis != 0 && r->layernorm.axis != -1)
            nb__put(t, ", axis: %d", r->layernorm.axis);
        if (r->layernorm.eps != 0.0f)
            put_float(t, "eps", r->layernorm.eps);
        if (r->layernorm.no_affine)
            nb__put(t, ", affine: false");
        break;
    case NB_LAYER_GROUPNORM:
        nb__put(t, ", groups: %d", r->groupnorm.groups);
        if (r->groupnorm.eps != 0.0f)
            put_float(t, "eps", r->groupnorm.eps);
        if (r->groupnorm.no_affine)
            nb__put(t, ", affine: false");
        break;
    case NB_LAYER_RNN:
    case NB_LAYER_GRU:
    case NB_LAYER_LSTM:
        nb__put(t, ", hidden: %lld", (long long)r->rnn.hidden);
        if (r->rnn.layers > 1)
            nb__put(t, ", layers: %d", r->rnn.layers);
        if (r->rnn.bidirectional)
            nb__put(t, ", bidirectional: true");
        if (r->rnn.sequence)
            nb__put(t, ", sequence: true");
        if (r->rnn.no_bias)
            nb__put(t, ", bias: false");
        put_init(t, "init", r->rnn.init);
        break;
    case NB_LAYER_EMBEDDING:
        nb__put(t, ", vocab: %lld, dim: %lld", (long long)r->embedding.vocab,
                (long long)r->embedding.dim);
        put_init(t, "init", r->embedding.init);
        break;
    default: /* NB_LAYER_BATCHNORM */
        if (r->batchnorm.momentum != 0.0f)
            put_float(t, "momentum", r->batchnorm.momentum);
        if (r->batchnorm.eps != 0.0f)
            put_float(t, "eps", r->batchnorm.eps);
        break;
    }
}

/* trainable: false when every parameter the layer trains is frozen (batch
 * norm: gamma and beta; its running statistics are never trained); a layer
 * half frozen, or a batch norm built for inference inside a training
 * build while it trains, is refused. */
static nb_status put_trainable(nb__mw *w, nb__text *t, const nb_layer_record *r)
{
    int frozen = 0, trained = 0;
    for (int id = r->first; id < r->end; id++) {
        nb_node *p = nb_graph_node(w->a, id);
        const char *name = nb_node_name(p), *last = name ? strrchr(name, '/') : NULL;
        bool state = last && (!strcmp(last, "/running_mean") || !strcmp(last, "/running_var"));
        if (nb_node_kind_of(p) == NB_NODE_PARAM && !(r->kind == NB_LAYER_BATCHNORM && state))
            nb_param_trainable(p) ? trained++ : frozen++;
    }
    if (frozen && trained)
        return nb_error_set(w->err, NB_ERR_ARG, "model yaml: layer '%s' has %d parameters frozen "
                            "and %d trained; a model file freezes a layer whole", r->scope, frozen,
                            trained);
    if (!r->training && !frozen)
        return nb_error_set(w->err, NB_ERR_ARG, "model yaml: layer '%s' is built in inference "
                            "mode while the model trains; a model file writes that only for a "
                            "frozen batchnorm (trainable: false)", r->scope);
    if (frozen)
        nb__put(t, ", trainable: false");
    return NB_OK;
}

static nb_status put_layer(nb__mw *w, nb__text *t, const nb_layer_record *r)
{
    bool recurrent = r->kind == NB_LAYER_RNN || r->kind == NB_LAYER_GRU || r->kind == NB_LAYER_LSTM;
    if (recurrent && (r->rnn.h0 || r->rnn.c0))
        return nb_error_set(w->err, NB_ERR_ARG, "model yaml: layer '%s' starts from an initial "
                            "state given in C (h0, c0), which a written file cannot name; "
                            "write the file by hand, with the %s's h0 and c0 naming inputs",
                            r->scope, nb_layer_kind_name(r->kind));
    nb__put(t, "  - {name: ");
    put_str(t, r->scope);
    nb__put(t, ", op: %s, inputs: [", nb_layer_kind_name(r->kind));
    put_str(t, w->name[nb_node_id(r->input)]);
    nb__put(t, "]");
    put_layer_options(t, r);
    nb_status st = put_trainable(w, t, r);
    nb__put(t, "}\n");
    return st;
}

/* ---------------------------------------------------------------- the file */

/* Whether input node n holds integer ids: the model file's `type: int`,
 * which the graph does not record, so it is read from the file the model
 * was built from (its first input is x, the k-th after it io.extra[k]). A
 * model built in C has float inputs alone. */
static bool input_ids(const nb__mw *w, const nb_node *n)
{
    nb_model_input in[NB_MAX_INPUTS];
    int count = w->file ? nb_model_file_inputs(w->file, in, NB_MAX_INPUTS) : 0;
    if (count > 0 && n == w->ia.x)
        return in[0].ids;
    for (int k = 0; k < w->ia.n_extra && k + 1 < count; k++)
        if (n == w->ia.extra[k])
            return in[k + 1].ids;
    return false;
}

/* The inputs: x first, the targets next when the C code made them before
 * anything the file builds (so they are made where they were), then any
 * other input the model reads; an input of integer ids in the long form
 * {shape: [...], type: int}. */
static void put_inputs(nb__mw *w, nb__text *t, int first_built)
{
    bool first = true;
    nb__put(t, "input: {");
    for (int pass = 0; pass < 3; pass++)
        for (int id = 0; id < w->n; id++) {
            nb_node *n = nb_graph_node(w->a, id);
            bool want = pass == 0 ? n == w->ia.x
                        : pass == 1 ? w->loss && n == w->ia.y && id < first_built
                                    : w->needed[id] && nb_node_kind_of(n) == NB_NODE_INPUT &&
                                          n != w->ia.x;
            if (!want)
                continue;
            nb_shape s = nb_node_shape(n);
            nb__put(t, "%s", first ? "" : ", ");
            first = false;
            put_str(t, w->name[id]);
            bool ids = pass != 1 && input_ids(w, n);
            nb__put(t, ids ? ": {shape: " : ": ");
            put_dims(t, s.dim, 1, s.rank);
            nb__put(t, ids ? ", type: int}" : "");
        }
    nb__put(t, "}\n");
}

/* The loss by kind, reading the node the C loss read. */
static void put_loss(nb__mw *w, nb__text *t)
{
    static const char *const margins[] = {"margin_logistic", "margin_hinge", "margin_exponential"};
    const nb_layer_record *r = w->loss;
    if (!r)
        return;
    const char *kind = r->kind == NB_LAYER_SOFTMAX_CROSS_ENTROPY ? "softmax_cross_entropy"
                       : r->kind == NB_LAYER_MSE                 ? "mse"
                       : r->kind == NB_LAYER_BCE_WITH_LOGITS     ? "bce_with_logits"
                       : r->kind == NB_LAYER_L1                  ? "l1"
                       : r->kind == NB_LAYER_HUBER               ? "huber"
                       : (unsigned)r->margin <= NB_MARGIN_EXPONENTIAL ? margins[r->margin]
                                                                      : "margin_logistic";
    nb__put(t, "loss: {%s: {node: ", kind);
    put_str(t, w->name[nb_node_id(r->input)]);
    if (r->kind == NB_LAYER_HUBER)
        nb__put(t, ", delta: %.9g", (double)r->delta);
    nb__put(t, "}}\n");
}

static void put_data(nb__text *t, const nb_data_spec *d)
{
    if (!d->format)
        return;
    nb__put(t, "data: {format: ");
    put_str(t, d->format);
    const char *keys[] = {"dir", "train", "test", "validation", "x", "y"};
    const char *vals[] = {d->dir, d->train, d->test, d->validation, d->x, d->y};
    for (int i = 0; i < 6; i++)
        if (vals[i]) {
            nb__put(t, ", %s: ", keys[i]);
            put_str(t, vals[i]);
        }
    nb__put(t, "}\n");
}

/* Where the file builds its first value: the smallest node id it writes. */
static int first_built(const nb__mw *w)
{
    int first = w->n;
    for (int id = 0; id < w->n; id++)
        if (w->needed[id] && nb_node_kind_of(nb_graph_node(w->a, id)) != NB_NODE_INPUT)
            first = id < first ? id : first;
    for (int i = 0; i < nb_graph_num_layers(w->a); i++)
        if (w->layer_needed[i] && nb_graph_layer(w->a, i)->first < first)
            first = nb_graph_layer(w->a, i)->first;
    return first;
}

/* Layers (at the id of their first node) and values, in the order the C
 * code made them. */
static nb_status put_nodes(nb__mw *w, nb__text *t)
{
    nb_status st = NB_OK;
    int n_layers = nb_graph_num_layers(w->a);
    nb__put(t, "nodes:\n");
    for (int id = 0; st == NB_OK && id < w->n; id++) {
        for (int i = 0; st == NB_OK && i < n_layers; i++)
            if (w->layer_needed[i] && nb_graph_layer(w->a, i)->first == id)
                st = put_layer(w, t, nb_graph_layer(w->a, i));
        nb_node *n = nb_graph_node(w->a, id);
        if (st == NB_OK && w->needed[id] && nb_node_kind_of(n) != NB_NODE_INPUT && !w->folded[id])
            st = put_value(w, t, id);
    }
    return st;
}

static nb_status put_model(nb__mw *w, nb__text *t, const nb_model_yaml_opts *o)
{
    nb__put(t, "# written by nabla from a model built in C (nb_model_yaml)\nnabla: 1\nname: ");
    put_str(t, o && o->name ? o->name : "model");
    nb__put(t, "\n");
    put_inputs(w, t, first_built(w));
    nb_status st = put_nodes(w, t);
    nb__put(t, "output: ");
    put_str(t, w->name[nb_node_id(w->ia.output)]);
    nb__put(t, "\n");
    put_loss(w, t);
    if (o && o->x_div > 0.0f)
        nb__put(t, "x_div: %.9g\n", (double)o->x_div);
    if (o)
        put_data(t, &o->data);
    return st;
}

/* ---------------------------------------------------------------- the API */

char *nb_model_yaml(nb_model_fn build, void *ud, const nb_model_yaml_opts *o, nb_error *err)
{
    nb__mw w = {.err = err, .file = build == nb_model_file_build ? ud : NULL};
    nb__text t = {0};
    nb_status st = nb__mw_analyse(&w, build, ud);
    if (st == NB_OK)
        st = put_model(&w, &t, o);
    nb__mw_free(&w);
    if (st == NB_OK && t.nomem)
        st = nb_error_set(err, NB_ERR_NOMEM, "model yaml: out of memory for the YAML text");
    nb_error e = {0};
    nb_model_file *m = st == NB_OK ? nb_model_file_parse(t.s, t.len, "model yaml", &e) : NULL;
    if (st == NB_OK && !m)
        st = nb_error_set(err, e.status, "model yaml: what was written does not read back: %s",
                          e.message);
    nb_model_file_free(m);
    if (st != NB_OK) {
        nb_free(t.s);
        return NULL;
    }
    return t.s;
}

char *nb_trainer_model_yaml(const nb_trainer *t, const nb_model_yaml_opts *o, nb_error *err)
{
    void *ud = NULL;
    nb_model_fn build = nb_trainer_model(t, &ud);
    if (!build)
        return nb_error_set(err, NB_ERR_ARG, "model yaml: no trainer (NULL)"), NULL;
    return nb_model_yaml(build, ud, o, err);
}

nb_status nb_trainer_save(nb_trainer *t, const char *path, const nb_model_yaml_opts *o,
                          nb_error *err)
{
    nb_error e = {0};
    char *yaml = nb_trainer_model_yaml(t, o, &e);
    nb_status st = yaml ? nb_weights_save(nb_trainer_graph(t), path, yaml, &e) : e.status;
    nb_free(yaml);
    if (err && st != NB_OK)
        *err = e;
    return st;
}
