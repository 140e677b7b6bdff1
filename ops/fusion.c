/*
 * fusion.c — the patterns the planner fuses, one record each, and the
 * matching of chains. The graph a user builds and draws is unchanged; only
 * the runtime's steps are fewer. The planner (graph/plan.c) asks nb__fuse
 * at each node, last to first, and says which values it may fold away: a
 * value read by anything else (another node, the caller as an output) is
 * never folded.
 *
 * Two kinds of record:
 *   - a whole-group matcher (nb__fuse_match_fn, fusion.h), tried first, in
 *     table order: it recognises its pattern from the group's last node
 *     and fills the members, the inputs and the kernel's bytes. Its inputs
 *     may be any values upstream, not only what its members read: a
 *     pooling or convolution group lists the image x, not unfold2d(x)'s
 *     columns, and reads x through the window arithmetic. The planner then
 *     drops every value no step reads any more (the columns and their
 *     views, when every reader of them was such a group) and keeps the
 *     rest: reading past a value never removes it from under another
 *     reader. Matchers live beside the kernels' family (fusion_pool.c,
 *     fusion_conv_dx.c, fusion_gates.c: a recurrent cell's gates).
 *   - a chain: a head (the record's check on its first member) followed by
 *     elementwise ops of the head's shape, each taking the running value
 *     and at most one other operand read whole, as a row under every row
 *     (a bias) or as one number; the kernels are in kernels/fused.c.
 */
#include <string.h>

#include "fusion.h"
#include "kernels/conv_dx.h"
#include "kernels/fused.h"
#include "kernels/conv_direct.h"
#include "kernels/gates.h"
#include "kernels/gemm.h"
#include "kernels/pool.h"

/* The elementwise ops a chain may hold: those with a step in fused.c. */
bool nb__fuse_chain_op(const nb_node *n)
{
    if (n->kind != NB_NODE_OP)
        return false;
    static const nb__op_id ids[] = {NB_OP_NEG, NB_OP_EXP, NB_OP_LOG, NB_OP_SQRT, NB_OP_ABS,
                                    NB_OP_SIGN, NB_OP_TANH, NB_OP_SIGMOID, NB_OP_ADD, NB_OP_SUB,
                                    NB_OP_MUL, NB_OP_DIV, NB_OP_MAX, NB_OP_MIN, NB_OP_POW,
                                    NB_OP_GT, NB_OP_GE, NB_OP_EQ};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (n->op == &nb__op_table[ids[i]])
            return true;
    return false;
}

/* The value's last dimension (1 for a scalar). */
static int64_t last_dim(const nb_shape *s)
{
    return s->rank ? s->dim[s->rank - 1] : 1;
}

/* How x is read against a value of shape out: whole, as a row under every
 * row, as one number; -1 when it broadcasts some other way. */
static int operand_kind(const nb_shape *x, const nb_shape *out)
{
    if (nb_shape_equal(*x, *out))
        return NB__FZ_FULL;
    int64_t numel = nb__numel(x);
    if (numel == 1)
        return NB__FZ_SCALAR;
    if (x->rank >= 1 && out->rank >= 1 && x->rank <= out->rank &&
        x->dim[x->rank - 1] == last_dim(out) && numel == last_dim(out))
        return NB__FZ_ROW;
    return -1;
}

/* A product with one flat row block: matmul's own kernel choice says so
 * (no batch, or b one matrix under a's rows). */
static bool head_product(const nb_node *n)
{
    nb__kernel k;
    return n->kind == NB_NODE_OP && n->op == NB__OP(MATMUL) && nb__matmul_fast(n, &k);
}

/* An elementwise op whose own inputs are read in one of the three ways. */
static bool head_chain(const nb_node *n)
{
    if (!nb__fuse_chain_op(n))
        return false;
    for (int k = 0; k < n->n_in; k++)
        if (operand_kind(&n->in[k]->shape, &n->shape) < 0)
            return false;
    return true;
}

/* The patterns: a record has a matcher (whole groups, tried first, in
 * order) or a head (chains, the longest chain wins, then the first record). */
typedef struct fuse_pattern {
    const char *name;
    nb__fuse_match_fn match;        /* a whole group ending at the node */
    bool (*head)(const nb_node *n); /* a chain: the check on the first member */
    nb__kernel_fn run;
    bool in_place;                  /* the kernel reads every input before writing */
    const char *without_side;       /* a group with a side value: the record of the same
                                       group without it (nb__fuse_drop_side) */
} fuse_pattern;

