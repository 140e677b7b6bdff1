/*
 * fusion_gates.c — the gate patterns of the fusion table (fusion.c): the
 * elementwise work of a recurrent cell around its gate product, as
 * layers/recurrent.c composes an LSTM (or GRU) step and the vjp rules of
 * sigmoid, tanh, mul, add and slice differentiate it. The graph keeps its
 * slices and concats; these groups only run them as fewer steps
 * (kernels/gates.h):
 *
 *   gate activation   sigmoid or tanh of slice(z, last axis, [off, off + w)),
 *                     the slice read by nothing else: one step reading the
 *                     gate product z in place, no slice copied.
 *   gate gradients    concat along the last axis of pieces, each a gate's
 *                     gradient through its activation,
 *                       σ:     mul(mul(a, b), mul(y, sub(k, y)))
 *                       tanh:  mul(mul(a, b), sub(k, mul(y, y)))
 *                     (σ's and tanh's vjp rules over an upstream mul, the
 *                     gate's share of a product: dc·g, dc·c, dh·tanh c′, …),
 *                     or any other value copied: one step writing the
 *                     [N, G·H] gradient of the gate product, no concat.
 *   cell gradient     one such piece plus an addend, c or mul(c, d): an
 *                     LSTM's dc = dc_next·f_next + dh·o·(1 − tanh²c′).
 *
 * Operands of a product may come in either order, a product's or a sum's
 * value does not depend on it. k must be one number (the rule's constant
 * 1, read as an input, whatever it holds); every other operand has the
 * piece's shape exactly (no broadcasting). A member must pass sole(): a
 * value anything else reads stays its own step, and the piece is then
 * copied or the group not formed.
 */
#include <string.h>

#include "fusion.h"
#include "kernels/gates.h"

static bool is_op(const nb_node *n, nb__op_id id)
{
    return n->kind == NB_NODE_OP && n->op == &nb__op_table[id];
}

/* ---------------------------------------------------------------- group building */

/* A group under construction: members (in any order until sorted), inputs
 * deduplicated. */
typedef struct group {
    nb__fusion *f;
    nb__fuse_sole_fn sole;
    const void *ctx;
    int n_nodes;
    const nb_node *nodes[NB__FUSE_MAX];
} group;

/* The index of v in f->in, added if new; -1 when in[] is full. */
static int input_of(group *gr, const nb_node *v)
{
    nb__fusion *f = gr->f;
    for (int k = 0; k < f->n_in; k++)
        if (f->in[k] == v)
            return k;
    if (f->n_in >= NB__FUSE_MAX + 1 || f->n_in > INT8_MAX)
        return -1;
    f->in[f->n_in] = (nb_node *)v;
    return f->n_in++;
}

/* n is a member a group may fold: an op of shape s read only by the group. */
static bool foldable(const group *gr, const nb_node *n, const nb_shape *s)
{
    return n->kind == NB_NODE_OP && nb_shape_equal(n->shape, *s) && gr->sole(gr->ctx, n);
}

/* A value read whole: shape s exactly. */
static bool whole(const nb_node *v, const nb_shape *s)
{
    return nb_shape_equal(v->shape, *s);
}

/* mul(x, x'), x' == x given: fills the operands; false otherwise. */
static bool product(const group *gr, const nb_node *n, const nb_shape *s, const nb_node **x,
                    const nb_node **y)
{
    if (!is_op(n, NB_OP_MUL) || !foldable(gr, n, s) || !whole(n->in[0], s) || !whole(n->in[1], s))
        return false;
    *x = n->in[0], *y = n->in[1];
    return true;
}

/* sub(k, x) with k one number: fills k and x. */
static bool one_minus(const group *gr, const nb_node *n, const nb_shape *s, const nb_node **k,
                      const nb_node **x)
{
    if (!is_op(n, NB_OP_SUB) || !foldable(gr, n, s) || nb__numel(&n->in[0]->shape) != 1 ||
        !whole(n->in[1], s))
        return false;
    *k = n->in[0], *x = n->in[1];
    return true;
}

/* q is an activation's slope: σ's y·(k − y) or tanh's k − y·y. Fills the
 * kind, y, k and the members (2). */
static bool slope(const group *gr, const nb_node *q, const nb_shape *s, nb__gate_piece *p,
                  const nb_node **y, const nb_node **k, const nb_node **members)
{
    const nb_node *u, *v, *x;
    if (one_minus(gr, q, s, k, &x) && product(gr, x, s, &u, &v) && u == v) {
        p->kind = NB__GATE_TANH, *y = u, members[0] = x, members[1] = q;
        return true;
    }
    if (!product(gr, q, s, &u, &v))
        return false;
    for (int side = 0; side < 2; side++) {
        const nb_node *yy = side ? v : u, *m = side ? u : v;
        if (one_minus(gr, m, s, k, &x) && x == yy) {
            p->kind = NB__GATE_SIGMOID, *y = yy, members[0] = m, members[1] = q;
            return true;
        }
    }
    return false;
}

/* n = mul(mul(a, b), slope): a gate's gradient through its activation.
 * Fills the piece (inputs added to the group) and its members (4). */
static bool gate_piece(group *gr, const nb_node *n, nb__gate_piece *p, const nb_node **members)
{
    const nb_shape *s = &n->shape;
    const nb_node *l, *r;
    if (!product(gr, n, s, &l, &r))
        return false;
    for (int side = 0; side < 2; side++) {
        const nb_node *pq = side ? r : l, *q = side ? l : r, *a, *b, *y, *k;
        if (!product(gr, pq, s, &a, &b) || !slope(gr, q, s, p, &y, &k, members))
            continue;
        members[2] = pq, members[3] = n;
        const int ia = input_of(gr, a), ib = input_of(gr, b), iy = input_of(gr, y),
                  ik = input_of(gr, k);
        if (ia < 0 || ib < 0 || iy < 0 || ik < 0)
            return false;
        p->a = (int8_t)ia, p->b = (int8_t)ib, p->y = (int8_t)iy, p->k = (int8_t)ik;
        p->c = p->d = -1;
        p->width = (int32_t)(s->rank ? s->dim[s->rank - 1] : 1);
        return true;
    }
    return false;
}

