/*
 * optim.c — the optimisers (SGD with momentum and Nesterov, Adam, RMSprop)
 * and global gradient-norm clipping.
 *
 * An optimiser holds a copy of its parameter list, the total element count
 * n, one slot buffer of 2·n floats (slot 0: SGD velocity, Adam m, RMSprop
 * momentum; slot 1: Adam v, RMSprop mean square; SGD leaves slot 1 at zero)
 * and a step counter. Gradients arrive laid end to end in one buffer of n
 * floats, in the list's order. The rules follow PyTorch (torch.optim.SGD,
 * Adam, RMSprop with their default flags), so a trajectory can be checked
 * against it number for number (SGD alone stores as zero a velocity whose
 * step would be smaller than the smallest normal float, which moves no
 * weight of ordinary size: ops/kernels/sgd.h says why). It is not a graph
 * object: it allocates with malloc and outlives any runtime.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "train_internal.h"
#include "../ops/kernels/sgd.h"

struct nb_optimizer {
    nb_optimizer_opts o; /* as given */
    nb_node **params;    /* a copy of the caller's list */
    int64_t *sizes;      /* per parameter: its element count */
    int n_params;
    int64_t n;           /* Σ numel(params): floats in a gradient buffer */
    float *slots;        /* 2·n floats: slot 0, then slot 1 */
    int64_t steps;       /* updates made so far (Adam's t) */
    bool short_sgd;      /* SGD with every parameter short enough for a list step */
    nb__sgd_span *spans; /* short_sgd: the list an earlier step made (n_spans of
                            n_params room), valid while spans_ok */
    const float **span_g; /* per parameter: the gradient the list was made for */
    int n_spans;
    bool spans_ok;
    unsigned spans_stamp; /* the parameters' graph's nb_graph_param_stamp then */
};

/* ---------------------------------------------------------------- creation */

static const char *const kind_names[] = {"sgd", "adam", "rmsprop"};

/* The documented defaults of each kind: what "no opinion" means, stated
 * once, so that every field a caller sets (0 included) is taken as given. */
nb_optimizer_opts nb_optimizer_defaults(nb_optimizer_kind kind)
{
    return (nb_optimizer_opts){.kind = kind, .lr = kind == NB_OPT_SGD ? 0.01f : 0.001f,
                               .beta1 = 0.9f, .beta2 = 0.999f, .alpha = 0.99f, .eps = 1e-8f};
}

/* NB_OK when the options make sense, else NB_ERR_ARG naming the first
 * field that does not: a known kind; momentum and weight decay not
 * negative; for Adam and RMSprop (which divide by √v + eps) eps > 0; beta1,
 * beta2 and alpha in [0, 1); Nesterov only for SGD with a positive momentum
 * (as PyTorch insists). The learning rate is not checked: it arrives with
 * each step. An eps of 0 is most often a struct that never had its
 * defaults, hence the hint. */
static nb_status check_opts(nb_optimizer_opts o, nb_error *err)
{
    if (o.kind != NB_OPT_SGD && o.kind != NB_OPT_ADAM && o.kind != NB_OPT_RMSPROP)
        return nb_error_set(err, NB_ERR_ARG, "optimizer: kind %d is not NB_OPT_SGD, NB_OPT_ADAM "
                            "or NB_OPT_RMSPROP", (int)o.kind);
    const char *k = kind_names[o.kind];
    if (!(o.momentum >= 0))
        return nb_error_set(err, NB_ERR_ARG, "optimizer %s: momentum %g is negative", k,
                            (double)o.momentum);
    if (!(o.weight_decay >= 0))
        return nb_error_set(err, NB_ERR_ARG, "optimizer %s: weight_decay %g is negative", k,
                            (double)o.weight_decay);
    if (o.kind != NB_OPT_SGD && !(o.eps > 0))
        return nb_error_set(err, NB_ERR_ARG, "optimizer %s: eps %g must be > 0 (start from "
                            "nb_optimizer_defaults(), which sets every field to its default)",
                            k, (double)o.eps);
    const char *name[] = {"beta1", "beta2", "alpha"};
    float v[] = {o.beta1, o.beta2, o.alpha};
    for (int i = 0; i < 3; i++)
        if (!(v[i] >= 0 && v[i] < 1))
            return nb_error_set(err, NB_ERR_ARG, "optimizer %s: %s %g is outside [0, 1)", k,
                                name[i], (double)v[i]);
    if (o.nesterov && !(o.kind == NB_OPT_SGD && o.momentum > 0))
        return nb_error_set(err, NB_ERR_ARG, "optimizer %s: nesterov needs sgd with a momentum "
                            "> 0 (momentum %g)", k, (double)o.momentum);
    return NB_OK;
}

