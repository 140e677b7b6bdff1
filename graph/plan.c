/*
 * plan.c — from a graph and its wanted outputs to an execution plan: the
 * nodes needed (dead ones pruned), in creation order (a topological order),
 * and a buffer for every value assigned by liveness. A buffer returns to the
 * pool once the last reader of its value has run; reshape shares its input's
 * bytes; an elementwise op writes over an input that dies at that op.
 * Before buffers are assigned, chains that ops/ has a fused kernel for
 * (ops/fusion.c) become one step each, and the values inside a chain get
 * no buffer at all. A group may read a member's input instead of the
 * member (a pooling or convolution kernel reads the image through the
 * window arithmetic, not the unfold2d columns); afterwards an op node that
 * no step reads and the caller does not fetch is dropped (no step, no
 * buffer), and so on up to a fixed point: the views of the columns, then
 * unfold2d itself, go; a value some unfused reader still needs stays.
 * NABLA_FUSION=0 in the environment, or nb_set_fusion(false), plans every
 * node as its own step.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

#define NB__BUF_ALIGN 16 /* floats: 64 bytes, a cache line */

/* ---------------------------------------------------------------- memory */

/* Carves every array of the plan out of one allocation sized for n graph
 * nodes, so a failure leaves nothing behind. */
static nb_status plan_alloc(nb_graph *g, nb__plan *p, int n)
{
    size_t m = (size_t)(n > 0 ? n : 1);
    size_t bytes = m * (sizeof(nb_node *) + 3 * sizeof(int) + sizeof(bool) + sizeof(nb__storage) +
                        2 * sizeof(int64_t)) + 64;
    unsigned char *mem = nb__alloc(g, bytes, "the execution plan");
    if (!mem)
        return g->status;
    memset(mem, 0, bytes);
    p->mem = mem;
    p->mem_bytes = bytes;
    p->nodes = (nb_node **)mem, mem += m * sizeof(nb_node *);
    p->storage = (nb__storage *)mem, mem += m * sizeof(nb__storage);
    p->buf_floats = (int64_t *)mem, mem += m * sizeof(int64_t);
    p->buf_offset = (int64_t *)mem, mem += m * sizeof(int64_t);
    p->store = (int *)mem, mem += m * sizeof(int);
    p->local = (int *)mem, mem += m * sizeof(int);
    p->fuse = (int *)mem, mem += m * sizeof(int);
    p->is_output = (bool *)mem;
    p->n_graph = n;
    return NB_OK;
}

void nb__plan_free(nb_graph *g, nb__plan *p)
{
    nb__free(g, p->fusions, (size_t)p->n_fusions * sizeof *p->fusions);
    nb__free(g, p->mem, p->mem_bytes);
    memset(p, 0, sizeof *p);
}

/* ---------------------------------------------------------------- pruning */

/* Marks what the outputs need and lists it in creation order. Creation order
 * is topological (a node's inputs exist before it), so one backward sweep
 * over ids finds every needed node without a stack. */
static void select_nodes(nb_graph *g, nb__plan *p, nb_node *const *outputs, int n_out)
{
    int *local = p->local;
    for (int i = 0; i < p->n_graph; i++)
        local[i] = -1;
    for (int k = 0; k < n_out; k++)
        local[outputs[k]->id] = -2;
    for (int i = p->n_graph - 1; i >= 0; i--)
        if (local[i] == -2)
            for (int k = 0; k < g->nodes[i]->n_in; k++)
                local[g->nodes[i]->in[k]->id] = -2;
    p->n = 0;
    for (int i = 0; i < p->n_graph; i++)
        if (local[i] == -2) {
            local[i] = p->n;
            p->nodes[p->n++] = g->nodes[i];
        }
    for (int k = 0; k < n_out; k++)
        p->is_output[local[outputs[k]->id]] = true;
}

/* ---------------------------------------------------------------- buffers */

/* A pool buffer for `floats` values: the smallest free one that fits, else
 * the largest free one grown to fit, else a new one. `busy` marks buffers in
 * use; buffer sizes are only fixed once planning ends, so growing is free. */
static int buffer_take(nb__plan *p, bool *busy, int64_t floats)
{
    int fit = -1, largest = -1;
    for (int b = 0; b < p->n_buffers; b++) {
        if (busy[b])
            continue;
        if (p->buf_floats[b] >= floats && (fit < 0 || p->buf_floats[b] < p->buf_floats[fit]))
            fit = b;
        if (largest < 0 || p->buf_floats[b] > p->buf_floats[largest])
            largest = b;
    }
    int b = fit >= 0 ? fit : largest >= 0 ? largest : p->n_buffers++;
    if (p->buf_floats[b] < floats)
        p->buf_floats[b] = floats;
    busy[b] = true;
    return b;
}

