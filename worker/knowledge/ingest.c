/*
 * mg_ingest: owns the ingest threads and their connections (see ingest.h).
 *
 * Invariants:
 *  - a thread touches a document only while it holds it: status
 *    'processing' and leased_by = this thread's holder id (host, pid,
 *    thread, a random nonce: unique across restarts).  Every write checks
 *    that in its WHERE clause, so a document deleted or taken over after
 *    the lease ran out is never written again by the thread that lost it;
 *  - chunks appear in one transaction with 'ready' (after deleting any
 *    chunks of that document), so a re-run after a crash duplicates
 *    nothing and a half-done ingestion is never searchable;
 *  - a failure leaves 'failed' with a reason a person can read and no
 *    chunks; database trouble (a restart) is not a document's failure:
 *    the thread drops its connection, reconnects with a back-off, and
 *    claims again, first what it held itself (leased_by = its id);
 *  - stopping (SIGTERM) is noticed between batches and while waiting:
 *    the document in hand is left to its lease.
 */
#include "knowledge/ingest.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "db/db.h"
#include "db/queries.h"
#include "knowledge/chunk.h"
#include "knowledge/embed.h"
#include "knowledge/extract.h"
#include "metrics.h"
#include "util/log.h"

#if defined(__has_include)
#if __has_include("knowledge/fetch.h")
#include "knowledge/fetch.h"
#define MG_INGEST_URLS 1
#endif
#endif

#define MG_INGEST_BACKOFF_MIN_MS  250
#define MG_INGEST_BACKOFF_MAX_MS  5000
#define MG_INGEST_STOP_SLICE_MS   200
#define MG_INGEST_ERR_MAX         512

typedef struct mg_ingest_thread_s mg_ingest_thread_t;

struct mg_ingest_s {
    char                 *conninfo;
    int                   lease_s;
    int                   batch_delay_ms;
    atomic_int            stop;
    int                   n;
    mg_ingest_thread_t   *threads;
};

struct mg_ingest_thread_s {
    mg_ingest_t  *ig;
    int           index;
    int           created;
    pthread_t     tid;
    PGconn       *conn;
    char          holder[160];      /* leased_by */
    int           doc_failed;       /* the document in hand was marked failed */
};

/* What ingesting one document ended in. */
typedef enum {
    MG_INGEST_DONE = 0,     /* ready, or failed with the reason stored */
    MG_INGEST_LOST,         /* deleted or taken over: dropped quietly */
    MG_INGEST_DB,           /* the connection failed: reconnect, claim again */
    MG_INGEST_STOPPING      /* shutting down: left to the lease */
} mg_ingest_rc_t;

static int
mg_ingest_stopping(const mg_ingest_t *ig)
{
    return atomic_load(&((mg_ingest_t *) ig)->stop) != 0;
}

