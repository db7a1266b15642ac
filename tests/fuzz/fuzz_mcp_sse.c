/*
 * fuzz_mcp_sse: the MCP client's text/event-stream reader
 * (worker/mcp/sse.c), fed in pieces as curl hands a Streamable HTTP
 * response over.  Every event handed out must be NUL-terminated at its
 * length and within the reader's bound; the last id and retry must stay
 * within theirs.  Input: one piece-plan byte (fuzz.h), then the body.
 */
#include <assert.h>

#include "fuzz.h"
#include "mcp/sse.h"

#define MG_FUZZ_SSE_MAX 4096

static int
mg_fuzz_event(void *ud, const char *type, const char *data, size_t len)
{
    assert(data[len] == '\0');
    assert(len <= MG_FUZZ_SSE_MAX);
    assert(strlen(type) < 64);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mg_sse_t           p;
    mg_fuzz_pieces_t   pieces;
    size_t             off = 0;

    if (size < 1) {
        return 0;
    }
    mg_fuzz_pieces_init(&pieces, data[0]);
    data++;
    size--;
    mg_sse_init(&p, MG_FUZZ_SSE_MAX);
    while (off < size) {
        size_t  n = mg_fuzz_piece(&pieces, size - off);
        char   *piece = mg_fuzz_dup(data + off, n, 0);
        int     rc = mg_sse_feed(&p, piece, n, mg_fuzz_event, NULL);

        free(piece);
        off += n;
        if (rc != 0) {
            break;
        }
    }
    assert(memchr(p.last_id, '\0', sizeof(p.last_id)) != NULL);
    assert(p.retry_ms >= -1 && p.retry_ms <= MG_SSE_RETRY_MAX);
    mg_sse_free(&p);
    return 0;
}
