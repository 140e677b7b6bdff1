/*
 * gradcheck.c — autodiff checked against central finite differences. The
 * output y is projected onto a fixed random R (L = Σ y ⊙ R) so one scalar
 * sees every element of y, and L is summed in double from y's float values
 * so rounding in the sum does not drown the difference quotient.
 */
#include <math.h>
#include <string.h>

#include "../graph/graph_internal.h"

typedef struct check {
    nb_graph *g;
    nb_node *y;
    const float *r;          /* the projection, numel(y) values */
    nb_runtime *fwd;         /* computes y alone */
    float **values;          /* per wrt: the writable values perturbed */
    nb_gradcheck_opts o;
    nb_gradcheck_report rep;
} check;

static nb_status fail_arg(nb_graph *g, const char *what, const nb_node *n)
{
    char b[300];
    return nb_graph_fail(g, NB_ERR_ARG, "gradcheck: %s %s", n ? nb__describe(n, b, sizeof b) : "",
                         what);
}

static nb_status check_args(nb_graph *g, nb_node *y, nb_node *const *wrt, int n_wrt,
                            const nb_feed *feeds, int n_feeds)
{
    if (!y)
        return g->status != NB_OK ? g->status : fail_arg(g, "y is NULL", NULL);
    if (n_wrt < 1 || !wrt)
        return fail_arg(g, "needs at least one node to differentiate by", NULL);
    for (int i = 0; i < n_wrt; i++) {
        if (!wrt[i])
            return fail_arg(g, "a wrt node is NULL", NULL);
        if (wrt[i]->kind != NB_NODE_PARAM && wrt[i]->kind != NB_NODE_INPUT)
            return fail_arg(g, "is not a parameter or an input: it cannot be perturbed", wrt[i]);
        bool fed = wrt[i]->kind == NB_NODE_PARAM;
        for (int f = 0; f < n_feeds && !fed; f++)
            fed = feeds[f].node == wrt[i];
        if (!fed)
            return fail_arg(g, "is an input without a feed", wrt[i]);
    }
    for (int f = 0; f < n_feeds; f++)
        if (!feeds[f].node || !feeds[f].data)
            return fail_arg(g, "has a feed with a NULL node or NULL data", NULL);
    return NB_OK;
}

/* L = Σ y·R in double, after one forward run. */
static double projected(check *c)
{
    if (nb_runtime_run(c->fwd) != NB_OK)
        return NAN;
    const float *y = nb_runtime_value(c->fwd, c->y);
    int64_t n = nb_shape_numel(c->y->shape);
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)y[i] * c->r[i];
    return sum;
}

/* Sets element e of wrt node w to v (an input is fed again). */
static void set_value(check *c, nb_node *w, float *values, int64_t e, float v)
{
    values[e] = v;
    if (w->kind == NB_NODE_INPUT)
        nb_runtime_set_input(c->fwd, w, values);
}

/* Compares one element's autodiff value with its difference quotient,
 * using the step the float arithmetic really took. */
static void compare(check *c, nb_node *w, float *values, int64_t e, double analytic)
{
    float x = values[e];
    float xp = (float)(x + c->o.eps), xm = (float)(x - c->o.eps);
    set_value(c, w, values, e, xp);
    double lp = projected(c);
    set_value(c, w, values, e, xm);
    double lm = projected(c);
    set_value(c, w, values, e, x);
    double numeric = (lp - lm) / ((double)xp - (double)xm);
    double diff = fabs(analytic - numeric);
    double tol = c->o.atol + c->o.rtol * fmax(fabs(analytic), fabs(numeric));
    double ratio = isfinite(diff) ? diff / tol : INFINITY;
    c->rep.checked++;
    if (ratio > c->rep.worst_error || c->rep.worst_node == NULL) {
        c->rep.worst_error = ratio;
        c->rep.worst_node = w;
        c->rep.worst_index = e;
        c->rep.analytic = analytic;
        c->rep.numeric = numeric;
    }
}

/* The runtime's message without its "run: ", for "gradcheck: <node>: …". */
static const char *run_detail(const nb_runtime *rt)
{
    const char *m = nb_runtime_error(rt);
    return strncmp(m, "run: ", 5) ? m : m + 5;
}

/* Autodiff's gradients of L, computed once at the unperturbed point. */
static nb_status analytic_grads(check *c, nb_node *loss, nb_node *const *wrt, int n_wrt,
                                const nb_feed *feeds, int n_feeds, float *out)
{
    nb_graph *g = c->g;
    nb_node *grads[n_wrt];
    nb_status st = nb_grad(g, loss, wrt, n_wrt, grads);
    if (st != NB_OK)
        return st;
    nb_runtime *rt = nb_runtime_new(g, grads, n_wrt);
    if (!rt)
        return g->status;
    for (int f = 0; f < n_feeds && st == NB_OK; f++)
        st = nb_runtime_set_input(rt, feeds[f].node, feeds[f].data);
    if (st == NB_OK)
        st = nb_runtime_run(rt);
    if (st != NB_OK)
        nb_graph_fail(g, st, "gradcheck: %s", run_detail(rt));
    for (int i = 0, at = 0; i < n_wrt && st == NB_OK; i++) {
        int64_t n = nb_shape_numel(wrt[i]->shape);
        memcpy(out + at, nb_runtime_value(rt, grads[i]), (size_t)n * sizeof(float));
        at += (int)n;
    }
    nb_runtime_free(rt);
    return st;
}

