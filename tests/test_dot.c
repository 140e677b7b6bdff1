/*
 * test_dot.c — drawing graphs: a small LeNet-like model with its gradients
 * is written as DOT, read back with cgraph and counted (nodes, edges,
 * clusters, which node sits in which cluster, the backward pass dashed and
 * only on request), rendered to SVG and PNG through gvc, and the refusals
 * (no graph, an unwritable path, foreign outputs) checked by message.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <graphviz/cgraph.h>

#include "helpers.h"

/* ---------------------------------------------------------------- fixtures */

/* The model and what the tests look for in it. */
typedef struct lenet {
    nb_graph *g;
    nb_node *x, *y, *logits, *probs, *loss;
    nb_node *params[8];
    nb_node *grads[8];
    int n_params;
} lenet;

/* x [2,1,8,8] → conv 3×3 (4 filters, relu) → maxpool 2 → flatten → dense 8
 * (relu) → dense 3 "logits" → softmax cross-entropy, plus an unused
 * softmax of the logits (drawn only when every node is asked for), then the
 * gradients of the loss for every parameter. */
static lenet build_lenet(void)
{
    lenet m = {.g = nb_graph_new()};
    nb_graph *g = m.g;
    cr_assert_not_null(g);
    nb_graph_seed(g, 7);
    m.x = nb_input(g, "x", NB_SHAPE(2, 1, 8, 8));
    m.y = nb_input(g, "y", NB_SHAPE(2));
    nb_node *h = nb_conv2d(g, m.x, (nb_conv2d_opts){.filters = 4, .kernel = 3, .pad = 1,
                                                     .activation = NB_ACT_RELU});
    h = nb_maxpool2d(g, h, (nb_pool2d_opts){.size = 2});
    h = nb_flatten(g, h);
    h = nb_dense(g, h, (nb_dense_opts){.units = 8, .activation = NB_ACT_RELU});
    m.logits = nb_dense(g, h, (nb_dense_opts){.units = 3, .name = "logits"});
    m.probs = nb_softmax(g, m.logits, 1);
    m.loss = nb_softmax_cross_entropy(g, m.logits, m.y);
    cr_assert_not_null(m.loss, "%s", nb_graph_error(g));
    m.n_params = nb_graph_num_params(g);
    cr_assert_eq(m.n_params, 6);
    for (int i = 0; i < m.n_params; i++)
        m.params[i] = nb_graph_param(g, i);
    cr_assert_eq(nb_grad(g, m.loss, m.params, m.n_params, m.grads), NB_OK, "%s",
                 nb_graph_error(g));
    return m;
}

