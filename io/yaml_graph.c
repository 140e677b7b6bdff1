/*
 * yaml_graph.c — what the nodes: form needs to hold any graph built in C
 * (docs/model-format.md, "graphs written from C"), apart from the core
 * grammar in yaml_model.c:
 *
 *   - scoped names: "block1/conv2d1" is node conv2d1 built inside scope
 *     block1, so a layer's parameters come out as block1/conv2d1/w;
 *   - anonymous nodes: a name whose last part ends in "#<digits>"
 *     ("block1/add#12") is only the file's handle on the node: the graph
 *     node is left unnamed, as the C builder left it;
 *   - `param` nodes (a parameter by its full name and shape, its values
 *     from the weights file) and `constant` nodes (values written out);
 *   - the targets `y` declared among the inputs, so they are made where a
 *     C model made them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io_internal.h"
#include "yaml_values.h"

#define SCOPED_NAME_MAX 192  /* bytes of a scoped name, every part included */

/* ---------------------------------------------------------------- names */

/* One part of a scoped name: letters, digits, '_', '-', '.'; the last part
 * may end in '#' and digits. */
static bool part_ok(const char *s, size_t n, bool last)
{
    const char *hash = last ? memchr(s, '#', n) : NULL;
    size_t body = hash ? (size_t)(hash - s) : n;
    if (body == 0 || (hash && (size_t)(hash - s) + 1 == n))
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool word = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || strchr("_-.", ch);
        bool digit = ch >= '0' && ch <= '9';
        if (i < body ? !word || ch == '\0' : i > body && !digit)
            return false;
    }
    return true;
}

bool nb__yto_node_name(nb__yctx *c, const nb__yv *v, const char *key, const char *where,
                       const char **out)
{
    if (v->kind != NB__YV_SCALAR || nb__yis_null(v))
        return nb__ytype_error(c, v, key, where, "a name");
    size_t n = strlen(v->s);
    bool ok = n > 0 && n < SCOPED_NAME_MAX;
    for (const char *p = v->s; ok;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        ok = part_ok(p, len, !slash);
        if (!slash)
            break;
        p = slash + 1;
    }
    if (!ok)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key '%s' %s: '%.60s' is not a valid "
                         "name (parts of letters, digits, '_', '-' or '.' joined by '/', the "
                         "last may end in '#' and digits; at most %d bytes)", key, where, v->s,
                         SCOPED_NAME_MAX - 1);
    return (*out = nb__ypool_str(c, v->s)) != NULL;
}

bool nb__yscope_enter(nb_graph *g, const char *name, nb__yscoped *s)
{
    *s = (nb__yscoped){.last = name};
    if (!name)
        return true;
    char part[SCOPED_NAME_MAX];
    for (const char *slash; (slash = strchr(s->last, '/')); s->last = slash + 1) {
        snprintf(part, sizeof part, "%.*s", (int)(slash - s->last), s->last);
        if (nb_scope_push(g, part) != NB_OK)
            return false;
        s->depth++;
    }
    const char *hash = strchr(s->last, '#');
    s->anonymous = hash != NULL;
    if (hash) {
        snprintf(s->buf, sizeof s->buf, "%.*s", (int)(hash - s->last), s->last);
        s->last = s->buf;
    }
    return true;
}

void nb__yscope_leave(nb_graph *g, nb__yscoped *s)
{
    for (; s->depth > 0; s->depth--)
        nb_scope_pop(g);
}

/* ---------------------------------------------------------------- param and constant */

bool nb__yto_values(nb__yctx *c, const nb__yv *v, const char *key, const char *where,
                    nb__yattrs *a)
{
    if (v->kind != NB__YV_SEQ || v->n < 1)
        return nb__ytype_error(c, v, key, where, "a list of numbers");
    float *x = nb__ypool_add(c, (size_t)v->n * sizeof *x);
    if (!x)
        return false;
    for (int i = 0; i < v->n; i++) {
        double d = 0;
        if (!nb__yto_float(c, v->kid[i], key, where, NB__YR_ANY, &d))
            return false;
        x[i] = (float)d;
    }
    a->values = x, a->n_values = v->n;
    return true;
}

bool nb__ycheck_leaf(nb__yctx *c, const nb__yv *at, const nb__ynode *n)
{
    int64_t numel = nb_shape_numel(n->a.shape);
    if (n->op == NB__Y_CONSTANT && n->a.n_values != numel)
        return nb__yfail(c, NB_ERR_ARG, at->line, at->col, "constant '%s': 'values' holds %lld "
                         "numbers and 'shape' asks for %lld", n->name ? n->name : "?",
                         (long long)n->a.n_values, (long long)numel);
    return true;
}

/* A parameter's fans for its initialiser: fan_out its last axis, fan_in
 * the rest (dense's [in, out] reads naturally). */
nb_node *nb__ybuild_leaf(nb_graph *g, const nb__ynode *n)
{
    const nb__yattrs *a = &n->a;
    if (n->op == NB__Y_CONSTANT)
        return nb_constant(g, a->shape, a->values);
    int64_t out = a->shape.rank ? a->shape.dim[a->shape.rank - 1] : 1;
    int64_t in = out ? nb_shape_numel(a->shape) / out : 1;
    nb_init init = a->init.kind == NB_INIT_DEFAULT ? (nb_init){.kind = NB_INIT_ZEROS} : a->init;
    return nb_param_init(g, n->name, a->shape, init, in, out);
}

/* ---------------------------------------------------------------- targets */

int nb__ytargets_input(const nb_model_file *m)
{
    for (int i = 1; i < m->n_inputs; i++)
        if (!strcmp(m->inputs[i].name, "y"))
            return i;
    return -1;
}

nb_node *nb__ytargets(nb_graph *g, const nb_model_file *m, nb_node *const *vals, nb_shape ys)
{
    int k = nb__ytargets_input(m);
    if (k < 0)
        return nb_input(g, "y", ys);
    nb_shape s = nb_node_shape(vals[k]);
    char a[128], b[128];
    if (nb_shape_equal(s, ys))
        return vals[k];
    nb_graph_fail(g, NB_ERR_SHAPE, "input 'y' (line %d) is %s; the loss reads targets %s",
                  m->inputs[k].line, nb_shape_format(s, a, sizeof a),
                  nb_shape_format(ys, b, sizeof b));
    return NULL;
}
