/*
 * without/dist_mpi.c — data parallelism in a nabla built without MPI
 * (-Dmpi=disabled, or OpenMPI not found): nb_dist_new refuses saying so,
 * and every other call, given no group (NULL), acts for one process
 * alone, as it does in a build with MPI.
 */
#include "../train_internal.h"

nb_dist *nb_dist_new(const void *comm, nb_error *err)
{
    (void)comm;
    nb_error_set(err, NB_ERR_UNAVAILABLE, "nabla was built without MPI: cannot train across "
                 "processes (rebuild with libopenmpi-dev installed)");
    return NULL;
}

void nb_dist_free(nb_dist *d)
{
    (void)d;
}

int nb_dist_rank(const nb_dist *d)
{
    (void)d;
    return 0;
}

int nb_dist_size(const nb_dist *d)
{
    (void)d;
    return 1;
}

nb_dist_stats nb_dist_get_stats(const nb_dist *d)
{
    (void)d;
    return (nb_dist_stats){0};
}

nb_status nb_dist_allreduce(nb_dist *d, float *v, int64_t n, nb_error *err)
{
    (void)d, (void)v, (void)n, (void)err;
    return NB_OK;
}

void nb__dist_start(nb_dist *d, float *v, int64_t n, bool early)
{
    (void)d, (void)v, (void)n, (void)early;
}

void nb__dist_poll(nb_dist *d)
{
    (void)d;
}

void nb__dist_finish(nb_dist *d, float *v, int64_t n)
{
    (void)d, (void)v, (void)n;
}

void nb__dist_reduce_scatter(nb_dist *d, const float *v, int64_t n, float *mine)
{
    (void)d;
    if (n > 0 && mine != v)
        memmove(mine, v, (size_t)n * sizeof *mine);
}

void nb__dist_allgather(nb_dist *d, float *v, int64_t n)
{
    (void)d, (void)v, (void)n;
}

void nb__dist_count(nb_dist *d, int64_t bytes, double seconds)
{
    (void)d, (void)bytes, (void)seconds;
}

double nb__dist_clock(void)
{
    return 0;
}

/* One process: never a window (dist_sum.c sums alone, as without one). */
nb__dwin *nb__dwin_new(nb_dist *d, int64_t n, int64_t shared)
{
    (void)d, (void)n, (void)shared;
    return NULL;
}

float *nb__dwin_seg(const nb__dwin *w, int r)
{
    (void)w, (void)r;
    return NULL;
}

float *nb__dwin_shared(const nb__dwin *w)
{
    (void)w;
    return NULL;
}

void nb__dwin_sync(nb__dwin *w)
{
    (void)w;
}

void nb__dwin_free(nb__dwin *w)
{
    (void)w;
}

nb_status nb__dist_sum_doubles(nb_dist *d, double *v, int n)
{
    (void)d, (void)v, (void)n;
    return NB_OK;
}

nb_status nb_dist_broadcast(nb_dist *d, void *buf, int64_t bytes, nb_error *err)
{
    (void)d, (void)buf, (void)bytes, (void)err;
    return NB_OK;
}

nb_status nb_dist_agree(nb_dist *d, nb_status st, nb_error *err)
{
    (void)d, (void)err;
    return st;
}
