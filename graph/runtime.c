/*
 * runtime.c — a compiled graph: one slab holding every planned buffer, a
 * list of steps (kernel, input pointers, output pointer), and the run loop.
 * Everything is allocated when the runtime is made; a run allocates nothing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "plan.h"

typedef struct nb__step {
    nb_forward_fn forward; /* node->op->forward, read once when the runtime is made */
    nb_check_fn check;     /* node->op->check: the input values it refuses, or NULL */
    const nb_node *node;   /* the node it computes: a fused group's last member */
    nb_node *const *in_nodes; /* the nodes it reads: node->in, or its group's inputs */
    int n_in;
    const float **in; /* into the shared pointer array */
    float *out;
    nb__kernel_fn run; /* the kernel ops/ chose for the node's shapes, or NULL */
    nb__kernel *kernel; /* what it reads: NB__KERNEL_BYTES in the runtime's allocation */
} nb__step;

struct nb_runtime {
    nb_graph *g;
    nb__plan plan;
    void *mem;               /* the one allocation below are carved from */
    size_t mem_bytes;
    float *slab;             /* every input and temp buffer */
    nb__step *steps;
    int n_steps;
    nb__step *live;          /* the steps a plain run executes (bind: all but views with
                                nothing to do), copied in order */
    int n_live;
    bool live_checks;        /* some step in live checks its input values */
    unsigned char *kernels;  /* NB__KERNEL_BYTES per step, for ops/'s kernel choices */
    const float **in_ptrs;   /* every step's input pointers, end to end */
    int n_in_ptrs;
    float **val;             /* per planned node: where its values are */
    float **placed;          /* per planned node: the caller's buffer for an output
                                (nb_runtime_place_output), or NULL */
    bool *fed;               /* per planned node: inputs given a value */
    int *inputs;             /* planned indices of the input nodes (noise included) */
    int n_inputs;
    int n_unfed;             /* inputs not given a value yet: run refuses while > 0 */
    int *noise;              /* planned indices of the noise inputs */
    int n_noise;
    unsigned param_moves;    /* g->param_moves when pointers were bound */
    unsigned binding;        /* g->bindings counted when they were */
    nb__tuner tuner;         /* this runtime's thread count under nb_set_threads(0) */
    nb__step_times *times;   /* NABLA_STEP_TIMES: time per step; else NULL */
    const nb_node **outer;   /* outputs left unformed, node and its two inputs for each:
                                n_outer outer products (u, v), then n_factored
                                products xᵀ·dz (x, dz) */
    int n_outer, n_factored;
    nb_runtime_hook hook;    /* called after each step of a run, or NULL */
    void *hook_ud;
    char err[512];
};

static nb_status rt_fail(nb_runtime *rt, nb_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rt->err, sizeof rt->err, fmt, ap);
    va_end(ap);
    return st;
}

/* ---------------------------------------------------------------- binding */

/* True when step is a view (NB_OP_VIEW: its output is input 0's bytes)
 * whose output already lies where its input does, so running it would do
 * nothing: a reshape the plan gave its input's memory (XOR's step has
 * three). Not for a fused group's step or one that checks its values. */
static bool idle_view(const nb_runtime *rt, const nb__step *step)
{
    return (step->node->op->flags & NB_OP_VIEW) && step->check == NULL &&
           rt->plan.fuse[rt->plan.local[step->node->id]] < 0 && step->n_in >= 1 &&
           step->out == step->in[0];
}

/* Points every planned value and every step's inputs at their memory, and
 * lists the steps a plain run executes. Parameters live in the graph's
 * contiguous buffer, which moves when a parameter is added, or in memory
 * the caller gave one (nb_param_place), so this runs again whenever some
 * parameter moved (the graph's param_moves). */
