/*
 * stream.c — `nabla train MODEL.yaml --stream`: learning from examples as
 * they arrive on standard input, the lecture's online learning. Nothing but
 * the examples of one step is ever held: each line (or record) is read,
 * parsed into a staged minibatch, and the trainer takes a step
 * (nb_trainer_step) as soon as --stream-batch examples are there (one by
 * default). Two formats:
 *
 *   csv   one example per line, "x1,...,xd,y1,...,yk": d = the numbers of
 *         one input (784 for [1, 28, 28]), k = the targets per example (1
 *         for a class index). Blank lines and lines starting with '#' are
 *         skipped; a line with the wrong count of numbers, or a field that
 *         is not a finite number, is refused naming its line.
 *   f32   raw little-endian float32 records of d + k values, no header; a
 *         record cut short by the end of input is refused naming it.
 *
 * The reading and its checks are the library's (nb_stream, io/stream.c);
 * this file runs the steps, reports and saves.
 *
 * Q (the running loss estimate) goes to stderr as it changes: one line
 * every --report examples, with the mean loss of those examples (each
 * measured before the step that learns from it, so it is an honest
 * estimate of the error on unseen data), plus a line redrawn in place in
 * between on a terminal. At the end of input the weights are saved and one
 * key=value line goes to stdout. Malformed input stops the run with exit
 * status 1 and no weights written.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_internal.h"

#define REDRAW_SECONDS 0.1

/* Where examples come from: the library's stream reader (nb_stream). */
typedef struct reader {
    nb_stream *s;
    bool f32;
    int64_t d, k, width;    /* numbers per example: d inputs, k targets */
} reader;

/* The run as it goes: counts, the loss since the last report, the display. */
typedef struct run {
    const cli_stream_opts *s;
    nb_trainer *t;
    int64_t examples, steps, reported;
    double loss_sum, window_sum;   /* Σ loss·n over all examples / since the last report */
    int64_t window_n;
    double start, last_draw;
    bool tty, drawn;
} run;

/* ---------------------------------------------------------------- reading */

/* The number of classes when the model reads its targets as class indices
 * 0..C-1 (softmax cross-entropy does, through one_hot), 0 otherwise. A
 * label outside the classes is refused at its line, before any step. */
static int64_t class_count(nb_graph *g)
{
    for (int i = 0; i < nb_graph_node_count(g); i++) {
        nb_node *n = nb_graph_node(g, i);
        int64_t c = nb_node_kind_of(n) == NB_NODE_INPUT ? nb_node_classes(n, NULL) : 0;
        if (c > 0)
            return c;
    }
    return 0;
}

/* One example into x[d] and y[k]: 1, 0 at the end of input, -1 after a
 * message. */
static int read_example(reader *r, float *x, float *y)
{
    nb_error err = {0};
    int got = nb_stream_read(r->s, x, y, &err);
    return got < 0 ? cli_error("train", -1, "%s", err.message) : got;
}

/* ---------------------------------------------------------------- reporting */

static void clear_line(run *u)
{
    if (u->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        u->drawn = false;
    }
}

static double rate(const run *u)
{
    double s = cli_now() - u->start;
    return s > 0 ? (double)u->examples / s : 0;
}

/* On a terminal, between reports: the count and Q, redrawn in place. */
static void draw(run *u)
{
    if (!u->tty || u->s->quiet || cli_now() - u->last_draw < REDRAW_SECONDS)
        return;
    fprintf(stderr, "\rstream: %lld examples  Q %.4f  %.0f ex/s  %.1f s\033[K",
            (long long)u->examples, nb_trainer_q(u->t), rate(u), cli_now() - u->start);
    fflush(stderr);
    u->drawn = true;
    u->last_draw = cli_now();
}

/* A permanent line (and a CSV row) for the examples since the last one. */
static void report(run *u, bool at_end)
{
    double loss = u->window_n ? u->window_sum / (double)u->window_n : NAN;
    double seconds = cli_now() - u->start;
    if (u->s->csv) {
        fprintf(u->s->csv, "%lld,%lld,%.6g,%.6g,%.3f\n", (long long)u->examples,
                (long long)u->steps, loss, nb_trainer_q(u->t), seconds);
        fflush(u->s->csv);
    }
    if (!u->s->quiet) {
        clear_line(u);
        fprintf(stderr, "examples %lld  steps %lld  loss %.4f  Q %.4f  %.0f ex/s  %.2f s%s\n",
                (long long)u->examples, (long long)u->steps, loss, nb_trainer_q(u->t), rate(u),
                seconds, at_end ? "  (end of input)" : "");
        fflush(stderr);
        u->last_draw = -1;
    }
    u->reported = u->examples;
    u->window_sum = 0;
    u->window_n = 0;
}

/* ---------------------------------------------------------------- the run */

/* One step on the n staged examples, then the progress display. */
static int step(run *u, const float *x, const float *y, int64_t n)
{
    double loss = 0;
    if (nb_trainer_step(u->t, x, y, n, &loss) != NB_OK) {
        clear_line(u);
        return cli_error("train", CLI_FAIL, "after %lld examples: %s", (long long)u->examples,
                         cli_strip(nb_trainer_error(u->t)));
    }
    if (isnan(loss)) { /* skipped: a short last batch the model cannot train on */
        clear_line(u);
        fprintf(stderr, "nabla train: skipped the last %lld example%s (not trained on): %s\n",
                (long long)n, n > 1 ? "s" : "", cli_strip(nb_trainer_error(u->t)));
        return CLI_OK;
    }
    u->examples += n;
    u->steps++;
    u->loss_sum += loss * (double)n;
    u->window_sum += loss * (double)n;
    u->window_n += n;
    if (u->examples / u->s->report > u->reported / u->s->report)
        report(u, false);
    else
        draw(u);
    return CLI_OK;
}

