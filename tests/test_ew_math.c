/*
 * test_ew_math.c — exp, tanh and sigmoid, whose kernels compute e^v in
 * plain arithmetic so they vectorise (ops/kernels/ew_math.h), against a
 * double-precision reference: every 1e-3 over [-20, 20] and the edges
 * (±0, ±inf, NaN, ±88, ±1e-8, denormals, beyond overflow). Where the true
 * value is a normal float the relative error stays within MAX_REL (2 ulp of
 * 1); below that the error stays within two denormal steps; NaN gives NaN,
 * overflow inf, and sigmoid and tanh saturate to 0, ±1. The values are the
 * same bits at 1 and 2 threads.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

/* 2 ulp of 1, 2.4e-7: the bound the kernels are held to. Measured with
 * GCC on x86-64 (the test prints it): exp 7.6e-8, tanh 1.3e-7, sigmoid
 * 1.7e-7. */
#define MAX_REL (2.0 * FLT_EPSILON)

#define SWEEP 40001

static const float edges[] = {0.0f,    -0.0f,    INFINITY, -INFINITY, NAN,     88.0f,
                              -88.0f,  88.72f,   -87.5f,   89.0f,     -89.0f,  1e-8f,
                              -1e-8f,  1e-40f,   -1e-40f,  FLT_TRUE_MIN, -FLT_TRUE_MIN,
                              FLT_MIN, -FLT_MIN, 104.0f,   -104.0f,   200.0f,  -200.0f,
                              FLT_MAX, -FLT_MAX, 0.625f,   -0.625f,   0.6249999f, -103.5f};
#define N_EDGES ((int64_t)(sizeof edges / sizeof edges[0]))

/* The sweep then the edges. */
static float *inputs(int64_t *n)
{
    *n = SWEEP + N_EDGES;
    float *x = malloc((size_t)*n * sizeof *x);
    cr_assert_not_null(x);
    for (int64_t i = 0; i < SWEEP; i++)
        x[i] = (float)(-20.0 + 1e-3 * (double)i);
    memcpy(x + SWEEP, edges, sizeof edges);
    return x;
}

static double ref(int k, double v)
{
    switch (k) {
    case 0: return exp(v);
    case 1: return tanh(v);
    default: return 1.0 / (1.0 + exp(-v));
    }
}

typedef nb_node *(*unary_fn)(nb_graph *, nb_node *);
static const unary_fn fns[] = {nb_exp, nb_tanh, nb_sigmoid};
static const char *const names[] = {"exp", "tanh", "sigmoid"};

/* Op k over the inputs at the given thread count. */
static float *run(int k, const float *x, int64_t n, int threads)
{
    nb_set_threads(threads);
    nb_graph *g = nb_graph_new();
    nb_node *in = nb_input(g, "x", NB_SHAPE(n));
    nb_feed f = {in, x};
    float *got = t_eval(g, fns[k](g, in), &f, 1);
    nb_graph_free(g);
    return got;
}

/* got against the double reference of v; returns the relative error where
 * the reference is a normal float, else 0 after checking the other cases. */
static double check_one(int k, float v, float got)
{
    double want = ref(k, (double)v);
    float wantf = (float)want;
    if (isnan(want)) {
        cr_assert(isnan(got), "%s(%g): got %g, want NaN", names[k], v, got);
        return 0;
    }
    if (isinf(wantf) || wantf == 0.0f || fabsf(wantf) == 1.0f) {
        /* overflow, saturation and exact zeros: the exact float, sign too */
        cr_assert(got == wantf && signbit(got) == signbit(wantf), "%s(%g): got %g, want %g",
                  names[k], v, got, wantf);
        return 0;
    }
    if (fabs(want) < FLT_MIN) {
        cr_assert(fabs((double)got - want) <= 2.0 * FLT_TRUE_MIN, "%s(%g): got %g, want %g",
                  names[k], v, got, want);
        return 0;
    }
    double rel = fabs((double)got - want) / fabs(want);
    cr_assert(rel <= MAX_REL, "%s(%.9g): got %.9g, want %.9g (rel %g)", names[k], v, got, want,
              rel);
    return rel;
}

Test(ew_math, against_double_over_a_dense_sweep_and_edges)
{
    int64_t n;
    float *x = inputs(&n);
    for (int k = 0; k < 3; k++) {
        float *got = run(k, x, n, 1);
        double worst = 0;
        for (int64_t i = 0; i < n; i++) {
            double rel = check_one(k, x[i], got[i]);
            worst = rel > worst ? rel : worst;
        }
        fprintf(stderr, "%s: max relative error %.3g (%.2f ulp of 1)\n", names[k], worst,
                worst / FLT_EPSILON);
        free(got);
    }
    free(x);
}

/* Sigmoid and tanh stay within their ranges however far out v goes. */
Test(ew_math, saturate_without_overflow)
{
    const float far[] = {30.0f, 50.0f, 88.0f, 89.0f, 1e10f, FLT_MAX, INFINITY};
    for (size_t i = 0; i < sizeof far / sizeof far[0]; i++) {
        float two[2] = {far[i], -far[i]};
        float *t = run(1, two, 2, 1), *s = run(2, two, 2, 1);
        cr_assert(t[0] == 1.0f && t[1] == -1.0f, "tanh(±%g): %g, %g", far[i], t[0], t[1]);
        cr_assert(s[0] == 1.0f && s[1] >= 0.0f && s[1] < 1e-13f, "sigmoid(±%g): %g, %g",
                  far[i], s[0], s[1]);
        free(t);
        free(s);
    }
}

Test(ew_math, same_bits_at_one_and_two_threads)
{
    int64_t n;
    float *x = inputs(&n);
    for (int k = 0; k < 3; k++) {
        float *one = run(k, x, n, 1), *two = run(k, x, n, 2);
        cr_assert(memcmp(one, two, (size_t)n * sizeof *one) == 0, "%s differs", names[k]);
        free(one);
        free(two);
    }
    free(x);
}
