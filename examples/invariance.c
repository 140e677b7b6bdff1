/*
 * invariance.c — what convolution and max-subsampling buy: robustness to
 * shifts and small deformations, measured.
 *
 * Two networks are trained the same way (SGD lr 0.02 momentum 0.9, batch
 * 64, --epochs passes over the first --limit training images of
 * Fashion-MNIST, seed --seed) on the images as they are, then tested on
 * the test images (the first --test-limit, when given) moved in three ways:
 *
 *   CNN  LeNet-5 (conv 6@5×5 pad 2 + relu, max-pool 2, conv 16@5×5 + relu,
 *        max-pool 2, dense 120, 84, 10: 61 706 parameters), as cnn_seen.c;
 *   MLP  784-256-10 relu (203 530 parameters): no weight sharing, no
 *        pooling; it sees each pixel position as a separate input.
 *
 *   shift     every test image moved d = 0 … 4 pixels left, right, up and
 *             down (the uncovered border black, like the background); the
 *             accuracy is the mean over the four directions;
 *   rotation  each image turned by ±θ (sign drawn per image) about its
 *             centre, θ = 0, 5, 10, 15, 20 degrees, bilinear;
 *   elastic   a smooth random displacement field per image (uniform noise
 *             in [−1, 1] per pixel and axis, blurred by a Gaussian of
 *             σ = 4 pixels), scaled to a root-mean-square displacement of
 *             r = 0, 0.5, 1, 1.5, 2 pixels, bilinear: slight warps that keep
 *             the garment recognisable.
 *
 * Prints each condition's accuracy for both networks and what share of its
 * undisturbed accuracy each keeps, as a Markdown table; with --plot PATH it
 * draws accuracy against shift, angle and displacement, one panel each.
 *
 * It checks, and exits 1 otherwise, that the transformations do what they
 * say (a shift by d moves a marked pixel by d; rotation by 0 and a zero
 * field leave images bit for bit), that both networks learned (test
 * accuracy above 0.5) and that the CNN keeps the larger share of its
 * accuracy at every shift of 1 pixel or more. meson runs it on the
 * fixture (its 500 training images for 5 epochs, the first 100 test
 * images).
 *
 *     invariance [--epochs 3] [--limit 10000] [--test-limit N] [--threads 0]
 *                [--seed 1] [--data DIR] [--plot PATH]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "fashion_common.h"
#include "plot.h"

#define SIDE 28
#define PIX (SIDE * SIDE)
#define LEVELS 5
#define PI 3.14159265358979323846

typedef struct args {
    int epochs, threads;
    int64_t limit, test_limit;
    uint64_t seed;
    const char *dir, *plot;
} args;

/* ---------------------------------------------------------------- the networks */

static nb_status build_cnn(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, SIDE, SIDE));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_conv2d(g, io->x, (nb_conv2d_opts){.filters = 6, .kernel = 5, .pad = 2,
                                                      .activation = NB_ACT_RELU});
    h = nb_maxpool2d(g, h, (nb_pool2d_opts){.size = 2});
    h = nb_conv2d(g, h, (nb_conv2d_opts){.filters = 16, .kernel = 5, .activation = NB_ACT_RELU});
    h = nb_maxpool2d(g, h, (nb_pool2d_opts){.size = 2});
    h = nb_flatten(g, h);
    h = nb_dense(g, h, (nb_dense_opts){.units = 120, .activation = NB_ACT_RELU});
    h = nb_dense(g, h, (nb_dense_opts){.units = 84, .activation = NB_ACT_RELU});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 10, .name = "logits"});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

static nb_status build_mlp(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, SIDE, SIDE));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_dense(g, nb_flatten(g, io->x),
                          (nb_dense_opts){.units = 256, .activation = NB_ACT_RELU});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 10, .name = "logits"});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

/* ---------------------------------------------------------------- moving images */

/* dst = src moved (dx, dy) pixels (right, down), the border filled with 0. */
static void shift(const float *src, float *dst, int dx, int dy)
{
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            int sx = x - dx, sy = y - dy;
            dst[y * SIDE + x] = sx >= 0 && sx < SIDE && sy >= 0 && sy < SIDE ? src[sy * SIDE + sx]
                                                                             : 0.0f;
        }
}

