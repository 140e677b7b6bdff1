/*
 * yaml_values.c — one value of the YAML tree read as the type the model
 * grammar wants (yaml_values.h): integers and numbers in range, booleans,
 * strings and names into the model's pool, a word among known names, a
 * mapping's keys among the known ones, a word or one-key mapping. A
 * refusal says where and what ("file:line:col: key 'units' in dense:
 * expected an integer, got 'ten'"), and an unknown word gets "did you
 * mean" or the list of what is known.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml_values.h"

/* ================================================================ the parse state */

/* Records "file:line:col: message" (no position when line is 0) unless an
 * error is already recorded; returns false. */
static bool vfail(nb__yctx *c, nb_status st, int line, int col, const char *fmt, va_list ap)
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

bool nb__yfail(nb__yctx *c, nb_status st, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, st, line, col, fmt, ap);
    va_end(ap);
    return false;
}

/* ---------------------------------------------------------------- the pool */

/* A zeroed block owned by the model file (freed by nb_model_file_free). */
void *nb__ypool_add(nb__yctx *c, size_t size)
{
    nb_model_file *m = c->m;
    if (m->n_pool == m->cap_pool) {
        int cap = m->cap_pool ? 2 * m->cap_pool : 64;
        void **p = nb_realloc(m->pool, (size_t)cap * sizeof *p);
        if (!p)
            return nb__yfail(c, NB_ERR_NOMEM, 0, 0, "out of memory for the model's list of "
                             "%d blocks", cap), NULL;
        m->pool = p;
        m->cap_pool = cap;
    }
    void *p = nb_calloc(1, size ? size : 1);
    if (!p)
        return nb__yfail(c, NB_ERR_NOMEM, 0, 0, "out of memory for %zu bytes of the model's "
                         "description", size), NULL;
    m->pool[m->n_pool++] = p;
    return p;
}

char *nb__ypool_str(nb__yctx *c, const char *s)
{
    size_t n = strlen(s);
    char *p = nb__ypool_add(c, n + 1);
    if (p)
        memcpy(p, s, n + 1);
    return p;
}

/* ================================================================ did you mean */

/* The closest of the NULL-terminated lists a and b (b may be NULL), or
 * NULL: nb_closest_name over a followed by b. */
static const char *closest(const char *bad, const char *const *a, const char *const *b)
{
    const char *all[160];
    int n = 0;
    for (int l = 0; l < 2; l++)
        for (const char *const *p = l ? b : a; p && *p && n < 159; p++)
            all[n++] = *p;
    all[n] = NULL;
    return nb_closest_name(bad, all);
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

/* ================================================================ values */

/* How a value that has the wrong type reads in a message. */
const char *nb__ygot(const nb__yv *v, char *buf, size_t size)
{
    if (v->kind == NB__YV_SEQ)
        return v->n ? "a list" : "an empty list";
    if (v->kind == NB__YV_MAP)
        return v->n ? "a mapping" : "an empty mapping";
    if (nb__yis_null(v))
        return "nothing";
    snprintf(buf, size, v->plain ? "'%.40s'" : "the quoted string \"%.40s\"", v->s);
    return buf;
}

bool nb__ytype_error(nb__yctx *c, const nb__yv *v, const char *key, const char *where,
                     const char *expected)
{
    char b[80];
    return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key '%s' %s: expected %s, got %s", key,
                        where, expected, nb__ygot(v, b, sizeof b));
}

static bool scalar_int(const nb__yv *v, int64_t *out)
{
    if (v->kind != NB__YV_SCALAR || !v->plain)
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
bool nb__yto_int(nb__yctx *c, const nb__yv *v, const char *key, const char *where, int64_t lo,
                 int64_t hi, int64_t *out)
{
    int64_t x;
    if (!scalar_int(v, &x))
        return nb__ytype_error(c, v, key, where, "an integer");
    if (x >= lo && x <= hi) {
        *out = x;
        return true;
    }
    if (hi >= NB__YAML_MAX_INDEX)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key '%s' %s: %lld is out of range; it "
                            "must be >= %lld", key, where, (long long)x, (long long)lo);
    return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key '%s' %s: %lld is out of range; it "
                        "must be between %lld and %lld", key, where, (long long)x, (long long)lo,
                        (long long)hi);
}

static bool in_range(double x, nb__yrange r)
{
    switch (r) {
    case NB__YR_POS: return x > 0;
    case NB__YR_NONNEG: return x >= 0;
    case NB__YR_UNIT_CO: return x >= 0 && x < 1;
    case NB__YR_UNIT_OO: return x > 0 && x < 1;
    case NB__YR_UNIT_OC: return x > 0 && x <= 1;
    case NB__YR_UNIT_CC: return x >= 0 && x <= 1;
    default: return true;
    }
}

/* In nb__yrange's order. */
static const char *const range_text[] = {"finite", "> 0", ">= 0", "in [0, 1)", "in (0, 1)",
                                         "in (0, 1]", "in [0, 1]"};

