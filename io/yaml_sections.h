/*
 * yaml_sections.h — the readers of a model file's sections, each filling
 * c->m (or the options given) and refusing with file:line:column: the
 * graph (yaml_layers.c) and the training sections (yaml_train.c).
 * yaml_model.c calls them in order from the top level. Not installed;
 * io/ only.
 */
#ifndef NB_YAML_SECTIONS_H
#define NB_YAML_SECTIONS_H

#include <stdbool.h>

#include "yaml_values.h"

/* ---------------------------------------------------------------- the graph (yaml_layers.c) */

/* input: {x: [1, 28, 28], ...}: names and one example's shape each. */
bool nb__yparse_inputs(nb__yctx *c, const nb__yv *v);
/* layers: or nodes:, exactly one, from the top-level mapping. */
bool nb__yparse_body(nb__yctx *c, const nb__yv *root);
/* output: <node name> (v NULL: the last node) into *out, a node index. */
bool nb__yparse_output(nb__yctx *c, const nb__yv *v, const char *key, const char *where,
                       int *out);
/* loss: mse, or {softmax_cross_entropy: {node: logits}}. */
bool nb__yparse_loss(nb__yctx *c, const nb__yv *v);

/* ---------------------------------------------------------------- training (yaml_train.c) */

/* The trainer's defaults, written out so callers can show them. */
nb_train_opts nb__ytrain_defaults(void);
bool nb__yparse_optimizer(nb__yctx *c, const nb__yv *v, nb_optimizer_opts *o);
bool nb__yparse_schedule(nb__yctx *c, const nb__yv *v, nb_schedule *s);
/* clip_norm: a number >= 0 (0: no clipping). */
bool nb__yparse_clip(nb__yctx *c, const nb__yv *v, float *out);
bool nb__yparse_train(nb__yctx *c, const nb__yv *v, nb_train_opts *t);
/* data: idx {dir} or hdf5 {train, test, validation, x, y}; relative
 * paths are taken from the model file's folder. */
bool nb__yparse_data(nb__yctx *c, const nb__yv *v);

/* ---------------------------------------------------------------- the probe (yaml_build.c) */

/* Builds the model once at batch 2 (nb__model_probe): the shapes must fit,
 * and the targets' width and the output's shape come from what was built.
 * A refusal is recorded in c unless one already is. */
bool nb__yprobe(nb__yctx *c);

#endif
