/*
 * cg.c — nonlinear conjugate gradients over chunks of the training set, the
 * lecture's batch method for the sum Q = Σ ε_k split into blocks. On each
 * chunk CG takes a few Polak–Ribière+ steps on the chunk's mean loss, each
 * step found by a strong-Wolfe line search, then moves on to the next
 * chunk. Built on the public trainer API only: nb_trainer_loss_grad gives the
 * chunk's loss and gradient in the optimiser's order, nb_trainer_param and
 * nb_param_data move the parameters. Five vectors of nb_optimizer_size
 * floats are allocated once per call: the start of the line x0, the
 * direction d, the gradient g at x0, the gradient at the latest trial and
 * the gradient at the best trial of the search so far.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train_internal.h"

/* Strong Wolfe sufficient decrease; the curvature constant c2 is an option
 * (c2 < ½ keeps PR+ directions downhill: Nocedal & Wright, lemma 5.6). */
#define C1 1e-4
/* Largest growth of the first trial step relative to the last accepted one. */
#define MAX_STEP_RATIO 10.0

/* One point on the line: α, φ(α) = loss(x0 + α·d) and φ'(α) = ∇·d. */
typedef struct trial {
    double a, f, df;
} trial;

typedef struct cg {
    nb_trainer *t;
    nb_cg_opts o;
    nb_error *err;
    const nb_dataset *data;   /* the current chunk lives here … */
    int64_t start, count;     /* … as examples [start, start + count) */
    int64_t n;                /* floats per vector */
    float *x0, *d, *g, *gt, *glo;
    nb_cg_progress p;
    double t0, paused;        /* clock at the start; seconds spent in callbacks */
    double last_step, last_slope; /* the previous accepted α and φ'(0): next step's guess */
    bool stop;                /* the callback asked to stop */
} cg;

/* ---------------------------------------------------------------- vectors */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double dot(const float *a, const float *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)a[i] * (double)b[i];
    return s;
}

static void swap(float **a, float **b)
{
    float *t = *a;
    *a = *b;
    *b = t;
}

/* Copies the trainable parameters, end to end in the optimiser's order,
 * into x (n floats). */
static void get_x(cg *c, float *x)
{
    int64_t at = 0;
    for (int i = 0; i < nb_trainer_num_param_tensors(c->t); i++) {
        nb_node *p = nb_trainer_param(c->t, i);
        int64_t k = nb_shape_numel(nb_node_shape(p));
        memcpy(x + at, nb_param_data(p), (size_t)k * sizeof *x);
        at += k;
    }
}

/* Parameters ← x0 + α·d (α = 0 restores x0 exactly). Pointers are fetched
 * anew each time: a new model build may move parameter storage. */
static void set_x(cg *c, double a)
{
    int64_t at = 0;
    for (int i = 0; i < nb_trainer_num_param_tensors(c->t); i++) {
        nb_node *p = nb_trainer_param(c->t, i);
        int64_t k = nb_shape_numel(nb_node_shape(p));
        float *w = nb_param_data(p);
        if (a == 0)
            memcpy(w, c->x0 + at, (size_t)k * sizeof *w);
        for (int64_t j = 0; a != 0 && j < k; j++)
            w[j] = (float)((double)c->x0[at + j] + a * (double)c->d[at + j]);
        at += k;
    }
}

/* Whether the budget allows one more evaluation of the chunk; when it
 * does not, the run stops. */
static bool can_eval(cg *c)
{
    if (c->o.max_examples > 0 && c->p.examples + c->count > c->o.max_examples)
        c->stop = true;
    return !c->stop;
}

/* The chunk's mean loss and its gradient (into grad) at the current
 * parameters; counts the evaluation and its examples. */
static nb_status eval(cg *c, float *grad, double *loss)
{
    nb_status st = nb_trainer_loss_grad(c->t, c->data, c->start, c->count, grad, loss);
    if (st != NB_OK)
        return nb_error_set(c->err, st, "cg: %s",
                            nb__message_detail(nb_trainer_error(c->t)));
    c->p.grad_evals++;
    c->p.examples += c->count;
    return NB_OK;
}

