/*
 * check_worker_eventstream: the event-stream codec (worker/aws/
 * eventstream.c).  The aws-sdk-go vectors kept outside the repository:
 * each positive decodes to its JSON field for field and encodes back to
 * the same bytes, each negative fails with the error its file names, whole
 * or fed a byte at a time.  Every prefix of every vector is decoded from an
 * exactly-sized heap copy, so valgrind sees any read past the end.  Then
 * lengths and headers that cannot be, every value type at its limits,
 * streams cut at random points, and a large message fed byte by byte.
 */
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "aws/eventstream.h"


/* Helpers */

static unsigned char *
read_file(const char *path, size_t *len)
{
    FILE           *f = fopen(path, "rb");
    unsigned char  *buf;
    long            n;

    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    buf = malloc((size_t) n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t) n, f), (size_t) n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t) n;
    return buf;
}

/* The conformance folder sub, or 0 (said out loud) when it is absent, as
 * it may be where only the repository is checked out. */
static int
vectors_dir(const char *sub, char *dir, size_t len)
{
    const char   *root = getenv("MANGOO_VECTORS");
    struct stat   st;

    if (root == NULL || root[0] == '\0') {
        root = "../shared/vectors";
    }
    snprintf(dir, len, "%s/%s", root, sub);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("*** conformance vectors not found at %s: SKIPPING the event-stream vector "
               "cases (set MANGOO_VECTORS) ***\n", dir);
        return 0;
    }
    return 1;
}

/* The regular files of dir, sorted; *n of them.  Free with free_names. */
static char **
list_files(const char *dir, size_t *n)
{
    struct dirent  **ents;
    char           **names;
    int              k, i;

    k = scandir(dir, &ents, NULL, alphasort);
    ck_assert_msg(k >= 0, "cannot list %s", dir);
    names = calloc((size_t) k + 1, sizeof(*names));
    ck_assert_ptr_nonnull(names);
    *n = 0;
    for (i = 0; i < k; i++) {
        if (ents[i]->d_name[0] != '.') {
            names[(*n)++] = strdup(ents[i]->d_name);
            ck_assert_ptr_nonnull(names[*n - 1]);
        }
        free(ents[i]);
    }
    free(ents);
    return names;
}

static void
free_names(char **names, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
}

static const char *
join_path(char *out, size_t len, const char *a, const char *b, const char *c)
{
    int  n = snprintf(out, len, "%s/%s/%s", a, b, c);

    ck_assert(n > 0 && (size_t) n < len);
    return out;
}

/* Standard base64 (with padding) decoded into a malloc'd buffer. */
static unsigned char *
b64_decode(const char *s, size_t *len)
{
    size_t          n = strlen(s), pad = 0;
    unsigned char  *out = malloc(n / 4 * 3 + 1);
    int             k;

    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(n % 4, 0);
    k = EVP_DecodeBlock(out, (const unsigned char *) s, (int) n);
    ck_assert_int_ge(k, 0);
    pad = (n > 0 && s[n - 1] == '=') + (n > 1 && s[n - 2] == '=');
    *len = (size_t) k - pad;
    return out;
}

/* An exactly-sized heap copy of buf[0..n): a read past it is a valgrind
 * error. */
static unsigned char *
exact_copy(const unsigned char *buf, size_t n)
{
    unsigned char  *c = malloc(n);

    ck_assert(c != NULL || n == 0);
    if (n > 0) {
        memcpy(c, buf, n);
    }
    return c;
}

/* What the callback saw: a copy of each message's bytes fields. */
typedef struct {
    size_t    count;
    size_t    stop_at;                  /* return 1 on this message (1-based); 0: never */
    uint32_t  total[64], crc[64];
    size_t    payload_len[64], nheaders[64];
    uint64_t  payload_sum;
} seen_t;

static int
on_message(void *ctx, const mg_es_message_t *m)
{
    seen_t  *s = ctx;
    size_t   i;

    ck_assert_uint_lt(s->count, 64);
    s->total[s->count] = m->total_length;
    s->crc[s->count] = m->message_crc;
    s->payload_len[s->count] = m->payload_len;
    s->nheaders[s->count] = m->nheaders;
    for (i = 0; i < m->payload_len; i++) {
        s->payload_sum += m->payload[i];     /* touches every byte: valgrind checks them */
    }
    s->count++;
    return s->stop_at != 0 && s->count == s->stop_at;
}

