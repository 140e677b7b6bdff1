/*
 * test_grow_prune.c — growing and pruning (train/grow.c, train/prune.c):
 * growth leaves the network's outputs unchanged on real images; the fit of
 * new units to the residual finds a unit the residual is made of; the OBD
 * Hessian diagonal (second-order autodiff) matches finite differences of the
 * gradient, and its dense-layer form matches the unit-vector form; pruning
 * rebuilds a smaller graph (fewer parameters, a smaller matmul) and the
 * accuracy table of examples/prune.c holds on the 500/200-image fixture.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

/* ---------------------------------------------------------------- fixtures */

static nb_dataset *fixture(const char *split)
{
    const char *dir = getenv("NABLA_FIXTURES");
    cr_assert_not_null(dir, "NABLA_FIXTURES is not set");
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/fmnist-%s-images-idx3-ubyte.gz", dir, split);
    snprintf(b, sizeof b, "%s/fmnist-%s-labels-idx1-ubyte.gz", dir, split);
    nb_error err;
    nb_dataset *ds = nb_idx_load(a, b, &err);
    cr_assert_not_null(ds, "%s", err.message);
    return ds;
}

/* 784-H-10: "hidden" (ReLU) feeding "logits"; H comes from ud. */
static nb_status mlp(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    int64_t h = *(const int64_t *)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 28, 28));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *x = nb_flatten(g, io->x);
    nb_node *hid = nb_dense(g, x, (nb_dense_opts){.units = h, .activation = NB_ACT_RELU,
                                                  .name = "hidden"});
    io->output = nb_dense(g, hid, (nb_dense_opts){.units = 10, .name = "logits"});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

static nb_trainer *trainer(int64_t *h, uint64_t seed)
{
    nb_train_opts o = {.batch = 50, .epochs = 4, .seed = seed,
                       .optimizer = {.kind = NB_OPT_SGD, .lr = 0.05f, .momentum = 0.9f}};
    nb_error err;
    nb_trainer *t = nb_trainer_new(mlp, h, NB_SHAPE(1, 28, 28), 1, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    return t;
}

/* A graph holding the model for all of ds (inference mode), parameters
 * copied from `from`; *io receives its nodes. */
static nb_graph *model_for(nb_graph *from, int64_t *h, const nb_dataset *ds, nb_model_io *io)
{
    nb_graph *g = nb_graph_new();
    nb_graph_set_training(g, false);
    cr_assert_eq(mlp(g, ds->n, io, h), NB_OK, "%s", nb_graph_error(g));
    nb_error err;
    cr_assert_eq(nb_params_copy(from, g, &err), NB_OK, "%s", err.message);
    return g;
}

/* The logits [n, 10] of the model with `from`'s parameters at width *h. */
static float *logits(nb_graph *from, int64_t *h, const nb_dataset *ds)
{
    nb_model_io io;
    nb_graph *g = model_for(from, h, ds, &io);
    nb_feed f[] = {{io.x, ds->x}, {io.y, ds->y}};
    float *out = t_eval(g, io.output, f, 2);
    nb_graph_free(g);
    return out;
}

/* max |a - b| over max(1, max |a|): a network grown or pruned by units
 * with zero outgoing weights computes the same sums, but the first product
 * has a different width, so BLAS may block its 784-term sums differently
 * and round them differently (seen: 3e-6 on logits of magnitude ~10). */
static double max_rel_diff(const float *a, const float *b, int64_t n)
{
    double m = 0, scale = 1;
    for (int64_t i = 0; i < n; i++) {
        m = fmax(m, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)a[i]));
    }
    return m / scale;
}

static int64_t param_count(nb_graph *g)
{
    int64_t n = 0;
    for (int i = 0; i < nb_graph_num_params(g); i++)
        n += nb_shape_numel(nb_node_shape(nb_graph_param(g, i)));
    return n;
}

/* ---------------------------------------------------------------- growing */

/* Train 4 hidden units, fit 3 new ones to the residual on the training
 * images, grow: the logits on the 200 test images are the same, the new
 * units carry the fitted incoming weights and zero outgoing ones, and one
 * step of backprop then gives the outgoing weights a nonzero value. */
