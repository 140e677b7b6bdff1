/*
 * lecture_init.c — the lecture's initialisation recipe for a first hidden
 * layer: every hidden neuron starts as a linear model of its own, fitted by
 * least squares to a ±1 target on a random subsample of the examples and a
 * random subset of the inputs (declared in nabla.h, "lecture initialiser").
 *
 * Per unit j, with m examples and k chosen inputs gathered into X [m, k]
 * (double) and the target t [m]:
 *     G = Xᵀ X - m·x̄ x̄ᵀ,  r = Xᵀ t - m·x̄ t̄        (centred, when there is a bias)
 *     (G + δI) w = r,  δ = ridge · trace(G) / k     (Cholesky, or `steps`
 *     b = t̄ - w·x̄                                  conjugate-gradient steps)
 * then w and b are scaled together so the pre-activations w·x + b have
 * standard deviation `scale` over the subsample. Units are independent and
 * each draws from its own generator, so they run in parallel (OpenMP) with
 * the same result for any thread count. Only the public API is used: the
 * parameters are found by name in the trainer's graph and written through
 * nb_param_data, after every unit succeeded.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train_internal.h"

/* Everything a unit's fit needs, checked and defaulted. */
typedef struct plan {
    const nb_dataset *ds;
    int64_t in, units;      /* w is [in, units] */
    int64_t m, k;           /* examples and inputs per unit */
    bool has_bias;
    int n_classes;          /* SPLIT, CLASS_VS_REST */
    int64_t class_offset;   /* CLASS_VS_REST: unit j fits class (j + offset) mod C */
    nb_lecture_init_opts o; /* defaults filled in */
} plan;

/* One thread's working memory, allocated once and reused unit after unit. */
typedef struct scratch {
    int64_t *perm_ex;       /* n: a permutation of the examples */
    int64_t *perm_in;       /* in: a permutation of the inputs */
    double *x;              /* m·k: the gathered subsample */
    double *t;              /* m: targets */
    double *gram;           /* k·k: normal equations, then their Cholesky factor (closed form) */
    double *r, *mean, *w;   /* k each: right-hand side (CG: residual), input means, solution */
    double *dir, *ad;       /* k each: CG's direction and (G + δI)·direction */
    signed char *sign;      /* n_classes: SPLIT's ±1 per class */
} scratch;

/* ---------------------------------------------------------------- checks */

/* The options with zeros replaced by defaults, or a refusal naming the bad one. */
static nb_status check_opts(nb_lecture_init_opts *o, int64_t n, nb_error *err)
{
    if (o->subsample < 0 || o->subsample == 1 || o->subsample > n)
        return nb_error_set(err, NB_ERR_ARG,
                             "lecture init: subsample %lld is outside 2..%lld (the examples "
                             "given; 0 means min(n, 1000))",
                             (long long)o->subsample, (long long)n);
    if (!(o->input_fraction >= 0 && o->input_fraction <= 1))
        return nb_error_set(err, NB_ERR_ARG,
                             "lecture init: input_fraction %g is outside (0, 1] (0 means 1)",
                             (double)o->input_fraction);
    if (!(o->ridge >= 0) || isinf(o->ridge))
        return nb_error_set(err, NB_ERR_ARG, "lecture init: ridge %g must be finite and >= 0",
                             (double)o->ridge);
    if (!(o->scale >= 0) || isinf(o->scale))
        return nb_error_set(err, NB_ERR_ARG, "lecture init: scale %g must be finite and >= 0",
                             (double)o->scale);
    if (o->steps < 0)
        return nb_error_set(err, NB_ERR_ARG,
                             "lecture init: steps %d must be >= 0 (0: closed form)", o->steps);
    if (o->target != NB_LECTURE_SPLIT && o->target != NB_LECTURE_CLASS_VS_REST &&
        o->target != NB_LECTURE_COLUMN)
        return nb_error_set(err, NB_ERR_ARG, "lecture init: unknown target kind %d",
                             (int)o->target);
    o->subsample = o->subsample ? o->subsample : (n < 1000 ? n : 1000);
    o->input_fraction = o->input_fraction > 0 ? o->input_fraction : 1.0f;
    o->ridge = o->ridge > 0 ? o->ridge : 0.1f;
    o->scale = o->scale > 0 ? o->scale : 1.0f;
    return NB_OK;
}

