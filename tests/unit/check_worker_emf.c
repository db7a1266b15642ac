/*
 * check_worker_emf: the CloudWatch Embedded Metric Format documents
 * (worker/emf.c): the exact JSON of one, a valid EMF shape (_aws.Timestamp,
 * one directive with Namespace, Dimensions and Metrics, every metric and
 * the dimension at the top level), the first-token figures as differences
 * between samples (mean, the highest bucket's bound, left out of an
 * interval without any), samples read from the worker's registry, the
 * schedule and a document written to a pipe; and the registry's reading
 * (mg_mfamily_read in worker/metrics.c) it relies on.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "emf.h"
#include "metrics.h"

static const double bounds3[] = { 0.5, 1, 5 };

/* A sample with the three bounds above and these bucket counts. */
static mg_emf_sample_t
sample(double queue, double busy, double streams, double sum, unsigned long long b0,
       unsigned long long b1, unsigned long long b2, unsigned long long over)
{
    mg_emf_sample_t s;

    memset(&s, 0, sizeof(s));
    s.queue_depth = queue;
    s.busy_threads = busy;
    s.streams_open = streams;
    s.ttft_sum = sum;
    s.ttft_nbounds = 3;
    memcpy(s.ttft_bounds, bounds3, sizeof(bounds3));
    s.ttft_buckets[0] = b0;
    s.ttft_buckets[1] = b1;
    s.ttft_buckets[2] = b2;
    s.ttft_buckets[3] = over;
    s.ttft_count = b0 + b1 + b2 + over;
    return s;
}

/* The document parsed (its one trailing newline checked and dropped). */
static json_t *
parse_line(const char *line, size_t len)
{
    json_error_t  err;
    json_t       *doc;

    ck_assert_uint_gt(len, 1);
    ck_assert_uint_eq(strlen(line), len);
    ck_assert_int_eq(line[len - 1], '\n');
    ck_assert_ptr_null(memchr(line, '\n', len - 1));
    doc = json_loadb(line, len - 1, 0, &err);
    ck_assert_msg(doc != NULL, "not JSON: %s (%s)", err.text, line);
    return doc;
}

/* The rules of the EMF specification this document must keep: one
 * directive, namespace Mangoo, the dimension set [["Service"]] whose value
 * is at the top level, every metric named once with a unit and a number
 * of its name at the top level.  Returns the number of metrics. */
static size_t
assert_valid_emf(json_t *doc, const char *service)
{
    json_t       *aws, *ts, *dirs, *dir, *dims, *metrics, *m;
    size_t        i, j;

    ck_assert(json_is_object(doc));
    aws = json_object_get(doc, "_aws");
    ck_assert(json_is_object(aws));
    ts = json_object_get(aws, "Timestamp");
    ck_assert(json_is_integer(ts));
    ck_assert_int_gt(json_integer_value(ts), 0);
    dirs = json_object_get(aws, "CloudWatchMetrics");
    ck_assert(json_is_array(dirs));
    ck_assert_uint_eq(json_array_size(dirs), 1);
    dir = json_array_get(dirs, 0);
    ck_assert_str_eq(json_string_value(json_object_get(dir, "Namespace")), "Mangoo");
    dims = json_object_get(dir, "Dimensions");
    ck_assert(json_is_array(dims));
    ck_assert_uint_eq(json_array_size(dims), 1);
    ck_assert(json_is_array(json_array_get(dims, 0)));
    ck_assert_uint_eq(json_array_size(json_array_get(dims, 0)), 1);
    ck_assert_str_eq(json_string_value(json_array_get(json_array_get(dims, 0), 0)), "Service");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "Service")), service);
    metrics = json_object_get(dir, "Metrics");
    ck_assert(json_is_array(metrics));
    ck_assert_uint_ge(json_array_size(metrics), 1);
    ck_assert_uint_le(json_array_size(metrics), 100);
    json_array_foreach(metrics, i, m) {
        const char *name = json_string_value(json_object_get(m, "Name"));
        const char *unit = json_string_value(json_object_get(m, "Unit"));

        ck_assert_ptr_nonnull(name);
        ck_assert_ptr_nonnull(unit);
        ck_assert_msg(strcmp(unit, "Count") == 0 || strcmp(unit, "Seconds") == 0, "unit %s", unit);
        ck_assert_msg(json_is_number(json_object_get(doc, name)), "%s not at the top level", name);
        for (j = 0; j < i; j++) {
            ck_assert_str_ne(json_string_value(json_object_get(json_array_get(metrics, j), "Name")),
                             name);
        }
    }
    return json_array_size(metrics);
}

