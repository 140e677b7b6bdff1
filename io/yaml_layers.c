/*
 * yaml_layers.c — the graph a model file describes: its inputs, the
 * sequential `layers:` list or the DAG of `nodes:` (each node's options
 * read against yaml_schema.c), the output and the loss. Names are unique
 * and a node reads only inputs and nodes above it.
 */
#include <stdio.h>
#include <string.h>

#include "yaml_schema.h"
#include "yaml_sections.h"

/* ================================================================ layers and nodes */

/* The value (input or earlier node) called name, or -1. */
static int find_value(const nb_model_file *m, const char *name)
{
    for (int i = 0; i < m->n_inputs; i++)
        if (!strcmp(m->inputs[i].name, name))
            return i;
    for (int k = 0; k < m->n_nodes; k++)
        if (m->nodes[k].name && !strcmp(m->nodes[k].name, name))
            return m->n_inputs + k;
    return -1;
}

/* The node above whose h_n or c_n (state j) is called name, or -1. */
static int find_state(const nb_model_file *m, const char *name, int *j)
{
    for (int k = 0; k < m->n_nodes; k++)
        for (*j = 0; *j < 2; ++*j)
            if (m->nodes[k].state_out[*j] && !strcmp(m->nodes[k].state_out[*j], name))
                return k;
    return -1;
}

static const char *const state_keys[] = {"h0", "c0", "h_n", "c_n"};

static bool is_state_key(const char *k)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(k, state_keys[i]))
            return true;
    return false;
}

/* A new name must not repeat an input's or an earlier node's (or a final
 * state's), nor take "y". */
static bool claim_name(nb__yctx *c, const nb__yv *v, const char *name)
{
    const nb_model_file *m = c->m;
    int other = find_value(m, name), j, state = find_state(m, name, &j);
    if (!strcmp(name, "y"))
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col,
                         "the name 'y' is reserved for the targets");
    if (state >= 0)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "name '%s' is already the %s of the "
                         "node at line %d", name, state_keys[2 + j], m->nodes[state].line);
    if (other < 0)
        return true;
    if (other < m->n_inputs)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "name '%s' is already an input (line %d)",
                         name, m->inputs[other].line);
    return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "name '%s' is already used by the node at "
                     "line %d", name, m->nodes[other - m->n_inputs].line);
}

/*
 * A recurrent layer's h0 or c0 (an input, or a node above, it starts from)
 * or h_n or c_n (the graph name its final state gets). The shapes are
 * checked when the model is built.
 */
static bool read_state(nb__yctx *c, const nb__yv *v, const char *key, const char *where,
                       nb__ynode *n)
{
    const nb_model_file *m = c->m;
    int j = key[0] == 'c', value;
    if (key[1] == '_') {
        const char *name;
        if (!nb__yto_name(c, v, key, where, &name) || !claim_name(c, v, name))
            return false;
        n->state_out[j] = name;
        return true;
    }
    if (v->kind != NB__YV_SCALAR || nb__yis_null(v))
        return nb__ytype_error(c, v, key, where, "an input or node name");
    value = find_value(m, v->s);
    if (value >= 0 && value == nb__ytargets_input(m))
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "%s reads the targets 'y'; only the "
                         "loss reads them", key);
    if (value < 0)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "%s '%.60s' is not an input or a node "
                         "above this one%s", key, v->s, find_state(m, v->s, &j) >= 0 ?
                         " (a final state is read by the program that runs the model, not by "
                         "its nodes)" : "");
    n->state_in[key[0] == 'c'] = value + 1;
    return true;
}

static const char *const seq_common[] = {"name", "trainable", NULL};
static const char *const dag_common[] = {"name", "op", "inputs", "trainable", NULL};

/*
 * A node's options (opts may be NULL): its op's keys, plus name and
 * trainable (and, in the nodes form, op and inputs, which the caller reads).
 * `at` is where the node starts.
 */