/* Class targets need one class index per example in 0..C-1, C >= 2. */
static nb_status check_labels(const plan *p, nb_error *err)
{
    const nb_dataset *ds = p->ds;
    if (ds->y_width != 1 || ds->n_classes < 2)
        return nb_error_set(err, NB_ERR_ARG,
                             "lecture init: target %s needs class labels (y_width 1, n_classes "
                             ">= 2); the data has y_width %lld, n_classes %d",
                             p->o.target == NB_LECTURE_SPLIT ? "split" : "class_vs_rest",
                             (long long)ds->y_width, ds->n_classes);
    for (int64_t i = 0; i < ds->n; i++) {
        float c = ds->y[i];
        if (!(c >= 0 && c < (float)ds->n_classes) || c != floorf(c))
            return nb_error_set(err, NB_ERR_ARG,
                                 "lecture init: example %lld has label %g, not a class in 0..%d",
                                 (long long)i, (double)c, ds->n_classes - 1);
    }
    return NB_OK;
}

/* Finds "<layer>/name"; NULL (no error) when absent. */
static nb_node *layer_param(nb_graph *g, const char *layer, const char *name)
{
    char full[512];
    snprintf(full, sizeof full, "%s/%s", layer, name);
    return nb_graph_find(g, full);
}

/* The layer's w [in, units] (and b [units] if it has one) must exist and
 * read the data's examples directly. */
static nb_status check_layer(nb_graph *g, const char *layer, const nb_dataset *ds, nb_node **w,
                             nb_node **b, nb_error *err)
{
    char s1[128], s2[128];
    *w = layer_param(g, layer, "w");
    *b = layer_param(g, layer, "b");
    if (!*w || nb_node_kind_of(*w) != NB_NODE_PARAM)
        return nb_error_set(err, NB_ERR_ARG,
                             "lecture init: the model has no parameter '%s/w' (name the dense "
                             "layer's scope, e.g. \"dense1\")", layer);
    nb_shape ws = nb_node_shape(*w);
    int64_t numel = nb_shape_numel(ds->shape);
    if (ws.rank != 2)
        return nb_error_set(err, NB_ERR_SHAPE,
                             "lecture init: '%s/w' is %s, not a dense layer's [in, units]", layer,
                             nb_shape_format(ws, s1, sizeof s1));
    if (ws.dim[0] != numel)
        return nb_error_set(err, NB_ERR_SHAPE,
                             "lecture init: '%s/w' is %s but the data's examples %s have %lld "
                             "values: the layer must read the raw input",
                             layer, nb_shape_format(ws, s1, sizeof s1),
                             nb_shape_format(ds->shape, s2, sizeof s2), (long long)numel);
    if (*b && (nb_node_kind_of(*b) != NB_NODE_PARAM ||
               !nb_shape_equal(nb_node_shape(*b), NB_SHAPE(ws.dim[1]))))
        return nb_error_set(err, NB_ERR_SHAPE, "lecture init: '%s/b' is %s; expected [%lld]",
                             layer, nb_shape_format(nb_node_shape(*b), s1, sizeof s1),
                             (long long)ws.dim[1]);
    return NB_OK;
}

/* ---------------------------------------------------------------- scratch */

static void scratch_free(scratch *s)
{
    nb_free(s->perm_ex);
    nb_free(s->perm_in);
    nb_free(s->x);
    nb_free(s->t);
    nb_free(s->gram);
    nb_free(s->r);
    nb_free(s->mean);
    nb_free(s->w);
    nb_free(s->dir);
    nb_free(s->ad);
    nb_free(s->sign);
}

