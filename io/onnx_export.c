/*
 * onnx_export.c — a model as an ONNX file (opset 13) that ONNX Runtime,
 * OpenCV's dnn module or Netron read.
 *
 * The model function builds the model twice in inference mode, at batch 2
 * and at batch 3, into graphs of its own; a number that differs between the
 * twins follows the batch and is written as the symbolic axis "N" (or
 * computed from the first input's shape when the file needs it as a value).
 * Walking back from the output, a node that is the output of one of the
 * layers with ONNX operators of its own (dense, conv2d, local2d,
 * conv_transpose2d, maxpool2d, avgpool2d, batchnorm) stands for the whole layer; every other node
 * reached — inside other layers too (embedding, layernorm, local2d, the
 * recurrent layers) — is written op by op from its primitive: the table
 * below maps each of nabla's ops to ONNX operators, unfold2d and fold2d as
 * a convolution (and its transpose) with a constant 0/1 kernel that picks
 * each window's values. Parameters keep nabla's full names.
 *
 * Refused, naming the node: user ops, noise inputs (dropout outside a
 * layer), scatter_add, and values that follow the batch in a way a file
 * cannot say (a constant of varying values, a slice that ends with it).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer_window.h"
#include "onnx_internal.h"

enum {
    T_FLOAT = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
    T_INT64 = ONNX__TENSOR_PROTO__DATA_TYPE__INT64,
    T_BOOL = ONNX__TENSOR_PROTO__DATA_TYPE__BOOL
};

typedef struct exporter {
    nb__ox ox;
    nb_graph *a, *b;         /* the twins: batch 2 and batch 3 */
    nb_model_io ia, ib;
    int n;                   /* nodes of a */
    int *layer_out;          /* node id → record of a mapped layer it is the output of, or -1 */
    bool *emit;              /* node id → written op by op (or as a leaf) */
    bool *emit_layer;        /* record → written as its ONNX operator */
    bool *param_done;        /* node id → its initialiser is written */
    char **name;             /* node id → the value's name in the file */
    const char *batch_n;     /* the int64 [1] value holding N, once made */
    nb_error *err;
} exporter;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static nb_status refuse(exporter *e, const nb_node *n, const char *fmt, ...)
{
    char msg[400], l[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!n)
        return nb_error_set(e->err, NB_ERR_ARG, "onnx: %s", msg);
    return nb_error_set(e->err, NB_ERR_ARG, "onnx: node '%s' (%s): %s",
                        nb_node_label(n, l, sizeof l), nb_node_op(n), msg);
}

static nb_node *node_a(const exporter *e, int id)
{
    return nb_graph_node(e->a, id);
}

static const char *in_name(const exporter *e, const nb_node *n, int i)
{
    return e->name[nb_node_id(nb_node_input(n, i))];
}

/* Axis k of node id has another length at batch 3 than at batch 2. */
static bool follows(const exporter *e, int id, int k)
{
    return nb_node_shape(node_a(e, id)).dim[k] != nb_node_shape(nb_graph_node(e->b, id)).dim[k];
}

/* ---------------------------------------------------------------- which layers */

static bool mapped_kind(nb_layer_kind k)
{
    return k == NB_LAYER_DENSE || k == NB_LAYER_CONV2D || k == NB_LAYER_LOCAL2D ||
           k == NB_LAYER_CONV_TRANSPOSE2D || k == NB_LAYER_MAXPOOL2D || k == NB_LAYER_AVGPOOL2D ||
           k == NB_LAYER_BATCHNORM || k == NB_LAYER_GROUPNORM;
}

/* The parameter a layer made under `leaf` ("w", "b", "gamma"…), or NULL. */
static nb_node *layer_param(const exporter *e, const nb_layer_record *r, const char *leaf)
{
    size_t nl = strlen(leaf), ns = strlen(r->scope);
    for (int id = r->first; id < r->end && id < e->n; id++) {
        nb_node *p = node_a(e, id);
        const char *name = nb_node_name(p);
        if (nb_node_kind_of(p) == NB_NODE_PARAM && name && strlen(name) == ns + 1 + nl &&
            !strncmp(name, r->scope, ns) && name[ns] == '/' && !strcmp(name + ns + 1, leaf))
            return p;
    }
    return NULL;
}

/* A layer written as its operator needs its own parameters (a layer that
 * shares another's is written from its primitives). */
static bool layer_complete(const exporter *e, const nb_layer_record *r)
{
    switch (r->kind) {
    case NB_LAYER_DENSE:
        return layer_param(e, r, "w") && (r->dense.no_bias || layer_param(e, r, "b"));
    case NB_LAYER_CONV2D:
        return layer_param(e, r, "w") && (r->conv.no_bias || layer_param(e, r, "b"));
    case NB_LAYER_CONV_TRANSPOSE2D:
        return layer_param(e, r, "w") && (r->conv_transpose.no_bias || layer_param(e, r, "b"));
    case NB_LAYER_LOCAL2D: /* groups: from the primitives */
        return r->conv.groups <= 1 && r->conv.filters <= 1024 && layer_param(e, r, "w") &&
               (r->conv.no_bias || layer_param(e, r, "b"));
    case NB_LAYER_BATCHNORM:
        return layer_param(e, r, "gamma") && layer_param(e, r, "beta") &&
               layer_param(e, r, "running_mean") && layer_param(e, r, "running_var");
    case NB_LAYER_GROUPNORM: { /* the shape back is a constant [0, C, …] */
        for (int k = 1; k < nb_node_shape(r->input).rank; k++)
            if (follows(e, nb_node_id(r->input), k))
                return false;
        return r->groupnorm.no_affine || (layer_param(e, r, "gamma") && layer_param(e, r, "beta"));
    }
    default:
        return true;
    }
}

static void index_layers(exporter *e)
{
    for (int id = 0; id < e->n; id++)
        e->layer_out[id] = -1;
    for (int i = 0; i < nb_graph_num_layers(e->a); i++) {
        const nb_layer_record *r = nb_graph_layer(e->a, i);
        if (mapped_kind(r->kind) && r->output != r->input && layer_complete(e, r))
            e->layer_out[nb_node_id(r->output)] = i;
    }
}

/* nb_relu(x): max(x, c) with c a rank-0 constant 0. */
static bool is_relu(const nb_node *n)
{
    if (nb_node_kind_of(n) != NB_NODE_OP || strcmp(nb_node_op(n), "max"))
        return false;
    const nb_node *c = nb_node_input(n, 1);
    return nb_node_kind_of(c) == NB_NODE_CONST && nb_node_shape(c).rank == 0 &&
           nb_constant_data(c)[0] == 0.0f && nb_node_input(n, 0) != c;
}

/* Marks what the output needs: a mapped layer's output stands for the layer
 * (the walk goes on from its input), every other node for itself. */