/* ---------------------------------------------------------------- line search
 *
 * Near a minimum along the line, loss differences are second order and sink
 * into float32 rounding long before slopes do. So the bracket is kept by
 * the slope's sign (Hager & Zhang's scheme): lo descends (φ' < 0) and is not
 * above φ(0) + ε, hi ascends (φ' ≥ 0) or is above φ(0) + ε; a minimum lies
 * between them. A point is accepted when it satisfies the strong curvature
 * condition |φ'(α)| ≤ c2·|φ'(0)| and sufficient decrease, φ(α) ≤ φ(0) +
 * c1·α·φ'(0), or where that is below rounding, φ(α) ≤ φ(0) + ε (their
 * "approximate Wolfe" conditions). ε = NOISE·|φ(0)|.
 */

#define NOISE 1e-6

/* Evaluates the point α on the line into *p, its gradient into c->gt. A
 * loss or slope that is not finite reads as +∞ with no slope: "too far". */
static nb_status probe(cg *c, double a, trial *p)
{
    double f;
    set_x(c, a);
    nb_status st = eval(c, c->gt, &f);
    if (st != NB_OK)
        return st;
    *p = (trial){a, f, dot(c->gt, c->d, c->n)};
    if (!isfinite(p->f) || !isfinite(p->df))
        *p = (trial){a, INFINITY, NAN};
    return NB_OK;
}

/* The (approximate) strong Wolfe conditions for p, z being α = 0. */
static bool acceptable(const cg *c, trial z, trial p)
{
    double eps = NOISE * fabs(z.f);
    return fabs(p.df) <= -c->o.c2 * z.df && (p.f <= z.f + C1 * p.a * z.df || p.f <= z.f + eps);
}

/* lo's conditions: downhill and not above the start. */
static bool descends(trial z, trial p)
{
    return p.df < 0 && p.f <= z.f + NOISE * fabs(z.f);
}

/* The minimiser of the cubic through (a, f, df) at both points (Nocedal &
 * Wright eq. 3.59), or NAN when it has none. */
static double cubic_min(trial p, trial q)
{
    double d1 = p.df + q.df - 3 * (p.f - q.f) / (p.a - q.a);
    double disc = d1 * d1 - p.df * q.df;
    if (!(disc >= 0))
        return NAN;
    double d2 = copysign(sqrt(disc), q.a - p.a);
    double den = q.df - p.df + 2 * d2;
    return den != 0 ? q.a - (q.a - p.a) * (q.df + d2 - d1) / den : NAN;
}

/* The next trial inside the bracket: where the slope's secant crosses zero
 * when hi ascends (exact on a quadratic, and blind to loss rounding), else
 * the cubic's minimiser, else the midpoint; kept a tenth of the bracket
 * away from either end. */
static double interpolate(trial lo, trial hi)
{
    double a0 = fmin(lo.a, hi.a), a1 = fmax(lo.a, hi.a), w = a1 - a0;
    double a = hi.df >= 0 ? (lo.a * hi.df - hi.a * lo.df) / (hi.df - lo.df)
             : isfinite(hi.f) ? cubic_min(lo, hi) : NAN;
    return isfinite(a) ? fmin(fmax(a, a0 + 0.1 * w), a1 - 0.1 * w) : 0.5 * (a0 + a1);
}

/* The next trial beyond lo while the line still descends: where the
 * slope's secant through prev and lo crosses zero when the slope is rising,
 * kept between 0.1 and 4 of the last stride past lo; else 4 strides past. */
static double extrapolate(trial prev, trial lo)
{
    double w = lo.a - prev.a, a = NAN;
    if (lo.df > prev.df)
        a = (prev.a * lo.df - lo.a * prev.df) / (lo.df - prev.df);
    return isfinite(a) ? fmin(fmax(a, lo.a + 0.1 * w), lo.a + 4 * w) : lo.a + 4 * w;
}

/*
 * A step along d from x0 (loss z.f, slope z.df < 0 at α = 0), first trying
 * a0: trial steps grow while the line descends, then the bracket [lo, hi]
 * narrows, at most max_evals evaluations in all. On success (*found) the
 * parameters are at x0 + α·d (*out) and c->gt holds their gradient; out of
 * evaluations (or budget) it settles for lo when lo is lower than the
 * start; otherwise the parameters are back at x0. c->glo holds lo's
 * gradient throughout.
 */
