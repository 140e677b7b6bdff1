/*
 * onnx_import_conv.c — ONNX operators on images [N, C, H, W]: Conv,
 * ConvTranspose, MaxPool and AveragePool, GlobalAveragePool and
 * GlobalMaxPool, their windows checked against what nabla's layers say.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "nabla.h"
#include "onnx_import_internal.h"

/* ---------------------------------------------------------------- windows */

/* A Conv's or pool's window: kernel_shape, strides, dilations (each [rows,
 * columns]) and pads (top, left, bottom, right), read and bounded. */
typedef struct conv_window {
    int64_t k[2], st[2], dil[2], pads[4];
} conv_window;

/* Reads n's window attributes into *w (kernel_shape only when `kernel`);
 * refuses auto_pad other than NOTSET or VALID, strides and dilations below
 * 1, negative pads and any value beyond 4096. */
static nb_status read_window(nb__oi *m, const Onnx__NodeProto *n, bool kernel, conv_window *w)
{
    bool valid;
    char buf[96];
    if (nb__oi_no_auto_pad(m, n, &valid) ||
        (kernel && nb__oi_attr_ints(m, n, "kernel_shape", w->k, 2, 1)) ||
        nb__oi_attr_ints(m, n, "strides", w->st, 2, 1) ||
        nb__oi_attr_ints(m, n, "dilations", w->dil, 2, 1) ||
        nb__oi_attr_ints(m, n, "pads", w->pads, 4, 0))
        return NB_ERR_ARG;
    for (int i = 0; i < 2; i++) {
        if (w->st[i] < 1 || w->st[i] > 4096)
            return nb__oi_refuse(m, n, "strides %s: each must be in 1..4096",
                                 nb__oi_ints_str(w->st, 2, buf, sizeof buf));
        if (w->dil[i] < 1 || w->dil[i] > 4096)
            return nb__oi_refuse(m, n, "dilations %s: each must be in 1..4096",
                                 nb__oi_ints_str(w->dil, 2, buf, sizeof buf));
        if (kernel && (w->k[i] < 1 || w->k[i] > 4096))
            return nb__oi_refuse(m, n, "kernel_shape %s: each must be in 1..4096",
                                 nb__oi_ints_str(w->k, 2, buf, sizeof buf));
    }
    for (int i = 0; i < 4; i++)
        if (w->pads[i] < 0 || w->pads[i] > 4096)
            return nb__oi_refuse(m, n, "pads %s: each must be in 0..4096 (a negative pad crops)",
                                 nb__oi_ints_str(w->pads, 4, buf, sizeof buf));
    return NB_OK;
}

/* The output length of axis a (0 rows, 1 columns) over n pixels: floor, or
 * with ceil PyTorch's ceil mode (whose last window starts before the
 * trailing padding, as nabla's); -1 when the window is larger than the
 * padded image. */
static int64_t window_out(const conv_window *w, int a, int64_t n, bool ceil)
{
    int64_t room = n + w->pads[a] + w->pads[a + 2] - w->dil[a] * (w->k[a] - 1) - 1;
    if (room < 0)
        return -1;
    int64_t o = (ceil ? (room + w->st[a] - 1) / w->st[a] : room / w->st[a]) + 1;
    return ceil && (o - 1) * w->st[a] >= n + w->pads[a] ? o - 1 : o;
}

/* `, key: v` or `, key: [rows, columns]` when they differ; nothing when
 * both are `def`. */
static void emit_pair(nb__oi *m, const char *key, const int64_t *v, int64_t def)
{
    if (v[0] == def && v[1] == def)
        return;
    if (v[0] == v[1])
        nb__oi_emit(m, ", %s: %lld", key, (long long)v[0]);
    else
        nb__oi_emit(m, ", %s: [%lld, %lld]", key, (long long)v[0], (long long)v[1]);
}

