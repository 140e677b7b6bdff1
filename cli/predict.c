/*
 * predict.c — `nabla predict MODEL.yaml --weights W.h5 --input X.h5
 * --output out.h5`: runs the model in inference mode over the examples in
 * an HDF5 file, in batches, and writes its outputs as the float32 dataset
 * "output" [N, ...] of a new HDF5 file; on request also "probs" (softmax
 * of the output over its last axis, or its sigmoid for one output per
 * example) and "class" [N] (the argmax, or output > 0 for one output).
 * Examples stored as bytes are scaled by the model's x_div, as in training.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli_internal.h"

/* What to write besides the output. */
typedef struct want {
    bool probs, argmax;
} want;

/* One compiled build of the model at a batch size: the output and, when
 * asked, its probabilities, both computed by the graph. */
typedef struct pass {
    int64_t batch;
    nb_model_io io;
    nb_node *nodes[2]; /* output, probs (or NULL) */
    nb_runtime *rt;
} pass;

/* Builds the model at `batch` into g (inference; the second build reuses
 * the first's parameters), adds the probabilities when asked, and compiles
 * a runtime for them and the output. */
static int build_pass(const cli_model *cm, nb_graph *g, int64_t batch, bool reuse, want w,
                      pass *p)
{
    *p = (pass){.batch = batch};
    nb_graph_set_training(g, false);
    nb_graph_set_reuse(g, reuse);
    nb_status st = nb_model_file_build(g, batch, &p->io, cm->m);
    nb_shape os = st == NB_OK && p->io.output ? nb_node_shape(p->io.output) : (nb_shape){0};
    if (st == NB_OK && w.probs && p->io.output)
        p->nodes[1] = nb_shape_numel(os) == batch ? nb_sigmoid(g, p->io.output)
                                                  : nb_softmax(g, p->io.output, -1);
    p->nodes[0] = p->io.output;
    if (st == NB_OK && nb_graph_status(g) == NB_OK && p->io.x && p->io.output)
        p->rt = nb_runtime_new(g, p->nodes, w.probs ? 2 : 1);
    if (!p->rt)
        return cli_error("predict", CLI_FAIL, "building model '%s' (batch %lld): %s",
                         nb_model_file_name(cm->m), (long long)batch,
                         nb_graph_error(g)[0] ? nb_graph_error(g) : "no input or output");
    if (os.rank < 1 || os.dim[0] != batch) {
        char b[128];
        return cli_error("predict", CLI_FAIL,
                         "the model's output %s has no leading batch axis of %lld",
                         nb_shape_format(os, b, sizeof b), (long long)batch);
    }
    return CLI_OK;
}

/* Runs examples [at, at + p->batch) and copies the output (and the
 * probabilities) into out[0] (and out[1]). */
static int run_pass(const cli_model *cm, pass *p, const nb_dataset *ds, int64_t at,
                    float *const out[2])
{
    int64_t per_x = nb_shape_numel(ds->shape);
    int64_t per_out = nb_shape_numel(nb_node_shape(p->io.output)) / p->batch;
    if (cli_feed_extra("predict", cm, p->rt, &p->io, ds, at, p->batch) != CLI_OK)
        return CLI_FAIL;
    nb_status st = nb_runtime_set_input(p->rt, p->io.x, ds->x + at * per_x);
    if (st == NB_OK)
        st = nb_runtime_run(p->rt);
    if (st != NB_OK)
        return cli_error("predict", CLI_FAIL, "%s", cli_strip(nb_runtime_error(p->rt)));
    for (int k = 0; k < 2; k++)
        if (out[k])
            memcpy(out[k] + at * per_out, nb_runtime_value(p->rt, p->nodes[k]),
                   (size_t)(p->batch * per_out) * sizeof(float));
    return CLI_OK;
}

/* class[i]: the index of row i's largest value (the first of equals), or
 * for one value per row 1 when it is > 0, else 0 (as accuracy counts). */
static void argmax_rows(const float *out, int64_t n, int64_t width, float *class)
{
    for (int64_t i = 0; i < n; i++) {
        const float *o = out + i * width;
        int64_t best = 0;
        for (int64_t c = 1; c < width; c++)
            if (o[c] > o[best])
                best = c;
        class[i] = width == 1 ? (float)(o[0] > 0) : (float)best;
    }
}

/* Whether every row of the output already lies in [0, 1] and sums to 1: a
 * model whose output is a softmax, which --probs would squash again. */
