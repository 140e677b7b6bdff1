/*
 * test_runtime.c — compiling and running graphs: pruning, buffer reuse by
 * liveness (the MLP training step's planned bytes below one buffer per
 * node), in-place and view safety, re-runs without allocation, and refusals.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

/* A 3-layer MLP training step: forward, softmax-free squared loss,
 * backward to every weight and bias. Returns the graph; fills the nodes. */
static nb_graph *mlp_step(nb_node **x, nb_node **loss, nb_node **grads, nb_node **params)
{
    nb_graph *g = nb_graph_new();
    const int64_t sizes[] = {32, 64, 48, 10};
    *x = nb_input(g, "x", NB_SHAPE(16, 32));
    nb_node *h = *x;
    for (int l = 0; l < 3; l++) {
        float *w0 = malloc((size_t)(sizes[l] * sizes[l + 1]) * sizeof *w0);
        t_fill(w0, sizes[l] * sizes[l + 1], (uint64_t)l + 1, -0.3f, 0.3f);
        char name[16];
        snprintf(name, sizeof name, "layer%d", l + 1);
        nb_scope_push(g, name);
        params[2 * l] = nb_param(g, "w", NB_SHAPE(sizes[l], sizes[l + 1]), w0);
        params[2 * l + 1] = nb_param(g, "b", NB_SHAPE(sizes[l + 1]), NULL);
        h = nb_add(g, nb_matmul(g, h, params[2 * l], false, false), params[2 * l + 1]);
        if (l < 2)
            h = nb_tanh(g, h);
        nb_scope_pop(g);
        free(w0);
    }
    *loss = nb_mean(g, nb_mul(g, h, h), NULL, 0, false);
    cr_assert_eq(nb_grad(g, *loss, params, 6, grads), NB_OK, "%s", nb_graph_error(g));
    return g;
}

/* That step's runtime for outs = {loss, the six gradients}; *g its graph. */
static nb_runtime *mlp_step_runtime(nb_graph **g, nb_node **x, nb_node **outs, nb_node **params)
{
    *g = mlp_step(x, &outs[0], outs + 1, params);
    nb_runtime *rt = nb_runtime_new(*g, outs, 7);
    cr_assert_not_null(rt, "%s", nb_graph_error(*g));
    return rt;
}

Test(runtime, mlp_training_step_reuses_buffers)
{
    nb_node *x, *outs[7], *params[6];
    nb_graph *g;
    nb_runtime *rt = mlp_step_runtime(&g, &x, outs, params);
    size_t planned = nb_runtime_planned_bytes(rt), naive = nb_runtime_naive_bytes(rt);
    printf("runtime: 3-layer MLP step (batch 16, 32-64-48-10): planned %zu bytes, "
           "no-reuse %zu bytes (%.0f%%), %d steps\n",
           planned, naive, 100.0 * (double)planned / (double)naive, nb_runtime_num_steps(rt));
    cr_assert_lt(planned, naive);
    cr_assert_lt(planned, naive * 3 / 4, "reuse should save at least a quarter");
    nb_runtime_free(rt);
    nb_graph_free(g);
}

/* The planned runtime must give the same values as one that keeps every
 * intermediate (each node its own output, so nothing is reused). */
Test(runtime, reuse_gives_the_same_values_as_no_reuse)
{
    nb_node *x, *loss, *grads[6], *params[6];
    nb_graph *g = mlp_step(&x, &loss, grads, params);
    float xv[16 * 32];
    t_fill(xv, 16 * 32, 7, -1, 1);
    nb_node *outs[7] = {loss};
    for (int i = 0; i < 6; i++)
        outs[i + 1] = grads[i];
    nb_runtime *rt = nb_runtime_new(g, outs, 7);
    int n = nb_graph_node_count(g);
    nb_node **all = malloc((size_t)n * sizeof *all);
    for (int i = 0; i < n; i++)
        all[i] = nb_graph_node(g, i);
    nb_runtime *keep = nb_runtime_new(g, all, n);
    cr_assert_not_null(keep, "%s", nb_graph_error(g));
    cr_assert_gt(nb_runtime_planned_bytes(keep), nb_runtime_planned_bytes(rt)); /* keeps all */
    nb_runtime_set_input(rt, x, xv);
    nb_runtime_set_input(keep, x, xv);
    cr_assert_eq(nb_runtime_run(rt), NB_OK);
    cr_assert_eq(nb_runtime_run(keep), NB_OK);
    for (int i = 0; i < 7; i++) {
        int64_t m = nb_shape_numel(nb_node_shape(outs[i]));
        const float *a = nb_runtime_value(rt, outs[i]), *b = nb_runtime_value(keep, outs[i]);
        for (int64_t e = 0; e < m; e++)
            cr_assert_eq(a[e], b[e], "output %d element %lld differs", i, (long long)e);
    }
    free(all);
    nb_runtime_free(rt);
    nb_runtime_free(keep);
    nb_graph_free(g);
}

