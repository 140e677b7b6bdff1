/*
 * cli_internal.h — what the `nabla` command's files share: exit codes, the
 * option parser, one-line errors, loading a model (a YAML file, a weights
 * file holding its YAML, or the built-in LeNet-5) and its data, the layer
 * table, and the progress display. Not installed; cli/ only.
 */
#ifndef NABLA_CLI_INTERNAL_H
#define NABLA_CLI_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "nabla.h"

/* Exit statuses: success, a runtime failure, a usage error. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* ---------------------------------------------------------------- threads */

/* The --threads option's help line, the same in every command. */
#define CLI_THREADS_HELP \
    "threads (default 0: every core, fewer while other processes hold them; the results are the same bits at any count)"

/* Sets nabla's threads from a --threads value: 0 every core, tuned to the
 * load (nb_set_threads(0)); n exactly n, up to 4096. */
void cli_set_threads(int64_t n);
/* What cli_set_threads set, for summary lines: "auto" or the count. */
const char *cli_threads_label(void);

/* ---------------------------------------------------------------- options */

typedef enum cli_kind {
    CLI_FLAG,   /* bool, no value */
    CLI_COUNT,  /* int64 >= 1 */
    CLI_INT,    /* int64 >= 0 */
    CLI_SEED,   /* uint64 */
    CLI_REAL,   /* double > 0, finite */
    CLI_REAL0,  /* double >= 0, finite */
    CLI_STR,    /* const char *, non-empty */
    CLI_CHOICE  /* const char *, one of the words of meta ("csv|f32") */
} cli_kind;

/* One option of a command: "--epochs" (and optionally a short "-o"), what
 * it stores where, and its line in --help. */
typedef struct cli_opt {
    const char *name;
    const char *short_name; /* NULL when none */
    cli_kind kind;
    void *dst;              /* bool, int64_t, uint64_t, double or const char * */
    const char *meta;       /* "N", "X", "FILE" in the help text; CLI_CHOICE: "a|b|c" */
    const char *help;
} cli_opt;

/* A command: its name, positional arguments and options, for parsing and
 * for --help. */
typedef struct cli_cmd {
    const char *name;
    const char *args;       /* "[MODEL.yaml]" */
    const char *summary;    /* one line */
    const char *details;    /* paragraphs after the usage line, or NULL */
    int min_pos, max_pos;
    const cli_opt *opts;    /* terminated by a {0} entry; at most 32 */
    uint32_t seen;          /* bit i: opts[i] appeared (set by cli_parse) */
} cli_cmd;

/* Parses argv[1..argc) (argv[0] is the command name) into the command's
 * options and up to max_pos positional arguments. Returns CLI_OK, CLI_USAGE
 * after a one-line message, or -1 when --help was asked for and printed. */
int cli_parse(cli_cmd *cmd, int argc, char **argv, const char **pos, int *n_pos);
/* Whether the option called `name` appeared. */
bool cli_seen(const cli_cmd *cmd, const char *name);
/* The --help text of a command, on `out`. */
void cli_help(const cli_cmd *cmd, FILE *out);

/* Every message of cli_error and cli_usage is kept (the last one: what
 * cli_last_report gives); with keep_only they are not printed as well. */
void cli_reports_keep_only(bool keep_only);
const char *cli_last_report(void);

/* ---------------------------------------------------------------- data parallelism (dist.c)
 * `mpirun -np N nabla train`: the command finds itself started by an MPI
 * launcher and trains on N ranks; rank 0 alone prints and writes files. */

/* *d the group of the ranks when the command was started by mpirun (or
 * another MPI launcher), else NULL; on ranks other than 0 messages are
 * kept, not printed. CLI_OK, or CLI_FAIL after a message (a nabla without
 * MPI started on several ranks, which would train N times side by side). */
int cli_dist_start(const char *cmd, nb_dist **d);
/* After a phase that can fail on some ranks alone: every rank passes its
 * exit status and gets the same one back (CLI_OK when all passed it); rank
 * 0 prints the message of the lowest failing rank when that is not rank 0
 * (which printed its own), naming it. Returns rc itself for NULL. */
int cli_dist_agree(const char *cmd, nb_dist *d, int rc);
/* Whether this process prints and writes files: rank 0, or no group. */
bool cli_dist_root(const nb_dist *d);

/* "nabla <cmd>: <message>" as one line on stderr (newlines in the message
 * become spaces). Returns status, so `return cli_error(...)` reads well. */
