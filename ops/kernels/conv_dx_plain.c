/*
 * conv_dx_plain.c — a convolution's input gradient by its definition
 * (conv_dx.h): every weight tap (c, i, j) of every filter f adds its
 * product with the output gradient into the input pixel it was applied to.
 * The reference the tiled kernel (conv_dx.c) is checked against, and the
 * kernel on CPUs without AVX2 and FMA.
 */
#include <string.h>

#include "conv_dx.h"

/* Plane c of image n: dx[n, c] = Σ_{i, j, f, oh, ow} W[f, c, i, j]·dy[n, f, oh, ow]. */
static void plane(const nb__conv_dx *d, const float *wt, const float *dy, float *dx, int64_t n,
                  int64_t c)
{
    const int64_t ck = d->c * d->kh * d->kw, l = d->oh * d->ow;
    float *x = dx + (n * d->c + c) * d->h * d->w;
    memset(x, 0, (size_t)(d->h * d->w) * sizeof(float));
    for (int64_t i = 0; i < d->kh; i++)
        for (int64_t j = 0; j < d->kw; j++) {
            int64_t y0, y1, x0, x1;
            nb__conv_dx_range(d->oh, d->h, d->sh, d->ph, i * d->dh, &y0, &y1);
            nb__conv_dx_range(d->ow, d->w, d->sw, d->pw, j * d->dw, &x0, &x1);
            for (int64_t f = 0; f < d->f; f++) {
                const float wv = wt[f * ck + (c * d->kh + i) * d->kw + j];
                const float *g = dy + (n * d->f + f) * l;
                for (int64_t oy = y0; oy < y1; oy++) {
                    /* The pixel of (oy, 0), which may lie left of the row. */
                    const int64_t at = (oy * d->sh - d->ph + i * d->dh) * d->w - d->pw + j * d->dw;
                    for (int64_t ox = x0; ox < x1; ox++)
                        x[at + ox * d->sw] += wv * g[oy * d->ow + ox];
                }
            }
        }
}

void nb__conv_dx_plain(const nb__conv_dx *d, const float *wt, const float *dy, float *dx,
                       int64_t n, int64_t c0, int64_t c1)
{
    for (int64_t c = c0; c < c1; c++)
        plane(d, wt, dy, dx, n, c);
}
