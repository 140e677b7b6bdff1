/*
 * fuzz.c — helpers of the fuzz harnesses (fuzz.h): the message check,
 * fuzz input as a file, and a graph allocator with a ceiling.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if NB_HAVE_HDF5
#include <hdf5.h>
#endif

#include "fuzz.h"

void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("nabla fuzz: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    abort();
}

void fuzz_require_message(const char *call, nb_status status, const char *message,
                          size_t capacity)
{
    if (status == NB_OK)
        return;
    if (!message)
        fuzz_fail("%s refused (status %d) with no message (NULL)", call, (int)status);
    if (capacity && strnlen(message, capacity) == capacity)
        fuzz_fail("%s refused (status %d): its message is not NUL-terminated", call,
                  (int)status);
    if (!message[0])
        fuzz_fail("%s refused (status %d) without a message", call, (int)status);
}

void fuzz_require_error(const char *call, nb_status status, const nb_error *err)
{
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("NABLA_FUZZ_VERBOSE") && *getenv("NABLA_FUZZ_VERBOSE");
    if (verbose)
        fprintf(stderr, "%s: %s%s\n", call, status == NB_OK ? "accepted" : "refused: ",
                status == NB_OK ? "" : err->message);
    if (status != NB_OK && err->status == NB_OK)
        fuzz_fail("%s refused (status %d) but left status OK in its nb_error (message \"%s\")",
                  call, (int)status, err->message);
    fuzz_require_message(call, status, err->message, sizeof err->message);
}

#if NB_HAVE_HDF5
void fuzz_require_hdf5_closed(const char *call)
{
    ssize_t open = H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open != 0)
        fuzz_fail("%s left %zd HDF5 object%s open", call, open, open == 1 ? "" : "s");
}
#endif

/* ---------------------------------------------------------------- files */

static char paths[2][512];

static const char *temp_dir(void)
{
    const char *d = getenv("NABLA_FUZZ_TMPDIR");
    struct stat st;
    if (d && *d)
        return d;
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
        return "/dev/shm";
    d = getenv("TMPDIR");
    return d && *d ? d : "/tmp";
}

const char *fuzz_write_file(int slot, const char *suffix, const uint8_t *data, size_t size)
{
    if (slot < 0 || slot > 1)
        fuzz_fail("fuzz_write_file: slot %d", slot);
    char *p = paths[slot];
    snprintf(p, sizeof paths[slot], "%s/nabla-fuzz-%ld-%d%s", temp_dir(), (long)getpid(), slot,
             suffix ? suffix : "");
    FILE *f = fopen(p, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        fuzz_fail("cannot write the fuzz input to %s", p);
    return p;
}

void fuzz_remove_files(void)
{
    for (int i = 0; i < 2; i++)
        if (paths[i][0])
            unlink(paths[i]);
}

/* ---------------------------------------------------------------- memory */

void *fuzz_capped_alloc(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    fuzz_budget *b = ud;
    if (new_size == 0) {
        free(ptr);
        b->used -= ptr ? old_size : 0;
        return NULL;
    }
    size_t held = b->used - (ptr ? old_size : 0);
    if (new_size > b->limit || held > b->limit - new_size)
        return NULL;
    void *q = realloc(ptr, new_size);
    if (q)
        b->used = held + new_size;
    return q;
}

const char *fuzz_source_dir(void)
{
    return NABLA_FUZZ_SOURCE_DIR;
}
