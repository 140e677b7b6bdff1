/*
 * suggest.c — "did you mean": the known name closest to a mistyped one.
 * The YAML reader suggests keys, ops and activations with it; the `nabla`
 * command suggests options and commands.
 */
#include <string.h>

#include "nabla.h"

/* Levenshtein distance; long strings are never "close". */
static int distance(const char *a, const char *b)
{
    size_t n = strlen(a), k = strlen(b);
    if (n > 63 || k > 63)
        return 99;
    int row[64];
    for (size_t j = 0; j <= k; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        int prev = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= k; j++) {
            int cur = row[j], sub = prev + (a[i - 1] != b[j - 1]);
            int best = row[j] + 1 < row[j - 1] + 1 ? row[j] + 1 : row[j - 1] + 1;
            row[j] = sub < best ? sub : best;
            prev = cur;
        }
    }
    return row[k];
}

/* How close cand is to bad: the distance when ≤ 2, 3 for a shared prefix
 * (one a prefix of the other, ≥ 3 letters, or ≥ 4 letters in common),
 * else -1. */
static int closeness(const char *bad, const char *cand)
{
    int d = distance(bad, cand);
    if (d <= 2 && d < (int)strlen(cand))
        return d;
    size_t p = 0;
    while (bad[p] && bad[p] == cand[p])
        p++;
    if ((p >= 3 && (!bad[p] || !cand[p])) || p >= 4)
        return 3;
    return -1;
}

const char *nb_closest_name(const char *word, const char *const *names)
{
    const char *best = NULL;
    int score = 99;
    for (const char *const *p = names; word && p && *p; p++) {
        int s = closeness(word, *p);
        if (s >= 0 && s < score)
            score = s, best = *p;
    }
    return best;
}
