/*
 * yaml_tree.h — YAML text as a small tree of scalars, lists and mappings,
 * each with its line and column: what yaml_tree.c reads with libyaml and
 * yaml_values.c and yaml_model.c check against the model grammar. Private
 * to io/; only yaml_tree.c includes <yaml.h>.
 *
 * The reader refuses what a model file never needs and a hostile file
 * could abuse: anchors and aliases (no expansion, so no "billion laughs"),
 * explicit tags (`!!python/object` and friends), a second document,
 * duplicate or non-scalar keys, NUL characters, and anything past the
 * bounds below.
 */
#ifndef NB_IO_YAML_TREE_H
#define NB_IO_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include "nabla.h"

/* Bounds that keep a hostile text from exhausting memory or time. */
#define NB__YAML_MAX_BYTES ((size_t)1 << 20) /* 1 MiB of text */
#define NB__YAML_MAX_DEPTH 32                /* nested collections */
#define NB__YAML_MAX_VALUES 100000           /* scalars and collections */
#define NB__YAML_MAX_KEYS 256                /* keys in one mapping */

typedef enum nb__yv_kind { NB__YV_SCALAR, NB__YV_SEQ, NB__YV_MAP } nb__yv_kind;

/* One YAML value. A mapping keeps keys and values interleaved in kid
 * (kid[2i] a scalar key, kid[2i + 1] its value); its keys are distinct. */
typedef struct nb__yv {
    nb__yv_kind kind;
    bool plain;      /* a scalar written without quotes */
    int line, col;   /* 1-based */
    char *s;         /* scalar text, NUL-terminated */
    int n, cap;
    struct nb__yv **kid;
} nb__yv;

#define NB__YKEY(map, i) ((map)->kid[2 * (i)])
#define NB__YVAL(map, i) ((map)->kid[2 * (i) + 1])

/* The number of keys of a mapping. */
static inline int nb__ypairs(const nb__yv *map)
{
    return map->n / 2;
}

/* Why the reader stopped: a status, the 1-based position (line 0: none)
 * and the message without the file's name, which the caller prefixes. */
typedef struct nb__yerror {
    nb_status status;
    int line, col;
    char message[sizeof ((nb_error *)0)->message];
} nb__yerror;

/*
 * Reads text[0..len) (at most NB__YAML_MAX_BYTES; text not NULL) into a
 * tree. NB_OK with *root the tree, owned by the caller (nb__yv_free), or
 * NULL for a text with no document (empty, or only comments); else the
 * status, with *root NULL and *e saying what and where (the first problem
 * met; NB_ERR_NOMEM when memory ran out).
 */
nb_status nb__yread_tree(const char *text, size_t len, nb__yv **root, nb__yerror *e);

/* Frees v and everything under it; NULL is fine. */
void nb__yv_free(nb__yv *v);

/* The value of key in a mapping, or NULL (also when map is NULL or not a
 * mapping). */
const nb__yv *nb__yget(const nb__yv *map, const char *key);

/* The key node of key in a mapping (for its position), or NULL. */
const nb__yv *nb__ykey_of(const nb__yv *map, const char *key);

/* YAML's null: ~, null, Null, NULL, or nothing at all, unquoted; and a
 * missing value (NULL). */
bool nb__yis_null(const nb__yv *v);

#endif
