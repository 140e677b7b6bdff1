/*
 * dist_regression.c — a training loop of one's own, spread over MPI ranks
 * with nabla's data-parallel calls (build with -Dmpi; run under mpirun):
 *
 *     mpirun -np 2 build/examples/dist_regression
 *
 * A linear model y = x·W + b (x [B,8], W [8,2]) learns from 96 noisy
 * examples by SGD with momentum, in global minibatches of B = 16. Every
 * rank makes the same data; rank r takes its part of each minibatch (16/N
 * examples, the first 16 mod N ranks one more) and builds the model at that
 * batch. Per step:
 *
 *     loss_r = mean over its b_r examples of ½|x·W + b − y|²
 *     g      = Σ_r (b_r / B) ∂loss_r/∂θ     nb_dist_allreduce_grads
 *     θ     -= step(g)                       nb_optimizer_step, alike everywhere
 *
 * so g is the gradient of the global minibatch's mean loss. Each rank
 * starts from weights of its own (seeded by its rank) to show that
 * nb_dist_broadcast_params gives every rank rank 0's.
 *
 * The example checks its claim: beside the spread run, every rank also
 * trains one model on the whole minibatches alone, from rank 0's start; the
 * two must end within 1e-5 (relative) of each other, and all ranks must
 * hold the same weights bit for bit. Exits 0 then, else 1 (on every rank:
 * the ranks agree through nb_dist_agree). Rank 0 alone prints.
 */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "nabla.h"

#define N_EX 96
#define IN 8
#define OUT 2
#define BATCH 16
#define EPOCHS 5

typedef struct model {
    nb_graph *g;
    nb_node *x, *y, *loss, *param[2], *grad[2];
    nb_runtime *rt;
    nb_optimizer *opt;
} model;

/* The model at batch b, its weights drawn from seed; false with err set. */
static bool model_build(model *m, int64_t b, uint64_t seed, nb_error *err)
{
    nb_graph *g = m->g = nb_graph_new();
    nb_rng r = nb_rng_seed(seed);
    float w[IN * OUT], bias[OUT] = {0};
    for (int i = 0; i < IN * OUT; i++)
        w[i] = 0.3f * nb_rng_normal(&r);
    m->x = nb_input(g, "x", NB_SHAPE(b, IN));
    m->y = nb_input(g, "y", NB_SHAPE(b, OUT));
    m->param[0] = nb_param(g, "W", NB_SHAPE(IN, OUT), w);
    m->param[1] = nb_param(g, "b", NB_SHAPE(OUT), bias);
    nb_node *d = nb_sub(g, nb_add(g, nb_matmul(g, m->x, m->param[0], false, false), m->param[1]),
                        m->y);
    m->loss = nb_mul(g, nb_scalar(g, 0.5f / (float)b), nb_sum(g, nb_mul(g, d, d), NULL, 0, false));
    if (nb_grad(g, m->loss, m->param, 2, m->grad) != NB_OK) {
        nb_error_set(err, nb_graph_status(g), "%s", nb_graph_error(g));
        return false;
    }
    nb_node *outs[] = {m->loss, m->grad[0], m->grad[1]};
    nb_optimizer_opts o = nb_optimizer_defaults(NB_OPT_SGD);
    o.lr = 0.05f;
    o.momentum = 0.9f;
    if (!(m->rt = nb_runtime_new(g, outs, 3))) {
        nb_error_set(err, nb_graph_status(g), "%s", nb_graph_error(g));
        return false;
    }
    return (m->opt = nb_optimizer_new(o, m->param, 2, err)) != NULL;
}

static void model_free(model *m)
{
    nb_optimizer_free(m->opt);
    nb_runtime_free(m->rt);
    nb_graph_free(m->g);
}

/* Forward and backward on rows [at, at + b) of x and y; the loss, or NAN. */
static double model_run(model *m, const float *x, const float *y, int at)
{
    if (nb_runtime_set_input(m->rt, m->x, x + at * IN) != NB_OK ||
        nb_runtime_set_input(m->rt, m->y, y + at * OUT) != NB_OK || nb_runtime_run(m->rt) != NB_OK)
        return NAN;
    return nb_runtime_value(m->rt, m->loss)[0];
}

/* The same data on every rank: y = x·W* + 1 + noise. */
static void make_data(float *x, float *y)
{
    nb_rng r = nb_rng_seed(7);
    for (int i = 0; i < N_EX; i++) {
        for (int k = 0; k < IN; k++)
            x[i * IN + k] = nb_rng_normal(&r);
        for (int o = 0; o < OUT; o++) {
            float v = 1.0f + 0.1f * nb_rng_normal(&r);
            for (int k = 0; k < IN; k++)
                v += x[i * IN + k] * (float)((k + o) % 3 - 1);
            y[i * OUT + o] = v;
        }
    }
}