/* A window's stride, pad and dilation in the model file's words. */
static void emit_window(nb__oi *m, const conv_window *w, const int64_t *stride_def)
{
    const int64_t *p = w->pads;
    if (w->st[0] != stride_def[0] || w->st[1] != stride_def[1])
        nb__oi_emit(m, w->st[0] == w->st[1] ? ", stride: %lld" : ", stride: [%lld, %lld]",
                    (long long)w->st[0], (long long)w->st[1]);
    if (p[0] != p[2] || p[1] != p[3])
        nb__oi_emit(m, ", pad: [%lld, %lld, %lld, %lld]", (long long)p[0], (long long)p[1],
                    (long long)p[2], (long long)p[3]);
    else
        emit_pair(m, "pad", (const int64_t[]){p[0], p[1]}, 0);
    emit_pair(m, "dilation", w->dil, 1);
}

/* ---------------------------------------------------------------- convolutions */

/* A Conv's or ConvTranspose's inputs: the image x [N, C, H, W] computed,
 * the weight and the bias (optional, *bt NULL without) constants. */
static nb_status conv_inputs(nb__oi *m, const Onnx__NodeProto *n, nb__oi_val **x,
                             const Onnx__TensorProto **wt, const Onnx__TensorProto **bt)
{
    *x = nb__oi_value_in(m, n, 0);
    *wt = *x ? nb__oi_const_in(m, n, 1, false) : NULL;
    if (!*wt)
        return NB_ERR_ARG;
    *bt = nb__oi_const_in(m, n, 2, true);
    if (!*bt && n->n_input > 2 && *nb__oi_str(n->input[2]))
        return NB_ERR_ARG;
    if ((*x)->shape.rank != 4)
        return nb__oi_refuse(m, n,
                             "the input '%s' has rank %d: nabla convolves images [N, C, H, W]",
                             (*x)->onnx, (*x)->shape.rank);
    return NB_OK;
}

/* The refusal of a weight ws that does not fit c channels in groups. */
static nb_status weight_misfits(nb__oi *m, const Onnx__NodeProto *n, const Onnx__TensorProto *wt,
                                nb_shape ws, int64_t c, int64_t groups)
{
    char buf[96];
    return nb__oi_refuse(m, n,
                         "the weight '%s' of shape %s does not fit %lld input channels in "
                         "%lld groups",
                         nb__oi_str(wt->name),
                         nb__oi_ints_str(ws.dim, (size_t)ws.rank, buf, sizeof buf),
                         (long long)c, (long long)groups);
}

/* Refuses a kernel_shape other than the weight's [_, _, kh, kw]. */
static nb_status kernel_misfits(nb__oi *m, const Onnx__NodeProto *n, nb_shape ws)
{
    int64_t k[2];
    if (nb__oi_attr_ints(m, n, "kernel_shape", k, 2, 0) ||
        (nb__oi_attr(n, "kernel_shape") && (k[0] != ws.dim[2] || k[1] != ws.dim[3])))
        return m->err->status ? NB_ERR_ARG :
               nb__oi_refuse(m, n, "kernel_shape differs from the weight's");
    return NB_OK;
}

/* The bias bt as f values (one per filter) into *b; refused otherwise. */
static nb_status conv_bias(nb__oi *m, const Onnx__NodeProto *n, const Onnx__TensorProto *bt,
                           int64_t f, float **b)
{
    nb_shape bs;
    *b = nb__oi_tensor_floats(m, n, bt, &bs);
    if (*b && bs.rank == 1 && bs.dim[0] == f)
        return NB_OK;
    bool read = *b != NULL;
    nb_free(*b);
    *b = NULL;
    return read ? nb__oi_refuse(m, n, "the bias '%s' is not one value per filter",
                                nb__oi_str(bt->name))
                : NB_ERR_ARG;
}

/* `kernel: k` of a square kernel, else `kh: …, kw: …`. */
static void emit_kernel(nb__oi *m, nb_shape ws)
{
    if (ws.dim[2] == ws.dim[3])
        nb__oi_emit(m, "kernel: %lld", (long long)ws.dim[2]);
    else
        nb__oi_emit(m, "kh: %lld, kw: %lld", (long long)ws.dim[2], (long long)ws.dim[3]);
}

