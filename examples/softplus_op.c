/*
 * softplus_op.c — a new primitive op registered from C, used like a
 * built-in one.
 *
 *     softplus(x) = log(1 + e^x) = log1p(e^-|x|) + max(x, 0)   (stable)
 *     d/dx        = σ(x)
 *     d²/dx²      = σ(x)(1 - σ(x))
 *
 * An op is one nb_op_def: a name, a shape rule, a forward kernel (a plain
 * loop over floats) and a vjp rule written with the ordinary builders. Here
 * the vjp is dy · σ(x) through nb_mul and nb_sigmoid, so the gradient is
 * itself a graph and can be differentiated again. The program shows the op
 * everywhere a built-in one goes:
 *
 *   1. forward: against log(1 + e^x) in double, from -100 to 100;
 *   2. autodiff: nb_gradcheck of Σ R ⊙ softplus(x·W) with respect to the
 *      input x and the parameter W, report printed;
 *   3. second derivatives: the gradient of Σ σ(v) (the first gradient)
 *      against σ(1 - σ), and gradcheck of the first gradient;
 *   4. the planner and a loop: a student softplus(x·W + b) learns a
 *      teacher's targets by SGD; the runtime plans the graph (in place where
 *      the elementwise flag allows) and the loss falls.
 *
 * Usage: softplus_op. Exits 0 only when every check passes; the last line
 * reads "softplus_op: all checks passed".
 */
#include <math.h>
#include <stdio.h>

#include "nabla.h"

/* ---------------------------------------------------------------- the op */

/* The output has the input's shape. */
static nb_status softplus_shape(nb_graph *g, const nb_node *n, nb_shape *out)
{
    (void)g;
    *out = nb_node_shape(nb_node_input(n, 0));
    return NB_OK;
}

/* x [any] -> out [same]. out may be x itself (NB_OP_ELEMENTWISE lets the
 * planner run the op in place): element i is read before it is written.
 * log1p(e^-|x|) never overflows, and max(x, 0) carries large x exactly. */
static void softplus_forward(const nb_node *n, const float *const *in, float *out)
{
    int64_t count = nb_shape_numel(nb_node_shape(n));
    const float *x = in[0];
    for (int64_t i = 0; i < count; i++) {
        float v = x[i];
        out[i] = log1pf(expf(-fabsf(v))) + fmaxf(v, 0.0f);
    }
}

/* dx = dy · σ(x), with builders only: differentiable again. */
static nb_status softplus_vjp(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx)
{
    dx[0] = nb_mul(g, dy, nb_sigmoid(g, nb_node_input(n, 0)));
    return dx[0] ? NB_OK : nb_graph_status(g);
}

static const nb_op_def softplus_def = {
    .name = "softplus",
    .arity = 1,
    .flags = NB_OP_ELEMENTWISE,
    .shape = softplus_shape,
    .forward = softplus_forward,
    .vjp = softplus_vjp,
};

/* The builder a user would write: softplus(x), x's shape. */
static nb_node *softplus(nb_graph *g, nb_node *x)
{
    return nb_custom(g, &softplus_def, &x, 1, NULL);
}

/* ---------------------------------------------------------------- helpers */

