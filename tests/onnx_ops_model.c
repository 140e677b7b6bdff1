/*
 * onnx_ops_model.c — a model that uses every op and layer nb_onnx_export
 * maps, for tests/crosscheck/onnx_ops.py: `onnx_ops_model DIR` builds it at
 * batch 3, gives every parameter (batch norm's running statistics too)
 * values of its own, runs it on fixed inputs and writes DIR/ops.onnx (the
 * export, with those parameters) and the raw float32 inputs and output
 * (DIR/x.f32, ids.f32, labels.f32, out.f32), so a reader of the ONNX file
 * can be held to nabla's own output.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nabla.h"

#define N 3

static nb_node *s(nb_graph *g, float v)
{
    return nb_scalar(g, v);
}

/* Elementwise ops, comparisons and where on h [n, k]. */
static nb_node *elementwise(nb_graph *g, nb_node *h)
{
    nb_node *a = nb_abs(g, h);
    nb_node *e1 = nb_add(g, nb_tanh(g, h), nb_mul(g, nb_sigmoid(g, h), nb_exp(g, nb_neg(g, a))));
    nb_node *e2 = nb_div(g, nb_sqrt(g, nb_add(g, a, s(g, 1))), nb_log(g, nb_add(g, a, s(g, 2))));
    nb_node *e3 = nb_max(g, nb_sub(g, e1, e2), nb_min(g, h, s(g, 0.1f)));
    nb_node *e4 = nb_pow(g, nb_add(g, a, s(g, 1)), s(g, 1.5f));
    nb_node *picked = nb_where(g, nb_gt(g, h, s(g, 0)), e3, e4);
    nb_node *flags = nb_add(g, nb_ge(g, h, s(g, 0.2f)), nb_eq(g, nb_sign(g, h), s(g, 1)));
    return nb_add(g, nb_add(g, picked, flags), nb_relu(g, h));
}

