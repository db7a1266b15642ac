/*
 * mg_jwt: owns RS256 JWS/JWT verification and signing, JWKS parsing and
 * the signing side's key material (generation, public JWK, RFC 7638
 * thumbprint, PKCS#8 PEM files).
 *
 * Invariants:
 * - the only algorithm is RS256, fixed here; a token's alg is compared to
 *   it, never used to choose anything (RFC 8725 section 3.1);
 * - a token's key comes from the configured set by exact kid; jku, x5u,
 *   x5c and jwk headers are never read;
 * - nothing in the payload is trusted before the signature verifies;
 * - a mg_jwks_t is immutable after mg_jwks_parse, so threads may share it;
 *   no function here keeps global state;
 * - failed OpenSSL calls leave nothing on the thread's error queue, so they
 *   cannot be misread later by nginx's own SSL error handling.
 */
#include "mg_jwt.h"
#include "mg_base64url.h"
#include "mg_json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#define MG_JWK_MIN_BITS     2048
/* Bounds the cost of one verification with a key from a fetched JWKS. */
#define MG_JWK_MAX_BITS     16384
#define MG_JWK_E_MAX_BITS   64

typedef struct {
    char       kid[MG_JWK_KID_MAX + 1];
    size_t     kid_len;
    EVP_PKEY  *key;
} mg_jwk_entry_t;

struct mg_jwks_s {
    mg_jwk_entry_t  *keys;
    size_t           count;
};

/* A compact JWS split and decoded.  Owns buf (the three decoded parts) and
 * header; released by mg_jws_close whatever mg_jws_open returned. */
typedef struct {
    const char     *signing_input;  /* "header.payload" as sent */
    size_t          signing_len;
    unsigned char  *buf;
    unsigned char  *payload;
    size_t          payload_len;
    unsigned char  *sig;
    size_t          sig_len;
    json_t         *header;
} mg_jws_t;


/* Whether v is the JSON string s, byte for byte. */
static int
mg_json_str_eq(const json_t *v, const char *s)
{
    size_t  n = strlen(s);

    return json_is_string(v) && json_string_length(v) == n
           && memcmp(json_string_value(v), s, n) == 0;
}

static void
mg_err(char *err, size_t errlen, const char *msg)
{
    if (err != NULL && errlen > 0) {
        snprintf(err, errlen, "%s", msg);
    }
}


/* JWKS */

/* An RSA public key from big-endian n and e, or NULL if it is not one we
 * accept: too small a modulus is forgeable, an even or tiny e is not RSA. */
static EVP_PKEY *
mg_rsa_public_from_ne(const unsigned char *nb, size_t nlen,
                      const unsigned char *eb, size_t elen)
{
    BIGNUM          *n = NULL, *e = NULL;
    OSSL_PARAM_BLD  *bld = NULL;
    OSSL_PARAM      *params = NULL;
    EVP_PKEY_CTX    *ctx = NULL;
    EVP_PKEY        *key = NULL;
    int              bits;

    n = BN_bin2bn(nb, (int) nlen, NULL);
    e = BN_bin2bn(eb, (int) elen, NULL);
    if (n == NULL || e == NULL) {
        goto done;
    }

    bits = BN_num_bits(n);
    if (bits < MG_JWK_MIN_BITS || bits > MG_JWK_MAX_BITS) {
        goto done;
    }
    if (!BN_is_odd(e) || BN_num_bits(e) < 2 || BN_num_bits(e) > MG_JWK_E_MAX_BITS) {
        goto done;
    }

    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
    {
        goto done;
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    if (params == NULL) {
        goto done;
    }

    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        EVP_PKEY_free(key);
        key = NULL;
        goto done;
    }

done:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    if (key == NULL) {
        ERR_clear_error();
    }
    return key;
}

/* Decodes a JWK member (strict base64url) into a new buffer. */
static unsigned char *
mg_jwk_member_bytes(const json_t *jwk, const char *name, size_t *len)
{
    const json_t   *v;
    unsigned char  *buf = NULL;
    size_t          cap;
    ssize_t         r;

    v = json_object_get(jwk, name);
    if (!json_is_string(v) || json_string_length(v) == 0) {
        goto fail;
    }

    cap = mg_b64url_decoded_max(json_string_length(v));
    buf = malloc(cap + 1);
    if (buf == NULL) {
        goto fail;
    }
    r = mg_b64url_decode(json_string_value(v), json_string_length(v), buf, cap);
    if (r <= 0) {
        goto fail;
    }

    *len = (size_t) r;
    return buf;

fail:
    free(buf);
    return NULL;
}

