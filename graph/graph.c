/*
 * graph.c — a graph's life: creation with an allocator, the node list,
 * lookup by name, scopes, and freeing everything at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

nb_graph *nb_graph_new_with_allocator(nb_alloc_fn alloc, void *ud)
{
    if (!alloc)
        return NULL;
    nb_graph *g = alloc(ud, NULL, 0, sizeof *g);
    if (!g)
        return NULL;
    memset(g, 0, sizeof *g);
    g->alloc = alloc;
    g->ud = ud;
    g->rng = nb_rng_seed(0);
    return g;
}

nb_graph *nb_graph_new(void)
{
    void *ud;
    nb_alloc_fn alloc = nb_get_allocator(&ud);
    return nb_graph_new_with_allocator(alloc, ud);
}

void nb_graph_free(nb_graph *g)
{
    if (!g)
        return;
    nb__free(g, g->nodes, (size_t)g->cap_nodes * sizeof *g->nodes);
    nb__free(g, g->param_data, g->cap_param * sizeof(float));
    nb__free(g, g->params, (size_t)g->cap_params * sizeof *g->params);
    nb__free(g, g->updates, (size_t)g->cap_updates * sizeof *g->updates);
    nb__free(g, g->layers, (size_t)g->cap_layers * sizeof *g->layers);
    nb__arena_free_all(g);
    g->alloc(g->ud, g, sizeof *g, 0);
}

int nb_graph_node_count(const nb_graph *g)
{
    return g ? g->n_nodes : 0;
}

nb_node *nb_graph_node(const nb_graph *g, int index)
{
    return g && index >= 0 && index < g->n_nodes ? g->nodes[index] : NULL;
}

nb_node *nb_graph_find(const nb_graph *g, const char *name)
{
    if (!g || !name)
        return NULL;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->name && strcmp(g->nodes[i]->name, name) == 0)
            return g->nodes[i];
    return NULL;
}

/* ---------------------------------------------------------------- scopes */

nb_status nb_scope_push(nb_graph *g, const char *name)
{
    if (!g)
        return NB_ERR_ARG;
    if (!name || !*name || strchr(name, '/'))
        return nb_graph_fail(g, NB_ERR_ARG, "scope: name must be non-empty without '/' (got %s%s%s)",
                             name ? "'" : "", name ? name : "NULL", name ? "'" : "");
    if (g->scope_depth == NB__MAX_SCOPE_DEPTH)
        return nb_graph_fail(g, NB_ERR_ARG, "scope '%s': scopes nest at most %d deep", name,
                             NB__MAX_SCOPE_DEPTH);
    const char *outer = g->scope_depth ? g->scopes[g->scope_depth - 1] : NULL;
    size_t n = (outer ? strlen(outer) + 1 : 0) + strlen(name) + 1;
    char *full = nb__arena(g, n);
    if (!full)
        return g->status;
    snprintf(full, n, "%s%s%s", outer ? outer : "", outer ? "/" : "", name);
    g->scopes[g->scope_depth++] = full;
    return NB_OK;
}

const char *nb_scope_current(const nb_graph *g)
{
    return g && g->scope_depth ? g->scopes[g->scope_depth - 1] : NULL;
}

void nb_scope_pop(nb_graph *g)
{
    if (g && g->scope_depth > 0)
        g->scope_depth--;
}

/* ---------------------------------------------------------------- parameters */

size_t nb__param_reserve(nb_graph *g, size_t n)
{
    if (g->n_param + n > g->cap_param) {
        size_t cap = g->cap_param ? g->cap_param : 1024;
        while (cap < g->n_param + n)
            cap *= 2;
        float *p = nb__realloc(g, g->param_data, g->cap_param * sizeof(float),
                               cap * sizeof(float), "parameter values");
        if (!p)
            return (size_t)-1;
        g->param_moves += p != g->param_data;
        g->param_stamp += p != g->param_data;
        g->param_data = p;
        g->cap_param = cap;
    }
    size_t off = g->n_param;
    g->n_param += n;
    return off;
}

bool nb__list_push(nb_graph *g, nb_node ***list, int *n, int *cap, nb_node *item)
{
    if (*n == *cap) {
        int c = *cap ? 2 * *cap : 16;
        nb_node **p = nb__realloc(g, *list, (size_t)*cap * sizeof *p, (size_t)c * sizeof *p,
                                  "a node list");
        if (!p)
            return false;
        *list = p;
        *cap = c;
    }
    (*list)[(*n)++] = item;
    return true;
}

