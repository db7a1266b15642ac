/*
 * check_worker_metrics: the metrics registry and its exposition text
 * (worker/metrics.c): exact rendering of counters, gauges and histograms
 * (cumulative buckets, +Inf, sum, count), numbers, escaping, each family
 * once, an empty registry, bad definitions, the series cap, updates from
 * several threads summing exactly; the worker's own families (names,
 * and Prometheus' linter, promtool, when it is installed); a job's
 * outcome label (worker/job.c); the job "metrics" outside the routes.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job.h"
#include "jobs/dispatch.h"
#include "metrics.h"
#include "mg_routes.h"

#define PROMTOOL "/usr/bin/promtool"

static char *
render(mg_metrics_t *m)
{
    char    *out;
    size_t   len;

    ck_assert_int_eq(mg_metrics_render(m, &out, &len), 0);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(strlen(out), len);
    return out;
}

static size_t
occurrences(const char *hay, const char *needle)
{
    size_t n = 0;

    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle)) {
        n++;
    }
    return n;
}

START_TEST(empty_registry)
{
    mg_metrics_t  *m = mg_metrics_new();
    char          *out = render(m);

    ck_assert_str_eq(out, "");
    free(out);
    mg_metrics_free(m);
}
END_TEST

START_TEST(counter_and_gauge)
{
    static const char *const  labels[] = { "job", "outcome", NULL };
    mg_metrics_t             *m = mg_metrics_new();
    mg_mfamily_t             *c = mg_metrics_add(m, MG_MCOUNTER, "t_events_total", "Events.",
                                                 NULL, NULL, 0);
    mg_mfamily_t             *g = mg_metrics_add(m, MG_MGAUGE, "t_depth", "Depth.",
                                                 NULL, NULL, 0);
    mg_mfamily_t             *l = mg_metrics_add(m, MG_MCOUNTER, "t_jobs_total", "Jobs.",
                                                 labels, NULL, 0);
    mg_mfamily_t             *e = mg_metrics_add(m, MG_MGAUGE, "t_unused", "Never used.",
                                                 labels, NULL, 0);
    char                     *out;

    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(g);
    ck_assert_ptr_nonnull(l);
    ck_assert_ptr_nonnull(e);

    /* before any update: unlabelled ones print 0, labelled ones no sample */
    out = render(m);
    ck_assert_str_eq(out,
        "# HELP t_events_total Events.\n# TYPE t_events_total counter\nt_events_total 0\n"
        "# HELP t_depth Depth.\n# TYPE t_depth gauge\nt_depth 0\n"
        "# HELP t_jobs_total Jobs.\n# TYPE t_jobs_total counter\n"
        "# HELP t_unused Never used.\n# TYPE t_unused gauge\n");
    free(out);

    mg_mcounter_add(c, NULL, 3);
    mg_mcounter_add(c, NULL, -1);           /* a counter never goes down */
    mg_mgauge_set(g, NULL, 7);
    mg_mgauge_add(g, NULL, -2.5);
    mg_mcounter_add(l, (const char *[]) { "bots.get", "ok" }, 1);
    mg_mcounter_add(l, (const char *[]) { "bots.get", "not_found" }, 1);
    mg_mcounter_add(l, (const char *[]) { "bots.get", "ok" }, 1);
    /* the wrong kind of update for a family does nothing */
    mg_mgauge_set(c, NULL, 100);
    mg_mhist_observe(g, NULL, 1);

    out = render(m);
    ck_assert_str_eq(out,
        "# HELP t_events_total Events.\n# TYPE t_events_total counter\nt_events_total 3\n"
        "# HELP t_depth Depth.\n# TYPE t_depth gauge\nt_depth 4.5\n"
        "# HELP t_jobs_total Jobs.\n# TYPE t_jobs_total counter\n"
        "t_jobs_total{job=\"bots.get\",outcome=\"ok\"} 2\n"
        "t_jobs_total{job=\"bots.get\",outcome=\"not_found\"} 1\n"
        "# HELP t_unused Never used.\n# TYPE t_unused gauge\n");
    free(out);
    mg_metrics_free(m);
}
END_TEST

