/*
 * dist_sum.c — a data-parallel step's gradients summed over the ranks while
 * the backward pass still runs, as PyTorch's DistributedDataParallel does:
 * the runtime's hook (nb_runtime_set_hook) copies each gradient, weighted,
 * into a bucket as soon as its step is done (nb_runtime_ready_step), and a
 * full bucket's sum starts there (nb__dist_start), moved on between the
 * later steps (nb__dist_poll). Buckets hold whole parameters, from the last
 * one (backward's first) down; where they split depends on the parameters'
 * sizes alone, so every rank starts the same sums in the same order
 * whatever its runtime, and the sums are those of one allreduce of the
 * whole buffer. The first layer's gradients come out of backward last:
 * their part is summed at the end, with the caller's head.
 *
 * The large parameters of that last part are sharded, as ZeRO's stage 1
 * does: a reduce-scatter leaves each rank the sum of its piece alone, the
 * rank updates only that piece of the values (and of the optimiser's
 * slots), and an allgather sends every rank the new values of every
 * piece: the bytes of an allreduce, but the update, paid per parameter,
 * split over the ranks instead of made whole on each. When every rank's
 * part of the batch is the same size, the reduce-scatter reads those
 * gradients where the runtime left them, unweighted, and the weight (1/N)
 * is applied to the sum: no copy. Each rank's slots are current for its
 * pieces only until nb__dsum_gather_state sends them round. Everything
 * else is updated whole on every rank.
 *
 * When every rank is on one host, the sharded part goes through a window
 * of shared memory instead of MPI's copies (from the second step on: the
 * window is made where every rank is sure to be, at the end of a step's
 * sums). Each rank's runtime writes those gradients straight into the
 * rank's segment (nb_runtime_place_output), a barrier, then each rank sums
 * its pieces reading every segment in rank order (the same bits on every
 * rank, and a sum of two is what MPI's gives). The sharded parameters'
 * values themselves live in the window, one copy every rank's graph reads
 * (nb_param_place, from the first update through the window to the end of
 * the fit: nb__dsum_release): each rank updates its pieces in place, and
 * a second barrier makes every piece seen before anyone's next forward
 * pass. One read of each gradient and no copy of the new values, against
 * the four copies through MPI's shared segment of a reduce-scatter and an
 * allgather. Between hosts, and with NABLA_DIST_SHM=0, MPI's collectives
 * as before, into each rank's own parameters.
 *
 * A sharded dense weight's gradient xᵀ·dz is not summed at all through the
 * window: the rank's runtime leaves it as its factors (x, the layer's
 * input, and dz, the gradient of its product: nb_runtime_new_factored),
 * each rank writes its rows of both (dz times the rank's weight) where
 * they fall in the global batch, in the window's shared part, and after
 * the barrier forms its piece of the gradient over every rank's rows
 * (ops/kernels/dense_wgrad.h): the product one process would compute over
 * the global batch, restricted to the piece. For the MLP's 784×256 weight
 * at two ranks of 32, 130 KB of rows cross between the cores instead of
 * 800 KB of gradients, the multiply-adds are the same, and there is no sum
 * pass. Elsewhere (no window, a global batch larger than the first step's,
 * for which the rows have room) the factors are multiplied out into the
 * gradient's place and summed as before.
 */
#include <limits.h>
#include <math.h>

#include "train_internal.h"
#include "../ops/kernels/dense_wgrad.h"

/* A bucket closes at this many floats (64 KiB): a few sums in flight for a
 * small network, each large enough that its latency (a few µs) is paid
 * once per tens of thousands of values. */
#define BUCKET_FLOATS ((int64_t)1 << 14)
#define MAX_BUCKETS 64

/* The sharded part is summed and gathered in chunks of at most this many
 * floats, each split into the ranks' pieces: MPI allocates scratch copies
 * of what it sums, and a first layer of 60 MB would otherwise need 60 MB
 * more inside MPI, where running out aborts the job with MPI's message. */
#define CHUNK_FLOATS ((int64_t)1 << 20)

