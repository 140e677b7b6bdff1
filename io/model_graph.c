/*
 * model_graph.c — what a model built in C is, as a model file sees it.
 *
 * The model function builds the model twice, each time into a fresh graph
 * in training mode: at batch 2 and at batch 3. The two graphs must be the
 * same graph node for node; a number that differs between the twins follows
 * the batch. Walking back from the output and from what the loss reads, a
 * node that is the output of one of nabla's layers (nb_graph_layer) stands
 * for the whole layer, which the file writes as a layer and which rebuilds
 * in training and inference mode alike; the walk continues from the layer's
 * input. Every other node reached is a value the file writes itself: an
 * input, a parameter, a constant or a primitive op.
 *
 * Refused, each naming the node: a loss that is not one of nabla's losses,
 * a node that reads a value inside a layer (only a layer's output can be
 * read), user ops, noise inputs outside dropout, state updates outside
 * batch norm, inputs and constants whose shape or values follow the batch
 * otherwise than by a leading batch axis, unnamed parameters.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_write.h"

/* ---------------------------------------------------------------- helpers */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static nb_status refuse(nb__mw *w, nb_status st, const char *fmt, ...)
{
    char msg[480];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nb_error_set(w->err, st, "model yaml: %s", msg);
}

static const char *label(const nb_node *n, char *buf, size_t size)
{
    return nb_node_label(n, buf, size);
}

const char *nb__mw_op(const nb__mw *w, const nb_node *n)
{
    if (w->sugar && w->sugar[nb_node_id(n)])
        return w->sugar[nb_node_id(n)];
    switch (nb_node_kind_of(n)) {
    case NB_NODE_PARAM:
        return "param";
    case NB_NODE_CONST:
        return nb__mw_uniform(n) ? "full" : "constant";
    default:
        return nb_node_op(n);
    }
}

bool nb__mw_uniform(const nb_node *c)
{
    const float *v = nb_constant_data(c);
    int64_t count = nb_shape_numel(nb_node_shape(c));
    for (int64_t i = 1; v && i < count; i++)
        if (memcmp(&v[i], &v[0], sizeof v[0]))
            return false;
    return true;
}

/* The losses are one run of nb_layer_kind; layers follow them too. */
static bool is_loss(const nb_layer_record *r)
{
    return r->kind >= NB_LAYER_SOFTMAX_CROSS_ENTROPY && r->kind <= NB_LAYER_HUBER;
}

/* ---------------------------------------------------------------- the two builds */

static nb_status build_at(nb__mw *w, nb_graph **g, nb_model_fn build, void *ud, int64_t batch,
                          nb_model_io *io)
{
    if (!(*g = nb_graph_new()))
        return refuse(w, NB_ERR_NOMEM, "out of memory for a graph of the model");
    nb_graph_set_training(*g, true);
    nb_status st = build(*g, batch, io, ud);
    if (st == NB_OK && nb_graph_status(*g) == NB_OK)
        return io->output ? NB_OK : refuse(w, NB_ERR_ARG, "the model left its output unset");
    return refuse(w, st != NB_OK ? st : nb_graph_status(*g), "building the model (batch %lld): %s",
                  (long long)batch, nb_graph_error(*g));
}

/* The two builds list the same nodes: kinds, ops and the inputs they read. */
static nb_status twins(nb__mw *w)
{
    if (nb_graph_node_count(w->b) != w->n)
        return refuse(w, NB_ERR_ARG, "the model builds %d nodes at batch 2 and %d at batch 3; a "
                      "model file holds one graph for every batch", w->n,
                      nb_graph_node_count(w->b));
    for (int id = 0; id < w->n; id++) {
        nb_node *a = nb_graph_node(w->a, id), *b = nb_graph_node(w->b, id);
        bool same = nb_node_kind_of(a) == nb_node_kind_of(b) &&
                    !strcmp(nb_node_op(a), nb_node_op(b)) &&
                    nb_node_num_inputs(a) == nb_node_num_inputs(b);
        for (int i = 0; same && i < nb_node_num_inputs(a); i++)
            same = nb_node_id(nb_node_input(a, i)) == nb_node_id(nb_node_input(b, i));
        char la[160];
        if (!same)
            return refuse(w, NB_ERR_ARG, "node '%s' is built differently at batch 2 and at "
                          "batch 3; a model file holds one graph for every batch",
                          label(a, la, sizeof la));
    }
    return NB_OK;
}

