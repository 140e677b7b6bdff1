/*
 * binary.c — elementwise ops with NumPy broadcasting: add, sub, mul, div,
 * max, min, pow, the comparisons gt, ge, eq (giving 0 or 1), and where
 * (cond ≠ 0 ? a : b, three-way broadcast). No attributes: every nb_attrs
 * slot is unused. The output shape is the broadcast of the inputs
 * (nb__shape_broadcast, which refuses with the op, both nodes and shapes).
 *
 * The common patterns are found from element counts alone (ew_classify):
 * equal shapes are one flat row, a scalar operand one row with a fixed
 * value, a bias row ([C] against [N, C]) rows read against the same one. A
 * runtime picks that kernel once per node (nb__kernel_choose), so a run does
 * not re-derive it. Every other broadcast goes through one general driver:
 * it maps out's index space onto each input (stride 0 where an input is
 * broadcast), merges adjacent dimensions every input walks contiguously,
 * and hands out rows along the last merged dimension, where each input
 * either advances by 1 or stays put. The op is chosen by a switch once per
 * row; inside, each op has its own plain loop per stride pattern, which the
 * compiler vectorises (long rows in an AVX2 copy where the CPU has it).
 * Short outputs never enter an OpenMP construct (nb__par).
 *
 * The kernels may run in place (NB_OP_ELEMENTWISE): out may be an input
 * whose shape equals out's, so each element is read before it is written.
 */
#include <math.h>

#include "ops_internal.h"

/* ---------------------------------------------------------------- index map */

/*
 * The binary ops, one line each: the id and name of the op (as in
 * op_list.h) and its value from x (read from a) and y (from b). max and
 * min send ties to a's value, matching the vjp rules; comparisons give
 * exactly 0 or 1. Each op's row kernel, tiny kernel, forward and kernel
 * choice are generated from this list; where, with three inputs, has its
 * own row kernel.
 */
#define EW_OPS(X)                            \
    X(ADD, add, x + y)                       \
    X(SUB, sub, x - y)                       \
    X(MUL, mul, x * y)                       \
    X(DIV, div, x / y)                       \
    X(MAX, max, x >= y ? x : y)              \
    X(MIN, min, x <= y ? x : y)              \
    X(POW, pow, powf(x, y))                  \
    X(GT, gt, x > y ? 1.0f : 0.0f)           \
    X(GE, ge, x >= y ? 1.0f : 0.0f)          \
    X(EQ, eq, x == y ? 1.0f : 0.0f)

typedef enum ew_op {
#define EW_ID(ID, NAME, EXPR) EW_##ID,
    EW_OPS(EW_ID)
#undef EW_ID
    EW_WHERE
} ew_op;

/* Rows longer than this are cut into blocks, so one long flat row still
 * spreads across threads. */
#define EW_BLOCK 8192

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

/*
 * out[i] = EXPR(x = a[i·sa], y = b[i·sb]) for i < len, sa and sb each 0 or 1.
 * One loop per stride pattern: every loop is unit-stride or reads a hoisted
 * constant, which is what the vectoriser wants.
 */
#define EW_ROW(EXPR)                                                  \
    do {                                                              \
        if (sa && sb) {                                               \
            for (int64_t i = 0; i < len; i++) {                       \
                float x = a[i], y = b[i];                             \
                out[i] = (EXPR);                                      \
            }                                                         \
        } else if (sa) {                                              \
            const float y = b[0];                                     \
            for (int64_t i = 0; i < len; i++) {                       \
                float x = a[i];                                       \
                out[i] = (EXPR);                                      \
            }                                                         \
        } else if (sb) {                                              \
            const float x = a[0];                                     \
            for (int64_t i = 0; i < len; i++) {                       \
                float y = b[i];                                       \
                out[i] = (EXPR);                                      \
            }                                                         \
        } else {                                                      \
            const float x = a[0], y = b[0], v = (EXPR);               \
            for (int64_t i = 0; i < len; i++)                         \
                out[i] = v;                                           \
        }                                                             \
    } while (0)

/* One row of a binary op (EW_OPS). */
static inline __attribute__((always_inline)) void
binary_row_body(ew_op op, const float *a, int64_t sa, const float *b, int64_t sb, float *out,
                int64_t len)
{
    switch (op) {
#define EW_CASE(ID, NAME, EXPR) case EW_##ID: EW_ROW(EXPR); break;
        EW_OPS(EW_CASE)
#undef EW_CASE
    case EW_WHERE: break; /* three inputs: where_row */
    }
}

