/*
 * layer_window.h — a conv2d, local2d or pooling layer's window per axis
 * from its options, with the defaults its builder applies (layers/window.c):
 * what a model file and an ONNX file write, whichever fields the options
 * used to say it. Private to io/.
 */
#ifndef NB_IO_LAYER_WINDOW_H
#define NB_IO_LAYER_WINDOW_H

#include "nabla.h"

/* Kernel, stride and dilation as [rows, columns]; padding as top, left,
 * bottom, right (ONNX's pads). */
typedef struct nb__io_window {
    int k[2], s[2], d[2], pads[4];
} nb__io_window;

/* v when nonzero, else `both` when nonzero, else `def`. */
static inline int nb__io_pick(int v, int both, int def)
{
    return v ? v : both ? both : def;
}

/* pads when any side is nonzero, else pad on every side. */
static inline void nb__io_pads(nb__io_window *w, const int *pads, int pad)
{
    bool four = pads[0] || pads[1] || pads[2] || pads[3];
    for (int i = 0; i < 4; i++)
        w->pads[i] = four ? pads[i] : pad;
}

static inline nb__io_window nb__io_conv_window(const nb_conv2d_opts *o)
{
    nb__io_window w = {
        .k = {nb__io_pick(o->kh, o->kernel, 0), nb__io_pick(o->kw, o->kernel, 0)},
        .s = {nb__io_pick(o->sh, o->stride, 1), nb__io_pick(o->sw, o->stride, 1)},
        .d = {nb__io_pick(o->dh, o->dilation, 1), nb__io_pick(o->dw, o->dilation, 1)}};
    nb__io_pads(&w, o->pads, o->pad);
    return w;
}

static inline nb__io_window nb__io_pool_window(const nb_pool2d_opts *o)
{
    nb__io_window w = {
        .k = {nb__io_pick(o->kh, o->size, 0), nb__io_pick(o->kw, o->size, 0)},
        .d = {nb__io_pick(o->dh, o->dilation, 1), nb__io_pick(o->dw, o->dilation, 1)}};
    w.s[0] = nb__io_pick(o->sh, o->stride, w.k[0]);
    w.s[1] = nb__io_pick(o->sw, o->stride, w.k[1]);
    nb__io_pads(&w, o->pads, o->pad);
    return w;
}

#endif
