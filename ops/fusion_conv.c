/*
 * fusion_conv.c — the convolution patterns of the fusion table (fusion.c),
 * as layers/conv.c and matmul's gradient rule compose a convolution:
 *
 *   forward:          matmul(w [F, C·kh·kw], unfold2d(x)) [N, F, L]
 *                     [→ reshape [N, F, ...]] [→ elementwise epilogue]
 *   weight gradient:  sum over axis 0 of matmul(dy [N, F, L], unfold2d(x), tb)
 *
 * Each becomes one step of kernels/conv_direct.c, which reads x through the
 * window instead of the columns. The columns are not a member of either
 * group (other nodes may read them): the groups read x in their place, and
 * the planner drops the columns once nothing reads them any more. Groups
 * (a batched product per group of channels), sizes past the kernel's
 * geometry and CPUs without AVX2/FMA (where sgemm serves better than the
 * plain blocks) do not match: the plain steps stay.
 */
#include <string.h>

#include "fusion.h"
#include "kernels/conv_direct.h"

enum { UNFOLD_KH, UNFOLD_KW, UNFOLD_SH, UNFOLD_SW, UNFOLD_PH, UNFOLD_PW, UNFOLD_DH, UNFOLD_DW };

static bool is_op(const nb_node *n, nb__op_id id)
{
    return n->kind == NB_NODE_OP && n->op == &nb__op_table[id];
}

static bool fits(int64_t v)
{
    return v >= 0 && v <= NB__CONV_DIM_MAX;
}

/* The geometry of the columns u = unfold2d(x) multiplied with f filters:
 * false when a size does not fit it or the CPU has no FMA blocks. */
static bool geometry(const nb_node *u, int64_t f, nb__conv_geom *g)
{
    const nb_shape *x = &u->in[0]->shape;
    const int64_t *a = u->attrs.i;
    const int64_t l = u->shape.dim[2];
    const int64_t kw = a[UNFOLD_KW], ow = (x->dim[3] + 2 * a[UNFOLD_PW] - a[UNFOLD_DW] * (kw - 1) - 1) /
                                         a[UNFOLD_SW] + 1;
    const int64_t v[] = {x->dim[1], x->dim[2], x->dim[3], f, l / ow, ow, a[UNFOLD_KH], kw,
                         a[UNFOLD_SH], a[UNFOLD_SW], a[UNFOLD_PH], a[UNFOLD_PW], a[UNFOLD_DH],
                         a[UNFOLD_DW]};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (!fits(v[i]))
            return false;
    if (x->dim[0] > INT32_MAX || !nb__conv_fma_cpu())
        return false;
    *g = (nb__conv_geom){.n = (int32_t)x->dim[0], .c = (int16_t)v[0], .h = (int16_t)v[1],
                         .w = (int16_t)v[2], .f = (int16_t)v[3], .oh = (int16_t)v[4],
                         .ow = (int16_t)v[5], .kh = (int16_t)v[6], .kw = (int16_t)v[7],
                         .sh = (int16_t)v[8], .sw = (int16_t)v[9], .ph = (int16_t)v[10],
                         .pw = (int16_t)v[11], .dh = (int16_t)v[12], .dw = (int16_t)v[13]};
    return true;
}

/* The step's bytes: the kernel, its program already in k->fz. */
static void finish(nb__fusion *f, const nb__conv_kernel *k)
{
    memset(f->kernel, 0, sizeof f->kernel);
    memcpy(f->kernel, k, sizeof *k);
}

/* ---------------------------------------------------------------- forward */

/* A product of w [F, C·kh·kw] (one matrix, neither transposed) with
 * columns straight from unfold2d. */
static bool conv_product(const nb_node *m)
{
    return is_op(m, NB_OP_MATMUL) && !m->attrs.i[0] && !m->attrs.i[1] &&
           m->in[0]->shape.rank == 2 && is_op(m->in[1], NB_OP_UNFOLD2D);
}

/* How an epilogue operand x is read against the value out [N, F, ...]:
 * whole, as one number, or one number per filter ([F, 1, 1] against
 * [N, F, OH, OW]); -1 otherwise (a row under every row does not fit the
 * kernel's rows of OH·OW). */
static int conv_operand_kind(const nb_shape *x, const nb_shape *out)
{
    if (nb_shape_equal(*x, *out))
        return NB__FZ_FULL;
    if (nb__numel(x) == 1)
        return NB__FZ_SCALAR;
    if (x->rank > out->rank || out->rank < 2)
        return -1;
    for (int d = 0; d < x->rank; d++) {
        const int a = d + out->rank - x->rank;
        if (x->dim[d] != (a == 1 ? out->dim[1] : 1))
            return -1;
    }
    return NB__FZ_CHANNEL;
}

