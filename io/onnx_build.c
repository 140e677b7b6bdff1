/*
 * onnx_build.c — an ONNX model under construction: a pool that owns every
 * piece, helpers for nodes, attributes, tensors and typed values, and the
 * writer (protobuf-c's packer, a temporary file renamed into place, as every
 * file nabla writes).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "onnx_internal.h"

/* ---------------------------------------------------------------- the pool */

void *nb__ox_alloc(nb__ox *x, size_t size)
{
    if (x->n_blocks == x->cap_blocks) {
        size_t cap = x->cap_blocks ? 2 * x->cap_blocks : 256;
        void **b = nb_realloc(x->blocks, cap * sizeof *b);
        if (!b) {
            x->nomem = true;
            return NULL;
        }
        x->blocks = b, x->cap_blocks = cap;
    }
    void *p = nb_calloc(1, size ? size : 1);
    if (!p) {
        x->nomem = true;
        return NULL;
    }
    return x->blocks[x->n_blocks++] = p;
}

/* NULL for NULL (a name whose making ran out of memory): x->nomem says so. */
char *nb__ox_strdup(nb__ox *x, const char *s)
{
    if (!s) {
        x->nomem = true;
        return NULL;
    }
    size_t n = strlen(s) + 1;
    char *d = nb__ox_alloc(x, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

char *nb__ox_printf(nb__ox *x, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return nb__ox_strdup(x, buf);
}

char *nb__ox_fresh(nb__ox *x, const char *base)
{
    return nb__ox_printf(x, "%s:%d", base, ++x->fresh);
}

void nb__ox_init(nb__ox *x, const char *graph_name)
{
    *x = (nb__ox){0};
    onnx__model_proto__init(&x->model);
    onnx__graph_proto__init(&x->graph);
    onnx__operator_set_id_proto__init(&x->opset);
    x->opset.domain = "";
    x->opset.has_version = true, x->opset.version = NB_ONNX_OPSET;
    x->opsets[0] = &x->opset;
    x->model.has_ir_version = true, x->model.ir_version = NB_ONNX_IR_VERSION;
    x->model.n_opset_import = 1, x->model.opset_import = x->opsets;
    x->model.producer_name = "nabla";
    x->model.graph = &x->graph;
    x->graph.name = nb__ox_strdup(x, graph_name && *graph_name ? graph_name : "nabla");
}

void nb__ox_free(nb__ox *x)
{
    for (size_t i = 0; i < x->n_blocks; i++)
        nb_free(x->blocks[i]);
    nb_free(x->blocks);
    *x = (nb__ox){0};
}

/* Appends p to the pool-owned array *arr of *n items (capacity *cap). */
static bool push(nb__ox *x, void ***arr, size_t *n, size_t *cap, void *p)
{
    if (!p)
        return false;
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 16;
        void **a = nb__ox_alloc(x, c * sizeof *a);
        if (!a)
            return false;
        if (*n)
            memcpy(a, *arr, *n * sizeof *a);
        *arr = a, *cap = c;
    }
    (*arr)[(*n)++] = p;
    return true;
}

/* ---------------------------------------------------------------- nodes */

Onnx__NodeProto *nb__ox_node(nb__ox *x, const char *op, const char *out, int n_in,
                             const char *const *in)
{
    Onnx__NodeProto *n = nb__ox_alloc(x, sizeof *n);
    char **ins = nb__ox_alloc(x, (size_t)(n_in > 0 ? n_in : 1) * sizeof *ins);
    char **outs = nb__ox_alloc(x, sizeof *outs);
    if (!n || !ins || !outs)
        return NULL;
    onnx__node_proto__init(n);
    for (int i = 0; i < n_in; i++)
        if (!(ins[i] = nb__ox_strdup(x, in[i])))
            return NULL;
    outs[0] = nb__ox_strdup(x, out);
    n->op_type = nb__ox_strdup(x, op);
    n->name = nb__ox_printf(x, "%s/%s", out, op);
    n->n_input = (size_t)n_in, n->input = ins;
    n->n_output = 1, n->output = outs;
    if (!outs[0] || !n->op_type || !n->name ||
        !push(x, (void ***)&x->graph.node, &x->graph.n_node, &x->cap_node, n))
        return NULL;
    return n;
}

static Onnx__AttributeProto *attr(nb__ox *x, Onnx__NodeProto *n, const char *name,
                                  Onnx__AttributeProto__AttributeType type)
{
    if (!n)
        return NULL;
    Onnx__AttributeProto *a = nb__ox_alloc(x, sizeof *a);
    if (!a)
        return NULL;
    onnx__attribute_proto__init(a);
    a->name = nb__ox_strdup(x, name);
    a->has_type = true, a->type = type;
    size_t cap = n->n_attribute; /* attributes are few: grow one at a time */
    Onnx__AttributeProto **arr = nb__ox_alloc(x, (cap + 1) * sizeof *arr);
    if (!a->name || !arr)
        return NULL;
    if (cap)
        memcpy(arr, n->attribute, cap * sizeof *arr);
    arr[cap] = a;
    n->attribute = arr, n->n_attribute = cap + 1;
    return a;
}

void nb__ox_attr_int(nb__ox *x, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = attr(x, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a)
        a->has_i = true, a->i = v;
}

void nb__ox_attr_float(nb__ox *x, Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = attr(x, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (a)
        a->has_f = true, a->f = v;
}

void nb__ox_attr_ints(nb__ox *x, Onnx__NodeProto *n, const char *name, const int64_t *v, int count)
{
    Onnx__AttributeProto *a = attr(x, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *d = a ? nb__ox_alloc(x, (size_t)(count > 0 ? count : 1) * sizeof *d) : NULL;
    if (!d)
        return;
    memcpy(d, v, (size_t)count * sizeof *d);
    a->ints = d, a->n_ints = (size_t)count;
}

void nb__ox_attr_tensor(nb__ox *x, Onnx__NodeProto *n, const char *name, Onnx__TensorProto *t)
{
    Onnx__AttributeProto *a = attr(x, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    if (a)
        a->t = t;
}

/* ---------------------------------------------------------------- tensors */

Onnx__TensorProto *nb__ox_tensor(nb__ox *x, const char *name, int32_t type, const int64_t *dims,
                                 int rank, const void *values)
{
    Onnx__TensorProto *t = nb__ox_alloc(x, sizeof *t);
    int64_t *d = nb__ox_alloc(x, (size_t)(rank > 0 ? rank : 1) * sizeof *d);
    if (!t || !d)
        return NULL;
    onnx__tensor_proto__init(t);
    size_t count = 1;
    for (int i = 0; i < rank; i++)
        d[i] = dims[i], count *= (size_t)dims[i];
    size_t bytes = count * (type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ? 8 : 4);
    uint8_t *raw = nb__ox_alloc(x, bytes);
    if (!raw)
        return NULL;
    memcpy(raw, values, bytes); /* x86-64 and arm64 are little-endian, as ONNX's raw data */
    t->name = name ? nb__ox_strdup(x, name) : NULL;
    t->n_dims = (size_t)rank, t->dims = d;
    t->has_data_type = true, t->data_type = type;
    t->has_raw_data = true, t->raw_data = (ProtobufCBinaryData){.len = bytes, .data = raw};
    return t;
}

Onnx__TensorProto *nb__ox_init_floats(nb__ox *x, const char *name, const int64_t *dims, int rank,
                                      const float *values)
{
    Onnx__TensorProto *t = nb__ox_tensor(x, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, dims,
                                         rank, values);
    return push(x, (void ***)&x->graph.initializer, &x->graph.n_initializer, &x->cap_init, t)
               ? t
               : NULL;
}

Onnx__TensorProto *nb__ox_init_ints(nb__ox *x, const char *name, const int64_t *values, int count)
{
    int64_t dims[1] = {count};
    Onnx__TensorProto *t = nb__ox_tensor(x, name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, dims, 1,
                                         values);
    return push(x, (void ***)&x->graph.initializer, &x->graph.n_initializer, &x->cap_init, t)
               ? t
               : NULL;
}

void nb__ox_value(nb__ox *x, bool output, const char *name, int32_t type, const int64_t *dims,
                  int rank)
{
    Onnx__ValueInfoProto *v = nb__ox_alloc(x, sizeof *v);
    Onnx__TypeProto *tp = nb__ox_alloc(x, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = nb__ox_alloc(x, sizeof *tt);
    Onnx__TensorShapeProto *sh = nb__ox_alloc(x, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **ds =
        nb__ox_alloc(x, (size_t)(rank > 0 ? rank : 1) * sizeof *ds);
    if (!v || !tp || !tt || !sh || !ds)
        return;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    for (int i = 0; i < rank; i++) {
        if (!(ds[i] = nb__ox_alloc(x, sizeof *ds[i])))
            return;
        onnx__tensor_shape_proto__dimension__init(ds[i]);
        if (dims[i] < 0) {
            ds[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            ds[i]->dim_param = dims[i] == -1 ? "N" : nb__ox_printf(x, "%lldN", (long long)-dims[i]);
        } else {
            ds[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            ds[i]->dim_value = dims[i];
        }
    }
    sh->n_dim = (size_t)rank, sh->dim = ds;
    tt->has_elem_type = true, tt->elem_type = type, tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, tp->tensor_type = tt;
    v->name = nb__ox_strdup(x, name), v->type = tp;
    if (output)
        push(x, (void ***)&x->graph.output, &x->graph.n_output, &x->cap_output, v);
    else
        push(x, (void ***)&x->graph.input, &x->graph.n_input, &x->cap_input, v);
}

/* ---------------------------------------------------------------- the file */

nb_status nb__ox_write(nb__ox *x, const char *path, nb_error *err)
{
    if (x->nomem)
        return nb_error_set(err, NB_ERR_NOMEM, "%s: out of memory building the ONNX model", path);
    size_t size = onnx__model_proto__get_packed_size(&x->model);
    uint8_t *buf = nb_malloc(size ? size : 1);
    size_t n = strlen(path) + 32;
    char *tmp = nb_malloc(n);
    if (!buf || !tmp) {
        nb_free(buf), nb_free(tmp);
        return nb_error_set(err, NB_ERR_NOMEM, "%s: out of memory for %zu bytes of ONNX", path,
                            size);
    }
    onnx__model_proto__pack(&x->model, buf);
    snprintf(tmp, n, "%s.tmp-%ld", path, (long)getpid());
    nb_status st = NB_OK;
    FILE *f = fopen(tmp, "wb");
    if (!f)
        st = nb_error_set(err, NB_ERR_ARG, "%s: cannot write: %s", path, strerror(errno));
    else {
        bool ok = fwrite(buf, 1, size, f) == size;
        ok = fflush(f) == 0 && ok;
        ok = fsync(fileno(f)) == 0 && ok;
        int e = errno;
        ok = fclose(f) == 0 && ok;
        if (!ok)
            st = nb_error_set(err, NB_ERR_ARG, "%s: cannot write: %s", path, strerror(e));
        else if (rename(tmp, path) != 0)
            st = nb_error_set(err, NB_ERR_ARG, "%s: cannot write: %s", path, strerror(errno));
        if (st != NB_OK)
            remove(tmp);
    }
    nb_free(buf), nb_free(tmp);
    return st;
}