static bool rows_are_probabilities(const float *out, int64_t n, int64_t width)
{
    for (int64_t i = 0; width > 1 && i < n; i++) {
        double sum = 0;
        for (int64_t c = 0; c < width; c++) {
            float v = out[i * width + c];
            if (!(v >= 0 && v <= 1))
                return false;
            sum += v;
        }
        if (fabs(sum - 1) > 1e-4)
            return false;
    }
    return width > 1;
}

/* output, probs and class into one file, and the summary line. */
static int write_outputs(const cli_model *cm, const pass *a, const nb_dataset *ds,
                         float *const out[3], const char *path)
{
    nb_shape os = nb_node_shape(a->io.output);
    os.dim[0] = ds->n;
    nb_array arr[3];
    int n = 0;
    arr[n++] = (nb_array){.name = "output", .shape = os, .data = out[0]};
    if (out[1])
        arr[n++] = (nb_array){.name = "probs", .shape = os, .data = out[1]};
    if (out[2])
        arr[n++] = (nb_array){.name = "class", .shape = NB_SHAPE(ds->n), .data = out[2]};
    nb_error err = {0};
    if (nb_hdf5_write(path, arr, n, &err) != NB_OK)
        return cli_error("predict", CLI_FAIL, "%s", err.message);
    char s[128];
    printf("model=%s n=%lld output=%s shape=%s%s%s\n", nb_model_file_name(cm->m),
           (long long)ds->n, path, nb_shape_format(os, s, sizeof s), out[1] ? " probs" : "",
           out[2] ? " class" : "");
    return CLI_OK;
}

/* All of ds through the model, batch by batch, then the output file. */
static int predict(const cli_model *cm, const char *weights, const nb_dataset *ds, int64_t batch,
                   want w, const char *path)
{
    nb_graph *g = nb_graph_new();
    if (!g)
        return cli_error("predict", CLI_FAIL, "out of memory");
    int64_t full = batch < ds->n ? batch : ds->n, tail = ds->n % full;
    pass a = {0}, b = {0};
    int rc = build_pass(cm, g, full, false, w, &a);
    if (rc == CLI_OK)
        rc = cli_weights_load("predict", cm, g, weights);
    nb_shape os = rc == CLI_OK ? nb_node_shape(a.io.output) : (nb_shape){0};
    if (rc == CLI_OK && (w.probs || w.argmax) && os.rank > 2) {
        char sb[128];
        rc = cli_error("predict", CLI_FAIL, "--%s needs an output of one score per class "
                       "[N, C]; model '%s' outputs %s", w.probs ? "probs" : "argmax",
                       nb_model_file_name(cm->m), nb_shape_format(os, sb, sizeof sb));
    }
    if (rc == CLI_OK && tail)
        rc = build_pass(cm, g, tail, true, w, &b);
    int64_t per_out = rc == CLI_OK ? nb_shape_numel(nb_node_shape(a.io.output)) / full : 0;
    size_t size = (size_t)(ds->n * per_out) * sizeof(float);
    float *out[3] = {NULL, NULL, NULL};
    if (rc == CLI_OK) {
        out[0] = malloc(size);
        out[1] = w.probs ? malloc(size) : NULL;
        out[2] = w.argmax ? malloc((size_t)ds->n * sizeof(float)) : NULL;
        if (!out[0] || (w.probs && !out[1]) || (w.argmax && !out[2]))
            rc = cli_error("predict", CLI_FAIL, "out of memory for %lld outputs",
                           (long long)ds->n);
    }
    for (int64_t at = 0; rc == CLI_OK && at < ds->n; at += full)
        rc = run_pass(cm, ds->n - at < full ? &b : &a, ds, at, out);
    if (rc == CLI_OK && w.probs && rows_are_probabilities(out[0], ds->n, per_out))
        fprintf(stderr, "nabla predict: warning: the output of model '%s' already sums to 1 "
                "in every row; \"probs\" is a softmax of those probabilities\n",
                nb_model_file_name(cm->m));
    if (rc == CLI_OK && out[2])
        argmax_rows(out[0], ds->n, per_out, out[2]);
    if (rc == CLI_OK)
        rc = write_outputs(cm, &a, ds, out, path);
    for (int k = 0; k < 3; k++)
        free(out[k]);
    nb_runtime_free(a.rt);
    nb_runtime_free(b.rt);
    nb_graph_free(g);
    return rc;
}

