/*
 * test_checkpoint.c — what a resume trusts and what a killed writer leaves.
 *
 * State: a good checkpoint (Adam, validation and early stopping, so /best
 * and best_epoch are there) is copied and one field broken through the
 * HDF5 C API per case: step counts, epochs, the generator state, Q, early
 * stopping's state, optimiser slots and the best epoch's weights, each by
 * type, rank, count, range or finiteness. Each load is refused with a
 * message naming the file, the field, its value and what it must be; the
 * trainer it was loaded into is left exactly as it was.
 *
 * Temporaries: files named as a writer's temporary for the target
 * (".<base>.tmp-<pid>") whose process is gone are removed by the next save
 * or load of that target; those of live processes, locked ones, other
 * targets' and other names are kept.
 */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hdf5.h>

#include "helpers.h"

/* ---------------------------------------------------------------- files */

static char *temp_dir(void)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *d = malloc(strlen(base) + 32);
    cr_assert_not_null(d);
    sprintf(d, "%s/nb_ck_XXXXXX", base);
    cr_assert_not_null(mkdtemp(d), "mkdtemp failed");
    return d;
}

static void remove_dir(char *d)
{
    DIR *dir = opendir(d);
    for (struct dirent *e; dir && (e = readdir(dir));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", d, e->d_name);
        unlink(p);
    }
    if (dir)
        closedir(dir);
    rmdir(d);
    free(d);
}

/* "<dir>/<name>" in a static ring of buffers. */
static const char *in(const char *dir, const char *name)
{
    static char ring[8][1024];
    static int at;
    char *p = ring[at++ % 8];
    snprintf(p, sizeof ring[0], "%s/%s", dir, name);
    return p;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    cr_assert(a && b, "cannot copy %s to %s", from, to);
    char buf[65536];
    for (size_t n; (n = fread(buf, 1, sizeof buf, a)) > 0;)
        cr_assert_eq(fwrite(buf, 1, n, b), n);
    fclose(a);
    fclose(b);
}

static void touch(const char *path)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    fputs("half a file", f);
    fclose(f);
}

/* ---------------------------------------------------------------- a trainer */

static nb_dataset *blobs(int64_t n, uint64_t seed)
{
    nb_error err = {0};
    nb_dataset *ds = nb_dataset_new(n, NB_SHAPE(2), 1, &err);
    cr_assert_not_null(ds, "%s", err.message);
    t_fill(ds->x, 2 * n, seed, -1, 1);
    for (int64_t i = 0; i < n; i++) {
        int c = (int)(i % 2);
        ds->x[2 * i] += c ? 1.5f : -1.5f;
        ds->y[i] = (float)c;
    }
    ds->n_classes = 2;
    return ds;
}

/* 2 → 8 (relu) → 2 logits. */
static nb_status mlp(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 2));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_dense(g, io->x, (nb_dense_opts){.units = 8, .activation = NB_ACT_RELU});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 2});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

/* A trainer of mlp with validation and early stopping, trained `epochs`
 * epochs (none for 0) from seed. */
