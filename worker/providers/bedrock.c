/*
 * bedrock: Amazon Bedrock's ConverseStream over HTTPS.  The request is
 * signed with our own SigV4 (aws/sigv4.c: libcurl's signs a model id with
 * ':' wrongly, see ../shared/reference/bedrock.md) or carries a Bedrock API
 * key; the answer is an application/vnd.amazon.eventstream body decoded
 * incrementally with CRC checks (aws/eventstream.c).  Credentials are
 * fetched on the pool thread (they may need the ECS endpoint) and kept
 * with the stream, so a retry on the engine thread re-signs without I/O.
 */
#include "providers/provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "aws/credentials.h"
#include "aws/eventstream.h"
#include "agents/loop.h"
#include "aws/sigv4.h"
#include "providers/config.h"

typedef struct {
    char                *url;
    char                *path;          /* as sent: the model id percent-encoded */
    char                 host[256];
    char                 region[64];
    json_t              *req;           /* the body, kept: an agent's steps grow it */
    char                *body;
    size_t               body_len;
    char                *bearer;        /* a Bedrock API key, or NULL: SigV4 */
    /* the keys as strings, not an mg_aws_creds_t: its fixed buffers
     * would cost 4 KiB on every open stream */
    char                *key_id, *secret, *token;
    struct curl_slist   *headers;
    mg_es_decoder_t      dec;
    int                  stopped;       /* messageStop seen */
} mg_bedrock_t;

/* Secrets do not outlive their use. */
static void
mg_bedrock_free_secret(char *p)
{
    if (p != NULL) {
        explicit_bzero(p, strlen(p));
        free(p);
    }
}

static void
mg_bedrock_release(mg_stream_t *s)
{
    mg_bedrock_t *b = s->pdata;

    if (b == NULL) {
        return;
    }
    free(b->url);
    free(b->path);
    json_decref(b->req);
    free(b->body);
    mg_bedrock_free_secret(b->bearer);
    mg_bedrock_free_secret(b->key_id);
    mg_bedrock_free_secret(b->secret);
    mg_bedrock_free_secret(b->token);
    curl_slist_free_all(b->headers);
    mg_es_decoder_free(&b->dec);
    free(b);
    s->pdata = NULL;
}
static json_t *
mg_bedrock_body(const mg_chat_request_t *req)
{
    json_t *msgs = json_array(), *body;

    for (size_t i = 0; i < req->nturns; i++) {
        json_array_append_new(msgs, json_pack("{s:s, s:[{s:s%}]}", "role", req->turns[i].role,
                                              "content", "text", req->turns[i].text,
                                              req->turns[i].len));
    }
    body = json_pack("{s:o, s:{s:i, s:f}}", "messages", msgs, "inferenceConfig",
                     "maxTokens", req->max_tokens, "temperature", req->temperature);
    if (body != NULL && req->system[0] != '\0') {
        json_object_set_new(body, "system", json_pack("[{s:s}]", "text", req->system));
    }
    if (body != NULL && req->ntools > 0) {
        json_t *tools = json_array();

        for (size_t i = 0; i < req->ntools; i++) {
            json_array_append_new(tools, json_pack("{s:{s:s, s:s, s:{s:o}}}", "toolSpec",
                                                   "name", req->tools[i]->name,
                                                   "description", req->tools[i]->description,
                                                   "inputSchema", "json",
                                                   json_loads(req->tools[i]->input_schema, 0,
                                                              NULL)));
        }
        json_object_set_new(body, "toolConfig", json_pack("{s:o}", "tools", tools));
    }
    return body;
}

/* The step's text and tool uses as the assistant's turn, their results as
 * the user's: Bedrock wants every toolUse answered in the next message. */
