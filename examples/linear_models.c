/*
 * linear_models.c — the lecture's chapter "Linear models", run on real data.
 *
 * A linear classifier scores an image x (784 pixels) as s = <w, x> + b and
 * answers by the sign of s. Two classes of Fashion-MNIST are labelled
 * y = -1 and y = +1, and training minimises the mean of a margin loss
 * L(M) of the margin M = s·y, which is large and positive when the answer
 * is right with confidence:
 *
 *     logistic      L(M) = log(1 + e^-M)
 *     hinge         L(M) = max(0, 1 - M)
 *     exponential   L(M) = e^-M
 *
 * The fourth row is regression instead of classification: the output
 * σ(s) = 1 / (1 + e^-s) is fitted to targets t ∈ {0, 1} with the squared
 * loss ½(σ(s) - t)²; the answer is still the sign of s (σ(s) > ½).
 * Each row trains the same model (one dense unit on the flattened image,
 * starting from w = 0, b = 0) with the same SGD settings and seed, and the
 * program prints train and test accuracy per loss. With --out DIR it also
 * saves DIR/linear_models_w.png: the mean image of each class, then the four
 * weight vectors w as 28x28 pictures side by side, red where a bright pixel
 * argues for the second class, blue for the first.
 *
 * Usage: linear_models [--data DIR] [--classes A,B] [--epochs N] [--lr X]
 *                      [--seed N] [--min-acc X] [--out DIR] [--quick]
 *   --data DIR   the IDX files: Debian's {train,t10k}-… names, or the test
 *                fixture's fmnist-{train,test}-… names (either is found);
 *                default /usr/share/datasets/fashion-mnist, or with --quick
 *                the folder in $NABLA_FIXTURES
 *   --classes    the two Fashion-MNIST classes (default 0,3: T-shirt/top
 *                against Dress)
 *   --quick      the test's settings: the fixture (500/200 images, of which
 *                the two classes keep about a fifth) and 30 epochs
 *   --min-acc X  the claim checked by the exit status: every loss reaches
 *                test accuracy X (default 0.8; chance is about 0.5)
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cmdline.h"
#include "label.h"
#include "nabla.h"

static const char *const class_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/* ---------------------------------------------------------------- options */

typedef struct options {
    const char *data;
    int class_a, class_b; /* labelled y = -1 and y = +1 */
    int epochs;
    float lr;
    uint64_t seed;
    double min_acc;
    const char *out;
    bool quick;
} options;

/* Parses argv over the defaults; false after a usage message. */
static bool parse(int argc, char **argv, options *o)
{
    *o = (options){.class_a = 0, .class_b = 3, .epochs = 20, .lr = 0.01f, .seed = 1, .min_acc = 0.8};
    int epochs = INT_MIN; /* INT_MIN: not given (the quick run then takes 30) */
    const char *classes = NULL;
    const cmdline_opt opts[] = {
        {"--quick", CMDLINE_FLAG, &o->quick}, {"--data", CMDLINE_STR, &o->data},
        {"--classes", CMDLINE_STR, &classes}, {"--epochs", CMDLINE_INT, &epochs},
        {"--lr", CMDLINE_FLOAT, &o->lr},      {"--seed", CMDLINE_U64, &o->seed},
        {"--min-acc", CMDLINE_DOUBLE, &o->min_acc}, {"--out", CMDLINE_STR, &o->out},
        {0}};
    bool ok = cmdline_parse(argc, argv, opts) &&
              (!classes || sscanf(classes, "%d,%d", &o->class_a, &o->class_b) == 2);
    if (epochs != INT_MIN)
        o->epochs = epochs;
    else if (o->quick)
        o->epochs = 30;
    if (!o->data)
        o->data = o->quick && getenv("NABLA_FIXTURES") ? getenv("NABLA_FIXTURES")
                                                       : "/usr/share/datasets/fashion-mnist";
    if (ok && o->class_a >= 0 && o->class_a < 10 && o->class_b >= 0 && o->class_b < 10 &&
        o->class_a != o->class_b && o->epochs > 0 && o->lr > 0)
        return true;
    fprintf(stderr, "usage: %s [--data DIR] [--classes A,B] [--epochs N] [--lr X] [--seed N] "
                    "[--min-acc X] [--out DIR] [--quick]\n", argv[0]);
    return false;
}

/* ---------------------------------------------------------------- data */

static bool exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

/* One split ("train" or "test") from dir, under Debian's names (test is
 * t10k) or the fixture's (fmnist-train, fmnist-test); a message names
 * Debian's file when neither is there. */
