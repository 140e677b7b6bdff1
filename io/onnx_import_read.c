/*
 * onnx_import_read.c — what an ONNX node says, read and checked: its
 * tensors (dims bounded, values finite, as float32 or int64), its
 * attributes, and its inputs as computed values or as constants.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "nabla.h"
#include "onnx_import_internal.h"

/* ---------------------------------------------------------------- tensors */

/* The dims of a tensor as a shape, checked: rank ≤ NB_MAX_RANK, every
 * dim ≥ 0, at most NB__OI_MAX_NUMEL elements. */
nb_status nb__oi_tensor_shape(nb__oi *m, const Onnx__NodeProto *n, const Onnx__TensorProto *t,
                              nb_shape *s)
{
    if (t->n_dims > NB_MAX_RANK)
        return nb__oi_refuse(m, n, "the tensor '%s' has %zu dimensions (nabla takes at most %d)",
                             nb__oi_str(t->name), t->n_dims, NB_MAX_RANK);
    s->rank = (int)t->n_dims;
    int64_t numel = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0 || t->dims[i] > NB__OI_MAX_NUMEL ||
            numel * t->dims[i] > NB__OI_MAX_NUMEL)
            return nb__oi_refuse(m, n,
                                 "the tensor '%s' has dimension %zu of size %lld: negative, or "
                                 "more than 2^31 elements in all",
                                 nb__oi_str(t->name), i, (long long)t->dims[i]);
        s->dim[i] = t->dims[i];
        numel *= t->dims[i];
    }
    return NB_OK;
}

/* The values of a float tensor (raw_data or float_data), malloc'd and
 * checked finite; NULL with err set. */
float *nb__oi_tensor_floats(nb__oi *m, const Onnx__NodeProto *n, const Onnx__TensorProto *t,
                            nb_shape *s)
{
    if (nb__oi_tensor_shape(m, n, t, s) != NB_OK)
        return NULL;
    if (t->data_type != NB__OI_FLOAT) {
        nb__oi_refuse(m, n, "the tensor '%s' is of ONNX data type %d, not float32 (1)",
                      nb__oi_str(t->name), t->data_type);
        return NULL;
    }
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        nb__oi_refuse(m, n,
                      "the tensor '%s' keeps its values in an external file, which nabla does "
                      "not read",
                      nb__oi_str(t->name));
        return NULL;
    }
    int64_t numel = nb__oi_numel(*s, 0);
    if (t->has_raw_data && t->raw_data.len != (size_t)numel * 4) {
        nb__oi_refuse(m, n,
                      "the tensor '%s' holds %zu bytes of raw data where its dims say %lld "
                      "float32 (%lld bytes)",
                      nb__oi_str(t->name), t->raw_data.len, (long long)numel, (long long)numel * 4);
        return NULL;
    }
    if (!t->has_raw_data && t->n_float_data != (size_t)numel) {
        nb__oi_refuse(m, n, "the tensor '%s' holds %zu values where its dims say %lld",
                      nb__oi_str(t->name), t->n_float_data, (long long)numel);
        return NULL;
    }
    float *v = nb_malloc((size_t)(numel ? numel : 1) * sizeof *v);
    if (!v) {
        nb_error_set(m->err, NB_ERR_NOMEM, "ONNX: out of memory reading the tensor '%s'",
                     nb__oi_str(t->name));
        return NULL;
    }
    for (int64_t i = 0; i < numel; i++) {
        if (t->has_raw_data) {
            const uint8_t *b = t->raw_data.data + 4 * i;   /* little-endian, as ONNX stores it */
            uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                         (uint32_t)b[3] << 24;
            memcpy(&v[i], &u, 4);
        } else {
            v[i] = t->float_data[i];
        }
        if (!isfinite(v[i])) {
            nb__oi_refuse(m, n, "the tensor '%s' holds %g at element %lld", nb__oi_str(t->name),
                          v[i], (long long)i);
            nb_free(v);
            return NULL;
        }
    }
    return v;
}

/* The values of a 1-D int64 tensor (a Reshape's shape) into out[max]. */
int nb__oi_tensor_ints(nb__oi *m, const Onnx__NodeProto *n, const Onnx__TensorProto *t,
                       int64_t *out, int max)
{
    nb_shape s;
    if (nb__oi_tensor_shape(m, n, t, &s) != NB_OK)
        return -1;
    int64_t numel = nb__oi_numel(s, 0);
    if (t->data_type != NB__OI_INT64 || s.rank != 1 || numel > max) {
        nb__oi_refuse(m, n, "the tensor '%s' is not a list of at most %d int64",
                      nb__oi_str(t->name), max);
        return -1;
    }
    if ((t->has_raw_data && t->raw_data.len != (size_t)numel * 8) ||
        (!t->has_raw_data && t->n_int64_data != (size_t)numel)) {
        nb__oi_refuse(m, n, "the tensor '%s' holds fewer values than its dims say",
                      nb__oi_str(t->name));
        return -1;
    }
    for (int64_t i = 0; i < numel; i++) {
        if (t->has_raw_data) {
            uint64_t u = 0;
            for (int b = 7; b >= 0; b--)
                u = u << 8 | t->raw_data.data[8 * i + b];
            memcpy(&out[i], &u, 8);
        } else {
            out[i] = t->int64_data[i];
        }
    }
    return (int)numel;
}

