/*
 * onnx_import.c — an ONNX file (what torch.onnx.export writes for MLPs and
 * CNNs) as a nabla model: the YAML text of the `nodes:` form and an HDF5
 * weights file under the names that model gives its parameters.
 *
 * The file is parsed by protobuf-c, then read node by node in the order it
 * lists them (ONNX requires a topological order, so a node reading a value
 * no earlier node defines is an undefined value or a cycle, refused as
 * such). Each ONNX value is tracked with the nabla node computing it and its
 * shape (batch first), or as a constant (an initialiser or a Constant
 * node), so every attribute is checked against what nabla can say before a
 * line is written: an operator, or an attribute value, that nabla has no
 * exact form for is refused naming the node and the operator, never
 * approximated. The YAML is then built at batch 1 by nabla itself and the
 * imported values are copied into its parameters by name and shape, so the
 * weights file is what `nb_weights_load` expects of that text.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nabla.h"
#include "onnx.pb-c.h"

/* Bounds that keep a hostile file from asking for absurd memory or time:
 * the file itself, values, elements of one tensor. */
#define IMP_MAX_FILE ((long)1 << 31)
#define IMP_MAX_VALUES 20000
#define IMP_MAX_NUMEL ((int64_t)1 << 31)
#define IMP_NAME 48

enum {
    T_FLOAT = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
    T_INT64 = ONNX__TENSOR_PROTO__DATA_TYPE__INT64
};

/* One ONNX value: the nabla node (or input) computing it, or a constant. */
typedef struct imp_val {
    const char *onnx;                /* its ONNX name (the proto's string) */
    char nb[IMP_NAME + 8];           /* the nabla node; "" for a constant */
    nb_shape shape;                  /* batch first; a constant's own dims */
    const Onnx__TensorProto *t;      /* a constant's tensor */
    const char *op;                  /* the nabla op that made it ("" for an input) */
    int src;                         /* that op's first input (an index in vals), or -1 */
    char as_node[IMP_NAME + 8];      /* a constant: the node it became in arithmetic, or "" */
} imp_val;

/* A name and the nodes reading it: how many, and the first. */
typedef struct imp_reader {
    const char *name;
    int count, node;
    bool output;                     /* a graph output too */
} imp_reader;

struct imp;

/* Names to indices in constant time (open addressing, linear probing), so
 * that a file of 20000 values read by a million node inputs takes a second,
 * not hours. A slot holds an index + 1 (0: empty); key(m, i) is the name
 * of index i, which the table does not copy. */
typedef struct imp_map {
    int *slot;
    size_t cap, count;               /* cap a power of two, count ≤ cap / 2 */
    const char *(*key)(const struct imp *m, int i);
} imp_map;

/* A parameter to be written: its full nabla name, shape and values. */
typedef struct imp_param {
    char name[IMP_NAME + 24];
    nb_shape shape;
    float *data;
} imp_param;

typedef struct imp {
    const Onnx__GraphProto *g;
    int64_t opset;
    imp_val *vals;
    int n_vals, cap_vals;
    imp_param *params;
    int n_params, cap_params;
    char *yaml;
    size_t len, cap;
    bool *done;                      /* nodes already translated (an Add fused into MatMul) */
    int64_t batch;                   /* the batch the file fixes, or -1 (symbolic) */
    imp_map by_onnx, by_nb;          /* vals by ONNX name, and by nabla name */
    imp_reader *readers;             /* every name a node reads */
    int n_readers;
    imp_map by_reader;
    int suffix;                      /* the last suffix fresh_name gave */
    nb_error *err;
    bool nomem;
} imp;

/* ---------------------------------------------------------------- small helpers */

static const char *str(const char *s) { return s ? s : ""; }

/* Memory ran out for `what`: noted, and said in err unless something was
 * said already; NB_ERR_NOMEM. */
static nb_status oom(imp *m, const char *what)
{
    m->nomem = true;
    if (m->err->status == NB_OK)
        nb_error_set(m->err, NB_ERR_NOMEM, "ONNX: out of memory for %s", what);
    return NB_ERR_NOMEM;
}

/* Appends printf-formatted text to the YAML. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void emit(imp *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || m->nomem)
        return;
    if (m->len + (size_t)n + 1 > m->cap) {
        size_t cap = (m->cap ? m->cap * 2 : 4096) + (size_t)n;
        char *y = nb_realloc(m->yaml, cap);
        if (!y) {
            oom(m, "the model's text");
            return;
        }
        m->yaml = y, m->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(m->yaml + m->len, m->cap - m->len, fmt, ap);
    va_end(ap);
    m->len += (size_t)n;
}

static int64_t numel_of(nb_shape s, int from)
{
    int64_t n = 1;
    for (int i = from; i < s.rank; i++)
        n *= s.dim[i];
    return n;
}

/* "[1,2,3]" of up to rank ints, into buf. */
static const char *ints_str(const int64_t *v, size_t n, char *buf, size_t size)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, size - k, "[");
    for (size_t i = 0; i < n && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, "%s%lld", i ? "," : "", (long long)v[i]);
    if (k < size)
        snprintf(buf + k, size - k, "]");
    return buf;
}

/* ---------------------------------------------------------------- names */

static const char *key_onnx(const imp *m, int i) { return m->vals[i].onnx; }
static const char *key_nb(const imp *m, int i) { return m->vals[i].nb; }
static const char *key_reader(const imp *m, int i) { return m->readers[i].name; }

static size_t hash(const char *s)
{
    uint64_t h = 14695981039346656037u;   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211u;
    return (size_t)h;
}

/* The slot of name s: where it is, or the empty one where it would go. */
static int *map_slot(const imp *m, const imp_map *h, const char *s)
{
    size_t i = hash(s) & (h->cap - 1);
    while (h->slot[i] && strcmp(h->key(m, h->slot[i] - 1), s) != 0)
        i = (i + 1) & (h->cap - 1);
    return &h->slot[i];
}

/* The index named s, or -1. */
static int map_get(const imp *m, const imp_map *h, const char *s)
{
    return h->cap ? *map_slot(m, h, s) - 1 : -1;
}

/* Index i under its name (replacing what had that name); false when out of
 * memory. */
static bool map_put(imp *m, imp_map *h, int i)
{
    if ((h->count + 1) * 2 > h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 256, old_cap = h->cap;
        int *old = h->slot, *slot = nb_calloc(cap, sizeof *slot);
        if (!slot) {
            oom(m, "the table of names");
            return false;
        }
        h->slot = slot, h->cap = cap;
        for (size_t k = 0; k < old_cap; k++)
            if (old[k])
                *map_slot(m, h, h->key(m, old[k] - 1)) = old[k];
        nb_free(old);
    }
    int *p = map_slot(m, h, h->key(m, i));
    if (!*p)
        h->count++;
    *p = i + 1;
    return true;
}

static imp_val *find(imp *m, const char *onnx)
{
    int i = map_get(m, &m->by_onnx, onnx);
    return i >= 0 ? &m->vals[i] : NULL;
}

static bool nb_name_used(imp *m, const char *nb)
{
    return strcmp(nb, "y") == 0 || map_get(m, &m->by_nb, nb) >= 0;
}

/* A nabla name from an ONNX one: letters, digits, '_', '-', '.', starting
 * with a letter, unique among the model's nodes and inputs. */
static void fresh_name(imp *m, const char *onnx, const char *fallback, char *out)
{
    char base[IMP_NAME + 1];
    size_t k = 0;
    const char *s = onnx && *onnx ? onnx : fallback;
    for (; *s && k < IMP_NAME; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
        if (k == 0 && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            continue;
        base[k++] = ok ? c : '_';
    }
    if (k == 0)
        k = (size_t)snprintf(base, sizeof base, "v");
    base[k] = 0;
    char cand[IMP_NAME + 8];   /* out may be a value's own name, empty until chosen */
    strcpy(cand, base);
    /* The suffix only grows: 20000 nodes wanting one name try 20000
     * names in all, not 20000 each. */
    while (nb_name_used(m, cand))
        snprintf(cand, sizeof cand, "%.40s_%d", base, ++m->suffix);
    strcpy(out, cand);
}

/* A new value at the end of vals, in no table yet. */
static imp_val *push_val(imp *m, const char *onnx)
{
    if (m->n_vals == m->cap_vals) {
        int cap = m->cap_vals ? m->cap_vals * 2 : 64;
        imp_val *v = nb_realloc(m->vals, (size_t)cap * sizeof *v);
        if (!v) {
            oom(m, "the table of values");
            return NULL;
        }
        m->vals = v, m->cap_vals = cap;
    }
    imp_val *v = &m->vals[m->n_vals++];
    memset(v, 0, sizeof *v);
    v->onnx = str(onnx);
    v->op = "";
    v->src = -1;
    return v;
}

static imp_val *add_val(imp *m, const char *onnx)
{
    imp_val *v = push_val(m, onnx);
    if (v && !map_put(m, &m->by_onnx, m->n_vals - 1)) {
        m->n_vals--;
        return NULL;
    }
    return v;
}

/* Registers a nabla node the import makes between ONNX values (a pool
 * before its reshape), so fresh_name never reuses its name; no ONNX name
 * leads to it. May move vals. */
static bool reserve(imp *m, const char *nb)
{
    imp_val *v = push_val(m, "");
    if (!v)
        return false;
    snprintf(v->nb, sizeof v->nb, "%s", nb);
    if (!map_put(m, &m->by_nb, m->n_vals - 1)) {
        m->n_vals--;
        return false;
    }
    return true;
}

static imp_param *add_param(imp *m, const char *node, const char *name, nb_shape s, float *data)
{
    if (m->n_params == m->cap_params) {
        int cap = m->cap_params ? m->cap_params * 2 : 16;
        imp_param *p = nb_realloc(m->params, (size_t)cap * sizeof *p);
        if (!p) {
            oom(m, "the list of parameters");
            nb_free(data);
            return NULL;
        }
        m->params = p, m->cap_params = cap;
    }
    imp_param *p = &m->params[m->n_params++];
    if (name)
        snprintf(p->name, sizeof p->name, "%s/%s", node, name);
    else   /* a param node: the parameter is the node */
        snprintf(p->name, sizeof p->name, "%s", node);
    p->shape = s;
    p->data = data;
    return p;
}

/* ---------------------------------------------------------------- refusals */

/* "ONNX node 'Conv_3' (Conv): …" into err; returns NB_ERR_ARG. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static nb_status refuse(imp *m, const Onnx__NodeProto *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n)
        return nb_error_set(m->err, NB_ERR_ARG, "ONNX node '%s' (%s): %s", str(n->name),
                            str(n->op_type), msg);
    return nb_error_set(m->err, NB_ERR_ARG, "ONNX: %s", msg);
}

/* ---------------------------------------------------------------- tensors */

/* The dims of a tensor as a shape, checked: rank ≤ NB_MAX_RANK, every
 * dim ≥ 0, at most IMP_MAX_NUMEL elements. */
static nb_status tensor_shape(imp *m, const Onnx__NodeProto *n, const Onnx__TensorProto *t,
                              nb_shape *s)
{
    if (t->n_dims > NB_MAX_RANK)
        return refuse(m, n, "the tensor '%s' has %zu dimensions (nabla takes at most %d)",
                      str(t->name), t->n_dims, NB_MAX_RANK);
    s->rank = (int)t->n_dims;
    int64_t numel = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0 || t->dims[i] > IMP_MAX_NUMEL || numel * t->dims[i] > IMP_MAX_NUMEL)
            return refuse(m, n, "the tensor '%s' has dimension %zu of size %lld: negative, or "
                          "more than 2^31 elements in all", str(t->name), i, (long long)t->dims[i]);
        s->dim[i] = t->dims[i];
        numel *= t->dims[i];
    }
    return NB_OK;
}

/* The values of a float tensor (raw_data or float_data), malloc'd and
 * checked finite; NULL with err set. */
static float *tensor_floats(imp *m, const Onnx__NodeProto *n, const Onnx__TensorProto *t,
                            nb_shape *s)
{
    if (tensor_shape(m, n, t, s) != NB_OK)
        return NULL;
    if (t->data_type != T_FLOAT) {
        refuse(m, n, "the tensor '%s' is of ONNX data type %d, not float32 (1)", str(t->name),
               t->data_type);
        return NULL;
    }
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        refuse(m, n, "the tensor '%s' keeps its values in an external file, which nabla does "
               "not read", str(t->name));
        return NULL;
    }
    int64_t numel = numel_of(*s, 0);
    if (t->has_raw_data && t->raw_data.len != (size_t)numel * 4) {
        refuse(m, n, "the tensor '%s' holds %zu bytes of raw data where its dims say %lld "
               "float32 (%lld bytes)", str(t->name), t->raw_data.len, (long long)numel,
               (long long)numel * 4);
        return NULL;
    }
    if (!t->has_raw_data && t->n_float_data != (size_t)numel) {
        refuse(m, n, "the tensor '%s' holds %zu values where its dims say %lld", str(t->name),
               t->n_float_data, (long long)numel);
        return NULL;
    }
    float *v = nb_malloc((size_t)(numel ? numel : 1) * sizeof *v);
    if (!v) {
        nb_error_set(m->err, NB_ERR_NOMEM, "ONNX: out of memory reading the tensor '%s'",
                     str(t->name));
        return NULL;
    }
    for (int64_t i = 0; i < numel; i++) {
        if (t->has_raw_data) {
            const uint8_t *b = t->raw_data.data + 4 * i;   /* little-endian, as ONNX stores it */
            uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                         (uint32_t)b[3] << 24;
            memcpy(&v[i], &u, 4);
        } else {
            v[i] = t->float_data[i];
        }
        if (!isfinite(v[i])) {
            refuse(m, n, "the tensor '%s' holds %g at element %lld", str(t->name), v[i],
                   (long long)i);
            nb_free(v);
            return NULL;
        }
    }
    return v;
}