/* Sleep ms, waking early when stopping. */
static void
mg_ingest_nap(const mg_ingest_t *ig, long ms)
{
    while (ms > 0 && !mg_ingest_stopping(ig)) {
        long step = ms < MG_INGEST_STOP_SLICE_MS ? ms : MG_INGEST_STOP_SLICE_MS;
        struct timespec ts = { step / 1000, (step % 1000) * 1000000L };

        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static void
mg_ingest_drop(mg_ingest_thread_t *t)
{
    if (t->conn != NULL) {
        PQfinish(t->conn);
        t->conn = NULL;
    }
}

/* A result that says the connection (not the statement) failed. */
static int
mg_ingest_conn_bad(mg_ingest_thread_t *t)
{
    return t->conn == NULL || PQstatus(t->conn) != CONNECTION_OK;
}

/* Run statement q (text parameters; binary result when binary).  The
 * result, or NULL when it failed (logged; the connection dropped when
 * it is the connection that failed). */
static PGresult *
mg_ingest_exec(mg_ingest_thread_t *t, mg_query_t q, const char *const *values, int binary)
{
    PGresult        *res;
    ExecStatusType   st;
    double           started = mg_metrics_clock();

    res = PQexecParams(t->conn, mg_queries[q].sql, mg_queries[q].nparams, NULL, values,
                       NULL, NULL, binary);
    mg_mhist_observe(mg_wm.pg_seconds, (const char *[]) { mg_queries[q].name },
                     mg_metrics_clock() - started);
    st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        return res;
    }
    if (!mg_ingest_conn_bad(t)) {
        const char *m = res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(t->conn);

        mg_log_error("ingest %d: %s: %.*s", t->index, mg_queries[q].name,
                     (int) strcspn(m, "\n"), m);
    }
    PQclear(res);
    return NULL;
}

static int
mg_ingest_simple(mg_ingest_thread_t *t, const char *sql)
{
    PGresult  *res = PQexec(t->conn, sql);
    int        ok = res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK;

    PQclear(res);
    return ok ? 0 : -1;
}

/* Connected and LISTENing, or -1 (the caller backs off). */
static int
mg_ingest_connect(mg_ingest_thread_t *t)
{
    if (t->conn != NULL && PQstatus(t->conn) == CONNECTION_OK) {
        return 0;
    }
    mg_ingest_drop(t);
    t->conn = mg_db_connect_plain(t->ig->conninfo);
    if (t->conn == NULL) {
        return -1;
    }
    if (mg_ingest_simple(t, "LISTEN " MG_INGEST_CHANNEL) != 0) {
        mg_ingest_drop(t);
        return -1;
    }
    return 0;
}

/* Wait up to the poll interval for a NOTIFY (or stop); drain what came. */
static void
mg_ingest_wait(mg_ingest_thread_t *t)
{
    long      left = MG_INGEST_POLL_MS;
    PGnotify *n;

    while (left > 0 && !mg_ingest_stopping(t->ig)) {
        struct pollfd pfd = { PQsocket(t->conn), POLLIN, 0 };
        int step = left < MG_INGEST_STOP_SLICE_MS ? (int) left : MG_INGEST_STOP_SLICE_MS;
        int got = 0;

        if (pfd.fd < 0) {
            return;
        }
        if (poll(&pfd, 1, step) > 0) {
            if (!PQconsumeInput(t->conn)) {
                return;                 /* the caller sees the bad connection */
            }
            while ((n = PQnotifies(t->conn)) != NULL) {
                got = 1;
                PQfreemem(n);
            }
            if (got) {
                return;
            }
        }
        left -= step;
    }
}

/* ---- one document ---- */

/* The claimed document and what is being made of it. */
typedef struct {
    const char   *id, *kb, *content_type, *source_url, *model;
    int           has_body, attempts;
    char         *data;         /* the bytes to extract, owned (malloc) */
    size_t        len;
    char          fetched_type[128];
} mg_ingest_doc_t;

/* Mark failed with reason.  The outcome for the loop. */
static mg_ingest_rc_t
mg_ingest_fail(mg_ingest_thread_t *t, const mg_ingest_doc_t *d, const char *reason)
{
    const char  *values[3] = { d->id, t->holder, reason };
    PGresult    *res;

    mg_log_info("ingest %d: document %s failed: %s", t->index, d->id, reason);
    t->doc_failed = 1;
    res = mg_ingest_exec(t, MG_Q_INGEST_FAIL, values, 0);
    if (res == NULL) {
        return mg_ingest_conn_bad(t) ? MG_INGEST_DB : MG_INGEST_DONE;
    }
    PQclear(res);
    return MG_INGEST_DONE;
}

/* Chunks done/total and a renewed lease.  0 still held; else the rc. */
static int
mg_ingest_progress(mg_ingest_thread_t *t, const mg_ingest_doc_t *d, size_t done,
                   size_t total, mg_ingest_rc_t *rc)
{
    char         dbuf[24], tbuf[24], lbuf[24];
    const char  *values[5] = { d->id, t->holder, dbuf, tbuf, lbuf };
    PGresult    *res;
    int          held;

    snprintf(dbuf, sizeof(dbuf), "%zu", done);
    snprintf(tbuf, sizeof(tbuf), "%zu", total);
    snprintf(lbuf, sizeof(lbuf), "%d", t->ig->lease_s);
    res = mg_ingest_exec(t, MG_Q_INGEST_PROGRESS, values, 0);
    if (res == NULL) {
        *rc = mg_ingest_conn_bad(t) ? MG_INGEST_DB : MG_INGEST_LOST;
        return -1;
    }
    held = PQntuples(res) == 1;
    PQclear(res);
    if (!held) {
        mg_log_info("ingest %d: document %s deleted or taken over: dropped", t->index, d->id);
        *rc = MG_INGEST_LOST;
        return -1;
    }
    return 0;
}

/* The bytes: stored, or fetched now (then stored for retries). */
static mg_ingest_rc_t
mg_ingest_load(mg_ingest_thread_t *t, mg_ingest_doc_t *d, char *err, size_t errlen, int *ok)
{
    const char  *values[5] = { d->id, t->holder, NULL, NULL, NULL };
    PGresult    *res;

    *ok = 0;
    if (d->has_body) {
        res = mg_ingest_exec(t, MG_Q_INGEST_BODY, values, 1);
        if (res == NULL) {
            return mg_ingest_conn_bad(t) ? MG_INGEST_DB : MG_INGEST_LOST;
        }
        if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
            PQclear(res);
            return MG_INGEST_LOST;
        }
        d->len = (size_t) PQgetlength(res, 0, 0);
        d->data = malloc(d->len + 1);
        if (d->data == NULL) {
            PQclear(res);
            snprintf(err, errlen, "out of memory");
            return MG_INGEST_DONE;
        }
        memcpy(d->data, PQgetvalue(res, 0, 0), d->len);
        d->data[d->len] = '\0';
        PQclear(res);
        *ok = 1;
        return MG_INGEST_DONE;
    }
    if (d->source_url == NULL) {
        snprintf(err, errlen, "the document has no content");
        return MG_INGEST_DONE;
    }
#ifdef MG_INGEST_URLS
    {
        char         size[24];
        const char  *pvals[5];
        int          lens[5] = { 0 }, fmts[5] = { 0 };

        if (mg_fetch_url(d->source_url, &d->data, &d->len, d->fetched_type,
                         sizeof(d->fetched_type), err, errlen) != 0)
        {
            return MG_INGEST_DONE;
        }
        if (d->len == 0) {
            snprintf(err, errlen, "the page is empty");
            return MG_INGEST_DONE;
        }
        snprintf(size, sizeof(size), "%zu", d->len);
        pvals[0] = d->id;
        pvals[1] = t->holder;
        pvals[2] = d->data;
        pvals[3] = d->fetched_type;
        pvals[4] = size;
        lens[2] = (int) d->len;
        fmts[2] = 1;
        res = PQexecParams(t->conn, mg_queries[MG_Q_INGEST_STORE_BODY].sql, 5, NULL, pvals,
                           lens, fmts, 0);
        if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
            PQclear(res);
            return mg_ingest_conn_bad(t) ? MG_INGEST_DB : MG_INGEST_LOST;
        }
        if (PQntuples(res) != 1) {
            PQclear(res);
            return MG_INGEST_LOST;
        }
        PQclear(res);
        d->content_type = d->fetched_type;
        *ok = 1;
        return MG_INGEST_DONE;
    }
