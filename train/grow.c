/*
 * grow.c — carrying trained weights between two builds of a model whose
 * dense layer changed width, and growing a layer the lecture's way: new
 * units are first trained alone on the network's current residual, then
 * enter with zero outgoing weights, so the network's function is unchanged
 * at the moment of growth and backprop continues from there.
 *
 * Graphs are static: the caller builds the model again at the new width
 * (its model function reads the widths from its ud) and these functions fill
 * the new graph's parameters by name. Only the public header is used.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train_internal.h"

/* ---------------------------------------------------------------- finding layers */

/* The parameter "<layer>/<leaf>" of g, or NULL when there is none. */
nb_node *nb__layer_param(nb_graph *g, const char *layer, const char *leaf)
{
    char full[512];
    snprintf(full, sizeof full, "%s/%s", layer, leaf);
    nb_node *p = nb_graph_find(g, full);
    return p && nb_node_kind_of(p) == NB_NODE_PARAM ? p : NULL;
}

/* The record of the one dense layer whose weight is w (scope "<layer>",
 * w named "<layer>/w"), counting in *count the builds of that layer in g. */
static const nb_layer_record *dense_record(nb_graph *g, const nb_node *w, int *count)
{
    const nb_layer_record *found = NULL;
    char name[512];
    *count = 0;
    for (int i = 0; i < nb_graph_num_layers(g); i++) {
        const nb_layer_record *r = nb_graph_layer(g, i);
        if (r->kind != NB_LAYER_DENSE || !r->scope)
            continue;
        snprintf(name, sizeof name, "%s/w", r->scope);
        if (nb_node_name(w) && !strcmp(name, nb_node_name(w)))
            found = r, ++*count;
    }
    return found;
}

/* The node dense layer r made that reads its input and w: x·w. */
static nb_node *record_product(nb_graph *g, const nb_layer_record *r, const nb_node *w)
{
    for (int id = r->first; id < r->end; id++) {
        nb_node *n = nb_graph_node(g, id);
        if (nb_node_num_inputs(n) == 2 && nb_node_input(n, 0) == r->input &&
            nb_node_input(n, 1) == w)
            return n;
    }
    return NULL;
}

/* The forward product x·w of the dense layer whose weight is w, with x of
 * rank 2 [N, in]: where its pre-activation z is computed, found through
 * the graph's layer records. NULL with the reason in err when no dense
 * layer has w, several builds of it are in g, or x is not [N, in]. */
nb_node *nb__dense_matmul(nb_graph *g, nb_node *w, const char *who, nb_error *err)
{
    int count;
    const nb_layer_record *r = dense_record(g, w, &count);
    char s[128];
    if (count == 0) {
        nb_error_set(err, NB_ERR_ARG, "%s: no dense layer of the graph has the weight '%s' "
                     "(nb_dense builds one)", who, nb_node_name(w));
        return NULL;
    }
    if (count != 1) {
        nb_error_set(err, NB_ERR_ARG,
                      "%s: %d forward matmuls read '%s'; build the model once into the graph",
                      who, count, nb_node_name(w));
        return NULL;
    }
    nb_shape xs = nb_node_shape(r->input);
    if (xs.rank != 2) {
        nb_error_set(err, NB_ERR_SHAPE, "%s: the input of '%s' is %s, not [N, in]", who,
                      nb_node_name(w), nb_shape_format(xs, s, sizeof s));
        return NULL;
    }
    nb_node *z = record_product(g, r, w);
    if (!z)
        nb_error_set(err, NB_ERR_ARG, "%s: dense layer '%s' does not read its input by '%s'",
                     who, r->scope, nb_node_name(w));
    return z;
}

/* ---------------------------------------------------------------- carrying weights */

/* Copies parameter `from_p` into `to_p` (same name): refuses another shape. */
static nb_status copy_param(nb_node *from_p, nb_node *to_p, nb_error *err)
{
    const char *name = nb_node_name(to_p);
    nb_shape fs = nb_node_shape(from_p), ts = nb_node_shape(to_p);
    char a[128], b[128];
    if (!nb_shape_equal(fs, ts))
        return nb_error_set(err, NB_ERR_SHAPE,
                             "params: '%s' is %s in the source graph and %s in the target", name,
                             nb_shape_format(fs, a, sizeof a), nb_shape_format(ts, b, sizeof b));
    memcpy(nb_param_data(to_p), nb_param_data(from_p), (size_t)nb_shape_numel(ts) * sizeof(float));
    return NB_OK;
}

/* Every parameter of `to` from the same-named one of `from`, except those
 * in skip[0..n_skip) (the caller remaps them). */
