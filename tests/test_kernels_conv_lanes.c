/*
 * test_kernels_conv_lanes.c — the filters-in-lanes convolution
 * (ops/kernels/conv_lanes.h) from inside the library: its AVX2 block gives
 * the plain block's bits, as do the AVX-512 pairs of panels; the whole
 * convolution, by any block, gives bit for bit the chain its header
 * promises (each output one fused multiply-add chain over (channel, tap)
 * ascending from 0), written here as plain loops, at 1 and 2 threads, on
 * odd shapes: strides, padding, dilation, batch 1, filter counts that are
 * not multiples of 8 or 16 (the last panel partly zeros), odd numbers of
 * panels, channel counts past one staged block, rows shorter than a
 * vector, flipped taps (the input gradient's form), and with an
 * epilogue. The rule picks it where the filters fill the lanes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "../ops/kernels/conv_lanes.h"

Test(kernels_conv_lanes, the_avx2_block_gives_the_plain_blocks_bits)
{
    enum { ST = 4096, KB = 300 };
    float *st = malloc(ST * sizeof(float)), *wp = malloc(KB * 16 * sizeof(float));
    t_fill(st, ST, 3, -1, 1);
    t_fill(wp, KB * 16, 4, -1, 1);
    int32_t offs[KB], pos[6] = {0, 1, 2, 37, 38, 500};
    for (int p = 0; p < KB; p++)
        offs[p] = (p * 13) % 3000;
    const int64_t kbs[] = {1, 2, 7, 150, KB};
    for (size_t k = 0; k < sizeof kbs / sizeof kbs[0]; k++)
        for (int first = 0; first <= 1; first++) {
            float want[96], got[96];
            t_fill(want, 96, 5 + k, -1, 1);
            memcpy(got, want, sizeof want);
            nb__conv_lanes_block_plain(st, pos, offs, kbs[k], wp, want, first);
            /* the plain block against its definition */
            for (int q = 0; q < 6; q++)
                for (int v = 0; v < 16; v++) {
                    float acc = first ? 0.0f : got[q * 16 + v];
                    for (int64_t p = 0; p < kbs[k]; p++)
                        acc = fmaf(wp[p * 16 + v], st[pos[q] + offs[p]], acc);
                    cr_assert(memcmp(&acc, &want[q * 16 + v], 4) == 0, "kb %lld q %d v %d",
                              (long long)kbs[k], q, v);
                }
            if (nb__conv_lanes_block_avx2(st, pos, offs, kbs[k], wp, got, first))
                cr_assert(memcmp(got, want, sizeof want) == 0, "avx2 kb %lld first %d",
                          (long long)kbs[k], first);
        }
    free(st);
    free(wp);
}

Test(kernels_conv_lanes, a_run_of_blocks_gives_each_blocks_bits)
{
    enum { ST = 4096, KB = 130, NMAX = 17 };
    float *st = malloc(ST * sizeof(float)), *wp = malloc(KB * 16 * sizeof(float));
    t_fill(st, ST, 6, -1, 1);
    t_fill(wp, KB * 16, 7, -1, 1);
    int32_t offs[KB], pos[NMAX];
    for (int p = 0; p < KB; p++)
        offs[p] = (p * 29) % 3500;
    for (int q = 0; q < NMAX; q++)
        pos[q] = q * 31 % 500;
    /* runs of whole blocks and runs ending in a part block (the last
     * position repeated), continuing sums and starting them */
    const int64_t ns[] = {1, 5, 6, 7, 12, 13, NMAX};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
        for (int first = 0; first <= 1; first++) {
            const int64_t n = ns[k], blocks = (n + 5) / 6;
            float want[18 * 16], plain[18 * 16], got[18 * 16];
            t_fill(want, 18 * 16, 8 + k, -1, 1);
            memcpy(plain, want, sizeof want);
            memcpy(got, want, sizeof want);
            for (int64_t b = 0; b < blocks; b++) {
                int32_t pq[6];
                for (int q = 0; q < 6; q++)
                    pq[q] = pos[6 * b + q < n ? 6 * b + q : n - 1];
                nb__conv_lanes_block_plain(st, pq, offs, KB, wp, want + b * 96, first);
            }
            nb__conv_lanes_run_plain(st, pos, n, offs, KB, wp, plain, first);
            cr_assert(memcmp(plain, want, sizeof want) == 0, "plain run n %lld first %d",
                      (long long)n, first);
            if (nb__conv_lanes_run_avx2(st, pos, n, offs, KB, wp, got, first))
                cr_assert(memcmp(got, want, sizeof want) == 0, "avx2 run n %lld first %d",
                          (long long)n, first);
        }
    free(st);
    free(wp);
}