static nb_status line_search(cg *c, trial z, double a0, trial *out, bool *found)
{
    trial lo = z, prev = z, hi = {.a = INFINITY}, p;
    double a = a0;
    *found = false;
    for (int i = 0; i < c->o.max_evals && can_eval(c); i++) {
        nb_status st = probe(c, a, &p);
        if (st != NB_OK)
            return st;
        if (acceptable(c, z, p)) {
            *out = p;
            *found = true;
            return NB_OK;
        }
        if (descends(z, p)) {
            prev = lo;
            lo = p;
            swap(&c->gt, &c->glo);
        } else {
            hi = p;
        }
        if (isinf(hi.a))
            a = extrapolate(prev, lo);
        else if (fabs(hi.a - lo.a) > 1e-12 * fmax(lo.a, hi.a))
            a = interpolate(lo, hi);
        else
            break;
    }
    if (lo.a > 0 && lo.f < z.f) {
        set_x(c, lo.a);
        swap(&c->gt, &c->glo);
        *out = lo;
        *found = true;
    } else {
        set_x(c, 0);
    }
    return NB_OK;
}

/* ---------------------------------------------------------------- iterations */

/* The first trial step: the last accepted one scaled by the ratio of slopes
 * (Nocedal & Wright eq. 3.60), at most MAX_STEP_RATIO times longer; the very
 * first is step0 long. */
static double first_step(const cg *c, double slope, double dnorm)
{
    if (c->last_step <= 0)
        return c->o.step0 / dnorm;
    double ratio = c->last_slope / slope;
    return c->last_step * (ratio > 0 && ratio < MAX_STEP_RATIO ? ratio : MAX_STEP_RATIO);
}

/* Reports an iteration through the callback, its time not counted. */
static void report(cg *c)
{
    double t = now();
    c->p.seconds = t - c->t0 - c->paused;
    if (c->o.on_iteration && !c->o.on_iteration(&c->p, c->o.ud))
        c->stop = true;
    c->paused += now() - t;
}

/* PR+ direction d ← -g_new + β·d, β = max(0, g_new·(g_new - g)/(g·g)), with
 * restarts (β = 0, counted): every `restart` iterations, when PR+ clips β
 * to 0, and when the result does not point downhill. g_new is c->gt;
 * afterwards c->g holds it and c->gt the old gradient. */
static void next_direction(cg *c, int64_t *since_restart)
{
    double gg = dot(c->g, c->g, c->n), beta = 0;
    if (++*since_restart < c->o.restart && gg > 0)
        beta = fmax(0, (dot(c->gt, c->gt, c->n) - dot(c->gt, c->g, c->n)) / gg);
    swap(&c->g, &c->gt);
    for (int64_t i = 0; i < c->n; i++)
        c->d[i] = (float)(-(double)c->g[i] + beta * (double)c->d[i]);
    if (beta > 0 && dot(c->g, c->d, c->n) >= 0) {
        beta = 0;
        for (int64_t i = 0; i < c->n; i++)
            c->d[i] = -c->g[i];
    }
    if (beta == 0) {
        c->p.restarts++;
        *since_restart = 0;
    }
    c->p.beta = beta;
}

/* Moves the line's start to the accepted point (where set_x put the
 * parameters, bit for bit), remembers the step for the next first guess,
 * and reports the iteration. */
static void take_step(cg *c, trial acc, double slope)
{
    for (int64_t i = 0; i < c->n; i++)
        c->x0[i] = (float)((double)c->x0[i] + acc.a * (double)c->d[i]);
    c->last_step = acc.a;
    c->last_slope = slope;
    c->p.step = acc.a;
    c->p.loss = acc.f;
    c->p.grad_norm = sqrt(dot(c->gt, c->gt, c->n));
    c->p.iterations++;
    report(c);
}

/* Up to o.iterations CG steps on the current chunk, starting from steepest
 * descent. A failed search restarts from -∇; a failed steepest-descent
 * search (nothing lower along -∇ within max_evals) ends the visit. */