/* The storage node i may write over in place: an input's temp storage that
 * dies here, holds exactly the output's shape, and is not read through a
 * differently shaped view by another input of the same op. -1 if none. */
static int inplace_candidate(const nb__plan *p, int i)
{
    const nb_node *n = p->nodes[i];
    if (p->fuse[i] >= 0 ? !p->fusions[p->fuse[i]].in_place : !(n->op->flags & NB_OP_ELEMENTWISE))
        return -1;
    nb_node *const *in;
    const int n_in = nb__plan_step_in(p, i, &in);
    for (int k = 0; k < n_in; k++) {
        int s = p->store[p->local[in[k]->id]];
        const nb__storage *st = &p->storage[s];
        if (st->kind != NB__STORE_TEMP || st->last != i || !nb_shape_equal(in[k]->shape, n->shape))
            continue;
        bool clash = false;
        for (int j = 0; j < n_in; j++)
            if (j != k && p->store[p->local[in[j]->id]] == s &&
                !nb_shape_equal(in[j]->shape, n->shape))
                clash = true;
        if (!clash)
            return s;
    }
    return -1;
}

/* The last planned node reading each node; INT_MAX for outputs, which must
 * survive the run. */
static void last_readers(nb__plan *p, int *last)
{
    for (int i = 0; i < p->n; i++)
        last[i] = p->is_output[i] ? INT_MAX : i;
    for (int i = 0; i < p->n; i++) {
        if (nb__plan_stepless(p, i))
            continue; /* no step: its group's step reads its inputs, or nothing runs */
        nb_node *const *in;
        const int n_in = nb__plan_step_in(p, i, &in);
        for (int k = 0; k < n_in; k++) {
            int j = p->local[in[k]->id];
            if (last[j] != INT_MAX && last[j] < i)
                last[j] = i;
        }
    }
}

/* Gives node i a storage: the leaf's own values, its input's bytes (views),
 * a dying input's buffer (in place), or a fresh temp from the pool. */
static void assign_storage(nb__plan *p, int i, int last_i, bool *busy)
{
    const nb_node *n = p->nodes[i];
    int s = -1;
    if (nb__plan_skipped(p, i)) {
        p->store[i] = -1; /* never written: a group's kernel keeps it in registers, or
                             nothing reads it */
        return;
    }
    if (p->fuse[i] == NB__SIDE)
        return; /* its group's step took its buffer (assign_side) */
    if (n->kind == NB_NODE_PARAM || n->kind == NB_NODE_CONST) {
        s = p->n_storage++;
        p->storage[s] = (nb__storage){.kind = NB__STORE_EXTERNAL, .buffer = -1};
    } else if (n->kind == NB_NODE_INPUT) {
        s = p->n_storage++;
        p->storage[s] = (nb__storage){.kind = NB__STORE_INPUT, .floats = nb_shape_numel(n->shape),
                                      .buffer = p->n_buffers++};
        p->buf_floats[p->storage[s].buffer] = p->storage[s].floats;
        busy[p->storage[s].buffer] = true; /* inputs keep their buffer for good */
        last_i = INT_MAX;
    } else if (n->op->flags & NB_OP_VIEW) {
        s = p->store[p->local[n->in[0]->id]];
    } else if ((s = inplace_candidate(p, i)) < 0) {
        s = p->n_storage++;
        int64_t f = nb_shape_numel(n->shape);
        p->storage[s] = (nb__storage){.kind = NB__STORE_TEMP, .floats = f, .last = i};
        p->storage[s].buffer = buffer_take(p, busy, f);
    }
    p->store[i] = s;
    if (p->storage[s].last < last_i)
        p->storage[s].last = last_i;
}

/* The side value of node i's group (graph_internal.h), if it has one: a
 * fresh buffer, taken at the group's step, which writes it, and kept to
 * the side's last reader. */
static void assign_side(nb__plan *p, int i, const int *last, bool *busy)
{
    if (p->fuse[i] < 0 || !p->fusions[p->fuse[i]].side)
        return;
    const int j = p->local[p->fusions[p->fuse[i]].side->id];
    const int s = p->n_storage++;
    const int64_t f = nb_shape_numel(p->nodes[j]->shape);
    p->storage[s] = (nb__storage){.kind = NB__STORE_TEMP, .floats = f,
                                  .last = last[j] > i ? last[j] : i};
    p->storage[s].buffer = buffer_take(p, busy, f);
    p->store[j] = s;
}