#else
    snprintf(err, errlen, "documents by URL are not supported by this server yet");
    return MG_INGEST_DONE;
#endif
}

/* Code points in text[from..to), counted on from (from_chars) onwards. */
static size_t
mg_ingest_chars(const char *text, size_t from, size_t to)
{
    size_t n = 0;

    for (size_t i = from; i < to; i++) {
        n += ((unsigned char) text[i] & 0xc0) != 0x80;
    }
    return n;
}

/* The final transaction: the chunks in, 'ready'. */
static mg_ingest_rc_t
mg_ingest_commit(mg_ingest_thread_t *t, const mg_ingest_doc_t *d, const mg_doc_t *doc,
                 const mg_chunk_t *chunks, size_t n, const float *vecs)
{
    char         *text = NULL, *vec = NULL;
    char          ord[24], page[24], cs[24], ce[24], total[24];
    const char   *values[10];
    PGresult     *res;
    size_t        at_byte = 0, at_char = 0, cap = 0;
    int           held;
    mg_ingest_rc_t rc = MG_INGEST_DB;

    vec = malloc(MG_EMBED_TEXT_MAX);
    if (vec == NULL) {
        return mg_ingest_fail(t, d, "out of memory");
    }
    if (mg_ingest_simple(t, "BEGIN") != 0) {
        free(vec);
        return mg_ingest_conn_bad(t) ? MG_INGEST_DB : MG_INGEST_LOST;
    }
    values[0] = d->id;
    values[1] = t->holder;
    res = mg_ingest_exec(t, MG_Q_INGEST_CHUNK_DELETE, values, 0);
    if (res == NULL) {
        goto rollback;
    }
    held = atoi(PQgetvalue(res, 0, 0)) == 1;
    PQclear(res);
    if (!held) {
        rc = MG_INGEST_LOST;
        goto rollback;
    }

    values[0] = d->id;
    values[1] = d->kb;
    values[9] = d->model;
    for (size_t i = 0; i < n; i++) {
        const mg_chunk_t *c = &chunks[i];
        size_t            len = c->end - c->start, cstart, cend;

        if (len + 1 > cap) {
            char *grown = realloc(text, len + 1);

            if (grown == NULL) {
                goto rollback;
            }
            text = grown;
            cap = len + 1;
        }
        memcpy(text, doc->text + c->start, len);
        text[len] = '\0';
        if (c->start < at_byte) {
            at_byte = 0;
            at_char = 0;
        }
        cstart = at_char + mg_ingest_chars(doc->text, at_byte, c->start);
        cend = cstart + mg_ingest_chars(doc->text, c->start, c->end);
        at_byte = c->start;
        at_char = cstart;
        mg_embed_text(vecs + i * MG_EMBED_DIM, vec);

        snprintf(ord, sizeof(ord), "%zu", i);
        snprintf(page, sizeof(page), "%d", c->page);
        snprintf(cs, sizeof(cs), "%zu", cstart);
        snprintf(ce, sizeof(ce), "%zu", cend);
        values[2] = ord;
        values[3] = text;
        values[4] = vec;
        values[5] = c->page > 0 ? page : NULL;
        values[6] = c->heading != NULL ? c->heading : "";
        values[7] = cs;
        values[8] = ce;
        res = mg_ingest_exec(t, MG_Q_INGEST_CHUNK_INSERT, values, 0);
        if (res == NULL) {
            rc = mg_ingest_conn_bad(t) ? MG_INGEST_DB : MG_INGEST_LOST;
            goto rollback;
        }
        PQclear(res);
    }

    snprintf(total, sizeof(total), "%zu", n);
    values[0] = d->id;
    values[1] = t->holder;
    values[2] = total;
    res = mg_ingest_exec(t, MG_Q_INGEST_READY, values, 0);
    if (res == NULL) {
        rc = mg_ingest_conn_bad(t) ? MG_INGEST_DB : MG_INGEST_LOST;
        goto rollback;
    }
    held = PQntuples(res) == 1;
    PQclear(res);
    if (!held) {
        rc = MG_INGEST_LOST;
        goto rollback;
    }
    if (mg_ingest_simple(t, "COMMIT") != 0) {
        free(text);
        free(vec);
        return mg_ingest_conn_bad(t) ? MG_INGEST_DB : MG_INGEST_LOST;
    }
    free(text);
    free(vec);
    mg_log_info("ingest %d: document %s ready, %zu chunks", t->index, d->id, n);
    return MG_INGEST_DONE;

rollback:
    if (!mg_ingest_conn_bad(t)) {
        (void) mg_ingest_simple(t, "ROLLBACK");
    }
    free(text);
    free(vec);
    if (rc == MG_INGEST_LOST) {
        mg_log_info("ingest %d: document %s deleted or taken over: dropped", t->index, d->id);
    }
    return rc;
}

