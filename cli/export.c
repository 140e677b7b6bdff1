/*
 * export.c — `nabla export W.h5|MODEL.yaml [--weights W.h5] [-o FILE]`:
 * writes a model and its trained weights as an ONNX file (nb_onnx_export),
 * for ONNX Runtime, OpenCV's dnn module, TensorRT or Netron. A weights file
 * holds its model's YAML, so one argument is enough; a YAML model takes
 * its weights from --weights (without them, its initial values, said so).
 */
#include <stdlib.h>
#include <string.h>

#include "cli_internal.h"

int cli_export(int argc, char **argv)
{
    const char *out = NULL, *weights = NULL;
    cli_model cm = {0};
    cli_opt opts[] = {
        {"--weights", NULL, CLI_STR, &weights, "W.h5",
         "the trained weights (default: the weights file given as the model, else the "
         "model's initial values)"},
        {"--output", "-o", CLI_STR, &out, "FILE", "the ONNX file to write (default <name>.onnx)"},
        {"--allow-nonfinite", NULL, CLI_FLAG, &cm.allow_nonfinite, NULL, CLI_NONFINITE_HELP},
        {0}};
    cli_cmd cmd = {
        .name = "export", .args = "W.h5|MODEL.yaml", .min_pos = 1, .max_pos = 1, .opts = opts,
        .summary = "Write a model and its weights as an ONNX file (opset 13), for ONNX Runtime,\n"
                   "OpenCV's dnn module, TensorRT or Netron. The graph is the model in inference\n"
                   "mode with a symbolic batch axis N; nabla's layers become ONNX operators\n"
                   "(MatMul, Conv, MaxPool, AveragePool, BatchNormalization, activations), every\n"
                   "other node its primitives' operators. Parameters keep nabla's names.",
        .details = "examples:\n  nabla export lenet5.h5                   # lenet5.onnx\n"
                   "  nabla export examples/models/lenet5.yaml --weights lenet5.h5 -o m.onnx"};
    const char *pos[1];
    int n_pos, rc = cli_parse(&cmd, argc, argv, pos, &n_pos);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    if (cli_model_load("export", pos[0], &cm) != CLI_OK)
        return CLI_FAIL;
    char buf[1100];
    const char *path = out ? out : cli_default_path(&cm, ".onnx", buf, sizeof buf);
    if (!weights && cm.from_weights)
        weights = pos[0];
    rc = cli_need("export", "onnx", "the ONNX file", path, NULL);
    cli_build b = {0};
    if (rc == CLI_OK && weights)
        rc = cli_build_model("export", &cm, 1, false, &b);
    if (rc == CLI_OK && weights)
        rc = cli_weights_load("export", &cm, b.g, weights);
    if (rc == CLI_OK) {
        nb_error err = {0};
        if (nb_onnx_export(nb_model_file_build, cm.m, weights ? b.g : NULL, path, &err) != NB_OK)
            rc = cli_error("export", CLI_FAIL, "%s", cli_strip(err.message));
    }
    if (rc == CLI_OK)
        printf("model=%s onnx=%s opset=13 weights=%s\n", nb_model_file_name(cm.m), path,
               weights ? weights : "initial (no --weights given)");
    if (b.g)
        cli_build_free(&b);
    cli_model_free(&cm);
    return rc;
}