/* Adds jwk to set if it is a usable RS256 signing key; anything else is
 * skipped, as RFC 7517 section 5 asks of keys one does not understand. */
static void
mg_jwks_add(mg_jwks_t *set, const json_t *jwk)
{
    const json_t    *kid, *use, *alg;
    unsigned char   *n = NULL, *e = NULL;
    size_t           nlen = 0, elen = 0, kid_len;
    EVP_PKEY        *key;
    mg_jwk_entry_t  *entry;

    if (!json_is_object(jwk) || !mg_json_str_eq(json_object_get(jwk, "kty"), "RSA")) {
        goto done;
    }

    use = json_object_get(jwk, "use");
    alg = json_object_get(jwk, "alg");
    if ((use != NULL && !mg_json_str_eq(use, "sig"))
        || (alg != NULL && !mg_json_str_eq(alg, "RS256")))
    {
        goto done;
    }

    kid = json_object_get(jwk, "kid");
    if (!json_is_string(kid)) {
        goto done;
    }
    kid_len = json_string_length(kid);
    if (kid_len == 0 || kid_len > MG_JWK_KID_MAX) {
        goto done;
    }

    /* First key with a kid wins, so lookups are stable. */
    if (mg_jwks_find(set, json_string_value(kid), kid_len) != NULL) {
        goto done;
    }

    n = mg_jwk_member_bytes(jwk, "n", &nlen);
    e = mg_jwk_member_bytes(jwk, "e", &elen);
    if (n == NULL || e == NULL) {
        goto done;
    }

    key = mg_rsa_public_from_ne(n, nlen, e, elen);
    if (key == NULL) {
        goto done;
    }

    entry = &set->keys[set->count++];
    memcpy(entry->kid, json_string_value(kid), kid_len);
    entry->kid[kid_len] = '\0';
    entry->kid_len = kid_len;
    entry->key = key;

done:
    free(n);
    free(e);
}

mg_jwks_t *
mg_jwks_parse(const char *json, size_t len, char *err, size_t errlen)
{
    json_t     *root = NULL, *keys, *jwk;
    mg_jwks_t  *set = NULL, *result = NULL;
    size_t      i;
    char        jerr[160];

    root = mg_json_parse_object(json, len, jerr, sizeof(jerr));
    if (root == NULL) {
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "JWKS: %s", jerr);
        }
        goto done;
    }

    keys = json_object_get(root, "keys");
    if (!json_is_array(keys)) {
        mg_err(err, errlen, "JWKS: no \"keys\" array");
        goto done;
    }

    set = calloc(1, sizeof(*set));
    if (set == NULL) {
        mg_err(err, errlen, "JWKS: out of memory");
        goto done;
    }
    /* Sized for every entry up front: the set never grows afterwards. */
    set->keys = calloc(json_array_size(keys) + 1, sizeof(*set->keys));
    if (set->keys == NULL) {
        mg_err(err, errlen, "JWKS: out of memory");
        goto done;
    }

    json_array_foreach(keys, i, jwk) {
        mg_jwks_add(set, jwk);
    }

    if (set->count == 0) {
        mg_err(err, errlen, "JWKS: no usable key (want kty RSA, a kid, n and e,"
               " use sig, alg RS256, at least 2048 bits)");
        goto done;
    }

    result = set;
    set = NULL;

done:
    mg_jwks_free(set);
    json_decref(root);
    return result;
}

void
mg_jwks_free(mg_jwks_t *jwks)
{
    size_t  i;

    if (jwks == NULL) {
        return;
    }
    for (i = 0; i < jwks->count; i++) {
        EVP_PKEY_free(jwks->keys[i].key);
    }
    free(jwks->keys);
    free(jwks);
}

size_t
mg_jwks_count(const mg_jwks_t *jwks)
{
    return jwks != NULL ? jwks->count : 0;
}

EVP_PKEY *
mg_jwks_find(const mg_jwks_t *jwks, const char *kid, size_t kid_len)
{
    size_t  i;

    if (jwks == NULL || kid == NULL) {
        return NULL;
    }
    for (i = 0; i < jwks->count; i++) {
        if (jwks->keys[i].kid_len == kid_len
            && memcmp(jwks->keys[i].kid, kid, kid_len) == 0)
        {
            return jwks->keys[i].key;
        }
    }
    return NULL;
}


