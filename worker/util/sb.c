#include "util/sb.h"

#include <stdlib.h>
#include <string.h>

char *
mg_sb_reserve(mg_sb_t *b, size_t n)
{
    char    *grown, *at;
    size_t   cap;

    if (b->len + n + 1 > b->cap) {
        cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        grown = realloc(b->p, cap);
        if (grown == NULL) {
            return NULL;
        }
        b->p = grown;
        b->cap = cap;
    }
    at = b->p + b->len;
    b->len += n;
    b->p[b->len] = '\0';
    return at;
}

void
mg_sb_add(mg_sb_t *b, const char *s, size_t n)
{
    char *at;

    if (b->oom) {
        return;
    }
    at = mg_sb_reserve(b, n);
    if (at == NULL) {
        b->oom = 1;
        return;
    }
    memcpy(at, s, n);
}

void
mg_sb_adds(mg_sb_t *b, const char *s)
{
    mg_sb_add(b, s, strlen(s));
}

char *
mg_sb_done(mg_sb_t *b)
{
    char *p = b->p;

    if (b->oom) {
        free(p);
        p = NULL;
    }
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
    return p;
}
