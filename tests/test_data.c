/*
 * test_data.c — datasets in memory (new, slice, free) and the IDX loader:
 * the committed Fashion-MNIST fixture (500 training and 200 test images
 * cut by scripts/make_fixture.py), plain and gzip files written here, and
 * every refusal with its message. Bad files are made by each test in its
 * own temporary directory (mkdtemp), removed afterwards. Gzip files are
 * written by hand (stored deflate blocks, CRC-32 computed here), so the
 * suite needs no zlib of its own and corrupts them byte-exactly.
 */
#include <dirent.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

/* ---------------------------------------------------------------- helpers */

static char tmp[256];

/* Each test runs in its own process: one temporary directory per test. */
static void tmp_init(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/nabla-data-XXXXXX", base && *base ? base : "/tmp");
    cr_assert_not_null(mkdtemp(tmp), "mkdtemp %s failed", tmp);
}

/* Removes every file the test wrote, then the directory. */
static void tmp_fini(void)
{
    DIR *d = opendir(tmp);
    if (!d)
        return;
    char p[600];
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", tmp, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(tmp);
}

/* The path of a file in the temporary directory (a static buffer per slot). */
static const char *tpath(const char *name)
{
    static char buf[4][600];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
    return buf[k];
}

static const char *write_file(const char *name, const void *bytes, size_t len)
{
    const char *p = tpath(name);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f, "cannot write %s", p);
    cr_assert_eq(fwrite(bytes, 1, len, f), len);
    fclose(f);
    return p;
}

/* An IDX header (magic, dims big-endian) followed by data, in buf;
 * returns the length. */
static size_t idx_bytes(unsigned char *buf, uint32_t magic, const uint32_t *dims, int rank,
                        const unsigned char *data, size_t len)
{
    size_t at = 0;
    for (int i = -1; i < rank; i++) {
        uint32_t v = i < 0 ? magic : dims[i];
        for (int b = 3; b >= 0; b--)
            buf[at++] = (unsigned char)(v >> (8 * b));
    }
    memcpy(buf + at, data, len);
    return at + len;
}

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    }
    return ~c;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int b = 0; b < 4; b++)
        p[b] = (unsigned char)(v >> (8 * b));
}

/* A gzip file holding data (< 64 KiB) in one stored deflate block; returns
 * the length written to out (len + 23 bytes). */
static size_t gzip_bytes(unsigned char *out, const unsigned char *data, size_t len)
{
    static const unsigned char head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    memcpy(out, head, 10);
    out[10] = 1; /* BFINAL, stored */
    out[11] = (unsigned char)len, out[12] = (unsigned char)(len >> 8);
    out[13] = (unsigned char)~len, out[14] = (unsigned char)(~len >> 8);
    memcpy(out + 15, data, len);
    put_le32(out + 15 + len, crc32_of(data, len));
    put_le32(out + 19 + len, (uint32_t)len);
    return len + 23;
}

/* Loads a pair expecting a refusal: asserts NULL, the status and that the
 * message holds every string of the NULL-terminated list. */
static void expect_refusal(const char *images, const char *labels, nb_status status, ...)
{
    nb_error err = {0};
    nb_dataset *ds = nb_idx_load(images, labels, &err);
    cr_assert_null(ds, "expected a refusal");
    cr_assert_eq(err.status, status, "status %d, expected %d: %s", err.status, status,
                 err.message);
    va_list ap;
    va_start(ap, status);
    for (const char *want; (want = va_arg(ap, const char *));)
        cr_assert(strstr(err.message, want), "message \"%s\" lacks \"%s\"", err.message, want);
    va_end(ap);
    cr_assert_null(nb_idx_load(images, labels, NULL), "a NULL error must refuse the same");
}

/* A valid small pair: 3 images 2×2 and labels 0, 4, 1. */
static const unsigned char px[12] = {0, 255, 51, 102, 1, 2, 3, 4, 254, 128, 0, 17};
static const unsigned char lb[3] = {0, 4, 1};