static nb_trainer *trained(nb_optimizer_kind kind, int epochs, uint64_t seed)
{
    nb_train_opts o = {.batch = 16, .epochs = epochs ? epochs : 1, .seed = seed,
                       .optimizer = t_optimizer(kind, 0.01f, 0.9f),
                       .validation = 0.25, .patience = 5};
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(mlp, NULL, NB_SHAPE(2), 1, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    if (epochs) {
        nb_dataset *ds = blobs(96, seed);
        cr_assert_eq(nb_trainer_fit(t, ds, NULL), NB_OK, "%s", nb_trainer_error(t));
        nb_dataset_free(ds);
    }
    return t;
}

/* Everything a load could change: state, parameters, slots, step count,
 * best weights. */
typedef struct snapshot {
    nb_train_state state;
    int64_t steps, n_params, n_slots, n_best;
    float *params, *slots, *best;
} snapshot;

static snapshot take(nb_trainer *t)
{
    snapshot s = {.state = nb_trainer_state(t)};
    nb_graph *g = nb_trainer_graph(t);
    nb_optimizer *opt = nb_trainer_optimizer(t);
    for (int i = 0; i < nb_graph_num_params(g); i++)
        s.n_params += nb_shape_numel(nb_node_shape(nb_graph_param(g, i)));
    s.params = malloc((size_t)s.n_params * sizeof(float));
    for (int i = 0, at = 0; i < nb_graph_num_params(g); i++) {
        nb_node *p = nb_graph_param(g, i);
        int64_t n = nb_shape_numel(nb_node_shape(p));
        memcpy(s.params + at, nb_param_data(p), (size_t)n * sizeof(float));
        at += (int)n;
    }
    s.n_slots = nb_optimizer_size(opt);
    s.slots = malloc((size_t)(2 * s.n_slots) * sizeof(float));
    memcpy(s.slots, nb_optimizer_slot(opt, 0), (size_t)s.n_slots * sizeof(float));
    memcpy(s.slots + s.n_slots, nb_optimizer_slot(opt, 1), (size_t)s.n_slots * sizeof(float));
    s.steps = *nb_optimizer_steps(opt);
    const float *best = nb_trainer_best_weights(t, &s.n_best);
    s.best = best ? malloc((size_t)s.n_best * sizeof(float)) : NULL;
    if (best)
        memcpy(s.best, best, (size_t)s.n_best * sizeof(float));
    return s;
}

static void drop_snapshot(snapshot *s)
{
    free(s->params);
    free(s->slots);
    free(s->best);
}

static void assert_same(nb_trainer *t, const snapshot *a, const char *label)
{
    snapshot b = take(t);
    cr_assert(!memcmp(&a->state, &b.state, sizeof a->state), "%s: the state changed", label);
    cr_assert_eq(a->steps, b.steps, "%s: the step count changed", label);
    cr_assert(!memcmp(a->params, b.params, (size_t)a->n_params * sizeof(float)),
              "%s: the parameters changed", label);
    cr_assert(!memcmp(a->slots, b.slots, (size_t)(2 * a->n_slots) * sizeof(float)),
              "%s: the optimiser slots changed", label);
    cr_assert_eq(a->n_best, b.n_best, "%s: the best weights came or went", label);
    cr_assert(!a->best || !memcmp(a->best, b.best, (size_t)a->n_best * sizeof(float)),
              "%s: the best weights changed", label);
    drop_snapshot(&b);
}

/* ---------------------------------------------------------------- breaking a file */

static hid_t open_rw(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert_geq(f, 0, "cannot open %s for writing", path);
    return f;
}

/* Replaces attribute name of obj by n values (0: a scalar; a rank-2
 * [2, n/2] for rank 2) of memory type mtype, stored as ftype. */
static void put_attr(hid_t f, const char *obj, const char *name, hid_t ftype, hid_t mtype,
                     int rank, hsize_t n, const void *v)
{
    if (H5Aexists_by_name(f, obj, name, H5P_DEFAULT) > 0)
        cr_assert_geq(H5Adelete_by_name(f, obj, name, H5P_DEFAULT), 0);
    hsize_t dims[2] = {rank == 2 ? 2 : n, n / 2};
    hid_t space = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate_by_name(f, obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT,
                                H5P_DEFAULT);
    cr_assert_geq(a, 0, "cannot create attribute %s of %s", name, obj);
    cr_assert_geq(H5Awrite(a, mtype, v), 0);
    H5Aclose(a);
    H5Sclose(space);
}

static void put_i64(hid_t f, const char *name, int64_t v)
{
    put_attr(f, "/train", name, H5T_STD_I64LE, H5T_NATIVE_INT64, 0, 0, &v);
}

static void put_f64(hid_t f, const char *name, double v)
{
    put_attr(f, "/train", name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, 0, &v);
}

/* Sets element i of float dataset obj to v. */
static void poke(hid_t f, const char *obj, int64_t i, float v)
{
    hid_t d = H5Dopen2(f, obj, H5P_DEFAULT);
    cr_assert_geq(d, 0, "no dataset %s", obj);
    hid_t space = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    float *buf = malloc((size_t)n * sizeof(float));
    cr_assert_geq(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), 0);
    buf[i] = v;
    cr_assert_geq(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), 0);
    free(buf);
    H5Sclose(space);
    H5Dclose(d);
}