/* The values of a 1-D int64 tensor (a Reshape's shape) into out[max]. */
static int tensor_ints(imp *m, const Onnx__NodeProto *n, const Onnx__TensorProto *t,
                       int64_t *out, int max)
{
    nb_shape s;
    if (tensor_shape(m, n, t, &s) != NB_OK)
        return -1;
    int64_t numel = numel_of(s, 0);
    if (t->data_type != T_INT64 || s.rank != 1 || numel > max) {
        refuse(m, n, "the tensor '%s' is not a list of at most %d int64", str(t->name), max);
        return -1;
    }
    if ((t->has_raw_data && t->raw_data.len != (size_t)numel * 8) ||
        (!t->has_raw_data && t->n_int64_data != (size_t)numel)) {
        refuse(m, n, "the tensor '%s' holds fewer values than its dims say", str(t->name));
        return -1;
    }
    for (int64_t i = 0; i < numel; i++) {
        if (t->has_raw_data) {
            uint64_t u = 0;
            for (int b = 7; b >= 0; b--)
                u = u << 8 | t->raw_data.data[8 * i + b];
            memcpy(&out[i], &u, 8);
        } else {
            out[i] = t->int64_data[i];
        }
    }
    return (int)numel;
}

/* ---------------------------------------------------------------- attributes */

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i] && strcmp(str(n->attribute[i]->name), name) == 0)
            return n->attribute[i];
    return NULL;
}

static int64_t attr_int(const Onnx__NodeProto *n, const char *name, int64_t def)
{
    const Onnx__AttributeProto *a = attr(n, name);
    return a ? a->i : def;
}

static float attr_float(const Onnx__NodeProto *n, const char *name, float def)
{
    const Onnx__AttributeProto *a = attr(n, name);
    return a ? a->f : def;
}

/* An ints attribute into out[count] (default def for every entry when
 * absent); refused when present with another count. */
static nb_status attr_ints(imp *m, const Onnx__NodeProto *n, const char *name, int64_t *out,
                           size_t count, int64_t def)
{
    const Onnx__AttributeProto *a = attr(n, name);
    for (size_t i = 0; i < count; i++)
        out[i] = def;
    if (!a)
        return NB_OK;
    if (a->n_ints != count)
        return refuse(m, n, "'%s' has %zu values where a 2-D image needs %zu", name, a->n_ints,
                      count);
    memcpy(out, a->ints, count * sizeof *out);
    return NB_OK;
}

/* Refuses auto_pad other than NOTSET (or VALID, which is zero padding:
 * *valid set). */
static nb_status no_auto_pad(imp *m, const Onnx__NodeProto *n, bool *valid)
{
    const Onnx__AttributeProto *a = attr(n, "auto_pad");
    *valid = false;
    if (!a || !a->has_s || a->s.len == 0 || (a->s.len == 6 && !memcmp(a->s.data, "NOTSET", 6)))
        return NB_OK;
    if (a->s.len == 5 && !memcmp(a->s.data, "VALID", 5)) {
        *valid = true;
        return NB_OK;
    }
    return refuse(m, n, "auto_pad '%.*s' cannot be expressed (nabla pads explicitly)",
                  (int)(a->s.len > 20 ? 20 : a->s.len), (const char *)a->s.data);
}

/* ---------------------------------------------------------------- inputs of a node */

/* Input k of node n as a value nabla computes (not a constant). */
static imp_val *value_in(imp *m, const Onnx__NodeProto *n, size_t k)
{
    if (k >= n->n_input || !*str(n->input[k])) {
        refuse(m, n, "input %zu is missing", k);
        return NULL;
    }
    imp_val *v = find(m, n->input[k]);
    if (!v)
        refuse(m, n, "reads '%s', which no earlier node, graph input or initialiser defines "
               "(an undefined value, or a cycle)", n->input[k]);
    else if (!v->nb[0])
        refuse(m, n, "input %zu '%s' is a constant, which nabla does not take there", k,
               n->input[k]);
    else
        return v;
    return NULL;
}

/* Input k of node n as a constant (an initialiser or a Constant's value);
 * NULL with err set, or NULL without when optional and absent. */
static const Onnx__TensorProto *const_in(imp *m, const Onnx__NodeProto *n, size_t k, bool optional)
{
    if (k >= n->n_input || !*str(n->input[k])) {
        if (!optional)
            refuse(m, n, "input %zu is missing", k);
        return NULL;
    }
    imp_val *v = find(m, n->input[k]);
    if (!v)
        refuse(m, n, "reads '%s', which no earlier node, graph input or initialiser defines "
               "(an undefined value, or a cycle)", n->input[k]);
    else if (v->nb[0])
        refuse(m, n, "input %zu '%s' must be a constant (an initialiser) for nabla to take it "
               "as a parameter", k, n->input[k]);
    else
        return v->t;
    return NULL;
}

/* Defines the node's first output as nabla node `name` of shape s. */
static imp_val *define(imp *m, const Onnx__NodeProto *n, const char *name, nb_shape s,
                       const char *op, const imp_val *src)
{
    int src_i = src ? (int)(src - m->vals) : -1;
    imp_val *v = add_val(m, n->output[0]);
    if (!v)
        return NULL;
    snprintf(v->nb, sizeof v->nb, "%s", name);
    v->shape = s;
    v->op = op;
    v->src = src_i;
    return map_put(m, &m->by_nb, (int)(v - m->vals)) ? v : NULL;
}

/* ---------------------------------------------------------------- operators */

/* A dense node from x [N, …, in] and w [in, out] (already nabla's layout),
 * bias b [out] or NULL. Takes w and b. */
static nb_status dense(imp *m, const Onnx__NodeProto *n, const imp_val *x, float *w,
                       int64_t in, int64_t out, float *b, const char *onnx_name)
{
    char name[IMP_NAME + 8];
    fresh_name(m, onnx_name, "dense", name);
    nb_shape s = x->shape;
    s.dim[s.rank - 1] = out;
    emit(m, "  - {name: %s, op: dense, inputs: [%s], units: %lld%s}\n", name, x->nb,
         (long long)out, b ? "" : ", bias: false");
    add_param(m, name, "w", NB_SHAPE(in, out), w);
    if (b)
        add_param(m, name, "b", NB_SHAPE(out), b);
    return define(m, n, name, s, "dense", x) ? NB_OK : NB_ERR_NOMEM;
}

/* v[0…n) ← k·v; false when a product is not finite. */
static bool scale(float *v, int64_t n, float k)
{
    bool ok = true;
    for (int64_t i = 0; i < n; i++) {
        v[i] *= k;
        ok &= isfinite(v[i]) != 0;
    }
    return ok;
}

/*
 * Gemm: alpha·A·B + beta·C with A the computed input [N, in] (transA = 0;
 * transA = 1 would transpose the batch away), B a constant [in, out] or,
 * with transB = 1, [out, in], and C a constant [out] or one number (the same
 * bias for every output): a dense layer with w = alpha·B (transposed to
 * [in, out]) and b = beta·C.
 */
static nb_status op_gemm(imp *m, const Onnx__NodeProto *n)
{
    imp_val *a = value_in(m, n, 0);
    const Onnx__TensorProto *bt = a ? const_in(m, n, 1, false) : NULL;
    if (!bt)
        return NB_ERR_ARG;
    const Onnx__TensorProto *ct = const_in(m, n, 2, true);
    if (!ct && n->n_input > 2 && *str(n->input[2]))
        return NB_ERR_ARG;
    float alpha = attr_float(n, "alpha", 1), beta = attr_float(n, "beta", 1);
    if (!isfinite(alpha) || !isfinite(beta))
        return refuse(m, n, "alpha %g and beta %g: both must be finite", alpha, beta);
    if (attr_int(n, "transA", 0) != 0)
        return refuse(m, n, "transA = 1 (the input transposed, its batch axis moved) cannot be "
                      "expressed: nabla's dense layer reads [N, in]");
    if (a->shape.rank != 2)
        return refuse(m, n, "the input '%s' has rank %d, not 2", a->onnx, a->shape.rank);
    bool tb = attr_int(n, "transB", 0) != 0;
    nb_shape bs;
    float *b = tensor_floats(m, n, bt, &bs);
    if (!b)
        return NB_ERR_ARG;
    int64_t in = tb ? bs.dim[1] : bs.dim[0], out = tb ? bs.dim[0] : bs.dim[1];
    if (bs.rank != 2 || in != a->shape.dim[1] || out < 1) {
        nb_free(b);
        return refuse(m, n, "the weight '%s' does not fit an input of %lld features",
                      str(bt->name), (long long)a->shape.dim[1]);
    }
    float *w = b;
    if (tb) {   /* ONNX [out, in] → nabla [in, out] */
        w = nb_malloc((size_t)(in * out) * sizeof *w);
        if (!w) {
            nb_free(b);
            return oom(m, "a transposed weight");
        }
        for (int64_t i = 0; i < in; i++)
            for (int64_t o = 0; o < out; o++)
                w[i * out + o] = b[o * in + i];
        nb_free(b);
    }
    if (!scale(w, in * out, alpha)) {
        nb_free(w);
        return refuse(m, n, "alpha %g times the weight '%s' overflows float32", alpha,
                      str(bt->name));
    }
    float *c = NULL;
    if (ct) {
        nb_shape cs;
        c = tensor_floats(m, n, ct, &cs);
        bool one = c && numel_of(cs, 0) == 1;
        if (!c || (!one && (numel_of(cs, 0) != out || (cs.rank > 0 && cs.dim[cs.rank - 1] != out)))) {
            nb_free(c), nb_free(w);
            return c ? refuse(m, n, "the bias '%s' is not one value per output (%lld) nor one "
                              "for all", str(ct->name), (long long)out) : NB_ERR_ARG;
        }
        if (one) {   /* the same bias for every output */
            float *full = nb_malloc((size_t)out * sizeof *full);
            if (!full) {
                nb_free(c), nb_free(w);
                return oom(m, "a bias");
            }
            for (int64_t o = 0; o < out; o++)
                full[o] = c[0];
            nb_free(c);
            c = full;
        }
        if (!scale(c, out, beta)) {
            nb_free(c), nb_free(w);
            return refuse(m, n, "beta %g times the bias '%s' overflows float32", beta,
                          str(ct->name));
        }
    }
    return dense(m, n, a, w, in, out, c, n->name);
}

/* The only node reading `value` after node i, or -1 when there are none or
 * several (or it is a graph output). */
static int sole_reader(imp *m, size_t i, const char *value)
{
    int r = map_get(m, &m->by_reader, value);
    if (r < 0 || m->readers[r].output || m->readers[r].count != 1 || m->readers[r].node <= (int)i)
        return -1;
    return m->readers[r].node;
}

/* Counts the readers of each name the nodes read, and marks the graph's
 * outputs, for sole_reader. */
static nb_status count_readers(imp *m)
{
    const Onnx__GraphProto *g = m->g;
    for (size_t j = 0; j < g->n_node; j++)
        for (size_t k = 0; g->node[j] && k < g->node[j]->n_input; k++) {
            const char *name = str(g->node[j]->input[k]);
            int r = map_get(m, &m->by_reader, name);
            if (r >= 0) {
                m->readers[r].count++;
                continue;
            }
            if ((m->n_readers & (m->n_readers - 1)) == 0) {   /* 0, 1, 2, 4…: full */
                imp_reader *p = nb_realloc(m->readers, (size_t)(m->n_readers ? 2 * m->n_readers : 1)
                                                           * sizeof *p);
                if (!p)
                    return oom(m, "the readers of each name");
                m->readers = p;
            }
            m->readers[m->n_readers] = (imp_reader){name, 1, (int)j, false};
            if (!map_put(m, &m->by_reader, m->n_readers++))
                return oom(m, "the readers of each name");
        }
    for (size_t o = 0; o < g->n_output; o++) {
        int r = g->output[o] ? map_get(m, &m->by_reader, str(g->output[o]->name)) : -1;
        if (r >= 0)
            m->readers[r].output = true;
    }
    return NB_OK;
}

/* MatMul by a constant [in, out]; an Add of a constant [out] that alone
 * reads it becomes the dense layer's bias. */