static bool scratch_alloc(scratch *s, const plan *p)
{
    size_t k = (size_t)p->k;
    *s = (scratch){
        .perm_ex = nb_malloc((size_t)p->ds->n * sizeof(int64_t)),
        .perm_in = nb_malloc((size_t)p->in * sizeof(int64_t)),
        .x = nb_malloc((size_t)p->m * k * sizeof(double)),
        .t = nb_malloc((size_t)p->m * sizeof(double)),
        .gram = p->o.steps > 0 ? NULL : nb_malloc(k * k * sizeof(double)),
        .r = nb_malloc(k * sizeof(double)),
        .mean = nb_malloc(k * sizeof(double)),
        .w = nb_malloc(k * sizeof(double)),
        .dir = nb_malloc(k * sizeof(double)),
        .ad = nb_malloc(k * sizeof(double)),
        .sign = nb_malloc((size_t)(p->n_classes > 0 ? p->n_classes : 1)),
    };
    return s->perm_ex && s->perm_in && s->x && s->t && (s->gram || p->o.steps > 0) && s->r &&
           s->mean && s->w && s->dir && s->ad && s->sign;
}

/* ---------------------------------------------------------------- one unit */

/* The first `count` entries of a fresh random permutation of 0..n-1
 * (partial Fisher–Yates from the identity, so the draw depends on the
 * generator alone), sorted so gathers read memory forwards. */
static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void choose(nb_rng *rng, int64_t *perm, int64_t n, int64_t count)
{
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    for (int64_t i = 0; i < count && i < n - 1; i++) {
        int64_t r = i + (int64_t)nb_rng_below(rng, (uint64_t)(n - i));
        int64_t tmp = perm[i];
        perm[i] = perm[r];
        perm[r] = tmp;
    }
    qsort(perm, (size_t)count, sizeof *perm, cmp_i64);
}

/* Unit j's target for example e. */
static double target(const plan *p, const scratch *s, int64_t j, int64_t e)
{
    const nb_dataset *ds = p->ds;
    switch (p->o.target) {
    case NB_LECTURE_SPLIT:
        return s->sign[(int)ds->y[e]];
    case NB_LECTURE_CLASS_VS_REST:
        return (int64_t)ds->y[e] == (j + p->class_offset) % p->n_classes ? 1.0 : -1.0;
    default:
        return ds->y[e * ds->y_width + j % ds->y_width];
    }
}

/* SPLIT: a random ±1 per class, not all the same. */
static void draw_split(const plan *p, scratch *s, nb_rng *rng)
{
    if (p->o.target != NB_LECTURE_SPLIT)
        return;
    bool mixed;
    do {
        mixed = false;
        for (int c = 0; c < p->n_classes; c++) {
            s->sign[c] = nb_rng_below(rng, 2) ? 1 : -1;
            mixed |= s->sign[c] != s->sign[0];
        }
    } while (!mixed);
}

static double dot(const double *a, const double *b, int64_t n)
{
    double v = 0;
#pragma omp simd reduction(+ : v)
    for (int64_t i = 0; i < n; i++)
        v += a[i] * b[i];
    return v;
}

/* Gathers unit j's subsample (examples perm_ex[0..m), inputs perm_in[0..k))
 * into s->x [m, k] and s->t [m], with the inputs' means in s->mean (zero
 * without a bias: then nothing is centred); returns the targets' mean (or 0). */
static double gather(const plan *p, scratch *s, int64_t j)
{
    int64_t m = p->m, k = p->k, in = p->in;
    memset(s->mean, 0, (size_t)k * sizeof(double));
    double tmean = 0;
    for (int64_t i = 0; i < m; i++) {
        int64_t row = s->perm_ex[i] * in;
        double *x = s->x + i * k;
        for (int64_t a = 0; a < k; a++) {
            x[a] = nb__dataset_value(p->ds, row + s->perm_in[a]);
            s->mean[a] += x[a];
        }
        s->t[i] = target(p, s, j, s->perm_ex[i]);
        tmean += s->t[i];
    }
    for (int64_t a = 0; a < k; a++)
        s->mean[a] = p->has_bias ? s->mean[a] / (double)m : 0;
    return p->has_bias ? tmean / (double)m : 0;
}

