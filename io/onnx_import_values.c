/*
 * onnx_import_values.c — the ONNX importer's tables: every ONNX value and
 * the nabla node computing it, found by either name in constant time; the
 * nodes reading each name; the parameters to be written; the YAML text;
 * and the refusals, which name the node and the operator.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "nabla.h"
#include "onnx_import_internal.h"

/* ---------------------------------------------------------------- text and refusals */

/* Memory ran out for `what`: noted, and said in err unless something was
 * said already; NB_ERR_NOMEM. */
nb_status nb__oi_oom(nb__oi *m, const char *what)
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
void nb__oi_emit(nb__oi *m, const char *fmt, ...)
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
            nb__oi_oom(m, "the model's text");
            return;
        }
        m->yaml = y, m->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(m->yaml + m->len, m->cap - m->len, fmt, ap);
    va_end(ap);
    m->len += (size_t)n;
}

/* "[1,2,3]" of up to rank ints, into buf. */
const char *nb__oi_ints_str(const int64_t *v, size_t n, char *buf, size_t size)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, size - k, "[");
    for (size_t i = 0; i < n && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, "%s%lld", i ? "," : "", (long long)v[i]);
    if (k < size)
        snprintf(buf + k, size - k, "]");
    return buf;
}

/* "ONNX node 'Conv_3' (Conv): …" into err; returns NB_ERR_ARG. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
nb_status nb__oi_refuse(nb__oi *m, const Onnx__NodeProto *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n)
        return nb_error_set(m->err, NB_ERR_ARG, "ONNX node '%s' (%s): %s", nb__oi_str(n->name),
                            nb__oi_str(n->op_type), msg);
    return nb_error_set(m->err, NB_ERR_ARG, "ONNX: %s", msg);
}

/* ---------------------------------------------------------------- names */

static size_t hash(const char *s)
{
    uint64_t h = 14695981039346656037u;   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211u;
    return (size_t)h;
}

/* The slot of name s: where it is, or the empty one where it would go. */
static int *map_slot(const nb__oi *m, const nb__oi_map *h, const char *s)
{
    size_t i = hash(s) & (h->cap - 1);
    while (h->slot[i] && strcmp(h->key(m, h->slot[i] - 1), s) != 0)
        i = (i + 1) & (h->cap - 1);
    return &h->slot[i];
}

/* The index named s, or -1. */
static int map_get(const nb__oi *m, const nb__oi_map *h, const char *s)
{
    return h->cap ? *map_slot(m, h, s) - 1 : -1;
}

/* Index i under its name (replacing what had that name); false when out of
 * memory. */
