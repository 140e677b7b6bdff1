/*
 * yaml_model.c — model files: YAML text → the description in io_internal.h
 * (the grammar is docs/model-format.md), and the nb_model_file_* calls.
 *
 * Three steps. yaml_tree.c reads the text into a small tree of scalars,
 * lists and mappings, each with its line and column, refusing what a model
 * file never needs and a hostile file could abuse (anchors, aliases, tags,
 * deep nesting, too many values, a second document, duplicate keys, more
 * than 1 MiB). Then the tree is read against the grammar, here, with the
 * typed reads of yaml_values.c: every key must be known where it stands
 * (else "did you mean"), every value of the right type and range, names
 * unique, a node may read only inputs and nodes above it. Last, the model
 * is built once at batch 2 into a scratch graph whose allocator stops at a
 * budget (yaml_build.c): that checks the shapes fit, with the failing
 * layer's line, and measures the targets' width.
 *
 * Every message reads "file:line:column: what", lines and columns 1-based.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io_internal.h"
#include "yaml_tree.h"
#include "yaml_values.h"

#define MAX_UNITS ((int64_t)1 << 24)   /* units, filters, groups */
#define MAX_WINDOW ((int64_t)1 << 12)  /* kernel, stride, padding, dilation, pool size */
#define MAX_NUMEL ((int64_t)1 << 31)   /* elements of one example or constant */

/* ================================================================ ops and attributes */

typedef struct op_info {
    const char *name;
    int arity;                 /* inputs; -1: one or more */
    const char *keys[14];      /* its attribute keys, NULL-terminated */
    const char *required[3];
} op_info;

#define CONV_KEYS                                                                             \
    "filters", "kernel", "kh", "kw", "stride", "pad", "dilation", "groups", "activation", "bias", \
        "init", "bias_init"
#define WINDOW_KEYS "kernel", "kh", "kw", "stride", "pad", "dilation"

static const op_info ops[NB__Y_COUNT] = {
    [NB__Y_DENSE] = {"dense", 1, {"units", "activation", "bias", "init", "bias_init"}, {"units"}},
    [NB__Y_CONV2D] = {"conv2d", 1, {CONV_KEYS}, {"filters"}},
    [NB__Y_LOCAL2D] = {"local2d", 1, {CONV_KEYS}, {"filters"}},
    [NB__Y_MAXPOOL2D] = {"maxpool2d", 1, {"size", "stride", "pad"}, {"size"}},
    [NB__Y_AVGPOOL2D] = {"avgpool2d", 1, {"size", "stride", "pad"}, {"size"}},
    [NB__Y_FLATTEN] = {"flatten", 1, {NULL}, {NULL}},
    [NB__Y_DROPOUT] = {"dropout", 1, {"rate"}, {"rate"}},
    [NB__Y_BATCHNORM] = {"batchnorm", 1, {"momentum", "eps"}, {NULL}},
    [NB__Y_RELU] = {"relu", 1, {NULL}, {NULL}},
    [NB__Y_LEAKY_RELU] = {"leaky_relu", 1, {"alpha"}, {NULL}},
    [NB__Y_SIGMOID] = {"sigmoid", 1, {NULL}, {NULL}},
    [NB__Y_TANH] = {"tanh", 1, {NULL}, {NULL}},
    [NB__Y_SOFTMAX] = {"softmax", 1, {"axis"}, {NULL}},
    [NB__Y_LOG_SOFTMAX] = {"log_softmax", 1, {"axis"}, {NULL}},
    [NB__Y_THRESHOLD] = {"threshold", 1, {NULL}, {NULL}},
    [NB__Y_NEG] = {"neg", 1, {NULL}, {NULL}},
    [NB__Y_EXP] = {"exp", 1, {NULL}, {NULL}},
    [NB__Y_LOG] = {"log", 1, {NULL}, {NULL}},
    [NB__Y_SQRT] = {"sqrt", 1, {NULL}, {NULL}},
    [NB__Y_ABS] = {"abs", 1, {NULL}, {NULL}},
    [NB__Y_SIGN] = {"sign", 1, {NULL}, {NULL}},
    [NB__Y_ADD] = {"add", 2, {NULL}, {NULL}},
    [NB__Y_SUB] = {"sub", 2, {NULL}, {NULL}},
    [NB__Y_MUL] = {"mul", 2, {NULL}, {NULL}},
    [NB__Y_DIV] = {"div", 2, {NULL}, {NULL}},
    [NB__Y_MAX] = {"max", 2, {NULL}, {NULL}},
    [NB__Y_MIN] = {"min", 2, {NULL}, {NULL}},
    [NB__Y_POW] = {"pow", 2, {NULL}, {NULL}},
    [NB__Y_GT] = {"gt", 2, {NULL}, {NULL}},
    [NB__Y_GE] = {"ge", 2, {NULL}, {NULL}},
    [NB__Y_EQ] = {"eq", 2, {NULL}, {NULL}},
    [NB__Y_WHERE] = {"where", 3, {NULL}, {NULL}},
    [NB__Y_MATMUL] = {"matmul", 2, {"transpose_a", "transpose_b"}, {NULL}},
    [NB__Y_SUM] = {"sum", 1, {"axes", "keepdims"}, {"axes"}},
    [NB__Y_MEAN] = {"mean", 1, {"axes", "keepdims"}, {"axes"}},
    [NB__Y_REDUCE_MAX] = {"reduce_max", 1, {"axes", "keepdims"}, {"axes"}},
    [NB__Y_RESHAPE] = {"reshape", 1, {"shape"}, {"shape"}},
    [NB__Y_PERMUTE] = {"permute", 1, {"perm"}, {"perm"}},
    [NB__Y_EXPAND] = {"expand", 1, {"shape"}, {"shape"}},
    [NB__Y_SLICE] = {"slice", 1, {"axis", "start", "stop", "step"}, {"axis"}},
    [NB__Y_PAD] = {"pad", 1, {"before", "after", "value"}, {NULL}},
    [NB__Y_CONCAT] = {"concat", -1, {"axis"}, {"axis"}},
    [NB__Y_UNFOLD2D] = {"unfold2d", 1, {WINDOW_KEYS}, {NULL}},
    [NB__Y_FOLD2D] = {"fold2d", 1, {"h", "w", WINDOW_KEYS}, {"h", "w"}},
    [NB__Y_FULL] = {"full", 0, {"shape", "value"}, {"shape", "value"}},
    [NB__Y_PARAM] = {"param", 0, {"shape", "init"}, {"shape"}},
    [NB__Y_CONSTANT] = {"constant", 0, {"shape", "values"}, {"shape", "values"}},
};

const char *nb__yop_name(nb__yop op)
{
    return (unsigned)op < NB__Y_COUNT ? ops[op].name : "?";
}

static const char *const loss_names[] = {"none", "softmax_cross_entropy", "mse", "bce_with_logits",
                                         "margin_logistic", "margin_hinge", "margin_exponential",
                                         NULL};

const char *nb__yloss_name(nb__yloss loss)
{
    return (unsigned)loss <= NB__LOSS_MARGIN_EXPONENTIAL ? loss_names[loss] : "?";
}

/* In nb_activation's order. */
static const char *const act_names[] = {"none", "relu", "leaky_relu", "sigmoid", "tanh", "softmax",
                                        "log_softmax", "threshold", NULL};
/* In nb_init_kind's order. */
static const char *const init_names[] = {"default", "zeros", "constant", "uniform", "normal",
                                         "xavier_uniform", "xavier_normal", "he_uniform",
                                         "he_normal", NULL};

typedef enum atype { T_INT, T_FLOAT, T_BOOL, T_ACT, T_INIT, T_AXES, T_PERM, T_PADS, T_SHAPE, T_VALUES } atype;

typedef struct attr_info {
    const char *key;
    atype type;
    size_t off, count;  /* offsetof the field (and of its count, for lists) */
    int64_t lo, hi;     /* integers */
    nb__yrange range;   /* numbers */
} attr_info;

