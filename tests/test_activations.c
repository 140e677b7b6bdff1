/*
 * test_activations.c — GELU (exact erf form), SiLU, ELU and softplus:
 * values against PyTorch's formulas worked out in double precision (Python's
 * math.erf, math.expm1, math.log1p), gradients against finite differences,
 * refusals, and the same units read from a model file.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "nabla.h"

static const float xs[8] = {-3, -1, -0.5f, 0, 0.5f, 1, 2.5f, 30};

static void expect(nb_graph *g, nb_node *y, const float *want, float tol)
{
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    float *v = t_eval(g, y, NULL, 0);
    t_assert_close(v, want, 8, tol);
    free(v);
}

Test(smooth_units, values_match_pytorch_formulas)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_constant(g, NB_SHAPE(2, 4), xs);
    const float gelu[] = {-0.00404969409f, -0.158655254f, -0.154268769f, 0, 0.345731231f,
                          0.841344746f, 2.48447584f, 30};
    const float silu[] = {-0.14227762f, -0.268941421f, -0.188770334f, 0, 0.311229666f,
                          0.731058579f, 2.31035455f, 30};
    const float elu[] = {-0.950212932f, -0.632120559f, -0.39346934f, 0, 0.5f, 1, 2.5f, 30};
    const float elu_half[] = {-0.475106466f, -0.316060279f, -0.19673467f, 0, 0.5f, 1, 2.5f, 30};
    const float softplus[] = {0.0485873516f, 0.313261688f, 0.474076984f, 0.693147181f,
                              0.974076984f, 1.31326169f, 2.57888973f, 30};
    expect(g, nb_gelu(g, x), gelu, 1e-6f);
    expect(g, nb_activate(g, x, NB_ACT_GELU), gelu, 1e-6f);
    expect(g, nb_silu(g, x), silu, 1e-6f);
    expect(g, nb_activate(g, x, NB_ACT_SILU), silu, 1e-6f);
    expect(g, nb_activate(g, x, NB_ACT_ELU), elu, 1e-6f);
    expect(g, nb_elu(g, x, 0.5f), elu_half, 1e-6f);
    expect(g, nb_softplus(g, x), softplus, 2e-6f);
    expect(g, nb_activate(g, x, NB_ACT_SOFTPLUS), softplus, 2e-6f);
    nb_graph_free(g);
}

/* No overflow at either end: softplus(±100) is 100 and ~0, ELU(100) 100. */
Test(smooth_units, stable_at_the_extremes)
{
    nb_graph *g = nb_graph_new();
    const float big[] = {-100, 100};
    nb_node *x = nb_param(g, "x", NB_SHAPE(2), big);
    float *sp = t_eval(g, nb_softplus(g, x), NULL, 0);
    float *el = t_eval(g, nb_elu(g, x, 1.0f), NULL, 0);
    cr_assert(sp[0] >= 0 && sp[0] < 1e-7f && sp[1] == 100.0f, "softplus %g %g", sp[0], sp[1]);
    cr_assert(el[0] == -1.0f && el[1] == 100.0f, "elu %g %g", el[0], el[1]);
    nb_node *dx, *loss = nb_sum(g, nb_add(g, nb_softplus(g, x), nb_elu(g, x, 1.0f)), NULL, 0,
                                false);
    cr_assert_eq(nb_grad(g, loss, &x, 1, &dx), NB_OK, "%s", nb_graph_error(g));
    float *d = t_eval(g, dx, NULL, 0);
    /* σ(−100) + e^−100 ≈ 0 and σ(100) + 1 = 2: finite, no 0·∞ */
    cr_assert(fabsf(d[0]) < 1e-7f && fabsf(d[1] - 2.0f) < 1e-6f, "grad %g %g", d[0], d[1]);
    free(sp);
    free(el);
    free(d);
    nb_graph_free(g);
}

/* softplus' slope at exactly 0 is σ(0) = ½ (max's tie goes both ways and
 * cancels), ELU's at 0.5 is 1 and at −1 α·e^−1. */
Test(smooth_units, slopes_at_hand_points)
{
    nb_graph *g = nb_graph_new();
    const float pts[] = {0, 0.5f, -1};
    nb_node *x = nb_param(g, "x", NB_SHAPE(3), pts), *dx;
    nb_node *loss = nb_sum(g, nb_softplus(g, x), NULL, 0, false);
    cr_assert_eq(nb_grad(g, loss, &x, 1, &dx), NB_OK, "%s", nb_graph_error(g));
    float *d = t_eval(g, dx, NULL, 0);
    t_assert_close(d, (const float[]){0.5f, 0.622459331f, 0.268941421f}, 3, 1e-6f);
    free(d);
    loss = nb_sum(g, nb_elu(g, x, 2.0f), NULL, 0, false);
    cr_assert_eq(nb_grad(g, loss, &x, 1, &dx), NB_OK, "%s", nb_graph_error(g));
    d = t_eval(g, dx, NULL, 0);
    t_assert_close(d + 1, (const float[]){1.0f, 0.735758882f}, 2, 1e-6f);
    free(d);
    nb_graph_free(g);
}