static bool node_options(nb__yctx *c, const nb__yv *at, const nb__yv *opts, nb__ynode *n, bool dag)
{
    const nb__yop_info info = nb__yop_info_of(n->op), *op = &info;
    char where[48];
    snprintf(where, sizeof where, "in %s", op->name);
    n->a = nb__yattr_defaults();
    if (n->op == NB__Y_ELU)
        n->a.alpha = 1.0; /* PyTorch's default; leaky_relu's is the 0.01 above */
    n->trainable = true;
    const nb__yv *dag_key = dag ? NULL
                            : nb__ykey_of(opts, "inputs") ? nb__ykey_of(opts, "inputs")
                                                          : nb__ykey_of(opts, "op");
    if (dag_key)
        return nb__yfail(c, NB_ERR_ARG, dag_key->line, dag_key->col, "key '%s' belongs to the "
                         "nodes: form; in layers: each layer reads the one above it", dag_key->s);
    if (opts && !nb__ycheck_keys(c, opts, where, op->keys, dag ? dag_common : seq_common))
        return false;
    for (int i = 0; op->required[i] && i < 3; i++)
        if (!nb__yget(opts, op->required[i]))
            return nb__yfail(c, NB_ERR_ARG, (opts ? opts : at)->line, (opts ? opts : at)->col,
                             "key '%s' is missing in %s", op->required[i], op->name);
    for (int i = 0; opts && i < nb__ypairs(opts); i++) {
        const char *k = NB__YKEY(opts, i)->s;
        const nb__yv *v = NB__YVAL(opts, i);
        bool ok = true;
        if (!strcmp(k, "name"))
            ok = (dag ? nb__yto_node_name(c, v, k, where, &n->name)
                      : nb__yto_name(c, v, k, where, &n->name)) &&
                 claim_name(c, v, n->name);
        else if (!strcmp(k, "trainable"))
            ok = nb__yto_bool(c, v, k, where, &n->trainable);
        else if (is_state_key(k))
            ok = read_state(c, v, k, where, n);
        else if (strcmp(k, "op") && strcmp(k, "inputs"))
            ok = nb__yread_attr(c, k, v, where, n->op, &n->a);
        if (!ok)
            return false;
    }
    const char *h_n = n->state_out[0], *c_n = n->state_out[1], *own = n->name ? n->name : "";
    const nb__yv *where_at = opts ? opts : at;
    if ((h_n && !strcmp(h_n, own)) || (c_n && !strcmp(c_n, own)))
        return nb__yfail(c, NB_ERR_ARG, where_at->line, where_at->col, "%s '%s' is the name of "
                         "its own node", h_n && !strcmp(h_n, own) ? "h_n" : "c_n", own);
    if (h_n && c_n && !strcmp(h_n, c_n))
        return nb__yfail(c, NB_ERR_ARG, where_at->line, where_at->col, "h_n and c_n are both "
                         "called '%s'", h_n);
    if (n->op == NB__Y_LSTM && !n->state_in[0] != !n->state_in[1])
        return nb__yfail(c, NB_ERR_ARG, where_at->line, where_at->col,
                         "lstm starts from both h0 and c0, or from neither (zeros); %s is "
                         "missing", n->state_in[0] ? "c0" : "h0");
    return nb__ycheck_node(c, at, opts, n);
}

/* ---------------------------------------------------------------- layers: */

/* One item of the sequential form: `flatten` or `{conv2d: {filters: 6, ...}}`. */
static bool parse_layer(nb__yctx *c, const nb__yv *item, int k)
{
    nb_model_file *m = c->m;
    nb__ynode *n = &m->nodes[k];
    *n = (nb__ynode){.line = item->line, .col = item->col, .index = k + 1};
    const nb__yv *word = item, *opts = NULL;
    if (item->kind == NB__YV_MAP && nb__ypairs(item) == 1) {
        word = NB__YKEY(item, 0);
        opts = nb__yis_null(NB__YVAL(item, 0)) ? NULL : NB__YVAL(item, 0);
    } else if (item->kind == NB__YV_MAP && nb__ypairs(item) == 0) {
        return nb__yfail(c, NB_ERR_ARG, item->line, item->col, "layer %d is empty; write an op "
                         "such as flatten or {dense: {units: 10}}", k + 1);
    } else if (item->kind == NB__YV_MAP) {
        return nb__yfail(c, NB_ERR_ARG, item->line, item->col, "layer %d has %d keys ('%.30s', "
                         "'%.30s'%s); a layer is one op with its options inside, as in "
                         "{dense: {units: 10, activation: relu}}", k + 1, nb__ypairs(item),
                         NB__YKEY(item, 0)->s, NB__YKEY(item, 1)->s,
                         nb__ypairs(item) > 2 ? ", ..." : "");
    } else if (item->kind != NB__YV_SCALAR || nb__yis_null(item)) {
        char b[80];
        return nb__yfail(c, NB_ERR_ARG, item->line, item->col, "layer %d: expected an op name "
                         "such as flatten or a mapping such as {dense: {units: 10}}, got %s",
                         k + 1, nb__ygot(item, b, sizeof b));
    }
    if (!nb__ylookup_op(c, word, &n->op))
        return false;
    if (opts && opts->kind != NB__YV_MAP) {
        char b[80];
        return nb__yfail(c, NB_ERR_ARG, opts->line, opts->col, "the options of %s must be a "
                         "mapping {key: value, ...}, got %s", word->s, nb__ygot(opts, b, sizeof b));
    }
    int arity = nb__yop_info_of(n->op).arity;
    char count[16];
    snprintf(count, sizeof count, "%d", arity);
    if (arity != 1)
        return nb__yfail(c, NB_ERR_ARG, word->line, word->col, "%s reads %s input%s; each layer of "
                         "the layers: form reads the one before it: write the model as nodes:",
                         word->s, arity == 0 ? "no" : arity < 0 ? "several" : count,
                         arity == 0 ? "" : "s");
    if (!node_options(c, item, opts, n, false) || !(n->in = nb__ypool_add(c, sizeof *n->in)))
        return false;
    n->n_in = 1;
    n->in[0] = k == 0 ? 0 : m->n_inputs + k - 1;
    m->n_nodes = k + 1;
    return true;
}

