/*
 * cmdline.h — the examples' command lines: "--name value" options (and
 * value-less flags) parsed from a table into the caller's variables over
 * the defaults already there, every value checked whole ("3x" is not a
 * number), an unknown option answered with the closest known one.
 *
 *     const cmdline_opt opts[] = {{"--epochs", CMDLINE_INT, &a.epochs},
 *                                 {"--data", CMDLINE_STR, &a.dir}, {0}};
 *     if (!cmdline_parse(argc, argv, opts)) ...print the usage line, exit 2
 */
#ifndef CMDLINE_H
#define CMDLINE_H

#include <stdbool.h>

typedef enum cmdline_kind {
    CMDLINE_FLAG,   /* bool, set true; takes no value */
    CMDLINE_INT,    /* int */
    CMDLINE_I64,    /* int64_t */
    CMDLINE_U64,    /* uint64_t, >= 0 */
    CMDLINE_FLOAT,  /* float */
    CMDLINE_DOUBLE, /* double */
    CMDLINE_STR     /* const char * (argv's own string) */
} cmdline_kind;

/* One option: its name ("--epochs"), the kind of its value, and where the
 * value goes. A table ends with a {0} entry. */
typedef struct cmdline_opt {
    const char *name;
    cmdline_kind kind;
    void *dst;
} cmdline_opt;

/*
 * Parses argv[1..argc) against opts. False, after one line on stderr
 * ("<argv0>: unknown option '--epoch'; did you mean '--epochs'?", "--epochs
 * needs a value", "--epochs wants a whole number, not '3x'"), on the first
 * mistake; the caller then prints its usage line. Ranges are the caller's
 * to check.
 */
bool cmdline_parse(int argc, char **argv, const cmdline_opt *opts);

/* The folder an --out option names, made when it is not there yet; false
 * after "<name>: cannot create <dir>: <reason>" on stderr. */
bool cmdline_out_dir(const char *name, const char *dir);

#endif