Test(runtime, in_place_chain_is_correct)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(3, 2));
    nb_node *a = nb_exp(g, nb_neg(g, x));                /* e^-x */
    nb_node *b = nb_add(g, a, nb_reshape(g, a, NB_SHAPE(3, 2)));
    nb_node *c = nb_add(g, nb_reshape(g, b, NB_SHAPE(6)), nb_scalar(g, 1));
    nb_node *r = nb_reshape(g, c, NB_SHAPE(2, 3));       /* a view of c */
    nb_node *d = nb_mul(g, r, nb_reshape(g, c, NB_SHAPE(2, 3)));
    float xv[6] = {0, 1, 2, -1, -2, 0.5f}, want[6];
    for (int i = 0; i < 6; i++) {
        float ci = 2 * expf(-xv[i]) + 1;
        want[i] = ci * ci;
    }
    float *got = t_eval(g, d, &(nb_feed){x, xv}, 1);
    t_assert_close(got, want, 6, 1e-6f);
    free(got);
    nb_graph_free(g);
}

/* Views of one buffer read through other shapes, broadcast against each
 * other, while the planner reuses what dies. */
Test(runtime, views_and_broadcasts_read_the_right_values)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(2, 2));
    nb_node *a = nb_exp(g, x);                            /* [2,2] temp */
    nb_node *row = nb_reshape(g, nb_slice(g, a, 0, 0, 1, 1), NB_SHAPE(2)); /* a[0,:] copy */
    nb_node *v = nb_reshape(g, a, NB_SHAPE(4, 1));        /* a as a column: view */
    nb_node *s = nb_add(g, nb_reshape(g, a, NB_SHAPE(1, 4)), v); /* [4,4] */
    nb_node *y = nb_add(g, nb_sum(g, s, NULL, 0, false), nb_sum(g, row, NULL, 0, false));
    float xv[4] = {0, 1, 2, 3}, e[4], want = 0;
    for (int i = 0; i < 4; i++)
        e[i] = expf(xv[i]);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            want += e[i] + e[j];
    want += e[0] + e[1];
    float *got = t_eval(g, y, &(nb_feed){x, xv}, 1);
    t_assert_close(got, &want, 1, 1e-5f);
    free(got);
    nb_graph_free(g);
}

/* A user view (NB_OP_VIEW: its output is input 0's bytes) that counts
 * its runs and copies when asked to, as reshape does. */
static int view_runs;

static nb_status view_shape(nb_graph *g, const nb_node *n, nb_shape *out)
{
    (void)g;
    *out = nb_node_shape(nb_node_input(n, 0));
    return NB_OK;
}

static void view_forward(const nb_node *n, const float *const *in, float *out)
{
    view_runs++;
    if (out != in[0])
        memcpy(out, in[0], (size_t)nb_shape_numel(nb_node_shape(n)) * sizeof *out);
}

static const nb_op_def counted_view = {.name = "counted_view", .arity = 1, .flags = NB_OP_VIEW,
                                       .shape = view_shape, .forward = view_forward};

static void no_hook(void *ud, int step)
{
    (void)ud, (void)step;
}

/* The planner gives a view its input's memory, so a plain run leaves its
 * steps out (nothing to copy: a tiny network's step has three reshapes);
 * a run with a hook, which names every step, still runs them. Views of an
 * op's value and of a parameter, before and after the parameters move. */
Test(runtime, views_with_nothing_to_copy_are_left_out_of_a_run)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(3));
    nb_node *w = nb_param(g, "w", NB_SHAPE(3), (float[]){1, 2, 3});
    nb_node *e = nb_exp(g, x);
    nb_node *ve = nb_custom(g, &counted_view, &e, 1, NULL);
    nb_node *vw = nb_custom(g, &counted_view, &w, 1, NULL);
    nb_node *y = nb_add(g, nb_neg(g, ve), vw);
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    nb_runtime *rt = nb_runtime_new(g, &y, 1);
    cr_assert_eq(nb_runtime_num_steps(rt), 5);
    float xv[3] = {0, 1, -1};
    nb_runtime_set_input(rt, x, xv);
    for (int moved = 0; moved < 2; moved++) {
        view_runs = 0;
        cr_assert_eq(nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt));
        cr_assert_eq(view_runs, 0, "a plain run ran %d views", view_runs);
        for (int i = 0; i < 3; i++)
            cr_assert_float_eq(nb_runtime_value(rt, y)[i],
                               -expf(xv[i]) + nb_param_data(w)[i], 1e-6f);
        nb_runtime_set_hook(rt, no_hook, NULL);
        cr_assert_eq(nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt));
        cr_assert_eq(view_runs, 2, "a hooked run ran %d views of 2", view_runs);
        nb_runtime_set_hook(rt, NULL, NULL);
        for (int i = 0; i < 20; i++) { /* the parameter buffer moves */
            char name[16];
            snprintf(name, sizeof name, "p%d_%d", moved, i);
            nb_param(g, name, NB_SHAPE(1000), NULL);
        }
        nb_param_data(w)[2] = 7;
    }
    nb_runtime_free(rt);
    nb_graph_free(g);
}

