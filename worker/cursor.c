/*
 * mg_cursor: owns the paging cursor format.  The cursor is opaque to
 * clients; keeping it a plain "timestamp|id" pair means a decoded cursor
 * maps straight onto the (created_at, id) keyset of the list queries.
 */
#include "cursor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_base64url.h"

/* "-9223372036854775808|" + the longest id */
#define MG_CURSOR_RAW_MAX (20 + 1 + MG_CURSOR_ID_MAX)

int
mg_cursor_encode_text(long long ts_us, const char *id, char *out, size_t cap)
{
    char    raw[MG_CURSOR_RAW_MAX + 1];
    size_t  idlen = strlen(id);
    int     n;

    if (idlen == 0 || idlen > MG_CURSOR_ID_MAX) {
        return -1;
    }
    n = snprintf(raw, sizeof(raw), "%lld|%s", ts_us, id);
    if (n < 0 || (size_t) n >= sizeof(raw) || mg_b64url_encoded_len((size_t) n) >= cap) {
        return -1;
    }
    mg_b64url_encode((const unsigned char *) raw, (size_t) n, out);
    return 0;
}

int
mg_cursor_decode_text(const char *s, size_t len, long long *ts_us, char *id, size_t idcap)
{
    unsigned char  raw[MG_CURSOR_RAW_MAX + 1];
    char           num[24];
    const char    *bar;
    char          *end;
    ssize_t        n;
    size_t         nlen, idlen;
    long long      v;

    if (s == NULL || len == 0 || mg_b64url_decoded_max(len) > MG_CURSOR_RAW_MAX) {
        return -1;
    }
    n = mg_b64url_decode(s, len, raw, sizeof(raw) - 1);
    if (n <= 0) {
        return -1;
    }
    raw[n] = '\0';
    if (memchr(raw, '\0', (size_t) n) != NULL) {
        return -1;
    }

    bar = strchr((const char *) raw, '|');
    if (bar == NULL) {
        return -1;
    }
    nlen = (size_t) (bar - (const char *) raw);
    idlen = (size_t) n - nlen - 1;
    if (nlen == 0 || nlen >= sizeof(num) || idlen == 0 || idlen > MG_CURSOR_ID_MAX
        || idlen >= idcap)
    {
        return -1;
    }
    memcpy(num, raw, nlen);
    num[nlen] = '\0';

    /* digits only, optionally negative: strtoll alone accepts spaces and '+' */
    for (size_t i = (num[0] == '-'); i < nlen; i++) {
        if (num[i] < '0' || num[i] > '9') {
            return -1;
        }
    }
    if (num[0] == '-' && nlen == 1) {
        return -1;
    }
    errno = 0;
    v = strtoll(num, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }

    *ts_us = v;
    memcpy(id, bar + 1, idlen + 1);
    return 0;
}

int
mg_cursor_encode(const mg_cursor_t *c, char *out)
{
    if (!mg_uuid_valid(c->id, strlen(c->id))) {
        return -1;
    }
    return mg_cursor_encode_text(c->ts_us, c->id, out, MG_CURSOR_MAX);
}

int
mg_cursor_decode(const char *s, size_t len, mg_cursor_t *out)
{
    char  id[MG_CURSOR_ID_MAX + 1];

    if (mg_cursor_decode_text(s, len, &out->ts_us, id, sizeof(id)) != 0
        || strlen(id) != MG_UUID_LEN || !mg_uuid_valid(id, MG_UUID_LEN))
    {
        return -1;
    }
    for (size_t i = 0; i <= MG_UUID_LEN; i++) {
        char c = id[i];
        out->id[i] = (c >= 'A' && c <= 'F') ? (char) (c - 'A' + 'a') : c;
    }
    return 0;
}