START_TEST(render_exact)
{
    mg_emf_sample_t  prev = sample(0, 0, 0, 1.0, 2, 0, 0, 0);
    mg_emf_sample_t  cur = sample(7, 3, 12, 4.0, 3, 2, 0, 0);   /* +3 firsts, +3.0 s */
    size_t           len;
    char            *line = mg_emf_render("prod-worker", &prev, &cur, 1700000000123LL, &len);
    json_t          *doc;

    ck_assert_ptr_nonnull(line);
    ck_assert_str_eq(line,
        "{\"_aws\":{\"Timestamp\":1700000000123,\"CloudWatchMetrics\":[{\"Namespace\":\"Mangoo\","
        "\"Dimensions\":[[\"Service\"]],\"Metrics\":["
        "{\"Name\":\"QueueDepth\",\"Unit\":\"Count\"},"
        "{\"Name\":\"BusyThreads\",\"Unit\":\"Count\"},"
        "{\"Name\":\"StreamsOpen\",\"Unit\":\"Count\"},"
        "{\"Name\":\"FirstTokens\",\"Unit\":\"Count\"},"
        "{\"Name\":\"TimeToFirstToken\",\"Unit\":\"Seconds\"},"
        "{\"Name\":\"TimeToFirstTokenMax\",\"Unit\":\"Seconds\"}]}]},"
        "\"Service\":\"prod-worker\",\"QueueDepth\":7,\"BusyThreads\":3,\"StreamsOpen\":12,"
        "\"FirstTokens\":3,\"TimeToFirstToken\":1.0,\"TimeToFirstTokenMax\":1.0}\n");
    doc = parse_line(line, len);
    ck_assert_uint_eq(assert_valid_emf(doc, "prod-worker"), 6);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(doc, "_aws"), "Timestamp")),
                     1700000000123LL);
    json_decref(doc);
    free(line);
}
END_TEST

START_TEST(no_first_token_no_ttft)
{
    mg_emf_sample_t  prev = sample(0, 0, 0, 2.5, 1, 1, 0, 0);
    mg_emf_sample_t  cur = prev;
    size_t           len;
    char            *line;
    json_t          *doc;

    cur.queue_depth = 2;
    line = mg_emf_render("w", &prev, &cur, 1, &len);
    ck_assert_ptr_nonnull(line);
    doc = parse_line(line, len);
    ck_assert_uint_eq(assert_valid_emf(doc, "w"), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "FirstTokens")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "QueueDepth")), 2);
    ck_assert_ptr_null(json_object_get(doc, "TimeToFirstToken"));
    ck_assert_ptr_null(json_object_get(doc, "TimeToFirstTokenMax"));
    json_decref(doc);
    free(line);
}
END_TEST

START_TEST(ttft_mean_and_max)
{
    /* four new firsts, 6.0 s between them, the slowest in the (1, 5] bucket */
    mg_emf_sample_t  prev = sample(0, 0, 0, 10.0, 5, 5, 0, 0);
    mg_emf_sample_t  cur = sample(0, 0, 0, 16.0, 6, 7, 1, 0);
    mg_emf_sample_t  over = sample(0, 0, 0, 106.0, 6, 7, 1, 1);  /* one past 5 s */
    size_t           len;
    char            *line;
    json_t          *doc;

    line = mg_emf_render("w", &prev, &cur, 1, &len);
    doc = parse_line(line, len);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "FirstTokens")), 4);
    ck_assert_double_eq_tol(json_real_value(json_object_get(doc, "TimeToFirstToken")), 1.5, 1e-9);
    ck_assert_double_eq(json_real_value(json_object_get(doc, "TimeToFirstTokenMax")), 5.0);
    json_decref(doc);
    free(line);

    /* past the last bound: the last bound */
    line = mg_emf_render("w", &cur, &over, 1, &len);
    doc = parse_line(line, len);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "FirstTokens")), 1);
    ck_assert_double_eq_tol(json_real_value(json_object_get(doc, "TimeToFirstToken")), 90.0, 1e-9);
    ck_assert_double_eq(json_real_value(json_object_get(doc, "TimeToFirstTokenMax")), 5.0);
    json_decref(doc);
    free(line);

    /* no previous sample: everything since the start */
    line = mg_emf_render("w", NULL, &cur, 1, &len);
    doc = parse_line(line, len);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "FirstTokens")), 14);
    ck_assert_double_eq_tol(json_real_value(json_object_get(doc, "TimeToFirstToken")), 16.0 / 14, 1e-6);
    ck_assert_double_eq(json_real_value(json_object_get(doc, "TimeToFirstTokenMax")), 5.0);
    json_decref(doc);
    free(line);
}
END_TEST

START_TEST(service_is_escaped)
{
    mg_emf_sample_t  cur = sample(0, 0, 0, 0, 0, 0, 0, 0);
    size_t           len;
    char            *line = mg_emf_render("a\"b\\c", NULL, &cur, 1, &len);
    json_t          *doc = parse_line(line, len);

    assert_valid_emf(doc, "a\"b\\c");
    json_decref(doc);
    free(line);
}
END_TEST