/* A fresh folder for one test's files; the caller removes it. */
static char *temp_dir(void)
{
    char *dir = strdup("/tmp/nabla_dot_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    return dir;
}

static char *join(const char *dir, const char *file)
{
    size_t len = strlen(dir) + strlen(file) + 2;
    char *p = malloc(len);
    snprintf(p, len, "%s/%s", dir, file);
    return p;
}

/* Files in dir (to see that no temporary file was left behind). */
static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

/* Removes the folder and the files in it. */
static void remove_dir(char *dir)
{
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *p = join(dir, e->d_name);
        remove(p);
        free(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    free(dir);
}

/* The whole file in a malloc'd, NUL-terminated buffer; *size its length. */
static char *slurp(const char *path, long *size)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *size = n;
    return buf;
}

/* Writes the drawing to dir/file and reads it back with cgraph. */
static Agraph_t *write_and_read(nb_graph *g, nb_node *const *outs, int n, nb_dot_opts o,
                                const char *dir, const char *file)
{
    char *path = join(dir, file);
    nb_error err = {0};
    cr_assert_eq(nb_dot_write(g, outs, n, o, path, &err), NB_OK, "%s", err.message);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    Agraph_t *a = agread(f, NULL);
    fclose(f);
    free(path);
    cr_assert_not_null(a, "cgraph could not read the DOT it was given");
    return a;
}

/* ---------------------------------------------------------------- expectations */

/* What a drawing should hold, worked out from the public API by a walk
 * from the outputs (all nodes when outs is NULL). */
typedef struct expect {
    bool *keep;
    int nodes, edges;
} expect;

static void mark(bool *keep, const nb_node *x)
{
    if (keep[nb_node_id(x)])
        return;
    keep[nb_node_id(x)] = true;
    for (int k = 0; k < nb_node_num_inputs(x); k++)
        mark(keep, nb_node_input(x, k));
}

static expect expected(nb_graph *g, nb_node *const *outs, int n, bool backward)
{
    int count = nb_graph_node_count(g);
    expect e = {.keep = calloc((size_t)count, sizeof(bool))};
    for (int i = 0; i < count; i++)
        if (!outs)
            e.keep[i] = true;
    for (int i = 0; outs && i < n; i++)
        mark(e.keep, outs[i]);
    for (int i = 0; i < count; i++)
        if (!backward && nb_node_is_backward(nb_graph_node(g, i)))
            e.keep[i] = false;
    for (int i = 0; i < count; i++) {
        if (!e.keep[i])
            continue;
        e.nodes++;
        nb_node *x = nb_graph_node(g, i);
        for (int k = 0; k < nb_node_num_inputs(x); k++)
            e.edges += e.keep[nb_node_id(nb_node_input(x, k))];
    }
    return e;
}

/* Subgraphs named cluster_* anywhere below a. */
static int count_clusters(Agraph_t *a)
{
    int n = 0;
    for (Agraph_t *s = agfstsubg(a); s; s = agnxtsubg(s))
        n += !strncmp(agnameof(s), "cluster_", 8) + count_clusters(s);
    return n;
}

/* The subgraph of that name anywhere below a, or NULL. */
static Agraph_t *find_subg(Agraph_t *a, const char *name)
{
    for (Agraph_t *s = agfstsubg(a); s; s = agnxtsubg(s)) {
        if (!strcmp(agnameof(s), name))
            return s;
        Agraph_t *t = find_subg(s, name);
        if (t)
            return t;
    }
    return NULL;
}

/* Distinct scopes among the kept nodes, counting enclosing scopes too. */
static int count_scopes(nb_graph *g, const bool *keep)
{
    int n = 0;
    char seen[64][128];
    for (int i = 0; i < nb_graph_node_count(g); i++) {
        const char *s = nb_node_scope(nb_graph_node(g, i));
        if (!keep[i] || !s)
            continue;
        char buf[128];
        snprintf(buf, sizeof buf, "%s", s);
        for (char *cut = buf; cut;) {
            bool known = false;
            for (int j = 0; j < n; j++)
                known |= !strcmp(seen[j], buf);
            if (!known && n < 64)
                snprintf(seen[n++], sizeof seen[0], "%s", buf);
            cut = strrchr(buf, '/');
            if (cut)
                *cut = '\0';
        }
    }
    return n;
}

/* The drawing's node for x, or NULL. */
static Agnode_t *dot_node(Agraph_t *a, const nb_node *x)
{
    char id[32];
    snprintf(id, sizeof id, "n%d", nb_node_id(x));
    return agnode(a, id, 0);
}

static const char *attr(void *obj, const char *name)
{
    char *v = agget(obj, (char *)name);
    return v ? v : "";
}

/* Every kept node is drawn, inside the cluster of its scope (and nothing
 * dropped is); a scoped node is not at the top level outside clusters. */
static void assert_placement(nb_graph *g, Agraph_t *a, const bool *keep)
{
    for (int i = 0; i < nb_graph_node_count(g); i++) {
        nb_node *x = nb_graph_node(g, i);
        Agnode_t *v = dot_node(a, x);
        char label[256];
        nb_node_label(x, label, sizeof label);
        cr_assert_eq(v != NULL, keep[i], "node %s drawn: %d, expected %d", label, v != NULL,
                     keep[i]);
        if (!v || !nb_node_scope(x))
            continue;
        char name[160];
        snprintf(name, sizeof name, "cluster_%s", nb_node_scope(x));
        Agraph_t *c = find_subg(a, name);
        cr_assert_not_null(c, "no cluster %s for %s", name, label);
        cr_assert_not_null(dot_node(c, x), "%s is not in %s", label, name);
    }
}

/* ---------------------------------------------------------------- DOT text */

Test(dot, forward_graph_counts_and_clusters)
{
    lenet m = build_lenet();
    char *dir = temp_dir();
    Agraph_t *a = write_and_read(m.g, NULL, 0, (nb_dot_opts){0}, dir, "lenet.dot");
    expect e = expected(m.g, NULL, 0, false);

    int forward = 0;
    for (int i = 0; i < nb_graph_node_count(m.g); i++)
        forward += !nb_node_is_backward(nb_graph_node(m.g, i));
    cr_assert_eq(e.nodes, forward);
    cr_assert_lt(forward, nb_graph_node_count(m.g), "nb_grad appended nothing?");
    cr_assert_eq(agnnodes(a), e.nodes);
    cr_assert_eq(agnedges(a), e.edges);
    /* conv2d1, maxpool2d1, dense1, logits, softmax_cross_entropy1; flatten
     * and the free softmax have no scope. */
    cr_assert_eq(count_clusters(a), 5);
    cr_assert_eq(count_clusters(a), count_scopes(m.g, e.keep));
    const char *names[] = {"cluster_conv2d1", "cluster_maxpool2d1", "cluster_dense1",
                           "cluster_logits", "cluster_softmax_cross_entropy1"};
    for (int i = 0; i < 5; i++) {
        Agraph_t *c = find_subg(a, names[i]);
        cr_assert_not_null(c, "missing %s", names[i]);
        cr_assert_str_eq(attr(c, "label"), names[i] + 8);
    }
    assert_placement(m.g, a, e.keep);
    cr_assert_str_eq(attr(a, "rankdir"), "TB");

    /* No backward node by default, and no dashed node at all. */
    for (Agnode_t *v = agfstnode(a); v; v = agnxtnode(a, v))
        cr_assert_null(strstr(attr(v, "style"), "dashed"), "%s is dashed", agnameof(v));
    for (int i = 0; i < m.n_params; i++)
        cr_assert_null(dot_node(a, m.grads[i]));

    agclose(a);
    free(e.keep);
    cr_assert_eq(count_files(dir), 1, "a temporary file was left behind");
    remove_dir(dir);
    nb_graph_free(m.g);
}

/* Network-simplex passes are cut short above 200 nodes (an unrolled LSTM
 * took minutes with Graphviz's defaults); LeNet-5 keeps the defaults. */
Test(dot, large_drawings_limit_the_layout_passes)
{
    lenet m = build_lenet();
    char *dir = temp_dir();
    Agraph_t *a = write_and_read(m.g, NULL, 0, (nb_dot_opts){0}, dir, "lenet.dot");
    cr_assert_str_eq(attr(a, "nslimit"), "");
    agclose(a);
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(2, 28, 4));
    nb_node *y = nb_lstm(g, x, (nb_rnn_opts){.hidden = 3});
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    cr_assert_gt(nb_graph_node_count(g), 200);
    a = write_and_read(g, &y, 1, (nb_dot_opts){0}, dir, "lstm.dot");
    cr_assert_str_eq(attr(a, "nslimit"), "1");
    cr_assert_str_eq(attr(a, "nslimit1"), "1");
    agclose(a);
    remove_dir(dir);
    nb_graph_free(g);
    nb_graph_free(m.g);
}