#define A_INT(k, f, lo, hi) {k, T_INT, offsetof(nb__yattrs, f), 0, lo, hi, NB__YR_ANY}
#define A_NUM(k, f, r) {k, T_FLOAT, offsetof(nb__yattrs, f), 0, 0, 0, r}
#define A_OF(k, t, f) {k, t, offsetof(nb__yattrs, f), 0, 0, 0, NB__YR_ANY}
#define A_LIST(k, t, f, n) \
    {k, t, offsetof(nb__yattrs, f), offsetof(nb__yattrs, n), 0, 0, NB__YR_ANY}

static const attr_info attr_table[] = {
    A_INT("units", units, 1, MAX_UNITS),
    A_INT("filters", filters, 1, MAX_UNITS),
    A_INT("kernel", kernel, 1, MAX_WINDOW),
    A_INT("kh", kh, 1, MAX_WINDOW),
    A_INT("kw", kw, 1, MAX_WINDOW),
    A_INT("stride", stride, 1, MAX_WINDOW),
    A_INT("pad", pad, 0, MAX_WINDOW),
    A_INT("dilation", dilation, 1, MAX_WINDOW),
    A_INT("groups", groups, 1, MAX_UNITS),
    A_INT("size", size, 1, MAX_WINDOW),
    A_INT("axis", axis, -NB_MAX_RANK, NB_MAX_RANK - 1),
    A_INT("start", start, -NB__YAML_MAX_INDEX, NB__YAML_MAX_INDEX),
    A_INT("stop", stop, -NB__YAML_MAX_INDEX, NB__YAML_MAX_INDEX),
    A_INT("step", step, 1, NB__YAML_MAX_INDEX),
    A_INT("h", h, 1, MAX_UNITS),
    A_INT("w", w, 1, MAX_UNITS),
    A_NUM("rate", rate, NB__YR_UNIT_CO),
    A_NUM("momentum", momentum, NB__YR_UNIT_OC),
    A_NUM("eps", eps, NB__YR_POS),
    A_NUM("alpha", alpha, NB__YR_UNIT_CC),
    A_NUM("value", value, NB__YR_ANY),
    A_OF("bias", T_BOOL, bias),
    A_OF("keepdims", T_BOOL, keepdims),
    A_OF("transpose_a", T_BOOL, transpose_a),
    A_OF("transpose_b", T_BOOL, transpose_b),
    A_OF("activation", T_ACT, activation),
    A_OF("init", T_INIT, init),
    A_OF("bias_init", T_INIT, bias_init),
    A_OF("shape", T_SHAPE, shape),
    A_LIST("axes", T_AXES, axes, n_axes),
    A_LIST("perm", T_PERM, perm, n_perm),
    A_LIST("before", T_PADS, before, n_before),
    A_LIST("after", T_PADS, after, n_after),
    A_OF("values", T_VALUES, values),
};

#define N_ATTRS ((int)(sizeof attr_table / sizeof attr_table[0]))

static const attr_info *attr_find(const char *key)
{
    for (int i = 0; i < N_ATTRS; i++)
        if (!strcmp(attr_table[i].key, key))
            return &attr_table[i];
    return NULL;
}

/* Integers in [lo, hi]: a list of at most max (or one integer when single). */
static bool to_ints(nb__yctx *c, const nb__yv *v, const char *key, const char *where, int64_t lo,
                    int64_t hi, int max, bool single, int64_t *out, int *n)
{
    if (single && v->kind == NB__YV_SCALAR) {
        *n = 1;
        return nb__yto_int(c, v, key, where, lo, hi, out);
    }
    if (v->kind != NB__YV_SEQ)
        return nb__ytype_error(c, v, key, where, single ? "an integer or a list of integers"
                                                        : "a list of integers");
    if (v->n > max)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key '%s' %s: %d values, at most %d", key,
                         where, v->n, max);
    for (int i = 0; i < v->n; i++)
        if (!nb__yto_int(c, v->kid[i], key, where, lo, hi, &out[i]))
            return false;
    *n = v->n;
    return true;
}

/* A shape of one example: up to NB_MAX_RANK - 1 sizes ≥ 1, at most 2^31
 * elements; with minus_one, one size may be -1 (inferred). */
static bool to_shape(nb__yctx *c, const nb__yv *v, const char *key, const char *where,
                     bool minus_one, nb_shape *out)
{
    int64_t d[NB_MAX_RANK];
    int n = 0;
    if (!to_ints(c, v, key, where, minus_one ? -1 : 1, MAX_NUMEL, NB_MAX_RANK - 1, false, d, &n))
        return false;
    int64_t numel = 1;
    int inferred = 0;
    for (int i = 0; i < n; i++) {
        if (d[i] == 0)
            return nb__yfail(c, NB_ERR_ARG, v->kid[i]->line, v->kid[i]->col, "key '%s' %s: a size "
                             "of 0; sizes must be >= 1%s", key, where, minus_one ? " (or -1)" : "");
        if (d[i] < 0 && ++inferred > 1)
            return nb__yfail(c, NB_ERR_ARG, v->kid[i]->line, v->kid[i]->col, "key '%s' %s: only "
                             "one size may be -1", key, where);
        numel *= d[i] > 0 ? d[i] : 1;
        if (numel > MAX_NUMEL)
            return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key '%s' %s: more than 2^31 "
                             "elements", key, where);
    }
    out->rank = n;
    for (int i = 0; i < n; i++)
        out->dim[i] = d[i];
    return true;
}

/* An initialiser: a word, or {constant: {value}}, {uniform: {low, high}},
 * {normal: {mean, std}}. */
static bool to_init(nb__yctx *c, const nb__yv *v, const char *key, const char *where, nb_init *out)
{
    static const char *const keys[][3] = {
        [NB_INIT_CONSTANT] = {"value"}, [NB_INIT_UNIFORM] = {"low", "high"},
        [NB_INIT_NORMAL] = {"mean", "std"}};
    const nb__yv *word, *opts;
    if (!nb__yone_key(c, v, key, "{uniform: {low: -0.1, high: 0.1}}", &word, &opts))
        return false;
    int kind = nb__ylookup(c, word, "initialiser", init_names);
    if (kind < 0)
        return false;
    *out = (nb_init){.kind = (nb_init_kind)kind};
    bool takes = kind >= NB_INIT_CONSTANT && kind <= NB_INIT_NORMAL;
    if (!takes && opts)
        return nb__yfail(c, NB_ERR_ARG, opts->line, opts->col, "initialiser '%s' takes no options",
                         word->s);
    if (!takes)
        return true;
    const char *const *k = keys[kind];
    char w[48];
    snprintf(w, sizeof w, "in initialiser %s", word->s);
    for (int i = 0; k[i] && i < 2; i++)
        if (!opts || !nb__yget(opts, k[i]))
            return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key '%s' %s: initialiser '%s' needs "
                             "%s, as in %s", key, where, word->s,
                             kind == NB_INIT_CONSTANT ? "a value" : "two values",
                             kind == NB_INIT_CONSTANT ? "{constant: {value: 0.1}}"
                             : kind == NB_INIT_UNIFORM ? "{uniform: {low: -0.1, high: 0.1}}"
                                                       : "{normal: {mean: 0, std: 0.01}}");
    double a = 0, b = 0;
    nb__yrange second = kind == NB_INIT_NORMAL ? NB__YR_POS : NB__YR_ANY;
    if (!nb__ycheck_keys(c, opts, w, k, NULL) ||
        !nb__yto_float(c, nb__yget(opts, k[0]), k[0], w, NB__YR_ANY, &a) ||
        (k[1] && !nb__yto_float(c, nb__yget(opts, k[1]), k[1], w, second, &b)))
        return false;
    if (kind == NB_INIT_UNIFORM && !(a < b))
        return nb__yfail(c, NB_ERR_ARG, opts->line, opts->col, "initialiser uniform: low %g must "
                         "be below high %g", a, b);
    out->a = (float)a, out->b = (float)b;
    return true;
}

