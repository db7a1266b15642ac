/*
 * mg_instance: owns the process's instance id, the connection holding its
 * advisory lock and the thread that sweeps orphaned turns (instance.h).
 * Invariant: while conn is not NULL this session holds
 * pg_advisory_lock(id).  A lost connection loses the lock; the thread
 * reconnects and takes it again (a sweep elsewhere in between may store
 * a turn of this process as worker_lost: mg_chat_finish then replaces it
 * with the real outcome, db/queries.c).
 */
#include "instance.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <openssl/rand.h>

#include "util/clock.h"
#include "util/log.h"

struct mg_instance_s {
    char        *conninfo;
    pthread_t    tid;
    atomic_int   stop;
    PGconn      *conn;              /* NULL, or holding the lock */
    int          down_logged;       /* an outage was logged, not its end */
    int          sweep_failing;     /* a failed sweep was logged, not a good one */
};

static char mg_instance_text[MG_INSTANCE_ID_LEN + 1];

/* Owners whose lock no session holds (pg_locks shows a bigint key as
 * classid = high half, objid = low half, objsubid = 1), visited once each
 * through the owner index; their turns are answered worker_lost, at the
 * turn's start + 1 µs so the answer sorts right after its question, and
 * only where the chat still exists.  A turn already answered (a finish
 * that raced the sweep) keeps its answer.  $1: our own id, never swept. */
#define MG_INSTANCE_SWEEP_SQL                                                 \
    "WITH RECURSIVE owners AS ("                                              \
    "  (SELECT t.owner FROM turns_in_flight t ORDER BY t.owner LIMIT 1) "     \
    "  UNION ALL "                                                            \
    "  SELECT (SELECT t.owner FROM turns_in_flight t WHERE t.owner > o.owner " \
    "    ORDER BY t.owner LIMIT 1) FROM owners o WHERE o.owner IS NOT NULL), " \
    "dead AS (SELECT o.owner FROM owners o WHERE o.owner IS NOT NULL "        \
    "  AND o.owner <> $1::bigint AND NOT EXISTS (SELECT 1 FROM pg_locks l "   \
    "    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "     \
    "    AND l.database = (SELECT d.oid FROM pg_database d "                  \
    "      WHERE d.datname = current_database()) "                            \
    "    AND l.classid = (o.owner >> 32)::oid "                               \
    "    AND l.objid = (o.owner & 4294967295)::oid)), "                       \
    "lost AS (DELETE FROM turns_in_flight t USING dead d WHERE t.owner = d.owner " \
    "  RETURNING t.*), "                                                      \
    "stored AS (INSERT INTO messages (id, chat_id, bot_id, agent_id, user_id, role, " \
    "  content, status, error, model_id, created_at) "                        \
    "  SELECT l.message_id, c.id, (SELECT b.id FROM bots b WHERE b.id = l.bot_id), " \
    "  (SELECT a.id FROM agents a WHERE a.id = l.agent_id), l.user_id, 'assistant', " \
    "  '', 'error', 'worker_lost', l.model_id, l.started_at + interval '1 microsecond' " \
    "  FROM lost l JOIN chats c ON c.id = l.chat_id "                         \
    "  ON CONFLICT (id) DO NOTHING RETURNING id) "                            \
    "SELECT (SELECT count(*) FROM dead), (SELECT count(*) FROM lost), "       \
    "  (SELECT count(*) FROM stored)"

long long
mg_instance_id_from(const unsigned char b[8])
{
    unsigned long long v = 0;

    for (int i = 0; i < 8; i++) {
        v = (v << 8) | b[i];
    }
    v &= 0x7fffffffffffffffULL;         /* a positive bigint */
    return v == 0 ? 1 : (long long) v;
}

int
mg_instance_init(void)
{
    unsigned char b[8];

    if (RAND_bytes(b, sizeof(b)) != 1) {
        return -1;
    }
    snprintf(mg_instance_text, sizeof(mg_instance_text), "%lld", mg_instance_id_from(b));
    return 0;
}

