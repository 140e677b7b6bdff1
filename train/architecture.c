/*
 * architecture.c — a model's architecture as text, so that a checkpoint can
 * say which model wrote it and a resume can refuse a different one.
 *
 * The model function builds the model twice into a graph of its own, in
 * training mode: at batch 2, then, sharing the parameters, at batch 3. The
 * first build's forward nodes (those its loss and output depend on) are
 * listed in creation order, one line each, with constants and parameters
 * written where they are read:
 *
 *   x = input [N,2]
 *   dense1/matmul = matmul(x, dense1/w[2,8]) [N,8]
 *   dense1/add = add(#1, dense1/b[8]) [N,8]
 *   dense1/max = max(#2, 0) [N,8]
 *
 * "#k" is line k (0-based). A number that differs between the two builds
 * follows the batch and is written in terms of N ("N", "3N", "1/N"), so
 * shapes and the attributes that hold shapes (reshape's target) read the
 * same for any batch. Two models with the same text compute the same
 * function of parameters with the same names and shapes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train_internal.h"
#include "../graph/text.h"

/* ---------------------------------------------------------------- text */

/* A value that is a at batch 2 and b at batch 3: a·N + d when it follows
 * the batch (a linear function of it), else the number itself. */
static void put_value(nb__text *t, int64_t a, int64_t b)
{
    int64_t c = b - a, d = a - 2 * c;
    if (c == 0)
        nb__put(t, "%lld", (long long)a);
    else {
        if (c != 1)
            nb__put(t, "%lld", (long long)c);
        nb__put(t, "N");
        if (d != 0)
            nb__put(t, "%+lld", (long long)d);
    }
}

/* "[2,N]": a's shape, with b's telling which dimensions follow the batch. */
static void put_shape(nb__text *t, nb_shape a, nb_shape b)
{
    bool same = a.rank == b.rank;
    nb__put(t, "[");
    for (int i = 0; i < a.rank; i++) {
        if (i)
            nb__put(t, ",");
        put_value(t, a.dim[i], same ? b.dim[i] : a.dim[i]);
    }
    nb__put(t, "]");
}

/* ---------------------------------------------------------------- walking */

/* One build's forward nodes: those out1 and out2 depend on, apart from
 * parameters and constants, by creation order; at[id] is a node's line. */
typedef struct listing {
    nb_node **node;
    int n;
    int *at;
} listing;

static void listing_free(listing *l)
{
    nb_free(l->node);
    nb_free(l->at);
}

static bool listed(nb_node *n)
{
    nb_node_kind k = nb_node_kind_of(n);
    return k != NB_NODE_PARAM && k != NB_NODE_CONST;
}

/* Marks what out1 and out2 depend on (a depth-first walk with an explicit
 * stack) and lists it; false when memory ran out. */
static bool list_build(nb_graph *g, nb_node *out1, nb_node *out2, listing *l)
{
    int count = nb_graph_node_count(g), top = 0;
    l->at = nb_malloc((size_t)count * sizeof *l->at);
    l->node = nb_malloc((size_t)count * sizeof *l->node);
    nb_node **stack = nb_malloc((size_t)count * 2 * sizeof *stack);
    if (!l->at || !l->node || !stack) {
        nb_free(stack);
        return false;
    }
    for (int i = 0; i < count; i++)
        l->at[i] = -2; /* not reached */
    stack[top++] = out1;
    stack[top++] = out2;
    while (top > 0) {
        nb_node *n = stack[--top];
        int id = nb_node_id(n);
        if (!n || id < 0 || id >= count || l->at[id] != -2)
            continue;
        l->at[id] = -1; /* reached, line not yet known */
        for (int i = 0; i < nb_node_num_inputs(n) && top < 2 * count; i++)
            stack[top++] = nb_node_input(n, i);
    }
    nb_free(stack);
    for (int id = 0; id < count; id++) {
        nb_node *n = nb_graph_node(g, id);
        if (l->at[id] == -1 && n && nb_node_id(n) == id && listed(n)) {
            l->at[id] = l->n;
            l->node[l->n++] = n;
        }
    }
    return true;
}

/* ---------------------------------------------------------------- lines */

/* What a line calls node n: its name, else "<scope>/<op>", else the op. */
static void put_label(nb__text *t, nb_node *n)
{
    const char *name = nb_node_name(n), *scope = nb_node_scope(n);
    if (name && *name)
        nb__put(t, "%s", name);
    else if (scope && *scope)
        nb__put(t, "%s/%s", scope, nb_node_op(n));
    else
        nb__put(t, "%s", nb_node_op(n));
}

/* A scalar constant: its value, or "1/N" for a mean's 1/batch (a at
 * batch 2, *b at batch 3), or "v@2" for another value that follows the batch. */
static void put_scalar(nb__text *t, float a, const float *b)
{
    if (!b || *b == a)
        nb__put(t, "%.9g", (double)a);
    else if (a == 0.5f && *b == 1.0f / 3)
        nb__put(t, "1/N");
    else
        nb__put(t, "%.9g@2", (double)a);
}

/* An input of a node as the line shows it: a listed node by its line, a
 * parameter by name and shape, a scalar constant by value, another
 * constant by its shape. */
