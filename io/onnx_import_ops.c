/*
 * onnx_import_ops.c — ONNX operators that each become one nabla node (or a
 * value renamed): Gemm and MatMul as dense layers (a MatMul's bias Add
 * folded in), Add, Sub, Mul and Div, the activations, Flatten and Reshape,
 * BatchNormalization, Dropout and Identity, Concat, Pad and Constant.
 * Images (Conv, pools) are in onnx_import_conv.c.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "nabla.h"
#include "onnx_import_internal.h"

/* ---------------------------------------------------------------- dense layers */

/* A dense node from x [N, …, in] and w [in, out] (already nabla's layout),
 * bias b [out] or NULL. Takes w and b. */
static nb_status dense(nb__oi *m, const Onnx__NodeProto *n, const nb__oi_val *x, float *w,
                       int64_t in, int64_t out, float *b, const char *onnx_name)
{
    char name[NB__OI_NAME + 8];
    nb__oi_fresh_name(m, onnx_name, "dense", name);
    nb_shape s = x->shape;
    s.dim[s.rank - 1] = out;
    nb__oi_emit(m, "  - {name: %s, op: dense, inputs: [%s], units: %lld%s}\n", name, x->nb,
                (long long)out, b ? "" : ", bias: false");
    nb__oi_add_param(m, name, "w", NB_SHAPE(in, out), w);
    if (b)
        nb__oi_add_param(m, name, "b", NB_SHAPE(out), b);
    return nb__oi_define(m, n, name, s, "dense", x) ? NB_OK : NB_ERR_NOMEM;
}

/* v[0…n) ← k·v; false when a product is not finite. */
static bool scale(float *v, int64_t n, float k)
{
    bool ok = true;
    for (int64_t i = 0; i < n; i++) {
        v[i] *= k;
        ok &= isfinite(v[i]) != 0;
    }
    return ok;
}

/*
 * Gemm: alpha·A·B + beta·C with A the computed input [N, in] (transA = 0;
 * transA = 1 would transpose the batch away), B a constant [in, out] or,
 * with transB = 1, [out, in], and C a constant [out] or one number (the same
 * bias for every output): a dense layer with w = alpha·B (transposed to
 * [in, out]) and b = beta·C.
 */
