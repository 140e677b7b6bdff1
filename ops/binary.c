/*
 * binary.c — elementwise ops with NumPy broadcasting: add, sub, mul, div,
 * max, min, pow, the comparisons gt, ge, eq (giving 0 or 1), and where
 * (cond ≠ 0 ? a : b, three-way broadcast). No attributes: every nb_attrs
 * slot is unused. The output shape is the broadcast of the inputs
 * (nb__shape_broadcast, which refuses with the op, both nodes and shapes).
 *
 * The kernels are in ops/kernels/ (binary.h): the common patterns, found
 * from element counts alone (nb__ew_classify), are equal shapes as one flat
 * row, a scalar operand as one row with a fixed value, and a bias row ([C]
 * against [N, C]) as rows read against the same one; a runtime picks that
 * kernel once per node (nb__kernel_choose), so a run does not re-derive it.
 * Every other broadcast goes through one general driver (nb__ew_general).
 * Inside, each op has its own plain loop per stride pattern, which the
 * compiler vectorises (long rows in an AVX2 copy where the CPU has it).
 */
#include "kernels/binary.h"

/* in[k] [broadcastable to out] -> out [n->shape]: the common patterns
 * directly, anything else through the general index map. */
static void ew_forward(const nb_node *n, ew_op op, const float *const *in, float *out)
{
    nb__kernel f;
    nb__kernel_fn run = nb__ew_classify(n, op, &f);
    if (run)
        run(&f, in, out);
    else
        nb__ew_general(n, op, in, out);
}

/* Each op's forward and kernel choice (op_list.h names them). */
#define EW_ENTRY_POINTS(ID, NAME, EXPR)                                                     \
    void nb__##NAME##_forward(const nb_node *n, const float *const *in, float *out)         \
    {                                                                                       \
        ew_forward(n, EW_##ID, in, out);                                                    \
    }                                                                                       \
    nb__kernel_fn nb__##NAME##_fast(const nb_node *n, nb__kernel *k)                        \
    {                                                                                       \
        return nb__ew_classify(n, EW_##ID, k);                                              \
    }
EW_OPS(EW_ENTRY_POINTS)
EW_ENTRY_POINTS(WHERE, where, 0)
#undef EW_ENTRY_POINTS

/* ---------------------------------------------------------------- vjp rules
 * dy has the broadcast (output) shape; each gradient is formed at that shape
 * and summed back down to its input's shape by nb__unbroadcast. Only public
 * builders appear, so the result differentiates again; the 0/1 masks from
 * comparisons carry no gradient, and none is needed through them. */

/* Sets dx[0], dx[1] to the full-shape gradients da, db summed down to the
 * inputs' shapes; the graph's status if a builder failed (a NULL da or db). */
static nb_status finish2(nb_graph *g, nb_node *n, nb_node *da, nb_node *db, nb_node **dx)
{
    dx[0] = nb__unbroadcast(g, da, n->in[0]->shape);
    dx[1] = nb__unbroadcast(g, db, n->in[1]->shape);
    return dx[0] && dx[1] ? NB_OK : g->status;
}

/* d(a + b) = (dy, dy) */
nb_status nb__add_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    return finish2(g, n, dy, dy, dx);
}

/* d(a - b) = (dy, -dy) */
nb_status nb__sub_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    return finish2(g, n, dy, nb_neg(g, dy), dx);
}

/* d(a · b) = (dy · b, dy · a) */
nb_status nb__mul_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    nb_node *a = n->in[0], *b = n->in[1];
    return finish2(g, n, nb_mul(g, dy, b), nb_mul(g, dy, a), dx);
}

/* d(a / b) = (dy / b, -dy · y / b), with y = a / b the node itself */
nb_status nb__div_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    nb_node *b = n->in[1];
    nb_node *da = nb_div(g, dy, b);
    nb_node *db = nb_neg(g, nb_div(g, nb_mul(g, dy, n), b));
    return finish2(g, n, da, db, dx);
}

/* d max(a, b) = (dy · [a ≥ b], dy · [b > a]): ties go to a */
nb_status nb__max_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    nb_node *a = n->in[0], *b = n->in[1];
    return finish2(g, n, nb_mul(g, dy, nb_ge(g, a, b)), nb_mul(g, dy, nb_gt(g, b, a)), dx);
}

/* d min(a, b) = (dy · [b ≥ a], dy · [a > b]): ties go to a */
nb_status nb__min_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    nb_node *a = n->in[0], *b = n->in[1];
    return finish2(g, n, nb_mul(g, dy, nb_ge(g, b, a)), nb_mul(g, dy, nb_gt(g, a, b)), dx);
}

/*
 * d a^b = (dy · b · a^(b-1), dy · y · ln a). The exponent's gradient needs
 * a > 0 (it is NaN otherwise, as the derivative is undefined there); when b
 * is a constant that node is built but never planned.
 */
nb_status nb__pow_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    nb_node *a = n->in[0], *b = n->in[1];
    nb_node *slope = nb_mul(g, b, nb_pow(g, a, nb_sub(g, b, nb_scalar(g, 1.0f))));
    nb_node *da = nb_mul(g, dy, slope);
    nb_node *db = nb_mul(g, dy, nb_mul(g, n, nb_log(g, a)));
    return finish2(g, n, da, db, dx);
}

/* Comparisons are piecewise constant: no gradient flows, dx stays NULL. */
static nb_status no_gradient(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    (void)g, (void)n, (void)dy, (void)dx;
    return NB_OK;
}

nb_status nb__gt_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx) { return no_gradient(g, n, dy, dx); }
nb_status nb__ge_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx) { return no_gradient(g, n, dy, dx); }
nb_status nb__eq_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx) { return no_gradient(g, n, dy, dx); }

/* d where(c, a, b) = (none, where(c, dy, 0), where(c, 0, dy)) */
nb_status nb__where_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    nb_node *c = n->in[0], *zero = nb_scalar(g, 0.0f);
    dx[1] = nb__unbroadcast(g, nb_where(g, c, dy, zero), n->in[1]->shape);
    dx[2] = nb__unbroadcast(g, nb_where(g, c, zero, dy), n->in[2]->shape);
    return dx[1] && dx[2] ? NB_OK : g->status;
}

/* ---------------------------------------------------------------- builders
 * NULL g gives NULL; NULL inputs are refused by nb__node_new, which keeps
 * the first message; shapes that do not broadcast are refused by the shape
 * rule ("add: shapes do not broadcast: 'a' [3,4] and 'b' [5]"). */

static nb_node *binary(nb_graph *g, nb__op_id id, nb_node *a, nb_node *b)
{
    nb_node *in[2] = {a, b};
    return nb__node_new(g, &nb__op_table[id], in, 2, NULL);
}

#define EW_BUILDER(ID, NAME, EXPR)                                                          \
    nb_node *nb_##NAME(nb_graph *g, nb_node *a, nb_node *b)                                 \
    {                                                                                       \
        return binary(g, NB_OP_##ID, a, b);                                                 \
    }
EW_OPS(EW_BUILDER)
#undef EW_BUILDER

nb_node *nb_where(nb_graph *g, nb_node *cond, nb_node *a, nb_node *b)
{
    nb_node *in[3] = {cond, a, b};
    return nb__node_new(g, NB__OP(WHERE), in, 3, NULL);
}
