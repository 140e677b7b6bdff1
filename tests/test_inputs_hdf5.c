/*
 * test_inputs_hdf5.c — models with several inputs and integer ids, from
 * model files and HDF5 data: a two-input model (an image and a side
 * vector, whose class only the side vector tells) trained from HDF5 files
 * through the C API and through `nabla train`, `eval`, `predict` and
 * `grad`; token ids stored as int64 and as uint8 feeding an embedding as
 * they are (never divided by x_div); the data section's `inputs:` and
 * --inputs naming datasets; and the refusals: an input without a dataset,
 * a dataset of the wrong example count or shape, ids that are not whole
 * numbers, an id outside the vocabulary, an unknown input named. The HDF5
 * files are written here with the HDF5 library (integer types nabla never
 * writes).
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

static char folder_path[256];   /* the running test's folder */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* The suite's fini: the test's folder goes after it, pass or fail (a
 * failed assertion still runs it), so runs leave nothing in /tmp. */
static void remove_folder(void)
{
    if (folder_path[0])
        nftw(folder_path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(inputs_hdf5, .fini = remove_folder);

/* A fresh folder for one test's files. */
static const char *folder(const char *name)
{
    snprintf(folder_path, sizeof folder_path, "/tmp/nabla_inputs_%ld_%s", (long)getpid(), name);
    mkdir(folder_path, 0700);
    return folder_path;
}

/* Dataset obj of n·numel values (given as doubles) stored as ftype [n, shape…]. */
static void put(hid_t f, const char *obj, hid_t ftype, int64_t n, nb_shape shape, const double *v)
{
    hsize_t dims[NB_MAX_RANK + 1] = {(hsize_t)n};
    for (int i = 0; i < shape.rank; i++)
        dims[i + 1] = (hsize_t)shape.dim[i];
    hid_t space = H5Screate_simple(shape.rank + 1, dims, NULL);
    hid_t d = H5Dcreate2(f, obj, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(d, 0, "cannot create %s", obj);
    cr_assert_geq(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), 0);
    H5Dclose(d);
    H5Sclose(space);
}

/* Image noise X [n,1,4,4], side vectors [n,3] under side_name, class
 * s0 + s1 > 0 as y [n] (int64); `rows` of side (n: all). */
static void image_side_file(const char *path, int64_t n, uint64_t seed, const char *side_name,
                            int64_t side_rows, int side_width)
{
    double *x = malloc((size_t)n * 16 * sizeof *x), *s = malloc((size_t)n * 4 * sizeof *s),
           *y = malloc((size_t)n * sizeof *y);
    nb_rng r = nb_rng_seed(seed);
    for (int64_t i = 0; i < n * 16; i++)
        x[i] = 2 * nb_rng_uniform(&r) - 1;
    for (int64_t i = 0; i < n; i++) {
        for (int k = 0; k < side_width; k++)
            s[i * side_width + k] = 2 * nb_rng_uniform(&r) - 1;
        y[i] = s[i * side_width] + s[i * side_width + 1] > 0;
    }
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(f, 0, "cannot create %s", path);
    put(f, "X", H5T_IEEE_F32LE, n, NB_SHAPE(1, 4, 4), x);
    put(f, side_name, H5T_IEEE_F32LE, side_rows, side_width == 3 ? NB_SHAPE(3) : NB_SHAPE(4), s);
    put(f, "y", H5T_STD_I64LE, n, NB_SCALAR, y);
    H5Fclose(f);
    free(x);
    free(s);
    free(y);
}

static const char *two_input_yaml =
    "nabla: 1\n"
    "name: two_inputs\n"
    "input: {image: [1, 4, 4], side: [3]}\n"
    "nodes:\n"
    "  - {name: flat, op: flatten, inputs: [image]}\n"
    "  - {name: both, op: concat, inputs: [flat, side], axis: 1}\n"
    "  - {name: h, op: dense, units: 8, activation: tanh}\n"
    "  - {name: logits, op: dense, units: 2}\n"
    "loss: softmax_cross_entropy\n"
    "optimizer: {adam: {lr: 0.02}}\n"
    "train: {batch: 16, epochs: 30, seed: 3}\n"
    "data: {format: hdf5, train: train.h5, test: test.h5%s}\n";

/* dir/name holding text (a printf format given one string argument). */
static void write_text(const char *dir, const char *name, const char *fmt, const char *arg)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, fmt, arg);
    fclose(f);
}

