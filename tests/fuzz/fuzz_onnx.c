/*
 * fuzz_onnx.c — ONNX files: the input, written to a temporary file, is
 * imported by nb_onnx_import into a YAML model and a weights file, as
 * `nabla import` does.
 *
 * Promises checked: every refusal carries a message and leaves neither the
 * model nor the weights (nor a temporary file beside them); what is
 * accepted is a model that parses, builds and takes the weights written
 * with it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static char yaml_path[600], weights_path[600], yaml_tmp[620];

static bool exists(const char *path) { return access(path, F_OK) == 0; }

/* The imported model, checked as `nabla train/eval` would read it. */
static void check_accepted(void)
{
    FILE *f = fopen(yaml_path, "rb");
    if (!f)
        fuzz_fail("nb_onnx_import accepted but wrote no model");
    /* The whole file, however long: a cut-off model would not parse. */
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    char *text = size >= 0 && fseek(f, 0, SEEK_SET) == 0 ? malloc((size_t)size + 1) : NULL;
    size_t len = text ? fread(text, 1, (size_t)size, f) : 0;
    fclose(f);
    if (!text || len != (size_t)size)
        fuzz_fail("cannot read back the imported model %s", yaml_path);
    nb_error err = {0};
    nb_model_file *mf = nb_model_file_parse(text, len, yaml_path, &err);
    free(text);
    if (!mf)
        fuzz_fail("the imported model does not parse: %s", err.message);
    /* The import built it at batch 1 with these sizes: it builds again. */
    nb_graph *g = nb_graph_new();
    nb_model_io io = {0};
    if (!g || nb_model_file_build(g, 1, &io, mf) != NB_OK)
        fuzz_fail("the imported model does not build: %s", g ? nb_graph_error(g) : "no graph");
    nb_error werr = {0};
    if (nb_weights_load(g, weights_path, &werr) != NB_OK)
        fuzz_fail("the imported weights do not load into the imported model: %s", werr.message);
    nb_graph_free(g);
    nb_model_file_free(mf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file(0, ".onnx", data, size);
    /* The outputs beside the input, named after it. */
    snprintf(yaml_path, sizeof yaml_path, "%s.yaml", path);
    snprintf(weights_path, sizeof weights_path, "%s.h5", path);
    snprintf(yaml_tmp, sizeof yaml_tmp, "%s.tmp", yaml_path);

    nb_error err = {0};
    nb_status st = nb_onnx_import(path, yaml_path, weights_path, &err);
    fuzz_require_error("nb_onnx_import", st, &err);
    if (st != NB_OK && (exists(yaml_path) || exists(weights_path)))
        fuzz_fail("nb_onnx_import refused (%s) but left %s behind", err.message,
                  exists(yaml_path) ? "the model" : "the weights");
    if (exists(yaml_tmp))
        fuzz_fail("nb_onnx_import left its temporary file %s", yaml_tmp);
    if (st == NB_OK)
        check_accepted();
    fuzz_require_hdf5_closed("nb_onnx_import");
    unlink(yaml_path);
    unlink(weights_path);
    fuzz_remove_files();
    return 0;
}