/* ---------------------------------------------------------------- model building */

void nb_graph_set_training(nb_graph *g, bool training)
{
    if (g)
        g->training = training;
}

bool nb_graph_training(const nb_graph *g)
{
    return g && g->training;
}

/* Reuse means "build the same model again": automatic layer numbers start
 * over so the second build names its layers, and finds its parameters, as
 * the first did. */
void nb_graph_set_reuse(nb_graph *g, bool reuse)
{
    if (!g)
        return;
    g->reuse = reuse;
    if (reuse)
        for (nb__counter *c = g->counters; c; c = c->next)
            c->count = 0;
}

void nb_graph_seed(nb_graph *g, uint64_t seed)
{
    if (g)
        g->rng = nb_rng_seed(seed);
}

nb_rng *nb_graph_rng(nb_graph *g)
{
    return g ? &g->rng : NULL;
}

/* True when some node already lives in scope `name` under the current one. */
static bool scope_taken(const nb_graph *g, const char *name)
{
    const char *outer = nb_scope_current(g);
    size_t lo = outer ? strlen(outer) + 1 : 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const char *s = g->nodes[i]->scope;
        if (s && (!outer || (strncmp(s, outer, lo - 1) == 0 && s[lo - 1] == '/')) &&
            strlen(s) >= lo && strncmp(s + lo, name, strlen(name)) == 0 &&
            (s[lo + strlen(name)] == '\0' || s[lo + strlen(name)] == '/'))
            return true;
    }
    return false;
}

nb_status nb_layer_scope(nb_graph *g, const char *kind, const char *name)
{
    if (!g)
        return NB_ERR_ARG;
    if (name)
        return nb_scope_push(g, name);
    nb__counter *c = g->counters;
    while (c && strcmp(c->kind, kind) != 0)
        c = c->next;
    if (!c) {
        c = nb__arena(g, sizeof *c);
        if (!c || !(c->kind = nb__arena_strdup(g, kind)))
            return g->status;
        c->next = g->counters;
        g->counters = c;
    }
    /* A number a user's explicit name already took is skipped, except under
     * reuse, where meeting the first build's scopes again is the point. */
    char auto_name[64];
    do
        snprintf(auto_name, sizeof auto_name, "%s%d", kind, ++c->count);
    while (!g->reuse && scope_taken(g, auto_name));
    return nb_scope_push(g, auto_name);
}

/* ---------------------------------------------------------------- parameters and state */

int nb_graph_num_params(const nb_graph *g)
{
    return g ? g->n_params : 0;
}

nb_node *nb_graph_param(const nb_graph *g, int i)
{
    return g && i >= 0 && i < g->n_params ? g->params[i] : NULL;
}

unsigned nb_graph_param_stamp(const nb_graph *g)
{
    return g ? g->param_stamp : 0;
}

nb_status nb_state_update(nb_graph *g, nb_node *state, nb_node *value)
{
    if (!g)
        return NB_ERR_ARG;
    char a[300], b[300];
    if (!state || !value)
        return g->status != NB_OK ? g->status
                                  : nb_graph_fail(g, NB_ERR_ARG, "state update: a node is NULL");
    if (state->kind != NB_NODE_PARAM)
        return nb_graph_fail(g, NB_ERR_ARG, "state update: %s is not a parameter",
                             nb__describe(state, a, sizeof a));
    if (!nb_shape_equal(state->shape, value->shape))
        return nb_graph_fail(g, NB_ERR_SHAPE, "state update: %s cannot take the values of %s",
                             nb__describe(state, a, sizeof a), nb__describe(value, b, sizeof b));
    if (!nb__list_push(g, &g->updates, &g->n_updates, &g->cap_updates, state))
        return g->status;
    if (!nb__list_push(g, &g->updates, &g->n_updates, &g->cap_updates, value)) {
        g->n_updates--;
        return g->status;
    }
    return NB_OK;
}

int nb_graph_num_updates(const nb_graph *g)
{
    return g ? g->n_updates / 2 : 0;
}

void nb_graph_update(const nb_graph *g, int i, nb_node **state, nb_node **value)
{
    bool ok = g && i >= 0 && i < g->n_updates / 2;
    if (state)
        *state = ok ? g->updates[2 * i] : NULL;
    if (value)
        *value = ok ? g->updates[2 * i + 1] : NULL;
}
