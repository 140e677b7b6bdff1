/*
 * hdf5_file.c — the only file that speaks HDF5: atomic writers and careful
 * readers behind the opaque nb__h5 handle of hdf5_internal.h.
 *
 * Writing. A file is built under "<dir>/.<base>.tmp-<pid>" in the target's
 * own folder (so the final rename stays inside one file system), then
 * flushed (H5Fflush), closed (H5Fclose), fsync'd through a plain file
 * descriptor, and renamed over the target; the folder is fsync'd after, so
 * the rename itself is durable. A process killed at any moment leaves the
 * target as it was: at worst its own temporary file stays behind, and the
 * next save of the same target (or load of it) removes it: see
 * nb__h5_sweep_temps. On any failure the temporary is removed.
 *
 * Reading. Files open read-only. Before HDF5 sees a file, plain POSIX calls
 * tell a missing, empty or non-HDF5 file apart, so the message says which;
 * a file HDF5 then refuses (truncated, damaged) is reported with HDF5's own
 * innermost reason. External links are never followed: a weights file
 * cannot make nabla open another file.
 *
 * Errors. HDF5 prints its error stack to stderr by default. nabla reports
 * through nb_error instead, so every entry point switches that printing
 * off with H5Eset_auto2(H5E_DEFAULT, NULL, NULL) before calling HDF5. That
 * is process state of the HDF5 library, not of a handle: it is set (never
 * saved and restored) and stays off for the whole process, which is what a
 * program using nabla wants; a program that uses HDF5 directly and wants
 * the automatic printing back can call H5Eset_auto2 itself. It is set at
 * each entry rather than once behind a flag because H5close() resets it.
 *
 * Every HDF5 id a function opens is closed by that function on every path
 * (drop()); the reason for a failure is read off the error stack before
 * those closes, which clear it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "hdf5_internal.h"

struct nb__h5 {
    hid_t file;
    char *path;       /* the caller's name for the file */
    char *tmp;        /* writers: the temporary file; NULL for readers */
    nb_error *err;
    nb_status status; /* the first failure */
};

/* ---------------------------------------------------------------- errors */

static void quiet(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static nb_status set_error(nb_error *err, nb_status s, const char *fmt, va_list ap)
{
    if (err) {
        err->status = s;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
    }
    return s;
}

/* An error with no handle yet (opening, creating). */
static nb_status early_fail(nb_error *err, nb_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static nb_status early_fail(nb_error *err, nb_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_error(err, s, fmt, ap);
    va_end(ap);
    return s;
}

nb_status nb__h5_fail(nb__h5 *f, nb_status s, const char *fmt, ...)
{
    if (f->status != NB_OK)
        return f->status;
    char what[sizeof ((nb_error *)0)->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    f->status = s;
    return early_fail(f->err, s, "%s: %s", f->path, what);
}

nb_status nb__h5_status(const nb__h5 *f)
{
    return f ? f->status : NB_ERR_ARG;
}

const char *nb__h5_path(const nb__h5 *f)
{
    return f ? f->path : "(no file)";
}

typedef struct why_buf {
    char *buf;
    size_t size;
} why_buf;

static herr_t first_error(unsigned n, const H5E_error2_t *e, void *ud)
{
    why_buf *w = ud;
    (void)n;
    if (!w->buf[0] && e->desc && e->desc[0])
        snprintf(w->buf, w->size, "%s", e->desc);
    return 0;
}

/* HDF5's innermost complaint on this thread's error stack (the most
 * specific one: "truncated file: eof = …"), then clears the stack. */
static const char *hdf5_why(char *buf, size_t size)
{
    buf[0] = '\0';
    why_buf w = {buf, size};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_error, &w);
    H5Eclear2(H5E_DEFAULT);
    return buf[0] ? buf : "no reason given";
}

/* Fails with "<obj>: <what> (HDF5: <reason>)", or without the object for
 * obj NULL (the file as a whole). Call it before closing ids. */
static nb_status hfail(nb__h5 *f, const char *obj, const char *what)
{
    char why[200];
    hdf5_why(why, sizeof why);
    return nb__h5_fail(f, NB_ERR_ARG, "%s%s%s (HDF5: %s)", obj ? obj : "", obj ? ": " : "", what,
                       why);
}

/* Closes any kind of id this file opens; negative ids are ignored. */
static void drop(hid_t id)
{
    if (id < 0)
        return;
    switch (H5Iget_type(id)) {
    case H5I_FILE: H5Fclose(id); break;
    case H5I_GROUP: H5Gclose(id); break;
    case H5I_DATATYPE: H5Tclose(id); break;
    case H5I_DATASPACE: H5Sclose(id); break;
    case H5I_DATASET: H5Dclose(id); break;
    case H5I_ATTR: H5Aclose(id); break;
    case H5I_GENPROP_LST: H5Pclose(id); break;
    default: break;
    }
}

/* ---------------------------------------------------------------- handles */

static nb__h5 *handle_new(const char *path, nb_error *err)
{
    nb__h5 *f = nb_calloc(1, sizeof *f);
    size_t n = strlen(path) + 1;
    char *copy = nb_malloc(n);
    if (!f || !copy) {
        nb_free(f);
        nb_free(copy);
        early_fail(err, NB_ERR_NOMEM, "%s: out of memory for a file handle", path);
        return NULL;
    }
    memcpy(copy, path, n);
    *f = (nb__h5){.file = H5I_INVALID_HID, .path = copy, .err = err};
    return f;
}

static void handle_free(nb__h5 *f)
{
    nb_free(f->path);
    nb_free(f->tmp);
    nb_free(f);
}

/* Closes a reader, or abandons a writer and removes its temporary. */
void nb__h5_close(nb__h5 *f)
{
    if (!f)
        return;
    drop(f->file);
    if (f->tmp)
        remove(f->tmp);
    handle_free(f);
}

/* ---------------------------------------------------------------- writing */

/* "<dir>/.<base>.tmp-<pid>" for path "<dir>/<base>", malloc'd; NULL when
 * path names no file (empty base) or memory runs out. */
static char *temp_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    int dirlen = slash ? (int)(slash - path + 1) : 0;
    size_t n = strlen(path) + 40;
    char *t = *base ? nb_malloc(n) : NULL;
    if (t)
        snprintf(t, n, "%.*s.%s.tmp-%ld", dirlen, path, base, (long)getpid());
    return t;
}

/* The pid in a directory entry named exactly ".<base>.tmp-<pid>" (decimal,
 * no sign, no leading zero); 0 when the name is anything else. */
static pid_t temp_pid(const char *name, const char *base, size_t blen)
{
    if (name[0] != '.' || strncmp(name + 1, base, blen) != 0 ||
        strncmp(name + 1 + blen, ".tmp-", 5) != 0)
        return 0;
    const char *digits = name + 1 + blen + 5;
    size_t n = strspn(digits, "0123456789");
    if (n == 0 || n > 10 || digits[n] != '\0' || digits[0] == '0')
        return 0;
    long long pid = strtoll(digits, NULL, 10);
    return pid > 0 && pid <= INT_MAX ? (pid_t)pid : 0;
}

/* Removes entry name of folder dir when it is a regular file nobody holds
 * locked: HDF5 holds an exclusive flock(2) on a file it writes, and
 * nb__h5_commit one from the close to the rename, so a writer this process
 * cannot see (one in another PID namespace) keeps its file. */
static void remove_if_unlocked(int dir, const char *name)
{
    int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && flock(fd, LOCK_EX | LOCK_NB) == 0)
        unlinkat(dir, name, 0);
    close(fd);
}

