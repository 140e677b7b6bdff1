/*
 * model_write.h — a model built in C read back as a model file: what
 * model_graph.c finds in the model's graph (which nodes the file needs, the
 * layers that hold them, the loss, each value's name in the file) and
 * model_write.c writes out as YAML. Private to io/; public API only.
 */
#ifndef NB_MODEL_WRITE_H
#define NB_MODEL_WRITE_H

#include "nabla.h"

/*
 * The model built twice, each in a graph of its own and in training mode:
 * at batch 2 (a) and at batch 3 (b), node for node the same graph, so a
 * number that differs between twins follows the batch.
 */
typedef struct nb__mw {
    nb_graph *a, *b;
    nb_model_io ia, ib;
    int n;                       /* nodes of a */
    int *layer_of;               /* node id → the record whose nodes hold it, or -1 */
    int *layer_out;              /* node id → the record it is the output of, or -1 */
    bool *needed;                /* node id → a value the file writes (not inside a layer) */
    bool *layer_needed;          /* record → written as a layer node */
    char **name;                 /* node id → its name in the file (malloc'd), when needed */
    const char **sugar;          /* node id → "relu" or "flatten" when the file writes the
                                  * node as that composition, else NULL */
    bool *folded;                /* node id → a constant written inside its reader's sugar */
    const nb_layer_record *loss; /* the loss's record, or NULL (no loss) */
    const nb_model_file *file;   /* the model file when the model is one (its build is
                                  * nb_model_file_build), else NULL: the inputs' types */
    nb_error *err;
} nb__mw;

/* Builds, indexes and checks: NB_OK with every needed value named, or a
 * refusal naming the node the file cannot describe. */
nb_status nb__mw_analyse(nb__mw *w, nb_model_fn build, void *ud);
void nb__mw_free(nb__mw *w);

/* The file's op for node n ("add", "param", "full", "constant", "relu"). */
const char *nb__mw_op(const nb__mw *w, const nb_node *n);
/* True when every value of constant c is the first. */
bool nb__mw_uniform(const nb_node *c);

#endif
