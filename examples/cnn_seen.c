/*
 * cnn_seen.c — what a trained convolutional network learned, and why its
 * weights are shared.
 *
 * 1. Trains LeNet-5 (as examples/fashion_cnn.c: conv 6@5×5 pad 2 + relu,
 *    max-pool 2, conv 16@5×5 + relu, max-pool 2, dense 120, 84, 10; SGD
 *    lr 0.02, momentum 0.9, batch 64) on Fashion-MNIST.
 * 2. Saves its first-layer filters — 6 kernels of 5×5, before and after
 *    training — as a picture: cnn_seen_filters.png, top row ("initial") at
 *    initialisation, bottom row ("trained") learned, columns numbered; each
 *    filter scaled on its own so that 0 is mid-grey and its largest |w| is
 *    black or white; ×16 pixels.
 * 3. Saves the first layer's feature maps (after relu) for the first
 *    --images test images: cnn_seen_maps.png, one row per image, the input
 *    then the 6 maps, columns labelled (each row's maps on one common
 *    scale, black = 0); ×4.
 * 4. Trains, the same way, the locally connected network of the same shape:
 *    nb_local2d in place of each nb_conv2d. Every output position has its
 *    own 5×5 weights, so the first layer holds 28·28 = 784 copies of what
 *    the convolution shares. Prints parameter counts and test accuracy of
 *    both: the lecture's point about shared weights. --local 0 skips it
 *    (the pictures do not depend on it: scripts/lecture-pictures).
 *
 * Parameter counts by hand (weights + biases):
 *   conv2d1   6·1·5·5 + 6                      =    156
 *   conv2d2   16·6·5·5 + 16                    =  2,416
 *   local2d1  784 positions · 25 · 6 + 6·784   = 122,304
 *   local2d2  100 positions · 150 · 16 + 16·100 = 241,600
 *   dense     400·120+120 + 120·84+84 + 84·10+10 = 59,134
 *   LeNet-5 total 61,706; locally connected total 423,038.
 *
 * It is also a test: it exits 1 unless the counts are exactly those, the
 * pictures were written, the learned filters moved away from their
 * initialisation, and the pictures are not blank (meson runs it on the
 * 500/200-image fixture for one epoch).
 *
 *     cnn_seen [--epochs 2] [--threads 0] [--seed 1] [--limit N] [--data DIR]
 *              [--images 4] [--local 1] [--out out]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmdline.h"
#include "fashion_common.h"
#include "label.h"

#define SIDE 28
#define PIX (SIDE * SIDE)
#define NF 6              /* first-layer filters */
#define K 5               /* their size */
#define GAP 4

typedef struct args {
    int epochs, threads, images;
    bool local;       /* also train the locally connected network */
    uint64_t seed;
    int64_t limit;
    const char *dir, *out;
} args;

/* ---------------------------------------------------------------- the models */

typedef nb_node *(*layer2d_fn)(nb_graph *g, nb_node *x, nb_conv2d_opts o);

/* LeNet-5 with `layer` as its two feature layers: nb_conv2d (shared
 * weights) or nb_local2d (one set of weights per output position). */
static nb_status build_with(nb_graph *g, int64_t batch, nb_model_io *io, layer2d_fn layer)
{
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, SIDE, SIDE));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = layer(g, io->x, (nb_conv2d_opts){.filters = NF, .kernel = K, .pad = 2,
                                                  .activation = NB_ACT_RELU});
    h = nb_maxpool2d(g, h, (nb_pool2d_opts){.size = 2});
    h = layer(g, h, (nb_conv2d_opts){.filters = 16, .kernel = K, .activation = NB_ACT_RELU});
    h = nb_maxpool2d(g, h, (nb_pool2d_opts){.size = 2});
    h = nb_flatten(g, h);
    h = nb_dense(g, h, (nb_dense_opts){.units = 120, .activation = NB_ACT_RELU});
    h = nb_dense(g, h, (nb_dense_opts){.units = 84, .activation = NB_ACT_RELU});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 10, .name = "logits"});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

static nb_status build_conv(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    return build_with(g, batch, io, nb_conv2d);
}

