/* mg_utf8_cut: the longest prefix of s[0..len) of at most max bytes that
 * does not split a UTF-8 sequence (s is valid UTF-8). */
#ifndef MG_UTIL_UTF8_H
#define MG_UTIL_UTF8_H

#include <stddef.h>

static inline size_t
mg_utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max) {
        return len;
    }
    while (max > 0 && ((unsigned char) s[max] & 0xC0) == 0x80) {
        max--;
    }
    return max;
}

#endif
