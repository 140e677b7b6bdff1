/*
 * test_stream_reader.c — nb_stream, the reader of examples as they arrive
 * (what `nabla train --stream` learns from): CSV lines and float32 records
 * read one example at a time from a FILE, and each refusal with its status
 * and message (line or record, field, what was expected).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"

/* A stream over the text (or bytes) given. */
static FILE *over(const void *bytes, size_t n)
{
    FILE *f = fmemopen((void *)bytes, n, "rb");
    cr_assert_not_null(f);
    return f;
}

static nb_stream *reader(FILE *in, nb_stream_format fmt, int64_t d, int64_t k, int64_t classes)
{
    nb_error err = {0};
    nb_stream *s = nb_stream_new(in, (nb_stream_opts){.format = fmt, .d = d, .k = k,
                                                       .classes = classes, .name = "stdin"},
                                 &err);
    cr_assert_not_null(s, "%s", err.message);
    return s;
}

/* Reads to the first refusal; returns its message (static storage). */
static const char *first_refusal(const char *text, nb_stream_format fmt, int64_t d, int64_t k,
                                 int64_t classes)
{
    static nb_error err;
    FILE *in = over(text, strlen(text));
    nb_stream *s = reader(in, fmt, d, k, classes);
    float x[8], y[8];
    int got;
    err = (nb_error){0};
    while ((got = nb_stream_read(s, x, y, &err)) == 1)
        ;
    cr_assert_eq(got, -1, "the input was accepted to its end");
    cr_assert_eq(err.status, NB_ERR_ARG);
    nb_stream_free(s);
    fclose(in);
    return err.message;
}

Test(stream_reader, csv_examples_skip_blank_and_comment_lines)
{
    const char *text = "# x1,x2,y\n\n 0.5 , -2,1\r\n1e-3,250,0\n";
    FILE *in = over(text, strlen(text));
    nb_stream *s = reader(in, NB_STREAM_CSV, 2, 1, 2);
    float x[2], y[1];
    nb_error err = {0};
    cr_assert_eq(nb_stream_read(s, x, y, &err), 1);
    cr_assert(x[0] == 0.5f && x[1] == -2.0f && y[0] == 1.0f);
    cr_assert_eq(nb_stream_position(s), 3, "two skipped lines and the example");
    cr_assert_eq(nb_stream_read(s, x, y, &err), 1);
    cr_assert(x[0] == 1e-3f && x[1] == 250.0f && y[0] == 0.0f);
    cr_assert_eq(nb_stream_read(s, x, y, &err), 0, "end of input");
    cr_assert_eq(err.status, NB_OK);
    nb_stream_free(s);
    fclose(in);
}

Test(stream_reader, csv_refusals_name_line_and_field)
{
    cr_assert_str_eq(first_refusal("1,2,0\n1,2\n", NB_STREAM_CSV, 2, 1, 0),
                     "stdin line 2: expected 3 numbers, found 2 (2 inputs and 1 target per "
                     "example)");
    cr_assert_str_eq(first_refusal("1,abc,0\n", NB_STREAM_CSV, 2, 1, 0),
                     "stdin line 1: field 2 is not a number: 'abc'");
    cr_assert_str_eq(first_refusal("1,,0\n", NB_STREAM_CSV, 2, 1, 0),
                     "stdin line 1: field 2 is empty");
    cr_assert_str_eq(first_refusal("1,inf,0\n", NB_STREAM_CSV, 2, 1, 0),
                     "stdin line 1: field 2 is not a finite number: 'inf'");
    cr_assert_str_eq(first_refusal("1,1e39,0\n", NB_STREAM_CSV, 2, 1, 0),
                     "stdin line 1: field 2 is not a finite number: '1e39'");
    cr_assert_str_eq(first_refusal("0,0,1\n0,0,2\n", NB_STREAM_CSV, 2, 1, 2),
                     "stdin line 2: target 2 is not a class index 0..1 (the model's loss reads "
                     "class indices)");
    cr_assert_str_eq(first_refusal("0,0,0.5\n", NB_STREAM_CSV, 2, 1, 2),
                     "stdin line 1: target 0.5 is not a class index 0..1 (the model's loss "
                     "reads class indices)");
}

Test(stream_reader, csv_nul_byte_refused)
{
    static const char text[] = "1,2,0\n1,\0002,0\n";
    FILE *in = over(text, sizeof text - 1);
    nb_stream *s = reader(in, NB_STREAM_CSV, 2, 1, 0);
    float x[2], y[1];
    nb_error err = {0};
    cr_assert_eq(nb_stream_read(s, x, y, &err), 1);
    cr_assert_eq(nb_stream_read(s, x, y, &err), -1);
    cr_assert_str_eq(err.message,
                     "stdin line 2: holds a NUL byte (binary data? use --format f32)");
    nb_stream_free(s);
    fclose(in);
}

Test(stream_reader, f32_records_and_refusals)
{
    const float rec[6] = {1.5f, -2.0f, 1.0f, 0.25f, 3.0f, 0.0f}; /* little-endian hosts */
    FILE *in = over(rec, sizeof rec - 2);
    nb_stream *s = reader(in, NB_STREAM_F32, 2, 1, 2);
    float x[2], y[1];
    nb_error err = {0};
    cr_assert_eq(nb_stream_read(s, x, y, &err), 1);
    cr_assert(x[0] == 1.5f && x[1] == -2.0f && y[0] == 1.0f);
    cr_assert_eq(nb_stream_read(s, x, y, &err), -1);
    cr_assert_eq(err.status, NB_ERR_ARG);
    cr_assert_str_eq(err.message, "stdin record 2: the input ends after 10 of its 12 bytes "
                     "(3 float32 values per record)");
    nb_stream_free(s);
    fclose(in);

    const float bad[3] = {1.0f, NAN, 0.0f};
    in = over(bad, sizeof bad);
    s = reader(in, NB_STREAM_F32, 2, 1, 0);
    cr_assert_eq(nb_stream_read(s, x, y, &err), -1);
    cr_assert_str_eq(err.message, "stdin record 1: value 2 is not finite (nan)");
    nb_stream_free(s);
    fclose(in);
}

Test(stream_reader, new_refuses_impossible_shapes)
{
    nb_error err = {0};
    FILE *in = over("1", 1);
    cr_assert_null(nb_stream_new(in, (nb_stream_opts){.d = 0, .k = 1}, &err));
    cr_assert_eq(err.status, NB_ERR_ARG);
    cr_assert(strstr(err.message, "0 inputs, 1 targets"), "%s", err.message);
    cr_assert_null(nb_stream_new(NULL, (nb_stream_opts){.d = 1}, &err));
    cr_assert_str_eq(err.message, "stream: no input (NULL)");
    fclose(in);
}
