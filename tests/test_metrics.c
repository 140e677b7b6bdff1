/*
 * test_metrics.c — the classification report (confusion matrix, per-class
 * precision/recall/F1, top-k accuracy) against values worked out by hand
 * on tiny cases, its refusals, and the trainer's report against
 * nb_trainer_evaluate.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "nabla.h"

#define CLOSE(a, b) (fabs((a) - (b)) < 1e-12)

/* Seven examples, three classes. Predicted (first largest score) and the
 * true class's rank among the scores:
 *   ex  scores          label  predicted  rank
 *   0   [2, 1, 0]       0      0          0
 *   1   [0.3, 0.5, 0.2] 0      1          1
 *   2   [0, 3, 1]       1      1          0
 *   3   [1, 0, 2]       1      2          2
 *   4   [0, 1, 5]       2      2          0
 *   5   [4, 1, 2]       0      0          0
 *   6   [1, 1, 0]       1      0 (a tie)  1 (class 0 ties it, index first)
 * confusion rows (true) [2 1 0; 1 1 1; 0 0 1]: accuracy 4/7;
 * precision 2/3, 1/2, 1/2; recall 2/3, 1/3, 1; F1 2/3, 0.4, 2/3;
 * macro F1 (2/3 + 0.4 + 2/3) / 3; top-2: 6 of 7 ranks below 2. */
static const float scores[] = {2, 1, 0, 0.3f, 0.5f, 0.2f, 0, 3, 1, 1, 0, 2,
                               0, 1, 5, 4, 1, 2, 1, 1, 0};
static const float labels[] = {0, 0, 1, 1, 2, 0, 1};

Test(metrics, hand_computed_three_classes)
{
    nb_class_report r;
    nb_error err = {0};
    cr_assert_eq(nb_class_report_compute(scores, 3, labels, 7, 2, &r, &err), NB_OK, "%s",
                 err.message);
    cr_assert(r.classes == 3 && r.n == 7 && r.top_k == 2);
    const int64_t want[9] = {2, 1, 0, 1, 1, 1, 0, 0, 1};
    for (int i = 0; i < 9; i++)
        cr_expect_eq(r.confusion[i], want[i], "confusion[%d] = %lld", i, (long long)r.confusion[i]);
    cr_expect(CLOSE(r.accuracy, 4.0 / 7));
    cr_expect(CLOSE(r.top_k_accuracy, 6.0 / 7), "%g", r.top_k_accuracy);
    const double p[3] = {2.0 / 3, 0.5, 0.5}, q[3] = {2.0 / 3, 1.0 / 3, 1}, f[3] = {2.0 / 3, 0.4,
                                                                                  2.0 / 3};
    for (int c = 0; c < 3; c++) {
        cr_expect(CLOSE(r.precision[c], p[c]), "precision[%d] = %g", c, r.precision[c]);
        cr_expect(CLOSE(r.recall[c], q[c]), "recall[%d] = %g", c, r.recall[c]);
        cr_expect(CLOSE(r.f1[c], f[c]), "f1[%d] = %g", c, r.f1[c]);
    }
    cr_expect(CLOSE(r.macro_f1, (2.0 / 3 + 0.4 + 2.0 / 3) / 3));
    nb_class_report_free(&r);

    /* top-1 is accuracy (ties included); top-3 of 3 classes is 1; 0: none */
    for (int k = 0; k <= 3; k++) {
        cr_assert_eq(nb_class_report_compute(scores, 3, labels, 7, k, &r, &err), NB_OK);
        double want_k[4] = {0, 4.0 / 7, 6.0 / 7, 1};
        cr_expect(CLOSE(r.top_k_accuracy, want_k[k]), "top-%d: %g", k, r.top_k_accuracy);
        nb_class_report_free(&r);
    }
}

/* One score per example: class 1 when the score is > 0, true class 1 when
 * the label is > 0.5; a class never predicted has precision 0, not NaN. */
