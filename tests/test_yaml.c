/*
 * test_yaml.c — model files: every example model loads and builds; a YAML
 * MLP is the same model as the C one (same parameters, outputs and
 * training, bit for bit); DAG and multi-input models build with the right
 * shapes; primitive ops compute what they say; `trainable: false` freezes
 * (batch-norm statistics too); training, optimiser and data settings read
 * back; and a corpus of bad files is refused, each with its line:column
 * and what is wrong.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

/* ---------------------------------------------------------------- helpers */

/* examples/models/<name>, found from the fixtures folder meson points at. */
static const char *example(const char *name)
{
    static char path[1024];
    const char *fx = getenv("NABLA_FIXTURES");
    if (fx)
        snprintf(path, sizeof path, "%s/../../examples/models/%s", fx, name);
    else
        snprintf(path, sizeof path, "examples/models/%s", name);
    return path;
}

static nb_model_file *parse(const char *text)
{
    nb_error err = {0};
    nb_model_file *m = nb_model_file_parse(text, strlen(text), "test.yaml", &err);
    cr_assert_not_null(m, "parse failed: %s", err.message);
    cr_assert_eq(err.status, NB_OK);
    return m;
}

/* Builds m at batch into a new graph seeded with seed; asserts success. */
static nb_graph *build(const nb_model_file *m, int64_t batch, uint64_t seed, nb_model_io *io)
{
    nb_graph *g = nb_graph_new();
    nb_graph_seed(g, seed);
    nb_status st = nb_model_file_build(g, batch, io, (void *)m);
    cr_assert_eq(st, NB_OK, "build failed: %s", nb_graph_error(g));
    return g;
}

static int64_t param_count(const nb_graph *g)
{
    int64_t n = 0;
    for (int i = 0; i < nb_graph_num_params(g); i++)
        n += nb_shape_numel(nb_node_shape(nb_graph_param(g, i)));
    return n;
}

static void assert_shape(const nb_node *n, nb_shape want, const char *what)
{
    char a[128], b[128];
    cr_assert_not_null(n, "%s is missing", what);
    cr_assert(nb_shape_equal(nb_node_shape(n), want), "%s is %s, expected %s", what,
              nb_shape_format(nb_node_shape(n), a, sizeof a), nb_shape_format(want, b, sizeof b));
}

/* Two Gaussian blobs in the plane, classes 0 and 1 (y_width 1). */
static nb_dataset *blobs(int64_t n, uint64_t seed)
{
    nb_dataset *ds = nb_dataset_new(n, NB_SHAPE(2), 1, NULL);
    cr_assert_not_null(ds);
    nb_rng r = nb_rng_seed(seed);
    for (int64_t i = 0; i < n; i++) {
        int c = (int)(i % 2);
        ds->x[2 * i] = (c ? 1.0f : -1.0f) + 0.5f * nb_rng_normal(&r);
        ds->x[2 * i + 1] = (c ? -0.5f : 0.5f) + 0.5f * nb_rng_normal(&r);
        ds->y[i] = (float)c;
    }
    ds->n_classes = 2;
    return ds;
}

/* ---------------------------------------------------------------- the examples */

typedef struct example_model {
    const char *file, *name;
    int64_t params, y_width;
    nb_shape input, output;   /* output at batch 4 */
} example_model;

Test(yaml_examples, all_load_and_build_at_batch_4)
{
    /* By hand. lenet5: conv 6·1·5·5+6 = 156, conv 16·6·5·5+16 = 2416,
     * dense 400·120+120 = 48120, 120·84+84 = 10164, 84·10+10 = 850: 61706.
     * fashion_mlp: 784·256+256 + 256·10+10 = 203530. residual: 784·128+128
     * + 2·(128·128+128) + 128·10+10 = 134794. local: w [144, 25, 8] + b
     * [8, 144] = 29952, dense 288·64+64 = 18496, 64·10+10 = 650: 49098.
     * xor: 2·2+2 + 2·1+1 = 9. */
    const example_model models[] = {
        {"lenet5.yaml", "lenet5", 61706, 1, NB_SHAPE(1, 28, 28), NB_SHAPE(4, 10)},
        {"fashion_mlp.yaml", "fashion_mlp", 203530, 1, NB_SHAPE(1, 28, 28), NB_SHAPE(4, 10)},
        {"residual.yaml", "residual", 134794, 1, NB_SHAPE(1, 28, 28), NB_SHAPE(4, 10)},
        {"local.yaml", "local", 49098, 1, NB_SHAPE(1, 28, 28), NB_SHAPE(4, 10)},
        {"xor.yaml", "xor", 9, 1, NB_SHAPE(2), NB_SHAPE(4, 1)},
    };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        const example_model *e = &models[i];
        nb_error err = {0};
        nb_model_file *m = nb_model_file_load(example(e->file), &err);
        cr_assert_not_null(m, "%s: %s", e->file, err.message);
        cr_expect_str_eq(nb_model_file_name(m), e->name);
        cr_expect(nb_shape_equal(nb_model_file_input_shape(m), e->input), "%s input", e->file);
        cr_expect_eq(nb_model_file_y_width(m), e->y_width, "%s y_width", e->file);
        nb_model_io io;
        nb_graph *g = build(m, 4, 1, &io);
        cr_expect_eq(param_count(g), e->params, "%s: %lld parameters", e->file,
                     (long long)param_count(g));
        assert_shape(io.output, e->output, e->file);
        nb_shape xs = {.rank = e->input.rank + 1, .dim = {4}};
        for (int d = 0; d < e->input.rank; d++)
            xs.dim[d + 1] = e->input.dim[d];
        assert_shape(io.x, xs, "x");
        cr_expect_eq(nb_shape_numel(nb_node_shape(io.loss)), 1);
        nb_graph_free(g);
        nb_model_file_free(m);
    }
}

Test(yaml_examples, lenet5_layers_and_settings)
{
    nb_error err = {0};
    nb_model_file *m = nb_model_file_load(example("lenet5.yaml"), &err);
    cr_assert_not_null(m, "%s", err.message);
    nb_model_io io;
    nb_graph *g = build(m, 4, 1, &io);
    assert_shape(nb_graph_find(g, "conv2d1/w"), NB_SHAPE(6, 1, 5, 5), "conv2d1/w");
    assert_shape(nb_graph_find(g, "conv2d2/w"), NB_SHAPE(16, 6, 5, 5), "conv2d2/w");
    assert_shape(nb_graph_find(g, "dense1/w"), NB_SHAPE(400, 120), "dense1/w");
    assert_shape(nb_graph_find(g, "dense2/w"), NB_SHAPE(120, 84), "dense2/w");
    assert_shape(nb_graph_find(g, "logits/w"), NB_SHAPE(84, 10), "logits/w");
    assert_shape(io.y, NB_SHAPE(4), "y");
    nb_train_opts o = nb_model_file_train_opts(m);
    cr_expect_eq(o.batch, 64);
    cr_expect_eq(o.epochs, 5);
    cr_expect_eq(o.seed, 1);
    cr_expect(!o.no_shuffle);
    cr_expect_eq(o.optimizer.kind, NB_OPT_SGD);
    cr_expect_float_eq(o.optimizer.lr, 0.02f, 1e-7);
    cr_expect_float_eq(o.optimizer.momentum, 0.9f, 1e-7);
    nb_data_spec d = nb_model_file_data(m);
    cr_expect_str_eq(d.format, "idx");
    cr_expect_str_eq(d.dir, "/usr/share/datasets/fashion-mnist");
    nb_graph_free(g);
    nb_model_file_free(m);
}

Test(yaml_examples, xor_data_is_beside_the_file)
{
    nb_error err = {0};
    nb_model_file *m = nb_model_file_load(example("xor.yaml"), &err);
    cr_assert_not_null(m, "%s", err.message);
    nb_data_spec d = nb_model_file_data(m);
    cr_expect_str_eq(d.format, "hdf5");
    cr_expect_str_eq(d.train, example("xor.h5"));
    cr_expect_str_eq(d.x, "X");
    cr_expect_str_eq(d.y, "y");
    cr_expect_eq(access(d.train, R_OK), 0, "%s is missing", d.train);
    nb_model_file_free(m);
}

/* xor.yaml with its own settings learns XOR: the loss reads the sigmoid,
 * the output is the logit under it, so the accuracy counts logit > 0. */
Test(yaml_examples, xor_trains_with_its_settings)
{
    nb_error err = {0};
    nb_model_file *m = nb_model_file_load(example("xor.yaml"), &err);
    cr_assert_not_null(m, "%s", err.message);
    nb_dataset *ds = nb_dataset_new(4, NB_SHAPE(2), 1, &err);
    cr_assert_not_null(ds, "%s", err.message);
    const float x[8] = {0, 0, 0, 1, 1, 0, 1, 1}, y[4] = {0, 1, 1, 0};
    memcpy(ds->x, x, sizeof x);
    memcpy(ds->y, y, sizeof y);
    nb_train_opts o = nb_model_file_train_opts(m);
    cr_expect_eq(o.batch, 1);
    cr_expect_float_eq(o.optimizer.lr, 0.5f, 1e-9);
    nb_trainer *t = nb_trainer_new(nb_model_file_build, m, nb_model_file_input_shape(m),
                                   nb_model_file_y_width(m), &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    cr_assert_eq(nb_trainer_fit(t, ds, NULL), NB_OK, "%s", nb_trainer_error(t));
    double loss = 0, acc = 0;
    cr_assert_eq(nb_trainer_evaluate(t, ds, &loss, &acc), NB_OK, "%s", nb_trainer_error(t));
    cr_expect_eq(acc, 1.0, "accuracy %g, loss %g", acc, loss);
    cr_expect_lt(loss, 0.01);
    nb_trainer_free(t);
    nb_dataset_free(ds);
    nb_model_file_free(m);
}

/* ---------------------------------------------------------------- YAML = C */

static const char mlp_yaml[] =
    "nabla: 1\n"
    "name: mlp\n"
    "input: {x: [2]}\n"
    "layers:\n"
    "  - dense: {units: 5, activation: tanh}\n"
    "  - dense: {units: 2}\n"
    "loss: softmax_cross_entropy\n"
    "optimizer: {sgd: {lr: 0.1, momentum: 0.9}}\n"
    "train: {batch: 8, epochs: 2, seed: 5}\n";

static nb_status c_mlp(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 2));
    nb_node *h = nb_dense(g, io->x, (nb_dense_opts){.units = 5, .activation = NB_ACT_TANH});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 2});
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

