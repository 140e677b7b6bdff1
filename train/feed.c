/*
 * feed.c — the inputs of a model after its first (nb_model_io.extra), fed
 * from a dataset's inputs after x (nb_dataset.extra), and the checks that
 * make every input's data fit its model input before a pass begins: each
 * model input has data, of its shape, and no data is left unused; and an
 * input read as row numbers of a table (an embedding's token ids) holds
 * whole numbers inside the table, named by example, position and value.
 * Input j of the model is fed from the dataset's input of its node's name
 * (the j-th when the node has no name). The trainer (trainer_batch.c) keeps one
 * nb__feed per trainer: staging room, allocated once.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "train_internal.h"

/* Values of one example of a model input [batch, shape…]. */
static int64_t per_example(const nb_node *in)
{
    nb_shape s = nb_node_shape(in);
    int64_t n = 1;
    for (int i = 1; i < s.rank; i++)
        n *= s.dim[i];
    return n;
}

/* One example's shape of a model input, without the batch axis. */
static nb_shape example_shape(const nb_node *in)
{
    nb_shape s = nb_node_shape(in), e = {.rank = s.rank - 1};
    for (int i = 1; i < s.rank; i++)
        e.dim[i - 1] = s.dim[i];
    return e;
}

/* What messages call model input j (−1: x). */
static const char *input_name(const nb_model_io *io, int j)
{
    const char *n = nb_node_name(j < 0 ? io->x : io->extra[j]);
    return n ? n : j < 0 ? "x" : "(unnamed)";
}

int nb__feed_find(const nb_model_io *io, int j, const nb_dataset *ds)
{
    const char *name = nb_node_name(io->extra[j]);
    if (!name)
        return j < ds->n_extra ? j : -1;
    for (int k = 0; k < ds->n_extra; k++)
        if (!strcmp(ds->extra[k].name, name))
            return k;
    return -1;
}

/* The dataset's inputs, for a message: "x and 'side'", "only x". */
static void list_inputs(const nb_dataset *ds, char *out, size_t size)
{
    int at = snprintf(out, size, ds->n_extra ? "x" : "only x");
    for (int k = 0; k < ds->n_extra && at >= 0 && (size_t)at < size; k++)
        at += snprintf(out + at, size - (size_t)at, "%s'%s'",
                       k == ds->n_extra - 1 ? " and " : ", ", ds->extra[k].name);
}

nb_status nb__feed_check_io(const nb_model_io *io, const nb_model_io *first, int64_t batch,
                            char *msg, size_t size)
{
    char a[128], b[128];
    if (io->n_extra < 0 || io->n_extra > NB_MAX_INPUTS - 1)
        return snprintf(msg, size, "train: the model gave n_extra %d inputs after x (0 to %d)",
                        io->n_extra, NB_MAX_INPUTS - 1), NB_ERR_ARG;
    for (int j = 0; j < io->n_extra; j++) {
        nb_shape s = io->extra[j] ? nb_node_shape(io->extra[j]) : (nb_shape){0};
        if (!io->extra[j])
            return snprintf(msg, size, "train: the model left its input %d after x (extra[%d]) "
                            "unset", j, j), NB_ERR_ARG;
        if (s.rank < 1 || s.dim[0] != batch)
            return snprintf(msg, size, "train: the model's input '%s' is %s; it needs the batch "
                            "(%lld) as its first axis", input_name(io, j),
                            nb_shape_format(s, a, sizeof a), (long long)batch), NB_ERR_SHAPE;
        if (first && (first->n_extra != io->n_extra ||
                      !nb_shape_equal(example_shape(io->extra[j]), example_shape(first->extra[j]))))
            return snprintf(msg, size, "train: the model's input '%s' is %s at batch %lld but "
                            "%s at the first build", input_name(io, j),
                            nb_shape_format(s, a, sizeof a), (long long)batch,
                            nb_shape_format(nb_node_shape(first->extra[j]), b, sizeof b)),
                   NB_ERR_SHAPE;
    }
    return NB_OK;
}

/* ---------------------------------------------------------------- token ids */

/* The rows of the smallest table that a gather in g reads with `in` as its
 * indices (directly), its label in table; 0 when no gather does. */
static int64_t vocab_of(const nb_graph *g, const nb_node *in, char *table, size_t size)
{
    int64_t rows = 0;
    for (int i = 0, n = nb_graph_node_count(g); i < n; i++) {
        const nb_node *k = nb_graph_node(g, i);
        if (strcmp(nb_node_op(k), "gather") || nb_node_input(k, 1) != in)
            continue;
        int64_t r = nb_node_shape(nb_node_input(k, 0)).dim[0];
        if (rows == 0 || r < rows) {
            rows = r;
            nb_node_label(nb_node_input(k, 0), table, size);
        }
    }
    return rows;
}

/* When v's values are ids (v->x_ids) or model input `in` indexes a table,
 * refuses the first that is not a whole number in 0…rows−1 (rows: the
 * table's, else 2^24, where float ids stop being exact). */
