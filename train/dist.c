/*
 * dist.c — data parallelism for a training loop of the user's own, over
 * the transport of dist_mpi.c (or its stand-in): the gradients of a step
 * summed over the ranks, and parameters sent from rank 0 to all.
 */
#include "train_internal.h"

int64_t nb__grad_values(const nb_runtime *rt, const nb_node *grad, float scale, float *out,
                        bool *nonfinite)
{
    const float *g = nb_runtime_value(rt, grad), *u, *v;
    nb_shape s = nb_node_shape(grad);
    int64_t m = nb_shape_numel(s), cols = s.rank ? s.dim[s.rank - 1] : 1;
    if (!g && !nb_runtime_outer(rt, grad, &u, &v))
        return -1;
    /* In rows of `cols`, each checked while it is still in cache. */
    for (int64_t i = 0; cols > 0 && i < m / cols; i++) {
        float *row = out + i * cols;
        if (g)
            for (int64_t j = 0; j < cols; j++)
                row[j] = scale * g[i * cols + j];
        else
            for (int64_t j = 0; j < cols; j++)
                row[j] = scale * (u[i] * v[j]);
        if (nonfinite && !nb__all_finite(row, cols))
            *nonfinite = true;
    }
    return m;
}

/* Writes the values of grads[0..n) (as rt computed them, an outer product
 * formed) end to end into out, times scale, then sums out over the ranks. */
nb_status nb_dist_allreduce_grads(nb_dist *d, const nb_runtime *rt, nb_node *const *grads, int n,
                                  float scale, float *out, nb_error *err)
{
    if (!rt || (!grads && n > 0) || n < 0 || !out)
        return nb_error_set(err, NB_ERR_ARG, "dist: allreduce_grads needs a runtime, %d "
                            "gradient nodes and room for their values", n);
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        int64_t m = nb__grad_values(rt, grads[i], scale, out + at, NULL);
        if (m < 0) {
            char name[128];
            nb_node_label(grads[i], name, sizeof name);
            return nb_error_set(err, NB_ERR_ARG, "dist: gradient %d ('%s') is not an output of "
                                "the runtime", i, name);
        }
        at += m;
    }
    return nb_dist_allreduce(d, out, at, err);
}

nb_status nb_dist_broadcast_params(nb_dist *d, nb_node *const *params, int n, nb_error *err)
{
    if ((!params && n > 0) || n < 0)
        return nb_error_set(err, NB_ERR_ARG, "dist: broadcast_params needs %d parameters", n);
    for (int i = 0; i < n; i++) {
        float *v = nb_param_data(params[i]);
        if (!v) {
            char name[128];
            nb_node_label(params[i], name, sizeof name);
            return nb_error_set(err, NB_ERR_ARG, "dist: node %d ('%s') is not a parameter", i,
                                name);
        }
        nb_status st = nb_dist_broadcast(d, v, nb_shape_numel(nb_node_shape(params[i])) *
                                                   (int64_t)sizeof(float), err);
        if (st != NB_OK)
            return st;
    }
    return NB_OK;
}
