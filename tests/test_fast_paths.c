/*
 * test_fast_paths.c — the optimised kernels give the values of the plain
 * ones. Each case computes a naive reference in the test (a broadcast index
 * map walked element by element, a triple loop for matmul, the optimiser's
 * formula written out) and compares it with the library on shapes that take
 * every fast path (flat, scalar, bias row and tiny elementwise kernels;
 * tiny, small, one-row and outer-product matmul; the optimiser's fused
 * update; gradients read in place, and batch-1 outer-product gradients never
 * formed, in the trainer; the runtime's input lists) and the edges around
 * them: odd sizes, broadcasts the fast paths must refuse, transposes, batch
 * broadcasts, a parameter as an outer product's factor, and lengths long
 * enough to split across two threads.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "helpers.h"

/* ---------------------------------------------------------------- helpers */

/* Values on a coarse grid (k/4 in [lo, hi)), so max, min and the comparisons
 * meet ties on purpose. */
static float *grid(int64_t n, uint64_t seed, float lo, float hi)
{
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    cr_assert_not_null(v);
    t_fill(v, n, seed, lo, hi);
    for (int64_t i = 0; i < n; i++)
        v[i] = roundf(v[i] * 4.0f) / 4.0f;
    return v;
}

/* The offset in x (shape xs, broadcast to out) of out's flat index i. */
static int64_t bcast_offset(nb_shape xs, nb_shape out, int64_t i)
{
    int64_t off = 0, stride = 1;
    for (int d = out.rank - 1; d >= 0; d--) {
        int64_t idx = i % out.dim[d];
        i /= out.dim[d];
        int xd = d - (out.rank - xs.rank);
        if (xd >= 0) {
            if (xs.dim[xd] != 1)
                off += idx * stride;
            stride *= xs.dim[xd];
        }
    }
    return off;
}

typedef nb_node *(*binary_fn)(nb_graph *, nb_node *, nb_node *);

typedef struct binop {
    const char *name;
    binary_fn fn;
    float lo; /* a's range starts here: pow needs a > 0 */
} binop;

static const binop binops[] = {
    {"add", nb_add, -2}, {"sub", nb_sub, -2}, {"mul", nb_mul, -2}, {"div", nb_div, -2},
    {"max", nb_max, -2}, {"min", nb_min, -2}, {"pow", nb_pow, 0.25f}, {"gt", nb_gt, -2},
    {"ge", nb_ge, -2},   {"eq", nb_eq, -2},
};

/* Every binary op on a [as] and b [bs] against the element-by-element
 * reference; b never holds 0 (div) and pow's base stays positive. */
static void check_binary(nb_shape as, nb_shape bs)
{
    for (size_t o = 0; o < sizeof binops / sizeof *binops; o++) {
        const binop *op = &binops[o];
        nb_graph *g = nb_graph_new();
        int64_t na = nb_shape_numel(as), nb = nb_shape_numel(bs);
        float *a = grid(na, 11 + o, op->lo, 2), *b = grid(nb, 23 + o, 0.25f, 2);
        nb_node *x = nb_input(g, "a", as), *y = nb_input(g, "b", bs);
        nb_node *z = op->fn(g, x, y);
        cr_assert_not_null(z, "%s: %s", op->name, nb_graph_error(g));
        nb_feed f[] = {{x, a}, {y, b}};
        float *got = t_eval(g, z, f, 2);
        nb_shape os = nb_node_shape(z);
        int64_t n = nb_shape_numel(os);
        for (int64_t i = 0; i < n; i++) {
            float x = a[bcast_offset(as, os, i)], yv = b[bcast_offset(bs, os, i)];
            float want = t_ref_binary(op->name, x, yv);
            cr_assert(got[i] == want || (isnan(got[i]) && isnan(want)),
                      "%s [%lld]: got %g, want %g", op->name, (long long)i, got[i], want);
        }
        free(got);
        free(a);
        free(b);
        nb_graph_free(g);
    }
}

/* ---------------------------------------------------------------- binary */

Test(fast_paths, binary_same_shape_is_flat)
{
    check_binary(NB_SHAPE(37), NB_SHAPE(37));
    check_binary(NB_SHAPE(5, 7), NB_SHAPE(5, 7));
    check_binary(NB_SHAPE(3, 1, 5), NB_SHAPE(3, 1, 5));
    check_binary(NB_SHAPE(3, 5), NB_SHAPE(1, 3, 5)); /* same elements, a leading 1 */
}

Test(fast_paths, binary_scalar_operand)
{
    check_binary(NB_SCALAR, NB_SHAPE(33));
    check_binary(NB_SHAPE(33), NB_SCALAR);
    check_binary(NB_SHAPE(1), NB_SHAPE(5, 7));
    check_binary(NB_SHAPE(5, 7), NB_SHAPE(1, 1));
    check_binary(NB_SCALAR, NB_SCALAR);
    check_binary(NB_SHAPE(1), NB_SCALAR);
}

Test(fast_paths, binary_bias_row)
{
    check_binary(NB_SHAPE(6, 13), NB_SHAPE(13));
    check_binary(NB_SHAPE(13), NB_SHAPE(6, 13));
    check_binary(NB_SHAPE(4, 5, 13), NB_SHAPE(1, 13));
    check_binary(NB_SHAPE(1, 13), NB_SHAPE(4, 5, 13));
    check_binary(NB_SHAPE(3, 2), NB_SHAPE(2)); /* tiny: the scalar kernels */
    check_binary(NB_SHAPE(3), NB_SHAPE(4, 3));
}

