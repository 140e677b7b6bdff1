/*
 * test_ops_elementwise.c — the elementwise primitive ops: unary (neg, exp,
 * log, sqrt, abs, sign, tanh, sigmoid, and relu as a composition), binary
 * with broadcasting (add, sub, mul, div, max, min, pow, gt, ge, eq) and
 * where. For each: shapes, refusals with their messages, forward values
 * against hand-computed ones, and finite-difference gradient checks in every
 * broadcasting direction, plus second derivatives through the vjp rules.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

typedef nb_node *(*unary_fn)(nb_graph *, nb_node *);
typedef nb_node *(*binary_fn)(nb_graph *, nb_node *, nb_node *);

/* ---------------------------------------------------------------- helpers */

/* A parameter of shape s holding uniform values in [lo, hi). */
static nb_node *rand_param(nb_graph *g, const char *name, nb_shape s, uint64_t seed, float lo,
                           float hi)
{
    float v[64];
    int64_t n = nb_shape_numel(s);
    cr_assert_leq(n, 64);
    t_fill(v, n, seed, lo, hi);
    return nb_param(g, name, s, v);
}

/* Like rand_param, but every value is k/10 + off. Two grids whose offsets
 * differ by 0.05 never tie, so max, min and the comparisons stay away from
 * their kinks under finite differences (and abs, sign away from 0). */
static nb_node *grid_param(nb_graph *g, const char *name, nb_shape s, uint64_t seed, float lo,
                           float hi, float off)
{
    float v[64];
    int64_t n = nb_shape_numel(s);
    cr_assert_leq(n, 64);
    t_fill(v, n, seed, lo, hi);
    for (int64_t i = 0; i < n; i++)
        v[i] = roundf(v[i] * 10.0f) / 10.0f + off;
    return nb_param(g, name, s, v);
}

static nb_node *literal(nb_graph *g, nb_shape s, const float *v)
{
    return nb_constant(g, s, v);
}

/* Evaluates y and compares it with want (numel(y) values). */
static void expect_values(nb_graph *g, nb_node *y, const float *want, float tol)
{
    cr_assert_not_null(y, "building failed: %s", nb_graph_error(g));
    float *got = t_eval(g, y, NULL, 0);
    t_assert_close(got, want, nb_shape_numel(nb_node_shape(y)), tol);
    free(got);
}

static void expect_shape(nb_node *y, nb_shape want)
{
    char a[64], b[64];
    cr_assert_not_null(y);
    cr_assert(nb_shape_equal(nb_node_shape(y), want), "shape %s, expected %s",
              nb_shape_format(nb_node_shape(y), a, sizeof a), nb_shape_format(want, b, sizeof b));
}

/* ---------------------------------------------------------------- unary: shapes, refusals */

static const struct {
    const char *name;
    unary_fn fn;
} unaries[] = {
    {"neg", nb_neg},   {"exp", nb_exp},   {"log", nb_log},   {"sqrt", nb_sqrt},
    {"abs", nb_abs},   {"sign", nb_sign}, {"tanh", nb_tanh}, {"sigmoid", nb_sigmoid},
    {"erf", nb_erf},
};
#define N_UNARIES ((int)(sizeof unaries / sizeof unaries[0]))

Test(unary, shape_is_the_input_shape)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(2, 3, 4));
    nb_node *s = nb_scalar(g, 2.0f);
    for (int i = 0; i < N_UNARIES; i++) {
        nb_node *y = unaries[i].fn(g, x);
        expect_shape(y, NB_SHAPE(2, 3, 4));
        cr_assert_str_eq(nb_node_op(y), unaries[i].name);
        expect_shape(unaries[i].fn(g, s), NB_SCALAR);
    }
    expect_shape(nb_relu(g, x), NB_SHAPE(2, 3, 4));
    cr_assert_eq(nb_graph_status(g), NB_OK);
    nb_graph_free(g);
}

Test(unary, null_input_refused_naming_the_op)
{
    for (int i = 0; i < N_UNARIES; i++) {
        nb_graph *g = nb_graph_new();
        cr_assert_null(unaries[i].fn(g, NULL));
        cr_assert_eq(nb_graph_status(g), NB_ERR_ARG);
        t_assert_error(g, unaries[i].name, "NULL", NULL);
        nb_graph_free(g);
    }
    nb_graph *g = nb_graph_new();
    int before = nb_graph_node_count(g);
    cr_assert_null(nb_relu(g, NULL));
    t_assert_error(g, "relu", "NULL", NULL);
    cr_assert_eq(nb_graph_node_count(g), before, "relu of NULL left a node behind");
    nb_graph_free(g);
    cr_assert_null(nb_exp(NULL, NULL));
    cr_assert_null(nb_relu(NULL, NULL));
}

