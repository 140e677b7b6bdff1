/*
 * test_optim.c — optimisers (each rule over two hand-checked steps, and
 * two 20-step trajectories checked against PyTorch), gradient clipping,
 * learning-rate schedules, the random number generator and initialisers.
 *
 * The two-step cases share one setup: w0 = [1, -2, 0.5], gradients
 * g1 = [0.1, 0.2, -0.3] then g2 = [0.5, -0.5, 1], learning rate 0.1 then
 * 0.05. Their expected values were worked out by hand (SGD) or with a
 * plain-Python transcription of the update rules in double precision (Adam,
 * RMSprop), and agree to float precision with PyTorch 1.13
 * (torch.optim.SGD/Adam/RMSprop on a float32 tensor, w.grad set to g, the
 * group's lr set before each opt.step()).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static const float W0[3] = {1.0f, -2.0f, 0.5f};
static const float G1[3] = {0.1f, 0.2f, -0.3f};
static const float G2[3] = {0.5f, -0.5f, 1.0f};

/* Two steps of an optimiser with options o on w0; checks w after each. */
static void two_steps(nb_optimizer_opts o, const float want1[3], const float want2[3])
{
    nb_graph *g = nb_graph_new();
    nb_node *w = nb_param(g, "w", NB_SHAPE(3), W0);
    nb_optimizer *opt = nb_optimizer_new(o, &w, 1, NULL);
    cr_assert_not_null(opt);
    nb_optimizer_step(opt, G1, 0.1f);
    t_assert_close(nb_param_data(w), want1, 3, 2e-6f);
    nb_optimizer_step(opt, G2, 0.05f);
    t_assert_close(nb_param_data(w), want2, 3, 2e-6f);
    cr_assert_eq(*nb_optimizer_steps(opt), 2);
    nb_optimizer_free(opt);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- SGD */

/* w ← w - lr·g: [1,-2,.5] - .1·g1, then - .05·g2. */
Test(sgd, plain)
{
    two_steps((nb_optimizer_opts){.kind = NB_OPT_SGD}, (float[]){0.99f, -2.02f, 0.53f},
              (float[]){0.965f, -1.995f, 0.48f});
}

/* v1 = g1; v2 = .9·g1 + g2 = [.59, -.32, .73]; w2 = w1 - .05·v2.
 * PyTorch: 0.99000001, -2.01999998, 0.530000031 / 0.960500002, -2.00399995,
 * 0.493500024. */
Test(sgd, momentum)
{
    two_steps((nb_optimizer_opts){.kind = NB_OPT_SGD, .momentum = 0.9f},
              (float[]){0.99f, -2.02f, 0.53f}, (float[]){0.9605f, -2.004f, 0.4935f});
}

/* Steps g + μv: 1.9·g1, then g2 + .9·[.59, -.32, .73] = [1.031, -.788, 1.657].
 * PyTorch (nesterov=True): 0.981000006, -2.03800011, 0.556999981 /
 * 0.929449975, -1.99860013, 0.474149972. */
Test(sgd, nesterov)
{
    two_steps((nb_optimizer_opts){.kind = NB_OPT_SGD, .momentum = 0.9f, .nesterov = true},
              (float[]){0.981f, -2.038f, 0.557f}, (float[]){0.92945f, -1.9986f, 0.47415f});
}

/* g + .1·w: [.2, 0, -.25] → w1 = [.98, -2, .525]; then [.598, -.7, 1.0525]. */
Test(sgd, weight_decay)
{
    two_steps((nb_optimizer_opts){.kind = NB_OPT_SGD, .weight_decay = 0.1f},
              (float[]){0.98f, -2.0f, 0.525f}, (float[]){0.9501f, -1.965f, 0.472375f});
}

/* ---------------------------------------------------------------- Adam and RMSprop */

/* The first Adam step moves each weight by lr·sign(g) (bias correction
 * makes m̂/√v̂ = g/|g|); the second is bias-corrected with t = 2.
 * PyTorch: 0.899999976, -2.0999999, 0.599999964 / 0.85694766, -2.0778892,
 * 0.573983371. */
Test(adam, two_steps_defaults)
{
    two_steps(nb_optimizer_defaults(NB_OPT_ADAM), (float[]){0.9f, -2.1f, 0.6f},
              (float[]){0.856947698f, -2.07788923f, 0.573983409f});
}

/* betas (.8, .99) and L2 weight decay .1 (g1 + .1·w0 has a zero, which
 * leaves that weight where it is). PyTorch: 0.899999976, -2, 0.600000024 /
 * 0.852800488, -1.9608146, 0.569048882. */
Test(adam, betas_and_weight_decay)
{
    two_steps((nb_optimizer_opts){.kind = NB_OPT_ADAM, .beta1 = 0.8f, .beta2 = 0.99f,
                                  .eps = 1e-8f, .weight_decay = 0.1f},
              (float[]){0.9f, -2.0f, 0.6f}, (float[]){0.852800506f, -1.96081462f, 0.569048882f});
}

/* sq = .01·g² first, so the first step is lr·g/(|g|/10) = 10·lr·sign(g).
 * PyTorch: 9.5e-07, -2.99999952, 1.49999976 / -0.490383595, -2.53544068,
 * 1.02088881. */
Test(rmsprop, plain)
{
    two_steps(nb_optimizer_defaults(NB_OPT_RMSPROP), (float[]){9.99999e-07f, -2.9999995f,
                                                                    1.49999967f},
              (float[]){-0.490383555f, -2.53544074f, 1.02088873f});
}

/* PyTorch (momentum 0.9): 9.4e-07, -2.99999952, 1.49999976 / -0.940383196,
 * -2.98544049, 1.47088861. */
Test(rmsprop, momentum)
{
    two_steps(t_optimizer(NB_OPT_RMSPROP, 0, 0.9f),
              (float[]){9.99999e-07f, -2.9999995f, 1.49999967f},
              (float[]){-0.940383105f, -2.98544052f, 1.47088858f});
}

/* ---------------------------------------------------------------- trajectories vs PyTorch */

/*
 * 20 steps on f(w) = ½ Σ c_i (w_i - t_i)², c = [1, 4, .25], t = [.5, -1, 2],
 * gradient c ⊙ (w - t) in float32, lr 0.05, from w0. Expected values from
 * PyTorch 1.13 (Debian python3-torch), this script:
 *     c = torch.tensor([1., 4., .25]); t = torch.tensor([.5, -1., 2.])
 *     w = torch.tensor([1., -2., .5], requires_grad=True)
 *     opt = torch.optim.SGD([w], lr=0.05, momentum=0.9)   # or Adam([w], lr=0.05)
 *     for _ in range(20):
 *         w.grad = c * (w.detach() - t); opt.step()
 */
static void trajectory(nb_optimizer_opts o, const float want[3])
{
    const float c[3] = {1.0f, 4.0f, 0.25f}, t[3] = {0.5f, -1.0f, 2.0f};
    nb_graph *g = nb_graph_new();
    nb_node *w = nb_param(g, "w", NB_SHAPE(3), W0);
    nb_optimizer *opt = nb_optimizer_new(o, &w, 1, NULL);
    cr_assert_not_null(opt);
    float grad[3];
    for (int s = 0; s < 20; s++) {
        const float *x = nb_param_data(w);
        for (int i = 0; i < 3; i++)
            grad[i] = c[i] * (x[i] - t[i]);
        nb_optimizer_step(opt, grad, 0.05f);
    }
    t_assert_close(nb_param_data(w), want, 3, 1e-5f);
    nb_optimizer_free(opt);
    nb_graph_free(g);
}

Test(torch_reference, sgd_momentum_20_steps)
{
    trajectory((nb_optimizer_opts){.kind = NB_OPT_SGD, .momentum = 0.9f},
               (float[]){0.439434737f, -0.650747538f, 2.02557063f});
}

Test(torch_reference, adam_20_steps)
{
    trajectory(nb_optimizer_defaults(NB_OPT_ADAM),
               (float[]){0.364423007f, -1.11122644f, 1.44031966f});
}

/* ---------------------------------------------------------------- bookkeeping */

/* Sizes add up over the list; the gradient buffer is read at each
 * parameter's offset; a frozen parameter and its slots stay untouched. */
Test(optimizer, frozen_params_and_offsets)
{
    nb_graph *g = nb_graph_new();
    float a0[6] = {1, 2, 3, 4, 5, 6}, b0[4] = {1, 1, 1, 1};
    nb_node *p[2] = {nb_param(g, "a", NB_SHAPE(2, 3), a0), nb_param(g, "b", NB_SHAPE(4), b0)};
    nb_param_set_trainable(p[0], false);
    nb_optimizer *opt = nb_optimizer_new((nb_optimizer_opts){.kind = NB_OPT_SGD, .momentum = 0.5f},
                                         p, 2, NULL);
    cr_assert_not_null(opt);
    cr_assert_eq(nb_optimizer_size(opt), 10);
    float grads[10];
    for (int i = 0; i < 10; i++)
        grads[i] = (float)(i + 1);
    nb_optimizer_step(opt, grads, 0.1f);
    t_assert_close(nb_param_data(p[0]), a0, 6, 0);
    t_assert_close(nb_param_data(p[1]), (float[]){0.3f, 0.2f, 0.1f, 0.0f}, 4, 1e-6f);
    const float *v = nb_optimizer_slot(opt, 0);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(v[i], 0.0f, "frozen slot %d changed", i);
    t_assert_close(v + 6, grads + 6, 4, 0);
    /* Unfreezing takes effect at the next step. */
    nb_param_set_trainable(p[0], true);
    nb_optimizer_step(opt, grads, 0.1f);
    cr_assert_float_eq(nb_param_data(p[0])[0], 0.9f, 1e-6f);
    nb_optimizer_free(opt);
    nb_graph_free(g);
}

/* After one Adam step slot 0 holds (1-β1)g and slot 1 (1-β2)g²; the step
 * count is writable (checkpoints restore it); only slots 0 and 1 exist. */
Test(optimizer, slots_and_steps)
{
    nb_graph *g = nb_graph_new();
    nb_node *w = nb_param(g, "w", NB_SHAPE(3), W0);
    nb_optimizer *opt = nb_optimizer_new(nb_optimizer_defaults(NB_OPT_ADAM), &w, 1, NULL);
    nb_optimizer_step(opt, G1, 0.1f);
    float m[3], v[3];
    for (int i = 0; i < 3; i++)
        m[i] = (1 - 0.9f) * G1[i], v[i] = (1 - 0.999f) * G1[i] * G1[i];
    t_assert_close(nb_optimizer_slot(opt, 0), m, 3, 1e-7f);
    t_assert_close(nb_optimizer_slot(opt, 1), v, 3, 1e-9f);
    cr_assert_null(nb_optimizer_slot(opt, 2));
    cr_assert_null(nb_optimizer_slot(opt, -1));
    cr_assert_eq(*nb_optimizer_steps(opt), 1);
    *nb_optimizer_steps(opt) = 41;
    nb_optimizer_step(opt, G1, 0.1f);
    cr_assert_eq(*nb_optimizer_steps(opt), 42);
    nb_optimizer_free(opt);
    nb_graph_free(g);
}

/* SGD with momentum on a gradient that turns to zero: the velocity decays
 * as μ^t and is flushed to exactly 0 once its step lr·v would be smaller
 * than FLT_MIN, never lingering as a subnormal (where arithmetic is many
 * times slower); until then it follows the rule, and the weight stays put
 * after the flush. */
Test(sgd, decayed_velocity_flushes_to_zero)
{
    nb_graph *g = nb_graph_new();
    nb_node *w = nb_param(g, "w", NB_SHAPE(3), W0);
    nb_optimizer_opts o = nb_optimizer_defaults(NB_OPT_SGD);
    o.momentum = 0.9f;
    nb_optimizer *opt = nb_optimizer_new(o, &w, 1, NULL);
    const float zero[3] = {0};
    nb_optimizer_step(opt, G1, 0.01f);
    float want = G1[0];
    int s = 1;
    for (; s < 2000 && nb_optimizer_slot(opt, 0)[0] != 0; s++) {
        nb_optimizer_step(opt, zero, 0.01f);
        want = 0.9f * want;
        float got = nb_optimizer_slot(opt, 0)[0];
        cr_assert(got == want || (got == 0 && fabsf(0.01f * want) < FLT_MIN),
                  "step %d: velocity %g, the rule gives %g", s, (double)got, (double)want);
    }
    cr_assert_lt(s, 2000, "the velocity never reached 0");
    const float w_flushed = nb_param_data(w)[0];
    for (int i = 0; i < 100; i++, s++)
        nb_optimizer_step(opt, zero, 0.01f);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(nb_optimizer_slot(opt, 0)[i], 0.0f, "velocity %d: %g", i,
                     (double)nb_optimizer_slot(opt, 0)[i]);
    cr_assert_eq(nb_param_data(w)[0], w_flushed);
    nb_optimizer_free(opt);
    nb_graph_free(g);
}

/* Parameter values may move when later parameters are made: each step
 * looks them up again. */
Test(optimizer, params_made_after_creation)
{
    nb_graph *g = nb_graph_new();
    nb_node *w = nb_param(g, "w", NB_SHAPE(3), W0);
    nb_optimizer *opt = nb_optimizer_new((nb_optimizer_opts){.kind = NB_OPT_SGD}, &w, 1, NULL);
    for (int i = 0; i < 50; i++)
        nb_param(g, NULL, NB_SHAPE(100), NULL);
    nb_optimizer_step(opt, G1, 1.0f);
    t_assert_close(nb_param_data(w), (float[]){0.9f, -2.2f, 0.8f}, 3, 1e-6f);
    nb_optimizer_free(opt);
    nb_graph_free(g);
}

/* The stamp moves when a parameter's values move (placed, or the graph's
 * buffer grown by later parameters) or its trainable flag changes, and
 * not when the flag is set to what it was. */
Test(optimizer, param_stamp)
{
    nb_graph *g = nb_graph_new();
    nb_node *w = nb_param(g, "w", NB_SHAPE(3), W0);
    cr_assert_eq(nb_graph_param_stamp(NULL), 0);
    unsigned s = nb_graph_param_stamp(g);
    nb_param_set_trainable(w, true);
    cr_assert_eq(nb_graph_param_stamp(g), s, "an unchanged flag moved the stamp");
    nb_param_set_trainable(w, false);
    cr_assert_neq(nb_graph_param_stamp(g), s, "freezing kept the stamp");
    s = nb_graph_param_stamp(g);
    nb_param_set_trainable(w, true);
    cr_assert_neq(nb_graph_param_stamp(g), s, "unfreezing kept the stamp");
    s = nb_graph_param_stamp(g);
    float buf[3] = {0};
    nb_param_place(w, buf);
    cr_assert_neq(nb_graph_param_stamp(g), s, "placing kept the stamp");
    nb_param_place(w, NULL);
    s = nb_graph_param_stamp(g);
    const float *was = nb_param_data(w);
    for (int i = 0; i < 50; i++) /* grows the buffer, which may or may not move */
        nb_param(g, NULL, NB_SHAPE(100), NULL);
    if (nb_param_data(w) != was)
        cr_assert_neq(nb_graph_param_stamp(g), s, "a move of the buffer kept the stamp");
    else
        cr_assert_eq(nb_graph_param_stamp(g), s, "the buffer stayed but the stamp moved");
    nb_graph_free(g);
}

/* Refuses into err, naming what is wrong. */
static void refused(nb_optimizer_opts o, nb_node *const *params, int n, const char *want)
{
    nb_error err = {0};
    cr_assert_null(nb_optimizer_new(o, params, n, &err), "accepted; wanted \"%s\"", want);
    cr_assert_eq(err.status, NB_ERR_ARG, "%s", err.message);
    cr_assert(strstr(err.message, want), "\"%s\" does not say \"%s\"", err.message, want);
}

/* NULL or empty lists, a node that is not a parameter, and options that
 * make no sense give NULL with the reason in err (and NULL err is fine);
 * NULL arguments elsewhere are harmless. */
Test(optimizer, refusals)
{
    nb_graph *g = nb_graph_new();
    nb_node *w = nb_param(g, "w", NB_SHAPE(3), W0), *x = nb_input(g, "x", NB_SHAPE(3));
    nb_optimizer_opts sgd = {.kind = NB_OPT_SGD}, o;
    refused(sgd, NULL, 1, "no parameters");
    refused(sgd, &w, 0, "no parameters");
    refused(sgd, (nb_node *[]){w, x}, 2, "entry 1 of the list (x) is not a parameter");
    refused(sgd, (nb_node *[]){w, NULL}, 2, "entry 1 of the list (NULL)");
    refused((nb_optimizer_opts){.kind = NB_OPT_SGD, .nesterov = true}, &w, 1,
            "optimizer sgd: nesterov needs sgd with a momentum > 0");
    refused((nb_optimizer_opts){.kind = NB_OPT_SGD, .momentum = -1}, &w, 1,
            "optimizer sgd: momentum -1 is negative");
    o = nb_optimizer_defaults(NB_OPT_ADAM);
    o.beta1 = 1;
    refused(o, &w, 1, "optimizer adam: beta1 1 is outside [0, 1)");
    o = nb_optimizer_defaults(NB_OPT_ADAM);
    o.beta2 = 1.5f;
    refused(o, &w, 1, "optimizer adam: beta2 1.5 is outside [0, 1)");
    o = nb_optimizer_defaults(NB_OPT_RMSPROP);
    o.alpha = -0.5f;
    refused(o, &w, 1, "optimizer rmsprop: alpha -0.5 is outside [0, 1)");
    refused((nb_optimizer_opts){.kind = NB_OPT_RMSPROP, .eps = -1}, &w, 1,
            "optimizer rmsprop: eps -1 must be > 0");
    /* A struct that never had its defaults is refused, pointing at them. */
    refused((nb_optimizer_opts){.kind = NB_OPT_ADAM, .lr = 0.001f}, &w, 1,
            "eps 0 must be > 0 (start from nb_optimizer_defaults()");
    refused((nb_optimizer_opts){.kind = (nb_optimizer_kind)9}, &w, 1, "kind 9 is not");
    refused((nb_optimizer_opts){.kind = NB_OPT_SGD, .weight_decay = -1}, &w, 1,
            "weight_decay -1 is negative");
    cr_assert_null(nb_optimizer_new(sgd, &w, 0, NULL));
    cr_assert_eq(nb_optimizer_size(NULL), 0);
    cr_assert_null(nb_optimizer_slot(NULL, 0));
    cr_assert_null(nb_optimizer_steps(NULL));
    nb_optimizer_step(NULL, G1, 0.1f);
    nb_optimizer_free(NULL);
    nb_graph_free(g);
}

/* The defaults, stated once: PyTorch's for Adam and RMSprop, nabla's
 * learning rates. */
Test(optimizer, defaults)
{
    nb_optimizer_opts a = nb_optimizer_defaults(NB_OPT_ADAM);
    nb_optimizer_opts r = nb_optimizer_defaults(NB_OPT_RMSPROP);
    nb_optimizer_opts s = nb_optimizer_defaults(NB_OPT_SGD);
    cr_assert(a.kind == NB_OPT_ADAM && a.lr == 0.001f && a.beta1 == 0.9f && a.beta2 == 0.999f &&
              a.eps == 1e-8f && a.momentum == 0 && a.weight_decay == 0);
    cr_assert(r.kind == NB_OPT_RMSPROP && r.lr == 0.001f && r.alpha == 0.99f && r.eps == 1e-8f);
    cr_assert(s.kind == NB_OPT_SGD && s.lr == 0.01f && s.momentum == 0 && !s.nesterov);
}

/* beta1 = 0 is taken as given, not as "the default": m is the last
 * gradient itself (slot 0 holds g2 exactly after the second step, where
 * beta1 0.9 would hold .09·g1 + .1·g2). PyTorch, Adam(betas=(0, 0.999)):
 * 0.899999976, -2.0999999, 0.599999964 / 0.830678463, -2.0343585,
 * 0.532285571. */
Test(adam, beta1_zero_has_no_momentum)
{
    nb_optimizer_opts o = nb_optimizer_defaults(NB_OPT_ADAM);
    o.beta1 = 0;
    nb_graph *g = nb_graph_new();
    nb_node *w = nb_param(g, "w", NB_SHAPE(3), W0);
    nb_optimizer *opt = nb_optimizer_new(o, &w, 1, NULL);
    cr_assert_not_null(opt);
    nb_optimizer_step(opt, G1, 0.1f);
    t_assert_close(nb_param_data(w), (float[]){0.9f, -2.1f, 0.6f}, 3, 2e-6f);
    nb_optimizer_step(opt, G2, 0.05f);
    t_assert_close(nb_param_data(w), (float[]){0.830678463f, -2.0343585f, 0.532285571f}, 3, 2e-6f);
    t_assert_close(nb_optimizer_slot(opt, 0), G2, 3, 0);
    nb_optimizer_free(opt);
    nb_graph_free(g);
}

/* Training a tiny linear model through the graph: Adam drives the MSE of
 * y = x·w down by orders of magnitude. */
Test(optimizer, trains_through_the_graph)
{
    nb_graph *g = nb_graph_new();
    float xs[8] = {1, 0, 0, 1, 1, 1, -1, 2}, ys[4] = {2, -1, 1, -4};
    nb_node *x = nb_constant(g, NB_SHAPE(4, 2), xs), *y = nb_constant(g, NB_SHAPE(4, 1), ys);
    nb_node *w = nb_param(g, "w", NB_SHAPE(2, 1), NULL), *dw;
    nb_node *loss = nb_mse_loss(g, nb_matmul(g, x, w, false, false), y);
    cr_assert_eq(nb_grad(g, loss, &w, 1, &dw), NB_OK, "%s", nb_graph_error(g));
    nb_node *outs[2] = {loss, dw};
    nb_runtime *rt = nb_runtime_new(g, outs, 2);
    nb_optimizer *opt = nb_optimizer_new(nb_optimizer_defaults(NB_OPT_ADAM), &w, 1, NULL);
    cr_assert(rt && opt);
    double first = 0, last = 0;
    for (int s = 0; s < 300; s++) {
        cr_assert_eq(nb_runtime_run(rt), NB_OK);
        last = nb_runtime_value(rt, loss)[0];
        first = s == 0 ? last : first;
        nb_optimizer_step(opt, nb_runtime_value(rt, dw), 0.05f);
    }
    cr_assert_lt(last, first * 1e-3, "loss %g → %g", first, last);
    t_assert_close(nb_param_data(w), (float[]){2, -1}, 2, 1e-2f);
    nb_optimizer_free(opt);
    nb_runtime_free(rt);
    nb_graph_free(g);
}

/* ---------------------------------------------------------------- clipping */

Test(clip, scales_down_to_max_norm)
{
    float g[2] = {3, 4};
    cr_assert_float_eq(nb_clip_grad_norm(g, 2, 1.0), 5.0, 1e-12);
    t_assert_close(g, (float[]){0.6f, 0.8f}, 2, 1e-7f);
}

Test(clip, leaves_small_norms_and_zero_max)
{
    float g[3] = {1, 2, 2};
    cr_assert_float_eq(nb_clip_grad_norm(g, 3, 10.0), 3.0, 1e-12);
    t_assert_close(g, (float[]){1, 2, 2}, 3, 0);
    cr_assert_float_eq(nb_clip_grad_norm(g, 3, 0.0), 3.0, 1e-12);
    t_assert_close(g, (float[]){1, 2, 2}, 3, 0);
    cr_assert_float_eq(nb_clip_grad_norm(g, 3, 3.0), 3.0, 1e-12);
    t_assert_close(g, (float[]){1, 2, 2}, 3, 0);
    cr_assert_eq(nb_clip_grad_norm(NULL, 3, 1.0), 0.0);
    cr_assert_eq(nb_clip_grad_norm(g, 0, 1.0), 0.0);
}

/* The norm is summed in double: 1e20² would overflow a float sum. */
Test(clip, large_values_and_non_finite)
{
    float g[2] = {3e20f, 4e20f};
    cr_assert_float_eq(nb_clip_grad_norm(g, 2, 1.0) / 5e20, 1.0, 1e-6);
    t_assert_close(g, (float[]){0.6f, 0.8f}, 2, 1e-6f);
    float h[2] = {INFINITY, 1};
    cr_assert(isinf(nb_clip_grad_norm(h, 2, 1.0)));
    cr_assert(isinf(h[0]) && h[1] == 1.0f, "a non-finite norm leaves the buffer alone");
}

/* ---------------------------------------------------------------- schedules */

Test(schedule, constant)
{
    nb_schedule s = {.kind = NB_SCHEDULE_CONSTANT};
    cr_assert_eq(nb_schedule_lr(s, 0.1f, 0), 0.1f);
    cr_assert_eq(nb_schedule_lr(s, 0.1f, 123456), 0.1f);
}

Test(schedule, step)
{
    nb_schedule s = {.kind = NB_SCHEDULE_STEP, .every = 10, .gamma = 0.5f};
    cr_assert_float_eq(nb_schedule_lr(s, 0.1f, 0), 0.1f, 1e-9f);
    cr_assert_float_eq(nb_schedule_lr(s, 0.1f, 9), 0.1f, 1e-9f);
    cr_assert_float_eq(nb_schedule_lr(s, 0.1f, 10), 0.05f, 1e-9f);
    cr_assert_float_eq(nb_schedule_lr(s, 0.1f, 25), 0.025f, 1e-9f);
    s.gamma = 0; /* → 0.1 */
    cr_assert_float_eq(nb_schedule_lr(s, 1.0f, 20), 0.01f, 1e-8f);
    s.every = 0; /* never decays */
    cr_assert_eq(nb_schedule_lr(s, 1.0f, 1000), 1.0f);
}

/* lr·(r + (1-r)·½(1 + cos(π·step/total))), r = 0.1, total 100. */
Test(schedule, cosine)
{
    nb_schedule s = {.kind = NB_SCHEDULE_COSINE, .total = 100, .min_ratio = 0.1f};
    cr_assert_float_eq(nb_schedule_lr(s, 1.0f, 0), 1.0f, 1e-7f);
    cr_assert_float_eq(nb_schedule_lr(s, 1.0f, 25), 0.1f + 0.45f * (1 + 0.70710678f), 1e-6f);
    cr_assert_float_eq(nb_schedule_lr(s, 1.0f, 50), 0.55f, 1e-6f);
    cr_assert_float_eq(nb_schedule_lr(s, 1.0f, 100), 0.1f, 1e-7f);
    cr_assert_float_eq(nb_schedule_lr(s, 1.0f, 500), 0.1f, 1e-7f);
    s.min_ratio = 0;
    cr_assert_float_eq(nb_schedule_lr(s, 2.0f, 100), 0.0f, 1e-7f);
    s.total = 0; /* constant */
    cr_assert_eq(nb_schedule_lr(s, 2.0f, 50), 2.0f);
}

/* ---------------------------------------------------------------- random numbers */

#define DRAWS 100000

Test(rng, same_seed_same_sequence)
{
    nb_rng a = nb_rng_seed(7), b = nb_rng_seed(7), c = nb_rng_seed(8);
    int differ = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = nb_rng_next(&a), y = nb_rng_next(&b), z = nb_rng_next(&c);
        cr_assert_eq(x, y, "draw %d", i);
        differ += x != z;
    }
    cr_assert_geq(differ, 99);
    /* A copied state continues identically: the generator is a plain value. */
    nb_rng d = a;
    cr_assert_eq(nb_rng_next(&a), nb_rng_next(&d));
}

