/*
 * dist_epoch.c — one training epoch of a model file on MPI ranks, timed:
 * what docs/scaling.md's figures and model come from.
 *
 *     mpirun -np 2 build/bench/dist_epoch examples/models/lenet5.yaml \
 *         [--data DIR] [--limit N] [--threads T] [--epochs E] [--batch B]
 *
 * Every rank trains (the trainer's data parallelism: nb_train_opts.dist)
 * with T threads (default 1) on the first N training images of DIR
 * (default: the model file's folder; N default all); the model's batch (or
 * B) is the global batch. Rank 0 prints one key=value line: ranks, threads,
 * the epoch's wall time (the mean over ranks, which meet at every step; the
 * last epoch when E > 1, so the first can warm up), the processor time a
 * rank spent in it (cpu_s, the mean over ranks: what a loaded machine
 * leaves least distorted, though MPI's busy waiting counts), samples per
 * second, the
 * time inside allreduce (the mean over ranks; waiting for slower ranks
 * included), the steps, and the
 * bytes each rank hands to allreduce per step (gradients, batch-norm
 * statistics and four numbers of step bookkeeping), how many of them
 * started while backward still ran (overlapped), and the median time
 * of that allreduce alone, the ranks lined up first (the transfer without
 * the waiting), and of a one-float allreduce (the latency). With one rank
 * there is no group: the plain trainer, the baseline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nabla.h"

/* Steps of an epoch whose times are kept for the least and the median. */
#define MAX_STEPS 4096

typedef struct timing {
    double t0, epoch_s;      /* the last epoch's start and wall time */
    double s0;               /* the last step's end */
    double step[MAX_STEPS];  /* this epoch's step times (from the second step) */
    int n_step;
    double least_us, median_us; /* the last epoch's */
    double c0, cpu_s;        /* the process's processor time then, and in the epoch */
    double r0, reduce_s;     /* allreduce seconds at its start, and in it */
    nb_dist *d;
} timing;

