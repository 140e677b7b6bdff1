/*
 * inputs.c — what a set of examples holds (nb_input_range: count, min, max,
 * mean, std of every input value as the model sees it) and whether inputs
 * given to a trained model fall far outside what it was trained on. The
 * trainer keeps the range of what it trained on; weights files store it
 * (io/hdf5_weights.c), and `nabla predict/eval/grad` compare new inputs
 * with it, so a model trained on [0, 1] and fed [0, 255] is not silent.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "train_internal.h"

/* ---------------------------------------------------------------- sums */

/* The sums run in locals, stored back once: through *a, each value waited
 * on the previous one's stores of all five, a visible share of a tiny
 * network's step (nb_trainer_step adds each step's inputs). Same
 * operations in the same order. Scalar code: GCC paired the sums and the
 * bounds in vector registers, whose shuffles cost more per value than the
 * arithmetic (XOR's 8 inputs: 221 instructions a step, 185 without); the
 * sums are one chain each either way. */
NB__NO_VECTORIZE void nb__range_add(nb__range_acc *a, const float *v, int64_t n)
{
    int64_t i = 0;
    while (a->n == 0 && i < n && !isfinite(v[i]))
        i++;
    if (i == n)
        return;
    if (a->n == 0)
        a->shift = a->min = a->max = v[i];
    const double shift = a->shift;
    double sum = a->sum, sq = a->sq, lo = a->min, hi = a->max;
    int64_t count = a->n;
    for (; i < n; i++) {
        double x = v[i];
        if (!isfinite(x))
            continue;
        double d = x - shift;
        sum += d;
        sq += d * d;
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
        count++;
    }
    *a = (nb__range_acc){.n = count, .shift = shift, .sum = sum, .sq = sq, .min = lo, .max = hi};
}

void nb__range_add_bytes(nb__range_acc *a, const uint8_t *v, int64_t n, float x_div)
{
    int64_t count[256] = {0};
    for (int64_t i = 0; i < n; i++)
        count[v[i]]++;
    for (int b = 0; b < 256; b++) {
        float x = (float)b / x_div;
        if (!count[b] || !isfinite(x))
            continue;
        if (a->n == 0)
            a->shift = a->min = a->max = x;
        double d = x - a->shift;
        a->sum += (double)count[b] * d;
        a->sq += (double)count[b] * d * d;
        a->min = x < a->min ? x : a->min;
        a->max = x > a->max ? x : a->max;
        a->n += count[b];
    }
}

nb_input_range nb__range_result(const nb__range_acc *a, float x_div)
{
    if (a->n == 0)
        return (nb_input_range){0};
    double mean = a->sum / (double)a->n, var = a->sq / (double)a->n - mean * mean;
    return (nb_input_range){.count = a->n, .min = a->min, .max = a->max,
                            .mean = a->shift + mean, .std = var > 0 ? sqrt(var) : 0,
                            .x_div = x_div};
}

nb_input_range nb_dataset_input_range(const nb_dataset *ds)
{
    nb__range_acc a = {0};
    if (!ds || ds->n < 1 || (!ds->x && !ds->x_u8))
        return (nb_input_range){0};
    int64_t total = ds->n * nb_shape_numel(ds->shape);
    if (ds->x)
        nb__range_add(&a, ds->x, total);
    else
        nb__range_add_bytes(&a, ds->x_u8, total, ds->x_div);
    return nb__range_result(&a, ds->x ? 0 : ds->x_div);
}

/* ---------------------------------------------------------------- checking */

/* Inputs beyond ±2^64 are refused: their square overflows float32, so a
 * loss or gradient built on them can overflow wherever the model squares
 * or multiplies (1e30 trains to a loss of 3e36, or to NaN). */
#define INPUT_LIMIT 18446744073709551616.0

/* The first of n values that is not finite or, when limit > 0, beyond
 * ±limit; n when there is none. A value passes when |v| ≤ bound (NaN
 * compares false, ±inf exceeds every bound): first a pass without a branch
 * per value, which the compiler vectorises, and the search for the first
 * bad one only when that pass found one. */
