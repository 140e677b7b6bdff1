/*
 * eval.c — `nabla eval MODEL.yaml --weights W.h5`: the mean loss and the
 * accuracy of trained weights on the model's test set (its training set
 * when the data section names no test file), as one key=value line; for
 * class labels also top-k accuracy, macro F1, the confusion matrix and
 * per-class precision, recall and F1 (computed by nb_trainer_class_report),
 * or all of it as one JSON object with --json.
 */
#include <math.h>
#include <string.h>

#include "cli_internal.h"

/* What was asked and what was measured. */
typedef struct eval_out {
    const char *model, *weights, *split;
    int64_t n;
    double loss, acc;
    const nb_class_report *r; /* NULL when the targets are not class labels */
} eval_out;

/* s as a JSON string (quotes, backslashes and control characters escaped). */
static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

/* A number, or null when it is not finite (JSON has no NaN). */
static void json_num(const char *key, double v)
{
    if (isfinite(v))
        printf(", \"%s\": %.9g", key, v);
    else
        printf(", \"%s\": null", key);
}

static void print_json(const eval_out *e)
{
    const nb_class_report *r = e->r;
    printf("{\"model\": ");
    json_str(e->model);
    printf(", \"weights\": ");
    json_str(e->weights);
    printf(", \"set\": \"%s\", \"n\": %lld", e->split, (long long)e->n);
    json_num("loss", e->loss);
    json_num("accuracy", e->acc);
    if (r) {
        if (r->top_k)
            printf(", \"top_k\": %d, \"top_k_accuracy\": %.9g", r->top_k, r->top_k_accuracy);
        printf(", \"macro_f1\": %.9g, \"confusion\": [", r->macro_f1);
        for (int t = 0; t < r->classes; t++) {
            printf("%s[", t ? ", " : "");
            for (int p = 0; p < r->classes; p++)
                printf("%s%lld", p ? ", " : "", (long long)r->confusion[(int64_t)t * r->classes + p]);
            printf("]");
        }
        printf("], \"classes\": [");
        for (int c = 0; c < r->classes; c++) {
            int64_t support = 0;
            for (int p = 0; p < r->classes; p++)
                support += r->confusion[(int64_t)c * r->classes + p];
            printf("%s{\"class\": %d, \"precision\": %.9g, \"recall\": %.9g, \"f1\": %.9g, "
                   "\"support\": %lld}", c ? ", " : "", c, r->precision[c], r->recall[c],
                   r->f1[c], (long long)support);
        }
        printf("]");
    }
    printf("}\n");
}

/* The key=value line, then the confusion matrix and the per-class table. */
static void print_text(const eval_out *e)
{
    const nb_class_report *r = e->r;
    printf("model=%s weights=%s set=%s n=%lld %s_loss=%.4f %s_acc=%.4f", e->model, e->weights,
           e->split, (long long)e->n, e->split, e->loss, e->split, e->acc);
    if (r && r->top_k)
        printf(" %s_top%d_acc=%.4f", e->split, r->top_k, r->top_k_accuracy);
    if (r)
        printf(" macro_f1=%.4f", r->macro_f1);
    printf("\n");
    if (!r)
        return;
    printf("\nconfusion matrix (rows: true class, columns: predicted)\n%8s", "");
    for (int p = 0; p < r->classes; p++)
        printf(" %6d", p);
    printf("\n");
    for (int t = 0; t < r->classes; t++) {
        printf("%8d", t);
        for (int p = 0; p < r->classes; p++)
            printf(" %6lld", (long long)r->confusion[(int64_t)t * r->classes + p]);
        printf("\n");
    }
    printf("\n%-8s %9s %9s %9s %9s\n", "class", "precision", "recall", "f1", "support");
    for (int c = 0; c < r->classes; c++) {
        int64_t support = 0;
        for (int p = 0; p < r->classes; p++)
            support += r->confusion[(int64_t)c * r->classes + p];
        printf("%-8d %9.4f %9.4f %9.4f %9lld\n", c, r->precision[c], r->recall[c], r->f1[c],
               (long long)support);
    }
}

/* The report's k: --top-k when given, else 5 when the output has at least
 * five classes, else none. */
static int top_k_for(const cli_model *cm, int64_t asked)
{
    if (asked > 0)
        return (int)asked;
    nb_shape os = nb_model_file_output_shape(cm->m);
    return nb_shape_numel(os) >= 5 ? 5 : 0;
}

/* Evaluates with a trainer (it batches and counts hits) whose parameters
 * are the loaded weights: the class report when the targets are one class
 * label per example, else loss and accuracy. */
static int evaluate(const cli_model *cm, const char *weights, const nb_dataset *ds,
                    const char *split, int64_t top_k, bool json)
{
    nb_error err = {0};
    nb_train_opts o = nb_model_file_train_opts(cm->m);
    nb_trainer *t = nb_trainer_new(nb_model_file_build, cm->m, nb_model_file_input_shape(cm->m),
                                   nb_model_file_y_width(cm->m), &o, &err);
    if (!t)
        return cli_error("eval", CLI_FAIL, "%s", cli_strip(err.message));
    eval_out e = {.model = nb_model_file_name(cm->m), .weights = weights, .split = split,
                  .n = ds->n};
    nb_class_report r = {0};
    bool labels = nb_model_file_y_width(cm->m) == 1;
    int rc = CLI_OK;
    if (cli_weights_load("eval", cm, nb_trainer_graph(t), weights) != CLI_OK)
        rc = CLI_FAIL;
    else if (labels && nb_trainer_class_report(t, ds, top_k_for(cm, top_k), &r, &e.loss) != NB_OK)
        rc = cli_error("eval", CLI_FAIL, "%s", cli_strip(nb_trainer_error(t)));
    else if (!labels && nb_trainer_evaluate(t, ds, &e.loss, &e.acc) != NB_OK)
        rc = cli_error("eval", CLI_FAIL, "%s", cli_strip(nb_trainer_error(t)));
    if (rc == CLI_OK) {
        e.r = labels ? &r : NULL;
        e.acc = labels ? r.accuracy : e.acc;
        (json ? print_json : print_text)(&e);
    }
    nb_class_report_free(&r);
    nb_trainer_free(t);
    return rc;
}

