/*
 * plan.h — the planner's result, shared by plan.c (which makes it) and
 * runtime.c (which allocates and runs it). Internal to graph/.
 */
#ifndef NB_PLAN_H
#define NB_PLAN_H

#include "graph_internal.h"

/* Where a planned node's values live. */
typedef enum nb__store_kind {
    NB__STORE_EXTERNAL, /* a parameter's or constant's own values */
    NB__STORE_INPUT,    /* a dedicated buffer the user fills */
    NB__STORE_TEMP      /* a slab buffer shared by liveness */
} nb__store_kind;

typedef struct nb__storage {
    nb__store_kind kind;
    int64_t floats;  /* size of the values */
    int last;        /* index of the last planned node reading it; INT_MAX if kept */
    int buffer;      /* slab buffer (inputs and temps); -1 for external */
} nb__storage;

typedef struct nb__plan {
    int n;                 /* planned nodes, leaves included, in creation order */
    nb_node **nodes;
    int *store;            /* per planned node: its storage index */
    bool *is_output;       /* per planned node */
    int n_storage;
    nb__storage *storage;
    int n_buffers;
    int64_t *buf_floats;   /* per buffer: size; offsets follow in this order */
    int64_t *buf_offset;   /* per buffer: offset in the slab, in floats */
    int64_t slab_floats;
    size_t planned_bytes, naive_bytes;
    int n_graph;           /* graph nodes when planned: local[] covers these */
    int *local;            /* graph node id → planned index, or -1 */
    int *fuse;             /* per planned node: the fused group it ends (index in fusions),
                              NB__FOLDED when a later node's group computes it,
                              NB__DROPPED when nothing reads it once groups read past it,
                              NB__SIDE when an earlier node's group writes it too,
                              else -1 */
    nb__fusion *fusions;   /* the fused groups, in plan order; their own allocation */
    int n_fusions;
    void *mem;             /* the one allocation all arrays above live in */
    size_t mem_bytes;
} nb__plan;

#define NB__FOLDED (-2)
#define NB__DROPPED (-3)
#define NB__SIDE (-4)

/* True when planned node i gets neither a step nor a buffer: a fused group
 * computes it inside its kernel, or no step reads it any more. */
static inline bool nb__plan_skipped(const nb__plan *p, int i)
{
    return p->fuse[i] == NB__FOLDED || p->fuse[i] == NB__DROPPED;
}

/* True when planned node i has no step of its own: skipped, or the side
 * value of a group (graph_internal.h), which has a buffer that the group's
 * step writes. */
static inline bool nb__plan_stepless(const nb__plan *p, int i)
{
    return nb__plan_skipped(p, i) || p->fuse[i] == NB__SIDE;
}

/* The values planned op node i's step reads: its fused group's inputs, or
 * its own inputs when it ends no group. Returns how many. */
static inline int nb__plan_step_in(const nb__plan *p, int i, nb_node *const **in)
{
    if (p->fuse[i] >= 0) {
        *in = p->fusions[p->fuse[i]].in;
        return p->fusions[p->fuse[i]].n_in;
    }
    *in = p->nodes[i]->in;
    return p->nodes[i]->n_in;
}

/* Plans the nodes the outputs need. NB_OK or a status with the graph's
 * message set; on failure nothing is left allocated. */
nb_status nb__plan_make(nb_graph *g, nb_node *const *outputs, int n_outputs, nb__plan *p);
void nb__plan_free(nb_graph *g, nb__plan *p);

#endif