static void add_members(group *gr, const nb_node *const *m, int n)
{
    for (int i = 0; i < n; i++)
        gr->nodes[gr->n_nodes++] = m[i];
}

/* The members in creation order (a topological order), last one last. */
static void finish(group *gr, const nb__gate_kernel *k)
{
    for (int i = 1; i < gr->n_nodes; i++)
        for (int j = i; j > 0 && gr->nodes[j - 1]->id > gr->nodes[j]->id; j--) {
            const nb_node *t = gr->nodes[j];
            gr->nodes[j] = gr->nodes[j - 1], gr->nodes[j - 1] = t;
        }
    gr->f->n_nodes = gr->n_nodes;
    memcpy(gr->f->nodes, gr->nodes, (size_t)gr->n_nodes * sizeof gr->nodes[0]);
    memset(gr->f->kernel, 0, sizeof gr->f->kernel);
    memcpy(gr->f->kernel, k, sizeof *k);
}

/* Rows of a value whose last dimension is w. */
static int64_t rows_of(const nb_shape *s)
{
    const int64_t w = s->rank ? s->dim[s->rank - 1] : 1;
    return w ? nb__numel(s) / w : 0;
}

/* ---------------------------------------------------------------- activation */

bool nb__fuse_gate_activation(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx,
                              nb__fusion *f)
{
    if (!is_op(last, NB_OP_SIGMOID) && !is_op(last, NB_OP_TANH))
        return false;
    const nb_node *sl = last->in[0];
    if (!is_op(sl, NB_OP_SLICE) || !sole(ctx, sl))
        return false;
    const nb_shape *z = &sl->in[0]->shape, *s = &sl->shape;
    const int64_t *a = sl->attrs.i; /* axis, start, stop, step */
    if (s->rank < 1 || a[0] != s->rank - 1 || a[3] != 1)
        return false;
    nb__gate_kernel k = {.rows = rows_of(s), .width = s->dim[s->rank - 1],
                         .zw = z->dim[z->rank - 1], .off = a[1],
                         .act = (uint8_t)(last->op - nb__op_table)};
    f->n_nodes = 2;
    f->nodes[0] = sl, f->nodes[1] = last;
    f->n_in = 1;
    f->in[0] = sl->in[0];
    memset(f->kernel, 0, sizeof f->kernel);
    memcpy(f->kernel, &k, sizeof k);
    return true;
}

/* ---------------------------------------------------------------- gradients */

bool nb__fuse_gate_gradients(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx,
                             nb__fusion *f)
{
    const int rank = last->shape.rank;
    if (!is_op(last, NB_OP_CONCAT) || rank < 1 || last->attrs.i[0] != rank - 1 ||
        last->n_in > NB__GATE_PIECES)
        return false;
    group gr = {.f = f, .sole = sole, .ctx = ctx};
    nb__gate_kernel k = {.rows = rows_of(&last->shape), .width = last->shape.dim[rank - 1],
                         .n_pieces = last->n_in};
    f->n_in = 0;
    int matched = 0;
    for (int q = 0; q < last->n_in; q++) {
        const nb_node *v = last->in[q], *members[4];
        nb__gate_piece *p = &k.piece[q];
        const int before = f->n_in;
        if (gr.n_nodes + 4 < NB__FUSE_MAX && gate_piece(&gr, v, p, members)) {
            add_members(&gr, members, 4);
            matched++;
            continue;
        }
        f->n_in = before; /* a partial match added inputs it does not read */
        const int ia = input_of(&gr, v);
        if (ia < 0)
            return false;
        *p = (nb__gate_piece){.kind = NB__GATE_COPY, .a = (int8_t)ia, .b = -1, .y = -1, .k = -1,
                              .c = -1, .d = -1,
                              .width = (int32_t)v->shape.dim[rank - 1]};
    }
    if (matched == 0)
        return false;
    gr.nodes[gr.n_nodes++] = last;
    finish(&gr, &k);
    return true;
}

bool nb__fuse_cell_gradient(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx,
                            nb__fusion *f)
{
    if (!is_op(last, NB_OP_ADD) || !whole(last->in[0], &last->shape) ||
        !whole(last->in[1], &last->shape))
        return false;
    const nb_shape *s = &last->shape;
    for (int side = 0; side < 2; side++) {
        group gr = {.f = f, .sole = sole, .ctx = ctx};
        nb__gate_kernel k = {.rows = rows_of(s), .width = s->rank ? s->dim[s->rank - 1] : 1,
                             .n_pieces = 1};
        nb__gate_piece *p = &k.piece[0];
        const nb_node *members[4], *core = last->in[side], *addend = last->in[1 - side], *c, *d;
        f->n_in = 0;
        if (!gate_piece(&gr, core, p, members))
            continue;
        add_members(&gr, members, 4);
        int ic, id = -1;
        const bool folded = product(&gr, addend, s, &c, &d);
        if (folded) {
            ic = input_of(&gr, c), id = input_of(&gr, d);
            gr.nodes[gr.n_nodes++] = addend;
        } else {
            ic = input_of(&gr, addend);
        }
        if (ic < 0 || (folded && id < 0))
            return false;
        p->c = (int8_t)ic, p->d = (int8_t)id;
        gr.nodes[gr.n_nodes++] = last;
        finish(&gr, &k);
        return true;
    }
    return false;
}
