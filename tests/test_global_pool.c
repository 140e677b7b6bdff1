/*
 * test_global_pool.c — global average and max pooling ([N, C, H, W] →
 * [N, C]): values by hand, gradients against finite differences, the rank
 * refusal, and the layers read from a model file.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "nabla.h"

/* x [1, 2, 2, 2]: channel 0 = [1, 2; 3, 4], channel 1 = [−1, 5; 0, −2]. */
static const float xv[] = {1, 2, 3, 4, -1, 5, 0, -2};

Test(global_pool, values_by_hand)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_constant(g, NB_SHAPE(1, 2, 2, 2), xv);
    nb_node *avg = nb_global_avgpool2d(g, x), *mx = nb_global_maxpool2d(g, x);
    cr_assert_not_null(avg, "%s", nb_graph_error(g));
    cr_assert(nb_shape_equal(nb_node_shape(avg), NB_SHAPE(1, 2)));
    cr_assert(nb_shape_equal(nb_node_shape(mx), NB_SHAPE(1, 2)));
    float *a = t_eval(g, avg, NULL, 0), *m = t_eval(g, mx, NULL, 0);
    t_assert_close(a, (const float[]){2.5f, 0.5f}, 2, 1e-6f);
    t_assert_close(m, (const float[]){4, 5}, 2, 0);
    free(a);
    free(m);
    nb_graph_free(g);
}

Test(global_pool, gradcheck)
{
    nb_graph *g = nb_graph_new();
    float v[2 * 3 * 3 * 2];
    t_fill(v, 36, 9, -2, 2); /* distinct values: one maximum per channel */
    nb_node *x = nb_param(g, "x", NB_SHAPE(2, 3, 3, 2), v);
    t_gradcheck(g, nb_global_avgpool2d(g, x), &x, 1, NULL, 0);
    t_gradcheck(g, nb_global_maxpool2d(g, x), &x, 1, NULL, 0);
    nb_graph_free(g);
}

Test(global_pool, refuses_other_ranks)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_constant(g, NB_SHAPE(2, 4), xv);
    cr_assert_null(nb_global_maxpool2d(g, x));
    t_assert_error(g, "global_maxpool2d", "rank 4", NULL);
    nb_graph_free(g);
    g = nb_graph_new();
    cr_assert_null(nb_global_avgpool2d(g, nb_constant(g, NB_SHAPE(8), xv)));
    t_assert_error(g, "global_avgpool2d", "rank 4", NULL);
    nb_graph_free(g);
}

Test(global_pool, model_file)
{
    const char *text = "nabla: 1\ninput: {x: [2, 2, 2]}\nnodes:\n"
                       "  - {name: a, op: global_avgpool2d, inputs: [x]}\n"
                       "  - {name: m, op: global_maxpool2d, inputs: [x]}\n"
                       "output: m\n";
    nb_error err = {0};
    nb_model_file *mf = nb_model_file_parse(text, strlen(text), "t.yaml", &err);
    cr_assert_not_null(mf, "%s", err.message);
    nb_graph *g = nb_graph_new();
    nb_model_io io;
    cr_assert_eq(nb_model_file_build(g, 1, &io, mf), NB_OK, "%s", nb_graph_error(g));
    nb_feed f = {io.x, xv};
    float *a = t_eval(g, nb_graph_find(g, "a"), &f, 1), *m = t_eval(g, io.output, &f, 1);
    t_assert_close(a, (const float[]){2.5f, 0.5f}, 2, 1e-6f);
    t_assert_close(m, (const float[]){4, 5}, 2, 0);
    free(a);
    free(m);
    nb_graph_free(g);
    nb_model_file_free(mf);
    const char *bad = "nabla: 1\ninput: {x: [8]}\nlayers:\n  - global_avgpool\n";
    cr_assert_null(nb_model_file_parse(bad, strlen(bad), "t.yaml", &err));
    cr_assert(strstr(err.message, "global_avgpool2d"), "no suggestion in: %s", err.message);
}