START_TEST(histogram)
{
    static const char *const  labels[] = { "job", NULL };
    static const double       b[] = { 0.125, 0.5, 1 };
    mg_metrics_t             *m = mg_metrics_new();
    mg_mfamily_t             *h = mg_metrics_add(m, MG_MHISTOGRAM, "t_seconds", "Time.",
                                                 labels, b, 3);
    mg_mfamily_t             *u = mg_metrics_add(m, MG_MHISTOGRAM, "t_plain_seconds", "Plain.",
                                                 NULL, b, 3);
    char                     *out;

    ck_assert_ptr_nonnull(h);
    ck_assert_ptr_nonnull(u);
    /* a bound is inclusive (le); past the last, only +Inf counts it */
    mg_mhist_observe(h, (const char *[]) { "a" }, 0.0625);
    mg_mhist_observe(h, (const char *[]) { "a" }, 0.125);
    mg_mhist_observe(h, (const char *[]) { "a" }, 0.375);
    mg_mhist_observe(h, (const char *[]) { "a" }, 2);
    mg_mhist_observe(h, (const char *[]) { "b" }, 1);

    out = render(m);
    ck_assert_str_eq(out,
        "# HELP t_seconds Time.\n# TYPE t_seconds histogram\n"
        "t_seconds_bucket{job=\"a\",le=\"0.125\"} 2\n"
        "t_seconds_bucket{job=\"a\",le=\"0.5\"} 3\n"
        "t_seconds_bucket{job=\"a\",le=\"1\"} 3\n"
        "t_seconds_bucket{job=\"a\",le=\"+Inf\"} 4\n"
        "t_seconds_sum{job=\"a\"} 2.5625\n"
        "t_seconds_count{job=\"a\"} 4\n"
        "t_seconds_bucket{job=\"b\",le=\"0.125\"} 0\n"
        "t_seconds_bucket{job=\"b\",le=\"0.5\"} 0\n"
        "t_seconds_bucket{job=\"b\",le=\"1\"} 1\n"
        "t_seconds_bucket{job=\"b\",le=\"+Inf\"} 1\n"
        "t_seconds_sum{job=\"b\"} 1\n"
        "t_seconds_count{job=\"b\"} 1\n"
        "# HELP t_plain_seconds Plain.\n# TYPE t_plain_seconds histogram\n"
        "t_plain_seconds_bucket{le=\"0.125\"} 0\n"
        "t_plain_seconds_bucket{le=\"0.5\"} 0\n"
        "t_plain_seconds_bucket{le=\"1\"} 0\n"
        "t_plain_seconds_bucket{le=\"+Inf\"} 0\n"
        "t_plain_seconds_sum 0\n"
        "t_plain_seconds_count 0\n");
    free(out);
    mg_metrics_free(m);
}
END_TEST

START_TEST(numbers)
{
    char buf[40];

    ck_assert_str_eq(mg_metrics_number(0, buf, sizeof(buf)), "0");
    ck_assert_str_eq(mg_metrics_number(-0.0, buf, sizeof(buf)), "0");
    ck_assert_str_eq(mg_metrics_number(42, buf, sizeof(buf)), "42");
    ck_assert_str_eq(mg_metrics_number(-3, buf, sizeof(buf)), "-3");
    ck_assert_str_eq(mg_metrics_number(0.1, buf, sizeof(buf)), "0.1");
    ck_assert_str_eq(mg_metrics_number(0.0005, buf, sizeof(buf)), "0.0005");
    ck_assert_str_eq(mg_metrics_number(2.5, buf, sizeof(buf)), "2.5");
    ck_assert_str_eq(mg_metrics_number(1e-05, buf, sizeof(buf)), "1e-05");
    ck_assert_str_eq(mg_metrics_number(1e20, buf, sizeof(buf)), "1e+20");
    ck_assert_str_eq(mg_metrics_number(1.0 / 0.0, buf, sizeof(buf)), "+Inf");
    ck_assert_str_eq(mg_metrics_number(-1.0 / 0.0, buf, sizeof(buf)), "-Inf");
    ck_assert_str_eq(mg_metrics_number(0.0 / 0.0, buf, sizeof(buf)), "NaN");
    /* needs all 17 digits to read back the same */
    ck_assert_double_eq(strtod(mg_metrics_number(0.1 + 0.2, buf, sizeof(buf)), NULL), 0.1 + 0.2);
    ck_assert_double_eq(strtod(mg_metrics_number(1718000000.123456, buf, sizeof(buf)), NULL),
                        1718000000.123456);
}
END_TEST

