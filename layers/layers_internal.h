/*
 * layers_internal.h — the few conveniences every layer file shares: a node
 * described for messages, and refusing inside a layer's scope. Layers see
 * only the public header; these helpers use nothing else.
 */
#ifndef NB_LAYERS_INTERNAL_H
#define NB_LAYERS_INTERNAL_H

#include <stdarg.h>
#include <stdio.h>

#include "nabla.h"

/* "'label' [shape]", the way primitive ops name their inputs. */
static inline const char *nb__layer_describe(const nb_node *n, char *buf, size_t size)
{
    char label[160], shape[128];
    nb_node_label(n, label, sizeof label);
    snprintf(buf, size, "'%s' %s", label, nb_shape_format(nb_node_shape(n), shape, sizeof shape));
    return buf;
}

/*
 * Refuses a layer from inside its scope: the message reads "<scope>: <fmt>"
 * (the scope is "conv2d1", or the user's name, under any enclosing scope),
 * the scope is popped, and NULL comes back for the builder to return.
 */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline nb_node *nb__layer_refuse(nb_graph *g, nb_status status, const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const char *scope = nb_scope_current(g);
    nb_graph_fail(g, status, "%s: %s", scope ? scope : "layer", what);
    nb_scope_pop(g);
    return NULL;
}

/* Refuses (inside the layer's scope) a window of kh×kw (dilation dil)
 * larger than the padded H×W of input x [N, C, H, W]: "kernel 9x9 is
 * larger than the padded input 6x6 of 'conv2d1' [2,4,6,6]". `what` is
 * "kernel" or "size". True when it fits. */
static inline bool nb__layer_window_fits(nb_graph *g, nb_node *x, const char *what, int kh, int kw,
                                         int pad, int dil)
{
    nb_shape xs = nb_node_shape(x);
    int64_t eh = (int64_t)(kh - 1) * dil + 1, ew = (int64_t)(kw - 1) * dil + 1;
    int64_t h = xs.dim[2] + 2 * (int64_t)pad, w = xs.dim[3] + 2 * (int64_t)pad;
    if (eh <= h && ew <= w)
        return true;
    char d[300], dilated[32] = "";
    if (dil > 1)
        snprintf(dilated, sizeof dilated, " (dilation %d)", dil);
    nb__layer_refuse(g, NB_ERR_SHAPE, "%s %dx%d%s is larger than the padded input %lldx%lld of %s",
                     what, kh, kw, dilated, (long long)h, (long long)w,
                     nb__layer_describe(x, d, sizeof d));
    return false;
}

/* A layer given a NULL graph or input: NULL, keeping the first message
 * (an input is NULL because an earlier builder failed and said why). */
static inline bool nb__layer_null_input(nb_graph *g, const nb_node *x, const char *kind)
{
    if (!g)
        return true;
    if (!x)
        nb_graph_fail(g, NB_ERR_ARG, "%s: input is NULL", kind);
    return !x;
}

/* Ends a layer's build: pops its scope and passes the result through. */
static inline nb_node *nb__layer_end(nb_graph *g, nb_node *y)
{
    nb_scope_pop(g);
    return y;
}

/* Ends a layer's build as nb__layer_end does, first recording it
 * (nb_graph_layer_add): r holds its kind, options, input and target; the
 * scope, output, node range [first, now) and mode are filled in here. A
 * NULL y records nothing. */
static inline nb_node *nb__layer_done(nb_graph *g, nb_layer_record r, int first, nb_node *y)
{
    if (y) {
        r.scope = nb_scope_current(g);
        r.output = y;
        r.first = first;
        r.end = nb_graph_node_count(g);
        r.training = nb_graph_training(g);
        if (nb_graph_layer_add(g, &r) != NB_OK)
            y = NULL;
    }
    return nb__layer_end(g, y);
}

/* True when act is one of the nb_activation values. */
static inline bool nb__layer_activation_ok(nb_activation act)
{
    return (unsigned)act <= (unsigned)NB_ACT_SOFTPLUS;
}

/* A bias initialiser: the default is zeros. */
static inline nb_init nb__layer_bias_init(nb_init init)
{
    return init.kind == NB_INIT_DEFAULT ? (nb_init){.kind = NB_INIT_ZEROS} : init;
}

#endif
