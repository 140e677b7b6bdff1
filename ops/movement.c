/*
 * movement.c — ops that move elements without arithmetic: reshape (a view),
 * permute (axes reordered) and expand (NumPy broadcast to a shape).
 *
 * Attributes:
 *   reshape: i[0] = rank, i[1 + k] = requested dim k (one may be -1)
 *   permute: i[k] = perm[k], for k < rank: out.dim[k] = x.dim[perm[k]]
 *   expand:  i[0] = rank, i[1 + k] = target dim k
 */
#include <stdio.h>
#include <string.h>

#include "ops_internal.h"

/* Side of the square tiles the transposing permute copies through. */
#define NB__TILE 32

/* A shape stored in attributes as rank, then dims. */
static nb_attrs pack_shape(nb_shape s)
{
    nb_attrs a = {0};
    a.i[0] = s.rank;
    for (int k = 0; k < s.rank && k < NB_MAX_RANK; k++)
        a.i[1 + k] = s.dim[k];
    return a;
}

static nb_shape unpack_shape(const nb_attrs *a)
{
    nb_shape s = {.rank = (int)a->i[0]};
    for (int k = 0; k < s.rank && k < NB_MAX_RANK; k++)
        s.dim[k] = a->i[1 + k];
    return s;
}

/* Formats a shape that may hold -1 or 0 (nb_shape_format prints any int). */
static const char *fmt(nb_shape s, char *buf, size_t size)
{
    if (s.rank > NB_MAX_RANK)
        s.rank = NB_MAX_RANK;
    return nb_shape_format(s, buf, size);
}

/* ---------------------------------------------------------------- reshape */

/*
 * The requested shape with -1 inferred. Refuses a rank outside 0..8, more
 * than one -1, a dimension of 0 or below -1, and an element count that
 * differs from the input's (both shapes in the message).
 */
nb_status nb__reshape_shape(nb_graph *g, const nb_node *n, nb_shape *out)
{
    const nb_node *x = n->in[0];
    nb_shape s = unpack_shape(&n->attrs);
    char d[300], b[128];
    if (s.rank < 0 || s.rank > NB_MAX_RANK)
        return nb_graph_fail(g, NB_ERR_SHAPE, "reshape: target rank %d of %s is outside 0..%d",
                             s.rank, nb__describe(x, d, sizeof d), NB_MAX_RANK);
    int infer = -1;
    int64_t known = 1;
    for (int k = 0; k < s.rank; k++) {
        if (s.dim[k] == -1 && infer < 0) {
            infer = k;
            continue;
        }
        if (s.dim[k] <= 0)
            return nb_graph_fail(g, NB_ERR_SHAPE,
                                 "reshape: target %s for %s has dimension %d = %lld (only one "
                                 "may be -1, the others must be > 0)",
                                 fmt(s, b, sizeof b), nb__describe(x, d, sizeof d), k,
                                 (long long)s.dim[k]);
        known *= s.dim[k];
    }
    int64_t numel = nb__numel(&x->shape);
    if (infer >= 0 && numel % known == 0)
        s.dim[infer] = numel / known;
    if ((infer >= 0 && numel % known) || nb__numel(&s) != numel)
        return nb_graph_fail(g, NB_ERR_SHAPE,
                             "reshape: cannot reshape %s (%lld elements) to %s (%s%lld elements)",
                             nb__describe(x, d, sizeof d), (long long)numel,
                             fmt(unpack_shape(&n->attrs), b, sizeof b),
                             infer >= 0 ? "a multiple of " : "", (long long)known);
    *out = s;
    return NB_OK;
}

/* x [any] → out [same elements]: a view; copies only when the planner gave
 * the output its own buffer. */
void nb__reshape_forward(const nb_node *n, const float *const *in, float *out)
{
    if (out != in[0])
        memcpy(out, in[0], (size_t)nb__numel(&n->shape) * sizeof *out);
}

