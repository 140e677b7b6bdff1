/*
 * test_optim_kept.c — the optimiser's step in the trainer's form
 * (nb__optimizer_step_src, train/train_internal.h: each gradient read
 * where it lies), which keeps its list of SGD updates from step to step:
 * checked bit for bit against nb_optimizer_step while what the list
 * depends on changes. Internal: links the static library.
 */
#include <string.h>

#include "helpers.h"
#include "../train/train_internal.h"

/* Steps of the trainer's form (each gradient read where it lies, the
 * graph's stamp given) on three short parameters under SGD against
 * nb_optimizer_step on the same gradients end to end, bit for bit, while
 * what the kept list of updates depends on changes between steps: a
 * gradient moved to other memory, a parameter frozen then thawed, one
 * placed in the caller's memory, the graph's buffer grown. */
Test(optimizer, kept_sgd_list_follows_changes)
{
    float a0[4] = {1, -2, 0.5f, 3}, b0[2] = {0.25f, -1}, c0[1] = {2};
    nb_graph *g[2] = {nb_graph_new(), nb_graph_new()};
    nb_node *p[2][3];
    nb_optimizer *opt[2];
    for (int k = 0; k < 2; k++) {
        p[k][0] = nb_param(g[k], "a", NB_SHAPE(4), a0);
        p[k][1] = nb_param(g[k], "b", NB_SHAPE(2), b0);
        p[k][2] = nb_param(g[k], "c", NB_SHAPE(1), c0);
        opt[k] = nb_optimizer_new((nb_optimizer_opts){.kind = NB_OPT_SGD, .momentum = 0.5f,
                                                      .weight_decay = 0.01f},
                                  p[k], 3, NULL);
        cr_assert_not_null(opt[k]);
    }
    float ga[2][4], gb[2], gc[1], all[7], placed[1];
    for (int s = 0; s < 8; s++) {
        int at = s >= 6; /* a's gradient moves to other memory at step 6 */
        for (int i = 0; i < 4; i++)
            ga[at][i] = 0.1f * (float)(i + 1) * (float)(s + 1) - 0.3f;
        gb[0] = 0.2f * (float)s, gb[1] = -0.05f * (float)s;
        gc[0] = 0.7f - 0.1f * (float)s;
        if (s == 2)
            for (int k = 0; k < 2; k++)
                nb_param_set_trainable(p[k][1], false);
        if (s == 4)
            for (int k = 0; k < 2; k++)
                nb_param_set_trainable(p[k][1], true);
        if (s == 5) {
            placed[0] = nb_param_data(p[0][2])[0];
            nb_param_place(p[0][2], placed);
            for (int i = 0; i < 50; i++)
                nb_param(g[0], NULL, NB_SHAPE(100), NULL);
        }
        nb__grad_src src[3] = {{.g = ga[at]}, {.g = gb}, {.g = gc}};
        nb__optimizer_step_src(opt[0], src, 0.1f, nb_graph_param_stamp(g[0]));
        memcpy(all, ga[at], sizeof ga[at]);
        memcpy(all + 4, gb, sizeof gb);
        memcpy(all + 6, gc, sizeof gc);
        nb_optimizer_step(opt[1], all, 0.1f);
        for (int i = 0; i < 3; i++) {
            nb_shape sh = nb_node_shape(p[0][i]);
            cr_assert(!memcmp(nb_param_data(p[0][i]), nb_param_data(p[1][i]),
                              (size_t)nb_shape_numel(sh) * sizeof(float)),
                      "step %d: parameter %d differs from the plain step's", s, i);
        }
        cr_assert(!memcmp(nb_optimizer_slot(opt[0], 0), nb_optimizer_slot(opt[1], 0),
                          7 * sizeof(float)), "step %d: the velocities differ", s);
    }
    cr_assert_eq(nb_param_data(p[0][2]), placed);
    cr_assert_eq(*nb_optimizer_steps(opt[0]), 8);
    for (int k = 0; k < 2; k++) {
        nb_optimizer_free(opt[k]);
        nb_graph_free(g[k]);
    }
}
