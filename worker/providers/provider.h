/*
 * mg_provider: what a model provider implements so the stream engine can
 * drive it (bedrock.c, openai.c, local.c), and the choice of provider for
 * a bot's model id (providers.c).
 *
 * prepare runs on a pool thread and may block briefly (credentials); the
 * other hooks run on the engine thread and must not block.  A provider
 * reports through mg_stream_delta / _set_usage / _set_stop_reason /
 * _complete / _fail (stream.h).
 */
#ifndef MG_PROVIDER_H
#define MG_PROVIDER_H

#include <stddef.h>

#include <curl/curl.h>

#include "agents/tools.h"
#include "knowledge/search.h"
#include "stream.h"

typedef struct {
    const char  *role;          /* "user" or "assistant" */
    const char  *text;
    size_t       len;
} mg_chat_turn_t;

typedef struct {
    const char            *model;       /* the provider's own model name */
    const char            *system;      /* the bot's instructions; "" for none */
    const mg_chat_turn_t  *turns;       /* alternating roles, user first and last */
    size_t                 nturns;
    double                 temperature;
    int                    max_tokens;
    /* A grounded turn (the bot has rag_enabled and knowledge bases): the
     * sources retrieved for it, already numbered [1]..[nsources] in
     * system.  The HTTP providers need only system; the offline one
     * answers from the sources themselves. */
    int                    grounded;
    const mg_hit_t        *sources;
    size_t                 nsources;
    /* An agent's turn: the tools its model may call (NULL, 0: none). */
    const mg_tool_def_t *const *tools;
    size_t                 ntools;
} mg_chat_request_t;

/* One tool call of a step and its result, given back to the model. */
typedef struct {
    const char  *id;
    const char  *name;
    json_t      *input;         /* a JSON object */
    int          ok;
    const char  *output;        /* the result, or why it failed */
} mg_tool_exchange_t;

struct mg_provider_s {
    const char  *name;
    /* Build the provider's state (s->pdata) from req, which is not kept.
     * 0, or -1 with a reason for the client in err. */
    int   (*prepare)(mg_stream_t *s, const mg_chat_request_t *req, char *err, size_t errlen);
    /* Begin an attempt (again after a retryable failure).  HTTP providers
     * return a configured handle in *easy (URL, headers, body; the engine
     * adds the rest); the local provider arms a timer and leaves it NULL.
     * 0, or -1 with a reason in err. */
    int   (*start)(mg_stream_t *s, CURL **easy, char *err, size_t errlen);
    /* Bytes of a 2xx answer.  0, or -1 after mg_stream_fail. */
    int   (*on_body)(mg_stream_t *s, const char *data, size_t len);
    /* The 2xx answer ended: complete the stream, or fail it if it was cut. */
    void  (*on_end)(mg_stream_t *s);
    /* A non-2xx answer with its (bounded) body: must mg_stream_fail. */
    void  (*on_http_error)(mg_stream_t *s, long status, const char *body, size_t len);
    void  (*on_timer)(mg_stream_t *s);
    /* An agent's step ended asking for tools and their results are in:
     * add the step (its text[0..len) and its calls) and the results to
     * the conversation, so the next start continues it (engine thread).
     * 0, or -1 with a reason in err. */
    int   (*add_tool_results)(mg_stream_t *s, const char *text, size_t len,
                              const mg_tool_exchange_t *x, size_t n, char *err, size_t errlen);
    /* Free s->pdata (any thread). */
    void  (*release)(mg_stream_t *s);
};

extern const mg_provider_t mg_provider_local;
extern const mg_provider_t mg_provider_openai;
extern const mg_provider_t mg_provider_bedrock;

/* Read the providers' configuration from the environment (once, at
 * startup).  0, or -1 with the reason logged. */
int  mg_providers_init(void);

/* The provider serving model_id and the model name to send it (*model
 * points into model_id).  NULL when that provider is not configured, with
 * a reason in err. */
const mg_provider_t *mg_provider_for(const char *model_id, const char **model,
                                     char *err, size_t errlen);

/* Rough token count of text for budgets and for providers that report no
 * usage: about four bytes a token, as the common tokenizers average on
 * English. */
long mg_tokens_estimate(size_t bytes);

/* Fail s for a non-2xx answer: 429 provider_throttled, 408/5xx
 * provider_unavailable (both retryable), the rest provider_error; the
 * detail is the JSON body's "message", or body[outer]["message"]. */
void mg_provider_http_fail(mg_stream_t *s, const char *provider, long status,
                           const char *body, size_t len, const char *outer);

#endif