Test(fast_paths, binary_general_broadcasts)
{
    check_binary(NB_SHAPE(4, 1), NB_SHAPE(1, 5));
    check_binary(NB_SHAPE(3, 1, 5), NB_SHAPE(3, 4, 1));
    check_binary(NB_SHAPE(2, 3, 4), NB_SHAPE(3, 1));
    check_binary(NB_SHAPE(6, 1), NB_SHAPE(6, 13)); /* a column: not a bias row */
    check_binary(NB_SHAPE(2, 13, 1), NB_SHAPE(13, 4));
}

/* Long outputs split across two threads: flat, scalar, bias and general. */
Test(fast_paths, binary_long_on_two_threads)
{
    nb_set_threads(2);
    check_binary(NB_SHAPE(70001), NB_SHAPE(70001));
    check_binary(NB_SHAPE(70001), NB_SCALAR);
    check_binary(NB_SHAPE(301, 257), NB_SHAPE(257));
    check_binary(NB_SHAPE(301, 1), NB_SHAPE(1, 257));
}

/* where(c, a, b) with all three the same shape (the flat path) and with a
 * broadcast mask (the general one). */
static void check_where(nb_shape cs, nb_shape as, nb_shape bs)
{
    nb_graph *g = nb_graph_new();
    float *c = grid(nb_shape_numel(cs), 1, -1, 1), *a = grid(nb_shape_numel(as), 2, -2, 2),
          *b = grid(nb_shape_numel(bs), 3, -2, 2);
    nb_node *xc = nb_input(g, "c", cs), *xa = nb_input(g, "a", as), *xb = nb_input(g, "b", bs);
    nb_node *z = nb_where(g, xc, xa, xb);
    nb_feed f[] = {{xc, c}, {xa, a}, {xb, b}};
    float *got = t_eval(g, z, f, 3);
    nb_shape os = nb_node_shape(z);
    for (int64_t i = 0; i < nb_shape_numel(os); i++) {
        float want = c[bcast_offset(cs, os, i)] != 0.0f ? a[bcast_offset(as, os, i)]
                                                         : b[bcast_offset(bs, os, i)];
        cr_assert_eq(got[i], want, "where [%lld]", (long long)i);
    }
    free(got);
    free(c);
    free(a);
    free(b);
    nb_graph_free(g);
}

Test(fast_paths, where_flat_and_broadcast)
{
    check_where(NB_SHAPE(3, 7), NB_SHAPE(3, 7), NB_SHAPE(3, 7));
    check_where(NB_SHAPE(7), NB_SHAPE(3, 7), NB_SHAPE(3, 7));
    check_where(NB_SHAPE(3, 1), NB_SHAPE(1, 7), NB_SCALAR);
}

/* ---------------------------------------------------------------- unary */

typedef nb_node *(*unary_fn)(nb_graph *, nb_node *);

static float ref_unary(int k, float v)
{
    switch (k) {
    case 0: return -v;
    case 1: return expf(v);
    case 2: return logf(v);
    case 3: return sqrtf(v);
    case 4: return fabsf(v);
    case 5: return (float)((v > 0.0f) - (v < 0.0f));
    case 6: return tanhf(v);
    default: return 1.0f / (1.0f + expf(-v));
    }
}

/* Every unary op on n elements (log and sqrt on positive values). */
static void check_unary(int64_t n)
{
    static const unary_fn fns[] = {nb_neg, nb_exp, nb_log, nb_sqrt, nb_abs, nb_sign, nb_tanh,
                                   nb_sigmoid};
    for (int k = 0; k < 8; k++) {
        nb_graph *g = nb_graph_new();
        float *x = grid(n, 5 + (uint64_t)k, k == 2 || k == 3 ? 0.25f : -3, 3);
        nb_node *in = nb_input(g, "x", NB_SHAPE(n));
        nb_feed f = {in, x};
        float *got = t_eval(g, fns[k](g, in), &f, 1);
        for (int64_t i = 0; i < n; i++) {
            float want = ref_unary(k, x[i]);
            cr_assert(fabsf(got[i] - want) <= 1e-6f * fmaxf(1.0f, fabsf(want)),
                      "unary %d [%lld]: got %g, want %g", k, (long long)i, got[i], want);
        }
        free(got);
        free(x);
        nb_graph_free(g);
    }
}

Test(fast_paths, unary_odd_and_long)
{
    check_unary(1);
    check_unary(37);
    nb_set_threads(2);
    check_unary(70001);
}

/* Maps of up to 64 values run the row from their step (ops/unary.c,
 * nb__<op>_fast), longer ones through the op's forward: n values give
 * the same bits either way, compared with the first n of n + 100. */
Test(fast_paths, unary_short_kernels_same_bits)
{
    static const unary_fn fns[] = {nb_neg, nb_exp, nb_log, nb_sqrt, nb_abs, nb_sign, nb_tanh,
                                   nb_sigmoid, nb_erf};
    static const int64_t sizes[] = {1, 4, 8, 63, 64};
    for (int k = 0; k < 9; k++)
        for (int s = 0; s < 5; s++) {
            int64_t n = sizes[s];
            nb_graph *g = nb_graph_new();
            float *x = grid(n + 100, 11 + (uint64_t)k, k == 2 || k == 3 ? 0.25f : -3, 3);
            nb_node *in = nb_input(g, "x", NB_SHAPE(n));
            nb_node *all = nb_input(g, "all", NB_SHAPE(n + 100));
            nb_feed f = {in, x}, fa = {all, x};
            float *got = t_eval(g, fns[k](g, in), &f, 1);
            float *want = t_eval(g, fns[k](g, all), &fa, 1);
            cr_assert(!memcmp(got, want, (size_t)n * sizeof *got),
                      "unary %d on %lld values: not the long map's bits", k, (long long)n);
            free(got);
            free(want);
            free(x);
            nb_graph_free(g);
        }
}

/* ---------------------------------------------------------------- movement */