Test(unary, null_input_keeps_the_first_message)
{
    nb_graph *g = nb_graph_new();
    nb_node *a = nb_input(g, "a", NB_SHAPE(3, 4));
    nb_node *b = nb_input(g, "b", NB_SHAPE(5));
    nb_node *bad = nb_add(g, a, b);
    cr_assert_null(bad);
    nb_node *y = nb_sigmoid(g, nb_exp(g, bad));
    cr_assert_null(y);
    cr_assert_null(nb_relu(g, y));
    cr_assert_eq(nb_graph_status(g), NB_ERR_SHAPE);
    t_assert_error(g, "add", "'a'", "[3,4]", "'b'", "[5]", NULL);
    cr_assert_null(strstr(nb_graph_error(g), "sigmoid"));
    cr_assert_null(strstr(nb_graph_error(g), "relu"));
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- unary: forward */

Test(unary, forward_matches_hand_values)
{
    nb_graph *g = nb_graph_new();
    const float xs[] = {-2.0f, -0.5f, 0.0f, 0.5f, 1.0f, 3.0f};
    nb_node *x = literal(g, NB_SHAPE(2, 3), xs);
    const float neg[] = {2.0f, 0.5f, 0.0f, -0.5f, -1.0f, -3.0f};
    const float ex[] = {0.13533528f, 0.60653066f, 1.0f, 1.6487213f, 2.7182818f, 20.085537f};
    const float ab[] = {2.0f, 0.5f, 0.0f, 0.5f, 1.0f, 3.0f};
    const float sg[] = {-1.0f, -1.0f, 0.0f, 1.0f, 1.0f, 1.0f};
    const float th[] = {-0.96402758f, -0.46211716f, 0.0f, 0.46211716f, 0.76159416f, 0.99505475f};
    const float sm[] = {0.11920292f, 0.37754067f, 0.5f, 0.62245933f, 0.73105858f, 0.95257413f};
    expect_values(g, nb_neg(g, x), neg, 1e-6f);
    expect_values(g, nb_exp(g, x), ex, 1e-6f);
    expect_values(g, nb_abs(g, x), ab, 1e-6f);
    expect_values(g, nb_sign(g, x), sg, 0.0f);
    expect_values(g, nb_tanh(g, x), th, 1e-6f);
    expect_values(g, nb_sigmoid(g, x), sm, 1e-6f);
    const float er[] = {-0.99532227f, -0.52049988f, 0.0f, 0.52049988f, 0.84270079f, 0.99997791f};
    expect_values(g, nb_erf(g, x), er, 1e-6f);

    const float ps[] = {0.25f, 1.0f, 4.0f, 2.7182818f};
    nb_node *p = literal(g, NB_SHAPE(4), ps);
    const float lg[] = {-1.3862944f, 0.0f, 1.3862944f, 1.0f};
    const float sq[] = {0.5f, 1.0f, 2.0f, 1.6487213f};
    expect_values(g, nb_log(g, p), lg, 1e-6f);
    expect_values(g, nb_sqrt(g, p), sq, 1e-6f);
    nb_graph_free(g);
}

/* The stable form: no overflow to NaN or inf at either end, and tiny
 * results keep their relative precision. */
Test(unary, sigmoid_is_stable_at_the_extremes)
{
    nb_graph *g = nb_graph_new();
    const float xs[] = {-200.0f, -30.0f, 30.0f, 200.0f};
    float *y = t_eval(g, nb_sigmoid(g, literal(g, NB_SHAPE(4), xs)), NULL, 0);
    for (int i = 0; i < 4; i++)
        cr_assert(isfinite(y[i]) && y[i] >= 0.0f && y[i] <= 1.0f, "sigmoid(%g) = %g", xs[i], y[i]);
    cr_assert_eq(y[0], 0.0f);
    cr_assert_float_eq(y[1], 9.3576230e-14f, 1e-19f, "sigmoid(-30) = %g", y[1]);
    cr_assert_eq(y[2], 1.0f);
    cr_assert_eq(y[3], 1.0f);
    free(y);
    nb_graph_free(g);
}

Test(unary, scalar_input)
{
    nb_graph *g = nb_graph_new();
    const float four = 4.0f;
    expect_values(g, nb_sqrt(g, literal(g, NB_SCALAR, &four)), (float[]){2.0f}, 1e-6f);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- unary: gradients */

Test(unary, gradcheck_every_op)
{
    for (int i = 0; i < N_UNARIES; i++) {
        nb_graph *g = nb_graph_new();
        bool positive = !strcmp(unaries[i].name, "log") || !strcmp(unaries[i].name, "sqrt");
        /* abs and sign: the grid keeps every value ≥ 0.025 away from 0 */
        nb_node *x = positive ? rand_param(g, "x", NB_SHAPE(2, 3), 10 + i, 0.5f, 2.0f)
                              : grid_param(g, "x", NB_SHAPE(2, 3), 10 + i, -1.5f, 1.5f, 0.025f);
        cr_log_info("gradcheck %s", unaries[i].name);
        t_gradcheck(g, unaries[i].fn(g, x), &x, 1, NULL, 0);
        nb_graph_free(g);
    }
}

Test(unary, gradcheck_through_an_input_feed)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(3));
    const float xs[] = {-0.7f, 0.2f, 1.3f};
    nb_feed f = {x, xs};
    t_gradcheck(g, nb_tanh(g, nb_sigmoid(g, x)), &x, 1, &f, 1);
    nb_graph_free(g);
}

/* d sign / dx is 0 and no gradient node flows through it: the gradient of
 * sum(sign x) is all zeros. */
