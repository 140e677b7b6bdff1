/*
 * dot.c — `nabla dot MODEL.yaml [--backward] [--batch N] [-o FILE]`: draws
 * a model's graph through Graphviz. The model is built as it trains: in
 * training mode at its training batch (or --batch), so a layer that needs
 * more than one example to train (batch norm over features) draws as it
 * runs. --backward appends the gradient of the loss with respect to every
 * trainable parameter and draws that too, styled apart. --plan draws the
 * steps a runtime for the same values executes (fused groups marked)
 * rather than the graph. The file's
 * extension picks the format: .svg and .png are rendered, any other name
 * gets DOT text. `nabla train` draws the trainer it trained instead
 * (cli_draw_trainer), after a successful run.
 */
#include <stdlib.h>
#include <string.h>

#include "cli_internal.h"

/* Appends the backward pass to b's graph; fills outs with output, loss and
 * every gradient. *n_outs is set; outs has room for 2 + parameters. */
static int add_backward(const char *cmd, cli_build *b, nb_node **outs, int *n_outs)
{
    int n = 0;
    nb_node **ps = cli_trainable(b->g, &n);
    nb_node **grads = malloc((size_t)(n > 0 ? n : 1) * sizeof *grads);
    int rc = CLI_OK;
    if (!ps || !grads)
        rc = cli_error(cmd, CLI_FAIL, "out of memory");
    else if (n == 0)
        rc = cli_error(cmd, CLI_FAIL, "the model has no trainable parameters to differentiate");
    else if (nb_grad(b->g, b->io.loss, ps, n, grads) != NB_OK)
        rc = cli_error(cmd, CLI_FAIL, "differentiating the loss: %s", nb_graph_error(b->g));
    else
        for (int i = 0; i < n; i++)
            outs[(*n_outs)++] = grads[i];
    free(ps);
    free(grads);
    return rc;
}

/* The plan a runtime for outs executes, drawn to path. */
static int draw_plan(const char *cmd, nb_graph *g, nb_node **outs, int n, nb_dot_opts o,
                     const char *path)
{
    nb_runtime *rt = nb_runtime_new(g, outs, n);
    if (!rt)
        return cli_error(cmd, CLI_FAIL, "planning the run: %s", nb_graph_error(g));
    nb_error err = {0};
    int rc = nb_runtime_dot_write(rt, o, path, &err) == NB_OK
                 ? CLI_OK
                 : cli_error(cmd, CLI_FAIL, "%s", err.message);
    nb_runtime_free(rt);
    return rc;
}

int cli_draw(const char *cmd, const cli_model *cm, int64_t batch, bool backward, bool plan,
             const char *path)
{
    cli_build b;
    if (cli_build_model(cmd, cm, batch, true, &b) != CLI_OK)
        return CLI_FAIL;
    if (backward && !b.io.loss) {
        cli_build_free(&b);
        return cli_error(cmd, CLI_FAIL, "model '%s' names no loss, so it has no backward pass",
                         nb_model_file_name(cm->m));
    }
    nb_node **outs = malloc((size_t)(2 + nb_graph_num_params(b.g)) * sizeof *outs);
    int n = 0, rc = outs ? CLI_OK : cli_error(cmd, CLI_FAIL, "out of memory");
    if (outs) {
        outs[n++] = b.io.output;
        if (b.io.loss)
            outs[n++] = b.io.loss;
    }
    if (rc == CLI_OK && backward)
        rc = add_backward(cmd, &b, outs, &n);
    nb_dot_opts o = {.backward = backward, .title = nb_model_file_name(cm->m)};
    if (rc == CLI_OK && plan) {
        rc = draw_plan(cmd, b.g, outs, n, o, path);
    } else if (rc == CLI_OK) {
        nb_error err = {0};
        if (nb_dot_write(b.g, outs, n, o, path, &err) != NB_OK)
            rc = cli_error(cmd, CLI_FAIL, "%s", err.message);
    }
    free(outs);
    cli_build_free(&b);
    return rc;
}

int cli_draw_trainer(const char *cmd, const cli_model *cm, nb_trainer *t, const char *path)
{
    nb_error err = {0};
    nb_dot_opts o = {.title = nb_model_file_name(cm->m)};
    if (nb_trainer_dot_write(t, o, path, &err) != NB_OK)
        return cli_error(cmd, CLI_FAIL, "drawing the network: %s", err.message);
    return CLI_OK;
}

/* "<name>.svg" for a model, into buf. */
const char *cli_default_path(const cli_model *cm, const char *ext, char *buf, size_t size)
{
    const char *name = nb_model_file_name(cm->m);
    snprintf(buf, size, "%s%s", name && *name ? name : "model", ext);
    return buf;
}

int cli_dot(int argc, char **argv)
{
    bool backward = false, plan = false;
    const char *out = NULL;
    int64_t batch = 0;
    cli_opt opts[] = {
        {"--backward", NULL, CLI_FLAG, &backward, NULL,
         "also draw the backward pass (gradients of the loss), styled apart"},
        {"--plan", NULL, CLI_FLAG, &plan, NULL,
         "draw the executed plan: one box per runtime step, fused groups marked"},
        {"--batch", NULL, CLI_COUNT, &batch, "N",
         "the batch to draw the training graph at (default: the model's training batch)"},
        {"--output", "-o", CLI_STR, &out, "FILE",
         "where to write: .svg or .png render, other names get DOT text (default <name>.svg)"},
        {0}};
    cli_cmd cmd = {
        .name = "dot", .args = "MODEL.yaml|W.h5", .min_pos = 1, .max_pos = 1, .opts = opts,
        .summary = "Draw a model's graph with Graphviz: the forward pass, and with --backward the\n"
                   "gradient nodes too. Layers are clusters; nodes show their op and shape.\n"
                   "The graph drawn is the one that trains: training mode, the training batch.\n"
                   "--plan draws what runs instead: the runtime's steps in order, each fused\n"
                   "group one green box naming its pattern and ops, each step's buffer and\n"
                   "size (NABLA_FUSION=0: every op its own step).\n"
                   "Rendering (.svg, .png) needs about 256 MB of address space beyond what\n"
                   "the process holds; under a smaller ulimit -v it is refused, naming the\n"
                   "limit needed (DOT text needs none).",
        .details = "examples:\n  nabla dot examples/models/lenet5.yaml     # lenet5.svg\n"
                   "  nabla dot examples/models/lenet5.yaml --backward -o lenet5_backward.png\n"
                   "  nabla dot examples/models/lenet5.yaml -o lenet5.dot   # DOT text for `dot`\n"
                   "  nabla dot --plan --backward examples/models/lenet5.yaml -o step.svg"};
    const char *pos[1];
    int n_pos, rc = cli_parse(&cmd, argc, argv, pos, &n_pos);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    cli_model cm;
    if (cli_model_load("dot", pos[0], &cm) != CLI_OK)
        return CLI_FAIL;
    char buf[1100];
    const char *path = out ? out : cli_default_path(&cm, ".svg", buf, sizeof buf);
    if (cli_need("dot", "graphviz", "the drawing", path, NULL) != CLI_OK) {
        cli_model_free(&cm);
        return CLI_FAIL;
    }
    if (batch <= 0)
        batch = nb_model_file_train_opts(cm.m).batch;
    rc = cli_draw("dot", &cm, batch > 0 ? batch : 32, backward, plan, path);
    if (rc == CLI_OK)
        printf("model=%s graph=%s backward=%s plan=%s\n", nb_model_file_name(cm.m), path,
               backward ? "yes" : "no", plan ? "yes" : "no");
    cli_model_free(&cm);
    return rc;
}