/* src at the real position (x, y), bilinear, 0 outside. */
static float sample(const float *src, double x, double y)
{
    int x0 = (int)floor(x), y0 = (int)floor(y);
    double fx = x - x0, fy = y - y0, v = 0;
    for (int k = 0; k < 4; k++) {
        int xi = x0 + k % 2, yi = y0 + k / 2;
        double w = (k % 2 ? fx : 1 - fx) * (k / 2 ? fy : 1 - fy);
        if (w != 0 && xi >= 0 && xi < SIDE && yi >= 0 && yi < SIDE)
            v += w * src[yi * SIDE + xi];
    }
    return (float)v;
}

/* dst(p) = src(p + u(p)) for a displacement field u = (ux, uy). */
static void warp(const float *src, float *dst, const double *ux, const double *uy)
{
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++)
            dst[y * SIDE + x] = sample(src, x + ux[y * SIDE + x], y + uy[y * SIDE + x]);
}

/* The field of a rotation by deg degrees about the image centre. */
static void rotation_field(double deg, double *ux, double *uy)
{
    double c = cos(deg * PI / 180), s = sin(deg * PI / 180), m = (SIDE - 1) / 2.0;
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            double px = x - m, py = y - m;
            ux[y * SIDE + x] = c * px - s * py - px;
            uy[y * SIDE + x] = s * px + c * py - py;
        }
}

/* Blurs a field in place by a Gaussian of σ = 4 (separable, zero outside). */
static void blur(double *f)
{
    enum { R = 12 };
    double k[2 * R + 1], tmp[PIX];
    for (int i = -R; i <= R; i++)
        k[i + R] = exp(-i * i / 32.0);
    for (int pass = 0; pass < 2; pass++) {
        for (int y = 0; y < SIDE; y++)
            for (int x = 0; x < SIDE; x++) {
                double v = 0;
                for (int i = -R; i <= R; i++) {
                    int xx = pass ? x : x + i, yy = pass ? y + i : y;
                    if (xx >= 0 && xx < SIDE && yy >= 0 && yy < SIDE)
                        v += k[i + R] * f[yy * SIDE + xx];
                }
                tmp[y * SIDE + x] = v;
            }
        memcpy(f, tmp, sizeof tmp);
    }
}

/* A smooth random field with root-mean-square displacement rms pixels. */
static void elastic_field(nb_rng *rng, double rms, double *ux, double *uy)
{
    double ss = 0;
    for (int i = 0; i < PIX; i++) {
        ux[i] = 2 * nb_rng_uniform(rng) - 1;
        uy[i] = 2 * nb_rng_uniform(rng) - 1;
    }
    blur(ux);
    blur(uy);
    for (int i = 0; i < PIX; i++)
        ss += ux[i] * ux[i] + uy[i] * uy[i];
    double scale = ss > 0 ? rms / sqrt(ss / PIX) : 0;
    for (int i = 0; i < PIX; i++)
        ux[i] *= scale, uy[i] *= scale;
}

/* The checks of the transformations themselves; false after printing. */
static bool transforms_right(void)
{
    static float img[PIX], out[PIX], back[PIX];
    double ux[PIX], uy[PIX];
    nb_rng rng = nb_rng_seed(7);
    for (int i = 0; i < PIX; i++)
        img[i] = nb_rng_uniform(&rng);
    bool ok = true;
    for (int d = 1; d <= 4; d++) {
        shift(img, out, d, -d);
        ok &= out[(10 - d) * SIDE + 10 + d] == img[10 * SIDE + 10] && out[0] == 0 &&
              out[PIX - 1] == 0;
    }
    rotation_field(0, ux, uy);
    warp(img, back, ux, uy);
    ok &= memcmp(img, back, sizeof img) == 0;
    elastic_field(&rng, 0, ux, uy);
    warp(img, back, ux, uy);
    ok &= memcmp(img, back, sizeof img) == 0;
    rotation_field(90, ux, uy); /* a quarter turn moves (x, y) to (m + (y - m), m - (x - m)) */
    warp(img, out, ux, uy);
    ok &= fabsf(out[3 * SIDE + 5] - img[5 * SIDE + (SIDE - 1 - 3)]) < 1e-4f;
    if (!ok)
        fprintf(stderr, "invariance: a transformation does not do what it says\n");
    return ok;
}

/* ---------------------------------------------------------------- measuring */

/* The test images as floats and the scratch set the moved copies go into. */
typedef struct bench {
    const float *x;
    nb_dataset *moved;
    nb_trainer *net[2]; /* CNN, MLP */
} bench;