/* d reshape: the gradient reshaped back. */
nb_status nb__reshape_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    dx[0] = nb_reshape(g, dy, n->in[0]->shape);
    return dx[0] ? NB_OK : g->status;
}

nb_node *nb_reshape(nb_graph *g, nb_node *x, nb_shape shape)
{
    if (!g)
        return NULL;
    nb_attrs a = pack_shape(shape);
    return nb__node_new(g, NB__OP(RESHAPE), &x, 1, &a);
}

/* ---------------------------------------------------------------- permute */

/* Refuses a perm that is not a permutation of 0..rank-1. */
nb_status nb__permute_shape(nb_graph *g, const nb_node *n, nb_shape *out)
{
    const nb_node *x = n->in[0];
    const int rank = x->shape.rank;
    nb_shape s = {.rank = rank};
    unsigned seen = 0;
    bool ok = true;
    for (int k = 0; k < rank; k++) {
        int64_t p = n->attrs.i[k];
        ok = ok && p >= 0 && p < rank && !(seen & (1u << p));
        if (ok)
            seen |= 1u << p, s.dim[k] = x->shape.dim[p];
    }
    if (!ok) {
        char d[300], ps[128];
        int at = snprintf(ps, sizeof ps, "[");
        for (int k = 0; k < rank && at < (int)sizeof ps; k++)
            at += snprintf(ps + at, sizeof ps - (size_t)at, k ? ",%lld" : "%lld",
                           (long long)n->attrs.i[k]);
        if (at < (int)sizeof ps)
            snprintf(ps + at, sizeof ps - (size_t)at, "]");
        return nb_graph_fail(g, NB_ERR_ARG, "permute: perm %s is not a permutation of 0..%d for %s",
                             ps, rank - 1, nb__describe(x, d, sizeof d));
    }
    *out = s;
    return NB_OK;
}

/*
 * The output as a walk over the input: out dims and, for each, the input
 * stride it advances by, with size-1 dims dropped and neighbours that stay
 * adjacent in the input merged. Rank ≥ 1 (a lone element is [1], stride 1).
 */
typedef struct walk {
    int rank;
    int64_t dim[NB_MAX_RANK], st[NB_MAX_RANK];
} walk;

static walk permute_walk(const nb_node *n)
{
    const nb_shape *xs = &n->in[0]->shape;
    int64_t xst[NB_MAX_RANK], s = 1;
    for (int k = xs->rank - 1; k >= 0; k--)
        xst[k] = s, s *= xs->dim[k];
    walk w = {0};
    for (int k = 0; k < xs->rank; k++) {
        int64_t d = n->shape.dim[k], st = xst[n->attrs.i[k]];
        if (d == 1)
            continue;
        if (w.rank && w.st[w.rank - 1] == st * d)
            w.dim[w.rank - 1] *= d, w.st[w.rank - 1] = st;
        else
            w.dim[w.rank] = d, w.st[w.rank++] = st;
    }
    if (!w.rank)
        w.rank = 1, w.dim[0] = 1, w.st[0] = 1;
    return w;
}

/* The input offset of the start of lead index `i` over dims [0, upto). */
static int64_t lead_offset(const walk *w, int upto, int64_t i)
{
    int64_t off = 0;
    for (int k = upto - 1; k >= 0; k--) {
        off += (i % w->dim[k]) * w->st[k];
        i /= w->dim[k];
    }
    return off;
}

/*
 * One transposed block: out rows r (length c_n, input stride cs along them)
 * read input columns, in NB__TILE squares so both sides stay in cache.
 * out[r·c_n + c] = x[c·cs + r] for r in [r0, r1).
 */
static void transpose_rows(const float *x, float *out, int64_t r0, int64_t r1, int64_t c_n,
                           int64_t cs)
{
    for (int64_t c0 = 0; c0 < c_n; c0 += NB__TILE) {
        int64_t c1 = c0 + NB__TILE < c_n ? c0 + NB__TILE : c_n;
        for (int64_t r = r0; r < r1; r++)
            for (int64_t c = c0; c < c1; c++)
                out[r * c_n + c] = x[c * cs + r];
    }
}

