/*
 * train_internal.h — private helpers shared by the files of train/ (not
 * installed). Only the public header below it: train/ is built on nabla.h
 * (and graph/simd.h, a compiler macro with no graph internals).
 */
#ifndef NB_TRAIN_INTERNAL_H
#define NB_TRAIN_INTERNAL_H

#include <string.h>

#include "nabla.h"
#include "../graph/simd.h"
#include "../ops/kernels/finite.h"

/* The parameter "<layer>/<leaf>" of g, or NULL when there is none.
 * Defined in train/grow.c, like the next one; prune.c uses both. */
nb_node *nb__layer_param(nb_graph *g, const char *layer, const char *leaf);

/* The forward product x·w of the dense layer whose weight is w, with x of
 * rank 2 [N, in]: where its pre-activation is computed, found through the
 * graph's layer records. NULL with the reason in err (prefixed by `who`)
 * when no dense layer has w, several builds of it are in g (the model was
 * built more than once into g), or x is not [N, in]. */
nb_node *nb__dense_matmul(nb_graph *g, nb_node *w, const char *who, nb_error *err);

/* Value `at` (an index into the whole examples array, example · numel +
 * offset) of ds as a float, from either form: what nb_dataset_gather
 * would give. For code that reads scattered values (lecture_init.c). */
static inline float nb__dataset_value(const nb_dataset *ds, int64_t at)
{
    return ds->x ? ds->x[at] : (float)ds->x_u8[at] / ds->x_div;
}

/* The inputs after x (dataset_inputs.c): input k seen as a dataset of its
 * own without targets; freed with the dataset; copied into dst (dst->n
 * examples: rows[i], or start + i when rows is NULL). */
nb_dataset nb__dataset_input_view(const nb_dataset *ds, int k);
void nb__dataset_free_extra(nb_dataset *ds);
nb_status nb__dataset_copy_extra(const nb_dataset *src, nb_dataset *dst, const int64_t *rows,
                                 int64_t start, nb_error *err);

/* Feeding a model's inputs after x (feed.c): staging room for each, one
 * minibatch, grown (never per step) to the largest batch. */
typedef struct nb__feed {
    float *buf[NB_MAX_INPUTS - 1];
} nb__feed;
/* The dataset's input feeding model input j after x (io->extra[j]): the
 * one of its node's name (the j-th when unnamed); −1 when there is none. */
int nb__feed_find(const nb_model_io *io, int j, const nb_dataset *ds);
/* A build's inputs after x are set, have the batch first, and (first not
 * NULL) the first build's example shapes. NB_OK, or the status with msg. */
nb_status nb__feed_check_io(const nb_model_io *io, const nb_model_io *first, int64_t batch,
                            char *msg, size_t size);
/* ds fits the model's inputs (`which` set, for messages): each input after
 * x has data of its shape, each of ds's inputs feeds one, and inputs that
 * are ids (x_ids, ids) or index a table of g (an embedding's gather) hold
 * whole numbers inside it. NB_OK, or the status with "train: …" in msg. */
nb_status nb__feed_check(const nb_graph *g, const nb_model_io *io, const nb_dataset *ds,
                         const char *which, char *msg, size_t size);
/* Room for `batch` examples of each input after x of io. */
nb_status nb__feed_room(nb__feed *f, const nb_model_io *io, int64_t batch);
/* Examples idx[0..count) (or start..) of each input after x staged and set
 * as rt's inputs (io: the build rt runs; first: the first build, whose
 * input names are the model's: a later build's are made unique). */
nb_status nb__feed_set(nb__feed *f, nb_runtime *rt, const nb_model_io *io,
                       const nb_model_io *first, const nb_dataset *ds, const int64_t *idx,
                       int64_t start, int64_t count, nb_error *err);
void nb__feed_free(nb__feed *f);

/* Running sums toward an nb_input_range (inputs.c): the finite values
 * added so far, shifted by the first so the variance stays exact enough. */