Test(grow, outputs_identical_after_growth_on_real_images)
{
    nb_dataset *train = fixture("train"), *test = fixture("test");
    int64_t h = 4, h2 = 7, k = 3;
    nb_trainer *t = trainer(&h, 1);
    cr_assert_eq(nb_trainer_fit(t, train, NULL), NB_OK, "%s", nb_trainer_error(t));
    nb_graph *gt = nb_trainer_graph(t);

    nb_model_io io;
    nb_graph *gf = model_for(gt, &h, train, &io);
    nb_feed f[] = {{io.x, train->x}, {io.y, train->y}};
    float w_new[784 * 3], b_new[3];
    double explained = 0;
    nb_error err;
    nb_grow_fit_opts fo = {.activation = NB_ACT_RELU, .steps = 100, .seed = 3};
    cr_assert_eq(nb_grow_fit(gf, io.loss, "hidden", "logits", k, f, 2, &fo, w_new, b_new,
                             &explained, &err), NB_OK, "%s", err.message);
    cr_assert(explained > 0.02 && explained < 1, "explained %.4f", explained);

    nb_trainer *t2 = trainer(&h2, 2);
    nb_graph *g2 = nb_trainer_graph(t2);
    cr_assert_eq(nb_grow_dense(gt, g2, "hidden", "logits", k, w_new, b_new, &err), NB_OK, "%s",
                 err.message);
    float *before = logits(gt, &h, test), *after = logits(g2, &h2, test);
    double d = max_rel_diff(before, after, test->n * 10);
    printf("growth 4 → 7 units: max |Δ logit| / max |logit| on 200 test images = %.3g (%s)\n", d,
           memcmp(before, after, (size_t)test->n * 10 * sizeof(float)) ? "not bit for bit"
                                                                          : "bit for bit");
    cr_assert_leq(d, 1e-6, "max |Δ logit| / max |logit| %.3g", d);
    double l1, a1, l2, a2;
    nb_trainer_evaluate(t, test, &l1, &a1);
    nb_trainer_evaluate(t2, test, &l2, &a2);
    cr_assert_eq(a1, a2);
    cr_assert_leq(fabs(l1 - l2), 1e-6);

    const float *w2 = nb_param_data(nb_graph_find(g2, "hidden/w"));
    const float *o2 = nb_param_data(nb_graph_find(g2, "logits/w"));
    const float *b2 = nb_param_data(nb_graph_find(g2, "hidden/b"));
    for (int64_t i = 0; i < 784; i++)
        for (int64_t j = 0; j < k; j++)
            cr_assert_eq(w2[i * h2 + h + j], w_new[i * k + j]);
    for (int64_t j = 0; j < k; j++)
        cr_assert_eq(b2[h + j], b_new[j]);
    for (int64_t j = h; j < h2; j++)
        for (int c = 0; c < 10; c++)
            cr_assert_eq(o2[j * 10 + c], 0.0f);
    cr_assert_eq(nb_trainer_step(t2, train->x, train->y, 50, NULL), NB_OK);
    double moved = 0;
    for (int64_t j = h; j < h2; j++)
        for (int c = 0; c < 10; c++)
            moved += fabs(o2[j * 10 + c]);
    cr_assert_gt(moved, 0, "the new units' outgoing weights stayed zero");

    free(before);
    free(after);
    nb_graph_free(gf);
    nb_trainer_free(t);
    nb_trainer_free(t2);
    nb_dataset_free(train);
    nb_dataset_free(test);
}

/* A linear-output net with squared error whose only unit is dead (outgoing
 * weight 0) has residual y itself; y = 2·relu(x·u + 0.5) is one ReLU unit,
 * so the fit of one new unit explains almost all of it. */
static nb_status regressor(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    int64_t h = *(const int64_t *)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 3));
    io->y = nb_input(g, "y", NB_SHAPE(batch, 1));
    nb_node *hid = nb_dense(g, io->x, (nb_dense_opts){.units = h, .activation = NB_ACT_RELU,
                                                      .name = "hidden"});
    io->output = nb_dense(g, hid, (nb_dense_opts){.units = 1, .name = "out"});
    io->loss = nb_mse_loss(g, io->output, io->y);
    return nb_graph_status(g);
}

Test(grow, fit_finds_the_unit_the_residual_is_made_of)
{
    enum { N = 200 };
    static float x[N * 3], y[N];
    const float u[3] = {1.0f, -2.0f, 0.5f};
    t_fill(x, N * 3, 5, -1, 1);
    for (int n = 0; n < N; n++) {
        float s = 0.5f;
        for (int i = 0; i < 3; i++)
            s += x[n * 3 + i] * u[i];
        y[n] = 2.0f * (s > 0 ? s : 0);
    }
    nb_graph *g = nb_graph_new();
    int64_t h = 1;
    nb_model_io io;
    cr_assert_eq(regressor(g, N, &io, &h), NB_OK, "%s", nb_graph_error(g));
    nb_param_data(nb_graph_find(g, "out/w"))[0] = 0.0f; /* the network outputs 0 */
    nb_feed f[] = {{io.x, x}, {io.y, y}};
    float w_new[3], b_new[1];
    double explained;
    nb_error err;
    nb_grow_fit_opts fo = {.activation = NB_ACT_RELU, .steps = 600, .lr = 0.05f, .seed = 7};
    cr_assert_eq(nb_grow_fit(g, io.loss, "hidden", "out", 1, f, 2, &fo, w_new, b_new, &explained,
                             &err), NB_OK, "%s", err.message);
    printf("one unit fitted to the residual 2·relu(x·u + 0.5): explained %.5f, w/b = "
           "[%.3f %.3f %.3f]/%.3f (u = [1 -2 0.5]/0.5 up to scale)\n",
           explained, w_new[0], w_new[1], w_new[2], b_new[0]);
    cr_assert_gt(explained, 0.99, "explained %.4f", explained);
    /* the direction of u, up to the scale the outgoing weight took */
    double dot = 0, nw = 0, nu = 0;
    for (int i = 0; i < 3; i++)
        dot += w_new[i] * u[i], nw += w_new[i] * w_new[i], nu += u[i] * u[i];
    cr_assert_gt(dot / sqrt(nw * nu), 0.99);
    nb_graph_free(g);
}

