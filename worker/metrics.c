/*
 * mg_metrics: owns the registries (metrics.h): their families, each
 * family's series, and the exposition text.
 *
 * Invariants:
 *  - families are only added before the threads that update them start
 *    (mg_wm_init), so the family list is read without a lock; one mutex
 *    per family guards its series and their values;
 *  - a series is never removed: its pointer and label values live as long
 *    as the registry, and its place in the family's list (creation order)
 *    is its place in the text;
 *  - histogram buckets are counted one by one and made cumulative only
 *    when rendered, so an observation costs one search and three writes;
 *  - every family renders exactly once, HELP and TYPE first, even with no
 *    series yet.
 */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"
#include "util/sb.h"

#define MG_MLABELS_MAX  8

typedef struct mg_mseries_s mg_mseries_t;

struct mg_mseries_s {
    mg_mseries_t  *next;
    char         **values;          /* nlabels strings, in this allocation */
    double         value;           /* counter, gauge; a histogram's sum */
    uint64_t       count;           /* histogram: observations */
    uint64_t      *buckets;         /* histogram: per bucket, not cumulative */
};

struct mg_mfamily_s {
    mg_mfamily_t        *next;
    mg_mtype_t           type;
    const char          *name;
    const char          *help;
    const char *const   *labels;
    size_t               nlabels;
    const double        *bounds;
    size_t               nbounds;
    pthread_mutex_t      lock;
    mg_mseries_t        *head, *tail;
    size_t               nseries;
    int                  warned;        /* a dropped update was logged */
};

struct mg_metrics_s {
    mg_mfamily_t  *head, *tail;
};

mg_worker_metrics_t mg_wm;

/* ---- registry ----------------------------------------------------------- */

mg_metrics_t *
mg_metrics_new(void)
{
    return calloc(1, sizeof(mg_metrics_t));
}

void
mg_metrics_free(mg_metrics_t *m)
{
    mg_mfamily_t  *f, *fnext;
    mg_mseries_t  *s, *snext;

    if (m == NULL) {
        return;
    }
    for (f = m->head; f != NULL; f = fnext) {
        fnext = f->next;
        for (s = f->head; s != NULL; s = snext) {
            snext = s->next;
            free(s);
        }
        pthread_mutex_destroy(&f->lock);
        free(f);
    }
    free(m);
}

/* Prometheus' metric and label name rules (a label may not hold ':'). */
static int
mg_metrics_name_ok(const char *name, int label)
{
    if (name == NULL || *name == '\0' || (*name >= '0' && *name <= '9')) {
        return 0;
    }
    for (const char *p = name; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
              || *p == '_' || (*p == ':' && !label)))
        {
            return 0;
        }
    }
    return 1;
}

/* A new series with copies of values (NULL when out of memory); the
 * caller links it.  One allocation holds it all. */
static mg_mseries_t *
mg_mseries_new(const mg_mfamily_t *f, const char *const *values)
{
    size_t         size = sizeof(mg_mseries_t) + f->nlabels * sizeof(char *);
    size_t         lens[MG_MLABELS_MAX];
    mg_mseries_t  *s;
    char          *at;

    size += (f->type == MG_MHISTOGRAM ? f->nbounds : 0) * sizeof(uint64_t);
    for (size_t i = 0; i < f->nlabels; i++) {
        lens[i] = strlen(values[i] != NULL ? values[i] : "");
        size += lens[i] + 1;
    }
    s = calloc(1, size);
    if (s == NULL) {
        return NULL;
    }
    /* buckets first: their alignment is the struct's */
    at = (char *) (s + 1);
    if (f->type == MG_MHISTOGRAM) {
        s->buckets = (uint64_t *) at;
        at += f->nbounds * sizeof(uint64_t);
    }
    s->values = (char **) at;
    at += f->nlabels * sizeof(char *);
    for (size_t i = 0; i < f->nlabels; i++) {
        s->values[i] = at;
        memcpy(at, values[i] != NULL ? values[i] : "", lens[i] + 1);
        at += lens[i] + 1;
    }
    return s;
}

