/*
 * onnx_import_chain.c — chains of ONNX nodes that become one nabla node:
 * GELU as torch.onnx.export writes it (Div, Erf, Add, Mul, Mul), and
 * PyTorch's GroupNorm (Reshape, InstanceNormalization, Reshape, Mul, Add);
 * with InstanceNormalization on its own. A chain is matched by looking
 * ahead from its first node at the sole readers of each value; the nodes
 * it takes are marked done. A chain that does not match is imported node
 * by node or refused, never approximated.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "nabla.h"
#include "onnx_import_internal.h"

/* ---------------------------------------------------------------- looking ahead */

/* The tensor of constant `name` read by node `reader`: an initialiser or
 * a Constant already read, or a Constant node listed after node `after`
 * (the one being translated) and before the reader, not read yet
 * (torch.onnx.export writes each just before its reader, so a pattern
 * looking ahead meets them unread); NULL when it is none. That Constant
 * is still translated, and checked, in its turn. */
static const Onnx__TensorProto *const_ahead(nb__oi *m, const char *name, size_t after,
                                            size_t reader)
{
    nb__oi_val *v = nb__oi_find(m, name);
    if (v)
        return v->nb[0] ? NULL : v->t;
    for (size_t k = after + 1; k < reader && k < m->g->n_node; k++) {
        const Onnx__NodeProto *c = m->g->node[k];
        if (c && !strcmp(nb__oi_str(c->op_type), "Constant") && c->n_output == 1 &&
            !strcmp(nb__oi_str(c->output[0]), name)) {
            const Onnx__AttributeProto *a = nb__oi_attr(c, "value");
            return a && c->n_attribute == 1 ? a->t : NULL;
        }
    }
    return NULL;
}

/* Whether constant `name` (read by node `reader`, looked for after node
 * `after` when not read yet) is one float32 number
 * within tol of want; read without refusing, since a pattern that does not
 * match is not an error. */
static bool scalar_is(nb__oi *m, const char *name, size_t after, size_t reader, float want,
                      float tol)
{
    const Onnx__TensorProto *t = const_ahead(m, name, after, reader);
    if (!t || t->data_type != NB__OI_FLOAT || t->n_dims > NB_MAX_RANK)
        return false;
    for (size_t i = 0; i < t->n_dims; i++)
        if (t->dims[i] != 1)
            return false;
    float v;
    if (t->has_raw_data && t->raw_data.len == 4) {
        uint32_t u = (uint32_t)t->raw_data.data[0] | (uint32_t)t->raw_data.data[1] << 8 |
                     (uint32_t)t->raw_data.data[2] << 16 | (uint32_t)t->raw_data.data[3] << 24;
        memcpy(&v, &u, 4);
    } else if (!t->has_raw_data && t->n_float_data == 1) {
        v = t->float_data[0];
    } else {
        return false;
    }
    return fabsf(v - want) <= tol;
}

/* Node j when it is `op` with one output and two inputs, one of them
 * `mine`; *other gets the other input's name. */
static const Onnx__NodeProto *binary_reading(nb__oi *m, int j, const char *op, const char *mine,
                                             const char **other)
{
    const Onnx__NodeProto *b = j >= 0 ? m->g->node[j] : NULL;
    if (!b || strcmp(nb__oi_str(b->op_type), op) || *nb__oi_str(b->domain) || b->n_input != 2 ||
        b->n_output != 1 || !*nb__oi_str(b->output[0]))
        return NULL;
    int k = !strcmp(nb__oi_str(b->input[0]), mine) ? 1
            : !strcmp(nb__oi_str(b->input[1]), mine) ? 0 : -1;
    if (k < 0)
        return NULL;
    *other = nb__oi_str(b->input[k]);
    return b;
}

/* ---------------------------------------------------------------- GELU */

/*
 * GELU as torch.onnx.export writes nn.GELU() at opset 13, from the Div at
 * node i: Div(x, √2) → Erf → Add 1 → Mul by x → Mul by 0.5 (or by 0.5, then
 * by x, as nabla's export writes gelu), each step the only reader of the
 * one before (none a graph output), in either operand order, none
 * redefining a value. Becomes one gelu node; the four later nodes are
 * marked done. False (nothing emitted) when the nodes differ:
 * they are then imported one by one (Erf is a nabla op), which computes
 * the same, or refused by node() for what is wrong with them.
 */