static void bind(nb_runtime *rt)
{
    const nb__plan *p = &rt->plan;
    for (int i = 0; i < p->n; i++) {
        nb_node *n = p->nodes[i];
        const nb__storage *st = p->store[i] >= 0 ? &p->storage[p->store[i]] : NULL;
        if (n->kind == NB_NODE_PARAM)
            rt->val[i] = nb_param_data(n); /* the graph's memory, or the caller's */
        else if (n->kind == NB_NODE_CONST)
            rt->val[i] = n->data;
        else if (nb__plan_skipped(p, i))
            rt->val[i] = NULL; /* computed inside a group's kernel, or not at all */
        else if (st->kind == NB__STORE_EXTERNAL) /* a view of a leaf */
            rt->val[i] = rt->val[p->local[n->in[0]->id]];
        else if (rt->placed[i])
            rt->val[i] = rt->placed[i];
        else
            rt->val[i] = rt->slab + p->buf_offset[st->buffer];
    }
    rt->n_live = 0;
    rt->live_checks = false;
    for (int s = 0; s < rt->n_steps; s++) {
        nb__step *step = &rt->steps[s];
        for (int k = 0; k < step->n_in; k++)
            step->in[k] = rt->val[p->local[step->in_nodes[k]->id]];
        step->out = rt->val[p->local[step->node->id]];
        if (!idle_view(rt, step))
            rt->live[rt->n_live++] = *step;
        rt->live_checks |= step->check != NULL;
    }
    rt->param_moves = rt->g->param_moves;
    rt->binding = ++rt->g->bindings;
}

/* ---------------------------------------------------------------- making */

/* Counts the op nodes and their input pointers, then carves the slab, the
 * steps, the pointers and the per-node arrays out of one allocation. */
static nb_status rt_alloc(nb_runtime *rt)
{
    const nb__plan *p = &rt->plan;
    for (int i = 0; i < p->n; i++)
        if (p->nodes[i]->kind == NB_NODE_OP && !nb__plan_stepless(p, i)) {
            nb_node *const *in;
            rt->n_steps++;
            rt->n_in_ptrs += nb__plan_step_in(p, i, &in);
        }
    size_t slab = (size_t)p->slab_floats * sizeof(float);
    size_t steps = 2 * (size_t)rt->n_steps * sizeof(nb__step); /* steps, then live */
    size_t kernels = (size_t)rt->n_steps * NB__KERNEL_BYTES;
    size_t ptrs = (size_t)rt->n_in_ptrs * sizeof(float *);
    size_t vals = 2 * (size_t)p->n * sizeof(float *);
    size_t lists = 2 * (size_t)p->n * sizeof(int);
    rt->mem_bytes = 64 + slab + 16 + kernels + steps + ptrs + vals + lists +
                    (size_t)p->n * sizeof(bool);
    unsigned char *mem = nb__alloc(rt->g, rt->mem_bytes, "the runtime's buffers");
    if (!mem)
        return rt->g->status;
    memset(mem, 0, rt->mem_bytes);
    rt->mem = mem;
    rt->slab = (float *)(((uintptr_t)mem + 63) & ~(uintptr_t)63);
    rt->kernels = (unsigned char *)(((uintptr_t)rt->slab + slab + 15) & ~(uintptr_t)15);
    rt->steps = (nb__step *)(rt->kernels + kernels);
    rt->live = rt->steps + rt->n_steps;
    rt->in_ptrs = (const float **)((unsigned char *)rt->steps + steps);
    rt->val = (float **)((unsigned char *)rt->in_ptrs + ptrs);
    rt->placed = rt->val + p->n;
    rt->inputs = (int *)(rt->placed + p->n);
    rt->noise = rt->inputs + p->n;
    rt->fed = (bool *)(rt->noise + p->n);
    return NB_OK;
}

/* Lists the input nodes (which a run checks were fed) and the noise inputs
 * (which fill_noise refills), so neither walks every planned node. */
static void list_inputs(nb_runtime *rt)
{
    const nb__plan *p = &rt->plan;
    for (int i = 0; i < p->n; i++) {
        if (p->nodes[i]->kind != NB_NODE_INPUT)
            continue;
        rt->inputs[rt->n_inputs++] = i;
        if (p->nodes[i]->flags & NB__NODE_NOISE)
            rt->noise[rt->n_noise++] = i;
    }
    rt->n_unfed = rt->n_inputs;
}

