/*
 * composed.c — which of the layers that record nothing (nb_flatten and
 * nb_relu are plain compositions of primitive ops) made a node, told from
 * the node the way those builders make it. Kept beside the builders, so a
 * change to how they compose is a change here too.
 */
#include <string.h>

#include "layers_internal.h"

static const char *const kind_names[] = {
    [NB_LAYER_DENSE] = "dense", [NB_LAYER_CONV2D] = "conv2d", [NB_LAYER_LOCAL2D] = "local2d",
    [NB_LAYER_MAXPOOL2D] = "maxpool2d", [NB_LAYER_AVGPOOL2D] = "avgpool2d",
    [NB_LAYER_DROPOUT] = "dropout", [NB_LAYER_BATCHNORM] = "batchnorm",
    [NB_LAYER_LAYERNORM] = "layernorm", [NB_LAYER_EMBEDDING] = "embedding",
    [NB_LAYER_RNN] = "rnn", [NB_LAYER_GRU] = "gru", [NB_LAYER_LSTM] = "lstm",
    [NB_LAYER_SOFTMAX_CROSS_ENTROPY] = "softmax_cross_entropy", [NB_LAYER_MSE] = "mse_loss",
    [NB_LAYER_BCE_WITH_LOGITS] = "bce_with_logits", [NB_LAYER_MARGIN] = "margin_loss",
    [NB_LAYER_L1] = "l1_loss", [NB_LAYER_HUBER] = "huber_loss",
    [NB_LAYER_CONV_TRANSPOSE2D] = "conv_transpose2d", [NB_LAYER_GROUPNORM] = "groupnorm"};

const char *nb_layer_kind_name(nb_layer_kind k)
{
    return (unsigned)k < sizeof kind_names / sizeof *kind_names ? kind_names[k] : NULL;
}

/* nb_relu(x) is max(x, 0) with 0 a scalar constant. */
static bool is_relu(const nb_node *n)
{
    if (strcmp(nb_node_op(n), "max") != 0 || nb_node_num_inputs(n) != 2)
        return false;
    const nb_node *c = nb_node_input(n, 1);
    return nb_node_kind_of(c) == NB_NODE_CONST && nb_shape_numel(nb_node_shape(c)) == 1 &&
           nb_constant_data(c)[0] == 0.0f;
}

/* nb_flatten(x) of an image batch is one reshape to [N, -1]. */
static bool is_flatten(const nb_node *n)
{
    return !strcmp(nb_node_op(n), "reshape") && nb_node_shape(n).rank == 2 &&
           nb_node_shape(nb_node_input(n, 0)).rank > 2;
}

const char *nb_node_composed_layer(const nb_node *n)
{
    if (!n || nb_node_kind_of(n) != NB_NODE_OP)
        return NULL;
    return is_relu(n) ? "relu" : is_flatten(n) ? "flatten" : NULL;
}
