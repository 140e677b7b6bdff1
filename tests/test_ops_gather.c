/*
 * test_ops_gather.c — gather (rows of a table by index) and scatter_add (its
 * adjoint): shape rules and their refusals, values against hand-computed
 * arrays, finite-difference gradient checks with repeated indices, the
 * gradient never taking a dense one-hot form, and indices that are not
 * rows of the table stopping the run with their value and position.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

/* table [4, 3]: row r is r·10 + 0, 1, 2. */
static const float table4x3[] = {0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32};

Test(gather, picks_rows_in_index_order)
{
    nb_graph *g = nb_graph_new();
    nb_node *t = nb_param(g, "t", NB_SHAPE(4, 3), table4x3);
    nb_node *idx = nb_constant(g, NB_SHAPE(2, 2), (float[]){3, 0, 3, 1});
    nb_node *y = nb_gather(g, t, idx);
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    cr_assert(nb_shape_equal(nb_node_shape(y), NB_SHAPE(2, 2, 3)));
    float *v = t_eval(g, y, NULL, 0);
    t_assert_close(v, (float[]){30, 31, 32, 0, 1, 2, 30, 31, 32, 10, 11, 12}, 12, 0);
    free(v);
    /* A table of rank 1 gives one number per index; rank 3 keeps its tail. */
    nb_node *t1 = nb_constant(g, NB_SHAPE(4), (float[]){5, 6, 7, 8});
    v = t_eval(g, nb_gather(g, t1, idx), NULL, 0);
    t_assert_close(v, (float[]){8, 5, 8, 6}, 4, 0);
    free(v);
    nb_node *t3 = nb_reshape(g, t, NB_SHAPE(2, 2, 3));
    nb_node *y3 = nb_gather(g, t3, nb_constant(g, NB_SHAPE(1), (float[]){1}));
    cr_assert(nb_shape_equal(nb_node_shape(y3), NB_SHAPE(1, 2, 3)));
    v = t_eval(g, y3, NULL, 0);
    t_assert_close(v, table4x3 + 6, 6, 0);
    free(v);
    nb_graph_free(g);
}

Test(scatter_add, adds_rows_back_repeats_summed)
{
    nb_graph *g = nb_graph_new();
    nb_node *src = nb_constant(g, NB_SHAPE(3, 2), (float[]){1, 2, 3, 4, 5, 6});
    nb_node *idx = nb_constant(g, NB_SHAPE(3), (float[]){2, 0, 2});
    nb_node *y = nb_scatter_add(g, src, idx, 4);
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    cr_assert(nb_shape_equal(nb_node_shape(y), NB_SHAPE(4, 2)));
    float *v = t_eval(g, y, NULL, 0);
    t_assert_close(v, (float[]){3, 4, 0, 0, 6, 8, 0, 0}, 8, 0);
    free(v);
    nb_op_options o;
    cr_assert(nb_node_options(y, &o));
    cr_assert_eq(o.rows, 4);
    nb_graph_free(g);
}

/* The gradient of a gather is a scatter_add of dy: no one_hot, no matmul
 * against a [I, V] matrix anywhere in it. */
Test(gather, gradient_is_a_scatter_add)
{
    nb_graph *g = nb_graph_new();
    nb_node *t = nb_param(g, "t", NB_SHAPE(1000, 8), NULL);
    nb_node *idx = nb_input(g, "tokens", NB_SHAPE(4, 5));
    nb_node *loss = nb_sum(g, nb_gather(g, t, idx), NULL, 0, false), *dt;
    cr_assert_eq(nb_grad(g, loss, &t, 1, &dt), NB_OK, "%s", nb_graph_error(g));
    cr_assert_str_eq(nb_node_op(dt), "scatter_add");
    for (int i = 0; i < nb_graph_node_count(g); i++) {
        const char *op = nb_node_op(nb_graph_node(g, i));
        cr_assert(strcmp(op, "one_hot") && strcmp(op, "matmul"), "node %d is %s", i, op);
    }
    nb_graph_free(g);
}

Test(gather, gradcheck_with_repeated_indices)
{
    nb_graph *g = nb_graph_new();
    float tv[5 * 3], wv[4 * 2 * 3];
    t_fill(tv, 15, 1, -1, 1);
    t_fill(wv, 24, 2, -1, 1);
    nb_node *t = nb_param(g, "t", NB_SHAPE(5, 3), tv);
    nb_node *w = nb_constant(g, NB_SHAPE(4, 2, 3), wv);
    nb_node *idx = nb_constant(g, NB_SHAPE(4, 2), (float[]){4, 1, 1, 0, 4, 4, 2, 1});
    /* Weighted so every picked element has its own gradient; squared so the
     * repeated rows' contributions interact. */
    nb_node *y = nb_mul(g, nb_gather(g, t, idx), w);
    t_gradcheck(g, nb_sum(g, nb_mul(g, y, y), NULL, 0, false), &t, 1, NULL, 0);
    nb_graph_free(g);
}

