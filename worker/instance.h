/*
 * mg_instance: this worker process as the database knows it, and the
 * sweep of chat turns whose process died (sql/011_turns_in_flight.sql).
 *
 * Each process picks a random instance id at start.  A chat turn in
 * progress is recorded with it as owner (jobs/chat.c).  One thread holds,
 * on a connection of its own, the session-level advisory lock
 * pg_advisory_lock(id) for as long as the process lives; PostgreSQL
 * releases it when the connection drops, however the process ended.  The
 * same thread sweeps: every turn whose owner's lock is held by no session
 * is stored as an answer with status "error", error "worker_lost" (and no
 * text: the stream engine keeps the text in memory until the end), and
 * its record removed.  It sweeps as soon as it holds the lock (a worker
 * restarted after a crash cleans up after its predecessor) and then every
 * MG_INSTANCE_SWEEP_MS, so a loss is stored within seconds even when no
 * worker restarts.  A living process's turns are never swept: its lock is
 * held.
 */
#ifndef MG_INSTANCE_H
#define MG_INSTANCE_H

#define MG_INSTANCE_SWEEP_MS       2000    /* between sweeps */
#define MG_INSTANCE_POLL_MS        200     /* longest wait before noticing stop */
#define MG_INSTANCE_RETRY_MAX_MS   1000    /* reconnect back-off cap */
#define MG_INSTANCE_STATEMENT_MS   "5000"  /* the sweep's statement_timeout */
#define MG_INSTANCE_ID_LEN         20      /* decimal digits of a 63-bit id, at most 19 */

typedef struct mg_instance_s mg_instance_t;

/* The id made of 8 random bytes: positive and not 0, so it is a valid
 * owner (CHECK owner > 0) and a bigint advisory lock key. */
long long   mg_instance_id_from(const unsigned char b[8]);

/* Choose this process's id (OpenSSL's CSPRNG).  Once, before any turn and
 * before mg_instance_start.  0 or -1 (no randomness). */
int         mg_instance_init(void);

/* The id as decimal text, for statements' parameters ("" before init). */
const char *mg_instance_id(void);

/* Start the thread that holds the lock and sweeps (conninfo is copied).
 * A database that is down is not an error: the thread keeps trying.  NULL
 * when the thread cannot be created (logged): turns are still recorded,
 * and other processes' sweeps take this one for dead, so the caller must
 * not serve chat turns without it. */
mg_instance_t *mg_instance_start(const char *conninfo);

/* Stop the thread (within about MG_INSTANCE_POLL_MS, or a connect or
 * sweep already under way), join it, close its connection (which
 * releases the lock) and free in.  NULL is a no-op.  Call it last, once
 * the process's answers are stored. */
void        mg_instance_stop(mg_instance_t *in);

#endif