Test(rng, uniform_moments)
{
    nb_rng r = nb_rng_seed(1);
    double s = 0, ss = 0;
    for (int i = 0; i < DRAWS; i++) {
        float u = nb_rng_uniform(&r);
        cr_assert(u >= 0.0f && u < 1.0f, "draw %d = %g", i, (double)u);
        s += u, ss += (double)u * u;
    }
    double mean = s / DRAWS, var = ss / DRAWS - mean * mean;
    cr_assert_float_eq(mean, 0.5, 0.005);       /* σ of the mean ≈ 0.0009 */
    cr_assert_float_eq(var, 1.0 / 12, 0.002);
}

Test(rng, normal_moments)
{
    nb_rng r = nb_rng_seed(2);
    double s = 0, ss = 0;
    int inside = 0;
    for (int i = 0; i < DRAWS; i++) {
        float z = nb_rng_normal(&r);
        cr_assert(isfinite(z));
        s += z, ss += (double)z * z;
        inside += fabsf(z) < 1.0f;
    }
    double mean = s / DRAWS, var = ss / DRAWS - mean * mean;
    cr_assert_float_eq(mean, 0.0, 0.02);        /* σ of the mean ≈ 0.003 */
    cr_assert_float_eq(var, 1.0, 0.03);         /* σ of the variance ≈ 0.0045 */
    cr_assert_float_eq(inside / (double)DRAWS, 0.6827, 0.01);
}