static nb_status copy_all(nb_graph *from, nb_graph *to, nb_node *const *skip, int n_skip,
                          nb_error *err)
{
    for (int i = 0; i < nb_graph_num_params(to); i++) {
        nb_node *p = nb_graph_param(to, i);
        bool skipped = false;
        for (int k = 0; k < n_skip; k++)
            skipped = skipped || skip[k] == p;
        if (skipped)
            continue;
        const char *name = nb_node_name(p);
        nb_node *q = name ? nb_graph_find(from, name) : NULL;
        if (!q || nb_node_kind_of(q) != NB_NODE_PARAM)
            return nb_error_set(err, NB_ERR_ARG, "params: '%s' is not a parameter of the source "
                                                  "graph", name ? name : "(unnamed)");
        nb_status st = copy_param(q, p, err);
        if (st != NB_OK)
            return st;
    }
    return NB_OK;
}

nb_status nb_params_copy(nb_graph *from, nb_graph *to, nb_error *err)
{
    if (!from || !to)
        return nb_error_set(err, NB_ERR_ARG, "params: the %s graph is NULL",
                             !from ? "source" : "target");
    return copy_all(from, to, NULL, 0, err);
}

/* The three parameters a unit remap touches, in both graphs. */
typedef struct unit_params {
    nb_node *w[2], *b[2], *out[2]; /* [0] from, [1] to; b may be NULL in both */
    int64_t in, h_from, h_to, n_out;
} unit_params;

/* Finds layer/w, layer/b and next/w in both graphs and checks that they fit
 * a remap to n_map units: w [in, H] → [in, n_map], b [H] → [n_map],
 * next/w [H, out] → [n_map, out]. */
static nb_status find_units(nb_graph *from, nb_graph *to, const char *layer, const char *next,
                            int64_t n_map, unit_params *u, nb_error *err)
{
    nb_graph *gs[2] = {from, to};
    const char *which[2] = {"source", "target"};
    for (int k = 0; k < 2; k++) {
        u->w[k] = nb__layer_param(gs[k], layer, "w");
        u->b[k] = nb__layer_param(gs[k], layer, "b");
        u->out[k] = nb__layer_param(gs[k], next, "w");
        if (!u->w[k] || !u->out[k])
            return nb_error_set(err, NB_ERR_ARG, "remap: the %s graph has no parameter '%s/w'",
                                 which[k], !u->w[k] ? layer : next);
    }
    if (!u->b[0] != !u->b[1])
        return nb_error_set(err, NB_ERR_ARG, "remap: '%s/b' is in one graph only", layer);
    nb_shape w0 = nb_node_shape(u->w[0]), w1 = nb_node_shape(u->w[1]);
    nb_shape o0 = nb_node_shape(u->out[0]), o1 = nb_node_shape(u->out[1]);
    char a[128], b[128], c[128], d[128];
    if (w0.rank != 2 || w1.rank != 2 || o0.rank != 2 || o1.rank != 2 || w0.dim[0] != w1.dim[0] ||
        w1.dim[1] != n_map || o0.dim[0] != w0.dim[1] || o1.dim[0] != n_map ||
        o0.dim[1] != o1.dim[1])
        return nb_error_set(err, NB_ERR_SHAPE,
                             "remap: '%s/w' %s → %s and '%s/w' %s → %s do not fit %lld units "
                             "([in, H] → [in, %lld] and [H, out] → [%lld, out])",
                             layer, nb_shape_format(w0, a, sizeof a), nb_shape_format(w1, b, sizeof b),
                             next, nb_shape_format(o0, c, sizeof c), nb_shape_format(o1, d, sizeof d),
                             (long long)n_map, (long long)n_map, (long long)n_map);
    *u = (unit_params){.w = {u->w[0], u->w[1]}, .b = {u->b[0], u->b[1]},
                       .out = {u->out[0], u->out[1]}, .in = w0.dim[0], .h_from = w0.dim[1],
                       .h_to = n_map, .n_out = o0.dim[1]};
    return NB_OK;
}

/* Column, bias entry and outgoing row of each unit j of `to` from unit
 * map[j] of `from`; a new unit (map[j] < 0) keeps its incoming weights and
 * gets a zero outgoing row. */
