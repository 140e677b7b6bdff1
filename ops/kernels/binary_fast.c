/*
 * binary_fast.c — the specialised kernels of the elementwise binary ops
 * and where (binary.h): the common patterns found from element counts
 * alone, which a runtime picks once per node so that a run does not
 * re-derive the broadcast. Short outputs never enter an OpenMP construct
 * (nb__par).
 */
#include "binary.h"

/* out [len] = a op b over one flat run, a and b each advancing by 1 or
 * fixed (stride 0, a scalar operand); in EW_BLOCK blocks across threads when
 * long. */
static void ew_flat(ew_op op, const float *a, int64_t sa, const float *b, int64_t sb, float *out,
                    int64_t len)
{
    if (!nb__par(len)) {
        nb__binary_row(op, a, sa, b, sb, out, len);
        return;
    }
    int64_t blocks = (len + EW_BLOCK - 1) / EW_BLOCK;
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < blocks; k++) {
        int64_t at = k * EW_BLOCK, cnt = len - at < EW_BLOCK ? len - at : EW_BLOCK;
        nb__binary_row(op, a + at * sa, sa, b + at * sb, sb, out + at, cnt);
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
            nb__binary_row(op, a + r * ra, 1, b + r * rb, 1, out + r * len, len);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++)
        nb__binary_row(op, a + r * ra, 1, b + r * rb, 1, out + r * len, len);
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
        nb__where_row(in[0], 1, in[1], 1, in[2], 1, out, f->len);
        return;
    }
    int64_t blocks = (f->len + EW_BLOCK - 1) / EW_BLOCK;
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < blocks; k++) {
        int64_t at = k * EW_BLOCK, cnt = f->len - at < EW_BLOCK ? f->len - at : EW_BLOCK;
        nb__where_row(in[0] + at, 1, in[1] + at, 1, in[2] + at, 1, out + at, cnt);
    }
}

/* Outputs up to this many elements use the tiny kernels below. */
#define EW_TINY 64

/* Tiny outputs of one flat run whose operands are both whole (most of a
 * small network's backward pass), one whole and the other one number (a
 * bias of one unit, 1 - s), or both one number (a mean's scale): a
 * unit-stride loop each, with no strides to set up or multiply, no
 * dispatch on the op and no checks left to a run. X and Y are the
 * operands' values at element j. */
#define EW_TINY_RUN(KIND, X, Y, ID, NAME, EXPR)                                         \
    NB__NO_VECTORIZE static void tiny_##KIND##_##NAME(const nb__kernel *f,             \
                                                       const float *const *in, float *out) \
    {                                                                                   \
        const float *a = in[0], *b = in[1];                                             \
        for (int64_t j = 0, len = f->len; j < len; j++) {                               \
            float x = (X), y = (Y);                                                     \
            out[j] = (EXPR);                                                            \
        }                                                                               \
    }
#define EW_TINY_FLAT_FN(ID, NAME, EXPR) EW_TINY_RUN(flat, a[j], b[j], ID, NAME, EXPR)
#define EW_TINY_SA_FN(ID, NAME, EXPR) EW_TINY_RUN(sa, a[0], b[j], ID, NAME, EXPR)
#define EW_TINY_SB_FN(ID, NAME, EXPR) EW_TINY_RUN(sb, a[j], b[0], ID, NAME, EXPR)
#define EW_TINY_ONE_FN(ID, NAME, EXPR) EW_TINY_RUN(one, a[0], b[0], ID, NAME, EXPR)
EW_OPS(EW_TINY_FLAT_FN)
EW_OPS(EW_TINY_SA_FN)
EW_OPS(EW_TINY_SB_FN)
EW_OPS(EW_TINY_ONE_FN)
#undef EW_TINY_FLAT_FN
#undef EW_TINY_SA_FN
#undef EW_TINY_SB_FN
#undef EW_TINY_ONE_FN
#undef EW_TINY_RUN

/* Tiny rows against a bias row (fast_rows' pattern): a and b step by sa
 * and sb from row to row and by 1 along a row, kept scalar (a row of a
 * few floats gains nothing from vectors behind their checks). Each value
 * the general strided loop's, which these replace (164 instructions for
 * XOR's [4, 2] + [2] bias). */
#define EW_TINY_ROWS_FN(ID, NAME, EXPR)                                                 \
    NB__NO_VECTORIZE static void tiny_rows_##NAME(const nb__kernel *f,                  \
                                                  const float *const *in, float *out)   \
    {                                                                                   \
        const float *a = in[0], *b = in[1];                                             \
        const int64_t rows = f->rows, len = f->len, sa = f->sa, sb = f->sb;             \
        for (int64_t r = 0; r < rows; r++, a += sa, b += sb, out += len)                \
            for (int64_t j = 0; j < len; j++) {                                         \
                float x = a[j], y = b[j];                                               \
                out[j] = (EXPR);                                                        \
            }                                                                           \
    }
EW_OPS(EW_TINY_ROWS_FN)
#undef EW_TINY_ROWS_FN

/* The tiny kernels: [0] a flat run with both operands whole, [1] a one
 * number, [2] b one number, [3] both one number, [4] rows against a bias
 * row. */
static const nb__kernel_fn tiny_fns[5][EW_WHERE + 1] = {
#define EW_TINY_FLAT_ENTRY(ID, NAME, EXPR) [EW_##ID] = tiny_flat_##NAME,
#define EW_TINY_SA_ENTRY(ID, NAME, EXPR) [EW_##ID] = tiny_sa_##NAME,
#define EW_TINY_SB_ENTRY(ID, NAME, EXPR) [EW_##ID] = tiny_sb_##NAME,
#define EW_TINY_ONE_ENTRY(ID, NAME, EXPR) [EW_##ID] = tiny_one_##NAME,
#define EW_TINY_ROWS_ENTRY(ID, NAME, EXPR) [EW_##ID] = tiny_rows_##NAME,
    {EW_OPS(EW_TINY_FLAT_ENTRY)}, {EW_OPS(EW_TINY_SA_ENTRY)}, {EW_OPS(EW_TINY_SB_ENTRY)},
    {EW_OPS(EW_TINY_ONE_ENTRY)},  {EW_OPS(EW_TINY_ROWS_ENTRY)}};
#undef EW_TINY_FLAT_ENTRY
#undef EW_TINY_SA_ENTRY
#undef EW_TINY_SB_ENTRY
#undef EW_TINY_ONE_ENTRY
#undef EW_TINY_ROWS_ENTRY

/*
 * The common patterns of op on node n, found from element counts alone
 * without building an index map: an input with out's element count has
 * out's flat layout (every dimension broadcasting allows is then equal), one
 * with a single element is a scalar, and one row along the last dimension
 * is a bias. Returns that kernel with *f filled, or NULL when none applies
 * (the general driver takes it).
 */
nb__kernel_fn nb__ew_classify(const nb_node *n, ew_op op, nb__kernel *f)
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
    if (!run || total > EW_TINY)
        return run;
    if (run == fast_rows)
        return tiny_fns[4][op];
    return tiny_fns[f->ea && f->eb ? 0 : f->eb ? 1 : f->ea ? 2 : 3][op];
}