START_TEST(family_read)
{
    static const char *const  labels[] = { "provider", "model", NULL };
    static const double       b[] = { 0.1, 1 };
    mg_metrics_t             *m = mg_metrics_new();
    mg_mfamily_t             *h = mg_metrics_add(m, MG_MHISTOGRAM, "h_seconds", "h", labels, b, 2);
    mg_mfamily_t             *g = mg_metrics_add(m, MG_MGAUGE, "g", "g",
                                                 (const char *const[]) { "state", NULL }, NULL, 0);
    unsigned long long        buckets[3], count;
    size_t                    n;
    double                    v;

    mg_mhist_observe(h, (const char *[]) { "bedrock", "a" }, 0.05);
    mg_mhist_observe(h, (const char *[]) { "bedrock", "b" }, 0.5);
    mg_mhist_observe(h, (const char *[]) { "openai", "a" }, 3);
    mg_mhist_observe(h, (const char *[]) { "openai", "a" }, 0.1);
    mg_mgauge_set(g, (const char *[]) { "busy" }, 3);
    mg_mgauge_set(g, (const char *[]) { "idle" }, 5);

    ck_assert_ptr_eq(mg_mfamily_bounds(h, &n), b);
    ck_assert_uint_eq(n, 2);
    ck_assert_ptr_null(mg_mfamily_bounds(g, &n));
    ck_assert_uint_eq(n, 0);

    ck_assert_int_eq(mg_mfamily_read(h, NULL, &v, &count, buckets, 2), 0);
    ck_assert_double_eq_tol(v, 3.65, 1e-9);
    ck_assert_uint_eq(count, 4);
    ck_assert_uint_eq(buckets[0], 2);       /* 0.05, and 0.1 on the bound */
    ck_assert_uint_eq(buckets[1], 1);
    ck_assert_uint_eq(buckets[2], 1);       /* past the last bound */

    ck_assert_int_eq(mg_mfamily_read(h, (const char *const[]) { "openai", NULL }, &v, &count,
                                     buckets, 2), 0);
    ck_assert_double_eq_tol(v, 3.1, 1e-9);
    ck_assert_uint_eq(count, 2);
    ck_assert_uint_eq(buckets[0], 1);
    ck_assert_uint_eq(buckets[1], 0);
    ck_assert_uint_eq(buckets[2], 1);

    ck_assert_int_eq(mg_mfamily_read(g, (const char *const[]) { "busy" }, &v, &count, NULL, 0), 0);
    ck_assert_double_eq(v, 3);
    ck_assert_uint_eq(count, 0);
    ck_assert_int_eq(mg_mfamily_read(g, NULL, &v, &count, NULL, 0), 0);
    ck_assert_double_eq(v, 8);
    ck_assert_int_eq(mg_mfamily_read(g, (const char *const[]) { "starting" }, &v, &count, NULL, 0), 0);
    ck_assert_double_eq(v, 0);

    /* the wrong number of buckets, or no family: nothing read */
    ck_assert_int_eq(mg_mfamily_read(h, NULL, &v, &count, buckets, 3), -1);
    ck_assert_int_eq(mg_mfamily_read(NULL, NULL, &v, &count, NULL, 0), -1);
    mg_metrics_free(m);
}
END_TEST

START_TEST(sample_from_registry)
{
    mg_emf_sample_t s;

    /* not set up (MANGOO_METRICS=off): all zero */
    mg_emf_sample(&s);
    ck_assert_double_eq(s.queue_depth, 0);
    ck_assert_uint_eq(s.ttft_count, 0);
    ck_assert_uint_eq(s.ttft_nbounds, 0);

    ck_assert_int_eq(mg_wm_init(), 0);
    mg_mgauge_set(mg_wm.queue_depth, NULL, 9);
    mg_mgauge_set(mg_wm.pool_threads, (const char *[]) { "busy" }, 4);
    mg_mgauge_set(mg_wm.pool_threads, (const char *[]) { "idle" }, 2);
    mg_mgauge_set(mg_wm.streams_open, NULL, 31);
    mg_mhist_observe(mg_wm.provider_first_token, (const char *[]) { "bedrock", "m" }, 0.3);
    mg_mhist_observe(mg_wm.provider_first_token, (const char *[]) { "openai", "other" }, 0.7);
    mg_emf_sample(&s);
    ck_assert_double_eq(s.queue_depth, 9);
    ck_assert_double_eq(s.busy_threads, 4);
    ck_assert_double_eq(s.streams_open, 31);
    ck_assert_uint_eq(s.ttft_count, 2);
    ck_assert_double_eq_tol(s.ttft_sum, 1.0, 1e-9);
    ck_assert_uint_eq(s.ttft_nbounds, 16);
    ck_assert_double_eq(s.ttft_bounds[15], 60);
    ck_assert_uint_eq(s.ttft_buckets[9], 1);    /* (0.25, 0.5] */
    ck_assert_uint_eq(s.ttft_buckets[10], 1);   /* (0.5, 1] */
    mg_wm_free();
}
END_TEST

