/*
 * trainer_build.c — the model's builds. The user's model function is run
 * once per (batch size, mode) the trainer needs, into the trainer's one
 * graph: the first build makes the parameters, later ones reuse them by
 * name. Each build's nodes are checked against the data (x, y, a scalar
 * loss) and compiled into a runtime: a training build computes the loss,
 * the output, every trainable parameter's gradient and the state updates;
 * an inference build the loss and the output. Builds are made before a
 * pass (nb__trainer_prepare), so no step pays for building.
 */

#include "trainer_internal.h"

/* ---------------------------------------------------------------- building */

/* The callback's nodes must be there and fit the data: x [batch, shape…],
 * y [batch] or [batch, y_width], a scalar loss. */
static nb_status check_io(nb_trainer *t, const instance *in)
{
    const nb_model_io *io = &in->io;
    if (!io->x || !io->y || !io->output || !io->loss)
        return nb__trainer_failf(t, NB_ERR_ARG, "train: the model left %s unset",
                                 !io->x        ? "x"
                                 : !io->y      ? "y"
                                 : !io->output ? "output"
                                               : "loss");
    nb_shape xs = nb_node_shape(io->x), ys = nb_node_shape(io->y);
    bool x_ok = xs.rank == t->shape.rank + 1 && xs.dim[0] == in->batch;
    for (int i = 0; x_ok && i < t->shape.rank; i++)
        x_ok = xs.dim[i + 1] == t->shape.dim[i];
    bool y_ok = ys.rank >= 1 && ys.dim[0] == in->batch && nb_shape_numel(ys) == in->batch * t->y_width;
    char a[128], b[128];
    if (!x_ok)
        return nb__trainer_failf(t, NB_ERR_SHAPE,
                                 "train: model input x is %s; the data needs [%lld, …%s]",
                                 nb_shape_format(xs, a, sizeof a), (long long)in->batch,
                                 nb_shape_format(t->shape, b, sizeof b));
    if (!y_ok)
        return nb__trainer_failf(t, NB_ERR_SHAPE,
                                 "train: model targets y are %s; the data has %lld per example",
                                 nb_shape_format(ys, a, sizeof a), (long long)t->y_width);
    if (nb_shape_numel(nb_node_shape(io->loss)) != 1)
        return nb__trainer_failf(t, NB_ERR_SHAPE, "train: the loss is %s, not a scalar",
                                 nb_shape_format(nb_node_shape(io->loss), a, sizeof a));
    char m[sizeof t->err];
    nb_status st = nb__feed_check_io(io, t->n_inst ? &t->inst[0].io : NULL, in->batch, m, sizeof m);
    return st == NB_OK ? NB_OK : nb__trainer_failf(t, st, "%s", m);
}

/* The trainable parameters after the first build: what the optimiser owns. */
static nb_status collect_params(nb_trainer *t)
{
    int n = nb_graph_num_params(t->g);
    t->params = nb_malloc((size_t)(n ? n : 1) * sizeof *t->params);
    t->param_numel = nb_malloc((size_t)(n ? n : 1) * sizeof *t->param_numel);
    if (!t->params || !t->param_numel)
        return nb__trainer_failf(t, NB_ERR_NOMEM,
                                 "train: out of memory for the list of %d parameters", n);
    for (int i = 0; i < n; i++)
        if (nb_param_trainable(nb_graph_param(t->g, i))) {
            t->param_numel[t->n_params] = nb_shape_numel(nb_node_shape(nb_graph_param(t->g, i)));
            t->params[t->n_params++] = nb_graph_param(t->g, i);
        }
    if (t->n_params == 0)
        return nb__trainer_failf(t, NB_ERR_ARG, "train: the model has no trainable parameters");
    return NB_OK;
}

/* Outputs of a training runtime: loss, output, gradients, update values.
 * The gradients may be left as outer products (nb_runtime_new_outer): the
 * update reads their vectors (nb__trainer_locate_grads). A data-parallel
 * rank's large dense weight gradients xᵀ·dz are left as their factors
 * (nb_runtime_new_factored): dist_sum.c forms them, or on one host forms
 * only the rank's piece of the weights over every rank's rows. */
