/*
 * mg_rcache: a worker process's cache of whole answers to reads (a job,
 * its user, its parameters -> the 200 answer's bytes), so a repeated read
 * costs no database round trip.  Exact, not merely fresh: an entry goes
 * the moment PostgreSQL announces a change to what it was made from
 * (NOTIFY mangoo_reads with the user's id, sql/010_read_cache.sql, read by
 * the listener thread of identity/user_listener.c), and a writer waits for
 * every process to have heard (mg_users_announce) before it answers.
 *
 * The same rules as the user status cache (identity/user_status.h):
 *  - nothing is served or stored while that listener is not listening
 *    (mg_ustatus_trusted), and everything is dropped when it starts again;
 *  - an answer is stored only if no change to its user was announced since
 *    the lookup that missed, so a read racing a write cannot store the old
 *    answer after the write's announcement;
 *  - bounded: MANGOO_READ_CACHE_MB of answers (default 32) per process,
 *    the least recently used dropped first; 0 turns it off.
 * Thread-safe.
 */
#ifndef MG_READ_CACHE_H
#define MG_READ_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "job.h"

#define MG_RCACHE_CHANNEL     "mangoo_reads"     /* payload: a user id ("": all) */
#define MG_RCACHE_MB_DEFAULT  32

/* The budget in bytes; 0: off.  Called once at start, before any thread. */
void mg_rcache_configure(size_t max_bytes);

/* Run handler for job through the cache: a stored answer is sent as is;
 * otherwise the handler runs and its 200 answer (a whole JSON reply
 * without extra headers) is kept.  The handler's return value, or 0 for
 * an answer from the cache. */
int  mg_rcache_serve(mg_job_t *job, int (*handler)(mg_job_t *job));

/* The broker's shortcut, before a job goes to a thread: the kept answer
 * to req (a REQ) when its job is MG_JOB_CACHED, its token's subject is
 * known active (the user status cache) and the answer is kept: exactly
 * what a thread would send, without the trip to one.  1 with *body
 * (malloc'd) and *len; else 0 and the job goes its usual way. */
int  mg_rcache_peek(const mg_msg_t *req, char **body, size_t *len);

/* Run handler for job, a write to what cached reads are made of: its 2xx
 * answer leaves only once every worker process has dropped the answers
 * it changed (mg_users_announce), so the very next read, wherever it
 * runs, sees the write. */
int  mg_rcache_write(mg_job_t *job, int (*handler)(mg_job_t *job));

/* Records of one's own under the same rules (a key space no job uses,
 * e.g. "chat.bot", and a key in it), made only of what sql/010 announces
 * for the user.  find: 1 with a copy in *body (malloc'd, len bytes), else
 * 0; either way *gen is what keep needs.  keep stores a copy unless a
 * change was announced since. */
int  mg_rcache_find(const char *user, const char *space, const char *key, char **body,
                    size_t *len, uint64_t *gen);
void mg_rcache_keep(const char *user, const char *space, const char *key, uint64_t gen,
                    const char *body, size_t len);

/* Drop the answers of user id (NULL or "": everyone's).  The listener's
 * hook: PostgreSQL announced a change, or notifications may have been
 * missed. */
void mg_rcache_forget(const char *id);

/* For tests: the answers kept, and their bytes. */
size_t mg_rcache_count(size_t *bytes);

/* Free everything (at exit, after the threads stopped). */
void mg_rcache_clear(void);

#endif
