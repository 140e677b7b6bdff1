/*
 * window.c — the window geometry conv2d, local2d and the poolings share:
 * their options resolved per axis (a per-axis field overrides the one for
 * both axes, pads' four sides override pad), the output size in floor or
 * ceil mode, the refusals of a window that does not fit, and the columns:
 * unfold2d of the input, through an explicit nb_pad first when the two
 * sides of an axis differ, when ceil mode overhangs the trailing padding or
 * when the padding is not zeros (max pooling's -∞), since unfold2d itself
 * pads both sides of an axis alike, with zeros.
 */
#include <math.h>

#include "layers_internal.h"

/* Axis a ∈ {0 rows, 1 columns} of value pair (v0, v1). */
static int pick(int a, int v0, int v1)
{
    return a ? v1 : v0;
}

/* Padding before and after axis a from pads[4] (top, left, bottom, right)
 * or, when all four are 0, pad on both sides. */
static void sides(nb__axis *ax, int a, const int *pads, int pad)
{
    bool four = pads[0] || pads[1] || pads[2] || pads[3];
    ax->before = four ? pads[a] : pad;
    ax->after = four ? pads[a + 2] : pad;
}

nb__window nb__window_conv(const nb_conv2d_opts *o)
{
    nb__window q = {0};
    for (int a = 0; a < 2; a++) {
        nb__axis *ax = &q.ax[a];
        int k = pick(a, o->kh, o->kw), s = pick(a, o->sh, o->sw), d = pick(a, o->dh, o->dw);
        ax->k = k ? k : o->kernel;
        ax->s = s ? s : o->stride ? o->stride : 1;
        ax->d = d ? d : o->dilation ? o->dilation : 1;
        sides(ax, a, o->pads, o->pad);
    }
    return q;
}

nb__window nb__window_pool(const nb_pool2d_opts *o)
{
    nb__window q = {.ceil = o->ceil_mode};
    for (int a = 0; a < 2; a++) {
        nb__axis *ax = &q.ax[a];
        int k = pick(a, o->kh, o->kw), s = pick(a, o->sh, o->sw), d = pick(a, o->dh, o->dw);
        ax->k = k ? k : o->size;
        ax->s = s ? s : o->stride ? o->stride : ax->k;
        ax->d = d ? d : o->dilation ? o->dilation : 1;
        sides(ax, a, o->pads, o->pad);
    }
    return q;
}

bool nb__window_nonnegative(nb_graph *g, const char *const *names, const int *values, int n)
{
    for (int i = 0; i < n; i++)
        if (values[i] < 0) {
            nb__layer_refuse(g, NB_ERR_ARG, "%s %d must be >= 0 (0: the default)", names[i],
                             values[i]);
            return false;
        }
    return true;
}

/* The output length of axis ax over n pixels (the extent the window
 * spans already known to fit the padded n): floor, or PyTorch's ceil mode,
 * whose last window must start before the trailing padding; and the
 * padding the last window reads past the trailing padding. */
static void axis_out(nb__axis *ax, int64_t n, bool ceil)
{
    int64_t room = n + ax->before + ax->after - ax->d * (ax->k - 1) - 1;
    ax->out = (ceil ? (room + ax->s - 1) / ax->s : room / ax->s) + 1;
    if (ceil && (ax->out - 1) * ax->s >= n + ax->before)
        ax->out--;
    int64_t reach = (ax->out - 1) * ax->s + ax->d * (ax->k - 1) + 1;
    ax->extra = reach > n + ax->before + ax->after ? reach - (n + ax->before + ax->after) : 0;
}

bool nb__window_fit(nb_graph *g, nb_node *x, const char *what, nb__window *q)
{
    nb_shape xs = nb_node_shape(x);
    int64_t span[2], padded[2];
    for (int a = 0; a < 2; a++) {
        const nb__axis *ax = &q->ax[a];
        span[a] = ax->d * (ax->k - 1) + 1;
        padded[a] = xs.dim[2 + a] + ax->before + ax->after;
    }
    if (span[0] <= padded[0] && span[1] <= padded[1]) {
        for (int a = 0; a < 2; a++)
            axis_out(&q->ax[a], xs.dim[2 + a], q->ceil);
        return true;
    }
    char d[300], dilated[48] = "";
    int64_t dh = q->ax[0].d, dw = q->ax[1].d;
    if (dh == dw && dh > 1)
        snprintf(dilated, sizeof dilated, " (dilation %lld)", (long long)dh);
    else if (dh != dw)
        snprintf(dilated, sizeof dilated, " (dilation %lldx%lld)", (long long)dh, (long long)dw);
    nb__layer_refuse(g, NB_ERR_SHAPE, "%s %lldx%lld%s is larger than the padded input %lldx%lld "
                     "of %s", what, (long long)q->ax[0].k, (long long)q->ax[1].k, dilated,
                     (long long)padded[0], (long long)padded[1],
                     nb__layer_describe(x, d, sizeof d));
    return false;
}

int64_t nb__window_count(const nb__axis *ax, int64_t i, int64_t n, bool input_only)
{
    /* taps j in [0, k) with lo <= base + j·d < hi */
    int64_t lo = input_only ? 0 : -ax->before, hi = input_only ? n : n + ax->after;
    int64_t base = i * ax->s - ax->before;
    int64_t first = lo - base <= 0 ? 0 : (lo - base + ax->d - 1) / ax->d;
    int64_t last = hi - 1 - base < 0 ? -1 : (hi - 1 - base) / ax->d;
    if (last > ax->k - 1)
        last = ax->k - 1;
    return last >= first ? last - first + 1 : 0;
}

bool nb__window_covers(nb_graph *g, nb_node *x, const nb__window *q, const char *why)
{
    nb_shape xs = nb_node_shape(x);
    for (int a = 0; a < 2; a++)
        for (int64_t i = 0; i < q->ax[a].out; i++)
            if (!nb__window_count(&q->ax[a], i, xs.dim[2 + a], true)) {
                char d[300];
                nb__layer_refuse(g, NB_ERR_ARG, "the window at %s %lld of the output reads "
                                 "padding only (%s) over input %s", a ? "column" : "row",
                                 (long long)i, why, nb__layer_describe(x, d, sizeof d));
                return false;
            }
    return true;
}

nb_node *nb__window_columns(nb_graph *g, nb_node *x, const nb__window *q, float value)
{
    const nb__axis *h = &q->ax[0], *w = &q->ax[1];
    bool even = h->before == h->after && w->before == w->after && !h->extra && !w->extra;
    nb_window2d win = {.kh = (int)h->k, .kw = (int)w->k, .sh = (int)h->s, .sw = (int)w->s,
                       .dh = (int)h->d, .dw = (int)w->d};
    if (even && value == 0.0f) {
        win.ph = (int)h->before, win.pw = (int)w->before;
        return nb_unfold2d(g, x, win);
    }
    const int64_t before[4] = {0, 0, h->before, w->before},
                  after[4] = {0, 0, h->after + h->extra, w->after + w->extra};
    bool any = before[2] || before[3] || after[2] || after[3];
    return nb_unfold2d(g, any ? nb_pad(g, x, before, after, value) : x, win);
}
