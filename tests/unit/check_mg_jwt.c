/*
 * check_mg_jwt: RS256 verification (every rejection path on its own),
 * signing, JWKS parsing, RFC 7638 thumbprints, PEM files, and the RFC 7515
 * A.2 conformance vectors kept outside the repository.
 *
 * Bad tokens are built here by hand: JSON text we write, base64url-encoded,
 * signed with OpenSSL directly where a valid signature is needed, so each
 * test reaches exactly the check it is about.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pthread.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "mg_base64url.h"
#include "mg_jwt.h"

#include "vectors.h"

#define KID     "k1"
#define NOW     1700000000LL
#define ISS     "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TEST"
#define CLIENT  "1example23456789"
#define HDR_OK  "{\"alg\":\"RS256\",\"kid\":\"k1\"}"

/* Shared by the "jwt" test case; made once, before any test runs. */
static EVP_PKEY   *key_a;       /* in the set as k1 */
static EVP_PKEY   *key_b;       /* in no set */
static mg_jwks_t  *jwks;
static char       *pub_pem;     /* key_a's public key, the HS256 trap secret */

static const mg_jwt_policy_t  policy = { ISS, CLIENT, "access", NOW, 60 };


/* Helpers */

static char *
xstrdup(const char *s)
{
    char  *d = strdup(s);

    ck_assert_ptr_nonnull(d);
    return d;
}

static char *
b64(const void *data, size_t n)
{
    char  *out = malloc(mg_b64url_encoded_len(n) + 1);

    ck_assert_ptr_nonnull(out);
    mg_b64url_encode(data, n, out);
    return out;
}

static char *
join(const char *a, const char *b, const char *c)
{
    size_t  n = strlen(a) + strlen(b) + strlen(c) + 3;
    char   *out = malloc(n);

    ck_assert_ptr_nonnull(out);
    snprintf(out, n, "%s.%s.%s", a, b, c);
    return out;
}

/* RS256 over input with key, straight through EVP, base64url. */
static char *
rs256_b64(EVP_PKEY *key, const char *input)
{
    EVP_MD_CTX     *md = EVP_MD_CTX_new();
    size_t          siglen = (size_t) EVP_PKEY_get_size(key);
    unsigned char  *sig = malloc(siglen);
    char           *out;

    ck_assert_ptr_nonnull(md);
    ck_assert_ptr_nonnull(sig);
    ck_assert_int_eq(EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, key, NULL), 1);
    ck_assert_int_eq(EVP_DigestSign(md, sig, &siglen, (const unsigned char *) input,
                                    strlen(input)), 1);
    out = b64(sig, siglen);
    free(sig);
    EVP_MD_CTX_free(md);
    return out;
}

/* b64(header).b64(payload).signature: RS256 by key, or sig64 verbatim
 * when key is NULL. */
static char *
craft(const char *header, const char *payload, EVP_PKEY *key, const char *sig64)
{
    char  *h = b64(header, strlen(header));
    char  *p = b64(payload, strlen(payload));
    char  *input = malloc(strlen(h) + strlen(p) + 2);
    char  *sig, *token;

    ck_assert_ptr_nonnull(input);
    sprintf(input, "%s.%s", h, p);
    sig = key != NULL ? rs256_b64(key, input) : xstrdup(sig64);
    token = join(h, p, sig);
    free(h);
    free(p);
    free(input);
    free(sig);
    return token;
}

static json_t *
claims_base(void)
{
    json_t  *c;

    c = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:[s], s:s}",
                  "sub", "7c1f3e6a-0000-4000-8000-000000000001",
                  "iss", ISS,
                  "client_id", CLIENT,
                  "token_use", "access",
                  "exp", (json_int_t) (NOW + 3600),
                  "iat", (json_int_t) (NOW - 10),
                  "cognito:groups", "admin",
                  "username", "alice");
    ck_assert_ptr_nonnull(c);
    return c;
}

static char *
payload_text(const json_t *claims)
{
    char  *s = json_dumps(claims, JSON_COMPACT);

    ck_assert_ptr_nonnull(s);
    return s;
}

/* The base claims as compact JSON text. */
static char *
payload_ok(void)
{
    json_t  *c = claims_base();
    char    *s = payload_text(c);

    json_decref(c);
    return s;
}

static char *
sign_claims(json_t *claims)
{
    char  *tok = mg_jwt_sign(key_a, KID, claims);

    ck_assert_ptr_nonnull(tok);
    return tok;
}

static mg_jwt_status_t
verify(const char *token)
{
    return mg_jwt_verify(token, strlen(token), jwks, &policy, NULL, NULL);
}

static void
expect_status(const char *token, mg_jwt_status_t want, const char *what)
{
    mg_jwt_status_t  got = verify(token);

    ck_assert_msg(got == want, "%s: got \"%s\", want \"%s\"", what,
                  mg_jwt_status_str(got), mg_jwt_status_str(want));
}

/* Base claims with name set to value (stolen) or removed (value NULL),
 * properly signed by key_a: only the claim checks can object. */
static void
expect_claim(const char *name, json_t *value, mg_jwt_status_t want)
{
    json_t  *c = claims_base();
    char    *tok;

    if (value != NULL) {
        ck_assert_int_eq(json_object_set_new(c, name, value), 0);
    } else {
        ck_assert_int_eq(json_object_del(c, name), 0);
    }
    tok = sign_claims(c);
    expect_status(tok, want, name);
    free(tok);
    json_decref(c);
}

/* A header we write, with the base claims, signed by key. */
static void
expect_header(const char *header, EVP_PKEY *key, mg_jwt_status_t want)
{
    char  *p = payload_ok();
    char  *tok = craft(header, p, key, NULL);

    expect_status(tok, want, header);
    free(tok);
    free(p);
}

static char *
jwks_text(EVP_PKEY *k1, const char *kid1, EVP_PKEY *k2, const char *kid2)
{
    json_t  *set, *keys;
    char    *s;

    keys = json_array();
    ck_assert_ptr_nonnull(keys);
    ck_assert_int_eq(json_array_append_new(keys, mg_jwk_public(k1, kid1)), 0);
    if (k2 != NULL) {
        ck_assert_int_eq(json_array_append_new(keys, mg_jwk_public(k2, kid2)), 0);
    }
    set = json_pack("{s:o}", "keys", keys);
    ck_assert_ptr_nonnull(set);
    s = payload_text(set);
    json_decref(set);
    return s;
}

static mg_jwks_t *
jwks_of(const char *text)
{
    char        err[256] = "";
    mg_jwks_t  *set = mg_jwks_parse(text, strlen(text), err, sizeof(err));

    ck_assert_msg(set != NULL, "JWKS refused: %s", err);
    return set;
}

static void
setup_keys(void)
{
    char  *text;
    BIO   *bio;
    char  *mem;
    long   n;

    key_a = mg_jwk_generate_rsa(2048);
    key_b = mg_jwk_generate_rsa(2048);
    ck_assert_ptr_nonnull(key_a);
    ck_assert_ptr_nonnull(key_b);

    text = jwks_text(key_a, KID, NULL, NULL);
    jwks = jwks_of(text);
    free(text);

    bio = BIO_new(BIO_s_mem());
    ck_assert_ptr_nonnull(bio);
    ck_assert_int_eq(PEM_write_bio_PUBKEY(bio, key_a), 1);
    n = BIO_get_mem_data(bio, &mem);
    pub_pem = malloc((size_t) n + 1);
    ck_assert_ptr_nonnull(pub_pem);
    memcpy(pub_pem, mem, (size_t) n);
    pub_pem[n] = '\0';
    BIO_free(bio);
}