Test(runtime, unreachable_nodes_are_pruned)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(4));
    nb_node *unused = nb_input(g, "unused", NB_SHAPE(4));
    nb_exp(g, nb_log(g, unused));
    nb_node *y = nb_neg(g, x);
    nb_runtime *rt = nb_runtime_new(g, &y, 1);
    cr_assert_eq(nb_runtime_num_steps(rt), 1);
    float xv[4] = {1, 2, 3, 4};
    nb_runtime_set_input(rt, x, xv);
    cr_assert_eq(nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt)); /* unused never set */
    cr_assert_eq(nb_runtime_value(rt, y)[3], -4.0f);
    nb_runtime_free(rt);
    nb_graph_free(g);
}

typedef struct counting {
    int calls;
} counting;

static void *counting_alloc(void *ud, void *p, size_t old, size_t size)
{
    (void)old;
    if (size == 0) {
        free(p);
        return NULL;
    }
    ((counting *)ud)->calls++;
    return realloc(p, size);
}

Test(runtime, runs_with_new_inputs_allocate_nothing)
{
    counting c = {0};
    nb_graph *g = nb_graph_new_with_allocator(counting_alloc, &c);
    nb_node *x = nb_input(g, "x", NB_SHAPE(2, 3));
    nb_node *w = nb_param(g, "w", NB_SHAPE(3, 2), (float[]){1, 0, 0, 1, 1, 1});
    nb_node *y = nb_matmul(g, x, w, false, false);
    nb_runtime *rt = nb_runtime_new(g, &y, 1);
    int before = c.calls;
    for (int run = 0; run < 3; run++) {
        float xv[6] = {1, 2, 3, 4, 5, (float)run};
        nb_runtime_set_input(rt, x, xv);
        cr_assert_eq(nb_runtime_run(rt), NB_OK);
        const float *v = nb_runtime_value(rt, y);
        cr_assert_eq(v[0], 4.0f);
        cr_assert_eq(v[3], 5.0f + run);
    }
    cr_assert_eq(c.calls, before, "a run allocated memory");
    nb_param_data(w)[0] = 2; /* parameters are read at each run */
    cr_assert_eq(nb_runtime_run(rt), NB_OK);
    cr_assert_eq(nb_runtime_value(rt, y)[0], 5.0f);
    nb_runtime_free(rt);
    nb_graph_free(g);
}

Test(runtime, parameters_added_later_do_not_break_a_runtime)
{
    nb_graph *g = nb_graph_new();
    nb_node *w = nb_param(g, "w", NB_SHAPE(2), (float[]){1, 2});
    nb_node *y = nb_mul(g, w, w);
    nb_runtime *rt = nb_runtime_new(g, &y, 1);
    for (int i = 0; i < 20; i++) { /* the parameter buffer moves */
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        nb_param(g, name, NB_SHAPE(1000), NULL);
    }
    nb_param_data(w)[1] = 3;
    cr_assert_eq(nb_runtime_run(rt), NB_OK);
    cr_assert_eq(nb_runtime_value(rt, y)[1], 9.0f);
    cr_assert_eq(nb_runtime_value(rt, w)[1], 3.0f);
    nb_runtime_free(rt);
    nb_graph_free(g);
}

/* A runtime's binding is its own, stays over runs and changes exactly
 * when its values may lie elsewhere: an output placed, a parameter moved
 * (at the next run, which points the steps at it again). */
Test(runtime, binding_changes_when_values_move)
{
    nb_graph *g = nb_graph_new();
    nb_node *w = nb_param(g, "w", NB_SHAPE(2), (float[]){1, 2});
    nb_node *y = nb_mul(g, w, w);
    nb_runtime *rt = nb_runtime_new(g, &y, 1), *other = nb_runtime_new(g, &y, 1);
    unsigned b = nb_runtime_binding(rt);
    cr_assert_eq(nb_runtime_binding(NULL), 0);
    cr_assert_neq(b, 0);
    cr_assert_neq(nb_runtime_binding(other), b, "two runtimes share a binding");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(nb_runtime_run(rt), NB_OK);
    cr_assert_eq(nb_runtime_binding(rt), b, "plain runs changed the binding");
    float buf[2];
    cr_assert_eq(nb_runtime_place_output(rt, y, buf), NB_OK);
    cr_assert_neq(nb_runtime_binding(rt), b, "placing an output kept the binding");
    b = nb_runtime_binding(rt);
    float wv[2] = {3, 4};
    nb_param_place(w, wv);
    cr_assert_eq(nb_runtime_run(rt), NB_OK);
    cr_assert_neq(nb_runtime_binding(rt), b, "a parameter moved but the binding stayed");
    cr_assert_eq(buf[1], 16.0f);
    nb_runtime_free(other);
    nb_runtime_free(rt);
    nb_graph_free(g);
}

