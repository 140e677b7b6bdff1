/*
 * grad.c — reverse-mode differentiation as a graph transformation. Walking
 * the forward nodes from the loss back, each op's vjp rule appends the nodes
 * that carry the gradient to its inputs; gradients reaching a node along
 * several paths are summed. The result is ordinary graph, so it can be
 * planned, drawn and differentiated again.
 */
#include <string.h>

#include "../graph/graph_internal.h"

/* Scratch for one nb_grad call, indexed by forward node id. */
typedef struct grad_state {
    nb_node **adj;  /* the gradient flowing into each node so far */
    bool *needed;   /* depends on some wrt node and feeds the loss */
    size_t bytes;
} grad_state;

static nb_status check_args(nb_graph *g, nb_node *loss, nb_node *const *wrt, int n,
                            nb_node **grads)
{
    char b[300];
    if (!loss)
        return g->status != NB_OK ? g->status
                                  : nb_graph_fail(g, NB_ERR_ARG, "grad: the loss node is NULL");
    if (loss->g != g)
        return nb_graph_fail(g, NB_ERR_ARG, "grad: the loss belongs to another graph");
    if (nb_shape_numel(loss->shape) != 1)
        return nb_graph_fail(g, NB_ERR_GRAD, "grad: the loss %s is not a scalar (%lld elements)",
                             nb__describe(loss, b, sizeof b),
                             (long long)nb_shape_numel(loss->shape));
    if (n < 1 || !wrt || !grads)
        return nb_graph_fail(g, NB_ERR_ARG, "grad: needs at least one node to differentiate by, "
                                            "and room for the gradients");
    for (int i = 0; i < n; i++)
        if (!wrt[i] || wrt[i]->g != g)
            return nb_graph_fail(g, NB_ERR_ARG, "grad: wrt[%d] is %s", i,
                                 wrt[i] ? "from another graph" : "NULL");
    return NB_OK;
}

/* needed[i]: node i lies on a path from some wrt node to the loss. Forward
 * sweep for "depends on wrt", backward sweep for "feeds the loss". */
static void mark_needed(nb_graph *g, nb_node *loss, nb_node *const *wrt, int n, bool *needed)
{
    int top = loss->id;
    for (int i = 0; i < n; i++)
        if (wrt[i]->id <= top)
            needed[wrt[i]->id] = true;
    for (int i = 0; i <= top; i++)
        for (int k = 0; k < g->nodes[i]->n_in && !needed[i]; k++)
            needed[i] = needed[g->nodes[i]->in[k]->id];
    bool *feeds = needed + top + 1; /* second half of the scratch */
    feeds[top] = true;
    for (int i = top; i >= 0; i--)
        if (feeds[i])
            for (int k = 0; k < g->nodes[i]->n_in; k++)
                feeds[g->nodes[i]->in[k]->id] = true;
    for (int i = 0; i <= top; i++)
        needed[i] = needed[i] && feeds[i];
}

/* Adds d to the gradient flowing into input `in`. */
static nb_status accumulate(nb_graph *g, grad_state *s, nb_node *in, nb_node *d, const nb_node *n,
                            int k)
{
    if (!nb_shape_equal(d->shape, in->shape)) {
        char a[300], b[128];
        return nb_graph_fail(g, NB_ERR_GRAD,
                             "grad: the vjp of %s gave input %d a gradient of shape %s, not %s's",
                             nb__describe(n, a, sizeof a), k, nb_shape_format(d->shape, b, sizeof b),
                             in->name ? in->name : "its");
    }
    nb_node *sum = s->adj[in->id] ? nb_add(g, s->adj[in->id], d) : d;
    if (!sum)
        return g->status;
    s->adj[in->id] = sum;
    return NB_OK;
}

/* Runs node n's vjp rule under n's own scope, so backward nodes group with
 * the layer they differentiate, and sends the results to n's inputs. */
static nb_status backprop_node(nb_graph *g, grad_state *s, nb_node *n)
{
    char b[300];
    if (!n->op->vjp)
        return nb_graph_fail(g, NB_ERR_GRAD, "grad: op '%s' of %s has no gradient rule",
                             n->op->name, nb__describe(n, b, sizeof b));
    nb_node *dx[n->n_in > 0 ? n->n_in : 1];
    memset(dx, 0, sizeof dx);
    int depth = g->scope_depth;
    if (n->scope && depth < NB__MAX_SCOPE_DEPTH)
        g->scopes[g->scope_depth++] = n->scope;
    nb_status st = n->op->vjp(g, n, s->adj[n->id], dx);
    g->scope_depth = depth;
    if (st == NB_OK && g->status != NB_OK)
        st = g->status;
    if (st != NB_OK)
        return nb_graph_fail(g, st, "grad: the vjp rule of %s failed", nb__describe(n, b, sizeof b));
    for (int k = 0; k < n->n_in && st == NB_OK; k++)
        if (dx[k] && s->needed[n->in[k]->id])
            st = accumulate(g, s, n->in[k], dx[k], n, k);
    return st;
}

/* The gradients asked for: accumulated ones, or zeros where the loss does
 * not depend on the node. */
static nb_status collect(nb_graph *g, grad_state *s, nb_node *loss, nb_node *const *wrt, int n,
                         nb_node **grads)
{
    for (int i = 0; i < n; i++) {
        nb_node *d = wrt[i]->id <= loss->id ? s->adj[wrt[i]->id] : NULL;
        grads[i] = d ? d : nb_full(g, wrt[i]->shape, 0.0f);
        if (!grads[i])
            return g->status;
    }
    return NB_OK;
}

static nb_status run_backward(nb_graph *g, grad_state *s, nb_node *loss, nb_node *const *wrt,
                              int n, nb_node **grads)
{
    mark_needed(g, loss, wrt, n, s->needed);
    s->adj[loss->id] = nb_full(g, loss->shape, 1.0f);
    if (!s->adj[loss->id])
        return g->status;
    for (int i = loss->id; i >= 0; i--) {
        nb_node *node = g->nodes[i];
        if (!s->needed[i] || !s->adj[i] || node->kind != NB_NODE_OP)
            continue;
        nb_status st = backprop_node(g, s, node);
        if (st != NB_OK)
            return st;
    }
    return collect(g, s, loss, wrt, n, grads);
}

nb_status nb_grad(nb_graph *g, nb_node *loss, nb_node *const *wrt, int n, nb_node **grads)
{
    if (!g)
        return NB_ERR_ARG;
    nb_status st = check_args(g, loss, wrt, n, grads);
    if (st != NB_OK)
        return st;
    size_t count = (size_t)loss->id + 1;
    grad_state s = {.bytes = count * (sizeof(nb_node *) + 2 * sizeof(bool))};
    unsigned char *mem = nb__alloc(g, s.bytes, "gradient bookkeeping");
    if (!mem)
        return g->status;
    memset(mem, 0, s.bytes);
    s.adj = (nb_node **)mem;
    s.needed = (bool *)(s.adj + count);
    bool was_backward = g->building_backward;
    g->building_backward = true;
    st = run_backward(g, &s, loss, wrt, n, grads);
    g->building_backward = was_backward;
    nb__free(g, mem, s.bytes);
    return st;
}