/* Verification */

/* Splits and decodes token into jws.  The size is bounded before anything
 * is decoded, and every part is decoded strictly before any of it is
 * interpreted.  The header is parsed as soon as it decodes so that callers
 * can log its kid even when a later part is broken. */
static mg_jwt_status_t
mg_jws_open(mg_jws_t *jws, const char *token, size_t len)
{
    const char  *dot1, *dot2, *p, *s;
    size_t       hlen, plen, slen, hcap, pcap, scap;
    ssize_t      r;

    memset(jws, 0, sizeof(*jws));

    if (token == NULL || len == 0 || len > MG_JWT_MAX_LEN) {
        return MG_JWT_MALFORMED;
    }

    dot1 = memchr(token, '.', len);
    if (dot1 == NULL) {
        return MG_JWT_MALFORMED;
    }
    p = dot1 + 1;
    dot2 = memchr(p, '.', len - (size_t) (p - token));
    if (dot2 == NULL) {
        return MG_JWT_MALFORMED;
    }
    s = dot2 + 1;

    /* A third '.' (JWE has five parts) fails the signature's decoding. */
    hlen = (size_t) (dot1 - token);
    plen = (size_t) (dot2 - p);
    slen = len - (size_t) (s - token);

    hcap = mg_b64url_decoded_max(hlen);
    pcap = mg_b64url_decoded_max(plen);
    scap = mg_b64url_decoded_max(slen);
    jws->buf = malloc(hcap + pcap + scap + 1);
    if (jws->buf == NULL) {
        return MG_JWT_MALFORMED;
    }
    jws->payload = jws->buf + hcap;
    jws->sig = jws->payload + pcap;

    r = mg_b64url_decode(token, hlen, jws->buf, hcap);
    if (r <= 0) {
        return MG_JWT_MALFORMED;
    }
    /* Duplicate members (say two algs) are refused by the parser: another
     * reader might pick the other one. */
    jws->header = json_loadb((const char *) jws->buf, (size_t) r,
                             JSON_REJECT_DUPLICATES, NULL);

    r = mg_b64url_decode(p, plen, jws->payload, pcap);
    if (plen == 0 || r <= 0) {
        return MG_JWT_MALFORMED;
    }
    jws->payload_len = (size_t) r;

    r = mg_b64url_decode(s, slen, jws->sig, scap);
    if (slen == 0 || r <= 0) {
        return MG_JWT_MALFORMED;
    }
    jws->sig_len = (size_t) r;

    if (!json_is_object(jws->header)) {
        return MG_JWT_MALFORMED;
    }

    jws->signing_input = token;
    jws->signing_len = (size_t) (dot2 - token);
    return MG_JWT_OK;
}

static void
mg_jws_close(mg_jws_t *jws)
{
    json_decref(jws->header);
    free(jws->buf);
}

/* Media types are case-insensitive, and "application/" may be left out
 * (RFC 7515 section 4.1.9). */
