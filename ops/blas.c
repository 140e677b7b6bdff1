/*
 * blas.c — OpenBLAS's sgemm, loaded at the first product that wants it, and
 * only when the memory its buffers take can be had; otherwise nabla's own
 * loops compute those products (ops/matmul.c), and nb_blas_note says why.
 *
 * OpenBLAS 0.3.21 (Debian 12) maps one buffer of NB__BLAS_BUFFER bytes per
 * thread it counts when it is loaded (its constructor: every core, or
 * OPENBLAS_NUM_THREADS, GOTO_NUM_THREADS, OMP_NUM_THREADS) and one more per
 * thread calling sgemm at once, and when a mapping fails it retries forever:
 * under a memory limit (ulimit -v) a process linked to it never reached
 * main. So nabla does not link it: it maps the address space OpenBLAS will
 * want, unmaps it, and only then loads the library, and has it map every
 * buffer it will ever use at once (openblas_set_num_threads with one thread
 * per possible caller, then back to one thread), so that no later call
 * maps anything. A thread numbered beyond those callers (a team grown by a
 * later nb_set_threads) is told to use the loops.
 */
#include <cblas.h>
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ops_internal.h"

#ifndef NB_OPENBLAS_PATH
#define NB_OPENBLAS_PATH "libopenblas.so.0"
#endif

/* OpenBLAS's per-thread buffer: BUFFER_SIZE of its x86-64 builds (32 << 22;
 * 134217728 bytes per mmap in strace of a Debian 12 run). Smaller on other
 * targets, so there the probe asks for more than is needed, never less. */
#define NB__BLAS_BUFFER ((size_t)128 << 20)

/* Room beyond the library file and the buffers: its .bss and the memory
 * nabla itself allocates while the run goes on. */
#define NB__BLAS_SLACK ((size_t)32 << 20)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static __typeof__(cblas_sgemm) *sgemm; /* NULL: nabla's loops compute */
static int callers;                    /* threads 0..callers-1 may call it */
static char note[700];                 /* why sgemm is NULL; "" when loaded */

/* The positive count in environment variable name, else 0 (atoi, as
 * OpenBLAS reads them). */
static int env_count(const char *name)
{
    const char *v = getenv(name);
    int n = v ? atoi(v) : 0;
    return n > 0 ? n : 0;
}

/* Threads OpenBLAS's constructor counts, a buffer each: the first positive
 * one of its variables, at most the cores it sees (the configured ones here,
 * never fewer than it sees). */
static int blas_init_threads(void)
{
    int cores = (int)sysconf(_SC_NPROCESSORS_CONF), n = env_count("OPENBLAS_NUM_THREADS");
    cores = cores > 0 ? cores : omp_get_num_procs();
    n = n ? n : env_count("GOTO_NUM_THREADS");
    n = n ? n : env_count("OMP_NUM_THREADS");
    return n && n < cores ? n : cores;
}

/* The largest team of nabla's that may call sgemm at once: the current
 * count or every core (nb_set_threads(0) tunes up to that), whichever is
 * larger. */
static int blas_callers(void)
{
    int t = omp_get_max_threads(), cores = omp_get_num_procs();
    return t > cores ? t : cores;
}

/* Probes, then loads OpenBLAS and has it map max(init, callers + 1)
 * buffers: one stays its own, the others serve concurrent sgemm calls. */
static void blas_load(void)
{
    const int init = blas_init_threads(), want = blas_callers() + 1;
    const int buffers = want > init ? want : init;
    struct stat st;
    const size_t lib = stat(NB_OPENBLAS_PATH, &st) == 0 ? (size_t)st.st_size : (size_t)64 << 20;
    const size_t need = (size_t)buffers * NB__BLAS_BUFFER + lib + NB__BLAS_SLACK;
    if (getenv("NABLA_NO_BLAS")) {
        snprintf(note, sizeof note, "OpenBLAS was not loaded (NABLA_NO_BLAS is set); nabla's "
                                    "own, slower loops computed the products");
        return;
    }
    char what[96];
    nb_error e = {0};
    snprintf(what, sizeof what, "OpenBLAS (the library and %d buffers of %zu MB)", buffers,
             NB__BLAS_BUFFER >> 20);
    if (nb_memory_check(need, what, &e) != NB_OK) {
        snprintf(note, sizeof note, "OpenBLAS was not loaded: %s; nabla's own, slower loops "
                 "computed the products", e.message);
        return;
    }
    void *h = dlopen(NB_OPENBLAS_PATH, RTLD_NOW | RTLD_LOCAL);
    void (*set_threads)(int) = h ? (void (*)(int))dlsym(h, "openblas_set_num_threads") : NULL;
    __typeof__(cblas_sgemm) *f = h ? (__typeof__(cblas_sgemm) *)dlsym(h, "cblas_sgemm") : NULL;
    if (!set_threads || !f) {
        snprintf(note, sizeof note, "OpenBLAS was not loaded (%s); nabla's own, slower loops "
                 "computed the products", h ? "no cblas_sgemm in " NB_OPENBLAS_PATH : dlerror());
        return;
    }
    /* Its setter also sets OpenMP's count: nabla's is put back. */
    const int omp = omp_get_max_threads();
    set_threads(buffers);
    set_threads(1);
    omp_set_num_threads(omp);
    callers = buffers - 1;
    sgemm = f;
}

bool nb__blas_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float *a,
                    int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    pthread_once(&once, blas_load);
    if (!sgemm || omp_get_thread_num() >= callers || m > INT_MAX || n > INT_MAX || k > INT_MAX)
        return false;
    sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m,
          (int)n, (int)k, 1.0f, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
    return true;
}

const char *nb_blas_note(void)
{
    return note[0] ? note : NULL;
}
