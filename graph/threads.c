/*
 * threads.c — one knob for nabla's OpenMP loops, and the tuner that turns it
 * when the knob says "every core" (nb_set_threads(0), the default).
 *
 * OpenBLAS never splits a product itself: nabla cuts sgemm's products into
 * blocks and runs the blocks on its own pool, each on one OpenBLAS thread
 * (ops/matmul.c), so no value depends on the thread count and the count may
 * change between any two runs.
 *
 * Every core is the fastest choice on an idle machine and the slowest on a
 * busy one: a parallel loop waits for its slowest thread, and a thread
 * sharing its core with another process runs a time slice late, so with one
 * CPU-bound process beside it a LeNet-5 epoch takes several times longer at
 * 2 threads than at 1 (docs/performance.md has the figures). No
 * static rule knows which machine it is on, so each runtime times its own
 * runs and now and then tries the neighbouring counts, keeping the fastest;
 * it tries more threads only when the machine's idle time says they would
 * find cores to run on, since the first run at two threads beside a busy
 * process is slow enough to cost a noticeable share of a LeNet-5 epoch.
 */
#define _GNU_SOURCE /* sched_getaffinity */
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "graph_internal.h"

/* The process-wide setting, as OpenMP's and OpenBLAS's own are: a fixed
 * count, or 0 for "every core, tuned"; -1 until the first runtime or
 * nb_set_threads decides it. */
static int setting = -1;

/* OpenMP at n. OpenBLAS stays at the one thread ops/blas.c sets when it
 * loads it (its OpenMP build follows OpenMP's count outside a parallel
 * region, and ops/matmul.c holds that at one around its calls). */
static void set_pools(int n)
{
    omp_set_num_threads(n);
}

void nb_set_threads(int n)
{
    setting = n > 0 ? n : 0;
    set_pools(n > 0 ? n : omp_get_num_procs());
}

int nb_get_threads(void)
{
    return omp_get_max_threads();
}

/* Before the first run of any runtime: a program that never called
 * nb_set_threads gets every core, tuned, unless OMP_NUM_THREADS fixes the
 * count (it is then kept). */
void nb__threads_init(void)
{
    if (setting >= 0)
        return;
    const char *env = getenv("OMP_NUM_THREADS");
    if (env && *env)
        nb_set_threads(omp_get_max_threads());
    else
        nb_set_threads(0);
}

/* ---------------------------------------------------------------- the tuner */

/* Runs shorter than this fork no thread pool worth tuning (a 2-2-1 XOR step
 * is far shorter): the tuner then stops timing them. */
#define TUNE_MIN_SECONDS 50e-6
/* Seconds at the chosen count before the next probe: doubled after each
 * probe that confirms the choice, back to the least after a change, and
 * never less than TUNE_COST_RATIO times what the last probe cost, so that
 * probing a count that is slow on a busy machine takes a few per cent. */
#define TUNE_WAIT_MIN 0.25
#define TUNE_WAIT_MAX 8.0
#define TUNE_COST_RATIO 20
/* A probed count wins when its runs are this much faster than the mean at
 * the chosen one; a first probe run this much slower ends the probe. */
#define TUNE_WIN 0.9
#define TUNE_LOSE 1.25
#define TUNE_PROBE_RUNS 2

/* A probe of more threads is skipped when the machine had fewer idle cores
 * than this fraction of the extra threads since the last decision: the extra
 * threads would share cores with other processes, and a run waits for its
 * slowest thread. The evidence counts over at least this many clock ticks
 * per core (0.1 s at Linux's 100 Hz), so the first probe waits that long. */
#define TUNE_IDLE_NEEDED 0.5
#define TUNE_IDLE_TICKS 10
#define TUNE_IDLE_SECONDS 0.1

/* The count the last decision of any runtime chose: where a new runtime
 * starts (an evaluation graph made mid-training starts where training is). */
static int hint;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The idle and total CPU time so far of the cores this process may run on,
 * in clock ticks summed over them, and how many they are, from Linux's
 * /proc/stat (which lists every core of the machine, or of the host in a
 * container); false where there is none (the probes then decide alone). */
static bool cpu_times(double *idle, double *total, int *cores)
{
    cpu_set_t mine;
    if (sched_getaffinity(0, sizeof mine, &mine) != 0)
        return false;
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return false;
    char line[512];
    *idle = *total = 0, *cores = 0;
    while (fgets(line, sizeof line, f)) {
        /* cpuN user nice system idle iowait irq softirq steal: idle and
         * iowait are time nobody used; steal went to other machines. */
        unsigned long long v[8] = {0};
        int cpu;
        if (sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0], &v[1],
                   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) < 5)
            continue;
        if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &mine))
            continue;
        *idle += (double)(v[3] + v[4]);
        for (int i = 0; i < 8; i++)
            *total += (double)v[i];
        ++*cores;
    }
    fclose(f);
    return *cores > 0;
}

