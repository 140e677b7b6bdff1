/*
 * broadcast.c — the shape rules elementwise ops share, and broadcasting's
 * adjoint, which every broadcasting vjp rule ends with.
 */
#include "ops_internal.h"

nb_status nb__shape_same(nb_graph *g, const nb_node *n, nb_shape *out)
{
    (void)g;
    *out = n->in[0]->shape;
    return NB_OK;
}

nb_status nb__shape_broadcast(nb_graph *g, const nb_node *n, nb_shape *out)
{
    nb_shape s = n->in[0]->shape;
    for (int i = 1; i < n->n_in; i++) {
        nb_shape next;
        if (!nb__broadcast_shape(s, n->in[i]->shape, &next)) {
            char a[200], b[200];
            return nb_graph_fail(g, NB_ERR_SHAPE, "%s: shapes do not broadcast: %s and %s",
                                 n->op->name, nb__describe(n->in[i - 1], a, sizeof a),
                                 nb__describe(n->in[i], b, sizeof b));
        }
        s = next;
    }
    *out = s;
    return NB_OK;
}

nb_node *nb__unbroadcast(nb_graph *g, nb_node *dy, nb_shape shape)
{
    if (!dy || nb_shape_equal(dy->shape, shape))
        return dy;
    int axes[NB_MAX_RANK], n = 0;
    int lead = dy->shape.rank - shape.rank;
    for (int i = 0; i < dy->shape.rank; i++) {
        int is = i - lead;
        if (is < 0 || (shape.dim[is] == 1 && dy->shape.dim[i] != 1))
            axes[n++] = i;
    }
    nb_node *s = n ? nb_sum(g, dy, axes, n, true) : dy;
    return nb_reshape(g, s, shape);
}