Test(runtime, misuse_is_refused_with_a_message)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(2));
    nb_node *h = nb_exp(g, x);
    nb_node *y = nb_neg(g, h);
    nb_runtime *rt = nb_runtime_new(g, &y, 1);
    cr_assert_eq(nb_runtime_run(rt), NB_ERR_STATE);
    cr_assert(strstr(nb_runtime_error(rt), "input 'x' [2] was never set"), "%s",
              nb_runtime_error(rt));
    cr_assert_eq(nb_runtime_set_input(rt, h, (float[]){1, 2}), NB_ERR_ARG);
    cr_assert(strstr(nb_runtime_error(rt), "not an input"), "%s", nb_runtime_error(rt));
    cr_assert_eq(nb_runtime_set_input(rt, x, NULL), NB_ERR_ARG);
    nb_runtime_set_input(rt, x, (float[]){0, 1});
    cr_assert_eq(nb_runtime_run(rt), NB_OK);
    cr_assert_null(nb_runtime_value(rt, h), "an intermediate's buffer may be reused");
    nb_runtime_free(rt);
    cr_assert_null(nb_runtime_new(g, NULL, 0));
    t_assert_error(g, "runtime", "at least one output", NULL);
    nb_graph_clear_error(g);
    nb_node *outs[] = {y, NULL};
    cr_assert_null(nb_runtime_new(g, outs, 2));
    t_assert_error(g, "runtime: output 1 is NULL", NULL);
    nb_graph_free(g);
}

/* A user op's value check: refuses a negative input before its kernel. */
static nb_status sqrt_shape(nb_graph *g, const nb_node *n, nb_shape *out)
{
    (void)g;
    *out = nb_node_shape(nb_node_input(n, 0));
    return NB_OK;
}

static void sqrt_forward(const nb_node *n, const float *const *in, float *out)
{
    for (int64_t i = 0; i < nb_shape_numel(nb_node_shape(n)); i++)
        out[i] = sqrtf(in[0][i]);
}

static nb_status sqrt_check(const nb_node *n, const float *const *in, char *msg, size_t size)
{
    for (int64_t i = 0; i < nb_shape_numel(nb_node_shape(n)); i++)
        if (in[0][i] < 0)
            return snprintf(msg, size, "value %g at %lld is negative", (double)in[0][i],
                            (long long)i), NB_ERR_ARG;
    return NB_OK;
}

/* The check runs before the kernel, on the values the step reads (here
 * computed by an earlier step), and stops the run with the op's message
 * under the node's layer; the next good run goes through. */
Test(runtime, an_ops_value_check_stops_the_run)
{
    static const nb_op_def def = {.name = "checked_sqrt", .arity = 1, .shape = sqrt_shape,
                                  .forward = sqrt_forward, .check = sqrt_check};
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(3));
    nb_scope_push(g, "root1");
    nb_node *y = nb_custom(g, &def, (nb_node *[]){nb_neg(g, x)}, 1, NULL);
    nb_scope_pop(g);
    nb_runtime *rt = nb_runtime_new(g, &y, 1);
    cr_assert_not_null(rt, "%s", nb_graph_error(g));
    nb_runtime_set_input(rt, x, (float[]){-4, 1, -9});
    cr_assert_eq(nb_runtime_run(rt), NB_ERR_ARG);
    cr_assert_str_eq(nb_runtime_error(rt), "run: root1: value -1 at 1 is negative");
    nb_runtime_set_input(rt, x, (float[]){-4, 0, -9});
    cr_assert_eq(nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt));
    t_assert_close(nb_runtime_value(rt, y), (float[]){2, 0, 3}, 3, 1e-6f);
    nb_runtime_free(rt);
    nb_graph_free(g);
}

Test(runtime, one_setting_sizes_both_thread_pools)
{
    nb_set_threads(1);
    cr_assert_eq(nb_get_threads(), 1);
    nb_set_threads(2);
    cr_assert_eq(nb_get_threads(), 2);
    nb_set_threads(0); /* all cores */
    cr_assert_geq(nb_get_threads(), 1);
}

/* ---------------------------------------------------------------- outer products */

/*
 * A dense layer at batch 1: z = x·w, loss = Σ z². w's gradient xᵀ·dz is an
 * outer product, which nb_runtime_new_outer leaves unformed when asked:
 * its two vectors give the values nb_runtime_new forms, the product is not
 * among the steps, and nb_runtime_value has nothing for it. A gradient of a
 * parameter-held vector (p·w, p a parameter) is formed as usual.
 */