static nb_status visit_chunk(cg *c)
{
    double f;
    nb_status st = can_eval(c) ? eval(c, c->g, &f) : NB_OK;
    if (st != NB_OK || c->stop)
        return st;
    if (!isfinite(f))
        return nb_error_set(c->err, NB_ERR_STATE, "cg: the loss is %g on chunk %lld of epoch %d",
                             f, (long long)c->p.chunk, c->p.epoch);
    for (int64_t i = 0; i < c->n; i++)
        c->d[i] = -c->g[i];
    c->p.beta = 0;
    int64_t since_restart = 0;
    for (c->p.iteration = 1; c->p.iteration <= c->o.iterations && !c->stop;) {
        double slope = dot(c->g, c->d, c->n);
        if (!(slope < 0))
            return NB_OK; /* a zero gradient: nothing to do here */
        trial z = {0, f, slope}, acc;
        bool found;
        st = line_search(c, z, first_step(c, slope, sqrt(dot(c->d, c->d, c->n))), &acc, &found);
        if (st != NB_OK)
            return st;
        if (!found && c->stop)
            return NB_OK; /* the budget ran out */
        if (!found) {
            c->p.failed_searches++;
            if (c->p.beta == 0)
                return NB_OK; /* d was -∇ already */
            for (int64_t i = 0; i < c->n; i++)
                c->d[i] = -c->g[i];
            c->p.beta = 0;
            c->p.restarts++;
            since_restart = 0;
            continue;
        }
        f = acc.f;
        take_step(c, acc, slope);
        if (++c->p.iteration <= c->o.iterations)
            next_direction(c, &since_restart);
    }
    return NB_OK;
}

/* ---------------------------------------------------------------- the call */

/* Refuses options out of range, naming the option and its value. */
static nb_status check_opts(const nb_cg_opts *o, nb_error *err)
{
    const char *bad = o->chunk < 0 ? "chunk" : o->iterations < 0 ? "iterations"
                    : o->restart < 0 ? "restart" : o->epochs < 0 ? "epochs"
                    : o->max_evals < 0 ? "max_evals" : NULL;
    if (bad) {
        long long v = o->chunk < 0 ? (long long)o->chunk : o->iterations < 0 ? o->iterations
                    : o->restart < 0 ? o->restart : o->epochs < 0 ? o->epochs : o->max_evals;
        return nb_error_set(err, NB_ERR_ARG, "cg: %s is %lld; it must be >= 0 (0: the default)",
                             bad, v);
    }
    if (!(o->step0 >= 0) || !isfinite(o->step0))
        return nb_error_set(err, NB_ERR_ARG,
                             "cg: step0 is %g; it must be finite and >= 0 (0: the default)",
                             o->step0);
    if (!(o->c2 >= 0 && o->c2 < 0.5))
        return nb_error_set(err, NB_ERR_ARG,
                             "cg: c2 is %g; it must lie in [0, 0.5) (0: the default 0.1)",
                             o->c2);
    return NB_OK;
}

/* The options with defaults filled in, for a set of n examples and
 * parameter vectors of size floats. */
static nb_cg_opts defaults(nb_cg_opts o, int64_t n, int64_t size)
{
    o.chunk = o.chunk > 0 && o.chunk < n ? o.chunk : n;
    o.iterations = o.iterations ? o.iterations : 3;
    o.restart = o.restart ? o.restart : (int)(size < INT32_MAX ? size : INT32_MAX);
    o.epochs = o.epochs ? o.epochs : 1;
    o.step0 = o.step0 > 0 ? o.step0 : 0.1;
    o.max_evals = o.max_evals ? o.max_evals : 20;
    o.c2 = o.c2 > 0 ? o.c2 : 0.1;
    return o;
}

/* The vectors, allocated once; false when memory ran out. */
static bool alloc_vectors(cg *c)
{
    float **v[] = {&c->x0, &c->d, &c->g, &c->gt, &c->glo};
    bool ok = true;
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        ok = (*v[i] = nb_malloc((size_t)c->n * sizeof(float))) != NULL && ok;
    return ok;
}

static void free_vectors(cg *c)
{
    nb_free(c->x0);
    nb_free(c->d);
    nb_free(c->g);
    nb_free(c->gt);
    nb_free(c->glo);
}

/* Σ numel of the trainable parameters: must equal the optimiser's size. */
static int64_t param_floats(nb_trainer *t)
{
    int64_t s = 0;
    for (int i = 0; i < nb_trainer_num_param_tensors(t); i++)
        s += nb_shape_numel(nb_node_shape(nb_trainer_param(t, i)));
    return s;
}

