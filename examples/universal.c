/*
 * universal.c — universal approximation, seen: what one and two hidden
 * layers of neurons can represent.
 *
 *  (a) A function. One hidden layer of H tanh units and a linear output,
 *
 *          f(x) = Σ_h v_h · tanh(w_h x + b_h) + c,
 *
 *      is fitted to sin on [-π, π] (200 evenly spaced points, squared loss,
 *      full-batch Adam with a cosine schedule). For H = 2, 4, 8, 16, 32 a
 *      table gives the maximum and mean error on a dense grid of 2001
 *      points of three nets: the construction from the theorem's proof (a
 *      staircase of H smoothed steps, no training), whose error falls like
 *      1/H; the net trained from that construction, whose error falls much
 *      faster; and, for comparison, a net trained from random weights. A
 *      picture shows the trained fits and their errors on a log scale
 *      (sin_fit.png).
 *
 *  (b) A convex region. A two-layer net (one hidden layer) separates the
 *      inside of a regular pentagon from the outside: each hidden unit is a
 *      soft half-plane, the output an AND of them (region_b_pentagon.png).
 *
 *  (c) A non-convex, disconnected region: an L-shape and a triangle far
 *      apart. A three-layer net (two hidden layers) ANDs half-planes into
 *      convex pieces in its first two layers and ORs the pieces at the
 *      output; a two-layer net of about the same size must do it all with
 *      one layer of half-planes, and is compared (region_c_*.png).
 *
 * Each picture colours every pixel of a 300×300 grid over [-1, 1]² by the
 * predicted class (blue inside, cream outside) and draws the true boundary
 * in black; the accuracy printed is over the same grid, which the nets
 * never saw (they train on 2000 random points). Classifiers output a logit
 * and learn with the logistic loss (nb_bce_with_logits).
 *
 * The nets are written with nb_dense; one graph holds the training batch,
 * the loss and its gradients (nb_grad) and, sharing the parameters by name
 * (reuse), the same net on the evaluation grid; nb_optimizer does Adam.
 *
 *     universal [--quick] [--out DIR]      (DIR defaults to out/)
 *
 * --quick trains less, fits H = 2 and 16 only and skips the comparison
 * in (c): the test. Deterministic (fixed seeds, one thread).
 * Exits 0 only if the claims hold: the maximum error for the largest H is
 * below a quarter of that for H = 2, and the grid accuracies reach 0.97 (b)
 * and 0.95 (c) for the three-layer net.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmdline.h"
#include "label.h"
#include "nabla.h"

#define PI 3.14159265358979323846

#define SIN_TRAIN 200    /* training points on [-π, π] */
#define SIN_TEST 2001    /* the dense test grid */
#define PLANE_TRAIN 2000 /* random training points in [-1, 1]² */
#define GRID 300         /* the picture and test grid: GRID × GRID pixels */
#define MAX_HIDDEN 2

typedef struct settings {
    bool quick;
    const char *out;
} settings;

/* ---------------------------------------------------------------- nets */

typedef enum loss_kind { LOSS_SQUARED, LOSS_LOGISTIC } loss_kind;

/* A fully connected tanh net in → hidden[0] → … → 1 (linear output). */
typedef struct net_spec {
    int in;
    int n_hidden;
    int hidden[MAX_HIDDEN];
    loss_kind loss;
} net_spec;

/* The net twice in one graph, sharing parameters: on the training batch
 * (with the loss and its gradients) and on the evaluation batch. */
typedef struct net {
    nb_graph *g;
    nb_node *x, *y, *loss;        /* training batch: x [n, in], y [n, 1] */
    nb_node *xq, *outq;           /* evaluation: xq [m, in] → outq [m, 1] */
    int n_params;
    nb_node **params, **grads;
    nb_runtime *train_rt, *eval_rt;
    nb_optimizer *opt;
    float *gbuf;                  /* the gradients laid end to end */
} net;

/* x [N, in] → [N, 1] through spec's tanh layers ("hidden1", …, "out").
 * Under reuse a second call shares the first call's parameters. */
static nb_node *forward(nb_graph *g, nb_node *x, const net_spec *spec)
{
    char name[24];
    for (int l = 0; l < spec->n_hidden; l++) {
        snprintf(name, sizeof name, "hidden%d", l + 1);
        x = nb_dense(g, x, (nb_dense_opts){.units = spec->hidden[l],
                                           .activation = NB_ACT_TANH, .name = name});
    }
    return nb_dense(g, x, (nb_dense_opts){.units = 1, .name = "out"});
}