Test(grow, refuses_mismatched_widths_and_missing_layers)
{
    int64_t h = 4, wrong = 6, right = 5;
    nb_graph *a = nb_graph_new(), *b = nb_graph_new();
    nb_model_io io;
    cr_assert_eq(mlp(a, 2, &io, &h), NB_OK);
    cr_assert_eq(mlp(b, 2, &io, &wrong), NB_OK);
    nb_error err;
    cr_assert_eq(nb_grow_dense(a, b, "hidden", "logits", 1, NULL, NULL, &err), NB_ERR_SHAPE);
    cr_assert(strstr(err.message, "'hidden/w' has 6 units in the target; growing 4 units by 1 "
                                  "needs 5"), "%s", err.message);
    cr_assert_eq(nb_grow_dense(a, b, "nope", "logits", 2, NULL, NULL, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "no parameter 'nope/w'"), "%s", err.message);
    cr_assert_eq(nb_grow_dense(a, b, "hidden", "logits", 0, NULL, NULL, &err), NB_ERR_ARG);
    cr_assert_eq(nb_params_copy(a, b, &err), NB_ERR_SHAPE);
    cr_assert(strstr(err.message, "'hidden/w' is [784,4] in the source graph and [784,6]"), "%s",
              err.message);
    int64_t map[6] = {0, 1, 2, 3, 4, -1};
    cr_assert_eq(nb_dense_remap_units(a, b, "hidden", "logits", map, 6, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "map[4] = 4, but 'hidden' has 4 units"), "%s", err.message);
    nb_graph *c = nb_graph_new();
    cr_assert_eq(mlp(c, 2, &io, &right), NB_OK);
    cr_assert_eq(nb_grow_dense(a, c, "hidden", "logits", 1, NULL, NULL, &err), NB_OK, "%s",
                 err.message);
    nb_graph_free(a);
    nb_graph_free(b);
    nb_graph_free(c);
}

/* ---------------------------------------------------------------- OBD Hessian */

/* x [16, 6] → dense 5 (act) → dense 3 → softmax cross-entropy. */
static nb_node *small_net(nb_graph *g, nb_activation act, nb_feed *f, float *x, float *y)
{
    t_fill(x, 16 * 6, 11, -1.5f, 1.5f);
    for (int n = 0; n < 16; n++)
        y[n] = (float)(n % 3);
    nb_graph_seed(g, 4);
    nb_node *xi = nb_input(g, "x", NB_SHAPE(16, 6)), *yi = nb_input(g, "y", NB_SHAPE(16));
    nb_node *h = nb_dense(g, xi, (nb_dense_opts){.units = 5, .activation = act, .name = "hidden",
                                                 .bias_init = {NB_INIT_UNIFORM, -0.5f, 0.5f}});
    nb_node *z = nb_dense(g, h, (nb_dense_opts){.units = 3, .name = "logits"});
    f[0] = (nb_feed){xi, x};
    f[1] = (nb_feed){yi, y};
    return nb_softmax_cross_entropy(g, z, yi);
}

/* Central differences of the gradient: (g_i(w + εe_i) − g_i(w − εe_i)) / 2ε
 * (with the steps float32 really took). */
static void fd_diagonal(nb_graph *g, nb_node *loss, nb_node *w, const nb_feed *f, float eps,
                        float *fd)
{
    nb_node *gw;
    cr_assert_eq(nb_grad(g, loss, &w, 1, &gw), NB_OK, "%s", nb_graph_error(g));
    nb_runtime *rt = nb_runtime_new(g, &gw, 1);
    cr_assert_not_null(rt, "%s", nb_graph_error(g));
    for (int i = 0; i < 2; i++)
        nb_runtime_set_input(rt, f[i].node, f[i].data);
    float *wv = nb_param_data(w);
    for (int64_t i = 0; i < nb_shape_numel(nb_node_shape(w)); i++) {
        float w0 = wv[i];
        wv[i] = w0 + eps;
        double up = (double)wv[i] - w0; /* the step float32 really took */
        nb_runtime_run(rt);
        double gp = nb_runtime_value(rt, gw)[i];
        wv[i] = w0 - eps;
        double down = (double)w0 - wv[i];
        nb_runtime_run(rt);
        double gm = nb_runtime_value(rt, gw)[i];
        wv[i] = w0;
        fd[i] = (float)((gp - gm) / (up + down));
    }
    nb_runtime_free(rt);
}

