/*
 * args.c — the option parser every subcommand shares, its --help text, and
 * one-line error messages. Options are a table per command: "--epochs 3"
 * and "--epochs=3" both work, "--" ends the options, and every value is
 * checked whole ("3x" is not a number) against its kind's range.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli_internal.h"

/* ---------------------------------------------------------------- messages */

/* The last message, kept for a data-parallel run to pass on (dist.c), and
 * whether messages are kept only (the ranks other than 0 of such a run:
 * rank 0 says what any rank has to say). A process says one thing at a
 * time, so one of each is all it needs. */
static char last_report[1300];
static bool reports_kept_only;

void cli_reports_keep_only(bool keep_only)
{
    reports_kept_only = keep_only;
}

const char *cli_last_report(void)
{
    return last_report;
}

static int vreport(const char *cmd, int status, const char *suffix, const char *fmt, va_list ap)
{
    char msg[1200];
    vsnprintf(msg, sizeof msg, fmt, ap);
    for (char *c = msg; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    snprintf(last_report, sizeof last_report, "%s%s", msg, suffix);
    if (reports_kept_only)
        return status;
    fflush(stdout);
    fprintf(stderr, "nabla %s: %s%s\n", cmd, msg, suffix);
    return status;
}

int cli_error(const char *cmd, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(cmd, status, "", fmt, ap);
    va_end(ap);
    return status;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    char suffix[96];
    snprintf(suffix, sizeof suffix, " (see 'nabla %s --help')", cmd);
    va_list ap;
    va_start(ap, fmt);
    vreport(cmd, CLI_USAGE, suffix, fmt, ap);
    va_end(ap);
    return CLI_USAGE;
}

int cli_need(const char *cmd, const char *feature, const char *what, const char *path,
             const char *hint)
{
    if (nb_built_with(feature))
        return CLI_OK;
    const char *name = !strcmp(feature, "hdf5")       ? "HDF5"
                       : !strcmp(feature, "graphviz") ? "Graphviz"
                       : !strcmp(feature, "onnx")     ? "protobuf-c"
                                                      : feature;
    return cli_error(cmd, CLI_FAIL, "nabla was built without %s: cannot write %s '%s'%s", name,
                     what, path, hint ? hint : "");
}

/* Library messages start with the module that made them ("train: ...");
 * after "nabla train: " that reads twice, so drop such prefixes (all of
 * them: "train: run: x" is "x"). */
const char *cli_strip(const char *message)
{
    static const char *const prefixes[] = {"train: ", "run: ", "grow: ", "class report: ", NULL};
    if (!message)
        return "(no message)";
    for (int i = 0; prefixes[i]; i++)
        if (!strncmp(message, prefixes[i], strlen(prefixes[i]))) {
            message += strlen(prefixes[i]);
            i = -1;
        }
    return message;
}

/* ---------------------------------------------------------------- values */

/* A CLI_CHOICE value: one of the words of the option's meta ("csv|f32"),
 * else "--format wants csv or f32, not 'cvs'; did you mean 'csv'?" (the
 * choice spelt alike but for case, or nb_closest_name's). */
static int store_choice(const cli_cmd *cmd, const cli_opt *o, const char *text)
{
    char words[256], list[300] = "";
    const char *choice[17];
    int n = 0;
    snprintf(words, sizeof words, "%s", o->meta);
    for (char *w = strtok(words, "|"); w && n < 16; w = strtok(NULL, "|"))
        choice[n++] = w;
    choice[n] = NULL;
    const char *best = NULL;
    for (int i = 0; i < n; i++) {
        if (!strcmp(text, choice[i])) {
            *(const char **)o->dst = text;
            return CLI_OK;
        }
        if (!strcasecmp(text, choice[i]))
            best = choice[i];
        size_t at = strlen(list);
        snprintf(list + at, sizeof list - at, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ",
                 choice[i]);
    }
    if (!best)
        best = nb_closest_name(text, choice);
    return cli_usage(cmd->name, "%s wants %s, not '%s'%s%s%s", o->name, list, text,
                     best ? "; did you mean '" : "", best ? best : "", best ? "'?" : "");
}

/* Stores text as the option's value, or returns CLI_USAGE after saying
 * what was wrong with it. */
static int store(const cli_cmd *cmd, const cli_opt *o, const char *text)
{
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case CLI_FLAG:
        *(bool *)o->dst = true;
        return CLI_OK;
    case CLI_STR:
        if (!*text)
            return cli_usage(cmd->name, "%s needs a non-empty value", o->name);
        *(const char **)o->dst = text;
        return CLI_OK;
    case CLI_CHOICE:
        return store_choice(cmd, o, text);
    case CLI_COUNT:
    case CLI_INT: {
        long long v = strtoll(text, &end, 10);
        long long min = o->kind == CLI_COUNT ? 1 : 0;
        if (!*text || *end || errno || v < min)
            return cli_usage(cmd->name, "%s wants %s, not '%s'", o->name,
                             min ? "a whole number >= 1" : "a whole number >= 0", text);
        *(int64_t *)o->dst = v;
        return CLI_OK;
    }
    case CLI_SEED: {
        unsigned long long v = strtoull(text, &end, 10);
        if (!*text || *end || errno || text[0] == '-')
            return cli_usage(cmd->name, "%s wants a whole number >= 0, not '%s'", o->name, text);
        *(uint64_t *)o->dst = v;
        return CLI_OK;
    }
    case CLI_REAL:
    case CLI_REAL0: {
        double v = strtod(text, &end);
        bool zero_ok = o->kind == CLI_REAL0;
        if (!*text || *end || errno || !isfinite(v) || v < 0 || (v == 0 && !zero_ok))
            return cli_usage(cmd->name, "%s wants a number %s, not '%s'", o->name,
                             zero_ok ? ">= 0" : "> 0", text);
        *(double *)o->dst = v;
        return CLI_OK;
    }
    }
    return CLI_USAGE;
}

