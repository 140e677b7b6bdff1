/*
 * model.c — what most subcommands do first: load a model (a YAML file, the
 * YAML stored in a weights or checkpoint file, or the built-in LeNet-5),
 * load the data its `data:` section names, and build it into a graph.
 * Every failure prints one line and returns CLI_FAIL.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_internal.h"

/* ---------------------------------------------------------------- models */

/* Whether path is to be read as an HDF5 file: by its name (.h5, .hdf5:
 * a damaged weights file is then called one, not read as YAML), else by
 * its signature, looked at only in a regular file (a pipe such as
 * /dev/stdin would lose what a look reads). */
bool cli_is_hdf5(const char *path)
{
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    size_t n = strlen(path);
    if ((n > 3 && !strcmp(path + n - 3, ".h5")) || (n > 5 && !strcmp(path + n - 5, ".hdf5")))
        return true;
    unsigned char head[8] = {0};
    struct stat st;
    FILE *f = stat(path, &st) == 0 && S_ISREG(st.st_mode) ? fopen(path, "rb") : NULL;
    size_t got = f ? fread(head, 1, sizeof head, f) : 0;
    if (f)
        fclose(f);
    return got == sizeof head && memcmp(head, sig, sizeof sig) == 0;
}

/* The message of a failed load, with the file named when the library's
 * message does not already name it. */
static int load_failed(const char *cmd, const char *path, const nb_error *err)
{
    if (strstr(err->message, path))
        return cli_error(cmd, CLI_FAIL, "%s", err->message);
    return cli_error(cmd, CLI_FAIL, "%s: %s", path, err->message[0] ? err->message : "cannot load");
}

char *cli_default_model_text(size_t *len)
{
    size_t n = 0;
    for (int i = 0; cli_default_model_lines[i]; i++)
        n += strlen(cli_default_model_lines[i]);
    char *text = nb_malloc(n + 1);
    if (!text)
        return NULL;
    *len = 0;
    for (int i = 0; cli_default_model_lines[i]; i++) {
        size_t k = strlen(cli_default_model_lines[i]);
        memcpy(text + *len, cli_default_model_lines[i], k);
        *len += k;
    }
    text[*len] = '\0';
    return text;
}

static int load_builtin(const char *cmd, cli_model *out)
{
    nb_error err = {0};
    size_t len = 0;
    out->text = cli_default_model_text(&len);
    out->source = cli_default_model_name;
    if (!out->text)
        return cli_error(cmd, CLI_FAIL, "out of memory");
    out->m = nb_model_file_parse(out->text, len, cli_default_model_name, &err);
    return out->m ? CLI_OK : load_failed(cmd, cli_default_model_name, &err);
}

static int load_from_weights(const char *cmd, const char *path, cli_model *out)
{
    nb_error err = {0};
    out->from_weights = true;
    out->text = nb_weights_model_yaml(path, &err);
    if (!out->text)
        return load_failed(cmd, path, &err);
    char name[1100];
    snprintf(name, sizeof name, "%s:model_yaml", path);
    out->m = nb_model_file_parse(out->text, strlen(out->text), name, &err);
    return out->m ? CLI_OK : load_failed(cmd, path, &err);
}

int cli_model_load(const char *cmd, const char *path, cli_model *out)
{
    *out = (cli_model){.source = path};
    nb_error err = {0};
    int rc;
    if (!path)
        rc = load_builtin(cmd, out);
    else if (cli_is_hdf5(path))
        rc = load_from_weights(cmd, path, out);
    else
        rc = (out->m = nb_model_file_load(path, &err)) ? CLI_OK : load_failed(cmd, path, &err);
    if (rc != CLI_OK)
        cli_model_free(out);
    return rc;
}

void cli_model_free(cli_model *cm)
{
    nb_model_file_free(cm->m);
    nb_free(cm->text);
    *cm = (cli_model){0};
}

/* ---------------------------------------------------------------- data */

int cli_model_set_data(const char *cmd, cli_model *cm, const char *dir)
{
    nb_error err = {0};
    if (!dir || nb_model_file_set_data_dir(cm->m, dir, &err) == NB_OK)
        return CLI_OK;
    return cli_error(cmd, CLI_FAIL, "--data %s: %s", dir, err.message);
}