static bool parse_layers(nb__yctx *c, const nb__yv *seq)
{
    nb_model_file *m = c->m;
    if (seq->kind != NB__YV_SEQ || seq->n == 0)
        return nb__ytype_error(c, seq, "layers", "at the top level", "a list of layers");
    if (seq->n > NB__YAML_MAX_NODES)
        return nb__yfail(c, NB_ERR_ARG, seq->line, seq->col, "more than %d layers",
                         NB__YAML_MAX_NODES);
    if (m->n_inputs != 1)
        return nb__yfail(c, NB_ERR_ARG, seq->line, seq->col, "the layers: form reads one input and "
                         "the file declares %d; write the model as nodes:", m->n_inputs);
    if (!(m->nodes = nb__ypool_add(c, (size_t)seq->n * sizeof *m->nodes)))
        return false;
    for (int k = 0; k < seq->n; k++)
        if (!parse_layer(c, seq->kid[k], k))
            return false;
    return true;
}

/* ---------------------------------------------------------------- nodes: */

/* Line of a later node named `name` in the nodes list, or 0. */
static int later_node(const nb__yv *seq, int k, const char *name)
{
    for (int i = k + 1; i < seq->n; i++) {
        const nb__yv *v = nb__yget(seq->kid[i], "name");
        if (v && v->kind == NB__YV_SCALAR && !strcmp(v->s, name))
            return v->line;
    }
    return 0;
}

/* One name of `inputs`: an input or a node above this one. */
static bool resolve_input(nb__yctx *c, const nb__yv *seq, int k, const nb__yv *v, int *out)
{
    const nb__ynode *n = &c->m->nodes[k];
    if (v->kind != NB__YV_SCALAR || nb__yis_null(v))
        return nb__ytype_error(c, v, "inputs", "in a node", "a node or input name");
    *out = find_value(c->m, v->s);
    if (*out >= 0 && *out == nb__ytargets_input(c->m))
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "node '%s' reads the targets 'y'; only "
                         "the loss reads them", n->name);
    if (*out >= 0)
        return true;
    int later = later_node(seq, k, v->s);
    if (n->name && !strcmp(v->s, n->name))
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "node '%s' reads itself; a node reads "
                         "only inputs and nodes above it", n->name);
    if (later)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "node '%s' reads '%s', which comes later "
                         "(line %d); a node reads only inputs and nodes above it", n->name, v->s,
                         later);
    int j;
    return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "node '%s' reads '%.60s', which is not an "
                     "input or a node above it%s", n->name, v->s, find_state(c->m, v->s, &j) >= 0 ?
                     " (a final state is read by the program that runs the model, not by its "
                     "nodes)" : "");
}

/* `inputs: [a, b]` (or one name); absent, a one-input op reads the value
 * just above it. */
