/*
 * trainer_batch.c — one minibatch through a build: copied into room made
 * once (the largest batch seen), fed with the inputs after x and the
 * dropout masks, run; then what the run gives: the correct predictions,
 * and where each parameter's gradient lies. A gradient the runtime leaves
 * as an outer product (a dense weight's at batch 1, nb_runtime_new_outer)
 * is located as its two vectors and formed only when copied.
 */
#include <string.h>

#include "trainer_internal.h"
#include "../ops/kernels/dense_wgrad.h"

/* ---------------------------------------------------------------- one batch */

/* Room to stage `batch` examples, allocated once (the largest batch seen). */
nb_status nb__trainer_stage_room(nb_trainer *t, int64_t batch)
{
    if (batch <= t->staged)
        return NB_OK;
    nb_free(t->xb);
    nb_free(t->yb);
    t->xb = nb_malloc((size_t)(batch * t->numel) * sizeof(float));
    t->yb = nb_malloc((size_t)(batch * t->y_width) * sizeof(float));
    t->staged = t->xb && t->yb && nb__feed_room(&t->feed, &t->inst[0].io, batch) == NB_OK ? batch
                                                                                        : 0;
    return t->staged ? NB_OK
                     : nb__trainer_failf(t, NB_ERR_NOMEM, "train: out of memory for a batch");
}

/* Feeds examples idx[0..batch) (or start.. in order when idx is NULL),
 * with t->bx and t->by left at them: examples in order as floats (a
 * step's own arrays, an evaluation's run) straight from the set's memory;
 * otherwise copied into the staging buffers as floats first
 * (nb_dataset_gather converts a byte dataset here, one minibatch at a
 * time). The copy it saves was a tenth of a tiny network's step. */
nb_status nb__trainer_feed(nb_trainer *t, instance *in, const nb_dataset *ds, const int64_t *idx,
                           int64_t start)
{
    nb_error e;
    if (in->skip)
        return NB_ERR_STATE; /* t->err says why the model did not build */
    if (!idx && ds->x && ds->y && start >= 0 && in->batch <= ds->n - start) {
        t->bx = ds->x + start * t->numel, t->by = ds->y + start * t->y_width;
    } else {
        if (nb_dataset_gather(ds, idx, start, in->batch, t->xb, t->yb, &e) != NB_OK)
            return nb__trainer_failf(t, e.status, "train: %s", e.message);
        t->bx = t->xb, t->by = t->yb;
    }
    if (in->io.n_extra > 0 && nb__feed_set(&t->feed, in->rt, &in->io, &t->inst[0].io, ds, idx,
                                           start, in->batch, &e) != NB_OK)
        return nb__trainer_failf(t, e.status, "train: %s", e.message);
    nb_status st = nb_runtime_set_input(in->rt, in->io.x, t->bx);
    if (st == NB_OK)
        st = nb_runtime_set_input(in->rt, in->io.y, t->by);
    if (t->share_of > 0) /* a share of a global batch: its rows of the global batch's masks */
        nb_runtime_fill_noise_rows(in->rt, &t->rng, in->batch, t->share_at, t->share_of);
    else
        nb_runtime_fill_noise(in->rt, &t->rng);
    if (st == NB_OK)
        st = nb_runtime_run(in->rt);
    return st == NB_OK ? NB_OK
                       : nb__trainer_failf(t, st, "train: %s",
                                           nb__message_detail(nb_runtime_error(in->rt)));
}

/* Correct predictions in the batch just run: argmax against a class index,
 * or, for one output per example, output > 0 against target > 0.5 (logits
 * and margins; labels 0/1 or -1/+1 alike). */
int64_t nb__trainer_hits(const nb_trainer *t, const instance *in)
{
    const float *out = nb_runtime_value(in->rt, in->io.output);
    int64_t width = nb_shape_numel(nb_node_shape(in->io.output)) / in->batch, hits = 0;
    for (int64_t b = 0; b < in->batch; b++) {
        const float *o = out + b * width;
        float y = t->by[b * t->y_width];
        if (width == 1) {
            hits += (o[0] > 0) == (y > 0.5f);
            continue;
        }
        int64_t best = 0;
        for (int64_t c = 1; c < width; c++)
            if (o[c] > o[best])
                best = c;
        hits += best == (int64_t)y;
    }
    return hits;
}

/* Where each parameter's gradient is after the batch just run, in
 * t->gsrc: the runtime's value, or the two vectors of an outer product; a
 * gradient left as its two factors (a data-parallel rank's, which the sums
 * form themselves) is formed into its place in t->grads. The places hold
 * while the runtime's binding does: a step after a step of the same build
 * asks nothing again (the lookups were a twelfth of XOR's step), unless
 * some gradient is formed, which every step does again. */
void nb__trainer_locate_grads(nb_trainer *t, const instance *in)
{
    const unsigned binding = nb_runtime_binding(in->rt);
    if (t->located == in && t->located_at == binding)
        return;
    bool formed = false;
    int64_t at = 0;
    for (int i = 0; i < t->n_params; at += t->param_numel[i++]) {
        nb__grad_src *s = &t->gsrc[i];
        const float *g = nb_runtime_value(in->rt, in->grads[i]), *u, *v;
        int64_t k;
        if (!g && nb_runtime_factors(in->rt, in->grads[i], &u, &v, &k)) {
            nb_shape ps = nb_node_shape(t->params[i]);
            nb__dense_wgrad_range(u, v, k, ps.dim[0], ps.dim[1], 0, t->param_numel[i],
                                  t->grads + at, NULL);
            *s = (nb__grad_src){.g = t->grads + at};
            formed = true;
        } else if (!g && nb_runtime_outer(in->rt, in->grads[i], &u, &v)) {
            nb_shape ps = nb_node_shape(t->params[i]);
            *s = (nb__grad_src){.u = u, .v = v, .n = ps.dim[ps.rank - 1]};
        } else {
            *s = (nb__grad_src){.g = g};
        }
    }
    t->located = formed ? NULL : in, t->located_at = binding;
}

/* Copies the batch's gradients times scale into dst, end to end (forming
 * outer products: u[i]·v[j], the product the matmul would give); returns
 * the count. */
int64_t nb__trainer_gather_grads(nb_trainer *t, const instance *in, float *dst, float scale)
{
    int64_t at = 0;
    nb__trainer_locate_grads(t, in);
    for (int i = 0; i < t->n_params; i++) {
        const nb__grad_src *s = &t->gsrc[i];
        int64_t n = t->param_numel[i];
        if (s->g && scale == 1)
            memcpy(dst + at, s->g, (size_t)n * sizeof(float));
        else if (s->g)
            for (int64_t e = 0; e < n; e++)
                dst[at + e] = scale * s->g[e];
        else
            for (int64_t e = 0; e < n; e++)
                dst[at + e] = scale * (s->u[e / s->n] * s->v[e % s->n]);
        at += n;
    }
    return at;
}
