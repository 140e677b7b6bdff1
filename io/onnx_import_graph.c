/*
 * onnx_import_graph.c — an ONNX graph read node by node in the order it
 * lists them (ONNX requires a topological order, so a node reading a value
 * no earlier node defines is an undefined value or a cycle, refused as
 * such): the initialisers and graph inputs first, then each node checked
 * (domain, outputs, arity, attribute types) and handed to its operator,
 * then the output and the loss training would use.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "nabla.h"
#include "onnx_import_internal.h"

/* At most this many values (and nodes, and initialisers): a hostile file
 * asks for no absurd memory or time. */
#define IMP_MAX_VALUES 20000

/* ---------------------------------------------------------------- checks of a node */

/* The inputs and outputs each operator has (opset 7 on, optional ones
 * counted): a node with more is refused, never read as if the extra ones
 * were not there (Pad's `axes`, opset 18, would pad other axes). Missing
 * inputs are refused by the operator's own reader. */
static const struct {
    const char *op;
    size_t max_in, max_out;
} arities[] = {
    {"Gemm", 3, 1},    {"MatMul", 2, 1},    {"Conv", 3, 1},     {"ConvTranspose", 3, 1},
    {"MaxPool", 1, 2},
    {"AveragePool", 1, 1}, {"Relu", 1, 1},  {"Sigmoid", 1, 1},  {"Tanh", 1, 1},
    {"Softmax", 1, 1}, {"Flatten", 1, 1},   {"Reshape", 2, 1},  {"BatchNormalization", 5, 5},
    {"Dropout", 3, 2}, {"Identity", 1, 1},  {"Add", 2, 1},      {"Concat", SIZE_MAX, 1},
    {"Constant", 0, 1}, {"Pad", 3, 1},  {"GlobalAveragePool", 1, 1}, {"GlobalMaxPool", 1, 1},
    {"LeakyRelu", 1, 1}, {"Elu", 1, 1}, {"Softplus", 1, 1}, {"Erf", 1, 1},
    {"Sub", 2, 1},     {"Mul", 2, 1},       {"Div", 2, 1},
    {"InstanceNormalization", 3, 1},
};

/* How many of names[n] count: up to the last that is not "" (an optional
 * value left out). */
static size_t named(char *const *names, size_t n)
{
    while (n > 0 && !*nb__oi_str(names[n - 1]))
        n--;
    return n;
}

static nb_status arity(nb__oi *m, const Onnx__NodeProto *n)
{
    size_t in = named(n->input, n->n_input), out = named(n->output, n->n_output);
    for (size_t i = 0; i < sizeof arities / sizeof *arities; i++) {
        if (strcmp(arities[i].op, nb__oi_str(n->op_type)) != 0)
            continue;
        if (in > arities[i].max_in)
            return nb__oi_refuse(m, n, "%zu inputs, where the operator takes at most %zu", in,
                                 arities[i].max_in);
        if (out > arities[i].max_out)
            return nb__oi_refuse(m, n, "%zu outputs, where the operator has at most %zu", out,
                                 arities[i].max_out);
    }
    return NB_OK;
}

/* The type of each attribute nabla reads: read as another type, a value
 * would be taken as absent or 0 (transB given as the float 1.0 read as
 * 0, the weight not transposed). "value" is checked for Constant alone
 * (Pad before opset 11 has a float of that name). */
static const struct {
    const char *name;
    Onnx__AttributeProto__AttributeType type;
} attr_types[] = {
#define A_(name, type) {name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__##type}
    A_("alpha", FLOAT),        A_("beta", FLOAT),         A_("epsilon", FLOAT),
    A_("momentum", FLOAT),     A_("ratio", FLOAT),        A_("transA", INT),
    A_("transB", INT),         A_("group", INT),          A_("axis", INT),
    A_("ceil_mode", INT),      A_("count_include_pad", INT), A_("storage_order", INT),
    A_("training_mode", INT),  A_("spatial", INT),        A_("allowzero", INT),
    A_("kernel_shape", INTS),  A_("strides", INTS),       A_("pads", INTS),
    A_("dilations", INTS),     A_("auto_pad", STRING),    A_("mode", STRING),
    A_("output_padding", INTS), A_("output_shape", INTS),
    A_("value", TENSOR),
#undef A_
};

static const char *attr_type_name(int type)
{
    static const char *names[] = {"UNDEFINED", "FLOAT", "INT", "STRING", "TENSOR", "GRAPH",
                                  "FLOATS", "INTS", "STRINGS", "TENSORS", "GRAPHS"};
    return type >= 0 && type < (int)(sizeof names / sizeof *names) ? names[type] : "another type";
}

