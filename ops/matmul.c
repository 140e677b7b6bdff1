/*
 * matmul.c — batched matrix product with transpose flags, the hot path of
 * every dense and convolution layer: its shape rule, its kernel choice, the
 * walk over a batch of products, its vjp rule and its builder. Each product
 * is computed by ops/kernels/ (gemm.h): plain loops for tiny, small and
 * vector-like shapes, hand-tuned FMA kernels for a convolution's per-image
 * shapes and a dense layer's at a training batch, OpenBLAS's sgemm for the
 * rest. The items of a batched product split across threads, each product
 * on one, so no value depends on the thread count.
 *
 * Attributes: i[0] = ta, i[1] = tb (0 or 1). op(a) is a's last two
 * dimensions, transposed when ta; likewise op(b).
 *
 * a [..., M, K] (ta: [..., K, M]) · b [..., K, N] (tb: [..., N, K]) →
 * [..., M, N], the leading (batch) dimensions broadcast NumPy style.
 */
#include <stdio.h>

#include "kernels/gemm.h"

enum { TA, TB };

/* The sizes of one product, read from a node's inputs and attributes. */
static inline nb__mm mm_of(const nb_node *n)
{
    const nb_shape *a = &n->in[0]->shape, *b = &n->in[1]->shape;
    nb__mm s = {.ta = n->attrs.i[TA] != 0, .tb = n->attrs.i[TB] != 0};
    int64_t ar = a->dim[a->rank - 2], ac = a->dim[a->rank - 1];
    int64_t br = b->dim[b->rank - 2], bc = b->dim[b->rank - 1];
    s.m = s.ta ? ac : ar, s.k = s.ta ? ar : ac;
    s.kb = s.tb ? bc : br, s.n = s.tb ? br : bc;
    return s;
}

/* The batch part of s: every dimension but the last two. */
static nb_shape batch_of(nb_shape s)
{
    return nb_shape_make(s.rank - 2, s.dim);
}

/* ---------------------------------------------------------------- shape */

/* Refuses rank < 2, different inner sizes and batches that do not broadcast. */
nb_status nb__matmul_shape(nb_graph *g, const nb_node *n, nb_shape *out)
{
    const nb_node *a = n->in[0], *b = n->in[1];
    char da[300], db[300];
    nb__describe(a, da, sizeof da);
    nb__describe(b, db, sizeof db);
    if (a->shape.rank < 2 || b->shape.rank < 2)
        return nb_graph_fail(g, NB_ERR_SHAPE,
                             "matmul: both inputs need rank >= 2 (matrices), got %s and %s", da,
                             db);
    nb__mm s = mm_of(n);
    if (s.k != s.kb)
        return nb_graph_fail(g, NB_ERR_SHAPE, "matmul: inner dimensions differ: %s (%sK=%lld) and "
                             "%s (%sK=%lld)", da, s.ta ? "transposed, " : "", (long long)s.k, db,
                             s.tb ? "transposed, " : "", (long long)s.kb);
    nb_shape batch;
    if (!nb__broadcast_shape(batch_of(a->shape), batch_of(b->shape), &batch))
        return nb_graph_fail(g, NB_ERR_SHAPE,
                             "matmul: batch dimensions do not broadcast: %s and %s", da, db);
    batch.dim[batch.rank++] = s.m;
    batch.dim[batch.rank++] = s.n;
    *out = batch;
    return NB_OK;
}

/* ---------------------------------------------------------------- kernel */

/* The one-product case as a specialised kernel: the sizes kept in f. */
static void fast_matmul(const nb__kernel *f, const float *const *in, float *out)
{
    const nb__mm s = {.ta = f->ta, .tb = f->tb, .m = f->m, .k = f->k, .n = f->n, .kb = f->k};
    nb__gemm(&s, f->rows, in[0], in[1], out);
}

/* matmul's kernel choice: one product, when there is no batch or b is a
 * single matrix under a's rows (see nb__matmul_forward); a tiny one of
 * inner size 1 to 4 by a kernel with its dot products written out. */
nb__kernel_fn nb__matmul_fast(const nb_node *n, nb__kernel *f)
{
    const nb_shape *as = &n->in[0]->shape, *bs = &n->in[1]->shape;
    const nb__mm s = mm_of(n);
    const int64_t items = nb__numel(&n->shape) / (s.m * s.n);
    if (nb__numel(bs) != s.k * s.n || !(items == 1 || (!s.ta && as->rank >= bs->rank)))
        return NULL;
    *f = (nb__kernel){.ta = s.ta, .tb = s.tb, .m = s.m, .k = s.k, .n = s.n, .rows = items * s.m};
    nb__kernel_fn tiny = nb__gemm_tiny_kernel(f);
    return tiny ? tiny : fast_matmul;
}

/* A product of rank-2 matrices with inner size 1: op(a) [M, 1] and op(b)
 * [1, N] are M and N contiguous floats in either orientation, and
 * c[i, j] = a[i]·b[j]. */
bool nb__outer_product(const nb_node *n)
{
    return n->kind == NB_NODE_OP && n->op == NB__OP(MATMUL) && n->shape.rank == 2 &&
           mm_of(n).k == 1;
}

/* A product aᵀ·b of two rank-2 matrices, a [K, M] and b [K, N] row-major
 * (ta, no tb): a dense weight's gradient xᵀ·dz at a batch of K rows. */
