/*
 * train.c — `nabla train [MODEL.yaml]`: trains a model on the data its file
 * names (the built-in LeNet-5 on Fashion-MNIST when none is given), with
 * progress on stderr, a checkpoint after every epoch on request, weights
 * saved with the model's YAML inside, the forward graph drawn, and one
 * closing `key=value` line on stdout. With --stream it learns from
 * examples arriving on standard input instead (stream.c).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_internal.h"

typedef struct train_args {
    int64_t epochs, batch, threads, limit;
    double lr;
    uint64_t seed;
    const char *out, *checkpoint, *resume, *graph, *csv;
    const char *weights_only_file; /* --resume-weights-only FILE */
    bool weights_only;            /* resume is --resume-weights-only's file */
    const char *init_weights;     /* --init-weights FILE, or MODEL when it is an HDF5 file;
                                     NULL (or --init-weights none): the model's initialisers */
    bool init_implicit;           /* init_weights is MODEL, not --init-weights */
    bool quiet, no_graph;
    bool seed_given;
    bool stream;                  /* --stream: examples from stdin */
    const char *format;           /* --format csv|f32 */
    int64_t stream_batch, report;
    const char *stream_only;      /* the first stream option given, if any */
    const char *not_streaming;    /* the first option --stream excludes, if any */
    const char *grow;             /* --grow LAYER:K[:MAX] */
    const char *data;             /* --data DIR: the data folder instead of the model's */
    const char *inputs;           /* --inputs NAME=DATASET,…: datasets of named inputs */
    double validation, min_delta; /* --validation F, --min-delta X */
    const char *validation_file;  /* --validation-file FILE */
    int64_t patience;             /* --patience N */
    bool no_restore_best;         /* --no-restore-best */
    bool min_delta_given;
    int64_t per_rank_batch;       /* --per-rank-batch N: the global batch is N per rank */
    nb_dist *dist;                /* the ranks under mpirun, else NULL */
} train_args;

/* What the epoch callback needs and what it gathers for the summary. */
typedef struct train_run {
    cli_progress *progress;
    nb_trainer *t;
    const char *checkpoint, *yaml;
    bool checkpoint_failed;
    int epochs_run;
    double seconds;          /* training time of the epochs run here */
    nb_progress last;        /* the last epoch's numbers */
    const nb_dataset *val;   /* the validation set, or NULL */
    double kept_val_loss, kept_val_acc; /* of the weights saved */
    char grow_layer[64];     /* --grow: the layer grown ("" without) and its final width */
    int64_t grow_units;
    const nb_model_file *m;  /* the model, whose text changes as it grows */
    bool quiet;
    bool root;               /* writes the checkpoints: rank 0, or the only process */
} train_run;

/* ---------------------------------------------------------------- options */