static void
teardown_keys(void)
{
    mg_jwks_free(jwks);
    EVP_PKEY_free(key_a);
    EVP_PKEY_free(key_b);
    free(pub_pem);
    jwks = NULL;
    key_a = key_b = NULL;
    pub_pem = NULL;
}


/* Accepted tokens */

START_TEST(test_sign_verify_round_trip)
{
    json_t         *c = claims_base(), *out = NULL;
    char           *tok = sign_claims(c);
    char            kid[MG_JWK_KID_MAX + 1];
    char           *dot;
    unsigned char   hdr[128];
    ssize_t         n;

    ck_assert_int_eq(mg_jwt_verify(tok, strlen(tok), jwks, &policy, &out, kid), MG_JWT_OK);
    ck_assert_ptr_nonnull(out);
    ck_assert_str_eq(kid, KID);
    ck_assert_int_eq(json_equal(out, c), 1);
    ck_assert_str_eq(json_string_value(json_object_get(out, "username")), "alice");

    /* The header is exactly the documented compact text. */
    dot = strchr(tok, '.');
    ck_assert_ptr_nonnull(dot);
    n = mg_b64url_decode(tok, (size_t) (dot - tok), hdr, sizeof(hdr) - 1);
    ck_assert_int_gt(n, 0);
    hdr[n] = '\0';
    ck_assert_str_eq((char *) hdr, "{\"alg\":\"RS256\",\"kid\":\"k1\",\"typ\":\"JWT\"}");

    /* The signature-only check agrees. */
    ck_assert_int_eq(mg_jws_verify_rs256(tok, strlen(tok), key_a), MG_JWT_OK);
    ck_assert_int_eq(mg_jws_verify_rs256(tok, strlen(tok), key_b), MG_JWT_BAD_SIGNATURE);

    json_decref(out);
    json_decref(c);
    free(tok);
}
END_TEST

START_TEST(test_token_not_nul_terminated)
{
    json_t  *c = claims_base();
    char    *tok = sign_claims(c);
    size_t   len = strlen(tok);
    char    *buf = malloc(len + 8);

    /* Only len bytes count: what follows in the buffer is not read. */
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, tok, len);
    memcpy(buf + len, ".junk!!", 8);
    ck_assert_int_eq(mg_jwt_verify(buf, len, jwks, &policy, NULL, NULL), MG_JWT_OK);
    ck_assert_int_eq(mg_jwt_verify(buf, len + 7, jwks, &policy, NULL, NULL), MG_JWT_MALFORMED);
    free(buf);
    free(tok);
    json_decref(c);
}
END_TEST

START_TEST(test_audience_forms)
{
    json_t  *c;
    char    *tok;

    /* An ID-token shape: aud instead of client_id, as a string... */
    c = claims_base();
    json_object_del(c, "client_id");
    json_object_set_new(c, "aud", json_string(CLIENT));
    tok = sign_claims(c);
    expect_status(tok, MG_JWT_OK, "aud string");
    free(tok);

    /* ...or as a list. */
    json_object_set_new(c, "aud", json_pack("[s, s]", "other", CLIENT));
    tok = sign_claims(c);
    expect_status(tok, MG_JWT_OK, "aud list");
    free(tok);
    json_decref(c);

    /* client_id alone is the access token shape (claims_base). */
    c = claims_base();
    ck_assert_ptr_null(json_object_get(c, "aud"));
    tok = sign_claims(c);
    expect_status(tok, MG_JWT_OK, "client_id");
    free(tok);
    json_decref(c);
}
END_TEST

START_TEST(test_policy_unset_fields)
{
    static const mg_jwt_policy_t  loose = { NULL, NULL, NULL, NOW, 0 };
    json_t                        *c = json_pack("{s:s, s:I}", "sub", "u", "exp",
                                                 (json_int_t) (NOW + 10));
    char                          *tok = sign_claims(c);

    ck_assert_int_eq(mg_jwt_verify(tok, strlen(tok), jwks, &loose, NULL, NULL), MG_JWT_OK);
    /* The strict policy wants iss, audience and token_use. */
    ck_assert_int_eq(verify(tok), MG_JWT_BAD_ISSUER);
    free(tok);
    json_decref(c);
}
END_TEST

START_TEST(test_leeway_edges)
{
    expect_claim("exp", json_integer(NOW - 59), MG_JWT_OK);
    expect_claim("exp", json_integer(NOW - 60), MG_JWT_EXPIRED);
    expect_claim("exp", json_real((double) NOW + 0.5), MG_JWT_OK);
    expect_claim("nbf", json_integer(NOW + 60), MG_JWT_OK);
    expect_claim("nbf", json_integer(NOW + 61), MG_JWT_NOT_YET_VALID);
    expect_claim("iat", json_integer(NOW + 60), MG_JWT_OK);
    expect_claim("iat", json_integer(NOW + 61), MG_JWT_NOT_YET_VALID);
    expect_claim("cognito:groups", json_array(), MG_JWT_OK);
    expect_claim("cognito:groups", NULL, MG_JWT_OK);
}
END_TEST

START_TEST(test_typ_values)
{
    expect_header("{\"alg\":\"RS256\",\"kid\":\"k1\",\"typ\":\"JWT\"}", key_a, MG_JWT_OK);
    expect_header("{\"alg\":\"RS256\",\"kid\":\"k1\",\"typ\":\"at+jwt\"}", key_a, MG_JWT_OK);
    expect_header("{\"alg\":\"RS256\",\"kid\":\"k1\",\"typ\":\"application/at+jwt\"}", key_a,
                  MG_JWT_OK);
    expect_header("{\"alg\":\"RS256\",\"kid\":\"k1\",\"typ\":\"JOSE\"}", key_a, MG_JWT_BAD_ALG);
    expect_header("{\"alg\":\"RS256\",\"kid\":\"k1\",\"typ\":\"JWE\"}", key_a, MG_JWT_BAD_ALG);
    expect_header("{\"alg\":\"RS256\",\"kid\":\"k1\",\"typ\":\"\"}", key_a, MG_JWT_BAD_ALG);
    expect_header("{\"alg\":\"RS256\",\"kid\":\"k1\",\"typ\":1}", key_a, MG_JWT_BAD_ALG);
}
END_TEST


/* Header rejections */

START_TEST(test_alg_none_empty_signature)
{
    char  *p = payload_ok();
    char  *tok = craft("{\"alg\":\"none\",\"kid\":\"k1\"}", p, NULL, "");
    char   kid[MG_JWK_KID_MAX + 1];

    /* "h.p." has an empty third part: refused before alg is even read. */
    ck_assert_int_eq(tok[strlen(tok) - 1], '.');
    ck_assert_int_eq(mg_jwt_verify(tok, strlen(tok), jwks, &policy, NULL, kid),
                     MG_JWT_MALFORMED);
    ck_assert_str_eq(kid, KID);
    free(tok);

    /* With some signature attached, alg itself is the reason. */
    tok = craft("{\"alg\":\"none\",\"kid\":\"k1\"}", p, key_a, NULL);
    expect_status(tok, MG_JWT_BAD_ALG, "alg none, signed");
    free(tok);
    free(p);
}
END_TEST

