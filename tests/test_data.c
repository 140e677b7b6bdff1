/*
 * test_data.c — datasets in memory (new, slice, free) and the IDX loader:
 * the committed Fashion-MNIST fixture (500 training and 200 test images
 * cut by scripts/make_fixture.py), plain and gzip files written here, and
 * every refusal with its message. Bad files are made by each test in its
 * own temporary directory (mkdtemp), removed afterwards. Gzip files are
 * written by hand (stored deflate blocks, CRC-32 computed here), so the
 * suite needs no zlib of its own and corrupts them byte-exactly.
 *
 * Byte datasets (x_u8 with x_div, what nb_idx_load_u8 returns): gathers
 * checked against a naive reference and against the float form, slices,
 * the conversion to floats, their refusals, and the trainer, the lecture
 * initialiser and CG training on bytes exactly as on the same floats.
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
    nb_error e8 = {0};
    cr_assert_null(nb_idx_load_u8(images, labels, &e8), "the byte loader must refuse too");
    cr_assert_eq(e8.status, err.status);
    cr_assert_str_eq(e8.message, err.message);
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

    cr_assert_null(nb_dataset_new(5, NB_SHAPE(2), -1, &err));
    cr_assert_eq(err.status, NB_ERR_ARG);
    cr_assert(strstr(err.message, "y_width -1 (need 0 for examples without targets"), "%s",
              err.message);

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

/* y_width 0: examples without targets (y NULL), for running a model;
 * slices and gathers of examples work, a gather of targets is refused. */