Test(kernels_conv_lanes, the_avx512_pairs_give_each_panels_plain_bits)
{
    enum { ST = 4096, KB = 140, NMAX = 17 };
    float *st = malloc(ST * sizeof(float)), *wp = malloc(2 * KB * 16 * sizeof(float));
    t_fill(st, ST, 31, -1, 1);
    t_fill(wp, 2 * KB * 16, 32, -1, 1);
    int32_t offs[KB], pos[NMAX];
    for (int p = 0; p < KB; p++)
        offs[p] = (p * 23) % 3600;
    for (int q = 0; q < NMAX; q++)
        pos[q] = q * 37 % 450;
    const int64_t ns[] = {1, 5, 6, 7, 12, 13, NMAX}, kbs[] = {1, 9, KB};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
        for (size_t b = 0; b < sizeof kbs / sizeof kbs[0]; b++)
            for (int first = 0; first <= 1; first++) {
                const int64_t n = ns[k], kb = kbs[b];
                float want[2][18 * 16], got[2][18 * 16];
                t_fill(want[0], 2 * 18 * 16, 40 + k, -1, 1);
                memcpy(got, want, sizeof want);
                /* each panel's weights a run of kb column rows, as the item packs them */
                nb__conv_lanes_run_plain(st, pos, n, offs, kb, wp, want[0], first);
                nb__conv_lanes_run_plain(st, pos, n, offs, kb, wp + kb * 16, want[1], first);
                if (!nb__conv_lanes_pair_run_avx512(st, pos, n, offs, kb, wp, wp + kb * 16,
                                                    got[0], got[1], first))
                    continue;
                cr_assert(memcmp(got, want, sizeof want) == 0,
                          "pair run n %lld kb %lld first %d", (long long)n, (long long)kb,
                          first);
                if (n == 6) {
                    memcpy(got, want, sizeof want);
                    nb__conv_lanes_block_plain(st, pos, offs, kb, wp, want[0], first);
                    nb__conv_lanes_block_plain(st, pos, offs, kb, wp + kb * 16, want[1], first);
                    cr_assert(nb__conv_lanes_pair_block_avx512(st, pos, offs, kb, wp,
                                                               wp + kb * 16, got[0], got[1],
                                                               first));
                    cr_assert(memcmp(got[0], want[0], 96 * 4) == 0 &&
                                  memcmp(got[1], want[1], 96 * 4) == 0,
                              "pair block kb %lld first %d", (long long)kb, first);
                }
            }
    free(st);
    free(wp);
}

Test(kernels_conv_lanes, the_avx2_stage_gives_the_plain_stages_floats)
{
    /* rows of 5, 14, 28 and 30 pixels, padding 0 to 3, rows above and
     * below the image, a block of channels short of the last */
    const int sizes[][4] = {{5, 0, 8, 1}, {14, 1, 16, 3}, {28, 1, 32, 2}, {30, 3, 40, 4},
                            {7, 2, 16, 0}};
    enum { C = 6, H = 9, SR = 13, MAX = C * SR * 40 };
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        const int w = sizes[t][0], pw = sizes[t][1], sw = sizes[t][2], c0 = sizes[t][3] % 3;
        const nb__conv_geom g = {.n = 1, .c = C, .h = H, .w = (int16_t)w, .f = 16,
                                 .pw = (int16_t)pw};
        float *x = malloc((size_t)C * H * w * sizeof(float));
        float want[MAX], got[MAX];
        t_fill(x, (int64_t)C * H * w, 21 + t, -1, 1);
        for (int64_t ih0 = -3; ih0 <= H - 2; ih0 += 4) {
            const int64_t cb = C - c0 - (int64_t)t % 2;
            const nb__conv_ahead ah = {.x = x, .c0 = c0, .ih0 = ih0 + SR};
            for (int i = 0; i < MAX; i++)
                want[i] = got[i] = NAN;
            nb__conv_stage_ahead(&g, x, c0, cb, ih0, SR, sw, &ah, want);
            if (!nb__conv_lanes_stage_avx2(&g, x, c0, cb, ih0, SR, sw, &ah, got))
                continue;
            cr_assert(memcmp(got, want, (size_t)(cb * SR * sw) * sizeof(float)) == 0,
                      "w %d pw %d sw %d ih0 %lld", w, pw, sw, (long long)ih0);
            cr_assert(isnan(got[cb * SR * sw]), "nothing past the block");
        }
        free(x);
    }
}

