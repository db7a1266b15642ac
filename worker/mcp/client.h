/*
 * mg_mcp_client: a client of one MCP (Model Context Protocol) server, for
 * the worker's tool threads: blocking calls, each bounded by a timeout and
 * a cancel flag.  Speaks protocol version 2025-06-18 and accepts a server
 * that answers 2025-03-26; over Streamable HTTP (mcp/http.h) or stdio, a
 * child process (mcp/stdio.h).
 *
 * The session is begun lazily by the first call (initialize, then
 * notifications/initialized), once for all threads, and again when an
 * HTTP server has forgotten it (a 404: the request is then retried once)
 * or a stdio server was restarted.  A configuration problem (a bad header,
 * an empty command) is reported by every call, not by mg_mcp_client_new.
 */
#ifndef MG_MCP_CLIENT_H
#define MG_MCP_CLIENT_H

#include <stdatomic.h>
#include <stddef.h>

#include <jansson.h>

#include "util/sb.h"

#define MG_MCP_PROTOCOL_VERSION  "2025-06-18"
#define MG_MCP_TIMEOUT_DEFAULT   30000L     /* ms, for a timeout_ms of 0 or less */
#define MG_MCP_MAX_RESULT        (1024 * 1024)  /* for a max_result of 0 */
#define MG_MCP_LIST_PAGES_MAX    20
#define MG_MCP_LIST_TOOLS_MAX    1000

typedef enum { MG_MCP_HTTP = 1, MG_MCP_STDIO = 2 } mg_mcp_transport_t;

typedef struct {
    const char          *name;          /* for logs */
    mg_mcp_transport_t   transport;
    const char          *url;           /* HTTP: the MCP endpoint, e.g. http://host:3001/mcp */
    json_t              *headers;       /* HTTP: object of extra header name -> string (e.g. Authorization), or NULL */
    json_t              *command;       /* STDIO: array of strings, argv (argv[0] a path or a name looked up in PATH) */
    json_t              *env;           /* STDIO: object of extra environment name -> string, or NULL */
    size_t               max_result;    /* bytes of one response accepted (e.g. 1 MiB); larger is an error */
} mg_mcp_config_t;

typedef struct mg_mcp_client_s mg_mcp_client_t;

/* A client for one server; copies cfg; connects lazily (first call).
 * Thread-safe: several tool threads may call at once (HTTP: concurrent
 * requests on the same session; STDIO: one child process per client,
 * requests multiplexed by JSON-RPC id, one reader thread).  NULL when out
 * of memory. */
mg_mcp_client_t *mg_mcp_client_new(const mg_mcp_config_t *cfg);

/* Close: HTTP stops listening on the server's stream (within 100 ms),
 * sends DELETE for the session (best effort, short timeout);
 * STDIO closes the child's stdin, waits briefly, then SIGTERM/SIGKILL,
 * joins the reader.  No call may be running.  NULL is ignored. */
void mg_mcp_client_free(mg_mcp_client_t *c);

/* tools/list, following nextCursor (at most 20 pages, at most 1000 tools;
 * more is logged and left out): *tools gets a new array of the server's
 * tool objects as sent ({name, description?, inputSchema, ...}).  0, or -1
 * with a reason for an administrator in err (and *tools NULL). */
int mg_mcp_list_tools(mg_mcp_client_t *c, long timeout_ms, json_t **tools,
                      char *err, size_t errlen);

/* tools/call name with arguments (an object; NULL sends {}).  0 with the
 * result's text appended to out (mcp/content.h: every "text" content item,
 * other items summarised like "[image: image/png, 1234 bytes]", "[resource:
 * uri]", joined by "\n"; structuredContent, when present and no text, as
 * compact JSON) and *is_error set from result.isError; -1 with a reason in
 * err for a protocol-level failure: timeout, cancelled, server
 * down/unreachable, HTTP error status, malformed JSON-RPC, a JSON-RPC
 * error object (its message), a response over max_result.  cancel (may be
 * NULL) is polled at least every 100 ms: when it becomes non-zero, or at
 * the timeout, the client sends notifications/cancelled {requestId,
 * reason} and returns -1 promptly. */
int mg_mcp_call_tool(mg_mcp_client_t *c, const char *name, json_t *arguments, long timeout_ms,
                     const atomic_int *cancel, mg_sb_t *out, int *is_error,
                     char *err, size_t errlen);

/* Incremented whenever the server sent notifications/tools/list_changed
 * (on the stdio stream, inside an HTTP answer, or on the HTTP server's own
 * stream, which an HTTP client listens on from its first session), or may
 * have sent it unheard, so the caller knows to list again. */
unsigned mg_mcp_tools_generation(mg_mcp_client_t *c);

/* The protocol version agreed with the server, "" before the first
 * session: for logs and tests. */
void mg_mcp_client_version(mg_mcp_client_t *c, char *out, size_t outlen);

#endif