static nb_model_file *load_model(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    nb_error e = {0};
    nb_model_file *m = nb_model_file_load(path, &e);
    cr_assert_not_null(m, "%s", e.message);
    return m;
}

static nb_trainer *model_trainer(nb_model_file *m)
{
    nb_error e = {0};
    nb_train_opts o = nb_model_file_train_opts(m);
    nb_trainer *t = nb_trainer_new(nb_model_file_build, m, nb_model_file_input_shape(m),
                                   nb_model_file_y_width(m), &o, &e);
    cr_assert_not_null(t, "%s", e.message);
    return t;
}

Test(inputs_hdf5, two_inputs_train_from_hdf5_through_the_c_api)
{
    const char *dir = folder("capi");
    char path[512];
    snprintf(path, sizeof path, "%s/train.h5", dir);
    image_side_file(path, 500, 1, "side", 500, 3);
    snprintf(path, sizeof path, "%s/test.h5", dir);
    image_side_file(path, 203, 9, "side", 203, 3);
    write_text(dir, "m.yaml", two_input_yaml, "");
    nb_model_file *m = load_model(dir, "m.yaml");
    nb_model_input in[NB_MAX_INPUTS];
    cr_assert_eq(nb_model_file_inputs(m, in, NB_MAX_INPUTS), 2);
    cr_assert_str_eq(in[1].name, "side");
    nb_dataset *train, *test;
    nb_error e = {0};
    cr_assert_eq(nb_model_file_load_data(m, &train, &test, (nb_data_load_opts){0}, &e), NB_OK,
                 "%s", e.message);
    cr_assert_eq(train->n_extra, 1);
    cr_assert(nb_shape_equal(train->extra[0].shape, NB_SHAPE(3)));
    nb_trainer *t = model_trainer(m);
    cr_assert_eq(nb_trainer_fit(t, train, NULL), NB_OK, "%s", nb_trainer_error(t));
    double acc;
    cr_assert_eq(nb_trainer_evaluate(t, test, NULL, &acc), NB_OK, "%s", nb_trainer_error(t));
    cr_assert_geq(acc, 0.93, "accuracy %g: the side vector alone tells the class", acc);
    memset(test->extra[0].x, 0, (size_t)test->n * 3 * sizeof(float));
    cr_assert_eq(nb_trainer_evaluate(t, test, NULL, &acc), NB_OK);
    cr_assert_lt(acc, 0.8, "accuracy %g with the side vector zeroed", acc);
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_dataset_free(test);
    nb_model_file_free(m);
}

/* The message of loading the model file's data (NB_OK not expected). */
static void load_refused(const char *dir, const char *yaml_extra, nb_data_load_opts o,
                         const char *want)
{
    write_text(dir, "m.yaml", two_input_yaml, yaml_extra);
    nb_model_file *m = load_model(dir, "m.yaml");
    nb_dataset *train = NULL;
    nb_error e = {0};
    cr_assert_neq(nb_model_file_load_data(m, &train, NULL, o, &e), NB_OK);
    cr_assert_null(train);
    cr_assert(strstr(e.message, want), "got: %s", e.message);
    nb_model_file_free(m);
}

