/*
 * mg_eventstream: owns event-stream framing and the CRC-32 it uses.
 *
 * Decoding checks, in this order, before trusting anything it read: the
 * prelude CRC (as soon as 12 bytes are there), the lengths, the message
 * CRC (once the whole message is there), then each header against the end
 * of the header block.  Every read is bounded by len, so a lying length
 * cannot make it read past the buffer.
 *
 * The incremental decoder decodes whole messages straight from the bytes
 * it is fed and copies only an incomplete tail; while it holds one it asks
 * for exactly the bytes still missing (the prelude, then the rest), so
 * feeding byte by byte costs a copy per byte and one decode per message.
 */
#include "aws/eventstream.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static uint32_t        mg_crc32_table[256];
static pthread_once_t  mg_crc32_once = PTHREAD_ONCE_INIT;

static void
mg_crc32_init(void)
{
    uint32_t  c;
    unsigned  i, k;

    for (i = 0; i < 256; i++) {
        c = i;
        for (k = 0; k < 8; k++) {
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;    /* reflected 0x04c11db7 */
        }
        mg_crc32_table[i] = c;
    }
}

uint32_t
mg_crc32(uint32_t crc, const void *data, size_t len)
{
    const unsigned char  *p = data;

    pthread_once(&mg_crc32_once, mg_crc32_init);
    crc = ~crc;
    while (len-- > 0) {
        crc = mg_crc32_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    }
    return ~crc;
}

static uint32_t
mg_es_be32(const unsigned char *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static uint64_t
mg_es_be64(const unsigned char *p)
{
    return (uint64_t) mg_es_be32(p) << 32 | mg_es_be32(p + 4);
}

static void
mg_es_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24);
    p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);
    p[3] = (unsigned char) v;
}

/* Bytes a fixed-size value of type t takes; -1 for the sized types
 * (byte array, string), -2 for an unknown type. */
static int
mg_es_fixed_size(unsigned t)
{
    switch (t) {
    case MG_ES_TRUE:
    case MG_ES_FALSE:
        return 0;
    case MG_ES_BYTE:
        return 1;
    case MG_ES_INT16:
        return 2;
    case MG_ES_INT32:
        return 4;
    case MG_ES_INT64:
    case MG_ES_TIMESTAMP:
        return 8;
    case MG_ES_UUID:
        return 16;
    case MG_ES_BYTES:
    case MG_ES_STRING:
        return -1;
    default:
        return -2;
    }
}


/* Decoding */

/* The header block buf[0..n): every read checked against n. */
static int
mg_es_decode_headers(const unsigned char *buf, size_t n, mg_es_message_t *msg, const char **err)
{
    mg_es_header_t  *h;
    size_t           p = 0, name_len, vlen;
    unsigned         type;
    int              fixed;

    while (p < n) {
        if (msg->nheaders == MG_ES_MAX_HEADERS) {
            *err = "Too many headers";
            return -1;
        }
        h = &msg->headers[msg->nheaders];
        name_len = buf[p++];
        if (name_len == 0) {
            *err = "Empty header name";
            return -1;
        }
        if (n - p < name_len + 1) {     /* the name and the type byte */
            *err = "Header runs past the header block";
            return -1;
        }
        h->name = (const char *) buf + p;
        h->name_len = name_len;
        p += name_len;
        type = buf[p++];
        fixed = mg_es_fixed_size(type);
        if (fixed == -2) {
            *err = "Unknown header value type";
            return -1;
        }
        if (fixed == -1) {
            if (n - p < 2) {
                *err = "Header runs past the header block";
                return -1;
            }
            vlen = (size_t) buf[p] << 8 | buf[p + 1];
            p += 2;
        } else {
            vlen = (size_t) fixed;
        }
        if (n - p < vlen) {
            *err = "Header runs past the header block";
            return -1;
        }
        h->type = (mg_es_type_t) type;
        h->i = 0;
        h->data = NULL;
        h->len = 0;
        switch (type) {
        case MG_ES_TRUE:
            h->i = 1;
            break;
        case MG_ES_FALSE:
            break;
        case MG_ES_BYTE:
            h->i = (int8_t) buf[p];
            break;
        case MG_ES_INT16:
            h->i = (int16_t) (uint16_t) (buf[p] << 8 | buf[p + 1]);
            break;
        case MG_ES_INT32:
            h->i = (int32_t) mg_es_be32(buf + p);
            break;
        case MG_ES_INT64:
        case MG_ES_TIMESTAMP:
            h->i = (int64_t) mg_es_be64(buf + p);
            break;
        default:                        /* byte array, string, uuid */
            h->data = buf + p;
            h->len = vlen;
        }
        p += vlen;
        msg->nheaders++;
    }
    return 0;
}

