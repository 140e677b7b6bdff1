/*
 * test_graph.c — building graphs: leaves, names and scopes, error messages,
 * NULL propagation, and allocation failures injected at every allocation.
 */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

Test(graph, leaves_have_their_shapes_and_values)
{
    nb_graph *g = nb_graph_new();
    float w0[6] = {1, 2, 3, 4, 5, 6};
    nb_node *x = nb_input(g, "x", NB_SHAPE(4, 3));
    nb_node *w = nb_param(g, "w", NB_SHAPE(3, 2), w0);
    nb_node *z = nb_param(g, "z", NB_SHAPE(5), NULL);
    nb_node *c = nb_scalar(g, 2.5f);
    cr_assert(nb_shape_equal(nb_node_shape(x), NB_SHAPE(4, 3)));
    cr_assert_eq(nb_node_kind_of(w), NB_NODE_PARAM);
    cr_assert_eq(nb_param_data(w)[5], 6.0f);
    cr_assert_eq(nb_param_data(z)[4], 0.0f);
    cr_assert_eq(nb_node_shape(c).rank, 0);
    cr_assert_eq(nb_constant_data(c)[0], 2.5f);
    cr_assert_null(nb_param_data(x));
    cr_assert_eq(nb_graph_node_count(g), 4);
    cr_assert_eq(nb_graph_node(g, 1), w);
    cr_assert_eq(nb_graph_status(g), NB_OK);
    cr_assert_str_eq(nb_graph_error(g), "");
    nb_graph_free(g);
}

Test(graph, names_scopes_and_labels)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(2, 3));
    cr_assert_eq(nb_scope_push(g, "dense1"), NB_OK);
    nb_node *w = nb_param(g, "w", NB_SHAPE(3, 3), NULL);
    nb_node *h = nb_matmul(g, x, w, false, false);
    nb_scope_pop(g);
    cr_assert_str_eq(nb_node_name(w), "dense1/w");
    cr_assert_str_eq(nb_node_scope(h), "dense1");
    cr_assert_eq(nb_graph_find(g, "dense1/w"), w);
    cr_assert_null(nb_graph_find(g, "w"));
    char buf[64];
    cr_assert_str_eq(nb_node_label(h, buf, sizeof buf), "dense1/matmul#2");
    cr_assert_eq(nb_name(h, "h"), h);
    cr_assert_str_eq(nb_node_label(h, buf, sizeof buf), "dense1/h");
    cr_assert_null(nb_node_scope(x));
    nb_graph_free(g);
}

Test(graph, closest_name_suggests_a_near_miss_only)
{
    const char *const opts[] = {"epochs", "batch", "lr", "threads", "stream", "stream-batch", NULL};
    const char *const cmds[] = {"train", "eval", "predict", "grad", "dot", "inspect", NULL};
    cr_assert_str_eq(nb_closest_name("epoch", opts), "epochs");
    cr_assert_str_eq(nb_closest_name("trian", cmds), "train");
    cr_assert_str_eq(nb_closest_name("inspcet", cmds), "inspect");
    cr_assert_str_eq(nb_closest_name("stream-bat", opts), "stream-batch");
    cr_assert_str_eq(nb_closest_name("strea", opts), "stream");  /* the first of equals */
    cr_assert_null(nb_closest_name("bogus", opts));
    cr_assert_str_eq(nb_closest_name("l", opts), "lr");
    cr_assert_null(nb_closest_name("xy", opts));                 /* 2 edits: all of "lr" */
    const char *const losses[] = {"none", "softmax_cross_entropy", "mse", "bce_with_logits", NULL};
    cr_assert_str_eq(nb_closest_name("cross_entropy", losses), "softmax_cross_entropy");
    cr_assert_str_eq(nb_closest_name("CrossEntropy", losses), "softmax_cross_entropy");
    cr_assert_str_eq(nb_closest_name("logits", losses), "bce_with_logits");
    cr_assert_null(nb_closest_name("entr", opts));               /* held by no name */
    cr_assert_null(nb_closest_name("oft", losses));              /* held, but 3 letters */
    cr_assert_null(nb_closest_name("epoch", NULL));
    cr_assert_null(nb_closest_name(NULL, opts));
}

Test(graph, duplicate_names_are_refused)
{
    nb_graph *g = nb_graph_new();
    nb_input(g, "x", NB_SHAPE(2));
    cr_assert_null(nb_param(g, "x", NB_SHAPE(2), NULL));
    t_assert_error(g, "name", "'x'", "already taken", NULL);
    nb_graph_free(g);
}