struct nb__dsum {
    nb_dist *d;
    int n;               /* parameters */
    int64_t head;        /* floats before the gradients: the caller's, then FLAG */
    int64_t *off;        /* per parameter: its gradient's offset in grads */
    int *bucket;         /* per parameter: its bucket, −1 for the part summed at the end */
    int *left;           /* per bucket: gradients not copied yet this step */
    int *first;          /* per bucket: its first parameter (it runs to the next bucket's) */
    int n_buckets, started;
    int *ready;          /* per parameter: the step its gradient is ready at; INT_MAX
                            once copied */
    float *buf;          /* head, then every gradient */
    nb_runtime *rt;      /* armed for a run of rt, or NULL */
    nb_node *const *grads;
    float w;             /* this rank's weight, copying */
    float w_all;         /* > 0: every rank's weight, applied to the sharded sums */
    bool nonfinite;      /* a gradient copied this step holds a NaN or infinity */
    nb_node *const *params;
    bool *sharded;       /* per parameter: reduce-scattered (large, summed at the end) */
    const float **src;   /* per parameter: where this step's reduce-scatter reads it */
    int n_ranges;        /* this rank's part of the update, in gradient order: */
    int64_t *ranges;     /* [lo, hi) pairs: its piece of each chunk of a sharded
                            parameter, every other parameter whole */
    float **from;        /* per range: the summed gradient of its first value */
    bool *piece;         /* per range: a piece of a sharded parameter */
    float *mine;         /* the sums of this rank's pieces, end to end, from a line */
    float *mine_block;   /* its allocation */
    float **at;          /* per parameter: where the values gathered are (scratch) */
    nb__dwin *win;       /* the shared window (single host), or NULL: MPI's copies */
    bool tried;          /* the window was asked for (once, after the first step) */
    bool live;           /* this step's sharded sums went through the window */
    bool placed;         /* the sharded parameters' values live in the window */
    int64_t *woff;       /* per parameter: a sharded one's place in a segment (its
                            gradient) and in the window's shared part (its values) */
    int64_t wn;          /* floats of sharded gradients in a segment, and of their
                            values in the shared part */
    /* The sharded dense weights whose gradients xᵀ·dz the runtime leaves as
       factors (nb_runtime_factors): through the window, every rank's rows
       of x and dz side by side in the shared part, each rank forming its
       piece over all of them. */
    bool *fact;          /* per parameter: formed that way (agreed at the window) */
    bool *unfactored;    /* per parameter: this rank's first run formed it */
    int64_t *xoff;       /* per parameter: its x rows' and dz rows' place in the */
    int64_t *dzoff;      /* shared part, `cap` rows of each */
    int64_t cap;         /* rows of the global batch the shared part holds */
    int64_t fn;          /* floats of those rows in the shared part */
    float *row;          /* one row of scratch for a piece that cuts a row */
    int64_t row_n;       /* its floats: the widest sharded weight's row */
    int64_t row_at, rows, all; /* this step: this rank's first row in the global
                                  batch, its rows, the global batch's */
    bool fstep;          /* this step's factored weights go through the rows */
};

/* Where the last float of the head is: 1 when some rank's sharded sums
 * are not finite (summed with the head). */
#define FLAG(s) ((s)->buf[(s)->head - 1])

/* Parameters from the last down into buckets of at least `least` floats;
 * what is left when the first is reached stays for the end. */
static void split(nb__dsum *s, int64_t least)
{
    int64_t filled = 0;
    int from = s->n;
    for (int i = s->n - 1; i >= 0; i--) {
        filled += s->off[i + 1] - s->off[i];
        if (filled >= least && i > 0) {
            for (int k = i; k < from; k++)
                s->bucket[k] = s->n_buckets;
            s->first[s->n_buckets++] = i;
            from = i, filled = 0;
        }
    }
    for (int k = 0; k < from; k++)
        s->bucket[k] = -1;
}

/* The chunks of parameter i (sharded): chunk c is [c·CHUNK_FLOATS, …) of
 * its values; returns its length, its first value's place in *lo. */
static int64_t chunks(const nb__dsum *s, int i)
{
    return (s->off[i + 1] - s->off[i] + CHUNK_FLOATS - 1) / CHUNK_FLOATS;
}

