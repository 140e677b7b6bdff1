/*
 * yaml_units.c — one dense layer's width in a model file, read and
 * rewritten (nb_model_file_units, nb_model_file_set_units): the layer is
 * found by its name or automatic name, its `units:` value replaced in the
 * text, and the text parsed again, so the model builds, and is saved, at
 * the new width. What `nabla train --grow` and nb_trainer_fit_grow widen.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml_schema.h"
#include "yaml_sections.h"

/* Dense node `layer`'s index: its `name:` or the automatic name nb_dense
 * gives it ("dense<k>": unnamed dense layers numbered in order, skipping a
 * number an earlier node's name took); -1 with the reason in err, which
 * lists the dense layers or suggests the closest name. */
static int find_dense(const nb_model_file *m, const char *layer, nb_error *err)
{
    int count = 0, n_dense = 0;
    char names[64][64];
    for (int k = 0; k < m->n_nodes; k++) {
        const nb__ynode *n = &m->nodes[k];
        char name[64];
        if (n->name)
            snprintf(name, sizeof name, "%s", n->name);
        else if (n->op == NB__Y_DENSE)
            for (bool taken = true; taken;) {
                snprintf(name, sizeof name, "dense%d", ++count);
                taken = false;
                for (int j = 0; j < k && !taken; j++)
                    taken = m->nodes[j].name && !strcmp(m->nodes[j].name, name);
            }
        else
            continue;
        if (n->op == NB__Y_DENSE && n_dense < 64)
            snprintf(names[n_dense++], sizeof names[0], "%s", name);
        if (strcmp(name, layer))
            continue;
        if (n->op == NB__Y_DENSE)
            return k;
        nb_error_set(err, NB_ERR_ARG, "%s: layer '%s' (line %d) is a %s layer, not dense", m->file,
                  layer, n->line, nb__yop_name(n->op));
        return -1;
    }
    const char *list[65];
    char known[300] = "";
    for (int i = 0; i < n_dense; i++) {
        list[i] = names[i];
        size_t at = strlen(known);
        snprintf(known + at, sizeof known - at, "%s%s", i ? ", " : "", names[i]);
    }
    list[n_dense] = NULL;
    const char *best = nb_closest_name(layer, list);
    if (best)
        nb_error_set(err, NB_ERR_ARG, "%s: no dense layer named '%s'; did you mean '%s'?", m->file,
                  layer, best);
    else
        nb_error_set(err, NB_ERR_ARG, "%s: no dense layer named '%s' (its dense layers: %s)", m->file,
                  layer, n_dense ? known : "none");
    return -1;
}

/* The offset of line:col (1-based) in the text, or len. */
static size_t text_offset(const nb_model_file *m, int line, int col)
{
    size_t i = 0;
    for (int l = 1; l < line && i < m->len; i++)
        if (m->text[i] == '\n')
            l++;
    return i + (size_t)(col > 0 ? col - 1 : 0) < m->len ? i + (size_t)(col > 0 ? col - 1 : 0)
                                                        : m->len;
}

/* The first "units: <integer>" within text [from, to): start and end of the
 * integer, false when there is none (units given through an alias). */
static bool find_units_value(const nb_model_file *m, size_t from, size_t to, size_t *s, size_t *e)
{
    const char *t = m->text;
    for (size_t i = from; i + 5 <= to; i++) {
        if (strncmp(t + i, "units", 5) != 0 ||
            (i > 0 && (isalnum((unsigned char)t[i - 1]) || t[i - 1] == '_')))
            continue;
        size_t j = i + 5;
        while (j < to && (t[j] == ' ' || t[j] == '"' || t[j] == '\''))
            j++;
        if (j >= to || t[j] != ':')
            continue;
        for (j++; j < to && (t[j] == ' ' || t[j] == '\t'); j++)
            ;
        *s = j;
        while (j < to && isdigit((unsigned char)t[j]))
            j++;
        *e = j;
        return *e > *s;
    }
    return false;
}

/* The text with node k's units value replaced by `units`: what weights
 * files store, so the saved model rebuilds at its grown width. */
static bool rewrite_units(nb_model_file *m, int k, int64_t units, nb_error *err)
{
    size_t from = text_offset(m, m->nodes[k].line, m->nodes[k].col);
    size_t to = k + 1 < m->n_nodes ? text_offset(m, m->nodes[k + 1].line, m->nodes[k + 1].col)
                                   : m->len;
    size_t s, e;
    if (!find_units_value(m, from, to, &s, &e)) {
        nb_error_set(err, NB_ERR_ARG, "%s: layer at line %d: cannot find its 'units: <number>' in "
                  "the text to rewrite", m->file, m->nodes[k].line);
        return false;
    }
    char num[32];
    int n = snprintf(num, sizeof num, "%lld", (long long)units);
    nb__yctx c = {.m = m, .err = err};
    char *text = nb__ypool_add(&c, m->len - (e - s) + (size_t)n + 1);
    if (!text)
        return false;
    memcpy(text, m->text, s);
    memcpy(text + s, num, (size_t)n);
    memcpy(text + s + n, m->text + e, m->len - e);
    m->len = m->len - (e - s) + (size_t)n;
    text[m->len] = '\0';
    m->text = text;
    return true;
}

nb_status nb_model_file_set_units(nb_model_file *m, const char *layer, int64_t units, nb_error *err)
{
    if (err)
        *err = (nb_error){.status = NB_OK};
    if (!m || !layer) {
        nb_error_set(err, NB_ERR_ARG, "set units: no model file or layer name (NULL)");
        return NB_ERR_ARG;
    }
    int k = find_dense(m, layer, err);
    if (k < 0)
        return NB_ERR_ARG;
    if (units < 1 || units > NB__YMAX_UNITS) {
        nb_error_set(err, NB_ERR_ARG, "%s: layer '%s': units %lld is outside [1, %lld]", m->file, layer,
                  (long long)units, (long long)NB__YMAX_UNITS);
        return NB_ERR_ARG;
    }
    int64_t old = m->nodes[k].a.units;
    char *old_text = m->text;
    size_t old_len = m->len;
    m->nodes[k].a.units = units;
    nb__yctx c = {.m = m, .err = err};
    if (!rewrite_units(m, k, units, err) || !nb__yprobe(&c)) {
        nb_status st = err && err->status != NB_OK ? err->status : NB_ERR_ARG;
        m->nodes[k].a.units = old; /* the file as it was */
        m->text = old_text;
        m->len = old_len;
        nb__yctx back = {.m = m};
        nb__yprobe(&back);
        return st;
    }
    return NB_OK;
}

int64_t nb_model_file_units(const nb_model_file *m, const char *layer, nb_activation *activation,
                            nb_error *err)
{
    if (!m || !layer) {
        nb_error_set(err, NB_ERR_ARG, "units: no model file or layer name (NULL)");
        return -1;
    }
    int k = find_dense(m, layer, err);
    if (k < 0)
        return -1;
    if (activation)
        *activation = m->nodes[k].a.activation;
    return m->nodes[k].a.units;
}