typedef struct nb__range_acc {
    int64_t n;
    double shift, sum, sq, min, max;
} nb__range_acc;
void nb__range_add(nb__range_acc *a, const float *v, int64_t n);
/* The same for n bytes, each value byte / x_div (through a histogram). */
void nb__range_add_bytes(nb__range_acc *a, const uint8_t *v, int64_t n, float x_div);
/* The range of what was added (count 0 when nothing was), x_div as given. */
nb_input_range nb__range_result(const nb__range_acc *a, float x_div);

/* Whether all n values are finite (ops/kernels/finite.h: no NaN, no ±inf). */
static inline bool nb__all_finite(const float *v, int64_t n)
{
    return nb__finite_all(v, n);
}

/* Where one parameter's gradient is: n floats at g, or, when g is NULL, the
 * outer product g[i·n + j] = u[i]·v[j] of two vectors (a dense layer's
 * weight gradient at batch 1), never formed in memory. */
typedef struct nb__grad_src {
    const float *g;
    const float *u, *v;
    int64_t n; /* v's length: the parameter's last dimension */
} nb__grad_src;

/* nb_optimizer_step with each parameter's gradient read where it lies
 * (src[i] for the optimiser's i-th parameter), so a trainer need not copy
 * gradients end to end first, and an outer-product gradient is formed row
 * by row as the update reads it. Same rules, and the same arithmetic as on
 * the formed gradient; allocates nothing. stamp: nb_graph_param_stamp of
 * the graph holding opt's parameters, which tells whether the parameter
 * lookups of an earlier step still hold. In optim.c. */
void nb__optimizer_step_src(nb_optimizer *opt, const nb__grad_src *src, float lr,
                            unsigned stamp);
/* One step (the counter advanced once) that updates only the values
 * [ranges[2k], ranges[2k+1]) of the gradient order, for k < n, from
 * g[k] (the gradient of range k's first value on): a rank's part of a
 * sharded update (dist_sum.c). The rest of the parameters and slots are
 * left alone. In optim.c. */
void nb__optimizer_step_ranges(nb_optimizer *opt, const float *const *g, const int64_t *ranges,
                               int n, float lr);

/* Another module's message carried inside one of train/'s: without its
 * leading "run: " or "train: ", so a message names one module once
 * ("train: dense1: …", not "train: run: dense1: …"). */
static inline const char *nb__message_detail(const char *m)
{
    static const char *const prefixes[] = {"run: ", "train: "};
    for (int i = 0; m && i < 2; i++)
        if (!strncmp(m, prefixes[i], strlen(prefixes[i])))
            return m + strlen(prefixes[i]);
    return m;
}

/* The trainer's message set to `message`; returns st. In trainer.c, like
 * the next one, for predict.c. */
nb_status nb__trainer_fail(nb_trainer *t, nb_status st, const char *message);
/* The status of the failure the trainer's message describes (NB_ERR_STATE
 * when none was recorded). */
nb_status nb__trainer_status(const nb_trainer *t);

/* Checks a data set before a whole pass over it, as fit does: the model's
 * example shape and target width, every class label ("label 7 of
 * <which> example 5 is outside 0…4 …"), and every value (finite, inputs
 * within ±2^64); keeps its input range as what the trainer trained on
 * (nb_trainer_input_range). NB_OK, or the status with the trainer's
 * message set. In trainer_check.c, for cg.c. */
nb_status nb__trainer_check_data(nb_trainer *t, const nb_dataset *ds, const char *which);

/* The options the trainer was made with, defaults filled in. Its callbacks
 * and q_stop may change between fits (grow_train.c); the rest is fixed. */
nb_train_opts *nb__trainer_opts(nb_trainer *t);
/* A new trainer for t's model (its function, ud, example shape and
 * targets) with options o: the model rebuilt, e.g. after it was widened. */
nb_trainer *nb__trainer_like(const nb_trainer *t, const nb_train_opts *o, nb_error *err);

/* The trainer's evaluation batch (opts.eval_batch, 256 by default). */
int64_t nb__trainer_eval_batch(const nb_trainer *t);

/* Runs the inference build for `batch` (made on first use) on x
 * (batch · numel(example) floats) and the inputs after x of ds's examples
 * [at, at + batch) (ds NULL: a model of one input) through a runtime
 * computing its output alone, so no targets are needed; returns the output
 * (valid until the next run), or NULL with the trainer's message set. */