nb_status nb__oi_gemm(nb__oi *m, const Onnx__NodeProto *n)
{
    nb__oi_val *a = nb__oi_value_in(m, n, 0);
    const Onnx__TensorProto *bt = a ? nb__oi_const_in(m, n, 1, false) : NULL;
    if (!bt)
        return NB_ERR_ARG;
    const Onnx__TensorProto *ct = nb__oi_const_in(m, n, 2, true);
    if (!ct && n->n_input > 2 && *nb__oi_str(n->input[2]))
        return NB_ERR_ARG;
    float alpha = nb__oi_attr_float(n, "alpha", 1), beta = nb__oi_attr_float(n, "beta", 1);
    if (!isfinite(alpha) || !isfinite(beta))
        return nb__oi_refuse(m, n, "alpha %g and beta %g: both must be finite", alpha, beta);
    if (nb__oi_attr_int(n, "transA", 0) != 0)
        return nb__oi_refuse(m, n,
                             "transA = 1 (the input transposed, its batch axis moved) cannot be "
                             "expressed: nabla's dense layer reads [N, in]");
    if (a->shape.rank != 2)
        return nb__oi_refuse(m, n, "the input '%s' has rank %d, not 2", a->onnx, a->shape.rank);
    bool tb = nb__oi_attr_int(n, "transB", 0) != 0;
    nb_shape bs;
    float *b = nb__oi_tensor_floats(m, n, bt, &bs);
    if (!b)
        return NB_ERR_ARG;
    int64_t in = tb ? bs.dim[1] : bs.dim[0], out = tb ? bs.dim[0] : bs.dim[1];
    if (bs.rank != 2 || in != a->shape.dim[1] || out < 1) {
        nb_free(b);
        return nb__oi_refuse(m, n, "the weight '%s' does not fit an input of %lld features",
                             nb__oi_str(bt->name), (long long)a->shape.dim[1]);
    }
    float *w = b;
    if (tb) {   /* ONNX [out, in] → nabla [in, out] */
        w = nb_malloc((size_t)(in * out) * sizeof *w);
        if (!w) {
            nb_free(b);
            return nb__oi_oom(m, "a transposed weight");
        }
        for (int64_t i = 0; i < in; i++)
            for (int64_t o = 0; o < out; o++)
                w[i * out + o] = b[o * in + i];
        nb_free(b);
    }
    if (!scale(w, in * out, alpha)) {
        nb_free(w);
        return nb__oi_refuse(m, n, "alpha %g times the weight '%s' overflows float32", alpha,
                             nb__oi_str(bt->name));
    }
    float *c = NULL;
    if (ct) {
        nb_shape cs;
        c = nb__oi_tensor_floats(m, n, ct, &cs);
        bool one = c && nb__oi_numel(cs, 0) == 1;
        if (!c ||
            (!one && (nb__oi_numel(cs, 0) != out || (cs.rank > 0 && cs.dim[cs.rank - 1] != out)))) {
            nb_free(c), nb_free(w);
            return c ? nb__oi_refuse(m, n, "the bias '%s' is not one value per output (%lld) "
                                     "nor one for all", nb__oi_str(ct->name), (long long)out)
                     : NB_ERR_ARG;
        }
        if (one) {   /* the same bias for every output */
            float *full = nb_malloc((size_t)out * sizeof *full);
            if (!full) {
                nb_free(c), nb_free(w);
                return nb__oi_oom(m, "a bias");
            }
            for (int64_t o = 0; o < out; o++)
                full[o] = c[0];
            nb_free(c);
            c = full;
        }
        if (!scale(c, out, beta)) {
            nb_free(c), nb_free(w);
            return nb__oi_refuse(m, n, "beta %g times the bias '%s' overflows float32", beta,
                                 nb__oi_str(ct->name));
        }
    }
    return dense(m, n, a, w, in, out, c, n->name);
}

/* MatMul by a constant [in, out]; an Add of a constant [out] that alone
 * reads it becomes the dense layer's bias. */
nb_status nb__oi_matmul(nb__oi *m, const Onnx__NodeProto *n, size_t i)
{
    nb__oi_val *a = nb__oi_value_in(m, n, 0);
    const Onnx__TensorProto *bt = a ? nb__oi_const_in(m, n, 1, false) : NULL;
    if (!bt)
        return NB_ERR_ARG;
    nb_shape ws;
    float *w = nb__oi_tensor_floats(m, n, bt, &ws);
    if (!w)
        return NB_ERR_ARG;
    if (ws.rank != 2 || a->shape.rank < 2 || ws.dim[0] != a->shape.dim[a->shape.rank - 1] ||
        ws.dim[1] < 1) {
        nb_free(w);
        return nb__oi_refuse(m, n,
                             "the weight '%s' is not a matrix [in, out] that fits the input '%s'",
                             nb__oi_str(bt->name), a->onnx);
    }
    int64_t in = ws.dim[0], out = ws.dim[1];
    float *bias = NULL;
    int j = nb__oi_sole_reader(m, i, n->output[0]);
    const Onnx__NodeProto *add = j >= 0 ? m->g->node[j] : NULL;
    /* The Add is translated here, not by node(): it gets node()'s checks
     * of its domain and its output, or is left to node() to refuse. */
    if (add && strcmp(nb__oi_str(add->op_type), "Add") == 0 && add->n_input == 2 &&
        add->n_output == 1 && (!*nb__oi_str(add->domain) || !strcmp(add->domain, "ai.onnx")) &&
        *nb__oi_str(add->output[0]) && !nb__oi_find(m, add->output[0])) {
        int k = strcmp(nb__oi_str(add->input[0]), n->output[0]) == 0 ? 1 : 0;
        nb__oi_val *c = nb__oi_find(m, nb__oi_str(add->input[k]));
        nb_shape cs;
        if (c && !c->nb[0] && c->t->data_type == NB__OI_FLOAT &&
            nb__oi_tensor_shape(m, add, c->t, &cs) == NB_OK && nb__oi_numel(cs, 0) == out &&
            cs.rank >= 1 && cs.dim[cs.rank - 1] == out) {
            bias = nb__oi_tensor_floats(m, add, c->t, &cs);
            if (!bias) {
                nb_free(w);
                return NB_ERR_ARG;
            }
            m->done[j] = true;
        }
    }
    return dense(m, bias ? add : n, a, w, in, out, bias, n->name);
}

