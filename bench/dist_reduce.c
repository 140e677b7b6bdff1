/*
 * dist_reduce.c — the sharded sum of the MLP's first layer alone, with the
 * ranks lined up by a barrier before each repetition: MPI's reduce-scatter
 * and allgather (the path between hosts, and NABLA_DIST_SHM=0) against two
 * forms of a shared window on one host: "window" (a barrier, each rank
 * sums its piece from every segment, leaves its new values in its segment,
 * a barrier, copies the others' into its own weights: train/dist_sum.c
 * before the weights lived in the window) and "window_in_place" (as
 * train/dist_sum.c now: the weights are one copy in the window, each rank
 * writes its piece's new values there, a barrier, nothing copied). Wall µs
 * per repetition (median and least) and the rank's processor µs per
 * repetition (waiting included: MPI polls). docs/scaling.md gives its
 * figures.
 *
 *     mpirun -np 2 build-release/bench/dist_reduce [FLOATS] [REPEATS]
 *
 * FLOATS defaults to 200 704 (784 × 256), REPEATS to 401.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_of(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct setup {
    int rank, size, n;
    int *counts, *displs; /* each rank's piece */
    float *grad, *mine, *weights;
    MPI_Comm node;
    MPI_Win win;
    float **seg;          /* per rank: gradients (n), then new values (n); rank 0's then
                             the weights every rank reads (n) */
} setup;

static void sync_window(const setup *s)
{
    MPI_Win_sync(s->win);
    MPI_Barrier(s->node);
    MPI_Win_sync(s->win);
}

/* MPI's collectives: the sum of this rank's piece, its new values (here
 * the sum itself) sent to every rank. */
static void collectives(setup *s)
{
    MPI_Reduce_scatter(s->grad, s->mine, s->counts, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    memcpy(s->weights + s->displs[s->rank], s->mine, (size_t)s->counts[s->rank] * sizeof(float));
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, s->weights, s->counts, s->displs,
                   MPI_FLOAT, MPI_COMM_WORLD);
}

/* The rank's piece (k floats from lo) of every rank's segment summed into
 * s->mine in rank order, as train/dist_sum.c sums it. */
static void sum_piece(setup *s, int lo, int k)
{
    for (int e = 0; e < k; e++)
        s->mine[e] = s->seg[0][lo + e];
    for (int r = 1; r < s->size; r++)
        for (int e = 0; e < k; e++)
            s->mine[e] += s->seg[r][lo + e];
}

/* The window, as train/dist_sum.c does it: the gradient already in the
 * rank's segment (the runtime writes it there). */
static void window(setup *s)
{
    int lo = s->displs[s->rank], k = s->counts[s->rank];
    sync_window(s);
    sum_piece(s, lo, k);
    memcpy(s->weights + lo, s->mine, (size_t)k * sizeof(float));
    memcpy(s->seg[s->rank] + s->n + lo, s->weights + lo, (size_t)k * sizeof(float));
    sync_window(s);
    for (int r = 0; r < s->size; r++)
        if (r != s->rank)
            memcpy(s->weights + s->displs[r], s->seg[r] + s->n + s->displs[r],
                   (size_t)s->counts[r] * sizeof(float));
}

/* The window with the weights in it (train/dist_sum.c): each rank's piece
 * summed and written where every rank reads the weights, a barrier. */
static void window_in_place(setup *s)
{
    int lo = s->displs[s->rank], k = s->counts[s->rank];
    float *w = s->seg[0] + 2 * s->n;
    sync_window(s);
    sum_piece(s, lo, k);
    memcpy(w + lo, s->mine, (size_t)k * sizeof(float));
    sync_window(s);
}

static void measure(setup *s, const char *name, void (*fn)(setup *), int reps)
{
    double *t = malloc((size_t)reps * sizeof *t), cpu = 0;
    for (int k = 0; k < reps; k++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = clock_of(CLOCK_MONOTONIC), c0 = clock_of(CLOCK_PROCESS_CPUTIME_ID);
        fn(s);
        t[k] = clock_of(CLOCK_MONOTONIC) - t0;
        cpu += clock_of(CLOCK_PROCESS_CPUTIME_ID) - c0;
    }
    qsort(t, (size_t)reps, sizeof *t, by_value);
    if (s->rank == 0)
        printf("%s: floats=%d ranks=%d median_us=%.1f least_us=%.1f cpu_us=%.1f\n", name, s->n,
               s->size, 1e6 * t[reps / 2], 1e6 * t[0], 1e6 * cpu / reps);
    free(t);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    setup s = {.n = argc > 1 ? atoi(argv[1]) : 784 * 256};
    int reps = argc > 2 ? atoi(argv[2]) : 401, node_size;
    MPI_Comm_rank(MPI_COMM_WORLD, &s.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &s.size);
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, s.rank, MPI_INFO_NULL, &s.node);
    MPI_Comm_size(s.node, &node_size);
    if (s.n <= 0 || reps <= 0 || node_size != s.size) {
        if (s.rank == 0)
            fprintf(stderr, "dist_reduce: FLOATS and REPEATS must be positive, and every rank "
                            "on this host\n");
        MPI_Finalize();
        return 2;
    }
    s.counts = malloc(2 * (size_t)s.size * sizeof *s.counts);
    s.displs = s.counts + s.size;
    for (int r = 0; r < s.size; r++) {
        s.counts[r] = s.n / s.size + (r < s.n % s.size);
        s.displs[r] = r ? s.displs[r - 1] + s.counts[r - 1] : 0;
    }
    s.grad = malloc((size_t)s.n * sizeof(float));
    s.mine = malloc((size_t)s.n * sizeof(float));
    s.weights = calloc((size_t)s.n, sizeof(float));
    s.seg = malloc((size_t)s.size * sizeof *s.seg);
    float *own;
    MPI_Win_allocate_shared((MPI_Aint)(s.rank ? 2 : 3) * s.n * (MPI_Aint)sizeof(float),
                            sizeof(float), MPI_INFO_NULL, s.node, &own, &s.win);
    for (int r = 0; r < s.size; r++) {
        MPI_Aint bytes;
        int unit;
        MPI_Win_shared_query(s.win, r, &bytes, &unit, &s.seg[r]);
    }
    for (int e = 0; e < s.n; e++)
        own[e] = s.grad[e] = (float)(e % 97) * 1e-3f * (float)(s.rank + 1);
    MPI_Win_lock_all(MPI_MODE_NOCHECK, s.win);
    for (int pass = 0; pass < 2; pass++) { /* both twice, alternately */
        measure(&s, "reduce_scatter+allgather", collectives, reps);
        measure(&s, "window", window, reps);
        measure(&s, "window_in_place", window_in_place, reps);
    }
    MPI_Win_unlock_all(s.win);
    MPI_Win_free(&s.win);
    MPI_Comm_free(&s.node);
    free(s.counts), free(s.grad), free(s.mine), free(s.weights), free(s.seg);
    MPI_Finalize();
    return 0;
}
