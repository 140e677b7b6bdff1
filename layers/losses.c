/*
 * losses.c — the training objectives, each a scalar: the mean over the
 * batch (leading axis) of a per-example loss, composed of primitive ops so
 * autodiff differentiates it like any other graph. Every loss builds under
 * its own layer scope ("softmax_cross_entropy1"), so its nodes are grouped in
 * drawings and its refusals name it.
 *
 * Stability: nothing here takes exp of a large positive number or log of
 * zero. Where a textbook form has max(z, 0), it is written ½(z + |z|)
 * instead: equal in value, but its derivative at exactly z = 0 is ½ (the
 * sign of 0 is 0), which makes the gradient of the smooth whole exact at 0 —
 * and 0 is what a zero-initialised output layer produces.
 */
#include <math.h>

#include "layers_internal.h"

/* ---------------------------------------------------------------- shared checks */

/* Σ x over every axis, times 1/n: a scalar. */
static nb_node *sum_over(nb_graph *g, nb_node *x, int64_t n)
{
    return nb_mul(g, nb_sum(g, x, NULL, 0, false), nb_scalar(g, (float)(1.0 / (double)n)));
}

/* Refuses (inside the scope) a rank-0 x, which has no batch axis. */
static bool has_batch(nb_graph *g, nb_node *x, const char *role)
{
    char d[300];
    if (nb_node_shape(x).rank >= 1)
        return true;
    nb__layer_refuse(g, NB_ERR_SHAPE, "%s %s has no batch axis (rank 0)", role,
                     nb__layer_describe(x, d, sizeof d));
    return false;
}

/* Refuses (inside the scope) a and b of different shapes or without a batch
 * axis; a loss that compares them elementwise needs both. */
static bool same_batched(nb_graph *g, nb_node *a, nb_node *b, const char *ra, const char *rb)
{
    char da[300], db[300];
    if (!has_batch(g, a, ra) || !has_batch(g, b, rb))
        return false;
    if (nb_shape_equal(nb_node_shape(a), nb_node_shape(b)))
        return true;
    nb__layer_refuse(g, NB_ERR_SHAPE, "%s %s and %s %s differ", ra,
                     nb__layer_describe(a, da, sizeof da), rb, nb__layer_describe(b, db, sizeof db));
    return false;
}

/* True (after recording why) when either input is NULL or the graph is. */
static bool null_pair(nb_graph *g, nb_node *a, nb_node *b, const char *kind)
{
    return nb__layer_null_input(g, a, kind) || nb__layer_null_input(g, b, kind);
}

/* ½(|x| - x) + log(1 + e^-|x|) = log(1 + e^-x), the softplus of -x, without
 * overflow for any x; its gradient at x = 0 is exactly -½. */
static nb_node *softplus_neg(nb_graph *g, nb_node *x)
{
    nb_node *ax = nb_abs(g, x);
    nb_node *relu_neg = nb_mul(g, nb_sub(g, ax, x), nb_scalar(g, 0.5f));
    nb_node *tail = nb_log(g, nb_add(g, nb_scalar(g, 1.0f), nb_exp(g, nb_neg(g, ax))));
    return nb_add(g, relu_neg, tail);
}

/* ---------------------------------------------------------------- regression */

/* The mean over all elements of x (a and y's shape), as PyTorch's default
 * reduction: Σ x / numel. */
static nb_node *mean_all(nb_graph *g, nb_node *x)
{
    return sum_over(g, x, nb_shape_numel(nb_node_shape(x)));
}

/* a and y of one shape [N, ...] → Σ |a − y| / numel. */
nb_node *nb_l1_loss(nb_graph *g, nb_node *a, nb_node *y)
{
    if (null_pair(g, a, y, "l1_loss") || nb_layer_scope(g, "l1_loss", NULL) != NB_OK)
        return NULL;
    int first = nb_graph_node_count(g);
    if (!same_batched(g, a, y, "prediction", "target"))
        return NULL;
    nb_node *d = nb_abs(g, nb_sub(g, a, y));
    return nb__layer_done(g, (nb_layer_record){.kind = NB_LAYER_L1, .input = a, .target = y},
                          first, mean_all(g, d));
}