/*
 * The temporaries earlier writers of path left behind when they were killed
 * mid-write: files in path's folder named exactly ".<base>.tmp-<pid>" whose
 * process no longer exists (kill(pid, 0) fails with ESRCH) and that no one
 * holds locked. A live process's temporary, this process's own, files of
 * other targets and any other name are never touched. Best effort and
 * silent: a folder that cannot be listed or a file that cannot be removed
 * changes nothing for the caller. It allocates nothing through nabla's
 * allocator, so an injected allocation failure never lands here unseen.
 */
void nb__h5_sweep_temps(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    const char *base = slash ? slash + 1 : path;
    char dir[PATH_MAX];
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    if (!base || !*base || dirlen >= sizeof dir)
        return;
    snprintf(dir, sizeof dir, "%.*s", (int)dirlen, slash ? path : "");
    int dfd = open(dirlen ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return;
    }
    size_t blen = strlen(base);
    for (struct dirent *e; (e = readdir(d));) {
        pid_t pid = temp_pid(e->d_name, base, blen);
        if (pid != 0 && pid != getpid() && kill(pid, 0) == -1 && errno == ESRCH)
            remove_if_unlocked(dfd, e->d_name);
    }
    closedir(d); /* closes dfd */
}

/* File access for writing: metadata in the HDF5 1.10 formats (superblock
 * version 3, object header version 2), which carry checksums that libhdf5
 * verifies before it decodes anything, and a single chunk's index kept in
 * the checksummed header (1.8's v1 B-tree record has none). A damaged
 * nabla file is then refused by the checksum instead of being decoded,
 * which libhdf5 does not always survive. HDF5 1.10 and later, h5py built
 * on it included, read these files. */
static hid_t checksummed_fapl(void)
{
    hid_t p = H5Pcreate(H5P_FILE_ACCESS);
    if (p >= 0 && H5Pset_libver_bounds(p, H5F_LIBVER_V110, H5F_LIBVER_LATEST) < 0) {
        drop(p);
        return H5I_INVALID_HID;
    }
    return p;
}

/* A new temporary file beside path, opened for writing through HDF5, after
 * the temporaries of dead writers of the same path are swept away. It is
 * first created with open(2), so a folder that is missing or not writable
 * is reported with the system's reason. */
nb__h5 *nb__h5_create(const char *path, nb_error *err)
{
    if (!path || !*path)
        return early_fail(err, NB_ERR_ARG, "hdf5: no file name given"), NULL;
    quiet();
    nb__h5 *f = handle_new(path, err);
    if (!f)
        return NULL;
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    f->tmp = temp_name(path);
    if (!f->tmp) {
        nb__h5_fail(f, *base ? NB_ERR_NOMEM : NB_ERR_ARG, "%s",
                    *base ? "out of memory for the temporary file's name"
                          : "names a folder, not a file");
        handle_free(f);
        return NULL;
    }
    nb__h5_sweep_temps(path);
    int fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0) {
        nb__h5_fail(f, NB_ERR_ARG, "cannot create the temporary file %s: %s", f->tmp,
                    strerror(errno));
        handle_free(f);
        return NULL;
    }
    close(fd);
    hid_t fapl = checksummed_fapl();
    f->file = fapl < 0 ? H5I_INVALID_HID : H5Fcreate(f->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    drop(fapl);
    if (f->file < 0) {
        hfail(f, NULL, "cannot create the temporary HDF5 file");
        nb__h5_close(f);
        return NULL;
    }
    return f;
}

/* A link-creation list that makes missing parent groups on the way. */
static hid_t parents_lcpl(void)
{
    hid_t p = H5Pcreate(H5P_LINK_CREATE);
    if (p >= 0 && H5Pset_create_intermediate_group(p, 1) < 0) {
        drop(p);
        return H5I_INVALID_HID;
    }
    return p;
}