static const char *small_images(const char *name, bool gz)
{
    unsigned char raw[64], z[128];
    size_t n = idx_bytes(raw, 0x803, (uint32_t[]){3, 2, 2}, 3, px, sizeof px);
    return gz ? write_file(name, z, gzip_bytes(z, raw, n)) : write_file(name, raw, n);
}

static const char *small_labels(const char *name, bool gz)
{
    unsigned char raw[64], z[128];
    size_t n = idx_bytes(raw, 0x801, (uint32_t[]){3}, 1, lb, sizeof lb);
    return gz ? write_file(name, z, gzip_bytes(z, raw, n)) : write_file(name, raw, n);
}

static const char *fixture(const char *name)
{
    static char buf[4][600];
    static int k;
    const char *dir = getenv("NABLA_FIXTURES");
    cr_assert_not_null(dir, "NABLA_FIXTURES is not set");
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* The fixture file's bytes (malloc'd; caller frees). */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(*len);
    cr_assert_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

/* ---------------------------------------------------------------- datasets */

Test(data, new_dataset_is_zeroed_and_shaped)
{
    nb_error err = {0};
    nb_dataset *ds = nb_dataset_new(4, NB_SHAPE(2, 3), 2, &err);
    cr_assert_not_null(ds, "%s", err.message);
    cr_assert_eq(ds->n, 4);
    cr_assert(nb_shape_equal(ds->shape, NB_SHAPE(2, 3)));
    cr_assert_eq(ds->y_width, 2);
    cr_assert_eq(ds->n_classes, 0);
    for (int i = 0; i < 24; i++)
        cr_assert_eq(ds->x[i], 0.0f);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(ds->y[i], 0.0f);
    ds->x[23] = 1, ds->y[7] = 1; /* both buffers are writable to their ends */
    nb_dataset_free(ds);
    nb_dataset_free(NULL);

    nb_dataset *scalars = nb_dataset_new(3, NB_SCALAR, 1, NULL); /* rank-0 examples */
    cr_assert_not_null(scalars);
    scalars->x[2] = 5;
    nb_dataset_free(scalars);
}

Test(data, bad_datasets_are_refused)
{
    nb_error err = {0};
    cr_assert_null(nb_dataset_new(0, NB_SHAPE(2), 1, &err));
    cr_assert_eq(err.status, NB_ERR_ARG);
    cr_assert(strstr(err.message, "dataset: 0 examples (need at least 1)"), "%s", err.message);

    cr_assert_null(nb_dataset_new(-3, NB_SHAPE(2), 1, &err));
    cr_assert(strstr(err.message, "-3 examples"), "%s", err.message);

    cr_assert_null(nb_dataset_new(5, NB_SHAPE(2, 0, 3), 1, &err));
    cr_assert_eq(err.status, NB_ERR_SHAPE);
    cr_assert(strstr(err.message, "bad example shape: [2,0,3] has dimension 1 of size 0"), "%s",
              err.message);

    nb_shape deep = {.rank = NB_MAX_RANK};
    for (int i = 0; i < NB_MAX_RANK; i++)
        deep.dim[i] = 1;
    cr_assert_null(nb_dataset_new(5, deep, 1, &err));
    cr_assert(strstr(err.message, "rank 8 (an example has rank 0 to 7"), "%s", err.message);

    cr_assert_null(nb_dataset_new(5, NB_SHAPE(2), 0, &err));
    cr_assert_eq(err.status, NB_ERR_ARG);
    cr_assert(strstr(err.message, "y_width 0 (need at least 1)"), "%s", err.message);

    cr_assert_null(nb_dataset_new((int64_t)1 << 40, NB_SHAPE(1 << 30), 1, &err));
    cr_assert(strstr(err.message, "too many"), "%s", err.message);
    int64_t big = (int64_t)1 << 31;
    cr_assert_null(nb_dataset_new(1, NB_SHAPE(big, big, big), 1, &err));
    cr_assert(strstr(err.message, "holds too many values"), "%s", err.message);

    cr_assert_null(nb_dataset_new(0, NB_SHAPE(2), 1, NULL)); /* err may be NULL */
}

