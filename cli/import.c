/*
 * import.c — `nabla import MODEL.onnx [-o MODEL.yaml] [--weights W.h5]`:
 * an ONNX file (what torch.onnx.export writes for MLPs and CNNs) as a nabla
 * YAML model and its weights file (nb_onnx_import), which `nabla predict`,
 * `eval`, `train` and `dot` then take.
 */
#include <stdio.h>
#include <string.h>

#include "cli_internal.h"

/* path with its extension replaced by ext ("m.onnx" → "m.yaml"). */
static const char *swap_ext(const char *path, const char *ext, char *buf, size_t size)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    size_t n = dot && (!slash || dot > slash) ? (size_t)(dot - path) : strlen(path);
    snprintf(buf, size, "%.*s%s", (int)n, path, ext);
    return buf;
}

int cli_import(int argc, char **argv)
{
    const char *out = NULL, *weights = NULL;
    cli_opt opts[] = {
        {"--output", "-o", CLI_STR, &out, "FILE", "the YAML model to write (default <name>.yaml)"},
        {"--weights", NULL, CLI_STR, &weights, "W.h5",
         "the weights file to write (default <name>.h5)"},
        {0}};
    cli_cmd cmd = {
        .name = "import", .args = "MODEL.onnx", .min_pos = 1, .max_pos = 1, .opts = opts,
        .summary = "Turn an ONNX file (what torch.onnx.export writes for MLPs and CNNs) into a\n"
                   "nabla model (the nodes: form) and its weights file. Gemm and MatMul become\n"
                   "dense, Conv conv2d, MaxPool/AveragePool the pooling layers,\n"
                   "BatchNormalization batchnorm with its running statistics; Relu, Sigmoid,\n"
                   "Tanh, Softmax, Flatten, Reshape, Add, Concat, Pad keep their meaning, Dropout and\n"
                   "Identity are skipped. Anything else is refused naming the node.",
        .details = "examples (XOR trained, exported, imported back, run):\n"
                   "  nabla train examples/models/xor.yaml\n"
                   "  nabla export xor.h5 -o xor.onnx\n"
                   "  nabla import xor.onnx -o back.yaml --weights back.h5\n"
                   "  nabla predict back.h5 -i examples/models/xor.h5 -o out.h5"};
    const char *pos[1];
    int n_pos, rc = cli_parse(&cmd, argc, argv, pos, &n_pos);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    char ybuf[1100], wbuf[1100];
    const char *yaml = out ? out : swap_ext(pos[0], ".yaml", ybuf, sizeof ybuf);
    const char *w = weights ? weights : swap_ext(pos[0], ".h5", wbuf, sizeof wbuf);
    if (strcmp(yaml, pos[0]) == 0 || strcmp(w, pos[0]) == 0 || strcmp(yaml, w) == 0)
        return cli_error("import", CLI_USAGE, "the ONNX file, the model and the weights must be "
                         "three different files");
    if (!nb_built_with("onnx"))
        return cli_error("import", CLI_FAIL, "nabla was built without protobuf-c: cannot read "
                         "the ONNX file '%s'", pos[0]);
    rc = cli_need("import", "hdf5", "the weights file", w, NULL);
    if (rc != CLI_OK)
        return rc;
    nb_error err = {0};
    if (nb_onnx_import(pos[0], yaml, w, &err) != NB_OK)
        return cli_error("import", CLI_FAIL, "%s", cli_strip(err.message));
    printf("onnx=%s model=%s weights=%s\n", pos[0], yaml, w);
    return CLI_OK;
}