/* ---------------------------------------------------------------- arithmetic */

/*
 * The node a constant operand of Add, Sub, Mul or Div becomes, made once
 * per constant: `full` when its values are one number (a scale, a shift),
 * else a `param` holding them (a bias torch.onnx.export keeps as an
 * initialiser; trained on like any parameter). It must broadcast to the
 * computed operand x without changing x's shape, and leave the batch axis
 * alone (size 1 there, or absent). Returns the node's name (in c, which
 * reserve may move: the caller takes pointers into vals afresh), or NULL
 * with err set.
 */
static const char *const_node(nb__oi *m, const Onnx__NodeProto *n, int ci, int xi)
{
    nb__oi_val *c = &m->vals[ci], *x = &m->vals[xi];
    nb_shape cs;
    char buf[160], xs[160];
    if (nb__oi_tensor_shape(m, n, c->t, &cs) != NB_OK)
        return NULL;
    bool fits = cs.rank <= x->shape.rank;
    for (int i = 0; fits && i < cs.rank; i++) {
        int xa = x->shape.rank - cs.rank + i;
        fits = cs.dim[i] == 1 || (xa > 0 && cs.dim[i] == x->shape.dim[xa]);
    }
    if (!fits) {
        nb__oi_refuse(m, n,
                      "the constant '%s' of shape %s does not broadcast to '%s' [N,%s without "
                      "changing its shape or reaching into the batch axis",
                      c->onnx, nb__oi_ints_str(cs.dim, (size_t)cs.rank, buf, sizeof buf), x->onnx,
                      nb__oi_ints_str(x->shape.dim + 1, (size_t)x->shape.rank - 1, xs,
                                      sizeof xs) + 1);
        return NULL;
    }
    if (c->as_node[0])
        return c->as_node;
    float *v = nb__oi_tensor_floats(m, n, c->t, &cs);
    if (!v)
        return NULL;
    int64_t k = nb__oi_numel(cs, 0);
    bool uniform = true;
    for (int64_t i = 1; i < k; i++)
        uniform &= v[i] == v[0];
    char name[NB__OI_NAME + 8];
    nb__oi_fresh_name(m, c->onnx, "const", name);
    if (!nb__oi_reserve(m, name)) {
        nb_free(v);
        return NULL;
    }
    c = &m->vals[ci];
    snprintf(c->as_node, sizeof c->as_node, "%s", name);
    if (cs.rank == 0)
        cs = NB_SHAPE(1);
    nb__oi_ints_str(cs.dim, (size_t)cs.rank, buf, sizeof buf);
    if (uniform) {
        nb__oi_emit(m, "  - {name: %s, op: full, shape: %s, value: %.9g}\n", name, buf,
                    (double)v[0]);
        nb_free(v);
    } else {
        nb__oi_emit(m, "  - {name: %s, op: param, shape: %s}\n", name, buf);
        if (!nb__oi_add_param(m, name, NULL, cs, v))
            return NULL;
    }
    return c->as_node;
}

