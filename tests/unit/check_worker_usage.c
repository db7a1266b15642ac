/*
 * check_worker_usage: the usage reports' pure pieces (worker/jobs/usage.c:
 * YYYY-MM-DD dates, the from/to range and its defaults) and every answer
 * the two jobs give before touching the database.  The jobs have no
 * database connection here, so a handler that ran SQL before refusing bad
 * input would crash the test: that is the point of the second half.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "jobs/dispatch.h"
#include "jobs/jobs.h"
#include "mg_base64url.h"
#include "mg_protocol.h"
#include "identity/user_status.h"
#include "job_capture.h"

/* ---- dates ---- */

static long
day(const char *s)
{
    long d = 0x7fffffffL;

    ck_assert_msg(mg_date_parse(s, strlen(s), &d) == 0, "%s did not parse", s);
    return d;
}

static int
parse_rc(const char *s)
{
    long d;

    return mg_date_parse(s, strlen(s), &d);
}

START_TEST(test_date_parse)
{
    ck_assert_int_eq(day("1970-01-01"), 0);
    ck_assert_int_eq(day("1970-01-02"), 1);
    ck_assert_int_eq(day("1969-12-31"), -1);
    ck_assert_int_eq(day("2000-03-01") - day("2000-02-28"), 2);    /* 400-year leap */
    ck_assert_int_eq(day("1900-03-01") - day("1900-02-28"), 1);    /* century: not leap */
    ck_assert_int_eq(day("2024-03-01") - day("2024-02-28"), 2);
    ck_assert_int_eq(day("2026-03-01") - day("2026-02-28"), 1);
    ck_assert_int_eq(day("2027-01-01") - day("2026-01-01"), 365);
    ck_assert_int_eq(day("0001-01-01"), MG_DATE_DAYS_MIN);
    ck_assert_int_eq(day("9999-12-31"), MG_DATE_DAYS_MAX);
    (void) day("2024-02-29");
    (void) day("2026-12-31");
}
END_TEST

START_TEST(test_date_parse_rejects)
{
    /* not the shape: -1 */
    const char *shape[] = {
        "", "2026-1-01", "2026-01-1", "26-01-01", "2026/01/01", "2026-01-01T00:00",
        "2026-01-01 ", " 2026-01-01", "+026-01-01", "2026-0a-01", "20260101xx",
        "2026--1-01", "-2026-01-1", "2026-01-0\xff", "12345-01-01",
    };
    /* the shape, but no such day: -2 */
    const char *impossible[] = {
        "2026-02-29", "2026-02-30", "1900-02-29", "2026-04-31", "2026-13-01",
        "2026-00-10", "2026-01-00", "2026-01-32", "0000-01-01", "2100-02-29",
    };
    long d;

    for (size_t i = 0; i < sizeof(shape) / sizeof(shape[0]); i++) {
        ck_assert_msg(parse_rc(shape[i]) == -1, "\"%s\": %d", shape[i], parse_rc(shape[i]));
    }
    for (size_t i = 0; i < sizeof(impossible) / sizeof(impossible[0]); i++) {
        ck_assert_msg(parse_rc(impossible[i]) == -2, "\"%s\": %d", impossible[i],
                      parse_rc(impossible[i]));
    }
    /* bounded by len, not by a NUL */
    ck_assert_int_eq(mg_date_parse("2026-01-015", 10, &d), 0);
    ck_assert_int_eq(mg_date_parse("2026-01-01", 9, &d), -1);
    ck_assert_int_eq(mg_date_parse(NULL, 0, &d), -1);
}
END_TEST

