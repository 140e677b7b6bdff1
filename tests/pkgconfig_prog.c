/*
 * pkgconfig_prog.c — a program built against the installed nabla, the way a
 * user builds one: `cc prog.c $(pkg-config --cflags --libs nabla)`. It builds
 * L = Σ x·w² for an input x and a parameter w, asks for dL/dw = 2·x·w, runs
 * both, and prints "ok" when the values are right (else what differs, and
 * exits 1). tests/pkgconfig_test.sh compiles and runs it.
 */
#include <stdio.h>

#include <nabla.h>

/* |a - b| small; no libm, so the link line needs nothing but nabla's. */
static int differs(float a, float b)
{
    return a - b > 1e-5f || b - a > 1e-5f;
}

int main(void)
{
    const float x_data[] = {1, 2}, w_init[] = {3, -1};
    const float want_loss = 1 * 9 + 2 * 1, want_grad[] = {2 * 1 * 3, 2 * 2 * -1};

    nb_graph *g = nb_graph_new();
    if (!g)
        return puts("nb_graph_new failed"), 1;
    nb_node *x = nb_input(g, "x", NB_SHAPE(2));
    nb_node *w = nb_param(g, "w", NB_SHAPE(2), w_init);
    nb_node *loss = nb_sum(g, nb_mul(g, x, nb_mul(g, w, w)), NULL, 0, false);
    nb_node *dw = NULL;
    nb_runtime *rt = NULL;
    if (nb_grad(g, loss, &w, 1, &dw) == NB_OK) {
        nb_node *out[] = {loss, dw};
        rt = nb_runtime_new(g, out, 2);
    }
    int rc = 1;
    if (!rt) {
        printf("building failed: %s\n", nb_graph_error(g));
    } else if (nb_runtime_set_input(rt, x, x_data) != NB_OK || nb_runtime_run(rt) != NB_OK) {
        printf("running failed: %s\n", nb_runtime_error(rt));
    } else {
        const float *l = nb_runtime_value(rt, loss), *d = nb_runtime_value(rt, dw);
        rc = differs(l[0], want_loss) || differs(d[0], want_grad[0]) ||
             differs(d[1], want_grad[1]);
        if (rc)
            printf("wrong: loss %g (want %g), dL/dw [%g, %g] (want [%g, %g])\n", l[0], want_loss,
                   d[0], d[1], want_grad[0], want_grad[1]);
        else
            printf("ok\n");
    }
    nb_runtime_free(rt);
    nb_graph_free(g);
    return rc;
}