bool nb__oi_gelu(nb__oi *m, const Onnx__NodeProto *n, size_t i, nb_status *st)
{
    const char *x_name = n->n_input == 2 ? nb__oi_str(n->input[0]) : "", *other;
    nb__oi_val *x = *x_name ? nb__oi_find(m, x_name) : NULL;
    if (!x || !x->nb[0] || n->n_output != 1 ||
        !scalar_is(m, nb__oi_str(n->input[1]), i, i, 1.41421356f, 1e-6f))
        return false;
    int j[4];
    j[0] = nb__oi_sole_reader(m, i, n->output[0]);
    const Onnx__NodeProto *erf = j[0] >= 0 ? m->g->node[j[0]] : NULL;
    if (!erf || strcmp(nb__oi_str(erf->op_type), "Erf") || *nb__oi_str(erf->domain) ||
        erf->n_input != 1 || erf->n_output != 1 || !*nb__oi_str(erf->output[0]))
        return false;
    j[1] = nb__oi_sole_reader(m, (size_t)j[0], erf->output[0]);
    const Onnx__NodeProto *add = binary_reading(m, j[1], "Add", erf->output[0], &other);
    if (!add || !scalar_is(m, other, i, (size_t)j[1], 1.0f, 0.0f))
        return false;
    /* Then Mul by x and by 0.5, in either order (torch.onnx.export: x
     * first; nabla's own export: 0.5 first). */
    const char *by[2];
    j[2] = nb__oi_sole_reader(m, (size_t)j[1], add->output[0]);
    const Onnx__NodeProto *mx = binary_reading(m, j[2], "Mul", add->output[0], &by[0]);
    j[3] = mx ? nb__oi_sole_reader(m, (size_t)j[2], mx->output[0]) : -1;
    const Onnx__NodeProto *half = mx ? binary_reading(m, j[3], "Mul", mx->output[0], &by[1]) : NULL;
    if (!half)
        return false;
    bool x_first = !strcmp(by[0], x_name);
    if (strcmp(by[x_first ? 0 : 1], x_name) ||
        !scalar_is(m, by[x_first ? 1 : 0], i, (size_t)j[x_first ? 3 : 2], 0.5f, 0.0f))
        return false;
    /* The four nodes skip node()'s checks: none may redefine a value. */
    const char *outs[5] = {n->output[0], erf->output[0], add->output[0], mx->output[0],
                           half->output[0]};
    for (int k = 0; k < 5; k++)
        if (nb__oi_find(m, outs[k]))
            return false;
    char name[NB__OI_NAME + 8];
    nb__oi_fresh_name(m, NULL, "gelu", name);
    nb__oi_emit(m, "  - {name: %s, op: gelu, inputs: [%s]}\n", name, x->nb);
    for (int k = 0; k < 4; k++)
        m->done[j[k]] = true;
    *st = nb__oi_define(m, half, name, x->shape, "gelu", x) ? NB_OK : NB_ERR_NOMEM;
    return true;
}

/* ---------------------------------------------------------------- group norm */

/*
 * PyTorch writes nn.GroupNorm(G, C) on x [N, C, …] as five nodes:
 * Reshape(x, [0, G, -1]) → InstanceNormalization(scale ones [G], bias
 * zeros [G], epsilon) → Reshape back to x's shape (a constant, or
 * Shape(x)) → Mul by γ [C, 1, …] → Add β [C, 1, …]. The first Reshape,
 * read by an InstanceNormalization alone, becomes a "view" that writes no
 * line; the InstanceNormalization then takes the rest of the chain and
 * writes one groupnorm layer with γ and β as its parameters. Anything else
 * on that path is refused naming its node, never approximated.
 */

/* The node after node i that alone reads its output as input 0 or 1 and is
 * an `op` with one output no value has yet, or -1. */