Test(unary, sign_passes_no_gradient)
{
    nb_graph *g = nb_graph_new();
    const float xs[] = {-1.0f, 0.5f, 2.0f};
    nb_node *x = nb_param(g, "x", NB_SHAPE(3), xs);
    nb_node *loss = nb_sum(g, nb_sign(g, x), NULL, 0, false), *dx;
    cr_assert_eq(nb_grad(g, loss, &x, 1, &dx), NB_OK, "%s", nb_graph_error(g));
    expect_values(g, dx, (float[]){0.0f, 0.0f, 0.0f}, 0.0f);
    nb_graph_free(g);
}

/* The exact analytic gradients, one op at a time, at points with known
 * derivatives. */
Test(unary, gradient_values)
{
    nb_graph *g = nb_graph_new();
    const float xs[] = {0.5f, 2.0f};
    nb_node *x = nb_param(g, "x", NB_SHAPE(2), xs);
    struct {
        unary_fn fn;
        float want[2];
    } cases[] = {
        {nb_neg, {-1.0f, -1.0f}},
        {nb_exp, {1.6487213f, 7.3890561f}},
        {nb_log, {2.0f, 0.5f}},
        {nb_sqrt, {0.70710678f, 0.35355339f}},
        {nb_abs, {1.0f, 1.0f}},
        {nb_tanh, {0.78644773f, 0.07065082f}},
        {nb_sigmoid, {0.23500371f, 0.10499359f}},
        {nb_erf, {0.87878258f, 0.020666985f}}, /* 2/√π · e^(−x²) */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nb_node *dx, *loss = nb_sum(g, cases[i].fn(g, x), NULL, 0, false);
        cr_assert_eq(nb_grad(g, loss, &x, 1, &dx), NB_OK, "%s", nb_graph_error(g));
        expect_values(g, dx, cases[i].want, 1e-5f);
    }
    nb_graph_free(g);
}

/* Second derivatives: the vjp rules are graph, so their gradient checks too.
 * dx = d sum(f x) / dx, then dx is checked against finite differences. */
Test(unary, second_derivatives)
{
    for (int i = 0; i < N_UNARIES; i++) {
        if (!strcmp(unaries[i].name, "sign"))
            continue;
        nb_graph *g = nb_graph_new();
        bool positive = !strcmp(unaries[i].name, "log") || !strcmp(unaries[i].name, "sqrt");
        nb_node *x = positive ? rand_param(g, "x", NB_SHAPE(5), 30 + i, 0.5f, 2.0f)
                              : grid_param(g, "x", NB_SHAPE(5), 30 + i, -1.5f, 1.5f, 0.025f);
        nb_node *dx, *loss = nb_sum(g, unaries[i].fn(g, x), NULL, 0, false);
        cr_assert_eq(nb_grad(g, loss, &x, 1, &dx), NB_OK, "%s", nb_graph_error(g));
        cr_log_info("second derivative %s", unaries[i].name);
        t_gradcheck(g, dx, &x, 1, NULL, 0);
        nb_graph_free(g);
    }
}

/* ---------------------------------------------------------------- relu */

Test(relu, values)
{
    nb_graph *g = nb_graph_new();
    const float xs[] = {-1.5f, -0.2f, 0.0f, 0.3f, 2.0f, -7.0f};
    nb_node *y = nb_relu(g, literal(g, NB_SHAPE(3, 2), xs));
    expect_shape(y, NB_SHAPE(3, 2));
    cr_assert_str_eq(nb_node_op(y), "max");
    expect_values(g, y, (float[]){0.0f, 0.0f, 0.0f, 0.3f, 2.0f, 0.0f}, 0.0f);
    nb_graph_free(g);
}

