/*
 * mg_signer: signs access tokens with the current key of a key directory
 * (DIR/current names the kid, DIR/<kid>.pem holds the private key, as
 * `mangoo-worker keygen` writes them).  One signer is shared by every pool
 * thread; it notices a rotation (DIR/current replaced) by itself, so keys
 * rotate without a restart.
 */
#ifndef MG_SIGNER_H
#define MG_SIGNER_H

#include <jansson.h>

#include "mg_jwt.h"

typedef struct mg_signer_s mg_signer_t;

/* A signer for dir (copied) that looks at DIR/current at most once every
 * check_ms milliseconds.  No key is loaded yet: a missing key is not an
 * error until something needs signing.  NULL on allocation failure. */
mg_signer_t *mg_signer_new(const char *dir, long long check_ms);
void         mg_signer_free(mg_signer_t *s);

/* Sign claims as an RS256 JWT with the current key; kid_out (if not NULL,
 * MG_JWK_KID_MAX + 1 bytes) receives the kid used.  Returns a malloc'd
 * token, or NULL when no key can be loaded or signing failed (logged,
 * never the token).  Thread-safe. */
char *mg_signer_sign(mg_signer_t *s, const json_t *claims, char *kid_out);

#endif
