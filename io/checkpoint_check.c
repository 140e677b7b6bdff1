/*
 * checkpoint_check.c — a checkpoint says which model and which optimiser
 * wrote it, and a resume refuses another one, naming the difference.
 *
 *   /architecture            the model as nb_trainer_architecture lists it
 *   /optimizer attr kind     "sgd", "adam" or "rmsprop"
 *
 * Loading compares the trainer's architecture with the file's, line by
 * line, and reports the first line that differs (the layer, what the
 * checkpoint's model computes there and what this one computes); then,
 * unless only the weights are loaded, the optimiser kinds. Training
 * settings (epochs, batch, learning rate, momentum, schedule, seed) are
 * not compared: they may change between runs.
 *
 * Older checkpoints have neither. Their /model_yaml, when it is there and
 * still builds, stands in for both (its architecture, its optimiser); a
 * checkpoint with no usable YAML either is checked by its parameters'
 * names and shapes only, as before.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hdf5_internal.h"

#define MAX_TEXT ((size_t)64 << 20)

static const char *const kind_names[] = {"sgd", "adam", "rmsprop"};
static const char *const kind_slots[] = {"velocity", "m, v", "momentum, mean square"};

/* ---------------------------------------------------------------- writing */

nb_status nb__checkpoint_write_identity(nb__h5 *f, nb_trainer *t)
{
    nb_error e = {0};
    nb_optimizer_kind k = nb_optimizer_kind_of(nb_trainer_optimizer(t));
    char *arch = nb_trainer_architecture(t, &e);
    if (!arch)
        return nb__h5_fail(f, e.status ? e.status : NB_ERR_NOMEM, "/architecture: %s", e.message);
    nb__h5_write_string(f, "/architecture", arch);
    nb_free(arch);
    nb__h5_write_attr_string(f, "/optimizer", "kind", kind_names[k]);
    return nb__h5_status(f);
}

/* ---------------------------------------------------------------- the file's model */

/* What the file says wrote it: its architecture text (malloc'd, or NULL
 * when the file cannot tell) and optimiser kind (-1 when unknown). */
typedef struct origin {
    char *arch;
    int kind;
} origin;

/* Kind from the /optimizer attribute; -1 when there is none. */
static int read_kind(nb__h5 *f)
{
    char buf[32];
    if (!nb__h5_has_attr(f, "/optimizer", "kind") ||
        nb__h5_read_attr_string(f, "/optimizer", "kind", buf, sizeof buf) != NB_OK)
        return -1;
    for (int k = 0; k < 3; k++)
        if (!strcmp(buf, kind_names[k]))
            return k;
    nb__h5_fail(f, NB_ERR_ARG, "/optimizer: attribute kind is \"%s\", not sgd, adam or rmsprop",
                buf);
    return -1;
}

/* An older checkpoint: architecture and optimiser from its /model_yaml, if
 * it has one that still builds (else the origin stays unknown). */
static void from_yaml(nb__h5 *f, origin *o)
{
    char *yaml = NULL;
    if (!nb__h5_exists(f, "/model_yaml") ||
        nb__h5_read_string(f, "/model_yaml", MAX_TEXT, &yaml) != NB_OK)
        return;
    nb_error e = {0};
    nb_model_file *m = nb_model_file_parse(yaml, strlen(yaml), nb__h5_path(f), &e);
    if (m) {
        o->arch = o->arch ? o->arch : nb_model_architecture(nb_model_file_build, m, &e);
        o->kind = o->kind >= 0 ? o->kind : (int)nb_model_file_train_opts(m).optimizer.kind;
    }
    nb_model_file_free(m);
    nb_free(yaml);
}

static nb_status read_origin(nb__h5 *f, origin *o, bool need_kind)
{
    o->kind = need_kind ? read_kind(f) : 0;
    if (nb__h5_exists(f, "/architecture"))
        nb__h5_read_string(f, "/architecture", MAX_TEXT, &o->arch);
    if (nb__h5_status(f) == NB_OK && (!o->arch || o->kind < 0))
        from_yaml(f, o);
    return nb__h5_status(f);
}

/* ---------------------------------------------------------------- comparing */

