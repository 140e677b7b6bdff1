/*
 * yaml_tree.c — YAML text → the tree of yaml_tree.h: scalars, lists and
 * mappings, each tagged with its line and column (1-based).
 *
 * libyaml's event parser does the syntax; this file stacks the events into
 * a tree and refuses, at the event where it shows, what a model file never
 * needs and a hostile file could abuse: anchors and aliases (no expansion,
 * so no "billion laughs"), explicit tags (`!!python/object` and friends),
 * nesting deeper than 32, more than 100000 values, more than 256 keys in
 * one mapping, a second document, duplicate or non-scalar keys, a NUL
 * inside a value. The text is at most 1 MiB. Nothing here knows the model
 * grammar: yaml_model.c reads the tree against it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "yaml_tree.h"

/* ================================================================ errors */

/* Records the first problem in *e; returns false so callers can
 * `return fail…`. */
static bool fail(nb__yerror *e, nb_status st, int line, int col, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static bool fail(nb__yerror *e, nb_status st, int line, int col, const char *fmt, ...)
{
    if (e->status != NB_OK)
        return false;
    e->status = st;
    e->line = line;
    e->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return false;
}

/* ================================================================ the tree */

void nb__yv_free(nb__yv *v)
{
    if (!v)
        return;
    for (int i = 0; i < v->n; i++)
        nb__yv_free(v->kid[i]);
    nb_free(v->kid);
    nb_free(v->s);
    nb_free(v);
}

const nb__yv *nb__yget(const nb__yv *map, const char *key)
{
    if (!map || map->kind != NB__YV_MAP)
        return NULL;
    for (int i = 0; i < nb__ypairs(map); i++)
        if (!strcmp(NB__YKEY(map, i)->s, key))
            return NB__YVAL(map, i);
    return NULL;
}

const nb__yv *nb__ykey_of(const nb__yv *map, const char *key)
{
    for (int i = 0; map && map->kind == NB__YV_MAP && i < nb__ypairs(map); i++)
        if (!strcmp(NB__YKEY(map, i)->s, key))
            return NB__YKEY(map, i);
    return NULL;
}

bool nb__yis_null(const nb__yv *v)
{
    return !v || (v->kind == NB__YV_SCALAR && v->plain &&
                  (!*v->s || !strcmp(v->s, "~") || !strcmp(v->s, "null") ||
                   !strcmp(v->s, "Null") || !strcmp(v->s, "NULL")));
}

/* ================================================================ reading events */

/* The open collections, innermost last, and the counts the bounds watch. */
typedef struct reader {
    nb__yerror *err;
    nb__yv *stack[NB__YAML_MAX_DEPTH];
    int depth;
    nb__yv *root;
    long values;
    int docs;
} reader;

/* Refuses an anchor or an explicit tag on a value. */
static bool plain_props(reader *r, int line, int col, const yaml_char_t *anchor,
                        const yaml_char_t *tag)
{
    static const char core[] = "tag:yaml.org,2002:";
    if (anchor)
        return fail(r->err, NB_ERR_ARG, line, col,
                    "anchor '&%.40s' is not allowed: model files take no anchors or aliases; "
                    "write the value out", (const char *)anchor);
    if (tag) {
        const char *t = (const char *)tag;
        bool short_form = !strncmp(t, core, sizeof core - 1);
        return fail(r->err, NB_ERR_ARG, line, col,
                    "YAML tag '%s%.60s' is not allowed: model files take plain values only",
                    short_form ? "!!" : "", short_form ? t + sizeof core - 1 : t);
    }
    return true;
}

/* Appends v to the open collection (or makes it the root). A mapping's key
 * must be a scalar and new in that mapping. Takes ownership of v. */
static bool attach(reader *r, nb__yv *v)
{
    if (r->depth == 0) {
        r->root = v;
        return true;
    }
    nb__yv *p = r->stack[r->depth - 1];
    if (p->kind == NB__YV_MAP && p->n % 2 == 0) {
        const char *bad = v->kind != NB__YV_SCALAR
                              ? "keys must be plain words, not lists or mappings"
                          : nb__ypairs(p) >= NB__YAML_MAX_KEYS ? "a mapping has more than 256 keys"
                                                               : NULL;
        for (int i = 0; !bad && i < p->n; i += 2)
            if (!strcmp(p->kid[i]->s, v->s)) {
                fail(r->err, NB_ERR_ARG, v->line, v->col,
                     "key '%.60s' appears twice in this mapping (first at line %d)", v->s,
                     p->kid[i]->line);
                nb__yv_free(v);
                return false;
            }
        if (bad) {
            fail(r->err, NB_ERR_ARG, v->line, v->col, "%s", bad);
            nb__yv_free(v);
            return false;
        }
    }
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 8;
        nb__yv **k = nb_realloc(p->kid, (size_t)cap * sizeof *k);
        if (!k) {
            int line = v->line, col = v->col;
            nb__yv_free(v);
            return fail(r->err, NB_ERR_NOMEM, line, col, "out of memory for the items of a list "
                        "or mapping (%d)", cap);
        }
        p->kid = k;
        p->cap = cap;
    }
    p->kid[p->n++] = v;
    return true;
}