/* Every attribute nabla reads is of its type and given once. */
static nb_status attr_check(nb__oi *m, const Onnx__NodeProto *n)
{
    bool seen[sizeof attr_types / sizeof *attr_types] = {0};
    bool constant = strcmp(nb__oi_str(n->op_type), "Constant") == 0;
    for (size_t k = 0; k < n->n_attribute; k++) {
        const Onnx__AttributeProto *a = n->attribute[k];
        for (size_t t = 0; a && t < sizeof attr_types / sizeof *attr_types; t++) {
            if (strcmp(nb__oi_str(a->name), attr_types[t].name) != 0 ||
                (!constant && !strcmp(attr_types[t].name, "value")))
                continue;
            if (seen[t])
                return nb__oi_refuse(m, n, "the attribute '%s' is given twice", a->name);
            seen[t] = true;
            if (a->type != attr_types[t].type)
                return nb__oi_refuse(m, n, "the attribute '%s' is of type %s, not %s", a->name,
                                     attr_type_name((int)a->type),
                                     attr_type_name((int)attr_types[t].type));
        }
    }
    return NB_OK;
}

static nb_status node(nb__oi *m, const Onnx__NodeProto *n, size_t i)
{
    const char *op = nb__oi_str(n->op_type);
    if (*nb__oi_str(n->domain) && strcmp(n->domain, "ai.onnx") != 0)
        return nb__oi_refuse(m, n, "the operator domain '%s' is not ONNX's own", n->domain);
    if (n->n_output < 1 || !*nb__oi_str(n->output[0]))
        return nb__oi_refuse(m, n, "no output");
    for (size_t o = 0; o < n->n_output; o++)
        if (*nb__oi_str(n->output[o]) && nb__oi_find(m, n->output[o]))
            return nb__oi_refuse(m, n, "defines '%s' a second time", n->output[o]);
    for (size_t k = 0; k < n->n_input; k++)
        if (*nb__oi_str(n->input[k]) && !nb__oi_find(m, n->input[k]))
            return nb__oi_refuse(m, n,
                                 "reads '%s', which no earlier node, graph input or initialiser "
                                 "defines (an undefined value, or a cycle)",
                                 n->input[k]);
    if (m->n_vals >= IMP_MAX_VALUES)
        return nb__oi_refuse(m, n, "more than %d values", IMP_MAX_VALUES);
    if (arity(m, n) != NB_OK || attr_check(m, n) != NB_OK)
        return NB_ERR_ARG;
    if (!strcmp(op, "Gemm"))
        return nb__oi_gemm(m, n);
    if (!strcmp(op, "MatMul"))
        return nb__oi_matmul(m, n, i);
    if (!strcmp(op, "Conv"))
        return nb__oi_conv(m, n);
    if (!strcmp(op, "ConvTranspose"))
        return nb__oi_conv_transpose(m, n);
    if (!strcmp(op, "MaxPool") || !strcmp(op, "AveragePool"))
        return nb__oi_pool(m, n, op[0] == 'M');
    if (!strcmp(op, "GlobalAveragePool") || !strcmp(op, "GlobalMaxPool"))
        return nb__oi_global_pool(m, n, op[6] == 'M');
    if (!strcmp(op, "Relu"))
        return nb__oi_unary(m, n, "relu");
    if (!strcmp(op, "LeakyRelu"))
        return nb__oi_alpha(m, n, "leaky_relu", 0.01f);
    if (!strcmp(op, "Elu"))
        return nb__oi_alpha(m, n, "elu", 1.0f);
    if (!strcmp(op, "Softplus"))
        return nb__oi_unary(m, n, "softplus");
    if (!strcmp(op, "Erf"))
        return nb__oi_unary(m, n, "erf");
    if (!strcmp(op, "Sigmoid"))
        return nb__oi_unary(m, n, "sigmoid");
    if (!strcmp(op, "Tanh"))
        return nb__oi_unary(m, n, "tanh");
    if (!strcmp(op, "Softmax"))
        return nb__oi_unary(m, n, "softmax");
    if (!strcmp(op, "Reshape") && nb__oi_chain_next(m, i, "InstanceNormalization") >= 0)
        return nb__oi_gn_view(m, n);
    if (!strcmp(op, "InstanceNormalization"))
        return nb__oi_gn_instance(m, n, i);
    if (!strcmp(op, "Flatten") || !strcmp(op, "Reshape"))
        return nb__oi_reshape(m, n, op[0] == 'F');
    if (!strcmp(op, "BatchNormalization"))
        return nb__oi_batchnorm(m, n);
    if (!strcmp(op, "Dropout") || !strcmp(op, "Identity"))
        return nb__oi_identity(m, n, op[0] == 'D');
    if (!strcmp(op, "Concat"))
        return nb__oi_join(m, n);
    if (!strcmp(op, "Div")) {
        nb_status st;
        return nb__oi_gelu(m, n, i, &st) ? st : nb__oi_arith(m, n, "div");
    }
    if (!strcmp(op, "Add") || !strcmp(op, "Sub") || !strcmp(op, "Mul"))
        return nb__oi_arith(m, n, op[0] == 'A' ? "add" : op[0] == 'S' ? "sub" : "mul");
    if (!strcmp(op, "Constant"))
        return nb__oi_constant(m, n);
    if (!strcmp(op, "Pad"))
        return nb__oi_pad(m, n);
    return nb__oi_refuse(m, n, "the operator is not one nabla imports (Gemm, MatMul, Add, Sub, "
                         "Mul, Div, Conv, ConvTranspose, MaxPool, AveragePool, "
                         "GlobalAveragePool, GlobalMaxPool, BatchNormalization, Relu, "
                         "LeakyRelu, Elu, Softplus, Erf, Sigmoid, Tanh, Softmax, Flatten, "
                         "Reshape, Concat, Pad, Dropout, Identity, Constant, "
                         "InstanceNormalization)");
}

