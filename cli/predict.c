/*
 * predict.c — `nabla predict MODEL.yaml --weights W.h5 --input X.h5
 * --output out.h5`: runs the model in inference mode over the examples in
 * an HDF5 file, in batches, and writes its outputs as the float32 dataset
 * "output" [N, ...] of a new HDF5 file.
 */
#include <stdlib.h>
#include <string.h>

#include "cli_internal.h"

/* One compiled build of the model at a batch size. */
typedef struct pass {
    int64_t batch;
    nb_model_io io;
    nb_runtime *rt;
} pass;

/* Builds the model at `batch` into g (inference; the second build reuses
 * the first's parameters) and compiles a runtime for its output alone. */
static int build_pass(const cli_model *cm, nb_graph *g, int64_t batch, bool reuse, pass *p)
{
    *p = (pass){.batch = batch};
    nb_graph_set_training(g, false);
    nb_graph_set_reuse(g, reuse);
    nb_status st = nb_model_file_build(g, batch, &p->io, cm->m);
    if (st == NB_OK && nb_graph_status(g) == NB_OK && p->io.x && p->io.output)
        p->rt = nb_runtime_new(g, &p->io.output, 1);
    if (!p->rt)
        return cli_error("predict", CLI_FAIL, "building model '%s' (batch %lld): %s",
                         nb_model_file_name(cm->m), (long long)batch,
                         nb_graph_error(g)[0] ? nb_graph_error(g) : "no input or output");
    nb_shape os = nb_node_shape(p->io.output);
    if (os.rank < 1 || os.dim[0] != batch) {
        char b[128];
        return cli_error("predict", CLI_FAIL,
                         "the model's output %s has no leading batch axis of %lld",
                         nb_shape_format(os, b, sizeof b), (long long)batch);
    }
    return CLI_OK;
}

/* Runs examples [at, at + p->batch) and copies the outputs into out. */
static int run_pass(pass *p, const nb_dataset *ds, int64_t at, float *out)
{
    int64_t per_x = nb_shape_numel(ds->shape);
    int64_t per_out = nb_shape_numel(nb_node_shape(p->io.output)) / p->batch;
    nb_status st = nb_runtime_set_input(p->rt, p->io.x, ds->x + at * per_x);
    if (st == NB_OK)
        st = nb_runtime_run(p->rt);
    if (st != NB_OK)
        return cli_error("predict", CLI_FAIL, "%s", cli_strip(nb_runtime_error(p->rt)));
    memcpy(out + at * per_out, nb_runtime_value(p->rt, p->io.output),
           (size_t)(p->batch * per_out) * sizeof(float));
    return CLI_OK;
}

/* All of ds through the model, batch by batch, then the output file. */
static int predict(const cli_model *cm, const char *weights, const nb_dataset *ds, int64_t batch,
                   const char *path)
{
    nb_graph *g = nb_graph_new();
    if (!g)
        return cli_error("predict", CLI_FAIL, "out of memory");
    int64_t full = batch < ds->n ? batch : ds->n, tail = ds->n % full;
    pass a = {0}, b = {0};
    nb_error err = {0};
    int rc = build_pass(cm, g, full, false, &a);
    if (rc == CLI_OK && nb_weights_load(g, weights, &err) != NB_OK)
        rc = cli_error("predict", CLI_FAIL, "%s", err.message);
    if (rc == CLI_OK && tail)
        rc = build_pass(cm, g, tail, true, &b);
    int64_t per_out = rc == CLI_OK ? nb_shape_numel(nb_node_shape(a.io.output)) / full : 0;
    float *out = rc == CLI_OK ? malloc((size_t)(ds->n * per_out) * sizeof(float)) : NULL;
    if (rc == CLI_OK && !out)
        rc = cli_error("predict", CLI_FAIL, "out of memory for %lld outputs", (long long)ds->n);
    for (int64_t at = 0; rc == CLI_OK && at < ds->n; at += full)
        rc = run_pass(ds->n - at < full ? &b : &a, ds, at, out);
    if (rc == CLI_OK) {
        nb_shape os = nb_node_shape(a.io.output);
        os.dim[0] = ds->n;
        nb_array arr = {.name = "output", .shape = os, .data = out};
        char s[128];
        if (nb_hdf5_write(path, &arr, 1, &err) != NB_OK)
            rc = cli_error("predict", CLI_FAIL, "%s", err.message);
        else
            printf("model=%s n=%lld output=%s shape=%s\n", nb_model_file_name(cm->m),
                   (long long)ds->n, path, nb_shape_format(os, s, sizeof s));
    }
    free(out);
    nb_runtime_free(a.rt);
    nb_runtime_free(b.rt);
    nb_graph_free(g);
    return rc;
}

int cli_predict(int argc, char **argv)
{
    const char *weights = NULL, *input = NULL, *x_name = NULL, *output = NULL;
    int64_t threads = 0, limit = 0, batch = 256;
    cli_opt opts[] = {
        {"--weights", "-w", CLI_STR, &weights, "FILE",
         "trained weights (default: MODEL itself when it is a .h5 file)"},
        {"--input", "-i", CLI_STR, &input, "FILE", "HDF5 file with the examples (required)"},
        {"--x", NULL, CLI_STR, &x_name, "NAME", "dataset holding the examples (default X)"},
        {"--output", "-o", CLI_STR, &output, "FILE", "HDF5 file to write (required)"},
        {"--batch", NULL, CLI_COUNT, &batch, "N", "examples per run (default 256)"},
        {"--limit", NULL, CLI_COUNT, &limit, "N", "the first N examples only"},
        {"--threads", NULL, CLI_INT, &threads, "N", CLI_THREADS_HELP},
        {0}};
    cli_cmd cmd = {
        .name = "predict", .args = "MODEL.yaml|W.h5", .min_pos = 1, .max_pos = 1, .opts = opts,
        .summary = "Run a trained model (inference mode) on examples from an HDF5 file and write\n"
                   "its outputs as the dataset \"output\" [N, ...] of a new HDF5 file.",
        .details = "The examples are a dataset X [N, ...] matching the model's input shape.\n\n"
                   "example (XOR's four examples; training writes xor.h5, weights and model):\n"
                   "  nabla train examples/models/xor.yaml\n"
                   "  nabla predict xor.h5 -i examples/models/xor.h5 -o out.h5\n"
                   "  python3 -c \"import h5py; print(h5py.File('out.h5')['output'][:5])\""};
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
    weights = weights ? weights : pos[0];
    cli_set_threads(threads);
    nb_dataset *ds = NULL;
    rc = cli_input_load("predict", &cm, input, x_name, NULL, false, limit, &ds);
    if (rc == CLI_OK)
        rc = predict(&cm, weights, ds, batch, output);
    nb_dataset_free(ds);
    cli_model_free(&cm);
    return rc;
}