Test(runtime, outer_product_outputs_are_left_as_vectors)
{
    nb_graph *g = nb_graph_new();
    float w0[12], p0[3];
    t_fill(w0, 12, 5, -1, 1);
    t_fill(p0, 3, 6, -1, 1);
    nb_node *x = nb_input(g, "x", NB_SHAPE(1, 3));
    nb_node *w = nb_param(g, "w", NB_SHAPE(3, 4), w0), *p = nb_param(g, "p", NB_SHAPE(1, 3), p0);
    nb_node *z = nb_add(g, nb_matmul(g, x, w, false, false), nb_matmul(g, p, w, false, false));
    nb_node *loss = nb_sum(g, nb_mul(g, z, z), NULL, 0, false);
    nb_node *dz;
    cr_assert_eq(nb_grad(g, loss, &z, 1, &dz), NB_OK, "%s", nb_graph_error(g));
    /* w's gradient is xᵀ·dz + pᵀ·dz: only the first term may be left unformed. */
    nb_node *xdz = nb_matmul(g, x, dz, true, false), *pdz = nb_matmul(g, p, dz, true, false);
    nb_node *outs[] = {loss, xdz, pdz};
    const bool outer[] = {true, true, true};
    nb_runtime *plain = nb_runtime_new(g, outs, 3), *rt = nb_runtime_new_outer(g, outs, 3, outer);
    cr_assert(plain && rt, "%s", nb_graph_error(g));
    float xv[3] = {0.5f, -1.0f, 2.0f};
    for (int r = 0; r < 2; r++) {
        nb_runtime *each = r ? rt : plain;
        nb_runtime_set_input(each, x, xv);
        cr_assert_eq(nb_runtime_run(each), NB_OK, "%s", nb_runtime_error(each));
    }
    cr_assert_eq(nb_runtime_num_steps(rt), nb_runtime_num_steps(plain) - 1);
    const float *u, *v, *formed = nb_runtime_value(plain, xdz);
    cr_assert(nb_runtime_outer(rt, xdz, &u, &v));
    cr_assert_null(nb_runtime_value(rt, xdz));
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            cr_assert_float_eq(u[i] * v[j], formed[i * 4 + j], 1e-6f, "[%d,%d]", i, j);
    cr_assert_not(nb_runtime_outer(rt, pdz, &u, &v), "p is a parameter: formed");
    t_assert_close(nb_runtime_value(rt, pdz), nb_runtime_value(plain, pdz), 12, 0.0f);
    cr_assert_not(nb_runtime_outer(rt, loss, &u, &v));
    cr_assert_float_eq(nb_runtime_value(rt, loss)[0], nb_runtime_value(plain, loss)[0], 0.0f);
    nb_runtime_free(plain);
    nb_runtime_free(rt);
    nb_graph_free(g);
}

/* Without marks (outer NULL, or all false) nothing is left unformed. */
Test(runtime, outer_products_unmarked_are_formed)
{
    nb_graph *g = nb_graph_new();
    nb_node *a = nb_input(g, "a", NB_SHAPE(3, 1)), *b = nb_input(g, "b", NB_SHAPE(1, 4));
    nb_node *c = nb_matmul(g, a, b, false, false);
    const bool none[] = {false};
    float av[3] = {1, 2, 3}, bv[4] = {1, -1, 2, -2};
    for (int r = 0; r < 2; r++) {
        nb_runtime *rt = nb_runtime_new_outer(g, &c, 1, r ? none : NULL);
        nb_runtime_set_input(rt, a, av);
        nb_runtime_set_input(rt, b, bv);
        cr_assert_eq(nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt));
        const float *u, *v;
        cr_assert_not(nb_runtime_outer(rt, c, &u, &v));
        cr_assert_float_eq(nb_runtime_value(rt, c)[11], -6.0f, 0.0f);
        nb_runtime_free(rt);
    }
    nb_graph_free(g);
}

/*
 * A dense layer at batch 5: z = tanh(x·w), loss = Σ z². w's gradient
 * xᵀ·dz, marked factored, is left as its two factors: x [5, 7] and dz
 * [5, 20] give, multiplied out, the values nb_runtime_new forms (bit for
 * bit: both the chains of fused multiply-adds over the rows, in order), the
 * product is not among the steps, nb_runtime_value has nothing for it and
 * nb_runtime_outer does not claim it; it is ready with dz (before a step
 * that reads dz), and cannot be placed. A product whose factor is a
 * parameter is formed; at batch 1 a gradient marked both ways is an outer
 * product.
 */