static int64_t first_bad(const float *v, int64_t n, double limit)
{
    const float bound = limit > 0 ? (float)limit : FLT_MAX; /* 2^64: exact in float */
    int bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad |= !(fabsf(v[i]) <= bound);
    if (!bad)
        return n;
    int64_t i = 0;
    while (i < n && fabsf(v[i]) <= bound)
        i++;
    return i;
}

/* Refuses the first value of v's examples (x, or an input after x seen as
 * a dataset: `input` its name, NULL for x) that is not finite or lies
 * beyond ±INPUT_LIMIT, naming its example and place. */
static nb_status inputs_ok(const nb_dataset *v, const char *input, nb_error *err)
{
    int64_t numel = nb_shape_numel(v->shape), total = v->n * numel, i = total;
    if (v->x) {
        i = first_bad(v->x, total, INPUT_LIMIT);
    } else {
        /* bytes give at most 255 / x_div: only a tiny x_div needs the values read */
        float most = 255.0f / fabsf(v->x_div);
        i = isfinite(most) && most <= INPUT_LIMIT ? total : 0;
        while (i < total && fabs(nb__dataset_value(v, i)) <= INPUT_LIMIT)
            i++;
    }
    if (i == total)
        return NB_OK;
    char where[160];
    if (input)
        snprintf(where, sizeof where, "value %lld of %lld of input '%s'", (long long)(i % numel),
                 (long long)numel, input);
    else
        snprintf(where, sizeof where, "input value %lld of %lld", (long long)(i % numel),
                 (long long)numel);
    double x = nb__dataset_value(v, i);
    x = isnan(x) ? NAN : x; /* "nan", never "-nan" */
    if (!isfinite(x))
        return nb_error_set(err, NB_ERR_ARG, "example %lld holds %g (%s): inputs must be finite "
                            "numbers", (long long)(i / numel), x, where);
    return nb_error_set(err, NB_ERR_ARG, "example %lld holds %g (%s): inputs beyond ±1.8e19 "
                        "(2^64) overflow float32 when squared; scale the data",
                        (long long)(i / numel), x, where);
}

nb_status nb_dataset_check_values(const nb_dataset *ds, nb_error *err)
{
    if (!ds || ds->n < 1 || (!ds->x && !ds->x_u8))
        return nb_error_set(err, NB_ERR_ARG, "dataset: no examples to check");
    nb_status st = inputs_ok(ds, NULL, err);
    for (int k = 0; st == NB_OK && k < ds->n_extra; k++) {
        nb_dataset v = nb__dataset_input_view(ds, k);
        if (!v.x && !v.x_u8)
            return nb_error_set(err, NB_ERR_ARG, "dataset: input '%s' holds no examples (x "
                                "and x_u8 are NULL)", ds->extra[k].name);
        st = inputs_ok(&v, ds->extra[k].name, err);
    }
    if (st != NB_OK)
        return st;
    int64_t ny = ds->y ? ds->n * ds->y_width : 0, j = ds->y ? first_bad(ds->y, ny, 0) : 0;
    if (j < ny)
        return nb_error_set(err, NB_ERR_ARG, "example %lld has target %g (value %lld of %lld): "
                            "targets must be finite numbers", (long long)(j / ds->y_width),
                            isnan(ds->y[j]) ? NAN : (double)ds->y[j], (long long)(j % ds->y_width),
                            (long long)ds->y_width);
    return NB_OK;
}

/* ---------------------------------------------------------------- comparing */

bool nb_input_range_outside(const nb_input_range *trained, const nb_input_range *given,
                            char *msg, size_t size)
{
    if (!trained || !given || trained->count < 1 || given->count < 1)
        return false;
    double w = trained->max - trained->min;
    if (!(w > 0)) {
        w = fmax(fabs(trained->min), fabs(trained->max));
        w = w > 1 ? w : 1;
    }
    bool outside = given->min < trained->min - w || given->max > trained->max + w;
    if (outside && msg && size) {
        char how[64] = "";
        if (trained->x_div > 0)
            snprintf(how, sizeof how, " (bytes divided by %g)", (double)trained->x_div);
        snprintf(msg, size, "inputs range %.4g…%.4g but the model was trained on %.4g…%.4g%s",
                 given->min, given->max, trained->min, trained->max, how);
    }
    return outside;
}