/* The ridge δ = ridge · trace(Xcᵀ Xc) / k, Xc the centred subsample (ridge
 * itself if every chosen input is constant), and r = Xcᵀ (t - t̄) [k]. */
static double ridge_and_rhs(const plan *p, scratch *s, double tmean)
{
    int64_t k = p->k;
    double trace = 0;
    memset(s->r, 0, (size_t)k * sizeof(double));
    for (int64_t i = 0; i < p->m; i++) {
        const double *x = s->x + i * k;
        double t = s->t[i] - tmean;
#pragma omp simd reduction(+ : trace)
        for (int64_t a = 0; a < k; a++) {
            double xc = x[a] - s->mean[a];
            s->r[a] += xc * t;
            trace += xc * xc;
        }
    }
    return trace > 0 ? p->o.ridge * trace / (double)k : p->o.ridge;
}

#define TILE 96

/* Upper triangle of G = Xcᵀ Xc + δI [k, k]: Xᵀ X in TILE×TILE tiles (a tile
 * stays in cache while the examples stream past; zero inputs, the
 * background pixels of images, are skipped), then m·x̄ x̄ᵀ taken off. */
static void gram(const plan *p, scratch *s, double delta)
{
    int64_t m = p->m, k = p->k;
    double *g = s->gram;
    memset(g, 0, (size_t)(k * k) * sizeof(double));
    for (int64_t a0 = 0; a0 < k; a0 += TILE)
        for (int64_t c0 = a0; c0 < k; c0 += TILE) {
            int64_t a1 = a0 + TILE < k ? a0 + TILE : k, c1 = c0 + TILE < k ? c0 + TILE : k;
            for (int64_t i = 0; i < m; i++) {
                const double *x = s->x + i * k;
                for (int64_t a = a0; a < a1; a++) {
                    double xa = x[a], *ga = g + a * k;
                    if (xa == 0)
                        continue;
#pragma omp simd
                    for (int64_t c = c0 > a ? c0 : a; c < c1; c++)
                        ga[c] += xa * x[c];
                }
            }
        }
    for (int64_t a = 0; a < k; a++) {
        double ma = (double)m * s->mean[a], *ga = g + a * k;
#pragma omp simd
        for (int64_t c = a; c < k; c++)
            ga[c] -= ma * s->mean[c];
        ga[a] += delta;
    }
}

/* Solves G w = r by Cholesky in place, G = Uᵀ U with U upper and
 * row-major (right-looking, so every update runs along a row). False if a
 * pivot is not positive. */
static bool cholesky_solve(double *g, const double *r, double *w, int64_t k)
{
    for (int64_t a = 0; a < k; a++) {
        double *ua = g + a * k;
        if (!(ua[a] > 0))
            return false;
        ua[a] = sqrt(ua[a]);
        double inv = 1 / ua[a];
#pragma omp simd
        for (int64_t c = a + 1; c < k; c++)
            ua[c] *= inv;
        for (int64_t b = a + 1; b < k; b++) {
            double u = ua[b], *gb = g + b * k;
            if (u == 0)
                continue;
#pragma omp simd
            for (int64_t c = b; c < k; c++)
                gb[c] -= u * ua[c];
        }
    }
    memcpy(w, r, (size_t)k * sizeof *w);
    for (int64_t a = 0; a < k; a++) { /* Uᵀ z = r */
        const double *ua = g + a * k;
        w[a] /= ua[a];
#pragma omp simd
        for (int64_t c = a + 1; c < k; c++)
            w[c] -= ua[c] * w[a];
    }
    for (int64_t a = k - 1; a >= 0; a--) { /* U w = z */
        const double *ua = g + a * k;
        double v = 0;
#pragma omp simd reduction(+ : v)
        for (int64_t c = a + 1; c < k; c++)
            v += ua[c] * w[c];
        w[a] = (w[a] - v) / ua[a];
    }
    return true;
}

