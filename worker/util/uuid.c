/*
 * mg_uuid: owns UUID generation and syntax checks.  Ids are generated from
 * OpenSSL's CSPRNG so they can be created in C before an INSERT (see
 * jobs/bots.c for why that matters when a statement is retried).
 */
#include "util/uuid.h"

#include <stdio.h>
#include <openssl/rand.h>

int
mg_uuid_v4(char *out)
{
    unsigned char  b[16];

    if (RAND_bytes(b, sizeof(b)) != 1) {
        return -1;
    }
    b[6] = (unsigned char) ((b[6] & 0x0f) | 0x40);   /* version 4 */
    b[8] = (unsigned char) ((b[8] & 0x3f) | 0x80);   /* RFC 4122 variant */

    snprintf(out, MG_UUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
             b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return 0;
}

int
mg_uuid_valid(const char *s, size_t len)
{
    if (s == NULL || len != MG_UUID_LEN) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') {
                return 0;
            }
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
                     || (c >= 'A' && c <= 'F')))
        {
            return 0;
        }
    }
    return 1;
}
