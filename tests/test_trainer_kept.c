/*
 * test_trainer_kept.c — what the trainer keeps from one step to the next
 * instead of asking the runtime again: where each gradient lies
 * (nb__trainer_locate_grads, train/trainer_batch.c), valid while the
 * runtime's binding stays. Internal: it moves a gradient of the trainer's
 * own runtime (nb_runtime_place_output, as the data-parallel sums do) and
 * links the static library to reach it.
 */
#include <string.h>

#include "helpers.h"
#include "../train/trainer_internal.h"

/* XOR 2-2-1 as bench/workloads builds it. */
static nb_status build_xor(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 2));
    io->y = nb_input(g, "y", NB_SHAPE(batch, 1));
    nb_node *h = nb_dense(g, io->x, (nb_dense_opts){.units = 2, .activation = NB_ACT_TANH});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 1, .activation = NB_ACT_SIGMOID});
    nb_node *d = nb_sub(g, io->output, io->y);
    io->loss = nb_mean(g, nb_mul(g, d, d), NULL, 0, false);
    return nb_graph_status(g);
}

static nb_trainer *xor_trainer(void)
{
    nb_train_opts o = {.batch = 4, .epochs = 1, .seed = 7,
                       .optimizer = {.kind = NB_OPT_SGD, .lr = 0.5f}};
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(build_xor, NULL, NB_SHAPE(2), 1, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    return t;
}

/* Every parameter of a's graph equals b's, bit for bit. */
static void same_params(nb_trainer *a, nb_trainer *b, int step)
{
    nb_graph *ga = nb_trainer_graph(a), *gb = nb_trainer_graph(b);
    cr_assert_eq(nb_graph_num_params(ga), nb_graph_num_params(gb));
    for (int i = 0; i < nb_graph_num_params(ga); i++) {
        nb_node *p = nb_graph_param(ga, i), *q = nb_graph_param(gb, i);
        size_t bytes = (size_t)nb_shape_numel(nb_node_shape(p)) * sizeof(float);
        cr_assert(!memcmp(nb_param_data(p), nb_param_data(q), bytes),
                  "step %d: parameter %d differs", step, i);
    }
}

/* Two trainers step alike; then one's runtime writes a weight gradient
 * into the caller's memory from its next run on. Its steps must read the
 * gradient there (the binding moved), and so stay equal to the other's. */
Test(trainer_kept, gradients_followed_when_the_runtime_moves_them)
{
    static const float x[] = {0, 0, 0, 1, 1, 0, 1, 1}, y[] = {0, 1, 1, 0};
    nb_trainer *a = xor_trainer(), *b = xor_trainer();
    double la, lb;
    for (int s = 0; s < 3; s++) {
        cr_assert_eq(nb_trainer_step(a, x, y, 4, &la), NB_OK, "%s", nb_trainer_error(a));
        cr_assert_eq(nb_trainer_step(b, x, y, 4, &lb), NB_OK, "%s", nb_trainer_error(b));
        same_params(a, b, s);
    }
    instance *in = nb__trainer_instance(a, 4, true);
    cr_assert_not_null(in);
    int moved = -1;
    float buf[64];
    for (int i = 0; i < a->n_params && moved < 0; i++)
        if (nb_runtime_place_output(in->rt, in->grads[i], buf) == NB_OK)
            moved = i;
    cr_assert_geq(moved, 0, "no gradient could be placed");
    for (int s = 3; s < 8; s++) {
        cr_assert_eq(nb_trainer_step(a, x, y, 4, &la), NB_OK, "%s", nb_trainer_error(a));
        cr_assert_eq(nb_trainer_step(b, x, y, 4, &lb), NB_OK, "%s", nb_trainer_error(b));
        same_params(a, b, s);
        cr_assert_eq(la, lb, "step %d: losses %g and %g", s, la, lb);
    }
    nb_trainer_free(a);
    nb_trainer_free(b);
}
