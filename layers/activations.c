/*
 * activations.c — the nonlinearities a layer ends with, each a composition
 * of primitive ops, plus the McCulloch–Pitts threshold: a user-style op with
 * a forward kernel and deliberately no gradient rule.
 */

#include <math.h>

#include "layers_internal.h"

/* ---------------------------------------------------------------- leaky relu */

/* max(x, αx): for 0 ≤ α ≤ 1 this is x where x > 0 and αx elsewhere. α
 * outside [0, 1] (or NaN) would make max pick the wrong branch: refused. */
nb_node *nb_leaky_relu(nb_graph *g, nb_node *x, float alpha)
{
    if (nb__layer_null_input(g, x, "leaky_relu"))
        return NULL;
    if (!(alpha >= 0.0f && alpha <= 1.0f))
        return nb_graph_fail(g, NB_ERR_ARG, "leaky_relu: alpha %g is outside [0, 1]",
                             (double)alpha), NULL;
    return nb_max(g, x, nb_mul(g, x, nb_scalar(g, alpha)));
}

/* ---------------------------------------------------------------- smooth units */

/* ½x(1 + erf(x/√2)). */
nb_node *nb_gelu(nb_graph *g, nb_node *x)
{
    if (nb__layer_null_input(g, x, "gelu"))
        return NULL;
    nb_node *phi = nb_erf(g, nb_mul(g, x, nb_scalar(g, 0.70710678118654752f)));
    nb_node *half_x = nb_mul(g, x, nb_scalar(g, 0.5f));
    return nb_mul(g, half_x, nb_add(g, phi, nb_scalar(g, 1.0f)));
}

/* x·σ(x). */
nb_node *nb_silu(nb_graph *g, nb_node *x)
{
    if (nb__layer_null_input(g, x, "silu"))
        return NULL;
    return nb_mul(g, x, nb_sigmoid(g, x));
}

/* max(x, 0) + α(e^min(x, 0) − 1): the exp sees no positive value, so a
 * large x cannot overflow it (0·∞ would poison the gradient). */
nb_node *nb_elu(nb_graph *g, nb_node *x, float alpha)
{
    if (nb__layer_null_input(g, x, "elu"))
        return NULL;
    if (!(alpha >= 0.0f && isfinite(alpha)))
        return nb_graph_fail(g, NB_ERR_ARG, "elu: alpha %g must be finite and >= 0",
                             (double)alpha), NULL;
    nb_node *zero = nb_scalar(g, 0.0f);
    nb_node *em1 = nb_sub(g, nb_exp(g, nb_min(g, x, zero)), nb_scalar(g, 1.0f));
    return nb_add(g, nb_max(g, x, zero), nb_mul(g, em1, nb_scalar(g, alpha)));
}

/* m + log(e^−m + e^(x−m)), m = max(x, 0): log Σ e over {0, x} shifted by
 * its max, as log_softmax does, so both exps lie in (0, 1] and one is 1.
 * m's gradient through its three uses sums to 0 exactly in real numbers,
 * which leaves σ(x) — also at x = 0, where max(x, 0) + log(1 + e^−|x|)
 * would give 1 instead of ½. */
nb_node *nb_softplus(nb_graph *g, nb_node *x)
{
    if (nb__layer_null_input(g, x, "softplus"))
        return NULL;
    nb_node *m = nb_max(g, x, nb_scalar(g, 0.0f));
    nb_node *s = nb_add(g, nb_exp(g, nb_neg(g, m)), nb_exp(g, nb_sub(g, x, m)));
    return nb_add(g, m, nb_log(g, s));
}

/* ---------------------------------------------------------------- softmax */

/* x - max over axis (keepdims): the shift that keeps exp finite. Refuses an
 * axis outside -rank..rank-1 (rank-0 x has no axis) naming the op. */
