/*
 * prune.c — removing weak connections and neurons. A weight's saliency
 * estimates what removing it costs: magnitude ½·w², or Optimal Brain Damage
 * ½·h_ii·w_i² with h_ii the exact Hessian diagonal of the loss, computed by
 * nabla's second-order autodiff (Hessian-vector products: the gradient graph
 * differentiated again). Units are removed for real: the caller builds the
 * model again narrower and nb_dense_remap_units (grow.c) carries the kept
 * units over, so the graph has fewer parameters and smaller matmuls;
 * connections are pruned by masking them to zero. Public header only.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train_internal.h"

/* ---------------------------------------------------------------- Hessian-vector products */

/* What one probed Hessian-vector product needs: the probe input v and
 * hv = ∂(Σ ∂loss/∂wrt ⊙ v)/∂wrt, which has wrt's shape. */
typedef struct hvp {
    nb_node *probe, *hv;
    nb_runtime *rt;
    nb_rng noise; /* dropout masks, the same on every run */
} hvp;

/* Appends the HVP graph for `wrt` to g; the probe has probe_shape (wrt's,
 * or a shape that broadcasts to it) and a name no other node has. */
static nb_status hvp_build(nb_graph *g, nb_node *loss, nb_node *wrt, nb_shape probe_shape, hvp *h,
                           nb_error *err)
{
    char name[64] = "hessian_probe";
    for (int k = 2; nb_graph_find(g, name) && k < 100000; k++)
        snprintf(name, sizeof name, "hessian_probe_%d", k);
    nb_node *grad, *s;
    if (nb_grad(g, loss, &wrt, 1, &grad) == NB_OK) {
        h->probe = nb_input(g, name, probe_shape);
        s = nb_sum(g, nb_mul(g, grad, h->probe), NULL, 0, false);
        if (s)
            nb_grad(g, s, &wrt, 1, &h->hv);
    }
    if (nb_graph_status(g) != NB_OK)
        return nb_error_set(err, nb_graph_status(g), "prune: %s", nb_graph_error(g));
    return NB_OK;
}

/* The runtime computing outs (hv among them). */
static nb_status hvp_compile(nb_graph *g, nb_node *const *outs, int n, hvp *h, nb_error *err)
{
    h->rt = nb_runtime_new(g, outs, n);
    h->noise = nb_rng_seed(1);
    if (!h->rt)
        return nb_error_set(err, nb_graph_status(g), "prune: %s", nb_graph_error(g));
    return NB_OK;
}

/* One run with probe values v and the caller's feeds. */
static nb_status hvp_run(hvp *h, const float *v, const nb_feed *feeds, int n_feeds, nb_error *err)
{
    nb_status st = nb_runtime_set_input(h->rt, h->probe, v);
    for (int i = 0; i < n_feeds && st == NB_OK; i++)
        st = nb_runtime_set_input(h->rt, feeds[i].node, feeds[i].data);
    nb_rng noise = h->noise;
    nb_runtime_fill_noise(h->rt, &noise);
    if (st == NB_OK)
        st = nb_runtime_run(h->rt);
    return st == NB_OK ? NB_OK
                       : nb_error_set(err, st, "prune: %s",
                                      nb__message_detail(nb_runtime_error(h->rt)));
}

static nb_status check_loss(nb_graph *g, nb_node *loss, const nb_feed *feeds, int n_feeds,
                            nb_error *err)
{
    if (!g || !loss || (n_feeds > 0 && !feeds) || n_feeds < 0)
        return nb_error_set(err, NB_ERR_ARG, "prune: needs a graph, its loss and the feeds");
    return NB_OK;
}