/* One attribute value into a, by its table entry. */
static bool parse_attr(nb__yctx *c, const attr_info *ai, const nb__yv *v, const char *where,
                       nb__yop op, nb__yattrs *a)
{
    char *base = (char *)a;
    void *f = base + ai->off;
    switch (ai->type) {
    case T_INT:
        return nb__yto_int(c, v, ai->key, where, ai->lo, ai->hi, f);
    case T_FLOAT:
        return nb__yto_float(c, v, ai->key, where, ai->range, f);
    case T_BOOL:
        return nb__yto_bool(c, v, ai->key, where, f);
    case T_ACT: {
        int k = nb__ylookup(c, v, "activation", act_names);
        *(nb_activation *)f = (nb_activation)(k > 0 ? k : 0);
        return k >= 0;
    }
    case T_INIT:
        return to_init(c, v, ai->key, where, f);
    case T_AXES:
        return to_ints(c, v, ai->key, where, -NB_MAX_RANK, NB_MAX_RANK - 1, NB_MAX_RANK, true, f,
                       (int *)(base + ai->count));
    case T_PERM:
        return to_ints(c, v, ai->key, where, 0, NB_MAX_RANK - 1, NB_MAX_RANK, false, f,
                       (int *)(base + ai->count));
    case T_PADS:
        return to_ints(c, v, ai->key, where, 0, MAX_WINDOW, NB_MAX_RANK - 1, false, f,
                       (int *)(base + ai->count));
    case T_SHAPE:
        return to_shape(c, v, ai->key, where, op == NB__Y_RESHAPE, f);
    case T_VALUES:
        return nb__yto_values(c, v, ai->key, where, a);
    }
    return false;
}

/* The defaults that are not zero. */
static nb__yattrs attr_defaults(void)
{
    return (nb__yattrs){
        .bias = true, .step = 1, .stop = NB__YAML_MAX_INDEX, .alpha = 0.01, .axis = -1};
}

/* ---------------------------------------------------------------- checks across keys */

/* A window: kernel, or kh and kw together. */
static bool check_window(nb__yctx *c, const nb__yv *at, const nb__yv *opts, const char *op)
{
    bool k = nb__yget(opts, "kernel"), h = nb__yget(opts, "kh"), w = nb__yget(opts, "kw");
    if (k && (h || w))
        return nb__yfail(c, NB_ERR_ARG, at->line, at->col, "%s: give 'kernel' or 'kh' and 'kw', "
                         "not both", op);
    if (!k && !(h && w))
        return nb__yfail(c, NB_ERR_ARG, at->line, at->col, "key 'kernel' is missing in %s (or give "
                         "both 'kh' and 'kw')", op);
    return true;
}

/* perm is a permutation of 0..n-1 that keeps the batch axis first. */
static bool check_perm(nb__yctx *c, const nb__yv *v, const nb__yattrs *a)
{
    bool seen[NB_MAX_RANK] = {false};
    for (int i = 0; i < a->n_perm; i++) {
        if (a->perm[i] >= a->n_perm || seen[a->perm[i]])
            return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key 'perm' in permute: not a "
                             "permutation of 0..%d", a->n_perm - 1);
        seen[a->perm[i]] = true;
    }
    if (a->n_perm < 1 || a->perm[0] != 0)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key 'perm' in permute: the batch axis 0 "
                         "must stay first, e.g. [0, 2, 3, 1]");
    return true;
}

/* What one key cannot say alone. */
static bool check_node(nb__yctx *c, const nb__yv *at, const nb__yv *opts, const nb__ynode *n)
{
    const nb__yattrs *a = &n->a;
    switch (n->op) {
    case NB__Y_CONV2D:
    case NB__Y_LOCAL2D:
    case NB__Y_UNFOLD2D:
    case NB__Y_FOLD2D:
        return check_window(c, opts ? opts : at, opts, ops[n->op].name);
    case NB__Y_PERMUTE:
        return check_perm(c, nb__yget(opts, "perm"), a);
    case NB__Y_CONSTANT:
        return nb__ycheck_leaf(c, at, n);
    case NB__Y_PAD:
        if (!a->n_before && !a->n_after)
            return nb__yfail(c, NB_ERR_ARG, at->line, at->col, "pad needs 'before' or 'after' (a "
                             "list of sizes for one example)");
        if (a->n_before && a->n_after && a->n_before != a->n_after)
            return nb__yfail(c, NB_ERR_ARG, at->line, at->col, "pad: 'before' has %d sizes and "
                             "'after' %d", a->n_before, a->n_after);
        return true;
    default:
        return true;
    }
}

/* ================================================================ layers and nodes */

/* The value (input or earlier node) called name, or -1. */
static int find_value(const nb_model_file *m, const char *name)
{
    for (int i = 0; i < m->n_inputs; i++)
        if (!strcmp(m->inputs[i].name, name))
            return i;
    for (int k = 0; k < m->n_nodes; k++)
        if (m->nodes[k].name && !strcmp(m->nodes[k].name, name))
            return m->n_inputs + k;
    return -1;
}

/* A new name must not repeat an input's or an earlier node's, nor take "y". */
static bool claim_name(nb__yctx *c, const nb__yv *v, const char *name)
{
    const nb_model_file *m = c->m;
    int other = find_value(m, name);
    if (!strcmp(name, "y"))
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col,
                         "the name 'y' is reserved for the targets");
    if (other < 0)
        return true;
    if (other < m->n_inputs)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "name '%s' is already an input (line %d)",
                         name, m->inputs[other].line);
    return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "name '%s' is already used by the node at "
                     "line %d", name, m->nodes[other - m->n_inputs].line);
}

static const char *const seq_common[] = {"name", "trainable", NULL};
static const char *const dag_common[] = {"name", "op", "inputs", "trainable", NULL};

/*
 * A node's options (opts may be NULL): its op's keys, plus name and
 * trainable (and, in the nodes form, op and inputs, which the caller reads).
 * `at` is where the node starts.
 */
static bool node_options(nb__yctx *c, const nb__yv *at, const nb__yv *opts, nb__ynode *n, bool dag)
{
    const op_info *op = &ops[n->op];
    char where[48];
    snprintf(where, sizeof where, "in %s", op->name);
    n->a = attr_defaults();
    n->trainable = true;
    const nb__yv *dag_key = dag ? NULL
                            : nb__ykey_of(opts, "inputs") ? nb__ykey_of(opts, "inputs")
                                                          : nb__ykey_of(opts, "op");
    if (dag_key)
        return nb__yfail(c, NB_ERR_ARG, dag_key->line, dag_key->col, "key '%s' belongs to the "
                         "nodes: form; in layers: each layer reads the one above it", dag_key->s);
    if (opts && !nb__ycheck_keys(c, opts, where, op->keys, dag ? dag_common : seq_common))
        return false;
    for (int i = 0; op->required[i] && i < 3; i++)
        if (!nb__yget(opts, op->required[i]))
            return nb__yfail(c, NB_ERR_ARG, (opts ? opts : at)->line, (opts ? opts : at)->col,
                             "key '%s' is missing in %s", op->required[i], op->name);
    for (int i = 0; opts && i < nb__ypairs(opts); i++) {
        const char *k = NB__YKEY(opts, i)->s;
        const nb__yv *v = NB__YVAL(opts, i);
        bool ok = true;
        if (!strcmp(k, "name"))
            ok = (dag ? nb__yto_node_name(c, v, k, where, &n->name)
                      : nb__yto_name(c, v, k, where, &n->name)) &&
                 claim_name(c, v, n->name);
        else if (!strcmp(k, "trainable"))
            ok = nb__yto_bool(c, v, k, where, &n->trainable);
        else if (strcmp(k, "op") && strcmp(k, "inputs"))
            ok = parse_attr(c, attr_find(k), v, where, n->op, &n->a);
        if (!ok)
            return false;
    }
    return check_node(c, at, opts, n);
}

/* The op a word names, with "did you mean" over every op. */
static bool lookup_op(nb__yctx *c, const nb__yv *v, nb__yop *out)
{
    const char *names[NB__Y_COUNT + 1];
    for (int i = 0; i < NB__Y_COUNT; i++)
        names[i] = ops[i].name;
    names[NB__Y_COUNT] = NULL;
    int k = nb__ylookup(c, v, "op", names);
    *out = (nb__yop)(k > 0 ? k : 0);
    return k >= 0;
}

/* ---------------------------------------------------------------- layers: */