Test(inputs_hdf5, inputs_named_missing_short_and_unknown_are_refused)
{
    const char *dir = folder("refusals");
    char path[512];
    snprintf(path, sizeof path, "%s/train.h5", dir);
    image_side_file(path, 40, 1, "S", 40, 3);
    load_refused(dir, "", (nb_data_load_opts){0},
                 "no dataset /side for the model's input 'side'");
    /* named in the data section, or by the caller (--inputs) */
    write_text(dir, "m.yaml", two_input_yaml, ", inputs: {side: S}");
    nb_model_file *m = load_model(dir, "m.yaml");
    nb_dataset *train = NULL;
    nb_error e = {0};
    cr_assert_eq(nb_model_file_load_data(m, &train, NULL, (nb_data_load_opts){0}, &e), NB_OK,
                 "%s", e.message);
    cr_assert_str_eq(train->extra[0].name, "side");
    nb_dataset_free(train);
    nb_model_file_free(m);
    nb_input_source src[] = {{.input = "side", .dataset = "S"}};
    write_text(dir, "m.yaml", two_input_yaml, "");
    m = load_model(dir, "m.yaml");
    cr_assert_eq(nb_model_file_load_data(m, &train, NULL,
                                         (nb_data_load_opts){.sources = src, .n_sources = 1}, &e),
                 NB_OK, "%s", e.message);
    nb_dataset_free(train);
    nb_model_file_free(m);
    nb_input_source unknown[] = {{.input = "sidee", .dataset = "S"}};
    load_refused(dir, "", (nb_data_load_opts){.sources = unknown, .n_sources = 1},
                 "input 'sidee' named to read from 'S' is not an input of model 'two_inputs' "
                 "(its inputs: image, side)");

    image_side_file(path, 40, 1, "side", 39, 3);
    load_refused(dir, "", (nb_data_load_opts){0}, "/side is [39,3]: 39 examples, but the data "
                                                  "has 40");
    image_side_file(path, 40, 1, "side", 40, 4);
    write_text(dir, "m.yaml", two_input_yaml, "");
    m = load_model(dir, "m.yaml");
    cr_assert_eq(nb_model_file_load_data(m, &train, NULL, (nb_data_load_opts){0}, &e), NB_OK);
    nb_trainer *t = model_trainer(m);
    cr_assert_neq(nb_trainer_fit(t, train, NULL), NB_OK);
    cr_assert(strstr(nb_trainer_error(t), "the training set's input 'side' holds examples [4]; "
                                          "the model's input 'side' takes [3]"),
              "%s", nb_trainer_error(t));
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_model_file_free(m);
}

static const char *token_yaml =
    "nabla: 1\n"
    "name: tokens\n"
    "input: {features: [2], tokens: {shape: [3], type: int}}\n"
    "nodes:\n"
    "  - {name: emb, op: embedding, inputs: [tokens], vocab: 6, dim: 4}\n"
    "  - {name: flat, op: flatten, inputs: [emb]}\n"
    "  - {name: both, op: concat, inputs: [features, flat], axis: 1}\n"
    "  - {name: logits, op: dense, units: 2}\n"
    "loss: softmax_cross_entropy\n"
    "optimizer: {adam: {lr: 0.02}}\n"
    "train: {batch: 16, epochs: 20, seed: 3}\n"
    "data: {format: hdf5, train: train.h5, test: test.h5}\n";

/* features [n,2] as X, token ids [n,3] as ftype under "tokens" (ids 0…5;
 * `bad` > 0: example 7 position 2 holds `bad` instead), class: a 5 among
 * them. */
static void token_file(const char *path, int64_t n, uint64_t seed, hid_t ftype, double bad)
{
    double *x = malloc((size_t)n * 2 * sizeof *x), *tok = malloc((size_t)n * 3 * sizeof *tok),
           *y = malloc((size_t)n * sizeof *y);
    nb_rng r = nb_rng_seed(seed);
    for (int64_t i = 0; i < n; i++) {
        x[2 * i] = nb_rng_uniform(&r), x[2 * i + 1] = nb_rng_uniform(&r);
        for (int k = 0; k < 3; k++)
            tok[3 * i + k] = (double)nb_rng_below(&r, 6);
        y[i] = tok[3 * i] == 5 || tok[3 * i + 1] == 5 || tok[3 * i + 2] == 5;
    }
    if (bad > 0)
        tok[3 * 7 + 2] = bad;
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    put(f, "X", H5T_IEEE_F32LE, n, NB_SHAPE(2), x);
    put(f, "tokens", ftype, n, NB_SHAPE(3), tok);
    put(f, "y", H5T_STD_U8LE, n, NB_SCALAR, y);
    H5Fclose(f);
    free(x);
    free(tok);
    free(y);
}

