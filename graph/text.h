/*
 * text.h — a growing string written printf-style, for the code that writes
 * text in pieces (model files, architecture listings). Like simd.h it holds
 * no graph internals, so io/ and train/ include it. Memory comes from
 * nb_realloc; the caller frees s with nb_free.
 */
#ifndef NB_TEXT_H
#define NB_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Start from (nb__text){0}. After a failed allocation `nomem` is set and
 * every later put does nothing, so a writer checks once at the end; s is
 * NUL-terminated whenever len > 0. */
typedef struct nb__text {
    char *s;
    size_t len, cap;
    bool nomem;
} nb__text;

/* Appends the formatted text, doubling the room as it runs out. */
void nb__put(nb__text *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
