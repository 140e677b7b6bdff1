/*
 * init.c — weight initialisers: the classic schemes, each a fill from a
 * generator the caller passes.
 */
#include <math.h>

#include "graph_internal.h"

static void fill_uniform(float *x, int64_t n, float lo, float hi, nb_rng *rng)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * nb_rng_uniform(rng);
}

static void fill_normal(float *x, int64_t n, float mean, float std, nb_rng *rng)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = mean + std * nb_rng_normal(rng);
}

void nb_init_fill(nb_init init, float *x, int64_t n, int64_t fan_in, int64_t fan_out,
                  nb_rng *rng)
{
    double fi = fan_in > 0 ? (double)fan_in : 1, fo = fan_out > 0 ? (double)fan_out : 1;
    float l;
    switch (init.kind) {
    case NB_INIT_ZEROS:
    case NB_INIT_CONSTANT:
        for (int64_t i = 0; i < n; i++)
            x[i] = init.kind == NB_INIT_ZEROS ? 0.0f : init.a;
        break;
    case NB_INIT_UNIFORM:
        fill_uniform(x, n, init.a, init.b, rng);
        break;
    case NB_INIT_NORMAL:
        fill_normal(x, n, init.a, init.b, rng);
        break;
    case NB_INIT_XAVIER_NORMAL:
        fill_normal(x, n, 0, (float)sqrt(2.0 / (fi + fo)), rng);
        break;
    case NB_INIT_HE_UNIFORM:
        l = (float)sqrt(6.0 / fi);
        fill_uniform(x, n, -l, l, rng);
        break;
    case NB_INIT_HE_NORMAL:
        fill_normal(x, n, 0, (float)sqrt(2.0 / fi), rng);
        break;
    case NB_INIT_DEFAULT:
    case NB_INIT_XAVIER_UNIFORM:
    default:
        l = (float)sqrt(6.0 / (fi + fo));
        fill_uniform(x, n, -l, l, rng);
        break;
    }
}
