/*
 * trainer_eval.c — the model run in inference mode, through its inference
 * builds and in evaluation batches: the mean loss and accuracy of a set
 * (split over the ranks with a group), a class report, each example's
 * loss, and the output alone for predictions (no targets needed).
 */
#include <string.h>

#include "trainer_internal.h"

/* ---------------------------------------------------------------- evaluation */

/* Examples [lo, hi) of ds in inference mode, in evaluation batches: adds
 * their summed loss and correct predictions to sums[0] and sums[1]. */
static nb_status evaluate_range(nb_trainer *t, const nb_dataset *ds, int64_t lo, int64_t hi,
                                double *sums)
{
    int64_t batch = t->o.eval_batch < hi - lo ? t->o.eval_batch : hi - lo;
    nb_status st = nb__trainer_prepare(t, hi - lo, batch, false);
    for (int64_t at = lo; st == NB_OK && at < hi; at += batch) {
        int64_t b = hi - at < batch ? hi - at : batch;
        instance *in = nb__trainer_instance(t, b, false);
        if ((st = nb__trainer_feed(t, in, ds, NULL, at)) != NB_OK)
            break;
        sums[0] += (double)nb_runtime_value(in->rt, in->io.loss)[0] * (double)b;
        sums[1] += (double)nb__trainer_hits(t, in);
    }
    return st;
}

/* With a group, rank r of N evaluates examples [n·r/N, n·(r+1)/N) and the
 * sums are summed (with a failure flag: a rank that failed is agreed on);
 * the generator is left as it was, so ranks stay in step. */
nb_status nb_trainer_evaluate(nb_trainer *t, const nb_dataset *ds, double *loss, double *accuracy)
{
    if (!t)
        return NB_ERR_ARG;
    nb_status st = nb__trainer_check_set(t, ds, "evaluation");
    int64_t n = st == NB_OK ? ds->n : 0, size = nb_dist_size(t->dist), r = nb_dist_rank(t->dist);
    int64_t lo = n * r / size, hi = n * (r + 1) / size;
    double sums[3] = {0};
    nb_rng kept = t->rng;
    if (st == NB_OK && hi > lo)
        st = evaluate_range(t, ds, lo, hi, sums);
    if (t->dist) {
        t->rng = kept;
        sums[2] = st != NB_OK;
        nb__dist_sum_doubles(t->dist, sums, 3);
        st = sums[2] > 0 ? nb__trainer_agreed(t, st) : NB_OK;
    }
    if (st != NB_OK)
        return st;
    if (loss)
        *loss = sums[0] / (double)n;
    if (accuracy)
        *accuracy = sums[1] / (double)n;
    return NB_OK;
}

/* Runs ds in inference mode in evaluation batches, keeping every output
 * row and label, then nb_class_report_compute. */
