/*
 * test_onnx.c — nb_onnx_export's refusals and its file: what ONNX cannot
 * say is refused naming the node, nothing is left behind, a file is
 * replaced whole. What the written operators compute is checked against
 * an interpreter and two readers in tests/crosscheck (onnx_ops.py,
 * onnx_export.py).
 */
#define _GNU_SOURCE /* mkdtemp, memmem */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "nabla.h"

/* What each model function below adds after a dense layer on x [n, 4]. */
typedef enum tail {
    PLAIN, USER_OP, NOISE, SCATTER, BATCH_SLICE, BATCH_CONST, BY_BATCH, DILATED_AVG
} tail;

static void copy_forward(const nb_node *n, const float *const *in, float *out)
{
    memcpy(out, in[0], (size_t)nb_shape_numel(nb_node_shape(n)) * sizeof *out);
}

static nb_status same(nb_graph *g, const nb_node *n, nb_shape *out)
{
    (void)g;
    *out = nb_node_shape(nb_node_input(n, 0));
    return NB_OK;
}

static const nb_op_def copy_def = {.name = "my_copy", .arity = 1, .flags = NB_OP_ELEMENTWISE,
                                   .shape = same, .forward = copy_forward};

static nb_status build(nb_graph *g, int64_t n, nb_model_io *io, void *ud)
{
    tail t = *(tail *)ud;
    nb_node *x = nb_input(g, "x", NB_SHAPE(n, 4));
    nb_node *y = nb_dense(g, x, (nb_dense_opts){.units = 3, .activation = NB_ACT_RELU});
    switch (t) {
    case USER_OP:
        y = nb_custom(g, &copy_def, &y, 1, NULL);
        break;
    case NOISE:
        y = nb_mul(g, y, nb_noise(g, NB_SHAPE(n, 3)));
        break;
    case SCATTER:
        y = nb_scatter_add(g, y, nb_full(g, NB_SHAPE(n), 0.0f), 2);
        break;
    case BATCH_SLICE: /* all rows but the last: a bound that follows the batch */
        y = nb_slice(g, y, 0, 0, n - 1, 1);
        break;
    case BATCH_CONST: { /* a constant [n, 3] of several values */
        float v[3 * 3] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        y = nb_add(g, y, nb_constant(g, NB_SHAPE(n, 3), v));
        break;
    }
    case BY_BATCH:
        if (n == 3)
            y = nb_neg(g, y);
        break;
    case DILATED_AVG: /* AveragePool has dilations from opset 19 only */
        y = nb_avgpool2d(g, nb_reshape(g, y, NB_SHAPE(n, 1, 3, 1)),
                         (nb_pool2d_opts){.kh = 2, .kw = 1, .dh = 2, .sh = 1, .name = "avg"});
        break;
    default:
        break;
    }
    io->x = x;
    io->output = y;
    return nb_graph_status(g);
}

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/nabla-onnx-XXXXXX");
    cr_assert(mkdtemp(dir));
}

static const char *file(const char *name)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* The directory holds no file but `keep` (NULL: none): no temporary left. */
static void assert_only(const char *keep)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test \"$(ls -A %s)\" = \"%s\"", dir, keep ? keep : "");
    cr_assert_eq(system(cmd), 0, "files left in %s", dir);
}

static void refused(tail t, const char *needle)
{
    make_dir();
    nb_error err = {0};
    nb_status st = nb_onnx_export(build, &t, NULL, file("m.onnx"), &err);
    cr_assert_neq(st, NB_OK, "tail %d was exported", (int)t);
    cr_assert(strstr(err.message, needle), "message '%s' lacks '%s'", err.message, needle);
    assert_only(NULL);
}

Test(onnx, a_user_op_is_refused_naming_it)
{
    if (!nb_built_with("onnx"))
        cr_skip_test("built without protobuf-c");
    refused(USER_OP, "(my_copy): a user op (nb_custom) has no ONNX form");
}

Test(onnx, noise_outside_dropout_is_refused)
{
    if (!nb_built_with("onnx"))
        cr_skip_test("built without protobuf-c");
    refused(NOISE, "a noise input (dropout outside a dropout layer) has no ONNX form");
}

