/*
 * test_groupnorm.c — group normalisation (nb_groupnorm): values against a
 * plain loop over groups written here, on [N, C] and [N, C, H, W] and a
 * rank-3 input; one group equals layer norm over every axis; gradient
 * checks of input, gamma and beta; the refusals naming the layer; the
 * layers and nodes forms of a model file and their refusals. PyTorch's
 * nn.GroupNorm agrees with it in tests/crosscheck/torch_groupnorm.py.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static nb_node *find(nb_graph *g, const char *name)
{
    nb_node *n = nb_graph_find(g, name);
    cr_assert_not_null(n, "no node named %s", name);
    return n;
}

static void assert_shape(const nb_node *n, nb_shape want)
{
    char a[64], b[64];
    cr_assert_not_null(n);
    cr_assert(nb_shape_equal(nb_node_shape(n), want), "shape %s, expected %s",
              nb_shape_format(nb_node_shape(n), a, sizeof a), nb_shape_format(want, b, sizeof b));
}

/*
 * The reference: x [n, c, s] (s the trailing axes' size) in groups of c/G
 * consecutive channels, each normalised by its mean and biased variance
 * over its (c/G)·s values, in double; then gamma·x̂ + beta per channel
 * (gamma, beta NULL: none).
 */
static void reference(const float *x, float *y, int n, int c, int s, int groups, double eps,
                      const float *gamma, const float *beta)
{
    int per = c / groups * s;
    for (int e = 0; e < n; e++)
        for (int gr = 0; gr < groups; gr++) {
            const float *xg = x + ((int64_t)e * c * s + (int64_t)gr * per);
            float *yg = y + ((int64_t)e * c * s + (int64_t)gr * per);
            double m = 0, v = 0;
            for (int i = 0; i < per; i++)
                m += xg[i];
            m /= per;
            for (int i = 0; i < per; i++)
                v += (xg[i] - m) * (xg[i] - m);
            v /= per;
            for (int i = 0; i < per; i++) {
                int ch = gr * (c / groups) + i / s;
                double z = (xg[i] - m) / sqrt(v + eps);
                yg[i] = (float)(gamma ? gamma[ch] * z + beta[ch] : z);
            }
        }
}

/* Builds groupnorm over a constant x of shape xs with the given options,
 * sets gamma and beta to varied values, and compares with the reference. */
static void check_values(nb_shape xs, nb_groupnorm_opts o, uint64_t seed)
{
    nb_graph *g = nb_graph_new();
    int64_t numel = nb_shape_numel(xs);
    int n = (int)xs.dim[0], c = (int)xs.dim[1], s = (int)(numel / n / c);
    float *xv = malloc(sizeof *xv * numel), *want = malloc(sizeof *want * numel);
    t_fill(xv, numel, seed, -3, 5);
    nb_node *y = nb_groupnorm(g, nb_constant(g, xs, xv), o);
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    assert_shape(y, xs);
    float *gm = NULL, *bt = NULL;
    if (!o.no_affine) {
        assert_shape(find(g, "groupnorm1/gamma"), NB_SHAPE(c));
        assert_shape(find(g, "groupnorm1/beta"), NB_SHAPE(c));
        gm = nb_param_data(find(g, "groupnorm1/gamma"));
        bt = nb_param_data(find(g, "groupnorm1/beta"));
        for (int i = 0; i < c; i++) /* the defaults first: ones and zeros */
            cr_assert(gm[i] == 1.0f && bt[i] == 0.0f, "gamma, beta [%d]: %g, %g", i, gm[i], bt[i]);
        t_fill(gm, c, seed + 1, 0.5f, 2.0f);
        t_fill(bt, c, seed + 2, -1.0f, 1.0f);
    } else {
        cr_assert_eq(nb_graph_num_params(g), 0, "no_affine made parameters");
    }
    reference(xv, want, n, c, s, o.groups, o.eps != 0.0f ? o.eps : 1e-5, gm, bt);
    float *v = t_eval(g, y, NULL, 0);
    t_assert_close(v, want, numel, 1e-5f);
    free(v);
    free(xv);
    free(want);
    const nb_layer_record *r = nb_graph_layer(g, 0);
    cr_assert_eq(r->kind, NB_LAYER_GROUPNORM);
    cr_assert_eq(r->groupnorm.groups, o.groups);
    cr_assert_str_eq(nb_layer_kind_name(NB_LAYER_GROUPNORM), "groupnorm");
    nb_graph_free(g);
}

Test(groupnorm, images_in_two_groups)
{
    check_values(NB_SHAPE(2, 4, 3, 2), (nb_groupnorm_opts){.groups = 2}, 1);
}