static void assert_same_params(const nb_graph *a, const nb_graph *b)
{
    cr_assert_eq(nb_graph_num_params(a), nb_graph_num_params(b));
    for (int i = 0; i < nb_graph_num_params(a); i++) {
        nb_node *p = nb_graph_param(a, i), *q = nb_graph_param(b, i);
        cr_assert_str_eq(nb_node_name(p), nb_node_name(q));
        cr_assert(nb_shape_equal(nb_node_shape(p), nb_node_shape(q)));
        cr_assert(!memcmp(nb_param_data(p), nb_param_data(q),
                          (size_t)nb_shape_numel(nb_node_shape(p)) * sizeof(float)),
                  "%s differs", nb_node_name(p));
    }
}

Test(yaml_equals_c, same_parameters_and_outputs)
{
    nb_model_file *m = parse(mlp_yaml);
    nb_model_io yi, ci;
    nb_graph *gy = build(m, 4, 42, &yi);
    nb_graph *gc = nb_graph_new();
    nb_graph_seed(gc, 42);
    cr_assert_eq(c_mlp(gc, 4, &ci, NULL), NB_OK, "%s", nb_graph_error(gc));
    assert_same_params(gy, gc);
    float x[8], y[4] = {0, 1, 1, 0};
    t_fill(x, 8, 3, -1, 1);
    nb_feed fy[] = {{yi.x, x}, {yi.y, y}}, fc[] = {{ci.x, x}, {ci.y, y}};
    float *oy = t_eval(gy, yi.output, fy, 2), *oc = t_eval(gc, ci.output, fc, 2);
    float *ly = t_eval(gy, yi.loss, fy, 2), *lc = t_eval(gc, ci.loss, fc, 2);
    cr_expect(!memcmp(oy, oc, sizeof(float) * 8), "outputs differ");
    cr_expect(!memcmp(ly, lc, sizeof(float)), "losses differ: %g and %g", ly[0], lc[0]);
    free(oy), free(oc), free(ly), free(lc);
    nb_graph_free(gy);
    nb_graph_free(gc);
    nb_model_file_free(m);
}

Test(yaml_equals_c, same_training)
{
    nb_model_file *m = parse(mlp_yaml);
    nb_train_opts o = nb_model_file_train_opts(m);
    cr_assert_eq(o.batch, 8);
    cr_assert_eq(o.seed, 5);
    nb_dataset *ds = blobs(50, 9);
    nb_error err = {0};
    nb_trainer *ty = nb_trainer_new(nb_model_file_build, m, nb_model_file_input_shape(m),
                                    nb_model_file_y_width(m), &o, &err);
    cr_assert_not_null(ty, "%s", err.message);
    nb_trainer *tc = nb_trainer_new(c_mlp, NULL, NB_SHAPE(2), 1, &o, &err);
    cr_assert_not_null(tc, "%s", err.message);
    cr_assert_eq(nb_trainer_fit(ty, ds, NULL), NB_OK, "%s", nb_trainer_error(ty));
    cr_assert_eq(nb_trainer_fit(tc, ds, NULL), NB_OK, "%s", nb_trainer_error(tc));
    assert_same_params(nb_trainer_graph(ty), nb_trainer_graph(tc));
    nb_trainer_free(tc);
    nb_trainer_free(ty);
    nb_dataset_free(ds);
    nb_model_file_free(m);
}

/* ---------------------------------------------------------------- DAGs and ops */

Test(yaml_dag, residual_shapes_and_skip)
{
    nb_error err = {0};
    nb_model_file *m = nb_model_file_load(example("residual.yaml"), &err);
    cr_assert_not_null(m, "%s", err.message);
    nb_model_io io;
    nb_graph *g = build(m, 4, 1, &io);
    assert_shape(nb_graph_find(g, "flat"), NB_SHAPE(4, 784), "flat");
    assert_shape(nb_graph_find(g, "h1/w"), NB_SHAPE(784, 128), "h1/w");
    assert_shape(nb_graph_find(g, "h2/w"), NB_SHAPE(128, 128), "h2/w");
    assert_shape(nb_graph_find(g, "h3/b"), NB_SHAPE(128), "h3/b");
    assert_shape(nb_graph_find(g, "logits/w"), NB_SHAPE(128, 10), "logits/w");
    nb_node *skip = nb_graph_find(g, "skip");
    assert_shape(skip, NB_SHAPE(4, 128), "skip");
    cr_expect_str_eq(nb_node_op(skip), "add");
    cr_expect_str_eq(nb_node_scope(nb_node_input(skip, 0)), "h1");
    cr_expect_str_eq(nb_node_scope(nb_node_input(skip, 1)), "h3");
    assert_shape(nb_graph_find(g, "act"), NB_SHAPE(4, 128), "act");
    assert_shape(io.output, NB_SHAPE(4, 10), "output");
    cr_expect_str_eq(nb_node_scope(io.output), "logits");
    nb_graph_free(g);
    nb_model_file_free(m);
}

Test(yaml_dag, two_inputs_concat)
{
    nb_model_file *m = parse(
        "nabla: 1\n"
        "input: {img: [1, 4, 4], meta: [3]}\n"
        "nodes:\n"
        "  - {name: c, op: conv2d, inputs: [img], filters: 2, kernel: 3, pad: 1, activation: relu}\n"
        "  - {name: f, op: flatten, inputs: [c]}\n"
        "  - {name: both, op: concat, inputs: [f, meta], axis: 1}\n"
        "  - {name: out, op: dense, units: 2}\n"
        "loss: mse\n");
    cr_expect_eq(nb_model_file_y_width(m), 2);
    cr_expect(nb_shape_equal(nb_model_file_input_shape(m), NB_SHAPE(1, 4, 4)));
    nb_model_io io;
    nb_graph *g = build(m, 4, 1, &io);
    assert_shape(io.x, NB_SHAPE(4, 1, 4, 4), "x");
    cr_expect_str_eq(nb_node_name(io.x), "img");
    assert_shape(nb_graph_find(g, "meta"), NB_SHAPE(4, 3), "meta");
    assert_shape(nb_graph_find(g, "both"), NB_SHAPE(4, 35), "both");
    assert_shape(nb_graph_find(g, "out/w"), NB_SHAPE(35, 2), "out/w");
    assert_shape(io.output, NB_SHAPE(4, 2), "output");
    assert_shape(io.y, NB_SHAPE(4, 2), "y");
    nb_graph_free(g);
    nb_model_file_free(m);
}

/* Movement, reductions, a constant and broadcasting, checked by hand on
 * two examples: a₁ = [[1,2,3],[4,5,6]], b₁ = [10,20,30]; a₂ = [[0,0,0],
 * [1,1,1]], b₂ = 0. */
Test(yaml_dag, primitive_ops_compute)
{
    nb_model_file *m = parse(
        "nabla: 1\n"
        "input: {a: [2, 3], b: [3]}\n"
        "nodes:\n"
        "  - {name: t, op: permute, inputs: [a], perm: [0, 2, 1]}\n"
        "  - {name: r, op: reshape, inputs: [t], shape: [-1]}\n"
        "  - {name: s, op: slice, inputs: [r], axis: 1, start: 1, stop: 5, step: 2}\n"
        "  - {name: p, op: pad, inputs: [s], before: [1], after: [2], value: 9}\n"
        "  - {name: half, op: full, shape: [1], value: 0.5}\n"
        "  - {name: m, op: mul, inputs: [p, half]}\n"
        "  - {name: tot, op: sum, inputs: [a], axes: [1]}\n"
        "  - {name: bb, op: add, inputs: [tot, b]}\n"
        "  - {name: mx, op: reduce_max, inputs: [a], axes: -1}\n"
        "  - {name: cat, op: concat, inputs: [m, bb, mx], axis: -1}\n"
        "  - {name: mn, op: mean, inputs: [a], axes: [1, 2], keepdims: true}\n"
        "  - {name: wide, op: expand, inputs: [mn], shape: [2, 4]}\n"
        "output: cat\n");
    cr_expect_eq(nb_model_file_y_width(m), 10);
    nb_model_io io;
    nb_graph *g = build(m, 2, 1, &io);
    cr_expect_null(io.loss);
    assert_shape(io.y, NB_SHAPE(2, 10), "y");
    const float a[12] = {1, 2, 3, 4, 5, 6, 0, 0, 0, 1, 1, 1}, b[6] = {10, 20, 30, 0, 0, 0};
    nb_feed f[] = {{io.x, a}, {nb_graph_find(g, "b"), b}};
    float *cat = t_eval(g, io.output, f, 2);
    const float want[20] = {4.5f, 2, 2.5f, 4.5f, 4.5f, 15, 27, 39, 3, 6,
                            4.5f, 0.5f, 0.5f, 4.5f, 4.5f, 1, 1, 1, 0, 1};
    t_assert_close(cat, want, 20, 1e-6f);
    nb_node *wide = nb_graph_find(g, "wide");
    assert_shape(wide, NB_SHAPE(2, 2, 4), "wide");
    float *w = t_eval(g, wide, f, 2);
    for (int i = 0; i < 16; i++)
        cr_expect_float_eq(w[i], i < 8 ? 3.5f : 0.5f, 1e-6, "wide[%d] = %g", i, w[i]);
    free(cat);
    free(w);
    nb_graph_free(g);
    nb_model_file_free(m);
}

