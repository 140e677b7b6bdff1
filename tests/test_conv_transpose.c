/*
 * test_conv_transpose.c — the transposed convolution layer
 * (nb_conv_transpose2d, PyTorch's nn.ConvTranspose2d): output sizes and
 * values against the definition written out as a scatter loop, on odd
 * shapes with stride, padding, output_padding, dilation and groups;
 * gradients by finite differences; fused and plain steps agreeing; the
 * refusals, each naming what is wrong; the layer record, its model-file
 * form (layers: and nodes:) and nb_model_yaml's text read back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

typedef struct tcase {
    int64_t n, c, h, w, f;
    int kh, kw, s, p, op, d, groups;
} tcase;

static const tcase cases[] = {
    /* n, c, h, w, f, kh, kw, stride, pad, output_padding, dilation, groups */
    {2, 3, 4, 5, 2, 3, 3, 1, 0, 0, 1, 1},  /* plain */
    {1, 2, 3, 3, 3, 3, 3, 2, 1, 1, 1, 1},  /* stride 2, pad 1, output_padding 1: 3 → 6 */
    {2, 3, 5, 4, 4, 4, 4, 2, 1, 0, 1, 1},  /* the DCGAN block: 4×4, stride 2, pad 1 doubles */
    {1, 2, 3, 4, 3, 3, 2, 3, 2, 2, 1, 1},  /* 3×2 kernel, stride 3, output_padding 2 */
    {2, 4, 3, 3, 6, 3, 3, 2, 1, 1, 1, 2},  /* groups 2 */
    {1, 6, 4, 3, 3, 2, 2, 1, 0, 0, 2, 3},  /* groups 3, dilation 2 */
    {1, 2, 3, 3, 2, 3, 3, 1, 1, 1, 2, 1},  /* output_padding 1 ≥ stride 1, < dilation 2 */
    {2, 2, 4, 4, 3, 3, 3, 2, 2, 1, 3, 1},  /* dilation 3, stride 2, pad 2, output_padding 1 */
    {1, 3, 1, 1, 2, 5, 5, 1, 0, 0, 1, 1},  /* a 1×1 image grows to 5×5 */
    {2, 5, 3, 2, 5, 1, 1, 2, 0, 1, 1, 5},  /* 1×1, depthwise, stride 2 */
};

static nb_conv_transpose2d_opts opts_of(tcase k)
{
    return (nb_conv_transpose2d_opts){.filters = k.f, .kh = k.kh, .kw = k.kw, .stride = k.s,
                                      .pad = k.p, .output_padding = k.op, .dilation = k.d,
                                      .groups = k.groups};
}

static int64_t out_size(int64_t h, int k, int s, int p, int op, int d)
{
    return (h - 1) * s - 2 * p + (int64_t)d * (k - 1) + op + 1;
}

/* The definition: every input pixel (y, x) of channel c adds
 * x·w[c, f', i, j] into output (y·s − p + i·d, x·s − p + j·d) of filter f
 * of c's group, in double. */
static void naive(tcase k, const float *x, const float *w, const float *b, float *out)
{
    int64_t oh = out_size(k.h, k.kh, k.s, k.p, k.op, k.d);
    int64_t ow = out_size(k.w, k.kw, k.s, k.p, k.op, k.d);
    int64_t cg = k.c / k.groups, fg = k.f / k.groups, no = k.n * k.f * oh * ow;
    double *acc = calloc((size_t)no, sizeof *acc);
    for (int64_t n = 0; n < k.n; n++)
        for (int64_t c = 0; c < k.c; c++)
            for (int64_t fl = 0; fl < fg; fl++)
                for (int i = 0; i < k.kh; i++)
                    for (int j = 0; j < k.kw; j++)
                        for (int64_t y = 0; y < k.h; y++)
                            for (int64_t xx = 0; xx < k.w; xx++) {
                                int64_t oy = y * k.s - k.p + i * k.d, ox = xx * k.s - k.p + j * k.d;
                                if (oy < 0 || oy >= oh || ox < 0 || ox >= ow)
                                    continue;
                                int64_t f = c / cg * fg + fl;
                                acc[((n * k.f + f) * oh + oy) * ow + ox] +=
                                    (double)x[((n * k.c + c) * k.h + y) * k.w + xx] *
                                    w[((c * fg + fl) * k.kh + i) * k.kw + j];
                            }
    for (int64_t i = 0; i < no; i++)
        out[i] = (float)(acc[i] + b[i / (oh * ow) % k.f]);
    free(acc);
}

