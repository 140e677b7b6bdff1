/*
 * memlimit.c — nb_memory_check: can the process map so many more bytes now?
 * For the few callers that hand work to a library that does not survive a
 * failed allocation (OpenBLAS retries forever, fontconfig and GLib crash or
 * abort), so that a memory limit (ulimit -v, -d) gives a message naming it
 * instead of a hang or a crash.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "graph_internal.h"

#define MB(bytes) ((unsigned long long)(bytes) >> 20)

/* The process's mapped size now, from /proc/self/statm; 0 when unknown. */
static size_t mapped_now(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long pages = 0;
    if (f) {
        if (fscanf(f, "%llu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* The memory limit in force, in MB, and its name ("ulimit -v", -d) in
 * *which; 0 and NULL when neither RLIMIT_AS nor RLIMIT_DATA is set. */
static unsigned long long limit_mb(const char **which)
{
    struct rlimit r;
    *which = NULL;
    if (getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_cur != RLIM_INFINITY)
        return *which = "ulimit -v", MB(r.rlim_cur);
    if (getrlimit(RLIMIT_DATA, &r) == 0 && r.rlim_cur != RLIM_INFINITY)
        return *which = "ulimit -d", MB(r.rlim_cur);
    return 0;
}

void nb__limit_describe(char *buf, size_t size)
{
    const char *which;
    unsigned long long limit = limit_mb(&which), used = MB(mapped_now());
    if (!which)
        snprintf(buf, size, "%s", "");
    else if (used)
        snprintf(buf, size, " (%llu MB in use; the limit is %llu MB, %s)", used, limit, which);
    else
        snprintf(buf, size, " (the limit is %llu MB, %s)", limit, which);
}

nb_status nb_memory_check(size_t bytes, const char *what, nb_error *err)
{
    /* Private and writable, as the callers' libraries map: RLIMIT_AS and
     * RLIMIT_DATA both count it. Untouched pages cost nothing. */
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
        munmap(p, bytes);
        return NB_OK;
    }
    what = what ? what : "this";
    const char *which;
    unsigned long long limit = limit_mb(&which), used = MB(mapped_now());
    if (!which)
        return nb_error_set(err, NB_ERR_NOMEM, "%s needs about %llu MB of address space, which "
                            "the system refused (no ulimit is set: its overcommit policy?)",
                            what, MB(bytes) + 1);
    return nb_error_set(err, NB_ERR_NOMEM, "%s needs about %llu MB of address space beyond the "
                        "%llu MB in use; the limit is %llu MB (%s): about %llu MB would do", what,
                        MB(bytes) + 1, used, limit, which, MB(bytes) + 1 + used);
}
