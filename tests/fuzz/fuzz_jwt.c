/*
 * fuzz_jwt: mg_jwt_verify, what the module runs on every bearer token,
 * against a real key set: tests/fuzz/jwt/keys, made by `mangoo-worker
 * keygen` for fuzzing only (its private key signs nothing else).  The
 * policy is the local one (issuer mangoo-local, audience mangoo-web,
 * token_use access) at a fixed clock, so an input always replays alike.
 * Input: one mode byte, then
 *   even: a compact token, verified as it is (the seeds are real tokens
 *         from `mangoo-worker token`, whose signatures verify);
 *   odd:  a JOSE header and a payload (split at the first NUL), which the
 *         harness base64url-encodes and signs with the set's key, so that
 *         what runs after the signature check (payload JSON, exp, nbf,
 *         iat, iss, aud, client_id, token_use, sub, groups) is fuzzed too.
 * Also mg_jws_verify_rs256 on the same token with the same key.
 */
#include <assert.h>
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/rsa.h>

#include "fuzz.h"
#include "mg_base64url.h"
#include "mg_jwt.h"

#ifndef MG_FUZZ_DIR
#define MG_FUZZ_DIR "tests/fuzz"
#endif
#define MG_FUZZ_KEYS MG_FUZZ_DIR "/jwt/keys"
#define MG_FUZZ_NOW  1800000000LL       /* the seeds' tokens are valid then */

static mg_jwks_t  *jwks;
static EVP_PKEY   *key;

static char *
mg_fuzz_read(const char *path, size_t *len)
{
    FILE   *fp = fopen(path, "re");
    char   *buf = malloc(65536);
    size_t  n;

    if (fp == NULL || buf == NULL) {
        fprintf(stderr, "fuzz_jwt: cannot read %s\n", path);
        abort();
    }
    n = fread(buf, 1, 65535, fp);
    fclose(fp);
    buf[n] = '\0';
    *len = n;
    return buf;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char    err[256], path[512], *text, *kid;
    size_t  len;

    text = mg_fuzz_read(MG_FUZZ_KEYS "/jwks.json", &len);
    jwks = mg_jwks_parse(text, len, err, sizeof(err));
    free(text);
    kid = mg_fuzz_read(MG_FUZZ_KEYS "/current", &len);
    kid[strcspn(kid, "\n")] = '\0';
    snprintf(path, sizeof(path), "%s/%s.pem", MG_FUZZ_KEYS, kid);
    free(kid);
    key = mg_jwk_load_pem(path);
    if (jwks == NULL || key == NULL) {
        fprintf(stderr, "fuzz_jwt: no key set in %s: %s\n", MG_FUZZ_KEYS, err);
        abort();
    }
    return 0;
}

/* "b64(header).b64(payload).b64(RS256 signature)", malloc'd. */
static char *
mg_fuzz_sign(const uint8_t *h, size_t hlen, const uint8_t *p, size_t plen, size_t *len)
{
    size_t          h64 = mg_b64url_encoded_len(hlen), p64 = mg_b64url_encoded_len(plen);
    size_t          input = h64 + 1 + p64, siglen = (size_t) EVP_PKEY_get_size(key);
    char           *t = malloc(input + 1 + mg_b64url_encoded_len(siglen) + 1);
    unsigned char  *sig = malloc(siglen);
    EVP_MD_CTX     *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX   *pctx;

    assert(t != NULL && sig != NULL && md != NULL);
    mg_b64url_encode(h, hlen, t);
    t[h64] = '.';
    mg_b64url_encode(p, plen, t + h64 + 1);
    if (EVP_DigestSignInit_ex(md, &pctx, "SHA256", NULL, NULL, key, NULL) != 1
        || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0
        || EVP_DigestSign(md, sig, &siglen, (unsigned char *) t, input) != 1)
    {
        abort();
    }
    t[input] = '.';
    mg_b64url_encode(sig, siglen, t + input + 1);
    *len = input + 1 + mg_b64url_encoded_len(siglen);
    t[*len] = '\0';
    EVP_MD_CTX_free(md);
    free(sig);
    return t;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mg_jwt_policy_t   policy = { "mangoo-local", "mangoo-web", "access", MG_FUZZ_NOW, 60 };
    char              kid[MG_JWK_KID_MAX + 1];
    json_t           *claims = NULL;
    char             *token;
    size_t            len;
    mg_jwt_status_t   st;

    if (size < 1) {
        return 0;
    }
    if (data[0] & 1) {
        const uint8_t  *h, *p;
        size_t          hlen, plen;

        if (size > MG_JWT_MAX_LEN) {
            return 0;
        }
        mg_fuzz_split(data + 1, size - 1, &h, &hlen, &p, &plen);
        token = mg_fuzz_sign(h, hlen, p ? p : (const uint8_t *) "", plen, &len);
    } else {
        len = size - 1;
        token = mg_fuzz_dup(data + 1, len, 0);
    }

    st = mg_jwt_verify(token, len, jwks, &policy, &claims, kid);
    assert(memchr(kid, '\0', sizeof(kid)) != NULL);
    assert(mg_jwt_status_str(st) != NULL);
    if (st == MG_JWT_OK) {
        assert(json_is_object(claims));
        assert(json_is_string(json_object_get(claims, "sub")));
        json_decref(claims);
    } else {
        assert(claims == NULL);
    }
    (void) mg_jws_verify_rs256(token, len, key);
    free(token);
    ERR_clear_error();
    return 0;
}
