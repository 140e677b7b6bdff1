/*
 * recurrent.c — RNN (tanh), GRU and LSTM layers, unrolled over a sequence
 * whose length is fixed when the graph is built. Each step is matmuls,
 * slices and elementwise ops, so autodiff derives backpropagation through
 * time from the graph like any other.
 *
 * Layout and parameters are PyTorch's (nn.RNN, nn.GRU, nn.LSTM with
 * batch_first=True), so weights map one to one: x [N, T, F]; per layer k
 * and direction (suffix "_reverse" for the backward one) weight_ih_l<k>
 * [G·H, F_k], weight_hh_l<k> [G·H, H], bias_ih_l<k> and bias_hh_l<k>
 * [G·H], G = 1 (RNN), 3 (GRU: r, z, n), 4 (LSTM: i, f, g, o), all
 * U(−1/√H, 1/√H) by default. F_0 = F, F_k = D·H above (D = 2 when
 * bidirectional). Initial states h0 (and c0) are [D·layers, N, H] in
 * PyTorch's order (layer 0 forward, layer 0 backward, layer 1 …).
 *
 * The input's contribution to every gate of every step is one product per
 * layer and direction, x [N·T, F_k] · W_ihᵀ; each step then adds h·W_hhᵀ
 * and reads its gates as slices (autodiff joins the slices' gradients into
 * one concat, not a pad per step).
 */
#include <math.h>

#include "layers_internal.h"

typedef enum cell { CELL_RNN, CELL_GRU, CELL_LSTM } cell;

static const char *const cell_names[] = {"rnn", "gru", "lstm"};
static const int cell_gates[] = {1, 3, 4};
static const nb_layer_kind cell_kinds[] = {NB_LAYER_RNN, NB_LAYER_GRU, NB_LAYER_LSTM};

/* The settings of one build: options with defaults applied, sizes. */
typedef struct rnn {
    cell kind;
    int64_t n, t, f, h;   /* batch, steps, input features, hidden units */
    int layers, dirs, gates;
    nb_rnn_opts o;
} rnn;

/* Gate j of a [N, G·H] value, or of a [G·H] bias: its last axis's
 * columns [j·H, (j+1)·H). */
static nb_node *gate(nb_graph *g, nb_node *z, const rnn *r, int j)
{
    return r->gates == 1 ? z : nb_slice(g, z, -1, j * r->h, (j + 1) * r->h, 1);
}

/* Row `row` of a [D·layers, N, H] state as [N, H]. */
static nb_node *state_row(nb_graph *g, nb_node *s, const rnn *r, int row)
{
    return nb_reshape(g, nb_slice(g, s, 0, row, row + 1, 1), NB_SHAPE(r->n, r->h));
}

/* One direction's four parameters of layer k, reading f_in features. */
typedef struct weights {
    nb_node *w_ih, *w_hh, *b_ih, *b_hh;
} weights;

static weights make_weights(nb_graph *g, const rnn *r, int k, bool reverse, int64_t f_in)
{
    char name[64];
    const char *suffix = reverse ? "_reverse" : "";
    int64_t gh = r->gates * r->h;
    float bound = 1.0f / sqrtf((float)r->h);
    nb_init init = r->o.init.kind != NB_INIT_DEFAULT
                       ? r->o.init
                       : (nb_init){.kind = NB_INIT_UNIFORM, .a = -bound, .b = bound};
    weights w = {0};
    snprintf(name, sizeof name, "weight_ih_l%d%s", k, suffix);
    w.w_ih = nb_param_init(g, name, NB_SHAPE(gh, f_in), init, f_in, gh);
    snprintf(name, sizeof name, "weight_hh_l%d%s", k, suffix);
    w.w_hh = nb_param_init(g, name, NB_SHAPE(gh, r->h), init, r->h, gh);
    if (!r->o.no_bias) {
        snprintf(name, sizeof name, "bias_ih_l%d%s", k, suffix);
        w.b_ih = nb_param_init(g, name, NB_SHAPE(gh), init, f_in, gh);
        snprintf(name, sizeof name, "bias_hh_l%d%s", k, suffix);
        w.b_hh = nb_param_init(g, name, NB_SHAPE(gh), init, r->h, gh);
    }
    return w;
}

/* h·W_hhᵀ (+ b_hh); h NULL is the zero state: b_hh alone (or NULL). */
static nb_node *hidden_part(nb_graph *g, nb_node *h, const weights *w)
{
    if (!h)
        return w->b_hh;
    nb_node *p = nb_matmul(g, h, w->w_hh, false, true);
    return w->b_hh ? nb_add(g, p, w->b_hh) : p;
}

static nb_node *plus(nb_graph *g, nb_node *a, nb_node *b)
{
    return b ? nb_add(g, a, b) : a;
}

