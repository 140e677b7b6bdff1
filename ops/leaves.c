/*
 * leaves.c — inputs, parameters and constants: the nodes values enter by.
 * Their kernels do nothing: the runtime points their buffers at the values.
 */
#include <stdio.h>
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
    if (!nb__list_push(g, &g->params, &g->n_params, &g->cap_params, p)) {
        g->n_nodes--;
        g->n_param -= n;
        return NULL;
    }
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

/* Under reuse, the parameter already made under this full name, after
 * checking its shape; NULL (no error) when there is none. */
static nb_node *reused(nb_graph *g, const char *name, nb_shape shape, bool *refused)
{
    *refused = false;
    if (!g->reuse)
        return NULL;
    const char *scope = g->scope_depth ? g->scopes[g->scope_depth - 1] : NULL;
    char full[512];
    snprintf(full, sizeof full, "%s%s%s", scope ? scope : "", scope ? "/" : "", name);
    nb_node *p = nb_graph_find(g, full);
    if (!p)
        return NULL;
    char a[300], b[128];
    if (p->kind != NB_NODE_PARAM || !nb_shape_equal(p->shape, shape)) {
        *refused = true;
        nb_graph_fail(g, NB_ERR_SHAPE, "param: reusing %s as a parameter of shape %s",
                      nb__describe(p, a, sizeof a), nb_shape_format(shape, b, sizeof b));
        return NULL;
    }
    return p;
}

nb_node *nb_param_init(nb_graph *g, const char *name, nb_shape shape, nb_init init,
                       int64_t fan_in, int64_t fan_out)
{
    if (!g)
        return NULL;
    if (!name || !*name)
        return nb_graph_fail(g, NB_ERR_ARG, "param: needs a name"), NULL;
    bool refused;
    nb_node *p = reused(g, name, shape, &refused);
    if (p || refused)
        return p;
    p = nb_param(g, name, shape, NULL);
    if (p)
        nb_init_fill(init, nb_param_data(p), nb_shape_numel(shape), fan_in, fan_out, &g->rng);
    return p;
}

void nb_param_set_trainable(nb_node *param, bool trainable)
{
    if (!param || param->kind != NB_NODE_PARAM)
        return;
    unsigned flags = trainable ? param->flags & ~NB__NODE_FROZEN : param->flags | NB__NODE_FROZEN;
    param->g->param_stamp += flags != param->flags;
    param->flags = flags;
}

bool nb_param_trainable(const nb_node *param)
{
    return param && param->kind == NB_NODE_PARAM && !(param->flags & NB__NODE_FROZEN);
}

nb_node *nb_noise(nb_graph *g, nb_shape shape)
{
    nb_node *n = nb__leaf_new(g, NB_NODE_INPUT, NULL, shape);
    if (n)
        n->flags |= NB__NODE_NOISE;
    return n;
}

bool nb_node_is_noise(const nb_node *n)
{
    return n && (n->flags & NB__NODE_NOISE);
}
