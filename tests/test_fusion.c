/*
 * Fusion (ops/fusion.c, graph/plan.c): every pattern gives, within float
 * rounding, the values the plain kernels give (nb_set_fusion(false)), at 1
 * and 2 threads with the same bits at both, on odd shapes (batch 1, widths
 * that are not multiples of the vector width, more rows than one block of
 * the fused product; pooling with stride below and above the size,
 * padding, odd images, ties); a value that anything else reads (another
 * node, the caller, a gradient) is never folded or dropped; the pooling
 * columns that nothing reads any more get no step and no buffer;
 * NABLA_FUSION=0 turns fusion off; and short training runs (an MLP, a
 * small CNN with both poolings) give the same losses both ways.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define MAX_OUT 8
#define MAX_IN 4

typedef struct case_t {
    nb_graph *g;
    nb_node *in[MAX_IN];
    float *data[MAX_IN];
    int n_in;
    nb_node *out[MAX_OUT];
    int n_out;
} case_t;

/* An input of the given shape with seeded values in [lo, hi]. */
static nb_node *input(case_t *c, nb_shape s, float lo, float hi)
{
    char name[16];
    snprintf(name, sizeof name, "in%d", c->n_in);
    nb_node *x = nb_input(c->g, name, s);
    int k = c->n_in++;
    int64_t n = nb_shape_numel(s);
    c->in[k] = x;
    c->data[k] = malloc((size_t)n * sizeof(float));
    t_fill(c->data[k], n, 100 + (uint64_t)k, lo, hi);
    return x;
}

/* A runtime for c's outputs, made with fusion on or off, fed and run. */
static nb_runtime *made(case_t *c, bool fuse)
{
    nb_set_fusion(fuse);
    nb_runtime *rt = nb_runtime_new(c->g, c->out, c->n_out);
    cr_assert_not_null(rt, "%s", nb_graph_error(c->g));
    for (int k = 0; k < c->n_in; k++)
        cr_assert_eq(nb_runtime_set_input(rt, c->in[k], c->data[k]), NB_OK);
    cr_assert_eq(nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt));
    return rt;
}

/* Runs c both ways at 1 and 2 threads (t_fused_both_ways); returns how
 * many steps fusion saved. */
static int both_ways(case_t *c, float tol)
{
    return t_fused_both_ways(c->g, c->out, c->n_out, c->in, c->data, c->n_in, tol);
}

static void case_free(case_t *c)
{
    for (int k = 0; k < c->n_in; k++)
        free(c->data[k]);
    nb_graph_free(c->g);
}

/* A dense layer x·w + b → activation, its loss and every gradient. */
static int dense_case(int64_t batch, int64_t in, int64_t units, nb_activation act)
{
    case_t c = {.g = nb_graph_new()};
    nb_node *x = input(&c, NB_SHAPE(batch, in), -1, 1);
    nb_node *w = input(&c, NB_SHAPE(in, units), -0.5f, 0.5f);
    nb_node *b = input(&c, NB_SHAPE(units), -0.5f, 0.5f);
    nb_node *z = nb_add(c.g, nb_matmul(c.g, x, w, false, false), b);
    nb_node *y = act == NB_ACT_RELU ? nb_relu(c.g, z) : act == NB_ACT_TANH ? nb_tanh(c.g, z)
                                                                          : nb_sigmoid(c.g, z);
    nb_node *loss = nb_sum(c.g, nb_mul(c.g, y, y), NULL, 0, false);
    nb_node *wrt[3] = {x, w, b}, *d[3];
    cr_assert_eq(nb_grad(c.g, loss, wrt, 3, d), NB_OK, "%s", nb_graph_error(c.g));
    c.out[c.n_out++] = y;
    c.out[c.n_out++] = loss;
    for (int k = 0; k < 3; k++)
        c.out[c.n_out++] = d[k];
    int saved = both_ways(&c, 1e-5f);
    case_free(&c);
    return saved;
}