/* A prelude of total and hlen with a correct CRC. */
static void
put_prelude(unsigned char *p, uint32_t total, uint32_t hlen)
{
    uint32_t  crc;

    p[0] = (unsigned char) (total >> 24);
    p[1] = (unsigned char) (total >> 16);
    p[2] = (unsigned char) (total >> 8);
    p[3] = (unsigned char) total;
    p[4] = (unsigned char) (hlen >> 24);
    p[5] = (unsigned char) (hlen >> 16);
    p[6] = (unsigned char) (hlen >> 8);
    p[7] = (unsigned char) hlen;
    crc = mg_crc32(0, p, 8);
    p[8] = (unsigned char) (crc >> 24);
    p[9] = (unsigned char) (crc >> 16);
    p[10] = (unsigned char) (crc >> 8);
    p[11] = (unsigned char) crc;
}

/* A message whose header block is exactly hb (made up by hand, so it may
 * be malformed) and whose CRCs are both right.  *n is its length. */
static unsigned char *
raw_message(const unsigned char *hb, size_t hb_len, const char *payload, size_t *n)
{
    size_t          plen = strlen(payload);
    size_t          total = 16 + hb_len + plen;
    unsigned char  *m = malloc(total);
    uint32_t        crc;

    ck_assert_ptr_nonnull(m);
    put_prelude(m, (uint32_t) total, (uint32_t) hb_len);
    memcpy(m + 12, hb, hb_len);
    memcpy(m + 12 + hb_len, payload, plen);
    crc = mg_crc32(0, m, total - 4);
    m[total - 4] = (unsigned char) (crc >> 24);
    m[total - 3] = (unsigned char) (crc >> 16);
    m[total - 2] = (unsigned char) (crc >> 8);
    m[total - 1] = (unsigned char) crc;
    *n = total;
    return m;
}

/* Decode buf[0..n) as one whole, with an exactly-sized copy; the result
 * code, *err the error. */
static int
decode_exact(const unsigned char *buf, size_t n, mg_es_message_t *m, const char **err)
{
    unsigned char  *c = exact_copy(buf, n);
    size_t          used = 0;
    int             rc;

    *err = NULL;
    rc = mg_es_decode(c, n, m, &used, err);
    if (rc == 0) {
        ck_assert_uint_eq(used, n);
    }
    free(c);
    return rc;
}

/* Every strict prefix of buf decodes, from an exactly-sized copy, to
 * "need more", or (want_err non-NULL) to that error once it can be seen. */
static void
check_prefixes(const char *name, const unsigned char *buf, size_t n, const char *want_err)
{
    mg_es_message_t   m;
    const char       *err;
    size_t            k;
    int               rc;

    for (k = 0; k < n; k++) {
        rc = decode_exact(buf, k, &m, &err);
        if (want_err == NULL) {
            ck_assert_msg(rc == 1, "%s: prefix of %zu bytes: rc %d (%s)", name, k, rc,
                          err ? err : "");
        } else {
            ck_assert_msg(rc == 1 || (rc == -1 && strcmp(err, want_err) == 0),
                          "%s: prefix of %zu bytes: rc %d (%s)", name, k, rc, err ? err : "");
        }
    }
}

/* Feed buf[0..n) in pieces of piece bytes (0: all at once); the feed
 * result of the last call, messages in *seen. */
static int
feed_pieces(mg_es_decoder_t *d, const unsigned char *buf, size_t n, size_t piece, seen_t *seen,
            const char **err)
{
    size_t  off = 0, k;
    int     rc = 0;

    if (piece == 0) {
        piece = n;
    }
    while (off < n && rc == 0) {
        k = n - off < piece ? n - off : piece;
        rc = mg_es_decoder_feed(d, buf + off, k, on_message, seen, err);
        off += k;
    }
    return rc;
}


/* CRC-32 */

START_TEST(test_crc32)
{
    /* the standard check value of CRC-32/ISO-HDLC (zlib's) */
    ck_assert_uint_eq(mg_crc32(0, "123456789", 9), 0xcbf43926u);
    ck_assert_uint_eq(mg_crc32(0, "", 0), 0);
    ck_assert_uint_eq(mg_crc32(mg_crc32(0, "1234", 4), "56789", 5), 0xcbf43926u);
    ck_assert_uint_eq(mg_crc32(0, "a", 1), 0xe8b7be43u);
}
END_TEST


/* The aws-sdk-go vectors (data outside the repository) */