mg_mfamily_t *
mg_metrics_add(mg_metrics_t *m, mg_mtype_t type, const char *name, const char *help,
               const char *const *labels, const double *buckets, size_t nbuckets)
{
    mg_mfamily_t  *f;
    size_t         n = 0;

    if (m == NULL || !mg_metrics_name_ok(name, 0) || help == NULL) {
        mg_log_error("metrics: bad family name \"%s\"", name != NULL ? name : "");
        return NULL;
    }
    for (f = m->head; f != NULL; f = f->next) {
        if (strcmp(f->name, name) == 0) {
            mg_log_error("metrics: family %s is duplicate", name);
            return NULL;
        }
    }
    for (; labels != NULL && labels[n] != NULL; n++) {
        /* "le" is the histogram's own; "__" names are Prometheus' */
        if (n == MG_MLABELS_MAX || !mg_metrics_name_ok(labels[n], 1)
            || strncmp(labels[n], "__", 2) == 0
            || (type == MG_MHISTOGRAM && strcmp(labels[n], "le") == 0))
        {
            mg_log_error("metrics: family %s: bad label name \"%s\"", name, labels[n]);
            return NULL;
        }
    }
    if (type == MG_MHISTOGRAM) {
        for (size_t i = 0; i < nbuckets; i++) {
            if (isnan(buckets[i]) || isinf(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1])) {
                mg_log_error("metrics: family %s: buckets must be finite and increasing", name);
                return NULL;
            }
        }
    } else {
        nbuckets = 0;
    }

    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        mg_log_error("metrics: out of memory");
        return NULL;
    }
    f->type = type;
    f->name = name;
    f->help = help;
    f->labels = labels;
    f->nlabels = n;
    f->bounds = buckets;
    f->nbounds = nbuckets;
    if (pthread_mutex_init(&f->lock, NULL) != 0) {
        free(f);
        mg_log_error("metrics: cannot make a lock");
        return NULL;
    }
    if (n == 0) {
        /* its one series exists from the start: it renders 0 */
        f->head = f->tail = mg_mseries_new(f, NULL);
        if (f->head == NULL) {
            pthread_mutex_destroy(&f->lock);
            free(f);
            mg_log_error("metrics: out of memory");
            return NULL;
        }
        f->nseries = 1;
    }
    if (m->tail != NULL) {
        m->tail->next = f;
    } else {
        m->head = f;
    }
    m->tail = f;
    return f;
}

/* The series for values, made if new; NULL (logged once) when it cannot
 * be.  Under f->lock. */
static mg_mseries_t *
mg_mseries_get(mg_mfamily_t *f, const char *const *values)
{
    mg_mseries_t  *s;
    size_t         i;

    for (s = f->head; s != NULL; s = s->next) {
        for (i = 0; i < f->nlabels; i++) {
            if (strcmp(s->values[i], values[i] != NULL ? values[i] : "") != 0) {
                break;
            }
        }
        if (i == f->nlabels) {
            return s;
        }
    }
    s = f->nseries < MG_METRICS_SERIES_MAX ? mg_mseries_new(f, values) : NULL;
    if (s == NULL) {
        if (!f->warned) {
            f->warned = 1;
            mg_log_error("metrics: %s: a new series dropped (%zu kept; out of memory or at "
                         "the cap): its updates are lost", f->name, f->nseries);
        }
        return NULL;
    }
    if (f->tail != NULL) {
        f->tail->next = s;
    } else {
        f->head = s;
    }
    f->tail = s;
    f->nseries++;
    return s;
}

/* How an update changes a series's value. */
typedef enum {
    MG_MOP_ADD = 0,
    MG_MOP_SET,
    MG_MOP_OBSERVE
} mg_mop_t;