/* ---------------------------------------------------------------- layers and the loss */

static nb_status index_layers(nb__mw *w)
{
    int n_layers = nb_graph_num_layers(w->a);
    w->layer_needed = nb_calloc((size_t)n_layers + 1, sizeof *w->layer_needed);
    if (!w->layer_needed)
        return refuse(w, NB_ERR_NOMEM, "out of memory for the layer table");
    for (int id = 0; id < w->n; id++)
        w->layer_of[id] = w->layer_out[id] = -1;
    for (int i = 0; i < n_layers; i++) {
        const nb_layer_record *r = nb_graph_layer(w->a, i);
        if (r->output == r->input) /* dropout as the identity: nothing to write */
            continue;
        for (int id = r->first; id < r->end && id < w->n; id++)
            if (w->layer_of[id] < 0)
                w->layer_of[id] = i;
        w->layer_out[nb_node_id(r->output)] = i;
    }
    return NB_OK;
}

static nb_status find_loss(nb__mw *w)
{
    nb_node *loss = w->ia.loss;
    char l[160], y[160];
    if (!loss)
        return NB_OK;
    int k = w->layer_out[nb_node_id(loss)];
    const nb_layer_record *r = k >= 0 ? nb_graph_layer(w->a, k) : NULL;
    if (!r || !is_loss(r))
        return refuse(w, NB_ERR_ARG, "the loss '%s' is not made by one of nabla's losses "
                      "(nb_softmax_cross_entropy, nb_mse_loss, nb_bce_with_logits, "
                      "nb_margin_loss); a model file names its loss by kind",
                      label(loss, l, sizeof l));
    if (r->target != w->ia.y || nb_node_kind_of(r->target) != NB_NODE_INPUT)
        return refuse(w, NB_ERR_ARG, "the loss '%s' reads targets '%s', not the model's y "
                      "input", label(loss, l, sizeof l), label(r->target, y, sizeof y));
    if (nb_node_kind_of(r->input) == NB_NODE_INPUT)
        return refuse(w, NB_ERR_ARG, "the loss '%s' reads the input '%s' itself; a model file's "
                      "loss reads a node", label(loss, l, sizeof l), label(r->input, y, sizeof y));
    w->loss = r;
    return NB_OK;
}

/* ---------------------------------------------------------------- the walk */

/* Marks what the output and the loss need: a layer's output stands for the
 * layer (the walk goes on from its input); a node inside a layer reached
 * from outside it is refused, naming the reader. */
