/*
 * embedding.c — token ids into learned vectors: a table [vocab, dim] and a
 * gather. The gradient reaches only the rows a batch picked (gather's vjp is
 * a scatter_add), so a large vocabulary costs what a batch touches.
 */
#include "layers_internal.h"

/* Indices are floats: token ids are exact up to 2^24. */
#define MAX_VOCAB ((int64_t)1 << 24)

/*
 * idx [N, …] holding token ids 0…vocab−1 as floats → [N, …, dim], row i the
 * table's row idx[i]. The table [vocab, dim] is "table" under the layer's
 * scope ("embedding1/table"), N(0, 1) by default as PyTorch's nn.Embedding
 * (fans: dim in, dim out). Refuses vocab or dim < 1, a vocabulary beyond
 * 2^24 and a rank-0 input; an id outside the table stops the run that
 * meets it, naming it (nb_gather).
 */
nb_node *nb_embedding(nb_graph *g, nb_node *idx, nb_embedding_opts o)
{
    if (nb__layer_null_input(g, idx, "embedding") ||
        nb_layer_scope(g, "embedding", o.name) != NB_OK)
        return NULL;
    int first = nb_graph_node_count(g);
    char d[300];
    if (o.vocab < 1 || o.vocab > MAX_VOCAB)
        return nb__layer_refuse(g, NB_ERR_ARG, "vocab %lld is outside 1..%lld (ids are exact "
                                "floats up to 2^24)", (long long)o.vocab, (long long)MAX_VOCAB);
    if (o.dim < 1)
        return nb__layer_refuse(g, NB_ERR_ARG, "dim %lld must be >= 1", (long long)o.dim);
    if (nb_node_shape(idx).rank < 1)
        return nb__layer_refuse(g, NB_ERR_SHAPE, "input %s must have a batch axis [N, …] of "
                                "token ids", nb__layer_describe(idx, d, sizeof d));
    nb_init init = o.init;
    if (init.kind == NB_INIT_DEFAULT)
        init = (nb_init){.kind = NB_INIT_NORMAL, .a = 0.0f, .b = 1.0f};
    nb_node *table = nb_param_init(g, "table", NB_SHAPE(o.vocab, o.dim), init, o.dim, o.dim);
    return nb__layer_done(g, (nb_layer_record){.kind = NB_LAYER_EMBEDDING, .input = idx,
                                               .embedding = o}, first, nb_gather(g, table, idx));
}
