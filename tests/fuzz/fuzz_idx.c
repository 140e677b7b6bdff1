/*
 * fuzz_idx.c — IDX image and label files (MNIST, Fashion-MNIST), plain or
 * gzip. The input holds both files:
 *
 *     byte 0        flags (unused for now; seeds keep it 0 or 1)
 *     bytes 1–2     L, the labels file's length, little-endian
 *     L bytes       the labels file (fewer when the input ends first)
 *     the rest      the images file
 *
 * Both are written to temporary files and read by nb_idx_load (floats)
 * and nb_idx_load_u8 (bytes).
 *
 * Promises checked: every refusal carries a message; the two calls agree
 * (both refuse, with the same message, or both accept the same examples:
 * pixel b as b / 255 in both forms, labels below n_classes).
 */
#include <math.h>
#include <string.h>

#include "fuzz.h"

static void compare(const nb_dataset *f, const nb_dataset *b)
{
    if (f->n != b->n || !nb_shape_equal(f->shape, b->shape) || f->y_width != b->y_width ||
        f->n_classes != b->n_classes)
        fuzz_fail("nb_idx_load and nb_idx_load_u8 disagree on the data set's size");
    if (!f->x || !b->x_u8 || !f->y || !b->y)
        fuzz_fail("an IDX data set without its values");
    int64_t numel = f->n * nb_shape_numel(f->shape);
    for (int64_t i = 0; i < numel; i++)
        if (f->x[i] != (float)b->x_u8[i] / b->x_div)
            fuzz_fail("pixel %lld: %g as floats, %d / %g as bytes", (long long)i,
                      (double)f->x[i], b->x_u8[i], (double)b->x_div);
    for (int64_t i = 0; i < f->n; i++)
        if (f->y[i] != b->y[i] || !(f->y[i] >= 0 && f->y[i] < (float)f->n_classes))
            fuzz_fail("label %lld: %g and %g (%d classes)", (long long)i, (double)f->y[i],
                      (double)b->y[i], f->n_classes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t l = (size_t)data[1] | (size_t)data[2] << 8;
    if (l > size - 3)
        l = size - 3;
    const char *labels = fuzz_write_file(0, "-labels", data + 3, l);
    const char *images = fuzz_write_file(1, "-images", data + 3 + l, size - 3 - l);

    nb_error ef = {0}, eb = {0};
    nb_dataset *f = nb_idx_load(images, labels, &ef);
    nb_dataset *b = nb_idx_load_u8(images, labels, &eb);
    fuzz_require_error("nb_idx_load", f ? NB_OK : NB_ERR_ARG, &ef);
    fuzz_require_error("nb_idx_load_u8", b ? NB_OK : NB_ERR_ARG, &eb);
    if (!f != !b)
        fuzz_fail("nb_idx_load %s but nb_idx_load_u8 %s", f ? "accepted" : ef.message,
                  b ? "accepted" : eb.message);
    if (!f && strcmp(ef.message, eb.message) && ef.status != NB_ERR_NOMEM &&
        eb.status != NB_ERR_NOMEM)
        fuzz_fail("the two IDX loaders refuse differently: \"%s\" and \"%s\"", ef.message,
                  eb.message);
    if (f && b)
        compare(f, b);
    nb_dataset_free(f);
    nb_dataset_free(b);
    fuzz_remove_files();
    return 0;
}
