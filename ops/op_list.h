/*
 * op_list.h — every built-in primitive op, one line each. The op ids
 * (NB_OP_<ID>, ops_internal.h), the op table (op_table.c), the prototypes
 * of each op's functions (ops_internal.h) and the op names users and model
 * files know (nb_node_op, the DOT drawing, a model file's `op:`) are all
 * generated from this list; nothing else lists the ops.
 *
 * A line is NB_OP(ID, NAME, IMPL, ARITY, FLAGS, SHAPE, FAST, CHECK):
 *
 *   ID     the op's id, NB_OP_<ID>, its index in nb__op_table
 *   NAME   its name, as users and model files spell it
 *   IMPL   the prefix of its functions: nb__<IMPL>_forward (the kernel)
 *          and nb__<IMPL>_vjp (the gradient rule), in the op's file
 *   ARITY  its inputs (-1: one or more)
 *   FLAGS  NB_OP_ELEMENTWISE (may run in place), NB_OP_VIEW (its output is
 *          input 0's bytes), NB_OP_LEAF (no inputs), NB_OP_NO_ATTRS (a node
 *          is its inputs alone: model files read and write it by NAME with
 *          no io/ code of its own), or 0
 *   SHAPE  its shape rule
 *   FAST   1 when the op chooses a kernel per node, once, when a runtime
 *          is made: nb__<IMPL>_fast (op_table.c says how); else 0
 *   CHECK  1 when it refuses some input values at run time:
 *          nb__<IMPL>_check; else 0
 *
 * The includer defines NB_OP, includes this file, and undefines NB_OP.
 */

/*    ID          NAME        IMPL        ARITY FLAGS                               SHAPE                FAST CHECK */
NB_OP(INPUT,      input,      leaf,       0,   NB_OP_LEAF,                         nb__leaf_shape,      0,    0)
NB_OP(PARAM,      param,      leaf,       0,   NB_OP_LEAF,                         nb__leaf_shape,      0,    0)
NB_OP(CONST,      const,      leaf,       0,   NB_OP_LEAF,                         nb__leaf_shape,      0,    0)

/* elementwise unary (unary.c) */
NB_OP(NEG,        neg,        neg,        1,   NB_OP_ELEMENTWISE | NB_OP_NO_ATTRS, nb__shape_same,      1,    0)
NB_OP(EXP,        exp,        exp,        1,   NB_OP_ELEMENTWISE | NB_OP_NO_ATTRS, nb__shape_same,      1,    0)
NB_OP(LOG,        log,        log,        1,   NB_OP_ELEMENTWISE | NB_OP_NO_ATTRS, nb__shape_same,      1,    0)
NB_OP(SQRT,       sqrt,       sqrt,       1,   NB_OP_ELEMENTWISE | NB_OP_NO_ATTRS, nb__shape_same,      1,    0)
NB_OP(ABS,        abs,        abs,        1,   NB_OP_ELEMENTWISE | NB_OP_NO_ATTRS, nb__shape_same,      1,    0)
NB_OP(SIGN,       sign,       sign,       1,   NB_OP_ELEMENTWISE | NB_OP_NO_ATTRS, nb__shape_same,      1,    0)
NB_OP(TANH,       tanh,       tanh,       1,   NB_OP_ELEMENTWISE | NB_OP_NO_ATTRS, nb__shape_same,      1,    0)
NB_OP(SIGMOID,    sigmoid,    sigmoid,    1,   NB_OP_ELEMENTWISE | NB_OP_NO_ATTRS, nb__shape_same,      1,    0)
NB_OP(ERF,        erf,        erf,        1,   NB_OP_ELEMENTWISE | NB_OP_NO_ATTRS, nb__shape_same,      1,    0)

/* elementwise binary, broadcasting (binary.c) */
NB_OP(ADD,        add,        add,        2,   NB_OP_ELEMENTWISE | NB_OP_NO_ATTRS, nb__shape_broadcast, 1,    0)
NB_OP(SUB,        sub,        sub,        2,   NB_OP_ELEMENTWISE | NB_OP_NO_ATTRS, nb__shape_broadcast, 1,    0)
NB_OP(MUL,        mul,        mul,        2,   NB_OP_ELEMENTWISE | NB_OP_NO_ATTRS, nb__shape_broadcast, 1,    0)
NB_OP(DIV,        div,        div,        2,   NB_OP_ELEMENTWISE | NB_OP_NO_ATTRS, nb__shape_broadcast, 1,    0)
NB_OP(MAX,        max,        max,        2,   NB_OP_ELEMENTWISE | NB_OP_NO_ATTRS, nb__shape_broadcast, 1,    0)
NB_OP(MIN,        min,        min,        2,   NB_OP_ELEMENTWISE | NB_OP_NO_ATTRS, nb__shape_broadcast, 1,    0)
NB_OP(POW,        pow,        pow,        2,   NB_OP_ELEMENTWISE | NB_OP_NO_ATTRS, nb__shape_broadcast, 1,    0)
NB_OP(GT,         gt,         gt,         2,   NB_OP_ELEMENTWISE | NB_OP_NO_ATTRS, nb__shape_broadcast, 1,    0)
NB_OP(GE,         ge,         ge,         2,   NB_OP_ELEMENTWISE | NB_OP_NO_ATTRS, nb__shape_broadcast, 1,    0)
NB_OP(EQ,         eq,         eq,         2,   NB_OP_ELEMENTWISE | NB_OP_NO_ATTRS, nb__shape_broadcast, 1,    0)
NB_OP(WHERE,      where,      where,      3,   NB_OP_ELEMENTWISE | NB_OP_NO_ATTRS, nb__shape_broadcast, 1,    0)

/* reductions (reduce.c) */
NB_OP(SUM,        sum,        sum,        1,   0,                                  nb__reduce_shape,    1,    0)
NB_OP(REDUCE_MAX, reduce_max, reduce_max, 1,   0,                                  nb__reduce_shape,    1,    0)

/* movement (movement.c, slice_pad_concat.c, unfold.c) */
NB_OP(RESHAPE,    reshape,    reshape,    1,   NB_OP_VIEW,                         nb__reshape_shape,   0,    0)
NB_OP(PERMUTE,    permute,    permute,    1,   0,                                  nb__permute_shape,   0,    0)
NB_OP(EXPAND,     expand,     expand,     1,   0,                                  nb__expand_shape,    1,    0)
NB_OP(SLICE,      slice,      slice,      1,   0,                                  nb__slice_shape,     0,    0)
NB_OP(PAD,        pad,        pad,        1,   0,                                  nb__pad_shape,       0,    0)
NB_OP(CONCAT,     concat,     concat,     -1,  0,                                  nb__concat_shape,    0,    0)
NB_OP(UNFOLD2D,   unfold2d,   unfold2d,   1,   0,                                  nb__unfold2d_shape,  0,    0)
NB_OP(FOLD2D,     fold2d,     fold2d,     1,   0,                                  nb__fold2d_shape,    0,    0)

/* linear algebra (matmul.c) */
NB_OP(MATMUL,     matmul,     matmul,     2,   0,                                  nb__matmul_shape,    1,    0)

/* class indices (one_hot.c) */
NB_OP(ONE_HOT,    one_hot,    one_hot,    1,   0,                                  nb__one_hot_shape,   0,    1)

/* rows of a table by index, and its adjoint (gather.c) */
NB_OP(GATHER,     gather,     gather,     2,   NB_OP_NO_ATTRS,                     nb__gather_shape,    0,    1)
NB_OP(SCATTER_ADD, scatter_add, scatter_add, 2, 0,                                 nb__scatter_add_shape, 0,  1)