bool nb__transposed_product(const nb_node *n)
{
    return n->kind == NB_NODE_OP && n->op == NB__OP(MATMUL) && n->shape.rank == 2 &&
           n->in[0]->shape.rank == 2 && n->in[1]->shape.rank == 2 && n->attrs.i[TA] != 0 &&
           n->attrs.i[TB] == 0;
}

/* Batch item t of a batched product: its inputs found through the broadcast
 * batch strides sa, sb of a and b against the output's batch shape ob. */
static inline void item_product(const nb__mm *s, const nb_shape *ob, const int64_t *sa,
                                const int64_t *sb, const float *const *in, float *out, int64_t t)
{
    int64_t ia = 0, ib = 0, rest = t;
    for (int d = ob->rank - 1; d >= 0; d--) {
        int64_t x = rest % ob->dim[d];
        rest /= ob->dim[d];
        ia += x * sa[d], ib += x * sb[d];
    }
    nb__gemm(s, s->m, in[0] + ia * s->m * s->k, in[1] + ib * s->k * s->n, out + t * s->m * s->n);
}

/*
 * a, b → out [batch..., M, N]. One product when there is no batch at all, or
 * when b's batch is a single matrix and a is not transposed: a's batch rows
 * are then just more rows of one M'×K matrix (the dense layer on any batch
 * shape; nb__matmul_fast). Otherwise one product per batch item, each input
 * stepping by its broadcast batch stride (0 along dimensions it stretches,
 * so a rank-2 a is read in place for every item). Products go to the plain
 * loops, the FMA kernels or sgemm (nb__gemm). Items split across threads when the batch's
 * work is large enough (a convolution's per-image products, too small for
 * OpenBLAS to thread; big products in a batch of a few split inside
 * instead): each item then runs on one thread (OpenBLAS and
 * mm_loops stay serial inside a parallel region) and writes its own output
 * block, so values do not depend on the thread count.
 */
void nb__matmul_forward(const nb_node *n, const float *const *in, float *out)
{
    nb__kernel f;
    nb__kernel_fn run = nb__matmul_fast(n, &f);
    if (run) {
        run(&f, in, out);
        return;
    }
    const nb_shape *as = &n->in[0]->shape, *bs = &n->in[1]->shape;
    const nb__mm s = mm_of(n);
    const int64_t items = nb__numel(&n->shape) / (s.m * s.n);
    const nb_shape ob = batch_of(n->shape);
    int64_t sa[NB_MAX_RANK], sb[NB_MAX_RANK];
    nb__broadcast_strides(batch_of(*as), ob, sa);
    nb__broadcast_strides(batch_of(*bs), ob, sb);
    const int64_t work = s.m * s.n * s.k;
    if (items > 1 && nb__par(items * work) && (work < NB__MM_PAR_MIN || items >= 8)) {
#pragma omp parallel for schedule(static)
        for (int64_t t = 0; t < items; t++)
            item_product(&s, &ob, sa, sb, in, out, t);
    } else
        for (int64_t t = 0; t < items; t++)
            item_product(&s, &ob, sa, sb, in, out, t);
}

/* ---------------------------------------------------------------- vjp */

/*
 * d b for b a single matrix [K,N] (or [N,K] with tb) and a batched, not
 * transposed: the sum over batch items of aᵢᵀ·dCᵢ is one product of the
 * flattened a [B·M, K] and dC [B·M, N], with no [B, K, N] intermediate.
 */
static nb_node *db_flat(nb_graph *g, nb_node *a, nb_node *dc, const nb__mm *s)
{
    int64_t rows = nb__numel(&a->shape) / s->k;
    nb_node *af = nb_reshape(g, a, NB_SHAPE(rows, s->k));
    nb_node *cf = nb_reshape(g, dc, NB_SHAPE(rows, s->n));
    return s->tb ? nb_matmul(g, cf, af, true, false) : nb_matmul(g, af, cf, true, false);
}

/*
 * C = op(A)·op(B): dA = dC·op(B)ᵀ and dB = op(A)ᵀ·dC, each written back into
 * A's and B's own orientation, then summed over the batch dimensions that
 * broadcasting stretched.
 */
nb_status nb__matmul_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    nb_node *a = n->in[0], *b = n->in[1];
    const nb__mm s = mm_of(n);
    nb_node *da, *db;
    if (!s.ta)
        da = s.tb ? nb_matmul(g, dy, b, false, false) : nb_matmul(g, dy, b, false, true);
    else
        da = s.tb ? nb_matmul(g, b, dy, true, true) : nb_matmul(g, b, dy, false, true);
    if (!s.ta && b->shape.rank == 2 && a->shape.rank > 2)
        db = db_flat(g, a, dy, &s);
    else if (!s.tb)
        db = nb_matmul(g, a, dy, !s.ta, false);
    else
        db = nb_matmul(g, dy, a, true, s.ta);
    dx[0] = nb__unbroadcast(g, da, a->shape);
    dx[1] = nb__unbroadcast(g, db, b->shape);
    return dx[0] && dx[1] ? NB_OK : g->status;
}

nb_node *nb_matmul(nb_graph *g, nb_node *a, nb_node *b, bool ta, bool tb)
{
    if (!g)
        return NULL;
    nb_attrs at = {0};
    at.i[TA] = ta, at.i[TB] = tb;
    nb_node *in[2] = {a, b};
    return nb__node_new(g, NB__OP(MATMUL), in, 2, &at);
}