/* A dataspace for shape s: scalar for rank 0. */
static hid_t shape_space(nb_shape s)
{
    if (s.rank == 0)
        return H5Screate(H5S_SCALAR);
    hsize_t dims[NB_MAX_RANK];
    for (int i = 0; i < s.rank; i++)
        dims[i] = (hsize_t)s.dim[i];
    return H5Screate_simple(s.rank, dims, NULL);
}

/* Dataset creation for values of shape s: chunked with the Fletcher-32
 * filter, so a flipped bit in the numbers is refused when they are read
 * rather than loaded as a different weight. One chunk holds the whole
 * tensor unless it would pass HDF5's 4 GiB chunk limit; then the first
 * axis is split. Scalars and empty tensors cannot be chunked: they are
 * compact, kept inside the checksummed object header. */
static hid_t checksummed_dcpl(nb_shape s)
{
    hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    if (p < 0)
        return p;
    herr_t rc;
    if (s.rank == 0 || nb_shape_numel(s) == 0) {
        rc = H5Pset_layout(p, H5D_COMPACT);
    } else {
        hsize_t chunk[NB_MAX_RANK];
        uint64_t bytes = sizeof(float);
        for (int i = 0; i < s.rank; i++) {
            chunk[i] = (hsize_t)s.dim[i];
            bytes *= chunk[i];
        }
        while (bytes > ((uint64_t)1 << 31) && chunk[0] > 1) {
            bytes /= chunk[0];
            chunk[0] = (chunk[0] + 1) / 2;
            bytes *= chunk[0];
        }
        rc = bytes > ((uint64_t)1 << 31) ? -1 : H5Pset_chunk(p, s.rank, chunk);
        if (rc >= 0)
            rc = H5Pset_fletcher32(p);
    }
    if (rc < 0) {
        drop(p);
        return H5I_INVALID_HID;
    }
    return p;
}

nb_status nb__h5_write_floats(nb__h5 *f, const char *obj, nb_shape s, const float *data)
{
    if (f->status != NB_OK)
        return f->status;
    if (s.rank < 0 || s.rank > NB_MAX_RANK)
        return nb__h5_fail(f, NB_ERR_SHAPE, "%s: rank %d (0 to %d)", obj, s.rank, NB_MAX_RANK);
    hid_t space = shape_space(s), lcpl = parents_lcpl(), dcpl = checksummed_dcpl(s);
    hid_t d = H5I_INVALID_HID;
    if (space >= 0 && lcpl >= 0 && dcpl >= 0)
        d = H5Dcreate2(f->file, obj, H5T_IEEE_F32LE, space, lcpl, dcpl, H5P_DEFAULT);
    herr_t rc = d < 0 ? -1 : nb_shape_numel(s) == 0 ? 0
                           : H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    if (rc < 0)
        hfail(f, obj, d < 0 ? "cannot create the dataset" : "cannot write the dataset");
    drop(d);
    drop(dcpl);
    drop(lcpl);
    drop(space);
    return f->status;
}

/* A fixed-length UTF-8 string type of size bytes, NUL-terminated. */
static hid_t string_type(size_t size)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && (H5Tset_size(t, size) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0 ||
                   H5Tset_cset(t, H5T_CSET_UTF8) < 0)) {
        drop(t);
        return H5I_INVALID_HID;
    }
    return t;
}

/* Dataset creation for a text of size bytes: compact (inside the
 * checksummed object header) when it fits HDF5's 64 KiB limit for
 * compact data, with room for the header's other messages; a longer text
 * is stored contiguously, and only its metadata is checksummed. */
static hid_t compact_dcpl(size_t size)
{
    hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    if (p >= 0 && size <= 60000 && H5Pset_layout(p, H5D_COMPACT) < 0) {
        drop(p);
        return H5I_INVALID_HID;
    }
    return p;
}

nb_status nb__h5_write_string(nb__h5 *f, const char *obj, const char *text)
{
    if (f->status != NB_OK)
        return f->status;
    hid_t type = string_type(strlen(text) + 1), space = H5Screate(H5S_SCALAR);
    hid_t lcpl = parents_lcpl(), dcpl = compact_dcpl(strlen(text) + 1), d = H5I_INVALID_HID;
    if (type >= 0 && space >= 0 && lcpl >= 0 && dcpl >= 0)
        d = H5Dcreate2(f->file, obj, type, space, lcpl, dcpl, H5P_DEFAULT);
    herr_t rc = d < 0 ? -1 : H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, text);
    if (rc < 0)
        hfail(f, obj, d < 0 ? "cannot create the text dataset" : "cannot write the text");
    drop(d);
    drop(dcpl);
    drop(lcpl);
    drop(space);
    drop(type);
    return f->status;
}

nb_status nb__h5_write_group(nb__h5 *f, const char *obj)
{
    if (f->status != NB_OK)
        return f->status;
    hid_t lcpl = parents_lcpl();
    hid_t g = lcpl < 0 ? H5I_INVALID_HID : H5Gcreate2(f->file, obj, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        hfail(f, obj, "cannot create the group");
    drop(g);
    drop(lcpl);
    return f->status;
}

/* An attribute of n values (0: a scalar) of file type ftype, from v in
 * memory type mtype. */
static nb_status write_attr(nb__h5 *f, const char *obj, const char *name, hid_t ftype,
                            hid_t mtype, hsize_t n, const void *v)
{
    if (f->status != NB_OK)
        return f->status;
    hid_t space = n ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR), a = H5I_INVALID_HID;
    if (space >= 0 && ftype >= 0)
        a = H5Acreate_by_name(f->file, obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT,
                              H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, mtype, v) < 0) {
        char what[160];
        snprintf(what, sizeof what, "cannot write the attribute '%s'", name);
        hfail(f, obj, what);
    }
    drop(a);
    drop(space);
    return f->status;
}