Test(graph, bad_leaves_are_refused)
{
    nb_graph *g = nb_graph_new();
    cr_assert_null(nb_input(g, "x", NB_SHAPE(2, 0)));
    t_assert_error(g, "input x", "[2,0]", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_input(g, NULL, NB_SHAPE(2)));
    t_assert_error(g, "input", "needs a name", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_constant(g, NB_SHAPE(2), NULL));
    t_assert_error(g, "constant", "NULL", NULL);
    nb_graph_clear_error(g);
    cr_assert_neq(nb_scope_push(g, "a/b"), NB_OK);
    t_assert_error(g, "scope", "'a/b'", NULL);
    nb_graph_free(g);
}

/* A shape whose element count would overflow (here 2^64: it wrapped to 0
 * and a batch of 2^62 trained into a too-small buffer) is refused when the
 * node is made, for leaves and op results alike. */
Test(graph, shapes_beyond_2_40_elements_are_refused)
{
    nb_graph *g = nb_graph_new();
    cr_assert_null(nb_input(g, "x", NB_SHAPE((int64_t)1 << 62, 4)));
    t_assert_error(g, "input x", "[4611686018427387904,4]", "more than 2^40 elements", NULL);
    nb_graph_clear_error(g);
    cr_assert_null(nb_param(g, "w", NB_SHAPE(1 << 21, 1 << 20), NULL));
    t_assert_error(g, "param w", "more than 2^40 elements", NULL);
    nb_graph_clear_error(g);
    nb_node *a = nb_input(g, "a", NB_SHAPE(1 << 21, 1));
    nb_node *b = nb_input(g, "b", NB_SHAPE(1, 1 << 20));
    cr_assert_not_null(b, "%s", nb_graph_error(g));
    cr_assert_null(nb_matmul(g, a, b, false, false));
    t_assert_error(g, "matmul", "[2097152,1048576]", "more than 2^40 elements", NULL);
    cr_assert_not_null(nb_input(g, "c", NB_SHAPE(1 << 20, 1 << 20)), "2^40 itself is allowed");
    nb_graph_free(g);
}

Test(graph, null_inputs_keep_the_first_message)
{
    nb_graph *g = nb_graph_new();
    nb_node *a = nb_input(g, "a", NB_SHAPE(3, 4));
    nb_node *b = nb_input(g, "b", NB_SHAPE(5));
    nb_node *bad = nb_add(g, a, b); /* refused: does not broadcast */
    cr_assert_null(bad);
    nb_node *y = nb_exp(g, nb_mul(g, bad, a));
    cr_assert_null(y);
    t_assert_error(g, "add", "'a' [3,4]", "'b' [5]", "broadcast", NULL);
    cr_assert_eq(nb_graph_status(g), NB_ERR_SHAPE);
    nb_graph_free(g);
}

Test(graph, nodes_from_another_graph_are_refused)
{
    nb_graph *g = nb_graph_new(), *h = nb_graph_new();
    nb_node *a = nb_input(g, "a", NB_SHAPE(2));
    nb_node *b = nb_input(h, "b", NB_SHAPE(2));
    cr_assert_null(nb_add(g, a, b));
    t_assert_error(g, "add", "another graph", NULL);
    nb_graph_free(g);
    nb_graph_free(h);
}

Test(graph, custom_op_definitions_are_checked)
{
    nb_graph *g = nb_graph_new();
    nb_node *a = nb_input(g, "a", NB_SHAPE(2));
    nb_op_def incomplete = {.name = "half", .arity = 1};
    cr_assert_null(nb_custom(g, &incomplete, &a, 1, NULL));
    t_assert_error(g, "custom op half", "shape rule", NULL);
    nb_graph_free(g);

    /* A built-in op's definition, whose attributes its builder would have
     * checked (a reduction's axes), is refused rather than built unchecked. */
    for (int i = 0; nb_builtin_op(i); i++) {
        const nb_op_def *def = nb_builtin_op(i);
        if (def->flags & NB_OP_LEAF)
            continue;
        g = nb_graph_new();
        a = nb_input(g, "a", NB_SHAPE(2, 3));
        nb_node *in[] = {a, a, a};
        nb_attrs bad = {.i = {7, -9}};
        cr_assert_null(nb_custom(g, def, in, def->arity > 0 ? def->arity : 1, &bad), "%s",
                       def->name);
        t_assert_error(g, def->name, "a built-in op", NULL);
        nb_graph_free(g);
    }
}

/* ---------------------------------------------------------------- allocation failures */

/* An allocator that fails the k-th allocation (0: never) and counts the live
 * bytes, so a test sees both the clean refusal and that nothing leaked. */
