/*
 * mg_password: password hashing for the local identity (scrypt, stored as a
 * PHC-style string "$scrypt$ln=15,r=8,p=1$<salt>$<hash>" with base64url
 * salt and hash) and the password policy new passwords must meet (the
 * shape of Cognito's default policy).  Nothing here logs a password.
 */
#ifndef MG_PASSWORD_H
#define MG_PASSWORD_H

#include <stddef.h>

/* Parameters of new hashes: N = 2^15, r = 8, p = 1 (32 MiB, ~50-100 ms). */
#define MG_SCRYPT_LN        15
#define MG_SCRYPT_R         8
#define MG_SCRYPT_P         1
#define MG_SCRYPT_SALT_LEN  16
#define MG_SCRYPT_HASH_LEN  32

/* Room for any stored string this unit writes or accepts, with the NUL. */
#define MG_PASSWORD_HASH_MAX  256

/* Policy: length in characters (UTF-8 code points), inclusive. */
#define MG_PASSWORD_MIN_CHARS  8
#define MG_PASSWORD_MAX_CHARS  256

typedef struct {
    unsigned       ln;                  /* N = 2^ln */
    unsigned       r, p;
    unsigned char  salt[64];
    size_t         salt_len;
    unsigned char  hash[64];
    size_t         hash_len;
} mg_scrypt_params_t;

/* Hash password (len bytes, any bytes) with the default parameters and a
 * fresh random salt into out (cap >= MG_PASSWORD_HASH_MAX).  0 or -1
 * (no randomness, or the KDF failed; logged without the password). */
int mg_password_hash(const char *password, size_t len, char *out, size_t cap);

/* The same with explicit parameters (tests, and raising them later).
 * -1 also for parameters outside what mg_password_parse accepts. */
int mg_password_hash_with(const char *password, size_t len, unsigned ln,
                          unsigned r, unsigned p, char *out, size_t cap);

/* Parse a stored string strictly: the prefix, ln in 1..20, r in 1..32, p in
 * 1..16, memory within bounds, salt of 8..64 and hash of 16..64 bytes in
 * canonical base64url.  0 or -1. */
int mg_password_parse(const char *stored, mg_scrypt_params_t *out);

/* 1 when password matches stored (compared in constant time), 0 when it
 * does not, -1 when stored does not parse or the KDF failed. */
int mg_password_verify(const char *password, size_t len, const char *stored);

/* A stored string of the default parameters that no password is known to
 * match: verifying against it costs what a real verification costs, so an
 * unknown user is answered as slowly as a wrong password. */
extern const char mg_password_dummy_hash[];

/* 0 when password (len bytes of UTF-8) meets the policy: 8..256
 * characters, at least one lowercase letter (a-z), uppercase letter
 * (A-Z), digit (0-9) and symbol (Cognito's set, or a space that is neither
 * first nor last), no NUL.  Else -1 with the rule it breaks in msg, e.g.
 * "must contain an uppercase letter". */
int mg_password_policy(const char *password, size_t len, char *msg, size_t cap);

#endif
