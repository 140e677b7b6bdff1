/*
 * onnx_import.c — an ONNX file (what torch.onnx.export writes for MLPs and
 * CNNs) as a nabla model: the YAML text of the `nodes:` form and an HDF5
 * weights file under the names that model gives its parameters.
 *
 * The file is parsed by protobuf-c, then read node by node in the order it
 * lists them (ONNX requires a topological order, so a node reading a value
 * no earlier node defines is an undefined value or a cycle, refused as
 * such). Each ONNX value is tracked with the nabla node computing it and its
 * shape (batch first), or as a constant (an initialiser or a Constant
 * node), so every attribute is checked against what nabla can say before a
 * line is written: an operator, or an attribute value, that nabla has no
 * exact form for is refused naming the node and the operator, never
 * approximated. The YAML is then built at batch 1 by nabla itself and the
 * imported values are copied into its parameters by name and shape, so the
 * weights file is what `nb_weights_load` expects of that text.
 *
 * This file reads and writes the files; the translation is in
 * onnx_import_graph.c and the files onnx_import_internal.h lists.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "nabla.h"
#include "onnx_import_internal.h"

/* The largest ONNX file read: 2 GiB. */
#define IMP_MAX_FILE ((long)1 << 31)

/* ---------------------------------------------------------------- files */

static Onnx__ModelProto *read_model(const char *path, nb_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        nb_error_set(err, NB_ERR_ARG, "ONNX: cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || size > IMP_MAX_FILE || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        nb_error_set(err, NB_ERR_ARG, "ONNX: '%s' is not a regular file of at most 2 GiB", path);
        return NULL;
    }
    uint8_t *buf = nb_malloc((size_t)size + 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        nb_free(buf);
        fclose(f);
        if (buf)
            nb_error_set(err, NB_ERR_ARG, "ONNX: cannot read '%s'", path);
        else
            nb_error_set(err, NB_ERR_NOMEM, "ONNX: out of memory for the %ld bytes of '%s'", size,
                         path);
        return NULL;
    }
    fclose(f);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, (size_t)size, buf);
    nb_free(buf);
    if (!m)
        nb_error_set(err, NB_ERR_ARG, "ONNX: '%s' is not an ONNX model (not a protocol buffer "
                     "of ONNX's ModelProto, or truncated)", path);
    return m;
}

/* Builds the YAML at batch 1 and copies the imported values into its
 * parameters by name, checking that each exists with that shape and that
 * none is left at its initial values; then saves the weights file. */
static nb_status write_weights(nb__oi *m, const char *yaml_path, const char *weights_path)
{
    nb_model_file *mf = nb_model_file_parse(m->yaml, m->len, yaml_path, m->err);
    if (!mf)
        return m->err->status;
    nb_graph *g = nb_graph_new();
    nb_model_io io = {0};
    nb_status st = g ? nb_model_file_build(g, 1, &io, mf) : NB_ERR_NOMEM;
    if (st != NB_OK)
        nb_error_set(m->err, st, "ONNX: the imported model does not build: %s",
                     g ? nb_graph_error(g) : "out of memory for the graph");
    for (int i = 0; st == NB_OK && i < m->n_params; i++) {
        nb__oi_param *p = &m->params[i];
        nb_node *n = nb_graph_find(g, p->name);
        float *d = n ? nb_param_data(n) : NULL;
        nb_shape s = n ? nb_node_shape(n) : (nb_shape){0};
        bool same = d && s.rank == p->shape.rank;
        for (int k = 0; same && k < s.rank; k++)
            same = s.dim[k] == p->shape.dim[k];
        if (!same)
            st = nb_error_set(m->err, NB_ERR_ARG, "ONNX: the imported model has no parameter "
                              "'%s' of the shape the file gives it", p->name);
        else
            memcpy(d, p->data, (size_t)nb__oi_numel(s, 0) * sizeof *d);
    }
    if (st == NB_OK && nb_graph_num_params(g) != m->n_params)
        st = nb_error_set(m->err, NB_ERR_ARG, "ONNX: the imported model has %d parameters, the "
                          "file gives %d", nb_graph_num_params(g), m->n_params);
    if (st == NB_OK)
        st = nb_weights_save(g, weights_path, m->yaml, m->err);
    nb_graph_free(g);
    nb_model_file_free(mf);
    return st;
}

/* The text into tmp[size] ("<path>.tmp"), renamed into place by the
 * caller once the weights are written too: a model that cannot be written
 * leaves no weights behind, and weights that cannot, no model. */
static nb_status write_text(const char *path, const char *text, size_t len, char *tmp,
                            size_t size, nb_error *err)
{
    if (snprintf(tmp, size, "%s.tmp", path) >= (int)size)
        return nb_error_set(err, NB_ERR_ARG, "ONNX: the path '%s' is too long", path);
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(text, 1, len, f) == len;
    int e = errno;
    if (f && fclose(f) != 0)
        ok = false, e = errno;
    if (!ok) {
        remove(tmp);
        return nb_error_set(err, NB_ERR_ARG, "ONNX: cannot write '%s': %s", path, strerror(e));
    }
    return NB_OK;
}

nb_status nb_onnx_import(const char *onnx_path, const char *yaml_path, const char *weights_path,
                         nb_error *err)
{
    if (!onnx_path || !yaml_path || !weights_path)
        return nb_error_set(err, NB_ERR_ARG, "nb_onnx_import: a path is NULL");
    nb_error local = {0};
    if (!err)
        err = &local;
    Onnx__ModelProto *model = read_model(onnx_path, err);
    if (!model)
        return err->status;
    nb__oi m;
    nb__oi_init(&m, err);
    nb_status st = nb__oi_translate(&m, model, onnx_path);
    char tmp[4200];
    if (st == NB_OK)
        st = write_text(yaml_path, m.yaml, m.len, tmp, sizeof tmp, err);
    if (st == NB_OK) {
        st = write_weights(&m, yaml_path, weights_path);
        if (st == NB_OK && rename(tmp, yaml_path) != 0) {
            st = nb_error_set(err, NB_ERR_ARG, "ONNX: cannot write '%s': %s", yaml_path,
                              strerror(errno));
            remove(weights_path);
        }
        if (st != NB_OK)
            remove(tmp);
    }
    nb__oi_free(&m);
    onnx__model_proto__free_unpacked(model, NULL);
    return st;
}
