/*
 * onnx_import_internal.h — what the pieces of the ONNX importer share: the
 * importer's state (nb__oi) and the calls they make of each other. Private
 * to io/; the one public call is nb_onnx_import (include/nabla.h).
 *
 *   onnx_import.c         the files: reads the ONNX file, writes the YAML
 *                         and the weights (nb_onnx_import)
 *   onnx_import_graph.c   the graph: its initialisers and inputs, each node
 *                         checked and handed to its operator, the output
 *   onnx_import_values.c  the importer's tables: values by ONNX and nabla
 *                         name, the readers of each name, parameters, the
 *                         YAML text, refusals
 *   onnx_import_read.c    what a node says: its tensors, attributes, inputs
 *   onnx_import_ops.c     one operator, one nabla node: Gemm, MatMul (with
 *                         the Add of its bias), arithmetic, activations,
 *                         Reshape, BatchNormalization, Concat, Pad, …
 *   onnx_import_conv.c    images: Conv, ConvTranspose and the poolings
 *   onnx_import_chain.c   chains of nodes that become one nabla node: GELU,
 *                         PyTorch's GroupNorm; InstanceNormalization
 *
 * Every operator reader (nb__oi_gemm …) takes the node, checks its inputs
 * and attributes, refuses with a message naming the node what nabla cannot
 * say exactly (nb__oi_refuse), else writes its YAML line (nb__oi_emit), its
 * parameters (nb__oi_add_param) and defines the node's output
 * (nb__oi_define). A value's pointer into vals is valid until the next
 * value is added: callers that add keep an index.
 */
#ifndef NB_IO_ONNX_IMPORT_INTERNAL_H
#define NB_IO_ONNX_IMPORT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nabla.h"
#include "onnx.pb-c.h"

/* Bounds that keep a hostile file from asking for absurd memory: elements
 * of one tensor; the length of a nabla name made from an ONNX one. */
#define NB__OI_MAX_NUMEL ((int64_t)1 << 31)
#define NB__OI_NAME 48

enum {
    NB__OI_FLOAT = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
    NB__OI_INT64 = ONNX__TENSOR_PROTO__DATA_TYPE__INT64
};

/* One ONNX value: the nabla node (or input) computing it, or a constant. */
typedef struct nb__oi_val {
    const char *onnx;                /* its ONNX name (the proto's string) */
    char nb[NB__OI_NAME + 8];        /* the nabla node; "" for a constant */
    nb_shape shape;                  /* batch first; a constant's own dims */
    const Onnx__TensorProto *t;      /* a constant's tensor */
    const char *op;                  /* the nabla op that made it ("" for an input) */
    int src;                         /* that op's first input (an index in vals), or -1 */
    char as_node[NB__OI_NAME + 8];   /* a constant: the node it became in arithmetic, or "" */
} nb__oi_val;

/* A name and the nodes reading it: how many, and the first. */
typedef struct nb__oi_reader {
    const char *name;
    int count, node;
    bool output;                     /* a graph output too */
} nb__oi_reader;

struct nb__oi;

/* Names to indices in constant time (open addressing, linear probing), so
 * that a file of 20000 values read by a million node inputs takes a second,
 * not hours. A slot holds an index + 1 (0: empty); key(m, i) is the name
 * of index i, which the table does not copy. */
typedef struct nb__oi_map {
    int *slot;
    size_t cap, count;               /* cap a power of two, count ≤ cap / 2 */
    const char *(*key)(const struct nb__oi *m, int i);
} nb__oi_map;

/* A parameter to be written: its full nabla name, shape and values. */
typedef struct nb__oi_param {
    char name[NB__OI_NAME + 24];
    nb_shape shape;
    float *data;
} nb__oi_param;

/* The importer: the graph being read and everything made of it so far. */
typedef struct nb__oi {
    const Onnx__GraphProto *g;
    int64_t opset;
    nb__oi_val *vals;
    int n_vals, cap_vals;
    nb__oi_param *params;
    int n_params, cap_params;
    char *yaml;
    size_t len, cap;
    bool *done;                      /* nodes already translated (an Add fused into MatMul) */
    int64_t batch;                   /* the batch the file fixes, or -1 (symbolic) */
    nb__oi_map by_onnx, by_nb;       /* vals by ONNX name, and by nabla name */
    nb__oi_reader *readers;          /* every name a node reads */
    int n_readers;
    nb__oi_map by_reader;
    int suffix;                      /* the last suffix nb__oi_fresh_name gave */
    nb_error *err;
    bool nomem;
} nb__oi;

/* A proto's string, "" for NULL. */
static inline const char *nb__oi_str(const char *s) { return s ? s : ""; }

/* The elements of s from axis `from` on. */
static inline int64_t nb__oi_numel(nb_shape s, int from)
{
    int64_t n = 1;
    for (int i = from; i < s.rank; i++)
        n *= s.dim[i];
    return n;
}

/* ---------------------------------------------------------------- onnx_import_values.c */

