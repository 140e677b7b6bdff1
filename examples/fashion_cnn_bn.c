/*
 * fashion_cnn_bn.c — two convolution blocks with batch normalisation, max
 * pooling and dropout, trained by Adam: the layers that behave differently
 * in training and inference, built twice by the trainer (once per mode)
 * with their parameters and running statistics shared.
 *
 *     fashion_cnn_bn [--epochs 10] [--threads 0] [--seed 0] [--limit N] [--data DIR] [--save FILE]
 */
#include "fashion_common.h"

/* conv 3×3 (no bias: batch norm's β takes its place) → batch norm → relu
 * → 2×2 max pooling. */
static nb_node *block(nb_graph *g, nb_node *h, int64_t filters)
{
    h = nb_conv2d(g, h, (nb_conv2d_opts){.filters = filters, .kernel = 3, .pad = 1,
                                         .no_bias = true});
    h = nb_relu(g, nb_batchnorm(g, h, (nb_batchnorm_opts){0}));
    return nb_maxpool2d(g, h, (nb_pool2d_opts){.size = 2});
}

static nb_status build(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 28, 28));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_dropout(g, block(g, io->x, 32), 0.25f);      /* [N,32,14,14] */
    h = nb_dropout(g, block(g, h, 64), 0.25f);                   /* [N,64,7,7] */
    h = nb_dense(g, nb_flatten(g, h), (nb_dense_opts){.units = 128});
    h = nb_dropout(g, nb_relu(g, nb_batchnorm(g, h, (nb_batchnorm_opts){0})), 0.5f);
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 10, .name = "logits"});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

int main(int argc, char **argv)
{
    fashion_args a = {.epochs = 10, .threads = 0, .dir = "/usr/share/datasets/fashion-mnist"};
    if (!fashion_parse(argc, argv, &a))
        return 2;
    nb_train_opts o = {
        .batch = 64,
        .optimizer = nb_optimizer_defaults(NB_OPT_ADAM), /* lr 1e-3 */
        .schedule = {.kind = NB_SCHEDULE_COSINE, .total = 938 * a.epochs, .min_ratio = 0.05f},
    };
    return fashion_run("fashion_cnn_bn", build, &a, o);
}
