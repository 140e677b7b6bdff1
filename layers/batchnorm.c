/*
 * batchnorm.c — batch normalisation over every axis but the channel axis 1:
 * γ (x - μ) / √(σ² + eps) + β. Training normalises with the batch's own
 * statistics and registers state updates that move the running statistics
 * toward them; inference normalises with the running statistics.
 */
#include "layers_internal.h"

/* The layer's settings with defaults applied and its input's geometry. */
typedef struct bn {
    float momentum, eps;
    int64_t c, count;       /* channels; reduced elements per channel */
    int axes[3], n_axes;    /* every axis but 1 */
    nb_shape bshape;        /* [1, C] or [1, C, 1, 1]: a [C] vector broadcast */
} bn;

/* Checks the options and input from inside the scope; fills *b. */
static bool bn_options(nb_graph *g, nb_node *x, const nb_batchnorm_opts *o, bn *b)
{
    nb_shape xs = nb_node_shape(x);
    char d[300];
    nb__layer_describe(x, d, sizeof d);
    b->momentum = o->momentum != 0.0f ? o->momentum : 0.1f;
    b->eps = o->eps != 0.0f ? o->eps : 1e-5f;
    bool rank_ok = xs.rank == 2 || xs.rank == 4;
    b->c = rank_ok ? xs.dim[1] : 0;
    b->count = rank_ok ? nb_shape_numel(xs) / b->c : 0;
    bool ok = false;
    if (!(b->momentum >= 0.0f && b->momentum <= 1.0f))
        nb__layer_refuse(g, NB_ERR_ARG, "momentum %g is outside [0, 1]", (double)o->momentum);
    else if (!(b->eps > 0.0f))
        nb__layer_refuse(g, NB_ERR_ARG, "eps %g must be > 0", (double)o->eps);
    else if (!rank_ok)
        nb__layer_refuse(g, NB_ERR_SHAPE, "input %s must have rank 2 [N,C] or 4 [N,C,H,W], not %d",
                         d, xs.rank);
    else if (nb_graph_training(g) && b->count < 2)
        nb__layer_refuse(g, NB_ERR_SHAPE, "training needs more than one value per channel to "
                         "estimate a variance; input %s has %lld", d, (long long)b->count);
    else
        ok = true;
    if (!ok)
        return false;
    b->n_axes = xs.rank == 2 ? 1 : 3;
    b->axes[0] = 0, b->axes[1] = 2, b->axes[2] = 3;
    b->bshape = xs.rank == 2 ? NB_SHAPE(1, b->c) : NB_SHAPE(1, b->c, 1, 1);
    return true;
}

/* A running statistic: state, not trained, initialised to v. */
static nb_node *running(nb_graph *g, const char *name, int64_t c, float v)
{
    nb_node *p = nb_param_init(g, name, NB_SHAPE(c), (nb_init){.kind = NB_INIT_CONSTANT, .a = v},
                               c, c);
    nb_param_set_trainable(p, false);
    return p;
}

/* running ← (1 - m)·running + m·batch, registered as a state update;
 * batch has the broadcast shape and is viewed as [C]. */
static nb_status update(nb_graph *g, nb_node *run, nb_node *batch, const bn *b)
{
    nb_node *old = nb_mul(g, run, nb_scalar(g, 1.0f - b->momentum));
    nb_node *add = nb_mul(g, nb_reshape(g, batch, NB_SHAPE(b->c)), nb_scalar(g, b->momentum));
    return nb_state_update(g, run, nb_add(g, old, add));
}

/*
 * Training: μ = mean over the axes, σ² = mean((x - μ)²) (biased, as the
 * normalisation uses), and the updates take the unbiased σ²·n/(n - 1), n the
 * elements per channel. Returns x - μ and σ², both broadcastable to x.
 */
static nb_node *batch_stats(nb_graph *g, nb_node *x, nb_node *rmean, nb_node *rvar, const bn *b,
                            nb_node **var)
{
    nb_node *mu = nb_mean(g, x, b->axes, b->n_axes, true);
    nb_node *xc = nb_sub(g, x, mu);
    *var = nb_mean(g, nb_mul(g, xc, xc), b->axes, b->n_axes, true);
    nb_node *unbiased = nb_mul(g, *var, nb_scalar(g, (float)((double)b->count / (double)(b->count - 1))));
    if (update(g, rmean, mu, b) != NB_OK || update(g, rvar, unbiased, b) != NB_OK)
        return NULL;
    return xc;
}

/*
 * x [N, C] or [N, C, H, W] → y of x's shape, computed as
 * (x - μ) · (γ / √(σ² + eps)) + β so only the centring, scaling and shift
 * touch every element. Parameters under the scope: gamma [C] (ones), beta
 * [C] (zeros), and the non-trainable running_mean [C] (zeros) and
 * running_var [C] (ones). Refuses momentum outside [0, 1], eps < 0, a rank
 * other than 2 or 4, and training on one value per channel.
 */
nb_node *nb_batchnorm(nb_graph *g, nb_node *x, nb_batchnorm_opts o)
{
    if (nb__layer_null_input(g, x, "batchnorm") || nb_layer_scope(g, "batchnorm", o.name) != NB_OK)
        return NULL;
    int first = nb_graph_node_count(g);
    bn b;
    if (!bn_options(g, x, &o, &b))
        return NULL;
    nb_node *gamma = nb_param_init(g, "gamma", NB_SHAPE(b.c),
                                   (nb_init){.kind = NB_INIT_CONSTANT, .a = 1.0f}, b.c, b.c);
    nb_node *beta = nb_param_init(g, "beta", NB_SHAPE(b.c), (nb_init){.kind = NB_INIT_ZEROS},
                                  b.c, b.c);
    nb_node *rmean = running(g, "running_mean", b.c, 0.0f);
    nb_node *rvar = running(g, "running_var", b.c, 1.0f);
    nb_node *xc, *var;
    if (nb_graph_training(g)) {
        xc = batch_stats(g, x, rmean, rvar, &b, &var);
    } else {
        xc = nb_sub(g, x, nb_reshape(g, rmean, b.bshape));
        var = nb_reshape(g, rvar, b.bshape);
    }
    nb_node *scale = nb_div(g, nb_reshape(g, gamma, b.bshape),
                            nb_sqrt(g, nb_add(g, var, nb_scalar(g, b.eps))));
    nb_node *y = nb_add(g, nb_mul(g, xc, scale), nb_reshape(g, beta, b.bshape));
    return nb__layer_done(g, (nb_layer_record){.kind = NB_LAYER_BATCHNORM, .input = x,
                                               .batchnorm = o}, first, y);
}