START_TEST(escaping)
{
    static const char *const  labels[] = { "v", NULL };
    mg_metrics_t             *m = mg_metrics_new();
    mg_mfamily_t             *f = mg_metrics_add(m, MG_MCOUNTER, "t_total",
                                                 "Help with a back\\slash,\na newline and \"quotes\".",
                                                 labels, NULL, 0);
    char                     *out;

    mg_mcounter_add(f, (const char *[]) { "a\\b\"c\nd" }, 1);
    mg_mcounter_add(f, (const char *[]) { "" }, 1);
    mg_mcounter_add(f, (const char *[]) { NULL }, 1);       /* the same as "" */
    out = render(m);
    /* HELP escapes \ and newline only; label values also " */
    ck_assert_str_eq(out,
        "# HELP t_total Help with a back\\\\slash,\\na newline and \"quotes\".\n"
        "# TYPE t_total counter\n"
        "t_total{v=\"a\\\\b\\\"c\\nd\"} 1\n"
        "t_total{v=\"\"} 2\n");
    free(out);
    mg_metrics_free(m);
}
END_TEST

START_TEST(bad_definitions)
{
    static const char *const  le[] = { "le", NULL };
    static const char *const  colon[] = { "a:b", NULL };
    static const char *const  reserved[] = { "__name", NULL };
    static const double       down[] = { 1, 0.5 };
    mg_metrics_t             *m = mg_metrics_new();

    ck_assert_ptr_nonnull(mg_metrics_add(m, MG_MCOUNTER, "t_total", "x", NULL, NULL, 0));
    ck_assert_ptr_null(mg_metrics_add(m, MG_MGAUGE, "t_total", "dup", NULL, NULL, 0));
    ck_assert_ptr_null(mg_metrics_add(m, MG_MGAUGE, "9lives", "x", NULL, NULL, 0));
    ck_assert_ptr_null(mg_metrics_add(m, MG_MGAUGE, "has-dash", "x", NULL, NULL, 0));
    ck_assert_ptr_null(mg_metrics_add(m, MG_MGAUGE, "", "x", NULL, NULL, 0));
    ck_assert_ptr_null(mg_metrics_add(m, MG_MGAUGE, "t_c", "x", colon, NULL, 0));
    ck_assert_ptr_null(mg_metrics_add(m, MG_MGAUGE, "t_r", "x", reserved, NULL, 0));
    ck_assert_ptr_null(mg_metrics_add(m, MG_MHISTOGRAM, "t_le", "x", le, down, 0));
    ck_assert_ptr_null(mg_metrics_add(m, MG_MHISTOGRAM, "t_down", "x", NULL, down, 2));
    /* "le" is only the histogram's own */
    ck_assert_ptr_nonnull(mg_metrics_add(m, MG_MGAUGE, "t_g", "x", le, NULL, 0));
    mg_metrics_free(m);

    /* a family that was never made: updates do nothing */
    mg_mcounter_add(NULL, NULL, 1);
    mg_mgauge_set(NULL, NULL, 1);
    mg_mgauge_add(NULL, NULL, 1);
    mg_mhist_observe(NULL, NULL, 1);
    {
        char    *out;
        size_t   len;

        ck_assert_int_eq(mg_metrics_render(NULL, &out, &len), 0);
        ck_assert_str_eq(out, "");
        free(out);
    }
}
END_TEST