START_TEST(test_date_format_round_trip)
{
    char        out[MG_DATE_LEN + 1];
    const char *dates[] = { "1970-01-01", "0001-01-01", "9999-12-31", "2024-02-29",
                            "2026-11-24", "1899-12-31", "0999-06-15" };

    for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
        ck_assert_int_eq(mg_date_format(day(dates[i]), out), 0);
        ck_assert_str_eq(out, dates[i]);
    }
    /* every day of a leap year and the next round-trips in order */
    for (long d = day("2024-01-01"); d < day("2026-01-01"); d++) {
        ck_assert_int_eq(mg_date_format(d, out), 0);
        ck_assert_int_eq(day(out), d);
    }
    ck_assert_int_eq(mg_date_format(MG_DATE_DAYS_MIN - 1, out), -1);
    ck_assert_int_eq(mg_date_format(MG_DATE_DAYS_MAX + 1, out), -1);
}
END_TEST

/* ---- the range ---- */

/* Parse query then resolve with today; 0 or -1 (err filled). */
static int
range(const char *query, const char *today, mg_usage_range_t *r, mg_verr_t *err)
{
    memset(err, 0, sizeof(*err));
    if (mg_usage_range_parse(query, strlen(query), r, err) != 0) {
        return -1;
    }
    return mg_usage_range_resolve(r, day(today), err);
}

static void
expect_range(const char *query, const char *today, const char *from, const char *to)
{
    mg_usage_range_t  r;
    mg_verr_t         err;

    ck_assert_msg(range(query, today, &r, &err) == 0, "%s: %s", query, err.message);
    ck_assert_msg(r.from == day(from) && r.to == day(to), "%s: wrong range", query);
}

static void
expect_bad(const char *query, const char *today, const char *mentions)
{
    mg_usage_range_t  r;
    mg_verr_t         err;

    ck_assert_msg(range(query, today, &r, &err) == -1, "%s: accepted", query);
    ck_assert_int_eq(err.status, 400);
    ck_assert_str_eq(err.code, "invalid_query");
    ck_assert_msg(strstr(err.message, mentions) != NULL, "%s: \"%s\" lacks \"%s\"", query,
                  err.message, mentions);
}

START_TEST(test_range_defaults)
{
    /* the last 30 days up to today */
    expect_range("", "2026-11-24", "2026-10-26", "2026-11-24");
    expect_range("limit=5", "2026-03-10", "2026-02-09", "2026-03-10");
    /* empty values are not given */
    expect_range("from=&to=", "2026-11-24", "2026-10-26", "2026-11-24");
    /* to alone: the 30 days up to it */
    expect_range("to=2024-03-01", "2026-11-24", "2024-02-01", "2024-03-01");
    /* from alone: up to today */
    expect_range("from=2026-11-01", "2026-11-24", "2026-11-01", "2026-11-24");
    expect_range("from=2026-11-24", "2026-11-24", "2026-11-24", "2026-11-24");
    /* a default never goes before 0001-01-01 */
    expect_range("to=0001-01-10", "2026-11-24", "0001-01-01", "0001-01-10");
    /* percent-encoded is fine */
    expect_range("from=2026%2D01%2D01&to=2026-01-31", "2026-11-24", "2026-01-01", "2026-01-31");
}
END_TEST

START_TEST(test_range_explicit)
{
    expect_range("from=2026-01-01&to=2026-01-01", "2026-11-24", "2026-01-01", "2026-01-01");
    /* 366 days is the most: a whole leap year */
    expect_range("from=2024-01-01&to=2024-12-31", "2026-11-24", "2024-01-01", "2024-12-31");
    expect_range("from=2025-01-01&to=2026-01-01", "2026-11-24", "2025-01-01", "2026-01-01");
    /* the future is just empty */
    expect_range("from=2030-01-01&to=2030-02-01", "2026-11-24", "2030-01-01", "2030-02-01");
    /* first occurrence wins */
    expect_range("to=2026-01-05&to=x&from=2026-01-01", "2026-11-24", "2026-01-01", "2026-01-05");
}
END_TEST