START_TEST(test_hs256_with_public_key_secret)
{
    static const char  hdr[] = "{\"alg\":\"HS256\",\"kid\":\"k1\",\"typ\":\"JWT\"}";
    char              *p = payload_ok();
    char              *h64 = b64(hdr, strlen(hdr));
    char              *p64 = b64(p, strlen(p));
    char              *input = malloc(strlen(h64) + strlen(p64) + 2);
    unsigned char      mac[EVP_MAX_MD_SIZE];
    size_t             maclen = 0;
    char              *s64, *tok;

    /* The classic confusion: HMAC keyed with the RSA public key's PEM. */
    ck_assert_ptr_nonnull(input);
    sprintf(input, "%s.%s", h64, p64);
    ck_assert_ptr_nonnull(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL,
                                    pub_pem, strlen(pub_pem),
                                    (const unsigned char *) input, strlen(input),
                                    mac, sizeof(mac), &maclen));
    ck_assert_uint_eq(maclen, 32);
    s64 = b64(mac, maclen);
    tok = join(h64, p64, s64);

    expect_status(tok, MG_JWT_BAD_ALG, "HS256");
    ck_assert_int_eq(mg_jws_verify_rs256(tok, strlen(tok), key_a), MG_JWT_BAD_ALG);

    free(tok);
    free(s64);
    free(input);
    free(h64);
    free(p64);
    free(p);
}
END_TEST

START_TEST(test_alg_variants)
{
    static const char *const  bad[] = {
        "{\"alg\":\"rs256\",\"kid\":\"k1\"}",
        "{\"alg\":\"RS512\",\"kid\":\"k1\"}",
        "{\"alg\":\"PS256\",\"kid\":\"k1\"}",
        "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
        "{\"alg\":\"RS256 \",\"kid\":\"k1\"}",
        "{\"alg\":\"\",\"kid\":\"k1\"}",
        "{\"alg\":[\"RS256\"],\"kid\":\"k1\"}",
        "{\"alg\":null,\"kid\":\"k1\"}",
        "{\"kid\":\"k1\"}",
    };
    size_t                    i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_header(bad[i], key_a, MG_JWT_BAD_ALG);
    }
}
END_TEST

START_TEST(test_crit_refused)
{
    expect_header("{\"alg\":\"RS256\",\"kid\":\"k1\",\"crit\":[\"exp\"],\"exp\":1}", key_a,
                  MG_JWT_BAD_ALG);
    expect_header("{\"alg\":\"RS256\",\"kid\":\"k1\",\"b64\":false,\"crit\":[\"b64\"]}", key_a,
                  MG_JWT_BAD_ALG);
    expect_header("{\"alg\":\"RS256\",\"kid\":\"k1\",\"crit\":[]}", key_a, MG_JWT_BAD_ALG);
}
END_TEST

START_TEST(test_key_headers_ignored)
{
    json_t  *hdr, *jwk_b = mg_jwk_public(key_b, KID);
    char    *htext;

    /* Headers that offer the attacker's own key: never consulted, so a
     * token signed by key_b still fails against the set's k1. */
    hdr = json_pack("{s:s, s:s, s:o, s:s, s:s}", "alg", "RS256", "kid", KID, "jwk", jwk_b,
                    "jku", "https://attacker.example/jwks.json",
                    "x5u", "https://attacker.example/cert.pem");
    ck_assert_ptr_nonnull(hdr);
    htext = payload_text(hdr);
    expect_header(htext, key_b, MG_JWT_BAD_SIGNATURE);
    /* Nor are they a reason to refuse a genuine token. */
    expect_header(htext, key_a, MG_JWT_OK);
    free(htext);
    json_decref(hdr);
}
END_TEST

START_TEST(test_unknown_kid)
{
    char   *p = payload_ok(), *tok;
    char    kid[MG_JWK_KID_MAX + 1];
    char    hdr[512], longkid[MG_JWK_KID_MAX + 2];

    tok = craft("{\"alg\":\"RS256\",\"kid\":\"k2\"}", p, key_a, NULL);
    ck_assert_int_eq(mg_jwt_verify(tok, strlen(tok), jwks, &policy, NULL, kid),
                     MG_JWT_UNKNOWN_KID);
    ck_assert_str_eq(kid, "k2");
    free(tok);

    tok = craft("{\"alg\":\"RS256\"}", p, key_a, NULL);
    ck_assert_int_eq(mg_jwt_verify(tok, strlen(tok), jwks, &policy, NULL, kid),
                     MG_JWT_UNKNOWN_KID);
    ck_assert_str_eq(kid, "");
    free(tok);

    expect_header("{\"alg\":\"RS256\",\"kid\":7}", key_a, MG_JWT_UNKNOWN_KID);
    expect_header("{\"alg\":\"RS256\",\"kid\":\"\"}", key_a, MG_JWT_UNKNOWN_KID);
    expect_header("{\"alg\":\"RS256\",\"kid\":\"K1\"}", key_a, MG_JWT_UNKNOWN_KID);
    expect_header("{\"alg\":\"RS256\",\"kid\":\"k1 \"}", key_a, MG_JWT_UNKNOWN_KID);
    expect_header("{\"alg\":\"RS256\",\"kid\":\"k\"}", key_a, MG_JWT_UNKNOWN_KID);
    expect_header("{\"alg\":\"RS256\",\"kid\":[\"k1\"]}", key_a, MG_JWT_UNKNOWN_KID);

    /* Too long to be a kid: refused, and cut to size for the log. */
    memset(longkid, 'k', sizeof(longkid) - 1);
    longkid[sizeof(longkid) - 1] = '\0';
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"kid\":\"%s\"}", longkid);
    tok = craft(hdr, p, key_a, NULL);
    ck_assert_int_eq(mg_jwt_verify(tok, strlen(tok), jwks, &policy, NULL, kid),
                     MG_JWT_UNKNOWN_KID);
    ck_assert_uint_eq(strlen(kid), MG_JWK_KID_MAX);
    free(tok);

    /* No set at all. */
    tok = craft(HDR_OK, p, key_a, NULL);
    ck_assert_int_eq(mg_jwt_verify(tok, strlen(tok), NULL, &policy, NULL, NULL),
                     MG_JWT_UNKNOWN_KID);
    free(tok);
    free(p);
}
END_TEST

START_TEST(test_kid_injection)
{
    static const struct {
        const char  *json;      /* as written in the header */
        const char  *logged;    /* what kid_out must hold */
    } cases[] = {
        { "../../etc/passwd",  "../../etc/passwd" },
        { "' OR 1=1 --",       "' OR 1=1 --" },
        { "k1'; DROP TABLE users; --", "k1'; DROP TABLE users; --" },
        { "/dev/null",         "/dev/null" },
        { "k1/../k1",          "k1/../k1" },
        { "k1\\\"",            "k1\"" },
        { "k1\\nforged line",  "k1?forged line" },
        { "https://attacker.example/k1", "https://attacker.example/k1" },
    };
    char    *p = payload_ok(), *tok;
    char     hdr[256], kid[MG_JWK_KID_MAX + 1];
    size_t   i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"kid\":\"%s\"}", cases[i].json);
        tok = craft(hdr, p, key_a, NULL);
        ck_assert_msg(mg_jwt_verify(tok, strlen(tok), jwks, &policy, NULL, kid)
                      == MG_JWT_UNKNOWN_KID, "kid %s", cases[i].json);
        ck_assert_str_eq(kid, cases[i].logged);
        free(tok);
    }
    free(p);
}
END_TEST


/* Signature rejections */

START_TEST(test_payload_changed_after_signing)
{
    json_t  *c = claims_base();
    char    *tok = sign_claims(c);
    char    *p, *p64, *dot1, *dot2, *forged;

    /* Same header and signature, payload now claims another user. */
    json_object_set_new(c, "sub", json_string("someone-else"));
    p = payload_text(c);
    p64 = b64(p, strlen(p));
    dot1 = strchr(tok, '.');
    dot2 = strchr(dot1 + 1, '.');
    *dot1 = '\0';
    forged = join(tok, p64, dot2 + 1);
    expect_status(forged, MG_JWT_BAD_SIGNATURE, "payload changed");

    free(forged);
    free(p64);
    free(p);
    free(tok);
    json_decref(c);
}
END_TEST