Test(scatter_add, gradcheck)
{
    nb_graph *g = nb_graph_new();
    float sv[6 * 2], wv[3 * 2];
    t_fill(sv, 12, 3, -1, 1);
    t_fill(wv, 6, 4, -1, 1);
    nb_node *src = nb_param(g, "src", NB_SHAPE(2, 3, 2), sv);
    nb_node *idx = nb_constant(g, NB_SHAPE(2, 3), (float[]){0, 2, 0, 1, 2, 2});
    nb_node *y = nb_mul(g, nb_scatter_add(g, src, idx, 3), nb_constant(g, NB_SHAPE(3, 2), wv));
    t_gradcheck(g, nb_sum(g, nb_mul(g, y, y), NULL, 0, false), &src, 1, NULL, 0);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- refusals */

Test(gather, shape_refusals)
{
    nb_graph *g = nb_graph_new();
    nb_node *s = nb_param(g, "s", NB_SCALAR, NULL);
    cr_assert_null(nb_gather(g, s, nb_input(g, "i", NB_SHAPE(2))));
    t_assert_error(g, "gather", "the table", "must have rows", NULL);
    nb_graph_clear_error(g);
    nb_node *t = nb_param(g, "t", NB_SHAPE(4, 3), NULL);
    cr_assert_null(nb_scatter_add(g, nb_input(g, "src", NB_SHAPE(3, 2)),
                                  nb_input(g, "i2", NB_SHAPE(2)), 4));
    t_assert_error(g, "scatter_add", "must begin with the shape of the indices", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_scatter_add(g, t, nb_input(g, "i3", NB_SHAPE(4)), 0));
    t_assert_error(g, "scatter_add: 0 rows is outside 1..", NULL);
    nb_graph_free(g);
}

/* Runs gather(t [4, 3], tokens [2, 2]) and its gradient on indices fed at
 * run time: the status, and the runtime's message in msg. */
static nb_status run_gather(const float *tokens, char *msg, size_t size)
{
    nb_graph *g = nb_graph_new();
    nb_node *t = nb_param(g, "embed.table", NB_SHAPE(4, 3), table4x3);
    nb_node *idx = nb_input(g, "tokens", NB_SHAPE(2, 2));
    nb_node *loss = nb_sum(g, nb_gather(g, t, idx), NULL, 0, false), *dt;
    cr_assert_eq(nb_grad(g, loss, &t, 1, &dt), NB_OK, "%s", nb_graph_error(g));
    nb_runtime *rt = nb_runtime_new(g, (nb_node *[]){loss, dt}, 2);
    cr_assert_not_null(rt, "%s", nb_graph_error(g));
    cr_assert_eq(nb_runtime_set_input(rt, idx, tokens), NB_OK);
    nb_status st = nb_runtime_run(rt);
    snprintf(msg, size, "%s", nb_runtime_error(rt));
    if (st == NB_OK) {
        float want[12] = {0};
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 3; j++)
                want[(int)tokens[i] * 3 + j] += 1;
        t_assert_close(nb_runtime_value(rt, dt), want, 12, 0);
    }
    nb_runtime_free(rt);
    nb_graph_free(g);
    return st;
}

/* An index outside the table, negative, fractional or NaN would read or
 * write memory that is not the table's: the run stops, naming it. */
Test(gather, indices_outside_the_table_stop_the_run)
{
    char msg[512];
    cr_assert_eq(run_gather((float[]){0, 3, 1, 3}, msg, sizeof msg), NB_OK, "%s", msg);
    cr_assert_eq(run_gather((float[]){0, 3, 4, 1}, msg, sizeof msg), NB_ERR_ARG);
    cr_assert(strstr(msg, "index 4 at 2 of 'tokens' (example 1, position 0) is not a row of "
                          "the table 'embed.table': indices must be integers in 0…3"), "%s", msg);
    cr_assert_eq(run_gather((float[]){-1, 0, 0, 0}, msg, sizeof msg), NB_ERR_ARG);
    cr_assert(strstr(msg, "index -1 at 0 of 'tokens' (example 0, position 0)"), "%s", msg);
    cr_assert_eq(run_gather((float[]){0, 1.5f, 0, 0}, msg, sizeof msg), NB_ERR_ARG);
    cr_assert(strstr(msg, "index 1.5 at 1"), "%s", msg);
    cr_assert_eq(run_gather((float[]){0, 0, 0, NAN}, msg, sizeof msg), NB_ERR_ARG);
    cr_assert(strstr(msg, "index nan at 3"), "%s", msg);
}

Test(scatter_add, indices_outside_the_rows_stop_the_run)
{
    nb_graph *g = nb_graph_new();
    nb_node *src = nb_constant(g, NB_SHAPE(2, 2), (float[]){1, 2, 3, 4});
    nb_node *idx = nb_input(g, "rows", NB_SHAPE(2));
    nb_node *y = nb_scatter_add(g, src, idx, 3);
    nb_runtime *rt = nb_runtime_new(g, &y, 1);
    cr_assert_not_null(rt, "%s", nb_graph_error(g));
    cr_assert_eq(nb_runtime_set_input(rt, idx, (float[]){1, 3}), NB_OK);
    cr_assert_eq(nb_runtime_run(rt), NB_ERR_ARG);
    cr_assert(strstr(nb_runtime_error(rt), "index 3 at 1 of 'rows' is not a row of a table of "
                                           "3 rows: indices must be integers in 0…2"),
              "%s", nb_runtime_error(rt));
    nb_runtime_free(rt);
    nb_graph_free(g);
}
