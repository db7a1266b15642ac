/*
 * fuzz_eventstream: the application/vnd.amazon.eventstream decoder
 * (worker/aws/eventstream.c) fed in pieces as the stream engine feeds it,
 * then the same bytes as a Bedrock answer (the provider's on_body and
 * on_end, which decode the frames and read their JSON payloads).  Every
 * message decoded must encode again and decode to the same headers and
 * payload.  Input: one piece-plan byte (fuzz.h), then the stream.
 */
#include <assert.h>

#include "fuzz.h"
#include "fuzz_provider.h"
#include "aws/eventstream.h"

/* Re-encode a decoded message and decode it again: the same message. */
static int
mg_fuzz_on_message(void *ctx, const mg_es_message_t *msg)
{
    unsigned char    *out;
    size_t            out_len, used;
    mg_es_message_t   again;
    const char       *err;

    (void) mg_es_header(msg, ":event-type");
    (void) mg_es_header_is(msg, ":message-type", "event");
    if (mg_es_encode(msg->headers, msg->nheaders, msg->payload, msg->payload_len,
                     &out, &out_len) != 0)
    {
        return 0;       /* a header the encoder refuses to write (e.g. 255+ name) */
    }
    assert(mg_es_decode(out, out_len, &again, &used, &err) == 0 && used == out_len);
    assert(again.nheaders == msg->nheaders && again.payload_len == msg->payload_len);
    assert(msg->payload_len == 0
           || memcmp(again.payload, msg->payload, msg->payload_len) == 0);
    for (size_t i = 0; i < msg->nheaders; i++) {
        assert(again.headers[i].type == msg->headers[i].type);
        assert(again.headers[i].name_len == msg->headers[i].name_len);
        assert(again.headers[i].i == msg->headers[i].i);
        assert(again.headers[i].len == msg->headers[i].len);
    }
    free(out);
    return 0;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    mg_fuzz_provider_setup();
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mg_es_decoder_t    d = { 0 };
    mg_fuzz_pieces_t   pieces;
    const char        *err;
    size_t             off = 0;

    if (size < 1) {
        return 0;
    }
    mg_fuzz_pieces_init(&pieces, data[0]);
    data++;
    size--;
    while (off < size) {
        size_t  n = mg_fuzz_piece(&pieces, size - off);
        char   *piece = mg_fuzz_dup(data + off, n, 0);
        int     rc = mg_es_decoder_feed(&d, piece, n, mg_fuzz_on_message, NULL, &err);

        free(piece);
        off += n;
        if (rc != 0) {
            /* it has lost its place: every later feed is refused */
            assert(mg_es_decoder_feed(&d, "x", 1, mg_fuzz_on_message, NULL, &err) == -1);
            break;
        }
    }
    (void) mg_es_decoder_pending(&d);
    mg_es_decoder_free(&d);

    /* one whole message, as the decoder's building block sees it */
    {
        char             *whole = mg_fuzz_dup(data, size, 0);
        mg_es_message_t   msg;
        size_t            used;

        if (mg_es_decode((const unsigned char *) whole, size, &msg, &used, &err) == 0) {
            assert(used <= size);
        }
        free(whole);
    }

    mg_fuzz_provider_feed(&mg_provider_bedrock, data[-1], data, size);
    return 0;
}