/* where, gt, matmul, unfold2d/fold2d and the softmaxes, with x = [1,-2,3,-4]
 * and w = 0: where(x > w, x, w) = [1,0,3,0]; as [[1,0],[3,0]] times its
 * transpose, [[1,3],[3,9]]. */
Test(yaml_dag, more_primitive_ops)
{
    nb_model_file *m = parse(
        "nabla: 1\n"
        "input: {x: [4], w: [4]}\n"
        "nodes:\n"
        "  - {name: pos, op: gt, inputs: [x, w]}\n"
        "  - {name: wh, op: where, inputs: [pos, x, w]}\n"
        "  - {name: sq, op: reshape, inputs: [wh], shape: [2, 2]}\n"
        "  - {name: mm, op: matmul, inputs: [sq, sq], transpose_b: true}\n"
        "  - {name: img, op: reshape, inputs: [x], shape: [1, 2, 2]}\n"
        "  - {name: cols, op: unfold2d, inputs: [img], kernel: 2, pad: 1}\n"
        "  - {name: back, op: fold2d, inputs: [cols], h: 2, w: 2, kh: 2, kw: 2, pad: 1}\n"
        "  - {name: lr, op: leaky_relu, inputs: [x], alpha: 0.1}\n"
        "  - {name: ls, op: log_softmax, inputs: [lr]}\n"
        "  - {name: sm, op: softmax, inputs: [lr], axis: 1}\n"
        "  - {name: e, op: exp, inputs: [ls]}\n"
        "  - {name: d, op: sub, inputs: [e, sm]}\n"
        "  - {name: n, op: neg, inputs: [d]}\n"
        "  - {name: ab, op: abs, inputs: [n]}\n"
        "output: mm\n");
    nb_model_io io;
    nb_graph *g = build(m, 1, 1, &io);
    assert_shape(io.output, NB_SHAPE(1, 2, 2), "mm");
    assert_shape(nb_graph_find(g, "cols"), NB_SHAPE(1, 4, 9), "cols");
    assert_shape(nb_graph_find(g, "back"), NB_SHAPE(1, 1, 2, 2), "back");
    const float x[4] = {1, -2, 3, -4}, w[4] = {0};
    nb_feed f[] = {{io.x, x}, {nb_graph_find(g, "w"), w}};
    float *mm = t_eval(g, io.output, f, 2);
    t_assert_close(mm, (const float[]){1, 3, 3, 9}, 4, 1e-6f);
    float *ab = t_eval(g, nb_graph_find(g, "ab"), f, 2);
    for (int i = 0; i < 4; i++)
        cr_expect_lt(ab[i], 1e-6f, "softmax and exp(log_softmax) differ at %d", i);
    free(mm);
    free(ab);
    nb_graph_free(g);
    nb_model_file_free(m);
}

/* Every built-in op whose node is its inputs alone is read by its op list
 * entry: a node of it reading x as often as its arity builds that op. */
Test(yaml_dag, every_plain_builtin_op_reads_by_its_entry)
{
    int plain = 0;
    for (int i = 0; nb_builtin_op(i); i++) {
        const nb_op_def *def = nb_builtin_op(i);
        if (!(def->flags & NB_OP_NO_ATTRS))
            continue;
        cr_assert(def->arity >= 1 && def->arity <= 3, "%s: arity %d", def->name, def->arity);
        char text[256];
        snprintf(text, sizeof text, "nabla: 1\ninput: {x: [3]}\nnodes:\n  - {name: out, op: %s, "
                 "inputs: [x%s%s]}\noutput: out\n", def->name, def->arity > 1 ? ", x" : "",
                 def->arity > 2 ? ", x" : "");
        nb_model_file *m = parse(text);
        nb_model_io io;
        nb_graph *g = build(m, 2, 1, &io);
        cr_expect_str_eq(nb_node_op(io.output), def->name);
        /* The shape the op's own rule gives [2, 3] inputs: elementwise ops
         * keep it, gather appends the table's row. */
        nb_graph *c = nb_graph_new();
        nb_node *cx = nb_input(c, "x", NB_SHAPE(2, 3)), *cin[3] = {cx, cx, cx};
        nb_node *want = nb_builtin_apply(c, def, cin, def->arity);
        cr_assert_not_null(want, "%s: %s", def->name, nb_graph_error(c));
        assert_shape(io.output, nb_node_shape(want), def->name);
        nb_graph_free(c);
        cr_expect_eq(nb_node_num_inputs(io.output), def->arity, "%s", def->name);
        nb_graph_free(g);
        nb_model_file_free(m);
        plain++;
    }
    cr_expect_geq(plain, 19, "only %d plain built-in ops", plain);
}

/* ---------------------------------------------------------------- losses and targets */

typedef struct loss_case {
    const char *loss;
    int units;
    nb_shape y;   /* at batch 3 */
    int64_t y_width;
} loss_case;

Test(yaml_loss, targets_fit_each_loss)
{
    const loss_case cases[] = {
        {"softmax_cross_entropy", 4, NB_SHAPE(3), 1},
        {"mse", 4, NB_SHAPE(3, 4), 4},
        {"bce_with_logits", 4, NB_SHAPE(3, 4), 4},
        {"margin_logistic", 1, NB_SHAPE(3, 1), 1},
        {"margin_hinge", 1, NB_SHAPE(3, 1), 1},
        {"margin_exponential", 1, NB_SHAPE(3, 1), 1},
        {"none", 4, NB_SHAPE(3, 4), 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "nabla: 1\ninput: {x: [5]}\nlayers:\n  - dense: {units: %d}\n"
                 "loss: %s\n", cases[i].units, cases[i].loss);
        nb_model_file *m = parse(text);
        cr_expect_eq(nb_model_file_y_width(m), cases[i].y_width, "%s", cases[i].loss);
        nb_model_io io;
        nb_graph *g = build(m, 3, 1, &io);
        assert_shape(io.y, cases[i].y, cases[i].loss);
        if (strcmp(cases[i].loss, "none"))
            assert_shape(io.loss, NB_SCALAR, cases[i].loss);
        else
            cr_expect_null(io.loss);
        nb_graph_free(g);
        nb_model_file_free(m);
    }
}

/* The loss may read another node than the output: logits for training,
 * probabilities as the output. */
Test(yaml_loss, on_a_named_node)
{
    nb_model_file *m = parse(
        "nabla: 1\n"
        "input: {x: [5]}\n"
        "layers:\n"
        "  - dense: {units: 3, name: logits}\n"
        "  - softmax: {name: probs}\n"
        "output: probs\n"
        "loss: {softmax_cross_entropy: {node: logits}}\n");
    nb_model_io io;
    nb_graph *g = build(m, 2, 1, &io);
    cr_expect_str_eq(nb_node_name(io.output), "probs");
    assert_shape(io.y, NB_SHAPE(2), "y");
    float x[10], y[2] = {2, 0};
    t_fill(x, 10, 4, -2, 2);
    nb_feed f[] = {{io.x, x}, {io.y, y}};
    float *p = t_eval(g, io.output, f, 2), *loss = t_eval(g, io.loss, f, 2);
    double want = -0.5 * (log(p[2]) + log(p[3]));
    cr_expect(fabs(loss[0] - want) < 1e-5, "loss %g, cross-entropy of the logits %g", loss[0],
              want);
    free(p);
    free(loss);
    nb_graph_free(g);
    nb_model_file_free(m);
}

/* ---------------------------------------------------------------- trainable: false */

static const char frozen_yaml[] =
    "nabla: 1\n"
    "input: {x: [2]}\n"
    "layers:\n"
    "  - dense: {units: 6, activation: tanh, trainable: false}\n"
    "  - batchnorm: {trainable: false}\n"
    "  - dense: {units: 2}\n"
    "loss: softmax_cross_entropy\n"
    "optimizer: {sgd: {lr: 0.5}}\n"
    "train: {batch: 10, epochs: 2, seed: 3}\n";

Test(yaml_trainable, false_freezes_the_layer)
{
    nb_model_file *m = parse(frozen_yaml);
    nb_model_io io;
    nb_graph *g = build(m, 4, 1, &io);
    const char *frozen[] = {"dense1/w", "dense1/b", "batchnorm1/gamma", "batchnorm1/beta",
                            "batchnorm1/running_mean", "batchnorm1/running_var"};
    for (int i = 0; i < 6; i++) {
        nb_node *p = nb_graph_find(g, frozen[i]);
        cr_assert_not_null(p, "%s", frozen[i]);
        cr_expect(!nb_param_trainable(p), "%s should be frozen", frozen[i]);
    }
    cr_expect(nb_param_trainable(nb_graph_find(g, "dense2/w")));
    cr_expect(nb_param_trainable(nb_graph_find(g, "dense2/b")));
    nb_graph_free(g);
    nb_model_file_free(m);
}

/* Training moves only the trainable layer; the frozen batch norm keeps its
 * running statistics (it normalises with them, as in inference). */