int cli_error(const char *cmd, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* A usage error: the message plus a pointer to --help; returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* A library message without a redundant "train: " style prefix. */
const char *cli_strip(const char *message);
/* CLI_OK when nabla was built with `feature` (nb_built_with: "hdf5",
 * "graphviz"); else CLI_FAIL, having said "nabla <cmd>: nabla was built
 * without HDF5: cannot write <what> '<path>'<hint>", before any work. */
int cli_need(const char *cmd, const char *feature, const char *what, const char *path,
             const char *hint);

/* ---------------------------------------------------------------- models and data */

/* A model and where it came from. */
typedef struct cli_model {
    nb_model_file *m;
    char *text;             /* YAML read from a weights file or built in, or NULL */
    const char *source;     /* the path given, or "(built-in lenet5.yaml)" */
    bool from_weights;      /* source is an HDF5 file holding the YAML */
    bool allow_nonfinite;   /* --allow-nonfinite: weights and examples load with NaN and ±inf */
    nb_input_source sources[NB_MAX_INPUTS]; /* --inputs NAME=DATASET,…: read before the
                                               data section's inputs */
    int n_sources;
    char sources_text[1024];
} cli_model;

/* Sets rt's inputs after x (io->extra: the model file's inputs after its
 * first, in order) to examples [at, at + count) of ds's inputs of their
 * names, as floats. CLI_OK or CLI_FAIL after a message. */
int cli_feed_extra(const char *cmd, const cli_model *cm, nb_runtime *rt, const nb_model_io *io,
                   const nb_dataset *ds, int64_t at, int64_t count);

/* The --inputs option's help line, the same in every command. */
#define CLI_INPUTS_HELP "the HDF5 datasets of named model inputs (default: each input's " \
                        "own name)"
/* --inputs NAME=DATASET[,NAME=DATASET…] into cm's sources (spec NULL:
 * none); CLI_OK, or CLI_USAGE after a message naming what is wrong. */
int cli_model_set_sources(const char *cmd, cli_model *cm, const char *spec);

/* The --allow-nonfinite option's help line, the same in every command. */
#define CLI_NONFINITE_HELP \
    "load weights and examples that hold NaN or ±inf (refused by default)"

/* Loads a weights or checkpoint file into g (non-finite values refused
 * unless cm->allow_nonfinite, with a hint at --allow-nonfinite when that is
 * what stopped it). CLI_OK or CLI_FAIL after a message. */
int cli_weights_load(const char *cmd, const cli_model *cm, nb_graph *g, const char *path);
/* Warns on stderr ("nabla <cmd>: warning: inputs range 0…255 but the model
 * was trained on 0…1 …") when the examples of ds fall far outside the
 * inputs the weights file says training saw (nb_input_range_outside); silent
 * when they do not, or the file does not say. */
void cli_inputs_warn(const char *cmd, const char *weights, const nb_dataset *ds);

/* Loads `path` (NULL: the built-in LeNet-5): a YAML model file, or a
 * weights/checkpoint file whose /model_yaml is parsed (called
 * "W.h5:model_yaml" in messages, so relative data paths in it resolve
 * against the weights file's folder). CLI_OK, or CLI_FAIL after a one-line
 * message naming the file (with *out left empty). */
int cli_model_load(const char *cmd, const char *path, cli_model *out);
void cli_model_free(cli_model *cm);
/* True when the file starts with the HDF5 signature or is named *.h5. */
bool cli_is_hdf5(const char *path);

/* The built-in default model: examples/models/lenet5.yaml as lines,
 * NULL-terminated, and the name messages call it; both defined in the
 * default_model.c that cli/embed_yaml.py generates at build time. */
extern const char *const cli_default_model_lines[];
extern const char cli_default_model_name[];
/* Those lines joined (malloc'd, NUL-terminated); NULL if memory ran out. */
char *cli_default_model_text(size_t *len);

/* --data DIR: the model's data files are read from dir (idx: the folder;
 * hdf5: dir/<file name>). CLI_OK when dir is NULL; CLI_FAIL after a message
 * when the model has no data section. */
int cli_model_set_data(const char *cmd, cli_model *cm, const char *dir);
/* Loads the data the model's `data:` section names (nb_model_file_load_data:
 * byte examples scaled by the model's x_div). Either pointer may be
 * NULL when that split is not wanted; *test is NULL when the section names
 * no test file. limit > 0 keeps the first `limit` examples of train (or of
 * test when train is not wanted). CLI_OK or CLI_FAIL after a message. */
int cli_data_load(const char *cmd, const cli_model *cm, nb_dataset **train, nb_dataset **test,
                  int64_t limit);
/* Refuses data whose examples differ from the model's input shape or target
 * width, naming both. */
int cli_data_check(const char *cmd, const cli_model *cm, const nb_dataset *ds, const char *what);

/* Examples from a user's HDF5 file (datasets x_name and y_name; NULL:
 * "X", "y"; no targets are read unless need_y), the first `limit` when
 * limit > 0, checked against the model's input shape (and target width
 * when need_y). uint8 examples are divided by the model's x_div, as
 * training divided them; the result is in the float form. */
int cli_input_load(const char *cmd, const cli_model *cm, const char *path, const char *x_name,
                   const char *y_name, bool need_y, int64_t limit, nb_dataset **out);

/* One build of a model into a fresh graph: batch, mode, the io nodes. */
typedef struct cli_build {
    nb_graph *g;
    nb_model_io io;
} cli_build;

/* Builds the model at `batch` in training or inference mode into a new
 * graph seeded with the model's seed. CLI_OK or CLI_FAIL after a message. */
int cli_build_model(const char *cmd, const cli_model *cm, int64_t batch, bool training,
                    cli_build *out);
void cli_build_free(cli_build *b);

/* The trainable parameters of a graph (malloc'd array; *n set). */
nb_node **cli_trainable(nb_graph *g, int *n);

/* Draws the model (built at `batch` in training mode: the network that
 * trains; with the backward pass of its loss when asked) to path:
 * .svg/.png rendered, else DOT text. With plan, the steps a runtime for
 * those values executes (nb_runtime_dot_write) instead of the graph. */
int cli_draw(const char *cmd, const cli_model *cm, int64_t batch, bool backward, bool plan,
             const char *path);
/* Draws the network a trainer trained (nb_trainer_dot_write), titled with
 * the model's name. */
int cli_draw_trainer(const char *cmd, const cli_model *cm, nb_trainer *t, const char *path);
/* "<model name><ext>" into buf ("lenet5.h5"). */
const char *cli_default_path(const cli_model *cm, const char *ext, char *buf, size_t size);

/* ---------------------------------------------------------------- progress */

typedef struct cli_progress cli_progress;

/* A progress display on stderr: a bar redrawn in place when stderr is a
 * terminal, else one line per epoch; nothing when quiet. csv (may be NULL)
 * gets one row per epoch. The caller keeps ownership of csv. */
cli_progress *cli_progress_new(bool quiet, FILE *csv);
void cli_progress_free(cli_progress *p);
/* nb_train_opts callbacks; ud is the cli_progress. */
void cli_progress_step(const nb_progress *p, void *ud);
void cli_progress_epoch(const nb_progress *p, void *ud);
/* Erases a half-drawn bar so a message can be printed on a clean line. */
void cli_progress_clear(cli_progress *p);
/* The CSV log's header line (without its newline), and writing it. */
extern const char cli_progress_csv_columns[];
void cli_progress_csv_header(FILE *csv);

/* Seconds on a monotonic clock. */
double cli_now(void);

/* ---------------------------------------------------------------- streaming (stream.c) */

/* What `nabla train --stream` was asked for. */
typedef struct cli_stream_opts {
    bool f32;             /* raw little-endian float32 records, else CSV lines */
    int64_t batch;        /* examples per step, >= 1 */
    int64_t report;       /* a progress line every this many examples, >= 1 */
    int64_t limit;        /* stop after this many examples; 0: at the end of input */
    const char *out;      /* the weights file written at the end */
    const char *graph;    /* the drawing written after it, or NULL */
    FILE *csv;            /* one row per progress line, or NULL; the caller closes it */
    bool quiet;
    const char *init_weights; /* the weights training starts from, or NULL */
    bool init_implicit;       /* init_weights is the model's own file */
} cli_stream_opts;

/* Loads the parameters and batch-norm statistics of the weights file (or
 * checkpoint) at path into t before it trains: --init-weights FILE, or
 * implicit when the model itself came from that file. Says so on stderr
 * unless quiet; CLI_OK, or CLI_FAIL after a message naming what did not
 * match. */
int cli_start_from(const char *cmd, nb_trainer *t, const char *path, bool implicit, bool quiet);

/* Trains the model on examples read from `in` as they arrive, one step per
 * s->batch examples, never holding more than one batch; at the end of input
 * saves the weights and prints the key=value summary. CLI_OK, or CLI_FAIL
 * after a one-line message (malformed input names its line or record, and
 * no weights are written). */
int cli_train_stream(const cli_model *cm, nb_train_opts o, const cli_stream_opts *s, FILE *in);

/* ---------------------------------------------------------------- commands */

int cli_train(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_predict(int argc, char **argv);
int cli_grad(int argc, char **argv);
int cli_dot(int argc, char **argv);
int cli_inspect(int argc, char **argv);
int cli_export(int argc, char **argv);
int cli_import(int argc, char **argv);

#endif