/* Conv as conv2d: weight [F, C/group, kh, kw], bias [F] or none. */
nb_status nb__oi_conv(nb__oi *m, const Onnx__NodeProto *n)
{
    nb__oi_val *x;
    const Onnx__TensorProto *wt, *bt;
    if (conv_inputs(m, n, &x, &wt, &bt))
        return NB_ERR_ARG;
    conv_window win;
    if (read_window(m, n, false, &win))
        return NB_ERR_ARG;
    nb_shape ws;
    float *w = nb__oi_tensor_floats(m, n, wt, &ws);
    if (!w)
        return NB_ERR_ARG;
    int64_t groups = nb__oi_attr_int(n, "group", 1), c = x->shape.dim[1];
    if (ws.rank != 4 || groups < 1 || groups > c || ws.dim[0] % groups || ws.dim[1] * groups != c ||
        ws.dim[0] < 1 || ws.dim[2] < 1 || ws.dim[3] < 1) {
        nb_free(w);
        return weight_misfits(m, n, wt, ws, c, groups);
    }
    if (kernel_misfits(m, n, ws)) {
        nb_free(w);
        return NB_ERR_ARG;
    }
    win.k[0] = ws.dim[2], win.k[1] = ws.dim[3];
    int64_t f = ws.dim[0], oh = window_out(&win, 0, x->shape.dim[2], false),
            ow = window_out(&win, 1, x->shape.dim[3], false);
    if (oh < 0 || ow < 0) {
        nb_free(w);
        return nb__oi_refuse(m, n, "the kernel is larger than the padded image");
    }
    float *b = NULL;
    if (bt && conv_bias(m, n, bt, f, &b)) {
        nb_free(w);
        return NB_ERR_ARG;
    }
    char name[NB__OI_NAME + 8];
    nb__oi_fresh_name(m, n->name, "conv", name);
    nb__oi_emit(m, "  - {name: %s, op: conv2d, inputs: [%s], filters: %lld, ", name, x->nb,
                (long long)f);
    emit_kernel(m, ws);
    emit_window(m, &win, (const int64_t[]){1, 1});
    nb__oi_emit(m, ", groups: %lld%s}\n", (long long)groups, b ? "" : ", bias: false");
    nb__oi_add_param(m, name, "w", ws, w);
    if (b)
        nb__oi_add_param(m, name, "b", NB_SHAPE(f), b);
    nb_shape s = NB_SHAPE(x->shape.dim[0], f, oh, ow);
    return nb__oi_define(m, n, name, s, "conv2d", x) ? NB_OK : NB_ERR_NOMEM;
}

/* ConvTranspose's window attributes, checked against what conv_transpose2d
 * says: one stride, dilation and output_padding for both axes, the same pad
 * on every side, no output_shape (ONNX then places the padding itself). */
static nb_status convt_attrs(nb__oi *m, const Onnx__NodeProto *n, int64_t *st, int64_t *dil,
                             int64_t *pad, int64_t *op)
{
    int64_t s[2], d[2], pads[4], o[2];
    bool valid;
    char buf[96];
    if (nb__oi_no_auto_pad(m, n, &valid) || nb__oi_attr_ints(m, n, "strides", s, 2, 1) ||
        nb__oi_attr_ints(m, n, "dilations", d, 2, 1) ||
        nb__oi_attr_ints(m, n, "pads", pads, 4, 0) ||
        nb__oi_attr_ints(m, n, "output_padding", o, 2, 0))
        return NB_ERR_ARG;
    if (nb__oi_attr(n, "output_shape"))
        return nb__oi_refuse(m, n,
                             "output_shape cannot be expressed (give pads and output_padding)");
    if (pads[0] != pads[1] || pads[0] != pads[2] || pads[0] != pads[3] || pads[0] < 0)
        return nb__oi_refuse(m, n, "asymmetric pads %s cannot be expressed",
                             nb__oi_ints_str(pads, 4, buf, sizeof buf));
    if (s[0] != s[1] || s[0] < 1)
        return nb__oi_refuse(m, n, "strides %s: nabla takes one stride for both axes",
                             nb__oi_ints_str(s, 2, buf, sizeof buf));
    if (d[0] != d[1] || d[0] < 1)
        return nb__oi_refuse(m, n, "dilations %s: nabla takes one dilation for both axes",
                             nb__oi_ints_str(d, 2, buf, sizeof buf));
    if (o[0] != o[1] || o[0] < 0)
        return nb__oi_refuse(m, n,
                             "output_padding %s: nabla takes one output_padding for both axes",
                             nb__oi_ints_str(o, 2, buf, sizeof buf));
    if (pads[0] > 4096 || s[0] > 4096 || d[0] > 4096 || o[0] > 4096)
        return nb__oi_refuse(m, n, "a pad, stride, dilation or output_padding beyond 4096");
    if (o[0] >= s[0] && o[0] >= d[0])
        return nb__oi_refuse(m, n,
                             "output_padding %lld is not below the stride %lld or the dilation "
                             "%lld",
                             (long long)o[0], (long long)s[0], (long long)d[0]);
    *st = s[0], *dil = d[0], *pad = pads[0], *op = o[0];
    return NB_OK;
}