static void remap_units(const unit_params *u, const int64_t *map)
{
    const float *w0 = nb_param_data(u->w[0]), *o0 = nb_param_data(u->out[0]);
    float *w1 = nb_param_data(u->w[1]), *o1 = nb_param_data(u->out[1]);
    for (int64_t j = 0; j < u->h_to; j++) {
        int64_t s = map[j];
        float *row = o1 + j * u->n_out;
        if (s < 0) {
            memset(row, 0, (size_t)u->n_out * sizeof(float));
            continue;
        }
        for (int64_t i = 0; i < u->in; i++)
            w1[i * u->h_to + j] = w0[i * u->h_from + s];
        if (u->b[0])
            nb_param_data(u->b[1])[j] = nb_param_data(u->b[0])[s];
        memcpy(row, o0 + s * u->n_out, (size_t)u->n_out * sizeof(float));
    }
}

nb_status nb_dense_remap_units(nb_graph *from, nb_graph *to, const char *layer, const char *next,
                               const int64_t *map, int64_t n_map, nb_error *err)
{
    if (!from || !to || !layer || !next || !map || n_map < 1)
        return nb_error_set(err, NB_ERR_ARG, "remap: needs two graphs, a layer, the next layer "
                                              "and a map of at least one unit");
    unit_params u = {0};
    nb_status st = find_units(from, to, layer, next, n_map, &u, err);
    for (int64_t j = 0; st == NB_OK && j < n_map; j++)
        if (map[j] >= u.h_from)
            st = nb_error_set(err, NB_ERR_ARG, "remap: map[%lld] = %lld, but '%s' has %lld units",
                               (long long)j, (long long)map[j], layer, (long long)u.h_from);
    nb_node *skip[] = {u.w[1], u.b[1], u.out[1]};
    if (st == NB_OK)
        st = copy_all(from, to, skip, 3, err);
    if (st == NB_OK)
        remap_units(&u, map);
    return st;
}

/* ---------------------------------------------------------------- growing */

nb_status nb_grow_dense(nb_graph *from, nb_graph *to, const char *layer, const char *next,
                        int64_t k, const float *w_new, const float *b_new, nb_error *err)
{
    if (!from || !to || !layer || !next || k < 1)
        return nb_error_set(err, NB_ERR_ARG, "grow: needs two graphs, a layer, the next layer "
                                              "and k >= 1 (k = %lld)", (long long)k);
    nb_node *w0 = nb__layer_param(from, layer, "w"), *w1 = nb__layer_param(to, layer, "w");
    if (!w0 || !w1)
        return nb_error_set(err, NB_ERR_ARG, "grow: the %s graph has no parameter '%s/w'",
                             !w0 ? "source" : "target", layer);
    int64_t h = nb_node_shape(w0).dim[1], h_to = nb_node_shape(w1).dim[1];
    if (nb_node_shape(w0).rank != 2 || nb_node_shape(w1).rank != 2 || h_to != h + k)
        return nb_error_set(err, NB_ERR_SHAPE,
                             "grow: '%s/w' has %lld units in the target; growing %lld units by "
                             "%lld needs %lld",
                             layer, (long long)h_to, (long long)h, (long long)k, (long long)(h + k));
    int64_t *map = nb_malloc((size_t)h_to * sizeof *map);
    if (!map)
        return nb_error_set(err, NB_ERR_NOMEM, "grow: out of memory for the map of %lld units",
                            (long long)h_to);
    for (int64_t j = 0; j < h_to; j++)
        map[j] = j < h ? j : -1;
    nb_status st = nb_dense_remap_units(from, to, layer, next, map, h_to, err);
    nb_free(map);
    if (st != NB_OK || !w_new)
        return st;
    int64_t in = nb_node_shape(w1).dim[0];
    float *w = nb_param_data(w1);
    for (int64_t i = 0; i < in; i++)
        memcpy(w + i * h_to + h, w_new + i * k, (size_t)k * sizeof(float));
    nb_node *b1 = nb__layer_param(to, layer, "b");
    for (int64_t j = 0; b1 && j < k; j++)
        nb_param_data(b1)[h + j] = b_new ? b_new[j] : 0.0f;
    return NB_OK;
}

/* ---------------------------------------------------------------- the residual */

/* Runs g once with the feeds (dropout masks, if any, from a fixed seed) and
 * copies the values of outs[i] into dst[i]. */
static nb_status run_copy(nb_graph *g, nb_node *const *outs, int n, const nb_feed *feeds,
                          int n_feeds, float *const *dst, nb_error *err)
{
    nb_runtime *rt = nb_runtime_new(g, outs, n);
    if (!rt)
        return nb_error_set(err, nb_graph_status(g), "grow: %s", nb_graph_error(g));
    nb_status st = NB_OK;
    for (int i = 0; i < n_feeds && st == NB_OK; i++)
        st = nb_runtime_set_input(rt, feeds[i].node, feeds[i].data);
    nb_rng rng = nb_rng_seed(1);
    nb_runtime_fill_noise(rt, &rng);
    if (st == NB_OK)
        st = nb_runtime_run(rt);
    if (st != NB_OK)
        nb_error_set(err, st, "grow: %s", nb__message_detail(nb_runtime_error(rt)));
    for (int i = 0; i < n && st == NB_OK; i++)
        memcpy(dst[i], nb_runtime_value(rt, outs[i]),
               (size_t)nb_shape_numel(nb_node_shape(outs[i])) * sizeof(float));
    nb_runtime_free(rt);
    return st;
}