Test(fusion, dense_bias_activation_forward_and_backward)
{
    const nb_activation acts[] = {NB_ACT_RELU, NB_ACT_TANH, NB_ACT_SIGMOID};
    /* Batch 1; 13 and 37 (no multiple of 8 or 16); 131 rows: three row
     * blocks of the fused product, split across threads. */
    const int64_t shapes[][3] = {{1, 13, 37}, {3, 7, 11}, {131, 29, 67}, {70, 200, 9}};
    for (size_t a = 0; a < 3; a++)
        for (size_t s = 0; s < 4; s++)
            cr_assert_gt(dense_case(shapes[s][0], shapes[s][1], shapes[s][2], acts[a]), 0,
                         "some group fused");
}

/* A product transposed, with an epilogue that reads a whole operand and a
 * scalar: xᵀ·d + r, times 0.5 (a weight gradient plus a decay term). */
Test(fusion, transposed_product_with_full_and_scalar_operands)
{
    case_t c = {.g = nb_graph_new()};
    nb_node *x = input(&c, NB_SHAPE(33, 19), -1, 1);
    nb_node *d = input(&c, NB_SHAPE(33, 23), -1, 1);
    nb_node *r = input(&c, NB_SHAPE(19, 23), -1, 1);
    nb_node *y = nb_mul(c.g, nb_add(c.g, nb_matmul(c.g, x, d, true, false), r),
                        nb_scalar(c.g, 0.5f));
    c.out[c.n_out++] = y;
    cr_assert_eq(both_ways(&c, 1e-5f), 2, "matmul, add and mul are one step");
    case_free(&c);
}

/* Elementwise chains of every op the chain kernel has, forward: unary ops,
 * binary ops on whole, row and scalar operands, the running value on either
 * side (1 - s), and a chain that loads a row. */
Test(fusion, elementwise_chains_every_op)
{
    case_t c = {.g = nb_graph_new()};
    nb_graph *g = c.g;
    nb_node *x = input(&c, NB_SHAPE(5, 3, 67), 0.1f, 2);
    nb_node *u = input(&c, NB_SHAPE(5, 3, 67), -2, 2);
    nb_node *row = input(&c, NB_SHAPE(67), 0.5f, 1.5f);
    nb_node *one = nb_scalar(g, 1.0f);
    c.out[c.n_out++] = nb_sqrt(g, nb_abs(g, nb_neg(g, nb_log(g, nb_exp(g, x)))));
    c.out[c.n_out++] = nb_sub(g, one, nb_sigmoid(g, nb_tanh(g, nb_mul(g, u, row))));
    c.out[c.n_out++] = nb_div(g, nb_pow(g, nb_add(g, x, row), nb_scalar(g, 1.5f)), u);
    c.out[c.n_out++] = nb_add(g, nb_sign(g, nb_sub(g, u, x)),
                              nb_mul(g, nb_gt(g, u, x), nb_ge(g, x, u)));
    c.out[c.n_out++] = nb_min(g, nb_max(g, nb_mul(g, row, u), nb_scalar(g, -0.5f)), x);
    c.out[c.n_out++] = nb_eq(g, nb_relu(g, u), nb_add(g, u, nb_scalar(g, 0.0f)));
    c.out[c.n_out++] = nb_exp(g, nb_neg(g, nb_add(g, row, u)));
    cr_assert_geq(both_ways(&c, 1e-6f), 10);
    case_free(&c);
}

/* Backward chains: the gradients of relu, tanh and sigmoid layers without
 * products (dy·(x > 0), dy·(1 - t²), dy·s·(1 - s)). */
Test(fusion, elementwise_backward_chains)
{
    case_t c = {.g = nb_graph_new()};
    nb_graph *g = c.g;
    nb_node *x = input(&c, NB_SHAPE(1, 45), -2, 2);
    nb_node *v = input(&c, NB_SHAPE(1, 45), -1, 1);
    nb_node *y = nb_sigmoid(g, nb_tanh(g, nb_relu(g, nb_mul(g, x, v))));
    nb_node *loss = nb_sum(g, nb_mul(g, y, nb_exp(g, v)), NULL, 0, false);
    nb_node *wrt[2] = {x, v}, *d[2];
    cr_assert_eq(nb_grad(g, loss, wrt, 2, d), NB_OK, "%s", nb_graph_error(g));
    c.out[c.n_out++] = loss;
    c.out[c.n_out++] = d[0];
    c.out[c.n_out++] = d[1];
    cr_assert_gt(both_ways(&c, 1e-5f), 0);
    case_free(&c);
}