/* A finite number (integers welcome) in the range. */
bool nb__yto_float(nb__yctx *c, const nb__yv *v, const char *key, const char *where,
                   nb__yrange r, double *out)
{
    char *end = NULL;
    double x = 0;
    if (v->kind == NB__YV_SCALAR && v->plain && *v->s) {
        errno = 0;
        x = strtod(v->s, &end);
    }
    if (!end || *end || errno || !isfinite(x))
        return nb__ytype_error(c, v, key, where, "a number");
    if (!in_range(x, r))
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key '%s' %s: %g is out of range; it "
                            "must be %s", key, where, x, range_text[r]);
    *out = x;
    return true;
}

bool nb__yto_bool(nb__yctx *c, const nb__yv *v, const char *key, const char *where, bool *out)
{
    static const char *const t[] = {"true", "True", "TRUE"}, *const f[] = {"false", "False", "FALSE"};
    for (int i = 0; v->kind == NB__YV_SCALAR && v->plain && i < 3; i++)
        if (!strcmp(v->s, t[i]) || !strcmp(v->s, f[i])) {
            *out = !strcmp(v->s, t[i]);
            return true;
        }
    return nb__ytype_error(c, v, key, where, "true or false");
}

/* A string owned by the model file. */
bool nb__yto_str(nb__yctx *c, const nb__yv *v, const char *key, const char *where,
                 const char **out)
{
    if (v->kind != NB__YV_SCALAR || nb__yis_null(v))
        return nb__ytype_error(c, v, key, where, "a string");
    return (*out = nb__ypool_str(c, v->s)) != NULL;
}

/* A node or input name: 1..63 letters, digits, '_', '-' or '.'. */
bool nb__yto_name(nb__yctx *c, const nb__yv *v, const char *key, const char *where,
                  const char **out)
{
    if (v->kind != NB__YV_SCALAR || nb__yis_null(v))
        return nb__ytype_error(c, v, key, where, "a name");
    size_t n = strlen(v->s);
    bool ok = n > 0 && n < NB__YAML_NAME_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)v->s[i]) || strchr("_-.", v->s[i]);
    if (!ok)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key '%s' %s: '%.40s' is not a valid "
                            "name (1 to %d letters, digits, '_', '-' or '.')", key, where, v->s,
                            NB__YAML_NAME_MAX - 1);
    return (*out = nb__ypool_str(c, v->s)) != NULL;
}

/* The position of a word among names (a NULL-terminated list), or -1 with
 * "<what> 'x' is unknown; did you mean 'y'?" recorded. */
int nb__ylookup(nb__yctx *c, const nb__yv *v, const char *what, const char *const *names)
{
    if (v->kind != NB__YV_SCALAR || nb__yis_null(v)) {
        char b[80];
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "expected %s name, got %s", what,
                            nb__ygot(v, b, sizeof b)), -1;
    }
    for (int i = 0; names[i]; i++)
        if (!strcmp(v->s, names[i]))
            return i;
    char h[300];
    return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "%s '%.60s' is unknown%s", what, v->s,
                        hint(v->s, names, NULL, h, sizeof h)), -1;
}

/*
 * Every key of the mapping must be in `known` or `more` (either may be
 * NULL): else "key 'filtres' is unknown in conv2d; did you mean 'filters'?".
 * `where` reads after the key: "in conv2d", "at the top level".
 */
bool nb__ycheck_keys(nb__yctx *c, const nb__yv *map, const char *where,
                     const char *const *known, const char *const *more)
{
    for (int i = 0; i < nb__ypairs(map); i++) {
        const char *k = NB__YKEY(map, i)->s;
        bool found = false;
        for (int l = 0; l < 2 && !found; l++)
            for (const char *const *p = l ? more : known; p && *p && !found; p++)
                found = !strcmp(*p, k);
        if (!found) {
            char h[300];
            return nb__yfail(c, NB_ERR_ARG, NB__YKEY(map, i)->line, NB__YKEY(map, i)->col,
                                "key '%.60s' is unknown %s%s", k, where,
                                hint(k, known, more, h, sizeof h));
        }
    }
    return true;
}

bool nb__ywant_map(nb__yctx *c, const nb__yv *v, const char *key, const char *where)
{
    return v->kind == NB__YV_MAP ? true : nb__ytype_error(c, v, key, where, "a mapping");
}

/*
 * A choice written as a word or as a one-key mapping holding its options:
 * `sgd` or `{sgd: {lr: 0.1}}`. *opts is the options mapping or NULL.
 */
bool nb__yone_key(nb__yctx *c, const nb__yv *v, const char *key, const char *example,
                  const nb__yv **word, const nb__yv **opts)
{
    *opts = NULL;
    if (v->kind == NB__YV_SCALAR && !nb__yis_null(v)) {
        *word = v;
        return true;
    }
    if (v->kind != NB__YV_MAP || nb__ypairs(v) != 1) {
        char b[80];
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key '%s': expected a name or a "
                            "one-key mapping such as %s, got %s", key, example,
                            v->kind == NB__YV_MAP ? "a mapping with several keys"
                                                  : nb__ygot(v, b, sizeof b));
    }
    *word = NB__YKEY(v, 0);
    *opts = nb__yis_null(NB__YVAL(v, 0)) ? NULL : NB__YVAL(v, 0);
    if (*opts && (*opts)->kind != NB__YV_MAP)
        return nb__yfail(c, NB_ERR_ARG, (*opts)->line, (*opts)->col, "the options of %s '%s' "
                            "must be a mapping, as in %s", key, (*word)->s, example);
    return true;
}