static void check_expand(nb_shape xs, nb_shape to)
{
    nb_graph *g = nb_graph_new();
    float *x = grid(nb_shape_numel(xs), 9, -2, 2);
    nb_node *in = nb_input(g, "x", xs);
    nb_feed f = {in, x};
    float *got = t_eval(g, nb_expand(g, in, to), &f, 1);
    for (int64_t i = 0; i < nb_shape_numel(to); i++)
        cr_assert_eq(got[i], x[bcast_offset(xs, to, i)], "expand [%lld]", (long long)i);
    free(got);
    free(x);
    nb_graph_free(g);
}

Test(fast_paths, expand_fill_and_rows)
{
    check_expand(NB_SHAPE(1), NB_SHAPE(5, 7));
    check_expand(NB_SCALAR, NB_SHAPE(3, 3));
    check_expand(NB_SCALAR, NB_SCALAR);
    check_expand(NB_SHAPE(1, 1), NB_SHAPE(4, 1));
    check_expand(NB_SHAPE(1), NB_SHAPE(64)); /* the longest filled from its step */
    check_expand(NB_SHAPE(1), NB_SHAPE(65));
    check_expand(NB_SHAPE(7), NB_SHAPE(5, 7));
    check_expand(NB_SHAPE(5, 1), NB_SHAPE(5, 7));
    check_expand(NB_SHAPE(2, 1, 3), NB_SHAPE(2, 4, 3));
    nb_set_threads(2);
    check_expand(NB_SHAPE(300, 1), NB_SHAPE(300, 257));
}

/* permute against the index formula out[i...] = x[perm applied]. */
static void check_permute(nb_shape xs, const int *perm)
{
    nb_graph *g = nb_graph_new();
    int64_t n = nb_shape_numel(xs);
    float *x = grid(n, 4, -8, 8);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)i;
    nb_node *in = nb_input(g, "x", xs);
    nb_feed f = {in, x};
    nb_node *y = nb_permute(g, in, perm);
    float *got = t_eval(g, y, &f, 1);
    nb_shape ys = nb_node_shape(y);
    int64_t xst[NB_MAX_RANK], s = 1;
    for (int d = xs.rank - 1; d >= 0; d--)
        xst[d] = s, s *= xs.dim[d];
    for (int64_t i = 0; i < n; i++) {
        int64_t rest = i, off = 0;
        for (int d = ys.rank - 1; d >= 0; d--) {
            off += (rest % ys.dim[d]) * xst[perm[d]];
            rest /= ys.dim[d];
        }
        cr_assert_eq(got[i], x[off], "permute [%lld]", (long long)i);
    }
    free(got);
    free(x);
    nb_graph_free(g);
}

Test(fast_paths, permute_copy_transpose_gather)
{
    check_permute(NB_SHAPE(3, 4, 5), (int[]){2, 0, 1});
    check_permute(NB_SHAPE(3, 4, 5), (int[]){0, 2, 1});
    check_permute(NB_SHAPE(3, 4, 5), (int[]){1, 0, 2});
    check_permute(NB_SHAPE(2, 1, 3), (int[]){1, 2, 0});
    nb_set_threads(2);
    check_permute(NB_SHAPE(2, 130, 131), (int[]){0, 2, 1});
    check_permute(NB_SHAPE(130, 2, 131), (int[]){2, 1, 0});
}

/* ---------------------------------------------------------------- matmul */

/* op(a)·op(b) for every transpose flag on [m,k]·[k,n] (stored transposed
 * where asked), with leading batch shapes ab and bb, against a triple loop. */
static void check_matmul(int64_t m, int64_t k, int64_t n, nb_shape ab, nb_shape bb)
{
    for (int f = 0; f < 4; f++) {
        bool ta = f & 1, tb = f & 2;
        nb_shape as = ab, bs = bb;
        as.dim[as.rank++] = ta ? k : m, as.dim[as.rank++] = ta ? m : k;
        bs.dim[bs.rank++] = tb ? n : k, bs.dim[bs.rank++] = tb ? k : n;
        nb_graph *g = nb_graph_new();
        float *a = grid(nb_shape_numel(as), 31, -2, 2), *b = grid(nb_shape_numel(bs), 37, -2, 2);
        nb_node *xa = nb_input(g, "a", as), *xb = nb_input(g, "b", bs);
        nb_node *z = nb_matmul(g, xa, xb, ta, tb);
        cr_assert_not_null(z, "%s", nb_graph_error(g));
        nb_feed fd[] = {{xa, a}, {xb, b}};
        float *got = t_eval(g, z, fd, 2);
        nb_shape os = nb_node_shape(z), ob = os;
        ob.rank -= 2;
        nb_shape abs_ = ab, bbs = bb;
        int64_t items = nb_shape_numel(ob);
        for (int64_t t = 0; t < items; t++) {
            const float *ai = a + bcast_offset(abs_, ob, t) * m * k;
            const float *bi = b + bcast_offset(bbs, ob, t) * k * n;
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++) {
                    double acc = 0;
                    for (int64_t p = 0; p < k; p++)
                        acc += (double)(ta ? ai[p * m + i] : ai[i * k + p]) *
                               (double)(tb ? bi[j * k + p] : bi[p * n + j]);
                    float v = got[t * m * n + i * n + j];
                    cr_assert(fabs(v - acc) <= 1e-4 * fmax(1.0, fabs(acc)),
                              "matmul %lldx%lldx%lld ta=%d tb=%d item %lld (%lld,%lld): got %g, "
                              "want %g", (long long)m, (long long)k, (long long)n, ta, tb,
                              (long long)t, (long long)i, (long long)j, v, acc);
                }
        }
        free(got);
        free(a);
        free(b);
        nb_graph_free(g);
    }
}

