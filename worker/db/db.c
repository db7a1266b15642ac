/*
 * mg_db: owns a thread's PGconn and its health.  Invariants: db->conn is
 * either NULL or a connection with every statement of mg_queries prepared;
 * a connection found broken is closed at once, never reused.  Only the
 * owning thread touches a mg_db_t.
 *
 * Retrying: a statement is re-run at most once, and only when the
 * connection itself broke (PQstatus CONNECTION_BAD).  Usually the server
 * closed an idle connection and the statement never ran.  If it did run
 * and commit before the connection died, re-running it is still safe for
 * the statements in db/queries.c (see there): ids come from C, so a
 * re-run insert finds its own row instead of adding a second one.
 */
#include "db/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "util/clock.h"
#include "util/log.h"

/* A connect attempt slower than this is a timeout, not a refusal. */
#define MG_DB_SLOW_MS        1000
/* After a slow failure, fail fast for this long. */
#define MG_DB_BACKOFF_MS     2000
/* After a failed PQprepare (schema not migrated?), fail fast for this long. */
#define MG_DB_PREPARE_BACKOFF_MS 1000

struct mg_db_s {
    char       *conninfo;
    char        label[32];
    PGconn     *conn;
    long long   retry_after_ms;     /* monotonic; 0: no backoff */
    int         up;                 /* last known state, to log changes only */
    int         ever_tried;
};


/* First line of a libpq message, for one-line logs. */
static void
mg_first_line(const char *msg, char *buf, size_t cap)
{
    size_t n = strcspn(msg ? msg : "", "\n");

    if (n >= cap) {
        n = cap - 1;
    }
    memcpy(buf, msg ? msg : "", n);
    buf[n] = '\0';
}

/* Session settings for hybrid search (MG_Q_KB_SEARCH_VEC): pgvector 0.8's
 * iterative index scans, so the knowledge-base filter cannot starve the
 * HNSW result, and the candidate list the scan keeps (ef_search; recall
 * against speed, see README "Knowledge").  They are placeholders until
 * the vector library loads in the session, which then adopts them.  The
 * empty-query notice of websearch_to_tsquery stays on the server. */
#define MG_DB_SEARCH_OPTIONS                                                \
    "-c hnsw.iterative_scan=relaxed_order -c hnsw.ef_search=400 "           \
    "-c client_min_messages=warning"

/* The user's conninfo comes last so that anything it sets explicitly
 * (including connect_timeout) wins over our defaults. */
static PGconn *
mg_db_open(const char *conninfo, int with_statement_timeout)
{
    const char *keys[] = { "connect_timeout", "fallback_application_name",
                           "options", "dbname", NULL };
    const char *vals[] = { MG_DB_CONNECT_TIMEOUT, "mangoo-worker",
                           "-c statement_timeout=" MG_DB_STATEMENT_TIMEOUT " " MG_DB_SEARCH_OPTIONS,
                           conninfo, NULL };

    if (!with_statement_timeout) {
        vals[2] = "-c statement_timeout=0 " MG_DB_SEARCH_OPTIONS;
    }
    return PQconnectdbParams(keys, vals, 1);
}

mg_db_t *
mg_db_new(const char *conninfo, const char *label)
{
    mg_db_t  *db;

    db = calloc(1, sizeof(*db));
    if (db == NULL) {
        return NULL;
    }
    db->conninfo = strdup(conninfo);
    if (db->conninfo == NULL) {
        free(db);
        return NULL;
    }
    snprintf(db->label, sizeof(db->label), "%s", label);
    return db;
}

void
mg_db_free(mg_db_t *db)
{
    if (db == NULL) {
        return;
    }
    if (db->conn != NULL) {
        PQfinish(db->conn);
    }
    free(db->conninfo);
    free(db);
}

static void
mg_db_mark_down(mg_db_t *db, const char *what, const char *msg)
{
    char  line[256];

    mg_first_line(msg, line, sizeof(line));
    if (db->up || !db->ever_tried) {
        mg_log_warn("db %s: %s: %s", db->label, what, line);
    } else {
        mg_log_debug("db %s: %s: %s", db->label, what, line);
    }
    db->up = 0;
    db->ever_tried = 1;
}

static void
mg_db_close(mg_db_t *db)
{
    if (db->conn != NULL) {
        PQfinish(db->conn);
        db->conn = NULL;
    }
}

