/*
 * local: the offline responder, Mangoo's default model.  It needs no
 * network and no weights: it says plainly that it is the offline model and
 * reflects the question (or, in a grounded turn, quotes the retrieved
 * sources with their [n], knowledge/rag.c), streamed piece by piece through the same engine
 * path as the real providers (with $MANGOO_LOCAL_DELAY_MS between pieces),
 * honouring the bot's max_tokens.  Usage is counted in pieces (output) and
 * estimated tokens (input).
 */
#include "providers/provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/config.h"
#include "knowledge/rag.h"

#define MG_LOCAL_QUOTE_MAX 400      /* bytes of the question quoted back */

typedef struct {
    char       *answer;
    size_t      len, pos;
    long        pieces, max_pieces;
    long long   input_tokens;
} mg_local_t;

/* Cut at most max bytes of s without splitting a UTF-8 sequence. */
static size_t
mg_utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max) {
        return len;
    }
    while (max > 0 && ((unsigned char) s[max] & 0xC0) == 0x80) {
        max--;
    }
    return max;
}

/* The answer to an ordinary turn: say so, and reflect the question. */
static char *
mg_local_reflect(const mg_chat_turn_t *last)
{
    size_t  qlen = mg_utf8_cut(last->text, last->len, MG_LOCAL_QUOTE_MAX);
    size_t  cap = qlen + 512;
    char   *answer = malloc(cap);

    if (answer != NULL) {
        snprintf(answer, cap,
                 "This is Mangoo's offline model: no language model is configured, so I "
                 "can only reflect what you wrote. You said: \"%.*s%s\" To get real answers, "
                 "an administrator can connect Amazon Bedrock or an OpenAI-compatible server.",
                 (int) qlen, last->text, qlen < last->len ? "..." : "");
    }
    return answer;
}

static int
mg_local_prepare(mg_stream_t *s, const mg_chat_request_t *req, char *err, size_t errlen)
{
    const mg_chat_turn_t  *last = &req->turns[req->nturns - 1];
    mg_local_t            *l;
    size_t                 in_bytes = strlen(req->system);

    l = calloc(1, sizeof(*l));
    if (l != NULL) {
        /* a grounded turn quotes its sources, or says the documents have
         * nothing (knowledge/rag.c) */
        l->answer = req->grounded
                    ? mg_rag_extractive(last->text, last->len, req->sources, req->nsources)
                    : mg_local_reflect(last);
    }
    if (l == NULL || l->answer == NULL) {
        free(l);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    l->len = strlen(l->answer);
    l->max_pieces = req->max_tokens;
    for (size_t i = 0; i < req->nturns; i++) {
        in_bytes += req->turns[i].len;
    }
    l->input_tokens = mg_tokens_estimate(in_bytes);
    s->pdata = l;
    return 0;
}

static int
mg_local_start(mg_stream_t *s, CURL **easy, char *err, size_t errlen)
{
    *easy = NULL;
    mg_stream_timer(s, 0);                  /* the first piece at once */
    return 0;
}

/* One word and the spaces after it. */
static int
mg_local_emit_piece(mg_stream_t *s, mg_local_t *l)
{
    size_t end = l->pos;

    while (end < l->len && l->answer[end] == ' ') {
        end++;
    }
    while (end < l->len && l->answer[end] != ' ') {
        end++;
    }
    while (end < l->len && l->answer[end] == ' ') {
        end++;
    }
    if (mg_stream_delta(s, l->answer + l->pos, end - l->pos) != 0) {
        return -1;
    }
    l->pos = end;
    l->pieces++;
    return 0;
}

static void
mg_local_on_timer(mg_stream_t *s)
{
    mg_local_t  *l = s->pdata;
    long         delay = mg_providers_cfg.local_delay_ms;

    do {
        if (mg_local_emit_piece(s, l) != 0) {
            return;
        }
    } while (delay == 0 && l->pos < l->len && l->pieces < l->max_pieces);

    if (l->pos < l->len && l->pieces < l->max_pieces) {
        mg_stream_timer(s, delay);
        return;
    }
    mg_stream_set_usage(s, l->input_tokens, l->pieces);
    mg_stream_set_stop_reason(s, l->pos < l->len ? "max_tokens" : "end_turn");
    mg_stream_complete(s);
}

static void
mg_local_release(mg_stream_t *s)
{
    mg_local_t *l = s->pdata;

    if (l != NULL) {
        free(l->answer);
        free(l);
        s->pdata = NULL;
    }
}

const mg_provider_t mg_provider_local = {
    .name = "local",
    .prepare = mg_local_prepare,
    .start = mg_local_start,
    .on_timer = mg_local_on_timer,
    .release = mg_local_release,
};
