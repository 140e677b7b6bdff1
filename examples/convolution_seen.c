/*
 * convolution_seen.c — the lecture's convolution, on real Fashion-MNIST
 * images, with weights fixed by hand rather than learned.
 *
 * A convolution slides a small kernel over the image and, at every
 * position, weighs the window under it: out(i, j) = Σ_uv K(u, v)·x(i+u, j+v).
 * nabla spells that out with two primitive ops, exactly as the lecture
 * describes it: unfold2d gathers every k×k window into a column
 * ([N,1,H,W] → [N, k·k, H·W]); one matrix product with the kernel matrix
 * (one filter per row, [F, k·k]) weighs all windows at once → [N, F, H·W].
 * nb_conv2d is that same composition with the kernel as a parameter; here
 * its parameter is set by hand through nb_param_data, and the program checks
 * that both routes give the same picture.
 *
 * What it shows, on the first --images test images:
 *   - the simplest convolutions: a 3×3 box (mean) filter, and Sobel edge
 *     filters (two rows of one kernel matrix: a layer of two "neurons" with
 *     shared weights), shown as the gradient magnitude √(gx² + gy²);
 *   - a Gaussian filter (σ = 1, 5×5, weights summing to 1) built with
 *     nb_conv2d and fixed weights;
 *   - noise suppression: Gaussian noise N(0, σ_noise²) (seeded, not clipped)
 *     added to each image and smoothed away by the Gaussian filter; PSNR
 *     against the clean image (peak 1.0), 10·log10(1 / MSE), before and
 *     after, averaged over the images, for several noise levels;
 *   - max-subsampling (nb_maxpool2d, 2×2): the same window walk with "+"
 *     replaced by "max", halving each side.
 * For the first --save images it writes one montage, --out/convolution_seen.png,
 * one row per image, each column labelled:
 *   original | noisy | Gaussian 5×5 of the noisy | box 3×3 of the noisy |
 *   edges of the original | max-pooled 2×2 of the original
 * (each panel enlarged ×4; the 14×14 max-pooled image ×8). The two filters
 * are shown on the noisy image the PSNR table measures them on.
 *
 * It is also the test of the claim: it exits 1 unless, at the noise level
 * --noise, the Gaussian filter raises the PSNR of EVERY image by at least
 * --margin dB (meson runs it on the 200-image test fixture).
 *
 *     convolution_seen [--data DIR] [--images 10000] [--noise 0.3] [--margin 0]
 *                      [--seed 1] [--save 4] [--out out]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmdline.h"
#include "label.h"
#include "nabla.h"

#define SIDE 28            /* Fashion-MNIST images are 28×28 */
#define PIX (SIDE * SIDE)
#define CHUNK 500          /* images per run of the graph */
#define ZOOM 4             /* montage enlargement of a 28×28 panel */
#define GAP 4              /* grey pixels between panels */
#define PANELS 6
#define PANEL (SIDE * ZOOM) /* a panel's side in pixels */
#define MONTAGE_W (PANELS * PANEL + (PANELS + 1) * GAP)
#define HEAD (GAP + 2 * LABEL_CELL_H + LABEL_CELL_H + GAP) /* the labels above the panels */

typedef struct args {
    const char *dir, *out;
    int64_t images;
    int save;
    double noise, margin;
    uint64_t seed;
} args;

/* ---------------------------------------------------------------- kernels */

/* Box 3×3, Sobel x, Sobel y: the rows of one kernel matrix [3, 9]. Row-major
 * over the window, as unfold2d orders it (row i·3 + j is offset (i-1, j-1)). */
static const float kernels3[3 * 9] = {
    1 / 9.f, 1 / 9.f, 1 / 9.f, 1 / 9.f, 1 / 9.f, 1 / 9.f, 1 / 9.f, 1 / 9.f, 1 / 9.f,
    -1, 0, 1, -2, 0, 2, -1, 0, 1,
    -1, -2, -1, 0, 0, 0, 1, 2, 1,
};

/* The k×k Gaussian exp(-(u² + v²) / 2σ²) over offsets u, v ∈ [-k/2, k/2],
 * normalised to sum 1 (so a flat image stays flat). */
static void gaussian_kernel(float *kern, int k, double sigma)
{
    double sum = 0;
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            double u = i - k / 2, v = j - k / 2;
            kern[i * k + j] = (float)exp(-(u * u + v * v) / (2 * sigma * sigma));
            sum += kern[i * k + j];
        }
    for (int i = 0; i < k * k; i++)
        kern[i] = (float)(kern[i] / sum);
}