static nb_status op_matmul(imp *m, const Onnx__NodeProto *n, size_t i)
{
    imp_val *a = value_in(m, n, 0);
    const Onnx__TensorProto *bt = a ? const_in(m, n, 1, false) : NULL;
    if (!bt)
        return NB_ERR_ARG;
    nb_shape ws;
    float *w = tensor_floats(m, n, bt, &ws);
    if (!w)
        return NB_ERR_ARG;
    if (ws.rank != 2 || a->shape.rank < 2 || ws.dim[0] != a->shape.dim[a->shape.rank - 1] ||
        ws.dim[1] < 1) {
        nb_free(w);
        return refuse(m, n, "the weight '%s' is not a matrix [in, out] that fits the input '%s'",
                      str(bt->name), a->onnx);
    }
    int64_t in = ws.dim[0], out = ws.dim[1];
    float *bias = NULL;
    int j = sole_reader(m, i, n->output[0]);
    const Onnx__NodeProto *add = j >= 0 ? m->g->node[j] : NULL;
    /* The Add is translated here, not by node(): it gets node()'s checks
     * of its domain and its output, or is left to node() to refuse. */
    if (add && strcmp(str(add->op_type), "Add") == 0 && add->n_input == 2 && add->n_output == 1 &&
        (!*str(add->domain) || !strcmp(add->domain, "ai.onnx")) && *str(add->output[0]) &&
        !find(m, add->output[0])) {
        int k = strcmp(str(add->input[0]), n->output[0]) == 0 ? 1 : 0;
        imp_val *c = find(m, str(add->input[k]));
        nb_shape cs;
        if (c && !c->nb[0] && c->t->data_type == T_FLOAT && tensor_shape(m, add, c->t, &cs) == NB_OK &&
            numel_of(cs, 0) == out && cs.rank >= 1 && cs.dim[cs.rank - 1] == out) {
            bias = tensor_floats(m, add, c->t, &cs);
            if (!bias) {
                nb_free(w);
                return NB_ERR_ARG;
            }
            m->done[j] = true;
        }
    }
    return dense(m, bias ? add : n, a, w, in, out, bias, n->name);
}

/* A Conv's or pool's window: kernel_shape, strides, dilations (each [rows,
 * columns]) and pads (top, left, bottom, right), read and bounded. */
typedef struct imp_window {
    int64_t k[2], st[2], dil[2], pads[4];
} imp_window;

/* Reads n's window attributes into *w (kernel_shape only when `kernel`);
 * refuses auto_pad other than NOTSET or VALID, strides and dilations below
 * 1, negative pads and any value beyond 4096. */
static nb_status read_window(imp *m, const Onnx__NodeProto *n, bool kernel, imp_window *w)
{
    bool valid;
    char buf[96];
    if (no_auto_pad(m, n, &valid) || (kernel && attr_ints(m, n, "kernel_shape", w->k, 2, 1)) ||
        attr_ints(m, n, "strides", w->st, 2, 1) || attr_ints(m, n, "dilations", w->dil, 2, 1) ||
        attr_ints(m, n, "pads", w->pads, 4, 0))
        return NB_ERR_ARG;
    for (int i = 0; i < 2; i++) {
        if (w->st[i] < 1 || w->st[i] > 4096)
            return refuse(m, n, "strides %s: each must be in 1..4096",
                          ints_str(w->st, 2, buf, sizeof buf));
        if (w->dil[i] < 1 || w->dil[i] > 4096)
            return refuse(m, n, "dilations %s: each must be in 1..4096",
                          ints_str(w->dil, 2, buf, sizeof buf));
        if (kernel && (w->k[i] < 1 || w->k[i] > 4096))
            return refuse(m, n, "kernel_shape %s: each must be in 1..4096",
                          ints_str(w->k, 2, buf, sizeof buf));
    }
    for (int i = 0; i < 4; i++)
        if (w->pads[i] < 0 || w->pads[i] > 4096)
            return refuse(m, n, "pads %s: each must be in 0..4096 (a negative pad crops)",
                          ints_str(w->pads, 4, buf, sizeof buf));
    return NB_OK;
}

/* The output length of axis a (0 rows, 1 columns) over n pixels: floor, or
 * with ceil PyTorch's ceil mode (whose last window starts before the
 * trailing padding, as nabla's); -1 when the window is larger than the
 * padded image. */
static int64_t window_out(const imp_window *w, int a, int64_t n, bool ceil)
{
    int64_t room = n + w->pads[a] + w->pads[a + 2] - w->dil[a] * (w->k[a] - 1) - 1;
    if (room < 0)
        return -1;
    int64_t o = (ceil ? (room + w->st[a] - 1) / w->st[a] : room / w->st[a]) + 1;
    return ceil && (o - 1) * w->st[a] >= n + w->pads[a] ? o - 1 : o;
}

/* `, key: v` or `, key: [rows, columns]` when they differ; nothing when
 * both are `def`. */
static void emit_pair(imp *m, const char *key, const int64_t *v, int64_t def)
{
    if (v[0] == def && v[1] == def)
        return;
    if (v[0] == v[1])
        emit(m, ", %s: %lld", key, (long long)v[0]);
    else
        emit(m, ", %s: [%lld, %lld]", key, (long long)v[0], (long long)v[1]);
}

/* A window's stride, pad and dilation in the model file's words. */
static void emit_window(imp *m, const imp_window *w, const int64_t *stride_def)
{
    const int64_t *p = w->pads;
    if (w->st[0] != stride_def[0] || w->st[1] != stride_def[1])
        emit(m, w->st[0] == w->st[1] ? ", stride: %lld" : ", stride: [%lld, %lld]",
             (long long)w->st[0], (long long)w->st[1]);
    if (p[0] != p[2] || p[1] != p[3])
        emit(m, ", pad: [%lld, %lld, %lld, %lld]", (long long)p[0], (long long)p[1],
             (long long)p[2], (long long)p[3]);
    else
        emit_pair(m, "pad", (const int64_t[]){p[0], p[1]}, 0);
    emit_pair(m, "dilation", w->dil, 1);
}

static nb_status op_conv(imp *m, const Onnx__NodeProto *n)
{
    imp_val *x = value_in(m, n, 0);
    const Onnx__TensorProto *wt = x ? const_in(m, n, 1, false) : NULL;
    if (!wt)
        return NB_ERR_ARG;
    const Onnx__TensorProto *bt = const_in(m, n, 2, true);
    if (!bt && n->n_input > 2 && *str(n->input[2]))
        return NB_ERR_ARG;
    if (x->shape.rank != 4)
        return refuse(m, n, "the input '%s' has rank %d: nabla convolves images [N, C, H, W]",
                      x->onnx, x->shape.rank);
    int64_t k[2];
    imp_window win;
    char buf[96];
    if (read_window(m, n, false, &win))
        return NB_ERR_ARG;
    nb_shape ws;
    float *w = tensor_floats(m, n, wt, &ws);
    if (!w)
        return NB_ERR_ARG;
    int64_t groups = attr_int(n, "group", 1), c = x->shape.dim[1];
    if (ws.rank != 4 || groups < 1 || groups > c || ws.dim[0] % groups || ws.dim[1] * groups != c ||
        ws.dim[0] < 1 || ws.dim[2] < 1 || ws.dim[3] < 1) {
        nb_free(w);
        return refuse(m, n, "the weight '%s' of shape %s does not fit %lld input channels in "
                      "%lld groups", str(wt->name), ints_str(ws.dim, (size_t)ws.rank, buf, sizeof buf),
                      (long long)c, (long long)groups);
    }
    if (attr_ints(m, n, "kernel_shape", k, 2, 0) || (attr(n, "kernel_shape") &&
                                                     (k[0] != ws.dim[2] || k[1] != ws.dim[3]))) {
        nb_free(w);
        return m->err->status ? NB_ERR_ARG : refuse(m, n, "kernel_shape differs from the weight's");
    }
    win.k[0] = ws.dim[2], win.k[1] = ws.dim[3];
    int64_t f = ws.dim[0], oh = window_out(&win, 0, x->shape.dim[2], false),
            ow = window_out(&win, 1, x->shape.dim[3], false);
    if (oh < 0 || ow < 0) {
        nb_free(w);
        return refuse(m, n, "the kernel is larger than the padded image");
    }
    float *b = NULL;
    if (bt) {
        nb_shape bs;
        b = tensor_floats(m, n, bt, &bs);
        if (!b || bs.rank != 1 || bs.dim[0] != f) {
            nb_free(w), nb_free(b);
            return b ? refuse(m, n, "the bias '%s' is not one value per filter", str(bt->name))
                     : NB_ERR_ARG;
        }
    }
    char name[IMP_NAME + 8];
    fresh_name(m, n->name, "conv", name);
    emit(m, "  - {name: %s, op: conv2d, inputs: [%s], filters: %lld, ", name, x->nb, (long long)f);
    if (ws.dim[2] == ws.dim[3])
        emit(m, "kernel: %lld", (long long)ws.dim[2]);
    else
        emit(m, "kh: %lld, kw: %lld", (long long)ws.dim[2], (long long)ws.dim[3]);
    emit_window(m, &win, (const int64_t[]){1, 1});
    emit(m, ", groups: %lld%s}\n", (long long)groups, b ? "" : ", bias: false");
    add_param(m, name, "w", ws, w);
    if (b)
        add_param(m, name, "b", NB_SHAPE(f), b);
    nb_shape s = NB_SHAPE(x->shape.dim[0], f, oh, ow);
    return define(m, n, name, s, "conv2d", x) ? NB_OK : NB_ERR_NOMEM;
}

/* ConvTranspose's window attributes, checked against what conv_transpose2d
 * says: one stride, dilation and output_padding for both axes, the same pad
 * on every side, no output_shape (ONNX then places the padding itself). */
static nb_status convt_attrs(imp *m, const Onnx__NodeProto *n, int64_t *st, int64_t *dil,
                             int64_t *pad, int64_t *op)
{
    int64_t s[2], d[2], pads[4], o[2];
    bool valid;
    char buf[96];
    if (no_auto_pad(m, n, &valid) || attr_ints(m, n, "strides", s, 2, 1) ||
        attr_ints(m, n, "dilations", d, 2, 1) || attr_ints(m, n, "pads", pads, 4, 0) ||
        attr_ints(m, n, "output_padding", o, 2, 0))
        return NB_ERR_ARG;
    if (attr(n, "output_shape"))
        return refuse(m, n, "output_shape cannot be expressed (give pads and output_padding)");
    if (pads[0] != pads[1] || pads[0] != pads[2] || pads[0] != pads[3] || pads[0] < 0)
        return refuse(m, n, "asymmetric pads %s cannot be expressed", ints_str(pads, 4, buf, sizeof buf));
    if (s[0] != s[1] || s[0] < 1)
        return refuse(m, n, "strides %s: nabla takes one stride for both axes",
                      ints_str(s, 2, buf, sizeof buf));
    if (d[0] != d[1] || d[0] < 1)
        return refuse(m, n, "dilations %s: nabla takes one dilation for both axes",
                      ints_str(d, 2, buf, sizeof buf));
    if (o[0] != o[1] || o[0] < 0)
        return refuse(m, n, "output_padding %s: nabla takes one output_padding for both axes",
                      ints_str(o, 2, buf, sizeof buf));
    if (pads[0] > 4096 || s[0] > 4096 || d[0] > 4096 || o[0] > 4096)
        return refuse(m, n, "a pad, stride, dilation or output_padding beyond 4096");
    if (o[0] >= s[0] && o[0] >= d[0])
        return refuse(m, n, "output_padding %lld is not below the stride %lld or the dilation "
                      "%lld", (long long)o[0], (long long)s[0], (long long)d[0]);
    *st = s[0], *dil = d[0], *pad = pads[0], *op = o[0];
    return NB_OK;
}

/* ConvTranspose as conv_transpose2d: the weight [C, F/group, kh, kw] is
 * nabla's layout as it stands. */