/* One item of the sequential form: `flatten` or `{conv2d: {filters: 6, ...}}`. */
static bool parse_layer(nb__yctx *c, const nb__yv *item, int k)
{
    nb_model_file *m = c->m;
    nb__ynode *n = &m->nodes[k];
    *n = (nb__ynode){.line = item->line, .col = item->col, .index = k + 1};
    const nb__yv *word = item, *opts = NULL;
    if (item->kind == NB__YV_MAP && nb__ypairs(item) == 1) {
        word = NB__YKEY(item, 0);
        opts = nb__yis_null(NB__YVAL(item, 0)) ? NULL : NB__YVAL(item, 0);
    } else if (item->kind == NB__YV_MAP && nb__ypairs(item) == 0) {
        return nb__yfail(c, NB_ERR_ARG, item->line, item->col, "layer %d is empty; write an op "
                         "such as flatten or {dense: {units: 10}}", k + 1);
    } else if (item->kind == NB__YV_MAP) {
        return nb__yfail(c, NB_ERR_ARG, item->line, item->col, "layer %d has %d keys ('%.30s', "
                         "'%.30s'%s); a layer is one op with its options inside, as in "
                         "{dense: {units: 10, activation: relu}}", k + 1, nb__ypairs(item),
                         NB__YKEY(item, 0)->s, NB__YKEY(item, 1)->s,
                         nb__ypairs(item) > 2 ? ", ..." : "");
    } else if (item->kind != NB__YV_SCALAR || nb__yis_null(item)) {
        char b[80];
        return nb__yfail(c, NB_ERR_ARG, item->line, item->col, "layer %d: expected an op name "
                         "such as flatten or a mapping such as {dense: {units: 10}}, got %s",
                         k + 1, nb__ygot(item, b, sizeof b));
    }
    if (!lookup_op(c, word, &n->op))
        return false;
    if (opts && opts->kind != NB__YV_MAP) {
        char b[80];
        return nb__yfail(c, NB_ERR_ARG, opts->line, opts->col, "the options of %s must be a "
                         "mapping {key: value, ...}, got %s", word->s, nb__ygot(opts, b, sizeof b));
    }
    if (ops[n->op].arity != 1)
        return nb__yfail(c, NB_ERR_ARG, word->line, word->col, "%s reads %s input%s; each layer of "
                         "the layers: form reads the one before it: write the model as nodes:",
                         word->s, ops[n->op].arity == 0 ? "no" : ops[n->op].arity < 0 ? "several"
                         : ops[n->op].arity == 2 ? "2" : "3", ops[n->op].arity == 0 ? "" : "s");
    if (!node_options(c, item, opts, n, false) || !(n->in = nb__ypool_add(c, sizeof *n->in)))
        return false;
    n->n_in = 1;
    n->in[0] = k == 0 ? 0 : m->n_inputs + k - 1;
    m->n_nodes = k + 1;
    return true;
}

static bool parse_layers(nb__yctx *c, const nb__yv *seq)
{
    nb_model_file *m = c->m;
    if (seq->kind != NB__YV_SEQ || seq->n == 0)
        return nb__ytype_error(c, seq, "layers", "at the top level", "a list of layers");
    if (seq->n > NB__YAML_MAX_NODES)
        return nb__yfail(c, NB_ERR_ARG, seq->line, seq->col, "more than %d layers",
                         NB__YAML_MAX_NODES);
    if (m->n_inputs != 1)
        return nb__yfail(c, NB_ERR_ARG, seq->line, seq->col, "the layers: form reads one input and "
                         "the file declares %d; write the model as nodes:", m->n_inputs);
    if (!(m->nodes = nb__ypool_add(c, (size_t)seq->n * sizeof *m->nodes)))
        return false;
    for (int k = 0; k < seq->n; k++)
        if (!parse_layer(c, seq->kid[k], k))
            return false;
    return true;
}

/* ---------------------------------------------------------------- nodes: */

/* Line of a later node named `name` in the nodes list, or 0. */
static int later_node(const nb__yv *seq, int k, const char *name)
{
    for (int i = k + 1; i < seq->n; i++) {
        const nb__yv *v = nb__yget(seq->kid[i], "name");
        if (v && v->kind == NB__YV_SCALAR && !strcmp(v->s, name))
            return v->line;
    }
    return 0;
}

/* One name of `inputs`: an input or a node above this one. */
static bool resolve_input(nb__yctx *c, const nb__yv *seq, int k, const nb__yv *v, int *out)
{
    const nb__ynode *n = &c->m->nodes[k];
    if (v->kind != NB__YV_SCALAR || nb__yis_null(v))
        return nb__ytype_error(c, v, "inputs", "in a node", "a node or input name");
    *out = find_value(c->m, v->s);
    if (*out >= 0 && *out == nb__ytargets_input(c->m))
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "node '%s' reads the targets 'y'; only "
                         "the loss reads them", n->name);
    if (*out >= 0)
        return true;
    int later = later_node(seq, k, v->s);
    if (n->name && !strcmp(v->s, n->name))
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "node '%s' reads itself; a node reads "
                         "only inputs and nodes above it", n->name);
    if (later)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "node '%s' reads '%s', which comes later "
                         "(line %d); a node reads only inputs and nodes above it", n->name, v->s,
                         later);
    return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "node '%s' reads '%.60s', which is not an "
                     "input or a node above it", n->name, v->s);
}

/* `inputs: [a, b]` (or one name); absent, a one-input op reads the value
 * just above it. */
static bool parse_node_inputs(nb__yctx *c, const nb__yv *seq, int k, const nb__yv *item)
{
    nb_model_file *m = c->m;
    nb__ynode *n = &m->nodes[k];
    const nb__yv *v = nb__yget(item, "inputs");
    int arity = ops[n->op].arity, count = !v ? 0 : v->kind == NB__YV_SEQ ? v->n : 1;
    if (!v && arity == 1)
        count = 1;
    else if (!v && arity != 0)
        return nb__yfail(c, NB_ERR_ARG, item->line, item->col, "node '%s': %s reads %s inputs; "
                         "list them in 'inputs'", n->name, ops[n->op].name,
                         arity < 0 ? "one or more" : arity == 2 ? "2" : "3");
    else if (arity >= 0 && count != arity)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "node '%s': %s reads %d input%s, and "
                         "'inputs' names %d", n->name, ops[n->op].name, arity,
                         arity == 1 ? "" : "s", count);
    else if (arity < 0 && (count < 1 || count > NB__YAML_MAX_NODE_INPUTS))
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "node '%s': %s reads 1 to %d inputs, and "
                         "'inputs' names %d", n->name, ops[n->op].name, NB__YAML_MAX_NODE_INPUTS,
                         count);
    if (count && !(n->in = nb__ypool_add(c, (size_t)count * sizeof *n->in)))
        return false;
    n->n_in = count;
    if (!v && count == 1)
        n->in[0] = k == 0 ? 0 : m->n_inputs + k - 1;
    for (int i = 0; v && i < count; i++)
        if (!resolve_input(c, seq, k, v->kind == NB__YV_SEQ ? v->kid[i] : v, &n->in[i]))
            return false;
    return true;
}

/* Every key any node may have, for "did you mean" when `op` is missing. */
static bool check_any_node_keys(nb__yctx *c, const nb__yv *item)
{
    const char *all[N_ATTRS + 1];
    for (int i = 0; i < N_ATTRS; i++)
        all[i] = attr_table[i].key;
    all[N_ATTRS] = NULL;
    return nb__ycheck_keys(c, item, "in a node", dag_common, all);
}