static nb_status build_local(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    return build_with(g, batch, io, nb_local2d);
}

/* ---------------------------------------------------------------- data */

/* The training set (its first a->limit examples when set) and the test set;
 * false after printing why. */
static bool load_both(const args *a, nb_dataset **train, nb_dataset **test)
{
    nb_error err = {0};
    *train = fashion_split(a->dir, true, &err);
    *test = *train ? fashion_split(a->dir, false, &err) : NULL;
    if (*test && a->limit > 0 && a->limit < (*train)->n) {
        nb_dataset *part = nb_dataset_slice(*train, 0, a->limit, &err);
        nb_dataset_free(*train);
        *train = part;
    }
    if (!*train || !*test) {
        fprintf(stderr, "cnn_seen: %s\n", err.message);
        nb_dataset_free(*train);
        nb_dataset_free(*test);
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------- training */

/* What one network's training left behind for the table. */
typedef struct result {
    const char *name;
    int64_t layer1, layer2, total;  /* parameter counts */
    double test_acc, seconds;       /* after the last epoch; training s per epoch */
} result;

static void on_epoch(const nb_progress *p, void *ud)
{
    result *r = ud;
    r->seconds += p->seconds;
    r->test_acc = p->test_acc;
    printf("%-8s epoch %d/%d  Q %.4f  train_acc %.4f  test_loss %.4f  test_acc %.4f  %.1f s\n",
           r->name, p->epoch, p->epochs, p->q, p->train_acc, p->test_loss, p->test_acc,
           p->seconds);
    fflush(stdout);
}

/* Elements of the parameters under one layer's scope ("conv2d1"). */
static int64_t scope_params(nb_graph *g, const char *scope)
{
    int64_t n = 0;
    for (int i = 0; i < nb_graph_num_params(g); i++) {
        const char *s = nb_node_scope(nb_graph_param(g, i));
        if (s && !strcmp(s, scope))
            n += nb_shape_numel(nb_node_shape(nb_graph_param(g, i)));
    }
    return n;
}

/* A trainer for the network, with the options of examples/fashion_cnn.c. */
static nb_trainer *new_trainer(nb_model_fn build, const args *a, const nb_dataset *train,
                               result *r)
{
    nb_train_opts o = {.batch = 64, .epochs = a->epochs, .seed = a->seed,
                       .optimizer = {.kind = NB_OPT_SGD, .lr = 0.02f, .momentum = 0.9f},
                       .on_epoch = on_epoch, .ud = r};
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(build, NULL, train->shape, 1, &o, &err);
    if (!t)
        fprintf(stderr, "cnn_seen: %s: %s\n", r->name, err.message);
    return t;
}

/* Counts the parameters (layers scope1, scope2 and all), then trains and
 * evaluates; false after printing why. */
static bool fit(nb_trainer *t, const char *scope1, const char *scope2, const nb_dataset *train,
                const nb_dataset *test, result *r)
{
    nb_graph *g = nb_trainer_graph(t);
    r->layer1 = scope_params(g, scope1);
    r->layer2 = scope_params(g, scope2);
    for (int i = 0; i < nb_graph_num_params(g); i++)
        r->total += nb_shape_numel(nb_node_shape(nb_graph_param(g, i)));
    if (nb_trainer_fit(t, train, test) != NB_OK) {
        fprintf(stderr, "cnn_seen: %s: %s\n", r->name, nb_trainer_error(t));
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------- pictures */

/* Pastes a w×w float panel at (x0, y0) of a width-wide grey picture,
 * enlarged z times, mapping [lo, hi] to black..white. */
static void paste(uint8_t *px, int width, int x0, int y0, const float *v, int w, int z, float lo,
                  float hi)
{
    for (int y = 0; y < w * z; y++)
        for (int x = 0; x < w * z; x++) {
            float t = (v[(y / z) * w + x / z] - lo) / (hi - lo);
            px[(y0 + y) * width + x0 + x] = (uint8_t)(t <= 0 ? 0 : t >= 1 ? 255 : t * 255 + 0.5f);
        }
}

/* Distinct grey levels among n pixels: a blank or flat picture has few. */
static int levels(const uint8_t *px, size_t n)
{
    bool seen[256] = {false};
    int count = 0;
    for (size_t i = 0; i < n; i++)
        if (!seen[px[i]]) {
            seen[px[i]] = true;
            count++;
        }
    return count;
}

/* Writes the picture and checks it exists and has at least `min_levels`
 * grey levels; false after printing why. */
static bool save_png(const char *path, int w, int h, const uint8_t *px, int min_levels)
{
    nb_error err = {0};
    struct stat st;
    if (nb_png_write(path, w, h, 1, px, &err) != NB_OK) {
        fprintf(stderr, "cnn_seen: %s\n", err.message);
        return false;
    }
    int n = levels(px, (size_t)w * (size_t)h);
    if (stat(path, &st) != 0 || st.st_size < 100 || n < min_levels) {
        fprintf(stderr, "cnn_seen: %s is blank or missing (%d grey levels)\n", path, n);
        return false;
    }
    printf("wrote %s (%dx%d, %d grey levels)\n", path, w, h, n);
    return true;
}

static const uint8_t ink[3] = {0, 0, 0};

/*
 * The first layer's filters [6, 1, 5, 5], before (top row, "initial") and
 * after (bottom row, "trained") training, under a header numbering them:
 * each filter on its own scale, 0 mid-grey and its largest |w| black or
 * white, enlarged ×16.
 */
static bool save_filters(const char *out, const float *before, const float *after)
{
    enum { Z = 16, P = K * Z, LEFT = 8 * 2 * LABEL_CELL_W, TOP = 2 * LABEL_CELL_H + 2 * GAP,
           W = LEFT + NF * P + (NF + 1) * GAP, H = TOP + 2 * P + 2 * GAP };
    static uint8_t px[W * H];
    memset(px, 128, sizeof px);
    const float *rows[2] = {before, after};
    static const char *row_name[2] = {"initial", "trained"};
    label_center(px, W, H, 1, 0, LEFT, GAP, "filter", 2, ink);
    for (int r = 0; r < 2; r++) {
        int y0 = TOP + r * (P + GAP);
        label_center(px, W, H, 1, 0, LEFT, y0 + (P - 2 * LABEL_CELL_H) / 2, row_name[r], 2, ink);
        for (int f = 0; f < NF; f++) {
            const float *w = rows[r] + f * K * K;
            float m = 1e-8f;
            for (int i = 0; i < K * K; i++)
                m = fabsf(w[i]) > m ? fabsf(w[i]) : m;
            int x0 = LEFT + GAP + f * (P + GAP);
            paste(px, W, x0, y0, w, K, Z, -m, m);
            char num[8];
            snprintf(num, sizeof num, "%d", f + 1);
            if (r == 0)
                label_center(px, W, H, 1, x0, P, GAP, num, 2, ink);
        }
    }
    char path[1100];
    snprintf(path, sizeof path, "%s/cnn_seen_filters.png", out);
    return save_png(path, W, H, px, 16);
}

/*
 * Feature maps of the first layer (relu(conv(x, w) + b)) for n images: a
 * graph of its own holding that one layer, its parameters copied from the
 * trained network. A header ("input", "map 1" … "map 6"), then one row per
 * image: the input, then the 6 maps, the maps on the row's common scale
 * [0, max], enlarged ×4.
 */
static bool save_maps(const char *out, nb_graph *trained, const nb_dataset *test, int n)
{
    enum { Z = 4, P = SIDE * Z, W = (NF + 1) * P + (NF + 2) * GAP,
           TOP = 2 * LABEL_CELL_H + 2 * GAP };
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(n, 1, SIDE, SIDE));
    nb_node *maps = nb_conv2d(g, x, (nb_conv2d_opts){.filters = NF, .kernel = K, .pad = 2,
                                                     .activation = NB_ACT_RELU,
                                                     .name = "conv2d1"});
    const char *names[] = {"conv2d1/w", "conv2d1/b"};
    for (int i = 0; i < 2 && maps; i++) {
        nb_node *dst = nb_graph_find(g, names[i]), *src = nb_graph_find(trained, names[i]);
        memcpy(nb_param_data(dst), nb_param_data(src),
               (size_t)nb_shape_numel(nb_node_shape(dst)) * sizeof(float));
    }
    nb_runtime *rt = maps ? nb_runtime_new(g, &maps, 1) : NULL;
    /* The n images as floats (the test set is a byte dataset). */
    float *images = malloc((size_t)n * PIX * sizeof *images);
    bool ok = rt && images && nb_dataset_gather(test, NULL, 0, n, images, NULL, NULL) == NB_OK &&
              nb_runtime_set_input(rt, x, images) == NB_OK && nb_runtime_run(rt) == NB_OK;
    if (!ok)
        fprintf(stderr, "cnn_seen: %s\n", rt ? nb_runtime_error(rt) : nb_graph_error(g));
    int h = TOP + n * (P + GAP);
    uint8_t *px = ok ? malloc((size_t)W * (size_t)h) : NULL;
    if (px) {
        memset(px, 128, (size_t)W * (size_t)h);
        label_center(px, W, h, 1, GAP, P, GAP, "input", 2, ink);
        for (int f = 0; f < NF; f++) {
            char name[16];
            snprintf(name, sizeof name, "map %d", f + 1);
            label_center(px, W, h, 1, GAP + (f + 1) * (P + GAP), P, GAP, name, 2, ink);
        }
        const float *v = nb_runtime_value(rt, maps);
        for (int i = 0; i < n; i++) {
            const float *row = v + (int64_t)i * NF * PIX;
            float m = 1e-8f;
            for (int j = 0; j < NF * PIX; j++)
                m = row[j] > m ? row[j] : m;
            int y0 = TOP + i * (P + GAP);
            paste(px, W, GAP, y0, images + (int64_t)i * PIX, SIDE, Z, 0, 1);
            for (int f = 0; f < NF; f++)
                paste(px, W, GAP + (f + 1) * (P + GAP), y0, row + f * PIX, SIDE, Z, 0, m);
        }
        char path[1100];
        snprintf(path, sizeof path, "%s/cnn_seen_maps.png", out);
        ok = save_png(path, W, h, px, 32);
    }
    free(px);
    free(images);
    nb_runtime_free(rt);
    nb_graph_free(g);
    return ok && px;
}

/* ---------------------------------------------------------------- the run */

static bool parse(int argc, char **argv, args *a)
{
    int local = a->local;
    const cmdline_opt opts[] = {
        {"--epochs", CMDLINE_INT, &a->epochs}, {"--threads", CMDLINE_INT, &a->threads},
        {"--seed", CMDLINE_U64, &a->seed},     {"--limit", CMDLINE_I64, &a->limit},
        {"--data", CMDLINE_STR, &a->dir},      {"--images", CMDLINE_INT, &a->images},
        {"--local", CMDLINE_INT, &local},      {"--out", CMDLINE_STR, &a->out},
        {0}};
    bool ok = cmdline_parse(argc, argv, opts) && a->epochs > 0 && a->images > 0 &&
              (local == 0 || local == 1);
    a->local = local == 1;
    return ok;
}

/* Each learned filter's weight sum and bias: a filter whose weights sum to
 * about 0 answers edges, not brightness; a negative sum with a positive bias
 * lights up the dark background. */
static void print_filters(const float *w, const float *b)
{
    printf("| filter | sum of weights | min | max | bias |\n|---|---|---|---|---|\n");
    for (int f = 0; f < NF; f++) {
        double sum = 0, lo = w[f * K * K], hi = lo;
        for (int i = 0; i < K * K; i++) {
            double v = w[f * K * K + i];
            sum += v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        printf("| %d | %.3f | %.3f | %.3f | %.3f |\n", f + 1, sum, lo, hi, b[f]);
    }
}

/* LeNet-5: trains it, saves its filters and feature maps. false on any
 * failure, including filters that did not move or a blank picture. */
static bool convolutional(const args *a, const nb_dataset *train, const nb_dataset *test,
                          result *r)
{
    nb_trainer *t = new_trainer(build_conv, a, train, r);
    if (!t)
        return false;
    nb_node *w = nb_graph_find(nb_trainer_graph(t), "conv2d1/w");
    float before[NF * K * K], moved = 0;
    memcpy(before, nb_param_data(w), sizeof before);
    bool ok = fit(t, "conv2d1", "conv2d2", train, test, r);
    if (ok) {
        const float *after = nb_param_data(w);
        for (int i = 0; i < NF * K * K; i++)
            moved = fabsf(after[i] - before[i]) > moved ? fabsf(after[i] - before[i]) : moved;
        printf("first-layer filters: largest change in training %.4f\n", moved);
        print_filters(after, nb_param_data(nb_graph_find(nb_trainer_graph(t), "conv2d1/b")));
        ok = moved > 1e-3f && save_filters(a->out, before, after) &&
             save_maps(a->out, nb_trainer_graph(t), test, a->images);
    }
    nb_trainer_free(t);
    return ok;
}

/* The locally connected network of the same shape, trained the same way. */
static bool local(const args *a, const nb_dataset *train, const nb_dataset *test, result *r)
{
    nb_trainer *t = new_trainer(build_local, a, train, r);
    bool ok = t && fit(t, "local2d1", "local2d2", train, test, r);
    nb_trainer_free(t);
    return ok;
}

/* The table, and the hand-computed counts (see the top of the file) checked
 * for each network trained. */
static bool report(const args *a, const result *r)
{
    static const int64_t want[2][3] = {{156, 2416, 61706}, {122304, 241600, 423038}};
    printf("\n| network | layer 1 params | layer 2 params | total params | test acc "
           "(%d epoch%s) | train s/epoch |\n|---|---|---|---|---|---|\n",
           a->epochs, a->epochs == 1 ? "" : "s");
    bool ok = true;
    int n = a->local ? 2 : 1;
    for (int i = 0; i < n; i++) {
        printf("| %s | %lld | %lld | %lld | %.4f | %.1f |\n", r[i].name, (long long)r[i].layer1,
               (long long)r[i].layer2, (long long)r[i].total, r[i].test_acc,
               r[i].seconds / a->epochs);
        ok &= r[i].layer1 == want[i][0] && r[i].layer2 == want[i][1] && r[i].total == want[i][2];
    }
    if (!a->local) {
        printf("\n(locally connected network not trained: --local 0); counts as computed by "
               "hand: %s\n", ok ? "yes" : "NO");
        return ok;
    }
    printf("\nlocally connected / convolutional parameters: %.1fx (first layer %.0fx); "
           "counts as computed by hand: %s\n", (double)r[1].total / (double)r[0].total,
           (double)r[1].layer1 / (double)r[0].layer1, ok ? "yes" : "NO");
    return ok;
}

int main(int argc, char **argv)
{
    args a = {.epochs = 2, .threads = 0, .seed = 1, .images = 4, .local = true, .out = "out",
              .dir = "/usr/share/datasets/fashion-mnist"};
    if (!parse(argc, argv, &a)) {
        fprintf(stderr, "usage: %s [--epochs N] [--threads N] [--seed N] [--limit N] [--data DIR] "
                "[--images N] [--local 0|1] [--out DIR]\n", argv[0]);
        return 2;
    }
    if (!cmdline_out_dir("cnn_seen", a.out))
        return 1;
    nb_dataset *train, *test;
    if (!load_both(&a, &train, &test))
        return 1;
    nb_set_threads(a.threads);
    a.images = a.images < test->n ? a.images : (int)test->n;
    printf("cnn_seen: train %lld, test %lld images, %d epoch(s), seed %llu, %d thread(s)\n",
           (long long)train->n, (long long)test->n, a.epochs, (unsigned long long)a.seed,
           nb_get_threads());
    result r[2] = {{.name = "conv"}, {.name = "local"}};
    bool ok = convolutional(&a, train, test, &r[0]) && (!a.local || local(&a, train, test, &r[1]));
    ok = ok && report(&a, r);
    nb_dataset_free(train);
    nb_dataset_free(test);
    return ok ? 0 : 1;
}