const char *
mg_instance_id(void)
{
    return mg_instance_text;
}

static int
mg_in_stopping(mg_instance_t *in)
{
    return atomic_load(&in->stop) != 0;
}

static void
mg_in_sleep(mg_instance_t *in, long ms)
{
    long long deadline = mg_now_ms() + ms;

    while (!mg_in_stopping(in) && mg_now_ms() < deadline) {
        struct timespec slice = { 0, 50 * 1000 * 1000 };

        nanosleep(&slice, NULL);
    }
}

/* First line of a libpq message, for one-line logs. */
static const char *
mg_in_line(const char *msg, char *buf, size_t cap)
{
    size_t n = strcspn(msg ? msg : "", "\n");

    if (n >= cap) {
        n = cap - 1;
    }
    memcpy(buf, msg ? msg : "", n);
    buf[n] = '\0';
    return buf;
}

/* Connect and take the lock.  0, or -1 with why set. */
static int
mg_in_open(mg_instance_t *in, char *why, size_t whylen)
{
    /* the caller's conninfo comes last so that what it sets wins */
    const char *keys[] = { "connect_timeout", "application_name", "options", "keepalives",
                           "keepalives_idle", "keepalives_interval", "keepalives_count",
                           "dbname", NULL };
    const char *vals[] = { "3", "mangoo-instance", "-c statement_timeout=" MG_INSTANCE_STATEMENT_MS,
                           "1", "10", "5", "3", in->conninfo, NULL };
    const char *values[1] = { mg_instance_text };
    PGconn     *conn;
    PGresult   *r;
    int         held;

    conn = PQconnectdbParams(keys, vals, 1);
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        mg_in_line(conn ? PQerrorMessage(conn) : "out of memory", why, whylen);
        PQfinish(conn);
        return -1;
    }
    /* try, never wait: the id is random, so a holder would be a bug */
    r = PQexecParams(conn, "SELECT pg_try_advisory_lock($1::bigint)", 1, NULL, values,
                     NULL, NULL, 0);
    held = PQresultStatus(r) == PGRES_TUPLES_OK && *PQgetvalue(r, 0, 0) == 't';
    if (!held) {
        if (PQresultStatus(r) == PGRES_TUPLES_OK) {
            snprintf(why, whylen, "the lock of instance %s is held by another session",
                     mg_instance_text);
        } else {
            mg_in_line(PQresultErrorMessage(r), why, whylen);
        }
        PQclear(r);
        PQfinish(conn);
        return -1;
    }
    PQclear(r);
    in->conn = conn;
    return 0;
}

static void
mg_in_close(mg_instance_t *in, const char *why)
{
    if (in->conn != NULL) {
        PQfinish(in->conn);
        in->conn = NULL;
    }
    if (why != NULL) {
        mg_log_warn("instance %s: database connection lost (%s): turns of this process "
                    "may be taken for orphans until it is back", mg_instance_text, why);
        in->down_logged = 1;
    }
}

/* One sweep.  0, or -1 with why set (the connection is then suspect). */
static int
mg_in_sweep(mg_instance_t *in, char *why, size_t whylen)
{
    const char *values[1] = { mg_instance_text };
    PGresult   *r;
    long        dead, lost, stored;

    r = PQexecParams(in->conn, MG_INSTANCE_SWEEP_SQL, 1, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        mg_in_line(PQresultErrorMessage(r), why, whylen);
        PQclear(r);
        return -1;
    }
    dead = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    lost = strtol(PQgetvalue(r, 0, 1), NULL, 10);
    stored = strtol(PQgetvalue(r, 0, 2), NULL, 10);
    PQclear(r);
    if (lost > 0) {
        mg_log_warn("instance %s: %ld turn(s) of %ld worker process(es) that died stored as "
                    "worker_lost (%ld of them in chats deleted since)", mg_instance_text,
                    lost, dead, lost - stored);
    }
    return 0;
}

