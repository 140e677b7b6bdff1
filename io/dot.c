/*
 * dot.c — drawing a graph through Graphviz: cgraph builds the drawing, gvc
 * lays it out and renders it, so no `dot` program is needed.
 *
 * What is drawn: the nodes the outputs need (every node when outputs is
 * NULL), without the backward pass unless asked for. Each node is a DOT
 * node "n<id>" labelled "<name>\n<op> [shape]" ("<op>#<id>\n[shape]" when
 * unnamed), where the name drops the scope inside its cluster; every scope ("dense1", "block1/conv2d1") is a
 * cluster "cluster_<scope>" nested like the scopes, labelled with its last
 * component. Kinds are shaped apart:
 *
 *     input      ellipse, light blue
 *     parameter  box, light yellow (frozen: grey)
 *     constant   note, small; a scalar is plain text showing its value
 *     op         rounded box, white
 *     backward   the same shapes dashed, light red, red edges
 *     output     bold, double border
 *
 * Every node also carries a tooltip with its full label and shape (SVG
 * shows it on hover). A path ending in .svg or .png is rendered with the
 * dot layout; any other path gets DOT text. A PNG is written with a palette
 * (libpng's 216-colour map over white): a quarter of the bytes of cairo's
 * RGBA for the same picture, small enough to commit beside the docs. Either way the bytes go to a
 * temporary file in the target's folder that is flushed, synced and renamed
 * over the target, so a failure never leaves half a file behind.
 *
 * nb_runtime_dot_write draws a runtime's executed plan instead: one box per
 * step in run order ("step 3"), a fused group's box filled green and bold,
 * naming its pattern and its members' ops; view steps (reshape) dotted;
 * each box says the planned buffer its value lives in and that buffer's
 * size; the leaves the steps read drawn as above. Folded members and values
 * no step reads have no box.
 *
 * Graphviz reports problems through one process-wide channel (agerr); while
 * drawing it is told to keep them to itself (agseterr(AGMAX)) and a failure
 * quotes the last one. The previous level is restored on every path.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>
#include <png.h>

#include "nabla.h"

#define LABEL_SIZE 512

/* Colours: fills per kind, and the backward pass apart. */
#define FILL_INPUT "#d6eaf8"
#define FILL_PARAM "#fcf3cf"
#define FILL_FROZEN "#e5e5e5"
#define FILL_CONST "#f4f6f7"
#define FILL_OP "#ffffff"
#define FILL_BACKWARD "#fadbd8"
#define LINE_BACKWARD "#c0392b"
#define LINE_FROZEN "#909090"

/* What one drawing is about: the graph, which nodes are kept and which are
 * outputs (both indexed by node id), and the caller's options. */
typedef struct drawing {
    nb_graph *g;
    int count;
    bool *keep;
    bool *output;
    nb_dot_opts o;
    Agraph_t *root;
} drawing;

/* ---------------------------------------------------------------- errors */

/* Graphviz's last message since agreseterrors(), trimmed of its trailing
 * newline, into buf; "no message" when it gave none. */
static const char *graphviz_message(char *buf, size_t size)
{
    char *m = agerrors() ? aglasterr() : NULL;
    snprintf(buf, size, "%s", m && *m ? m : "no message from graphviz");
    free(m); /* Graphviz's string: not nabla's */
    size_t len = strlen(buf);
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
        buf[--len] = '\0';
    return buf;
}

/* ---------------------------------------------------------------- selection */

/* Checks the outputs belong to g and fills d->keep with what they need:
 * creation order is topological, so one sweep from the last node down marks
 * every input of a kept node. Backward nodes are dropped unless asked for.
 * Outputs are the given nodes, or with none given the kept nodes nothing
 * kept reads (the graph's sinks). */
