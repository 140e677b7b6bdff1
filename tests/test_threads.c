/*
 * test_threads.c — the thread count never changes a result: LeNet-5 trained
 * on the fixture's images at 1 thread, at 2, and under the default setting
 * (every core, tuned to the load while it runs) ends with the same bits in
 * every parameter. This is what lets the default move between counts in the
 * middle of a run, and keeps a seeded run and a resumed one reproducible.
 */
#define _GNU_SOURCE /* sched_getaffinity */
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

/* LeNet-5 as `nabla train` builds it: its dense products (400→120→84→10
 * at batch 50) are big enough for sgemm, whose own thread split once gave
 * other bits at 2 threads than at 1. */
static nb_status lenet5(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 28, 28));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_conv2d(g, io->x, (nb_conv2d_opts){.filters = 6, .kernel = 5, .pad = 2,
                                                      .activation = NB_ACT_RELU});
    h = nb_maxpool2d(g, h, (nb_pool2d_opts){.size = 2});
    h = nb_conv2d(g, h, (nb_conv2d_opts){.filters = 16, .kernel = 5, .activation = NB_ACT_RELU});
    h = nb_flatten(g, nb_maxpool2d(g, h, (nb_pool2d_opts){.size = 2}));
    h = nb_dense(g, h, (nb_dense_opts){.units = 120, .activation = NB_ACT_RELU});
    h = nb_dense(g, h, (nb_dense_opts){.units = 84, .activation = NB_ACT_RELU});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 10});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

/* Every parameter after one epoch at `threads` (nb_set_threads), end to
 * end in one buffer of *n floats. */
static float *train_at(int threads, const nb_dataset *d, int64_t *n)
{
    nb_set_threads(threads);
    nb_train_opts o = {.batch = 50, .epochs = 1, .seed = 3,
                       .optimizer = {.kind = NB_OPT_SGD, .lr = 0.05f, .momentum = 0.9f}};
    nb_error err;
    nb_trainer *t = nb_trainer_new(lenet5, NULL, d->shape, 1, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    cr_assert_eq(nb_trainer_fit(t, d, NULL), NB_OK, "%s", nb_trainer_error(t));
    nb_graph *g = nb_trainer_graph(t);
    *n = 0;
    for (int i = 0; i < nb_graph_num_params(g); i++)
        *n += nb_shape_numel(nb_node_shape(nb_graph_param(g, i)));
    float *all = malloc((size_t)*n * sizeof *all), *at = all;
    for (int i = 0; i < nb_graph_num_params(g); i++) {
        nb_node *p = nb_graph_param(g, i);
        int64_t k = nb_shape_numel(nb_node_shape(p));
        memcpy(at, nb_param_data(p), (size_t)k * sizeof *at);
        at += k;
    }
    nb_trainer_free(t);
    return all;
}

Test(threads, training_gives_the_same_bits_at_any_thread_count)
{
    nb_dataset *d = t_fixture("train");
    int64_t n1, n2, n0;
    float *one = train_at(1, d, &n1), *two = train_at(2, d, &n2), *tuned = train_at(0, d, &n0);
    cr_assert(n1 == n2 && n1 == n0);
    int64_t diff2 = 0, diff0 = 0;
    for (int64_t i = 0; i < n1; i++) {
        diff2 += memcmp(&one[i], &two[i], sizeof(float)) != 0;
        diff0 += memcmp(&one[i], &tuned[i], sizeof(float)) != 0;
    }
    cr_assert_eq(diff2, 0, "%lld of %lld parameters differ at 2 threads", (long long)diff2,
                 (long long)n1);
    cr_assert_eq(diff0, 0, "%lld of %lld parameters differ at the tuned setting",
                 (long long)diff0, (long long)n1);
    free(one), free(two), free(tuned);
    nb_dataset_free(d);
}

/* op(a)·op(b) for a m×k · k×n product, inputs from a fixed generator. */
static float *product_at(int threads, int64_t m, int64_t k, int64_t n, bool ta, bool tb)
{
    nb_set_threads(threads);
    nb_graph *g = nb_graph_new();
    nb_node *a = nb_input(g, "a", ta ? NB_SHAPE(k, m) : NB_SHAPE(m, k));
    nb_node *b = nb_input(g, "b", tb ? NB_SHAPE(n, k) : NB_SHAPE(k, n));
    nb_node *z = nb_matmul(g, a, b, ta, tb);
    float *av = malloc((size_t)(m * k) * sizeof *av), *bv = malloc((size_t)(k * n) * sizeof *bv);
    for (int64_t i = 0; i < m * k; i++)
        av[i] = (float)((i * 7919) % 2003) / 1001.0f - 1.0f;
    for (int64_t i = 0; i < k * n; i++)
        bv[i] = (float)((i * 104729) % 1999) / 999.0f - 1.0f;
    nb_runtime *rt = nb_runtime_new(g, &z, 1);
    cr_assert_not_null(rt, "%s", nb_graph_error(g));
    cr_assert_eq(nb_runtime_set_input(rt, a, av) || nb_runtime_set_input(rt, b, bv) ||
                     nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt));
    float *out = malloc((size_t)(m * n) * sizeof *out);
    memcpy(out, nb_runtime_value(rt, z), (size_t)(m * n) * sizeof *out);
    nb_runtime_free(rt);
    nb_graph_free(g);
    free(av), free(bv);
    return out;
}

