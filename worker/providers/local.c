/*
 * local: the offline responder, Mangoo's default model.  It needs no
 * network and no weights: it says plainly that it is the offline model and
 * reflects the question (or, in a grounded turn, quotes the retrieved
 * sources with their [n], knowledge/rag.c), streamed piece by piece through the same engine
 * path as the real providers (with $MANGOO_LOCAL_DELAY_MS between pieces),
 * honouring the bot's max_tokens.  Usage is counted in pieces (output) and
 * estimated tokens (input).
 *
 * An agent's turn: the offline model cannot reason, and does not pretend
 * to.  It calls a tool only when the message names one of the agent's
 * plainly ("calculator: 2*(3+4)"): one step says so and asks for the
 * tool, the next reports the result as it is.  Otherwise it answers as
 * above and says how to name a tool.
 */
#include "providers/provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agents/loop.h"
#include "providers/config.h"
#include "util/utf8.h"
#include "knowledge/rag.h"

#define MG_LOCAL_QUOTE_MAX 400      /* bytes of the question quoted back */

typedef struct {
    char                 *answer;
    size_t                len, pos;
    long                  pieces, max_pieces;
    long long             input_tokens;
    const mg_tool_def_t  *tool;         /* the tool the message names, or NULL */
    json_t               *tool_input;   /* its input, owned */
    int                   tool_asked;   /* this step ends asking for it */
} mg_local_t;

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

/* The input of a call naming tool with arg: arg as the schema's first
 * required property (else its first property); {} for no arg. */
static json_t *
mg_local_tool_input(const mg_tool_def_t *tool, const char *arg, size_t len)
{
    json_t      *schema = json_loads(tool->input_schema, 0, NULL), *input = json_object();
    const char  *key = json_string_value(json_array_get(json_object_get(schema, "required"), 0));

    if (key == NULL) {
        void *it = json_object_iter(json_object_get(schema, "properties"));

        key = it != NULL ? json_object_iter_key(it) : NULL;
    }
    if (input != NULL && key != NULL && len > 0) {
        json_object_set_new(input, key, json_stringn(arg, len));
    }
    json_decref(schema);
    return input;
}

/* "name: argument" naming one of the tools, or NULL. */
static const mg_tool_def_t *
mg_local_named_tool(const mg_chat_request_t *req, const mg_chat_turn_t *last, const char **arg,
                    size_t *arg_len)
{
    const char  *p = last->text, *end = last->text + last->len, *name;
    size_t       nlen;

    while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')) {
        p++;
    }
    name = p;
    while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_'
                       || (*p >= '0' && *p <= '9') || *p == '-'))
    {
        p++;
    }
    nlen = (size_t) (p - name);
    while (p < end && *p == ' ') {
        p++;
    }
    if (nlen == 0 || p == end || *p != ':') {
        return NULL;
    }
    for (p++; p < end && (*p == ' ' || *p == '\t'); p++) {
    }
    while (end > p && (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\t' || end[-1] == '\r')) {
        end--;
    }
    for (size_t i = 0; i < req->ntools; i++) {
        if (strlen(req->tools[i]->name) == nlen && memcmp(req->tools[i]->name, name, nlen) == 0) {
            *arg = p;
            *arg_len = (size_t) (end - p);
            return req->tools[i];
        }
    }
    return NULL;
}

/* The answer when tools are offered and none is named: say which exist. */
static char *
mg_local_tools_hint(char *answer, const mg_chat_request_t *req)
{
    mg_sb_t b = { 0 };

    mg_sb_adds(&b, answer);
    mg_sb_adds(&b, " This agent can use these tools: ");
    for (size_t i = 0; i < req->ntools; i++) {
        mg_sb_adds(&b, i ? ", " : "");
        mg_sb_adds(&b, req->tools[i]->name);
    }
    mg_sb_adds(&b, ". The offline model calls one only when your message names it, for example "
               "\"");
    mg_sb_adds(&b, req->tools[0]->name);
    mg_sb_adds(&b, ": ...\".");
    free(answer);
    return mg_sb_done(&b);
}