/* A value inside a chain that the caller fetches, or that another node
 * reads, is never folded: it keeps its value, and the chain still gives
 * the same result. */
Test(fusion, values_read_elsewhere_are_kept)
{
    case_t c = {.g = nb_graph_new()};
    nb_graph *g = c.g;
    nb_node *x = input(&c, NB_SHAPE(4, 9), -1, 1);
    nb_node *w = input(&c, NB_SHAPE(9, 10), -1, 1);
    nb_node *b = input(&c, NB_SHAPE(10), -1, 1);
    nb_node *z = nb_add(g, nb_matmul(g, x, w, false, false), b); /* fetched */
    nb_node *h = nb_tanh(g, z);
    nb_node *e = nb_exp(g, x);                                  /* read twice */
    nb_node *f = nb_mul(g, nb_neg(g, e), e);
    c.out[c.n_out++] = h;
    c.out[c.n_out++] = z;
    c.out[c.n_out++] = f;
    both_ways(&c, 1e-6f);
    nb_set_fusion(true);
    nb_runtime *rt = made(&c, true);
    const float *zv = nb_runtime_value(rt, z), *xv = c.data[0];
    cr_assert_not_null(zv, "an output inside a chain keeps its value");
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 10; j++) {
            float want = c.data[2][j];
            for (int k = 0; k < 9; k++)
                want += xv[i * 9 + k] * c.data[1][k * 10 + j];
            cr_assert_float_eq(zv[i * 10 + j], want, 1e-5f, "z[%d,%d]", i, j);
        }
    for (int i = 0; i < 36; i++)
        cr_assert_float_eq(nb_runtime_value(rt, f)[i], -expf(xv[i]) * expf(xv[i]), 1e-5f);
    nb_runtime_free(rt);
    case_free(&c);
}

/* The last step of a runtime for h alone: its pattern, or NULL. */
static const char *last_pattern(nb_runtime *rt)
{
    nb_runtime_step_info s;
    cr_assert(nb_runtime_step(rt, nb_runtime_num_steps(rt) - 1, &s));
    return s.pattern;
}

/* Chains on values under 32 floats keep their plain steps (ops/fusion.c:
 * there the plain kernels are cheaper): a dense tanh layer of 2 units is
 * matmul, add and tanh at batch 15 (30 floats) and one product+epilogue
 * step, with the same values, at batch 16 (32); and XOR's whole training
 * graph at batch 4 has no fused group at all. */
Test(fusion, tiny_values_keep_their_plain_steps)
{
    nb_set_fusion(true);
    for (int64_t batch = 15; batch <= 16; batch++) {
        case_t c = {.g = nb_graph_new()};
        nb_node *x = input(&c, NB_SHAPE(batch, 2), -1, 1);
        c.out[c.n_out++] = nb_dense(c.g, x, (nb_dense_opts){.units = 2, .activation = NB_ACT_TANH});
        nb_runtime *rt = made(&c, true);
        const char *pattern = last_pattern(rt);
        if (batch == 15) {
            cr_assert_eq(nb_runtime_num_steps(rt), 3, "batch 15: matmul, add, tanh");
            cr_assert_null(pattern, "batch 15: no group");
        } else {
            cr_assert_eq(nb_runtime_num_steps(rt), 1, "batch 16: one step");
            cr_assert_str_eq(pattern, "product+epilogue");
            cr_assert_eq(both_ways(&c, 1e-6f), 2);
        }
        nb_runtime_free(rt);
        nb_set_fusion(true);
        case_free(&c);
    }
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(4, 2)), *y = nb_input(g, "y", NB_SHAPE(4, 1));
    nb_node *h = nb_dense(g, x, (nb_dense_opts){.units = 2, .activation = NB_ACT_TANH});
    nb_node *o = nb_dense(g, h, (nb_dense_opts){.units = 1, .activation = NB_ACT_SIGMOID});
    nb_node *d = nb_sub(g, o, y);
    nb_node *out[6] = {nb_mean(g, nb_mul(g, d, d), NULL, 0, false)}, *p[4];
    for (int i = 0; i < 4; i++)
        p[i] = nb_graph_param(g, i);
    cr_assert_eq(nb_grad(g, out[0], p, 4, out + 1), NB_OK, "%s", nb_graph_error(g));
    out[5] = o;
    nb_runtime *rt = nb_runtime_new(g, out, 6);
    cr_assert_not_null(rt, "%s", nb_graph_error(g));
    for (int i = 0; i < nb_runtime_num_steps(rt); i++) {
        nb_runtime_step_info s;
        cr_assert(nb_runtime_step(rt, i, &s));
        cr_assert_null(s.pattern, "XOR at batch 4: step %d is plain", i);
    }
    nb_runtime_free(rt);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- pooling */

