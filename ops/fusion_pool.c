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
 * keepdims either way (the values' layout is the same). And their
 * gradients, as the vjp rules of reduce_max, sum, reshape and unfold2d
 * build them, each ending at the fold2d back onto the image:
 *
 *   max:  fold2d(reshape(mask · share)), mask = eq(reshape(unfold2d(x)), y),
 *         share = div(dy, sum(mask, axis 2, keepdims)); reads x, y, dy
 *   sum:  fold2d(reshape(expand(d))), d [N, C, 1, L]; reads d
 *
 * with y, dy, d [N, C, 1, L] and the unfold2d's window the fold2d's over
 * an image of the fold2d's shape. The kernels compute exactly these
 * expressions for any y and dy, so the match checks shapes, not where the
 * values came from. The intermediate values (the mask, the shares, the
 * expanded gradient, the columns) go once nothing else reads them.
 *
 * A relu before max pooling (max(z, s), s one number) puts its gradient
 * right after the pooling's: mul(fold2d(...), ge(z, s)), either order, or
 * gt. The max gradient's group then takes the ge and the mul too, and
 * multiplies each plane by the mask while it is in cache: one pass over
 * the image's gradient instead of a write, then a read by a chain. Where
 * the 2×2 AVX2 kernels run, the pooling and this group also read the
 * relu's input z instead of its value max(z, s), computing it on the fly;
 * the relu step then goes too.
 *
 * The image's gradient of a convolution whose output is pooled (through
 * the relu) is also summed over (N, H, W) for the bias's gradient, a
 * second pass over it. When the graph holds that sum, the max gradient's
 * group writes it as its side value: each plane summed while in cache,
 * in the sum step's own order (kernels/pool.h).
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

/* Fills f: members, in[0] (the image, or the windows' gradient), the
 * kernel of window k over images of shape `image`. */
static void pool_group(nb__fusion *f, const nb_node *const *members, int n, nb_node *in0, win k,
                       const nb_shape *image, bool scaled)
{
    nb__pool_kernel pk = nb__pool_geometry(k, image);
    pk.scaled = scaled;
    f->n_nodes = n;
    for (int i = 0; i < n; i++)
        f->nodes[i] = members[i];
    f->n_in = 1;
    f->in[0] = in0;
    memset(f->kernel, 0, sizeof f->kernel);
    memcpy(f->kernel, &pk, sizeof pk);
}

/* The group of a reduction over the windows of cols, reading the image. */
static void forward_group(nb__fusion *f, const nb_node *const *members, int n,
                          const nb_node *cols, bool scaled)
{
    pool_group(f, members, n, cols->in[0], nb__window_of(cols), &cols->in[0]->shape, scaled);
}

/* r = max(z, s), s one number: a relu (nb_relu) or a clamp from below. */
static bool relu_max(const nb_node *r)
{
    return is_op(r, NB_OP_MAX) && nb__numel(&r->in[1]->shape) == 1 &&
           nb_shape_equal(r->in[0]->shape, r->shape);
}

/* Makes the group read z and s instead of the image r = max(z, s) when
 * the 2×2 AVX2 kernels take its window: with every pooling group of r
 * reading past it, r gets no step and no buffer (a training step's relu
 * before max pooling). s joins at `at`. */
static void read_past_relu(nb__fusion *f, const nb_node *r, int at)
{
    nb__pool_kernel pk;
    memcpy(&pk, f->kernel, sizeof pk);
    if (!relu_max(r) || !nb__pool_2x2_avx2(&pk.k))
        return;
    pk.relu_in = true;
    memcpy(f->kernel, &pk, sizeof pk);
    f->in[0] = r->in[0];
    if (at >= f->n_in)
        f->in[f->n_in++] = r->in[1];
}

bool nb__fuse_maxpool(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx, nb__fusion *f)
{
    (void)sole, (void)ctx;
    const nb_node *cols = is_op(last, NB_OP_REDUCE_MAX) ? pooled_columns(last) : NULL;
    if (!cols)
        return false;
    forward_group(f, &last, 1, cols, false);
    read_past_relu(f, cols->in[0], 1);
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
            forward_group(f, members, 2, cols, true);
            f->in[f->n_in++] = last->in[1 - k];
            return true;
        }
        return false;
    }
    const nb_node *cols = is_op(last, NB_OP_SUM) ? pooled_columns(last) : NULL;
    if (!cols)
        return false;
    forward_group(f, &last, 1, cols, false);
    return true;
}