/* Compare one decoded message with its JSON, field for field. */
static void
check_against_json(const char *name, const mg_es_message_t *m, json_t *want)
{
    json_t          *hs, *h, *v;
    unsigned char   *bytes;
    size_t           i, n;
    int              type;

    ck_assert_msg(json_is_object(want), "%s: decoded JSON is not an object", name);
    ck_assert_int_eq(m->total_length, json_integer_value(json_object_get(want, "total_length")));
    ck_assert_int_eq(m->headers_length,
                     json_integer_value(json_object_get(want, "headers_length")));
    ck_assert_int_eq((int32_t) m->prelude_crc,
                     json_integer_value(json_object_get(want, "prelude_crc")));
    ck_assert_int_eq((int32_t) m->message_crc,
                     json_integer_value(json_object_get(want, "message_crc")));

    bytes = b64_decode(json_string_value(json_object_get(want, "payload")), &n);
    ck_assert_uint_eq(m->payload_len, n);
    ck_assert(n == 0 || memcmp(m->payload, bytes, n) == 0);
    free(bytes);

    hs = json_object_get(want, "headers");
    ck_assert_uint_eq(m->nheaders, json_array_size(hs));
    json_array_foreach(hs, i, h) {
        const char  *hn = json_string_value(json_object_get(h, "name"));

        ck_assert_ptr_nonnull(hn);
        ck_assert_msg(m->headers[i].name_len == strlen(hn)
                      && memcmp(m->headers[i].name, hn, strlen(hn)) == 0,
                      "%s: header %zu name", name, i);
        type = (int) json_integer_value(json_object_get(h, "type"));
        ck_assert_int_eq(m->headers[i].type, type);
        v = json_object_get(h, "value");
        switch (type) {
        case MG_ES_TRUE:
        case MG_ES_FALSE:
            ck_assert(json_is_boolean(v));
            ck_assert_int_eq(m->headers[i].i, json_is_true(v));
            break;
        case MG_ES_BYTES:
        case MG_ES_STRING:
        case MG_ES_UUID:
            bytes = b64_decode(json_string_value(v), &n);
            ck_assert_uint_eq(m->headers[i].len, n);
            ck_assert(memcmp(m->headers[i].data, bytes, n) == 0);
            free(bytes);
            break;
        default:
            ck_assert(json_is_integer(v));
            ck_assert_int_eq(m->headers[i].i, json_integer_value(v));
        }
    }
}

/* Encode the JSON's message; the bytes must be the encoded file's. */
static void
check_encode_from_json(const char *name, json_t *want, const unsigned char *file, size_t n)
{
    mg_es_header_t   hs[MG_ES_MAX_HEADERS];
    unsigned char   *owned[MG_ES_MAX_HEADERS], *payload, *out;
    size_t           nh = 0, i, plen, out_len;
    json_t          *h, *v;

    memset(hs, 0, sizeof(hs));
    memset(owned, 0, sizeof(owned));
    json_array_foreach(json_object_get(want, "headers"), i, h) {
        ck_assert_uint_lt(nh, MG_ES_MAX_HEADERS);
        hs[nh].name = json_string_value(json_object_get(h, "name"));
        hs[nh].name_len = strlen(hs[nh].name);
        hs[nh].type = (mg_es_type_t) json_integer_value(json_object_get(h, "type"));
        v = json_object_get(h, "value");
        if (json_is_string(v)) {
            owned[nh] = b64_decode(json_string_value(v), &hs[nh].len);
            hs[nh].data = owned[nh];
        } else if (json_is_integer(v)) {
            hs[nh].i = json_integer_value(v);
        }
        nh++;
    }
    payload = b64_decode(json_string_value(json_object_get(want, "payload")), &plen);
    ck_assert_int_eq(mg_es_encode(hs, nh, payload, plen, &out, &out_len), 0);
    ck_assert_msg(out_len == n && memcmp(out, file, n) == 0, "%s: encoding differs", name);
    free(out);
    free(payload);
    for (i = 0; i < nh; i++) {
        free(owned[i]);
    }
}

START_TEST(test_positive_vectors)
{
    char              dir[1024], path[2048];
    char            **names;
    size_t            n, i, len, jlen, piece, used;
    unsigned char    *enc, *jtext;
    json_t           *want;
    json_error_t      jerr;
    mg_es_message_t   m;
    mg_es_decoder_t   d;
    seen_t            seen;
    const char       *err;

    if (!vectors_dir("eventstream", dir, sizeof(dir))) {
        return;
    }
    names = list_files(join_path(path, sizeof(path), dir, "encoded", "positive"), &n);
    ck_assert_uint_gt(n, 0);
    for (i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/encoded/positive/%s", dir, names[i]);
        enc = read_file(path, &len);
        snprintf(path, sizeof(path), "%s/decoded/positive/%s", dir, names[i]);
        jtext = read_file(path, &jlen);
        want = json_loadb((const char *) jtext, jlen, 0, &jerr);
        ck_assert_msg(want != NULL, "%s: %s", path, jerr.text);

        ck_assert_msg(decode_exact(enc, len, &m, &err) == 0, "%s: %s", names[i], err);
        /* decode_exact freed its copy: decode again from enc to compare */
        ck_assert_int_eq(mg_es_decode(enc, len, &m, &used, &err), 0);
        ck_assert_uint_eq(used, len);
        check_against_json(names[i], &m, want);
        check_encode_from_json(names[i], want, enc, len);
        check_prefixes(names[i], enc, len, NULL);

        for (piece = 0; piece <= 3; piece++) {
            memset(&d, 0, sizeof(d));
            memset(&seen, 0, sizeof(seen));
            ck_assert_int_eq(feed_pieces(&d, enc, len, piece, &seen, &err), 0);
            ck_assert_uint_eq(seen.count, 1);
            ck_assert_uint_eq(seen.total[0], len);
            ck_assert_uint_eq(seen.crc[0], m.message_crc);
            ck_assert_int_eq(mg_es_decoder_pending(&d), 0);
            ck_assert_uint_le(d.cap, len);
            mg_es_decoder_free(&d);
        }
        json_decref(want);
        free(jtext);
        free(enc);
    }
    printf("eventstream vectors: %zu of %zu positive cases pass (decode, encode, prefixes, "
           "pieces)\n", n, n);
    free_names(names, n);
}
END_TEST

