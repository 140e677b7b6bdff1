/*
 * test_kernels_conv_dx.c — the input-gradient kernel of a convolution
 * (ops/kernels/conv_dx.c) checked from inside the library against its
 * plain reference (conv_dx_plain.c, the kernel of CPUs without AVX2 and
 * FMA), each set of tiled blocks this CPU runs (AVX2, AVX-512) and the
 * forward convolution of dy by the flipped kernel (nb__conv_dx_direct),
 * which test_fusion_conv_dx.c reaches only the best of: all within float
 * rounding of each other on shapes that leave partial register blocks (rows
 * and columns), strides, padding and dilation, 14×14 and 28×28 images with
 * channel counts off the vector width; the direct form refuses a stride
 * and padding beyond the window's reach, and takes every other case here.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "../ops/kernels/conv_dx.h"

/* The geometry with its output size filled in. */
static nb__conv_dx geometry(int64_t n, int64_t c, int64_t h, int64_t w, int64_t f, int64_t kh,
                            int64_t kw, int64_t s, int64_t p, int64_t d)
{
    nb__conv_dx g = {.n = n, .c = c, .h = h, .w = w, .f = f, .kh = kh, .kw = kw, .sh = s,
                     .sw = s, .ph = p, .pw = p, .dh = d, .dw = d};
    g.oh = (h + 2 * p - d * (kh - 1) - 1) / s + 1;
    g.ow = (w + 2 * p - d * (kw - 1) - 1) / s + 1;
    return g;
}

Test(kernels_conv_dx, the_kernel_agrees_with_its_plain_reference)
{
    const nb__conv_dx cases[] = {
        geometry(2, 6, 14, 14, 16, 5, 5, 1, 0, 1), geometry(1, 3, 9, 9, 5, 3, 3, 1, 1, 1),
        geometry(3, 13, 11, 7, 11, 3, 3, 2, 1, 1), geometry(2, 9, 12, 12, 7, 3, 3, 1, 2, 2),
        geometry(2, 17, 8, 10, 19, 1, 1, 1, 0, 1), geometry(1, 5, 13, 13, 3, 5, 5, 2, 2, 1),
        geometry(1, 7, 9, 20, 9, 2, 4, 3, 1, 2), geometry(2, 33, 14, 14, 35, 3, 3, 1, 1, 1),
        geometry(1, 20, 28, 28, 24, 5, 5, 1, 2, 1), geometry(2, 4, 10, 9, 6, 3, 5, 1, 1, 1),
        geometry(1, 16, 14, 14, 17, 3, 3, 1, 3, 1), geometry(1, 64, 28, 28, 64, 3, 3, 1, 1, 1),
        /* the aligned fold: row stride 2 with column stride 1, dilated
         * columns, rows of 5 and of 30 (four vectors) */
        {.n = 2, .c = 5, .h = 11, .w = 9, .f = 7, .kh = 3, .kw = 3, .sh = 2, .sw = 1, .ph = 1,
         .pw = 0, .dh = 1, .dw = 2, .oh = 6, .ow = 5},
        geometry(2, 3, 7, 5, 9, 3, 3, 1, 1, 1), geometry(1, 2, 6, 30, 20, 3, 5, 1, 2, 1),
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const nb__conv_dx *d = &cases[t];
        const int64_t nw = d->f * d->c * d->kh * d->kw, ny = d->n * d->f * d->oh * d->ow;
        const int64_t nx = d->n * d->c * d->h * d->w;
        float *w = malloc((size_t)nw * sizeof(float)), *dy = malloc((size_t)ny * sizeof(float));
        float *fast = malloc((size_t)nx * sizeof(float)), *plain = malloc((size_t)nx * sizeof(float));
        t_fill(w, nw, 7 + t, -1, 1);
        t_fill(dy, ny, 9 + t, -1, 1);
        const float *in[2] = {w, dy};
        for (int64_t n = 0; n < d->n; n++)
            nb__conv_dx_plain(d, w, dy, plain, n, 0, d->c);
        for (int isa = 0; isa <= nb__conv_dx_isa(); isa++) {
            nb__conv_dx_with(d, isa, in, fast);
            t_assert_close(fast, plain, nx, 2e-6f * (float)(d->f * d->kh * d->kw));
        }
        const bool takes = d->sh == 1 && d->sw == 1 && d->ph <= d->dh * (d->kh - 1) &&
                           d->pw <= d->dw * (d->kw - 1);
        for (int64_t i = 0; i < nx; i++)
            fast[i] = NAN;
        cr_assert_eq(nb__conv_dx_direct(d, in, fast), takes, "case %zu: the direct form %s it", t,
                     takes ? "takes" : "refuses");
        if (takes) {
            t_assert_close(fast, plain, nx, 2e-6f * (float)(d->f * d->kh * d->kw));
            /* the same bits when its items are split across two threads */
            float *two = malloc((size_t)nx * sizeof(float));
            nb_set_threads(2);
            cr_assert(nb__conv_dx_direct(d, in, two));
            nb_set_threads(1);
            cr_assert(nb__conv_dx_direct(d, in, fast));
            nb_set_threads(0);
            cr_assert(memcmp(fast, two, (size_t)nx * sizeof(float)) == 0,
                      "case %zu: the same bits at 1 and 2 threads", t);
            free(two);
        }
        free(w);
        free(dy);
        free(fast);
        free(plain);
    }
}

