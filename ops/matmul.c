/*
 * matmul.c — batched matrix product with transpose flags, the hot path of
 * every dense and convolution layer. Products go to OpenBLAS's sgemm, except
 * the shapes where its call and packing cost more than the arithmetic:
 * tiny ones (a scalar triple loop, inline), small ones, one row (batch 1),
 * an inner size of 1 (outer products) and one column, which plain
 * vectorised loops compute (mm_small).
 *
 * Attributes: i[0] = ta, i[1] = tb (0 or 1). op(a) is a's last two
 * dimensions, transposed when ta; likewise op(b).
 *
 * a [..., M, K] (ta: [..., K, M]) · b [..., K, N] (tb: [..., N, K]) →
 * [..., M, N], the leading (batch) dimensions broadcast NumPy style.
 */
#include <cblas.h>
#include <stdio.h>

#include "ops_internal.h"

enum { TA, TB };

/* The sizes of one product, read from a node's inputs and attributes. */
typedef struct mm {
    bool ta, tb;
    int64_t m, k, n;      /* op(a) is m×k, op(b) is k×n */
    int64_t kb;           /* b's inner size, k when the shapes agree */
} mm;

static inline mm mm_of(const nb_node *n)
{
    const nb_shape *a = &n->in[0]->shape, *b = &n->in[1]->shape;
    mm s = {.ta = n->attrs.i[TA] != 0, .tb = n->attrs.i[TB] != 0};
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
    mm s = mm_of(n);
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

/* Multiply-adds below which a plain loop beats sgemm's call and packing. */
#define NB__MM_SMALL 8192

/* Columns per work item when a one-row product is split across threads. */
#define NB__MM_COLS 64

/* Multiply-adds from which the plain loops split across threads. Their
 * shapes are memory-bound (one row, an outer product), so a fork pays only
 * on big ones; like OpenBLAS (which stays on one thread below 2^18 for
 * sgemm), a batch-1 dense layer of 784×256 runs on one. */
#define NB__MM_PAR_MIN (1 << 20)

/*
 * One row of c, columns [j0, j1): cr[j] = Σp a[p·ap]·b[p·n + j], built from
 * b's rows four at a time so each pass over cr does four multiply-adds per
 * load and store of cr (a one-row product is bound by those). The first pass
 * writes cr, so nothing is zeroed first (an outer product, k = 1, is one
 * pass).
 */
static inline void axpy_row(const float *a, int64_t ap, const float *b, float *restrict cr,
                            int64_t k, int64_t n, int64_t j0, int64_t j1)
{
    int64_t p = 0;
    if (k >= 4) {
        const float a0 = a[0], a1 = a[ap], a2 = a[2 * ap], a3 = a[3 * ap];
        const float *b0 = b, *b1 = b + n, *b2 = b + 2 * n, *b3 = b + 3 * n;
        for (int64_t j = j0; j < j1; j++)
            cr[j] = (a0 * b0[j] + a1 * b1[j]) + (a2 * b2[j] + a3 * b3[j]);
        p = 4;
    } else {
        const float a0 = a[0];
        for (int64_t j = j0; j < j1; j++)
            cr[j] = a0 * b[j];
        p = 1;
    }
    for (; p + 4 <= k; p += 4) {
        const float a0 = a[p * ap], a1 = a[(p + 1) * ap], a2 = a[(p + 2) * ap],
                    a3 = a[(p + 3) * ap];
        const float *b0 = b + p * n, *b1 = b0 + n, *b2 = b1 + n, *b3 = b2 + n;
        for (int64_t j = j0; j < j1; j++)
            cr[j] += (a0 * b0[j] + a1 * b1[j]) + (a2 * b2[j] + a3 * b3[j]);
    }
    for (; p < k; p++) {
        const float a0 = a[p * ap], *b0 = b + p * n;
        for (int64_t j = j0; j < j1; j++)
            cr[j] += a0 * b0[j];
    }
}

/*
 * Rows [i0, i1) and columns [j0, j1) of c (m×n, row stride n) = op(a)·op(b),
 * by plain loops. op(a)(i,p) is a[i·k + p], or a[p·s->m + i] with ta;
 * op(b)(p,j) is b[p·n + j], or b[j·k + p] with tb. When op(b)'s rows are
 * contiguous (no tb) and long enough to fill vectors, each c row is built
 * by axpys along j (axpy_row), which vectorise; otherwise each element is a
 * dot product along p, summed in a register.
 */
NB__SIMD static void mm_block(const mm *s, const float *a, const float *b, float *c, int64_t i0,
                              int64_t i1, int64_t j0, int64_t j1)
{
    const int64_t k = s->k, n = s->n, lda = s->ta ? s->m : s->k;
    const int64_t ap = s->ta ? lda : 1, ai = s->ta ? 1 : lda; /* a's steps along p, i */
    if (!s->tb && n > 1 && (n >= 16 || k >= 16)) {
        for (int64_t i = i0; i < i1; i++)
            axpy_row(a + i * ai, ap, b, c + i * n, k, n, j0, j1);
        return;
    }
    const int64_t bp = s->tb ? 1 : n, bj = s->tb ? k : 1; /* b's steps along p, j */
    for (int64_t i = i0; i < i1; i++) {
        const float *ar = a + i * ai;
        for (int64_t j = j0; j < j1; j++) {
            const float *bc = b + j * bj;
            float acc = 0.0f;
            if (ap == 1 && bp == 1) {
#pragma omp simd reduction(+ : acc)
                for (int64_t p = 0; p < k; p++)
                    acc += ar[p] * bc[p];
            } else {
                for (int64_t p = 0; p < k; p++)
                    acc += ar[p * ap] * bc[p * bp];
            }
            c[i * n + j] = acc;
        }
    }
}

/* c (m×n) = op(a)·op(b) by mm_block: all at once when small, else rows (or,
 * for one row, column blocks) across the thread pool. */
static void mm_loops(const mm *s, int64_t m, const float *a, const float *b, float *c)
{
    const int64_t n = s->n;
    if (m * n * s->k < NB__MM_PAR_MIN || !nb__par(m * n * s->k)) {
        mm_block(s, a, b, c, 0, m, 0, n);
    } else if (m > 1) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < m; i++)
            mm_block(s, a, b, c, i, i + 1, 0, n);
    } else {
        const int64_t chunks = (n + NB__MM_COLS - 1) / NB__MM_COLS;
#pragma omp parallel for schedule(static)
        for (int64_t t = 0; t < chunks; t++)
            mm_block(s, a, b, c, 0, 1, t * NB__MM_COLS,
                     n - t * NB__MM_COLS < NB__MM_COLS ? n : (t + 1) * NB__MM_COLS);
    }
}

