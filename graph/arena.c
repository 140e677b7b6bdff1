/*
 * arena.c — every byte a graph owns comes from here: the user's allocator
 * behind one checked helper, and an arena of blocks freed all at once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

#define NB__BLOCK_BYTES (64 * 1024)
#define NB__ALIGN 64

/* An allocator promises only malloc's alignment (16 bytes), so data starts
 * at the first 64-byte boundary after the header: a block is allocated
 * NB__ALIGN - 1 bytes larger than the room it offers. */
struct nb__block {
    nb__block *next;
    size_t size, used;   /* bytes of room at data, bytes handed out */
    unsigned char *data; /* 64-byte aligned, inside this block */
};

static size_t block_bytes(size_t size)
{
    return sizeof(nb__block) + size + NB__ALIGN - 1;
}

void *nb__realloc(nb_graph *g, void *p, size_t old_size, size_t new_size, const char *what)
{
    void *q = g->alloc(g->ud, p, old_size, new_size);
    if (!q && new_size > 0) {
        char limit[96];
        nb__limit_describe(limit, sizeof limit);
        nb_graph_fail(g, NB_ERR_NOMEM, "out of memory allocating %zu bytes for %s%s", new_size,
                      what, limit);
    }
    return q;
}

void *nb__alloc(nb_graph *g, size_t size, const char *what)
{
    return nb__realloc(g, NULL, 0, size, what);
}

void nb__free(nb_graph *g, void *p, size_t size)
{
    if (p)
        g->alloc(g->ud, p, size, 0);
}

/* A fresh block with room for at least `need` bytes; big requests get a
 * block of their own so a large constant does not waste a standard block. */
static nb__block *block_new(nb_graph *g, size_t need)
{
    size_t size = need > NB__BLOCK_BYTES ? need : NB__BLOCK_BYTES;
    nb__block *b = nb__alloc(g, block_bytes(size), "the graph arena");
    if (!b)
        return NULL;
    uintptr_t at = (uintptr_t)(b + 1);
    b->data = (unsigned char *)(b + 1) + ((NB__ALIGN - at % NB__ALIGN) % NB__ALIGN);
    b->size = size;
    b->used = 0;
    b->next = g->blocks;
    g->blocks = b;
    return b;
}

void *nb__arena(nb_graph *g, size_t size)
{
    size = (size + NB__ALIGN - 1) & ~(size_t)(NB__ALIGN - 1);
    if (size == 0)
        size = NB__ALIGN;
    nb__block *b = g->blocks;
    if (!b || b->size - b->used < size) {
        b = block_new(g, size);
        if (!b)
            return NULL;
    }
    void *p = b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

char *nb__arena_strdup(nb_graph *g, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = nb__arena(g, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

void nb__arena_free_all(nb_graph *g)
{
    nb__block *b = g->blocks;
    while (b) {
        nb__block *next = b->next;
        nb__free(g, b, block_bytes(b->size));
        b = next;
    }
    g->blocks = NULL;
}
