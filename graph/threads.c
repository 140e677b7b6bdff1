/*
 * threads.c — one knob for nabla's OpenMP loops and OpenBLAS's own pool.
 * Both libraries keep this setting process-wide, so nabla does too; setting
 * them together keeps the two pools from fighting over the same cores.
 */
#include <omp.h>

#include "graph_internal.h"

/* OpenBLAS's setter, declared here to avoid pulling cblas.h into graph/. */
void openblas_set_num_threads(int num_threads);

void nb_set_threads(int n)
{
    if (n <= 0)
        n = omp_get_num_procs();
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int nb_get_threads(void)
{
    return omp_get_max_threads();
}