/* Wait up to ms for the server to say something (it only does when the
 * connection ends); 0, or -1 with why set when the connection is gone. */
static int
mg_in_watch(mg_instance_t *in, long ms, char *why, size_t whylen)
{
    struct pollfd  p = { PQsocket(in->conn), POLLIN, 0 };
    int            n;

    n = poll(&p, 1, (int) ms);
    if (n < 0 && errno != EINTR) {
        snprintf(why, whylen, "poll failed: %s", strerror(errno));
        return -1;
    }
    if (n > 0 && !PQconsumeInput(in->conn)) {
        mg_in_line(PQerrorMessage(in->conn), why, whylen);
        return -1;
    }
    if (PQstatus(in->conn) != CONNECTION_OK) {
        snprintf(why, whylen, "connection lost");
        return -1;
    }
    return 0;
}

static void *
mg_in_main(void *arg)
{
    mg_instance_t  *in = arg;
    long            backoff_ms = 0;
    long long       next_sweep = 0, now;
    char            why[256];

    while (!mg_in_stopping(in)) {
        if (in->conn == NULL) {
            if (mg_in_open(in, why, sizeof(why)) != 0) {
                if (mg_in_stopping(in)) {
                    break;
                }
                if (!in->down_logged) {
                    mg_log_warn("instance %s: cannot hold the instance lock: %s; retrying",
                                mg_instance_text, why);
                    in->down_logged = 1;
                }
                backoff_ms = backoff_ms == 0 ? 100 : backoff_ms * 2;
                if (backoff_ms > MG_INSTANCE_RETRY_MAX_MS) {
                    backoff_ms = MG_INSTANCE_RETRY_MAX_MS;
                }
                mg_in_sleep(in, backoff_ms);
                continue;
            }
            backoff_ms = 0;
            next_sweep = 0;                 /* at once: a predecessor may have died */
            mg_log_info("instance %s: holding the instance lock; sweeping orphaned turns "
                        "every %d ms", mg_instance_text, MG_INSTANCE_SWEEP_MS);
            in->down_logged = 0;
        }
        now = mg_now_ms();
        if (now >= next_sweep) {
            if (mg_in_sweep(in, why, sizeof(why)) != 0) {
                /* a failed statement on a live link is only logged; a dead
                 * link has lost the lock: take it again */
                if (PQstatus(in->conn) != CONNECTION_OK) {
                    mg_in_close(in, why);
                    continue;
                }
                if (!in->sweep_failing) {
                    mg_log_warn("instance %s: sweep failed: %s; trying again every %d ms",
                                mg_instance_text, why, MG_INSTANCE_SWEEP_MS);
                    in->sweep_failing = 1;
                }
            } else if (in->sweep_failing) {
                mg_log_info("instance %s: sweeping again", mg_instance_text);
                in->sweep_failing = 0;
            }
            next_sweep = mg_now_ms() + MG_INSTANCE_SWEEP_MS;
        }
        if (mg_in_watch(in, MG_INSTANCE_POLL_MS, why, sizeof(why)) != 0) {
            mg_in_close(in, why);
        }
    }
    mg_in_close(in, NULL);
    return NULL;
}

mg_instance_t *
mg_instance_start(const char *conninfo)
{
    mg_instance_t  *in;
    int             err;

    in = calloc(1, sizeof(*in));
    if (in == NULL || (in->conninfo = strdup(conninfo)) == NULL) {
        mg_log_error("instance: out of memory");
        free(in);
        return NULL;
    }
    atomic_init(&in->stop, 0);
    err = pthread_create(&in->tid, NULL, mg_in_main, in);
    if (err != 0) {
        mg_log_error("instance: cannot start its thread: %s", strerror(err));
        free(in->conninfo);
        free(in);
        return NULL;
    }
    return in;
}

void
mg_instance_stop(mg_instance_t *in)
{
    if (in == NULL) {
        return;
    }
    atomic_store(&in->stop, 1);
    pthread_join(in->tid, NULL);
    free(in->conninfo);
    free(in);
}
