/*
 * fused.c — the kernels of fused groups (fused.h): a chain of elementwise
 * ops evaluated a chunk at a time in a buffer on the stack, so every input
 * is read once and only the group's value is written; and a product whose
 * epilogue runs over each block of rows right after the product wrote it,
 * while those rows are still in cache.
 */
#include <string.h>

#include "ew_math.h"
#include "fused.h"
#include "gemm.h"

/* Elements of a chain evaluated at once: a buffer that stays in L1. */
#define FZ_CHUNK 512

/* Rows of a product computed before its epilogue runs over them: enough
 * rows that packing op(b) once per block stays small against the block's
 * arithmetic, few enough that the block is still in cache afterwards. */
#define FZ_ROWS 64

/* The operand of step t for elements [j0, j0 + cnt) of row r, and its step
 * (0: one number). */
static inline const float *operand(const nb__fused_kernel *f, const float *const *in, int t,
                                   int64_t r, int64_t j0, int64_t *step)
{
    const float *x = in[f->arg[t]];
    *step = 1;
    switch (f->kind[t]) {
    case NB__FZ_FULL: return x + r * f->len + j0;
    case NB__FZ_ROW: return x + j0;
    case NB__FZ_CHANNEL: *step = 0; return x + r % f->chans;
    default: *step = 0; return x;
    }
}

/* v[i] = EXPR of x (the running value, or the operand when right) and y. */
#define FZ_LOOP(EXPR)                                                      \
    do {                                                                   \
        if (right)                                                         \
            for (int64_t i = 0; i < cnt; i++) {                            \
                float x = b[i * sb], y = v[i];                             \
                v[i] = (EXPR);                                             \
            }                                                              \
        else                                                               \
            for (int64_t i = 0; i < cnt; i++) {                            \
                float x = v[i], y = b[i * sb];                             \
                v[i] = (EXPR);                                             \
            }                                                              \
    } while (0)

#define FZ_MAP(EXPR)                                                       \
    do {                                                                   \
        for (int64_t i = 0; i < cnt; i++) {                                \
            float x = v[i];                                                \
            v[i] = (EXPR);                                                 \
        }                                                                  \
    } while (0)

/* Step t of the program over nr rows from r0, elements [j0, j0 + cnt) of
 * each, row r0 + q's running values at v0 + q·vs. The rows are looped here,
 * inside one call, so a value of many short rows (a dense layer's [4, 2])
 * costs one call per step, not one per row and step. */
NB__SIMD static void step_run(const nb__fused_kernel *f, const float *const *in, int t,
                              int64_t r0, int64_t nr, int64_t j0, float *v0, int64_t vs,
                              int64_t cnt)
{
    const bool right = f->right[t];
    for (int64_t q = 0; q < nr; q++) {
        float *v = v0 + q * vs;
        int64_t sb = 0;
        const float *b = f->arg[t] >= 0 ? operand(f, in, t, r0 + q, j0, &sb) : NULL;
        switch ((nb__op_id)f->op[t]) {
        case NB_OP_NEG: FZ_MAP(-x); break;
        case NB_OP_EXP: FZ_MAP(nb__exp1(x)); break;
        case NB_OP_LOG: FZ_MAP(logf(x)); break;
        case NB_OP_SQRT: FZ_MAP(sqrtf(x)); break;
        case NB_OP_ABS: FZ_MAP(fabsf(x)); break;
        case NB_OP_SIGN: FZ_MAP((float)((x > 0.0f) - (x < 0.0f))); break;
        case NB_OP_TANH: FZ_MAP(nb__tanh1(x)); break;
        case NB_OP_SIGMOID: FZ_MAP(nb__sigmoid1(x)); break;
        case NB_OP_ADD: FZ_LOOP(x + y); break;
        case NB_OP_SUB: FZ_LOOP(x - y); break;
        case NB_OP_MUL: FZ_LOOP(x * y); break;
        case NB_OP_DIV: FZ_LOOP(x / y); break;
        case NB_OP_MAX: FZ_LOOP(x >= y ? x : y); break;
        case NB_OP_MIN: FZ_LOOP(x <= y ? x : y); break;
        case NB_OP_POW: FZ_LOOP(powf(x, y)); break;
        case NB_OP_GT: FZ_LOOP(x > y ? 1.0f : 0.0f); break;
        case NB_OP_GE: FZ_LOOP(x >= y ? 1.0f : 0.0f); break;
        case NB_OP_EQ: FZ_LOOP(x == y ? 1.0f : 0.0f); break;
        default: break; /* fusion.c admits no other op */
        }
    }
}

#undef FZ_LOOP
#undef FZ_MAP

/* The whole program over nr rows from r0 (step_run's layout). Each value
 * goes through the same ops in the same order however the rows are cut. */
static inline void program(const nb__fused_kernel *f, const float *const *in, int64_t r0,
                           int64_t nr, int64_t j0, float *v, int64_t vs, int64_t cnt)
{
    for (int t = 0; t < f->n_ops; t++)
        step_run(f, in, t, r0, nr, j0, v, vs, cnt);
}