/* Accuracy of both networks on b->moved into acc[2]. */
static bool evaluate(bench *b, double acc[2])
{
    for (int k = 0; k < 2; k++)
        if (nb_trainer_evaluate(b->net[k], b->moved, NULL, &acc[k]) != NB_OK) {
            fprintf(stderr, "invariance: %s\n", nb_trainer_error(b->net[k]));
            return false;
        }
    return true;
}

/* Mean accuracy over the four directions at shift d. */
static bool measure_shift(bench *b, int d, double acc[2])
{
    static const int dir[4][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}};
    acc[0] = acc[1] = 0;
    for (int k = 0; k < (d ? 4 : 1); k++) {
        for (int64_t i = 0; i < b->moved->n; i++)
            shift(b->x + i * PIX, b->moved->x + i * PIX, d * dir[k][0], d * dir[k][1]);
        double a[2];
        if (!evaluate(b, a))
            return false;
        acc[0] += a[0] / (d ? 4 : 1);
        acc[1] += a[1] / (d ? 4 : 1);
    }
    return true;
}

/* Accuracy with every image warped: rotation by ±level degrees
 * (elastic false) or an elastic field of rms level pixels. */
static bool measure_warp(bench *b, bool elastic, double level, uint64_t seed, double acc[2])
{
    nb_rng rng = nb_rng_seed(seed);
    double ux[PIX], uy[PIX];
    for (int64_t i = 0; i < b->moved->n; i++) {
        if (elastic)
            elastic_field(&rng, level, ux, uy);
        else
            rotation_field(nb_rng_below(&rng, 2) ? level : -level, ux, uy);
        warp(b->x + i * PIX, b->moved->x + i * PIX, ux, uy);
    }
    return evaluate(b, acc);
}

/* ---------------------------------------------------------------- the run */

static bool parse(int argc, char **argv, args *a)
{
    const cmdline_opt opts[] = {
        {"--epochs", CMDLINE_INT, &a->epochs},  {"--threads", CMDLINE_INT, &a->threads},
        {"--seed", CMDLINE_U64, &a->seed},      {"--limit", CMDLINE_I64, &a->limit},
        {"--test-limit", CMDLINE_I64, &a->test_limit},
        {"--data", CMDLINE_STR, &a->dir},       {"--plot", CMDLINE_STR, &a->plot},
        {0}};
    return cmdline_parse(argc, argv, opts) && a->epochs > 0;
}

static void on_epoch(const nb_progress *p, void *ud)
{
    printf("%s epoch %d/%d  Q %.4f  train_acc %.4f  test_acc %.4f  %.1f s\n", (const char *)ud,
           p->epoch, p->epochs, p->q, p->train_acc, p->test_acc, p->seconds);
    fflush(stdout);
}

static nb_trainer *train_net(const args *a, nb_model_fn build, const char *name,
                             const nb_dataset *train, const nb_dataset *test)
{
    nb_train_opts o = {.batch = 64, .epochs = a->epochs, .seed = a->seed,
                       .optimizer = {.kind = NB_OPT_SGD, .lr = 0.02f, .momentum = 0.9f},
                       .on_epoch = on_epoch, .ud = (void *)name};
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(build, NULL, train->shape, 1, &o, &err);
    if (!t || nb_trainer_fit(t, train, test) != NB_OK) {
        fprintf(stderr, "invariance: %s: %s\n", name, t ? nb_trainer_error(t) : err.message);
        nb_trainer_free(t);
        return NULL;
    }
    return t;
}

/* Every condition's accuracies: [kind][level][net]. */
typedef struct table {
    double acc[3][LEVELS][2];
} table;

static const char *kinds[3] = {"shift (px)", "rotation (deg)", "elastic rms (px)"};
static const double levels[3][LEVELS] = {{0, 1, 2, 3, 4}, {0, 5, 10, 15, 20}, {0, 0.5, 1, 1.5, 2}};

static bool measure_all(bench *b, uint64_t seed, table *t)
{
    for (int l = 0; l < LEVELS; l++)
        if (!measure_shift(b, (int)levels[0][l], t->acc[0][l]) ||
            !measure_warp(b, false, levels[1][l], seed + 1, t->acc[1][l]) ||
            !measure_warp(b, true, levels[2][l], seed + 2, t->acc[2][l]))
            return false;
    return true;
}