/* Reads and learns until the end of input (or the limit). */
static int learn(run *u, reader *r, float *x, float *y)
{
    int64_t batch = u->s->batch, limit = u->s->limit;
    for (;;) {
        int64_t n = 0;
        int got = 1;
        while (n < batch && (limit == 0 || u->examples + n < limit) &&
               (got = read_example(r, x + n * r->d, y + n * r->k)) == 1)
            n++;
        if (got < 0) {
            clear_line(u);
            return CLI_FAIL;
        }
        if (n > 0 && step(u, x, y, n) != CLI_OK)
            return CLI_FAIL;
        if (got == 0 || n < batch || (limit && u->examples >= limit))
            return CLI_OK;
    }
}

static void summary(const cli_model *cm, const run *u)
{
    printf("model=%s examples=%lld steps=%lld batch=%lld q=%.4f mean_loss=%.4f seconds=%.3f "
           "threads=%s weights=%s\n",
           nb_model_file_name(cm->m), (long long)u->examples, (long long)u->steps,
           (long long)u->s->batch, nb_trainer_q(u->t),
           u->examples ? u->loss_sum / (double)u->examples : NAN, cli_now() - u->start,
           cli_threads_label(), u->s->out);
    fflush(stdout);
}

/* Learns from the input, then reports and saves. The trainer exists. */
static int stream_with(const cli_model *cm, run *u, reader *r)
{
    int64_t batch = u->s->batch;
    float *x = malloc((size_t)(batch * r->d) * sizeof *x);
    float *y = malloc((size_t)(batch * r->k + 1) * sizeof *y);
    int rc = !x || !y
                 ? cli_error("train", CLI_FAIL, "out of memory for a batch of %lld examples",
                             (long long)batch)
                 : learn(u, r, x, y);
    if (rc == CLI_OK && u->examples == 0)
        rc = cli_error("train", CLI_FAIL, "no examples on stdin (%s: %lld numbers per example)",
                       r->f32 ? "f32 records" : "CSV lines", (long long)r->width);
    if (rc == CLI_OK && u->examples > u->reported)
        report(u, true);
    nb_error err = {0};
    nb_input_range seen = nb_trainer_input_range(u->t);
    if (rc == CLI_OK && nb_weights_save_with(nb_trainer_graph(u->t), u->s->out,
                                             nb_model_file_text(cm->m),
                                             (nb_weights_opts){.inputs = &seen}, &err) != NB_OK)
        rc = cli_error("train", CLI_FAIL, "saving weights: %s", err.message);
    if (rc == CLI_OK && u->s->graph)
        rc = cli_draw_trainer("train", cm, u->t, u->s->graph);
    if (rc == CLI_OK)
        summary(cm, u);
    free(x);
    free(y);
    return rc;
}

int cli_train_stream(const cli_model *cm, nb_train_opts o, const cli_stream_opts *s, FILE *in)
{
    nb_shape shape = nb_model_file_input_shape(cm->m);
    reader r = {.f32 = s->f32, .d = nb_shape_numel(shape),
                .k = nb_model_file_y_width(cm->m)};
    r.width = r.d + r.k;
    o.batch = s->batch;
    o.epochs = 1;
    nb_error err = {0};
    const char *term = getenv("TERM");
    run u = {.s = s, .start = cli_now(), .last_draw = -1,
             .tty = isatty(2) && !(term && !strcmp(term, "dumb"))};
    u.t = nb_trainer_new(nb_model_file_build, cm->m, shape, r.k, &o, &err);
    if (!u.t)
        return cli_error("train", CLI_FAIL, "%s", cli_strip(err.message));
    if (s->init_weights &&
        cli_start_from("train", u.t, s->init_weights, s->init_implicit, s->quiet) != CLI_OK) {
        nb_trainer_free(u.t);
        return CLI_FAIL;
    }
    nb_stream_opts so = {.format = s->f32 ? NB_STREAM_F32 : NB_STREAM_CSV, .d = r.d, .k = r.k,
                         .classes = r.k == 1 ? class_count(nb_trainer_graph(u.t)) : 0,
                         .name = "stdin"};
    r.s = nb_stream_new(in, so, &err);
    if (!r.s) {
        nb_trainer_free(u.t);
        return cli_error("train", CLI_FAIL, "%s", cli_strip(err.message));
    }
    if (s->csv) {
        fprintf(s->csv, "examples,steps,loss,q,seconds\n");
        fflush(s->csv);
    }
    if (!s->quiet && isatty(fileno(in)))
        fprintf(stderr, "reading %s examples of %lld numbers from the terminal "
                "(end with Ctrl-D)\n", s->f32 ? "f32" : "CSV", (long long)r.width);
    int rc = stream_with(cm, &u, &r);
    nb_stream_free(r.s);
    nb_trainer_free(u.t);
    return rc;
}