Test(dot, labels_and_kinds)
{
    lenet m = build_lenet();
    char *dir = temp_dir();
    nb_param_set_trainable(m.params[1], false); /* conv2d1/b frozen */
    Agraph_t *a = write_and_read(m.g, NULL, 0, (nb_dot_opts){.title = "LeNet \"tiny\""}, dir,
                                 "kinds.dot");
    cr_assert_str_eq(attr(a, "label"), "LeNet \"tiny\"");

    /* An input: its name, op and shape, an ellipse. */
    Agnode_t *x = dot_node(a, m.x);
    cr_assert_str_eq(attr(x, "label"), "x\\ninput [2,1,8,8]");
    cr_assert_str_eq(attr(x, "shape"), "ellipse");
    /* A parameter inside its cluster shows its name without the scope. */
    Agnode_t *w = dot_node(a, m.params[0]);
    cr_assert_str_eq(nb_node_name(m.params[0]), "conv2d1/w");
    cr_assert_str_eq(attr(w, "label"), "w\\nparam [4,1,3,3]");
    cr_assert_str_eq(attr(w, "shape"), "box");
    cr_assert_str_eq(attr(w, "tooltip"), "conv2d1/w [4,1,3,3]");
    /* Trainable and frozen parameters are filled apart. */
    Agnode_t *b = dot_node(a, m.params[1]);
    cr_assert_str_neq(attr(b, "fillcolor"), attr(w, "fillcolor"));
    /* An unnamed op is a rounded box labelled op#id and its shape. */
    Agnode_t *l = dot_node(a, m.loss);
    char want[64];
    snprintf(want, sizeof want, "%s#%d\\n[]", nb_node_op(m.loss), nb_node_id(m.loss));
    cr_assert_str_eq(attr(l, "label"), want);
    cr_assert_str_eq(attr(l, "shape"), "box");
    cr_assert_not_null(strstr(attr(l, "style"), "rounded"));
    /* The sinks (loss and the free softmax) are the outputs: double border. */
    cr_assert_str_eq(attr(l, "peripheries"), "2");
    cr_assert_str_eq(attr(dot_node(a, m.probs), "peripheries"), "2");
    cr_assert_str_neq(attr(dot_node(a, m.logits), "peripheries"), "2");
    /* Constants are small notes or, for scalars, plain text. */
    int constants = 0;
    for (int i = 0; i < nb_graph_node_count(m.g); i++) {
        nb_node *c = nb_graph_node(m.g, i);
        Agnode_t *v = dot_node(a, c);
        if (!v || nb_node_kind_of(c) != NB_NODE_CONST)
            continue;
        constants++;
        cr_assert_str_eq(attr(v, "shape"), nb_node_shape(c).rank ? "note" : "plaintext");
    }
    cr_assert_gt(constants, 0);
    agclose(a);
    remove_dir(dir);
    nb_graph_free(m.g);
}

