/*
 * eval.c — `nabla eval MODEL.yaml --weights W.h5`: the mean loss and the
 * accuracy of trained weights on the model's test set (its training set
 * when the data section names no test file), as one key=value line.
 */
#include <string.h>

#include "cli_internal.h"

/* Evaluates with a trainer (it batches and counts hits) whose parameters
 * are the loaded weights. */
static int evaluate(const cli_model *cm, const char *weights, const nb_dataset *ds,
                    const char *split)
{
    nb_error err = {0};
    nb_train_opts o = nb_model_file_train_opts(cm->m);
    nb_trainer *t = nb_trainer_new(nb_model_file_build, cm->m, nb_model_file_input_shape(cm->m),
                                   nb_model_file_y_width(cm->m), &o, &err);
    if (!t)
        return cli_error("eval", CLI_FAIL, "%s", cli_strip(err.message));
    double loss = 0, acc = 0;
    int rc = CLI_OK;
    if (nb_weights_load(nb_trainer_graph(t), weights, &err) != NB_OK)
        rc = cli_error("eval", CLI_FAIL, "%s", err.message);
    else if (nb_trainer_evaluate(t, ds, &loss, &acc) != NB_OK)
        rc = cli_error("eval", CLI_FAIL, "%s", cli_strip(nb_trainer_error(t)));
    else
        printf("model=%s weights=%s set=%s n=%lld %s_loss=%.4f %s_acc=%.4f\n",
               nb_model_file_name(cm->m), weights, split, (long long)ds->n, split, loss, split,
               acc);
    nb_trainer_free(t);
    return rc;
}

int cli_eval(int argc, char **argv)
{
    const char *weights = NULL, *data = NULL;
    int64_t threads = 0, limit = 0;
    cli_opt opts[] = {
        {"--weights", "-w", CLI_STR, &weights, "FILE",
         "trained weights (default: MODEL itself when it is a .h5 file)"},
        {"--threads", NULL, CLI_INT, &threads, "N", CLI_THREADS_HELP},
        {"--limit", NULL, CLI_COUNT, &limit, "N", "evaluate the first N test examples only"},
        {"--data", NULL, CLI_STR, &data, "DIR",
         "read the data files from DIR instead of the folder the model names"},
        {0}};
    cli_cmd cmd = {
        .name = "eval", .args = "MODEL.yaml|W.h5", .min_pos = 1, .max_pos = 1, .opts = opts,
        .summary = "Evaluate trained weights on the model's test set: mean loss and accuracy,\n"
                   "printed as key=value.",
        .details = "examples (lenet5.h5 as `nabla train` writes it):\n"
                   "  nabla eval examples/models/lenet5.yaml --weights lenet5.h5\n"
                   "  nabla eval lenet5.h5          # the model stored in the weights file"};
    const char *pos[1];
    int n_pos, rc = cli_parse(&cmd, argc, argv, pos, &n_pos);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    if (!weights && !cli_is_hdf5(pos[0]))
        return cli_usage("eval", "--weights FILE is required with a YAML model");
    cli_model cm;
    if (cli_model_load("eval", pos[0], &cm) != CLI_OK)
        return CLI_FAIL;
    if (cli_model_set_data("eval", &cm, data) != CLI_OK) {
        cli_model_free(&cm);
        return CLI_FAIL;
    }
    weights = weights ? weights : pos[0];
    cli_set_threads(threads);
    nb_data_spec d = nb_model_file_data(cm.m);
    bool has_test = d.format && (!strcmp(d.format, "idx") || d.test);
    nb_dataset *train = NULL, *test = NULL;
    rc = cli_data_load("eval", &cm, has_test ? NULL : &train, has_test ? &test : NULL, limit);
    nb_dataset *ds = has_test ? test : train;
    if (rc == CLI_OK)
        rc = cli_data_check("eval", &cm, ds, has_test ? "the test set" : "the training set");
    if (rc == CLI_OK)
        rc = evaluate(&cm, weights, ds, has_test ? "test" : "train");
    nb_dataset_free(train);
    nb_dataset_free(test);
    cli_model_free(&cm);
    return rc;
}