/* Extract, chunk, embed, commit.  d is claimed. */
static mg_ingest_rc_t
mg_ingest_document(mg_ingest_thread_t *t, mg_ingest_doc_t *d)
{
    char             err[MG_INGEST_ERR_MAX], reason[MG_INGEST_ERR_MAX + 64];
    mg_doc_t         doc;
    mg_chunk_t      *chunks = NULL;
    size_t           n = 0;
    float           *vecs = NULL;
    mg_chunk_opts_t  opts = { MG_INGEST_TARGET_TOKENS, MG_INGEST_OVERLAP_TOKENS };
    mg_ingest_rc_t   rc;
    int              ok, have_doc = 0;

    err[0] = '\0';
    memset(&doc, 0, sizeof(doc));

    if (d->attempts > MG_INGEST_MAX_ATTEMPTS) {
        snprintf(reason, sizeof(reason), "gave up after %d attempts: ingestion kept "
                 "stopping before it finished", MG_INGEST_MAX_ATTEMPTS);
        return mg_ingest_fail(t, d, reason);
    }

    rc = mg_ingest_load(t, d, err, sizeof(err), &ok);
    if (!ok) {
        if (rc != MG_INGEST_DONE) {
            return rc;
        }
        return mg_ingest_fail(t, d, err[0] ? err : "the document could not be read");
    }

    if (mg_extract(d->content_type, d->data, d->len, &doc, err, sizeof(err)) != 0) {
        rc = mg_ingest_fail(t, d, err[0] ? err : "no text could be extracted");
        goto done;
    }
    have_doc = 1;
    free(d->data);              /* the text is all that is needed now */
    d->data = NULL;

    if (mg_chunk(&doc, &opts, &chunks, &n) != 0) {
        rc = mg_ingest_fail(t, d, "the text could not be split into chunks");
        goto done;
    }
    if (n == 0) {
        rc = mg_ingest_fail(t, d, "no text found in the document");
        goto done;
    }
    vecs = malloc(n * MG_EMBED_DIM * sizeof(float));
    if (vecs == NULL) {
        rc = mg_ingest_fail(t, d, "the document is too large to embed here (out of memory)");
        goto done;
    }
    if (mg_ingest_progress(t, d, 0, n, &rc) != 0) {
        goto done;
    }

    for (size_t i = 0; i < n; i += MG_INGEST_BATCH) {
        const char  *texts[MG_INGEST_BATCH];
        size_t       lens[MG_INGEST_BATCH];
        size_t       b = n - i < MG_INGEST_BATCH ? n - i : MG_INGEST_BATCH;
        int          retryable = 0;

        if (mg_ingest_stopping(t->ig)) {
            rc = MG_INGEST_STOPPING;
            goto done;
        }
        for (size_t j = 0; j < b; j++) {
            texts[j] = doc.text + chunks[i + j].start;
            lens[j] = chunks[i + j].end - chunks[i + j].start;
        }
        err[0] = '\0';
        if (mg_embed(d->model, texts, lens, b, vecs + i * MG_EMBED_DIM, &retryable, err,
                     sizeof(err)) != 0)
        {
            snprintf(reason, sizeof(reason), "embedding failed (%s): %s", d->model,
                     err[0] ? err : "no reason given");
            rc = mg_ingest_fail(t, d, reason);
            goto done;
        }
        if (mg_ingest_progress(t, d, i + b, n, &rc) != 0) {
            goto done;
        }
        if (t->ig->batch_delay_ms > 0) {
            mg_ingest_nap(t->ig, t->ig->batch_delay_ms);
        }
    }

    rc = mg_ingest_commit(t, d, &doc, chunks, n, vecs);

done:
    free(vecs);
    mg_chunks_free(chunks, n);
    if (have_doc) {
        mg_doc_free(&doc);
    }
    return rc;
}

