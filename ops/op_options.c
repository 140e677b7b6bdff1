/*
 * op_options.c — a built-in op node's attributes by meaning rather than by
 * slot, for code outside ops/ that writes a graph back as a model file.
 * The slot layouts are those the builders pack: reshape and expand
 * (movement.c) rank then dims; permute (movement.c) one axis per slot;
 * sum and reduce_max (reduce.c) an axis bit mask, keepdims; slice and
 * concat (slice_pad_concat.c) axis, start, stop, step; pad before[8],
 * after[8], f0 the value; unfold2d and fold2d (unfold.c) kh, kw, sh, sw,
 * ph, pw, dh, dw, then fold's h, w; matmul (matmul.c) ta, tb; one_hot
 * (one_hot.c) classes; scatter_add (gather.c) rows. tests/test_model_write.c
 * writes and rebuilds every op, so a layout that moves without this file is
 * caught there.
 */
#include <string.h>

#include "ops_internal.h"

static void window_of(const nb_attrs *a, nb_op_options *o)
{
    o->window = (nb_window2d){.kh = (int)a->i[0], .kw = (int)a->i[1], .sh = (int)a->i[2],
                              .sw = (int)a->i[3], .ph = (int)a->i[4], .pw = (int)a->i[5],
                              .dh = (int)a->i[6], .dw = (int)a->i[7]};
}

static void shape_of(const nb_attrs *a, nb_op_options *o)
{
    o->shape.rank = (int)a->i[0];
    for (int k = 0; k < o->shape.rank && k < NB_MAX_RANK; k++)
        o->shape.dim[k] = a->i[1 + k];
}

bool nb_node_options(const nb_node *n, nb_op_options *o)
{
    if (!n || !o || n->op < &nb__op_table[0] || n->op >= &nb__op_table[NB_OP_COUNT])
        return false;
    *o = (nb_op_options){0};
    const nb_attrs *a = &n->attrs;
    int rank = n->n_in ? n->in[0]->shape.rank : 0;
    switch ((nb__op_id)(n->op - nb__op_table)) {
    case NB_OP_RESHAPE:
    case NB_OP_EXPAND:
        shape_of(a, o);
        break;
    case NB_OP_PERMUTE:
        for (int k = 0; k < rank; k++)
            o->perm[k] = (int)a->i[k];
        break;
    case NB_OP_SUM:
    case NB_OP_REDUCE_MAX:
        for (int k = 0; k < rank; k++)
            if (a->i[0] & ((int64_t)1 << k))
                o->axes[o->n_axes++] = k;
        o->keepdims = a->i[1] != 0;
        break;
    case NB_OP_SLICE:
        o->start = a->i[1], o->stop = a->i[2], o->step = a->i[3];
        o->axis = (int)a->i[0];
        break;
    case NB_OP_CONCAT:
        o->axis = (int)a->i[0];
        break;
    case NB_OP_PAD:
        memcpy(o->before, a->i, sizeof o->before);
        memcpy(o->after, a->i + NB_MAX_RANK, sizeof o->after);
        o->value = a->f[0];
        break;
    case NB_OP_FOLD2D:
        o->h = a->i[8], o->w = a->i[9];
        window_of(a, o);
        break;
    case NB_OP_UNFOLD2D:
        window_of(a, o);
        break;
    case NB_OP_MATMUL:
        o->transpose_a = a->i[0] != 0, o->transpose_b = a->i[1] != 0;
        break;
    case NB_OP_ONE_HOT:
        o->classes = a->i[0];
        break;
    case NB_OP_SCATTER_ADD:
        o->rows = a->i[0];
        break;
    default:
        break;
    }
    return true;
}