Test(obd, hessian_diagonal_matches_finite_differences_of_the_gradient)
{
    nb_graph *g = nb_graph_new();
    nb_feed f[2];
    float x[96], y[16];
    nb_node *loss = small_net(g, NB_ACT_TANH, f, x, y);
    const char *names[] = {"hidden/w", "hidden/b", "logits/w", "logits/b"};
    double worst = 0, worst_abs = 0;
    for (int p = 0; p < 4; p++) {
        nb_node *w = nb_graph_find(g, names[p]);
        int64_t n = nb_shape_numel(nb_node_shape(w));
        float h[30], fd[30];
        nb_error err;
        cr_assert_eq(nb_hessian_diagonal(g, loss, w, f, 2, h, &err), NB_OK, "%s", err.message);
        fd_diagonal(g, loss, w, f, 3e-3f, fd);
        for (int64_t i = 0; i < n; i++) {
            double e = fabs(h[i] - fd[i]);
            worst_abs = fmax(worst_abs, e);
            worst = fmax(worst, e / fmax(fabs(fd[i]), 1e-2));
            cr_assert_leq(e, 1e-5 + 1e-3 * fabs(fd[i]),
                          "%s[%lld]: Hessian %.7g, differences %.7g", names[p], (long long)i, h[i],
                          fd[i]);
        }
    }
    printf("OBD Hessian diagonal vs central differences of the gradient (ε = 3e-3): worst "
           "|h - fd| = %.3g, worst |h - fd| / max(|fd|, 0.01) = %.3g\n", worst_abs, worst);
    nb_graph_free(g);
}

/* The dense-layer form (H probes on z, contracted with x²) gives the same
 * diagonal as one unit-vector probe per weight, for ReLU and tanh layers. */
Test(obd, dense_form_equals_unit_vector_form)
{
    nb_activation acts[] = {NB_ACT_RELU, NB_ACT_TANH};
    for (int a = 0; a < 2; a++) {
        nb_graph *g = nb_graph_new();
        nb_feed f[2];
        float x[96], y[16];
        nb_node *loss = small_net(g, acts[a], f, x, y);
        const char *layers[] = {"hidden", "logits"};
        for (int l = 0; l < 2; l++) {
            char wn[32], bn[32];
            snprintf(wn, sizeof wn, "%s/w", layers[l]);
            snprintf(bn, sizeof bn, "%s/b", layers[l]);
            nb_node *w = nb_graph_find(g, wn), *b = nb_graph_find(g, bn);
            int64_t nw = nb_shape_numel(nb_node_shape(w)), nbias = nb_shape_numel(nb_node_shape(b));
            float hw[30], hb[5], gw[30], gb[5];
            nb_error err;
            cr_assert_eq(nb_dense_hessian_diagonal(g, loss, layers[l], f, 2, hw, hb, &err), NB_OK,
                         "%s", err.message);
            cr_assert_eq(nb_hessian_diagonal(g, loss, w, f, 2, gw, &err), NB_OK, "%s", err.message);
            cr_assert_eq(nb_hessian_diagonal(g, loss, b, f, 2, gb, &err), NB_OK, "%s", err.message);
            t_assert_close(hw, gw, nw, 1e-5f);
            t_assert_close(hb, gb, nbias, 1e-5f);
        }
        nb_graph_free(g);
    }
}

Test(obd, refuses_a_model_built_twice_into_the_graph)
{
    nb_graph *g = nb_graph_new();
    int64_t h = 3;
    nb_model_io io;
    cr_assert_eq(mlp(g, 2, &io, &h), NB_OK);
    nb_graph_set_reuse(g, true);
    cr_assert_eq(mlp(g, 4, &io, &h), NB_OK);
    float hw[784 * 3];
    nb_error err;
    cr_assert_eq(nb_dense_hessian_diagonal(g, io.loss, "hidden", NULL, 0, hw, NULL, &err),
                 NB_ERR_ARG);
    cr_assert(strstr(err.message, "2 forward matmuls read 'hidden/w'"), "%s", err.message);
    nb_graph_free(g);
}

/* A layer written out of primitives is no dense layer: nothing records it,
 * so its weight's product is not guessed from the ops that read it. */