static nb_status ids_ok(const nb_graph *g, const nb_node *in, const char *name,
                        const nb_dataset *v, const char *which, char *msg, size_t size)
{
    char table[200] = "";
    int64_t rows = vocab_of(g, in, table, sizeof table), numel = nb_shape_numel(v->shape);
    if (!v->x_ids && rows == 0)
        return NB_OK;
    double limit = rows ? (double)rows : 16777216.0;
    for (int64_t i = 0, total = v->n * numel; i < total; i++) {
        double x = nb__dataset_value(v, i);
        if (x >= 0 && x < limit && x == floor(x))
            continue;
        long long e = (long long)(i / numel), at = (long long)(i % numel);
        if (!(x == floor(x)))
            return snprintf(msg, size, "train: %s example %lld of input '%s' holds %g at "
                            "position %lld, not a whole number: token ids are integers 0…%lld",
                            which, e, name, isnan(x) ? NAN : x, at, (long long)limit - 1),
                   NB_ERR_ARG;
        if (rows)
            return snprintf(msg, size, "train: %s example %lld of input '%s' holds id %g at "
                            "position %lld, outside the vocabulary 0…%lld of '%s'", which, e,
                            name, x, at, (long long)rows - 1, table), NB_ERR_ARG;
        return snprintf(msg, size, "train: %s example %lld of input '%s' holds id %g at position "
                        "%lld, outside 0…%lld", which, e, name, x, at, (long long)limit - 1),
               NB_ERR_ARG;
    }
    return NB_OK;
}

/* ---------------------------------------------------------------- the data fits */

/* Every input after x of the model has data of its shape in ds, and every
 * input of ds feeds one. */
static nb_status inputs_match(const nb_model_io *io, const nb_dataset *ds, const char *which,
                              char *msg, size_t size)
{
    char a[128], b[160], list[400];
    bool used[NB_MAX_INPUTS] = {false};
    for (int j = 0; j < io->n_extra; j++) {
        int k = nb__feed_find(io, j, ds);
        nb_shape want = example_shape(io->extra[j]);
        if (k < 0) {
            list_inputs(ds, list, sizeof list);
            return snprintf(msg, size, "train: the model's input '%s' %s has no data in the %s "
                            "set (it holds %s)", input_name(io, j),
                            nb_shape_format(want, a, sizeof a), which, list), NB_ERR_ARG;
        }
        if (!nb_shape_equal(ds->extra[k].shape, want))
            return snprintf(msg, size, "train: the %s set's input '%s' holds examples %s; the "
                            "model's input '%s' takes %s", which, ds->extra[k].name,
                            nb_shape_format(ds->extra[k].shape, a, sizeof a), input_name(io, j),
                            nb_shape_format(want, b, sizeof b)), NB_ERR_SHAPE;
        used[k] = true;
    }
    for (int k = 0; k < ds->n_extra && k < NB_MAX_INPUTS; k++)
        if (!used[k])
            return snprintf(msg, size, "train: the %s set's input '%s' feeds no input of the "
                            "model (it has %d after x)", which, ds->extra[k].name, io->n_extra),
                   NB_ERR_ARG;
    return NB_OK;
}

nb_status nb__feed_check(const nb_graph *g, const nb_model_io *io, const nb_dataset *ds,
                         const char *which, char *msg, size_t size)
{
    nb_status st = inputs_match(io, ds, which, msg, size);
    if (st == NB_OK)
        st = ids_ok(g, io->x, input_name(io, -1), ds, which, msg, size);
    for (int j = 0; st == NB_OK && j < io->n_extra; j++) {
        nb_dataset v = nb__dataset_input_view(ds, nb__feed_find(io, j, ds));
        st = ids_ok(g, io->extra[j], input_name(io, j), &v, which, msg, size);
    }
    return st;
}

/* ---------------------------------------------------------------- feeding */

nb_status nb__feed_room(nb__feed *f, const nb_model_io *io, int64_t batch)
{
    for (int j = 0; j < io->n_extra; j++) {
        float *b = nb_realloc(f->buf[j], (size_t)(batch * per_example(io->extra[j])) * sizeof *b);
        if (!b)
            return NB_ERR_NOMEM;
        f->buf[j] = b;
    }
    return NB_OK;
}

nb_status nb__feed_set(nb__feed *f, nb_runtime *rt, const nb_model_io *io,
                       const nb_model_io *first, const nb_dataset *ds, const int64_t *idx,
                       int64_t start, int64_t count, nb_error *err)
{
    for (int j = 0; j < io->n_extra; j++) {
        int k = nb__feed_find(first, j, ds); /* by the first build's names (later ones are
                                                made unique: side_2) */
        if (k < 0)
            return nb_error_set(err, NB_ERR_ARG, "the model's input '%s' has no data",
                                input_name(first, j));
        nb_status st = nb_dataset_gather_input(ds, k, idx, start, count, f->buf[j], err);
        if (st != NB_OK)
            return st;
        if ((st = nb_runtime_set_input(rt, io->extra[j], f->buf[j])) != NB_OK)
            return nb_error_set(err, st, "%s", nb_runtime_error(rt));
    }
    return NB_OK;
}

void nb__feed_free(nb__feed *f)
{
    for (int j = 0; j < NB_MAX_INPUTS - 1; j++)
        nb_free(f->buf[j]);
    *f = (nb__feed){0};
}