static nb_status select_nodes(drawing *d, nb_node *const *outputs, int n, nb_error *err)
{
    char label[LABEL_SIZE];
    for (int i = 0; outputs && i < n; i++) {
        nb_node *out = outputs[i];
        if (!out)
            return nb_error_set(err, NB_ERR_ARG, "dot: output %d is NULL", i);
        if (nb_graph_node(d->g, nb_node_id(out)) != out)
            return nb_error_set(err, NB_ERR_ARG, "dot: output %d ('%s') is not a node of this graph", i,
                        nb_node_label(out, label, sizeof label));
        d->keep[nb_node_id(out)] = d->output[nb_node_id(out)] = true;
    }
    for (int id = d->count - 1; id >= 0; id--) {
        nb_node *x = nb_graph_node(d->g, id);
        if (!outputs)
            d->keep[id] = true;
        for (int k = 0; d->keep[id] && k < nb_node_num_inputs(x); k++)
            d->keep[nb_node_id(nb_node_input(x, k))] = true;
    }
    for (int id = 0; id < d->count; id++)
        if (!d->o.backward && nb_node_is_backward(nb_graph_node(d->g, id)))
            d->keep[id] = d->output[id] = false;
    if (!outputs) {
        for (int id = 0; id < d->count; id++)
            d->output[id] = d->keep[id];
        for (int id = 0; id < d->count; id++) {
            nb_node *x = nb_graph_node(d->g, id);
            for (int k = 0; d->keep[id] && k < nb_node_num_inputs(x); k++)
                d->output[nb_node_id(nb_node_input(x, k))] = false;
        }
    }
    return NB_OK;
}

/* ---------------------------------------------------------------- building */

/* agsafeset with const strings (cgraph copies them; its prototypes predate
 * const). Declares the attribute with an empty default when it is new. */
static void set(void *obj, const char *name, const char *value)
{
    agsafeset(obj, (char *)name, (char *)value, "");
}

/* Copies text into buf with every backslash doubled, so a user's name never
 * reads as a Graphviz escape ("\N", "\l") inside a label. */
static void escape(char *buf, size_t size, const char *text)
{
    size_t j = 0;
    for (const char *p = text; *p && j + 2 < size; p++) {
        if (*p == '\\')
            buf[j++] = '\\';
        buf[j++] = *p;
    }
    buf[j] = '\0';
}

/* The cluster of a scope, made (with its enclosing clusters) on first use;
 * the root for no scope. NULL when cgraph ran out of memory. */
static Agraph_t *cluster_of(Agraph_t *root, const char *scope)
{
    if (!scope)
        return root;
    char name[LABEL_SIZE], parent[LABEL_SIZE], label[LABEL_SIZE];
    snprintf(parent, sizeof parent, "%s", scope);
    char *slash = strrchr(parent, '/');
    if (slash)
        *slash = '\0';
    Agraph_t *outer = cluster_of(root, slash ? parent : NULL);
    if (!outer)
        return NULL;
    snprintf(name, sizeof name, "cluster_%s", scope);
    Agraph_t *c = agsubg(outer, name, 0);
    if (c)
        return c;
    if (!(c = agsubg(outer, name, 1)))
        return NULL;
    escape(label, sizeof label, slash ? scope + (slash - parent) + 1 : scope);
    set(c, "label", label);
    set(c, "tooltip", scope);
    set(c, "style", "rounded");
    set(c, "color", "#7f8c8d");
    set(c, "fontsize", "11");
    set(c, "labeljust", "l");
    return c;
}

/* Fills buf with the node's label: its name without the scope (the cluster
 * says it), then its op and shape ("w\nparam [4,1,3,3]"). An unnamed node's
 * label already says its op ("matmul#5\n[2,4,64]"); a scalar constant
 * shows its value. */