/* With q = min(|d|, δ), q·(|d| − ½q) is ½d² inside and δ(|d| − ½δ)
 * outside, one expression whose slope is d inside and δ·sign d outside
 * (0 at d = 0, where |d|'s sign is 0). */
nb_node *nb_huber_loss(nb_graph *g, nb_node *a, nb_node *y, float delta)
{
    if (null_pair(g, a, y, "huber_loss") || nb_layer_scope(g, "huber_loss", NULL) != NB_OK)
        return NULL;
    int first = nb_graph_node_count(g);
    if (delta == 0.0f)
        delta = 1.0f;
    if (!(delta > 0.0f && isfinite(delta))) {
        nb__layer_refuse(g, NB_ERR_ARG, "delta %g must be finite and > 0", (double)delta);
        return NULL;
    }
    if (!same_batched(g, a, y, "prediction", "target"))
        return NULL;
    nb_node *ad = nb_abs(g, nb_sub(g, a, y));
    nb_node *q = nb_min(g, ad, nb_scalar(g, delta));
    nb_node *per = nb_mul(g, q, nb_sub(g, ad, nb_mul(g, q, nb_scalar(g, 0.5f))));
    return nb__layer_done(g, (nb_layer_record){.kind = NB_LAYER_HUBER, .input = a, .target = y,
                                               .delta = delta},
                          first, mean_all(g, per));
}

/* a and y of one shape [N, ...] → ½ Σ (a - y)² / N. */
nb_node *nb_mse_loss(nb_graph *g, nb_node *a, nb_node *y)
{
    if (null_pair(g, a, y, "mse_loss") || nb_layer_scope(g, "mse_loss", NULL) != NB_OK)
        return NULL;
    int first = nb_graph_node_count(g);
    if (!same_batched(g, a, y, "prediction", "target"))
        return NULL;
    nb_node *d = nb_sub(g, a, y);
    int64_t n = nb_node_shape(a).dim[0];
    return nb__layer_done(g, (nb_layer_record){.kind = NB_LAYER_MSE, .input = a, .target = y},
                          first, nb_mul(g, sum_over(g, nb_mul(g, d, d), n), nb_scalar(g, 0.5f)));
}

/* ---------------------------------------------------------------- classification */

/* Refuses (inside the scope) logits that are not [N, C] and labels that are
 * not [N]. */
static bool ce_shapes(nb_graph *g, nb_node *logits, nb_node *labels)
{
    nb_shape zs = nb_node_shape(logits), ls = nb_node_shape(labels);
    char dz[300], dl[300];
    nb__layer_describe(logits, dz, sizeof dz);
    nb__layer_describe(labels, dl, sizeof dl);
    if (zs.rank != 2)
        nb__layer_refuse(g, NB_ERR_SHAPE, "logits %s must be [N, C] (rank 2), not rank %d", dz,
                         zs.rank);
    else if (ls.rank != 1 || ls.dim[0] != zs.dim[0])
        nb__layer_refuse(g, NB_ERR_SHAPE, "labels %s must be [%lld]: one class index per row of "
                         "logits %s", dl, (long long)zs.dim[0], dz);
    else
        return true;
    return false;
}

/*
 * logits [N, C], labels [N] (class indices as floats) →
 * -Σ onehot ⊙ log_softmax(logits) / N. The labels enter only through
 * one_hot, whose value check stops the run on a label that is not an
 * integer in 0…C-1 (values are only known at run time), naming the label,
 * its example and the logits' width. The gradient with respect to logits is
 * (softmax - onehot) / N; labels get none.
 */
nb_node *nb_softmax_cross_entropy(nb_graph *g, nb_node *logits, nb_node *labels)
{
    if (null_pair(g, logits, labels, "softmax_cross_entropy") ||
        nb_layer_scope(g, "softmax_cross_entropy", NULL) != NB_OK)
        return NULL;
    int first = nb_graph_node_count(g);
    if (!ce_shapes(g, logits, labels))
        return NULL;
    int64_t n = nb_node_shape(logits).dim[0], c = nb_node_shape(logits).dim[1];
    nb_node *onehot = nb_one_hot(g, labels, c, logits);
    nb_node *picked = nb_mul(g, onehot, nb_log_softmax(g, logits, -1));
    return nb__layer_done(g, (nb_layer_record){.kind = NB_LAYER_SOFTMAX_CROSS_ENTROPY,
                                               .input = logits, .target = labels},
                          first, nb_neg(g, sum_over(g, picked, n)));
}