static nb_status walk(exporter *e)
{
    int cap = e->n + 1, top = 0;
    for (int id = 0; id < e->n; id++)
        cap += nb_node_num_inputs(node_a(e, id));
    int *stack = nb_malloc((size_t)cap * sizeof *stack);
    if (!stack)
        return nb_error_set(e->err, NB_ERR_NOMEM, "onnx: out of memory for the walk");
    stack[top++] = nb_node_id(e->ia.output);
    e->emit[nb_node_id(e->ia.x)] = true; /* the first input, always: N is read from it */
    while (top > 0) {
        int id = stack[--top], rec = e->layer_out[id];
        nb_node *n = node_a(e, id);
        if (rec >= 0) {
            if (!e->emit_layer[rec])
                stack[top++] = nb_node_id(nb_graph_layer(e->a, rec)->input);
            e->emit_layer[rec] = true;
            continue;
        }
        if (e->emit[id])
            continue;
        e->emit[id] = true;
        int k = is_relu(n) ? 1 : nb_node_num_inputs(n);
        for (int i = 0; i < k && top < cap; i++)
            stack[top++] = nb_node_id(nb_node_input(n, i));
    }
    nb_free(stack);
    return NB_OK;
}

/* A layer's output is called by its scope; a named node by its name; any
 * other by "<scope>/<op>#<id>". */
static nb_status name_values(exporter *e)
{
    for (int id = 0; id < e->n; id++) {
        nb_node *n = node_a(e, id);
        int rec = e->layer_out[id];
        const char *scope = nb_node_scope(n);
        if (rec >= 0 && e->emit_layer[rec])
            e->name[id] = nb__ox_strdup(&e->ox, nb_graph_layer(e->a, rec)->scope);
        else if (nb_node_name(n))
            e->name[id] = nb__ox_strdup(&e->ox, nb_node_name(n));
        else if (scope && *scope)
            e->name[id] = nb__ox_printf(&e->ox, "%s/%s#%d", scope, nb_node_op(n), id);
        else
            e->name[id] = nb__ox_printf(&e->ox, "%s#%d", nb_node_op(n), id);
        if (!e->name[id])
            return nb_error_set(e->err, NB_ERR_NOMEM, "onnx: out of memory for names");
    }
    return NB_OK;
}

/* ---------------------------------------------------------------- helpers */

static const char *node1(exporter *e, const char *op, const char *out, const char *in0)
{
    return nb__ox_node(&e->ox, op, out, 1, (const char *const[]){in0}) ? out : NULL;
}

static const char *node2(exporter *e, const char *op, const char *out, const char *in0,
                         const char *in1)
{
    return nb__ox_node(&e->ox, op, out, 2, (const char *const[]){in0, in1}) ? out : NULL;
}

static const char *fresh(exporter *e, const char *base)
{
    return nb__ox_fresh(&e->ox, base);
}

static const char *ints_value(exporter *e, const char *base, const int64_t *v, int count)
{
    const char *name = fresh(e, base);
    return nb__ox_init_ints(&e->ox, name, v, count) ? name : NULL;
}

static const char *cast(exporter *e, const char *in, int to)
{
    Onnx__NodeProto *c = nb__ox_node(&e->ox, "Cast", fresh(e, in), 1, (const char *const[]){in});
    nb__ox_attr_int(&e->ox, c, "to", to);
    return c ? c->output[0] : NULL;
}

/* N as an int64 [1] value: the first input's leading axis, read once. */
static const char *batch_n(exporter *e)
{
    if (e->batch_n)
        return e->batch_n;
    const char *shape = node1(e, "Shape", fresh(e, "batch_shape"), e->name[nb_node_id(e->ia.x)]);
    const char *s0 = ints_value(e, "zero", (const int64_t[]){0}, 1);
    const char *s1 = ints_value(e, "one", (const int64_t[]){1}, 1);
    const char *out = fresh(e, "N");
    if (!shape || !s0 || !s1 ||
        !nb__ox_node(&e->ox, "Slice", out, 3, (const char *const[]){shape, s0, s1}))
        return NULL;
    return e->batch_n = out;
}

/*
 * A shape as an int64 value, from its twins da (batch 2) and db (batch 3):
 * a length that differs is k·N (da = 2k, db = 3k). With none, a constant.
 * For a reshape (`in` its input, else NULL) an axis that has the input's
 * length on both twins is written 0 (Reshape copies it) and, when no -1 is
 * given, one other such axis -1. Else the shape is computed from N at run
 * time (readers that fold constants only, such as OpenCV's, take the
 * constant forms).
 */
static const char *shape_value(exporter *e, const nb_node *n, const int64_t *da, const int64_t *db,
                               int rank, const nb_node *in)
{
    int follow = 0;
    bool has_minus = false;
    for (int k = 0; k < rank; k++) {
        has_minus |= da[k] == -1;
        if (da[k] != db[k]) {
            if (da[k] % 2 || db[k] != da[k] / 2 * 3)
                return refuse(e, n, "its shape's axis %d is %lld at batch 2 and %lld at batch 3, "
                              "not a multiple of the batch", k, (long long)da[k],
                              (long long)db[k]), NULL;
            follow++;
        }
    }
    int64_t v[NB_MAX_RANK];
    memcpy(v, da, (size_t)rank * sizeof *v);
    if (in) {
        nb_shape ia = nb_node_shape(in), ib = nb_node_shape(nb_graph_node(e->b, nb_node_id(in)));
        for (int k = 0; k < rank && k < ia.rank; k++)
            if (da[k] != db[k] && ia.dim[k] == da[k] && ib.dim[k] == db[k])
                v[k] = 0, follow--;
        for (int k = 0; k < rank && follow == 1 && !has_minus; k++)
            if (da[k] != db[k] && v[k] != 0)
                v[k] = -1, follow--;
    }
    if (follow == 0)
        return ints_value(e, "shape", v, rank);
    /* Concat of pieces: constants, and k·N for the axes that follow. */
    const char *parts[NB_MAX_RANK];
    for (int k = 0; k < rank; k++) {
        if (da[k] == db[k]) {
            parts[k] = ints_value(e, "dim", &da[k], 1);
            continue;
        }
        int64_t mult = da[k] / 2;
        const char *nn = batch_n(e);
        parts[k] = mult == 1 || !nn ? nn
                                    : node2(e, "Mul", fresh(e, "dim"), nn,
                                            ints_value(e, "k", &mult, 1));
    }
    const char *out = fresh(e, "shape");
    Onnx__NodeProto *c = nb__ox_node(&e->ox, "Concat", out, rank, parts);
    nb__ox_attr_int(&e->ox, c, "axis", 0);
    return c ? out : NULL;
}

static nb_status need(exporter *e, const void *p)
{
    return p && !e->ox.nomem ? NB_OK
                             : nb_error_set(e->err, NB_ERR_NOMEM,
                                            "onnx: out of memory for the file's nodes and tensors");
}

/* ---------------------------------------------------------------- leaves */