Test(fast_paths, matmul_small_every_transpose)
{
    static const int64_t sizes[][3] = {{1, 1, 1}, {4, 2, 2}, {4, 2, 1}, {2, 4, 2},  {3, 5, 7},
                                       {1, 7, 5}, {3, 1, 4}, {5, 6, 1}, {9, 33, 20}, {13, 17, 37},
                                       {2, 20, 3}, {17, 3, 16}};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        check_matmul(sizes[s][0], sizes[s][1], sizes[s][2], NB_SCALAR, NB_SCALAR);
}

/* op(a)·op(b) for a [m, k] and b [k, n] of seeded (not exactly summable)
 * values whose first k0 columns of a are set and the rest zero; c gets the
 * m×n product. Stored transposed for ta / tb. */
static void zero_tail_product(int64_t m, int64_t k, int64_t k0, int64_t n, bool ta, bool tb,
                              float *c)
{
    float *av = malloc((size_t)(m * k) * sizeof *av), *bv = malloc((size_t)(k * n) * sizeof *bv);
    float ar[64 * 64], br[64 * 64];
    t_fill(ar, m * k0, 71, -1, 1);
    t_fill(br, k * n, 73, -1, 1);
    for (int64_t i = 0; i < m; i++)
        for (int64_t p = 0; p < k; p++)
            av[ta ? p * m + i : i * k + p] = p < k0 ? ar[i * k0 + p] : 0.0f;
    for (int64_t p = 0; p < k; p++)
        for (int64_t j = 0; j < n; j++)
            bv[tb ? j * k + p : p * n + j] = br[p * n + j];
    nb_graph *g = nb_graph_new();
    nb_node *xa = nb_input(g, "a", ta ? NB_SHAPE(k, m) : NB_SHAPE(m, k));
    nb_node *xb = nb_input(g, "b", tb ? NB_SHAPE(n, k) : NB_SHAPE(k, n));
    nb_feed fd[] = {{xa, av}, {xb, bv}};
    float *got = t_eval(g, nb_matmul(g, xa, xb, ta, tb), fd, 2);
    memcpy(c, got, (size_t)(m * n) * sizeof *c);
    free(got);
    free(av);
    free(bv);
    nb_graph_free(g);
}

/* Every element of a plain-loop product is one fused multiply-add chain,
 * p ascending: zero terms appended to the inner size (a dense layer grown
 * by units whose outgoing weights are zero) leave every bit of the product
 * as it was, whichever kernel shape (tiny, rows of axpys, dot products) and
 * transpose flags. */
Test(fast_paths, matmul_zero_terms_change_no_bit)
{
    static const int64_t sizes[][3] = {{2, 3, 2}, {3, 5, 20}, {7, 6, 9}, {1, 13, 40}, {11, 9, 3}};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int f = 0; f < 4; f++) {
            int64_t m = sizes[s][0], k0 = sizes[s][1], n = sizes[s][2];
            bool ta = f & 1, tb = f & 2;
            float c0[64 * 64], c1[64 * 64];
            zero_tail_product(m, k0, k0, n, ta, tb, c0);
            zero_tail_product(m, k0 + 3, k0, n, ta, tb, c1);
            cr_assert(memcmp(c0, c1, (size_t)(m * n) * sizeof *c0) == 0,
                      "%lldx%lldx%lld ta %d tb %d: appending zero terms changed the product",
                      (long long)m, (long long)k0, (long long)n, ta, tb);
        }
}

/* op(a)·op(b) on [rows·m, k]·[k, n] (a batched as [rows, m, k] when
 * rows > 1, which the runtime runs as one product of rows·m rows), compared
 * bit for bit with one fmaf chain per element from zero, p ascending: the
 * order every plain-loop product keeps (gemm.h). */
static void check_tiny_product_bits(int64_t rows, int64_t m, int64_t k, int64_t n, bool ta,
                                    bool tb)
{
    nb_shape as = rows > 1 ? NB_SHAPE(rows, m, k) : ta ? NB_SHAPE(k, m) : NB_SHAPE(m, k);
    nb_shape bs = tb ? NB_SHAPE(n, k) : NB_SHAPE(k, n);
    float a[256], b[256];
    t_fill(a, nb_shape_numel(as), 41 + (uint64_t)(m * k * n), -1.7f, 1.9f);
    t_fill(b, nb_shape_numel(bs), 43 + (uint64_t)k, -1.3f, 2.1f);
    nb_graph *g = nb_graph_new();
    nb_node *xa = nb_input(g, "a", as), *xb = nb_input(g, "b", bs);
    nb_feed fd[] = {{xa, a}, {xb, b}};
    float *got = t_eval(g, nb_matmul(g, xa, xb, ta, tb), fd, 2);
    for (int64_t i = 0; i < rows * m; i++)
        for (int64_t j = 0; j < n; j++) {
            float acc = 0.0f;
            for (int64_t p = 0; p < k; p++)
                acc = fmaf(ta ? a[p * m + i] : a[i * k + p], tb ? b[j * k + p] : b[p * n + j],
                           acc);
            cr_assert(memcmp(&acc, &got[i * n + j], sizeof acc) == 0,
                      "%lld×[%lld,%lld]·[%lld,%lld] ta %d tb %d (%lld,%lld): %.9g, want %.9g",
                      (long long)rows, (long long)m, (long long)k, (long long)k, (long long)n,
                      ta, tb, (long long)i, (long long)j, got[i * n + j], acc);
        }
    free(got);
    nb_graph_free(g);
}

/* The products of a small network's step (XOR's: inner sizes 1, 2 and 4),
 * whose runtime kernels write each dot product out for inner sizes 1 to 4:
 * every transpose flag, a's batch rows as more rows, the largest tiny
 * size (64 multiply-adds), and inner sizes 5 and beyond (the loop). */