int nb__oi_chain_next(nb__oi *m, size_t i, const char *op)
{
    const char *v = nb__oi_str(m->g->node[i]->output[0]);
    int j = nb__oi_sole_reader(m, i, v);
    const Onnx__NodeProto *n = j >= 0 ? m->g->node[j] : NULL;
    if (!n || strcmp(nb__oi_str(n->op_type), op) ||
        (*nb__oi_str(n->domain) && strcmp(n->domain, "ai.onnx")) || n->n_output != 1 ||
        !*nb__oi_str(n->output[0]) || nb__oi_find(m, n->output[0]) || n->n_input < 1 ||
        (strcmp(nb__oi_str(n->input[0]), v) &&
         (n->n_input < 2 || strcmp(nb__oi_str(n->input[1]), v))))
        return -1;
    return j;
}

/* Reshape(x, [0 or N, G, -1 or the rest]) read by an InstanceNormalization
 * alone: a view of x [N, G, C/G·…] for nb__oi_gn_instance to take whole. */
nb_status nb__oi_gn_view(nb__oi *m, const Onnx__NodeProto *n)
{
    nb__oi_val *x = nb__oi_value_in(m, n, 0);
    const Onnx__TensorProto *t = x ? nb__oi_const_in(m, n, 1, false) : NULL;
    int64_t sh[3];
    int r;
    if (!t || (r = nb__oi_tensor_ints(m, n, t, sh, 3)) < 0)
        return NB_ERR_ARG;
    int64_t c = x->shape.rank >= 2 ? x->shape.dim[1] : 0, per = nb__oi_numel(x->shape, 1);
    if (r != 3 || x->shape.rank < 2 || (sh[0] != 0 && (m->batch < 1 || sh[0] != m->batch)) ||
        sh[1] < 1 || c % sh[1] || (sh[2] != -1 && sh[2] != per / sh[1]) ||
        nb__oi_attr_int(n, "allowzero", 0) != 0)
        return nb__oi_refuse(m, n, "before an InstanceNormalization nabla takes only PyTorch's "
                             "GroupNorm, a Reshape of x [N, C, …] to [0, groups, -1] with "
                             "groups dividing C");
    nb_shape view = NB_SHAPE(x->shape.dim[0], sh[1], per / sh[1]);
    return nb__oi_define(m, n, x->nb, view, "gn_view", x) ? NB_OK : NB_ERR_NOMEM;
}

/* The values of t (in the shape *view, unless -1) as C values per channel
 * of x: one per channel,
 * [C, 1, …] (rank x's − 1) or [1, C, 1, …], or one value, [1, …] of rank
 * at most x's, for every channel (*one set: what PyTorch writes without
 * affine, 1 and 0); NULL, refused naming node n, otherwise. */
static float *gn_channels(nb__oi *m, const Onnx__NodeProto *n, const Onnx__TensorProto *t,
                          const nb_shape *view, const nb__oi_val *x, const char *what, float *one)
{
    nb_shape s;
    float *f = nb__oi_tensor_floats(m, n, t, &s);
    if (!f)
        return NULL;
    bool fits = view->rank < 0 || nb__oi_numel(*view, 0) == nb__oi_numel(s, 0);
    if (view->rank >= 0 && fits) /* through a Reshape: its shape */
        s = *view;
    int64_t c = x->shape.dim[1];
    int lead = s.rank == x->shape.rank ? 1 : 0, ok = fits && s.rank == x->shape.rank - 1 + lead;
    for (int d = 0; d < s.rank && ok; d++)
        ok = s.dim[d] == (d == lead ? c : 1);
    if (!ok && fits && nb__oi_numel(s, 0) == 1 && s.rank <= x->shape.rank) {
        float v = f[0], *g = nb_realloc(f, (size_t)c * sizeof *g);
        if (!g) {
            nb_free(f);
            nb_error_set(m->err, NB_ERR_NOMEM, "ONNX: out of memory for the group norm's %s",
                         what);
            return NULL;
        }
        for (int64_t k = 0; k < c; k++)
            g[k] = v;
        *one = v;
        return g;
    }
    *one = NAN;
    if (!ok) {
        nb_free(f);
        nb__oi_refuse(m, n,
                      "the group norm's %s '%s' is not one value per channel [C, 1, …] of %lld "
                      "channels, nor one value",
                      what, nb__oi_str(t->name), (long long)c);
    }
    return ok ? f : NULL;
}