/*
 * Add, Sub, Mul, Div (op the nabla name) of two computed values of one
 * shape (a residual), or of a computed value and a constant that
 * broadcasts to it (const_node), in either order.
 */
nb_status nb__oi_arith(nb__oi *m, const Onnx__NodeProto *n, const char *op)
{
    if (n->n_input != 2)
        return nb__oi_refuse(m, n, "%zu inputs", n->n_input);
    int idx[2];
    for (int k = 0; k < 2; k++) {
        nb__oi_val *v = *nb__oi_str(n->input[k]) ? nb__oi_find(m, n->input[k]) : NULL;
        if (!v)
            return nb__oi_refuse(m, n, "input %d is missing", k);
        idx[k] = (int)(v - m->vals);
    }
    bool computed[2] = {m->vals[idx[0]].nb[0] != 0, m->vals[idx[1]].nb[0] != 0};
    if (!computed[0] && !computed[1])
        return nb__oi_refuse(m, n,
                             "both inputs are constants: nabla imports arithmetic on a value the "
                             "model computes (fold the constants first)");
    int xi = computed[0] ? idx[0] : idx[1];
    if (computed[0] && computed[1]) {
        const nb__oi_val *a = &m->vals[idx[0]], *b = &m->vals[idx[1]];
        bool same = a->shape.rank == b->shape.rank;
        for (int d = 0; same && d < a->shape.rank; d++)
            same = a->shape.dim[d] == b->shape.dim[d];
        if (!same)
            return nb__oi_refuse(m, n,
                                 "the input '%s' differs in shape from '%s' (broadcasting between "
                                 "two computed values is not imported)",
                                 b->onnx, a->onnx);
    }
    char in[2][NB__OI_NAME + 8];
    for (int k = 0; k < 2; k++) {
        const char *nb = computed[k] ? m->vals[idx[k]].nb : const_node(m, n, idx[k], xi);
        if (!nb)
            return m->err->status ? m->err->status : NB_ERR_NOMEM;
        snprintf(in[k], sizeof in[k], "%s", nb);
    }
    char name[NB__OI_NAME + 8];
    nb__oi_fresh_name(m, n->name, op, name);
    nb__oi_emit(m, "  - {name: %s, op: %s, inputs: [%s, %s]}\n", name, op, in[0], in[1]);
    const nb__oi_val *x = &m->vals[xi];
    return nb__oi_define(m, n, name, x->shape, op, x) ? NB_OK : NB_ERR_NOMEM;
}

/* ---------------------------------------------------------------- one value in, one out */

/* An op of one input that keeps its shape (relu, sigmoid, tanh, softmax). */
nb_status nb__oi_unary(nb__oi *m, const Onnx__NodeProto *n, const char *op)
{
    nb__oi_val *x = nb__oi_value_in(m, n, 0);
    if (!x)
        return NB_ERR_ARG;
    if (strcmp(op, "softmax") == 0) {
        /* opset 13 normalises over one axis (default the last); before,
         * over the flattened axes from `axis` (default 1) on: the same
         * only when that is the last axis. */
        int64_t axis = nb__oi_attr_int(n, "axis", m->opset >= 13 ? -1 : 1);
        if (axis < 0)
            axis += x->shape.rank;
        if (axis != x->shape.rank - 1)
            return nb__oi_refuse(m, n,
                                 "axis %lld of a rank-%d input: nabla's softmax here is over the "
                                 "last axis",
                                 (long long)nb__oi_attr_int(n, "axis", 0), x->shape.rank);
    }
    char name[NB__OI_NAME + 8];
    nb__oi_fresh_name(m, n->name, op, name);
    nb__oi_emit(m, "  - {name: %s, op: %s, inputs: [%s]}\n", name, op, x->nb);
    return nb__oi_define(m, n, name, x->shape, op, x) ? NB_OK : NB_ERR_NOMEM;
}

