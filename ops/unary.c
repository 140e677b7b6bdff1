/*
 * unary.c — elementwise unary ops: neg, exp, log, sqrt, abs, sign, tanh,
 * sigmoid, erf, and relu as max(x, 0). No attributes: every nb_attrs slot is
 * unused. The output has the input's shape (nb__shape_same).
 *
 * Kernels may run in place (the table flags them NB_OP_ELEMENTWISE): out may
 * be in[0], so each loop reads x[i] before it writes out[i].
 */
#include <math.h>

#include "kernels/ew_math.h"

/* ---------------------------------------------------------------- kernels */

/* Elements per work item when a long map is split across threads. */
#define NB__MAP_BLOCK 8192

/* Maps up to this long (far below nb__par's threshold) get a kernel of
 * their own (nb__<op>_fast): the row straight from the step, its length
 * kept, without the forward's size and thread tests per run. */
#define NB__MAP_SHORT 64

/*
 * Every unary kernel: x [*] -> out [*], out[i] = EXPR of v = x[i]. Each op
 * gets its own row function (one plain loop the compiler can vectorise where
 * libm allows) and a driver that runs it once over the whole buffer, or, for
 * long buffers, in blocks across the thread pool. Short maps never enter an
 * OpenMP construct (nb__par); the shortest run the row from their step.
 */
#define NB__MAP(OP, EXPR)                                                           \
    NB__SIMD static void OP##_row(const float *x, float *out, int64_t len)          \
    {                                                                               \
        for (int64_t i = 0; i < len; i++) {                                         \
            float v = x[i];                                                         \
            out[i] = (EXPR);                                                        \
        }                                                                           \
    }                                                                               \
    void nb__##OP##_forward(const nb_node *n, const float *const *in, float *out)   \
    {                                                                               \
        const float *x = in[0];                                                     \
        int64_t count = nb__numel(&n->shape);                                   \
        if (!nb__par(count)) {                                                      \
            OP##_row(x, out, count);                                                \
            return;                                                                 \
        }                                                                           \
        int64_t blocks = (count + NB__MAP_BLOCK - 1) / NB__MAP_BLOCK;               \
        _Pragma("omp parallel for schedule(static)")                                \
        for (int64_t b = 0; b < blocks; b++) {                                      \
            int64_t at = b * NB__MAP_BLOCK;                                         \
            OP##_row(x + at, out + at, count - at < NB__MAP_BLOCK ? count - at : NB__MAP_BLOCK); \
        }                                                                           \
    }                                                                               \
    static void OP##_short(const nb__kernel *k, const float *const *in, float *out) \
    {                                                                               \
        OP##_row(in[0], out, k->len);                                               \
    }                                                                               \
    nb__kernel_fn nb__##OP##_fast(const nb_node *n, nb__kernel *k)                  \
    {                                                                               \
        k->len = nb__numel(&n->shape);                                              \
        return k->len <= NB__MAP_SHORT ? OP##_short : NULL;                         \
    }

NB__MAP(neg, -v)
NB__MAP(exp, nb__exp1(v))
NB__MAP(log, logf(v))
NB__MAP(sqrt, sqrtf(v))
NB__MAP(abs, fabsf(v))
/* sign: -1, 0 or 1; NaN stays 0 (neither comparison holds). */
NB__MAP(sign, (float)((v > 0.0f) - (v < 0.0f)))
NB__MAP(tanh, nb__tanh1(v))

NB__MAP(sigmoid, nb__sigmoid1(v))
/* libm's erff: GELU's exact form needs it (no cheaper kernel of our own yet). */
NB__MAP(erf, erff(v))

#undef NB__MAP

/* ---------------------------------------------------------------- vjp rules
 * Each sets dx[0] from dy (n's shape) with the public builders only, so the
 * gradient can be differentiated again. A builder that failed returned NULL
 * and left its message in the graph: report the graph's status then. */

static nb_status done(nb_graph *g, nb_node *d, nb_node **dx)
{
    dx[0] = d;
    return d ? NB_OK : g->status;
}