static nb_status emit_leaf(exporter *e, int id)
{
    nb_node *n = node_a(e, id), *nb = nb_graph_node(e->b, id);
    nb_shape s = nb_node_shape(n);
    int64_t dims[NB_MAX_RANK];
    bool batch = false;
    for (int k = 0; k < s.rank; k++) {
        dims[k] = follows(e, id, k) ? -1 : s.dim[k];
        batch |= dims[k] < 0;
    }
    switch (nb_node_kind_of(n)) {
    case NB_NODE_INPUT:
        if (nb_node_is_noise(n))
            return refuse(e, n, "a noise input (dropout outside a dropout layer) has no ONNX "
                          "form; inference reads no noise");
        for (int k = 0; k < s.rank; k++)
            if (dims[k] < 0 && (s.dim[k] != 2 || nb_node_shape(nb).dim[k] != 3))
                return refuse(e, n, "axis %d follows the batch otherwise than as its length; "
                              "an ONNX input's axis is N or a number", k);
        nb__ox_value(&e->ox, false, e->name[id], T_FLOAT, dims, s.rank);
        return need(e, e->name[id]);
    case NB_NODE_PARAM:
        if (e->param_done[id])
            return NB_OK;
        e->param_done[id] = true;
        return need(e, nb__ox_init_floats(&e->ox, e->name[id], s.dim, s.rank,
                                          nb_param_data(n)));
    case NB_NODE_CONST: {
        const float *v = nb_constant_data(n);
        if (!batch)
            return need(e, nb__ox_init_floats(&e->ox, e->name[id], s.dim, s.rank, v));
        int64_t count = nb_shape_numel(s);
        for (int64_t i = 1; i < count; i++)
            if (v[i] != v[0])
                return refuse(e, n, "a constant whose shape follows the batch holds several "
                              "values; a file can write only a uniform one");
        /* ConstantOfShape(value v[0]) at the batch's shape. */
        const char *shape = shape_value(e, n, s.dim, nb_node_shape(nb).dim, s.rank, NULL);
        if (!shape)
            return e->ox.nomem ? need(e, NULL) : NB_ERR_ARG;
        int64_t one = 1;
        Onnx__TensorProto *t = nb__ox_tensor(&e->ox, NULL, T_FLOAT, &one, 1, v);
        Onnx__NodeProto *c = nb__ox_node(&e->ox, "ConstantOfShape", e->name[id], 1,
                                         (const char *const[]){shape});
        nb__ox_attr_tensor(&e->ox, c, "value", t);
        return need(e, c && t ? c : NULL);
    }
    default:
        return NB_OK;
    }
}

/* ---------------------------------------------------------------- primitive ops */

typedef struct simple_op {
    const char *nabla, *onnx;
} simple_op;

static const simple_op simple_ops[] = {
    {"neg", "Neg"},   {"exp", "Exp"},         {"log", "Log"},   {"sqrt", "Sqrt"},
    {"abs", "Abs"},   {"sign", "Sign"},       {"tanh", "Tanh"}, {"sigmoid", "Sigmoid"},
    {"erf", "Erf"},
    {"add", "Add"},   {"sub", "Sub"},         {"mul", "Mul"},   {"div", "Div"},
    {"max", "Max"},   {"min", "Min"},         {"pow", "Pow"},
};

static const simple_op compare_ops[] = {
    {"gt", "Greater"}, {"ge", "GreaterOrEqual"}, {"eq", "Equal"},
};

/* Transposes the last two axes of value `in` of rank r. */
static const char *swap_last(exporter *e, const char *in, int r)
{
    int64_t perm[NB_MAX_RANK];
    for (int k = 0; k < r; k++)
        perm[k] = k;
    perm[r - 2] = r - 1, perm[r - 1] = r - 2;
    Onnx__NodeProto *t = nb__ox_node(&e->ox, "Transpose", fresh(e, in), 1,
                                     (const char *const[]){in});
    nb__ox_attr_ints(&e->ox, t, "perm", perm, r);
    return t ? t->output[0] : NULL;
}

/* The 0/1 kernel [C·kh·kw, C, kh, kw] whose output channel c·kh·kw + i·kw
 * + j picks x[c] at window offset (i, j): unfold2d as a convolution. With
 * `extra`, one more output channel of zeros after them (for a bias). */
static const char *window_kernel(exporter *e, int64_t c, nb_window2d w, bool extra)
{
    int64_t rows = c * w.kh * w.kw, dims[4] = {rows + extra, c, w.kh, w.kw};
    float *k = nb_calloc((size_t)((rows + extra) * rows), sizeof *k);
    if (!k)
        return NULL;
    for (int64_t r = 0; r < rows; r++)
        k[r * rows + r] = 1.0f; /* row r of [rows, c·kh·kw] holds a one at (c, i, j) = r */
    const char *name = fresh(e, "window");
    Onnx__TensorProto *t = nb__ox_init_floats(&e->ox, name, dims, 4, k);
    nb_free(k);
    return t ? name : NULL;
}

/* kernel_shape, strides, pads (top, left, bottom, right) and, unless
 * `dilations` is false (AveragePool before opset 19 has none), dilations. */
static void window_attrs_of(exporter *e, Onnx__NodeProto *c, nb__io_window w, bool dilations)
{
    nb__ox_attr_ints(&e->ox, c, "kernel_shape", (const int64_t[]){w.k[0], w.k[1]}, 2);
    nb__ox_attr_ints(&e->ox, c, "strides", (const int64_t[]){w.s[0], w.s[1]}, 2);
    nb__ox_attr_ints(&e->ox, c, "pads",
                     (const int64_t[]){w.pads[0], w.pads[1], w.pads[2], w.pads[3]}, 4);
    if (dilations)
        nb__ox_attr_ints(&e->ox, c, "dilations", (const int64_t[]){w.d[0], w.d[1]}, 2);
}

/* The attributes of unfold2d's window (both sides of an axis padded alike). */
static void window_attrs(exporter *e, Onnx__NodeProto *c, nb_window2d w)
{
    window_attrs_of(e, c, (nb__io_window){.k = {w.kh, w.kw}, .s = {w.sh, w.sw},
                                          .d = {w.dh, w.dw}, .pads = {w.ph, w.pw, w.ph, w.pw}},
                    true);
}

static nb_status emit_unfold(exporter *e, const nb_node *n, const nb_op_options *o)
{
    nb_shape xs = nb_node_shape(nb_node_input(n, 0)), ys = nb_node_shape(n);
    const char *k = window_kernel(e, xs.dim[1], o->window, false);
    const char *cols = fresh(e, e->name[nb_node_id(n)]);
    Onnx__NodeProto *c = k ? nb__ox_node(&e->ox, "Conv", cols, 2,
                                         (const char *const[]){in_name(e, n, 0), k})
                           : NULL;
    window_attrs(e, c, o->window);
    const char *shape = ints_value(e, "shape", (const int64_t[]){0, ys.dim[1], ys.dim[2]}, 3);
    return need(e, c && shape ? node2(e, "Reshape", e->name[nb_node_id(n)], cols, shape) : NULL);
}

