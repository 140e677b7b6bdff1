/*
 * without/dot.c — drawing in a nabla built without Graphviz
 * (-Dgraphviz=disabled, or libcgraph/libgvc not found): both calls refuse
 * with one sentence saying so.
 */
#include "nabla.h"

static nb_status missing(const char *path, nb_error *err)
{
    return nb_error_set(err, NB_ERR_UNAVAILABLE, "nabla was built without Graphviz: cannot draw "
                        "'%s' (DOT, SVG and PNG drawings need libcgraph and libgvc; rebuild "
                        "with them installed)", path ? path : "(no file)");
}

nb_status nb_dot_write(nb_graph *g, nb_node *const *outputs, int n, nb_dot_opts o,
                       const char *path, nb_error *err)
{
    (void)g, (void)outputs, (void)n, (void)o;
    return missing(path, err);
}

nb_status nb_runtime_dot_write(const nb_runtime *rt, nb_dot_opts o, const char *path,
                               nb_error *err)
{
    (void)rt, (void)o;
    return missing(path, err);
}

nb_status nb_trainer_dot_write(nb_trainer *t, nb_dot_opts o, const char *path, nb_error *err)
{
    (void)t, (void)o;
    return missing(path, err);
}