static int parse(int argc, char **argv, train_args *a, const char **model)
{
    cli_opt opts[] = {
        {"--epochs", NULL, CLI_COUNT, &a->epochs, "N", "epochs to train (default: the model's)"},
        {"--batch", NULL, CLI_COUNT, &a->batch, "N", "minibatch size (default: the model's)"},
        {"--per-rank-batch", NULL, CLI_COUNT, &a->per_rank_batch, "N",
         "under mpirun: N examples per rank, the batch N times the ranks"},
        {"--lr", NULL, CLI_REAL, &a->lr, "X", "learning rate (default: the model's)"},
        {"--threads", NULL, CLI_INT, &a->threads, "N", CLI_THREADS_HELP},
        {"--seed", NULL, CLI_SEED, &a->seed, "N", "seed for weights, order, dropout"},
        {"--out", NULL, CLI_STR, &a->out, "FILE", "weights file to write (default <name>.h5)"},
        {"--checkpoint", NULL, CLI_STR, &a->checkpoint, "FILE",
         "checkpoint written after every epoch"},
        {"--resume", NULL, CLI_STR, &a->resume, "FILE", "continue from a checkpoint"},
        {"--resume-weights-only", NULL, CLI_STR, &a->weights_only_file, "FILE",
         "continue from a checkpoint's weights, the optimiser afresh"},
        {"--init-weights", NULL, CLI_STR, &a->init_weights, "FILE",
         "start from the weights in FILE (fine-tuning); none: from the model's initialisers"},
        {"--graph", NULL, CLI_STR, &a->graph, "FILE",
         "drawing of the trained network (.svg/.png/.dot), written after a "
         "successful run; default <name>.svg, none: no drawing"},
        {"--no-graph", NULL, CLI_FLAG, &a->no_graph, NULL, "no drawing (as --graph none)"},
        {"--csv", NULL, CLI_STR, &a->csv, "FILE", "per-epoch metrics as CSV"},
        {"--limit", NULL, CLI_COUNT, &a->limit, "N", "train on the first N examples only"},
        {"--data", NULL, CLI_STR, &a->data, "DIR",
         "read the data files from DIR instead of the folder the model names"},
        {"--inputs", NULL, CLI_STR, &a->inputs, "NAME=DS,...", CLI_INPUTS_HELP},
        {"--quiet", "-q", CLI_FLAG, &a->quiet, NULL, "no progress or per-epoch lines"},
        {"--stream", NULL, CLI_FLAG, &a->stream, NULL,
         "learn from examples arriving on stdin (see below)"},
        {"--format", NULL, CLI_CHOICE, &a->format, "csv|f32",
         "--stream input: csv (default) or f32"},
        {"--stream-batch", NULL, CLI_COUNT, &a->stream_batch, "N",
         "--stream: examples per step (default 1)"},
        {"--report", NULL, CLI_COUNT, &a->report, "N",
         "--stream: a progress line every N examples (default 1000)"},
        {"--grow", NULL, CLI_STR, &a->grow, "LAYER:K[:MAX]",
         "widen dense LAYER by K units whenever Q stabilises, up to MAX (see below)"},
        {"--validation", NULL, CLI_REAL, &a->validation, "F",
         "hold out fraction F (0 < F < 1) of the training set for validation"},
        {"--validation-file", NULL, CLI_STR, &a->validation_file, "FILE",
         "validate on an HDF5 file (the data's x, y names; default X, y)"},
        {"--patience", NULL, CLI_COUNT, &a->patience, "N",
         "early stopping: stop after N epochs without validation improvement"},
        {"--min-delta", NULL, CLI_REAL0, &a->min_delta, "X",
         "early stopping: an improvement beats the best by more than X (default 0)"},
        {"--no-restore-best", NULL, CLI_FLAG, &a->no_restore_best, NULL,
         "early stopping: keep the last epoch's weights, not the best's"},
        {0}};
    cli_cmd cmd = {
        .name = "train", .args = "[MODEL.yaml]", .min_pos = 0, .max_pos = 1, .opts = opts,
        .summary = "Train a model described in YAML on the data its `data:` section names.\n"
                   "With no MODEL, trains the built-in LeNet-5 on Fashion-MNIST (or, with\n"
                   "--resume, the model stored in the checkpoint).",
        .details =
            "Progress goes to stderr: a bar on a terminal, one line per epoch otherwise;\n"
            "loss is the epoch's mean training loss, Q the running estimate. The\n"
            "closing line on stdout reads key=value (model, epochs, test_acc, ...).\n"
            "--csv FILE logs one row per epoch: epoch, steps, examples, loss, q,\n"
            "train_acc, val_loss, val_acc, test_loss, test_acc, lr, seconds (nan where\n"
            "there is no such set). An epoch's short last batch that the model cannot\n"
            "train on (batch norm over features needs two examples) is skipped, said on\n"
            "stderr and counted as skipped=N in the closing line.\n\n"
            "validation (--validation F or --validation-file FILE, else the model file's\n"
            "train validation or data validation): after each epoch the validation set\n"
            "is evaluated (val_loss, val_acc; a * marks the best epoch so far). F holds\n"
            "out round(F*n) training examples chosen by the seed (the same ones at every\n"
            "run and resume; docs/model-format.md), never trained on; the test set stays\n"
            "apart. --patience N stops after N epochs without improvement of val_loss\n"
            "(or the file's early_stopping monitor) by more than --min-delta, and the\n"
            "weights of the best epoch are restored and saved (--no-restore-best keeps\n"
            "the last); a line on stderr says where it stopped and which epoch's weights\n"
            "were kept. Checkpoints carry the best epoch and its weights.\n\n"
            "several inputs: a model whose file declares several (input: {image: [1, 8,\n"
            "8], side: [3]}) is fed each from the HDF5 dataset of its name, the first\n"
            "from the data section's x (default X) when the file has no dataset of its\n"
            "name; the data section's inputs: {side: S} or --inputs side=S,tokens=T\n"
            "name other datasets. Every input needs one row per example of y. An input\n"
            "of type int (input: {tokens: {shape: [64], type: int}}) holds token ids:\n"
            "any integer or float dataset of whole numbers, fed as they are (never\n"
            "divided by x_div); an id outside an embedding's vocabulary, or one that is\n"
            "not a whole number, is refused before the first epoch, naming the input,\n"
            "the example and the value.\n\n"
            "numbers: data holding NaN or inf, or inputs beyond 1.8e19 (their square\n"
            "overflows float32), are refused before the first epoch, naming the example;\n"
            "a step whose loss or gradient is not finite stops the run before its update\n"
            "(exit 1, no weights written), naming the epoch, step and the example whose\n"
            "own loss is not finite. The weights file records the range of the inputs\n"
            "trained on (/inputs), which predict, eval and grad compare theirs with.\n\n"
            "streaming (--stream): the model learns from examples as they arrive on\n"
            "stdin, one step per --stream-batch examples, never holding the data set;\n"
            "the data section is not read. --format csv: one example per line,\n"
            "\"x1,...,xd,y1,...,yk\" with d the numbers of one input (784 for [1,28,28])\n"
            "and k the targets (1: a class index); blank and '#' lines are skipped.\n"
            "--format f32: raw little-endian float32 records of d + k values. Q and the\n"
            "mean loss of the last N examples go to stderr every --report N examples\n"
            "(--csv FILE logs the same, one row each); --limit N stops after N examples.\n"
            "At the end of input the weights are saved (--out) and one key=value line\n"
            "(examples, steps, q, mean_loss, ...) goes to stdout. A malformed line or\n"
            "record stops the run with its number and exit status 1; no weights are\n"
            "written then. A last batch shorter than --stream-batch that the model cannot\n"
            "train on (batch norm needs two examples) is skipped and said so on stderr.\n"
            "--graph draws the model only when given, after the run.\n\n"
            "resuming (--resume FILE): training continues after the checkpoint's epoch\n"
            "with its weights, optimiser state, order and Q, exactly as the run would\n"
            "have gone on. The model and optimiser must be the ones that wrote it: another\n"
            "layer, activation, shape or optimiser kind is refused, naming the difference;\n"
            "epochs, batch, lr and the other training settings may change. Every field of\n"
            "the checkpoint (epoch, step counts, Q, generator state, early stopping,\n"
            "optimiser slots, best weights) is checked for type, shape, range and\n"
            "finiteness first; the first bad one is named and nothing is trained.\n"
            "--resume-weights-only FILE takes the checkpoint's weights and epoch count but\n"
            "starts the optimiser afresh (to go on with another optimiser). A checkpoint\n"
            "that already reached the epochs asked for is reported before any data is\n"
            "read, and nothing is trained or written (ask for more with --epochs N).\n"
            "An existing --csv log is appended to under its header; a file of other\n"
            "columns, or with rows past the checkpoint's epoch, is refused.\n\n"
            "fine-tuning (--init-weights FILE): training starts at epoch 1 from the\n"
            "parameters and batch-norm statistics in FILE (a weights file: nabla train\n"
            "--out, nabla import --weights; or a checkpoint's), the optimiser afresh.\n"
            "Every parameter of the model must be in FILE with its shape and FILE must\n"
            "hold no other, or nothing is trained. A MODEL given as a weights file or\n"
            "checkpoint (the YAML stored in it) starts from the weights it holds, as\n"
            "if --init-weights named it; --init-weights none starts it from the model's\n"
            "initialisers instead. A line on stderr says which weights training starts\n"
            "from.\n\n"
            "growing (--grow LAYER:K[:MAX]): trains; whenever Q stabilises (moved by less\n"
            "than the file's train q_stop rtol, default 1%, over its window, default one\n"
            "epoch of steps) dense layer LAYER (its name: or automatic name, e.g. dense1)\n"
            "gets K more units, up to MAX (default 2^24), and training continues until\n"
            "the epochs run out. The new units are first fitted to the residual of up to\n"
            "1000 training examples and enter with zero outgoing weights, so the\n"
            "network's function is unchanged (a \"grow:\" line on stderr shows the check);\n"
            "the optimiser's state restarts at each growth. The layer must feed one\n"
            "dense layer through elementwise ops only. The weights file holds the YAML\n"
            "at the final width; the closing line gains units=.\n\n"
            "across processes (MPI): `mpirun -np N nabla train MODEL.yaml` trains on N\n"
            "ranks, each with the whole model and its part of every minibatch; the\n"
            "gradients are summed over the ranks, so the run takes the steps one process\n"
            "takes (up to float rounding; batch norm normalises each rank's part). The\n"
            "batch (the file's or --batch) is the global batch; --per-rank-batch N makes\n"
            "it N per rank. Rank 0 alone prints and writes the weights, checkpoints, CSV\n"
            "log and drawing (closing line: ranks=N); --resume takes a checkpoint of any\n"
            "number of ranks. A rank that fails (a bad data file on its host) stops every\n"
            "rank, rank 0 saying \"rank R of N: ...\". --stream, --grow and cg run in one\n"
            "process only. Across hosts: docs/scaling.md.\n\n"
            "A model whose optimizer is cg trains by chunked conjugate gradients\n"
            "(docs/model-format.md), one line per epoch as usual; --stream and --grow\n"
            "do not apply to it.\n\n"
            "memory (ulimit -v): OpenBLAS computes the big products only when its buffers\n"
            "(128 MB per core) fit under the limit; otherwise nabla's own loops do (the\n"
            "same results, slower) and a note at the end says what limit would let\n"
            "OpenBLAS run. Rendering --graph as SVG or PNG needs about 256 MB more;\n"
            "under less it is refused, naming the limit (a .dot path or --no-graph\n"
            "needs none). docs/performance.md lists what a run needs.\n\n"
            "examples (from the source folder; examples/models holds the models):\n"
            "  nabla train                                    # LeNet-5, 5 epochs\n"
            "  nabla train examples/models/fashion_mlp.yaml --epochs 2 --csv log.csv\n"
            "  nabla train examples/models/fashion_mlp.yaml --epochs 30 --validation 0.1 \\\n"
            "      --patience 3\n"
            "  nabla train examples/models/residual.yaml --checkpoint ck.h5  # after a crash:\n"
            "  nabla train examples/models/residual.yaml --checkpoint ck.h5 --resume ck.h5\n"
            "  nabla train examples/models/residual.yaml --resume-weights-only ck.h5 --epochs 9\n"
            "  nabla train examples/models/fashion_mlp.yaml --init-weights fashion_mlp.h5 --lr 0.005\n"
            "  nabla train examples/models/fashion_mlp.yaml --grow dense1:16:512 --epochs 20\n"
            "  mpirun -np 2 nabla train examples/models/lenet5.yaml --threads 1\n"
            "  cat examples/models/xor.csv | nabla train examples/models/xor.yaml --stream --report 4\n"
            "  nabla train examples/models/xor.yaml --stream --format f32 --stream-batch 2 \\\n"
            "      --out online.h5 < examples/models/xor.f32"};
    const char *pos[1] = {NULL};
    int n_pos, rc = cli_parse(&cmd, argc, argv, pos, &n_pos);
    *model = n_pos ? pos[0] : NULL;
    a->seed_given = cli_seen(&cmd, "--seed");
    a->min_delta_given = cli_seen(&cmd, "--min-delta");
    static const char *const stream_only[] = {"--format", "--stream-batch", "--report", NULL};
    static const char *const not_streaming[] = {"--epochs", "--batch", "--checkpoint", "--resume",
                                                "--grow", "--data", "--inputs", "--validation",
                                                "--validation-file", "--patience", "--min-delta",
                                                "--no-restore-best", "--resume-weights-only",
                                                "--per-rank-batch", NULL};
    for (int i = 0; stream_only[i] && !a->stream_only; i++)
        if (cli_seen(&cmd, stream_only[i]))
            a->stream_only = stream_only[i];
    for (int i = 0; not_streaming[i] && !a->not_streaming; i++)
        if (cli_seen(&cmd, not_streaming[i]))
            a->not_streaming = not_streaming[i];
    if (rc == CLI_OK && a->resume && a->weights_only_file)
        return cli_usage("train", "--resume and --resume-weights-only exclude each other");
    if (rc == CLI_OK && a->init_weights && (a->resume || a->weights_only_file))
        return cli_usage("train", "--init-weights and %s exclude each other (a checkpoint "
                         "brings its own weights)", a->resume ? "--resume"
                                                              : "--resume-weights-only");
    if (rc == CLI_OK && a->batch && a->per_rank_batch)
        return cli_usage("train", "--batch (the global batch) and --per-rank-batch exclude each "
                         "other");
    /* The model file's bounds (docs/model-format.md), said rather than applied. */
    const char *big = a->epochs > 1000000 ? "--epochs" : a->patience > 1000000 ? "--patience"
                    : NULL;
    if (rc == CLI_OK && big)
        return cli_usage("train", "%s wants a whole number from 1 to 1000000, not %lld", big,
                         (long long)(big[2] == 'e' ? a->epochs : a->patience));
    big = a->batch > 16777216 ? "--batch" : a->stream_batch > 16777216 ? "--stream-batch" : NULL;
    if (rc == CLI_OK && big)
        return cli_usage("train", "%s wants a whole number from 1 to 16777216, not %lld", big,
                         (long long)(big[2] == 'b' ? a->batch : a->stream_batch));
    if (rc == CLI_OK && a->per_rank_batch > 16777216)
        return cli_usage("train", "--per-rank-batch wants a whole number from 1 to 16777216, not "
                         "%lld", (long long)a->per_rank_batch);
    if (a->weights_only_file)
        a->resume = a->weights_only_file, a->weights_only = true;
    /* A model read from a weights file or checkpoint starts from the weights
     * it holds: training it from fresh initial values instead would throw
     * away, without a word, what the user handed over. */
    if (a->init_weights && !strcmp(a->init_weights, "none"))
        a->init_weights = NULL;
    else if (!a->init_weights && !a->resume && *model && cli_is_hdf5(*model))
        a->init_weights = *model, a->init_implicit = true;
    return rc;
}