static nb_status emit_fold(exporter *e, const nb_node *n, const nb_op_options *o)
{
    nb_window2d w = o->window;
    nb_shape cs = nb_node_shape(nb_node_input(n, 0)), ys = nb_node_shape(n);
    int64_t oh = (o->h + 2 * w.ph - w.dh * (w.kh - 1) - 1) / w.sh + 1;
    int64_t ow = (o->w + 2 * w.pw - w.dw * (w.kw - 1) - 1) / w.sw + 1;
    int64_t ch = w.sh * (oh - 1) + w.dh * (w.kh - 1) + 1 - 2 * w.ph;
    int64_t cw = w.sw * (ow - 1) + w.dw * (w.kw - 1) + 1 - 2 * w.pw;
    const char *shape = ints_value(e, "shape", (const int64_t[]){0, cs.dim[1], oh, ow}, 4);
    const char *img = shape ? node2(e, "Reshape", fresh(e, e->name[nb_node_id(n)]),
                                    in_name(e, n, 0), shape)
                            : NULL;
    const char *k = img ? window_kernel(e, ys.dim[1], w, false) : NULL;
    Onnx__NodeProto *c = k ? nb__ox_node(&e->ox, "ConvTranspose", e->name[nb_node_id(n)], 2,
                                         (const char *const[]){img, k})
                           : NULL;
    window_attrs(e, c, w);
    nb__ox_attr_ints(&e->ox, c, "output_padding", (const int64_t[]){o->h - ch, o->w - cw}, 2);
    return need(e, c);
}

static nb_status emit_reshape(exporter *e, int id, const nb_op_options *o)
{
    nb_node *n = node_a(e, id);
    nb_op_options ob;
    nb_node_options(nb_graph_node(e->b, id), &ob);
    const char *shape = shape_value(e, n, o->shape.dim, ob.shape.dim, o->shape.rank,
                                    nb_node_input(n, 0));
    if (!shape) /* out of memory, or refused with its message */
        return e->ox.nomem ? need(e, NULL) : NB_ERR_ARG;
    return need(e, node2(e, "Reshape", e->name[id], in_name(e, n, 0), shape));
}

static nb_status emit_slice(exporter *e, int id, const nb_op_options *o)
{
    nb_node *n = node_a(e, id);
    nb_op_options ob;
    nb_node_options(nb_graph_node(e->b, id), &ob);
    int64_t stop = o->stop;
    if (ob.stop != o->stop || ob.start != o->start) {
        int64_t len = nb_node_shape(nb_node_input(n, 0)).dim[o->axis];
        if (ob.start != o->start || o->step != 1 || o->stop != len)
            return refuse(e, n, "a slice whose bounds follow the batch has no fixed ONNX form");
        stop = INT64_MAX; /* to the end, whatever the batch */
    }
    const char *in[5] = {in_name(e, n, 0), ints_value(e, "starts", &o->start, 1),
                         ints_value(e, "ends", &stop, 1),
                         ints_value(e, "axes", &(int64_t){o->axis}, 1),
                         ints_value(e, "steps", &o->step, 1)};
    return need(e, in[1] && in[2] && in[3] && in[4]
                       ? nb__ox_node(&e->ox, "Slice", e->name[id], 5, in)
                       : NULL);
}

static nb_status emit_pad(exporter *e, int id, const nb_op_options *o)
{
    nb_node *n = node_a(e, id);
    int r = nb_node_shape(n).rank;
    int64_t pads[2 * NB_MAX_RANK];
    for (int k = 0; k < r; k++)
        pads[k] = o->before[k], pads[r + k] = o->after[k];
    const char *p = ints_value(e, "pads", pads, 2 * r);
    const char *v = fresh(e, "pad_value");
    if (!p || !v || !nb__ox_init_floats(&e->ox, v, NULL, 0, &o->value))
        return need(e, NULL);
    Onnx__NodeProto *c = nb__ox_node(&e->ox, "Pad", e->name[id], 3,
                                     (const char *const[]){in_name(e, n, 0), p, v});
    return need(e, c);
}

static nb_status emit_op(exporter *e, int id)
{
    nb_node *n = node_a(e, id);
    const char *op = nb_node_op(n), *out = e->name[id];
    nb_op_options o;
    if (!nb_node_options(n, &o))
        return refuse(e, n, "a user op (nb_custom) has no ONNX form");
    if (is_relu(n))
        return need(e, node1(e, "Relu", out, in_name(e, n, 0)));
    for (size_t i = 0; i < sizeof simple_ops / sizeof *simple_ops; i++)
        if (!strcmp(op, simple_ops[i].nabla))
            return need(e, nb__ox_node(&e->ox, simple_ops[i].onnx, out, nb_node_num_inputs(n),
                                       (const char *const[]){in_name(e, n, 0),
                                                             nb_node_num_inputs(n) > 1
                                                                 ? in_name(e, n, 1)
                                                                 : ""}));
    for (size_t i = 0; i < sizeof compare_ops / sizeof *compare_ops; i++)
        if (!strcmp(op, compare_ops[i].nabla)) {
            const char *b = node2(e, compare_ops[i].onnx, fresh(e, out), in_name(e, n, 0),
                                  in_name(e, n, 1));
            Onnx__NodeProto *c = b ? nb__ox_node(&e->ox, "Cast", out, 1, (const char *const[]){b})
                                   : NULL;
            nb__ox_attr_int(&e->ox, c, "to", T_FLOAT);
            return need(e, c);
        }
    if (!strcmp(op, "where")) {
        const char *c = cast(e, in_name(e, n, 0), T_BOOL);
        return need(e, c ? nb__ox_node(&e->ox, "Where", out, 3,
                                       (const char *const[]){c, in_name(e, n, 1),
                                                             in_name(e, n, 2)})
                         : NULL);
    }
    if (!strcmp(op, "sum") || !strcmp(op, "reduce_max")) {
        int64_t axes[NB_MAX_RANK];
        for (int k = 0; k < o.n_axes; k++)
            axes[k] = o.axes[k];
        Onnx__NodeProto *c;
        if (!strcmp(op, "sum")) {
            const char *ax = ints_value(e, "axes", axes, o.n_axes);
            c = ax ? nb__ox_node(&e->ox, "ReduceSum", out, 2,
                                 (const char *const[]){in_name(e, n, 0), ax})
                   : NULL;
        } else {
            c = nb__ox_node(&e->ox, "ReduceMax", out, 1, (const char *const[]){in_name(e, n, 0)});
            nb__ox_attr_ints(&e->ox, c, "axes", axes, o.n_axes);
        }
        nb__ox_attr_int(&e->ox, c, "keepdims", o.keepdims);
        return need(e, c);
    }
    if (!strcmp(op, "reshape"))
        return emit_reshape(e, id, &o);
    if (!strcmp(op, "permute")) {
        int r = nb_node_shape(n).rank;
        int64_t perm[NB_MAX_RANK];
        for (int k = 0; k < r; k++)
            perm[k] = o.perm[k];
        Onnx__NodeProto *c = nb__ox_node(&e->ox, "Transpose", out, 1,
                                         (const char *const[]){in_name(e, n, 0)});
        nb__ox_attr_ints(&e->ox, c, "perm", perm, r);
        return need(e, c);
    }
    if (!strcmp(op, "expand")) {
        /* Expand broadcasts both ways: an axis that follows the batch in the
         * input as in the target is written 1 and keeps the input's N. */
        nb_shape t = o.shape, xs = nb_node_shape(nb_node_input(n, 0));
        int64_t d[NB_MAX_RANK];
        int shift = t.rank - xs.rank;
        for (int k = 0; k < t.rank; k++) {
            d[k] = t.dim[k];
            if (follows(e, id, k)) {
                if (k < shift || !follows(e, nb_node_id(nb_node_input(n, 0)), k - shift))
                    return refuse(e, n, "expands axis %d to the batch; a file cannot say so", k);
                d[k] = 1;
            }
        }
        const char *s = ints_value(e, "shape", d, t.rank);
        return need(e, s ? node2(e, "Expand", out, in_name(e, n, 0), s) : NULL);
    }
    if (!strcmp(op, "slice"))
        return emit_slice(e, id, &o);
    if (!strcmp(op, "pad"))
        return emit_pad(e, id, &o);
    if (!strcmp(op, "concat")) {
        int k = nb_node_num_inputs(n);
        const char *ins[64];
        if (k > 64)
            return refuse(e, n, "concatenates %d values; the exporter takes at most 64", k);
        for (int i = 0; i < k; i++)
            ins[i] = in_name(e, n, i);
        Onnx__NodeProto *c = nb__ox_node(&e->ox, "Concat", out, k, ins);
        nb__ox_attr_int(&e->ox, c, "axis", o.axis);
        return need(e, c);
    }
    if (!strcmp(op, "unfold2d"))
        return emit_unfold(e, n, &o);
    if (!strcmp(op, "fold2d"))
        return emit_fold(e, n, &o);
    if (!strcmp(op, "matmul")) {
        const char *a = in_name(e, n, 0), *b = in_name(e, n, 1);
        if (o.transpose_a)
            a = swap_last(e, a, nb_node_shape(nb_node_input(n, 0)).rank);
        if (o.transpose_b)
            b = swap_last(e, b, nb_node_shape(nb_node_input(n, 1)).rank);
        return need(e, a && b ? node2(e, "MatMul", out, a, b) : NULL);
    }
    if (!strcmp(op, "gather")) {
        const char *idx = cast(e, in_name(e, n, 1), T_INT64);
        Onnx__NodeProto *c = idx ? nb__ox_node(&e->ox, "Gather", out, 2,
                                               (const char *const[]){in_name(e, n, 0), idx})
                                 : NULL;
        nb__ox_attr_int(&e->ox, c, "axis", 0);
        return need(e, c);
    }
    if (!strcmp(op, "one_hot")) {
        const char *idx = cast(e, in_name(e, n, 0), T_INT64);
        const char *depth = ints_value(e, "depth", &o.classes, 1);
        const char *values = fresh(e, "off_on");
        if (!idx || !depth || !values ||
            !nb__ox_init_floats(&e->ox, values, (const int64_t[]){2}, 1,
                                (const float[]){0.0f, 1.0f}))
            return need(e, NULL);
        Onnx__NodeProto *c = nb__ox_node(&e->ox, "OneHot", out, 3,
                                         (const char *const[]){idx, depth, values});
        nb__ox_attr_int(&e->ox, c, "axis", -1);
        return need(e, c);
    }
    return refuse(e, n, "the op has no ONNX form in nabla's exporter");
}