/* Returns to the pool the temp storages whose last reader is node i. */
static void release_dead(nb__plan *p, int i, bool *busy)
{
    if (nb__plan_stepless(p, i))
        return;
    nb_node *const *in;
    const int n_in = nb__plan_step_in(p, i, &in);
    for (int k = 0; k < n_in; k++) {
        nb__storage *st = &p->storage[p->store[p->local[in[k]->id]]];
        if (st->kind == NB__STORE_TEMP && st->last == i)
            busy[st->buffer] = false;
    }
}

/* Lays buffers end to end, each aligned, and totals the two byte counts. */
static void lay_out(nb__plan *p)
{
    int64_t at = 0;
    for (int b = 0; b < p->n_buffers; b++) {
        p->buf_offset[b] = at;
        at += (p->buf_floats[b] + NB__BUF_ALIGN - 1) / NB__BUF_ALIGN * NB__BUF_ALIGN;
    }
    p->slab_floats = at;
    p->planned_bytes = 0;
    for (int b = 0; b < p->n_buffers; b++)
        p->planned_bytes += (size_t)p->buf_floats[b] * sizeof(float);
    p->naive_bytes = 0;
    for (int i = 0; i < p->n; i++) {
        const nb_node *n = p->nodes[i];
        if (n->kind == NB_NODE_OP || n->kind == NB_NODE_INPUT)
            p->naive_bytes += (size_t)nb_shape_numel(n->shape) * sizeof(float);
    }
}

/* ---------------------------------------------------------------- fusion */

/* -1: NABLA_FUSION decides (on unless it is "0"); else nb_set_fusion's word. */
static int fusion_setting = -1;

void nb_set_fusion(bool on) { fusion_setting = on; }

bool nb_get_fusion(void)
{
    if (fusion_setting >= 0)
        return fusion_setting;
    const char *env = getenv("NABLA_FUSION");
    return !(env && strcmp(env, "0") == 0);
}

/* What ops/ needs to know of the plan to fold a value: how many input slots
 * of planned nodes, and of the groups found so far, read each planned node. */
typedef struct fuse_ctx {
    const nb__plan *p;
    const int *reads;
} fuse_ctx;

/* A value may be folded into its reader's group when it is planned, not an
 * output the caller fetches, and read by exactly one input slot. */
static bool sole_reader(const void *ctx, const nb_node *n)
{
    const fuse_ctx *c = ctx;
    if (n->id >= c->p->n_graph)
        return false;
    int i = c->p->local[n->id];
    return i >= 0 && !c->p->is_output[i] && c->reads[i] == 1;
}

/* True when group f may be planned: none of the values it reads is folded
 * into a later group (a group may read past its own members, to a value
 * another group keeps in registers). */
static bool reads_stored(const nb__plan *p, const nb__fusion *f)
{
    for (int k = 0; k < f->n_in; k++)
        if (p->fuse[p->local[f->in[k]->id]] == NB__FOLDED)
            return false;
    return true;
}

/*
 * One sweep of grouping, from the last node to the first: each node not
 * already folded into a later group asks ops/ for the largest pattern
 * ending there. A group's inputs then count as readers, so that no earlier
 * group folds a value that a later group reads past its members. The first
 * sweep (out NULL) counts the groups; the second, which finds the same ones
 * (it starts from the same marks and counts), fills out[0..groups) in plan
 * order. `reads` is scratch of p->n ints. Returns the number of groups.
 */
static int find_groups(nb__plan *p, int *reads, nb__fusion *out, int groups)
{
    for (int i = 0; i < p->n; i++)
        p->fuse[i] = -1, reads[i] = 0;
    for (int i = 0; i < p->n; i++)
        for (int k = 0; k < p->nodes[i]->n_in; k++)
            reads[p->local[p->nodes[i]->in[k]->id]]++;
    const fuse_ctx ctx = {p, reads};
    nb__fusion f;
    int found = 0;
    for (int i = p->n - 1; i >= 0; i--) {
        if (p->fuse[i] == NB__FOLDED || p->nodes[i]->kind != NB_NODE_OP ||
            !nb__fuse(p->nodes[i], sole_reader, &ctx, &f))
            continue;
        /* a side value: planned after i and in no group (this sweep has
         * passed it), else the group without it */
        const int j = f.side && f.side->id < p->n_graph ? p->local[f.side->id] : -1;
        if (f.side && (j <= i || p->fuse[j] != -1))
            nb__fuse_drop_side(&f);
        if (!reads_stored(p, &f))
            continue;
        for (int m = 0; m < f.n_nodes - 1; m++)
            if (f.nodes[m] != f.side)
                p->fuse[p->local[f.nodes[m]->id]] = NB__FOLDED;
        if (f.side)
            p->fuse[j] = NB__SIDE;
        for (int k = 0; k < f.n_in; k++)
            reads[p->local[f.in[k]->id]]++;
        found++;
        p->fuse[i] = out ? groups - found : INT_MAX;
        if (out)
            out[groups - found] = f;
    }
    return found;
}