int cli_eval(int argc, char **argv)
{
    const char *weights = NULL, *data = NULL, *inputs = NULL;
    int64_t threads = 0, limit = 0, top_k = 0;
    bool json = false, allow_nonfinite = false;
    cli_opt opts[] = {
        {"--weights", "-w", CLI_STR, &weights, "FILE",
         "trained weights (default: MODEL itself when it is a .h5 file)"},
        {"--threads", NULL, CLI_INT, &threads, "N", CLI_THREADS_HELP},
        {"--limit", NULL, CLI_COUNT, &limit, "N", "evaluate the first N test examples only"},
        {"--data", NULL, CLI_STR, &data, "DIR",
         "read the data files from DIR instead of the folder the model names"},
        {"--inputs", NULL, CLI_STR, &inputs, "NAME=DS,...", CLI_INPUTS_HELP},
        {"--top-k", NULL, CLI_COUNT, &top_k, "K",
         "top-K accuracy (default 5 when the output has at least 5 classes)"},
        {"--json", NULL, CLI_FLAG, &json, NULL, "print the report as one JSON object"},
        {"--allow-nonfinite", NULL, CLI_FLAG, &allow_nonfinite, NULL, CLI_NONFINITE_HELP},
        {0}};
    cli_cmd cmd = {
        .name = "eval", .args = "MODEL.yaml|W.h5", .min_pos = 1, .max_pos = 1, .opts = opts,
        .summary = "Evaluate trained weights on the model's test set: mean loss and accuracy,\n"
                   "printed as key=value; for class labels also top-k accuracy, macro F1,\n"
                   "the confusion matrix and per-class precision, recall and F1.",
        .details = "The first line reads key=value: n, <set>_loss, <set>_acc, <set>_top<K>_acc\n"
                   "(K from --top-k; by default 5 when the output has at least 5 classes) and\n"
                   "macro_f1 (the mean of the classes' F1). The confusion matrix follows (rows:\n"
                   "the true class, columns: the predicted one, the largest output), then one\n"
                   "row per class: precision TP/(TP+FP), recall TP/(TP+FN), F1 and support (0\n"
                   "where a denominator is 0). --json prints all of it as one JSON object\n"
                   "instead: model, weights, set, n, loss, accuracy, top_k, top_k_accuracy,\n"
                   "macro_f1, confusion [[...]], classes [{class, precision, recall, f1,\n"
                   "support}]. A model with one output per example counts two classes (output\n"
                   "> 0 is class 1); targets that are not class labels give loss and accuracy.\n\n"
                   "examples (lenet5.h5 as `nabla train` writes it):\n"
                   "  nabla eval examples/models/lenet5.yaml --weights lenet5.h5\n"
                   "  nabla eval lenet5.h5          # the model stored in the weights file\n"
                   "  nabla eval lenet5.h5 --top-k 3 --json | python3 -m json.tool"};
    const char *pos[1];
    int n_pos, rc = cli_parse(&cmd, argc, argv, pos, &n_pos);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    if (!weights && !cli_is_hdf5(pos[0]))
        return cli_usage("eval", "--weights FILE is required with a YAML model");
    if (top_k > 65536)
        return cli_usage("eval", "--top-k wants K from 1 to the number of classes, not %lld",
                         (long long)top_k);
    cli_model cm;
    if (cli_model_load("eval", pos[0], &cm) != CLI_OK)
        return CLI_FAIL;
    if (cli_model_set_data("eval", &cm, data) != CLI_OK ||
        cli_model_set_sources("eval", &cm, inputs) != CLI_OK) {
        cli_model_free(&cm);
        return CLI_FAIL;
    }
    weights = weights ? weights : pos[0];
    cm.allow_nonfinite = allow_nonfinite;
    cli_set_threads(threads);
    nb_data_spec d = nb_model_file_data(cm.m);
    bool has_test = d.format && (!strcmp(d.format, "idx") || d.test);
    nb_dataset *train = NULL, *test = NULL;
    rc = cli_data_load("eval", &cm, has_test ? NULL : &train, has_test ? &test : NULL, limit);
    nb_dataset *ds = has_test ? test : train;
    if (rc == CLI_OK)
        rc = cli_data_check("eval", &cm, ds, has_test ? "the test set" : "the training set");
    if (rc == CLI_OK)
        cli_inputs_warn("eval", weights, ds);
    if (rc == CLI_OK)
        rc = evaluate(&cm, weights, ds, has_test ? "test" : "train", top_k, json);
    nb_dataset_free(train);
    nb_dataset_free(test);
    cli_model_free(&cm);
    return rc;
}