Test(dot, outputs_restrict_the_drawing)
{
    lenet m = build_lenet();
    char *dir = temp_dir();
    Agraph_t *a = write_and_read(m.g, &m.loss, 1, (nb_dot_opts){0}, dir, "loss.dot");
    expect e = expected(m.g, &m.loss, 1, false);
    cr_assert_eq(agnnodes(a), e.nodes);
    cr_assert_eq(agnedges(a), e.edges);
    cr_assert_null(dot_node(a, m.probs), "the unused softmax is drawn");
    cr_assert_not_null(dot_node(a, m.x));
    cr_assert_str_eq(attr(dot_node(a, m.loss), "peripheries"), "2");
    assert_placement(m.g, a, e.keep);
    agclose(a);
    free(e.keep);

    /* Only the logits: no loss cluster, no labels input. */
    a = write_and_read(m.g, &m.logits, 1, (nb_dot_opts){0}, dir, "logits.dot");
    e = expected(m.g, &m.logits, 1, false);
    cr_assert_eq(agnnodes(a), e.nodes);
    cr_assert_eq(agnedges(a), e.edges);
    cr_assert_null(dot_node(a, m.y));
    cr_assert_null(find_subg(a, "cluster_softmax_cross_entropy1"));
    cr_assert_eq(count_clusters(a), 4);
    agclose(a);
    free(e.keep);
    remove_dir(dir);
    nb_graph_free(m.g);
}