/* One form of the input gradient (its test and its kernel) checked on each
 * case: its AVX2 blocks give the bits of its plain loops, the same bits at
 * 1 and 2 threads, within float rounding of the definition; and each
 * refused case is refused by both the test and the kernel. */
typedef bool (*dx_takes_fn)(const nb__conv_dx *d);
typedef bool (*dx_form_fn)(const nb__conv_dx *d, bool fast, const float *const *in, float *out);

static void check_dx_form(const char *form, dx_takes_fn takes, dx_form_fn run,
                          const nb__conv_dx *cases, size_t ncases, const nb__conv_dx *refused,
                          size_t nrefused, uint64_t seed_w, uint64_t seed_dy)
{
    for (size_t t = 0; t < ncases; t++) {
        const nb__conv_dx *d = &cases[t];
        cr_assert(takes(d), "%s, case %zu: the form takes it", form, t);
        const int64_t nw = d->f * d->c * d->kh * d->kw, ny = d->n * d->f * d->oh * d->ow;
        const int64_t nx = d->n * d->c * d->h * d->w;
        float *w = malloc((size_t)nw * sizeof(float)), *dy = malloc((size_t)ny * sizeof(float));
        float *fast = malloc((size_t)nx * sizeof(float)), *plain = malloc((size_t)nx * sizeof(float));
        float *chains = malloc((size_t)nx * sizeof(float)), *two = malloc((size_t)nx * sizeof(float));
        t_fill(w, nw, seed_w + t, -1, 1);
        t_fill(dy, ny, seed_dy + t, -1, 1);
        const float *in[2] = {w, dy};
        for (int64_t n = 0; n < d->n; n++)
            nb__conv_dx_plain(d, w, dy, plain, n, 0, d->c);
        for (int64_t i = 0; i < nx; i++)
            fast[i] = chains[i] = two[i] = NAN;
        nb_set_threads(1);
        cr_assert(run(d, false, in, chains));
        cr_assert(run(d, true, in, fast));
        nb_set_threads(2);
        cr_assert(run(d, true, in, two));
        nb_set_threads(0);
        t_assert_close(chains, plain, nx, 2e-6f * (float)(d->f * d->kh * d->kw));
        cr_assert(memcmp(fast, chains, (size_t)nx * sizeof(float)) == 0,
                  "%s, case %zu: the blocks compute the plain loops' chains", form, t);
        cr_assert(memcmp(fast, two, (size_t)nx * sizeof(float)) == 0,
                  "%s, case %zu: the same bits at 1 and 2 threads", form, t);
        free(w);
        free(dy);
        free(fast);
        free(plain);
        free(chains);
        free(two);
    }
    for (size_t t = 0; t < nrefused; t++) {
        float out = 0.0f;
        const float *in[2] = {&out, &out};
        cr_assert(!takes(&refused[t]), "%s, refused case %zu", form, t);
        cr_assert(!run(&refused[t], true, in, &out), "%s, refused case %zu", form, t);
    }
}

/* The gather form for few channels on narrow rows (conv_dx_rows.c): its
 * AVX2 blocks give the same bits as its plain loops (the same chains), and
 * the same bits at 1 and 2 threads, within float rounding of the
 * definition, on batch 1, channel counts 1, 3, 6 (one block), 7 (a block
 * and one), 13, filters 5, 16, 17, rows shorter than a vector and of
 * exactly 16, padding, dilation; it refuses a stride, rows wider than 16
 * and padding beyond the window's reach. */