/* ---------------------------------------------------------------- gradients */

/* The shape [N, C, k, L] of the windows of fold2d `fold`, reading cols
 * [N, C·kh·kw, L]; k = kh·kw, or 1 for one value per window. */
static nb_shape windows_shape(const nb_node *fold, const nb_node *cols, bool one)
{
    const win k = nb__window_of(fold);
    return NB_SHAPE(fold->shape.dim[0], fold->shape.dim[1], one ? 1 : k.kh * k.kw,
                    cols->shape.dim[2]);
}

/* The node is op `op` of shape s. */
static bool is_op_of(const nb_node *n, nb__op_id op, nb_shape s)
{
    return is_op(n, op) && nb_shape_equal(n->shape, s);
}

/* The windows' values the fold2d `last` folds back, or NULL: last reads a
 * reshape of a [N, C, kh·kw, L] value. */
static const nb_node *folded_windows(const nb_node *last)
{
    if (!is_op(last, NB_OP_FOLD2D) || !is_op(last->in[0], NB_OP_RESHAPE))
        return NULL;
    const nb_node *v = last->in[0]->in[0];
    return nb_shape_equal(v->shape, windows_shape(last, last->in[0], false)) ? v : NULL;
}

/* The image whose windows v views, for fold2d `last` to fold back: v is a
 * reshape of unfold2d(x) with last's window, x of last's shape. NULL if not. */
static nb_node *unfolded_image(const nb_node *v, const nb_node *last)
{
    if (!is_op(v, NB_OP_RESHAPE) || !is_op(v->in[0], NB_OP_UNFOLD2D))
        return NULL;
    const nb_node *cols = v->in[0];
    const win a = nb__window_of(cols), b = nb__window_of(last);
    if (memcmp(&a, &b, sizeof a) != 0 || !nb_shape_equal(cols->in[0]->shape, last->shape) ||
        !windows_view(v, cols))
        return NULL;
    return cols->in[0];
}

/* mask = eq(windows of x, y): fills *x and *y; false if q is not one. */
static bool window_mask(const nb_node *q, const nb_node *last, nb_shape one, nb_node **x,
                        nb_node **y)
{
    for (int k = 0; k < 2; k++)
        if ((*x = unfolded_image(q->in[k], last)) && nb_shape_equal(q->in[1 - k]->shape, one)) {
            *y = q->in[1 - k];
            return true;
        }
    return false;
}

bool nb__fuse_maxpool_grad(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx,
                           nb__fusion *f)
{
    (void)sole, (void)ctx;
    const nb_node *m = folded_windows(last);
    if (!m || !is_op(m, NB_OP_MUL))
        return false;
    const nb_shape all = m->shape, one = windows_shape(last, last->in[0], true);
    for (int k = 0; k < 2; k++) {
        const nb_node *q = m->in[k], *d = m->in[1 - k];
        nb_node *x, *y;
        if (!is_op_of(q, NB_OP_EQ, all) || !is_op_of(d, NB_OP_DIV, one) ||
            !window_mask(q, last, one, &x, &y))
            continue;
        const nb_node *count = d->in[1];
        if (!nb_shape_equal(d->in[0]->shape, one) || !is_op_of(count, NB_OP_SUM, one) ||
            count->in[0] != q || nb__reduce_axes(count) != (int64_t)1 << 2)
            continue;
        pool_group(f, &last, 1, x, nb__window_of(last), &last->shape, false);
        f->in[f->n_in++] = y;
        f->in[f->n_in++] = d->in[0];
        return true;
    }
    return false;
}

