/*
 * yaml_schema.h — what a model file's ops may say (yaml_schema.c): the op
 * table, the attribute keys with their typed reads, and the names of
 * losses. Read by the layers grammar (yaml_layers.c), the training
 * sections (their bounds) and the width rewrite (yaml_units.c). Not
 * installed; io/ only.
 */
#ifndef NB_YAML_SCHEMA_H
#define NB_YAML_SCHEMA_H

#include <stdbool.h>
#include <stdint.h>

#include "yaml_values.h"

#define NB__YMAX_UNITS ((int64_t)1 << 24)   /* units, filters, groups, batch */
#define NB__YMAX_WINDOW ((int64_t)1 << 12)  /* kernel, stride, padding, dilation, pool size */
#define NB__YMAX_NUMEL ((int64_t)1 << 31)   /* elements of one example or constant */

/* One op as a model file writes it. */
typedef struct nb__yop_info {
    const char *name;
    int arity;                 /* inputs; -1: one or more */
    const char *keys[14];      /* its attribute keys, NULL-terminated */
    const char *required[3];
} nb__yop_info;

/* The op's entry (nb__yop_name's name among it); a built-in op's from
 * its definition: its name and arity, no keys. */
nb__yop_info nb__yop_info_of(nb__yop op);
/* The op a word names, with "did you mean" over every op. */
bool nb__ylookup_op(nb__yctx *c, const nb__yv *v, nb__yop *out);
/* The loss a word names (an nb__yloss), or -1 after a message. */
int nb__ylookup_loss(nb__yctx *c, const nb__yv *v);

/* The attributes' defaults that are not zero. */
nb__yattrs nb__yattr_defaults(void);
/* Attribute `key` of op (one of its keys, checked by the caller) read from
 * v into a, by the key's type and range. */
bool nb__yread_attr(nb__yctx *c, const char *key, const nb__yv *v, const char *where, nb__yop op,
                    nb__yattrs *a);
/* Every attribute key any op has, NULL-terminated, into keys (room for
 * NB__YATTR_KEYS + 1): for "did you mean" when a node names no op. */
#define NB__YATTR_KEYS 48
void nb__yattr_keys(const char **keys);
/* A shape of one example: up to NB_MAX_RANK - 1 sizes >= 1, at most 2^31
 * elements; with minus_one, one size may be -1 (inferred). */
bool nb__yto_shape(nb__yctx *c, const nb__yv *v, const char *key, const char *where,
                   bool minus_one, nb_shape *out);
/* What one key of a node cannot say alone (a window, a permutation, a
 * constant's values, pad's sizes); `at` is where the node starts. */
bool nb__ycheck_node(nb__yctx *c, const nb__yv *at, const nb__yv *opts, const nb__ynode *n);

#endif