static nb_status op_conv_transpose(imp *m, const Onnx__NodeProto *n)
{
    imp_val *x = value_in(m, n, 0);
    const Onnx__TensorProto *wt = x ? const_in(m, n, 1, false) : NULL;
    if (!wt)
        return NB_ERR_ARG;
    const Onnx__TensorProto *bt = const_in(m, n, 2, true);
    if (!bt && n->n_input > 2 && *str(n->input[2]))
        return NB_ERR_ARG;
    if (x->shape.rank != 4)
        return refuse(m, n, "the input '%s' has rank %d: nabla convolves images [N, C, H, W]",
                      x->onnx, x->shape.rank);
    int64_t st = 1, dil = 1, pad = 0, op = 0, k[2];
    char buf[96];
    if (convt_attrs(m, n, &st, &dil, &pad, &op))
        return NB_ERR_ARG;
    nb_shape ws;
    float *w = tensor_floats(m, n, wt, &ws);
    if (!w)
        return NB_ERR_ARG;
    int64_t groups = attr_int(n, "group", 1), c = x->shape.dim[1];
    if (ws.rank != 4 || groups < 1 || groups > c || c % groups || ws.dim[0] != c ||
        ws.dim[1] < 1 || ws.dim[2] < 1 || ws.dim[3] < 1 || ws.dim[2] > 4096 || ws.dim[3] > 4096) {
        nb_free(w);
        return refuse(m, n, "the weight '%s' of shape %s does not fit %lld input channels in "
                      "%lld groups", str(wt->name), ints_str(ws.dim, (size_t)ws.rank, buf, sizeof buf),
                      (long long)c, (long long)groups);
    }
    if (attr_ints(m, n, "kernel_shape", k, 2, 0) || (attr(n, "kernel_shape") &&
                                                     (k[0] != ws.dim[2] || k[1] != ws.dim[3]))) {
        nb_free(w);
        return m->err->status ? NB_ERR_ARG : refuse(m, n, "kernel_shape differs from the weight's");
    }
    int64_t f = ws.dim[1] * groups;
    int64_t oh = (x->shape.dim[2] - 1) * st - 2 * pad + dil * (ws.dim[2] - 1) + op + 1;
    int64_t ow = (x->shape.dim[3] - 1) * st - 2 * pad + dil * (ws.dim[3] - 1) + op + 1;
    if (oh < 1 || ow < 1 || oh > ((int64_t)1 << 31) / f || ow > ((int64_t)1 << 31) / f / oh) {
        nb_free(w);
        return refuse(m, n, "the output would be %lldx%lld pixels", (long long)oh, (long long)ow);
    }
    float *b = NULL;
    if (bt) {
        nb_shape bs;
        b = tensor_floats(m, n, bt, &bs);
        if (!b || bs.rank != 1 || bs.dim[0] != f) {
            nb_free(w), nb_free(b);
            return b ? refuse(m, n, "the bias '%s' is not one value per filter", str(bt->name))
                     : NB_ERR_ARG;
        }
    }
    char name[IMP_NAME + 8];
    fresh_name(m, n->name, "conv_transpose", name);
    emit(m, "  - {name: %s, op: conv_transpose2d, inputs: [%s], filters: %lld, ", name, x->nb,
         (long long)f);
    if (ws.dim[2] == ws.dim[3])
        emit(m, "kernel: %lld", (long long)ws.dim[2]);
    else
        emit(m, "kh: %lld, kw: %lld", (long long)ws.dim[2], (long long)ws.dim[3]);
    emit(m, ", stride: %lld, pad: %lld, output_padding: %lld, dilation: %lld, groups: %lld%s}\n",
         (long long)st, (long long)pad, (long long)op, (long long)dil, (long long)groups,
         b ? "" : ", bias: false");
    add_param(m, name, "w", ws, w);
    if (b)
        add_param(m, name, "b", NB_SHAPE(f), b);
    nb_shape s = NB_SHAPE(x->shape.dim[0], f, oh, ow);
    return define(m, n, name, s, "conv_transpose2d", x) ? NB_OK : NB_ERR_NOMEM;
}

static nb_status op_pool(imp *m, const Onnx__NodeProto *n, bool max)
{
    imp_val *x = value_in(m, n, 0);
    if (!x)
        return NB_ERR_ARG;
    if (x->shape.rank != 4)
        return refuse(m, n, "the input '%s' has rank %d: nabla pools images [N, C, H, W]",
                      x->onnx, x->shape.rank);
    if (n->n_output > 1 && *str(n->output[1]))
        return refuse(m, n, "the Indices output cannot be expressed");
    imp_window win;
    if (!attr(n, "kernel_shape"))
        return refuse(m, n, "kernel_shape is missing");
    if (read_window(m, n, true, &win))
        return NB_ERR_ARG;
    if (attr_int(n, "storage_order", 0) != 0)
        return refuse(m, n, "storage_order 1 cannot be expressed");
    bool ceil = attr_int(n, "ceil_mode", 0) != 0;
    int64_t oh = window_out(&win, 0, x->shape.dim[2], ceil),
            ow = window_out(&win, 1, x->shape.dim[3], ceil);
    if (oh < 0 || ow < 0)
        return refuse(m, n, "the window is larger than the padded image");
    /* ONNX's AveragePool leaves the padding out of its count by default;
     * without padding the two counts agree, and nabla keeps its default. */
    const int64_t *p = win.pads;
    bool exclude = !max && attr_int(n, "count_include_pad", 0) == 0 && (p[0] || p[1] || p[2] || p[3]);
    char name[IMP_NAME + 8];
    fresh_name(m, n->name, max ? "maxpool" : "avgpool", name);
    emit(m, "  - {name: %s, op: %s, inputs: [%s]", name, max ? "maxpool2d" : "avgpool2d", x->nb);
    if (win.k[0] == win.k[1])
        emit(m, ", size: %lld", (long long)win.k[0]);
    else
        emit(m, ", kh: %lld, kw: %lld", (long long)win.k[0], (long long)win.k[1]);
    emit_window(m, &win, win.k);
    emit(m, "%s%s}\n", ceil ? ", ceil_mode: true" : "", exclude ? ", count_include_pad: false" : "");
    nb_shape s = NB_SHAPE(x->shape.dim[0], x->shape.dim[1], oh, ow);
    return define(m, n, name, s, max ? "maxpool2d" : "avgpool2d", x) ? NB_OK : NB_ERR_NOMEM;
}

/* GlobalAveragePool, GlobalMaxPool: [N, C, H, W] → [N, C, 1, 1], as ONNX
 * keeps it: nabla's global pool gives [N, C], reshaped to [N, C, 1, 1] (the
 * Flatten that usually follows makes [N, C] again). */
static nb_status op_global_pool(imp *m, const Onnx__NodeProto *n, bool max)
{
    imp_val *x = value_in(m, n, 0);
    if (!x)
        return NB_ERR_ARG;
    if (x->shape.rank != 4)
        return refuse(m, n, "the input '%s' has rank %d: nabla pools images [N, C, H, W]",
                      x->onnx, x->shape.rank);
    int xi = (int)(x - m->vals);
    char pool[IMP_NAME + 8], name[IMP_NAME + 8];
    fresh_name(m, n->name, max ? "global_maxpool" : "global_avgpool", pool);
    if (!reserve(m, pool))
        return NB_ERR_NOMEM;
    fresh_name(m, n->name, "reshape", name);
    x = &m->vals[xi];
    emit(m, "  - {name: %s, op: %s, inputs: [%s]}\n", pool,
         max ? "global_maxpool2d" : "global_avgpool2d", x->nb);
    emit(m, "  - {name: %s, op: reshape, inputs: [%s], shape: [%lld, 1, 1]}\n", name, pool,
         (long long)x->shape.dim[1]);
    nb_shape s = NB_SHAPE(x->shape.dim[0], x->shape.dim[1], 1, 1);
    return define(m, n, name, s, "reshape", x) ? NB_OK : NB_ERR_NOMEM;
}

/* LeakyRelu (alpha 0.01 by default) and Elu (alpha 1): nabla's leaky_relu
 * and elu, whose model files take alpha in [0, 1]. */
static nb_status op_alpha(imp *m, const Onnx__NodeProto *n, const char *op, float def)
{
    imp_val *x = value_in(m, n, 0);
    if (!x)
        return NB_ERR_ARG;
    float alpha = attr_float(n, "alpha", def);
    if (!(alpha >= 0 && alpha <= 1))
        return refuse(m, n, "alpha %g: nabla's %s takes alpha in [0, 1]", alpha, op);
    char name[IMP_NAME + 8];
    fresh_name(m, n->name, op, name);
    emit(m, "  - {name: %s, op: %s, inputs: [%s], alpha: %.9g}\n", name, op, x->nb, (double)alpha);
    return define(m, n, name, x->shape, op, x) ? NB_OK : NB_ERR_NOMEM;
}

/* The tensor of constant `name` read by node `reader`: an initialiser or
 * a Constant already read, or a Constant node listed after node `after`
 * (the one being translated) and before the reader, not read yet
 * (torch.onnx.export writes each just before its reader, so a pattern
 * looking ahead meets them unread); NULL when it is none. That Constant
 * is still translated, and checked, in its turn. */
static const Onnx__TensorProto *const_ahead(imp *m, const char *name, size_t after, size_t reader)
{
    imp_val *v = find(m, name);
    if (v)
        return v->nb[0] ? NULL : v->t;
    for (size_t k = after + 1; k < reader && k < m->g->n_node; k++) {
        const Onnx__NodeProto *c = m->g->node[k];
        if (c && !strcmp(str(c->op_type), "Constant") && c->n_output == 1 &&
            !strcmp(str(c->output[0]), name)) {
            const Onnx__AttributeProto *a = attr(c, "value");
            return a && c->n_attribute == 1 ? a->t : NULL;
        }
    }
    return NULL;
}

/* Whether constant `name` (read by node `reader`, looked for after node
 * `after` when not read yet) is one float32 number
 * within tol of want; read without refusing, since a pattern that does not
 * match is not an error. */
static bool scalar_is(imp *m, const char *name, size_t after, size_t reader, float want,
                      float tol)
{
    const Onnx__TensorProto *t = const_ahead(m, name, after, reader);
    if (!t || t->data_type != T_FLOAT || t->n_dims > NB_MAX_RANK)
        return false;
    for (size_t i = 0; i < t->n_dims; i++)
        if (t->dims[i] != 1)
            return false;
    float v;
    if (t->has_raw_data && t->raw_data.len == 4) {
        uint32_t u = (uint32_t)t->raw_data.data[0] | (uint32_t)t->raw_data.data[1] << 8 |
                     (uint32_t)t->raw_data.data[2] << 16 | (uint32_t)t->raw_data.data[3] << 24;
        memcpy(&v, &u, 4);
    } else if (!t->has_raw_data && t->n_float_data == 1) {
        v = t->float_data[0];
    } else {
        return false;
    }
    return fabsf(v - want) <= tol;
}

/* Node j when it is `op` with one output and two inputs, one of them
 * `mine`; *other gets the other input's name. */
static const Onnx__NodeProto *binary_reading(imp *m, int j, const char *op, const char *mine,
                                             const char **other)
{
    const Onnx__NodeProto *b = j >= 0 ? m->g->node[j] : NULL;
    if (!b || strcmp(str(b->op_type), op) || *str(b->domain) || b->n_input != 2 ||
        b->n_output != 1 || !*str(b->output[0]))
        return NULL;
    int k = !strcmp(str(b->input[0]), mine) ? 1 : !strcmp(str(b->input[1]), mine) ? 0 : -1;
    if (k < 0)
        return NULL;
    *other = str(b->input[k]);
    return b;
}

/*
 * GELU as torch.onnx.export writes nn.GELU() at opset 13, from the Div at
 * node i: Div(x, √2) → Erf → Add 1 → Mul by x → Mul by 0.5 (or by 0.5, then
 * by x, as nabla's export writes gelu), each step the only reader of the
 * one before (none a graph output), in either operand order, none redefining a value. Becomes one gelu node; the four later
 * nodes are marked done. False (nothing emitted) when the nodes differ:
 * they are then imported one by one (Erf is a nabla op), which computes
 * the same, or refused by node() for what is wrong with them.
 */
static bool gelu_at(imp *m, const Onnx__NodeProto *n, size_t i, nb_status *st)
{
    const char *x_name = n->n_input == 2 ? str(n->input[0]) : "", *other;
    imp_val *x = *x_name ? find(m, x_name) : NULL;
    if (!x || !x->nb[0] || n->n_output != 1 || !scalar_is(m, str(n->input[1]), i, i, 1.41421356f, 1e-6f))
        return false;
    int j[4];
    j[0] = sole_reader(m, i, n->output[0]);
    const Onnx__NodeProto *erf = j[0] >= 0 ? m->g->node[j[0]] : NULL;
    if (!erf || strcmp(str(erf->op_type), "Erf") || *str(erf->domain) || erf->n_input != 1 ||
        erf->n_output != 1 || !*str(erf->output[0]))
        return false;
    j[1] = sole_reader(m, (size_t)j[0], erf->output[0]);
    const Onnx__NodeProto *add = binary_reading(m, j[1], "Add", erf->output[0], &other);
    if (!add || !scalar_is(m, other, i, (size_t)j[1], 1.0f, 0.0f))
        return false;
    /* Then Mul by x and by 0.5, in either order (torch.onnx.export: x
     * first; nabla's own export: 0.5 first). */
    const char *by[2];
    j[2] = sole_reader(m, (size_t)j[1], add->output[0]);
    const Onnx__NodeProto *mx = binary_reading(m, j[2], "Mul", add->output[0], &by[0]);
    j[3] = mx ? sole_reader(m, (size_t)j[2], mx->output[0]) : -1;
    const Onnx__NodeProto *half = mx ? binary_reading(m, j[3], "Mul", mx->output[0], &by[1]) : NULL;
    if (!half)
        return false;
    bool x_first = !strcmp(by[0], x_name);
    if (strcmp(by[x_first ? 0 : 1], x_name) ||
        !scalar_is(m, by[x_first ? 1 : 0], i, (size_t)j[x_first ? 3 : 2], 0.5f, 0.0f))
        return false;
    /* The four nodes skip node()'s checks: none may redefine a value. */
    const char *outs[5] = {n->output[0], erf->output[0], add->output[0], mx->output[0],
                           half->output[0]};
    for (int k = 0; k < 5; k++)
        if (find(m, outs[k]))
            return false;
    char name[IMP_NAME + 8];
    fresh_name(m, NULL, "gelu", name);
    emit(m, "  - {name: %s, op: gelu, inputs: [%s]}\n", name, x->nb);
    for (int k = 0; k < 4; k++)
        m->done[j[k]] = true;
    *st = define(m, half, name, x->shape, "gelu", x) ? NB_OK : NB_ERR_NOMEM;
    return true;
}