/* What the fit works on: the layer's inputs a [N, in] and the residual r
 * [N, out] at next's pre-activation, r = -N·∂loss/∂z. */
typedef struct residual {
    int64_t n, in, out;
    float *a, *r;
} residual;

static nb_status compute_residual(nb_graph *g, nb_node *loss, const char *layer, const char *next,
                                  const nb_feed *feeds, int n_feeds, residual *res, nb_error *err)
{
    nb_node *w = nb__layer_param(g, layer, "w"), *w_next = nb__layer_param(g, next, "w");
    if (!w || !w_next)
        return nb_error_set(err, NB_ERR_ARG, "grow: the graph has no parameter '%s/w'",
                             !w ? layer : next);
    nb_node *mm = nb__dense_matmul(g, w, "grow", err), *z = mm ? nb__dense_matmul(g, w_next, "grow", err) : NULL;
    if (!z)
        return err ? err->status : NB_ERR_ARG;
    nb_node *x = nb_node_input(mm, 0), *dz;
    if (nb_grad(g, loss, &z, 1, &dz) != NB_OK)
        return nb_error_set(err, nb_graph_status(g), "grow: %s", nb_graph_error(g));
    nb_shape xs = nb_node_shape(x), zs = nb_node_shape(z);
    *res = (residual){.n = xs.dim[0], .in = xs.dim[1], .out = zs.dim[1]};
    res->a = nb_malloc((size_t)(res->n * res->in) * sizeof(float));
    res->r = nb_malloc((size_t)(res->n * res->out) * sizeof(float));
    if (!res->a || !res->r)
        return nb_error_set(err, NB_ERR_NOMEM, "grow: out of memory for the residual");
    nb_node *outs[] = {x, dz};
    float *dst[] = {res->a, res->r};
    nb_status st = run_copy(g, outs, 2, feeds, n_feeds, dst, err);
    for (int64_t i = 0; i < res->n * res->out; i++)
        res->r[i] *= -(float)res->n;
    return st;
}

/* ---------------------------------------------------------------- fitting new units */

/* The fit's own small graph: u = act(a·w + b)·v and ½·mean ‖r − u‖². */
typedef struct fit_graph {
    nb_graph *g;
    nb_node *params[3]; /* w, b, v */
    nb_node *loss, *grads[3];
} fit_graph;

static nb_status build_fit(fit_graph *f, const residual *res, int64_t k, const nb_grow_fit_opts *o,
                           nb_error *err)
{
    nb_graph *g = f->g = nb_graph_new();
    if (!g)
        return nb_error_set(err, NB_ERR_NOMEM, "grow: out of memory for the fitting graph");
    nb_graph_seed(g, o->seed);
    nb_init xavier = {.kind = NB_INIT_XAVIER_UNIFORM};
    nb_node *a = nb_constant(g, NB_SHAPE(res->n, res->in), res->a);
    nb_node *r = nb_constant(g, NB_SHAPE(res->n, res->out), res->r);
    nb_node *w = nb_param_init(g, "w", NB_SHAPE(res->in, k), xavier, res->in, k);
    nb_node *b = nb_param(g, "b", NB_SHAPE(k), NULL);
    nb_node *v = nb_param(g, "v", NB_SHAPE(k, res->out), NULL);
    nb_node *h = nb_activate(g, nb_add(g, nb_matmul(g, a, w, false, false), b), o->activation);
    nb_node *d = nb_sub(g, r, nb_matmul(g, h, v, false, false));
    f->loss = nb_mul(g, nb_sum(g, nb_mul(g, d, d), NULL, 0, false), nb_scalar(g, 0.5f / (float)res->n));
    f->params[0] = w, f->params[1] = b, f->params[2] = v;
    if (!f->loss || nb_grad(g, f->loss, f->params, 3, f->grads) != NB_OK)
        return nb_error_set(err, nb_graph_status(g), "grow: fitting the new units: %s",
                             nb_graph_error(g));
    return NB_OK;
}

/* Full-batch Adam on the fit graph; *final_loss is the loss after the last
 * step. */
