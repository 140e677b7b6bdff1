/*
 * nabla.h — graph-based reverse-mode automatic differentiation in C11.
 *
 * A user builds a computation graph of tensors and primitive ops, asks nabla
 * for the gradient of a scalar loss (which appends the backward pass to the
 * same graph), compiles a runtime for the nodes to compute, and runs it.
 *
 *     nb_graph *g = nb_graph_new();
 *     nb_node *x = nb_input(g, "x", NB_SHAPE(4, 2));           // batch 4
 *     nb_node *w = nb_param(g, "w", NB_SHAPE(2, 1), w0);
 *     nb_node *y = nb_sigmoid(g, nb_matmul(g, x, w, false, false));
 *     nb_node *loss = nb_sum(g, nb_mul(g, y, y), NULL, 0, false);
 *     nb_node *dw;
 *     if (nb_grad(g, loss, &w, 1, &dw) != NB_OK)
 *         fprintf(stderr, "%s\n", nb_graph_error(g));
 *     nb_node *out[] = {loss, dw};
 *     nb_runtime *rt = nb_runtime_new(g, out, 2);
 *     nb_runtime_set_input(rt, x, xdata);
 *     nb_runtime_run(rt);
 *     const float *grad = nb_runtime_value(rt, dw);            // [2,1]
 *     nb_runtime_free(rt);
 *     nb_graph_free(g);
 *
 * Conventions: float32, row-major, contiguous; the batch is the leading
 * dimension; images are NCHW.
 *
 * Errors: nothing in nabla exits or aborts on user input, and every failure
 * comes with a sentence saying what and where. A call fails by returning a
 * status other than NB_OK, a NULL pointer, or -1 where it returns a count,
 * and its message is in one of two places:
 *   - a call that takes an `nb_error *err` (always its last argument) fills
 *     err (NULL: the caller does not want the message). Every call that is
 *     not on a graph, runtime or trainer takes one, and so does every call
 *     that reads or writes a file;
 *   - any other call reports through the object it is called on: a graph
 *     (builders, calls on its nodes, nb_grad: nb_graph_error), a runtime
 *     (nb_runtime_error) or a trainer (nb_trainer_error). A builder given a NULL input returns
 *     NULL and keeps the first message, so a whole expression is checked
 *     once.
 * The exceptions, nb_graph_new (no object to hold a message yet) and
 * nb_malloc and its kin, return NULL only when memory ran out.
 *
 * Options are plain structs: a zero field means the default where its
 * comment says so ("0 → 32"). Where 0 is a value a user may want (Adam's
 * beta1), a function gives the defaults (nb_optimizer_defaults) and every
 * field is taken as given.
 *
 * The header reads in four tiers, each opened by a banner:
 *   1. core graph and autodiff: shapes, graphs, ops, nb_grad, runtimes;
 *   2. layers and training: initialisers, layers, losses, optimisers, data,
 *      the trainer and its predictions;
 *   3. files: YAML model files, HDF5 weights, checkpoints and data, DOT
 *      drawings, PNG pictures (HDF5, Graphviz and libpng are optional when
 *      nabla is built: nb_built_with);
 *   4. the lecture's methods: conjugate gradients, growing and pruning
 *      networks, the lecture's initialiser.
 */
#ifndef NABLA_H
#define NABLA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(NB_STATIC_BUILD)
#define NB_API __attribute__((visibility("default")))
#else
#define NB_API
#endif

/* ####################################################################
 * 1. CORE GRAPH AND AUTODIFF (graph/, ops/, autodiff/)
 *
 * What everything else is built on: shapes; graphs whose nodes are inputs,
 * parameters, constants and primitive ops (each one table entry: shape
 * rule, kernel, vector-Jacobian product); nb_grad, which appends the
 * backward pass to the same graph; runtimes that plan a graph once and run
 * it without allocating; the generator every random choice draws from.
 * Needs OpenMP and OpenBLAS (loaded at run time) only.
 * #################################################################### */

/* ---------------------------------------------------------------- status */

typedef enum nb_status {
    NB_OK = 0,
    NB_ERR_ARG,       /* a bad argument: NULL, out of range, wrong kind of node */
    NB_ERR_SHAPE,     /* shapes that do not fit the op */
    NB_ERR_NOMEM,     /* an allocation failed; nothing was leaked */
    NB_ERR_GRAD,      /* differentiation refused, or a gradient check failed */
    NB_ERR_STATE,     /* a call out of order: an input never set, etc. */
    NB_ERR_UNAVAILABLE /* needs a library nabla was built without (HDF5, Graphviz, libpng) */
} nb_status;

/* The message of a call that has no object of its own to hold one (see
 * "Errors" at the top). */
typedef struct nb_error {
    nb_status status;
    char message[512];
} nb_error;

/* Fills err (which may be NULL: then nothing is written) with a status and
 * a printf-style message, truncated to fit; returns status, so a refusal
 * reads `return nb_error_set(err, NB_ERR_ARG, "…", …);`. */