Test(rng, below_in_range_and_even)
{
    nb_rng r = nb_rng_seed(3);
    int count[7] = {0};
    for (int i = 0; i < 70000; i++) {
        uint64_t k = nb_rng_below(&r, 7);
        cr_assert_lt(k, 7);
        count[k]++;
    }
    for (int k = 0; k < 7; k++)   /* σ ≈ 93 */
        cr_assert(abs(count[k] - 10000) < 500, "value %d drawn %d times", k, count[k]);
    cr_assert_eq(nb_rng_below(&r, 1), 0);
    uint64_t big = (UINT64_C(1) << 63) + 12345;
    for (int i = 0; i < 1000; i++)
        cr_assert_lt(nb_rng_below(&r, big), big);
}

Test(rng, shuffle_is_a_permutation)
{
    enum { N = 100 };
    int64_t a[N], b[N];
    for (int i = 0; i < N; i++)
        a[i] = b[i] = i;
    nb_rng r1 = nb_rng_seed(4), r2 = nb_rng_seed(4);
    nb_rng_shuffle(&r1, a, N);
    nb_rng_shuffle(&r2, b, N);
    cr_assert_arr_eq(a, b, sizeof a, "same seed, same order");
    bool seen[N] = {false};
    int moved = 0;
    for (int i = 0; i < N; i++) {
        cr_assert(a[i] >= 0 && a[i] < N && !seen[a[i]], "index %d", i);
        seen[a[i]] = true;
        moved += a[i] != i;
    }
    cr_assert_gt(moved, N / 2);
    nb_rng_shuffle(&r1, a, 0);   /* empty and single lists are fine */
    nb_rng_shuffle(&r1, a, 1);
}