Test(dot, backward_on_request_dashed)
{
    lenet m = build_lenet();
    char *dir = temp_dir();
    Agraph_t *a = write_and_read(m.g, NULL, 0, (nb_dot_opts){.backward = true}, dir, "all.dot");
    expect e = expected(m.g, NULL, 0, true);
    cr_assert_eq(e.nodes, nb_graph_node_count(m.g));
    cr_assert_eq(agnnodes(a), e.nodes);
    cr_assert_eq(agnedges(a), e.edges);
    cr_assert_eq(count_clusters(a), count_scopes(m.g, e.keep));
    assert_placement(m.g, a, e.keep);
    int backward = 0;
    for (int i = 0; i < nb_graph_node_count(m.g); i++) {
        nb_node *x = nb_graph_node(m.g, i);
        const char *style = attr(dot_node(a, x), "style");
        bool dashed = strstr(style, "dashed") != NULL;
        cr_assert_eq(dashed, nb_node_is_backward(x), "node %d style '%s'", i, style);
        backward += dashed;
    }
    cr_assert_gt(backward, 0);
    for (int i = 0; i < m.n_params; i++)
        cr_assert_not_null(dot_node(a, m.grads[i]));
    /* Edges into the backward pass are dashed too. */
    Agnode_t *g0 = dot_node(a, m.grads[0]);
    cr_assert_not_null(agfstin(a, g0));
    cr_assert_str_eq(attr(agfstin(a, g0), "style"), "dashed");
    agclose(a);
    free(e.keep);

    /* Gradients as outputs: what they need, forward and backward. */
    a = write_and_read(m.g, m.grads, m.n_params, (nb_dot_opts){.backward = true}, dir,
                       "grads.dot");
    e = expected(m.g, m.grads, m.n_params, true);
    cr_assert_eq(agnnodes(a), e.nodes);
    cr_assert_eq(agnedges(a), e.edges);
    cr_assert_null(dot_node(a, m.probs));
    for (int i = 0; i < m.n_params; i++)
        cr_assert_str_eq(attr(dot_node(a, m.grads[i]), "peripheries"), "2");
    agclose(a);
    free(e.keep);
    remove_dir(dir);
    nb_graph_free(m.g);
}

Test(dot, nested_scopes_nest_clusters)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(2, 3));
    cr_assert_eq(nb_scope_push(g, "block1"), NB_OK);
    nb_node *h = nb_dense(g, x, (nb_dense_opts){.units = 4, .activation = NB_ACT_TANH});
    nb_node *s = nb_name(nb_add(g, h, nb_scalar(g, 1.0f)), "shift");
    nb_scope_pop(g);
    nb_node *y = nb_sum(g, s, NULL, 0, false);
    cr_assert_not_null(y, "%s", nb_graph_error(g));
    char *dir = temp_dir();
    Agraph_t *a = write_and_read(g, NULL, 0, (nb_dot_opts){0}, dir, "nested.dot");
    Agraph_t *outer = find_subg(a, "cluster_block1");
    cr_assert_not_null(outer);
    cr_assert_str_eq(attr(outer, "label"), "block1");
    Agraph_t *inner = agsubg(outer, "cluster_block1/dense1", 0);
    cr_assert_not_null(inner, "the dense cluster is not directly inside block1");
    cr_assert_str_eq(attr(inner, "label"), "dense1");
    cr_assert_eq(count_clusters(a), 2);
    cr_assert_not_null(dot_node(outer, s));
    cr_assert_null(dot_node(inner, s));
    cr_assert_str_eq(attr(dot_node(a, s), "label"), "shift\\nadd [2,4]");
    /* The dense layer's weight sits in both, its cluster inside block1. */
    nb_node *w = nb_graph_find(g, "block1/dense1/w");
    cr_assert_not_null(w);
    cr_assert_not_null(dot_node(inner, w));
    cr_assert_not_null(dot_node(outer, w));
    /* The scalar constant shows its value as plain text. */
    nb_node *one = nb_node_input(s, 1);
    cr_assert_str_eq(attr(dot_node(a, one), "label"), "1");
    cr_assert_str_eq(attr(dot_node(a, one), "shape"), "plaintext");
    agclose(a);
    remove_dir(dir);
    nb_graph_free(g);
}

