/*
 * binary_plain.c — the row kernels of the elementwise binary ops and where,
 * and the general driver that takes any broadcast (binary.h): out's index
 * space mapped onto each input (stride 0 where an input is broadcast),
 * adjacent dimensions every input walks contiguously merged, and rows
 * handed out along the last merged dimension, where each input either
 * advances by 1 or stays put. The op is chosen by a switch once per row.
 */
#include "binary.h"

/* ---------------------------------------------------------------- index map */

/* out's dimensions after dropping 1s and merging, and each input's strides
 * (in elements) along them. The last stride of every input is 0 or 1. */
typedef struct ew_map {
    int rank, n_in;
    int64_t dim[NB_MAX_RANK];
    int64_t st[3][NB_MAX_RANK];
} ew_map;

/* True when every input walks dims i and i+1 as one: stepping i is the same
 * as stepping i+1 dim[i+1] times (both 0 for a broadcast input). */
static bool mergeable(const ew_map *m, int i)
{
    for (int k = 0; k < m->n_in; k++)
        if (m->st[k][i] != m->st[k][i + 1] * m->dim[i + 1])
            return false;
    return true;
}

/* Builds the map of node n (2 or 3 inputs); rank ends ≥ 1 (a scalar output
 * is one row of length 1). */
static void ew_map_init(ew_map *m, const nb_node *n)
{
    int64_t full[3][NB_MAX_RANK];
    nb_shape os = n->shape;
    m->n_in = n->n_in;
    for (int k = 0; k < n->n_in; k++)
        nb__broadcast_strides(n->in[k]->shape, os, full[k]);
    m->rank = 0;
    for (int i = 0; i < os.rank; i++) {
        if (os.dim[i] == 1)
            continue; /* a size-1 dimension moves nothing */
        m->dim[m->rank] = os.dim[i];
        for (int k = 0; k < m->n_in; k++)
            m->st[k][m->rank] = full[k][i];
        if (m->rank > 0 && mergeable(m, m->rank - 1)) {
            m->dim[m->rank - 1] *= m->dim[m->rank];
            for (int k = 0; k < m->n_in; k++)
                m->st[k][m->rank - 1] = m->st[k][m->rank];
        } else {
            m->rank++;
        }
    }
    if (m->rank == 0) {
        m->rank = 1, m->dim[0] = 1;
        for (int k = 0; k < m->n_in; k++)
            m->st[k][0] = 1;
    }
}

/* ---------------------------------------------------------------- row kernels */

NB__SIMD void nb__binary_row_wide(ew_op op, const float *a, int64_t sa, const float *b, int64_t sb,
                                  float *out, int64_t len)
{
    binary_row_body(op, a, sa, b, sb, out, len);
}

/*
 * One row of where: out[i] = c[i·sc] ≠ 0 ? a[i·sa] : b[i·sb]. The common
 * case, all three walking together, gets its own unit-stride loop; the mixed
 * patterns (a broadcast mask or branch) use the strided form.
 */
NB__SIMD void nb__where_row(const float *c, int64_t sc, const float *a, int64_t sa, const float *b,
                            int64_t sb, float *out, int64_t len)
{
    if (sc && sa && sb) {
        for (int64_t i = 0; i < len; i++)
            out[i] = c[i] != 0.0f ? a[i] : b[i];
        return;
    }
    for (int64_t i = 0; i < len; i++)
        out[i] = c[i * sc] != 0.0f ? a[i * sa] : b[i * sb];
}

/* ---------------------------------------------------------------- driver */

/*
 * One work item of the general driver: item t is (row, block), a row one
 * index of the merged leading dimensions, a block at most EW_BLOCK elements
 * of the last. It finds its inputs' offsets by unravelling the row index,
 * then runs the op's row kernel.
 */
static inline void ew_item(const ew_map *m, ew_op op, const float *const *in, float *out,
                           int64_t t, int64_t blocks)
{
    const int last = m->rank - 1;
    const int64_t len = m->dim[last];
    int64_t row = t / blocks, start = t % blocks * EW_BLOCK;
    int64_t off[3] = {0, 0, 0};
    for (int d = last - 1; d >= 0; d--) {
        int64_t idx = row % m->dim[d];
        row /= m->dim[d];
        for (int k = 0; k < m->n_in; k++)
            off[k] += idx * m->st[k][d];
    }
    for (int k = 0; k < m->n_in; k++)
        off[k] += start * m->st[k][last];
    int64_t o = (t / blocks) * len + start;
    int64_t cnt = len - start < EW_BLOCK ? len - start : EW_BLOCK;
    if (op == EW_WHERE)
        nb__where_row(in[0] + off[0], m->st[0][last], in[1] + off[1], m->st[1][last], in[2] + off[2],
                  m->st[2][last], out + o, cnt);
    else
        nb__binary_row(op, in[0] + off[0], m->st[0][last], in[1] + off[1], m->st[1][last], out + o,
                   cnt);
}

/* in[k] [broadcastable to out] -> out [n->shape], any broadcast pattern:
 * every (row, block) item of the merged index map, across threads when the
 * output is long. */
void nb__ew_general(const nb_node *n, ew_op op, const float *const *in, float *out)
{
    ew_map m;
    ew_map_init(&m, n);
    int64_t len = m.dim[m.rank - 1], blocks = (len + EW_BLOCK - 1) / EW_BLOCK;
    int64_t total = nb__numel(&n->shape), items = total / len * blocks;
    if (nb__par(total)) {
#pragma omp parallel for schedule(static)
        for (int64_t t = 0; t < items; t++)
            ew_item(&m, op, in, out, t, blocks);
    } else {
        for (int64_t t = 0; t < items; t++)
            ew_item(&m, op, in, out, t, blocks);
    }
}