/* Builds the graph: forward and loss on n training rows, gradients of the
 * loss for every parameter, forward on m evaluation rows. Weights are
 * Glorot uniform from seed. Returns false with the message in nt->g. */
static bool net_build(net *nt, const net_spec *spec, int64_t n, int64_t m, uint64_t seed)
{
    nb_graph *g = nt->g;
    nb_graph_seed(g, seed);
    nt->x = nb_input(g, "x", NB_SHAPE(n, spec->in));
    nt->y = nb_input(g, "y", NB_SHAPE(n, 1));
    nb_node *out = forward(g, nt->x, spec);
    nt->loss = spec->loss == LOSS_SQUARED ? nb_mse_loss(g, out, nt->y)
                                          : nb_bce_with_logits(g, out, nt->y);
    nb_graph_set_reuse(g, true);
    nt->xq = nb_input(g, "xq", NB_SHAPE(m, spec->in));
    nt->outq = forward(g, nt->xq, spec);
    if (!nt->loss || !nt->outq)
        return false;
    nt->n_params = nb_graph_num_params(g);
    nt->params = calloc((size_t)nt->n_params, sizeof *nt->params);
    nt->grads = calloc((size_t)nt->n_params, sizeof *nt->grads);
    if (!nt->params || !nt->grads)
        return nb_graph_fail(g, NB_ERR_NOMEM, "universal: out of memory"), false;
    for (int i = 0; i < nt->n_params; i++)
        nt->params[i] = nb_graph_param(g, i);
    return nb_grad(g, nt->loss, nt->params, nt->n_params, nt->grads) == NB_OK;
}

/* Compiles the two runtimes and the Adam optimiser. False on failure
 * (message printed). */
static bool net_compile(net *nt, float lr)
{
    nb_node **outs = calloc((size_t)nt->n_params + 1, sizeof *outs);
    if (!outs)
        return false;
    outs[0] = nt->loss;
    memcpy(outs + 1, nt->grads, (size_t)nt->n_params * sizeof *outs);
    nt->train_rt = nb_runtime_new(nt->g, outs, nt->n_params + 1);
    free(outs);
    nt->eval_rt = nt->train_rt ? nb_runtime_new(nt->g, &nt->outq, 1) : NULL;
    if (!nt->eval_rt) {
        fprintf(stderr, "universal: %s\n", nb_graph_error(nt->g));
        return false;
    }
    nb_optimizer_opts adam = nb_optimizer_defaults(NB_OPT_ADAM);
    adam.lr = lr;
    nb_error err = {0};
    nt->opt = nb_optimizer_new(adam, nt->params, nt->n_params, &err);
    nt->gbuf = nt->opt ? malloc((size_t)nb_optimizer_size(nt->opt) * sizeof(float)) : NULL;
    if (!nt->gbuf)
        fprintf(stderr, "universal: %s\n", nt->opt ? "out of memory for the gradients"
                                                   : err.message);
    return nt->gbuf != NULL;
}

static void net_free(net *nt)
{
    free(nt->gbuf);
    nb_optimizer_free(nt->opt);
    nb_runtime_free(nt->eval_rt);
    nb_runtime_free(nt->train_rt);
    free(nt->params);
    free(nt->grads);
    nb_graph_free(nt->g);
}

/* A compiled net for spec with n training rows and m evaluation rows, or
 * false (message printed). net_free it in either case. */
static bool net_new(net *nt, const net_spec *spec, int64_t n, int64_t m, uint64_t seed, float lr)
{
    *nt = (net){.g = nb_graph_new()};
    if (!nt->g)
        return fprintf(stderr, "universal: out of memory\n"), false;
    if (!net_build(nt, spec, n, m, seed)) {
        fprintf(stderr, "universal: %s\n", nb_graph_error(nt->g));
        return false;
    }
    return net_compile(nt, lr);
}

/* Trainable parameters (weights and biases) of the net. */
static int64_t net_size(const net *nt)
{
    return nb_optimizer_size(nt->opt);
}

/*
 * `steps` full-batch Adam steps on (x, y) with a cosine schedule from lr
 * down to lr/100. Returns the loss at the last step, or -1 on error
 * (printed).
 */
