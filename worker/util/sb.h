/*
 * sb: a growable NUL-terminated string.  Appends double the capacity when
 * needed; a failed allocation sets oom, after which appends do nothing, so
 * a builder checks once at the end (mg_sb_done).  Zero-initialise to start.
 */
#ifndef MG_UTIL_SB_H
#define MG_UTIL_SB_H

#include <stddef.h>

typedef struct {
    char    *p;         /* NULL until the first append */
    size_t   len, cap;
    int      oom;
} mg_sb_t;

void  mg_sb_add(mg_sb_t *b, const char *s, size_t n);
/* n more bytes at the end, for the caller to write (a NUL after them);
 * NULL when out of memory, b unchanged (oom not set). */
char *mg_sb_reserve(mg_sb_t *b, size_t n);
void  mg_sb_adds(mg_sb_t *b, const char *s);
/* The string (the caller owns it), or NULL after an allocation failed (or
 * nothing was ever added); either way b holds nothing afterwards. */
char *mg_sb_done(mg_sb_t *b);

#endif