int cli_predict(int argc, char **argv)
{
    const char *weights = NULL, *input = NULL, *x_name = NULL, *output = NULL, *inputs = NULL;
    int64_t threads = 0, limit = 0, batch = 256;
    want w = {0};
    bool allow_nonfinite = false;
    cli_opt opts[] = {
        {"--weights", "-w", CLI_STR, &weights, "FILE",
         "trained weights (default: MODEL itself when it is a .h5 file)"},
        {"--input", "-i", CLI_STR, &input, "FILE", "HDF5 file with the examples (required)"},
        {"--x", NULL, CLI_STR, &x_name, "NAME", "dataset holding the examples (default X)"},
        {"--inputs", NULL, CLI_STR, &inputs, "NAME=DS,...", CLI_INPUTS_HELP},
        {"--output", "-o", CLI_STR, &output, "FILE", "HDF5 file to write (required)"},
        {"--probs", NULL, CLI_FLAG, &w.probs, NULL,
         "also write \"probs\": softmax of the output (sigmoid for one output)"},
        {"--argmax", NULL, CLI_FLAG, &w.argmax, NULL,
         "also write \"class\" [N]: the predicted class (argmax; output > 0 for one output)"},
        {"--batch", NULL, CLI_COUNT, &batch, "N", "examples per run (default 256)"},
        {"--limit", NULL, CLI_COUNT, &limit, "N", "the first N examples only"},
        {"--threads", NULL, CLI_INT, &threads, "N", CLI_THREADS_HELP},
        {"--allow-nonfinite", NULL, CLI_FLAG, &allow_nonfinite, NULL, CLI_NONFINITE_HELP},
        {0}};
    cli_cmd cmd = {
        .name = "predict", .args = "MODEL.yaml|W.h5", .min_pos = 1, .max_pos = 1, .opts = opts,
        .summary = "Run a trained model (inference mode) on examples from an HDF5 file and write\n"
                   "its outputs as the dataset \"output\" [N, ...] of a new HDF5 file.",
        .details = "The examples are a dataset X [N, ...] matching the model's input shape; no\n"
                   "targets are needed. A model of several inputs reads each from the dataset\n"
                   "of its name (the first from X when the file has no dataset of its name;\n"
                   "--inputs side=S names others); inputs of integer ids (type: int) are\n"
                   "fed exactly. Examples stored as uint8 are divided by the model's\n"
                   "x_div (default 255), as training divided its bytes; float examples are\n"
                   "taken as they are, with a warning when they fall far outside the range\n"
                   "the weights file says training saw (0…255 for a model trained on 0…1).\n"
                   "The output file holds float32 datasets: \"output\"\n"
                   "[N, ...], with --probs \"probs\" (same shape), with --argmax \"class\" [N].\n\n"
                   "example (XOR's four examples; training writes xor.h5, weights and model):\n"
                   "  nabla train examples/models/xor.yaml\n"
                   "  nabla predict xor.h5 -i examples/models/xor.h5 -o out.h5 --probs --argmax\n"
                   "  python3 -c \"import h5py; print(h5py.File('out.h5')['class'][:])\""};
    const char *pos[1];
    int n_pos, rc = cli_parse(&cmd, argc, argv, pos, &n_pos);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    if (!input || !output)
        return cli_usage("predict", "--%s FILE is required", !input ? "input" : "output");
    if (!weights && !cli_is_hdf5(pos[0]))
        return cli_usage("predict", "--weights FILE is required with a YAML model");
    cli_model cm;
    if (cli_model_load("predict", pos[0], &cm) != CLI_OK)
        return CLI_FAIL;
    if (cli_model_set_sources("predict", &cm, inputs) != CLI_OK) {
        cli_model_free(&cm);
        return CLI_USAGE;
    }
    weights = weights ? weights : pos[0];
    cm.allow_nonfinite = allow_nonfinite;
    cli_set_threads(threads);
    nb_dataset *ds = NULL;
    rc = cli_input_load("predict", &cm, input, x_name, NULL, false, limit, &ds);
    if (rc == CLI_OK)
        cli_inputs_warn("predict", weights, ds);
    if (rc == CLI_OK)
        rc = predict(&cm, weights, ds, batch, w, output);
    nb_dataset_free(ds);
    cli_model_free(&cm);
    return rc;
}
