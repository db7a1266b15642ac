/*
 * embed_local: the offline embedder ("local") and the vector helpers every
 * embedder shares (hash, normalise, pgvector text).  No I/O and no library
 * beyond libc and libm, so the knowledge benchmark's corpus generator
 * (tests/bench/kb_gen.c) embeds its chunks and queries with this very code.
 *
 * "local": each word (lower-cased; letters and digits, UTF-8 aware) weighs
 * 1.0 and each character trigram of "<word>" 0.5, hashed (FNV-1a 64 with a
 * murmur3 finaliser) into a dimension and a sign; L2-normalised.
 */
#include "knowledge/embed_wire.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define MG_EMBED_WORD_MAX       256     /* code points hashed per word piece */

/* ------------------------------------------------------------------ */
/* Shared pieces                                                       */

uint64_t
mg_embed_hash(const void *p, size_t n)
{
    const unsigned char  *s = p;
    uint64_t              h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    /* FNV's low bits mix poorly: finish as murmur3's fmix64 does */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

int
mg_embed_normalise(float *v, size_t dim)
{
    double  sum = 0;

    for (size_t i = 0; i < dim; i++) {
        if (!isfinite(v[i])) {
            return -1;
        }
        sum += (double) v[i] * v[i];
    }
    if (!(sum > 0) || !isfinite(sum)) {
        return -1;
    }
    sum = sqrt(sum);
    for (size_t i = 0; i < dim; i++) {
        v[i] = (float) (v[i] / sum);
    }
    return 0;
}

size_t
mg_embed_text(const float *v, char *buf)
{
    char   *p = buf;

    *p++ = '[';
    for (size_t i = 0; i < MG_EMBED_DIM; i++) {
        float x = isfinite(v[i]) ? v[i] : 0.0f;

        if (i > 0) {
            *p++ = ',';
        }
        p += snprintf(p, 16, "%.9g", (double) x);
    }
    *p++ = ']';
    *p = '\0';
    return (size_t) (p - buf);
}

void
mg_embed_binary(const float *v, unsigned char *buf)
{
    uint32_t  bits;

    buf[0] = (unsigned char) (MG_EMBED_DIM >> 8);
    buf[1] = (unsigned char) (MG_EMBED_DIM & 0xff);
    buf[2] = 0;
    buf[3] = 0;
    for (size_t i = 0; i < MG_EMBED_DIM; i++) {
        float x = isfinite(v[i]) ? v[i] : 0.0f;

        memcpy(&bits, &x, sizeof(bits));
        buf[4 + 4 * i] = (unsigned char) (bits >> 24);
        buf[5 + 4 * i] = (unsigned char) (bits >> 16);
        buf[6 + 4 * i] = (unsigned char) (bits >> 8);
        buf[7 + 4 * i] = (unsigned char) bits;
    }
}

/* ------------------------------------------------------------------ */
/* local                                                               */

/* The code point at s (n bytes left) and its length; invalid bytes come
 * back as U+FFFD, one at a time. */
static uint32_t
mg_utf8_next(const unsigned char *s, size_t n, size_t *len)
{
    uint32_t c = s[0];

    *len = 1;
    if (c < 0x80) {
        return c;
    }
    if (c >= 0xC2 && c <= 0xDF && n >= 2 && (s[1] & 0xC0) == 0x80) {
        *len = 2;
        return ((c & 0x1F) << 6) | (s[1] & 0x3F);
    }
    if (c >= 0xE0 && c <= 0xEF && n >= 3 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80) {
        uint32_t cp = ((c & 0x0F) << 12) | ((uint32_t) (s[1] & 0x3F) << 6) | (s[2] & 0x3F);

        if (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) {
            *len = 3;
            return cp;
        }
    }
    if (c >= 0xF0 && c <= 0xF4 && n >= 4 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80
        && (s[3] & 0xC0) == 0x80)
    {
        uint32_t cp = ((c & 0x07) << 18) | ((uint32_t) (s[1] & 0x3F) << 12)
                      | ((uint32_t) (s[2] & 0x3F) << 6) | (s[3] & 0x3F);

        if (cp >= 0x10000 && cp <= 0x10FFFF) {
            *len = 4;
            return cp;
        }
    }
    return 0xFFFD;
}

/* Letters and digits of any script count; punctuation, symbols, spaces,
 * emoji and the replacement character do not. */
static int
mg_word_char(uint32_t c)
{
    if (c < 0x80) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    }
    return !((c >= 0x80 && c <= 0xBF && c != 0xAA && c != 0xB5 && c != 0xBA)
             || c == 0xD7 || c == 0xF7
             || (c >= 0x2000 && c <= 0x2BFF)        /* punctuation, symbols, arrows */
             || (c >= 0x2E00 && c <= 0x2E7F)
             || (c >= 0x3000 && c <= 0x303F)        /* CJK punctuation */
             || (c >= 0xFE30 && c <= 0xFE4F)
             || (c >= 0xFF00 && c <= 0xFF0F) || (c >= 0xFF1A && c <= 0xFF20)
             || (c >= 0xFF3B && c <= 0xFF40) || (c >= 0xFF5B && c <= 0xFF65)
             || (c >= 0xFFF0 && c <= 0xFFFF)
             || (c >= 0x1F000 && c <= 0x1FAFF));    /* emoji and pictographs */
}