Test(kernels_conv_dx, the_gather_form_agrees_with_its_plain_chains)
{
    const nb__conv_dx cases[] = {
        geometry(2, 6, 14, 14, 16, 5, 5, 1, 0, 1), geometry(1, 1, 9, 9, 5, 3, 3, 1, 1, 1),
        geometry(3, 3, 6, 5, 17, 5, 5, 1, 2, 1),   geometry(2, 7, 14, 14, 16, 5, 5, 1, 0, 1),
        geometry(1, 13, 16, 16, 5, 3, 3, 1, 1, 1), geometry(2, 7, 12, 11, 17, 3, 3, 1, 2, 2),
        geometry(1, 6, 7, 3, 16, 1, 1, 1, 0, 1),   geometry(2, 3, 10, 9, 6, 3, 5, 1, 1, 1),
        {.n = 2, .c = 7, .h = 9, .w = 13, .f = 5, .kh = 3, .kw = 5, .sh = 1, .sw = 1, .ph = 3,
         .pw = 1, .dh = 1, .dw = 1, .oh = 13, .ow = 11},
    };
    const nb__conv_dx refused[] = {
        geometry(1, 6, 14, 14, 16, 5, 5, 2, 0, 1), /* a stride */
        geometry(1, 6, 17, 17, 16, 3, 3, 1, 1, 1), /* rows of 17 */
        geometry(1, 3, 9, 9, 5, 3, 3, 1, 3, 1),    /* padding beyond the reach */
    };
    check_dx_form("gather", nb__conv_dx_rows_takes, nb__conv_dx_rows, cases,
                  sizeof cases / sizeof cases[0], refused, sizeof refused / sizeof refused[0],
                  17, 19);
}

/* The filters-in-the-lanes form (conv_dx_lanes.c): its AVX2 blocks give the
 * same bits as its plain loops (the same chains and tree of lanes, read
 * from W and dy as they lie), and the same bits at 1 and 2 threads, within
 * float rounding of the definition, on LeNet-5's second layer, batch 1,
 * channel counts 1, 3, 7 (a block and one), 13, filters 5 and 17 (lanes
 * beyond f), 8, 16, 24, odd rows (a last position alone), rows wider than
 * a vector, padding beyond the window's reach, dilation (taps a column
 * apart or not), windows of 1, 3, 4 and 5 columns; it refuses a stride and
 * W or dy too large to stage. */
Test(kernels_conv_dx, the_filters_in_the_lanes_agree_with_their_plain_chains)
{
    const nb__conv_dx cases[] = {
        geometry(3, 6, 14, 14, 16, 5, 5, 1, 0, 1), geometry(1, 1, 9, 9, 5, 3, 3, 1, 1, 1),
        geometry(3, 3, 6, 5, 17, 5, 5, 1, 2, 1),   geometry(2, 7, 13, 13, 16, 5, 5, 1, 0, 1),
        geometry(1, 13, 16, 16, 8, 3, 3, 1, 1, 1), geometry(2, 7, 12, 11, 24, 3, 3, 1, 2, 2),
        geometry(1, 6, 7, 3, 16, 1, 1, 1, 0, 1),   geometry(2, 3, 10, 9, 8, 3, 5, 1, 1, 1),
        geometry(2, 5, 11, 23, 16, 4, 4, 1, 0, 1), geometry(1, 4, 9, 9, 8, 3, 3, 1, 3, 1),
        {.n = 2, .c = 7, .h = 9, .w = 13, .f = 16, .kh = 3, .kw = 5, .sh = 1, .sw = 1, .ph = 3,
         .pw = 1, .dh = 1, .dw = 1, .oh = 13, .ow = 11},
        {.n = 1, .c = 2, .h = 8, .w = 15, .f = 8, .kh = 2, .kw = 3, .sh = 1, .sw = 1, .ph = 0,
         .pw = 4, .dh = 2, .dw = 3, .oh = 6, .ow = 17},
    };
    const nb__conv_dx refused[] = {
        geometry(1, 6, 14, 14, 16, 5, 5, 2, 0, 1),  /* a stride */
        geometry(1, 64, 14, 14, 16, 5, 5, 1, 0, 1), /* W of 25600 floats to stage */
        geometry(1, 6, 40, 40, 16, 3, 3, 1, 1, 1),  /* dy of 26880 floats to stage */
    };
    check_dx_form("lanes", nb__conv_dx_lanes_takes, nb__conv_dx_lanes, cases,
                  sizeof cases / sizeof cases[0], refused, sizeof refused / sizeof refused[0],
                  23, 29);
}