static nb_status walk(nb__mw *w)
{
    int top = 0, cap = nb_graph_num_layers(w->a) + 4; /* pairs: one per edge, at most */
    for (int id = 0; id < w->n; id++)
        cap += nb_node_num_inputs(nb_graph_node(w->a, id));
    int *stack = nb_malloc((size_t)cap * 2 * sizeof *stack);
    if (!stack)
        return refuse(w, NB_ERR_NOMEM, "out of memory for the walk's stack");
    nb_status st = NB_OK;
    stack[top++] = nb_node_id(w->ia.output), stack[top++] = -1;
    if (w->loss)
        stack[top++] = nb_node_id(w->loss->input), stack[top++] = -1;
    while (top > 0 && st == NB_OK) {
        int reader = stack[--top], id = stack[--top];
        nb_node *n = nb_graph_node(w->a, id);
        char l[160], r[160];
        int out = w->layer_out[id], in = w->layer_of[id];
        const nb_layer_record *rec = out >= 0 ? nb_graph_layer(w->a, out) : NULL;
        if (n == w->ia.y)
            st = refuse(w, NB_ERR_ARG, "node '%s' reads the targets '%s'; in a model file only the "
                        "loss reads them", label(nb_graph_node(w->a, reader), r, sizeof r),
                        label(n, l, sizeof l));
        else if (rec && is_loss(rec))
            st = refuse(w, NB_ERR_ARG, "node '%s' reads the loss '%s'; a model file's loss is its "
                        "last word", label(nb_graph_node(w->a, reader), r, sizeof r),
                        rec->scope);
        else if (!rec && in >= 0)
            st = refuse(w, NB_ERR_ARG, "'%s' reads '%s', inside layer '%s'; a model file can "
                        "read a layer's output only", reader >= 0 ? label(nb_graph_node(w->a,
                        reader), r, sizeof r) : "the model's output", label(n, l, sizeof l),
                        nb_graph_layer(w->a, in)->scope);
        if (st != NB_OK || (rec ? w->layer_needed[out] : w->needed[id]))
            continue;
        if (rec) {
            w->layer_needed[out] = true;
            stack[top++] = nb_node_id(rec->input), stack[top++] = id;
            continue;
        }
        w->needed[id] = true;
        for (int i = 0; i < nb_node_num_inputs(n) && top + 2 <= 2 * cap; i++)
            stack[top++] = nb_node_id(nb_node_input(n, i)), stack[top++] = id;
    }
    nb_free(stack);
    return st;
}

/* ---------------------------------------------------------------- leaves */

/* An input with the batch as its leading axis and nothing else following it. */
static nb_status check_input(nb__mw *w, nb_node *a, nb_node *b)
{
    nb_shape sa = nb_node_shape(a), sb = nb_node_shape(b);
    char l[160], da[128], db[128];
    bool ok = sa.rank >= 1 && sa.rank == sb.rank && sa.dim[0] == 2 && sb.dim[0] == 3;
    for (int i = 1; ok && i < sa.rank; i++)
        ok = sa.dim[i] == sb.dim[i];
    if (nb_node_is_noise(a))
        return refuse(w, NB_ERR_ARG, "'%s' is a noise input outside a dropout layer; a model "
                      "file cannot hold one", label(a, l, sizeof l));
    if (!ok)
        return refuse(w, NB_ERR_SHAPE, "input '%s' is %s at batch 2 and %s at batch 3; a model "
                      "file's inputs are [N, one example's shape]", label(a, l, sizeof l),
                      nb_shape_format(sa, da, sizeof da), nb_shape_format(sb, db, sizeof db));
    return NB_OK;
}

static nb_status check_constant(nb__mw *w, nb_node *a, nb_node *b)
{
    nb_shape s = nb_node_shape(a);
    const float *va = nb_constant_data(a), *vb = nb_constant_data(b);
    int64_t count = nb_shape_numel(s);
    char l[160];
    if (!nb_shape_equal(s, nb_node_shape(b)) || !va || !vb ||
        memcmp(va, vb, (size_t)count * sizeof *va))
        return refuse(w, NB_ERR_ARG, "constant '%s' changes with the batch (as a mean over the "
                      "batch's 1/N does); a model file writes constants that do not",
                      label(a, l, sizeof l));
    for (int64_t i = 0; i < count; i++)
        if (!(va[i] - va[i] == 0.0f))
            return refuse(w, NB_ERR_ARG, "constant '%s' holds %g at index %lld; a model file "
                          "writes finite numbers only", label(a, l, sizeof l), (double)va[i],
                          (long long)i);
    return NB_OK;
}