/* The planned bytes of a runtime for c's outputs, fusion on or off. */
static size_t planned_bytes(case_t *c, bool fuse)
{
    nb_runtime *rt = made(c, fuse);
    size_t b = nb_runtime_planned_bytes(rt);
    nb_runtime_free(rt);
    nb_set_fusion(true);
    return b;
}

/* One pooling layer on an image [n, ch, h, w], its output p, and with
 * `grad` the loss Σ p·u (u seeded, so every window gets its own gradient)
 * and the image's gradient; `flat` makes every pixel the same value (every
 * window a tie). Checks both ways, which steps go, and that the plan
 * without the columns needs fewer bytes. */
static void pool_case(bool max, bool grad, int64_t n, int64_t ch, int64_t h, int64_t w,
                      nb_pool2d_opts o, bool flat)
{
    /* Windows the same on both axes and both sides, every mean over the
     * window's size: the steps counted below go. Otherwise at least the
     * columns and their view go (an average's divisor may be a constant
     * of counts, a step of its own, and uneven padding an nb_pad). */
    const bool uniform = !o.kh && !o.kw && !o.sh && !o.sw && !o.dh && !o.dw && !o.dilation &&
                         !o.pads[0] && !o.pads[1] && !o.pads[2] && !o.pads[3] && !o.ceil_mode &&
                         !o.exclude_pad;
    case_t c = {.g = nb_graph_new()};
    nb_graph *g = c.g;
    nb_node *x = input(&c, NB_SHAPE(n, ch, h, w), -2, 2);
    if (flat)
        for (int64_t i = 0; i < n * ch * h * w; i++)
            c.data[0][i] = 0.75f;
    nb_node *p = max ? nb_maxpool2d(g, x, o) : nb_avgpool2d(g, x, o);
    c.out[c.n_out++] = p;
    if (grad) {
        nb_node *u = input(&c, nb_node_shape(p), -1, 1);
        nb_node *loss = nb_sum(g, nb_mul(g, p, u), NULL, 0, false), *dx;
        cr_assert_eq(nb_grad(g, loss, &x, 1, &dx), NB_OK, "%s", nb_graph_error(g));
        c.out[c.n_out++] = dx;
    }
    /* Forward: unfold2d and the columns' view go (and the mean's scaling
     * joins the sum). Backward: max pooling's eq, sum, div, mul and the
     * reshape before fold2d; average pooling's expand and that reshape. */
    const int saved = max ? (grad ? 7 : 2) : (grad ? 5 : 3), got = both_ways(&c, 1e-5f);
    cr_assert(uniform ? got == saved : got >= 2, "%s pool %lldx%lldx%lldx%lld size %d stride %d pad %d",
                 max ? "max" : "avg", (long long)n, (long long)ch, (long long)h, (long long)w,
                 o.size, o.stride, o.pad);
    cr_assert_lt(planned_bytes(&c, true), planned_bytes(&c, false), "the columns get no buffer");
    case_free(&c);
}