/* One step per op node, in plan order, each with its slice of in_ptrs and
 * the kernel specialised for its shapes where ops/ has one; a fused group is
 * one step, at its last member, running the group's kernel. */
static void make_steps(nb_runtime *rt)
{
    const nb__plan *p = &rt->plan;
    int s = 0, at = 0;
    for (int i = 0; i < p->n; i++) {
        nb_node *n = p->nodes[i];
        if (n->kind != NB_NODE_OP || nb__plan_stepless(p, i))
            continue;
        nb__kernel *k = (nb__kernel *)(rt->kernels + (size_t)s * NB__KERNEL_BYTES);
        nb__step *step = &rt->steps[s++];
        *step = (nb__step){.forward = n->op->forward, .check = n->op->check, .node = n,
                           .in = rt->in_ptrs + at, .kernel = k};
        step->n_in = nb__plan_step_in(p, i, &step->in_nodes);
        if (p->fuse[i] >= 0) {
            const nb__fusion *f = &p->fusions[p->fuse[i]];
            memcpy(k, f->kernel, NB__KERNEL_BYTES);
            step->run = f->run;
            step->check = NULL; /* fused ops refuse no values */
        } else {
            step->run = nb__kernel_choose(n, k);
        }
        at += step->n_in;
    }
}

nb_runtime *nb_runtime_new(nb_graph *g, nb_node *const *outputs, int n_outputs)
{
    if (!g)
        return NULL;
    nb__threads_init();
    nb_runtime *rt = nb__alloc(g, sizeof *rt, "a runtime");
    if (!rt)
        return NULL;
    memset(rt, 0, sizeof *rt);
    rt->g = g;
    if (nb__plan_make(g, outputs, n_outputs, &rt->plan) != NB_OK) {
        nb__free(g, rt, sizeof *rt);
        return NULL;
    }
    if (rt_alloc(rt) != NB_OK) {
        nb__plan_free(g, &rt->plan);
        nb__free(g, rt, sizeof *rt);
        return NULL;
    }
    make_steps(rt);
    list_inputs(rt);
    bind(rt);
    rt->times = nb__step_times_new(rt->n_steps);
    return rt;
}

void nb_runtime_free(nb_runtime *rt)
{
    if (!rt)
        return;
    nb_graph *g = rt->g;
    nb__step_times_free(rt, rt->times);
    nb__free(g, rt->outer, 3 * (size_t)(rt->n_outer + rt->n_factored) * sizeof *rt->outer);
    nb__free(g, rt->mem, rt->mem_bytes);
    nb__plan_free(g, &rt->plan);
    nb__free(g, rt, sizeof *rt);
}

/* ---------------------------------------------------------------- outer products */

/* True when n's values are a parameter's, directly or through views. */
static bool param_backed(const nb_node *n)
{
    while (n->kind == NB_NODE_OP && (n->op->flags & NB_OP_VIEW))
        n = n->in[0];
    return n->kind == NB_NODE_PARAM;
}

/* True when output n, marked by the caller, may be left as the outer
 * product of its inputs: ops/ says it is one, and neither vector lives in
 * a parameter (the caller may update parameters while it reads them). */
static bool leave_outer(const nb_graph *g, const nb_node *n)
{
    return n && n->g == g && nb__outer_product(n) && !param_backed(n->in[0]) &&
           !param_backed(n->in[1]);
}

/* The same for a product xᵀ·dz of two matrices (nb_runtime_new_factored). */
static bool leave_factored(const nb_graph *g, const nb_node *n)
{
    return n && n->g == g && nb__transposed_product(n) && !param_backed(n->in[0]) &&
           !param_backed(n->in[1]);
}

/* What becomes of output i: 1 left as an outer product, 2 as the two
 * factors of a product, 0 computed. */