/* Replaces dataset obj by n values of ftype (from doubles). */
static void replace(hid_t f, const char *obj, hid_t ftype, hsize_t n, double v)
{
    if (H5Lexists(f, obj, H5P_DEFAULT) > 0)
        cr_assert_geq(H5Ldelete(f, obj, H5P_DEFAULT), 0);
    double *buf = malloc(n * sizeof(double));
    for (hsize_t i = 0; i < n; i++)
        buf[i] = v;
    hid_t space = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, obj, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(d, 0, "cannot create %s", obj);
    cr_assert_geq(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), 0);
    H5Dclose(d);
    H5Sclose(space);
    free(buf);
}

/* ---------------------------------------------------------------- the cases */

typedef enum breakage {
    STEPS_HUGE, STEPS_NEGATIVE, STEPS_ABOVE_GLOBAL, GLOBAL_HUGE, EPOCH_NEGATIVE, EPOCH_HUGE,
    EPOCH_FRACTIONAL, EPOCH_ARRAY, RNG_SHORT, RNG_ZERO, RNG_STRING, RNG_SIGNED, RNG_MATRIX,
    Q_NAN, BEST_NAN, BEST_EPOCH_AFTER_EPOCH, BAD_EPOCHS_TOO_MANY, BEST_HALF_THERE,
    SLOT_NAN, SLOT_MEAN_SQUARE_NEGATIVE, SLOT_INF, SLOT_MISSING, SLOT_EXTRA, SLOT_MISSHAPEN,
    SLOT_BEYOND_FLOAT, BEST_WEIGHTS_NAN, N_BREAKAGES
} breakage;

typedef struct ck_case {
    breakage b;
    nb_status status;
    const char *message; /* after "<file>: " */
} ck_case;