/* ---------------------------------------------------------------- the graph */

/* The graph's inputs that no initialiser names: float tensors whose first
 * axis is the batch and the others fixed sizes. */
static nb_status graph_inputs(nb__oi *m)
{
    const Onnx__GraphProto *g = m->g;
    int count = 0;
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *in = g->input[i];
        const char *name = nb__oi_str(in->name);
        if (nb__oi_find(m, name))
            continue;   /* an initialiser listed as an input too (older exporters) */
        const Onnx__TypeProto *t = in->type;
        const Onnx__TensorShapeProto *sh = t && t->tensor_type ? t->tensor_type->shape : NULL;
        if (!t || !t->tensor_type || t->tensor_type->elem_type != NB__OI_FLOAT || !sh)
            return nb__oi_refuse(m, NULL, "the graph input '%s' is not a float32 tensor of "
                                 "known rank", name);
        if (sh->n_dim < 2 || sh->n_dim > NB_MAX_RANK)
            return nb__oi_refuse(m, NULL,
                                 "the graph input '%s' has rank %zu: nabla takes [N, …] of "
                                 "rank 2 to %d",
                                 name, sh->n_dim, NB_MAX_RANK);
        if (++count > 8)
            return nb__oi_refuse(m, NULL, "more than 8 graph inputs");
        nb__oi_val *v = nb__oi_add_val(m, name);
        if (!v)
            return NB_ERR_NOMEM;
        v->shape.rank = (int)sh->n_dim;
        int64_t numel = 1;
        for (size_t d = 0; d < sh->n_dim; d++) {
            const Onnx__TensorShapeProto__Dimension *dim = sh->dim[d];
            bool fixed = dim &&
                         dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            int64_t size = fixed ? dim->dim_value : -1;
            if (d == 0) {
                v->shape.dim[0] = 1;
                if (fixed && size >= 1)
                    m->batch = size;
                continue;
            }
            if (!fixed || size < 1 || size > NB__OI_MAX_NUMEL || numel * size > NB__OI_MAX_NUMEL)
                return nb__oi_refuse(m, NULL, "the graph input '%s' has axis %zu of size "
                                     "%s%lld (nabla needs fixed sizes ≥ 1 after the batch, "
                                     "2^31 elements at most)", name, d,
                                     fixed ? "" : "unknown ", (long long)size);
            v->shape.dim[d] = size;
            numel *= size;
        }
        nb__oi_fresh_name(m, name, "x", v->nb);
        if (!nb__oi_map_put(m, &m->by_nb, (int)(v - m->vals)))
            return NB_ERR_NOMEM;
    }
    if (count == 0)
        return nb__oi_refuse(m, NULL, "the graph has no input besides its initialisers");
    nb__oi_emit(m, "input: {");
    int k = 0;
    for (int i = 0; i < m->n_vals; i++) {
        nb__oi_val *v = &m->vals[i];
        if (!v->nb[0])
            continue;
        char buf[160];
        nb__oi_emit(m, "%s%s: %s", k++ ? ", " : "", v->nb,
                    nb__oi_ints_str(v->shape.dim + 1, (size_t)(v->shape.rank - 1), buf,
                                    sizeof buf));
    }
    nb__oi_emit(m, "}\nnodes:\n");
    return NB_OK;
}

