/* mg_cursor: opaque keyset-paging cursors, base64url("<created_at µs>|<uuid>"). */
#ifndef MG_CURSOR_H
#define MG_CURSOR_H

#include <stddef.h>

#include "util/uuid.h"

/* An encoded cursor and its NUL fit in this many bytes. */
#define MG_CURSOR_MAX 96

typedef struct {
    long long  ts_us;                 /* created_at, microseconds since the epoch */
    char       id[MG_UUID_LEN + 1];   /* lowercase */
} mg_cursor_t;

/* The general form: base64url("<µs>|<id>") for any text id of 1 to
 * MG_CURSOR_ID_MAX bytes (users.id is a token's sub, not a UUID).
 * encode writes at most cap bytes with the NUL; decode writes the id and a
 * NUL into id (idcap bytes).  0, or -1. */
#define MG_CURSOR_ID_MAX 1024
int mg_cursor_encode_text(long long ts_us, const char *id, char *out, size_t cap);
int mg_cursor_decode_text(const char *s, size_t len, long long *ts_us, char *id, size_t idcap);

/* Writes the encoded cursor and a NUL into out (MG_CURSOR_MAX bytes).
 * 0, or -1 when the id is not a UUID. */
int mg_cursor_encode(const mg_cursor_t *c, char *out);

/* Decodes exactly what mg_cursor_encode produces; 0, or -1 for anything
 * else (bad base64url, missing separator, non-digits, overflow, bad uuid). */
int mg_cursor_decode(const char *s, size_t len, mg_cursor_t *out);

#endif