Test(dot, names_with_backslashes_stay_literal)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "a\\N", NB_SHAPE(2));
    nb_node *y = nb_neg(g, x);
    cr_assert_not_null(y);
    char *dir = temp_dir();
    Agraph_t *a = write_and_read(g, NULL, 0, (nb_dot_opts){0}, dir, "escape.dot");
    cr_assert_str_eq(attr(dot_node(a, x), "label"), "a\\\\N\\ninput [2]");
    agclose(a);
    remove_dir(dir);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- rendering */

Test(dot, renders_svg)
{
    lenet m = build_lenet();
    char *dir = temp_dir(), *path = join(dir, "lenet.svg");
    nb_error err = {0};
    cr_assert_eq(nb_dot_write(m.g, NULL, 0, (nb_dot_opts){.backward = true, .title = "LeNet"},
                              path, &err),
                 NB_OK, "%s", err.message);
    long size;
    char *svg = slurp(path, &size);
    cr_assert(!strncmp(svg, "<?xml", 5) || strstr(svg, "<svg"), "not SVG: %.60s", svg);
    cr_assert_not_null(strstr(svg, "<svg"));
    cr_assert_not_null(strstr(svg, "</svg>"));
    cr_assert_gt(size, 10000, "only %ld bytes", size);
    cr_assert_not_null(strstr(svg, "cluster_conv2d1"));
    cr_assert_not_null(strstr(svg, "LeNet"));
    cr_assert_not_null(strstr(svg, "stroke-dasharray"), "no dashed backward node");
    free(svg);
    cr_assert_eq(count_files(dir), 1, "a temporary file was left behind");
    free(path);
    remove_dir(dir);
    nb_graph_free(m.g);
}

Test(dot, renders_png)
{
    lenet m = build_lenet();
    char *dir = temp_dir(), *path = join(dir, "lenet.PNG");
    nb_error err = {0};
    cr_assert_eq(nb_dot_write(m.g, &m.loss, 1, (nb_dot_opts){0}, path, &err), NB_OK, "%s",
                 err.message);
    long size;
    char *png = slurp(path, &size);
    cr_assert_gt(size, 2000, "only %ld bytes", size);
    cr_assert(!memcmp(png, "\x89PNG\r\n\x1a\n", 8), "no PNG signature");
    /* IHDR: bit depth 8, colour type 3 (palette), the compact form. */
    cr_assert(!memcmp(png + 12, "IHDR", 4));
    cr_assert_eq(png[24], 8, "bit depth %d", png[24]);
    cr_assert_eq(png[25], 3, "colour type %d, not a palette", png[25]);
    free(png);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert(st.st_mode & S_IRUSR);
    free(path);
    remove_dir(dir);
    nb_graph_free(m.g);
}

Test(dot, replaces_an_existing_file)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(3));
    cr_assert_not_null(nb_exp(g, x));
    char *dir = temp_dir(), *path = join(dir, "g.gv");
    FILE *f = fopen(path, "w");
    fputs("old contents that are not DOT at all, and longer than the new ones would be ........"
          "....................................................................................."
          "....................................................................................."
          "....................................................................................."
          "....................................................................................."
          "....................................................................................."
          "....................................................................................."
          "....................................................................................."
          "....................................................................................."
          "....................................................................................."
          "....................................................................................."
          "....................................................................................."
          "....................................................................................."
          "....................................................................................."
          "....................................................................................."
          "....................................................................................."
          "....................................................................................."
          "....................................................................................."
          "....................................................................................."
          "....................................................................................."
          ".....................................................................................",
          f);
    fclose(f);
    nb_error err = {0};
    cr_assert_eq(nb_dot_write(g, NULL, 0, (nb_dot_opts){0}, path, &err), NB_OK, "%s",
                 err.message);
    long size;
    char *text = slurp(path, &size);
    cr_assert(!strncmp(text, "digraph", 7), "got: %.40s", text);
    cr_assert_null(strstr(text, "old contents"));
    free(text);
    cr_assert_eq(count_files(dir), 1);
    free(path);
    remove_dir(dir);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- refusals */

