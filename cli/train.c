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
    bool quiet;
    bool seed_given;
    bool stream;                  /* --stream: examples from stdin */
    const char *format;           /* --format csv|f32 */
    int64_t stream_batch, report;
    const char *stream_only;      /* the first stream option given, if any */
    const char *not_streaming;    /* the first option --stream excludes, if any */
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
} train_run;

/* ---------------------------------------------------------------- options */

static int parse(int argc, char **argv, train_args *a, const char **model)
{
    cli_opt opts[] = {
        {"--epochs", NULL, CLI_COUNT, &a->epochs, "N", "epochs to train (default: the model's)"},
        {"--batch", NULL, CLI_COUNT, &a->batch, "N", "minibatch size (default: the model's)"},
        {"--lr", NULL, CLI_REAL, &a->lr, "X", "learning rate (default: the model's)"},
        {"--threads", NULL, CLI_INT, &a->threads, "N", "threads (default 0: every core)"},
        {"--seed", NULL, CLI_SEED, &a->seed, "N", "seed for weights, order, dropout"},
        {"--out", NULL, CLI_STR, &a->out, "FILE", "weights file to write (default <name>.h5)"},
        {"--checkpoint", NULL, CLI_STR, &a->checkpoint, "FILE",
         "checkpoint written after every epoch"},
        {"--resume", NULL, CLI_STR, &a->resume, "FILE", "continue from a checkpoint"},
        {"--graph", NULL, CLI_STR, &a->graph, "FILE",
         "drawing of the forward graph (.svg/.png/.dot; default <name>.svg)"},
        {"--csv", NULL, CLI_STR, &a->csv, "FILE", "per-epoch metrics as CSV"},
        {"--limit", NULL, CLI_COUNT, &a->limit, "N", "train on the first N examples only"},
        {"--quiet", "-q", CLI_FLAG, &a->quiet, NULL, "no progress or per-epoch lines"},
        {"--stream", NULL, CLI_FLAG, &a->stream, NULL,
         "learn from examples arriving on stdin (see below)"},
        {"--format", NULL, CLI_STR, &a->format, "FMT", "--stream input: csv (default) or f32"},
        {"--stream-batch", NULL, CLI_COUNT, &a->stream_batch, "N",
         "--stream: examples per step (default 1)"},
        {"--report", NULL, CLI_COUNT, &a->report, "N",
         "--stream: a progress line every N examples (default 1000)"},
        {0}};
    cli_cmd cmd = {
        .name = "train", .args = "[MODEL.yaml]", .min_pos = 0, .max_pos = 1, .opts = opts,
        .summary = "Train a model described in YAML on the data its `data:` section names.\n"
                   "With no MODEL, trains the built-in LeNet-5 on Fashion-MNIST (or, with\n"
                   "--resume, the model stored in the checkpoint).",
        .details =
            "Progress goes to stderr: a bar on a terminal, one line per epoch otherwise.\n"
            "The closing line on stdout reads key=value (model, epochs, test_acc, ...).\n\n"
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
            "written then. --graph draws the model only when given.\n\n"
            "examples:\n"
            "  nabla train                                    # LeNet-5, 5 epochs\n"
            "  nabla train examples/models/fashion_mlp.yaml --epochs 2 --csv log.csv\n"
            "  nabla train model.yaml --checkpoint ck.h5      # then, after a crash:\n"
            "  nabla train model.yaml --checkpoint ck.h5 --resume ck.h5\n"
            "  producer | nabla train model.yaml --stream --report 500 --out online.h5\n"
            "  nabla train model.yaml --stream --format f32 --stream-batch 8 < records.f32"};
    const char *pos[1] = {NULL};
    int n_pos, rc = cli_parse(&cmd, argc, argv, pos, &n_pos);
    *model = n_pos ? pos[0] : NULL;
    a->seed_given = cli_seen(&cmd, "--seed");
    static const char *const stream_only[] = {"--format", "--stream-batch", "--report", NULL};
    static const char *const not_streaming[] = {"--epochs", "--batch", "--checkpoint", "--resume",
                                                NULL};
    for (int i = 0; stream_only[i] && !a->stream_only; i++)
        if (cli_seen(&cmd, stream_only[i]))
            a->stream_only = stream_only[i];
    for (int i = 0; not_streaming[i] && !a->not_streaming; i++)
        if (cli_seen(&cmd, not_streaming[i]))
            a->not_streaming = not_streaming[i];
    return rc;
}