static int left_as(const nb_graph *g, nb_node *const *outputs, int i, const bool *outer,
                   const bool *factored)
{
    if (outer && outer[i] && leave_outer(g, outputs[i]))
        return 1;
    return factored && factored[i] && leave_factored(g, outputs[i]) ? 2 : 0;
}

/*
 * The plan rewrite behind nb_runtime_new_outer and nb_runtime_new_factored:
 * each marked output that is an outer product, or a product xᵀ·dz, is
 * replaced among the outputs by its two inputs, so the runtime computes
 * and keeps them and never forms the product. rt->outer lists the outer
 * products first, then the factored ones: node, its two inputs.
 */
nb_runtime *nb_runtime_new_factored(nb_graph *g, nb_node *const *outputs, int n_outputs,
                                    const bool *outer, const bool *factored)
{
    int k[3] = {0};
    for (int i = 0; g && outputs && i < n_outputs; i++)
        k[left_as(g, outputs, i, outer, factored)]++;
    int kept_n = k[1] + k[2];
    if (kept_n == 0)
        return nb_runtime_new(g, outputs, n_outputs);
    size_t list_bytes = (size_t)(n_outputs + kept_n) * sizeof(nb_node *);
    nb_node **list = nb__alloc(g, list_bytes, "the runtime's list of outputs");
    const nb_node **kept = list ? nb__alloc(g, 3 * (size_t)kept_n * sizeof *kept,
                                            "the runtime's list of outputs left unformed")
                                : NULL;
    if (!kept) {
        nb__free(g, list, list_bytes);
        return NULL;
    }
    int m = 0, e[3] = {0, 0, 3 * k[1]};
    for (int i = 0; i < n_outputs; i++) {
        nb_node *n = outputs[i];
        int as = left_as(g, outputs, i, outer, factored);
        if (as) {
            kept[e[as]++] = n, kept[e[as]++] = n->in[0], kept[e[as]++] = n->in[1];
            list[m++] = n->in[0], list[m++] = n->in[1];
        } else {
            list[m++] = n;
        }
    }
    nb_runtime *rt = nb_runtime_new(g, list, m);
    nb__free(g, list, list_bytes);
    if (!rt) {
        nb__free(g, kept, 3 * (size_t)kept_n * sizeof *kept);
        return NULL;
    }
    rt->outer = kept, rt->n_outer = k[1], rt->n_factored = k[2];
    return rt;
}

nb_runtime *nb_runtime_new_outer(nb_graph *g, nb_node *const *outputs, int n_outputs,
                                 const bool *outer)
{
    return nb_runtime_new_factored(g, outputs, n_outputs, outer, NULL);
}

/* ---------------------------------------------------------------- running */

/* The planned index of n, or -1 when this runtime does not compute it. */
static int planned(const nb_runtime *rt, const nb_node *n)
{
    if (!n || n->g != rt->g || n->id >= rt->plan.n_graph)
        return -1;
    return rt->plan.local[n->id];
}

/* Records that planned input i holds a value. */
static void mark_fed(nb_runtime *rt, int i)
{
    if (!rt->fed[i]) {
        rt->fed[i] = true;
        rt->n_unfed--;
    }
}

nb_status nb_runtime_set_input(nb_runtime *rt, nb_node *input, const float *data)
{
    if (!rt)
        return NB_ERR_ARG;
    char b[300];
    if (!input || input->kind != NB_NODE_INPUT)
        return rt_fail(rt, NB_ERR_ARG, "set_input: %s is not an input node",
                       input ? nb__describe(input, b, sizeof b) : "NULL");
    if (input->g != rt->g)
        return rt_fail(rt, NB_ERR_ARG, "set_input: %s belongs to another graph",
                       nb__describe(input, b, sizeof b));
    if (!data)
        return rt_fail(rt, NB_ERR_ARG, "set_input: data for %s is NULL",
                       nb__describe(input, b, sizeof b));
    int i = planned(rt, input);
    if (i < 0)
        return NB_OK; /* the outputs do not depend on this input */
    memcpy(rt->val[i], data, (size_t)nb__numel(&input->shape) * sizeof(float));
    mark_fed(rt, i);
    return NB_OK;
}