/* The projection R: uniform in [-1, 1) from the seed, as a constant. */
static nb_node *projection(nb_graph *g, nb_shape shape, uint64_t seed, const float **values)
{
    nb_node *r = nb_full(g, shape, 0.0f);
    if (!r)
        return NULL;
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    int64_t n = nb_shape_numel(shape);
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        r->data[i] = (float)((s >> 40) / (double)(1ull << 23) - 1.0);
    }
    *values = r->data;
    return r;
}

/* Perturbs every element of every wrt node in turn and compares. The values
 * perturbed are the parameters' own (restored after) and copies of feeds. */
static nb_status sweep(check *c, nb_node *const *wrt, int n_wrt, const nb_feed *feeds,
                       int n_feeds, const float *analytic, float *copies)
{
    for (int f = 0; f < n_feeds; f++)
        nb_runtime_set_input(c->fwd, feeds[f].node, feeds[f].data);
    if (nb_runtime_run(c->fwd) != NB_OK)
        return nb_graph_fail(c->g, NB_ERR_STATE, "gradcheck: %s", run_detail(c->fwd));
    int64_t at = 0, cat = 0;
    for (int i = 0; i < n_wrt; i++) {
        nb_node *w = wrt[i];
        int64_t n = nb_shape_numel(w->shape);
        float *values = nb_param_data(w);
        if (!values) {
            for (int f = 0; f < n_feeds; f++)
                if (feeds[f].node == w)
                    memcpy(copies + cat, feeds[f].data, (size_t)n * sizeof(float));
            values = copies + cat;
            cat += n;
        }
        for (int64_t e = 0; e < n; e++)
            compare(c, w, values, e, analytic[at + e]);
        if (w->kind == NB_NODE_INPUT)
            nb_runtime_set_input(c->fwd, w, values); /* back to the fed values */
        at += n;
    }
    return NB_OK;
}

static nb_status verdict(check *c, nb_gradcheck_report *report)
{
    if (report)
        *report = c->rep;
    if (c->rep.worst_error <= 1.0)
        return NB_OK;
    char b[300];
    return nb_graph_fail(c->g, NB_ERR_GRAD,
                         "gradcheck: d/d %s element %lld: autodiff %.6g, finite differences %.6g "
                         "(%.3g times the tolerance)",
                         nb__describe(c->rep.worst_node, b, sizeof b),
                         (long long)c->rep.worst_index, c->rep.analytic, c->rep.numeric,
                         c->rep.worst_error);
}

nb_status nb_gradcheck(nb_graph *g, nb_node *y, nb_node *const *wrt, int n_wrt,
                       const nb_feed *feeds, int n_feeds, const nb_gradcheck_opts *opts,
                       nb_gradcheck_report *report)
{
    if (!g)
        return NB_ERR_ARG;
    nb_status st = check_args(g, y, wrt, n_wrt, feeds, n_feeds);
    if (st != NB_OK)
        return st;
    check c = {.g = g, .y = y, .o = opts ? *opts : (nb_gradcheck_opts){0}};
    c.o.eps = c.o.eps > 0 ? c.o.eps : 1e-3;
    c.o.rtol = c.o.rtol > 0 ? c.o.rtol : 1e-2;
    c.o.atol = c.o.atol > 0 ? c.o.atol : 1e-3;
    c.o.seed = c.o.seed ? c.o.seed : 1;
    nb_node *r = projection(g, y->shape, c.o.seed, &c.r);
    nb_node *loss = nb_sum(g, nb_mul(g, y, r), NULL, 0, false);
    if (!loss)
        return g->status;
    int64_t total = 0;
    for (int i = 0; i < n_wrt; i++)
        total += nb_shape_numel(wrt[i]->shape);
    size_t bytes = 2 * (size_t)total * sizeof(float);
    float *analytic = nb__alloc(g, bytes, "gradient check values");
    if (!analytic)
        return g->status;
    st = analytic_grads(&c, loss, wrt, n_wrt, feeds, n_feeds, analytic);
    if (st == NB_OK && !(c.fwd = nb_runtime_new(g, &y, 1)))
        st = g->status;
    if (st == NB_OK)
        st = sweep(&c, wrt, n_wrt, feeds, n_feeds, analytic, analytic + total);
    if (st == NB_OK)
        st = verdict(&c, report);
    nb_runtime_free(c.fwd);
    nb__free(g, analytic, bytes);
    return st;
}