/* LeakyRelu (alpha 0.01 by default) and Elu (alpha 1): nabla's leaky_relu
 * and elu, whose model files take alpha in [0, 1]. */
nb_status nb__oi_alpha(nb__oi *m, const Onnx__NodeProto *n, const char *op, float def)
{
    nb__oi_val *x = nb__oi_value_in(m, n, 0);
    if (!x)
        return NB_ERR_ARG;
    float alpha = nb__oi_attr_float(n, "alpha", def);
    if (!(alpha >= 0 && alpha <= 1))
        return nb__oi_refuse(m, n, "alpha %g: nabla's %s takes alpha in [0, 1]", alpha, op);
    char name[NB__OI_NAME + 8];
    nb__oi_fresh_name(m, n->name, op, name);
    nb__oi_emit(m, "  - {name: %s, op: %s, inputs: [%s], alpha: %.9g}\n", name, op, x->nb,
                (double)alpha);
    return nb__oi_define(m, n, name, x->shape, op, x) ? NB_OK : NB_ERR_NOMEM;
}

nb_status nb__oi_batchnorm(nb__oi *m, const Onnx__NodeProto *n)
{
    nb__oi_val *x = nb__oi_value_in(m, n, 0);
    if (!x)
        return NB_ERR_ARG;
    if (nb__oi_attr_int(n, "training_mode", 0) != 0 || nb__oi_attr_int(n, "spatial", 1) != 1)
        return nb__oi_refuse(m, n,
                             "training_mode or spatial = 0 cannot be expressed (nabla imports "
                             "the inference form)");
    for (size_t o = 1; o < n->n_output; o++)
        if (*nb__oi_str(n->output[o]))
            return nb__oi_refuse(m, n, "output %zu (running statistics of training) cannot "
                                 "be expressed", o);
    if (x->shape.rank != 2 && x->shape.rank != 4)
        return nb__oi_refuse(m, n,
                             "the input '%s' has rank %d (nabla normalises [N, C] or [N, C, H, W])",
                             x->onnx, x->shape.rank);
    static const char *names[4] = {"gamma", "beta", "running_mean", "running_var"};
    float *v[4] = {0};
    int64_t c = x->shape.dim[1];
    for (int i = 0; i < 4; i++) {
        const Onnx__TensorProto *t = nb__oi_const_in(m, n, (size_t)i + 1, false);
        nb_shape s;
        if (t)
            v[i] = nb__oi_tensor_floats(m, n, t, &s);
        if (v[i] && (s.rank != 1 || s.dim[0] != c)) {
            nb__oi_refuse(m, n, "'%s' is not one value per channel (%lld)", nb__oi_str(t->name),
                          (long long)c);
            nb_free(v[i]), v[i] = NULL;
        }
        if (v[i] && i == 3)
            for (int64_t j = 0; j < c; j++)
                if (v[i][j] < 0) {
                    nb__oi_refuse(m, n, "the variance '%s' holds %g", nb__oi_str(t->name), v[i][j]);
                    nb_free(v[i]), v[i] = NULL;
                    break;
                }
        if (!v[i]) {
            for (int j = 0; j < i; j++)
                nb_free(v[j]);
            return NB_ERR_ARG;
        }
    }
    float eps = nb__oi_attr_float(n, "epsilon", 1e-5f),
          mom = nb__oi_attr_float(n, "momentum", 0.9f);
    if (!(eps > 0)) {
        for (int j = 0; j < 4; j++)
            nb_free(v[j]);
        return nb__oi_refuse(m, n, "epsilon %g: nabla takes eps > 0", eps);
    }
    /* ONNX keeps momentum·running + (1 − momentum)·batch, nabla the other
     * way round; it matters only for training on. */
    double nm = 1.0 - mom;
    char name[NB__OI_NAME + 8];
    nb__oi_fresh_name(m, n->name, "batchnorm", name);
    nb__oi_emit(m, "  - {name: %s, op: batchnorm, inputs: [%s], eps: %.9g", name, x->nb,
                (double)eps);
    if (nm > 0 && nm <= 1)
        nb__oi_emit(m, ", momentum: %.9g", nm);
    nb__oi_emit(m, "}\n");
    for (int i = 0; i < 4; i++)
        nb__oi_add_param(m, name, names[i], NB_SHAPE(c), v[i]);
    return nb__oi_define(m, n, name, x->shape, "batchnorm", x) ? NB_OK : NB_ERR_NOMEM;
}