static nb_dataset *load_split(const char *dir, const char *split, nb_error *err)
{
    const char *debian = !strcmp(split, "test") ? "t10k" : split;
    char images[1024], labels[1024];
    snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", dir, debian);
    snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", dir, debian);
    char fixture_images[1024], fixture_labels[1024];
    snprintf(fixture_images, sizeof fixture_images, "%s/fmnist-%s-images-idx3-ubyte.gz", dir, split);
    snprintf(fixture_labels, sizeof fixture_labels, "%s/fmnist-%s-labels-idx1-ubyte.gz", dir, split);
    if (!exists(images) && exists(fixture_images))
        return nb_idx_load_u8(fixture_images, fixture_labels, err);
    return nb_idx_load_u8(images, labels, err);
}

/*
 * The examples of classes a and b from all, with targets t = 0 for a and
 * t = 1 for b (the margin losses turn them into y = 2t - 1 = ±1). NULL
 * (message printed) on failure or when a class is missing.
 */
static nb_dataset *two_classes(const nb_dataset *all, int a, int b)
{
    int64_t n = 0, n_b = 0, numel = nb_shape_numel(all->shape);
    for (int64_t i = 0; i < all->n; i++)
        n += all->y[i] == (float)a || all->y[i] == (float)b;
    nb_error err = {0};
    nb_dataset *ds = n ? nb_dataset_new(n, all->shape, 1, &err) : NULL;
    if (!ds) {
        fprintf(stderr, "linear_models: %s\n", n ? err.message : "no examples of either class");
        return NULL;
    }
    for (int64_t i = 0, j = 0; i < all->n; i++) {
        if (all->y[i] != (float)a && all->y[i] != (float)b)
            continue;
        nb_dataset_gather(all, &i, 0, 1, ds->x + j * numel, NULL, NULL); /* i < all->n */
        ds->y[j] = all->y[i] == (float)b;
        n_b += ds->y[j] == 1;
        j++;
    }
    if (n_b == 0 || n_b == n) {
        fprintf(stderr, "linear_models: only one of the two classes is present\n");
        nb_dataset_free(ds);
        return NULL;
    }
    return ds;
}

/* Loads both splits and keeps the two classes; false after printing why. */
static bool load(const options *o, nb_dataset **train, nb_dataset **test)
{
    nb_error err = {0};
    nb_dataset *all_train = load_split(o->data, "train", &err);
    nb_dataset *all_test = all_train ? load_split(o->data, "test", &err) : NULL;
    if (!all_test)
        fprintf(stderr, "linear_models: %s\n", err.message);
    *train = all_test ? two_classes(all_train, o->class_a, o->class_b) : NULL;
    *test = *train ? two_classes(all_test, o->class_a, o->class_b) : NULL;
    nb_dataset_free(all_train);
    nb_dataset_free(all_test);
    if (!*test)
        nb_dataset_free(*train);
    return *test != NULL;
}

/* ---------------------------------------------------------------- the model */

/* The four ways to fit the score. */
typedef enum fit { FIT_LOGISTIC, FIT_HINGE, FIT_EXPONENTIAL, FIT_SQUARED_SIGMOID, N_FITS } fit;

static const char *const fit_names[N_FITS] = {"logistic", "hinge", "exponential", "sigmoid+squared"};
static const char *const fit_formulas[N_FITS] = {"log(1 + e^-M)", "max(0, 1 - M)", "e^-M",
                                                 "1/2 (sigma(s) - t)^2"};

/*
 * The trainer's model function: x [batch,1,28,28], targets t [batch,1] in
 * {0, 1}, score s = <w, x> + b [batch,1] (the output: the trainer counts
 * s > 0 as class b), and the loss of this row's fit.
 */
static nb_status build(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    fit f = *(const fit *)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 28, 28));
    io->y = nb_input(g, "t", NB_SHAPE(batch, 1));
    nb_node *s = nb_dense(g, nb_flatten(g, io->x),
                          (nb_dense_opts){.units = 1, .init = {NB_INIT_ZEROS}, .name = "linear"});
    io->output = s;
    if (f == FIT_SQUARED_SIGMOID) {
        io->loss = nb_mse_loss(g, nb_sigmoid(g, s), io->y);
    } else {
        static const nb_margin_kind kinds[] = {NB_MARGIN_LOGISTIC, NB_MARGIN_HINGE,
                                               NB_MARGIN_EXPONENTIAL};
        nb_node *y = nb_sub(g, nb_mul(g, io->y, nb_scalar(g, 2)), nb_scalar(g, 1)); /* ±1 */
        io->loss = nb_margin_loss(g, s, y, kinds[f]);
    }
    return nb_graph_status(g);
}

/* ---------------------------------------------------------------- one row */

typedef struct result {
    double train_acc, test_acc, train_loss, seconds;
    float lr;       /* the step size that was used */
    char note[512]; /* why a larger one was not, or "" */
    float w[28 * 28];
} result;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/*
 * Trains fit f at learning rate lr and measures it. Returns NB_OK,
 * NB_ERR_STATE when training diverged (the loss overflowed; the trainer's
 * message is printed), or another status after printing why.
 */