/* Line k of text (without its newline) in *len; NULL past the end. */
static const char *line_at(const char *text, int k, int *len)
{
    const char *s = text;
    for (int i = 0; i < k && s; i++) {
        s = strchr(s, '\n');
        s = s ? s + 1 : NULL;
    }
    if (!s || !*s)
        return NULL;
    const char *end = strchr(s, '\n');
    *len = end ? (int)(end - s) : (int)strlen(s);
    return s;
}

/* Line k of text made readable: "#j" becomes line j's label (the text
 * before " = "). Into buf, cut to its size. */
static void readable(const char *text, const char *line, int len, char *buf, size_t size)
{
    size_t at = 0;
    for (int i = 0; i < len && at + 1 < size; i++) {
        int j = 0, n = 0, ll = 0;
        const char *ref;
        if (line[i] == '#' && sscanf(line + i + 1, "%d%n", &j, &n) == 1 &&
            (ref = line_at(text, j, &ll))) {
            const char *eq = strstr(ref, " = ");
            int label = eq && eq - ref < ll ? (int)(eq - ref) : ll;
            at += (size_t)snprintf(buf + at, size - at, "%.*s", label, ref);
            at = at < size ? at : size - 1;
            i += n;
        } else {
            buf[at++] = line[i];
        }
    }
    buf[at] = '\0';
}

/* The layer a line belongs to: its label up to the first '/'. */
static void layer_of(const char *line, int len, char *buf, size_t size)
{
    int n = 0;
    while (n < len && line[n] != '/' && line[n] != ' ')
        n++;
    snprintf(buf, size, "%.*s", n, line);
}

/* Refuses the first line where the file's architecture and the trainer's
 * differ. */
static nb_status compare_arch(nb__h5 *f, const char *theirs, const char *mine)
{
    int k = 0, la = 0, lb = 0;
    const char *a, *b;
    for (;; k++) {
        a = line_at(theirs, k, &la);
        b = line_at(mine, k, &lb);
        if (!a || !b || la != lb || memcmp(a, b, (size_t)la))
            break;
    }
    if (!a && !b)
        return NB_OK;
    char ra[200] = "", rb[200] = "", layer[96];
    if (a)
        readable(theirs, a, la, ra, sizeof ra);
    if (b)
        readable(mine, b, lb, rb, sizeof rb);
    const char *ea = strstr(ra, " = "), *eb = strstr(rb, " = ");
    if (a && b && ea && eb && strcmp(ea, eb)) { /* the computations differ: show those */
        memmove(ra, ea + 3, strlen(ea + 3) + 1);
        memmove(rb, eb + 3, strlen(eb + 3) + 1);
    }
    layer_of(b ? b : a, b ? lb : la, layer, sizeof layer);
    if (!a)
        return nb__h5_fail(f, NB_ERR_ARG, "this checkpoint was written by a different model: "
                           "its model ends where this model goes on with layer '%s' (%s)", layer, rb);
    if (!b)
        return nb__h5_fail(f, NB_ERR_ARG, "this checkpoint was written by a different model: "
                           "its model goes on with layer '%s' (%s) where this model ends", layer, ra);
    return nb__h5_fail(f, NB_ERR_ARG, "this checkpoint was written by a different model: "
                       "in layer '%s' its model computes %s; this model computes %s", layer, ra, rb);
}

nb_status nb__checkpoint_check(nb__h5 *f, nb_trainer *t, bool weights_only)
{
    origin o = {0};
    if (read_origin(f, &o, !weights_only) != NB_OK) {
        nb_free(o.arch);
        return nb__h5_status(f);
    }
    if (o.arch) {
        nb_error e = {0};
        char *mine = nb_trainer_architecture(t, &e);
        if (!mine)
            nb__h5_fail(f, e.status ? e.status : NB_ERR_NOMEM, "%s", e.message);
        else
            compare_arch(f, o.arch, mine);
        nb_free(mine);
    }
    nb_free(o.arch);
    int mine = (int)nb_optimizer_kind_of(nb_trainer_optimizer(t));
    if (nb__h5_status(f) == NB_OK && !weights_only && o.kind >= 0 && o.kind != mine)
        nb__h5_fail(f, NB_ERR_ARG, "checkpoint has %s state (%s); this model trains with %s "
                    "(load the weights alone to start %s afresh)", kind_names[o.kind],
                    kind_slots[o.kind], kind_names[mine], kind_names[mine]);
    return nb__h5_status(f);
}