static nb_node *param_rand(nb_graph *g, const char *name, nb_shape s, uint64_t seed)
{
    int64_t n = nb_shape_numel(s);
    float *v = malloc((size_t)n * sizeof *v);
    t_fill(v, n, seed, -1, 1);
    nb_node *p = nb_param(g, name, s, v);
    free(v);
    return p;
}

static void refill(nb_node *p, uint64_t seed)
{
    t_fill(nb_param_data(p), nb_shape_numel(nb_node_shape(p)), seed, -1, 1);
}

Test(conv_transpose2d, matches_the_definition_over_settings)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tcase k = cases[i];
        nb_graph *g = nb_graph_new();
        nb_node *x = param_rand(g, "x", NB_SHAPE(k.n, k.c, k.h, k.w), 7 + i);
        nb_conv_transpose2d_opts o = opts_of(k);
        o.name = "up";
        nb_node *y = nb_conv_transpose2d(g, x, o);
        cr_assert_not_null(y, "case %zu: %s", i, nb_graph_error(g));
        int64_t oh = out_size(k.h, k.kh, k.s, k.p, k.op, k.d);
        int64_t ow = out_size(k.w, k.kw, k.s, k.p, k.op, k.d);
        cr_assert(nb_shape_equal(nb_node_shape(y), NB_SHAPE(k.n, k.f, oh, ow)), "case %zu", i);
        nb_node *w = nb_graph_find(g, "up/w"), *b = nb_graph_find(g, "up/b");
        cr_assert(nb_shape_equal(nb_node_shape(w), NB_SHAPE(k.c, k.f / k.groups, k.kh, k.kw)),
                  "case %zu: w is [C, filters/groups, kh, kw]", i);
        cr_assert(nb_shape_equal(nb_node_shape(b), NB_SHAPE(k.f)));
        refill(w, 100 + i);
        refill(b, 200 + i);
        float *got = t_eval(g, y, NULL, 0);
        int64_t n = nb_shape_numel(nb_node_shape(y));
        float *want = malloc((size_t)n * sizeof *want);
        naive(k, nb_param_data(x), nb_param_data(w), nb_param_data(b), want);
        t_assert_close(got, want, n, 1e-5f);
        free(got);
        free(want);
        nb_graph_free(g);
    }
}

/* Hand values: a 2×2 image of ones through a 2×2 kernel of ones at stride
 * 1 overlaps in the middle (1 2 1 / 2 4 2 / 1 2 1); at stride 2 the
 * windows tile a 4×4 of ones; output_padding 1 adds a row and column that
 * nothing reaches, which hold the bias alone. */
Test(conv_transpose2d, hand_values)
{
    static const float ones[4] = {1, 1, 1, 1};
    nb_init one = {.kind = NB_INIT_CONSTANT, .a = 1}, half = {.kind = NB_INIT_CONSTANT, .a = 0.5f};
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_constant(g, NB_SHAPE(1, 1, 2, 2), ones);
    nb_node *a = nb_conv_transpose2d(g, x, (nb_conv_transpose2d_opts){
        .filters = 1, .kernel = 2, .init = one, .no_bias = true});
    nb_node *b = nb_conv_transpose2d(g, x, (nb_conv_transpose2d_opts){
        .filters = 1, .kernel = 2, .stride = 2, .output_padding = 1, .init = one,
        .bias_init = half});
    cr_assert(a && b, "%s", nb_graph_error(g));
    float *va = t_eval(g, a, NULL, 0), *vb = t_eval(g, b, NULL, 0);
    t_assert_close(va, (const float[]){1, 2, 1, 2, 4, 2, 1, 2, 1}, 9, 0);
    float want[25];
    for (int i = 0; i < 25; i++)
        want[i] = i % 5 == 4 || i >= 20 ? 0.5f : 1.5f;
    t_assert_close(vb, want, 25, 0);
    free(va);
    free(vb);
    nb_graph_free(g);
}