/* out = (Xcᵀ Xc + δI) v [k] through the subsample, XᵀX never formed:
 * q_i = (x_i - x̄)·v, out = Σ q_i (x_i - x̄) + δ v. */
static void normal_apply(const plan *p, const scratch *s, const double *v, double delta,
                         double *out)
{
    int64_t k = p->k;
    double mv = dot(s->mean, v, k), qsum = 0;
    for (int64_t a = 0; a < k; a++)
        out[a] = delta * v[a];
    for (int64_t i = 0; i < p->m; i++) {
        const double *x = s->x + i * k;
        double q = dot(x, v, k) - mv;
#pragma omp simd
        for (int64_t a = 0; a < k; a++)
            out[a] += q * x[a];
        qsum += q;
    }
    for (int64_t a = 0; a < k; a++)
        out[a] -= qsum * s->mean[a];
}

/* At most `steps` conjugate-gradient steps on (Xcᵀ Xc + δI) w = r from
 * w = 0 (s->r is used up as the residual), stopping early once the
 * residual's norm is 1e-10 of the first. */
static void cg_solve(const plan *p, scratch *s, double delta)
{
    int64_t k = p->k;
    double *w = s->w, *res = s->r, *dir = s->dir, *ad = s->ad;
    memset(w, 0, (size_t)k * sizeof *w);
    memcpy(dir, res, (size_t)k * sizeof *dir);
    double rs = dot(res, res, k), rs0 = rs;
    for (int it = 0; it < p->o.steps && rs > 1e-20 * rs0 && rs > 0; it++) {
        normal_apply(p, s, dir, delta, ad);
        double alpha = rs / dot(dir, ad, k);
        for (int64_t a = 0; a < k; a++) {
            w[a] += alpha * dir[a];
            res[a] -= alpha * ad[a];
        }
        double rs_new = dot(res, res, k), beta = rs_new / rs;
        for (int64_t a = 0; a < k; a++)
            dir[a] = res[a] + beta * dir[a];
        rs = rs_new;
    }
}

/* The factor that gives the unit's pre-activations standard deviation
 * `scale` over its subsample (1 when asked not to rescale, or when the fit
 * is constant there). */
static double rescale_factor(const plan *p, const scratch *s, double b)
{
    if (p->o.no_rescale)
        return 1;
    double sum = 0, sum2 = 0;
    for (int64_t i = 0; i < p->m; i++) {
        double z = b + dot(s->w, s->x + i * p->k, p->k);
        sum += z;
        sum2 += z * z;
    }
    double mean = sum / (double)p->m, var = sum2 / (double)p->m - mean * mean;
    return var > 1e-24 ? p->o.scale / sqrt(var) : 1;
}

/* Fits unit j and writes column j of w_new [in, units] (rows not chosen stay
 * zero) and b_new[j]. False if the normal equations could not be solved. */
static bool fit_unit(const plan *p, scratch *s, int64_t j, float *w_new, float *b_new)
{
    nb_rng rng = nb_rng_seed(p->o.seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(j + 1)));
    choose(&rng, s->perm_ex, p->ds->n, p->m);
    choose(&rng, s->perm_in, p->in, p->k);
    draw_split(p, s, &rng);
    double tmean = gather(p, s, j), delta = ridge_and_rhs(p, s, tmean);
    if (p->o.steps > 0) {
        cg_solve(p, s, delta);
    } else {
        gram(p, s, delta);
        if (!cholesky_solve(s->gram, s->r, s->w, p->k))
            return false;
    }
    double b = tmean - dot(s->w, s->mean, p->k);
    double f = rescale_factor(p, s, b);
    for (int64_t a = 0; a < p->k; a++)
        w_new[s->perm_in[a] * p->units + j] = (float)(f * s->w[a]);
    b_new[j] = (float)(f * b);
    return true;
}

