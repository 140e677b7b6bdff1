/*
 * dist_mpi.c — the processes of a data-parallel run, on MPI: a duplicate
 * of the caller's communicator (so nabla's messages never meet the
 * caller's), sums with MPI_Allreduce in contiguous buckets, broadcasts from
 * rank 0, and the agreement on failures that keeps every rank stopping
 * together. Built with -Dmpi (without/dist_mpi.c stands in otherwise).
 *
 * MPI calls keep MPI's default error handler (MPI_ERRORS_ARE_FATAL): a
 * broken transport ends the whole job with MPI's message, it never hangs.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train_internal.h"

/* Floats per bucket: several parameters of a small model in one call, a
 * large one's gradients in a few calls in flight together. */
#define BUCKET_FLOATS ((int64_t)1 << 16)
#define MAX_BUCKETS 64

struct nb_dist {
    MPI_Comm comm;
    int rank, size;
    bool finalize;   /* nabla initialised MPI, so nb_dist_free finalises it */
    nb_dist_stats stats;
    MPI_Request pending[MAX_BUCKETS]; /* sums started (nb__dist_start), not yet waited for */
    int n_pending;
    int *counts;     /* 2·size ints: MPI's counts, then displacements, of the pieces */
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------- life */

nb_dist *nb_dist_new(const void *comm, nb_error *err)
{
    int ready = 0, done = 0;
    MPI_Initialized(&ready);
    MPI_Finalized(&done);
    if (done)
        return nb_error_set(err, NB_ERR_STATE, "dist: MPI was already finalised"), NULL;
    if (comm && !ready)
        return nb_error_set(err, NB_ERR_STATE, "dist: a communicator was given but MPI is not "
                            "initialised (call MPI_Init first, or pass NULL)"), NULL;
    nb_dist *d = nb_calloc(1, sizeof *d);
    if (!d)
        return nb_error_set(err, NB_ERR_NOMEM, "dist: out of memory"), NULL;
    if (!ready) {
        int provided;
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            nb_free(d);
            return nb_error_set(err, NB_ERR_STATE, "dist: MPI_Init_thread failed"), NULL;
        }
        d->finalize = true;
    }
    MPI_Comm_dup(comm ? *(const MPI_Comm *)comm : MPI_COMM_WORLD, &d->comm);
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->size);
    d->counts = nb_malloc(2 * (size_t)d->size * sizeof *d->counts);
    if (!d->counts) {
        nb_dist_free(d);
        return nb_error_set(err, NB_ERR_NOMEM, "dist: out of memory"), NULL;
    }
    return d;
}

void nb_dist_free(nb_dist *d)
{
    if (!d)
        return;
    int done = 0;
    MPI_Finalized(&done);
    if (!done) {
        MPI_Comm_free(&d->comm);
        if (d->finalize)
            MPI_Finalize();
    }
    nb_free(d->counts);
    nb_free(d);
}

int nb_dist_rank(const nb_dist *d)
{
    return d ? d->rank : 0;
}

int nb_dist_size(const nb_dist *d)
{
    return d ? d->size : 1;
}

nb_dist_stats nb_dist_get_stats(const nb_dist *d)
{
    return d ? d->stats : (nb_dist_stats){0};
}

/* ---------------------------------------------------------------- collectives */

/* Sums v[0..n) over the ranks in place: buckets of BUCKET_FLOATS, each an
 * MPI_Iallreduce, started from the end of v (where a backward pass leaves
 * the first layers' gradients last, the trainer puts them first) and
 * waited for together, so the buckets' transfers overlap one another. */
