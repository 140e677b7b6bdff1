/*
 * test_yaml_geometry.c — windows per axis in model files: stride: [sh, sw],
 * pad: [ph, pw] or [top, left, bottom, right], dilation: [dh, dw], kh and
 * kw for pooling, ceil_mode and count_include_pad. A file saying them
 * builds what the C options build; nb_model_yaml writes them back so the
 * file rebuilds the same graph; bad values are refused naming the key.
 */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static const char geo_yaml[] =
    "nabla: 1\n"
    "name: geo\n"
    "input: {x: [2, 9, 10]}\n"
    "layers:\n"
    "  - conv2d: {filters: 3, kernel: 3, stride: [2, 1], pad: [1, 0, 2, 1], dilation: [1, 2]}\n"
    "  - maxpool2d: {kh: 3, kw: 2, stride: [2, 1], pad: [1, 0], ceil_mode: true}\n"
    "  - local2d: {filters: 2, kh: 2, kw: 1, pad: [0, 1]}\n"
    "  - avgpool2d: {size: 2, pad: [1, 0, 0, 1], ceil_mode: true, count_include_pad: false}\n"
    "  - flatten\n"
    "  - dense: {units: 3}\n"
    "loss: softmax_cross_entropy\n";

static nb_status c_geo(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 2, 9, 10));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_conv2d(g, io->x, (nb_conv2d_opts){.filters = 3, .kernel = 3, .sh = 2,
                                                      .sw = 1, .pads = {1, 0, 2, 1}, .dw = 2});
    h = nb_maxpool2d(g, h, (nb_pool2d_opts){.kh = 3, .kw = 2, .sh = 2, .sw = 1,
                                            .pads = {1, 0, 1, 0}, .ceil_mode = true});
    h = nb_local2d(g, h, (nb_conv2d_opts){.filters = 2, .kh = 2, .kw = 1, .pads = {0, 1, 0, 1}});
    h = nb_avgpool2d(g, h, (nb_pool2d_opts){.size = 2, .pads = {1, 0, 0, 1}, .ceil_mode = true,
                                            .exclude_pad = true});
    io->output = nb_dense(g, nb_flatten(g, h), (nb_dense_opts){.units = 3});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

static nb_model_file *parse(const char *text)
{
    nb_error err = {0};
    nb_model_file *m = nb_model_file_parse(text, strlen(text), "geo.yaml", &err);
    cr_assert_not_null(m, "parse failed: %s\n%s", err.message, text);
    return m;
}

/* Builds fn at batch 2 seeded 42, evaluates the output on a fixed x. */
static float *outputs(nb_model_fn fn, void *ud, nb_graph **gp)
{
    nb_graph *g = nb_graph_new();
    nb_graph_seed(g, 42);
    nb_model_io io;
    cr_assert_eq(fn(g, 2, &io, ud), NB_OK, "build failed: %s", nb_graph_error(g));
    float x[2 * 2 * 9 * 10];
    t_fill(x, 2 * 2 * 9 * 10, 3, -1, 1);
    nb_feed f[] = {{io.x, x}};
    *gp = g;
    return t_eval(g, io.output, f, 1);
}

/* Same parameters by name, shape and value, and the same output bits. */
static void assert_same(nb_model_fn fa, void *ua, nb_model_fn fb, void *ub)
{
    nb_graph *a, *b;
    float *oa = outputs(fa, ua, &a), *ob = outputs(fb, ub, &b);
    cr_assert_eq(nb_graph_num_params(a), nb_graph_num_params(b));
    for (int i = 0; i < nb_graph_num_params(a); i++) {
        nb_node *p = nb_graph_param(a, i), *q = nb_graph_param(b, i);
        cr_assert_str_eq(nb_node_name(p), nb_node_name(q));
        cr_assert(nb_shape_equal(nb_node_shape(p), nb_node_shape(q)), "%s", nb_node_name(p));
    }
    cr_assert(!memcmp(oa, ob, 2 * 3 * sizeof(float)), "outputs differ");
    free(oa), free(ob);
    nb_graph_free(a), nb_graph_free(b);
}

