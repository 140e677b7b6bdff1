/*
 * features.c — which optional libraries this nabla was built with. The
 * build (meson_options.txt) defines NB_HAVE_HDF5, NB_HAVE_GRAPHVIZ,
 * NB_HAVE_PNG, NB_HAVE_MPI and NB_HAVE_ONNX to 1 or 0; the calls that need a missing one refuse with
 * "nabla was built without …".
 */
#include <string.h>

#include "nabla.h"

bool nb_built_with(const char *feature)
{
    if (!feature)
        return false;
    if (!strcmp(feature, "hdf5"))
        return NB_HAVE_HDF5;
    if (!strcmp(feature, "graphviz"))
        return NB_HAVE_GRAPHVIZ;
    if (!strcmp(feature, "png"))
        return NB_HAVE_PNG;
    if (!strcmp(feature, "mpi"))
        return NB_HAVE_MPI;
    if (!strcmp(feature, "onnx"))
        return NB_HAVE_ONNX;
    return false;
}
