#!/bin/sh
# Library code allocates only through nabla's allocator hook (nb_malloc,
# nb_calloc, nb_realloc, nb_strdup, nb_free in include/nabla.h), so
# nb_set_allocator sees every byte and tests/test_alloc_fail.c can refuse
# any of them. graph/memory.c is the hook itself; memory a library hands
# out and frees through the C library is marked "not nabla's" on its line.
# Usage: test_alloc_hook.sh SOURCE_ROOT
cd "$1" || exit 1
bad=$(grep -nE '(^|[^A-Za-z0-9_.>])(malloc|calloc|realloc|free|strdup|strndup|aligned_alloc|posix_memalign)[[:space:]]*\(' \
        graph/*.[ch] ops/*.[ch] autodiff/*.[ch] layers/*.[ch] train/*.[ch] io/*.[ch] |
      grep -v '^graph/memory\.c:' | grep -v "not nabla's" |
      grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//)')
if [ -n "$bad" ]; then
    echo "library code allocates around the allocator hook; use nb_malloc, nb_calloc,"
    echo "nb_realloc, nb_strdup and nb_free (or mark memory another library owns"
    echo "with a \"not nabla's\" comment on the line):"
    echo "$bad"
    exit 1
fi