/* The forward form with W packed once (conv_dx_panels.c): its AVX2 blocks
 * give the same bits as the plain block's chains, and the same bits at 1
 * and 2 threads, within float rounding of the definition, and the bits
 * of nb__conv_dx_direct (the forward's filters-in-lanes blocks, which
 * compute the same chains) where that runs those blocks; on channel
 * counts 1, 5, 17 and 33 (lanes past the last channel, a panel of one),
 * 16, 48 and 128 (whole panels, groups of them), filters split into
 * blocks (40 on 28×28, 3×3: five of 8), several small images
 * an item, 14×14 and 28×28 cut into tiles of rows, padding 0 to the
 * window's reach, dilation, a non-square kernel, batch 1; it refuses a
 * stride, padding beyond the window's reach, 289 taps and rows of 1100. */
Test(kernels_conv_dx, the_packed_forward_form_agrees_with_its_plain_chains)
{
    const nb__conv_dx cases[] = {
        geometry(2, 32, 14, 14, 32, 3, 3, 1, 1, 1),  geometry(1, 1, 9, 9, 5, 3, 3, 1, 1, 1),
        geometry(3, 5, 6, 5, 17, 5, 5, 1, 2, 1),     geometry(2, 17, 13, 13, 16, 3, 3, 1, 0, 1),
        geometry(2, 33, 14, 14, 35, 3, 3, 1, 1, 1),  geometry(2, 16, 28, 28, 40, 3, 3, 1, 1, 1),
        geometry(1, 48, 6, 5, 17, 3, 3, 1, 2, 2),    geometry(2, 128, 14, 14, 20, 3, 3, 1, 1, 1),
        geometry(1, 64, 28, 28, 24, 5, 5, 1, 2, 1),  geometry(5, 20, 9, 7, 48, 3, 3, 1, 1, 1),
        geometry(2, 16, 10, 10, 6, 5, 5, 1, 4, 1),   geometry(1, 32, 12, 11, 9, 3, 3, 1, 2, 2),
        {.n = 2, .c = 24, .h = 9, .w = 13, .f = 7, .kh = 3, .kw = 5, .sh = 1, .sw = 1, .ph = 2,
         .pw = 1, .dh = 1, .dw = 1, .oh = 11, .ow = 11},
    };
    const nb__conv_dx refused[] = {
        geometry(1, 16, 14, 14, 16, 3, 3, 2, 1, 1),   /* a stride */
        geometry(1, 16, 9, 9, 5, 3, 3, 1, 3, 1),      /* padding beyond the reach */
        geometry(1, 16, 20, 20, 4, 17, 17, 1, 8, 1),  /* 289 taps */
        geometry(1, 16, 2, 1100, 4, 1, 1, 1, 0, 1),   /* rows of 1100 */
    };
    check_dx_form("packed", nb__conv_dx_panels_takes, nb__conv_dx_panels, cases,
                  sizeof cases / sizeof cases[0], refused, sizeof refused / sizeof refused[0],
                  31, 37);
    /* the forward form's bits, where it runs the filters-in-lanes blocks
     * (with AVX-512 it runs its own) */
    if (nb__conv_dx_isa() != 1)
        return;
    const nb__conv_dx *d = &cases[0];
    const int64_t nw = d->f * d->c * 9, ny = d->n * d->f * d->oh * d->ow;
    const int64_t nx = d->n * d->c * d->h * d->w;
    float *w = malloc((size_t)nw * sizeof(float)), *dy = malloc((size_t)ny * sizeof(float));
    float *a = malloc((size_t)nx * sizeof(float)), *b = malloc((size_t)nx * sizeof(float));
    t_fill(w, nw, 41, -1, 1);
    t_fill(dy, ny, 43, -1, 1);
    const float *in[2] = {w, dy};
    cr_assert(nb__conv_dx_panels(d, true, in, a));
    cr_assert(nb__conv_dx_direct(d, in, b));
    cr_assert(memcmp(a, b, (size_t)nx * sizeof(float)) == 0,
              "the packed form gives the forward form's bits");
    free(w);
    free(dy);
    free(a);
    free(b);
}