static void node_label(const nb_node *x, char *buf, size_t size)
{
    char full[LABEL_SIZE], name[LABEL_SIZE], shape[128];
    nb_node_label(x, full, sizeof full);
    const char *scope = nb_node_scope(x), *shortname = full;
    size_t len = scope ? strlen(scope) : 0;
    if (scope && !strncmp(full, scope, len) && full[len] == '/')
        shortname = full + len + 1;
    escape(name, sizeof name, shortname);
    nb_shape s = nb_node_shape(x);
    if (nb_node_kind_of(x) == NB_NODE_CONST && s.rank == 0) {
        float v = nb_constant_data(x)[0];
        if (nb_node_name(x))
            snprintf(buf, size, "%s = %g", name, v);
        else
            snprintf(buf, size, "%g", v);
        return;
    }
    nb_shape_format(s, shape, sizeof shape);
    if (nb_node_name(x))
        snprintf(buf, size, "%s\\n%s %s", name, nb_node_op(x), shape);
    else
        snprintf(buf, size, "%s\\n%s", name, shape);
}

/* The shape, fill and style of a node by kind; backward nodes dashed in
 * their own colours, outputs bold with a double border. */
static void node_style(Agnode_t *v, const nb_node *x, bool output)
{
    const char *shape = "box", *fill = FILL_OP, *style = "rounded,filled";
    switch (nb_node_kind_of(x)) {
    case NB_NODE_INPUT:
        shape = "ellipse", fill = FILL_INPUT, style = "filled";
        break;
    case NB_NODE_PARAM:
        shape = "box", style = "filled";
        fill = nb_param_trainable(x) ? FILL_PARAM : FILL_FROZEN;
        if (!nb_param_trainable(x))
            set(v, "fontcolor", LINE_FROZEN), set(v, "color", LINE_FROZEN);
        break;
    case NB_NODE_CONST:
        shape = nb_node_shape(x).rank ? "note" : "plaintext", fill = FILL_CONST;
        style = nb_node_shape(x).rank ? "filled" : "";
        set(v, "fontsize", "9");
        set(v, "height", "0.2");
        break;
    case NB_NODE_OP:
        break;
    }
    char buf[64];
    bool backward = nb_node_is_backward(x);
    if (backward)
        fill = FILL_BACKWARD, set(v, "color", LINE_BACKWARD), set(v, "fontcolor", LINE_BACKWARD);
    snprintf(buf, sizeof buf, "%s%s%s%s%s", style, *style && backward ? "," : "",
             backward ? "dashed" : "", (*style || backward) && output ? "," : "",
             output ? "bold" : "");
    set(v, "shape", shape);
    set(v, "style", buf);
    set(v, "fillcolor", fill);
    if (output)
        set(v, "peripheries", "2");
}

/* One DOT node for x in its scope's cluster; false when cgraph failed. */
static bool add_node(drawing *d, const nb_node *x)
{
    char id[32], label[2 * LABEL_SIZE], full[LABEL_SIZE], shape[128], tip[LABEL_SIZE + 160];
    Agraph_t *c = cluster_of(d->root, nb_node_scope(x));
    snprintf(id, sizeof id, "n%d", nb_node_id(x));
    Agnode_t *v = c ? agnode(c, id, 1) : NULL;
    if (!v)
        return false;
    node_label(x, label, sizeof label);
    set(v, "label", label);
    nb_node_label(x, full, sizeof full);
    snprintf(tip, sizeof tip, "%s %s", full, nb_shape_format(nb_node_shape(x), shape, sizeof shape));
    escape(label, sizeof label, tip);
    set(v, "tooltip", label);
    node_style(v, x, d->output[nb_node_id(x)]);
    return true;
}

/* The edges input → node between kept nodes (one per input slot, so
 * x·x draws two); edges into backward nodes are dashed and red. */
static bool add_edges(drawing *d, const nb_node *x)
{
    char id[32];
    snprintf(id, sizeof id, "n%d", nb_node_id(x));
    Agnode_t *h = agnode(d->root, id, 0);
    for (int k = 0; k < nb_node_num_inputs(x); k++) {
        const nb_node *in = nb_node_input(x, k);
        if (!d->keep[nb_node_id(in)])
            continue;
        snprintf(id, sizeof id, "n%d", nb_node_id(in));
        Agedge_t *e = agedge(d->root, agnode(d->root, id, 0), h, NULL, 1);
        if (!e)
            return false;
        if (nb_node_is_backward(x))
            set(e, "style", "dashed"), set(e, "color", LINE_BACKWARD);
    }
    return true;
}

