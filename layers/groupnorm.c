/*
 * groupnorm.c — group normalisation: each example's channels split into
 * groups, each group normalised over its channels and trailing axes by its
 * own mean and variance, then a per-channel γ and β. Between layer norm
 * (one group) and instance norm (one channel a group), it needs no batch
 * statistics, so it trains alike at any batch size.
 */
#include <math.h>

#include "layers_internal.h"

/* Checks the options and input from inside the scope; sets *eps. */
static bool gn_options(nb_graph *g, nb_node *x, const nb_groupnorm_opts *o, float *eps)
{
    nb_shape xs = nb_node_shape(x);
    char d[300];
    *eps = o->eps != 0.0f ? o->eps : 1e-5f;
    if (!(*eps > 0.0f) || !isfinite(*eps))
        nb__layer_refuse(g, NB_ERR_ARG, "eps %g must be finite and > 0", (double)o->eps);
    else if (xs.rank < 2)
        nb__layer_refuse(g, NB_ERR_SHAPE, "input %s must have a batch axis and a channel axis "
                         "[N, C, …]", nb__layer_describe(x, d, sizeof d));
    else if (o->groups < 1)
        nb__layer_refuse(g, NB_ERR_ARG, "groups %d must be ≥ 1", o->groups);
    else if (xs.dim[1] % o->groups != 0)
        nb__layer_refuse(g, NB_ERR_SHAPE, "groups %d do not divide the %lld channels (axis 1) "
                         "of input %s", o->groups, (long long)xs.dim[1],
                         nb__layer_describe(x, d, sizeof d));
    else
        return true;
    return false;
}

/*
 * x [N, C, …] → y of x's shape: x viewed as [N, G, C/G·(trailing)], μ and
 * the biased σ² over the last axis, (x − μ)/√(σ² + eps) viewed back as x,
 * then γ and β [C] broadcast as [C, 1, …]. Parameters under the scope,
 * unless no_affine: gamma (ones) and beta (zeros), as PyTorch's weight and
 * bias. Refuses eps ≤ 0, groups < 1 or not dividing C, and a rank-1 input.
 */
nb_node *nb_groupnorm(nb_graph *g, nb_node *x, nb_groupnorm_opts o)
{
    if (nb__layer_null_input(g, x, "groupnorm") || nb_layer_scope(g, "groupnorm", o.name) != NB_OK)
        return NULL;
    int first = nb_graph_node_count(g);
    float eps;
    if (!gn_options(g, x, &o, &eps))
        return NULL;
    nb_shape xs = nb_node_shape(x);
    int64_t c = xs.dim[1], per_group = c / o.groups;
    for (int k = 2; k < xs.rank; k++)
        per_group *= xs.dim[k];
    nb_node *v = nb_reshape(g, x, NB_SHAPE(xs.dim[0], o.groups, per_group));
    int last = 2;
    nb_node *mu = nb_mean(g, v, &last, 1, true);
    nb_node *vc = nb_sub(g, v, mu);
    nb_node *var = nb_mean(g, nb_mul(g, vc, vc), &last, 1, true);
    nb_node *y = nb_reshape(g, nb_div(g, vc, nb_sqrt(g, nb_add(g, var, nb_scalar(g, eps)))), xs);
    if (!o.no_affine) {
        nb_shape bs = {.rank = xs.rank - 1, .dim = {c}}; /* [C, 1, …] against [N, C, …] */
        for (int k = 1; k < bs.rank; k++)
            bs.dim[k] = 1;
        nb_node *gamma = nb_param_init(g, "gamma", NB_SHAPE(c),
                                       (nb_init){.kind = NB_INIT_CONSTANT, .a = 1.0f}, c, c);
        nb_node *beta = nb_param_init(g, "beta", NB_SHAPE(c), (nb_init){.kind = NB_INIT_ZEROS}, c, c);
        y = nb_add(g, nb_mul(g, y, nb_reshape(g, gamma, bs)), nb_reshape(g, beta, bs));
    }
    return nb__layer_done(g, (nb_layer_record){.kind = NB_LAYER_GROUPNORM, .input = x,
                                               .groupnorm = o}, first, y);
}