static void gradcheck_case(tcase k, nb_activation act)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = param_rand(g, "x", NB_SHAPE(k.n, k.c, k.h, k.w), 31);
    nb_conv_transpose2d_opts o = opts_of(k);
    o.activation = act;
    o.bias_init = (nb_init){.kind = NB_INIT_UNIFORM, .a = -0.5f, .b = 0.5f};
    nb_node *y = nb_conv_transpose2d(g, x, o);
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    nb_node *wrt[] = {x, nb_graph_find(g, "conv_transpose2d1/w"),
                      nb_graph_find(g, "conv_transpose2d1/b")};
    t_gradcheck(g, y, wrt, 3, NULL, 0);
    nb_graph_free(g);
}

Test(conv_transpose2d, gradcheck_input_weights_bias)
{
    gradcheck_case((tcase){1, 2, 3, 3, 3, 3, 3, 2, 1, 1, 1, 1}, NB_ACT_TANH);
    gradcheck_case((tcase){2, 3, 3, 2, 2, 2, 3, 3, 2, 2, 1, 1}, NB_ACT_NONE);
    gradcheck_case((tcase){1, 4, 3, 3, 6, 3, 3, 2, 1, 1, 1, 2}, NB_ACT_SIGMOID);
    gradcheck_case((tcase){1, 2, 3, 3, 2, 3, 3, 1, 1, 1, 2, 1}, NB_ACT_NONE);
    gradcheck_case((tcase){2, 2, 3, 4, 3, 3, 2, 2, 2, 1, 3, 1}, NB_ACT_NONE);
}

/* Ungrouped, the layer's product and fold are the pattern of a
 * convolution's input gradient (matmul with ta → fold2d), which fusion
 * runs as one step: the fused forward and gradients equal the plain ones. */
Test(conv_transpose2d, fused_and_plain_steps_agree)
{
    const tcase ks[] = {
        {2, 3, 5, 4, 4, 4, 4, 2, 1, 0, 1, 1},
        {1, 5, 6, 6, 7, 3, 3, 2, 1, 1, 1, 1},
        {2, 3, 4, 4, 2, 3, 3, 1, 1, 1, 2, 1},  /* output_padding ≥ stride: x padded first */
        {2, 4, 3, 3, 6, 3, 3, 2, 1, 1, 1, 2},  /* groups: the plain steps */
    };
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        tcase k = ks[i];
        nb_graph *g = nb_graph_new();
        nb_node *x = nb_input(g, "x", NB_SHAPE(k.n, k.c, k.h, k.w));
        nb_node *y = nb_conv_transpose2d(g, x, opts_of(k));
        nb_node *loss = nb_sum(g, nb_mul(g, y, y), NULL, 0, false);
        nb_node *wrt[] = {x, nb_graph_find(g, "conv_transpose2d1/w")}, *grads[2];
        cr_assert_eq(nb_grad(g, loss, wrt, 2, grads), NB_OK, "%s", nb_graph_error(g));
        int64_t nx = k.n * k.c * k.h * k.w;
        float *xv = malloc((size_t)nx * sizeof *xv);
        t_fill(xv, nx, 40 + i, -1, 1);
        nb_node *out[] = {y, grads[0], grads[1]};
        int saved = t_fused_both_ways(g, out, 3, &x, &xv, 1, 1e-4f);
        if (k.groups == 1) {
            nb_runtime *rt = nb_runtime_new(g, &y, 1);
            cr_assert_not_null(rt, "%s", nb_graph_error(g));
            int fused = 0;
            nb_runtime_step_info s;
            for (int j = 0; nb_runtime_step(rt, j, &s); j++)
                fused += s.pattern && !strcmp(s.pattern, "convolution input gradient") &&
                         s.nodes[s.n_nodes - 1] == nb_node_input(y, 0);
            cr_assert_eq(fused, 1, "case %zu: the forward product and fold are one step", i);
            cr_assert_geq(saved, 1, "case %zu", i);
            nb_runtime_free(rt);
        }
        free(xv);
        nb_graph_free(g);
    }
}