/* Dropout (inference: the identity) and Identity: the output names the
 * input's value. */
nb_status nb__oi_identity(nb__oi *m, const Onnx__NodeProto *n, bool dropout)
{
    /* torch.onnx.export shares equal initialisers through Identity nodes:
     * a constant stays a constant. */
    nb__oi_val *x = n->n_input >= 1 ? nb__oi_find(m, nb__oi_str(n->input[0])) : NULL;
    if (!dropout && x && !x->nb[0]) {
        nb__oi_val *v = nb__oi_add_val(m, n->output[0]);
        if (!v)
            return NB_ERR_NOMEM;
        *v = *nb__oi_find(m, nb__oi_str(n->input[0]));
        v->onnx = n->output[0];
        return NB_OK;
    }
    x = nb__oi_value_in(m, n, 0);
    if (!x)
        return NB_ERR_ARG;
    if (dropout && n->n_output > 1 && *nb__oi_str(n->output[1]))
        return nb__oi_refuse(m, n, "the mask output cannot be expressed");
    if (dropout && n->n_input > 2 && *nb__oi_str(n->input[2])) {
        const Onnx__TensorProto *t = nb__oi_const_in(m, n, 2, false);
        if (!t || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__BOOL ||
            (t->has_raw_data ? (t->raw_data.len != 1 || t->raw_data.data[0]) :
                               (t->n_int32_data != 1 || t->int32_data[0])))
            return m->err->status ? NB_ERR_ARG
                                  : nb__oi_refuse(m, n, "training_mode is not the constant false");
    }
    int xi = (int)(x - m->vals);   /* before nb__oi_add_val, which may move vals */
    nb__oi_val *v = nb__oi_add_val(m, n->output[0]);
    if (!v)
        return NB_ERR_NOMEM;
    *v = m->vals[xi];
    v->onnx = n->output[0];
    return NB_OK;
}

/* ---------------------------------------------------------------- shapes */

/* Flatten from axis 1, or a Reshape by a constant shape whose first entry
 * keeps the batch (0, -1, or the batch the file fixes). */
