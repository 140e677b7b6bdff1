/*
 * par.c — the items of a kernel's loop across the OpenMP team, each thread
 * owning the range a static schedule gives it and taking what is left of
 * the others' ranges once its own is done (par.h says why).
 *
 * A range is one 64-bit word, its next item in the low half and its end in
 * the high half, changed only by compare-and-swap: the owner moves the
 * front up, a thief moves the end down, so an item is taken exactly once
 * whoever races for it. Each range sits on its own cache line, so the
 * owner's swaps stay in its core's cache while nobody steals.
 */
#include <stdatomic.h>
#include <stdint.h>

#include "par.h"

typedef struct par_range {
    _Alignas(64) _Atomic uint64_t span; /* next item | end << 32 */
} par_range;

static _Atomic bool force_steals;
static _Atomic int64_t forced_teams;

int64_t nb__par_force_steals(bool on)
{
    atomic_store(&force_steals, on);
    return atomic_exchange(&forced_teams, 0);
}

static uint64_t span_of(uint64_t lo, uint64_t hi)
{
    return hi << 32 | lo;
}

static int64_t left_in(par_range *r)
{
    const uint64_t s = atomic_load_explicit(&r->span, memory_order_relaxed);
    const int64_t lo = (int64_t)(uint32_t)s, hi = (int64_t)(s >> 32);
    return hi > lo ? hi - lo : 0;
}

/* The next item of r from its front (back: from its end), or -1 when r is
 * empty. Relaxed order is enough: items share no data, and the team's
 * fork and join order the loop against what comes before and after. */
static int64_t take(par_range *r, bool back)
{
    uint64_t s = atomic_load_explicit(&r->span, memory_order_relaxed);
    for (;;) {
        const uint64_t lo = (uint32_t)s, hi = s >> 32;
        if (lo >= hi)
            return -1;
        const uint64_t next = back ? span_of(lo, hi - 1) : span_of(lo + 1, hi);
        if (atomic_compare_exchange_weak_explicit(&r->span, &s, next, memory_order_relaxed,
                                                  memory_order_relaxed))
            return (int64_t)(back ? hi - 1 : lo);
    }
}

/* Thread `me` once its own range is done: the last item of the range with
 * the most left, until every range is empty. */
static void steal(par_range *r, int p, int me, nb__par_fn *fn, const void *ctx)
{
    for (;;) {
        int victim = -1;
        int64_t most = 0;
        for (int i = 1; i < p; i++) {
            const int v = (me + i) % p;
            const int64_t left = left_in(&r[v]);
            if (left > most)
                most = left, victim = v;
        }
        if (victim < 0)
            return;
        const int64_t t = take(&r[victim], true);
        if (t >= 0)
            fn(ctx, t);
    }
}

/* With force_steals, thread 0 of a team of several waits until the others
 * have taken half its range [0, hi) (rounded up) from the back: they reach
 * it once their own ranges are done, so the wait ends without any timing. */
static void hold(par_range *r, int64_t hi)
{
    const int64_t want = hi - (hi + 1) / 2;
    while ((int64_t)(atomic_load_explicit(&r->span, memory_order_relaxed) >> 32) > want)
        ;
}

void nb__par_items(int64_t items, int64_t work, nb__par_fn *fn, const void *ctx)
{
    if (!(items > 1 && nb__par(work)) || omp_in_parallel()) {
        for (int64_t t = 0; t < items; t++)
            fn(ctx, t);
        return;
    }
    if (items > UINT32_MAX) { /* beyond a range's halves: no loop here comes near */
#pragma omp parallel for schedule(static)
        for (int64_t t = 0; t < items; t++)
            fn(ctx, t);
        return;
    }
    const int p = omp_get_max_threads() < items ? omp_get_max_threads() : (int)items;
    par_range r[p];
    const int64_t q = items / p, extra = items % p; /* libgomp's static ranges */
    for (int i = 0; i < p; i++) {
        const int64_t lo = i < extra ? i * (q + 1) : i * q + extra;
        atomic_init(&r[i].span, span_of((uint64_t)lo, (uint64_t)(lo + q + (i < extra))));
    }
    const bool forced = atomic_load(&force_steals);
#pragma omp parallel num_threads(p)
    {
        /* a smaller team than asked leaves ranges without an owner: the
         * thieves empty them */
        const int me = omp_get_thread_num();
        if (me == 0 && forced && omp_get_num_threads() > 1) {
            atomic_fetch_add(&forced_teams, 1);
            hold(&r[0], q + (extra > 0));
        }
        for (int64_t t; (t = take(&r[me], false)) >= 0;)
            fn(ctx, t);
        steal(r, p, me, fn, ctx);
    }
}
