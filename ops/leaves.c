/*
 * leaves.c — inputs, parameters and constants: the nodes values enter by.
 * Their kernels do nothing: the runtime points their buffers at the values.
 */
#include <string.h>

#include "ops_internal.h"

nb_status nb__leaf_shape(nb_graph *g, const nb_node *n, nb_shape *out)
{
    (void)g;
    *out = n->shape;
    return NB_OK;
}

void nb__leaf_forward(const nb_node *n, const float *const *in, float *out)
{
    (void)n, (void)in, (void)out;
}

nb_status nb__leaf_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    (void)g, (void)n, (void)dy, (void)dx;
    return NB_OK;
}

nb_node *nb_input(nb_graph *g, const char *name, nb_shape shape)
{
    if (g && (!name || !*name))
        return nb_graph_fail(g, NB_ERR_ARG, "input: needs a name"), NULL;
    return nb__leaf_new(g, NB_NODE_INPUT, name, shape);
}

nb_node *nb_param(nb_graph *g, const char *name, nb_shape shape, const float *init)
{
    if (g && (!name || !*name))
        return nb_graph_fail(g, NB_ERR_ARG, "param: needs a name"), NULL;
    nb_node *p = nb__leaf_new(g, NB_NODE_PARAM, name, shape);
    if (!p)
        return NULL;
    size_t n = (size_t)nb_shape_numel(shape);
    size_t off = nb__param_reserve(g, n);
    if (off == (size_t)-1) {
        g->n_nodes--; /* the node was the last appended: take it back */
        return NULL;
    }
    p->param_off = off;
    if (init)
        memcpy(g->param_data + off, init, n * sizeof(float));
    else
        memset(g->param_data + off, 0, n * sizeof(float));
    return p;
}

nb_node *nb_constant(nb_graph *g, nb_shape shape, const float *values)
{
    if (g && !values)
        return nb_graph_fail(g, NB_ERR_ARG, "constant: values are NULL"), NULL;
    nb_node *c = nb__leaf_new(g, NB_NODE_CONST, NULL, shape);
    if (!c)
        return NULL;
    size_t n = (size_t)nb_shape_numel(shape);
    c->data = nb__arena(g, n * sizeof(float));
    if (!c->data) {
        g->n_nodes--;
        return NULL;
    }
    memcpy(c->data, values, n * sizeof(float));
    return c;
}

nb_node *nb_full(nb_graph *g, nb_shape shape, float v)
{
    nb_node *c = nb__leaf_new(g, NB_NODE_CONST, NULL, shape);
    if (!c)
        return NULL;
    int64_t n = nb_shape_numel(shape);
    c->data = nb__arena(g, (size_t)n * sizeof(float));
    if (!c->data) {
        g->n_nodes--;
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        c->data[i] = v;
    return c;
}

nb_node *nb_scalar(nb_graph *g, float v)
{
    return nb_full(g, NB_SCALAR, v);
}