START_TEST(series_cap)
{
    static const char *const  labels[] = { "id", NULL };
    mg_metrics_t             *m = mg_metrics_new();
    mg_mfamily_t             *f = mg_metrics_add(m, MG_MCOUNTER, "t_total", "x", labels,
                                                 NULL, 0);
    char                      id[32], *out;

    for (int i = 0; i < MG_METRICS_SERIES_MAX + 50; i++) {
        snprintf(id, sizeof(id), "v%d", i);
        mg_mcounter_add(f, (const char *[]) { id }, 1);
    }
    /* an existing series still counts past the cap */
    mg_mcounter_add(f, (const char *[]) { "v0" }, 1);
    out = render(m);
    ck_assert_uint_eq(occurrences(out, "t_total{"), MG_METRICS_SERIES_MAX);
    ck_assert_ptr_nonnull(strstr(out, "t_total{id=\"v0\"} 2\n"));
    ck_assert_ptr_null(strstr(out, "id=\"v1000\""));
    free(out);
    mg_metrics_free(m);
}
END_TEST

#define THREADS 8
#define ROUNDS  20000

typedef struct {
    mg_mfamily_t  *c, *h, *g;
    int            index;
} worker_arg_t;

static void *
hammer(void *p)
{
    worker_arg_t  *a = p;
    const char    *half = a->index % 2 ? "odd" : "even";

    for (int i = 0; i < ROUNDS; i++) {
        mg_mcounter_add(a->c, (const char *[]) { half }, 1);
        mg_mcounter_add(a->c, (const char *[]) { "all" }, 1);
        mg_mhist_observe(a->h, NULL, (i % 4) * 0.25);
        mg_mgauge_add(a->g, NULL, 1);
    }
    return NULL;
}

/* One thread renders while the others count: nothing torn, and the totals
 * come out exact. */