static int64_t chunk(const nb__dsum *s, int i, int64_t c, int64_t *lo)
{
    int64_t k = s->off[i + 1] - s->off[i];
    *lo = c * CHUNK_FLOATS;
    return k - *lo < CHUNK_FLOATS ? k - *lo : CHUNK_FLOATS;
}

/* This rank's piece of chunk c of parameter i: its length, and in *lo
 * its first value's place within the parameter. */
static int64_t piece_of(const nb__dsum *s, int i, int64_t c, int64_t *lo)
{
    int64_t c0, k = nb__piece(chunk(s, i, c, &c0), nb_dist_size(s->d), nb_dist_rank(s->d), lo);
    *lo += c0;
    return k;
}

/* One more range of this rank's update: values [lo, hi), their summed
 * gradient at g. */
static void add_range(nb__dsum *s, int64_t lo, int64_t hi, float *g, bool piece)
{
    s->ranges[2 * s->n_ranges] = lo, s->ranges[2 * s->n_ranges + 1] = hi;
    s->from[s->n_ranges] = g;
    s->piece[s->n_ranges++] = piece;
}

/* Which parameters are sharded, this rank's ranges of the update and the
 * room for its pieces' sums. A sharded parameter is one of the part
 * summed at the end, of at least BUCKET_FLOATS values: below that, the
 * collectives' latency costs more than splitting its update saves. */
static bool plan_shards(nb__dsum *s)
{
    int64_t room = 0, ranges = 0, lo;
    for (int i = 0; i < s->n; i++) {
        s->sharded[i] = s->bucket[i] < 0 && s->off[i + 1] - s->off[i] >= BUCKET_FLOATS;
        for (int64_t c = 0; s->sharded[i] && c < chunks(s, i); c++)
            room += piece_of(s, i, c, &lo), ranges++;
        ranges += !s->sharded[i];
    }
    s->ranges = nb_malloc((size_t)(2 * ranges + 2) * sizeof *s->ranges);
    s->from = nb_malloc((size_t)(ranges + 1) * sizeof *s->from);
    s->piece = nb_malloc((size_t)(ranges + 1) * sizeof *s->piece);
    /* On a cache line, as the runtime's buffers: the piece of a dense
       weight's gradient is formed here by panels of 16 columns */
    s->mine_block = nb_malloc((size_t)(room + 16) * sizeof *s->mine);
    if (!s->ranges || !s->from || !s->piece || !s->mine_block)
        return false;
    s->mine = (float *)(((uintptr_t)s->mine_block + 63) / 64 * 64);
    float *at = s->mine;
    for (int i = 0; i < s->n; i++) {
        if (!s->sharded[i])
            add_range(s, s->off[i], s->off[i + 1], nb__dsum_grads(s) + s->off[i], false);
        for (int64_t c = 0, k; s->sharded[i] && c < chunks(s, i); c++, at += k) {
            k = piece_of(s, i, c, &lo);
            add_range(s, s->off[i] + lo, s->off[i] + lo + k, at, true);
        }
    }
    return true;
}

