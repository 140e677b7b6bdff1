/*
 * trainer_internal.h — the trainer's private parts, shared by the files
 * that make it up (trainer.c names each file's job) and by no other: the
 * struct behind the opaque nb_trainer, one build of the model, and the
 * functions one trainer file calls in another. What other files of train/
 * may ask of a trainer is in train_internal.h, through functions alone.
 */
#ifndef NB_TRAINER_INTERNAL_H
#define NB_TRAINER_INTERNAL_H

#include "train_internal.h"

#define MAX_INSTANCES 32

/* One build of the model: its nodes and the runtime computing them. */
typedef struct instance {
    int64_t batch;
    bool training;
    nb_model_io io;
    nb_runtime *rt;
    nb_runtime *out_rt;      /* inference, made by predictions: the output alone (x only) */
    nb_node **grads;         /* training: one per trainable parameter */
    int first_update, n_updates; /* this build's state updates */
    bool skip;               /* a short training batch the model cannot train on */
} instance;

struct nb_trainer {
    nb_graph *g;
    nb_model_fn build;
    void *ud;
    nb_shape shape;          /* one example */
    int64_t numel, y_width;
    int64_t classes;         /* > 0: the targets are class indices 0..classes-1 */
    const nb_node *scores;   /* the node whose columns the classes are, or NULL */
    nb_train_opts o;
    nb_rng rng;              /* presentation order and dropout masks */
    instance inst[MAX_INSTANCES];
    int n_inst;
    nb_node **params;        /* trainable, in the graph's order */
    int64_t *param_numel;    /* per trainable parameter: its element count (fixed, as the
                                optimiser's), so a step need not ask the graph */
    int n_params;
    nb_optimizer *opt;
    float *grads;            /* every gradient, end to end */
    nb__grad_src *gsrc;      /* per trainable parameter: where its gradient is this step */
    const instance *located; /* the build whose gradients gsrc locates while its runtime's
                                binding is located_at (NULL: none, or formed ones) */
    unsigned located_at;
    float *xb, *yb;          /* one staged minibatch */
    const float *bx, *by;    /* the batch fed last: xb and yb, or the set's own memory
                                when its examples were in order, as floats */
    nb__feed feed;           /* and its inputs after x (feed.c) */
    int64_t staged;          /* examples xb and yb hold room for */
    int64_t *order;
    int64_t order_n;
    int64_t global_step;
    int64_t skipped;         /* examples of short batches skipped (see instance.skip) */
    int epochs_done;
    double q;
    int best_epoch, bad_epochs; /* validation: the best epoch, epochs since it */
    double best;                /* its monitored metric */
    float *best_w;              /* early stopping: every parameter at best_epoch */
    int64_t best_n;
    nb_status status;        /* of the last error, which err describes */
    nb__range_acc seen;         /* inputs trained on: the last fit's set, or every step's */
    float seen_x_div;           /* its byte divisor (0: floats) */
    const int64_t *held;        /* during a fit holding out a validation fraction: the held
                                   indices (ascending), to name examples as the caller counts */
    int64_t n_held;
    nb_dist *dist;              /* the group, when it has more than one rank; else NULL */
    int64_t share_at, share_of; /* during a data-parallel step: this rank's first example
                                   in the global batch, and that batch's size (0: none) */
    nb__dsum *dsum;             /* data-parallel: what the ranks sum each step */
    int64_t state_n;            /* floats of the state updates (batch norm statistics) */
    char err[512];
};

/* What the ranks sum after a step (t->dsum): every state update's value
 * (batch norm's running statistics) weighted by the rank's part of the
 * batch, then these; then every gradient (dist_sum.c), weighted alike. */
enum { SUM_LOSS, SUM_HITS, SUM_FAILED, SUM_SKIPPED, SUM_TAIL };

/* ---------------------------------------------------------------- trainer.c */

/* The trainer's message formatted (printf) and its status set to st;
 * returns st. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
nb_status nb__trainer_failf(nb_trainer *t, nb_status st, const char *fmt, ...);

/* ---------------------------------------------------------------- trainer_build.c */

/* The build for (batch, training), made on first use; NULL with the
 * trainer's message set. */
instance *nb__trainer_instance(nb_trainer *t, int64_t batch, bool training);
/* The builds (and staging room) a pass over n examples in batches of
 * `batch` needs; and, data-parallel, this rank's parts of a pass. */