int
mg_db_connect(mg_db_t *db)
{
    long long  start, now;
    PGresult  *r;

    if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK) {
        return 0;
    }
    mg_db_close(db);

    start = mg_now_ms();
    if (db->retry_after_ms != 0 && start < db->retry_after_ms) {
        return -1;
    }
    db->retry_after_ms = 0;

    db->conn = mg_db_open(db->conninfo, 1);
    if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK) {
        now = mg_now_ms();
        if (now - start >= MG_DB_SLOW_MS) {
            db->retry_after_ms = now + MG_DB_BACKOFF_MS;
        }
        mg_db_mark_down(db, "cannot connect",
                        db->conn ? PQerrorMessage(db->conn) : "out of memory");
        mg_db_close(db);
        return -1;
    }

    for (int i = 0; i < MG_Q__COUNT; i++) {
        const mg_query_def_t *q = &mg_queries[i];

        r = PQprepare(db->conn, q->name, q->sql, q->nparams, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            char what[96];

            snprintf(what, sizeof(what), "cannot prepare %s", q->name);
            mg_db_mark_down(db, what, PQresultErrorMessage(r));
            PQclear(r);
            mg_db_close(db);
            db->retry_after_ms = mg_now_ms() + MG_DB_PREPARE_BACKOFF_MS;
            return -1;
        }
        PQclear(r);
    }

    if (!db->up) {
        mg_log_info("db %s: connected", db->label);
    }
    db->up = 1;
    db->ever_tried = 1;
    return 0;
}

const char *
mg_db_sqlstate(const PGresult *res)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    return s ? s : "";
}

const char *
mg_db_constraint(const PGresult *res)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;

    return s ? s : "";
}

/* SQLSTATEs that mean "the database, not the statement": connection
 * exceptions (08), too many connections / out of resources (53), server
 * shutting down or starting (57P01-57P03), statement timeout (57014). */
static int
mg_db_state_unavailable(const char *state)
{
    return strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0
           || strncmp(state, "57P0", 4) == 0 || strcmp(state, "57014") == 0;
}

mg_db_rc_t
mg_db_exec(mg_db_t *db, mg_query_t q, const char *const *values, PGresult **res)
{
    return mg_db_exec_binary(db, q, values, NULL, NULL, res);
}

mg_db_rc_t
mg_db_exec_binary(mg_db_t *db, mg_query_t q, const char *const *values, const int *lengths,
                  const int *binary, PGresult **res)
{
    const mg_query_def_t  *def = &mg_queries[q];
    PGresult              *r;
    ExecStatusType         st;
    double                 started;

    *res = NULL;

    for (int attempt = 0; attempt < 2; attempt++) {
        if (mg_db_connect(db) != 0) {
            return MG_DB_UNAVAILABLE;
        }

        started = mg_metrics_clock();
        r = PQexecPrepared(db->conn, def->name, def->nparams, values, lengths, binary, 0);
        /* by the prepared statement's name: a fixed set, never values */
        mg_mhist_observe(mg_wm.pg_seconds, (const char *[]) { def->name },
                         mg_metrics_clock() - started);
        st = PQresultStatus(r);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            *res = r;
            return MG_DB_OK;
        }

        if (r == NULL || PQstatus(db->conn) == CONNECTION_BAD) {
            mg_db_mark_down(db, "connection lost",
                            r ? PQresultErrorMessage(r) : PQerrorMessage(db->conn));
            PQclear(r);
            mg_db_close(db);
            continue;               /* reconnect once, run once more */
        }

        if (mg_db_state_unavailable(mg_db_sqlstate(r))) {
            char line[256];

            mg_first_line(PQresultErrorMessage(r), line, sizeof(line));
            mg_log_warn("db %s: %s: %s", db->label, def->name, line);
            PQclear(r);
            return MG_DB_UNAVAILABLE;
        }

        *res = r;
        return MG_DB_FAILED;
    }

    return MG_DB_UNAVAILABLE;
}

PGconn *
mg_db_connect_plain(const char *conninfo)
{
    PGconn  *conn;
    char     line[256];

    conn = mg_db_open(conninfo, 0);
    if (conn == NULL) {
        mg_log_error("db: cannot connect: out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        mg_first_line(PQerrorMessage(conn), line, sizeof(line));
        mg_log_error("db: cannot connect: %s", line);
        PQfinish(conn);
        return NULL;
    }
    return conn;
}