typedef struct failing {
    int calls, fail_at;
    long live;
} failing;

static void *failing_alloc(void *ud, void *p, size_t old, size_t size)
{
    failing *f = ud;
    if (size == 0) {
        if (p)
            f->live -= (long)old;
        free(p);
        return NULL;
    }
    if (++f->calls == f->fail_at)
        return NULL;
    void *q = realloc(p, size);
    if (q)
        f->live += (long)size - (p ? (long)old : 0);
    return q;
}

/* Builds a small MLP, differentiates it and runs it; NB_OK only if every
 * step worked. Any failure must come back as a status, never a crash. */
static nb_status build_and_run(nb_graph *g)
{
    float xv[8] = {1, 2, 3, 4, 5, 6, 7, 8}, w0[8] = {.1f, .2f, .3f, .4f, .5f, .6f, .7f, .8f};
    nb_node *x = nb_input(g, "x", NB_SHAPE(2, 4));
    nb_node *w = nb_param(g, "w", NB_SHAPE(4, 2), w0);
    nb_node *h = nb_tanh(g, nb_matmul(g, x, w, false, false));
    nb_node *loss = nb_sum(g, nb_mul(g, h, h), NULL, 0, false);
    nb_node *dw = NULL;
    if (!loss || nb_grad(g, loss, &w, 1, &dw) != NB_OK)
        return nb_graph_status(g);
    nb_node *outs[] = {loss, dw};
    nb_runtime *rt = nb_runtime_new(g, outs, 2);
    if (!rt)
        return nb_graph_status(g);
    nb_status st = nb_runtime_set_input(rt, x, xv);
    if (st == NB_OK)
        st = nb_runtime_run(rt);
    nb_runtime_free(rt);
    return st;
}

Test(graph, every_allocation_failure_is_clean)
{
    int k;
    for (k = 1; k < 1000; k++) {
        failing f = {.fail_at = k};
        nb_graph *g = nb_graph_new_with_allocator(failing_alloc, &f);
        if (!g) {
            cr_assert_eq(f.live, 0);
            continue;
        }
        nb_status st = build_and_run(g);
        if (st == NB_OK && f.calls < k) { /* the whole job needed fewer allocations */
            nb_graph_free(g);
            cr_assert_eq(f.live, 0, "leak of %ld bytes", f.live);
            break;
        }
        cr_assert_eq(st, NB_ERR_NOMEM, "allocation %d failed but status is %d: %s", k, st,
                     nb_graph_error(g));
        cr_assert(strstr(nb_graph_error(g), "out of memory"), "message: %s", nb_graph_error(g));
        nb_graph_free(g);
        cr_assert_eq(f.live, 0, "allocation %d failed and %ld bytes leaked", k, f.live);
    }
    cr_assert_gt(k, 5, "the job should need several allocations");
    cr_assert_lt(k, 1000);
}

/* An automatic layer name skips a number the user's explicit name took. */
Test(graph, automatic_layer_names_skip_taken_ones)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(2, 3));
    nb_node *h = nb_dense(g, x, (nb_dense_opts){.units = 4, .name = "dense1"});
    h = nb_dense(g, h, (nb_dense_opts){.units = 2});
    cr_assert_not_null(h, "%s", nb_graph_error(g));
    cr_assert_str_eq(nb_node_scope(h), "dense2");
    cr_assert_not_null(nb_graph_find(g, "dense2/w"));
    nb_graph_free(g);
}

/* NB_SHAPE with more dimensions than NB_MAX_RANK used to lose the last ones
 * without a word; now the node is refused naming the rank. */
Test(graph, a_shape_of_too_many_dimensions_is_refused_not_cut)
{
    nb_shape s = NB_SHAPE(1, 2, 3, 4, 5, 6, 7, 8, 9);
    cr_assert_eq(s.rank, 9);
    cr_assert_eq(nb_shape_numel(s), 0);
    cr_assert_not(nb_shape_equal(s, s));
    char b[64];
    cr_assert_str_eq(nb_shape_format(s, b, sizeof b), "[rank 9, not 0..8]");
    nb_graph *g = nb_graph_new();
    cr_assert_null(nb_input(g, "x", s));
    t_assert_error(g, "input x", "rank 9 is outside 0..8", NULL);
    nb_graph_free(g);
    g = nb_graph_new();
    int64_t d[1] = {3};
    cr_assert_null(nb_input(g, "y", nb_shape_make(-1, d)));
    t_assert_error(g, "rank -1 is outside 0..8", NULL);
    nb_graph_free(g);
}