Test(runtime, factored_products_are_left_as_their_factors)
{
    nb_graph *g = nb_graph_new();
    float w0[140], p0[35];
    t_fill(w0, 140, 5, -1, 1);
    t_fill(p0, 35, 6, -1, 1);
    nb_node *x = nb_input(g, "x", NB_SHAPE(5, 7)), *w = nb_param(g, "w", NB_SHAPE(7, 20), w0);
    nb_node *p = nb_param(g, "p", NB_SHAPE(5, 7), p0);
    nb_node *z = nb_tanh(g, nb_matmul(g, x, w, false, false));
    nb_node *loss = nb_sum(g, nb_mul(g, z, z), NULL, 0, false), *dw, *dz;
    cr_assert_eq(nb_grad(g, loss, &w, 1, &dw), NB_OK, "%s", nb_graph_error(g));
    cr_assert_eq(nb_grad(g, loss, &z, 1, &dz), NB_OK, "%s", nb_graph_error(g));
    nb_node *pdz = nb_matmul(g, p, dz, true, false);
    nb_node *outs[] = {loss, dw, pdz};
    const bool marked[] = {false, true, true};
    nb_runtime *plain = nb_runtime_new(g, outs, 3);
    nb_runtime *rt = nb_runtime_new_factored(g, outs, 3, NULL, marked);
    cr_assert(plain && rt, "%s", nb_graph_error(g));
    float xv[35];
    t_fill(xv, 35, 7, -1, 1);
    for (int r = 0; r < 2; r++) {
        nb_runtime *each = r ? rt : plain;
        nb_runtime_set_input(each, x, xv);
        cr_assert_eq(nb_runtime_run(each), NB_OK, "%s", nb_runtime_error(each));
    }
    cr_assert_eq(nb_runtime_num_steps(rt), nb_runtime_num_steps(plain) - 1);
    const float *a, *b, *formed = nb_runtime_value(plain, dw);
    int64_t k = 0;
    cr_assert(nb_runtime_factors(rt, dw, &a, &b, &k), "w's gradient left as its factors");
    cr_assert_eq(k, 5);
    cr_assert_null(nb_runtime_value(rt, dw));
    cr_assert_not(nb_runtime_outer(rt, dw, &a, &b));
    cr_assert(nb_runtime_factors(rt, dw, &a, &b, &k));
    t_assert_close(a, xv, 35, 0.0f);
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < 20; j++) {
            float t = 0.0f;
            for (int q = 0; q < 5; q++)
                t = fmaf(a[q * 7 + i], b[q * 20 + j], t);
            cr_assert_float_eq(t, formed[i * 20 + j], 0.0f, "[%d,%d]", i, j);
        }
    int ready = nb_runtime_ready_step(rt, dw);
    cr_assert(ready >= 0 && ready < nb_runtime_ready_step(rt, pdz),
              "ready with dz, before pdz, which reads dz (%d, %d)", ready,
              nb_runtime_ready_step(rt, pdz));
    cr_assert_neq(nb_runtime_place_output(rt, dw, (float[140]){0}), NB_OK);
    cr_assert_not(nb_runtime_factors(rt, pdz, &a, &b, &k), "p is a parameter: formed");
    t_assert_close(nb_runtime_value(rt, pdz), nb_runtime_value(plain, pdz), 140, 0.0f);
    cr_assert_not(nb_runtime_factors(rt, loss, &a, &b, &k));
    cr_assert_not(nb_runtime_factors(plain, dw, &a, &b, &k));
    nb_runtime_free(plain);
    nb_runtime_free(rt);

    nb_node *x1 = nb_input(g, "x1", NB_SHAPE(1, 7));
    nb_node *z1 = nb_tanh(g, nb_matmul(g, x1, w, false, false)), *dw1;
    cr_assert_eq(nb_grad(g, nb_sum(g, nb_mul(g, z1, z1), NULL, 0, false), &w, 1, &dw1), NB_OK);
    const bool both[] = {true};
    rt = nb_runtime_new_factored(g, &dw1, 1, both, both);
    cr_assert_not_null(rt, "%s", nb_graph_error(g));
    cr_assert(nb_runtime_outer(rt, dw1, &a, &b), "batch 1: an outer product");
    cr_assert_not(nb_runtime_factors(rt, dw1, &a, &b, &k));
    nb_runtime_free(rt);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- the hook between steps */

/* What the hook below records: each output copied at its ready step. */
typedef struct snapshots {
    nb_runtime *rt;
    nb_node *const *outs;
    int n, calls, last;
    float *copy[7];
    bool bad_order;
} snapshots;

static void snapshot(void *ud, int step)
{
    snapshots *s = ud;
    s->bad_order |= step != s->last + 1;
    s->last = step;
    s->calls++;
    for (int k = 0; k < s->n; k++)
        if (nb_runtime_ready_step(s->rt, s->outs[k]) == step)
            memcpy(s->copy[k], nb_runtime_value(s->rt, s->outs[k]),
                   (size_t)nb_shape_numel(nb_node_shape(s->outs[k])) * sizeof(float));
}

/*
 * The MLP step of the top, run on one batch, then on another with the hook
 * copying every output at its ready step: each copy equals the value after
 * the run (a step too early would still hold the first batch's values, or
 * a buffer's other tenant). The hook sees every step once, in order; the
 * last layer's gradients are ready before the first's (backward order);
 * a parameter is ready before any step; a node that is not an output has
 * no ready step.
 */
Test(runtime, hook_sees_each_output_final_at_its_ready_step)
{
    nb_node *x, *outs[7], *params[6], *const *grads = outs + 1, *loss;
    nb_graph *g;
    nb_runtime *rt = mlp_step_runtime(&g, &x, outs, params);
    loss = outs[0];
    float xv[16 * 32];
    snapshots s = {.rt = rt, .outs = outs, .n = 7, .last = -1};
    for (int k = 0; k < 7; k++)
        s.copy[k] = calloc((size_t)nb_shape_numel(nb_node_shape(outs[k])), sizeof(float));
    for (int r = 0; r < 2; r++) {
        t_fill(xv, 16 * 32, 40 + (uint64_t)r, -1, 1);
        nb_runtime_set_input(rt, x, xv);
        nb_runtime_set_hook(rt, r ? snapshot : NULL, &s);
        cr_assert_eq(nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt));
    }
    cr_assert_eq(s.calls, nb_runtime_num_steps(rt));
    cr_assert_not(s.bad_order);
    for (int k = 0; k < 7; k++) {
        int ready = nb_runtime_ready_step(rt, outs[k]);
        cr_assert(ready >= 0 && ready < nb_runtime_num_steps(rt), "output %d: step %d", k, ready);
        t_assert_close(s.copy[k], nb_runtime_value(rt, outs[k]),
                       nb_shape_numel(nb_node_shape(outs[k])), 0.0f);
        free(s.copy[k]);
    }
    cr_assert_lt(nb_runtime_ready_step(rt, grads[5]), nb_runtime_ready_step(rt, grads[0]));
    cr_assert_eq(nb_runtime_ready_step(rt, params[0]), -1);
    cr_assert_eq(nb_runtime_ready_step(rt, nb_node_input(loss, 0)), -2);
    cr_assert_eq(nb_runtime_ready_step(rt, NULL), -2);
    nb_runtime_set_hook(rt, NULL, NULL); /* removed: a run calls nothing */
    s.calls = 0;
    cr_assert_eq(nb_runtime_run(rt), NB_OK);
    cr_assert_eq(s.calls, 0);
    nb_runtime_free(rt);
    nb_graph_free(g);
}

