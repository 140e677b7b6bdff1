/*
 * graph.c — a graph's life: creation with an allocator, the node list,
 * lookup by name, scopes, and freeing everything at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

static void *default_alloc(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    (void)ud;
    (void)old_size;
    if (new_size == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, new_size);
}

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
    return g;
}

nb_graph *nb_graph_new(void)
{
    return nb_graph_new_with_allocator(default_alloc, NULL);
}

void nb_graph_free(nb_graph *g)
{
    if (!g)
        return;
    nb__free(g, g->nodes, (size_t)g->cap_nodes * sizeof *g->nodes);
    nb__free(g, g->param_data, g->cap_param * sizeof(float));
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
        g->param_data = p;
        g->cap_param = cap;
    }
    size_t off = g->n_param;
    g->n_param += n;
    return off;
}