nb_status nb__h5_write_attr_int(nb__h5 *f, const char *obj, const char *name, int64_t v)
{
    return write_attr(f, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, 0, &v);
}

nb_status nb__h5_write_attr_double(nb__h5 *f, const char *obj, const char *name, double v)
{
    return write_attr(f, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, &v);
}

nb_status nb__h5_write_attr_string(nb__h5 *f, const char *obj, const char *name, const char *v)
{
    hid_t t = string_type(strlen(v) + 1);
    nb_status st = write_attr(f, obj, name, t, t, 0, v);
    drop(t);
    return st;
}

nb_status nb__h5_write_attr_rng(nb__h5 *f, const char *obj, const char *name, const nb_rng *v)
{
    return write_attr(f, obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, 4, v->s);
}

/* fsync(2) on the finished temporary file: its bytes reach the disk before
 * the rename makes them the target. Returns the descriptor (the caller
 * closes it after the rename), locked as HDF5 kept it while writing, so a
 * sweep in another process leaves the file alone; -1 on failure. */
static int sync_file(nb__h5 *f)
{
    int fd = open(f->tmp, O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
        flock(fd, LOCK_EX | LOCK_NB); /* best effort: the pid check comes first */
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        nb__h5_fail(f, NB_ERR_ARG, "cannot sync %s to disk: %s", f->tmp, strerror(e));
        return -1;
    }
    return fd;
}

/* Best effort: fsync the folder so the rename survives a power cut. A
 * failure here changes nothing the caller could act on. */
static void sync_folder(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash && slash != path ? (size_t)(slash - path) : 1;
    char *dir = nb_malloc(n + 1);
    if (!dir)
        return;
    memcpy(dir, slash ? path : ".", n);
    dir[n] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    nb_free(dir);
}

nb_status nb__h5_commit(nb__h5 *f)
{
    if (!f)
        return NB_ERR_ARG;
    if (f->status == NB_OK && H5Fflush(f->file, H5F_SCOPE_GLOBAL) < 0)
        hfail(f, NULL, "cannot flush the file");
    herr_t rc = H5Fclose(f->file);
    f->file = H5I_INVALID_HID;
    if (rc < 0 && f->status == NB_OK)
        hfail(f, NULL, "cannot close the file");
    int fd = f->status == NB_OK ? sync_file(f) : -1;
    if (f->status == NB_OK && rename(f->tmp, f->path) != 0)
        nb__h5_fail(f, NB_ERR_ARG, "cannot put %s in its place: %s", f->tmp, strerror(errno));
    if (fd >= 0)
        close(fd);
    nb_status st = f->status;
    if (st == NB_OK) {
        sync_folder(f->path);
        nb_free(f->tmp);
        f->tmp = NULL;
    }
    nb__h5_close(f); /* removes the temporary when it is still there */
    return st;
}

/* ---------------------------------------------------------------- opening */

/* True when the HDF5 signature is at offset 0, 512, 1024, … (where a user
 * block may push it), within the file's size. */
static bool has_signature(const char *path, int64_t size)
{
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    FILE *fp = fopen(path, "rb");
    bool found = false;
    for (int64_t at = 0; fp && !found && at + 8 <= size; at = at ? 2 * at : 512) {
        unsigned char buf[8];
        found = fseek(fp, (long)at, SEEK_SET) == 0 && fread(buf, 1, 8, fp) == 8 &&
                !memcmp(buf, sig, 8);
    }
    if (fp)
        fclose(fp);
    return found;
}

nb__h5 *nb__h5_open(const char *path, nb_error *err)
{
    if (!path || !*path)
        return early_fail(err, NB_ERR_ARG, "hdf5: no file name given"), NULL;
    struct stat st;
    if (stat(path, &st) != 0)
        return early_fail(err, NB_ERR_ARG, "%s: cannot open: %s", path, strerror(errno)), NULL;
    if (!S_ISREG(st.st_mode))
        return early_fail(err, NB_ERR_ARG, "%s: not a regular file", path), NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return early_fail(err, NB_ERR_ARG, "%s: cannot open: %s", path, strerror(errno)), NULL;
    fclose(fp);
    if (st.st_size == 0)
        return early_fail(err, NB_ERR_ARG, "%s: an empty file, not HDF5", path), NULL;
    if (!has_signature(path, (int64_t)st.st_size))
        return early_fail(err, NB_ERR_ARG, "%s: not an HDF5 file (no HDF5 signature)", path),
               NULL;
    quiet();
    nb__h5 *f = handle_new(path, err);
    if (!f)
        return NULL;
    f->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f->file < 0) {
        hfail(f, NULL, "a damaged or unreadable HDF5 file");
        nb__h5_close(f);
        return NULL;
    }
    return f;
}

/* ---------------------------------------------------------------- lookups */

/* The reading of a damaged file: libhdf5 could not answer a lookup (a
 * checksum that does not match, an address past the end). Said as such,
 * not as an object the file lacks. */
static void damaged(nb__h5 *f, const char *obj)
{
    hfail(f, obj && strcmp(obj, "/") ? obj : NULL, "a damaged or unreadable HDF5 file");
}

/* True when the object at p (which exists) is a group; not, and f failed,
 * when libhdf5 cannot tell. */