START_TEST(test_negative_vectors)
{
    char              dir[1024], path[2048], want_err[256];
    char            **names;
    size_t            n, i, len, wlen, piece;
    unsigned char    *enc, *wtext;
    mg_es_message_t   m;
    mg_es_decoder_t   d;
    seen_t            seen;
    const char       *err;

    if (!vectors_dir("eventstream", dir, sizeof(dir))) {
        return;
    }
    names = list_files(join_path(path, sizeof(path), dir, "encoded", "negative"), &n);
    ck_assert_uint_gt(n, 0);
    for (i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/encoded/negative/%s", dir, names[i]);
        enc = read_file(path, &len);
        snprintf(path, sizeof(path), "%s/decoded/negative/%s", dir, names[i]);
        wtext = read_file(path, &wlen);
        while (wlen > 0 && (wtext[wlen - 1] == '\n' || wtext[wlen - 1] == '\r'
                            || wtext[wlen - 1] == ' '))
        {
            wlen--;
        }
        ck_assert_uint_lt(wlen, sizeof(want_err));
        memcpy(want_err, wtext, wlen);
        want_err[wlen] = '\0';
        free(wtext);

        ck_assert_int_eq(decode_exact(enc, len, &m, &err), -1);
        ck_assert_msg(strcmp(err, want_err) == 0, "%s: error \"%s\", want \"%s\"", names[i],
                      err, want_err);
        check_prefixes(names[i], enc, len, want_err);

        for (piece = 0; piece <= 1; piece++) {  /* whole, then a byte at a time */
            memset(&d, 0, sizeof(d));
            memset(&seen, 0, sizeof(seen));
            err = NULL;
            ck_assert_int_eq(feed_pieces(&d, enc, len, piece, &seen, &err), -1);
            ck_assert_msg(err != NULL && strcmp(err, want_err) == 0, "%s fed by %zu: \"%s\"",
                          names[i], piece, err ? err : "");
            ck_assert_uint_eq(seen.count, 0);
            /* a failed decoder stays failed */
            ck_assert_int_eq(mg_es_decoder_feed(&d, enc, 1, on_message, &seen, &err), -1);
            mg_es_decoder_free(&d);
        }
        free(enc);
    }
    printf("eventstream vectors: %zu of %zu negative cases rejected with their named error\n",
           n, n);
    free_names(names, n);
}
END_TEST


/* Lengths and headers that cannot be */

START_TEST(test_impossible_lengths)
{
    static const struct {
        uint32_t     total, hlen;
        int          rc;
        const char  *err;
    } cases[] = {
        { 0,                    0,    -1, "Message length out of range" },
        { 15,                   0,    -1, "Message length out of range" },
        { 16,                   1,    -1, "Headers length exceeds message" },
        { 100,                  85,   -1, "Headers length exceeds message" },
        { 100,                  0xffffffffu, -1, "Headers length exceeds message" },
        { MG_ES_MAX_LEN + 1,    0,    -1, "Message length out of range" },
        { 0xffffffffu,          0,    -1, "Message length out of range" },
        { MG_ES_MAX_LEN,        0,     1, NULL },   /* the largest allowed: need more */
        { 100,                  84,    1, NULL },
    };
    unsigned char     p[MG_ES_PRELUDE_LEN];
    mg_es_message_t   m;
    mg_es_decoder_t   d;
    seen_t            seen;
    const char       *err;
    size_t            i;
    int               rc;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        put_prelude(p, cases[i].total, cases[i].hlen);
        rc = decode_exact(p, sizeof(p), &m, &err);
        ck_assert_msg(rc == cases[i].rc, "case %zu: rc %d", i, rc);
        if (cases[i].err != NULL) {
            ck_assert_str_eq(err, cases[i].err);
        }
        /* the decoder must not allocate what a bad prelude claims */
        memset(&d, 0, sizeof(d));
        memset(&seen, 0, sizeof(seen));
        rc = feed_pieces(&d, p, sizeof(p), 1, &seen, &err);
        ck_assert_int_eq(rc, cases[i].rc == -1 ? -1 : 0);
        if (rc == -1) {
            ck_assert_str_eq(err, cases[i].err);
        }
        mg_es_decoder_free(&d);
    }

    /* a corrupted prelude CRC */
    put_prelude(p, 16, 0);
    p[11] ^= 1;
    ck_assert_int_eq(decode_exact(p, sizeof(p), &m, &err), -1);
    ck_assert_str_eq(err, "Prelude checksum mismatch");
}
END_TEST

