/*
 * mg_ustatus: a worker process's cache of what it knows about users:
 * id -> active, disabled or deleted.  Every authenticated request consults
 * it (jobs/users.c), so a known user costs no database round trip; the
 * listener thread (user_listener.c) evicts ids as PostgreSQL announces
 * changes (NOTIFY mangoo_users, sql/003_user_admin.sql).
 *
 * Correctness rules the cache enforces:
 *  - untrusted (the listener is not listening): every lookup misses and
 *    nothing is stored, so requests go to the database; becoming trusted
 *    again starts from an empty cache, since notifications may have been
 *    missed meanwhile;
 *  - a lookup returns a generation; a status read from the database is
 *    stored only if no invalidation (eviction, clear, trust change)
 *    happened since, so a change committed while a request was reading
 *    the old value cannot be overwritten by that old value;
 *  - bounded: at most half the slots are used; when that fills up the
 *    cache is emptied (a few queries per active user to refill it).
 * All functions are thread-safe.
 */
#ifndef MG_USER_STATUS_H
#define MG_USER_STATUS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Longer ids are never cached (they always go to the database). */
#define MG_USTATUS_ID_MAX     255

typedef enum {
    MG_USTATUS_MISS = 0,        /* not cached: ask the database */
    MG_USTATUS_ACTIVE,          /* the row exists and is not disabled */
    MG_USTATUS_DISABLED,
    MG_USTATUS_DELETED          /* tombstoned: never to be re-created */
} mg_ustatus_t;

typedef struct {
    char           *id;         /* NULL: empty slot; else malloc'd */
    unsigned char   status;     /* mg_ustatus_t */
} mg_ustatus_slot_t;

/* Fields are private to user_status.c; the struct is public only so a
 * cache can be a static object (MG_USTATUS_INITIALIZER) or a test's local. */
typedef struct {
    pthread_mutex_t     lock;
    size_t              nslots;         /* a power of two */
    mg_ustatus_slot_t  *slots;          /* allocated on first store */
    size_t              count;
    uint64_t            gen;            /* bumped by every invalidation */
    int                 trusted;
} mg_ustatus_cache_t;

#define MG_USTATUS_INITIALIZER(slots_pow2) \
    { .lock = PTHREAD_MUTEX_INITIALIZER, .nslots = (slots_pow2) }

/* The process-wide cache the job handlers and the listener share. */
extern mg_ustatus_cache_t mg_user_statuses;

/* The cached status of id (MG_USTATUS_MISS when not cached or untrusted).
 * *gen receives the generation to hand to mg_ustatus_put afterwards. */
mg_ustatus_t mg_ustatus_get(mg_ustatus_cache_t *c, const char *id, uint64_t *gen);

/* Remember status (not MISS) for id, read from the database after the
 * mg_ustatus_get that returned gen.  Silently does nothing when the cache
 * is untrusted, an invalidation happened since gen, the id is too long,
 * or memory is short: it is only a cache. */
void mg_ustatus_put(mg_ustatus_cache_t *c, const char *id, mg_ustatus_t status, uint64_t gen);

/* Forget id (NULL or "": everyone), as PostgreSQL announced a change to
 * it or a handler learned its row is gone.  Counts as an invalidation. */
void mg_ustatus_forget(mg_ustatus_cache_t *c, const char *id);

/* The listener started (1) or stopped (0) listening; either way the cache
 * is emptied. */
void mg_ustatus_set_trusted(mg_ustatus_cache_t *c, int trusted);
int  mg_ustatus_trusted(mg_ustatus_cache_t *c);

/* Number of cached ids (for tests). */
size_t mg_ustatus_count(mg_ustatus_cache_t *c);

/* Free the cached ids and slots; the cache stays usable (untrusted). */
void mg_ustatus_reset(mg_ustatus_cache_t *c);

#endif