Test(obd, refuses_a_weight_no_dense_layer_has)
{
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(2, 3)), *y = nb_input(g, "y", NB_SHAPE(2, 4));
    nb_scope_push(g, "hidden");
    nb_node *w = nb_param(g, "w", NB_SHAPE(3, 4), NULL);
    nb_scope_pop(g);
    nb_node *d = nb_sub(g, nb_matmul(g, x, w, false, false), y);
    nb_node *loss = nb_sum(g, nb_mul(g, d, d), NULL, 0, false);
    float hw[12];
    nb_error err;
    cr_assert_eq(nb_dense_hessian_diagonal(g, loss, "hidden", NULL, 0, hw, NULL, &err),
                 NB_ERR_ARG);
    cr_assert(strstr(err.message, "no dense layer of the graph has the weight 'hidden/w'"), "%s",
              err.message);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- pruning */

/* The unit saliencies of a trained model on the training images. */
static void saliencies(nb_graph *trained, int64_t *h, const nb_dataset *ds, nb_saliency_kind kind,
                       double *s)
{
    nb_model_io io;
    nb_graph *g = model_for(trained, h, ds, &io);
    nb_feed f[] = {{io.x, ds->x}, {io.y, ds->y}};
    nb_error err;
    cr_assert_eq(nb_unit_saliency(g, io.loss, "hidden", "logits", f, 2, kind, s, &err), NB_OK,
                 "%s", err.message);
    nb_graph_free(g);
}

/* The forward matmul reading hidden/w: its weight shape tells the size. */
static nb_shape hidden_matmul_w(nb_graph *g)
{
    nb_node *w = nb_graph_find(g, "hidden/w");
    for (int i = 0; i < nb_graph_node_count(g); i++) {
        nb_node *n = nb_graph_node(g, i);
        if (!nb_node_is_backward(n) && nb_node_op(n) && !strcmp(nb_node_op(n), "matmul") &&
            nb_node_input(n, 1) == w)
            return nb_node_shape(nb_node_input(n, 1));
    }
    return NB_SCALAR;
}

/* examples/prune.c's table on the fixture: 16 hidden units trained on the
 * 500 training images; remove 0, 25, 50, 75 % of them by magnitude and by
 * OBD; rebuild; test accuracy on the 200 test images. 0 % keeps the logits
 * bit for bit; each step removes 784+1+10 parameters per unit and shrinks
 * the matmul; every pruned net stays above chance, and at 25 % within 5
 * points of the full net. */
Test(prune, graph_shrinks_and_the_table_holds_on_the_fixture)
{
    nb_dataset *train = fixture("train"), *test = fixture("test");
    int64_t h = 16;
    nb_trainer *t = trainer(&h, 1);
    cr_assert_eq(nb_trainer_fit(t, train, NULL), NB_OK, "%s", nb_trainer_error(t));
    nb_graph *gt = nb_trainer_graph(t);
    double full_acc;
    nb_trainer_evaluate(t, test, NULL, &full_acc);
    float *full_logits = logits(gt, &h, test);
    const char *names[] = {"magnitude", "OBD"};
    printf("pruning 16 hidden units (fixture): full net test accuracy %.3f\n", full_acc);
    for (int m = 0; m < 2; m++) {
        double s[16];
        saliencies(gt, &h, train, (nb_saliency_kind)m, s);
        int64_t last_params = 0;
        for (int q = 0; q < 4; q++) {
            int64_t removed = 16 * q / 4, kept = 16 - removed, keep[16];
            nb_error err;
            cr_assert_eq(nb_prune_select(s, 16, removed, keep, &err), NB_OK, "%s", err.message);
            nb_trainer *tp = trainer(&kept, 9);
            nb_graph *gp = nb_trainer_graph(tp);
            cr_assert_eq(nb_dense_remap_units(gt, gp, "hidden", "logits", keep, kept, &err), NB_OK,
                         "%s", err.message);
            double acc;
            cr_assert_eq(nb_trainer_evaluate(tp, test, NULL, &acc), NB_OK);
            int64_t params = param_count(gp);
            nb_shape ws = hidden_matmul_w(gp);
            printf("  %-9s removed %2d%%  units %2lld  params %6lld  matmul w [%lld,%lld]  "
                   "test_acc %.3f\n", names[m], 25 * q, (long long)kept, (long long)params,
                   (long long)ws.dim[0], (long long)ws.dim[1], acc);
            cr_assert_eq(params, 784 * kept + kept + 10 * kept + 10);
            cr_assert(ws.rank == 2 && ws.dim[1] == kept, "the matmul did not shrink");
            if (q == 0) {
                float *l = logits(gp, &kept, test);
                cr_assert_eq(memcmp(l, full_logits, (size_t)test->n * 10 * sizeof(float)), 0);
                cr_assert_eq(acc, full_acc, "0%% removed changed the accuracy");
                free(l);
            } else {
                cr_assert_lt(params, last_params);
                cr_assert_gt(acc, 0.2, "%s %d%%: accuracy %.3f", names[m], 25 * q, acc);
            }
            if (q == 1)
                cr_assert_geq(acc, full_acc - 0.05, "%s 25%%: accuracy %.3f vs %.3f", names[m],
                              acc, full_acc);
            last_params = params;
            nb_trainer_free(tp);
        }
    }
    free(full_logits);
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_dataset_free(test);
}