/* ---------------------------------------------------------------- initialisers */

static float *filled(nb_init init, int64_t n, int64_t fan_in, int64_t fan_out, uint64_t seed)
{
    float *x = malloc((size_t)n * sizeof *x);
    cr_assert_not_null(x);
    nb_rng r = nb_rng_seed(seed);
    nb_init_fill(init, x, n, fan_in, fan_out, &r);
    return x;
}

/* All values within [lo, hi) (skipped when lo > hi) and the sample
 * variance within 3% of var (σ of the estimate is under 1% at 100k). */
static void check_fill(nb_init init, int64_t fi, int64_t fo, float lo, float hi, double mean_want,
                       double var)
{
    float *x = filled(init, DRAWS, fi, fo, 5);
    double s = 0, ss = 0;
    for (int i = 0; i < DRAWS; i++) {
        if (lo <= hi)
            cr_assert(x[i] >= lo && x[i] < hi, "value %d = %g outside [%g, %g)", i, (double)x[i],
                      (double)lo, (double)hi);
        s += x[i], ss += (double)x[i] * x[i];
    }
    double mean = s / DRAWS, v = ss / DRAWS - mean * mean;
    cr_assert_float_eq(mean, mean_want, 0.02 * sqrt(var) + 1e-9, "mean %g", mean);
    cr_assert_float_eq(v / var, 1.0, 0.03, "variance %g, formula %g", v, var);
    free(x);
}

