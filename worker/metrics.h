/*
 * mg_metrics: a registry of counters, gauges and histograms, rendered in
 * the Prometheus text exposition format (version 0.0.4), and the worker
 * process's own families (mg_wm).
 *
 * A family has a fixed name, help text and label names; its series are
 * made on first use, one per tuple of label values.  Label values must
 * come from bounded sets (job names, error codes, provider, listed model,
 * statement names), never from users: a family keeps at most
 * MG_METRICS_SERIES_MAX series and drops updates to new ones beyond.
 *
 * Updates may come from any thread (one mutex per family); a family
 * pointer that is NULL (the registry was never set up: unit tests, the
 * command-line tools) makes an update do nothing.  An update that cannot
 * be kept (out of memory, the series cap) is logged once per family and
 * dropped: metrics never fail the work they describe.
 */
#ifndef MG_METRICS_H
#define MG_METRICS_H

#include <stddef.h>
#include <time.h>

#define MG_METRICS_SERIES_MAX   1000
#define MG_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* the job the module's metrics location sends; answered by the broker */
#define MG_METRICS_JOB          "metrics"

typedef struct mg_metrics_s  mg_metrics_t;
typedef struct mg_mfamily_s  mg_mfamily_t;

typedef enum {
    MG_MCOUNTER = 0,
    MG_MGAUGE,
    MG_MHISTOGRAM
} mg_mtype_t;

/* An empty registry; NULL when out of memory. */
mg_metrics_t *mg_metrics_new(void);
void          mg_metrics_free(mg_metrics_t *m);

/* Add a family; families render in the order they were added.  name,
 * help, labels (NULL-terminated, or NULL for none) and buckets (upper
 * bounds, increasing, histograms only; +Inf is implied) are borrowed and
 * must outlive m.  An unlabelled counter, gauge or histogram has its one
 * series from the start (it renders 0).  NULL, with the reason logged,
 * for a bad name, a duplicate, bad buckets or no memory. */
mg_mfamily_t *mg_metrics_add(mg_metrics_t *m, mg_mtype_t type, const char *name,
                             const char *help, const char *const *labels,
                             const double *buckets, size_t nbuckets);

/* Updates: values has one entry per label name, in order (NULL when the
 * family has none).  A counter only grows (v < 0 is ignored). */
void mg_mcounter_add(mg_mfamily_t *f, const char *const *values, double v);
void mg_mgauge_set(mg_mfamily_t *f, const char *const *values, double v);
void mg_mgauge_add(mg_mfamily_t *f, const char *const *values, double v);
void mg_mhist_observe(mg_mfamily_t *f, const char *const *values, double v);

/* Read f's figures, summed over its series whose label values equal match
 * (one entry per label name, a NULL entry matching any value; match NULL:
 * every series): *value the counters' or gauges' values, or the
 * histograms' sums; *count the histograms' observations (0 otherwise);
 * when buckets is not NULL, buckets[i] for i < nbuckets the observations
 * in the i-th bucket alone (not cumulative; bounds from mg_mfamily_bounds)
 * and buckets[nbuckets] those past the last bound: nbuckets + 1 entries,
 * nbuckets being the family's number of bounds.  0, or -1 for a NULL
 * family or another nbuckets (then nothing is written). */
int  mg_mfamily_read(mg_mfamily_t *f, const char *const *match, double *value,
                     unsigned long long *count, unsigned long long *buckets, size_t nbuckets);
/* A histogram's bucket bounds (borrowed) and their number in *n; NULL
 * with *n 0 for another family or NULL. */
const double *mg_mfamily_bounds(const mg_mfamily_t *f, size_t *n);

/* The exposition text of every family into *out (malloc'd, NUL-terminated,
 * the caller frees it), its length in *len.  0, or -1 out of memory. */
int  mg_metrics_render(mg_metrics_t *m, char **out, size_t *len);

/* A number as Prometheus parses it ("0.25", "1e-05", "+Inf", "NaN") into
 * buf (at least 32 bytes).  Returns buf. */
char *mg_metrics_number(double v, char *buf, size_t size);

/* ---- the worker process's families ---------------------------------------- */

typedef struct {
    mg_metrics_t  *reg;
    mg_mfamily_t  *jobs;                 /* {job,outcome} */
    mg_mfamily_t  *job_seconds;          /* {job} */
    mg_mfamily_t  *queue_depth;
    mg_mfamily_t  *pool_threads;         /* {state} */
    mg_mfamily_t  *streams_open;
    mg_mfamily_t  *stream_events;
    mg_mfamily_t  *provider_requests;    /* {provider,model,outcome} */
    mg_mfamily_t  *provider_first_token; /* {provider,model} */
    mg_mfamily_t  *provider_seconds;     /* {provider,model} */
    mg_mfamily_t  *provider_retries;     /* {provider} */
    mg_mfamily_t  *provider_tokens;      /* {provider,model,direction} */
    mg_mfamily_t  *pg_seconds;           /* {statement} */
    mg_mfamily_t  *ingest_jobs;          /* {outcome} */
    mg_mfamily_t  *flow_held;
    mg_mfamily_t  *flow_blocked;
    mg_mfamily_t  *flow_credit;
    mg_mfamily_t  *rcache_requests;      /* {result} */
    mg_mfamily_t  *start_time;
    mg_mfamily_t  *stopping;             /* 1 while draining after SIGTERM */
} mg_worker_metrics_t;

/* The process's registry; all NULL until mg_wm_init. */
extern mg_worker_metrics_t mg_wm;

/* Make the registry and every family (before any thread that updates
 * them starts), and record the start time.  0, or -1 logged. */
int  mg_wm_init(void);
void mg_wm_free(void);

/* Monotonic seconds, to the microsecond: durations for the histograms
 * (mg_now_ms is too coarse for a statement's 0.0005 s bucket). */
static inline double
mg_metrics_clock(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

#endif
