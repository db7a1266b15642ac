/*
 * mg_ulistener: owns the LISTEN connection and the thread that drives it.
 * Invariant: the cache is trusted only while this thread holds a
 * connection on which LISTEN and the registration as a barrier
 * acknowledger succeeded, and which has not failed since.
 * Every blocking step (connect, LISTEN, waiting for notifications) is a
 * poll() with a short timeout, so stopping never waits on the database.
 *
 * A silent link (a server that vanished without closing the socket) is
 * caught by a "SELECT 1" after MG_ULISTENER_PING_IDLE_MS without traffic
 * and, over TCP, by keepalives; until then the cache may serve statuses
 * that a change committed elsewhere made stale.  That window only exists
 * when the database is unreachable from this worker, when the requests
 * themselves would mostly fail anyway.
 */
#include "identity/user_listener.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "util/clock.h"
#include "util/log.h"

/* The one statement the listener may have in flight (libpq allows one). */
typedef enum {
    MG_UL_IDLE = 0,
    MG_UL_PING,                         /* SELECT 1: is the link alive */
    MG_UL_ACK                           /* recording a barrier as passed */
} mg_ul_inflight_t;

struct mg_ulistener_s {
    char                *conninfo;
    mg_ustatus_cache_t  *cache;
    const mg_ulistener_also_t *also;    /* ended by a NULL channel; NULL: none */
    char                 setup_sql[512];
    pthread_t            tid;
    atomic_int           stop;
    PGconn              *conn;          /* NULL, or LISTENing and registered */
    long long            last_io_ms;    /* last bytes from the server */
    mg_ul_inflight_t     inflight;
    long long            inflight_ms;   /* when it was sent */
    long long            barrier_seen;  /* highest barrier notified */
    long long            barrier_sent;  /* highest barrier an ACK was sent for */
    int                  down_logged;   /* an outage was logged, not its end */
};

/* After LISTEN, before trusting the cache: be counted by barrier writers.
 * %s: "LISTEN <also's channel>; " or "". */
#define MG_UL_SETUP_SQL                                                     \
    "LISTEN " MG_ULISTENER_CHANNEL "; LISTEN " MG_ULISTENER_BARRIER "; %s"  \
    "SELECT mg_user_listener_register()"
#define MG_UL_ACK_SQL                                                       \
    "UPDATE user_status_listeners SET passed = greatest(passed, $1::bigint) " \
    "WHERE pid = pg_backend_pid()"

/* First line of a libpq message, for one-line logs. */
static const char *
mg_ul_line(const char *msg, char *buf, size_t cap)
{
    size_t n = strcspn(msg ? msg : "", "\n");

    if (n >= cap) {
        n = cap - 1;
    }
    memcpy(buf, msg ? msg : "", n);
    buf[n] = '\0';
    return buf;
}

static int
mg_ul_stopping(mg_ulistener_t *l)
{
    return atomic_load(&l->stop) != 0;
}

/* Wait until fd is ready for events, in slices so a stop is noticed.
 * 1 ready, 0 deadline passed, -1 stopping or poll failed. */
static int
mg_ul_wait(mg_ulistener_t *l, int fd, short events, long long deadline_ms)
{
    struct pollfd  p;
    long long      left;
    int            n;

    for (;;) {
        if (mg_ul_stopping(l)) {
            return -1;
        }
        left = deadline_ms - mg_now_ms();
        if (left <= 0) {
            return 0;
        }
        p.fd = fd;
        p.events = events;
        p.revents = 0;
        n = poll(&p, 1, (int) (left < MG_ULISTENER_POLL_MS ? left : MG_ULISTENER_POLL_MS));
        if (n > 0) {
            return 1;
        }
        if (n < 0 && errno != EINTR) {
            return -1;
        }
    }
}

static void
mg_ul_sleep(mg_ulistener_t *l, long ms)
{
    long long deadline = mg_now_ms() + ms;

    while (!mg_ul_stopping(l) && mg_now_ms() < deadline) {
        struct timespec slice = { 0, 50 * 1000 * 1000 };

        nanosleep(&slice, NULL);
    }
}

