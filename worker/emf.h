/*
 * mg_emf: the worker's figures for CloudWatch, as Embedded Metric Format
 * documents written to the log (stderr, one JSON object a line, shipped
 * by the awslogs driver; CloudWatch Logs turns each into metric points).
 *
 * Every MANGOO_EMF_INTERVAL seconds (mg_emf_configure; 0: off) the broker
 * asks mg_emf_due and, when due, refreshes its gauges and calls
 * mg_emf_emit, which reads the process's registry (metrics.h, mg_wm) and
 * writes one document, namespace "Mangoo", one dimension "Service":
 *
 *   QueueDepth     jobs waiting for a pool thread, now       Count
 *   BusyThreads    pool threads running a job, now           Count
 *   StreamsOpen    model streams in the stream engine, now   Count
 *   FirstTokens    answers whose first token came in the interval  Count
 *   TimeToFirstToken     their mean time to first token      Seconds
 *   TimeToFirstTokenMax  the upper bound of the highest histogram bucket
 *                  one of them fell in (past the last bound, 60 s: 60)
 *                                                            Seconds
 *
 * The two TimeToFirstToken figures are left out of an interval without a
 * first token (no point rather than a false 0).  mg_emf_due and
 * mg_emf_emit keep state of their own and must be called from one thread
 * (the broker); mg_emf_render is pure.
 */
#ifndef MG_EMF_H
#define MG_EMF_H

#include <stddef.h>

#define MG_EMF_NAMESPACE    "Mangoo"
#define MG_EMF_SERVICE      "mangoo-worker"     /* the Service dimension's default */
#define MG_EMF_SERVICE_MAX  255
#define MG_EMF_BUCKETS_MAX  32                  /* TTFT histogram bounds kept */

/* What the registry says at one moment.  The TTFT figures are totals
 * since the process started, over every provider and model. */
typedef struct {
    double              queue_depth;
    double              busy_threads;
    double              streams_open;
    double              ttft_sum;               /* seconds */
    unsigned long long  ttft_count;
    size_t              ttft_nbounds;
    double              ttft_bounds[MG_EMF_BUCKETS_MAX];
    /* observations per bucket, not cumulative; [ttft_nbounds]: past the last */
    unsigned long long  ttft_buckets[MG_EMF_BUCKETS_MAX + 1];
} mg_emf_sample_t;

/* The registry's figures now into *s (all 0 while it is not set up). */
void  mg_emf_sample(mg_emf_sample_t *s);

/* One EMF document for the interval from prev to cur (prev NULL: from
 * nothing), stamped timestamp_ms (Unix milliseconds), with the Service
 * dimension service: a JSON object and '\n', malloc'd (the caller frees
 * it), its length in *len.  NULL when out of memory. */
char *mg_emf_render(const char *service, const mg_emf_sample_t *prev,
                    const mg_emf_sample_t *cur, long long timestamp_ms, size_t *len);

/* interval_s seconds between documents (0: off), the Service dimension
 * (NULL: MG_EMF_SERVICE; copied).  The first interval starts now.
 * 0, or -1 for an interval outside 0..86400 or a service name that is
 * empty or longer than MG_EMF_SERVICE_MAX. */
int   mg_emf_configure(long interval_s, const char *service);
/* 1 when a document is due at now_ms (monotonic, util/clock.h). */
int   mg_emf_due(long long now_ms);
/* Sample, render the interval since the last document and write it to fd
 * in one write(2); the interval restarts at now_ms.  0, or -1 (out of
 * memory, a failed write: that interval's counts are carried into the
 * next). */
int   mg_emf_emit(int fd, long long now_ms);

#endif
