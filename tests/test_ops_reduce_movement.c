/*
 * test_ops_reduce_movement.c — reductions (sum, reduce_max, mean) and the
 * movement ops (reshape, permute, expand, slice, pad, concat): shape rules
 * with their refusals, forward values against hand-computed arrays (and a
 * naive reference loop for the larger layouts the fast kernels take), and
 * finite-difference gradient checks, with tied maxima checked by hand.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

/* ---------------------------------------------------------------- helpers */

/* 0, 1, 2, … n-1. */
static void iota(float *x, int n)
{
    for (int i = 0; i < n; i++)
        x[i] = (float)i;
}

/* Distinct values (i·7 mod 24)·scale for 24 elements: a shuffled 0..23,
 * spaced far beyond the finite-difference step. */
static void shuffled24(float *x, float scale)
{
    for (int i = 0; i < 24; i++)
        x[i] = (float)((i * 7) % 24) * scale;
}

/* Evaluates y and asserts its shape and values. */
static void expect(nb_graph *g, nb_node *y, nb_shape shape, const float *want)
{
    cr_assert_not_null(y, "building failed: %s", nb_graph_error(g));
    char a[64], b[64];
    cr_assert(nb_shape_equal(nb_node_shape(y), shape), "shape %s, expected %s",
              nb_shape_format(nb_node_shape(y), a, sizeof a), nb_shape_format(shape, b, sizeof b));
    float *v = t_eval(g, y, NULL, 0);
    t_assert_close(v, want, nb_shape_numel(shape), 1e-6f);
    free(v);
}

/* d loss / d x, evaluated; caller frees. */
static float *grad_values(nb_graph *g, nb_node *loss, nb_node *x)
{
    nb_node *dx;
    cr_assert_eq(nb_grad(g, loss, &x, 1, &dx), NB_OK, "%s", nb_graph_error(g));
    return t_eval(g, dx, NULL, 0);
}

/* Asserts the builder refused with this status and every listed string. */
#define REFUSED(g, node, status, ...)                                                    \
    do {                                                                                 \
        cr_assert_null(node, "builder accepted what it should refuse");                  \
        cr_assert_eq(nb_graph_status(g), status, "status %d: %s", nb_graph_status(g),    \
                     nb_graph_error(g));                                                 \
        t_assert_error(g, __VA_ARGS__, NULL);                                            \
        nb_graph_clear_error(g);                                                         \
    } while (0)

/* ---------------------------------------------------------------- sum */

/* x = 0..23 as [2,3,4]: x[i,j,k] = 12i + 4j + k. */
Test(reduce, sum_over_each_axis)
{
    nb_graph *g = nb_graph_new();
    float xv[24];
    iota(xv, 24);
    nb_node *x = nb_param(g, "x", NB_SHAPE(2, 3, 4), xv);
    expect(g, nb_sum(g, x, (int[]){0}, 1, false), NB_SHAPE(3, 4),
           (float[]){12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34});
    expect(g, nb_sum(g, x, (int[]){1}, 1, false), NB_SHAPE(2, 4),
           (float[]){12, 15, 18, 21, 48, 51, 54, 57});
    expect(g, nb_sum(g, x, (int[]){2}, 1, false), NB_SHAPE(2, 3),
           (float[]){6, 22, 38, 54, 70, 86});
    expect(g, nb_sum(g, x, (int[]){1}, 1, true), NB_SHAPE(2, 1, 4),
           (float[]){12, 15, 18, 21, 48, 51, 54, 57});
    /* negative axes count from the end */
    expect(g, nb_sum(g, x, (int[]){-1}, 1, true), NB_SHAPE(2, 3, 1),
           (float[]){6, 22, 38, 54, 70, 86});
    expect(g, nb_sum(g, x, (int[]){-3}, 1, false), NB_SHAPE(3, 4),
           (float[]){12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34});
    nb_graph_free(g);
}

Test(reduce, sum_over_several_and_all_axes)
{
    nb_graph *g = nb_graph_new();
    float xv[24];
    iota(xv, 24);
    nb_node *x = nb_param(g, "x", NB_SHAPE(2, 3, 4), xv);
    /* axes 0 and 2 are not adjacent: the general walk */
    expect(g, nb_sum(g, x, (int[]){0, 2}, 2, false), NB_SHAPE(3), (float[]){60, 92, 124});
    expect(g, nb_sum(g, x, (int[]){2, -3}, 2, true), NB_SHAPE(1, 3, 1), (float[]){60, 92, 124});
    expect(g, nb_sum(g, x, (int[]){0, 1}, 2, false), NB_SHAPE(4), (float[]){60, 66, 72, 78});
    expect(g, nb_sum(g, x, (int[]){-1, 1}, 2, true), NB_SHAPE(2, 1, 1), (float[]){66, 210});
    expect(g, nb_sum(g, x, NULL, 0, false), NB_SCALAR, (float[]){276});
    expect(g, nb_sum(g, x, NULL, 0, true), NB_SHAPE(1, 1, 1), (float[]){276});
    expect(g, nb_sum(g, x, (int[]){0, 1, 2}, 3, false), NB_SCALAR, (float[]){276});
    nb_graph_free(g);
}