/* The step's op's verdict on its input values; a refusal leaves "run:
 * <layer, or the op>: <the op's message>" in rt->err. */
static nb_status refused(nb_runtime *rt, const nb__step *step)
{
    char msg[400];
    msg[0] = '\0';
    nb_status st = step->check(step->node, step->in, msg, sizeof msg);
    if (st == NB_OK)
        return NB_OK;
    const nb_node *n = step->node;
    return rt_fail(rt, st, "run: %s: %s", n->scope ? n->scope : n->op->name,
                   msg[0] ? msg : "input values refused");
}

/* One step's kernel. */
static inline void run_one(const nb__step *step)
{
    if (step->run)
        step->run(step->kernel, step->in, step->out);
    else
        step->forward(step->node, step->in, step->out);
}

/* Every step with work to do, nothing else: the loop of a run with
 * neither step times nor a hook. Asking for those once per run, not per
 * step, kept a tiny graph's run loop at its old cost (XOR: 29 steps, 268
 * more instructions a training step when every step asked); views with
 * nothing to do are left out (bind). */
static nb_status run_steps(nb_runtime *rt)
{
    const nb__step *step = rt->live, *end = step + rt->n_live;
    if (!rt->live_checks) { /* no step refuses values: the loop asks none (a test per step) */
        for (; step < end; step++)
            run_one(step);
        return NB_OK;
    }
    nb_status st;
    for (; step < end; step++) {
        if (step->check && (st = refused(rt, step)) != NB_OK)
            return st;
        run_one(step);
    }
    return NB_OK;
}

/* Every step, timed when NABLA_STEP_TIMES asked, the hook after each. */
static nb_status run_watched(nb_runtime *rt)
{
    nb_status st;
    for (const nb__step *step = rt->steps, *end = step + rt->n_steps; step < end; step++) {
        double t0 = rt->times ? nb__step_clock() : 0;
        if (step->check && (st = refused(rt, step)) != NB_OK)
            return st;
        run_one(step);
        if (rt->times)
            nb__step_times_add(rt->times, (int)(step - rt->steps), t0);
        if (rt->hook)
            rt->hook(rt->hook_ud, (int)(step - rt->steps));
    }
    return NB_OK;
}

nb_status nb_runtime_run(nb_runtime *rt)
{
    if (!rt)
        return NB_ERR_ARG;
    for (int k = 0; rt->n_unfed && k < rt->n_inputs; k++)
        if (!rt->fed[rt->inputs[k]]) {
            char b[300];
            return rt_fail(rt, NB_ERR_STATE, "run: input %s was never set",
                           nb__describe(rt->plan.nodes[rt->inputs[k]], b, sizeof b));
        }
    if (rt->param_moves != rt->g->param_moves)
        bind(rt);
    nb__tune_begin(&rt->tuner);
    nb_status st = rt->times || rt->hook ? run_watched(rt) : run_steps(rt);
    if (st != NB_OK)
        return st;
    nb__tune_end(&rt->tuner);
    if (rt->times)
        nb__step_times_run(rt->times, nb_get_threads());
    rt->err[0] = '\0';
    return NB_OK;
}

/* Output n written into buf from the next run on: the planned value's
 * pointer and every step's that writes or reads it, rebound. Only a value
 * a step of its own writes into a slab buffer can move: a leaf's, a view's
 * or a fused member's memory belongs to something else. */