Test(smooth_units, gradcheck_each)
{
    nb_graph *g = nb_graph_new();
    float xv[12];
    t_fill(xv, 12, 7, -2.5f, 2.5f);
    for (int i = 0; i < 12; i++) /* away from ELU's kink at 0 */
        xv[i] += xv[i] >= 0 ? 0.1f : -0.1f;
    nb_node *x = nb_param(g, "x", NB_SHAPE(3, 4), xv);
    t_gradcheck(g, nb_gelu(g, x), &x, 1, NULL, 0);
    t_gradcheck(g, nb_silu(g, x), &x, 1, NULL, 0);
    t_gradcheck(g, nb_elu(g, x, 1.0f), &x, 1, NULL, 0);
    t_gradcheck(g, nb_elu(g, x, 0.3f), &x, 1, NULL, 0);
    t_gradcheck(g, nb_softplus(g, x), &x, 1, NULL, 0);
    nb_graph_free(g);
}

Test(smooth_units, bad_alpha_and_null_refused)
{
    const float bad[] = {-0.5f, NAN, INFINITY};
    for (int i = 0; i < 3; i++) {
        nb_graph *g = nb_graph_new();
        nb_node *x = nb_constant(g, NB_SHAPE(2), xs);
        cr_assert_null(nb_elu(g, x, bad[i]));
        t_assert_error(g, "elu", "alpha", NULL);
        nb_graph_free(g);
    }
    nb_graph *g = nb_graph_new();
    cr_assert_null(nb_gelu(g, NULL));
    t_assert_error(g, "gelu", NULL);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- model files */

static nb_graph *build_text(const char *text, nb_model_io *io, nb_model_file **m)
{
    nb_error err = {0};
    *m = nb_model_file_parse(text, strlen(text), "test.yaml", &err);
    cr_assert_not_null(*m, "parse failed: %s", err.message);
    nb_graph *g = nb_graph_new();
    cr_assert_eq(nb_model_file_build(g, 1, io, *m), NB_OK, "%s", nb_graph_error(g));
    return g;
}

/* Standalone layers and a dense layer's activation name each unit. */
Test(smooth_units, read_from_a_model_file)
{
    nb_model_file *m;
    nb_model_io io;
    nb_graph *g = build_text("nabla: 1\ninput: {x: [8]}\nnodes:\n"
                             "  - {name: a, op: gelu, inputs: [x]}\n"
                             "  - {name: b, op: silu, inputs: [x]}\n"
                             "  - {name: c, op: elu, inputs: [x]}\n"
                             "  - {name: d, op: elu, inputs: [x], alpha: 0.5}\n"
                             "  - {name: e, op: softplus, inputs: [x]}\n"
                             "  - {name: f, op: erf, inputs: [x]}\n"
                             "output: e\n", &io, &m);
    nb_feed f = {io.x, xs};
    struct { const char *name; nb_node *(*fn)(nb_graph *, nb_node *); } plain[] = {
        {"a", nb_gelu}, {"b", nb_silu}, {"e", nb_softplus}, {"f", nb_erf}};
    nb_node *ref = nb_constant(g, NB_SHAPE(1, 8), xs);
    for (int k = 0; k < 4; k++) {
        float *got = t_eval(g, nb_graph_find(g, plain[k].name), &f, 1);
        float *want = t_eval(g, plain[k].fn(g, ref), NULL, 0);
        t_assert_close(got, want, 8, 0);
        free(got);
        free(want);
    }
    float *c = t_eval(g, nb_graph_find(g, "c"), &f, 1), *d = t_eval(g, nb_graph_find(g, "d"), &f, 1);
    cr_assert_float_eq(c[1], -0.632120559f, 1e-6f, "elu alpha defaults to 1: %g", c[1]);
    cr_assert_float_eq(d[1], -0.316060279f, 1e-6f, "elu alpha 0.5: %g", d[1]);
    free(c);
    free(d);
    nb_graph_free(g);
    nb_model_file_free(m);

    const char *acts[] = {"gelu", "silu", "elu", "softplus"};
    const nb_activation want[] = {NB_ACT_GELU, NB_ACT_SILU, NB_ACT_ELU, NB_ACT_SOFTPLUS};
    for (int k = 0; k < 4; k++) {
        char text[160];
        snprintf(text, sizeof text, "nabla: 1\ninput: {x: [8]}\nlayers:\n"
                 "  - dense: {units: 3, activation: %s}\n", acts[k]);
        g = build_text(text, &io, &m);
        cr_assert_eq(nb_graph_num_layers(g), 1);
        cr_assert_eq(nb_graph_layer(g, 0)->dense.activation, want[k], "%s", acts[k]);
        nb_graph_free(g);
        nb_model_file_free(m);
    }
}

/* A negative alpha and a misspelt name are refused where they stand. */
Test(smooth_units, model_file_refusals)
{
    const char *texts[] = {"nabla: 1\ninput: {x: [8]}\nnodes:\n"
                           "  - {name: c, op: elu, inputs: [x], alpha: -1}\noutput: c\n",
                           "nabla: 1\ninput: {x: [8]}\nlayers:\n"
                           "  - dense: {units: 3, activation: gleu}\n"};
    const char *words[][2] = {{"alpha", "elu"}, {"gleu", "gelu"}};
    for (int k = 0; k < 2; k++) {
        nb_error err = {0};
        nb_model_file *m = nb_model_file_parse(texts[k], strlen(texts[k]), "t.yaml", &err);
        cr_assert_null(m);
        for (int w = 0; w < 2; w++)
            cr_assert(strstr(err.message, words[k][w]), "'%s' not in: %s", words[k][w],
                      err.message);
    }
}