typedef struct lanes_case {
    int n, c, h, w, f, kh, kw, sh, sw, ph, pw, dh, dw;
    bool flip;
} lanes_case;

/* y by the chain the kernel promises: weight (f, c, tap) at a[f·lda +
 * c·cs + tap], the pixel of tap (i, j) (flipped when flip), zeros outside. */
static void chains(const nb__conv_geom *g, const nb__conv_weights *w, const float *x, float *y)
{
    const int64_t l = (int64_t)g->oh * g->ow;
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t f = 0; f < g->f; f++)
            for (int64_t oh = 0; oh < g->oh; oh++)
                for (int64_t ow = 0; ow < g->ow; ow++) {
                    float acc = 0.0f;
                    for (int64_t c = 0; c < g->c; c++)
                        for (int64_t i = 0; i < g->kh; i++)
                            for (int64_t j = 0; j < g->kw; j++) {
                                const int64_t ii = w->flip ? g->kh - 1 - i : i;
                                const int64_t jj = w->flip ? g->kw - 1 - j : j;
                                const int64_t ih = oh * g->sh - g->ph + ii * g->dh;
                                const int64_t iw = ow * g->sw - g->pw + jj * g->dw;
                                const float xv = ih < 0 || ih >= g->h || iw < 0 || iw >= g->w
                                                     ? 0.0f
                                                     : x[((n * g->c + c) * g->h + ih) * g->w + iw];
                                acc = fmaf(w->a[f * w->lda + c * w->cs + i * g->kw + j], xv, acc);
                            }
                    y[(n * g->f + f) * l + oh * g->ow + ow] = acc;
                }
}