static const ck_case cases[] = {
    {STEPS_HUGE, NB_ERR_ARG, "/train: attribute 'optimizer_steps' is 4611686018427387904; it "
     "must be an integer from 0 to 10 (global_step: the optimiser steps once per training step)"},
    {STEPS_NEGATIVE, NB_ERR_ARG, "/train: attribute 'optimizer_steps' is -3; it must be an "
     "integer from 0 to 10"},
    {STEPS_ABOVE_GLOBAL, NB_ERR_ARG, "/train: attribute 'optimizer_steps' is 11; it must be an "
     "integer from 0 to 10"},
    {GLOBAL_HUGE, NB_ERR_ARG, "/train: attribute 'global_step' is 9007199254740993; it must be "
     "an integer from 0 to 9007199254740992 (2^53)"},
    {EPOCH_NEGATIVE, NB_ERR_ARG, "/train: attribute 'epoch' is -1; it must be an integer from 0 "
     "to 1000000000"},
    {EPOCH_HUGE, NB_ERR_ARG, "/train: attribute 'epoch' is 9223372036854775807; it must be an "
     "integer from 0 to 1000000000"},
    {EPOCH_FRACTIONAL, NB_ERR_ARG, "/train: attribute 'epoch' holds floats, not integers"},
    {EPOCH_ARRAY, NB_ERR_SHAPE, "/train: attribute 'epoch' has 1 dimension; it must be a single "
     "value"},
    {RNG_SHORT, NB_ERR_SHAPE, "/train: attribute 'rng' holds 3 values, not 4"},
    {RNG_ZERO, NB_ERR_ARG, "/train: attribute 'rng' is all zeros; it must be a generator state "
     "(4 unsigned 64-bit integers, not all zero)"},
    {RNG_STRING, NB_ERR_ARG, "/train: attribute 'rng' holds strings, not unsigned 64-bit "
     "integers"},
    {RNG_SIGNED, NB_ERR_ARG, "/train: attribute 'rng' holds signed 64-bit integers, not unsigned "
     "64-bit integers"},
    {RNG_MATRIX, NB_ERR_SHAPE, "/train: attribute 'rng' has 2 dimensions; it must be a list of 4 "
     "values"},
    {Q_NAN, NB_ERR_ARG, "/train: attribute 'q' is nan; it must be a finite number"},
    {BEST_NAN, NB_ERR_ARG, "/train: attribute 'best' is inf; it must be a finite number"},
    {BEST_EPOCH_AFTER_EPOCH, NB_ERR_ARG, "/train: attribute 'best_epoch' is 3; it must be an "
     "integer from 1 to 2 (epoch)"},
    {BAD_EPOCHS_TOO_MANY, NB_ERR_ARG, "/train: attribute 'bad_epochs' is 2; it must be an integer "
     "from 0 to 1 (epoch - best_epoch)"},
    {BEST_HALF_THERE, NB_ERR_ARG, "/train: attribute 'best_epoch' is there but 'best' is not; "
     "early stopping's state is best_epoch, best and bad_epochs together"},
    {SLOT_NAN, NB_ERR_ARG, "/optimizer/dense1/w/slot0: the value at [1, 3] is nan; an "
     "optimiser's state must be finite"},
    {SLOT_MEAN_SQUARE_NEGATIVE, NB_ERR_ARG, "/optimizer/dense2/b/slot1: the value at [1] is "
     "-0.5; slot1 holds Adam's v or RMSprop's mean square, running means of squares: it must be "
     "finite and ≥ 0"},
    {SLOT_INF, NB_ERR_ARG, "/optimizer/dense1/b/slot0: the value at [7] is -inf; an optimiser's "
     "state must be finite"},
    {SLOT_MISSING, NB_ERR_ARG, "/optimizer/dense1/b/slot1: missing (the model has it, [8])"},
    {SLOT_EXTRA, NB_ERR_ARG, "/optimizer/dense1/b/slot2: not in the model"},
    {SLOT_MISSHAPEN, NB_ERR_SHAPE, "/optimizer/dense1/b/slot0 is [3], the model has [8]"},
    {SLOT_BEYOND_FLOAT, NB_ERR_ARG, "/optimizer/dense1/b/slot0: the value at [0] is inf; an "
     "optimiser's state must be finite"},
    {BEST_WEIGHTS_NAN, NB_ERR_ARG, "/best/dense2/w: the value at [0, 1] is nan; the best "
     "epoch's weights must be finite"},
};