/*
 * The node a constant operand of Add, Sub, Mul or Div becomes, made once
 * per constant: `full` when its values are one number (a scale, a shift),
 * else a `param` holding them (a bias torch.onnx.export keeps as an
 * initialiser; trained on like any parameter). It must broadcast to the
 * computed operand x without changing x's shape, and leave the batch axis
 * alone (size 1 there, or absent). Returns the node's name (in c, which
 * reserve may move: the caller takes pointers into vals afresh), or NULL
 * with err set.
 */
static const char *const_node(imp *m, const Onnx__NodeProto *n, int ci, int xi)
{
    imp_val *c = &m->vals[ci], *x = &m->vals[xi];
    nb_shape cs;
    char buf[160], xs[160];
    if (tensor_shape(m, n, c->t, &cs) != NB_OK)
        return NULL;
    bool fits = cs.rank <= x->shape.rank;
    for (int i = 0; fits && i < cs.rank; i++) {
        int xa = x->shape.rank - cs.rank + i;
        fits = cs.dim[i] == 1 || (xa > 0 && cs.dim[i] == x->shape.dim[xa]);
    }
    if (!fits) {
        refuse(m, n, "the constant '%s' of shape %s does not broadcast to '%s' [N,%s without "
               "changing its shape or reaching into the batch axis", c->onnx,
               ints_str(cs.dim, (size_t)cs.rank, buf, sizeof buf), x->onnx,
               ints_str(x->shape.dim + 1, (size_t)x->shape.rank - 1, xs, sizeof xs) + 1);
        return NULL;
    }
    if (c->as_node[0])
        return c->as_node;
    float *v = tensor_floats(m, n, c->t, &cs);
    if (!v)
        return NULL;
    int64_t k = numel_of(cs, 0);
    bool uniform = true;
    for (int64_t i = 1; i < k; i++)
        uniform &= v[i] == v[0];
    char name[IMP_NAME + 8];
    fresh_name(m, c->onnx, "const", name);
    if (!reserve(m, name)) {
        nb_free(v);
        return NULL;
    }
    c = &m->vals[ci];
    snprintf(c->as_node, sizeof c->as_node, "%s", name);
    if (cs.rank == 0)
        cs = NB_SHAPE(1);
    ints_str(cs.dim, (size_t)cs.rank, buf, sizeof buf);
    if (uniform) {
        emit(m, "  - {name: %s, op: full, shape: %s, value: %.9g}\n", name, buf, (double)v[0]);
        nb_free(v);
    } else {
        emit(m, "  - {name: %s, op: param, shape: %s}\n", name, buf);
        if (!add_param(m, name, NULL, cs, v))
            return NULL;
    }
    return c->as_node;
}

/*
 * Add, Sub, Mul, Div (op the nabla name) of two computed values of one
 * shape (a residual), or of a computed value and a constant that
 * broadcasts to it (const_node), in either order.
 */
static nb_status op_arith(imp *m, const Onnx__NodeProto *n, const char *op)
{
    if (n->n_input != 2)
        return refuse(m, n, "%zu inputs", n->n_input);
    int idx[2];
    for (int k = 0; k < 2; k++) {
        imp_val *v = *str(n->input[k]) ? find(m, n->input[k]) : NULL;
        if (!v)
            return refuse(m, n, "input %d is missing", k);
        idx[k] = (int)(v - m->vals);
    }
    bool computed[2] = {m->vals[idx[0]].nb[0] != 0, m->vals[idx[1]].nb[0] != 0};
    if (!computed[0] && !computed[1])
        return refuse(m, n, "both inputs are constants: nabla imports arithmetic on a value the "
                      "model computes (fold the constants first)");
    int xi = computed[0] ? idx[0] : idx[1];
    if (computed[0] && computed[1]) {
        const imp_val *a = &m->vals[idx[0]], *b = &m->vals[idx[1]];
        bool same = a->shape.rank == b->shape.rank;
        for (int d = 0; same && d < a->shape.rank; d++)
            same = a->shape.dim[d] == b->shape.dim[d];
        if (!same)
            return refuse(m, n, "the input '%s' differs in shape from '%s' (broadcasting between "
                          "two computed values is not imported)", b->onnx, a->onnx);
    }
    char in[2][IMP_NAME + 8];
    for (int k = 0; k < 2; k++) {
        const char *nb = computed[k] ? m->vals[idx[k]].nb : const_node(m, n, idx[k], xi);
        if (!nb)
            return m->err->status ? m->err->status : NB_ERR_NOMEM;
        snprintf(in[k], sizeof in[k], "%s", nb);
    }
    char name[IMP_NAME + 8];
    fresh_name(m, n->name, op, name);
    emit(m, "  - {name: %s, op: %s, inputs: [%s, %s]}\n", name, op, in[0], in[1]);
    const imp_val *x = &m->vals[xi];
    return define(m, n, name, x->shape, op, x) ? NB_OK : NB_ERR_NOMEM;
}

/* An op of one input that keeps its shape (relu, sigmoid, tanh, softmax). */
static nb_status op_unary(imp *m, const Onnx__NodeProto *n, const char *op)
{
    imp_val *x = value_in(m, n, 0);
    if (!x)
        return NB_ERR_ARG;
    if (strcmp(op, "softmax") == 0) {
        /* opset 13 normalises over one axis (default the last); before,
         * over the flattened axes from `axis` (default 1) on: the same
         * only when that is the last axis. */
        int64_t axis = attr_int(n, "axis", m->opset >= 13 ? -1 : 1);
        if (axis < 0)
            axis += x->shape.rank;
        if (axis != x->shape.rank - 1)
            return refuse(m, n, "axis %lld of a rank-%d input: nabla's softmax here is over the "
                          "last axis", (long long)attr_int(n, "axis", 0), x->shape.rank);
    }
    char name[IMP_NAME + 8];
    fresh_name(m, n->name, op, name);
    emit(m, "  - {name: %s, op: %s, inputs: [%s]}\n", name, op, x->nb);
    return define(m, n, name, x->shape, op, x) ? NB_OK : NB_ERR_NOMEM;
}

/* Flatten from axis 1, or a Reshape by a constant shape whose first entry
 * keeps the batch (0, -1, or the batch the file fixes). */
static nb_status op_reshape(imp *m, const Onnx__NodeProto *n, bool flatten)
{
    imp_val *x = value_in(m, n, 0);
    if (!x)
        return NB_ERR_ARG;
    int64_t sh[NB_MAX_RANK];
    int r;
    if (flatten) {
        int64_t axis = attr_int(n, "axis", 1);
        if (axis < 0)
            axis += x->shape.rank;
        if (axis != 1)
            return refuse(m, n, "axis %lld: nabla flattens every axis but the batch",
                          (long long)attr_int(n, "axis", 1));
        sh[0] = 0, sh[1] = -1, r = 2;
    } else {
        const Onnx__TensorProto *t = const_in(m, n, 1, false);
        if (!t || (r = tensor_ints(m, n, t, sh, NB_MAX_RANK)) < 0)
            return NB_ERR_ARG;
        if (attr_int(n, "allowzero", 0) != 0)
            return refuse(m, n, "allowzero = 1 cannot be expressed");
    }
    char buf[160];
    int64_t per = numel_of(x->shape, 1), known = 1;
    int minus = -1;
    bool batch_ok = r >= 1 && (sh[0] == 0 || (m->batch > 0 && sh[0] == m->batch) || sh[0] == -1);
    for (int i = 1; i < r && batch_ok; i++) {
        if (sh[i] == 0 && i < x->shape.rank)
            sh[i] = x->shape.dim[i];
        if (sh[i] == -1 && minus < 0)
            minus = i;
        else if (sh[i] < 1 || sh[i] > IMP_MAX_NUMEL || known > IMP_MAX_NUMEL)
            batch_ok = false;
        else
            known *= sh[i];
    }
    if (batch_ok && sh[0] == -1 && minus >= 0)
        batch_ok = false;
    if (batch_ok && minus >= 0) {
        if (per % known)
            batch_ok = false;
        else
            sh[minus] = per / known, known = per;
    }
    if (!batch_ok || known != per)
        return refuse(m, n, "the shape %s is not [N, …] of the input's %lld elements per example",
                      ints_str(sh, (size_t)r, buf, sizeof buf), (long long)per);
    char name[IMP_NAME + 8];
    nb_shape s = {.rank = r};
    s.dim[0] = x->shape.dim[0];
    for (int i = 1; i < r; i++)
        s.dim[i] = sh[i];
    if (r == 2) {
        fresh_name(m, n->name, "flatten", name);
        emit(m, "  - {name: %s, op: flatten, inputs: [%s]}\n", name, x->nb);
    } else {
        fresh_name(m, n->name, "reshape", name);
        emit(m, "  - {name: %s, op: reshape, inputs: [%s], shape: %s}\n", name, x->nb,
             ints_str(sh + 1, (size_t)(r - 1), buf, sizeof buf));
    }
    return define(m, n, name, s, r == 2 ? "flatten" : "reshape", x) ? NB_OK : NB_ERR_NOMEM;
}

static nb_status op_batchnorm(imp *m, const Onnx__NodeProto *n)
{
    imp_val *x = value_in(m, n, 0);
    if (!x)
        return NB_ERR_ARG;
    if (attr_int(n, "training_mode", 0) != 0 || attr_int(n, "spatial", 1) != 1)
        return refuse(m, n, "training_mode or spatial = 0 cannot be expressed (nabla imports "
                      "the inference form)");
    for (size_t o = 1; o < n->n_output; o++)
        if (*str(n->output[o]))
            return refuse(m, n, "output %zu (running statistics of training) cannot be expressed", o);
    if (x->shape.rank != 2 && x->shape.rank != 4)
        return refuse(m, n, "the input '%s' has rank %d (nabla normalises [N, C] or [N, C, H, W])",
                      x->onnx, x->shape.rank);
    static const char *names[4] = {"gamma", "beta", "running_mean", "running_var"};
    float *v[4] = {0};
    int64_t c = x->shape.dim[1];
    for (int i = 0; i < 4; i++) {
        const Onnx__TensorProto *t = const_in(m, n, (size_t)i + 1, false);
        nb_shape s;
        if (t)
            v[i] = tensor_floats(m, n, t, &s);
        if (v[i] && (s.rank != 1 || s.dim[0] != c)) {
            refuse(m, n, "'%s' is not one value per channel (%lld)", str(t->name), (long long)c);
            nb_free(v[i]), v[i] = NULL;
        }
        if (v[i] && i == 3)
            for (int64_t j = 0; j < c; j++)
                if (v[i][j] < 0) {
                    refuse(m, n, "the variance '%s' holds %g", str(t->name), v[i][j]);
                    nb_free(v[i]), v[i] = NULL;
                    break;
                }
        if (!v[i]) {
            for (int j = 0; j < i; j++)
                nb_free(v[j]);
            return NB_ERR_ARG;
        }
    }
    float eps = attr_float(n, "epsilon", 1e-5f), mom = attr_float(n, "momentum", 0.9f);
    if (!(eps > 0)) {
        for (int j = 0; j < 4; j++)
            nb_free(v[j]);
        return refuse(m, n, "epsilon %g: nabla takes eps > 0", eps);
    }
    /* ONNX keeps momentum·running + (1 − momentum)·batch, nabla the other
     * way round; it matters only for training on. */
    double nm = 1.0 - mom;
    char name[IMP_NAME + 8];
    fresh_name(m, n->name, "batchnorm", name);
    emit(m, "  - {name: %s, op: batchnorm, inputs: [%s], eps: %.9g", name, x->nb, (double)eps);
    if (nm > 0 && nm <= 1)
        emit(m, ", momentum: %.9g", nm);
    emit(m, "}\n");
    for (int i = 0; i < 4; i++)
        add_param(m, name, names[i], NB_SHAPE(c), v[i]);
    return define(m, n, name, x->shape, "batchnorm", x) ? NB_OK : NB_ERR_NOMEM;
}

/* Dropout (inference: the identity) and Identity: the output names the
 * input's value. */
static nb_status op_identity(imp *m, const Onnx__NodeProto *n, bool dropout)
{
    /* torch.onnx.export shares equal initialisers through Identity nodes:
     * a constant stays a constant. */
    imp_val *x = n->n_input >= 1 ? find(m, str(n->input[0])) : NULL;
    if (!dropout && x && !x->nb[0]) {
        imp_val *v = add_val(m, n->output[0]);
        if (!v)
            return NB_ERR_NOMEM;
        *v = *find(m, str(n->input[0]));
        v->onnx = n->output[0];
        return NB_OK;
    }
    x = value_in(m, n, 0);
    if (!x)
        return NB_ERR_ARG;
    if (dropout && n->n_output > 1 && *str(n->output[1]))
        return refuse(m, n, "the mask output cannot be expressed");
    if (dropout && n->n_input > 2 && *str(n->input[2])) {
        const Onnx__TensorProto *t = const_in(m, n, 2, false);
        if (!t || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__BOOL ||
            (t->has_raw_data ? (t->raw_data.len != 1 || t->raw_data.data[0]) :
                               (t->n_int32_data != 1 || t->int32_data[0])))
            return m->err->status ? NB_ERR_ARG
                                  : refuse(m, n, "training_mode is not the constant false");
    }
    int xi = (int)(x - m->vals);   /* before add_val, which may move vals */
    imp_val *v = add_val(m, n->output[0]);
    if (!v)
        return NB_ERR_NOMEM;
    *v = m->vals[xi];
    v->onnx = n->output[0];
    return NB_OK;
}