/* True when the plain loops should compute an m-row product: it is small,
 * or it has a shape sgemm handles poorly — one row (batch 1), an inner size
 * of 1 (an outer product), or one column read along a's contiguous rows. */
static bool mm_small(const mm *s, int64_t m)
{
    return m * s->n * s->k <= NB__MM_SMALL || m == 1 || s->k == 1 || (s->n == 1 && !s->ta);
}

/* Multiply-adds up to which a product runs as one scalar triple loop, inline:
 * a call through the vector dispatcher costs more than such a product. */
#define NB__MM_TINY 64

/* c (m×n) = op(a)·op(b) for a handful of elements, each a dot product
 * summed in a register. */
static inline void mm_tiny(const mm *s, int64_t m, const float *a, const float *b, float *c)
{
    const int64_t k = s->k, n = s->n, lda = s->ta ? s->m : s->k;
    const int64_t ap = s->ta ? lda : 1, ai = s->ta ? 1 : lda;
    const int64_t bp = s->tb ? 1 : n, bj = s->tb ? k : 1;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            float acc = 0.0f;
            for (int64_t p = 0; p < k; p++)
                acc += a[i * ai + p * ap] * b[j * bj + p * bp];
            c[i * n + j] = acc;
        }
}

/* One row-major product c (m×n) = op(a) · op(b): the plain loops for small
 * and vector-like shapes, sgemm for the rest. */
