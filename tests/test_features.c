/*
 * test_features.c — the optional libraries: nb_built_with agrees with the
 * build (NB_HAVE_* come from meson, as the library's do), and every call
 * that needs a library the build lacks refuses with NB_ERR_UNAVAILABLE and
 * "nabla was built without …", writing nothing.
 */
#include <string.h>
#include <unistd.h>

#include "helpers.h"

Test(features, built_with_agrees_with_the_build)
{
    cr_assert_eq(nb_built_with("hdf5"), NB_HAVE_HDF5);
    cr_assert_eq(nb_built_with("graphviz"), NB_HAVE_GRAPHVIZ);
    cr_assert_eq(nb_built_with("png"), NB_HAVE_PNG);
    cr_assert_eq(nb_built_with("mpi"), NB_HAVE_MPI);
    cr_assert_not(nb_built_with("blas"), "not an optional library");
    cr_assert_not(nb_built_with(NULL));
}

/* status UNAVAILABLE, the message, and no file at path. */
static void refused(nb_status st, const nb_error *err, const char *want, const char *path)
{
    cr_assert_eq(st, NB_ERR_UNAVAILABLE, "status %d: %s", (int)st, err->message);
    cr_assert(strstr(err->message, want), "\"%s\" does not say \"%s\"", err->message, want);
    cr_assert_eq(access(path, F_OK), -1, "%s was written", path);
}

static nb_status tiny(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 2));
    io->y = nb_input(g, "y", NB_SHAPE(batch, 1));
    io->output = nb_dense(g, io->x, (nb_dense_opts){.units = 1});
    io->loss = nb_mse_loss(g, io->output, io->y);
    return nb_graph_status(g);
}

Test(features, without_hdf5_files_are_refused_saying_so)
{
    if (NB_HAVE_HDF5)
        cr_skip_test("built with HDF5");
    const char *want = "nabla was built without HDF5: cannot read or write 'nf.h5'";
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(tiny, NULL, NB_SHAPE(2), 1, NULL, &err);
    cr_assert_not_null(t, "%s", err.message);
    nb_graph *g = nb_trainer_graph(t);
    refused(nb_weights_save(g, "nf.h5", NULL, &err), &err, want, "nf.h5");
    refused(nb_weights_load(g, "nf.h5", &err), &err, want, "nf.h5");
    refused(nb_checkpoint_save(t, "nf.h5", NULL, &err), &err, want, "nf.h5");
    refused(nb_checkpoint_load(t, "nf.h5", &err), &err, want, "nf.h5");
    refused(nb_trainer_save(t, "nf.h5", NULL, &err), &err, want, "nf.h5");
    cr_assert_null(nb_hdf5_dataset_load("nf.h5", NULL, NULL, &err));
    refused(err.status, &err, want, "nf.h5");
    cr_assert_null(nb_weights_model_yaml("nf.h5", &err));
    refused(err.status, &err, want, "nf.h5");
    refused(nb_hdf5_write("nf.h5", &(nb_array){"a", NB_SHAPE(1), (float[]){1}}, 1, &err), &err,
            want, "nf.h5");
    nb_trainer_free(t);
}

Test(features, without_graphviz_drawing_is_refused_saying_so)
{
    if (NB_HAVE_GRAPHVIZ)
        cr_skip_test("built with Graphviz");
    nb_graph *g = nb_graph_new();
    nb_node *x = nb_input(g, "x", NB_SHAPE(2));
    nb_error err = {0};
    refused(nb_dot_write(g, &x, 1, (nb_dot_opts){0}, "nf.svg", &err), &err,
            "nabla was built without Graphviz: cannot draw 'nf.svg'", "nf.svg");
    nb_graph_free(g);
}

Test(features, without_libpng_pictures_are_refused_saying_so)
{
    if (NB_HAVE_PNG)
        cr_skip_test("built with libpng");
    nb_error err = {0};
    refused(nb_png_write("nf.png", 1, 1, 1, (uint8_t[]){0}, &err), &err,
            "nabla was built without libpng: cannot write 'nf.png'", "nf.png");
    refused(nb_png_write_float("nf.png", 1, 1, (float[]){0}, 0, 1, &err), &err,
            "nabla was built without libpng: cannot write 'nf.png'", "nf.png");
}

Test(features, without_mpi_a_group_is_refused_saying_so_and_null_is_one_process)
{
    nb_error err = {0};
    if (!NB_HAVE_MPI) {
        cr_assert_null(nb_dist_new(NULL, &err));
        cr_assert_eq(err.status, NB_ERR_UNAVAILABLE);
        cr_assert(strstr(err.message, "nabla was built without MPI"), "%s", err.message);
    }
    /* No group: one process alone, in either build (no MPI call is made). */
    float v[2] = {1.5f, -2};
    cr_assert_eq(nb_dist_rank(NULL), 0);
    cr_assert_eq(nb_dist_size(NULL), 1);
    cr_assert_eq(nb_dist_allreduce(NULL, v, 2, &err), NB_OK);
    cr_assert(v[0] == 1.5f && v[1] == -2, "one process's sum is its own values");
    cr_assert_eq(nb_dist_broadcast(NULL, v, sizeof v, &err), NB_OK);
    nb_error e = {.status = NB_ERR_SHAPE, .message = "mine"};
    cr_assert_eq(nb_dist_agree(NULL, NB_ERR_SHAPE, &e), NB_ERR_SHAPE);
    cr_assert_str_eq(e.message, "mine");
    cr_assert_eq(nb_dist_get_stats(NULL).calls, 0);
}