/* Above this many nodes, dot's network-simplex passes (node placement,
 * rank assignment) are cut to one iteration per node: an LSTM unrolled over
 * 28 steps (about 600 nodes) took 2 minutes to draw with Graphviz's
 * defaults and 6 seconds so, laid out the same way top to bottom. Smaller
 * graphs keep the defaults' tidier placement. */
#define LARGE_DRAWING 200

/* The whole drawing as a cgraph graph, or NULL when cgraph failed. */
static Agraph_t *build(drawing *d, const void *unused)
{
    (void)unused;
    d->root = agopen("nabla", Agdirected, NULL);
    if (!d->root)
        return NULL;
    agattr(d->root, AGNODE, "fontname", "Helvetica");
    agattr(d->root, AGNODE, "fontsize", "10");
    agattr(d->root, AGEDGE, "arrowsize", "0.6");
    set(d->root, "rankdir", "TB");
    set(d->root, "fontname", "Helvetica");
    set(d->root, "nodesep", "0.25");
    set(d->root, "ranksep", "0.3");
    int drawn = 0;
    for (int id = 0; id < d->count; id++)
        drawn += d->keep[id];
    if (drawn > LARGE_DRAWING) {
        set(d->root, "nslimit", "1");
        set(d->root, "nslimit1", "1");
    }
    for (int id = 0; id < d->count; id++)
        if (d->keep[id] && !add_node(d, nb_graph_node(d->g, id)))
            return agclose(d->root), NULL;
    for (int id = 0; id < d->count; id++)
        if (d->keep[id] && !add_edges(d, nb_graph_node(d->g, id)))
            return agclose(d->root), NULL;
    if (d->o.title) {
        /* Set last: clusters made before it keep their own labels. */
        char title[LABEL_SIZE];
        escape(title, sizeof title, d->o.title);
        set(d->root, "label", title);
        set(d->root, "labelloc", "t");
        set(d->root, "fontsize", "16");
    }
    return d->root;
}

/* ---------------------------------------------------------------- plans */

#define FILL_FUSED "#d5f5e3"
#define LINE_FUSED "#1e8449"

/* "64 B", "12.3 KB", "1.5 MB" into buf. */
static const char *bytes_text(size_t b, char *buf, size_t size)
{
    if (b < 1024)
        snprintf(buf, size, "%zu B", b);
    else if (b < (size_t)1 << 20)
        snprintf(buf, size, "%.1f KB", (double)b / 1024.0);
    else
        snprintf(buf, size, "%.1f MB", (double)b / (1024.0 * 1024.0));
    return buf;
}

/* Step k's label: its place in the run, a fused group's pattern and
 * members' ops, the value it writes (as node_label says it), and where
 * that value lives. */
static void step_label(const nb_runtime_step_info *s, int k, char *buf, size_t size)
{
    char value[LABEL_SIZE], bytes[32];
    node_label(s->nodes[s->n_nodes - 1], value, sizeof value);
    size_t at = (size_t)snprintf(buf, size, "step %d", k + 1);
    if (s->pattern) {
        at += (size_t)snprintf(buf + at, size - at, ": %s\n", s->pattern);
        for (int m = 0; m < s->n_nodes && at < size; m++)
            at += (size_t)snprintf(buf + at, size - at, "%s%s", m ? " + " : "",
                                   nb_node_op(s->nodes[m]));
    }
    if (at < size)
        at += (size_t)snprintf(buf + at, size - at, "\n%s", value);
    if (at >= size)
        return;
    if (s->view)
        snprintf(buf + at, size - at, "\nview: no copy");
    else if (s->buffer >= 0)
        snprintf(buf + at, size - at, "\nbuffer %d (%s)", s->buffer,
                 bytes_text(s->buffer_bytes, bytes, sizeof bytes));
}