Test(fast_paths, matmul_tiny_kernels_same_bits)
{
    static const int64_t sizes[][3] = {{4, 2, 2}, {4, 2, 1}, {4, 1, 2}, {2, 4, 1}, {2, 4, 2},
                                       {1, 1, 1}, {3, 3, 5}, {1, 4, 16}, {16, 4, 1}, {4, 4, 4},
                                       {2, 5, 3}, {1, 7, 9}};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int f = 0; f < 4; f++)
            check_tiny_product_bits(1, sizes[s][0], sizes[s][1], sizes[s][2], f & 1, f & 2);
    check_tiny_product_bits(3, 2, 2, 3, false, false);
    check_tiny_product_bits(4, 1, 4, 2, false, true);
    check_tiny_product_bits(2, 2, 3, 1, false, false);
}

/* One row (batch 1), an inner size of 1 (outer product) and one column,
 * large enough that sgemm would otherwise take them, and a product sgemm
 * still takes, all against the triple loop. */
Test(fast_paths, matmul_vector_shapes_and_blas)
{
    check_matmul(1, 784, 67, NB_SCALAR, NB_SCALAR);
    check_matmul(131, 1, 67, NB_SCALAR, NB_SCALAR);
    check_matmul(67, 129, 1, NB_SCALAR, NB_SCALAR);
    check_matmul(40, 50, 60, NB_SCALAR, NB_SCALAR);
    nb_set_threads(2);
    check_matmul(1, 300, 257, NB_SCALAR, NB_SCALAR);
    check_matmul(257, 1, 300, NB_SCALAR, NB_SCALAR);
    check_matmul(1, 1030, 1025, NB_SCALAR, NB_SCALAR); /* over 2^20: split across threads */
    check_matmul(1030, 1, 1025, NB_SCALAR, NB_SCALAR);
}

/* The products sgemm takes, computed by nabla's loops when OpenBLAS is not
 * loaded (NABLA_NO_BLAS here), split across threads too; nb_blas_note says
 * why. */
Test(fast_paths, matmul_without_openblas)
{
    setenv("NABLA_NO_BLAS", "1", 1);
    cr_assert_null(nb_blas_note(), "a note before any product needed OpenBLAS");
    check_matmul(40, 50, 60, NB_SCALAR, NB_SCALAR);
    nb_set_threads(2);
    check_matmul(200, 120, 84, NB_SCALAR, NB_SCALAR);
    check_matmul(64, 300, 70, NB_SHAPE(3), NB_SCALAR);
    cr_assert_not_null(nb_blas_note());
    cr_assert(strstr(nb_blas_note(), "OpenBLAS was not loaded (NABLA_NO_BLAS is set)"), "%s",
              nb_blas_note());
}

/* The process's mapped bytes now (/proc/self/statm). */
static size_t mapped_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long pages = 0;
    cr_assert_not_null(f);
    cr_assert_eq(fscanf(f, "%llu", &pages), 1);
    fclose(f);
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* Under a memory limit too small for OpenBLAS's buffers (ulimit -v: 96 MB
 * above what the test holds) the products are computed all the same, by the
 * loops, and nb_blas_note names the limit; nb_memory_check refuses more than
 * the limit leaves, with the same figures. AddressSanitizer's shadow memory
 * cannot live under such a limit. */
Test(fast_paths, matmul_under_memory_limit)
{
#if defined(__SANITIZE_ADDRESS__)
    cr_skip_test("AddressSanitizer cannot run under RLIMIT_AS");
#endif
    struct rlimit old, lim;
    cr_assert_eq(getrlimit(RLIMIT_AS, &old), 0);
    lim = old;
    lim.rlim_cur = mapped_bytes() + ((rlim_t)96 << 20);
    cr_assert_eq(setrlimit(RLIMIT_AS, &lim), 0);
    check_matmul(200, 120, 84, NB_SCALAR, NB_SCALAR);
    char want[64];
    snprintf(want, sizeof want, "the limit is %llu MB (ulimit -v)",
             (unsigned long long)(lim.rlim_cur >> 20));
    const char *note = nb_blas_note();
    cr_assert(note && strstr(note, "OpenBLAS was not loaded: OpenBLAS (the library and ") &&
                  strstr(note, " MB of address space beyond the ") && strstr(note, want) &&
                  strstr(note, "nabla's own, slower loops computed the products"),
              "note: %s", note ? note : "(none)");
    nb_error e = {0};
    cr_assert_eq(nb_memory_check((size_t)8 << 20, "eight MB", &e), NB_OK, "%s", e.message);
    cr_assert_eq(nb_memory_check((size_t)200 << 20, "a test", &e), NB_ERR_NOMEM);
    cr_assert(strstr(e.message, "a test needs about 201 MB of address space beyond the ") &&
                  strstr(e.message, want) && strstr(e.message, " MB would do"), "%s", e.message);
    cr_assert_eq(setrlimit(RLIMIT_AS, &old), 0);
}

/* With no limit set, a size no system maps is refused with the system named. */
Test(fast_paths, memory_check_without_limit)
{
    struct rlimit as, data;
    cr_assert_eq(getrlimit(RLIMIT_AS, &as), 0);
    cr_assert_eq(getrlimit(RLIMIT_DATA, &data), 0);
    if (as.rlim_cur != RLIM_INFINITY || data.rlim_cur != RLIM_INFINITY)
        cr_skip_test("a memory limit is set");
    nb_error e = {0};
    cr_assert_eq(nb_memory_check((size_t)1 << 60, "a huge thing", &e), NB_ERR_NOMEM);
    cr_assert_str_eq(e.message, "a huge thing needs about 1099511627777 MB of address space, "
                                "which the system refused (no ulimit is set: its overcommit "
                                "policy?)");
}