void nb__oi_init(nb__oi *m, nb_error *err);
/* Frees what the importer holds (not the proto it reads). */
void nb__oi_free(nb__oi *m);
nb_status nb__oi_oom(nb__oi *m, const char *what);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void nb__oi_emit(nb__oi *m, const char *fmt, ...);
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
nb_status nb__oi_refuse(nb__oi *m, const Onnx__NodeProto *n, const char *fmt, ...);
const char *nb__oi_ints_str(const int64_t *v, size_t n, char *buf, size_t size);
bool nb__oi_map_put(nb__oi *m, nb__oi_map *h, int i);
nb__oi_val *nb__oi_find(nb__oi *m, const char *onnx);
void nb__oi_fresh_name(nb__oi *m, const char *onnx, const char *fallback, char *out);
nb__oi_val *nb__oi_add_val(nb__oi *m, const char *onnx);
bool nb__oi_reserve(nb__oi *m, const char *nb);
nb__oi_param *nb__oi_add_param(nb__oi *m, const char *node, const char *name, nb_shape s,
                               float *data);
nb__oi_val *nb__oi_define(nb__oi *m, const Onnx__NodeProto *n, const char *name, nb_shape s,
                          const char *op, const nb__oi_val *src);
nb_status nb__oi_count_readers(nb__oi *m);
int nb__oi_sole_reader(nb__oi *m, size_t i, const char *value);

/* ---------------------------------------------------------------- onnx_import_read.c */

nb_status nb__oi_tensor_shape(nb__oi *m, const Onnx__NodeProto *n, const Onnx__TensorProto *t,
                              nb_shape *s);
float *nb__oi_tensor_floats(nb__oi *m, const Onnx__NodeProto *n, const Onnx__TensorProto *t,
                            nb_shape *s);
int nb__oi_tensor_ints(nb__oi *m, const Onnx__NodeProto *n, const Onnx__TensorProto *t,
                       int64_t *out, int max);
const Onnx__AttributeProto *nb__oi_attr(const Onnx__NodeProto *n, const char *name);
int64_t nb__oi_attr_int(const Onnx__NodeProto *n, const char *name, int64_t def);
float nb__oi_attr_float(const Onnx__NodeProto *n, const char *name, float def);
nb_status nb__oi_attr_ints(nb__oi *m, const Onnx__NodeProto *n, const char *name, int64_t *out,
                           size_t count, int64_t def);
nb_status nb__oi_no_auto_pad(nb__oi *m, const Onnx__NodeProto *n, bool *valid);
nb__oi_val *nb__oi_value_in(nb__oi *m, const Onnx__NodeProto *n, size_t k);
const Onnx__TensorProto *nb__oi_const_in(nb__oi *m, const Onnx__NodeProto *n, size_t k,
                                         bool optional);

/* ---------------------------------------------------------------- the operators
 * Each reads node n (node i of the graph where it looks at later nodes) and
 * returns NB_OK, or a status with the message in m->err. */

/* onnx_import_ops.c */
nb_status nb__oi_gemm(nb__oi *m, const Onnx__NodeProto *n);
nb_status nb__oi_matmul(nb__oi *m, const Onnx__NodeProto *n, size_t i);
nb_status nb__oi_alpha(nb__oi *m, const Onnx__NodeProto *n, const char *op, float def);
nb_status nb__oi_arith(nb__oi *m, const Onnx__NodeProto *n, const char *op);
nb_status nb__oi_unary(nb__oi *m, const Onnx__NodeProto *n, const char *op);
nb_status nb__oi_reshape(nb__oi *m, const Onnx__NodeProto *n, bool flatten);
nb_status nb__oi_batchnorm(nb__oi *m, const Onnx__NodeProto *n);
nb_status nb__oi_identity(nb__oi *m, const Onnx__NodeProto *n, bool dropout);
nb_status nb__oi_join(nb__oi *m, const Onnx__NodeProto *n);
nb_status nb__oi_pad(nb__oi *m, const Onnx__NodeProto *n);
nb_status nb__oi_constant(nb__oi *m, const Onnx__NodeProto *n);

/* onnx_import_conv.c */
nb_status nb__oi_conv(nb__oi *m, const Onnx__NodeProto *n);
nb_status nb__oi_conv_transpose(nb__oi *m, const Onnx__NodeProto *n);
nb_status nb__oi_pool(nb__oi *m, const Onnx__NodeProto *n, bool max);
nb_status nb__oi_global_pool(nb__oi *m, const Onnx__NodeProto *n, bool max);

/* onnx_import_chain.c: nb__oi_gelu returns false (nothing done) when the
 * Div at node i does not start GELU's chain, else true with *st. */
bool nb__oi_gelu(nb__oi *m, const Onnx__NodeProto *n, size_t i, nb_status *st);
int nb__oi_chain_next(nb__oi *m, size_t i, const char *op);
nb_status nb__oi_gn_view(nb__oi *m, const Onnx__NodeProto *n);
nb_status nb__oi_gn_instance(nb__oi *m, const Onnx__NodeProto *n, size_t i);

/* ---------------------------------------------------------------- onnx_import_graph.c */

/* The model's graph as YAML text in m->yaml and parameters in m->params;
 * path names the file in messages. */
nb_status nb__oi_translate(nb__oi *m, const Onnx__ModelProto *model, const char *path);

#endif
