/*
 * mg_mcp_rpc: JSON-RPC 2.0 messages (rpc.h).  Compact JSON never contains
 * a raw newline (jansson escapes them in strings), which the stdio
 * transport relies on: one message, one line.
 */
#include "mcp/rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/errf.h"

static char *
mg_rpc_dump(json_t *msg)
{
    char *text = NULL;

    if (msg != NULL) {
        text = json_dumps(msg, JSON_COMPACT);
        json_decref(msg);
    }
    return text;
}

static json_t *
mg_rpc_base(void)
{
    json_t *msg = json_object();

    if (msg != NULL && json_object_set_new(msg, "jsonrpc", json_string("2.0")) != 0) {
        json_decref(msg);
        return NULL;
    }
    return msg;
}

char *
mg_rpc_request(long long id, const char *method, json_t *params)
{
    json_t *msg = mg_rpc_base();

    if (msg == NULL
        || json_object_set_new(msg, "id", json_integer((json_int_t) id)) != 0
        || json_object_set_new(msg, "method", json_string(method)) != 0
        || (params != NULL && json_object_set(msg, "params", params) != 0))
    {
        json_decref(msg);
        return NULL;
    }
    return mg_rpc_dump(msg);
}

char *
mg_rpc_notification(const char *method, json_t *params)
{
    json_t *msg = mg_rpc_base();

    if (msg == NULL
        || json_object_set_new(msg, "method", json_string(method)) != 0
        || (params != NULL && json_object_set(msg, "params", params) != 0))
    {
        json_decref(msg);
        return NULL;
    }
    return mg_rpc_dump(msg);
}

char *
mg_rpc_reply(json_t *id, json_t *result, int code, const char *message)
{
    json_t *msg = mg_rpc_base();

    if (msg == NULL || json_object_set(msg, "id", id != NULL ? id : json_null()) != 0) {
        json_decref(msg);
        return NULL;
    }
    if (result != NULL) {
        if (json_object_set(msg, "result", result) != 0) {
            json_decref(msg);
            return NULL;
        }
    } else if (json_object_set_new(msg, "error", json_pack("{s:i, s:s}", "code", code,
                                                           "message", message)) != 0)
    {
        json_decref(msg);
        return NULL;
    }
    return mg_rpc_dump(msg);
}

json_t *
mg_rpc_parse(const char *text, size_t len, char *err, size_t errlen)
{
    json_error_t   je;
    json_t        *v = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);

    if (v == NULL) {
        mg_errf(err, errlen, "not JSON (%s at character %d)", je.text, je.position);
        return NULL;
    }
    if (!json_is_object(v) && !json_is_array(v)) {
        json_decref(v);
        mg_errf(err, errlen, "not a JSON-RPC message (neither an object nor an array)");
        return NULL;
    }
    return v;
}

/* JSON-RPC ids are strings or numbers (null only in an error response). */
static int
mg_rpc_id_ok(json_t *id)
{
    return json_is_string(id) || json_is_integer(id) || json_is_real(id);
}