Test(fast_paths, matmul_batch_broadcast)
{
    check_matmul(3, 4, 5, NB_SHAPE(2, 3), NB_SCALAR);
    check_matmul(3, 4, 5, NB_SCALAR, NB_SHAPE(2));
    check_matmul(3, 4, 5, NB_SHAPE(2, 1), NB_SHAPE(3));
    check_matmul(1, 6, 2, NB_SHAPE(4), NB_SHAPE(4));
    check_matmul(2, 3, 2, NB_SHAPE(1), NB_SCALAR);
}

/* A convolution's per-image products, which the FMA kernels take on CPUs
 * with AVX2 and FMA: few outputs over a long inner size read along
 * contiguous rows (blocked dot products), small inner sizes against b's
 * rows (six-row panels), and 9 to 16 rows against a transposed b (panels of
 * b's rows, the result stored transposed, in blocks of 96 rows); and a
 * dense layer's at a training batch (the MLP's forward and weight gradient
 * at batch 32, and odd sizes of both). Odd row and column counts leave partial 3×4 dot
 * blocks, partial panels and panel columns in 16s, 4s and ones; inner sizes
 * sit off the 8 lanes and on the panels' limit. Every transpose flag, so the
 * shapes these kernels refuse are covered too. */
Test(fast_paths, matmul_fma_kernels)
{
    static const int64_t sizes[][3] = {{6, 784, 25},  {7, 515, 13},  {5, 1031, 3},
                                       {2, 1029, 1},  {6, 25, 784},  {16, 150, 100},
                                       {150, 16, 100}, {7, 13, 99},  {11, 37, 23},
                                       {13, 256, 21}, {13, 257, 21}, {5, 9, 201},
                                       {9, 100, 197}, {16, 256, 64}, {15, 31, 17},
                                       {32, 784, 256}, {784, 32, 256}, {61, 259, 37},
                                       {250, 17, 61}};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        check_matmul(sizes[s][0], sizes[s][1], sizes[s][2], NB_SCALAR, NB_SCALAR);
    check_matmul(6, 784, 25, NB_SHAPE(3), NB_SHAPE(3));
    check_matmul(7, 13, 99, NB_SHAPE(2), NB_SCALAR);
}

/* z = op(a)·op(b) on a [as], b [bs] at 1 and then 2 threads: the same bits
 * (batch items split across threads, each product on one), and the values
 * of the triple loop (check_matmul) for the same sizes. */
static void check_items_threads(nb_shape as, nb_shape bs, bool ta, bool tb)
{
    nb_graph *g = nb_graph_new();
    float *a = grid(nb_shape_numel(as), 41, -2, 2), *b = grid(nb_shape_numel(bs), 43, -2, 2);
    nb_node *xa = nb_input(g, "a", as), *xb = nb_input(g, "b", bs);
    nb_node *z = nb_matmul(g, xa, xb, ta, tb);
    cr_assert_not_null(z, "%s", nb_graph_error(g));
    nb_feed fd[] = {{xa, a}, {xb, b}};
    nb_set_threads(1);
    float *one = t_eval(g, z, fd, 2);
    nb_set_threads(2);
    float *two = t_eval(g, z, fd, 2);
    t_assert_close(two, one, nb_shape_numel(nb_node_shape(z)), 0);
    free(one), free(two), free(a), free(b);
    nb_graph_free(g);
}

/* A convolution's products over a batch of 64 images (forward, weight and
 * input gradients of LeNet-5's first layer), both inputs batched, a batch
 * of big one-row products (which must not fork again inside the items),
 * and a batch of two big products (split inside, not across items). */
Test(fast_paths, matmul_items_on_two_threads)
{
    check_items_threads(NB_SHAPE(6, 25), NB_SHAPE(64, 25, 784), false, false);
    check_items_threads(NB_SHAPE(64, 6, 784), NB_SHAPE(64, 25, 784), false, true);
    check_items_threads(NB_SHAPE(6, 25), NB_SHAPE(64, 6, 784), true, false);
    check_items_threads(NB_SHAPE(9, 16, 150), NB_SHAPE(9, 150, 101), false, false);
    check_items_threads(NB_SHAPE(8, 1030, 1), NB_SHAPE(1030, 1025), true, false);
    check_items_threads(NB_SHAPE(2, 300, 200), NB_SHAPE(2, 200, 300), false, false);
    nb_set_threads(2);
    check_matmul(16, 150, 101, NB_SHAPE(9), NB_SHAPE(9));
    check_matmul(6, 784, 25, NB_SHAPE(16), NB_SHAPE(16));
    check_matmul(1, 1030, 1025, NB_SHAPE(8), NB_SCALAR);
}

/* ---------------------------------------------------------------- optimiser */

/* nb_optimizer_step against the rule written out, over several steps, for
 * plain SGD, momentum, Nesterov, weight decay; every element exactly. */
static const nb_optimizer_opts sgd_cases[] = {
    {.kind = NB_OPT_SGD, .lr = 0.1f},
    {.kind = NB_OPT_SGD, .lr = 0.1f, .momentum = 0.9f},
    {.kind = NB_OPT_SGD, .lr = 0.05f, .momentum = 0.8f, .nesterov = true},
    {.kind = NB_OPT_SGD, .lr = 0.05f, .momentum = 0.9f, .weight_decay = 0.01f},
    {.kind = NB_OPT_SGD, .lr = 0.05f, .weight_decay = 0.1f},
};

