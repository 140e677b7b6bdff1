/*
 * memory.c — the process allocator: every byte nabla allocates outside a
 * graph (trainers, datasets, model files, file buffers, returned strings)
 * and every graph made by nb_graph_new goes through one nb_alloc_fn, so a
 * program can count, limit or fail allocations (SQLite's
 * SQLITE_CONFIG_MALLOC, Lua's lua_Alloc). Each block carries its size in a
 * header in front of it, as SQLite's mem1.c does, so the hook sees exact
 * old and new sizes and nb_free needs no size from its caller.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

/* The header keeps what follows it aligned for any type, as malloc's is. */
typedef union nb__mem_head {
    max_align_t align;
    size_t size;
} nb__mem_head;

static void *default_alloc(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    (void)ud;
    (void)old_size;
    if (new_size == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, new_size);
}

static nb_alloc_fn mem_alloc = default_alloc;
static void *mem_ud;

void nb_set_allocator(nb_alloc_fn alloc, void *ud)
{
    mem_alloc = alloc ? alloc : default_alloc;
    mem_ud = alloc ? ud : NULL;
}

nb_alloc_fn nb_get_allocator(void **ud)
{
    if (ud)
        *ud = mem_ud;
    return mem_alloc;
}

void *nb_malloc(size_t size)
{
    if (size > SIZE_MAX - sizeof(nb__mem_head))
        return NULL;
    nb__mem_head *h = mem_alloc(mem_ud, NULL, 0, sizeof *h + size);
    if (!h)
        return NULL;
    h->size = size;
    return h + 1;
}

void *nb_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = nb_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

/* Unlike realloc, a size of 0 keeps a block (of no bytes): NULL always
 * means failure, and p is then untouched. */
void *nb_realloc(void *p, size_t size)
{
    if (!p)
        return nb_malloc(size);
    if (size > SIZE_MAX - sizeof(nb__mem_head))
        return NULL;
    nb__mem_head *h = (nb__mem_head *)p - 1;
    nb__mem_head *q = mem_alloc(mem_ud, h, sizeof *h + h->size, sizeof *q + size);
    if (!q)
        return NULL;
    q->size = size;
    return q + 1;
}

char *nb_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = nb_malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

void nb_free(void *p)
{
    if (!p)
        return;
    nb__mem_head *h = (nb__mem_head *)p - 1;
    mem_alloc(mem_ud, h, sizeof *h + h->size, 0);
}