nb__dsum *nb__dsum_new(nb_dist *d, nb_node *const *params, int n, int64_t head)
{
    nb__dsum *s = nb_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    *s = (nb__dsum){.d = d, .n = n, .head = head + 1, .params = params};
    s->off = nb_malloc((size_t)(n + 1) * sizeof *s->off);
    s->bucket = nb_malloc((size_t)(4 * n + 1) * sizeof *s->bucket);
    s->sharded = nb_malloc((size_t)(n ? n : 1) * sizeof *s->sharded);
    s->src = nb_malloc((size_t)(n ? n : 1) * sizeof *s->src);
    s->at = nb_malloc((size_t)(n ? n : 1) * sizeof *s->at);
    s->woff = nb_malloc((size_t)(n ? n : 1) * sizeof *s->woff);
    s->fact = nb_calloc((size_t)(2 * n + 2), sizeof *s->fact);
    s->xoff = nb_calloc((size_t)(2 * n + 2), sizeof *s->xoff);
    if (!s->off || !s->bucket || !s->sharded || !s->src || !s->at || !s->woff || !s->fact ||
        !s->xoff)
        return nb__dsum_free(s), NULL;
    s->left = s->bucket + n, s->first = s->left + n, s->ready = s->first + n;
    s->unfactored = s->fact + n + 1, s->dzoff = s->xoff + n + 1;
    s->off[0] = 0;
    for (int i = 0; i < n; i++)
        s->off[i + 1] = s->off[i] + nb_shape_numel(nb_node_shape(params[i]));
    int64_t least = s->off[n] / MAX_BUCKETS;
    split(s, least > BUCKET_FLOATS ? least : BUCKET_FLOATS);
    s->buf = nb_malloc((size_t)(s->head + s->off[n]) * sizeof(float));
    if (!s->buf || !plan_shards(s))
        return nb__dsum_free(s), NULL;
    for (int i = 0; i < n; i++) /* 64-byte aligned, as the runtime's own buffers */
        if (s->sharded[i])
            s->woff[i] = s->wn, s->wn += (s->off[i + 1] - s->off[i] + 15) & ~(int64_t)15;
    for (int i = 0; i < n; i++) { /* a row of the widest sharded weight's gradient */
        nb_shape ps = nb_node_shape(params[i]);
        if (s->sharded[i] && ps.rank == 2 && ps.dim[1] > s->row_n)
            s->row_n = ps.dim[1];
    }
    s->row = nb_malloc((size_t)(s->row_n ? s->row_n : 1) * sizeof *s->row);
    if (!s->row)
        return nb__dsum_free(s), NULL;
    return s;
}

void nb__dsum_free(nb__dsum *s)
{
    if (!s)
        return;
    nb__dsum_release(s); /* the parameters out of the window before it goes */
    nb_free(s->off);
    nb_free(s->bucket);
    nb_free(s->sharded);
    nb_free(s->src);
    nb_free(s->at);
    nb_free(s->ranges);
    nb_free(s->from);
    nb_free(s->piece);
    nb_free(s->mine_block);
    nb_free(s->buf);
    nb_free(s->woff);
    nb_free(s->fact);
    nb_free(s->xoff);
    nb_free(s->row);
    nb__dwin_free(s->win);
    nb_free(s);
}

float *nb__dsum_head(nb__dsum *s)
{
    return s->buf;
}

float *nb__dsum_grads(nb__dsum *s)
{
    return s->buf + s->head;
}

/* This step's rows of sharded parameter i's x (dz: of its dz) in the
 * window's shared part: every rank's, the global batch's order. */
static float *rows_of(const nb__dsum *s, int i, bool dz)
{
    return nb__dwin_shared(s->win) + (dz ? s->dzoff[i] : s->xoff[i]);
}

/* Gradient i as rt left it, its factors x and dz (k rows; x NULL: no run,
 * zeros). When this step goes through the window's rows (i factored,
 * fstep): this rank's rows of x, and of dz times its weight (w_all when
 * every rank's is the same, else w), into the shared part where they fall
 * in the global batch, for every rank to form its piece from (sum_piece);
 * a power of two (equal parts of a batch of 2^j) scales dz without
 * rounding. Otherwise the gradient
 * is formed into `to` as the runtime would have formed it, times the
 * weight copy() would apply. */
static void copy_factors(nb__dsum *s, int i, const float *x, const float *dz, int64_t k,
                         float *to, bool after)
{
    nb_shape ps = nb_node_shape(s->params[i]);
    int64_t m = ps.dim[0], n = ps.dim[1];
    if (s->fstep && s->fact[i]) {
        float *xr = rows_of(s, i, false) + s->row_at * m;
        float *dr = rows_of(s, i, true) + s->row_at * n;
        float w = s->w_all > 0 ? s->w_all : s->w;
        if (x && k == s->rows) {
            memcpy(xr, x, (size_t)(k * m) * sizeof *xr);
            for (int64_t e = 0; e < k * n; e++)
                dr[e] = w * dz[e];
        } else { /* no run: nothing to add; a run of other rows (never): no update */
            memset(xr, 0, (size_t)(s->rows * m) * sizeof *xr);
            for (int64_t e = 0; e < s->rows * n; e++)
                dr[e] = x ? NAN : 0.0f;
        }
        return;
    }
    float w = after ? 1 : s->w;
    s->src[i] = to;
    if (!x) {
        memset(to, 0, (size_t)(m * n) * sizeof *to);
        return;
    }
    nb__dense_wgrad_range(x, dz, k, m, n, 0, m * n, to, NULL);
    for (int64_t e = 0; w != 1 && e < m * n; e++)
        to[e] *= w;
    if (!after && !nb__all_finite(to, m * n))
        s->nonfinite = true;
}