static int
mg_jws_typ_ok(const json_t *typ)
{
    static const char *const  ok[] = {
        "JWT", "application/jwt", "at+jwt", "application/at+jwt"
    };
    const char  *s;
    size_t       i;

    if (!json_is_string(typ)) {
        return 0;
    }
    s = json_string_value(typ);
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (strcasecmp(s, ok[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static mg_jwt_status_t
mg_jws_check_header(const json_t *header)
{
    const json_t  *typ;

    if (!mg_json_str_eq(json_object_get(header, "alg"), "RS256")) {
        return MG_JWT_BAD_ALG;
    }

    /* We implement no extension, so any crit must fail (RFC 7515 4.1.11);
     * this also refuses unencoded payloads (RFC 7797 b64). */
    if (json_object_get(header, "crit") != NULL) {
        return MG_JWT_BAD_ALG;
    }

    typ = json_object_get(header, "typ");
    if (typ != NULL && !mg_jws_typ_ok(typ)) {
        return MG_JWT_BAD_ALG;
    }

    return MG_JWT_OK;
}

/* RSASSA-PKCS1-v1_5 with SHA-256 over the ASCII "header.payload". */
static mg_jwt_status_t
mg_jws_check_signature(const mg_jws_t *jws, EVP_PKEY *key)
{
    EVP_MD_CTX       *md = NULL;
    EVP_PKEY_CTX     *pctx = NULL;   /* owned by md */
    mg_jwt_status_t   st = MG_JWT_BAD_SIGNATURE;

    if (key == NULL || !EVP_PKEY_is_a(key, "RSA")) {
        goto done;
    }

    /* RFC 7518 3.3: exactly the modulus length, no shorter encodings. */
    if (EVP_PKEY_get_size(key) <= 0 || jws->sig_len != (size_t) EVP_PKEY_get_size(key)) {
        goto done;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL
        || EVP_DigestVerifyInit_ex(md, &pctx, "SHA256", NULL, NULL, key, NULL) != 1
        || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0
        || EVP_DigestVerify(md, jws->sig, jws->sig_len,
                            (const unsigned char *) jws->signing_input,
                            jws->signing_len) != 1)
    {
        goto done;
    }

    st = MG_JWT_OK;

done:
    EVP_MD_CTX_free(md);
    if (st != MG_JWT_OK) {
        ERR_clear_error();
    }
    return st;
}

/* The kid for logs: control bytes become '?' so a hostile kid cannot
 * forge log lines; long ones are cut. */
static void
mg_jwt_kid_for_log(char *out, const json_t *kid)
{
    const char  *s = json_string_value(kid);
    size_t       n = json_string_length(kid), i;

    if (n > MG_JWK_KID_MAX) {
        n = MG_JWK_KID_MAX;
    }
    for (i = 0; i < n; i++) {
        unsigned char  c = (unsigned char) s[i];

        out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char) c;
    }
    out[n] = '\0';
}

static int
mg_jwt_time_ok(const json_t *v, int after, double bound)
{
    /* Compared as doubles: integer and real claims alike, no overflow
     * when exp is huge. */
    if (!json_is_number(v)) {
        return 0;
    }
    return after ? json_number_value(v) > bound : json_number_value(v) <= bound;
}

static int
mg_jwt_audience_ok(const json_t *claims, const char *audience)
{
    const json_t  *aud, *v;
    size_t         i;

    aud = json_object_get(claims, "aud");
    if (mg_json_str_eq(aud, audience)) {
        return 1;
    }
    if (json_is_array(aud)) {
        json_array_foreach(aud, i, v) {
            if (mg_json_str_eq(v, audience)) {
                return 1;
            }
        }
    }

    /* Cognito access tokens carry the app client in client_id, no aud. */
    return mg_json_str_eq(json_object_get(claims, "client_id"), audience);
}

static mg_jwt_status_t
mg_jwt_check_claims(const json_t *claims, const mg_jwt_policy_t *policy)
{
    const json_t  *v, *g;
    double         now, leeway;
    size_t         i;

    now = (double) policy->now;
    leeway = policy->leeway > 0 ? (double) policy->leeway : 0.0;

    if (!mg_jwt_time_ok(json_object_get(claims, "exp"), 1, now - leeway)) {
        return MG_JWT_EXPIRED;
    }

    v = json_object_get(claims, "nbf");
    if (v != NULL && !mg_jwt_time_ok(v, 0, now + leeway)) {
        return MG_JWT_NOT_YET_VALID;
    }
    v = json_object_get(claims, "iat");
    if (v != NULL && !mg_jwt_time_ok(v, 0, now + leeway)) {
        return MG_JWT_NOT_YET_VALID;
    }

    if (policy->issuer != NULL
        && !mg_json_str_eq(json_object_get(claims, "iss"), policy->issuer))
    {
        return MG_JWT_BAD_ISSUER;
    }

    if (policy->audience != NULL && !mg_jwt_audience_ok(claims, policy->audience)) {
        return MG_JWT_BAD_AUDIENCE;
    }

    if (policy->token_use != NULL
        && !mg_json_str_eq(json_object_get(claims, "token_use"), policy->token_use))
    {
        return MG_JWT_BAD_TOKEN_USE;
    }

    v = json_object_get(claims, "sub");
    if (!json_is_string(v) || json_string_length(v) == 0) {
        return MG_JWT_BAD_CLAIMS;
    }

    v = json_object_get(claims, "cognito:groups");
    if (v != NULL) {
        if (!json_is_array(v)) {
            return MG_JWT_BAD_CLAIMS;
        }
        json_array_foreach(v, i, g) {
            if (!json_is_string(g)) {
                return MG_JWT_BAD_CLAIMS;
            }
        }
    }

    return MG_JWT_OK;
}

mg_jwt_status_t
mg_jwt_verify(const char *token, size_t len, const mg_jwks_t *jwks,
              const mg_jwt_policy_t *policy, json_t **claims, char *kid_out)
{
    mg_jws_t          jws;
    json_t           *payload = NULL;
    const json_t     *kid;
    EVP_PKEY         *key;
    mg_jwt_status_t   st;

    if (claims != NULL) {
        *claims = NULL;
    }
    if (kid_out != NULL) {
        kid_out[0] = '\0';
    }

    st = mg_jws_open(&jws, token, len);

    kid = json_object_get(jws.header, "kid");
    if (kid_out != NULL && json_is_string(kid)) {
        mg_jwt_kid_for_log(kid_out, kid);
    }
    if (st != MG_JWT_OK) {
        goto done;
    }

    st = mg_jws_check_header(jws.header);
    if (st != MG_JWT_OK) {
        goto done;
    }

    /* The kid is only ever compared with the set's kids: never a path,
     * a URL or part of a query. */
    st = MG_JWT_UNKNOWN_KID;
    if (!json_is_string(kid) || json_string_length(kid) == 0
        || json_string_length(kid) > MG_JWK_KID_MAX)
    {
        goto done;
    }
    key = mg_jwks_find(jwks, json_string_value(kid), json_string_length(kid));
    if (key == NULL) {
        goto done;
    }

    st = mg_jws_check_signature(&jws, key);
    if (st != MG_JWT_OK) {
        goto done;
    }

    st = MG_JWT_MALFORMED;
    payload = json_loadb((const char *) jws.payload, jws.payload_len,
                         JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(payload)) {
        goto done;
    }

    /* Without a policy there is no clock to check exp against: refuse. */
    st = MG_JWT_BAD_CLAIMS;
    if (policy == NULL) {
        goto done;
    }

    st = mg_jwt_check_claims(payload, policy);
    if (st != MG_JWT_OK) {
        goto done;
    }

    if (claims != NULL) {
        *claims = payload;
        payload = NULL;
    }

done:
    json_decref(payload);
    mg_jws_close(&jws);
    return st;
}

mg_jwt_status_t
mg_jws_verify_rs256(const char *token, size_t len, EVP_PKEY *key)
{
    mg_jws_t          jws;
    mg_jwt_status_t   st;

    st = mg_jws_open(&jws, token, len);
    if (st != MG_JWT_OK) {
        goto done;
    }

    st = mg_jws_check_header(jws.header);
    if (st != MG_JWT_OK) {
        goto done;
    }

    if (key == NULL) {
        st = MG_JWT_UNKNOWN_KID;
        goto done;
    }

    st = mg_jws_check_signature(&jws, key);

done:
    mg_jws_close(&jws);
    return st;
}

const char *
mg_jwt_status_str(mg_jwt_status_t status)
{
    switch (status) {
    case MG_JWT_OK:             return "ok";
    case MG_JWT_MALFORMED:      return "malformed token";
    case MG_JWT_BAD_ALG:        return "unacceptable token header (alg, crit or typ)";
    case MG_JWT_UNKNOWN_KID:    return "unknown signing key (kid)";
    case MG_JWT_BAD_SIGNATURE:  return "bad signature";
    case MG_JWT_EXPIRED:        return "token expired";
    case MG_JWT_NOT_YET_VALID:  return "token not yet valid";
    case MG_JWT_BAD_ISSUER:     return "wrong issuer";
    case MG_JWT_BAD_AUDIENCE:   return "wrong audience";
    case MG_JWT_BAD_TOKEN_USE:  return "wrong token_use";
    case MG_JWT_BAD_CLAIMS:     return "bad claims (sub or cognito:groups)";
    }
    return "unknown status";
}


/* Signing */

char *
mg_jwt_sign(EVP_PKEY *key, const char *kid, const json_t *claims)
{
    json_t        *header = NULL;
    char          *hjson = NULL, *pjson = NULL, *token = NULL, *result = NULL;
    unsigned char *sig = NULL;
    EVP_MD_CTX    *md = NULL;
    EVP_PKEY_CTX  *pctx = NULL;     /* owned by md */
    size_t         kid_len, h64, p64, input_len, sigcap, siglen, total;

    if (key == NULL || kid == NULL || !json_is_object(claims)
        || !EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_get_size(key) <= 0)
    {
        goto done;
    }
    kid_len = strlen(kid);
    if (kid_len == 0 || kid_len > MG_JWK_KID_MAX) {
        goto done;
    }

    header = json_pack("{s:s, s:s, s:s}", "alg", "RS256", "kid", kid, "typ", "JWT");
    if (header == NULL) {
        goto done;
    }
    hjson = json_dumps(header, JSON_COMPACT);
    pjson = json_dumps(claims, JSON_COMPACT);
    if (hjson == NULL || pjson == NULL) {
        goto done;
    }

    sigcap = (size_t) EVP_PKEY_get_size(key);
    h64 = mg_b64url_encoded_len(strlen(hjson));
    p64 = mg_b64url_encoded_len(strlen(pjson));
    input_len = h64 + 1 + p64;
    total = input_len + 1 + mg_b64url_encoded_len(sigcap);

    /* Every verifier refuses longer tokens: fail here, where it shows. */
    if (total > MG_JWT_MAX_LEN) {
        goto done;
    }

    token = malloc(total + 1);
    sig = malloc(sigcap);
    if (token == NULL || sig == NULL) {
        goto done;
    }
    mg_b64url_encode((const unsigned char *) hjson, strlen(hjson), token);
    token[h64] = '.';
    mg_b64url_encode((const unsigned char *) pjson, strlen(pjson), token + h64 + 1);

    siglen = sigcap;
    md = EVP_MD_CTX_new();
    if (md == NULL
        || EVP_DigestSignInit_ex(md, &pctx, "SHA256", NULL, NULL, key, NULL) != 1
        || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0
        || EVP_DigestSign(md, sig, &siglen, (const unsigned char *) token, input_len) != 1
        || siglen > sigcap)
    {
        goto done;
    }

    token[input_len] = '.';
    mg_b64url_encode(sig, siglen, token + input_len + 1);

    result = token;
    token = NULL;

done:
    EVP_MD_CTX_free(md);
    free(sig);
    free(token);
    free(hjson);
    free(pjson);
    json_decref(header);
    if (result == NULL) {
        ERR_clear_error();
    }
    return result;
}


/* Key material */

EVP_PKEY *
mg_jwk_generate_rsa(int bits)
{
    EVP_PKEY  *key;

    if (bits < MG_JWK_MIN_BITS || bits > MG_JWK_MAX_BITS) {
        return NULL;
    }
    key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) bits);
    if (key == NULL) {
        ERR_clear_error();
    }
    return key;
}

/* An RSA parameter (n or e) as unpadded big-endian base64url, malloc'd. */
static char *
mg_jwk_param_b64(EVP_PKEY *key, const char *name)
{
    BIGNUM         *bn = NULL;
    unsigned char  *bin = NULL;
    char           *out = NULL;
    int             nbytes;

    if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) {
        goto done;
    }
    nbytes = BN_num_bytes(bn);
    if (nbytes <= 0) {
        goto done;
    }
    bin = malloc((size_t) nbytes);
    if (bin == NULL || BN_bn2bin(bn, bin) != nbytes) {
        goto done;
    }
    out = malloc(mg_b64url_encoded_len((size_t) nbytes) + 1);
    if (out == NULL) {
        goto done;
    }
    mg_b64url_encode(bin, (size_t) nbytes, out);

done:
    BN_free(bn);
    free(bin);
    if (out == NULL) {
        ERR_clear_error();
    }
    return out;
}

