/*
 * mg_ulistener: the one thread per worker process that keeps the user
 * status cache honest.  It holds its own PostgreSQL connection, LISTENs on
 * "mangoo_users" and evicts every id PostgreSQL announces (triggers in
 * sql/003_user_admin.sql).  While it is not listening (not yet connected,
 * connection lost, database restarting) it marks the cache untrusted, so
 * every request reads the database; once LISTEN is back it empties the
 * cache (notifications may have been missed) and trusts it again.
 *
 * It also acknowledges barriers (sql/003_user_admin.sql): a writer that
 * needs its change seen by the very next request, in any process, waits
 * until every live listener has recorded a barrier sent after the change,
 * which it does only after applying every notification before it.
 *
 * The same connection carries the channels of the worker's other caches
 * (the read cache, read_cache.h; the MCP clients, mcp/registry.h), so a
 * worker process holds one LISTEN connection, not one per cache, and one
 * barrier covers them all.
 */
#ifndef MG_USER_LISTENER_H
#define MG_USER_LISTENER_H

#include "identity/user_status.h"

#define MG_ULISTENER_CHANNEL      "mangoo_users"          /* payload: an id */
#define MG_ULISTENER_BARRIER      "mangoo_users_barrier"  /* payload: a barrier number */
#define MG_ULISTENER_POLL_MS      200      /* longest wait before noticing stop */
#define MG_ULISTENER_CONNECT_MS   3000     /* connect + LISTEN, then give up */
#define MG_ULISTENER_RETRY_MAX_MS 1000     /* reconnect back-off cap */
#define MG_ULISTENER_PING_IDLE_MS 10000    /* idle this long: check the link */
#define MG_ULISTENER_PING_WAIT_MS 5000     /* no answer this long: link is dead */

typedef struct mg_ulistener_s mg_ulistener_t;

/* Another channel to listen on: fn is called on the listener's thread
 * with each payload, and with NULL whenever notifications may have been
 * missed (each time LISTEN begins, before the caches are trusted).  fn
 * must not block for long: user statuses wait meanwhile. */
typedef struct {
    const char  *channel;           /* a plain identifier */
    void       (*fn)(const char *payload);
} mg_ulistener_also_t;

#define MG_ULISTENER_ALSO_MAX  4

/* Start the thread for cache (conninfo is copied; also, when not NULL, is
 * an array ended by an element whose channel is NULL, at most
 * MG_ULISTENER_ALSO_MAX, and must outlive the listener).  A database that is
 * down is not an error: the thread keeps trying.  NULL when the thread
 * cannot be created (logged); the cache then stays untrusted, which is
 * slower but correct. */
mg_ulistener_t *mg_ulistener_start(const char *conninfo, mg_ustatus_cache_t *cache,
                                   const mg_ulistener_also_t *also);

/* Stop the thread (within about MG_ULISTENER_POLL_MS), join it, close its
 * connection, leave the cache untrusted and free l.  NULL is a no-op. */
void mg_ulistener_stop(mg_ulistener_t *l);

#endif
