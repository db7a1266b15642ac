/*
 * mg_password: owns how local passwords are hashed, stored, verified and
 * judged.  The stored string carries its own parameters, so they can be
 * raised later without invalidating existing hashes; verification always
 * uses the parameters it finds.  Derived keys are compared with
 * CRYPTO_memcmp and wiped from the stack after use.  No function here
 * logs or copies a password anywhere but into the KDF.
 */
#include "identity/password.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "util/log.h"
#include "mg_base64url.h"
#include "validate.h"

#define MG_SCRYPT_PREFIX   "$scrypt$ln="
#define MG_SCRYPT_LN_MAX   20
#define MG_SCRYPT_R_MAX    32
#define MG_SCRYPT_P_MAX    16
#define MG_SCRYPT_SALT_MIN 8
#define MG_SCRYPT_HASH_MIN 16
/* Refuse parameters needing more memory than this: a stored string must
 * not be able to make a verification allocate gigabytes. */
#define MG_SCRYPT_MEM_MAX  (512ULL * 1024 * 1024)

/* Generated once from random bytes nobody kept (default parameters; a unit
 * test checks it parses to MG_SCRYPT_LN/R/P, so it stays as slow as a real
 * verification). */
const char mg_password_dummy_hash[] =
    "$scrypt$ln=15,r=8,p=1$7LHPsjfSGrstD6ABp91nwA$d-vc_0wVy9BQpUKsnqjH8pr8-SioxYBUKs8rCYnm7kQ";

/* Symbols as Cognito counts them; an inner space counts too (see below). */
static const char mg_password_symbols[] = "^$*.[]{}()?-\"!@#%&/\\,><':;|_~`+=";

/* Bytes EVP_PBE_scrypt needs for these parameters (its own accounting:
 * B is 128*r*p bytes, V is 128*r*(N+2)), plus slack. */
static unsigned long long
mg_scrypt_mem(unsigned ln, unsigned r, unsigned p)
{
    unsigned long long n = 1ULL << ln;

    return 128ULL * r * p + 128ULL * r * (n + 2) + 4096;
}

/* Parameters both hashing and verification accept. */
static int
mg_scrypt_params_ok(unsigned ln, unsigned r, unsigned p)
{
    if (ln < 1 || ln > MG_SCRYPT_LN_MAX || r < 1 || r > MG_SCRYPT_R_MAX
        || p < 1 || p > MG_SCRYPT_P_MAX)
    {
        return 0;
    }
    /* scrypt requires N < 2^(16r) */
    if (ln >= 16 * r) {
        return 0;
    }
    return mg_scrypt_mem(ln, r, p) <= MG_SCRYPT_MEM_MAX;
}

static int
mg_scrypt(const char *password, size_t len, unsigned ln, unsigned r, unsigned p,
          const unsigned char *salt, size_t salt_len, unsigned char *out, size_t out_len)
{
    /* EVP_PBE_scrypt reads pass even for len 0: never hand it NULL */
    const char *pass = password != NULL ? password : "";

    if (EVP_PBE_scrypt(pass, len, salt, salt_len, 1ULL << ln, r, p,
                       mg_scrypt_mem(ln, r, p), out, out_len) != 1)
    {
        mg_log_error("password: scrypt failed (ln=%u r=%u p=%u)", ln, r, p);
        return -1;
    }
    return 0;
}

int
mg_password_hash_with(const char *password, size_t len, unsigned ln,
                      unsigned r, unsigned p, char *out, size_t cap)
{
    unsigned char  salt[MG_SCRYPT_SALT_LEN], hash[MG_SCRYPT_HASH_LEN];
    char           salt_b64[64], hash_b64[64];
    int            n, rc = -1;

    if (!mg_scrypt_params_ok(ln, r, p)) {
        mg_log_error("password: refusing scrypt parameters ln=%u r=%u p=%u", ln, r, p);
        return -1;
    }
    if (RAND_bytes(salt, sizeof(salt)) != 1) {
        mg_log_error("password: no randomness for a salt");
        return -1;
    }
    if (mg_scrypt(password, len, ln, r, p, salt, sizeof(salt), hash, sizeof(hash)) != 0) {
        goto done;
    }
    mg_b64url_encode(salt, sizeof(salt), salt_b64);
    mg_b64url_encode(hash, sizeof(hash), hash_b64);
    n = snprintf(out, cap, MG_SCRYPT_PREFIX "%u,r=%u,p=%u$%s$%s", ln, r, p, salt_b64, hash_b64);
    if (n < 0 || (size_t) n >= cap) {
        mg_log_error("password: no room for the hash string");
        goto done;
    }
    rc = 0;

done:
    OPENSSL_cleanse(hash, sizeof(hash));
    return rc;
}

int
mg_password_hash(const char *password, size_t len, char *out, size_t cap)
{
    return mg_password_hash_with(password, len, MG_SCRYPT_LN, MG_SCRYPT_R, MG_SCRYPT_P,
                                 out, cap);
}