/* ---------------------------------------------------------------- all units */

/* Fits every unit in parallel into w_new (zeroed) and b_new; on failure
 * reports the first unit that failed. */
static nb_status fit_all(const plan *p, float *w_new, float *b_new, nb_error *err)
{
    int64_t bad_unit = -1;
    bool nomem = false;
#pragma omp parallel
    {
        scratch s;
        bool ok = scratch_alloc(&s, p);
        if (!ok) {
#pragma omp atomic write
            nomem = true;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t j = 0; j < p->units; j++) {
            if (ok && !fit_unit(p, &s, j, w_new, b_new)) {
#pragma omp critical(nb_lecture_init_fail)
                if (bad_unit < 0 || j < bad_unit)
                    bad_unit = j;
            }
        }
        scratch_free(&s);
    }
    if (nomem)
        return nb_error_set(err, NB_ERR_NOMEM, "lecture init: out of memory for the fits");
    if (bad_unit >= 0)
        return nb_error_set(err, NB_ERR_STATE,
                             "lecture init: unit %lld: the normal equations are not positive "
                             "definite (raise ridge)", (long long)bad_unit);
    return NB_OK;
}

nb_status nb_init_lecture(nb_trainer *t, const char *layer, const nb_dataset *ds,
                          nb_lecture_init_opts o, nb_error *err)
{
    if (!t || !ds || !(ds->x || ds->x_u8) || !ds->y || ds->n < 1)
        return nb_error_set(err, NB_ERR_ARG, "lecture init: %s",
                             !t ? "no trainer (NULL)" : "no data (NULL or empty dataset)");
    if (nb_trainer_model_io(t).n_extra > 0 || ds->n_extra > 0)
        return nb_error_set(err, NB_ERR_ARG, "lecture init: works on models of one input; "
                            "this one has inputs after x");
    if (!layer || !*layer)
        return nb_error_set(err, NB_ERR_ARG,
                             "lecture init: no layer named (give its scope, e.g. \"dense1\")");
    nb_node *w, *b;
    nb_status st = check_layer(nb_trainer_graph(t), layer, ds, &w, &b, err);
    if (st != NB_OK || (st = check_opts(&o, ds->n, err)) != NB_OK)
        return st;
    nb_shape ws = nb_node_shape(w);
    plan p = {.ds = ds, .in = ws.dim[0], .units = ws.dim[1], .m = o.subsample, .has_bias = b != NULL,
              .n_classes = ds->n_classes, .o = o};
    p.k = (int64_t)llround((double)o.input_fraction * (double)p.in);
    p.k = p.k < 1 ? 1 : p.k > p.in ? p.in : p.k;
    if (o.target != NB_LECTURE_COLUMN && (st = check_labels(&p, err)) != NB_OK)
        return st;
    if (o.target == NB_LECTURE_CLASS_VS_REST) {
        nb_rng r = nb_rng_seed(o.seed);
        p.class_offset = (int64_t)nb_rng_below(&r, (uint64_t)p.n_classes);
    }
    float *w_new = nb_calloc((size_t)(p.in * p.units), sizeof(float));
    float *b_new = nb_calloc((size_t)p.units, sizeof(float));
    st = w_new && b_new ? fit_all(&p, w_new, b_new, err)
                        : nb_error_set(err, NB_ERR_NOMEM, "lecture init: out of memory for %lld "
                                       "new weights", (long long)(p.in * p.units + p.units));
    if (st == NB_OK) {
        memcpy(nb_param_data(w), w_new, (size_t)(p.in * p.units) * sizeof(float));
        if (b)
            memcpy(nb_param_data(b), b_new, (size_t)p.units * sizeof(float));
    }
    nb_free(w_new);
    nb_free(b_new);
    return st;
}