/*
 * logits z and targets t in [0, 1], one shape [N, ...] →
 * Σ (softplus(-z) + z - z·t) / N, i.e. the stable
 * max(z, 0) - z·t + log(1 + e^-|z|) summed over non-batch axes, mean over
 * the batch. Gradient with respect to z: (σ(z) - t) / N, exact at z = 0.
 */
nb_node *nb_bce_with_logits(nb_graph *g, nb_node *logits, nb_node *targets)
{
    if (null_pair(g, logits, targets, "bce_with_logits") ||
        nb_layer_scope(g, "bce_with_logits", NULL) != NB_OK)
        return NULL;
    int first = nb_graph_node_count(g);
    if (!same_batched(g, logits, targets, "logits", "targets"))
        return NULL;
    nb_node *per = nb_add(g, softplus_neg(g, logits), nb_sub(g, logits, nb_mul(g, logits, targets)));
    return nb__layer_done(g, (nb_layer_record){.kind = NB_LAYER_BCE_WITH_LOGITS, .input = logits,
                                               .target = targets},
                          first, sum_over(g, per, nb_node_shape(logits).dim[0]));
}

/* ---------------------------------------------------------------- margins */

/* Refuses (inside the scope) scores and labels that are not one shape [N]
 * or [N, 1]. */
static bool margin_shapes(nb_graph *g, nb_node *s, nb_node *y)
{
    if (!same_batched(g, s, y, "scores", "labels"))
        return false;
    nb_shape ss = nb_node_shape(s);
    if (ss.rank == 1 || (ss.rank == 2 && ss.dim[1] == 1))
        return true;
    char d[300];
    nb__layer_refuse(g, NB_ERR_SHAPE, "scores %s must be [N] or [N, 1]: one score per example",
                     nb__layer_describe(s, d, sizeof d));
    return false;
}

/*
 * scores s and labels y ∈ {-1, +1}, one shape [N] or [N, 1], M = s·y →
 * mean over the batch of
 *   logistic:    log(1 + e^-M) = max(-M, 0) + log(1 + e^-|M|)  (stable)
 *   hinge:       max(0, 1 - M)  (gradient -y where M < 1, 0 where M > 1)
 *   exponential: e^-M
 * Refuses an unknown kind.
 */
nb_node *nb_margin_loss(nb_graph *g, nb_node *scores, nb_node *labels, nb_margin_kind kind)
{
    if (null_pair(g, scores, labels, "margin_loss") ||
        nb_layer_scope(g, "margin_loss", NULL) != NB_OK)
        return NULL;
    int first = nb_graph_node_count(g);
    if (!margin_shapes(g, scores, labels))
        return NULL;
    nb_node *m = nb_mul(g, scores, labels), *per;
    switch (kind) {
    case NB_MARGIN_LOGISTIC: per = softplus_neg(g, m); break;
    case NB_MARGIN_HINGE: per = nb_relu(g, nb_sub(g, nb_scalar(g, 1.0f), m)); break;
    case NB_MARGIN_EXPONENTIAL: per = nb_exp(g, nb_neg(g, m)); break;
    default: return nb__layer_refuse(g, NB_ERR_ARG, "kind %d is unknown (logistic %d, hinge %d, "
                                     "exponential %d)", (int)kind, NB_MARGIN_LOGISTIC,
                                     NB_MARGIN_HINGE, NB_MARGIN_EXPONENTIAL);
    }
    return nb__layer_done(g, (nb_layer_record){.kind = NB_LAYER_MARGIN, .input = scores,
                                               .target = labels, .margin = kind},
                          first, sum_over(g, per, nb_node_shape(scores).dim[0]));
}