Test(conv_transpose2d, refusals)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(2, 4, 3, 3));
    int params = nb_graph_num_params(g);
    cr_assert_null(nb_conv_transpose2d(g, x, (nb_conv_transpose2d_opts){
        .filters = 2, .kernel = 3, .stride = 2, .output_padding = 2}));
    cr_assert_eq(nb_graph_status(g), NB_ERR_ARG);
    t_assert_error(g, "conv_transpose2d1: output_padding 2 must be smaller than the stride 2 or "
                   "the dilation 1", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_conv_transpose2d(g, x, (nb_conv_transpose2d_opts){
        .filters = 2, .kernel = 3, .output_padding = 1}));
    t_assert_error(g, "conv_transpose2d2: output_padding 1", "stride 1 or the dilation 1", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_conv_transpose2d(g, x, (nb_conv_transpose2d_opts){
        .filters = 6, .kernel = 3, .groups = 3}));
    t_assert_error(g, "conv_transpose2d3", "groups 3", "4 input channels", "'x' [2,4,3,3]", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_conv_transpose2d(g, x, (nb_conv_transpose2d_opts){
        .filters = 3, .kernel = 3, .groups = 2}));
    t_assert_error(g, "conv_transpose2d4", "groups 2 does not divide filters 3", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_conv_transpose2d(g, x, (nb_conv_transpose2d_opts){.filters = 3}));
    t_assert_error(g, "conv_transpose2d5", "kernel 0x0", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_conv_transpose2d(g, x, (nb_conv_transpose2d_opts){.kernel = 3}));
    t_assert_error(g, "conv_transpose2d6", "filters 0", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_conv_transpose2d(g, x, (nb_conv_transpose2d_opts){
        .filters = 1, .kernel = 3, .output_padding = -1}));
    t_assert_error(g, "conv_transpose2d7", "output_padding -1", ">= 0", NULL);
    nb_graph_clear_error(g);
    /* (3−1)·1 − 2·3 + 2 + 1 = −1 */
    cr_assert_null(nb_conv_transpose2d(g, x, (nb_conv_transpose2d_opts){
        .filters = 1, .kernel = 3, .pad = 3, .name = "big_pad"}));
    cr_assert_eq(nb_graph_status(g), NB_ERR_SHAPE);
    t_assert_error(g, "big_pad: output size -1x-1 must be >= 1", "pad 3", "'x' [2,4,3,3]", NULL);
    nb_graph_clear_error(g);
    nb_node *x3 = nb_input(g, "x3", NB_SHAPE(4, 3, 3));
    cr_assert_null(nb_conv_transpose2d(g, x3, (nb_conv_transpose2d_opts){.filters = 1,
                                                                          .kernel = 3}));
    t_assert_error(g, "conv_transpose2d8", "rank 4", "'x3' [4,3,3]", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_conv_transpose2d(g, x, (nb_conv_transpose2d_opts){
        .filters = 1, .kernel = 3, .activation = (nb_activation)99}));
    t_assert_error(g, "activation 99 is unknown", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_conv_transpose2d(g, NULL, (nb_conv_transpose2d_opts){.filters = 1}));
    t_assert_error(g, "conv_transpose2d: input is NULL", NULL);
    nb_graph_clear_error(g);
    cr_assert_eq(nb_graph_num_params(g), params, "a refused layer made parameters");
    cr_assert_null(nb_scope_current(g), "every refusal popped its scope");
    /* output_padding 1 below dilation 2 is allowed at stride 1, as in PyTorch */
    cr_assert_not_null(nb_conv_transpose2d(g, x, (nb_conv_transpose2d_opts){
        .filters = 1, .kernel = 3, .output_padding = 1, .dilation = 2}), "%s", nb_graph_error(g));
    nb_graph_free(g);
}

/* The record holds the options; its kind is named; Glorot's fans are the
 * taps of the data flow. */