int cli_model_set_sources(const char *cmd, cli_model *cm, const char *spec)
{
    cm->n_sources = 0;
    if (!spec)
        return CLI_OK;
    if (strlen(spec) >= sizeof cm->sources_text)
        return cli_usage(cmd, "--inputs is too long (at most %zu characters)",
                         sizeof cm->sources_text - 1);
    snprintf(cm->sources_text, sizeof cm->sources_text, "%s", spec);
    for (char *at = cm->sources_text, *next; at; at = next) {
        next = strchr(at, ',');
        if (next)
            *next++ = '\0';
        char *eq = strchr(at, '=');
        if (!eq || eq == at || !eq[1])
            return cli_usage(cmd, "--inputs wants NAME=DATASET[,NAME=DATASET...] (e.g. "
                             "side=S,tokens=T), not '%s'", spec);
        if (cm->n_sources == NB_MAX_INPUTS)
            return cli_usage(cmd, "--inputs names more than %d inputs", NB_MAX_INPUTS);
        *eq = '\0';
        cm->sources[cm->n_sources++] = (nb_input_source){.input = at, .dataset = eq + 1};
    }
    return CLI_OK;
}

int cli_feed_extra(const char *cmd, const cli_model *cm, nb_runtime *rt, const nb_model_io *io,
                   const nb_dataset *ds, int64_t at, int64_t count)
{
    nb_model_input in[NB_MAX_INPUTS];
    int n = nb_model_file_inputs(cm->m, in, NB_MAX_INPUTS);
    for (int j = 0; j < io->n_extra && j + 1 < n; j++) {
        nb_dataset_input *d = nb_dataset_find_input(ds, in[j + 1].name);
        if (!d)
            return cli_error(cmd, CLI_FAIL, "the data holds nothing for the model's input '%s'",
                             in[j + 1].name);
        nb_error err = {0};
        float *buf = nb_malloc((size_t)(count * nb_shape_numel(d->shape)) * sizeof *buf);
        nb_status st = buf ? nb_dataset_gather_input(ds, (int)(d - ds->extra), NULL, at, count,
                                                     buf, &err)
                           : nb_error_set(&err, NB_ERR_NOMEM, "out of memory for a batch");
        if (st == NB_OK && (st = nb_runtime_set_input(rt, io->extra[j], buf)) != NB_OK)
            nb_error_set(&err, st, "%s", cli_strip(nb_runtime_error(rt)));
        nb_free(buf);
        if (st != NB_OK)
            return cli_error(cmd, CLI_FAIL, "%s", err.message);
    }
    return CLI_OK;
}

/* The inputs after x of a data file fit the model's: "'f.h5' input 'side'
 * holds examples [4]; model 'm' takes [3]". */
static int extra_check(const char *cmd, const cli_model *cm, const nb_dataset *ds,
                       const char *what)
{
    nb_model_input in[NB_MAX_INPUTS];
    int n = nb_model_file_inputs(cm->m, in, NB_MAX_INPUTS);
    char a[128], b[128];
    for (int j = 1; j < n && j < NB_MAX_INPUTS; j++) {
        nb_dataset_input *d = nb_dataset_find_input(ds, in[j].name);
        if (d && !nb_shape_equal(d->shape, in[j].shape))
            return cli_error(cmd, CLI_FAIL, "%s: input '%s' holds examples %s; model '%s' "
                             "takes %s", what, in[j].name, nb_shape_format(d->shape, a, sizeof a),
                             nb_model_file_name(cm->m), nb_shape_format(in[j].shape, b, sizeof b));
    }
    return CLI_OK;
}

/* Keeps the first `limit` examples of *ds (when it has more). */
static int apply_limit(const char *cmd, nb_dataset **ds, int64_t limit)
{
    if (limit <= 0 || limit >= (*ds)->n)
        return CLI_OK;
    nb_error err = {0};
    nb_dataset *part = nb_dataset_slice(*ds, 0, limit, &err);
    nb_dataset_free(*ds);
    *ds = part;
    return part ? CLI_OK : cli_error(cmd, CLI_FAIL, "%s", err.message);
}