START_TEST(test_signature_altered)
{
    json_t  *c = claims_base();
    char    *tok = sign_claims(c);
    char    *sig = strrchr(tok, '.') + 1;

    /* One character in the middle: still strict base64url, wrong bits. */
    sig[100] = sig[100] == 'A' ? 'B' : 'A';
    expect_status(tok, MG_JWT_BAD_SIGNATURE, "signature altered");
    free(tok);
    json_decref(c);
}
END_TEST

START_TEST(test_signed_by_other_key)
{
    char  *p = payload_ok();
    char  *tok = craft(HDR_OK, p, key_b, NULL);

    ERR_clear_error();
    expect_status(tok, MG_JWT_BAD_SIGNATURE, "key_b as k1");
    /* Nothing left on the thread's OpenSSL error queue for nginx to trip on. */
    ck_assert_uint_eq(ERR_peek_error(), 0);
    free(tok);

    /* And the same signing input with key_a is accepted. */
    tok = craft(HDR_OK, p, key_a, NULL);
    expect_status(tok, MG_JWT_OK, "key_a as k1");
    free(tok);
    free(p);
}
END_TEST

START_TEST(test_signature_wrong_length)
{
    char           *p = payload_ok(), *tok, *s64;
    unsigned char   zeros[512];

    memset(zeros, 0, sizeof(zeros));
    s64 = b64(zeros, 255);
    tok = craft(HDR_OK, p, NULL, s64);
    expect_status(tok, MG_JWT_BAD_SIGNATURE, "255-byte signature");
    free(tok);
    free(s64);

    s64 = b64(zeros, 512);
    tok = craft(HDR_OK, p, NULL, s64);
    expect_status(tok, MG_JWT_BAD_SIGNATURE, "512-byte signature");
    free(tok);
    free(s64);
    free(p);
}
END_TEST


/* Shape rejections */

START_TEST(test_truncated_token)
{
    json_t           *c = claims_base();
    char             *tok = sign_claims(c);
    size_t            len = strlen(tok), cut;
    mg_jwt_status_t   st;
    char             *last_dot = strrchr(tok, '.');

    /* No proper prefix of a valid token is valid. */
    for (cut = 0; cut < len; cut++) {
        st = mg_jwt_verify(tok, cut, jwks, &policy, NULL, NULL);
        ck_assert_msg(st == MG_JWT_MALFORMED || st == MG_JWT_BAD_SIGNATURE,
                      "prefix of %zu bytes: %s", cut, mg_jwt_status_str(st));
    }

    /* Missing and empty signature parts are malformed. */
    ck_assert_int_eq(mg_jwt_verify(tok, (size_t) (last_dot - tok), jwks, &policy, NULL, NULL),
                     MG_JWT_MALFORMED);
    ck_assert_int_eq(mg_jwt_verify(tok, (size_t) (last_dot - tok) + 1, jwks, &policy, NULL,
                                   NULL), MG_JWT_MALFORMED);
    /* Four characters short keeps a possible length: the signature fails. */
    st = mg_jwt_verify(tok, len - 4, jwks, &policy, NULL, NULL);
    ck_assert(st == MG_JWT_MALFORMED || st == MG_JWT_BAD_SIGNATURE);

    free(tok);
    json_decref(c);
}
END_TEST

START_TEST(test_oversized_token)
{
    json_t  *c = claims_base();
    char    *big = malloc(MG_JWT_MAX_LEN);
    char    *p, *tok, *padded;
    size_t   len;

    ck_assert_ptr_nonnull(big);
    memset(big, 'x', MG_JWT_MAX_LEN - 1);
    big[MG_JWT_MAX_LEN - 1] = '\0';
    json_object_set_new(c, "padding", json_string(big));

    /* Properly signed, but over the bound: refused before decoding. */
    p = payload_text(c);
    tok = craft(HDR_OK, p, key_a, NULL);
    ck_assert_uint_gt(strlen(tok), MG_JWT_MAX_LEN);
    expect_status(tok, MG_JWT_MALFORMED, "oversized");
    ck_assert_int_eq(mg_jws_verify_rs256(tok, strlen(tok), key_a), MG_JWT_MALFORMED);

    /* The signer will not make one either. */
    ck_assert_ptr_null(mg_jwt_sign(key_a, KID, c));
    free(tok);
    free(p);

    /* A valid token followed by junk, one byte over the bound. */
    json_object_del(c, "padding");
    tok = sign_claims(c);
    len = strlen(tok);
    padded = malloc(MG_JWT_MAX_LEN + 1);
    ck_assert_ptr_nonnull(padded);
    memcpy(padded, tok, len);
    memset(padded + len, 'A', MG_JWT_MAX_LEN + 1 - len);
    ck_assert_int_eq(mg_jwt_verify(padded, MG_JWT_MAX_LEN + 1, jwks, &policy, NULL, NULL),
                     MG_JWT_MALFORMED);

    free(padded);
    free(tok);
    free(big);
    json_decref(c);
}
END_TEST

START_TEST(test_duplicate_alg)
{
    char  kid[MG_JWK_KID_MAX + 1];
    char  *p = payload_ok(), *tok;

    expect_header("{\"alg\":\"RS256\",\"alg\":\"none\",\"kid\":\"k1\"}", key_a,
                  MG_JWT_MALFORMED);
    expect_header("{\"alg\":\"none\",\"alg\":\"RS256\",\"kid\":\"k1\"}", key_a,
                  MG_JWT_MALFORMED);
    expect_header("{\"alg\":\"RS256\",\"kid\":\"k1\",\"kid\":\"k2\"}", key_a,
                  MG_JWT_MALFORMED);

    /* A header that does not parse has no kid to log. */
    tok = craft("{\"alg\":\"RS256\",\"alg\":\"RS256\",\"kid\":\"k1\"}", p, key_a, NULL);
    ck_assert_int_eq(mg_jwt_verify(tok, strlen(tok), jwks, &policy, NULL, kid),
                     MG_JWT_MALFORMED);
    ck_assert_str_eq(kid, "");
    free(tok);
    free(p);
}
END_TEST

START_TEST(test_duplicate_claim)
{
    char  *tok;

    /* Validly signed, so it is the payload parse that refuses it. */
    tok = craft(HDR_OK, "{\"sub\":\"user\",\"sub\":\"admin\",\"exp\":9999999999}", key_a, NULL);
    expect_status(tok, MG_JWT_MALFORMED, "duplicate sub");
    free(tok);
}
END_TEST