/* Remembers the machine's CPU times at a decision, for the next probe. */
static void mark_cpu(nb__tuner *t)
{
    int cores;
    t->cpu_known = cpu_times(&t->cpu_idle, &t->cpu_total, &cores);
}

/* Whether the machine had room for `extra` more threads since the last
 * decision: 1 when it had (or /proc/stat cannot tell), 0 when other
 * processes kept the cores busy, -1 while too little time has passed to
 * tell. */
static int room_for(nb__tuner *t, int extra)
{
    double idle, total;
    int cores;
    if (!t->cpu_known || !cpu_times(&idle, &total, &cores))
        return 1;
    double d_total = total - t->cpu_total, d_idle = idle - t->cpu_idle;
    if (d_total < (double)TUNE_IDLE_TICKS * cores)
        return -1;
    return cores * d_idle / d_total >= TUNE_IDLE_NEEDED * extra;
}

/* The count to probe next from `cur` on the ladder most, most/2, …, 1: the
 * one above on an up turn, else below (either, where only one exists); 0
 * when there is no neighbour (one core). */
static int neighbour(bool up_turn, int cur, int most)
{
    int down = cur > 1 ? cur / 2 : 0, up = cur < most ? (cur * 2 < most ? cur * 2 : most) : 0;
    if (up_turn && up)
        return up;
    return down ? down : up;
}

/* The count this run uses, set on OpenMP; starts the run's clock. */
void nb__tune_begin(nb__tuner *t)
{
    if (setting != 0 || t->off)
        return;
    int most = omp_get_num_procs();
    if (t->cur <= 0 || t->cur > most) {
        bool hinted = hint > 0 && hint <= most;
        /* One thread first: it is never much slower than the best count,
         * while every core on a busy machine is twice as slow or worse; the
         * first probe, right after the first timed run, tries more. */
        *t = (nb__tuner){.cur = hinted ? hint : 1, .hinted = hinted, .wait = TUNE_WAIT_MIN};
    }
    int n = t->probe ? t->probe : t->cur;
    if (omp_get_max_threads() != n)
        omp_set_num_threads(n);
    t->start = now();
}

/* Ends a probe: the probed count replaces the chosen one when it won. */
static void decide(nb__tuner *t, bool won, double end)
{
    double cost = end - t->probe_start;
    if (won) {
        t->cur = t->probe;
        t->mean = t->probe_sum / t->probe_runs;
        t->wait = TUNE_WAIT_MIN;
    } else
        t->wait = t->wait * 2 < TUNE_WAIT_MAX ? t->wait * 2 : TUNE_WAIT_MAX;
    if (t->wait < TUNE_COST_RATIO * cost)
        t->wait = TUNE_COST_RATIO * cost;
    hint = t->cur;
    t->probe = 0, t->probe_runs = 0, t->probe_sum = 0;
    t->since = end;
    t->probed = true;
    mark_cpu(t);
}

/* A probe run's time: a first run much slower than the chosen count's mean
 * ends the probe at once, else it is decided on the mean of its runs. */
static void probe_run(nb__tuner *t, double dt, double end)
{
    t->probe_sum += dt;
    t->probe_runs++;
    if (t->probe_runs == 1 && dt > TUNE_LOSE * t->mean)
        decide(t, false, end);
    else if (t->probe_runs == TUNE_PROBE_RUNS)
        decide(t, t->probe_sum / t->probe_runs < TUNE_WIN * t->mean, end);
}

/* The run's time into the tuner: a running mean at the chosen count, a
 * probe's runs while probing, and the next probe once its wait is over. */
void nb__tune_end(nb__tuner *t)
{
    if (setting != 0 || t->off)
        return;
    double end = now(), dt = end - t->start;
    if (t->probe) {
        probe_run(t, dt, end);
        return;
    }
    if (t->runs++ == 0) {
        t->since = end; /* the first run pays for page faults and cold caches */
        mark_cpu(t);
        return;
    }
    t->mean = t->runs == 2 ? dt : 0.75 * t->mean + 0.25 * dt;
    if (t->runs == 4 && t->mean < TUNE_MIN_SECONDS) {
        t->off = true;
        return;
    }
    /* With no other runtime's choice to start from, the first probe comes
     * as soon as the machine's idle time can say whether more threads
     * would have cores to run on (TUNE_IDLE_SECONDS): the first run at two
     * threads is slow even on an idle machine. */
    if (end - t->since < (t->hinted || t->probed ? t->wait : TUNE_IDLE_SECONDS))
        return;
    bool up_turn = !t->up;
    int next = neighbour(up_turn, t->cur, omp_get_num_procs());
    int room = next > t->cur ? room_for(t, next - t->cur) : 1;
    if (room < 0)
        return;
    if (room == 0) {
        /* Other processes kept the cores busy: probing would only show it,
         * at a cost. Look again after the same wait. */
        t->since = end;
        t->probed = true;
        mark_cpu(t);
        return;
    }
    t->up = up_turn;
    t->probe = next;
    t->probe_start = end;
}