Test(groupnorm, features_groups_and_eps)
{
    check_values(NB_SHAPE(3, 6), (nb_groupnorm_opts){.groups = 3, .eps = 0.5f}, 2);
}

/* groups = C is instance norm: each channel over its own positions. */
Test(groupnorm, sequences_one_channel_a_group_without_affine)
{
    check_values(NB_SHAPE(2, 3, 5), (nb_groupnorm_opts){.groups = 3, .no_affine = true}, 3);
}

/* One group is layer norm over every axis but the batch (without affine,
 * whose parameters differ in shape). */
Test(groupnorm, one_group_is_layernorm_over_every_axis)
{
    nb_graph *g = nb_graph_new();
    float xv[2 * 4 * 3];
    t_fill(xv, 24, 4, -2, 2);
    nb_node *x = nb_constant(g, NB_SHAPE(2, 4, 3), xv);
    nb_node *a = nb_groupnorm(g, x, (nb_groupnorm_opts){.groups = 1, .no_affine = true});
    nb_node *b = nb_layernorm(g, x, (nb_layernorm_opts){.axis = 1, .no_affine = true});
    float *va = t_eval(g, a, NULL, 0), *vb = t_eval(g, b, NULL, 0);
    t_assert_close(va, vb, 24, 1e-6f);
    free(va);
    free(vb);
    nb_graph_free(g);
}

Test(groupnorm, gradcheck_input_gamma_beta)
{
    nb_graph *g = nb_graph_new();
    float xv[2 * 4 * 2 * 3], w[48];
    t_fill(xv, 48, 5, -2, 2);
    t_fill(w, 48, 6, -1, 1);
    nb_node *x = nb_param(g, "x", NB_SHAPE(2, 4, 2, 3), xv);
    nb_node *y = nb_groupnorm(g, x, (nb_groupnorm_opts){.groups = 2});
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    t_fill(nb_param_data(find(g, "groupnorm1/gamma")), 4, 7, 0.5f, 1.5f);
    t_fill(nb_param_data(find(g, "groupnorm1/beta")), 4, 8, -0.5f, 0.5f);
    nb_node *loss = nb_sum(g, nb_mul(g, nb_tanh(g, y), nb_constant(g, NB_SHAPE(2, 4, 2, 3), w)),
                           NULL, 0, false);
    nb_node *wrt[] = {x, find(g, "groupnorm1/gamma"), find(g, "groupnorm1/beta")};
    t_gradcheck(g, loss, wrt, 3, NULL, 0);
    nb_graph_free(g);
}

Test(groupnorm, gradcheck_features)
{
    nb_graph *g = nb_graph_new();
    float xv[3 * 6], w[18];
    t_fill(xv, 18, 9, -2, 2);
    t_fill(w, 18, 10, -1, 1);
    nb_node *x = nb_param(g, "x", NB_SHAPE(3, 6), xv);
    nb_node *y = nb_groupnorm(g, x, (nb_groupnorm_opts){.groups = 3, .eps = 1e-3f});
    t_fill(nb_param_data(find(g, "groupnorm1/gamma")), 6, 11, 0.5f, 1.5f);
    nb_node *loss = nb_sum(g, nb_mul(g, nb_tanh(g, y), nb_constant(g, NB_SHAPE(3, 6), w)), NULL,
                           0, false);
    nb_node *wrt[] = {x, find(g, "groupnorm1/gamma"), find(g, "groupnorm1/beta")};
    t_gradcheck(g, loss, wrt, 3, NULL, 0);
    nb_graph_free(g);
}

Test(groupnorm, refusals)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(2, 4, 3, 3));
    cr_assert_null(nb_groupnorm(g, x, (nb_groupnorm_opts){.groups = 3}));
    t_assert_error(g, "groupnorm1", "groups 3 do not divide the 4 channels (axis 1) of input "
                   "'x' [2,4,3,3]", NULL);
    cr_assert_null(nb_node_scope(nb_scalar(g, 1.0f)), "a refused layer left its scope pushed");
    nb_graph_clear_error(g);
    cr_assert_null(nb_groupnorm(g, x, (nb_groupnorm_opts){0}));
    t_assert_error(g, "groupnorm2", "groups 0 must be ≥ 1", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_groupnorm(g, x, (nb_groupnorm_opts){.groups = -2}));
    t_assert_error(g, "groupnorm3", "groups -2 must be ≥ 1", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_groupnorm(g, x, (nb_groupnorm_opts){.groups = 2, .eps = -1}));
    t_assert_error(g, "groupnorm4", "eps -1 must be finite and > 0", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_groupnorm(g, x, (nb_groupnorm_opts){.groups = 2, .eps = NAN}));
    t_assert_error(g, "groupnorm5", "eps nan must be finite and > 0", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_groupnorm(g, nb_input(g, "v", NB_SHAPE(4)), (nb_groupnorm_opts){.groups = 1}));
    t_assert_error(g, "groupnorm6", "input 'v' [4] must have a batch axis and a channel axis", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_groupnorm(g, NULL, (nb_groupnorm_opts){.groups = 1}));
    t_assert_error(g, "groupnorm: input is NULL", NULL);
    cr_assert_eq(nb_graph_num_params(g), 0, "refused layers made parameters");
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- in a model file */