START_TEST(test_range_rejects)
{
    expect_bad("from=2026-02-30", "2026-11-24", "query parameter \"from\" is not a calendar date: 2026-02-30");
    expect_bad("to=2026-13-01", "2026-11-24", "\"to\" is not a calendar date");
    expect_bad("from=2026-1-1", "2026-11-24", "query parameter \"from\" must be a date as YYYY-MM-DD");
    expect_bad("to=yesterday", "2026-11-24", "\"to\" must be a date as YYYY-MM-DD");
    expect_bad("to=2026-01-01T00:00:00Z", "2026-11-24", "\"to\" must be a date");
    expect_bad("from=%zz", "2026-11-24", "\"from\" must be a date");
    expect_bad("from=2026-01-01%00", "2026-11-24", "\"from\" must be a date");
    expect_bad("from=2026-01-02&to=2026-01-01", "2026-11-24",
               "\"from\" (2026-01-02) is after \"to\" (2026-01-01)");
    expect_bad("from=2026-11-25", "2026-11-24", "\"from\" (2026-11-25) is after \"to\" (2026-11-24)");
    expect_bad("from=2025-01-01&to=2026-01-02", "2026-11-24",
               "at most 366 days; 2025-01-01 to 2026-01-02 is 367 days");
    expect_bad("from=2025-11-23", "2026-11-24", "is 367 days");
    expect_bad("to=0001-01-01&from=9999-12-31", "2026-11-24", "is after");
}
END_TEST

/* ---- handler answers that need no database ---- */

static const char RID[] = "0123456789abcdef0123456789abcdef";

static void
run_expect(const char *name, const char *claims, const char *params,
           int status, const char *code, const char *mentions)
{
    mg_msg_t   req = { .type = MG_MSG_REQ };
    mg_job_t   job;
    capture_t  cap;
    char       err[96];

    memset(&cap, 0, sizeof(cap));
    req.rid.data = RID;
    req.rid.len = MG_RID_LEN;
    req.job.data = name;
    req.job.len = strlen(name);
    req.params.data = params;
    req.params.len = strlen(params);
    req.claims.data = claims;
    req.claims.len = strlen(claims);
    ck_assert_int_eq(mg_job_init(&job, &req, err, sizeof(err)), 0);
    job.send = capture_send;
    job.send_ctx = &cap;

    ck_assert_int_eq(mg_dispatch_run(&job), 0);
    ck_assert_int_eq(cap.n, 1);
    ck_assert_int_eq(cap.msg.type, MG_MSG_ERR);
    ck_assert_msg(cap.msg.status == status, "%s %s: status %d, wanted %d (%s: %s)", name,
                  params, cap.msg.status, status, cap.code, cap.message);
    ck_assert_str_eq(cap.code, code);
    if (mentions != NULL) {
        ck_assert_msg(strstr(cap.message, mentions) != NULL, "\"%s\" lacks \"%s\"",
                      cap.message, mentions);
    }
    mg_job_free(&job);
}

static void
cache_as(const char *sub, mg_ustatus_t st)
{
    uint64_t gen;

    (void) mg_ustatus_get(&mg_user_statuses, sub, &gen);
    mg_ustatus_put(&mg_user_statuses, sub, st, gen);
}

static void
setup(void)
{
    mg_ustatus_set_trusted(&mg_user_statuses, 1);
    cache_as("active", MG_USTATUS_ACTIVE);
    cache_as("admin", MG_USTATUS_ACTIVE);
    cache_as("off", MG_USTATUS_DISABLED);
}

static void
teardown(void)
{
    mg_users_cache_clear();
}

#define ADMIN "{\"sub\":\"admin\",\"cognito:groups\":[\"admin\"]}"
#define USER  "{\"sub\":\"active\",\"cognito:groups\":[\"users\"]}"

