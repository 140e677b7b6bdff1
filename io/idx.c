/*
 * idx.c — the IDX files of MNIST and Fashion-MNIST, read through zlib.
 *
 * An IDX file is a big-endian header, then the values row-major:
 *
 *     images  0x00000803 (ubyte, 3 axes)  n, rows, cols   n·rows·cols bytes
 *     labels  0x00000801 (ubyte, 1 axis)  n               n bytes
 *
 * The pixels land as they are in a byte dataset (nb_idx_load_u8: x_u8 with
 * x_div 255, a quarter of the memory) or converted to floats (nb_idx_load),
 * each pixel b as b / 255.0f in both, so the two forms agree exactly.
 *
 * gzopen/gzread read gzip files and plain ones alike. The loader trusts
 * nothing in the file: a short header, a wrong magic, a zero or absurd
 * dimension, missing or extra data, a corrupt gzip stream (checked to its
 * CRC at the end) and counts that disagree are refused with a message that
 * names the file. Statuses: NB_ERR_ARG for a file that cannot be read or is
 * not the IDX it should be, NB_ERR_SHAPE for dimensions (zero, too large,
 * counts that differ), NB_ERR_NOMEM when the dataset does not fit. Every
 * path closes both files and frees what it allocated.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "nabla.h"

#define IDX_IMAGES 0x00000803u
#define IDX_LABELS 0x00000801u
/* More values than this in one file is not a dataset anyone means to load
 * into memory (8 GiB as floats); it is a corrupt header. */
#define MAX_VALUES ((int64_t)1 << 31)
#define CHUNK 65536
/* Pixels 0…255 → [0, 1]: value = byte / PIXEL_DIV in both forms. */
#define PIXEL_DIV 255.0f

/* One open IDX file and what its header said. */
typedef struct idx_file {
    gzFile f;
    const char *path;
    const char *what;   /* "images" or "labels", for messages */
    int rank;
    int64_t dim[3];
    int64_t numel;      /* product of dim[0..rank) */
} idx_file;

/* ---------------------------------------------------------------- errors */

/* zlib's message for the file's error state, without the "path: " prefix
 * zlib puts in front (our messages name the path themselves). */
static const char *gz_message(const idx_file *r)
{
    int code;
    const char *m = gzerror(r->f, &code);
    size_t len = strlen(r->path);
    if (m && !strncmp(m, r->path, len) && !strncmp(m + len, ": ", 2))
        m += len + 2;
    return m && *m ? m : "unknown zlib error";
}

/* True when zlib recorded an error (a short read at end of file is not). */
static bool gz_failed(const idx_file *r)
{
    int code;
    gzerror(r->f, &code);
    return code != Z_OK && code != Z_STREAM_END;
}

/* zlib decompresses ahead of what was asked, so where it noticed says
 * little: the message names the file and zlib's reason only. */
static nb_status fail_gzip(const idx_file *r, nb_error *err)
{
    return nb_error_set(err, NB_ERR_ARG, "idx: %s: the %s file is corrupt or unreadable: %s", r->path,
                r->what, gz_message(r));
}

/* ---------------------------------------------------------------- reading */

/* Reads up to len bytes (len ≤ INT32_MAX); returns how many (fewer only at
 * the end of the data), or -1 when zlib reports an error. */