Test(metrics, one_score_is_two_classes)
{
    const float s[] = {2, -1, 0.5f, -3}, y[] = {1, 1, 0, 0};
    nb_class_report r;
    nb_error err = {0};
    cr_assert_eq(nb_class_report_compute(s, 1, y, 4, 1, &r, &err), NB_OK, "%s", err.message);
    cr_assert_eq(r.classes, 2);
    const int64_t want[4] = {1, 1, 1, 1};
    for (int i = 0; i < 4; i++)
        cr_expect_eq(r.confusion[i], want[i]);
    cr_expect(CLOSE(r.accuracy, 0.5) && CLOSE(r.top_k_accuracy, 0.5));
    nb_class_report_free(&r);

    const float none[] = {-1, -2}, ones[] = {1, 0};
    cr_assert_eq(nb_class_report_compute(none, 1, ones, 2, 0, &r, &err), NB_OK);
    cr_expect(r.precision[1] == 0 && r.recall[1] == 0 && r.f1[1] == 0, "never predicted");
    cr_expect(CLOSE(r.precision[0], 0.5) && CLOSE(r.recall[0], 1));
    nb_class_report_free(&r);
}

/* Labels that are not class indices, k past the class count, no examples:
 * refused with the value named; the report is left empty. */
Test(metrics, refusals_name_the_value)
{
    nb_class_report r = {0};
    nb_error err = {0};
    const float bad[] = {0, 0, 3, 1, 2, 0, 1}, half[] = {0, 0.5f, 1, 1, 2, 0, 1};
    cr_expect_eq(nb_class_report_compute(scores, 3, bad, 7, 0, &r, &err), NB_ERR_ARG);
    cr_expect(strstr(err.message, "example 2 has label 3, not a class index 0…2"), "%s",
              err.message);
    cr_expect(!r.confusion && !r.precision, "nothing left allocated");
    cr_expect_eq(nb_class_report_compute(scores, 3, half, 7, 0, &r, &err), NB_ERR_ARG);
    cr_expect(strstr(err.message, "example 1 has label 0.5"), "%s", err.message);
    cr_expect_eq(nb_class_report_compute(scores, 3, labels, 7, 4, &r, &err), NB_ERR_ARG);
    cr_expect(strstr(err.message, "top-4 accuracy of 3 classes"), "%s", err.message);
    cr_expect_eq(nb_class_report_compute(scores, 3, labels, 0, 1, &r, &err), NB_ERR_ARG);
    cr_expect(strstr(err.message, "no examples"), "%s", err.message);
    nb_class_report_free(&r);
    nb_class_report_free(NULL);
}

/* The trainer's report over a data set: its accuracy and loss are
 * nb_trainer_evaluate's, its confusion matrix counts every example. */
Test(metrics, trainer_report_agrees_with_evaluate)
{
    const char *yaml = "nabla: 1\ninput: {x: [4]}\nlayers:\n  - dense: {units: 3}\n"
                       "loss: softmax_cross_entropy\ntrain: {seed: 3, eval_batch: 7}\n";
    nb_error err = {0};
    nb_model_file *m = nb_model_file_parse(yaml, strlen(yaml), "m.yaml", &err);
    cr_assert_not_null(m, "%s", err.message);
    nb_train_opts o = nb_model_file_train_opts(m);
    nb_trainer *t = nb_trainer_new(nb_model_file_build, m, NB_SHAPE(4), 1, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    nb_dataset *ds = nb_dataset_new(20, NB_SHAPE(4), 1, &err);
    cr_assert_not_null(ds);
    t_fill(ds->x, 80, 5, -1, 1);
    for (int i = 0; i < 20; i++)
        ds->y[i] = (float)(i % 3);
    double loss = 0, acc = 0, rloss = 0;
    cr_assert_eq(nb_trainer_evaluate(t, ds, &loss, &acc), NB_OK, "%s", nb_trainer_error(t));
    nb_class_report r;
    cr_assert_eq(nb_trainer_class_report(t, ds, 2, &r, &rloss), NB_OK, "%s", nb_trainer_error(t));
    cr_expect_eq(r.classes, 3);
    cr_expect(CLOSE(r.accuracy, acc), "%g vs %g", r.accuracy, acc);
    cr_expect(fabs(rloss - loss) < 1e-9, "%g vs %g", rloss, loss);
    int64_t total = 0;
    for (int i = 0; i < 9; i++)
        total += r.confusion[i];
    cr_expect_eq(total, 20);
    cr_expect(r.top_k_accuracy >= r.accuracy);
    nb_class_report_free(&r);
    ds->y[4] = 7;
    cr_expect_eq(nb_trainer_class_report(t, ds, 0, &r, NULL), NB_ERR_ARG);
    cr_expect(strstr(nb_trainer_error(t), "label") && strstr(nb_trainer_error(t), "7"), "%s",
              nb_trainer_error(t));
    nb_dataset_free(ds);
    nb_trainer_free(t);
    nb_model_file_free(m);
}