/* A gradient left as an outer product is ready when both its vectors are. */
Test(runtime, an_outer_product_is_ready_with_its_later_vector)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(1, 3)), *w = nb_param(g, "w", NB_SHAPE(3, 4), NULL);
    nb_node *z = nb_tanh(g, nb_matmul(g, x, w, false, false));
    nb_node *loss = nb_sum(g, nb_mul(g, z, z), NULL, 0, false), *dw;
    cr_assert_eq(nb_grad(g, loss, &w, 1, &dw), NB_OK, "%s", nb_graph_error(g));
    const bool outer[] = {true};
    nb_runtime *rt = nb_runtime_new_outer(g, &dw, 1, outer);
    const float *u, *v;
    cr_assert_not_null(rt, "%s", nb_graph_error(g));
    cr_assert(nb_runtime_outer(rt, dw, &u, &v), "left as vectors");
    int steps = nb_runtime_num_steps(rt), ready = nb_runtime_ready_step(rt, dw);
    cr_assert_eq(ready, steps - 1, "dz, the later vector, is the last step's (%d of %d)", ready,
                 steps);
    nb_runtime_free(rt);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- outputs placed by the caller */

/*
 * The MLP step with every gradient written into the caller's buffers
 * (nb_runtime_place_output): two runs on different batches give, in those
 * buffers, what a runtime of its own gives (bit for bit), and
 * nb_runtime_value points there; the hook sees them final at their ready
 * steps as before. Placed back (NULL), the runtime's own buffers hold the
 * values again and the caller's are left alone. A leaf, a node that is no
 * output and NULL are refused with a message naming the node.
 */
Test(runtime, outputs_placed_in_the_callers_buffers)
{
    nb_node *x, *outs[7], *params[6];
    nb_graph *g;
    nb_runtime *rt = mlp_step_runtime(&g, &x, outs, params);
    nb_runtime *own = nb_runtime_new(g, outs, 7);
    float *buf[7], xv[16 * 32];
    for (int k = 0; k < 7; k++) {
        int64_t m = nb_shape_numel(nb_node_shape(outs[k]));
        buf[k] = calloc((size_t)m, sizeof(float));
        cr_assert_eq(nb_runtime_place_output(rt, outs[k], buf[k]), NB_OK, "output %d: %s", k,
                     nb_runtime_error(rt));
    }
    for (int r = 0; r < 2; r++) {
        t_fill(xv, 16 * 32, 70 + (uint64_t)r, -1, 1);
        nb_runtime_set_input(rt, x, xv);
        nb_runtime_set_input(own, x, xv);
        cr_assert_eq(nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt));
        cr_assert_eq(nb_runtime_run(own), NB_OK, "%s", nb_runtime_error(own));
        for (int k = 0; k < 7; k++) {
            cr_assert_eq(nb_runtime_value(rt, outs[k]), buf[k], "output %d read where placed", k);
            t_assert_close(buf[k], nb_runtime_value(own, outs[k]),
                           nb_shape_numel(nb_node_shape(outs[k])), 0.0f);
        }
    }
    float before = buf[1][0];
    cr_assert_eq(nb_runtime_place_output(rt, outs[1], NULL), NB_OK);
    t_fill(xv, 16 * 32, 90, -1, 1);
    nb_runtime_set_input(rt, x, xv);
    nb_runtime_set_input(own, x, xv);
    cr_assert_eq(nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt));
    cr_assert_eq(nb_runtime_run(own), NB_OK, "%s", nb_runtime_error(own));
    cr_assert_neq(nb_runtime_value(rt, outs[1]), buf[1]);
    t_assert_close(nb_runtime_value(rt, outs[1]), nb_runtime_value(own, outs[1]),
                   nb_shape_numel(nb_node_shape(outs[1])), 0.0f);
    cr_assert_float_eq(buf[1][0], before, 0.0f, "a buffer placed back is not written");
    float spare[16 * 32];
    cr_assert_eq(nb_runtime_place_output(rt, x, spare), NB_ERR_ARG);
    cr_assert(strstr(nb_runtime_error(rt), "'x'"), "%s", nb_runtime_error(rt));
    cr_assert_eq(nb_runtime_place_output(rt, nb_node_input(outs[0], 0), spare), NB_ERR_ARG);
    cr_assert(strstr(nb_runtime_error(rt), "not an output"), "%s", nb_runtime_error(rt));
    cr_assert_eq(nb_runtime_place_output(rt, NULL, spare), NB_ERR_ARG);
    cr_assert_eq(nb_runtime_place_output(NULL, outs[0], spare), NB_ERR_ARG);
    for (int k = 0; k < 7; k++)
        free(buf[k]);
    nb_runtime_free(own);
    nb_runtime_free(rt);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- parameters placed by the caller */

