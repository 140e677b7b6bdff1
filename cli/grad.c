/*
 * grad.c — `nabla grad MODEL.yaml --weights W.h5 --input X.h5 --output
 * g.h5`: one forward and backward pass of the training-mode model over all
 * the file's examples as one batch, written to HDF5 for cross-checking
 * against another framework:
 *
 *   loss                 [1]      the mean loss over the batch
 *   output               [N, ...] the model's output
 *   grad/<param name>    the parameter's shape: d loss / d param, e.g.
 *                        grad/conv2d1/w [6,1,5,5]
 *
 * Without --weights (and a YAML model) the parameters are the model's
 * initial ones, drawn from its seed exactly as `nabla train` draws them.
 */
#include <stdlib.h>
#include <string.h>

#include "cli_internal.h"

/* The graph with its gradients and a runtime for all of them. */
typedef struct grad_pass {
    cli_build b;
    nb_node **params, **grads;
    int n;
    nb_runtime *rt;
} grad_pass;

static void pass_free(grad_pass *p)
{
    nb_runtime_free(p->rt);
    free(p->params);
    free(p->grads);
    cli_build_free(&p->b);
}

/* Builds the model at batch n, loads weights, differentiates the loss with
 * respect to every trainable parameter, and compiles the runtime. */
static int prepare(const cli_model *cm, const char *weights, int64_t n, grad_pass *p)
{
    *p = (grad_pass){0};
    if (cli_build_model("grad", cm, n, true, &p->b) != CLI_OK)
        return CLI_FAIL;
    nb_graph *g = p->b.g;
    if (!p->b.io.loss || !p->b.io.y)
        return cli_error("grad", CLI_FAIL, "model '%s' names no loss to differentiate",
                         nb_model_file_name(cm->m));
    if (weights && cli_weights_load("grad", cm, g, weights) != CLI_OK)
        return CLI_FAIL;
    p->params = cli_trainable(g, &p->n);
    p->grads = calloc((size_t)(p->n + 2), sizeof *p->grads);
    if (!p->params || !p->grads)
        return cli_error("grad", CLI_FAIL, "out of memory");
    if (p->n == 0)
        return cli_error("grad", CLI_FAIL, "model '%s' has no trainable parameters",
                         nb_model_file_name(cm->m));
    if (nb_grad(g, p->b.io.loss, p->params, p->n, p->grads + 2) != NB_OK)
        return cli_error("grad", CLI_FAIL, "differentiating the loss: %s", nb_graph_error(g));
    p->grads[0] = p->b.io.loss;
    p->grads[1] = p->b.io.output;
    p->rt = nb_runtime_new(g, p->grads, p->n + 2);
    if (!p->rt)
        return cli_error("grad", CLI_FAIL, "%s", nb_graph_error(g));
    return CLI_OK;
}

/* Feeds x and y (and dropout noise from the model's seed) and runs. */
static int run(const cli_model *cm, grad_pass *p, const nb_dataset *ds)
{
    nb_rng rng = nb_rng_seed(nb_model_file_train_opts(cm->m).seed);
    if (cli_feed_extra("grad", cm, p->rt, &p->b.io, ds, 0, ds->n) != CLI_OK)
        return CLI_FAIL;
    nb_status st = nb_runtime_set_input(p->rt, p->b.io.x, ds->x);
    if (st == NB_OK)
        st = nb_runtime_set_input(p->rt, p->b.io.y, ds->y);
    nb_runtime_fill_noise(p->rt, &rng);
    if (st == NB_OK)
        st = nb_runtime_run(p->rt);
    if (st != NB_OK)
        return cli_error("grad", CLI_FAIL, "%s", cli_strip(nb_runtime_error(p->rt)));
    return CLI_OK;
}