Test(yaml_geometry, file_builds_what_the_c_options_build)
{
    nb_model_file *m = parse(geo_yaml);
    assert_same(nb_model_file_build, m, c_geo, NULL);
    nb_model_file_free(m);
}

/* nb_model_yaml writes every option back; the file rebuilds the same. */
Test(yaml_geometry, model_yaml_writes_the_window_back)
{
    nb_error err = {0};
    char *y = nb_model_yaml(c_geo, NULL, NULL, &err);
    cr_assert_not_null(y, "%s", err.message);
    const char *want[] = {"kernel: 3, stride: [2, 1], pad: [1, 0, 2, 1], dilation: [1, 2]",
                          "kh: 3, kw: 2, stride: [2, 1], pad: [1, 0], ceil_mode: true",
                          "kh: 2, kw: 1, pad: [0, 1]",
                          "size: 2, pad: [1, 0, 0, 1], ceil_mode: true, count_include_pad: false",
                          NULL};
    for (int i = 0; want[i]; i++)
        cr_assert(strstr(y, want[i]), "missing %s in\n%s", want[i], y);
    nb_model_file *m = parse(y);
    assert_same(nb_model_file_build, m, c_geo, NULL);
    nb_model_file_free(m);
    nb_free(y);
}

/* The scalar spellings still mean both axes; a scalar stride of a pooling
 * equal to its size is not written. */
Test(yaml_geometry, scalars_read_and_write_as_before)
{
    const char text[] = "nabla: 1\ninput: {x: [1, 8, 8]}\nlayers:\n"
                        "  - conv2d: {filters: 2, kernel: 3, stride: 2, pad: 1, dilation: 1}\n"
                        "  - avgpool2d: {size: 2, stride: 2}\n";
    nb_model_file *m = parse(text);
    nb_error err = {0};
    char *y = nb_model_yaml(nb_model_file_build, m, NULL, &err);
    cr_assert_not_null(y, "%s", err.message);
    cr_assert(strstr(y, "filters: 2, kernel: 3, stride: 2, pad: 1}"), "%s", y);
    cr_assert(strstr(y, "op: avgpool2d, inputs: [\"conv2d1\"], size: 2}"), "%s", y);
    nb_free(y);
    nb_model_file_free(m);
}

/* unfold2d's window takes the pairs too (both sides of an axis alike). */
Test(yaml_geometry, unfold2d_takes_pairs)
{
    const char text[] = "nabla: 1\ninput: {x: [1, 6, 7]}\nnodes:\n"
                        "  - {name: u, op: unfold2d, inputs: [x], kh: 2, kw: 3, stride: [2, 1], "
                        "pad: [1, 0], dilation: [1, 2]}\n";
    nb_model_file *m = parse(text);
    nb_graph *g = nb_graph_new();
    nb_model_io io;
    cr_assert_eq(nb_model_file_build(g, 2, &io, m), NB_OK, "%s", nb_graph_error(g));
    /* rows (6 + 2 - 1 - 1) / 2 + 1 = 4, columns 7 - 4 - 1 + 1 = 3 */
    cr_assert(nb_shape_equal(nb_node_shape(nb_graph_find(g, "u")), NB_SHAPE(2, 6, 12)));
    nb_graph_free(g);
    nb_model_file_free(m);
}

/* ---------------------------------------------------------------- refusals */

#define HEAD "nabla: 1\ninput: {x: [1, 6, 6]}\nlayers:\n" /* lines 1 to 3 */