/* Concat of computed values along a non-batch axis. */
static nb_status op_join(imp *m, const Onnx__NodeProto *n)
{
    if (n->n_input < 1)
        return refuse(m, n, "%zu inputs", n->n_input);
    imp_val *first = value_in(m, n, 0);
    if (!first)
        return NB_ERR_ARG;
    nb_shape s = first->shape;
    if (!attr(n, "axis"))
        return refuse(m, n, "axis is missing");
    int64_t axis = attr_int(n, "axis", 0);
    if (axis < 0)
        axis += s.rank;
    if (axis < 1 || axis >= s.rank)
        return refuse(m, n, "axis %lld: nabla joins along an axis other than the batch",
                      (long long)attr_int(n, "axis", 0));
    s.dim[axis] = 0;
    char name[IMP_NAME + 8], list[4096];
    size_t k = 0;
    for (size_t i = 0; i < n->n_input; i++) {
        imp_val *v = value_in(m, n, i);
        if (!v)
            return NB_ERR_ARG;
        bool same = v->shape.rank == s.rank;
        for (int d = 0; same && d < s.rank; d++)
            same = d == axis || v->shape.dim[d] == first->shape.dim[d];
        if (!same)
            return refuse(m, n, "the input '%s' differs in shape from '%s' off the axis", v->onnx,
                          first->onnx);
        s.dim[axis] += v->shape.dim[axis];
        int w = snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", v->nb);
        if (w < 0 || (size_t)w >= sizeof list - k)
            return refuse(m, n, "too many inputs");
        k += (size_t)w;
    }
    fresh_name(m, n->name, "concat", name);
    emit(m, "  - {name: %s, op: concat, inputs: [%s], axis: %lld}\n", name, list, (long long)axis);
    return define(m, n, name, s, "concat", first) ? NB_OK : NB_ERR_NOMEM;
}

/* Pad (mode constant) by constant pads that leave the batch alone. */
static nb_status op_pad(imp *m, const Onnx__NodeProto *n)
{
    imp_val *x = value_in(m, n, 0);
    if (!x)
        return NB_ERR_ARG;
    const Onnx__AttributeProto *mode = attr(n, "mode");
    if (mode && mode->has_s && !(mode->s.len == 8 && !memcmp(mode->s.data, "constant", 8)))
        return refuse(m, n, "mode '%.*s': nabla pads with a constant only",
                      (int)(mode->s.len > 20 ? 20 : mode->s.len), (const char *)mode->s.data);
    int64_t p[2 * NB_MAX_RANK];
    int r = x->shape.rank, k;
    const Onnx__TensorProto *t = const_in(m, n, 1, false);
    if (!t || (k = tensor_ints(m, n, t, p, 2 * NB_MAX_RANK)) < 0)
        return NB_ERR_ARG;
    char buf[160], before[160], after[160];
    if (k != 2 * r || p[0] || p[r])
        return refuse(m, n, "pads %s: nabla pads every axis but the batch, 2 × %d values",
                      ints_str(p, (size_t)k, buf, sizeof buf), r);
    for (int i = 0; i < k; i++)
        if (p[i] < 0 || p[i] > 4096)
            return refuse(m, n, "pads %s: negative (a crop) or beyond 4096",
                          ints_str(p, (size_t)k, buf, sizeof buf));
    float value = 0;
    const Onnx__TensorProto *c = n->n_input > 2 && *str(n->input[2]) ? const_in(m, n, 2, false) : NULL;
    if (n->n_input > 2 && *str(n->input[2])) {
        nb_shape cs;
        float *v = c ? tensor_floats(m, n, c, &cs) : NULL;
        if (!v)
            return NB_ERR_ARG;
        bool one = numel_of(cs, 0) == 1;
        value = v[0];
        nb_free(v);
        if (!one)
            return refuse(m, n, "constant_value is not one number");
    }
    nb_shape s = x->shape;
    for (int i = 1; i < r; i++)
        s.dim[i] += p[i] + p[r + i];
    char name[IMP_NAME + 8];
    fresh_name(m, n->name, "pad", name);
    emit(m, "  - {name: %s, op: pad, inputs: [%s], before: %s, after: %s, value: %.9g}\n", name,
         x->nb, ints_str(p + 1, (size_t)(r - 1), before, sizeof before),
         ints_str(p + r + 1, (size_t)(r - 1), after, sizeof after), (double)value);
    return define(m, n, name, s, "pad", x) ? NB_OK : NB_ERR_NOMEM;
}

/* A Constant node: its tensor, as an initialiser. */
static nb_status op_constant(imp *m, const Onnx__NodeProto *n)
{
    const Onnx__AttributeProto *a = attr(n, "value");
    if (!a || !a->t || n->n_attribute != 1)
        return refuse(m, n, "only a Constant given by a tensor 'value' is imported");
    nb_shape s;
    if (tensor_shape(m, n, a->t, &s) != NB_OK)
        return NB_ERR_ARG;
    imp_val *v = add_val(m, n->output[0]);
    if (!v)
        return NB_ERR_NOMEM;
    v->t = a->t;
    v->shape = s;
    return NB_OK;
}

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
    while (n > 0 && !*str(names[n - 1]))
        n--;
    return n;
}

