/*
 * without/onnx.c — ONNX in a nabla built without protobuf-c
 * (-Donnx=disabled, or libprotobuf-c/protoc-c not found): the call refuses
 * with one sentence saying so.
 */
#include "nabla.h"

nb_status nb_onnx_export(nb_model_fn build, void *ud, nb_graph *weights, const char *path,
                         nb_error *err)
{
    (void)build, (void)ud, (void)weights;
    return nb_error_set(err, NB_ERR_UNAVAILABLE, "nabla was built without protobuf-c: cannot "
                        "write the ONNX file '%s' (ONNX needs libprotobuf-c and protoc-c; "
                        "rebuild with them installed)", path ? path : "(no file)");
}

nb_status nb_onnx_import(const char *onnx_path, const char *yaml_path, const char *weights_path,
                         nb_error *err)
{
    (void)yaml_path, (void)weights_path;
    return nb_error_set(err, NB_ERR_UNAVAILABLE, "nabla was built without protobuf-c: cannot "
                        "read the ONNX file '%s' (ONNX needs libprotobuf-c and protoc-c; "
                        "rebuild with them installed)", onnx_path ? onnx_path : "(no file)");
}
