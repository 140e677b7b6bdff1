/*
 * fashion_cnn.c — LeNet-5 on Fashion-MNIST (examples/models/lenet5.yaml): two
 * convolution + max-pooling blocks and three dense layers, every one of
 * them a composition of primitive ops (unfold2d, matmul, reduce max).
 *
 *     fashion_cnn [--epochs 5] [--threads 0] [--seed 0] [--limit N] [--data DIR] [--save FILE]
 */
#include "fashion_common.h"

static nb_status build(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 28, 28));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_conv2d(g, io->x, (nb_conv2d_opts){.filters = 6, .kernel = 5, .pad = 2,
                                                      .activation = NB_ACT_RELU});
    h = nb_maxpool2d(g, h, (nb_pool2d_opts){.size = 2});
    h = nb_conv2d(g, h, (nb_conv2d_opts){.filters = 16, .kernel = 5, .activation = NB_ACT_RELU});
    h = nb_maxpool2d(g, h, (nb_pool2d_opts){.size = 2});
    h = nb_flatten(g, h);
    h = nb_dense(g, h, (nb_dense_opts){.units = 120, .activation = NB_ACT_RELU});
    h = nb_dense(g, h, (nb_dense_opts){.units = 84, .activation = NB_ACT_RELU});
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
    return fashion_run("fashion_cnn", build, &a, o);
}