/* A unit whose outgoing weights are zero contributes nothing: OBD gives it
 * saliency 0 (its incoming weights have zero curvature too), the least any
 * unit has at this trained point, and removing it leaves the logits
 * unchanged. */
Test(prune, removing_a_unit_with_zero_outgoing_weights_changes_nothing)
{
    nb_dataset *train = fixture("train"), *test = fixture("test");
    int64_t h = 8, kept = 7;
    nb_trainer *t = trainer(&h, 4);
    cr_assert_eq(nb_trainer_fit(t, train, NULL), NB_OK, "%s", nb_trainer_error(t));
    nb_graph *gt = nb_trainer_graph(t);
    float *out = nb_param_data(nb_graph_find(gt, "logits/w"));
    memset(out + 5 * 10, 0, 10 * sizeof(float)); /* unit 5 goes silent */
    float *before = logits(gt, &h, test);
    double s[8];
    saliencies(gt, &h, train, NB_SALIENCY_OBD, s);
    cr_assert_eq(s[5], 0.0, "OBD saliency of the silent unit: %g", s[5]);
    for (int j = 0; j < 8; j++) /* ReLU units dead on every training image tie at 0 */
        cr_assert_geq(s[j], 0.0, "unit %d: OBD saliency %g", j, s[j]);
    int64_t keep[7] = {0, 1, 2, 3, 4, 6, 7};
    nb_error err;
    nb_graph *g = nb_graph_new();
    nb_model_io io;
    cr_assert_eq(mlp(g, 1, &io, &kept), NB_OK);
    cr_assert_eq(nb_dense_remap_units(gt, g, "hidden", "logits", keep, 7, &err), NB_OK, "%s",
                 err.message);
    float *after = logits(g, &kept, test);
    double d = max_rel_diff(before, after, test->n * 10);
    cr_assert_leq(d, 1e-6, "max |Δ logit| / max |logit| %.3g", d);
    free(before);
    free(after);
    nb_graph_free(g);
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_dataset_free(test);
}

Test(prune, select_and_mask_order_ties_and_refusals)
{
    double s[5] = {3, 1, 2, 1, 5};
    int64_t keep[5];
    nb_error err;
    cr_assert_eq(nb_prune_select(s, 5, 2, keep, &err), NB_OK);
    int64_t want[] = {0, 2, 4}; /* the two 1s go (index 3 first, then 1) */
    for (int i = 0; i < 3; i++)
        cr_assert_eq(keep[i], want[i]);
    cr_assert_eq(nb_prune_select(s, 5, 1, keep, &err), NB_OK);
    int64_t want1[] = {0, 1, 2, 4}; /* a tie: the higher index goes */
    for (int i = 0; i < 4; i++)
        cr_assert_eq(keep[i], want1[i]);
    cr_assert_eq(nb_prune_select(s, 5, 5, keep, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "must leave at least one"), "%s", err.message);

    nb_graph *g = nb_graph_new();
    float w0[6] = {0.5f, -0.1f, 2.0f, 0.05f, -3.0f, 1.0f}, sal[6];
    nb_node *w = nb_param(g, "w", NB_SHAPE(2, 3), w0);
    for (int i = 0; i < 6; i++)
        sal[i] = 0.5f * w0[i] * w0[i];
    cr_assert_eq(nb_prune_weights(w, sal, 0.5, &err), 3, "%s", err.message);
    float want_w[6] = {0, 0, 2.0f, 0, -3.0f, 1.0f};
    t_assert_close(nb_param_data(w), want_w, 6, 0);
    cr_assert_eq(nb_prune_weights(w, sal, 1.5, &err), -1);
    cr_assert_str_eq(err.message, "prune: w: the fraction to zero, 1.5, is outside [0, 1]");
    cr_assert_eq(nb_prune_weights(w, NULL, 0.5, &err), -1);
    cr_assert_str_eq(err.message, "prune: w: no saliencies (NULL)");
    cr_assert_eq(nb_prune_weights(nb_name(nb_scalar(g, 1), "one"), sal, 0.5, &err), -1);
    cr_assert_str_eq(err.message, "prune: one is not a parameter");
    cr_assert_eq(nb_prune_weights(NULL, sal, 0.5, NULL), -1);
    nb_graph_free(g);
}

