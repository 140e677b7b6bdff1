/*
 * yaml_model.c — model files: YAML text → the description in io_internal.h
 * (the grammar is docs/model-format.md).
 *
 * Two passes. libyaml's event parser first builds a small tree of scalars,
 * lists and mappings, each with its line and column, and refuses what a
 * model file never needs and a hostile file could abuse: anchors and
 * aliases (no expansion, so no "billion laughs"), explicit tags
 * (`!!python/object` and friends), nesting deeper than 32, more than
 * 100000 values, a second document, duplicate keys. The text is at most
 * 1 MiB. Then the tree is read against the grammar: every key must be
 * known where it stands (else "did you mean"), every value of the right
 * type and range, names unique, a node may read only inputs and nodes
 * above it. Last, the model is built once at batch 2 into a scratch graph
 * whose allocator stops at a budget: that checks the shapes fit, with the
 * failing layer's line, and measures the targets' width.
 *
 * Every message reads "file:line:column: what", lines and columns 1-based.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "io_internal.h"

#define MAX_UNITS ((int64_t)1 << 24)   /* units, filters, groups */
#define MAX_WINDOW ((int64_t)1 << 12)  /* kernel, stride, padding, dilation, pool size */
#define MAX_INDEX ((int64_t)1 << 40)   /* slice bounds and steps */
#define MAX_NUMEL ((int64_t)1 << 31)   /* elements of one example or constant */
#define PROBE_BYTES ((size_t)2 << 30)  /* memory the probe build may take */
/* The probe's batch: 2, not 1, so a shape that only fits because a batch
 * of one broadcasts against anything is refused when the file is read. */
#define PROBE_BATCH 2

/* ================================================================ the parse state */

typedef struct pctx {
    nb_model_file *m;
    nb_error *err;
    bool failed;
} pctx;

/* Records "file:line:col: message" (no position when line is 0) unless an
 * error is already recorded; returns false so callers can `return fail…`. */
static bool vfail(pctx *c, nb_status st, int line, int col, const char *fmt, va_list ap)
{
    if (c->failed)
        return false;
    c->failed = true;
    if (!c->err)
        return false;
    c->err->status = st;
    char *msg = c->err->message;
    size_t size = sizeof c->err->message;
    const char *file = c->m && c->m->file ? c->m->file : "model";
    int k = line > 0 ? snprintf(msg, size, "%s:%d:%d: ", file, line, col)
                     : snprintf(msg, size, "%s: ", file);
    if (k >= 0 && (size_t)k < size)
        vsnprintf(msg + k, size - (size_t)k, fmt, ap);
    return false;
}

#if defined(__GNUC__)
#define PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define PRINTF(a, b)
#endif

PRINTF(5, 6) static bool fail_at(pctx *c, nb_status st, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, st, line, col, fmt, ap);
    va_end(ap);
    return false;
}

/* ---------------------------------------------------------------- the pool */

/* A zeroed block owned by the model file (freed by nb_model_file_free). */
static void *pool_add(pctx *c, size_t size)
{
    nb_model_file *m = c->m;
    if (m->n_pool == m->cap_pool) {
        int cap = m->cap_pool ? 2 * m->cap_pool : 64;
        void **p = realloc(m->pool, (size_t)cap * sizeof *p);
        if (!p)
            return fail_at(c, NB_ERR_NOMEM, 0, 0, "out of memory"), NULL;
        m->pool = p;
        m->cap_pool = cap;
    }
    void *p = calloc(1, size ? size : 1);
    if (!p)
        return fail_at(c, NB_ERR_NOMEM, 0, 0, "out of memory"), NULL;
    m->pool[m->n_pool++] = p;
    return p;
}

static char *pool_str(pctx *c, const char *s)
{
    size_t n = strlen(s);
    char *p = pool_add(c, n + 1);
    if (p)
        memcpy(p, s, n + 1);
    return p;
}

/* ================================================================ did you mean */

/* Levenshtein distance; long strings are never "close". */
static int distance(const char *a, const char *b)
{
    size_t n = strlen(a), k = strlen(b);
    if (n > 63 || k > 63)
        return 99;
    int row[64];
    for (size_t j = 0; j <= k; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        int prev = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= k; j++) {
            int cur = row[j], sub = prev + (a[i - 1] != b[j - 1]);
            int best = row[j] + 1 < row[j - 1] + 1 ? row[j] + 1 : row[j - 1] + 1;
            row[j] = sub < best ? sub : best;
            prev = cur;
        }
    }
    return row[k];
}

/* How close cand is to bad: the distance when ≤ 2, 3 for a shared prefix
 * (one a prefix of the other, ≥ 3 letters, or ≥ 4 letters in common),
 * else -1. */
static int closeness(const char *bad, const char *cand)
{
    int d = distance(bad, cand);
    if (d <= 2 && d < (int)strlen(cand))
        return d;
    size_t p = 0;
    while (bad[p] && bad[p] == cand[p])
        p++;
    if ((p >= 3 && (!bad[p] || !cand[p])) || p >= 4)
        return 3;
    return -1;
}

/* The closest of the NULL-terminated lists a and b (b may be NULL), or NULL. */
static const char *closest(const char *bad, const char *const *a, const char *const *b)
{
    const char *best = NULL;
    int score = 99;
    for (int l = 0; l < 2; l++)
        for (const char *const *p = l ? b : a; p && *p; p++) {
            int s = closeness(bad, *p);
            if (s >= 0 && s < score)
                score = s, best = *p;
        }
    return best;
}

/* Appends ", a, b" for the names of a NULL-terminated list to buf at *k. */
static void list_names(const char *const *names, char *buf, size_t size, size_t *k)
{
    for (const char *const *p = names; p && *p && *k < size; p++)
        *k += (size_t)snprintf(buf + *k, size - *k, "%s%s", *k ? ", " : "", *p);
}

/* "; did you mean 'x'?" or, with nothing close, " (one of: a, b, c)". */
static const char *hint(const char *bad, const char *const *a, const char *const *b, char *buf,
                        size_t size)
{
    const char *best = closest(bad, a, b);
    if (best) {
        snprintf(buf, size, "; did you mean '%s'?", best);
        return buf;
    }
    char names[240];
    size_t k = 0;
    names[0] = '\0';
    list_names(a, names, sizeof names, &k);
    list_names(b, names, sizeof names, &k);
    snprintf(buf, size, k ? " (one of: %s)" : " (it takes no keys)", names);
    return buf;
}

/* ================================================================ the YAML tree */

typedef enum yv_kind { YV_SCALAR, YV_SEQ, YV_MAP } yv_kind;

/* One YAML value. A mapping keeps keys and values interleaved in kid
 * (kid[2i] a scalar key, kid[2i + 1] its value). */
typedef struct yv {
    yv_kind kind;
    bool plain;      /* a scalar written without quotes */
    int line, col;   /* 1-based */
    char *s;         /* scalar text */
    int n, cap;
    struct yv **kid;
} yv;

#define KEY(map, i) ((map)->kid[2 * (i)])
#define VAL(map, i) ((map)->kid[2 * (i) + 1])

static void yv_free(yv *v)
{
    if (!v)
        return;
    for (int i = 0; i < v->n; i++)
        yv_free(v->kid[i]);
    free(v->kid);
    free(v->s);
    free(v);
}

static int pairs(const yv *map)
{
    return map->n / 2;
}

/* The value of key in a mapping, or NULL. */
static const yv *get(const yv *map, const char *key)
{
    if (!map || map->kind != YV_MAP)
        return NULL;
    for (int i = 0; i < pairs(map); i++)
        if (!strcmp(KEY(map, i)->s, key))
            return VAL(map, i);
    return NULL;
}

/* The key node of key in a mapping (for its position), or NULL. */
static const yv *key_of(const yv *map, const char *key)
{
    for (int i = 0; map && map->kind == YV_MAP && i < pairs(map); i++)
        if (!strcmp(KEY(map, i)->s, key))
            return KEY(map, i);
    return NULL;
}

/* YAML's null: ~, null, or nothing at all, unquoted. */
static bool is_null(const yv *v)
{
    return !v || (v->kind == YV_SCALAR && v->plain &&
                  (!*v->s || !strcmp(v->s, "~") || !strcmp(v->s, "null") ||
                   !strcmp(v->s, "Null") || !strcmp(v->s, "NULL")));
}