START_TEST(test_bad_headers)
{
    static const struct {
        const char  *hb;
        size_t       len;
        const char  *err;
    } cases[] = {
        { "\x00",                           1, "Empty header name" },
        { "\x0a" "ab",                      3, "Header runs past the header block" },
        { "\x01" "a",                       2, "Header runs past the header block" },
        { "\x01" "a\x07",                   3, "Header runs past the header block" },
        { "\x01" "a\x07\x00",               4, "Header runs past the header block" },
        { "\x01" "a\x07\x00\x10x",          6, "Header runs past the header block" },
        { "\x01" "a\x06\xff\xff",           5, "Header runs past the header block" },
        { "\x01" "a\x04\x00\x00\x01",       6, "Header runs past the header block" },
        { "\x01" "a\x05\x00\x00\x00\x00",   7, "Header runs past the header block" },
        { "\x01" "a\x09\x00",               4, "Header runs past the header block" },
        { "\x01" "a\x03\x00",               4, "Header runs past the header block" },
        { "\x01" "a\x02",                   3, "Header runs past the header block" },
        { "\x01" "a\x0a",                   3, "Unknown header value type" },
        { "\x01" "a\xff",                   3, "Unknown header value type" },
        { "\x01" "a\x00\x00",               4, "Empty header name" },
    };
    unsigned char    *msg, hb[MG_ES_MAX_HEADERS * 3 + 3];
    mg_es_message_t   m;
    mg_es_decoder_t   d;
    seen_t            seen;
    const char       *err;
    size_t            i, n;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        msg = raw_message((const unsigned char *) cases[i].hb, cases[i].len, "{}", &n);
        ck_assert_msg(decode_exact(msg, n, &m, &err) == -1, "case %zu accepted", i);
        ck_assert_msg(strcmp(err, cases[i].err) == 0, "case %zu: \"%s\", want \"%s\"", i, err,
                      cases[i].err);
        check_prefixes("bad header", msg, n, NULL);     /* valid up to the last byte */
        memset(&d, 0, sizeof(d));
        memset(&seen, 0, sizeof(seen));
        ck_assert_int_eq(feed_pieces(&d, msg, n, 1, &seen, &err), -1);
        ck_assert_str_eq(err, cases[i].err);
        mg_es_decoder_free(&d);
        free(msg);
    }

    /* MG_ES_MAX_HEADERS true flags fit; one more does not */
    for (i = 0; i < MG_ES_MAX_HEADERS + 1; i++) {
        hb[3 * i] = 1;
        hb[3 * i + 1] = (unsigned char) ('A' + i);
        hb[3 * i + 2] = MG_ES_TRUE;
    }
    msg = raw_message(hb, 3 * MG_ES_MAX_HEADERS, "", &n);
    ck_assert_int_eq(decode_exact(msg, n, &m, &err), 0);
    free(msg);
    msg = raw_message(hb, 3 * (MG_ES_MAX_HEADERS + 1), "", &n);
    ck_assert_int_eq(decode_exact(msg, n, &m, &err), -1);
    ck_assert_str_eq(err, "Too many headers");
    free(msg);

    /* a corrupted payload byte: the message CRC */
    msg = raw_message((const unsigned char *) "\x01" "a\x00", 3, "{}", &n);
    msg[n - 5] ^= 0x20;
    ck_assert_int_eq(decode_exact(msg, n, &m, &err), -1);
    ck_assert_str_eq(err, "Message checksum mismatch");
    free(msg);
}
END_TEST


/* Every value type, encoded and decoded */

