/*
 * inspect.c — `nabla inspect MODEL.yaml|W.h5`: the model as a table of
 * layers (name, op, output shape, parameters) with totals; for a weights or
 * checkpoint file (whose YAML it reads from /model_yaml) also every
 * parameter's statistics after loading, and a checkpoint's training state.
 *
 * A layer is what its scope groups: the nodes a layer builder made under
 * "conv2d1" form one row; inputs and unscoped ops (a DAG model's `add`)
 * are rows of their own; constants are not rows. A row's op is the kind
 * its automatic name says, else the kind of the layer recorded under its
 * scope (nb_graph_layer), else its last node's op, read as flatten or relu
 * when it is their one primitive (they record no layer). The model is built in
 * training mode (so dropout shows) twice, at batch 2 and 3, so a dimension
 * that follows the batch prints as N.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli_internal.h"

/* One row of the table. */
typedef struct row {
    char name[128];
    char op[48];
    nb_node *last;        /* the layer's last node: its output */
    int64_t params, trainable;
    bool scoped;          /* a layer's scope, not a lone node */
} row;

/* ---------------------------------------------------------------- grouping */

/* The row key of a node: the first component of its scope, or its own
 * label when it has no scope. Constants belong to no row (NULL). */
static const char *row_key(nb_node *n, char *buf, size_t size)
{
    if (nb_node_kind_of(n) == NB_NODE_CONST)
        return NULL;
    const char *scope = nb_node_scope(n);
    if (scope && *scope) {
        size_t len = strcspn(scope, "/");
        snprintf(buf, size, "%.*s", (int)(len < size - 1 ? len : size - 1), scope);
        return buf;
    }
    return nb_node_label(n, buf, size);
}

static void note(row *r, nb_node *n)
{
    if (nb_node_kind_of(n) == NB_NODE_PARAM) {
        int64_t k = nb_shape_numel(nb_node_shape(n));
        r->params += k;
        r->trainable += nb_param_trainable(n) ? k : 0;
        if (!r->last)
            r->last = n;
        return;
    }
    r->last = n;
}

/* The kind of the last layer recorded in scope `name` or below it (a
 * block's rows name its last layer, e.g. a residual block's batch norm);
 * NULL when no layer was recorded there. */
static const char *recorded_kind(const nb_graph *g, const char *name)
{
    size_t len = strlen(name);
    const char *kind = NULL;
    for (int i = 0; i < nb_graph_num_layers(g); i++) {
        const nb_layer_record *r = nb_graph_layer(g, i);
        if (r->scope && !strncmp(r->scope, name, len) && (!r->scope[len] || r->scope[len] == '/') &&
            nb_layer_kind_name(r->kind))
            kind = nb_layer_kind_name(r->kind);
    }
    return kind;
}

/* The layer kind of a row: its automatic name without the number
 * ("conv2d3" → "conv2d", "flatten1" → "flatten"; model files name unnamed
 * layers so), or, for a layer the file named, the kind recorded when it
 * was built. */
static void infer_op(row *r, const nb_graph *g)
{
    static const char *const kinds[] = {"dense", "conv2d", "local2d", "maxpool2d", "avgpool2d",
                                        "batchnorm", "dropout", "flatten", "relu", "leaky_relu",
                                        "sigmoid", "tanh", "softmax", "log_softmax", "threshold",
                                        "gelu", "silu", "elu", "softplus",
                                        "mse_loss", "l1_loss", "huber_loss", "softmax_cross_entropy", "bce_with_logits",
                                        "margin_loss", NULL};
    const char *op = nb_node_op(r->last);
    size_t len = strlen(r->name);
    while (len > 0 && isdigit((unsigned char)r->name[len - 1]))
        len--;
    for (int i = 0; (r->scoped || len < strlen(r->name)) && kinds[i]; i++)
        if (strlen(kinds[i]) == len && !strncmp(kinds[i], r->name, len))
            op = kinds[i];
    if (op != nb_node_op(r->last))
        ; /* named by its kind */
    else if (r->scoped)
        op = recorded_kind(g, r->name) ? recorded_kind(g, r->name) : op;
    else if (nb_node_composed_layer(r->last))
        op = nb_node_composed_layer(r->last); /* nb_flatten, nb_relu: no record */
    snprintf(r->op, sizeof r->op, "%s", op);
}

/* A layer's output is the node of its row that a later row reads (its
 * last node when no row reads it: the loss). Not simply its last node: a
 * batch norm makes its running-statistics updates after its output. */