/* Size-1 axes, a scalar input, and a tensor big enough for the threads. */
Test(reduce, sum_edge_layouts)
{
    nb_graph *g = nb_graph_new();
    nb_node *s = nb_param(g, "s", NB_SCALAR, (float[]){2.5f});
    expect(g, nb_sum(g, s, NULL, 0, false), NB_SCALAR, (float[]){2.5f});
    nb_node *c = nb_param(g, "c", NB_SHAPE(3, 1), (float[]){1, 2, 3});
    expect(g, nb_sum(g, c, (int[]){1}, 1, false), NB_SHAPE(3), (float[]){1, 2, 3});
    expect(g, nb_sum(g, c, (int[]){0}, 1, false), NB_SHAPE(1), (float[]){6});

    enum { R = 200, C = 300 };
    float *xv = malloc(R * C * sizeof *xv), *rows = calloc(R, sizeof *rows),
          *cols = calloc(C, sizeof *cols);
    t_fill(xv, R * C, 5, -1, 1);
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++)
            rows[i] += xv[i * C + j], cols[j] += xv[i * C + j];
    nb_node *x = nb_param(g, "x", NB_SHAPE(R, C), xv);
    float *v = t_eval(g, nb_sum(g, x, (int[]){1}, 1, false), NULL, 0);
    t_assert_close(v, rows, R, 1e-4f);
    free(v);
    v = t_eval(g, nb_sum(g, x, (int[]){0}, 1, false), NULL, 0);
    t_assert_close(v, cols, C, 1e-4f);
    free(v);
    free(xv), free(rows), free(cols);
    nb_graph_free(g);
}

/* [3,4,5,6] over axes {1,3} and {0,2}: against a naive index loop. */
Test(reduce, general_walk_matches_reference)
{
    nb_graph *g = nb_graph_new();
    float xv[360], want13[15] = {0}, want02[24], mx02[24];
    t_fill(xv, 360, 9, -2, 2);
    for (int i = 0; i < 24; i++)
        want02[i] = 0, mx02[i] = -INFINITY;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 4; b++)
            for (int c = 0; c < 5; c++)
                for (int d = 0; d < 6; d++) {
                    float v = xv[((a * 4 + b) * 5 + c) * 6 + d];
                    want13[a * 5 + c] += v;
                    want02[b * 6 + d] += v;
                    mx02[b * 6 + d] = v > mx02[b * 6 + d] ? v : mx02[b * 6 + d];
                }
    nb_node *x = nb_param(g, "x", NB_SHAPE(3, 4, 5, 6), xv);
    float *v = t_eval(g, nb_sum(g, x, (int[]){1, 3}, 2, false), NULL, 0);
    t_assert_close(v, want13, 15, 1e-5f);
    free(v);
    v = t_eval(g, nb_sum(g, x, (int[]){0, 2}, 2, true), NULL, 0);
    t_assert_close(v, want02, 24, 1e-5f);
    free(v);
    v = t_eval(g, nb_reduce_max(g, x, (int[]){2, 0}, 2, false), NULL, 0);
    t_assert_close(v, mx02, 24, 0);
    free(v);
    nb_graph_free(g);
}

/* x [o, r, i] summed (or maxed) over r: each output folded in order,
 * acc = x[0] then acc ⊕ x[j], which the runtime's kernels keep for a
 * row under 16 floats and for any middle axis; compared bit for bit. */
static void check_fold_bits(int64_t o, int64_t r, int64_t i, bool is_max)
{
    float xv[512];
    t_fill(xv, o * r * i, 17 + (uint64_t)(o * r * i), -3.1f, 2.9f);
    if (is_max && o * r * i > 3)
        xv[2] = xv[1]; /* a tie */
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_param(g, "x", NB_SHAPE(o, r, i), xv);
    nb_node *y = is_max ? nb_reduce_max(g, x, (int[]){1}, 1, false)
                        : nb_sum(g, x, (int[]){1}, 1, false);
    float *v = t_eval(g, y, NULL, 0);
    for (int64_t a = 0; a < o; a++)
        for (int64_t c = 0; c < i; c++) {
            float acc = xv[a * r * i + c];
            for (int64_t j = 1; j < r; j++) {
                float w = xv[(a * r + j) * i + c];
                acc = is_max ? (w > acc ? w : acc) : acc + w;
            }
            cr_assert(memcmp(&acc, &v[a * i + c], sizeof acc) == 0,
                      "%s over [%lld,%lld,%lld] axis 1, output (%lld,%lld): %.9g, want %.9g",
                      is_max ? "max" : "sum", (long long)o, (long long)r, (long long)i,
                      (long long)a, (long long)c, v[a * i + c], acc);
        }
    free(v);
    nb_graph_free(g);
}