Test(yaml_trainable, training_leaves_frozen_values)
{
    nb_model_file *m = parse(frozen_yaml);
    nb_train_opts o = nb_model_file_train_opts(m);
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(nb_model_file_build, m, nb_model_file_input_shape(m),
                                   nb_model_file_y_width(m), &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    nb_graph *g = nb_trainer_graph(t);
    cr_expect_eq(nb_trainer_num_param_tensors(t), 2, "only dense2's w and b train");
    cr_expect_eq(nb_trainer_num_param_values(t), 6 * 2 + 2, "dense2's w [6,2] and b [2]");
    const char *names[] = {"dense1/w", "batchnorm1/running_mean", "batchnorm1/running_var",
                           "dense2/w"};
    float before[4][12];
    for (int i = 0; i < 4; i++)
        memcpy(before[i], nb_param_data(nb_graph_find(g, names[i])), 12 * sizeof(float));
    nb_dataset *ds = blobs(40, 2);
    cr_assert_eq(nb_trainer_fit(t, ds, NULL), NB_OK, "%s", nb_trainer_error(t));
    cr_expect_eq(nb_graph_num_updates(g), 0, "a frozen batch norm registers no updates");
    for (int i = 0; i < 3; i++)
        cr_expect(!memcmp(before[i], nb_param_data(nb_graph_find(g, names[i])),
                          (i == 0 ? 12 : 6) * sizeof(float)), "%s moved", names[i]);
    cr_expect(memcmp(before[3], nb_param_data(nb_graph_find(g, names[3])), 12 * sizeof(float)),
              "dense2/w did not train");
    nb_dataset_free(ds);
    nb_trainer_free(t);
    nb_model_file_free(m);
}

/* ---------------------------------------------------------------- settings */

Test(yaml_settings, everything_reads_back)
{
    const char *text =
        "nabla: 1\n"
        "input: {x: [2]}\n"
        "layers: [{dense: {units: 2}}]\n"
        "loss: softmax_cross_entropy\n"
        "optimizer: {adam: {lr: 0.003, beta1: 0.8, beta2: 0.99, eps: 1.0e-7, weight_decay: 0.01}}\n"
        "schedule: {cosine: {total: 1000, min_ratio: 0.1}}\n"
        "clip_norm: 5\n"
        "train: {batch: 16, epochs: 3, seed: 7, shuffle: false, eval_batch: 100, q_eta: 0.05,\n"
        "        q_stop: {rtol: 0.001, window: 200}}\n"
        "data: {format: hdf5, train: data/train.h5, test: /abs/test.h5, x: images, y: labels}\n";
    nb_error err = {0};
    nb_model_file *m = nb_model_file_parse(text, strlen(text), "models/sub/m.yaml", &err);
    cr_assert_not_null(m, "%s", err.message);
    cr_expect_str_eq(nb_model_file_name(m), "m");
    cr_expect_str_eq(nb_model_file_text(m), text);
    nb_train_opts o = nb_model_file_train_opts(m);
    cr_expect_eq(o.optimizer.kind, NB_OPT_ADAM);
    cr_expect_float_eq(o.optimizer.lr, 0.003f, 1e-9);
    cr_expect_float_eq(o.optimizer.beta1, 0.8f, 1e-9);
    cr_expect_float_eq(o.optimizer.beta2, 0.99f, 1e-9);
    cr_expect_float_eq(o.optimizer.eps, 1e-7f, 1e-12);
    cr_expect_float_eq(o.optimizer.weight_decay, 0.01f, 1e-9);
    cr_expect_eq(o.schedule.kind, NB_SCHEDULE_COSINE);
    cr_expect_eq(o.schedule.total, 1000);
    cr_expect_float_eq(o.schedule.min_ratio, 0.1f, 1e-9);
    cr_expect_float_eq(o.clip_norm, 5.0f, 1e-9);
    cr_expect_eq(o.batch, 16);
    cr_expect_eq(o.epochs, 3);
    cr_expect_eq(o.seed, 7);
    cr_expect(o.no_shuffle);
    cr_expect_eq(o.eval_batch, 100);
    cr_expect_float_eq(o.q_eta, 0.05, 1e-12);
    cr_expect_float_eq(o.q_stop_rtol, 0.001, 1e-12);
    cr_expect_eq(o.q_stop_window, 200);
    cr_expect_null(o.on_step);
    cr_expect_null(o.on_epoch);
    nb_data_spec d = nb_model_file_data(m);
    cr_expect_str_eq(d.format, "hdf5");
    cr_expect_str_eq(d.train, "models/sub/data/train.h5");
    cr_expect_str_eq(d.test, "/abs/test.h5");
    cr_expect_str_eq(d.x, "images");
    cr_expect_str_eq(d.y, "labels");
    cr_expect_null(d.dir);
    nb_model_file_free(m);
}

Test(yaml_settings, defaults_and_other_kinds)
{
    nb_model_file *m = parse("nabla: 1\ninput: {x: [2]}\nlayers: [relu]\n");
    nb_train_opts o = nb_model_file_train_opts(m);
    cr_expect_eq(o.batch, 32);
    cr_expect_eq(o.epochs, 1);
    cr_expect_eq(o.seed, 0);
    cr_expect(!o.no_shuffle);
    cr_expect_eq(o.optimizer.kind, NB_OPT_SGD);
    cr_expect_float_eq(o.optimizer.lr, 0.01f, 1e-9);
    cr_expect_eq(o.schedule.kind, NB_SCHEDULE_CONSTANT);
    cr_expect_float_eq(o.clip_norm, 0.0f, 0);
    cr_expect_float_eq(o.q_eta, 0.01, 1e-12);
    cr_expect_eq(o.q_stop_window, 1000);
    cr_expect_eq(o.eval_batch, 256);
    cr_expect_null(nb_model_file_data(m).format);
    cr_expect_str_eq(nb_model_file_name(m), "test");
    nb_model_file_free(m);

    m = parse("nabla: 1\ninput: {x: [2]}\nlayers: [relu]\n"
              "optimizer: {sgd: {lr: 0.2, momentum: 0.5, nesterov: true, weight_decay: 0.001}}\n"
              "schedule: {step: {every: 100, gamma: 0.5}}\n");
    o = nb_model_file_train_opts(m);
    cr_expect(o.optimizer.nesterov);
    cr_expect_float_eq(o.optimizer.momentum, 0.5f, 1e-9);
    cr_expect_float_eq(o.optimizer.weight_decay, 0.001f, 1e-9);
    cr_expect_eq(o.schedule.kind, NB_SCHEDULE_STEP);
    cr_expect_eq(o.schedule.every, 100);
    cr_expect_float_eq(o.schedule.gamma, 0.5f, 1e-9);
    nb_model_file_free(m);

    m = parse("nabla: 1\ninput: {x: [2]}\nlayers: [relu]\n"
              "optimizer: {rmsprop: {lr: 0.001, alpha: 0.9, momentum: 0.1, eps: 1.0e-6}}\n"
              "data: {format: idx, dir: fmnist}\n");
    o = nb_model_file_train_opts(m);
    cr_expect_eq(o.optimizer.kind, NB_OPT_RMSPROP);
    cr_expect_float_eq(o.optimizer.alpha, 0.9f, 1e-9);
    cr_expect_str_eq(nb_model_file_data(m).format, "idx");
    cr_expect_str_eq(nb_model_file_data(m).dir, "fmnist", "no folder in the file name: as written");
    nb_model_file_free(m);

    /* Unnamed fields take nb_optimizer_defaults; beta1 0 (no momentum) and
     * alpha 0 are taken as written; 1 is still refused. */
    m = parse("nabla: 1\ninput: {x: [2]}\nlayers: [relu]\noptimizer: {adam: {beta1: 0}}\n");
    o = nb_model_file_train_opts(m);
    nb_optimizer_opts d = nb_optimizer_defaults(NB_OPT_ADAM);
    cr_expect(o.optimizer.beta1 == 0 && o.optimizer.beta2 == d.beta2 && o.optimizer.eps == d.eps &&
              o.optimizer.lr == d.lr, "beta1 %g beta2 %g eps %g lr %g", o.optimizer.beta1,
              o.optimizer.beta2, o.optimizer.eps, o.optimizer.lr);
    nb_model_file_free(m);
    m = parse("nabla: 1\ninput: {x: [2]}\nlayers: [relu]\noptimizer: {rmsprop: {alpha: 0}}\n");
    o = nb_model_file_train_opts(m);
    cr_expect(o.optimizer.alpha == 0 && o.optimizer.eps == 1e-8f);
    nb_model_file_free(m);
    const char *one = "nabla: 1\ninput: {x: [2]}\nlayers: [relu]\noptimizer: {adam: {beta1: 1}}\n";
    nb_error e = {0};
    cr_expect_null(nb_model_file_parse(one, strlen(one), "one.yaml", &e));
    cr_expect(strstr(e.message, "beta1"), "%s", e.message);
}

/* optimizer: cg reads back through nb_model_file_cg (epochs and seed from
 * train:), while the trainer's optimiser options stay SGD's defaults. */
Test(yaml_settings, cg_reads_back)
{
    nb_model_file *m = parse("nabla: 1\ninput: {x: [2]}\nlayers: [relu]\n"
                             "optimizer: {cg: {chunk: 1000, iterations: 10, restart: 0, "
                             "step0: 0.5, c2: 0.25, max_evals: 12, max_examples: 5000, "
                             "shuffle: true}}\n"
                             "train: {epochs: 4, seed: 7}\n");
    nb_cg_opts c = {.chunk = -1, .ud = &c};
    cr_assert(nb_model_file_cg(m, &c));
    cr_expect_eq(c.chunk, 1000);
    cr_expect_eq(c.iterations, 10);
    cr_expect_eq(c.restart, 0);
    cr_expect_float_eq(c.step0, 0.5, 1e-12);
    cr_expect_float_eq(c.c2, 0.25, 1e-12);
    cr_expect_eq(c.max_evals, 12);
    cr_expect_eq(c.max_examples, 5000);
    cr_expect(c.shuffle);
    cr_expect_eq(c.epochs, 4);
    cr_expect_eq(c.seed, 7);
    cr_expect_null(c.on_iteration);
    cr_expect_null(c.ud);
    cr_expect(nb_model_file_cg(m, NULL));
    nb_train_opts o = nb_model_file_train_opts(m);
    cr_expect_eq(o.optimizer.kind, NB_OPT_SGD);
    cr_expect_float_eq(o.optimizer.lr, 0.01f, 1e-9);
    cr_expect_eq(o.epochs, 4);
    nb_model_file_free(m);

    /* every key optional: the C API's defaults (zeros) */
    m = parse("nabla: 1\ninput: {x: [2]}\nlayers: [relu]\noptimizer: cg\n");
    c = (nb_cg_opts){.chunk = 9, .shuffle = true};
    cr_assert(nb_model_file_cg(m, &c));
    cr_expect_eq(c.chunk, 0);
    cr_expect_eq(c.iterations, 0);
    cr_expect(!c.shuffle);
    cr_expect_eq(c.epochs, 1);
    nb_model_file_free(m);

    /* any other optimizer: false, o untouched */
    m = parse("nabla: 1\ninput: {x: [2]}\nlayers: [relu]\noptimizer: {adam: {lr: 0.1}}\n");
    c = (nb_cg_opts){.chunk = 9};
    cr_expect(!nb_model_file_cg(m, &c));
    cr_expect_eq(c.chunk, 9);
    cr_expect(!nb_model_file_cg(NULL, &c));
    nb_model_file_free(m);
}

/* The example model file trains by CG on a few fixture-sized examples: the
 * chunk's loss falls. */
Test(yaml_examples, fashion_mlp_cg_trains)
{
    nb_error err = {0};
    nb_model_file *m = nb_model_file_load(example("fashion_mlp_cg.yaml"), &err);
    cr_assert_not_null(m, "%s", err.message);
    nb_cg_opts c;
    cr_assert(nb_model_file_cg(m, &c));
    cr_expect_eq(c.chunk, 1000);
    cr_expect_eq(c.iterations, 10);
    cr_expect(c.shuffle);
    nb_train_opts o = nb_model_file_train_opts(m);
    nb_trainer *t = nb_trainer_new(nb_model_file_build, m, nb_model_file_input_shape(m),
                                   nb_model_file_y_width(m), &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    nb_dataset *ds = nb_dataset_new(40, nb_model_file_input_shape(m), 1, &err);
    cr_assert_not_null(ds, "%s", err.message);
    for (int64_t i = 0; i < 40 * 784; i++)
        ds->x[i] = (float)((i * 7919 % 101) / 101.0) * (i / 784 % 4 == (i % 784) / 196 ? 1 : 0.1f);
    for (int64_t i = 0; i < 40; i++)
        ds->y[i] = (float)(i % 4);
    double before = 0, after = 0, acc = 0;
    cr_assert_eq(nb_trainer_evaluate(t, ds, &before, &acc), NB_OK);
    c.iterations = 5;
    c.epochs = 1;
    cr_assert_eq(nb_trainer_fit_cg(t, ds, c, NULL, &err), NB_OK, "%s", err.message);
    cr_assert_eq(nb_trainer_evaluate(t, ds, &after, &acc), NB_OK);
    cr_expect_lt(after, 0.5 * before, "loss %g -> %g", before, after);
    nb_dataset_free(ds);
    nb_trainer_free(t);
    nb_model_file_free(m);
}

/* A sequential build twice in one graph under reuse shares the parameters. */
Test(yaml_settings, rebuild_under_reuse_shares_parameters)
{
    nb_error err = {0};
    nb_model_file *m = nb_model_file_load(example("lenet5.yaml"), &err);
    cr_assert_not_null(m, "%s", err.message);
    nb_model_io a, b;
    nb_graph *g = build(m, 4, 1, &a);
    int n = nb_graph_num_params(g);
    nb_graph_set_reuse(g, true);
    nb_graph_set_training(g, true);
    cr_assert_eq(nb_model_file_build(g, 7, &b, m), NB_OK, "%s", nb_graph_error(g));
    cr_expect_eq(nb_graph_num_params(g), n);
    assert_shape(b.output, NB_SHAPE(7, 10), "second output");
    cr_expect_str_eq(nb_node_name(b.x), "x_2");
    nb_graph_free(g);
    nb_model_file_free(m);
}

/* ---------------------------------------------------------------- the bad corpus */

#define HEAD "nabla: 1\ninput: {x: [2]}\n"   /* lines 1 and 2 */

typedef struct bad_case {
    const char *text;
    const char *want[3];   /* substrings of the message, the first with file:line:col */
} bad_case;

static const bad_case corpus[] = {
    /* the file as a whole */
    {"", {"bad.yaml: the file is empty"}},
    {"- a\n- b\n", {"bad.yaml:1:1: the top level must be a mapping"}},
    {"nabla: 1\ninput: {x: [2]\n", {"bad.yaml:", "not valid YAML"}},
    {"nabla: 1\n---\nnabla: 1\n", {"bad.yaml:2:1: a second YAML document"}},
    {"name: m\ninput: {x: [2]}\nlayers: [relu]\n",
     {"bad.yaml:1:1: key 'nabla' is missing at the top level", "nabla: 1"}},
    {"nabla: 2\ninput: {x: [2]}\nlayers: [relu]\n",
     {"bad.yaml:1:8: format version nabla: 2 is not supported"}},
    {"nabla: 1.0\n", {"bad.yaml:1:8: key 'nabla' at the top level: expected an integer, got '1.0'"}},
    {HEAD "layer:\n  - relu\n",
     {"bad.yaml:3:1: key 'layer' is unknown at the top level; did you mean 'layers'?"}},
    {HEAD "layers: [relu]\nnodes: []\n",
     {"bad.yaml:4:1: a model has 'layers' (line 3) or 'nodes', not both"}},
    {HEAD, {"bad.yaml:1:1: key 'layers' (or 'nodes') is missing at the top level"}},
    {"nabla: 1\nname: a/b\ninput: {x: [2]}\nlayers: [relu]\n",
     {"bad.yaml:2:7: key 'name' at the top level: 'a/b' is not a valid name"}},
    /* what YAML could do and model files refuse */
    {"nabla: !!python/object:os.system 1\n",
     {"bad.yaml:1:8: YAML tag '!!python/object:os.system' is not allowed"}},
    {"nabla: 1\ninput: !shape {x: [2]}\n", {"bad.yaml:2:8: YAML tag '!shape' is not allowed"}},
    {"nabla: 1\ninput: &in {x: [2]}\n", {"bad.yaml:2:8: anchor '&in' is not allowed"}},
    {"nabla: 1\nname: *foo\n", {"bad.yaml:2:7: alias '*foo' is not allowed", "write the value out"}},
    {"a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: [*b, *b, *b, *b]\n",
     {"bad.yaml:1:4: anchor '&a' is not allowed"}},
    {HEAD "layers:\n  - dense: {units: 3, units: 4}\n",
     {"bad.yaml:4:23: key 'units' appears twice in this mapping (first at line 4)"}},
    {"nabla: 1\n? [a]\n: 1\n", {"bad.yaml:2:3: keys must be plain words"}},
    /* layers: */
    {"nabla: 1\ninput: {x: [1, 8, 8]}\nlayers:\n  - conv2d: {filtres: 6, kernel: 5}\n",
     {"bad.yaml:4:14: key 'filtres' is unknown in conv2d; did you mean 'filters'?"}},
    {HEAD "layers:\n  - conv2: {filters: 6}\n",
     {"bad.yaml:4:5: op 'conv2' is unknown; did you mean 'conv2d'?"}},
    {HEAD "layers:\n  - dense: {units: ten}\n",
     {"bad.yaml:4:20: key 'units' in dense: expected an integer, got 'ten'"}},
    {HEAD "layers:\n  - dense: {units: \"10\"}\n",
     {"bad.yaml:4:20: key 'units' in dense: expected an integer, got the quoted string \"10\""}},
    {HEAD "layers:\n  - dense: {units: -3}\n",
     {"bad.yaml:4:20: key 'units' in dense: -3 is out of range; it must be between 1 and"}},
    {HEAD "layers:\n  - conv2d: {filters: 2, kernel: 2.5}\n",
     {"bad.yaml:4:34: key 'kernel' in conv2d: expected an integer, got '2.5'"}},
    {HEAD "layers:\n  - dense: {activation: relu}\n",
     {"bad.yaml:4:12: key 'units' is missing in dense"}},
    {HEAD "layers:\n  - dense: {units: 3, activation: rleu}\n",
     {"bad.yaml:4:35: activation 'rleu' is unknown; did you mean 'relu'?"}},
    {HEAD "layers:\n  - dense: {units: 3}\n    activation: relu\n",
     {"bad.yaml:4:5: layer 1 has 2 keys ('dense', 'activation')", "options inside"}},
    {HEAD "layers:\n  - {}\n", {"bad.yaml:4:5: layer 1 is empty"}},
    {HEAD "layers:\n  -\n", {"bad.yaml:4:4: layer 1: expected an op name", "got nothing"}},
    {HEAD "nodes:\n  - {}\n", {"bad.yaml:4:5: key 'op' is missing in node 1"}},
    {HEAD "nodes:\n  - {name: f, op: full, shape: [2], value: 1, inputs: [x]}\n",
     {"bad.yaml:4:55: node 'f': full reads 0 inputs, and 'inputs' names 1"}},
    {HEAD "layers:\n  - dense: 5\n", {"bad.yaml:4:12: the options of dense must be a mapping"}},
    {HEAD "layers:\n  - add\n",
     {"bad.yaml:4:5: add reads 2 inputs", "write the model as nodes:"}},
    {HEAD "layers:\n  - dense: {units: 2, trainable: no}\n",
     {"bad.yaml:4:34: key 'trainable' in dense: expected true or false, got 'no'"}},
    {HEAD "layers:\n  - dropout: {rate: 1}\n",
     {"bad.yaml:4:21: key 'rate' in dropout: 1 is out of range; it must be in [0, 1)"}},
    {HEAD "layers:\n  - conv2d: {filters: 2, kernel: 3, kh: 3}\n",
     {"bad.yaml:4:13: conv2d: give 'kernel' or 'kh' and 'kw', not both"}},
    {HEAD "layers:\n  - dense: {units: 2, init: {uniform: {low: 1, high: 0}}}\n",
     {"bad.yaml:4:39: initialiser uniform: low 1 must be below high 0"}},
    {HEAD "layers:\n  - dense: {units: 2, init: glorot}\n",
     {"bad.yaml:4:29: initialiser 'glorot' is unknown", "xavier_uniform"}},
    {HEAD "layers: [relu]\noutput: nothere\n",
     {"bad.yaml:4:9: output 'nothere' is not the name of a layer"}},
    /* nodes: */
    {HEAD "nodes:\n  - {name: h, op: relu, inputs: [x]}\n  - {name: h, op: tanh, inputs: [h]}\n",
     {"bad.yaml:5:12: name 'h' is already used by the node at line 4"}},
    {HEAD "nodes:\n  - {name: x, op: relu}\n", {"bad.yaml:4:12: name 'x' is already an input"}},
    {HEAD "nodes:\n  - {name: y, op: relu}\n",
     {"bad.yaml:4:12: the name 'y' is reserved for the targets"}},
    {HEAD "nodes:\n  - {name: h, op: relu, inputs: [q]}\n",
     {"bad.yaml:4:34: node 'h' reads 'q', which is not an input or a node above it"}},
    {HEAD "nodes:\n  - {name: a, op: relu, inputs: [b]}\n  - {name: b, op: tanh, inputs: [x]}\n",
     {"bad.yaml:4:34: node 'a' reads 'b', which comes later (line 5)"}},
    {HEAD "nodes:\n  - {name: a, op: relu, inputs: [a]}\n", {"bad.yaml:4:34: node 'a' reads itself"}},
    {HEAD "nodes:\n  - {op: relu}\n", {"bad.yaml:4:5: key 'name' is missing in node 1 (relu)"}},
    {HEAD "nodes:\n  - {name: a, opp: relu}\n",
     {"bad.yaml:4:15: key 'opp' is unknown in a node; did you mean 'op'?"}},
    {HEAD "nodes:\n  - {name: s, op: add, inputs: [x]}\n",
     {"bad.yaml:4:32: node 's': add reads 2 inputs, and 'inputs' names 1"}},
    {HEAD "nodes:\n  - {name: c, op: concat, axis: 1}\n",
     {"bad.yaml:4:5: node 'c': concat reads one or more inputs; list them in 'inputs'"}},
    {HEAD "nodes:\n  - {name: p, op: permute, perm: [1, 0]}\n",
     {"bad.yaml:4:34: key 'perm' in permute: the batch axis 0 must stay first"}},
    {HEAD "nodes:\n  - {name: f, op: fold2d, kernel: 2}\n",
     {"bad.yaml:4:5: key 'h' is missing in fold2d"}},
    /* inputs */
    {"nabla: 1\ninput: {x: [-1, 3]}\nlayers: [relu]\n",
     {"bad.yaml:2:13: key 'x' in input: -1 is out of range"}},
    {"nabla: 1\ninput: {x: 5}\nlayers: [relu]\n",
     {"bad.yaml:2:12: key 'x' in input: expected a list of integers, got '5'"}},
    {"nabla: 1\ninput: {y: [2]}\nlayers: [relu]\n",
     {"bad.yaml:2:9: the name 'y' is reserved for the targets"}},
    /* the other sections */
    {HEAD "layers: [relu]\nloss: cross_entropy\n",
     {"bad.yaml:4:7: loss 'cross_entropy' is unknown; did you mean 'softmax_cross_entropy'?"}},
    {HEAD "layers: [relu]\nloss: {mse: {nod: relu1}}\n",
     {"bad.yaml:4:14: key 'nod' is unknown in loss mse; did you mean 'node'?"}},
    {HEAD "layers: [relu]\nx_div: 0\n",
     {"bad.yaml:4:8: key 'x_div' at the top level: 0 is out of range; it must be > 0"}},
    {HEAD "layers: [relu]\nx_div: 1.0e9\n",
     {"bad.yaml:4:8: key 'x_div' at the top level: 1e+09 is too large"}},
    {HEAD "layers: [relu]\nx_div: \"255\"\n", {"bad.yaml:4:8: key 'x_div' at the top level"}},
    {HEAD "layers: [relu]\noptimizer: {sgdd: {lr: 0.1}}\n",
     {"bad.yaml:4:13: optimizer 'sgdd' is unknown; did you mean 'sgd'?"}},
    {HEAD "layers: [relu]\noptimizer: {sgd: {lr: -1}}\n",
     {"bad.yaml:4:23: key 'lr' in optimizer sgd: -1 is out of range; it must be > 0"}},
    {HEAD "layers: [relu]\noptimizer: {sgd: {nesterov: true}}\n",
     {"bad.yaml:4:18: optimizer sgd: nesterov needs a momentum > 0"}},
    {HEAD "layers: [relu]\noptimizer: {cg: {chunks: 100}}\n",
     {"bad.yaml:4:18: key 'chunks' is unknown in optimizer cg; did you mean 'chunk'?"}},
    {HEAD "layers: [relu]\noptimizer: {cg: {c2: 0.7}}\n",
     {"bad.yaml:4:22: key 'c2' in optimizer cg: 0.7 is out of range", "[0, 0.5)"}},
    {HEAD "layers: [relu]\noptimizer: {cg: {iterations: -2}}\n",
     {"bad.yaml:4:30: key 'iterations' in optimizer cg: -2 is out of range"}},
    {HEAD "layers: [relu]\noptimizer: {cg: {shuffle: yes}}\n",
     {"bad.yaml:4:27: key 'shuffle' in optimizer cg: expected true or false, got 'yes'"}},
    {HEAD "layers: [relu]\noptimizer: {cg: {lr: 0.1}}\n",
     {"bad.yaml:4:18: key 'lr' is unknown in optimizer cg"}},
    {HEAD "layers: [relu]\nschedule: {step: {gamma: 0.5}}\n",
     {"bad.yaml:4:18: key 'every' is missing in schedule step"}},
    {HEAD "layers: [relu]\ndata: {format: csv}\n", {"bad.yaml:4:16: data format 'csv' is unknown"}},
    {HEAD "layers: [relu]\ndata: {format: idx}\n",
     {"bad.yaml:4:7: key 'dir' is missing in data (format idx)"}},
    {HEAD "layers: [relu]\ntrain: {batch: 0}\n",
     {"bad.yaml:4:16: key 'batch' in train: 0 is out of range"}},
    {HEAD "layers: [relu]\ntrain: {shuffle: yes}\n",
     {"bad.yaml:4:18: key 'shuffle' in train: expected true or false, got 'yes'"}},
    {HEAD "layers: [relu]\ntrain: {epochs: 5, epoch: 3}\n",
     {"bad.yaml:4:20: key 'epoch' is unknown in train; did you mean 'epochs'?"}},
    /* shapes that do not fit, found by building */
    {"nabla: 1\ninput: {x: [784]}\nlayers:\n  - dense: {units: 4}\n  - conv2d: {filters: 2, kernel: 3}\n",
     {"bad.yaml:5:5: layer 2 'conv2d1' (conv2d): input 'dense1' [N,4] must have rank 4"}},
    {HEAD "nodes:\n  - {name: h, op: dense, units: 3}\n  - {name: s, op: add, inputs: [x, h]}\n",
     {"bad.yaml:5:5: node 's' (add): shapes do not broadcast: 'x' [N,2] and 'h' [N,3]"}},
    /* [N] + [N, 3] fits at batch 1 only: the check build uses batch 2 (and
     * shows it as N, although [N] + [N, 3] fits at batch 3) */
    {"nabla: 1\ninput: {a: [3], b: [3]}\nnodes:\n  - {name: t, op: sum, inputs: [a], axes: [1]}\n"
     "  - {name: s, op: add, inputs: [t, b]}\n",
     {"bad.yaml:5:5: node 's' (add): shapes do not broadcast: 't' [N] and 'b' [N,3]"}},
    {"nabla: 1\ninput: {x: [1, 4, 4]}\nlayers: [relu]\nloss: softmax_cross_entropy\n",
     {"bad.yaml:4:7: loss softmax_cross_entropy: "}},
    {HEAD "nodes:\n  - {name: c, op: concat, inputs: [x, x], axis: 0}\n",
     {"bad.yaml:4:5: node 'c' (concat): axis 0 is the batch axis"}},
    {"nabla: 1\ninput: {x: [784]}\nlayers:\n  - dense: {units: 16777216}\n",
     {"bad.yaml:4:5: layer 1 'dense1' (dense): ", "within 2 GiB"}},
    /* layers are called by the names weights and `nabla inspect` give them,
     * values by their layer's name, the batch by N */
    {"nabla: 1\ninput: {x: [1, 8, 8]}\nlayers:\n  - conv2d: {filters: 4, kernel: 3}\n"
     "  - conv2d: {filters: 4, kernel: 9}\n",
     {"bad.yaml:5:5: layer 2 'conv2d2' (conv2d): kernel 9x9 is larger than the "
      "padded input 6x6 of 'conv2d1' [N,4,6,6]"}},
    {"nabla: 1\ninput: {x: [6]}\nnodes:\n  - {name: a, op: dense, inputs: [x], units: 4}\n"
     "  - {name: b, op: dense, inputs: [x], units: 5, activation: relu}\n"
     "  - {name: s, op: add, inputs: [a, b]}\n",
     {"bad.yaml:6:5: node 's' (add): shapes do not broadcast: 'a' [N,4] and 'b' [N,5]"}},
    {"nabla: 1\ninput: {x: [6]}\nnodes:\n  - {name: h, op: dense, inputs: [x], units: 4}\n"
     "  - {name: p, op: matmul, inputs: [h, x]}\n",
     {"bad.yaml:5:5: node 'p' (matmul): ", "'h' [N,4]", "'x' [N,6]"}},
    {"nabla: 1\ninput: {x: [1, 4, 4]}\nlayers:\n  - flatten\n  - dense: {units: 3}\n"
     "  - maxpool2d: {size: 2}\n",
     {"bad.yaml:6:5: layer 3 'maxpool2d1' (maxpool2d): ", "'dense1' [N,3]"}},
    {HEAD "layers:\n  - dense: {units: 2, inputs: [x]}\n",
     {"bad.yaml:4:23: key 'inputs' belongs to the nodes: form"}},
    /* the built-in ops read by their op list entry */
    {HEAD "nodes:\n  - {name: w, op: wher, inputs: [x, x, x]}\n",
     {"bad.yaml:4:19: op 'wher' is unknown; did you mean 'where'?"}},
    {HEAD "layers:\n  - sigmod\n",
     {"bad.yaml:4:5: op 'sigmod' is unknown; did you mean 'sigmoid'?"}},
    {HEAD "nodes:\n  - {name: s, op: sub, inputs: [x]}\n",
     {"bad.yaml:4:32: node 's': sub reads 2 inputs, and 'inputs' names 1"}},
    {HEAD "nodes:\n  - {name: s, op: add, inputs: [x, x], axis: 1}\n",
     {"bad.yaml:4:40: key 'axis' is unknown in add"}},
    {HEAD "layers:\n  - where\n",
     {"bad.yaml:4:5: where reads 3 inputs; each layer of the layers: form reads the one"}},
    {HEAD "nodes:\n  - {name: o, op: one_hot, inputs: [x]}\n",
     {"bad.yaml:4:19: op 'one_hot' is unknown"}},
    {HEAD "nodes:\n  - {name: o, op: const}\n",
     {"bad.yaml:4:19: op 'const' is unknown; did you mean 'concat'?"}},
};

Test(yaml_bad, corpus_is_refused_where_and_what)
{
    int n = (int)(sizeof corpus / sizeof corpus[0]);
    cr_assert_geq(n, 30);
    for (int i = 0; i < n; i++) {
        nb_error err = {0};
        const char *text = corpus[i].text;
        nb_model_file *m = nb_model_file_parse(text, strlen(text), "bad.yaml", &err);
        cr_expect_null(m, "case %d was accepted:\n%s", i, text);
        nb_model_file_free(m);
        if (getenv("NABLA_SHOW_MESSAGES"))
            printf("%2d  %s\n", i, err.message);
        cr_expect_neq(err.status, NB_OK, "case %d: no status", i);
        for (int k = 0; k < 3 && corpus[i].want[k]; k++)
            cr_expect(strstr(err.message, corpus[i].want[k]), "case %d: \"%s\" lacks \"%s\"", i,
                      err.message, corpus[i].want[k]);
    }
}

/* Collections nested past the bound, long before libyaml or memory mind. */
Test(yaml_bad, nesting_depth)
{
    char text[256] = "nabla: 1\ninput: {x: [2]}\nlayers: ";
    size_t k = strlen(text);
    for (int i = 0; i < 40; i++)
        text[k++] = '[';
    for (int i = 0; i < 40; i++)
        text[k++] = ']';
    text[k] = '\0';
    nb_error err = {0};
    cr_expect_null(nb_model_file_parse(text, k, "deep.yaml", &err));
    cr_expect(strstr(err.message, "deep.yaml:3:40: lists and mappings nest deeper than 32 levels"),
              "%s", err.message);
}

/* A flat list of 200001 numbers: refused at the value bound. */
Test(yaml_bad, too_many_values)
{
    size_t n = 200001, size = 32 + 2 * n;
    char *text = malloc(size);
    cr_assert_not_null(text);
    size_t k = (size_t)snprintf(text, size, "nabla: 1\nlist: [");
    for (size_t i = 0; i < n; i++)
        text[k++] = '1', text[k++] = ',';
    text[k - 1] = ']';
    nb_error err = {0};
    cr_expect_null(nb_model_file_parse(text, k, "many.yaml", &err));
    cr_expect(strstr(err.message, "many.yaml:2:") &&
              strstr(err.message, "the file holds more than 100000 values"), "%s", err.message);
    free(text);
}

/* A mapping with more keys than any model section has. */
Test(yaml_bad, too_many_keys)
{
    char *text = malloc(300 * 16);
    cr_assert_not_null(text);
    size_t k = (size_t)sprintf(text, "nabla: 1\n");
    for (int i = 0; i < 300; i++)
        k += (size_t)sprintf(text + k, "k%d: 1\n", i);
    nb_error err = {0};
    cr_expect_null(nb_model_file_parse(text, k, "keys.yaml", &err));
    cr_expect(strstr(err.message, "keys.yaml:257:1: a mapping has more than 256 keys"), "%s",
              err.message);
    free(text);
}

Test(yaml_bad, nul_byte_and_null_text)
{
    nb_error err = {0};
    cr_expect_null(nb_model_file_parse("nabla: 1\n\0x: 1\n", 15, "nul.yaml", &err));
    cr_expect(strstr(err.message, "nul.yaml:2:1: not valid YAML"), "%s", err.message);
    cr_expect_null(nb_model_file_parse(NULL, 0, "none.yaml", &err));
    cr_expect(strstr(err.message, "none.yaml: no text"), "%s", err.message);
    cr_expect_null(nb_model_file_parse("x", NB_MAX_RANK + ((size_t)1 << 20), "big.yaml", &err));
    cr_expect(strstr(err.message, "big.yaml: the text is"), "%s", err.message);
    cr_expect_null(nb_model_file_parse("", 0, NULL, NULL), "no error slot: still refused");
}

/* ---------------------------------------------------------------- files */

/* A fresh folder for files this test writes. */
static char *temp_dir(void)
{
    static char dir[64];
    snprintf(dir, sizeof dir, "/tmp/nabla-yaml-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    return dir;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

Test(yaml_files, refused_files_name_the_path)
{
    char *dir = temp_dir(), path[256];
    nb_error err = {0};

    snprintf(path, sizeof path, "%s/missing.yaml", dir);
    cr_expect_null(nb_model_file_load(path, &err));
    cr_expect(strstr(err.message, path) && strstr(err.message, "cannot open"), "%s", err.message);

    size_t big = ((size_t)1 << 20) + 1;
    char *spaces = malloc(big);
    cr_assert_not_null(spaces);
    memset(spaces, '#', big);
    snprintf(path, sizeof path, "%s/big.yaml", dir);
    write_file(path, spaces, big);
    cr_expect_null(nb_model_file_load(path, &err));
    cr_expect(strstr(err.message, path) && strstr(err.message, "larger than 1 MiB"), "%s",
              err.message);
    unlink(path);
    free(spaces);

    unsigned char junk[256];
    for (int i = 0; i < 256; i++)
        junk[i] = (unsigned char)(255 - i);
    snprintf(path, sizeof path, "%s/junk.yaml", dir);
    write_file(path, junk, sizeof junk);
    cr_expect_null(nb_model_file_load(path, &err));
    cr_expect(strstr(err.message, path) && strstr(err.message, "not valid YAML"), "%s",
              err.message);
    unlink(path);

    cr_expect_null(nb_model_file_load(dir, &err));
    cr_expect(strstr(err.message, dir) && strstr(err.message, "cannot read"), "%s", err.message);

    const char *typo = HEAD "layers:\n  - dense: {unit: 3}\n";
    snprintf(path, sizeof path, "%s/typo.yaml", dir);
    write_file(path, typo, strlen(typo));
    cr_expect_null(nb_model_file_load(path, &err));
    char want[400];
    snprintf(want, sizeof want, "%s:4:13: key 'unit' is unknown in dense; did you mean 'units'?",
             path);
    cr_expect(strstr(err.message, want), "%s", err.message);
    unlink(path);
    cr_expect_null(nb_model_file_load(NULL, &err));
    rmdir(dir);
}

/* Relative data paths are resolved against the file's own folder. */
Test(yaml_files, data_paths_beside_the_file)
{
    char *dir = temp_dir(), path[256], want[300];
    const char *text = HEAD "layers: [relu]\ndata: {format: hdf5, train: d/train.h5}\n";
    snprintf(path, sizeof path, "%s/model.yaml", dir);
    write_file(path, text, strlen(text));
    nb_error err = {0};
    nb_model_file *m = nb_model_file_load(path, &err);
    cr_assert_not_null(m, "%s", err.message);
    snprintf(want, sizeof want, "%s/d/train.h5", dir);
    cr_expect_str_eq(nb_model_file_data(m).train, want);
    cr_expect_null(nb_model_file_data(m).test);
    cr_expect_str_eq(nb_model_file_data(m).x, "X");
    cr_expect_str_eq(nb_model_file_name(m), "model");
    cr_expect_str_eq(nb_model_file_text(m), text);
    nb_model_file_free(m);
    unlink(path);
    rmdir(dir);
}

/* x_div is the model's input scaling, 255 when the file is silent; a data
 * folder given later moves the files the data section names (hdf5 keeps
 * each file's name), and is refused for a model without data. */
Test(yaml_files, x_div_and_data_folder)
{
    nb_error err = {0};
    nb_model_file *m = parse(HEAD "layers: [relu]\nx_div: 1\n"
                             "data: {format: hdf5, train: /a/b/train.h5, test: t.h5}\n");
    cr_expect_eq(nb_model_file_x_div(m), 1.0f);
    cr_assert_eq(nb_model_file_set_data_dir(m, "/elsewhere", &err), NB_OK, "%s", err.message);
    cr_expect_str_eq(nb_model_file_data(m).train, "/elsewhere/train.h5");
    cr_expect_str_eq(nb_model_file_data(m).test, "/elsewhere/t.h5");
    nb_model_file_free(m);
    m = parse(HEAD "layers: [relu]\ndata: {format: idx, dir: /usr/share/x}\n");
    cr_expect_eq(nb_model_file_x_div(m), 255.0f);
    cr_assert_eq(nb_model_file_set_data_dir(m, "d2", &err), NB_OK, "%s", err.message);
    cr_expect_str_eq(nb_model_file_data(m).dir, "d2");
    nb_model_file_free(m);
    m = parse(HEAD "layers: [relu]\n");
    cr_expect_eq(nb_model_file_set_data_dir(m, "d2", &err), NB_ERR_ARG);
    cr_expect(strstr(err.message, "data folder 'd2': model 'test' has no data section"), "%s",
              err.message);
    nb_model_file_free(m);
}

/* nb_model_file_build refuses what it cannot use and leaves io empty. */
Test(yaml_files, build_refusals)
{
    nb_model_file *m = parse(HEAD "layers: [relu]\n");
    nb_model_io io = {0};
    cr_expect_eq(nb_model_file_build(NULL, 4, &io, m), NB_ERR_ARG);
    nb_graph *g = nb_graph_new();
    cr_expect_eq(nb_model_file_build(g, 0, &io, m), NB_ERR_ARG);
    t_assert_error(g, "test.yaml: batch 0 must be >= 1", NULL);
    nb_graph_clear_error(g);
    cr_expect_eq(nb_model_file_build(g, 4, &io, NULL), NB_ERR_ARG);
    nb_graph_free(g);
    cr_expect_null(nb_model_file_name(NULL));
    cr_expect_eq(nb_model_file_y_width(NULL), 0);
    nb_model_file_free(NULL);
    nb_model_file_free(m);
}

/* ---------------------------------------------------------------- the documentation */

/* Every ```yaml block of docs/model-format.md that starts with "nabla: 1"
 * is a whole model file: each must load and build. */
Test(yaml_docs, examples_in_model_format_md_build)
{
    char path[1024];
    const char *fx = getenv("NABLA_FIXTURES");
    snprintf(path, sizeof path, "%s/../../docs/model-format.md", fx ? fx : "tests/fixtures");
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    static char doc[1 << 17];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = '\0';
    int models = 0;
    for (char *p = doc; (p = strstr(p, "```yaml\nnabla: 1"));) {
        p += strlen("```yaml\n");
        char *end = strstr(p, "```");
        cr_assert_not_null(end);
        nb_error err = {0};
        nb_model_file *m = nb_model_file_parse(p, (size_t)(end - p), "doc.yaml", &err);
        cr_expect_not_null(m, "documented model %d: %s", models + 1, err.message);
        if (m) {
            nb_model_io io;
            nb_graph *g = build(m, 2, 1, &io);
            cr_expect_not_null(io.loss);
            nb_graph_free(g);
        }
        nb_model_file_free(m);
        models++;
        p = end;
    }
    cr_expect_geq(models, 2);
}

/* ---------------------------------------------------------------- growing: set_units */

/* A dense layer widened by name (given or automatic): the spec builds at
 * the new width, the text (what weights files store) says so and parses
 * back to the same shapes; unknown and non-dense layers and bad widths refused. */
Test(yaml_grow, set_units)
{
    const char *text = "nabla: 1\nname: g\ninput: {x: [3]}\nlayers:\n"
                       "  - dense: {units: 4, activation: tanh, name: hidden}\n"
                       "  - dense: {units: 5}\n"
                       "  - dense: {units: 2}\nloss: mse\n";
    nb_model_file *m = parse(text);
    nb_activation act = NB_ACT_NONE;
    cr_expect_eq(nb_model_file_units(m, "hidden", &act, NULL), 4);
    cr_expect_eq(act, NB_ACT_TANH);
    cr_expect_eq(nb_model_file_units(m, "dense1", NULL, NULL), 5);
    nb_error err = {0};
    cr_assert_eq(nb_model_file_set_units(m, "hidden", 7, &err), NB_OK, "%s", err.message);
    cr_assert_eq(nb_model_file_set_units(m, "dense1", 9, &err), NB_OK, "%s", err.message);
    nb_model_io io;
    nb_graph *g = build(m, 2, 2, &io);
    nb_shape hw = nb_node_shape(nb_graph_find(g, "hidden/w"));
    nb_shape dw = nb_node_shape(nb_graph_find(g, "dense1/w"));
    nb_shape ow = nb_node_shape(nb_graph_find(g, "dense2/w"));
    cr_expect(hw.rank == 2 && hw.dim[0] == 3 && hw.dim[1] == 7);
    cr_expect(dw.rank == 2 && dw.dim[0] == 7 && dw.dim[1] == 9);
    cr_expect(ow.rank == 2 && ow.dim[0] == 9 && ow.dim[1] == 2);
    nb_graph_free(g);
    const char *t2 = nb_model_file_text(m);
    cr_expect_not_null(strstr(t2, "{units: 7, activation: tanh, name: hidden}"), "%s", t2);
    cr_expect_not_null(strstr(t2, "{units: 9}"), "%s", t2);
    nb_model_file *m2 = parse(t2);
    cr_expect_eq(nb_model_file_units(m2, "hidden", NULL, NULL), 7);
    cr_expect_eq(nb_model_file_units(m2, "dense1", NULL, NULL), 9);
    nb_model_file_free(m2);

    cr_expect_eq(nb_model_file_set_units(m, "nope", 3, &err), NB_ERR_ARG);
    cr_expect(strstr(err.message, "no dense layer named 'nope' (its dense layers: hidden, dense1, "),
              "%s", err.message);
    cr_expect_eq(nb_model_file_set_units(m, "hiden", 3, &err), NB_ERR_ARG);
    cr_expect(strstr(err.message, "no dense layer named 'hiden'; did you mean 'hidden'?"), "%s",
              err.message);
    cr_expect_eq(nb_model_file_units(m, "nope", NULL, &err), -1);
    cr_expect(strstr(err.message, "no dense layer named 'nope'"), "%s", err.message);
    cr_expect_eq(nb_model_file_set_units(m, "hidden", 0, &err), NB_ERR_ARG);
    cr_expect(strstr(err.message, "units 0 is outside"), "%s", err.message);
    /* a layer that is not dense is refused */
    nb_model_file_free(m);
    m = parse("nabla: 1\nname: c\ninput: {x: [1, 4, 4]}\nlayers:\n"
              "  - conv2d: {filters: 2, kernel: 3, name: c1}\n  - flatten\n"
              "  - dense: {units: 3}\nloss: softmax_cross_entropy\n");
    cr_expect_eq(nb_model_file_set_units(m, "c1", 3, &err), NB_ERR_ARG);
    cr_expect(strstr(err.message, "'c1'") && strstr(err.message, "not dense"), "%s", err.message);
    err = (nb_error){0};
    cr_expect_eq(nb_model_file_units(m, "c1", NULL, &err), -1);
    cr_expect(strstr(err.message, "'c1'") && strstr(err.message, "not dense"), "%s", err.message);
    cr_expect_eq(nb_model_file_units(m, "dense1", NULL, NULL), 3);
    nb_model_file_free(m);
}

/* A conv layer followed by dense without flatten: the model file is refused
 * at the dense layer, with the hint, not at the loss. */
Test(yaml, conv_then_dense_without_flatten_gets_a_hint)
{
    const char *text = "nabla: 1\nname: noflat\ninput: {x: [1, 8, 8]}\nlayers:\n"
                       "  - conv2d: {filters: 4, kernel: 3}\n  - dense: {units: 10, name: logits}\n"
                       "loss: softmax_cross_entropy\n";
    nb_error err = {0};
    cr_assert_null(nb_model_file_parse(text, strlen(text), "noflat.yaml", &err));
    cr_assert(strstr(err.message, "'logits' (dense): input 'conv2d1' [N,4,6,6] has 4 axes") &&
                  strstr(err.message, "put a flatten before it (it gives [N, 144])"),
              "%s", err.message);
    cr_assert(strstr(err.message, "noflat.yaml:6"), "no line: %s", err.message);
}