static double net_train(net *nt, const float *x, const float *y, int64_t steps, float lr)
{
    nb_schedule cos = {.kind = NB_SCHEDULE_COSINE, .total = steps, .min_ratio = 0.01f};
    if (nb_runtime_set_input(nt->train_rt, nt->x, x) != NB_OK ||
        nb_runtime_set_input(nt->train_rt, nt->y, y) != NB_OK)
        return fprintf(stderr, "universal: %s\n", nb_runtime_error(nt->train_rt)), -1;
    double loss = -1;
    for (int64_t s = 0; s < steps; s++) {
        if (nb_runtime_run(nt->train_rt) != NB_OK)
            return fprintf(stderr, "universal: %s\n", nb_runtime_error(nt->train_rt)), -1;
        loss = nb_runtime_value(nt->train_rt, nt->loss)[0];
        float *at = nt->gbuf;
        for (int i = 0; i < nt->n_params; i++) {
            int64_t k = nb_shape_numel(nb_node_shape(nt->params[i]));
            memcpy(at, nb_runtime_value(nt->train_rt, nt->grads[i]), (size_t)k * sizeof *at);
            at += k;
        }
        nb_optimizer_step(nt->opt, nt->gbuf, nb_schedule_lr(cos, lr, s));
    }
    return loss;
}

/* The net's outputs on the evaluation rows xq, or NULL (printed). Valid
 * until the next call. */
static const float *net_eval(net *nt, const float *xq)
{
    if (nb_runtime_set_input(nt->eval_rt, nt->xq, xq) != NB_OK ||
        nb_runtime_run(nt->eval_rt) != NB_OK) {
        fprintf(stderr, "universal: %s\n", nb_runtime_error(nt->eval_rt));
        return NULL;
    }
    return nb_runtime_value(nt->eval_rt, nt->outq);
}

/* ---------------------------------------------------------------- pictures */

typedef struct rgb {
    uint8_t r, g, b;
} rgb;

/* An RGB canvas, row 0 at the top. */
typedef struct canvas {
    int w, h;
    uint8_t *px;
} canvas;

static bool canvas_new(canvas *c, int w, int h, rgb fill)
{
    *c = (canvas){.w = w, .h = h, .px = malloc((size_t)w * (size_t)h * 3)};
    if (!c->px)
        return false;
    for (int i = 0; i < w * h; i++)
        c->px[3 * i] = fill.r, c->px[3 * i + 1] = fill.g, c->px[3 * i + 2] = fill.b;
    return true;
}

/* Sets pixel (x, y); outside the canvas does nothing. */
static void plot(canvas *c, int x, int y, rgb col)
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h)
        return;
    uint8_t *p = c->px + 3 * ((size_t)y * (size_t)c->w + (size_t)x);
    p[0] = col.r, p[1] = col.g, p[2] = col.b;
}

/* A line from (x0, y0) to (x1, y1), Bresenham, `thick` pixels tall. */
static void line(canvas *c, int x0, int y0, int x1, int y1, rgb col, int thick)
{
    int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (;;) {
        for (int t = 0; t < thick; t++)
            plot(c, x0, y0 + t, col);
        if (x0 == x1 && y0 == y1)
            return;
        int e2 = 2 * err;
        if (e2 >= dy)
            err += dy, x0 += sx;
        if (e2 <= dx)
            err += dx, y0 += sy;
    }
}

/* Text at (x, y) in label.h's font, each font pixel scale pixels square. */
static void text(canvas *c, int x, int y, const char *s, rgb col, int scale)
{
    label_draw(c->px, c->w, c->h, 3, x, y, s, scale, (uint8_t[3]){col.r, col.g, col.b});
}