/* Gradient i made ready for its sum: a sharded one, when the weight is
 * applied after the sum (w_all), is left where the runtime made it (or
 * copied unweighted when rt keeps only an outer product); one rt left as
 * its factors goes to copy_factors; any other is copied times the rank's
 * weight into its place (zeros when no run is armed). Its bucket is one
 * closer to full. */
static void copy(nb__dsum *s, int i)
{
    float *to = s->win && s->sharded[i] ? nb__dwin_seg(s->win, nb_dist_rank(s->d)) + s->woff[i]
                                        : nb__dsum_grads(s) + s->off[i];
    bool after = s->sharded[i] && s->w_all > 0; /* weighted after the sum */
    const float *x, *dz;
    int64_t k;
    if (s->rt && nb_runtime_factors(s->rt, s->grads[i], &x, &dz, &k)) {
        copy_factors(s, i, x, dz, k, to, after);
    } else if (!s->rt && s->fact[i]) {
        copy_factors(s, i, NULL, NULL, 0, to, after);
    } else {
        const float *g = s->rt && after ? nb_runtime_value(s->rt, s->grads[i]) : NULL;
        s->src[i] = g ? g : to;
        if (!g && (!s->rt || nb__grad_values(s->rt, s->grads[i], after ? 1 : s->w, to,
                                             &s->nonfinite) < 0))
            memset(to, 0, (size_t)(s->off[i + 1] - s->off[i]) * sizeof *to);
        s->unfactored[i] |= s->rt != NULL;
    }
    s->ready[i] = INT_MAX;
    if (s->bucket[i] >= 0)
        s->left[s->bucket[i]]--;
}

/* The buckets whose gradients are all in, in order; early: during the run. */
static void start_full(nb__dsum *s, bool early)
{
    for (; s->started < s->n_buckets && s->left[s->started] == 0; s->started++) {
        int k = s->started, from = s->first[k], to = k ? s->first[k - 1] : s->n;
        nb__dist_start(s->d, nb__dsum_grads(s) + s->off[from], s->off[to] - s->off[from],
                       early);
    }
}

/* The runtime's hook: every gradient ready at this step copied, full
 * buckets started, the sums in flight moved on. */
static void after_step(void *ud, int step)
{
    nb__dsum *s = ud;
    for (int i = 0; i < s->n; i++)
        if (s->ready[i] <= step)
            copy(s, i);
    start_full(s, step + 1 < nb_runtime_num_steps(s->rt));
    nb__dist_poll(s->d);
}

/* Every bucket empty and none started; gradient i ready at the step
 * rt says (-1, when rt is NULL: zeros, at once). */
static void reset(nb__dsum *s, const nb_runtime *rt, nb_node *const *grads)
{
    s->started = 0;
    s->nonfinite = false;
    for (int k = 0; k < s->n_buckets; k++)
        s->left[k] = (k ? s->first[k - 1] : s->n) - s->first[k];
    for (int i = 0; i < s->n; i++)
        s->ready[i] = rt ? nb_runtime_ready_step(rt, grads[i]) : -1;
}

/* With the window, rt writes each sharded gradient into this rank's
 * segment (where it cannot, copy() puts it there). It stays there: the
 * trainer frees its runtimes before the window, and a rank's own writes
 * to its segment between steps meet no reader (the others read it only
 * between a step's first barrier and its summed head). */
static void place(nb__dsum *s)
{
    float *seg = s->win ? nb__dwin_seg(s->win, nb_dist_rank(s->d)) : NULL;
    for (int i = 0; seg && s->rt && i < s->n; i++)
        if (s->sharded[i] && nb_runtime_value(s->rt, s->grads[i]) &&
            nb_runtime_value(s->rt, s->grads[i]) != seg + s->woff[i])
            nb_runtime_place_output(s->rt, s->grads[i], seg + s->woff[i]);
}