/* Simple lower-casing: ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic. */
static uint32_t
mg_lower(uint32_t c)
{
    if (c >= 'A' && c <= 'Z') {
        return c + 32;
    }
    if (c < 0xC0) {
        return c;
    }
    if (c <= 0xDE && c != 0xD7) {
        return c + 32;
    }
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) {
        return c | 1;
    }
    if (c >= 0x139 && c <= 0x148 && (c & 1)) {
        return c + 1;
    }
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) {
        return c + 32;
    }
    if (c >= 0x410 && c <= 0x42F) {
        return c + 32;
    }
    if (c >= 0x400 && c <= 0x40F) {
        return c + 80;
    }
    return c;
}

static size_t
mg_utf8_put(uint32_t c, unsigned char *out)
{
    if (c < 0x80) {
        out[0] = (unsigned char) c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (unsigned char) (0xC0 | (c >> 6));
        out[1] = (unsigned char) (0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (unsigned char) (0xE0 | (c >> 12));
        out[1] = (unsigned char) (0x80 | ((c >> 6) & 0x3F));
        out[2] = (unsigned char) (0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (unsigned char) (0xF0 | (c >> 18));
    out[1] = (unsigned char) (0x80 | ((c >> 12) & 0x3F));
    out[2] = (unsigned char) (0x80 | ((c >> 6) & 0x3F));
    out[3] = (unsigned char) (0x80 | (c & 0x3F));
    return 4;
}

static void
mg_feature(float *out, char tag, const unsigned char *s, size_t n, float weight)
{
    unsigned char  buf[1 + 4 * (MG_EMBED_WORD_MAX + 2)];
    uint64_t       h;

    buf[0] = (unsigned char) tag;
    memcpy(buf + 1, s, n);
    h = mg_embed_hash(buf, n + 1);
    out[h & (MG_EMBED_DIM - 1)] += (h >> 63) ? -weight : weight;
}

/* One word of code points w[0..n): the word and its trigrams. */
static void
mg_word_features(float *out, const uint32_t *w, size_t n)
{
    unsigned char  bytes[4 * (MG_EMBED_WORD_MAX + 2)];
    size_t         off[MG_EMBED_WORD_MAX + 3], len = 0;

    /* "<" word ">" with the offset of each code point */
    off[0] = 0;
    bytes[len++] = '<';
    for (size_t i = 0; i < n; i++) {
        off[i + 1] = len;
        len += mg_utf8_put(w[i], bytes + len);
    }
    off[n + 1] = len;
    bytes[len++] = '>';
    off[n + 2] = len;

    mg_feature(out, 'w', bytes + 1, len - 2, 1.0f);
    for (size_t i = 0; i + 3 <= n + 2; i++) {
        mg_feature(out, 't', bytes + off[i], off[i + 3] - off[i], 0.5f);
    }
}

int
mg_embed_local(const char *text, size_t len, float *out)
{
    const unsigned char  *s = (const unsigned char *) text;
    uint32_t              w[MG_EMBED_WORD_MAX];
    size_t                i = 0, n = 0, k, words = 0;

    memset(out, 0, MG_EMBED_DIM * sizeof(float));
    while (i <= len) {
        uint32_t c = i < len ? mg_utf8_next(s + i, len - i, &k) : 0;

        if (i < len && mg_word_char(c)) {
            w[n++] = mg_lower(c);
            i += k;
            if (n < MG_EMBED_WORD_MAX) {
                continue;
            }
        } else {
            i += i < len ? k : 1;
        }
        if (n > 0) {
            mg_word_features(out, w, n);
            words++;
            n = 0;
        }
    }
    if (words == 0) {
        /* no letters or digits (symbols, emoji): the non-blank code points
         * are the one word, so that any visible text gets a vector */
        for (i = 0; i < len; i += k) {
            uint32_t c = mg_utf8_next(s + i, len - i, &k);

            if (c > ' ' && c != 0x7F && n < MG_EMBED_WORD_MAX) {
                w[n++] = c;
            }
        }
        if (n > 0) {
            mg_word_features(out, w, n);
        }
    }
    return mg_embed_normalise(out, MG_EMBED_DIM);
}