static void break_file(hid_t f, breakage b)
{
    uint64_t rng3[3] = {1, 2, 3}, zero[4] = {0}, rng4[4] = {1, 2, 3, 4};
    int64_t one = 1, signed4[4] = {-1, 2, 3, 4};
    const char *text = "abcd";
    hid_t str = H5Tcopy(H5T_C_S1);
    H5Tset_size(str, 5);
    switch (b) {
    case STEPS_HUGE: put_i64(f, "optimizer_steps", (int64_t)1 << 62); break;
    case STEPS_NEGATIVE: put_i64(f, "optimizer_steps", -3); break;
    case STEPS_ABOVE_GLOBAL: put_i64(f, "optimizer_steps", 11); break;
    case GLOBAL_HUGE: put_i64(f, "global_step", ((int64_t)1 << 53) + 1); break;
    case EPOCH_NEGATIVE: put_i64(f, "epoch", -1); break;
    case EPOCH_HUGE: {
        uint64_t v = UINT64_MAX;
        put_attr(f, "/train", "epoch", H5T_STD_U64LE, H5T_NATIVE_UINT64, 0, 0, &v);
        break;
    }
    case EPOCH_FRACTIONAL: put_f64(f, "epoch", 1.5); break;
    case EPOCH_ARRAY:
        put_attr(f, "/train", "epoch", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, 1, &one);
        break;
    case RNG_SHORT:
        put_attr(f, "/train", "rng", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, 3, rng3);
        break;
    case RNG_ZERO:
        put_attr(f, "/train", "rng", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, 4, zero);
        break;
    case RNG_STRING: put_attr(f, "/train", "rng", str, str, 0, 0, text); break;
    case RNG_SIGNED:
        put_attr(f, "/train", "rng", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, 4, signed4);
        break;
    case RNG_MATRIX:
        put_attr(f, "/train", "rng", H5T_STD_U64LE, H5T_NATIVE_UINT64, 2, 4, rng4);
        break;
    case Q_NAN: put_f64(f, "q", NAN); break;
    case BEST_NAN: put_f64(f, "best", INFINITY); break;
    case BEST_EPOCH_AFTER_EPOCH: put_i64(f, "best_epoch", 3); break;
    case BAD_EPOCHS_TOO_MANY: put_i64(f, "best_epoch", 1), put_i64(f, "bad_epochs", 2); break;
    case BEST_HALF_THERE: H5Adelete_by_name(f, "/train", "best", H5P_DEFAULT); break;
    case SLOT_NAN: poke(f, "/optimizer/dense1/w/slot0", 1 * 8 + 3, NAN); break;
    case SLOT_MEAN_SQUARE_NEGATIVE: poke(f, "/optimizer/dense2/b/slot1", 1, -0.5f); break;
    case SLOT_INF: poke(f, "/optimizer/dense1/b/slot0", 7, -INFINITY); break;
    case SLOT_MISSING: H5Ldelete(f, "/optimizer/dense1/b/slot1", H5P_DEFAULT); break;
    case SLOT_EXTRA: replace(f, "/optimizer/dense1/b/slot2", H5T_IEEE_F32LE, 8, 0); break;
    case SLOT_MISSHAPEN: replace(f, "/optimizer/dense1/b/slot0", H5T_IEEE_F32LE, 3, 0); break;
    case SLOT_BEYOND_FLOAT: replace(f, "/optimizer/dense1/b/slot0", H5T_IEEE_F64LE, 8, 1e300); break;
    case BEST_WEIGHTS_NAN: poke(f, "/best/dense2/w", 1, NAN); break;
    default: cr_assert_fail("case %d has no breakage", (int)b);
    }
    H5Tclose(str);
}

/* The good checkpoint: Adam, 2 epochs of 72 examples at batch 16 (10
 * steps), validation every epoch; its state as the cases expect it. */
static void write_good(const char *path)
{
    nb_trainer *t = trained(NB_OPT_ADAM, 2, 3);
    nb_train_state s = nb_trainer_state(t);
    s.best_epoch = 2; /* the early-stopping fields as the cases need them */
    s.bad_epochs = 0;
    nb_trainer_set_state(t, &s);
    nb_error err = {0};
    cr_assert_eq(nb_checkpoint_save(t, path, NULL, &err), NB_OK, "%s", err.message);
    cr_assert_eq(nb_trainer_state(t).global_step, 10, "%lld steps",
                 (long long)nb_trainer_state(t).global_step);
    cr_assert_eq(*nb_optimizer_steps(nb_trainer_optimizer(t)), 10);
    cr_assert_not_null(nb_trainer_best_weights(t, NULL), "the trainer keeps the best weights");
    nb_trainer_free(t);
}