/* One DOT node "s<k>" for step k in its value's scope cluster: fused
 * groups filled green and bold, views dotted, the backward pass dashed
 * and red as in graph drawings, outputs with a double border. */
static bool add_step(drawing *d, const nb_runtime *rt, const nb_runtime_step_info *s, int k)
{
    char id[32], label[4 * LABEL_SIZE], style[64];
    const nb_node *last = s->nodes[s->n_nodes - 1];
    Agraph_t *c = cluster_of(d->root, nb_node_scope(last));
    snprintf(id, sizeof id, "s%d", k);
    Agnode_t *v = c ? agnode(c, id, 1) : NULL;
    if (!v)
        return false;
    step_label(s, k, label, sizeof label);
    set(v, "label", label);
    set(v, "tooltip", label);
    set(v, "shape", "box");
    const bool backward = nb_node_is_backward(last), output = nb_runtime_value(rt, last) != NULL;
    snprintf(style, sizeof style, "rounded,filled%s%s%s", s->pattern ? ",bold" : "",
             backward ? ",dashed" : s->view ? ",dotted" : "", output ? ",bold" : "");
    set(v, "style", style);
    set(v, "fillcolor", s->pattern ? FILL_FUSED : backward ? FILL_BACKWARD : FILL_OP);
    if (s->pattern)
        set(v, "color", LINE_FUSED), set(v, "penwidth", "2");
    else if (backward)
        set(v, "color", LINE_BACKWARD), set(v, "fontcolor", LINE_BACKWARD);
    if (output)
        set(v, "peripheries", "2");
    return true;
}

/* The edges into step k: from the step that wrote each value it reads, or
 * from the leaf (input, parameter, constant) drawn once for it. */
static bool add_step_edges(drawing *d, const int *step_of, const nb_runtime_step_info *s, int k)
{
    char id[32];
    snprintf(id, sizeof id, "s%d", k);
    Agnode_t *h = agnode(d->root, id, 0);
    for (int i = 0; i < s->n_inputs; i++) {
        const nb_node *x = s->inputs[i];
        int xid = nb_node_id(x);
        if (nb_node_kind_of(x) != NB_NODE_OP) {
            if (!d->keep[xid] && !add_node(d, x))
                return false;
            d->keep[xid] = true;
            snprintf(id, sizeof id, "n%d", xid);
        } else if (step_of[xid] >= 0) {
            snprintf(id, sizeof id, "s%d", step_of[xid]);
        } else {
            continue; /* computed by no step: never the case for a value a step reads */
        }
        Agedge_t *e = agedge(d->root, agnode(d->root, id, 0), h, NULL, 1);
        if (!e)
            return false;
        if (nb_node_is_backward(s->nodes[s->n_nodes - 1]))
            set(e, "style", "dashed"), set(e, "color", LINE_BACKWARD);
    }
    return true;
}

/* The plan's title: the caller's, then the steps and the bytes. */
static void plan_title(const nb_runtime *rt, int fused, const char *title, char *buf, size_t size)
{
    char planned[32], naive[32], t[LABEL_SIZE];
    escape(t, sizeof t, title ? title : "");
    snprintf(buf, size, "%s%sexecuted plan: %d steps, %d fused; buffers %s (%s without reuse)", t,
             title ? "\n" : "", nb_runtime_num_steps(rt), fused,
             bytes_text(nb_runtime_planned_bytes(rt), planned, sizeof planned),
             bytes_text(nb_runtime_naive_bytes(rt), naive, sizeof naive));
}

/* What build_plan draws: the runtime, and per node id the step writing it. */
typedef struct plan_ctx {
    const nb_runtime *rt;
    int *step_of;
} plan_ctx;