static bool parse_node_inputs(nb__yctx *c, const nb__yv *seq, int k, const nb__yv *item)
{
    nb_model_file *m = c->m;
    nb__ynode *n = &m->nodes[k];
    const nb__yv *v = nb__yget(item, "inputs");
    const char *op = nb__yop_name(n->op);
    int arity = nb__yop_info_of(n->op).arity, count = !v ? 0 : v->kind == NB__YV_SEQ ? v->n : 1;
    char reads[16];
    snprintf(reads, sizeof reads, "%d", arity);
    if (!v && arity == 1)
        count = 1;
    else if (!v && arity != 0)
        return nb__yfail(c, NB_ERR_ARG, item->line, item->col, "node '%s': %s reads %s inputs; "
                         "list them in 'inputs'", n->name, op, arity < 0 ? "one or more" : reads);
    else if (arity >= 0 && count != arity)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "node '%s': %s reads %d input%s, and "
                         "'inputs' names %d", n->name, op, arity, arity == 1 ? "" : "s", count);
    else if (arity < 0 && (count < 1 || count > NB__YAML_MAX_NODE_INPUTS))
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "node '%s': %s reads 1 to %d inputs, and "
                         "'inputs' names %d", n->name, op, NB__YAML_MAX_NODE_INPUTS, count);
    if (count && !(n->in = nb__ypool_add(c, (size_t)count * sizeof *n->in)))
        return false;
    n->n_in = count;
    if (!v && count == 1)
        n->in[0] = k == 0 ? 0 : m->n_inputs + k - 1;
    for (int i = 0; v && i < count; i++)
        if (!resolve_input(c, seq, k, v->kind == NB__YV_SEQ ? v->kid[i] : v, &n->in[i]))
            return false;
    return true;
}

/* Every key any node may have, for "did you mean" when `op` is missing. */
static bool check_any_node_keys(nb__yctx *c, const nb__yv *item)
{
    const char *all[NB__YATTR_KEYS + 1];
    nb__yattr_keys(all);
    return nb__ycheck_keys(c, item, "in a node", dag_common, all);
}

/* One item of the DAG form: {name: h1, op: dense, inputs: [x], units: 64}. */
static bool parse_node(nb__yctx *c, const nb__yv *seq, int k)
{
    nb_model_file *m = c->m;
    const nb__yv *item = seq->kid[k];
    nb__ynode *n = &m->nodes[k];
    *n = (nb__ynode){.line = item->line, .col = item->col, .index = k + 1};
    if (item->kind != NB__YV_MAP)
        return nb__ytype_error(c, item, "nodes", "at the top level",
                               "a mapping such as {name: h1, op: dense, inputs: [x], units: 64}");
    const nb__yv *op = nb__yget(item, "op");
    if (!op)
        return check_any_node_keys(c, item) &&
               nb__yfail(c, NB_ERR_ARG, item->line, item->col, "key 'op' is missing in node %d",
                         k + 1);
    if (!nb__ylookup_op(c, op, &n->op) || !node_options(c, item, item, n, true))
        return false;
    if (!n->name)
        return nb__yfail(c, NB_ERR_ARG, item->line, item->col, "key 'name' is missing in node %d "
                         "(%s)", k + 1, nb__yop_name(n->op));
    if (!parse_node_inputs(c, seq, k, item))
        return false;
    m->n_nodes = k + 1;
    return true;
}

static bool parse_nodes(nb__yctx *c, const nb__yv *seq)
{
    nb_model_file *m = c->m;
    if (seq->kind != NB__YV_SEQ || seq->n == 0)
        return nb__ytype_error(c, seq, "nodes", "at the top level", "a list of nodes");
    if (seq->n > NB__YAML_MAX_NODES)
        return nb__yfail(c, NB_ERR_ARG, seq->line, seq->col, "more than %d nodes",
                         NB__YAML_MAX_NODES);
    if (!(m->nodes = nb__ypool_add(c, (size_t)seq->n * sizeof *m->nodes)))
        return false;
    m->dag = true;
    for (int k = 0; k < seq->n; k++)
        if (!parse_node(c, seq, k))
            return false;
    return true;
}

/* ================================================================ inputs, output, loss */

/* One input's value: a shape, or {shape: [...], type: float | int}; int:
 * integer ids (token ids), fed exactly and never scaled. */
static bool parse_input(nb__yctx *c, const nb__yv *v, nb__yinput *in)
{
    static const char *const keys[] = {"shape", "type", NULL};
    static const char *const types[] = {"float", "int", NULL};
    char where[96];
    in->ids = false;
    if (v->kind != NB__YV_MAP)
        return nb__yto_shape(c, v, in->name, "in input", false, &in->shape);
    snprintf(where, sizeof where, "in input '%s'", in->name);
    if (!nb__ycheck_keys(c, v, where, keys, NULL))
        return false;
    const nb__yv *shape = nb__yget(v, "shape"), *type = nb__yget(v, "type");
    if (!shape)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "key 'shape' is missing %s (e.g. "
                         "{shape: [64], type: int})", where);
    int k = type ? nb__ylookup(c, type, "input type", types) : 0;
    in->ids = k == 1;
    return k >= 0 && nb__yto_shape(c, shape, "shape", where, false, &in->shape);
}