void nb__dsum_arm(nb__dsum *s, nb_runtime *rt, nb_node *const *grads, float w)
{
    s->rt = rt, s->grads = grads, s->w = w;
    reset(s, rt, grads);
    place(s);
    nb_runtime_set_hook(rt, after_step, s);
}

bool nb__dsum_collect(nb__dsum *s)
{
    for (int i = 0; i < s->n; i++)
        if (s->ready[i] != INT_MAX)
            copy(s, i);
    start_full(s, false);
    return !s->nonfinite;
}

void nb__dsum_begin(nb__dsum *s, float w_all, int64_t at, int64_t rows, int64_t all)
{
    s->w_all = w_all;
    s->row_at = at, s->rows = rows, s->all = all;
    s->fstep = s->win && all <= s->cap;
}

/* v[0..n) times w, in a loop the compiler vectorises. */
NB__SIMD static void scale(float *restrict v, int64_t n, float w)
{
    for (int64_t e = 0; e < n; e++)
        v[e] *= w;
}

/* to[0..n) = the sum of the ranks' segments at `at`, in rank order, times
 * wt in the last pass (the bits of summing, then scaling), in loops the
 * compiler vectorises. */
NB__SIMD static void sum_segments(float *restrict to, const nb__dwin *w, int ranks, int64_t at,
                                  int64_t n, float wt)
{
    const float *a = nb__dwin_seg(w, 0) + at;
    for (int64_t e = 0; ranks > 2 && e < n; e++)
        to[e] = a[e];
    for (int r = 1; r < ranks - 1; r++) {
        const float *restrict b = nb__dwin_seg(w, r) + at;
        for (int64_t e = 0; e < n; e++)
            to[e] += b[e];
    }
    const float *restrict b = nb__dwin_seg(w, ranks - 1) + at;
    if (ranks == 2) /* the usual case in one pass */
        for (int64_t e = 0; e < n; e++)
            to[e] = (a[e] + b[e]) * wt;
    else
        for (int64_t e = 0; e < n; e++)
            to[e] = (to[e] + b[e]) * wt;
}

/* This rank's piece of chunk c of sharded parameter i summed over the
 * ranks into `to`, w_all applied: read from every segment of the window,
 * or by MPI. */
static void sum_piece(nb__dsum *s, int i, int64_t c, float *to)
{
    int64_t c0, n = chunk(s, i, c, &c0), lo, k = piece_of(s, i, c, &lo);
    if (s->live && s->fstep && s->fact[i]) { /* one chunk: lo is within the parameter */
        nb_shape ps = nb_node_shape(s->params[i]);
        nb__dense_wgrad_range(rows_of(s, i, false), rows_of(s, i, true), s->all, ps.dim[0],
                              ps.dim[1], lo, lo + k, to, s->row);
        return;
    }
    if (s->live) {
        sum_segments(to, s->win, nb_dist_size(s->d), s->woff[i] + lo, k,
                     s->w_all > 0 ? s->w_all : 1);
        return;
    }
    nb__dist_reduce_scatter(s->d, s->src[i] + c0, n, to);
    if (s->w_all > 0)
        scale(to, k, s->w_all);
}

/* Every sharded parameter's chunks summed into this rank's pieces, w_all
 * applied to them, and FLAG set when one is not finite. */
static void scatter_sums(nb__dsum *s)
{
    float *at = s->mine;
    bool bad = false;
    double t0 = nb__dist_clock(), formed = 0;
    int64_t bytes = 0;
    s->live = s->win != NULL;
    if (s->live) /* A: every rank's gradients in its segment, and its reads of this
                    step's parameters done (nb__dsum_update says why that matters) */
        nb__dwin_sync(s->win);
    for (int i = 0; i < s->n; i++)
        for (int64_t c = 0; s->sharded[i] && c < chunks(s, i); c++) {
            int64_t lo, k = piece_of(s, i, c, &lo);
            double f0 = nb__dist_clock();
            sum_piece(s, i, c, at);
            if (s->live && s->fstep && s->fact[i]) /* a product, not a sum: not counted */
                formed += nb__dist_clock() - f0;
            bytes += chunk(s, i, c, &lo) * (int64_t)sizeof(float);
            bad |= !nb__all_finite(at, k);
            at += k;
        }
    FLAG(s) = bad;
    if (s->live)
        nb__dist_count(s->d, bytes, nb__dist_clock() - t0 - formed);
}