/* One item of the DAG form: {name: h1, op: dense, inputs: [x], units: 64}. */
static bool parse_node(nb__yctx *c, const nb__yv *seq, int k)
{
    nb_model_file *m = c->m;
    const nb__yv *item = seq->kid[k];
    nb__ynode *n = &m->nodes[k];
    *n = (nb__ynode){.line = item->line, .col = item->col, .index = k + 1};
    if (item->kind != NB__YV_MAP)
        return nb__ytype_error(c, item, "nodes", "at the top level",
                               "a mapping such as {name: h1, op: dense, inputs: [x], units: 64}");
    const nb__yv *op = nb__yget(item, "op");
    if (!op)
        return check_any_node_keys(c, item) &&
               nb__yfail(c, NB_ERR_ARG, item->line, item->col, "key 'op' is missing in node %d",
                         k + 1);
    if (!lookup_op(c, op, &n->op) || !node_options(c, item, item, n, true))
        return false;
    if (!n->name)
        return nb__yfail(c, NB_ERR_ARG, item->line, item->col, "key 'name' is missing in node %d "
                         "(%s)", k + 1, ops[n->op].name);
    if (!parse_node_inputs(c, seq, k, item))
        return false;
    m->n_nodes = k + 1;
    return true;
}

static bool parse_nodes(nb__yctx *c, const nb__yv *seq)
{
    nb_model_file *m = c->m;
    if (seq->kind != NB__YV_SEQ || seq->n == 0)
        return nb__ytype_error(c, seq, "nodes", "at the top level", "a list of nodes");
    if (seq->n > NB__YAML_MAX_NODES)
        return nb__yfail(c, NB_ERR_ARG, seq->line, seq->col, "more than %d nodes",
                         NB__YAML_MAX_NODES);
    if (!(m->nodes = nb__ypool_add(c, (size_t)seq->n * sizeof *m->nodes)))
        return false;
    m->dag = true;
    for (int k = 0; k < seq->n; k++)
        if (!parse_node(c, seq, k))
            return false;
    return true;
}

/* ================================================================ the other sections */

/* input: {x: [1, 28, 28], ...}: names and one example's shape each. */
static bool parse_inputs(nb__yctx *c, const nb__yv *v)
{
    nb_model_file *m = c->m;
    if (v->kind != NB__YV_MAP || nb__ypairs(v) == 0)
        return nb__ytype_error(c, v, "input", "at the top level", "a mapping of input names to "
                               "shapes, such as {x: [1, 28, 28]}");
    if (!(m->inputs = nb__ypool_add(c, (size_t)nb__ypairs(v) * sizeof *m->inputs)))
        return false;
    for (int i = 0; i < nb__ypairs(v); i++) {
        nb__yinput *in = &m->inputs[i];
        const nb__yv *k = NB__YKEY(v, i);
        in->line = k->line, in->col = k->col;
        if (!nb__yto_name(c, k, "input", "at the top level", &in->name) ||
            (!(i > 0 && !strcmp(in->name, "y")) && !claim_name(c, k, in->name)) ||
            !to_shape(c, NB__YVAL(v, i), in->name, "in input", false, &in->shape))
            return false;
        m->n_inputs = i + 1;
    }
    return true;
}

/* output: <node name>; else the last node. */
static bool parse_output(nb__yctx *c, const nb__yv *v, const char *key, const char *where, int *out)
{
    nb_model_file *m = c->m;
    if (!v) {
        *out = m->n_nodes - 1;
        return true;
    }
    if (v->kind != NB__YV_SCALAR || nb__yis_null(v))
        return nb__ytype_error(c, v, key, where, "a node name");
    int k = find_value(m, v->s);
    if (k < 0)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "%s '%.60s' is not the name of a %s", key,
                         v->s, m->dag ? "node" : "layer (give the layer a name: ...)");
    if (k < m->n_inputs)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "%s '%s' is an input; name a node", key,
                         v->s);
    *out = k - m->n_inputs;
    return true;
}

/* loss: mse, or {softmax_cross_entropy: {node: logits}}. */
static bool parse_loss(nb__yctx *c, const nb__yv *v)
{
    nb_model_file *m = c->m;
    m->loss = NB__LOSS_NONE;
    m->loss_node = m->output;
    if (!v)
        return true;
    const nb__yv *word, *opts;
    static const char *const keys[] = {"node", NULL};
    if (!nb__yone_key(c, v, "loss", "{softmax_cross_entropy: {node: logits}}", &word, &opts))
        return false;
    int k = nb__ylookup(c, word, "loss", loss_names);
    if (k < 0)
        return false;
    m->loss = (nb__yloss)k;
    m->loss_line = word->line, m->loss_col = word->col;
    char where[64];
    snprintf(where, sizeof where, "in loss %s", word->s);
    if (!opts)
        return true;
    return nb__ycheck_keys(c, opts, where, keys, NULL) &&
           parse_output(c, nb__yget(opts, "node"), "node", where, &m->loss_node);
}

/* optimizer: {cg: {chunk, iterations, restart, step0, c2, max_evals,
 * max_examples, shuffle}}: chunked conjugate gradients (nb_trainer_fit_cg).
 * Every key is optional; a 0 where the C API reads 0 as "the default" is
 * accepted and means the same. Epochs and seed come from train: at use
 * (nb_model_file_cg). */
static bool parse_cg(nb__yctx *c, const nb__yv *opts)
{
    static const char *const keys[] = {"chunk", "iterations", "restart", "step0", "c2",
                                       "max_evals", "max_examples", "shuffle", NULL};
    static const char *const w = "in optimizer cg";
    nb_cg_opts *o = &c->m->cg_opts;
    *o = (nb_cg_opts){0};
    c->m->cg = true;
    if (!opts)
        return true;
    if (!nb__ycheck_keys(c, opts, w, keys, NULL))
        return false;
    for (int i = 0; i < nb__ypairs(opts); i++) {
        const char *key = NB__YKEY(opts, i)->s;
        const nb__yv *x = NB__YVAL(opts, i);
        int64_t n = 0;
        double d = 0;
        bool ok = true;
        if (!strcmp(key, "shuffle"))
            ok = nb__yto_bool(c, x, key, w, &o->shuffle);
        else if (!strcmp(key, "step0") || !strcmp(key, "c2"))
            ok = nb__yto_float(c, x, key, w, NB__YR_NONNEG, &d);
        else
            ok = nb__yto_int(c, x, key, w, 0, !strcmp(key, "chunk") ||
                             !strcmp(key, "max_examples") ? INT64_MAX : INT32_MAX, &n);
        if (!ok)
            return false;
        if (!strcmp(key, "c2") && !(d < 0.5))
            return nb__yfail(c, NB_ERR_ARG, x->line, x->col, "key 'c2' %s: %g is out of range; "
                             "it must be in [0, 0.5) (0: the default, 0.1)", w, d);
        if (!strcmp(key, "chunk")) o->chunk = n;
        else if (!strcmp(key, "iterations")) o->iterations = (int)n;
        else if (!strcmp(key, "restart")) o->restart = (int)n;
        else if (!strcmp(key, "max_evals")) o->max_evals = (int)n;
        else if (!strcmp(key, "max_examples")) o->max_examples = n;
        else if (!strcmp(key, "step0")) o->step0 = d;
        else if (!strcmp(key, "c2")) o->c2 = d;
    }
    return true;
}

/* optimizer: sgd, or {sgd|adam|rmsprop: {lr, ...}}, or {cg: {...}} (the
 * trainer's optimiser then stays SGD with its defaults: it must exist,
 * though conjugate gradients never step it). */
