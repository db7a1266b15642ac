/*
 * mg_ingest: the ingest threads of one worker process.  Each holds its own
 * PostgreSQL connection (not the pool's), LISTENs on "mangoo_ingest" and
 * polls every second, claims one document at a time from the queue (the
 * documents table: 'queued', or 'processing' with a lease that ran out)
 * with FOR UPDATE SKIP LOCKED and a lease, and turns it into chunks:
 * fetch (a URL) -> extract -> chunk -> embed in batches (progress and the
 * lease renewed after each) -> one transaction that replaces the
 * document's chunks and marks it 'ready'.  Failure marks it 'failed' with
 * the reason and no chunks.  A document deleted (or taken over after the
 * lease ran out) while being ingested is dropped quietly.
 */
#ifndef MG_KNOWLEDGE_INGEST_H
#define MG_KNOWLEDGE_INGEST_H

#define MG_INGEST_CHANNEL        "mangoo_ingest"
#define MG_INGEST_POLL_MS        1000    /* look at the queue at least this often */
#define MG_INGEST_BATCH          16      /* texts per embedding call */
#define MG_INGEST_TARGET_TOKENS  600
#define MG_INGEST_OVERLAP_TOKENS 80
#define MG_INGEST_MAX_ATTEMPTS   5       /* claims of one document before it fails */

typedef struct {
    const char  *conninfo;      /* copied */
    int          concurrency;   /* threads; 0: none */
    int          lease_s;       /* seconds a claim holds without renewal */
    int          batch_delay_ms;    /* a pause after each batch (tests); 0 */
} mg_ingest_config_t;

typedef struct mg_ingest_s mg_ingest_t;

/* Start cfg->concurrency threads (call with SIGTERM/SIGINT blocked, so the
 * signal stays with the broker).  A database that is down is not an
 * error: the threads keep trying.  NULL when nothing was started (0
 * threads, or none could be created: logged). */
mg_ingest_t *mg_ingest_start(const mg_ingest_config_t *cfg);

/* Stop and join the threads: a document being ingested is left to its
 * lease (another worker, or this one restarted, takes it over).  NULL is
 * a no-op. */
void mg_ingest_stop(mg_ingest_t *ig);

/* The settings from the environment: MANGOO_INGEST_CONCURRENCY (1),
 * MANGOO_INGEST_LEASE (60), MANGOO_INGEST_BATCH_DELAY_MS (0).  0, or -1
 * with the problem logged. */
int mg_ingest_env(mg_ingest_config_t *cfg);

#endif