static int
mg_json_set_str(json_t *obj, const char *name, const char *value)
{
    return json_object_set_new(obj, name, json_string(value));
}

json_t *
mg_jwk_public(EVP_PKEY *key, const char *kid)
{
    json_t  *jwk = NULL, *result = NULL;
    char    *n = NULL, *e = NULL;

    if (key == NULL || !EVP_PKEY_is_a(key, "RSA")) {
        goto done;
    }
    n = mg_jwk_param_b64(key, OSSL_PKEY_PARAM_RSA_N);
    e = mg_jwk_param_b64(key, OSSL_PKEY_PARAM_RSA_E);
    jwk = json_object();
    if (n == NULL || e == NULL || jwk == NULL) {
        goto done;
    }

    if (mg_json_set_str(jwk, "kty", "RSA") != 0
        || (kid != NULL && mg_json_set_str(jwk, "kid", kid) != 0)
        || mg_json_set_str(jwk, "alg", "RS256") != 0
        || mg_json_set_str(jwk, "use", "sig") != 0
        || mg_json_set_str(jwk, "n", n) != 0
        || mg_json_set_str(jwk, "e", e) != 0)
    {
        goto done;
    }

    result = jwk;
    jwk = NULL;

done:
    json_decref(jwk);
    free(n);
    free(e);
    return result;
}