/* ---------------------------------------------------------------- reading events */

typedef struct reader {
    pctx *c;
    yv *stack[NB__YAML_MAX_DEPTH];
    int depth;
    yv *root;
    long values;
    int docs;
} reader;

/* Refuses an anchor or an explicit tag on a value. */
static bool plain_props(reader *r, int line, int col, const yaml_char_t *anchor,
                        const yaml_char_t *tag)
{
    static const char core[] = "tag:yaml.org,2002:";
    if (anchor)
        return fail_at(r->c, NB_ERR_ARG, line, col,
                       "anchor '&%.40s' is not allowed: model files take no anchors or aliases; "
                       "write the value out", (const char *)anchor);
    if (tag) {
        const char *t = (const char *)tag;
        bool short_form = !strncmp(t, core, sizeof core - 1);
        return fail_at(r->c, NB_ERR_ARG, line, col,
                       "YAML tag '%s%.60s' is not allowed: model files take plain values only",
                       short_form ? "!!" : "", short_form ? t + sizeof core - 1 : t);
    }
    return true;
}

/* Appends v to the open collection (or makes it the root). A mapping's key
 * must be a scalar and new in that mapping. Takes ownership of v. */
static bool attach(reader *r, yv *v)
{
    if (r->depth == 0) {
        r->root = v;
        return true;
    }
    yv *p = r->stack[r->depth - 1];
    if (p->kind == YV_MAP && p->n % 2 == 0) {
        const char *bad = v->kind != YV_SCALAR ? "keys must be plain words, not lists or mappings"
                          : pairs(p) >= NB__YAML_MAX_KEYS ? "a mapping has more than 256 keys"
                                                          : NULL;
        for (int i = 0; !bad && i < p->n; i += 2)
            if (!strcmp(p->kid[i]->s, v->s)) {
                fail_at(r->c, NB_ERR_ARG, v->line, v->col,
                        "key '%.60s' appears twice in this mapping (first at line %d)", v->s,
                        p->kid[i]->line);
                yv_free(v);
                return false;
            }
        if (bad) {
            fail_at(r->c, NB_ERR_ARG, v->line, v->col, "%s", bad);
            yv_free(v);
            return false;
        }
    }
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 8;
        yv **k = realloc(p->kid, (size_t)cap * sizeof *k);
        if (!k) {
            yv_free(v);
            return fail_at(r->c, NB_ERR_NOMEM, 0, 0, "out of memory");
        }
        p->kid = k;
        p->cap = cap;
    }
    p->kid[p->n++] = v;
    return true;
}

/* A new value at the event's position, counted against the bound. */
static yv *value_new(reader *r, yv_kind kind, int line, int col)
{
    if (++r->values > NB__YAML_MAX_VALUES)
        return fail_at(r->c, NB_ERR_ARG, line, col, "the file holds more than %d values",
                       NB__YAML_MAX_VALUES), NULL;
    yv *v = calloc(1, sizeof *v);
    if (!v)
        return fail_at(r->c, NB_ERR_NOMEM, 0, 0, "out of memory"), NULL;
    *v = (yv){.kind = kind, .line = line, .col = col};
    return v;
}

static bool on_scalar(reader *r, const yaml_event_t *e, int line, int col)
{
    const char *s = (const char *)e->data.scalar.value;
    size_t len = e->data.scalar.length;
    if (!plain_props(r, line, col, e->data.scalar.anchor, e->data.scalar.tag))
        return false;
    if (memchr(s, '\0', len))
        return fail_at(r->c, NB_ERR_ARG, line, col, "a value holds a NUL character");
    yv *v = value_new(r, YV_SCALAR, line, col);
    if (!v)
        return false;
    v->plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    v->s = malloc(len + 1);
    if (!v->s) {
        yv_free(v);
        return fail_at(r->c, NB_ERR_NOMEM, 0, 0, "out of memory");
    }
    memcpy(v->s, s, len);
    v->s[len] = '\0';
    return attach(r, v);
}

static bool on_open(reader *r, yv_kind kind, const yaml_char_t *anchor, const yaml_char_t *tag,
                    int line, int col)
{
    if (!plain_props(r, line, col, anchor, tag))
        return false;
    if (r->depth == NB__YAML_MAX_DEPTH)
        return fail_at(r->c, NB_ERR_ARG, line, col, "lists and mappings nest deeper than %d levels",
                       NB__YAML_MAX_DEPTH);
    yv *v = value_new(r, kind, line, col);
    if (!v || !attach(r, v))
        return false;
    r->stack[r->depth++] = v;
    return true;
}

static bool on_event(reader *r, const yaml_event_t *e)
{
    int line = (int)e->start_mark.line + 1, col = (int)e->start_mark.column + 1;
    switch (e->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++r->docs > 1)
            return fail_at(r->c, NB_ERR_ARG, line, col,
                           "a second YAML document: a model file holds exactly one");
        return true;
    case YAML_ALIAS_EVENT:
        return fail_at(r->c, NB_ERR_ARG, line, col,
                       "alias '*%.40s' is not allowed: model files take no anchors or aliases; "
                       "write the value out", (const char *)e->data.alias.anchor);
    case YAML_SCALAR_EVENT:
        return on_scalar(r, e, line, col);
    case YAML_SEQUENCE_START_EVENT:
        return on_open(r, YV_SEQ, e->data.sequence_start.anchor, e->data.sequence_start.tag, line,
                       col);
    case YAML_MAPPING_START_EVENT:
        return on_open(r, YV_MAP, e->data.mapping_start.anchor, e->data.mapping_start.tag, line,
                       col);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        r->depth--;
        return true;
    default:
        return true;
    }
}

/* libyaml's own complaint, positioned. The reader (encoding, control
 * characters) gives a byte offset rather than a line: counted here. */
static bool syntax_error(pctx *c, const yaml_parser_t *p, const char *text, size_t len)
{
    if (p->error == YAML_MEMORY_ERROR)
        return fail_at(c, NB_ERR_NOMEM, 0, 0, "out of memory reading YAML");
    const char *problem = p->problem ? p->problem : "unreadable";
    if (p->error == YAML_READER_ERROR) {
        int line = 1, col = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++, col++)
            if (text[i] == '\n')
                line++, col = 0;
        return fail_at(c, NB_ERR_ARG, line, col, "not valid YAML: %s", problem);
    }
    if (p->context)
        return fail_at(c, NB_ERR_ARG, (int)p->problem_mark.line + 1,
                       (int)p->problem_mark.column + 1, "not valid YAML: %s %s (from line %d)",
                       problem, p->context, (int)p->context_mark.line + 1);
    return fail_at(c, NB_ERR_ARG, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
                   "not valid YAML: %s", problem);
}

/* The tree of text[0..len), or NULL (with the error recorded; an empty
 * document is NULL without an error). */
static yv *read_tree(pctx *c, const char *text, size_t len)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return fail_at(c, NB_ERR_NOMEM, 0, 0, "out of memory"), NULL;
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    reader r = {.c = c};
    bool done = false;
    while (!done && !c->failed) {
        yaml_event_t e;
        if (!yaml_parser_parse(&p, &e)) {
            syntax_error(c, &p, text, len);
            break;
        }
        on_event(&r, &e);
        done = e.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&p);
    if (c->failed) {
        yv_free(r.root);
        return NULL;
    }
    return r.root;
}

/* ================================================================ values */

/* How a value that has the wrong type reads in a message. */
static const char *got(const yv *v, char *buf, size_t size)
{
    if (v->kind == YV_SEQ)
        return "a list";
    if (v->kind == YV_MAP)
        return "a mapping";
    if (is_null(v))
        return "nothing";
    snprintf(buf, size, v->plain ? "'%.40s'" : "the quoted string \"%.40s\"", v->s);
    return buf;
}

static bool type_error(pctx *c, const yv *v, const char *key, const char *where,
                       const char *expected)
{
    char b[80];
    return fail_at(c, NB_ERR_ARG, v->line, v->col, "key '%s' %s: expected %s, got %s", key, where,
                   expected, got(v, b, sizeof b));
}