int
mg_es_decode(const unsigned char *buf, size_t len, mg_es_message_t *msg, size_t *used,
             const char **err)
{
    uint32_t  total, hlen, crc;

    if (len < MG_ES_PRELUDE_LEN) {
        return 1;
    }
    total = mg_es_be32(buf);
    hlen = mg_es_be32(buf + 4);
    crc = mg_crc32(0, buf, 8);
    if (crc != mg_es_be32(buf + 8)) {
        *err = "Prelude checksum mismatch";
        return -1;
    }
    if (total < MG_ES_MIN_LEN || total > MG_ES_MAX_LEN) {
        *err = "Message length out of range";
        return -1;
    }
    if (hlen > total - MG_ES_MIN_LEN) {
        *err = "Headers length exceeds message";
        return -1;
    }
    if (len < total) {
        return 1;
    }
    crc = mg_crc32(crc, buf + 8, total - 12);
    if (crc != mg_es_be32(buf + total - 4)) {
        *err = "Message checksum mismatch";
        return -1;
    }

    msg->nheaders = 0;
    if (mg_es_decode_headers(buf + MG_ES_PRELUDE_LEN, hlen, msg, err) != 0) {
        return -1;
    }
    msg->total_length = total;
    msg->headers_length = hlen;
    msg->prelude_crc = mg_es_be32(buf + 8);
    msg->message_crc = crc;
    msg->payload = buf + MG_ES_PRELUDE_LEN + hlen;
    msg->payload_len = total - hlen - MG_ES_MIN_LEN;
    *used = total;
    return 0;
}

const mg_es_header_t *
mg_es_header(const mg_es_message_t *msg, const char *name)
{
    size_t  n = strlen(name), i;

    for (i = 0; i < msg->nheaders; i++) {
        if (msg->headers[i].name_len == n && memcmp(msg->headers[i].name, name, n) == 0) {
            return &msg->headers[i];
        }
    }
    return NULL;
}

int
mg_es_header_is(const mg_es_message_t *msg, const char *name, const char *string_value)
{
    const mg_es_header_t  *h = mg_es_header(msg, name);
    size_t                 n = strlen(string_value);

    return h != NULL && h->type == MG_ES_STRING && h->len == n
           && (n == 0 || memcmp(h->data, string_value, n) == 0);
}


/* Incremental decoding */

static int
mg_es_reserve(mg_es_decoder_t *d, size_t need)
{
    unsigned char  *grown;

    if (need <= d->cap) {
        return 0;
    }
    grown = realloc(d->buf, need);
    if (grown == NULL) {
        return -1;
    }
    d->buf = grown;
    d->cap = need;
    return 0;
}

static int
mg_es_fail(mg_es_decoder_t *d, const char **err, const char *why)
{
    d->failed = 1;
    d->len = 0;
    if (why != NULL) {
        *err = why;
    }
    return -1;
}

int
mg_es_decoder_feed(mg_es_decoder_t *d, const void *data, size_t len,
                   mg_es_on_message_fn cb, void *ctx, const char **err)
{
    const unsigned char  *p = data;
    mg_es_message_t       msg;
    size_t                need, take, used;
    int                   rc;

    if (d->failed) {
        *err = "Decoder stopped by an earlier error";
        return -1;
    }
    if (p == NULL && len > 0) {
        return mg_es_fail(d, err, "No data");
    }

    /* Complete the message held from earlier feeds, bytes it lacks only. */
    while (d->len > 0 && len > 0) {
        need = d->len < MG_ES_PRELUDE_LEN ? MG_ES_PRELUDE_LEN : mg_es_be32(d->buf);
        take = need - d->len < len ? need - d->len : len;
        if (mg_es_reserve(d, need) != 0) {
            return mg_es_fail(d, err, "Out of memory");
        }
        memcpy(d->buf + d->len, p, take);
        d->len += take;
        p += take;
        len -= take;
        if (d->len < need) {
            return 0;
        }
        rc = mg_es_decode(d->buf, d->len, &msg, &used, err);
        if (rc < 0) {
            return mg_es_fail(d, err, NULL);
        }
        if (rc == 0) {
            d->len = 0;
            if (cb(ctx, &msg) != 0) {
                return mg_es_fail(d, err, "Stopped by the callback");
            }
        }
        /* rc 1: the prelude is good; the loop now asks for the rest */
    }

    /* Whole messages straight from data; an incomplete tail is kept. */
    while (len > 0) {
        rc = mg_es_decode(p, len, &msg, &used, err);
        if (rc < 0) {
            return mg_es_fail(d, err, NULL);
        }
        if (rc == 1) {
            need = len < MG_ES_PRELUDE_LEN ? MG_ES_PRELUDE_LEN : mg_es_be32(p);
            if (mg_es_reserve(d, need) != 0) {
                return mg_es_fail(d, err, "Out of memory");
            }
            memcpy(d->buf, p, len);
            d->len = len;
            return 0;
        }
        p += used;
        len -= used;
        if (cb(ctx, &msg) != 0) {
            return mg_es_fail(d, err, "Stopped by the callback");
        }
    }
    return 0;
}