char *
mg_jwk_thumbprint(EVP_PKEY *key)
{
    static const char  fmt[] = "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}";
    char           *n = NULL, *e = NULL, *canon = NULL, *out = NULL;
    unsigned char   digest[EVP_MAX_MD_SIZE];
    size_t          cap, dlen = 0;
    int             len;

    if (key == NULL || !EVP_PKEY_is_a(key, "RSA")) {
        goto done;
    }
    n = mg_jwk_param_b64(key, OSSL_PKEY_PARAM_RSA_N);
    e = mg_jwk_param_b64(key, OSSL_PKEY_PARAM_RSA_E);
    if (n == NULL || e == NULL) {
        goto done;
    }

    /* RFC 7638 3.2: required members only, sorted, no whitespace; the
     * base64url values need no JSON escaping. */
    cap = sizeof(fmt) + strlen(n) + strlen(e);
    canon = malloc(cap);
    if (canon == NULL) {
        goto done;
    }
    len = snprintf(canon, cap, fmt, e, n);
    if (len < 0 || (size_t) len >= cap) {
        goto done;
    }

    if (EVP_Q_digest(NULL, "SHA256", NULL, canon, (size_t) len, digest, &dlen) != 1) {
        ERR_clear_error();
        goto done;
    }
    out = malloc(mg_b64url_encoded_len(dlen) + 1);
    if (out == NULL) {
        goto done;
    }
    mg_b64url_encode(digest, dlen, out);

done:
    free(n);
    free(e);
    free(canon);
    return out;
}

