/*
 * mg_mcp_registry: this worker process's MCP clients, one per registered
 * server (mcp/client.h), shared by its tool threads and pool threads.  A
 * client is made from the server's row on first use and replaced when an
 * administrator changes the row (its updated_at moved); the old one is
 * closed once its last user lets go, so a stdio server's process is never
 * killed under a running call.
 */
#ifndef MG_MCP_REGISTRY_H
#define MG_MCP_REGISTRY_H

#include <stddef.h>

#include <jansson.h>

#include "db/db.h"
#include "mcp/client.h"

#define MG_MCP_LIST_TIMEOUT_MS  15000   /* tools/list, for an administrator */
#define MG_MCP_CHANNEL          "mangoo_mcp"    /* a server changed: sql/009_mcp_notify.sql */
#define MG_MCP_RESULT_MAX       (1024 * 1024)

typedef struct mg_mcp_entry_s mg_mcp_entry_t;

/* The client of server server_id, held until mg_mcp_release(*entry).
 * NULL with a reason in err: no such server, disabled, the database
 * unreachable, out of memory. */
mg_mcp_client_t *mg_mcp_acquire(mg_db_t *db, const char *server_id, mg_mcp_entry_t **entry,
                                char *err, size_t errlen);
void             mg_mcp_release(mg_mcp_entry_t *entry);

/* List the server's tools now and store them with the server (the cache
 * agents are offered from).  0 with the server as administrators see it
 * (JSON text, malloc'd) in *server_json, or -1 with err (the reason is
 * stored with the server too). */
int  mg_mcp_refresh(mg_db_t *db, const char *server_id, char **server_json, char *err,
                    size_t errlen);

/* After a call: when the server said its tool list changed since this
 * entry last looked, list again and store it. */
void mg_mcp_refresh_if_changed(mg_db_t *db, const char *server_id, mg_mcp_entry_t *entry);

/* The server server_id (NULL: every server) changed how it is reached,
 * was disabled or deleted: its client is dropped from the registry, and
 * closed (on a thread of its own, as a stdio server may take a moment to
 * stop) once no call uses it.  The next use makes a new one. */
void mg_mcp_forget(const char *server_id);

/* Close every client (at exit, after the threads that use them stopped). */
void mg_mcp_registry_clear(void);

/* "mcp:<server>/<tool>", as an agent names an MCP tool: 1 when ref is
 * one (server as the mcp_servers.name check, tool 1-64 of [A-Za-z0-9_-],
 * "<server>__<tool>" at most 64 bytes, the name its model sees). */
int  mg_mcp_ref_valid(const char *ref, size_t len);

#endif
