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

/* ---------------------------------------------------------------- window.c */

/* One axis of a layer's window resolved: kernel k, stride s, dilation d
 * (all >= 1 once the options passed their checks), padding before and
 * after; once it fits an input (nb__window_fit), the output length and the
 * padding ceil mode's last window reads past `after`. */
typedef struct nb__axis {
    int64_t k, s, d, before, after;
    int64_t out, extra;
} nb__axis;

/* A 2-D window: ax[0] the rows (H), ax[1] the columns (W). */
typedef struct nb__window {
    nb__axis ax[2];
    bool ceil;       /* ceil mode: output sizes rounded up */
} nb__window;

/* The window conv2d's or local2d's options ask for, per axis. */
nb__window nb__window_conv(const nb_conv2d_opts *o);
/* The window a pooling's options ask for, per axis (stride 0: the size). */
nb__window nb__window_pool(const nb_pool2d_opts *o);
/* Refuses (inside the layer's scope) the first negative of values[0..n),
 * naming it: "stride -1 must be >= 0 (0: the default)". */
bool nb__window_nonnegative(nb_graph *g, const char *const *names, const int *values, int n);
/* Fills q's output sizes for input x [N, C, H, W], or refuses a window
 * (dilated) larger than the padded input: "kernel 9x9 is larger than the
 * padded input 6x6 of 'conv2d1' [2,4,6,6]"; `what` is "kernel" or "size". */
bool nb__window_fit(nb_graph *g, nb_node *x, const char *what, nb__window *q);
/* How many taps of window position i on axis ax read a pixel of the n
 * input pixels (input_only) or of the padded extent [-before, n + after). */
int64_t nb__window_count(const nb__axis *ax, int64_t i, int64_t n, bool input_only);
/* Refuses a window position that reads no input pixel (why: who cannot
 * take it, e.g. "a maximum of padding is -inf"). True when none does. */
bool nb__window_covers(nb_graph *g, nb_node *x, const nb__window *q, const char *why);
/* unfold2d(x) [N, C·kh·kw, OH·OW] of window q (fitted), padding with
 * `value`: unfold2d's own zero padding when both sides of each axis agree
 * and nothing overhangs, else an explicit nb_pad first. */
nb_node *nb__window_columns(nb_graph *g, nb_node *x, const nb__window *q, float value);

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