/* InstanceNormalization with ones and zeros, epsilon > 0, on a view. */
static nb_status gn_instance_checks(nb__oi *m, const Onnx__NodeProto *n, const nb__oi_val *v,
                                    float *eps)
{
    const Onnx__TensorProto *st = nb__oi_const_in(m, n, 1, false);
    const Onnx__TensorProto *bt = st ? nb__oi_const_in(m, n, 2, false) : NULL;
    if (!bt)
        return NB_ERR_ARG;
    nb_shape ss, bs;
    float *s = nb__oi_tensor_floats(m, n, st, &ss),
          *b = s ? nb__oi_tensor_floats(m, n, bt, &bs) : NULL;
    bool ok = b && nb__oi_numel(ss, 0) == v->shape.dim[1] && nb__oi_numel(bs, 0) == v->shape.dim[1];
    for (int64_t i = 0; ok && i < v->shape.dim[1]; i++)
        ok = s[i] == 1.0f && b[i] == 0.0f;
    nb_free(s), nb_free(b);
    *eps = nb__oi_attr_float(n, "epsilon", 1e-5f);
    if (!ok || !(*eps > 0) || !isfinite(*eps))
        return m->err->status ? NB_ERR_ARG :
               nb__oi_refuse(m, n, "on a GroupNorm's view nabla takes a scale of ones, a bias of "
                             "zeros and an epsilon > 0 (γ and β come in the Mul and Add after)");
    return NB_OK;
}

/* The other input of node j (a Mul or Add on the chain value `chain`, read
 * after node i) as a constant, or NULL. *view is -1 or the shape that a
 * Reshape of a constant among nodes i+1 … j−1, read by node j alone, gives
 * it (nabla's export writes γ [C] so as [C, 1, …]); that Reshape is
 * marked done. */
static const Onnx__TensorProto *gn_operand(nb__oi *m, size_t i, size_t j, const char *chain,
                                           nb_shape *view)
{
    const Onnx__NodeProto *n = m->g->node[j];
    view->rank = -1;
    if (n->n_input != 2)
        return NULL;
    const char *name = nb__oi_str(n->input[strcmp(nb__oi_str(n->input[0]), chain) == 0 ? 1 : 0]);
    const Onnx__TensorProto *t = const_ahead(m, name, i, j);
    for (size_t p = i + 1; !t && !nb__oi_find(m, name) && p < j; p++) {
        const Onnx__NodeProto *r = m->g->node[p];
        if (r->n_output != 1 || strcmp(nb__oi_str(r->output[0]), name))
            continue;
        int64_t sh[NB_MAX_RANK];
        int k = -1;
        const Onnx__TensorProto *s =
            r->n_input == 2 ? const_ahead(m, nb__oi_str(r->input[1]), i, p) : NULL;
        t = s ? const_ahead(m, nb__oi_str(r->input[0]), i, p) : NULL;
        if (!t || strcmp(nb__oi_str(r->op_type), "Reshape") || r->n_attribute ||
            nb__oi_sole_reader(m, p, name) != (int)j ||
            (k = nb__oi_tensor_ints(m, r, s, sh, NB_MAX_RANK)) < 0)
            return NULL;
        int64_t numel = 1;
        for (int d = 0; d < k; numel *= sh[d++])
            if (sh[d] < 1 || sh[d] > NB__OI_MAX_NUMEL / numel)
                return NULL; /* not a shape γ or β can have */
        view->rank = k;
        memcpy(view->dim, sh, (size_t)k * sizeof *sh);
        m->done[p] = true;
    }
    return t;
}

/* The Reshape after the InstanceNormalization (node j): back to x's shape,
 * by a constant [0 or -1 or N, C, …] or by Shape(x) read by it alone
 * (marked done). */