static nb_status arity(imp *m, const Onnx__NodeProto *n)
{
    size_t in = named(n->input, n->n_input), out = named(n->output, n->n_output);
    for (size_t i = 0; i < sizeof arities / sizeof *arities; i++) {
        if (strcmp(arities[i].op, str(n->op_type)) != 0)
            continue;
        if (in > arities[i].max_in)
            return refuse(m, n, "%zu inputs, where the operator takes at most %zu", in,
                          arities[i].max_in);
        if (out > arities[i].max_out)
            return refuse(m, n, "%zu outputs, where the operator has at most %zu", out,
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
static nb_status attr_check(imp *m, const Onnx__NodeProto *n)
{
    bool seen[sizeof attr_types / sizeof *attr_types] = {0};
    bool constant = strcmp(str(n->op_type), "Constant") == 0;
    for (size_t k = 0; k < n->n_attribute; k++) {
        const Onnx__AttributeProto *a = n->attribute[k];
        for (size_t t = 0; a && t < sizeof attr_types / sizeof *attr_types; t++) {
            if (strcmp(str(a->name), attr_types[t].name) != 0 ||
                (!constant && !strcmp(attr_types[t].name, "value")))
                continue;
            if (seen[t])
                return refuse(m, n, "the attribute '%s' is given twice", a->name);
            seen[t] = true;
            if (a->type != attr_types[t].type)
                return refuse(m, n, "the attribute '%s' is of type %s, not %s", a->name,
                              attr_type_name((int)a->type), attr_type_name((int)attr_types[t].type));
        }
    }
    return NB_OK;
}

/* ---------------------------------------------------------------- group norm */

/*
 * PyTorch writes nn.GroupNorm(G, C) on x [N, C, …] as five nodes:
 * Reshape(x, [0, G, -1]) → InstanceNormalization(scale ones [G], bias
 * zeros [G], epsilon) → Reshape back to x's shape (a constant, or
 * Shape(x)) → Mul by γ [C, 1, …] → Add β [C, 1, …]. The first Reshape,
 * read by an InstanceNormalization alone, becomes a "view" that writes no
 * line; the InstanceNormalization then takes the rest of the chain and
 * writes one groupnorm layer with γ and β as its parameters. Anything else
 * on that path is refused naming its node, never approximated.
 */

/* The node after node i that alone reads its output as input 0 or 1 and is
 * an `op` with one output no value has yet, or -1. */
static int chain_next(imp *m, size_t i, const char *op)
{
    const char *v = str(m->g->node[i]->output[0]);
    int j = sole_reader(m, i, v);
    const Onnx__NodeProto *n = j >= 0 ? m->g->node[j] : NULL;
    if (!n || strcmp(str(n->op_type), op) || (*str(n->domain) && strcmp(n->domain, "ai.onnx")) ||
        n->n_output != 1 || !*str(n->output[0]) || find(m, n->output[0]) || n->n_input < 1 ||
        (strcmp(str(n->input[0]), v) && (n->n_input < 2 || strcmp(str(n->input[1]), v))))
        return -1;
    return j;
}

/* Reshape(x, [0 or N, G, -1 or the rest]) read by an InstanceNormalization
 * alone: a view of x [N, G, C/G·…] for gn_instance to take whole. */
static nb_status gn_view(imp *m, const Onnx__NodeProto *n)
{
    imp_val *x = value_in(m, n, 0);
    const Onnx__TensorProto *t = x ? const_in(m, n, 1, false) : NULL;
    int64_t sh[3];
    int r;
    if (!t || (r = tensor_ints(m, n, t, sh, 3)) < 0)
        return NB_ERR_ARG;
    int64_t c = x->shape.rank >= 2 ? x->shape.dim[1] : 0, per = numel_of(x->shape, 1);
    if (r != 3 || x->shape.rank < 2 || (sh[0] != 0 && (m->batch < 1 || sh[0] != m->batch)) ||
        sh[1] < 1 || c % sh[1] || (sh[2] != -1 && sh[2] != per / sh[1]) ||
        attr_int(n, "allowzero", 0) != 0)
        return refuse(m, n, "before an InstanceNormalization nabla takes only PyTorch's "
                      "GroupNorm, a Reshape of x [N, C, …] to [0, groups, -1] with groups "
                      "dividing C");
    return define(m, n, x->nb, NB_SHAPE(x->shape.dim[0], sh[1], per / sh[1]), "gn_view", x)
               ? NB_OK : NB_ERR_NOMEM;
}

/* The values of t (in the shape *view, unless -1) as C values per channel
 * of x: one per channel,
 * [C, 1, …] (rank x's − 1) or [1, C, 1, …], or one value, [1, …] of rank
 * at most x's, for every channel (*one set: what PyTorch writes without
 * affine, 1 and 0); NULL, refused naming node n, otherwise. */
static float *gn_channels(imp *m, const Onnx__NodeProto *n, const Onnx__TensorProto *t,
                          const nb_shape *view, const imp_val *x, const char *what, float *one)
{
    nb_shape s;
    float *f = tensor_floats(m, n, t, &s);
    if (!f)
        return NULL;
    bool fits = view->rank < 0 || numel_of(*view, 0) == numel_of(s, 0);
    if (view->rank >= 0 && fits) /* through a Reshape: its shape */
        s = *view;
    int64_t c = x->shape.dim[1];
    int lead = s.rank == x->shape.rank ? 1 : 0, ok = fits && s.rank == x->shape.rank - 1 + lead;
    for (int d = 0; d < s.rank && ok; d++)
        ok = s.dim[d] == (d == lead ? c : 1);
    if (!ok && fits && numel_of(s, 0) == 1 && s.rank <= x->shape.rank) {
        float v = f[0], *g = nb_realloc(f, (size_t)c * sizeof *g);
        if (!g) {
            nb_free(f);
            nb_error_set(m->err, NB_ERR_NOMEM, "ONNX: out of memory for the group norm's %s",
                         what);
            return NULL;
        }
        for (int64_t k = 0; k < c; k++)
            g[k] = v;
        *one = v;
        return g;
    }
    *one = NAN;
    if (!ok) {
        nb_free(f);
        refuse(m, n, "the group norm's %s '%s' is not one value per channel [C, 1, …] of %lld "
               "channels, nor one value", what, str(t->name), (long long)c);
    }
    return ok ? f : NULL;
}

/* InstanceNormalization with ones and zeros, epsilon > 0, on a view. */
static nb_status gn_instance_checks(imp *m, const Onnx__NodeProto *n, const imp_val *v,
                                    float *eps)
{
    const Onnx__TensorProto *st = const_in(m, n, 1, false);
    const Onnx__TensorProto *bt = st ? const_in(m, n, 2, false) : NULL;
    if (!bt)
        return NB_ERR_ARG;
    nb_shape ss, bs;
    float *s = tensor_floats(m, n, st, &ss), *b = s ? tensor_floats(m, n, bt, &bs) : NULL;
    bool ok = b && numel_of(ss, 0) == v->shape.dim[1] && numel_of(bs, 0) == v->shape.dim[1];
    for (int64_t i = 0; ok && i < v->shape.dim[1]; i++)
        ok = s[i] == 1.0f && b[i] == 0.0f;
    nb_free(s), nb_free(b);
    *eps = attr_float(n, "epsilon", 1e-5f);
    if (!ok || !(*eps > 0) || !isfinite(*eps))
        return m->err->status ? NB_ERR_ARG :
               refuse(m, n, "on a GroupNorm's view nabla takes a scale of ones, a bias of "
                      "zeros and an epsilon > 0 (γ and β come in the Mul and Add after)");
    return NB_OK;
}

/* The constant named `name`: an initialiser or an earlier Constant's value,
 * or the value of a Constant among nodes i+1 … j−1 (not yet read); NULL
 * otherwise. */
static const Onnx__TensorProto *gn_const(imp *m, const char *name, size_t i, size_t j)
{
    imp_val *v = find(m, name);
    if (v)
        return v->nb[0] ? NULL : v->t;
    for (size_t p = i + 1; p < j; p++) {
        const Onnx__NodeProto *c = m->g->node[p];
        const Onnx__AttributeProto *a = attr(c, "value");
        if (!strcmp(str(c->op_type), "Constant") && c->n_output == 1 &&
            !strcmp(str(c->output[0]), name))
            return a && c->n_attribute == 1 ? a->t : NULL;
    }
    return NULL;
}

/* The other input of node j (a Mul or Add on the chain value `chain`, read
 * after node i) as a constant, or NULL. *view is -1 or the shape that a
 * Reshape of a constant among nodes i+1 … j−1, read by node j alone, gives
 * it (nabla's export writes γ [C] so as [C, 1, …]); that Reshape is
 * marked done. */
static const Onnx__TensorProto *gn_operand(imp *m, size_t i, size_t j, const char *chain,
                                           nb_shape *view)
{
    const Onnx__NodeProto *n = m->g->node[j];
    view->rank = -1;
    if (n->n_input != 2)
        return NULL;
    const char *name = str(n->input[strcmp(str(n->input[0]), chain) == 0 ? 1 : 0]);
    const Onnx__TensorProto *t = gn_const(m, name, i, j);
    for (size_t p = i + 1; !t && !find(m, name) && p < j; p++) {
        const Onnx__NodeProto *r = m->g->node[p];
        if (r->n_output != 1 || strcmp(str(r->output[0]), name))
            continue;
        int64_t sh[NB_MAX_RANK];
        int k = -1;
        const Onnx__TensorProto *s = r->n_input == 2 ? gn_const(m, str(r->input[1]), i, p) : NULL;
        t = s ? gn_const(m, str(r->input[0]), i, p) : NULL;
        if (!t || strcmp(str(r->op_type), "Reshape") || r->n_attribute ||
            sole_reader(m, p, name) != (int)j || (k = tensor_ints(m, r, s, sh, NB_MAX_RANK)) < 0)
            return NULL;
        int64_t numel = 1;
        for (int d = 0; d < k; numel *= sh[d++])
            if (sh[d] < 1 || sh[d] > IMP_MAX_NUMEL / numel)
                return NULL; /* not a shape γ or β can have */
        view->rank = k;
        memcpy(view->dim, sh, (size_t)k * sizeof *sh);
        m->done[p] = true;
    }
    return t;
}

/* The Reshape after the InstanceNormalization (node j): back to x's shape,
 * by a constant [0 or -1 or N, C, …] or by Shape(x) read by it alone
 * (marked done). */
static bool gn_back(imp *m, int i, int j, const imp_val *x)
{
    const Onnx__NodeProto *r = m->g->node[j];
    if (r->n_input != 2 || strcmp(str(r->input[0]), str(m->g->node[i]->output[0])) ||
        attr_int(r, "allowzero", 0) != 0)
        return false;
    const Onnx__TensorProto *c = gn_const(m, str(r->input[1]), (size_t)i, (size_t)j);
    if (c) {
        int64_t sh[NB_MAX_RANK];
        int n = tensor_ints(m, r, c, sh, NB_MAX_RANK);
        bool ok = n == x->shape.rank && (sh[0] == 0 || sh[0] == -1 || sh[0] == m->batch);
        for (int d = 1; d < n && ok; d++)
            ok = sh[d] == x->shape.dim[d];
        return ok;
    }
    for (int p = i + 1; p < j; p++) {
        const Onnx__NodeProto *s = m->g->node[p];
        if (s->n_output != 1 || strcmp(str(s->output[0]), str(r->input[1])))
            continue;
        if (strcmp(str(s->op_type), "Shape") || s->n_input != 1 || s->n_attribute ||
            strcmp(str(s->input[0]), x->onnx) || sole_reader(m, (size_t)p, s->output[0]) != j)
            return false;
        m->done[p] = true;
        return true;
    }
    return false;
}

/* Whether `name` is one of the graph's initialisers (a module's parameter,
 * where torch writes a Constant node for fixed values). */
static bool is_initialiser(imp *m, const char *name)
{
    for (size_t k = 0; k < m->g->n_initializer; k++)
        if (m->g->initializer[k] && !strcmp(str(m->g->initializer[k]->name), name))
            return true;
    return false;
}

/* InstanceNormalization on x [N, C, …] not after a GroupNorm's Reshape
 * (PyTorch's nn.InstanceNorm2d/1d): each channel normalised alone, that is
 * groupnorm with C groups, scale and bias [C] its gamma and beta; affine
 * false when they are ones and zeros written as Constant nodes (torch's
 * affine=False). */
static nb_status in_alone(imp *m, const Onnx__NodeProto *n, const imp_val *x)
{
    int64_t c = x->shape.rank >= 3 ? x->shape.dim[1] : 0;
    const Onnx__TensorProto *st = const_in(m, n, 1, false);
    const Onnx__TensorProto *bt = st ? const_in(m, n, 2, false) : NULL;
    nb_shape ss, bs;
    float *s = bt ? tensor_floats(m, n, st, &ss) : NULL, *b = s ? tensor_floats(m, n, bt, &bs) : NULL;
    float eps = attr_float(n, "epsilon", 1e-5f);
    if (!b || ss.rank != 1 || ss.dim[0] != c || bs.rank != 1 || bs.dim[0] != c || c < 1 ||
        !(eps > 0) || !isfinite(eps)) {
        nb_free(s), nb_free(b);
        return m->err->status ? NB_ERR_ARG :
               refuse(m, n, "nabla takes an InstanceNormalization of x [N, C, …] with a scale "
                      "and a bias [C] and an epsilon > 0");
    }
    bool fixed = !is_initialiser(m, str(n->input[1])) && !is_initialiser(m, str(n->input[2]));
    for (int64_t k = 0; fixed && k < c; k++)
        fixed = s[k] == 1.0f && b[k] == 0.0f;
    char name[IMP_NAME + 8];
    fresh_name(m, n->name, "instancenorm", name);
    emit(m, "  - {name: %s, op: groupnorm, inputs: [%s], groups: %lld, eps: %.9g%s}\n", name,
         x->nb, (long long)c, (double)eps, fixed ? ", affine: false" : "");
    if (fixed) {
        nb_free(s), nb_free(b);
    } else {
        add_param(m, name, "gamma", NB_SHAPE(c), s);
        add_param(m, name, "beta", NB_SHAPE(c), b);
    }
    return define(m, n, name, x->shape, "groupnorm", x) ? NB_OK : NB_ERR_NOMEM;
}

/* InstanceNormalization on a view, the Reshape back, Mul γ and Add β: one
 * groupnorm layer on x (without Mul and Add: affine false); on anything
 * else, in_alone. */
static nb_status gn_instance(imp *m, const Onnx__NodeProto *n, size_t i)
{
    imp_val *v = value_in(m, n, 0);
    if (!v || strcmp(v->op, "gn_view"))
        return v ? in_alone(m, n, v) : NB_ERR_ARG;
    const imp_val *x = &m->vals[v->src];
    float eps;
    if (gn_instance_checks(m, n, v, &eps))
        return NB_ERR_ARG;
    int back = chain_next(m, i, "Reshape");
    if (back < 0 || !gn_back(m, (int)i, back, x))
        return m->err->status ? NB_ERR_ARG :
               refuse(m, n, "is not followed by a Reshape back to the shape of '%s' alone",
                      x->onnx);
    /* γ and β: a Mul and then an Add by constants, each fused only when
     * its other input is a constant (a residual Add stays an Add). */
    Onnx__NodeProto *const *nd = m->g->node;
    int mul = chain_next(m, (size_t)back, "Mul"), add = mul >= 0 ? chain_next(m, (size_t)mul, "Add") : -1;
    nb_shape gv, bv;
    const Onnx__TensorProto *gt = mul >= 0 ? gn_operand(m, i, (size_t)mul, nd[back]->output[0], &gv) : NULL;
    const Onnx__TensorProto *bt = gt && add >= 0 ? gn_operand(m, i, (size_t)add, nd[mul]->output[0], &bv) : NULL;
    if (m->err->status)
        return NB_ERR_ARG;
    mul = gt ? mul : -1, add = gt && bt ? add : -1;
    int last = add >= 0 ? add : mul >= 0 ? mul : back;
    float *gamma = NULL, *beta = NULL;
    float g1 = NAN, b1 = NAN;
    if (mul >= 0 && !(gamma = gn_channels(m, nd[mul], gt, &gv, x, "γ (the Mul)", &g1)))
        return NB_ERR_ARG;
    if (add >= 0 && !(beta = gn_channels(m, nd[add], bt, &bv, x, "β (the Add)", &b1))) {
        nb_free(gamma);
        return NB_ERR_ARG;
    }
    if (g1 == 1.0f && (add < 0 || b1 == 0.0f)) { /* PyTorch's affine=False */
        nb_free(gamma), nb_free(beta);
        gamma = beta = NULL;
    }
    int64_t c = x->shape.dim[1];
    if (gamma && !beta && !(beta = nb_calloc((size_t)c, sizeof *beta))) {
        nb_free(gamma);
        return nb_error_set(m->err, NB_ERR_NOMEM, "ONNX: out of memory");
    }
    m->done[back] = true;
    if (mul >= 0)
        m->done[mul] = true;
    if (add >= 0)
        m->done[add] = true;
    char name[IMP_NAME + 8];
    fresh_name(m, n->name, "groupnorm", name);
    emit(m, "  - {name: %s, op: groupnorm, inputs: [%s], groups: %lld, eps: %.9g%s}\n", name,
         x->nb, (long long)v->shape.dim[1], (double)eps, gamma ? "" : ", affine: false");
    if (gamma) {
        add_param(m, name, "gamma", NB_SHAPE(c), gamma);
        add_param(m, name, "beta", NB_SHAPE(c), beta);
    }
    return define(m, m->g->node[last], name, x->shape, "groupnorm", x) ? NB_OK : NB_ERR_NOMEM;
}

static nb_status node(imp *m, const Onnx__NodeProto *n, size_t i)
{
    const char *op = str(n->op_type);
    if (*str(n->domain) && strcmp(n->domain, "ai.onnx") != 0)
        return refuse(m, n, "the operator domain '%s' is not ONNX's own", n->domain);
    if (n->n_output < 1 || !*str(n->output[0]))
        return refuse(m, n, "no output");
    for (size_t o = 0; o < n->n_output; o++)
        if (*str(n->output[o]) && find(m, n->output[o]))
            return refuse(m, n, "defines '%s' a second time", n->output[o]);
    for (size_t k = 0; k < n->n_input; k++)
        if (*str(n->input[k]) && !find(m, n->input[k]))
            return refuse(m, n, "reads '%s', which no earlier node, graph input or initialiser "
                          "defines (an undefined value, or a cycle)", n->input[k]);
    if (m->n_vals >= IMP_MAX_VALUES)
        return refuse(m, n, "more than %d values", IMP_MAX_VALUES);
    if (arity(m, n) != NB_OK || attr_check(m, n) != NB_OK)
        return NB_ERR_ARG;
    if (!strcmp(op, "Gemm"))
        return op_gemm(m, n);
    if (!strcmp(op, "MatMul"))
        return op_matmul(m, n, i);
    if (!strcmp(op, "Conv"))
        return op_conv(m, n);
    if (!strcmp(op, "ConvTranspose"))
        return op_conv_transpose(m, n);
    if (!strcmp(op, "MaxPool") || !strcmp(op, "AveragePool"))
        return op_pool(m, n, op[0] == 'M');
    if (!strcmp(op, "GlobalAveragePool") || !strcmp(op, "GlobalMaxPool"))
        return op_global_pool(m, n, op[6] == 'M');
    if (!strcmp(op, "Relu"))
        return op_unary(m, n, "relu");
    if (!strcmp(op, "LeakyRelu"))
        return op_alpha(m, n, "leaky_relu", 0.01f);
    if (!strcmp(op, "Elu"))
        return op_alpha(m, n, "elu", 1.0f);
    if (!strcmp(op, "Softplus"))
        return op_unary(m, n, "softplus");
    if (!strcmp(op, "Erf"))
        return op_unary(m, n, "erf");
    if (!strcmp(op, "Sigmoid"))
        return op_unary(m, n, "sigmoid");
    if (!strcmp(op, "Tanh"))
        return op_unary(m, n, "tanh");
    if (!strcmp(op, "Softmax"))
        return op_unary(m, n, "softmax");
    if (!strcmp(op, "Reshape") && chain_next(m, i, "InstanceNormalization") >= 0)
        return gn_view(m, n);
    if (!strcmp(op, "InstanceNormalization"))
        return gn_instance(m, n, i);
    if (!strcmp(op, "Flatten") || !strcmp(op, "Reshape"))
        return op_reshape(m, n, op[0] == 'F');
    if (!strcmp(op, "BatchNormalization"))
        return op_batchnorm(m, n);
    if (!strcmp(op, "Dropout") || !strcmp(op, "Identity"))
        return op_identity(m, n, op[0] == 'D');
    if (!strcmp(op, "Concat"))
        return op_join(m, n);
    if (!strcmp(op, "Div")) {
        nb_status st;
        return gelu_at(m, n, i, &st) ? st : op_arith(m, n, "div");
    }
    if (!strcmp(op, "Add") || !strcmp(op, "Sub") || !strcmp(op, "Mul"))
        return op_arith(m, n, op[0] == 'A' ? "add" : op[0] == 'S' ? "sub" : "mul");
    if (!strcmp(op, "Constant"))
        return op_constant(m, n);
    if (!strcmp(op, "Pad"))
        return op_pad(m, n);
    return refuse(m, n, "the operator is not one nabla imports (Gemm, MatMul, Add, Sub, Mul, "
                  "Div, Conv, ConvTranspose, MaxPool, AveragePool, GlobalAveragePool, "
                  "GlobalMaxPool, BatchNormalization, Relu, LeakyRelu, Elu, Softplus, Erf, "
                  "Sigmoid, Tanh, Softmax, Flatten, Reshape, Concat, Pad, Dropout, Identity, "
                  "Constant, InstanceNormalization)");
}

/* ---------------------------------------------------------------- the graph */

/* The graph's inputs that no initialiser names: float tensors whose first
 * axis is the batch and the others fixed sizes. */
static nb_status graph_inputs(imp *m)
{
    const Onnx__GraphProto *g = m->g;
    int count = 0;
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *in = g->input[i];
        const char *name = str(in->name);
        if (find(m, name))
            continue;   /* an initialiser listed as an input too (older exporters) */
        const Onnx__TypeProto *t = in->type;
        const Onnx__TensorShapeProto *sh = t && t->tensor_type ? t->tensor_type->shape : NULL;
        if (!t || !t->tensor_type || t->tensor_type->elem_type != T_FLOAT || !sh)
            return refuse(m, NULL, "the graph input '%s' is not a float32 tensor of known rank", name);
        if (sh->n_dim < 2 || sh->n_dim > NB_MAX_RANK)
            return refuse(m, NULL, "the graph input '%s' has rank %zu: nabla takes [N, …] of "
                          "rank 2 to %d", name, sh->n_dim, NB_MAX_RANK);
        if (++count > 8)
            return refuse(m, NULL, "more than 8 graph inputs");
        imp_val *v = add_val(m, name);
        if (!v)
            return NB_ERR_NOMEM;
        v->shape.rank = (int)sh->n_dim;
        int64_t numel = 1;
        for (size_t d = 0; d < sh->n_dim; d++) {
            const Onnx__TensorShapeProto__Dimension *dim = sh->dim[d];
            bool fixed = dim && dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            int64_t size = fixed ? dim->dim_value : -1;
            if (d == 0) {
                v->shape.dim[0] = 1;
                if (fixed && size >= 1)
                    m->batch = size;
                continue;
            }
            if (!fixed || size < 1 || size > IMP_MAX_NUMEL || numel * size > IMP_MAX_NUMEL)
                return refuse(m, NULL, "the graph input '%s' has axis %zu of size %s%lld (nabla "
                              "needs fixed sizes ≥ 1 after the batch, 2^31 elements at most)",
                              name, d, fixed ? "" : "unknown ", (long long)size);
            v->shape.dim[d] = size;
            numel *= size;
        }
        fresh_name(m, name, "x", v->nb);
        if (!map_put(m, &m->by_nb, (int)(v - m->vals)))
            return NB_ERR_NOMEM;
    }
    if (count == 0)
        return refuse(m, NULL, "the graph has no input besides its initialisers");
    emit(m, "input: {");
    int k = 0;
    for (int i = 0; i < m->n_vals; i++) {
        imp_val *v = &m->vals[i];
        if (!v->nb[0])
            continue;
        char buf[160];
        emit(m, "%s%s: %s", k++ ? ", " : "", v->nb,
             ints_str(v->shape.dim + 1, (size_t)(v->shape.rank - 1), buf, sizeof buf));
    }
    emit(m, "}\nnodes:\n");
    return NB_OK;
}

/* "name version" of the producer, printable ASCII only: it goes into a
 * YAML comment, where a newline would start a line of the model. */
static void safe(char *out, size_t size, const char *a, const char *b)
{
    size_t k = 0;
    char both[200];
    snprintf(both, sizeof both, "%s %s", str(a), str(b));
    for (const char *s = both; *s && k + 1 < size; s++)
        out[k++] = (*s >= 32 && *s < 127) ? *s : '?';
    out[k] = 0;
}

static nb_status translate(imp *m, const Onnx__ModelProto *model, const char *path)
{
    m->g = model->graph;
    m->batch = -1;
    m->opset = -1;
    for (size_t i = 0; i < model->n_opset_import; i++) {
        const char *d = model->opset_import[i] ? str(model->opset_import[i]->domain) : "-";
        if (!*d || !strcmp(d, "ai.onnx"))
            m->opset = model->opset_import[i]->version;
    }
    if (!m->g)
        return refuse(m, NULL, "'%s' holds no graph", path);
    if (m->opset < 0)
        return refuse(m, NULL, "'%s' declares no opset of ONNX's own operators (opset_import "
                      "of the domain \"\" or \"ai.onnx\"): which version of each operator it "
                      "means is unknown", path);
    if (m->opset < 7)
        return refuse(m, NULL, "'%s' declares ONNX opset %lld; nabla imports opset 7 and later",
                      path, (long long)m->opset);
    const Onnx__GraphProto *g = m->g;
    if (g->n_node > IMP_MAX_VALUES || g->n_initializer > IMP_MAX_VALUES)
        return refuse(m, NULL, "'%s' has more than %d nodes or initialisers", path, IMP_MAX_VALUES);
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        nb_shape s;
        if (!*str(t->name) || find(m, t->name))
            return refuse(m, NULL, "the initialiser '%s' is unnamed or named twice", str(t->name));
        if (tensor_shape(m, NULL, t, &s) != NB_OK)
            return NB_ERR_ARG;
        imp_val *v = add_val(m, t->name);
        if (!v)
            return NB_ERR_NOMEM;
        v->t = t;
        v->shape = s;
    }
    char who[96];
    safe(who, sizeof who, model->producer_name, model->producer_version);
    emit(m, "# Imported by nabla import from an ONNX file (producer: %s; opset %lld).\n"
         "nabla: 1\nname: imported\n", who, (long long)m->opset);
    nb_status st = graph_inputs(m);
    if (st == NB_OK)
        st = count_readers(m);
    if (st != NB_OK)
        return st;
    m->done = nb_calloc(g->n_node + 1, sizeof *m->done);
    if (!m->done)
        return oom(m, "the list of nodes");
    for (size_t i = 0; i < g->n_node; i++) {
        if (!g->node[i])
            return refuse(m, NULL, "node %zu is empty", i);
        if (m->done[i])
            continue;
        st = node(m, g->node[i], i);
        if (st != NB_OK)   /* the status said with the message (a reader out of memory) */
            return m->err->status != NB_OK ? m->err->status : st;
    }
    if (g->n_output != 1)
        return refuse(m, NULL, "the graph has %zu outputs; nabla imports one", g->n_output);
    const char *out = str(g->output[0]->name);
    imp_val *o = find(m, out);
    if (!o || !o->nb[0] || o->op[0] == 0)
        return refuse(m, NULL, "the graph output '%s' is %s", out,
                      !o ? "not defined by any node" : "not computed by a node");
    emit(m, "output: %s\n", o->nb);
    /* The loss training would use, rewritable: the logits under a final
     * softmax, else the output when it is [N, C] of classes, else mse. */
    if (!strcmp(o->op, "softmax") && o->src >= 0 && o->shape.rank == 2)
        emit(m, "loss: {softmax_cross_entropy: {node: %s}}\n", m->vals[o->src].nb);
    else if (o->shape.rank == 2 && o->shape.dim[1] >= 2)
        emit(m, "loss: softmax_cross_entropy\n");
    else
        emit(m, "loss: mse\n");
    return m->nomem ? oom(m, "the model") : NB_OK;
}

/* ---------------------------------------------------------------- files */

static Onnx__ModelProto *read_model(const char *path, nb_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        nb_error_set(err, NB_ERR_ARG, "ONNX: cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || size > IMP_MAX_FILE || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        nb_error_set(err, NB_ERR_ARG, "ONNX: '%s' is not a regular file of at most 2 GiB", path);
        return NULL;
    }
    uint8_t *buf = nb_malloc((size_t)size + 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        nb_free(buf);
        fclose(f);
        if (buf)
            nb_error_set(err, NB_ERR_ARG, "ONNX: cannot read '%s'", path);
        else
            nb_error_set(err, NB_ERR_NOMEM, "ONNX: out of memory for the %ld bytes of '%s'", size,
                         path);
        return NULL;
    }
    fclose(f);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, (size_t)size, buf);
    nb_free(buf);
    if (!m)
        nb_error_set(err, NB_ERR_ARG, "ONNX: '%s' is not an ONNX model (not a protocol buffer "
                     "of ONNX's ModelProto, or truncated)", path);
    return m;
}