static void check_sgd(int64_t n, size_t n_cases)
{
    for (size_t c = 0; c < n_cases; c++) {
        nb_optimizer_opts o = sgd_cases[c];
        nb_graph *g = nb_graph_new();
        float *w0 = grid(n, 3, -1, 1);
        nb_node *p = nb_param(g, "w", NB_SHAPE(n), w0);
        nb_optimizer *opt = nb_optimizer_new(o, &p, 1, NULL);
        cr_assert_not_null(opt);
        float *w = malloc((size_t)n * sizeof *w), *m = calloc((size_t)n, sizeof *m);
        memcpy(w, w0, (size_t)n * sizeof *w);
        for (int step = 0; step < 4; step++) {
            float *gr = grid(n, 100 + (uint64_t)step, -1, 1);
            nb_optimizer_step(opt, gr, o.lr);
            for (int64_t i = 0; i < n; i++) {
                float gi = gr[i] + o.weight_decay * w[i], d = gi;
                if (o.momentum > 0) {
                    m[i] = o.momentum * m[i] + gi;
                    d = o.nesterov ? gi + o.momentum * m[i] : m[i];
                }
                w[i] -= o.lr * d;
            }
            free(gr);
        }
        const float *got = nb_param_data(p);
        for (int64_t i = 0; i < n; i++)
            cr_assert_eq(got[i], w[i], "case %zu [%lld]: got %g, want %g", c, (long long)i,
                         got[i], w[i]);
        free(w);
        free(m);
        free(w0);
        nb_optimizer_free(opt);
        nb_graph_free(g);
    }
}

Test(fast_paths, sgd_update_matches_formula)
{
    check_sgd(1037, sizeof sgd_cases / sizeof *sgd_cases);
}

/* A parameter over 2^20 elements is updated in blocks across threads. */
Test(fast_paths, sgd_long_parameter_on_two_threads)
{
    nb_set_threads(2);
    check_sgd((1 << 20) + 37, 3);
}

/* ---------------------------------------------------------------- trainer */

static nb_status build_small(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 5));
    io->y = nb_input(g, "y", NB_SHAPE(batch, 1));
    nb_node *h = nb_dense(g, io->x, (nb_dense_opts){.units = 7, .activation = NB_ACT_TANH});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 1, .activation = NB_ACT_SIGMOID});
    nb_node *d = nb_sub(g, io->output, io->y);
    io->loss = nb_mean(g, nb_mul(g, d, d), NULL, 0, false);
    return nb_graph_status(g);
}

/* Params of trainer t end to end (n_out floats; caller frees). */
static float *params_of(nb_trainer *t, int64_t *n_out)
{
    int64_t n = 0;
    for (int i = 0; i < nb_trainer_num_param_tensors(t); i++)
        n += nb_shape_numel(nb_node_shape(nb_trainer_param(t, i)));
    float *out = malloc((size_t)n * sizeof *out), *at = out;
    for (int i = 0; i < nb_trainer_num_param_tensors(t); i++) {
        nb_node *p = nb_trainer_param(t, i);
        int64_t k = nb_shape_numel(nb_node_shape(p));
        memcpy(at, nb_param_data(p), (size_t)k * sizeof *at);
        at += k;
    }
    *n_out = n;
    return out;
}

/* Parameters after `steps` trainer steps, copied out end to end. */
static float *train_params(float clip, int steps, int64_t *n_out)
{
    nb_train_opts o = {.batch = 6, .seed = 7, .clip_norm = clip,
                       .optimizer = {.kind = NB_OPT_SGD, .lr = 0.3f, .momentum = 0.9f}};
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(build_small, NULL, NB_SHAPE(5), 1, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    float *x = grid(6 * 5, 41, -1, 1), *y = grid(6, 43, 0, 1);
    for (int s = 0; s < steps; s++)
        cr_assert_eq(nb_trainer_step(t, x, y, 6, NULL), NB_OK, "%s", nb_trainer_error(t));
    float *out = params_of(t, n_out);
    free(x);
    free(y);
    nb_trainer_free(t);
    return out;
}

/* The trainer's optimiser reads gradients in place unless it clips; a clip
 * norm too large to bite takes the gathering path. Both must agree exactly. */
Test(fast_paths, trainer_in_place_gradients_match_gathered)
{
    int64_t n1, n2;
    float *a = train_params(0, 25, &n1), *b = train_params(1e30f, 25, &n2);
    cr_assert_eq(n1, n2);
    for (int64_t i = 0; i < n1; i++)
        cr_assert_eq(a[i], b[i], "param value %lld: %g vs %g", (long long)i, a[i], b[i]);
    free(a);
    free(b);
}

/* Writes params_of's layout back into t's parameters. */
static void set_params(nb_trainer *t, const float *v)
{
    for (int i = 0; i < nb_trainer_num_param_tensors(t); i++) {
        nb_node *p = nb_trainer_param(t, i);
        int64_t k = nb_shape_numel(nb_node_shape(p));
        memcpy(nb_param_data(p), v, (size_t)k * sizeof *v);
        v += k;
    }
}

/*
 * At batch 1 a dense weight's gradient is an outer product, which the
 * trainer never forms: the update reads its two vectors. Against the plain
 * path — the same model built again into the trainer's graph (parameters
 * shared), its formed gradients copied end to end into nb_optimizer_step —
 * from the same starting values, for SGD with momentum, Nesterov with
 * weight decay, and Adam (which forms the product a chunk at a time).
 */
static void check_batch1_training(nb_model_fn build)
{
    static const nb_optimizer_opts cases[] = {
        {.kind = NB_OPT_SGD, .lr = 0.3f, .momentum = 0.9f},
        {.kind = NB_OPT_SGD, .lr = 0.1f, .momentum = 0.8f, .nesterov = true, .weight_decay = 0.01f},
        {.kind = NB_OPT_ADAM, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        nb_train_opts o = {.batch = 1, .seed = 3, .optimizer = cases[c]};
        nb_error err = {0};
        nb_trainer *t = nb_trainer_new(build, NULL, NB_SHAPE(5), 1, &o, &err);
        cr_assert_not_null(t, "%s", err.message);
        float *x = grid(8 * 5, 51, -1, 1), *y = grid(8, 53, 0, 1);
        int64_t n;
        float *start = params_of(t, &n);
        for (int s = 0; s < 8; s++)
            cr_assert_eq(nb_trainer_step(t, x + 5 * s, y + s, 1, NULL), NB_OK, "%s",
                         nb_trainer_error(t));
        float *fast = params_of(t, &n);

        /* The plain path, in the same graph. */
        nb_graph *g = nb_trainer_graph(t);
        nb_graph_set_reuse(g, true);
        nb_graph_set_training(g, true);
        nb_model_io io;
        cr_assert_eq(build(g, 1, &io, NULL), NB_OK, "%s", nb_graph_error(g));
        int np = nb_trainer_num_param_tensors(t);
        nb_node *ps[8], *outs[8];
        cr_assert_leq(np, 8);
        for (int i = 0; i < np; i++)
            ps[i] = nb_trainer_param(t, i);
        cr_assert_eq(nb_grad(g, io.loss, ps, np, outs), NB_OK, "%s", nb_graph_error(g));
        nb_runtime *rt = nb_runtime_new(g, outs, np);
        nb_optimizer *opt = nb_optimizer_new(cases[c], ps, np, NULL);
        cr_assert(rt && opt);
        float *grads = malloc((size_t)n * sizeof *grads);
        set_params(t, start);
        for (int s = 0; s < 8; s++) {
            nb_runtime_set_input(rt, io.x, x + 5 * s);
            nb_runtime_set_input(rt, io.y, y + s);
            cr_assert_eq(nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt));
            float *at = grads;
            for (int i = 0; i < np; i++) {
                int64_t k = nb_shape_numel(nb_node_shape(ps[i]));
                memcpy(at, nb_runtime_value(rt, outs[i]), (size_t)k * sizeof *at);
                at += k;
            }
            nb_optimizer_step(opt, grads, cases[c].lr);
        }
        float *plain = params_of(t, &n);
        t_assert_close(fast, plain, n, 1e-6f);
        free(grads);
        free(plain);
        free(fast);
        free(start);
        free(x);
        free(y);
        nb_optimizer_free(opt);
        nb_runtime_free(rt);
        nb_trainer_free(t);
    }
}

Test(fast_paths, trainer_outer_product_gradient_matches_formed)
{
    check_batch1_training(build_small);
}

/* y = Σ (p·w) ⊙ x: w's gradient is pᵀ·dz, an outer product of a parameter,
 * which the update changes before w's turn (p comes first): the trainer
 * must form this gradient in the runtime, as the plain path does. */
static nb_status build_param_outer(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 5));
    io->y = nb_input(g, "y", NB_SHAPE(batch, 1));
    nb_init xavier = {.kind = NB_INIT_XAVIER_UNIFORM};
    nb_node *p = nb_param_init(g, "p", NB_SHAPE(1, 4), xavier, 4, 5);
    nb_node *w = nb_param_init(g, "w", NB_SHAPE(4, 5), xavier, 4, 5);
    nb_node *z = nb_mul(g, nb_matmul(g, p, w, false, false), io->x);
    io->output = nb_sum(g, z, (int[]){1}, 1, true);
    nb_node *d = nb_sub(g, io->output, io->y);
    io->loss = nb_mean(g, nb_mul(g, d, d), NULL, 0, false);
    return nb_graph_status(g);
}