/* input: {x: [1, 28, 28], ...}: names and one example's shape each (or
 * {shape, type}); at most NB_MAX_INPUTS fed inputs besides the targets y. */
bool nb__yparse_inputs(nb__yctx *c, const nb__yv *v)
{
    nb_model_file *m = c->m;
    if (v->kind != NB__YV_MAP || nb__ypairs(v) == 0)
        return nb__ytype_error(c, v, "input", "at the top level", "a mapping of input names to "
                               "shapes, such as {x: [1, 28, 28]}");
    if (!(m->inputs = nb__ypool_add(c, (size_t)nb__ypairs(v) * sizeof *m->inputs)))
        return false;
    int fed = 0;
    for (int i = 0; i < nb__ypairs(v); i++) {
        nb__yinput *in = &m->inputs[i];
        const nb__yv *k = NB__YKEY(v, i);
        in->line = k->line, in->col = k->col;
        if (!nb__yto_name(c, k, "input", "at the top level", &in->name) ||
            (!(i > 0 && !strcmp(in->name, "y")) && !claim_name(c, k, in->name)) ||
            !parse_input(c, NB__YVAL(v, i), in))
            return false;
        m->n_inputs = i + 1;
        if ((fed += strcmp(in->name, "y") != 0) > NB_MAX_INPUTS)
            return nb__yfail(c, NB_ERR_ARG, k->line, k->col, "input '%s': a model takes at most "
                             "%d inputs (besides the targets y)", in->name, NB_MAX_INPUTS);
    }
    return true;
}

/* output: <node name>; else the last node. */
bool nb__yparse_output(nb__yctx *c, const nb__yv *v, const char *key, const char *where, int *out)
{
    nb_model_file *m = c->m;
    if (!v) {
        *out = m->n_nodes - 1;
        return true;
    }
    if (v->kind != NB__YV_SCALAR || nb__yis_null(v))
        return nb__ytype_error(c, v, key, where, "a node name");
    int k = find_value(m, v->s);
    if (k < 0)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "%s '%.60s' is not the name of a %s", key,
                         v->s, m->dag ? "node" : "layer (give the layer a name: ...)");
    if (k < m->n_inputs)
        return nb__yfail(c, NB_ERR_ARG, v->line, v->col, "%s '%s' is an input; name a node", key,
                         v->s);
    *out = k - m->n_inputs;
    return true;
}

/* loss: mse, or {softmax_cross_entropy: {node: logits}}. */
bool nb__yparse_loss(nb__yctx *c, const nb__yv *v)
{
    nb_model_file *m = c->m;
    m->loss = NB__LOSS_NONE;
    m->loss_node = m->output;
    if (!v)
        return true;
    const nb__yv *word, *opts;
    static const char *const keys[] = {"node", NULL}, *huber_keys[] = {"node", "delta", NULL};
    if (!nb__yone_key(c, v, "loss", "{softmax_cross_entropy: {node: logits}}", &word, &opts))
        return false;
    int k = nb__ylookup_loss(c, word);
    if (k < 0)
        return false;
    m->loss = (nb__yloss)k;
    m->loss_line = word->line, m->loss_col = word->col;
    char where[64];
    snprintf(where, sizeof where, "in loss %s", word->s);
    if (!opts)
        return true;
    const nb__yv *delta = nb__yget(opts, "delta");
    return nb__ycheck_keys(c, opts, where, m->loss == NB__LOSS_HUBER ? huber_keys : keys, NULL) &&
           (!delta || nb__yto_float(c, delta, "delta", where, NB__YR_POS, &m->loss_delta)) &&
           nb__yparse_output(c, nb__yget(opts, "node"), "node", where, &m->loss_node);
}

/* layers: or nodes:, exactly one. */
bool nb__yparse_body(nb__yctx *c, const nb__yv *root)
{
    const nb__yv *layers = nb__yget(root, "layers"), *nodes = nb__yget(root, "nodes");
    if (layers && nodes)
        return nb__yfail(c, NB_ERR_ARG, nb__ykey_of(root, "nodes")->line,
                         nb__ykey_of(root, "nodes")->col,
                         "a model has 'layers' (line %d) or 'nodes', not both",
                         nb__ykey_of(root, "layers")->line);
    if (!layers && !nodes)
        return nb__yfail(c, NB_ERR_ARG, root->line, root->col, "key 'layers' (or 'nodes') is "
                         "missing at the top level");
    return layers ? parse_layers(c, layers) : parse_nodes(c, nodes);
}
