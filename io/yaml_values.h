/*
 * yaml_values.h — one value of the tree (yaml_tree.h) read as the type the
 * model grammar wants, with a message that points at it: what
 * yaml_values.c gives yaml_model.c. Private to io/.
 *
 * Every call takes the parse context. A refusal records
 * "file:line:col: what" in the caller's nb_error and returns false (-1 for
 * nb__ylookup); only the first message is kept. `key` and `where` name the
 * value in messages: "key 'units' in dense: expected an integer, got
 * 'ten'", where `where` is "in dense", "at the top level", ...
 */
#ifndef NB_IO_YAML_VALUES_H
#define NB_IO_YAML_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io_internal.h"
#include "yaml_tree.h"

/* Slice bounds and steps; an integer range reaching this far is written
 * ">= lo" in messages, without its upper end. */
#define NB__YAML_MAX_INDEX ((int64_t)1 << 40)

/* One parse of one model file: the file being filled (its name starts
 * messages, its pool owns every string read), where the message goes (err
 * may be NULL), and whether a refusal was recorded. */
typedef struct nb__yctx {
    nb_model_file *m;
    nb_error *err;
    bool failed;
} nb__yctx;

/* Records "file:line:col: message" (no position when line is 0) unless a
 * refusal is already recorded; returns false so callers can
 * `return nb__yfail(...)`. */
bool nb__yfail(nb__yctx *c, nb_status st, int line, int col, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* A zeroed block (a string copy) owned by c->m, freed by nb_model_file_free;
 * NULL with "out of memory" recorded. */
void *nb__ypool_add(nb__yctx *c, size_t size);
char *nb__ypool_str(nb__yctx *c, const char *s);

/* How a value of the wrong type reads in a message ("a list", "nothing",
 * "'ten'", "the quoted string \"10\""); may write into buf. */
const char *nb__ygot(const nb__yv *v, char *buf, size_t size);

/* "key 'k' <where>: expected <expected>, got <what v is>". */
bool nb__ytype_error(nb__yctx *c, const nb__yv *v, const char *key, const char *where,
                     const char *expected);

/* A plain decimal integer in [lo, hi]. */
bool nb__yto_int(nb__yctx *c, const nb__yv *v, const char *key, const char *where, int64_t lo,
                 int64_t hi, int64_t *out);

/* The ranges a number may be asked to lie in. */
typedef enum nb__yrange {
    NB__YR_ANY,      /* finite */
    NB__YR_POS,      /* > 0 */
    NB__YR_NONNEG,   /* >= 0 */
    NB__YR_UNIT_CO,  /* [0, 1) */
    NB__YR_UNIT_OO,  /* (0, 1) */
    NB__YR_UNIT_OC,  /* (0, 1] */
    NB__YR_UNIT_CC   /* [0, 1] */
} nb__yrange;

/* A finite plain number (integers welcome) in the range. */
bool nb__yto_float(nb__yctx *c, const nb__yv *v, const char *key, const char *where,
                   nb__yrange r, double *out);

/* true/True/TRUE or false/False/FALSE, unquoted. */
bool nb__yto_bool(nb__yctx *c, const nb__yv *v, const char *key, const char *where, bool *out);

/* A non-null scalar, copied into the model's pool. */
bool nb__yto_str(nb__yctx *c, const nb__yv *v, const char *key, const char *where,
                 const char **out);

/* A node or input name: 1 to NB__YAML_NAME_MAX - 1 letters, digits, '_',
 * '-' or '.', copied into the model's pool. */
bool nb__yto_name(nb__yctx *c, const nb__yv *v, const char *key, const char *where,
                  const char **out);

/* The position of a word among names (a NULL-terminated list), or -1 with
 * "<what> 'x' is unknown; did you mean 'y'?" recorded. */
int nb__ylookup(nb__yctx *c, const nb__yv *v, const char *what, const char *const *names);

/* Every key of the mapping is in `known` or `more` (either may be NULL);
 * else "key 'filtres' is unknown in conv2d; did you mean 'filters'?". */
bool nb__ycheck_keys(nb__yctx *c, const nb__yv *map, const char *where,
                     const char *const *known, const char *const *more);

/* v is a mapping; else a type error for key. */
bool nb__ywant_map(nb__yctx *c, const nb__yv *v, const char *key, const char *where);

/* A choice written as a word or as a one-key mapping holding its options,
 * `sgd` or `{sgd: {lr: 0.1}}`: *word the word's scalar, *opts the options
 * mapping or NULL. `example` shows the mapping form in messages. */
bool nb__yone_key(nb__yctx *c, const nb__yv *v, const char *key, const char *example,
                  const nb__yv **word, const nb__yv **opts);

/* The top-level key x_div (> 0, at most 2^24) into *out; in yaml_input.c. */
bool nb__yparse_x_div(nb__yctx *c, const nb__yv *v, float *out);

#endif