/* ---------------------------------------------------------------- layers */

/* A float [1] initialiser holding v, broadcast by the ops that read it. */
static const char *float_value(exporter *e, const char *base, float v)
{
    const char *name = fresh(e, base);
    return nb__ox_init_floats(&e->ox, name, (const int64_t[]){1}, 1, &v) ? name : NULL;
}

/* Opset 13 has no Gelu or Silu: x·½(1 + erf(x/√2)) and x·σ(x) in its ops. */
static nb_status emit_gelu_silu(exporter *e, nb_activation act, const char *pre, const char *out)
{
    const char *t;
    if (act == NB_ACT_SILU)
        t = node1(e, "Sigmoid", fresh(e, "silu_sigmoid"), pre);
    else {
        const char *r2 = float_value(e, "gelu_sqrt2", 1.41421356237309505f);
        const char *one = float_value(e, "gelu_one", 1.0f), *half = float_value(e, "gelu_half", 0.5f);
        t = r2 && one && half ? node2(e, "Div", fresh(e, "gelu_scaled"), pre, r2) : NULL;
        t = t ? node1(e, "Erf", fresh(e, "gelu_erf"), t) : NULL;
        t = t ? node2(e, "Add", fresh(e, "gelu_1p"), t, one) : NULL;
        t = t ? node2(e, "Mul", fresh(e, "gelu_phi2"), t, half) : NULL;
    }
    return need(e, t ? nb__ox_node(&e->ox, "Mul", out, 2, (const char *const[]){pre, t}) : NULL);
}

/* act(pre) → out; NB_ACT_NONE: pre is out already. */
static nb_status emit_activation(exporter *e, nb_activation act, const char *pre, const char *out)
{
    static const char *const names[] = {
        [NB_ACT_RELU] = "Relu",       [NB_ACT_LEAKY_RELU] = "LeakyRelu",
        [NB_ACT_SIGMOID] = "Sigmoid", [NB_ACT_TANH] = "Tanh",
        [NB_ACT_SOFTMAX] = "Softmax", [NB_ACT_LOG_SOFTMAX] = "LogSoftmax",
        [NB_ACT_SIGN] = "Sign",       [NB_ACT_ELU] = "Elu",
        [NB_ACT_SOFTPLUS] = "Softplus",
    };
    if (act == NB_ACT_NONE)
        return NB_OK;
    if (act == NB_ACT_GELU || act == NB_ACT_SILU)
        return emit_gelu_silu(e, act, pre, out);
    Onnx__NodeProto *c = nb__ox_node(&e->ox, names[act], out, 1, (const char *const[]){pre});
    if (act == NB_ACT_LEAKY_RELU)
        nb__ox_attr_float(&e->ox, c, "alpha", 0.01f);
    if (act == NB_ACT_ELU)
        nb__ox_attr_float(&e->ox, c, "alpha", 1.0f);
    if (act == NB_ACT_SOFTMAX || act == NB_ACT_LOG_SOFTMAX)
        nb__ox_attr_int(&e->ox, c, "axis", -1);
    return need(e, c);
}

/* A layer's own parameter as an initialiser; its name in the file. */
static const char *param(exporter *e, const nb_layer_record *r, const char *leaf)
{
    nb_node *p = layer_param(e, r, leaf);
    if (!p || emit_leaf(e, nb_node_id(p)) != NB_OK)
        return NULL;
    return e->name[nb_node_id(p)];
}

/*
 * A pooling layer as MaxPool or AveragePool. Opset 13's text leaves two
 * things open that nabla fixes as PyTorch does, so the file never relies
 * on them:
 * - ceil_mode: opset 13 rounds the size up with no exception (so do onnx
 *   1.12's shape inference and older runtimes), where nabla leaves out a
 *   last window that would start in the trailing padding (as later ONNX
 *   versions say too). ceil_mode is written only where opset 13's formula gives
 *   nabla's size on both axes; elsewhere the part of the last window past
 *   the padding joins the trailing pads in floor mode, which MaxPool never
 *   picks (its padding is -inf) and count_include_pad 0 leaves out of each
 *   count — exactly nabla's windows.
 * - count_include_pad 1: what a window past the padding divides by is not
 *   said, and OpenCV 4.6 does not honour the attribute (it averages as if
 *   it were 0). An average counting the padding pads explicitly (Pad of
 *   zeros, as PyTorch's exporter does) and then counts what each window
 *   reads of the padded input: count_include_pad 0, nabla's divisor.
 */