/* Max and average pooling, forward and backward, as one kernel each that
 * reads the image (the max gradient: with the pooled values and their
 * gradient): stride below, equal to and above the size, padding (max
 * pooling's own -inf pad step, average pooling's zeros through the
 * window), odd image sizes, batch 1, ties shared equally, LeNet-5's first
 * pooling, tiling windows 2 and 3 wide (the max gradient's rows of
 * windows). */
Test(fusion, pooling_reads_the_image)
{
    const nb_pool2d_opts opts[] = {{.size = 3, .stride = 2, .pad = 1}, {.size = 2},
                                   {.size = 3, .stride = 1}, {.size = 2, .stride = 3, .pad = 1},
                                   {.size = 3}, {.kh = 1, .kw = 2}};
    for (int grad = 0; grad <= 1; grad++) {
        for (int max = 0; max <= 1; max++)
            for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
                pool_case(max, grad, 1, 3, 7, 9, opts[k], false);
                pool_case(max, grad, 2, 5, 8, 6, opts[k], false);
                pool_case(max, grad, 1, 3, 7, 9, opts[k], true);
            }
        pool_case(true, grad, 64, 6, 28, 28, (nb_pool2d_opts){.size = 2}, false);
        /* Per axis, uneven padding, ceil mode, averages without the padding. */
        const nb_pool2d_opts axes[] = {
            {.kh = 3, .kw = 2, .sh = 2, .sw = 1, .pad = 1},
            {.size = 3, .stride = 2, .pad = 1, .ceil_mode = true},
            {.size = 3, .sh = 2, .sw = 3, .pads = {1, 0, 0, 2}, .ceil_mode = true,
             .exclude_pad = true},
            {.size = 2, .stride = 1, .dh = 2, .pads = {1, 1, 0, 0}},
            {.size = 2, .pad = 1, .exclude_pad = true},
        };
        for (int max = 0; max <= 1; max++)
            for (size_t k = 0; k < sizeof axes / sizeof axes[0]; k++) {
                pool_case(max, grad, 1, 3, 7, 9, axes[k], false);
                pool_case(max, grad, 2, 5, 8, 6, axes[k], false);
            }
        /* Planes too large for the fast paths' scratch: the plain loops. */
        for (int flat = 0; flat <= 1; flat++)
            pool_case(true, grad, 1, 2, 70, 70, (nb_pool2d_opts){.size = 3, .stride = 1}, flat);
    }
}

/* The steps of pattern `name` in c's fused plan. */
static int steps_of(case_t *c, const char *name)
{
    nb_runtime *rt = made(c, true);
    int n = 0;
    nb_runtime_step_info s;
    for (int i = 0; nb_runtime_step(rt, i, &s); i++)
        n += s.pattern && !strcmp(s.pattern, name);
    nb_runtime_free(rt);
    return n;
}

/* Whether a step of c's fused plan computes node n. */
static bool has_step_for(case_t *c, const nb_node *n)
{
    nb_runtime *rt = made(c, true);
    bool found = false;
    nb_runtime_step_info s;
    for (int i = 0; nb_runtime_step(rt, i, &s); i++)
        for (int k = 0; k < s.n_nodes; k++)
            found |= s.nodes[k] == n;
    nb_runtime_free(rt);
    return found;
}

/* A relu before max pooling: its gradient, mul(max gradient, ge(z, 0)),
 * joins the max gradient's group (as gt(z, 0) for max(0, z), ties going
 * to the 0), with the plain steps' values at 1 and 2 threads: tiling
 * windows 2 and 3 wide and overlapping ones, odd sizes, batch 1, and an
 * image of zeros (every window a tie, every mask at its edge). Padded
 * pooling puts its pad step's gradient between: no group then. With 2×2
 * windows on an AVX2 CPU both poolings read the relu's input instead of
 * its value, and nb_relu's max gets no step. */