mg_rpc_kind_t
mg_rpc_classify(json_t *msg, char *err, size_t errlen)
{
    json_t  *id, *method, *result, *error;

    if (!json_is_object(msg)) {
        mg_errf(err, errlen, "not a JSON-RPC message (not an object)");
        return MG_RPC_INVALID;
    }
    if (!json_is_string(json_object_get(msg, "jsonrpc"))
        || strcmp(json_string_value(json_object_get(msg, "jsonrpc")), "2.0") != 0)
    {
        mg_errf(err, errlen, "not a JSON-RPC 2.0 message (\"jsonrpc\" is not \"2.0\")");
        return MG_RPC_INVALID;
    }
    id = json_object_get(msg, "id");
    method = json_object_get(msg, "method");
    result = json_object_get(msg, "result");
    error = json_object_get(msg, "error");

    if (method != NULL) {
        if (!json_is_string(method) || json_string_length(method) == 0) {
            mg_errf(err, errlen, "a JSON-RPC message whose method is not a string");
            return MG_RPC_INVALID;
        }
        if (result != NULL || error != NULL) {
            mg_errf(err, errlen, "a JSON-RPC message with both a method and a result or error");
            return MG_RPC_INVALID;
        }
        if (id == NULL) {
            return MG_RPC_NOTIFICATION;
        }
        if (!mg_rpc_id_ok(id)) {
            mg_errf(err, errlen, "a JSON-RPC request whose id is neither a string nor a number");
            return MG_RPC_INVALID;
        }
        return MG_RPC_REQUEST;
    }

    if (id == NULL) {
        mg_errf(err, errlen, "a JSON-RPC message with neither a method nor an id");
        return MG_RPC_INVALID;
    }
    if (result != NULL && error != NULL) {
        mg_errf(err, errlen, "a JSON-RPC response with both a result and an error");
        return MG_RPC_INVALID;
    }
    if (result == NULL && error == NULL) {
        mg_errf(err, errlen, "a JSON-RPC response with neither a result nor an error");
        return MG_RPC_INVALID;
    }
    if (error != NULL) {
        if (!json_is_object(error)) {
            mg_errf(err, errlen, "a JSON-RPC error that is not an object");
            return MG_RPC_INVALID;
        }
        if (!mg_rpc_id_ok(id) && !json_is_null(id)) {
            mg_errf(err, errlen, "a JSON-RPC response whose id is neither a string nor a number");
            return MG_RPC_INVALID;
        }
        return MG_RPC_ERROR;
    }
    if (!mg_rpc_id_ok(id)) {
        mg_errf(err, errlen, "a JSON-RPC response whose id is neither a string nor a number");
        return MG_RPC_INVALID;
    }
    return MG_RPC_RESULT;
}

int
mg_rpc_int_id(json_t *msg, long long *id)
{
    json_t *v = json_object_get(msg, "id");

    if (!json_is_integer(v)) {
        return 0;
    }
    *id = (long long) json_integer_value(v);
    return 1;
}

int
mg_rpc_is_method(json_t *msg, const char *method)
{
    json_t *m = json_object_get(msg, "method");

    return json_is_string(m) && strcmp(json_string_value(m), method) == 0;
}

/* "<message> (code N)" of an error object, cut to fit. */
static void
mg_rpc_error_text(json_t *error, char *err, size_t errlen)
{
    json_t      *code = json_object_get(error, "code");
    json_t      *message = json_object_get(error, "message");
    const char  *m = json_is_string(message) ? json_string_value(message) : "no message";

    if (json_is_integer(code)) {
        mg_errf(err, errlen, "%.400s (code %lld)", m, (long long) json_integer_value(code));
    } else {
        mg_errf(err, errlen, "%.400s", m);
    }
}

int
mg_rpc_result(json_t *resp, long long id, json_t **result, int *rpc_error,
              char *err, size_t errlen)
{
    char            why[160];
    mg_rpc_kind_t   kind = mg_rpc_classify(resp, why, sizeof(why));
    long long       got;

    *result = NULL;
    *rpc_error = 0;
    if (kind != MG_RPC_RESULT && kind != MG_RPC_ERROR) {
        mg_errf(err, errlen, "%s",
                kind == MG_RPC_INVALID ? why : "a request or notification instead of a response");
        return -1;
    }
    /* an error with a null id: the server could not read our request */
    if (!(kind == MG_RPC_ERROR && json_is_null(json_object_get(resp, "id")))
        && (!mg_rpc_int_id(resp, &got) || got != id))
    {
        char *shown = json_dumps(json_object_get(resp, "id"), JSON_ENCODE_ANY | JSON_COMPACT);

        mg_errf(err, errlen, "a response to another request (id %.40s, expected %lld)",
                shown != NULL ? shown : "?", id);
        free(shown);
        return -1;
    }
    if (kind == MG_RPC_ERROR) {
        *rpc_error = 1;
        mg_rpc_error_text(json_object_get(resp, "error"), err, errlen);
        return -1;
    }
    *result = json_object_get(resp, "result");
    return 0;
}
