/*
 * gather.c — rows of a table picked by integer indices, and the adjoint that
 * adds rows back into a table: the ops an embedding layer is made of.
 *
 *   gather(table [V, D…], idx [I…])           → [I…, D…]
 *   scatter_add(src [I…, D…], idx [I…]; V)    → [V, D…]
 *
 * gather's gradient with respect to the table is scatter_add of the output
 * gradient, and scatter_add's with respect to src is gather: neither ever
 * forms a dense one-hot matrix, so a 50 000-word vocabulary costs its rows
 * touched, not V·D per index. Indices are floats, as labels are (integers
 * are exact up to 2^24). Their values are known only when the graph runs:
 * both ops have a value check the runtime calls first, and an index that is
 * not an integer in 0…V−1 stops the run with its value and position, never
 * reading or writing outside the table.
 *
 * scatter_add adds in index order, one thread: the same bits at any thread
 * count, whatever repeats the indices hold.
 *
 * Attributes: scatter_add's i[0] = V, the table's rows; gather has none.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops_internal.h"

/* Indices are floats: integers are exact up to 2^24. */
#define MAX_ROWS ((int64_t)1 << 24)

/* The elements of one row: the product of dims[from..rank). */
static int64_t tail(const nb_shape *s, int from)
{
    int64_t n = 1;
    for (int k = from; k < s->rank; k++)
        n *= s->dim[k];
    return n;
}

static bool is_index(float v, int64_t rows)
{
    return v >= 0 && v < (float)rows && v == floorf(v);
}

/* ---------------------------------------------------------------- gather */

nb_status nb__gather_shape(nb_graph *g, const nb_node *n, nb_shape *out)
{
    const nb_node *t = n->in[0], *idx = n->in[1];
    char a[300], b[300];
    if (t->shape.rank < 1)
        return nb_graph_fail(g, NB_ERR_SHAPE, "gather: the table %s must have rows (rank "
                             "1 or more)", nb__describe(t, a, sizeof a));
    if (t->shape.dim[0] > MAX_ROWS)
        return nb_graph_fail(g, NB_ERR_SHAPE, "gather: the table %s has %lld rows; indices "
                             "are exact up to %lld", nb__describe(t, a, sizeof a),
                             (long long)t->shape.dim[0], (long long)MAX_ROWS);
    if (idx->shape.rank + t->shape.rank - 1 > NB_MAX_RANK)
        return nb_graph_fail(g, NB_ERR_SHAPE, "gather: indices %s into the table %s give "
                             "rank %d; at most %d", nb__describe(idx, a, sizeof a),
                             nb__describe(t, b, sizeof b),
                             idx->shape.rank + t->shape.rank - 1, NB_MAX_RANK);
    out->rank = idx->shape.rank + t->shape.rank - 1;
    for (int k = 0; k < idx->shape.rank; k++)
        out->dim[k] = idx->shape.dim[k];
    for (int k = 1; k < t->shape.rank; k++)
        out->dim[idx->shape.rank + k - 1] = t->shape.dim[k];
    return NB_OK;
}

/* out row i = table row idx[i]. An index the check would refuse gives a
 * row of 0 (the runtime never gets here with one). */
void nb__gather_forward(const nb_node *n, const float *const *in, float *out)
{
    const nb_shape *ts = &n->in[0]->shape;
    int64_t rows = ts->dim[0], d = tail(ts, 1), count = nb__numel(&n->in[1]->shape);
    for (int64_t i = 0; i < count; i++) {
        float v = in[1][i];
        if (is_index(v, rows))
            memcpy(out + i * d, in[0] + (int64_t)v * d, (size_t)d * sizeof *out);
        else
            memset(out + i * d, 0, (size_t)d * sizeof *out);
    }
}

/* d table = scatter_add(dy, idx, V); indices are piecewise constant. */
nb_status nb__gather_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    dx[0] = nb_scatter_add(g, dy, n->in[1], n->in[0]->shape.dim[0]);
    return dx[0] ? NB_OK : g->status;
}

/* Refuses the first index outside 0…V−1 or not an integer, naming its
 * value, its position and the table. */
