/*
 * fuzz_model.c — model files (YAML): nb_model_file_parse, then, for a file
 * it accepts, what `nabla train` does next at a small scale: build the
 * model at batch 2 (in a graph whose allocator holds at most 64 MiB),
 * differentiate the loss with respect to every parameter, plan, and run
 * forward and backward once on zero inputs.
 *
 * Promises checked: every refusal (parse, build, nb_grad, planning, the
 * run) carries a message; a file that parses builds (the parser probes the
 * build itself, so a build failure other than running out of the budget is
 * a lie); the accessors answer for any file that parsed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define BATCH 2
#define GRAPH_BYTES ((size_t)64 << 20)

/* Sets every input of g to zeros (class 0 for labels). */
static nb_status zero_inputs(nb_graph *g, nb_runtime *rt)
{
    for (int i = 0; i < nb_graph_node_count(g); i++) {
        nb_node *n = nb_graph_node(g, i);
        if (nb_node_kind_of(n) != NB_NODE_INPUT)
            continue;
        int64_t numel = nb_shape_numel(nb_node_shape(n));
        float *z = calloc((size_t)(numel > 0 ? numel : 1), sizeof *z);
        if (!z)
            return NB_ERR_NOMEM;
        nb_status st = nb_runtime_set_input(rt, n, z);
        free(z);
        /* Inputs the plan pruned are refused; any refusal needs a message. */
        fuzz_require_message("nb_runtime_set_input", st, nb_runtime_error(rt), 0);
    }
    return NB_OK;
}

/* Loss and its gradients, planned and run once. */
static void differentiate_and_run(nb_graph *g, const nb_model_io *io)
{
    int np = nb_graph_num_params(g);
    nb_node **outs = calloc((size_t)np + 2, sizeof *outs);
    if (!outs)
        return;
    int n_out = 0;
    outs[n_out++] = io->output;
    if (io->loss && np > 0) {
        nb_node **wrt = calloc((size_t)np, sizeof *wrt);
        if (!wrt) {
            free(outs);
            return;
        }
        for (int i = 0; i < np; i++)
            wrt[i] = nb_graph_param(g, i);
        nb_status st = nb_grad(g, io->loss, wrt, np, outs + 1);
        free(wrt);
        fuzz_require_message("nb_grad", st, nb_graph_error(g), 0);
        if (st != NB_OK) {
            free(outs);
            return;
        }
        n_out += np;
        outs[n_out++] = io->loss;
    }
    nb_runtime *rt = nb_runtime_new(g, outs, n_out);
    if (!rt) {
        fuzz_require_message("nb_runtime_new", nb_graph_status(g) != NB_OK ? nb_graph_status(g)
                                                                            : NB_ERR_ARG,
                             nb_graph_error(g), 0);
    } else if (zero_inputs(g, rt) == NB_OK) {
        nb_status st = nb_runtime_run(rt);
        fuzz_require_message("nb_runtime_run", st, nb_runtime_error(rt), 0);
    }
    nb_runtime_free(rt);
    free(outs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nb_error err = {0};
    nb_model_file *m = nb_model_file_parse((const char *)data, size, "fuzz.yaml", &err);
    if (!m) {
        fuzz_require_error("nb_model_file_parse", err.status != NB_OK ? err.status : NB_ERR_ARG,
                           &err);
        return 0;
    }
    /* The accessors of an accepted file. */
    (void)nb_model_file_name(m);
    if (!nb_model_file_text(m))
        fuzz_fail("nb_model_file_text: NULL for a parsed file");
    nb_shape in = nb_model_file_input_shape(m), out = nb_model_file_output_shape(m);
    if (in.rank < 0 || in.rank > NB_MAX_RANK || out.rank < 0 || out.rank > NB_MAX_RANK)
        fuzz_fail("input rank %d, output rank %d", in.rank, out.rank);
    (void)nb_model_file_train_opts(m);
    (void)nb_model_file_data(m);
    (void)nb_model_file_x_div(m);

    fuzz_budget budget = {.limit = GRAPH_BYTES};
    nb_graph *g = nb_graph_new_with_allocator(fuzz_capped_alloc, &budget);
    if (g) {
        nb_model_io io = {0};
        nb_status st = nb_model_file_build(g, BATCH, &io, m);
        fuzz_require_message("nb_model_file_build", st, nb_graph_error(g), 0);
        if (st == NB_OK && !io.output)
            fuzz_fail("nb_model_file_build: OK without an output node");
        if (st == NB_OK)
            differentiate_and_run(g, &io);
        nb_graph_free(g);
    }
    nb_model_file_free(m);
    return 0;
}