static nb_status run_fit(fit f, float lr, const options *o, const nb_dataset *train,
                         const nb_dataset *test, result *r)
{
    nb_train_opts opts = {.batch = 32, .epochs = o->epochs, .seed = o->seed,
                          .optimizer = {.kind = NB_OPT_SGD, .lr = lr}};
    nb_error err = {0};
    double t0 = now();
    nb_trainer *t = nb_trainer_new(build, &f, train->shape, 1, &opts, &err);
    nb_status st = t ? nb_trainer_fit(t, train, NULL) : err.status;
    r->seconds = now() - t0;
    r->lr = lr;
    if (st == NB_OK)
        st = nb_trainer_evaluate(t, train, &r->train_loss, &r->train_acc);
    if (st == NB_OK)
        st = nb_trainer_evaluate(t, test, NULL, &r->test_acc);
    nb_node *w = st == NB_OK ? nb_graph_find(nb_trainer_graph(t), "linear/w") : NULL;
    if (w)
        memcpy(r->w, nb_param_data(w), sizeof r->w);
    else if (st == NB_ERR_STATE)
        snprintf(r->note, sizeof r->note, "%s diverged at lr %g (%s)", fit_names[f], lr,
                 nb_trainer_error(t));
    else
        fprintf(stderr, "linear_models: %s, lr %g: %s\n", fit_names[f], lr,
                t ? nb_trainer_error(t) : err.message);
    nb_trainer_free(t);
    return w ? NB_OK : st != NB_OK ? st : NB_ERR_ARG;
}

/*
 * Trains fit f at o->lr; when that diverges (as the exponential loss can:
 * its gradient e^-M grows without bound on a badly misclassified image),
 * tries again with a ten times smaller step, up to three times. r->lr says
 * which step size the row used. false after printing why.
 */
static bool run_row(fit f, const options *o, const nb_dataset *train, const nb_dataset *test,
                    result *r)
{
    float lr = o->lr;
    char notes[sizeof r->note] = "";
    for (int attempt = 0; attempt < 4; attempt++, lr /= 10) {
        nb_status st = run_fit(f, lr, o, train, test, r);
        if (st != NB_ERR_STATE) {
            snprintf(r->note, sizeof r->note, "%s", notes);
            return st == NB_OK;
        }
        size_t used = strlen(notes);
        snprintf(notes + used, sizeof notes - used, "%s%s", used ? "; " : "", r->note);
    }
    fprintf(stderr, "linear_models: %s\n", notes);
    return false;
}

/* ---------------------------------------------------------------- the picture */

enum { ZOOM = 4, SIDE = 28 * ZOOM, GAP = 8, PANELS = 2 + N_FITS,
       HEAD = 3 * LABEL_CELL_H + GAP, FOOT = LABEL_CELL_H + GAP,
       PIC_W = PANELS * SIDE + (PANELS + 1) * GAP, PIC_H = HEAD + SIDE + GAP + FOOT };

/* Paints 28x28 values v into panel k of the RGB picture px, scaled up
 * ZOOM times. signed_map: white at 0, red for v > 0, blue for v < 0, full
 * colour at the largest |v|; otherwise grey, black 0 to white at the
 * largest v. */
static void paint(uint8_t *px, int k, const float *v, bool signed_map)
{
    float big = 1e-12f;
    for (int i = 0; i < 28 * 28; i++)
        big = fmaxf(big, fabsf(v[i]));
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            float u = v[(y / ZOOM) * 28 + x / ZOOM] / big;
            uint8_t *p = px + 3 * ((HEAD + y) * PIC_W + GAP + k * (SIDE + GAP) + x);
            uint8_t fade = (uint8_t)(255 * (1 - fminf(fabsf(u), 1)));
            if (signed_map)
                p[0] = u > 0 ? 255 : fade, p[1] = fade, p[2] = u < 0 ? 255 : fade;
            else
                p[0] = p[1] = p[2] = (uint8_t)(255 * fminf(fmaxf(u, 0), 1));
        }
}

/* The mean training image of target t (0: class a, 1: class b) into mean. */
static void class_mean(const nb_dataset *train, float t, float *mean)
{
    int64_t count = 0;
    memset(mean, 0, 28 * 28 * sizeof *mean);
    for (int64_t i = 0; i < train->n; i++) {
        if (train->y[i] != t)
            continue;
        count++;
        for (int j = 0; j < 28 * 28; j++)
            mean[j] += train->x[i * 28 * 28 + j];
    }
    for (int j = 0; j < 28 * 28; j++)
        mean[j] /= (float)(count ? count : 1);
}

/* Above each panel what it shows ("mean" and the class, "w" and the loss);
 * below them what the colours of w mean. */