START_TEST(configure_limits)
{
    char long_name[MG_EMF_SERVICE_MAX + 2];

    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    ck_assert_int_eq(mg_emf_configure(-1, NULL), -1);
    ck_assert_int_eq(mg_emf_configure(86401, NULL), -1);
    ck_assert_int_eq(mg_emf_configure(60, ""), -1);
    ck_assert_int_eq(mg_emf_configure(60, long_name), -1);
    long_name[MG_EMF_SERVICE_MAX] = '\0';
    ck_assert_int_eq(mg_emf_configure(60, long_name), 0);
    /* off: never due */
    ck_assert_int_eq(mg_emf_configure(0, NULL), 0);
    ck_assert_int_eq(mg_emf_due(1LL << 60), 0);
}
END_TEST

/* Read what was written to the pipe so far. */
static size_t
drain(int fd, char *buf, size_t cap)
{
    ssize_t n = read(fd, buf, cap - 1);

    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    return (size_t) n;
}

START_TEST(emit_on_schedule)
{
    int          fds[2];
    char         buf[4096];
    size_t       n;
    json_t      *doc;
    long long    t0;

    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(mg_wm_init(), 0);
    /* before the start: already counted, not this process's interval */
    mg_mhist_observe(mg_wm.provider_first_token, (const char *[]) { "local", "local" }, 0.002);
    ck_assert_int_eq(mg_emf_configure(60, "stack-worker"), 0);
    {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        t0 = (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    ck_assert_int_eq(mg_emf_due(t0 + 1000), 0);
    ck_assert_int_eq(mg_emf_due(t0 + 61000), 1);

    mg_mgauge_set(mg_wm.queue_depth, NULL, 5);
    mg_mhist_observe(mg_wm.provider_first_token, (const char *[]) { "bedrock", "m" }, 2);
    ck_assert_int_eq(mg_emf_emit(fds[1], t0 + 61000), 0);
    ck_assert_int_eq(mg_emf_due(t0 + 62000), 0);
    ck_assert_int_eq(mg_emf_due(t0 + 121000), 1);
    n = drain(fds[0], buf, sizeof(buf));
    doc = parse_line(buf, n);
    ck_assert_uint_eq(assert_valid_emf(doc, "stack-worker"), 6);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "QueueDepth")), 5);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "FirstTokens")), 1);
    ck_assert_double_eq(json_real_value(json_object_get(doc, "TimeToFirstToken")), 2.0);
    ck_assert_double_eq(json_real_value(json_object_get(doc, "TimeToFirstTokenMax")), 2.5);
    json_decref(doc);

    /* the next interval: nothing new, no first-token figures */
    ck_assert_int_eq(mg_emf_emit(fds[1], t0 + 121000), 0);
    n = drain(fds[0], buf, sizeof(buf));
    doc = parse_line(buf, n);
    ck_assert_uint_eq(assert_valid_emf(doc, "stack-worker"), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "FirstTokens")), 0);
    json_decref(doc);

    /* a failed write keeps the interval's counts for the next document */
    mg_mhist_observe(mg_wm.provider_first_token, (const char *[]) { "bedrock", "m" }, 0.004);
    ck_assert_int_eq(mg_emf_emit(-1, t0 + 181000), -1);
    ck_assert_int_eq(mg_emf_emit(fds[1], t0 + 241000), 0);
    n = drain(fds[0], buf, sizeof(buf));
    doc = parse_line(buf, n);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "FirstTokens")), 1);
    ck_assert_double_eq(json_real_value(json_object_get(doc, "TimeToFirstTokenMax")), 0.005);
    json_decref(doc);

    ck_assert_int_eq(mg_emf_configure(0, NULL), 0);
    mg_wm_free();
    close(fds[0]);
    close(fds[1]);
}
END_TEST

static Suite *
emf_suite(void)
{
    Suite  *s = suite_create("worker_emf");
    TCase  *tc = tcase_create("emf");

    tcase_add_test(tc, render_exact);
    tcase_add_test(tc, no_first_token_no_ttft);
    tcase_add_test(tc, ttft_mean_and_max);
    tcase_add_test(tc, service_is_escaped);
    tcase_add_test(tc, family_read);
    tcase_add_test(tc, sample_from_registry);
    tcase_add_test(tc, configure_limits);
    tcase_add_test(tc, emit_on_schedule);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(emf_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