/* Uniform values in [lo, hi) from a seeded generator. */
static void fill(float *x, int n, nb_rng *r, float lo, float hi)
{
    for (int i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * nb_rng_uniform(r);
}

/* Runs a runtime for outs[0..n) once; NULL with the message printed if
 * compiling or running failed. The caller frees the runtime. */
static nb_runtime *run_once(nb_graph *g, nb_node *const *outs, int n, nb_node *in,
                            const float *data)
{
    nb_runtime *rt = nb_runtime_new(g, outs, n);
    if (!rt) {
        fprintf(stderr, "softplus_op: %s\n", nb_graph_error(g));
        return NULL;
    }
    if ((in && nb_runtime_set_input(rt, in, data) != NB_OK) || nb_runtime_run(rt) != NB_OK) {
        fprintf(stderr, "softplus_op: %s\n", nb_runtime_error(rt));
        nb_runtime_free(rt);
        return NULL;
    }
    return rt;
}

static double sigmoid(double x)
{
    return 1 / (1 + exp(-x));
}

/* ---------------------------------------------------------------- 1. forward */

static bool check_forward(void)
{
    enum { N = 9 };
    const float xs[N] = {-50, -20, -3, -0.5f, 0, 0.5f, 3, 20, 100};
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_constant(g, NB_SHAPE(N), xs), *y = softplus(g, x);
    nb_runtime *rt = y ? run_once(g, &y, 1, NULL, NULL) : NULL;
    bool ok = rt != NULL;
    if (!y)
        fprintf(stderr, "softplus_op: %s\n", nb_graph_error(g));
    for (int i = 0; ok && i < N; i++) {
        double want = xs[i] > 0 ? xs[i] + log1p(exp(-xs[i])) : log1p(exp(xs[i]));
        double got = nb_runtime_value(rt, y)[i];
        ok = isfinite(got) && fabs(got - want) <= 1e-6 * fmax(1, fabs(want)) + 1e-30;
        printf("  softplus(%6.1f) = %-13.7g (log(1 + e^x) = %.7g)%s\n", xs[i], got, want,
               ok ? "" : "  WRONG");
    }
    nb_runtime_free(rt);
    nb_graph_free(g);
    return ok;
}

/* ---------------------------------------------------------------- 2. gradients */

/* Σ R ⊙ softplus(x·W) checked against finite differences for the input x
 * [4,3] and the parameter W [3,2]. */
static bool check_gradients(void)
{
    nb_rng r = nb_rng_seed(7);
    float xv[12], wv[6];
    fill(xv, 12, &r, -2, 2);
    fill(wv, 6, &r, -1, 1);
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(4, 3));
    nb_node *w = nb_param(g, "W", NB_SHAPE(3, 2), wv);
    nb_node *y = nb_name(softplus(g, nb_matmul(g, x, w, false, false)), "y");
    nb_node *wrt[2] = {x, w};
    nb_feed feed = {x, xv};
    nb_gradcheck_report rep = {0};
    nb_status st = y ? nb_gradcheck(g, y, wrt, 2, &feed, 1, NULL, &rep) : nb_graph_status(g);
    char label[64] = "-";
    if (rep.worst_node)
        nb_node_label(rep.worst_node, label, sizeof label);
    printf("  gradcheck softplus(x·W): %lld elements checked, worst error %.3g at %s[%lld] "
           "(analytic %.6g, numeric %.6g; above 1 fails)\n", (long long)rep.checked,
           rep.worst_error, label, (long long)rep.worst_index, rep.analytic, rep.numeric);
    if (st != NB_OK)
        fprintf(stderr, "softplus_op: %s\n", nb_graph_error(g));
    nb_graph_free(g);
    return st == NB_OK && rep.checked == 18;
}

/* ---------------------------------------------------------------- 3. twice */

/* s = Σ softplus(v): ∇s = σ(v), and ∇(Σ ∇s) = σ(v)(1 - σ(v)) elementwise.
 * Both against the formulas, then the first gradient by gradcheck. */
static bool check_second_derivative(void)
{
    enum { N = 6 };
    const float vv[N] = {-3, -1.2f, -0.3f, 0.4f, 1.5f, 2.5f};
    nb_graph *g = nb_graph_new();
    nb_node *v = nb_param(g, "v", NB_SHAPE(N), vv);
    nb_node *s = nb_sum(g, softplus(g, v), NULL, 0, false), *d1 = NULL, *d2 = NULL;
    bool ok = nb_grad(g, s, &v, 1, &d1) == NB_OK &&
              nb_grad(g, nb_sum(g, d1, NULL, 0, false), &v, 1, &d2) == NB_OK;
    if (!ok) {
        fprintf(stderr, "softplus_op: %s\n", nb_graph_error(g));
        nb_graph_free(g);
        return false;
    }
    nb_node *outs[2] = {d1, d2};
    nb_runtime *rt = run_once(g, outs, 2, NULL, NULL);
    double worst1 = 0, worst2 = 0;
    for (int i = 0; rt && i < N; i++) {
        double sg = sigmoid(vv[i]);
        worst1 = fmax(worst1, fabs(nb_runtime_value(rt, d1)[i] - sg));
        worst2 = fmax(worst2, fabs(nb_runtime_value(rt, d2)[i] - sg * (1 - sg)));
    }
    printf("  first derivative vs sigma(v): max error %.3g; second vs sigma(1 - sigma): %.3g\n",
           worst1, worst2);
    ok = rt && worst1 < 1e-6 && worst2 < 1e-6;
    nb_runtime_free(rt);
    nb_gradcheck_report rep = {0};
    if (ok && nb_gradcheck(g, d1, &v, 1, NULL, 0, NULL, &rep) != NB_OK) {
        fprintf(stderr, "softplus_op: %s\n", nb_graph_error(g));
        ok = false;
    }
    printf("  gradcheck of the gradient: %lld elements checked, worst error %.3g\n",
           (long long)rep.checked, rep.worst_error);
    nb_graph_free(g);
    return ok && rep.checked == N;
}

/* ---------------------------------------------------------------- 4. training */

enum { BATCH = 16, IN = 3, OUT = 2, STEPS = 300 };