nb_status nb_hessian_diagonal(nb_graph *g, nb_node *loss, nb_node *param, const nb_feed *feeds,
                              int n_feeds, float *diag, nb_error *err)
{
    nb_status st = check_loss(g, loss, feeds, n_feeds, err);
    if (st != NB_OK)
        return st;
    if (!param || nb_node_kind_of(param) != NB_NODE_PARAM || !diag)
        return nb_error_set(err, NB_ERR_ARG, "hessian: needs a parameter and room for its "
                                              "diagonal");
    int64_t n = nb_shape_numel(nb_node_shape(param));
    hvp h = {0};
    float *v = nb_calloc((size_t)n, sizeof *v);
    if (!v)
        return nb_error_set(err, NB_ERR_NOMEM, "hessian: out of memory for a vector of %lld "
                            "values", (long long)n);
    if ((st = hvp_build(g, loss, param, nb_node_shape(param), &h, err)) == NB_OK)
        st = hvp_compile(g, &h.hv, 1, &h, err);
    for (int64_t i = 0; i < n && st == NB_OK; i++) {
        v[i] = 1.0f;
        if ((st = hvp_run(&h, v, feeds, n_feeds, err)) == NB_OK)
            diag[i] = nb_runtime_value(h.rt, h.hv)[i];
        v[i] = 0.0f;
    }
    nb_runtime_free(h.rt);
    nb_free(v);
    return st;
}

/* ---------------------------------------------------------------- dense layers */

/* h_w[i,j] = Σ_n x[n,i]²·d[n,j] and h_b[j] = Σ_n d[n,j] (NULL: skipped),
 * x [N, in], d [N, H], accumulated in double. */
static nb_status contract(const float *x, const float *d, int64_t n, int64_t in, int64_t h,
                          float *h_w, float *h_b, nb_error *err)
{
    double *acc = nb_calloc((size_t)(in * h + h), sizeof *acc);
    if (!acc)
        return nb_error_set(err, NB_ERR_NOMEM, "hessian: out of memory for %lld sums",
                            (long long)(in * h + h));
    for (int64_t r = 0; r < n; r++) {
        const float *dr = d + r * h;
        for (int64_t i = 0; i < in; i++) {
            double x2 = (double)x[r * in + i] * x[r * in + i];
            if (x2 == 0)
                continue;
            for (int64_t j = 0; j < h; j++)
                acc[i * h + j] += x2 * dr[j];
        }
        for (int64_t j = 0; j < h; j++)
            acc[in * h + j] += dr[j];
    }
    for (int64_t k = 0; k < in * h; k++)
        h_w[k] = (float)acc[k];
    for (int64_t j = 0; h_b && j < h; j++)
        h_b[j] = (float)acc[in * h + j];
    nb_free(acc);
    return NB_OK;
}

/* The probed runs for a dense layer: column j of d [N, H] is the HVP with
 * respect to z = x·w whose vector is 1 in column j (for every example). */
static nb_status dense_second_z(nb_graph *g, nb_node *loss, nb_node *mm, const nb_feed *feeds,
                                int n_feeds, float *x, float *d, nb_error *err)
{
    nb_shape zs = nb_node_shape(mm);
    int64_t n = zs.dim[0], h_units = zs.dim[1];
    nb_node *xin = nb_node_input(mm, 0);
    hvp h = {0};
    float *v = nb_calloc((size_t)h_units, sizeof *v);
    nb_status st = v ? hvp_build(g, loss, mm, NB_SHAPE(1, h_units), &h, err)
                     : nb_error_set(err, NB_ERR_NOMEM, "hessian: out of memory for a vector "
                                    "of %lld values", (long long)h_units);
    nb_node *outs[] = {xin, h.hv};
    if (st == NB_OK)
        st = hvp_compile(g, outs, 2, &h, err);
    for (int64_t j = 0; j < h_units && st == NB_OK; j++) {
        v[j] = 1.0f;
        if ((st = hvp_run(&h, v, feeds, n_feeds, err)) != NB_OK)
            break;
        v[j] = 0.0f;
        const float *hz = nb_runtime_value(h.rt, h.hv);
        for (int64_t r = 0; r < n; r++)
            d[r * h_units + j] = hz[r * h_units + j];
        if (j == 0)
            memcpy(x, nb_runtime_value(h.rt, xin),
                   (size_t)nb_shape_numel(nb_node_shape(xin)) * sizeof(float));
    }
    nb_runtime_free(h.rt);
    nb_free(v);
    return st;
}