static bool scalar_int(const yv *v, int64_t *out)
{
    if (v->kind != YV_SCALAR || !v->plain)
        return false;
    const char *s = v->s + (v->s[0] == '-' || v->s[0] == '+');
    if (!isdigit((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    long long x = strtoll(v->s, &end, 10);
    if (errno || *end)
        return false;
    *out = x;
    return true;
}

/* An integer in [lo, hi]. */
static bool to_int(pctx *c, const yv *v, const char *key, const char *where, int64_t lo,
                   int64_t hi, int64_t *out)
{
    int64_t x;
    if (!scalar_int(v, &x))
        return type_error(c, v, key, where, "an integer");
    if (x >= lo && x <= hi) {
        *out = x;
        return true;
    }
    if (hi >= MAX_INDEX)
        return fail_at(c, NB_ERR_ARG, v->line, v->col, "key '%s' %s: %lld is out of range; it must "
                       "be >= %lld", key, where, (long long)x, (long long)lo);
    return fail_at(c, NB_ERR_ARG, v->line, v->col, "key '%s' %s: %lld is out of range; it must be "
                   "between %lld and %lld", key, where, (long long)x, (long long)lo, (long long)hi);
}

typedef enum frange { R_ANY, R_POS, R_NONNEG, R_UNIT_CO, R_UNIT_OO, R_UNIT_OC, R_UNIT_CC } frange;

static bool in_range(double x, frange r)
{
    switch (r) {
    case R_POS: return x > 0;
    case R_NONNEG: return x >= 0;
    case R_UNIT_CO: return x >= 0 && x < 1;
    case R_UNIT_OO: return x > 0 && x < 1;
    case R_UNIT_OC: return x > 0 && x <= 1;
    case R_UNIT_CC: return x >= 0 && x <= 1;
    default: return true;
    }
}

static const char *const range_text[] = {"finite", "> 0", ">= 0", "in [0, 1)", "in (0, 1)",
                                         "in (0, 1]", "in [0, 1]"};

/* A finite number (integers welcome) in the range. */
static bool to_float(pctx *c, const yv *v, const char *key, const char *where, frange r,
                     double *out)
{
    char *end = NULL;
    double x = 0;
    if (v->kind == YV_SCALAR && v->plain && *v->s) {
        errno = 0;
        x = strtod(v->s, &end);
    }
    if (!end || *end || errno || !isfinite(x))
        return type_error(c, v, key, where, "a number");
    if (!in_range(x, r))
        return fail_at(c, NB_ERR_ARG, v->line, v->col, "key '%s' %s: %g is out of range; it must "
                       "be %s", key, where, x, range_text[r]);
    *out = x;
    return true;
}

static bool to_bool(pctx *c, const yv *v, const char *key, const char *where, bool *out)
{
    static const char *const t[] = {"true", "True", "TRUE"}, *const f[] = {"false", "False", "FALSE"};
    for (int i = 0; v->kind == YV_SCALAR && v->plain && i < 3; i++)
        if (!strcmp(v->s, t[i]) || !strcmp(v->s, f[i])) {
            *out = !strcmp(v->s, t[i]);
            return true;
        }
    return type_error(c, v, key, where, "true or false");
}

/* A string owned by the model file. */
static bool to_str(pctx *c, const yv *v, const char *key, const char *where, const char **out)
{
    if (v->kind != YV_SCALAR || is_null(v))
        return type_error(c, v, key, where, "a string");
    return (*out = pool_str(c, v->s)) != NULL;
}

/* A node or input name: 1..63 letters, digits, '_', '-' or '.'. */
static bool to_name(pctx *c, const yv *v, const char *key, const char *where, const char **out)
{
    if (v->kind != YV_SCALAR || is_null(v))
        return type_error(c, v, key, where, "a name");
    size_t n = strlen(v->s);
    bool ok = n > 0 && n < NB__YAML_NAME_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)v->s[i]) || strchr("_-.", v->s[i]);
    if (!ok)
        return fail_at(c, NB_ERR_ARG, v->line, v->col, "key '%s' %s: '%.40s' is not a valid name "
                       "(1 to %d letters, digits, '_', '-' or '.')", key, where, v->s,
                       NB__YAML_NAME_MAX - 1);
    return (*out = pool_str(c, v->s)) != NULL;
}

/* The position of a word among names (a NULL-terminated list), or -1 with
 * "<what> 'x' is unknown; did you mean 'y'?" recorded. */
static int lookup(pctx *c, const yv *v, const char *what, const char *const *names)
{
    if (v->kind != YV_SCALAR || is_null(v)) {
        char b[80];
        return fail_at(c, NB_ERR_ARG, v->line, v->col, "expected %s name, got %s", what,
                       got(v, b, sizeof b)), -1;
    }
    for (int i = 0; names[i]; i++)
        if (!strcmp(v->s, names[i]))
            return i;
    char h[300];
    return fail_at(c, NB_ERR_ARG, v->line, v->col, "%s '%.60s' is unknown%s", what, v->s,
                   hint(v->s, names, NULL, h, sizeof h)), -1;
}

/*
 * Every key of the mapping must be in `known` or `more` (either may be
 * NULL): else "key 'filtres' is unknown in conv2d; did you mean 'filters'?".
 * `where` reads after the key: "in conv2d", "at the top level".
 */
static bool check_keys(pctx *c, const yv *map, const char *where, const char *const *known,
                       const char *const *more)
{
    for (int i = 0; i < pairs(map); i++) {
        const char *k = KEY(map, i)->s;
        bool found = false;
        for (int l = 0; l < 2 && !found; l++)
            for (const char *const *p = l ? more : known; p && *p && !found; p++)
                found = !strcmp(*p, k);
        if (!found) {
            char h[300];
            return fail_at(c, NB_ERR_ARG, KEY(map, i)->line, KEY(map, i)->col,
                           "key '%.60s' is unknown %s%s", k, where,
                           hint(k, known, more, h, sizeof h));
        }
    }
    return true;
}

static bool want_map(pctx *c, const yv *v, const char *key, const char *where)
{
    return v->kind == YV_MAP ? true : type_error(c, v, key, where, "a mapping");
}

/*
 * A choice written as a word or as a one-key mapping holding its options:
 * `sgd` or `{sgd: {lr: 0.1}}`. *opts is the options mapping or NULL.
 */
static bool one_key(pctx *c, const yv *v, const char *key, const char *example, const yv **word,
                    const yv **opts)
{
    *opts = NULL;
    if (v->kind == YV_SCALAR && !is_null(v)) {
        *word = v;
        return true;
    }
    if (v->kind != YV_MAP || pairs(v) != 1) {
        char b[80];
        return fail_at(c, NB_ERR_ARG, v->line, v->col, "key '%s': expected a name or a one-key "
                       "mapping such as %s, got %s", key, example,
                       v->kind == YV_MAP ? "a mapping with several keys" : got(v, b, sizeof b));
    }
    *word = KEY(v, 0);
    *opts = is_null(VAL(v, 0)) ? NULL : VAL(v, 0);
    if (*opts && (*opts)->kind != YV_MAP)
        return fail_at(c, NB_ERR_ARG, (*opts)->line, (*opts)->col, "the options of %s '%s' must be "
                       "a mapping, as in %s", key, (*word)->s, example);
    return true;
}

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

typedef enum atype { T_INT, T_FLOAT, T_BOOL, T_ACT, T_INIT, T_AXES, T_PERM, T_PADS, T_SHAPE } atype;

typedef struct attr_info {
    const char *key;
    atype type;
    size_t off, count;  /* offsetof the field (and of its count, for lists) */
    int64_t lo, hi;     /* integers */
    frange range;       /* numbers */
} attr_info;

#define A_INT(k, f, lo, hi) {k, T_INT, offsetof(nb__yattrs, f), 0, lo, hi, R_ANY}
#define A_NUM(k, f, r) {k, T_FLOAT, offsetof(nb__yattrs, f), 0, 0, 0, r}
#define A_OF(k, t, f) {k, t, offsetof(nb__yattrs, f), 0, 0, 0, R_ANY}
#define A_LIST(k, t, f, n) {k, t, offsetof(nb__yattrs, f), offsetof(nb__yattrs, n), 0, 0, R_ANY}

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
    A_INT("start", start, -MAX_INDEX, MAX_INDEX),
    A_INT("stop", stop, -MAX_INDEX, MAX_INDEX),
    A_INT("step", step, 1, MAX_INDEX),
    A_INT("h", h, 1, MAX_UNITS),
    A_INT("w", w, 1, MAX_UNITS),
    A_NUM("rate", rate, R_UNIT_CO),
    A_NUM("momentum", momentum, R_UNIT_OC),
    A_NUM("eps", eps, R_POS),
    A_NUM("alpha", alpha, R_UNIT_CC),
    A_NUM("value", value, R_ANY),
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
static bool to_ints(pctx *c, const yv *v, const char *key, const char *where, int64_t lo,
                    int64_t hi, int max, bool single, int64_t *out, int *n)
{
    if (single && v->kind == YV_SCALAR) {
        *n = 1;
        return to_int(c, v, key, where, lo, hi, out);
    }
    if (v->kind != YV_SEQ)
        return type_error(c, v, key, where, single ? "an integer or a list of integers"
                                                   : "a list of integers");
    if (v->n > max)
        return fail_at(c, NB_ERR_ARG, v->line, v->col, "key '%s' %s: %d values, at most %d", key,
                       where, v->n, max);
    for (int i = 0; i < v->n; i++)
        if (!to_int(c, v->kid[i], key, where, lo, hi, &out[i]))
            return false;
    *n = v->n;
    return true;
}

/* A shape of one example: up to NB_MAX_RANK - 1 sizes ≥ 1, at most 2^31
 * elements; with minus_one, one size may be -1 (inferred). */
static bool to_shape(pctx *c, const yv *v, const char *key, const char *where, bool minus_one,
                     nb_shape *out)
{
    int64_t d[NB_MAX_RANK];
    int n = 0;
    if (!to_ints(c, v, key, where, minus_one ? -1 : 1, MAX_NUMEL, NB_MAX_RANK - 1, false, d, &n))
        return false;
    int64_t numel = 1;
    int inferred = 0;
    for (int i = 0; i < n; i++) {
        if (d[i] == 0)
            return fail_at(c, NB_ERR_ARG, v->kid[i]->line, v->kid[i]->col, "key '%s' %s: a size "
                           "of 0; sizes must be >= 1%s", key, where, minus_one ? " (or -1)" : "");
        if (d[i] < 0 && ++inferred > 1)
            return fail_at(c, NB_ERR_ARG, v->kid[i]->line, v->kid[i]->col, "key '%s' %s: only "
                           "one size may be -1", key, where);
        numel *= d[i] > 0 ? d[i] : 1;
        if (numel > MAX_NUMEL)
            return fail_at(c, NB_ERR_ARG, v->line, v->col, "key '%s' %s: more than 2^31 "
                           "elements", key, where);
    }
    out->rank = n;
    for (int i = 0; i < n; i++)
        out->dim[i] = d[i];
    return true;
}

/* An initialiser: a word, or {constant: {value}}, {uniform: {low, high}},
 * {normal: {mean, std}}. */
static bool to_init(pctx *c, const yv *v, const char *key, const char *where, nb_init *out)
{
    static const char *const keys[][3] = {
        [NB_INIT_CONSTANT] = {"value"}, [NB_INIT_UNIFORM] = {"low", "high"},
        [NB_INIT_NORMAL] = {"mean", "std"}};
    const yv *word, *opts;
    if (!one_key(c, v, key, "{uniform: {low: -0.1, high: 0.1}}", &word, &opts))
        return false;
    int kind = lookup(c, word, "initialiser", init_names);
    if (kind < 0)
        return false;
    *out = (nb_init){.kind = (nb_init_kind)kind};
    bool takes = kind >= NB_INIT_CONSTANT && kind <= NB_INIT_NORMAL;
    if (!takes && opts)
        return fail_at(c, NB_ERR_ARG, opts->line, opts->col, "initialiser '%s' takes no options",
                       word->s);
    if (!takes)
        return true;
    const char *const *k = keys[kind];
    char w[48];
    snprintf(w, sizeof w, "in initialiser %s", word->s);
    for (int i = 0; k[i] && i < 2; i++)
        if (!opts || !get(opts, k[i]))
            return fail_at(c, NB_ERR_ARG, v->line, v->col, "key '%s' %s: initialiser '%s' needs "
                           "%s, as in %s", key, where, word->s, kind == NB_INIT_CONSTANT ? "a value" : "two values",
                           kind == NB_INIT_CONSTANT ? "{constant: {value: 0.1}}"
                           : kind == NB_INIT_UNIFORM ? "{uniform: {low: -0.1, high: 0.1}}"
                                                     : "{normal: {mean: 0, std: 0.01}}");
    double a = 0, b = 0;
    if (!check_keys(c, opts, w, k, NULL) || !to_float(c, get(opts, k[0]), k[0], w, R_ANY, &a) ||
        (k[1] && !to_float(c, get(opts, k[1]), k[1], w, kind == NB_INIT_NORMAL ? R_POS : R_ANY, &b)))
        return false;
    if (kind == NB_INIT_UNIFORM && !(a < b))
        return fail_at(c, NB_ERR_ARG, opts->line, opts->col, "initialiser uniform: low %g must be "
                       "below high %g", a, b);
    out->a = (float)a, out->b = (float)b;
    return true;
}

/* One attribute value into a, by its table entry. */
static bool parse_attr(pctx *c, const attr_info *ai, const yv *v, const char *where, nb__yop op,
                       nb__yattrs *a)
{
    char *base = (char *)a;
    void *f = base + ai->off;
    switch (ai->type) {
    case T_INT:
        return to_int(c, v, ai->key, where, ai->lo, ai->hi, f);
    case T_FLOAT:
        return to_float(c, v, ai->key, where, ai->range, f);
    case T_BOOL:
        return to_bool(c, v, ai->key, where, f);
    case T_ACT: {
        int k = lookup(c, v, "activation", act_names);
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
    }
    return false;
}

/* The defaults that are not zero. */
static nb__yattrs attr_defaults(void)
{
    return (nb__yattrs){.bias = true, .step = 1, .stop = MAX_INDEX, .alpha = 0.01, .axis = -1};
}

/* ---------------------------------------------------------------- checks across keys */

/* A window: kernel, or kh and kw together. */
static bool check_window(pctx *c, const yv *at, const yv *opts, const char *op)
{
    bool k = get(opts, "kernel"), h = get(opts, "kh"), w = get(opts, "kw");
    if (k && (h || w))
        return fail_at(c, NB_ERR_ARG, at->line, at->col, "%s: give 'kernel' or 'kh' and 'kw', "
                       "not both", op);
    if (!k && !(h && w))
        return fail_at(c, NB_ERR_ARG, at->line, at->col, "key 'kernel' is missing in %s (or give "
                       "both 'kh' and 'kw')", op);
    return true;
}

/* perm is a permutation of 0..n-1 that keeps the batch axis first. */
static bool check_perm(pctx *c, const yv *v, const nb__yattrs *a)
{
    bool seen[NB_MAX_RANK] = {false};
    for (int i = 0; i < a->n_perm; i++) {
        if (a->perm[i] >= a->n_perm || seen[a->perm[i]])
            return fail_at(c, NB_ERR_ARG, v->line, v->col, "key 'perm' in permute: not a "
                           "permutation of 0..%d", a->n_perm - 1);
        seen[a->perm[i]] = true;
    }
    if (a->n_perm < 1 || a->perm[0] != 0)
        return fail_at(c, NB_ERR_ARG, v->line, v->col, "key 'perm' in permute: the batch axis 0 "
                       "must stay first, e.g. [0, 2, 3, 1]");
    return true;
}

/* What one key cannot say alone. */
static bool check_node(pctx *c, const yv *at, const yv *opts, const nb__ynode *n)
{
    const nb__yattrs *a = &n->a;
    switch (n->op) {
    case NB__Y_CONV2D:
    case NB__Y_LOCAL2D:
    case NB__Y_UNFOLD2D:
    case NB__Y_FOLD2D:
        return check_window(c, opts ? opts : at, opts, ops[n->op].name);
    case NB__Y_PERMUTE:
        return check_perm(c, get(opts, "perm"), a);
    case NB__Y_PAD:
        if (!a->n_before && !a->n_after)
            return fail_at(c, NB_ERR_ARG, at->line, at->col, "pad needs 'before' or 'after' (a "
                           "list of sizes for one example)");
        if (a->n_before && a->n_after && a->n_before != a->n_after)
            return fail_at(c, NB_ERR_ARG, at->line, at->col, "pad: 'before' has %d sizes and "
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
static bool claim_name(pctx *c, const yv *v, const char *name)
{
    const nb_model_file *m = c->m;
    int other = find_value(m, name);
    if (!strcmp(name, "y"))
        return fail_at(c, NB_ERR_ARG, v->line, v->col, "the name 'y' is reserved for the targets");
    if (other < 0)
        return true;
    if (other < m->n_inputs)
        return fail_at(c, NB_ERR_ARG, v->line, v->col, "name '%s' is already an input (line %d)",
                       name, m->inputs[other].line);
    return fail_at(c, NB_ERR_ARG, v->line, v->col, "name '%s' is already used by the node at "
                   "line %d", name, m->nodes[other - m->n_inputs].line);
}

static const char *const seq_common[] = {"name", "trainable", NULL};
static const char *const dag_common[] = {"name", "op", "inputs", "trainable", NULL};

/*
 * A node's options (opts may be NULL): its op's keys, plus name and
 * trainable (and, in the nodes form, op and inputs, which the caller reads).
 * `at` is where the node starts.
 */
static bool node_options(pctx *c, const yv *at, const yv *opts, nb__ynode *n, bool dag)
{
    const op_info *op = &ops[n->op];
    char where[48];
    snprintf(where, sizeof where, "in %s", op->name);
    n->a = attr_defaults();
    n->trainable = true;
    const yv *dag_key = dag ? NULL : key_of(opts, "inputs") ? key_of(opts, "inputs")
                                                            : key_of(opts, "op");
    if (dag_key)
        return fail_at(c, NB_ERR_ARG, dag_key->line, dag_key->col, "key '%s' belongs to the "
                       "nodes: form; in layers: each layer reads the one above it", dag_key->s);
    if (opts && !check_keys(c, opts, where, op->keys, dag ? dag_common : seq_common))
        return false;
    for (int i = 0; op->required[i] && i < 3; i++)
        if (!get(opts, op->required[i]))
            return fail_at(c, NB_ERR_ARG, (opts ? opts : at)->line, (opts ? opts : at)->col,
                           "key '%s' is missing in %s", op->required[i], op->name);
    for (int i = 0; opts && i < pairs(opts); i++) {
        const char *k = KEY(opts, i)->s;
        const yv *v = VAL(opts, i);
        bool ok = true;
        if (!strcmp(k, "name"))
            ok = to_name(c, v, k, where, &n->name) && claim_name(c, v, n->name);
        else if (!strcmp(k, "trainable"))
            ok = to_bool(c, v, k, where, &n->trainable);
        else if (strcmp(k, "op") && strcmp(k, "inputs"))
            ok = parse_attr(c, attr_find(k), v, where, n->op, &n->a);
        if (!ok)
            return false;
    }
    return check_node(c, at, opts, n);
}

/* The op a word names, with "did you mean" over every op. */
static bool lookup_op(pctx *c, const yv *v, nb__yop *out)
{
    const char *names[NB__Y_COUNT + 1];
    for (int i = 0; i < NB__Y_COUNT; i++)
        names[i] = ops[i].name;
    names[NB__Y_COUNT] = NULL;
    int k = lookup(c, v, "op", names);
    *out = (nb__yop)(k > 0 ? k : 0);
    return k >= 0;
}

/* ---------------------------------------------------------------- layers: */

/* One item of the sequential form: `flatten` or `{conv2d: {filters: 6, ...}}`. */
static bool parse_layer(pctx *c, const yv *item, int k)
{
    nb_model_file *m = c->m;
    nb__ynode *n = &m->nodes[k];
    *n = (nb__ynode){.line = item->line, .col = item->col, .index = k + 1};
    const yv *word = item, *opts = NULL;
    if (item->kind == YV_MAP && pairs(item) == 1) {
        word = KEY(item, 0);
        opts = is_null(VAL(item, 0)) ? NULL : VAL(item, 0);
    } else if (item->kind == YV_MAP && pairs(item) == 0) {
        return fail_at(c, NB_ERR_ARG, item->line, item->col, "layer %d is empty; write an op "
                       "such as flatten or {dense: {units: 10}}", k + 1);
    } else if (item->kind == YV_MAP) {
        return fail_at(c, NB_ERR_ARG, item->line, item->col, "layer %d has %d keys ('%.30s', "
                       "'%.30s'%s); a layer is one op with its options inside, as in "
                       "{dense: {units: 10, activation: relu}}", k + 1, pairs(item),
                       KEY(item, 0)->s, KEY(item, 1)->s, pairs(item) > 2 ? ", ..." : "");
    } else if (item->kind != YV_SCALAR || is_null(item)) {
        char b[80];
        return fail_at(c, NB_ERR_ARG, item->line, item->col, "layer %d: expected an op name such as "
                       "flatten or a mapping such as {dense: {units: 10}}, got %s", k + 1,
                       got(item, b, sizeof b));
    }
    if (!lookup_op(c, word, &n->op))
        return false;
    if (opts && opts->kind != YV_MAP) {
        char b[80];
        return fail_at(c, NB_ERR_ARG, opts->line, opts->col, "the options of %s must be a "
                       "mapping {key: value, ...}, got %s", word->s, got(opts, b, sizeof b));
    }
    if (ops[n->op].arity != 1)
        return fail_at(c, NB_ERR_ARG, word->line, word->col, "%s reads %s input%s; each layer of "
                       "the layers: form reads the one before it: write the model as nodes:",
                       word->s, ops[n->op].arity == 0 ? "no" : ops[n->op].arity < 0 ? "several"
                       : ops[n->op].arity == 2 ? "2" : "3", ops[n->op].arity == 0 ? "" : "s");
    if (!node_options(c, item, opts, n, false) || !(n->in = pool_add(c, sizeof *n->in)))
        return false;
    n->n_in = 1;
    n->in[0] = k == 0 ? 0 : m->n_inputs + k - 1;
    m->n_nodes = k + 1;
    return true;
}

static bool parse_layers(pctx *c, const yv *seq)
{
    nb_model_file *m = c->m;
    if (seq->kind != YV_SEQ || seq->n == 0)
        return type_error(c, seq, "layers", "at the top level", "a list of layers");
    if (seq->n > NB__YAML_MAX_NODES)
        return fail_at(c, NB_ERR_ARG, seq->line, seq->col, "more than %d layers",
                       NB__YAML_MAX_NODES);
    if (m->n_inputs != 1)
        return fail_at(c, NB_ERR_ARG, seq->line, seq->col, "the layers: form reads one input and "
                       "the file declares %d; write the model as nodes:", m->n_inputs);
    if (!(m->nodes = pool_add(c, (size_t)seq->n * sizeof *m->nodes)))
        return false;
    for (int k = 0; k < seq->n; k++)
        if (!parse_layer(c, seq->kid[k], k))
            return false;
    return true;
}

/* ---------------------------------------------------------------- nodes: */

/* Line of a later node named `name` in the nodes list, or 0. */
static int later_node(const yv *seq, int k, const char *name)
{
    for (int i = k + 1; i < seq->n; i++) {
        const yv *v = get(seq->kid[i], "name");
        if (v && v->kind == YV_SCALAR && !strcmp(v->s, name))
            return v->line;
    }
    return 0;
}

/* One name of `inputs`: an input or a node above this one. */
static bool resolve_input(pctx *c, const yv *seq, int k, const yv *v, int *out)
{
    const nb__ynode *n = &c->m->nodes[k];
    if (v->kind != YV_SCALAR || is_null(v))
        return type_error(c, v, "inputs", "in a node", "a node or input name");
    *out = find_value(c->m, v->s);
    if (*out >= 0)
        return true;
    int later = later_node(seq, k, v->s);
    if (n->name && !strcmp(v->s, n->name))
        return fail_at(c, NB_ERR_ARG, v->line, v->col, "node '%s' reads itself; a node reads only "
                       "inputs and nodes above it", n->name);
    if (later)
        return fail_at(c, NB_ERR_ARG, v->line, v->col, "node '%s' reads '%s', which comes later "
                       "(line %d); a node reads only inputs and nodes above it", n->name, v->s,
                       later);
    return fail_at(c, NB_ERR_ARG, v->line, v->col, "node '%s' reads '%.60s', which is not an input "
                   "or a node above it", n->name, v->s);
}

/* `inputs: [a, b]` (or one name); absent, a one-input op reads the value
 * just above it. */
static bool parse_node_inputs(pctx *c, const yv *seq, int k, const yv *item)
{
    nb_model_file *m = c->m;
    nb__ynode *n = &m->nodes[k];
    const yv *v = get(item, "inputs");
    int arity = ops[n->op].arity, count = !v ? 0 : v->kind == YV_SEQ ? v->n : 1;
    if (!v && arity == 1)
        count = 1;
    else if (!v && arity != 0)
        return fail_at(c, NB_ERR_ARG, item->line, item->col, "node '%s': %s reads %s inputs; "
                       "list them in 'inputs'", n->name, ops[n->op].name,
                       arity < 0 ? "one or more" : arity == 2 ? "2" : "3");
    else if (arity >= 0 && count != arity)
        return fail_at(c, NB_ERR_ARG, v->line, v->col, "node '%s': %s reads %d input%s, and "
                       "'inputs' names %d", n->name, ops[n->op].name, arity,
                       arity == 1 ? "" : "s", count);
    else if (arity < 0 && (count < 1 || count > NB__YAML_MAX_NODE_INPUTS))
        return fail_at(c, NB_ERR_ARG, v->line, v->col, "node '%s': %s reads 1 to %d inputs, and "
                       "'inputs' names %d", n->name, ops[n->op].name, NB__YAML_MAX_NODE_INPUTS,
                       count);
    if (count && !(n->in = pool_add(c, (size_t)count * sizeof *n->in)))
        return false;
    n->n_in = count;
    if (!v && count == 1)
        n->in[0] = k == 0 ? 0 : m->n_inputs + k - 1;
    for (int i = 0; v && i < count; i++)
        if (!resolve_input(c, seq, k, v->kind == YV_SEQ ? v->kid[i] : v, &n->in[i]))
            return false;
    return true;
}

/* Every key any node may have, for "did you mean" when `op` is missing. */
static bool check_any_node_keys(pctx *c, const yv *item)
{
    const char *all[N_ATTRS + 1];
    for (int i = 0; i < N_ATTRS; i++)
        all[i] = attr_table[i].key;
    all[N_ATTRS] = NULL;
    return check_keys(c, item, "in a node", dag_common, all);
}

/* One item of the DAG form: {name: h1, op: dense, inputs: [x], units: 64}. */
static bool parse_node(pctx *c, const yv *seq, int k)
{
    nb_model_file *m = c->m;
    const yv *item = seq->kid[k];
    nb__ynode *n = &m->nodes[k];
    *n = (nb__ynode){.line = item->line, .col = item->col, .index = k + 1};
    if (item->kind != YV_MAP)
        return type_error(c, item, "nodes", "at the top level",
                          "a mapping such as {name: h1, op: dense, inputs: [x], units: 64}");
    const yv *op = get(item, "op");
    if (!op)
        return check_any_node_keys(c, item) &&
               fail_at(c, NB_ERR_ARG, item->line, item->col, "key 'op' is missing in node %d",
                       k + 1);
    if (!lookup_op(c, op, &n->op) || !node_options(c, item, item, n, true))
        return false;
    if (!n->name)
        return fail_at(c, NB_ERR_ARG, item->line, item->col, "key 'name' is missing in node %d "
                       "(%s)", k + 1, ops[n->op].name);
    if (!parse_node_inputs(c, seq, k, item))
        return false;
    m->n_nodes = k + 1;
    return true;
}

static bool parse_nodes(pctx *c, const yv *seq)
{
    nb_model_file *m = c->m;
    if (seq->kind != YV_SEQ || seq->n == 0)
        return type_error(c, seq, "nodes", "at the top level", "a list of nodes");
    if (seq->n > NB__YAML_MAX_NODES)
        return fail_at(c, NB_ERR_ARG, seq->line, seq->col, "more than %d nodes",
                       NB__YAML_MAX_NODES);
    if (!(m->nodes = pool_add(c, (size_t)seq->n * sizeof *m->nodes)))
        return false;
    m->dag = true;
    for (int k = 0; k < seq->n; k++)
        if (!parse_node(c, seq, k))
            return false;
    return true;
}

/* ================================================================ the other sections */

/* input: {x: [1, 28, 28], ...}: names and one example's shape each. */
static bool parse_inputs(pctx *c, const yv *v)
{
    nb_model_file *m = c->m;
    if (v->kind != YV_MAP || pairs(v) == 0)
        return type_error(c, v, "input", "at the top level", "a mapping of input names to shapes, "
                          "such as {x: [1, 28, 28]}");
    if (!(m->inputs = pool_add(c, (size_t)pairs(v) * sizeof *m->inputs)))
        return false;
    for (int i = 0; i < pairs(v); i++) {
        nb__yinput *in = &m->inputs[i];
        const yv *k = KEY(v, i);
        in->line = k->line, in->col = k->col;
        if (!to_name(c, k, "input", "at the top level", &in->name) ||
            !claim_name(c, k, in->name) ||
            !to_shape(c, VAL(v, i), in->name, "in input", false, &in->shape))
            return false;
        m->n_inputs = i + 1;
    }
    return true;
}

/* output: <node name>; else the last node. */
static bool parse_output(pctx *c, const yv *v, const char *key, const char *where, int *out)
{
    nb_model_file *m = c->m;
    if (!v) {
        *out = m->n_nodes - 1;
        return true;
    }
    if (v->kind != YV_SCALAR || is_null(v))
        return type_error(c, v, key, where, "a node name");
    int k = find_value(m, v->s);
    if (k < 0)
        return fail_at(c, NB_ERR_ARG, v->line, v->col, "%s '%.60s' is not the name of a %s", key,
                       v->s, m->dag ? "node" : "layer (give the layer a name: ...)");
    if (k < m->n_inputs)
        return fail_at(c, NB_ERR_ARG, v->line, v->col, "%s '%s' is an input; name a node", key,
                       v->s);
    *out = k - m->n_inputs;
    return true;
}

/* loss: mse, or {softmax_cross_entropy: {node: logits}}. */
static bool parse_loss(pctx *c, const yv *v)
{
    nb_model_file *m = c->m;
    m->loss = NB__LOSS_NONE;
    m->loss_node = m->output;
    if (!v)
        return true;
    const yv *word, *opts;
    static const char *const keys[] = {"node", NULL};
    if (!one_key(c, v, "loss", "{softmax_cross_entropy: {node: logits}}", &word, &opts))
        return false;
    int k = lookup(c, word, "loss", loss_names);
    if (k < 0)
        return false;
    m->loss = (nb__yloss)k;
    m->loss_line = word->line, m->loss_col = word->col;
    char where[64];
    snprintf(where, sizeof where, "in loss %s", word->s);
    if (!opts)
        return true;
    return check_keys(c, opts, where, keys, NULL) &&
           parse_output(c, get(opts, "node"), "node", where, &m->loss_node);
}

/* optimizer: sgd, or {sgd|adam|rmsprop: {lr, ...}}. */
static bool parse_optimizer(pctx *c, const yv *v, nb_optimizer_opts *o)
{
    static const char *const kinds[] = {"sgd", "adam", "rmsprop", NULL};
    static const char *const keys[][6] = {
        {"lr", "momentum", "nesterov", "weight_decay", NULL},
        {"lr", "beta1", "beta2", "eps", "weight_decay", NULL},
        {"lr", "alpha", "momentum", "eps", "weight_decay", NULL}};
    const yv *word, *opts;
    if (!one_key(c, v, "optimizer", "{sgd: {lr: 0.01, momentum: 0.9}}", &word, &opts))
        return false;
    int k = lookup(c, word, "optimizer", kinds);
    if (k < 0)
        return false;
    *o = (nb_optimizer_opts){.kind = (nb_optimizer_kind)k, .lr = k == 0 ? 0.01f : 0.001f};
    if (!opts)
        return true;
    char w[48];
    snprintf(w, sizeof w, "in optimizer %s", kinds[k]);
    if (!check_keys(c, opts, w, keys[k], NULL))
        return false;
    for (int i = 0; i < pairs(opts); i++) {
        const char *key = KEY(opts, i)->s;
        const yv *x = VAL(opts, i);
        double d = 0;
        bool ok = !strcmp(key, "nesterov") ? to_bool(c, x, key, w, &o->nesterov)
                  : to_float(c, x, key, w,
                             !strcmp(key, "lr") || !strcmp(key, "eps") ? R_POS
                             : !strcmp(key, "momentum") ? R_UNIT_CO
                             : !strcmp(key, "weight_decay") ? R_NONNEG : R_UNIT_OO, &d);
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
        return fail_at(c, NB_ERR_ARG, opts->line, opts->col, "optimizer sgd: nesterov needs a "
                       "momentum > 0");
    return true;
}

/* schedule: constant, or {step: {every, gamma}}, or {cosine: {total, min_ratio}}. */
static bool parse_schedule(pctx *c, const yv *v, nb_schedule *s)
{
    static const char *const kinds[] = {"constant", "step", "cosine", NULL};
    static const char *const keys[][3] = {{NULL}, {"every", "gamma", NULL},
                                          {"total", "min_ratio", NULL}};
    const yv *word, *opts;
    if (!one_key(c, v, "schedule", "{cosine: {total: 5000, min_ratio: 0.01}}", &word, &opts))
        return false;
    int k = lookup(c, word, "schedule", kinds);
    if (k < 0)
        return false;
    *s = (nb_schedule){.kind = (nb_schedule_kind)k, .gamma = 0.1f};
    char w[48];
    snprintf(w, sizeof w, "in schedule %s", kinds[k]);
    if (k && (!opts || !get(opts, keys[k][0])))
        return fail_at(c, NB_ERR_ARG, (opts ? opts : v)->line, (opts ? opts : v)->col,
                       "key '%s' is missing in schedule %s", keys[k][0], kinds[k]);
    if (!opts)
        return true;
    double d = 0;
    const yv *x;
    if (!check_keys(c, opts, w, keys[k], NULL))
        return false;
    if (k == NB_SCHEDULE_STEP)
        return to_int(c, get(opts, "every"), "every", w, 1, INT64_MAX, &s->every) &&
               (!(x = get(opts, "gamma")) || (to_float(c, x, "gamma", w, R_UNIT_OC, &d) &&
                                              (s->gamma = (float)d, true)));
    return to_int(c, get(opts, "total"), "total", w, 1, INT64_MAX, &s->total) &&
           (!(x = get(opts, "min_ratio")) || (to_float(c, x, "min_ratio", w, R_UNIT_CC, &d) &&
                                              (s->min_ratio = (float)d, true)));
}

/* q_stop: {rtol, window}. */
static bool parse_q_stop(pctx *c, const yv *v, nb_train_opts *t)
{
    static const char *const keys[] = {"rtol", "window", NULL};
    const char *w = "in train q_stop";
    const yv *x;
    if (!want_map(c, v, "q_stop", "in train") || !check_keys(c, v, w, keys, NULL))
        return false;
    if (!get(v, "rtol"))
        return fail_at(c, NB_ERR_ARG, v->line, v->col, "key 'rtol' is missing in train q_stop");
    return to_float(c, get(v, "rtol"), "rtol", w, R_POS, &t->q_stop_rtol) &&
           (!(x = get(v, "window")) || to_int(c, x, "window", w, 1, INT64_MAX, &t->q_stop_window));
}

/* train: {batch, epochs, seed, shuffle, eval_batch, q_eta, q_stop}. */
static bool parse_train(pctx *c, const yv *v, nb_train_opts *t)
{
    static const char *const keys[] = {"batch", "epochs", "seed", "shuffle", "eval_batch", "q_eta",
                                       "q_stop", NULL};
    const char *w = "in train";
    if (!want_map(c, v, "train", "at the top level") || !check_keys(c, v, w, keys, NULL))
        return false;
    for (int i = 0; i < pairs(v); i++) {
        const char *key = KEY(v, i)->s;
        const yv *x = VAL(v, i);
        int64_t n = 0;
        bool shuffle = true, ok;
        if (!strcmp(key, "batch"))
            ok = to_int(c, x, key, w, 1, MAX_UNITS, &t->batch);
        else if (!strcmp(key, "eval_batch"))
            ok = to_int(c, x, key, w, 1, MAX_UNITS, &t->eval_batch);
        else if (!strcmp(key, "epochs"))
            ok = to_int(c, x, key, w, 1, 1000000, &n) && (t->epochs = (int)n, true);
        else if (!strcmp(key, "seed"))
            ok = to_int(c, x, key, w, 0, INT64_MAX, &n) && (t->seed = (uint64_t)n, true);
        else if (!strcmp(key, "shuffle"))
            ok = to_bool(c, x, key, w, &shuffle) && (t->no_shuffle = !shuffle, true);
        else if (!strcmp(key, "q_eta"))
            ok = to_float(c, x, key, w, R_UNIT_OC, &t->q_eta);
        else
            ok = parse_q_stop(c, x, t);
        if (!ok)
            return false;
    }
    return true;
}

/* A path as written, or joined to the model file's folder when relative. */
static const char *resolve(pctx *c, const char *path)
{
    const char *file = c->m->file, *slash = strrchr(file, '/');
    if (path[0] == '/' || !slash)
        return pool_str(c, path);
    size_t dir = (size_t)(slash - file), n = strlen(path);
    char *p = pool_add(c, dir + 1 + n + 1);
    if (p) {
        memcpy(p, file, dir + 1);
        memcpy(p + dir + 1, path, n + 1);
    }
    return p;
}

/* A path-valued key of the data section, resolved. */
static bool data_path(pctx *c, const yv *map, const char *key, const char **out)
{
    const yv *v = get(map, key);
    const char *s;
    if (!v)
        return true;
    if (!to_str(c, v, key, "in data", &s))
        return false;
    return (*out = resolve(c, s)) != NULL;
}

/* data: {format: idx, dir} or {format: hdf5, train, test, x, y}. */
static bool parse_data(pctx *c, const yv *v)
{
    static const char *const formats[] = {"idx", "hdf5", NULL};
    static const char *const idx_keys[] = {"format", "dir", NULL};
    static const char *const h5_keys[] = {"format", "train", "test", "x", "y", NULL};
    nb_data_spec *d = &c->m->data;
    if (!want_map(c, v, "data", "at the top level"))
        return false;
    const yv *f = get(v, "format");
    if (!f)
        return fail_at(c, NB_ERR_ARG, v->line, v->col, "key 'format' is missing in data (idx or "
                       "hdf5)");
    int k = lookup(c, f, "data format", formats);
    if (k < 0 || !check_keys(c, v, k ? "in data (format hdf5)" : "in data (format idx)",
                             k ? h5_keys : idx_keys, NULL))
        return false;
    d->format = formats[k];
    const char *need = k ? "train" : "dir";
    if (!get(v, need))
        return fail_at(c, NB_ERR_ARG, v->line, v->col, "key '%s' is missing in data (format %s)",
                       need, formats[k]);
    d->x = k ? "X" : NULL;
    d->y = k ? "y" : NULL;
    return data_path(c, v, "dir", &d->dir) && data_path(c, v, "train", &d->train) &&
           data_path(c, v, "test", &d->test) &&
           (!get(v, "x") || to_str(c, get(v, "x"), "x", "in data", &d->x)) &&
           (!get(v, "y") || to_str(c, get(v, "y"), "y", "in data", &d->y));
}

/* The trainer's defaults, written out so callers can show them. */
static nb_train_opts train_defaults(void)
{
    return (nb_train_opts){
        .batch = 32, .epochs = 1, .q_eta = 0.01, .q_stop_window = 1000, .eval_batch = 1000,
        .optimizer = {.kind = NB_OPT_SGD, .lr = 0.01f}, .schedule = {.kind = NB_SCHEDULE_CONSTANT}};
}

/* clip_norm: a number >= 0 (0: no clipping). */
static bool parse_clip(pctx *c, const yv *v, float *out)
{
    double d = 0;
    if (!to_float(c, v, "clip_norm", "at the top level", R_NONNEG, &d))
        return false;
    *out = (float)d;
    return true;
}

/* ================================================================ the top level */

static const char *const top_keys[] = {"nabla", "name", "input", "layers", "nodes", "output", "loss",
                                       "optimizer", "schedule", "clip_norm", "train", "data",
                                       NULL};

/* nabla: 1, first of all. */
static bool parse_version(pctx *c, const yv *root)
{
    const yv *v = get(root, "nabla");
    int64_t version = 0;
    if (!v)
        return fail_at(c, NB_ERR_ARG, root->line, root->col, "key 'nabla' is missing at the top "
                       "level: a model file starts with the format version, 'nabla: 1'");
    if (!to_int(c, v, "nabla", "at the top level", 0, INT64_MAX, &version))
        return false;
    if (version != 1)
        return fail_at(c, NB_ERR_ARG, v->line, v->col, "format version nabla: %lld is not "
                       "supported; this nabla reads version 1", (long long)version);
    return true;
}

/* The model's name: name:, else the file's name without folder and extension. */
static bool parse_name(pctx *c, const yv *root)
{
    const yv *v = get(root, "name");
    if (v)
        return to_name(c, v, "name", "at the top level", &c->m->name);
    const char *file = c->m->file, *slash = strrchr(file, '/');
    char base[NB__YAML_NAME_MAX];
    snprintf(base, sizeof base, "%s", slash ? slash + 1 : file);
    char *dot = strchr(base, '.');
    if (dot && dot != base)
        *dot = '\0';
    return (c->m->name = pool_str(c, base)) != NULL;
}

/* layers: or nodes:, exactly one. */
static bool parse_body(pctx *c, const yv *root)
{
    const yv *layers = get(root, "layers"), *nodes = get(root, "nodes");
    if (layers && nodes)
        return fail_at(c, NB_ERR_ARG, key_of(root, "nodes")->line, key_of(root, "nodes")->col,
                       "a model has 'layers' (line %d) or 'nodes', not both",
                       key_of(root, "layers")->line);
    if (!layers && !nodes)
        return fail_at(c, NB_ERR_ARG, root->line, root->col, "key 'layers' (or 'nodes') is missing "
                       "at the top level");
    return layers ? parse_layers(c, layers) : parse_nodes(c, nodes);
}

static bool parse_model(pctx *c, const yv *root)
{
    nb_model_file *m = c->m;
    if (!root)
        return fail_at(c, NB_ERR_ARG, 0, 0, "the file is empty; a model file starts with 'nabla: 1'");
    if (root->kind != YV_MAP) {
        char b[80];
        return fail_at(c, NB_ERR_ARG, root->line, root->col, "the top level must be a mapping "
                       "(nabla: 1, input: ..., layers: ...), not %s", got(root, b, sizeof b));
    }
    const yv *v;
    m->train = train_defaults();
    if (!check_keys(c, root, "at the top level", top_keys, NULL) || !parse_version(c, root) ||
        !parse_name(c, root))
        return false;
    if (!(v = get(root, "input")))
        return fail_at(c, NB_ERR_ARG, root->line, root->col, "key 'input' is missing at the top "
                       "level (e.g. input: {x: [1, 28, 28]})");
    return parse_inputs(c, v) && parse_body(c, root) &&
           parse_output(c, get(root, "output"), "output", "at the top level", &m->output) &&
           parse_loss(c, get(root, "loss")) &&
           (!(v = get(root, "optimizer")) || parse_optimizer(c, v, &m->train.optimizer)) &&
           (!(v = get(root, "schedule")) || parse_schedule(c, v, &m->train.schedule)) &&
           (!(v = get(root, "clip_norm")) || parse_clip(c, v, &m->train.clip_norm)) &&
           (!(v = get(root, "train")) || parse_train(c, v, &m->train)) &&
           (!(v = get(root, "data")) || parse_data(c, v));
}

/* ================================================================ the probe build */

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
        free(ptr);
        b->used -= ptr ? old_size : 0;
        return NULL;
    }
    size_t old = ptr ? old_size : 0;
    if (new_size > old && new_size - old > b->cap - b->used) {
        b->hit = true;
        return NULL;
    }
    void *p = realloc(ptr, new_size);
    if (p)
        b->used = b->used - old + new_size;
    return p;
}

/* Builds the model once at batch 2 (inference mode): the shapes must fit,
 * and the targets' width and the output's shape come from what was built. */
static bool probe(pctx *c)
{
    nb_model_file *m = c->m;
    budget b = {.cap = PROBE_BYTES};
    nb_graph *g = nb_graph_new_with_allocator(capped_alloc, &b);
    if (!g)
        return fail_at(c, NB_ERR_NOMEM, 0, 0, "out of memory");
    nb_model_io io = {0};
    nb_status st = nb_model_file_build(g, PROBE_BATCH, &io, m);
    if (st == NB_OK) {
        nb_shape os = nb_node_shape(io.output);
        m->y_width = nb_shape_numel(nb_node_shape(io.y)) / PROBE_BATCH;
        m->output_shape = (nb_shape){.rank = os.rank - 1};
        for (int i = 1; i < os.rank; i++)
            m->output_shape.dim[i - 1] = os.dim[i];
    } else if (!c->failed && c->err) {
        c->err->status = st;
        snprintf(c->err->message, sizeof c->err->message, "%s%s", nb_graph_error(g),
                 b.hit ? " (a model file is checked by building it once, within 2 GiB)" : "");
    }
    c->failed = c->failed || st != NB_OK;
    nb_graph_free(g);
    return st == NB_OK;
}

/* ================================================================ the public calls */

PRINTF(3, 4) static void set_error(nb_error *err, nb_status st, const char *fmt, ...)
{
    if (!err)
        return;
    err->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

nb_model_file *nb_model_file_parse(const char *text, size_t len, const char *filename,
                                   nb_error *err)
{
    if (err)
        *err = (nb_error){.status = NB_OK};
    nb_model_file *m = calloc(1, sizeof *m);
    if (!m) {
        set_error(err, NB_ERR_NOMEM, "%s: out of memory", filename ? filename : "model");
        return NULL;
    }
    pctx c = {.m = m, .err = err};
    m->file = pool_str(&c, filename ? filename : "model");
    if (m->file && !text)
        fail_at(&c, NB_ERR_ARG, 0, 0, "no text (NULL)");
    else if (m->file && len > NB__YAML_MAX_BYTES)
        fail_at(&c, NB_ERR_ARG, 0, 0, "the text is %zu bytes; a model file is at most 1 MiB", len);
    if (!c.failed && (m->text = pool_add(&c, len + 1))) {
        memcpy(m->text, text, len);
        m->len = len;
        yv *root = read_tree(&c, text, len);
        if (!c.failed && parse_model(&c, root))
            probe(&c);
        yv_free(root);
    }
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
    char *buf = malloc(NB__YAML_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, NB__YAML_MAX_BYTES + 1, f) : 0;
    int e = ferror(f) ? errno : 0;
    fclose(f);
    nb_model_file *m = NULL;
    if (!buf)
        set_error(err, NB_ERR_NOMEM, "%s: out of memory", path);
    else if (e)
        set_error(err, NB_ERR_ARG, "%s: cannot read: %s", path, strerror(e));
    else if (n > NB__YAML_MAX_BYTES)
        set_error(err, NB_ERR_ARG, "%s: the file is larger than 1 MiB; a model file is a short "
                  "YAML text", path);
    else
        m = nb_model_file_parse(buf, n, path, err);
    free(buf);
    return m;
}

void nb_model_file_free(nb_model_file *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_pool; i++)
        free(m->pool[i]);
    free(m->pool);
    free(m);
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

nb_data_spec nb_model_file_data(const nb_model_file *m)
{
    return m ? m->data : (nb_data_spec){0};
}