nb_status nb_dist_allreduce(nb_dist *d, float *v, int64_t n, nb_error *err)
{
    if (!d || d->size == 1 || n == 0)
        return NB_OK;
    if (!v || n < 0)
        return nb_error_set(err, NB_ERR_ARG, "dist: allreduce of %lld values at %p",
                            (long long)n, (void *)v);
    double t0 = now();
    MPI_Request req[MAX_BUCKETS];
    int64_t bucket = (n + MAX_BUCKETS - 1) / MAX_BUCKETS;
    bucket = bucket > BUCKET_FLOATS ? bucket : BUCKET_FLOATS;
    int k = 0;
    for (int64_t end = n; end > 0; end -= bucket, k++) {
        int64_t start = end > bucket ? end - bucket : 0;
        MPI_Iallreduce(MPI_IN_PLACE, v + start, (int)(end - start), MPI_FLOAT, MPI_SUM, d->comm,
                       &req[k]);
    }
    MPI_Waitall(k, req, MPI_STATUSES_IGNORE);
    d->stats.calls += k;
    d->stats.bytes += n * (int64_t)sizeof(float);
    d->stats.seconds += now() - t0;
    return NB_OK;
}

/* ---------------------------------------------------------------- sums in flight */

void nb__dist_start(nb_dist *d, float *v, int64_t n, bool early)
{
    if (!d || d->size == 1 || n <= 0)
        return;
    double t0 = now();
    if (d->n_pending == MAX_BUCKETS) /* a full list: one done first */
        MPI_Wait(&d->pending[--d->n_pending], MPI_STATUS_IGNORE);
    MPI_Iallreduce(MPI_IN_PLACE, v, (int)n, MPI_FLOAT, MPI_SUM, d->comm,
                   &d->pending[d->n_pending++]);
    d->stats.calls++;
    d->stats.bytes += n * (int64_t)sizeof(float);
    d->stats.overlapped += early ? n * (int64_t)sizeof(float) : 0;
    d->stats.seconds += now() - t0;
}

/* MPI_Testall: OpenMPI moves a non-blocking collective on only inside MPI
 * calls, so a caller pokes it between pieces of its own work. */
void nb__dist_poll(nb_dist *d)
{
    if (!d || d->n_pending == 0)
        return;
    double t0 = now();
    int done;
    MPI_Testall(d->n_pending, d->pending, &done, MPI_STATUSES_IGNORE);
    d->stats.seconds += now() - t0;
}

/* The last part is summed with blocking MPI_Allreduce calls: nothing is
 * left to overlap it with, and OpenMPI's blocking algorithms move a large
 * buffer between two processes faster than its non-blocking ones. Each
 * call takes at most FINISH_FLOATS, as MPI allocates a scratch copy of
 * what it sums: a first layer of 60 MB would otherwise need 60 MB more
 * inside MPI, where running out aborts the job with MPI's message. */
#define FINISH_FLOATS ((int64_t)1 << 20)

void nb__dist_finish(nb_dist *d, float *v, int64_t n)
{
    if (!d || d->size == 1)
        return;
    double t0 = now();
    for (int64_t at = 0; at < n; at += FINISH_FLOATS, d->stats.calls++)
        MPI_Allreduce(MPI_IN_PLACE, v + at, (int)(n - at < FINISH_FLOATS ? n - at : FINISH_FLOATS),
                      MPI_FLOAT, MPI_SUM, d->comm);
    MPI_Waitall(d->n_pending, d->pending, MPI_STATUSES_IGNORE);
    d->n_pending = 0;
    d->stats.bytes += n * (int64_t)sizeof(float);
    d->stats.seconds += now() - t0;
}

/* MPI's counts and displacements for n floats in pieces (nb__piece), in
 * d->counts: counts, then displacements. */
static void piece_counts(nb_dist *d, int64_t n)
{
    for (int r = 0; r < d->size; r++) {
        int64_t lo, k = nb__piece(n, d->size, r, &lo);
        d->counts[r] = (int)k;
        d->counts[d->size + r] = (int)lo;
    }
}

void nb__dist_reduce_scatter(nb_dist *d, const float *v, int64_t n, float *mine)
{
    if ((!d || d->size == 1) && n > 0 && mine != v)
        memmove(mine, v, (size_t)n * sizeof *mine);
    if (!d || d->size == 1 || n <= 0)
        return;
    double t0 = now();
    piece_counts(d, n);
    MPI_Reduce_scatter(v, mine, d->counts, MPI_FLOAT, MPI_SUM, d->comm);
    d->stats.calls++;
    d->stats.bytes += n * (int64_t)sizeof(float);
    d->stats.seconds += now() - t0;
}