Test(init, zeros_and_constant_exact)
{
    float *z = filled((nb_init){.kind = NB_INIT_ZEROS}, 10, 1, 1, 1);
    float *c = filled((nb_init){.kind = NB_INIT_CONSTANT, .a = 0.25f}, 10, 1, 1, 1);
    for (int i = 0; i < 10; i++)
        cr_assert(z[i] == 0.0f && c[i] == 0.25f);
    free(z);
    free(c);
}

Test(init, uniform_and_normal)
{
    check_fill((nb_init){.kind = NB_INIT_UNIFORM, .a = -1, .b = 3}, 1, 1, -1, 3, 1.0, 16.0 / 12);
    check_fill((nb_init){.kind = NB_INIT_NORMAL, .a = 2, .b = 0.5f}, 1, 1, 1, 0, 2.0, 0.25);
}

/* fan_in 100, fan_out 50: Glorot l = √(6/150) = 0.2, variance l²/3 =
 * 2/150; He l = √(6/100), variance 2/100. */
Test(init, xavier_and_he)
{
    float lx = sqrtf(6.0f / 150), lh = sqrtf(6.0f / 100);
    check_fill((nb_init){.kind = NB_INIT_XAVIER_UNIFORM}, 100, 50, -lx, lx, 0, 2.0 / 150);
    check_fill((nb_init){.kind = NB_INIT_XAVIER_NORMAL}, 100, 50, 1, 0, 0, 2.0 / 150);
    check_fill((nb_init){.kind = NB_INIT_HE_UNIFORM}, 100, 50, -lh, lh, 0, 2.0 / 100);
    check_fill((nb_init){.kind = NB_INIT_HE_NORMAL}, 100, 50, 1, 0, 0, 2.0 / 100);
}