/* Encrypted keys fail to load instead of prompting on a terminal. */
static int
mg_jwk_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void) buf;
    (void) size;
    (void) rwflag;
    (void) u;
    return -1;
}

EVP_PKEY *
mg_jwk_load_pem(const char *path)
{
    FILE      *fp = NULL;
    EVP_PKEY  *key = NULL, *result = NULL;
    int        bits;

    if (path == NULL) {
        goto done;
    }
    fp = fopen(path, "re");
    if (fp == NULL) {
        goto done;
    }
    key = PEM_read_PrivateKey(fp, NULL, mg_jwk_no_passphrase, NULL);
    if (key == NULL || !EVP_PKEY_is_a(key, "RSA")) {
        goto done;
    }
    bits = EVP_PKEY_get_bits(key);
    if (bits < MG_JWK_MIN_BITS || bits > MG_JWK_MAX_BITS) {
        goto done;
    }

    result = key;
    key = NULL;

done:
    EVP_PKEY_free(key);
    if (fp != NULL) {
        fclose(fp);
    }
    if (result == NULL) {
        ERR_clear_error();
    }
    return result;
}

int
mg_jwk_save_pem(EVP_PKEY *key, const char *path)
{
    FILE  *fp = NULL;
    int    fd = -1, opened = 0, rc = -1;

    if (key == NULL || path == NULL) {
        goto done;
    }

    /* O_NOFOLLOW: a planted symlink must not redirect the private key. */
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        goto done;
    }
    opened = 1;

    /* An existing file keeps its old mode through O_TRUNC (and a new one
     * is subject to the umask): set it before any key byte is written. */
    if (fchmod(fd, 0600) != 0) {
        goto done;
    }

    fp = fdopen(fd, "w");
    if (fp == NULL) {
        goto done;
    }
    fd = -1;    /* fp owns it now */

    /* OpenSSL 3 writes PKCS#8 ("BEGIN PRIVATE KEY"), unencrypted. */
    if (PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL) != 1) {
        goto done;
    }
    if (fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
        goto done;
    }

    rc = 0;

done:
    if (fp != NULL && fclose(fp) != 0) {
        rc = -1;
    }
    if (fd >= 0) {
        close(fd);
    }
    if (rc != 0) {
        ERR_clear_error();
        /* Leave no empty or partial key file behind. */
        if (opened) {
            int  saved = errno;

            unlink(path);
            errno = saved;
        }
    }
    return rc;
}