static nb_status check_leaf(nb__mw *w, nb_node *a, nb_node *b)
{
    char l[160];
    switch (nb_node_kind_of(a)) {
    case NB_NODE_INPUT:
        return check_input(w, a, b);
    case NB_NODE_PARAM:
        return nb_node_name(a) ? NB_OK
                               : refuse(w, NB_ERR_ARG, "parameter '%s' has no name; weights "
                                        "bind to a model file's parameters by name",
                                        label(a, l, sizeof l));
    case NB_NODE_CONST:
        return check_constant(w, a, b);
    default: {
        nb_op_options o;
        if (nb_node_options(a, &o))
            return NB_OK;
        return refuse(w, NB_ERR_ARG, "node '%s' runs '%s', an op of its own (nb_custom); a model "
                      "file can name nabla's ops only", label(a, l, sizeof l), nb_node_op(a));
    }
    }
}

/* State updates come from batch norm layers only (the file rebuilds them). */
static nb_status check_updates(nb__mw *w)
{
    for (int i = 0; i < nb_graph_num_updates(w->a); i++) {
        nb_node *state = NULL, *value = NULL;
        nb_graph_update(w->a, i, &state, &value);
        int k = state ? w->layer_of[nb_node_id(state)] : -1;
        char l[160];
        if (k < 0 || nb_graph_layer(w->a, k)->kind != NB_LAYER_BATCHNORM)
            return refuse(w, NB_ERR_ARG, "'%s' is updated after each step (nb_state_update) "
                          "outside a batchnorm layer; a model file cannot write that",
                          state ? label(state, l, sizeof l) : "(none)");
    }
    return NB_OK;
}

/* ---------------------------------------------------------------- names */

/* "<scope>/<op>#<id>", or "<op>#<id>" at the top level; NULL for nothing else. */
static char *dup_name(const char *scope, const char *name, const char *op, int id)
{
    char num[16] = "";
    if (!name)
        snprintf(num, sizeof num, "#%d", id);
    const char *base = name ? name : op;
    size_t n = (scope && !name ? strlen(scope) + 1 : 0) + strlen(base) + strlen(num) + 1;
    char *s = nb_malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s%s", scope && !name ? scope : "", scope && !name ? "/" : "", base,
                 num);
    return s;
}

/* A layer is called by its scope; a named node by its name; another node by
 * "<scope>/<op>#<id>", which the file reads as a node left unnamed. */
static nb_status name_values(nb__mw *w)
{
    for (int id = 0; id < w->n; id++) {
        nb_node *n = nb_graph_node(w->a, id);
        int out = w->layer_out[id];
        const char *scope = nb_node_scope(n);
        if (out >= 0 && w->layer_needed[out])
            w->name[id] = dup_name(NULL, nb_graph_layer(w->a, out)->scope, NULL, id);
        else if (!w->needed[id] && n != w->ia.x && n != w->ia.y)
            continue;
        else
            w->name[id] = dup_name(scope, nb_node_name(n), nb__mw_op(w, n), id);
        if (!w->name[id])
            return refuse(w, NB_ERR_NOMEM, "out of memory for a node's name in the file");
    }
    return NB_OK;
}

/* ---------------------------------------------------------------- compositions */

/* nb_relu(x) is max(x, c) with c = nb_scalar(0) made just before it and
 * read by nothing else; nb_flatten(x) is reshape(x, [N, -1]). Both
 * unnamed: the file writes them as `relu` and `flatten`, which rebuild
 * exactly those nodes, and the scalar is not written on its own. */
static nb_status find_sugar(nb__mw *w)
{
    int *readers = nb_calloc((size_t)w->n, sizeof *readers);
    if (!readers)
        return refuse(w, NB_ERR_NOMEM, "out of memory for the count of readers");
    for (int id = 0; readers && id < w->n; id++)
        for (int i = 0; w->needed[id] && i < nb_node_num_inputs(nb_graph_node(w->a, id)); i++)
            readers[nb_node_id(nb_node_input(nb_graph_node(w->a, id), i))]++;
    for (int id = 1; readers && id < w->n; id++) {
        nb_node *n = nb_graph_node(w->a, id), *c = nb_graph_node(w->a, id - 1);
        nb_op_options o;
        if (!w->needed[id] || nb_node_kind_of(n) != NB_NODE_OP || nb_node_name(n))
            continue;
        const char *op = nb_node_op(n);
        const float *v = nb_node_kind_of(c) == NB_NODE_CONST ? nb_constant_data(c) : NULL;
        if (!strcmp(op, "max") && nb_node_input(n, 1) == c && !nb_node_name(c) && v &&
            nb_node_shape(c).rank == 0 && v[0] == 0.0f && !signbit(v[0]) && readers[id - 1] == 1 &&
            nb_node_input(n, 0) != c) {
            w->sugar[id] = "relu";
            w->folded[id - 1] = true;
        } else if (!strcmp(op, "reshape") && nb_node_options(n, &o) && o.shape.rank == 2 &&
                   o.shape.dim[0] == 2 && o.shape.dim[1] == -1) {
            w->sugar[id] = "flatten";
        }
    }
    nb_free(readers);
    return NB_OK;
}