NB_API nb_status nb_error_set(nb_error *err, nb_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Whether this nabla was built with an optional library: "hdf5" (weights,
 * checkpoints, HDF5 data), "graphviz" (nb_dot_write), "png"
 * (nb_png_write), "mpi" (nb_dist_new: training across processes) or
 * "onnx" (nb_onnx_export, nb_onnx_import, through protobuf-c).
 * Without one, the calls that need it return
 * NB_ERR_UNAVAILABLE and say "nabla was built without HDF5: …". */
NB_API bool nb_built_with(const char *feature);

/* ---------------------------------------------------------------- shapes */

#define NB_MAX_RANK 8
/* The most elements one node may hold, 2^40 (4 TiB of float32): a larger
 * shape is refused when the node is made, so that no count of elements or
 * bytes can overflow. */
#define NB_MAX_NUMEL ((int64_t)1 << 40)

/* A tensor shape: a small value type, passed by value. rank 0 is a scalar. */
typedef struct nb_shape {
    int rank;
    int64_t dim[NB_MAX_RANK];
} nb_shape;

/* NB_SHAPE(64, 1, 28, 28) → a rank-4 shape. At least one dimension. */
#define NB_SHAPE(...)                                                     \
    nb_shape_make((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), \
                  (int64_t[]){__VA_ARGS__})
#define NB_SCALAR ((nb_shape){.rank = 0})

/* A rank outside 0..NB_MAX_RANK is kept (without dimensions): a node made
 * with that shape is refused naming the rank; such a shape holds 0
 * elements and equals no other. */
NB_API nb_shape nb_shape_make(int rank, const int64_t *dims);
NB_API int64_t nb_shape_numel(nb_shape s);
NB_API bool nb_shape_equal(nb_shape a, nb_shape b);
/* Writes "[2,3,4]" into buf (always NUL-terminated); returns buf. */
NB_API char *nb_shape_format(nb_shape s, char *buf, size_t size);

/* ---------------------------------------------------------------- graphs */

typedef struct nb_graph nb_graph;
typedef struct nb_node nb_node;

/*
 * Every allocation nabla makes goes through one function, Lua style:
 * (ud, ptr, old_size, new_size). new_size 0 frees ptr and returns NULL;
 * otherwise it behaves as realloc (ptr NULL: a new block) and may return
 * NULL on failure, leaving ptr as it was. old_size is ptr's size.
 */
typedef void *(*nb_alloc_fn)(void *ud, void *ptr, size_t old_size, size_t new_size);

/*
 * The process allocator (SQLite's SQLITE_CONFIG_MALLOC): what nb_graph_new's
 * graphs and their runtimes, trainers, optimisers, datasets, model files,
 * file buffers and the strings nabla returns are allocated with. NULL
 * restores realloc/free. Set it before any other nabla call, or when no
 * object nabla allocated is alive; setting it is not guarded against other
 * threads, and the hook may be called from several threads at once
 * (parallel loops allocate per-thread scratch), so it must be thread-safe.
 * An allocation the hook refuses makes the call fail with NB_ERR_NOMEM and
 * "out of memory … <what>", having freed what it had allocated and left no
 * half-written file. Memory allocated inside libyaml, HDF5, zlib, libpng,
 * Graphviz, OpenBLAS and the C library (FILE buffers) does not pass through
 * the hook.
 */
NB_API void nb_set_allocator(nb_alloc_fn alloc, void *ud);
/* The process allocator in force, and its ud in *ud (ud may be NULL). */
NB_API nb_alloc_fn nb_get_allocator(void **ud);
/* Blocks from the process allocator, as malloc/calloc/realloc/strdup/free.
 * Strings and arrays nabla returns to its caller are freed with nb_free.
 * nb_realloc(p, 0) keeps an empty block: NULL always means failure, and p
 * is then untouched. */
NB_API void *nb_malloc(size_t size);
NB_API void *nb_calloc(size_t n, size_t size);
NB_API void *nb_realloc(void *p, size_t size);
NB_API char *nb_strdup(const char *s);
NB_API void nb_free(void *p);

/* A new empty graph using the process allocator, or NULL if memory ran out. */
NB_API nb_graph *nb_graph_new(void);
/* A new empty graph whose nodes, values and runtimes use alloc. */
NB_API nb_graph *nb_graph_new_with_allocator(nb_alloc_fn alloc, void *ud);
/* Frees the graph, its nodes, names, parameter and constant values. */
NB_API void nb_graph_free(nb_graph *g);

/* The first error since the last clear, in user terms; "" when none. */
NB_API const char *nb_graph_error(const nb_graph *g);
NB_API nb_status nb_graph_status(const nb_graph *g);
NB_API void nb_graph_clear_error(nb_graph *g);
/* Records an error (printf-style) unless one is already recorded; returns
 * status. Custom op shape rules and vjp rules report through this. */
NB_API nb_status nb_graph_fail(nb_graph *g, nb_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

NB_API int nb_graph_node_count(const nb_graph *g);
/* Nodes in creation order, which is a topological order. */
NB_API nb_node *nb_graph_node(const nb_graph *g, int index);
/* The node with this full name ("scope/name"), or NULL. */
NB_API nb_node *nb_graph_find(const nb_graph *g, const char *name);

/* Scopes group nodes by the layer that made them: names and error messages
 * read "dense1/w". Scopes nest; pop returns to the enclosing one. */
NB_API nb_status nb_scope_push(nb_graph *g, const char *name);
NB_API void nb_scope_pop(nb_graph *g);
/* The current full scope ("block1/conv2d1"), or NULL at the top level.
 * Valid until nb_graph_free. */
NB_API const char *nb_scope_current(const nb_graph *g);

/* ---------------------------------------------------------------- leaves */

/* A value fed at run time (nb_runtime_set_input); shape includes the batch. */
NB_API nb_node *nb_input(nb_graph *g, const char *name, nb_shape shape);
/* A trainable tensor; init (numel floats) is copied, NULL means zeros. */
NB_API nb_node *nb_param(nb_graph *g, const char *name, nb_shape shape, const float *init);
/* A fixed tensor; values (numel floats) are copied. */
NB_API nb_node *nb_constant(nb_graph *g, nb_shape shape, const float *values);
/* A constant of the given shape with every element v. */
NB_API nb_node *nb_full(nb_graph *g, nb_shape shape, float v);
/* A rank-0 constant: nb_scalar(g, 0.5f). */
NB_API nb_node *nb_scalar(nb_graph *g, float v);

/* ---------------------------------------------------------------- nodes */

typedef enum nb_node_kind { NB_NODE_INPUT, NB_NODE_PARAM, NB_NODE_CONST, NB_NODE_OP } nb_node_kind;

/* Names a node (within the current scope) and returns it; NULL passes through. */
NB_API nb_node *nb_name(nb_node *n, const char *name);
/* The node's full name, or NULL if it was never named. Valid until nb_graph_free. */
NB_API const char *nb_node_name(const nb_node *n);
/* "scope/name" if named, else "op#id": what messages and drawings show. */
NB_API const char *nb_node_label(const nb_node *n, char *buf, size_t size);
NB_API const char *nb_node_scope(const nb_node *n);
NB_API const char *nb_node_op(const nb_node *n);
NB_API nb_node_kind nb_node_kind_of(const nb_node *n);
NB_API nb_shape nb_node_shape(const nb_node *n);
NB_API int nb_node_id(const nb_node *n);
NB_API int nb_node_num_inputs(const nb_node *n);
NB_API nb_node *nb_node_input(const nb_node *n, int i);
/* True for nodes that nb_grad appended (the backward pass). */
NB_API bool nb_node_is_backward(const nb_node *n);
/* A parameter's values (numel floats, writable), a constant's (read-only);
 * NULL for other nodes. Valid until the next nb_param call on the graph,
 * or nb_param_place on the parameter. */
NB_API float *nb_param_data(nb_node *param);
/*
 * Makes param's values live in buf (numel floats, kept alive by the caller
 * until the parameter is given its own memory back or the graph is freed)
 * instead of the graph's own memory: nb_param_data gives buf, and every
 * runtime of the graph reads its values there (and nb_runtime_value gives
 * buf) from its next run on. buf NULL gives the parameter the graph's
 * memory back. Nothing is copied either way: fill buf first (with
 * nb_param_data's values, say), and after placing back copy what buf holds
 * into the graph's memory, which holds what it held when placed. For one
 * copy of a parameter that several processes read through shared memory:
 * the data-parallel trainer's ranks on one host (nb_dist) keep the large
 * first-layer weights so, each updating its piece in place. NB_ERR_ARG
 * for NULL, and with the graph's error set for a node that is not a
 * parameter.
 */
NB_API nb_status nb_param_place(nb_node *param, float *buf);
NB_API const float *nb_constant_data(const nb_node *c);

/* ---------------------------------------------------------------- unary ops
 * Elementwise; the output has the input's shape. */

NB_API nb_node *nb_neg(nb_graph *g, nb_node *x);     /* -x */
NB_API nb_node *nb_exp(nb_graph *g, nb_node *x);     /* e^x */
NB_API nb_node *nb_log(nb_graph *g, nb_node *x);     /* ln x */
NB_API nb_node *nb_sqrt(nb_graph *g, nb_node *x);    /* √x */
NB_API nb_node *nb_abs(nb_graph *g, nb_node *x);     /* |x|; d/dx = sign x */
NB_API nb_node *nb_sign(nb_graph *g, nb_node *x);    /* -1, 0, 1; d/dx = 0 */
NB_API nb_node *nb_tanh(nb_graph *g, nb_node *x);    /* tanh x */
NB_API nb_node *nb_sigmoid(nb_graph *g, nb_node *x); /* 1 / (1 + e^-x) */
NB_API nb_node *nb_erf(nb_graph *g, nb_node *x);     /* erf x; d/dx = 2/√π · e^(−x²) */
NB_API nb_node *nb_relu(nb_graph *g, nb_node *x);    /* max(x, 0): a composition */

/* ---------------------------------------------------------------- binary ops
 * Elementwise with NumPy broadcasting: shapes align on the right, and a
 * dimension of 1 (or a missing one) stretches to match. */

NB_API nb_node *nb_add(nb_graph *g, nb_node *a, nb_node *b); /* a + b */
NB_API nb_node *nb_sub(nb_graph *g, nb_node *a, nb_node *b); /* a - b */
NB_API nb_node *nb_mul(nb_graph *g, nb_node *a, nb_node *b); /* a · b */
NB_API nb_node *nb_div(nb_graph *g, nb_node *a, nb_node *b); /* a / b */
NB_API nb_node *nb_max(nb_graph *g, nb_node *a, nb_node *b); /* max(a, b); ties send the gradient to a */
NB_API nb_node *nb_min(nb_graph *g, nb_node *a, nb_node *b); /* min(a, b); ties send the gradient to a */
NB_API nb_node *nb_pow(nb_graph *g, nb_node *a, nb_node *b); /* a^b */
NB_API nb_node *nb_gt(nb_graph *g, nb_node *a, nb_node *b);  /* a > b  → 1 or 0; no gradient */
NB_API nb_node *nb_ge(nb_graph *g, nb_node *a, nb_node *b);  /* a >= b → 1 or 0; no gradient */
NB_API nb_node *nb_eq(nb_graph *g, nb_node *a, nb_node *b);  /* a == b → 1 or 0; no gradient */
/* cond ≠ 0 ? a : b, all three broadcast together. */
NB_API nb_node *nb_where(nb_graph *g, nb_node *cond, nb_node *a, nb_node *b);

/* ---------------------------------------------------------------- reductions
 * Over the listed axes (negative counts from the end; n_axes 0 means all).
 * keepdims leaves reduced axes as size 1. */

NB_API nb_node *nb_sum(nb_graph *g, nb_node *x, const int *axes, int n_axes, bool keepdims);
/* Gradient shared equally among tied maxima. */
NB_API nb_node *nb_reduce_max(nb_graph *g, nb_node *x, const int *axes, int n_axes, bool keepdims);
/* sum · 1/n: a composition. */
NB_API nb_node *nb_mean(nb_graph *g, nb_node *x, const int *axes, int n_axes, bool keepdims);

/* ---------------------------------------------------------------- movement */

/* Same elements, new shape; one dimension may be -1 (inferred). No copy. */
NB_API nb_node *nb_reshape(nb_graph *g, nb_node *x, nb_shape shape);
/* out.dim[i] = x.dim[perm[i]]; perm has x's rank entries. */
NB_API nb_node *nb_permute(nb_graph *g, nb_node *x, const int *perm);
/* Broadcast x to shape (NumPy rules). */
NB_API nb_node *nb_expand(nb_graph *g, nb_node *x, nb_shape shape);
/* Elements start, start+step, … < stop along one axis (step ≥ 1). */
NB_API nb_node *nb_slice(nb_graph *g, nb_node *x, int axis, int64_t start, int64_t stop, int64_t step);
/* before[i] and after[i] elements of value around each axis (≥ 0; NULL = 0). */
NB_API nb_node *nb_pad(nb_graph *g, nb_node *x, const int64_t *before, const int64_t *after, float value);
/* Joins n tensors along axis; other dimensions must agree. */
NB_API nb_node *nb_concat(nb_graph *g, nb_node *const *xs, int n, int axis);

/*
 * A 2-D sliding window: kernel kh×kw, stride, zero padding and dilation.
 * Zero stride or dilation means 1, so {.kh = 5, .kw = 5, .ph = 2, .pw = 2}
 * reads naturally. Output size: (H + 2ph - dh(kh-1) - 1) / sh + 1.
 */
typedef struct nb_window2d {
    int kh, kw; /* kernel */
    int sh, sw; /* stride */
    int ph, pw; /* zero padding */
    int dh, dw; /* dilation */
} nb_window2d;

/* im2col: x [N,C,H,W] → [N, C·kh·kw, OH·OW]; row c·kh·kw + i·kw + j holds
 * x[n, c, oh·sh - ph + i·dh, ow·sw - pw + j·dw] (0 outside the image). */
NB_API nb_node *nb_unfold2d(nb_graph *g, nb_node *x, nb_window2d w);
/* col2im, unfold2d's adjoint: [N, C·kh·kw, OH·OW] → [N,C,H,W], overlapping
 * windows summed. */
NB_API nb_node *nb_fold2d(nb_graph *g, nb_node *cols, int64_t h, int64_t w, nb_window2d win);

/* ---------------------------------------------------------------- matmul */

/* a [..., M, K] · b [..., K, N] → [..., M, N]; batch dimensions broadcast.
 * ta / tb take a or b transposed in its last two dimensions. One sgemm per
 * batch item (or one for all, when b has no batch dimensions). */
NB_API nb_node *nb_matmul(nb_graph *g, nb_node *a, nb_node *b, bool ta, bool tb);

/* ---------------------------------------------------------------- class indices */

/* labels [N] holding class indices as floats → [N, classes]: row i is 1 at
 * column labels[i], 0 elsewhere; no gradient. A label that is not an
 * integer in 0…classes−1 (7 of 5 classes, −1, 2.5, NaN) stops
 * nb_runtime_run with its value and row, examples counted from 0 ("label 7
 * of example 3 is outside 0…4 (the output 'logits' has 5 units)"). scores
 * (may be NULL) is the node whose columns the classes are: named in that
 * message, not an input. */
NB_API nb_node *nb_one_hot(nb_graph *g, nb_node *labels, int64_t classes, const nb_node *scores);
/* The number of classes a one_hot reads `labels` as (directly or through
 * reshapes; the fewest when several do), 0 when none does; *scores (may be
 * NULL) gets that one_hot's scores node. What trainers check targets
 * against before the first step. */
NB_API int64_t nb_node_classes(const nb_node *labels, const nb_node **scores);

/* Rows of a table picked by indices, the lookup an embedding is: table
 * [V, D…], idx [I…] holding row indices 0..V-1 as floats (token ids, say)
 * → [I…, D…], out[i] = table[idx[i]]. Its gradient with respect to the table
 * is nb_scatter_add of the output's gradient: only the rows picked, never a
 * one-hot matrix. An index that is not an integer in 0..V-1 stops the run
 * that meets it with its value and position ("index 12 at 5 of 'tokens'
 * (example 1, position 1) is not a row of the table 'embed.table': indices
 * must be integers in 0…9"). */
NB_API nb_node *nb_gather(nb_graph *g, nb_node *table, nb_node *idx);
/* gather's adjoint: src [I…, D…], idx [I…] → [rows, D…], zero but for
 * out[idx[i]] += src[i], added in index order (the same bits at any thread
 * count). Indices are checked as gather's are. */
NB_API nb_node *nb_scatter_add(nb_graph *g, nb_node *src, nb_node *idx, int64_t rows);

/* ---------------------------------------------------------------- custom ops
 *
 * Every op, built-in or a user's, is one definition: a name, an arity, a
 * shape rule, a forward kernel and a vector-Jacobian product written with the
 * building API. A user op is used everywhere a built-in one is: autodiff,
 * gradient checking, the planner, drawing.
 */

#define NB_MAX_ATTRS (4 * NB_MAX_RANK)

/* An op's attributes: what each slot means is the op's own business. */
typedef struct nb_attrs {
    int64_t i[NB_MAX_ATTRS];
    float f[4];
} nb_attrs;

/* The output shape from n's inputs and attributes, or nb_graph_fail(). */
typedef nb_status (*nb_shape_fn)(nb_graph *g, const nb_node *n, nb_shape *out);
/* in[i] holds input i (nb_node_input(n, i) tells its shape); out is n's. */
typedef void (*nb_forward_fn)(const nb_node *n, const float *const *in, float *out);
/* Given dy (n's shape), set dx[i] to the gradient node for input i, or leave
 * it NULL where no gradient flows. Built with the ordinary builders. */
typedef nb_status (*nb_vjp_fn)(nb_graph *g, nb_node *n, nb_node *dy, nb_node **dx);
/* Validates input values only known at run time (class indices) before the
 * forward kernel runs: NB_OK, or a status with a message in msg naming the
 * offending value and where it is. The runtime then stops the run and
 * reports "<layer or op>: <msg>". */
typedef nb_status (*nb_check_fn)(const nb_node *n, const float *const *in, char *msg,
                                 size_t size);

enum {
    NB_OP_ELEMENTWISE = 1u << 0, /* out[i] depends on in[·][i] only: may run in place */
    NB_OP_VIEW = 1u << 1,        /* output bytes are input 0's bytes: no copy */
    NB_OP_LEAF = 1u << 2,        /* input, param, constant */
    NB_OP_NO_ATTRS = 1u << 3     /* built-in ops: a node is its inputs alone (add, neg, where),
                                  * so nb_builtin_apply builds it; user ops ignore it */
};

typedef struct nb_op_def {
    const char *name;
    int arity;        /* inputs; -1 for one or more */
    unsigned flags;   /* NB_OP_* */
    nb_shape_fn shape;
    nb_forward_fn forward;
    nb_vjp_fn vjp;    /* NULL: not differentiable, and nb_grad says so */
    nb_check_fn check; /* NULL: every value is fine */
} nb_op_def;

/* A node running a user op. def must outlive the graph (usually static);
 * attrs is copied (NULL: all zero). A built-in op's definition is refused:
 * its own builder (or nb_builtin_apply) checks what it is given. */
NB_API nb_node *nb_custom(nb_graph *g, const nb_op_def *def, nb_node *const *inputs, int n,
                          const nb_attrs *attrs);
NB_API const nb_attrs *nb_node_attrs(const nb_node *n);

/* The built-in primitive ops (ops/op_list.h), in that list's order: op i's
 * definition for 0 <= i < their count, NULL past the end. What a reader of
 * model files enumerates for the ops' names, arities and flags. */
NB_API const nb_op_def *nb_builtin_op(int i);
/* A node of a built-in op whose node is its inputs alone (NB_OP_NO_ATTRS
 * in def->flags), def as nb_builtin_op gave it: the very node the op's own
 * builder (nb_add, nb_neg, nb_where) makes. Another def, or a count of
 * inputs other than its arity, is refused through nb_graph_fail. */
NB_API nb_node *nb_builtin_apply(nb_graph *g, const nb_op_def *def, nb_node *const *inputs,
                                 int n);

/* A built-in op's attributes by meaning (ops/op_options.c): only the
 * fields of the node's op are set, the rest are zero. What a model file
 * writer reads; user ops keep their nb_attrs to themselves. */
typedef struct nb_op_options {
    nb_shape shape;                 /* reshape, expand: the target as given (batch included;
                                     * reshape may hold one -1) */
    int axes[NB_MAX_RANK], n_axes;  /* sum, reduce_max: the reduced axes, ascending */
    bool keepdims;                  /* sum, reduce_max */
    int perm[NB_MAX_RANK];          /* permute: one entry per axis */
    int axis;                       /* slice, concat */
    int64_t start, stop, step;      /* slice, as nb_slice was given them */
    int64_t before[NB_MAX_RANK], after[NB_MAX_RANK]; /* pad */
    float value;                    /* pad */
    nb_window2d window;             /* unfold2d, fold2d (stride and dilation ≥ 1) */
    int64_t h, w;                   /* fold2d: the image size */
    bool transpose_a, transpose_b;  /* matmul */
    int64_t classes;                /* one_hot */
    int64_t rows;                   /* scatter_add: the table's rows */
} nb_op_options;
/* Fills *o for a node of a built-in op (leaves included: all zero) and
 * returns true; false for a user op (nb_custom) or NULL. */
NB_API bool nb_node_options(const nb_node *n, nb_op_options *o);

/* ---------------------------------------------------------------- autodiff */

/*
 * Appends the backward pass of the scalar `loss` to the graph and stores in
 * grads[i] the node holding d loss / d wrt[i] (wrt[i]'s shape). A wrt node the
 * loss does not depend on gets a zero constant. The result is ordinary graph:
 * it can be run, drawn, and differentiated again (Hessian-vector products).
 * Refuses a non-scalar loss and an op on the path without a vjp rule.
 */
NB_API nb_status nb_grad(nb_graph *g, nb_node *loss, nb_node *const *wrt, int n, nb_node **grads);

/* ---------------------------------------------------------------- runtime */

typedef struct nb_runtime nb_runtime;

/*
 * Compiles the graph for the given outputs: keeps the nodes they need, in
 * topological order, and assigns buffers by liveness so a buffer is reused
 * once its last reader ran (in place where an elementwise op allows, reshape
 * as a view). All memory is allocated here; runs allocate nothing.
 * NULL on failure, with the message in the graph.
 */
NB_API nb_runtime *nb_runtime_new(nb_graph *g, nb_node *const *outputs, int n_outputs);
/*
 * nb_runtime_new for a caller that can read some outputs as outer products:
 * an output i with outer[i] set whose value is the outer product of two
 * vectors that live outside parameters (a dense weight's gradient at batch
 * 1, xᵀ·dz) is never formed: the runtime keeps its two vectors instead,
 * nb_runtime_outer gives them, and nb_runtime_value gives NULL for it.
 * Every other output as in nb_runtime_new; outer may be NULL.
 */
NB_API nb_runtime *nb_runtime_new_outer(nb_graph *g, nb_node *const *outputs, int n_outputs,
                                        const bool *outer);
/* For an output nb_runtime_new_outer left unformed: true, with n [M, N] =
 * u ⊗ v, n[i, j] = u[i]·v[j] (u: M floats, v: N floats, valid until the
 * next run or nb_runtime_free). False for any other node. */
NB_API bool nb_runtime_outer(const nb_runtime *rt, const nb_node *n, const float **u,
                             const float **v);
/*
 * nb_runtime_new_outer, and besides: an output i with factored[i] set whose
 * value is a product xᵀ·dz of two matrices that live outside parameters
 * (x [K, M], dz [K, N]: a dense weight's gradient at a batch of K) is
 * never formed either: the runtime keeps x and dz, nb_runtime_factors
 * gives them, and nb_runtime_value gives NULL for it. For a caller that
 * needs only part of the product, or the product over more rows than one
 * run's (the data-parallel ranks on one host, each forming its piece of a
 * weight's gradient from every rank's rows). An output marked in both
 * lists is an outer product when it is one. factored may be NULL.
 */
NB_API nb_runtime *nb_runtime_new_factored(nb_graph *g, nb_node *const *outputs, int n_outputs,
                                           const bool *outer, const bool *factored);
/* For an output nb_runtime_new_factored left unformed: true, with n = xᵀ·dz,
 * x [K, M] and dz [K, N] row-major, K in *k (valid until the next run or
 * nb_runtime_free). False for any other node. */
NB_API bool nb_runtime_factors(const nb_runtime *rt, const nb_node *n, const float **x,
                               const float **dz, int64_t *k);
NB_API void nb_runtime_free(nb_runtime *rt);
/* Copies numel(input) floats into the input's buffer. */
NB_API nb_status nb_runtime_set_input(nb_runtime *rt, nb_node *input, const float *data);
/* Runs every planned node; parameters are read as they are at this call.
 * An op's value check (nb_op_def.check: a class label outside its classes)
 * stops the run with the op's message; the outputs are then not valid. */
NB_API nb_status nb_runtime_run(nb_runtime *rt);
/* An output's (or any leaf's) values after the last run; NULL for a node that
 * is not an output. Valid until the next run or nb_runtime_free. */
NB_API const float *nb_runtime_value(const nb_runtime *rt, const nb_node *n);
/*
 * Makes rt write output n's values into buf (numel(n) floats, kept alive
 * and left alone by the caller while rt runs) instead of its own buffer,
 * from the next run on; buf NULL gives n its own buffer back. For a value
 * read where it is made, by another process through shared memory (the
 * data-parallel sum of nb_dist). NB_ERR_ARG, with the reason in
 * nb_runtime_error, when n is not an output rt computes into a buffer of
 * its own: a leaf, a view (reshape), a member of a fused group or an output
 * left as an outer product.
 */
NB_API nb_status nb_runtime_place_output(nb_runtime *rt, const nb_node *n, float *buf);
/* The error of the last failed runtime call, "" when none. */
NB_API const char *nb_runtime_error(const nb_runtime *rt);
/* A number that changes whenever rt points its values at other memory (a
 * parameter moved, then a run; nb_runtime_place_output) and that no other
 * runtime of the graph has had: while it stays the same, the pointers
 * nb_runtime_value, nb_runtime_outer and nb_runtime_factors gave after a
 * run still hold after the next. 0 for NULL. */
NB_API unsigned nb_runtime_binding(const nb_runtime *rt);
/* Bytes of the planned buffers (with reuse), and what one buffer per node
 * would take: inputs and intermediate values, not parameters or constants. */
NB_API size_t nb_runtime_planned_bytes(const nb_runtime *rt);
NB_API size_t nb_runtime_naive_bytes(const nb_runtime *rt);
/* Number of steps the runtime executes per run: one per op node, except
 * that a fused chain (nb_set_fusion) is one step. */
NB_API int nb_runtime_num_steps(const nb_runtime *rt);
/*
 * Step i of the plan a runtime executes, in run order (nb_runtime_dot_write
 * draws them): the graph nodes it computes — one op node, or the members of
 * a fused group in graph order, the last one's value the step writes — and
 * the values it reads. Nodes the plan needs no step for (members folded
 * into a group, values no step reads once a group reads past them) belong
 * to no step. Pointers are valid until nb_runtime_free. nb_runtime_step
 * gives false for a NULL runtime or i outside [0, nb_runtime_num_steps).
 */
typedef struct nb_runtime_step_info {
    const char *pattern;            /* the fused group's pattern ("elementwise chain",
                                       "convolution input gradient", ...); NULL: one op */
    int n_nodes;
    const nb_node *const *nodes;    /* what it computes, the last one written */
    int n_inputs;
    const nb_node *const *inputs;   /* what it reads, in the kernel's order */
    bool view;                      /* writes nothing: its value is its input's bytes (reshape) */
    int buffer;                     /* the planned buffer holding its value; -1 when that is
                                       a parameter's or constant's own memory */
    size_t buffer_bytes;            /* that buffer's size, shared by every value it holds */
} nb_runtime_step_info;
NB_API bool nb_runtime_step(const nb_runtime *rt, int i, nb_runtime_step_info *out);
/*
 * A function nb_runtime_run calls after each step it ran (i: the step's
 * index, in run order), on the calling thread: for work that can start as
 * soon as a value is final — sending a gradient to other processes while
 * the backward pass goes on (nb_runtime_ready_step says when). It must not
 * run, change or free rt. fn NULL removes it; one hook per runtime.
 */
typedef void (*nb_runtime_hook)(void *ud, int step);
NB_API void nb_runtime_set_hook(nb_runtime *rt, nb_runtime_hook fn, void *ud);
/* The index of the step after which output n's value in a run is final
 * (nb_runtime_value's, or for an output left as an outer product its two
 * vectors): −1 for a leaf, whose value is there before the first step;
 * −2 for a node rt does not keep (not an output, another graph, NULL). */
NB_API int nb_runtime_ready_step(const nb_runtime *rt, const nb_node *n);

/* Threads for nabla's loops and products (OpenMP; OpenBLAS stays on one
 * thread and nabla splits its products), process-wide like both libraries'
 * own settings. n > 0: exactly n. n ≤ 0: every core, each runtime timing its
 * runs and moving to fewer threads while other processes hold the cores
 * (and back) — the default of a program that never calls this, unless
 * OMP_NUM_THREADS is set. Results are the same bits at any count, so the
 * count never changes what a seeded run computes. nb_get_threads gives the
 * count in use now. */
NB_API void nb_set_threads(int n);
NB_API int nb_get_threads(void);

/* Fusion: a runtime made while it is on runs each chain of ops it has a
 * fused kernel for as one step (a product with its bias and activation;
 * a convolution with its bias and activation, and its weights' gradient,
 * both reading the image through the window so that the unfold2d columns
 * are never written; a chain of elementwise ops, forward or backward) and
 * never writes the values inside the chain. The graph, its drawing and every value a runtime
 * returns stay the same, within float rounding. On by default; off when
 * the environment variable NABLA_FUSION is "0", unless nb_set_fusion said
 * otherwise. Process-wide; it applies to runtimes made afterwards, so a
 * user who suspects a fused kernel can make the same runtime both ways and
 * compare. nb_get_fusion gives the setting in force. */
NB_API void nb_set_fusion(bool on);
NB_API bool nb_get_fusion(void);

/* Products that OpenBLAS's sgemm would compute go to nabla's own loops (the
 * same sums, slower) when the process cannot map the memory OpenBLAS's
 * buffers need (128 MB per thread on x86-64, under ulimit -v or -d; nabla
 * loads OpenBLAS at the first such product, after checking), or when the
 * environment variable NABLA_NO_BLAS is set. Then this says so in one
 * sentence, with the memory needed and the limit; otherwise (OpenBLAS in use,
 * or no product has needed it yet) NULL. Process-wide; valid for the
 * process's life. */
NB_API const char *nb_blas_note(void);

/* ---------------------------------------------------------------- gradient check */

/* A value for an input node, for calls that run the graph themselves. */
typedef struct nb_feed {
    nb_node *node;
    const float *data;
} nb_feed;

typedef struct nb_gradcheck_opts {
    double eps;      /* finite-difference step; 0 → 1e-3 */
    double rtol;     /* 0 → 1e-2 */
    double atol;     /* 0 → 1e-3 */
    uint64_t seed;   /* for the random projection of y; 0 → 1 */
} nb_gradcheck_opts;

typedef struct nb_gradcheck_report {
    double worst_error;     /* |a - n| / (atol + rtol·max(|a|, |n|)): above 1 fails */
    const nb_node *worst_node;
    int64_t worst_index;    /* flat index into worst_node */
    double analytic, numeric;
    int64_t checked;        /* elements compared */
} nb_gradcheck_report;

/*
 * Compares autodiff with central finite differences. y may have any shape: the
 * check differentiates L = Σ y ⊙ R for a fixed random R (so every element of y
 * counts) and evaluates the differences of L in double precision. wrt are
 * parameters or inputs; inputs take their values from feeds. An element fails
 * when |a - n| > atol + rtol·max(|a|, |n|). Returns NB_OK when all pass, else
 * NB_ERR_GRAD with the worst element named in the graph's message. Parameters
 * are restored afterwards; report may be NULL.
 */
NB_API nb_status nb_gradcheck(nb_graph *g, nb_node *y, nb_node *const *wrt, int n_wrt,
                              const nb_feed *feeds, int n_feeds, const nb_gradcheck_opts *opts,
                              nb_gradcheck_report *report);

/* ================================================================ random numbers
 * A seeded generator is a value you hold and pass: nabla has no global
 * random state, so the same seed gives the same weights, the same order and
 * the same dropout masks, bit for bit. xoshiro256**. */

typedef struct nb_rng {
    uint64_t s[4];
} nb_rng;

NB_API nb_rng nb_rng_seed(uint64_t seed);
NB_API uint64_t nb_rng_next(nb_rng *r);
/* Uniform in [0, 1), 24 random bits. */
NB_API float nb_rng_uniform(nb_rng *r);
/* Standard normal (Box–Muller; no cached second value, so it is stateless
 * beyond the generator). */
NB_API float nb_rng_normal(nb_rng *r);
/* Uniform integer in [0, n), n ≥ 1, without modulo bias. */
NB_API uint64_t nb_rng_below(nb_rng *r, uint64_t n);
/* Fisher–Yates shuffle of idx[0..n). */
NB_API void nb_rng_shuffle(nb_rng *r, int64_t *idx, int64_t n);

/* ####################################################################
 * 2. LAYERS AND TRAINING (layers/, train/)
 *
 * Layers and losses are compositions of the primitive ops above, each under
 * a scope of its own; they record what they were asked for. An optimiser
 * updates parameters from gradients; a trainer builds the user's model
 * through a callback, feeds it minibatches from datasets in memory (read
 * from IDX files or CSV and float32 streams), steps the optimiser and
 * reports progress; predictions, class reports and the training state
 * read what it learned. Nothing here needs an optional library.
 * #################################################################### */

/* ================================================================ initialisers */

typedef enum nb_init_kind {
    NB_INIT_DEFAULT,        /* the layer's own choice (Glorot uniform weights, zero biases) */
    NB_INIT_ZEROS,
    NB_INIT_CONSTANT,       /* a */
    NB_INIT_UNIFORM,        /* U[a, b) */
    NB_INIT_NORMAL,         /* N(a, b²): mean a, standard deviation b */
    NB_INIT_XAVIER_UNIFORM, /* U[-l, l), l = √(6 / (fan_in + fan_out)) (Glorot) */
    NB_INIT_XAVIER_NORMAL,  /* N(0, 2 / (fan_in + fan_out)) */
    NB_INIT_HE_UNIFORM,     /* U[-l, l), l = √(6 / fan_in) */
    NB_INIT_HE_NORMAL       /* N(0, 2 / fan_in) */
} nb_init_kind;

typedef struct nb_init {
    nb_init_kind kind;
    float a, b;
} nb_init;

/* Fills x[0..n) by the scheme. NB_INIT_DEFAULT behaves as Xavier uniform. */
NB_API void nb_init_fill(nb_init init, float *x, int64_t n, int64_t fan_in, int64_t fan_out,
                         nb_rng *rng);

/* ================================================================ building models
 *
 * Layers read three settings of the graph when they are built:
 *  - training: dropout draws masks and batch normalisation uses (and
 *    updates) batch statistics; off, dropout is the identity and batch norm
 *    uses its running statistics.
 *  - reuse: building the same model again in the same graph (another batch
 *    size, or the inference version) shares its parameters: nb_param_init
 *    and layers return the existing parameter of the same full name (the
 *    shape must agree), automatic layer names start again from 1, and
 *    other names already taken get a suffix ("x" → "x_2").
 *  - the graph's generator, which initialisers draw from (nb_graph_seed).
 */
NB_API void nb_graph_set_training(nb_graph *g, bool training);
NB_API bool nb_graph_training(const nb_graph *g);
NB_API void nb_graph_set_reuse(nb_graph *g, bool reuse);
NB_API void nb_graph_seed(nb_graph *g, uint64_t seed);
NB_API nb_rng *nb_graph_rng(nb_graph *g);

/* A parameter initialised by the scheme from the graph's generator, or,
 * under reuse, the existing parameter of that name. */
NB_API nb_node *nb_param_init(nb_graph *g, const char *name, nb_shape shape, nb_init init,
                              int64_t fan_in, int64_t fan_out);
/* Parameters are trainable unless marked otherwise: state such as batch
 * norm's running statistics is a parameter the optimiser leaves alone. */
NB_API void nb_param_set_trainable(nb_node *param, bool trainable);
NB_API bool nb_param_trainable(const nb_node *param);
/* The graph's parameters in creation order (count, then each). */
NB_API int nb_graph_num_params(const nb_graph *g);
NB_API nb_node *nb_graph_param(const nb_graph *g, int i);
/* A count that changes whenever nb_param_data or nb_param_trainable may
 * give something new for a parameter of g (its values moved: parameters
 * added, nb_param_place; its trainable flag changed). While it stays the
 * same, what they gave still holds: a caller that keeps parameter
 * pointers between steps (the optimiser) compares it instead of asking
 * again. 0 for NULL. */
NB_API unsigned nb_graph_param_stamp(const nb_graph *g);

/* State updates: after a training step, `state` (a parameter) takes the
 * values of `value` (same shape), e.g. a running mean. Trainers compute
 * every registered value with the step and copy it over. */
NB_API nb_status nb_state_update(nb_graph *g, nb_node *state, nb_node *value);
NB_API int nb_graph_num_updates(const nb_graph *g);
NB_API void nb_graph_update(const nb_graph *g, int i, nb_node **state, nb_node **value);

/* An input that holds fresh U[0,1) noise on each run, drawn by
 * nb_runtime_fill_noise (dropout masks). */
NB_API nb_node *nb_noise(nb_graph *g, nb_shape shape);
NB_API bool nb_node_is_noise(const nb_node *n);
/* Fills every noise input the runtime uses from rng. */
NB_API void nb_runtime_fill_noise(nb_runtime *rt, nb_rng *rng);
/* The same for one share of a larger batch, as data-parallel training
 * takes it: for a runtime built at batch `batch`, each noise input whose
 * leading dimension is `batch` gets rows [offset, offset + batch) of what a
 * runtime at batch `global` would draw from rng (the others are drawn
 * whole), and rng advances as that runtime's nb_runtime_fill_noise would.
 * So the shares of one global batch, each filled from a copy of one
 * generator, hold the masks one process would draw for the whole batch.
 * Nothing is done unless 0 <= offset and offset + batch <= global. */
NB_API void nb_runtime_fill_noise_rows(nb_runtime *rt, nb_rng *rng, int64_t batch,
                                       int64_t offset, int64_t global);
/* Advances rng as nb_runtime_fill_noise of a runtime at batch `global`
 * would (rt built at batch `batch` gives the noise inputs' shapes), filling
 * nothing: for a share of no examples. */
NB_API void nb_runtime_skip_noise(nb_runtime *rt, nb_rng *rng, int64_t batch, int64_t global);

/* Pushes the scope of a layer: `name` if given, else kind plus a number
 * ("dense1", "dense2", …, numbered per kind and graph). Pop with
 * nb_scope_pop. */
NB_API nb_status nb_layer_scope(nb_graph *g, const char *kind, const char *name);

/* ================================================================ activations */

typedef enum nb_activation {
    NB_ACT_NONE,
    NB_ACT_RELU,        /* max(x, 0) */
    NB_ACT_LEAKY_RELU,  /* max(x, αx), α = 0.01 (nb_leaky_relu for another α) */
    NB_ACT_SIGMOID,
    NB_ACT_TANH,
    NB_ACT_SOFTMAX,     /* over the last axis */
    NB_ACT_LOG_SOFTMAX, /* over the last axis */
    NB_ACT_SIGN,        /* the McCulloch–Pitts threshold: forward only */
    NB_ACT_GELU,        /* x·Φ(x) = ½x(1 + erf(x/√2)): PyTorch's exact default, not tanh's */
    NB_ACT_SILU,        /* x·σ(x), also called swish */
    NB_ACT_ELU,         /* x for x > 0, α(e^x − 1) else, α = 1 (nb_elu for another α) */
    NB_ACT_SOFTPLUS     /* log(1 + e^x), computed stably */
} nb_activation;

NB_API nb_node *nb_activate(nb_graph *g, nb_node *x, nb_activation act);
NB_API nb_node *nb_leaky_relu(nb_graph *g, nb_node *x, float alpha);
/* ½x(1 + erf(x/√2)): PyTorch's nn.GELU() (approximate='none'). */
NB_API nb_node *nb_gelu(nb_graph *g, nb_node *x);
/* x·σ(x): PyTorch's nn.SiLU. */
NB_API nb_node *nb_silu(nb_graph *g, nb_node *x);
/* max(x, 0) + α(e^min(x, 0) − 1): PyTorch's nn.ELU(alpha); α finite and
 * ≥ 0, else refused (the exp never sees a positive argument). */
NB_API nb_node *nb_elu(nb_graph *g, nb_node *x, float alpha);
/* log(1 + e^x) as m + log(e^−m + e^(x−m)), m = max(x, 0): no overflow, and
 * the gradient σ(x) is exact at 0 (m's two paths cancel). PyTorch's
 * nn.Softplus() (beta 1); for x below about −17 the result is 0 where
 * PyTorch's log1p keeps e^x (an absolute error under 6e-8). */
NB_API nb_node *nb_softplus(nb_graph *g, nb_node *x);
/* e^(x - max) / Σ e^(x - max) over axis: stable for any logits. */
NB_API nb_node *nb_softmax(nb_graph *g, nb_node *x, int axis);
/* x - max - log Σ e^(x - max) over axis. */
NB_API nb_node *nb_log_softmax(nb_graph *g, nb_node *x, int axis);
/* sign(x) as a neuron's threshold: nb_grad refuses to differentiate it
 * (its derivative is zero almost everywhere, so no gradient could train it). */
NB_API nb_node *nb_threshold(nb_graph *g, nb_node *x);

/* ================================================================ layers
 * Each layer adds primitive nodes under its own scope and registers its
 * parameters there ("conv1/w"). Options are plain structs: zero means the
 * default, so {.units = 10} is a whole dense layer. */

/* x [..., in] · w [in, units] + b [units], x of rank 1 to 3; a rank-4
 * input (a conv output) is refused with a hint to nb_flatten it first. */
typedef struct nb_dense_opts {
    int64_t units;
    nb_activation activation;
    bool no_bias;
    nb_init init, bias_init;
    const char *name;
} nb_dense_opts;
NB_API nb_node *nb_dense(nb_graph *g, nb_node *x, nb_dense_opts o);

/* x [N, C, H, W] → [N, filters, OH, OW] with w [filters, C/groups, kh, kw]
 * and b [filters]: unfold2d, matmul with the kernel matrix, reshape.
 * Stride, padding and dilation go per axis when they differ: a nonzero sh,
 * sw, dh or dw overrides stride or dilation on its axis, and pads (top,
 * left, bottom, right: ONNX's order), when any of the four is nonzero,
 * replaces pad; padding that differs between the two sides of an axis is
 * an explicit nb_pad before unfold2d. OH = (H + top + bottom - dh(kh-1) -
 * 1) / sh + 1, likewise OW. */
typedef struct nb_conv2d_opts {
    int64_t filters;
    int kernel;            /* square kernel, or set kh and kw */
    int kh, kw;
    int stride, pad, dilation; /* both axes; 0 → 1, 0, 1 */
    int sh, sw, dh, dw;    /* per axis; 0 → stride, dilation */
    int pads[4];           /* top, left, bottom, right; all 0 → pad on each side */
    int groups;            /* 0 → 1 */
    nb_activation activation;
    bool no_bias;
    nb_init init, bias_init;
    const char *name;
} nb_conv2d_opts;
NB_API nb_node *nb_conv2d(nb_graph *g, nb_node *x, nb_conv2d_opts o);

/* x [N, C, H, W] → [N, filters, OH, OW], the transposed convolution (the
 * adjoint of conv2d's map from image to output; it grows an image):
 * PyTorch's nn.ConvTranspose2d with its layout, w [C, filters/groups, kh, kw]
 * and b [filters]. OH = (H−1)·stride − 2·pad + dilation·(kh−1) +
 * output_padding + 1, OW likewise: output_padding adds rows and columns at
 * the bottom and right (PyTorch's, to reach the size a strided conv2d
 * came from) and must be below stride or dilation. The kernel matrix,
 * transposed, times x gives the columns; fold2d sums them onto the output
 * (+ bias). Refuses as conv2d does, and an output of no pixels. */
typedef struct nb_conv_transpose2d_opts {
    int64_t filters;
    int kernel;            /* square kernel, or set kh and kw */
    int kh, kw;
    int stride, pad, output_padding, dilation; /* 0 → 1, 0, 0, 1 */
    int groups;            /* 0 → 1 */
    nb_activation activation;
    bool no_bias;
    nb_init init, bias_init;
    const char *name;
} nb_conv_transpose2d_opts;
NB_API nb_node *nb_conv_transpose2d(nb_graph *g, nb_node *x, nb_conv_transpose2d_opts o);

/* Max or mean over size×size windows (stride defaults to size): unfold2d,
 * then a reduction. Max pooling pads with -∞, average counts the padding
 * unless exclude_pad. Per axis as conv2d: a nonzero kh, kw overrides size,
 * sh, sw the stride (0 → the window's size on that axis), dh, dw the
 * dilation; pads (top, left, bottom, right), when any is nonzero, replaces
 * pad. ceil_mode rounds the output size up as PyTorch does: a last, partial
 * window joins on an axis when it starts inside the input or its leading
 * padding (never wholly in the trailing padding); it reads -∞ (max) or
 * zeros left out of any count (average) past the trailing padding. An
 * average divides by the window's size, or by the pixels it covers inside
 * the padded input where a ceil_mode window overhangs it, or, with
 * exclude_pad, by the input pixels alone (PyTorch's count_include_pad =
 * False). A window that covers no input pixel is refused by max pooling
 * and by exclude_pad (it has no maximum and no mean). */
typedef struct nb_pool2d_opts {
    int size;
    int stride, pad;
    const char *name;
    int kh, kw;            /* per axis; 0 → size */
    int sh, sw;            /* per axis; 0 → stride, or the window's size */
    int dilation, dh, dw;  /* 0 → 1 */
    int pads[4];           /* top, left, bottom, right; all 0 → pad on each side */
    bool ceil_mode;        /* output size rounded up */
    bool exclude_pad;      /* average: divide by input pixels only */
} nb_pool2d_opts;
NB_API nb_node *nb_maxpool2d(nb_graph *g, nb_node *x, nb_pool2d_opts o);
NB_API nb_node *nb_avgpool2d(nb_graph *g, nb_node *x, nb_pool2d_opts o);
/* x [N, C, H, W] → [N, C]: the mean (PyTorch's AdaptiveAvgPool2d(1) then
 * flatten) or the maximum (ties share the gradient) of each channel, as
 * reductions over axes 2 and 3; plain compositions that record nothing. */
NB_API nb_node *nb_global_avgpool2d(nb_graph *g, nb_node *x);
NB_API nb_node *nb_global_maxpool2d(nb_graph *g, nb_node *x);

/* A convolution without weight sharing: every output position has its own
 * weights, w [OH·OW, (C/groups)·kh·kw, filters] and b [filters, OH·OW]. Same options
 * as conv2d (groups and dilation apply likewise). */
NB_API nb_node *nb_local2d(nb_graph *g, nb_node *x, nb_conv2d_opts o);

/* [N, ...] → [N, prod(...)]. */
NB_API nb_node *nb_flatten(nb_graph *g, nb_node *x);

/* Training: each element is zeroed with probability rate and the rest
 * scaled by 1/(1 - rate) (a noise input draws the mask each run).
 * Inference: the identity. */
NB_API nb_node *nb_dropout(nb_graph *g, nb_node *x, float rate);

/* Batch normalisation over every axis but 1 (features of [N, C] or channels
 * of [N, C, H, W]): γ (x - μ) / √(σ² + eps) + β. Training uses the batch's
 * μ, σ² (biased) and updates running_mean/var ← (1 - momentum)·running +
 * momentum·batch (unbiased σ²); inference uses the running statistics. */
typedef struct nb_batchnorm_opts {
    float momentum;   /* 0 → 0.1 */
    float eps;        /* 0 → 1e-5 */
    const char *name;
} nb_batchnorm_opts;
NB_API nb_node *nb_batchnorm(nb_graph *g, nb_node *x, nb_batchnorm_opts o);

/* x [N, …] normalised per example over axes axis…end by its own mean and
 * (biased) variance, then γ·x̂ + β with gamma and beta of those axes' shape:
 * PyTorch's nn.LayerNorm(x.shape[axis:]). The same in training and
 * inference; no running state. */
typedef struct nb_layernorm_opts {
    int axis;         /* first normalised axis, the batch being 0 (negative from the end);
                       * 0 → -1, the last axis alone */
    float eps;        /* 0 → 1e-5 */
    bool no_affine;   /* no gamma and beta (PyTorch's elementwise_affine=False) */
    const char *name;
} nb_layernorm_opts;
NB_API nb_node *nb_layernorm(nb_graph *g, nb_node *x, nb_layernorm_opts o);

/* x [N, C, …] (any trailing axes) with its C channels split into `groups`
 * groups of C/groups consecutive channels: each example's group normalised
 * over its channels and trailing axes together by its own mean and (biased)
 * variance, then γ·x̂ + β per channel with gamma and beta [C]: PyTorch's
 * nn.GroupNorm(groups, C, eps, affine). The same in training and
 * inference; no running state. groups must divide C (1: every channel
 * together; C: each channel alone, instance norm). */
typedef struct nb_groupnorm_opts {
    int groups;       /* required, ≥ 1, dividing C */
    float eps;        /* 0 → 1e-5 */
    bool no_affine;   /* no gamma and beta (PyTorch's affine=False) */
    const char *name;
} nb_groupnorm_opts;
NB_API nb_node *nb_groupnorm(nb_graph *g, nb_node *x, nb_groupnorm_opts o);

/* Token ids [N, …] (integers 0…vocab−1 as floats) → [N, …, dim]: rows of a
 * table [vocab, dim] (nb_gather), PyTorch's nn.Embedding(vocab, dim) with
 * the same table. The table is N(0, 1) unless init says otherwise; its
 * gradient touches only the rows a batch used. */
typedef struct nb_embedding_opts {
    int64_t vocab, dim;
    nb_init init;     /* default: N(0, 1) */
    const char *name;
} nb_embedding_opts;
NB_API nb_node *nb_embedding(nb_graph *g, nb_node *idx, nb_embedding_opts o);

/* Recurrent layers, unrolled over the sequence length the input has when
 * the graph is built; backpropagation through time is autodiff of the
 * unrolled graph. Layout and parameters are PyTorch's nn.RNN (tanh), nn.GRU
 * and nn.LSTM with batch_first=True, so weights map one to one:
 *   x [N, T, F] → [N, D·hidden] (the last step's state; with bidirectional,
 *   D = 2, the forward direction's after step T−1 and the backward one's
 *   after step 0, side by side) or, with sequence, [N, T, D·hidden].
 * Parameters of layer k (and "_reverse" for the backward direction), under
 * the layer's scope: weight_ih_l<k> [G·hidden, F_k], weight_hh_l<k>
 * [G·hidden, hidden], bias_ih_l<k> and bias_hh_l<k> [G·hidden], gates in
 * PyTorch's order (G = 1; GRU 3: r, z, n; LSTM 4: i, f, g, o), all
 * U(−1/√hidden, 1/√hidden) unless init says otherwise; F_0 = F, F_k =
 * D·hidden. Layers above the first read the whole output sequence of the one
 * below. */
#define NB_RNN_MAX_LAYERS 16
typedef struct nb_rnn_opts {
    int64_t hidden;           /* units per direction, required */
    int layers;               /* 0 → 1: stacked layers */
    bool bidirectional;
    bool sequence;            /* every step's output, not only the last state */
    bool no_bias;
    nb_init init;             /* default: U(−1/√hidden, 1/√hidden), as PyTorch */
    nb_node *h0, *c0;         /* initial states [D·layers, N, hidden]; NULL: zeros (lstm: both
                               * or neither) */
    nb_node **h_n, **c_n;     /* when not NULL, get the final states [D·layers, N, hidden]
                               * (c_n: lstm only) */
    const char *name;
} nb_rnn_opts;
/* h' = tanh(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh). */
NB_API nb_node *nb_rnn(nb_graph *g, nb_node *x, nb_rnn_opts o);
/* r = σ(x_r + h_r), z = σ(x_z + h_z), n = tanh(x_n + r ⊙ h_n),
 * h' = (1 − z) ⊙ n + z ⊙ h; x_· = x·W_i·ᵀ + b_i·, h_· = h·W_h·ᵀ + b_h·. */
NB_API nb_node *nb_gru(nb_graph *g, nb_node *x, nb_rnn_opts o);
/* i, f, o = σ(x_· + h_·), g = tanh(x_g + h_g), c' = f ⊙ c + i ⊙ g,
 * h' = o ⊙ tanh(c'). */
NB_API nb_node *nb_lstm(nb_graph *g, nb_node *x, nb_rnn_opts o);

/* ================================================================ losses
 * Each gives a scalar: the mean over the batch (leading axis) of the
 * per-example loss. */

/* ½ Σ (a - y)² per example: the lecture's squared error. */
NB_API nb_node *nb_mse_loss(nb_graph *g, nb_node *a, nb_node *y);
/* a and y of one shape [N, …]: PyTorch's nn.L1Loss(), the mean of |a − y|
 * over every element (not only the batch, unlike the losses above). */
NB_API nb_node *nb_l1_loss(nb_graph *g, nb_node *a, nb_node *y);
/* PyTorch's nn.HuberLoss(delta=delta), the mean over every element of
 * ½d² where |d| < δ and δ(|d| − ½δ) elsewhere, d = a − y; delta 0 → 1,
 * and delta must be finite and > 0 (else refused). */
NB_API nb_node *nb_huber_loss(nb_graph *g, nb_node *a, nb_node *y, float delta);
/* logits [N, C], labels [N] holding class indices 0..C-1 as floats:
 * -log softmax(logits)[label], the label read through nb_one_hot, so a
 * label outside 0…C−1 or not an integer stops the run, named. */
NB_API nb_node *nb_softmax_cross_entropy(nb_graph *g, nb_node *logits, nb_node *labels);
/* logits and targets in {0, 1}, same shape: the stable
 * max(z, 0) - z·t + log(1 + e^-|z|), summed over non-batch axes. */
NB_API nb_node *nb_bce_with_logits(nb_graph *g, nb_node *logits, nb_node *targets);

/* Margin losses of linear classification: L(M) with M = s·y, scores s and
 * labels y ∈ {-1, +1} of the same shape ([N] or [N, 1]). */
typedef enum nb_margin_kind {
    NB_MARGIN_LOGISTIC,    /* log(1 + e^-M) */
    NB_MARGIN_HINGE,       /* max(0, 1 - M) */
    NB_MARGIN_EXPONENTIAL  /* e^-M */
} nb_margin_kind;
NB_API nb_node *nb_margin_loss(nb_graph *g, nb_node *scores, nb_node *labels, nb_margin_kind kind);

/* ================================================================ layer records
 * Every layer and loss above records, when it is built, what it was asked
 * for: so a graph built in C can be written back as a model file
 * (nb_model_yaml) with its layers as layers, which rebuild in training and
 * inference mode alike. nb_flatten and the activations are plain
 * compositions of primitive ops and record nothing. */

typedef enum nb_layer_kind {
    NB_LAYER_DENSE, NB_LAYER_CONV2D, NB_LAYER_LOCAL2D, NB_LAYER_MAXPOOL2D,
    NB_LAYER_AVGPOOL2D, NB_LAYER_DROPOUT, NB_LAYER_BATCHNORM, NB_LAYER_LAYERNORM,
    NB_LAYER_EMBEDDING, NB_LAYER_RNN, NB_LAYER_GRU, NB_LAYER_LSTM,
    NB_LAYER_SOFTMAX_CROSS_ENTROPY, NB_LAYER_MSE, NB_LAYER_BCE_WITH_LOGITS, NB_LAYER_MARGIN,
    NB_LAYER_L1, NB_LAYER_HUBER,
    /* layers again (the losses above are SOFTMAX_CROSS_ENTROPY…HUBER) */
    NB_LAYER_CONV_TRANSPOSE2D, NB_LAYER_GROUPNORM
} nb_layer_kind;

typedef struct nb_layer_record {
    nb_layer_kind kind;
    const char *scope;       /* the layer's full scope ("block1/conv2d1"); graph-owned */
    nb_node *input;          /* what it read (a loss: the scores) */
    nb_node *target;         /* a loss: the targets; else NULL */
    nb_node *output;         /* its result (dropout in inference: input itself) */
    int first, end;          /* ids [first, end) of the nodes it made */
    bool training;           /* the graph's mode when it was built */
    /* The options it was given (name pointers NULL: scope says it). */
    nb_dense_opts dense;
    nb_conv2d_opts conv;     /* conv2d, local2d */
    nb_conv_transpose2d_opts conv_transpose;
    nb_pool2d_opts pool;
    nb_batchnorm_opts batchnorm;
    nb_layernorm_opts layernorm;
    nb_groupnorm_opts groupnorm;
    nb_embedding_opts embedding;
    nb_rnn_opts rnn;         /* rnn, gru, lstm (h_n, c_n NULL) */
    float rate;              /* dropout */
    nb_margin_kind margin;
    float delta;             /* huber: the δ used (never 0) */
} nb_layer_record;

/* The layers built into g, in build order; records are valid until
 * nb_graph_free. nb_graph_layer_add copies r (its scope into the graph):
 * what a layer calls as it ends, a user's own layer may too. */
NB_API int nb_graph_num_layers(const nb_graph *g);
NB_API const nb_layer_record *nb_graph_layer(const nb_graph *g, int i);
NB_API nb_status nb_graph_layer_add(nb_graph *g, const nb_layer_record *r);
/* A layer kind's name as model files spell it ("conv2d", "mse_loss");
 * NULL for a value outside the enum. */
NB_API const char *nb_layer_kind_name(nb_layer_kind k);
/* "relu" or "flatten" when n is the node nb_relu or nb_flatten (of an
 * image batch) makes, which record no layer; NULL for any other node. */
NB_API const char *nb_node_composed_layer(const nb_node *n);

/* ================================================================ optimisers
 * An optimiser updates a list of parameters from gradients laid end to end
 * in one buffer, in the list's order; its slots (momentum, Adam's m and v)
 * are one buffer too. */

typedef enum nb_optimizer_kind { NB_OPT_SGD, NB_OPT_ADAM, NB_OPT_RMSPROP } nb_optimizer_kind;

/* Every field is taken as given, 0 included (Adam with beta1 = 0 has no
 * momentum): start from nb_optimizer_defaults and change what differs,
 *     nb_optimizer_opts o = nb_optimizer_defaults(NB_OPT_ADAM);
 *     o.beta1 = 0;
 * An Adam or RMSprop struct that never had its defaults has eps 0, which
 * nb_optimizer_new refuses, saying so. */
typedef struct nb_optimizer_opts {
    nb_optimizer_kind kind;
    float lr;            /* default 0.01 (SGD), 0.001 (Adam, RMSprop) */
    float momentum;      /* SGD: velocity v ← μv + g; RMSprop: momentum of the step; default 0 */
    bool nesterov;       /* SGD: step g + μv instead of v */
    float weight_decay;  /* adds λw to the gradient (the lecture's regularisation); default 0 */
    float beta1, beta2;  /* Adam, each in [0, 1): default 0.9, 0.999 */
    float alpha;         /* RMSprop smoothing, in [0, 1): default 0.99 */
    float eps;           /* Adam, RMSprop, > 0: default 1e-8 */
} nb_optimizer_opts;

/* The options of `kind` with every field at its default (above). */
NB_API nb_optimizer_opts nb_optimizer_defaults(nb_optimizer_kind kind);

typedef struct nb_optimizer nb_optimizer;

/* An optimiser for these parameters. The list is copied; frozen parameters
 * keep their place in the gradient buffer but are skipped. NULL with the
 * reason in err for an empty list, a non-parameter node, options out of
 * range (naming the field and its value) or memory that ran out. */
NB_API nb_optimizer *nb_optimizer_new(nb_optimizer_opts o, nb_node *const *params, int n,
                                      nb_error *err);
NB_API void nb_optimizer_free(nb_optimizer *opt);
/* Floats in the gradient buffer: Σ numel(params). */
NB_API int64_t nb_optimizer_size(const nb_optimizer *opt);
/* One update with learning rate lr (the schedule's value this step). */
NB_API void nb_optimizer_step(nb_optimizer *opt, const float *grads, float lr);
/* Slot buffer k (0: momentum / m, 1: v / mean square), size floats, or NULL;
 * and the step count, for checkpoints. */
NB_API float *nb_optimizer_slot(nb_optimizer *opt, int k);
NB_API int64_t *nb_optimizer_steps(nb_optimizer *opt);
/* The kind the optimiser was made with (NB_OPT_SGD for NULL). */
NB_API nb_optimizer_kind nb_optimizer_kind_of(const nb_optimizer *opt);

/* Scales grads so their global L2 norm is at most max_norm; returns the
 * norm before clipping (a norm that is not finite is returned unscaled). */
NB_API double nb_clip_grad_norm(float *grads, int64_t n, double max_norm);

typedef enum nb_schedule_kind { NB_SCHEDULE_CONSTANT, NB_SCHEDULE_STEP, NB_SCHEDULE_COSINE } nb_schedule_kind;

/* Learning rate at a step: constant lr; step: lr·gamma^⌊step/every⌋;
 * cosine: from lr down to lr·min_ratio over total steps. */
typedef struct nb_schedule {
    nb_schedule_kind kind;
    int64_t every;     /* step */
    float gamma;       /* step: 0 → 0.1 */
    int64_t total;     /* cosine */
    float min_ratio;   /* cosine */
} nb_schedule;
NB_API float nb_schedule_lr(nb_schedule s, float lr, int64_t step);

/* ================================================================ data */

/* Examples in memory: x [n, shape…] and y [n, y_width] (class labels are
 * y_width 1 holding the index as a float). Owned by the dataset. A dataset
 * without targets (to run a model on) has y_width 0 and y NULL.
 *
 * The examples are held in one of two forms (the targets are always float):
 *   floats  x [n·numel(shape)], x_u8 NULL: what nb_dataset_new makes;
 *   bytes   x_u8 [n·numel(shape)], x NULL: example value i is the float
 *           quotient x_u8[i] / x_div (correctly rounded, as numpy's or
 *           PyTorch's uint8 → float32 / 255 gives it). A quarter of the
 *           memory: what nb_idx_load_u8 returns (Fashion-MNIST's 60 000
 *           training images are 47 MB as bytes, 188 MB as floats), with
 *           x_div 255.
 * Every function of nabla that takes a dataset (the trainer, CG, the
 * lecture initialiser) accepts either form; the trainer converts each
 * minibatch as it stages it. Code that reads examples itself calls
 * nb_dataset_gather (any examples, either form, as floats), or
 * nb_dataset_to_float once to turn a byte dataset into the float form and
 * then reads x: x is NULL in the byte form, so reading it unconverted is an
 * error. A dataset with both x and x_u8 set is read from x. */
/* Most inputs a model may have (nb_model_io: x and NB_MAX_INPUTS − 1 more). */
#define NB_MAX_INPUTS 8

/* One more input of the examples, for a model with several (an image and a
 * side vector; token ids beside features): the values of example i are
 * [i·numel(shape), (i+1)·numel(shape)) of x (floats) or of x_u8 (bytes,
 * value x_u8[k] / x_div), n examples like the dataset's x. Made by
 * nb_dataset_add_input; owned by the dataset. */
typedef struct nb_dataset_input {
    char name[64];       /* the model input it feeds: the input node's name */
    nb_shape shape;      /* one example's */
    float *x;            /* floats, or NULL */
    uint8_t *x_u8;       /* or bytes, or NULL */
    float x_div;         /* bytes: value = x_u8[k] / x_div */
    bool ids;            /* integer ids (token ids): whole numbers 0…2^24, never scaled */
} nb_dataset_input;

typedef struct nb_dataset {
    int64_t n;
    nb_shape shape;      /* one example's x */
    int64_t y_width;
    int n_classes;       /* 0 when y is not class labels */
    float *x, *y;
    uint8_t *x_u8;       /* the byte form (x is NULL) or NULL */
    float x_div;         /* byte form: value = x_u8[i] / x_div (255: pixels in [0, 1]) */
    bool x_ids;          /* x holds integer ids: whole numbers 0…2^24, never scaled */
    int n_extra;         /* the inputs after x (0: a model of one input) */
    nb_dataset_input *extra;
} nb_dataset;

/* NB_OK when the process can map `bytes` more of private memory now (mapped
 * and unmapped at once, untouched); else NB_ERR_NOMEM and a message "WHAT
 * needs about N MB of address space beyond the U MB in use; the limit is
 * L MB (ulimit -v): about T MB would do" (or ulimit -d, or the system's
 * refusal when no limit is set). For work handed to libraries that do not
 * survive a failed allocation: OpenBLAS, Graphviz's text layout. */
NB_API nb_status nb_memory_check(size_t bytes, const char *what, nb_error *err);

/* The name in `names` (NULL-terminated) closest to a mistyped `word`, for
 * "did you mean": an edit distance d ≤ 2 (Levenshtein, d below the name's
 * length) wins, else a shared prefix (≥ 3 letters when one word is a
 * prefix of the other, else ≥ 4), else a name holding the word (≥ 4
 * letters; '_', '-', '.' and case aside: "crossentropy" in
 * "softmax_cross_entropy"); the first of equals wins. NULL when no
 * name is close. nb_closest_name("epoch", {"epochs", "batch", NULL}) is
 * "epochs". */
NB_API const char *nb_closest_name(const char *word, const char *const *names);

/* n examples of the given shape with y_width targets, zero-filled, in the
 * float form; y_width 0: examples only (y NULL). */
NB_API nb_dataset *nb_dataset_new(int64_t n, nb_shape shape, int64_t y_width, nb_error *err);
/* The same in the byte form: x_u8 zero-filled, values x_u8[i] / x_div
 * (x_div finite and non-zero: 255 for pixels in [0, 1], 1 for the bytes as
 * they are). */
NB_API nb_dataset *nb_dataset_new_u8(int64_t n, nb_shape shape, int64_t y_width, float x_div,
                                     nb_error *err);
NB_API void nb_dataset_free(nb_dataset *ds);
/* Examples [start, start + count) copied into a new dataset of the same
 * form (a byte dataset's slice holds bytes). */
NB_API nb_dataset *nb_dataset_slice(const nb_dataset *ds, int64_t start, int64_t count,
                                    nb_error *err);
/* count examples as floats, whatever the form: examples idx[0..count) (or
 * start, start + 1, … when idx is NULL) into x [count, shape…] and their
 * targets into y [count, y_width]; either buffer may be NULL to skip it.
 * Byte examples are converted (x_u8 / x_div). Refuses a dataset with
 * neither x nor x_u8, and an index outside [0, n), naming it. What the
 * trainer stages each minibatch with. */
NB_API nb_status nb_dataset_gather(const nb_dataset *ds, const int64_t *idx, int64_t start,
                                   int64_t count, float *x, float *y, nb_error *err);
/* Adds an input after x (and the ones added before) to ds: n examples of
 * `shape`, zero-filled, floats (bytes false: x) or bytes (x_u8, x_div 1);
 * returns it (valid until the next nb_dataset_add_input or the dataset is
 * freed) for the caller to fill, and to set x_div or ids. Its name is the
 * model input it feeds, 1–63 characters, unique among the inputs, not "y".
 * Refuses more than NB_MAX_INPUTS inputs in all, a bad name or shape. The
 * trainer feeds input j of the model (nb_model_io.extra[j]) from the input
 * named as its node, or, when the node has no name, the j-th. */
NB_API nb_dataset_input *nb_dataset_add_input(nb_dataset *ds, const char *name, nb_shape shape,
                                              bool bytes, nb_error *err);
/* The input after x named `name`, or NULL. */
NB_API nb_dataset_input *nb_dataset_find_input(const nb_dataset *ds, const char *name);
/* As nb_dataset_gather, for the examples of input k after x (0-based:
 * ds->extra[k]), as floats into x [count, shape…]. */
NB_API nb_status nb_dataset_gather_input(const nb_dataset *ds, int k, const int64_t *idx,
                                         int64_t start, int64_t count, float *x, nb_error *err);
/* Turns a byte dataset into the float form in place (x allocated and
 * filled, x_u8 freed and NULL); a float dataset is left as it is. For code
 * that reads ds->x directly. On failure (out of memory) ds is unchanged.
 * The inputs after x keep their form (read them with
 * nb_dataset_gather_input). */
NB_API nb_status nb_dataset_to_float(nb_dataset *ds, nb_error *err);
/* A held-out set: k = round(fraction·n) examples of ds (0 < fraction < 1,
 * and 1 <= k <= n − 1, else refused naming both numbers) copied to *held,
 * the other n − k to *rest, both in ds's order and form. Which examples
 * are held out depends on seed alone: the first k indices of a shuffle
 * (nb_rng_shuffle) of 0…n−1 by nb_rng_seed(seed ^ 0x76616C6964617465),
 * a generator apart from the trainer's, so the split is taken before and
 * whatever the presentation order. held_index (NULL, or room for k)
 * receives their indices in ds, ascending. The caller frees both sets. */
NB_API nb_status nb_dataset_split(const nb_dataset *ds, double fraction, uint64_t seed,
                                  nb_dataset **rest, nb_dataset **held, int64_t *held_index,
                                  nb_error *err);

/* Refuses the first input of ds that is not finite or lies beyond ±2^64
 * (≈1.8e19: its square overflows float32), then the first target that is
 * not finite, naming the example, the value's place in it and the value:
 * "example 2 holds 1e+30 (input value 145 of 784): inputs beyond …"; the
 * inputs after x likewise ("(value 1 of 3 of input 'side')"). One pass;
 * what nb_trainer_fit checks every set with before its first step. */
NB_API nb_status nb_dataset_check_values(const nb_dataset *ds, nb_error *err);

/* What a set of examples holds, over every input value as the model sees
 * it (bytes already divided by x_div): what training saw is kept with the
 * weights, so inputs given later can be compared with it. */
typedef struct nb_input_range {
    int64_t count;     /* values; 0: nothing known */
    double min, max;
    double mean, std;  /* std: the population standard deviation */
    float x_div;       /* the examples were bytes divided by this; 0: they were floats */
} nb_input_range;
/* The range of ds's examples (either form; the finite values only). */
NB_API nb_input_range nb_dataset_input_range(const nb_dataset *ds);
/* Whether inputs `given` fall far outside those a model was trained on:
 * below trained.min − w or above trained.max + w, w = trained.max −
 * trained.min (or, when that is 0, max(|min|, |max|, 1)): a model trained
 * on pixels in [0, 1] and given [0, 255] is. False when either count is 0.
 * When true and msg is not NULL, a sentence for the user in msg:
 * "inputs range 0…255 but the model was trained on 0…1 (bytes divided by
 * 255)". Inputs inside the range (or a little beyond it) are never flagged. */
NB_API bool nb_input_range_outside(const nb_input_range *trained, const nb_input_range *given,
                                   char *msg, size_t size);

/* An IDX image file (ubyte, [n, rows, cols], gzip or plain) and its label
 * file, as x [n, 1, rows, cols] scaled to [0, 1] and class labels. Refuses a
 * missing file, a wrong magic number, truncated data, or counts that differ,
 * naming the file. nb_idx_load returns the float form (x), four bytes per
 * pixel; nb_idx_load_u8 the byte form (x_u8, x_div 255), one byte per
 * pixel, which the trainer converts per minibatch: the one to train from.
 * Both give the same values, pixel / 255.0f. */
NB_API nb_dataset *nb_idx_load(const char *images_path, const char *labels_path, nb_error *err);
NB_API nb_dataset *nb_idx_load_u8(const char *images_path, const char *labels_path,
                                  nb_error *err);

/* Examples as they arrive, one at a time, from a FILE (what `nabla train
 * --stream` learns from): d inputs and k targets per example, never more
 * than one example held.
 *   NB_STREAM_CSV  one example per line, "x1,...,xd,y1,...,yk"; blank
 *                  lines and lines starting with '#' are skipped;
 *   NB_STREAM_F32  raw little-endian float32 records of d + k values.
 * Refused, naming the line or record (and the field): a wrong count of
 * numbers, an empty field, a field that is not a finite number, a NUL byte
 * in a CSV line, a record cut short, a non-finite value; with classes > 0
 * (and k = 1), a target that is not a whole number in 0..classes-1. */
typedef enum nb_stream_format { NB_STREAM_CSV, NB_STREAM_F32 } nb_stream_format;
typedef struct nb_stream_opts {
    nb_stream_format format;
    int64_t d, k;         /* inputs (>= 1) and targets (>= 0) per example */
    int64_t classes;      /* > 0: the target is a class index below this; 0: any number */
    const char *name;     /* what messages call the input ("stdin line 3: ..."); NULL: "input" */
} nb_stream_opts;
typedef struct nb_stream nb_stream;
/* A reader of `in` (borrowed: the caller closes it after nb_stream_free). */
NB_API nb_stream *nb_stream_new(FILE *in, nb_stream_opts o, nb_error *err);
/* The next example into x[d] and y[k]: 1 when one was read, 0 at the end
 * of input, -1 when it was refused (err says why; x and y unchanged). */
NB_API int nb_stream_read(nb_stream *s, float *x, float *y, nb_error *err);
/* Lines (CSV, blank and comment lines counted) or records (f32) read so far. */
NB_API int64_t nb_stream_position(const nb_stream *s);
NB_API void nb_stream_free(nb_stream *s);

/* ================================================================ training
 *
 * The trainer owns a graph and builds the user's model into it through a
 * callback: once per batch size it needs (the training batch, a shorter last
 * batch, the evaluation batch) and per mode, sharing the parameters by name
 * (reuse). The callback reads the mode with nb_graph_training(g).
 */
typedef struct nb_model_io {
    nb_node *x;       /* input [batch, shape…] */
    nb_node *y;       /* targets [batch] or [batch, y_width] */
    nb_node *output;  /* predictions: accuracy is argmax (or > 0 for one unit) */
    nb_node *loss;    /* scalar */
    /* A model of several inputs: the ones after x, [batch, their shape…],
     * each fed from the dataset's input of its node's name (nb_dataset_add_input) */
    int n_extra;
    nb_node *extra[NB_MAX_INPUTS - 1];
} nb_model_io;

typedef nb_status (*nb_model_fn)(nb_graph *g, int64_t batch, nb_model_io *io, void *ud);

typedef struct nb_progress {
    int epoch, epochs;          /* 1-based */
    int64_t step, steps;        /* within the epoch, 1-based */
    int64_t global_step;
    double loss;                /* this batch */
    double q;                   /* the running estimate Q = (1-η)Q + ηε */
    double mean_loss;           /* the epoch's mean training loss so far: Σ loss_b·n_b / Σ n_b
                                   over its batches b (the loss each example was trained with) */
    double train_acc;           /* over the epoch so far */
    double lr;
    double seconds;             /* since the epoch started */
    int64_t examples;           /* seen this epoch */
    double test_loss, test_acc; /* on_epoch only, when an evaluation set is given */
    double val_loss, val_acc;   /* on_epoch only, with a validation set (else NaN) */
    int best_epoch;             /* with a validation set: the epoch whose monitored metric is
                                   the best so far (0: none yet) */
    bool early_stopped;         /* on_epoch: patience epochs without improvement: training
                                   stops after this epoch */
    bool stopped;               /* Q stabilised: training stops after this */
} nb_progress;

/* The validation metric early stopping watches: the loss (lower is
 * better) or the accuracy (higher is better). */
typedef enum nb_monitor { NB_MONITOR_VAL_LOSS, NB_MONITOR_VAL_ACC } nb_monitor;

/* The processes of a data-parallel run (MPI; see "data parallelism" below). */
typedef struct nb_dist nb_dist;

typedef struct nb_train_opts {
    int64_t batch;              /* 0 → 32; with dist, the global batch, shared out */
    int epochs;                 /* 0 → 1 */
    uint64_t seed;              /* weights, order, dropout */
    bool no_shuffle;            /* present examples in the dataset's order */
    bool hardest_first;         /* each epoch, examples with the largest current loss first */
    nb_optimizer_opts optimizer; /* {0}: SGD; lr 0 → the kind's default (others as given) */
    nb_schedule schedule;
    float clip_norm;            /* 0: no clipping */
    double q_eta;               /* 0 → 0.01 */
    double q_stop_rtol;         /* > 0: stop when Q changes by less than this … */
    int64_t q_stop_window;      /* … relatively over this many steps (0 → 1000) */
    int64_t eval_batch;         /* 0 → 256 */
    /* Validation: after each epoch the trainer evaluates a validation set
     * (val_loss, val_acc in nb_progress), held out of the training set
     * (validation, a fraction: nb_dataset_split with the seed above, the
     * same examples at every fit and resume) or given apart
     * (validation_data, borrowed: it must outlive nb_trainer_fit); not
     * both. The test set passed to fit stays apart from either. */
    double validation;          /* in (0, 1); 0: none */
    const nb_dataset *validation_data;
    /* Early stopping (needs validation): training stops after `patience`
     * epochs in a row in which the monitored metric did not beat the best
     * so far by more than min_delta (loss < best − min_delta, accuracy >
     * best + min_delta). At the end of fit, stopped early or not, the
     * weights (every parameter, batch norm statistics too) of the best
     * epoch are restored, unless no_restore_best: nabla restores by
     * default, unlike Keras's restore_best_weights=False, because the last
     * `patience` epochs are by definition no better and a user who asked to
     * stop early wants the model validation chose. */
    int patience;               /* > 0: early stopping; 0: off */
    double min_delta;           /* >= 0 */
    nb_monitor monitor;         /* NB_MONITOR_VAL_LOSS (default) */
    bool no_restore_best;       /* keep the last epoch's weights */
    /* A checkpoint saved from on_epoch holds that epoch's weights and the
     * best so far (nb_checkpoint_save): resumed, the run stops and restores
     * as the uninterrupted one would. */
    void (*on_step)(const nb_progress *p, void *ud);
    void (*on_epoch)(const nb_progress *p, void *ud);
    void *ud;
    /* Data parallelism (borrowed; NULL or one rank: one process alone):
     * nb_trainer_fit and nb_trainer_evaluate run on every rank of the
     * group together, each with its share of every batch ("data
     * parallelism" below); every rank must make its trainer with the same
     * options and call them alike. */
    nb_dist *dist;
} nb_train_opts;

typedef struct nb_trainer nb_trainer;

/* A trainer for examples of the given shape with y_width targets; builds
 * the training model at once (so parameters exist and can be loaded). */
NB_API nb_trainer *nb_trainer_new(nb_model_fn build, void *ud, nb_shape example_shape,
                                  int64_t y_width, const nb_train_opts *opts, nb_error *err);
NB_API void nb_trainer_free(nb_trainer *t);
/* The graph holding the model and its parameters. */
NB_API nb_graph *nb_trainer_graph(nb_trainer *t);
/* Trains for the configured epochs (or until Q stabilises, or early
 * stopping ends it), evaluating the validation set (nb_train_opts) and
 * test, when it is not NULL, after each epoch.
 * Numbers are checked, cheaply: before the first step every set is scanned
 * and an input or target that is not finite, or an input beyond ±2^64
 * (≈1.8e19, whose square overflows float32), is refused naming the set,
 * the example and the value. Each step checks its loss and, with one pass
 * over them, its gradients: the first that is not finite stops training
 * before the update (the weights stay those of the step before), with a
 * message naming the epoch and step, the parameter for a gradient, and
 * what each example of the batch gives alone (the example whose own loss
 * is not finite, by its index in train, or that they all are: diverged). */
NB_API nb_status nb_trainer_fit(nb_trainer *t, const nb_dataset *train, const nb_dataset *test);
/* Mean loss and accuracy over a dataset, in inference mode. */
NB_API nb_status nb_trainer_evaluate(nb_trainer *t, const nb_dataset *ds, double *loss,
                                     double *accuracy);
/* The last error, "" when none. */
NB_API const char *nb_trainer_error(const nb_trainer *t);
/* What the trainer's model was trained on: the range of the training set's
 * inputs at the last nb_trainer_fit, or of every example given to
 * nb_trainer_step so far (count 0 before either). Save it with the weights
 * (nb_weights_opts.inputs) so later inputs can be compared. */
NB_API nb_input_range nb_trainer_input_range(const nb_trainer *t);

/* ---------------------------------------------------------------- classification report
 * What a classifier's scores say beyond accuracy, over n labelled examples
 * with C classes (C = width, or 2 for one score per example, predicted 1
 * when the score is > 0 and true 1 when the label is > 0.5):
 *   confusion[t·C + p]  examples of true class t predicted p (the first
 *                       largest score)
 *   precision_c = TP_c / (TP_c + FP_c), recall_c = TP_c / (TP_c + FN_c),
 *   f1_c = 2·precision_c·recall_c / (precision_c + recall_c); 0 where a
 *   denominator is 0; macro_f1 = mean_c f1_c
 *   top_k_accuracy      the label's class among the k highest scores
 *                       (ties broken toward the smaller index, so top-1 is
 *                       accuracy) */
typedef struct nb_class_report {
    int classes;                     /* C */
    int64_t n;                       /* examples */
    int top_k;                       /* k; 0: top_k_accuracy not computed */
    double accuracy, top_k_accuracy, macro_f1;
    int64_t *confusion;              /* [C, C]: row the true class, column the predicted */
    double *precision, *recall, *f1; /* [C] each */
} nb_class_report;

/* The report of scores [n, width] against labels [n] (class indices 0…C−1
 * as floats). Refuses n < 1, a label that is not a class index (naming the
 * example and the label) and top_k outside 0…C. Free with
 * nb_class_report_free. */
NB_API nb_status nb_class_report_compute(const float *scores, int64_t width, const float *labels,
                                         int64_t n, int top_k, nb_class_report *r, nb_error *err);
NB_API void nb_class_report_free(nb_class_report *r);
/* The same for the trainer's model over ds (inference mode, evaluation
 * batches): its outputs are the scores; ds must hold one class label per
 * example. loss (may be NULL) gets the mean loss, as nb_trainer_evaluate. */
NB_API nb_status nb_trainer_class_report(nb_trainer *t, const nb_dataset *ds, int top_k,
                                         nb_class_report *r, double *loss);

/* One training step on n examples given directly (x: n·numel(shape),
 * y: n·y_width floats), for learning from a stream: builds the model for
 * batch n on first use, updates the parameters and Q. loss may be NULL.
 * Refuses a value of x or y that is not finite (naming the example), as
 * fit refuses one in its sets. */
NB_API nb_status nb_trainer_step(nb_trainer *t, const float *x, const float *y, int64_t n,
                                 double *loss);
/* The running estimate Q after the last step. */
NB_API double nb_trainer_q(const nb_trainer *t);
/* Examples skipped so far: a batch shorter than the trainer's that the
 * model cannot be built for in training mode (batch norm over one value
 * per channel) is skipped, not fatal: fit leaves an epoch's short last
 * batch out, nb_trainer_step returns NB_OK with *loss NAN and takes no
 * step. nb_trainer_error then says why the model did not build. */
NB_API int64_t nb_trainer_skipped(const nb_trainer *t);
/* The mean loss over examples [start, start + count) of ds and its gradient
 * (grads: nb_optimizer_size floats, in the optimiser's order), at the
 * current parameters, without changing them: what batch methods such as
 * conjugate gradients work with. */
NB_API nb_status nb_trainer_loss_grad(nb_trainer *t, const nb_dataset *ds, int64_t start,
                                      int64_t count, float *grads, double *loss);
/* Each example's own loss, in inference mode (losses: ds->n doubles). */
NB_API nb_status nb_trainer_example_losses(nb_trainer *t, const nb_dataset *ds, double *losses);

/* ================================================================ data parallelism (MPI)
 * (train/dist_mpi.c, train/dist.c, train/dist_sum.c) Training across processes and hosts,
 * on MPI (the -Dmpi build option; without MPI, nb_dist_new refuses with
 * NB_ERR_UNAVAILABLE and a NULL group acts as one process alone):
 *
 *     mpirun -np 4 ./my_training          (or: mpirun -np 4 nabla train m.yaml)
 *
 * Every process (rank) holds the whole model. Given a group (nb_train_opts
 * .dist), nb_trainer_fit does, on every rank at once:
 *   - rank 0's parameters (every one, batch-norm statistics too), optimiser
 *     state and training state (epoch, step, Q, generator, early stopping,
 *     best weights) are sent to all before the first epoch, so a checkpoint
 *     need be loaded on rank 0 alone (and may come from a run of another
 *     size);
 *   - each epoch's order is drawn from the shared generator, the same on
 *     every rank; a global batch of B examples (opts.batch) is shared out
 *     in contiguous parts: rank r of N takes B/N examples (the first B mod N
 *     ranks one more; a rank may get none of a short last batch);
 *   - forward and backward run on the rank's part; its gradients, times
 *     its part of the batch (b_r / B), are summed over the ranks
 *     (MPI_Iallreduce, in place, in contiguous buckets of whole
 *     parameters, each started as soon as backward has made its
 *     gradients, so the later layers' sums travel while the earlier
 *     layers' backward runs; the bucket of the first layer, which
 *     backward finishes last, is summed at the end): the gradient of
 *     the global batch's mean loss, as one process with batch B computes
 *     it, up to the order of float summation; the update then gives every
 *     rank the same weights. The large parameters (16 384 values or more)
 *     of the part summed at the end are sharded, as ZeRO stage 1 does: a
 *     reduce-scatter leaves each rank the sum of its piece, the rank
 *     updates that piece and its optimiser slots, and an allgather sends
 *     the new values to every rank. When every rank is on one host (and
 *     NABLA_DIST_SHM is not 0), from the second step on those gradients
 *     are summed through a window of shared memory instead, and during
 *     fit those parameters' values live in it (nb_param_place): one copy
 *     that every rank reads and updates its piece of in place, barriers
 *     keeping a rank's reads from another's writes; nb_param_data gives
 *     the shared copy there, so on_step and on_epoch must not write those
 *     parameters, and at the end of fit each rank gets its own copy
 *     back. So during an epoch each rank's
 *     optimiser slots (nb_trainer_optimizer) are current for its own
 *     pieces only; after every epoch (before on_epoch, so a checkpoint
 *     written there is whole) and at the end of fit every rank holds them
 *     all;
 *   - the loss and accuracy of a step, and so Q = (1−η)Q + ηε, are the
 *     global batch's; dropout masks are the ones one process would draw
 *     for the global batch (nb_runtime_fill_noise_rows);
 *   - batch normalisation normalises with the statistics of the rank's
 *     part (as PyTorch's DistributedDataParallel does without
 *     SyncBatchNorm: with batch norm, N ranks are not one process); its
 *     running statistics are averaged over the ranks (weighted by part)
 *     after each step, so every rank holds the same;
 *   - nb_trainer_evaluate splits the set over the ranks and sums: every
 *     rank gets the same loss and accuracy;
 *   - a rank that fails (bad data, out of memory, a non-finite step) makes
 *     every rank fail with its message, "rank 1 of 4: …": the ranks agree
 *     on the status after each phase that can fail, so none waits forever.
 * The callbacks run on every rank; write files on rank 0 (nb_dist_rank).
 * nb_trainer_step, nb_trainer_loss_grad, conjugate gradients, growing and
 * predictions stay per process.
 */

/* A group for the ranks of a communicator: comm is the address of an
 * MPI_Comm (duplicated, so nabla's messages never meet the caller's), or
 * NULL for MPI_COMM_WORLD, initialising MPI (MPI_THREAD_FUNNELED) when the
 * program has not; nb_dist_free then finalises it. Collective: every rank
 * calls it. NULL with err set when nabla was built without MPI. */
NB_API nb_dist *nb_dist_new(const void *comm, nb_error *err);
NB_API void nb_dist_free(nb_dist *d);
/* This process's rank (0 for NULL) and the number of ranks (1 for NULL). */
NB_API int nb_dist_rank(const nb_dist *d);
NB_API int nb_dist_size(const nb_dist *d);
/* Sums v[0..n) over the ranks, in place (MPI_IN_PLACE, contiguous buckets).
 * Collective, like every call below. */
NB_API nb_status nb_dist_allreduce(nb_dist *d, float *v, int64_t n, nb_error *err);
/* For a loop of one's own: the values of gradient nodes grads[0..n) that
 * rt computed (outer products formed), times scale, written end to end
 * into out (Σ numel floats: nb_optimizer_step's order when grads follow
 * the optimiser's parameters), then summed over the ranks. With each rank's
 * loss the mean over its b_r of B examples, scale = b_r / B gives the
 * gradient of the global batch's mean loss:
 *
 *     nb_dist_allreduce_grads(d, rt, grads, n, (float)b_r / B, g_sum, &err);
 *     nb_optimizer_step(opt, g_sum, lr);     // alike on every rank */
NB_API nb_status nb_dist_allreduce_grads(nb_dist *d, const nb_runtime *rt,
                                         nb_node *const *grads, int n, float scale, float *out,
                                         nb_error *err);
/* bytes of buf from rank 0 to every rank. */
NB_API nb_status nb_dist_broadcast(nb_dist *d, void *buf, int64_t bytes, nb_error *err);
/* The values of params[0..n) (parameter nodes) from rank 0 to every rank:
 * the same starting point everywhere. */
NB_API nb_status nb_dist_broadcast_params(nb_dist *d, nb_node *const *params, int n,
                                          nb_error *err);
/* Agreement after a phase that can fail on some ranks alone: every rank
 * passes its status (and, when it failed, err holding its message); every
 * rank gets NB_OK when all passed NB_OK, else the status of the lowest
 * failing rank, with err holding "rank R of N: <its message>". So every
 * rank takes the same branch afterwards and none waits for a rank that
 * gave up. For NULL (one process): st, err unchanged. */
NB_API nb_status nb_dist_agree(nb_dist *d, nb_status st, nb_error *err);
/* What this rank's reductions cost so far: calls (one per bucket), bytes
 * handed to them (each rank sends and receives about 2·(N−1)/N of it in a
 * ring), of those the bytes whose sum started while the trainer's backward
 * pass still ran (overlapped with it), and wall seconds inside the calls,
 * waiting for slower ranks included. */
typedef struct nb_dist_stats {
    int64_t calls;
    int64_t bytes;
    int64_t overlapped;
    double seconds;
} nb_dist_stats;
NB_API nb_dist_stats nb_dist_get_stats(const nb_dist *d);

/* ================================================================ the trained network
 * The trainer builds the model several times into one graph (per batch size
 * and mode, parameters shared); these name the one network it trains. */

/* The nodes of the training build: the model at the training batch, in
 * training mode, as nb_trainer_new built it. All NULL for a NULL trainer.
 * Valid until nb_trainer_free. */
NB_API nb_model_io nb_trainer_model_io(const nb_trainer *t);
/* The gradient node of trainable parameter i (nb_trainer_param's order) in
 * that build, or NULL. */
NB_API nb_node *nb_trainer_grad(const nb_trainer *t, int i);
/* One example's shape, as given to nb_trainer_new. */
NB_API nb_shape nb_trainer_example_shape(const nb_trainer *t);
/* Outputs per example: numel(output) / batch (10 for ten logits); -1 for a
 * NULL trainer. */
NB_API int64_t nb_trainer_output_width(nb_trainer *t);

/* ================================================================ predictions
 * (train/predict.c) */

/* Where nb_trainer_predict writes; NULL skips an item. With w the output
 * width (nb_trainer_output_width) and n the number of examples: */
typedef struct nb_predict_out {
    float *output;    /* n·w: the model's output as it is (logits, for a classifier) */
    float *probs;     /* n·w: softmax of the output over each example's w values, taken
                       * as logits; for w = 1 the sigmoid 1 / (1 + e^-output) */
    int64_t *classes; /* n: argmax of the output (the first maximum), for w = 1 output > 0:
                       * the prediction nb_trainer_evaluate's accuracy counts */
} nb_predict_out;

/*
 * The trained model's predictions for every example of ds, in inference
 * mode (dropout is the identity, batch norm uses its running statistics),
 * at the trainer's current parameters (after nb_trainer_fit, or
 * nb_weights_load into nb_trainer_graph). ds's targets are not read, so any
 * y_width will do; its examples must have the trainer's example shape.
 * Example i's results do not depend on the others in the call. Refuses a
 * shape that differs (naming both), no examples and nothing to write, with
 * the message in nb_trainer_error.
 *
 *     float logits[n * 10]; int64_t cls[n];
 *     nb_trainer_predict(t, test, (nb_predict_out){.output = logits, .classes = cls});
 */
NB_API nb_status nb_trainer_predict(nb_trainer *t, const nb_dataset *ds, nb_predict_out out);
/* The same for n examples given as floats, x [n, example shape…]. */
NB_API nb_status nb_trainer_predict_array(nb_trainer *t, const float *x, int64_t n,
                                          nb_predict_out out);

/* ================================================================ training state
 * What a checkpoint holds beyond the weights, so a resumed run continues
 * exactly as the uninterrupted one would. */

typedef struct nb_train_state {
    int epoch;            /* epochs completed; fit continues with the next */
    int64_t global_step;  /* optimiser steps taken */
    double q;             /* the running estimate Q */
    nb_rng rng;           /* presentation order and dropout */
    int best_epoch;       /* validation: the best epoch so far (0: none) … */
    double best;          /* … its monitored metric … */
    int bad_epochs;       /* … and the epochs since it (early stopping's count) */
} nb_train_state;

NB_API nb_train_state nb_trainer_state(const nb_trainer *t);
NB_API void nb_trainer_set_state(nb_trainer *t, const nb_train_state *s);
/* The weights of the best epoch, kept for early stopping to restore: every
 * parameter of the graph (trainable and frozen) in nb_graph_param order,
 * end to end (*n floats). NULL while there are none: without patience,
 * with no_restore_best, or before the first validated epoch. After
 * nb_trainer_set_state with best_epoch > 0 (a checkpoint being loaded) the
 * buffer exists for the loader to fill (NULL if memory ran out, which
 * nb_trainer_error then says). */
NB_API float *nb_trainer_best_weights(nb_trainer *t, int64_t *n);
/* The trainer's optimiser (its slots and step count are checkpointed). */
NB_API nb_optimizer *nb_trainer_optimizer(nb_trainer *t);
/* The trainable parameters the optimiser updates, in its order: how many
 * parameter tensors (dense1/w, dense1/b, …: nb_trainer_param's range), and
 * how many numbers they hold together (LeNet-5: 10 tensors, 61 706 numbers). */
NB_API int nb_trainer_num_param_tensors(const nb_trainer *t);
NB_API int64_t nb_trainer_num_param_values(const nb_trainer *t);
NB_API nb_node *nb_trainer_param(const nb_trainer *t, int i);

/* A model's architecture as text, one line per forward node of the model
 * as `build` makes it (in training mode, in a graph of its own, built at
 * batch 2 and again at 3 to tell which numbers follow the batch, N):
 *   "dense1/max = max(#2, 0) [N,8]"    (#k: line k; parameters by name and
 * shape; scalar constants by value). Equal texts: the same function of the
 * same parameters. Checkpoints store it so a resume can refuse another
 * model. build must tolerate being called twice more. nb_free() it;
 * NULL with err set when the model does not build. */
NB_API char *nb_model_architecture(nb_model_fn build, void *ud, nb_error *err);
/* nb_model_architecture of the trainer's model. */
NB_API char *nb_trainer_architecture(const nb_trainer *t, nb_error *err);
/* The model function and its ud the trainer was made with (NULL for NULL). */
NB_API nb_model_fn nb_trainer_model(const nb_trainer *t, void **ud);

/* ####################################################################
 * 3. FILES: YAML, HDF5, DOT, PNG (io/)
 *
 * Model files in YAML (libyaml, always there), and the model a C program
 * built written as one; weights, checkpoints and data in HDF5 (libhdf5);
 * drawings of graphs as DOT, SVG or PNG (Graphviz's cgraph and gvc);
 * pictures as PNG (libpng). The last three libraries are optional when
 * nabla is built (meson -Dhdf5, -Dgraphviz, -Dpng): without one, its calls
 * return NB_ERR_UNAVAILABLE saying "nabla was built without …", and
 * nb_built_with tells in advance. Every file is written to a temporary
 * name beside the target and renamed into place.
 * #################################################################### */

/* ================================================================ model files
 *
 * A model described in YAML (docs/model-format.md): inputs, a sequential
 * `layers:` list or a DAG of `nodes:`, the loss, the optimiser, training
 * and data settings. Parsing is strict: unknown keys and ops, wrong types
 * and missing keys are refused with file:line:column, the key, and a
 * "did you mean" where one is close; tags are refused; aliases, nesting
 * depth and file size are bounded.
 */
typedef struct nb_model_file nb_model_file;

NB_API nb_model_file *nb_model_file_load(const char *path, nb_error *err);
/* From text in memory; `filename` is what messages call it. */
NB_API nb_model_file *nb_model_file_parse(const char *text, size_t len, const char *filename,
                                          nb_error *err);
NB_API void nb_model_file_free(nb_model_file *m);
/* An nb_model_fn: pass the nb_model_file as ud. Builds inputs (io->x is the
 * first, io->extra the others in the file's order), the layers or nodes,
 * the output and the loss (io->y, io->loss; NULL loss when the file names
 * none). */
NB_API nb_status nb_model_file_build(nb_graph *g, int64_t batch, nb_model_io *io, void *model_file);
NB_API const char *nb_model_file_name(const nb_model_file *m);
/* The YAML text as read: what weights files store to rebuild the model. */
NB_API const char *nb_model_file_text(const nb_model_file *m);
/* One example's input shape (the first input) and targets per example. */
NB_API nb_shape nb_model_file_input_shape(const nb_model_file *m);
/* One input the model is fed, as its file declares it. */
typedef struct nb_model_input {
    const char *name;   /* valid until nb_model_file_free */
    nb_shape shape;     /* one example's */
    bool ids;           /* `type: int`: integer ids (token ids), fed exactly, never scaled */
} nb_model_input;
/* The inputs the model is fed, in the file's order (the first is x, the
 * rest nb_model_io.extra; targets `y` declared among them left out), into
 * out[0..max) (out may be NULL); returns how many there are. */
NB_API int nb_model_file_inputs(const nb_model_file *m, nb_model_input *out, int max);
NB_API int64_t nb_model_file_y_width(const nb_model_file *m);
/* One example's output shape, without the batch ([10] for ten logits). */
NB_API nb_shape nb_model_file_output_shape(const nb_model_file *m);
/* batch, epochs, seed, shuffle, optimizer, schedule, clipping, validation
 * and early stopping from the file (defaults where it is silent); callbacks
 * and validation_data left empty. */
NB_API nb_train_opts nb_model_file_train_opts(const nb_model_file *m);

/* Where the file says its data is. */
/* Which dataset of an HDF5 file feeds which model input. */
typedef struct nb_input_source {
    const char *input;    /* the model input's name */
    const char *dataset;  /* the HDF5 dataset feeding it */
} nb_input_source;

typedef struct nb_data_spec {
    const char *format;   /* "idx" or "hdf5"; NULL when the file has no data section */
    const char *dir;      /* idx: the folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz */
    const char *train;    /* hdf5: the training file */
    const char *test;     /* hdf5: the test file, or NULL */
    const char *validation; /* hdf5: the validation file, or NULL (same x, y names) */
    const char *x, *y;    /* hdf5: dataset names, default "X" and "y" */
    const nb_input_source *inputs; /* hdf5: `inputs: {side: S}`, the datasets of named inputs */
    int n_inputs;
} nb_data_spec;
NB_API nb_data_spec nb_model_file_data(const nb_model_file *m);
/* Moves the data the file names to the folder dir: idx reads its four
 * files from dir; hdf5 reads its train and test files from dir under their
 * own names (dir/<file name>). Refuses a file without a data section. */
NB_API nb_status nb_model_file_set_data_dir(nb_model_file *m, const char *dir, nb_error *err);

/* The model's input scaling, the file's `x_div` (default 255): examples
 * stored as bytes (IDX images, uint8 HDF5 datasets) enter the model as
 * byte / x_div, in training and in every later use; examples stored as
 * floats enter as they are. */
NB_API float nb_model_file_x_div(const nb_model_file *m);
/* Applies it to a dataset: a byte dataset's x_div becomes the model's
 * (value = x_u8[i] / x_div); a float dataset is left as it is. Call it on
 * any data before training, evaluating or running the model. */
NB_API nb_status nb_model_file_scale(const nb_model_file *m, nb_dataset *ds, nb_error *err);

/* What nb_model_file_load_data keeps. */
typedef struct nb_data_load_opts {
    int64_t limit;        /* > 0: the first `limit` examples of train (of test when train
                             is not asked for) */
    bool allow_nonfinite; /* HDF5 examples holding NaN or ±inf load (refused by default) */
    /* hdf5: datasets for named inputs (nabla's --input NAME=DATASET), before the data
     * section's `inputs` (at most NB_MAX_INPUTS) */
    const nb_input_source *sources;
    int n_sources;
} nb_data_load_opts;
/* Loads the data the file's data section names (nb_model_file_data): idx
 * reads {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz from its folder,
 * hdf5 its train and test files (datasets x and y). Examples stored as
 * bytes stay bytes with the model's x_div (nb_model_file_scale), as the
 * trainer takes them. train or test may be NULL when that split is not
 * wanted; *test is NULL when the section names no test file. On failure
 * both are NULL and err names the file (and, for a file missing from
 * Debian's dataset folder, the package that installs it); a file without
 * a data section is refused. */
NB_API nb_status nb_model_file_load_data(const nb_model_file *m, nb_dataset **train,
                                         nb_dataset **test, nb_data_load_opts o, nb_error *err);

/* ---------------------------------------------------------------- models written from C
 * (io/model_graph.c, io/model_write.c; docs/model-format.md, "models
 * written from C")
 *
 * A model built in C written as a model file in the nodes: form, so that a
 * weights file saved from C carries its model as a YAML model's does and
 * `nabla inspect/eval/dot/predict W.h5` work on it. The model function is
 * called twice (training mode, batches 2 and 3, graphs of their own). Each
 * of nabla's layers and losses is written as itself (it rebuilds in either
 * mode); everything else as primitive ops, `param` nodes (full name and
 * shape: weights bind by name) and constants (values written out). Names
 * and scopes are kept, so the file rebuilds the same nb_model_architecture.
 * Refused, naming the node: a loss other than nabla's four, user ops
 * (nb_custom, nb_threshold), a node reading inside a layer, noise or state
 * updates outside dropout and batch norm, ops over the batch axis, options
 * or constants that follow the batch otherwise than by a leading N.
 */
typedef struct nb_model_yaml_opts {
    const char *name;     /* the model's name; NULL: "model" */
    float x_div;          /* > 0: written as the model's x_div (else the default, 255) */
    nb_data_spec data;    /* format not NULL: written as the data: section */
} nb_model_yaml_opts;
/* The YAML text (nb_free() it), read back once before it is
 * returned; NULL with err set when the model cannot be described. o may be
 * NULL. */
NB_API char *nb_model_yaml(nb_model_fn build, void *ud, const nb_model_yaml_opts *o,
                           nb_error *err);
/* nb_model_yaml of the trainer's model function. */
NB_API char *nb_trainer_model_yaml(const nb_trainer *t, const nb_model_yaml_opts *o,
                                   nb_error *err);
/* nb_weights_save of the trainer's graph with nb_trainer_model_yaml's
 * text as /model_yaml: the weights file `nabla inspect/eval/dot/predict`
 * read as they read one a YAML model trained. Nothing is written when the
 * model cannot be described. */
NB_API nb_status nb_trainer_save(nb_trainer *t, const char *path, const nb_model_yaml_opts *o,
                                 nb_error *err);

/* ================================================================ HDF5 files
 *
 * Layout (h5py and h5dump read it without nabla):
 *   /                       attrs format = "nabla", version = 1
 *   /model_yaml             the model's YAML text (a string dataset)
 *   /params/<scope>/<name>  float32, the parameter's shape; attr layout
 *   /state/<scope>/<name>   frozen parameters (batch norm running statistics)
 *   /optimizer/<scope>/<name>/slot0, slot1   checkpoints: Adam's m, v;
 *                           RMSprop's momentum, mean square; SGD's velocity,
 *                           zeros; attr kind on /optimizer: "sgd", "adam", "rmsprop"
 *   /architecture           checkpoints: nb_trainer_architecture's text
 *   /train                  checkpoints: attrs epoch, global_step, q, rng,
 *                           optimizer_steps (and best_epoch, best, bad_epochs
 *                           with validation)
 *   /best/<scope>/<name>    checkpoints with early stopping: every parameter
 *                           at the best epoch, so a resumed run restores it
 *   /inputs                 attrs count, min, max, mean, std, x_div: what
 *                           training saw of the inputs (nb_input_range)
 * Files are written in HDF5 1.10's format (HDF5 1.10 or later reads them):
 * its metadata carries checksums and every tensor the Fletcher-32 filter,
 * so a damaged file is refused as damaged, never decoded or loaded as
 * other values.
 * Every write goes to a temporary file in the same folder, is flushed and
 * renamed over the target: a crash never leaves a damaged file in place of
 * a good one. A writer killed mid-write leaves its ".<name>.tmp-<pid>"; the
 * next save or load of that path removes those whose process no longer
 * exists (kill(pid, 0) fails with ESRCH) and that no one holds locked,
 * never a live process's. Loading matches by name, never by order, and
 * refuses a missing or mis-shaped parameter naming its path and both shapes.
 */
/* model_yaml (may be NULL: none) is stored as /model_yaml; a model built in
 * C gets its text from nb_model_yaml, or saves through nb_trainer_save. */
NB_API nb_status nb_weights_save(nb_graph *g, const char *path, const char *model_yaml,
                                 nb_error *err);
/* Loading refuses a value that is not a finite float32 (NaN, ±inf, or a
 * float64 beyond float32's ±3.4e38, which would become ±inf), naming the
 * file, the dataset, the element's index and its value; checkpoints too. */
NB_API nb_status nb_weights_load(nb_graph *g, const char *path, nb_error *err);
/* How nb_weights_save_with writes and nb_weights_load_with reads. */
typedef struct nb_weights_opts {
    bool allow_nonfinite;          /* load: take NaN and ±inf as they are (to inspect a
                                      broken file) instead of refusing them */
    const nb_input_range *inputs;  /* save: what training saw of the inputs
                                      (nb_trainer_input_range), written as /inputs; NULL: none */
} nb_weights_opts;
/* nb_weights_save(g, p, y, e) is nb_weights_save_with(g, p, y, (nb_weights_opts){0}, e),
 * nb_weights_load(g, p, e) is nb_weights_load_with(g, p, (nb_weights_opts){0}, e). */
NB_API nb_status nb_weights_save_with(nb_graph *g, const char *path, const char *model_yaml,
                                      nb_weights_opts o, nb_error *err);
NB_API nb_status nb_weights_load_with(nb_graph *g, const char *path, nb_weights_opts o,
                                      nb_error *err);
/* The /inputs of a weights or checkpoint file into *r: r->count 0 (and NB_OK)
 * when the file has none (written before nabla kept it, or from C code that
 * passed none). */
NB_API nb_status nb_weights_input_range(const char *path, nb_input_range *r, nb_error *err);
/* The /model_yaml text of a weights or checkpoint file; nb_free() it. */
NB_API char *nb_weights_model_yaml(const char *path, nb_error *err);
NB_API nb_status nb_checkpoint_save(nb_trainer *t, const char *path, const char *model_yaml,
                                    nb_error *err);
/* Restores the weights, optimiser state and training position, so fit
 * continues exactly where the checkpoint's run stood. Refuses, before
 * changing anything, a checkpoint of another model (its architecture
 * differs: the message names the layer and both computations) or of
 * another optimiser kind ("checkpoint has adam state (m, v); this model
 * trains with sgd"). Training settings (epochs, batch, lr, momentum,
 * schedule) may differ. A checkpoint from before architectures were stored
 * is compared through its /model_yaml; one with neither is checked by its
 * parameters' names and shapes only.
 * Every field read is checked before anything changes, and the first bad
 * one named with its value: epoch ∈ [0, 10^9]; global_step ∈ [0, 2^53];
 * optimizer_steps ∈ [0, global_step]; q, best finite; rng 4 unsigned
 * 64-bit integers, not all zero; best_epoch ∈ [1, epoch] and bad_epochs ∈
 * [0, epoch - best_epoch], with best, all three or none; integers where
 * integers are meant, one value where one is meant; slots all there, none
 * extra, of the model's shapes, finite; slot1 ≥ 0 (Adam, RMSprop) or zero
 * (SGD); /best finite. */
NB_API nb_status nb_checkpoint_load(nb_trainer *t, const char *path, nb_error *err);
/* The same, but the optimiser starts afresh (slots and step count zero)
 * and its kind is not compared: to resume with another optimiser. The
 * architecture must still agree. */
NB_API nb_status nb_checkpoint_load_weights(nb_trainer *t, const char *path, nb_error *err);

/* A user's data: datasets x_name (N×…) and y_name (N or N×k), numeric,
 * converted to float32. NULL names mean "X" and "y". */
NB_API nb_dataset *nb_hdf5_dataset_load(const char *path, const char *x_name, const char *y_name,
                                        nb_error *err);
/* How nb_hdf5_data_load reads a data file. */
typedef struct nb_hdf5_data_opts {
    const char *x, *y;   /* dataset names; NULL: "X" and "y" */
    bool no_targets;     /* read the examples only: y_width 0, y NULL (y need not exist) */
    bool keep_bytes;     /* examples stored as uint8 stay bytes: x_u8 with x_div 1 (the values
                            as stored), so a model's x_div can scale them (nb_model_file_scale) */
    bool allow_nonfinite; /* take NaN and ±inf values as they are; by default a value of X
                            or y that is not a finite float32 is refused, naming the file, the
                            dataset, the example and the value */
    /* A model's inputs, each from its dataset (NULL: X alone). The first
     * input (x) is read from the dataset a source names for it, else x
     * above, else the dataset of the input's name when the file has one,
     * else X; each input after it from the dataset a source names, else
     * the dataset of its name, into the dataset's inputs after x
     * (nb_dataset_add_input). Every one must hold as many examples as y. An
     * input of `type: int` holds integer ids: any numeric dataset (uint8
     * kept as bytes with x_div 1, int32, int64, float) whose values are
     * whole numbers 0…2^24, else refused naming the dataset, the example
     * and the value. A source naming no input of the model is refused. */
    const nb_model_file *model;
    const nb_input_source *sources;
    int n_sources;
} nb_hdf5_data_opts;
/* nb_hdf5_dataset_load with options: nb_hdf5_dataset_load(p, x, y, e) is
 * nb_hdf5_data_load(p, (nb_hdf5_data_opts){.x = x, .y = y}, e). */
NB_API nb_dataset *nb_hdf5_data_load(const char *path, nb_hdf5_data_opts o, nb_error *err);

/* Named float32 arrays written to a new HDF5 file (atomically, as above);
 * names may contain '/' for groups. */
typedef struct nb_array {
    const char *name;
    nb_shape shape;
    const float *data;
} nb_array;
NB_API nb_status nb_hdf5_write(const char *path, const nb_array *arrays, int n, nb_error *err);

/* ================================================================ drawing
 *
 * Any graph to DOT through Graphviz's cgraph: nodes labelled with their op
 * and output shape; inputs, parameters and constants shaped apart; each
 * layer's nodes in a cluster named after its scope; the backward pass, on
 * request, styled apart. A path ending in .svg or .png is rendered through
 * gvc (no `dot` program needed; a PNG is 8-bit with a 216-colour palette,
 * over white); anything else gets DOT text.
 */
typedef struct nb_dot_opts {
    bool backward;        /* include the nodes nb_grad appended */
    const char *title;
} nb_dot_opts;

/* Draws what the outputs need (every node when outputs is NULL). */
NB_API nb_status nb_dot_write(nb_graph *g, nb_node *const *outputs, int n, nb_dot_opts o,
                              const char *path, nb_error *err);
/* Draws the plan rt executes (nb_runtime_step): one box per step in run
 * order, each fused group one box filled green and bold that names its
 * pattern and its members' ops, view steps (reshape) dotted, each box with
 * its value's shape and the planned buffer (and size) holding it; the
 * title gives the step count, the fused count and the planned bytes with
 * and without reuse. Members folded into a group and values no step reads
 * have no box. A graph drawn with nb_dot_write stays made of primitives;
 * this shows what runs (NABLA_FUSION=0 or nb_set_fusion(false) before
 * nb_runtime_new: every op its own step). */
NB_API nb_status nb_runtime_dot_write(const nb_runtime *rt, nb_dot_opts o, const char *path,
                                      nb_error *err);
/* Draws the one network a trainer trains (nb_trainer_model_io: its output
 * and loss at the training batch, in training mode; with o.backward the
 * gradient of every trainable parameter too), not every batch size and
 * mode the trainer built into its graph. o.title NULL: no title. */
NB_API nb_status nb_trainer_dot_write(nb_trainer *t, nb_dot_opts o, const char *path,
                                      nb_error *err);

/* ================================================================ ONNX
 * (io/onnx_export.c; needs protobuf-c, else NB_ERR_UNAVAILABLE) */

/*
 * Writes the model `build` makes, in inference mode, as an ONNX file
 * (opset 13) that ONNX Runtime, OpenCV's dnn module and Netron read. The
 * batch is the symbolic first axis "N". nabla's layers become ONNX
 * operators: dense MatMul + Add, conv2d Conv, conv_transpose2d
 * ConvTranspose (output_padding, groups, dilation), maxpool2d
 * MaxPool, avgpool2d AveragePool (kernel, strides, pads per side and
 * dilations as the layer's; ceil_mode only where opset 13's rounding gives
 * nabla's size, else the last window's overhang as trailing pads; an
 * average counting the padding as Pad, then AveragePool with
 * count_include_pad 0, which OpenCV reads right), batchnorm
 * BatchNormalization with the running statistics, groupnorm as PyTorch
 * writes nn.GroupNorm (Reshape, InstanceNormalization, Reshape, Mul gamma,
 * Add beta), dropout nothing, activations their own operators; every other
 * node,
 * inside other layers too (embedding, layernorm, local2d, the recurrent
 * layers), op by op from its primitive (unfold2d as a Conv with a constant
 * 0/1 kernel, fold2d as its ConvTranspose). Parameters keep nabla's full
 * names ("conv2d1/w") and take the values of the parameters of the same
 * names in `weights` (a trainer's graph, or one nb_weights_load filled);
 * NULL: the model's initial values. Refused, naming the node: user ops,
 * noise outside dropout, a dilated average pooling (AveragePool has
 * dilations from opset 19), nodes only backward passes make, values that
 * follow the batch otherwise than by its length. The file is written to a
 * temporary name and renamed into place.
 */
NB_API nb_status nb_onnx_export(nb_model_fn build, void *ud, nb_graph *weights, const char *path,
                                nb_error *err);
/* The ONNX file at onnx_path (what torch.onnx.export writes for MLPs and
 * CNNs) as a nabla model: the YAML text of the `nodes:` form to yaml_path
 * and its parameters to the weights file weights_path (which holds that
 * text as /model_yaml too), so `nabla predict`, `eval` and `dot` take it
 * (and `nabla train --init-weights`, given a data section). Imported: Gemm (transA = 0;
 * alpha and beta scale the weight and bias) and MatMul by a
 * constant [in, out] (an Add of a constant [out] that alone reads it as the
 * bias) as dense; Conv (strides and dilations per axis, pads per side,
 * groups) as conv2d; ConvTranspose (one stride, dilation and
 * output_padding for both axes, the same pad on every side, groups, no
 * output_shape) as conv_transpose2d; MaxPool, AveragePool (any kernel,
 * strides, pads per side and dilations; ceil_mode as PyTorch computes it;
 * count_include_pad either way) as maxpool2d, avgpool2d;
 * BatchNormalization (inference form) as batchnorm
 * with its running statistics and epsilon; GlobalAveragePool,
 * GlobalMaxPool as global_avgpool2d, global_maxpool2d reshaped to ONNX's
 * [N, C, 1, 1]; the chain torch.onnx.export writes for nn.GroupNorm
 * (Reshape to [0, G, -1], InstanceNormalization with ones and zeros,
 * Reshape back, Mul gamma, Add beta) as one groupnorm,
 * InstanceNormalization elsewhere as groupnorm of single channels; Relu,
 * LeakyRelu and Elu (alpha
 * in [0, 1]), Softplus, Erf,
 * Sigmoid, Tanh, Softmax (last axis), and GELU as torch.onnx.export writes
 * it (Div by √2, Erf, Add 1, Mul by x, Mul by 0.5) as one gelu; Flatten
 * (axis 1) and Reshape to [N, …]; Add, Sub, Mul, Div of two values of one
 * shape, or of a value and a constant that broadcasts to it without
 * reaching the batch axis (a full node when its values are one number,
 * else a param holding them); Concat off the batch axis; Pad (constant); Dropout and
 * Identity (skipped); Constant. The first axis of every graph input is the batch. Anything
 * else is refused naming the node and its operator ("ONNX node 'Conv_3'
 * (Conv): auto_pad 'SAME_UPPER' cannot be expressed (nabla pads
 * explicitly)"), as are
 * malformed files (not protobuf, truncated, a node reading an undefined
 * value or a cycle, dimensions beyond 2^31 elements); nothing is written
 * then. The loss written is softmax_cross_entropy on [N, C] logits (those
 * under a final Softmax), else mse: edit it to train otherwise. Needs
 * protobuf-c, as export does.
 */
NB_API nb_status nb_onnx_import(const char *onnx_path, const char *yaml_path,
                                const char *weights_path, nb_error *err);

/* ================================================================ pictures
 * (io/png.c) */

/* 8-bit pixels, row-major, 1 channel (grey) or 3 (RGB), to a PNG file
 * through libpng, written to a temporary name and renamed into place. */
NB_API nb_status nb_png_write(const char *path, int width, int height, int channels,
                              const uint8_t *pixels, nb_error *err);
/* A grey image from floats: lo maps to black, hi to white, others clamp. */
NB_API nb_status nb_png_write_float(const char *path, int width, int height, const float *values,
                                    float lo, float hi, nb_error *err);

/* ####################################################################
 * 4. THE LECTURE'S METHODS (train/cg.c, grow.c, prune.c, lecture_init.c)
 *
 * Methods of the lecture nabla accompanies (docs/lecture.md), built on the
 * tiers above: nonlinear conjugate gradients over chunks of the training
 * set; growing a dense layer by units fitted to the residual, and pruning
 * units or single weights by saliency (magnitude or Optimal Brain Damage);
 * the lecture's initialiser, which fits each first-layer unit as a linear
 * model of its own before backpropagation starts.
 * #################################################################### */

/* ================================================================ conjugate gradients
 * (train/cg.c)
 *
 * Nonlinear conjugate gradients over chunks of the training set: the sum Q
 * is split into blocks of `chunk` examples; on each block CG minimises the
 * block's mean loss for a few iterations, then moves on to the next block.
 * Directions are Polak–Ribière+, d ← -g + β·d with β = max(0, g·(g - g_prev)
 * / g_prev·g_prev); steps come from a line search that brackets a minimum
 * along d and narrows it by secant and cubic interpolation until the strong
 * Wolfe conditions hold (c1 = 1e-4, c2 an option; below float32 rounding of
 * the loss, Hager and Zhang's approximate version). The direction restarts
 * at -∇ on every chunk visit, every `restart` iterations, when PR+ clips β to
 * 0, when it is not a descent direction, and after a failed search. Each
 * trial point costs one loss-and-gradient evaluation over the chunk
 * (nb_trainer_loss_grad, in the trainer's batch size); the search never
 * evaluates the loss alone. The loss must be a deterministic function of
 * the parameters: dropout masks drawn anew on every evaluation defeat any
 * line search.
 */

/* Reported after every CG iteration. */
typedef struct nb_cg_progress {
    int epoch;              /* 1-based pass over the chunks */
    int64_t chunk, chunks;  /* 0-based chunk index within the pass, and their number */
    int iteration;          /* 1-based, within this visit of the chunk */
    int64_t iterations;     /* all iterations so far */
    double loss;            /* the chunk's mean loss after the step */
    double grad_norm;       /* ‖∇‖ of the chunk's mean loss after the step */
    double step;            /* the accepted α (x ← x + α·d) */
    double beta;            /* β that made this step's direction (0: steepest descent) */
    int64_t grad_evals;     /* loss-and-gradient evaluations over a chunk, so far */
    int64_t examples;       /* examples whose loss and gradient were computed, so far */
    int64_t restarts;       /* directions reset to -∇ within a visit (see above) */
    int64_t failed_searches;/* line searches that found no lower loss */
    double seconds;         /* since the call started, not counting callbacks */
} nb_cg_progress;

typedef struct nb_cg_opts {
    int64_t chunk;          /* examples per chunk; 0 or more than the set → the whole set */
    int iterations;         /* CG iterations per visit of a chunk; 0 → 3 */
    int restart;            /* reset to -∇ every this many iterations; 0 → Σ numel(params) */
    int epochs;             /* passes over all chunks; 0 → 1 */
    double step0;           /* length ‖α·d‖ of the very first trial step; 0 → 0.1 */
    int max_evals;          /* evaluations per line search; 0 → 20 */
    double c2;              /* the search's curvature condition |φ'(α)| ≤ c2·|φ'(0)|, in
                             * [0, ½); 0 → 0.1. Smaller is closer to an exact search, which
                             * CG's n-step convergence on a quadratic assumes. */
    int64_t max_examples;   /* > 0: a budget; stop before an evaluation would take the
                             * example gradients computed past it */
    bool shuffle;           /* each epoch, chunks from a fresh random order (seed) … */
    uint64_t seed;          /* … else consecutive examples [k·chunk, (k+1)·chunk) */
    /* Called after each iteration; return false to stop (the call then
     * returns NB_OK). NULL: run all epochs. */
    bool (*on_iteration)(const nb_cg_progress *p, void *ud);
    void *ud;
} nb_cg_opts;

/* Trains t's parameters by conjugate gradients over chunks of train (the
 * trainer's optimiser is not used; its step count and Q are left alone).
 * summary (may be NULL) receives the totals at return: iterations,
 * evaluations, restarts, failed searches, seconds, the last loss. Refuses
 * bad options and data naming the option and value, in err. The parameters
 * are left at the last accepted point (a failed trial is always undone). */
NB_API nb_status nb_trainer_fit_cg(nb_trainer *t, const nb_dataset *train, nb_cg_opts o,
                                   nb_cg_progress *summary, nb_error *err);

/* Conjugate gradients run the way nb_trainer_fit runs the optimiser: epoch
 * e from the one after the trainer's state (nb_train_state.epoch, so a
 * loaded checkpoint continues) to o.epochs (0 → 1) is one pass of
 * nb_trainer_fit_cg over the chunks, in an order drawn from o.seed + e
 * when o.shuffle. After each pass the trainer's state advances (epoch,
 * global_step by the iterations, Q = the training set's mean loss in
 * inference mode) and the trainer options' on_epoch gets the epoch: loss
 * and mean_loss the mean over chunks of each visit's last loss, q and
 * train_acc from the training set, val_loss and val_acc from the options'
 * validation_data, test_loss and test_acc from test (NaN without);
 * step, steps and examples count the pass's iterations and examples.
 * o.on_iteration, if given, is still called, and its false ends the run
 * after that epoch. A trainer holding out a validation fraction or with
 * early stopping is refused. */
NB_API nb_status nb_trainer_fit_cg_epochs(nb_trainer *t, const nb_dataset *train,
                                          const nb_dataset *test, nb_cg_opts o, nb_error *err);

/* A model file whose optimizer is cg (docs/model-format.md): true, and *o
 * (when not NULL) gets the file's options with epochs and seed from its
 * train: section, callbacks left empty; false (o untouched) for any other
 * optimizer. nb_model_file_train_opts still gives a cg file an SGD
 * optimiser with its defaults: the trainer needs one to exist. */
NB_API bool nb_model_file_cg(const nb_model_file *m, nb_cg_opts *o);

/* ================================================================ growing and pruning
 * (train/grow.c, train/prune.c)
 *
 * Graphs are static, so a network changes width by being built again: the
 * model function reads its widths from its ud, the model is built (a new
 * graph or trainer) at the new width, and the trained weights are carried
 * over by parameter name. A dense layer is named by its scope: `layer` holds
 * "<layer>/w" [in, H] and "<layer>/b" [H] (optional); `next` is the dense
 * layer reading its H units, "<next>/w" [H, out], through elementwise ops
 * only (an activation, dropout), never anything that mixes units.
 * Functions that look inside a graph need the model built ONCE in it (one
 * forward matmul reading each named w) with a rank-2 input [N, in], and a
 * loss that is a sum or mean of per-example terms (no batch norm in training
 * mode); errors name the layer, the parameter and the shapes.
 */

/* Every parameter of `to` takes the values of the parameter of the same full
 * name in `from` (frozen ones such as batch-norm statistics too). Refuses a
 * parameter of `to` that `from` lacks or holds in another shape; parameters
 * only `from` has are ignored. */
NB_API nb_status nb_params_copy(nb_graph *from, nb_graph *to, nb_error *err);

/* A model file's dense layer `layer` (its `name:`, or the automatic name
 * "dense<k>" nb_dense gives it: unnamed dense layers numbered in order)
 * made `units` wide: the spec, and the text weights files store, so the
 * model builds and is saved at the new width. Refuses an unknown layer, a
 * layer that is not dense, units outside [1, 2^24], and a width the model
 * cannot be built with (the file is left as it was). nb_model_file_units
 * gives the width and activation, or -1 with the reason in err (an unknown
 * layer, with a "did you mean", or one that is not dense). */
NB_API nb_status nb_model_file_set_units(nb_model_file *m, const char *layer, int64_t units,
                                         nb_error *err);
NB_API int64_t nb_model_file_units(const nb_model_file *m, const char *layer,
                                   nb_activation *activation, nb_error *err);

/* nb_params_copy with the units of dense layer `layer` re-indexed: unit j of
 * `to` (n_map = its width) is unit map[j] of `from` (column map[j] of
 * layer/w, entry map[j] of layer/b, row map[j] of next/w), or, for
 * map[j] < 0, a new unit whose incoming weights keep the values `to` was
 * built with and whose outgoing row of next/w is ZERO. Growing passes
 * 0..H-1 then -1s; pruning passes the kept units. */
NB_API nb_status nb_dense_remap_units(nb_graph *from, nb_graph *to, const char *layer,
                                      const char *next, const int64_t *map, int64_t n_map,
                                      nb_error *err);

/* Growing: copies `from` into `to`, where `layer` is k units wider. Old units
 * keep their weights; the k new units get incoming weights w_new [in, k] and
 * b_new [k] (NULL: the values `to` was initialised with; b_new NULL with
 * w_new given: zero) and outgoing weights (rows of next/w) ZERO, so the
 * network computes the same function at the moment of growth (bit for bit,
 * or to the last bit where OpenBLAS blocks the wider matmul differently). */
NB_API nb_status nb_grow_dense(nb_graph *from, nb_graph *to, const char *layer, const char *next,
                               int64_t k, const float *w_new, const float *b_new, nb_error *err);

typedef struct nb_grow_fit_opts {
    nb_activation activation; /* the layer's activation (NB_ACT_NONE: linear) */
    int steps;                /* full-batch Adam steps: 0 → 500 */
    float lr;                 /* 0 → 0.003 */
    uint64_t seed;            /* the fit's starting point */
} nb_grow_fit_opts;

/*
 * The lecture's recipe for a new unit: train it alone on the current
 * residual. g holds the current model built for N examples (fed by feeds)
 * with scalar loss; z = a·(next/w) is next's pre-activation and a_n the
 * layer's input row. The residual is r_n = -N·∂loss/∂z_n (onehot − softmax
 * for softmax cross-entropy, y − ŷ for a linear output and squared error).
 * Fits k units u_n = act(a_n·w + b)·v from w [in, k] Xavier (from seed),
 * b = 0, v [k, out] = 0, minimising ½·mean_n ‖r_n − u_n‖² by full-batch Adam
 * (v moves first, along the units' correlation with r, then w follows), and
 * stores w in w_new, b in b_new; v is dropped (nb_grow_dense zeroes it), so
 * the units enter with their outgoing weights' gradient −mean_n h_n·r_n
 * pointing along the residual they explain. explained (may be NULL) is
 * 1 − Σ‖r − u‖² / Σ‖r‖² of the fit; a fit that explains nothing (its units
 * died) is restarted at a third of the step size, up to three times.
 * Appends the gradient of loss with respect to z to g.
 */
NB_API nb_status nb_grow_fit(nb_graph *g, nb_node *loss, const char *layer, const char *next,
                             int64_t k, const nb_feed *feeds, int n_feeds,
                             const nb_grow_fit_opts *o, float *w_new, float *b_new,
                             double *explained, nb_error *err);

/* One stage of nb_trainer_fit_grow as its callbacks see it. */
typedef struct nb_grow_stage {
    int stage;                /* 1-based */
    int64_t units;            /* the layer's width while the stage trained */
    int64_t grown_to;         /* on_grow: the width after the growth */
    double q;                 /* Q when the stage ended (nb_trainer_q) */
    double explained;         /* on_grow: share of the residual the new units explain
                                 (nb_grow_fit's; NaN with random_units) */
    double max_change;        /* on_grow: max |Δ output| over the check set at the growth */
    double max_output;        /* on_grow: max |output| there, before the growth */
} nb_grow_stage;

typedef struct nb_grow_opts {
    const char *layer;        /* the dense layer that grows */
    const char *next;         /* the dense layer reading its units; NULL: the first whose
                                 "<next>/w" has as many rows as `layer` has units */
    int64_t k;                /* units added at each growth, >= 1 */
    int64_t max;              /* the widest the layer may become; 0 → 2^24 */
    nb_activation activation; /* the layer's activation, for the fit */
    int64_t fit_n;            /* new units fit the residual of the first fit_n training
                                 examples; 0 → 1000 */
    bool random_units;        /* no fit: new incoming weights as the model initialises them */
    bool restart_epochs;      /* each stage a fresh run of the trainer's epochs; else the
                                 epochs count on across stages and growing ends with them */
    const nb_dataset *check;  /* outputs compared before and after a growth on it; NULL:
                                 the fit sample */
    /* Makes the model the trainer was built with (its ud) build `layer`
     * `units` wide; NULL for a trainer built by nb_model_file_build:
     * nb_model_file_set_units. */
    nb_status (*set_units)(void *model_ud, const char *layer, int64_t units, nb_error *err);
    /* After each stage's training; return false to stop growing. */
    bool (*on_stage)(nb_trainer *t, const nb_grow_stage *s, void *ud);
    /* After each growth, with the wider trainer that continues. */
    void (*on_grow)(nb_trainer *t, const nb_grow_stage *s, void *ud);
    void *ud;
} nb_grow_opts;

/*
 * Training that grows a dense layer, the lecture's way. Each stage is
 * nb_trainer_fit of *t with the trainer's options: it ends when Q
 * stabilises (q_stop_rtol over q_stop_window steps) or its epochs run out.
 * Then, unless on_stage says stop, the layer is already `max` wide or
 * (without restart_epochs) the epochs are done, k units are added: fitted
 * to the residual (nb_grow_fit), the model widened by set_units, a wider
 * trainer made with the same options and model, the weights carried over
 * with the new units' outgoing weights zero (nb_grow_dense), and the
 * state (Q, the step count, the order; the epoch count unless
 * restart_epochs) carried on. *t is then the wider trainer (the old one
 * freed). Without restart_epochs the widest stage trains to the end, Q
 * unwatched. On failure *t is the last trainer that trained and err says
 * why; a failed growth's message begins "grow: ", and the model is left
 * at the width *t was built at.
 */
NB_API nb_status nb_trainer_fit_grow(nb_trainer **t, const nb_dataset *train,
                                     const nb_dataset *test, const nb_grow_opts *o,
                                     nb_error *err);

/* Pruning: a weight's saliency estimates what removing it costs. */
typedef enum nb_saliency_kind {
    NB_SALIENCY_MAGNITUDE, /* ½·w²: OBD with the Hessian taken as the identity */
    NB_SALIENCY_OBD        /* Optimal Brain Damage: ½·h_ii·w_i², h_ii = ∂²loss/∂w_i² */
} nb_saliency_kind;

/* The exact Hessian diagonal of the scalar loss with respect to one
 * parameter (diag: numel floats) by second-order autodiff: g = ∂loss/∂param
 * once, then per element the Hessian-vector product ∂(Σ g ⊙ v)/∂param with
 * v = e_i (an input node "hessian_probe" appended to g with the gradient
 * graphs). numel runs of the graph: for small parameters. Dropout masks,
 * if any, are the same in every run. */
NB_API nb_status nb_hessian_diagonal(nb_graph *g, nb_node *loss, nb_node *param,
                                     const nb_feed *feeds, int n_feeds, float *diag, nb_error *err);

/* The same exact diagonal for dense layer `layer` in H runs: with z = x·w
 * [N, H] and per-example loss terms, ∂²loss/∂w_ij² = Σ_n x_ni²·∂²loss/∂z_nj²
 * and ∂²loss/∂b_j² = Σ_n ∂²loss/∂z_nj², where column j of ∂²loss/∂z_nj² is
 * one Hessian-vector product with respect to z, v = 1 in column j. h_w is
 * [in, H]; h_b [H] may be NULL (zeros for a layer without bias). */
NB_API nb_status nb_dense_hessian_diagonal(nb_graph *g, nb_node *loss, const char *layer,
                                           const nb_feed *feeds, int n_feeds, float *h_w,
                                           float *h_b, nb_error *err);

/* Saliency of every weight of dense layer `layer`: s_w [in, H], s_b [H] (may
 * be NULL). MAGNITUDE needs no loss or feeds (pass NULL, 0). */
NB_API nb_status nb_dense_saliency(nb_graph *g, nb_node *loss, const char *layer,
                                   const nb_feed *feeds, int n_feeds, nb_saliency_kind kind,
                                   float *s_w, float *s_b, nb_error *err);

/* Saliency of each of `layer`'s H units (saliency: H doubles): the sum over
 * its incoming weights (column j of layer/w, b_j) and outgoing ones (row j
 * of next/w). OBD runs the graph H + out times. */
NB_API nb_status nb_unit_saliency(nb_graph *g, nb_node *loss, const char *layer, const char *next,
                                  const nb_feed *feeds, int n_feeds, nb_saliency_kind kind,
                                  double *saliency, nb_error *err);

/* The n - n_remove units to keep when the n_remove least salient go (ties:
 * the higher index goes first), in increasing order in keep: the map for
 * nb_dense_remap_units into a model built n - n_remove units wide. */
NB_API nb_status nb_prune_select(const double *saliency, int64_t n, int64_t n_remove,
                                 int64_t *keep, nb_error *err);

/* Connection pruning by masking: zeroes the ⌊fraction·numel⌋ elements of
 * param with the smallest saliency (ties: the higher index first). Returns
 * the count zeroed, or -1 (with the reason in err) for a non-parameter, no
 * saliencies, a fraction outside [0, 1] or memory that ran out.
 * Training may move them again: apply again after updates to keep them. */
NB_API int64_t nb_prune_weights(nb_node *param, const float *saliency, double fraction,
                                nb_error *err);

/* ================================================================ lecture initialiser
 * (train/lecture_init.c)
 *
 * The lecture's recipe for a first hidden layer: make each hidden neuron a
 * linear model of its own before backprop starts. Unit j draws a random
 * subsample of the examples and a random subset of the inputs, gets a ±1
 * target (below), and is fitted by ridge-regularised least squares (in
 * double precision, closed form or conjugate gradients): its coefficients become
 * column j of <layer>/w (zero for the inputs it did not see) and its
 * intercept b[j]. Then w[:, j] and b[j] are scaled together so the unit's
 * pre-activations have standard deviation `scale` on its subsample (the
 * hyperplane w·x + b = 0 is unchanged). Each unit's draws come from its own
 * generator (seed, j): the result is the same for any thread count.
 * Cost per unit with k chosen inputs: O(subsample · k² + k³) closed form,
 * O(steps · subsample · k) by conjugate gradients. */

typedef enum nb_lecture_target {
    NB_LECTURE_SPLIT,          /* +1 for a random half of the classes, -1 for the rest (a random
                                * dichotomy per unit; needs class labels) */
    NB_LECTURE_CLASS_VS_REST,  /* +1 for class (j + r) mod C, -1 for the others (needs class labels) */
    NB_LECTURE_COLUMN          /* the dataset's own target column j mod y_width, as it is
                                * (regression targets) */
} nb_lecture_target;

typedef struct nb_lecture_init_opts {
    int64_t subsample;       /* examples per unit, at most ds->n; 0 → min(n, 1000) */
    float input_fraction;    /* share of the inputs each unit sees, in (0, 1]; 0 → 1 (all) */
    nb_lecture_target target;
    float ridge;             /* λ, relative to the mean variance of the chosen inputs; 0 → 0.1 */
    int steps;               /* 0: closed form (normal equations, Cholesky); > 0: at most this
                              * many conjugate-gradient steps on them, XᵀX never formed */
    float scale;             /* standard deviation of each unit's pre-activations; 0 → 1 */
    bool no_rescale;         /* keep the least-squares coefficients as fitted */
    uint64_t seed;
} nb_lecture_init_opts;

/* Fits the dense layer `layer` (its scope, e.g. "dense1": parameters
 * "<layer>/w" [in, units] and, if present, "<layer>/b" [units]) of the
 * trainer's model from ds, whose examples must have `in` values (the layer
 * reads the raw, flattened input). Refuses a missing layer, a layer that
 * does not read the data, bad options and targets the data cannot give,
 * naming them; parameters are untouched on refusal. */
NB_API nb_status nb_init_lecture(nb_trainer *t, const char *layer, const nb_dataset *ds,
                                 nb_lecture_init_opts o, nb_error *err);

#ifdef __cplusplus
}
#endif
#endif /* NABLA_H */
