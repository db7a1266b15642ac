/*
 * mg_jwt: RS256 JSON Web Tokens and JSON Web Key Sets, over OpenSSL and
 * jansson.  Verification follows RFC 8725 and Cognito's guide: the token's
 * size is bounded before decoding, alg must be exactly RS256 (never taken
 * from the token), kid must name a key in the set, the signature is checked
 * before any claim is trusted, then exp/nbf/iss/audience/token_use.
 */
#ifndef MG_JWT_H
#define MG_JWT_H

#include <stddef.h>
#include <jansson.h>
#include <openssl/evp.h>

#define MG_JWT_MAX_LEN  8192
#define MG_JWK_KID_MAX  128

typedef enum {
    MG_JWT_OK = 0,
    MG_JWT_MALFORMED,        /* not three base64url parts, bad JSON, too long */
    MG_JWT_BAD_ALG,          /* alg is not RS256, or crit/typ unacceptable */
    MG_JWT_UNKNOWN_KID,      /* kid missing or not in the key set */
    MG_JWT_BAD_SIGNATURE,
    MG_JWT_EXPIRED,          /* exp missing, not a number, or past */
    MG_JWT_NOT_YET_VALID,    /* nbf or iat in the future */
    MG_JWT_BAD_ISSUER,
    MG_JWT_BAD_AUDIENCE,     /* neither aud nor client_id is the audience */
    MG_JWT_BAD_TOKEN_USE,
    MG_JWT_BAD_CLAIMS        /* sub missing or not a string, groups not a list */
} mg_jwt_status_t;

typedef struct {
    const char  *issuer;     /* iss must equal it; NULL: not checked */
    const char  *audience;   /* aud (string or list) or client_id must equal it; NULL: not checked */
    const char  *token_use;  /* e.g. "access"; NULL: not checked */
    long long    now;        /* unix seconds */
    int          leeway;     /* seconds allowed on exp/nbf/iat */
} mg_jwt_policy_t;

typedef struct mg_jwks_s mg_jwks_t;

/* Parse a JWKS document ({"keys":[...]}).  Keys that are not RSA signing
 * keys for RS256 are skipped; a set with no usable key is an error.
 * Returns NULL with a message in err on failure.  Free with mg_jwks_free. */
mg_jwks_t  *mg_jwks_parse(const char *json, size_t len, char *err, size_t errlen);
void        mg_jwks_free(mg_jwks_t *jwks);
size_t      mg_jwks_count(const mg_jwks_t *jwks);
/* The key with this kid, or NULL.  Borrowed: owned by the set. */
EVP_PKEY   *mg_jwks_find(const mg_jwks_t *jwks, const char *kid, size_t kid_len);

/* Verify a compact JWS.  On MG_JWT_OK, *claims (if not NULL) receives the
 * payload as a new jansson reference the caller must json_decref.  kid_out
 * (if not NULL, MG_JWK_KID_MAX + 1 bytes) receives the header's kid whenever
 * the header parsed, for logging. */
mg_jwt_status_t mg_jwt_verify(const char *token, size_t len,
                              const mg_jwks_t *jwks,
                              const mg_jwt_policy_t *policy,
                              json_t **claims, char *kid_out);

/* Signature-only check of a compact JWS against one given key: the size
 * bound, three strict base64url parts, a header object with alg RS256, no
 * crit and an acceptable typ, then the RS256 signature.  kid and the claims
 * are not looked at (the RFC 7515 A.2 example has neither a kid nor a sub).
 * For access tokens use mg_jwt_verify.  Returns MG_JWT_OK, MALFORMED,
 * BAD_ALG, UNKNOWN_KID (key is NULL) or BAD_SIGNATURE. */
mg_jwt_status_t mg_jws_verify_rs256(const char *token, size_t len, EVP_PKEY *key);

/* A short English reason, e.g. "token expired". */
const char *mg_jwt_status_str(mg_jwt_status_t status);

/* Sign claims as an RS256 compact JWS with header {"alg":"RS256","kid":kid,
 * "typ":"JWT"}.  Returns a malloc'd NUL-terminated token, or NULL. */
char *mg_jwt_sign(EVP_PKEY *key, const char *kid, const json_t *claims);

/* Key material for the signing side (worker, token tool). */
EVP_PKEY *mg_jwk_generate_rsa(int bits);
/* The public JWK of key: {"kty":"RSA","kid","alg":"RS256","use":"sig","n","e"}. */
json_t   *mg_jwk_public(EVP_PKEY *key, const char *kid);
/* A kid derived from the public key (RFC 7638 thumbprint, base64url). malloc'd. */
char     *mg_jwk_thumbprint(EVP_PKEY *key);
EVP_PKEY *mg_jwk_load_pem(const char *path);            /* private key */
int       mg_jwk_save_pem(EVP_PKEY *key, const char *path); /* 0600; 0 or -1 */

#endif
