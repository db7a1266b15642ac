/* mg_base64url: RFC 4648 section 5 without padding, as JWS uses it. */
#ifndef MG_BASE64URL_H
#define MG_BASE64URL_H

#include <stddef.h>
#include <sys/types.h>

/* Encoded length of n bytes (no padding, no NUL). */
size_t  mg_b64url_encoded_len(size_t n);
/* Upper bound of the decoded length of n characters. */
size_t  mg_b64url_decoded_max(size_t n);
/* Writes mg_b64url_encoded_len(n) chars and a NUL; out must hold that + 1. */
void    mg_b64url_encode(const unsigned char *in, size_t n, char *out);
/* Decodes strictly: rejects '=', '+', '/', whitespace, impossible lengths
 * and non-zero trailing bits.  Returns the decoded length, or -1. */
ssize_t mg_b64url_decode(const char *in, size_t n, unsigned char *out, size_t outcap);

#endif