/* Same seed, same fill, bit for bit; the default is Glorot uniform. */
Test(init, deterministic)
{
    nb_init kinds[] = {{.kind = NB_INIT_UNIFORM, .a = 0, .b = 1}, {.kind = NB_INIT_HE_NORMAL},
                       {.kind = NB_INIT_XAVIER_UNIFORM}};
    for (int k = 0; k < 3; k++) {
        float *a = filled(kinds[k], 1000, 30, 20, 9), *b = filled(kinds[k], 1000, 30, 20, 9);
        float *c = filled(kinds[k], 1000, 30, 20, 10);
        cr_assert_arr_eq(a, b, 1000 * sizeof *a, "kind %d", k);
        cr_assert(memcmp(a, c, 1000 * sizeof *a) != 0, "another seed, another fill");
        free(a), free(b), free(c);
    }
    float *d = filled((nb_init){.kind = NB_INIT_DEFAULT}, 1000, 30, 20, 9);
    float *x = filled((nb_init){.kind = NB_INIT_XAVIER_UNIFORM}, 1000, 30, 20, 9);
    cr_assert_arr_eq(d, x, 1000 * sizeof *d);
    free(d), free(x);
}

/* Graphs seeded alike initialise their parameters alike. */
Test(init, graph_seed)
{
    float v[2][12];
    for (int k = 0; k < 2; k++) {
        nb_graph *g = nb_graph_new();
        nb_graph_seed(g, 77);
        nb_node *p = nb_param_init(g, "w", NB_SHAPE(3, 4), (nb_init){.kind = NB_INIT_HE_UNIFORM},
                                   3, 4);
        cr_assert_not_null(p, "%s", nb_graph_error(g));
        memcpy(v[k], nb_param_data(p), sizeof v[k]);
        nb_graph_free(g);
    }
    cr_assert_arr_eq(v[0], v[1], sizeof v[0]);
}