Test(fusion, relu_gradient_joins_the_max_gradient)
{
    const nb_pool2d_opts opts[] = {{.size = 2}, {.size = 3}, {.size = 3, .stride = 1},
                                   {.size = 2, .stride = 3}, {.size = 3, .stride = 2, .pad = 1}};
    const int64_t dims[][4] = {{1, 3, 7, 9}, {2, 5, 8, 6}, {3, 2, 12, 10}, {2, 3, 21, 37}};
    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++)
        for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
            for (int form = 0; form < 3; form++) { /* ge; gt; ge on an image of zeros */
                case_t c = {.g = nb_graph_new()};
                nb_graph *g = c.g;
                nb_node *x = input(&c, NB_SHAPE(dims[d][0], dims[d][1], dims[d][2], dims[d][3]),
                                   -2, 2);
                if (form == 2)
                    memset(c.data[0], 0, (size_t)nb_shape_numel(nb_node_shape(x)) * 4);
                nb_node *r = form == 1 ? nb_max(g, nb_scalar(g, 0.0f), x) : nb_relu(g, x);
                nb_node *p = nb_maxpool2d(g, r, opts[k]);
                nb_node *u = input(&c, nb_node_shape(p), -1, 1);
                nb_node *loss = nb_sum(g, nb_mul(g, p, u), NULL, 0, false), *dx;
                cr_assert_eq(nb_grad(g, loss, &x, 1, &dx), NB_OK, "%s", nb_graph_error(g));
                c.out[c.n_out++] = p;
                c.out[c.n_out++] = dx;
                cr_assert_gt(both_ways(&c, 1e-5f), 0);
                cr_assert_eq(steps_of(&c, "maxpool+relu gradient"), opts[k].pad ? 0 : 1,
                             "window %zu image %zu form %d", k, d, form);
                const bool past = k == 0 && form != 1 && __builtin_cpu_supports("avx2") &&
                                  __builtin_cpu_supports("fma");
                cr_assert_eq(has_step_for(&c, r), !past, "window %zu image %zu form %d", k, d,
                             form);
                case_free(&c);
            }
}

/* A convolution whose relu runs in its epilogue, then 2×2 max pooling:
 * the pooling reads the convolution's value past the relu, which moves
 * out of the epilogue and gets no step; the same values both ways, forward
 * alone and in training, odd sizes, batch 1. */
Test(fusion, relu_between_convolution_and_pooling)
{
    const int64_t dims[][4] = {{1, 3, 9, 11}, {2, 2, 12, 16}};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (int train = 0; train <= 1; train++) {
            case_t c = {.g = nb_graph_new()};
            nb_graph *g = c.g;
            nb_node *x = input(&c, NB_SHAPE(dims[d][0], dims[d][1], dims[d][2], dims[d][3]), -2, 2);
            nb_node *y = nb_conv2d(g, x, (nb_conv2d_opts){.filters = 5, .kernel = 3, .pad = 1,
                                                           .activation = NB_ACT_RELU});
            cr_assert_not_null(y, "%s", nb_graph_error(g));
            nb_node *p = nb_maxpool2d(g, y, (nb_pool2d_opts){.size = 2});
            c.out[c.n_out++] = p;
            if (train) {
                nb_node *u = input(&c, nb_node_shape(p), -1, 1);
                nb_node *loss = nb_sum(g, nb_mul(g, p, u), NULL, 0, false), *dx;
                cr_assert_eq(nb_grad(g, loss, &x, 1, &dx), NB_OK, "%s", nb_graph_error(g));
                c.out[c.n_out++] = dx;
            }
            cr_assert_gt(both_ways(&c, 1e-4f), 0, "image %zu train %d", d, train);
            case_free(&c);
        }
}

/* A convolution with its relu, then 2×2 max pooling, in training: the
 * bias's gradient, the sum over (N, H, W) of the relu's gradient, is
 * written by the max gradient's group as its side value, summed in the
 * same pass, with the plain steps' bits at 1 and 2 threads (the other
 * gradients within rounding, their own groups' tolerance):
 * odd sizes (odd heights: the planes one by one; even: stacked), batch 1,
 * 64 images (the sum's chunks of images), the weight and image gradients
 * beside it. With one filter the sum step folds all planes as one row:
 * no side then, the group without it. */