/* One step of the cell: xw the input's part [N, G·H] (bias_ih in it),
 * h and c the state (NULL: zeros); the new state in *h and *c. */
static void step(nb_graph *g, const rnn *r, const weights *w, nb_node *xw, nb_node **h,
                 nb_node **c)
{
    nb_node *hw = hidden_part(g, *h, w); /* [N, G·H], [G·H] (zero state) or NULL */
    if (r->kind == CELL_RNN) {
        *h = nb_tanh(g, plus(g, xw, hw));
    } else if (r->kind == CELL_LSTM) {
        nb_node *z = plus(g, xw, hw);
        nb_node *i = nb_sigmoid(g, gate(g, z, r, 0)), *f = nb_sigmoid(g, gate(g, z, r, 1));
        nb_node *gg = nb_tanh(g, gate(g, z, r, 2)), *o = nb_sigmoid(g, gate(g, z, r, 3));
        nb_node *ig = nb_mul(g, i, gg);
        *c = *c ? nb_add(g, nb_mul(g, f, *c), ig) : ig;
        *h = nb_mul(g, o, nb_tanh(g, *c));
    } else {
        /* GRU: r and z from both parts; n = tanh(x_n + r ⊙ h_n), h_n
         * holding b_hn as PyTorch has it; h' = (1 − z) ⊙ n + z ⊙ h,
         * computed as n + z ⊙ (h − n) (n − z ⊙ n from the zero state). */
        nb_node *rg = nb_sigmoid(g, plus(g, gate(g, xw, r, 0), hw ? gate(g, hw, r, 0) : NULL));
        nb_node *zg = nb_sigmoid(g, plus(g, gate(g, xw, r, 1), hw ? gate(g, hw, r, 1) : NULL));
        nb_node *xn = gate(g, xw, r, 2);
        nb_node *n = nb_tanh(g, hw ? nb_add(g, xn, nb_mul(g, rg, gate(g, hw, r, 2))) : xn);
        *h = *h ? nb_add(g, n, nb_mul(g, zg, nb_sub(g, *h, n))) : nb_sub(g, n, nb_mul(g, zg, n));
    }
}

/* Step t of a [N, T, G·H] value as [N, G·H]. */
static nb_node *at_step(nb_graph *g, nb_node *xw, const rnn *r, int64_t t)
{
    return nb_reshape(g, nb_slice(g, xw, 1, t, t + 1, 1), NB_SHAPE(r->n, r->gates * r->h));
}

/* [N, H] values, one per row, stacked as [rows, N, H]. */
static nb_node *stack_rows(nb_graph *g, nb_node **v, int rows, const rnn *r)
{
    nb_node *one[2 * NB_RNN_MAX_LAYERS];
    for (int i = 0; i < rows; i++)
        one[i] = nb_reshape(g, v[i], NB_SHAPE(1, r->n, r->h));
    return rows == 1 ? one[0] : nb_concat(g, one, rows, 0);
}

/* The output of every step, directions side by side: [N, T, D·H]. Each
 * step's joined value replaces out[0][t] (the layer above reads the
 * sequence, never the steps), so no room of its own is needed. */
static nb_node *sequence_of(nb_graph *g, nb_node ***out, const rnn *r)
{
    for (int64_t t = 0; t < r->t; t++) {
        nb_node *both[2] = {out[0][t], r->dirs == 2 ? out[1][t] : NULL};
        nb_node *v = r->dirs == 2 ? nb_concat(g, both, 2, 1) : both[0];
        out[0][t] = nb_reshape(g, v, NB_SHAPE(r->n, 1, r->dirs * r->h));
    }
    return r->t == 1 ? out[0][0] : nb_concat(g, out[0], (int)r->t, 1);
}

