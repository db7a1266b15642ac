/*
 * openai: any OpenAI-compatible /chat/completions server (OpenAI, vLLM,
 * llama.cpp's server, Ollama), streamed as Server-Sent Events:
 *   data: {"choices":[{"delta":{"content":"..."},"finish_reason":null}]}
 *   data: {"choices":[],"usage":{"prompt_tokens":n,"completion_tokens":n}}
 *   data: [DONE]
 * Lines are reassembled across reads; an answer that ends without [DONE]
 * or a finish_reason was cut off and is an error.
 */
#include "providers/provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agents/loop.h"
#include "providers/config.h"

#define MG_OPENAI_LINE_MAX (1024 * 1024)

typedef struct {
    char                *url;
    json_t              *req;           /* the body, kept: an agent's steps grow it */
    char                *body;
    struct curl_slist   *headers;
    char                *line;          /* a partial line carried between reads */
    size_t               line_len, line_cap;
    int                  finished;      /* finish_reason or [DONE] seen */
} mg_openai_t;

static void
mg_openai_release(mg_stream_t *s)
{
    mg_openai_t *o = s->pdata;

    if (o == NULL) {
        return;
    }
    free(o->url);
    json_decref(o->req);
    free(o->body);
    free(o->line);
    curl_slist_free_all(o->headers);
    free(o);
    s->pdata = NULL;
}

static json_t *
mg_openai_body(const mg_chat_request_t *req)
{
    json_t *msgs = json_array(), *body;

    if (req->system[0] != '\0') {
        json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system",
                                              "content", req->system));
    }
    for (size_t i = 0; i < req->nturns; i++) {
        json_array_append_new(msgs, json_pack("{s:s, s:s%}", "role", req->turns[i].role,
                                              "content", req->turns[i].text,
                                              req->turns[i].len));
    }
    body = json_pack("{s:s, s:o, s:b, s:{s:b}, s:f, s:i}", "model", req->model,
                     "messages", msgs, "stream", 1, "stream_options", "include_usage", 1,
                     "temperature", req->temperature, "max_tokens", req->max_tokens);
    if (body != NULL && req->ntools > 0) {
        json_t *tools = json_array();

        for (size_t i = 0; i < req->ntools; i++) {
            json_array_append_new(tools, json_pack("{s:s, s:{s:s, s:s, s:o}}", "type", "function",
                                                   "function", "name", req->tools[i]->name,
                                                   "description", req->tools[i]->description,
                                                   "parameters",
                                                   json_loads(req->tools[i]->input_schema, 0,
                                                              NULL)));
        }
        json_object_set_new(body, "tools", tools);
    }
    return body;
}

/* The step as the assistant's message with its tool_calls, then one tool
 * message per result, as the chat completions API wants them. */
