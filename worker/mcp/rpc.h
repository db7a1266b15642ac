/*
 * mg_mcp_rpc: JSON-RPC 2.0 as MCP uses it: our requests and notifications
 * as text, and what a server sends sorted into requests, notifications and
 * responses.  Pure: no I/O and no state, so both transports (and the unit
 * test) share it.
 */
#ifndef MG_MCP_RPC_H
#define MG_MCP_RPC_H

#include <stddef.h>

#include <jansson.h>

typedef enum {
    MG_RPC_INVALID = 0,         /* not a JSON-RPC 2.0 message */
    MG_RPC_REQUEST,             /* method and id: the server asks us something */
    MG_RPC_NOTIFICATION,        /* method, no id */
    MG_RPC_RESULT,              /* id and result */
    MG_RPC_ERROR                /* id (null when the server could not tell) and error */
} mg_rpc_kind_t;

/* {"jsonrpc":"2.0","id":id,"method":method,"params":params} as compact
 * JSON, params (borrowed) left out when NULL.  malloc'd; NULL when out of
 * memory.  mg_rpc_notification: the same without an id. */
char *mg_rpc_request(long long id, const char *method, json_t *params);
char *mg_rpc_notification(const char *method, json_t *params);

/* A response to a server's request: result (borrowed) when not NULL, else
 * the error {code, message}.  id is the request's, borrowed. */
char *mg_rpc_reply(json_t *id, json_t *result, int code, const char *message);

/* One message or a batch (an array of messages) from text; NULL with why
 * in err when it is not JSON or neither an object nor an array. */
json_t *mg_rpc_parse(const char *text, size_t len, char *err, size_t errlen);

/* What msg is; for MG_RPC_INVALID, why in err. */
mg_rpc_kind_t mg_rpc_classify(json_t *msg, char *err, size_t errlen);

/* msg's id when it is an integer (ours always are): 1 and *id, else 0. */
int mg_rpc_int_id(json_t *msg, long long *id);

/* msg is the notification method (any kind check left to the caller). */
int mg_rpc_is_method(json_t *msg, const char *method);

/* Is resp the answer to our request id?  0 and *result (a reference into
 * resp), or -1 with why in err: not JSON-RPC, another id, or an error
 * object (then *rpc_error is 1 and err is "<message> (code N)"). */
int mg_rpc_result(json_t *resp, long long id, json_t **result, int *rpc_error,
                  char *err, size_t errlen);

#endif