/* The table and the claim; false if the claim fails. */
static bool report(const table *t)
{
    printf("\n| test images | CNN acc | MLP acc | CNN keeps | MLP keeps |\n|---|---|---|---|---|\n");
    for (int k = 0; k < 3; k++)
        for (int l = 0; l < LEVELS; l++) {
            if (k > 0 && l == 0)
                continue; /* the same undisturbed images as shift 0 */
            const double *a = t->acc[k][l], *a0 = t->acc[0][0];
            printf("| %s %g | %.4f | %.4f | %.0f %% | %.0f %% |\n", kinds[k], levels[k][l], a[0],
                   a[1], 100 * a[0] / a0[0], 100 * a[1] / a0[1]);
        }
    bool ok = t->acc[0][0][0] > 0.5 && t->acc[0][0][1] > 0.5;
    for (int l = 1; l < LEVELS; l++)
        ok &= t->acc[0][l][0] / t->acc[0][0][0] > t->acc[0][l][1] / t->acc[0][0][1];
    printf("\nboth learned, and the CNN keeps the larger share at every shift >= 1 px: %s\n",
           ok ? "yes" : "NO");
    return ok;
}

static bool draw(const char *path, const table *t)
{
    static double x[3][LEVELS], y[3][2][LEVELS];
    plot_series s[3][2];
    plot_panel p[3];
    static const char *titles[3] = {"shifted test images", "rotated test images",
                                    "elastically warped"};
    static const char *xl[3] = {"shift (pixels)", "rotation (degrees)", "rms displacement (px)"};
    for (int k = 0; k < 3; k++) {
        for (int l = 0; l < LEVELS; l++) {
            x[k][l] = levels[k][l];
            y[k][0][l] = t->acc[k][l][0];
            y[k][1][l] = t->acc[k][l][1];
        }
        s[k][0] = (plot_series){"CNN (LeNet-5)", x[k], y[k][0], LEVELS, 0, false};
        s[k][1] = (plot_series){"MLP 784-256-10", x[k], y[k][1], LEVELS, 1, false};
        p[k] = (plot_panel){titles[k], xl[k], levels[k][0], levels[k][LEVELS - 1], 0, 1, s[k], 2};
    }
    nb_error err = {0};
    if (plot_write(path, p, 3, &err) != NB_OK) {
        fprintf(stderr, "invariance: %s\n", err.message);
        return false;
    }
    printf("wrote %s\n", path);
    return true;
}

int main(int argc, char **argv)
{
    args a = {.epochs = 3, .limit = 10000, .seed = 1, .dir = "/usr/share/datasets/fashion-mnist"};
    if (!parse(argc, argv, &a)) {
        fprintf(stderr, "usage: %s [--epochs N] [--limit N] [--test-limit N] [--threads N] [--seed N] "
                "[--data DIR] [--plot PATH]\n", argv[0]);
        return 2;
    }
    if (!transforms_right())
        return 1;
    fashion_args fa = {.dir = a.dir, .limit = a.limit};
    nb_dataset *train, *test;
    if (!fashion_load(&fa, &train, &test))
        return 1;
    if (a.test_limit > 0 && a.test_limit < test->n) {
        nb_error err = {0};
        nb_dataset *part = nb_dataset_slice(test, 0, a.test_limit, &err);
        nb_dataset_free(test);
        if (!(test = part)) {
            fprintf(stderr, "invariance: %s\n", err.message);
            nb_dataset_free(train);
            return 1;
        }
    }
    nb_set_threads(a.threads);
    printf("invariance: train %lld, test %lld images, %d epoch(s), seed %llu, %d thread(s)\n",
           (long long)train->n, (long long)test->n, a.epochs, (unsigned long long)a.seed,
           nb_get_threads());
    nb_error err = {0};
    bench b = {0};
    b.moved = nb_dataset_new(test->n, test->shape, 1, &err);
    float *x = b.moved ? malloc((size_t)test->n * PIX * sizeof *x) : NULL;
    bool ok = x && nb_dataset_gather(test, NULL, 0, test->n, x, b.moved->y, &err) == NB_OK;
    if (!ok)
        fprintf(stderr, "invariance: %s\n", x ? err.message : "out of memory");
    b.x = x;
    ok = ok && (b.net[0] = train_net(&a, build_cnn, "CNN", train, test)) &&
         (b.net[1] = train_net(&a, build_mlp, "MLP", train, test));
    static table t;
    ok = ok && measure_all(&b, a.seed, &t) && report(&t) && (!a.plot || draw(a.plot, &t));
    nb_trainer_free(b.net[0]);
    nb_trainer_free(b.net[1]);
    free(x);
    nb_dataset_free(b.moved);
    nb_dataset_free(train);
    nb_dataset_free(test);
    return ok ? 0 : 1;
}