Test(dot, refuses_a_null_graph)
{
    nb_error err = {0};
    cr_assert_eq(nb_dot_write(NULL, NULL, 0, (nb_dot_opts){0}, "/tmp/never.dot", &err),
                 NB_ERR_ARG);
    cr_assert_eq(err.status, NB_ERR_ARG);
    cr_assert_str_eq(err.message, "dot: graph is NULL");
    cr_assert_eq(nb_dot_write(NULL, NULL, 0, (nb_dot_opts){0}, "/tmp/never.dot", NULL),
                 NB_ERR_ARG);
}

Test(dot, refuses_unwritable_paths)
{
    lenet m = build_lenet();
    const char *paths[] = {"/nonexistent/x.svg", "/nonexistent/x.png", "/nonexistent/x.dot"};
    for (int i = 0; i < 3; i++) {
        nb_error err = {0};
        cr_assert_eq(nb_dot_write(m.g, NULL, 0, (nb_dot_opts){0}, paths[i], &err), NB_ERR_ARG);
        char want[128];
        snprintf(want, sizeof want, "cannot write '%s': No such file or directory", paths[i]);
        cr_assert_str_eq(err.message, want);
    }
    /* A folder where the file should go: refused, nothing left behind. */
    char *dir = temp_dir(), *path = join(dir, "taken.svg");
    cr_assert_eq(mkdir(path, 0755), 0);
    nb_error err = {0};
    cr_assert_eq(nb_dot_write(m.g, NULL, 0, (nb_dot_opts){0}, path, &err), NB_ERR_ARG);
    cr_assert_not_null(strstr(err.message, "cannot write '"), "%s", err.message);
    cr_assert_not_null(strstr(err.message, "taken.svg': Is a directory"), "%s", err.message);
    cr_assert_eq(count_files(dir), 1, "a temporary file was left behind");
    rmdir(path);
    free(path);
    remove_dir(dir);
    nb_graph_free(m.g);
}

Test(dot, refuses_bad_outputs_and_paths)
{
    nb_graph *g = nb_graph_new(), *other = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(3));
    nb_node *y = nb_exp(g, x);
    nb_node *z = nb_input(other, "z", NB_SHAPE(3));
    nb_node *mixed[] = {y, z};
    nb_node *holes[] = {y, NULL};
    nb_error err = {0};
    cr_assert_eq(nb_dot_write(g, mixed, 2, (nb_dot_opts){0}, "/tmp/never.dot", &err),
                 NB_ERR_ARG);
    cr_assert_str_eq(err.message, "dot: output 1 ('z') is not a node of this graph");
    cr_assert_eq(nb_dot_write(g, holes, 2, (nb_dot_opts){0}, "/tmp/never.dot", &err),
                 NB_ERR_ARG);
    cr_assert_str_eq(err.message, "dot: output 1 is NULL");
    cr_assert_eq(nb_dot_write(g, mixed, 0, (nb_dot_opts){0}, "/tmp/never.dot", &err),
                 NB_ERR_ARG);
    cr_assert_not_null(strstr(err.message, "0 outputs given"), "%s", err.message);
    cr_assert_eq(nb_dot_write(g, NULL, 0, (nb_dot_opts){0}, NULL, &err), NB_ERR_ARG);
    cr_assert_str_eq(err.message, "dot: no output path given");
    cr_assert_eq(access("/tmp/never.dot", F_OK), -1);
    nb_graph_free(g);
    nb_graph_free(other);
}