/* Tile b of the transposing permute: lead index b / tiles, rows
 * [r0, r0 + NB__TILE) of the last two (swapped) merged dims. */
static inline void transpose_tile(const walk *w, const float *x, float *out, int64_t b,
                                  int64_t tiles)
{
    const int last = w->rank - 1;
    const int64_t rows = w->dim[last - 1], len = w->dim[last];
    const int64_t i = b / tiles, r0 = (b % tiles) * NB__TILE;
    const int64_t r1 = r0 + NB__TILE < rows ? r0 + NB__TILE : rows;
    transpose_rows(x + lead_offset(w, last - 1, i), out + i * rows * len, r0, r1, len, w->st[last]);
}

/* Output row i (the last merged dim) of a permute: a copy when contiguous
 * in x, else a strided gather. */
static inline void gather_row(const walk *w, const float *x, float *out, int64_t i)
{
    const int last = w->rank - 1;
    const int64_t len = w->dim[last], st = w->st[last];
    const float *src = x + lead_offset(w, last, i);
    float *dst = out + i * len;
    if (st == 1)
        memcpy(dst, src, (size_t)len * sizeof *dst);
    else
        for (int64_t c = 0; c < len; c++)
            dst[c] = src[c * st];
}

/*
 * x [d0..dr-1] → out [d_perm0..d_perm(r-1)], walked as the merged output
 * dims. Three inner loops: a contiguous copy when the last output dim is
 * contiguous in x; a tiled transpose when the second-to-last one is (the
 * swap of the last two dims, NCHW↔NHWC); else a strided gather per row.
 */
void nb__permute_forward(const nb_node *n, const float *const *in, float *out)
{
    const walk w = permute_walk(n);
    const float *x = in[0];
    const int last = w.rank - 1;
    const int64_t len = w.dim[last], total = nb__numel(&n->shape);
    if (w.rank >= 2 && w.st[last - 1] == 1 && w.st[last] != 1) {
        const int64_t rows = w.dim[last - 1], lead = total / (rows * len);
        const int64_t tiles = (rows + NB__TILE - 1) / NB__TILE;
        if (nb__par(total)) {
#pragma omp parallel for
            for (int64_t b = 0; b < lead * tiles; b++)
                transpose_tile(&w, x, out, b, tiles);
        } else {
            for (int64_t b = 0; b < lead * tiles; b++)
                transpose_tile(&w, x, out, b, tiles);
        }
        return;
    }
    const int64_t rows = total / len;
    if (nb__par(total)) {
#pragma omp parallel for
        for (int64_t i = 0; i < rows; i++)
            gather_row(&w, x, out, i);
    } else {
        for (int64_t i = 0; i < rows; i++)
            gather_row(&w, x, out, i);
    }
}

/* d permute: the gradient permuted back by the inverse permutation. */
nb_status nb__permute_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    int inv[NB_MAX_RANK];
    for (int k = 0; k < n->shape.rank; k++)
        inv[n->attrs.i[k]] = k;
    dx[0] = nb_permute(g, dy, inv);
    return dx[0] ? NB_OK : g->status;
}

nb_node *nb_permute(nb_graph *g, nb_node *x, const int *perm)
{
    if (!g)
        return NULL;
    if (!x)
        return nb__node_new(g, NB__OP(PERMUTE), &x, 1, NULL);
    char d[300];
    if (!perm && x->shape.rank > 0)
        return nb_graph_fail(g, NB_ERR_ARG, "permute: perm is NULL for %s",
                             nb__describe(x, d, sizeof d)), NULL;
    nb_attrs a = {0};
    for (int k = 0; k < x->shape.rank; k++)
        a.i[k] = perm[k];
    return nb__node_new(g, NB__OP(PERMUTE), &x, 1, &a);
}

