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
