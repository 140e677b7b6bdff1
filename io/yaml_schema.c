/*
 * yaml_schema.c — what a model file's ops may say: each op's name, arity,
 * keys and required keys, each attribute key's type and range with its
 * typed read, the checks across one node's keys, and the names of losses,
 * activations and initialisers (docs/model-format.md lists the same).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "yaml_schema.h"

/* ================================================================ ops and attributes */

#define CONV_KEYS                                                                             \
    "filters", "kernel", "kh", "kw", "stride", "pad", "dilation", "groups", "activation", "bias", \
        "init", "bias_init"
#define CONV_TRANSPOSE_KEYS                                                                   \
    "filters", "kernel", "kh", "kw", "stride", "pad", "output_padding", "dilation", "groups",     \
        "activation", "bias", "init", "bias_init"
#define WINDOW_KEYS "kernel", "kh", "kw", "stride", "pad", "dilation"
#define POOL_KEYS "size", "kh", "kw", "stride", "pad", "dilation", "ceil_mode"
#define RNN_KEYS "hidden", "layers", "bidirectional", "sequence", "bias", "init", "h0", "h_n"

static const nb__yop_info ops[NB__Y_COUNT] = {
    [NB__Y_DENSE] = {"dense", 1, {"units", "activation", "bias", "init", "bias_init"}, {"units"}},
    [NB__Y_CONV2D] = {"conv2d", 1, {CONV_KEYS}, {"filters"}},
    [NB__Y_LOCAL2D] = {"local2d", 1, {CONV_KEYS}, {"filters"}},
    [NB__Y_MAXPOOL2D] = {"maxpool2d", 1, {POOL_KEYS}, {NULL}},
    [NB__Y_AVGPOOL2D] = {"avgpool2d", 1, {POOL_KEYS, "count_include_pad"}, {NULL}},
    [NB__Y_FLATTEN] = {"flatten", 1, {NULL}, {NULL}},
    [NB__Y_DROPOUT] = {"dropout", 1, {"rate"}, {"rate"}},
    [NB__Y_LAYERNORM] = {"layernorm", 1, {"axis", "eps", "affine"}, {NULL}},
    [NB__Y_GROUPNORM] = {"groupnorm", 1, {"groups", "eps", "affine"}, {"groups"}},
    [NB__Y_EMBEDDING] = {"embedding", 1, {"vocab", "dim", "init"}, {"vocab", "dim"}},
    [NB__Y_CONV_TRANSPOSE2D] = {"conv_transpose2d", 1, {CONV_TRANSPOSE_KEYS}, {"filters"}},
    [NB__Y_RNN] = {"rnn", 1, {RNN_KEYS}, {"hidden"}},
    [NB__Y_GRU] = {"gru", 1, {RNN_KEYS}, {"hidden"}},
    [NB__Y_LSTM] = {"lstm", 1, {RNN_KEYS, "c0", "c_n"}, {"hidden"}},
    [NB__Y_BATCHNORM] = {"batchnorm", 1, {"momentum", "eps"}, {NULL}},
    [NB__Y_RELU] = {"relu", 1, {NULL}, {NULL}},
    [NB__Y_LEAKY_RELU] = {"leaky_relu", 1, {"alpha"}, {NULL}},
    [NB__Y_SOFTMAX] = {"softmax", 1, {"axis"}, {NULL}},
    [NB__Y_LOG_SOFTMAX] = {"log_softmax", 1, {"axis"}, {NULL}},
    [NB__Y_THRESHOLD] = {"threshold", 1, {NULL}, {NULL}},
    [NB__Y_GELU] = {"gelu", 1, {NULL}, {NULL}},
    [NB__Y_SILU] = {"silu", 1, {NULL}, {NULL}},
    [NB__Y_ELU] = {"elu", 1, {"alpha"}, {NULL}},
    [NB__Y_SOFTPLUS] = {"softplus", 1, {NULL}, {NULL}},
    [NB__Y_GLOBAL_AVGPOOL2D] = {"global_avgpool2d", 1, {NULL}, {NULL}},
    [NB__Y_GLOBAL_MAXPOOL2D] = {"global_maxpool2d", 1, {NULL}, {NULL}},
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

const nb_op_def *nb__yop_builtin(nb__yop op)
{
    return op >= NB__Y_COUNT ? nb_builtin_op(op - NB__Y_COUNT) : NULL;
}

const char *nb__yop_name(nb__yop op)
{
    const nb_op_def *def = nb__yop_builtin(op);
    return (unsigned)op < NB__Y_COUNT ? ops[op].name : def ? def->name : "?";
}

nb__yop_info nb__yop_info_of(nb__yop op)
{
    const nb_op_def *def = nb__yop_builtin(op);
    if (def)
        return (nb__yop_info){.name = def->name, .arity = def->arity};
    return ops[(unsigned)op < NB__Y_COUNT ? op : 0];
}

static const char *const loss_names[] = {"none", "softmax_cross_entropy", "mse", "bce_with_logits",
                                         "margin_logistic", "margin_hinge", "margin_exponential",
                                         "l1", "huber", NULL};

const char *nb__yloss_name(nb__yloss loss)
{
    return (unsigned)loss <= NB__LOSS_HUBER ? loss_names[loss] : "?";
}

int nb__ylookup_loss(nb__yctx *c, const nb__yv *v)
{
    return nb__ylookup(c, v, "loss", loss_names);
}

/* In nb_activation's order. */
static const char *const act_names[] = {"none", "relu", "leaky_relu", "sigmoid", "tanh", "softmax",
                                        "log_softmax", "threshold", "gelu", "silu", "elu",
                                        "softplus", NULL};
/* In nb_init_kind's order. */
static const char *const init_names[] = {"default", "zeros", "constant", "uniform", "normal",
                                         "xavier_uniform", "xavier_normal", "he_uniform",
                                         "he_normal", NULL};

typedef enum atype {
    T_INT, T_FLOAT, T_BOOL, T_ACT, T_INIT, T_AXES, T_PERM, T_PADS, T_SHAPE, T_VALUES,
    T_PAIR,   /* one integer for both axes, or [rows, columns] */
    T_SIDES   /* one integer, [rows, columns] or [top, left, bottom, right] */
} atype;

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
    A_INT("units", units, 1, NB__YMAX_UNITS),
    A_INT("filters", filters, 1, NB__YMAX_UNITS),
    A_INT("vocab", vocab, 1, (int64_t)1 << 24),
    A_INT("dim", dim, 1, NB__YMAX_UNITS),
    A_INT("hidden", hidden, 1, NB__YMAX_UNITS),
    A_INT("layers", layers, 1, NB_RNN_MAX_LAYERS),
    A_INT("kernel", kernel, 1, NB__YMAX_WINDOW),
    A_INT("kh", kh, 1, NB__YMAX_WINDOW),
    A_INT("kw", kw, 1, NB__YMAX_WINDOW),
    {"stride", T_PAIR, offsetof(nb__yattrs, stride), 0, 1, NB__YMAX_WINDOW, NB__YR_ANY},
    {"pad", T_SIDES, offsetof(nb__yattrs, pad), offsetof(nb__yattrs, n_pad), 0, NB__YMAX_WINDOW,
     NB__YR_ANY},
    {"dilation", T_PAIR, offsetof(nb__yattrs, dilation), 0, 1, NB__YMAX_WINDOW, NB__YR_ANY},
    A_INT("output_padding", output_padding, 0, NB__YMAX_WINDOW),
    A_INT("groups", groups, 1, NB__YMAX_UNITS),
    A_INT("size", size, 1, NB__YMAX_WINDOW),
    A_INT("axis", axis, -NB_MAX_RANK, NB_MAX_RANK - 1),
    A_INT("start", start, -NB__YAML_MAX_INDEX, NB__YAML_MAX_INDEX),
    A_INT("stop", stop, -NB__YAML_MAX_INDEX, NB__YAML_MAX_INDEX),
    A_INT("step", step, 1, NB__YAML_MAX_INDEX),
    A_INT("h", h, 1, NB__YMAX_UNITS),
    A_INT("w", w, 1, NB__YMAX_UNITS),
    A_NUM("rate", rate, NB__YR_UNIT_CO),
    A_NUM("momentum", momentum, NB__YR_UNIT_OC),
    A_NUM("eps", eps, NB__YR_POS),
    A_NUM("alpha", alpha, NB__YR_UNIT_CC),
    A_NUM("value", value, NB__YR_ANY),
    A_OF("bias", T_BOOL, bias),
    A_OF("affine", T_BOOL, affine),
    A_OF("bidirectional", T_BOOL, bidirectional),
    A_OF("sequence", T_BOOL, sequence),
    A_OF("keepdims", T_BOOL, keepdims),
    A_OF("transpose_a", T_BOOL, transpose_a),
    A_OF("transpose_b", T_BOOL, transpose_b),
    A_OF("ceil_mode", T_BOOL, ceil_mode),
    A_OF("count_include_pad", T_BOOL, count_include_pad),
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
_Static_assert(N_ATTRS <= NB__YATTR_KEYS, "NB__YATTR_KEYS holds every attribute key");

void nb__yattr_keys(const char **keys)
{
    for (int i = 0; i < N_ATTRS; i++)
        keys[i] = attr_table[i].key;
    keys[N_ATTRS] = NULL;
}

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

/*
 * A window's stride or dilation (sides false: one integer or [rows,
 * columns] into out[2]) or padding (sides: also [top, left, bottom,
 * right] into out[4]), each in [lo, hi]; *n says how many the file gave.
 */
static bool to_window(nb__yctx *c, const nb__yv *v, const char *key, const char *where,
                      int64_t lo, int64_t hi, bool sides, int64_t *out, int *n)
{
    int64_t got[4] = {0};
    *n = 0;
    if (!to_ints(c, v, key, where, lo, hi, 4, true, got, n))
        return false;
    bool list = v->kind == NB__YV_SEQ;
    if (list && *n != 2 && *n != 4 * sides)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key '%s' %s: %d value%s; give one "
                         "number%s", key, where, *n, *n == 1 ? "" : "s",
                         sides ? ", [rows, columns] or [top, left, bottom, right]"
                               : " or [rows, columns]");
    for (int i = 0; i < (sides ? 4 : 2); i++)
        out[i] = *n == 4 ? got[i] : *n == 2 ? got[i % 2] : got[0];
    return true;
}