/* Trains the token model on train.h5 and returns its test accuracy. */
static double token_accuracy(const char *dir)
{
    nb_model_file *m = load_model(dir, "m.yaml");
    nb_dataset *train, *test;
    nb_error e = {0};
    cr_assert_eq(nb_model_file_load_data(m, &train, &test, (nb_data_load_opts){0}, &e), NB_OK,
                 "%s", e.message);
    cr_assert(train->extra[0].ids);
    nb_trainer *t = model_trainer(m);
    cr_assert_eq(nb_trainer_fit(t, train, NULL), NB_OK, "%s", nb_trainer_error(t));
    double acc;
    cr_assert_eq(nb_trainer_evaluate(t, test, NULL, &acc), NB_OK, "%s", nb_trainer_error(t));
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_dataset_free(test);
    nb_model_file_free(m);
    return acc;
}

Test(inputs_hdf5, integer_ids_feed_an_embedding_as_stored)
{
    const char *dir = folder("ids");
    char train[512], test[512];
    snprintf(train, sizeof train, "%s/train.h5", dir);
    snprintf(test, sizeof test, "%s/test.h5", dir);
    write_text(dir, "m.yaml", "%s", token_yaml);
    hid_t types[] = {H5T_STD_I64LE, H5T_STD_U8LE, H5T_STD_I32LE};
    for (int k = 0; k < 3; k++) {
        token_file(train, 400, 4, types[k], 0);
        token_file(test, 100, 5, types[k], 0);
        double acc = token_accuracy(dir);
        cr_assert_geq(acc, 0.95, "type %d: accuracy %g (uint8 ids must not be divided by 255)", k,
                      acc);
    }

    /* ids that are not whole numbers, from a float dataset, and an id past the vocabulary */
    token_file(train, 40, 4, H5T_IEEE_F32LE, 2.5);
    nb_model_file *m = load_model(dir, "m.yaml");
    nb_dataset *ds = NULL;
    nb_error e = {0};
    cr_assert_neq(nb_model_file_load_data(m, &ds, NULL, (nb_data_load_opts){0}, &e), NB_OK);
    cr_assert(strstr(e.message, "/tokens: example 7 holds 2.5 at position 2; the model reads it "
                                "as integer ids (type: int)"), "%s", e.message);
    token_file(train, 40, 4, H5T_STD_I64LE, 9);
    cr_assert_eq(nb_model_file_load_data(m, &ds, NULL, (nb_data_load_opts){0}, &e), NB_OK);
    nb_trainer *t = model_trainer(m);
    cr_assert_neq(nb_trainer_fit(t, ds, NULL), NB_OK);
    cr_assert(strstr(nb_trainer_error(t), "training example 7 of input 'tokens' holds id 9 at "
                                          "position 2, outside the vocabulary 0…5 of "
                                          "'emb/table'"), "%s", nb_trainer_error(t));
    nb_trainer_free(t);
    nb_dataset_free(ds);
    nb_model_file_free(m);
}

/* nb_trainer_save of a model file whose later input is `type: int` writes
 * it so (the graph does not record the type): the saved model, read back,
 * takes the uint8 ids as they are stored and scores as the trained one
 * did. Written as a float input, its byte ids would be divided by x_div and
 * refused as fractions. */
