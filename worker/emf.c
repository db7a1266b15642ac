/*
 * mg_emf: owns the Embedded Metric Format documents (emf.h): which figures
 * of the registry they carry, their JSON shape, and when the next is due.
 *
 * A document is one JSON object: the metadata under "_aws" (Timestamp in
 * Unix milliseconds, one CloudWatchMetrics directive naming the namespace,
 * the dimension set [["Service"]] and each metric with its unit), then at
 * the top level the dimension's value and each metric's value.  Gauges are
 * the value now; the first-token figures are differences between two
 * samples of the histogram (its counts only grow in a process).
 *
 * State (the interval, the Service value, the last sample and when it was
 * taken) is the broker's alone: no lock.
 */
#include "emf.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "metrics.h"

static struct {
    long long        interval_ms;       /* 0: off */
    long long        last_ms;           /* monotonic: the interval's start */
    char             service[MG_EMF_SERVICE_MAX + 1];
    mg_emf_sample_t  prev;
} mg_emf;

void
mg_emf_sample(mg_emf_sample_t *s)
{
    const double        *bounds;
    unsigned long long   count;
    size_t               n;

    memset(s, 0, sizeof(*s));
    (void) mg_mfamily_read(mg_wm.queue_depth, NULL, &s->queue_depth, &count, NULL, 0);
    (void) mg_mfamily_read(mg_wm.pool_threads, (const char *const[]) { "busy" },
                           &s->busy_threads, &count, NULL, 0);
    (void) mg_mfamily_read(mg_wm.streams_open, NULL, &s->streams_open, &count, NULL, 0);
    bounds = mg_mfamily_bounds(mg_wm.provider_first_token, &n);
    if (bounds == NULL || n > MG_EMF_BUCKETS_MAX) {
        return;
    }
    if (mg_mfamily_read(mg_wm.provider_first_token, NULL, &s->ttft_sum, &s->ttft_count,
                        s->ttft_buckets, n) == 0)
    {
        s->ttft_nbounds = n;
        memcpy(s->ttft_bounds, bounds, n * sizeof(*bounds));
    }
}

/* The largest time to first token the interval may have held: the upper
 * bound of the highest bucket that gained an observation (past the last
 * bound: the last bound).  0 when none did. */
static double
mg_emf_ttft_max(const mg_emf_sample_t *prev, const mg_emf_sample_t *cur)
{
    size_t n = cur->ttft_nbounds;

    for (size_t b = n + 1; b-- > 0;) {
        unsigned long long before = prev != NULL && prev->ttft_nbounds == n
                                    ? prev->ttft_buckets[b] : 0;

        if (cur->ttft_buckets[b] > before) {
            return n == 0 ? 0 : cur->ttft_bounds[b < n ? b : n - 1];
        }
    }
    return 0;
}

/* {"Name":name,"Unit":unit} appended to defs, value set at the top. */
static int
mg_emf_metric(json_t *defs, json_t *doc, const char *name, const char *unit, json_t *value)
{
    if (value == NULL
        || json_array_append_new(defs, json_pack("{s:s,s:s}", "Name", name, "Unit", unit)) != 0
        || json_object_set_new(doc, name, value) != 0)
    {
        return -1;
    }
    return 0;
}

char *
mg_emf_render(const char *service, const mg_emf_sample_t *prev, const mg_emf_sample_t *cur,
              long long timestamp_ms, size_t *len)
{
    json_t              *doc, *defs;
    unsigned long long   firsts = cur->ttft_count;
    double               sum = cur->ttft_sum;
    char                *text, *line = NULL;
    size_t               n;
    int                  rc = 0;

    if (prev != NULL) {
        firsts = cur->ttft_count >= prev->ttft_count ? cur->ttft_count - prev->ttft_count : 0;
        sum = cur->ttft_sum - prev->ttft_sum;
    }
    defs = json_array();
    doc = json_pack("{s:{s:I,s:[{s:s,s:[[s]],s:o}]},s:s}",
                    "_aws",
                        "Timestamp", (json_int_t) timestamp_ms,
                        "CloudWatchMetrics",
                            "Namespace", MG_EMF_NAMESPACE,
                            "Dimensions", "Service",
                            "Metrics", defs,
                    "Service", service);
    if (doc == NULL) {
        return NULL;                /* json_pack took defs and freed it */
    }
    rc |= mg_emf_metric(defs, doc, "QueueDepth", "Count", json_integer((json_int_t) cur->queue_depth));
    rc |= mg_emf_metric(defs, doc, "BusyThreads", "Count", json_integer((json_int_t) cur->busy_threads));
    rc |= mg_emf_metric(defs, doc, "StreamsOpen", "Count", json_integer((json_int_t) cur->streams_open));
    rc |= mg_emf_metric(defs, doc, "FirstTokens", "Count", json_integer((json_int_t) firsts));
    if (firsts > 0) {
        rc |= mg_emf_metric(defs, doc, "TimeToFirstToken", "Seconds",
                            json_real(sum > 0 ? sum / (double) firsts : 0));
        rc |= mg_emf_metric(defs, doc, "TimeToFirstTokenMax", "Seconds",
                            json_real(mg_emf_ttft_max(prev, cur)));
    }
    text = rc == 0 ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9))
                   : NULL;
    json_decref(doc);
    if (text == NULL) {
        return NULL;
    }
    n = strlen(text);
    line = malloc(n + 2);
    if (line != NULL) {
        memcpy(line, text, n);
        line[n] = '\n';
        line[n + 1] = '\0';
        *len = n + 1;
    }
    free(text);
    return line;
}

int
mg_emf_configure(long interval_s, const char *service)
{
    if (service == NULL) {
        service = MG_EMF_SERVICE;
    }
    if (interval_s < 0 || interval_s > 86400 || service[0] == '\0'
        || strlen(service) > MG_EMF_SERVICE_MAX)
    {
        return -1;
    }
    memset(&mg_emf, 0, sizeof(mg_emf));
    mg_emf.interval_ms = (long long) interval_s * 1000;
    strcpy(mg_emf.service, service);
    if (interval_s > 0) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        mg_emf.last_ms = (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        mg_emf_sample(&mg_emf.prev);
    }
    return 0;
}

int
mg_emf_due(long long now_ms)
{
    return mg_emf.interval_ms > 0 && now_ms - mg_emf.last_ms >= mg_emf.interval_ms;
}

int
mg_emf_emit(int fd, long long now_ms)
{
    mg_emf_sample_t  cur;
    struct timespec  wall;
    char            *line;
    size_t           len;
    ssize_t          w;

    mg_emf.last_ms = now_ms;
    mg_emf_sample(&cur);
    clock_gettime(CLOCK_REALTIME, &wall);
    line = mg_emf_render(mg_emf.service, &mg_emf.prev, &cur,
                         (long long) wall.tv_sec * 1000 + wall.tv_nsec / 1000000, &len);
    if (line == NULL) {
        return -1;
    }
    w = write(fd, line, len);
    free(line);
    if (w != (ssize_t) len) {
        return -1;
    }
    mg_emf.prev = cur;
    return 0;
}