#undef EW_ROW

/* Rows at least this long go through the vector-dispatched copy; shorter
 * ones run inline, where a call through the dispatcher costs more than the
 * row. */
#define EW_WIDE 64

NB__SIMD static void binary_row_wide(ew_op op, const float *a, int64_t sa, const float *b,
                                     int64_t sb, float *out, int64_t len)
{
    binary_row_body(op, a, sa, b, sb, out, len);
}

static inline void binary_row(ew_op op, const float *a, int64_t sa, const float *b, int64_t sb,
                              float *out, int64_t len)
{
    if (len >= EW_WIDE)
        binary_row_wide(op, a, sa, b, sb, out, len);
    else
        binary_row_body(op, a, sa, b, sb, out, len);
}

/*
 * One row of where: out[i] = c[i·sc] ≠ 0 ? a[i·sa] : b[i·sb]. The common
 * case, all three walking together, gets its own unit-stride loop; the mixed
 * patterns (a broadcast mask or branch) use the strided form.
 */
NB__SIMD static void where_row(const float *c, int64_t sc, const float *a, int64_t sa,
                               const float *b, int64_t sb, float *out, int64_t len)
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
        where_row(in[0] + off[0], m->st[0][last], in[1] + off[1], m->st[1][last], in[2] + off[2],
                  m->st[2][last], out + o, cnt);
    else
        binary_row(op, in[0] + off[0], m->st[0][last], in[1] + off[1], m->st[1][last], out + o,
                   cnt);
}

/* in[k] [broadcastable to out] -> out [n->shape], any broadcast pattern:
 * every (row, block) item of the merged index map, across threads when the
 * output is long. */
static void ew_general(const nb_node *n, ew_op op, const float *const *in, float *out)
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

/* out [len] = a op b over one flat run, a and b each advancing by 1 or
 * fixed (stride 0, a scalar operand); in EW_BLOCK blocks across threads when
 * long. */
static void ew_flat(ew_op op, const float *a, int64_t sa, const float *b, int64_t sb, float *out,
                    int64_t len)
{
    if (!nb__par(len)) {
        binary_row(op, a, sa, b, sb, out, len);
        return;
    }
    int64_t blocks = (len + EW_BLOCK - 1) / EW_BLOCK;
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < blocks; k++) {
        int64_t at = k * EW_BLOCK, cnt = len - at < EW_BLOCK ? len - at : EW_BLOCK;
        binary_row(op, a + at * sa, sa, b + at * sb, sb, out + at, cnt);
    }
}

/* out [rows, len] = a op b where one operand is a full [rows, len] (row
 * step len) and the other one row [len] read again for every row (row step
 * 0): the bias of a dense layer. Rows across threads when long. */
static void ew_rows(ew_op op, const float *a, int64_t ra, const float *b, int64_t rb, float *out,
                    int64_t rows, int64_t len)
{
    if (!nb__par(rows * len)) {
        for (int64_t r = 0; r < rows; r++)
            binary_row(op, a + r * ra, 1, b + r * rb, 1, out + r * len, len);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++)
        binary_row(op, a + r * ra, 1, b + r * rb, 1, out + r * len, len);
}

/* True when x, which broadcasts to out, is one row along out's last
 * dimension ([len], [1, len], ...), the other dimensions all 1. */
static bool is_row(const nb_shape *x, const nb_shape *out, int64_t numel)
{
    return out->rank > 0 && x->rank > 0 && x->dim[x->rank - 1] == out->dim[out->rank - 1] &&
           numel == out->dim[out->rank - 1];
}

/* Specialised kernels (nb__kernel): a flat run (a and b stepping by ea, eb),
 * rows against a bias row (a and b stepping by sa, sb per row), and where
 * with all three inputs flat. */
static void fast_flat(const nb__kernel *f, const float *const *in, float *out)
{
    ew_flat((ew_op)f->op, in[0], f->ea, in[1], f->eb, out, f->len);
}

static void fast_rows(const nb__kernel *f, const float *const *in, float *out)
{
    ew_rows((ew_op)f->op, in[0], f->sa, in[1], f->sb, out, f->rows, f->len);
}