static int
mg_local_prepare(mg_stream_t *s, const mg_chat_request_t *req, char *err, size_t errlen)
{
    const mg_chat_turn_t  *last = &req->turns[req->nturns - 1];
    mg_local_t            *l;
    size_t                 in_bytes = strlen(req->system);

    const char            *arg = NULL;
    size_t                 arg_len = 0;

    l = calloc(1, sizeof(*l));
    if (l != NULL && req->ntools > 0) {
        l->tool = mg_local_named_tool(req, last, &arg, &arg_len);
    }
    if (l != NULL && l->tool != NULL) {
        char said[160];

        snprintf(said, sizeof(said), "Calling the %s tool, as your message asks.", l->tool->name);
        l->answer = strdup(said);
        l->tool_input = mg_local_tool_input(l->tool, arg, arg_len);
        l->tool_asked = 1;
    } else if (l != NULL) {
        /* a grounded turn quotes its sources, or says the documents have
         * nothing (knowledge/rag.c) */
        l->answer = req->grounded
                    ? mg_rag_extractive(last->text, last->len, req->sources, req->nsources)
                    : mg_local_reflect(last);
        if (l->answer != NULL && req->ntools > 0) {
            l->answer = mg_local_tools_hint(l->answer, req);
        }
    }
    if (l == NULL || l->answer == NULL || (l->tool != NULL && l->tool_input == NULL)) {
        if (l != NULL) {
            free(l->answer);
            json_decref(l->tool_input);
        }
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
    if (l->pos == l->len && l->tool_asked) {
        char *input = json_dumps(l->tool_input, JSON_COMPACT);

        l->tool_asked = 0;
        if (input == NULL) {
            mg_stream_fail(s, 0, "internal", "out of memory");
            return;
        }
        if (mg_agent_tool_begin(s, 0, "local_1", 7, l->tool->name, strlen(l->tool->name)) != 0
            || mg_agent_tool_input(s, 0, input, strlen(input)) != 0)
        {
            free(input);
            return;
        }
        free(input);
        mg_stream_set_stop_reason(s, "tool_use");
        mg_stream_complete(s);
        return;
    }
    mg_stream_set_stop_reason(s, l->pos < l->len ? "max_tokens" : "end_turn");
    mg_stream_complete(s);
}

/* The tool's result, reported as it is: the offline model cannot reason
 * about it. */
static int
mg_local_add_tool_results(mg_stream_t *s, const char *text, size_t len,
                          const mg_tool_exchange_t *x, size_t n, char *err, size_t errlen)
{
    mg_local_t  *l = s->pdata;
    mg_sb_t      b = { 0 };

    for (size_t i = 0; i < n; i++) {
        mg_sb_adds(&b, i ? "\n\n" : "");
        mg_sb_adds(&b, x[i].name);
        mg_sb_adds(&b, x[i].ok ? " returned: " : " failed: ");
        mg_sb_adds(&b, x[i].output);
    }
    mg_sb_adds(&b, "\n\nThis is Mangoo's offline model: it cannot reason, so it ran the tool your "
               "message named and shows the result as it is.");
    free(l->answer);
    l->answer = mg_sb_done(&b);
    if (l->answer == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    l->len = strlen(l->answer);
    l->pos = 0;
    l->pieces = 0;
    return 0;
}

static void
mg_local_release(mg_stream_t *s)
{
    mg_local_t *l = s->pdata;

    if (l != NULL) {
        free(l->answer);
        json_decref(l->tool_input);
        free(l);
        s->pdata = NULL;
    }
}

const mg_provider_t mg_provider_local = {
    .name = "local",
    .prepare = mg_local_prepare,
    .start = mg_local_start,
    .on_timer = mg_local_on_timer,
    .add_tool_results = mg_local_add_tool_results,
    .release = mg_local_release,
};