/* Connect without blocking past the deadline or a stop.  The caller's
 * conninfo comes last so anything it sets wins over our defaults. */
static PGconn *
mg_ul_connect(mg_ulistener_t *l, long long deadline_ms, char *why, size_t whylen)
{
    const char *keys[] = { "application_name", "keepalives", "keepalives_idle",
                           "keepalives_interval", "keepalives_count", "dbname", NULL };
    const char *vals[] = { "mangoo-users-listener", "1", "10", "5", "3",
                           l->conninfo, NULL };
    PostgresPollingStatusType  st = PGRES_POLLING_WRITING;
    PGconn                    *conn;
    int                        w;

    conn = PQconnectStartParams(keys, vals, 1);
    if (conn == NULL) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    while (PQstatus(conn) != CONNECTION_BAD && st != PGRES_POLLING_OK
           && st != PGRES_POLLING_FAILED)
    {
        w = mg_ul_wait(l, PQsocket(conn),
                       st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline_ms);
        if (w <= 0) {
            snprintf(why, whylen, w == 0 ? "connect timed out" : "stopping");
            PQfinish(conn);
            return NULL;
        }
        st = PQconnectPoll(conn);
    }
    if (st != PGRES_POLLING_OK || PQstatus(conn) != CONNECTION_OK) {
        mg_ul_line(PQerrorMessage(conn), why, whylen);
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

/* Run sql (one or more statements) and wait for all its results.  0, or
 * -1 with why set. */
static int
mg_ul_run(mg_ulistener_t *l, PGconn *conn, const char *sql, long long deadline_ms,
          char *why, size_t whylen)
{
    PGresult  *r;
    int        ok = 1, w;

    if (!PQsendQuery(conn, sql)) {
        mg_ul_line(PQerrorMessage(conn), why, whylen);
        return -1;
    }
    while (PQisBusy(conn)) {
        w = mg_ul_wait(l, PQsocket(conn), POLLIN, deadline_ms);
        if (w <= 0) {
            snprintf(why, whylen, w == 0 ? "setup timed out" : "stopping");
            return -1;
        }
        if (!PQconsumeInput(conn)) {
            mg_ul_line(PQerrorMessage(conn), why, whylen);
            return -1;
        }
    }
    while ((r = PQgetResult(conn)) != NULL) {
        ExecStatusType st = PQresultStatus(r);

        if (ok && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            mg_ul_line(PQresultErrorMessage(r), why, whylen);
            ok = 0;
        }
        PQclear(r);
    }
    return ok ? 0 : -1;
}

/* Hand payload to the other cache listening on channel (NULL: to every
 * one, notifications may have been missed): 1 when channel was one. */
static int
mg_ul_also(mg_ulistener_t *l, const char *channel, const char *payload)
{
    int found = 0;

    for (const mg_ulistener_also_t *a = l->also; a != NULL && a->channel != NULL; a++) {
        if (channel == NULL || strcmp(channel, a->channel) == 0) {
            a->fn(payload);
            found = 1;
        }
    }
    return found;
}

static void
mg_ul_drain_notifies(mg_ulistener_t *l)
{
    PGnotify *n;

    /* in delivery (= commit) order: a barrier is acknowledged only after
     * the evictions notified before it */
    while ((n = PQnotifies(l->conn)) != NULL) {
        if (strcmp(n->relname, MG_ULISTENER_BARRIER) == 0) {
            long long b = strtoll(n->extra, NULL, 10);

            if (b > l->barrier_seen) {
                l->barrier_seen = b;
            }
        } else if (mg_ul_also(l, n->relname, n->extra)) {
            /* another cache's */
        } else {
            mg_log_debug("users listener: %s changed", n->extra[0] ? n->extra : "everyone");
            mg_ustatus_forget(l->cache, n->extra);
        }
        PQfreemem(n);
    }
}

/* Connect, LISTEN and register, then trust the cache.  0 or -1 (logged). */
static int
mg_ul_open(mg_ulistener_t *l)
{
    long long  deadline = mg_now_ms() + MG_ULISTENER_CONNECT_MS;
    char       why[256];
    PGconn    *conn;

    conn = mg_ul_connect(l, deadline, why, sizeof(why));
    if (conn != NULL && mg_ul_run(l, conn, l->setup_sql, deadline, why, sizeof(why)) != 0) {
        PQfinish(conn);
        conn = NULL;
    }
    if (conn == NULL) {
        if (mg_ul_stopping(l)) {
            return -1;
        }
        if (!l->down_logged) {
            mg_log_warn("users listener: cannot listen: %s; user status cache off "
                        "(every request reads the database) until it can", why);
            l->down_logged = 1;
        } else {
            mg_log_debug("users listener: cannot listen: %s", why);
        }
        return -1;
    }

    l->conn = conn;
    l->last_io_ms = mg_now_ms();
    l->inflight = MG_UL_IDLE;
    /* registering counted every barrier so far as passed */
    l->barrier_seen = 0;
    l->barrier_sent = 0;
    /* emptied again: changes made while we were not listening were missed
     * (the other caches first: they serve only while this one is trusted) */
    (void) mg_ul_also(l, NULL, NULL);
    mg_ustatus_set_trusted(l->cache, 1);
    mg_ul_drain_notifies(l);
    l->down_logged = 0;
    mg_log_info("users listener: listening on " MG_ULISTENER_CHANNEL ", user status cache on");
    return 0;
}

static void
mg_ul_close(mg_ulistener_t *l, const char *why)
{
    /* distrust first: from here on requests read the database */
    mg_ustatus_set_trusted(l->cache, 0);
    if (l->conn != NULL) {
        PQfinish(l->conn);
        l->conn = NULL;
    }
    if (why != NULL) {
        mg_log_warn("users listener: %s; user status cache off until listening again", why);
        l->down_logged = 1;
    }
}

/* Send what is due when nothing is in flight: a barrier acknowledgement
 * first (a writer is waiting for it), else a ping after a quiet spell.
 * 0, or -1 with why set. */
static int
mg_ul_send_due(mg_ulistener_t *l, long long now, char *why, size_t whylen)
{
    char         num[24];
    const char  *values[1] = { num };

    if (l->inflight != MG_UL_IDLE) {
        return 0;
    }
    if (l->barrier_seen > l->barrier_sent) {
        snprintf(num, sizeof(num), "%lld", l->barrier_seen);
        if (!PQsendQueryParams(l->conn, MG_UL_ACK_SQL, 1, NULL, values, NULL, NULL, 0)) {
            mg_ul_line(PQerrorMessage(l->conn), why, whylen);
            return -1;
        }
        l->barrier_sent = l->barrier_seen;
        l->inflight = MG_UL_ACK;
        l->inflight_ms = now;
    } else if (now - l->last_io_ms >= MG_ULISTENER_PING_IDLE_MS) {
        if (!PQsendQuery(l->conn, "SELECT 1")) {
            mg_ul_line(PQerrorMessage(l->conn), why, whylen);
            return -1;
        }
        l->inflight = MG_UL_PING;
        l->inflight_ms = now;
    }
    return 0;
}

/* Collect the results of the statement in flight, if they are all here.
 * 0, or -1 with why set. */
static int
mg_ul_collect(mg_ulistener_t *l, long long now, char *why, size_t whylen)
{
    PGresult  *r;

    while (l->inflight != MG_UL_IDLE && !PQisBusy(l->conn)) {
        r = PQgetResult(l->conn);
        if (r == NULL) {
            l->inflight = MG_UL_IDLE;
            break;
        }
        if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
            mg_ul_line(PQresultErrorMessage(r), why, whylen);
            PQclear(r);
            return -1;
        }
        PQclear(r);
    }
    if (l->inflight != MG_UL_IDLE && now - l->inflight_ms >= MG_ULISTENER_PING_WAIT_MS) {
        snprintf(why, whylen, "database did not answer within %d ms", MG_ULISTENER_PING_WAIT_MS);
        return -1;
    }
    return 0;
}

/* One round: wait for traffic, apply notifications, acknowledge barriers,
 * keep the link checked.  0, or -1 with why set when the connection is no
 * longer to be trusted. */
static int
mg_ul_serve(mg_ulistener_t *l, char *why, size_t whylen)
{
    struct pollfd  p = { PQsocket(l->conn), POLLIN, 0 };
    long long      now;
    int            n;

    /* an acknowledgement still to send (barriers queued while another
     * statement was in flight, or during setup) must not wait for traffic */
    n = poll(&p, 1, l->inflight == MG_UL_IDLE && l->barrier_seen > l->barrier_sent
                    ? 0 : MG_ULISTENER_POLL_MS);
    if (n < 0 && errno != EINTR) {
        snprintf(why, whylen, "poll failed: %s", strerror(errno));
        return -1;
    }
    now = mg_now_ms();
    if (n > 0) {
        if (!PQconsumeInput(l->conn)) {
            mg_ul_line(PQerrorMessage(l->conn), why, whylen);
            return -1;
        }
        l->last_io_ms = now;
    }
    mg_ul_drain_notifies(l);
    if (mg_ul_collect(l, now, why, whylen) != 0 || mg_ul_send_due(l, now, why, whylen) != 0) {
        return -1;
    }
    if (PQstatus(l->conn) != CONNECTION_OK) {
        snprintf(why, whylen, "connection lost");
        return -1;
    }
    return 0;
}

static void *
mg_ul_main(void *arg)
{
    mg_ulistener_t  *l = arg;
    long             backoff_ms = 0;
    char             why[256];

    while (!mg_ul_stopping(l)) {
        if (l->conn == NULL) {
            if (mg_ul_open(l) != 0) {
                /* first retry soon (a restart is short), then back off */
                backoff_ms = backoff_ms == 0 ? 100 : backoff_ms * 2;
                if (backoff_ms > MG_ULISTENER_RETRY_MAX_MS) {
                    backoff_ms = MG_ULISTENER_RETRY_MAX_MS;
                }
                mg_ul_sleep(l, backoff_ms);
                continue;
            }
            backoff_ms = 0;
        }
        if (mg_ul_serve(l, why, sizeof(why)) != 0) {
            char msg[300];

            snprintf(msg, sizeof(msg), "connection lost (%s)", why);
            mg_ul_close(l, msg);
        }
    }
    mg_ul_close(l, NULL);
    return NULL;
}

mg_ulistener_t *
mg_ulistener_start(const char *conninfo, mg_ustatus_cache_t *cache,
                   const mg_ulistener_also_t *also)
{
    char    listen_also[MG_ULISTENER_ALSO_MAX * 72] = "";
    size_t  n = 0;
    mg_ulistener_t  *l;
    int              e;

    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        mg_log_error("users listener: out of memory; user status cache off");
        return NULL;
    }
    l->conninfo = strdup(conninfo);
    if (l->conninfo == NULL) {
        mg_log_error("users listener: out of memory; user status cache off");
        free(l);
        return NULL;
    }
    l->cache = cache;
    l->also = also;
    for (int i = 0; also != NULL && also[i].channel != NULL && i < MG_ULISTENER_ALSO_MAX; i++) {
        n += (size_t) snprintf(listen_also + n, sizeof(listen_also) - n, "LISTEN %.63s; ",
                               also[i].channel);
    }
    snprintf(l->setup_sql, sizeof(l->setup_sql), MG_UL_SETUP_SQL, listen_also);
    atomic_init(&l->stop, 0);

    e = pthread_create(&l->tid, NULL, mg_ul_main, l);
    if (e != 0) {
        mg_log_error("users listener: cannot start a thread: %s; user status cache off",
                     strerror(e));
        free(l->conninfo);
        free(l);
        return NULL;
    }
    return l;
}

void
mg_ulistener_stop(mg_ulistener_t *l)
{
    if (l == NULL) {
        return;
    }
    atomic_store(&l->stop, 1);
    pthread_join(l->tid, NULL);
    free(l->conninfo);
    free(l);
}
