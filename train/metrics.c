/*
 * metrics.c — what a classifier's scores say about a labelled set beyond
 * accuracy: the confusion matrix, per-class precision, recall and F1, and
 * top-k accuracy. Plain arithmetic on scores [n, width] and labels [n];
 * nb_trainer_class_report (trainer_eval.c) runs a model to get the scores.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train_internal.h"

/* Largest class count a report takes: its confusion matrix is C² counts. */
#define MAX_CLASSES 65536

/* The predicted class of one row: the first largest score, or for one
 * score per example 1 when it is > 0 (as the trainer's accuracy counts). */
static int predicted(const float *s, int64_t width)
{
    if (width == 1)
        return s[0] > 0;
    int64_t best = 0;
    for (int64_t c = 1; c < width; c++)
        if (s[c] > s[best])
            best = c;
    return (int)best;
}

/* The rank of class y in one row, 0 for the predicted class: the classes
 * scoring above it, and those scoring the same with a smaller index (so
 * rank 0 is exactly the argmax that predicted() picks). */
static int64_t rank_of(const float *s, int64_t width, int y)
{
    if (width == 1)
        return predicted(s, 1) == y ? 0 : 1;
    int64_t r = 0;
    for (int64_t c = 0; c < width; c++)
        r += s[c] > s[y] || (s[c] == s[y] && c < y);
    return r;
}

/* Example i's class from its label: an integer in [0, width) (or, for one
 * score per example, 1 when the label is > 0.5); -1 after a message. */
static int label_class(const float *labels, int64_t i, int64_t width, nb_error *err)
{
    float y = labels[i];
    if (width == 1)
        return y > 0.5f;
    if (!(y >= 0 && y < (float)width && y == floorf(y)))
        return nb_error_set(err, NB_ERR_ARG, "class report: example %lld has label %g, not a "
                            "class index 0…%lld of the %lld scores per example", (long long)i,
                            (double)y, (long long)width - 1, (long long)width), -1;
    return (int)y;
}

/* Precision, recall and F1 of every class from the confusion matrix; 0
 * where a denominator is 0 (a class never predicted, or never present). */
static void per_class(nb_class_report *r)
{
    int C = r->classes;
    double f1_sum = 0;
    for (int c = 0; c < C; c++) {
        int64_t tp = r->confusion[(int64_t)c * C + c], predicted_c = 0, actual_c = 0;
        for (int k = 0; k < C; k++) {
            predicted_c += r->confusion[(int64_t)k * C + c];
            actual_c += r->confusion[(int64_t)c * C + k];
        }
        double p = predicted_c ? (double)tp / (double)predicted_c : 0;
        double q = actual_c ? (double)tp / (double)actual_c : 0;
        r->precision[c] = p;
        r->recall[c] = q;
        r->f1[c] = p + q > 0 ? 2 * p * q / (p + q) : 0;
        f1_sum += r->f1[c];
    }
    r->macro_f1 = f1_sum / C;
}

/* Refuses what a report cannot be made of, naming the value. */
static nb_status check_args(const float *scores, int64_t width, const float *labels, int64_t n,
                            int top_k, const nb_class_report *r, nb_error *err)
{
    int64_t classes = width == 1 ? 2 : width;
    if (!r)
        return nb_error_set(err, NB_ERR_ARG, "class report: no report to fill (NULL)");
    if (n < 1 || !scores || !labels)
        return nb_error_set(err, NB_ERR_ARG, "class report: %s", n < 1 ? "no examples" :
                            !scores ? "no scores (NULL)" : "no labels (NULL)");
    if (width < 1 || classes > MAX_CLASSES)
        return nb_error_set(err, NB_ERR_ARG, "class report: %lld scores per example (1 to %d)",
                            (long long)width, MAX_CLASSES);
    if (top_k < 0 || top_k > classes)
        return nb_error_set(err, NB_ERR_ARG, "class report: top-%d accuracy of %lld classes "
                            "(k must be 1 to %lld, or 0 for none)", top_k, (long long)classes,
                            (long long)classes);
    return NB_OK;
}

nb_status nb_class_report_compute(const float *scores, int64_t width, const float *labels,
                                  int64_t n, int top_k, nb_class_report *r, nb_error *err)
{
    nb_status st = check_args(scores, width, labels, n, top_k, r, err);
    if (st != NB_OK)
        return st;
    int C = width == 1 ? 2 : (int)width;
    *r = (nb_class_report){.classes = C, .n = n, .top_k = top_k};
    r->confusion = nb_calloc((size_t)C * (size_t)C, sizeof *r->confusion);
    r->precision = nb_calloc((size_t)C * 3, sizeof *r->precision);
    if (!r->confusion || !r->precision) {
        nb_class_report_free(r);
        return nb_error_set(err, NB_ERR_NOMEM, "class report: out of memory for %d classes", C);
    }
    r->recall = r->precision + C;
    r->f1 = r->precision + 2 * C;
    int64_t hits = 0, top_hits = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *s = scores + i * width;
        int y = label_class(labels, i, width, err), p = predicted(s, width);
        if (y < 0) {
            nb_class_report_free(r);
            return NB_ERR_ARG;
        }
        r->confusion[(int64_t)y * C + p]++;
        hits += p == y;
        top_hits += top_k > 0 && rank_of(s, width, y) < top_k;
    }
    r->accuracy = (double)hits / (double)n;
    r->top_k_accuracy = top_k > 0 ? (double)top_hits / (double)n : 0;
    per_class(r);
    return NB_OK;
}

void nb_class_report_free(nb_class_report *r)
{
    if (!r)
        return;
    nb_free(r->confusion);
    nb_free(r->precision);
    *r = (nb_class_report){0};
}