int cli_data_load(const char *cmd, const cli_model *cm, nb_dataset **train, nb_dataset **test,
                  int64_t limit)
{
    nb_error err = {0};
    nb_data_load_opts o = {.limit = limit, .allow_nonfinite = cm->allow_nonfinite,
                           .sources = cm->sources, .n_sources = cm->n_sources};
    if (nb_model_file_load_data(cm->m, train, test, o, &err) == NB_OK)
        return CLI_OK;
    if (!nb_model_file_data(cm->m).format) /* said with where the model came from */
        return cli_error(cmd, CLI_FAIL, "model '%s' (%s) has no data section to load",
                         nb_model_file_name(cm->m), cm->source);
    /* where the relative paths of a model stored in a weights file point */
    return cli_error(cmd, CLI_FAIL, "%s%s", err.message, cm->from_weights
                     ? " (relative data paths of a model stored in a weights file are taken "
                       "from the weights file's folder; --data DIR reads them from DIR)" : "");
}

int cli_data_check(const char *cmd, const cli_model *cm, const nb_dataset *ds, const char *what)
{
    nb_shape want = nb_model_file_input_shape(cm->m);
    int64_t y_width = nb_model_file_y_width(cm->m);
    if (nb_shape_equal(ds->shape, want) && ds->y_width == y_width)
        return extra_check(cmd, cm, ds, what);
    char a[128], b[128];
    return cli_error(cmd, CLI_FAIL,
                     "%s holds examples %s with %lld target(s) each; model '%s' takes %s with %lld",
                     what, nb_shape_format(ds->shape, a, sizeof a), (long long)ds->y_width,
                     nb_model_file_name(cm->m), nb_shape_format(want, b, sizeof b),
                     (long long)y_width);
}

int cli_input_load(const char *cmd, const cli_model *cm, const char *path, const char *x_name,
                   const char *y_name, bool need_y, int64_t limit, nb_dataset **out)
{
    nb_error err = {0};
    /* the model's inputs by name: --inputs first, then the data section's */
    nb_data_spec d = nb_model_file_data(cm->m);
    nb_input_source all[2 * NB_MAX_INPUTS];
    int n = 0;
    for (int i = 0; i < cm->n_sources; i++)
        all[n++] = cm->sources[i];
    for (int i = 0; i < d.n_inputs && i < NB_MAX_INPUTS; i++)
        all[n++] = d.inputs[i];
    nb_hdf5_data_opts o = {.x = x_name, .y = y_name, .no_targets = !need_y, .keep_bytes = true,
                           .allow_nonfinite = cm->allow_nonfinite, .model = cm->m,
                           .sources = all, .n_sources = n};
    *out = nb_hdf5_data_load(path, o, &err);
    if (!*out)
        return load_failed(cmd, path, &err);
    if (apply_limit(cmd, out, limit) != CLI_OK)
        return CLI_FAIL;
    /* bytes / the model's x_div, as in training; then the float form, since
     * predict and grad feed ->x whole or by offset */
    if (nb_model_file_scale(cm->m, *out, &err) != NB_OK || nb_dataset_to_float(*out, &err) != NB_OK) {
        nb_dataset_free(*out);
        *out = NULL;
        return cli_error(cmd, CLI_FAIL, "%s", err.message);
    }
    nb_shape want = nb_model_file_input_shape(cm->m);
    int64_t y_width = nb_model_file_y_width(cm->m);
    char what[1100], a[128], b[128];
    snprintf(what, sizeof what, "'%s'", path);
    if (nb_shape_equal((*out)->shape, want) && (!need_y || (*out)->y_width == y_width) &&
        extra_check(cmd, cm, *out, what) == CLI_OK)
        return CLI_OK;
    if (nb_shape_equal((*out)->shape, want) && (!need_y || (*out)->y_width == y_width)) {
        nb_dataset_free(*out); /* extra_check said why */
        *out = NULL;
        return CLI_FAIL;
    }
    int rc = need_y ? cli_data_check(cmd, cm, *out, what)
                    : cli_error(cmd, CLI_FAIL, "%s holds examples %s; model '%s' takes %s", what,
                                nb_shape_format((*out)->shape, a, sizeof a),
                                nb_model_file_name(cm->m), nb_shape_format(want, b, sizeof b));
    nb_dataset_free(*out);
    *out = NULL;
    return rc;
}