/* A shape of one example: up to NB_MAX_RANK - 1 sizes ≥ 1, at most 2^31
 * elements; with minus_one, one size may be -1 (inferred). */
bool nb__yto_shape(nb__yctx *c, const nb__yv *v, const char *key, const char *where,
                    bool minus_one, nb_shape *out)
{
    int64_t d[NB_MAX_RANK];
    int n = 0;
    if (!to_ints(c, v, key, where, minus_one ? -1 : 1, NB__YMAX_NUMEL, NB_MAX_RANK - 1, false, d, &n))
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
        if (numel > NB__YMAX_NUMEL)
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
        return nb__yto_float(c, v, ai->key, where, op == NB__Y_ELU ? NB__YR_NONNEG : ai->range, f);
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
        return to_ints(c, v, ai->key, where, 0, NB__YMAX_WINDOW, NB_MAX_RANK - 1, false, f,
                       (int *)(base + ai->count));
    case T_SHAPE:
        return nb__yto_shape(c, v, ai->key, where, op == NB__Y_RESHAPE, f);
    case T_PAIR: {
        int n;
        return to_window(c, v, ai->key, where, ai->lo, ai->hi, false, f, &n);
    }
    case T_SIDES:
        return to_window(c, v, ai->key, where, ai->lo, ai->hi, true, f, (int *)(base + ai->count));
    case T_VALUES:
        return nb__yto_values(c, v, ai->key, where, a);
    }
    return false;
}