Test(checkpoint, every_field_is_checked_and_the_first_bad_one_named)
{
    cr_assert_eq((int)(sizeof cases / sizeof cases[0]), N_BREAKAGES, "a breakage without a case");
    char *dir = temp_dir();
    write_good(in(dir, "good.h5"));
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    nb_trainer *t = trained(NB_OPT_ADAM, 1, 11);
    nb_error err = {0};
    cr_assert_eq(nb_checkpoint_load(t, in(dir, "good.h5"), &err), NB_OK, "%s", err.message);
    nb_trainer_free(t);
    t = trained(NB_OPT_ADAM, 1, 11); /* state of its own, unlike the file's */
    snapshot before = take(t);
    for (int i = 0; i < N_BREAKAGES; i++) {
        char name[32], want[600];
        snprintf(name, sizeof name, "case%02d.h5", i);
        copy_file(in(dir, "good.h5"), in(dir, name));
        hid_t f = open_rw(in(dir, name));
        break_file(f, cases[i].b);
        cr_assert_geq(H5Fclose(f), 0);
        err = (nb_error){0};
        nb_status st = nb_checkpoint_load(t, in(dir, name), &err);
        snprintf(want, sizeof want, "%s: %s", in(dir, name), cases[i].message);
        cr_expect_eq(st, cases[i].status, "case %d: status %d (%s)", i, (int)st, err.message);
        cr_expect(!strncmp(err.message, want, strlen(want)), "case %d:\n got: %s\nwant: %s", i,
                  err.message, want);
        assert_same(t, &before, name);
    }
    drop_snapshot(&before);
    nb_trainer_free(t);
    remove_dir(dir);
}

/* SGD's slot1 is never used: a file with anything but zeros there was not
 * written by nabla's SGD. --resume-weights-only reads no slots at all. */
Test(checkpoint, sgd_slot1_must_be_zeros)
{
    char *dir = temp_dir();
    nb_trainer *t = trained(NB_OPT_SGD, 1, 5);
    nb_error err = {0};
    cr_assert_eq(nb_checkpoint_save(t, in(dir, "c.h5"), NULL, &err), NB_OK, "%s", err.message);
    cr_assert_eq(nb_checkpoint_load(t, in(dir, "c.h5"), &err), NB_OK, "%s", err.message);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = open_rw(in(dir, "c.h5"));
    poke(f, "/optimizer/dense2/w/slot1", 3, 0.25f);
    H5Fclose(f);
    snapshot before = take(t);
    cr_assert_eq(nb_checkpoint_load(t, in(dir, "c.h5"), &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "c.h5: /optimizer/dense2/w/slot1: the value at [1, 1] is 0.25; "
                                  "SGD keeps nothing in slot1: it must be all zeros"),
              "%s", err.message);
    assert_same(t, &before, "sgd");
    drop_snapshot(&before);
    cr_assert_eq(nb_checkpoint_load_weights(t, in(dir, "c.h5"), &err), NB_OK, "%s", err.message);
    nb_trainer_free(t);
    remove_dir(dir);
}

/* ---------------------------------------------------------------- temporaries */

/* A pid that no process has: a child's, after it exited and was reaped. */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork failed");
    if (pid == 0)
        _exit(0);
    cr_assert_eq(waitpid(pid, NULL, 0), pid);
    cr_assert_eq(kill(pid, 0), -1, "pid %d still exists", (int)pid);
    return pid;
}

static const char *temp_of(const char *dir, const char *base, const char *fmt, long pid)
{
    char name[256], suffix[64];
    snprintf(suffix, sizeof suffix, fmt, pid);
    snprintf(name, sizeof name, ".%s.tmp-%s", base, suffix);
    return in(dir, name);
}

/* A save removes its target's temporaries left by dead processes and
 * nothing else: not a live process's (the parent's), not one a live writer
 * holds locked, not other targets', not other names. */
