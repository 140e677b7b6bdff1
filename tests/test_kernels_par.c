/*
 * test_kernels_par.c — the scheduler of the kernels' parallel loops
 * (ops/kernels/par.h) checked from inside the library: every item runs
 * exactly once at 1, 2, 3 and 4 threads, when one thread's items hold it
 * up so the others must take them, when there are fewer items than
 * threads, none or one; the loop stays a plain loop on the calling thread
 * when it is small or already inside a parallel region; and a LeNet-5-like
 * network's outputs and gradients are the same bits at 1 thread, at 2 and
 * at 3 threads with steals forced in every parallel loop.
 */
#include <omp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "../ops/kernels/par.h"

/* Work large enough for nb__par at any item count. */
#define BIG (int64_t)1 << 30
#define MAX_ITEMS 1000

/* What the items saw: how often each ran, on which thread, in which order
 * on the calling thread; with `block`, the first item of thread 0's range
 * waits until another thread has run an item of that range. */
typedef struct seen {
    _Atomic int runs[MAX_ITEMS];
    _Atomic int thread[MAX_ITEMS];
    _Atomic int64_t order[MAX_ITEMS];
    _Atomic int64_t next;
    _Atomic int stolen_from_0; /* items of range 0 run by another thread */
    int64_t range0;            /* thread 0's static range is [0, range0) */
    bool block;
} seen;

static void record(const void *ctx, int64_t t)
{
    seen *s = (seen *)ctx;
    const int me = omp_get_thread_num();
    atomic_fetch_add(&s->runs[t], 1);
    atomic_store(&s->thread[t], me);
    atomic_store(&s->order[atomic_fetch_add(&s->next, 1)], t);
    if (t < s->range0 && me != 0)
        atomic_fetch_add(&s->stolen_from_0, 1);
    if (s->block && t == 0 && me == 0 && omp_get_num_threads() > 1)
        while (!atomic_load(&s->stolen_from_0))
            ;
}

/* Runs n items at `threads`, work `work`, and checks each ran once. */
static seen *run(int64_t n, int threads, int64_t work, bool block)
{
    seen *s = calloc(1, sizeof *s);
    cr_assert_not_null(s);
    const int64_t p = threads < n ? threads : n;
    s->range0 = p > 0 ? (n + p - 1) / p : 0, s->block = block;
    omp_set_num_threads(threads);
    nb__par_items(n, work, record, s);
    omp_set_num_threads(1);
    for (int64_t t = 0; t < n; t++)
        cr_assert_eq(atomic_load(&s->runs[t]), 1, "%lld items at %d threads: item %lld ran %d times",
                     (long long)n, threads, (long long)t, atomic_load(&s->runs[t]));
    for (int64_t t = n; t < MAX_ITEMS; t++)
        cr_assert_eq(atomic_load(&s->runs[t]), 0, "%lld items: item %lld past the end ran",
                     (long long)n, (long long)t);
    cr_assert_eq(atomic_load(&s->next), n, "%lld items at %d threads: %lld calls", (long long)n,
                 threads, (long long)atomic_load(&s->next));
    return s;
}

Test(kernels_par, every_item_once_at_any_thread_count)
{
    const int64_t ns[] = {0, 1, 2, 3, 5, 7, 64, 999, 1000};
    for (int threads = 1; threads <= 4; threads++)
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
            free(run(ns[i], threads, BIG, false));
}

/* Thread 0 stuck on its first item until another thread has run one of
 * its range (at least 2 items, so there is one to take): the others must
 * steal, and still every item runs once. (Had thread 0 started late, the
 * others took item 0 too.) */
Test(kernels_par, every_item_once_when_one_thread_is_held_up)
{
    const int64_t ns[] = {8, 9, 64, 1000};
    for (int threads = 2; threads <= 4; threads++)
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
            seen *s = run(ns[i], threads, BIG, true);
            cr_assert_gt(atomic_load(&s->stolen_from_0), 0, "%lld items at %d threads",
                         (long long)ns[i], threads);
            free(s);
        }
}

/* Fewer items than threads: each item once, none twice. */
Test(kernels_par, fewer_items_than_threads)
{
    for (int64_t n = 1; n <= 3; n++)
        free(run(n, 4, BIG, false));
}

/* Small work, one item, or a loop inside a parallel region: the plain loop,
 * in order, on the calling thread. */
static void check_serial(const seen *s, int64_t n, int me)
{
    for (int64_t t = 0; t < n; t++) {
        cr_assert_eq(atomic_load(&s->order[t]), t, "item %lld out of order", (long long)t);
        cr_assert_eq(atomic_load(&s->thread[t]), me, "item %lld on another thread", (long long)t);
    }
}

