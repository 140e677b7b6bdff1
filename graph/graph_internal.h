/*
 * graph_internal.h — what graph/, ops/ and autodiff/ share and users do not
 * see: the node and graph structs, the arena, error helpers, the op table.
 * Names here carry the nb__ prefix; they are hidden from the shared library.
 */
#ifndef NB_GRAPH_INTERNAL_H
#define NB_GRAPH_INTERNAL_H

#include "nabla.h"

/* ---------------------------------------------------------------- op table
 * One entry per built-in primitive op, filled in ops/op_table.c with
 * designated indices. The runtime and autodiff never switch on the op: they
 * call through the definition a node points at. */

typedef enum nb__op_id {
    NB_OP_INPUT,
    NB_OP_PARAM,
    NB_OP_CONST,
    /* elementwise unary */
    NB_OP_NEG,
    NB_OP_EXP,
    NB_OP_LOG,
    NB_OP_SQRT,
    NB_OP_ABS,
    NB_OP_SIGN,
    NB_OP_TANH,
    NB_OP_SIGMOID,
    /* elementwise binary, broadcasting */
    NB_OP_ADD,
    NB_OP_SUB,
    NB_OP_MUL,
    NB_OP_DIV,
    NB_OP_MAX,
    NB_OP_MIN,
    NB_OP_POW,
    NB_OP_GT,
    NB_OP_GE,
    NB_OP_EQ,
    NB_OP_WHERE,
    /* reductions */
    NB_OP_SUM,
    NB_OP_REDUCE_MAX,
    /* movement */
    NB_OP_RESHAPE,
    NB_OP_PERMUTE,
    NB_OP_EXPAND,
    NB_OP_SLICE,
    NB_OP_PAD,
    NB_OP_CONCAT,
    NB_OP_UNFOLD2D,
    NB_OP_FOLD2D,
    /* linear algebra */
    NB_OP_MATMUL,
    /* class indices */
    NB_OP_ONE_HOT,
    NB_OP_COUNT
} nb__op_id;

extern const nb_op_def nb__op_table[NB_OP_COUNT];
#define NB__OP(id) (&nb__op_table[NB_OP_##id])

/* ---------------------------------------------------------------- nodes */

enum {
    NB__NODE_BACKWARD = 1u << 0, /* appended by nb_grad */
    NB__NODE_NOISE = 1u << 1,    /* an input refilled with U[0,1) each run */
    NB__NODE_FROZEN = 1u << 2    /* a parameter the optimiser leaves alone */
};

struct nb_node {
    int id;                 /* index in g->nodes: creation order is topological */
    nb_node_kind kind;
    unsigned flags;         /* NB__NODE_* */
    const nb_op_def *op;
    int n_in;
    nb_node **in;           /* arena */
    nb_shape shape;
    nb_attrs attrs;
    const char *name;       /* arena, full "scope/name"; NULL if never named */
    const char *scope;      /* arena, the scope at creation; NULL at top level */
    size_t param_off;       /* params: offset of the values in g->param_data */
    float *data;            /* constants: arena values */
    nb_graph *g;
};

/* ---------------------------------------------------------------- graph */

typedef struct nb__block nb__block;

/* How many layers of one kind were named automatically ("dense" → 3). */
typedef struct nb__counter {
    struct nb__counter *next;
    const char *kind;
    int count;
} nb__counter;

#define NB__MAX_SCOPE_DEPTH 32

struct nb_graph {
    nb_alloc_fn alloc;
    void *ud;
    nb__block *blocks;      /* arena: freed together by nb_graph_free */
    nb_node **nodes;
    int n_nodes, cap_nodes;
    float *param_data;      /* every parameter, contiguous */
    size_t n_param, cap_param;
    const char *scopes[NB__MAX_SCOPE_DEPTH]; /* full paths, arena */
    int scope_depth;
    bool building_backward; /* set by nb_grad: new nodes are marked backward */
    bool training;          /* layers build their training form */
    bool reuse;             /* nb_param_init returns existing parameters by name */
    nb_rng rng;             /* initialisers draw from it */
    nb__counter *counters;  /* layer kind → last automatic number (arena list) */
    nb_node **params;       /* every parameter, in creation order */
    int n_params, cap_params;
    nb_node **updates;      /* state, value pairs: 2 per update */
    int n_updates, cap_updates;
    nb_layer_record *layers; /* what each layer was asked for (graph/layer_record.c) */
    int n_layers, cap_layers;
    nb_status status;
    char err[512];
};

/* ---------------------------------------------------------------- memory */

/* The graph's allocator, checked: NULL on failure after recording
 * NB_ERR_NOMEM with what was being allocated. */
void *nb__alloc(nb_graph *g, size_t size, const char *what);
void *nb__realloc(nb_graph *g, void *p, size_t old_size, size_t new_size, const char *what);
void nb__free(nb_graph *g, void *p, size_t size);
/* " (U MB in use; the limit is L MB, ulimit -v)" into buf when a memory
 * limit is set (ulimit -v or -d), else "": for out-of-memory messages, so
 * they say which limit refused (graph/memlimit.c). */
