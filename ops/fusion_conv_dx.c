/*
 * fusion_conv_dx.c — a convolution's input gradient as one step. autodiff
 * writes it as the product of the kernel matrix with the output gradient,
 * dcols = matmul(W [F, C·kh·kw], dy [N, F, L], ta) [N, C·kh·kw, L], folded
 * back onto the image by fold2d; kernels/conv_dx.c computes the fold's
 * value directly and never writes dcols. Shapes it does not take (a product
 * of another form, grouped convolutions, whose product is batched over the
 * groups, and rows too wide for its tile) keep the plain steps.
 */
#include <string.h>

#include "fusion.h"
#include "kernels/conv_dx.h"

/* fold2d's attributes (unfold.c): the window, then the image size. */
enum { KH, KW, SH, SW, PH, PW, DH, DW };

/* The geometry of fold2d node `fold` reading product `mm`, or false when
 * mm is not W [F, C·kh·kw] transposed times dy [N, F, L]. */
static bool geometry(const nb_node *fold, const nb_node *mm, nb__conv_dx *d)
{
    const nb_shape *a = &mm->in[0]->shape, *b = &mm->in[1]->shape, *x = &fold->shape;
    const int64_t *at = fold->attrs.i;
    if (mm->attrs.i[0] != 1 || mm->attrs.i[1] != 0 || a->rank != 2 || b->rank != 3 ||
        x->rank != 4 || mm->shape.rank != 3)
        return false;
    *d = (nb__conv_dx){.n = x->dim[0], .c = x->dim[1], .h = x->dim[2], .w = x->dim[3],
                       .f = a->dim[0], .kh = at[KH], .kw = at[KW], .sh = at[SH], .sw = at[SW],
                       .ph = at[PH], .pw = at[PW], .dh = at[DH], .dw = at[DW]};
    d->ow = (d->w + 2 * d->pw - d->dw * (d->kw - 1) - 1) / d->sw + 1;
    d->oh = b->dim[2] / d->ow;
    return b->dim[0] == d->n && b->dim[1] == d->f && a->dim[1] == d->c * d->kh * d->kw &&
           d->oh * d->ow == b->dim[2] &&
           NB__CONV_DX_GROUP * d->ow <= NB__CONV_DX_TILE;
}

bool nb__fuse_conv_dx(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx,
                      nb__fusion *f)
{
    if (last->kind != NB_NODE_OP || last->op != NB__OP(FOLD2D))
        return false;
    const nb_node *mm = last->in[0];
    nb__conv_dx d;
    if (mm->kind != NB_NODE_OP || mm->op != NB__OP(MATMUL) || !sole(ctx, mm) ||
        !geometry(last, mm, &d))
        return false;
    f->n_nodes = 2;
    f->nodes[0] = mm, f->nodes[1] = last;
    f->n_in = 2;
    f->in[0] = mm->in[0], f->in[1] = mm->in[1];
    memset(f->kernel, 0, sizeof f->kernel);
    memcpy(f->kernel, &d, sizeof d);
    return true;
}