/* Checks the options and the input; fills *r. */
static bool check(nb_graph *g, nb_node *x, cell kind, const nb_rnn_opts *o, rnn *r)
{
    nb_shape xs = nb_node_shape(x);
    char d[300], want[64];
    *r = (rnn){.kind = kind, .h = o->hidden, .layers = o->layers ? o->layers : 1,
               .dirs = o->bidirectional ? 2 : 1, .gates = cell_gates[kind], .o = *o};
    if (o->hidden < 1)
        return nb__layer_refuse(g, NB_ERR_ARG, "hidden %lld must be >= 1", (long long)o->hidden),
               false;
    if (r->layers < 1 || r->layers > NB_RNN_MAX_LAYERS)
        return nb__layer_refuse(g, NB_ERR_ARG, "layers %d is outside 1..%d", o->layers,
                                NB_RNN_MAX_LAYERS), false;
    if (xs.rank != 3)
        return nb__layer_refuse(g, NB_ERR_SHAPE, "input %s must be [N, T, F]: a batch of "
                                "sequences of T steps of F features (reshape images [N, 1, H, W] "
                                "to [N, H, W] to read them row by row)",
                                nb__layer_describe(x, d, sizeof d)), false;
    r->n = xs.dim[0], r->t = xs.dim[1], r->f = xs.dim[2];
    if (kind != CELL_LSTM && (o->c0 || o->c_n))
        return nb__layer_refuse(g, NB_ERR_ARG, "a cell state (c0, c_n) belongs to lstm; %s has "
                                "only h", cell_names[kind]), false;
    if (kind == CELL_LSTM && !o->h0 != !o->c0)
        return nb__layer_refuse(g, NB_ERR_ARG, "lstm takes both initial states h0 and c0, or "
                                "neither (zeros)"), false;
    snprintf(want, sizeof want, "[%d,%lld,%lld]", r->dirs * r->layers, (long long)r->n,
             (long long)r->h);
    nb_shape ws = NB_SHAPE(r->dirs * r->layers, r->n, r->h);
    nb_node *init[2] = {o->h0, o->c0};
    for (int i = 0; i < 2; i++)
        if (init[i] && !nb_shape_equal(nb_node_shape(init[i]), ws))
            return nb__layer_refuse(g, NB_ERR_SHAPE, "initial state %s %s must be %s: "
                                    "[directions·layers, N, hidden]", i ? "c0" : "h0",
                                    nb__layer_describe(init[i], d, sizeof d), want), false;
    return true;
}

/* Builds the layers; out[d][t] is the current layer's step outputs. */
static nb_node *unroll(nb_graph *g, nb_node *x, rnn *r, nb_node ***out)
{
    nb_node *final_h[2 * NB_RNN_MAX_LAYERS], *final_c[2 * NB_RNN_MAX_LAYERS];
    nb_node *seq = x, *y = NULL;
    int64_t f_in = r->f;
    for (int k = 0; k < r->layers; k++) {
        for (int d = 0; d < r->dirs; d++) {
            weights w = make_weights(g, r, k, d == 1, f_in);
            nb_node *xw = plus(g, nb_matmul(g, seq, w.w_ih, false, true), w.b_ih);
            int row = k * r->dirs + d;
            nb_node *h = r->o.h0 ? state_row(g, r->o.h0, r, row) : NULL;
            nb_node *c = r->o.c0 ? state_row(g, r->o.c0, r, row) : NULL;
            for (int64_t s = 0; s < r->t; s++) {
                int64_t t = d ? r->t - 1 - s : s;
                step(g, r, &w, at_step(g, xw, r, t), &h, &c);
                out[d][t] = h;
            }
            final_h[row] = h, final_c[row] = c;
        }
        if (k + 1 < r->layers || r->o.sequence)
            seq = sequence_of(g, out, r);
        f_in = r->dirs * r->h;
    }
    int last = (r->layers - 1) * r->dirs;
    if (r->o.sequence)
        y = seq;
    else
        y = r->dirs == 2 ? nb_concat(g, final_h + last, 2, 1) : final_h[last];
    if (r->o.h_n)
        *r->o.h_n = stack_rows(g, final_h, r->dirs * r->layers, r);
    if (r->o.c_n)
        *r->o.c_n = stack_rows(g, final_c, r->dirs * r->layers, r);
    return y;
}

static nb_node *recurrent(nb_graph *g, nb_node *x, nb_rnn_opts o, cell kind)
{
    const char *name = cell_names[kind];
    if (o.h_n)
        *o.h_n = NULL;
    if (o.c_n)
        *o.c_n = NULL;
    if (nb__layer_null_input(g, x, name) || nb_layer_scope(g, name, o.name) != NB_OK)
        return NULL;
    int first = nb_graph_node_count(g);
    rnn r;
    if (!check(g, x, kind, &o, &r))
        return NULL;
    size_t bytes = 2 * (size_t)r.t * sizeof(nb_node *);
    nb_node **steps = nb_malloc(bytes), **out[2] = {steps, steps ? steps + r.t : NULL};
    if (!steps)
        return nb__layer_refuse(g, NB_ERR_NOMEM, "no memory for %lld steps", (long long)r.t);
    nb_node *y = unroll(g, x, &r, out);
    nb_free(steps);
    nb_rnn_opts rec = o;
    rec.h_n = rec.c_n = NULL;
    return nb__layer_done(g, (nb_layer_record){.kind = cell_kinds[kind], .input = x, .rnn = rec},
                          first, y);
}

nb_node *nb_rnn(nb_graph *g, nb_node *x, nb_rnn_opts o)
{
    return recurrent(g, x, o, CELL_RNN);
}

nb_node *nb_gru(nb_graph *g, nb_node *x, nb_rnn_opts o)
{
    return recurrent(g, x, o, CELL_GRU);
}

nb_node *nb_lstm(nb_graph *g, nb_node *x, nb_rnn_opts o)
{
    return recurrent(g, x, o, CELL_LSTM);
}
