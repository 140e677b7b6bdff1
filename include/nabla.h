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
 * dimension; images are NCHW. Builders return NULL when refused and leave a
 * message in the graph (nb_graph_error); a builder given a NULL input returns
 * NULL and keeps the first message, so a whole expression is checked once.
 * Nothing in nabla exits or aborts on user input.
 */
#ifndef NABLA_H
#define NABLA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(NB_STATIC_BUILD)
#define NB_API __attribute__((visibility("default")))
#else
#define NB_API
#endif

/* ---------------------------------------------------------------- status */

typedef enum nb_status {
    NB_OK = 0,
    NB_ERR_ARG,       /* a bad argument: NULL, out of range, wrong kind of node */
    NB_ERR_SHAPE,     /* shapes that do not fit the op */
    NB_ERR_NOMEM,     /* an allocation failed; nothing was leaked */
    NB_ERR_GRAD,      /* differentiation refused, or a gradient check failed */
    NB_ERR_STATE      /* a call out of order: an input never set, etc. */
} nb_status;

/* ---------------------------------------------------------------- shapes */

#define NB_MAX_RANK 8

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

NB_API nb_shape nb_shape_make(int rank, const int64_t *dims);
NB_API int64_t nb_shape_numel(nb_shape s);
NB_API bool nb_shape_equal(nb_shape a, nb_shape b);
/* Writes "[2,3,4]" into buf (always NUL-terminated); returns buf. */
NB_API char *nb_shape_format(nb_shape s, char *buf, size_t size);

/* ---------------------------------------------------------------- graphs */

typedef struct nb_graph nb_graph;
typedef struct nb_node nb_node;

/*
 * Every allocation nabla makes for a graph and its runtimes goes through one
 * function, Lua style: (ud, ptr, old_size, new_size). new_size 0 frees ptr and
 * returns NULL; otherwise it behaves as realloc and may return NULL on failure.
 */
typedef void *(*nb_alloc_fn)(void *ud, void *ptr, size_t old_size, size_t new_size);

/* A new empty graph, or NULL if memory ran out. */
NB_API nb_graph *nb_graph_new(void);
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
 * NULL for other nodes. Valid until the next nb_param call on the graph. */
NB_API float *nb_param_data(nb_node *param);
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

enum {
    NB_OP_ELEMENTWISE = 1u << 0, /* out[i] depends on in[·][i] only: may run in place */
    NB_OP_VIEW = 1u << 1,        /* output bytes are input 0's bytes: no copy */
    NB_OP_LEAF = 1u << 2         /* input, param, constant */
};

typedef struct nb_op_def {
    const char *name;
    int arity;        /* inputs; -1 for one or more */
    unsigned flags;   /* NB_OP_* */
    nb_shape_fn shape;
    nb_forward_fn forward;
    nb_vjp_fn vjp;    /* NULL: not differentiable, and nb_grad says so */
} nb_op_def;

/* A node running a user op. def must outlive the graph (usually static);
 * attrs is copied (NULL: all zero). */
NB_API nb_node *nb_custom(nb_graph *g, const nb_op_def *def, nb_node *const *inputs, int n,
                          const nb_attrs *attrs);
NB_API const nb_attrs *nb_node_attrs(const nb_node *n);

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
NB_API void nb_runtime_free(nb_runtime *rt);
/* Copies numel(input) floats into the input's buffer. */
NB_API nb_status nb_runtime_set_input(nb_runtime *rt, nb_node *input, const float *data);
/* Runs every planned node; parameters are read as they are at this call. */
NB_API nb_status nb_runtime_run(nb_runtime *rt);
/* An output's (or any leaf's) values after the last run; NULL for a node that
 * is not an output. Valid until the next run or nb_runtime_free. */
NB_API const float *nb_runtime_value(const nb_runtime *rt, const nb_node *n);
/* The error of the last failed runtime call, "" when none. */
NB_API const char *nb_runtime_error(const nb_runtime *rt);
/* Bytes of the planned buffers (with reuse), and what one buffer per node
 * would take: inputs and intermediate values, not parameters or constants. */
NB_API size_t nb_runtime_planned_bytes(const nb_runtime *rt);
NB_API size_t nb_runtime_naive_bytes(const nb_runtime *rt);
/* Number of op nodes the runtime executes per run. */
NB_API int nb_runtime_num_steps(const nb_runtime *rt);

/* Threads for nabla's own loops (OpenMP) and for OpenBLAS together, so the
 * two pools never oversubscribe the cores. Process-wide, like both libraries'
 * own settings. n ≤ 0 means the number of cores. */
NB_API void nb_set_threads(int n);
NB_API int nb_get_threads(void);

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

#ifdef __cplusplus
}
#endif
#endif /* NABLA_H */