nb_status nb_runtime_place_output(nb_runtime *rt, const nb_node *n, float *buf)
{
    if (!rt)
        return NB_ERR_ARG;
    char b[300];
    int i = planned(rt, n);
    bool own = i >= 0 && rt->plan.is_output[i] && n->kind == NB_NODE_OP &&
               !nb__plan_skipped(&rt->plan, i) && rt->plan.store[i] >= 0 &&
               rt->plan.storage[rt->plan.store[i]].kind == NB__STORE_TEMP;
    bool stepped = false; /* the last node of a step: fused members are not */
    for (int s = 0; own && !stepped && s < rt->n_steps; s++)
        stepped = rt->steps[s].node == n;
    own = own && stepped;
    if (!own)
        return rt_fail(rt, NB_ERR_ARG, "place_output: %s is not an output this runtime "
                       "writes into a buffer of its own (a leaf, a view, a fused member or "
                       "an output left unformed (outer product, factors) cannot move)",
                       n ? nb__describe(n, b, sizeof b) : "(null)");
    rt->placed[i] = buf;
    bind(rt);
    return NB_OK;
}

const float *nb_runtime_value(const nb_runtime *rt, const nb_node *n)
{
    if (!rt)
        return NULL;
    int i = planned(rt, n);
    if (i < 0 || !(rt->plan.is_output[i] || n->kind != NB_NODE_OP))
        return NULL;
    if (n->kind == NB_NODE_PARAM && rt->param_moves != rt->g->param_moves)
        return nb_param_data((nb_node *)n);
    return rt->val[i];
}

bool nb_runtime_outer(const nb_runtime *rt, const nb_node *n, const float **u, const float **v)
{
    for (int e = 0; rt && n && e < rt->n_outer; e++)
        if (rt->outer[3 * e] == n) {
            *u = rt->val[planned(rt, rt->outer[3 * e + 1])];
            *v = rt->val[planned(rt, rt->outer[3 * e + 2])];
            return true;
        }
    return false;
}

bool nb_runtime_factors(const nb_runtime *rt, const nb_node *n, const float **x,
                        const float **dz, int64_t *k)
{
    for (int e = rt ? rt->n_outer : 0; rt && n && e < rt->n_outer + rt->n_factored; e++)
        if (rt->outer[3 * e] == n) {
            *x = rt->val[planned(rt, rt->outer[3 * e + 1])];
            *dz = rt->val[planned(rt, rt->outer[3 * e + 2])];
            *k = rt->outer[3 * e + 1]->shape.dim[0];
            return true;
        }
    return false;
}

/* ---------------------------------------------------------------- between steps */

void nb_runtime_set_hook(nb_runtime *rt, nb_runtime_hook fn, void *ud)
{
    if (rt)
        rt->hook = fn, rt->hook_ud = fn ? ud : NULL;
}

/* The step that writes output (or leaf) n: its own, or the fused group's
 * it is a member of; -1 for a leaf, -2 when no step writes it. */
static int step_writing(const nb_runtime *rt, const nb_node *n)
{
    int i = planned(rt, n);
    if (i < 0 || !(rt->plan.is_output[i] || n->kind != NB_NODE_OP))
        return -2;
    if (n->kind != NB_NODE_OP)
        return -1;
    for (int s = 0; s < rt->n_steps; s++) {
        const nb_node *last = rt->steps[s].node;
        int f = rt->plan.fuse[rt->plan.local[last->id]];
        if (last == n)
            return s;
        for (int k = 0; f >= 0 && k < rt->plan.fusions[f].n_nodes; k++)
            if (rt->plan.fusions[f].nodes[k] == n)
                return s;
    }
    return -2;
}

int nb_runtime_ready_step(const nb_runtime *rt, const nb_node *n)
{
    for (int e = 0; rt && n && e < rt->n_outer + rt->n_factored; e++)
        if (rt->outer[3 * e] == n) {
            int u = step_writing(rt, rt->outer[3 * e + 1]), v = step_writing(rt, rt->outer[3 * e + 2]);
            return u == -2 || v == -2 ? -2 : u > v ? u : v;
        }
    return rt && n ? step_writing(rt, n) : -2;
}

const char *nb_runtime_error(const nb_runtime *rt)
{
    return rt ? rt->err : "no runtime (NULL)";
}

