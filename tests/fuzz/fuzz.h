/*
 * fuzz.h — what nabla's fuzz harnesses share (tests/fuzz/, docs/fuzzing.md).
 *
 * Each harness defines LLVMFuzzerTestOneInput(data, size): it hands the
 * bytes to one reader of nabla through the public API and aborts when the
 * reader breaks a promise nabla makes about hostile input:
 *   - a refusal always comes with a message (fuzz_require_message);
 *   - what a reader accepts is self-consistent (each harness's own checks).
 * Crashes, leaks and undefined behaviour are found by the sanitizers the
 * fuzz build compiles with (ASan, UBSan, LeakSanitizer).
 *
 * Built with libFuzzer (-Dfuzz=enabled) the harness is a fuzzer; built in
 * the normal suite, replay.c gives it a main() that runs every file of its
 * corpus folder once, so each seed and each input a campaign found stays a
 * regression test.
 */
#ifndef NABLA_FUZZ_H
#define NABLA_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "nabla.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts, naming `call`, when status is a refusal whose message is empty
 * (or not NUL-terminated within the buffer nb_error gives it). */
void fuzz_require_message(const char *call, nb_status status, const char *message,
                          size_t capacity);
/* The same for an nb_error filled by a call that returned status. With
 * NABLA_FUZZ_VERBOSE set (non-empty) in the environment, also prints the
 * call's outcome and message on stderr: what an input does, at a glance. */
void fuzz_require_error(const char *call, nb_status status, const nb_error *err);
/* Aborts when any HDF5 object (file, group, dataset, attribute, type,
 * dataspace) is still open: every reader closes what it opened, on every
 * path. */
void fuzz_require_hdf5_closed(const char *call);
/* Aborts with a message: a promise the harness checks was broken. */
void fuzz_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2), noreturn))
#endif
    ;

/* The bytes as a file of this process, named after `tag` (and the
 * suffix, e.g. ".h5"), in $NABLA_FUZZ_TMPDIR, else /dev/shm when it is
 * there (no disk I/O), else /tmp. Returns its path (static storage, one
 * per tag slot 0 or 1), or aborts when it cannot be written. */
const char *fuzz_write_file(int slot, const char *suffix, const uint8_t *data, size_t size);
/* Removes the files fuzz_write_file made. */
void fuzz_remove_files(void);

/* A graph allocator (nb_graph_new_with_allocator) that refuses to hold
 * more than `limit` bytes at once: a fuzzed model asking for a gigabyte
 * of parameters must be refused with a message, not fill the machine.
 * ud is a fuzz_budget. */
typedef struct fuzz_budget {
    size_t limit, used;
} fuzz_budget;
void *fuzz_capped_alloc(void *ud, void *ptr, size_t old_size, size_t new_size);

/* The source folder's tests/fuzz, for harnesses that read a model file
 * (set at build time). */
const char *fuzz_source_dir(void);

#endif