static void put_arg(nb__text *t, const listing *la, nb_node *a, nb_node *b)
{
    nb_node_kind k = nb_node_kind_of(a);
    nb_shape s = nb_node_shape(a);
    if (k == NB_NODE_PARAM) {
        nb__put(t, "%s", nb_node_name(a) ? nb_node_name(a) : "(unnamed parameter)");
        put_shape(t, s, s);
    } else if (k == NB_NODE_CONST && nb_shape_numel(s) == 1 && nb_constant_data(a)) {
        put_scalar(t, nb_constant_data(a)[0], b ? nb_constant_data(b) : NULL);
    } else if (k == NB_NODE_CONST) {
        nb__put(t, "const");
        put_shape(t, s, b ? nb_node_shape(b) : s);
    } else {
        nb__put(t, "#%d", la->at[nb_node_id(a)]);
    }
}

/* The attributes that are set, "{i0=1,f0=0.5}", with batch-following
 * values in terms of N. */
static void put_attrs(nb__text *t, nb_node *a, nb_node *b)
{
    const nb_attrs *x = nb_node_attrs(a), *y = b ? nb_node_attrs(b) : x;
    bool any = false;
    for (int i = 0; i < NB_MAX_ATTRS; i++)
        if (x->i[i] || y->i[i]) {
            nb__put(t, "%si%d=", any ? "," : " {", i);
            put_value(t, x->i[i], y->i[i]);
            any = true;
        }
    for (int i = 0; i < 4; i++)
        if (x->f[i] != 0) {
            nb__put(t, "%sf%d=%.9g", any ? "," : " {", i, (double)x->f[i]);
            any = true;
        }
    if (any)
        nb__put(t, "}");
}

/* Line k: node a of the first build, b its twin in the second (or NULL). */
static void put_line(nb__text *t, const listing *la, nb_node *a, nb_node *b)
{
    put_label(t, a);
    nb__put(t, " = %s", nb_node_op(a));
    if (nb_node_kind_of(a) == NB_NODE_OP) {
        nb__put(t, "(");
        for (int i = 0; i < nb_node_num_inputs(a); i++) {
            if (i)
                nb__put(t, ", ");
            put_arg(t, la, nb_node_input(a, i), b ? nb_node_input(b, i) : NULL);
        }
        nb__put(t, ")");
    }
    nb__put(t, " ");
    put_shape(t, nb_node_shape(a), b ? nb_node_shape(b) : nb_node_shape(a));
    if (nb_node_kind_of(a) == NB_NODE_OP)
        put_attrs(t, a, b);
    nb__put(t, "\n");
}

/* True when the two builds list the same ops with the same input counts:
 * then b says which numbers follow the batch. */
static bool twins(const listing *la, const listing *lb)
{
    if (la->n != lb->n)
        return false;
    for (int k = 0; k < la->n; k++)
        if (strcmp(nb_node_op(la->node[k]), nb_node_op(lb->node[k])) ||
            nb_node_num_inputs(la->node[k]) != nb_node_num_inputs(lb->node[k]))
            return false;
    return true;
}

/* ---------------------------------------------------------------- the API */

/* Builds the model at `batch` into g; false with err set when it fails. */
static bool build_at(nb_graph *g, nb_model_fn build, void *ud, int64_t batch, nb_model_io *io,
                     nb_error *err)
{
    nb_status st = build(g, batch, io, ud);
    if (st == NB_OK && nb_graph_status(g) == NB_OK && (io->loss || io->output))
        return true;
    if (st == NB_OK && nb_graph_status(g) == NB_OK)
        nb_error_set(err, NB_ERR_ARG, "architecture: the model left its loss and output unset");
    else
        nb_error_set(err, st != NB_OK ? st : nb_graph_status(g),
                     "architecture: building the model (batch %lld): %s", (long long)batch,
                     nb_graph_error(g));
    return false;
}

char *nb_model_architecture(nb_model_fn build, void *ud, nb_error *err)
{
    if (!build)
        return nb_error_set(err, NB_ERR_ARG, "architecture: no model function (NULL)"), NULL;
    nb_graph *g = nb_graph_new();
    nb_model_io a = {0}, b = {0};
    listing la = {0}, lb = {0};
    nb__text t = {0};
    bool ok = false;
    if (!g) {
        nb_error_set(err, NB_ERR_NOMEM, "architecture: out of memory for a graph");
        return NULL;
    }
    nb_graph_set_training(g, true);
    if (build_at(g, build, ud, 2, &a, err)) {
        nb_graph_set_reuse(g, true);
        if (build_at(g, build, ud, 3, &b, err)) {
            ok = list_build(g, a.loss, a.output, &la) && list_build(g, b.loss, b.output, &lb);
            nb__put(&t, "%s", ""); /* an empty listing is still a nb__text */
            bool twin = ok && twins(&la, &lb);
            for (int k = 0; ok && k < la.n; k++)
                put_line(&t, &la, la.node[k], twin ? lb.node[k] : NULL);
            if (!ok || t.nomem || !t.s)
                nb_error_set(err, NB_ERR_NOMEM, "architecture: out of memory for %s",
                             ok ? "the text" : "the list of nodes");
            ok = ok && !t.nomem && t.s;
        }
    }
    listing_free(&la);
    listing_free(&lb);
    nb_graph_free(g);
    if (!ok)
        nb_free(t.s);
    return ok ? t.s : NULL;
}
