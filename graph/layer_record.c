/*
 * layer_record.c — the list of layers built into a graph, each with the
 * options it was given, its input and output and the nodes it made: what a
 * model file writer needs to write a layer back as a layer.
 */
#include <string.h>

#include "graph_internal.h"

int nb_graph_num_layers(const nb_graph *g)
{
    return g ? g->n_layers : 0;
}

const nb_layer_record *nb_graph_layer(const nb_graph *g, int i)
{
    return g && i >= 0 && i < g->n_layers ? &g->layers[i] : NULL;
}

/* Copies r, with its scope string moved into the arena and the options'
 * borrowed name pointers dropped (the scope holds the name). */
nb_status nb_graph_layer_add(nb_graph *g, const nb_layer_record *r)
{
    if (!g)
        return NB_ERR_ARG;
    if (!r || !r->output)
        return nb_graph_fail(g, NB_ERR_ARG, "layer record: %s is NULL", r ? "output" : "record");
    if (g->n_layers == g->cap_layers) {
        int cap = g->cap_layers ? 2 * g->cap_layers : 16;
        nb_layer_record *l = nb__realloc(g, g->layers, (size_t)g->cap_layers * sizeof *l,
                                         (size_t)cap * sizeof *l, "layer records");
        if (!l)
            return g->status;
        g->layers = l, g->cap_layers = cap;
    }
    nb_layer_record c = *r;
    c.dense.name = c.conv.name = c.pool.name = c.batchnorm.name = NULL;
    c.conv_transpose.name = NULL;
    if (r->scope && !(c.scope = nb__arena_strdup(g, r->scope)))
        return g->status;
    g->layers[g->n_layers++] = c;
    return NB_OK;
}
