/*
 * test_kernels_sgd.c — the SGD update kernels (ops/kernels/sgd.c) checked
 * from inside the library: each case against the rule written out here in
 * double precision, the outer-product kernel against the same kernel on the
 * formed gradient (bit for bit), and the flush of velocities whose step
 * would be subnormal, at its threshold and on both sides of it.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "../ops/kernels/sgd.h"

/* Lengths that leave a vector tail and a scalar one. */
#define ROWS 3
#define COLS 37
#define K (ROWS * COLS)

static const nb__sgd_rule RULES[] = {
    {.mu = 0, .wd = 0},
    {.mu = 0, .wd = 0.01f},
    {.mu = 0.9f, .wd = 0},
    {.mu = 0.8f, .wd = 0.01f, .nesterov = true},
};

/* The rule in double from float inputs: w and m after one step. */
static void rule_in_double(const nb__sgd_rule *r, float w, float g, float m, float lr,
                           double *w_out, double *m_out)
{
    double gi = (double)g + (double)r->wd * w, step = gi, mi = m;
    if (r->mu > 0) {
        mi = (double)r->mu * m + gi;
        step = r->nesterov ? gi + (double)r->mu * mi : mi;
    }
    *w_out = w - (double)lr * step;
    *m_out = mi;
}

Test(kernels_sgd, update_is_the_rule_within_rounding)
{
    for (size_t c = 0; c < sizeof RULES / sizeof *RULES; c++) {
        float w[K], g[K], m[K], w0[K], m0[K];
        t_fill(w0, K, 11 + c, -1, 1);
        t_fill(g, K, 13 + c, -1, 1);
        t_fill(m0, K, 17 + c, -1, 1);
        memcpy(w, w0, sizeof w);
        memcpy(m, m0, sizeof m);
        nb__sgd_update(&RULES[c], w, g, m, K, 0.1f);
        for (int i = 0; i < K; i++) {
            double ww, mm;
            rule_in_double(&RULES[c], w0[i], g[i], m0[i], 0.1f, &ww, &mm);
            cr_assert_float_eq(w[i], ww, 1e-6, "case %zu element %d: w %g, want %g", c, i,
                               (double)w[i], ww);
            cr_assert_float_eq(m[i], mm, 1e-6, "case %zu element %d: m %g, want %g", c, i,
                               (double)m[i], mm);
        }
    }
}

Test(kernels_sgd, outer_product_update_equals_the_formed_one_bit_for_bit)
{
    for (size_t c = 0; c < sizeof RULES / sizeof *RULES; c++) {
        float u[ROWS], v[COLS], g[K], w1[K], w2[K], m1[K], m2[K];
        t_fill(u, ROWS, 21 + c, -2, 2);
        t_fill(v, COLS, 23 + c, -1, 1);
        t_fill(w1, K, 29 + c, -1, 1);
        t_fill(m1, K, 31 + c, -1, 1);
        v[5] = 0; /* an input pixel at zero */
        memcpy(w2, w1, sizeof w1);
        memcpy(m2, m1, sizeof m1);
        for (int r = 0; r < ROWS; r++)
            nb__outer_row(u[r], v, COLS, g + r * COLS);
        for (int r = 0; r < ROWS; r++)
            for (int j = 0; j < COLS; j++)
                cr_assert_eq(g[r * COLS + j], u[r] * v[j]);
        nb__sgd_update(&RULES[c], w1, g, m1, K, 0.05f);
        nb__sgd_update_outer(&RULES[c], w2, m2, u, v, ROWS, COLS, 0.05f);
        cr_assert_eq(memcmp(w1, w2, sizeof w1), 0, "case %zu: weights differ", c);
        cr_assert_eq(memcmp(m1, m2, sizeof m1), 0, "case %zu: velocities differ", c);
    }
}

/* Spans of a small network's lengths and around the vector widths, up to
 * the list's limit, updated by one list call and by one nb__sgd_update
 * each: the same bits for every rule, a velocity that flushes included. */