static nb_node *shifted(nb_graph *g, nb_node *x, int axis, const char *op)
{
    if (nb__layer_null_input(g, x, op))
        return NULL;
    int rank = nb_node_shape(x).rank;
    if (axis < -rank || axis >= rank) {
        char d[300];
        return nb_graph_fail(g, NB_ERR_ARG, "%s: axis %d is out of range for %s (rank %d)", op,
                             axis, nb__layer_describe(x, d, sizeof d), rank), NULL;
    }
    return nb_sub(g, x, nb_reduce_max(g, x, &axis, 1, true));
}

/* e^(x - m) / Σ e^(x - m) over axis, m the max over axis. */
nb_node *nb_softmax(nb_graph *g, nb_node *x, int axis)
{
    nb_node *e = nb_exp(g, shifted(g, x, axis, "softmax"));
    return nb_div(g, e, nb_sum(g, e, &axis, 1, true));
}

/* (x - m) - log Σ e^(x - m): the largest term of the sum is e^0 = 1, so
 * the log never sees 0 or ∞. */
nb_node *nb_log_softmax(nb_graph *g, nb_node *x, int axis)
{
    nb_node *z = shifted(g, x, axis, "log_softmax");
    return nb_sub(g, z, nb_log(g, nb_sum(g, nb_exp(g, z), &axis, 1, true)));
}

/* ---------------------------------------------------------------- threshold */

static nb_status threshold_shape(nb_graph *g, const nb_node *n, nb_shape *out)
{
    (void)g;
    *out = nb_node_shape(nb_node_input(n, 0));
    return NB_OK;
}

/* x [...] → out [...]: sign(x) ∈ {-1, 0, 1}. Elementwise, so out may be x. */
static void threshold_forward(const nb_node *n, const float *const *in, float *out)
{
    const float *x = in[0];
    int64_t count = nb_shape_numel(nb_node_shape(n));
    for (int64_t i = 0; i < count; i++)
        out[i] = (float)((x[i] > 0.0f) - (x[i] < 0.0f));
}

/* Defined as a user would define it: no vjp, so nb_grad refuses it. */
static const nb_op_def threshold_def = {
    .name = "threshold",
    .arity = 1,
    .flags = NB_OP_ELEMENTWISE,
    .shape = threshold_shape,
    .forward = threshold_forward,
    .vjp = NULL,
};

nb_node *nb_threshold(nb_graph *g, nb_node *x)
{
    if (nb__layer_null_input(g, x, "threshold"))
        return NULL;
    return nb_custom(g, &threshold_def, &x, 1, NULL);
}

/* ---------------------------------------------------------------- dispatch */

/* The activation named by act; NB_ACT_NONE returns x itself. The softmaxes
 * run over the last axis. */
nb_node *nb_activate(nb_graph *g, nb_node *x, nb_activation act)
{
    if (nb__layer_null_input(g, x, "activate"))
        return NULL;
    switch (act) {
    case NB_ACT_NONE:
        return x;
    case NB_ACT_RELU:
        return nb_relu(g, x);
    case NB_ACT_LEAKY_RELU:
        return nb_leaky_relu(g, x, 0.01f);
    case NB_ACT_SIGMOID:
        return nb_sigmoid(g, x);
    case NB_ACT_TANH:
        return nb_tanh(g, x);
    case NB_ACT_SOFTMAX:
        return nb_softmax(g, x, -1);
    case NB_ACT_LOG_SOFTMAX:
        return nb_log_softmax(g, x, -1);
    case NB_ACT_SIGN:
        return nb_threshold(g, x);
    case NB_ACT_GELU:
        return nb_gelu(g, x);
    case NB_ACT_SILU:
        return nb_silu(g, x);
    case NB_ACT_ELU:
        return nb_elu(g, x, 1.0f);
    case NB_ACT_SOFTPLUS:
        return nb_softplus(g, x);
    }
    return nb_graph_fail(g, NB_ERR_ARG, "activate: unknown activation %d", (int)act), NULL;
}
