/*
 * onnx_internal.h — building an ONNX model in memory (onnx_build.c) for the
 * exporter (onnx_export.c). Every message, string and array of a model under
 * construction comes from one pool and goes with it, so a refusal halfway
 * frees everything at once. Private to io/.
 */
#ifndef NB_ONNX_INTERNAL_H
#define NB_ONNX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nabla.h"
#include "onnx.pb-c.h"

/* The opset nabla writes: ReduceSum takes its axes as an input, Softmax
 * works over one axis (both from 13 on). IR version 7 goes with it. */
#define NB_ONNX_OPSET 13
#define NB_ONNX_IR_VERSION 7

typedef struct nb__ox {
    void **blocks;           /* every allocation, freed together */
    size_t n_blocks, cap_blocks;
    size_t cap_node, cap_init, cap_input, cap_output;
    bool nomem;              /* an allocation failed: the model is incomplete */
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opsets[1];
    int fresh;               /* numbers the exporter's own intermediate names */
} nb__ox;

void nb__ox_init(nb__ox *x, const char *graph_name);
void nb__ox_free(nb__ox *x);
/* Zeroed memory from the pool; NULL (and x->nomem) when out of memory. */
void *nb__ox_alloc(nb__ox *x, size_t size);
char *nb__ox_strdup(nb__ox *x, const char *s);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
char *nb__ox_printf(nb__ox *x, const char *fmt, ...);
/* A name no value of the model has: "<base>:<n>". */
char *nb__ox_fresh(nb__ox *x, const char *base);

/* Appends a node op(inputs…) → out to the graph; NULL when out of memory.
 * An empty input name ("") is an optional input left out. */
Onnx__NodeProto *nb__ox_node(nb__ox *x, const char *op, const char *out, int n_in,
                             const char *const *in);
void nb__ox_attr_int(nb__ox *x, Onnx__NodeProto *n, const char *name, int64_t v);
void nb__ox_attr_float(nb__ox *x, Onnx__NodeProto *n, const char *name, float v);
void nb__ox_attr_ints(nb__ox *x, Onnx__NodeProto *n, const char *name, const int64_t *v, int count);
void nb__ox_attr_tensor(nb__ox *x, Onnx__NodeProto *n, const char *name, Onnx__TensorProto *t);

/* A tensor of floats or of int64 (dims[rank]; values copied, little-endian
 * raw data); the _init forms add it to the graph's initialisers. */
Onnx__TensorProto *nb__ox_tensor(nb__ox *x, const char *name, int32_t type, const int64_t *dims,
                                 int rank, const void *values);
Onnx__TensorProto *nb__ox_init_floats(nb__ox *x, const char *name, const int64_t *dims, int rank,
                                      const float *values);
Onnx__TensorProto *nb__ox_init_ints(nb__ox *x, const char *name, const int64_t *values, int count);

/* A graph input or output: float32 (or int64) of the given dims, dims[k] < 0
 * written as the symbolic batch: -1 "N", -k "kN". */
void nb__ox_value(nb__ox *x, bool output, const char *name, int32_t type, const int64_t *dims,
                  int rank);

/* The model serialised and written to path through a temporary file beside
 * it, renamed into place. */
nb_status nb__ox_write(nb__ox *x, const char *path, nb_error *err);

#endif