Test(kernels_sgd, list_update_equals_one_call_per_span_bit_for_bit)
{
    static const int64_t lens[] = {1, 2, 4, 3, 7, 8, 16, 37, NB__SGD_LIST_MAX};
    enum { N = sizeof lens / sizeof *lens, TOTAL = 1 + 2 + 4 + 3 + 7 + 8 + 16 + 37 + 64 };
    for (size_t c = 0; c < sizeof RULES / sizeof *RULES; c++) {
        float w1[TOTAL], w2[TOTAL], g[TOTAL], m1[TOTAL], m2[TOTAL];
        t_fill(w1, TOTAL, 41 + c, -1, 1);
        t_fill(g, TOTAL, 43 + c, -1, 1);
        t_fill(m1, TOTAL, 47 + c, -1, 1);
        g[5] = 0, m1[5] = FLT_MIN / 8; /* decays below the flush threshold with momentum */
        memcpy(w2, w1, sizeof w1);
        memcpy(m2, m1, sizeof m1);
        nb__sgd_span spans[N];
        int64_t at = 0;
        for (int i = 0; i < N; at += lens[i++]) {
            spans[i] = (nb__sgd_span){.w = w1 + at, .g = g + at, .m = m1 + at, .k = lens[i]};
            nb__sgd_update(&RULES[c], w2 + at, g + at, m2 + at, lens[i], 0.05f);
        }
        nb__sgd_update_list(&RULES[c], spans, N, 0.05f);
        for (int i = 0; i < TOTAL; i++) {
            cr_assert(memcmp(&w1[i], &w2[i], sizeof *w1) == 0,
                      "case %zu value %d: w %.9g by the list, %.9g by its own call", c, i,
                      (double)w1[i], (double)w2[i]);
            cr_assert(memcmp(&m1[i], &m2[i], sizeof *m1) == 0,
                      "case %zu value %d: m %.9g by the list, %.9g by its own call", c, i,
                      (double)m1[i], (double)m2[i]);
        }
    }
}

/* A velocity whose step lr·v would fall below FLT_MIN is stored as 0 and
 * moves nothing; one just above is kept as the rule gives it; NaN stays. */
static void check_flush(float lr)
{
    const nb__sgd_rule r = {.mu = 0.5f};
    const float tiny = fabsf(lr) < 1 ? FLT_MIN / fabsf(lr) : FLT_MIN;
    /* after the step, v = 0.5·m: below, just above, far above, negative
     * below, a subnormal left by an older nabla, NaN */
    float m[] = {1.9f * tiny, 2.2f * tiny, 1e-3f, -1.9f * tiny, FLT_MIN / 4, NAN};
    const int n = sizeof m / sizeof *m;
    float w[6] = {0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f}, g[6] = {0};
    float m_in[6];
    memcpy(m_in, m, sizeof m);
    nb__sgd_update(&r, w, g, m, n, lr);
    float m2[6], w2[6] = {0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f}, zero = 0, one = 1;
    memcpy(m2, m_in, sizeof m2);
    /* the outer-product kernel, with u = 1 and v = 0: the same gradient */
    for (int i = 0; i < n; i++)
        nb__sgd_update_outer(&r, w2 + i, m2 + i, &one, &zero, 1, 1, lr);
    for (int k = 0; k < 2; k++) {
        const float *mk = k ? m2 : m, *wk = k ? w2 : w;
        cr_assert_eq(mk[0], 0.0f, "lr %g kernel %d: %g not flushed", (double)lr, k,
                     (double)mk[0]);
        cr_assert_eq(mk[3], 0.0f, "lr %g kernel %d: negative not flushed", (double)lr, k);
        cr_assert_eq(mk[4], 0.0f, "lr %g kernel %d: subnormal not flushed", (double)lr, k);
        cr_assert_eq(wk[0], 0.25f);
        cr_assert_eq(wk[3], 0.25f);
        cr_assert_eq(mk[1], 0.5f * m_in[1], "lr %g kernel %d: kept velocity changed",
                     (double)lr, k);
        cr_assert_eq(mk[2], 0.5f * m_in[2]);
        cr_assert_eq(wk[2], 0.25f - lr * (0.5f * m_in[2]));
        cr_assert(isnan(mk[5]) && isnan(wk[5]), "lr %g kernel %d: NaN lost", (double)lr, k);
        for (int i = 0; i < n; i++)
            cr_assert_neq(fpclassify(mk[i]), FP_SUBNORMAL, "lr %g kernel %d: velocity %d "
                          "subnormal", (double)lr, k, i);
    }
}

Test(kernels_sgd, velocities_whose_step_is_subnormal_flush_to_zero)
{
    check_flush(0.01f);
    check_flush(0.5f);
    check_flush(1.0f);
    check_flush(4.0f);
}
