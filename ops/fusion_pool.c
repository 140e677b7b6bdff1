/*
 * fusion_pool.c — the pooling patterns of the fusion table (fusion.c):
 * the reduction over the windows of unfold2d(x), as layers/pool.c composes
 * it, run by a direct kernel (kernels/pool_direct.c) that reads the image
 * x instead of the columns. The group is the reduction alone (and the
 * scalar after a sum); the columns and their view stay planned while
 * anything else reads them, and are dropped by the planner once nothing
 * does.
 *
 *   max:  unfold2d(x) → reshape [N, C, kh·kw, L] → reduce_max over axis 2
 *   sum:  unfold2d(x) → reshape [N, C, kh·kw, L] → sum over axis 2 (→ · s)
 *
 * keepdims either way (the values' layout is the same).
 */
#include <string.h>

#include "fusion.h"
#include "kernels/pool.h"

/* The node is op `op`. */
static bool is_op(const nb_node *n, nb__op_id op)
{
    return n->kind == NB_NODE_OP && n->op == &nb__op_table[op];
}

/* cols [N, C·kk, L] viewed as v [N, C, kk, L]: every window along axis 2. */
static bool windows_view(const nb_node *v, const nb_node *cols)
{
    const nb_shape *c = &cols->shape, *s = &v->shape;
    const win k = nb__window_of(cols);
    const int64_t channels = cols->in[0]->shape.dim[1];
    return s->rank == 4 && s->dim[0] == c->dim[0] && s->dim[1] == channels &&
           s->dim[2] == k.kh * k.kw && s->dim[3] == c->dim[2];
}

/* The unfold2d whose windows reduction r reduces, or NULL: r's input is a
 * reshape of the columns putting each window along axis 2, reduced alone. */
static const nb_node *pooled_columns(const nb_node *r)
{
    const nb_node *v = r->in[0];
    if (!is_op(v, NB_OP_RESHAPE) || nb__reduce_axes(r) != (int64_t)1 << 2)
        return NULL;
    const nb_node *cols = v->in[0];
    return is_op(cols, NB_OP_UNFOLD2D) && windows_view(v, cols) ? cols : NULL;
}

/* Fills f: members, the image as in[0], the kernel. */
static void pool_group(nb__fusion *f, const nb_node *const *members, int n,
                       const nb_node *cols, bool scaled)
{
    nb__pool_kernel k = nb__pool_geometry(nb__window_of(cols), &cols->in[0]->shape);
    k.scaled = scaled;
    f->n_nodes = n;
    for (int i = 0; i < n; i++)
        f->nodes[i] = members[i];
    f->n_in = 1;
    f->in[0] = cols->in[0];
    memset(f->kernel, 0, sizeof f->kernel);
    memcpy(f->kernel, &k, sizeof k);
}

bool nb__fuse_maxpool(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx, nb__fusion *f)
{
    (void)sole, (void)ctx;
    const nb_node *cols = is_op(last, NB_OP_REDUCE_MAX) ? pooled_columns(last) : NULL;
    if (!cols)
        return false;
    pool_group(f, &last, 1, cols, false);
    return true;
}

bool nb__fuse_avgpool(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx, nb__fusion *f)
{
    /* sum · s, the sum read by the product alone: one group of both. */
    if (is_op(last, NB_OP_MUL)) {
        for (int k = 0; k < 2; k++) {
            const nb_node *s = last->in[k], *c = last->in[1 - k];
            const nb_node *cols = is_op(s, NB_OP_SUM) ? pooled_columns(s) : NULL;
            if (!cols || nb__numel(&c->shape) != 1 || !sole(ctx, s) ||
                !nb_shape_equal(s->shape, last->shape))
                continue;
            const nb_node *members[2] = {s, last};
            pool_group(f, members, 2, cols, true);
            f->in[f->n_in++] = last->in[1 - k];
            return true;
        }
        return false;
    }
    const nb_node *cols = is_op(last, NB_OP_SUM) ? pooled_columns(last) : NULL;
    if (!cols)
        return false;
    pool_group(f, &last, 1, cols, false);
    return true;
}