Test(data, slice_copies_a_range)
{
    nb_dataset *ds = nb_dataset_new(5, NB_SHAPE(2), 1, NULL);
    for (int i = 0; i < 10; i++)
        ds->x[i] = (float)i;
    for (int i = 0; i < 5; i++)
        ds->y[i] = (float)(i % 3);
    ds->n_classes = 3;
    nb_error err = {0};
    nb_dataset *s = nb_dataset_slice(ds, 1, 3, &err);
    cr_assert_not_null(s, "%s", err.message);
    cr_assert_eq(s->n, 3);
    cr_assert(nb_shape_equal(s->shape, NB_SHAPE(2)));
    cr_assert_eq(s->y_width, 1);
    cr_assert_eq(s->n_classes, 3);
    t_assert_close(s->x, (float[]){2, 3, 4, 5, 6, 7}, 6, 0);
    t_assert_close(s->y, (float[]){1, 2, 0}, 3, 0);
    s->x[0] = -1; /* a copy: the original is untouched */
    cr_assert_eq(ds->x[2], 2.0f);

    nb_dataset *all = nb_dataset_slice(ds, 0, 5, &err), *last = nb_dataset_slice(ds, 4, 1, &err);
    cr_assert(all && last, "%s", err.message);
    cr_assert_eq(last->x[1], 9.0f);
    cr_assert_eq(last->y[0], 1.0f);
    nb_dataset_free(all);
    nb_dataset_free(last);
    nb_dataset_free(s);
    nb_dataset_free(ds);
}

Test(data, bad_slices_are_refused)
{
    nb_dataset *ds = nb_dataset_new(5, NB_SHAPE(2), 1, NULL);
    nb_error err = {0};
    cr_assert_null(nb_dataset_slice(ds, 3, 3, &err));
    cr_assert_eq(err.status, NB_ERR_ARG);
    cr_assert(strstr(err.message, "dataset slice: 3 examples from index 3 are out of range for "
                                  "a dataset of 5"), "%s", err.message);
    cr_assert_null(nb_dataset_slice(ds, -1, 2, &err));
    cr_assert(strstr(err.message, "2 examples from index -1"), "%s", err.message);
    cr_assert_null(nb_dataset_slice(ds, 0, 0, &err));
    cr_assert(strstr(err.message, "0 examples from index 0"), "%s", err.message);
    cr_assert_null(nb_dataset_slice(ds, 5, 1, &err));
    cr_assert_null(nb_dataset_slice(ds, 1, INT64_MAX, &err));
    cr_assert_null(nb_dataset_slice(NULL, 0, 1, &err));
    cr_assert(strstr(err.message, "no dataset (NULL)"), "%s", err.message);
    cr_assert_null(nb_dataset_slice(ds, 9, 1, NULL));
    nb_dataset_free(ds);
}

/* ---------------------------------------------------------------- the fixture */

/* Pixel (r, c) of image i, as the byte the file holds. */
static int pixel(const nb_dataset *ds, int64_t i, int r, int c)
{
    return (int)lrintf(ds->x[i * 784 + r * 28 + c] * 255);
}

/* The values below were read from Debian's dataset-fashion-mnist files
 * with Python's gzip module. */