/* A new value at the event's position, counted against the bound. */
static nb__yv *value_new(reader *r, nb__yv_kind kind, int line, int col)
{
    if (++r->values > NB__YAML_MAX_VALUES)
        return fail(r->err, NB_ERR_ARG, line, col, "the file holds more than %d values",
                    NB__YAML_MAX_VALUES), NULL;
    nb__yv *v = nb_calloc(1, sizeof *v);
    if (!v)
        return fail(r->err, NB_ERR_NOMEM, line, col, "out of memory for a value"), NULL;
    *v = (nb__yv){.kind = kind, .line = line, .col = col};
    return v;
}

static bool on_scalar(reader *r, const yaml_event_t *e, int line, int col)
{
    const char *s = (const char *)e->data.scalar.value;
    size_t len = e->data.scalar.length;
    if (!plain_props(r, line, col, e->data.scalar.anchor, e->data.scalar.tag))
        return false;
    if (memchr(s, '\0', len))
        return fail(r->err, NB_ERR_ARG, line, col, "a value holds a NUL character");
    nb__yv *v = value_new(r, NB__YV_SCALAR, line, col);
    if (!v)
        return false;
    v->plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    v->s = nb_malloc(len + 1);
    if (!v->s) {
        nb__yv_free(v);
        return fail(r->err, NB_ERR_NOMEM, line, col, "out of memory for a text of %zu bytes",
                    len + 1);
    }
    memcpy(v->s, s, len);
    v->s[len] = '\0';
    return attach(r, v);
}

static bool on_open(reader *r, nb__yv_kind kind, const yaml_char_t *anchor,
                    const yaml_char_t *tag, int line, int col)
{
    if (!plain_props(r, line, col, anchor, tag))
        return false;
    if (r->depth == NB__YAML_MAX_DEPTH)
        return fail(r->err, NB_ERR_ARG, line, col, "lists and mappings nest deeper than %d levels",
                    NB__YAML_MAX_DEPTH);
    nb__yv *v = value_new(r, kind, line, col);
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
            return fail(r->err, NB_ERR_ARG, line, col,
                        "a second YAML document: a model file holds exactly one");
        return true;
    case YAML_ALIAS_EVENT:
        return fail(r->err, NB_ERR_ARG, line, col,
                    "alias '*%.40s' is not allowed: model files take no anchors or aliases; "
                    "write the value out", (const char *)e->data.alias.anchor);
    case YAML_SCALAR_EVENT:
        return on_scalar(r, e, line, col);
    case YAML_SEQUENCE_START_EVENT:
        return on_open(r, NB__YV_SEQ, e->data.sequence_start.anchor, e->data.sequence_start.tag,
                       line, col);
    case YAML_MAPPING_START_EVENT:
        return on_open(r, NB__YV_MAP, e->data.mapping_start.anchor, e->data.mapping_start.tag,
                       line, col);
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
static bool syntax_error(nb__yerror *e, const yaml_parser_t *p, const char *text, size_t len)
{
    if (p->error == YAML_MEMORY_ERROR)
        return fail(e, NB_ERR_NOMEM, 0, 0, "out of memory reading YAML");
    const char *problem = p->problem ? p->problem : "unreadable";
    if (p->error == YAML_READER_ERROR) {
        int line = 1, col = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++, col++)
            if (text[i] == '\n')
                line++, col = 0;
        return fail(e, NB_ERR_ARG, line, col, "not valid YAML: %s", problem);
    }
    if (p->context)
        return fail(e, NB_ERR_ARG, (int)p->problem_mark.line + 1,
                    (int)p->problem_mark.column + 1, "not valid YAML: %s %s (from line %d)",
                    problem, p->context, (int)p->context_mark.line + 1);
    return fail(e, NB_ERR_ARG, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
                "not valid YAML: %s", problem);
}

nb_status nb__yread_tree(const char *text, size_t len, nb__yv **root, nb__yerror *e)
{
    *root = NULL;
    *e = (nb__yerror){.status = NB_OK};
    if (len > NB__YAML_MAX_BYTES)
        return fail(e, NB_ERR_ARG, 0, 0, "the text is %zu bytes; a model file is at most 1 MiB",
                    len), e->status;
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return fail(e, NB_ERR_NOMEM, 0, 0, "out of memory for the YAML parser"), e->status;
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    reader r = {.err = e};
    bool done = false;
    while (!done && e->status == NB_OK) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            syntax_error(e, &p, text, len);
            break;
        }
        on_event(&r, &ev);
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    if (e->status != NB_OK)
        nb__yv_free(r.root);
    else
        *root = r.root;
    return e->status;
}
