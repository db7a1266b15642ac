/*
 * mg_toolcalls: owns the gathering of one step's tool calls (toolcalls.h).
 * Calls are kept in the order they opened; the provider's index finds
 * them again.
 */
#include "agents/toolcalls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
mg_toolcalls_clear(mg_toolcalls_t *tc)
{
    for (size_t i = 0; i < tc->n; i++) {
        free(mg_sb_done(&tc->calls[i].input_text));
        json_decref(tc->calls[i].input);
    }
    memset(tc, 0, sizeof(*tc));
}

static mg_toolcall_t *
mg_toolcalls_at(mg_toolcalls_t *tc, int index)
{
    for (size_t i = 0; i < tc->n; i++) {
        if (tc->calls[i].index == index) {
            return &tc->calls[i];
        }
    }
    return NULL;
}

/* Tool names and call ids reach a provider's next request and our logs:
 * plain characters only. */
static int
mg_toolcalls_token_ok(const char *s, size_t len, size_t max)
{
    if (len > max) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '_' || c == '-' || c == '.' || c == ':'))
        {
            return 0;
        }
    }
    return 1;
}

int
mg_toolcalls_begin(mg_toolcalls_t *tc, int index, const char *id, size_t id_len,
                   const char *name, size_t name_len, char *err, size_t errlen)
{
    mg_toolcall_t *c;

    if (!mg_toolcalls_token_ok(id, id_len, MG_TOOLCALL_ID_MAX)
        || !mg_toolcalls_token_ok(name, name_len, MG_TOOLCALL_NAME_MAX))
    {
        snprintf(err, errlen, "the model asked for a tool with an unusable id or name");
        return -1;
    }
    c = mg_toolcalls_at(tc, index);
    if (c == NULL) {
        if (tc->n == MG_TOOLCALLS_MAX) {
            snprintf(err, errlen, "the model asked for more than %d tools at once",
                     MG_TOOLCALLS_MAX);
            return -1;
        }
        c = &tc->calls[tc->n++];
        memset(c, 0, sizeof(*c));
        c->index = index;
    }
    if (id_len > 0) {
        memcpy(c->id, id, id_len);
        c->id[id_len] = '\0';
    }
    if (name_len > 0) {
        memcpy(c->name, name, name_len);
        c->name[name_len] = '\0';
    }
    return 0;
}

int
mg_toolcalls_input(mg_toolcalls_t *tc, int index, const char *piece, size_t len,
                   char *err, size_t errlen)
{
    mg_toolcall_t *c = mg_toolcalls_at(tc, index);

    if (c == NULL) {
        snprintf(err, errlen, "tool input for a call that was never opened (block %d)", index);
        return -1;
    }
    if (c->input_text.len + len > MG_TOOLCALL_INPUT_MAX) {
        snprintf(err, errlen, "the input of tool %s is larger than %d bytes",
                 c->name[0] ? c->name : "(unnamed)", MG_TOOLCALL_INPUT_MAX);
        return -1;
    }
    mg_sb_add(&c->input_text, piece, len);
    if (c->input_text.oom) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int
mg_toolcalls_finish(mg_toolcalls_t *tc, char *err, size_t errlen)
{
    json_error_t  jerr;

    for (size_t i = 0; i < tc->n; i++) {
        mg_toolcall_t *c = &tc->calls[i];

        if (c->id[0] == '\0' || c->name[0] == '\0') {
            snprintf(err, errlen, "the model asked for a tool without %s",
                     c->id[0] == '\0' ? "an id" : "a name");
            return -1;
        }
        json_decref(c->input);
        c->input_error[0] = '\0';
        c->input = c->input_text.len == 0
                   ? json_object()
                   : json_loadb(c->input_text.p, c->input_text.len, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(c->input)) {
            json_decref(c->input);
            c->input = json_object();
            snprintf(c->input_error, sizeof(c->input_error), "the input is not a JSON object");
            if (c->input == NULL) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        }
    }
    return 0;
}
