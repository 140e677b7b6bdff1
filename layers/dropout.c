/*
 * dropout.c — inverted dropout: in training each element survives with
 * probability 1 - rate and is scaled by 1/(1 - rate), so the expected value
 * is unchanged and inference needs no rescaling at all.
 */
#include "layers_internal.h"

/*
 * Training: a noise input u ~ U[0,1) of x's shape (refilled every run by
 * nb_runtime_fill_noise), mask = (u >= rate) ∈ {0, 1}, and
 * y = x · mask · 1/(1 - rate); the mask has no gradient, so dx = dy · the
 * same scaled mask. Inference, or rate 0: x itself. Refuses a rate outside
 * [0, 1) (rate 1 would drop everything and divide by zero). The layer takes
 * a scope ("dropout1") in both modes, so automatic numbering agrees between
 * the training and inference builds of a model.
 */
nb_node *nb_dropout(nb_graph *g, nb_node *x, float rate)
{
    if (nb__layer_null_input(g, x, "dropout") || nb_layer_scope(g, "dropout", NULL) != NB_OK)
        return NULL;
    if (!(rate >= 0.0f && rate < 1.0f))
        return nb__layer_refuse(g, NB_ERR_ARG, "rate %g is outside [0, 1)", (double)rate);
    int first = nb_graph_node_count(g);
    nb_layer_record r = {.kind = NB_LAYER_DROPOUT, .input = x, .rate = rate};
    if (!nb_graph_training(g) || rate == 0.0f)
        return nb__layer_done(g, r, first, x);
    nb_node *u = nb_noise(g, nb_node_shape(x));
    nb_node *mask = nb_ge(g, u, nb_scalar(g, rate));
    nb_node *keep = nb_mul(g, mask, nb_scalar(g, (float)(1.0 / (1.0 - (double)rate))));
    return nb__layer_done(g, r, first, nb_mul(g, x, keep));
}