static nb_status check_indices(const nb_node *n, const nb_node *idx, const float *v,
                               int64_t rows, const char *table, char *msg, size_t size)
{
    int64_t count = nb__numel(&idx->shape), i = 0;
    while (i < count && is_index(v[i], rows))
        i++;
    if (i == count)
        return NB_OK;
    char name[200], where[120] = "";
    nb_node_label(idx, name, sizeof name);
    if (idx->shape.rank >= 2) {
        int64_t per = count / idx->shape.dim[0];
        snprintf(where, sizeof where, " (example %lld, position %lld)", (long long)(i / per),
                 (long long)(i % per));
    }
    (void)n;
    snprintf(msg, size, "index %.9g at %lld of '%s'%s is not a row of %s: indices must be "
             "integers in 0…%lld", (double)v[i], (long long)i, name, where, table,
             (long long)rows - 1);
    return NB_ERR_ARG;
}

nb_status nb__gather_check(const nb_node *n, const float *const *in, char *msg, size_t size)
{
    char t[200], table[260];
    nb_node_label(n->in[0], t, sizeof t);
    snprintf(table, sizeof table, "the table '%s'", t);
    return check_indices(n, n->in[1], in[1], n->in[0]->shape.dim[0], table, msg, size);
}

nb_node *nb_gather(nb_graph *g, nb_node *table, nb_node *idx)
{
    if (!g)
        return NULL;
    nb_node *in[2] = {table, idx};
    return nb__node_new(g, NB__OP(GATHER), in, 2, NULL);
}

/* ---------------------------------------------------------------- scatter_add */

nb_status nb__scatter_add_shape(nb_graph *g, const nb_node *n, nb_shape *out)
{
    const nb_node *src = n->in[0], *idx = n->in[1];
    int64_t rows = n->attrs.i[0];
    char a[300], b[300];
    if (rows < 1 || rows > MAX_ROWS)
        return nb_graph_fail(g, NB_ERR_ARG, "scatter_add: %lld rows is outside 1..%lld",
                             (long long)rows, (long long)MAX_ROWS);
    bool lead = src->shape.rank >= idx->shape.rank;
    for (int k = 0; lead && k < idx->shape.rank; k++)
        lead = src->shape.dim[k] == idx->shape.dim[k];
    if (!lead)
        return nb_graph_fail(g, NB_ERR_SHAPE, "scatter_add: the values %s must begin with "
                             "the shape of the indices %s", nb__describe(src, a, sizeof a),
                             nb__describe(idx, b, sizeof b));
    if (src->shape.rank - idx->shape.rank + 1 > NB_MAX_RANK)
        return nb_graph_fail(g, NB_ERR_SHAPE, "scatter_add: the values %s give rank %d; at "
                             "most %d", nb__describe(src, a, sizeof a),
                             src->shape.rank - idx->shape.rank + 1, NB_MAX_RANK);
    out->rank = src->shape.rank - idx->shape.rank + 1;
    out->dim[0] = rows;
    for (int k = idx->shape.rank; k < src->shape.rank; k++)
        out->dim[k - idx->shape.rank + 1] = src->shape.dim[k];
    return NB_OK;
}

/* out = 0; out row idx[i] += src row i, i in order. */
void nb__scatter_add_forward(const nb_node *n, const float *const *in, float *out)
{
    int64_t rows = n->attrs.i[0], d = tail(&n->shape, 1),
            count = nb__numel(&n->in[1]->shape);
    memset(out, 0, (size_t)(rows * d) * sizeof *out);
    for (int64_t i = 0; i < count; i++) {
        float v = in[1][i];
        if (!is_index(v, rows))
            continue;
        float *o = out + (int64_t)v * d;
        const float *s = in[0] + i * d;
        for (int64_t j = 0; j < d; j++)
            o[j] += s[j];
    }
}

/* d src = gather(dy, idx). */
nb_status nb__scatter_add_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    dx[0] = nb_gather(g, dy, n->in[1]);
    return dx[0] ? NB_OK : g->status;
}

nb_status nb__scatter_add_check(const nb_node *n, const float *const *in, char *msg, size_t size)
{
    char table[120];
    snprintf(table, sizeof table, "a table of %lld rows", (long long)n->attrs.i[0]);
    return check_indices(n, n->in[1], in[1], n->attrs.i[0], table, msg, size);
}

nb_node *nb_scatter_add(nb_graph *g, nb_node *src, nb_node *idx, int64_t rows)
{
    if (!g)
        return NULL;
    nb_node *in[2] = {src, idx};
    nb_attrs a = {.i = {rows}};
    return nb__node_new(g, NB__OP(SCATTER_ADD), in, 2, &a);
}
