/*
 * fashion_mlp.c — a 784-256-10 ReLU network on Fashion-MNIST, trained by
 * SGD with momentum: the model is a function that builds the graph for a
 * given batch size; the trainer calls it for each batch size it needs.
 *
 *     fashion_mlp [--epochs 5] [--threads 0] [--seed 0] [--limit N] [--data DIR] [--save FILE]
 */
#include <stdio.h>

#include "fashion_common.h"

static nb_status build(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 28, 28));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_dense(g, nb_flatten(g, io->x), (nb_dense_opts){.units = 256,
                                                                   .activation = NB_ACT_RELU});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 10, .name = "logits"});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

int main(int argc, char **argv)
{
    fashion_args a = {.epochs = 5, .threads = 0, .dir = "/usr/share/datasets/fashion-mnist"};
    if (!fashion_parse(argc, argv, &a))
        return 2;
    nb_train_opts o = {
        .batch = 64,
        .optimizer = {.kind = NB_OPT_SGD, .lr = 0.02f, .momentum = 0.9f},
    };
    return fashion_run("fashion_mlp", build, &a, o);
}
