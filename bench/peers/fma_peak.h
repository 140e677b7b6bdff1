/* fma_peak.h - the FP32 FMA loops that measure this CPU's peak: 12
 * independent accumulator chains of fused multiply-add on 512-bit (16
 * lanes) and 256-bit (8 lanes) vectors. peak.c times them once per run;
 * bench/conv.c times short rounds of the same loops between its
 * convolution rounds, so a shape's fraction of the peak compares it with
 * the machine of the same moment (this VM's speed drifts over seconds).
 *
 * Each loop is compiled for its instruction set whatever -march says
 * (check __builtin_cpu_supports("avx512f") before calling fma512) and
 * returns the flops it executed; acc = acc * 0.5 + 0.5 stays near 1 (no
 * denormals), the sum goes to *sink so nothing is optimised away.
 */
#ifndef NABLA_BENCH_FMA_PEAK_H
#define NABLA_BENCH_FMA_PEAK_H

#include <immintrin.h>
#include <omp.h>

#define FMA_PEAK_CHAINS 12

__attribute__((target("avx512f"), unused)) static double fma512(long iters, float *sink)
{
    __m512 acc[FMA_PEAK_CHAINS], h = _mm512_set1_ps(0.5f);
    for (int k = 0; k < FMA_PEAK_CHAINS; k++)
        acc[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < FMA_PEAK_CHAINS; k++)
            acc[k] = _mm512_fmadd_ps(acc[k], h, h);
    for (int k = 1; k < FMA_PEAK_CHAINS; k++)
        acc[0] = _mm512_add_ps(acc[0], acc[k]);
    *sink += _mm512_reduce_add_ps(acc[0]);
    return 2.0 * 16 * FMA_PEAK_CHAINS * (double)iters;
}

__attribute__((target("avx2,fma"), unused)) static double fma256(long iters, float *sink)
{
    __m256 acc[FMA_PEAK_CHAINS], h = _mm256_set1_ps(0.5f);
    for (int k = 0; k < FMA_PEAK_CHAINS; k++)
        acc[k] = _mm256_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < FMA_PEAK_CHAINS; k++)
            acc[k] = _mm256_fmadd_ps(acc[k], h, h);
    float out[8];
    for (int k = 1; k < FMA_PEAK_CHAINS; k++)
        acc[0] = _mm256_add_ps(acc[0], acc[k]);
    _mm256_storeu_ps(out, acc[0]);
    for (int j = 0; j < 8; j++)
        *sink += out[j];
    return 2.0 * 8 * FMA_PEAK_CHAINS * (double)iters;
}

/* Flops of `iters` iterations of `loop` on each of `threads` threads, run
 * as peak.c runs it: on the caller at 1 thread, else one OpenMP parallel
 * region with every thread looping; the sums go to *sink. The caller
 * times it with the clock it needs (wall or CPU time). */
__attribute__((unused)) static double fma_peak_team(double (*loop)(long, float *), int threads,
                                                    long iters, volatile float *sink)
{
    double flops = 0;
    if (threads <= 1) {
        float s = 0;
        flops = loop(iters, &s);
        *sink += s;
        return flops;
    }
#pragma omp parallel num_threads(threads) reduction(+ : flops)
    {
        float s = 0;
        flops += loop(iters, &s);
#pragma omp critical
        *sink += s;
    }
    return flops;
}

#endif
