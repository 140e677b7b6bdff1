/*
 * helpers.h — small conveniences shared by the Criterion suites: seeded
 * random fills, evaluating a node once, and asserting gradient checks.
 */
#ifndef NB_TEST_HELPERS_H
#define NB_TEST_HELPERS_H

#include <criterion/criterion.h>

#include "nabla.h"

/* Uniform values in [lo, hi) from a fixed seed (xorshift: no global state). */
void t_fill(float *x, int64_t n, uint64_t seed, float lo, float hi);

/* Compiles a runtime for `out` alone, feeds the inputs, runs once, and
 * returns a malloc'd copy of out's values (numel floats; caller frees).
 * Fails the test with the library's message if any step fails. */
float *t_eval(nb_graph *g, nb_node *out, const nb_feed *feeds, int n_feeds);

/* Asserts nb_gradcheck passes for y with respect to wrt (default options). */
void t_gradcheck(nb_graph *g, nb_node *y, nb_node *const *wrt, int n_wrt, const nb_feed *feeds,
                 int n_feeds);

/* Asserts |a[i] - b[i]| <= tol·max(1, |b[i]|) for every i, naming the index. */
void t_assert_close(const float *a, const float *b, int64_t n, float tol);

/* Runs out[0..n_out) of g, fed in[k] = data[k], with fusion off and on at 1
 * and 2 threads: asserts every output agrees within tol (t_assert_close),
 * the fused values are the same bits at both thread counts and fusion saves
 * the same steps at both; returns how many steps it saved. Leaves fusion on. */
int t_fused_both_ways(nb_graph *g, nb_node *const *out, int n_out, nb_node *const *in,
                      float *const *data, int n_in, float tol);

/* Asserts the graph holds an error whose message contains every string in
 * the NULL-terminated list. */
void t_assert_error(nb_graph *g, ...);

/* What binary op `op` ("add", "sub", "mul", "div", "max", "min", "pow",
 * "gt", "ge", "eq") gives for x and y, written out one element at a time:
 * the reference the elementwise kernels are checked against. */
float t_ref_binary(const char *op, float x, float y);

/* Output length of a window of k taps, stride s, pad p, dilation d over h. */
int64_t t_window_out(int64_t h, int k, int s, int p, int d);

/* The window with zero stride and dilation spelled out as 1 (their defaults). */
nb_window2d t_window_norm(nb_window2d w);

/* Skips the calling test when nabla was built without `feature` ("hdf5",
 * "graphviz", "png": nb_built_with), saying so. */
#define t_need(feature)                                                          \
    do {                                                                         \
        if (!nb_built_with(feature))                                             \
            cr_skip_test("nabla was built without %s", feature);                \
    } while (0)

/* The optimiser options of `kind` at their defaults, with lr and momentum. */
nb_optimizer_opts t_optimizer(nb_optimizer_kind kind, float lr, float momentum);

/* The fixture's 500 training ("train") or 200 test ("test") Fashion-MNIST
 * images and labels, from $NABLA_FIXTURES; the test fails if they do not load. */
nb_dataset *t_fixture(const char *part);

#endif