Test(kernels_par, small_loops_stay_on_the_calling_thread)
{
    seen *s = run(64, 2, NB__PAR_MIN, false); /* nb__par wants more work */
    check_serial(s, 64, 0);
    free(s);
    s = run(1, 2, BIG, false);
    check_serial(s, 1, 0);
    free(s);
    s = run(0, 2, BIG, false);
    free(s);
}

Test(kernels_par, loops_inside_a_parallel_region_stay_on_their_thread)
{
    seen *s[2] = {calloc(1, sizeof(seen)), calloc(1, sizeof(seen))};
    omp_set_num_threads(2);
#pragma omp parallel num_threads(2)
    nb__par_items(100, BIG, record, s[omp_get_thread_num()]);
    omp_set_num_threads(1);
    for (int i = 0; i < 2; i++) {
        if (atomic_load(&s[i]->next)) { /* else a team of one: thread 1 never ran */
            cr_assert_eq(atomic_load(&s[i]->next), 100);
            check_serial(s[i], 100, i);
        }
        free(s[i]);
    }
}

/* The test hook: with steals forced, thread 0 gives up half its range in
 * every team, and every item still runs once. */
Test(kernels_par, forced_steals_take_half_of_thread_0s_range)
{
    nb__par_force_steals(true);
    for (int threads = 2; threads <= 3; threads++) {
        seen *s = run(64, threads, BIG, false);
        cr_assert_geq(atomic_load(&s->stolen_from_0), (int)(s->range0 + 1) / 2,
                      "%d threads: %d of range 0 stolen", threads,
                      atomic_load(&s->stolen_from_0));
        free(s);
    }
    cr_assert_eq(nb__par_force_steals(false), 2, "one held team per loop");
}

/* ---------------------------------------------------------------- a network */

static float *filled(int64_t n, uint64_t seed)
{
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    cr_assert_not_null(v);
    t_fill(v, n, seed, -1, 1);
    return v;
}

/*
 * LeNet-5's convolutions, poolings and relus at batch 16 (the shapes the
 * conv, pooling and input-gradient kernels split into items), the loss a
 * weighted sum: its output and the gradients of the image and of every
 * parameter at 1 thread, then at 2 and 3 threads with thread 0 held up in
 * every loop so that the others take its last items — the same bits.
 */
Test(kernels_par, lenet_bits_under_forced_steals)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(16, 1, 28, 28));
    nb_node *h = nb_conv2d(g, x, (nb_conv2d_opts){.filters = 6, .kernel = 5, .pad = 2,
                                                  .activation = NB_ACT_RELU});
    h = nb_maxpool2d(g, h, (nb_pool2d_opts){.size = 2});
    h = nb_conv2d(g, h, (nb_conv2d_opts){.filters = 16, .kernel = 5, .activation = NB_ACT_RELU});
    h = nb_maxpool2d(g, h, (nb_pool2d_opts){.size = 2});
    cr_assert_not_null(h, "%s", nb_graph_error(g));
    nb_node *r = nb_input(g, "r", nb_node_shape(h));
    nb_node *loss = nb_sum(g, nb_mul(g, h, r), NULL, 0, false);
    const int np = nb_graph_num_params(g);
    nb_node *wrt[8] = {x}, *outs[9] = {h};
    cr_assert_leq(np, 7);
    for (int i = 0; i < np; i++) {
        wrt[i + 1] = nb_graph_param(g, i);
        t_fill(nb_param_data(wrt[i + 1]), nb_shape_numel(nb_node_shape(wrt[i + 1])), 60 + i, -1,
               1);
    }
    cr_assert_eq(nb_grad(g, loss, wrt, np + 1, outs + 1), NB_OK, "%s", nb_graph_error(g));
    float *xv = filled(16 * 28 * 28, 71), *rv = filled(nb_shape_numel(nb_node_shape(h)), 72);
    nb_feed feeds[2] = {{x, xv}, {r, rv}};
    int64_t held[2] = {0, 0}; /* teams with steals, at 2 and 3 threads */
    for (int o = 0; o <= np + 1; o++) {
        const int64_t len = nb_shape_numel(nb_node_shape(outs[o]));
        nb_set_threads(1);
        float *one = t_eval(g, outs[o], feeds, 2);
        for (int threads = 2; threads <= 3; threads++) {
            nb_set_threads(threads);
            nb__par_force_steals(true);
            float *many = t_eval(g, outs[o], feeds, 2);
            held[threads - 2] += nb__par_force_steals(false);
            cr_assert_eq(memcmp(one, many, (size_t)len * sizeof *one), 0,
                         "output %d: other bits at %d threads with steals", o, threads);
            free(many);
        }
        free(one);
    }
    cr_assert(held[0] > 0 && held[1] > 0, "loops split: %lld at 2 threads, %lld at 3",
              (long long)held[0], (long long)held[1]);
    nb_set_threads(0);
    free(xv), free(rv);
    nb_graph_free(g);
}
