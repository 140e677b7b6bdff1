/*
 * step_times.c — where a runtime's time goes, step by step, for whoever
 * profiles nabla: with NABLA_STEP_TIMES set in the environment (to anything
 * but "" or "0") each runtime clocks every step of every run and, when it
 * is freed, prints one line per step to stderr — its share of the run, its
 * mean and least time per run, the op or fused pattern, the node and its
 * shape — sorted by time, after a line with the run count, the thread
 * count, the mean run and the sum of the steps' least times (which a busy
 * machine disturbs least: compare 1 and 2 threads by it). Unset, a runtime holds a NULL pointer and each step pays
 * one predictable branch: nothing is allocated and no clock is read.
 *
 * Times are wall clock (CLOCK_MONOTONIC): on a busy machine a step that
 * waited for a core shows it, so compare shares of runs taken together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plan.h"

struct nb__step_times {
    int n;
    int64_t runs;
    int threads; /* omp_get_max_threads() at the last run */
    double *sec; /* per step: seconds summed over runs, then the least run's */
};

double nb__step_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

nb__step_times *nb__step_times_new(int n_steps)
{
    const char *env = getenv("NABLA_STEP_TIMES");
    if (!env || !*env || !strcmp(env, "0") || n_steps < 1)
        return NULL;
    nb__step_times *t = nb_calloc(1, sizeof *t);
    double *sec = nb_calloc(2 * (size_t)n_steps, sizeof *sec);
    if (!t || !sec) { /* a profiling aid: without memory, no profile */
        nb_free(t);
        nb_free(sec);
        return NULL;
    }
    *t = (nb__step_times){.n = n_steps, .sec = sec};
    return t;
}

void nb__step_times_run(nb__step_times *t, int threads)
{
    t->runs++;
    t->threads = threads;
}

void nb__step_times_add(nb__step_times *t, int step, double since)
{
    double dt = nb__step_clock() - since, *least = &t->sec[t->n + step];
    t->sec[step] += dt;
    if (*least == 0 || dt < *least)
        *least = dt;
}

/* "pattern (layer) [shape]" or "op (layer) [shape]" of step i. */
static void label(const nb_runtime *rt, int i, char *buf, size_t size)
{
    nb_runtime_step_info s;
    nb_runtime_step(rt, i, &s);
    const nb_node *n = s.nodes[s.n_nodes - 1];
    char d[300];
    snprintf(buf, size, "%s%s%s  %s", s.pattern ? s.pattern : n->op->name,
             n->flags & NB__NODE_BACKWARD ? " (backward)" : "", s.view ? " (view)" : "",
             nb__describe(n, d, sizeof d));
}

typedef struct timed {
    double sec, least;
    int step;
} timed;

static int by_time(const void *a, const void *b)
{
    double x = ((const timed *)a)->sec, y = ((const timed *)b)->sec;
    return (x < y) - (x > y);
}

void nb__step_times_free(const nb_runtime *rt, nb__step_times *t)
{
    if (!t)
        return;
    double total = 0, least = 0;
    for (int i = 0; i < t->n; i++)
        total += t->sec[i], least += t->sec[t->n + i];
    timed *order = nb_malloc((size_t)t->n * sizeof *order);
    if (t->runs > 0 && order) {
        for (int i = 0; i < t->n; i++)
            order[i] = (timed){t->sec[i], t->sec[t->n + i], i};
        qsort(order, (size_t)t->n, sizeof *order, by_time);
        fprintf(stderr, "# step times: %d steps, %lld runs at %d threads, %.1f us per run "
                        "(mean), %.1f us (each step's least, summed)\n",
                t->n, (long long)t->runs, t->threads, 1e6 * total / (double)t->runs, 1e6 * least);
        for (int k = 0; k < t->n; k++) {
            char buf[400];
            label(rt, order[k].step, buf, sizeof buf);
            fprintf(stderr, "%5.1f%% %9.1f us mean %9.1f least  #%-3d %s\n",
                    100 * order[k].sec / total, 1e6 * order[k].sec / (double)t->runs,
                    1e6 * order[k].least, order[k].step, buf);
        }
    }
    nb_free(order);
    nb_free(t->sec);
    nb_free(t);
}