Test(prune, magnitude_saliency_needs_no_data)
{
    nb_graph *g = nb_graph_new();
    int64_t h = 3;
    nb_model_io io;
    cr_assert_eq(mlp(g, 2, &io, &h), NB_OK);
    double s[3];
    nb_error err;
    cr_assert_eq(nb_unit_saliency(g, NULL, "hidden", "logits", NULL, 0, NB_SALIENCY_MAGNITUDE, s,
                                  &err), NB_OK, "%s", err.message);
    const float *w = nb_param_data(nb_graph_find(g, "hidden/w"));
    const float *o = nb_param_data(nb_graph_find(g, "logits/w"));
    for (int j = 0; j < 3; j++) {
        double want = 0;
        for (int i = 0; i < 784; i++)
            want += 0.5 * w[i * 3 + j] * w[i * 3 + j];
        for (int c = 0; c < 10; c++)
            want += 0.5 * o[j * 10 + c] * o[j * 10 + c];
        cr_assert_leq(fabs(s[j] - want), 1e-5 * want, "unit %d: %g vs %g", j, s[j], want);
    }
    cr_assert_eq(nb_unit_saliency(g, io.loss, "hidden", "nope", NULL, 0, NB_SALIENCY_OBD, s,
                                  &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "no parameter 'nope/w'"), "%s", err.message);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- growing while training */

/* What nb_trainer_fit_grow's callbacks saw. */
typedef struct grow_log {
    int stages, growths;
    int64_t widths[8], grown_to[8];
    double worst_change;   /* max over growths of max |Δ output| / max(1, max |output|) */
    int stop_after;        /* on_stage says stop after this many stages (0: never) */
} grow_log;

static bool log_stage(nb_trainer *t, const nb_grow_stage *s, void *ud)
{
    grow_log *l = ud;
    cr_assert_eq(s->stage, l->stages + 1);
    cr_assert_eq(nb_shape_numel(nb_node_shape(nb_graph_find(nb_trainer_graph(t), "hidden/w"))),
                 784 * s->units);
    cr_assert(isfinite(s->q) && s->q > 0, "Q %g", s->q);
    l->widths[l->stages++] = s->units;
    return l->stop_after == 0 || l->stages < l->stop_after;
}

static void log_growth(nb_trainer *t, const nb_grow_stage *s, void *ud)
{
    grow_log *l = ud;
    cr_assert_eq(s->grown_to, s->units + 2);
    cr_assert_eq(nb_node_shape(nb_graph_find(nb_trainer_graph(t), "hidden/w")).dim[1],
                 s->grown_to);
    cr_assert(s->explained > 0 && s->explained <= 1, "explained %g", s->explained);
    l->grown_to[l->growths++] = s->grown_to;
    l->worst_change = fmax(l->worst_change, s->max_change / fmax(1.0, s->max_output));
}

static nb_status set_hidden(void *ud, const char *layer, int64_t units, nb_error *err)
{
    cr_assert_str_eq(layer, "hidden");
    (void)err;
    *(int64_t *)ud = units;
    return NB_OK;
}

/* Stages of a fresh run of epochs each (the example's way): 2 → 4 → 6
 * units, the function unchanged at each growth, the state carried on. */
Test(grow_train, restarting_stages_grow_to_the_widest_and_keep_the_function)
{
    nb_dataset *train = fixture("train"), *test = fixture("test");
    int64_t h = 2;
    nb_trainer *t = trainer(&h, 3);
    grow_log l = {0};
    nb_grow_opts go = {.layer = "hidden", .k = 2, .max = 6, .activation = NB_ACT_RELU,
                       .fit_n = 200, .restart_epochs = true, .check = test,
                       .set_units = set_hidden, .on_stage = log_stage, .on_grow = log_growth,
                       .ud = &l};
    nb_error err = {0};
    cr_assert_eq(nb_trainer_fit_grow(&t, train, test, &go, &err), NB_OK, "%s", err.message);
    cr_assert_eq(l.stages, 3);
    cr_assert_eq(l.growths, 2);
    cr_assert(l.widths[0] == 2 && l.widths[1] == 4 && l.widths[2] == 6);
    cr_assert_eq(h, 6, "the model's ud was widened to %lld", (long long)h);
    cr_assert_eq(nb_trainer_state(t).epoch, 4, "each stage a fresh run of 4 epochs");
    cr_assert_eq(nb_trainer_state(t).global_step, 3 * 4 * 10, "the step count carries on");
    cr_assert(l.worst_change <= 1e-6, "outputs moved by %g at a growth", l.worst_change);
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_dataset_free(test);
}

/* Stages whose epochs count on (the CLI's way): Q is watched with a
 * tolerance every epoch meets, so a stage ends after two epochs; the
 * widest stage (4 = max) trains to the end although Q is as stable. */
Test(grow_train, counting_stages_end_with_the_epochs_and_the_widest_runs_on)
{
    nb_dataset *train = fixture("train"), *test = fixture("test");
    int64_t h = 2;
    nb_train_opts o = {.batch = 50, .epochs = 5, .seed = 3, .q_stop_rtol = 1.0,
                       .q_stop_window = 10, .optimizer = {.kind = NB_OPT_SGD, .lr = 0.05f}};
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(mlp, &h, NB_SHAPE(1, 28, 28), 1, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    grow_log l = {0};
    nb_grow_opts go = {.layer = "hidden", .k = 2, .max = 4, .activation = NB_ACT_RELU,
                       .set_units = set_hidden, .on_stage = log_stage, .on_grow = log_growth,
                       .ud = &l};
    cr_assert_eq(nb_trainer_fit_grow(&t, train, NULL, &go, &err), NB_OK, "%s", err.message);
    cr_assert_eq(l.growths, 1);
    cr_assert_eq(l.widths[0], 2);
    cr_assert_eq(l.widths[1], 4);
    cr_assert_eq(nb_trainer_state(t).epoch, 5, "the widest stage ran to epoch 5");
    cr_assert(l.worst_change <= 1e-6, "outputs moved by %g at the growth", l.worst_change);
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_dataset_free(test);
}

/* on_stage ends growing: the first trainer is the one left. */
Test(grow_train, on_stage_false_keeps_the_trainer)
{
    nb_dataset *train = fixture("train");
    int64_t h = 3;
    nb_trainer *t = trainer(&h, 5), *first = t;
    grow_log l = {.stop_after = 1};
    nb_grow_opts go = {.layer = "hidden", .k = 2, .set_units = set_hidden,
                       .on_stage = log_stage, .on_grow = log_growth, .ud = &l};
    nb_error err = {0};
    cr_assert_eq(nb_trainer_fit_grow(&t, train, NULL, &go, &err), NB_OK, "%s", err.message);
    cr_assert_eq(t, first);
    cr_assert_eq(l.stages, 1);
    cr_assert_eq(l.growths, 0);
    cr_assert_eq(h, 3);
    nb_trainer_free(t);
    nb_dataset_free(train);
}

Test(grow_train, refusals_name_what_is_wrong)
{
    nb_dataset *train = fixture("train");
    int64_t h = 3;
    nb_trainer *t = trainer(&h, 5);
    nb_error err = {0};
    nb_grow_opts go = {.layer = "nope", .k = 2, .set_units = set_hidden};
    cr_assert_eq(nb_trainer_fit_grow(&t, train, NULL, &go, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "grow: the model has no dense layer 'nope'"), "%s", err.message);
    go = (nb_grow_opts){.layer = "hidden", .k = 0, .set_units = set_hidden};
    cr_assert_eq(nb_trainer_fit_grow(&t, train, NULL, &go, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "k (units per growth) must be >= 1"), "%s", err.message);
    go = (nb_grow_opts){.layer = "hidden", .k = 1};
    cr_assert_eq(nb_trainer_fit_grow(&t, train, NULL, &go, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "no set_units"), "%s", err.message);
    go = (nb_grow_opts){.layer = "logits", .k = 1, .set_units = set_hidden};
    cr_assert_eq(nb_trainer_fit_grow(&t, train, NULL, &go, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "no dense layer reads the 10 units of 'logits'"), "%s",
              err.message);
    cr_assert_eq(nb_trainer_fit_grow(NULL, train, NULL, &go, &err), NB_ERR_ARG);
    cr_assert_eq(nb_trainer_state(t).epoch, 0, "nothing trained");
    nb_trainer_free(t);
    nb_dataset_free(train);
}

/* A model file grows through nb_model_file_set_units without a setter:
 * its text ends at the final width. */
Test(grow_train, a_model_file_widens_itself)
{
    static const char yaml[] =
        "nabla: 1\nname: g\ninput: {x: [1, 28, 28]}\nlayers:\n  - flatten\n"
        "  - dense: {units: 3, activation: relu, name: hidden}\n"
        "  - dense: {units: 10, name: logits}\n"
        "loss: softmax_cross_entropy\noptimizer: {sgd: {lr: 0.05}}\n"
        "train: {batch: 50, epochs: 2, seed: 1}\n";
    nb_error err = {0};
    nb_model_file *m = nb_model_file_parse(yaml, strlen(yaml), "g.yaml", &err);
    cr_assert_not_null(m, "%s", err.message);
    nb_train_opts o = nb_model_file_train_opts(m);
    nb_trainer *t = nb_trainer_new(nb_model_file_build, m, nb_model_file_input_shape(m),
                                   nb_model_file_y_width(m), &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    nb_dataset *train = fixture("train");
    nb_grow_opts go = {.layer = "hidden", .k = 2, .max = 5, .activation = NB_ACT_RELU,
                       .restart_epochs = true};
    cr_assert_eq(nb_trainer_fit_grow(&t, train, NULL, &go, &err), NB_OK, "%s", err.message);
    cr_assert_eq(nb_model_file_units(m, "hidden", NULL, NULL), 5);
    cr_assert(strstr(nb_model_file_text(m), "units: 5"), "%s", nb_model_file_text(m));
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_model_file_free(m);
}
