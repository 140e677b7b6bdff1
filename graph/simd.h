/*
 * simd.h — NB__SIMD and NB__NO_VECTORIZE, the compiler macros nabla's hot
 * loops share across folders (ops/, train/). It holds no graph internals, so any folder may
 * include it without depending on graph/'s private structures.
 */
#ifndef NB_SIMD_H
#define NB_SIMD_H

/* Marks a hot loop to be compiled twice, for baseline x86-64 and for AVX2
 * (x86-64-v3), the copy picked once at load time from the CPU: the shipped
 * build stays portable (no -march) while the vectorised loops run 8 floats
 * wide where the hardware allows. Arithmetic is the same in both copies (C11
 * mode keeps FMA contraction off). Empty on other compilers and targets. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__ELF__)
#define NB__SIMD __attribute__((target_clones("default", "arch=x86-64-v3")))
#else
#define NB__SIMD
#endif

/* Keeps a loop scalar: on outputs of a few floats (XOR's step) GCC's
 * vectorised copy, reached through overlap and trip-count checks, costs
 * more than the scalar loop it replaces. */
#if defined(__GNUC__) && !defined(__clang__)
#define NB__NO_VECTORIZE __attribute__((optimize("no-tree-vectorize")))
#else
#define NB__NO_VECTORIZE
#endif

#endif