static int
mg_bedrock_add_tool_results(mg_stream_t *s, const char *text, size_t len,
                            const mg_tool_exchange_t *x, size_t n, char *err, size_t errlen)
{
    mg_bedrock_t  *b = s->pdata;
    json_t        *said = json_array(), *results = json_array(), *msgs;
    int            blank = 1;

    for (size_t i = 0; i < len && blank; i++) {
        blank = text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r';
    }
    if (!blank) {
        json_array_append_new(said, json_pack("{s:s%}", "text", text, len));
    }
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(said, json_pack("{s:{s:s, s:s, s:O}}", "toolUse", "toolUseId",
                                              x[i].id, "name", x[i].name, "input", x[i].input));
        /* a blank text block is refused, a result never is */
        json_array_append_new(results, json_pack("{s:{s:s, s:[{s:s}], s:s}}", "toolResult",
                                                 "toolUseId", x[i].id, "content", "text",
                                                 x[i].output[0] ? x[i].output : "(no output)",
                                                 "status", x[i].ok ? "success" : "error"));
    }
    msgs = json_object_get(b->req, "messages");
    if (json_array_append_new(msgs, json_pack("{s:s, s:o}", "role", "assistant", "content", said))
        != 0
        || json_array_append_new(msgs, json_pack("{s:s, s:o}", "role", "user", "content",
                                                 results)) != 0)
    {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    free(b->body);
    b->body = json_dumps(b->req, JSON_COMPACT);
    if (b->body == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    b->body_len = strlen(b->body);
    return 0;
}

static int
mg_bedrock_prepare(mg_stream_t *s, const mg_chat_request_t *req, char *err, size_t errlen)
{
    mg_bedrock_t  *b;
    json_t        *body;
    char           endpoint[MG_PROVIDER_URL_MAX];
    const char    *h, *bearer = mg_aws_bearer_token();
    size_t         hlen;
    mg_aws_creds_t creds;
    int            want_token;

    b = calloc(1, sizeof(*b));
    if (b == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->pdata = b;
    if (mg_aws_bedrock_endpoint(endpoint, sizeof(endpoint)) != 0) {
        snprintf(err, errlen, "the Bedrock endpoint URL is too long");
        return -1;
    }
    /* host[:port] exactly as signed; curl is told to send the same */
    h = strstr(endpoint, "://");
    h = h != NULL ? h + 3 : endpoint;
    hlen = strcspn(h, "/");
    if (hlen == 0 || hlen >= sizeof(b->host)) {
        snprintf(err, errlen, "the Bedrock endpoint URL has no usable host");
        return -1;
    }
    memcpy(b->host, h, hlen);
    b->host[hlen] = '\0';
    endpoint[(size_t) (h - endpoint) + hlen] = '\0';      /* the origin only */
    snprintf(b->region, sizeof(b->region), "%s", mg_aws_region());

    b->path = mg_aws_bedrock_path(req->model, "converse-stream");
    body = mg_bedrock_body(req);
    b->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (req->ntools > 0) {
        b->req = body;                      /* the next steps add to it */
    } else {
        json_decref(body);
    }
    if (b->path == NULL || b->body == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    b->body_len = strlen(b->body);
    b->url = malloc(strlen(endpoint) + strlen(b->path) + 1);
    if (b->url == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    sprintf(b->url, "%s%s", endpoint, b->path);

    if (bearer != NULL) {
        b->bearer = strdup(bearer);
        if (b->bearer == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        return 0;
    }
    if (mg_aws_creds_get(&creds, err, errlen) != 0) {
        return -1;
    }
    want_token = creds.session_token[0] != '\0';
    b->key_id = strdup(creds.access_key_id);
    b->secret = strdup(creds.secret_access_key);
    b->token = want_token ? strdup(creds.session_token) : NULL;
    explicit_bzero(&creds, sizeof(creds));
    if (b->key_id == NULL || b->secret == NULL || (want_token && b->token == NULL)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Headers for one attempt: signed afresh, x-amz-date being part of it. */
static int
mg_bedrock_headers(mg_bedrock_t *b, const char *rid, char *err, size_t errlen)
{
    mg_sigv4_header_t   sh[2] = { { "host", b->host }, { "content-type", "application/json" } };
    mg_sigv4_request_t  req;
    mg_sigv4_creds_t    creds;
    mg_sigv4_out_t      out;
    char                line[5000];
    struct curl_slist  *l = NULL;

    curl_slist_free_all(b->headers);
    b->headers = NULL;

    snprintf(line, sizeof(line), "Host: %s", b->host);
    l = curl_slist_append(l, line);
    l = curl_slist_append(l, "Content-Type: application/json");
    l = curl_slist_append(l, "Accept: application/vnd.amazon.eventstream");
    l = curl_slist_append(l, "Expect:");
    /* one id follows the request everywhere (not signed: only logged) */
    snprintf(line, sizeof(line), "X-Request-Id: %s", rid);
    l = curl_slist_append(l, line);

    if (b->bearer != NULL) {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", b->bearer);
        l = curl_slist_append(l, line);
    } else {
        memset(&req, 0, sizeof(req));
        req.method = "POST";
        req.path = b->path;
        req.query = "";
        req.headers = sh;
        req.nheaders = 2;
        req.body = b->body;
        req.body_len = b->body_len;
        req.region = b->region;
        req.service = "bedrock";
        req.now = time(NULL);
        req.normalize_path = 1;
        creds.access_key_id = b->key_id;
        creds.secret_access_key = b->secret;
        creds.session_token = b->token;
        if (mg_sigv4_sign(&req, &creds, &out, err, errlen) != 0) {
            curl_slist_free_all(l);
            return -1;
        }
        snprintf(line, sizeof(line), "X-Amz-Date: %s", out.amz_date);
        l = curl_slist_append(l, line);
        if (b->token != NULL) {
            snprintf(line, sizeof(line), "X-Amz-Security-Token: %s", b->token);
            l = curl_slist_append(l, line);
        }
        snprintf(line, sizeof(line), "Authorization: %s", out.authorization);
        l = curl_slist_append(l, line);
        mg_sigv4_out_free(&out);
    }
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    b->headers = l;
    return 0;
}

static int
mg_bedrock_start(mg_stream_t *s, CURL **easy, char *err, size_t errlen)
{
    mg_bedrock_t  *b = s->pdata;
    CURL          *h;

    if (mg_bedrock_headers(b, s->rid, err, errlen) != 0) {
        return -1;
    }
    h = curl_easy_init();
    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    mg_es_decoder_free(&b->dec);
    memset(&b->dec, 0, sizeof(b->dec));
    b->stopped = 0;
    curl_easy_setopt(h, CURLOPT_URL, b->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, b->headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, b->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long) b->body_len);
    *easy = h;
    return 0;
}

/* Error codes of exceptions inside the stream. */
static int
mg_bedrock_exception_retryable(const char *type)
{
    return strcmp(type, "throttlingException") == 0
           || strcmp(type, "serviceUnavailableException") == 0
           || strcmp(type, "internalServerException") == 0;
}

static const char *
mg_bedrock_header_str(const mg_es_message_t *m, const char *name, char *buf, size_t cap)
{
    const mg_es_header_t *h = mg_es_header(m, name);
    size_t                len;

    if (h == NULL || h->type != MG_ES_STRING) {
        return NULL;
    }
    len = h->len < cap - 1 ? h->len : cap - 1;
    memcpy(buf, h->data, len);
    buf[len] = '\0';
    return buf;
}

static int
mg_bedrock_on_message(void *ctx, const mg_es_message_t *m)
{
    mg_stream_t   *s = ctx;
    mg_bedrock_t  *b = s->pdata;
    char           type[64], name[64];
    json_t        *v;
    int            rc = 0;

    if (mg_bedrock_header_str(m, ":message-type", type, sizeof(type)) == NULL) {
        mg_stream_fail(s, 0, "provider_error", "Bedrock sent a frame without a message type");
        return -1;
    }
    v = json_loadb((const char *) m->payload, m->payload_len, 0, NULL);

    if (strcmp(type, "exception") == 0 || strcmp(type, "error") == 0) {
        const char *what = mg_bedrock_header_str(m, strcmp(type, "error") == 0
                                                 ? ":error-code" : ":exception-type",
                                                 name, sizeof(name));
        const char *msg = json_string_value(json_object_get(v, "message"));

        what = what != NULL ? what : "unknown";
        mg_stream_fail(s, mg_bedrock_exception_retryable(what),
                       strcmp(what, "throttlingException") == 0 ? "provider_throttled"
                                                                : "provider_error",
                       "Bedrock %s: %s", what, msg != NULL ? msg : "no details");
        json_decref(v);
        return -1;
    }
    if (strcmp(type, "event") != 0
        || mg_bedrock_header_str(m, ":event-type", name, sizeof(name)) == NULL)
    {
        json_decref(v);
        return 0;                           /* nothing we act on */
    }
    if (strcmp(name, "contentBlockDelta") == 0) {
        json_t *delta = json_object_get(v, "delta");
        json_t *text = json_object_get(delta, "text");
        json_t *input = json_object_get(json_object_get(delta, "toolUse"), "input");

        if (json_is_string(text)) {
            rc = mg_stream_delta(s, json_string_value(text), json_string_length(text));
        } else if (json_is_string(input)) {
            rc = mg_agent_tool_input(s, (int) json_integer_value(
                                         json_object_get(v, "contentBlockIndex")),
                                     json_string_value(input), json_string_length(input));
        }
    } else if (strcmp(name, "contentBlockStart") == 0) {
        json_t *use = json_object_get(json_object_get(v, "start"), "toolUse");

        if (json_is_object(use)) {
            json_t *id = json_object_get(use, "toolUseId"), *nm = json_object_get(use, "name");

            rc = mg_agent_tool_begin(s, (int) json_integer_value(
                                         json_object_get(v, "contentBlockIndex")),
                                     json_string_value(id) ? json_string_value(id) : "",
                                     json_string_length(id),
                                     json_string_value(nm) ? json_string_value(nm) : "",
                                     json_string_length(nm));
        }
    } else if (strcmp(name, "messageStop") == 0) {
        const char *reason = json_string_value(json_object_get(v, "stopReason"));

        mg_stream_set_stop_reason(s, reason != NULL ? reason : "end_turn");
        b->stopped = 1;
    } else if (strcmp(name, "metadata") == 0) {
        json_t *u = json_object_get(v, "usage");

        if (json_is_object(u)) {
            mg_stream_set_usage(s, json_integer_value(json_object_get(u, "inputTokens")),
                                json_integer_value(json_object_get(u, "outputTokens")));
        }
    }
    json_decref(v);
    return rc;
}

static int
mg_bedrock_on_body(mg_stream_t *s, const char *data, size_t len)
{
    mg_bedrock_t  *b = s->pdata;
    const char    *err = NULL;

    if (mg_es_decoder_feed(&b->dec, data, len, mg_bedrock_on_message, s, &err) != 0) {
        if (!s->ended && !s->retry_wait) {
            mg_stream_fail(s, 0, "provider_error", "Bedrock sent a corrupted event stream (%s)",
                           err != NULL ? err : "bad frame");
        }
        return -1;
    }
    return 0;
}

static void
mg_bedrock_on_end(mg_stream_t *s)
{
    mg_bedrock_t *b = s->pdata;

    if (!b->stopped) {
        mg_stream_fail(s, 0, "provider_error", "Bedrock's answer was cut off");
        return;
    }
    mg_stream_complete(s);
}

static void
mg_bedrock_on_http_error(mg_stream_t *s, long status, const char *body, size_t len)
{
    mg_provider_http_fail(s, "Bedrock", status, body, len, NULL);
}

const mg_provider_t mg_provider_bedrock = {
    .name = "bedrock",
    .prepare = mg_bedrock_prepare,
    .start = mg_bedrock_start,
    .on_body = mg_bedrock_on_body,
    .on_end = mg_bedrock_on_end,
    .on_http_error = mg_bedrock_on_http_error,
    .add_tool_results = mg_bedrock_add_tool_results,
    .release = mg_bedrock_release,
};
