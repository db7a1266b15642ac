/*
 * fuzz_provider.h: a model stream with no engine thread around it, for
 * the harnesses that feed a provider's answer parser (on_body, on_end)
 * the way the stream engine does.  What the stream sends goes to a sink
 * that drops it.
 */
#ifndef MG_FUZZ_PROVIDER_H
#define MG_FUZZ_PROVIDER_H

#include <stdio.h>

#include "providers/config.h"
#include "providers/provider.h"
#include "stream.h"

#define MG_FUZZ_RID "0123456789abcdef0123456789abcdef"

static int
mg_fuzz_sink(const mg_str_t *frames, int n)
{
    return 0;
}

static void
mg_fuzz_provider_setup(void)
{
    mg_streams_set_sink(mg_fuzz_sink);
    setenv("AWS_ACCESS_KEY_ID", "AKIDFUZZ", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "fuzz-secret", 1);
    setenv("AWS_REGION", "eu-west-3", 1);
    mg_providers_cfg.openai_base_url = "http://127.0.0.1:9/v1/";
}

/* A stream prepared by the provider itself, as for a chat turn. */
static mg_stream_t *
mg_fuzz_stream(const mg_provider_t *p)
{
    mg_chat_turn_t      turn = { "user", "hi", 2 };
    mg_chat_request_t   req = { "model-x", "", &turn, 1, 0.5, 100, 0, NULL, 0, NULL, 0 };
    mg_stream_t        *s = mg_stream_new(MG_FUZZ_RID, "peer", 4);
    char                err[256];

    if (s == NULL) {
        abort();
    }
    s->sse = 1;
    s->provider = p;
    s->model_id = strdup("m");
    if (p->prepare(s, &req, err, sizeof(err)) != 0) {
        fprintf(stderr, "prepare: %s\n", err);
        abort();
    }
    return s;
}

/* Feed body in the pieces plan picks, as the engine's write callback
 * does, stopping at the first refusal; then the end of the answer. */
static void
mg_fuzz_provider_feed(const mg_provider_t *p, uint8_t plan, const uint8_t *body, size_t len)
{
    mg_stream_t        *s = mg_fuzz_stream(p);
    mg_fuzz_pieces_t    pieces;
    size_t              off = 0;
    int                 rc = 0;

    mg_fuzz_pieces_init(&pieces, plan);
    while (off < len) {
        size_t  n = mg_fuzz_piece(&pieces, len - off);
        char   *piece = mg_fuzz_dup(body + off, n, 0);

        rc = p->on_body(s, piece, n);
        free(piece);
        off += n;
        if (rc != 0) {
            break;
        }
    }
    if (rc == 0) {
        p->on_end(s);
    }
    mg_stream_free(s);
}

#endif
