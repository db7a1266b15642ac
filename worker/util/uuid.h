/* mg_uuid: random (version 4) UUIDs and the canonical text form check. */
#ifndef MG_UUID_H
#define MG_UUID_H

#include <stddef.h>

#define MG_UUID_LEN 36

/* Writes a lowercase random UUID and a NUL into out (MG_UUID_LEN + 1
 * bytes).  0, or -1 when the system's CSPRNG fails. */
int mg_uuid_v4(char *out);

/* 1 when s is 8-4-4-4-12 hex digits (either case), else 0. */
int mg_uuid_valid(const char *s, size_t len);

#endif
