/*
 * op_table.c — the built-in primitive ops' table and kernel choice, both
 * generated from ops/op_list.h. Adding an op is one line in that list, one
 * op file (or a few functions in an existing one: its shape rule, kernel,
 * vjp rule and builder, with the builder's declaration in nabla.h), and
 * its tests; tests/test_op_table.c walks this table for holes.
 */
#include "ops_internal.h"

#define NB__FAST_0(impl) NULL
#define NB__FAST_1(impl) nb__##impl##_fast
#define NB__CHECK_0(impl) NULL
#define NB__CHECK_1(impl) nb__##impl##_check

const nb_op_def nb__op_table[NB_OP_COUNT] = {
#define NB_OP(ID, NAME, IMPL, ARITY, FLAGS, SHAPE, FAST, CHECK)                                   \
    [NB_OP_##ID] = {.name = #NAME, .arity = ARITY, .flags = FLAGS, .shape = SHAPE,                \
                    .forward = nb__##IMPL##_forward, .vjp = nb__##IMPL##_vjp,                   \
                    .check = NB__CHECK_##CHECK(IMPL)},
#include "op_list.h"
#undef NB_OP
};

/* The ops with kernels specialised per node, indexed like the table: the
 * runtime asks once per step, never per run. */
typedef nb__kernel_fn (*fast_choose_fn)(const nb_node *n, nb__kernel *k);
static const fast_choose_fn fast_table[NB_OP_COUNT] = {
#define NB_OP(ID, NAME, IMPL, ARITY, FLAGS, SHAPE, FAST, CHECK) \
    [NB_OP_##ID] = NB__FAST_##FAST(IMPL),
#include "op_list.h"
#undef NB_OP
};

nb__kernel_fn nb__kernel_choose(const nb_node *n, nb__kernel *k)
{
    *k = (nb__kernel){0};
    if (n->kind != NB_NODE_OP || n->op < nb__op_table || n->op >= nb__op_table + NB_OP_COUNT)
        return NULL; /* user ops (nb_custom) run their own forward */
    fast_choose_fn choose = fast_table[n->op - nb__op_table];
    return choose ? choose(n, k) : NULL;
}

const nb_op_def *nb__leaf_op(nb_node_kind kind)
{
    static const nb__op_id ids[] = {[NB_NODE_INPUT] = NB_OP_INPUT, [NB_NODE_PARAM] = NB_OP_PARAM,
                                    [NB_NODE_CONST] = NB_OP_CONST};
    return &nb__op_table[ids[kind]];
}

const nb_op_def *nb_builtin_op(int i)
{
    return i >= 0 && i < NB_OP_COUNT ? &nb__op_table[i] : NULL;
}

/* The builders of these ops (nb_add, nb_neg, nb_where) make their node the
 * same way: nb__node_new with no attributes, which also checks the count
 * and the graph of the inputs. */
nb_node *nb_builtin_apply(nb_graph *g, const nb_op_def *def, nb_node *const *inputs, int n)
{
    if (!g)
        return NULL;
    if (!def || def < nb__op_table || def >= nb__op_table + NB_OP_COUNT ||
        !(def->flags & NB_OP_NO_ATTRS))
        return nb_graph_fail(g, NB_ERR_ARG, "nb_builtin_apply: %s%s%s is not a built-in op "
                             "whose node is its inputs alone", def && def->name ? "op '" : "",
                             def && def->name ? def->name : "(none)",
                             def && def->name ? "'" : ""), NULL;
    return nb__node_new(g, def, inputs, n, NULL);
}
