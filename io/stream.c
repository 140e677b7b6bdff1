/*
 * stream.c — examples as they arrive (nb_stream, nabla.h): CSV lines or
 * little-endian float32 records of d inputs and k targets, read from a
 * FILE one example at a time, so a stream of any length is never held.
 * What `nabla train --stream` learns from.
 *
 * Nothing from the input is trusted: a line with the wrong count of
 * numbers, an empty field, a field that is not a finite number, a NUL byte
 * in a text line, a record cut short, a non-finite value, a target that is
 * not one of the model's class indices: each is refused naming its line
 * (CSV) or record (f32), the field or value, and what was expected.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "nabla.h"

struct nb_stream {
    FILE *in;
    nb_stream_opts o;
    int64_t width;          /* numbers per example: d + k */
    char *line;             /* csv: the current line (getline's buffer) */
    size_t cap;
    unsigned char *raw;     /* f32: one record */
    float *vals;            /* one example's numbers */
    int64_t at;             /* csv: lines read; f32: records read */
    char name[64];          /* what messages call the input */
};

/* The largest example accepted: 2^28 numbers (1 GiB as floats). */
#define MAX_WIDTH ((int64_t)1 << 28)

nb_stream *nb_stream_new(FILE *in, nb_stream_opts o, nb_error *err)
{
    if (!in)
        return nb_error_set(err, NB_ERR_ARG, "stream: no input (NULL)"), NULL;
    if (o.format != NB_STREAM_CSV && o.format != NB_STREAM_F32)
        return nb_error_set(err, NB_ERR_ARG, "stream: unknown format %d", (int)o.format), NULL;
    if (o.d < 1 || o.k < 0 || o.d > MAX_WIDTH || o.k > MAX_WIDTH - o.d || o.classes < 0)
        return nb_error_set(err, NB_ERR_ARG, "stream: %lld inputs, %lld targets and %lld "
                            "classes per example (need 1 to %lld numbers, classes >= 0)",
                            (long long)o.d, (long long)o.k, (long long)o.classes,
                            (long long)MAX_WIDTH), NULL;
    nb_stream *s = nb_calloc(1, sizeof *s);
    if (s) {
        s->in = in;
        s->o = o;
        s->width = o.d + o.k;
        snprintf(s->name, sizeof s->name, "%s", o.name && *o.name ? o.name : "input");
        s->o.name = s->name;
        s->vals = nb_malloc((size_t)s->width * sizeof *s->vals);
        s->raw = o.format == NB_STREAM_F32 ? nb_malloc((size_t)s->width * 4) : NULL;
    }
    if (!s || !s->vals || (o.format == NB_STREAM_F32 && !s->raw)) {
        nb_stream_free(s);
        return nb_error_set(err, NB_ERR_NOMEM, "stream: out of memory for an example of %lld "
                            "numbers", (long long)(o.d + o.k)), NULL;
    }
    return s;
}

void nb_stream_free(nb_stream *s)
{
    if (!s)
        return;
    free(s->line); /* not nabla's: getline allocates it with malloc */
    nb_free(s->raw);
    nb_free(s->vals);
    nb_free(s);
}

int64_t nb_stream_position(const nb_stream *s)
{
    return s ? s->at : 0;
}

/* ---------------------------------------------------------------- csv */

/* "'abc'" for the field starting at s: up to the next comma, at most 40
 * characters shown. */
static void field_text(const char *s, char *buf, size_t size)
{
    size_t n = strcspn(s, ",");
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    snprintf(buf, size, "'%.*s%s'", (int)(n > 40 ? 40 : n), s, n > 40 ? "..." : "");
}