static const fuse_pattern patterns[] = {
    {"maxpool", .match = nb__fuse_maxpool, .run = nb__pool_max},
    {"avgpool", .match = nb__fuse_avgpool, .run = nb__pool_sum},
    {"maxpool+relu+bias gradient", .match = nb__fuse_maxpool_relu_bias_grad,
     .run = nb__pool_max_grad, .without_side = "maxpool+relu gradient"},
    {"maxpool+bias gradient", .match = nb__fuse_maxpool_bias_grad, .run = nb__pool_max_grad,
     .without_side = "maxpool gradient"},
    {"maxpool+relu gradient", .match = nb__fuse_maxpool_relu_grad, .run = nb__pool_max_grad},
    {"maxpool gradient", .match = nb__fuse_maxpool_grad, .run = nb__pool_max_grad},
    {"avgpool gradient", .match = nb__fuse_avgpool_grad, .run = nb__pool_sum_grad},
    {"convolution input gradient", .match = nb__fuse_conv_dx, .run = nb__conv_dx_run},
    {"convolution", .match = nb__fuse_conv_forward, .run = nb__conv_forward},
    {"convolution weight gradient", .match = nb__fuse_conv_weight_grad,
     .run = nb__conv_weight_grad},
    {"gate activation", .match = nb__fuse_gate_activation, .run = nb__gate_activation},
    {"gate gradients", .match = nb__fuse_gate_gradients, .run = nb__gate_gradients},
    {"cell gradient", .match = nb__fuse_cell_gradient, .run = nb__gate_gradients},
    {"summed products", .match = nb__fuse_summed_products, .run = nb__gemm_sum},
    {"product+epilogue", .head = head_product, .run = nb__fused_product},
    {"elementwise chain", .head = head_chain, .run = nb__fused_chain, .in_place = true},
};
#define N_PATTERNS (sizeof patterns / sizeof patterns[0])

/* Fills f's record fields from pattern pat (the matcher filled the rest). */
static void take(nb__fusion *f, const fuse_pattern *pat)
{
    f->pattern = pat->name;
    f->run = pat->run;
    f->in_place = pat->in_place;
}

/* The input slot of n holding the value of a member that may precede n, or
 * -1: an op of n's shape that sole() admits, whose other operand (if any)
 * is read in one of the three ways. The first such slot wins. */
static int chain_slot(const nb_node *n, nb__fuse_sole_fn sole, const void *ctx)
{
    for (int k = 0; k < n->n_in; k++) {
        const nb_node *c = n->in[k];
        if (c->kind != NB_NODE_OP || !nb_shape_equal(c->shape, n->shape) || !sole(ctx, c))
            continue;
        if (!nb__fuse_chain_op(c) && !head_product(c))
            continue;
        if (n->n_in == 2 && operand_kind(&n->in[1 - k]->shape, &n->shape) < 0)
            continue;
        return k;
    }
    return -1;
}

void nb__fuse_add_step(nb__fusion *f, nb__fused_kernel *fk, const nb_node *n, int slot,
                       int (*kind)(const nb_shape *x, const nb_shape *out))
{
    int t = fk->n_ops++;
    fk->op[t] = (uint8_t)(n->op - nb__op_table);
    fk->arg[t] = -1;
    if (n->n_in == 2) {
        int other = slot < 0 ? 1 : 1 - slot;
        fk->arg[t] = (int8_t)f->n_in;
        fk->kind[t] = (uint8_t)kind(&n->in[other]->shape, &n->shape);
        fk->right[t] = slot == 1;
        f->in[f->n_in++] = n->in[other];
    }
}

/* Fills f's inputs and kernel for members chain[0..n) (chain[0] the head),
 * slot[i] the slot of chain[i] holding chain[i - 1]'s value. */
