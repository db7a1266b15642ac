/* mg_hexval: the value of one hex digit, for the percent-decoders. */
#ifndef MG_HEXVAL_H
#define MG_HEXVAL_H

/* 0 to 15 for [0-9a-fA-F], else -1. */
static inline int
mg_hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

#endif
