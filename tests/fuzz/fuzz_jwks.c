/*
 * fuzz_jwks: mg_jwks_parse, which reads a key set the module takes from a
 * file or a worker fetches from a URL (Cognito's): JSON, base64url RSA
 * moduli and exponents, key filtering (kty, use, alg, key_ops, size).  A
 * set that parses holds at least one key, each findable by its kid.
 * Input: the JWKS document.
 */
#include <assert.h>

#include <openssl/err.h>

#include "fuzz.h"
#include "mg_jwt.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char        *text = mg_fuzz_dup(data, size, 0);
    char         err[256];
    mg_jwks_t   *set;

    err[0] = '\0';
    set = mg_jwks_parse(text, size, err, sizeof(err));
    if (set != NULL) {
        assert(mg_jwks_count(set) > 0);
        (void) mg_jwks_find(set, "", 0);
        (void) mg_jwks_find(set, "rfc7515-a2", 10);
        mg_jwks_free(set);
    } else {
        assert(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
    }
    free(text);
    ERR_clear_error();
    return 0;
}