START_TEST(test_all_types_round_trip)
{
    static const unsigned char  uuid[16] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8,
                                             9, 10, 11, 12 };
    static const unsigned char  bin[3] = { 0, 0xff, 0x80 };
    mg_es_header_t    hs[] = {
        { "t",   1, MG_ES_TRUE,      0,         NULL, 0 },
        { "f",   1, MG_ES_FALSE,     0,         NULL, 0 },
        { "b-",  2, MG_ES_BYTE,      INT8_MIN,  NULL, 0 },
        { "b+",  2, MG_ES_BYTE,      INT8_MAX,  NULL, 0 },
        { "s-",  2, MG_ES_INT16,     INT16_MIN, NULL, 0 },
        { "s+",  2, MG_ES_INT16,     INT16_MAX, NULL, 0 },
        { "i-",  2, MG_ES_INT32,     INT32_MIN, NULL, 0 },
        { "i+",  2, MG_ES_INT32,     INT32_MAX, NULL, 0 },
        { "l-",  2, MG_ES_INT64,     INT64_MIN, NULL, 0 },
        { "l+",  2, MG_ES_INT64,     INT64_MAX, NULL, 0 },
        { "ts",  2, MG_ES_TIMESTAMP, -1,        NULL, 0 },
        { "bin", 3, MG_ES_BYTES,     0,         bin,  3 },
        { "nul", 3, MG_ES_BYTES,     0,         NULL, 0 },
        { ":event-type", 11, MG_ES_STRING, 0, (const unsigned char *) "messageStop", 11 },
        { "id",  2, MG_ES_UUID,      0,         uuid, 16 },
    };
    size_t            nh = sizeof(hs) / sizeof(hs[0]), n, used, i;
    unsigned char    *out;
    mg_es_message_t   m;
    const char       *err;

    ck_assert_int_eq(mg_es_encode(hs, nh, "{\"stopReason\":\"end_turn\"}", 25, &out, &n), 0);
    ck_assert_int_eq(mg_es_decode(out, n, &m, &used, &err), 0);
    ck_assert_uint_eq(used, n);
    ck_assert_uint_eq(m.nheaders, nh);
    for (i = 0; i < nh; i++) {
        ck_assert_uint_eq(m.headers[i].name_len, hs[i].name_len);
        ck_assert(memcmp(m.headers[i].name, hs[i].name, hs[i].name_len) == 0);
        ck_assert_int_eq(m.headers[i].type, hs[i].type);
        if (hs[i].type == MG_ES_TRUE) {
            ck_assert_int_eq(m.headers[i].i, 1);
        } else if (hs[i].data != NULL || hs[i].type == MG_ES_BYTES) {
            ck_assert_uint_eq(m.headers[i].len, hs[i].len);
            ck_assert(hs[i].len == 0 || memcmp(m.headers[i].data, hs[i].data, hs[i].len) == 0);
        } else {
            ck_assert_msg(m.headers[i].i == hs[i].i, "header %s", hs[i].name);
        }
    }
    ck_assert_uint_eq(m.payload_len, 25);
    ck_assert(memcmp(m.payload, "{\"stopReason\":\"end_turn\"}", 25) == 0);
    ck_assert(mg_es_header_is(&m, ":event-type", "messageStop"));
    ck_assert(!mg_es_header_is(&m, ":event-type", "messageStart"));
    ck_assert(!mg_es_header_is(&m, ":event-type", "messageSto"));
    ck_assert(!mg_es_header_is(&m, "i+", "x"));             /* not a string */
    ck_assert(!mg_es_header_is(&m, ":message-type", "event"));
    ck_assert_ptr_null(mg_es_header(&m, ":message-type"));
    ck_assert_ptr_eq(mg_es_header(&m, "id"), &m.headers[nh - 1]);
    check_prefixes("all types", out, n, NULL);
    free(out);

    /* an empty message */
    ck_assert_int_eq(mg_es_encode(NULL, 0, NULL, 0, &out, &n), 0);
    ck_assert_uint_eq(n, 16);
    ck_assert_int_eq(mg_es_decode(out, n, &m, &used, &err), 0);
    ck_assert_uint_eq(m.nheaders, 0);
    ck_assert_uint_eq(m.payload_len, 0);
    free(out);
}
END_TEST