/* What one claimed document came to, for metrics: ready, failed (the
 * reason stored), lost (deleted or taken over), database (the connection
 * failed; it is claimed again), stopped (left to its lease). */
static void
mg_ingest_count(const mg_ingest_thread_t *t, mg_ingest_rc_t rc)
{
    const char *outcome = rc == MG_INGEST_LOST ? "lost"
                          : rc == MG_INGEST_DB ? "database_unavailable"
                          : rc == MG_INGEST_STOPPING ? "stopped"
                          : t->doc_failed ? "failed" : "ready";

    mg_mcounter_add(mg_wm.ingest_jobs, (const char *[]) { outcome }, 1);
}

/* Claim one document and ingest it.  1 when one was claimed, 0 when the
 * queue is empty, -1 when the connection failed. */
static int
mg_ingest_one(mg_ingest_thread_t *t)
{
    char              lease[24];
    const char       *values[2] = { t->holder, lease };
    PGresult         *res;
    mg_ingest_doc_t   d;
    mg_ingest_rc_t    rc;

    snprintf(lease, sizeof(lease), "%d", t->ig->lease_s);
    res = mg_ingest_exec(t, MG_Q_INGEST_CLAIM, values, 0);
    if (res == NULL) {
        return mg_ingest_conn_bad(t) ? -1 : 0;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return 0;
    }
    memset(&d, 0, sizeof(d));
    d.id = PQgetvalue(res, 0, MG_CLAIM_COL_ID);
    d.kb = PQgetvalue(res, 0, MG_CLAIM_COL_KB_ID);
    d.content_type = PQgetvalue(res, 0, MG_CLAIM_COL_CONTENT_TYPE);
    d.source_url = PQgetisnull(res, 0, MG_CLAIM_COL_SOURCE_URL)
                   ? NULL : PQgetvalue(res, 0, MG_CLAIM_COL_SOURCE_URL);
    d.has_body = PQgetvalue(res, 0, MG_CLAIM_COL_HAS_BODY)[0] == 't';
    d.model = PQgetvalue(res, 0, MG_CLAIM_COL_MODEL);
    d.attempts = atoi(PQgetvalue(res, 0, MG_CLAIM_COL_ATTEMPTS));
    mg_log_info("ingest %d: document %s claimed (attempt %d)", t->index, d.id, d.attempts);

    t->doc_failed = 0;
    rc = mg_ingest_document(t, &d);
    mg_ingest_count(t, rc);
    free(d.data);
    PQclear(res);
    return rc == MG_INGEST_DB ? -1 : 1;
}