static bool gn_back(nb__oi *m, int i, int j, const nb__oi_val *x)
{
    const Onnx__NodeProto *r = m->g->node[j];
    if (r->n_input != 2 || strcmp(nb__oi_str(r->input[0]), nb__oi_str(m->g->node[i]->output[0])) ||
        nb__oi_attr_int(r, "allowzero", 0) != 0)
        return false;
    const Onnx__TensorProto *c = const_ahead(m, nb__oi_str(r->input[1]), (size_t)i, (size_t)j);
    if (c) {
        int64_t sh[NB_MAX_RANK];
        int n = nb__oi_tensor_ints(m, r, c, sh, NB_MAX_RANK);
        bool ok = n == x->shape.rank && (sh[0] == 0 || sh[0] == -1 || sh[0] == m->batch);
        for (int d = 1; d < n && ok; d++)
            ok = sh[d] == x->shape.dim[d];
        return ok;
    }
    for (int p = i + 1; p < j; p++) {
        const Onnx__NodeProto *s = m->g->node[p];
        if (s->n_output != 1 || strcmp(nb__oi_str(s->output[0]), nb__oi_str(r->input[1])))
            continue;
        if (strcmp(nb__oi_str(s->op_type), "Shape") || s->n_input != 1 || s->n_attribute ||
            strcmp(nb__oi_str(s->input[0]), x->onnx) ||
            nb__oi_sole_reader(m, (size_t)p, s->output[0]) != j)
            return false;
        m->done[p] = true;
        return true;
    }
    return false;
}

/* Whether `name` is one of the graph's initialisers (a module's parameter,
 * where torch writes a Constant node for fixed values). */
static bool is_initialiser(nb__oi *m, const char *name)
{
    for (size_t k = 0; k < m->g->n_initializer; k++)
        if (m->g->initializer[k] && !strcmp(nb__oi_str(m->g->initializer[k]->name), name))
            return true;
    return false;
}

/* InstanceNormalization on x [N, C, …] not after a GroupNorm's Reshape
 * (PyTorch's nn.InstanceNorm2d/1d): each channel normalised alone, that is
 * groupnorm with C groups, scale and bias [C] its gamma and beta; affine
 * false when they are ones and zeros written as Constant nodes (torch's
 * affine=False). */
static nb_status in_alone(nb__oi *m, const Onnx__NodeProto *n, const nb__oi_val *x)
{
    int64_t c = x->shape.rank >= 3 ? x->shape.dim[1] : 0;
    const Onnx__TensorProto *st = nb__oi_const_in(m, n, 1, false);
    const Onnx__TensorProto *bt = st ? nb__oi_const_in(m, n, 2, false) : NULL;
    nb_shape ss, bs;
    float *s = bt ? nb__oi_tensor_floats(m, n, st, &ss) : NULL,
          *b = s ? nb__oi_tensor_floats(m, n, bt, &bs) : NULL;
    float eps = nb__oi_attr_float(n, "epsilon", 1e-5f);
    if (!b || ss.rank != 1 || ss.dim[0] != c || bs.rank != 1 || bs.dim[0] != c || c < 1 ||
        !(eps > 0) || !isfinite(eps)) {
        nb_free(s), nb_free(b);
        return m->err->status ? NB_ERR_ARG :
               nb__oi_refuse(m, n, "nabla takes an InstanceNormalization of x [N, C, …] with a "
                             "scale and a bias [C] and an epsilon > 0");
    }
    bool fixed = !is_initialiser(m, nb__oi_str(n->input[1])) &&
                 !is_initialiser(m, nb__oi_str(n->input[2]));
    for (int64_t k = 0; fixed && k < c; k++)
        fixed = s[k] == 1.0f && b[k] == 0.0f;
    char name[NB__OI_NAME + 8];
    nb__oi_fresh_name(m, n->name, "instancenorm", name);
    nb__oi_emit(m, "  - {name: %s, op: groupnorm, inputs: [%s], groups: %lld, eps: %.9g%s}\n", name,
                x->nb, (long long)c, (double)eps, fixed ? ", affine: false" : "");
    if (fixed) {
        nb_free(s), nb_free(b);
    } else {
        nb__oi_add_param(m, name, "gamma", NB_SHAPE(c), s);
        nb__oi_add_param(m, name, "beta", NB_SHAPE(c), b);
    }
    return nb__oi_define(m, n, name, x->shape, "groupnorm", x) ? NB_OK : NB_ERR_NOMEM;
}

