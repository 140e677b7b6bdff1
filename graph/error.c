/*
 * error.c — the graph's error slot: a status and the first message since the
 * last clear, SQLite style. Later failures keep the first message because it
 * names the cause; what follows is usually its consequence.
 */
#include <stdarg.h>
#include <stdio.h>

#include "graph_internal.h"

nb_status nb_graph_fail(nb_graph *g, nb_status status, const char *fmt, ...)
{
    if (!g || g->status != NB_OK)
        return g ? g->status : status;
    g->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->err, sizeof g->err, fmt, ap);
    va_end(ap);
    return status;
}

const char *nb_graph_error(const nb_graph *g)
{
    return g ? g->err : "no graph (NULL)";
}

nb_status nb_graph_status(const nb_graph *g)
{
    return g ? g->status : NB_ERR_ARG;
}

void nb_graph_clear_error(nb_graph *g)
{
    if (!g)
        return;
    g->status = NB_OK;
    g->err[0] = '\0';
}

nb_status nb_error_set(nb_error *err, nb_status status, const char *fmt, ...)
{
    if (!err)
        return status;
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return status;
}