static nb_status train_fit(fit_graph *f, const nb_grow_fit_opts *o, double *final_loss,
                           nb_error *err)
{
    nb_node *outs[] = {f->loss, f->grads[0], f->grads[1], f->grads[2]};
    nb_runtime *rt = nb_runtime_new(f->g, outs, 4);
    nb_optimizer_opts adam = nb_optimizer_defaults(NB_OPT_ADAM);
    adam.lr = o->lr;
    nb_error oe = {.status = NB_ERR_NOMEM};
    nb_optimizer *opt = rt ? nb_optimizer_new(adam, f->params, 3, &oe) : NULL;
    float *grads = opt ? nb_malloc((size_t)nb_optimizer_size(opt) * sizeof(float)) : NULL;
    if (!grads) {
        nb_status st = !rt ? nb_error_set(err, nb_graph_status(f->g), "grow: fitting the new "
                                          "units: %s", nb_graph_error(f->g))
                     : !opt ? nb_error_set(err, oe.status, "grow: %s", oe.message)
                            : nb_error_set(err, NB_ERR_NOMEM, "grow: out of memory for the "
                                           "fit's gradients");
        nb_optimizer_free(opt);
        nb_runtime_free(rt);
        return st;
    }
    nb_status st = NB_OK;
    for (int s = 0; st == NB_OK && s <= o->steps; s++) {
        if ((st = nb_runtime_run(rt)) != NB_OK || s == o->steps)
            break;
        int64_t at = 0;
        for (int i = 0; i < 3; i++) {
            int64_t n = nb_shape_numel(nb_node_shape(f->params[i]));
            memcpy(grads + at, nb_runtime_value(rt, f->grads[i]), (size_t)n * sizeof(float));
            at += n;
        }
        nb_optimizer_step(opt, grads, o->lr);
    }
    if (st == NB_OK)
        *final_loss = nb_runtime_value(rt, f->loss)[0];
    else
        nb_error_set(err, st, "grow: fitting the new units: %s",
                     nb__message_detail(nb_runtime_error(rt)));
    nb_free(grads);
    nb_optimizer_free(opt);
    nb_runtime_free(rt);
    return st;
}

/* One fit from the starting point; *explained is its share of Σ‖r‖². */
static nb_status fit_once(const residual *res, int64_t k, const nb_grow_fit_opts *o, float *w_new,
                          float *b_new, double *explained, nb_error *err)
{
    fit_graph f = {0};
    double final = 0, total = 0;
    nb_status st = build_fit(&f, res, k, o, err);
    if (st == NB_OK && (st = train_fit(&f, o, &final, err)) == NB_OK) {
        memcpy(w_new, nb_param_data(f.params[0]), (size_t)(res->in * k) * sizeof(float));
        if (b_new)
            memcpy(b_new, nb_param_data(f.params[1]), (size_t)k * sizeof(float));
        for (int64_t i = 0; i < res->n * res->out; i++)
            total += (double)res->r[i] * res->r[i];
        /* Σ‖r − u‖² = 2N·loss */
        *explained = total > 0 ? 1.0 - 2.0 * (double)res->n * final / total : 0.0;
    }
    nb_graph_free(f.g);
    return st;
}

nb_status nb_grow_fit(nb_graph *g, nb_node *loss, const char *layer, const char *next, int64_t k,
                      const nb_feed *feeds, int n_feeds, const nb_grow_fit_opts *opts,
                      float *w_new, float *b_new, double *explained, nb_error *err)
{
    if (!g || !loss || !layer || !next || k < 1 || !w_new || (n_feeds > 0 && !feeds))
        return nb_error_set(err, NB_ERR_ARG, "grow: needs a graph, its loss, a layer, the next "
                                              "layer, k >= 1 and room for the new weights");
    nb_grow_fit_opts o = opts ? *opts : (nb_grow_fit_opts){0};
    o.steps = o.steps > 0 ? o.steps : 500;
    o.lr = o.lr > 0 ? o.lr : 0.003f;
    residual res = {0};
    double share = 0;
    nb_status st = compute_residual(g, loss, layer, next, feeds, n_feeds, &res, err);
    /* A fit no better than nothing has lost its units (ReLUs pushed below
     * zero on every example by too long a step): again, a third the step. */
    for (int attempt = 0; st == NB_OK && attempt < 4; attempt++, o.lr /= 3) {
        st = fit_once(&res, k, &o, w_new, b_new, &share, err);
        if (share > 1e-6)
            break;
    }
    if (st == NB_OK && explained)
        *explained = share;
    nb_free(res.a);
    nb_free(res.r);
    return st;
}