Test(data, fixture_train_split)
{
    nb_error err = {0};
    nb_dataset *ds = nb_idx_load(fixture("fmnist-train-images-idx3-ubyte.gz"),
                                 fixture("fmnist-train-labels-idx1-ubyte.gz"), &err);
    cr_assert_not_null(ds, "%s", err.message);
    cr_assert_eq(ds->n, 500);
    cr_assert(nb_shape_equal(ds->shape, NB_SHAPE(1, 28, 28)));
    cr_assert_eq(ds->y_width, 1);
    cr_assert_eq(ds->n_classes, 10);
    double sum = 0;
    for (int64_t i = 0; i < 500 * 784; i++) {
        cr_assert(ds->x[i] >= 0 && ds->x[i] <= 1, "pixel %lld = %g", (long long)i, ds->x[i]);
        sum += lrintf(ds->x[i] * 255);
    }
    cr_assert_eq((int64_t)sum, 28368245, "sum of pixel bytes %.0f", sum);
    for (int64_t i = 0; i < 500; i++)
        cr_assert(ds->y[i] >= 0 && ds->y[i] <= 9 && ds->y[i] == floorf(ds->y[i]));
    t_assert_close(ds->y, (float[]){9, 0, 0, 3, 0, 2, 7, 2, 5, 5}, 10, 0);
    cr_assert_eq(ds->y[499], 6.0f);
    cr_assert_float_eq(ds->x[14 * 28 + 14], 217 / 255.0f, 1e-7);
    cr_assert_eq(pixel(ds, 0, 3, 12), 1); /* image 0's first non-zero pixel, index 96 */
    cr_assert_eq(ds->x[95], 0.0f);
    cr_assert_eq(pixel(ds, 499, 13, 15), 230);
    nb_dataset_free(ds);
}

Test(data, fixture_test_split)
{
    nb_error err = {0};
    nb_dataset *ds = nb_idx_load(fixture("fmnist-test-images-idx3-ubyte.gz"),
                                 fixture("fmnist-test-labels-idx1-ubyte.gz"), &err);
    cr_assert_not_null(ds, "%s", err.message);
    cr_assert_eq(ds->n, 200);
    cr_assert(nb_shape_equal(ds->shape, NB_SHAPE(1, 28, 28)));
    cr_assert_eq(ds->n_classes, 10);
    double sum = 0;
    for (int64_t i = 0; i < 200 * 784; i++)
        sum += lrintf(ds->x[i] * 255);
    cr_assert_eq((int64_t)sum, 11795585, "sum of pixel bytes %.0f", sum);
    t_assert_close(ds->y, (float[]){9, 2, 1, 1, 6, 1, 4, 6, 5, 7}, 10, 0);
    cr_assert_eq(ds->y[199], 1.0f);
    cr_assert_eq(pixel(ds, 0, 14, 14), 110);
    cr_assert_eq(pixel(ds, 199, 20, 10), 242);
    nb_dataset_free(ds);
}

/* ---------------------------------------------------------------- small files */

/* x = byte / 255 exactly, y = the label, n_classes = max + 1; plain and
 * gzip files read alike. */
static void check_small(const char *images, const char *labels)
{
    nb_error err = {0};
    nb_dataset *ds = nb_idx_load(images, labels, &err);
    cr_assert_not_null(ds, "%s", err.message);
    cr_assert_eq(ds->n, 3);
    cr_assert(nb_shape_equal(ds->shape, NB_SHAPE(1, 2, 2)));
    for (int i = 0; i < 12; i++)
        cr_assert_eq(ds->x[i], px[i] / 255.0f, "x[%d] = %.9g", i, ds->x[i]);
    t_assert_close(ds->y, (float[]){0, 4, 1}, 3, 0);
    cr_assert_eq(ds->n_classes, 5);
    nb_dataset_free(ds);
}

Test(data, plain_and_gzip_files_read_alike, .init = tmp_init, .fini = tmp_fini)
{
    check_small(small_images("i", false), small_labels("l", false));
    check_small(small_images("iz", true), small_labels("lz", true));
    check_small(small_images("i2", false), small_labels("lz2", true));
}

/* ---------------------------------------------------------------- refusals */

Test(data, missing_files_are_refused, .init = tmp_init, .fini = tmp_fini)
{
    const char *labels = small_labels("l", false), *missing = tpath("no-such-file.gz");
    expect_refusal(missing, labels, NB_ERR_ARG, "idx: ", missing,
                   "cannot open the images file: No such file or directory", NULL);
    const char *images = small_images("i", false);
    expect_refusal(images, missing, NB_ERR_ARG, missing, "cannot open the labels file", NULL);
    expect_refusal(NULL, labels, NB_ERR_ARG, "idx: no images file path (NULL)", NULL);
    expect_refusal(images, NULL, NB_ERR_ARG, "idx: no labels file path (NULL)", NULL);
    expect_refusal(tmp, labels, NB_ERR_ARG, tmp,
                   "the images file is corrupt or unreadable: Is a directory", NULL);
}