Test(fast_paths, trainer_outer_product_of_a_parameter_is_formed)
{
    check_batch1_training(build_param_outer);
}

/* ---------------------------------------------------------------- runtime */

/* The run's check for unfed inputs, now kept as a count: it still names the
 * missing input, and passes once every input is set. */
Test(fast_paths, runtime_refuses_unfed_input_until_set)
{
    nb_graph *g = nb_graph_new();
    nb_node *a = nb_input(g, "a", NB_SHAPE(3)), *b = nb_input(g, "b", NB_SHAPE(3));
    nb_node *z = nb_add(g, a, b);
    nb_runtime *rt = nb_runtime_new(g, &z, 1);
    cr_assert_not_null(rt);
    const float va[] = {1, 2, 3}, vb[] = {4, 5, 6};
    cr_assert_eq(nb_runtime_run(rt), NB_ERR_STATE);
    cr_assert_eq(nb_runtime_set_input(rt, a, va), NB_OK);
    cr_assert_eq(nb_runtime_set_input(rt, a, va), NB_OK); /* twice counts once */
    cr_assert_eq(nb_runtime_run(rt), NB_ERR_STATE);
    cr_assert(strstr(nb_runtime_error(rt), "'b'"), "%s", nb_runtime_error(rt));
    cr_assert_eq(nb_runtime_set_input(rt, b, vb), NB_OK);
    cr_assert_eq(nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt));
    const float *v = nb_runtime_value(rt, z);
    cr_assert(v[0] == 5 && v[1] == 7 && v[2] == 9);
    nb_runtime_free(rt);
    nb_graph_free(g);
}

/* Noise inputs are refilled by fill_noise (listed once at creation) and
 * count as fed. */
Test(fast_paths, runtime_noise_list)
{
    nb_graph *g = nb_graph_new();
    nb_node *u = nb_noise(g, NB_SHAPE(257));
    nb_node *z = nb_mul(g, u, nb_scalar(g, 2.0f));
    nb_runtime *rt = nb_runtime_new(g, &z, 1);
    cr_assert_not_null(rt);
    cr_assert_eq(nb_runtime_run(rt), NB_ERR_STATE);
    nb_rng r = nb_rng_seed(5), r2 = nb_rng_seed(5);
    nb_runtime_fill_noise(rt, &r);
    cr_assert_eq(nb_runtime_run(rt), NB_OK, "%s", nb_runtime_error(rt));
    const float *v = nb_runtime_value(rt, z);
    for (int i = 0; i < 257; i++)
        cr_assert_eq(v[i], 2.0f * nb_rng_uniform(&r2));
    nb_runtime_free(rt);
    nb_graph_free(g);
}