/* ---------------------------------------------------------------- attributes */

const Onnx__AttributeProto *nb__oi_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i] && strcmp(nb__oi_str(n->attribute[i]->name), name) == 0)
            return n->attribute[i];
    return NULL;
}

int64_t nb__oi_attr_int(const Onnx__NodeProto *n, const char *name, int64_t def)
{
    const Onnx__AttributeProto *a = nb__oi_attr(n, name);
    return a ? a->i : def;
}

float nb__oi_attr_float(const Onnx__NodeProto *n, const char *name, float def)
{
    const Onnx__AttributeProto *a = nb__oi_attr(n, name);
    return a ? a->f : def;
}

/* An ints attribute into out[count] (default def for every entry when
 * absent); refused when present with another count. */
nb_status nb__oi_attr_ints(nb__oi *m, const Onnx__NodeProto *n, const char *name, int64_t *out,
                           size_t count, int64_t def)
{
    const Onnx__AttributeProto *a = nb__oi_attr(n, name);
    for (size_t i = 0; i < count; i++)
        out[i] = def;
    if (!a)
        return NB_OK;
    if (a->n_ints != count)
        return nb__oi_refuse(m, n, "'%s' has %zu values where a 2-D image needs %zu", name,
                             a->n_ints, count);
    memcpy(out, a->ints, count * sizeof *out);
    return NB_OK;
}

/* Refuses auto_pad other than NOTSET (or VALID, which is zero padding:
 * *valid set). */
nb_status nb__oi_no_auto_pad(nb__oi *m, const Onnx__NodeProto *n, bool *valid)
{
    const Onnx__AttributeProto *a = nb__oi_attr(n, "auto_pad");
    *valid = false;
    if (!a || !a->has_s || a->s.len == 0 || (a->s.len == 6 && !memcmp(a->s.data, "NOTSET", 6)))
        return NB_OK;
    if (a->s.len == 5 && !memcmp(a->s.data, "VALID", 5)) {
        *valid = true;
        return NB_OK;
    }
    return nb__oi_refuse(m, n, "auto_pad '%.*s' cannot be expressed (nabla pads explicitly)",
                         (int)(a->s.len > 20 ? 20 : a->s.len), (const char *)a->s.data);
}

/* ---------------------------------------------------------------- inputs of a node */

/* Input k of node n as a value defined before it; NULL with a refusal when
 * it is not, or without one when it is absent and optional. */
static nb__oi_val *input(nb__oi *m, const Onnx__NodeProto *n, size_t k, bool optional)
{
    if (k >= n->n_input || !*nb__oi_str(n->input[k])) {
        if (!optional)
            nb__oi_refuse(m, n, "input %zu is missing", k);
        return NULL;
    }
    nb__oi_val *v = nb__oi_find(m, n->input[k]);
    if (!v)
        nb__oi_refuse(m, n, "reads '%s', which no earlier node, graph input or initialiser defines "
                      "(an undefined value, or a cycle)", n->input[k]);
    return v;
}

/* Input k of node n as a value nabla computes (not a constant). */
nb__oi_val *nb__oi_value_in(nb__oi *m, const Onnx__NodeProto *n, size_t k)
{
    nb__oi_val *v = input(m, n, k, false);
    if (v && !v->nb[0]) {
        nb__oi_refuse(m, n, "input %zu '%s' is a constant, which nabla does not take there", k,
                      n->input[k]);
        return NULL;
    }
    return v;
}

/* Input k of node n as a constant (an initialiser or a Constant's value);
 * NULL with err set, or NULL without when optional and absent. */
const Onnx__TensorProto *nb__oi_const_in(nb__oi *m, const Onnx__NodeProto *n, size_t k,
                                         bool optional)
{
    nb__oi_val *v = input(m, n, k, optional);
    if (v && v->nb[0]) {
        nb__oi_refuse(m, n, "input %zu '%s' must be a constant (an initialiser) for nabla to "
                      "take it as a parameter", k, n->input[k]);
        return NULL;
    }
    return v ? v->t : NULL;
}