/* Every step, then every edge; NULL when cgraph failed. */
static Agraph_t *build_plan(drawing *d, const void *ctx)
{
    const nb_runtime *rt = ((const plan_ctx *)ctx)->rt;
    int *step_of = ((const plan_ctx *)ctx)->step_of;
    if (!build(d, NULL)) /* the root and its defaults; d->keep is all false: no nodes */
        return NULL;
    const int n = nb_runtime_num_steps(rt);
    int fused = 0;
    nb_runtime_step_info s;
    for (int k = 0; k < n; k++) {
        nb_runtime_step(rt, k, &s);
        for (int m = 0; m < s.n_nodes; m++) /* the last, and a group's side value */
            step_of[nb_node_id(s.nodes[m])] = k;
        fused += s.pattern != NULL;
        if (!add_step(d, rt, &s, k))
            return agclose(d->root), NULL;
    }
    for (int k = 0; k < n; k++) {
        nb_runtime_step(rt, k, &s);
        if (!add_step_edges(d, step_of, &s, k))
            return agclose(d->root), NULL;
    }
    char title[2 * LABEL_SIZE];
    plan_title(rt, fused, d->o.title, title, sizeof title);
    set(d->root, "label", title);
    set(d->root, "labelloc", "t");
    set(d->root, "fontsize", "14");
    return d->root;
}

/* One more than the largest node id any step computes or reads. */
static int plan_ids(const nb_runtime *rt)
{
    int top = 0;
    nb_runtime_step_info s;
    for (int k = 0; nb_runtime_step(rt, k, &s); k++) {
        for (int m = 0; m < s.n_nodes; m++)
            top = nb_node_id(s.nodes[m]) >= top ? nb_node_id(s.nodes[m]) + 1 : top;
        for (int i = 0; i < s.n_inputs; i++)
            top = nb_node_id(s.inputs[i]) >= top ? nb_node_id(s.inputs[i]) + 1 : top;
    }
    return top;
}

/* ---------------------------------------------------------------- output */

/* "svg" or "png" when path ends so (any case), else NULL (DOT text). */
static const char *render_format(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot && !strcasecmp(dot, ".svg"))
        return "svg";
    if (dot && !strcasecmp(dot, ".png"))
        return "png";
    return NULL;
}

/* Writes cairo's PNG (len bytes at data) to f as an 8-bit palette PNG
 * over a white background; cairo's own bytes when libpng cannot convert
 * them. False when f refuses the bytes. */
static bool write_png_palette(const char *data, size_t len, FILE *f)
{
    png_image im = {.version = PNG_IMAGE_VERSION};
    png_bytep px = NULL;
    png_byte map[256 * 3];
    png_color white = {255, 255, 255};
    bool done = false;
    if (png_image_begin_read_from_memory(&im, data, len)) {
        im.format = PNG_FORMAT_RGB_COLORMAP;
        px = nb_malloc(PNG_IMAGE_SIZE(im));
        done = px && png_image_finish_read(&im, &white, px, 0, map) &&
               png_image_write_to_stdio(&im, f, 0, px, 0, map);
    }
    png_image_free(&im);
    nb_free(px);
    return done || (fseek(f, 0, SEEK_SET) == 0 && ftruncate(fileno(f), 0) == 0 &&
                    fwrite(data, 1, len, f) == len);
}

/* Renders the laid-out g in format to f (a PNG through write_png_palette). */
static int render_to(GVC_t *gvc, Agraph_t *g, const char *format, FILE *f)
{
    if (strcmp(format, "png") != 0)
        return gvRender(gvc, g, format, f);
    char *data = NULL;
    unsigned int len = 0;
    int rc = gvRenderData(gvc, g, format, &data, &len);
    if (rc == 0 && !write_png_palette(data, len, f))
        rc = -1;
    gvFreeRenderData(data);
    return rc;
}