nb_status nb__oi_reshape(nb__oi *m, const Onnx__NodeProto *n, bool flatten)
{
    nb__oi_val *x = nb__oi_value_in(m, n, 0);
    if (!x)
        return NB_ERR_ARG;
    int64_t sh[NB_MAX_RANK];
    int r;
    if (flatten) {
        int64_t axis = nb__oi_attr_int(n, "axis", 1);
        if (axis < 0)
            axis += x->shape.rank;
        if (axis != 1)
            return nb__oi_refuse(m, n, "axis %lld: nabla flattens every axis but the batch",
                                 (long long)nb__oi_attr_int(n, "axis", 1));
        sh[0] = 0, sh[1] = -1, r = 2;
    } else {
        const Onnx__TensorProto *t = nb__oi_const_in(m, n, 1, false);
        if (!t || (r = nb__oi_tensor_ints(m, n, t, sh, NB_MAX_RANK)) < 0)
            return NB_ERR_ARG;
        if (nb__oi_attr_int(n, "allowzero", 0) != 0)
            return nb__oi_refuse(m, n, "allowzero = 1 cannot be expressed");
    }
    char buf[160];
    int64_t per = nb__oi_numel(x->shape, 1), known = 1;
    int minus = -1;
    bool batch_ok = r >= 1 && (sh[0] == 0 || (m->batch > 0 && sh[0] == m->batch) || sh[0] == -1);
    for (int i = 1; i < r && batch_ok; i++) {
        if (sh[i] == 0 && i < x->shape.rank)
            sh[i] = x->shape.dim[i];
        if (sh[i] == -1 && minus < 0)
            minus = i;
        else if (sh[i] < 1 || sh[i] > NB__OI_MAX_NUMEL || known > NB__OI_MAX_NUMEL)
            batch_ok = false;
        else
            known *= sh[i];
    }
    if (batch_ok && sh[0] == -1 && minus >= 0)
        batch_ok = false;
    if (batch_ok && minus >= 0) {
        if (per % known)
            batch_ok = false;
        else
            sh[minus] = per / known, known = per;
    }
    if (!batch_ok || known != per)
        return nb__oi_refuse(m, n,
                             "the shape %s is not [N, …] of the input's %lld elements per example",
                             nb__oi_ints_str(sh, (size_t)r, buf, sizeof buf), (long long)per);
    char name[NB__OI_NAME + 8];
    nb_shape s = {.rank = r};
    s.dim[0] = x->shape.dim[0];
    for (int i = 1; i < r; i++)
        s.dim[i] = sh[i];
    if (r == 2) {
        nb__oi_fresh_name(m, n->name, "flatten", name);
        nb__oi_emit(m, "  - {name: %s, op: flatten, inputs: [%s]}\n", name, x->nb);
    } else {
        nb__oi_fresh_name(m, n->name, "reshape", name);
        nb__oi_emit(m, "  - {name: %s, op: reshape, inputs: [%s], shape: %s}\n", name, x->nb,
                    nb__oi_ints_str(sh + 1, (size_t)(r - 1), buf, sizeof buf));
    }
    return nb__oi_define(m, n, name, s, r == 2 ? "flatten" : "reshape", x) ? NB_OK : NB_ERR_NOMEM;
}

/* Concat of computed values along a non-batch axis. */
nb_status nb__oi_join(nb__oi *m, const Onnx__NodeProto *n)
{
    if (n->n_input < 1)
        return nb__oi_refuse(m, n, "%zu inputs", n->n_input);
    nb__oi_val *first = nb__oi_value_in(m, n, 0);
    if (!first)
        return NB_ERR_ARG;
    nb_shape s = first->shape;
    if (!nb__oi_attr(n, "axis"))
        return nb__oi_refuse(m, n, "axis is missing");
    int64_t axis = nb__oi_attr_int(n, "axis", 0);
    if (axis < 0)
        axis += s.rank;
    if (axis < 1 || axis >= s.rank)
        return nb__oi_refuse(m, n, "axis %lld: nabla joins along an axis other than the batch",
                             (long long)nb__oi_attr_int(n, "axis", 0));
    s.dim[axis] = 0;
    char name[NB__OI_NAME + 8], list[4096];
    size_t k = 0;
    for (size_t i = 0; i < n->n_input; i++) {
        nb__oi_val *v = nb__oi_value_in(m, n, i);
        if (!v)
            return NB_ERR_ARG;
        bool same = v->shape.rank == s.rank;
        for (int d = 0; same && d < s.rank; d++)
            same = d == axis || v->shape.dim[d] == first->shape.dim[d];
        if (!same)
            return nb__oi_refuse(m, n, "the input '%s' differs in shape from '%s' off the axis",
                                 v->onnx, first->onnx);
        s.dim[axis] += v->shape.dim[axis];
        int w = snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", v->nb);
        if (w < 0 || (size_t)w >= sizeof list - k)
            return nb__oi_refuse(m, n, "too many inputs");
        k += (size_t)w;
    }
    nb__oi_fresh_name(m, n->name, "concat", name);
    nb__oi_emit(m, "  - {name: %s, op: concat, inputs: [%s], axis: %lld}\n", name, list,
                (long long)axis);
    return nb__oi_define(m, n, name, s, "concat", first) ? NB_OK : NB_ERR_NOMEM;
}