bool nb__oi_map_put(nb__oi *m, nb__oi_map *h, int i)
{
    if ((h->count + 1) * 2 > h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 256, old_cap = h->cap;
        int *old = h->slot, *slot = nb_calloc(cap, sizeof *slot);
        if (!slot) {
            nb__oi_oom(m, "the table of names");
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

nb__oi_val *nb__oi_find(nb__oi *m, const char *onnx)
{
    int i = map_get(m, &m->by_onnx, onnx);
    return i >= 0 ? &m->vals[i] : NULL;
}

static bool nb_name_used(nb__oi *m, const char *nb)
{
    return strcmp(nb, "y") == 0 || map_get(m, &m->by_nb, nb) >= 0;
}

/* A nabla name from an ONNX one: letters, digits, '_', '-', '.', starting
 * with a letter, unique among the model's nodes and inputs. */
void nb__oi_fresh_name(nb__oi *m, const char *onnx, const char *fallback, char *out)
{
    char base[NB__OI_NAME + 1];
    size_t k = 0;
    const char *s = onnx && *onnx ? onnx : fallback;
    for (; *s && k < NB__OI_NAME; s++) {
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
    char cand[NB__OI_NAME + 8];   /* out may be a value's own name, empty until chosen */
    strcpy(cand, base);
    /* The suffix only grows: 20000 nodes wanting one name try 20000
     * names in all, not 20000 each. */
    while (nb_name_used(m, cand))
        snprintf(cand, sizeof cand, "%.40s_%d", base, ++m->suffix);
    strcpy(out, cand);
}

/* A new value at the end of vals, in no table yet. */
static nb__oi_val *push_val(nb__oi *m, const char *onnx)
{
    if (m->n_vals == m->cap_vals) {
        int cap = m->cap_vals ? m->cap_vals * 2 : 64;
        nb__oi_val *v = nb_realloc(m->vals, (size_t)cap * sizeof *v);
        if (!v) {
            nb__oi_oom(m, "the table of values");
            return NULL;
        }
        m->vals = v, m->cap_vals = cap;
    }
    nb__oi_val *v = &m->vals[m->n_vals++];
    memset(v, 0, sizeof *v);
    v->onnx = nb__oi_str(onnx);
    v->op = "";
    v->src = -1;
    return v;
}

nb__oi_val *nb__oi_add_val(nb__oi *m, const char *onnx)
{
    nb__oi_val *v = push_val(m, onnx);
    if (v && !nb__oi_map_put(m, &m->by_onnx, m->n_vals - 1)) {
        m->n_vals--;
        return NULL;
    }
    return v;
}

/* Registers a nabla node the import makes between ONNX values (a pool
 * before its reshape), so nb__oi_fresh_name never reuses its name; no ONNX name
 * leads to it. May move vals. */
bool nb__oi_reserve(nb__oi *m, const char *nb)
{
    nb__oi_val *v = push_val(m, "");
    if (!v)
        return false;
    snprintf(v->nb, sizeof v->nb, "%s", nb);
    if (!nb__oi_map_put(m, &m->by_nb, m->n_vals - 1)) {
        m->n_vals--;
        return false;
    }
    return true;
}

nb__oi_param *nb__oi_add_param(nb__oi *m, const char *node, const char *name, nb_shape s,
                               float *data)
{
    if (m->n_params == m->cap_params) {
        int cap = m->cap_params ? m->cap_params * 2 : 16;
        nb__oi_param *p = nb_realloc(m->params, (size_t)cap * sizeof *p);
        if (!p) {
            nb__oi_oom(m, "the list of parameters");
            nb_free(data);
            return NULL;
        }
        m->params = p, m->cap_params = cap;
    }
    nb__oi_param *p = &m->params[m->n_params++];
    if (name)
        snprintf(p->name, sizeof p->name, "%s/%s", node, name);
    else   /* a param node: the parameter is the node */
        snprintf(p->name, sizeof p->name, "%s", node);
    p->shape = s;
    p->data = data;
    return p;
}

/* Defines the node's first output as nabla node `name` of shape s. */
nb__oi_val *nb__oi_define(nb__oi *m, const Onnx__NodeProto *n, const char *name, nb_shape s,
                          const char *op, const nb__oi_val *src)
{
    int src_i = src ? (int)(src - m->vals) : -1;
    nb__oi_val *v = nb__oi_add_val(m, n->output[0]);
    if (!v)
        return NULL;
    snprintf(v->nb, sizeof v->nb, "%s", name);
    v->shape = s;
    v->op = op;
    v->src = src_i;
    return nb__oi_map_put(m, &m->by_nb, (int)(v - m->vals)) ? v : NULL;
}

/* ---------------------------------------------------------------- readers */

/* The only node reading `value` after node i, or -1 when there are none or
 * several (or it is a graph output). */
int nb__oi_sole_reader(nb__oi *m, size_t i, const char *value)
{
    int r = map_get(m, &m->by_reader, value);
    if (r < 0 || m->readers[r].output || m->readers[r].count != 1 || m->readers[r].node <= (int)i)
        return -1;
    return m->readers[r].node;
}

/* Counts the readers of each name the nodes read, and marks the graph's
 * outputs, for nb__oi_sole_reader. */
nb_status nb__oi_count_readers(nb__oi *m)
{
    const Onnx__GraphProto *g = m->g;
    for (size_t j = 0; j < g->n_node; j++)
        for (size_t k = 0; g->node[j] && k < g->node[j]->n_input; k++) {
            const char *name = nb__oi_str(g->node[j]->input[k]);
            int r = map_get(m, &m->by_reader, name);
            if (r >= 0) {
                m->readers[r].count++;
                continue;
            }
            if ((m->n_readers & (m->n_readers - 1)) == 0) {   /* 0, 1, 2, 4…: full */
                size_t cap = (size_t)(m->n_readers ? 2 * m->n_readers : 1);
                nb__oi_reader *p = nb_realloc(m->readers, cap * sizeof *p);
                if (!p)
                    return nb__oi_oom(m, "the readers of each name");
                m->readers = p;
            }
            m->readers[m->n_readers] = (nb__oi_reader){name, 1, (int)j, false};
            if (!nb__oi_map_put(m, &m->by_reader, m->n_readers++))
                return nb__oi_oom(m, "the readers of each name");
        }
    for (size_t o = 0; o < g->n_output; o++) {
        int r = g->output[o] ? map_get(m, &m->by_reader, nb__oi_str(g->output[o]->name)) : -1;
        if (r >= 0)
            m->readers[r].output = true;
    }
    return NB_OK;
}

/* ---------------------------------------------------------------- life */

static const char *key_onnx(const nb__oi *m, int i) { return m->vals[i].onnx; }
static const char *key_nb(const nb__oi *m, int i) { return m->vals[i].nb; }
static const char *key_reader(const nb__oi *m, int i) { return m->readers[i].name; }

/* An empty importer that says what goes wrong in err. */
void nb__oi_init(nb__oi *m, nb_error *err)
{
    *m = (nb__oi){.err = err, .by_onnx = {.key = key_onnx}, .by_nb = {.key = key_nb},
                  .by_reader = {.key = key_reader}};
}

void nb__oi_free(nb__oi *m)
{
    for (int i = 0; i < m->n_params; i++)
        nb_free(m->params[i].data);
    nb_free(m->params);
    nb_free(m->vals);
    nb_free(m->yaml);
    nb_free(m->done);
    nb_free(m->by_onnx.slot);
    nb_free(m->by_nb.slot);
    nb_free(m->by_reader.slot);
    nb_free(m->readers);
}