const float *nb__trainer_output_run(nb_trainer *t, int64_t batch, const float *x,
                                    const nb_dataset *ds, int64_t at);

/* Sums v[0..n) over d's ranks in place, in doubles (evaluation's sums);
 * nothing for NULL. In dist_mpi.c (or without/dist_mpi.c). */
nb_status nb__dist_sum_doubles(nb_dist *d, double *v, int n);

/* A sum over the ranks in parts (dist_mpi.c): nb__dist_start begins
 * summing v[0..n) in place (a non-blocking MPI_Iallreduce; v must stay
 * put; early: while a backward pass runs, counted as overlapped in the
 * statistics), nb__dist_poll lets the started sums move on, nb__dist_finish sums
 * v[0..n) at once and then waits for every started sum. Every rank starts
 * the same parts in the same order. Nothing for NULL or one rank. */
void nb__dist_start(nb_dist *d, float *v, int64_t n, bool early);
void nb__dist_poll(nb_dist *d);
void nb__dist_finish(nb_dist *d, float *v, int64_t n);

/* Rank r's piece of n values shared over `size` ranks: its count, and in
 * *lo its first value's place (the first n mod size ranks take one more). */
static inline int64_t nb__piece(int64_t n, int size, int r, int64_t *lo)
{
    int64_t q = n / size, extra = n % size;
    *lo = r * q + (r < extra ? r : extra);
    return q + (r < extra);
}

/* Sharded sums (dist_mpi.c), every rank calling with the same n:
 * nb__dist_reduce_scatter sums v[0..n) over the ranks and leaves this
 * rank's piece (nb__piece) of the sum in mine (v is not changed);
 * nb__dist_allgather sends each rank's piece of v[0..n) to every rank, in
 * place. One rank: mine is v's copy; nothing. */
void nb__dist_reduce_scatter(nb_dist *d, const float *v, int64_t n, float *mine);
void nb__dist_allgather(nb_dist *d, float *v, int64_t n);

/* A window of shared memory over the ranks (dist_mpi.c), for sums that
 * read each rank's gradient where it lies instead of copying it through
 * MPI: n floats per rank, every rank's segment mapped in every rank
 * (nb__dwin_seg, each starting on a cache line), and `shared` floats
 * more, one copy for all (after rank 0's segment: nb__dwin_shared),
 * where parameters every rank reads can live. NULL — the caller then uses MPI's collectives — for NULL or one
 * rank, when the ranks are not all on one host, when NABLA_DIST_SHM=0 on
 * some rank, or when MPI cannot make the window. Collective: every rank
 * calls with the same n and shared and gets NULL alike. nb__dwin_sync is
 * a barrier after which every rank sees the writes every rank made to the
 * window before it. */
typedef struct nb__dwin nb__dwin;
nb__dwin *nb__dwin_new(nb_dist *d, int64_t n, int64_t shared);
float *nb__dwin_seg(const nb__dwin *w, int r);
float *nb__dwin_shared(const nb__dwin *w);
void nb__dwin_sync(nb__dwin *w);
void nb__dwin_free(nb__dwin *w);
/* Adds to d's statistics one sum of `bytes` that took `seconds`
 * (nb__dist_clock's, a monotonic clock; 0 without MPI). */
void nb__dist_count(nb_dist *d, int64_t bytes, double seconds);
double nb__dist_clock(void);

/* The values of gradient node grad as rt computed them (an outer product
 * formed), times scale, into out; returns how many, or −1 when rt does
 * not keep grad. *nonfinite (unless NULL) is set when one of the values
 * written is a NaN or infinity, left alone otherwise. In dist.c. */
int64_t nb__grad_values(const nb_runtime *rt, const nb_node *grad, float scale, float *out,
                        bool *nonfinite);