static const cli_opt *find(const cli_cmd *cmd, const char *arg, size_t len)
{
    for (const cli_opt *o = cmd->opts; o && o->name; o++)
        if ((strlen(o->name) == len && !strncmp(o->name, arg, len)) ||
            (o->short_name && strlen(o->short_name) == len && !strncmp(o->short_name, arg, len)))
            return o;
    return NULL;
}

/* ---------------------------------------------------------------- parsing */

/* "; did you mean '--epochs'?" for a mistyped long option (compared
 * without its dashes, so "--e" is not close to every option), else "". */
static const char *option_hint(const cli_cmd *cmd, const char *arg, size_t len, char *buf,
                               size_t size)
{
    const char *names[33];
    char word[64];
    int n = 0;
    for (const cli_opt *o = cmd->opts; o && o->name && n < 32; o++)
        names[n++] = o->name + 2;
    names[n] = NULL;
    size_t dashes = strspn(arg, "-");
    snprintf(word, sizeof word, "%.*s", (int)(len > dashes ? len - dashes : 0), arg + dashes);
    const char *best = nb_closest_name(word, names);
    if (best)
        snprintf(buf, size, "; did you mean '--%s'?", best);
    else
        buf[0] = '\0';
    return buf;
}

/* One option at argv[*i]: its value is after '=' or the next argument. */
static int parse_option(cli_cmd *cmd, int argc, char **argv, int *i)
{
    const char *arg = argv[*i], *eq = strchr(arg, '=');
    size_t len = eq && arg[1] == '-' ? (size_t)(eq - arg) : strlen(arg);
    const cli_opt *o = find(cmd, arg, len);
    if (!o) {
        char hint[96];
        return cli_usage(cmd->name, "unknown option '%.*s'%s", (int)len, arg,
                         option_hint(cmd, arg, len, hint, sizeof hint));
    }
    cmd->seen |= 1u << (o - cmd->opts);
    if (o->kind == CLI_FLAG) {
        if (len != strlen(arg))
            return cli_usage(cmd->name, "%s takes no value", o->name);
        return store(cmd, o, "");
    }
    if (len != strlen(arg))
        return store(cmd, o, eq + 1);
    if (*i + 1 >= argc)
        return cli_usage(cmd->name, "%s needs a value (%s)", o->name, o->meta ? o->meta : "?");
    return store(cmd, o, argv[++*i]);
}

int cli_parse(cli_cmd *cmd, int argc, char **argv, const char **pos, int *n_pos)
{
    bool options = true;
    *n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (options && (!strcmp(arg, "--help") || !strcmp(arg, "-h"))) {
            cli_help(cmd, stdout);
            return -1;
        }
        if (options && !strcmp(arg, "--")) {
            options = false;
        } else if (options && arg[0] == '-' && arg[1] != '\0') {
            int st = parse_option(cmd, argc, argv, &i);
            if (st != CLI_OK)
                return st;
        } else if (*n_pos == cmd->max_pos) {
            return cmd->max_pos == 0 ? cli_usage(cmd->name, "unexpected argument '%s'", arg)
                                     : cli_usage(cmd->name, "too many arguments ('%s')", arg);
        } else {
            pos[(*n_pos)++] = arg;
        }
    }
    if (*n_pos < cmd->min_pos)
        return cli_usage(cmd->name, "missing %s", cmd->args);
    return CLI_OK;
}

bool cli_seen(const cli_cmd *cmd, const char *name)
{
    for (const cli_opt *o = cmd->opts; o && o->name; o++)
        if (!strcmp(o->name, name))
            return cmd->seen & (1u << (o - cmd->opts));
    return false;
}

/* ---------------------------------------------------------------- help */

void cli_help(const cli_cmd *cmd, FILE *out)
{
    fprintf(out, "usage: nabla %s %s%s\n\n%s\n", cmd->name, cmd->args,
            cmd->opts && cmd->opts->name ? " [options]" : "", cmd->summary);
    if (cmd->details)
        fprintf(out, "\n%s\n", cmd->details);
    fprintf(out, "\noptions:\n");
    for (const cli_opt *o = cmd->opts; o && o->name; o++) {
        char left[64];
        if (o->short_name)
            snprintf(left, sizeof left, "%s, %s%s%s", o->short_name, o->name, o->meta ? " " : "",
                     o->meta ? o->meta : "");
        else
            snprintf(left, sizeof left, "%s%s%s", o->name, o->meta ? " " : "",
                     o->meta ? o->meta : "");
        fprintf(out, "  %-22s %s\n", left, o->help);
    }
    fprintf(out, "  %-22s %s\n", "-h, --help", "show this help and exit");
}

/* ---------------------------------------------------------------- threads */

/* The label of the one setting a command makes (a command runs once). */
static char threads_label[16] = "auto";

void cli_set_threads(int64_t n)
{
    int k = n <= 0 ? 0 : (int)(n > 4096 ? 4096 : n);
    nb_set_threads(k);
    if (k)
        snprintf(threads_label, sizeof threads_label, "%d", k);
}

const char *cli_threads_label(void)
{
    return threads_label;
}