Test(kernels_conv_lanes, the_convolution_gives_its_chains_at_1_and_2_threads)
{
    const lanes_case cases[] = {
        {2, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0, 1, 1, false},  /* LeNet-5's second layer */
        {1, 3, 9, 7, 20, 3, 3, 1, 1, 1, 1, 1, 1, false},    /* batch 1, 20 filters */
        {3, 5, 11, 13, 17, 3, 3, 2, 2, 1, 1, 1, 1, false},  /* stride 2, 17 filters */
        {2, 7, 12, 10, 24, 3, 3, 1, 1, 2, 2, 2, 2, false},  /* dilation 2 */
        {2, 40, 6, 5, 33, 3, 3, 1, 1, 1, 1, 1, 1, false},   /* rows of 5, past one block */
        {1, 9, 8, 9, 16, 1, 1, 1, 1, 0, 0, 1, 1, false},    /* 1×1 */
        {2, 4, 9, 11, 19, 5, 3, 2, 1, 2, 0, 1, 2, false},   /* per-axis everything */
        {3, 16, 10, 10, 6, 5, 5, 1, 1, 4, 4, 1, 1, true},   /* LeNet-5's input gradient */
        {2, 33, 7, 7, 40, 3, 3, 1, 1, 1, 1, 1, 1, true},    /* flipped, 40 channels */
        {1, 30, 28, 28, 32, 3, 3, 1, 1, 1, 1, 1, 1, false}, /* a whole 28×28 image */
        /* eight panels over a whole 14×14 image per item, channel blocks
         * of 14 (126 column rows: packed 15 by 8 and a part of 6) */
        {2, 129, 14, 14, 128, 3, 3, 1, 1, 1, 1, 1, 1, false},
        {1, 37, 13, 13, 112, 3, 3, 1, 1, 1, 1, 1, 1, true}, /* flipped, 7 panels */
        /* four whole 7×7 images an item, two panels: the pair's second
         * tile ni images on */
        {4, 8, 7, 7, 32, 3, 3, 1, 1, 1, 1, 1, 1, false},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const lanes_case *s = &cases[t];
        const nb__conv_geom g = {
            .n = s->n, .c = (int16_t)s->c, .h = (int16_t)s->h, .w = (int16_t)s->w,
            .f = (int16_t)s->f, .kh = (int16_t)s->kh, .kw = (int16_t)s->kw,
            .sh = (int16_t)s->sh, .sw = (int16_t)s->sw, .ph = (int16_t)s->ph,
            .pw = (int16_t)s->pw, .dh = (int16_t)s->dh, .dw = (int16_t)s->dw,
            .oh = (int16_t)((s->h + 2 * s->ph - s->dh * (s->kh - 1) - 1) / s->sh + 1),
            .ow = (int16_t)((s->w + 2 * s->pw - s->dw * (s->kw - 1) - 1) / s->sw + 1)};
        const int64_t kk = (int64_t)s->kh * s->kw, nw = (int64_t)s->f * s->c * kk;
        const int64_t nx = (int64_t)s->n * s->c * s->h * s->w;
        const int64_t ny = (int64_t)s->n * s->f * g.oh * g.ow;
        float *wv = malloc((size_t)nw * sizeof(float)), *x = malloc((size_t)nx * sizeof(float));
        float *want = malloc((size_t)ny * sizeof(float)), *got = malloc((size_t)ny * sizeof(float));
        t_fill(wv, nw, 11 + t, -1, 1);
        t_fill(x, nx, 13 + t, -1, 1);
        /* the input gradient reads W [C', F', kk] with its "filters" F'
         * (here f) a kk apart and its channels a F'·kk apart */
        const nb__conv_weights w = s->flip
                                       ? (nb__conv_weights){wv, kk, (int64_t)s->f * kk, true}
                                       : (nb__conv_weights){wv, (int64_t)s->c * kk, kk, false};
        chains(&g, &w, x, want);
        for (int isa = 0; isa <= 2; isa++)
            for (int threads = 1; threads <= 2; threads++) {
                for (int64_t i = 0; i < ny; i++)
                    got[i] = NAN;
                nb_set_threads(threads);
                cr_assert(nb__conv_lanes(&g, &w, x, got, NULL, NULL, isa), "case %zu takes", t);
                nb_set_threads(0);
                cr_assert(memcmp(got, want, (size_t)ny * sizeof(float)) == 0,
                          "case %zu isa %d threads %d: the chains' bits", t, isa, threads);
            }
        free(wv);
        free(x);
        free(want);
        free(got);
    }
}

Test(kernels_conv_lanes, the_rule_picks_filters_that_fill_the_lanes)
{
    if (!nb__conv_fma_cpu())
        return;
    nb__conv_geom g = {.n = 64, .c = 6, .h = 14, .w = 14, .f = 16, .oh = 10, .ow = 10, .kh = 5,
                       .kw = 5, .sh = 1, .sw = 1, .dh = 1, .dw = 1};
    cr_assert(nb__conv_lanes_pays(&g), "16 filters fill the lanes, rows of 10 fill 10 of 16");
    g.f = 6;
    cr_assert(!nb__conv_lanes_pays(&g), "6 filters fill 6 lanes of 16");
    g = (nb__conv_geom){.n = 64, .c = 64, .h = 28, .w = 28, .f = 24, .oh = 28, .ow = 28,
                        .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1, .dw = 1};
    cr_assert(!nb__conv_lanes_pays(&g), "24 of 32 lanes against rows of 28 in 32");
    g.f = 64;
    cr_assert(nb__conv_lanes_pays(&g));
    g.h = g.w = g.oh = g.ow = 200;
    cr_assert(nb__conv_lanes_pays(&g), "a wide image in tiles of rows");
    g.h = g.oh = 3, g.w = g.ow = 2000;
    cr_assert(!nb__conv_lanes_pays(&g), "a row past the tile keeps the pixel slots");
}
