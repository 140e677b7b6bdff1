/*
 * grad.c — reverse-mode differentiation as a graph transformation. Walking
 * the forward nodes from the loss back, each op's vjp rule appends the nodes
 * that carry the gradient to its inputs; gradients reaching a node along
 * several paths are summed. The result is ordinary graph, so it can be
 * planned, drawn and differentiated again.
 */
#include <string.h>

#include "../ops/ops_internal.h"

/* Scratch for one nb_grad call, indexed by forward node id. */
typedef struct grad_state {
    nb_node **adj;  /* the gradient flowing into each node so far */
    bool *needed;   /* depends on some wrt node and feeds the loss */
    int *axis;      /* the axis every needed reader slices along: AXIS_NONE, AXIS_MIXED or it */
    int *readers;   /* needed readers (input slots) of each node */
    int *pending;   /* a node's last slice whose gradient waits for it, or -1 */
    int *next;      /* a slice's predecessor in its input's pending list, or -1 */
    size_t bytes;
} grad_state;

enum { AXIS_NONE = -1, AXIS_MIXED = -2 };

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

/*
 * A value read only through slices along one axis (the steps of a sequence,
 * the gates of a recurrent cell) gets as its gradient the concat of the
 * slices' gradients, zeros in the gaps, instead of each slice's gradient
 * padded to the whole value and the pads summed: T slices of a [N, T, F]
 * value cost T·N·T·F that way, N·T·F this way. mark_slices finds those
 * values; backprop_node holds each such slice's gradient back until the
 * value's turn comes (every reader has a larger id, so all of them are in
 * by then), and gather_slices joins them.
 */
static void mark_slices(nb_graph *g, grad_state *s, int top)
{
    for (int i = 0; i <= top; i++)
        s->axis[i] = AXIS_NONE, s->readers[i] = 0, s->pending[i] = s->next[i] = -1;
    for (int i = 0; i <= top; i++) {
        const nb_node *c = g->nodes[i];
        if (!s->needed[i] || c->kind != NB_NODE_OP)
            continue;
        bool slice = c->op == NB__OP(SLICE) && c->attrs.i[3] == 1;
        for (int k = 0; k < c->n_in; k++) {
            int x = c->in[k]->id;
            if (!s->needed[x])
                continue;
            int ax = slice ? (int)c->attrs.i[0] : AXIS_MIXED;
            s->axis[x] = s->axis[x] == AXIS_NONE || s->axis[x] == ax ? ax : AXIS_MIXED;
            s->readers[x]++;
        }
    }
}

/* True when slice node n's gradient waits for its input (mark_slices). */
static bool held_back(const grad_state *s, const nb_node *n)
{
    if (n->op != NB__OP(SLICE) || n->attrs.i[3] != 1)
        return false;
    int x = n->in[0]->id;
    return s->axis[x] >= 0 && s->readers[x] >= 2;
}

static nb_status accumulate(nb_graph *g, grad_state *s, nb_node *in, nb_node *d, const nb_node *n,
                            int k);
static nb_status run_vjp(nb_graph *g, grad_state *s, nb_node *n);

/* Joins the held-back gradients of x's slices along their axis, zeros in
 * the gaps; slices that overlap take the plain route (pads summed). */
static nb_status gather_slices(nb_graph *g, grad_state *s, nb_node *x)
{
    int n = 0, axis = s->axis[x->id];
    for (int j = s->pending[x->id]; j >= 0; j = s->next[j])
        n++;
    /* n pieces, then the parts joined: the pieces and a gap before each
     * and after the last, 2n + 1 at most */
    size_t bytes = (size_t)(3 * n + 1) * sizeof(nb_node *);
    nb_node **piece = nb__alloc(g, bytes, "gradient bookkeeping");
    if (!piece)
        return g->status;
    nb_node **parts = piece + n;
    int m = 0;
    for (int j = s->pending[x->id]; j >= 0; j = s->next[j]) {
        nb_node *c = g->nodes[j];
        int at = m++;
        while (at > 0 && piece[at - 1]->attrs.i[1] > c->attrs.i[1]) /* by start */
            piece[at] = piece[at - 1], at--;
        piece[at] = c;
    }
    bool disjoint = true;
    for (int j = 1; j < n; j++)
        disjoint = disjoint && piece[j]->attrs.i[1] >= piece[j - 1]->attrs.i[2];
    nb_status st = NB_OK;
    if (!disjoint) {
        for (int j = 0; j < n && st == NB_OK; j++)
            st = run_vjp(g, s, piece[j]);
        nb__free(g, piece, bytes);
        return st;
    }
    int depth = g->scope_depth, k = 0;
    if (piece[0]->scope && depth < NB__MAX_SCOPE_DEPTH)
        g->scopes[g->scope_depth++] = piece[0]->scope;
    int64_t at = 0, len = x->shape.dim[axis];
    for (int j = 0; j <= n; j++) {
        int64_t start = j < n ? piece[j]->attrs.i[1] : len;
        if (start > at) {
            nb_shape gap = x->shape;
            gap.dim[axis] = start - at;
            parts[k++] = nb_full(g, gap, 0.0f);
        }
        if (j < n) {
            parts[k++] = s->adj[piece[j]->id];
            at = piece[j]->attrs.i[2];
        }
    }
    nb_node *d = k == 1 ? parts[0] : nb_concat(g, parts, k, axis);
    g->scope_depth = depth;
    st = d ? accumulate(g, s, x, d, piece[0], 0) : g->status;
    nb__free(g, piece, bytes);
    return st;
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
static nb_status run_vjp(nb_graph *g, grad_state *s, nb_node *n)
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

/* A slice whose gradient waits for its input joins that input's list;
 * every other node runs its vjp now. */
static nb_status backprop_node(nb_graph *g, grad_state *s, nb_node *n)
{
    if (!held_back(s, n))
        return run_vjp(g, s, n);
    int x = n->in[0]->id;
    s->next[n->id] = s->pending[x];
    s->pending[x] = n->id;
    return NB_OK;
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
    mark_slices(g, s, loss->id);
    s->adj[loss->id] = nb_full(g, loss->shape, 1.0f);
    if (!s->adj[loss->id])
        return g->status;
    for (int i = loss->id; i >= 0; i--) {
        nb_node *node = g->nodes[i];
        nb_status st = s->pending[i] >= 0 ? gather_slices(g, s, node) : NB_OK;
        if (st != NB_OK)
            return st;
        if (!s->needed[i] || !s->adj[i] || node->kind != NB_NODE_OP)
            continue;
        st = backprop_node(g, s, node);
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
    grad_state s = {.bytes = count * (sizeof(nb_node *) + 4 * sizeof(int) + 2 * sizeof(bool))};
    unsigned char *mem = nb__alloc(g, s.bytes, "gradient bookkeeping");
    if (!mem)
        return g->status;
    memset(mem, 0, s.bytes);
    s.adj = (nb_node **)mem;
    s.axis = (int *)(s.adj + count);
    s.readers = s.axis + count;
    s.pending = s.readers + count;
    s.next = s.pending + count;
    s.needed = (bool *)(s.next + count);
    bool was_backward = g->building_backward;
    g->building_backward = true;
    st = run_backward(g, &s, loss, wrt, n, grads);
    g->building_backward = was_backward;
    nb__free(g, mem, s.bytes);
    return st;
}
