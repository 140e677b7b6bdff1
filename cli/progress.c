/*
 * progress.c — what `nabla train` shows while it works. On a terminal
 * (stderr is a tty): one line redrawn in place at most ten times a second,
 *
 *   epoch 2/5 [=====>        ] 412/938 Q 0.4213 loss 0.4107 acc 0.8431 5120 ex/s 0:19 ETA 1:02
 *
 * replaced at each epoch's end by a permanent line. Elsewhere (a pipe, a
 * file, CI logs): only the permanent line, once per epoch,
 *
 *   epoch 2/5  loss 0.3810  Q 0.4213  train_acc 0.8431  val_loss 0.3950  val_acc 0.8600
 *   test_loss 0.4022  test_acc 0.8530  11.52 s   (one line)
 *
 * where loss is the epoch's mean training loss (nb_progress.mean_loss: so
 * far, on the bar) and val_ the validation set's, when there is one. The
 * optional CSV log gets one row per epoch, flushed at once so a running job
 * can be watched.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli_internal.h"

#define REDRAW_SECONDS 0.1

struct cli_progress {
    bool quiet, tty;
    FILE *csv;
    double start;          /* when training began */
    double last_draw;      /* when the bar was last drawn */
    double epoch_wall;     /* wall time of the finished epochs, evaluation included */
    int epochs_timed;      /* how many */
    bool drawn;            /* a bar is on the screen */
};

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

cli_progress *cli_progress_new(bool quiet, FILE *csv)
{
    cli_progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->quiet = quiet;
    const char *term = getenv("TERM");
    p->tty = isatty(2) && !(term && !strcmp(term, "dumb")); /* a dumb one cannot redraw */
    p->csv = csv;
    p->start = cli_now();
    p->last_draw = -1;
    return p;
}

void cli_progress_free(cli_progress *p)
{
    if (p)
        cli_progress_clear(p);
    free(p);
}

void cli_progress_clear(cli_progress *p)
{
    if (p && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        p->drawn = false;
    }
}

/* ---------------------------------------------------------------- the bar */

static int columns(void)
{
    struct winsize ws;
    if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *env = getenv("COLUMNS");
    int n = env ? atoi(env) : 0;
    return n > 0 ? n : 80;
}

/* "1:02" or "1:02:03"; "?" for an unknown time. */
static char *clock_text(double s, char *buf, size_t size)
{
    if (!isfinite(s) || s < 0 || s > 1e7) {
        snprintf(buf, size, "?");
        return buf;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
    return buf;
}

/* Seconds left in the whole run: this epoch's remaining steps at its own
 * pace, then the remaining epochs at the pace of finished ones (evaluation
 * included) or, before any finished, at this epoch's step pace. */
static double eta(const cli_progress *pr, const nb_progress *p)
{
    if (p->step < 1 || p->seconds <= 0)
        return NAN;
    double per_step = p->seconds / (double)p->step;
    double rest = per_step * (double)(p->steps - p->step);
    double per_epoch = pr->epochs_timed ? pr->epoch_wall / pr->epochs_timed
                                        : per_step * (double)p->steps;
    return rest + per_epoch * (double)(p->epochs - p->epoch);
}

static void draw(cli_progress *pr, const nb_progress *p)
{
    char left[64], right[192], el[32], et[32];
    snprintf(left, sizeof left, "epoch %d/%d ", p->epoch, p->epochs);
    double rate = p->seconds > 0 ? (double)p->examples / p->seconds : 0;
    snprintf(right, sizeof right, " %lld/%lld Q %.4f loss %.4f acc %.4f %.0f ex/s %s ETA %s%s",
             (long long)p->step, (long long)p->steps, p->q, p->mean_loss, p->train_acc, rate,
             clock_text(cli_now() - pr->start, el, sizeof el),
             clock_text(eta(pr, p), et, sizeof et),
             p->step == p->steps ? " testing" : "");
    int room = columns() - 1 - (int)strlen(left) - (int)strlen(right) - 2;
    int width = room > 40 ? 40 : room;
    char bar[48] = "";
    if (width >= 8) {
        int fill = (int)((double)width * (double)p->step / (double)(p->steps ? p->steps : 1));
        for (int i = 0; i < width; i++)
            bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
        bar[width] = '\0';
        fprintf(stderr, "\r%s[%s]%s\033[K", left, bar, right);
    } else { /* a narrow terminal: no bar, and never a wrapped line */
        fprintf(stderr, "\r%.*s\033[K", columns() - 1 > 0 ? columns() - 1 : 0, left);
        int room_right = columns() - 1 - (int)strlen(left);
        fprintf(stderr, "%.*s", room_right > 0 ? room_right : 0, right + 1);
    }
    fflush(stderr);
    pr->drawn = true;
    pr->last_draw = cli_now();
}

void cli_progress_step(const nb_progress *p, void *ud)
{
    cli_progress *pr = ud;
    if (pr->quiet || !pr->tty)
        return;
    if (p->step == p->steps || pr->last_draw < 0 || cli_now() - pr->last_draw >= REDRAW_SECONDS)
        draw(pr, p);
}

/* ---------------------------------------------------------------- epoch ends */

const char cli_progress_csv_columns[] =
    "epoch,steps,examples,loss,q,train_acc,val_loss,val_acc,test_loss,test_acc,lr,seconds";

void cli_progress_csv_header(FILE *csv)
{
    fprintf(csv, "%s\n", cli_progress_csv_columns);
    fflush(csv);
}

static void csv_row(FILE *csv, const nb_progress *p)
{
    fprintf(csv, "%d,%lld,%lld,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.3f\n", p->epoch,
            (long long)p->step, (long long)p->examples, p->mean_loss, p->q, p->train_acc,
            p->val_loss, p->val_acc, p->test_loss, p->test_acc, p->lr, p->seconds);
    fflush(csv);
}

void cli_progress_epoch(const nb_progress *p, void *ud)
{
    cli_progress *pr = ud;
    double t = cli_now();
    pr->epoch_wall = t - pr->start;
    pr->epochs_timed++;
    if (pr->csv)
        csv_row(pr->csv, p);
    if (pr->quiet)
        return;
    cli_progress_clear(pr);
    fprintf(stderr, "epoch %d/%d  loss %.4f  Q %.4f  train_acc %.4f", p->epoch, p->epochs,
            p->mean_loss, p->q, p->train_acc);
    if (!isnan(p->val_acc))
        fprintf(stderr, "  val_loss %.4f  val_acc %.4f%s", p->val_loss, p->val_acc,
                p->best_epoch == p->epoch ? " *" : "");
    if (!isnan(p->test_acc))
        fprintf(stderr, "  test_loss %.4f  test_acc %.4f", p->test_loss, p->test_acc);
    fprintf(stderr, "  %.2f s%s\n", p->seconds, p->stopped ? "  (Q has stabilised: stopping)" : "");
    fflush(stderr);
    pr->last_draw = -1;
}