static nb_graph *build_text(const char *text, nb_model_io *io)
{
    nb_error err = {0};
    nb_model_file *m = nb_model_file_parse(text, strlen(text), "gn.yaml", &err);
    cr_assert_not_null(m, "%s", err.message);
    nb_graph *g = nb_graph_new();
    cr_assert_eq(nb_model_file_build(g, 2, io, m), NB_OK, "%s", nb_graph_error(g));
    nb_model_file_free(m);
    return g;
}

Test(groupnorm_yaml, layers_and_nodes_forms)
{
    nb_model_io io = {0};
    nb_graph *g = build_text("nabla: 1\n"
                             "input: {x: [1, 6, 6]}\n"
                             "layers:\n"
                             "  - {conv2d: {filters: 6, kernel: 3}}\n"
                             "  - {groupnorm: {groups: 3, eps: 0.001}}\n"
                             "  - flatten\n"
                             "  - {dense: {units: 4}}\n"
                             "  - {groupnorm: {groups: 2, affine: false}}\n"
                             "loss: mse\n", &io);
    assert_shape(find(g, "groupnorm1/gamma"), NB_SHAPE(6));
    assert_shape(find(g, "groupnorm1/beta"), NB_SHAPE(6));
    cr_assert_null(nb_graph_find(g, "groupnorm2/gamma"));
    assert_shape(io.output, NB_SHAPE(2, 4));
    const nb_layer_record *r = nb_graph_layer(g, 1);
    cr_assert_eq(r->kind, NB_LAYER_GROUPNORM);
    cr_assert_eq(r->groupnorm.groups, 3);
    cr_assert_float_eq(r->groupnorm.eps, 1e-3f, 1e-9f);
    nb_graph_free(g);

    io = (nb_model_io){0};
    g = build_text("nabla: 1\n"
                   "input: {x: [4, 3, 3]}\n"
                   "nodes:\n"
                   "  - {name: gn, op: groupnorm, inputs: [x], groups: 2}\n"
                   "  - {name: out, op: add, inputs: [gn, x]}\n"
                   "output: out\n", &io);
    assert_shape(find(g, "gn/gamma"), NB_SHAPE(4));
    assert_shape(io.output, NB_SHAPE(2, 4, 3, 3));
    nb_graph_free(g);
}

Test(groupnorm_yaml, refusals_name_the_line)
{
    nb_error err = {0};
    static const char missing[] = "nabla: 1\ninput: {x: [4]}\nlayers:\n  - {groupnorm: {eps: 0.1}}\n";
    cr_assert_null(nb_model_file_parse(missing, strlen(missing), "m.yaml", &err));
    cr_assert(strstr(err.message, "m.yaml:4:") && strstr(err.message, "groups"), "%s", err.message);

    static const char zero[] = "nabla: 1\ninput: {x: [4]}\nlayers:\n  - {groupnorm: {groups: 0}}\n";
    cr_assert_null(nb_model_file_parse(zero, strlen(zero), "z.yaml", &err));
    cr_assert(strstr(err.message, "z.yaml:4:") && strstr(err.message, "groups"), "%s", err.message);

    static const char undivided[] = "nabla: 1\ninput: {x: [6, 2, 2]}\nlayers:\n"
                                    "  - {groupnorm: {groups: 4}}\n";
    cr_assert_null(nb_model_file_parse(undivided, strlen(undivided), "u.yaml", &err));
    cr_assert(strstr(err.message, "u.yaml:4:5: layer 1 'groupnorm1' (groupnorm): groups 4 do "
                                  "not divide the 6 channels"), "%s", err.message);

    static const char unknown[] = "nabla: 1\ninput: {x: [4]}\nlayers:\n"
                                  "  - {groupnorm: {groups: 2, axis: 1}}\n";
    cr_assert_null(nb_model_file_parse(unknown, strlen(unknown), "k.yaml", &err));
    cr_assert(strstr(err.message, "axis") && strstr(err.message, "groupnorm"), "%s", err.message);
}