/* Trains the spread model (its part of each minibatch) and the whole-batch
 * one side by side; returns the largest relative difference of their
 * weights at the end, or NAN when a run failed (err set). */
static double train(nb_dist *d, model *part, model *whole, int share_at, int share,
                    const float *x, const float *y, nb_error *err)
{
    float g[IN * OUT + OUT], g_whole[IN * OUT + OUT];
    double loss = NAN;
    for (int e = 0; e < EPOCHS; e++) {
        for (int at = 0; at < N_EX; at += BATCH) {
            /* a rank with no part (N > B) runs some rows and adds them times 0 */
            if (isnan(model_run(part, x, y, share ? at + share_at : at)) ||
                isnan(model_run(whole, x, y, at)))
                return nb_error_set(err, NB_ERR_STATE, "run: %s", nb_runtime_error(part->rt)), NAN;
            if (nb_dist_allreduce_grads(d, part->rt, part->grad, 2, (float)share / BATCH, g,
                                        err) != NB_OK ||
                nb_dist_allreduce_grads(NULL, whole->rt, whole->grad, 2, 1, g_whole, err) != NB_OK)
                return NAN;                    /* NULL: one process, the values end to end */
            nb_optimizer_step(part->opt, g, 0.05f);
            nb_optimizer_step(whole->opt, g_whole, 0.05f);
            loss = nb_runtime_value(whole->rt, whole->loss)[0];
        }
        if (nb_dist_rank(d) == 0)
            printf("epoch %d  loss %.6f\n", e + 1, loss);
    }
    double worst = 0;
    for (int p = 0; p < 2; p++) {
        const float *a = nb_param_data(part->param[p]), *b = nb_param_data(whole->param[p]);
        for (int64_t i = 0; i < nb_shape_numel(nb_node_shape(part->param[p])); i++)
            worst = fmax(worst, fabs(a[i] - b[i]) / fmax(fabs(b[i]), 1e-3));
    }
    return worst;
}

/* Every rank holds what rank 0 holds, bit for bit: 0 when so. */
static int differs_from_rank0(nb_dist *d, model *m)
{
    float w[IN * OUT + OUT], w0[IN * OUT + OUT];
    memcpy(w, nb_param_data(m->param[0]), sizeof(float) * IN * OUT);
    memcpy(w + IN * OUT, nb_param_data(m->param[1]), sizeof(float) * OUT);
    memcpy(w0, w, sizeof w);
    nb_dist_broadcast(d, w0, sizeof w0, NULL);
    return memcmp(w, w0, sizeof w) != 0;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm comm = MPI_COMM_WORLD; /* any communicator of the program's */
    nb_error err = {0};
    nb_dist *d = nb_dist_new(&comm, &err);
    int rank = nb_dist_rank(d), size = nb_dist_size(d), rc = 1;
    int share = BATCH / size + (rank < BATCH % size);
    int share_at = rank * (BATCH / size) + (rank < BATCH % size ? rank : BATCH % size);
    static float x[N_EX * IN], y[N_EX * OUT];
    make_data(x, y);
    model part = {0}, whole = {0};
    /* weights seeded by rank: only the broadcast makes them rank 0's */
    nb_status st = d && model_build(&part, share ? share : 1, 100 + (uint64_t)rank, &err) &&
                           model_build(&whole, BATCH, 100, &err)
                       ? NB_OK
                       : err.status;
    if (nb_dist_agree(d, st, &err) == NB_OK &&
        nb_dist_broadcast_params(d, part.param, 2, &err) == NB_OK) {
        double worst = train(d, &part, &whole, share_at, share, x, y, &err);
        st = isnan(worst) ? err.status : NB_OK;
        if (nb_dist_agree(d, st, &err) == NB_OK) {
            int apart = differs_from_rank0(d, &part);
            MPI_Allreduce(MPI_IN_PLACE, &apart, 1, MPI_INT, MPI_SUM, comm);
            rc = apart || !(worst <= 1e-5);
            if (rank == 0)
                printf("dist_regression: %d ranks, batch %d (%d on rank 0): weights %s on every "
                       "rank; max relative difference from one process %.2g (%s 1e-5)\n", size,
                       BATCH, share, apart ? "DIFFER" : "identical", worst,
                       worst <= 1e-5 ? "<=" : "NOT <=");
        }
    }
    if (rc && !d)
        fprintf(stderr, "dist_regression: %s\n", err.message);
    else if (rc && rank == 0 && err.message[0])
        fprintf(stderr, "dist_regression: %s\n", err.message);
    model_free(&part);
    model_free(&whole);
    nb_dist_free(d);
    MPI_Finalize();
    return rc;
}