static nb_status emit_pool(exporter *e, int id, const nb_layer_record *r)
{
    const nb_pool2d_opts *o = &r->pool;
    nb__io_window geom = nb__io_pool_window(o);
    bool max = r->kind == NB_LAYER_MAXPOOL2D;
    if (!max && (geom.d[0] > 1 || geom.d[1] > 1))
        return refuse(e, r->output, "a dilated average pooling has no ONNX operator at "
                      "opset 13 (AveragePool takes dilations from opset 19)");
    nb_shape xs = nb_node_shape(r->input), ys = nb_node_shape(node_a(e, id));
    int64_t extra[2];
    bool spec_ceil = true, padded = false;
    for (int a = 0; a < 2; a++) {
        int64_t n = xs.dim[2 + a], before = geom.pads[a], after = geom.pads[a + 2];
        int64_t span = (int64_t)geom.d[a] * (geom.k[a] - 1) + 1, s = geom.s[a];
        int64_t room = n + before + after - span, reach = (ys.dim[2 + a] - 1) * s + span;
        extra[a] = reach > n + before + after ? reach - (n + before + after) : 0;
        spec_ceil = spec_ceil && (room + s - 1) / s + 1 == ys.dim[2 + a];
        padded = padded || before || after;
    }
    const char *x = e->name[nb_node_id(r->input)], *out = e->name[id];
    bool include = !max && !o->exclude_pad, ceil = false;
    if (include && (padded || extra[0] || extra[1])) {
        if (padded) {
            const int64_t pads[8] = {0, 0, geom.pads[0], geom.pads[1],
                                     0, 0, geom.pads[2], geom.pads[3]};
            const float zero = 0.0f;
            const char *p = ints_value(e, "pads", pads, 8), *v = fresh(e, "pad_value");
            const char *padded_x = fresh(e, out);
            if (!p || !v || !nb__ox_init_floats(&e->ox, v, NULL, 0, &zero) ||
                need(e, nb__ox_node(&e->ox, "Pad", padded_x, 3,
                                    (const char *const[]){x, p, v})) != NB_OK)
                return need(e, NULL);
            x = padded_x;
        }
        geom.pads[0] = geom.pads[1] = 0;
        geom.pads[2] = (int)extra[0], geom.pads[3] = (int)extra[1];
    } else if (o->ceil_mode && spec_ceil) {
        ceil = true;
    } else {
        geom.pads[2] += (int)extra[0], geom.pads[3] += (int)extra[1];
    }
    Onnx__NodeProto *c = nb__ox_node(&e->ox, max ? "MaxPool" : "AveragePool", out, 1,
                                     (const char *const[]){x});
    window_attrs_of(e, c, geom, geom.d[0] > 1 || geom.d[1] > 1); /* MaxPool's only */
    if (ceil)
        nb__ox_attr_int(&e->ox, c, "ceil_mode", 1);
    if (!max) /* ONNX's default, written for the reader: the padding's zeros not counted */
        nb__ox_attr_int(&e->ox, c, "count_include_pad", 0);
    return need(e, c);
}

/*
 * local2d without batched products (which OpenCV's reader refuses) and
 * without a bias of [F, OH, OW] added (likewise): the windows as channels,
 * cols [N, K + 1, OH, OW] — unfold2d's Conv plus one channel of ones (a
 * zero kernel with bias 1) —, F copies side by side times the weights laid
 * out to match — w [L, K, F] transposed to [F, K, L], b [F, L] as [F, 1, L]
 * beside it, reshaped to [1, F·(K + 1), OH, OW]: constants a reader
 * folds —, then each filter's K + 1 products summed by a grouped 1×1 Conv
 * of ones.
 */
static nb_status emit_local(exporter *e, int id, const nb_layer_record *r)
{
    const nb_conv2d_opts *o = &r->conv;
    nb_shape xs = nb_node_shape(r->input), ys = nb_node_shape(node_a(e, id));
    int64_t f = ys.dim[1], oh = ys.dim[2], ow = ys.dim[3];
    int64_t k = nb_node_shape(layer_param(e, r, "w")).dim[1], k1 = k + (o->no_bias ? 0 : 1);
    nb__io_window geom = nb__io_conv_window(o);
    nb_window2d win = {.kh = geom.k[0], .kw = geom.k[1]}; /* the identity kernel's size */
    const char *x = e->name[nb_node_id(r->input)], *out = e->name[id];
    const char *w = param(e, r, "w"), *b = o->no_bias ? NULL : param(e, r, "b");
    const char *kern = window_kernel(e, xs.dim[1], win, b != NULL), *cols = fresh(e, out);
    const char *kb = b ? fresh(e, "ones_channel") : NULL;
    float *v = nb_calloc((size_t)(f * k1), sizeof *v); /* the channel's bias, then ones */
    bool ok = w && kern && (o->no_bias || b) && v;
    if (ok && b) {
        v[k] = 1.0f;
        ok = nb__ox_init_floats(&e->ox, kb, (const int64_t[]){k1}, 1, v) != NULL;
    }
    Onnx__NodeProto *c = ok ? nb__ox_node(&e->ox, "Conv", cols, b ? 3 : 2,
                                          (const char *const[]){x, kern, kb})
                            : NULL;
    window_attrs_of(e, c, geom, true);
    const char **copies = nb__ox_alloc(&e->ox, (size_t)f * sizeof *copies);
    const char *tiled = fresh(e, out);
    for (int64_t i = 0; copies && i < f; i++)
        copies[i] = cols;
    c = c && copies ? nb__ox_node(&e->ox, "Concat", tiled, (int)f, copies) : NULL;
    nb__ox_attr_int(&e->ox, c, "axis", 1);
    Onnx__NodeProto *t = c ? nb__ox_node(&e->ox, "Transpose", fresh(e, w), 1,
                                         (const char *const[]){w})
                           : NULL;
    nb__ox_attr_ints(&e->ox, t, "perm", (const int64_t[]){2, 1, 0}, 3);
    const char *wk = t ? t->output[0] : NULL;
    if (wk && b) { /* [F, K, L] and b as [F, 1, L] → [F, K + 1, L] */
        const char *bs = ints_value(e, "shape", (const int64_t[]){f, 1, oh * ow}, 3);
        const char *b3 = bs ? node2(e, "Reshape", fresh(e, b), b, bs) : NULL;
        Onnx__NodeProto *cat = b3 ? nb__ox_node(&e->ox, "Concat", fresh(e, w), 2,
                                                (const char *const[]){wk, b3})
                                  : NULL;
        nb__ox_attr_int(&e->ox, cat, "axis", 1);
        wk = cat ? cat->output[0] : NULL;
    }
    const char *shape = ints_value(e, "shape", (const int64_t[]){1, f * k1, oh, ow}, 4);
    const char *wall = wk && shape ? node2(e, "Reshape", fresh(e, w), wk, shape) : NULL;
    const char *prod = wall ? node2(e, "Mul", fresh(e, out), tiled, wall) : NULL;
    const char *ones_name = fresh(e, "ones");
    for (int64_t i = 0; v && i < f * k1; i++)
        v[i] = 1.0f;
    ok = prod && v &&
         nb__ox_init_floats(&e->ox, ones_name, (const int64_t[]){f, k1, 1, 1}, 4, v);
    nb_free(v);
    const char *pre = o->activation == NB_ACT_NONE ? out : fresh(e, out);
    c = ok ? nb__ox_node(&e->ox, "Conv", pre, 2, (const char *const[]){prod, ones_name}) : NULL;
    nb__ox_attr_ints(&e->ox, c, "kernel_shape", (const int64_t[]){1, 1}, 2);
    nb__ox_attr_int(&e->ox, c, "group", f);
    return need(e, c) == NB_OK ? emit_activation(e, o->activation, pre, out) : need(e, NULL);
}