START_TEST(test_malformed_shapes)
{
    static const char *const  bad[] = {
        "", "abc", "a.b", "a.b.c.d", "..", ".eyJ9.c2ln", "eyJ9..c2ln", "eyJ9.eyJ9.",
        "a.b.c.d.e",
    };
    json_t  *c = claims_base();
    char    *tok = sign_claims(c), *m;
    size_t   i, len = strlen(tok);
    char    *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_status(bad[i], MG_JWT_MALFORMED, bad[i]);
    }
    ck_assert_int_eq(mg_jwt_verify(NULL, 10, jwks, &policy, NULL, NULL), MG_JWT_MALFORMED);

    /* One forbidden character spliced into an otherwise valid token. */
    m = malloc(len + 3);
    ck_assert_ptr_nonnull(m);
    {
        static const struct { size_t at; const char *ins; } edits[] = {
            { 0, "=" }, { 1, "==" }, { 2, " " }, { 3, "\n" }, { 4, "+" }, { 5, "/" },
            { 6, "\t" }, { 7, "." },
        };
        size_t  where[3];
        size_t  j;

        where[0] = (size_t) (dot1 - tok);           /* end of the header */
        where[1] = (size_t) (dot2 - tok);           /* end of the payload */
        where[2] = len;                             /* end of the signature */
        for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
            for (j = 0; j < 3; j++) {
                size_t  at = where[j], k = strlen(edits[i].ins);

                memcpy(m, tok, at);
                memcpy(m + at, edits[i].ins, k);
                memcpy(m + at + k, tok + at, len - at + 1);
                ck_assert_msg(verify(m) == MG_JWT_MALFORMED, "'%s' after part %zu: %s",
                              edits[i].ins, j, mg_jwt_status_str(verify(m)));
            }
        }
    }
    /* A real header and signature around an empty payload. */
    memcpy(m, tok, (size_t) (dot1 - tok) + 1);
    strcpy(m + (dot1 - tok) + 1, dot2);
    ck_assert_msg(verify(m) == MG_JWT_MALFORMED, "empty payload: %s",
                  mg_jwt_status_str(verify(m)));
    free(m);

    /* Headers that decode but are not JSON objects. */
    expect_header("not json", key_a, MG_JWT_MALFORMED);
    expect_header("[\"RS256\"]", key_a, MG_JWT_MALFORMED);
    expect_header("\"RS256\"", key_a, MG_JWT_MALFORMED);
    expect_header("{\"alg\":\"RS256\",\"kid\":\"k1\"} x", key_a, MG_JWT_MALFORMED);
    expect_header("{\"alg\":\"RS256\",\"kid\":\"k1\xff\"}", key_a, MG_JWT_MALFORMED);
    expect_header("{\"alg\":\"RS256\",\"kid\":\"k1\\u0000\"}", key_a, MG_JWT_MALFORMED);

    /* Validly signed payloads that are not JSON objects. */
    free(tok);
    tok = craft(HDR_OK, "not json", key_a, NULL);
    expect_status(tok, MG_JWT_MALFORMED, "payload not JSON");
    free(tok);
    tok = craft(HDR_OK, "[1,2,3]", key_a, NULL);
    expect_status(tok, MG_JWT_MALFORMED, "payload array");
    free(tok);
    json_decref(c);
}
END_TEST


/* Claim rejections */

START_TEST(test_expired)
{
    expect_claim("exp", json_integer(NOW - 3600), MG_JWT_EXPIRED);
    expect_claim("exp", json_integer(0), MG_JWT_EXPIRED);
    expect_claim("exp", NULL, MG_JWT_EXPIRED);
    expect_claim("exp", json_string("99999999999"), MG_JWT_EXPIRED);
    expect_claim("exp", json_true(), MG_JWT_EXPIRED);
    expect_claim("exp", json_null(), MG_JWT_EXPIRED);
}
END_TEST

START_TEST(test_nbf_in_future)
{
    expect_claim("nbf", json_integer(NOW + 3600), MG_JWT_NOT_YET_VALID);
    expect_claim("nbf", json_string("0"), MG_JWT_NOT_YET_VALID);
    expect_claim("nbf", json_integer(NOW - 3600), MG_JWT_OK);
}
END_TEST

START_TEST(test_iat_in_future)
{
    expect_claim("iat", json_integer(NOW + 3600), MG_JWT_NOT_YET_VALID);
    expect_claim("iat", json_string("0"), MG_JWT_NOT_YET_VALID);
}
END_TEST

START_TEST(test_wrong_issuer)
{
    expect_claim("iss", json_string("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EVIL"),
                 MG_JWT_BAD_ISSUER);
    expect_claim("iss", json_string(ISS "/"), MG_JWT_BAD_ISSUER);
    expect_claim("iss", json_pack("[s]", ISS), MG_JWT_BAD_ISSUER);
    expect_claim("iss", NULL, MG_JWT_BAD_ISSUER);
}
END_TEST

START_TEST(test_wrong_audience_aud)
{
    json_t  *c = claims_base();
    char    *tok;

    json_object_del(c, "client_id");
    json_object_set_new(c, "aud", json_string("other-client"));
    tok = sign_claims(c);
    expect_status(tok, MG_JWT_BAD_AUDIENCE, "aud string");
    free(tok);

    json_object_set_new(c, "aud", json_pack("[s, s]", "a", "b"));
    tok = sign_claims(c);
    expect_status(tok, MG_JWT_BAD_AUDIENCE, "aud list");
    free(tok);

    json_object_set_new(c, "aud", json_pack("[[s]]", CLIENT));
    tok = sign_claims(c);
    expect_status(tok, MG_JWT_BAD_AUDIENCE, "aud nested");
    free(tok);

    json_object_del(c, "aud");
    tok = sign_claims(c);
    expect_status(tok, MG_JWT_BAD_AUDIENCE, "neither aud nor client_id");
    free(tok);
    json_decref(c);
}
END_TEST

START_TEST(test_wrong_audience_client_id)
{
    expect_claim("client_id", json_string("other-client"), MG_JWT_BAD_AUDIENCE);
    expect_claim("client_id", json_string(CLIENT "x"), MG_JWT_BAD_AUDIENCE);
    expect_claim("client_id", json_pack("[s]", CLIENT), MG_JWT_BAD_AUDIENCE);
}
END_TEST

START_TEST(test_token_use)
{
    expect_claim("token_use", json_string("id"), MG_JWT_BAD_TOKEN_USE);
    expect_claim("token_use", json_string("ACCESS"), MG_JWT_BAD_TOKEN_USE);
    expect_claim("token_use", NULL, MG_JWT_BAD_TOKEN_USE);
}
END_TEST

START_TEST(test_missing_sub)
{
    expect_claim("sub", NULL, MG_JWT_BAD_CLAIMS);
    expect_claim("sub", json_string(""), MG_JWT_BAD_CLAIMS);
    expect_claim("sub", json_integer(42), MG_JWT_BAD_CLAIMS);
}
END_TEST

START_TEST(test_groups_not_list)
{
    expect_claim("cognito:groups", json_string("admin"), MG_JWT_BAD_CLAIMS);
    expect_claim("cognito:groups", json_pack("[s, i]", "admin", 1), MG_JWT_BAD_CLAIMS);
    expect_claim("cognito:groups", json_pack("{s:s}", "admin", "yes"), MG_JWT_BAD_CLAIMS);
}
END_TEST

START_TEST(test_claims_out_only_on_success)
{
    json_t  *sentinel = json_object(), *out = sentinel;
    char    *p = payload_ok();
    char    *tok = craft(HDR_OK, p, key_b, NULL);

    ck_assert_int_eq(mg_jwt_verify(tok, strlen(tok), jwks, &policy, &out, NULL),
                     MG_JWT_BAD_SIGNATURE);
    ck_assert_ptr_null(out);

    /* No policy means no clock: refused after the signature. */
    free(tok);
    tok = craft(HDR_OK, p, key_a, NULL);
    out = sentinel;
    ck_assert_int_eq(mg_jwt_verify(tok, strlen(tok), jwks, NULL, &out, NULL),
                     MG_JWT_BAD_CLAIMS);
    ck_assert_ptr_null(out);

    free(tok);
    free(p);
    json_decref(sentinel);
}
END_TEST

struct verify_job {
    const char  *good;
    const char  *bad;
    int          failures;
};

static void *
verify_thread(void *arg)
{
    struct verify_job  *job = arg;
    json_t             *out;
    int                 i;

    for (i = 0; i < 50; i++) {
        out = NULL;
        if (mg_jwt_verify(job->good, strlen(job->good), jwks, &policy, &out, NULL) != MG_JWT_OK
            || out == NULL)
        {
            job->failures++;
        }
        json_decref(out);
        if (verify(job->bad) != MG_JWT_BAD_SIGNATURE || ERR_peek_error() != 0) {
            job->failures++;
        }
    }
    return NULL;
}