START_TEST(test_encode_refusals)
{
    static const unsigned char  u15[15];
    char             name[256];
    unsigned char   *out = (unsigned char *) "x", *big;
    size_t           n = 1;
    mg_es_header_t   h;
    mg_es_header_t   many[MG_ES_MAX_HEADERS + 1];
    size_t           i;

#define ENC_FAILS(hdr) do {                                                   \
        ck_assert_int_eq(mg_es_encode(&(hdr), 1, NULL, 0, &out, &n), -1);     \
        ck_assert_ptr_null(out);                                              \
        ck_assert_uint_eq(n, 0);                                              \
    } while (0)

    memset(name, 'n', sizeof(name));
    h = (mg_es_header_t) { name, 256, MG_ES_TRUE, 0, NULL, 0 };
    ENC_FAILS(h);
    h = (mg_es_header_t) { name, 0, MG_ES_TRUE, 0, NULL, 0 };
    ENC_FAILS(h);
    h = (mg_es_header_t) { NULL, 1, MG_ES_TRUE, 0, NULL, 0 };
    ENC_FAILS(h);
    h = (mg_es_header_t) { "x", 1, (mg_es_type_t) 10, 0, NULL, 0 };
    ENC_FAILS(h);
    h = (mg_es_header_t) { "x", 1, MG_ES_BYTE, 128, NULL, 0 };
    ENC_FAILS(h);
    h = (mg_es_header_t) { "x", 1, MG_ES_INT16, -32769, NULL, 0 };
    ENC_FAILS(h);
    h = (mg_es_header_t) { "x", 1, MG_ES_INT32, (int64_t) INT32_MAX + 1, NULL, 0 };
    ENC_FAILS(h);
    h = (mg_es_header_t) { "x", 1, MG_ES_UUID, 0, u15, 15 };
    ENC_FAILS(h);
    h = (mg_es_header_t) { "x", 1, MG_ES_STRING, 0, NULL, 3 };
    ENC_FAILS(h);
    big = calloc(1, 65536);
    ck_assert_ptr_nonnull(big);
    h = (mg_es_header_t) { "x", 1, MG_ES_BYTES, 0, big, 65536 };
    ENC_FAILS(h);
    h.len = 65535;                      /* the largest that fits */
    ck_assert_int_eq(mg_es_encode(&h, 1, NULL, 0, &out, &n), 0);
    ck_assert_uint_eq(n, 16 + 1 + 1 + 1 + 2 + 65535);   /* prelude, CRC, header */
    free(out);
    free(big);

    for (i = 0; i < MG_ES_MAX_HEADERS + 1; i++) {
        many[i] = (mg_es_header_t) { "x", 1, MG_ES_FALSE, 0, NULL, 0 };
    }
    ck_assert_int_eq(mg_es_encode(many, MG_ES_MAX_HEADERS + 1, NULL, 0, &out, &n), -1);
    ck_assert_int_eq(mg_es_encode(many, MG_ES_MAX_HEADERS, NULL, 0, &out, &n), 0);
    free(out);
    ck_assert_int_eq(mg_es_encode(NULL, 0, NULL, 1, &out, &n), -1);
    ck_assert_int_eq(mg_es_encode(NULL, 0, "x", MG_ES_MAX_LEN - 15, &out, &n), -1);
#undef ENC_FAILS
}
END_TEST


/* Streams */

/* A stream of varied messages back to back; their lengths in lens. */
static unsigned char *
make_stream(size_t *n, size_t *lens, size_t *count)
{
    static const char  *types[] = { "messageStart", "contentBlockDelta", "contentBlockDelta",
                                    "contentBlockStop", "messageStop", "metadata" };
    unsigned char      *stream = NULL, *msg, *grown;
    char                payload[600];
    mg_es_header_t      hs[3];
    size_t              i, len, plen;

    *n = 0;
    for (i = 0; i < 24; i++) {
        plen = (i * 37) % sizeof(payload);
        memset(payload, 'a' + (int) (i % 26), plen);
        hs[0] = (mg_es_header_t) { ":message-type", 13, MG_ES_STRING, 0,
                                   (const unsigned char *) "event", 5 };
        hs[1] = (mg_es_header_t) { ":event-type", 11, MG_ES_STRING, 0,
                                   (const unsigned char *) types[i % 6], strlen(types[i % 6]) };
        hs[2] = (mg_es_header_t) { "n", 1, MG_ES_INT32, (int64_t) i, NULL, 0 };
        ck_assert_int_eq(mg_es_encode(hs, i % 4, payload, plen, &msg, &len), 0);
        grown = realloc(stream, *n + len);
        ck_assert_ptr_nonnull(grown);
        stream = grown;
        memcpy(stream + *n, msg, len);
        *n += len;
        lens[i] = len;
        free(msg);
    }
    *count = 24;
    return stream;
}