Test(data, wrong_magic_is_refused, .init = tmp_init, .fini = tmp_fini)
{
    unsigned char raw[64];
    const char *labels = small_labels("l", false);
    const char *bad = write_file("b", raw, idx_bytes(raw, 0x0D03, (uint32_t[]){3, 2, 2}, 3, px,
                                                     sizeof px));
    expect_refusal(bad, labels, NB_ERR_ARG, bad,
                   "wrong magic number 0x00000D03, expected 0x00000803 (ubyte images, 3 "
                   "dimensions)", NULL);
    /* the pair swapped: each file has the other's magic */
    expect_refusal(labels, small_images("i", true), NB_ERR_ARG, labels,
                   "wrong magic number 0x00000801, expected 0x00000803",
                   "is this the other file of the pair?", NULL);
}

Test(data, truncated_headers_are_refused, .init = tmp_init, .fini = tmp_fini)
{
    unsigned char raw[64], z[128];
    idx_bytes(raw, 0x803, (uint32_t[]){3, 2, 2}, 3, px, sizeof px);
    const char *labels = small_labels("l", false);
    const char *cut = write_file("cut", raw, 10);
    expect_refusal(cut, labels, NB_ERR_ARG, cut, "truncated header: expected 16 bytes, found 10",
                   NULL);
    const char *empty = write_file("empty", raw, 0);
    expect_refusal(empty, labels, NB_ERR_ARG, "truncated header: expected 16 bytes, found 0",
                   NULL);
    const char *cutz = write_file("cutz", z, gzip_bytes(z, raw, 7));
    expect_refusal(cutz, labels, NB_ERR_ARG, cutz, "found 7", NULL);
    idx_bytes(raw, 0x801, (uint32_t[]){3}, 1, lb, sizeof lb);
    const char *lcut = write_file("lcut", raw, 6); /* the magic, then 2 of 4 bytes of n */
    expect_refusal(small_images("i", false), lcut, NB_ERR_ARG, lcut,
                   "truncated header: expected 8 bytes, found 6", NULL);
}

Test(data, truncated_data_is_refused, .init = tmp_init, .fini = tmp_fini)
{
    unsigned char raw[64], z[128];
    const char *labels = small_labels("l", false);
    size_t n = idx_bytes(raw, 0x803, (uint32_t[]){3, 2, 2}, 3, px, 5);
    const char *plain = write_file("p", raw, n);
    expect_refusal(plain, labels, NB_ERR_ARG, plain,
                   "truncated data: expected 12 bytes of pixels, found 5", NULL);
    const char *gz = write_file("z", z, gzip_bytes(z, raw, n));
    expect_refusal(gz, labels, NB_ERR_ARG, gz, "expected 12 bytes of pixels, found 5", NULL);
    n = idx_bytes(raw, 0x801, (uint32_t[]){3}, 1, lb, 2);
    const char *lcut = write_file("lc", raw, n);
    expect_refusal(small_images("i", false), lcut, NB_ERR_ARG, lcut,
                   "truncated data: expected 3 bytes of labels, found 2", NULL);
}

Test(data, trailing_data_is_refused, .init = tmp_init, .fini = tmp_fini)
{
    unsigned char raw[64];
    size_t n = idx_bytes(raw, 0x803, (uint32_t[]){2, 2, 3}, 3, px, sizeof px);
    raw[n] = 7; /* the header says 2×2×3 = 12 bytes; 13 follow */
    const char *long_file = write_file("long", raw, n + 1);
    n = idx_bytes(raw, 0x801, (uint32_t[]){2}, 1, lb, 2);
    expect_refusal(long_file, write_file("l", raw, n), NB_ERR_ARG, long_file,
                   "more data than the header's 12 bytes of pixels", NULL);
}