/* The mean squared error of a student softplus(x·W + b) against targets,
 * with its gradients; x and t are inputs. */
typedef struct student {
    nb_node *x, *t, *w, *b, *loss, *dw, *db;
} student;

static bool student_build(nb_graph *g, student *s)
{
    s->x = nb_input(g, "x", NB_SHAPE(BATCH, IN));
    s->t = nb_input(g, "t", NB_SHAPE(BATCH, OUT));
    s->w = nb_param(g, "W", NB_SHAPE(IN, OUT), NULL);
    s->b = nb_param(g, "b", NB_SHAPE(OUT), NULL);
    nb_node *a = softplus(g, nb_add(g, nb_matmul(g, s->x, s->w, false, false), s->b));
    nb_node *e = nb_sub(g, a, s->t);
    s->loss = nb_mean(g, nb_mul(g, e, e), NULL, 0, false);
    nb_node *p[2] = {s->w, s->b}, *d[2];
    if (nb_grad(g, s->loss, p, 2, d) != NB_OK)
        return false;
    s->dw = d[0], s->db = d[1];
    return true;
}

/* p -= lr · dp for both parameters, with the gradients of the last run. */
static void sgd_step(nb_runtime *rt, const student *s, float lr)
{
    nb_node *p[2] = {s->w, s->b}, *d[2] = {s->dw, s->db};
    for (int k = 0; k < 2; k++) {
        float *v = nb_param_data(p[k]);
        const float *gv = nb_runtime_value(rt, d[k]);
        for (int64_t i = 0; i < nb_shape_numel(nb_node_shape(p[k])); i++)
            v[i] -= lr * gv[i];
    }
}

/* Targets from a teacher: t = softplus(x·W* + b*), computed in double. */
static void teacher(const float *x, float *t)
{
    static const double w[IN][OUT] = {{1.5, -0.5}, {-1, 0.8}, {0.5, 1.2}}, b[OUT] = {0.2, -0.3};
    for (int n = 0; n < BATCH; n++)
        for (int j = 0; j < OUT; j++) {
            double z = b[j];
            for (int i = 0; i < IN; i++)
                z += x[n * IN + i] * w[i][j];
            t[n * OUT + j] = (float)(fmax(z, 0) + log1p(exp(-fabs(z))));
        }
}

/* SGD on fresh batches; passes when the loss falls below a tenth of the
 * first one. */
static bool check_training(void)
{
    nb_graph *g = nb_graph_new();
    student s;
    nb_runtime *rt = NULL;
    if (student_build(g, &s)) {
        nb_node *outs[3] = {s.loss, s.dw, s.db};
        rt = nb_runtime_new(g, outs, 3);
    }
    if (!rt) {
        fprintf(stderr, "softplus_op: %s\n", nb_graph_error(g));
        nb_graph_free(g);
        return false;
    }
    printf("  planner: %d steps, %zu bytes planned (%zu without reuse)\n", nb_runtime_num_steps(rt),
           nb_runtime_planned_bytes(rt), nb_runtime_naive_bytes(rt));
    nb_rng r = nb_rng_seed(3);
    float x[BATCH * IN], t[BATCH * OUT];
    double first = -1, last = -1;
    for (int step = 1; step <= STEPS; step++) {
        fill(x, BATCH * IN, &r, -1, 1);
        teacher(x, t);
        if (nb_runtime_set_input(rt, s.x, x) || nb_runtime_set_input(rt, s.t, t) ||
            nb_runtime_run(rt)) {
            fprintf(stderr, "softplus_op: %s\n", nb_runtime_error(rt));
            break;
        }
        last = nb_runtime_value(rt, s.loss)[0];
        first = first < 0 ? last : first;
        if (step == 1 || step % 50 == 0)
            printf("  step %3d  loss %.6f\n", step, last);
        sgd_step(rt, &s, 0.3f);
    }
    nb_runtime_free(rt);
    nb_graph_free(g);
    return last >= 0 && last < 0.1 * first;
}

/* ---------------------------------------------------------------- main */

int main(void)
{
    struct {
        const char *name;
        bool (*check)(void);
    } checks[] = {
        {"forward", check_forward},
        {"gradient check", check_gradients},
        {"second derivative", check_second_derivative},
        {"training", check_training},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        printf("%s:\n", checks[i].name);
        bool ok = checks[i].check();
        printf("  %s\n", ok ? "ok" : "FAILED");
        failed += !ok;
    }
    if (failed) {
        printf("softplus_op: %d check%s failed\n", failed, failed > 1 ? "s" : "");
        return 1;
    }
    printf("softplus_op: all checks passed\n");
    return 0;
}
