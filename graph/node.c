/*
 * node.c — making nodes and reading them back: the single constructor every
 * builder goes through (input checks, shape rule, naming), and accessors.
 */
#include <stdio.h>
#include <string.h>

#include "graph_internal.h"

/* Appends n to g->nodes, growing the list; false when memory ran out. */
static bool append(nb_graph *g, nb_node *n)
{
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? 2 * g->cap_nodes : 64;
        nb_node **p = nb__realloc(g, g->nodes, (size_t)g->cap_nodes * sizeof *p,
                                  (size_t)cap * sizeof *p, "the node list");
        if (!p)
            return false;
        g->nodes = p;
        g->cap_nodes = cap;
    }
    n->id = g->n_nodes;
    g->nodes[g->n_nodes++] = n;
    return true;
}

static nb_node *node_alloc(nb_graph *g, nb_node_kind kind, const nb_op_def *op)
{
    nb_node *n = nb__arena(g, sizeof *n);
    if (!n)
        return NULL;
    n->kind = kind;
    n->op = op;
    n->g = g;
    n->flags = g->building_backward ? NB__NODE_BACKWARD : 0;
    n->scope = g->scope_depth ? g->scopes[g->scope_depth - 1] : NULL;
    return n;
}

/* Refuses a NULL input (keeping an earlier message, which names the cause)
 * and an input from another graph. */
static bool inputs_ok(nb_graph *g, const nb_op_def *op, nb_node *const *in, int n_in)
{
    if (op->arity >= 0 && n_in != op->arity)
        return nb_graph_fail(g, NB_ERR_ARG, "%s: takes %d inputs, got %d", op->name, op->arity,
                             n_in), false;
    if (op->arity < 0 && n_in < 1)
        return nb_graph_fail(g, NB_ERR_ARG, "%s: needs at least one input", op->name), false;
    if (n_in > 0 && !in)
        return nb_graph_fail(g, NB_ERR_ARG, "%s: input list is NULL", op->name), false;
    for (int i = 0; i < n_in; i++) {
        if (!in[i])
            return nb_graph_fail(g, NB_ERR_ARG, "%s: input %d is NULL", op->name, i), false;
        if (in[i]->g != g)
            return nb_graph_fail(g, NB_ERR_ARG, "%s: input %d belongs to another graph", op->name,
                                 i), false;
    }
    return true;
}

/* Whether shape s (dimensions >= 1) holds at most NB_MAX_NUMEL elements;
 * checked before each product, so it never overflows. */
static bool numel_ok(nb_shape s)
{
    int64_t n = 1;
    for (int i = 0; i < s.rank; i++) {
        if (s.dim[i] > NB_MAX_NUMEL / n)
            return false;
        n *= s.dim[i];
    }
    return true;
}

nb_node *nb__node_new(nb_graph *g, const nb_op_def *op, nb_node *const *in, int n_in,
                      const nb_attrs *attrs)
{
    if (!g || !op || !inputs_ok(g, op, in, n_in))
        return NULL;
    nb_node *n = node_alloc(g, NB_NODE_OP, op);
    nb_node **ins = n && n_in ? nb__arena(g, (size_t)n_in * sizeof *ins) : NULL;
    if (!n || (n_in && !ins))
        return NULL;
    memcpy(ins, in, (size_t)n_in * sizeof *ins);
    n->in = ins;
    n->n_in = n_in;
    if (attrs)
        n->attrs = *attrs;
    nb_shape s = {0};
    if (op->shape(g, n, &s) != NB_OK) {
        /* A rule that refused without saying why still leaves a message. */
        nb_graph_fail(g, NB_ERR_SHAPE, "%s: shape rule refused its inputs", op->name);
        return NULL;
    }
    if (s.rank < 0 || s.rank > NB_MAX_RANK)
        return nb_graph_fail(g, NB_ERR_SHAPE, "%s: result rank %d is outside 0..%d", op->name,
                             s.rank, NB_MAX_RANK), NULL;
    for (int i = 0; i < s.rank; i++)
        if (s.dim[i] <= 0)
            return nb_graph_fail(g, NB_ERR_SHAPE, "%s: result dimension %d is %lld (must be > 0)",
                                 op->name, i, (long long)s.dim[i]), NULL;
    if (!numel_ok(s)) {
        char b[200];
        return nb_graph_fail(g, NB_ERR_SHAPE, "%s: result shape %s holds more than 2^40 "
                             "elements", op->name, nb_shape_format(s, b, sizeof b)), NULL;
    }
    n->shape = s;
    return append(g, n) ? n : NULL;
}

/* ---------------------------------------------------------------- leaves */