/* "name version" of the producer, printable ASCII only: it goes into a
 * YAML comment, where a newline would start a line of the model. */
static void safe(char *out, size_t size, const char *a, const char *b)
{
    size_t k = 0;
    char both[200];
    snprintf(both, sizeof both, "%s %s", nb__oi_str(a), nb__oi_str(b));
    for (const char *s = both; *s && k + 1 < size; s++)
        out[k++] = (*s >= 32 && *s < 127) ? *s : '?';
    out[k] = 0;
}

nb_status nb__oi_translate(nb__oi *m, const Onnx__ModelProto *model, const char *path)
{
    m->g = model->graph;
    m->batch = -1;
    m->opset = -1;
    for (size_t i = 0; i < model->n_opset_import; i++) {
        const char *d = model->opset_import[i] ? nb__oi_str(model->opset_import[i]->domain) : "-";
        if (!*d || !strcmp(d, "ai.onnx"))
            m->opset = model->opset_import[i]->version;
    }
    if (!m->g)
        return nb__oi_refuse(m, NULL, "'%s' holds no graph", path);
    if (m->opset < 0)
        return nb__oi_refuse(m, NULL, "'%s' declares no opset of ONNX's own operators "
                             "(opset_import of the domain \"\" or \"ai.onnx\"): which version "
                             "of each operator it means is unknown", path);
    if (m->opset < 7)
        return nb__oi_refuse(m, NULL,
                             "'%s' declares ONNX opset %lld; nabla imports opset 7 and later", path,
                             (long long)m->opset);
    const Onnx__GraphProto *g = m->g;
    if (g->n_node > IMP_MAX_VALUES || g->n_initializer > IMP_MAX_VALUES)
        return nb__oi_refuse(m, NULL, "'%s' has more than %d nodes or initialisers", path,
                             IMP_MAX_VALUES);
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        nb_shape s;
        if (!*nb__oi_str(t->name) || nb__oi_find(m, t->name))
            return nb__oi_refuse(m, NULL, "the initialiser '%s' is unnamed or named twice",
                                 nb__oi_str(t->name));
        if (nb__oi_tensor_shape(m, NULL, t, &s) != NB_OK)
            return NB_ERR_ARG;
        nb__oi_val *v = nb__oi_add_val(m, t->name);
        if (!v)
            return NB_ERR_NOMEM;
        v->t = t;
        v->shape = s;
    }
    char who[96];
    safe(who, sizeof who, model->producer_name, model->producer_version);
    nb__oi_emit(m, "# Imported by nabla import from an ONNX file (producer: %s; opset %lld).\n"
                "nabla: 1\nname: imported\n", who, (long long)m->opset);
    nb_status st = graph_inputs(m);
    if (st == NB_OK)
        st = nb__oi_count_readers(m);
    if (st != NB_OK)
        return st;
    m->done = nb_calloc(g->n_node + 1, sizeof *m->done);
    if (!m->done)
        return nb__oi_oom(m, "the list of nodes");
    for (size_t i = 0; i < g->n_node; i++) {
        if (!g->node[i])
            return nb__oi_refuse(m, NULL, "node %zu is empty", i);
        if (m->done[i])
            continue;
        st = node(m, g->node[i], i);
        if (st != NB_OK)   /* the status said with the message (a reader out of memory) */
            return m->err->status != NB_OK ? m->err->status : st;
    }
    if (g->n_output != 1)
        return nb__oi_refuse(m, NULL, "the graph has %zu outputs; nabla imports one", g->n_output);
    const char *out = nb__oi_str(g->output[0]->name);
    nb__oi_val *o = nb__oi_find(m, out);
    if (!o || !o->nb[0] || o->op[0] == 0)
        return nb__oi_refuse(m, NULL, "the graph output '%s' is %s", out,
                             !o ? "not defined by any node" : "not computed by a node");
    nb__oi_emit(m, "output: %s\n", o->nb);
    /* The loss training would use, rewritable: the logits under a final
     * softmax, else the output when it is [N, C] of classes, else mse. */
    if (!strcmp(o->op, "softmax") && o->src >= 0 && o->shape.rank == 2)
        nb__oi_emit(m, "loss: {softmax_cross_entropy: {node: %s}}\n", m->vals[o->src].nb);
    else if (o->shape.rank == 2 && o->shape.dim[1] >= 2)
        nb__oi_emit(m, "loss: softmax_cross_entropy\n");
    else
        nb__oi_emit(m, "loss: mse\n");
    return m->nomem ? nb__oi_oom(m, "the model") : NB_OK;
}