Test(checkpoint, a_save_removes_temporaries_of_dead_writers_only)
{
    char *dir = temp_dir();
    nb_trainer *t = trained(NB_OPT_ADAM, 1, 5);
    long dead = dead_pid(), dead2 = dead_pid(), live = getppid();
    char gone[2][1024], kept[7][1024];
    snprintf(gone[0], sizeof gone[0], "%s", temp_of(dir, "c.h5", "%ld", dead));
    snprintf(gone[1], sizeof gone[1], "%s", temp_of(dir, "c.h5", "%ld", dead2));
    snprintf(kept[0], sizeof kept[0], "%s", temp_of(dir, "c.h5", "%ld", live));
    snprintf(kept[1], sizeof kept[1], "%s", temp_of(dir, "c.h5", "0%ld", dead));
    snprintf(kept[2], sizeof kept[2], "%s", temp_of(dir, "c.h5", "%ldx", dead));
    snprintf(kept[3], sizeof kept[3], "%s", temp_of(dir, "d.h5", "%ld", dead));
    snprintf(kept[4], sizeof kept[4], "%s", temp_of(dir, "c", "%ld", dead));
    snprintf(kept[5], sizeof kept[5], "%s/c.h5.tmp-%ld", dir, dead);
    snprintf(kept[6], sizeof kept[6], "%s", temp_of(dir, "c.h5", "-%ld", dead));
    for (int i = 0; i < 2; i++)
        touch(gone[i]);
    for (int i = 0; i < 7; i++)
        touch(kept[i]);
    /* A dead pid's temporary that a writer holds locked (as HDF5 locks a file
     * it writes): a writer in another PID namespace. */
    char locked[1024];
    snprintf(locked, sizeof locked, "%s", temp_of(dir, "c.h5", "%ld", dead_pid()));
    touch(locked);
    int fd = open(locked, O_RDONLY);
    cr_assert_eq(flock(fd, LOCK_EX | LOCK_NB), 0);

    nb_error err = {0};
    cr_assert_eq(nb_checkpoint_save(t, in(dir, "c.h5"), NULL, &err), NB_OK, "%s", err.message);
    for (int i = 0; i < 2; i++)
        cr_expect(!exists(gone[i]), "%s is still there", gone[i]);
    for (int i = 0; i < 7; i++)
        cr_expect(exists(kept[i]), "%s was removed", kept[i]);
    cr_expect(exists(locked), "a locked temporary was removed");
    close(fd);
    cr_assert(exists(in(dir, "c.h5")));
    nb_trainer_free(t);
    remove_dir(dir);
}

/* Loading a checkpoint or weights sweeps too; a bare file name means the
 * current folder. */
Test(checkpoint, a_load_removes_them_too_and_bare_names_work)
{
    char *dir = temp_dir();
    nb_trainer *t = trained(NB_OPT_ADAM, 1, 5);
    nb_error err = {0};
    cr_assert_eq(nb_checkpoint_save(t, in(dir, "c.h5"), NULL, &err), NB_OK, "%s", err.message);
    cr_assert_eq(nb_weights_save(nb_trainer_graph(t), in(dir, "w.h5"), NULL, &err), NB_OK, "%s",
                 err.message);
    long dead = dead_pid();
    char c[1024], w[1024], live[1024];
    snprintf(c, sizeof c, "%s", temp_of(dir, "c.h5", "%ld", dead));
    snprintf(w, sizeof w, "%s", temp_of(dir, "w.h5", "%ld", dead));
    snprintf(live, sizeof live, "%s", temp_of(dir, "w.h5", "%ld", (long)getpid()));
    touch(c);
    touch(w);
    touch(live);
    cr_assert_eq(nb_checkpoint_load(t, in(dir, "c.h5"), &err), NB_OK, "%s", err.message);
    cr_expect(!exists(c), "the checkpoint load left %s", c);
    cr_expect(exists(w), "a checkpoint load removed another target's temporary");
    cr_assert_eq(chdir(dir), 0);
    cr_assert_eq(nb_weights_load(nb_trainer_graph(t), "w.h5", &err), NB_OK, "%s", err.message);
    cr_expect(!exists(w), "the weights load left %s", w);
    cr_expect(exists(live), "this process's own temporary is not a dead writer's");
    touch(c);
    cr_assert_eq(nb_checkpoint_save(t, "c.h5", NULL, &err), NB_OK, "%s", err.message);
    cr_expect(!exists(c), "a save by a bare name left %s", c);
    nb_trainer_free(t);
    remove_dir(dir);
}