/* ---------------------------------------------------------------- expand */

/* Refuses a target of higher rank than 8, of lower rank than x, or one x's
 * dimensions do not broadcast to (each must equal the target's or be 1). */
nb_status nb__expand_shape(nb_graph *g, const nb_node *n, nb_shape *out)
{
    const nb_node *x = n->in[0];
    nb_shape s = unpack_shape(&n->attrs);
    bool ok = s.rank >= x->shape.rank && s.rank <= NB_MAX_RANK;
    for (int k = 0; ok && k < x->shape.rank; k++) {
        int64_t xd = x->shape.dim[k], td = s.dim[s.rank - x->shape.rank + k];
        ok = xd == td || xd == 1;
    }
    if (!ok) {
        char d[300], b[128];
        return nb_graph_fail(g, NB_ERR_SHAPE, "expand: %s does not broadcast to %s",
                             nb__describe(x, d, sizeof d), fmt(s, b, sizeof b));
    }
    *out = s;
    return NB_OK;
}

/* Output row i (last dim) of expand: a copy of the input row it maps to,
 * or one value repeated when the last dim is stretched. */
static inline void expand_row(const walk *w, const float *x, float *out, int64_t i)
{
    const int last = w->rank - 1;
    const int64_t len = w->dim[last];
    const float *src = x + lead_offset(w, last, i);
    float *dst = out + i * len;
    if (w->st[last] == 0)
        for (int64_t c = 0; c < len; c++)
            dst[c] = src[0];
    else
        memcpy(dst, src, (size_t)len * sizeof *dst);
}

/*
 * x [broadcastable] → out [target]: each output row (last dim) reads the
 * input row its index maps to through broadcast strides (0 where stretched),
 * then copies it, or fills it with one value when the last dim is stretched.
 */
void nb__expand_forward(const nb_node *n, const float *const *in, float *out)
{
    const nb_shape *os = &n->shape;
    const int64_t total = nb__numel(os);
    if (os->rank == 0 || nb__numel(&n->in[0]->shape) == 1) {
        const float v = in[0][0];
        for (int64_t i = 0; i < total; i++)
            out[i] = v;
        return;
    }
    walk w = {.rank = os->rank};
    nb__broadcast_strides(n->in[0]->shape, *os, w.st);
    for (int k = 0; k < os->rank; k++)
        w.dim[k] = os->dim[k];
    const int64_t rows = total / os->dim[os->rank - 1];
    if (nb__par(total)) {
#pragma omp parallel for
        for (int64_t i = 0; i < rows; i++)
            expand_row(&w, in[0], out, i);
    } else {
        for (int64_t i = 0; i < rows; i++)
            expand_row(&w, in[0], out, i);
    }
}

/* One number stretched over a short output (a mean's gradient: XOR's
 * [4, 1] from its loss's scalar): filled from the step, without the
 * forward's shape tests per run. */
#define NB__FILL_SHORT 64

static void expand_fill(const nb__kernel *k, const float *const *in, float *out)
{
    const float v = in[0][0];
    for (int64_t i = 0; i < k->len; i++)
        out[i] = v;
}

nb__kernel_fn nb__expand_fast(const nb_node *n, nb__kernel *k)
{
    k->len = nb__numel(&n->shape);
    return nb__numel(&n->in[0]->shape) == 1 && k->len <= NB__FILL_SHORT ? expand_fill : NULL;
}

/* d expand: the gradient summed over the stretched axes. */
nb_status nb__expand_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    dx[0] = nb__unbroadcast(g, dy, n->in[0]->shape);
    return dx[0] ? NB_OK : g->status;
}

nb_node *nb_expand(nb_graph *g, nb_node *x, nb_shape shape)
{
    if (!g)
        return NULL;
    nb_attrs a = pack_shape(shape);
    return nb__node_new(g, NB__OP(EXPAND), &x, 1, &a);
}