static void *
mg_ingest_main(void *arg)
{
    mg_ingest_thread_t  *t = arg;
    long                 backoff = MG_INGEST_BACKOFF_MIN_MS;
    int                  down_logged = 0;

    while (!mg_ingest_stopping(t->ig)) {
        int got;

        if (mg_ingest_connect(t) != 0) {
            if (!down_logged) {
                mg_log_warn("ingest %d: no database; retrying", t->index);
                down_logged = 1;
            }
            mg_ingest_nap(t->ig, backoff);
            backoff = backoff * 2 > MG_INGEST_BACKOFF_MAX_MS ? MG_INGEST_BACKOFF_MAX_MS
                                                             : backoff * 2;
            continue;
        }
        if (down_logged) {
            mg_log_info("ingest %d: database back", t->index);
            down_logged = 0;
        }
        backoff = MG_INGEST_BACKOFF_MIN_MS;

        got = mg_ingest_one(t);
        if (got < 0 || mg_ingest_conn_bad(t)) {
            mg_ingest_drop(t);
            continue;
        }
        if (got == 0) {
            mg_ingest_wait(t);
        }
    }
    mg_ingest_drop(t);
    return NULL;
}

static int
mg_ingest_env_int(const char *name, int def, int min, int max, int *out)
{
    const char  *s = getenv(name);
    char        *e;
    long         v;

    if (s == NULL || *s == '\0') {
        *out = def;
        return 0;
    }
    errno = 0;
    v = strtol(s, &e, 10);
    if (errno != 0 || *e != '\0' || v < min || v > max) {
        mg_log_error("%s must be an integer from %d to %d", name, min, max);
        return -1;
    }
    *out = (int) v;
    return 0;
}