Test(fusion, bias_gradient_joins_the_max_gradient)
{
    const int64_t dims[][4] = {{1, 3, 9, 11}, {2, 2, 12, 16}, {3, 2, 7, 10}, {64, 1, 12, 12}};
    const int64_t filters[] = {1, 5, 16};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (size_t k = 0; k < sizeof filters / sizeof filters[0]; k++) {
            case_t c = {.g = nb_graph_new()};
            nb_graph *g = c.g;
            nb_node *x = input(&c, NB_SHAPE(dims[d][0], dims[d][1], dims[d][2], dims[d][3]), -2, 2);
            nb_node *y = nb_conv2d(g, x, (nb_conv2d_opts){.filters = filters[k], .kernel = 3,
                                                           .pad = 1, .activation = NB_ACT_RELU});
            cr_assert_not_null(y, "%s", nb_graph_error(g));
            nb_node *p = nb_maxpool2d(g, y, (nb_pool2d_opts){.size = 2});
            nb_node *u = input(&c, nb_node_shape(p), -1, 1);
            nb_node *loss = nb_sum(g, nb_mul(g, p, u), NULL, 0, false);
            nb_node *wrt[3] = {x, nb_graph_param(g, 0), nb_graph_param(g, 1)}, *dw[3];
            cr_assert_eq(nb_grad(g, loss, wrt, 3, dw), NB_OK, "%s", nb_graph_error(g));
            /* a bias of its own values: relu masks not all at one side */
            t_fill(nb_param_data(wrt[2]), filters[k], 5, -0.5f, 0.5f);
            c.out[c.n_out++] = p;
            for (int o = 0; o < 3; o++)
                c.out[c.n_out++] = dw[o];
            cr_assert_gt(both_ways(&c, 1e-4f), 0, "image %zu filters %lld", d,
                         (long long)filters[k]);
            /* the bias gradient: the sum step's own bits, either thread count */
            for (int threads = 1; threads <= 2; threads++) {
                nb_set_threads(threads);
                nb_runtime *fused = made(&c, true), *plain = made(&c, false);
                const float *a = nb_runtime_value(fused, dw[2]), *b = nb_runtime_value(plain, dw[2]);
                for (int64_t f = 0; f < filters[k]; f++)
                    cr_assert(!memcmp(&a[f], &b[f], sizeof *a),
                              "image %zu filters %lld threads %d: bias gradient %lld is %a, "
                              "plain %a", d, (long long)filters[k], threads, (long long)f,
                              (double)a[f], (double)b[f]);
                nb_runtime_free(fused);
                nb_runtime_free(plain);
                nb_set_fusion(true);
            }
            const int side = filters[k] > 1;
            cr_assert_eq(steps_of(&c, "maxpool+relu+bias gradient"), side, "image %zu filters %lld",
                         d, (long long)filters[k]);
            cr_assert_eq(steps_of(&c, "maxpool+relu gradient"), !side);
            case_free(&c);
        }
}

/* Columns that another, unfused node reads, or that the caller fetches,
 * keep their step and their values; only the view the pooling group read
 * past goes. */
Test(fusion, columns_read_elsewhere_keep_their_step)
{
    for (int fetch = 0; fetch <= 1; fetch++) {
        case_t c = {.g = nb_graph_new()};
        nb_graph *g = c.g;
        nb_node *x = input(&c, NB_SHAPE(2, 3, 7, 9), -1, 1);
        nb_node *cols = nb_unfold2d(g, x, (nb_window2d){.kh = 3, .kw = 3, .sh = 2, .sw = 2,
                                                        .ph = 1, .pw = 1});
        int axis = 2;
        nb_node *m = nb_reduce_max(g, nb_reshape(g, cols, NB_SHAPE(2, 3, 9, 20)), &axis, 1, false);
        c.out[c.n_out++] = m;
        c.out[c.n_out++] = fetch ? cols : nb_sum(g, cols, NULL, 0, false);
        cr_assert_eq(both_ways(&c, 1e-5f), 1, "only the reshape goes");
        nb_runtime *rt = made(&c, true);
        const float *v = nb_runtime_value(rt, c.out[1]);
        cr_assert_not_null(v);
        if (fetch) /* window (0, 0), entry (1, 1): pixel (0, 0) of plane 0 */
            cr_assert_eq(v[4 * 20], c.data[0][0]);
        nb_runtime_free(rt);
        nb_set_fusion(true);
        case_free(&c);
    }
}