static int
mg_openai_add_tool_results(mg_stream_t *s, const char *text, size_t len,
                           const mg_tool_exchange_t *x, size_t n, char *err, size_t errlen)
{
    mg_openai_t  *o = s->pdata;
    json_t       *msgs = json_object_get(o->req, "messages"), *calls = json_array(), *said;
    int           bad = 0;

    for (size_t i = 0; i < n; i++) {
        char *args = json_dumps(x[i].input, JSON_COMPACT);

        bad |= args == NULL
               || json_array_append_new(calls, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", x[i].id,
                                                         "type", "function", "function",
                                                         "name", x[i].name,
                                                         "arguments", args ? args : "")) != 0;
        free(args);
    }
    said = json_pack("{s:s, s:o, s:o}", "role", "assistant",
                     "content", len > 0 ? json_stringn(text, len) : json_null(),
                     "tool_calls", calls);
    bad |= json_array_append_new(msgs, said) != 0;
    for (size_t i = 0; i < n; i++) {
        char failed[600];

        /* a failure carries its reason, not only that it failed */
        snprintf(failed, sizeof(failed), "error: %s", x[i].output);
        bad |= json_array_append_new(msgs, json_pack("{s:s, s:s, s:s}", "role", "tool",
                                                     "tool_call_id", x[i].id, "content",
                                                     x[i].ok ? x[i].output : failed)) != 0;
    }
    free(o->body);
    o->body = bad ? NULL : json_dumps(o->req, JSON_COMPACT);
    if (o->body == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int
mg_openai_prepare(mg_stream_t *s, const mg_chat_request_t *req, char *err, size_t errlen)
{
    mg_providers_config_t  *c = &mg_providers_cfg;
    mg_openai_t            *o;
    json_t                 *body;
    char                    auth[1024];
    size_t                  blen = strlen(c->openai_base_url);

    o = calloc(1, sizeof(*o));
    if (o == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->pdata = o;
    o->url = malloc(blen + sizeof("/chat/completions"));
    body = mg_openai_body(req);
    if (o->url == NULL || body == NULL) {
        json_decref(body);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* the base URL names the API root, e.g. http://host:8000/v1 */
    while (blen > 0 && c->openai_base_url[blen - 1] == '/') {
        blen--;
    }
    memcpy(o->url, c->openai_base_url, blen);
    strcpy(o->url + blen, "/chat/completions");
    o->body = json_dumps(body, JSON_COMPACT);
    if (req->ntools > 0) {
        o->req = body;                      /* the next steps add to it */
    } else {
        json_decref(body);
    }

    o->headers = curl_slist_append(NULL, "Content-Type: application/json");
    o->headers = curl_slist_append(o->headers, "Accept: text/event-stream");
    o->headers = curl_slist_append(o->headers, "Expect:");
    /* one id follows the request everywhere: the provider may log it */
    snprintf(auth, sizeof(auth), "X-Request-Id: %s", s->rid);
    o->headers = curl_slist_append(o->headers, auth);
    if (c->openai_api_key != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->openai_api_key);
        o->headers = curl_slist_append(o->headers, auth);
    }
    if (o->body == NULL || o->headers == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int
mg_openai_start(mg_stream_t *s, CURL **easy, char *err, size_t errlen)
{
    mg_openai_t  *o = s->pdata;
    CURL         *h = curl_easy_init();

    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    o->line_len = 0;
    o->finished = 0;
    curl_easy_setopt(h, CURLOPT_URL, o->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, o->headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, o->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long) strlen(o->body));
    *easy = h;
    return 0;
}

static const char *
mg_openai_stop_reason(const char *finish)
{
    if (strcmp(finish, "stop") == 0) {
        return "end_turn";
    }
    if (strcmp(finish, "length") == 0) {
        return "max_tokens";
    }
    if (strcmp(finish, "tool_calls") == 0) {
        return "tool_use";                  /* one name for both providers */
    }
    return finish;
}

/* delta.tool_calls: pieces of the calls, by index, the id and name first. */
static int
mg_openai_tool_deltas(mg_stream_t *s, json_t *calls)
{
    size_t   i;
    json_t  *c;

    json_array_foreach(calls, i, c) {
        json_t  *fn = json_object_get(c, "function");
        json_t  *id = json_object_get(c, "id"), *name = json_object_get(fn, "name");
        json_t  *args = json_object_get(fn, "arguments");
        int      index = (int) json_integer_value(json_object_get(c, "index"));

        if (mg_agent_tool_begin(s, index, json_string_value(id) ? json_string_value(id) : "",
                                json_string_length(id),
                                json_string_value(name) ? json_string_value(name) : "",
                                json_string_length(name)) != 0
            || (json_string_length(args) > 0
                && mg_agent_tool_input(s, index, json_string_value(args),
                                       json_string_length(args)) != 0))
        {
            return -1;
        }
    }
    return 0;
}

/* One "data:" payload.  0, or -1 after failing the stream. */
static int
mg_openai_event(mg_stream_t *s, mg_openai_t *o, const char *data, size_t len)
{
    json_t        *ev, *choice, *usage, *error, *calls;
    json_error_t   jerr;
    const char    *content, *finish;
    int            rc = 0;

    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        o->finished = 1;
        return 0;
    }
    ev = json_loadb(data, len, 0, &jerr);
    if (!json_is_object(ev)) {
        json_decref(ev);
        mg_stream_fail(s, 0, "provider_error", "openai sent an event that is not JSON");
        return -1;
    }
    error = json_object_get(ev, "error");
    if (error != NULL) {
        const char *m = json_string_value(json_object_get(error, "message"));

        mg_stream_fail(s, 0, "provider_error", "openai failed: %s", m ? m : "unknown error");
        json_decref(ev);
        return -1;
    }
    choice = json_array_get(json_object_get(ev, "choices"), 0);
    content = json_string_value(json_object_get(json_object_get(choice, "delta"), "content"));
    if (content != NULL) {
        rc = mg_stream_delta(s, content, json_string_length(
                                 json_object_get(json_object_get(choice, "delta"), "content")));
    }
    calls = json_object_get(json_object_get(choice, "delta"), "tool_calls");
    if (rc == 0 && json_array_size(calls) > 0) {
        rc = mg_openai_tool_deltas(s, calls);
    }
    finish = json_string_value(json_object_get(choice, "finish_reason"));
    if (finish != NULL) {
        mg_stream_set_stop_reason(s, mg_openai_stop_reason(finish));
        o->finished = 1;
    }
    usage = json_object_get(ev, "usage");
    if (json_is_object(usage)) {
        mg_stream_set_usage(s, json_integer_value(json_object_get(usage, "prompt_tokens")),
                            json_integer_value(json_object_get(usage, "completion_tokens")));
    }
    json_decref(ev);
    return rc;
}

static int
mg_openai_line(mg_stream_t *s, mg_openai_t *o, const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r') {
        len--;
    }
    if (len < 5 || memcmp(line, "data:", 5) != 0) {
        return 0;                           /* blank lines, comments, other fields */
    }
    line += 5;
    len -= 5;
    if (len > 0 && *line == ' ') {
        line++;
        len--;
    }
    return mg_openai_event(s, o, line, len);
}

static int
mg_openai_on_body(mg_stream_t *s, const char *data, size_t len)
{
    mg_openai_t  *o = s->pdata;
    const char   *end = data + len, *nl;

    while (data < end && (nl = memchr(data, '\n', (size_t) (end - data))) != NULL) {
        int rc;

        if (o->line_len > 0) {
            size_t  add = (size_t) (nl - data);
            char   *t;

            if (o->line_len + add > o->line_cap) {
                t = realloc(o->line, o->line_len + add);
                if (t == NULL) {
                    mg_stream_fail(s, 0, "internal", "out of memory");
                    return -1;
                }
                o->line = t;
                o->line_cap = o->line_len + add;
            }
            memcpy(o->line + o->line_len, data, add);
            rc = mg_openai_line(s, o, o->line, o->line_len + add);
            o->line_len = 0;
        } else {
            rc = mg_openai_line(s, o, data, (size_t) (nl - data));
        }
        if (rc != 0) {
            return -1;
        }
        data = nl + 1;
    }
    if (data < end) {
        size_t rest = (size_t) (end - data);

        if (o->line_len + rest > MG_OPENAI_LINE_MAX) {
            mg_stream_fail(s, 0, "provider_error", "openai sent a line over %d bytes",
                           MG_OPENAI_LINE_MAX);
            return -1;
        }
        if (o->line_len + rest > o->line_cap) {
            size_t  cap = (o->line_len + rest) * 2;
            char   *t = realloc(o->line, cap);

            if (t == NULL) {
                mg_stream_fail(s, 0, "internal", "out of memory");
                return -1;
            }
            o->line = t;
            o->line_cap = cap;
        }
        memcpy(o->line + o->line_len, data, rest);
        o->line_len += rest;
    }
    return 0;
}

static void
mg_openai_on_end(mg_stream_t *s)
{
    mg_openai_t *o = s->pdata;

    if (o->line_len > 0 && mg_openai_line(s, o, o->line, o->line_len) != 0) {
        return;
    }
    if (!o->finished) {
        mg_stream_fail(s, 0, "provider_error", "openai's answer was cut off");
        return;
    }
    mg_stream_complete(s);
}

static void
mg_openai_on_http_error(mg_stream_t *s, long status, const char *body, size_t len)
{
    mg_provider_http_fail(s, "openai", status, body, len, "error");
}

const mg_provider_t mg_provider_openai = {
    .name = "openai",
    .prepare = mg_openai_prepare,
    .start = mg_openai_start,
    .on_body = mg_openai_on_body,
    .on_end = mg_openai_on_end,
    .on_http_error = mg_openai_on_http_error,
    .add_tool_results = mg_openai_add_tool_results,
    .release = mg_openai_release,
};