static nb_status build(nb_graph *g, int64_t n, nb_model_io *io, void *ud)
{
    (void)ud;
    nb_node *x = nb_input(g, "x", NB_SHAPE(n, 2, 6, 6));
    nb_node *ids = nb_input(g, "ids", NB_SHAPE(n, 3));
    nb_node *labels = nb_input(g, "labels", NB_SHAPE(n));
    /* Layers with operators of their own. */
    nb_node *c = nb_conv2d(g, x, (nb_conv2d_opts){.filters = 4, .kernel = 3, .pad = 1,
                                                  .dilation = 2, .groups = 2,
                                                  .activation = NB_ACT_TANH});
    c = nb_batchnorm(g, c, (nb_batchnorm_opts){.eps = 1e-3f});
    nb_node *mp = nb_maxpool2d(g, c, (nb_pool2d_opts){.size = 3, .stride = 2, .pad = 1});
    nb_node *ap = nb_avgpool2d(g, c, (nb_pool2d_opts){.size = 2, .pad = 1});
    nb_node *lc = nb_local2d(g, x, (nb_conv2d_opts){.filters = 3, .kernel = 3, .stride = 2,
                                                    .activation = NB_ACT_LEAKY_RELU});
    /* Transposed convolutions: grouped with every option, and plain. */
    nb_node *up = nb_conv_transpose2d(g, x, (nb_conv_transpose2d_opts){
        .filters = 4, .kernel = 2, .stride = 2, .pad = 1, .output_padding = 1, .dilation = 2,
        .groups = 2, .activation = NB_ACT_TANH});                          /* [n, 4, 12, 12] */
    nb_node *up1 = nb_conv_transpose2d(g, x, (nb_conv_transpose2d_opts){
        .filters = 1, .kh = 2, .kw = 3, .no_bias = true});                /* [n, 1, 7, 8] */
    /* Windows per axis: strides, dilations and pads per side; pooling with
     * ceil_mode, dilation, and averages with and without the padding. */
    nb_node *gc = nb_conv2d(g, x, (nb_conv2d_opts){.filters = 3, .kh = 3, .kw = 2, .sh = 2,
                                                   .sw = 1, .dw = 2, .pads = {1, 0, 2, 1}});
    nb_node *mp2 = nb_maxpool2d(g, c, (nb_pool2d_opts){.kh = 3, .kw = 2, .sh = 2, .sw = 1,
                                                       .pads = {1, 0, 1, 0}, .ceil_mode = true});
    nb_node *mp3 = nb_maxpool2d(g, x, (nb_pool2d_opts){.size = 2, .stride = 1, .dh = 2, .pad = 1});
    nb_node *ap2 = nb_avgpool2d(g, c, (nb_pool2d_opts){.size = 3, .stride = 2, .pad = 1,
                                                       .exclude_pad = true});
    nb_node *ap3 = nb_avgpool2d(g, c, (nb_pool2d_opts){.size = 3, .stride = 2, .pad = 1,
                                                       .ceil_mode = true});
    nb_node *lc2 = nb_local2d(g, x, (nb_conv2d_opts){.filters = 2, .kh = 2, .kw = 3, .sw = 2,
                                                     .dh = 2, .pads = {1, 0, 0, 2}}); /* 5x3 */
    /* unfold2d and fold2d alone, and products with transposes. */
    nb_window2d w = {.kh = 3, .kw = 2, .sh = 2, .sw = 1, .ph = 1, .pw = 0, .dh = 1, .dw = 2};
    nb_node *img = nb_fold2d(g, nb_unfold2d(g, x, w), 6, 6, w);          /* [n, 2, 6, 6] */
    nb_node *flat = nb_reshape(g, img, NB_SHAPE(n, 72));
    nb_node *wt = nb_param_init(g, "wt", NB_SHAPE(5, 72), (nb_init){.kind = NB_INIT_NORMAL,
                                                                   .b = 0.1f}, 72, 5);
    nb_node *h = nb_matmul(g, flat, wt, false, true);                      /* [n, 5] */
    nb_node *ht = nb_matmul(g, wt, h, true, true);                         /* [72, n] */
    nb_node *e = elementwise(g, h);
    /* Reductions and movement. */
    nb_node *sum = nb_sum(g, e, (const int[]){1}, 1, true);               /* [n, 1] */
    nb_node *mx = nb_reduce_max(g, ht, (const int[]){0}, 1, false);       /* [n] */
    nb_node *wide = nb_expand(g, nb_add(g, sum, nb_reshape(g, mx, NB_SHAPE(n, 1))),
                              NB_SHAPE(n, 4));
    nb_node *sl = nb_slice(g, e, 1, 1, 5, 2);                              /* [n, 2] */
    nb_node *pd = nb_pad(g, sl, (const int64_t[]){0, 1}, (const int64_t[]){0, 2}, 0.5f);
    nb_node *pm = nb_permute(g, nb_reshape(g, ap, NB_SHAPE(n, 4, 9)), (const int[]){0, 2, 1});
    /* Tables, one-hot, dense over a sequence, layer norm, softmax. */
    nb_node *emb = nb_embedding(g, ids, (nb_embedding_opts){.vocab = 7, .dim = 4});
    nb_node *seq = nb_dense(g, emb, (nb_dense_opts){.units = 2, .activation = NB_ACT_SIGMOID});
    nb_node *ln = nb_layernorm(g, emb, (nb_layernorm_opts){.axis = -1});
    nb_node *oh = nb_one_hot(g, labels, 4, NULL);
    /* Group norm over the images' channels and over features. */
    nb_node *gi = nb_groupnorm(g, c, (nb_groupnorm_opts){.groups = 2, .eps = 1e-3f});
    nb_node *gf = nb_groupnorm(g, h, (nb_groupnorm_opts){.groups = 1, .no_affine = true});
    nb_node *soft = nb_softmax(g, h, -1), *lsoft = nb_log_softmax(g, h, -1);
    nb_node *parts[] = {
        nb_reshape(g, mp, NB_SHAPE(n, 16)), nb_reshape(g, lc, NB_SHAPE(n, 12)), wide, pd,
        nb_reshape(g, pm, NB_SHAPE(n, 36)), nb_reshape(g, seq, NB_SHAPE(n, 6)),
        nb_reshape(g, ln, NB_SHAPE(n, 12)), oh, soft, lsoft, e,
        nb_reshape(g, gi, NB_SHAPE(n, 64)), gf,
        nb_dense(g, h, (nb_dense_opts){.units = 3, .activation = NB_ACT_SOFTMAX}),
        nb_dense(g, h, (nb_dense_opts){.units = 2, .activation = NB_ACT_GELU}),
        nb_dense(g, h, (nb_dense_opts){.units = 2, .activation = NB_ACT_SILU}),
        nb_dense(g, h, (nb_dense_opts){.units = 2, .activation = NB_ACT_ELU}),
        nb_dense(g, h, (nb_dense_opts){.units = 2, .activation = NB_ACT_SOFTPLUS}),
        nb_gelu(g, h), nb_elu(g, h, 0.7f), nb_softplus(g, h),
        nb_reshape(g, up, NB_SHAPE(n, 576)), nb_reshape(g, up1, NB_SHAPE(n, 56)),
        nb_dropout(g, h, 0.5f),
        nb_reshape(g, gc, NB_SHAPE(n, 60)), nb_reshape(g, mp2, NB_SHAPE(n, 36)),
        nb_reshape(g, mp3, NB_SHAPE(n, 84)), nb_reshape(g, ap2, NB_SHAPE(n, 16)),
        nb_reshape(g, ap3, NB_SHAPE(n, 36)), nb_reshape(g, lc2, NB_SHAPE(n, 30))};
    io->x = x;
    io->output = nb_concat(g, parts, (int)(sizeof parts / sizeof *parts), 1);
    return nb_graph_status(g);
}

