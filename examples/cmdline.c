/* cmdline.c — see cmdline.h. */
#include "cmdline.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nabla.h"

/* Stores text as o's value; false (after saying so) when it is not one. */
static bool store(const char *prog, const cmdline_opt *o, const char *text)
{
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case CMDLINE_FLAG:
        *(bool *)o->dst = true;
        return true;
    case CMDLINE_STR:
        *(const char **)o->dst = text;
        return true;
    case CMDLINE_INT:
    case CMDLINE_I64: {
        long long v = strtoll(text, &end, 10);
        bool fits = o->kind == CMDLINE_I64 || (v >= INT32_MIN && v <= INT32_MAX);
        if (*text && !*end && !errno && fits) {
            if (o->kind == CMDLINE_INT)
                *(int *)o->dst = (int)v;
            else
                *(int64_t *)o->dst = v;
            return true;
        }
        break;
    }
    case CMDLINE_U64: {
        unsigned long long v = strtoull(text, &end, 10);
        if (*text && *text != '-' && !*end && !errno) {
            *(uint64_t *)o->dst = v;
            return true;
        }
        break;
    }
    case CMDLINE_FLOAT:
    case CMDLINE_DOUBLE: {
        double v = strtod(text, &end);
        if (*text && !*end && !errno) {
            if (o->kind == CMDLINE_FLOAT)
                *(float *)o->dst = (float)v;
            else
                *(double *)o->dst = v;
            return true;
        }
        break;
    }
    }
    fprintf(stderr, "%s: %s wants %s, not '%s'\n", prog, o->name,
            o->kind == CMDLINE_U64 ? "a whole number >= 0"
            : o->kind == CMDLINE_FLOAT || o->kind == CMDLINE_DOUBLE ? "a number"
                                                                    : "a whole number",
            text);
    return false;
}

/* "; did you mean '--epochs'?" for a mistyped option, else "". */
static const char *hint(const char *arg, const cmdline_opt *opts, char *buf, size_t size)
{
    const char *names[65];
    int n = 0;
    for (const cmdline_opt *o = opts; o->name && n < 64; o++)
        names[n++] = o->name + strspn(o->name, "-");
    names[n] = NULL;
    const char *best = nb_closest_name(arg + strspn(arg, "-"), names);
    if (best)
        snprintf(buf, size, "; did you mean '--%s'?", best);
    else
        buf[0] = '\0';
    return buf;
}

bool cmdline_parse(int argc, char **argv, const cmdline_opt *opts)
{
    for (int i = 1; i < argc; i++) {
        const cmdline_opt *o = opts;
        while (o->name && strcmp(o->name, argv[i]))
            o++;
        if (!o->name) {
            char h[96];
            fprintf(stderr, "%s: unknown option '%s'%s\n", argv[0], argv[i],
                    hint(argv[i], opts, h, sizeof h));
            return false;
        }
        if (o->kind != CMDLINE_FLAG && i + 1 >= argc) {
            fprintf(stderr, "%s: %s needs a value\n", argv[0], o->name);
            return false;
        }
        if (!store(argv[0], o, o->kind == CMDLINE_FLAG ? "" : argv[++i]))
            return false;
    }
    return true;
}

bool cmdline_out_dir(const char *name, const char *dir)
{
    if (mkdir(dir, 0777) == 0 || errno == EEXIST)
        return true;
    fprintf(stderr, "%s: cannot create %s: %s\n", name, dir, strerror(errno));
    return false;
}