START_TEST(test_concurrent_verify)
{
    json_t             *c = claims_base();
    char               *good = sign_claims(c);
    char               *p = payload_ok();
    char               *bad = craft(HDR_OK, p, key_b, NULL);
    pthread_t           th[4];
    struct verify_job   jobs[4];
    int                 i;

    /* One shared, immutable key set; worker threads verify at once. */
    for (i = 0; i < 4; i++) {
        jobs[i].good = good;
        jobs[i].bad = bad;
        jobs[i].failures = 0;
        ck_assert_int_eq(pthread_create(&th[i], NULL, verify_thread, &jobs[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
        ck_assert_int_eq(jobs[i].failures, 0);
    }
    free(bad);
    free(p);
    free(good);
    json_decref(c);
}
END_TEST

START_TEST(test_status_strings)
{
    int          i, j;
    const char  *a, *b;

    for (i = MG_JWT_OK; i <= MG_JWT_BAD_CLAIMS; i++) {
        a = mg_jwt_status_str((mg_jwt_status_t) i);
        ck_assert_ptr_nonnull(a);
        ck_assert_uint_gt(strlen(a), 0);
        for (j = MG_JWT_OK; j < i; j++) {
            b = mg_jwt_status_str((mg_jwt_status_t) j);
            ck_assert_str_ne(a, b);
        }
    }
    ck_assert_str_eq(mg_jwt_status_str(MG_JWT_EXPIRED), "token expired");
}
END_TEST


/* Signing and key material */

START_TEST(test_sign_refuses_bad_input)
{
    json_t  *c = claims_base(), *arr = json_array();
    char     longkid[MG_JWK_KID_MAX + 2];

    memset(longkid, 'k', sizeof(longkid) - 1);
    longkid[sizeof(longkid) - 1] = '\0';

    ck_assert_ptr_null(mg_jwt_sign(NULL, KID, c));
    ck_assert_ptr_null(mg_jwt_sign(key_a, NULL, c));
    ck_assert_ptr_null(mg_jwt_sign(key_a, "", c));
    ck_assert_ptr_null(mg_jwt_sign(key_a, longkid, c));
    ck_assert_ptr_null(mg_jwt_sign(key_a, KID, NULL));
    ck_assert_ptr_null(mg_jwt_sign(key_a, KID, arr));
    ck_assert_ptr_null(mg_jwk_generate_rsa(1024));
    ck_assert_int_eq(EVP_PKEY_get_bits(key_a), 2048);

    json_decref(arr);
    json_decref(c);
}
END_TEST

START_TEST(test_jwk_public_shape)
{
    json_t      *jwk = mg_jwk_public(key_a, KID);
    const char  *k;
    json_t      *v;
    size_t       i = 0;
    static const char *const  order[] = { "kty", "kid", "alg", "use", "n", "e" };

    ck_assert_ptr_nonnull(jwk);
    ck_assert_uint_eq(json_object_size(jwk), 6);
    json_object_foreach(jwk, k, v) {
        ck_assert_str_eq(k, order[i]);
        i++;
    }
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "kty")), "RSA");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "kid")), KID);
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "alg")), "RS256");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "use")), "sig");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "e")), "AQAB");
    ck_assert_uint_eq(json_string_length(json_object_get(jwk, "n")), 342);
    /* Nothing private: no d, p, q, dp, dq, qi. */
    ck_assert_ptr_null(json_object_get(jwk, "d"));
    ck_assert_ptr_null(json_object_get(jwk, "p"));
    json_decref(jwk);

    ck_assert_ptr_null(mg_jwk_public(NULL, KID));
}
END_TEST

START_TEST(test_thumbprint_rfc7638)
{
    /* RFC 7638 section 3.1: this key's thumbprint is published. */
    static const char  set[] =
        "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"2011-04-29\",\"alg\":\"RS256\",\"e\":\"AQAB\","
        "\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1"
        "L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-6"
        "5YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdk"
        "t-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        "\"}]}";
    mg_jwks_t  *s = jwks_of(set);
    EVP_PKEY   *k = mg_jwks_find(s, "2011-04-29", 10);
    char       *tp;

    ck_assert_ptr_nonnull(k);
    tp = mg_jwk_thumbprint(k);
    ck_assert_ptr_nonnull(tp);
    ck_assert_str_eq(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    free(tp);
    mg_jwks_free(s);
}
END_TEST

START_TEST(test_thumbprint_stable)
{
    char  *a1 = mg_jwk_thumbprint(key_a);
    char  *a2 = mg_jwk_thumbprint(key_a);
    char  *a3 = mg_jwk_thumbprint(mg_jwks_find(jwks, KID, 2));
    char  *b1 = mg_jwk_thumbprint(key_b);

    ck_assert_ptr_nonnull(a1);
    ck_assert_ptr_nonnull(a2);
    ck_assert_ptr_nonnull(a3);
    ck_assert_ptr_nonnull(b1);
    ck_assert_uint_eq(strlen(a1), 43);
    ck_assert_uint_eq(strspn(a1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789-_"), 43);
    ck_assert_str_eq(a1, a2);
    /* The private key and its public JWK agree. */
    ck_assert_str_eq(a1, a3);
    ck_assert_str_ne(a1, b1);
    ck_assert_ptr_null(mg_jwk_thumbprint(NULL));
    free(a1);
    free(a2);
    free(a3);
    free(b1);
}
END_TEST

START_TEST(test_pem_save_load)
{
    char        dir[] = "/tmp/check_mg_jwt_XXXXXX";
    char        path[256], link[256], target[256], head[32];
    struct stat st;
    EVP_PKEY   *loaded;
    FILE       *fp;
    json_t     *c = claims_base();
    char       *tok;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/signing.pem", dir);

    /* A pre-existing world-readable file ends up 0600 too. */
    fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fputs("old", fp);
    fclose(fp);
    ck_assert_int_eq(chmod(path, 0644), 0);

    ck_assert_int_eq(mg_jwk_save_pem(key_a, path), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0600);

    fp = fopen(path, "r");
    ck_assert_ptr_nonnull(fp);
    ck_assert_ptr_nonnull(fgets(head, sizeof(head), fp));
    fclose(fp);
    ck_assert_str_eq(head, "-----BEGIN PRIVATE KEY-----\n");

    loaded = mg_jwk_load_pem(path);
    ck_assert_ptr_nonnull(loaded);
    ck_assert_int_eq(EVP_PKEY_eq(loaded, key_a), 1);

    /* A token signed with the reloaded key verifies against the set. */
    tok = mg_jwt_sign(loaded, KID, c);
    ck_assert_ptr_nonnull(tok);
    expect_status(tok, MG_JWT_OK, "signed with reloaded key");
    free(tok);
    EVP_PKEY_free(loaded);

    /* Public-only keys cannot be saved; nothing is left behind. */
    ck_assert_int_eq(mg_jwk_save_pem(mg_jwks_find(jwks, KID, 2), path), -1);
    ck_assert_int_eq(access(path, F_OK), -1);

    /* The key is never written through a symlink. */
    snprintf(target, sizeof(target), "%s/target", dir);
    snprintf(link, sizeof(link), "%s/link.pem", dir);
    ck_assert_int_eq(symlink(target, link), 0);
    ck_assert_int_eq(mg_jwk_save_pem(key_a, link), -1);
    ck_assert_int_eq(access(target, F_OK), -1);
    ck_assert_int_eq(unlink(link), 0);

    /* A file holding only a public key, or nothing, does not load. */
    fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fputs(pub_pem, fp);
    fclose(fp);
    ck_assert_ptr_null(mg_jwk_load_pem(path));
    ck_assert_ptr_null(mg_jwk_load_pem("/nonexistent/signing.pem"));
    ck_assert_ptr_null(mg_jwk_load_pem(NULL));

    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(dir), 0);
    json_decref(c);
}
END_TEST


/* JWKS */

START_TEST(test_jwks_good_set)
{
    json_t     *set, *keys;
    char       *text, err[256] = "";
    mg_jwks_t  *s;
    json_t     *enc = mg_jwk_public(key_b, "enc-key");
    json_t     *rs512 = mg_jwk_public(key_b, "rs512-key");
    json_t     *no_alg = mg_jwk_public(key_b, "k2");

    json_object_set_new(enc, "use", json_string("enc"));
    json_object_set_new(rs512, "alg", json_string("RS512"));
    /* use and alg are optional: a key without them is fine. */
    json_object_del(no_alg, "use");
    json_object_del(no_alg, "alg");

    keys = json_pack("[o, {s:s, s:s, s:s, s:s, s:s}, o, o, {s:s, s:s, s:s}, o]",
                     mg_jwk_public(key_a, KID),
                     "kty", "EC", "crv", "P-256", "kid", "ec-key",
                     "x", "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                     "y", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
                     enc, rs512,
                     "kty", "oct", "kid", "hmac-key", "k", "c2VjcmV0",
                     no_alg);
    ck_assert_ptr_nonnull(keys);
    set = json_pack("{s:o}", "keys", keys);
    text = payload_text(set);

    s = mg_jwks_parse(text, strlen(text), err, sizeof(err));
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_uint_eq(mg_jwks_count(s), 2);
    ck_assert_int_eq(EVP_PKEY_eq(mg_jwks_find(s, KID, 2), key_a), 1);
    ck_assert_int_eq(EVP_PKEY_eq(mg_jwks_find(s, "k2", 2), key_b), 1);
    ck_assert_ptr_null(mg_jwks_find(s, "ec-key", 6));
    ck_assert_ptr_null(mg_jwks_find(s, "enc-key", 7));
    ck_assert_ptr_null(mg_jwks_find(s, "rs512-key", 9));
    ck_assert_ptr_null(mg_jwks_find(s, "hmac-key", 8));

    mg_jwks_free(s);
    free(text);
    json_decref(set);
}
END_TEST

START_TEST(test_jwks_only_non_rsa)
{
    static const char  set[] =
        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"e1\",\"use\":\"sig\","
        "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
        "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"},"
        "{\"kty\":\"oct\",\"kid\":\"o1\",\"k\":\"c2VjcmV0\"},"
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"d1\","
        "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}";
    char               err[256] = "";

    ck_assert_ptr_null(mg_jwks_parse(set, strlen(set), err, sizeof(err)));
    ck_assert_msg(strstr(err, "no usable key") != NULL, "err: %s", err);

    err[0] = '\0';
    ck_assert_ptr_null(mg_jwks_parse("{\"keys\":[]}", 11, err, sizeof(err)));
    ck_assert_msg(strstr(err, "no usable key") != NULL, "err: %s", err);
}
END_TEST

START_TEST(test_jwks_malformed)
{
    static const struct {
        const char  *text;
        const char  *err;
    } cases[] = {
        { "{\"keys\":[",                "JWKS: malformed JSON: " },
        { "{\"keys\":[],\"keys\":[]}",  "JWKS: malformed JSON: " },
        { "[]",                         "JWKS: expected a JSON object" },
        { "",                           "JWKS: empty body" },
        { "{}",                         "JWKS: no \"keys\" array" },
        { "{\"keys\":{}}",              "JWKS: no \"keys\" array" },
    };
    char    err[256];
    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        ck_assert_ptr_null(mg_jwks_parse(cases[i].text, strlen(cases[i].text), err,
                                         sizeof(err)));
        ck_assert_msg(strncmp(err, cases[i].err, strlen(cases[i].err)) == 0,
                      "%s: err \"%s\"", cases[i].text, err);
    }
    ck_assert_ptr_null(mg_jwks_parse("[", 1, NULL, 0));
}
END_TEST