/* NABLA_FUSION=0 turns fusion off for a program that never called
 * nb_set_fusion; anything else leaves it on. */
Test(fusion, environment_variable_turns_it_off)
{
    case_t c = {.g = nb_graph_new()};
    nb_node *x = input(&c, NB_SHAPE(37), -1, 1);
    c.out[c.n_out++] = nb_exp(c.g, nb_neg(c.g, x));
    setenv("NABLA_FUSION", "0", 1);
    cr_assert_not(nb_get_fusion());
    nb_runtime *rt = nb_runtime_new(c.g, c.out, 1);
    cr_assert_eq(nb_runtime_num_steps(rt), 2);
    nb_runtime_free(rt);
    setenv("NABLA_FUSION", "1", 1);
    cr_assert(nb_get_fusion());
    rt = nb_runtime_new(c.g, c.out, 1);
    cr_assert_eq(nb_runtime_num_steps(rt), 1);
    nb_runtime_free(rt);
    setenv("NABLA_FUSION", "0", 1);
    nb_set_fusion(true); /* the call wins over the environment */
    cr_assert(nb_get_fusion());
    case_free(&c);
}

/* ---------------------------------------------------------------- training */

typedef struct losses {
    double v[256];
    int n;
} losses;

static void on_step(const nb_progress *p, void *ud)
{
    losses *l = ud;
    if (l->n < 256)
        l->v[l->n++] = p->loss;
}

static nb_status mlp(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 28, 28));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_dense(g, nb_flatten(g, io->x),
                          (nb_dense_opts){.units = 37, .activation = NB_ACT_RELU});
    h = nb_dense(g, h, (nb_dense_opts){.units = 19, .activation = NB_ACT_TANH});
    h = nb_dense(g, h, (nb_dense_opts){.units = 13, .activation = NB_ACT_SIGMOID});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 10});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

/* A small convolutional net: both poolings, one with padding, odd sizes. */
static nb_status cnn(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 28, 28));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_conv2d(g, io->x, (nb_conv2d_opts){.filters = 3, .kernel = 3,
                                                      .activation = NB_ACT_RELU});
    h = nb_maxpool2d(g, h, (nb_pool2d_opts){.size = 3, .stride = 2, .pad = 1});
    h = nb_avgpool2d(g, h, (nb_pool2d_opts){.size = 2});
    io->output = nb_dense(g, nb_flatten(g, h), (nb_dense_opts){.units = 10});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

static void train(nb_model_fn model, bool fuse, losses *l)
{
    nb_set_fusion(fuse);
    nb_dataset *ds = t_fixture("train");
    nb_train_opts o = {.batch = 25, .epochs = 2, .seed = 3,
                       .optimizer = {.kind = NB_OPT_SGD, .lr = 0.05f, .momentum = 0.9f},
                       .on_step = on_step, .ud = l};
    nb_error err;
    nb_trainer *t = nb_trainer_new(model, NULL, ds->shape, 1, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    cr_assert_eq(nb_trainer_fit(t, ds, NULL), NB_OK, "%s", nb_trainer_error(t));
    nb_trainer_free(t);
    nb_dataset_free(ds);
}

/* Each model's losses, trained with fusion and without. */
static void same_losses(nb_model_fn model)
{
    nb_set_threads(2);
    losses *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    train(model, true, a);
    train(model, false, b);
    cr_assert_eq(a->n, b->n);
    cr_assert_gt(a->n, 10);
    for (int i = 0; i < a->n; i++)
        cr_assert(fabs(a->v[i] - b->v[i]) <= 1e-4 * fmax(1.0, fabs(b->v[i])),
                  "step %d: fused %.9g, plain %.9g", i, a->v[i], b->v[i]);
    cr_assert_lt(a->v[a->n - 1], a->v[0], "it trained");
    free(a);
    free(b);
}

Test(fusion, training_gives_the_same_losses_both_ways) { same_losses(mlp); }

Test(fusion, cnn_training_gives_the_same_losses_both_ways) { same_losses(cnn); }
