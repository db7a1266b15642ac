/*
 * mg_mcp_stdio: the stdio transport of MCP.  The server is a child process
 * that reads JSON-RPC messages on its stdin and writes them on its stdout,
 * one per line; what it writes on stderr is logged.  One child per
 * transport, shared by every caller: each message goes out as one whole
 * line (a lock keeps concurrent lines apart), and one reader thread reads
 * the child's stdout and stderr and hands each response to the caller
 * waiting for its id.  When the child exits, every caller still waiting
 * fails; mg_mcp_stdio_start runs a new one, at most once a second.
 */
#ifndef MG_MCP_STDIO_H
#define MG_MCP_STDIO_H

#include <stdatomic.h>
#include <stddef.h>

#include <jansson.h>

#include "mcp/wait.h"

typedef struct mg_mcp_stdio_s mg_mcp_stdio_t;

/* The transport for command (an array of strings: argv) run with the
 * worker's environment plus env (an object name -> string, or NULL); both
 * copied.  name is borrowed and must outlive it; tools_gen is incremented
 * on notifications/tools/list_changed.  NULL with why in err: a malformed
 * command or env, out of memory.  No child runs until mg_mcp_stdio_start. */
mg_mcp_stdio_t *mg_mcp_stdio_new(const char *name, json_t *command, json_t *env,
                                 size_t max_result, atomic_uint *tools_gen,
                                 char *err, size_t errlen);
/* Stop the child (stdin closed; SIGTERM a second later, SIGKILL a second
 * after that, to its process group), join the reader, free.  No call may
 * be running. */
void            mg_mcp_stdio_free(mg_mcp_stdio_t *s);

/* 1 when a child is running, its generation in *gen; else 0. */
int  mg_mcp_stdio_running(mg_mcp_stdio_t *s, unsigned *gen);

/* Run a new child (stopping one still running), no sooner than a second
 * after the last start: waits for that when w allows, else fails.  0 and
 * *gen, or an MG_MCP_* code with why in err ("cannot run ...").  Not
 * concurrently with itself: the caller serialises starts. */
int  mg_mcp_stdio_start(mg_mcp_stdio_t *s, const mg_mcp_wait_t *w, unsigned *gen,
                        char *err, size_t errlen);

/* Make the child end: its stdin closed, SIGTERM after grace_ms, SIGKILL a
 * second later.  Returns at once; the reader reaps it. */
void mg_mcp_stdio_stop(mg_mcp_stdio_t *s, long grace_ms);

/* Send line (a request with id, no newline) to child gen and wait for its
 * response: MG_MCP_OK and *resp (the caller checks it), or an MG_MCP_*
 * code with why in err (MG_MCP_GONE: that child exited). */
int  mg_mcp_stdio_request(mg_mcp_stdio_t *s, unsigned gen, const char *line, long long id,
                          const mg_mcp_wait_t *w, json_t **resp, char *err, size_t errlen);

/* Send line (a notification) to child gen. */
int  mg_mcp_stdio_notify(mg_mcp_stdio_t *s, unsigned gen, const char *line,
                         const mg_mcp_wait_t *w, char *err, size_t errlen);

#endif
