/*
 * nabla.c — the `nabla` command: dispatches to a subcommand (train, eval,
 * predict, grad, dot, inspect, export, import), each in its own file. Exit status: 0 on
 * success, 1 when the work failed, 2 on a usage error; every error is one
 * line on stderr starting "nabla <command>: ".
 */
#include <stdio.h>
#include <string.h>

#include "cli_internal.h"

#ifndef NABLA_VERSION
#define NABLA_VERSION "unknown"
#endif

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"train", cli_train, "train a model (default: the built-in LeNet-5 on Fashion-MNIST)"},
    {"eval", cli_eval, "loss and accuracy of trained weights on the test set"},
    {"predict", cli_predict, "run a trained model on examples from an HDF5 file"},
    {"grad", cli_grad, "write the loss, outputs and every parameter's gradient to HDF5"},
    {"dot", cli_dot, "draw a model's graph (DOT, SVG or PNG)"},
    {"inspect", cli_inspect, "show a model's layers, or a weights file's model and weights"},
    {"export", cli_export, "write a model and its weights as an ONNX file"},
    {"import", cli_import, "turn an ONNX file into a model and its weights"},
    {NULL, NULL, NULL}};

static void usage(FILE *out)
{
    fprintf(out, "usage: nabla <command> [arguments]\n\n"
                 "nabla trains neural networks described in YAML: graph-based reverse-mode\n"
                 "autodiff in C, weights in HDF5, graphs drawn with Graphviz.\n\ncommands:\n");
    for (const command *c = commands; c->name; c++)
        fprintf(out, "  %-9s %s\n", c->name, c->summary);
    fprintf(out, "\n'nabla <command> --help' describes a command's arguments and options.\n"
                 "'nabla train' with no arguments trains LeNet-5 on Fashion-MNIST and saves\n"
                 "lenet5.h5 (weights) and lenet5.svg (its graph).\n\n"
                 "  -h, --help     show this help\n  --version      show the version\n");
}

/* "nabla: unknown command 'x'", with a suggestion when one is close;
 * returns CLI_USAGE. */
static int unknown(const char *name)
{
    const char *names[sizeof commands / sizeof *commands];
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        names[i] = commands[i].name;
    const char *best = nb_closest_name(name, names);
    if (best)
        fprintf(stderr, "nabla: unknown command '%s'; did you mean '%s'? (see 'nabla --help')\n",
                name, best);
    else if (name[0] == '-')
        fprintf(stderr, "nabla: unknown option '%s': options follow the command, as in "
                        "'nabla train %s' (see 'nabla --help')\n", name, name);
    else
        fprintf(stderr, "nabla: unknown command '%s' (see 'nabla --help')\n", name);
    return CLI_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "help") && argc > 2) {
        char help[] = "--help";
        char *args[] = {argv[2], help, NULL};
        for (const command *c = commands; c->name; c++)
            if (!strcmp(c->name, argv[2]))
                return c->run(2, args);
        return unknown(argv[2]);
    }
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        printf("nabla %s\n", NABLA_VERSION);
        if (!nb_built_with("hdf5") || !nb_built_with("graphviz") || !nb_built_with("png") ||
            !nb_built_with("mpi") || !nb_built_with("onnx"))
            printf("built without:%s%s%s%s%s\n", nb_built_with("hdf5") ? "" : " HDF5",
                   nb_built_with("graphviz") ? "" : " Graphviz",
                   nb_built_with("png") ? "" : " libpng", nb_built_with("mpi") ? "" : " MPI",
                   nb_built_with("onnx") ? "" : " protobuf-c");
        return CLI_OK;
    }
    for (const command *c = commands; c->name; c++)
        if (!strcmp(c->name, name))
            return c->run(argc - 1, argv + 1);
    return unknown(name);
}