nb_status nb__trainer_prepare(nb_trainer *t, int64_t n, int64_t batch, bool training);
nb_status nb__trainer_prepare_shares(nb_trainer *t, int64_t n);

/* ---------------------------------------------------------------- trainer_check.c */

/* ds (`which` names it) fits the model: shape, targets, inputs, labels. */
nb_status nb__trainer_check_set(nb_trainer *t, const nb_dataset *ds, const char *which);
/* ds's values are finite and in range; its inputs added to acc (may be NULL). */
nb_status nb__trainer_check_values(nb_trainer *t, const nb_dataset *ds, const char *which,
                                   nb__range_acc *acc);

/* ---------------------------------------------------------------- trainer_batch.c */

/* Room to stage `batch` examples (kept: the largest batch seen). */
nb_status nb__trainer_stage_room(nb_trainer *t, int64_t batch);
/* Examples idx[0..in->batch) (start.. when idx is NULL) staged, fed and run. */
nb_status nb__trainer_feed(nb_trainer *t, instance *in, const nb_dataset *ds,
                           const int64_t *idx, int64_t start);
/* Correct predictions of the batch just run. */
int64_t nb__trainer_hits(const nb_trainer *t, const instance *in);
/* Where each gradient of the batch just run is, in t->gsrc. */
void nb__trainer_locate_grads(nb_trainer *t, const instance *in);
/* The batch's gradients times scale into dst, end to end; returns the count. */
int64_t nb__trainer_gather_grads(nb_trainer *t, const instance *in, float *dst, float scale);

/* ---------------------------------------------------------------- trainer_step.c */

/* One step of one process on order[0..b), in the build for b. */
nb_status nb__trainer_step_one(nb_trainer *t, const nb_dataset *ds, const int64_t *order,
                               int64_t b, const nb_progress *p, double *loss, int64_t *hits,
                               bool *skipped);

/* ---------------------------------------------------------------- trainer_nonfinite.c */

/* The first parameter whose gradient is not finite, or n_params. */
int nb__trainer_first_bad_grad(nb_trainer *t, const instance *in);
/* A step whose loss (bad < 0) or gradient `bad` is not finite refused,
 * saying what, when (p: where fit stands; NULL) and what its examples give
 * alone. */
nb_status nb__trainer_step_failed(nb_trainer *t, const instance *in, const nb_dataset *ds,
                                  const int64_t *idx, int64_t start, const nb_progress *p,
                                  int bad, double loss);

/* ---------------------------------------------------------------- trainer_dist.c */

/* The status every rank agrees on after a phase (st itself without a group). */
nb_status nb__trainer_agreed(nb_trainer *t, nb_status st);
/* This rank's part of a global batch of b examples; its first in *at. */
int64_t nb__trainer_share(const nb_trainer *t, int64_t b, int64_t *at);
/* One data-parallel step on the global batch order[0..b). */
nb_status nb__trainer_step_dist(nb_trainer *t, const nb_dataset *ds, const int64_t *order,
                                int64_t b, const nb_progress *p, double *loss, int64_t *hits,
                                bool *skipped);
/* Rank 0's weights, optimiser and training state on every rank. */
nb_status nb__trainer_sync_from_root(nb_trainer *t);

/* ---------------------------------------------------------------- trainer_epoch.c */

/* The epoch's presentation order in t->order: shuffled, or hardest first. */
nb_status nb__trainer_reorder(nb_trainer *t, int64_t n);
nb_status nb__trainer_hardest_first(nb_trainer *t, const nb_dataset *ds);
/* One pass over ds; p carries the progress shown to callbacks. */
nb_status nb__trainer_epoch(nb_trainer *t, const nb_dataset *ds, nb_progress *p,
                            double *q_ref);

/* ---------------------------------------------------------------- trainer_best.c */

/* Room for the best epoch's weights (NULL with the message set). */
float *nb__trainer_best_room(nb_trainer *t);
/* Patience epochs without improvement have passed. */
bool nb__trainer_patience_out(const nb_trainer *t);
/* After a validated epoch: the best so far, and what p reports of it. */
nb_status nb__trainer_track_best(nb_trainer *t, nb_progress *p);
/* At the end of fit: the best epoch's weights back. */
void nb__trainer_restore_best(nb_trainer *t);
/* After a state naming a best epoch was set: its weights' room, holding
 * the current weights until a checkpoint loader fills in the best's. */
void nb__trainer_best_resume(nb_trainer *t);

#endif