/* ---------------------------------------------------------------- the analysis */

static nb_status check_values(nb__mw *w)
{
    nb_status st = NB_OK;
    char l[160];
    if (!w->ia.x || nb_node_kind_of(w->ia.x) != NB_NODE_INPUT)
        return refuse(w, NB_ERR_ARG, "the model's x is %s; a model file's first input is x",
                      w->ia.x ? label(w->ia.x, l, sizeof l) : "unset");
    if (nb_node_kind_of(w->ia.output) == NB_NODE_INPUT)
        return refuse(w, NB_ERR_ARG, "the model's output is the input '%s' itself",
                      label(w->ia.output, l, sizeof l));
    st = check_leaf(w, w->ia.x, nb_graph_node(w->b, nb_node_id(w->ia.x)));
    if (st == NB_OK && w->loss)
        st = check_input(w, w->ia.y, nb_graph_node(w->b, nb_node_id(w->ia.y)));
    for (int id = 0; st == NB_OK && id < w->n; id++)
        if (w->needed[id])
            st = check_leaf(w, nb_graph_node(w->a, id), nb_graph_node(w->b, id));
    return st == NB_OK ? check_updates(w) : st;
}

nb_status nb__mw_analyse(nb__mw *w, nb_model_fn build, void *ud)
{
    if (!build)
        return refuse(w, NB_ERR_ARG, "no model function (NULL)");
    nb_status st = build_at(w, &w->a, build, ud, 2, &w->ia);
    if (st == NB_OK)
        st = build_at(w, &w->b, build, ud, 3, &w->ib);
    if (st != NB_OK)
        return st;
    w->n = nb_graph_node_count(w->a);
    w->layer_of = nb_malloc((size_t)w->n * sizeof *w->layer_of);
    w->layer_out = nb_malloc((size_t)w->n * sizeof *w->layer_out);
    w->needed = nb_calloc((size_t)w->n, sizeof *w->needed);
    w->name = nb_calloc((size_t)w->n, sizeof *w->name);
    w->sugar = nb_calloc((size_t)w->n, sizeof *w->sugar);
    w->folded = nb_calloc((size_t)w->n, sizeof *w->folded);
    if (!w->layer_of || !w->layer_out || !w->needed || !w->name || !w->sugar || !w->folded)
        return refuse(w, NB_ERR_NOMEM, "out of memory for the node tables");
    if ((st = twins(w)) == NB_OK && (st = index_layers(w)) == NB_OK &&
        (st = find_loss(w)) == NB_OK && (st = walk(w)) == NB_OK &&
        (st = check_values(w)) == NB_OK) {
        if ((st = find_sugar(w)) == NB_OK)
            st = name_values(w);
    }
    return st;
}

void nb__mw_free(nb__mw *w)
{
    for (int id = 0; w->name && id < w->n; id++)
        nb_free(w->name[id]);
    nb_free(w->name);
    nb_free(w->sugar);
    nb_free(w->folded);
    nb_free(w->needed);
    nb_free(w->layer_of);
    nb_free(w->layer_out);
    nb_free(w->layer_needed);
    nb_graph_free(w->a);
    nb_graph_free(w->b);
    *w = (nb__mw){0};
}