Test(relu, gradient)
{
    nb_graph *g = nb_graph_new();
    const float xs[] = {-1.5f, -0.2f, 0.3f, 2.0f};
    nb_node *x = nb_param(g, "x", NB_SHAPE(4), xs);
    nb_node *dx, *loss = nb_sum(g, nb_relu(g, x), NULL, 0, false);
    cr_assert_eq(nb_grad(g, loss, &x, 1, &dx), NB_OK, "%s", nb_graph_error(g));
    expect_values(g, dx, (float[]){0.0f, 0.0f, 1.0f, 1.0f}, 0.0f);
    nb_node *w = grid_param(g, "w", NB_SHAPE(2, 3), 7, -1.0f, 1.0f, 0.025f);
    t_gradcheck(g, nb_relu(g, w), &w, 1, NULL, 0);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- binary: table */

typedef struct binary_case {
    const char *name;
    binary_fn fn;
    float alo, ahi, blo, bhi; /* value ranges that keep the op smooth */
} binary_case;

static const binary_case binaries[] = {
    {"add", nb_add, -1.0f, 1.0f, -1.0f, 1.0f},
    {"sub", nb_sub, -1.0f, 1.0f, -1.0f, 1.0f},
    {"mul", nb_mul, -1.0f, 1.0f, -1.0f, 1.0f},
    {"div", nb_div, -1.0f, 1.0f, 0.5f, 2.0f},
    {"max", nb_max, -1.0f, 1.0f, -1.0f, 1.0f},
    {"min", nb_min, -1.0f, 1.0f, -1.0f, 1.0f},
    {"pow", nb_pow, 0.5f, 2.0f, -1.5f, 1.5f},
    {"gt", nb_gt, -1.0f, 1.0f, -1.0f, 1.0f},
    {"ge", nb_ge, -1.0f, 1.0f, -1.0f, 1.0f},
    {"eq", nb_eq, -1.0f, 1.0f, -1.0f, 1.0f},
};
#define N_BINARIES ((int)(sizeof binaries / sizeof binaries[0]))

static const binary_case *binary_named(const char *name)
{
    for (int i = 0; i < N_BINARIES; i++)
        if (!strcmp(binaries[i].name, name))
            return &binaries[i];
    cr_assert_fail("no binary op %s", name);
    return NULL;
}

/* The flat offset into an input of shape s of out's multi-index idx
 * (NumPy broadcasting, written out naively). */
static int64_t bcast_offset(nb_shape s, nb_shape out, const int64_t *idx)
{
    int64_t off = 0;
    for (int i = 0; i < s.rank; i++) {
        int io = out.rank - s.rank + i;
        off = off * s.dim[i] + (s.dim[i] == 1 ? 0 : idx[io]);
    }
    return off;
}

/* The naive broadcasting reference for `op` on values x (shape sa) and
 * y (shape sb), into want (shape so). */
static void ref_broadcast(const char *op, const float *x, nb_shape sa, const float *y,
                          nb_shape sb, nb_shape so, float *want)
{
    int64_t idx[NB_MAX_RANK] = {0};
    for (int64_t e = 0; e < nb_shape_numel(so); e++) {
        want[e] = t_ref_binary(op, x[bcast_offset(sa, so, idx)], y[bcast_offset(sb, so, idx)]);
        for (int d = so.rank - 1; d >= 0 && ++idx[d] == so.dim[d]; d--)
            idx[d] = 0;
    }
}

/* The broadcasting directions every binary op is checked in:
 * (a shape, b shape, result shape). */
typedef struct shape_case {
    nb_shape a, b, out;
} shape_case;

static int shape_cases(shape_case *c)
{
    int n = 0;
    c[n++] = (shape_case){NB_SHAPE(3, 4), NB_SHAPE(3, 4), NB_SHAPE(3, 4)};
    c[n++] = (shape_case){NB_SHAPE(3, 4), NB_SHAPE(4), NB_SHAPE(3, 4)};
    c[n++] = (shape_case){NB_SHAPE(4), NB_SHAPE(3, 4), NB_SHAPE(3, 4)};
    c[n++] = (shape_case){NB_SHAPE(3, 1), NB_SHAPE(1, 4), NB_SHAPE(3, 4)};
    c[n++] = (shape_case){NB_SHAPE(3, 4), NB_SHAPE(3, 1), NB_SHAPE(3, 4)};
    c[n++] = (shape_case){NB_SCALAR, NB_SHAPE(3, 4), NB_SHAPE(3, 4)};
    c[n++] = (shape_case){NB_SHAPE(3, 4), NB_SCALAR, NB_SHAPE(3, 4)};
    c[n++] = (shape_case){NB_SHAPE(2, 3, 2), NB_SHAPE(1, 3, 1), NB_SHAPE(2, 3, 2)};
    c[n++] = (shape_case){NB_SHAPE(1, 3, 1), NB_SHAPE(2, 3, 2), NB_SHAPE(2, 3, 2)};
    c[n++] = (shape_case){NB_SHAPE(2, 1, 3), NB_SHAPE(4, 1), NB_SHAPE(2, 4, 3)};
    c[n++] = (shape_case){NB_SCALAR, NB_SCALAR, NB_SCALAR};
    c[n++] = (shape_case){NB_SHAPE(1), NB_SHAPE(2, 1), NB_SHAPE(2, 1)};
    return n;
}

/* ---------------------------------------------------------------- binary: shapes, refusals */

Test(binary, shapes_broadcast)
{
    shape_case c[16];
    int n = shape_cases(c);
    nb_graph *g = nb_graph_new();
    for (int k = 0; k < n; k++) {
        nb_node *a = nb_full(g, c[k].a, 1.0f), *b = nb_full(g, c[k].b, 2.0f);
        for (int i = 0; i < N_BINARIES; i++) {
            nb_node *y = binaries[i].fn(g, a, b);
            expect_shape(y, c[k].out);
            cr_assert_str_eq(nb_node_op(y), binaries[i].name);
        }
    }
    cr_assert_eq(nb_graph_status(g), NB_OK, "%s", nb_graph_error(g));
    nb_graph_free(g);
}

Test(binary, refuses_shapes_that_do_not_broadcast)
{
    for (int i = 0; i < N_BINARIES; i++) {
        nb_graph *g = nb_graph_new();
        nb_node *a = nb_input(g, "a", NB_SHAPE(3, 4));
        nb_node *b = nb_input(g, "b", NB_SHAPE(5));
        int before = nb_graph_node_count(g);
        cr_assert_null(binaries[i].fn(g, a, b));
        cr_assert_eq(nb_graph_status(g), NB_ERR_SHAPE);
        t_assert_error(g, binaries[i].name, "'a'", "[3,4]", "'b'", "[5]", NULL);
        cr_assert_eq(nb_graph_node_count(g), before);
        nb_graph_free(g);
    }
    /* a mismatch in a leading axis, and within a scope */
    nb_graph *g = nb_graph_new();
    nb_scope_push(g, "layer");
    nb_node *a = nb_input(g, "x", NB_SHAPE(2, 3, 4));
    nb_node *b = nb_input(g, "y", NB_SHAPE(5, 1, 4));
    cr_assert_null(nb_mul(g, a, b));
    t_assert_error(g, "mul", "'layer/x' [2,3,4]", "'layer/y' [5,1,4]", NULL);
    nb_graph_free(g);
}

Test(binary, null_inputs_refused_keeping_the_first_message)
{
    for (int i = 0; i < N_BINARIES; i++) {
        nb_graph *g = nb_graph_new();
        nb_node *x = nb_input(g, "x", NB_SHAPE(2));
        cr_assert_null(binaries[i].fn(g, NULL, x));
        cr_assert_eq(nb_graph_status(g), NB_ERR_ARG);
        t_assert_error(g, binaries[i].name, "NULL", NULL);
        nb_graph_clear_error(g);
        cr_assert_null(binaries[i].fn(g, x, NULL));
        t_assert_error(g, binaries[i].name, "NULL", NULL);
        nb_graph_free(g);
    }
    nb_graph *g = nb_graph_new();
    nb_node *a = nb_input(g, "a", NB_SHAPE(3, 4));
    nb_node *b = nb_input(g, "b", NB_SHAPE(5));
    nb_node *sum = nb_add(g, a, b); /* fails first: shapes */
    nb_node *prod = nb_mul(g, sum, a);
    nb_node *quot = nb_div(g, b, NULL);
    cr_assert_null(nb_sub(g, prod, quot));
    cr_assert_eq(nb_graph_status(g), NB_ERR_SHAPE);
    t_assert_error(g, "add", "'a' [3,4]", "'b' [5]", NULL);
    cr_assert_null(nb_add(NULL, a, b));
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- binary: forward */

Test(binary, forward_matches_hand_values)
{
    nb_graph *g = nb_graph_new();
    const float av[] = {1.0f, -2.0f, 3.0f, 4.0f, 0.5f, -1.0f};
    const float bv[] = {2.0f, -2.0f, 0.5f};
    nb_node *a = literal(g, NB_SHAPE(2, 3), av), *b = literal(g, NB_SHAPE(3), bv);
    struct {
        binary_fn fn;
        float want[6];
    } cases[] = {
        {nb_add, {3.0f, -4.0f, 3.5f, 6.0f, -1.5f, -0.5f}},
        {nb_sub, {-1.0f, 0.0f, 2.5f, 2.0f, 2.5f, -1.5f}},
        {nb_mul, {2.0f, 4.0f, 1.5f, 8.0f, -1.0f, -0.5f}},
        {nb_div, {0.5f, 1.0f, 6.0f, 2.0f, -0.25f, -2.0f}},
        {nb_max, {2.0f, -2.0f, 3.0f, 4.0f, 0.5f, 0.5f}},
        {nb_min, {1.0f, -2.0f, 0.5f, 2.0f, -2.0f, -1.0f}},
        {nb_gt, {0.0f, 0.0f, 1.0f, 1.0f, 1.0f, 0.0f}},
        {nb_ge, {0.0f, 1.0f, 1.0f, 1.0f, 1.0f, 0.0f}},
        {nb_eq, {0.0f, 1.0f, 0.0f, 0.0f, 0.0f, 0.0f}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_values(g, cases[i].fn(g, a, b), cases[i].want, 1e-6f);

    const float pa[] = {2.0f, 3.0f, 4.0f, 9.0f}, pb[] = {2.0f, 0.5f};
    nb_node *y = nb_pow(g, literal(g, NB_SHAPE(2, 2), pa), literal(g, NB_SHAPE(2), pb));
    expect_values(g, y, (float[]){4.0f, 1.7320508f, 16.0f, 3.0f}, 1e-6f);
    nb_graph_free(g);
}

Test(binary, forward_outer_and_scalar_broadcasts)
{
    nb_graph *g = nb_graph_new();
    const float col[] = {1.0f, 2.0f, 3.0f}, row[] = {10.0f, 20.0f, 30.0f, 40.0f};
    nb_node *c = literal(g, NB_SHAPE(3, 1), col), *r = literal(g, NB_SHAPE(1, 4), row);
    expect_values(g, nb_add(g, c, r),
                  (float[]){11, 21, 31, 41, 12, 22, 32, 42, 13, 23, 33, 43}, 0.0f);
    expect_values(g, nb_sub(g, r, c),
                  (float[]){9, 19, 29, 39, 8, 18, 28, 38, 7, 17, 27, 37}, 0.0f);
    nb_node *x = literal(g, NB_SHAPE(4), row), *two = nb_scalar(g, 2.0f);
    expect_values(g, nb_sub(g, two, x), (float[]){-8, -18, -28, -38}, 0.0f);
    expect_values(g, nb_sub(g, x, two), (float[]){8, 18, 28, 38}, 0.0f);
    expect_values(g, nb_div(g, two, x), (float[]){0.2f, 0.1f, 2.0f / 30.0f, 0.05f}, 1e-6f);
    expect_values(g, nb_pow(g, x, two), (float[]){100, 400, 900, 1600}, 1e-6f);
    expect_values(g, nb_mul(g, two, nb_scalar(g, 3.5f)), (float[]){7.0f}, 0.0f);
    nb_graph_free(g);
}

/* Ties: max and min both give a's value; comparisons at equality. */
Test(binary, ties)
{
    nb_graph *g = nb_graph_new();
    const float av[] = {1.0f, -0.0f}, bv[] = {1.0f, 0.0f};
    nb_node *a = literal(g, NB_SHAPE(2), av), *b = literal(g, NB_SHAPE(2), bv);
    expect_values(g, nb_gt(g, a, b), (float[]){0, 0}, 0.0f);
    expect_values(g, nb_ge(g, a, b), (float[]){1, 1}, 0.0f);
    expect_values(g, nb_eq(g, a, b), (float[]){1, 1}, 0.0f);
    float *mx = t_eval(g, nb_max(g, a, b), NULL, 0), *mn = t_eval(g, nb_min(g, a, b), NULL, 0);
    cr_assert(signbit(mx[1]) && signbit(mn[1]), "a tie keeps a's value (-0)");
    free(mx), free(mn);
    nb_graph_free(g);
}

/* Every op in every broadcasting direction against the naive reference. */
Test(binary, forward_every_direction_matches_reference)
{
    shape_case c[16];
    int n = shape_cases(c);
    for (int i = 0; i < N_BINARIES; i++)
        for (int k = 0; k < n; k++) {
            const binary_case *bc = &binaries[i];
            nb_graph *g = nb_graph_new();
            float av[64], bv[64], want[64];
            t_fill(av, nb_shape_numel(c[k].a), 100 + k, bc->alo, bc->ahi);
            t_fill(bv, nb_shape_numel(c[k].b), 200 + k, bc->blo, bc->bhi);
            bv[0] = av[0]; /* one tie, for the comparisons */
            nb_node *a = literal(g, c[k].a, av), *b = literal(g, c[k].b, bv);
            ref_broadcast(bc->name, av, c[k].a, bv, c[k].b, c[k].out, want);
            cr_log_info("%s case %d", bc->name, k);
            expect_values(g, bc->fn(g, a, b), want, 1e-6f);
            nb_graph_free(g);
        }
}

/* Tensors big enough for the threaded path and rows longer than one block. */
Test(binary, forward_large_matches_reference)
{
    struct {
        nb_shape a, b, out;
    } c[] = {
        {NB_SHAPE(3, 20000), NB_SHAPE(20000), NB_SHAPE(3, 20000)},
        {NB_SHAPE(70001), NB_SCALAR, NB_SHAPE(70001)},
        {NB_SHAPE(2, 3, 7000), NB_SHAPE(1, 3, 1), NB_SHAPE(2, 3, 7000)},
        {NB_SHAPE(300, 1), NB_SHAPE(1, 257), NB_SHAPE(300, 257)},
        {NB_SHAPE(5, 9000), NB_SHAPE(5, 9000), NB_SHAPE(5, 9000)},
    };
    const char *ops[] = {"add", "max", "div", "ge"};
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++)
        for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
            const binary_case *bc = binary_named(ops[o]);
            int64_t na = nb_shape_numel(c[k].a), nb = nb_shape_numel(c[k].b);
            int64_t no = nb_shape_numel(c[k].out);
            float *av = malloc(na * sizeof *av), *bv = malloc(nb * sizeof *bv);
            float *want = malloc(no * sizeof *want);
            t_fill(av, na, 1 + k, -1.0f, 1.0f);
            t_fill(bv, nb, 2 + k, 0.5f, 2.0f);
            ref_broadcast(bc->name, av, c[k].a, bv, c[k].b, c[k].out, want);
            nb_graph *g = nb_graph_new();
            nb_node *y = bc->fn(g, literal(g, c[k].a, av), literal(g, c[k].b, bv));
            cr_log_info("large %s case %zu", ops[o], k);
            expect_values(g, y, want, 1e-6f);
            nb_graph_free(g);
            free(av), free(bv), free(want);
        }
}

/* ---------------------------------------------------------------- binary: gradients */

/* Gradient check of one op in every broadcasting direction, with respect to
 * both inputs. Grid values keep max, min and comparisons off their ties. */
static void gradcheck_binary(const char *name)
{
    const binary_case *bc = binary_named(name);
    shape_case c[16];
    int n = shape_cases(c);
    for (int k = 0; k < n; k++) {
        nb_graph *g = nb_graph_new();
        nb_node *a = grid_param(g, "a", c[k].a, 300 + k, bc->alo, bc->ahi, 0.025f);
        nb_node *b = grid_param(g, "b", c[k].b, 400 + k, bc->blo, bc->bhi, 0.075f);
        nb_node *wrt[] = {a, b};
        cr_log_info("gradcheck %s case %d", name, k);
        t_gradcheck(g, bc->fn(g, a, b), wrt, 2, NULL, 0);
        nb_graph_free(g);
    }
}

Test(binary_grad, add) { gradcheck_binary("add"); }
Test(binary_grad, sub) { gradcheck_binary("sub"); }
Test(binary_grad, mul) { gradcheck_binary("mul"); }
Test(binary_grad, div) { gradcheck_binary("div"); }
Test(binary_grad, max) { gradcheck_binary("max"); }
Test(binary_grad, min) { gradcheck_binary("min"); }
Test(binary_grad, pow) { gradcheck_binary("pow"); }
Test(binary_grad, gt) { gradcheck_binary("gt"); }
Test(binary_grad, ge) { gradcheck_binary("ge"); }
Test(binary_grad, eq) { gradcheck_binary("eq"); }

/* Exact gradients, including where ties send dy: to a for both max and min. */
Test(binary_grad, values_and_ties)
{
    nb_graph *g = nb_graph_new();
    const float av[] = {1.0f, 2.0f, 3.0f}, bv[] = {2.0f, 2.0f, 1.0f};
    nb_node *a = nb_param(g, "a", NB_SHAPE(3), av), *b = nb_param(g, "b", NB_SHAPE(3), bv);
    nb_node *wrt[] = {a, b}, *d[2];
    struct {
        binary_fn fn;
        float da[3], db[3];
    } cases[] = {
        {nb_max, {0, 1, 1}, {1, 0, 0}},
        {nb_min, {1, 1, 0}, {0, 0, 1}},
        {nb_mul, {2, 2, 1}, {1, 2, 3}},
        {nb_div, {0.5f, 0.5f, 1.0f}, {-0.25f, -0.5f, -3.0f}},
        {nb_pow, {2.0f, 4.0f, 1.0f}, {0.0f, 2.7725887f, 3.2958369f}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nb_node *loss = nb_sum(g, cases[i].fn(g, a, b), NULL, 0, false);
        cr_assert_eq(nb_grad(g, loss, wrt, 2, d), NB_OK, "%s", nb_graph_error(g));
        expect_values(g, d[0], cases[i].da, 1e-6f);
        expect_values(g, d[1], cases[i].db, 1e-6f);
    }
    /* a broadcast operand receives the sum over the stretched axis */
    nb_node *m = nb_param(g, "m", NB_SHAPE(2, 3), (float[]){1, 2, 3, 4, 5, 6});
    nb_node *wm[] = {m, a};
    nb_node *loss = nb_sum(g, nb_mul(g, m, a), NULL, 0, false);
    cr_assert_eq(nb_grad(g, loss, wm, 2, d), NB_OK, "%s", nb_graph_error(g));
    expect_shape(d[1], NB_SHAPE(3));
    expect_values(g, d[0], (float[]){1, 2, 3, 1, 2, 3}, 0.0f);
    expect_values(g, d[1], (float[]){5, 7, 9}, 0.0f);
    nb_graph_free(g);
}

/* Comparisons pass no gradient: wrt their inputs the gradient is zero. */
Test(binary_grad, comparisons_pass_no_gradient)
{
    nb_graph *g = nb_graph_new();
    nb_node *a = nb_param(g, "a", NB_SHAPE(2), (float[]){1, 3});
    nb_node *b = nb_param(g, "b", NB_SHAPE(2), (float[]){2, 2});
    binary_fn fns[] = {nb_gt, nb_ge, nb_eq};
    for (int i = 0; i < 3; i++) {
        nb_node *wrt[] = {a, b}, *d[2];
        nb_node *loss = nb_sum(g, nb_mul(g, fns[i](g, a, b), a), NULL, 0, false);
        cr_assert_eq(nb_grad(g, loss, wrt, 2, d), NB_OK, "%s", nb_graph_error(g));
        float *da = t_eval(g, d[0], NULL, 0), *db = t_eval(g, d[1], NULL, 0);
        float *mask = t_eval(g, fns[i](g, a, b), NULL, 0);
        t_assert_close(da, mask, 2, 0.0f); /* only through the mul */
        t_assert_close(db, (float[]){0, 0}, 2, 0.0f);
        free(da), free(db), free(mask);
    }
    nb_graph_free(g);
}

/* Second derivatives through the binary vjp rules, broadcasting included:
 * the gradient of sum(f(a, b)²) is itself checked by finite differences. */
Test(binary_grad, second_derivatives)
{
    const char *ops[] = {"add", "sub", "mul", "div", "max", "min", "pow"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        const binary_case *bc = binary_named(ops[i]);
        nb_graph *g = nb_graph_new();
        nb_node *a = grid_param(g, "a", NB_SHAPE(2, 3), 50 + i, bc->alo, bc->ahi, 0.025f);
        nb_node *b = grid_param(g, "b", NB_SHAPE(3), 60 + i, bc->blo, bc->bhi, 0.075f);
        nb_node *y = bc->fn(g, a, b);
        nb_node *wrt[] = {a, b}, *d[2];
        nb_node *loss = nb_sum(g, nb_mul(g, y, y), NULL, 0, false);
        cr_assert_eq(nb_grad(g, loss, wrt, 2, d), NB_OK, "%s", nb_graph_error(g));
        cr_log_info("second derivative %s", ops[i]);
        t_gradcheck(g, d[0], wrt, 2, NULL, 0);
        t_gradcheck(g, d[1], wrt, 2, NULL, 0);
        nb_graph_free(g);
    }
}

/* ---------------------------------------------------------------- where */

Test(where, forward_with_broadcast_cond)
{
    nb_graph *g = nb_graph_new();
    const float cv[] = {1.0f, 0.0f};
    const float av[] = {1, 2, 3, 4, 5, 6};
    nb_node *c = literal(g, NB_SHAPE(2, 1), cv), *a = literal(g, NB_SHAPE(2, 3), av);
    nb_node *y = nb_where(g, c, a, nb_scalar(g, 7.0f));
    expect_shape(y, NB_SHAPE(2, 3));
    expect_values(g, y, (float[]){1, 2, 3, 7, 7, 7}, 0.0f);

    /* cond along the last axis, any non-zero (even negative, NaN) picks a */
    const float cr[] = {-2.0f, 0.0f, NAN}, bv[] = {10, 20, 30, 40, 50, 60};
    nb_node *c3 = literal(g, NB_SHAPE(3), cr), *b = literal(g, NB_SHAPE(2, 3), bv);
    expect_values(g, nb_where(g, c3, a, b), (float[]){1, 20, 3, 4, 50, 6}, 0.0f);

    /* all three broadcast: [3,1] cond, [4] a, scalar b -> [3,4] */
    const float c31[] = {0, 1, 0}, a4[] = {1, 2, 3, 4};
    y = nb_where(g, literal(g, NB_SHAPE(3, 1), c31), literal(g, NB_SHAPE(4), a4),
                 nb_scalar(g, -1.0f));
    expect_shape(y, NB_SHAPE(3, 4));
    expect_values(g, y, (float[]){-1, -1, -1, -1, 1, 2, 3, 4, -1, -1, -1, -1}, 0.0f);

    /* same shapes: the flat path */
    const float ce[] = {1, 0, 1, 0, 1, 0};
    expect_values(g, nb_where(g, literal(g, NB_SHAPE(2, 3), ce), a, b),
                  (float[]){1, 20, 3, 40, 5, 60}, 0.0f);
    nb_graph_free(g);
}

Test(where, refusals)
{
    nb_graph *g = nb_graph_new();
    nb_node *c = nb_input(g, "c", NB_SHAPE(3, 4));
    nb_node *a = nb_input(g, "a", NB_SHAPE(5));
    nb_node *b = nb_input(g, "b", NB_SHAPE(3, 4));
    cr_assert_null(nb_where(g, c, a, b));
    cr_assert_eq(nb_graph_status(g), NB_ERR_SHAPE);
    t_assert_error(g, "where", "'c' [3,4]", "'a' [5]", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_where(g, c, b, a));
    t_assert_error(g, "where", "'b' [3,4]", "'a' [5]", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_where(g, NULL, b, b));
    cr_assert_eq(nb_graph_status(g), NB_ERR_ARG);
    t_assert_error(g, "where", "NULL", NULL);
    cr_assert_null(nb_where(g, c, NULL, b)); /* keeps the first message */
    t_assert_error(g, "where: input 0", NULL);
    cr_assert_null(nb_where(NULL, c, b, b));
    nb_graph_free(g);
}

Test(where, gradient)
{
    nb_graph *g = nb_graph_new();
    nb_node *c = literal(g, NB_SHAPE(3, 1), (float[]){1, 0, 1});
    nb_node *a = rand_param(g, "a", NB_SHAPE(3, 4), 5, -1.0f, 1.0f);
    nb_node *b = rand_param(g, "b", NB_SHAPE(4), 6, -1.0f, 1.0f);
    nb_node *wrt[] = {a, b}, *d[2];
    nb_node *y = nb_where(g, c, a, b);
    t_gradcheck(g, y, wrt, 2, NULL, 0);

    nb_node *loss = nb_sum(g, y, NULL, 0, false);
    cr_assert_eq(nb_grad(g, loss, wrt, 2, d), NB_OK, "%s", nb_graph_error(g));
    expect_values(g, d[0], (float[]){1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1}, 0.0f);
    expect_values(g, d[1], (float[]){1, 1, 1, 1}, 0.0f);

    /* cond an input of the graph, branches broadcast the other way round */
    nb_node *ci = nb_input(g, "ci", NB_SHAPE(4));
    const float cv[] = {0, 1, 1, 0};
    nb_feed f = {ci, cv};
    nb_node *s = rand_param(g, "s", NB_SCALAR, 7, -1.0f, 1.0f);
    nb_node *w2[] = {s, a};
    t_gradcheck(g, nb_where(g, ci, s, nb_mul(g, a, a)), w2, 2, &f, 1);
    nb_graph_free(g);
}

/* where's gradient is made of where and sums: it differentiates again. */
Test(where, second_derivative)
{
    nb_graph *g = nb_graph_new();
    nb_node *c = literal(g, NB_SHAPE(2, 1), (float[]){0, 1});
    nb_node *a = rand_param(g, "a", NB_SHAPE(2, 3), 8, -1.0f, 1.0f);
    nb_node *b = rand_param(g, "b", NB_SHAPE(3), 9, -1.0f, 1.0f);
    nb_node *y = nb_where(g, c, nb_mul(g, a, a), nb_exp(g, b));
    nb_node *wrt[] = {a, b}, *d[2];
    nb_node *loss = nb_sum(g, nb_mul(g, y, y), NULL, 0, false);
    cr_assert_eq(nb_grad(g, loss, wrt, 2, d), NB_OK, "%s", nb_graph_error(g));
    t_gradcheck(g, d[0], wrt, 2, NULL, 0);
    t_gradcheck(g, d[1], wrt, 2, NULL, 0);
    nb_graph_free(g);
}