Test(inputs_hdf5, a_saved_model_keeps_its_integer_id_input)
{
    const char *dir = folder("saved_ids");
    char train[512], test[512], saved[512];
    snprintf(train, sizeof train, "%s/train.h5", dir);
    snprintf(test, sizeof test, "%s/test.h5", dir);
    snprintf(saved, sizeof saved, "%s/w.h5", dir);
    write_text(dir, "m.yaml", "%s", token_yaml);
    token_file(train, 400, 4, H5T_STD_U8LE, 0);
    token_file(test, 100, 5, H5T_STD_U8LE, 0);
    nb_model_file *m = load_model(dir, "m.yaml");
    nb_dataset *tr, *te;
    nb_error e = {0};
    cr_assert_eq(nb_model_file_load_data(m, &tr, &te, (nb_data_load_opts){0}, &e), NB_OK, "%s",
                 e.message);
    nb_trainer *t = model_trainer(m);
    cr_assert_eq(nb_trainer_fit(t, tr, NULL), NB_OK, "%s", nb_trainer_error(t));
    double acc, acc_back;
    cr_assert_eq(nb_trainer_evaluate(t, te, NULL, &acc), NB_OK, "%s", nb_trainer_error(t));
    nb_model_yaml_opts o = {.name = "saved",
                            .data = {.format = "hdf5", .train = train, .test = test}};
    cr_assert_eq(nb_trainer_save(t, saved, &o, &e), NB_OK, "%s", e.message);

    char *text = nb_weights_model_yaml(saved, &e);
    cr_assert_not_null(text, "%s", e.message);
    nb_model_file *back = nb_model_file_parse(text, strlen(text), "w.h5:model_yaml", &e);
    cr_assert_not_null(back, "%s", e.message);
    nb_model_input in[NB_MAX_INPUTS];
    cr_assert_eq(nb_model_file_inputs(back, in, NB_MAX_INPUTS), 2);
    cr_assert(!in[0].ids && in[1].ids && !strcmp(in[1].name, "tokens"),
              "the saved model's inputs:\n%s", text);
    nb_dataset *tr_back, *te_back;
    cr_assert_eq(nb_model_file_load_data(back, &tr_back, &te_back, (nb_data_load_opts){0}, &e),
                 NB_OK, "%s", e.message);
    nb_trainer *t_back = model_trainer(back);
    cr_assert_eq(nb_weights_load(nb_trainer_graph(t_back), saved, &e), NB_OK, "%s", e.message);
    cr_assert_eq(nb_trainer_evaluate(t_back, te_back, NULL, &acc_back), NB_OK, "%s",
                 nb_trainer_error(t_back));
    cr_assert_eq(acc_back, acc, "the saved model scores %g, the trained one %g", acc_back, acc);
    cr_assert_geq(acc, 0.95, "accuracy %g", acc);

    nb_trainer_free(t_back);
    nb_dataset_free(tr_back);
    nb_dataset_free(te_back);
    nb_model_file_free(back);
    nb_free(text);
    nb_trainer_free(t);
    nb_dataset_free(tr);
    nb_dataset_free(te);
    nb_model_file_free(m);
}

Test(inputs_hdf5, input_type_is_strict)
{
    nb_error e = {0};
    const char *bad[][2] = {
        {"input: {t: {shape: [3], type: integer}}\n", "input type 'integer' is unknown"},
        {"input: {t: {type: int}}\n", "key 'shape' is missing in input 't'"},
        {"input: {t: {shape: [3], kind: int}}\n", "key 'kind' is unknown in input 't'"},
    };
    for (int i = 0; i < 3; i++) {
        char text[512];
        snprintf(text, sizeof text, "nabla: 1\n%slayers:\n  - dense: {units: 2}\nloss: mse\n",
                 bad[i][0]);
        nb_model_file *m = nb_model_file_parse(text, strlen(text), "t.yaml", &e);
        cr_assert_null(m, "%s", bad[i][0]);
        cr_assert(strstr(e.message, bad[i][1]), "got: %s", e.message);
    }
}

/* ---------------------------------------------------------------- the command */

/* Runs `nabla ARGS` in dir; its exit status; stderr in dir/err. */
static int nabla(const char *dir, const char *args)
{
    const char *exe = getenv("NABLA_EXE");
    cr_assert_not_null(exe, "NABLA_EXE is not set");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd %s && %s %s > out 2> err", dir, exe, args);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static bool file_has(const char *dir, const char *name, const char *want)
{
    char path[512], buf[8192] = "";
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strstr(buf, want) != NULL;
}

/* "output" [n, 2] of a predict file. */
static void read_output(const char *path, float *out, int64_t n)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert_geq(f, 0, "cannot open %s", path);
    hid_t d = H5Dopen2(f, "output", H5P_DEFAULT);
    cr_assert_geq(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out), 0);
    (void)n;
    H5Dclose(d);
    H5Fclose(f);
}