int
mg_es_decoder_pending(const mg_es_decoder_t *d)
{
    return d->len > 0;
}

void
mg_es_decoder_free(mg_es_decoder_t *d)
{
    if (d == NULL) {
        return;
    }
    free(d->buf);
    memset(d, 0, sizeof(*d));
}


/* Encoding */

int
mg_es_encode(const mg_es_header_t *headers, size_t nheaders, const void *payload,
             size_t payload_len, unsigned char **out, size_t *out_len)
{
    const mg_es_header_t  *h;
    unsigned char         *buf, *p;
    size_t                 hlen = 0, total, i;
    int                    fixed;
    uint64_t               u;

    *out = NULL;
    *out_len = 0;
    if (nheaders > MG_ES_MAX_HEADERS || payload_len > MG_ES_MAX_LEN
        || (payload == NULL && payload_len > 0))
    {
        return -1;
    }
    for (i = 0; i < nheaders; i++) {
        h = &headers[i];
        fixed = mg_es_fixed_size((unsigned) h->type);
        if (h->name == NULL || h->name_len == 0 || h->name_len > 255 || fixed == -2) {
            return -1;
        }
        switch (h->type) {
        case MG_ES_BYTE:
            if (h->i < INT8_MIN || h->i > INT8_MAX) {
                return -1;
            }
            break;
        case MG_ES_INT16:
            if (h->i < INT16_MIN || h->i > INT16_MAX) {
                return -1;
            }
            break;
        case MG_ES_INT32:
            if (h->i < INT32_MIN || h->i > INT32_MAX) {
                return -1;
            }
            break;
        case MG_ES_BYTES:
        case MG_ES_STRING:
            if (h->len > 65535 || (h->data == NULL && h->len > 0)) {
                return -1;
            }
            break;
        case MG_ES_UUID:
            if (h->len != 16 || h->data == NULL) {
                return -1;
            }
            break;
        default:
            break;
        }
        hlen += 2 + h->name_len + (fixed >= 0 ? (size_t) fixed : 2 + h->len);
    }
    total = MG_ES_MIN_LEN + hlen + payload_len;
    if (total > MG_ES_MAX_LEN) {
        return -1;
    }
    buf = malloc(total);
    if (buf == NULL) {
        return -1;
    }

    mg_es_put32(buf, (uint32_t) total);
    mg_es_put32(buf + 4, (uint32_t) hlen);
    mg_es_put32(buf + 8, mg_crc32(0, buf, 8));
    p = buf + MG_ES_PRELUDE_LEN;
    for (i = 0; i < nheaders; i++) {
        h = &headers[i];
        *p++ = (unsigned char) h->name_len;
        memcpy(p, h->name, h->name_len);
        p += h->name_len;
        *p++ = (unsigned char) h->type;
        fixed = mg_es_fixed_size((unsigned) h->type);
        if (fixed == -1) {
            *p++ = (unsigned char) (h->len >> 8);
            *p++ = (unsigned char) h->len;
        }
        switch (h->type) {
        case MG_ES_TRUE:
        case MG_ES_FALSE:
            break;
        case MG_ES_BYTES:
        case MG_ES_STRING:
        case MG_ES_UUID:
            if (h->len > 0) {
                memcpy(p, h->data, h->len);
            }
            p += h->len;
            break;
        default:                        /* integers: big-endian, two's complement */
            u = (uint64_t) h->i;
            while (fixed-- > 0) {
                *p++ = (unsigned char) (u >> (8 * fixed));
            }
        }
    }
    if (payload_len > 0) {
        memcpy(p, payload, payload_len);
    }
    p += payload_len;
    mg_es_put32(p, mg_crc32(0, buf, total - 4));

    *out = buf;
    *out_len = total;
    return 0;
}