Test(conv_transpose2d, record_and_default_init)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(1, 4, 3, 3));
    nb_node *y = nb_conv_transpose2d(g, x, (nb_conv_transpose2d_opts){
        .filters = 6, .kernel = 3, .stride = 2, .output_padding = 1, .groups = 2, .name = "up"});
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    cr_assert_eq(nb_graph_num_layers(g), 1);
    const nb_layer_record *r = nb_graph_layer(g, 0);
    cr_assert_eq(r->kind, NB_LAYER_CONV_TRANSPOSE2D);
    cr_assert_str_eq(nb_layer_kind_name(r->kind), "conv_transpose2d");
    cr_assert_str_eq(r->scope, "up");
    cr_assert(r->input == x && r->output == y);
    cr_assert_eq(r->conv_transpose.output_padding, 1);
    cr_assert_eq(r->conv_transpose.groups, 2);
    cr_assert_null(r->conv_transpose.name);
    /* fan_in = 2·3·3 = 18, fan_out = 3·3·3 = 27: limit √(6/45) */
    const float *w = nb_param_data(nb_graph_find(g, "up/w")), limit = 0.36515f;
    float big = 0;
    for (int i = 0; i < 4 * 3 * 9; i++) {
        cr_assert(w[i] >= -limit && w[i] <= limit, "w[%d] = %g", i, w[i]);
        big = w[i] > big ? w[i] : big;
    }
    cr_assert_gt(big, 0.8f * limit);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- model files */

static nb_node *build_file(const char *text, nb_graph *g, nb_model_io *io, nb_model_file **mf)
{
    nb_error err = {0};
    *mf = nb_model_file_parse(text, strlen(text), "t.yaml", &err);
    cr_assert_not_null(*mf, "%s", err.message);
    cr_assert_eq(nb_model_file_build(g, 2, io, *mf), NB_OK, "%s", nb_graph_error(g));
    return io->output;
}

/* The layers: and nodes: forms build the same layer as C does. */
Test(conv_transpose2d, model_file_both_forms)
{
    const char *seq = "nabla: 1\ninput: {x: [4, 3, 3]}\nlayers:\n"
                      "  - conv_transpose2d: {filters: 6, kernel: 3, stride: 2, pad: 1, "
                      "output_padding: 1, groups: 2, activation: tanh, name: up}\n";
    const char *dag = "nabla: 1\ninput: {x: [4, 3, 3]}\nnodes:\n"
                      "  - {name: up, op: conv_transpose2d, inputs: [x], filters: 6, kh: 3, "
                      "kw: 3, stride: 2, pad: 1, output_padding: 1, groups: 2, activation: tanh}\n";
    float xv[2 * 4 * 3 * 3];
    t_fill(xv, 72, 3, -1, 1);
    float *vals[3];
    for (int form = 0; form < 3; form++) {
        nb_graph *g = nb_graph_new();
        nb_model_io io = {0};
        nb_model_file *mf = NULL;
        nb_node *y;
        if (form < 2) {
            y = build_file(form ? dag : seq, g, &io, &mf);
        } else {
            io.x = nb_input(g, "x", NB_SHAPE(2, 4, 3, 3));
            y = nb_conv_transpose2d(g, io.x, (nb_conv_transpose2d_opts){
                .filters = 6, .kernel = 3, .stride = 2, .pad = 1, .output_padding = 1,
                .groups = 2, .activation = NB_ACT_TANH, .name = "up"});
        }
        cr_assert(nb_shape_equal(nb_node_shape(y), NB_SHAPE(2, 6, 6, 6)), "form %d", form);
        refill(nb_graph_find(g, "up/w"), 9);
        refill(nb_graph_find(g, "up/b"), 10);
        nb_feed f = {io.x, xv};
        vals[form] = t_eval(g, y, &f, 1);
        nb_graph_free(g);
        nb_model_file_free(mf);
    }
    t_assert_close(vals[0], vals[2], 2 * 6 * 36, 0);
    t_assert_close(vals[1], vals[2], 2 * 6 * 36, 0);
    for (int i = 0; i < 3; i++)
        free(vals[i]);
}

/* Refused in a model file, with file:line:column: an unknown key, a bad
 * output_padding (when the model is built), a window missing. */