/* Address space a rendering may take beyond what the process holds.
 * Graphviz lays text out through Pango, which reads fontconfig's
 * configuration and starts threads; each new thread's first malloc maps a
 * 128 MB window for its arena (trimmed to 64 MB at once) beside its stack.
 * When a mapping fails there, fontconfig crashes or GLib aborts ("Error
 * creating thread"), so a limit too small for this is refused up front:
 * `nabla dot` of LeNet-5 (27 MB before drawing) crashed in 4 of 12 runs
 * under 210 MB and in none of 48 under 220–280 MB (Debian 12). */
#define RENDER_MEMORY ((size_t)256 << 20)

/* Lays g out with dot and renders it in format to f. */
static nb_status render(Agraph_t *g, const char *format, FILE *f, const char *path, nb_error *err)
{
    char msg[256];
    snprintf(msg, sizeof msg, "dot: drawing '%s' (Graphviz's layout and fonts)", path);
    nb_error e = {0};
    if (nb_memory_check(RENDER_MEMORY, msg, &e) != NB_OK)
        return nb_error_set(err, e.status, "%s; a path ending in .dot gets DOT text, which "
                            "needs no rendering", e.message);
    GVC_t *gvc = gvContext();
    if (!gvc)
        return nb_error_set(err, NB_ERR_NOMEM, "dot: cannot start graphviz to render '%s'", path);
    nb_status s = NB_OK;
    if (gvLayout(gvc, g, "dot") != 0) {
        s = nb_error_set(err, NB_ERR_STATE, "dot: graphviz could not lay out the graph for '%s': %s", path,
                 graphviz_message(msg, sizeof msg));
    } else {
        if (render_to(gvc, g, format, f) != 0)
            s = nb_error_set(err, NB_ERR_STATE, "dot: graphviz could not render '%s' as %s: %s", path,
                     format, graphviz_message(msg, sizeof msg));
        gvFreeLayout(gvc, g);
    }
    gvFreeContext(gvc);
    return s;
}

/* Writes the drawing to f: rendered, or as DOT text. */
static nb_status write_to(Agraph_t *g, FILE *f, const char *path, nb_error *err)
{
    const char *format = render_format(path);
    if (format)
        return render(g, format, f, path, err);
    if (agwrite(g, f) != 0)
        return nb_error_set(err, NB_ERR_ARG, "cannot write '%s': %s", path, strerror(errno));
    return NB_OK;
}

/* Writes g to a temporary file beside path, then flushes, syncs and renames
 * it over path; the temporary file is removed on every failure. */
static nb_status write_atomic(Agraph_t *g, const char *path, nb_error *err)
{
    size_t len = strlen(path) + 16;
    char *tmp = nb_malloc(len);
    if (!tmp)
        return nb_error_set(err, NB_ERR_NOMEM, "dot: out of memory writing '%s'", path);
    snprintf(tmp, len, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        nb_status s = nb_error_set(err, NB_ERR_ARG, "cannot write '%s': %s", path, strerror(errno));
        nb_free(tmp);
        return s;
    }
    fchmod(fd, 0644);
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        nb_free(tmp);
        return nb_error_set(err, NB_ERR_ARG, "cannot write '%s': %s", path, strerror(e));
    }
    nb_status s = write_to(g, f, path, err);
    errno = 0;
    if (s == NB_OK && (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0))
        s = nb_error_set(err, NB_ERR_ARG, "cannot write '%s': %s", path, strerror(errno ? errno : EIO));
    if (fclose(f) != 0 && s == NB_OK)
        s = nb_error_set(err, NB_ERR_ARG, "cannot write '%s': %s", path, strerror(errno));
    if (s == NB_OK && rename(tmp, path) != 0)
        s = nb_error_set(err, NB_ERR_ARG, "cannot write '%s': %s", path, strerror(errno));
    if (s != NB_OK)
        unlink(tmp);
    nb_free(tmp);
    return s;
}

/* ---------------------------------------------------------------- entry */

/* Builds d with make (Graphviz told to keep its messages to itself
 * meanwhile, its previous level restored) and writes it to path. */
