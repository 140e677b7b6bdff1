/*
 * one_hot.c — class indices into rows of 0s and a 1: the op through which a
 * class label enters a loss. Its values are known only when the graph runs,
 * so besides its kernel the op has a value check the runtime calls first: a
 * label that is not an integer in 0…C−1 (which would match no column and
 * silently teach nothing) stops the run with the value and its row.
 *
 * Attributes: i[0] = C, the number of classes; i[1] = 1 + the id of the
 * node whose C columns the classes are (the logits), 0 for none. That node
 * is not an input: it is named in messages and found by nb_node_classes,
 * and adds no edge for autodiff to follow.
 */
#include <math.h>
#include <stdio.h>

#include "ops_internal.h"

/* Labels are floats: integers are exact up to 2^24. */
#define MAX_CLASSES ((int64_t)1 << 24)

/* labels [N] → [N, C]. */
nb_status nb__one_hot_shape(nb_graph *g, const nb_node *n, nb_shape *out)
{
    const nb_node *x = n->in[0];
    int64_t c = n->attrs.i[0];
    char d[300];
    if (c < 1 || c > MAX_CLASSES)
        return nb_graph_fail(g, NB_ERR_ARG, "one_hot: %lld classes for %s is outside 1..%lld",
                             (long long)c, nb__describe(x, d, sizeof d), (long long)MAX_CLASSES);
    if (x->shape.rank != 1)
        return nb_graph_fail(g, NB_ERR_SHAPE, "one_hot: labels %s must be [N], one class index "
                             "per example", nb__describe(x, d, sizeof d));
    *out = NB_SHAPE(x->shape.dim[0], c);
    return NB_OK;
}

/* out [N, C]: row i is 1 at column labels[i]. A label the check would refuse
 * leaves its row 0 (the runtime never gets here with one). */
void nb__one_hot_forward(const nb_node *n, const float *const *in, float *out)
{
    int64_t rows = n->in[0]->shape.dim[0], c = n->attrs.i[0];
    for (int64_t i = 0; i < rows * c; i++)
        out[i] = 0.0f;
    for (int64_t r = 0; r < rows; r++) {
        float v = in[0][r];
        if (v >= 0 && v < (float)c && v == floorf(v))
            out[r * c + (int64_t)v] = 1.0f;
    }
}

/* Piecewise constant in the labels: no gradient flows. */
nb_status nb__one_hot_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    (void)g, (void)n, (void)dy, (void)dx;
    return NB_OK;
}

/* The node the classes belong to, or NULL. */
static const nb_node *scores_of(const nb_node *n)
{
    int64_t id = n->attrs.i[1] - 1;
    return id >= 0 && id < n->g->n_nodes ? n->g->nodes[id] : NULL;
}

/* A node as users know it: its name, else its layer ("logits"), else its
 * label ("add#12"). */
static const char *user_name(const nb_node *n, char *buf, size_t size)
{
    if (!n->name && n->scope)
        snprintf(buf, size, "%s", n->scope);
    else
        nb_node_label(n, buf, size);
    return buf;
}

/* Refuses the first label that is not an integer in 0…C−1, naming its value,
 * its row (the example, counted from 0) and the scores' width. */
nb_status nb__one_hot_check(const nb_node *n, const float *const *in, char *msg, size_t size)
{
    int64_t rows = n->in[0]->shape.dim[0], c = n->attrs.i[0], r = 0;
    while (r < rows && in[0][r] >= 0 && in[0][r] < (float)c && in[0][r] == floorf(in[0][r]))
        r++;
    if (r == rows)
        return NB_OK;
    const nb_node *s = scores_of(n);
    char whose[200] = "", name[160];
    if (s)
        snprintf(whose, sizeof whose, " (the output '%s' has %lld units)",
                 user_name(s, name, sizeof name), (long long)c);
    else
        snprintf(whose, sizeof whose, " (%lld classes)", (long long)c);
    float v = in[0][r];
    if (isfinite(v) && v == floorf(v))
        snprintf(msg, size, "label %.9g of example %lld is outside 0…%lld%s", (double)v,
                 (long long)r, (long long)c - 1, whose);
    else
        snprintf(msg, size, "label %.9g of example %lld is not a class index (an integer in "
                 "0…%lld)%s", (double)v, (long long)r, (long long)c - 1, whose);
    return NB_ERR_ARG;
}

nb_node *nb_one_hot(nb_graph *g, nb_node *labels, int64_t classes, const nb_node *scores)
{
    if (!g)
        return NULL;
    if (scores && scores->g != g)
        return nb_graph_fail(g, NB_ERR_ARG, "one_hot: the scores node belongs to another "
                             "graph"), NULL;
    nb_attrs a = {.i = {classes, scores ? (int64_t)scores->id + 1 : 0}};
    return nb__node_new(g, NB__OP(ONE_HOT), &labels, 1, &a);
}

/* A view of `of` (reshapes all the way down), or `of` itself. */
static bool reads(const nb_node *x, const nb_node *of)
{
    while (x != of && x->kind == NB_NODE_OP && x->op == NB__OP(RESHAPE))
        x = x->in[0];
    return x == of;
}

int64_t nb_node_classes(const nb_node *labels, const nb_node **scores)
{
    int64_t best = 0;
    if (scores)
        *scores = NULL;
    if (!labels)
        return 0;
    const nb_graph *g = labels->g;
    for (int i = labels->id + 1; i < g->n_nodes; i++) {
        const nb_node *n = g->nodes[i];
        if (n->op != NB__OP(ONE_HOT) || !reads(n->in[0], labels) ||
            (best && n->attrs.i[0] >= best))
            continue;
        best = n->attrs.i[0];
        if (scores)
            *scores = scores_of(n);
    }
    return best;
}