/* Tiny reductions (a small network's loss and bias gradients: XOR's sums
 * over [4,1] and [4,2]) and the sizes around the tiny kernels' limits (64
 * floats; rows of 16: from 16 on a row is summed in lanes, whose order is
 * its own), against the fold in order, bit for bit. */
Test(reduce, tiny_folds_keep_their_order)
{
    static const int64_t shapes[][3] = {{1, 4, 1}, {1, 4, 2}, {4, 1, 2}, {1, 1, 1}, {3, 5, 1},
                                        {2, 15, 1}, {1, 16, 1}, {4, 16, 1}, {1, 3, 7},
                                        {2, 8, 4},  {2, 9, 4},  {1, 32, 2}, {1, 33, 2}, {3, 7, 3}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int mx = 0; mx < 2; mx++)
            check_fold_bits(shapes[s][0], shapes[s][1], shapes[s][2], mx);
}

Test(reduce, sum_gradcheck)
{
    nb_graph *g = nb_graph_new();
    float xv[24];
    t_fill(xv, 24, 1, -1, 1);
    nb_node *x = nb_param(g, "x", NB_SHAPE(2, 3, 4), xv);
    for (int a = -3; a < 3; a++)
        t_gradcheck(g, nb_sum(g, x, &a, 1, a < 0), &x, 1, NULL, 0);
    t_gradcheck(g, nb_sum(g, x, (int[]){0, 2}, 2, false), &x, 1, NULL, 0);
    t_gradcheck(g, nb_sum(g, x, (int[]){1, 2}, 2, true), &x, 1, NULL, 0);
    t_gradcheck(g, nb_sum(g, x, NULL, 0, false), &x, 1, NULL, 0);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- max */

/* x = shuffled 0..23 as [2,3,4]:
 *   i=0: [ 0  7 14 21] [ 4 11 18  1] [ 8 15 22  5]
 *   i=1: [12 19  2  9] [16 23  6 13] [20  3 10 17] */
Test(reduce, max_over_axes)
{
    nb_graph *g = nb_graph_new();
    float xv[24];
    shuffled24(xv, 1);
    nb_node *x = nb_param(g, "x", NB_SHAPE(2, 3, 4), xv);
    expect(g, nb_reduce_max(g, x, (int[]){0}, 1, false), NB_SHAPE(3, 4),
           (float[]){12, 19, 14, 21, 16, 23, 18, 13, 20, 15, 22, 17});
    expect(g, nb_reduce_max(g, x, (int[]){1}, 1, true), NB_SHAPE(2, 1, 4),
           (float[]){8, 15, 22, 21, 20, 23, 10, 17});
    expect(g, nb_reduce_max(g, x, (int[]){-1}, 1, false), NB_SHAPE(2, 3),
           (float[]){21, 18, 22, 19, 23, 20});
    expect(g, nb_reduce_max(g, x, (int[]){0, -1}, 2, false), NB_SHAPE(3), (float[]){21, 23, 22});
    expect(g, nb_reduce_max(g, x, NULL, 0, false), NB_SCALAR, (float[]){23});
    expect(g, nb_reduce_max(g, x, NULL, 0, true), NB_SHAPE(1, 1, 1), (float[]){23});
    nb_node *neg = nb_param(g, "neg", NB_SHAPE(2, 2), (float[]){-5, -3, -4, -6});
    expect(g, nb_reduce_max(g, neg, (int[]){1}, 1, false), NB_SHAPE(2), (float[]){-3, -4});
    nb_graph_free(g);
}

Test(reduce, max_gradcheck)
{
    nb_graph *g = nb_graph_new();
    float xv[24];
    shuffled24(xv, 0.1f);
    nb_node *x = nb_param(g, "x", NB_SHAPE(2, 3, 4), xv);
    for (int a = 0; a < 3; a++)
        t_gradcheck(g, nb_reduce_max(g, x, &a, 1, a == 1), &x, 1, NULL, 0);
    t_gradcheck(g, nb_reduce_max(g, x, (int[]){0, 2}, 2, false), &x, 1, NULL, 0);
    t_gradcheck(g, nb_reduce_max(g, x, NULL, 0, false), &x, 1, NULL, 0);
    nb_graph_free(g);
}

/* Tied maxima share the gradient equally (PyTorch's amax), by hand. */
Test(reduce, max_ties_share_the_gradient)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_param(g, "x", NB_SHAPE(2, 3), (float[]){1, 3, 3, 2, 2, 2});
    nb_node *y = nb_reduce_max(g, x, (int[]){1}, 1, false);
    expect(g, y, NB_SHAPE(2), (float[]){3, 2});
    float *d = grad_values(g, nb_sum(g, y, NULL, 0, false), x);
    t_assert_close(d, (float[]){0, 0.5f, 0.5f, 1.0f / 3, 1.0f / 3, 1.0f / 3}, 6, 1e-6f);
    free(d);
    /* weighted rows: dy = (2, 6) */
    nb_node *w = nb_constant(g, NB_SHAPE(2), (float[]){2, 6});
    d = grad_values(g, nb_sum(g, nb_mul(g, y, w), NULL, 0, false), x);
    t_assert_close(d, (float[]){0, 1, 1, 2, 2, 2}, 6, 1e-6f);
    free(d);
    /* over every axis, with keepdims */
    nb_node *z = nb_param(g, "z", NB_SHAPE(2, 2), (float[]){5, 1, 5, 5});
    nb_node *m = nb_reduce_max(g, z, NULL, 0, true);
    d = grad_values(g, nb_sum(g, m, NULL, 0, false), z);
    t_assert_close(d, (float[]){1.0f / 3, 0, 1.0f / 3, 1.0f / 3}, 4, 1e-6f);
    free(d);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- mean */

Test(reduce, mean_values_and_gradcheck)
{
    nb_graph *g = nb_graph_new();
    float xv[24];
    iota(xv, 24);
    nb_node *x = nb_param(g, "x", NB_SHAPE(2, 3, 4), xv);
    expect(g, nb_mean(g, x, (int[]){2}, 1, false), NB_SHAPE(2, 3),
           (float[]){1.5f, 5.5f, 9.5f, 13.5f, 17.5f, 21.5f});
    expect(g, nb_mean(g, x, (int[]){0, 2}, 2, true), NB_SHAPE(1, 3, 1),
           (float[]){7.5f, 11.5f, 15.5f});
    expect(g, nb_mean(g, x, NULL, 0, false), NB_SCALAR, (float[]){11.5f});
    t_fill(xv, 24, 3, -1, 1);
    nb_node *p = nb_param(g, "p", NB_SHAPE(2, 3, 4), xv);
    t_gradcheck(g, nb_mean(g, p, (int[]){-2}, 1, true), &p, 1, NULL, 0);
    t_gradcheck(g, nb_mean(g, p, NULL, 0, false), &p, 1, NULL, 0);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- refusals */

Test(reduce, bad_axes_are_refused)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_param(g, "x", NB_SHAPE(2, 3, 4), NULL);
    REFUSED(g, nb_sum(g, x, (int[]){3}, 1, false), NB_ERR_ARG, "sum:", "axis 3",
            "out of range", "'x' [2,3,4]");
    REFUSED(g, nb_reduce_max(g, x, (int[]){0, -4}, 2, true), NB_ERR_ARG, "reduce_max:",
            "axis -4", "'x' [2,3,4]");
    REFUSED(g, nb_sum(g, x, (int[]){1, -2}, 2, false), NB_ERR_ARG, "sum:", "axis -2",
            "repeated", "'x' [2,3,4]");
    REFUSED(g, nb_mean(g, x, (int[]){5}, 1, false), NB_ERR_ARG, "mean:", "axis 5",
            "'x' [2,3,4]");
    REFUSED(g, nb_sum(g, x, NULL, 2, false), NB_ERR_ARG, "sum:", "NULL");
    /* a NULL input keeps the first message */
    nb_node *bad = nb_sum(g, x, (int[]){7}, 1, false);
    cr_assert_null(nb_sum(g, bad, NULL, 0, false));
    t_assert_error(g, "sum:", "axis 7", NULL);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- reshape */

Test(movement, reshape_values_inferred_dim_and_gradcheck)
{
    nb_graph *g = nb_graph_new();
    float xv[24];
    iota(xv, 24);
    nb_node *x = nb_param(g, "x", NB_SHAPE(2, 3, 4), xv);
    expect(g, nb_reshape(g, x, NB_SHAPE(4, -1)), NB_SHAPE(4, 6), xv);
    expect(g, nb_reshape(g, x, NB_SHAPE(-1)), NB_SHAPE(24), xv);
    expect(g, nb_reshape(g, x, NB_SHAPE(2, -1, 3)), NB_SHAPE(2, 4, 3), xv);
    nb_node *one = nb_param(g, "one", NB_SHAPE(1, 1), (float[]){4});
    expect(g, nb_reshape(g, one, NB_SCALAR), NB_SCALAR, (float[]){4});
    /* a reshape whose input stays alive elsewhere gets its own copy */
    nb_node *e = nb_exp(g, x);
    nb_node *r = nb_reshape(g, e, NB_SHAPE(6, 4));
    nb_node *both = nb_add(g, nb_reshape(g, r, NB_SHAPE(2, 3, 4)), e);
    float want[24];
    for (int i = 0; i < 24; i++)
        want[i] = 2 * expf(xv[i]);
    float *v = t_eval(g, both, NULL, 0);
    t_assert_close(v, want, 24, 1e-5f);
    free(v);
    t_fill(xv, 24, 2, -1, 1);
    nb_node *p = nb_param(g, "p", NB_SHAPE(2, 3, 4), xv);
    t_gradcheck(g, nb_mul(g, nb_reshape(g, p, NB_SHAPE(-1, 2)), nb_reshape(g, p, NB_SHAPE(12, 2))),
                &p, 1, NULL, 0);
    nb_graph_free(g);
}

Test(movement, reshape_refusals)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_param(g, "x", NB_SHAPE(2, 3), NULL);
    REFUSED(g, nb_reshape(g, x, NB_SHAPE(4, 2)), NB_ERR_SHAPE, "reshape:", "'x' [2,3]",
            "6 elements", "[4,2]", "8 elements");
    REFUSED(g, nb_reshape(g, x, NB_SHAPE(4, -1)), NB_ERR_SHAPE, "reshape:", "'x' [2,3]",
            "[4,-1]", "multiple of 4");
    REFUSED(g, nb_reshape(g, x, NB_SHAPE(-1, -1)), NB_ERR_SHAPE, "reshape:", "[-1,-1]",
            "only one may be -1");
    REFUSED(g, nb_reshape(g, x, NB_SHAPE(6, 0)), NB_ERR_SHAPE, "reshape:", "[6,0]");
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- permute */

/* out[i0..] = x at the index whose axis perm[k] is i_k; naive loop. */
static void permute_ref(const float *x, const int64_t *dims, int rank, const int *perm,
                        float *out)
{
    int64_t xst[8], n = 1;
    for (int k = rank - 1; k >= 0; k--)
        xst[k] = n, n *= dims[k];
    for (int64_t o = 0; o < n; o++) {
        int64_t r = o, off = 0;
        for (int k = rank - 1; k >= 0; k--) {
            int64_t d = dims[perm[k]];
            off += (r % d) * xst[perm[k]];
            r /= d;
        }
        out[o] = x[off];
    }
}

Test(movement, permute_values)
{
    nb_graph *g = nb_graph_new();
    float xv[24];
    iota(xv, 24);
    nb_node *m = nb_param(g, "m", NB_SHAPE(2, 3), xv);
    expect(g, nb_permute(g, m, (int[]){1, 0}), NB_SHAPE(3, 2), (float[]){0, 3, 1, 4, 2, 5});
    expect(g, nb_permute(g, m, (int[]){0, 1}), NB_SHAPE(2, 3), xv);
    nb_node *x = nb_param(g, "x", NB_SHAPE(2, 3, 4), xv);
    /* out[a,b,c] = x[b,c,a] = 12b + 4c + a */
    expect(g, nb_permute(g, x, (int[]){2, 0, 1}), NB_SHAPE(4, 2, 3),
           (float[]){0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21,
                     2, 6, 10, 14, 18, 22, 3, 7, 11, 15, 19, 23});
    /* out[i,k,j] = x[i,j,k]: the swap of the last two dims */
    expect(g, nb_permute(g, x, (int[]){0, 2, 1}), NB_SHAPE(2, 4, 3),
           (float[]){0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11,
                     12, 16, 20, 13, 17, 21, 14, 18, 22, 15, 19, 23});
    nb_graph_free(g);
}

/* Rank 4, every kernel path (copy rows, tiled transpose, strided gather),
 * against the naive loop, including sizes past the thread threshold. */
Test(movement, permute_rank4_against_reference)
{
    static const int perms[][4] = {{0, 2, 3, 1}, {0, 1, 3, 2}, {3, 1, 0, 2}, {1, 0, 2, 3},
                                   {3, 2, 1, 0}, {2, 3, 0, 1}};
    static const int64_t sizes[][4] = {{2, 3, 4, 5}, {4, 33, 17, 35}};
    for (int s = 0; s < 2; s++) {
        const int64_t *dims = sizes[s];
        int64_t n = dims[0] * dims[1] * dims[2] * dims[3];
        float *xv = malloc((size_t)n * sizeof *xv), *want = malloc((size_t)n * sizeof *want);
        t_fill(xv, n, 4, -1, 1);
        nb_graph *g = nb_graph_new();
        nb_node *x = nb_param(g, "x", nb_shape_make(4, dims), xv);
        for (size_t p = 0; p < sizeof perms / sizeof perms[0]; p++) {
            permute_ref(xv, dims, 4, perms[p], want);
            float *v = t_eval(g, nb_permute(g, x, perms[p]), NULL, 0);
            cr_assert(memcmp(v, want, (size_t)n * sizeof *v) == 0, "size %d, perm %zu differs", s,
                      p);
            free(v);
        }
        nb_graph_free(g);
        free(xv), free(want);
    }
}

Test(movement, permute_gradcheck_and_refusal)
{
    nb_graph *g = nb_graph_new();
    float xv[120];
    t_fill(xv, 120, 6, -1, 1);
    nb_node *x = nb_param(g, "x", NB_SHAPE(2, 3, 4), xv);
    t_gradcheck(g, nb_permute(g, x, (int[]){2, 0, 1}), &x, 1, NULL, 0);
    nb_node *y = nb_param(g, "y", NB_SHAPE(2, 3, 4, 5), xv);
    t_gradcheck(g, nb_permute(g, y, (int[]){0, 2, 3, 1}), &y, 1, NULL, 0);
    t_gradcheck(g, nb_permute(g, y, (int[]){3, 1, 0, 2}), &y, 1, NULL, 0);
    REFUSED(g, nb_permute(g, x, (int[]){0, 0, 1}), NB_ERR_ARG, "permute:", "[0,0,1]",
            "not a permutation of 0..2", "'x' [2,3,4]");
    REFUSED(g, nb_permute(g, x, (int[]){0, 3, 1}), NB_ERR_ARG, "permute:", "[0,3,1]");
    REFUSED(g, nb_permute(g, x, (int[]){-1, 0, 1}), NB_ERR_ARG, "permute:", "[-1,0,1]");
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- expand */

Test(movement, expand_values_gradcheck_and_refusal)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_param(g, "x", NB_SHAPE(3, 1), (float[]){1, 2, 3});
    expect(g, nb_expand(g, x, NB_SHAPE(2, 3, 4)), NB_SHAPE(2, 3, 4),
           (float[]){1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3});
    nb_node *r = nb_param(g, "r", NB_SHAPE(1, 3), (float[]){1, 2, 3});
    expect(g, nb_expand(g, r, NB_SHAPE(2, 3)), NB_SHAPE(2, 3), (float[]){1, 2, 3, 1, 2, 3});
    nb_node *s = nb_param(g, "s", NB_SCALAR, (float[]){7});
    expect(g, nb_expand(g, s, NB_SHAPE(2, 2)), NB_SHAPE(2, 2), (float[]){7, 7, 7, 7});
    expect(g, nb_expand(g, x, NB_SHAPE(3, 1)), NB_SHAPE(3, 1), (float[]){1, 2, 3});
    t_gradcheck(g, nb_expand(g, x, NB_SHAPE(2, 3, 4)), &x, 1, NULL, 0);
    t_gradcheck(g, nb_expand(g, r, NB_SHAPE(4, 3)), &r, 1, NULL, 0);
    nb_node *bad = nb_param(g, "bad", NB_SHAPE(3, 2), NULL);
    REFUSED(g, nb_expand(g, bad, NB_SHAPE(2, 3, 4)), NB_ERR_SHAPE, "expand:", "'bad' [3,2]",
            "does not broadcast to [2,3,4]");
    REFUSED(g, nb_expand(g, x, NB_SHAPE(3)), NB_ERR_SHAPE, "expand:", "'x' [3,1]", "[3]");
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- slice */

/* x = 0..19 as [4,5]: x[r,c] = 5r + c. */
Test(movement, slice_values)
{
    nb_graph *g = nb_graph_new();
    float xv[20];
    iota(xv, 20);
    nb_node *x = nb_param(g, "x", NB_SHAPE(4, 5), xv);
    expect(g, nb_slice(g, x, 1, 1, 4, 1), NB_SHAPE(4, 3),
           (float[]){1, 2, 3, 6, 7, 8, 11, 12, 13, 16, 17, 18});
    expect(g, nb_slice(g, x, 1, 0, 5, 2), NB_SHAPE(4, 3),
           (float[]){0, 2, 4, 5, 7, 9, 10, 12, 14, 15, 17, 19});
    expect(g, nb_slice(g, x, 1, 1, 5, 3), NB_SHAPE(4, 2), (float[]){1, 4, 6, 9, 11, 14, 16, 19});
    /* negative start, stop past the end clamps */
    expect(g, nb_slice(g, x, -1, -3, INT64_MAX, 1), NB_SHAPE(4, 3),
           (float[]){2, 3, 4, 7, 8, 9, 12, 13, 14, 17, 18, 19});
    expect(g, nb_slice(g, x, 1, -4, -1, 2), NB_SHAPE(4, 2), (float[]){1, 3, 6, 8, 11, 13, 16, 18});
    expect(g, nb_slice(g, x, 0, 1, 4, 2), NB_SHAPE(2, 5),
           (float[]){5, 6, 7, 8, 9, 15, 16, 17, 18, 19});
    expect(g, nb_slice(g, x, 0, -100, 1, 1), NB_SHAPE(1, 5), (float[]){0, 1, 2, 3, 4});
    nb_graph_free(g);
}

/* The gradient scatters back to the picked positions, zeros elsewhere. */
Test(movement, slice_gradient_by_hand)
{
    nb_graph *g = nb_graph_new();
    float xv[14];
    iota(xv, 14);
    nb_node *x = nb_param(g, "x", NB_SHAPE(2, 7), xv);
    nb_node *w = nb_constant(g, NB_SHAPE(2, 3), (float[]){1, 2, 3, 4, 5, 6});
    /* columns 1, 3, 5 of 7: m·step = 6 fits after offset 1 */
    nb_node *y = nb_slice(g, x, 1, 1, 6, 2);
    float *d = grad_values(g, nb_sum(g, nb_mul(g, y, w), NULL, 0, false), x);
    t_assert_close(d, (float[]){0, 1, 0, 2, 0, 3, 0, 0, 4, 0, 5, 0, 6, 0}, 14, 0);
    free(d);
    /* columns 2, 5 of 7 with step 3: m·step = 6 overruns from offset 2 */
    nb_node *w2 = nb_constant(g, NB_SHAPE(2, 2), (float[]){1, 2, 3, 4});
    y = nb_slice(g, x, 1, 2, 7, 3);
    d = grad_values(g, nb_sum(g, nb_mul(g, y, w2), NULL, 0, false), x);
    t_assert_close(d, (float[]){0, 0, 1, 0, 0, 2, 0, 0, 0, 3, 0, 0, 4, 0}, 14, 0);
    free(d);
    nb_graph_free(g);
}

Test(movement, slice_gradcheck)
{
    nb_graph *g = nb_graph_new();
    float xv[60];
    t_fill(xv, 60, 7, -1, 1);
    nb_node *x = nb_param(g, "x", NB_SHAPE(3, 4, 5), xv);
    t_gradcheck(g, nb_slice(g, x, 2, 1, 4, 1), &x, 1, NULL, 0);
    t_gradcheck(g, nb_slice(g, x, 2, 0, 5, 2), &x, 1, NULL, 0);
    t_gradcheck(g, nb_slice(g, x, -1, 1, 5, 3), &x, 1, NULL, 0);
    t_gradcheck(g, nb_slice(g, x, 1, -3, 4, 2), &x, 1, NULL, 0);
    t_gradcheck(g, nb_slice(g, x, 0, 0, 3, 3), &x, 1, NULL, 0);
    t_gradcheck(g, nb_slice(g, x, 0, -2, 3, 1), &x, 1, NULL, 0);
    /* second order: the vjp is built of differentiable ops */
    nb_node *y = nb_slice(g, x, 1, 1, 4, 2), *dx;
    cr_assert_eq(nb_grad(g, nb_sum(g, nb_mul(g, y, y), NULL, 0, false), &x, 1, &dx), NB_OK, "%s",
                 nb_graph_error(g));
    t_gradcheck(g, dx, &x, 1, NULL, 0);
    nb_graph_free(g);
}

Test(movement, slice_refusals)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_param(g, "x", NB_SHAPE(4, 5), NULL);
    REFUSED(g, nb_slice(g, x, 0, 3, 2, 1), NB_ERR_SHAPE, "slice:", "[3:2:1]", "axis 0",
            "'x' [4,5]", "empty");
    REFUSED(g, nb_slice(g, x, 1, 7, 9, 1), NB_ERR_SHAPE, "slice:", "empty");
    REFUSED(g, nb_slice(g, x, 1, 0, 5, 0), NB_ERR_ARG, "slice:", "step 0", "'x' [4,5]");
    REFUSED(g, nb_slice(g, x, 2, 0, 1, 1), NB_ERR_ARG, "slice:", "axis 2", "'x' [4,5]");
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- pad */

Test(movement, pad_values)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_param(g, "x", NB_SHAPE(2, 3), (float[]){1, 2, 3, 4, 5, 6});
    expect(g, nb_pad(g, x, (int64_t[]){1, 0}, (int64_t[]){0, 2}, 9), NB_SHAPE(3, 5),
           (float[]){9, 9, 9, 9, 9, 1, 2, 3, 9, 9, 4, 5, 6, 9, 9});
    expect(g, nb_pad(g, x, (int64_t[]){0, 1}, NULL, 0), NB_SHAPE(2, 4),
           (float[]){0, 1, 2, 3, 0, 4, 5, 6});
    expect(g, nb_pad(g, x, NULL, (int64_t[]){1, 0}, -1), NB_SHAPE(3, 3),
           (float[]){1, 2, 3, 4, 5, 6, -1, -1, -1});
    expect(g, nb_pad(g, x, NULL, NULL, 5), NB_SHAPE(2, 3), (float[]){1, 2, 3, 4, 5, 6});
    /* rank 3, padding on the two leading axes */
    nb_node *c = nb_param(g, "c", NB_SHAPE(1, 2, 2), (float[]){1, 2, 3, 4});
    expect(g, nb_pad(g, c, (int64_t[]){1, 0, 0}, (int64_t[]){0, 1, 0}, 0), NB_SHAPE(2, 3, 2),
           (float[]){0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0});
    nb_graph_free(g);
}

Test(movement, pad_gradcheck_and_refusal)
{
    nb_graph *g = nb_graph_new();
    float xv[24];
    t_fill(xv, 24, 8, -1, 1);
    nb_node *x = nb_param(g, "x", NB_SHAPE(2, 3, 4), xv);
    nb_node *y = nb_pad(g, x, (int64_t[]){1, 0, 2}, (int64_t[]){0, 2, 1}, 0.5f);
    cr_assert(nb_shape_equal(nb_node_shape(y), NB_SHAPE(3, 5, 7)));
    t_gradcheck(g, y, &x, 1, NULL, 0);
    t_gradcheck(g, nb_pad(g, x, NULL, (int64_t[]){0, 0, 3}, 0), &x, 1, NULL, 0);
    REFUSED(g, nb_pad(g, x, (int64_t[]){0, -1, 0}, NULL, 0), NB_ERR_ARG, "pad:",
            "negative padding -1 before axis 1", "'x' [2,3,4]");
    REFUSED(g, nb_pad(g, x, NULL, (int64_t[]){0, 0, -2}, 0), NB_ERR_ARG, "pad:",
            "-2 after axis 2");
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- concat */

Test(movement, concat_values)
{
    nb_graph *g = nb_graph_new();
    nb_node *a = nb_param(g, "a", NB_SHAPE(1, 2), (float[]){1, 2});
    nb_node *b = nb_param(g, "b", NB_SHAPE(2, 2), (float[]){3, 4, 5, 6});
    nb_node *c = nb_param(g, "c", NB_SHAPE(3, 2), (float[]){7, 8, 9, 10, 11, 12});
    expect(g, nb_concat(g, (nb_node *[]){a, b, c}, 3, 0), NB_SHAPE(6, 2),
           (float[]){1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
    nb_node *p = nb_param(g, "p", NB_SHAPE(2, 1), (float[]){1, 2});
    nb_node *q = nb_param(g, "q", NB_SHAPE(2, 2), (float[]){3, 4, 5, 6});
    nb_node *r = nb_param(g, "r", NB_SHAPE(2, 3), (float[]){7, 8, 9, 10, 11, 12});
    expect(g, nb_concat(g, (nb_node *[]){p, q, r}, 3, 1), NB_SHAPE(2, 6),
           (float[]){1, 3, 4, 7, 8, 9, 2, 5, 6, 10, 11, 12});
    expect(g, nb_concat(g, (nb_node *[]){p, q, r}, 3, -1), NB_SHAPE(2, 6),
           (float[]){1, 3, 4, 7, 8, 9, 2, 5, 6, 10, 11, 12});
    expect(g, nb_concat(g, &q, 1, 0), NB_SHAPE(2, 2), (float[]){3, 4, 5, 6});
    nb_graph_free(g);
}

Test(movement, concat_gradcheck)
{
    nb_graph *g = nb_graph_new();
    float v[36];
    t_fill(v, 36, 10, -1, 1);
    nb_node *a = nb_param(g, "a", NB_SHAPE(1, 3, 2), v);
    nb_node *b = nb_param(g, "b", NB_SHAPE(2, 3, 2), v + 6);
    nb_node *c = nb_param(g, "c", NB_SHAPE(3, 3, 2), v + 18);
    nb_node *abc[] = {a, b, c};
    t_gradcheck(g, nb_concat(g, abc, 3, 0), abc, 3, NULL, 0);
    nb_node *p = nb_param(g, "p", NB_SHAPE(2, 1, 2), v);
    nb_node *q = nb_param(g, "q", NB_SHAPE(2, 2, 2), v + 4);
    nb_node *r = nb_param(g, "r", NB_SHAPE(2, 3, 2), v + 12);
    nb_node *pqr[] = {p, q, r};
    t_gradcheck(g, nb_concat(g, pqr, 3, 1), pqr, 3, NULL, 0);
    /* the same input twice gets both gradients */
    nb_node *pp[] = {p, p};
    t_gradcheck(g, nb_concat(g, pp, 2, 2), &p, 1, NULL, 0);
    nb_graph_free(g);
}

Test(movement, concat_refusals)
{
    nb_graph *g = nb_graph_new();
    nb_node *a = nb_param(g, "a", NB_SHAPE(2, 3), NULL);
    nb_node *b = nb_param(g, "b", NB_SHAPE(2, 3), NULL);
    nb_node *c = nb_param(g, "c", NB_SHAPE(3, 4), NULL);
    nb_node *v = nb_param(g, "v", NB_SHAPE(6), NULL);
    REFUSED(g, nb_concat(g, (nb_node *[]){a, b, c}, 3, 0), NB_ERR_SHAPE, "concat:", "input 2",
            "'c' [3,4]", "'a' [2,3]", "axis 0");
    REFUSED(g, nb_concat(g, (nb_node *[]){a, v}, 2, 0), NB_ERR_SHAPE, "concat:", "input 1",
            "'v' [6]", "'a' [2,3]");
    REFUSED(g, nb_concat(g, (nb_node *[]){a, b}, 2, 2), NB_ERR_ARG, "concat:", "axis 2",
            "'a' [2,3]");
    REFUSED(g, nb_concat(g, (nb_node *[]){a}, 0, 0), NB_ERR_ARG, "concat:");
    nb_graph_free(g);
}
