/*
 * png.c — pictures through libpng's simplified API: what the lecture's
 * examples save (decision regions, filters, feature maps, filtered images).
 * Like every file nabla writes, a PNG goes to a temporary name beside the
 * target and is renamed into place.
 */
#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nabla.h"

nb_status nb_png_write(const char *path, int width, int height, int channels,
                       const uint8_t *pixels, nb_error *err)
{
    if (!path || !*path)
        return nb_error_set(err, NB_ERR_ARG, "png: no file name given");
    if (width < 1 || height < 1 || width > 65535 || height > 65535)
        return nb_error_set(err, NB_ERR_ARG, "%s: image size %dx%d (1 to 65535 each)", path, width, height);
    if (channels != 1 && channels != 3)
        return nb_error_set(err, NB_ERR_ARG, "%s: %d channels (1 grey or 3 RGB)", path, channels);
    if (!pixels)
        return nb_error_set(err, NB_ERR_ARG, "%s: no pixels (NULL)", path);
    size_t n = strlen(path) + 32;
    char *tmp = nb_malloc(n);
    if (!tmp)
        return nb_error_set(err, NB_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, n, "%s.tmp-%ld", path, (long)getpid());
    png_image image = {.version = PNG_IMAGE_VERSION, .width = (png_uint_32)width,
                       .height = (png_uint_32)height,
                       .format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB};
    nb_status st = NB_OK;
    if (!png_image_write_to_file(&image, tmp, 0, pixels, 0, NULL))
        st = nb_error_set(err, NB_ERR_ARG, "%s: cannot write: %s", path, image.message);
    else if (rename(tmp, path) != 0)
        st = nb_error_set(err, NB_ERR_ARG, "%s: cannot write: %s", path, strerror(errno));
    if (st != NB_OK)
        remove(tmp);
    png_image_free(&image);
    nb_free(tmp);
    return st;
}

nb_status nb_png_write_float(const char *path, int width, int height, const float *values,
                             float lo, float hi, nb_error *err)
{
    if (!values || width < 1 || height < 1)
        return nb_png_write(path, width, height, 1, NULL, err);
    if (!(hi > lo))
        return nb_error_set(err, NB_ERR_ARG, "%s: the range [%g, %g] is empty", path ? path : "png", lo, hi);
    size_t n = (size_t)width * (size_t)height;
    uint8_t *px = nb_malloc(n);
    if (!px)
        return nb_error_set(err, NB_ERR_NOMEM, "%s: out of memory", path ? path : "png");
    for (size_t i = 0; i < n; i++) {
        float v = (values[i] - lo) / (hi - lo);
        px[i] = (uint8_t)(v <= 0 ? 0 : v >= 1 ? 255 : v * 255.0f + 0.5f);
    }
    nb_status st = nb_png_write(path, width, height, 1, px, err);
    nb_free(px);
    return st;
}