/* A decimal without sign or leading zeros, at most 4 digits. */
static const char *
mg_parse_uint(const char *s, unsigned *out)
{
    unsigned v = 0;
    int      n = 0;

    if (s[0] == '0') {
        return NULL;            /* no "08"; and 0 is never a valid parameter */
    }
    while (s[n] >= '0' && s[n] <= '9') {
        if (n == 4) {
            return NULL;
        }
        v = v * 10 + (unsigned) (s[n] - '0');
        n++;
    }
    if (n == 0) {
        return NULL;
    }
    *out = v;
    return s + n;
}

/* Decode a base64url field of [min, max] bytes.  0 or -1. */
static int
mg_parse_b64(const char *s, size_t n, size_t min, size_t max, unsigned char *out, size_t *len)
{
    ssize_t got;

    if (n == 0) {
        return -1;
    }
    /* refuses (before decoding) anything longer than max bytes */
    got = mg_b64url_decode(s, n, out, max);
    if (got < 0 || (size_t) got < min || (size_t) got > max) {
        return -1;
    }
    *len = (size_t) got;
    return 0;
}

int
mg_password_parse(const char *stored, mg_scrypt_params_t *out)
{
    const char  *s, *dollar;

    memset(out, 0, sizeof(*out));
    if (stored == NULL || strncmp(stored, MG_SCRYPT_PREFIX, strlen(MG_SCRYPT_PREFIX)) != 0) {
        return -1;
    }
    s = stored + strlen(MG_SCRYPT_PREFIX);
    if ((s = mg_parse_uint(s, &out->ln)) == NULL || strncmp(s, ",r=", 3) != 0
        || (s = mg_parse_uint(s + 3, &out->r)) == NULL || strncmp(s, ",p=", 3) != 0
        || (s = mg_parse_uint(s + 3, &out->p)) == NULL || *s != '$')
    {
        return -1;
    }
    if (!mg_scrypt_params_ok(out->ln, out->r, out->p)) {
        return -1;
    }
    s++;
    dollar = strchr(s, '$');
    if (dollar == NULL
        || mg_parse_b64(s, (size_t) (dollar - s), MG_SCRYPT_SALT_MIN, sizeof(out->salt),
                        out->salt, &out->salt_len) != 0
        || mg_parse_b64(dollar + 1, strlen(dollar + 1), MG_SCRYPT_HASH_MIN, sizeof(out->hash),
                        out->hash, &out->hash_len) != 0)
    {
        return -1;
    }
    return 0;
}

int
mg_password_verify(const char *password, size_t len, const char *stored)
{
    mg_scrypt_params_t  params;
    unsigned char       derived[sizeof(params.hash)];
    int                 rc = -1;

    if (mg_password_parse(stored, &params) != 0) {
        mg_log_error("password: stored hash does not parse");
        goto done;
    }
    if (mg_scrypt(password, len, params.ln, params.r, params.p, params.salt,
                  params.salt_len, derived, params.hash_len) != 0)
    {
        goto done;
    }
    rc = CRYPTO_memcmp(derived, params.hash, params.hash_len) == 0 ? 1 : 0;

done:
    OPENSSL_cleanse(derived, sizeof(derived));
    OPENSSL_cleanse(&params, sizeof(params));
    return rc;
}

int
mg_password_policy(const char *password, size_t len, char *msg, size_t cap)
{
    int     lower = 0, upper = 0, digit = 0, symbol = 0;
    size_t  chars;

    if (memchr(password, '\0', len) != NULL) {
        snprintf(msg, cap, "must not contain a NUL character");
        return -1;
    }
    chars = mg_utf8_chars(password, len);
    if (chars < MG_PASSWORD_MIN_CHARS || chars > MG_PASSWORD_MAX_CHARS) {
        snprintf(msg, cap, "must be %d to %d characters long",
                 MG_PASSWORD_MIN_CHARS, MG_PASSWORD_MAX_CHARS);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) password[i];

        if (c >= 'a' && c <= 'z') {
            lower = 1;
        } else if (c >= 'A' && c <= 'Z') {
            upper = 1;
        } else if (c >= '0' && c <= '9') {
            digit = 1;
        } else if (strchr(mg_password_symbols, c) != NULL
                   /* Cognito: a space counts unless leading or trailing */
                   || (c == ' ' && i > 0 && i + 1 < len))
        {
            symbol = 1;
        }
    }
    if (!lower) {
        snprintf(msg, cap, "must contain a lowercase letter (a-z)");
    } else if (!upper) {
        snprintf(msg, cap, "must contain an uppercase letter (A-Z)");
    } else if (!digit) {
        snprintf(msg, cap, "must contain a digit (0-9)");
    } else if (!symbol) {
        snprintf(msg, cap, "must contain a symbol such as ! @ # $ %% ^ & * or a space");
    } else {
        return 0;
    }
    return -1;
}