/* The slot of epilogue op n holding the running value: an input of n's
 * shape that sole() admits and that is itself a member (an epilogue op, the
 * reshape or the product), the other operand read in a way the kernel can;
 * -1 if none. */
static int running_slot(const nb_node *n, nb__fuse_sole_fn sole, const void *ctx)
{
    for (int k = 0; k < n->n_in; k++) {
        const nb_node *c = n->in[k];
        if (!nb_shape_equal(c->shape, n->shape) || !sole(ctx, c) ||
            !(nb__fuse_chain_op(c) || is_op(c, NB_OP_RESHAPE) || conv_product(c)))
            continue;
        if (n->n_in == 2 && conv_operand_kind(&n->in[1 - k]->shape, &n->shape) < 0)
            continue;
        return k;
    }
    return -1;
}

/*
 * Walks back from last through the epilogue to the product: members in
 * back[] from last, slots of the running value in slot[]. Returns how many
 * members, 0 when last does not end a convolution.
 */
static int walk_back(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx,
                     const nb_node **back, int *slot)
{
    int n = 0;
    const nb_node *v = last;
    while (nb__fuse_chain_op(v) && n < NB__FZ_STEPS - 2) {
        const int k = running_slot(v, sole, ctx);
        if (k < 0)
            return 0;
        slot[n] = k;
        back[n++] = v;
        v = v->in[k];
    }
    /* A reshape ends no group (a view shares its input's bytes): the
     * product's own group then ends at the product. */
    if (is_op(v, NB_OP_RESHAPE) && v != last && sole(ctx, v->in[0])) {
        back[n++] = v;
        v = v->in[0];
    }
    if (!conv_product(v))
        return 0;
    back[n++] = v;
    /* The value: [N, F, ...] with the product's N·F·L elements. */
    const nb_shape *s = &last->shape, *p = &v->shape;
    return s->rank >= 2 && s->dim[0] == p->dim[0] && s->dim[1] == p->dim[1] ? n : 0;
}

bool nb__fuse_conv_forward(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx,
                           nb__fusion *f)
{
    const nb_node *back[NB__FZ_STEPS];
    int slot[NB__FZ_STEPS];
    const int n = walk_back(last, sole, ctx, back, slot);
    nb__conv_kernel k = {0};
    if (n == 0 || !geometry(back[n - 1]->in[1], back[n - 1]->shape.dim[1], &k.g))
        return false;
    const nb_node *m = back[n - 1];
    f->n_nodes = n;
    for (int i = 0; i < n; i++)
        f->nodes[i] = back[n - 1 - i];
    f->n_in = 2;
    f->in[0] = m->in[0];
    f->in[1] = m->in[1]->in[0]; /* x, read through the window */
    for (int i = n - 1; i >= 0; i--)
        if (nb__fuse_chain_op(back[i]))
            nb__fuse_add_step(f, &k.fz, back[i], slot[i], conv_operand_kind);
    k.fz.rows = (int64_t)k.g.n * k.g.f;
    k.fz.len = (int64_t)k.g.oh * k.g.ow;
    k.fz.chans = k.g.f;
    finish(f, &k);
    return true;
}

/* ---------------------------------------------------------------- weight gradient */

bool nb__fuse_conv_weight_grad(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx,
                               nb__fusion *f)
{
    if (!is_op(last, NB_OP_SUM) || last->attrs.i[0] != 1)
        return false;
    const nb_node *m = last->in[0];
    if (!is_op(m, NB_OP_MATMUL) || m->attrs.i[0] || !m->attrs.i[1] || !sole(ctx, m) ||
        !is_op(m->in[1], NB_OP_UNFOLD2D) || m->in[0]->shape.rank != 3 ||
        m->in[0]->shape.dim[0] != m->in[1]->shape.dim[0])
        return false;
    nb__conv_kernel k = {0};
    if (!geometry(m->in[1], m->in[0]->shape.dim[1], &k.g) || !nb__conv_wg_fits(&k.g))
        return false;
    f->n_nodes = 2;
    f->nodes[0] = m;
    f->nodes[1] = last;
    f->n_in = 2;
    f->in[0] = m->in[0];
    f->in[1] = m->in[1]->in[0];
    finish(f, &k);
    return true;
}