nb__yattrs nb__yattr_defaults(void)
{
    return (nb__yattrs){
        .bias = true, .affine = true, .step = 1, .stop = NB__YAML_MAX_INDEX, .alpha = 0.01, .axis = -1,
        .count_include_pad = true};
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

/* An op whose stride, padding and dilation are one number each for both
 * axes (conv_transpose2d): lists are refused unless their values agree. */
static bool check_one_per_axis(nb__yctx *c, const nb__yv *opts, const nb__yattrs *a,
                               const char *op)
{
    const char *key = a->stride[0] != a->stride[1] ? "stride"
                      : a->dilation[0] != a->dilation[1] ? "dilation"
                      : a->pad[0] != a->pad[1] || a->pad[0] != a->pad[2] || a->pad[0] != a->pad[3]
                          ? "pad"
                          : NULL;
    if (!key)
        return true;
    const nb__yv *v = nb__yget(opts, key);
    return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key '%s' in %s: one number for both axes "
                     "(%s takes no %s per axis)", key, op, op, key);
}

/* A pooling's window: size, or kh and kw together. */
static bool check_pool(nb__yctx *c, const nb__yv *at, const nb__yv *opts, const char *op)
{
    bool k = nb__yget(opts, "size"), h = nb__yget(opts, "kh"), w = nb__yget(opts, "kw");
    if (k && (h || w))
        return nb__yfail(c, NB_ERR_ARG, at->line, at->col, "%s: give 'size' or 'kh' and 'kw', "
                         "not both", op);
    if (!k && !(h && w))
        return nb__yfail(c, NB_ERR_ARG, at->line, at->col, "key 'size' is missing in %s (or give "
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

bool nb__ycheck_node(nb__yctx *c, const nb__yv *at, const nb__yv *opts, const nb__ynode *n)
{
    const nb__yattrs *a = &n->a;
    switch (n->op) {
    case NB__Y_CONV2D:
    case NB__Y_LOCAL2D:
        return check_window(c, opts ? opts : at, opts, ops[n->op].name);
    case NB__Y_CONV_TRANSPOSE2D:
        return check_one_per_axis(c, opts, a, ops[n->op].name) &&
               check_window(c, opts ? opts : at, opts, ops[n->op].name);
    case NB__Y_UNFOLD2D:
    case NB__Y_FOLD2D:
        if (a->n_pad == 4) {
            const nb__yv *p = nb__yget(opts, "pad");
            return nb__yfail(c, NB_ERR_ARG, p->line, p->col, "key 'pad' in %s: the window pads "
                             "both sides of an axis alike; give one number or [rows, columns] "
                             "(an explicit pad op before it pads the sides apart)",
                             ops[n->op].name);
        }
        return check_window(c, opts ? opts : at, opts, ops[n->op].name);
    case NB__Y_MAXPOOL2D:
    case NB__Y_AVGPOOL2D:
        return check_pool(c, opts ? opts : at, opts, ops[n->op].name);
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

bool nb__yread_attr(nb__yctx *c, const char *key, const nb__yv *v, const char *where, nb__yop op,
                    nb__yattrs *a)
{
    const attr_info *ai = attr_find(key);
    return ai && parse_attr(c, ai, v, where, op, a);
}

/* The built-in ops a model file can name by their entry alone; room for
 * far more than the op list holds (did-you-mean weighs 159 names at most). */
#define MAX_BUILTINS 96

/* The word's op among the file's own ops and the built-in ops whose node is
 * its inputs alone, with "did you mean" over all of them. The names go in
 * the order messages list them and ties are broken in: the layers and
 * activations, the built-in ops, then the ops with attributes. */
bool nb__ylookup_op(nb__yctx *c, const nb__yv *v, nb__yop *out)
{
    const char *names[NB__Y_COUNT + MAX_BUILTINS + 1];
    nb__yop op_of[NB__Y_COUNT + MAX_BUILTINS];
    int n = 0;
    for (int i = 0; i < NB__Y_COUNT; i++) {
        for (int b = 0; i == NB__Y_MATMUL && nb_builtin_op(b); b++) {
            if (b >= MAX_BUILTINS)
                return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "nabla has more than %d "
                                 "built-in ops, more than model files can name", MAX_BUILTINS);
            if (nb_builtin_op(b)->flags & NB_OP_NO_ATTRS)
                op_of[n] = (nb__yop)(NB__Y_COUNT + b), names[n++] = nb_builtin_op(b)->name;
        }
        op_of[n] = (nb__yop)i, names[n++] = ops[i].name;
    }
    names[n] = NULL;
    int k = nb__ylookup(c, v, "op", names);
    *out = k >= 0 ? op_of[k] : NB__Y_DENSE;
    return k >= 0;
}