static bool parse_optimizer(nb__yctx *c, const nb__yv *v, nb_optimizer_opts *o)
{
    static const char *const kinds[] = {"sgd", "adam", "rmsprop", "cg", NULL};
    static const char *const keys[][6] = {
        {"lr", "momentum", "nesterov", "weight_decay", NULL},
        {"lr", "beta1", "beta2", "eps", "weight_decay", NULL},
        {"lr", "alpha", "momentum", "eps", "weight_decay", NULL}};
    const nb__yv *word, *opts;
    if (!nb__yone_key(c, v, "optimizer", "{sgd: {lr: 0.01, momentum: 0.9}}", &word, &opts))
        return false;
    int k = nb__ylookup(c, word, "optimizer", kinds);
    if (k < 0)
        return false;
    if (!strcmp(kinds[k], "cg"))
        return parse_cg(c, opts);
    *o = nb_optimizer_defaults((nb_optimizer_kind)k);
    if (!opts)
        return true;
    char w[48];
    snprintf(w, sizeof w, "in optimizer %s", kinds[k]);
    if (!nb__ycheck_keys(c, opts, w, keys[k], NULL))
        return false;
    for (int i = 0; i < nb__ypairs(opts); i++) {
        const char *key = NB__YKEY(opts, i)->s;
        const nb__yv *x = NB__YVAL(opts, i);
        double d = 0;
        nb__yrange r = !strcmp(key, "lr") || !strcmp(key, "eps") ? NB__YR_POS
                       : !strcmp(key, "momentum") || !strcmp(key, "beta1")
                         || !strcmp(key, "beta2") || !strcmp(key, "alpha") ? NB__YR_UNIT_CO
                       : !strcmp(key, "weight_decay") ? NB__YR_NONNEG : NB__YR_UNIT_OO;
        bool ok = !strcmp(key, "nesterov") ? nb__yto_bool(c, x, key, w, &o->nesterov)
                                           : nb__yto_float(c, x, key, w, r, &d);
        if (!ok)
            return false;
        float f = (float)d;
        if (!strcmp(key, "lr")) o->lr = f;
        else if (!strcmp(key, "momentum")) o->momentum = f;
        else if (!strcmp(key, "weight_decay")) o->weight_decay = f;
        else if (!strcmp(key, "beta1")) o->beta1 = f;
        else if (!strcmp(key, "beta2")) o->beta2 = f;
        else if (!strcmp(key, "alpha")) o->alpha = f;
        else if (!strcmp(key, "eps")) o->eps = f;
    }
    if (o->nesterov && !(o->momentum > 0))
        return nb__yfail(c, NB_ERR_ARG, opts->line, opts->col, "optimizer sgd: nesterov needs a "
                         "momentum > 0");
    return true;
}

/* schedule: constant, or {step: {every, gamma}}, or {cosine: {total, min_ratio}}. */
static bool parse_schedule(nb__yctx *c, const nb__yv *v, nb_schedule *s)
{
    static const char *const kinds[] = {"constant", "step", "cosine", NULL};
    static const char *const keys[][3] = {{NULL}, {"every", "gamma", NULL},
                                          {"total", "min_ratio", NULL}};
    const nb__yv *word, *opts;
    if (!nb__yone_key(c, v, "schedule", "{cosine: {total: 5000, min_ratio: 0.01}}", &word, &opts))
        return false;
    int k = nb__ylookup(c, word, "schedule", kinds);
    if (k < 0)
        return false;
    *s = (nb_schedule){.kind = (nb_schedule_kind)k, .gamma = 0.1f};
    char w[48];
    snprintf(w, sizeof w, "in schedule %s", kinds[k]);
    if (k && (!opts || !nb__yget(opts, keys[k][0])))
        return nb__yfail(c, NB_ERR_ARG, (opts ? opts : v)->line, (opts ? opts : v)->col,
                         "key '%s' is missing in schedule %s", keys[k][0], kinds[k]);
    if (!opts)
        return true;
    double d = 0;
    const nb__yv *x;
    if (!nb__ycheck_keys(c, opts, w, keys[k], NULL))
        return false;
    if (k == NB_SCHEDULE_STEP)
        return nb__yto_int(c, nb__yget(opts, "every"), "every", w, 1, INT64_MAX, &s->every) &&
               (!(x = nb__yget(opts, "gamma")) ||
                (nb__yto_float(c, x, "gamma", w, NB__YR_UNIT_OC, &d) &&
                 (s->gamma = (float)d, true)));
    return nb__yto_int(c, nb__yget(opts, "total"), "total", w, 1, INT64_MAX, &s->total) &&
           (!(x = nb__yget(opts, "min_ratio")) ||
            (nb__yto_float(c, x, "min_ratio", w, NB__YR_UNIT_CC, &d) &&
             (s->min_ratio = (float)d, true)));
}

/* q_stop: {rtol, window}. */
static bool parse_q_stop(nb__yctx *c, const nb__yv *v, nb_train_opts *t)
{
    static const char *const keys[] = {"rtol", "window", NULL};
    const char *w = "in train q_stop";
    const nb__yv *x;
    if (!nb__ywant_map(c, v, "q_stop", "in train") || !nb__ycheck_keys(c, v, w, keys, NULL))
        return false;
    if (!nb__yget(v, "rtol"))
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key 'rtol' is missing in train q_stop");
    return nb__yto_float(c, nb__yget(v, "rtol"), "rtol", w, NB__YR_POS, &t->q_stop_rtol) &&
           (!(x = nb__yget(v, "window")) ||
            nb__yto_int(c, x, "window", w, 1, INT64_MAX, &t->q_stop_window));
}

/* train: {batch, epochs, seed, shuffle, eval_batch, q_eta, q_stop,
 * validation, early_stopping} (the last two in yaml_train.c). */
static bool parse_train(nb__yctx *c, const nb__yv *v, nb_train_opts *t)
{
    static const char *const keys[] = {"batch", "epochs", "seed", "shuffle", "eval_batch", "q_eta",
                                       "q_stop", "validation", "early_stopping", NULL};
    const char *w = "in train";
    if (!nb__ywant_map(c, v, "train", "at the top level") || !nb__ycheck_keys(c, v, w, keys, NULL))
        return false;
    for (int i = 0; i < nb__ypairs(v); i++) {
        const char *key = NB__YKEY(v, i)->s;
        const nb__yv *x = NB__YVAL(v, i);
        int64_t n = 0;
        bool shuffle = true, ok;
        if (!strcmp(key, "batch"))
            ok = nb__yto_int(c, x, key, w, 1, MAX_UNITS, &t->batch);
        else if (!strcmp(key, "eval_batch"))
            ok = nb__yto_int(c, x, key, w, 1, MAX_UNITS, &t->eval_batch);
        else if (!strcmp(key, "epochs"))
            ok = nb__yto_int(c, x, key, w, 1, 1000000, &n) && (t->epochs = (int)n, true);
        else if (!strcmp(key, "seed"))
            ok = nb__yto_int(c, x, key, w, 0, INT64_MAX, &n) && (t->seed = (uint64_t)n, true);
        else if (!strcmp(key, "shuffle"))
            ok = nb__yto_bool(c, x, key, w, &shuffle) && (t->no_shuffle = !shuffle, true);
        else if (!strcmp(key, "q_eta"))
            ok = nb__yto_float(c, x, key, w, NB__YR_UNIT_OC, &t->q_eta);
        else if (!strcmp(key, "q_stop"))
            ok = parse_q_stop(c, x, t);
        else
            ok = nb__yparse_validation(c, key, x, t);
        if (!ok)
            return false;
    }
    return true;
}

/* A path as written, or joined to the model file's folder when relative. */
static const char *resolve(nb__yctx *c, const char *path)
{
    const char *file = c->m->file, *slash = strrchr(file, '/');
    if (path[0] == '/' || !slash)
        return nb__ypool_str(c, path);
    size_t dir = (size_t)(slash - file), n = strlen(path);
    char *p = nb__ypool_add(c, dir + 1 + n + 1);
    if (p) {
        memcpy(p, file, dir + 1);
        memcpy(p + dir + 1, path, n + 1);
    }
    return p;
}

/* A path-valued key of the data section, resolved. */
static bool data_path(nb__yctx *c, const nb__yv *map, const char *key, const char **out)
{
    const nb__yv *v = nb__yget(map, key);
    const char *s;
    if (!v)
        return true;
    if (!nb__yto_str(c, v, key, "in data", &s))
        return false;
    return (*out = resolve(c, s)) != NULL;
}