/* The file's training settings with the command line's on top. */
static nb_train_opts train_opts(const cli_model *cm, const train_args *a)
{
    nb_train_opts o = nb_model_file_train_opts(cm->m);
    if (a->epochs > 0)
        o.epochs = (int)a->epochs;
    if (a->batch > 0)
        o.batch = a->batch;
    if (a->per_rank_batch > 0)
        o.batch = a->per_rank_batch * nb_dist_size(a->dist);
    o.dist = a->dist;
    if (a->lr > 0)
        o.optimizer.lr = (float)a->lr;
    if (a->seed_given)
        o.seed = a->seed;
    if (a->patience > 0)
        o.patience = (int)a->patience;
    if (a->min_delta_given)
        o.min_delta = a->min_delta;
    if (a->no_restore_best)
        o.no_restore_best = true;
    return o;
}

/* The validation options that cannot work, refused before any data is
 * read; CLI_OK or the exit status after a one-line message. */
static int check_validation_args(const cli_model *cm, const train_args *a, nb_train_opts o)
{
    if (a->validation >= 1)
        return cli_usage("train", "--validation wants a fraction of the training set between 0 "
                         "and 1 (e.g. 0.1), not %g", a->validation);
    if (a->validation > 0 && a->validation_file)
        return cli_usage("train", "--validation and --validation-file both give a validation "
                         "set; choose one");
    bool validated = a->validation > 0 || a->validation_file || o.validation > 0 ||
                     nb_model_file_data(cm->m).validation;
    bool cg = nb_model_file_cg(cm->m, NULL);
    if (o.patience > 0 && (a->grow || cg))
        return cli_usage("train", "early stopping (%s) does not apply %s",
                         a->patience ? "--patience" : "the file's early_stopping",
                         a->grow ? "with --grow" : "to a model trained by conjugate gradients");
    if (o.patience > 0 && !validated)
        return cli_usage("train", "%s needs a validation set: add --validation F (a fraction "
                         "held out of the training set) or --validation-file FILE",
                         a->patience ? "--patience" : "the file's early_stopping");
    if (!o.patience && (a->min_delta_given || a->no_restore_best))
        return cli_usage("train", "%s applies only with early stopping (--patience N)",
                         a->min_delta_given ? "--min-delta" : "--no-restore-best");
    return CLI_OK;
}