static const struct {
    const char *text, *want[3];
} corpus[] = {
    {HEAD "  - conv2d: {filters: 1, kernel: 3, stride: [1, 2, 3]}\n",
     {"bad.yaml:4:45: key 'stride' in conv2d: 3 values; give one number or [rows, columns]"}},
    {HEAD "  - conv2d: {filters: 1, kernel: 3, pad: [1, 2, 3]}\n",
     {"bad.yaml:4:42: key 'pad' in conv2d: 3 values; give one number, "
      "[rows, columns] or [top, left, bottom, right]"}},
    {HEAD "  - conv2d: {filters: 1, kernel: 3, pad: [1, 2, 3, 4, 5]}\n",
     {"key 'pad'", "5 values, at most 4"}},
    {HEAD "  - maxpool2d: {size: 2, stride: [0, 1]}\n",
     {"bad.yaml:4:35: key 'stride' in maxpool2d: 0 is out of range; it must be between 1 and "
      "4096"}},
    {HEAD "  - maxpool2d: {size: 2, dilation: [1, -1]}\n",
     {"bad.yaml:4:40: key 'dilation' in maxpool2d: -1 is out of range"}},
    {HEAD "  - conv2d: {filters: 1, kernel: 3, pad: [1, -2]}\n",
     {"bad.yaml:4:46: key 'pad' in conv2d: -2 is out of range; it must be between 0 and 4096"}},
    {HEAD "  - conv2d: {filters: 1, kernel: 3, stride: [1]}\n",
     {"bad.yaml:4:45: key 'stride' in conv2d: 1 value; give one number or [rows, columns]"}},
    {HEAD "  - conv2d: {filters: 1, kernel: 3, stride: {h: 1}}\n",
     {"key 'stride' in conv2d: expected an integer or a list of integers, got a mapping"}},
    {HEAD "  - maxpool2d: {size: 2, ceil_mode: yes}\n",
     {"bad.yaml:4:37: key 'ceil_mode' in maxpool2d: expected true or false, got 'yes'"}},
    {HEAD "  - maxpool2d: {size: 2, count_include_pad: false}\n",
     {"bad.yaml:4:26: key 'count_include_pad' is unknown in maxpool2d (one of: size, kh, kw, "
      "stride, pad, dilation, ceil_mode,"}},
    {HEAD "  - conv2d: {filters: 1, kernel: 3, ceil_mode: true}\n",
     {"key 'ceil_mode' is unknown in conv2d"}},
    {HEAD "  - avgpool2d: {kh: 2}\n",
     {"bad.yaml:4:16: key 'size' is missing in avgpool2d (or give both 'kh' and 'kw')"}},
    {HEAD "  - avgpool2d: {size: 2, kw: 3}\n",
     {"avgpool2d: give 'size' or 'kh' and 'kw', not both"}},
    {HEAD "  - unfold2d: {kernel: 2, pad: [1, 0, 0, 1]}\n",
     {"key 'pad' in unfold2d: the window pads both sides of an axis alike"}},
    {HEAD "  - conv_transpose2d: {filters: 1, kernel: 3, stride: [2, 1]}\n",
     {"bad.yaml:4:55: key 'stride' in conv_transpose2d: one number for both axes"}},
    {HEAD "  - conv_transpose2d: {filters: 1, kernel: 3, pad: [1, 1, 0, 1]}\n",
     {"key 'pad' in conv_transpose2d: one number for both axes"}},
    /* found by building: a dilated window reading padding only */
    {"nabla: 1\ninput: {x: [1, 2, 6]}\nlayers:\n"
     "  - maxpool2d: {size: 2, pad: 1, stride: 1, dilation: [3, 1]}\n",
     {"bad.yaml:4:5: layer 1 'maxpool2d1' (maxpool2d): the window at row 0 of the output "
      "reads padding only"}},
    {HEAD "  - avgpool2d: {size: 2, pad: [2, 0], count_include_pad: false}\n",
     {"layer 1 'avgpool2d1' (avgpool2d): the window at row 0", "exclude_pad"}},
    {HEAD "  - conv2d: {filters: 1, kernel: 5, pad: [0, 0, 0, 1], dilation: [1, 2]}\n",
     {"kernel 5x5 (dilation 1x2) is larger than the padded input 6x7"}},
};

Test(yaml_geometry, bad_values_are_refused_naming_layer_and_key)
{
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
        nb_error err = {0};
        const char *text = corpus[i].text;
        nb_model_file *m = nb_model_file_parse(text, strlen(text), "bad.yaml", &err);
        cr_expect_null(m, "case %zu was accepted:\n%s", i, text);
        nb_model_file_free(m);
        for (int k = 0; k < 3 && corpus[i].want[k]; k++)
            cr_expect(strstr(err.message, corpus[i].want[k]), "case %zu: '%s' not in '%s'", i,
                      corpus[i].want[k], err.message);
    }
}