START_TEST(test_jwks_bad_keys_skipped)
{
    json_t      *jwk = mg_jwk_public(key_a, KID);
    EVP_PKEY    *small;
    char        *text, err[256];
    const char  *n = json_string_value(json_object_get(jwk, "n"));
    char         padded[400], longkid[MG_JWK_KID_MAX + 2];
    size_t       i;
    json_t      *variants[8];

    memset(longkid, 'k', sizeof(longkid) - 1);
    longkid[sizeof(longkid) - 1] = '\0';
    snprintf(padded, sizeof(padded), "%s==", n);

    for (i = 0; i < 8; i++) {
        variants[i] = json_deep_copy(jwk);
        ck_assert_ptr_nonnull(variants[i]);
    }
    json_object_set_new(variants[0], "n", json_string(padded));    /* padding */
    json_object_set_new(variants[1], "e", json_string("Ag"));      /* e = 2 */
    json_object_del(variants[2], "e");
    json_object_set_new(variants[3], "kid", json_string(longkid));
    json_object_set_new(variants[4], "kid", json_string(""));
    json_object_del(variants[5], "kid");
    json_object_set_new(variants[6], "kty", json_string("rsa"));
    json_object_set_new(variants[7], "n", json_string("AQAB"));    /* tiny modulus */

    for (i = 0; i < 8; i++) {
        json_t  *set = json_pack("{s:[o]}", "keys", variants[i]);

        text = payload_text(set);
        err[0] = '\0';
        ck_assert_msg(mg_jwks_parse(text, strlen(text), err, sizeof(err)) == NULL,
                      "variant %zu accepted", i);
        ck_assert_msg(strstr(err, "no usable key") != NULL, "variant %zu: %s", i, err);
        free(text);
        json_decref(set);
    }

    /* A real 1024-bit RSA key is under the floor. */
    small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);
    ck_assert_ptr_nonnull(small);
    text = jwks_text(small, "small", NULL, NULL);
    ERR_clear_error();
    ck_assert_ptr_null(mg_jwks_parse(text, strlen(text), err, sizeof(err)));
    ck_assert_uint_eq(ERR_peek_error(), 0);
    free(text);
    EVP_PKEY_free(small);

    json_decref(jwk);
}
END_TEST

START_TEST(test_jwks_duplicate_kid_first_wins)
{
    char       *p = payload_ok();
    char       *tok_a = craft(HDR_OK, p, key_a, NULL);
    char       *tok_b = craft(HDR_OK, p, key_b, NULL);
    char       *text;
    mg_jwks_t  *s;

    text = jwks_text(key_a, KID, key_b, KID);
    s = jwks_of(text);
    ck_assert_uint_eq(mg_jwks_count(s), 1);
    ck_assert_int_eq(mg_jwt_verify(tok_a, strlen(tok_a), s, &policy, NULL, NULL), MG_JWT_OK);
    ck_assert_int_eq(mg_jwt_verify(tok_b, strlen(tok_b), s, &policy, NULL, NULL),
                     MG_JWT_BAD_SIGNATURE);
    mg_jwks_free(s);
    free(text);

    text = jwks_text(key_b, KID, key_a, KID);
    s = jwks_of(text);
    ck_assert_int_eq(mg_jwt_verify(tok_a, strlen(tok_a), s, &policy, NULL, NULL),
                     MG_JWT_BAD_SIGNATURE);
    ck_assert_int_eq(mg_jwt_verify(tok_b, strlen(tok_b), s, &policy, NULL, NULL), MG_JWT_OK);
    mg_jwks_free(s);
    free(text);

    free(tok_a);
    free(tok_b);
    free(p);
}
END_TEST