/* ---------------------------------------------------------------- weights */

int cli_weights_load(const char *cmd, const cli_model *cm, nb_graph *g, const char *path)
{
    nb_error err = {0}, again = {0};
    nb_weights_opts o = {.allow_nonfinite = cm->allow_nonfinite};
    if (nb_weights_load_with(g, path, o, &err) == NB_OK)
        return CLI_OK;
    /* the same file loads when NaN and ±inf are allowed: they are what stopped it */
    o.allow_nonfinite = true;
    bool nonfinite = !cm->allow_nonfinite && nb_weights_load_with(g, path, o, &again) == NB_OK;
    return cli_error(cmd, CLI_FAIL, "%s%s", err.message,
                     nonfinite ? " (--allow-nonfinite loads it anyway, to look at it)" : "");
}

void cli_inputs_warn(const char *cmd, const char *weights, const nb_dataset *ds)
{
    nb_input_range trained, given = nb_dataset_input_range(ds);
    nb_error err = {0};
    char msg[256];
    if (nb_weights_input_range(weights, &trained, &err) != NB_OK ||
        !nb_input_range_outside(&trained, &given, msg, sizeof msg))
        return;
    char hint[160] = "scale them as the training inputs were";
    if (trained.x_div > 0 && given.min >= 0 && given.max <= 255 && given.max > trained.max)
        snprintf(hint, sizeof hint, "if they are pixels 0…255, divide them by %g as training "
                 "did (or store them as uint8, which nabla divides by the model's x_div)",
                 (double)trained.x_div);
    fprintf(stderr, "nabla %s: warning: %s; %s\n", cmd, msg, hint);
}

/* ---------------------------------------------------------------- building */

int cli_build_model(const char *cmd, const cli_model *cm, int64_t batch, bool training,
                    cli_build *out)
{
    *out = (cli_build){0};
    out->g = nb_graph_new();
    if (!out->g)
        return cli_error(cmd, CLI_FAIL, "out of memory");
    nb_graph_seed(out->g, nb_model_file_train_opts(cm->m).seed);
    nb_graph_set_training(out->g, training);
    nb_status st = nb_model_file_build(out->g, batch, &out->io, cm->m);
    if (st == NB_OK && nb_graph_status(out->g) == NB_OK && out->io.x && out->io.output)
        return CLI_OK;
    int rc = cli_error(cmd, CLI_FAIL, "building model '%s': %s", nb_model_file_name(cm->m),
                       nb_graph_error(out->g)[0] ? nb_graph_error(out->g)
                                                 : "the model has no input or output");
    cli_build_free(out);
    return rc;
}

void cli_build_free(cli_build *b)
{
    nb_graph_free(b->g);
    *b = (cli_build){0};
}

nb_node **cli_trainable(nb_graph *g, int *n)
{
    int total = nb_graph_num_params(g);
    nb_node **ps = malloc((size_t)(total > 0 ? total : 1) * sizeof *ps);
    *n = 0;
    for (int i = 0; ps && i < total; i++)
        if (nb_param_trainable(nb_graph_param(g, i)))
            ps[(*n)++] = nb_graph_param(g, i);
    return ps;
}

/* ---------------------------------------------------------------- weights to start from */

int cli_start_from(const char *cmd, nb_trainer *t, const char *path, bool implicit, bool quiet)
{
    nb_error err = {0};
    if (nb_weights_load(nb_trainer_graph(t), path, &err) != NB_OK)
        return cli_error(cmd, CLI_FAIL, "%s: %s",
                         implicit ? "starting from the model file's weights" : "--init-weights",
                         cli_strip(err.message));
    if (!quiet)
        fprintf(stderr, "starting from the weights in %s%s\n", path,
                implicit ? " (--init-weights none: from the model's initialisers)" : "");
    return CLI_OK;
}