int
mg_ingest_env(mg_ingest_config_t *cfg)
{
    if (mg_ingest_env_int("MANGOO_INGEST_CONCURRENCY", 1, 0, 64, &cfg->concurrency) != 0
        || mg_ingest_env_int("MANGOO_INGEST_LEASE", 60, 1, 86400, &cfg->lease_s) != 0
        || mg_ingest_env_int("MANGOO_INGEST_BATCH_DELAY_MS", 0, 0, 60000,
                             &cfg->batch_delay_ms) != 0)
    {
        return -1;
    }
    return 0;
}

mg_ingest_t *
mg_ingest_start(const mg_ingest_config_t *cfg)
{
    mg_ingest_t   *ig;
    char           host[64];
    unsigned char  nonce[4] = { 0 };
    FILE          *f;
    int            started = 0;

    if (cfg->concurrency <= 0) {
        return NULL;
    }
    ig = calloc(1, sizeof(*ig));
    if (ig == NULL || (ig->conninfo = strdup(cfg->conninfo)) == NULL
        || (ig->threads = calloc((size_t) cfg->concurrency, sizeof(*ig->threads))) == NULL)
    {
        mg_log_error("ingest: out of memory, no ingestion in this process");
        if (ig != NULL) {
            free(ig->conninfo);
        }
        free(ig);
        return NULL;
    }
    ig->n = cfg->concurrency;
    ig->lease_s = cfg->lease_s;
    ig->batch_delay_ms = cfg->batch_delay_ms;
    atomic_init(&ig->stop, 0);

    if (gethostname(host, sizeof(host)) != 0) {
        snprintf(host, sizeof(host), "worker");
    }
    host[sizeof(host) - 1] = '\0';
    f = fopen("/dev/urandom", "rb");
    if (f != NULL) {
        if (fread(nonce, 1, sizeof(nonce), f) != sizeof(nonce)) {
            nonce[0] = (unsigned char) time(NULL);
        }
        fclose(f);
    }
    for (int i = 0; i < ig->n; i++) {
        mg_ingest_thread_t *t = &ig->threads[i];
        int                 e;

        t->ig = ig;
        t->index = i;
        /* pid second: the e2e tests find the process holding a document */
        snprintf(t->holder, sizeof(t->holder), "%s:%ld:%d:%02x%02x%02x%02x", host,
                 (long) getpid(), i, nonce[0], nonce[1], nonce[2], nonce[3]);
        e = pthread_create(&t->tid, NULL, mg_ingest_main, t);
        if (e != 0) {
            mg_log_error("ingest: cannot start thread %d: %s", i, strerror(e));
            continue;
        }
        t->created = 1;
        started++;
    }
    if (started == 0) {
        mg_ingest_stop(ig);
        return NULL;
    }
    mg_log_info("ingest: %d thread(s), lease %d s", started, ig->lease_s);
    return ig;
}

void
mg_ingest_stop(mg_ingest_t *ig)
{
    if (ig == NULL) {
        return;
    }
    atomic_store(&ig->stop, 1);
    for (int i = 0; i < ig->n; i++) {
        if (ig->threads[i].created) {
            pthread_join(ig->threads[i].tid, NULL);
        }
    }
    free(ig->threads);
    free(ig->conninfo);
    free(ig);
}