/* loss, output and grad/<name> for every parameter, in one file. */
static int write_file(const cli_model *cm, grad_pass *p, const char *path)
{
    nb_array *arr = calloc((size_t)(p->n + 2), sizeof *arr);
    char **names = calloc((size_t)(p->n > 0 ? p->n : 1), sizeof *names);
    int rc = arr && names ? CLI_OK : cli_error("grad", CLI_FAIL, "out of memory");
    for (int i = 0; rc == CLI_OK && i < p->n; i++) {
        const char *name = nb_node_name(p->params[i]);
        size_t len = strlen(name ? name : "unnamed") + 6;
        if (!(names[i] = malloc(len)))
            rc = cli_error("grad", CLI_FAIL, "out of memory");
        else
            snprintf(names[i], len, "grad/%s", name ? name : "unnamed");
        arr[i + 2] = (nb_array){names[i], nb_node_shape(p->params[i]),
                                nb_runtime_value(p->rt, p->grads[i + 2])};
    }
    nb_error err = {0};
    if (rc == CLI_OK) {
        arr[0] = (nb_array){"loss", NB_SHAPE(1), nb_runtime_value(p->rt, p->b.io.loss)};
        arr[1] = (nb_array){"output", nb_node_shape(p->b.io.output),
                            nb_runtime_value(p->rt, p->b.io.output)};
        if (nb_hdf5_write(path, arr, p->n + 2, &err) != NB_OK)
            rc = cli_error("grad", CLI_FAIL, "%s", err.message);
    }
    if (rc == CLI_OK)
        printf("model=%s n=%lld loss=%.6g params=%d output=%s\n", nb_model_file_name(cm->m),
               (long long)nb_node_shape(p->b.io.x).dim[0],
               (double)nb_runtime_value(p->rt, p->b.io.loss)[0], p->n, path);
    for (int i = 0; names && i < p->n; i++)
        free(names[i]);
    free(names);
    free(arr);
    return rc;
}

int cli_grad(int argc, char **argv)
{
    const char *weights = NULL, *input = NULL, *x_name = NULL, *y_name = NULL, *output = NULL;
    const char *inputs = NULL;
    int64_t threads = 0, limit = 0;
    bool allow_nonfinite = false;
    cli_opt opts[] = {
        {"--weights", "-w", CLI_STR, &weights, "FILE",
         "weights (default: MODEL itself when it is a .h5 file, else the initial weights)"},
        {"--input", "-i", CLI_STR, &input, "FILE",
         "HDF5 file with examples X and targets y (required)"},
        {"--x", NULL, CLI_STR, &x_name, "NAME", "dataset holding the examples (default X)"},
        {"--y", NULL, CLI_STR, &y_name, "NAME", "dataset holding the targets (default y)"},
        {"--inputs", NULL, CLI_STR, &inputs, "NAME=DS,...", CLI_INPUTS_HELP},
        {"--output", "-o", CLI_STR, &output, "FILE", "HDF5 file to write (required)"},
        {"--limit", NULL, CLI_COUNT, &limit, "N", "the first N examples only"},
        {"--threads", NULL, CLI_INT, &threads, "N", CLI_THREADS_HELP},
        {"--allow-nonfinite", NULL, CLI_FLAG, &allow_nonfinite, NULL, CLI_NONFINITE_HELP},
        {0}};
    cli_cmd cmd = {
        .name = "grad", .args = "MODEL.yaml|W.h5", .min_pos = 1, .max_pos = 1, .opts = opts,
        .summary = "One forward and backward pass of the training-mode model over every\n"
                   "example of an HDF5 file as one batch. Writes \"loss\" [1], \"output\"\n"
                   "[N, ...] and \"grad/<param>\" for every trainable parameter (e.g.\n"
                   "grad/conv2d1/w), to check gradients against another framework.",
        .details = "example (the four examples of XOR, at the initial weights):\n"
                   "  nabla grad examples/models/xor.yaml -i examples/models/xor.h5 -o grads.h5\n"
                   "  h5dump -d /grad/logit/b grads.h5"};
    const char *pos[1];
    int n_pos, rc = cli_parse(&cmd, argc, argv, pos, &n_pos);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    if (!input || !output)
        return cli_usage("grad", "--%s FILE is required", !input ? "input" : "output");
    cli_model cm;
    if (cli_model_load("grad", pos[0], &cm) != CLI_OK)
        return CLI_FAIL;
    if (cli_model_set_sources("grad", &cm, inputs) != CLI_OK) {
        cli_model_free(&cm);
        return CLI_USAGE;
    }
    if (!weights && cm.from_weights)
        weights = pos[0];
    cm.allow_nonfinite = allow_nonfinite;
    cli_set_threads(threads);
    nb_dataset *ds = NULL;
    grad_pass p = {0};
    rc = cli_input_load("grad", &cm, input, x_name, y_name, true, limit, &ds);
    if (rc == CLI_OK && weights)
        cli_inputs_warn("grad", weights, ds);
    if (rc == CLI_OK)
        rc = prepare(&cm, weights, ds->n, &p);
    if (rc == CLI_OK)
        rc = run(&cm, &p, ds);
    if (rc == CLI_OK)
        rc = write_file(&cm, &p, output);
    pass_free(&p);
    nb_dataset_free(ds);
    cli_model_free(&cm);
    return rc;
}