/* Runs rt on x = xv and copies its seven outputs end to end into out. */
static void run_outputs(nb_runtime *rt, nb_node *x, const float *xv, nb_node *const *outs,
                        float *out)
{
    nb_runtime_set_input(rt, x, xv);
    cr_assert_eq(nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt));
    for (int k = 0; k < 7; k++) {
        int64_t m = nb_shape_numel(nb_node_shape(outs[k]));
        memcpy(out, nb_runtime_value(rt, outs[k]), (size_t)m * sizeof *out);
        out += m;
    }
}

/*
 * The first layer's weight placed in the caller's buffer (nb_param_place)
 * after a runtime was made and run: nb_param_data gives the buffer, the
 * runtime reads it on its next run (the loss and every gradient bit for
 * bit those of a second graph whose own weight holds the buffer's values,
 * changed between runs) and nb_runtime_value points there; a parameter
 * added later (the graph's buffer grown) leaves it there. Placed back
 * (NULL), the graph's memory holds the values of before and the buffer
 * is left alone. A node that is no parameter and NULL are refused.
 */
Test(runtime, parameter_placed_in_the_callers_buffer)
{
    nb_node *x, *outs[7], *params[6], *x2, *outs2[7], *params2[6];
    nb_graph *g, *g2;
    nb_runtime *rt = mlp_step_runtime(&g, &x, outs, params);
    nb_runtime *ref = mlp_step_runtime(&g2, &x2, outs2, params2);
    int64_t total = 0, m = nb_shape_numel(nb_node_shape(params[0]));
    for (int k = 0; k < 7; k++)
        total += nb_shape_numel(nb_node_shape(outs[k]));
    float *got = malloc((size_t)total * sizeof *got), *want = malloc((size_t)total * sizeof *want);
    float *own = nb_param_data(params[0]), *buf = malloc((size_t)m * sizeof *buf), xv[16 * 32];
    float *kept = malloc((size_t)m * sizeof *kept);
    memcpy(kept, own, (size_t)m * sizeof *kept);
    t_fill(xv, 16 * 32, 31, -1, 1);
    run_outputs(rt, x, xv, outs, got); /* bound to the graph's memory first */
    for (int r = 0; r < 3; r++) {
        t_fill(buf, m, 40 + (uint64_t)r, -0.3f, 0.3f);
        memcpy(nb_param_data(params2[0]), buf, (size_t)m * sizeof *buf);
        if (r == 0)
            cr_assert_eq(nb_param_place(params[0], buf), NB_OK, "%s", nb_graph_error(g));
        cr_assert_eq(nb_param_data(params[0]), buf);
        if (r == 2) { /* the graph's buffer grows: the placed weight stays in buf */
            cr_assert_not_null(nb_param(g, "big", NB_SHAPE(1 << 16), NULL), "%s",
                               nb_graph_error(g));
            cr_assert_eq(nb_param_data(params[0]), buf);
        }
        t_fill(xv, 16 * 32, 50 + (uint64_t)r, -1, 1);
        run_outputs(rt, x, xv, outs, got);
        run_outputs(ref, x2, xv, outs2, want);
        t_assert_close(got, want, total, 0.0f);
        cr_assert_eq(nb_runtime_value(rt, params[0]), buf, "the weight read where placed");
    }
    memcpy(nb_param_data(params2[0]), kept, (size_t)m * sizeof *kept);
    cr_assert_eq(nb_param_place(params[0], NULL), NB_OK);
    cr_assert_neq(nb_param_data(params[0]), buf);
    t_assert_close(nb_param_data(params[0]), kept, m, 0.0f);
    float first = buf[0];
    t_fill(xv, 16 * 32, 60, -1, 1);
    run_outputs(rt, x, xv, outs, got);
    run_outputs(ref, x2, xv, outs2, want);
    t_assert_close(got, want, total, 0.0f);
    cr_assert_eq(nb_runtime_value(rt, params[0]), nb_param_data(params[0]));
    cr_assert_float_eq(buf[0], first, 0.0f, "a buffer placed back is left alone");
    cr_assert_eq(nb_param_place(x, buf), NB_ERR_ARG);
    cr_assert(strstr(nb_graph_error(g), "'x'") && strstr(nb_graph_error(g), "not a parameter"),
              "%s", nb_graph_error(g));
    cr_assert_eq(nb_param_place(NULL, buf), NB_ERR_ARG);
    free(got), free(want), free(buf), free(kept);
    nb_runtime_free(ref);
    nb_runtime_free(rt);
    nb_graph_free(g2);
    nb_graph_free(g);
}
