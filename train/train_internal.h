/*
 * train_internal.h — private helpers shared by the files of train/ (not
 * installed). Only the public header below it: train/ is built on nabla.h.
 */
#ifndef NB_TRAIN_INTERNAL_H
#define NB_TRAIN_INTERNAL_H

#include "nabla.h"

/* The parameter "<layer>/<leaf>" of g, or NULL when there is none.
 * Defined in train/grow.c, like the next one; prune.c uses both. */
nb_node *nb__layer_param(nb_graph *g, const char *layer, const char *leaf);

/* The one forward matmul x·w (no transposes) reading parameter w, with x of
 * rank 2 [N, in]: where a dense layer's pre-activation is computed. NULL
 * with the reason in err (prefixed by `who`) when there is none, several
 * (the model was built more than once into g), or x is not [N, in]. */
nb_node *nb__dense_matmul(nb_graph *g, nb_node *w, const char *who, nb_error *err);

#endif