static int64_t read_up_to(idx_file *r, unsigned char *buf, int64_t len)
{
    int64_t got = 0;
    while (got < len) {
        int k = gzread(r->f, buf + got, (unsigned)(len - got));
        if (k < 0)
            return -1;
        if (k == 0)
            break;
        got += k;
    }
    return gz_failed(r) ? -1 : got;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Opens r->path; refuses a file that cannot be opened, naming the reason. */
static nb_status open_file(idx_file *r, nb_error *err)
{
    errno = 0;
    r->f = gzopen(r->path, "rb");
    if (!r->f)
        return errno ? nb_error_set(err, NB_ERR_ARG, "idx: %s: cannot open the %s file: %s", r->path,
                            r->what, strerror(errno))
                     : nb_error_set(err, NB_ERR_NOMEM, "idx: %s: out of memory opening the file",
                            r->path);
    gzbuffer(r->f, 1u << 17);
    return NB_OK;
}

/* Checks the dimensions the header gave: none zero, product ≤ MAX_VALUES. */
static nb_status check_dims(idx_file *r, nb_error *err)
{
    char dims[96];
    int at = snprintf(dims, sizeof dims, "[");
    for (int i = 0; i < r->rank; i++)
        at += snprintf(dims + at, sizeof dims - (size_t)at, "%s%lld", i ? "," : "",
                       (long long)r->dim[i]);
    snprintf(dims + at, sizeof dims - (size_t)at, "]");
    r->numel = 1;
    for (int i = 0; i < r->rank; i++) {
        if (r->dim[i] == 0)
            return nb_error_set(err, NB_ERR_SHAPE, "idx: %s: the header gives the %s dimensions %s: "
                        "dimension %d is 0", r->path, r->what, dims, i);
        if (r->dim[i] > MAX_VALUES / r->numel)
            return nb_error_set(err, NB_ERR_SHAPE, "idx: %s: the header gives the %s dimensions %s: "
                        "more than %lld values, not a plausible dataset", r->path, r->what,
                        dims, (long long)MAX_VALUES);
        r->numel *= r->dim[i];
    }
    return NB_OK;
}

/* A plain (not gzip) file must hold the header and the numel values the
 * header promises: said before the dataset is allocated, so a file of a
 * few bytes claiming gigabytes is refused as truncated, not as "out of
 * memory". (A gzip file's size says nothing; its data is checked as it is
 * read.) */
static nb_status check_plain_size(const idx_file *r, int64_t header, nb_error *err)
{
    struct stat st;
    if (!gzdirect(r->f) || stat(r->path, &st) != 0 || !S_ISREG(st.st_mode) ||
        (int64_t)st.st_size >= header + r->numel)
        return NB_OK;
    return nb_error_set(err, NB_ERR_ARG, "idx: %s: truncated data: expected %lld bytes of %s, "
                        "found %lld", r->path, (long long)r->numel,
                        strcmp(r->what, "images") ? "labels" : "pixels",
                        (long long)st.st_size - header);
}

/* Opens the file and reads its header: the magic number (must be `magic`,
 * checked first, so a file of the other kind is named as such) and `rank`
 * big-endian dimensions. */
static nb_status read_header(idx_file *r, uint32_t magic, int rank, nb_error *err)
{
    unsigned char h[16];
    int64_t want = 4 + 4 * (int64_t)rank;
    nb_status st = open_file(r, err);
    if (st != NB_OK)
        return st;
    int64_t got = read_up_to(r, h, 4);
    if (got == 4 && be32(h) != magic) {
        uint32_t found = be32(h), other = magic == IDX_IMAGES ? IDX_LABELS : IDX_IMAGES;
        return nb_error_set(err, NB_ERR_ARG, "idx: %s: wrong magic number 0x%08X, expected 0x%08X "
                    "(ubyte %s, %d dimension%s)%s", r->path, (unsigned)found, (unsigned)magic,
                    r->what, rank, rank > 1 ? "s" : "",
                    found == other ? ": is this the other file of the pair?" : "");
    }
    if (got == 4) {
        int64_t more = read_up_to(r, h + 4, want - 4);
        got = more < 0 ? -1 : 4 + more;
    }
    if (got < 0)
        return fail_gzip(r, err);
    if (got < want)
        return nb_error_set(err, NB_ERR_ARG, "idx: %s: truncated header: expected %lld bytes, found %lld",
                    r->path, (long long)want, (long long)got);
    r->rank = rank;
    for (int i = 0; i < rank; i++)
        r->dim[i] = be32(h + 4 + 4 * i);
    st = check_dims(r, err);
    return st == NB_OK ? check_plain_size(r, want, err) : st;
}

/* [n] bytes → [n] floats, dst[i] = src[i] / div: the same conversion the
 * dataset applies to its byte form, so both forms hold the same values. */
static void to_floats(float *dst, const unsigned char *src, int64_t n, float div)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = (float)src[i] / div;
}

/* Reads the numel data bytes into bytes as they are, or (bytes NULL) into
 * floats divided by div, then makes sure the file ends there: reading on
 * reaches the gzip trailer, so a bad CRC is caught even when the bytes
 * themselves looked fine. */
