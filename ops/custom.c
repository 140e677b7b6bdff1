/*
 * custom.c — user-defined primitive ops: a definition the user owns, checked
 * once here, then handled like any table entry.
 */
#include "ops_internal.h"

nb_node *nb_custom(nb_graph *g, const nb_op_def *def, nb_node *const *inputs, int n,
                   const nb_attrs *attrs)
{
    if (!g)
        return NULL;
    if (!def || !def->name || !def->shape || !def->forward)
        return nb_graph_fail(g, NB_ERR_ARG,
                             "custom op%s%s: a definition needs a name, a shape rule and a "
                             "forward kernel",
                             def && def->name ? " " : "", def && def->name ? def->name : ""),
               NULL;
    if (def->flags & NB_OP_LEAF)
        return nb_graph_fail(g, NB_ERR_ARG, "custom op %s: may not be a leaf", def->name), NULL;
    /* A built-in op's attributes are checked by its own builder; taken from
     * the caller here they could send its kernel out of bounds. */
    if (def >= nb__op_table && def < nb__op_table + NB_OP_COUNT)
        return nb_graph_fail(g, NB_ERR_ARG, "custom op %s: a built-in op; build it with its own "
                             "builder%s", def->name, def->flags & NB_OP_NO_ATTRS ?
                             " or nb_builtin_apply" : ""), NULL;
    return nb__node_new(g, def, inputs, n, attrs);
}
