/*
 * fuzz_weights.c — HDF5 weights files: the input, written to a temporary
 * file, is loaded into the target model (target.yaml) by nb_weights_load,
 * and its stored YAML is read by nb_weights_model_yaml and parsed, as
 * `nabla eval/predict/inspect WEIGHTS.h5` do.
 *
 * Promises checked: every refusal carries a message; a refused load leaves
 * the parameters as they were (all or nothing).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "target.h"

/* Every parameter's values, end to end, malloc'd. */
static float *snapshot(nb_graph *g, size_t *bytes)
{
    size_t n = 0;
    for (int i = 0; i < nb_graph_num_params(g); i++)
        n += (size_t)nb_shape_numel(nb_node_shape(nb_graph_param(g, i)));
    float *s = malloc((n ? n : 1) * sizeof *s), *at = s;
    for (int i = 0; s && i < nb_graph_num_params(g); i++) {
        nb_node *p = nb_graph_param(g, i);
        size_t k = (size_t)nb_shape_numel(nb_node_shape(p));
        memcpy(at, nb_param_data(p), k * sizeof *at);
        at += k;
    }
    *bytes = n * sizeof *s;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nb_model_file *m = fuzz_target_model();
    const char *path = fuzz_write_file(0, ".h5", data, size);

    nb_graph *g = nb_graph_new();
    nb_model_io io = {0};
    if (!g || nb_model_file_build(g, 1, &io, m) != NB_OK)
        fuzz_fail("cannot build the target model: %s", g ? nb_graph_error(g) : "no graph");
    size_t bytes = 0;
    float *before = snapshot(g, &bytes);
    nb_error err = {0};
    nb_status st = nb_weights_load(g, path, &err);
    fuzz_require_error("nb_weights_load", st, &err);
    size_t bytes_after = 0;
    float *after = snapshot(g, &bytes_after);
    if (st != NB_OK && before && after && memcmp(before, after, bytes))
        fuzz_fail("nb_weights_load refused (%s) but changed the parameters", err.message);
    free(before);
    free(after);
    nb_graph_free(g);

    nb_error e2 = {0};
    char *yaml = nb_weights_model_yaml(path, &e2);
    fuzz_require_error("nb_weights_model_yaml", yaml ? NB_OK : NB_ERR_ARG, &e2);
    if (yaml) {
        nb_error e3 = {0};
        nb_model_file *stored = nb_model_file_parse(yaml, strlen(yaml), "stored.yaml", &e3);
        fuzz_require_error("nb_model_file_parse (stored YAML)", stored ? NB_OK : NB_ERR_ARG,
                           &e3);
        nb_model_file_free(stored);
        nb_free(yaml);
    }
    fuzz_require_hdf5_closed("nabla weights readers");
    fuzz_remove_files();
    return 0;
}