/* Points c at chunk k: a range of train, or with shuffling, the examples
 * order[k·chunk …] copied into the scratch set. */
static void select_chunk(cg *c, const nb_dataset *train, nb_dataset *scratch,
                         const int64_t *order, int64_t k)
{
    int64_t first = k * c->o.chunk;
    c->count = train->n - first < c->o.chunk ? train->n - first : c->o.chunk;
    if (!scratch) {
        c->data = train;
        c->start = first;
        return;
    }
    /* order is a permutation of [0, train->n): the gather cannot refuse it.
     * A byte training set is converted here, chunk by chunk (scratch is
     * floats). */
    (void)nb_dataset_gather(train, order + first, 0, c->count, scratch->x, scratch->y, NULL);
    c->data = scratch;
    c->start = 0;
}

/* Every epoch visits every chunk; with shuffling, a fresh order each epoch.
 * Afterwards c->p names the last epoch and chunk visited. */
static nb_status run(cg *c, const nb_dataset *train, nb_dataset *scratch, int64_t *order)
{
    nb_rng rng = nb_rng_seed(c->o.seed);
    c->p.chunks = (train->n + c->o.chunk - 1) / c->o.chunk;
    for (int e = 1; e <= c->o.epochs; e++) {
        c->p.epoch = e;
        if (scratch) {
            for (int64_t i = 0; i < train->n; i++)
                order[i] = i;
            nb_rng_shuffle(&rng, order, train->n);
        }
        for (int64_t k = 0; k < c->p.chunks; k++) {
            c->p.chunk = k;
            select_chunk(c, train, scratch, order, k);
            nb_status st = visit_chunk(c);
            if (st != NB_OK || c->stop)
                return st;
        }
    }
    return NB_OK;
}

nb_status nb_trainer_fit_cg(nb_trainer *t, const nb_dataset *train, nb_cg_opts o,
                            nb_cg_progress *summary, nb_error *err)
{
    if (summary)
        *summary = (nb_cg_progress){0};
    if (!t)
        return nb_error_set(err, NB_ERR_ARG, "cg: no trainer (NULL)");
    if (!train || train->n < 1)
        return nb_error_set(err, NB_ERR_ARG, "cg: the training set is empty");
    if ((!train->x && !train->x_u8) || !train->y)
        return nb_error_set(err, NB_ERR_ARG, "cg: the training set holds no %s (NULL)",
                             train->y ? "examples" : "targets");
    if (nb_trainer_model_io(t).n_extra > 0 || train->n_extra > 0)
        return nb_error_set(err, NB_ERR_ARG, "cg: trains models of one input; this one has "
                            "inputs after x (train it with nb_trainer_fit)");
    nb_status st = check_opts(&o, err);
    if (st == NB_OK && (st = nb__trainer_check_data(t, train, "training")) != NB_OK)
        nb_error_set(err, st, "cg: %s", nb__message_detail(nb_trainer_error(t)));
    if (st != NB_OK)
        return st;
    cg c = {.t = t, .err = err, .n = nb_optimizer_size(nb_trainer_optimizer(t)), .t0 = now()};
    if (c.n < 1 || c.n != param_floats(t))
        return nb_error_set(err, NB_ERR_STATE,
                             "cg: the optimiser holds %lld floats but the parameters %lld",
                             (long long)c.n, (long long)param_floats(t));
    c.o = defaults(o, train->n, c.n);
    bool shuffle = o.shuffle && c.o.chunk < train->n;
    nb_dataset *scratch = shuffle ? nb_dataset_new(c.o.chunk, train->shape, train->y_width, err)
                                  : NULL;
    int64_t *order = shuffle ? nb_malloc((size_t)train->n * sizeof *order) : NULL;
    if (!alloc_vectors(&c) || (shuffle && (!scratch || !order))) {
        st = nb_error_set(err, NB_ERR_NOMEM, "cg: out of memory for %lld parameters",
                           (long long)c.n);
    } else {
        get_x(&c, c.x0);
        st = run(&c, train, scratch, order);
        if (st != NB_OK)
            set_x(&c, 0); /* back to the last accepted point */
        c.p.seconds = now() - c.t0 - c.paused;
        if (summary)
            *summary = c.p;
    }
    free_vectors(&c);
    nb_dataset_free(scratch);
    nb_free(order);
    return st;
}
