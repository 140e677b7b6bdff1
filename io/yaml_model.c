/*
 * yaml_model.c — model files: YAML text → the description in io_internal.h
 * (the grammar is docs/model-format.md), and the nb_model_file_* calls.
 *
 * Three steps. yaml_tree.c reads the text into a small tree of scalars,
 * lists and mappings, each with its line and column, refusing what a model
 * file never needs and a hostile file could abuse (anchors, aliases, tags,
 * deep nesting, too many values, a second document, duplicate keys, more
 * than 1 MiB). Then the tree is read against the grammar with the typed
 * reads of yaml_values.c: the top level here, the graph in yaml_layers.c
 * (each op's keys from yaml_schema.c), the training sections in
 * yaml_train.c. Every key must be known where it stands (else "did you
 * mean"), every value of the right type and range, names unique, a node
 * may read only inputs and nodes above it. Last, the model is built once
 * at batch 2 into a scratch graph whose allocator stops at a budget
 * (yaml_build.c): that checks the shapes fit, with the failing layer's
 * line, and measures the targets' width. A layer's width is rewritten in
 * yaml_units.c.
 *
 * Every message reads "file:line:column: what", lines and columns 1-based.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io_internal.h"
#include "yaml_sections.h"

/* ================================================================ the top level */

static const char *const top_keys[] = {"nabla", "name", "input", "layers", "nodes", "output", "loss",
                                       "optimizer", "schedule", "clip_norm", "train", "data",
                                       "x_div", NULL};

/* nabla: 1, first of all. */
static bool parse_version(nb__yctx *c, const nb__yv *root)
{
    const nb__yv *v = nb__yget(root, "nabla");
    int64_t version = 0;
    if (!v)
        return nb__yfail(c, NB_ERR_ARG, root->line, root->col, "key 'nabla' is missing at the top "
                         "level: a model file starts with the format version, 'nabla: 1'");
    if (!nb__yto_int(c, v, "nabla", "at the top level", 0, INT64_MAX, &version))
        return false;
    if (version != 1)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "format version nabla: %lld is not "
                         "supported; this nabla reads version 1", (long long)version);
    return true;
}

/* The model's name: name:, else the file's name without folder and extension. */
static bool parse_name(nb__yctx *c, const nb__yv *root)
{
    const nb__yv *v = nb__yget(root, "name");
    if (v)
        return nb__yto_name(c, v, "name", "at the top level", &c->m->name);
    const char *file = c->m->file, *slash = strrchr(file, '/');
    char base[NB__YAML_NAME_MAX];
    snprintf(base, sizeof base, "%s", slash ? slash + 1 : file);
    char *dot = strchr(base, '.');
    if (dot && dot != base)
        *dot = '\0';
    return (c->m->name = nb__ypool_str(c, base)) != NULL;
}

static bool parse_model(nb__yctx *c, const nb__yv *root)
{
    nb_model_file *m = c->m;
    if (!root)
        return nb__yfail(c, NB_ERR_ARG, 0, 0,
                         "the file is empty; a model file starts with 'nabla: 1'");
    if (root->kind != NB__YV_MAP) {
        char b[80];
        return nb__yfail(c, NB_ERR_ARG, root->line, root->col, "the top level must be a mapping "
                         "(nabla: 1, input: ..., layers: ...), not %s",
                         nb__ygot(root, b, sizeof b));
    }
    const nb__yv *v;
    m->train = nb__ytrain_defaults();
    m->x_div = 255;
    if (!nb__ycheck_keys(c, root, "at the top level", top_keys, NULL) || !parse_version(c, root) ||
        !parse_name(c, root))
        return false;
    if (!(v = nb__yget(root, "input")))
        return nb__yfail(c, NB_ERR_ARG, root->line, root->col, "key 'input' is missing at the top "
                         "level (e.g. input: {x: [1, 28, 28]})");
    return nb__yparse_inputs(c, v) && nb__yparse_body(c, root) &&
           nb__yparse_output(c, nb__yget(root, "output"), "output", "at the top level", &m->output) &&
           nb__yparse_loss(c, nb__yget(root, "loss")) &&
           (!(v = nb__yget(root, "optimizer")) || nb__yparse_optimizer(c, v, &m->train.optimizer)) &&
           (!(v = nb__yget(root, "schedule")) || nb__yparse_schedule(c, v, &m->train.schedule)) &&
           (!(v = nb__yget(root, "clip_norm")) || nb__yparse_clip(c, v, &m->train.clip_norm)) &&
           (!(v = nb__yget(root, "train")) || nb__yparse_train(c, v, &m->train)) &&
           (!(v = nb__yget(root, "data")) || nb__yparse_data(c, v)) &&
           (!(v = nb__yget(root, "x_div")) || nb__yparse_x_div(c, v, &m->x_div));
}

