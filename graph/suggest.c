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

/* s without '_', '-' and '.', lower case, into buf (63 characters at most). */
static const char *fold(const char *s, char *buf)
{
    size_t n = 0;
    for (; *s && n < 63; s++)
        if (*s != '_' && *s != '-' && *s != '.')
            buf[n++] = (char)(*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s);
    buf[n] = '\0';
    return buf;
}

/* How close cand is to bad: the distance when ≤ 2, 3 for a shared prefix
 * (one a prefix of the other, ≥ 3 letters, or ≥ 4 letters in common), 4
 * when bad (≥ 4 letters) stands inside cand, separators and case aside
 * ("cross_entropy" in "softmax_cross_entropy"), else -1. */
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
    char a[64], b[64];
    if (strlen(fold(bad, a)) >= 4 && strstr(fold(cand, b), a))
        return 4;
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