static void
mg_mupdate(mg_mfamily_t *f, const char *const *values, mg_mop_t op, double v)
{
    mg_mseries_t  *s;
    size_t         b;

    if (f == NULL) {
        return;
    }
    pthread_mutex_lock(&f->lock);
    s = f->nlabels == 0 ? f->head : mg_mseries_get(f, values);
    if (s != NULL) {
        switch (op) {
        case MG_MOP_ADD:
            s->value += v;
            break;
        case MG_MOP_SET:
            s->value = v;
            break;
        case MG_MOP_OBSERVE:
            /* the first bound v fits under; past the last: +Inf only */
            for (b = 0; b < f->nbounds && v > f->bounds[b]; b++) {
                /* search */
            }
            if (b < f->nbounds) {
                s->buckets[b]++;
            }
            s->count++;
            s->value += v;
            break;
        }
    }
    pthread_mutex_unlock(&f->lock);
}

void
mg_mcounter_add(mg_mfamily_t *f, const char *const *values, double v)
{
    /* a counter that went down would read as a restart */
    if (f != NULL && f->type == MG_MCOUNTER && v >= 0) {
        mg_mupdate(f, values, MG_MOP_ADD, v);
    }
}

void
mg_mgauge_set(mg_mfamily_t *f, const char *const *values, double v)
{
    if (f != NULL && f->type == MG_MGAUGE) {
        mg_mupdate(f, values, MG_MOP_SET, v);
    }
}

void
mg_mgauge_add(mg_mfamily_t *f, const char *const *values, double v)
{
    if (f != NULL && f->type == MG_MGAUGE) {
        mg_mupdate(f, values, MG_MOP_ADD, v);
    }
}

void
mg_mhist_observe(mg_mfamily_t *f, const char *const *values, double v)
{
    if (f != NULL && f->type == MG_MHISTOGRAM && !isnan(v)) {
        mg_mupdate(f, values, MG_MOP_OBSERVE, v);
    }
}

/* ---- reading --------------------------------------------------------------- */

const double *
mg_mfamily_bounds(const mg_mfamily_t *f, size_t *n)
{
    if (f == NULL || f->type != MG_MHISTOGRAM) {
        *n = 0;
        return NULL;
    }
    *n = f->nbounds;
    return f->bounds;
}