/* data: {format: idx, dir} or {format: hdf5, train, test, x, y}. */
static bool parse_data(nb__yctx *c, const nb__yv *v)
{
    static const char *const formats[] = {"idx", "hdf5", NULL};
    static const char *const idx_keys[] = {"format", "dir", NULL};
    static const char *const h5_keys[] = {"format", "train", "test", "validation", "x", "y",
                                          NULL};
    nb_data_spec *d = &c->m->data;
    if (!nb__ywant_map(c, v, "data", "at the top level"))
        return false;
    const nb__yv *f = nb__yget(v, "format");
    if (!f)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key 'format' is missing in data (idx or "
                         "hdf5)");
    int k = nb__ylookup(c, f, "data format", formats);
    if (k < 0 || !nb__ycheck_keys(c, v, k ? "in data (format hdf5)" : "in data (format idx)",
                                       k ? h5_keys : idx_keys, NULL))
        return false;
    d->format = formats[k];
    const char *need = k ? "train" : "dir";
    if (!nb__yget(v, need))
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key '%s' is missing in data (format %s)",
                         need, formats[k]);
    d->x = k ? "X" : NULL;
    d->y = k ? "y" : NULL;
    return data_path(c, v, "dir", &d->dir) && data_path(c, v, "train", &d->train) &&
           data_path(c, v, "test", &d->test) &&
           data_path(c, v, "validation", &d->validation) &&
           (!nb__yget(v, "x") || nb__yto_str(c, nb__yget(v, "x"), "x", "in data", &d->x)) &&
           (!nb__yget(v, "y") || nb__yto_str(c, nb__yget(v, "y"), "y", "in data", &d->y));
}

/* The trainer's defaults, written out so callers can show them. */
static nb_train_opts train_defaults(void)
{
    return (nb_train_opts){
        .batch = 32, .epochs = 1, .q_eta = 0.01, .q_stop_window = 1000, .eval_batch = 256,
        .optimizer = {.kind = NB_OPT_SGD, .lr = 0.01f}, .schedule = {.kind = NB_SCHEDULE_CONSTANT}};
}

/* clip_norm: a number >= 0 (0: no clipping). */
static bool parse_clip(nb__yctx *c, const nb__yv *v, float *out)
{
    double d = 0;
    if (!nb__yto_float(c, v, "clip_norm", "at the top level", NB__YR_NONNEG, &d))
        return false;
    *out = (float)d;
    return true;
}

/* ================================================================ the top level */

static const char *const top_keys[] = {"nabla", "name", "input", "layers", "nodes", "output", "loss",
                                       "optimizer", "schedule", "clip_norm", "train", "data",
                                       "x_div", NULL};

/* nabla: 1, first of all. */
static bool parse_version(nb__yctx *c, const nb__yv *root)
{
    const nb__yv *v = nb__yget(root, "nabla");
    int64_t version = 0;
    if (!v)
        return nb__yfail(c, NB_ERR_ARG, root->line, root->col, "key 'nabla' is missing at the top "
                         "level: a model file starts with the format version, 'nabla: 1'");
    if (!nb__yto_int(c, v, "nabla", "at the top level", 0, INT64_MAX, &version))
        return false;
    if (version != 1)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "format version nabla: %lld is not "
                         "supported; this nabla reads version 1", (long long)version);
    return true;
}

/* The model's name: name:, else the file's name without folder and extension. */
static bool parse_name(nb__yctx *c, const nb__yv *root)
{
    const nb__yv *v = nb__yget(root, "name");
    if (v)
        return nb__yto_name(c, v, "name", "at the top level", &c->m->name);
    const char *file = c->m->file, *slash = strrchr(file, '/');
    char base[NB__YAML_NAME_MAX];
    snprintf(base, sizeof base, "%s", slash ? slash + 1 : file);
    char *dot = strchr(base, '.');
    if (dot && dot != base)
        *dot = '\0';
    return (c->m->name = nb__ypool_str(c, base)) != NULL;
}

/* layers: or nodes:, exactly one. */
static bool parse_body(nb__yctx *c, const nb__yv *root)
{
    const nb__yv *layers = nb__yget(root, "layers"), *nodes = nb__yget(root, "nodes");
    if (layers && nodes)
        return nb__yfail(c, NB_ERR_ARG, nb__ykey_of(root, "nodes")->line,
                         nb__ykey_of(root, "nodes")->col,
                         "a model has 'layers' (line %d) or 'nodes', not both",
                         nb__ykey_of(root, "layers")->line);
    if (!layers && !nodes)
        return nb__yfail(c, NB_ERR_ARG, root->line, root->col, "key 'layers' (or 'nodes') is "
                         "missing at the top level");
    return layers ? parse_layers(c, layers) : parse_nodes(c, nodes);
}

static bool parse_model(nb__yctx *c, const nb__yv *root)
{
    nb_model_file *m = c->m;
    if (!root)
        return nb__yfail(c, NB_ERR_ARG, 0, 0,
                         "the file is empty; a model file starts with 'nabla: 1'");
    if (root->kind != NB__YV_MAP) {
        char b[80];
        return nb__yfail(c, NB_ERR_ARG, root->line, root->col, "the top level must be a mapping "
                         "(nabla: 1, input: ..., layers: ...), not %s",
                         nb__ygot(root, b, sizeof b));
    }
    const nb__yv *v;
    m->train = train_defaults();
    m->x_div = 255;
    if (!nb__ycheck_keys(c, root, "at the top level", top_keys, NULL) || !parse_version(c, root) ||
        !parse_name(c, root))
        return false;
    if (!(v = nb__yget(root, "input")))
        return nb__yfail(c, NB_ERR_ARG, root->line, root->col, "key 'input' is missing at the top "
                         "level (e.g. input: {x: [1, 28, 28]})");
    return parse_inputs(c, v) && parse_body(c, root) &&
           parse_output(c, nb__yget(root, "output"), "output", "at the top level", &m->output) &&
           parse_loss(c, nb__yget(root, "loss")) &&
           (!(v = nb__yget(root, "optimizer")) || parse_optimizer(c, v, &m->train.optimizer)) &&
           (!(v = nb__yget(root, "schedule")) || parse_schedule(c, v, &m->train.schedule)) &&
           (!(v = nb__yget(root, "clip_norm")) || parse_clip(c, v, &m->train.clip_norm)) &&
           (!(v = nb__yget(root, "train")) || parse_train(c, v, &m->train)) &&
           (!(v = nb__yget(root, "data")) || parse_data(c, v)) &&
           (!(v = nb__yget(root, "x_div")) || nb__yparse_x_div(c, v, &m->x_div));
}

/* ================================================================ the probe build */

/* Builds the model once at batch 2 (nb__model_probe): the shapes must fit,
 * and the targets' width and the output's shape come from what was built. */
static bool probe(nb__yctx *c)
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

/* ================================================================ the public calls */

