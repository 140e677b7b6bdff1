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
 * their bucket is summed at the end, with the caller's head.
 */
#include <limits.h>

#include "train_internal.h"

/* A bucket closes at this many floats (64 KiB): a few sums in flight for a
 * small network, each large enough that its latency (a few µs) is paid
 * once per tens of thousands of values. */
#define BUCKET_FLOATS ((int64_t)1 << 14)
#define MAX_BUCKETS 64

struct nb__dsum {
    nb_dist *d;
    int n;               /* parameters */
    int64_t head;        /* floats before the gradients */
    int64_t *off;        /* per parameter: its gradient's offset in grads */
    int *bucket;         /* per parameter: its bucket, −1 for the one summed at the end */
    int *left;           /* per bucket: gradients not copied yet this step */
    int *first;          /* per bucket: its first parameter (it runs to the next bucket's) */
    int n_buckets, started;
    int *ready;          /* per parameter: the step its gradient is ready at; INT_MAX
                            once copied */
    float *buf;          /* head, then every gradient */
    nb_runtime *rt;      /* armed for a run of rt, or NULL */
    nb_node *const *grads;
    float w;
    bool nonfinite;      /* a gradient copied this step holds a NaN or infinity */
};

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

nb__dsum *nb__dsum_new(nb_dist *d, nb_node *const *params, int n, int64_t head)
{
    nb__dsum *s = nb_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    *s = (nb__dsum){.d = d, .n = n, .head = head};
    s->off = nb_malloc((size_t)(n + 1) * sizeof *s->off);
    s->bucket = nb_malloc((size_t)(4 * n + 1) * sizeof *s->bucket);
    if (!s->off || !s->bucket)
        return nb__dsum_free(s), NULL;
    s->left = s->bucket + n, s->first = s->left + n, s->ready = s->first + n;
    s->off[0] = 0;
    for (int i = 0; i < n; i++)
        s->off[i + 1] = s->off[i] + nb_shape_numel(nb_node_shape(params[i]));
    int64_t least = s->off[n] / MAX_BUCKETS;
    split(s, least > BUCKET_FLOATS ? least : BUCKET_FLOATS);
    s->buf = nb_malloc((size_t)(head + s->off[n]) * sizeof(float));
    return s->buf ? s : (nb__dsum_free(s), NULL);
}

void nb__dsum_free(nb__dsum *s)
{
    if (!s)
        return;
    nb_free(s->off);
    nb_free(s->bucket);
    nb_free(s->buf);
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

/* Gradient i into its place (zeros when no run is armed); its bucket one
 * closer to full. */
static void copy(nb__dsum *s, int i)
{
    float *to = nb__dsum_grads(s) + s->off[i];
    if (!s->rt || nb__grad_values(s->rt, s->grads[i], s->w, to, &s->nonfinite) < 0)
        memset(to, 0, (size_t)(s->off[i + 1] - s->off[i]) * sizeof *to);
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

void nb__dsum_arm(nb__dsum *s, nb_runtime *rt, nb_node *const *grads, float w)
{
    s->rt = rt, s->grads = grads, s->w = w;
    reset(s, rt, grads);
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

void nb__dsum_finish(nb__dsum *s)
{
    if (!s->rt)
        reset(s, NULL, NULL);
    for (int i = 0; i < s->n; i++)
        if (s->ready[i] != INT_MAX)
            copy(s, i);
    start_full(s, false);
    int end = s->n_buckets ? s->first[s->n_buckets - 1] : s->n;
    nb__dist_finish(s->d, s->buf, s->head + s->off[end]);
    if (s->rt)
        nb_runtime_set_hook(s->rt, NULL, NULL);
    s->rt = NULL;
}