nb_status nb_dense_hessian_diagonal(nb_graph *g, nb_node *loss, const char *layer,
                                    const nb_feed *feeds, int n_feeds, float *h_w, float *h_b,
                                    nb_error *err)
{
    nb_status st = check_loss(g, loss, feeds, n_feeds, err);
    if (st != NB_OK)
        return st;
    nb_node *w = layer ? nb__layer_param(g, layer, "w") : NULL, *mm;
    if (!w || !h_w)
        return nb_error_set(err, NB_ERR_ARG, "hessian: needs a graph with parameter '%s/w' "
                                              "and room for the diagonal",
                             layer ? layer : "(null)");
    if (!(mm = nb__dense_matmul(g, w, "prune", err)))
        return err ? err->status : NB_ERR_ARG;
    nb_shape xs = nb_node_shape(nb_node_input(mm, 0)), zs = nb_node_shape(mm);
    float *x = nb_malloc((size_t)(xs.dim[0] * xs.dim[1]) * sizeof *x);
    float *d = nb_malloc((size_t)(zs.dim[0] * zs.dim[1]) * sizeof *d);
    st = x && d ? dense_second_z(g, loss, mm, feeds, n_feeds, x, d, err)
                : nb_error_set(err, NB_ERR_NOMEM, "hessian: out of memory for the layer's "
                               "inputs and second derivatives");
    if (st == NB_OK)
        st = contract(x, d, xs.dim[0], xs.dim[1], zs.dim[1], h_w, h_b, err);
    if (st == NB_OK && h_b && !nb__layer_param(g, layer, "b"))
        memset(h_b, 0, (size_t)zs.dim[1] * sizeof *h_b);
    nb_free(x);
    nb_free(d);
    return st;
}

/* ---------------------------------------------------------------- saliency */

nb_status nb_dense_saliency(nb_graph *g, nb_node *loss, const char *layer, const nb_feed *feeds,
                            int n_feeds, nb_saliency_kind kind, float *s_w, float *s_b,
                            nb_error *err)
{
    nb_node *w = g && layer ? nb__layer_param(g, layer, "w") : NULL;
    if (!w || !s_w || (kind != NB_SALIENCY_MAGNITUDE && kind != NB_SALIENCY_OBD))
        return nb_error_set(err, NB_ERR_ARG, "saliency: needs a graph with parameter '%s/w', "
                                              "room for the saliencies and a known kind (%d)",
                             layer ? layer : "(null)", (int)kind);
    nb_node *b = nb__layer_param(g, layer, "b");
    int64_t n_w = nb_shape_numel(nb_node_shape(w)), n_b = nb_node_shape(w).dim[1];
    nb_status st = NB_OK;
    if (kind == NB_SALIENCY_OBD)
        st = nb_dense_hessian_diagonal(g, loss, layer, feeds, n_feeds, s_w, s_b, err);
    else {
        for (int64_t i = 0; i < n_w; i++)
            s_w[i] = 1.0f;
        for (int64_t j = 0; s_b && j < n_b; j++)
            s_b[j] = 1.0f;
    }
    const float *wv = nb_param_data(w), *bv = b ? nb_param_data(b) : NULL;
    for (int64_t i = 0; st == NB_OK && i < n_w; i++)
        s_w[i] *= 0.5f * wv[i] * wv[i];
    for (int64_t j = 0; st == NB_OK && s_b && j < n_b; j++)
        s_b[j] = bv ? s_b[j] * 0.5f * bv[j] * bv[j] : 0.0f;
    return st;
}

nb_status nb_unit_saliency(nb_graph *g, nb_node *loss, const char *layer, const char *next,
                           const nb_feed *feeds, int n_feeds, nb_saliency_kind kind,
                           double *saliency, nb_error *err)
{
    nb_node *w = g && layer ? nb__layer_param(g, layer, "w") : NULL;
    nb_node *o = g && next ? nb__layer_param(g, next, "w") : NULL;
    if (!w || !o || !saliency)
        return nb_error_set(err, NB_ERR_ARG, "saliency: the graph has no parameter '%s/w'",
                             !w ? (layer ? layer : "(null)") : (next ? next : "(null)"));
    nb_shape ws = nb_node_shape(w), os = nb_node_shape(o);
    char a[128], b[128];
    if (ws.rank != 2 || os.rank != 2 || os.dim[0] != ws.dim[1])
        return nb_error_set(err, NB_ERR_SHAPE, "saliency: '%s/w' %s does not feed '%s/w' %s",
                             layer, nb_shape_format(ws, a, sizeof a), next,
                             nb_shape_format(os, b, sizeof b));
    int64_t in = ws.dim[0], h = ws.dim[1], out = os.dim[1];
    float *s_in = nb_malloc((size_t)(in * h + h) * sizeof(float));
    float *s_out = nb_malloc((size_t)(h * out + out) * sizeof(float));
    nb_status st = s_in && s_out ? NB_OK
                                 : nb_error_set(err, NB_ERR_NOMEM, "saliency: out of memory for "
                                                "%lld saliencies", (long long)(in * h + h * out));
    if (st == NB_OK)
        st = nb_dense_saliency(g, loss, layer, feeds, n_feeds, kind, s_in, s_in + in * h, err);
    if (st == NB_OK)
        st = nb_dense_saliency(g, loss, next, feeds, n_feeds, kind, s_out, NULL, err);
    for (int64_t j = 0; st == NB_OK && j < h; j++) {
        double s = s_in[in * h + j];
        for (int64_t i = 0; i < in; i++)
            s += s_in[i * h + j];
        for (int64_t c = 0; c < out; c++)
            s += s_out[j * out + c];
        saliency[j] = s;
    }
    nb_free(s_in);
    nb_free(s_out);
    return st;
}