/* Which sharded parameters go through the window as rows of their
 * factors (fact): rank-2 weights of one chunk whose gradient every rank's
 * first run left as factors (the ranks agree: a sum over them), and where
 * their rows go in the shared part, after the parameters' values: `cap`
 * rows of x and of dz each, the first step's global batch (a later, larger
 * one forms the gradients instead, summed as any other). Collective, on
 * every rank after its first step's sums. */
static void plan_factors(nb__dsum *s)
{
    s->cap = s->all, s->fn = 0;
    for (int i = 0; i < s->n; i++) {
        if (!s->sharded[i])
            continue;
        nb_shape ps = nb_node_shape(s->params[i]);
        double no = s->unfactored[i] || ps.rank != 2 || chunks(s, i) != 1 || s->cap <= 0 ||
                    ps.dim[1] > s->row_n;
        nb__dist_sum_doubles(s->d, &no, 1);
        s->fact[i] = no == 0;
        if (!s->fact[i])
            continue;
        s->xoff[i] = s->wn + s->fn, s->fn += (s->cap * ps.dim[0] + 15) & ~(int64_t)15;
        s->dzoff[i] = s->wn + s->fn, s->fn += (s->cap * ps.dim[1] + 15) & ~(int64_t)15;
    }
}

void nb__dsum_finish(nb__dsum *s)
{
    if (!s->rt)
        reset(s, NULL, NULL);
    for (int i = 0; i < s->n; i++)
        if (s->ready[i] != INT_MAX)
            copy(s, i);
    start_full(s, false);
    scatter_sums(s);
    nb__dist_finish(s->d, s->buf, s->head);
    for (int i = 0, j; i < s->n; i = j) { /* the runs of whole parameters left */
        for (j = i; j < s->n && s->bucket[j] < 0 && !s->sharded[j]; j++)
            ;
        if (j > i)
            nb__dist_finish(s->d, nb__dsum_grads(s) + s->off[i], s->off[j] - s->off[i]);
        j += j == i;
    }
    if (s->rt)
        nb_runtime_set_hook(s->rt, NULL, NULL);
    s->rt = NULL;
    if (!s->tried) { /* every rank is here, after its first step's sums */
        s->tried = true;
        plan_factors(s);
        s->win = s->wn > 0 ? nb__dwin_new(s->d, s->wn, s->wn + s->fn) : NULL;
    }
}

bool nb__dsum_sums_finite(const nb__dsum *s)
{
    return FLAG(s) == 0;
}

/* ---------------------------------------------------------------- the sharded update */

/* The sharded parameters moved into the window's shared part, where every
 * rank's graph reads them from now on (nb_param_place). Every rank holds
 * the same values here (the last update gathered them whole, or they came
 * from rank 0); each copies only its own pieces in, and reads no other
 * piece until the barrier after its update, by which time every rank has
 * written its own (nb__dsum_update's reasoning). Once. */
static void move_in(nb__dsum *s)
{
    float *shared = nb__dwin_shared(s->win);
    for (int i = 0; !s->placed && i < s->n; i++) {
        if (!s->sharded[i])
            continue;
        const float *own = nb_param_data(s->params[i]);
        float *v = shared + s->woff[i];
        for (int64_t c = 0, lo, k; c < chunks(s, i); c++) {
            k = piece_of(s, i, c, &lo);
            memcpy(v + lo, own + lo, (size_t)k * sizeof *v);
        }
        nb_param_place(s->params[i], v);
    }
    s->placed = true;
}

void nb__dsum_release(nb__dsum *s)
{
    for (int i = 0; s && s->placed && i < s->n; i++) {
        if (!s->sharded[i])
            continue;
        const float *v = nb_param_data(s->params[i]);
        nb_param_place(s->params[i], NULL);
        memcpy(nb_param_data(s->params[i]), v, (size_t)(s->off[i + 1] - s->off[i]) * sizeof *v);
    }
    if (s)
        s->placed = false;
}