static void set_error(nb_error *err, nb_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void set_error(nb_error *err, nb_status st, const char *fmt, ...)
{
    if (!err)
        return;
    err->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

/* The tree is read before the text is copied: the reader's 1 MiB bound
 * refuses an oversized len before anything reads or allocates that much. */
nb_model_file *nb_model_file_parse(const char *text, size_t len, const char *filename,
                                   nb_error *err)
{
    if (err)
        *err = (nb_error){.status = NB_OK};
    nb_model_file *m = nb_calloc(1, sizeof *m);
    if (!m) {
        set_error(err, NB_ERR_NOMEM, "%s: out of memory for the model file",
                  filename ? filename : "model");
        return NULL;
    }
    nb__yctx c = {.m = m, .err = err};
    nb__yv *root = NULL;
    nb__yerror e;
    m->file = nb__ypool_str(&c, filename ? filename : "model");
    if (m->file && !text)
        nb__yfail(&c, NB_ERR_ARG, 0, 0, "no text (NULL)");
    else if (m->file && nb__yread_tree(text, len, &root, &e) != NB_OK)
        nb__yfail(&c, e.status, e.line, e.col, "%s", e.message);
    if (!c.failed && (m->text = nb__ypool_add(&c, len + 1))) {
        memcpy(m->text, text, len);
        m->len = len;
        if (parse_model(&c, root))
            probe(&c);
    }
    nb__yv_free(root);
    if (c.failed) {
        nb_model_file_free(m);
        return NULL;
    }
    return m;
}

nb_model_file *nb_model_file_load(const char *path, nb_error *err)
{
    if (!path) {
        set_error(err, NB_ERR_ARG, "model file: no path (NULL)");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_error(err, NB_ERR_ARG, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = nb_malloc(NB__YAML_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, NB__YAML_MAX_BYTES + 1, f) : 0;
    int e = ferror(f) ? errno : 0;
    fclose(f);
    nb_model_file *m = NULL;
    if (!buf)
        set_error(err, NB_ERR_NOMEM, "%s: out of memory for a 1 MiB buffer to read it into", path);
    else if (e)
        set_error(err, NB_ERR_ARG, "%s: cannot read: %s", path, strerror(e));
    else if (n > NB__YAML_MAX_BYTES)
        set_error(err, NB_ERR_ARG, "%s: the file is larger than 1 MiB; a model file is a short "
                  "YAML text", path);
    else
        m = nb_model_file_parse(buf, n, path, err);
    nb_free(buf);
    return m;
}

void nb_model_file_free(nb_model_file *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_pool; i++)
        nb_free(m->pool[i]);
    nb_free(m->pool);
    nb_free(m);
}

const char *nb_model_file_name(const nb_model_file *m)
{
    return m ? m->name : NULL;
}

const char *nb_model_file_text(const nb_model_file *m)
{
    return m ? m->text : NULL;
}

nb_shape nb_model_file_input_shape(const nb_model_file *m)
{
    return m && m->n_inputs ? m->inputs[0].shape : (nb_shape){0};
}

int64_t nb_model_file_y_width(const nb_model_file *m)
{
    return m ? m->y_width : 0;
}

nb_train_opts nb_model_file_train_opts(const nb_model_file *m)
{
    return m ? m->train : train_defaults();
}

bool nb_model_file_cg(const nb_model_file *m, nb_cg_opts *o)
{
    if (!m || !m->cg)
        return false;
    if (o) {
        *o = m->cg_opts;
        o->epochs = m->train.epochs;
        o->seed = m->train.seed;
    }
    return true;
}

nb_data_spec nb_model_file_data(const nb_model_file *m)
{
    return m ? m->data : (nb_data_spec){0};
}


/* ================================================================ growing: one dense layer's width */

/* Dense node `layer`'s index: its `name:` or the automatic name nb_dense
 * gives it ("dense<k>": unnamed dense layers numbered in order, skipping a
 * number an earlier node's name took); -1 with the reason in err, which
 * lists the dense layers or suggests the closest name. */
static int find_dense(const nb_model_file *m, const char *layer, nb_error *err)
{
    int count = 0, n_dense = 0;
    char names[64][64];
    for (int k = 0; k < m->n_nodes; k++) {
        const nb__ynode *n = &m->nodes[k];
        char name[64];
        if (n->name)
            snprintf(name, sizeof name, "%s", n->name);
        else if (n->op == NB__Y_DENSE)
            for (bool taken = true; taken;) {
                snprintf(name, sizeof name, "dense%d", ++count);
                taken = false;
                for (int j = 0; j < k && !taken; j++)
                    taken = m->nodes[j].name && !strcmp(m->nodes[j].name, name);
            }
        else
            continue;
        if (n->op == NB__Y_DENSE && n_dense < 64)
            snprintf(names[n_dense++], sizeof names[0], "%s", name);
        if (strcmp(name, layer))
            continue;
        if (n->op == NB__Y_DENSE)
            return k;
        set_error(err, NB_ERR_ARG, "%s: layer '%s' (line %d) is a %s layer, not dense", m->file,
                  layer, n->line, ops[n->op].name);
        return -1;
    }
    const char *list[65];
    char known[300] = "";
    for (int i = 0; i < n_dense; i++) {
        list[i] = names[i];
        size_t at = strlen(known);
        snprintf(known + at, sizeof known - at, "%s%s", i ? ", " : "", names[i]);
    }
    list[n_dense] = NULL;
    const char *best = nb_closest_name(layer, list);
    if (best)
        set_error(err, NB_ERR_ARG, "%s: no dense layer named '%s'; did you mean '%s'?", m->file,
                  layer, best);
    else
        set_error(err, NB_ERR_ARG, "%s: no dense layer named '%s' (its dense layers: %s)", m->file,
                  layer, n_dense ? known : "none");
    return -1;
}

/* The offset of line:col (1-based) in the text, or len. */
static size_t text_offset(const nb_model_file *m, int line, int col)
{
    size_t i = 0;
    for (int l = 1; l < line && i < m->len; i++)
        if (m->text[i] == '\n')
            l++;
    return i + (size_t)(col > 0 ? col - 1 : 0) < m->len ? i + (size_t)(col > 0 ? col - 1 : 0)
                                                        : m->len;
}

/* The first "units: <integer>" within text [from, to): start and end of the
 * integer, false when there is none (units given through an alias). */
static bool find_units_value(const nb_model_file *m, size_t from, size_t to, size_t *s, size_t *e)
{
    const char *t = m->text;
    for (size_t i = from; i + 5 <= to; i++) {
        if (strncmp(t + i, "units", 5) != 0 ||
            (i > 0 && (isalnum((unsigned char)t[i - 1]) || t[i - 1] == '_')))
            continue;
        size_t j = i + 5;
        while (j < to && (t[j] == ' ' || t[j] == '"' || t[j] == '\''))
            j++;
        if (j >= to || t[j] != ':')
            continue;
        for (j++; j < to && (t[j] == ' ' || t[j] == '\t'); j++)
            ;
        *s = j;
        while (j < to && isdigit((unsigned char)t[j]))
            j++;
        *e = j;
        return *e > *s;
    }
    return false;
}

/* The text with node k's units value replaced by `units`: what weights
 * files store, so the saved model rebuilds at its grown width. */
static bool rewrite_units(nb_model_file *m, int k, int64_t units, nb_error *err)
{
    size_t from = text_offset(m, m->nodes[k].line, m->nodes[k].col);
    size_t to = k + 1 < m->n_nodes ? text_offset(m, m->nodes[k + 1].line, m->nodes[k + 1].col)
                                   : m->len;
    size_t s, e;
    if (!find_units_value(m, from, to, &s, &e)) {
        set_error(err, NB_ERR_ARG, "%s: layer at line %d: cannot find its 'units: <number>' in "
                  "the text to rewrite", m->file, m->nodes[k].line);
        return false;
    }
    char num[32];
    int n = snprintf(num, sizeof num, "%lld", (long long)units);
    nb__yctx c = {.m = m, .err = err};
    char *text = nb__ypool_add(&c, m->len - (e - s) + (size_t)n + 1);
    if (!text)
        return false;
    memcpy(text, m->text, s);
    memcpy(text + s, num, (size_t)n);
    memcpy(text + s + n, m->text + e, m->len - e);
    m->len = m->len - (e - s) + (size_t)n;
    text[m->len] = '\0';
    m->text = text;
    return true;
}

nb_status nb_model_file_set_units(nb_model_file *m, const char *layer, int64_t units, nb_error *err)
{
    if (err)
        *err = (nb_error){.status = NB_OK};
    if (!m || !layer) {
        set_error(err, NB_ERR_ARG, "set units: no model file or layer name (NULL)");
        return NB_ERR_ARG;
    }
    int k = find_dense(m, layer, err);
    if (k < 0)
        return NB_ERR_ARG;
    if (units < 1 || units > MAX_UNITS) {
        set_error(err, NB_ERR_ARG, "%s: layer '%s': units %lld is outside [1, %lld]", m->file, layer,
                  (long long)units, (long long)MAX_UNITS);
        return NB_ERR_ARG;
    }
    int64_t old = m->nodes[k].a.units;
    char *old_text = m->text;
    size_t old_len = m->len;
    m->nodes[k].a.units = units;
    nb__yctx c = {.m = m, .err = err};
    if (!rewrite_units(m, k, units, err) || !probe(&c)) {
        nb_status st = err && err->status != NB_OK ? err->status : NB_ERR_ARG;
        m->nodes[k].a.units = old; /* the file as it was */
        m->text = old_text;
        m->len = old_len;
        nb__yctx back = {.m = m};
        probe(&back);
        return st;
    }
    return NB_OK;
}

int64_t nb_model_file_units(const nb_model_file *m, const char *layer, nb_activation *activation,
                            nb_error *err)
{
    if (!m || !layer) {
        set_error(err, NB_ERR_ARG, "units: no model file or layer name (NULL)");
        return -1;
    }
    int k = find_dense(m, layer, err);
    if (k < 0)
        return -1;
    if (activation)
        *activation = m->nodes[k].a.activation;
    return m->nodes[k].a.units;
}