/* ConvTranspose as conv_transpose2d: the weight [C, F/group, kh, kw] is
 * nabla's layout as it stands. */
nb_status nb__oi_conv_transpose(nb__oi *m, const Onnx__NodeProto *n)
{
    nb__oi_val *x;
    const Onnx__TensorProto *wt, *bt;
    if (conv_inputs(m, n, &x, &wt, &bt))
        return NB_ERR_ARG;
    int64_t st = 1, dil = 1, pad = 0, op = 0;
    if (convt_attrs(m, n, &st, &dil, &pad, &op))
        return NB_ERR_ARG;
    nb_shape ws;
    float *w = nb__oi_tensor_floats(m, n, wt, &ws);
    if (!w)
        return NB_ERR_ARG;
    int64_t groups = nb__oi_attr_int(n, "group", 1), c = x->shape.dim[1];
    if (ws.rank != 4 || groups < 1 || groups > c || c % groups || ws.dim[0] != c ||
        ws.dim[1] < 1 || ws.dim[2] < 1 || ws.dim[3] < 1 || ws.dim[2] > 4096 || ws.dim[3] > 4096) {
        nb_free(w);
        return weight_misfits(m, n, wt, ws, c, groups);
    }
    if (kernel_misfits(m, n, ws)) {
        nb_free(w);
        return NB_ERR_ARG;
    }
    int64_t f = ws.dim[1] * groups;
    int64_t oh = (x->shape.dim[2] - 1) * st - 2 * pad + dil * (ws.dim[2] - 1) + op + 1;
    int64_t ow = (x->shape.dim[3] - 1) * st - 2 * pad + dil * (ws.dim[3] - 1) + op + 1;
    if (oh < 1 || ow < 1 || oh > ((int64_t)1 << 31) / f || ow > ((int64_t)1 << 31) / f / oh) {
        nb_free(w);
        return nb__oi_refuse(m, n, "the output would be %lldx%lld pixels", (long long)oh,
                             (long long)ow);
    }
    float *b = NULL;
    if (bt && conv_bias(m, n, bt, f, &b)) {
        nb_free(w);
        return NB_ERR_ARG;
    }
    char name[NB__OI_NAME + 8];
    nb__oi_fresh_name(m, n->name, "conv_transpose", name);
    nb__oi_emit(m, "  - {name: %s, op: conv_transpose2d, inputs: [%s], filters: %lld, ", name,
                x->nb, (long long)f);
    emit_kernel(m, ws);
    nb__oi_emit(m, ", stride: %lld, pad: %lld, output_padding: %lld, dilation: %lld, "
                "groups: %lld%s}\n", (long long)st, (long long)pad, (long long)op,
                (long long)dil, (long long)groups, b ? "" : ", bias: false");
    nb__oi_add_param(m, name, "w", ws, w);
    if (b)
        nb__oi_add_param(m, name, "b", NB_SHAPE(f), b);
    nb_shape s = NB_SHAPE(x->shape.dim[0], f, oh, ow);
    return nb__oi_define(m, n, name, s, "conv_transpose2d", x) ? NB_OK : NB_ERR_NOMEM;
}

/* ---------------------------------------------------------------- pools */

/* A pool's input: an image [N, C, H, W] computed; NULL when refused. */
static nb__oi_val *pooled(nb__oi *m, const Onnx__NodeProto *n)
{
    nb__oi_val *x = nb__oi_value_in(m, n, 0);
    if (x && x->shape.rank != 4) {
        nb__oi_refuse(m, n, "the input '%s' has rank %d: nabla pools images [N, C, H, W]",
                      x->onnx, x->shape.rank);
        return NULL;
    }
    return x;
}