START_TEST(test_stream_pieces)
{
    size_t            lens[64], count, n, i, off, k, round, largest = 0;
    unsigned char    *stream;
    mg_es_decoder_t   d;
    seen_t            seen;
    const char       *err;
    uint32_t          rnd = 0x2545f491u;

    stream = make_stream(&n, lens, &count);
    for (i = 0; i < count; i++) {
        largest = lens[i] > largest ? lens[i] : largest;
    }

    /* all at once, then fixed piece sizes, then random cuts */
    for (round = 0; round < 110; round++) {
        memset(&d, 0, sizeof(d));
        memset(&seen, 0, sizeof(seen));
        if (round < 10) {
            ck_assert_int_eq(feed_pieces(&d, stream, n, round, &seen, &err), 0);
        } else {
            for (off = 0; off < n; off += k) {
                rnd ^= rnd << 13;
                rnd ^= rnd >> 17;
                rnd ^= rnd << 5;
                k = 1 + rnd % (round % 2 ? 40 : 2 * largest);
                k = k > n - off ? n - off : k;
                ck_assert_int_eq(mg_es_decoder_feed(&d, stream + off, k, on_message, &seen,
                                                    &err), 0);
            }
        }
        ck_assert_uint_eq(seen.count, count);
        for (i = 0; i < count; i++) {
            ck_assert_uint_eq(seen.total[i], lens[i]);
            ck_assert_uint_eq(seen.nheaders[i], i % 4);
            ck_assert_uint_eq(seen.payload_len[i], (i * 37) % 600);
        }
        ck_assert_int_eq(mg_es_decoder_pending(&d), 0);
        ck_assert_uint_le(d.cap, largest);
        /* an empty feed changes nothing */
        ck_assert_int_eq(mg_es_decoder_feed(&d, NULL, 0, on_message, &seen, &err), 0);
        mg_es_decoder_free(&d);
    }

    /* a stream cut short leaves a message pending */
    memset(&d, 0, sizeof(d));
    memset(&seen, 0, sizeof(seen));
    ck_assert_int_eq(feed_pieces(&d, stream, n - 1, 7, &seen, &err), 0);
    ck_assert_uint_eq(seen.count, count - 1);
    ck_assert_int_eq(mg_es_decoder_pending(&d), 1);
    mg_es_decoder_free(&d);
    mg_es_decoder_free(&d);             /* twice is harmless */
    free(stream);
}
END_TEST

START_TEST(test_callback_stops)
{
    size_t            lens[64], count, n;
    unsigned char    *stream;
    mg_es_decoder_t   d;
    seen_t            seen;
    const char       *err;
    size_t            piece;

    stream = make_stream(&n, lens, &count);
    for (piece = 0; piece <= 1; piece++) {
        memset(&d, 0, sizeof(d));
        memset(&seen, 0, sizeof(seen));
        seen.stop_at = 3;
        ck_assert_int_eq(feed_pieces(&d, stream, n, piece, &seen, &err), -1);
        ck_assert_str_eq(err, "Stopped by the callback");
        ck_assert_uint_eq(seen.count, 3);
        ck_assert_int_eq(mg_es_decoder_feed(&d, stream, n, on_message, &seen, &err), -1);
        ck_assert_uint_eq(seen.count, 3);
        mg_es_decoder_free(&d);
    }
    free(stream);
}
END_TEST

/* A 1 MiB message a byte at a time: linear work (a memmove of the held
 * bytes per byte would not finish under valgrind), and a buffer the size
 * of the message. */
START_TEST(test_large_message_byte_by_byte)
{
    size_t            plen = 1024 * 1024, n, i;
    int               rc = 0;
    unsigned char    *payload = malloc(plen), *msg;
    mg_es_header_t    h = { ":event-type", 11, MG_ES_STRING, 0,
                            (const unsigned char *) "chunk", 5 };
    mg_es_decoder_t   d = { 0 };
    seen_t            seen = { 0 };
    const char       *err;
    uint64_t          sum = 0;

    ck_assert_ptr_nonnull(payload);
    for (i = 0; i < plen; i++) {
        payload[i] = (unsigned char) (i * 131);
        sum += payload[i];
    }
    ck_assert_int_eq(mg_es_encode(&h, 1, payload, plen, &msg, &n), 0);
    for (i = 0; i < n && rc == 0; i++) {
        rc = mg_es_decoder_feed(&d, msg + i, 1, on_message, &seen, &err);
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(seen.count, 1);
    ck_assert_uint_eq(seen.payload_len[0], plen);
    ck_assert_uint_eq(seen.payload_sum, sum);
    ck_assert_uint_eq(d.cap, n);
    mg_es_decoder_free(&d);
    free(msg);
    free(payload);
}
END_TEST


static Suite *
eventstream_suite(void)
{
    Suite  *s = suite_create("mg_eventstream");
    TCase  *tc = tcase_create("eventstream");
    TCase  *conf = tcase_create("aws-sdk-go vectors");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_crc32);
    tcase_add_test(tc, test_impossible_lengths);
    tcase_add_test(tc, test_bad_headers);
    tcase_add_test(tc, test_all_types_round_trip);
    tcase_add_test(tc, test_encode_refusals);
    tcase_add_test(tc, test_stream_pieces);
    tcase_add_test(tc, test_callback_stops);
    tcase_add_test(tc, test_large_message_byte_by_byte);
    suite_add_tcase(s, tc);

    tcase_set_timeout(conf, 120);
    tcase_add_test(conf, test_positive_vectors);
    tcase_add_test(conf, test_negative_vectors);
    suite_add_tcase(s, conf);
    return s;
}

int
main(void)
{
    SRunner  *sr = srunner_create(eventstream_suite());
    int       failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