Test(data, counts_that_differ_are_refused, .init = tmp_init, .fini = tmp_fini)
{
    unsigned char raw[64];
    const char *images = small_images("i", false);
    const char *labels = write_file("l", raw, idx_bytes(raw, 0x801, (uint32_t[]){2}, 1, lb, 2));
    expect_refusal(images, labels, NB_ERR_SHAPE, "idx: 3 images in ", images, "but 2 labels in ",
                   labels, NULL);
}

Test(data, zero_and_absurd_dimensions_are_refused, .init = tmp_init, .fini = tmp_fini)
{
    unsigned char raw[64];
    const char *labels = small_labels("l", false);
    const char *zero_n = write_file("z0", raw, idx_bytes(raw, 0x803, (uint32_t[]){0, 28, 28}, 3,
                                                        px, 0));
    expect_refusal(zero_n, labels, NB_ERR_SHAPE, zero_n,
                   "the header gives the images dimensions [0,28,28]: dimension 0 is 0", NULL);
    const char *zero_c = write_file("z2", raw, idx_bytes(raw, 0x803, (uint32_t[]){3, 2, 0}, 3,
                                                        px, 0));
    expect_refusal(zero_c, labels, NB_ERR_SHAPE, "[3,2,0]: dimension 2 is 0", NULL);
    const char *zero_l = write_file("zl", raw, idx_bytes(raw, 0x801, (uint32_t[]){0}, 1, lb, 0));
    expect_refusal(small_images("i", false), zero_l, NB_ERR_SHAPE, zero_l,
                   "labels dimensions [0]: dimension 0 is 0", NULL);
    const char *huge = write_file("h", raw, idx_bytes(raw, 0x803,
                                                      (uint32_t[]){65536, 65536, 4294967295u}, 3,
                                                      px, sizeof px));
    expect_refusal(huge, labels, NB_ERR_SHAPE, huge, "[65536,65536,4294967295]",
                   "more than 2147483648 values, not a plausible dataset", NULL);
}

/* Gzip damage the loader must notice: a wrong CRC (bytes that looked fine),
 * an invalid deflate block, a stream cut short, garbage inside real
 * compressed data. */
Test(data, corrupt_gzip_is_refused, .init = tmp_init, .fini = tmp_fini)
{
    unsigned char raw[64], z[128];
    const char *labels = small_labels("l", false);
    size_t n = idx_bytes(raw, 0x803, (uint32_t[]){3, 2, 2}, 3, px, sizeof px);
    size_t zn = gzip_bytes(z, raw, n);
    z[zn - 8] ^= 0x55; /* the CRC-32 */
    const char *crc = write_file("crc", z, zn);
    expect_refusal(crc, labels, NB_ERR_ARG, crc, "the images file is corrupt or unreadable",
                   "incorrect data check", NULL);

    zn = gzip_bytes(z, raw, n);
    z[10] = 7; /* BFINAL with block type 3, which does not exist */
    const char *block = write_file("block", z, zn);
    expect_refusal(block, labels, NB_ERR_ARG, block, "the images file is corrupt or "
                   "unreadable: invalid block type", NULL);

    zn = gzip_bytes(z, raw, n);
    const char *cut = write_file("cut", z, 15 + 16 + 4); /* header, then 4 of 12 pixels */
    expect_refusal(cut, labels, NB_ERR_ARG, cut, "the images file is corrupt or unreadable",
                   "unexpected end of file", NULL);

    size_t len;
    unsigned char *real = slurp(fixture("fmnist-test-images-idx3-ubyte.gz"), &len);
    const char *real_labels = fixture("fmnist-test-labels-idx1-ubyte.gz");
    const char *half = write_file("half", real, len / 2);
    expect_refusal(half, real_labels, NB_ERR_ARG, half, "the images file is corrupt or "
                   "unreadable", "unexpected end of file", NULL);
    memset(real + len / 2, 0xA5, 64);
    const char *smashed = write_file("smashed", real, len);
    expect_refusal(smashed, real_labels, NB_ERR_ARG, smashed, "the images file is corrupt or "
                   "unreadable", NULL);
    free(real);
}
