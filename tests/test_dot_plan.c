/*
 * test_dot_plan.c — drawing the plan a runtime executes
 * (nb_runtime_dot_write): a small convolutional network's training step
 * (loss and every gradient) drawn as DOT and read back with cgraph: one box
 * per step, the fused groups' boxes naming their patterns (the
 * convolution's input gradient among them) and members, each box's buffer;
 * with fusion off no box names a pattern and every op is its own step;
 * and the refusals.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <graphviz/cgraph.h>

#include "helpers.h"

typedef struct net {
    nb_graph *g;
    nb_node *outs[8];
    int n_outs;
} net;

/* x [2,3,10,10] → conv 3×3 (5 filters, relu) → conv 3×3 (4 filters) →
 * flatten → dense 3 → softmax cross-entropy, with the gradient of every
 * parameter: the second convolution's input gradient is a fusable step. */
static net build_net(void)
{
    net m = {.g = nb_graph_new()};
    nb_graph *g = m.g;
    nb_graph_seed(g, 3);
    nb_node *x = nb_input(g, "x", NB_SHAPE(2, 3, 10, 10));
    nb_node *y = nb_input(g, "y", NB_SHAPE(2));
    nb_node *h = nb_conv2d(g, x, (nb_conv2d_opts){.filters = 5, .kernel = 3, .pad = 1,
                                                   .activation = NB_ACT_RELU});
    h = nb_conv2d(g, h, (nb_conv2d_opts){.filters = 4, .kernel = 3});
    h = nb_dense(g, nb_flatten(g, h), (nb_dense_opts){.units = 3});
    nb_node *loss = nb_softmax_cross_entropy(g, h, y);
    cr_assert_not_null(loss, "%s", nb_graph_error(g));
    int n = nb_graph_num_params(g);
    nb_node *ps[6], *gs[6];
    cr_assert_eq(n, 6);
    for (int i = 0; i < n; i++)
        ps[i] = nb_graph_param(g, i);
    cr_assert_eq(nb_grad(g, loss, ps, n, gs), NB_OK, "%s", nb_graph_error(g));
    m.outs[m.n_outs++] = loss;
    for (int i = 0; i < n; i++)
        m.outs[m.n_outs++] = gs[i];
    return m;
}

/* The file's text, NUL-terminated; the caller frees it. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s was written", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)len + 1);
    cr_assert_eq(fread(text, 1, (size_t)len, f), (size_t)len);
    text[len] = '\0';
    fclose(f);
    return text;
}

/* The plan of m's outputs, fusion on or off, drawn to a DOT file; its text
 * returned, the step count and the number of boxes named "s<k>" given. */
static char *drawn(net *m, bool fuse, int *steps, int *boxes)
{
    nb_set_fusion(fuse);
    nb_runtime *rt = nb_runtime_new(m->g, m->outs, m->n_outs);
    nb_set_fusion(true);
    cr_assert_not_null(rt, "%s", nb_graph_error(m->g));
    char path[64];
    snprintf(path, sizeof path, "/tmp/nabla_plan_%d_%d.dot", (int)getpid(), fuse);
    nb_error err = {0};
    cr_assert_eq(nb_runtime_dot_write(rt, (nb_dot_opts){.title = "net"}, path, &err), NB_OK, "%s",
                 err.message);
    *steps = nb_runtime_num_steps(rt);
    nb_runtime_free(rt);
    char *text = slurp(path);
    FILE *f = fopen(path, "r");
    Agraph_t *dg = agread(f, NULL);
    fclose(f);
    cr_assert_not_null(dg, "the DOT text parses");
    *boxes = 0;
    for (Agnode_t *v = agfstnode(dg); v; v = agnxtnode(dg, v))
        *boxes += agnameof(v)[0] == 's';
    agclose(dg);
    unlink(path);
    return text;
}

Test(dot_plan, fused_groups_are_boxes_naming_their_pattern)
{
    net m = build_net();
    int steps, boxes, plain_steps, plain_boxes;
    char *fused = drawn(&m, true, &steps, &boxes);
    char *plain = drawn(&m, false, &plain_steps, &plain_boxes);
    cr_assert_eq(boxes, steps, "one box per step");
    cr_assert_eq(plain_boxes, plain_steps, "one box per step without fusion");
    cr_assert_lt(steps, plain_steps, "fusion saves steps");
    cr_assert_not_null(strstr(fused, "convolution input gradient"), "the input gradient is fused");
    cr_assert_not_null(strstr(fused, "matmul + fold2d"), "its box lists its members");
    cr_assert_not_null(strstr(fused, "executed plan:"), "the title says what is drawn");
    cr_assert_not_null(strstr(fused, "buffer "), "boxes name their buffer");
    cr_assert_null(strstr(plain, "convolution input gradient"));
    cr_assert_null(strstr(plain, "elementwise chain"));
    cr_assert_not_null(strstr(plain, "fold2d"), "the fold is its own step");
    cr_assert_not_null(strstr(plain, ", 0 fused"), "the title counts no fused group");
    free(fused);
    free(plain);
    nb_graph_free(m.g);
}

Test(dot_plan, refusals)
{
    nb_error err = {0};
    cr_assert_eq(nb_runtime_dot_write(NULL, (nb_dot_opts){0}, "/tmp/never.dot", &err), NB_ERR_ARG);
    cr_assert_str_eq(err.message, "dot: runtime is NULL");
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(3));
    nb_node *y = nb_exp(g, x);
    nb_runtime *rt = nb_runtime_new(g, &y, 1);
    cr_assert_eq(nb_runtime_dot_write(rt, (nb_dot_opts){0}, NULL, &err), NB_ERR_ARG);
    cr_assert_str_eq(err.message, "dot: no output path given");
    cr_assert_eq(nb_runtime_dot_write(rt, (nb_dot_opts){0}, "/nonexistent/p.dot", &err),
                 NB_ERR_ARG);
    cr_assert_str_eq(err.message, "cannot write '/nonexistent/p.dot': No such file or directory");
    nb_runtime_free(rt);
    nb_graph_free(g);
}
