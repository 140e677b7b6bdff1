/*
 * layernorm.c — layer normalisation: each example normalised over its last
 * axes by its own mean and variance, γ (x − μ) / √(σ² + eps) + β. Unlike
 * batch norm it needs no batch statistics and no running state: training
 * and inference compute the same thing, one example at a time, which is
 * what recurrent networks and small batches need.
 */
#include "layers_internal.h"

/*
 * x [N, …] → y of x's shape, normalised over axes axis…end (axis counts the
 * batch as 0, negative from the end; 0 → −1, the last axis alone). μ and σ²
 * are the mean and the biased variance over those axes, as PyTorch's
 * nn.LayerNorm. Parameters under the scope, of the normalised axes' shape:
 * gamma (ones) and beta (zeros), unless no_affine. Refuses eps ≤ 0, an axis
 * outside 1…rank−1 (the batch axis is never normalised over) and a rank-1
 * input.
 */
nb_node *nb_layernorm(nb_graph *g, nb_node *x, nb_layernorm_opts o)
{
    if (nb__layer_null_input(g, x, "layernorm") || nb_layer_scope(g, "layernorm", o.name) != NB_OK)
        return NULL;
    int first = nb_graph_node_count(g);
    nb_shape xs = nb_node_shape(x);
    char d[300];
    float eps = o.eps != 0.0f ? o.eps : 1e-5f;
    int axis = o.axis ? o.axis : -1;
    if (axis < 0)
        axis += xs.rank;
    if (!(eps > 0.0f))
        return nb__layer_refuse(g, NB_ERR_ARG, "eps %g must be > 0", (double)o.eps);
    if (xs.rank < 2)
        return nb__layer_refuse(g, NB_ERR_SHAPE, "input %s must have a batch axis and at least "
                                "one axis to normalise [N, …]", nb__layer_describe(x, d, sizeof d));
    if (axis < 1 || axis >= xs.rank)
        return nb__layer_refuse(g, NB_ERR_ARG, "axis %d of input %s is outside 1…%d (−%d…−1): "
                                "the batch axis 0 is never normalised over", o.axis,
                                nb__layer_describe(x, d, sizeof d), xs.rank - 1, xs.rank - 1);
    int axes[NB_MAX_RANK], n_axes = 0;
    nb_shape ps = {.rank = xs.rank - axis};
    for (int k = axis; k < xs.rank; k++) {
        axes[n_axes++] = k;
        ps.dim[k - axis] = xs.dim[k];
    }
    nb_node *mu = nb_mean(g, x, axes, n_axes, true);
    nb_node *xc = nb_sub(g, x, mu);
    nb_node *var = nb_mean(g, nb_mul(g, xc, xc), axes, n_axes, true);
    nb_node *y = nb_div(g, xc, nb_sqrt(g, nb_add(g, var, nb_scalar(g, eps))));
    if (!o.no_affine) {
        int64_t n = nb_shape_numel(ps);
        nb_node *gamma = nb_param_init(g, "gamma", ps,
                                       (nb_init){.kind = NB_INIT_CONSTANT, .a = 1.0f}, n, n);
        nb_node *beta = nb_param_init(g, "beta", ps, (nb_init){.kind = NB_INIT_ZEROS}, n, n);
        y = nb_add(g, nb_mul(g, y, gamma), beta);
    }
    return nb__layer_done(g, (nb_layer_record){.kind = NB_LAYER_LAYERNORM, .input = x,
                                               .layernorm = o}, first, y);
}