void nb__dist_allgather(nb_dist *d, float *v, int64_t n)
{
    if (!d || d->size == 1 || n <= 0)
        return;
    double t0 = now();
    piece_counts(d, n);
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, v, d->counts, d->counts + d->size,
                   MPI_FLOAT, d->comm);
    d->stats.calls++;
    d->stats.seconds += now() - t0;
}

/* ---------------------------------------------------------------- a shared window */

struct nb__dwin {
    nb_dist *d;
    MPI_Comm node;   /* the ranks of this host: every rank of d */
    MPI_Win win;
    float **seg;     /* per rank: its segment, mapped here */
    int64_t n;       /* floats of each segment; rank 0's has the shared part after */
};

void nb__dist_count(nb_dist *d, int64_t bytes, double seconds)
{
    if (!d || d->size == 1)
        return;
    d->stats.calls++;
    d->stats.bytes += bytes;
    d->stats.seconds += seconds;
}

double nb__dist_clock(void)
{
    return now();
}

/* Whether every rank may use the window: on, unless NABLA_DIST_SHM=0 on
 * some rank (the ranks agree, so all take the same path). */
static bool shm_wanted(nb_dist *d)
{
    const char *e = getenv("NABLA_DIST_SHM");
    int mine = !(e && !strcmp(e, "0")), all;
    MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, d->comm);
    return all;
}

/* Floats of a cache line (64 bytes). */
#define LINE_FLOATS 16

/* p rounded up to a cache line. MPI places a segment where it likes (8
 * bytes past a line, with OpenMPI's alloc_shared_noncontig here), and the
 * dense kernels read a weight that does not start on a line more slowly
 * (ops/kernels/gemm_fma.c, dense_lead: the MLP's 784×256 forward at batch
 * 32 took 160-175 µs at 8 bytes past a line against 137-139 µs on one).
 * Every rank maps the window at a page boundary, so each rounds a segment
 * to the same place within it. */
static float *line_up(float *p)
{
    const uintptr_t line = LINE_FLOATS * sizeof(float);
    return (float *)(((uintptr_t)p + line - 1) / line * line);
}

nb__dwin *nb__dwin_new(nb_dist *d, int64_t n, int64_t shared)
{
    if (!d || d->size == 1 || n <= 0 || shared < 0 || !shm_wanted(d))
        return NULL;
    nb__dwin *w = nb_calloc(1, sizeof *w);
    float **seg = nb_calloc((size_t)d->size, sizeof *seg);
    int *moved = nb_calloc(3 * (size_t)d->size, sizeof *moved); /* per rank: floats to a line */
    int ok = w && seg && moved, node_size = 0, all;
    if (ok) {
        MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &w->node);
        MPI_Comm_size(w->node, &node_size);
    }
    ok = ok && node_size == d->size;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, d->comm);
    if (all) { /* every rank on this host: the window, where MPI can make it */
        MPI_Info info;
        MPI_Info_create(&info);
        MPI_Info_set(info, "alloc_shared_noncontig", "true"); /* each segment near its rank */
        MPI_Comm_set_errhandler(w->node, MPI_ERRORS_RETURN); /* no room: the collectives */
        float *mine;
        int64_t own = n + (d->rank == 0 ? shared : 0) + LINE_FLOATS; /* room to align */
        ok = MPI_Win_allocate_shared((MPI_Aint)own * (MPI_Aint)sizeof(float), sizeof(float),
                                     info, w->node, &mine, &w->win) == MPI_SUCCESS;
        MPI_Info_free(&info);
        MPI_Comm_set_errhandler(w->node, MPI_ERRORS_ARE_FATAL); /* as every other call */
        MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, d->comm);
        if (!all && ok)
            MPI_Win_free(&w->win);
        ok = all;
    }
    if (!ok) { /* another host, or no room: MPI's collectives instead */
        if (node_size)
            MPI_Comm_free(&w->node);
        nb_free(seg);
        nb_free(moved);
        nb_free(w);
        return NULL;
    }
    int same = 1;
    for (int r = 0; r < d->size; r++) { /* node ranks are d's, in order (key: d's rank) */
        MPI_Aint bytes;
        int unit;
        MPI_Win_shared_query(w->win, r, &bytes, &unit, &seg[r]);
        moved[r] = (int)(line_up(seg[r]) - seg[r]);
    }
    /* The ranks must agree on where each segment starts; should some map
     * the window otherwise than at a page, all keep MPI's places. */
    MPI_Allreduce(moved, moved + d->size, d->size, MPI_INT, MPI_MAX, d->comm);
    MPI_Allreduce(moved, moved + 2 * d->size, d->size, MPI_INT, MPI_MIN, d->comm);
    for (int r = 0; same && r < d->size; r++)
        same = moved[d->size + r] == moved[2 * d->size + r];
    MPI_Allreduce(MPI_IN_PLACE, &same, 1, MPI_INT, MPI_MIN, d->comm);
    for (int r = 0; same && r < d->size; r++)
        seg[r] = line_up(seg[r]);
    nb_free(moved);
    MPI_Win_lock_all(MPI_MODE_NOCHECK, w->win);
    w->d = d;
    w->seg = seg;
    w->n = n;
    return w;
}

