/*
 * io_internal.h — a model file once parsed: what yaml_model.c reads out of
 * the YAML text and yaml_build.c lowers to a graph. Private to io/; nothing
 * here is installed.
 *
 * A model is a list of values: the inputs first (value i < n_inputs), then
 * one value per node (value n_inputs + k is node k). A node reads values
 * that come before it, so the list is a topological order by construction
 * and a cycle cannot be written. The sequential `layers:` form is the same
 * list with each layer reading the one before it.
 */
#ifndef NB_IO_INTERNAL_H
#define NB_IO_INTERNAL_H

#include "nabla.h"

/* Bounds that keep a hostile file from exhausting memory or time; those of
 * the YAML text itself (size, nesting, values, keys) are in yaml_tree.h. */
#define NB__YAML_MAX_NODES 4096              /* layers or nodes */
#define NB__YAML_MAX_NODE_INPUTS 64          /* inputs of one node (concat) */
#define NB__YAML_NAME_MAX 64                 /* bytes in a node or input name */

/* Every op a layer or node may name: the layers, the compositions and the
 * primitive ops with attributes, each with its own grammar; then, from
 * NB__Y_COUNT on, the built-in ops whose node is its inputs alone (add,
 * neg, where): NB__Y_COUNT + i is nb_builtin_op(i), read and built by its
 * entry in the op list, so a new such op needs nothing here. nb__yop_name
 * gives the YAML spelling. */
typedef enum nb__yop {
    NB__Y_DENSE, NB__Y_CONV2D, NB__Y_LOCAL2D, NB__Y_MAXPOOL2D, NB__Y_AVGPOOL2D,
    NB__Y_FLATTEN, NB__Y_DROPOUT, NB__Y_LAYERNORM, NB__Y_GROUPNORM, NB__Y_EMBEDDING,
    NB__Y_CONV_TRANSPOSE2D,
    NB__Y_RNN, NB__Y_GRU, NB__Y_LSTM, NB__Y_BATCHNORM,
    NB__Y_RELU, NB__Y_LEAKY_RELU, NB__Y_SOFTMAX, NB__Y_LOG_SOFTMAX, NB__Y_THRESHOLD,
    NB__Y_GELU, NB__Y_SILU, NB__Y_ELU, NB__Y_SOFTPLUS,
    NB__Y_GLOBAL_AVGPOOL2D, NB__Y_GLOBAL_MAXPOOL2D,
    NB__Y_MATMUL,
    NB__Y_SUM, NB__Y_MEAN, NB__Y_REDUCE_MAX,
    NB__Y_RESHAPE, NB__Y_PERMUTE, NB__Y_EXPAND, NB__Y_SLICE, NB__Y_PAD, NB__Y_CONCAT,
    NB__Y_UNFOLD2D, NB__Y_FOLD2D,
    NB__Y_FULL, NB__Y_PARAM, NB__Y_CONSTANT,
    NB__Y_COUNT
} nb__yop;

/* The built-in op an nb__yop names (NB__Y_COUNT + i), or NULL for the
 * ops with a grammar of their own; defined in yaml_schema.c. */
const nb_op_def *nb__yop_builtin(nb__yop op);

/* The YAML name of an op ("conv2d"); defined in yaml_schema.c. */
const char *nb__yop_name(nb__yop op);

/*
 * One node's attributes: the union of every op's keys, with the defaults
 * yaml_model.c sets before reading (bias true, step 1, stop past the end,
 * alpha 0.01, axis -1); zero elsewhere means "the layer's default" exactly as
 * in the C option structs. Integers are int64_t whatever the C option's type;
 * the parser bounds them so the narrowing casts in yaml_build.c are exact.
 * Axes count the batch as axis 0 (negative from the end); shapes, before and
 * after describe one example, without the batch.
 */
typedef struct nb__yattrs {
    int64_t units, filters, vocab, dim, hidden, layers;
    int64_t kernel, kh, kw, groups, size;
    /* a window's stride and dilation as [rows, columns], its padding as
     * [top, left, bottom, right] (one number or [rows, columns] in the file
     * fills them all; n_pad: how many it gave, 0 when absent) */
    int64_t stride[2], dilation[2], pad[4];
    int n_pad;
    int64_t output_padding;
    int64_t axis, start, stop, step, h, w;
    double rate, momentum, eps, alpha, value;
    bool bias, affine, bidirectional, sequence, keepdims, transpose_a, transpose_b;
    bool ceil_mode, count_include_pad;  /* pooling */
    nb_activation activation;
    nb_init init, bias_init;
    int n_axes, n_perm, n_before, n_after;
    int64_t axes[NB_MAX_RANK], perm[NB_MAX_RANK];
    int64_t before[NB_MAX_RANK], after[NB_MAX_RANK];
    nb_shape shape;
    const float *values;    /* constant: numel(shape) numbers, pool-owned */
    int64_t n_values;
} nb__yattrs;