static int write_raw(const char *dir, const char *name, const float *v, int64_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(v, sizeof *v, (size_t)n, f) == (size_t)n;
    return (f && fclose(f) == 0 && ok) ? 0 : (fprintf(stderr, "cannot write %s\n", path), 1);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: onnx_ops_model DIR\n");
        return 2;
    }
    nb_graph *g = nb_graph_new();
    nb_model_io io = {0};
    nb_graph_set_training(g, false);
    if (build(g, N, &io, NULL) != NB_OK) {
        fprintf(stderr, "building: %s\n", nb_graph_error(g));
        return 1;
    }
    /* Parameters of their own: no layer's defaults (zero biases, unit
     * statistics) may hide a wrong mapping. */
    nb_rng rng = nb_rng_seed(7);
    for (int i = 0; i < nb_graph_num_params(g); i++) {
        nb_node *p = nb_graph_param(g, i);
        float *v = nb_param_data(p);
        int64_t k = nb_shape_numel(nb_node_shape(p));
        for (int64_t j = 0; j < k; j++)
            v[j] = 0.5f * nb_rng_normal(&rng) + (nb_param_trainable(p) ? 0.0f : 1.0f);
    }
    float x[N * 72], ids[N * 3], labels[N];
    for (int i = 0; i < N * 72; i++)
        x[i] = sinf(0.37f * (float)i) * 1.5f;
    for (int i = 0; i < N * 3; i++)
        ids[i] = (float)((i * 5) % 7);
    for (int i = 0; i < N; i++)
        labels[i] = (float)((i * 3 + 1) % 4);
    nb_node *in[3] = {nb_graph_find(g, "x"), nb_graph_find(g, "ids"), nb_graph_find(g, "labels")};
    nb_runtime *rt = nb_runtime_new(g, &io.output, 1);
    const float *vals[3] = {x, ids, labels};
    nb_status st = rt ? NB_OK : NB_ERR_STATE;
    for (int i = 0; i < 3 && st == NB_OK; i++)
        st = nb_runtime_set_input(rt, in[i], vals[i]);
    if (st == NB_OK)
        st = nb_runtime_run(rt);
    if (st != NB_OK) {
        fprintf(stderr, "running: %s\n", rt ? nb_runtime_error(rt) : nb_graph_error(g));
        return 1;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/ops.onnx", argv[1]);
    nb_error err = {0};
    if (nb_onnx_export(build, NULL, g, path, &err) != NB_OK) {
        fprintf(stderr, "exporting: %s\n", err.message);
        return 1;
    }
    int64_t out_n = nb_shape_numel(nb_node_shape(io.output));
    int rc = write_raw(argv[1], "x.f32", x, N * 72) || write_raw(argv[1], "ids.f32", ids, N * 3) ||
             write_raw(argv[1], "labels.f32", labels, N) ||
             write_raw(argv[1], "out.f32", nb_runtime_value(rt, io.output), out_n);
    printf("output [%d, %lld]\n", N, (long long)(out_n / N));
    nb_runtime_free(rt);
    nb_graph_free(g);
    return rc;
}