void nb__fused_program(const nb__fused_kernel *f, const float *const *in, int64_t r, int64_t j0,
                       float *v, int64_t cnt)
{
    program(f, in, r, 1, j0, v, 0, cnt);
}

/* Rows of a piece: a value of short rows goes several whole rows at a
 * time, up to FZ_CHUNK elements, one piece when it is that small; longer
 * rows go one at a time, in chunks. Divides only for values above FZ_CHUNK:
 * a 64-bit division costs more than a small value's whole program. */
static inline int64_t rows_per(const nb__fused_kernel *f, int64_t rows)
{
    if (rows * f->len <= FZ_CHUNK)
        return rows;
    return f->len >= FZ_CHUNK ? 1 : FZ_CHUNK / f->len;
}

static inline int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Rows [r0, r0 + nr), elements [j0, j0 + cnt) of each, of the chain, in a
 * buffer on the stack (nr > 1 only with whole rows, so the piece is
 * contiguous): every input is read before out is written, so out may be
 * an input of its shape (the planner's in-place case). */
static inline void chain_piece(const nb__fused_kernel *f, const float *const *in, float *out,
                               int64_t r0, int64_t nr, int64_t j0, int64_t cnt)
{
    float v[FZ_CHUNK];
    const float *x = in[0];
    if (f->load_kind == NB__FZ_SCALAR)
        for (int64_t i = 0; i < nr * cnt; i++)
            v[i] = x[0];
    else if (f->load_kind == NB__FZ_FULL)
        memcpy(v, x + r0 * f->len + j0, (size_t)(nr * cnt) * sizeof(float));
    else
        for (int64_t q = 0; q < nr; q++)
            memcpy(v + q * cnt, x + j0, (size_t)cnt * sizeof(float));
    program(f, in, r0, nr, j0, v, cnt, cnt);
    memcpy(out + r0 * f->len + j0, v, (size_t)(nr * cnt) * sizeof(float));
}

void nb__fused_chain(const nb__kernel *k, const float *const *in, float *out)
{
    const nb__fused_kernel *f = (const nb__fused_kernel *)k;
    const int64_t rp = rows_per(f, f->rows);
    if (nb__par(f->rows * f->len) && !omp_in_parallel()) {
        const int64_t per_row = (f->len + FZ_CHUNK - 1) / FZ_CHUNK;
        const int64_t pieces = (f->rows + rp - 1) / rp * per_row;
#pragma omp parallel for schedule(static)
        for (int64_t c = 0; c < pieces; c++) {
            const int64_t r0 = c / per_row * rp, j0 = c % per_row * FZ_CHUNK;
            chain_piece(f, in, out, r0, min64(rp, f->rows - r0), j0, min64(FZ_CHUNK, f->len - j0));
        }
    } else {
        for (int64_t r0 = 0; r0 < f->rows; r0 += rp)
            for (int64_t j0 = 0; j0 < f->len; j0 += FZ_CHUNK)
                chain_piece(f, in, out, r0, min64(rp, f->rows - r0), j0,
                            min64(FZ_CHUNK, f->len - j0));
    }
}

/* Rows [i0, i1) of the product, then the program over them in place, a
 * piece at a time. */
static void product_block(const nb__fused_kernel *f, const float *const *in, float *out,
                          int64_t i0, int64_t i1)
{
    const nb__mm s = {.ta = f->ta, .tb = f->tb, .m = f->m, .k = f->k, .n = f->n, .kb = f->k};
    nb__gemm(&s, i1 - i0, in[0] + i0 * f->k, in[1], out + i0 * f->n);
    const int64_t rp = rows_per(f, i1 - i0);
    for (int64_t r0 = i0; r0 < i1; r0 += rp)
        for (int64_t j0 = 0; j0 < f->len; j0 += FZ_CHUNK)
            program(f, in, r0, min64(rp, i1 - r0), j0, out + r0 * f->len + j0, f->len,
                    min64(FZ_CHUNK, f->len - j0));
}

/* Blocks of FZ_ROWS rows (one block when a is transposed: its rows are
 * then columns), split across threads when the product is large; each
 * block is one product call whatever the thread count, so the values are
 * the same bits at any count. */
void nb__fused_product(const nb__kernel *k, const float *const *in, float *out)
{
    const nb__fused_kernel *f = (const nb__fused_kernel *)k;
    const int64_t step = f->ta ? f->rows : FZ_ROWS;
    const int64_t blocks = (f->rows + step - 1) / step;
    if (blocks > 1 && nb__par(f->rows * f->n * f->k) && !omp_in_parallel()) {
#pragma omp parallel for schedule(dynamic, 1)
        for (int64_t b = 0; b < blocks; b++)
            product_block(f, in, out, b * step,
                          (b + 1) * step < f->rows ? (b + 1) * step : f->rows);
    } else {
        for (int64_t b = 0; b < blocks; b++)
            product_block(f, in, out, b * step,
                          (b + 1) * step < f->rows ? (b + 1) * step : f->rows);
    }
}