/* Writes the canvas to DIR/name. */
static bool canvas_save(const canvas *c, const settings *st, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", st->out, name);
    nb_error err = {0};
    if (nb_png_write(path, c->w, c->h, 3, c->px, &err) != NB_OK) {
        fprintf(stderr, "universal: %s\n", err.message);
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------- (a) sin */

static const rgb black = {0, 0, 0}, grey = {200, 200, 200};
static const rgb palette[] = {{220, 40, 40}, {240, 150, 0}, {40, 160, 60}, {40, 90, 220},
                              {170, 50, 200}};

/* The lecture's construction behind the theorem: put H + 1 nodes x_h
 * evenly on [-π, π], Δ apart, and climb from f(x_{h-1}) to f(x_h) with a
 * smoothed step at their midpoint m_h,
 *
 *     f(x) ≈ f(x_0) + Σ_h (f(x_h) - f(x_{h-1})) · (1 + tanh((x - m_h)/Δ)) / 2,
 *
 * which is a 1-H-1 tanh net: w_h = 1/Δ, b_h = -m_h/Δ, v_h = half the step,
 * and the output bias collects f(x_0) and the halves. Its error is of the
 * order of the largest step, max|f'|·Δ: it falls like 1/H. (For H = 2 the
 * nodes -π, 0, π all have sin = 0, and the construction is the zero
 * function.) Training starts from it. Sets the parameters of nt. */
static void construct_sin(net *nt, int hidden)
{
    float *w = nb_param_data(nb_graph_find(nt->g, "hidden1/w"));
    float *b = nb_param_data(nb_graph_find(nt->g, "hidden1/b"));
    float *v = nb_param_data(nb_graph_find(nt->g, "out/w"));
    float *c = nb_param_data(nb_graph_find(nt->g, "out/b"));
    double delta = 2 * PI / hidden, bias = sin(-PI);
    for (int h = 0; h < hidden; h++) {
        double lo = -PI + h * delta, step = sin(lo + delta) - sin(lo);
        w[h] = (float)(1 / delta), b[h] = (float)(-(lo + delta / 2) / delta);
        v[h] = (float)(step / 2), bias += step / 2;
    }
    c[0] = (float)bias;
}

typedef struct sin_fit {
    int hidden;
    bool construct;               /* start from the construction, else random */
    double start_max_err;         /* before training */
    double max_err, mean_err, loss;
    int64_t steps, params;
    float *pred;                  /* SIN_TEST predictions after training */
} sin_fit;

/* Maximum and mean |p - sin| over the test grid. */
static void sin_errors(const float *p, const float *xt, double *max_err, double *mean_err)
{
    *max_err = 0, *mean_err = 0;
    for (int i = 0; i < SIN_TEST; i++) {
        double e = fabs(p[i] - sin(xt[i]));
        *max_err = e > *max_err ? e : *max_err;
        *mean_err += e / SIN_TEST;
    }
}

/* Fits an H-unit net to sin on the training points (x, y) by `steps`
 * full-batch Adam steps, from the construction or from random (Glorot)
 * weights, and measures it on the test grid xt. False on error. */
static bool fit_sin(sin_fit *f, const float *x, const float *y, const float *xt, int64_t steps)
{
    net_spec spec = {.in = 1, .n_hidden = 1, .hidden = {f->hidden}, .loss = LOSS_SQUARED};
    net nt;
    double mean;
    bool ok = net_new(&nt, &spec, SIN_TRAIN, SIN_TEST, 1000 + (uint64_t)f->hidden, 0.01f);
    if (ok && f->construct)
        construct_sin(&nt, f->hidden);
    const float *p = ok ? net_eval(&nt, xt) : NULL;
    if (p)
        sin_errors(p, xt, &f->start_max_err, &mean);
    f->loss = p ? net_train(&nt, x, y, steps, 0.01f) : -1;
    p = f->loss >= 0 ? net_eval(&nt, xt) : NULL;
    f->pred = p ? malloc(SIN_TEST * sizeof(float)) : NULL;
    if (f->pred) {
        memcpy(f->pred, p, SIN_TEST * sizeof(float));
        f->steps = steps, f->params = net_size(&nt);
        sin_errors(p, xt, &f->max_err, &f->mean_err);
    }
    net_free(&nt);
    return f->pred != NULL;
}

/* Top panel: sin (thick black) and each fit; bottom panel: log10 |error|
 * from 10^0 (top) to 10^-5 (bottom), a grey line per decade; a legend of
 * coloured "H=…" labels. */
static bool draw_sin(const sin_fit *fits, int n, const float *xt, const settings *st)
{
    enum { W = 640, TOP = 260, GAP = 20, BOT = 200, H = TOP + GAP + BOT };
    canvas c;
    if (!canvas_new(&c, W, H, (rgb){255, 255, 255}))
        return false;
    line(&c, 0, TOP / 2, W - 1, TOP / 2, grey, 1);
    line(&c, 0, TOP + GAP / 2, W - 1, TOP + GAP / 2, black, 1);
    for (int d = 0; d <= 5; d++)
        line(&c, 0, TOP + GAP + d * (BOT - 1) / 5, W - 1, TOP + GAP + d * (BOT - 1) / 5, grey, 1);
    int px0 = 0, py0 = 0;
    for (int i = 0; i < SIN_TEST; i++) {
        int px = (int)((xt[i] + PI) / (2 * PI) * (W - 1));
        int py = (int)((1.25 - sin(xt[i])) / 2.5 * (TOP - 1));
        if (i)
            line(&c, px0, py0, px, py, black, 3);
        px0 = px, py0 = py;
    }
    for (int k = 0; k < n; k++) {
        rgb col = palette[k % 5];
        for (int i = 1; i < SIN_TEST; i++) {
            int xa = (int)((xt[i - 1] + PI) / (2 * PI) * (W - 1));
            int xb = (int)((xt[i] + PI) / (2 * PI) * (W - 1));
            int ya = (int)((1.25 - fits[k].pred[i - 1]) / 2.5 * (TOP - 1));
            int yb = (int)((1.25 - fits[k].pred[i]) / 2.5 * (TOP - 1));
            line(&c, xa, ya, xb, yb, col, 1);
            double ea = fabs(fits[k].pred[i - 1] - sin(xt[i - 1]));
            double eb = fabs(fits[k].pred[i] - sin(xt[i]));
            ea = fmax(-log10(fmax(ea, 1e-5)), 0), eb = fmax(-log10(fmax(eb, 1e-5)), 0);
            line(&c, xa, TOP + GAP + (int)(ea / 5 * (BOT - 1)), xb,
                 TOP + GAP + (int)(eb / 5 * (BOT - 1)), col, 1);
        }
        char label[16];
        snprintf(label, sizeof label, "H=%d", fits[k].hidden);
        text(&c, 8 + 64 * k, 8, label, col, 2);
    }
    text(&c, W - 8 - label_width("sin (black), trained fits", 1), 8, "sin (black), trained fits",
         black, 1);
    text(&c, W - 8 - label_width("|error|, log scale: 1 at the top, 1e-5 at the bottom", 1),
         TOP + GAP + 4, "|error|, log scale: 1 at the top, 1e-5 at the bottom", black, 1);
    bool ok = canvas_save(&c, st, "sin_fit.png");
    free(c.px);
    return ok;
}

/* Part (a): the table of errors against H and the picture (of the nets
 * trained from the construction). Each H is trained twice, from the
 * construction and from random weights. Returns false when something
 * failed or the claim does not hold: the largest H's maximum error
 * (trained from the construction) is below a quarter of H = 2's. */
static bool part_a(const settings *st)
{
    static const int full[] = {2, 4, 8, 16, 32}, quick[] = {2, 16};
    const int *hs = st->quick ? quick : full;
    int n = st->quick ? 2 : 5;
    int64_t steps = st->quick ? 3000 : 20000;
    float x[SIN_TRAIN], y[SIN_TRAIN], xt[SIN_TEST];
    for (int i = 0; i < SIN_TRAIN; i++)
        x[i] = (float)(-PI + 2 * PI * i / (SIN_TRAIN - 1)), y[i] = (float)sin(x[i]);
    for (int i = 0; i < SIN_TEST; i++)
        xt[i] = (float)(-PI + 2 * PI * i / (SIN_TEST - 1));
    printf("(a) sin on [-pi, pi]: 1-H-1 tanh nets, %d training points, %lld full-batch Adam "
           "steps, errors on %d test points\n", SIN_TRAIN, (long long)steps, SIN_TEST);
    printf("         |  construction  |   trained from the construction    | trained from random\n");
    printf("    H  params   max |err|  |  train loss   max |err|  mean |err| |  max |err|  mean |err|\n");
    sin_fit fits[5] = {0}, rnd = {0};
    bool ok = true;
    for (int k = 0; k < n && ok; k++) {
        fits[k] = (sin_fit){.hidden = hs[k], .construct = true};
        rnd = (sin_fit){.hidden = hs[k]};
        ok = fit_sin(&fits[k], x, y, xt, steps) && fit_sin(&rnd, x, y, xt, steps);
        if (ok)
            printf("  %3d  %6lld   %9.3e  |  %9.3e   %9.3e   %9.3e |  %9.3e   %9.3e\n", hs[k],
                   (long long)fits[k].params, fits[k].start_max_err, fits[k].loss,
                   fits[k].max_err, fits[k].mean_err, rnd.max_err, rnd.mean_err);
        free(rnd.pred);
    }
    ok = ok && draw_sin(fits, n, xt, st);
    if (ok)
        printf("  picture %s/sin_fit.png\n", st->out);
    bool claim = ok && fits[n - 1].max_err < 0.25 * fits[0].max_err;
    if (ok)
        printf("  claim: max error for H=%d (%.3e) < 1/4 of that for H=2 (%.3e): %s\n",
               hs[n - 1], fits[n - 1].max_err, fits[0].max_err, claim ? "yes" : "NO");
    for (int k = 0; k < n; k++)
        free(fits[k].pred);
    return claim;
}

/* ---------------------------------------------------------------- regions */

/* A region of the plane: the union of up to four simple polygons. */
typedef struct polygon {
    int n;
    float v[8][2];
} polygon;

typedef struct region {
    int n;
    polygon p[4];
} region;

/* Crossing number: a horizontal ray from (x, y) crosses the boundary an
 * odd number of times iff the point is inside. */
static bool in_polygon(const polygon *p, float x, float y)
{
    bool in = false;
    for (int i = 0, j = p->n - 1; i < p->n; j = i++) {
        float xi = p->v[i][0], yi = p->v[i][1], xj = p->v[j][0], yj = p->v[j][1];
        if ((yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi)
            in = !in;
    }
    return in;
}

static bool in_region(const region *r, float x, float y)
{
    for (int k = 0; k < r->n; k++)
        if (in_polygon(&r->p[k], x, y))
            return true;
    return false;
}

/* A regular pentagon of radius 0.7 around the origin, a vertex up. */
static region pentagon(void)
{
    region r = {.n = 1, .p = {{.n = 5}}};
    for (int k = 0; k < 5; k++) {
        r.p[0].v[k][0] = (float)(0.7 * cos(PI / 2 + 2 * PI * k / 5));
        r.p[0].v[k][1] = (float)(0.7 * sin(PI / 2 + 2 * PI * k / 5));
    }
    return r;
}

/* An L-shape in the upper left and a triangle in the lower right. */
static region l_and_triangle(void)
{
    return (region){.n = 2, .p = {
        {.n = 6, .v = {{-0.85f, 0.85f}, {-0.5f, 0.85f}, {-0.5f, 0.05f}, {0.15f, 0.05f},
                       {0.15f, -0.3f}, {-0.85f, -0.3f}}},
        {.n = 3, .v = {{0.35f, -0.85f}, {0.9f, -0.85f}, {0.65f, 0.1f}}},
    }};
}

/* The centre of grid pixel (i, j): row i from the top, column j. */
static void pixel_point(int i, int j, float *x, float *y)
{
    *x = -1 + 2 * (j + 0.5f) / GRID;
    *y = 1 - 2 * (i + 0.5f) / GRID;
}

/* The picture: each pixel coloured by the predicted class (logit > 0
 * inside), the true boundary in black, title and subtitle at the bottom left. */
static bool draw_region(const region *r, const float *logits, const settings *st,
                        const char *name, const char *title, const char *subtitle)
{
    canvas c;
    if (!canvas_new(&c, GRID, GRID, (rgb){255, 255, 255}))
        return false;
    for (int i = 0; i < GRID; i++)
        for (int j = 0; j < GRID; j++) {
            float x, y, xr, yd;
            pixel_point(i, j, &x, &y);
            pixel_point(i + 1, j + 1, &xr, &yd);
            bool in = in_region(r, x, y);
            bool edge = in != in_region(r, xr, y) || in != in_region(r, x, yd);
            rgb col = logits[i * GRID + j] > 0 ? (rgb){80, 140, 230} : (rgb){250, 245, 225};
            plot(&c, j, i, edge ? black : col);
        }
    int y0 = GRID - 4 - 3 * LABEL_CELL_H; /* the bottom-left corner is outside both regions */
    text(&c, 6, y0, title, black, 2);
    text(&c, 6, y0 + 2 * LABEL_CELL_H, subtitle, black, 1);
    bool ok = canvas_save(&c, st, name);
    free(c.px);
    return ok;
}

/* The plane's data: the evaluation rows are the GRID² pixel centres, row
 * by row, followed by the PLANE_TRAIN random training points, so one run
 * of the evaluation runtime classifies both. */
typedef struct plane_data {
    float *rows;                  /* 2·(GRID² + PLANE_TRAIN) coordinates */
    float *x;                     /* the training points: rows + 2·GRID² */
    float *y;                     /* their 0/1 labels */
    uint8_t *grid_in;             /* the pixels' true labels */
} plane_data;

enum { PLANE_ROWS = GRID * GRID + PLANE_TRAIN };

static void plane_free(plane_data *d)
{
    free(d->rows), free(d->y), free(d->grid_in);
}

/* Training points uniform in [-1, 1]² (seeded) and the pixel grid, each
 * labelled by the region. False when memory ran out (printed). */
static bool plane_new(plane_data *d, const region *r, uint64_t seed)
{
    *d = (plane_data){.rows = malloc(2 * PLANE_ROWS * sizeof(float)),
                      .y = malloc(PLANE_TRAIN * sizeof(float)),
                      .grid_in = malloc(GRID * GRID)};
    if (!d->rows || !d->y || !d->grid_in)
        return fprintf(stderr, "universal: out of memory\n"), false;
    for (int i = 0; i < GRID; i++)
        for (int j = 0; j < GRID; j++) {
            float *p = d->rows + 2 * (i * GRID + j);
            pixel_point(i, j, &p[0], &p[1]);
            d->grid_in[i * GRID + j] = in_region(r, p[0], p[1]);
        }
    d->x = d->rows + 2 * GRID * GRID;
    nb_rng rng = nb_rng_seed(seed);
    for (int i = 0; i < PLANE_TRAIN; i++) {
        d->x[2 * i] = 2 * nb_rng_uniform(&rng) - 1;
        d->x[2 * i + 1] = 2 * nb_rng_uniform(&rng) - 1;
        d->y[i] = in_region(r, d->x[2 * i], d->x[2 * i + 1]);
    }
    return true;
}

typedef struct region_result {
    int64_t params;
    double loss, train_acc, grid_acc;
} region_result;

/* The net's layer widths, "2-16-8-1", into buf (n ≥ 32 bytes). */
static void net_shape(const net_spec *spec, char *buf, size_t n)
{
    snprintf(buf, n, "2");
    for (int l = 0; l < spec->n_hidden; l++)
        snprintf(buf + strlen(buf), n - strlen(buf), "-%d", spec->hidden[l]);
    snprintf(buf + strlen(buf), n - strlen(buf), "-1");
}

/*
 * Trains a classifier of the given shape on d for `steps` full-batch Adam
 * steps (lr 0.03), measures its accuracy (logit > 0 means inside) on the
 * training points and the grid, and saves its picture as `name`, titled
 * with the net's shape, size and grid accuracy. False on error (printed).
 */
static bool classify(const net_spec *spec, const region *r, const plane_data *d, int64_t steps,
                     const settings *st, const char *name, region_result *res)
{
    net nt;
    bool ok = net_new(&nt, spec, PLANE_TRAIN, PLANE_ROWS, 7, 0.03f) &&
              (res->loss = net_train(&nt, d->x, d->y, steps, 0.03f)) >= 0;
    const float *lg = ok ? net_eval(&nt, d->rows) : NULL;
    if (lg) {
        int grid_right = 0, train_right = 0;
        for (int i = 0; i < GRID * GRID; i++)
            grid_right += (lg[i] > 0) == d->grid_in[i];
        for (int i = 0; i < PLANE_TRAIN; i++)
            train_right += (lg[GRID * GRID + i] > 0) == (d->y[i] > 0.5f);
        res->params = net_size(&nt);
        res->grid_acc = (double)grid_right / (GRID * GRID);
        res->train_acc = (double)train_right / PLANE_TRAIN;
    }
    char shape[64], acc[64];
    net_shape(spec, shape, sizeof shape);
    snprintf(acc, sizeof acc, "%lld params, grid acc %.4f", (long long)res->params, res->grid_acc);
    ok = lg && draw_region(r, lg, st, name, shape, acc);
    net_free(&nt);
    return ok;
}

/* One row of the region tables. */
static void print_result(const char *what, const net_spec *spec, int64_t steps,
                         const region_result *res)
{
    char shape[64];
    net_shape(spec, shape, sizeof shape);
    printf("  %-22s %-9s %6lld  %6lld  %10.4f  %9.4f  %9.4f\n", what, shape,
           (long long)res->params, (long long)steps, res->loss, res->train_acc, res->grid_acc);
}

static void print_header(void)
{
    printf("  %-22s %-9s %6s  %6s  %10s  %9s  %9s\n", "net", "shape", "params", "steps",
           "train loss", "train acc", "grid acc");
}

/* Trains and reports one classifier; false on error. */
static bool classify_row(const char *what, const net_spec *spec, const region *r,
                         const plane_data *d, int64_t steps, const settings *st,
                         const char *name, region_result *res)
{
    if (!classify(spec, r, d, steps, st, name, res))
        return false;
    print_result(what, spec, steps, res);
    printf("  %-22s picture %s/%s\n", "", st->out, name);
    return true;
}

/* Part (b): the pentagon and a 2-8-1 net. Claim: grid accuracy ≥ 0.97. */
static bool part_b(const settings *st)
{
    region r = pentagon();
    plane_data d;
    int64_t steps = st->quick ? 1500 : 4000;
    const net_spec spec = {.in = 2, .n_hidden = 1, .hidden = {8}, .loss = LOSS_LOGISTIC};
    region_result res = {0};
    printf("\n(b) a convex region (a regular pentagon): %d random training points, "
           "accuracy on a %dx%d grid\n", PLANE_TRAIN, GRID, GRID);
    print_header();
    bool ok = plane_new(&d, &r, 11) &&
              classify_row("two-layer (1 hidden)", &spec, &r, &d, steps, st,
                           "region_b_pentagon.png", &res);
    plane_free(&d);
    bool claim = ok && res.grid_acc >= 0.97;
    printf("  claim: two-layer grid accuracy %.4f >= 0.97: %s\n", res.grid_acc,
           claim ? "yes" : "NO");
    return claim;
}

/* Part (c): the L-shape and the triangle; a 2-16-8-1 net and, for
 * comparison (not in quick mode), one hidden layer of the same width and
 * one of the same number of parameters. Claim: the three-layer net's grid
 * accuracy ≥ 0.95. */
static bool part_c(const settings *st)
{
    region r = l_and_triangle();
    plane_data d;
    int64_t steps = st->quick ? 2000 : 8000;
    const net_spec deep = {.in = 2, .n_hidden = 2, .hidden = {16, 8}, .loss = LOSS_LOGISTIC};
    const net_spec same_width = {.in = 2, .n_hidden = 1, .hidden = {16}, .loss = LOSS_LOGISTIC};
    const net_spec same_size = {.in = 2, .n_hidden = 1, .hidden = {48}, .loss = LOSS_LOGISTIC};
    region_result rd = {0}, rw = {0}, rs = {0};
    printf("\n(c) a non-convex, disconnected region (an L-shape and a triangle): %d random "
           "training points, accuracy on a %dx%d grid\n", PLANE_TRAIN, GRID, GRID);
    print_header();
    bool ok = plane_new(&d, &r, 12) &&
              classify_row("three-layer (2 hidden)", &deep, &r, &d, steps, st,
                           "region_c_3layer.png", &rd);
    if (ok && !st->quick)
        ok = classify_row("two-layer, same width", &same_width, &r, &d, steps, st,
                          "region_c_2layer_h16.png", &rw) &&
             classify_row("two-layer, same size", &same_size, &r, &d, steps, st,
                          "region_c_2layer_h48.png", &rs);
    plane_free(&d);
    bool claim = ok && rd.grid_acc >= 0.95;
    printf("  claim: three-layer grid accuracy %.4f >= 0.95: %s\n", rd.grid_acc,
           claim ? "yes" : "NO");
    return claim;
}

/* ---------------------------------------------------------------- main */

static bool parse(int argc, char **argv, settings *st)
{
    *st = (settings){.out = "out"};
    const cmdline_opt opts[] = {{"--quick", CMDLINE_FLAG, &st->quick},
                                {"--out", CMDLINE_STR, &st->out},
                                {0}};
    if (!cmdline_parse(argc, argv, opts)) {
        fprintf(stderr, "usage: universal [--quick] [--out DIR]\n");
        return false;
    }
    return cmdline_out_dir("universal", st->out);
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    settings st;
    if (!parse(argc, argv, &st))
        return 2;
    nb_set_threads(1); /* tiny matrices: threads cost more than they save */
    double t0 = seconds();
    bool a = part_a(&st);
    double t1 = seconds();
    bool b = part_b(&st);
    double t2 = seconds();
    bool c = part_c(&st);
    double t3 = seconds();
    printf("\nuniversal: sin=%s convex=%s nonconvex=%s  (%.1f s, %.1f s, %.1f s)\n",
           a ? "ok" : "FAIL", b ? "ok" : "FAIL", c ? "ok" : "FAIL", t1 - t0, t2 - t1, t3 - t2);
    return a && b && c ? 0 : 1;
}