nb_node *nb__leaf_new(nb_graph *g, nb_node_kind kind, const char *name, nb_shape shape)
{
    static const char *kinds[] = {"input", "param", "const"};
    if (!g)
        return NULL;
    if (shape.rank < 0 || shape.rank > NB_MAX_RANK)
        return nb_graph_fail(g, NB_ERR_SHAPE, "%s%s%s: rank %d is outside 0..%d", kinds[kind],
                             name ? " " : "", name ? name : "", shape.rank, NB_MAX_RANK), NULL;
    for (int i = 0; i < shape.rank; i++)
        if (shape.dim[i] <= 0) {
            char b[128];
            return nb_graph_fail(g, NB_ERR_SHAPE, "%s%s%s: shape %s has a dimension <= 0",
                                 kinds[kind], name ? " " : "", name ? name : "",
                                 nb_shape_format(shape, b, sizeof b)), NULL;
        }
    if (!numel_ok(shape)) {
        char b[200];
        return nb_graph_fail(g, NB_ERR_SHAPE, "%s%s%s: shape %s holds more than 2^40 elements",
                             kinds[kind], name ? " " : "", name ? name : "",
                             nb_shape_format(shape, b, sizeof b)), NULL;
    }
    nb_node *n = node_alloc(g, kind, nb__leaf_op(kind));
    if (!n)
        return NULL;
    n->shape = shape;
    if (name && !nb_name(n, name))
        return NULL;
    return append(g, n) ? n : NULL;
}

/* ---------------------------------------------------------------- names */

/* Under reuse, a name another build already took gets the first free
 * suffix ("x" → "x_2"): each build has its own inputs and outputs, while
 * parameters are found by their unsuffixed names. */
static bool uniquify(nb_graph *g, char *full, size_t size)
{
    size_t len = strlen(full);
    for (int k = 2; k < 100000; k++) {
        snprintf(full + len, size - len, "_%d", k);
        if (!nb_graph_find(g, full))
            return true;
    }
    return false;
}

nb_node *nb_name(nb_node *n, const char *name)
{
    if (!n)
        return NULL;
    nb_graph *g = n->g;
    if (!name || !*name)
        return nb_graph_fail(g, NB_ERR_ARG, "name: empty name for %s#%d", n->op->name, n->id),
               NULL;
    size_t len = (n->scope ? strlen(n->scope) + 1 : 0) + strlen(name) + 16;
    char *full = nb__arena(g, len);
    if (!full)
        return NULL;
    snprintf(full, len, "%s%s%s", n->scope ? n->scope : "", n->scope ? "/" : "", name);
    nb_node *other = nb_graph_find(g, full);
    if (other && other != n && !(g->reuse && n->kind != NB_NODE_PARAM && uniquify(g, full, len)))
        return nb_graph_fail(g, NB_ERR_ARG, "name: '%s' is already taken by a %s node", full,
                             other->op->name), NULL;
    n->name = full;
    return n;
}

const char *nb_node_label(const nb_node *n, char *buf, size_t size)
{
    if (!n)
        snprintf(buf, size, "(null)");
    else if (n->name)
        snprintf(buf, size, "%s", n->name);
    else
        snprintf(buf, size, "%s%s%s#%d", n->scope ? n->scope : "", n->scope ? "/" : "",
                 n->op->name, n->id);
    return buf;
}

const char *nb__describe(const nb_node *n, char *buf, size_t size)
{
    char label[160], shape[128];
    nb_node_label(n, label, sizeof label);
    snprintf(buf, size, "'%s' %s", label, n ? nb_shape_format(n->shape, shape, sizeof shape) : "");
    return buf;
}

/* ---------------------------------------------------------------- accessors */

const char *nb_node_name(const nb_node *n) { return n ? n->name : NULL; }
const char *nb_node_scope(const nb_node *n) { return n ? n->scope : NULL; }
const char *nb_node_op(const nb_node *n) { return n ? n->op->name : NULL; }
nb_node_kind nb_node_kind_of(const nb_node *n) { return n ? n->kind : NB_NODE_OP; }
nb_shape nb_node_shape(const nb_node *n) { return n ? n->shape : NB_SCALAR; }
int nb_node_id(const nb_node *n) { return n ? n->id : -1; }
int nb_node_num_inputs(const nb_node *n) { return n ? n->n_in : 0; }
const nb_attrs *nb_node_attrs(const nb_node *n) { return n ? &n->attrs : NULL; }
bool nb_node_is_backward(const nb_node *n) { return n && (n->flags & NB__NODE_BACKWARD); }

nb_node *nb_node_input(const nb_node *n, int i)
{
    return n && i >= 0 && i < n->n_in ? n->in[i] : NULL;
}

float *nb_param_data(nb_node *p)
{
    if (!p || p->kind != NB_NODE_PARAM)
        return NULL;
    return p->placed ? p->placed : p->g->param_data + p->param_off;
}

/* The graph's own memory for the parameter stays reserved while it is
 * placed (a later nb_param_place(p, NULL) returns to it); every runtime
 * sees the move through param_moves and binds its steps again. */
nb_status nb_param_place(nb_node *p, float *buf)
{
    if (!p)
        return NB_ERR_ARG;
    if (p->kind != NB_NODE_PARAM) {
        char b[300];
        return nb_graph_fail(p->g, NB_ERR_ARG, "param_place: %s is not a parameter",
                             nb__describe(p, b, sizeof b));
    }
    if (p->placed != buf) {
        p->placed = buf;
        p->g->param_moves++;
        p->g->param_stamp++;
    }
    return NB_OK;
}

const float *nb_constant_data(const nb_node *c)
{
    return c && c->kind == NB_NODE_CONST ? c->data : NULL;
}
