/*
 * trainer_nonfinite.c — a step whose loss or gradients are not finite:
 * found before any update (one read of every gradient, an outer product
 * checked through its vectors), and refused with a message that says what
 * went wrong, when, and what the batch's examples give alone, so that a bad
 * example is named and diverged weights are told apart from it.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "trainer_internal.h"

/* ---------------------------------------------------------------- non-finite steps */

/* The largest |v[i]| of n values. */
static double max_abs(const float *v, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        m = fabs(v[i]) > m ? fabs(v[i]) : m;
    return m;
}

/* The first trainable parameter whose gradient (after the batch just run)
 * is not finite everywhere, or n_params when all are: an outer-product
 * gradient u ⊗ v is checked through its vectors (finite, and no product
 * beyond float32's range). Costs one read of every gradient. */
int nb__trainer_first_bad_grad(nb_trainer *t, const instance *in)
{
    nb__trainer_locate_grads(t, in);
    for (int i = 0; i < t->n_params; i++) {
        const nb__grad_src *s = &t->gsrc[i];
        int64_t n = t->param_numel[i];
        bool ok = s->g ? nb__all_finite(s->g, n)
                       : nb__all_finite(s->u, n / s->n) && nb__all_finite(s->v, s->n) &&
                             max_abs(s->u, n / s->n) * max_abs(s->v, s->n) <= 3.4028234663852886e38;
        if (!ok)
            return i;
    }
    return t->n_params;
}

/* Example k of the batch just staged, as the caller counts: its index in
 * the set given to fit (through the held-out indices when a validation
 * fraction was split off), else its place in the step's examples. */
static int64_t example_index(const nb_trainer *t, const int64_t *idx, int64_t start, int64_t k)
{
    int64_t i = idx ? idx[k] : start + k;
    for (int64_t h = 0; idx && h < t->n_held && t->held[h] <= i; h++)
        i++;
    return i;
}

/* What the batch's examples give alone, for the message of a step that
 * went non-finite: each one's loss in inference mode (batch 1), so an
 * example whose own loss is not finite is named, and weights that give no
 * example a finite loss are said to have diverged. Runs only after a
 * failure; the trainer's message is kept. */
static void blame(nb_trainer *t, const instance *in, const nb_dataset *ds, const int64_t *idx,
                  int64_t start, bool fitting, char *why, size_t size)
{
    int64_t b = in->batch, first = -1, bad = 0, k = 0;
    double lo = INFINITY, hi = -INFINITY, first_loss = 0;
    for (int64_t i = 0; i < b * t->numel; i++) { /* the batch fed, before the loop refeeds */
        lo = t->bx[i] < lo ? t->bx[i] : lo;
        hi = t->bx[i] > hi ? t->bx[i] : hi;
    }
    char saved[sizeof t->err];
    nb_status saved_status = t->status;
    memcpy(saved, t->err, sizeof saved);
    instance *one = nb__trainer_instance(t, 1, false);
    for (; one && k < b; k++) {
        if (nb__trainer_feed(t, one, ds, idx ? idx + k : NULL, idx ? 0 : start + k) != NB_OK)
            break;
        double l = nb_runtime_value(one->rt, one->io.loss)[0];
        if (!isfinite(l) && bad++ == 0)
            first = k, first_loss = isnan(l) ? NAN : l; /* "nan", never "-nan" */
    }
    memcpy(t->err, saved, sizeof saved);
    t->status = saved_status;
    int n = snprintf(why, size, "; the batch's inputs lie in [%g, %g]", lo, hi);
    size_t at = n > 0 && (size_t)n < size ? (size_t)n : size - 1;
    if (!one || k < b)
        return;
    if (bad == 0)
        snprintf(why + at, size - at, "; alone, each of its %lld examples has a finite loss "
                 "(inference mode)", (long long)b);
    else if (bad == b && b > 1)
        snprintf(why + at, size - at, "; alone, every one of its %lld examples has a loss that "
                 "is not finite: the weights have diverged (a lower learning rate or clip_norm "
                 "may help)", (long long)b);
    else
        snprintf(why + at, size - at, "; alone, %s example %lld has a loss of %g (inference "
                 "mode; %lld of the batch's %lld examples do): look at that example",
                 fitting ? "training" : "this step's", (long long)example_index(t, idx, start, first),
                 first_loss, (long long)bad, (long long)b);
}

/* The message of a step whose loss (bad < 0) or gradient of parameter
 * `bad` is not finite: what, when (p: the epoch and step in fit; NULL for
 * nb_trainer_step) and what the examples give alone. */
nb_status nb__trainer_step_failed(nb_trainer *t, const instance *in, const nb_dataset *ds,
                                  const int64_t *idx, int64_t start, const nb_progress *p, int bad,
                                  double loss)
{
    char what[400], when[128], why[320] = "", name[128], shape[64];
    loss = isnan(loss) ? NAN : loss; /* "nan", never "-nan" */
    if (bad < 0) {
        snprintf(what, sizeof what, "the loss is %g", loss);
    } else {
        const nb__grad_src *s = &t->gsrc[bad];
        nb_shape ps = nb_node_shape(t->params[bad]);
        int64_t n = nb_shape_numel(ps), e = 0;
        while (s->g && e < n && isfinite(s->g[e]))
            e++;
        e = s->g && e < n ? e : -1;
        nb_node_label(t->params[bad], name, sizeof name);
        nb_shape_format(ps, shape, sizeof shape);
        if (e >= 0)
            snprintf(what, sizeof what, "the gradient of '%s' %s is %g at element %lld (the "
                     "loss is %.6g)", name, shape, isnan(s->g[e]) ? NAN : (double)s->g[e],
                     (long long)e, loss);
        else
            snprintf(what, sizeof what, "the gradient of '%s' %s overflows float32 (the loss "
                     "is %.6g)", name, shape, loss);
    }
    if (p)
        snprintf(when, sizeof when, "epoch %d, step %lld of %lld (optimiser step %lld)", p->epoch,
                 (long long)p->step, (long long)p->steps, (long long)t->global_step + 1);
    else
        snprintf(when, sizeof when, "optimiser step %lld", (long long)t->global_step + 1);
    blame(t, in, ds, idx, start, p != NULL, why, sizeof why);
    return nb__trainer_failf(t, NB_ERR_STATE, "train: %s at %s; no update was made%s", what, when,
                             why);
}