/* ---------------------------------------------------------------- selecting */

/* An element and its saliency, for ordering weakest first. */
typedef struct ranked {
    double s;
    int64_t i;
} ranked;

/* Weakest first; among equals the higher index first. */
static int weakest_first(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->s != b->s)
        return a->s < b->s ? -1 : 1;
    return a->i < b->i ? 1 : a->i > b->i ? -1 : 0;
}

/* r[0..n) in weakest-first order; NULL when memory ran out. */
static ranked *rank_weakest(const double *sd, const float *sf, int64_t n)
{
    ranked *r = nb_malloc((size_t)(n ? n : 1) * sizeof *r);
    if (!r)
        return NULL;
    for (int64_t i = 0; i < n; i++)
        r[i] = (ranked){sd ? sd[i] : (double)sf[i], i};
    qsort(r, (size_t)n, sizeof *r, weakest_first);
    return r;
}

nb_status nb_prune_select(const double *saliency, int64_t n, int64_t n_remove, int64_t *keep,
                          nb_error *err)
{
    if (!saliency || !keep || n < 1 || n_remove < 0 || n_remove >= n)
        return nb_error_set(err, NB_ERR_ARG, "prune: removing %lld of %lld units must leave at "
                                              "least one", (long long)n_remove, (long long)n);
    ranked *r = rank_weakest(saliency, NULL, n);
    bool *gone = nb_calloc((size_t)n, sizeof *gone);
    if (!r || !gone) {
        nb_free(r);
        nb_free(gone);
        return nb_error_set(err, NB_ERR_NOMEM, "prune: out of memory ranking %lld units",
                            (long long)n);
    }
    for (int64_t k = 0; k < n_remove; k++)
        gone[r[k].i] = true;
    for (int64_t i = 0, at = 0; i < n; i++)
        if (!gone[i])
            keep[at++] = i;
    nb_free(r);
    nb_free(gone);
    return NB_OK;
}

int64_t nb_prune_weights(nb_node *param, const float *saliency, double fraction, nb_error *err)
{
    char label[96];
    if (!param || nb_node_kind_of(param) != NB_NODE_PARAM) {
        nb_error_set(err, NB_ERR_ARG, "prune: %s is not a parameter",
                     param ? nb_node_label(param, label, sizeof label) : "NULL");
        return -1;
    }
    nb_node_label(param, label, sizeof label);
    if (!saliency) {
        nb_error_set(err, NB_ERR_ARG, "prune: %s: no saliencies (NULL)", label);
        return -1;
    }
    if (!(fraction >= 0) || fraction > 1) {
        nb_error_set(err, NB_ERR_ARG, "prune: %s: the fraction to zero, %g, is outside [0, 1]",
                     label, fraction);
        return -1;
    }
    int64_t n = nb_shape_numel(nb_node_shape(param)), count = (int64_t)floor(fraction * (double)n);
    ranked *r = rank_weakest(NULL, saliency, n);
    if (!r) {
        nb_error_set(err, NB_ERR_NOMEM, "prune: %s: out of memory ranking %lld weights", label,
                     (long long)n);
        return -1;
    }
    float *w = nb_param_data(param);
    for (int64_t k = 0; k < count; k++)
        w[r[k].i] = 0.0f;
    nb_free(r);
    return count;
}