static void build(nb__fusion *f, const fuse_pattern *pat, const nb_node *const *chain,
                  const int *slot, int n)
{
    nb__fused_kernel fk = {0};
    const nb_node *head = chain[0], *last = chain[n - 1];
    fk.len = last_dim(&last->shape);
    fk.rows = nb__numel(&last->shape) / (fk.len ? fk.len : 1);
    take(f, pat);
    f->n_nodes = n;
    f->n_in = 0;
    for (int i = 0; i < n; i++)
        f->nodes[i] = chain[i];
    if (pat->run == nb__fused_product) {
        nb__kernel k;
        nb__matmul_fast(head, &k);
        fk.ta = k.ta, fk.tb = k.tb, fk.m = k.m, fk.k = k.k, fk.n = k.n;
        f->in[f->n_in++] = head->in[0];
        f->in[f->n_in++] = head->in[1];
    } else {
        fk.load_kind = (uint8_t)operand_kind(&head->in[0]->shape, &last->shape);
        f->in[f->n_in++] = head->in[0];
        nb__fuse_add_step(f, &fk, head, -1, operand_kind);
    }
    for (int i = 1; i < n; i++)
        nb__fuse_add_step(f, &fk, chain[i], slot[i], operand_kind);
    /* No row operand: the value is one long row, cut into chunks freely. */
    bool rows = fk.load_kind == NB__FZ_ROW && pat->run != nb__fused_product;
    for (int t = 0; t < fk.n_ops; t++)
        rows |= fk.arg[t] >= 0 && fk.kind[t] == NB__FZ_ROW;
    if (!rows && pat->run != nb__fused_product)
        fk.len *= fk.rows, fk.rows = 1;
    memset(f->kernel, 0, sizeof f->kernel);
    memcpy(f->kernel, &fk, sizeof fk);
}

/*
 * Chains (product+epilogue, elementwise) whose value has fewer floats than
 * this run as their plain steps. On such values a group's kernel costs more
 * than the plain kernels it replaces: the plain ones are specialised for
 * tiny outputs (kernels/binary_fast.c, nb__gemm_tiny), while the program's
 * fixed costs (the step's set-up, its operand lookup per row, the loads and
 * stores around it) are paid per program step, and nothing is saved on
 * memory that stays in L1 anyway. Measured on XOR 2-2-1 at batch 4 (values
 * of 4 and 8 floats), one thread: fused 8,600 instructions per training
 * step against 6,680 plain (callgrind), 2.1M against 2.9M steps/s; a dense
 * layer of 32 floats, 1.3x the plain time. The whole-group patterns
 * (convolution, pooling) are kept at any size: they save the columns.
 */
#define FUSE_CHAIN_MIN_FLOATS 32

void nb__fuse_drop_side(nb__fusion *f)
{
    if (!f->side)
        return;
    nb__fuse_pool_drop_side(f);
    for (size_t p = 0; p < N_PATTERNS; p++)
        if (!strcmp(patterns[p].name, f->pattern)) {
            for (size_t q = 0; q < N_PATTERNS; q++)
                if (patterns[p].without_side && !strcmp(patterns[q].name, patterns[p].without_side))
                    take(f, &patterns[q]);
            break;
        }
}

bool nb__fuse(const nb_node *last, nb__fuse_sole_fn sole, const void *ctx, nb__fusion *f)
{
    f->side = NULL;
    for (size_t p = 0; p < N_PATTERNS; p++)
        if (patterns[p].match && patterns[p].match(last, sole, ctx, f)) {
            take(f, &patterns[p]);
            return true;
        }
    if (!nb__fuse_chain_op(last) || nb__numel(&last->shape) < FUSE_CHAIN_MIN_FLOATS)
        return false;
    /* Walk back from last through sole values: back[0] = last. */
    const nb_node *back[NB__FZ_STEPS];
    int slot_back[NB__FZ_STEPS];
    int n = 1;
    back[0] = last;
    while (n < NB__FZ_STEPS && nb__fuse_chain_op(back[n - 1])) {
        int k = chain_slot(back[n - 1], sole, ctx);
        if (k < 0)
            break;
        slot_back[n - 1] = k;
        back[n] = back[n - 1]->in[k];
        n++;
    }
    /* The longest chain whose head passes a pattern's check. */
    for (; n >= 2; n--) {
        const nb_node *head = back[n - 1];
        for (size_t p = 0; p < N_PATTERNS; p++) {
            if (!patterns[p].head || !patterns[p].head(head))
                continue;
            const nb_node *chain[NB__FZ_STEPS];
            int slot[NB__FZ_STEPS];
            for (int i = 0; i < n; i++) {
                chain[i] = back[n - 1 - i];
                slot[i] = i > 0 ? slot_back[n - 1 - i] : -1;
            }
            build(f, &patterns[p], chain, slot, n);
            return true;
        }
    }
    return false;
}
