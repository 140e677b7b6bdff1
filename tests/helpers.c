/* helpers.c — see helpers.h. */
#include "helpers.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void t_fill(float *x, int64_t n, uint64_t seed, float lo, float hi)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = lo + (hi - lo) * (float)((s >> 40) / (double)(1ull << 24));
    }
}

float *t_eval(nb_graph *g, nb_node *out, const nb_feed *feeds, int n_feeds)
{
    cr_assert_not_null(out, "building failed: %s", nb_graph_error(g));
    nb_runtime *rt = nb_runtime_new(g, &out, 1);
    cr_assert_not_null(rt, "compile failed: %s", nb_graph_error(g));
    for (int i = 0; i < n_feeds; i++)
        cr_assert_eq(nb_runtime_set_input(rt, feeds[i].node, feeds[i].data), NB_OK, "%s",
                     nb_runtime_error(rt));
    cr_assert_eq(nb_runtime_run(rt), NB_OK, "run failed: %s", nb_runtime_error(rt));
    int64_t n = nb_shape_numel(nb_node_shape(out));
    float *copy = malloc((size_t)n * sizeof *copy);
    cr_assert_not_null(copy);
    memcpy(copy, nb_runtime_value(rt, out), (size_t)n * sizeof *copy);
    nb_runtime_free(rt);
    return copy;
}

void t_gradcheck(nb_graph *g, nb_node *y, nb_node *const *wrt, int n_wrt, const nb_feed *feeds,
                 int n_feeds)
{
    cr_assert_not_null(y, "building failed: %s", nb_graph_error(g));
    nb_gradcheck_report rep;
    nb_status st = nb_gradcheck(g, y, wrt, n_wrt, feeds, n_feeds, NULL, &rep);
    cr_assert_eq(st, NB_OK, "gradcheck: %s", nb_graph_error(g));
    cr_assert_gt(rep.checked, 0, "gradcheck compared no element");
}

void t_assert_close(const float *a, const float *b, int64_t n, float tol)
{
    for (int64_t i = 0; i < n; i++) {
        float scale = fabsf(b[i]) > 1 ? fabsf(b[i]) : 1;
        cr_assert(fabsf(a[i] - b[i]) <= tol * scale, "element %lld: got %.7g, expected %.7g",
                  (long long)i, a[i], b[i]);
    }
}

void t_assert_error(nb_graph *g, ...)
{
    cr_assert_neq(nb_graph_status(g), NB_OK, "expected an error, graph has none");
    const char *msg = nb_graph_error(g);
    va_list ap;
    va_start(ap, g);
    for (const char *want; (want = va_arg(ap, const char *));)
        cr_assert(strstr(msg, want), "message \"%s\" lacks \"%s\"", msg, want);
    va_end(ap);
}

float t_ref_binary(const char *op, float x, float y)
{
    if (!strcmp(op, "add")) return x + y;
    if (!strcmp(op, "sub")) return x - y;
    if (!strcmp(op, "mul")) return x * y;
    if (!strcmp(op, "div")) return x / y;
    if (!strcmp(op, "max")) return x >= y ? x : y;
    if (!strcmp(op, "min")) return x <= y ? x : y;
    if (!strcmp(op, "pow")) return powf(x, y);
    if (!strcmp(op, "gt")) return x > y ? 1.0f : 0.0f;
    if (!strcmp(op, "ge")) return x >= y ? 1.0f : 0.0f;
    return x == y ? 1.0f : 0.0f; /* eq */
}

int64_t t_window_out(int64_t h, int k, int s, int p, int d)
{
    return (h + 2 * p - d * (k - 1) - 1) / s + 1;
}

nb_window2d t_window_norm(nb_window2d w)
{
    w.sh = w.sh ? w.sh : 1, w.sw = w.sw ? w.sw : 1;
    w.dh = w.dh ? w.dh : 1, w.dw = w.dw ? w.dw : 1;
    return w;
}

nb_dataset *t_fixture(const char *part)
{
    const char *dir = getenv("NABLA_FIXTURES");
    cr_assert_not_null(dir, "NABLA_FIXTURES is not set");
    char x[512], y[512];
    snprintf(x, sizeof x, "%s/fmnist-%s-images-idx3-ubyte.gz", dir, part);
    snprintf(y, sizeof y, "%s/fmnist-%s-labels-idx1-ubyte.gz", dir, part);
    nb_error err;
    nb_dataset *d = nb_idx_load(x, y, &err);
    cr_assert_not_null(d, "%s: %s", part, err.message);
    return d;
}

nb_optimizer_opts t_optimizer(nb_optimizer_kind kind, float lr, float momentum)
{
    nb_optimizer_opts o = nb_optimizer_defaults(kind);
    o.lr = lr;
    o.momentum = momentum;
    return o;
}

/* A runtime for out, made with fusion on or off, fed and run. */
static nb_runtime *fused_made(nb_graph *g, nb_node *const *out, int n_out, nb_node *const *in,
                              float *const *data, int n_in, bool fuse)
{
    nb_set_fusion(fuse);
    nb_runtime *rt = nb_runtime_new(g, out, n_out);
    nb_set_fusion(true);
    cr_assert_not_null(rt, "%s", nb_graph_error(g));
    for (int k = 0; k < n_in; k++)
        cr_assert_eq(nb_runtime_set_input(rt, in[k], data[k]), NB_OK);
    cr_assert_eq(nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt));
    return rt;
}

int t_fused_both_ways(nb_graph *g, nb_node *const *out, int n_out, nb_node *const *in,
                      float *const *data, int n_in, float tol)
{
    cr_assert_eq(nb_graph_status(g), NB_OK, "%s", nb_graph_error(g));
    int saved = -1;
    float **first = calloc((size_t)n_out, sizeof *first);
    cr_assert_not_null(first);
    for (int threads = 1; threads <= 2; threads++) {
        nb_set_threads(threads);
        nb_runtime *plain = fused_made(g, out, n_out, in, data, n_in, false);
        nb_runtime *fused = fused_made(g, out, n_out, in, data, n_in, true);
        for (int o = 0; o < n_out; o++) {
            const float *a = nb_runtime_value(fused, out[o]), *b = nb_runtime_value(plain, out[o]);
            cr_assert(a && b, "output %d has a value both ways", o);
            size_t n = (size_t)nb_shape_numel(nb_node_shape(out[o]));
            t_assert_close(a, b, (int64_t)n, tol);
            if (threads == 1)
                first[o] = memcpy(malloc(n * sizeof *a), a, n * sizeof *a);
            else
                cr_assert(memcmp(first[o], a, n * sizeof *a) == 0,
                          "output %d: the same bits at 1 and 2 threads", o);
        }
        int s = nb_runtime_num_steps(plain) - nb_runtime_num_steps(fused);
        cr_assert(saved < 0 || s == saved, "the same groups at 1 and 2 threads");
        saved = s;
        nb_runtime_free(plain);
        nb_runtime_free(fused);
    }
    for (int o = 0; o < n_out; o++)
        free(first[o]);
    free(first);
    return saved;
}