/* Builds the YAML at batch 1 and copies the imported values into its
 * parameters by name, checking that each exists with that shape and that
 * none is left at its initial values; then saves the weights file. */
static nb_status write_weights(imp *m, const char *yaml_path, const char *weights_path)
{
    nb_model_file *mf = nb_model_file_parse(m->yaml, m->len, yaml_path, m->err);
    if (!mf)
        return m->err->status;
    nb_graph *g = nb_graph_new();
    nb_model_io io = {0};
    nb_status st = g ? nb_model_file_build(g, 1, &io, mf) : NB_ERR_NOMEM;
    if (st != NB_OK)
        nb_error_set(m->err, st, "ONNX: the imported model does not build: %s",
                     g ? nb_graph_error(g) : "out of memory for the graph");
    for (int i = 0; st == NB_OK && i < m->n_params; i++) {
        imp_param *p = &m->params[i];
        nb_node *n = nb_graph_find(g, p->name);
        float *d = n ? nb_param_data(n) : NULL;
        nb_shape s = n ? nb_node_shape(n) : (nb_shape){0};
        bool same = d && s.rank == p->shape.rank;
        for (int k = 0; same && k < s.rank; k++)
            same = s.dim[k] == p->shape.dim[k];
        if (!same)
            st = nb_error_set(m->err, NB_ERR_ARG, "ONNX: the imported model has no parameter "
                              "'%s' of the shape the file gives it", p->name);
        else
            memcpy(d, p->data, (size_t)numel_of(s, 0) * sizeof *d);
    }
    if (st == NB_OK && nb_graph_num_params(g) != m->n_params)
        st = nb_error_set(m->err, NB_ERR_ARG, "ONNX: the imported model has %d parameters, the "
                          "file gives %d", nb_graph_num_params(g), m->n_params);
    if (st == NB_OK)
        st = nb_weights_save(g, weights_path, m->yaml, m->err);
    nb_graph_free(g);
    nb_model_file_free(mf);
    return st;
}

/* The text into tmp[size] ("<path>.tmp"), renamed into place by the
 * caller once the weights are written too: a model that cannot be written
 * leaves no weights behind, and weights that cannot, no model. */
static nb_status write_text(const char *path, const char *text, size_t len, char *tmp,
                            size_t size, nb_error *err)
{
    if (snprintf(tmp, size, "%s.tmp", path) >= (int)size)
        return nb_error_set(err, NB_ERR_ARG, "ONNX: the path '%s' is too long", path);
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(text, 1, len, f) == len;
    int e = errno;
    if (f && fclose(f) != 0)
        ok = false, e = errno;
    if (!ok) {
        remove(tmp);
        return nb_error_set(err, NB_ERR_ARG, "ONNX: cannot write '%s': %s", path, strerror(e));
    }
    return NB_OK;
}

nb_status nb_onnx_import(const char *onnx_path, const char *yaml_path, const char *weights_path,
                         nb_error *err)
{
    if (!onnx_path || !yaml_path || !weights_path)
        return nb_error_set(err, NB_ERR_ARG, "nb_onnx_import: a path is NULL");
    nb_error local = {0};
    if (!err)
        err = &local;
    Onnx__ModelProto *model = read_model(onnx_path, err);
    if (!model)
        return err->status;
    imp m = {.err = err, .by_onnx = {.key = key_onnx}, .by_nb = {.key = key_nb},
             .by_reader = {.key = key_reader}};
    nb_status st = translate(&m, model, onnx_path);
    char tmp[4200];
    if (st == NB_OK)
        st = write_text(yaml_path, m.yaml, m.len, tmp, sizeof tmp, err);
    if (st == NB_OK) {
        st = write_weights(&m, yaml_path, weights_path);
        if (st == NB_OK && rename(tmp, yaml_path) != 0) {
            st = nb_error_set(err, NB_ERR_ARG, "ONNX: cannot write '%s': %s", yaml_path,
                              strerror(errno));
            remove(weights_path);
        }
        if (st != NB_OK)
            remove(tmp);
    }
    for (int i = 0; i < m.n_params; i++)
        nb_free(m.params[i].data);
    nb_free(m.params);
    nb_free(m.vals);
    nb_free(m.yaml);
    nb_free(m.done);
    nb_free(m.by_onnx.slot);
    nb_free(m.by_nb.slot);
    nb_free(m.by_reader.slot);
    nb_free(m.readers);
    onnx__model_proto__free_unpacked(model, NULL);
    return st;
}