/* The gradients of a data-parallel step summed over the ranks while the
 * backward pass runs (dist_sum.c). One buffer: `head` floats the caller
 * fills (summed last), then every parameter's gradient in the optimiser's
 * order. The gradients are split into buckets of whole parameters from
 * the last (which backward finishes first); once a run's hook has copied a
 * bucket's gradients, its sum starts. The part holding the first
 * parameter is summed at the end: its large parameters sharded over the
 * ranks (a reduce-scatter, each rank updating its piece, an allgather of
 * the new values; on one host, from the second step on, through a shared
 * window that the runtime writes those gradients into and the parameters'
 * values live in, each rank updating its pieces in place: nb__dwin_new,
 * nb_param_place), the rest summed whole with the head. Freeing it is
 * collective once a step has been summed (the window's MPI_Win_free). */
typedef struct nb__dsum nb__dsum;
/* The least size of a parameter whose gradient, when it is a dense
 * weight's xᵀ·dz, a data-parallel rank's runtime leaves as its factors
 * (nb_runtime_new_factored) for nb__dsum to form: the size from which the
 * sums shard a parameter of the part summed at the end, where a rank on one
 * host forms only its piece, from every rank's rows. */
#define NB__DSUM_FACTOR_MIN ((int64_t)1 << 14)
nb__dsum *nb__dsum_new(nb_dist *d, nb_node *const *params, int n, int64_t head);
void nb__dsum_free(nb__dsum *s);
float *nb__dsum_head(nb__dsum *s);
float *nb__dsum_grads(nb__dsum *s);
/* Before every step, on every rank: w_all > 0 when every rank's weight is
 * w_all (equal parts of the batch), so the sharded gradients are summed
 * unweighted, from where the runtime left them, and w_all applied to the
 * sums; 0 when the weights differ. This rank's part of the global batch of
 * `all` examples: `rows` of them from the at-th (a gradient left as its
 * factors is formed from every rank's rows, in the global batch's order). */
void nb__dsum_begin(nb__dsum *s, float w_all, int64_t at, int64_t rows, int64_t all);
/* For the next run of rt: gradient i (grads[i], an output of rt) is copied
 * times w when it is ready, and buckets start as they fill. */
void nb__dsum_arm(nb__dsum *s, nb_runtime *rt, nb_node *const *grads, float w);
/* After a run that succeeded: the gradients not copied yet are, and their
 * buckets started. True when every gradient copied this step is finite
 * (checked as it was copied, so the caller need not read them again). */
bool nb__dsum_collect(nb__dsum *s);
/* After the run (or none): gradients not copied yet are (zeros when not
 * armed), every bucket is started, the head summed, all waited for, and
 * this rank's pieces of the sharded part summed; the hook removed. */
void nb__dsum_finish(nb__dsum *s);
/* After nb__dsum_finish: false when some rank's piece of the sharded sums
 * is not finite (the same answer on every rank). The gradients read from
 * the runtime were not checked as copied: one of them, or their sum, is
 * the cause. */
bool nb__dsum_sums_finite(const nb__dsum *s);
/* After nb__dsum_finish, on every rank: the gradient clipped to a global
 * norm of clip_norm (when > 0), this rank's part of the parameters
 * updated by opt (made for the same parameters) at learning rate lr, and
 * every rank's new values sent to all (through the window: written in
 * place, a barrier), so every rank reads the same weights. opt's slots
 * are then current for this rank's part alone. */
void nb__dsum_update(nb__dsum *s, nb_optimizer *opt, float lr, double clip_norm);
/* The sharded parameters, when they live in the window (from the first
 * update through it on), back in each rank's own memory with their
 * current values, every rank's graph reading its own copy again; the next
 * update through the window moves them in again. At the end of a fit,
 * before anything writes parameters on every rank (the best epoch's
 * weights restored, the next fit's broadcast from rank 0), and before the
 * window is freed. Every rank's last update must be over (it is, after
 * any step: its second barrier); local, on every rank. Nothing for NULL. */
void nb__dsum_release(nb__dsum *s);
/* opt's slots made whole on every rank (each rank's part sent to all):
 * before anything reads them (a checkpoint). On every rank; nothing for
 * NULL. */
void nb__dsum_gather_state(nb__dsum *s, nb_optimizer *opt);

#endif
