/* fma_round.c - one round of peak.c's FMA loop (fma_peak.h), as a shared
 * library torch_conv.py loads through ctypes (--peak-lib) to interleave
 * peak rounds with PyTorch's convolution rounds, the way bench/conv.c
 * interleaves them with nabla's: this machine's speed drifts over
 * seconds, so a fraction of the peak needs the peak of the same moment.
 *
 * Build: cc -O3 -std=c11 -fopenmp -shared -fPIC -o fma_round.so fma_round.c
 */
#define _POSIX_C_SOURCE 199309L
#include <omp.h>
#include <time.h>

#include "fma_peak.h"

static volatile float sink; /* the loops' sums: keeps them from being optimised away */

/* 1 where the 512-bit loop can run (AVX-512F), else 0. */
int fma_round_has512(void)
{
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
}

/* GFLOP/s (wall clock) of `iters` iterations a thread of the 512-bit loop
 * (wide != 0, only where fma_round_has512()) or the 256-bit one, run as
 * peak.c runs it: on the caller at 1 thread, else one OpenMP parallel
 * region of `threads` threads. */
double fma_round(int wide, int threads, long iters)
{
    double (*loop)(long, float *) = wide ? fma512 : fma256;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    const double flops = fma_peak_team(loop, threads, iters, &sink);
    clock_gettime(CLOCK_MONOTONIC, &b);
    return flops / ((double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec)) * 1e-9;
}

/* Flops of one iteration of one thread's loop. */
double fma_round_flops_per_iter(int wide)
{
    return 2.0 * (wide ? 16 : 8) * FMA_PEAK_CHAINS;
}
