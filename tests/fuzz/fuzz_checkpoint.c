/*
 * fuzz_checkpoint.c — HDF5 checkpoints: the input, written to a temporary
 * file, is loaded into a trainer of the target model (target.yaml) by
 * nb_checkpoint_load (what `nabla train --resume` does) and by
 * nb_checkpoint_load_weights (a resume with a fresh optimiser), each into
 * a new trainer; an accepted checkpoint is then trained on for one step.
 *
 * Promises checked: every refusal carries a message; a refused load leaves
 * the trainer's parameters as they were; a trainer that accepted a
 * checkpoint can take a step (or refuse it with a message).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "target.h"

static uint64_t param_sum(nb_trainer *t)
{
    uint64_t h = 1469598103934665603u;
    nb_graph *g = nb_trainer_graph(t);
    for (int i = 0; i < nb_graph_num_params(g); i++) {
        nb_node *p = nb_graph_param(g, i);
        const unsigned char *b = (const unsigned char *)nb_param_data(p);
        size_t n = (size_t)nb_shape_numel(nb_node_shape(p)) * sizeof(float);
        for (size_t k = 0; k < n; k++)
            h = (h ^ b[k]) * 1099511628211u;
    }
    return h;
}

/* One step on four zero images of class 0. */
static void one_step(nb_trainer *t)
{
    nb_model_file *m = fuzz_target_model();
    int64_t d = nb_shape_numel(nb_model_file_input_shape(m));
    float *x = calloc((size_t)(4 * d), sizeof *x), y[4] = {0};
    double loss = 0;
    if (!x)
        return;
    nb_status st = nb_trainer_step(t, x, y, 4, &loss);
    fuzz_require_message("nb_trainer_step after a checkpoint load", st, nb_trainer_error(t), 0);
    free(x);
}

static void load(const char *path, bool weights_only)
{
    nb_trainer *t = fuzz_target_trainer();
    uint64_t before = param_sum(t);
    nb_error err = {0};
    nb_status st = weights_only ? nb_checkpoint_load_weights(t, path, &err)
                                : nb_checkpoint_load(t, path, &err);
    const char *call = weights_only ? "nb_checkpoint_load_weights" : "nb_checkpoint_load";
    fuzz_require_error(call, st, &err);
    if (st != NB_OK && param_sum(t) != before)
        fuzz_fail("%s refused (%s) but changed the parameters", call, err.message);
    if (st == NB_OK)
        one_step(t);
    nb_trainer_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file(0, ".h5", data, size);
    load(path, false);
    load(path, true);
    fuzz_require_hdf5_closed("nabla checkpoint readers");
    fuzz_remove_files();
    return 0;
}