static nb_status read_body(idx_file *r, uint8_t *bytes, float *floats, float div,
                           const char *unit, nb_error *err)
{
    unsigned char buf[CHUNK];
    for (int64_t done = 0; done < r->numel;) {
        int64_t want = r->numel - done < CHUNK ? r->numel - done : CHUNK;
        int64_t got = bytes ? read_up_to(r, bytes + done, want) : read_up_to(r, buf, want);
        if (got < 0)
            return fail_gzip(r, err);
        if (!bytes)
            to_floats(floats + done, buf, got, div);
        done += got;
        if (got < want)
            return nb_error_set(err, NB_ERR_ARG, "idx: %s: truncated data: expected %lld bytes of %s, "
                        "found %lld", r->path, (long long)r->numel, unit, (long long)done);
    }
    int64_t extra = read_up_to(r, buf, 1);
    if (extra < 0)
        return fail_gzip(r, err);
    if (extra > 0)
        return nb_error_set(err, NB_ERR_ARG, "idx: %s: more data than the header's %lld bytes of %s "
                    "(trailing bytes)", r->path, (long long)r->numel, unit);
    return NB_OK;
}

/* ---------------------------------------------------------------- loading */

/* Reads both headers and checks they describe the same examples. */
static nb_status read_headers(idx_file *im, idx_file *lb, nb_error *err)
{
    nb_status st = read_header(im, IDX_IMAGES, 3, err);
    if (st == NB_OK)
        st = read_header(lb, IDX_LABELS, 1, err);
    if (st == NB_OK && im->dim[0] != lb->dim[0])
        st = nb_error_set(err, NB_ERR_SHAPE, "idx: %lld images in %s but %lld labels in %s",
                  (long long)im->dim[0], im->path, (long long)lb->dim[0], lb->path);
    return st;
}

/* Fills ds from the two files (headers already read); sets n_classes. */
static nb_status read_data(idx_file *im, idx_file *lb, nb_dataset *ds, nb_error *err)
{
    nb_status st = read_body(im, ds->x_u8, ds->x, PIXEL_DIV, "pixels", err);
    if (st == NB_OK)
        st = read_body(lb, NULL, ds->y, 1.0f, "labels", err);
    if (st != NB_OK)
        return st;
    float max = 0;
    for (int64_t i = 0; i < ds->n; i++)
        max = ds->y[i] > max ? ds->y[i] : max;
    ds->n_classes = (int)max + 1;
    return NB_OK;
}

/*
 * images [n, rows, cols] and labels [n] → examples [n, 1, rows, cols] in
 * [0, 1] (floats x, or bytes x_u8 with x_div 255 when bytes) and y
 * [n, 1] holding each class index as a float; n_classes is the largest
 * label plus one. NULL on refusal, with the reason in *err (which may be
 * NULL).
 */
static nb_dataset *load(const char *images_path, const char *labels_path, bool bytes,
                        nb_error *err)
{
    if (!images_path || !labels_path)
        return nb_error_set(err, NB_ERR_ARG, "idx: no %s file path (NULL)",
                    images_path ? "labels" : "images"), NULL;
    idx_file im = {.path = images_path, .what = "images"};
    idx_file lb = {.path = labels_path, .what = "labels"};
    nb_dataset *ds = NULL;
    nb_status st = read_headers(&im, &lb, err);
    if (st == NB_OK) {
        nb_shape shape = NB_SHAPE(1, im.dim[1], im.dim[2]);
        nb_error e = {0};
        ds = bytes ? nb_dataset_new_u8(im.dim[0], shape, 1, PIXEL_DIV, &e)
                   : nb_dataset_new(im.dim[0], shape, 1, &e);
        st = ds ? read_data(&im, &lb, ds, err)
                : nb_error_set(err, e.status, "idx: %s: %s", images_path, e.message);
    }
    if (im.f)
        gzclose(im.f);
    if (lb.f)
        gzclose(lb.f);
    if (st != NB_OK) {
        nb_dataset_free(ds);
        return NULL;
    }
    return ds;
}

/* The float form: 4 bytes per pixel. */
nb_dataset *nb_idx_load(const char *images_path, const char *labels_path, nb_error *err)
{
    return load(images_path, labels_path, false, err);
}

/* The byte form: 1 byte per pixel, converted per minibatch by the trainer. */
nb_dataset *nb_idx_load_u8(const char *images_path, const char *labels_path, nb_error *err)
{
    return load(images_path, labels_path, true, err);
}
