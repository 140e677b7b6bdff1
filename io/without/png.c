/*
 * without/png.c — pictures in a nabla built without libpng
 * (-Dpng=disabled, or libpng not found): both calls refuse with one
 * sentence saying so.
 */
#include "nabla.h"

static nb_status missing(const char *path, nb_error *err)
{
    return nb_error_set(err, NB_ERR_UNAVAILABLE, "nabla was built without libpng: cannot write "
                        "'%s' (rebuild with libpng installed)", path ? path : "(no file)");
}

nb_status nb_png_write(const char *path, int width, int height, int channels,
                       const uint8_t *pixels, nb_error *err)
{
    (void)width, (void)height, (void)channels, (void)pixels;
    return missing(path, err);
}

nb_status nb_png_write_float(const char *path, int width, int height, const float *values,
                             float lo, float hi, nb_error *err)
{
    (void)width, (void)height, (void)values, (void)lo, (void)hi;
    return missing(path, err);
}