static nb_status draw(drawing *d, Agraph_t *(*make)(drawing *d, const void *ctx),
                      const void *ctx, const char *path, nb_error *err)
{
    agerrlevel_t level = agseterr(AGMAX);
    agreseterrors();
    nb_status s;
    if (!make(d, ctx)) {
        s = nb_error_set(err, NB_ERR_NOMEM, "dot: graphviz could not build the drawing for '%s'",
                         path);
    } else {
        s = write_atomic(d->root, path, err);
        agclose(d->root);
    }
    agseterr(level);
    return s;
}

nb_status nb_dot_write(nb_graph *g, nb_node *const *outputs, int n, nb_dot_opts o,
                       const char *path, nb_error *err)
{
    if (!g)
        return nb_error_set(err, NB_ERR_ARG, "dot: graph is NULL");
    if (!path || !*path)
        return nb_error_set(err, NB_ERR_ARG, "dot: no output path given");
    if (outputs && n < 1)
        return nb_error_set(err, NB_ERR_ARG, "dot: %d outputs given; need at least one (or NULL for all)",
                    n);
    drawing d = {.g = g, .count = nb_graph_node_count(g), .o = o};
    d.keep = nb_calloc((size_t)d.count + 1, sizeof *d.keep);
    d.output = nb_calloc((size_t)d.count + 1, sizeof *d.output);
    nb_status s = d.keep && d.output ? NB_OK
                                     : nb_error_set(err, NB_ERR_NOMEM, "dot: out of memory for %d nodes",
                                            d.count);
    if (s == NB_OK)
        s = select_nodes(&d, outputs, n, err);
    if (s == NB_OK)
        s = draw(&d, build, NULL, path, err);
    nb_free(d.keep);
    nb_free(d.output);
    return s;
}

nb_status nb_runtime_dot_write(const nb_runtime *rt, nb_dot_opts o, const char *path,
                               nb_error *err)
{
    if (!rt)
        return nb_error_set(err, NB_ERR_ARG, "dot: runtime is NULL");
    if (!path || !*path)
        return nb_error_set(err, NB_ERR_ARG, "dot: no output path given");
    const int ids = plan_ids(rt);
    drawing d = {.count = 0, .o = o};
    d.keep = nb_calloc((size_t)ids + 1, sizeof *d.keep);
    d.output = nb_calloc((size_t)ids + 1, sizeof *d.output);
    int *step_of = nb_malloc(((size_t)ids + 1) * sizeof *step_of);
    nb_status s = d.keep && d.output && step_of
                      ? NB_OK
                      : nb_error_set(err, NB_ERR_NOMEM, "dot: out of memory for %d nodes", ids);
    for (int i = 0; step_of && i <= ids; i++)
        step_of[i] = -1;
    if (s == NB_OK)
        s = draw(&d, build_plan, &(plan_ctx){rt, step_of}, path, err);
    nb_free(d.keep);
    nb_free(d.output);
    nb_free(step_of);
    return s;
}

nb_status nb_trainer_dot_write(nb_trainer *t, nb_dot_opts o, const char *path, nb_error *err)
{
    nb_model_io io = nb_trainer_model_io(t);
    if (!t || !io.output)
        return nb_error_set(err, NB_ERR_ARG, "dot: %s", t ? "the trainer has no model" : "trainer is NULL");
    int n_params = nb_trainer_num_param_tensors(t), n = 0;
    nb_node **outs = nb_malloc((size_t)(2 + n_params) * sizeof *outs);
    if (!outs)
        return nb_error_set(err, NB_ERR_NOMEM, "dot: out of memory for %d outputs", 2 + n_params);
    outs[n++] = io.output;
    if (io.loss)
        outs[n++] = io.loss;
    for (int i = 0; o.backward && i < n_params; i++)
        if (nb_trainer_grad(t, i))
            outs[n++] = nb_trainer_grad(t, i);
    nb_status s = nb_dot_write(nb_trainer_graph(t), outs, n, o, path, err);
    nb_free(outs);
    return s;
}