static const char *skip_blanks(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* A refusal in the usual form; returns -1. */
static int refuse(nb_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static int refuse(nb_error *err, const char *fmt, ...)
{
    char msg[sizeof err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    nb_error_set(err, NB_ERR_ARG, "%s", msg);
    return -1;
}

/* The numbers of one CSV line into s->vals (those past width are counted,
 * not stored). Returns how many, or -1 after a message naming line and
 * field. */
static int64_t parse_line(nb_stream *s, const char *p, nb_error *err)
{
    int64_t n = 0;
    for (;;) {
        p = skip_blanks(p);
        char *end = NULL, shown[64];
        float v = strtof(p, &end);
        const char *after = end ? skip_blanks(end) : p;
        if (end == p || (*after != ',' && *after != '\0')) {
            field_text(p, shown, sizeof shown);
            return *p == ',' || *p == '\0'
                       ? refuse(err, "%s line %lld: field %lld is empty", s->name,
                                (long long)s->at, (long long)n + 1)
                       : refuse(err, "%s line %lld: field %lld is not a number: %s", s->name,
                                (long long)s->at, (long long)n + 1, shown);
        }
        if (!isfinite(v)) {
            field_text(p, shown, sizeof shown);
            return refuse(err, "%s line %lld: field %lld is not a finite number: %s", s->name,
                          (long long)s->at, (long long)n + 1, shown);
        }
        if (n < s->width)
            s->vals[n] = v;
        n++;
        if (*after == '\0')
            return n;
        p = after + 1;
    }
}

/* The next CSV example into s->vals: 1, 0 at the end of input, -1 after a
 * message. */
static int read_csv(nb_stream *s, nb_error *err)
{
    for (;;) {
        errno = 0;
        ssize_t len = getline(&s->line, &s->cap, s->in);
        if (len < 0)
            return ferror(s->in) ? refuse(err, "reading %s: %s", s->name,
                                          strerror(errno ? errno : EIO))
                                 : 0;
        s->at++;
        while (len > 0 && (s->line[len - 1] == '\n' || s->line[len - 1] == '\r'))
            s->line[--len] = '\0';
        const char *p = skip_blanks(s->line);
        if (*p == '\0' || *p == '#')
            continue;
        if ((int64_t)strlen(p) != (int64_t)(len - (p - s->line)))
            return refuse(err, "%s line %lld: holds a NUL byte (binary data? use --format f32)",
                          s->name, (long long)s->at);
        int64_t n = parse_line(s, p, err);
        if (n < 0)
            return -1;
        if (n != s->width)
            return refuse(err, "%s line %lld: expected %lld numbers, found %lld (%lld inputs "
                          "and %lld target%s per example)", s->name, (long long)s->at,
                          (long long)s->width, (long long)n, (long long)s->o.d,
                          (long long)s->o.k, s->o.k == 1 ? "" : "s");
        return 1;
    }
}

/* ---------------------------------------------------------------- f32 */

/* The next f32 record into s->vals: 1, 0 at the end of input, -1 after a
 * message. Records are little-endian whatever the machine. */
static int read_f32(nb_stream *s, nb_error *err)
{
    size_t bytes = (size_t)s->width * 4;
    errno = 0;
    size_t got = fread(s->raw, 1, bytes, s->in);
    if (got == 0 && !ferror(s->in))
        return 0;
    s->at++;
    if (got < bytes)
        return ferror(s->in)
                   ? refuse(err, "reading %s: %s", s->name, strerror(errno ? errno : EIO))
                   : refuse(err, "%s record %lld: the input ends after %zu of its %zu bytes "
                            "(%lld float32 values per record)", s->name, (long long)s->at, got,
                            bytes, (long long)s->width);
    for (int64_t i = 0; i < s->width; i++) {
        const unsigned char *b = s->raw + 4 * i;
        uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                     (uint32_t)b[3] << 24;
        memcpy(&s->vals[i], &u, 4);
        if (!isfinite(s->vals[i]))
            return refuse(err, "%s record %lld: value %lld is not finite (%g)", s->name,
                          (long long)s->at, (long long)i + 1, (double)s->vals[i]);
    }
    return 1;
}

/* ---------------------------------------------------------------- examples */

/* A class label that is not an index of one of the model's classes. */
static int check_label(const nb_stream *s, nb_error *err)
{
    float y = s->vals[s->o.d];
    if (s->o.classes <= 0 || s->o.k != 1 ||
        (y >= 0 && y < (float)s->o.classes && y == floorf(y)))
        return 1;
    return refuse(err, "%s %s %lld: target %g is not a class index 0..%lld (the model's loss "
                  "reads class indices)", s->name,
                  s->o.format == NB_STREAM_F32 ? "record" : "line", (long long)s->at,
                  (double)y, (long long)s->o.classes - 1);
}

int nb_stream_read(nb_stream *s, float *x, float *y, nb_error *err)
{
    if (!s || !x || (s->o.k > 0 && !y))
        return refuse(err, "stream: nothing to read into (NULL)");
    int got = s->o.format == NB_STREAM_F32 ? read_f32(s, err) : read_csv(s, err);
    if (got == 1)
        got = check_label(s, err);
    if (got == 1) {
        memcpy(x, s->vals, (size_t)s->o.d * sizeof *x);
        if (s->o.k > 0)
            memcpy(y, s->vals + s->o.d, (size_t)s->o.k * sizeof *y);
    }
    return got;
}