static void find_outputs(nb_graph *g, row *rows, const int *row_of)
{
    for (int i = 0; i < nb_graph_node_count(g); i++) {
        nb_node *n = nb_graph_node(g, i);
        for (int k = 0; row_of[i] >= 0 && k < nb_node_num_inputs(n); k++) {
            int j = nb_node_id(nb_node_input(n, k)), r = row_of[j];
            if (r >= 0 && r != row_of[i])
                rows[r].last = nb_node_input(n, k);
        }
    }
}

/* Rows of graph g in creation order; returns how many (rows has room for
 * every node). */
static int group(nb_graph *g, row *rows, int *row_of)
{
    int n_rows = 0;
    for (int i = 0; i < nb_graph_node_count(g); i++) {
        nb_node *n = nb_graph_node(g, i);
        char key[128];
        row_of[i] = -1;
        if (!row_key(n, key, sizeof key))
            continue;
        int r = n_rows - 1;
        while (r >= 0 && strcmp(rows[r].name, key))
            r--;
        if (r < 0) {
            r = n_rows++;
            rows[r] = (row){0};
            snprintf(rows[r].name, sizeof rows[r].name, "%s", key);
            rows[r].scoped = nb_node_scope(n) && *nb_node_scope(n);
        }
        note(&rows[r], n);
        row_of[i] = r;
    }
    find_outputs(g, rows, row_of);
    for (int r = 0; r < n_rows; r++)
        infer_op(&rows[r], g);
    return n_rows;
}

/* ---------------------------------------------------------------- printing */

/* n's shape with the dimensions that follow the batch shown as N: they
 * are 2 in graph a and 3 in the same node of graph b. */
static char *batch_shape(nb_node *n, nb_graph *b, char *buf, size_t size)
{
    nb_shape s = nb_node_shape(n), t = s;
    nb_node *m = nb_graph_node(b, nb_node_id(n));
    if (m)
        t = nb_node_shape(m);
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < s.rank && at < size; i++) {
        const char *sep = i ? "," : "";
        if (t.rank == s.rank && s.dim[i] == 2 && t.dim[i] == 3)
            at += (size_t)snprintf(buf + at, size - at, "%sN", sep);
        else
            at += (size_t)snprintf(buf + at, size - at, "%s%lld", sep, (long long)s.dim[i]);
    }
    if (at < size)
        snprintf(buf + at, size - at, "]");
    return buf;
}

static int print_table(const cli_model *cm, nb_graph *a, nb_graph *b, FILE *out)
{
    row *rows = calloc((size_t)nb_graph_node_count(a) + 1, sizeof *rows);
    int *row_of = calloc((size_t)nb_graph_node_count(a) + 1, sizeof *row_of);
    if (!rows || !row_of) {
        free(rows);
        free(row_of);
        return cli_error("inspect", CLI_FAIL, "out of memory");
    }
    int n = group(a, rows, row_of);
    char in[128];
    fprintf(out, "model %s (%s): input %s, %lld target(s) per example\n\n",
            nb_model_file_name(cm->m), cm->source,
            nb_shape_format(nb_model_file_input_shape(cm->m), in, sizeof in),
            (long long)nb_model_file_y_width(cm->m));
    fprintf(out, "%-24s %-22s %-20s %10s\n", "layer", "op", "output shape", "params");
    int64_t total = 0, trainable = 0;
    for (int r = 0; r < n; r++) {
        char shape[160];
        fprintf(out, "%-24s %-22s %-20s %10lld\n", rows[r].name, rows[r].op,
                batch_shape(rows[r].last, b, shape, sizeof shape), (long long)rows[r].params);
        total += rows[r].params;
        trainable += rows[r].trainable;
    }
    fprintf(out, "\ntotal: %lld parameters (%lld trainable, %lld frozen) in %d rows\n",
            (long long)total, (long long)trainable, (long long)(total - trainable), n);
    free(rows);
    free(row_of);
    return CLI_OK;
}

