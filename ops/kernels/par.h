/*
 * par.h — how the convolution and pooling kernels split their items across
 * the OpenMP team: each thread owns the contiguous range of items a static
 * schedule gives it and runs them in order, and a thread whose range is
 * done takes items from the back of the range with the most left (par.c).
 *
 * Why not schedule(static): this machine's cores drift in speed
 * independently, and every static loop waits for the slower one. Why not
 * schedule(dynamic): items then land on whichever thread asks first, so a
 * step's output lines are written by one core and read or rewritten by the
 * other the next step (cross-core fetches, 9× the store time in conv1's
 * forward). Here, when the cores keep pace, every item runs on the same
 * thread run after run, as under static; when one lags, the other takes
 * the lagging one's last items.
 *
 * Items must write disjoint outputs and not depend on which thread runs
 * them or on a thread's items being contiguous (partial sums per item or
 * chunk, never per thread): then the values are the same bits at any
 * thread count and under any pattern of steals.
 */
#ifndef NB_KERNELS_PAR_H
#define NB_KERNELS_PAR_H

#include "../ops_internal.h"

/* Item t of a loop; ctx is the caller's job description. */
typedef void nb__par_fn(const void *ctx, int64_t t);

/* Runs fn(ctx, t) once for each t in [0, items): on the calling thread in
 * order when the loop is not worth a team (items ≤ 1, or `work`, the
 * loop's size in multiply-adds or elements, too small for nb__par) or when
 * already inside a parallel region; otherwise across the team as above.
 * items ≤ 0 runs nothing. */
void nb__par_items(int64_t items, int64_t work, nb__par_fn *fn, const void *ctx);

/* For tests only: while on, thread 0 of each team waits before its own
 * items until the other threads have taken at least half of its range, so
 * every parallel loop has steals (no timing involved: the others reach
 * thread 0's range once theirs is done). Off by default. Returns how many
 * teams held thread 0 so since the previous call. */
int64_t nb__par_force_steals(bool on);

#endif
