/*
 * graph_internal.h — what graph/, ops/ and autodiff/ share and users do not
 * see: the node and graph structs, the arena, error helpers, the op table.
 * Names here carry the nb__ prefix; they are hidden from the shared library.
 */
#ifndef NB_GRAPH_INTERNAL_H
#define NB_GRAPH_INTERNAL_H

#include "nabla.h"

/* ---------------------------------------------------------------- ops
 * Nodes point at their op's definition (nb_op_def, in nabla.h): the
 * runtime and autodiff call through it and never switch on the op. The
 * built-in ops, their ids and their table live in ops/ (ops/op_list.h). */

/* The definition of the leaf op of kind (input, param or constant). */
const nb_op_def *nb__leaf_op(nb_node_kind kind);

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
    float *placed;          /* params: the caller's memory holding the values
                               (nb_param_place), or NULL: g->param_data's */
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
    unsigned param_moves;   /* counts every move of some parameter's values (the buffer
                               grown, nb_param_place): a runtime whose count differs
                               points its steps at them again */
    unsigned bindings;      /* counts every bind of a runtime of g: each runtime's
                               binding (nb_runtime_binding) is its own */
    unsigned param_stamp;   /* counts every change of what nb_param_data or
                               nb_param_trainable gives for some parameter: each move
                               above, and each trainable flag changed */
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

/* ---------------------------------------------------------------- step_times.c */

/* A runtime's clock per step under NABLA_STEP_TIMES (a profiling aid):
 * _new gives NULL when the variable is unset (then nothing is timed);
 * around each run _run, around each step nb__step_clock and _add; _free
 * prints the profile to stderr and frees it. */
typedef struct nb__step_times nb__step_times;
nb__step_times *nb__step_times_new(int n_steps);
double nb__step_clock(void);
void nb__step_times_run(nb__step_times *t, int threads);
void nb__step_times_add(nb__step_times *t, int step, double since);
void nb__step_times_free(const nb_runtime *rt, nb__step_times *t);

/* ---------------------------------------------------------------- kernels (ops/) */

/*
 * The kernel a runtime step runs for one node, chosen by ops/ once when the
 * runtime is made (ops/op_table.c). graph/ holds NB__KERNEL_BYTES for each
 * step and hands them back to the kernel; what they hold is ops/'s own.
 */
typedef struct nb__kernel nb__kernel;
typedef void (*nb__kernel_fn)(const nb__kernel *k, const float *const *in, float *out);
#define NB__KERNEL_BYTES 128

/* The kernel for node n's shapes, with *k (NB__KERNEL_BYTES, aligned to
 * 16) filled for it; NULL when n has none of its own, and the runtime calls
 * n's op forward. Only reads shapes and attributes, so the choice holds as
 * long as the node exists. */
nb__kernel_fn nb__kernel_choose(const nb_node *n, nb__kernel *k);

/*
 * A fused group (nb__fuse): nodes run as one kernel, each member but the
 * last read only inside the group, so none but the last is ever written.
 * The planner gives the group one step at the last member's place, reading
 * in[] and writing the last member's value. in[] holds values from outside
 * the group, and may reach past a member to its input (a pooling kernel
 * reads the image, not its unfold2d columns): the planner then drops every
 * value that no step reads any more and the caller does not fetch, and
 * refuses a group that reads a value folded into another group.
 *
 * A group may also write one more value, its side: a node after the last
 * member in plan order that reads the group's value (a convolution's bias
 * gradient, the sum of the pooling gradient a group writes, summed in the
 * same pass). The side is listed among the nodes just before the last and
 * its buffer is the kernel's in[n_in - 1], written, not read. It has no
 * step of its own; its buffer is taken at the group's step. When the
 * planner cannot give the group its side (the side is in another group),
 * nb__fuse_drop_side makes it the group without one.
 */
#define NB__FUSE_MAX 24 /* members of a group, at most (an LSTM step's gate
                            gradients are 17: ops/fusion_gates.c) */
typedef struct nb__fusion {
    const char *pattern;                     /* the pattern's name, for drawings */
    int n_nodes;
    const nb_node *nodes[NB__FUSE_MAX];      /* in order; the last one's value is the group's */
    int n_in;
    nb_node *in[NB__FUSE_MAX + 1];           /* what the kernel reads, in its order */
    bool in_place;                           /* the value may overwrite an input of its
                                                shape whose last reader is the group */
    const nb_node *side;                     /* a second value written, or NULL */
    nb__kernel_fn run;
    _Alignas(16) unsigned char kernel[NB__KERNEL_BYTES]; /* what run reads */
} nb__fusion;

/* Whether the planner may fold node n into the group of its one reader:
 * n is planned, not an output, and read through exactly one input slot. */
typedef bool (*nb__fuse_sole_fn)(const void *ctx, const nb_node *n);

/* The largest group of a pattern in ops/'s pattern table that ends at
 * node last, its inner members each passing sole(): true with *f filled,
 * false when no pattern ends there (ops/fusion.c). */
bool nb__fuse(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx, nb__fusion *f);
/* Group f without its side value: the pattern's group that writes only the
 * last member's (ops/fusion.c). */
void nb__fuse_drop_side(nb__fusion *f);

/* True when n's value is the outer product of its two inputs, each read as
 * a flat vector: n [M, N] with n[i, j] = in[0][i]·in[1][j] (a dense
 * weight's gradient at batch 1, xᵀ·dz). For the runtime, which may keep the
 * two vectors instead of forming n (nb_runtime_new_outer). */
bool nb__outer_product(const nb_node *n);
/* True when n [M, N] = in[0]ᵀ·in[1], in[0] [K, M] and in[1] [K, N] read
 * row-major (a dense weight's gradient xᵀ·dz at a batch of K): for the
 * runtime, which may keep the two factors instead (nb_runtime_new_factored). */
bool nb__transposed_product(const nb_node *n);

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