/* Every chunk of every sharded parameter's new values, each rank's piece
 * sent to every rank, in place. */
static void gather(nb__dsum *s, float *const *at)
{
    for (int i = 0; i < s->n; i++)
        for (int64_t c = 0, c0; s->sharded[i] && c < chunks(s, i); c++) {
            int64_t n = chunk(s, i, c, &c0);
            nb__dist_allgather(s->d, at[i] + c0, n);
        }
}

/* The global gradient norm clipped to max_norm as nb_clip_grad_norm does:
 * the squares of each rank's pieces, and rank 0's of the gradients every
 * rank holds, summed over the ranks. */
static void clip(nb__dsum *s, double max_norm)
{
    double ss = 0;
    bool all = nb_dist_rank(s->d) == 0;
    for (int r = 0; r < s->n_ranges; r++)
        for (int64_t e = 0; (s->piece[r] || all) && e < s->ranges[2 * r + 1] - s->ranges[2 * r]; e++)
            ss += (double)s->from[r][e] * s->from[r][e];
    nb__dist_sum_doubles(s->d, &ss, 1);
    double norm = sqrt(ss);
    if (!(norm > max_norm && isfinite(norm)))
        return;
    float scale = (float)(max_norm / norm);
    for (int r = 0; r < s->n_ranges; r++)
        for (int64_t e = 0; e < s->ranges[2 * r + 1] - s->ranges[2 * r]; e++)
            s->from[r][e] *= scale;
}

/*
 * Through the window, the sharded parameters are one copy in shared memory
 * that every rank's forward and backward passes read, and each rank writes
 * its own pieces of it here, in place. No rank may write a piece while
 * another reads it, and every rank must see every piece whole before its
 * next read. The two barriers of a step (nb__dwin_sync: MPI_Win_sync, an
 * MPI_Barrier of the host's ranks, MPI_Win_sync) see to it:
 *
 *   - barrier A, in scatter_sums, before the sums: no rank passes it
 *     before every rank has finished this step's forward and backward
 *     passes, the last reads of this step's parameters;
 *   - the writes: after A, each rank's update of its own pieces (and
 *     move_in's copy, the first time); between A and B a rank reads no
 *     parameter values but its own pieces' (the optimiser's rule, weight
 *     decay), and the summed gradients;
 *   - barrier B, at the end of this update: no rank passes it before
 *     every rank has written its pieces, and MPI_Win_sync on both sides
 *     orders those stores before every later load. Every later read —
 *     the next step's forward pass, evaluation, a checkpoint rank 0
 *     writes, nb__dsum_release's copy out — comes after B, and the next
 *     writes after the next step's A, which no rank reaches before every
 *     rank is done reading for that step.
 *
 * A step that fails or is skipped updates nothing and writes nothing.
 * Between hosts (or NABLA_DIST_SHM=0) each rank's parameters are its own
 * and MPI's allgather sends every rank the new values of every piece.
 */
void nb__dsum_update(nb__dsum *s, nb_optimizer *opt, float lr, double clip_norm)
{
    if (clip_norm > 0)
        clip(s, clip_norm);
    if (s->live)
        move_in(s);
    nb__optimizer_step_ranges(opt, (const float *const *)s->from, s->ranges, s->n_ranges, lr);
    if (s->live) {
        double t0 = nb__dist_clock();
        nb__dwin_sync(s->win); /* B: every rank's pieces written, and seen */
        nb__dist_count(s->d, 0, nb__dist_clock() - t0);
        return;
    }
    for (int i = 0; i < s->n; i++)
        s->at[i] = nb_param_data(s->params[i]);
    gather(s, s->at);
}

void nb__dsum_gather_state(nb__dsum *s, nb_optimizer *opt)
{
    for (int k = 0; s && k < 2; k++) {
        for (int i = 0; i < s->n; i++)
            s->at[i] = nb_optimizer_slot(opt, k) + s->off[i];
        gather(s, s->at);
    }
}