/* d(-x) = -dy */
nb_status nb__neg_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    (void)n;
    return done(g, nb_neg(g, dy), dx);
}

/* d(e^x) = dy · y: the node's own value, no second exp */
nb_status nb__exp_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    return done(g, nb_mul(g, dy, n), dx);
}

/* d(ln x) = dy / x */
nb_status nb__log_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    return done(g, nb_div(g, dy, n->in[0]), dx);
}

/* d(√x) = dy · 0.5 / y */
nb_status nb__sqrt_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    return done(g, nb_div(g, nb_mul(g, dy, nb_scalar(g, 0.5f)), n), dx);
}

/* d|x| = dy · sign x (0 at the kink) */
nb_status nb__abs_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    return done(g, nb_mul(g, dy, nb_sign(g, n->in[0])), dx);
}

/* Piecewise constant: no gradient flows, dx[0] stays NULL. */
nb_status nb__sign_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    (void)g, (void)n, (void)dy, (void)dx;
    return NB_OK;
}

/* d(tanh x) = dy · (1 - y²) */
nb_status nb__tanh_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    nb_node *slope = nb_sub(g, nb_scalar(g, 1.0f), nb_mul(g, n, n));
    return done(g, nb_mul(g, dy, slope), dx);
}

/* d(σ x) = dy · y · (1 - y) */
nb_status nb__sigmoid_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    nb_node *slope = nb_mul(g, n, nb_sub(g, nb_scalar(g, 1.0f), n));
    return done(g, nb_mul(g, dy, slope), dx);
}

/* d(erf x) = dy · 2/√π · e^(−x²) */
nb_status nb__erf_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    nb_node *x = n->in[0];
    nb_node *bell = nb_exp(g, nb_neg(g, nb_mul(g, x, x)));
    nb_node *slope = nb_mul(g, bell, nb_scalar(g, 1.1283791670955126f)); /* 2/√π */
    return done(g, nb_mul(g, dy, slope), dx);
}

/* ---------------------------------------------------------------- builders
 * NULL g gives NULL; a NULL x is refused by nb__node_new, which keeps the
 * first message already in the graph. */

static nb_node *unary(nb_graph *g, nb__op_id id, nb_node *x)
{
    return nb__node_new(g, &nb__op_table[id], &x, 1, NULL);
}

nb_node *nb_neg(nb_graph *g, nb_node *x) { return unary(g, NB_OP_NEG, x); }
nb_node *nb_exp(nb_graph *g, nb_node *x) { return unary(g, NB_OP_EXP, x); }
nb_node *nb_log(nb_graph *g, nb_node *x) { return unary(g, NB_OP_LOG, x); }
nb_node *nb_sqrt(nb_graph *g, nb_node *x) { return unary(g, NB_OP_SQRT, x); }
nb_node *nb_abs(nb_graph *g, nb_node *x) { return unary(g, NB_OP_ABS, x); }
nb_node *nb_sign(nb_graph *g, nb_node *x) { return unary(g, NB_OP_SIGN, x); }
nb_node *nb_tanh(nb_graph *g, nb_node *x) { return unary(g, NB_OP_TANH, x); }
nb_node *nb_sigmoid(nb_graph *g, nb_node *x) { return unary(g, NB_OP_SIGMOID, x); }
nb_node *nb_erf(nb_graph *g, nb_node *x) { return unary(g, NB_OP_ERF, x); }

/*
 * relu x = max(x, 0): a composition, not a primitive. Its gradient is max's,
 * so at exactly 0 the tie sends dy to x (slope 1). A NULL x is refused before
 * the zero constant is made, so no orphan node is left behind.
 */
nb_node *nb_relu(nb_graph *g, nb_node *x)
{
    if (!g)
        return NULL;
    if (!x)
        return nb_graph_fail(g, NB_ERR_ARG, "relu: input is NULL"), NULL;
    return nb_max(g, x, nb_scalar(g, 0.0f));
}