Test(onnx, a_backward_only_op_is_refused)
{
    if (!nb_built_with("onnx"))
        cr_skip_test("built without protobuf-c");
    refused(SCATTER, "(scatter_add): the op has no ONNX form");
}

Test(onnx, values_that_follow_the_batch_oddly_are_refused)
{
    if (!nb_built_with("onnx"))
        cr_skip_test("built without protobuf-c");
    refused(BATCH_SLICE, "a slice whose bounds follow the batch has no fixed ONNX form");
    refused(BATCH_CONST, "a constant whose shape follows the batch holds several values");
    refused(BY_BATCH, "nodes at batch 2 and");
}

Test(onnx, a_dilated_average_pooling_is_refused)
{
    if (!nb_built_with("onnx"))
        cr_skip_test("built without protobuf-c");
    refused(DILATED_AVG, "(reshape): a dilated average pooling has no ONNX operator at "
            "opset 13");
}

Test(onnx, bad_arguments_are_refused)
{
    if (!nb_built_with("onnx"))
        cr_skip_test("built without protobuf-c");
    tail t = PLAIN;
    nb_error err = {0};
    cr_assert_eq(nb_onnx_export(NULL, &t, NULL, "/tmp/x.onnx", &err), NB_ERR_ARG);
    cr_assert_str_eq(err.message, "onnx: no model function (NULL)");
    cr_assert_eq(nb_onnx_export(build, &t, NULL, "", &err), NB_ERR_ARG);
    cr_assert_str_eq(err.message, "onnx: no file name given");
    cr_assert_eq(nb_onnx_export(build, &t, NULL, "/nonexistent-nabla-dir/m.onnx", &err),
                 NB_ERR_ARG);
    cr_assert(strstr(err.message, "/nonexistent-nabla-dir/m.onnx: cannot write"), "%s",
              err.message);
}

Test(onnx, weights_without_the_models_parameters_are_refused)
{
    if (!nb_built_with("onnx"))
        cr_skip_test("built without protobuf-c");
    make_dir();
    nb_graph *other = nb_graph_new();
    nb_param(other, "unrelated", NB_SHAPE(2), (const float[]){1, 2});
    tail t = PLAIN;
    nb_error err = {0};
    cr_assert_neq(nb_onnx_export(build, &t, other, file("m.onnx"), &err), NB_OK);
    cr_assert(strstr(err.message, "dense1/w"), "%s", err.message);
    assert_only(NULL);
    nb_graph_free(other);
}

Test(onnx, a_file_is_replaced_whole_and_holds_the_given_weights)
{
    if (!nb_built_with("onnx"))
        cr_skip_test("built without protobuf-c");
    make_dir();
    FILE *f = fopen(file("m.onnx"), "w");
    fputs("an older file", f);
    fclose(f);
    /* Weights of a trained graph: the file must carry these values. */
    tail t = PLAIN;
    nb_graph *g = nb_graph_new();
    nb_model_io io = {0};
    cr_assert_eq(build(g, 5, &io, &t), NB_OK);
    float *w = nb_param_data(nb_graph_find(g, "dense1/w"));
    for (int i = 0; i < 12; i++)
        w[i] = 0.25f + (float)i; /* a run of floats the file must hold verbatim */
    nb_error err = {0};
    cr_assert_eq(nb_onnx_export(build, &t, g, file("m.onnx"), &err), NB_OK, "%s", err.message);
    assert_only("m.onnx");
    f = fopen(file("m.onnx"), "rb");
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    cr_assert(n > 100 && n < sizeof buf);
    cr_assert(memmem(buf, n, w, 12 * sizeof *w), "the trained weights are not in the file");
    cr_assert(memmem(buf, n, "dense1/w", 8) && memmem(buf, n, "MatMul", 6));
    nb_graph_free(g);
}

Test(onnx, without_protobuf_c_the_call_says_so)
{
    if (nb_built_with("onnx"))
        cr_skip_test("built with protobuf-c");
    tail t = PLAIN;
    nb_error err = {0};
    cr_assert_eq(nb_onnx_export(build, &t, NULL, "m.onnx", &err), NB_ERR_UNAVAILABLE);
    cr_assert(strstr(err.message, "nabla was built without protobuf-c: cannot write the ONNX "
                                  "file 'm.onnx'"), "%s", err.message);
}
