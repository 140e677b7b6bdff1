/*
 * stream_harness.h — the body the two stream harnesses share
 * (fuzz_stream_csv.c, fuzz_stream_f32.c): the input as the stream, read by
 * nb_stream to its end or to its first refusal, under two shapes of
 * example (2 inputs with a class label of 2 classes, as the xor models;
 * 3 inputs with 2 free targets).
 *
 * Promises checked: every refusal carries a message; every example read
 * holds finite numbers, and a class label is a whole number below the
 * classes; the position grows with every example.
 */
#ifndef NABLA_FUZZ_STREAM_HARNESS_H
#define NABLA_FUZZ_STREAM_HARNESS_H

#include <math.h>
#include <stdio.h>

#include "fuzz.h"

static void read_all(const uint8_t *data, size_t size, nb_stream_opts o)
{
    static const uint8_t empty[1];
    FILE *in = fmemopen((void *)(size ? data : empty), size ? size : 1, "rb");
    if (!in)
        fuzz_fail("fmemopen failed");
    if (!size)
        fgetc(in); /* an empty stream: fmemopen wants a size of 1 or more */
    nb_error err = {0};
    nb_stream *s = nb_stream_new(in, o, &err);
    if (!s)
        fuzz_fail("nb_stream_new refused %lld, %lld: %s", (long long)o.d, (long long)o.k,
                  err.message);
    float x[3], y[2];
    int got;
    int64_t last = 0;
    while ((got = nb_stream_read(s, x, y, &err)) == 1) {
        for (int64_t i = 0; i < o.d; i++)
            if (!isfinite(x[i]))
                fuzz_fail("input %lld of an accepted example is %g", (long long)i, (double)x[i]);
        for (int64_t i = 0; i < o.k; i++)
            if (!isfinite(y[i]))
                fuzz_fail("target %lld of an accepted example is %g", (long long)i,
                          (double)y[i]);
        if (o.classes && !(y[0] >= 0 && y[0] < (float)o.classes && y[0] == floorf(y[0])))
            fuzz_fail("accepted the class label %g (%lld classes)", (double)y[0],
                      (long long)o.classes);
        if (nb_stream_position(s) <= last)
            fuzz_fail("the position stayed at %lld after an example", (long long)last);
        last = nb_stream_position(s);
    }
    if (got != 0 && got != -1)
        fuzz_fail("nb_stream_read returned %d", got);
    fuzz_require_error("nb_stream_read", got < 0 ? NB_ERR_ARG : NB_OK, &err);
    nb_stream_free(s);
    fclose(in);
}

static void read_both_shapes(const uint8_t *data, size_t size, nb_stream_format format)
{
    read_all(data, size,
             (nb_stream_opts){.format = format, .d = 2, .k = 1, .classes = 2, .name = "stdin"});
    read_all(data, size, (nb_stream_opts){.format = format, .d = 3, .k = 2, .name = "stdin"});
}

#endif