unsigned nb_runtime_binding(const nb_runtime *rt) { return rt ? rt->binding : 0; }
size_t nb_runtime_planned_bytes(const nb_runtime *rt) { return rt ? rt->plan.planned_bytes : 0; }
size_t nb_runtime_naive_bytes(const nb_runtime *rt) { return rt ? rt->plan.naive_bytes : 0; }
int nb_runtime_num_steps(const nb_runtime *rt) { return rt ? rt->n_steps : 0; }

bool nb_runtime_step(const nb_runtime *rt, int i, nb_runtime_step_info *out)
{
    if (!rt || !out || i < 0 || i >= rt->n_steps)
        return false;
    const nb__plan *p = &rt->plan;
    const nb__step *step = &rt->steps[i];
    const int at = p->local[step->node->id];
    const nb__storage *st = &p->storage[p->store[at]];
    *out = (nb_runtime_step_info){.pattern = NULL, .n_nodes = 1, .nodes = &step->node,
                                  .n_inputs = step->n_in,
                                  .inputs = (const nb_node *const *)step->in_nodes,
                                  .view = (step->node->op->flags & NB_OP_VIEW) != 0,
                                  .buffer = st->buffer};
    if (p->fuse[at] >= 0) {
        const nb__fusion *f = &p->fusions[p->fuse[at]];
        out->pattern = f->pattern, out->n_nodes = f->n_nodes, out->nodes = f->nodes;
        out->n_inputs -= f->side != NULL; /* the side's buffer: written, not read */
    }
    if (st->buffer >= 0)
        out->buffer_bytes = (size_t)p->buf_floats[st->buffer] * sizeof(float);
    return true;
}

void nb_runtime_fill_noise(nb_runtime *rt, nb_rng *rng)
{
    if (!rt || !rng)
        return;
    for (int k = 0; k < rt->n_noise; k++) {
        int i = rt->noise[k];
        int64_t m = nb__numel(&rt->plan.nodes[i]->shape);
        for (int64_t e = 0; e < m; e++)
            rt->val[i][e] = nb_rng_uniform(rng);
        mark_fed(rt, i);
    }
}

/* Draws n uniforms from rng into v, or throws them away when v is NULL. */
static void draw_uniforms(nb_rng *rng, float *v, int64_t n)
{
    for (int64_t e = 0; e < n; e++) {
        float u = nb_rng_uniform(rng);
        if (v)
            v[e] = u;
    }
}

/* The noise inputs as rows [offset, offset + rows) of a batch of `global`:
 * a noise input whose leading dimension is `batch` (the runtime's) is a
 * row block of what a runtime at batch `global` would draw for it, the rest
 * drawn whole; values land in the runtime when fill, else are skipped.
 * rng advances as that runtime's nb_runtime_fill_noise would. */
static void noise_rows(nb_runtime *rt, nb_rng *rng, int64_t batch, int64_t offset,
                       int64_t rows, int64_t global, bool fill)
{
    for (int k = 0; rt && rng && k < rt->n_noise; k++) {
        int i = rt->noise[k];
        const nb_shape *s = &rt->plan.nodes[i]->shape;
        int64_t m = nb__numel(s);
        float *v = fill ? rt->val[i] : NULL;
        if (s->rank == 0 || s->dim[0] != batch || batch < 1) {
            draw_uniforms(rng, v, m);
        } else {
            int64_t per = m / batch;
            draw_uniforms(rng, NULL, offset * per);
            draw_uniforms(rng, v, rows * per);
            draw_uniforms(rng, NULL, (global - offset - rows) * per);
        }
        if (fill)
            mark_fed(rt, i);
    }
}

void nb_runtime_fill_noise_rows(nb_runtime *rt, nb_rng *rng, int64_t batch, int64_t offset,
                                int64_t global)
{
    if (batch >= 1 && offset >= 0 && offset + batch <= global)
        noise_rows(rt, rng, batch, offset, batch, global, true);
}

void nb_runtime_skip_noise(nb_runtime *rt, nb_rng *rng, int64_t batch, int64_t global)
{
    if (batch >= 1 && global >= 0)
        noise_rows(rt, rng, batch, 0, 0, global, false);
}