static void label_panels(uint8_t *px, const options *o)
{
    static const uint8_t ink[3] = {0, 0, 0};
    for (int k = 0; k < PANELS; k++) {
        int x0 = GAP + k * (SIDE + GAP);
        const char *what = k < 2 ? class_names[k ? o->class_b : o->class_a] : fit_names[k - 2];
        label_center(px, PIC_W, PIC_H, 3, x0, SIDE, GAP / 2, k < 2 ? "mean" : "w", 2, ink);
        label_center(px, PIC_W, PIC_H, 3, x0, SIDE, GAP / 2 + 2 * LABEL_CELL_H, what, 1, ink);
    }
    char key[160];
    snprintf(key, sizeof key, "w: red where a bright pixel argues for %s (+1), blue for %s (-1)",
             class_names[o->class_b], class_names[o->class_a]);
    label_draw(px, PIC_W, PIC_H, 3, GAP, HEAD + SIDE + GAP, key, 1, ink);
}

/*
 * o->out/linear_models_w.png: the mean image of each class (grey), then
 * each fit's weight vector w (red: evidence for class b, blue: for class
 * a), each panel labelled. Returns false after printing why.
 */
static bool save_picture(const options *o, const nb_dataset *train, const result *r)
{
    static uint8_t px[PIC_H * PIC_W * 3];
    float mean[28 * 28];
    memset(px, 255, sizeof px);
    for (int c = 0; c < 2; c++) {
        class_mean(train, (float)c, mean);
        paint(px, c, mean, false);
    }
    for (int f = 0; f < N_FITS; f++)
        paint(px, 2 + f, r[f].w, true);
    label_panels(px, o);
    char path[1024];
    snprintf(path, sizeof path, "%s/linear_models_w.png", o->out);
    mkdir(o->out, 0777); /* if it is not there yet; nb_png_write reports any failure */
    nb_error err = {0};
    if (nb_png_write(path, PIC_W, PIC_H, 3, px, &err) != NB_OK) {
        fprintf(stderr, "linear_models: %s\n", err.message);
        return false;
    }
    printf("\nsaved %s: mean %s, mean %s, then w of %s, %s, %s, %s\n"
           "(red: a bright pixel there argues for %s, blue: for %s)\n", path,
           class_names[o->class_a], class_names[o->class_b], fit_names[0], fit_names[1],
           fit_names[2], fit_names[3], class_names[o->class_b], class_names[o->class_a]);
    return true;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    options o;
    if (!parse(argc, argv, &o))
        return 2;
    nb_set_threads(1); /* one unit on 784 pixels: threads would only wait for each other */
    nb_dataset *train, *test;
    if (!load(&o, &train, &test))
        return 1;
    int64_t test_b = 0;
    for (int64_t i = 0; i < test->n; i++)
        test_b += test->y[i] == 1;
    double chance = (double)(test_b > test->n - test_b ? test_b : test->n - test_b) / (double)test->n;
    printf("Linear models s = <w,x> + b on Fashion-MNIST: %s (y = -1) against %s (y = +1)\n",
           class_names[o.class_a], class_names[o.class_b]);
    printf("data %s: %lld training and %lld test images of the two classes\n", o.data,
           (long long)train->n, (long long)test->n);
    printf("SGD lr %g, batch 32, %d epochs, seed %llu; always answering the larger class scores "
           "%.4f on test\n\n", o.lr, o.epochs, (unsigned long long)o.seed, chance);
    printf("| loss            | L                    | lr     | train acc | test acc | train loss | time  |\n");
    printf("|-----------------|----------------------|--------|-----------|----------|------------|-------|\n");
    static result r[N_FITS];
    bool ok = true;
    for (int f = 0; f < N_FITS && ok; f++) {
        ok = run_row((fit)f, &o, train, test, &r[f]);
        if (ok)
            printf("| %-15s | %-20s | %-6g |    %.4f |   %.4f | %10.4f | %4.1fs |\n", fit_names[f],
                   fit_formulas[f], r[f].lr, r[f].train_acc, r[f].test_acc, r[f].train_loss,
                   r[f].seconds);
        fflush(stdout);
    }
    for (int f = 0; f < N_FITS && ok; f++)
        if (r[f].note[0])
            printf("\nnote: %s, so it ran at lr %g.\n", r[f].note, r[f].lr);
    if (ok && o.out)
        ok = save_picture(&o, train, r);
    int below = 0;
    for (int f = 0; f < N_FITS && ok; f++)
        below += r[f].test_acc < o.min_acc;
    nb_dataset_free(train);
    nb_dataset_free(test);
    if (!ok)
        return 1;
    printf("\nlinear_models: %s loss%s below test accuracy %.2f (chance %.2f)\n",
           below ? "FAILED:" : "no", below == 1 ? "" : "es", o.min_acc, chance);
    return below ? 1 : 0;
}