START_TEST(test_jobs_check_status_and_claims)
{
    run_expect("users.usage", "{\"sub\":\"off\"}", "{}", 403, "account_disabled", NULL);
    run_expect("admin.usage", "{\"sub\":\"off\",\"cognito:groups\":[\"admin\"]}", "{}",
               403, "account_disabled", NULL);
    run_expect("users.usage", "{}", "{}", 401, "unauthorized", NULL);
    /* the worker checks the group again, whatever the module let through */
    run_expect("admin.usage", USER, "{\"query\":\"\"}", 403, "forbidden", NULL);
    run_expect("admin.usage", "{\"sub\":\"active\"}", "{}", 403, "forbidden", NULL);
}
END_TEST

START_TEST(test_bad_queries_are_refused_before_sql)
{
    const char *both[] = {
        "{\"query\":\"from=2026-02-30&to=2026-03-01\"}",
        "{\"query\":\"from=2026-03-02&to=2026-03-01\"}",
        "{\"query\":\"from=2025-01-01&to=2026-06-01\"}",
        "{\"query\":\"from=x\"}",
        "{\"query\":\"to=2026-02-29\"}",
    };
    const char *admin_only[] = {
        "{\"query\":\"limit=0\"}", "{\"query\":\"limit=501\"}", "{\"query\":\"limit=x\"}",
        "{\"query\":\"cursor=!!\"}", "{\"query\":\"cursor=MTJ1\"}",
        "{\"query\":\"user_id=%ff\"}", "{\"query\":\"user_id=%00\"}",
    };
    char  q[1600], cursor[64];
    int   n;

    for (size_t i = 0; i < sizeof(both) / sizeof(both[0]); i++) {
        run_expect("users.usage", USER, both[i], 400, "invalid_query", NULL);
        run_expect("admin.usage", ADMIN, both[i], 400, "invalid_query", NULL);
    }
    for (size_t i = 0; i < sizeof(admin_only) / sizeof(admin_only[0]); i++) {
        run_expect("admin.usage", ADMIN, admin_only[i], 400, "invalid_query", NULL);
    }
    /* a negative token count is no cursor admin.usage writes */
    ck_assert_int_eq(mg_cursor_encode_text(-1, "u", cursor, sizeof(cursor)), 0);
    snprintf(q, sizeof(q), "{\"query\":\"cursor=%s\"}", cursor);
    run_expect("admin.usage", ADMIN, q, 400, "invalid_query", "cursor");
    /* a user id over 1024 bytes */
    n = snprintf(q, sizeof(q), "{\"query\":\"user_id=");
    memset(q + n, 'a', 1025);
    snprintf(q + n + 1025, sizeof(q) - (size_t) n - 1025, "\"}");
    run_expect("admin.usage", ADMIN, q, 400, "invalid_query", "\"user_id\"");
}
END_TEST

START_TEST(test_handlers_are_dispatched)
{
    const char *jobs[] = { "users.usage", "admin.usage" };

    for (size_t i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++) {
        const mg_job_def_t *d = mg_dispatch_find(jobs[i], strlen(jobs[i]));

        ck_assert_ptr_nonnull(d);
        ck_assert_uint_eq(d->flags & MG_JOB_AS_USER, MG_JOB_AS_USER);
    }
}
END_TEST

static Suite *
usage_suite(void)
{
    Suite *s = suite_create("worker_usage");
    TCase *pure = tcase_create("helpers");
    TCase *jobs = tcase_create("jobs");

    tcase_add_test(pure, test_date_parse);
    tcase_add_test(pure, test_date_parse_rejects);
    tcase_add_test(pure, test_date_format_round_trip);
    tcase_add_test(pure, test_range_defaults);
    tcase_add_test(pure, test_range_explicit);
    tcase_add_test(pure, test_range_rejects);
    suite_add_tcase(s, pure);

    tcase_add_checked_fixture(jobs, setup, teardown);
    tcase_add_test(jobs, test_jobs_check_status_and_claims);
    tcase_add_test(jobs, test_bad_queries_are_refused_before_sql);
    tcase_add_test(jobs, test_handlers_are_dispatched);
    suite_add_tcase(s, jobs);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(usage_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