/* 1 when s's label values are those match asks for. */
static int
mg_mseries_matches(const mg_mfamily_t *f, const mg_mseries_t *s, const char *const *match)
{
    for (size_t i = 0; match != NULL && i < f->nlabels; i++) {
        if (match[i] != NULL && strcmp(s->values[i], match[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

int
mg_mfamily_read(mg_mfamily_t *f, const char *const *match, double *value,
                unsigned long long *count, unsigned long long *buckets, size_t nbuckets)
{
    double              v = 0;
    unsigned long long  c = 0;

    if (f == NULL || (buckets != NULL && nbuckets != (f->type == MG_MHISTOGRAM ? f->nbounds : 0))) {
        return -1;
    }
    if (buckets != NULL) {
        memset(buckets, 0, (nbuckets + 1) * sizeof(*buckets));
    }
    pthread_mutex_lock(&f->lock);
    for (const mg_mseries_t *s = f->head; s != NULL; s = s->next) {
        unsigned long long below = 0;

        if (!mg_mseries_matches(f, s, match)) {
            continue;
        }
        v += s->value;
        c += s->count;
        for (size_t b = 0; buckets != NULL && b < nbuckets; b++) {
            buckets[b] += s->buckets[b];
            below += s->buckets[b];
        }
        if (buckets != NULL) {
            buckets[nbuckets] += s->count - below;
        }
    }
    pthread_mutex_unlock(&f->lock);
    *value = v;
    *count = c;
    return 0;
}

/* ---- exposition ---------------------------------------------------------- */

char *
mg_metrics_number(double v, char *buf, size_t size)
{
    if (isnan(v)) {
        snprintf(buf, size, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
    } else if (v == 0) {
        snprintf(buf, size, "0");              /* never "-0" */
    } else if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, size, "%.0f", v);         /* counts: no exponent, no point */
    } else {
        /* the shortest of the usual precisions that reads back exactly:
         * 0.1 stays "0.1", not 0.10000000000000001 */
        snprintf(buf, size, "%.15g", v);
        if (strtod(buf, NULL) != v) {
            snprintf(buf, size, "%.17g", v);
        }
    }
    return buf;
}

static void
mg_metrics_add_number(mg_sb_t *b, double v)
{
    char num[40];

    mg_sb_adds(b, mg_metrics_number(v, num, sizeof(num)));
}

/* HELP text escapes \ and newline; label values also escape ". */
static void
mg_metrics_escaped(mg_sb_t *b, const char *s, int quote)
{
    const char *run = s;

    for (; *s != '\0'; s++) {
        const char *rep = *s == '\\' ? "\\\\" : *s == '\n' ? "\\n"
                          : (*s == '"' && quote) ? "\\\"" : NULL;

        if (rep != NULL) {
            mg_sb_add(b, run, (size_t) (s - run));
            mg_sb_adds(b, rep);
            run = s + 1;
        }
    }
    mg_sb_add(b, run, (size_t) (s - run));
}

/* name{labels[,le="x"]} value\n; suffix ("_bucket", "") after the name. */
static void
mg_metrics_sample(mg_sb_t *b, const mg_mfamily_t *f, const mg_mseries_t *s,
                  const char *suffix, const char *le, double v)
{
    mg_sb_adds(b, f->name);
    mg_sb_adds(b, suffix);
    if (f->nlabels > 0 || le != NULL) {
        mg_sb_add(b, "{", 1);
        for (size_t i = 0; i < f->nlabels; i++) {
            if (i > 0) {
                mg_sb_add(b, ",", 1);
            }
            mg_sb_adds(b, f->labels[i]);
            mg_sb_add(b, "=\"", 2);
            mg_metrics_escaped(b, s->values[i], 1);
            mg_sb_add(b, "\"", 1);
        }
        if (le != NULL) {
            mg_sb_adds(b, f->nlabels > 0 ? ",le=\"" : "le=\"");
            mg_sb_adds(b, le);
            mg_sb_add(b, "\"", 1);
        }
        mg_sb_add(b, "}", 1);
    }
    mg_sb_add(b, " ", 1);
    mg_metrics_add_number(b, v);
    mg_sb_add(b, "\n", 1);
}

static void
mg_metrics_family(mg_sb_t *b, mg_mfamily_t *f)
{
    static const char *const types[] = { "counter", "gauge", "histogram" };
    char                     le[40];

    mg_sb_adds(b, "# HELP ");
    mg_sb_adds(b, f->name);
    mg_sb_add(b, " ", 1);
    mg_metrics_escaped(b, f->help, 0);
    mg_sb_adds(b, "\n# TYPE ");
    mg_sb_adds(b, f->name);
    mg_sb_add(b, " ", 1);
    mg_sb_adds(b, types[f->type]);
    mg_sb_add(b, "\n", 1);

    pthread_mutex_lock(&f->lock);
    for (const mg_mseries_t *s = f->head; s != NULL; s = s->next) {
        uint64_t cum = 0;

        if (f->type != MG_MHISTOGRAM) {
            mg_metrics_sample(b, f, s, "", NULL, s->value);
            continue;
        }
        for (size_t i = 0; i < f->nbounds; i++) {
            cum += s->buckets[i];
            mg_metrics_sample(b, f, s, "_bucket",
                              mg_metrics_number(f->bounds[i], le, sizeof(le)), (double) cum);
        }
        mg_metrics_sample(b, f, s, "_bucket", "+Inf", (double) s->count);
        mg_metrics_sample(b, f, s, "_sum", NULL, s->value);
        mg_metrics_sample(b, f, s, "_count", NULL, (double) s->count);
    }
    pthread_mutex_unlock(&f->lock);
}

int
mg_metrics_render(mg_metrics_t *m, char **out, size_t *len)
{
    mg_sb_t  b = { 0 };

    *out = NULL;
    *len = 0;
    /* an empty registry is an empty text, not an error */
    if (mg_sb_reserve(&b, 0) == NULL) {
        return -1;
    }
    for (mg_mfamily_t *f = m != NULL ? m->head : NULL; f != NULL; f = f->next) {
        mg_metrics_family(&b, f);
    }
    *len = b.len;
    *out = mg_sb_done(&b);
    if (*out == NULL) {
        *len = 0;
        return -1;
    }
    return 0;
}

/* ---- the worker's families ------------------------------------------------ */

/* durations, from a cached read to a model's whole answer */
static const double mg_wm_seconds[] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60
};
#define MG_WM_SECONDS (sizeof(mg_wm_seconds) / sizeof(mg_wm_seconds[0]))

/* a model's whole answer runs for minutes */
static const double mg_wm_long_seconds[] = {
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600
};
#define MG_WM_LONG_SECONDS (sizeof(mg_wm_long_seconds) / sizeof(mg_wm_long_seconds[0]))

static const char *const mg_wm_l_job_outcome[] = { "job", "outcome", NULL };
static const char *const mg_wm_l_job[] = { "job", NULL };
static const char *const mg_wm_l_state[] = { "state", NULL };
static const char *const mg_wm_l_pmo[] = { "provider", "model", "outcome", NULL };
static const char *const mg_wm_l_pm[] = { "provider", "model", NULL };
static const char *const mg_wm_l_p[] = { "provider", NULL };
static const char *const mg_wm_l_pmd[] = { "provider", "model", "direction", NULL };
static const char *const mg_wm_l_statement[] = { "statement", NULL };
static const char *const mg_wm_l_outcome[] = { "outcome", NULL };
static const char *const mg_wm_l_result[] = { "result", NULL };

/* Every family of the worker, in the order they render.  Names start with
 * mangoo_worker_ so the module's merge never meets its own. */
static const struct {
    mg_mfamily_t       **slot;
    mg_mtype_t           type;
    const char          *name;
    const char          *help;
    const char *const   *labels;
    const double        *buckets;
    size_t               nbuckets;
} mg_wm_defs[] = {
    { &mg_wm.start_time, MG_MGAUGE, "mangoo_worker_start_time_seconds",
      "Start time of the worker process since the Unix epoch, in seconds.", NULL, NULL, 0 },
    { &mg_wm.jobs, MG_MCOUNTER, "mangoo_worker_jobs_total",
      "Jobs answered, by job and outcome (ok, or the error code answered).",
      mg_wm_l_job_outcome, NULL, 0 },
    { &mg_wm.job_seconds, MG_MHISTOGRAM, "mangoo_worker_job_duration_seconds",
      "Time from a job reaching a pool thread (or the broker, for cached reads) to its answer.",
      mg_wm_l_job, mg_wm_seconds, MG_WM_SECONDS },
    { &mg_wm.queue_depth, MG_MGAUGE, "mangoo_worker_queue_depth",
      "Jobs waiting for a pool thread.", NULL, NULL, 0 },
    { &mg_wm.pool_threads, MG_MGAUGE, "mangoo_worker_pool_threads",
      "Pool threads by state.", mg_wm_l_state, NULL, 0 },
    { &mg_wm.streams_open, MG_MGAUGE, "mangoo_worker_streams_open",
      "Model streams open in the stream engine.", NULL, NULL, 0 },
    { &mg_wm.stream_events, MG_MCOUNTER, "mangoo_worker_stream_events_total",
      "Messages the stream engine sent towards nginx (heads, events, keep-alives).",
      NULL, NULL, 0 },
    { &mg_wm.provider_requests, MG_MCOUNTER, "mangoo_worker_provider_requests_total",
      "Requests to model providers, each attempt and agent step, by outcome "
      "(ok, cancelled, or the error code).", mg_wm_l_pmo, NULL, 0 },
    { &mg_wm.provider_first_token, MG_MHISTOGRAM, "mangoo_worker_provider_first_token_seconds",
      "Time from a stream entering the engine to the model's first text, retries included.",
      mg_wm_l_pm, mg_wm_seconds, MG_WM_SECONDS },
    { &mg_wm.provider_seconds, MG_MHISTOGRAM, "mangoo_worker_provider_duration_seconds",
      "Time from a stream entering the engine to its end, however it ended.",
      mg_wm_l_pm, mg_wm_long_seconds, MG_WM_LONG_SECONDS },
    { &mg_wm.provider_retries, MG_MCOUNTER, "mangoo_worker_provider_retries_total",
      "Provider attempts that failed before the first token and were tried again.",
      mg_wm_l_p, NULL, 0 },
    { &mg_wm.provider_tokens, MG_MCOUNTER, "mangoo_worker_provider_tokens_total",
      "Tokens of finished answers, as stored for usage (the provider's count, else the "
      "estimate).", mg_wm_l_pmd, NULL, 0 },
    { &mg_wm.pg_seconds, MG_MHISTOGRAM, "mangoo_worker_postgres_statement_seconds",
      "Time to run a prepared statement, by its name.", mg_wm_l_statement,
      mg_wm_seconds, MG_WM_SECONDS },
    { &mg_wm.ingest_jobs, MG_MCOUNTER, "mangoo_worker_ingest_jobs_total",
      "Documents the ingest threads took on, by outcome.", mg_wm_l_outcome, NULL, 0 },
    { &mg_wm.flow_held, MG_MGAUGE, "mangoo_worker_flow_held_messages",
      "Messages held for nginx processes that are out of credit.", NULL, NULL, 0 },
    { &mg_wm.flow_blocked, MG_MGAUGE, "mangoo_worker_flow_blocked_peers",
      "nginx processes out of credit (their streams are paused).", NULL, NULL, 0 },
    { &mg_wm.flow_credit, MG_MCOUNTER, "mangoo_worker_flow_credit_total",
      "Credit received from nginx processes, in messages.", NULL, NULL, 0 },
    { &mg_wm.rcache_requests, MG_MCOUNTER, "mangoo_worker_read_cache_requests_total",
      "Lookups in the read cache, by result.", mg_wm_l_result, NULL, 0 },
    { &mg_wm.stopping, MG_MGAUGE, "mangoo_worker_stopping",
      "1 from SIGTERM or SIGINT until the process exits: it takes no new jobs and lets "
      "running ones and open streams finish within its stop timeout.", NULL, NULL, 0 },
};

int
mg_wm_init(void)
{
    struct timespec  now;

    if (mg_wm.reg != NULL) {
        return 0;
    }
    mg_wm.reg = mg_metrics_new();
    if (mg_wm.reg == NULL) {
        mg_log_error("metrics: out of memory");
        return -1;
    }
    for (size_t i = 0; i < sizeof(mg_wm_defs) / sizeof(mg_wm_defs[0]); i++) {
        *mg_wm_defs[i].slot = mg_metrics_add(mg_wm.reg, mg_wm_defs[i].type, mg_wm_defs[i].name,
                                             mg_wm_defs[i].help, mg_wm_defs[i].labels,
                                             mg_wm_defs[i].buckets, mg_wm_defs[i].nbuckets);
        if (*mg_wm_defs[i].slot == NULL) {
            mg_wm_free();
            return -1;
        }
    }
    clock_gettime(CLOCK_REALTIME, &now);
    mg_mgauge_set(mg_wm.start_time, NULL, (double) now.tv_sec + (double) now.tv_nsec / 1e9);
    return 0;
}

void
mg_wm_free(void)
{
    mg_metrics_free(mg_wm.reg);
    memset(&mg_wm, 0, sizeof(mg_wm));
}