static void fast_where(const nb__kernel *f, const float *const *in, float *out)
{
    if (!nb__par(f->len)) {
        where_row(in[0], 1, in[1], 1, in[2], 1, out, f->len);
        return;
    }
    int64_t blocks = (f->len + EW_BLOCK - 1) / EW_BLOCK;
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < blocks; k++) {
        int64_t at = k * EW_BLOCK, cnt = f->len - at < EW_BLOCK ? f->len - at : EW_BLOCK;
        where_row(in[0] + at, 1, in[1] + at, 1, in[2] + at, 1, out + at, cnt);
    }
}

/* Outputs up to this many elements use the tiny kernels below. */
#define EW_TINY 64

/*
 * Tiny outputs (a small network's step): one scalar loop per op over rows ×
 * len, a and b stepping by (sa, sb) per row and (ea, eb) per element, with
 * no dispatch on the op or on the stride pattern left to do per run.
 */
#define EW_TINY_FN(ID, NAME, EXPR)                                                      \
    static void tiny_##NAME(const nb__kernel *f, const float *const *in, float *out)   \
    {                                                                                   \
        const float *a = in[0], *b = in[1];                                             \
        const int64_t rows = f->rows, len = f->len, ea = f->ea, eb = f->eb;             \
        for (int64_t r = 0; r < rows; r++, a += f->sa, b += f->sb, out += len)          \
            for (int64_t j = 0; j < len; j++) {                                         \
                float x = a[j * ea], y = b[j * eb];                                     \
                out[j] = (EXPR);                                                        \
            }                                                                           \
    }
EW_OPS(EW_TINY_FN)
#undef EW_TINY_FN

static const nb__kernel_fn tiny_fns[] = {
#define EW_TINY_ENTRY(ID, NAME, EXPR) [EW_##ID] = tiny_##NAME,
    EW_OPS(EW_TINY_ENTRY)
#undef EW_TINY_ENTRY
    [EW_WHERE] = NULL};

/*
 * The common patterns of op on node n, found from element counts alone
 * without building an index map: an input with out's element count has
 * out's flat layout (every dimension broadcasting allows is then equal), one
 * with a single element is a scalar, and one row along the last dimension
 * is a bias. Returns that kernel with *f filled, or NULL when none applies
 * (the general driver takes it).
 */
static nb__kernel_fn ew_classify(const nb_node *n, ew_op op, nb__kernel *f)
{
    const nb_shape *os = &n->shape, *as = &n->in[0]->shape, *bs = &n->in[1]->shape;
    int64_t total = nb__numel(os), na = nb__numel(as), nb = nb__numel(bs);
    int64_t len = os->rank ? os->dim[os->rank - 1] : 1;
    nb__kernel_fn run = NULL;
    *f = (nb__kernel){.op = op, .rows = 1, .len = total, .ea = 1, .eb = 1};
    if (op == EW_WHERE)
        return na == total && nb == total && nb__numel(&n->in[2]->shape) == total ? fast_where
                                                                                   : NULL;
    if ((na == total || na == 1) && (nb == total || nb == 1)) {
        run = fast_flat, f->ea = na == total && total > 1, f->eb = nb == total && total > 1;
    } else if (na == total && is_row(bs, os, nb)) {
        run = fast_rows, f->sa = len, f->sb = 0, f->rows = total / len, f->len = len;
    } else if (nb == total && is_row(as, os, na)) {
        run = fast_rows, f->sa = 0, f->sb = len, f->rows = total / len, f->len = len;
    }
    return run && total <= EW_TINY ? tiny_fns[op] : run;
}

/* in[k] [broadcastable to out] -> out [n->shape]: the common patterns
 * directly, anything else through the general index map. */
static void ew_forward(const nb_node *n, ew_op op, const float *const *in, float *out)
{
    nb__kernel f;
    nb__kernel_fn run = ew_classify(n, op, &f);
    if (run)
        run(&f, in, out);
    else
        ew_general(n, op, in, out);
}

/* Each op's forward and kernel choice (op_list.h names them). */
#define EW_ENTRY_POINTS(ID, NAME, EXPR)                                                     \
    void nb__##NAME##_forward(const nb_node *n, const float *const *in, float *out)         \
    {                                                                                       \
        ew_forward(n, EW_##ID, in, out);                                                    \
    }                                                                                       \
    nb__kernel_fn nb__##NAME##_fast(const nb_node *n, nb__kernel *k)                        \
    {                                                                                       \
        return ew_classify(n, EW_##ID, k);                                                  \
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