/*
 * An optimiser for params[0..n). Every entry must be a parameter node; frozen
 * ones (nb_param_trainable false) keep their place in the gradient buffer
 * but are skipped by each step, so freezing can change between steps. The
 * list is copied; the slots start at zero. Returns NULL with the reason in
 * err for a NULL or empty list, a node that is not a parameter, options
 * check_opts refuses, or when memory runs out.
 */
nb_optimizer *nb_optimizer_new(nb_optimizer_opts o, nb_node *const *params, int n, nb_error *err)
{
    if (!params || n <= 0) {
        nb_error_set(err, NB_ERR_ARG, "optimizer: no parameters to update");
        return NULL;
    }
    if (check_opts(o, err) != NB_OK)
        return NULL;
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!params[i] || nb_node_kind_of(params[i]) != NB_NODE_PARAM) {
            char label[96];
            nb_error_set(err, NB_ERR_ARG, "optimizer: entry %d of the list (%s) is not a "
                         "parameter", i, params[i] ? nb_node_label(params[i], label, sizeof label)
                                                   : "NULL");
            return NULL;
        }
        total += nb_shape_numel(nb_node_shape(params[i]));
    }
    nb_optimizer *opt = nb_calloc(1, sizeof *opt);
    if (opt) {
        opt->o = o;
        opt->n_params = n;
        opt->n = total;
        opt->params = nb_malloc((size_t)n * sizeof *opt->params);
        opt->sizes = nb_malloc((size_t)n * sizeof *opt->sizes);
        opt->slots = nb_calloc((size_t)(total > 0 ? 2 * total : 1), sizeof(float));
        opt->spans = nb_malloc((size_t)n * sizeof *opt->spans);
        opt->span_g = nb_malloc((size_t)n * sizeof *opt->span_g);
    }
    if (!opt || !opt->params || !opt->sizes || !opt->slots || !opt->spans || !opt->span_g) {
        nb_optimizer_free(opt);
        nb_error_set(err, NB_ERR_NOMEM, "optimizer: out of memory for the state of %lld values",
                     (long long)total);
        return NULL;
    }
    memcpy(opt->params, params, (size_t)n * sizeof *params);
    opt->short_sgd = o.kind == NB_OPT_SGD;
    for (int i = 0; i < n; i++) {
        opt->sizes[i] = nb_shape_numel(nb_node_shape(params[i]));
        opt->short_sgd &= opt->sizes[i] <= NB__SGD_LIST_MAX;
    }
    return opt;
}

void nb_optimizer_free(nb_optimizer *opt)
{
    if (!opt)
        return;
    nb_free(opt->params);
    nb_free(opt->sizes);
    nb_free(opt->slots);
    nb_free(opt->spans);
    nb_free(opt->span_g);
    nb_free(opt);
}

int64_t nb_optimizer_size(const nb_optimizer *opt)
{
    return opt ? opt->n : 0;
}

nb_optimizer_kind nb_optimizer_kind_of(const nb_optimizer *opt)
{
    return opt ? opt->o.kind : NB_OPT_SGD;
}

/* Slot 0 or 1 (n floats each, writable so a checkpoint can restore it);
 * NULL for any other k. SGD's slot 1 exists but stays zero. */
float *nb_optimizer_slot(nb_optimizer *opt, int k)
{
    if (!opt || k < 0 || k > 1)
        return NULL;
    return opt->slots + (int64_t)k * opt->n;
}

/* The step counter (writable, for checkpoints); NULL for NULL. */
int64_t *nb_optimizer_steps(nb_optimizer *opt)
{
    return opt ? &opt->steps : NULL;
}

/* ---------------------------------------------------------------- update rules
 * Each rule updates one parameter's k elements: w its values, g its
 * gradient, m and v its stretch of slots 0 and 1. Weight decay is folded
 * into the gradient first (g + λw, PyTorch's L2 form, also for Adam). SGD's
 * rule is a kernel (ops/kernels/sgd.c), shared with the outer-product path. */

