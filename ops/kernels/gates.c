/*
 * gates.c — the gate kernels of recurrent cells (gates.h): the activation
 * of one gate read in place from the gate product, and the gate gradients
 * written side by side into one buffer. Plain loops over a row each, one
 * per piece kind, which the compiler vectorises (the AVX2 copy where the
 * CPU has it); the addend is a second pass over the row while it is in L1.
 */
#include "ew_math.h"
#include "gates.h"

/* ---------------------------------------------------------------- activation */

NB__SIMD static void activation_rows(const nb__gate_kernel *g, const float *z, float *out,
                                     int64_t r0, int64_t r1)
{
    const int64_t w = g->width;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = z + r * g->zw + g->off;
        float *o = out + r * w;
        if (g->act == NB_OP_SIGMOID)
            for (int64_t j = 0; j < w; j++)
                o[j] = nb__sigmoid1(x[j]);
        else
            for (int64_t j = 0; j < w; j++)
                o[j] = nb__tanh1(x[j]);
    }
}

/* Rows per work item when the rows split across threads. */
static int64_t rows_per_item(int64_t width)
{
    const int64_t per = 4096 / (width > 0 ? width : 1);
    return per > 0 ? per : 1;
}

void nb__gate_activation(const nb__kernel *k, const float *const *in, float *out)
{
    const nb__gate_kernel *g = (const nb__gate_kernel *)k;
    if (nb__par(g->rows * g->width) && !omp_in_parallel()) {
        const int64_t per = rows_per_item(g->width), items = (g->rows + per - 1) / per;
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < items; i++)
            activation_rows(g, in[0], out, i * per,
                            (i + 1) * per < g->rows ? (i + 1) * per : g->rows);
    } else {
        activation_rows(g, in[0], out, 0, g->rows);
    }
}

/* ---------------------------------------------------------------- gradients */

/* Row r of piece p into o[0, w). */
NB__SIMD static void piece_row(const nb__gate_piece *p, const float *const *in, int64_t r,
                               float *o)
{
    const int64_t w = p->width, at = r * w;
    const float *a = in[p->a] + at;
    if (p->kind == NB__GATE_COPY) {
        for (int64_t j = 0; j < w; j++)
            o[j] = a[j];
        return;
    }
    const float *b = in[p->b] + at, *y = in[p->y] + at;
    const float k = in[p->k][0];
    if (p->kind == NB__GATE_SIGMOID)
        for (int64_t j = 0; j < w; j++)
            o[j] = (a[j] * b[j]) * (y[j] * (k - y[j]));
    else
        for (int64_t j = 0; j < w; j++)
            o[j] = (a[j] * b[j]) * (k - y[j] * y[j]);
    if (p->c < 0)
        return;
    const float *c = in[p->c] + at;
    if (p->d < 0) {
        for (int64_t j = 0; j < w; j++)
            o[j] = c[j] + o[j];
    } else {
        const float *d = in[p->d] + at;
        for (int64_t j = 0; j < w; j++)
            o[j] = c[j] * d[j] + o[j];
    }
}

static void gradient_rows(const nb__gate_kernel *g, const float *const *in, float *out,
                          int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; r++) {
        float *o = out + r * g->width;
        for (int q = 0; q < g->n_pieces; q++) {
            piece_row(&g->piece[q], in, r, o);
            o += g->piece[q].width;
        }
    }
}

void nb__gate_gradients(const nb__kernel *k, const float *const *in, float *out)
{
    const nb__gate_kernel *g = (const nb__gate_kernel *)k;
    if (nb__par(g->rows * g->width) && !omp_in_parallel()) {
        const int64_t per = rows_per_item(g->width), items = (g->rows + per - 1) / per;
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < items; i++)
            gradient_rows(g, in, out, i * per, (i + 1) * per < g->rows ? (i + 1) * per : g->rows);
    } else {
        gradient_rows(g, in, out, 0, g->rows);
    }
}