static double clock_s(clockid_t which)
{
    struct timespec ts;
    clock_gettime(which, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

static int by_value(const void *a, const void *b);

/* Each step's wall time, from the end of the one before (the first step of
 * an epoch left out: it follows the shuffle): the least of an epoch is the
 * step no other process interrupted, on a shared machine the figure that
 * moves least from run to run. */
static void on_step(const nb_progress *p, void *ud)
{
    timing *tm = ud;
    double t = now();
    if (p->step > 1 && tm->n_step < MAX_STEPS)
        tm->step[tm->n_step++] = t - tm->s0;
    tm->s0 = t;
}

/* Each epoch's wall time and allreduce time, measured from the last epoch's end. */
static void on_epoch(const nb_progress *p, void *ud)
{
    timing *tm = ud;
    qsort(tm->step, (size_t)tm->n_step, sizeof *tm->step, by_value);
    tm->least_us = tm->n_step ? 1e6 * tm->step[0] : 0;
    tm->median_us = tm->n_step ? 1e6 * tm->step[tm->n_step / 2] : 0;
    tm->n_step = 0;
    double t = now(), r = nb_dist_get_stats(tm->d).seconds, c = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    (void)p;
    tm->epoch_s = t - tm->t0;
    tm->t0 = t;
    tm->cpu_s = c - tm->c0;
    tm->c0 = c;
    tm->reduce_s = r - tm->r0;
    tm->r0 = r;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median time of one step's allreduce (bytes of floats) with the
 * ranks lined up first (a one-float sum), so that it is the transfer
 * alone, not waiting for a slower rank: what the model of docs/scaling.md
 * takes as the network's cost. */
static double reduce_alone_us(nb_dist *d, int64_t bytes)
{
    enum { REPEATS = 51 };
    int64_t n = bytes / (int64_t)sizeof(float);
    float *v = calloc((size_t)(n ? n : 1), sizeof *v), one = 1;
    double t[REPEATS];
    for (int i = 0; i < REPEATS; i++) {
        nb_dist_allreduce(d, &one, 1, NULL);
        double t0 = now();
        nb_dist_allreduce(d, v, n, NULL);
        t[i] = 1e6 * (now() - t0);
    }
    free(v);
    qsort(t, REPEATS, sizeof *t, by_value);
    return n ? t[REPEATS / 2] : 0;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *data = NULL;
    long limit = 0, threads = 1, epochs = 1, batch = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc)
            data = argv[++i];
        else if (!strcmp(argv[i], "--limit") && i + 1 < argc)
            limit = atol(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atol(argv[++i]);
        else if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
            epochs = atol(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atol(argv[++i]);
        else if (argv[i][0] != '-' && !model)
            model = argv[i];
        else {
            fprintf(stderr, "usage: dist_epoch MODEL.yaml [--data DIR] [--limit N] "
                            "[--threads T] [--epochs E] [--batch B]\n");
            return 2;
        }
    }
    nb_error err = {0};
    nb_dist *d = nb_dist_new(NULL, &err);
    nb_model_file *m = d && model ? nb_model_file_load(model, &err) : NULL;
    nb_dataset *train = NULL;
    if (!m || (data && nb_model_file_set_data_dir(m, data, &err) != NB_OK) ||
        nb_model_file_load_data(m, &train, NULL, (nb_data_load_opts){.limit = limit}, &err)) {
        fprintf(stderr, "dist_epoch: %s\n", model ? err.message : "no model file");
        nb_model_file_free(m);
        nb_dist_free(d);
        return 1;
    }
    nb_set_threads((int)threads);
    timing tm = {.d = d};
    nb_train_opts o = nb_model_file_train_opts(m);
    o.epochs = (int)epochs;
    o.batch = batch > 0 ? batch : o.batch;
    o.dist = d;
    o.on_epoch = on_epoch;
    o.on_step = on_step;
    o.ud = &tm;
    nb_trainer *t = nb_trainer_new(nb_model_file_build, m, nb_model_file_input_shape(m),
                                   nb_model_file_y_width(m), &o, &err);
    tm.t0 = now();
    tm.c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    nb_status st = t ? nb_trainer_fit(t, train, NULL) : err.status;
    if (st != NB_OK)
        fprintf(stderr, "dist_epoch: %s\n", t ? nb_trainer_error(t) : err.message);
    nb_dist_stats s = nb_dist_get_stats(d); /* before the sums below add theirs */
    float times[5] = {(float)tm.epoch_s, (float)tm.reduce_s, (float)tm.cpu_s,
                      (float)tm.least_us, (float)tm.median_us};
    nb_dist_allreduce(d, times, 5, NULL); /* the mean over the ranks (in step at every step) */
    for (int i = 0; i < 5; i++)
        times[i] /= (float)nb_dist_size(d);
    int64_t steps = (train->n + o.batch - 1) / o.batch;
    int64_t step_bytes = s.calls ? s.bytes / (steps * epochs) : 0;
    double alone_us = st == NB_OK ? reduce_alone_us(d, step_bytes) : 0;
    double latency_us = st == NB_OK && step_bytes ? reduce_alone_us(d, sizeof(float)) : 0;
    if (st == NB_OK && nb_dist_rank(d) == 0)
        printf("model=%s ranks=%d threads=%ld examples=%lld batch=%lld epoch_s=%.3f "
               "cpu_s=%.3f samples_per_s=%.0f allreduce_s=%.3f steps=%lld bytes_per_step=%lld "
               "overlapped_per_step=%lld allreduce_alone_us=%.1f allreduce_latency_us=%.1f "
               "step_least_us=%.1f step_median_us=%.1f\n",
               nb_model_file_name(m), nb_dist_size(d), threads, (long long)train->n,
               (long long)o.batch, times[0], times[2], (double)train->n / times[0], times[1],
               (long long)steps,
               (long long)step_bytes,
               (long long)(s.calls ? s.overlapped / (steps * epochs) : 0), alone_us, latency_us,
               times[3], times[4]);
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_model_file_free(m);
    nb_dist_free(d);
    return st != NB_OK;
}