static nb_status compile_training(nb_trainer *t, instance *in)
{
    nb_graph *g = t->g;
    in->grads = nb_malloc((size_t)t->n_params * sizeof *in->grads);
    int n_out = 2 + t->n_params + in->n_updates;
    nb_node **outs = nb_malloc((size_t)n_out * sizeof *outs);
    bool *outer = nb_malloc((size_t)(2 * n_out) * sizeof *outer), *factored = outer + n_out;
    if (!in->grads || !outs || !outer) {
        nb_free(outs);
        nb_free(outer);
        return nb__trainer_failf(t, NB_ERR_NOMEM,
                                 "train: out of memory for the lists of %d gradients and "
                                 "%d outputs",
                                 t->n_params, n_out);
    }
    nb_status st = nb_grad(g, in->io.loss, t->params, t->n_params, in->grads);
    if (st == NB_OK) {
        outs[0] = in->io.loss;
        outs[1] = in->io.output;
        int at = 2;
        for (int i = 0; i < t->n_params; i++)
            outs[at++] = in->grads[i];
        for (int u = 0; u < in->n_updates; u++)
            nb_graph_update(g, in->first_update + u, NULL, &outs[at++]);
        for (int i = 0; i < at; i++)
            outer[i] = i >= 2 && i < 2 + t->n_params;
        for (int i = 0; i < at; i++) /* a rank forms these itself (dist_sum.c) */
            factored[i] = t->dist && outer[i] && t->param_numel[i - 2] >= NB__DSUM_FACTOR_MIN;
        in->rt = nb_runtime_new_factored(g, outs, at, outer, factored);
    }
    nb_free(outs);
    nb_free(outer);
    if (st != NB_OK || !in->rt)
        return nb__trainer_failf(t, st != NB_OK ? st : nb_graph_status(g), "train: %s",
                                 nb_graph_error(g));
    return NB_OK;
}

/* Builds the model for (batch, training) through the callback and compiles
 * its runtime; the first build makes the parameters, later ones reuse them. */
static instance *build_instance(nb_trainer *t, int64_t batch, bool training)
{
    if (t->n_inst == MAX_INSTANCES) {
        nb__trainer_failf(t, NB_ERR_STATE, "train: more than %d model builds", MAX_INSTANCES);
        return NULL;
    }
    instance *in = &t->inst[t->n_inst];
    *in = (instance){.batch = batch, .training = training};
    nb_graph *g = t->g;
    nb_graph_set_training(g, training);
    nb_graph_set_reuse(g, t->n_inst > 0);
    in->first_update = nb_graph_num_updates(g);
    nb_status st = t->build(g, batch, &in->io, t->ud);
    in->n_updates = nb_graph_num_updates(g) - in->first_update;
    if (st != NB_OK || nb_graph_status(g) != NB_OK) {
        st = st != NB_OK ? st : nb_graph_status(g);
        nb__trainer_failf(t, st, "train: building the model (batch %lld): %s", (long long)batch,
                          nb_graph_error(g));
        /* The model built at the full batch, so a shorter one it cannot train
         * on (batch norm's one value per channel) is skipped, not fatal. */
        if (!training || t->n_inst == 0 || batch >= t->o.batch || st == NB_ERR_NOMEM)
            return NULL;
        nb_graph_clear_error(g);
        in->skip = true;
        t->n_inst++;
    }
    if (in->skip)
        return in;
    if (check_io(t, in) != NB_OK || (t->n_inst == 0 && collect_params(t) != NB_OK))
        return NULL;
    nb_node *eval_outs[] = {in->io.loss, in->io.output};
    if (training ? compile_training(t, in) != NB_OK : !(in->rt = nb_runtime_new(g, eval_outs, 2))) {
        if (!training)
            nb__trainer_failf(t, nb_graph_status(g), "train: %s", nb_graph_error(g));
        nb_free(in->grads);
        return NULL;
    }
    t->n_inst++;
    return in;
}

/* The build for (batch, training), made on first use. */
instance *nb__trainer_instance(nb_trainer *t, int64_t batch, bool training)
{
    for (int i = 0; i < t->n_inst; i++)
        if (t->inst[i].batch == batch && t->inst[i].training == training)
            return &t->inst[i];
    return build_instance(t, batch, training);
}

/* ---------------------------------------------------------------- before a pass */

/* The builds a pass over n examples in batches of `batch` needs, made
 * before the pass so no step pays for building. */
nb_status nb__trainer_prepare(nb_trainer *t, int64_t n, int64_t batch, bool training)
{
    int64_t full = batch < n ? batch : n, tail = n % full;
    if (!nb__trainer_instance(t, full, training) ||
        (tail && !nb__trainer_instance(t, tail, training)))
        return nb__trainer_status(t);
    return nb__trainer_stage_room(t, full);
}

/* The builds for this rank's parts of the global batches of a pass over
 * n examples (the full batch's part and the short last batch's). */
nb_status nb__trainer_prepare_shares(nb_trainer *t, int64_t n)
{
    int64_t full = t->o.batch < n ? t->o.batch : n, at, most = 1;
    int64_t parts[2] = {nb__trainer_share(t, full, &at), nb__trainer_share(t, n % full, &at)};
    for (int i = 0; i < 2; i++) {
        if (parts[i] > 0 && !nb__trainer_instance(t, parts[i], true))
            return nb__trainer_status(t);
        most = parts[i] > most ? parts[i] : most;
    }
    return nb__trainer_stage_room(t, most);
}
