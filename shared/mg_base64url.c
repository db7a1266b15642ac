/*
 * mg_base64url: owns the base64url codec (RFC 4648 section 5, no padding)
 * used for JWS parts and JWK numbers.  Decoding is strict so that a token
 * has exactly one encoding: anything a lenient decoder would tolerate
 * ('=', '+', '/', whitespace, stray trailing bits) is an error here.
 */
#include "mg_base64url.h"

#include <limits.h>
#include <stdint.h>

static const char mg_b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 6-bit value of a base64url character, -1 for anything else. */
static int
mg_b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '-') {
        return 62;
    }
    if (c == '_') {
        return 63;
    }
    return -1;
}

size_t
mg_b64url_encoded_len(size_t n)
{
    static const size_t tail[3] = { 0, 2, 3 };

    return n / 3 * 4 + tail[n % 3];
}

size_t
mg_b64url_decoded_max(size_t n)
{
    /* A remainder of 1 character is invalid and decodes to nothing. */
    static const size_t tail[4] = { 0, 0, 1, 2 };

    return n / 4 * 3 + tail[n % 4];
}

void
mg_b64url_encode(const unsigned char *in, size_t n, char *out)
{
    size_t    i;
    uint32_t  v;
    char     *p = out;

    for (i = 0; i + 3 <= n; i += 3) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
        *p++ = mg_b64url_alphabet[v >> 18 & 63];
        *p++ = mg_b64url_alphabet[v >> 12 & 63];
        *p++ = mg_b64url_alphabet[v >> 6 & 63];
        *p++ = mg_b64url_alphabet[v & 63];
    }

    if (n - i == 1) {
        v = (uint32_t) in[i] << 16;
        *p++ = mg_b64url_alphabet[v >> 18 & 63];
        *p++ = mg_b64url_alphabet[v >> 12 & 63];

    } else if (n - i == 2) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;
        *p++ = mg_b64url_alphabet[v >> 18 & 63];
        *p++ = mg_b64url_alphabet[v >> 12 & 63];
        *p++ = mg_b64url_alphabet[v >> 6 & 63];
    }

    *p = '\0';
}

ssize_t
mg_b64url_decode(const char *in, size_t n, unsigned char *out, size_t outcap)
{
    size_t    i, o, rem, outlen;
    int       d[4];
    uint32_t  v;

    rem = n % 4;
    if (rem == 1) {
        return -1;
    }

    /* Size is known up front: check it before writing anything. */
    outlen = mg_b64url_decoded_max(n);
    if (outlen > outcap || outlen > (size_t) SSIZE_MAX) {
        return -1;
    }

    o = 0;
    for (i = 0; i + 4 <= n; i += 4) {
        d[0] = mg_b64url_value((unsigned char) in[i]);
        d[1] = mg_b64url_value((unsigned char) in[i + 1]);
        d[2] = mg_b64url_value((unsigned char) in[i + 2]);
        d[3] = mg_b64url_value((unsigned char) in[i + 3]);
        if ((d[0] | d[1] | d[2] | d[3]) < 0) {
            return -1;
        }
        v = (uint32_t) d[0] << 18 | (uint32_t) d[1] << 12
            | (uint32_t) d[2] << 6 | (uint32_t) d[3];
        out[o++] = (unsigned char) (v >> 16);
        out[o++] = (unsigned char) (v >> 8);
        out[o++] = (unsigned char) v;
    }

    if (rem == 0) {
        return (ssize_t) o;
    }

    d[0] = mg_b64url_value((unsigned char) in[i]);
    d[1] = mg_b64url_value((unsigned char) in[i + 1]);
    d[2] = rem == 3 ? mg_b64url_value((unsigned char) in[i + 2]) : 0;
    if ((d[0] | d[1] | d[2]) < 0) {
        return -1;
    }

    /* Bits past the last whole byte must be zero (RFC 4648 section 3.5),
     * or two different strings would decode to the same bytes. */
    if (rem == 2 ? (d[1] & 0x0f) != 0 : (d[2] & 0x03) != 0) {
        return -1;
    }

    v = (uint32_t) d[0] << 18 | (uint32_t) d[1] << 12 | (uint32_t) d[2] << 6;
    out[o++] = (unsigned char) (v >> 16);
    if (rem == 3) {
        out[o++] = (unsigned char) (v >> 8);
    }

    return (ssize_t) o;
}