Test(data, examples_without_targets)
{
    nb_error err = {0};
    nb_dataset *ds = nb_dataset_new(4, NB_SHAPE(2), 0, &err);
    cr_assert_not_null(ds, "%s", err.message);
    cr_assert(ds->y_width == 0 && !ds->y && ds->x);
    for (int i = 0; i < 8; i++)
        ds->x[i] = (float)i;
    nb_dataset *s = nb_dataset_slice(ds, 2, 2, &err);
    cr_assert_not_null(s, "%s", err.message);
    cr_assert(s->y_width == 0 && !s->y);
    t_assert_close(s->x, (float[]){4, 5, 6, 7}, 4, 0);
    float x[4], y[2];
    cr_assert_eq(nb_dataset_gather(ds, NULL, 1, 2, x, NULL, &err), NB_OK, "%s", err.message);
    t_assert_close(x, (float[]){2, 3, 4, 5}, 4, 0);
    cr_assert_eq(nb_dataset_gather(ds, NULL, 1, 2, x, y, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "the dataset holds no targets"), "%s", err.message);
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

/* ---------------------------------------------------------------- byte datasets */

/* A byte dataset of n examples [3, 5, 7] (105 values: odd, so the
 * vectorised conversion has a tail) with y_width 2, filled from a seed. */
static nb_dataset *bytes_dataset(int64_t n, float div)
{
    nb_error err = {0};
    nb_dataset *ds = nb_dataset_new_u8(n, NB_SHAPE(3, 5, 7), 2, div, &err);
    cr_assert_not_null(ds, "%s", err.message);
    uint64_t r = 0x9E3779B97F4A7C15u;
    for (int64_t i = 0; i < n * 105; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        ds->x_u8[i] = (uint8_t)(r >> 24);
    }
    ds->x_u8[0] = 0, ds->x_u8[1] = 255; /* both ends of the range */
    for (int64_t i = 0; i < n * 2; i++)
        ds->y[i] = (float)(i % 7) - 2.5f;
    ds->n_classes = 0;
    return ds;
}

/* The float form of ds by hand: value = byte / x_div, element by element. */
static nb_dataset *naive_floats(const nb_dataset *ds)
{
    int64_t numel = nb_shape_numel(ds->shape);
    nb_dataset *f = nb_dataset_new(ds->n, ds->shape, ds->y_width, NULL);
    cr_assert_not_null(f);
    for (int64_t i = 0; i < ds->n * numel; i++)
        f->x[i] = (float)ds->x_u8[i] / ds->x_div;
    memcpy(f->y, ds->y, (size_t)(ds->n * ds->y_width) * sizeof(float));
    return f;
}

Test(data, byte_dataset_is_zeroed_and_shaped)
{
    nb_error err = {0};
    nb_dataset *ds = nb_dataset_new_u8(4, NB_SHAPE(2, 3), 2, 0.5f, &err);
    cr_assert_not_null(ds, "%s", err.message);
    cr_assert(ds->n == 4 && nb_shape_equal(ds->shape, NB_SHAPE(2, 3)) && ds->y_width == 2);
    cr_assert_null(ds->x);
    cr_assert_not_null(ds->x_u8);
    cr_assert_eq(ds->x_div, 0.5f);
    for (int i = 0; i < 24; i++)
        cr_assert_eq(ds->x_u8[i], 0);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(ds->y[i], 0.0f);
    ds->x_u8[23] = 255, ds->y[7] = 1;
    nb_dataset_free(ds);

    nb_dataset *f = nb_dataset_new(2, NB_SHAPE(2), 1, &err); /* the float form, as before */
    cr_assert(f && f->x && !f->x_u8);
    nb_dataset_free(f);
}

Test(data, bad_byte_datasets_are_refused)
{
    nb_error err = {0};
    float bad[] = {0.0f, NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 4; i++) {
        cr_assert_null(nb_dataset_new_u8(3, NB_SHAPE(2), 1, bad[i], &err));
        cr_assert_eq(err.status, NB_ERR_ARG);
        cr_assert(strstr(err.message, "dataset: x_div ") &&
                  strstr(err.message, "need a finite, non-zero divisor"), "%s", err.message);
    }
    cr_assert_null(nb_dataset_new_u8(0, NB_SHAPE(2), 1, 1.0f, &err));
    cr_assert(strstr(err.message, "dataset: 0 examples (need at least 1)"), "%s", err.message);
    cr_assert_null(nb_dataset_new_u8(5, NB_SHAPE(2, 0), 1, 1.0f, &err));
    cr_assert_eq(err.status, NB_ERR_SHAPE);
    cr_assert_null(nb_dataset_new_u8(5, NB_SHAPE(2), 1, NAN, NULL)); /* err may be NULL */
}

/* Gathers from the byte form equal the naive conversion and gathers from
 * the float form, bit for bit: in order and by an index list (unsorted,
 * repeated, first and last example), whole batches and single examples. */
Test(data, byte_gather_equals_float_gather)
{
    nb_dataset *b = bytes_dataset(9, 255.0f), *f = naive_floats(b);
    const int64_t idx[] = {8, 0, 3, 3, 7, 1, 8, 2};
    float xb[8 * 105], xf[8 * 105], yb[16], yf[16];
    nb_error err = {0};
    for (int pass = 0; pass < 2; pass++) {
        const int64_t *ix = pass ? idx : NULL;
        int64_t count = pass ? 8 : 6, start = pass ? 0 : 2;
        memset(xb, 0xff, sizeof xb), memset(xf, 0, sizeof xf);
        cr_assert_eq(nb_dataset_gather(b, ix, start, count, xb, yb, &err), NB_OK, "%s",
                     err.message);
        cr_assert_eq(nb_dataset_gather(f, ix, start, count, xf, yf, &err), NB_OK, "%s",
                     err.message);
        cr_assert(!memcmp(xb, xf, (size_t)count * 105 * sizeof(float)), "pass %d", pass);
        cr_assert(!memcmp(yb, yf, (size_t)count * 2 * sizeof(float)), "pass %d", pass);
        for (int64_t k = 0; k < count; k++) {
            int64_t e = ix ? ix[k] : start + k;
            for (int j = 0; j < 105; j++)
                cr_assert_eq(xb[k * 105 + j], b->x_u8[e * 105 + j] / 255.0f,
                             "example %lld value %d", (long long)e, j);
            cr_assert_eq(yb[k * 2 + 1], b->y[e * 2 + 1]);
        }
    }
    float one[105]; /* example 0 holds both ends of the range */
    cr_assert_eq(nb_dataset_gather(b, NULL, 0, 1, one, NULL, NULL), NB_OK);
    cr_assert(one[0] == 0.0f && one[1] == 1.0f);
    /* Either buffer may be skipped; count 0 writes nothing. */
    float y1[2] = {0};
    cr_assert_eq(nb_dataset_gather(b, (int64_t[]){4}, 0, 1, NULL, y1, NULL), NB_OK);
    cr_assert(y1[0] == b->y[8] && y1[1] == b->y[9]);
    cr_assert_eq(nb_dataset_gather(b, NULL, 9, 0, xb, yb, NULL), NB_OK);
    nb_dataset_free(b);
    nb_dataset_free(f);
}

/* Any divisor, not only 255: value = byte / x_div. */
Test(data, byte_gather_applies_the_divisor)
{
    nb_dataset *b = bytes_dataset(2, -0.75f);
    float x[210];
    cr_assert_eq(nb_dataset_gather(b, NULL, 0, 2, x, NULL, NULL), NB_OK);
    for (int i = 0; i < 210; i++)
        cr_assert_eq(x[i], (float)b->x_u8[i] / -0.75f);
    nb_dataset_free(b);
}

Test(data, bad_gathers_are_refused)
{
    nb_dataset *b = bytes_dataset(5, 1.0f);
    float x[5 * 105], y[10];
    nb_error err = {0};
    cr_assert_eq(nb_dataset_gather(b, (int64_t[]){0, 5}, 0, 2, x, y, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "dataset gather: index 5 (at 1) is out of range for a dataset "
                                  "of 5"), "%s", err.message);
    cr_assert_eq(nb_dataset_gather(b, (int64_t[]){-1}, 0, 1, x, y, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "index -1 (at 0)"), "%s", err.message);
    cr_assert_eq(nb_dataset_gather(b, NULL, 3, 3, x, y, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "dataset gather: 3 examples from index 3 are out of range for "
                                  "a dataset of 5"), "%s", err.message);
    cr_assert_eq(nb_dataset_gather(b, NULL, -1, 1, x, y, &err), NB_ERR_ARG);
    cr_assert_eq(nb_dataset_gather(b, NULL, 0, -1, x, y, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "count -1 (need count >= 0)"), "%s", err.message);
    cr_assert_eq(nb_dataset_gather(NULL, NULL, 0, 1, x, y, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "dataset gather: no dataset (NULL)"), "%s", err.message);
    cr_assert_eq(nb_dataset_gather(b, NULL, 9, 1, x, y, NULL), NB_ERR_ARG); /* err may be NULL */

    nb_dataset empty = {.n = 5, .shape = b->shape, .y_width = 2, .y = b->y};
    cr_assert_eq(nb_dataset_gather(&empty, NULL, 0, 1, x, y, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "the dataset holds no examples (x and x_u8 are NULL)"), "%s",
              err.message);
    cr_assert_eq(nb_dataset_gather(&empty, NULL, 0, 1, NULL, y, &err), NB_OK, "targets alone");
    empty.y = NULL, empty.x_u8 = b->x_u8;
    cr_assert_eq(nb_dataset_gather(&empty, NULL, 0, 1, x, y, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "the dataset holds no targets (y is NULL)"), "%s", err.message);
    nb_dataset_free(b);
}

/* A slice of a byte dataset holds bytes (same divisor), copied. */
Test(data, byte_slice_stays_bytes)
{
    nb_dataset *b = bytes_dataset(6, 0.25f);
    b->n_classes = 3;
    nb_error err = {0};
    nb_dataset *s = nb_dataset_slice(b, 2, 3, &err);
    cr_assert_not_null(s, "%s", err.message);
    cr_assert(s->n == 3 && nb_shape_equal(s->shape, b->shape) && s->y_width == 2 &&
              s->n_classes == 3);
    cr_assert_null(s->x);
    cr_assert_eq(s->x_div, 0.25f);
    cr_assert(!memcmp(s->x_u8, b->x_u8 + 2 * 105, 3 * 105));
    cr_assert(!memcmp(s->y, b->y + 4, 6 * sizeof(float)));
    s->x_u8[0] ^= 1; /* a copy */
    cr_assert_neq(s->x_u8[0], b->x_u8[210]);
    nb_dataset_free(s);
    cr_assert_null(nb_dataset_slice(b, 4, 3, &err));
    cr_assert(strstr(err.message, "3 examples from index 4 are out of range"), "%s", err.message);
    nb_dataset none = {.n = 2, .shape = NB_SHAPE(1), .y_width = 1};
    cr_assert_null(nb_dataset_slice(&none, 0, 1, &err));
    cr_assert(strstr(err.message, "dataset slice: the dataset holds no examples"), "%s",
              err.message);
    nb_dataset_free(b);
}

/* Bytes → floats in place gives what the gathers give; floats stay as they
 * are; refusals leave the dataset alone. */
Test(data, to_float_round_trip)
{
    nb_dataset *b = bytes_dataset(4, 255.0f), *f = naive_floats(b);
    nb_error err = {0};
    float gathered[4 * 105];
    cr_assert_eq(nb_dataset_gather(b, NULL, 0, 4, gathered, NULL, NULL), NB_OK);
    cr_assert_eq(nb_dataset_to_float(b, &err), NB_OK, "%s", err.message);
    cr_assert(b->x && !b->x_u8);
    cr_assert(!memcmp(b->x, f->x, 4 * 105 * sizeof(float)));
    cr_assert(!memcmp(b->x, gathered, sizeof gathered));
    cr_assert(!memcmp(b->y, f->y, 8 * sizeof(float)));
    float *before = b->x;
    cr_assert_eq(nb_dataset_to_float(b, &err), NB_OK, "a float dataset is left as it is");
    cr_assert_eq(b->x, before);
    nb_dataset *s = nb_dataset_slice(b, 1, 2, &err); /* now a float slice */
    cr_assert(s && s->x && !s->x_u8);
    nb_dataset_free(s);

    cr_assert_eq(nb_dataset_to_float(NULL, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "dataset to float: no dataset (NULL)"), "%s", err.message);
    nb_dataset none = {.n = 2, .shape = NB_SHAPE(1), .y_width = 1};
    cr_assert_eq(nb_dataset_to_float(&none, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "dataset to float: the dataset holds no examples"), "%s",
              err.message);
    cr_assert(!none.x && !none.x_u8);
    nb_dataset_free(b);
    nb_dataset_free(f);
}

/* ---------------------------------------------------------------- bytes in training */

/* 784-16-10 on the fixture's images. */
static nb_status small_mlp(nb_graph *g, int64_t batch, nb_model_io *io, void *ud)
{
    (void)ud;
    io->x = nb_input(g, "x", NB_SHAPE(batch, 1, 28, 28));
    io->y = nb_input(g, "y", NB_SHAPE(batch));
    nb_node *h = nb_dense(g, nb_flatten(g, io->x), (nb_dense_opts){.units = 16,
                          .activation = NB_ACT_RELU, .name = "dense1"});
    io->output = nb_dense(g, h, (nb_dense_opts){.units = 10, .name = "dense2"});
    io->loss = nb_softmax_cross_entropy(g, io->output, io->y);
    return nb_graph_status(g);
}

static nb_trainer *small_trainer(int64_t batch)
{
    nb_train_opts o = {.batch = batch, .epochs = 1, .seed = 7, .eval_batch = 96,
                       .optimizer = {.kind = NB_OPT_SGD, .lr = 0.05f, .momentum = 0.9f}};
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(small_mlp, NULL, NB_SHAPE(1, 28, 28), 1, &o, &err);
    cr_assert_not_null(t, "%s", err.message);
    return t;
}

/* Every parameter of a and b equal, bit for bit. */
static void same_params(nb_trainer *a, nb_trainer *b)
{
    cr_assert_eq(nb_trainer_num_param_tensors(a), nb_trainer_num_param_tensors(b));
    for (int i = 0; i < nb_trainer_num_param_tensors(a); i++) {
        nb_node *p = nb_trainer_param(a, i), *q = nb_trainer_param(b, i);
        cr_assert(!memcmp(nb_param_data(p), nb_param_data(q),
                          (size_t)nb_shape_numel(nb_node_shape(p)) * sizeof(float)),
                  "parameter %d differs", i);
    }
}

/* The trainer (shuffled batches with a short last one, evaluation in
 * batches with a short last one, per-example losses), the lecture
 * initialiser and CG on chunks of shuffled examples give the same results
 * from the byte form as from the float form of the same images. */
Test(data, training_on_bytes_equals_training_on_floats)
{
    nb_error err = {0};
    const char *im = fixture("fmnist-train-images-idx3-ubyte.gz"),
               *lb = fixture("fmnist-train-labels-idx1-ubyte.gz");
    nb_dataset *b = nb_idx_load_u8(im, lb, &err), *f = nb_idx_load(im, lb, &err);
    cr_assert(b && f, "%s", err.message);
    nb_trainer *tb = small_trainer(48), *tf = small_trainer(48); /* 500 = 10·48 + 20 */

    nb_lecture_init_opts lo = {.subsample = 200, .input_fraction = 0.3f, .seed = 3};
    cr_assert_eq(nb_init_lecture(tb, "dense1", b, lo, &err), NB_OK, "%s", err.message);
    cr_assert_eq(nb_init_lecture(tf, "dense1", f, lo, &err), NB_OK, "%s", err.message);
    same_params(tb, tf);

    cr_assert_eq(nb_trainer_fit(tb, b, b), NB_OK, "%s", nb_trainer_error(tb));
    cr_assert_eq(nb_trainer_fit(tf, f, f), NB_OK, "%s", nb_trainer_error(tf));
    same_params(tb, tf);
    double lb_, ab, lf, af;
    cr_assert_eq(nb_trainer_evaluate(tb, b, &lb_, &ab), NB_OK, "%s", nb_trainer_error(tb));
    cr_assert_eq(nb_trainer_evaluate(tf, f, &lf, &af), NB_OK, "%s", nb_trainer_error(tf));
    cr_assert(lb_ == lf && ab == af, "loss %.9g vs %.9g, accuracy %g vs %g", lb_, lf, ab, af);
    cr_assert(ab > 0.3, "training did something: accuracy %g", ab);
    double *eb = malloc(500 * sizeof *eb), *ef = malloc(500 * sizeof *ef);
    cr_assert_eq(nb_trainer_example_losses(tb, b, eb), NB_OK, "%s", nb_trainer_error(tb));
    cr_assert_eq(nb_trainer_example_losses(tf, f, ef), NB_OK, "%s", nb_trainer_error(tf));
    cr_assert(!memcmp(eb, ef, 500 * sizeof *eb));
    free(eb);
    free(ef);

    nb_cg_opts co = {.chunk = 100, .iterations = 2, .shuffle = true, .seed = 5};
    cr_assert_eq(nb_trainer_fit_cg(tb, b, co, NULL, &err), NB_OK, "%s", err.message);
    cr_assert_eq(nb_trainer_fit_cg(tf, f, co, NULL, &err), NB_OK, "%s", err.message);
    same_params(tb, tf);

    nb_dataset none = {.n = 500, .shape = b->shape, .y_width = 1, .y = b->y};
    cr_assert_eq(nb_trainer_evaluate(tb, &none, &lb_, &ab), NB_ERR_ARG);
    cr_assert(strstr(nb_trainer_error(tb), "train: dataset gather: the dataset holds no examples"),
              "%s", nb_trainer_error(tb));
    cr_assert_eq(nb_trainer_fit_cg(tb, &none, co, NULL, &err), NB_ERR_ARG);
    cr_assert(strstr(err.message, "cg: the training set holds no examples"), "%s", err.message);
    nb_trainer_free(tb);
    nb_trainer_free(tf);
    nb_dataset_free(b);
    nb_dataset_free(f);
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

/* The byte form of the fixture: the same bytes and labels as the float
 * form, a quarter of the storage. */
Test(data, fixture_as_bytes_matches_floats)
{
    nb_error err = {0};
    const char *im = fixture("fmnist-train-images-idx3-ubyte.gz"),
               *lb = fixture("fmnist-train-labels-idx1-ubyte.gz");
    nb_dataset *f = nb_idx_load(im, lb, &err), *b = nb_idx_load_u8(im, lb, &err);
    cr_assert(f && b, "%s", err.message);
    cr_assert(b->n == 500 && nb_shape_equal(b->shape, f->shape) && b->n_classes == 10);
    int64_t sum = 0;
    for (int64_t i = 0; i < 500 * 784; i++) {
        sum += b->x_u8[i];
        cr_assert_eq(b->x_u8[i] / 255.0f, f->x[i], "value %lld", (long long)i);
    }
    cr_assert_eq(sum, 28368245);
    cr_assert(!memcmp(b->y, f->y, 500 * sizeof(float)));
    cr_assert_eq(nb_dataset_to_float(b, &err), NB_OK, "%s", err.message);
    cr_assert(!memcmp(b->x, f->x, 500 * 784 * sizeof(float)));
    nb_dataset_free(f);
    nb_dataset_free(b);
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
 * gzip files read alike. The byte form holds the bytes themselves and
 * gathers the same floats. */
static void check_small(const char *images, const char *labels)
{
    nb_error err = {0};
    nb_dataset *ds = nb_idx_load(images, labels, &err);
    cr_assert_not_null(ds, "%s", err.message);
    cr_assert_eq(ds->n, 3);
    cr_assert(nb_shape_equal(ds->shape, NB_SHAPE(1, 2, 2)));
    cr_assert_null(ds->x_u8);
    for (int i = 0; i < 12; i++) {
        cr_assert_eq(ds->x[i], px[i] / 255.0f, "x[%d] = %.9g", i, ds->x[i]);
    }
    t_assert_close(ds->y, (float[]){0, 4, 1}, 3, 0);
    cr_assert_eq(ds->n_classes, 5);

    nb_dataset *b = nb_idx_load_u8(images, labels, &err);
    cr_assert_not_null(b, "%s", err.message);
    cr_assert(b->n == 3 && nb_shape_equal(b->shape, NB_SHAPE(1, 2, 2)) && b->n_classes == 5);
    cr_assert_null(b->x);
    cr_assert_eq(b->x_div, 255.0f);
    cr_assert(!memcmp(b->x_u8, px, sizeof px));
    t_assert_close(b->y, (float[]){0, 4, 1}, 3, 0);
    float got[12];
    cr_assert_eq(nb_dataset_gather(b, NULL, 0, 3, got, NULL, &err), NB_OK, "%s", err.message);
    cr_assert(!memcmp(got, ds->x, sizeof got), "the two forms must give the same floats");
    nb_dataset_free(b);
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

/* A process allocator that refuses any block above 64 MiB: a machine
 * with little memory. */
static void *small_machine(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    (void)ud;
    (void)old_size;
    if (new_size == 0) {
        free(ptr);
        return NULL;
    }
    return new_size > ((size_t)64 << 20) ? NULL : realloc(ptr, new_size);
}

/* A plain file of a few bytes whose header claims 30000 images of 256×256
 * (1.97 GB) is truncated, and said so before the dataset is allocated: on
 * a machine without the memory it was refused as "out of memory". */
Test(data, truncated_plain_file_refused_before_allocating, .init = tmp_init, .fini = tmp_fini)
{
    unsigned char raw[64], z[128];
    nb_set_allocator(small_machine, NULL);
    static unsigned char all[8 + 30000];             /* 30000 labels, all there */
    idx_bytes(all, 0x801, (uint32_t[]){30000}, 1, lb, 0);
    const char *labels = write_file("l", all, sizeof all);
    size_t n = idx_bytes(raw, 0x803, (uint32_t[]){30000, 256, 256}, 3, px, 5);
    const char *plain = write_file("p", raw, n);
    expect_refusal(plain, labels, NB_ERR_ARG, plain,
                   "truncated data: expected 1966080000 bytes of pixels, found 5", NULL);
    /* gzip: the size is only known by reading, so the allocation fails
     * first; the message still names the file. */
    const char *gz = write_file("z", z, gzip_bytes(z, raw, n));
    unsigned char lraw[16], lz[64];
    size_t ln = idx_bytes(lraw, 0x801, (uint32_t[]){30000}, 1, lb, 2);
    const char *lgz = write_file("lz", lz, gzip_bytes(lz, lraw, ln));
    expect_refusal(gz, lgz, NB_ERR_NOMEM, "idx: ", gz, "out of memory", NULL);
    nb_set_allocator(NULL, NULL);
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

/* ---------------------------------------------------------------- a model file's data */

/* A model file on the fixture's images: its data section names tmp,
 * where the IDX files are linked under the names a data folder has. */
static nb_model_file *fixture_model(const char *data)
{
    const char *fx = getenv("NABLA_FIXTURES");
    cr_assert_not_null(fx, "NABLA_FIXTURES is not set");
    static const char *const kinds[] = {"images-idx3", "labels-idx1"};
    static const char *const splits[][2] = {{"train", "train"}, {"t10k", "test"}};
    char cwd[400] = "", from[900], to[64];
    if (fx[0] != '/') /* the links point from tmp: an absolute path */
        cr_assert_not_null(getcwd(cwd, sizeof cwd));
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < 2; k++) {
            snprintf(from, sizeof from, "%s%s%s/fmnist-%s-%s-ubyte.gz", cwd, cwd[0] ? "/" : "",
                     fx, splits[s][1], kinds[k]);
            snprintf(to, sizeof to, "%s-%s-ubyte.gz", splits[s][0], kinds[k]);
            unlink(tpath(to)); /* linked already by an earlier call */
            cr_assert_eq(symlink(from, tpath(to)), 0, "%s", from);
        }
    char text[1024];
    snprintf(text, sizeof text, "nabla: 1\nname: m\ninput: {x: [1, 28, 28]}\nlayers:\n"
             "  - flatten\n  - dense: {units: 10}\nloss: softmax_cross_entropy\n"
             "x_div: 5\n%s\n", data);
    nb_error err = {0};
    nb_model_file *m = nb_model_file_parse(text, strlen(text), "m.yaml", &err);
    cr_assert_not_null(m, "%s", err.message);
    return m;
}

/* Both splits as bytes scaled by the model's x_div, the limit on the
 * training set (or on the test set when only it is asked for). */
Test(model_data, loads_both_splits_as_bytes_with_the_models_x_div, .init = tmp_init,
     .fini = tmp_fini)
{
    char data[400];
    snprintf(data, sizeof data, "data: {format: idx, dir: %s}", tmp);
    nb_model_file *m = fixture_model(data);
    nb_dataset *train = NULL, *test = NULL;
    nb_error err = {0};
    cr_assert_eq(nb_model_file_load_data(m, &train, &test, (nb_data_load_opts){0}, &err), NB_OK,
                 "%s", err.message);
    cr_assert_eq(train->n, 500);
    cr_assert_eq(test->n, 200);
    cr_assert(train->x_u8 && !train->x && train->x_div == 5.0f && test->x_div == 5.0f);
    nb_dataset *direct = t_fixture("train");
    cr_assert_float_eq((float)train->x_u8[300] / train->x_div, direct->x[300] * 255 / 5, 1e-4);
    nb_dataset_free(direct);
    nb_dataset_free(train);
    nb_dataset_free(test);
    cr_assert_eq(nb_model_file_load_data(m, &train, NULL, (nb_data_load_opts){.limit = 30}, &err),
                 NB_OK, "%s", err.message);
    cr_assert_eq(train->n, 30);
    nb_dataset_free(train);
    cr_assert_eq(nb_model_file_load_data(m, NULL, &test, (nb_data_load_opts){.limit = 7}, &err),
                 NB_OK, "%s", err.message);
    cr_assert_eq(test->n, 7);
    nb_dataset_free(test);
    nb_model_file_free(m);
}

Test(model_data, refusals_name_the_file_and_leave_nothing, .init = tmp_init, .fini = tmp_fini)
{
    nb_model_file *m = fixture_model("");
    nb_dataset *train = (nb_dataset *)&train, *test = (nb_dataset *)&test;
    nb_error err = {0};
    cr_assert_eq(nb_model_file_load_data(m, &train, &test, (nb_data_load_opts){0}, &err),
                 NB_ERR_ARG);
    cr_assert_str_eq(err.message, "model 'm' has no data section to load");
    cr_assert(!train && !test);
    nb_model_file_free(m);
    char data[400];
    snprintf(data, sizeof data, "data: {format: idx, dir: %s/nowhere}", tmp);
    m = fixture_model(data);
    cr_assert_neq(nb_model_file_load_data(m, &train, &test, (nb_data_load_opts){0}, &err), NB_OK);
    cr_assert(strstr(err.message, "nowhere/train-images-idx3-ubyte.gz"), "%s", err.message);
    cr_assert(!strstr(err.message, "Debian"), "%s", err.message);
    cr_assert(!train && !test);
    cr_assert_eq(nb_model_file_load_data(NULL, &train, NULL, (nb_data_load_opts){0}, &err),
                 NB_ERR_ARG);
    nb_model_file_free(m);
    /* Debian's folder, when its package is not installed, names the package */
    m = fixture_model("data: {format: idx, dir: /usr/share/datasets/fashion-mnist}");
    if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) != 0) {
        cr_assert_neq(nb_model_file_load_data(m, &train, NULL, (nb_data_load_opts){0}, &err),
                      NB_OK);
        cr_assert(strstr(err.message, "the Debian package dataset-fashion-mnist installs these "
                                      "files"), "%s", err.message);
    }
    nb_model_file_free(m);
}