nb_status nb_trainer_class_report(nb_trainer *t, const nb_dataset *ds, int top_k,
                                  nb_class_report *r, double *loss)
{
    if (!t || !r)
        return NB_ERR_ARG;
    *r = (nb_class_report){0};
    nb_status st = nb__trainer_check_set(t, ds, "evaluation");
    if (st == NB_OK && t->y_width != 1)
        st = nb__trainer_failf(t, NB_ERR_ARG,
                               "class report: the targets are %lld numbers per example; a "
                               "class report needs one class label each",
                               (long long)t->y_width);
    int64_t batch = st == NB_OK && t->o.eval_batch < ds->n ? t->o.eval_batch : ds ? ds->n : 0;
    if (st != NB_OK || (st = nb__trainer_prepare(t, ds->n, batch, false)) != NB_OK)
        return st;
    instance *first = nb__trainer_instance(t, batch, false);
    int64_t width = nb_shape_numel(nb_node_shape(first->io.output)) / batch;
    float *scores = nb_malloc((size_t)(ds->n * width) * sizeof *scores);
    float *labels = nb_malloc((size_t)ds->n * sizeof *labels);
    double sum = 0;
    if (!scores || !labels)
        st = nb__trainer_failf(t, NB_ERR_NOMEM, "class report: out of memory for %lld outputs",
                               (long long)ds->n);
    for (int64_t at = 0; st == NB_OK && at < ds->n; at += batch) {
        int64_t b = ds->n - at < batch ? ds->n - at : batch;
        instance *in = nb__trainer_instance(t, b, false);
        if ((st = nb__trainer_feed(t, in, ds, NULL, at)) != NB_OK)
            break;
        sum += (double)nb_runtime_value(in->rt, in->io.loss)[0] * (double)b;
        memcpy(scores + at * width, nb_runtime_value(in->rt, in->io.output),
               (size_t)(b * width) * sizeof *scores);
        memcpy(labels + at, t->by, (size_t)b * sizeof *labels);
    }
    nb_error e = {0};
    if (st == NB_OK && (st = nb_class_report_compute(scores, width, labels, ds->n, top_k, r, &e)))
        nb__trainer_failf(t, st, "%s", e.message);
    if (st == NB_OK && loss)
        *loss = sum / (double)ds->n;
    nb_free(scores);
    nb_free(labels);
    return st;
}

nb_status nb_trainer_example_losses(nb_trainer *t, const nb_dataset *ds, double *losses)
{
    if (!t)
        return NB_ERR_ARG;
    nb_status st = nb__trainer_check_set(t, ds, "evaluation");
    if (st == NB_OK && !losses)
        st = nb__trainer_failf(t, NB_ERR_ARG, "train: no room for the losses");
    if (st != NB_OK || (st = nb__trainer_prepare(t, ds->n, 1, false)) != NB_OK)
        return st;
    instance *in = nb__trainer_instance(t, 1, false);
    for (int64_t i = 0; i < ds->n; i++) {
        if ((st = nb__trainer_feed(t, in, ds, NULL, i)) != NB_OK)
            return st;
        losses[i] = nb_runtime_value(in->rt, in->io.loss)[0];
    }
    return NB_OK;
}

/* ---------------------------------------------------------------- predictions */

const float *nb__trainer_output_run(nb_trainer *t, int64_t batch, const float *x,
                                    const nb_dataset *ds, int64_t at)
{
    instance *in = nb__trainer_instance(t, batch, false);
    if (!in)
        return NULL;
    if (!in->out_rt && !(in->out_rt = nb_runtime_new(t->g, &in->io.output, 1))) {
        nb__trainer_failf(t, nb_graph_status(t->g), "predict: %s", nb_graph_error(t->g));
        return NULL;
    }
    nb_error e = {.status = NB_ERR_NOMEM, .message = "out of memory for a batch"};
    if (in->io.n_extra) {
        t->staged =
            0; /* the inputs' room is resized to this batch: nb__trainer_stage_room remakes it */
        if (!ds) {
            nb__trainer_failf(t, NB_ERR_ARG,
                              "predict: the model has %d inputs after x; give them in a "
                              "dataset (nb_trainer_predict)",
                              in->io.n_extra);
            return NULL;
        }
        if (nb__feed_room(&t->feed, &in->io, batch) != NB_OK ||
            nb__feed_set(&t->feed, in->out_rt, &in->io, &t->inst[0].io, ds, NULL, at, batch, &e) != NB_OK) {
            nb__trainer_failf(t, e.status, "predict: %s", e.message);
            return NULL;
        }
    }
    nb_status st = nb_runtime_set_input(in->out_rt, in->io.x, x);
    nb_runtime_fill_noise(in->out_rt, &t->rng);
    if (st == NB_OK)
        st = nb_runtime_run(in->out_rt);
    if (st != NB_OK) {
        nb__trainer_failf(t, st, "predict: %s", nb__message_detail(nb_runtime_error(in->out_rt)));
        return NULL;
    }
    return nb_runtime_value(in->out_rt, in->io.output);
}