/* ---------------------------------------------------------------- the graph */

/*
 * The convolution as the lecture composes it: x [B,1,H,W] → unfold2d with a
 * k×k window and zero padding k/2 (odd k keeps the size) → [B, k·k, H·W];
 * the kernel matrix K [F, k·k] (a constant) times the columns → [B, F, H·W]
 * (matmul broadcasts K over the batch) → [B, F, H, W]. NULL passes through.
 */
static nb_node *convolve(nb_graph *g, nb_node *x, const float *kern, int f, int k)
{
    if (!x)
        return NULL;
    nb_shape s = nb_node_shape(x);
    nb_node *cols = nb_unfold2d(g, x, (nb_window2d){.kh = k, .kw = k, .ph = k / 2, .pw = k / 2});
    nb_node *kmat = nb_constant(g, NB_SHAPE(f, k * k), kern);
    return nb_reshape(g, nb_matmul(g, kmat, cols, false, false),
                      NB_SHAPE(s.dim[0], f, s.dim[2], s.dim[3]));
}

/* The graph's nodes: two inputs (clean and noisy images) and what is shown. */
typedef struct filters {
    nb_node *x, *xn;          /* [B,1,28,28] clean, noisy */
    nb_node *feats;           /* [B,3,28,28] box, Sobel x, Sobel y of x */
    nb_node *gauss;           /* [B,1,28,28] nb_conv2d (fixed weights) of xn */
    nb_node *gauss_composed;  /* the same by unfold2d + matmul */
    nb_node *box_noisy;       /* [B,1,28,28] box 3×3 of xn */
    nb_node *pooled;          /* [B,1,14,14] max over 2×2 windows of x */
} filters;

/* Builds every filter for a batch of b images; the conv2d layer "gauss" is
 * an ordinary layer whose parameter w [1,1,5,5] is then overwritten with the
 * Gaussian. false (message in g) on failure. */
static bool build(nb_graph *g, int64_t b, filters *f)
{
    float gk[25];
    gaussian_kernel(gk, 5, 1.0);
    f->x = nb_input(g, "x", NB_SHAPE(b, 1, SIDE, SIDE));
    f->xn = nb_input(g, "x_noisy", NB_SHAPE(b, 1, SIDE, SIDE));
    f->feats = convolve(g, f->x, kernels3, 3, 3);
    f->gauss = nb_conv2d(g, f->xn, (nb_conv2d_opts){.filters = 1, .kernel = 5, .pad = 2,
                                                    .no_bias = true, .name = "gauss"});
    f->gauss_composed = convolve(g, f->xn, gk, 1, 5);
    f->box_noisy = convolve(g, f->xn, kernels3, 1, 3);
    f->pooled = nb_maxpool2d(g, f->x, (nb_pool2d_opts){.size = 2});
    nb_node *w = nb_graph_find(g, "gauss/w");
    if (nb_graph_status(g) != NB_OK || !w)
        return false;
    memcpy(nb_param_data(w), gk, sizeof gk);
    return true;
}

/* ---------------------------------------------------------------- data */

/* The test images of the Debian package (t10k-*) or of nabla's fixture
 * (fmnist-test-*), whichever dir holds. NULL after printing why. */