/* The products sgemm computes, each shape a case of the split: cut along
 * rows, along columns, one block with a long inner size, both transposed;
 * and a dense layer's, which the FMA kernels cut the same way (the MLP's
 * forward at batch 32, cut along columns; its weight gradient, along rows). */
Test(threads, sgemm_products_give_the_same_bits_at_1_and_2_threads)
{
    const struct { int64_t m, k, n; bool ta, tb; } cases[] = {
        {64, 120, 84, false, false}, {120, 64, 84, true, false}, {1024, 256, 300, false, false},
        {64, 20000, 64, false, false}, {48, 5000, 40, true, true}, {96, 700, 500, false, true},
        {32, 784, 256, false, false}, {784, 32, 256, true, false}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t m = cases[c].m, k = cases[c].k, n = cases[c].n;
        float *one = product_at(1, m, k, n, cases[c].ta, cases[c].tb);
        float *two = product_at(2, m, k, n, cases[c].ta, cases[c].tb);
        cr_assert(!memcmp(one, two, (size_t)(m * n) * sizeof *one),
                  "%lld×%lld·%lld×%lld (ta %d, tb %d) differs at 2 threads", (long long)m,
                  (long long)k, (long long)k, (long long)n, cases[c].ta, cases[c].tb);
        free(one), free(two);
    }
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* With every other core held by a busy process, the tuned default never
 * tries a second thread: that thread would share a core, and the first run
 * at two threads costs more than the probe could win (a LeNet-5 epoch
 * beside one busy process was 2 % slower than at one thread while it
 * probed). The tuner reads the machine's idle time instead. */
Test(threads, the_tuner_adds_no_thread_while_other_processes_hold_the_cores)
{
    cpu_set_t set;
    cr_assert_eq(sched_getaffinity(0, sizeof set, &set), 0);
    int others = CPU_COUNT(&set) - 1;
    if (others < 1)
        cr_skip_test("one core: there is no second thread to try");
    pid_t *spin = malloc((size_t)others * sizeof *spin);
    for (int i = 0; i < others; i++) {
        spin[i] = fork();
        cr_assert_neq(spin[i], -1);
        if (spin[i] == 0)
            for (volatile unsigned long x = 0;; x++)
                ;
    }
    nb_set_threads(0);
    nb_graph *g = nb_graph_new();
    nb_node *a = nb_input(g, "a", NB_SHAPE(192, 192)), *z = nb_matmul(g, a, a, false, false);
    float *av = malloc(192 * 192 * sizeof *av);
    for (int i = 0; i < 192 * 192; i++)
        av[i] = (float)(i % 17) / 17.0f;
    nb_runtime *rt = nb_runtime_new(g, &z, 1);
    cr_assert_not_null(rt, "%s", nb_graph_error(g));
    cr_assert_eq(nb_runtime_set_input(rt, a, av), NB_OK);
    int most = 1, runs = 0;
    for (double end = seconds() + 0.8; seconds() < end; runs++) {
        cr_assert_eq(nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt));
        most = nb_get_threads() > most ? nb_get_threads() : most;
    }
    for (int i = 0; i < others; i++)
        kill(spin[i], SIGKILL), waitpid(spin[i], NULL, 0);
    nb_runtime_free(rt);
    nb_graph_free(g);
    free(av), free(spin);
    cr_assert_eq(most, 1, "ran at %d threads in %d runs beside %d busy processes", most, runs,
                 others);
}