Test(conv_transpose2d, model_file_refusals)
{
    nb_error err = {0};
    const char *typo = "nabla: 1\ninput: {x: [2, 3, 3]}\nlayers:\n"
                       "  - conv_transpose2d: {filters: 2, kernel: 3, output_pad: 1}\n";
    cr_assert_null(nb_model_file_parse(typo, strlen(typo), "t.yaml", &err));
    cr_assert(strstr(err.message, "t.yaml:4:") && strstr(err.message, "output_pad") &&
              strstr(err.message, "did you mean 'output_padding'"), "%s", err.message);
    const char *nokernel = "nabla: 1\ninput: {x: [2, 3, 3]}\nlayers:\n"
                           "  - conv_transpose2d: {filters: 2}\n";
    cr_assert_null(nb_model_file_parse(nokernel, strlen(nokernel), "t.yaml", &err));
    cr_assert(strstr(err.message, "key 'kernel' is missing in conv_transpose2d"), "%s",
              err.message);
    const char *neg = "nabla: 1\ninput: {x: [2, 3, 3]}\nlayers:\n"
                      "  - conv_transpose2d: {filters: 2, kernel: 3, output_padding: -1}\n";
    cr_assert_null(nb_model_file_parse(neg, strlen(neg), "t.yaml", &err));
    cr_assert(strstr(err.message, "output_padding"), "%s", err.message);
    const char *op = "nabla: 1\ninput: {x: [2, 3, 3]}\nlayers:\n"
                     "  - conv_transpose2d: {filters: 2, kernel: 3, stride: 2, output_padding: 2}\n";
    nb_model_file *mf = nb_model_file_parse(op, strlen(op), "t.yaml", &err);
    if (mf) { /* the layer refuses it when the model is built */
        nb_graph *g = nb_graph_new();
        nb_model_io io;
        cr_assert_neq(nb_model_file_build(g, 1, &io, mf), NB_OK);
        t_assert_error(g, "t.yaml:4:5", "output_padding 2 must be smaller than the stride 2", NULL);
        nb_graph_free(g);
        nb_model_file_free(mf);
    } else {
        cr_assert(strstr(err.message, "output_padding 2 must be smaller than the stride 2"), "%s",
                  err.message);
    }
}

static nb_status decoder(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 3, 3, 3));
    io->y = nb_input(g, "y", NB_SHAPE(batch, 2 * 7 * 7));
    nb_node *h = nb_conv_transpose2d(g, io->x, (nb_conv_transpose2d_opts){
        .filters = 4, .kernel = 3, .stride = 2, .pad = 1, .output_padding = 1,
        .activation = NB_ACT_RELU});                                       /* [N,4,6,6] */
    h = nb_conv_transpose2d(g, h, (nb_conv_transpose2d_opts){
        .filters = 2, .kh = 2, .kw = 2, .dilation = 1, .groups = 2, .no_bias = true,
        .init = {.kind = NB_INIT_HE_NORMAL}, .name = "out"});              /* [N,2,7,7] */
    io->output = nb_flatten(g, h);
    io->loss = nb_mse_loss(g, io->output, io->y);
    return nb_graph_status(g);
}

/* nb_model_yaml writes the layers as conv_transpose2d nodes with their
 * options, and the text builds the same graph. */
Test(conv_transpose2d, model_yaml_round_trip)
{
    nb_error err = {0};
    char *yaml = nb_model_yaml(decoder, NULL, NULL, &err);
    cr_assert_not_null(yaml, "%s", err.message);
    cr_assert(strstr(yaml, "op: conv_transpose2d, inputs: [\"x\"], filters: 4, kernel: 3, "
                           "stride: 2, pad: 1, output_padding: 1, activation: relu"), "%s", yaml);
    cr_assert(strstr(yaml, "filters: 2, kernel: 2, groups: 2, bias: false, init: he_normal"),
              "%s", yaml);
    nb_model_file *mf = nb_model_file_parse(yaml, strlen(yaml), "w.yaml", &err);
    cr_assert_not_null(mf, "%s\n%s", err.message, yaml);
    char *again = nb_model_architecture(nb_model_file_build, mf, &err);
    char *orig = nb_model_architecture(decoder, NULL, &err);
    cr_assert(again && orig, "%s", err.message);
    cr_assert_str_eq(again, orig);
    nb_free(again);
    nb_free(orig);
    nb_model_file_free(mf);
    nb_free(yaml);
}
