/*
 * fashion_residual.c — a small residual CNN on Fashion-MNIST written in C
 * with an activation composed by hand: each block computes
 * x + α · conv(swish(conv(x))), swish(h) = h · σ(h) made of primitive ops
 * and α a learned scale of the block's own (a parameter outside any
 * layer). With --save the weights file carries the model as YAML, so the
 * command line reads it as it reads a YAML model's:
 *
 *     fashion_residual --epochs 1 --save res.h5
 *     nabla inspect res.h5 && nabla eval res.h5 && nabla dot res.h5
 *
 *     fashion_residual [--epochs 3] [--threads 0] [--seed 0] [--limit N] [--data DIR]
 *                      [--save FILE]
 */
#include <stdio.h>

#include "fashion_common.h"

/* x [N, C, H, W] → x + α · conv(swish(conv(x))), in scope `name`. */
static nb_node *block(nb_graph *g, nb_node *x, const char *name)
{
    int64_t c = nb_node_shape(x).dim[1];
    nb_scope_push(g, name);
    nb_node *h = nb_conv2d(g, x, (nb_conv2d_opts){.filters = c, .kernel = 3, .pad = 1});
    h = nb_mul(g, h, nb_sigmoid(g, h));
    h = nb_conv2d(g, h, (nb_conv2d_opts){.filters = c, .kernel = 3, .pad = 1});
    nb_node *alpha = nb_param_init(g, "alpha", NB_SHAPE(1),
                                   (nb_init){.kind = NB_INIT_CONSTANT, .a = 0.1f}, 1, 1);
    nb_node *y = nb_name(nb_add(g, x, nb_mul(g, h, alpha)), "out");
    nb_scope_pop(g);
    return y;
}

static nb_status build(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 28, 28));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_conv2d(g, io->x, (nb_conv2d_opts){.filters = 8, .kernel = 3, .pad = 1,
                                                      .activation = NB_ACT_RELU});
    h = nb_maxpool2d(g, block(g, h, "block1"), (nb_pool2d_opts){.size = 2});   /* [N,8,14,14] */
    h = nb_maxpool2d(g, block(g, h, "block2"), (nb_pool2d_opts){.size = 2});   /* [N,8,7,7] */
    h = nb_dense(g, nb_flatten(g, h), (nb_dense_opts){.units = 64, .activation = NB_ACT_RELU});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 10, .name = "logits"});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

int main(int argc, char **argv)
{
    fashion_args a = {.epochs = 3, .threads = 0, .dir = "/usr/share/datasets/fashion-mnist"};
    if (!fashion_parse(argc, argv, &a))
        return 2;
    nb_train_opts o = {.batch = 64, .optimizer = nb_optimizer_defaults(NB_OPT_ADAM)};
    o.optimizer.lr = 2e-3f;
    return fashion_run("fashion_residual", build, &a, o);
}