/* A file can be written at path: it is not a folder, its folder exists and
 * is writable. Checked before training so a typo does not cost a whole run. */
static int check_writable(const char *path, const char *what)
{
    char dir[2048];
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return cli_error("train", CLI_FAIL, "%s '%s' names a folder, not a file", what, path);
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return cli_error("train", CLI_FAIL, "%s '%s': folder '%s' does not exist", what, path, dir);
    if (access(dir, W_OK) != 0)
        return cli_error("train", CLI_FAIL, "%s '%s': folder '%s' is not writable (%s)", what, path,
                         dir, strerror(errno));
    return CLI_OK;
}

/* Refuses to write `path` over one of the model's data files: the default
 * "<name>.h5" run beside a model whose data is "<name>.h5" would otherwise
 * replace the training data with weights. */
static int check_not_data(const cli_model *cm, const char *path, const char *what,
                          const char *option)
{
    nb_data_spec d = nb_model_file_data(cm->m);
    const char *data[] = {d.train, d.test};
    struct stat a, b;
    if (stat(path, &a) != 0)
        return CLI_OK;
    for (int i = 0; i < 2; i++)
        if (data[i] && stat(data[i], &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
            return cli_error("train", CLI_FAIL,
                             "%s '%s' is the model's %s data file; choose another with --%s",
                             what, path, i ? "test" : "training", option);
    return CLI_OK;
}

/* Every file the run will write can be written and is not its data. */
static int check_outputs(const cli_model *cm, const train_args *a, const char *out,
                         const char *graph)
{
    if (cli_need("train", "hdf5", "the weights file", out, NULL) ||
        (a->checkpoint && cli_need("train", "hdf5", "the checkpoint", a->checkpoint, NULL)) ||
        (graph && cli_need("train", "graphviz", "the drawing", graph,
                           " (--no-graph trains without it)")) ||
        check_writable(out, "weights file") || (graph && check_writable(graph, "graph file")) ||
        (a->checkpoint && check_writable(a->checkpoint, "checkpoint")) ||
        (a->csv && check_writable(a->csv, "CSV log")) ||
        check_not_data(cm, out, "weights file", "out") ||
        (a->checkpoint && check_not_data(cm, a->checkpoint, "checkpoint", "checkpoint")))
        return CLI_FAIL;
    return CLI_OK;
}

/* ---------------------------------------------------------------- callbacks */

static void on_step(const nb_progress *p, void *ud)
{
    cli_progress_step(p, ((train_run *)ud)->progress);
}

static void on_epoch(const nb_progress *p, void *ud)
{
    train_run *r = ud;
    cli_progress_epoch(p, r->progress);
    r->epochs_run++;
    r->seconds += p->seconds;
    r->last = *p;
    if (!r->checkpoint || r->checkpoint_failed || !r->root)
        return;
    nb_error err = {0};
    if (nb_checkpoint_save(r->t, r->checkpoint, r->yaml, &err) != NB_OK) {
        r->checkpoint_failed = true;
        cli_progress_clear(r->progress);
        cli_error("train", CLI_FAIL, "writing checkpoint: %s", err.message);
    }
}

/* ---------------------------------------------------------------- the run */

/* Whether --csv is appended to: resuming into an existing, non-empty log. */
static bool csv_appends(const train_args *a)
{
    struct stat st;
    return a->resume && stat(a->csv, &st) == 0 && st.st_size > 0;
}

/* Opens the CSV log: appended to when resuming into an existing log (its
 * header checked by check_csv_append), else created with a header. */
static FILE *open_csv(const train_args *a)
{
    bool append = csv_appends(a);
    FILE *f = fopen(a->csv, append ? "a" : "w");
    if (!f)
        cli_error("train", CLI_FAIL, "cannot write CSV log '%s': %s", a->csv, strerror(errno));
    else if (!append)
        cli_progress_csv_header(f);
    return f;
}

/* The closing line: what a script wants to know about the run. */
static void summary(const cli_model *cm, const train_run *r, const nb_dataset *train,
                    const char *out, const char *graph, const char *checkpoint, int epochs_done,
                    double test_loss, double test_acc, const nb_dist *dist)
{
    printf("model=%s epochs=%d train_n=%lld", nb_model_file_name(cm->m), epochs_done,
           (long long)train->n);
    if (r->val)
        printf(" val_n=%lld", (long long)r->val->n);
    if (r->epochs_run)
        printf(" train_acc=%.4f q=%.4f loss=%.4f", r->last.train_acc, r->last.q,
               r->last.mean_loss);
    if (r->val && !isnan(r->kept_val_acc))
        printf(" val_acc=%.4f val_loss=%.4f best_epoch=%d", r->kept_val_acc, r->kept_val_loss,
               nb_trainer_state(r->t).best_epoch);
    if (!isnan(test_acc))
        printf(" test_acc=%.4f test_loss=%.4f", test_acc, test_loss);
    printf(" epoch_s=%.3f threads=%s weights=%s graph=%s",
           r->epochs_run ? r->seconds / r->epochs_run : 0.0, cli_threads_label(), out,
           graph ? graph : "none");
    if (checkpoint)
        printf(" checkpoint=%s", checkpoint);
    if (r->grow_layer[0])
        printf(" units=%lld", (long long)r->grow_units);
    if (nb_trainer_skipped(r->t) > 0)
        printf(" skipped=%lld", (long long)nb_trainer_skipped(r->t));
    if (dist)
        printf(" ranks=%d", nb_dist_size(dist));
    printf("\n");
    fflush(stdout);
}

/* ---------------------------------------------------------------- growing (--grow) */

/* --grow LAYER:K[:MAX], parsed and checked against the model. */
typedef struct grow_spec {
    char layer[64];
    int64_t k, max;
    nb_activation act;
} grow_spec;

/* Parses the option and checks the layer is a dense layer of the model;
 * CLI_OK, or the exit status after a one-line message. */
static int grow_parse(const cli_model *cm, const char *arg, grow_spec *g)
{
    const char *colon = strchr(arg, ':');
    char *end = NULL;
    long long k = colon ? strtoll(colon + 1, &end, 10) : 0, max = 1 << 24;
    if (end && *end == ':' && end[1] && end[1] != '-')
        max = strtoll(end + 1, &end, 10);
    if (!colon || colon == arg || (size_t)(colon - arg) >= sizeof g->layer || !end ||
        end == colon + 1 || *end != '\0' || k < 1 || max < 1)
        return cli_usage("train", "--grow wants LAYER:K[:MAX] with K, MAX >= 1, not '%s'", arg);
    snprintf(g->layer, (size_t)(colon - arg) + 1, "%s", arg);
    g->k = k;
    g->max = max;
    nb_error err = {0};
    if (nb_model_file_units(cm->m, g->layer, &g->act, &err) < 0)
        return cli_error("train", CLI_FAIL, "--grow: %s", cli_strip(err.message));
    return CLI_OK;
}

/* The first stage's options: Q is watched (the file's q_stop, else 1 % over
 * one epoch of steps); nb_trainer_fit_grow lets the widest stage run on. */
static nb_train_opts grow_opts(nb_train_opts o, const nb_dataset *train)
{
    int64_t batch = o.batch > 0 ? o.batch : 32;
    if (o.q_stop_rtol <= 0) {
        o.q_stop_rtol = 0.01;
        o.q_stop_window = (train->n + batch - 1) / batch;
    }
    return o;
}

/* After each growth: the run goes on with the wider trainer, whose model
 * text the checkpoints and the weights file store. */
static void on_grow(nb_trainer *t, const nb_grow_stage *s, void *ud)
{
    train_run *r = ud;
    r->t = t;
    r->yaml = nb_model_file_text(r->m);
    r->grow_units = s->grown_to;
    cli_progress_clear(r->progress);
    if (!r->quiet)
        fprintf(stderr, "grow: %s %lld -> %lld units, Q %.4g, function %s (max |Δ| %.3g)\n",
                r->grow_layer, (long long)s->units, (long long)s->grown_to, s->q,
                s->max_change <= 1e-5 ? "unchanged" : "CHANGED", s->max_change);
}

/* Trains r->t, growing the layer whenever Q stabilises while it may still
 * grow, until the epochs run out (nb_trainer_fit_grow). */
static int grow_fit_all(const cli_model *cm, const train_args *a, train_run *r,
                        const nb_dataset *train, const nb_dataset *test)
{
    nb_error err = {0};
    grow_spec gs = {0};
    if (grow_parse(cm, a->grow, &gs) != CLI_OK) /* checked before: cannot fail here */
        return CLI_FAIL;
    nb_grow_opts go = {.layer = gs.layer, .k = gs.k, .max = gs.max, .activation = gs.act,
                       .on_grow = on_grow, .ud = r};
    snprintf(r->grow_layer, sizeof r->grow_layer, "%s", gs.layer);
    r->grow_units = nb_model_file_units(cm->m, gs.layer, NULL, NULL);
    if (nb_trainer_fit_grow(&r->t, train, test, &go, &err) == NB_OK)
        return CLI_OK;
    cli_progress_clear(r->progress);
    if (!strncmp(err.message, "grow: ", 6))
        return cli_error("train", CLI_FAIL, "--grow %s: %s", gs.layer, cli_strip(err.message));
    return cli_error("train", CLI_FAIL, "%s", cli_strip(err.message));
}

/* ---------------------------------------------------------------- conjugate gradients */

/* Trains r->t by chunked conjugate gradients (optimizer: cg) epoch by
 * epoch (nb_trainer_fit_cg_epochs), from the epoch after the trainer's so
 * --resume continues; each epoch's line and checkpoint come from on_epoch
 * as in any run. */
static int cg_fit_all(const cli_model *cm, nb_train_opts o, train_run *r,
                      const nb_dataset *train, const nb_dataset *test)
{
    nb_cg_opts co;
    nb_model_file_cg(cm->m, &co);
    co.epochs = o.epochs > 0 ? o.epochs : 1;
    co.seed = o.seed;
    nb_error err = {0};
    if (nb_trainer_fit_cg_epochs(r->t, train, test, co, &err) == NB_OK)
        return CLI_OK;
    cli_progress_clear(r->progress);
    return cli_error("train", CLI_FAIL, "%s", cli_strip(err.message));
}

/* After early stopping: where training stopped and which epoch's weights
 * the run keeps (the trainer restored the best unless asked not to). */
static void early_stopping_note(const train_run *r, nb_train_opts o)
{
    nb_train_state s = nb_trainer_state(r->t);
    const char *metric = o.monitor == NB_MONITOR_VAL_ACC ? "val_acc" : "val_loss";
    char where[160];
    if (o.patience <= 0 || s.best_epoch < 1)
        return;
    if (s.bad_epochs >= o.patience)
        snprintf(where, sizeof where, "stopped after epoch %d of %d (%s did not improve for %d "
                 "epochs)", s.epoch, o.epochs, metric, s.bad_epochs);
    else
        snprintf(where, sizeof where, "ran %d of %d epochs without stopping", s.epoch, o.epochs);
    cli_progress_clear(r->progress);
    if (o.no_restore_best && s.best_epoch != s.epoch)
        fprintf(stderr, "early stopping: %s; kept the weights of epoch %d, the last "
                "(--no-restore-best; the best was epoch %d, %s %.4f)\n", where, s.epoch,
                s.best_epoch, metric, s.best);
    else
        fprintf(stderr, "early stopping: %s; kept the weights of epoch %d, the best (%s %.4f)\n",
                where, s.best_epoch, metric, s.best);
}

/* The validation and test figures of the weights the run saves: the last
 * epoch's, or measured again when the trainer restored an earlier best. */
static int kept_figures(train_run *r, nb_train_opts o, const nb_dataset *test,
                        double *test_loss, double *test_acc)
{
    nb_train_state s = nb_trainer_state(r->t);
    r->kept_val_loss = r->epochs_run ? r->last.val_loss : NAN;
    r->kept_val_acc = r->epochs_run ? r->last.val_acc : NAN;
    bool restored = o.patience > 0 && !o.no_restore_best && s.best_epoch > 0 &&
                    s.best_epoch != s.epoch;
    if (!r->val || (!restored && r->epochs_run))
        return CLI_OK;
    if (nb_trainer_evaluate(r->t, r->val, &r->kept_val_loss, &r->kept_val_acc) != NB_OK ||
        (test && nb_trainer_evaluate(r->t, test, test_loss, test_acc) != NB_OK))
        return cli_error("train", CLI_FAIL, "%s", cli_strip(nb_trainer_error(r->t)));
    return CLI_OK;
}

/* Loads --resume's checkpoint into t (its weights only with
 * --resume-weights-only); CLI_OK or CLI_FAIL after a message. */
static int resume_load(nb_trainer *t, const train_args *a)
{
    nb_error err = {0};
    if ((a->weights_only ? nb_checkpoint_load_weights(t, a->resume, &err)
                         : nb_checkpoint_load(t, a->resume, &err)) != NB_OK)
        return cli_error("train", CLI_FAIL, "resuming: %s", err.message);
    return CLI_OK;
}

/* Trains with the data loaded; the trainer and progress are made here. */
static int run(const cli_model *cm, const train_args *a, nb_train_opts o, nb_dataset *train,
               nb_dataset *test, const nb_dataset *val, const char *out, const char *graph,
               FILE *csv)
{
    train_run r = {.checkpoint = a->checkpoint, .yaml = nb_model_file_text(cm->m), .val = val,
                   .m = cm->m, .quiet = a->quiet, .root = cli_dist_root(a->dist)};
    r.progress = cli_progress_new(a->quiet, csv);
    o.validation = 0; /* held out already (prepare_and_run) */
    o.validation_data = val;
    o.on_step = on_step;
    o.on_epoch = on_epoch;
    o.ud = &r;
    nb_error err = {0};
    if (!r.progress)
        return cli_error("train", CLI_FAIL, "out of memory");
    /* An epoch of n examples in batches of B > n is one batch of n: the
     * trainer builds the model at n, not at B (which takes B's memory). */
    if (o.batch > train->n && train->n > 1)
        o.batch = train->n;
    if (a->grow)
        o = grow_opts(o, train);
    int rc = CLI_OK;
    r.t = nb_trainer_new(nb_model_file_build, cm->m, nb_model_file_input_shape(cm->m),
                         nb_model_file_y_width(cm->m), &o, &err);
    if (!r.t)
        rc = cli_error("train", CLI_FAIL, "%s", cli_strip(err.message));
    else if (a->resume && r.root) /* fit sends rank 0's weights and state to every rank */
        rc = resume_load(r.t, a);
    else if (a->init_weights && r.root)
        rc = cli_start_from("train", r.t, a->init_weights, a->init_implicit, a->quiet);
    rc = cli_dist_agree("train", a->dist, rc);
    if (rc == CLI_OK && a->resume && !a->quiet)
        fprintf(stderr, "resuming from %s after epoch %d of %d%s\n", a->resume,
                nb_trainer_state(r.t).epoch, o.epochs,
                a->weights_only ? " (weights only: the optimiser starts afresh)" : "");
    if (rc == CLI_OK && a->grow)
        rc = grow_fit_all(cm, a, &r, train, test);
    else if (rc == CLI_OK && nb_model_file_cg(cm->m, NULL))
        rc = cg_fit_all(cm, o, &r, train, test);
    else if (rc == CLI_OK && nb_trainer_fit(r.t, train, test) != NB_OK) {
        cli_progress_clear(r.progress);
        rc = cli_error("train", CLI_FAIL, "%s", cli_strip(nb_trainer_error(r.t)));
    }
    double test_loss = r.last.test_loss, test_acc = r.epochs_run ? r.last.test_acc : NAN;
    if (rc == CLI_OK && !r.epochs_run && test &&
        nb_trainer_evaluate(r.t, test, &test_loss, &test_acc) != NB_OK)
        rc = cli_error("train", CLI_FAIL, "%s", cli_strip(nb_trainer_error(r.t)));
    if (rc == CLI_OK)
        rc = kept_figures(&r, o, test, &test_loss, &test_acc);
    if (rc == CLI_OK && !a->quiet)
        early_stopping_note(&r, o);
    if (rc == CLI_OK && !a->quiet && nb_blas_note()) /* ran, slower: say why */
        fprintf(stderr, "nabla train: note: %s\n", nb_blas_note());
    if (rc == CLI_OK && r.root && nb_trainer_skipped(r.t) > 0) /* said even with --quiet */
        fprintf(stderr, "nabla train: skipped %lld examples in all, the short last batch of each "
                        "epoch (not trained on): %s\n",
                (long long)nb_trainer_skipped(r.t), cli_strip(nb_trainer_error(r.t)));
    /* what training saw of the inputs, for predict/eval/grad to compare theirs with (the
     * trainer's, or the training set's when another method than fit trained) */
    nb_input_range seen = nb_trainer_input_range(r.t);
    if (seen.count == 0)
        seen = nb_dataset_input_range(train);
    bool writes = rc == CLI_OK && r.root; /* rank 0 alone writes files and the summary */
    if (writes && nb_weights_save_with(nb_trainer_graph(r.t), out, r.yaml,
                                       (nb_weights_opts){.inputs = &seen}, &err) != NB_OK)
        rc = cli_error("train", CLI_FAIL, "saving weights: %s", err.message);
    if (writes && rc == CLI_OK && graph)
        rc = cli_draw_trainer("train", cm, r.t, graph);
    if (writes && rc == CLI_OK)
        summary(cm, &r, train, out, graph, a->checkpoint, nb_trainer_state(r.t).epoch, test_loss,
                test_acc, a->dist);
    if (rc == CLI_OK && r.checkpoint_failed)
        rc = CLI_FAIL;
    rc = cli_dist_agree("train", a->dist, rc);
    nb_trainer_free(r.t);
    cli_progress_free(r.progress);
    return rc;
}

/* The validation set, when one is asked for: --validation-file, else
 * --validation F, else the file's train validation, else its data
 * validation file. A fraction is held out of *train here
 * (nb_dataset_split with the run's seed), *train then holding the rest. */
static int validation_load(const cli_model *cm, const train_args *a, nb_train_opts o,
                           nb_dataset **train, nb_dataset **val)
{
    nb_data_spec d = nb_model_file_data(cm->m);
    double f = a->validation > 0 ? a->validation : a->validation_file ? 0 : o.validation;
    const char *file = a->validation_file ? a->validation_file : f > 0 ? NULL : d.validation;
    nb_dataset *rest = NULL;
    nb_error err = {0};
    if (file)
        return cli_input_load("train", cm, file, d.x, d.y, true, 0, val) == CLI_OK
                   ? cli_data_check("train", cm, *val, "the validation set")
                   : CLI_FAIL;
    if (f <= 0)
        return CLI_OK;
    if (nb_dataset_split(*train, f, o.seed, &rest, val, NULL, &err) != NB_OK)
        return cli_error("train", CLI_FAIL, "%s: %s", /* "0.01 of 9 examples holds out 0 ..." */
                         a->validation > 0 ? "--validation" : "the model file's validation",
                         strstr(err.message, ": ") ? strstr(err.message, ": ") + 2 : err.message);
    if (!a->quiet)
        fprintf(stderr, "validation: %lld of the %lld training examples held out (fraction %g, "
                "chosen by seed %llu)\n", (long long)(*val)->n, (long long)(*train)->n, f,
                (unsigned long long)o.seed);
    nb_dataset_free(*train);
    *train = rest;
    return CLI_OK;
}

/* The drawing's path: --graph, or <name>.svg into buf; NULL for none. */
static const char *graph_path(const cli_model *cm, const train_args *a, char *buf, size_t size)
{
    if (a->no_graph || (a->graph && !strcmp(a->graph, "none")))
        return NULL;
    return a->graph ? a->graph : cli_default_path(cm, ".svg", buf, size);
}

/*
 * With --resume: the epoch the checkpoint reached, known before any data is
 * read or any file touched, from the checkpoint loaded into a trainer of
 * its own (only its position is wanted here: no validation, no early
 * stopping). A checkpoint of another model or optimiser is refused here
 * too. CLI_OK with *epoch set, or CLI_FAIL after a message.
 */
static int resume_epoch(const cli_model *cm, const train_args *a, nb_train_opts o, int *epoch)
{
    o.validation = 0;
    o.validation_data = NULL;
    o.patience = 0;
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(nb_model_file_build, cm->m, nb_model_file_input_shape(cm->m),
                                   nb_model_file_y_width(cm->m), &o, &err);
    int rc = t ? resume_load(t, a) : cli_error("train", CLI_FAIL, "%s", cli_strip(err.message));
    if (rc == CLI_OK)
        *epoch = nb_trainer_state(t).epoch;
    nb_trainer_free(t);
    return rc;
}

/*
 * A resumed run appends its rows to an existing --csv log under the header
 * already there. Refuses (reading only) a file whose first line is not
 * that header (another program's CSV, or a log of other columns) and one
 * that already holds rows after the checkpoint's epoch (they would be
 * logged twice, the second time by this run).
 */
static int check_csv_append(const train_args *a, int epoch)
{
    if (!a->csv || !csv_appends(a))
        return CLI_OK;
    FILE *f = fopen(a->csv, "r");
    if (!f)
        return cli_error("train", CLI_FAIL, "cannot read CSV log '%s': %s", a->csv,
                         strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len = getline(&line, &cap, f);
    long last = 0;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    int rc = CLI_OK;
    if (len < 0 || strcmp(line, cli_progress_csv_columns))
        rc = cli_error("train", CLI_FAIL, "CSV log '%s' starts '%.60s%s', not nabla train's "
                       "columns (%s): resuming appends rows to a log of those columns only; "
                       "give --csv another file", a->csv, len < 0 ? "" : line,
                       len > 60 ? "..." : "", cli_progress_csv_columns);
    while (rc == CLI_OK && getline(&line, &cap, f) > 0) {
        long e = strtol(line, NULL, 10);
        last = e > last ? e : last;
    }
    char again[96];
    if (last > epoch + 1)
        snprintf(again, sizeof again, "epochs %d to %ld again; remove those rows", epoch + 1, last);
    else
        snprintf(again, sizeof again, "epoch %d again; remove that row", epoch + 1);
    if (rc == CLI_OK && last > epoch)
        rc = cli_error("train", CLI_FAIL, "CSV log '%s' already has rows up to epoch %ld but %s "
                       "is at epoch %d: this run would log %s or give --csv another file",
                       a->csv, last, a->resume, epoch, again);
    free(line);
    fclose(f);
    return rc;
}

/* Decides, before the data is read or any file written, whether there is
 * anything to do: the outputs can be written, and a resumed run has epochs
 * left and a CSV log it can append to. CLI_OK with *go set (false: a
 * finished run, said on stderr), or CLI_FAIL after a message. */
static int decide(const cli_model *cm, const train_args *a, nb_train_opts o, const char *out,
                  const char *graph, bool *go)
{
    int epoch = 0;
    *go = false;
    if (check_outputs(cm, a, out, graph) != CLI_OK ||
        (a->resume && resume_epoch(cm, a, o, &epoch) != CLI_OK))
        return CLI_FAIL;
    if (a->resume && epoch >= o.epochs) {
        fprintf(stderr, "nabla train: %s already finished epoch %d of %d: nothing to train, "
                "nothing written (ask for more with --epochs N)\n", a->resume, epoch, o.epochs);
        return CLI_OK;
    }
    *go = true;
    return check_csv_append(a, epoch);
}

/* Refuses data the trainer would refuse (a value that is not finite, an
 * input beyond ±2^64), before a validation fraction is held out, so the
 * example is named by its index in the file. */
static int check_numbers(const cli_model *cm, const nb_dataset *ds, bool test)
{
    nb_error err = {0};
    if (nb_dataset_check_values(ds, &err) == NB_OK)
        return CLI_OK;
    nb_data_spec d = nb_model_file_data(cm->m);
    const char *file = d.format && !strcmp(d.format, "hdf5") ? (test ? d.test : d.train) : NULL;
    return cli_error("train", CLI_FAIL, "%s%s%s %s", file ? file : "", file ? ": " : "",
                     test ? "test" : "training", err.message);
}

/* Decides whether to run, loads the data, checks it fits the model, and
 * runs (which draws the network after a successful run). */
static int prepare_and_run(const cli_model *cm, const train_args *a, nb_train_opts o)
{
    char out_buf[1100], graph_buf[1100];
    const char *out = a->out ? a->out : cli_default_path(cm, ".h5", out_buf, sizeof out_buf);
    const char *graph = graph_path(cm, a, graph_buf, sizeof graph_buf);
    bool go = false;
    /* rank 0 decides (it alone writes, and may alone see the checkpoint) */
    int rc = cli_dist_root(a->dist) ? decide(cm, a, o, out, graph, &go) : CLI_OK;
    if (cli_dist_agree("train", a->dist, rc) != CLI_OK)
        return CLI_FAIL;
    nb_dist_broadcast(a->dist, &go, sizeof go, NULL);
    if (!go)
        return CLI_OK;
    nb_dataset *train = NULL, *test = NULL, *val = NULL;
    rc = cli_data_load("train", cm, &train, &test, a->limit);
    if (cli_dist_agree("train", a->dist, rc) != CLI_OK) {
        nb_dataset_free(train);
        nb_dataset_free(test);
        return CLI_FAIL;
    }
    rc = cli_data_check("train", cm, train, "the training set");
    if (rc == CLI_OK && test)
        rc = cli_data_check("train", cm, test, "the test set");
    if (rc == CLI_OK)
        rc = check_numbers(cm, train, false);
    if (rc == CLI_OK && test)
        rc = check_numbers(cm, test, true);
    if (rc == CLI_OK)
        rc = validation_load(cm, a, o, &train, &val);
    FILE *csv = NULL;
    if (rc == CLI_OK && a->csv && cli_dist_root(a->dist) && !(csv = open_csv(a)))
        rc = CLI_FAIL;
    rc = cli_dist_agree("train", a->dist, rc);
    if (rc == CLI_OK)
        rc = run(cm, a, o, train, test, val, out, graph, csv);
    if (csv && fclose(csv) != 0 && rc == CLI_OK)
        rc = cli_error("train", CLI_FAIL, "writing CSV log '%s': %s", a->csv, strerror(errno));
    nb_dataset_free(train);
    nb_dataset_free(test);
    nb_dataset_free(val);
    return rc;
}

/* ---------------------------------------------------------------- streaming */

/* The options --stream takes and the ones it refuses. */
static int check_stream_args(const train_args *a)
{
    if (!a->stream && a->stream_only)
        return cli_usage("train", "%s applies only with --stream", a->stream_only);
    if (a->stream && a->not_streaming)
        return cli_usage("train", "%s does not apply with --stream%s", a->not_streaming,
                         !strcmp(a->not_streaming, "--batch") ? " (use --stream-batch)" : "");
    return CLI_OK;
}

/* Checks the outputs, opens the CSV log and learns from stdin (stream.c),
 * which draws the network at the end when --graph asks for it. */
static int stream(const cli_model *cm, const train_args *a, nb_train_opts o)
{
    char out_buf[1100];
    const char *out = a->out ? a->out : cli_default_path(cm, ".h5", out_buf, sizeof out_buf);
    const char *graph = a->graph && !a->no_graph && strcmp(a->graph, "none") ? a->graph : NULL;
    if (cli_need("train", "hdf5", "the weights file", out, NULL) ||
        (graph && cli_need("train", "graphviz", "the drawing", graph, NULL)) ||
        check_writable(out, "weights file") || (graph && check_writable(graph, "graph file")) ||
        (a->csv && check_writable(a->csv, "CSV log")) ||
        check_not_data(cm, out, "weights file", "out"))
        return CLI_FAIL;
    FILE *csv = a->csv ? fopen(a->csv, "w") : NULL;
    if (a->csv && !csv)
        return cli_error("train", CLI_FAIL, "cannot write CSV log '%s': %s", a->csv,
                         strerror(errno));
    cli_stream_opts s = {.f32 = a->format && !strcmp(a->format, "f32"),
                         .batch = a->stream_batch ? a->stream_batch : 1,
                         .report = a->report ? a->report : 1000, .limit = a->limit,
                         .out = out, .graph = graph, .csv = csv, .quiet = a->quiet,
                         .init_weights = a->init_weights, .init_implicit = a->init_implicit};
    int rc = cli_train_stream(cm, o, &s, stdin);
    if (csv && fclose(csv) != 0 && rc == CLI_OK)
        rc = cli_error("train", CLI_FAIL, "writing CSV log '%s': %s", a->csv, strerror(errno));
    return rc;
}

/* ---------------------------------------------------------------- the command */

/* What a run on several ranks cannot do: learn from a stream (one stdin),
 * grow, or train by conjugate gradients (whole-set methods of one process). */
static int check_dist_args(const cli_model *cm, const train_args *a)
{
    int n = nb_dist_size(a->dist);
    if (n > 1 && (a->stream || a->grow || nb_model_file_cg(cm->m, NULL)))
        return cli_usage("train", "%s runs in one process, not on %d ranks (run it without "
                         "mpirun)", a->stream ? "--stream" : a->grow ? "--grow"
                         : "a model trained by conjugate gradients (optimizer: cg)", n);
    return CLI_OK;
}

/* The checks of the command line and the model before anything is read:
 * CLI_OK, or the exit status after a message. */
static int check_all(cli_model *cm, const train_args *a)
{
    int rc = cli_model_set_data("train", cm, a->data);
    if (rc == CLI_OK)
        rc = cli_model_set_sources("train", cm, a->inputs);
    if (rc == CLI_OK && !a->stream)
        rc = check_validation_args(cm, a, train_opts(cm, a));
    grow_spec gs;
    if (rc == CLI_OK && a->grow && !a->stream)
        rc = grow_parse(cm, a->grow, &gs);
    if (rc == CLI_OK && nb_model_file_cg(cm->m, NULL) && (a->stream || a->grow))
        rc = cli_usage("train", "%s does not apply to a model trained by conjugate gradients "
                       "(optimizer: cg)", a->stream ? "--stream" : "--grow");
    return rc == CLI_OK ? check_dist_args(cm, a) : rc;
}

/* Under mpirun every phase that can fail on one rank alone ends in an
 * agreement (cli_dist_agree), so the ranks stop together. */
int cli_train(int argc, char **argv)
{
    train_args a = {.threads = 0};
    const char *model = NULL;
    if (cli_dist_start("train", &a.dist) != CLI_OK)
        return CLI_FAIL;
    int rc = parse(argc, argv, &a, &model);
    if (rc == CLI_OK)
        rc = check_stream_args(&a);
    rc = rc < 0 ? -1 : cli_dist_agree("train", a.dist, rc); /* --help: -1 on every rank */
    a.quiet |= !cli_dist_root(a.dist);
    cli_model cm = {0}; /* resuming with no model: the one the checkpoint holds */
    bool loaded = rc == CLI_OK && cli_model_load("train", model ? model : a.resume, &cm) == CLI_OK;
    if (rc == CLI_OK)
        rc = cli_dist_agree("train", a.dist, loaded ? CLI_OK : CLI_FAIL);
    if (rc == CLI_OK)
        rc = cli_dist_agree("train", a.dist, check_all(&cm, &a));
    if (rc == CLI_OK) {
        cli_set_threads(a.threads);
        rc = a.stream ? stream(&cm, &a, train_opts(&cm, &a))
                      : prepare_and_run(&cm, &a, train_opts(&cm, &a));
    }
    if (loaded)
        cli_model_free(&cm);
    nb_dist_free(a.dist);
    return rc < 0 ? CLI_OK : rc;
}