float *nb__dwin_seg(const nb__dwin *w, int r)
{
    return w->seg[r];
}

float *nb__dwin_shared(const nb__dwin *w)
{
    return w->seg[0] + w->n;
}

/* The unified memory model's pattern: this rank's stores made visible
 * (MPI_Win_sync), every rank met (the barrier), the others' then seen. */
void nb__dwin_sync(nb__dwin *w)
{
    MPI_Win_sync(w->win);
    MPI_Barrier(w->node);
    MPI_Win_sync(w->win);
}

void nb__dwin_free(nb__dwin *w)
{
    if (!w)
        return;
    int done = 0;
    MPI_Finalized(&done);
    if (!done) {
        MPI_Win_unlock_all(w->win);
        MPI_Win_free(&w->win);
        MPI_Comm_free(&w->node);
    }
    nb_free(w->seg);
    nb_free(w);
}

nb_status nb__dist_sum_doubles(nb_dist *d, double *v, int n)
{
    if (d && d->size > 1)
        MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, d->comm);
    return NB_OK;
}

nb_status nb_dist_broadcast(nb_dist *d, void *buf, int64_t bytes, nb_error *err)
{
    if (!d || d->size == 1 || bytes == 0)
        return NB_OK;
    if (!buf || bytes < 0)
        return nb_error_set(err, NB_ERR_ARG, "dist: broadcast of %lld bytes at %p",
                            (long long)bytes, buf);
    for (int64_t at = 0; at < bytes; at += INT32_MAX / 2) { /* MPI counts are ints */
        int64_t k = bytes - at < INT32_MAX / 2 ? bytes - at : INT32_MAX / 2;
        MPI_Bcast((char *)buf + at, (int)k, MPI_BYTE, 0, d->comm);
    }
    return NB_OK;
}

/* The lowest failing rank (size when none) by one allreduce of an int,
 * then its status and message broadcast from it: two small messages on a
 * failure, one on success. */
nb_status nb_dist_agree(nb_dist *d, nb_status st, nb_error *err)
{
    if (!d || d->size == 1)
        return st;
    int mine = st != NB_OK ? d->rank : d->size, first;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, d->comm);
    if (first == d->size)
        return NB_OK;
    struct {
        int status;
        char message[sizeof err->message];
    } what = {.status = (int)st};
    if (first == d->rank)
        snprintf(what.message, sizeof what.message, "rank %d of %d: %.480s", d->rank, d->size,
                 err && err->message[0] ? err->message : "failed, saying nothing");
    MPI_Bcast(&what, (int)sizeof what, MPI_BYTE, first, d->comm);
    if (err) {
        err->status = (nb_status)what.status;
        memcpy(err->message, what.message, sizeof err->message);
    }
    return (nb_status)what.status;
}