START_TEST(concurrent_updates)
{
    static const char *const  labels[] = { "kind", NULL };
    static const double       b[] = { 0.25, 0.5 };
    mg_metrics_t             *m = mg_metrics_new();
    worker_arg_t              args[THREADS];
    pthread_t                 tids[THREADS];
    char                      expect[512], *out;

    args[0].c = mg_metrics_add(m, MG_MCOUNTER, "t_total", "x", labels, NULL, 0);
    args[0].h = mg_metrics_add(m, MG_MHISTOGRAM, "t_seconds", "x", NULL, b, 2);
    args[0].g = mg_metrics_add(m, MG_MGAUGE, "t_g", "x", NULL, NULL, 0);
    for (int i = 0; i < THREADS; i++) {
        args[i] = args[0];
        args[i].index = i;
        ck_assert_int_eq(pthread_create(&tids[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < 20; i++) {
        out = render(m);
        ck_assert_uint_eq(occurrences(out, "# TYPE "), 3);
        free(out);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(tids[i], NULL);
    }
    out = render(m);
    /* per thread: ROUNDS/4 each of 0, 0.25, 0.5, 0.75 */
    /* series order is whichever thread came first: one line at a time */
    snprintf(expect, sizeof(expect), "t_total{kind=\"even\"} %d\n", THREADS / 2 * ROUNDS);
    ck_assert_ptr_nonnull(strstr(out, expect));
    snprintf(expect, sizeof(expect), "t_total{kind=\"odd\"} %d\n", THREADS / 2 * ROUNDS);
    ck_assert_ptr_nonnull(strstr(out, expect));
    snprintf(expect, sizeof(expect), "t_total{kind=\"all\"} %d\n", THREADS * ROUNDS);
    ck_assert_ptr_nonnull(strstr(out, expect));
    snprintf(expect, sizeof(expect),
             "t_seconds_bucket{le=\"0.25\"} %d\nt_seconds_bucket{le=\"0.5\"} %d\n"
             "t_seconds_bucket{le=\"+Inf\"} %d\nt_seconds_sum %d\nt_seconds_count %d\n",
             THREADS * ROUNDS / 2, THREADS * ROUNDS * 3 / 4, THREADS * ROUNDS,
             THREADS * ROUNDS / 4 * 3 / 2, THREADS * ROUNDS);
    ck_assert_ptr_nonnull(strstr(out, expect));
    snprintf(expect, sizeof(expect), "t_g %d\n", THREADS * ROUNDS);
    ck_assert_ptr_nonnull(strstr(out, expect));
    free(out);
    mg_metrics_free(m);
}
END_TEST

/* promtool's verdict on text: its exit status (0 clean), or -1 when it is
 * not installed; its complaints go to out. */
static int
promtool_check(const char *text, char *out, size_t outlen)
{
    char   path[] = "/tmp/check_worker_metrics.XXXXXX", cmd[256];
    FILE  *p;
    int    fd, st;
    size_t n;

    out[0] = '\0';
    if (access(PROMTOOL, X_OK) != 0) {
        return -1;
    }
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    close(fd);
    snprintf(cmd, sizeof(cmd), PROMTOOL " check metrics < %s 2>&1", path);
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    st = pclose(p);
    unlink(path);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

START_TEST(worker_families)
{
    static const char *const names[] = {
        "mangoo_worker_start_time_seconds", "mangoo_worker_jobs_total",
        "mangoo_worker_job_duration_seconds", "mangoo_worker_queue_depth",
        "mangoo_worker_pool_threads", "mangoo_worker_streams_open",
        "mangoo_worker_stream_events_total", "mangoo_worker_provider_requests_total",
        "mangoo_worker_provider_first_token_seconds", "mangoo_worker_provider_duration_seconds",
        "mangoo_worker_provider_retries_total", "mangoo_worker_provider_tokens_total",
        "mangoo_worker_postgres_statement_seconds", "mangoo_worker_ingest_jobs_total",
        "mangoo_worker_flow_held_messages", "mangoo_worker_flow_blocked_peers",
        "mangoo_worker_flow_credit_total", "mangoo_worker_read_cache_requests_total",
        "mangoo_worker_stopping",
    };
    char   *out, line[160], lint[4096];
    int     rc;

    ck_assert_int_eq(mg_wm_init(), 0);
    ck_assert_int_eq(mg_wm_init(), 0);          /* once is enough; again is harmless */

    /* one sample in each, the way the worker's code paths make them */
    mg_mcounter_add(mg_wm.jobs, (const char *[]) { "bots.get", "not_found" }, 1);
    mg_mhist_observe(mg_wm.job_seconds, (const char *[]) { "bots.get" }, 0.003);
    mg_mgauge_set(mg_wm.queue_depth, NULL, 2);
    mg_mgauge_set(mg_wm.pool_threads, (const char *[]) { "busy" }, 3);
    mg_mgauge_set(mg_wm.pool_threads, (const char *[]) { "idle" }, 1);
    mg_mgauge_set(mg_wm.streams_open, NULL, 5);
    mg_mcounter_add(mg_wm.stream_events, NULL, 40);
    mg_mcounter_add(mg_wm.provider_requests, (const char *[]) { "local", "local", "ok" }, 1);
    mg_mhist_observe(mg_wm.provider_first_token, (const char *[]) { "local", "local" }, 0.02);
    mg_mhist_observe(mg_wm.provider_seconds, (const char *[]) { "local", "local" }, 1.5);
    mg_mcounter_add(mg_wm.provider_retries, (const char *[]) { "bedrock" }, 1);
    mg_mcounter_add(mg_wm.provider_tokens, (const char *[]) { "local", "local", "input" }, 12);
    mg_mhist_observe(mg_wm.pg_seconds, (const char *[]) { "mg_bot_get" }, 0.0004);
    mg_mcounter_add(mg_wm.ingest_jobs, (const char *[]) { "ready" }, 1);
    mg_mgauge_set(mg_wm.flow_held, NULL, 0);
    mg_mgauge_set(mg_wm.flow_blocked, NULL, 0);
    mg_mcounter_add(mg_wm.flow_credit, NULL, 512);
    mg_mcounter_add(mg_wm.rcache_requests, (const char *[]) { "hit" }, 1);
    mg_mgauge_set(mg_wm.stopping, NULL, 1);

    ck_assert_int_eq(mg_metrics_render(mg_wm.reg, &out, &(size_t) { 0 }), 0);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(line, sizeof(line), "# TYPE %s ", names[i]);
        ck_assert_msg(occurrences(out, line) == 1, "%s not exactly once", names[i]);
    }
    ck_assert_uint_eq(occurrences(out, "# TYPE "), sizeof(names) / sizeof(names[0]));
    ck_assert_uint_eq(occurrences(out, "# TYPE mangoo_worker_"), sizeof(names) / sizeof(names[0]));
    ck_assert_ptr_nonnull(strstr(out, "mangoo_worker_jobs_total{job=\"bots.get\","
                                      "outcome=\"not_found\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(out, "mangoo_worker_pool_threads{state=\"busy\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(out, "\nmangoo_worker_stopping 1\n"));

    rc = promtool_check(out, lint, sizeof(lint));
    if (rc >= 0) {
        ck_assert_msg(rc == 0, "promtool check metrics: exit %d: %s", rc, lint);
    }
    free(out);
    mg_wm_free();
    ck_assert_ptr_null(mg_wm.reg);
    ck_assert_ptr_null(mg_wm.jobs);
}
END_TEST

static int
discard(void *ctx, const mg_msg_t *msg)
{
    (void) ctx;
    (void) msg;
    return 0;
}

START_TEST(job_outcome)
{
    mg_job_t     job;
    atomic_int   cancel = 0;

    memset(&job, 0, sizeof(job));
    job.send = discard;
    ck_assert_str_eq(mg_job_outcome(&job), "ok");
    ck_assert_int_eq(mg_job_reply_empty(&job, 204), 0);
    ck_assert_str_eq(mg_job_outcome(&job), "ok");

    memset(&job, 0, sizeof(job));
    job.send = discard;
    ck_assert_int_eq(mg_job_reply_error(&job, 404, "bot_not_found", "bot not found"), 0);
    ck_assert_str_eq(mg_job_outcome(&job), "bot_not_found");

    /* a code that is not one of ours cannot make a new label value */
    memset(&job, 0, sizeof(job));
    job.send = discard;
    ck_assert_int_eq(mg_job_reply_error(&job, 502, "Upstream Said \"x\"", "x"), 0);
    ck_assert_str_eq(mg_job_outcome(&job), "other");

    /* the client went away: whatever was answered, it was dropped */
    memset(&job, 0, sizeof(job));
    job.send = discard;
    job.cancel = &cancel;
    atomic_store(&cancel, 1);
    ck_assert_int_eq(mg_job_reply_error(&job, 400, "invalid_request", "bad"), 0);
    ck_assert_str_eq(mg_job_outcome(&job), "cancelled");
}
END_TEST

/* Only the module's own metrics location asks for it: no API route names
 * the job, and no pool thread would run it (the broker answers it). */
START_TEST(job_outside_the_routes)
{
    for (size_t i = 0; i < mg_routes_count; i++) {
        ck_assert_str_ne(mg_routes[i].job, MG_METRICS_JOB);
    }
    ck_assert_ptr_null(mg_dispatch_find(MG_METRICS_JOB, sizeof(MG_METRICS_JOB) - 1));
}
END_TEST

static Suite *
metrics_suite(void)
{
    Suite  *s = suite_create("worker_metrics");
    TCase  *tc = tcase_create("core");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, empty_registry);
    tcase_add_test(tc, counter_and_gauge);
    tcase_add_test(tc, histogram);
    tcase_add_test(tc, numbers);
    tcase_add_test(tc, escaping);
    tcase_add_test(tc, bad_definitions);
    tcase_add_test(tc, series_cap);
    tcase_add_test(tc, concurrent_updates);
    tcase_add_test(tc, worker_families);
    tcase_add_test(tc, job_outcome);
    tcase_add_test(tc, job_outside_the_routes);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(metrics_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
