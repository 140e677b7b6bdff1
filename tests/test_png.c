/*
 * test_png.c — pictures: a grey and an RGB image written, their PNG header
 * read back byte by byte (signature, IHDR size, bit depth, colour type),
 * float scaling, and refusals with their messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

/* Reads the PNG signature and IHDR: width, height, bit depth, colour type. */
static void read_header(const char *path, uint32_t *w, uint32_t *h, int *depth, int *colour)
{
    unsigned char b[33];
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s was not written", path);
    cr_assert_eq(fread(b, 1, sizeof b, f), sizeof b);
    fclose(f);
    cr_assert(!memcmp(b, "\x89PNG\r\n\x1a\n", 8), "no PNG signature");
    cr_assert(!memcmp(b + 12, "IHDR", 4));
    *w = (uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19];
    *h = (uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23];
    *depth = b[24];
    *colour = b[25];
}

Test(png, grey_and_rgb_images)
{
    char dir[] = "/tmp/nabla-png-XXXXXX", path[64];
    cr_assert_not_null(mkdtemp(dir));
    uint8_t px[3 * 5 * 4] = {0};
    uint32_t w, h;
    int depth, colour;
    snprintf(path, sizeof path, "%s/grey.png", dir);
    cr_assert_eq(nb_png_write(path, 5, 4, 1, px, NULL), NB_OK);
    read_header(path, &w, &h, &depth, &colour);
    cr_assert(w == 5 && h == 4 && depth == 8 && colour == 0);
    remove(path);
    snprintf(path, sizeof path, "%s/rgb.png", dir);
    cr_assert_eq(nb_png_write(path, 5, 4, 3, px, NULL), NB_OK);
    read_header(path, &w, &h, &depth, &colour);
    cr_assert(w == 5 && h == 4 && depth == 8 && colour == 2);
    remove(path);
    float v[6] = {-1, 0, 0.5f, 1, 2, 0.25f};
    snprintf(path, sizeof path, "%s/float.png", dir);
    cr_assert_eq(nb_png_write_float(path, 3, 2, v, 0, 1, NULL), NB_OK);
    read_header(path, &w, &h, &depth, &colour);
    cr_assert(w == 3 && h == 2 && colour == 0);
    remove(path);
    cr_assert_eq(rmdir(dir), 0, "a temporary file was left behind");
}

Test(png, refusals_say_what_is_wrong)
{
    uint8_t px[4] = {0};
    nb_error err;
    cr_assert_eq(nb_png_write("/nonexistent/x.png", 2, 2, 1, px, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "/nonexistent/x.png: cannot write"), "%s", err.message);
    cr_assert_eq(nb_png_write("x.png", 0, 2, 1, px, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "image size 0x2"), "%s", err.message);
    cr_assert_eq(nb_png_write("x.png", 2, 2, 2, px, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "2 channels"), "%s", err.message);
    cr_assert_eq(nb_png_write_float("x.png", 2, 2, (float[4]){0}, 1, 1, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "range [1, 1] is empty"), "%s", err.message);
}