bool nb__fuse_maxpool_relu_grad(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx,
                                nb__fusion *f)
{
    if (!is_op(last, NB_OP_MUL))
        return false;
    for (int k = 0; k < 2; k++) {
        const nb_node *fold = last->in[k], *q = last->in[1 - k];
        if (!(is_op(q, NB_OP_GE) || is_op(q, NB_OP_GT)) || !is_op(fold, NB_OP_FOLD2D) ||
            !nb_shape_equal(fold->shape, last->shape) || !nb_shape_equal(q->shape, last->shape) ||
            !nb_shape_equal(q->in[0]->shape, last->shape) || nb__numel(&q->in[1]->shape) != 1 ||
            !sole(ctx, fold) || !sole(ctx, q) || !nb__fuse_maxpool_grad(fold, sole, ctx, f))
            continue;
        nb__pool_kernel pk;
        memcpy(&pk, f->kernel, sizeof pk);
        pk.mask = is_op(q, NB_OP_GE) ? NB__POOL_MASK_GE : NB__POOL_MASK_GT;
        pk.mask_left = k == 1;
        memcpy(f->kernel, &pk, sizeof pk);
        f->nodes[f->n_nodes++] = q;
        f->nodes[f->n_nodes++] = last;
        const nb_node *x = f->in[0];
        f->in[f->n_in++] = q->in[0];
        f->in[f->n_in++] = q->in[1];
        /* the relu's own max(z, s), whose ge(z, s) this is: read z */
        if (is_op(q, NB_OP_GE) && relu_max(x) && x->in[0] == q->in[0] && x->in[1] == q->in[1])
            read_past_relu(f, x, 4);
        return true;
    }
    return false;
}

/* The sum over axes 0, 2, 3 of g [N, C, H, W] (C > 1: with one channel the
 * sum's kernel folds all planes as one row, not plane by plane), made
 * after g as every reader of it is; NULL if the graph holds none. */
static const nb_node *bias_sum(const nb_node *g)
{
    const nb_shape *s = &g->shape;
    if (s->rank != 4 || s->dim[1] < 2 || s->dim[0] * s->dim[1] > NB__POOL_BIAS_PLANES)
        return NULL;
    const nb_graph *graph = g->g;
    for (int i = g->id + 1; i < graph->n_nodes; i++) {
        const nb_node *n = graph->nodes[i];
        if (is_op(n, NB_OP_SUM) && n->in[0] == g && nb__reduce_axes(n) == 0xd)
            return n;
    }
    return NULL;
}

/* Group f, ending at last, also writes the bias sum of last's value. */
static bool with_bias(const nb_node *last, nb__fusion *f)
{
    const nb_node *b = bias_sum(last);
    if (!b || f->n_nodes >= NB__FUSE_MAX || f->n_in > NB__FUSE_MAX)
        return false;
    nb__pool_kernel pk;
    memcpy(&pk, f->kernel, sizeof pk);
    pk.bias_at = (int8_t)f->n_in;
    pk.chans = last->shape.dim[1];
    memcpy(f->kernel, &pk, sizeof pk);
    f->nodes[f->n_nodes - 1] = b;
    f->nodes[f->n_nodes++] = last;
    f->in[f->n_in++] = (nb_node *)b;
    f->side = b;
    return true;
}

bool nb__fuse_maxpool_relu_bias_grad(const nb_node *last, nb__fuse_sole_fn sole,
                                     const void *ctx, nb__fusion *f)
{
    return nb__fuse_maxpool_relu_grad(last, sole, ctx, f) && with_bias(last, f);
}

bool nb__fuse_maxpool_bias_grad(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx,
                                nb__fusion *f)
{
    return nb__fuse_maxpool_grad(last, sole, ctx, f) && with_bias(last, f);
}

void nb__fuse_pool_drop_side(nb__fusion *f)
{
    nb__pool_kernel pk;
    memcpy(&pk, f->kernel, sizeof pk);
    pk.bias_at = 0;
    memcpy(f->kernel, &pk, sizeof pk);
    f->nodes[f->n_nodes - 2] = f->nodes[f->n_nodes - 1];
    f->n_nodes--;
    f->n_in--;
    f->side = NULL;
}

bool nb__fuse_avgpool_grad(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx,
                           nb__fusion *f)
{
    (void)sole, (void)ctx;
    const nb_node *e = folded_windows(last);
    if (!e || !is_op(e, NB_OP_EXPAND) ||
        !nb_shape_equal(e->in[0]->shape, windows_shape(last, last->in[0], true)))
        return false;
    pool_group(f, &last, 1, e->in[0], nb__window_of(last), &last->shape, false);
    return true;
}