static void gemm(const mm *s, int64_t m, const float *a, const float *b, float *c)
{
    if (m * s->n * s->k <= NB__MM_TINY) {
        mm_tiny(s, m, a, b, c);
        return;
    }
    if (mm_small(s, m)) {
        mm_loops(s, m, a, b, c);
        return;
    }
    cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)s->n, (int)s->k, 1.0f, a, (int)(s->ta ? s->m : s->k), b,
                (int)(s->tb ? s->k : s->n), 0.0f, c, (int)s->n);
}

/* The one-product case as a specialised kernel: the sizes kept in f. */
static void fast_matmul(const nb__fast *f, const float *const *in, float *out)
{
    const mm s = {.ta = f->ta, .tb = f->tb, .m = f->m, .k = f->k, .n = f->n, .kb = f->k};
    gemm(&s, f->rows, in[0], in[1], out);
}

bool nb__matmul_fast(const nb_node *n, nb__fast *f)
{
    if (n->op != NB__OP(MATMUL))
        return false;
    const nb_shape *as = &n->in[0]->shape, *bs = &n->in[1]->shape;
    const mm s = mm_of(n);
    const int64_t items = nb__numel(&n->shape) / (s.m * s.n);
    if (nb__numel(bs) != s.k * s.n || !(items == 1 || (!s.ta && as->rank >= bs->rank)))
        return false;
    *f = (nb__fast){.run = fast_matmul, .ta = s.ta, .tb = s.tb, .m = s.m, .k = s.k, .n = s.n,
                    .rows = items * s.m};
    return true;
}

/*
 * a, b → out [batch..., M, N]. One product when there is no batch at all, or
 * when b's batch is a single matrix and a is not transposed: a's batch rows
 * are then just more rows of one M'×K matrix (the dense layer on any batch
 * shape; nb__matmul_fast). Otherwise one product per batch item, each input
 * stepping by its broadcast batch stride (0 along dimensions it stretches,
 * so a rank-2 a is read in place for every item). Products go to the plain
 * loops or to sgemm (gemm), which OpenBLAS threads itself.
 */
void nb__matmul_forward(const nb_node *n, const float *const *in, float *out)
{
    nb__fast f;
    if (nb__matmul_fast(n, &f)) {
        f.run(&f, in, out);
        return;
    }
    const nb_shape *as = &n->in[0]->shape, *bs = &n->in[1]->shape;
    const mm s = mm_of(n);
    const int64_t items = nb__numel(&n->shape) / (s.m * s.n);
    const nb_shape ob = batch_of(n->shape);
    int64_t sa[NB_MAX_RANK], sb[NB_MAX_RANK];
    nb__broadcast_strides(batch_of(*as), ob, sa);
    nb__broadcast_strides(batch_of(*bs), ob, sb);
    for (int64_t t = 0; t < items; t++) {
        int64_t ia = 0, ib = 0, rest = t;
        for (int d = ob.rank - 1; d >= 0; d--) {
            int64_t x = rest % ob.dim[d];
            rest /= ob.dim[d];
            ia += x * sa[d], ib += x * sb[d];
        }
        gemm(&s, s.m, in[0] + ia * s.m * s.k, in[1] + ib * s.k * s.n, out + t * s.m * s.n);
    }
}

/* ---------------------------------------------------------------- vjp */

/*
 * d b for b a single matrix [K,N] (or [N,K] with tb) and a batched, not
 * transposed: the sum over batch items of aᵢᵀ·dCᵢ is one product of the
 * flattened a [B·M, K] and dC [B·M, N], with no [B, K, N] intermediate.
 */
static nb_node *db_flat(nb_graph *g, nb_node *a, nb_node *dc, const mm *s)
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
    const mm s = mm_of(n);
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