/* MaxPool and AveragePool as maxpool2d and avgpool2d. */
nb_status nb__oi_pool(nb__oi *m, const Onnx__NodeProto *n, bool max)
{
    nb__oi_val *x = pooled(m, n);
    if (!x)
        return NB_ERR_ARG;
    if (n->n_output > 1 && *nb__oi_str(n->output[1]))
        return nb__oi_refuse(m, n, "the Indices output cannot be expressed");
    conv_window win;
    if (!nb__oi_attr(n, "kernel_shape"))
        return nb__oi_refuse(m, n, "kernel_shape is missing");
    if (read_window(m, n, true, &win))
        return NB_ERR_ARG;
    if (nb__oi_attr_int(n, "storage_order", 0) != 0)
        return nb__oi_refuse(m, n, "storage_order 1 cannot be expressed");
    bool ceil = nb__oi_attr_int(n, "ceil_mode", 0) != 0;
    int64_t oh = window_out(&win, 0, x->shape.dim[2], ceil),
            ow = window_out(&win, 1, x->shape.dim[3], ceil);
    if (oh < 0 || ow < 0)
        return nb__oi_refuse(m, n, "the window is larger than the padded image");
    /* ONNX's AveragePool leaves the padding out of its count by default;
     * without padding the two counts agree, and nabla keeps its default. */
    const int64_t *p = win.pads;
    bool exclude = !max && nb__oi_attr_int(n, "count_include_pad", 0) == 0 &&
                   (p[0] || p[1] || p[2] || p[3]);
    char name[NB__OI_NAME + 8];
    nb__oi_fresh_name(m, n->name, max ? "maxpool" : "avgpool", name);
    nb__oi_emit(m, "  - {name: %s, op: %s, inputs: [%s]", name, max ? "maxpool2d" : "avgpool2d",
                x->nb);
    if (win.k[0] == win.k[1])
        nb__oi_emit(m, ", size: %lld", (long long)win.k[0]);
    else
        nb__oi_emit(m, ", kh: %lld, kw: %lld", (long long)win.k[0], (long long)win.k[1]);
    emit_window(m, &win, win.k);
    nb__oi_emit(m, "%s%s}\n", ceil ? ", ceil_mode: true" : "",
                exclude ? ", count_include_pad: false" : "");
    nb_shape s = NB_SHAPE(x->shape.dim[0], x->shape.dim[1], oh, ow);
    return nb__oi_define(m, n, name, s, max ? "maxpool2d" : "avgpool2d", x) ? NB_OK : NB_ERR_NOMEM;
}

/* GlobalAveragePool, GlobalMaxPool: [N, C, H, W] → [N, C, 1, 1], as ONNX
 * keeps it: nabla's global pool gives [N, C], reshaped to [N, C, 1, 1] (the
 * Flatten that usually follows makes [N, C] again). */
nb_status nb__oi_global_pool(nb__oi *m, const Onnx__NodeProto *n, bool max)
{
    nb__oi_val *x = pooled(m, n);
    if (!x)
        return NB_ERR_ARG;
    int xi = (int)(x - m->vals);
    char pool[NB__OI_NAME + 8], name[NB__OI_NAME + 8];
    nb__oi_fresh_name(m, n->name, max ? "global_maxpool" : "global_avgpool", pool);
    if (!nb__oi_reserve(m, pool))
        return NB_ERR_NOMEM;
    nb__oi_fresh_name(m, n->name, "reshape", name);
    x = &m->vals[xi];
    nb__oi_emit(m, "  - {name: %s, op: %s, inputs: [%s]}\n", pool,
                max ? "global_maxpool2d" : "global_avgpool2d", x->nb);
    nb__oi_emit(m, "  - {name: %s, op: reshape, inputs: [%s], shape: [%lld, 1, 1]}\n", name, pool,
                (long long)x->shape.dim[1]);
    nb_shape s = NB_SHAPE(x->shape.dim[0], x->shape.dim[1], 1, 1);
    return nb__oi_define(m, n, name, s, "reshape", x) ? NB_OK : NB_ERR_NOMEM;
}