/* ================================================================ the public calls */

static void set_error(nb_error *err, nb_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void set_error(nb_error *err, nb_status st, const char *fmt, ...)
{
    if (!err)
        return;
    err->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

/* The tree is read before the text is copied: the reader's 1 MiB bound
 * refuses an oversized len before anything reads or allocates that much. */
nb_model_file *nb_model_file_parse(const char *text, size_t len, const char *filename,
                                   nb_error *err)
{
    if (err)
        *err = (nb_error){.status = NB_OK};
    nb_model_file *m = nb_calloc(1, sizeof *m);
    if (!m) {
        set_error(err, NB_ERR_NOMEM, "%s: out of memory for the model file",
                  filename ? filename : "model");
        return NULL;
    }
    nb__yctx c = {.m = m, .err = err};
    nb__yv *root = NULL;
    nb__yerror e;
    m->file = nb__ypool_str(&c, filename ? filename : "model");
    if (m->file && !text)
        nb__yfail(&c, NB_ERR_ARG, 0, 0, "no text (NULL)");
    else if (m->file && nb__yread_tree(text, len, &root, &e) != NB_OK)
        nb__yfail(&c, e.status, e.line, e.col, "%s", e.message);
    if (!c.failed && (m->text = nb__ypool_add(&c, len + 1))) {
        memcpy(m->text, text, len);
        m->len = len;
        if (parse_model(&c, root))
            nb__yprobe(&c);
    }
    nb__yv_free(root);
    if (c.failed) {
        nb_model_file_free(m);
        return NULL;
    }
    return m;
}

nb_model_file *nb_model_file_load(const char *path, nb_error *err)
{
    if (!path) {
        set_error(err, NB_ERR_ARG, "model file: no path (NULL)");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_error(err, NB_ERR_ARG, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = nb_malloc(NB__YAML_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, NB__YAML_MAX_BYTES + 1, f) : 0;
    int e = ferror(f) ? errno : 0;
    fclose(f);
    nb_model_file *m = NULL;
    if (!buf)
        set_error(err, NB_ERR_NOMEM, "%s: out of memory for a 1 MiB buffer to read it into", path);
    else if (e)
        set_error(err, NB_ERR_ARG, "%s: cannot read: %s", path, strerror(e));
    else if (n > NB__YAML_MAX_BYTES)
        set_error(err, NB_ERR_ARG, "%s: the file is larger than 1 MiB; a model file is a short "
                  "YAML text", path);
    else
        m = nb_model_file_parse(buf, n, path, err);
    nb_free(buf);
    return m;
}

void nb_model_file_free(nb_model_file *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_pool; i++)
        nb_free(m->pool[i]);
    nb_free(m->pool);
    nb_free(m);
}

const char *nb_model_file_name(const nb_model_file *m)
{
    return m ? m->name : NULL;
}

const char *nb_model_file_text(const nb_model_file *m)
{
    return m ? m->text : NULL;
}

nb_shape nb_model_file_input_shape(const nb_model_file *m)
{
    return m && m->n_inputs ? m->inputs[0].shape : (nb_shape){0};
}

int64_t nb_model_file_y_width(const nb_model_file *m)
{
    return m ? m->y_width : 0;
}

nb_train_opts nb_model_file_train_opts(const nb_model_file *m)
{
    return m ? m->train : nb__ytrain_defaults();
}

bool nb_model_file_cg(const nb_model_file *m, nb_cg_opts *o)
{
    if (!m || !m->cg)
        return false;
    if (o) {
        *o = m->cg_opts;
        o->epochs = m->train.epochs;
        o->seed = m->train.seed;
    }
    return true;
}

nb_data_spec nb_model_file_data(const nb_model_file *m)
{
    return m ? m->data : (nb_data_spec){0};
}
