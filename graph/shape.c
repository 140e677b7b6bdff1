/*
 * shape.c — shape values: construction, counting, formatting, NumPy
 * broadcasting and the strides a broadcast read walks with.
 */
#include <stdio.h>
#include <string.h>

#include "graph_internal.h"

static bool rank_ok(nb_shape s)
{
    return s.rank >= 0 && s.rank <= NB_MAX_RANK;
}

/* A rank outside 0..NB_MAX_RANK is kept as given, with no dimensions, so
 * that the node made from it is refused naming that rank; cutting it to
 * NB_MAX_RANK would drop dimensions without a word. */
nb_shape nb_shape_make(int rank, const int64_t *dims)
{
    nb_shape s = {.rank = rank};
    if (!rank_ok(s))
        return s;
    for (int i = 0; i < s.rank; i++)
        s.dim[i] = dims[i];
    return s;
}

int64_t nb_shape_numel(nb_shape s)
{
    if (!rank_ok(s))
        return 0;
    int64_t n = 1;
    for (int i = 0; i < s.rank; i++)
        n *= s.dim[i];
    return n;
}

bool nb_shape_equal(nb_shape a, nb_shape b)
{
    if (a.rank != b.rank || !rank_ok(a))
        return false;
    for (int i = 0; i < a.rank; i++)
        if (a.dim[i] != b.dim[i])
            return false;
    return true;
}

char *nb_shape_format(nb_shape s, char *buf, size_t size)
{
    if (!size)
        return buf;
    if (!rank_ok(s)) {
        snprintf(buf, size, "[rank %d, not 0..%d]", s.rank, NB_MAX_RANK);
        return buf;
    }
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < s.rank && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, i ? ",%lld" : "%lld", (long long)s.dim[i]);
    if (at < size)
        snprintf(buf + at, size - at, "]");
    return buf;
}

int nb__axis(int axis, int rank)
{
    if (axis < 0)
        axis += rank;
    return axis >= 0 && axis < rank ? axis : -1;
}

bool nb__broadcast_shape(nb_shape a, nb_shape b, nb_shape *out)
{
    nb_shape r = {.rank = a.rank > b.rank ? a.rank : b.rank};
    for (int i = 0; i < r.rank; i++) {
        int ia = a.rank - r.rank + i, ib = b.rank - r.rank + i;
        int64_t da = ia >= 0 ? a.dim[ia] : 1, db = ib >= 0 ? b.dim[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return false;
        r.dim[i] = da == 1 ? db : da;
    }
    *out = r;
    return true;
}

void nb__broadcast_strides(nb_shape s, nb_shape out, int64_t *strides)
{
    int64_t stride = 1;
    for (int i = out.rank - 1; i >= 0; i--) {
        int is = s.rank - out.rank + i;
        int64_t d = is >= 0 ? s.dim[is] : 1;
        strides[i] = d == 1 && out.dim[i] != 1 ? 0 : stride;
        stride *= d;
    }
}