typedef struct nb__yinput {
    const char *name;
    nb_shape shape;     /* one example */
    bool ids;           /* type: int — integer ids, fed exactly, never scaled */
    int line, col;
} nb__yinput;

typedef struct nb__ynode {
    const char *name;   /* given in the file, or NULL: the layer numbers itself */
    nb__yop op;
    int line, col;      /* where the layer item or node mapping starts (1-based) */
    int index;          /* 1-based position in layers:/nodes:, for messages */
    int *in, n_in;      /* values read, each < n_inputs + this node's index */
    bool trainable;
    nb__yattrs a;
    /* rnn, gru, lstm: the values h0 and c0 read (value index + 1; 0: start
     * from zeros) and the graph names h_n and c_n give the final states
     * (NULL: not kept); all batch first, [N, layers·directions, hidden] */
    int state_in[2];
    const char *state_out[2];
} nb__ynode;

typedef enum nb__yloss {
    NB__LOSS_NONE,
    NB__LOSS_SOFTMAX_CE,
    NB__LOSS_MSE,
    NB__LOSS_BCE,
    NB__LOSS_MARGIN_LOGISTIC,
    NB__LOSS_MARGIN_HINGE,
    NB__LOSS_MARGIN_EXPONENTIAL,
    NB__LOSS_L1,
    NB__LOSS_HUBER
} nb__yloss;

/* The YAML name of a loss ("mse"); defined in yaml_model.c. */
const char *nb__yloss_name(nb__yloss loss);

/*
 * The whole file. Every pointer inside (strings, node arrays) is carved from
 * `pool` and freed with it by nb_model_file_free, or is a static string
 * (data formats, the default dataset names).
 */
struct nb_model_file {
    const char *file;       /* what messages call the file */
    char *text;             /* the YAML as read, NUL-terminated */
    size_t len;
    const char *name;
    bool dag;               /* written as nodes: (else layers:) */
    nb__yinput *inputs;
    int n_inputs;
    nb__ynode *nodes;
    int n_nodes;
    int output;             /* node index */
    nb__yloss loss;
    int loss_node;          /* node index the loss reads */
    double loss_delta;      /* huber's delta (0: its default, 1) */
    int loss_line, loss_col;
    nb_train_opts train;    /* with the trainer's defaults filled in */
    bool cg;                /* optimizer: cg (train.optimizer then holds SGD defaults) */
    nb_cg_opts cg_opts;     /* its options; epochs and seed come from train */
    nb_data_spec data;      /* paths resolved against the file's folder */
    float x_div;            /* examples stored as bytes are divided by it (default 255) */
    int64_t y_width;        /* from a probe build at batch 2 */
    nb_shape output_shape;  /* one example's output, from the same probe */
    void **pool;
    int n_pool, cap_pool;
};

/* Builds m once at batch 2 into a scratch graph that may take 2 GiB
 * (yaml_build.c): the shapes must fit, and m's y_width and output_shape
 * are measured. A refusal's message goes to msg, the batch shown as N
 * ("[N,16,5,5]", found by building at another batch as well). */
nb_status nb__model_probe(nb_model_file *m, char *msg, size_t size);

/* ---------------------------------------------------------------- yaml_graph.c
 * The nodes: form's additions for graphs written from C: scoped and
 * anonymous names, param and constant nodes, the targets as an input. */

/* The parser context (yaml_values.h); declared here for the hooks. */
struct nb__yctx;
struct nb__yv;

/* A nodes: name: parts of letters, digits, '_', '-', '.' joined by '/'
 * ("block1/conv2d1"); the last part may end in '#' and digits
 * ("block1/add#12"): the node is then built without a name of its own. */
bool nb__yto_node_name(struct nb__yctx *c, const struct nb__yv *v, const char *key,
                       const char *where, const char **out);

/* A node's name entered as scopes: scopes pushed for every part but the
 * last, which `last` holds (without its '#' suffix: `anonymous`). */
typedef struct nb__yscoped {
    const char *last;
    bool anonymous;
    int depth;
    char buf[192];
} nb__yscoped;
bool nb__yscope_enter(nb_graph *g, const char *name, nb__yscoped *s);
void nb__yscope_leave(nb_graph *g, nb__yscoped *s);

/* constant's `values` into a; the count against the shape once both are read. */
bool nb__yto_values(struct nb__yctx *c, const struct nb__yv *v, const char *key, const char *where,
                    nb__yattrs *a);
bool nb__ycheck_leaf(struct nb__yctx *c, const struct nb__yv *at, const nb__ynode *n);
/* A param node (nb_param_init of its last name part; zeros unless `init`
 * says otherwise) or a constant node. */
nb_node *nb__ybuild_leaf(nb_graph *g, const nb__ynode *n);

/* The index of an input named y (never the first), or -1; and the targets
 * node: that input, checked against the shape ys the loss reads, else a
 * new input "y" of shape ys. */
int nb__ytargets_input(const nb_model_file *m);
nb_node *nb__ytargets(nb_graph *g, const nb_model_file *m, nb_node *const *vals, nb_shape ys);

#endif