/* conv_transpose2d as ConvTranspose: the same weight layout [C, F/G, kh,
 * kw], the same output size formula, output_padding on the bottom and
 * right as nabla's. */
static nb_status emit_conv_transpose(exporter *e, int id, const nb_layer_record *r)
{
    const nb_conv_transpose2d_opts *o = &r->conv_transpose;
    nb_node *wn = layer_param(e, r, "w");
    const char *x = e->name[nb_node_id(r->input)], *out = e->name[id];
    const char *w = param(e, r, "w"), *b = o->no_bias ? NULL : param(e, r, "b");
    const char *pre = o->activation == NB_ACT_NONE ? out : fresh(e, out);
    if (!w || (!o->no_bias && !b))
        return need(e, NULL);
    nb_shape ws = nb_node_shape(wn);
    int s = o->stride ? o->stride : 1, d = o->dilation ? o->dilation : 1, p = o->pad;
    Onnx__NodeProto *c = nb__ox_node(&e->ox, "ConvTranspose", pre, b ? 3 : 2,
                                     (const char *const[]){x, w, b});
    window_attrs(e, c, (nb_window2d){.kh = (int)ws.dim[2], .kw = (int)ws.dim[3], .sh = s, .sw = s,
                                     .ph = p, .pw = p, .dh = d, .dw = d});
    nb__ox_attr_int(&e->ox, c, "group", o->groups ? o->groups : 1);
    if (o->output_padding)
        nb__ox_attr_ints(&e->ox, c, "output_padding",
                         (const int64_t[]){o->output_padding, o->output_padding}, 2);
    return need(e, c) == NB_OK ? emit_activation(e, o->activation, pre, out) : need(e, NULL);
}

/* γ or β [C] (an initialiser of nabla's name and shape) as [C, 1, …]
 * against x of rank `rank`: a Reshape of a constant, which readers fold. */
static const char *per_channel(exporter *e, const char *p, int64_t c, int rank)
{
    int64_t v[NB_MAX_RANK] = {c};
    for (int k = 1; k < rank - 1; k++)
        v[k] = 1;
    if (!p || rank <= 2)
        return p;
    const char *shape = ints_value(e, "channels", v, rank - 1);
    return shape ? node2(e, "Reshape", fresh(e, p), p, shape) : NULL;
}

/*
 * groupnorm as PyTorch writes nn.GroupNorm (and nabla imports it back):
 * Reshape x [N, C, …] to [0, G, -1], InstanceNormalization with a scale of
 * ones [G] and a bias of zeros, Reshape back to [0, C, …], then Mul γ and
 * Add β per channel. Readers without ReduceSum's opset-13 form (OpenCV
 * 4.6) run it, where the layer's primitives would need that form.
 */
static nb_status emit_groupnorm(exporter *e, int id, const nb_layer_record *r)
{
    nb_shape xs = nb_node_shape(r->input);
    int64_t g = r->groupnorm.groups, c = xs.dim[1], back[NB_MAX_RANK] = {0};
    for (int k = 1; k < xs.rank; k++)
        back[k] = xs.dim[k];
    const char *x = e->name[nb_node_id(r->input)], *out = e->name[id];
    bool affine = !r->groupnorm.no_affine;
    float *one = nb_malloc((size_t)g * 2 * sizeof *one);
    if (!one)
        return need(e, NULL);
    for (int64_t k = 0; k < g; k++)
        one[k] = 1.0f, one[g + k] = 0.0f;
    const char *sc = fresh(e, "gn_ones"), *bi = fresh(e, "gn_zeros");
    bool ok = nb__ox_init_floats(&e->ox, sc, &g, 1, one) && nb__ox_init_floats(&e->ox, bi, &g, 1, one + g);
    nb_free(one);
    const char *v1 = ok ? ints_value(e, "groups", (const int64_t[]){0, g, -1}, 3) : NULL;
    const char *v2 = v1 ? ints_value(e, "shape", back, xs.rank) : NULL;
    const char *t = v2 ? node2(e, "Reshape", fresh(e, out), x, v1) : NULL;
    Onnx__NodeProto *in = t ? nb__ox_node(&e->ox, "InstanceNormalization", fresh(e, out), 3,
                                          (const char *const[]){t, sc, bi}) : NULL;
    nb__ox_attr_float(&e->ox, in, "epsilon", r->groupnorm.eps > 0 ? r->groupnorm.eps : 1e-5f);
    t = in ? node2(e, "Reshape", affine ? fresh(e, out) : out, in->output[0], v2) : NULL;
    if (!t || !affine)
        return need(e, t);
    const char *gm = per_channel(e, param(e, r, "gamma"), c, xs.rank);
    const char *bt = per_channel(e, param(e, r, "beta"), c, xs.rank);
    t = gm && bt ? node2(e, "Mul", fresh(e, out), t, gm) : NULL;
    return need(e, t ? node2(e, "Add", out, t, bt) : NULL);
}

