/*
 * mg_eventstream: the application/vnd.amazon.eventstream framing Bedrock
 * streams answers in.  A message is a prelude (total length, headers
 * length, CRC-32 of those 8 bytes), typed headers, a payload and a CRC-32
 * of everything before it; integers are big-endian.  Decoding one message,
 * an incremental decoder for bytes arriving in any pieces, and an encoder.
 */
#ifndef MG_EVENTSTREAM_H
#define MG_EVENTSTREAM_H

#include <stddef.h>
#include <stdint.h>

#define MG_ES_PRELUDE_LEN   12
#define MG_ES_MIN_LEN       16          /* prelude + message CRC */
#define MG_ES_MAX_LEN       (16u * 1024 * 1024)
#define MG_ES_MAX_HEADERS   32

typedef enum {
    MG_ES_TRUE = 0,
    MG_ES_FALSE,
    MG_ES_BYTE,
    MG_ES_INT16,
    MG_ES_INT32,
    MG_ES_INT64,
    MG_ES_BYTES,
    MG_ES_STRING,
    MG_ES_TIMESTAMP,                    /* int64 milliseconds since the epoch */
    MG_ES_UUID                          /* 16 bytes */
} mg_es_type_t;

/* One header.  Booleans, byte, int16/32/64 and timestamp are in i (a
 * boolean as 1 or 0, integers signed); byte arrays, strings and uuids in
 * data/len (not NUL-terminated).  Decoded names and data point into the
 * decoded buffer. */
typedef struct {
    const char           *name;
    size_t                name_len;
    mg_es_type_t          type;
    int64_t               i;
    const unsigned char  *data;
    size_t                len;
} mg_es_header_t;

typedef struct {
    mg_es_header_t        headers[MG_ES_MAX_HEADERS];
    size_t                nheaders;
    const unsigned char  *payload;
    size_t                payload_len;
    uint32_t              total_length, headers_length, prelude_crc, message_crc;
} mg_es_message_t;

/*
 * Decode the message at the start of buf (len bytes; never read past).
 * 0 with msg filled and *used = its length; 1 when buf holds only the
 * start of a message that may still be valid (need more bytes); -1 with
 * *err naming the fault:
 * "Prelude checksum mismatch", "Message checksum mismatch", "Message length
 * out of range", "Headers length exceeds message", "Header runs past the
 * header block", "Empty header name", "Unknown header value type", "Too
 * many headers".  The prelude is checked as soon as its 12 bytes are there.
 */
int mg_es_decode(const unsigned char *buf, size_t len, mg_es_message_t *msg, size_t *used,
                 const char **err);

/* The first header named name, or NULL. */
const mg_es_header_t *mg_es_header(const mg_es_message_t *msg, const char *name);

/* 1 when header name is a string equal to string_value, else 0. */
int mg_es_header_is(const mg_es_message_t *msg, const char *name, const char *string_value);

/* Called once per complete message, which lives only during the call;
 * nonzero stops decoding. */
typedef int (*mg_es_on_message_fn)(void *ctx, const mg_es_message_t *msg);

/* Holds at most one incomplete message; its buffer grows to the largest
 * message seen (at most MG_ES_MAX_LEN).  Zero-initialised = ready. */
typedef struct {
    unsigned char  *buf;
    size_t          len, cap;
    int             failed;
} mg_es_decoder_t;

/*
 * Feed len bytes, in whatever pieces they arrive: cb runs for each message
 * they complete, in order.  0; or -1 with *err for a bad message or when
 * cb stopped ("Stopped by the callback"); after -1 the decoder refuses
 * every feed (it has lost its place in the stream).
 */
int  mg_es_decoder_feed(mg_es_decoder_t *d, const void *data, size_t len,
                        mg_es_on_message_fn cb, void *ctx, const char **err);

/* 1 when the decoder holds part of a message (the stream ended mid-frame). */
int  mg_es_decoder_pending(const mg_es_decoder_t *d);

void mg_es_decoder_free(mg_es_decoder_t *d);

/* Encode one message into a malloc'd buffer (*out, *out_len; the caller
 * frees it).  0, or -1 for a header the format cannot carry (empty name or
 * longer than 255, unknown type, integer out of its type's range, byte
 * array or string over 65535 bytes, uuid not 16 bytes, more than
 * MG_ES_MAX_HEADERS), a message over MG_ES_MAX_LEN, or no memory. */
int mg_es_encode(const mg_es_header_t *headers, size_t nheaders, const void *payload,
                 size_t payload_len, unsigned char **out, size_t *out_len);

/* CRC-32 (IEEE 802.3, zlib's): start with crc 0; chains across calls. */
uint32_t mg_crc32(uint32_t crc, const void *data, size_t len);

#endif