/* The optimiser's SGD constants as the kernel takes them. */
static nb__sgd_rule sgd_rule(const nb_optimizer *opt)
{
    return (nb__sgd_rule){opt->o.momentum, opt->o.weight_decay, opt->o.nesterov};
}

/* Adam at step t: m ← β1m + (1-β1)g, v ← β2v + (1-β2)g²,
 * w ← w - lr/(1-β1^t) · m / (√v/√(1-β2^t) + eps), as torch computes it. */
NB__SIMD static void adam(const nb_optimizer_opts *o, float *w, const float *g, float *m,
                          float *v, int64_t k, float lr, int64_t t)
{
    float b1 = o->beta1, b2 = o->beta2, wd = o->weight_decay, eps = o->eps;
    float step_size = (float)(lr / (1.0 - pow(b1, (double)t)));
    float bc2_sqrt = (float)sqrt(1.0 - pow(b2, (double)t));
    for (int64_t i = 0; i < k; i++) {
        float gi = g[i] + wd * w[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        w[i] -= step_size * m[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
    }
}

/* RMSprop: sq ← αsq + (1-α)g²; with momentum buf ← μbuf + g/(√sq + eps)
 * and w ← w - lr·buf, else w ← w - lr·g/(√sq + eps). */
NB__SIMD static void rmsprop(const nb_optimizer_opts *o, float *w, const float *g, float *buf,
                             float *sq, int64_t k, float lr)
{
    float a = o->alpha, mu = o->momentum, wd = o->weight_decay, eps = o->eps;
    for (int64_t i = 0; i < k; i++) {
        float gi = g[i] + wd * w[i];
        sq[i] = a * sq[i] + (1 - a) * gi * gi;
        float d = gi / (sqrtf(sq[i]) + eps);
        if (mu > 0) {
            buf[i] = mu * buf[i] + d;
            d = buf[i];
        }
        w[i] -= lr * d;
    }
}

/* Elements per work item when a long parameter is updated across threads. */
#define NB__OPT_BLOCK 16384

/* Parameters shorter than this stay on one thread, without entering an
 * OpenMP construct: the update is memory-bound and fast, and a fork per
 * parameter per step cost more than it saved at batch 1 (784×256 weights). */
#define NB__OPT_PAR_MIN (1 << 20)

/* k elements of one parameter (w, g, m, v at the same offset) through the
 * chosen rule. */
static void update_span(const nb_optimizer *opt, float *w, const float *g, float *m, float *v,
                        int64_t k, float lr, int64_t t)
{
    const nb__sgd_rule rule = sgd_rule(opt);
    switch (opt->o.kind) {
    case NB_OPT_SGD: nb__sgd_update(&rule, w, g, m, k, lr); break;
    case NB_OPT_ADAM: adam(&opt->o, w, g, m, v, k, lr, t); break;
    case NB_OPT_RMSPROP: rmsprop(&opt->o, w, g, m, v, k, lr); break;
    }
}

/* Elements [from, from + k) of parameter i updated from their gradient g
 * (slots from `at`, the parameter's first element's place); every rule is
 * elementwise, so a long stretch is cut into blocks across threads. */
static void update_one(nb_optimizer *opt, int i, int64_t at, int64_t from, int64_t k,
                       const float *g, float lr, int64_t t)
{
    nb_node *p = opt->params[i];
    float *w = nb_param_data(p), *m = opt->slots + at + from, *v = opt->slots + opt->n + at + from;
    if (!w || !nb_param_trainable(p))
        return;
    w += from;
    if (k < NB__OPT_PAR_MIN || omp_get_max_threads() < 2) {
        update_span(opt, w, g, m, v, k, lr, t);
        return;
    }
    const int64_t blocks = (k + NB__OPT_BLOCK - 1) / NB__OPT_BLOCK;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
        int64_t lo = b * NB__OPT_BLOCK, len = k - lo < NB__OPT_BLOCK ? k - lo : NB__OPT_BLOCK;
        update_span(opt, w + lo, g + lo, m + lo, v + lo, len, lr, t);
    }
}

/* The values [lo, hi) of the gradient order updated at step t, parameter
 * by parameter, from g (value lo's gradient, then the next ones'). */
static void update_range(nb_optimizer *opt, const float *g, int64_t lo, int64_t hi, float lr,
                         int64_t t)
{
    int64_t at = 0;
    for (int i = 0; i < opt->n_params && at < hi; at += opt->sizes[i++]) {
        int64_t from = lo > at ? lo - at : 0, to = hi - at < opt->sizes[i] ? hi - at : opt->sizes[i];
        if (from < to)
            update_one(opt, i, at, from, to - from, g + (at + from - lo), lr, t);
    }
}

/*
 * One update of every trainable parameter from grads (nb_optimizer_size
 * floats) with learning rate lr. Parameter values are looked up afresh
 * (nb_param_data) each step, since a later nb_param call may move them.
 * Frozen parameters and their slots are left untouched. Allocates nothing.
 */
void nb_optimizer_step(nb_optimizer *opt, const float *grads, float lr)
{
    if (!opt || !grads)
        return;
    update_range(opt, grads, 0, opt->n, lr, ++opt->steps);
}

void nb__optimizer_step_ranges(nb_optimizer *opt, const float *const *g, const int64_t *ranges,
                               int n, float lr)
{
    if (!opt || !g)
        return;
    int64_t t = ++opt->steps;
    for (int k = 0; k < n; k++)
        update_range(opt, g[k], ranges[2 * k], ranges[2 * k + 1], lr, t);
}

/* Floats of an outer-product gradient formed at a time on the stack. */
#define NB__OUTER_CHUNK 512

/* Rows [r0, r1) of parameter i (values w, slots m and v) under an
 * outer-product gradient: SGD directly, the other rules through the
 * gradient formed a chunk at a time on the stack. */
static void outer_rows(const nb_optimizer *opt, float *w, float *m, float *v,
                       const nb__grad_src *s, int64_t r0, int64_t r1, float lr, int64_t t)
{
    const int64_t n = s->n;
    if (opt->o.kind == NB_OPT_SGD) {
        const nb__sgd_rule rule = sgd_rule(opt);
        nb__sgd_update_outer(&rule, w + r0 * n, m + r0 * n, s->u + r0, s->v, r1 - r0, n, lr);
        return;
    }
    float g[NB__OUTER_CHUNK];
    for (int64_t r = r0; r < r1; r++)
        for (int64_t j0 = 0; j0 < n; j0 += NB__OUTER_CHUNK) {
            int64_t len = n - j0 < NB__OUTER_CHUNK ? n - j0 : NB__OUTER_CHUNK, at = r * n + j0;
            nb__outer_row(s->u[r], s->v + j0, len, g);
            update_span(opt, w + at, g, m + at, v + at, len, lr, t);
        }
}

/* Parameter i's update (slots from `at`) from an outer-product gradient;
 * rows across threads when the parameter is long. */
static void update_outer(nb_optimizer *opt, int i, int64_t at, const nb__grad_src *s, float lr,
                         int64_t t)
{
    nb_node *p = opt->params[i];
    const int64_t k = opt->sizes[i], rows = k / s->n;
    float *w = nb_param_data(p), *m = opt->slots + at, *v = opt->slots + opt->n + at;
    if (!w || !nb_param_trainable(p))
        return;
    if (k < NB__OPT_PAR_MIN || omp_get_max_threads() < 2 || rows < 2) {
        outer_rows(opt, w, m, v, s, 0, rows, lr, t);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++)
        outer_rows(opt, w, m, v, s, r, r + 1, lr, t);
}

/* Parameters an SGD step hands the kernel in one call (nb__sgd_update_list). */
#define NB__OPT_LIST 64

/* True when opt->spans, the list an earlier step made, is this step's:
 * no parameter moved or changed its trainable flag since (stamp), and
 * each gradient lies where it lay. */
static bool spans_hold(const nb_optimizer *opt, const nb__grad_src *src, unsigned stamp)
{
    if (!opt->spans_ok || stamp != opt->spans_stamp)
        return false;
    for (int i = 0; i < opt->n_params; i++)
        if (src[i].g != opt->span_g[i])
            return false;
    return true;
}

/* True when every gradient of the step lies in memory. */
static bool all_in_memory(const nb_optimizer *opt, const nb__grad_src *src)
{
    for (int i = 0; i < opt->n_params; i++)
        if (!src[i].g)
            return false;
    return true;
}

/* Lists the step of every trainable parameter (all short, each gradient
 * in memory) in opt->spans, for this step and the next ones it holds for. */
static void make_spans(nb_optimizer *opt, const nb__grad_src *src, unsigned stamp)
{
    int64_t at = 0;
    opt->n_spans = 0;
    for (int i = 0; i < opt->n_params; at += opt->sizes[i++]) {
        nb_node *p = opt->params[i];
        float *w = nb_param_data(p);
        opt->span_g[i] = src[i].g;
        if (w && nb_param_trainable(p))
            opt->spans[opt->n_spans++] = (nb__sgd_span){.w = w, .g = src[i].g,
                                                        .m = opt->slots + at, .k = opt->sizes[i]};
    }
    opt->spans_ok = true;
    opt->spans_stamp = stamp;
}

/*
 * SGD's short parameters (NB__SGD_LIST_MAX floats at most) whose gradient
 * lies in memory are updated by one kernel call per NB__OPT_LIST of them,
 * the others (outer products, longer parameters, other rules) one by one
 * as before; all in the list's order, so the values are those of one call
 * per parameter. A small network's step (XOR: four parameters of one to
 * four floats) paid more for the calls than for the arithmetic. When every
 * parameter is such, the list is kept from step to step and made again
 * only when the parameters (stamp) or the gradients' places changed: the
 * lookups of each parameter's values and flag were a tenth of XOR's step.
 */
void nb__optimizer_step_src(nb_optimizer *opt, const nb__grad_src *src, float lr, unsigned stamp)
{
    if (!opt || !src)
        return;
    bool listed = opt->short_sgd && spans_hold(opt, src, stamp);
    if (opt->short_sgd && !listed && all_in_memory(opt, src)) {
        make_spans(opt, src, stamp);
        listed = true;
    }
    if (listed) {
        const nb__sgd_rule rule = sgd_rule(opt);
        opt->steps++;
        nb__sgd_update_list(&rule, opt->spans, opt->n_spans, lr);
        return;
    }
    int64_t t = ++opt->steps, at = 0;
    const nb__sgd_rule rule = sgd_rule(opt);
    nb__sgd_span list[NB__OPT_LIST];
    int n = 0;
    for (int i = 0; i < opt->n_params; at += opt->sizes[i++]) {
        const int64_t k = opt->sizes[i];
        if (opt->o.kind == NB_OPT_SGD && src[i].g && k <= NB__SGD_LIST_MAX) {
            nb_node *p = opt->params[i];
            float *w = nb_param_data(p);
            if (w && nb_param_trainable(p))
                list[n++] = (nb__sgd_span){.w = w, .g = src[i].g, .m = opt->slots + at, .k = k};
            if (n == NB__OPT_LIST)
                nb__sgd_update_list(&rule, list, n, lr), n = 0;
            continue;
        }
        if (n > 0)
            nb__sgd_update_list(&rule, list, n, lr), n = 0;
        if (src[i].g)
            update_one(opt, i, at, 0, k, src[i].g, lr, t);
        else
            update_outer(opt, i, at, &src[i], lr, t);
    }
    if (n > 0)
        nb__sgd_update_list(&rule, list, n, lr);
}

/* ---------------------------------------------------------------- clipping */

/*
 * The global L2 norm of grads[0..n), summed in double. When it exceeds
 * max_norm (> 0) every element is scaled by max_norm / norm. A norm that is
 * not finite (an overflowed or NaN gradient) is returned without scaling, so
 * the caller sees it rather than a buffer silently turned to NaN or zero.
 * Returns the norm before clipping; 0 for an empty or NULL buffer.
 */
double nb_clip_grad_norm(float *grads, int64_t n, double max_norm)
{
    if (!grads || n <= 0)
        return 0;
    double ss = 0;
    for (int64_t i = 0; i < n; i++)
        ss += (double)grads[i] * grads[i];
    double norm = sqrt(ss);
    if (max_norm > 0 && norm > max_norm && isfinite(norm)) {
        float scale = (float)(max_norm / norm);
        for (int64_t i = 0; i < n; i++)
            grads[i] *= scale;
    }
    return norm;
}