static bool is_group(nb__h5 *f, const char *p)
{
    H5O_info_t info;
    if (H5Oget_info_by_name2(f->file, p, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
        damaged(f, p);
        return false;
    }
    return info.type == H5O_TYPE_GROUP;
}

/* True when the link at p exists and is not an external link; a lookup
 * libhdf5 cannot make fails f. */
static bool link_ok(nb__h5 *f, const char *p)
{
    H5L_info_t info;
    htri_t there = H5Lexists(f->file, p, H5P_DEFAULT);
    if (there > 0 && H5Lget_info(f->file, p, &info, H5P_DEFAULT) < 0)
        there = -1;
    if (there < 0)
        damaged(f, p);
    return there > 0 && info.type != H5L_TYPE_EXTERNAL;
}

bool nb__h5_exists(nb__h5 *f, const char *obj)
{
    if (!f || f->file < 0 || !obj || obj[0] != '/')
        return false;
    size_t n = strlen(obj);
    char *p = nb_malloc(n + 1);
    if (!p)
        return nb__h5_fail(f, NB_ERR_NOMEM, "out of memory looking up %s", obj), false;
    memcpy(p, obj, n + 1);
    bool ok = true;
    for (size_t i = 1; ok && i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        /* a name below a dataset is not there (libhdf5 would call it an error) */
        ok = i > 1 && p[i - 1] != '/' && link_ok(f, p) && (c == '\0' || is_group(f, p));
        p[i] = c;
    }
    nb_free(p);
    H5Eclear2(H5E_DEFAULT);
    return ok || !strcmp(obj, "/");
}

bool nb__h5_has_attr(nb__h5 *f, const char *obj, const char *name)
{
    if (!nb__h5_exists(f, obj))
        return false;
    htri_t yes = H5Aexists_by_name(f->file, obj, name, H5P_DEFAULT);
    if (yes < 0)
        damaged(f, obj);
    H5Eclear2(H5E_DEFAULT);
    return yes > 0;
}

static const char *class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER: return "integers";
    case H5T_FLOAT: return "floats";
    case H5T_STRING: return "strings";
    case H5T_COMPOUND: return "compound records";
    case H5T_ENUM: return "enum values";
    case H5T_VLEN: return "variable-length sequences";
    case H5T_ARRAY: return "array elements";
    case H5T_REFERENCE: return "references";
    case H5T_OPAQUE: return "opaque data";
    case H5T_BITFIELD: return "bitfields";
    case H5T_TIME: return "times";
    default: return "values of an unknown type";
    }
}

/* Opens obj as a dataset, or fails naming what it is instead. */
static hid_t open_dataset(nb__h5 *f, const char *obj)
{
    if (f->status != NB_OK)
        return H5I_INVALID_HID;
    if (!nb__h5_exists(f, obj))
        return nb__h5_fail(f, NB_ERR_ARG, "%s: missing", obj), H5I_INVALID_HID;
    hid_t o = H5Oopen(f->file, obj, H5P_DEFAULT);
    if (o < 0)
        return hfail(f, obj, "cannot open"), H5I_INVALID_HID;
    if (H5Iget_type(o) != H5I_DATASET) {
        nb__h5_fail(f, NB_ERR_ARG, "%s: a %s, not a dataset", obj,
                    H5Iget_type(o) == H5I_GROUP ? "group" : "named type");
        drop(o);
        return H5I_INVALID_HID;
    }
    return o;
}

/* The shape of a dataspace, or a failure naming obj. */
static nb_status space_shape(nb__h5 *f, const char *obj, hid_t space, nb_shape *s)
{
    H5S_class_t kind = H5Sget_simple_extent_type(space);
    if (kind == H5S_SCALAR) {
        *s = NB_SCALAR;
        return NB_OK;
    }
    if (kind != H5S_SIMPLE)
        return nb__h5_fail(f, NB_ERR_SHAPE, "%s: holds no values (a null dataspace)", obj);
    int rank = H5Sget_simple_extent_ndims(space);
    if (rank < 0 || rank > NB_MAX_RANK)
        return nb__h5_fail(f, NB_ERR_SHAPE, "%s: rank %d (nabla handles 0 to %d)", obj, rank,
                           NB_MAX_RANK);
    hsize_t dims[NB_MAX_RANK];
    H5Sget_simple_extent_dims(space, dims, NULL);
    s->rank = rank;
    for (int i = 0; i < rank; i++) {
        if (dims[i] > ((hsize_t)1 << 60))
            return nb__h5_fail(f, NB_ERR_SHAPE, "%s: dimension %d of size %llu is not plausible",
                               obj, i, (unsigned long long)dims[i]);
        s->dim[i] = (int64_t)dims[i];
    }
    return NB_OK;
}

/* True when a number type's declared bit layout fits its size. HDF5
 * 1.10.8 converts numbers through the layout a file declares without
 * checking it, and a damaged one (a precision it cannot report, bits past
 * the type's bytes) faults inside libhdf5 during the read. */
static bool layout_ok(hid_t type)
{
    size_t size = H5Tget_size(type), prec = H5Tget_precision(type), bits = 8 * size;
    int off = H5Tget_offset(type);
    if (size == 0 || size > 16 || prec == 0 || off < 0 || (size_t)off + prec > bits)
        return false;
    if (H5Tget_class(type) != H5T_FLOAT)
        return true;
    size_t spos, epos, esize, mpos, msize;
    return H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) >= 0 && spos < bits &&
           esize > 0 && epos + esize <= bits && msize > 0 && mpos + msize <= bits;
}

/* Fails unless type is integer or float, with a layout libhdf5 can convert. */
static nb_status check_numeric(nb__h5 *f, const char *obj, hid_t type)
{
    H5T_class_t c = H5Tget_class(type);
    if ((c == H5T_INTEGER || c == H5T_FLOAT) && !layout_ok(type)) {
        H5Eclear2(H5E_DEFAULT);
        return nb__h5_fail(f, NB_ERR_ARG, "%s: a damaged number type (its bit layout does not "
                           "fit its %zu bytes)", obj, H5Tget_size(type));
    }
    if (c == H5T_INTEGER || c == H5T_FLOAT)
        return NB_OK;
    return nb__h5_fail(f, NB_ERR_ARG, "%s: holds %s, not numbers", obj, class_name(c));
}

