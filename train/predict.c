/*
 * predict.c — a trained model's predictions: outputs, probabilities and
 * classes for examples held in a dataset or in a plain float array, in
 * inference mode (dropout off, batch norm on its running statistics).
 *
 * Examples go through the trainer's inference builds in chunks of the
 * evaluation batch; a shorter remainder is split into powers of two
 * (13 = 8 + 4 + 1), so any number of examples, over any number of calls,
 * needs at most log2(eval_batch) + 2 builds and no padding. The runtimes
 * compute the output alone, so no targets are needed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train_internal.h"

/* Where one call's examples come from: a dataset (either form), or a float
 * array x [n, shape…]. */
typedef struct source {
    const nb_dataset *ds;
    const float *x;
    int64_t n, numel;
} source;

/* The largest power of two ≤ n, n ≥ 1. */
static int64_t pow2_floor(int64_t n)
{
    int64_t p = 1;
    while (p <= n / 2)
        p *= 2;
    return p;
}

/* Probabilities and the class of one example's outputs o[0..width): softmax
 * and argmax (the first maximum), or for one output the sigmoid and o > 0:
 * the prediction nb_trainer_evaluate counts as correct or not. */
static void decide(const float *o, int64_t width, float *probs, int64_t *cls)
{
    if (width == 1) {
        if (probs)
            probs[0] = o[0] >= 0 ? 1.0f / (1.0f + expf(-o[0])) : expf(o[0]) / (1.0f + expf(o[0]));
        if (cls)
            *cls = o[0] > 0;
        return;
    }
    int64_t best = 0;
    for (int64_t c = 1; c < width; c++)
        if (o[c] > o[best])
            best = c;
    if (cls)
        *cls = best;
    if (!probs)
        return;
    double sum = 0;
    for (int64_t c = 0; c < width; c++)
        sum += exp((double)o[c] - (double)o[best]);
    for (int64_t c = 0; c < width; c++)
        probs[c] = (float)(exp((double)o[c] - (double)o[best]) / sum);
}

/* Examples [at, at + b) as floats: a pointer into the array, or gathered
 * from the dataset into buf. NULL with the trainer's message on failure. */
static const float *stage(nb_trainer *t, const source *s, int64_t at, int64_t b, float *buf)
{
    if (s->x)
        return s->x + at * s->numel;
    nb_error e = {0};
    if (nb_dataset_gather(s->ds, NULL, at, b, buf, NULL, &e) != NB_OK) {
        nb__trainer_fail(t, e.status, e.message);
        return NULL;
    }
    return buf;
}

/* Runs every example of s, b at a time, writing what out asks for. */
static nb_status run_all(nb_trainer *t, const source *s, nb_predict_out out, int64_t width)
{
    int64_t full = nb__trainer_eval_batch(t);
    float *buf = s->x ? NULL : nb_malloc((size_t)((full < s->n ? full : s->n) * s->numel) * sizeof *buf);
    if (!s->x && !buf)
        return nb__trainer_fail(t, NB_ERR_NOMEM, "predict: out of memory for a batch");
    nb_status st = NB_OK;
    for (int64_t at = 0; at < s->n && st == NB_OK;) {
        int64_t left = s->n - at, b = left >= full ? full : pow2_floor(left);
        const float *x = stage(t, s, at, b, buf), *y = x ? nb__trainer_output_run(t, b, x, s->ds, at) : NULL;
        if (!y) {
            st = nb__trainer_status(t);
            break;
        }
        for (int64_t i = 0; i < b; i++) {
            const float *o = y + i * width;
            int64_t k = at + i;
            if (out.output)
                memcpy(out.output + k * width, o, (size_t)width * sizeof *o);
            decide(o, width, out.probs ? out.probs + k * width : NULL,
                   out.classes ? out.classes + k : NULL);
        }
        at += b;
    }
    nb_free(buf);
    return st;
}

/* Checks what every call needs, then runs. */
static nb_status predict(nb_trainer *t, const source *s, nb_predict_out out)
{
    if (!t)
        return NB_ERR_ARG;
    if (!out.output && !out.probs && !out.classes)
        return nb__trainer_fail(t, NB_ERR_ARG,
                                "predict: nowhere to write (output, probs and classes are NULL)");
    if (s->n < 1)
        return nb__trainer_fail(t, NB_ERR_ARG, "predict: no examples");
    int64_t width = nb_trainer_output_width(t);
    if (width < 1)
        return nb__trainer_fail(t, NB_ERR_STATE, "predict: the trainer has no model");
    return run_all(t, s, out, width);
}

nb_status nb_trainer_predict(nb_trainer *t, const nb_dataset *ds, nb_predict_out out)
{
    if (!t)
        return NB_ERR_ARG;
    nb_shape want = nb_trainer_example_shape(t);
    char a[128], b[128], m[400];
    if (!ds)
        return nb__trainer_fail(t, NB_ERR_ARG, "predict: no dataset (NULL)");
    if (!nb_shape_equal(ds->shape, want)) {
        snprintf(m, sizeof m, "predict: the dataset holds examples %s; the model takes %s",
                 nb_shape_format(ds->shape, a, sizeof a), nb_shape_format(want, b, sizeof b));
        return nb__trainer_fail(t, NB_ERR_SHAPE, m);
    }
    nb_model_io io = nb_trainer_model_io(t);
    if (io.x && nb__feed_check(nb_trainer_graph(t), &io, ds, "prediction", m, sizeof m) != NB_OK) {
        char full[sizeof m + 16];
        snprintf(full, sizeof full, "predict: %s", nb__message_detail(m));
        return nb__trainer_fail(t, NB_ERR_ARG, full);
    }
    source s = {.ds = ds, .n = ds->n, .numel = nb_shape_numel(want)};
    return predict(t, &s, out);
}

nb_status nb_trainer_predict_array(nb_trainer *t, const float *x, int64_t n, nb_predict_out out)
{
    if (!t)
        return NB_ERR_ARG;
    if (!x)
        return nb__trainer_fail(t, NB_ERR_ARG, "predict: no examples (x is NULL)");
    source s = {.x = x, .n = n, .numel = nb_shape_numel(nb_trainer_example_shape(t))};
    return predict(t, &s, out);
}
