/*
 * op_table.c — the built-in primitive ops, one entry each. Adding an op is
 * one enum value (graph_internal.h), one entry here, one file of shape rule,
 * kernel and vjp, and its tests; tests/test_op_table.c walks this table for
 * holes.
 */
#include "ops_internal.h"

_Static_assert(NB_OP_COUNT == 34, "a new op needs its table entry below");

#define NB__ENTRY(ID, NAME, ARITY, FLAGS, SHAPE, FN)                                   \
    [NB_OP_##ID] = {.name = NAME, .arity = ARITY, .flags = FLAGS, .shape = SHAPE,       \
                    .forward = nb__##FN##_forward, .vjp = nb__##FN##_vjp}

#define NB__EW NB_OP_ELEMENTWISE

const nb_op_def nb__op_table[NB_OP_COUNT] = {
    [NB_OP_INPUT] = {.name = "input", .arity = 0, .flags = NB_OP_LEAF, .shape = nb__leaf_shape,
                     .forward = nb__leaf_forward, .vjp = nb__leaf_vjp},
    [NB_OP_PARAM] = {.name = "param", .arity = 0, .flags = NB_OP_LEAF, .shape = nb__leaf_shape,
                     .forward = nb__leaf_forward, .vjp = nb__leaf_vjp},
    [NB_OP_CONST] = {.name = "const", .arity = 0, .flags = NB_OP_LEAF, .shape = nb__leaf_shape,
                     .forward = nb__leaf_forward, .vjp = nb__leaf_vjp},

    NB__ENTRY(NEG, "neg", 1, NB__EW, nb__shape_same, neg),
    NB__ENTRY(EXP, "exp", 1, NB__EW, nb__shape_same, exp),
    NB__ENTRY(LOG, "log", 1, NB__EW, nb__shape_same, log),
    NB__ENTRY(SQRT, "sqrt", 1, NB__EW, nb__shape_same, sqrt),
    NB__ENTRY(ABS, "abs", 1, NB__EW, nb__shape_same, abs),
    NB__ENTRY(SIGN, "sign", 1, NB__EW, nb__shape_same, sign),
    NB__ENTRY(TANH, "tanh", 1, NB__EW, nb__shape_same, tanh),
    NB__ENTRY(SIGMOID, "sigmoid", 1, NB__EW, nb__shape_same, sigmoid),

    NB__ENTRY(ADD, "add", 2, NB__EW, nb__shape_broadcast, add),
    NB__ENTRY(SUB, "sub", 2, NB__EW, nb__shape_broadcast, sub),
    NB__ENTRY(MUL, "mul", 2, NB__EW, nb__shape_broadcast, mul),
    NB__ENTRY(DIV, "div", 2, NB__EW, nb__shape_broadcast, div),
    NB__ENTRY(MAX, "max", 2, NB__EW, nb__shape_broadcast, max),
    NB__ENTRY(MIN, "min", 2, NB__EW, nb__shape_broadcast, min),
    NB__ENTRY(POW, "pow", 2, NB__EW, nb__shape_broadcast, pow),
    NB__ENTRY(GT, "gt", 2, NB__EW, nb__shape_broadcast, gt),
    NB__ENTRY(GE, "ge", 2, NB__EW, nb__shape_broadcast, ge),
    NB__ENTRY(EQ, "eq", 2, NB__EW, nb__shape_broadcast, eq),
    NB__ENTRY(WHERE, "where", 3, NB__EW, nb__shape_broadcast, where),

    NB__ENTRY(SUM, "sum", 1, 0, nb__reduce_shape, sum),
    NB__ENTRY(REDUCE_MAX, "reduce_max", 1, 0, nb__reduce_shape, reduce_max),

    NB__ENTRY(RESHAPE, "reshape", 1, NB_OP_VIEW, nb__reshape_shape, reshape),
    NB__ENTRY(PERMUTE, "permute", 1, 0, nb__permute_shape, permute),
    NB__ENTRY(EXPAND, "expand", 1, 0, nb__expand_shape, expand),
    NB__ENTRY(SLICE, "slice", 1, 0, nb__slice_shape, slice),
    NB__ENTRY(PAD, "pad", 1, 0, nb__pad_shape, pad),
    NB__ENTRY(CONCAT, "concat", -1, 0, nb__concat_shape, concat),
    NB__ENTRY(UNFOLD2D, "unfold2d", 1, 0, nb__unfold2d_shape, unfold2d),
    NB__ENTRY(FOLD2D, "fold2d", 1, 0, nb__fold2d_shape, fold2d),

    NB__ENTRY(MATMUL, "matmul", 2, 0, nb__matmul_shape, matmul),

    [NB_OP_ONE_HOT] = {.name = "one_hot", .arity = 1, .shape = nb__one_hot_shape,
                       .forward = nb__one_hot_forward, .vjp = nb__one_hot_vjp,
                       .check = nb__one_hot_check},
};

/* The ops with kernels specialised per node (nb__fast_kernel), indexed like
 * the table above: the runtime asks once per step, never per run. */
typedef bool (*fast_pick_fn)(const nb_node *n, nb__fast *f);
static const fast_pick_fn fast_table[NB_OP_COUNT] = {
    [NB_OP_ADD] = nb__binary_fast, [NB_OP_SUB] = nb__binary_fast, [NB_OP_MUL] = nb__binary_fast,
    [NB_OP_DIV] = nb__binary_fast, [NB_OP_MAX] = nb__binary_fast, [NB_OP_MIN] = nb__binary_fast,
    [NB_OP_POW] = nb__binary_fast, [NB_OP_GT] = nb__binary_fast,  [NB_OP_GE] = nb__binary_fast,
    [NB_OP_EQ] = nb__binary_fast,  [NB_OP_WHERE] = nb__binary_fast,
    [NB_OP_SUM] = nb__reduce_fast, [NB_OP_REDUCE_MAX] = nb__reduce_fast,
    [NB_OP_MATMUL] = nb__matmul_fast,
};

void nb__fast_kernel(const nb_node *n, nb__fast *f)
{
    *f = (nb__fast){0};
    if (n->kind != NB_NODE_OP || n->op < nb__op_table || n->op >= nb__op_table + NB_OP_COUNT)
        return; /* user ops (nb_custom) run their own forward */
    fast_pick_fn pick = fast_table[n->op - nb__op_table];
    if (pick && !pick(n, f))
        *f = (nb__fast){0};
}
