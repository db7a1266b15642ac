/*
 * mg_mcp_http: the Streamable HTTP transport of MCP (2025-03-26 and
 * 2025-06-18): one POST per JSON-RPC message to the server's endpoint,
 * answered by one JSON message or by an event stream whose events carry
 * the server's messages, our response among them; and the server's own
 * stream, a GET, for what it sends unasked.  Stateless apart from
 * its settings: the session (Mcp-Session-Id, MCP-Protocol-Version) is the
 * caller's, passed to each call, so concurrent calls share nothing here.
 * Each call has its own libcurl handles and runs on the calling thread.
 */
#ifndef MG_MCP_HTTP_H
#define MG_MCP_HTTP_H

#include <stdatomic.h>
#include <stddef.h>

#include <jansson.h>

#include "mcp/sse.h"
#include "mcp/wait.h"

typedef struct mg_mcp_http_s mg_mcp_http_t;

/* Where an event stream was left, for resuming it. */
typedef struct {
    char  last_id[MG_SSE_ID_MAX];   /* "": no id seen, it cannot be resumed */
    long  retry_ms;                 /* the server's retry; -1: none given */
} mg_mcp_resume_t;

/* The transport to one endpoint.  name and url are borrowed and must
 * outlive it; headers (an object of name -> string, or NULL) is copied;
 * tools_gen is incremented on notifications/tools/list_changed.  NULL with
 * why in err: a header that is not a string, has a line break or is one
 * the transport sets itself; out of memory.  MANGOO_CA_FILE, when set, is
 * read here: the CA bundle for https. */
mg_mcp_http_t *mg_mcp_http_new(const char *name, const char *url, json_t *headers,
                               size_t max_result, atomic_uint *tools_gen,
                               char *err, size_t errlen);
void           mg_mcp_http_free(mg_mcp_http_t *h);

/* POST body, one JSON-RPC message, with session_id and version as headers
 * when not NULL.  id >= 0, a request: MG_MCP_OK and *resp, the first
 * response in the answer (the caller checks its id), notifications before
 * it handled (an event stream that breaks first is resumed, see http.c).
 * id < 0, a notification: MG_MCP_OK on any 2xx (202 is what servers
 * send).  *session_out, when not NULL, gets the response's
 * Mcp-Session-Id (malloc'd) or NULL.  Otherwise an MG_MCP_* code with a
 * sentence in err; MG_MCP_EXPIRED when session_id was sent and the server
 * no longer knows it (404, or 400 naming the session). */
int mg_mcp_http_post(mg_mcp_http_t *h, const char *body, long long id,
                     const char *session_id, const char *version, const mg_mcp_wait_t *w,
                     json_t **resp, char **session_out, char *err, size_t errlen);

/* Listen on the server's own stream (a GET) until it ends or breaks, or w
 * is over, handling what comes: tools/list_changed counted, requests
 * answered, responses ignored.  at is sent back as Last-Event-ID when it
 * has an id, and updated from the stream.  MG_MCP_OK once a stream was
 * open (*opened 1) and has ended; the wait's code when w was over; else
 * MG_MCP_EXPIRED or MG_MCP_FAILED, *status (405: the server offers no such
 * stream; 0: not reached) and why in err. */
int mg_mcp_http_listen(mg_mcp_http_t *h, const char *session_id, const char *version,
                       mg_mcp_resume_t *at, const mg_mcp_wait_t *w, int *opened, long *status,
                       char *err, size_t errlen);

/* End the session (DELETE), best effort, within timeout_ms. */
void mg_mcp_http_delete(mg_mcp_http_t *h, const char *session_id, const char *version,
                        long timeout_ms);

#endif