/*
 * Drops what no step reads any more: a group that reads a member's input
 * instead of the member (a pooling kernel reading the image, not its
 * unfold2d columns) may leave the member, and the views and ops between,
 * without a reader. Such an op node, when the caller does not fetch it,
 * gets no step and no buffer; its own inputs then lose a reader, and one
 * sweep from the last node to the first (readers come after what they
 * read) reaches the fixed point. A value any remaining step reads keeps
 * its step. `reads` is scratch of p->n ints.
 */
static void drop_unread(nb__plan *p, int *reads)
{
    nb_node *const *in;
    for (int i = 0; i < p->n; i++)
        reads[i] = 0;
    for (int i = 0; i < p->n; i++)
        if (p->nodes[i]->kind == NB_NODE_OP && !nb__plan_stepless(p, i))
            for (int k = nb__plan_step_in(p, i, &in) - 1; k >= 0; k--)
                reads[p->local[in[k]->id]]++;
    for (int i = p->n - 1; i >= 0; i--) {
        if (p->nodes[i]->kind != NB_NODE_OP || nb__plan_stepless(p, i) || p->is_output[i] ||
            reads[i] > 0)
            continue;
        for (int k = nb__plan_step_in(p, i, &in) - 1; k >= 0; k--)
            reads[p->local[in[k]->id]]--;
        p->fuse[i] = NB__DROPPED;
    }
}

/* Groups chains and patterns into fused steps (find_groups, twice: count,
 * then fill the exactly sized array), then drops what nothing reads. */
static nb_status plan_fusion(nb_graph *g, nb__plan *p, int *reads)
{
    for (int i = 0; i < p->n; i++)
        p->fuse[i] = -1;
    if (!nb_get_fusion())
        return NB_OK;
    int groups = find_groups(p, reads, NULL, 0);
    if (groups == 0)
        return NB_OK;
    p->fusions = nb__alloc(g, (size_t)groups * sizeof *p->fusions, "the execution plan");
    if (!p->fusions)
        return g->status;
    p->n_fusions = groups;
    find_groups(p, reads, p->fusions, groups);
    drop_unread(p, reads);
    return NB_OK;
}

/* ---------------------------------------------------------------- entry */

static nb_status check_outputs(nb_graph *g, nb_node *const *outputs, int n_out)
{
    if (n_out < 1 || !outputs)
        return nb_graph_fail(g, NB_ERR_ARG, "runtime: needs at least one output node");
    for (int k = 0; k < n_out; k++) {
        if (!outputs[k])
            return nb_graph_fail(g, NB_ERR_ARG, "runtime: output %d is NULL", k);
        if (outputs[k]->g != g)
            return nb_graph_fail(g, NB_ERR_ARG, "runtime: output %d belongs to another graph", k);
    }
    return NB_OK;
}

nb_status nb__plan_make(nb_graph *g, nb_node *const *outputs, int n_outputs, nb__plan *p)
{
    memset(p, 0, sizeof *p);
    nb_status st = check_outputs(g, outputs, n_outputs);
    if (st != NB_OK || (st = plan_alloc(g, p, g->n_nodes)) != NB_OK)
        return st;
    select_nodes(g, p, outputs, n_outputs);
    /* Scratch for planning only: each node's last reader, the busy flags. */
    size_t scratch = (size_t)p->n * (sizeof(int) + sizeof(bool)) + 1;
    int *last = nb__alloc(g, scratch, "the execution plan");
    if (!last) {
        nb__plan_free(g, p);
        return g->status;
    }
    if (plan_fusion(g, p, last) != NB_OK) {
        nb__free(g, last, scratch);
        nb__plan_free(g, p);
        return g->status;
    }
    bool *busy = (bool *)(last + p->n);
    memset(busy, 0, (size_t)p->n * sizeof(bool));
    last_readers(p, last);
    for (int i = 0; i < p->n; i++) {
        assign_storage(p, i, last[i], busy);
        assign_side(p, i, last, busy);
        release_dead(p, i, busy);
    }
    nb__free(g, last, scratch);
    lay_out(p);
    return NB_OK;
}
