/*
 * test_onnx_import.c — nb_onnx_import on ONNX files written here byte by
 * byte (a small protobuf encoder, so nothing but nabla parses them): a
 * Gemm model imported with its weight transposed into nabla's layout (and
 * scaled by alpha and beta), global pools, arithmetic with constants, and
 * every kind of refusal — not protobuf, truncated, an unknown operator, a
 * node reading an undefined value, a cycle, huge dimensions, attributes
 * nabla cannot express — naming the node, writing nothing. What imported
 * models compute is checked against PyTorch in tests/crosscheck/onnx_import.py.
 */
#define _GNU_SOURCE /* mkdtemp */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "nabla.h"

/* ---------------------------------------------------------------- protobuf by hand */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *v, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        cr_assert(b->p);
    }
    memcpy(b->p + b->n, v, n);
    b->n += n;
}

static void varint(buf *b, uint64_t v)
{
    do {
        uint8_t c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            c |= 0x80;
        put(b, &c, 1);
    } while (v);
}

static void f_int(buf *b, int field, int64_t v)
{
    varint(b, (uint64_t)field << 3);
    varint(b, (uint64_t)v);
}

static void f_bytes(buf *b, int field, const void *v, size_t n)
{
    varint(b, (uint64_t)field << 3 | 2);
    varint(b, n);
    put(b, v, n);
}

static void f_str(buf *b, int field, const char *s) { f_bytes(b, field, s, strlen(s)); }

/* Appends sub as a length-delimited field and frees it. */
static void f_msg(buf *b, int field, buf *sub)
{
    f_bytes(b, field, sub->p ? sub->p : (uint8_t *)"", sub->n);
    free(sub->p);
    *sub = (buf){0};
}

static void f_float(buf *b, int field, float v)
{
    varint(b, (uint64_t)field << 3 | 5);
    put(b, &v, 4);
}

/* AttributeProto: an int, a float, or ints. */
static void attr_int(buf *node, const char *name, int64_t v)
{
    buf a = {0};
    f_str(&a, 1, name), f_int(&a, 20, 2), f_int(&a, 3, v);
    f_msg(node, 5, &a);
}

static void attr_float(buf *node, const char *name, float v)
{
    buf a = {0};
    f_str(&a, 1, name), f_int(&a, 20, 1), f_float(&a, 2, v);
    f_msg(node, 5, &a);
}

static void attr_ints(buf *node, const char *name, int n, const int64_t *v)
{
    buf a = {0};
    f_str(&a, 1, name), f_int(&a, 20, 7);
    for (int i = 0; i < n; i++)
        f_int(&a, 8, v[i]);
    f_msg(node, 5, &a);
}

/* NodeProto op(inputs) → out, named name; attributes added by the caller
 * through the returned buffer, then node_end. */
static buf node(const char *op, const char *name, const char *out, int n_in, const char **in)
{
    buf n = {0};
    for (int i = 0; i < n_in; i++)
        f_str(&n, 1, in[i]);
    f_str(&n, 2, out), f_str(&n, 3, name), f_str(&n, 4, op);
    return n;
}

/* A float initialiser (raw_data) of the given dims and values. */
static void init(buf *graph, const char *name, int rank, const int64_t *dims, const float *v)
{
    buf t = {0};
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        f_int(&t, 1, dims[i]), n *= dims[i];
    f_int(&t, 2, 1), f_str(&t, 8, name);
    if (v)
        f_bytes(&t, 9, v, (size_t)n * 4);
    f_msg(graph, 5, &t);
}

/* ValueInfoProto of a float tensor [N, dims…] (dims[0] ignored: symbolic). */
static void value(buf *graph, int field, const char *name, int rank, const int64_t *dims)
{
    buf v = {0}, type = {0}, tensor = {0}, shape = {0};
    for (int i = 0; i < rank; i++) {
        buf d = {0};
        if (i == 0)
            f_str(&d, 2, "N");
        else
            f_int(&d, 1, dims[i]);
        f_msg(&shape, 1, &d);
    }
    f_int(&tensor, 1, 1), f_msg(&tensor, 2, &shape);
    f_msg(&type, 1, &tensor);
    f_str(&v, 1, name), f_msg(&v, 2, &type);
    f_msg(graph, field, &v);
}

/* ModelProto around graph, opset 13. */
static buf model(buf *graph)
{
    buf m = {0}, op = {0};
    f_int(&m, 1, 7), f_str(&m, 2, "test");
    f_msg(&m, 7, graph);
    f_int(&op, 2, 13);
    f_msg(&m, 8, &op);
    return m;
}

/* ---------------------------------------------------------------- files */

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/nabla-onnx-import-XXXXXX");
    cr_assert(mkdtemp(dir));
}