/* Pad (mode constant) by constant pads that leave the batch alone. */
nb_status nb__oi_pad(nb__oi *m, const Onnx__NodeProto *n)
{
    nb__oi_val *x = nb__oi_value_in(m, n, 0);
    if (!x)
        return NB_ERR_ARG;
    const Onnx__AttributeProto *mode = nb__oi_attr(n, "mode");
    if (mode && mode->has_s && !(mode->s.len == 8 && !memcmp(mode->s.data, "constant", 8)))
        return nb__oi_refuse(m, n, "mode '%.*s': nabla pads with a constant only",
                             (int)(mode->s.len > 20 ? 20 : mode->s.len),
                             (const char *)mode->s.data);
    int64_t p[2 * NB_MAX_RANK];
    int r = x->shape.rank, k;
    const Onnx__TensorProto *t = nb__oi_const_in(m, n, 1, false);
    if (!t || (k = nb__oi_tensor_ints(m, n, t, p, 2 * NB_MAX_RANK)) < 0)
        return NB_ERR_ARG;
    char buf[160], before[160], after[160];
    if (k != 2 * r || p[0] || p[r])
        return nb__oi_refuse(m, n, "pads %s: nabla pads every axis but the batch, 2 × %d values",
                             nb__oi_ints_str(p, (size_t)k, buf, sizeof buf), r);
    for (int i = 0; i < k; i++)
        if (p[i] < 0 || p[i] > 4096)
            return nb__oi_refuse(m, n, "pads %s: negative (a crop) or beyond 4096",
                                 nb__oi_ints_str(p, (size_t)k, buf, sizeof buf));
    float value = 0;
    const Onnx__TensorProto *c =
        n->n_input > 2 && *nb__oi_str(n->input[2]) ? nb__oi_const_in(m, n, 2, false) : NULL;
    if (n->n_input > 2 && *nb__oi_str(n->input[2])) {
        nb_shape cs;
        float *v = c ? nb__oi_tensor_floats(m, n, c, &cs) : NULL;
        if (!v)
            return NB_ERR_ARG;
        bool one = nb__oi_numel(cs, 0) == 1;
        value = v[0];
        nb_free(v);
        if (!one)
            return nb__oi_refuse(m, n, "constant_value is not one number");
    }
    nb_shape s = x->shape;
    for (int i = 1; i < r; i++)
        s.dim[i] += p[i] + p[r + i];
    char name[NB__OI_NAME + 8];
    nb__oi_fresh_name(m, n->name, "pad", name);
    nb__oi_emit(m, "  - {name: %s, op: pad, inputs: [%s], before: %s, after: %s, value: %.9g}\n",
                name, x->nb, nb__oi_ints_str(p + 1, (size_t)(r - 1), before, sizeof before),
                nb__oi_ints_str(p + r + 1, (size_t)(r - 1), after, sizeof after), (double)value);
    return nb__oi_define(m, n, name, s, "pad", x) ? NB_OK : NB_ERR_NOMEM;
}

/* ---------------------------------------------------------------- constants */

/* A Constant node: its tensor, as an initialiser. */
nb_status nb__oi_constant(nb__oi *m, const Onnx__NodeProto *n)
{
    const Onnx__AttributeProto *a = nb__oi_attr(n, "value");
    if (!a || !a->t || n->n_attribute != 1)
        return nb__oi_refuse(m, n, "only a Constant given by a tensor 'value' is imported");
    nb_shape s;
    if (nb__oi_tensor_shape(m, n, a->t, &s) != NB_OK)
        return NB_ERR_ARG;
    nb__oi_val *v = nb__oi_add_val(m, n->output[0]);
    if (!v)
        return NB_ERR_NOMEM;
    v->t = a->t;
    v->shape = s;
    return NB_OK;
}