Test(inputs_hdf5, nabla_train_eval_predict_grad_feed_every_input)
{
    const char *dir = folder("cli");
    char path[512];
    snprintf(path, sizeof path, "%s/train.h5", dir);
    image_side_file(path, 500, 1, "S", 500, 3);
    snprintf(path, sizeof path, "%s/test.h5", dir);
    image_side_file(path, 203, 9, "S", 203, 3);
    write_text(dir, "m.yaml", two_input_yaml, "");
    cr_assert_eq(nabla(dir, "train m.yaml --no-graph -q --out w.h5"), 1);
    cr_assert(file_has(dir, "err", "no dataset /side for the model's input 'side'"));
    cr_assert_eq(nabla(dir, "train m.yaml --no-graph -q --out w.h5 --inputs side"), 2);
    cr_assert(file_has(dir, "err", "--inputs wants NAME=DATASET"));
    cr_assert_eq(nabla(dir, "train m.yaml --no-graph -q --out w.h5 --inputs side=S"), 0,
                 "%s", file_has(dir, "err", "") ? "see err" : "");
    cr_assert(file_has(dir, "out", "test_acc=0.9"), "a test accuracy of at least 0.9");
    /* a checkpoint, a resume and a validation fraction hold every input */
    cr_assert_eq(nabla(dir, "train m.yaml --no-graph -q --out v.h5 --inputs side=S --epochs 2 "
                            "--validation 0.2 --checkpoint ck.h5"), 0);
    cr_assert_eq(nabla(dir, "train m.yaml --no-graph -q --out v.h5 --inputs side=S --epochs 3 "
                            "--validation 0.2 --checkpoint ck.h5 --resume ck.h5"), 0);
    cr_assert(file_has(dir, "out", "epochs=3"), "resumed to epoch 3");
    cr_assert_eq(nabla(dir, "eval w.h5 --inputs side=S"), 0);
    cr_assert(file_has(dir, "out", "test_acc=0.9"));
    /* predict and grad read every input from the file given */
    cr_assert_eq(nabla(dir, "predict w.h5 -i test.h5 -o p.h5 --inputs side=S"), 0);
    cr_assert_eq(nabla(dir, "grad w.h5 -i test.h5 -o g.h5 --inputs side=S --limit 20"), 0);
    cr_assert_eq(nabla(dir, "predict w.h5 -i test.h5 -o p.h5"), 1);
    cr_assert(file_has(dir, "err", "no dataset /side"));
    /* the side vector zeroed moves the predictions */
    float with[203 * 2], without[203 * 2];
    snprintf(path, sizeof path, "%s/p.h5", dir);
    cr_assert_eq(nabla(dir, "predict w.h5 -i test.h5 -o p.h5 --inputs side=S"), 0);
    read_output(path, with, 203);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    H5Fclose(f);
    snprintf(path, sizeof path, "%s/zero.h5", dir);
    image_side_file(path, 203, 9, "S", 203, 3);
    hid_t z = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(z, "S", H5P_DEFAULT);
    double zeros[203 * 3] = {0};
    put(z, "side", H5T_IEEE_F32LE, 203, NB_SHAPE(3), zeros);
    H5Fclose(z);
    cr_assert_eq(nabla(dir, "predict w.h5 -i zero.h5 -o pz.h5"), 0);
    snprintf(path, sizeof path, "%s/pz.h5", dir);
    read_output(path, without, 203);
    int moved = 0;
    for (int i = 0; i < 203; i++)
        moved += (with[2 * i] > with[2 * i + 1]) != (without[2 * i] > without[2 * i + 1]);
    cr_assert_gt(moved, 20, "%d predictions moved", moved);
}