static const char *file(const char *name)
{
    static char path[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}

static void write_bytes(const char *name, const void *p, size_t n)
{
    FILE *f = fopen(file(name), "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

static bool exists(const char *name) { return access(file(name), F_OK) == 0; }

/* Imports name, expecting a refusal whose message holds `want`, and no
 * model or weights file left. */
static void refused(const char *name, const char *want)
{
    nb_error err = {0};
    nb_status st = nb_onnx_import(file(name), file("m.yaml"), file("m.h5"), &err);
    cr_assert_neq(st, NB_OK, "%s imported", name);
    cr_assert(strstr(err.message, want), "%s: the message '%s' lacks '%s'", name, err.message, want);
    cr_assert(!exists("m.yaml") && !exists("m.h5"), "%s: a file was left", name);
}

/* x [N, 3] → Gemm(transB=1, W [2, 3], b [2]) → Relu → y, with extra
 * nodes or attributes by variant. */
enum { OK, ALPHA, UNKNOWN, UNDEFINED, CYCLE, HUGE, TRANS_A };

static void gemm_file(const char *name, int variant)
{
    buf g = {0};
    int64_t xd[2] = {0, 3}, wd[2] = {2, 3}, bd[1] = {2}, huge[2] = {(int64_t)1 << 40, 3};
    float w[6] = {1, 2, 3, 4, 5, 6}, b[2] = {0.5f, -0.5f};
    value(&g, 11, "x", 2, xd);
    init(&g, "W", 2, variant == HUGE ? huge : wd, variant == HUGE ? NULL : w);
    init(&g, "B", 1, bd, b);
    const char *gin[3] = {variant == UNDEFINED ? "ghost" : "x", "W", "B"};
    buf n = node("Gemm", "Gemm_0", "h", 3, gin);
    attr_int(&n, "transB", 1);
    if (variant == ALPHA) {
        attr_float(&n, "alpha", 0.5f);
        attr_float(&n, "beta", 2.0f);
    }
    if (variant == TRANS_A)
        attr_int(&n, "transA", 1);
    const char *rin[1] = {"h"};
    buf r = node(variant == UNKNOWN ? "Gelu" : "Relu", "Relu_1", "y", 1, rin);
    if (variant == CYCLE) { /* Relu reads what a later node writes */
        const char *a[1] = {"z"}, *c[1] = {"y"};
        free(r.p);
        r = node("Relu", "Relu_1", "y", 1, a);
        f_msg(&g, 1, &n);
        f_msg(&g, 1, &r);
        buf z = node("Relu", "Relu_2", "z", 1, c);
        f_msg(&g, 1, &z);
    } else {
        f_msg(&g, 1, &n);
        f_msg(&g, 1, &r);
    }
    value(&g, 12, "y", 2, (int64_t[]){0, 2});
    buf m = model(&g);
    write_bytes(name, m.p, m.n);
    free(m.p);
}

/* x [N, 2, 5, 5] → op with the given attributes → y. */
static void image_file(const char *name, const char *op, int n_pads, const int64_t *pads,
                       int64_t count_include_pad)
{
    buf g = {0};
    int64_t xd[4] = {0, 2, 5, 5}, wd[4] = {3, 2, 3, 3}, k[2] = {3, 3};
    float w[54] = {0};
    value(&g, 11, "x", 4, xd);
    bool conv = !strcmp(op, "Conv");
    if (conv)
        init(&g, "W", 4, wd, w);
    const char *in[2] = {"x", "W"};
    buf n = node(op, !strcmp(op, "Conv") ? "Conv_3" : "Pool_0", "y", conv ? 2 : 1, in);
    attr_ints(&n, "kernel_shape", 2, k);
    if (n_pads)
        attr_ints(&n, "pads", n_pads, pads);
    if (count_include_pad >= 0)
        attr_int(&n, "count_include_pad", count_include_pad);
    f_msg(&g, 1, &n);
    value(&g, 12, "y", 4, (int64_t[]){0, 3, 3, 3});
    buf m = model(&g);
    write_bytes(name, m.p, m.n);
    free(m.p);
}

/* x [N, 2, 2, 2] (x [N, 8] when rank is 2) → op (a global pool) → y. */
static void pool_file(const char *name, const char *op, int rank)
{
    buf g = {0};
    value(&g, 11, "x", rank, (int64_t[]){0, rank == 2 ? 8 : 2, 2, 2});
    const char *in[1] = {"x"};
    buf n = node(op, "Pool_3", "y", 1, in);
    f_msg(&g, 1, &n);
    value(&g, 12, "y", 4, (int64_t[]){0, 2, 1, 1});
    buf m = model(&g);
    write_bytes(name, m.p, m.n);
    free(m.p);
}

/* x [N, 2, 2, 2] (and z [N, 1] for MIXED) → Add(x, C) → Mul(K, ·) → an
 * activation with alpha → GlobalAveragePool → y: arithmetic with a
 * constant operand, by variant. */
enum { ARITH, BATCH_CONST, BOTH_CONST, MIXED, ELU_ALPHA, LEAKY_ALPHA };

static void arith_file(const char *name, int variant)
{
    buf g = {0};
    int64_t xd[4] = {0, 2, 2, 2}, cd[3] = {2, 1, 1}, kd[1] = {1}, bd[4] = {2, 2, 2, 2};
    float c[2] = {0.5f, -1.0f}, k[1] = {3.0f}, big[16] = {0};
    value(&g, 11, "x", 4, xd);
    if (variant == MIXED)
        value(&g, 11, "z", 2, (int64_t[]){0, 1});
    init(&g, "C", 3, cd, c);
    init(&g, "K", 1, kd, k);
    init(&g, "B", 4, bd, big);
    const char *add_in[2] = {"x", variant == BATCH_CONST ? "B" : "C"};
    if (variant == BOTH_CONST)
        add_in[0] = "K";
    if (variant == MIXED)
        add_in[1] = "z";
    buf a = node("Add", "Add_0", "a", 2, add_in);
    f_msg(&g, 1, &a);
    const char *mul_in[2] = {"K", "a"};   /* the constant first: K · a */
    buf mu = node("Mul", "Mul_1", "b", 2, mul_in);
    f_msg(&g, 1, &mu);
    const char *act_in[1] = {"b"};
    buf act = node(variant == ELU_ALPHA ? "Elu" : "LeakyRelu", "Act_2", "c", 1, act_in);
    attr_float(&act, "alpha", variant == ELU_ALPHA ? 2.0f : variant == LEAKY_ALPHA ? 1.5f : 0.1f);
    f_msg(&g, 1, &act);
    const char *pool_in[1] = {"c"};
    buf p = node("GlobalAveragePool", "Pool_3", "y", 1, pool_in);
    f_msg(&g, 1, &p);
    value(&g, 12, "y", 4, (int64_t[]){0, 2, 1, 1});
    buf m = model(&g);
    write_bytes(name, m.p, m.n);
    free(m.p);
}

/* The model imported from name, built at batch 1 with its weights, run on
 * x; returns its output (free it) and the output's shape in *s. */
static float *import_and_run(const char *name, const float *x, nb_shape *s)
{
    nb_error err = {0};
    cr_assert_eq(nb_onnx_import(file(name), file("m.yaml"), file("m.h5"), &err), NB_OK, "%s",
                 err.message);
    nb_model_file *mf = nb_model_file_load(file("m.yaml"), &err);
    cr_assert(mf, "%s", err.message);
    nb_graph *g = nb_graph_new();
    nb_model_io io = {0};
    cr_assert_eq(nb_model_file_build(g, 1, &io, mf), NB_OK, "%s", nb_graph_error(g));
    cr_assert_eq(nb_weights_load(g, file("m.h5"), &err), NB_OK, "%s", err.message);
    *s = nb_node_shape(io.output);
    float *y = t_eval(g, io.output, &(nb_feed){io.x, x}, 1);
    nb_graph_free(g);
    nb_model_file_free(mf);
    return y;
}

TestSuite(onnx_import, .init = make_dir);

Test(onnx_import, gemm_becomes_dense_with_weight_transposed)
{
    t_need("onnx");
    t_need("hdf5");
    gemm_file("ok.onnx", OK);
    nb_error err = {0};
    cr_assert_eq(nb_onnx_import(file("ok.onnx"), file("m.yaml"), file("m.h5"), &err), NB_OK,
                 "%s", err.message);
    nb_model_file *mf = nb_model_file_load(file("m.yaml"), &err);
    cr_assert(mf, "%s", err.message);
    nb_graph *g = nb_graph_new();
    nb_model_io io = {0};
    cr_assert_eq(nb_model_file_build(g, 2, &io, mf), NB_OK, "%s", nb_graph_error(g));
    cr_assert_eq(nb_weights_load(g, file("m.h5"), &err), NB_OK, "%s", err.message);
    nb_node *w = nb_graph_find(g, "Gemm_0/w");
    cr_assert(w);
    nb_shape s = nb_node_shape(w);
    cr_assert(s.rank == 2 && s.dim[0] == 3 && s.dim[1] == 2);
    const float *v = nb_param_data(w), want[6] = {1, 4, 2, 5, 3, 6}; /* W [2, 3] transposed */
    for (int i = 0; i < 6; i++)
        cr_assert_eq(v[i], want[i], "w[%d] = %g, not %g", i, v[i], want[i]);
    cr_assert_eq(nb_param_data(nb_graph_find(g, "Gemm_0/b"))[1], -0.5f);
    /* relu(x W^T + b) at x = [1, -1, 2]: [1-2+6+0.5, 4-5+12-0.5] = [5.5, 10.5] */
    nb_graph_free(g);
    nb_model_file_free(mf);
}

/* GlobalAveragePool and GlobalMaxPool: nabla's global pools reshaped to
 * ONNX's [N, C, 1, 1]. */
Test(onnx_import, global_pools_keep_onnx_shape)
{
    t_need("onnx");
    t_need("hdf5");
    float x[8] = {1, 2, -3, 0, -1, 0.5f, 2, 1.5f};
    static const struct {
        const char *op, *yaml;
        float y[2];
    } cases[] = {{"GlobalAveragePool", "op: global_avgpool2d, inputs: [x]}", {0, 0.75f}},
                 {"GlobalMaxPool", "op: global_maxpool2d, inputs: [x]}", {2, 2}}};
    for (int c = 0; c < 2; c++) {
        pool_file("pool.onnx", cases[c].op, 4);
        nb_shape s;
        float *y = import_and_run("pool.onnx", x, &s);
        FILE *f = fopen(file("m.yaml"), "r");
        char text[4096] = {0};
        cr_assert(f && fread(text, 1, sizeof text - 1, f) > 0);
        fclose(f);
        cr_assert(strstr(text, cases[c].yaml), "%s: no '%s' in\n%s", cases[c].op, cases[c].yaml,
                  text);
        cr_assert(strstr(text, "op: reshape, inputs: [Pool_3], shape: [2, 1, 1]}"), "%s", text);
        cr_assert(s.rank == 4 && s.dim[1] == 2 && s.dim[2] == 1 && s.dim[3] == 1, "%s: rank %d",
                  cases[c].op, s.rank);
        for (int i = 0; i < 2; i++)
            cr_assert_float_eq(y[i], cases[c].y[i], 1e-6f, "%s: y[%d] = %g, not %g", cases[c].op,
                               i, y[i], cases[c].y[i]);
        free(y);
        unlink(file("m.yaml")), unlink(file("m.h5"));
    }
}

/* alpha and beta scale the imported weight and bias. */
Test(onnx_import, gemm_alpha_beta_scale_the_weights)
{
    t_need("onnx");
    t_need("hdf5");
    gemm_file("alpha.onnx", ALPHA);
    nb_error err = {0};
    cr_assert_eq(nb_onnx_import(file("alpha.onnx"), file("m.yaml"), file("m.h5"), &err), NB_OK,
                 "%s", err.message);
    nb_model_file *mf = nb_model_file_load(file("m.yaml"), &err);
    cr_assert(mf, "%s", err.message);
    nb_graph *g = nb_graph_new();
    nb_model_io io = {0};
    cr_assert_eq(nb_model_file_build(g, 2, &io, mf), NB_OK, "%s", nb_graph_error(g));
    cr_assert_eq(nb_weights_load(g, file("m.h5"), &err), NB_OK, "%s", err.message);
    const float *w = nb_param_data(nb_graph_find(g, "Gemm_0/w")), want[6] = {0.5f, 2, 1, 2.5f, 1.5f, 3};
    for (int i = 0; i < 6; i++)
        cr_assert_eq(w[i], want[i], "w[%d] = %g, not %g", i, w[i], want[i]);
    const float *b = nb_param_data(nb_graph_find(g, "Gemm_0/b"));
    cr_assert(b[0] == 1.0f && b[1] == -1.0f, "b = [%g, %g]", b[0], b[1]);
    nb_graph_free(g);
    nb_model_file_free(mf);
}

/* y = GAP(leaky_relu(3 · (x + C), 0.1)) with C [2, 1, 1] = [0.5, −1] a
 * parameter, 3 a full node, and the pool reshaped to ONNX's [N, 2, 1, 1]. */
Test(onnx_import, constants_in_arithmetic_and_global_pool)
{
    t_need("onnx");
    t_need("hdf5");
    arith_file("arith.onnx", ARITH);
    float x[8] = {1, 2, -3, 0, -1, 0.5f, 2, 1};
    nb_shape s;
    float *y = import_and_run("arith.onnx", x, &s);
    FILE *f = fopen(file("m.yaml"), "r");
    char text[4096] = {0};
    cr_assert(f && fread(text, 1, sizeof text - 1, f) > 0);
    fclose(f);
    const char *want[] = {"{name: C, op: param, shape: [2,1,1]}",
                          "{name: K, op: full, shape: [1], value: 3}",
                          "{name: Add_0, op: add, inputs: [x, C]}",
                          "{name: Mul_1, op: mul, inputs: [K, Add_0]}",
                          "op: leaky_relu, inputs: [Mul_1], alpha: 0.100000001}",
                          "op: global_avgpool2d, inputs: [Act_2]}",
                          "op: reshape, inputs: [Pool_3], shape: [2, 1, 1]}", NULL};
    for (int i = 0; want[i]; i++)
        cr_assert(strstr(text, want[i]), "missing %s in\n%s", want[i], text);
    /* channel 0: 3·(x + 0.5) = 4.5, 7.5, −7.5, 1.5 → leaky 4.5, 7.5, −0.75, 1.5 → mean 3.1875;
     * channel 1: 3·(x − 1) = −6, −1.5, 3, 0 → −0.6, −0.15, 3, 0 → mean 0.5625 */
    cr_assert_float_eq(y[0], 3.1875f, 1e-5f, "%g", y[0]);
    cr_assert_float_eq(y[1], 0.5625f, 1e-5f, "%g", y[1]);
    free(y);
}

Test(onnx_import, not_protobuf_or_truncated)
{
    t_need("onnx");
    write_bytes("text.onnx", "hello, this is not ONNX\n", 24);
    refused("text.onnx", "is not an ONNX model");
    gemm_file("ok.onnx", OK);
    FILE *f = fopen(file("ok.onnx"), "rb");
    uint8_t b[4096];
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    write_bytes("cut.onnx", b, n / 2);
    refused("cut.onnx", "is not an ONNX model");
    refused("missing.onnx", "cannot open");
}

Test(onnx_import, graph_faults_are_named)
{
    t_need("onnx");
    gemm_file("unknown.onnx", UNKNOWN);
    refused("unknown.onnx", "ONNX node 'Relu_1' (Gelu): the operator is not one nabla imports");
    gemm_file("undefined.onnx", UNDEFINED);
    refused("undefined.onnx", "ONNX node 'Gemm_0' (Gemm): reads 'ghost', which no earlier node");
    gemm_file("cycle.onnx", CYCLE);
    refused("cycle.onnx", "ONNX node 'Relu_1' (Relu): reads 'z'");
    gemm_file("huge.onnx", HUGE);
    refused("huge.onnx", "more than 2^31 elements");
}

Test(onnx_import, attributes_nabla_cannot_express)
{
    t_need("onnx");
    gemm_file("transa.onnx", TRANS_A);
    refused("transa.onnx", "ONNX node 'Gemm_0' (Gemm): transA = 1 (the input transposed, its "
            "batch axis moved) cannot be expressed");
    arith_file("batch.onnx", BATCH_CONST);
    refused("batch.onnx", "ONNX node 'Add_0' (Add): the constant 'B' of shape [2,2,2,2] does not "
            "broadcast to 'x' [N,2,2,2] without changing its shape or reaching into the batch axis");
    arith_file("both.onnx", BOTH_CONST);
    refused("both.onnx", "ONNX node 'Add_0' (Add): both inputs are constants");
    arith_file("mixed.onnx", MIXED);
    refused("mixed.onnx", "ONNX node 'Add_0' (Add): the input 'z' differs in shape from 'x' "
            "(broadcasting between two computed values is not imported)");
    arith_file("elu.onnx", ELU_ALPHA);
    refused("elu.onnx", "ONNX node 'Act_2' (Elu): alpha 2: nabla's elu takes alpha in [0, 1]");
    arith_file("leaky.onnx", LEAKY_ALPHA);
    refused("leaky.onnx", "ONNX node 'Act_2' (LeakyRelu): alpha 1.5: nabla's leaky_relu takes "
            "alpha in [0, 1]");
    image_file("neg.onnx", "Conv", 4, (int64_t[]){0, -1, 0, 1}, -1);
    refused("neg.onnx", "ONNX node 'Conv_3' (Conv): pads [0,-1,0,1]: each must be in 0..4096");
    image_file("wide.onnx", "MaxPool", 4, (int64_t[]){0, 0, 5000, 0}, -1);
    refused("wide.onnx", "ONNX node 'Pool_0' (MaxPool): pads [0,0,5000,0]: each must be in");
    image_file("strides.onnx", "MaxPool", 3, (int64_t[]){1, 1, 1}, -1);
    refused("strides.onnx", "'pads' has 3 values");
    pool_file("gap.onnx", "GlobalAveragePool", 2);
    refused("gap.onnx", "ONNX node 'Pool_3' (GlobalAveragePool): the input 'x' has rank 2: nabla "
            "pools images");
}

/* ---------------------------------------------------------------- ConvTranspose */

/* x [N, 2, 3, 3] → ConvTranspose(W [2, 3, 3, 3], B [3]) → y, kernel 3,
 * with `count` values of attribute `key` (NULL: stride 2, pads 1,
 * output_padding 1, the form PyTorch writes for a doubling layer). */
static void convt_file(const char *name, const char *key, int count, const int64_t *v)
{
    buf g = {0};
    int64_t xd[4] = {0, 2, 3, 3}, wd[4] = {2, 3, 3, 3}, bd[1] = {3};
    float w[54], b[3] = {0.5f, -1, 2};
    for (int i = 0; i < 54; i++)
        w[i] = (float)(i % 7) - 3;
    value(&g, 11, "x", 4, xd);
    init(&g, "W", 4, wd, w);
    init(&g, "B", 1, bd, b);
    buf n = node("ConvTranspose", "Up_0", "y", 3, (const char *[]){"x", "W", "B"});
    attr_ints(&n, "kernel_shape", 2, (int64_t[]){3, 3});
    if (!key || strcmp(key, "strides"))
        attr_ints(&n, "strides", 2, (int64_t[]){2, 2});
    if (!key || strcmp(key, "pads"))
        attr_ints(&n, "pads", 4, (int64_t[]){1, 1, 1, 1});
    if (!key || strcmp(key, "output_padding"))
        attr_ints(&n, "output_padding", 2, (int64_t[]){1, 1});
    if (key && !strcmp(key, "group"))
        attr_int(&n, "group", v[0]);
    else if (key)
        attr_ints(&n, key, count, v);
    f_msg(&g, 1, &n);
    value(&g, 12, "y", 4, (int64_t[]){0, 3, 6, 6});
    buf m = model(&g);
    write_bytes(name, m.p, m.n);
    free(m.p);
}

Test(onnx_import, conv_transpose_becomes_conv_transpose2d)
{
    t_need("onnx");
    t_need("hdf5");
    convt_file("up.onnx", NULL, 0, NULL);
    nb_error err = {0};
    cr_assert_eq(nb_onnx_import(file("up.onnx"), file("m.yaml"), file("m.h5"), &err), NB_OK,
                 "%s", err.message);
    nb_model_file *mf = nb_model_file_load(file("m.yaml"), &err);
    cr_assert(mf, "%s", err.message);
    nb_graph *g = nb_graph_new();
    nb_model_io io = {0};
    cr_assert_eq(nb_model_file_build(g, 2, &io, mf), NB_OK, "%s", nb_graph_error(g));
    cr_assert_eq(nb_weights_load(g, file("m.h5"), &err), NB_OK, "%s", err.message);
    cr_assert(nb_shape_equal(nb_node_shape(io.output), NB_SHAPE(2, 3, 6, 6)));
    const nb_layer_record *r = nb_graph_layer(g, 0);
    cr_assert(r && r->kind == NB_LAYER_CONV_TRANSPOSE2D);
    cr_assert(r->conv_transpose.stride == 2 && r->conv_transpose.pad == 1 &&
              r->conv_transpose.output_padding == 1 && r->conv_transpose.filters == 3);
    const float *w = nb_param_data(nb_graph_find(g, "Up_0/w"));
    for (int i = 0; i < 54; i++) /* [C, F, kh, kw] as it stands */
        cr_assert_eq(w[i], (float)(i % 7) - 3, "w[%d]", i);
    cr_assert_eq(nb_param_data(nb_graph_find(g, "Up_0/b"))[2], 2.0f);
    nb_graph_free(g);
    nb_model_file_free(mf);
    unlink(file("m.yaml"));
    unlink(file("m.h5"));
}

Test(onnx_import, conv_transpose_attributes_nabla_cannot_express)
{
    t_need("onnx");
    convt_file("shape.onnx", "output_shape", 2, (int64_t[]){6, 6});
    refused("shape.onnx", "ONNX node 'Up_0' (ConvTranspose): output_shape cannot be expressed");
    convt_file("pads.onnx", "pads", 4, (int64_t[]){0, 1, 1, 0});
    refused("pads.onnx", "ONNX node 'Up_0' (ConvTranspose): asymmetric pads [0,1,1,0]");
    convt_file("op2.onnx", "output_padding", 2, (int64_t[]){1, 0});
    refused("op2.onnx", "output_padding [1,0]: nabla takes one output_padding for both axes");
    convt_file("opbig.onnx", "output_padding", 2, (int64_t[]){2, 2});
    refused("opbig.onnx", "output_padding 2 is not below the stride 2 or the dilation 1");
    convt_file("st.onnx", "strides", 2, (int64_t[]){2, 1});
    refused("st.onnx", "strides [2,1]: nabla takes one stride for both axes");
    convt_file("group.onnx", "group", 1, (int64_t[]){3});
    refused("group.onnx", "does not fit 2 input channels in 3 groups");
    convt_file("dil.onnx", "dilations", 3, (int64_t[]){1, 1, 1});
    refused("dil.onnx", "'dilations' has 3 values");
}

/* Imports name and returns the model file's text (caller frees). */
static char *imported_yaml(const char *name)
{
    nb_error err = {0};
    cr_assert_eq(nb_onnx_import(file(name), file("m.yaml"), file("m.h5"), &err), NB_OK, "%s: %s",
                 name, err.message);
    FILE *f = fopen(file("m.yaml"), "rb");
    cr_assert(f);
    char *text = calloc(1, 1 << 16);
    fread(text, 1, (1 << 16) - 1, f);
    fclose(f);
    remove(file("m.yaml"));
    remove(file("m.h5"));
    return text;
}

/* Pads per side and AveragePool's count without the padding (ONNX's
 * default) come over as the model file's words. */
Test(onnx_import, pads_per_side_and_counts_without_padding)
{
    t_need("onnx");
    t_need("hdf5");
    image_file("pads.onnx", "Conv", 4, (int64_t[]){0, 1, 0, 1}, -1);
    char *y = imported_yaml("pads.onnx");
    cr_assert(strstr(y, "kernel: 3, pad: [0, 1], groups: 1"), "%s", y);
    free(y);
    image_file("sides.onnx", "Conv", 4, (int64_t[]){1, 0, 2, 1}, -1);
    y = imported_yaml("sides.onnx");
    cr_assert(strstr(y, "kernel: 3, pad: [1, 0, 2, 1], groups: 1"), "%s", y);
    free(y);
    image_file("avg.onnx", "AveragePool", 4, (int64_t[]){1, 1, 1, 1}, 0);
    y = imported_yaml("avg.onnx");
    cr_assert(strstr(y, "size: 3, stride: 1, pad: 1, count_include_pad: false}"), "%s", y);
    free(y);
    image_file("avg1.onnx", "AveragePool", 4, (int64_t[]){1, 1, 1, 1}, 1);
    y = imported_yaml("avg1.onnx");
    cr_assert(strstr(y, "size: 3, stride: 1, pad: 1}"), "%s", y);
    free(y);
    image_file("max.onnx", "MaxPool", 4, (int64_t[]){0, 1, 1, 0}, -1);
    y = imported_yaml("max.onnx");
    cr_assert(strstr(y, "size: 3, stride: 1, pad: [0, 1, 1, 0]}"), "%s", y);
    free(y);
}

/* ---------------------------------------------------------------- GroupNorm */

/* An int64 initialiser [n] (int64_data). */
static void init_ints(buf *graph, const char *name, int n, const int64_t *v)
{
    buf t = {0};
    f_int(&t, 1, n), f_int(&t, 2, 7), f_str(&t, 8, name);
    for (int i = 0; i < n; i++)
        f_int(&t, 7, v[i]);
    f_msg(graph, 5, &t);
}

/* What torch.onnx.export writes for nn.GroupNorm(2, 4) on x [N, 4, 2, 2]:
 * Reshape(x, [0, 2, -1]) → InstanceNormalization(ones, zeros) → Shape(x)
 * → Reshape → Mul γ [4, 1, 1] → Add β [4, 1, 1] → y. Variants break one
 * link of that chain. */
enum { GN_OK, GN_ALONE, GN_SCALE, GN_NO_BACK, GN_PER_POSITION, GN_VIEW };

static void gn_file(const char *name, int variant)
{
    buf g = {0};
    int64_t xd[4] = {0, 4, 2, 2}, cd[3] = {4, 1, 1}, pd[3] = {4, 2, 2}, gd[1] = {2};
    float ones[2] = {1, variant == GN_SCALE ? 3.0f : 1}, zeros[2] = {0, 0};
    float gamma[16] = {0.5f, 2, -1, 1.5f}, beta[16] = {0.25f, -1, 0, 3};
    value(&g, 11, "x", 4, xd);
    init_ints(&g, "S", 3, variant == GN_VIEW ? (int64_t[]){0, 3, -1} : (int64_t[]){0, 2, -1});
    init(&g, "one", 1, gd, ones);
    init(&g, "zero", 1, gd, zeros);
    init(&g, "G", 3, variant == GN_PER_POSITION ? pd : cd, gamma);
    init(&g, "B", 3, cd, beta);
    const char *in0 = variant == GN_ALONE ? "x" : "v";
    if (variant != GN_ALONE) {
        buf r = node("Reshape", "Reshape_0", "v", 2, (const char *[]){"x", "S"});
        f_msg(&g, 1, &r);
    }
    buf in = node("InstanceNormalization", "Norm_1", variant == GN_NO_BACK ? "y" : "n", 3,
                  (const char *[]){in0, "one", "zero"});
    attr_float(&in, "epsilon", 1e-3f);
    f_msg(&g, 1, &in);
    if (variant != GN_NO_BACK) {
        buf s = node("Shape", "Shape_2", "s", 1, (const char *[]){"x"});
        buf r = node("Reshape", "Reshape_3", "r", 2, (const char *[]){"n", "s"});
        buf mu = node("Mul", "Mul_4", "m", 2, (const char *[]){"r", "G"});
        buf ad = node("Add", "Add_5", "y", 2, (const char *[]){"m", "B"});
        f_msg(&g, 1, &s), f_msg(&g, 1, &r), f_msg(&g, 1, &mu), f_msg(&g, 1, &ad);
    }
    value(&g, 12, "y", 4, xd);
    buf m = model(&g);
    write_bytes(name, m.p, m.n);
    free(m.p);
}

Test(onnx_import, pytorch_groupnorm_becomes_groupnorm)
{
    t_need("onnx");
    t_need("hdf5");
    gn_file("gn.onnx", GN_OK);
    nb_error err = {0};
    cr_assert_eq(nb_onnx_import(file("gn.onnx"), file("m.yaml"), file("m.h5"), &err), NB_OK,
                 "%s", err.message);
    nb_model_file *mf = nb_model_file_load(file("m.yaml"), &err);
    cr_assert(mf, "%s", err.message);
    nb_graph *g = nb_graph_new();
    nb_model_io io = {0};
    cr_assert_eq(nb_model_file_build(g, 2, &io, mf), NB_OK, "%s", nb_graph_error(g));
    cr_assert_eq(nb_weights_load(g, file("m.h5"), &err), NB_OK, "%s", err.message);
    cr_assert(nb_shape_equal(nb_node_shape(io.output), NB_SHAPE(2, 4, 2, 2)));
    const nb_layer_record *r = nb_graph_layer(g, 0);
    cr_assert(r && r->kind == NB_LAYER_GROUPNORM, "a groupnorm layer");
    for (int i = 1; i < nb_graph_num_layers(g); i++) /* and then only the loss */
        cr_assert(nb_graph_layer(g, i)->kind >= NB_LAYER_SOFTMAX_CROSS_ENTROPY &&
                  nb_graph_layer(g, i)->kind <= NB_LAYER_HUBER, "layer %d is %s", i,
                  nb_layer_kind_name(nb_graph_layer(g, i)->kind));
    cr_assert(r->groupnorm.groups == 2 && !r->groupnorm.no_affine);
    cr_assert_float_eq(r->groupnorm.eps, 1e-3f, 1e-9f);
    const float *gm = nb_param_data(nb_graph_find(g, "Norm_1/gamma"));
    const float *bt = nb_param_data(nb_graph_find(g, "Norm_1/beta"));
    cr_assert(gm[0] == 0.5f && gm[1] == 2 && gm[2] == -1 && gm[3] == 1.5f, "gamma");
    cr_assert(bt[0] == 0.25f && bt[1] == -1 && bt[2] == 0 && bt[3] == 3, "beta");
    nb_graph_free(g);
    nb_model_file_free(mf);
    unlink(file("m.yaml"));
    unlink(file("m.h5"));
}

/* An InstanceNormalization that does not fit its input, and a GroupNorm
 * chain with a link nabla cannot express, are refused naming the node. */
Test(onnx_import, groupnorm_chains_nabla_cannot_express)
{
    t_need("onnx");
    gn_file("alone.onnx", GN_ALONE); /* the scale is [2] for 4 channels */
    refused("alone.onnx", "ONNX node 'Norm_1' (InstanceNormalization): nabla takes an "
                          "InstanceNormalization of x [N, C, …] with a scale and a bias [C]");
    gn_file("scale.onnx", GN_SCALE);
    refused("scale.onnx", "ONNX node 'Norm_1' (InstanceNormalization): on a GroupNorm's view "
                          "nabla takes a scale of ones");
    gn_file("back.onnx", GN_NO_BACK);
    refused("back.onnx", "ONNX node 'Norm_1' (InstanceNormalization): is not followed by a "
                         "Reshape back to the shape of 'x'");
    gn_file("pos.onnx", GN_PER_POSITION);
    refused("pos.onnx", "ONNX node 'Mul_4' (Mul): the group norm's γ (the Mul) 'G' is not one "
                        "value per channel");
    gn_file("view.onnx", GN_VIEW);
    refused("view.onnx", "ONNX node 'Reshape_0' (Reshape): before an InstanceNormalization");
}

/* x [N, 4, 2, 2] → InstanceNormalization(scale S [4], bias B [4]) → y:
 * PyTorch's nn.InstanceNorm2d(4, affine=True), groupnorm with 4 groups. */
Test(onnx_import, instance_norm_becomes_groupnorm_of_single_channels)
{
    t_need("onnx");
    t_need("hdf5");
    buf g = {0};
    int64_t xd[4] = {0, 4, 2, 2}, cd[1] = {4};
    float sc[4] = {0.5f, 2, -1, 1.5f}, bi[4] = {0.25f, -1, 0, 3};
    value(&g, 11, "x", 4, xd);
    init(&g, "S", 1, cd, sc);
    init(&g, "B", 1, cd, bi);
    buf in = node("InstanceNormalization", "Inst_0", "y", 3, (const char *[]){"x", "S", "B"});
    f_msg(&g, 1, &in);
    value(&g, 12, "y", 4, xd);
    buf m = model(&g);
    write_bytes("in.onnx", m.p, m.n);
    free(m.p);
    nb_error err = {0};
    cr_assert_eq(nb_onnx_import(file("in.onnx"), file("m.yaml"), file("m.h5"), &err), NB_OK,
                 "%s", err.message);
    nb_model_file *mf = nb_model_file_load(file("m.yaml"), &err);
    cr_assert(mf, "%s", err.message);
    nb_graph *gr = nb_graph_new();
    nb_model_io io = {0};
    cr_assert_eq(nb_model_file_build(gr, 1, &io, mf), NB_OK, "%s", nb_graph_error(gr));
    cr_assert_eq(nb_weights_load(gr, file("m.h5"), &err), NB_OK, "%s", err.message);
    const nb_layer_record *r = nb_graph_layer(gr, 0);
    cr_assert(r && r->kind == NB_LAYER_GROUPNORM && r->groupnorm.groups == 4 &&
              !r->groupnorm.no_affine);
    const float *gm = nb_param_data(nb_graph_find(gr, "Inst_0/gamma"));
    const float *bt = nb_param_data(nb_graph_find(gr, "Inst_0/beta"));
    for (int k = 0; k < 4; k++)
        cr_assert(gm[k] == sc[k] && bt[k] == bi[k], "gamma, beta [%d]", k);
    nb_graph_free(gr);
    nb_model_file_free(mf);
    unlink(file("m.yaml"));
    unlink(file("m.h5"));
}