/* The file's training settings with the command line's on top. */
static nb_train_opts train_opts(const cli_model *cm, const train_args *a)
{
    nb_train_opts o = nb_model_file_train_opts(cm->m);
    if (a->epochs > 0)
        o.epochs = (int)(a->epochs > 1000000 ? 1000000 : a->epochs);
    if (a->batch > 0)
        o.batch = a->batch;
    if (a->lr > 0)
        o.optimizer.lr = (float)a->lr;
    if (a->seed_given)
        o.seed = a->seed;
    return o;
}

/* A file can be written at path: its folder exists and is writable. Checked
 * before training so a typo does not cost a whole run. */
static int check_writable(const char *path, const char *what)
{
    char dir[2048];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    struct stat st;
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
    if (check_writable(out, "weights file") || check_writable(graph, "graph file") ||
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
    if (!r->checkpoint || r->checkpoint_failed)
        return;
    nb_error err = {0};
    if (nb_checkpoint_save(r->t, r->checkpoint, r->yaml, &err) != NB_OK) {
        r->checkpoint_failed = true;
        cli_progress_clear(r->progress);
        cli_error("train", CLI_FAIL, "writing checkpoint: %s", err.message);
    }
}

/* ---------------------------------------------------------------- the run */

/* Opens the CSV log: appended to when resuming into an existing log, else
 * created with a header. */
static FILE *open_csv(const train_args *a)
{
    struct stat st;
    bool append = a->resume && stat(a->csv, &st) == 0 && st.st_size > 0;
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
                    double test_loss, double test_acc)
{
    printf("model=%s epochs=%d train_n=%lld", nb_model_file_name(cm->m), epochs_done,
           (long long)train->n);
    if (r->epochs_run)
        printf(" train_acc=%.4f q=%.4f", r->last.train_acc, r->last.q);
    if (!isnan(test_acc))
        printf(" test_acc=%.4f test_loss=%.4f", test_acc, test_loss);
    printf(" epoch_s=%.3f threads=%d weights=%s graph=%s",
           r->epochs_run ? r->seconds / r->epochs_run : 0.0, nb_get_threads(), out, graph);
    if (checkpoint)
        printf(" checkpoint=%s", checkpoint);
    printf("\n");
    fflush(stdout);
}

/* Trains with the data loaded; the trainer and progress are made here. */
static int run(const cli_model *cm, const train_args *a, nb_train_opts o, nb_dataset *train,
               nb_dataset *test, const char *out, const char *graph, FILE *csv)
{
    train_run r = {.checkpoint = a->checkpoint, .yaml = nb_model_file_text(cm->m)};
    r.progress = cli_progress_new(a->quiet, csv);
    o.on_step = on_step;
    o.on_epoch = on_epoch;
    o.ud = &r;
    nb_error err = {0};
    if (!r.progress)
        return cli_error("train", CLI_FAIL, "out of memory");
    int rc = CLI_OK;
    r.t = nb_trainer_new(nb_model_file_build, cm->m, nb_model_file_input_shape(cm->m),
                         nb_model_file_y_width(cm->m), &o, &err);
    if (!r.t)
        rc = cli_error("train", CLI_FAIL, "%s", cli_strip(err.message));
    else if (a->resume && nb_checkpoint_load(r.t, a->resume, &err) != NB_OK)
        rc = cli_error("train", CLI_FAIL, "resuming: %s", err.message);
    if (rc == CLI_OK && a->resume && !a->quiet)
        fprintf(stderr, "resuming from %s after epoch %d of %d\n", a->resume,
                nb_trainer_state(r.t).epoch, o.epochs);
    if (rc == CLI_OK && nb_trainer_fit(r.t, train, test) != NB_OK) {
        cli_progress_clear(r.progress);
        rc = cli_error("train", CLI_FAIL, "%s", cli_strip(nb_trainer_error(r.t)));
    }
    double test_loss = r.last.test_loss, test_acc = r.epochs_run ? r.last.test_acc : NAN;
    if (rc == CLI_OK && !r.epochs_run && test &&
        nb_trainer_evaluate(r.t, test, &test_loss, &test_acc) != NB_OK)
        rc = cli_error("train", CLI_FAIL, "%s", cli_strip(nb_trainer_error(r.t)));
    if (rc == CLI_OK && nb_weights_save(nb_trainer_graph(r.t), out, r.yaml, &err) != NB_OK)
        rc = cli_error("train", CLI_FAIL, "saving weights: %s", err.message);
    if (rc == CLI_OK)
        summary(cm, &r, train, out, graph, a->checkpoint, nb_trainer_state(r.t).epoch, test_loss,
                test_acc);
    if (rc == CLI_OK && r.checkpoint_failed)
        rc = CLI_FAIL;
    nb_trainer_free(r.t);
    cli_progress_free(r.progress);
    return rc;
}

/* Loads the data, checks it fits the model, checks the output folders,
 * draws the graph, and runs. */
static int prepare_and_run(const cli_model *cm, const train_args *a, nb_train_opts o)
{
    char out_buf[1100], graph_buf[1100];
    const char *out = a->out ? a->out : cli_default_path(cm, ".h5", out_buf, sizeof out_buf);
    const char *graph =
        a->graph ? a->graph : cli_default_path(cm, ".svg", graph_buf, sizeof graph_buf);
    if (check_outputs(cm, a, out, graph) != CLI_OK)
        return CLI_FAIL;
    nb_dataset *train = NULL, *test = NULL;
    if (cli_data_load("train", cm, &train, &test, a->limit) != CLI_OK)
        return CLI_FAIL;
    int rc = cli_data_check("train", cm, train, "the training set");
    if (rc == CLI_OK && test)
        rc = cli_data_check("train", cm, test, "the test set");
    if (rc == CLI_OK)
        rc = cli_draw("train", cm, false, graph);
    FILE *csv = NULL;
    if (rc == CLI_OK && a->csv && !(csv = open_csv(a)))
        rc = CLI_FAIL;
    if (rc == CLI_OK)
        rc = run(cm, a, o, train, test, out, graph, csv);
    if (csv && fclose(csv) != 0 && rc == CLI_OK)
        rc = cli_error("train", CLI_FAIL, "writing CSV log '%s': %s", a->csv, strerror(errno));
    nb_dataset_free(train);
    nb_dataset_free(test);
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
    if (a->format && strcmp(a->format, "csv") && strcmp(a->format, "f32"))
        return cli_usage("train", "--format wants csv or f32, not '%s'", a->format);
    return CLI_OK;
}

/* Checks the outputs, draws the graph when asked, opens the CSV log and
 * learns from stdin (stream.c). */
static int stream(const cli_model *cm, const train_args *a, nb_train_opts o)
{
    char out_buf[1100];
    const char *out = a->out ? a->out : cli_default_path(cm, ".h5", out_buf, sizeof out_buf);
    if (check_writable(out, "weights file") ||
        (a->graph && check_writable(a->graph, "graph file")) ||
        (a->csv && check_writable(a->csv, "CSV log")) ||
        check_not_data(cm, out, "weights file", "out") ||
        (a->graph && cli_draw("train", cm, false, a->graph) != CLI_OK))
        return CLI_FAIL;
    FILE *csv = a->csv ? fopen(a->csv, "w") : NULL;
    if (a->csv && !csv)
        return cli_error("train", CLI_FAIL, "cannot write CSV log '%s': %s", a->csv,
                         strerror(errno));
    cli_stream_opts s = {.f32 = a->format && !strcmp(a->format, "f32"),
                         .batch = a->stream_batch ? a->stream_batch : 1,
                         .report = a->report ? a->report : 1000, .limit = a->limit,
                         .out = out, .csv = csv, .quiet = a->quiet};
    int rc = cli_train_stream(cm, o, &s, stdin);
    if (csv && fclose(csv) != 0 && rc == CLI_OK)
        rc = cli_error("train", CLI_FAIL, "writing CSV log '%s': %s", a->csv, strerror(errno));
    return rc;
}

/* ---------------------------------------------------------------- the command */

int cli_train(int argc, char **argv)
{
    train_args a = {0};
    const char *model = NULL;
    int rc = parse(argc, argv, &a, &model);
    if (rc == CLI_OK)
        rc = check_stream_args(&a);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    cli_model cm; /* resuming with no model: the one the checkpoint holds */
    if (cli_model_load("train", model ? model : a.resume, &cm) != CLI_OK)
        return CLI_FAIL;
    if (a.threads > 0)
        nb_set_threads((int)(a.threads > 4096 ? 4096 : a.threads));
    rc = a.stream ? stream(&cm, &a, train_opts(&cm, &a))
                  : prepare_and_run(&cm, &a, train_opts(&cm, &a));
    cli_model_free(&cm);
    return rc;
}