START_TEST(test_jwks_find_exact)
{
    ck_assert_uint_eq(mg_jwks_count(jwks), 1);
    ck_assert_ptr_nonnull(mg_jwks_find(jwks, "k1", 2));
    /* kid_len decides, not a NUL. */
    ck_assert_ptr_nonnull(mg_jwks_find(jwks, "k1-and-more", 2));
    ck_assert_ptr_null(mg_jwks_find(jwks, "k1-and-more", 3));
    ck_assert_ptr_null(mg_jwks_find(jwks, "k1", 1));
    ck_assert_ptr_null(mg_jwks_find(jwks, "k1\0", 3));
    ck_assert_ptr_null(mg_jwks_find(jwks, "K1", 2));
    ck_assert_ptr_null(mg_jwks_find(jwks, "", 0));
    ck_assert_ptr_null(mg_jwks_find(jwks, NULL, 2));
    ck_assert_ptr_null(mg_jwks_find(NULL, "k1", 2));
    ck_assert_uint_eq(mg_jwks_count(NULL), 0);
    mg_jwks_free(NULL);
}
END_TEST


/* RFC 7515 A.2 conformance (data outside the repository) */

START_TEST(test_rfc7515_a2)
{
    static const struct {
        const char       *name;
        mg_jwt_status_t   want;
    } known[] = {
        { "signature-bit-flipped", MG_JWT_BAD_SIGNATURE },
        { "payload-changed",       MG_JWT_BAD_SIGNATURE },
        { "alg-none",              MG_JWT_MALFORMED },
        { "truncated-signature",   MG_JWT_MALFORMED },
        { "two-parts-only",        MG_JWT_MALFORMED },
    };
    static const mg_jwt_policy_t  rfc_policy = { NULL, NULL, NULL, 1300819000LL, 0 };
    char              dir[1024], path[1100];
    char             *text, *tok, err[256] = "";
    const char       *t;
    size_t            len, i, n = 0;
    mg_jwks_t        *set;
    EVP_PKEY         *key;
    json_t           *neg, *v;
    const char       *name;
    mg_jwt_status_t   got;

    if (!vectors_dir("jws", "the RFC 7515 cases", dir, sizeof(dir))) {
        return;
    }

    snprintf(path, sizeof(path), "%s/rfc7515-a2.jwks.json", dir);
    text = vectors_must_read(path, &len);
    set = mg_jwks_parse(text, len, err, sizeof(err));
    ck_assert_msg(set != NULL, "%s: %s", path, err);
    free(text);
    key = mg_jwks_find(set, "rfc7515-a2", strlen("rfc7515-a2"));
    ck_assert_ptr_nonnull(key);

    snprintf(path, sizeof(path), "%s/rfc7515-a2.jws", dir);
    tok = vectors_must_read(path, &len);
    while (len > 0 && (tok[len - 1] == '\n' || tok[len - 1] == '\r' || tok[len - 1] == ' ')) {
        len--;
    }
    ck_assert_int_eq(mg_jws_verify_rs256(tok, len, key), MG_JWT_OK);
    /* Its header has no kid, so as an access token it names no key. */
    ck_assert_int_eq(mg_jwt_verify(tok, len, set, &rfc_policy, NULL, NULL),
                     MG_JWT_UNKNOWN_KID);
    free(tok);

    snprintf(path, sizeof(path), "%s/rfc7515-a2.negative.json", dir);
    text = vectors_must_read(path, &len);
    neg = json_loadb(text, len, 0, NULL);
    ck_assert_msg(json_is_object(neg), "%s is not a JSON object", path);
    free(text);

    json_object_foreach(neg, name, v) {
        ck_assert_msg(json_is_string(v), "%s: not a string", name);
        t = json_string_value(v);
        len = json_string_length(v);
        got = mg_jws_verify_rs256(t, len, key);
        ck_assert_msg(got != MG_JWT_OK, "negative vector %s accepted", name);
        ck_assert_msg(mg_jwt_verify(t, len, set, &rfc_policy, NULL, NULL) != MG_JWT_OK,
                      "negative vector %s accepted by mg_jwt_verify", name);
        for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
            if (strcmp(name, known[i].name) == 0) {
                ck_assert_msg(got == known[i].want, "%s: got \"%s\", want \"%s\"", name,
                              mg_jwt_status_str(got), mg_jwt_status_str(known[i].want));
            }
        }
        n++;
    }
    ck_assert_uint_gt(n, 0);

    json_decref(neg);
    mg_jwks_free(set);
}
END_TEST


static Suite *
jwt_suite(void)
{
    Suite  *s = suite_create("mg_jwt");
    TCase  *tc = tcase_create("jwt");
    TCase  *conf = tcase_create("rfc7515");

    /* Key generation is slow under valgrind: once per case, untimed. */
    tcase_add_unchecked_fixture(tc, setup_keys, teardown_keys);
    tcase_set_timeout(tc, 300);

    tcase_add_test(tc, test_sign_verify_round_trip);
    tcase_add_test(tc, test_token_not_nul_terminated);
    tcase_add_test(tc, test_audience_forms);
    tcase_add_test(tc, test_policy_unset_fields);
    tcase_add_test(tc, test_leeway_edges);
    tcase_add_test(tc, test_typ_values);

    tcase_add_test(tc, test_alg_none_empty_signature);
    tcase_add_test(tc, test_hs256_with_public_key_secret);
    tcase_add_test(tc, test_alg_variants);
    tcase_add_test(tc, test_crit_refused);
    tcase_add_test(tc, test_key_headers_ignored);
    tcase_add_test(tc, test_unknown_kid);
    tcase_add_test(tc, test_kid_injection);

    tcase_add_test(tc, test_payload_changed_after_signing);
    tcase_add_test(tc, test_signature_altered);
    tcase_add_test(tc, test_signed_by_other_key);
    tcase_add_test(tc, test_signature_wrong_length);

    tcase_add_test(tc, test_truncated_token);
    tcase_add_test(tc, test_oversized_token);
    tcase_add_test(tc, test_duplicate_alg);
    tcase_add_test(tc, test_duplicate_claim);
    tcase_add_test(tc, test_malformed_shapes);

    tcase_add_test(tc, test_expired);
    tcase_add_test(tc, test_nbf_in_future);
    tcase_add_test(tc, test_iat_in_future);
    tcase_add_test(tc, test_wrong_issuer);
    tcase_add_test(tc, test_wrong_audience_aud);
    tcase_add_test(tc, test_wrong_audience_client_id);
    tcase_add_test(tc, test_token_use);
    tcase_add_test(tc, test_missing_sub);
    tcase_add_test(tc, test_groups_not_list);
    tcase_add_test(tc, test_claims_out_only_on_success);
    tcase_add_test(tc, test_concurrent_verify);
    tcase_add_test(tc, test_status_strings);

    tcase_add_test(tc, test_sign_refuses_bad_input);
    tcase_add_test(tc, test_jwk_public_shape);
    tcase_add_test(tc, test_thumbprint_rfc7638);
    tcase_add_test(tc, test_thumbprint_stable);
    tcase_add_test(tc, test_pem_save_load);

    tcase_add_test(tc, test_jwks_good_set);
    tcase_add_test(tc, test_jwks_only_non_rsa);
    tcase_add_test(tc, test_jwks_malformed);
    tcase_add_test(tc, test_jwks_bad_keys_skipped);
    tcase_add_test(tc, test_jwks_duplicate_kid_first_wins);
    tcase_add_test(tc, test_jwks_find_exact);
    suite_add_tcase(s, tc);

    tcase_set_timeout(conf, 120);
    tcase_add_test(conf, test_rfc7515_a2);
    suite_add_tcase(s, conf);
    return s;
}

int
main(void)
{
    SRunner  *sr = srunner_create(jwt_suite());
    int       failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