static nb_status emit_layer(exporter *e, int id, const nb_layer_record *r)
{
    const char *x = e->name[nb_node_id(r->input)], *out = e->name[id];
    Onnx__NodeProto *c = NULL;
    switch (r->kind) {
    case NB_LAYER_DENSE: {
        const char *w = param(e, r, "w"), *b = r->dense.no_bias ? "" : param(e, r, "b");
        const char *pre = r->dense.activation == NB_ACT_NONE ? out : fresh(e, out);
        if (!w || !b)
            return need(e, NULL);
        /* MatMul and Add rather than Gemm: the same in every reader, and
         * OpenCV 4.6 misreads a Gemm whose weight is not transposed. */
        if (*b) {
            const char *mm = node2(e, "MatMul", fresh(e, out), x, w);
            c = mm ? nb__ox_node(&e->ox, "Add", pre, 2, (const char *const[]){mm, b}) : NULL;
        } else {
            c = nb__ox_node(&e->ox, "MatMul", pre, 2, (const char *const[]){x, w});
        }
        return need(e, c) == NB_OK ? emit_activation(e, r->dense.activation, pre, out)
                                   : need(e, NULL);
    }
    case NB_LAYER_CONV2D: {
        const nb_conv2d_opts *o = &r->conv;
        nb_node *wn = layer_param(e, r, "w");
        const char *w = param(e, r, "w"), *b = o->no_bias ? NULL : param(e, r, "b");
        const char *pre = o->activation == NB_ACT_NONE ? out : fresh(e, out);
        if (!w || (!o->no_bias && !b))
            return need(e, NULL);
        nb_shape ws = nb_node_shape(wn);
        nb__io_window geom = nb__io_conv_window(o);
        geom.k[0] = (int)ws.dim[2], geom.k[1] = (int)ws.dim[3];
        c = nb__ox_node(&e->ox, "Conv", pre, b ? 3 : 2, (const char *const[]){x, w, b});
        window_attrs_of(e, c, geom, true);
        nb__ox_attr_int(&e->ox, c, "group", o->groups ? o->groups : 1);
        return need(e, c) == NB_OK ? emit_activation(e, o->activation, pre, out) : need(e, NULL);
    }
    case NB_LAYER_CONV_TRANSPOSE2D:
        return emit_conv_transpose(e, id, r);
    case NB_LAYER_LOCAL2D:
        return emit_local(e, id, r);
    case NB_LAYER_MAXPOOL2D:
    case NB_LAYER_AVGPOOL2D:
        return emit_pool(e, id, r);
    case NB_LAYER_BATCHNORM: {
        const char *in[5] = {x, param(e, r, "gamma"), param(e, r, "beta"),
                             param(e, r, "running_mean"), param(e, r, "running_var")};
        if (!in[1] || !in[2] || !in[3] || !in[4])
            return need(e, NULL);
        c = nb__ox_node(&e->ox, "BatchNormalization", out, 5, in);
        nb__ox_attr_float(&e->ox, c, "epsilon", r->batchnorm.eps > 0 ? r->batchnorm.eps : 1e-5f);
        return need(e, c);
    }
    case NB_LAYER_GROUPNORM:
        return emit_groupnorm(e, id, r);
    default:
        return refuse(e, r->output, "layer kind %s has no ONNX operator here",
                      nb_layer_kind_name(r->kind));
    }
}

/* ---------------------------------------------------------------- the export */

static nb_status build_at(exporter *e, nb_graph **g, nb_model_fn build, void *ud, int64_t batch,
                          nb_model_io *io)
{
    if (!(*g = nb_graph_new()))
        return nb_error_set(e->err, NB_ERR_NOMEM, "onnx: out of memory for a graph");
    nb_graph_set_training(*g, false);
    nb_status st = build(*g, batch, io, ud);
    if (st == NB_OK && nb_graph_status(*g) == NB_OK)
        return io->output && io->x ? NB_OK
                                   : refuse(e, NULL, "the model left its %s unset",
                                            io->output ? "input x" : "output");
    return nb_error_set(e->err, st != NB_OK ? st : nb_graph_status(*g),
                        "onnx: building the model (batch %lld): %s", (long long)batch,
                        nb_graph_error(*g));
}

static nb_status twins(exporter *e)
{
    if (nb_graph_node_count(e->b) != e->n)
        return refuse(e, NULL, "the model builds %d nodes at batch 2 and %d at batch 3; an "
                      "ONNX file holds one graph for every batch", e->n,
                      nb_graph_node_count(e->b));
    for (int id = 0; id < e->n; id++) {
        nb_node *a = node_a(e, id), *b = nb_graph_node(e->b, id);
        bool same = nb_node_kind_of(a) == nb_node_kind_of(b) &&
                    !strcmp(nb_node_op(a), nb_node_op(b)) &&
                    nb_node_num_inputs(a) == nb_node_num_inputs(b) &&
                    nb_node_shape(a).rank == nb_node_shape(b).rank;
        for (int i = 0; same && i < nb_node_num_inputs(a); i++)
            same = nb_node_id(nb_node_input(a, i)) == nb_node_id(nb_node_input(b, i));
        if (!same)
            return refuse(e, a, "built differently at batch 2 and at batch 3; an ONNX file "
                          "holds one graph for every batch");
    }
    return NB_OK;
}

static nb_status emit_all(exporter *e)
{
    nb_status st = NB_OK;
    for (int id = 0; id < e->n && st == NB_OK; id++) {
        int rec = e->layer_out[id];
        if (rec >= 0 && e->emit_layer[rec])
            st = emit_layer(e, id, nb_graph_layer(e->a, rec));
        else if (e->emit[id])
            st = nb_node_kind_of(node_a(e, id)) == NB_NODE_OP ? emit_op(e, id)
                                                               : emit_leaf(e, id);
    }
    if (st != NB_OK)
        return st;
    int out = nb_node_id(e->ia.output);
    nb_shape s = nb_node_shape(e->ia.output);
    int64_t dims[NB_MAX_RANK];
    for (int k = 0; k < s.rank; k++) /* k·N is written -k: "N", "2N", … */
        dims[k] = follows(e, out, k) ? -(s.dim[k] / 2) : s.dim[k];
    if (nb_node_kind_of(e->ia.output) != NB_NODE_OP || (e->layer_out[out] < 0 && !e->emit[out]))
        return refuse(e, e->ia.output, "the model's output is not computed from its input");
    nb__ox_value(&e->ox, true, e->name[out], T_FLOAT, dims, s.rank);
    return need(e, e->name[out]);
}

nb_status nb_onnx_export(nb_model_fn build, void *ud, nb_graph *weights, const char *path,
                         nb_error *err)
{
    exporter e = {.err = err};
    if (!build)
        return nb_error_set(err, NB_ERR_ARG, "onnx: no model function (NULL)");
    if (!path || !*path)
        return nb_error_set(err, NB_ERR_ARG, "onnx: no file name given");
    nb__ox_init(&e.ox, "nabla");
    nb_status st = build_at(&e, &e.a, build, ud, 2, &e.ia);
    if (st == NB_OK)
        st = build_at(&e, &e.b, build, ud, 3, &e.ib);
    if (st == NB_OK && weights)
        st = nb_params_copy(weights, e.a, err);
    if (st == NB_OK) {
        e.n = nb_graph_node_count(e.a);
        size_t n = (size_t)e.n + 1, layers = (size_t)nb_graph_num_layers(e.a) + 1;
        e.layer_out = nb__ox_alloc(&e.ox, n * sizeof *e.layer_out);
        e.emit = nb__ox_alloc(&e.ox, n * sizeof *e.emit);
        e.param_done = nb__ox_alloc(&e.ox, n * sizeof *e.param_done);
        e.name = nb__ox_alloc(&e.ox, n * sizeof *e.name);
        e.emit_layer = nb__ox_alloc(&e.ox, layers * sizeof *e.emit_layer);
        st = need(&e, e.layer_out && e.emit && e.param_done && e.name && e.emit_layer ? &e
                                                                                       : NULL);
    }
    if (st == NB_OK && (st = twins(&e)) == NB_OK) {
        index_layers(&e);
        if ((st = walk(&e)) == NB_OK && (st = name_values(&e)) == NB_OK &&
            (st = emit_all(&e)) == NB_OK)
            st = nb__ox_write(&e.ox, path, err);
    }
    nb_graph_free(e.a);
    nb_graph_free(e.b);
    nb__ox_free(&e.ox);
    return st;
}
