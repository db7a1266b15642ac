/*
 * mg_tokens: the signing side for local runs and tests: an RSA key
 * directory (DIR/<kid>.pem, DIR/current, DIR/jwks.json) and
 * Cognito-access-token-shaped RS256 JWTs signed with its current key.
 */
#ifndef MG_TOKENS_H
#define MG_TOKENS_H

#include <stddef.h>

#include "mg_jwt.h"

/* Make sure dir holds a signing key: if dir/current exists, only read its
 * kid; else create dir (0711: traversable, not listable, so unprivileged
 * nginx workers can read jwks.json), a new RSA-2048 key dir/<kid>.pem (0600),
 * dir/jwks.json and dir/current.  The kid goes to kid_out
 * (MG_JWK_KID_MAX + 1 bytes).  0 or -1 (reason logged). */
int mg_keygen(const char *dir, char *kid_out);

/* Add a new key to dir and make it current: dir/<kid>.pem, then
 * jwks.json with every key, then (after publish_wait_ms, so verifiers
 * that poll jwks.json know the key before any token uses it) dir/current.
 * The new kid goes to kid_out.  0 or -1 (reason logged). */
int mg_keygen_rotate(const char *dir, unsigned publish_wait_ms, char *kid_out);

/* Remove dir/<kid>.pem and rewrite jwks.json without it.  Refuses the
 * current key.  0 or -1 (reason logged). */
int mg_keys_retire(const char *dir, const char *kid);

/* Read dir/current into kid_out (MG_JWK_KID_MAX + 1): 1 read, 0 no such
 * file, -1 unreadable or not a key id (logged). */
int mg_keys_current(const char *dir, char *kid_out);

/* Rewrite dir/jwks.json atomically with the public JWK of every
 * dir/<kid>.pem.  0 or -1 (reason logged). */
int mg_jwks_write(const char *dir);

typedef struct {
    const char          *key_dir;
    const char          *sub;           /* required */
    const char          *username;      /* NULL: sub */
    const char *const   *groups;        /* cognito:groups, only when ngroups > 0 */
    size_t               ngroups;
    long long            ttl;           /* exp = iat + ttl unless exp is given */
    const char          *issuer;        /* NULL: $MANGOO_ISSUER or "mangoo-local" */
    const char          *client_id;     /* NULL: $MANGOO_CLIENT_ID or "mangoo-web" */
    const char          *token_use;     /* NULL: "access" */
    int                  has_iat, has_exp, has_nbf;
    long long            iat, exp, nbf; /* unix seconds */
    const char          *claims_json;   /* object merged last; null deletes; may be NULL */
    const char          *kid;           /* header kid override; NULL: the signing key's */
} mg_token_opts_t;

/* A signed token (malloc'd, caller frees), or NULL with a reason in err. */
char *mg_token_make(const mg_token_opts_t *o, char *err, size_t errlen);

#endif