nb_status nb__h5_dataset_shape(nb__h5 *f, const char *obj, nb_shape *s)
{
    hid_t d = open_dataset(f, obj);
    hid_t type = d < 0 ? H5I_INVALID_HID : H5Dget_type(d);
    hid_t space = d < 0 ? H5I_INVALID_HID : H5Dget_space(d);
    if (d >= 0 && (type < 0 || space < 0))
        hfail(f, obj, "cannot read the dataset's type and shape");
    if (f->status == NB_OK)
        check_numeric(f, obj, type);
    if (f->status == NB_OK)
        space_shape(f, obj, space, s);
    drop(space);
    drop(type);
    drop(d);
    return f->status;
}

nb_status nb__h5_read_floats(nb__h5 *f, const char *obj, float *out, int64_t numel)
{
    nb_shape s = NB_SCALAR;
    if (nb__h5_dataset_shape(f, obj, &s) != NB_OK)
        return f->status;
    if (nb_shape_numel(s) != numel)
        return nb__h5_fail(f, NB_ERR_SHAPE, "%s: %lld values, expected %lld", obj,
                           (long long)nb_shape_numel(s), (long long)numel);
    hid_t d = open_dataset(f, obj);
    if (d >= 0 && numel > 0 && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
        hfail(f, obj, "cannot read the values");
    drop(d);
    return f->status;
}

/* True when obj is a dataset of 8-bit unsigned integers: the raw pixels a
 * model's x_div scales. Quiet (no message) when it is not, or is missing. */
bool nb__h5_is_u8(nb__h5 *f, const char *obj)
{
    if (f->status != NB_OK || !nb__h5_exists(f, obj))
        return false;
    hid_t d = open_dataset(f, obj);
    hid_t type = d < 0 ? H5I_INVALID_HID : H5Dget_type(d);
    bool u8 = type >= 0 && H5Tget_class(type) == H5T_INTEGER && H5Tget_size(type) == 1 &&
              H5Tget_sign(type) == H5T_SGN_NONE;
    drop(type);
    drop(d);
    return u8;
}

nb_status nb__h5_read_double_at(nb__h5 *f, const char *obj, int64_t at, double *v)
{
    hid_t d = open_dataset(f, obj);
    hid_t space = d < 0 ? H5I_INVALID_HID : H5Dget_space(d);
    hsize_t one = 1, dims[H5S_MAX_RANK], coord[H5S_MAX_RANK];
    hid_t mem = space < 0 ? H5I_INVALID_HID : H5Screate_simple(1, &one, NULL);
    int rank = space < 0 ? -1 : H5Sget_simple_extent_dims(space, dims, NULL);
    for (int i = rank - 1; i >= 0; i--) {
        coord[i] = dims[i] ? (hsize_t)at % dims[i] : 0;
        at = dims[i] ? at / (int64_t)dims[i] : 0;
    }
    herr_t e = mem < 0 || rank < 0 ? -1
             : rank == 0 ? H5Sselect_all(space)
                         : H5Sselect_elements(space, H5S_SELECT_SET, 1, coord);
    if (f->status == NB_OK &&
        (e < 0 || H5Dread(d, H5T_NATIVE_DOUBLE, mem, space, H5P_DEFAULT, v) < 0))
        hfail(f, obj, "cannot read a value");
    drop(mem);
    drop(space);
    drop(d);
    return f->status;
}

nb_status nb__h5_read_u8(nb__h5 *f, const char *obj, uint8_t *out, int64_t numel)
{
    nb_shape s = NB_SCALAR;
    if (nb__h5_dataset_shape(f, obj, &s) != NB_OK)
        return f->status;
    if (nb_shape_numel(s) != numel)
        return nb__h5_fail(f, NB_ERR_SHAPE, "%s: %lld values, expected %lld", obj,
                           (long long)nb_shape_numel(s), (long long)numel);
    hid_t d = open_dataset(f, obj);
    if (d >= 0 && numel > 0 && H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
        hfail(f, obj, "cannot read the values");
    drop(d);
    return f->status;
}

/* ---------------------------------------------------------------- strings */

/* Strings are read through read(), which is H5Dread or H5Aread on the
 * object id, into a memory type with the file's character set (HDF5 will
 * not convert between ASCII and UTF-8). */
typedef herr_t (*read_fn)(hid_t id, hid_t mtype, void *buf);

static herr_t dataset_read(hid_t id, hid_t mtype, void *buf)
{
    return H5Dread(id, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
}

/* A C string type of size bytes (or H5T_VARIABLE) in ftype's character set. */
static hid_t text_type(hid_t ftype, size_t size)
{
    hid_t mt = H5Tcopy(H5T_C_S1);
    if (mt >= 0 && (H5Tset_size(mt, size) < 0 || H5Tset_cset(mt, H5Tget_cset(ftype)) < 0 ||
                    (size != H5T_VARIABLE && H5Tset_strpad(mt, H5T_STR_NULLPAD) < 0))) {
        drop(mt);
        return H5I_INVALID_HID;
    }
    return mt;
}

static nb_status too_long(nb__h5 *f, const char *obj, size_t n, size_t max_bytes)
{
    return nb__h5_fail(f, NB_ERR_ARG, "%s: a text of %zu bytes, more than the %zu accepted", obj,
                       n, max_bytes);
}

/* A variable-length string: HDF5 allocates it, we copy it and free it. */
static char *read_vlen_text(nb__h5 *f, const char *obj, hid_t id, hid_t ftype, read_fn read,
                            size_t max_bytes)
{
    hid_t mt = text_type(ftype, H5T_VARIABLE);
    char *vp = NULL, *buf = NULL;
    if (mt < 0 || read(id, mt, &vp) < 0)
        hfail(f, obj, "cannot read the text");
    else if (strlen(vp ? vp : "") > max_bytes)
        too_long(f, obj, strlen(vp), max_bytes);
    else if (!(buf = nb_malloc(strlen(vp ? vp : "") + 1)))
        nb__h5_fail(f, NB_ERR_NOMEM, "%s: out of memory for the text", obj);
    else
        strcpy(buf, vp ? vp : "");
    H5free_memory(vp);
    drop(mt);
    return buf;
}

/* A fixed-length string of H5Tget_size bytes (padding included), read
 * into a buffer one byte longer so it always ends in NUL. */
static char *read_fixed_text(nb__h5 *f, const char *obj, hid_t id, hid_t ftype, read_fn read,
                             size_t max_bytes)
{
    size_t size = H5Tget_size(ftype);
    if (size > max_bytes + 4096) /* room for padding, not for a flood */
        return too_long(f, obj, size, max_bytes), NULL;
    hid_t mt = text_type(ftype, size);
    char *buf = nb_calloc(size + 1, 1);
    if (!buf)
        nb__h5_fail(f, NB_ERR_NOMEM, "%s: out of memory for %zu bytes of text", obj, size);
    else if (mt < 0 || read(id, mt, buf) < 0)
        hfail(f, obj, "cannot read the text");
    else if (strlen(buf) > max_bytes)
        too_long(f, obj, strlen(buf), max_bytes);
    drop(mt);
    if (f->status != NB_OK) {
        nb_free(buf);
        return NULL;
    }
    return buf;
}

/* One string of type ftype as a malloc'd text in *text. */
static nb_status read_text(nb__h5 *f, const char *obj, hid_t id, hid_t ftype, read_fn read,
                           size_t max_bytes, char **text)
{
    htri_t vlen = H5Tis_variable_str(ftype);
    if (vlen < 0)
        return hfail(f, obj, "cannot read the string type");
    char *t = vlen ? read_vlen_text(f, obj, id, ftype, read, max_bytes)
                   : read_fixed_text(f, obj, id, ftype, read, max_bytes);
    if (t)
        *text = t;
    return f->status;
}

/* Fails unless type is a string type and space holds exactly one value. */
static nb_status check_one_string(nb__h5 *f, const char *obj, hid_t type, hid_t space)
{
    if (f->status != NB_OK)
        return f->status;
    if (H5Tget_class(type) != H5T_STRING)
        return nb__h5_fail(f, NB_ERR_ARG, "%s: holds %s, not text", obj,
                           class_name(H5Tget_class(type)));
    if (H5Sget_simple_extent_npoints(space) != 1)
        return nb__h5_fail(f, NB_ERR_SHAPE, "%s: holds %lld strings, not one", obj,
                           (long long)H5Sget_simple_extent_npoints(space));
    return NB_OK;
}

nb_status nb__h5_read_string(nb__h5 *f, const char *obj, size_t max_bytes, char **text)
{
    hid_t d = open_dataset(f, obj);
    hid_t type = d < 0 ? H5I_INVALID_HID : H5Dget_type(d);
    hid_t space = d < 0 ? H5I_INVALID_HID : H5Dget_space(d);
    if (d >= 0 && (type < 0 || space < 0))
        hfail(f, obj, "cannot read the dataset's type and shape");
    if (check_one_string(f, obj, type, space) == NB_OK)
        read_text(f, obj, d, type, dataset_read, max_bytes, text);
    drop(space);
    drop(type);
    drop(d);
    return f->status;
}

/* ---------------------------------------------------------------- attributes */

/* Opens attribute name of obj with its type, number of values and rank
 * (rank may be NULL). */
static hid_t open_attr(nb__h5 *f, const char *obj, const char *name, hid_t *type,
                       int64_t *count, int *rank)
{
    *type = H5I_INVALID_HID;
    if (f->status != NB_OK)
        return H5I_INVALID_HID;
    if (!nb__h5_exists(f, obj))
        return nb__h5_fail(f, NB_ERR_ARG, "%s: missing", obj), H5I_INVALID_HID;
    if (!nb__h5_has_attr(f, obj, name))
        return nb__h5_fail(f, NB_ERR_ARG, "%s: no attribute '%s'", obj, name), H5I_INVALID_HID;
    hid_t a = H5Aopen_by_name(f->file, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    hid_t space = a < 0 ? H5I_INVALID_HID : H5Aget_space(a);
    *type = a < 0 ? H5I_INVALID_HID : H5Aget_type(a);
    if (a < 0 || space < 0 || *type < 0) {
        char what[160];
        snprintf(what, sizeof what, "cannot open the attribute '%s'", name);
        hfail(f, obj, what);
    }
    *count = space < 0 ? 0 : H5Sget_simple_extent_npoints(space);
    if (rank)
        *rank = space < 0 ? 0 : H5Sget_simple_extent_ndims(space);
    drop(space);
    if (f->status != NB_OK) {
        drop(*type);
        drop(a);
        *type = H5I_INVALID_HID;
        return H5I_INVALID_HID;
    }
    return a;
}

/* What an attribute must hold. */
typedef enum attr_kind { ATTR_INT, ATTR_NUMBER, ATTR_U64 } attr_kind;

/* Refuses a type of another class than kind asks for (integers for
 * ATTR_INT, integers or floats for ATTR_NUMBER, unsigned 64-bit integers
 * for ATTR_U64: HDF5 would clip a negative or wider value silently). */
static nb_status check_attr_type(nb__h5 *f, const char *obj, const char *name, hid_t type,
                                 attr_kind kind)
{
    static const char *const wanted[] = {"integers", "numbers", "unsigned 64-bit integers"};
    H5T_class_t c = H5Tget_class(type);
    bool ok = kind == ATTR_NUMBER ? c == H5T_INTEGER || c == H5T_FLOAT : c == H5T_INTEGER;
    if (ok && kind == ATTR_U64 && (H5Tget_sign(type) != H5T_SGN_NONE || H5Tget_size(type) != 8))
        return nb__h5_fail(f, NB_ERR_ARG, "%s: attribute '%s' holds %s %zu-bit integers, not %s",
                           obj, name, H5Tget_sign(type) == H5T_SGN_NONE ? "unsigned" : "signed",
                           8 * H5Tget_size(type), wanted[kind]);
    if (!ok)
        return nb__h5_fail(f, NB_ERR_ARG, "%s: attribute '%s' holds %s, not %s", obj, name,
                           class_name(c), wanted[kind]);
    if (!layout_ok(type)) {
        H5Eclear2(H5E_DEFAULT);
        return nb__h5_fail(f, NB_ERR_ARG, "%s: attribute '%s' has a damaged number type (its "
                           "bit layout does not fit its %zu bytes)", obj, name,
                           H5Tget_size(type));
    }
    return NB_OK;
}

/* Reads count numbers of attribute name as mtype: one value from a scalar,
 * several from a list (rank 1) of exactly count; the type as kind says. */
static nb_status read_attr_numbers(nb__h5 *f, const char *obj, const char *name, hid_t mtype,
                                   int64_t count, attr_kind kind, void *out)
{
    hid_t type;
    int64_t n;
    int rank = 0, want = count == 1 ? 0 : 1;
    hid_t a = open_attr(f, obj, name, &type, &n, &rank);
    if (a < 0)
        return f->status;
    char must[48] = "a single value";
    if (want)
        snprintf(must, sizeof must, "a list of %lld values", (long long)count);
    if (check_attr_type(f, obj, name, type, kind) == NB_OK && rank != want)
        nb__h5_fail(f, NB_ERR_SHAPE, "%s: attribute '%s' has %d dimension%s; it must be %s", obj,
                    name, rank, rank == 1 ? "" : "s", must);
    if (f->status == NB_OK && n != count)
        nb__h5_fail(f, NB_ERR_SHAPE, "%s: attribute '%s' holds %lld values, not %lld", obj,
                    name, (long long)n, (long long)count);
    if (f->status == NB_OK && H5Aread(a, mtype, out) < 0) {
        char what[160];
        snprintf(what, sizeof what, "cannot read the attribute '%s'", name);
        hfail(f, obj, what);
    }
    drop(type);
    drop(a);
    return f->status;
}

nb_status nb__h5_read_attr_int(nb__h5 *f, const char *obj, const char *name, int64_t *v)
{
    return read_attr_numbers(f, obj, name, H5T_NATIVE_INT64, 1, ATTR_INT, v);
}

nb_status nb__h5_read_attr_double(nb__h5 *f, const char *obj, const char *name, double *v)
{
    return read_attr_numbers(f, obj, name, H5T_NATIVE_DOUBLE, 1, ATTR_NUMBER, v);
}

nb_status nb__h5_read_attr_rng(nb__h5 *f, const char *obj, const char *name, nb_rng *v)
{
    return read_attr_numbers(f, obj, name, H5T_NATIVE_UINT64, 4, ATTR_U64, v->s);
}

nb_status nb__h5_read_attr_string(nb__h5 *f, const char *obj, const char *name, char *buf,
                                  size_t size)
{
    hid_t type;
    int64_t n;
    hid_t a = open_attr(f, obj, name, &type, &n, NULL);
    if (a < 0)
        return f->status;
    char label[300], *text = NULL;
    snprintf(label, sizeof label, "%s: attribute '%s'", obj, name);
    if (H5Tget_class(type) != H5T_STRING)
        nb__h5_fail(f, NB_ERR_ARG, "%s holds %s, not text", label,
                    class_name(H5Tget_class(type)));
    else if (n != 1)
        nb__h5_fail(f, NB_ERR_SHAPE, "%s holds %lld strings, not one", label, (long long)n);
    else if (read_text(f, label, a, type, H5Aread, size - 1, &text) == NB_OK)
        memcpy(buf, text, strlen(text) + 1);
    nb_free(text);
    drop(type);
    drop(a);
    return f->status;
}

/* ---------------------------------------------------------------- listing */

typedef struct visit_ctx {
    nb__h5_visit_fn fn;
    void *ud;
} visit_ctx;

static herr_t visit_link(hid_t g, const char *name, const H5L_info_t *info, void *ud)
{
    visit_ctx *c = ud;
    if (info->type != H5L_TYPE_HARD)
        return 0;
    hid_t o = H5Oopen(g, name, H5P_DEFAULT);
    bool dataset = o >= 0 && H5Iget_type(o) == H5I_DATASET;
    drop(o);
    return dataset && !c->fn(c->ud, name) ? 1 : 0;
}

nb_status nb__h5_list_datasets(nb__h5 *f, const char *group, nb__h5_visit_fn fn, void *ud)
{
    if (f->status != NB_OK || !nb__h5_exists(f, group))
        return f->status;
    hid_t g = H5Gopen2(f->file, group, H5P_DEFAULT);
    if (g < 0)
        return hfail(f, group, "cannot open as a group");
    visit_ctx c = {fn, ud};
    if (H5Lvisit(g, H5_INDEX_NAME, H5_ITER_INC, visit_link, &c) < 0)
        hfail(f, group, "cannot list the group");
    drop(g);
    return f->status;
}