void nb__limit_describe(char *buf, size_t size);
/* Arena memory, 64-byte aligned, zeroed; lives until nb_graph_free. */
void *nb__arena(nb_graph *g, size_t size);
char *nb__arena_strdup(nb_graph *g, const char *s);
void nb__arena_free_all(nb_graph *g);

/* Room for n more floats in the contiguous parameter buffer (which may move);
 * the offset of the new values, or (size_t)-1 when memory ran out. */
size_t nb__param_reserve(nb_graph *g, size_t n);

/* Appends item to a growable node-pointer list; false on failure. */
bool nb__list_push(nb_graph *g, nb_node ***list, int *n, int *cap, nb_node *item);

/* ---------------------------------------------------------------- nodes */

/*
 * The one way op nodes are made: checks the inputs (NULL passes the first
 * error through; a node from another graph is refused), copies them and the
 * attributes, runs the op's shape rule, and appends the node. NULL on refusal.
 */
nb_node *nb__node_new(nb_graph *g, const nb_op_def *op, nb_node *const *in, int n_in,
                      const nb_attrs *attrs);
/* A leaf of the given kind (no inputs), appended to the graph. */
nb_node *nb__leaf_new(nb_graph *g, nb_node_kind kind, const char *name, nb_shape shape);

/* "label [shape]" of a node for messages, e.g. "dense1/w [784,256]". */
const char *nb__describe(const nb_node *n, char *buf, size_t size);

/* Normalises axis (negative counts from the end); -1 when out of range. */
int nb__axis(int axis, int rank);

/* NumPy broadcast of a and b into out; false when they do not broadcast. */
bool nb__broadcast_shape(nb_shape a, nb_shape b, nb_shape *out);

/* Row-major strides of s in elements, with stride 0 on the dimensions where
 * s (right-aligned into out's rank) is 1 but out is not: the index map of a
 * broadcast read. */
void nb__broadcast_strides(nb_shape s, nb_shape out, int64_t *strides);

/* ---------------------------------------------------------------- threads.c */

/* A runtime's thread tuner (nb_set_threads(0)): the count it runs at, a
 * running mean of its run time there, and the probe of a neighbouring count
 * under way. Zeroed with the runtime; the first run fills it in. */
typedef struct nb__tuner {
    int cur, probe, probe_runs, runs;
    bool up, off;        /* off: runs too short for the count to matter */
    bool hinted;         /* started from another runtime's choice */
    bool probed;         /* a probe was made or skipped */
    bool cpu_known;      /* cpu_idle, cpu_total hold /proc/stat at `since` */
    double mean, probe_sum, probe_start, wait, since, start;
    double cpu_idle, cpu_total;
} nb__tuner;

/* Decides the thread setting once, if nb_set_threads was never called. */
void nb__threads_init(void);
/* Around each run: pick and set the count, then record the time. Both do
 * nothing unless the setting is "every core, tuned". */
void nb__tune_begin(nb__tuner *t);
void nb__tune_end(nb__tuner *t);

/* ---------------------------------------------------------------- specialised kernels */

/*
 * A kernel specialised for one node's shapes, chosen once when a runtime is
 * made (nb__fast_kernel, ops/op_table.c): it computes exactly what the
 * op's forward would, without re-deriving the broadcast pattern or the
 * product's sizes on every run, which cost more than the arithmetic on tiny
 * graphs. The fields are the kernel's own: ops/ fills them and reads them
 * back.
 */
typedef struct nb__fast nb__fast;
typedef void (*nb__fast_fn)(const nb__fast *f, const float *const *in, float *out);
struct nb__fast {
    nb__fast_fn run;   /* NULL: none, the runtime calls the op's forward */
    int op;            /* binary: which operation */
    bool ta, tb;       /* matmul: transpose flags */
    int64_t sa, sb;    /* binary: a's and b's steps from one row to the next */
    int64_t ea, eb;    /* binary: a's and b's steps along a row (0 or 1) */
    int64_t rows, len; /* binary: out is rows × len; matmul: rows of the product */
    int64_t m, k, n;   /* matmul: op(a) is m×k, op(b) k×n */
};

/* Fills *f for node n, or sets f->run to NULL when n's op has no specialised
 * kernel or its shapes fit none. Only reads shapes and attributes, so the
 * choice holds as long as the node exists (ops/op_table.c). */
void nb__fast_kernel(const nb_node *n, nb__fast *f);

/* Elements of *s: nb_shape_numel without copying the shape or calling
 * through the library's exported symbol, for kernels that run every step. */
static inline int64_t nb__numel(const nb_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= s->dim[i];
    return n;
}

#endif /* NB_GRAPH_INTERNAL_H */
