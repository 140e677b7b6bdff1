/*
 * test_op_table.c — the built-in op table has no holes: every entry has a
 * name, a shape rule, a forward kernel and a vjp rule, and names are unique.
 * Built against the static library because the table is internal.
 */
#include <string.h>

#include "helpers.h"
#include "../ops/ops_internal.h"

Test(op_table, every_entry_is_complete)
{
    for (int i = 0; i < NB_OP_COUNT; i++) {
        const nb_op_def *d = &nb__op_table[i];
        cr_assert_not_null(d->name, "op %d has no name", i);
        cr_assert_not_null(d->shape, "op '%s' has no shape rule", d->name);
        cr_assert_not_null(d->forward, "op '%s' has no forward kernel", d->name);
        cr_assert_not_null(d->vjp, "op '%s' has no vjp rule", d->name);
        cr_assert(d->arity >= -1 && d->arity <= 3, "op '%s' has arity %d", d->name, d->arity);
        cr_assert_eq(d->arity == 0, (d->flags & NB_OP_LEAF) != 0,
                     "op '%s': only leaves take no inputs", d->name);
    }
}

Test(op_table, names_are_unique)
{
    for (int i = 0; i < NB_OP_COUNT; i++)
        for (int j = i + 1; j < NB_OP_COUNT; j++)
            cr_assert_str_neq(nb__op_table[i].name, nb__op_table[j].name,
                              "ops %d and %d share a name", i, j);
}

Test(op_table, builtin_op_enumerates_the_table)
{
    for (int i = 0; i < NB_OP_COUNT; i++)
        cr_assert_eq(nb_builtin_op(i), &nb__op_table[i], "op %d", i);
    cr_assert_null(nb_builtin_op(NB_OP_COUNT));
    cr_assert_null(nb_builtin_op(-1));
}

/* The ops whose node is its inputs alone: nb_builtin_apply makes the very
 * node their own builders make, with no attributes; leaves and ops with
 * options are not among them. */
Test(op_table, builtin_apply_is_the_builder)
{
    const nb__op_id plain[] = {NB_OP_NEG, NB_OP_SIGMOID, NB_OP_ADD, NB_OP_EQ, NB_OP_WHERE};
    const nb__op_id not_plain[] = {NB_OP_INPUT, NB_OP_CONST, NB_OP_SUM, NB_OP_RESHAPE,
                                   NB_OP_CONCAT, NB_OP_MATMUL, NB_OP_ONE_HOT};
    for (size_t k = 0; k < sizeof plain / sizeof plain[0]; k++)
        cr_assert(nb__op_table[plain[k]].flags & NB_OP_NO_ATTRS, "%s", nb__op_table[plain[k]].name);
    for (size_t k = 0; k < sizeof not_plain / sizeof not_plain[0]; k++)
        cr_assert(!(nb__op_table[not_plain[k]].flags & NB_OP_NO_ATTRS), "%s",
                  nb__op_table[not_plain[k]].name);
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(2, 3)), *in[3] = {x, x, x};
    int n_plain = 0;
    for (int i = 0; i < NB_OP_COUNT; i++) {
        const nb_op_def *d = &nb__op_table[i];
        if (!(d->flags & NB_OP_NO_ATTRS))
            continue;
        cr_assert(d->arity >= 1 && d->arity <= 3 && !(d->flags & NB_OP_LEAF), "%s", d->name);
        nb_node *n = nb_builtin_apply(g, d, in, d->arity);
        cr_assert_not_null(n, "%s: %s", d->name, nb_graph_error(g));
        cr_assert_str_eq(nb_node_op(n), d->name);
        cr_assert_eq(nb_node_num_inputs(n), d->arity);
        const nb_attrs *a = nb_node_attrs(n), zero = {0};
        cr_assert(!memcmp(a, &zero, sizeof zero), "%s has attributes", d->name);
        n_plain++;
    }
    cr_assert_geq(n_plain, 19);
    nb_node *b = nb_add(g, x, x), *a = nb_builtin_apply(g, NB__OP(ADD), in, 2);
    cr_assert_eq(nb_node_op(a), nb_node_op(b));
    cr_assert(!memcmp(nb_node_attrs(a), nb_node_attrs(b), sizeof(nb_attrs)));
    nb_graph_free(g);
}

static nb_status refused_apply(const nb_op_def *d, int n, const char *want)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(2, 3)), *in[3] = {x, x, x};
    cr_assert_null(nb_builtin_apply(g, d, in, n));
    cr_assert(strstr(nb_graph_error(g), want), "\"%s\" lacks \"%s\"", nb_graph_error(g), want);
    nb_status st = nb_graph_status(g);
    nb_graph_free(g);
    return st;
}

Test(op_table, builtin_apply_refusals)
{
    static const nb_op_def mine = {.name = "mine", .arity = 1, .flags = NB_OP_NO_ATTRS,
                                   .shape = nb__shape_same, .forward = nb__neg_forward};
    cr_assert_eq(refused_apply(NB__OP(SUM), 1, "op 'sum' is not a built-in op whose node is its "
                                                "inputs alone"), NB_ERR_ARG);
    cr_assert_eq(refused_apply(NB__OP(INPUT), 0, "op 'input' is not"), NB_ERR_ARG);
    cr_assert_eq(refused_apply(&mine, 1, "op 'mine' is not"), NB_ERR_ARG);
    cr_assert_eq(refused_apply(NULL, 1, "(none) is not"), NB_ERR_ARG);
    cr_assert_eq(refused_apply(NB__OP(ADD), 1, "add: takes 2 inputs, got 1"), NB_ERR_ARG);
    cr_assert_null(nb_builtin_apply(NULL, NB__OP(ADD), NULL, 2));
}

Test(op_table, builders_use_their_entry)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(2, 3));
    cr_assert_str_eq(nb_node_op(nb_exp(g, x)), "exp");
    cr_assert_str_eq(nb_node_op(nb_add(g, x, x)), "add");
    cr_assert_str_eq(nb_node_op(nb_matmul(g, x, x, false, true)), "matmul");
    cr_assert_str_eq(nb_node_op(x), "input");
    nb_graph_free(g);
}