/* InstanceNormalization on a view, the Reshape back, Mul γ and Add β: one
 * groupnorm layer on x (without Mul and Add: affine false); on anything
 * else, in_alone. */
nb_status nb__oi_gn_instance(nb__oi *m, const Onnx__NodeProto *n, size_t i)
{
    nb__oi_val *v = nb__oi_value_in(m, n, 0);
    if (!v || strcmp(v->op, "gn_view"))
        return v ? in_alone(m, n, v) : NB_ERR_ARG;
    const nb__oi_val *x = &m->vals[v->src];
    float eps;
    if (gn_instance_checks(m, n, v, &eps))
        return NB_ERR_ARG;
    int back = nb__oi_chain_next(m, i, "Reshape");
    if (back < 0 || !gn_back(m, (int)i, back, x))
        return m->err->status ? NB_ERR_ARG :
               nb__oi_refuse(m, n, "is not followed by a Reshape back to the shape of '%s' alone",
                             x->onnx);
    /* γ and β: a Mul and then an Add by constants, each fused only when
     * its other input is a constant (a residual Add stays an Add). */
    Onnx__NodeProto *const *nd = m->g->node;
    int mul = nb__oi_chain_next(m, (size_t)back, "Mul"),
        add = mul >= 0 ? nb__oi_chain_next(m, (size_t)mul, "Add") : -1;
    nb_shape gv, bv;
    const Onnx__TensorProto *gt =
        mul >= 0 ? gn_operand(m, i, (size_t)mul, nd[back]->output[0], &gv) : NULL;
    const Onnx__TensorProto *bt =
        gt && add >= 0 ? gn_operand(m, i, (size_t)add, nd[mul]->output[0], &bv) : NULL;
    if (m->err->status)
        return NB_ERR_ARG;
    mul = gt ? mul : -1, add = gt && bt ? add : -1;
    int last = add >= 0 ? add : mul >= 0 ? mul : back;
    float *gamma = NULL, *beta = NULL;
    float g1 = NAN, b1 = NAN;
    if (mul >= 0 && !(gamma = gn_channels(m, nd[mul], gt, &gv, x, "γ (the Mul)", &g1)))
        return NB_ERR_ARG;
    if (add >= 0 && !(beta = gn_channels(m, nd[add], bt, &bv, x, "β (the Add)", &b1))) {
        nb_free(gamma);
        return NB_ERR_ARG;
    }
    if (g1 == 1.0f && (add < 0 || b1 == 0.0f)) { /* PyTorch's affine=False */
        nb_free(gamma), nb_free(beta);
        gamma = beta = NULL;
    }
    int64_t c = x->shape.dim[1];
    if (gamma && !beta && !(beta = nb_calloc((size_t)c, sizeof *beta))) {
        nb_free(gamma);
        return nb_error_set(m->err, NB_ERR_NOMEM, "ONNX: out of memory");
    }
    m->done[back] = true;
    if (mul >= 0)
        m->done[mul] = true;
    if (add >= 0)
        m->done[add] = true;
    char name[NB__OI_NAME + 8];
    nb__oi_fresh_name(m, n->name, "groupnorm", name);
    nb__oi_emit(m, "  - {name: %s, op: groupnorm, inputs: [%s], groups: %lld, eps: %.9g%s}\n", name,
                x->nb, (long long)v->shape.dim[1], (double)eps, gamma ? "" : ", affine: false");
    if (gamma) {
        nb__oi_add_param(m, name, "gamma", NB_SHAPE(c), gamma);
        nb__oi_add_param(m, name, "beta", NB_SHAPE(c), beta);
    }
    const Onnx__NodeProto *end = m->g->node[last];
    return nb__oi_define(m, end, name, x->shape, "groupnorm", x) ? NB_OK : NB_ERR_NOMEM;
}