static nb_dataset *load_test(const char *dir)
{
    char img[1024], lab[1024];
    snprintf(img, sizeof img, "%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf(lab, sizeof lab, "%s/t10k-labels-idx1-ubyte.gz", dir);
    struct stat st;
    if (stat(img, &st) != 0) {
        snprintf(img, sizeof img, "%s/fmnist-test-images-idx3-ubyte.gz", dir);
        snprintf(lab, sizeof lab, "%s/fmnist-test-labels-idx1-ubyte.gz", dir);
    }
    nb_error err = {0};
    nb_dataset *ds = nb_idx_load_u8(img, lab, &err);
    if (!ds)
        fprintf(stderr, "convolution_seen: %s\n", err.message);
    return ds;
}

/* ---------------------------------------------------------------- measures */

/* PSNR of a against the clean image c (n pixels, peak 1): 10·log10(1/MSE). */
static double psnr(const float *a, const float *c, int n)
{
    double se = 0;
    for (int i = 0; i < n; i++)
        se += (double)(a[i] - c[i]) * (a[i] - c[i]);
    return 10.0 * log10(1.0 / (se / n + 1e-12));
}

/* One row of the table: PSNR sums over the images at one noise level. */
typedef struct level_stats {
    double sigma;
    double noisy, gauss, box;   /* sums of per-image PSNR, dB */
    double min_gain;            /* smallest gauss − noisy, dB */
    int64_t improved, n;        /* images gaining ≥ margin, images */
    double max_route_diff;      /* max |conv2d − unfold·matmul| */
} level_stats;

/* ---------------------------------------------------------------- pictures */

/* Copies a w×w float panel into the montage with its top-left corner at
 * (x0, y0), enlarged z times, mapping [lo, hi] to black..white. */
static void paste(uint8_t *px, int width, int x0, int y0, const float *v, int w, int z, float lo,
                  float hi)
{
    for (int y = 0; y < w * z; y++)
        for (int x = 0; x < w * z; x++) {
            float t = (v[(y / z) * w + x / z] - lo) / (hi - lo);
            px[(y0 + y) * width + x0 + x] = (uint8_t)(t <= 0 ? 0 : t >= 1 ? 255 : t * 255 + 0.5f);
        }
}

/*
 * The montage: a header naming each column, then one row per saved image,
 * original | noisy | Gaussian(noisy) | box 3×3(noisy) | edges |∇| of the
 * original (scaled to its own maximum) | max-pooled 2×2 of the original.
 * Panels 112×112 on a mid-grey background, GAP pixels apart.
 */
typedef struct montage {
    uint8_t *px;    /* MONTAGE_W × h grey pixels */
    int h, rows;
} montage;

/* A montage of `rows` image rows with its header drawn; px NULL when out of
 * memory. */
static montage montage_new(int rows, double sigma)
{
    montage m = {.h = HEAD + rows * (PANEL + GAP), .rows = rows};
    m.px = malloc((size_t)MONTAGE_W * (size_t)m.h);
    if (!m.px)
        return m;
    memset(m.px, 128, (size_t)MONTAGE_W * (size_t)m.h);
    char noise[32];
    snprintf(noise, sizeof noise, "sigma %.2f", sigma);
    static const char *title[PANELS] = {"original", "noisy", "Gaussian", "box 3x3", "edges",
                                        "max 2x2"};
    const char *detail[PANELS] = {"clean", noise, "5x5, of noisy", "of noisy",
                                  "Sobel, of original", "of original"};
    const uint8_t ink[3] = {0, 0, 0};
    for (int p = 0; p < PANELS; p++) {
        int x0 = GAP + p * (PANEL + GAP);
        label_center(m.px, MONTAGE_W, m.h, 1, x0, PANEL, GAP, title[p], 2, ink);
        label_center(m.px, MONTAGE_W, m.h, 1, x0, PANEL, GAP + 2 * LABEL_CELL_H, detail[p], 1, ink);
    }
    return m;
}

/* Row `row` of the montage: one image's six panels. */
static void montage_row(montage *m, int row, const float *x, const float *xn, const float *gauss,
                        const float *box, const float *feats, const float *pooled)
{
    float edges[PIX], emax = 1e-6f;
    for (int i = 0; i < PIX; i++) {
        float gx = feats[PIX + i], gy = feats[2 * PIX + i];
        edges[i] = sqrtf(gx * gx + gy * gy);
        emax = edges[i] > emax ? edges[i] : emax;
    }
    const float *panel[PANELS] = {x, xn, gauss, box, edges, pooled};
    int y0 = HEAD + row * (PANEL + GAP);
    for (int p = 0; p < PANELS; p++)
        paste(m->px, MONTAGE_W, GAP + p * (PANEL + GAP), y0, panel[p], p == 5 ? SIDE / 2 : SIDE,
              p == 5 ? 2 * ZOOM : ZOOM, 0, p == 4 ? emax : 1);
}

/* Writes the montage to dir/convolution_seen.png; false after printing why. */
static bool montage_save(const montage *m, const char *dir)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/convolution_seen.png", dir);
    nb_error err = {0};
    if (nb_png_write(path, MONTAGE_W, m->h, 1, m->px, &err) != NB_OK) {
        fprintf(stderr, "convolution_seen: %s\n", err.message);
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------- the run */

/* Adds N(0, σ²) noise to n pixels (no clipping: the plain additive model). */
static void add_noise(float *dst, const float *src, int64_t n, double sigma, nb_rng *rng)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = src[i] + (float)sigma * nb_rng_normal(rng);
}

/* Runs the filters over images [start, start + count) of ds at noise level
 * s->sigma (zero-padding the batch past count), accumulating into s; draws
 * the images below m->rows into the montage m when m is not NULL. */
static bool run_chunk(nb_runtime *rt, const filters *f, const nb_dataset *ds, int64_t start,
                      int64_t count, int64_t b, nb_rng *rng, level_stats *s, const args *a,
                      montage *m, float *xbuf, float *nbuf)
{
    memset(xbuf, 0, (size_t)(b * PIX) * sizeof *xbuf);
    nb_error err;
    if (nb_dataset_gather(ds, NULL, start, count, xbuf, NULL, &err) != NB_OK) {
        fprintf(stderr, "convolution_seen: %s\n", err.message);
        return false;
    }
    add_noise(nbuf, xbuf, b * PIX, s->sigma, rng);
    if (nb_runtime_set_input(rt, f->x, xbuf) || nb_runtime_set_input(rt, f->xn, nbuf) ||
        nb_runtime_run(rt)) {
        fprintf(stderr, "convolution_seen: %s\n", nb_runtime_error(rt));
        return false;
    }
    const float *gs = nb_runtime_value(rt, f->gauss), *gc = nb_runtime_value(rt, f->gauss_composed);
    const float *bx = nb_runtime_value(rt, f->box_noisy), *ft = nb_runtime_value(rt, f->feats);
    const float *pl = nb_runtime_value(rt, f->pooled);
    for (int64_t i = 0; i < count; i++) {
        const float *c = xbuf + i * PIX;
        double pn = psnr(nbuf + i * PIX, c, PIX), pg = psnr(gs + i * PIX, c, PIX);
        s->noisy += pn;
        s->gauss += pg;
        s->box += psnr(bx + i * PIX, c, PIX);
        s->min_gain = s->n == 0 || pg - pn < s->min_gain ? pg - pn : s->min_gain;
        s->improved += pg - pn >= a->margin;
        s->n++;
        for (int j = 0; j < PIX; j++) {
            double d = fabs((double)gs[i * PIX + j] - gc[i * PIX + j]);
            s->max_route_diff = d > s->max_route_diff ? d : s->max_route_diff;
        }
        if (m && start + i < m->rows)
            montage_row(m, (int)(start + i), c, nbuf + i * PIX, gs + i * PIX, bx + i * PIX,
                        ft + i * 3 * PIX, pl + i * PIX / 4);
    }
    return true;
}

/* All images at one noise level; the noise is drawn from seed + level so
 * every level (and every run) is reproducible on its own. With `pictures`
 * it also writes the montage of the first a->save images. */
static bool run_level(nb_runtime *rt, const filters *f, const nb_dataset *ds, int64_t b,
                      const args *a, level_stats *s, bool pictures, float *xbuf, float *nbuf)
{
    nb_rng rng = nb_rng_seed(a->seed * 1000 + (uint64_t)(s->sigma * 100 + 0.5));
    montage m = {0};
    if (pictures && a->save > 0) {
        m = montage_new(a->save, s->sigma);
        if (!m.px) {
            fprintf(stderr, "convolution_seen: out of memory for the montage\n");
            return false;
        }
    }
    bool ok = true;
    for (int64_t start = 0; start < a->images && ok; start += b) {
        int64_t count = a->images - start < b ? a->images - start : b;
        ok = run_chunk(rt, f, ds, start, count, b, &rng, s, a, m.px ? &m : NULL, xbuf, nbuf);
    }
    ok = ok && (!m.px || montage_save(&m, a->out));
    free(m.px);
    return ok;
}

static bool parse(int argc, char **argv, args *a)
{
    const cmdline_opt opts[] = {
        {"--data", CMDLINE_STR, &a->dir},       {"--out", CMDLINE_STR, &a->out},
        {"--images", CMDLINE_I64, &a->images},  {"--save", CMDLINE_INT, &a->save},
        {"--noise", CMDLINE_DOUBLE, &a->noise}, {"--margin", CMDLINE_DOUBLE, &a->margin},
        {"--seed", CMDLINE_U64, &a->seed},      {0}};
    return cmdline_parse(argc, argv, opts) && a->images > 0 && a->noise > 0 && a->save >= 0;
}

/* Prints the Gaussian kernel, the table and the verdict; returns the exit
 * status (0: every image gained at least margin dB at level a->noise). */
static int report(const args *a, const level_stats *st, int n_levels)
{
    float gk[25];
    gaussian_kernel(gk, 5, 1.0);
    printf("Gaussian kernel, sigma 1, 5x5, sum 1 (the conv2d layer's fixed weights):\n");
    for (int i = 0; i < 5; i++)
        printf("  %.4f %.4f %.4f %.4f %.4f\n", gk[i * 5], gk[i * 5 + 1], gk[i * 5 + 2],
               gk[i * 5 + 3], gk[i * 5 + 4]);
    double diff = 0;
    for (int l = 0; l < n_levels; l++)
        diff = st[l].max_route_diff > diff ? st[l].max_route_diff : diff;
    printf("max |nb_conv2d - unfold2d.matmul| over all images = %.2g\n\n", diff);
    printf("PSNR (dB, peak 1, mean over %lld test images) against the clean image\n",
           (long long)a->images);
    printf("| noise sigma | noisy | Gaussian 5x5 | box 3x3 | min gain | images gaining >= %.1f dB |\n",
           a->margin);
    printf("|---|---|---|---|---|---|\n");
    int status = 1;
    for (int l = 0; l < n_levels; l++) {
        const level_stats *s = &st[l];
        printf("| %.2f | %.2f | %.2f | %.2f | %.2f | %lld / %lld |\n", s->sigma, s->noisy / s->n,
               s->gauss / s->n, s->box / s->n, s->min_gain, (long long)s->improved,
               (long long)s->n);
        if (fabs(s->sigma - a->noise) < 1e-9)
            status = s->improved == s->n ? 0 : 1;
    }
    printf("\nclaim: at noise sigma %.2f the Gaussian filter raises PSNR by >= %.1f dB on every "
           "image: %s\n", a->noise, a->margin, status == 0 ? "yes" : "NO");
    return status;
}

int main(int argc, char **argv)
{
    args a = {.dir = "/usr/share/datasets/fashion-mnist", .out = "out", .images = 10000,
              .save = 4, .noise = 0.3, .margin = 0.0, .seed = 1};
    if (!parse(argc, argv, &a)) {
        fprintf(stderr, "usage: %s [--data DIR] [--images N] [--noise S] [--margin DB] "
                "[--seed N] [--save K] [--out DIR]\n", argv[0]);
        return 2;
    }
    if (!cmdline_out_dir("convolution_seen", a.out))
        return 1;
    nb_dataset *ds = load_test(a.dir);
    if (!ds)
        return 1;
    a.images = a.images < ds->n ? a.images : ds->n;
    a.save = a.save < a.images ? a.save : (int)a.images;
    int64_t b = a.images < CHUNK ? a.images : CHUNK;
    nb_graph *g = nb_graph_new();
    filters f;
    nb_runtime *rt = NULL;
    if (build(g, b, &f)) {
        nb_node *outs[] = {f.feats, f.gauss, f.gauss_composed, f.box_noisy, f.pooled};
        rt = nb_runtime_new(g, outs, 5);
    }
    float *xbuf = malloc((size_t)(b * PIX) * sizeof *xbuf);
    float *nbuf = malloc((size_t)(b * PIX) * sizeof *nbuf);
    level_stats st[5] = {{.sigma = 0.1}, {.sigma = 0.2}, {.sigma = 0.3}, {.sigma = 0.5}};
    int n_levels = 4, status = 1;
    if (fabs(a.noise - 0.1) > 1e-9 && fabs(a.noise - 0.2) > 1e-9 && fabs(a.noise - 0.3) > 1e-9 &&
        fabs(a.noise - 0.5) > 1e-9)
        st[n_levels++].sigma = a.noise;
    if (!rt)
        fprintf(stderr, "convolution_seen: %s\n", nb_graph_error(g));
    else if (xbuf && nbuf) {
        bool ok = true;
        for (int l = 0; l < n_levels && ok; l++)
            ok = run_level(rt, &f, ds, b, &a, &st[l], fabs(st[l].sigma - a.noise) < 1e-9, xbuf,
                           nbuf);
        if (ok) {
            status = report(&a, st, n_levels);
            if (a.save > 0)
                printf("montage of the first %d images (original | noisy | Gaussian of noisy | "
                       "box 3x3 of noisy | edges | max-pooled 2x2): %s/convolution_seen.png\n",
                       a.save, a.out);
        }
    }
    free(xbuf);
    free(nbuf);
    nb_runtime_free(rt);
    nb_graph_free(g);
    nb_dataset_free(ds);
    return status;
}