/* min, max, mean and standard deviation of every parameter. */
static void print_stats(nb_graph *g, FILE *out)
{
    fprintf(out, "\n%-32s %-16s %11s %11s %11s %11s\n", "parameter", "shape", "min", "max", "mean",
            "std");
    for (int i = 0; i < nb_graph_num_params(g); i++) {
        nb_node *p = nb_graph_param(g, i);
        const float *v = nb_param_data(p);
        int64_t n = nb_shape_numel(nb_node_shape(p));
        double lo = INFINITY, hi = -INFINITY, sum = 0, sq = 0;
        int64_t finite = 0;
        for (int64_t k = 0; k < n; k++) {
            if (!isfinite(v[k]))
                continue; /* loaded with --allow-nonfinite: counted apart */
            lo = v[k] < lo ? v[k] : lo;
            hi = v[k] > hi ? v[k] : hi;
            sum += v[k];
            finite++;
        }
        double mean = finite ? sum / (double)finite : 0;
        for (int64_t k = 0; k < n; k++)
            if (isfinite(v[k]))
                sq += (v[k] - mean) * (v[k] - mean);
        char bad[48] = "";
        if (finite < n)
            snprintf(bad, sizeof bad, "  (%lld not finite)", (long long)(n - finite));
        char label[128], shape[64];
        fprintf(out, "%-32s %-16s %11.4g %11.4g %11.4g %11.4g%s%s\n",
                nb_node_label(p, label, sizeof label),
                nb_shape_format(nb_node_shape(p), shape, sizeof shape), lo, hi, mean,
                finite ? sqrt(sq / (double)finite) : 0.0, nb_param_trainable(p) ? "" : "  (frozen)",
                bad);
    }
}

/* What the file says training saw of the inputs, when it says. */
static void print_inputs(const char *path, FILE *out)
{
    nb_input_range r;
    nb_error err = {0};
    if (nb_weights_input_range(path, &r, &err) == NB_OK && r.count > 0) {
        char how[64] = "";
        if (r.x_div > 0)
            snprintf(how, sizeof how, ", bytes divided by %g", (double)r.x_div);
        fprintf(out, "\ntrained on inputs in %.4g…%.4g (mean %.4g, std %.4g, %lld values%s)\n",
                r.min, r.max, r.mean, r.std, (long long)r.count, how);
    }
}

/* A checkpoint's training state, when the file is one (silent otherwise). */
static void print_state(const cli_model *cm, const char *path, FILE *out)
{
    nb_error err = {0};
    nb_train_opts o = nb_model_file_train_opts(cm->m);
    nb_trainer *t = nb_trainer_new(nb_model_file_build, cm->m, nb_model_file_input_shape(cm->m),
                                   nb_model_file_y_width(cm->m), &o, &err);
    if (t && nb_checkpoint_load(t, path, &err) == NB_OK) {
        nb_train_state s = nb_trainer_state(t);
        fprintf(out, "\ncheckpoint: %d epoch(s) done, %lld optimiser steps, Q %.4f\n", s.epoch,
                (long long)s.global_step, s.q);
    }
    nb_trainer_free(t);
}

/* ---------------------------------------------------------------- the command */

static int inspect(const cli_model *cm, const char *path)
{
    cli_build a, b;
    if (cli_build_model("inspect", cm, 2, true, &a) != CLI_OK)
        return CLI_FAIL;
    if (cli_build_model("inspect", cm, 3, true, &b) != CLI_OK) {
        cli_build_free(&a);
        return CLI_FAIL;
    }
    int rc = print_table(cm, a.g, b.g, stdout);
    if (rc == CLI_OK && cm->from_weights) {
        rc = cli_weights_load("inspect", cm, a.g, path);
        if (rc == CLI_OK)
            print_stats(a.g, stdout);
        if (rc == CLI_OK)
            print_inputs(path, stdout);
        if (rc == CLI_OK)
            print_state(cm, path, stdout);
    }
    cli_build_free(&a);
    cli_build_free(&b);
    return rc;
}

int cli_inspect(int argc, char **argv)
{
    bool allow_nonfinite = false;
    cli_opt opts[] = {
        {"--allow-nonfinite", NULL, CLI_FLAG, &allow_nonfinite, NULL,
         "load weights that hold NaN or ±inf, to see them (refused by default)"},
        {0}};
    cli_cmd cmd = {
        .name = "inspect", .args = "MODEL.yaml|W.h5", .min_pos = 1, .max_pos = 1, .opts = opts,
        .summary = "Show a model's layers (name, op, output shape, parameters) and totals. For a\n"
                   "weights or checkpoint file, the model stored in it plus every parameter's\n"
                   "min, max, mean and standard deviation (of its finite values, with a count\n"
                   "of the others under --allow-nonfinite), and the range of inputs training saw.",
        .details = "examples:\n  nabla inspect examples/models/lenet5.yaml\n"
                   "  nabla inspect lenet5.h5       # as `nabla train` writes it"};
    const char *pos[1];
    int n_pos, rc = cli_parse(&cmd, argc, argv, pos, &n_pos);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    cli_model cm;
    if (cli_model_load("inspect", pos[0], &cm) != CLI_OK)
        return CLI_FAIL;
    cm.allow_nonfinite = allow_nonfinite;
    rc = inspect(&cm, pos[0]);
    cli_model_free(&cm);
    return rc;
}
