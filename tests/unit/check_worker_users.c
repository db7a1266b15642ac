/*
 * check_worker_users: the users and admin jobs' pure pieces (LIKE
 * escaping, text and email checks, the admin list cursor) and every
 * answer they give before touching the database: status checks served
 * from the user status cache, the worker's own admin check, and input
 * validation.  Replies are captured through the job's send hook; the job
 * has no database connection, so a handler that tried to use one here
 * would crash the test.
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

/* ---- pure helpers ---- */

static const char *
like(const char *q)
{
    static char out[256];
    size_t      n = mg_admin_like_pattern(q, strlen(q), out);

    ck_assert_uint_eq(n, strlen(out));
    ck_assert_uint_le(n, 2 * strlen(q) + 2);
    return out;
}

START_TEST(test_like_pattern_escapes_metacharacters)
{
    ck_assert_str_eq(like("alice"), "%alice%");
    ck_assert_str_eq(like("50%"), "%50\\%%");
    ck_assert_str_eq(like("a_b"), "%a\\_b%");
    ck_assert_str_eq(like("back\\slash"), "%back\\\\slash%");
    ck_assert_str_eq(like("%_\\"), "%\\%\\_\\\\%");
    ck_assert_str_eq(like(""), "%%");
    ck_assert_str_eq(like("été"), "%été%");
}
END_TEST

START_TEST(test_text_valid)
{
    ck_assert(mg_admin_text_valid("", 0));
    ck_assert(mg_admin_text_valid("plain", 5));
    ck_assert(mg_admin_text_valid("\xc3\xa9t\xc3\xa9", 5));             /* été */
    ck_assert(mg_admin_text_valid("\xe2\x82\xac", 3));                  /* € */
    ck_assert(mg_admin_text_valid("\xf0\x9f\x98\x80", 4));              /* 😀 */
    ck_assert(!mg_admin_text_valid("a\0b", 3));                         /* NUL */
    ck_assert(!mg_admin_text_valid("\xc3", 1));                         /* cut short */
    ck_assert(!mg_admin_text_valid("\xc0\xaf", 2));                     /* overlong */
    ck_assert(!mg_admin_text_valid("\xe0\x80\xaf", 3));                 /* overlong */
    ck_assert(!mg_admin_text_valid("\xed\xa0\x80", 3));                 /* surrogate */
    ck_assert(!mg_admin_text_valid("\xf4\x90\x80\x80", 4));             /* > U+10FFFF */
    ck_assert(!mg_admin_text_valid("\xff", 1));
    ck_assert(!mg_admin_text_valid("\x80", 1));
    ck_assert(!mg_admin_text_valid("\xe2\x28\xa1", 3));                 /* bad continuation */
}
END_TEST

START_TEST(test_email_valid)
{
    const char *good[] = { "a@b", "alice@example.com", "al.ice+tag@ex-ample.co.uk",
                           "\xc3\xa9@\xc3\xa9.fr" };
    const char *bad[] = { "", "alice", "@example.com", "alice@", "a@b@c", "a b@c",
                          "a@b c", "a\t@b", "a@b\n", "a\x7f@b" };
    char        long_addr[300];

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ck_assert_msg(mg_users_email_valid(good[i], strlen(good[i])), "%s", good[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(!mg_users_email_valid(bad[i], strlen(bad[i])), "%s", bad[i]);
    }
    ck_assert(!mg_users_email_valid("a\0@b", 4));

    /* 254 characters is the limit */
    memset(long_addr, 'a', sizeof(long_addr));
    memcpy(long_addr + 250, "@b.c", 4);
    ck_assert(mg_users_email_valid(long_addr, 254));
    long_addr[250] = 'a';
    memcpy(long_addr + 251, "@b.c", 4);
    ck_assert(!mg_users_email_valid(long_addr, 255));
}
END_TEST

START_TEST(test_user_cursor_round_trip)
{
    const char  *ids[] = { "user-1", "3f1c2a44-5b6d-4e7f-8a9b-0c1d2e3f4a5b", "a|b|c",
                           "\xc3\xa9t\xc3\xa9", "x" };
    long long    tss[] = { 0, 1, -1, 1712345678123456LL, 9223372036854775807LL };
    char         enc[MG_USER_CURSOR_MAX], id[MG_USER_CURSOR_ID_MAX + 1];
    long long    ts;

    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        for (size_t j = 0; j < sizeof(tss) / sizeof(tss[0]); j++) {
            ck_assert_int_eq(mg_user_cursor_encode(tss[j], ids[i], enc, sizeof(enc)), 0);
            /* base64url: safe in a query string as it is */
            ck_assert_uint_eq(strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                          "0123456789-_"), strlen(enc));
            ck_assert_int_eq(mg_user_cursor_decode(enc, strlen(enc), &ts, id, sizeof(id)), 0);
            ck_assert_int_eq(ts, tss[j]);
            ck_assert_str_eq(id, ids[i]);
        }
    }
}
END_TEST

START_TEST(test_user_cursor_limits)
{
    char       big[MG_USER_CURSOR_ID_MAX + 2], enc[MG_USER_CURSOR_MAX];
    char       id[MG_USER_CURSOR_ID_MAX + 1];
    long long  ts;

    memset(big, 'i', sizeof(big) - 1);
    big[MG_USER_CURSOR_ID_MAX] = '\0';
    ck_assert_int_eq(mg_user_cursor_encode(-9223372036854775807LL - 1, big, enc, sizeof(enc)), 0);
    ck_assert_int_eq(mg_user_cursor_decode(enc, strlen(enc), &ts, id, sizeof(id)), 0);
    ck_assert_str_eq(id, big);
    /* too small an id buffer is refused, not overrun */
    ck_assert_int_eq(mg_user_cursor_decode(enc, strlen(enc), &ts, id, 10), -1);

    big[MG_USER_CURSOR_ID_MAX] = 'i';
    big[MG_USER_CURSOR_ID_MAX + 1] = '\0';
    ck_assert_int_eq(mg_user_cursor_encode(1, big, enc, sizeof(enc)), -1);
    ck_assert_int_eq(mg_user_cursor_encode(1, "", enc, sizeof(enc)), -1);
    ck_assert_int_eq(mg_user_cursor_encode(1, "u", enc, 4), -1);
}
END_TEST

static int
decode_raw(const char *raw)
{
    char       enc[MG_USER_CURSOR_MAX * 2], id[MG_USER_CURSOR_ID_MAX + 1];
    long long  ts;

    mg_b64url_encode((const unsigned char *) raw, strlen(raw), enc);
    return mg_user_cursor_decode(enc, strlen(enc), &ts, id, sizeof(id));
}

START_TEST(test_user_cursor_rejects_garbage)
{
    char       id[MG_USER_CURSOR_ID_MAX + 1];
    long long  ts;

    ck_assert_int_eq(mg_user_cursor_decode("", 0, &ts, id, sizeof(id)), -1);
    ck_assert_int_eq(mg_user_cursor_decode(NULL, 0, &ts, id, sizeof(id)), -1);
    ck_assert_int_eq(mg_user_cursor_decode("!!!!", 4, &ts, id, sizeof(id)), -1);
    ck_assert_int_eq(mg_user_cursor_decode("abc=", 4, &ts, id, sizeof(id)), -1);
    ck_assert_int_eq(decode_raw("12|u"), 0);
    ck_assert_int_eq(decode_raw("12u"), -1);            /* no separator */
    ck_assert_int_eq(decode_raw("|u"), -1);             /* no timestamp */
    ck_assert_int_eq(decode_raw("12|"), -1);            /* no id */
    ck_assert_int_eq(decode_raw("-|u"), -1);
    ck_assert_int_eq(decode_raw("+12|u"), -1);
    ck_assert_int_eq(decode_raw(" 12|u"), -1);
    ck_assert_int_eq(decode_raw("1x|u"), -1);
    ck_assert_int_eq(decode_raw("99999999999999999999|u"), -1);    /* overflow */
    ck_assert_int_eq(decode_raw("12|\xff"), -1);        /* not UTF-8 */
}
END_TEST

/* ---- handler answers that need no database ---- */


static const char RID[] = "0123456789abcdef0123456789abcdef";

/* Run job name as sub (whose cached status is st) with params and body;
 * expect one error reply with status and code. */
static void
run_expect(const char *name, const char *claims, const char *params, const char *body,
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
    req.body.data = body;
    req.body.len = strlen(body);
    ck_assert_int_eq(mg_job_init(&job, &req, err, sizeof(err)), 0);
    job.send = capture_send;
    job.send_ctx = &cap;

    ck_assert_int_eq(mg_dispatch_run(&job), 0);
    ck_assert_int_eq(cap.n, 1);
    ck_assert_int_eq(cap.msg.type, MG_MSG_ERR);
    ck_assert_msg(cap.msg.status == status, "%s: status %d, wanted %d (%s: %s)", name,
                  cap.msg.status, status, cap.code, cap.message);
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
    ck_assert_int_eq(mg_ustatus_get(&mg_user_statuses, sub, &gen), st);
}

static void
setup(void)
{
    mg_ustatus_set_trusted(&mg_user_statuses, 1);
    cache_as("active", MG_USTATUS_ACTIVE);
    cache_as("admin", MG_USTATUS_ACTIVE);
    cache_as("off", MG_USTATUS_DISABLED);
    cache_as("gone", MG_USTATUS_DELETED);
}

static void
teardown(void)
{
    mg_users_cache_clear();
}

#define ADMIN    "{\"sub\":\"admin\",\"cognito:groups\":[\"admin\"]}"
#define USER     "{\"sub\":\"active\",\"cognito:groups\":[\"users\"]}"

START_TEST(test_every_user_job_checks_status)
{
    const char *jobs[] = { "users.me", "users.update_me", "users.export", "users.delete_me",
                           "admin.users.list", "admin.users.update", "bots.list" };

    for (size_t i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++) {
        run_expect(jobs[i], "{\"sub\":\"off\",\"cognito:groups\":[\"admin\"]}", "{}", "{}",
                   403, "account_disabled", "this account is disabled");
        run_expect(jobs[i], "{\"sub\":\"gone\",\"cognito:groups\":[\"admin\"]}", "{}", "{}",
                   401, "unauthorized", "user no longer exists");
        run_expect(jobs[i], "{}", "{}", "{}", 401, "unauthorized", NULL);
    }
}
END_TEST

START_TEST(test_admin_jobs_check_claims_too)
{
    const char *claims[] = { USER, "{\"sub\":\"active\"}",
                             "{\"sub\":\"active\",\"cognito:groups\":\"admin\"}",
                             "{\"sub\":\"active\",\"cognito:groups\":[\"Admin\",\"admins\"]}" };

    for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++) {
        run_expect("admin.users.list", claims[i], "{\"query\":\"\"}", "", 403, "forbidden", NULL);
        run_expect("admin.users.update", claims[i], "{\"id\":\"active\"}",
                   "{\"disabled\":true}", 403, "forbidden", NULL);
        /* groups and sign-up (signup.c) */
        run_expect("admin.permissions", claims[i], "{}", "", 403, "forbidden", NULL);
        run_expect("admin.signup.get", claims[i], "{}", "", 403, "forbidden", NULL);
        run_expect("admin.signup.update", claims[i], "{}", "{\"registration\":\"open\"}",
                   403, "forbidden", NULL);
        run_expect("admin.invitations.list", claims[i], "{}", "", 403, "forbidden", NULL);
        run_expect("admin.invitations.create", claims[i], "{}", "{\"email\":\"a@b.c\"}",
                   403, "forbidden", NULL);
        run_expect("admin.invitations.revoke", claims[i],
                   "{\"id\":\"0b7c8f1e-0000-4000-8000-000000000001\"}", "", 403, "forbidden",
                   NULL);
    }
}
END_TEST

START_TEST(test_admin_list_bad_query)
{
    const char *queries[] = {
        "{\"query\":\"limit=0\"}", "{\"query\":\"limit=101\"}", "{\"query\":\"limit=x\"}",
        "{\"query\":\"cursor=!!\"}", "{\"query\":\"cursor=MTJ1\"}",
        "{\"query\":\"q=%ff\"}", "{\"query\":\"q=%00\"}", "{\"query\":\"q=%zz\"}",
    };
    char q[1400];

    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        run_expect("admin.users.list", ADMIN, queries[i], "", 400, "invalid_query", NULL);
    }
    /* 257 characters */
    snprintf(q, sizeof(q), "{\"query\":\"q=");
    for (int i = 0; i < 257; i++) {
        strcat(q, "a");
    }
    strcat(q, "\"}");
    run_expect("admin.users.list", ADMIN, q, "", 400, "invalid_query", "\"q\"");
}
END_TEST

START_TEST(test_admin_update_bad_input)
{
    run_expect("admin.users.update", ADMIN, "{\"id\":\"active\"}", "{\"roles\":\"admin\"}",
               400, "unknown_field", "roles");
    run_expect("admin.users.update", ADMIN, "{\"id\":\"active\"}", "{\"role\":\"root\"}",
               400, "invalid_field", "role");
    run_expect("admin.users.update", ADMIN, "{\"id\":\"active\"}", "{\"role\":\"\"}",
               400, "invalid_field", "role");
    run_expect("admin.users.update", ADMIN, "{\"id\":\"active\"}", "{\"role\":null}",
               400, "invalid_field", "role");
    run_expect("admin.users.update", ADMIN, "{\"id\":\"active\"}", "{\"disabled\":\"yes\"}",
               400, "invalid_field", "disabled");
    run_expect("admin.users.update", ADMIN, "{\"id\":\"active\"}", "[]",
               400, "invalid_json", NULL);
    run_expect("admin.users.update", ADMIN, "{\"id\":\"active\"}", "",
               400, "invalid_json", NULL);
}
END_TEST

/* Every refusal below comes before any statement (the job has no
 * database: one would crash the test), so a bad request changes nothing. */
START_TEST(test_admin_update_bad_groups)
{
    const char *bodies[] = {
        "{\"groups\":\"team\"}", "{\"groups\":null}", "{\"groups\":[\"\"]}",
        "{\"groups\":[\"a b\"]}", "{\"groups\":[\"admin\"]}", "{\"groups\":[7]}",
        "{\"groups\":[\"tab\\there\"]}", "{\"groups\":[\"ok\"],\"role\":\"root\"}",
        "{\"groups\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\",\"m\","
        "\"n\",\"o\",\"p\",\"q\",\"r\",\"s\",\"t\",\"u\"]}",
    };
    char body[400];

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        run_expect("admin.users.update", ADMIN, "{\"id\":\"active\"}", bodies[i],
                   400, "invalid_field", NULL);
    }
    /* 129 characters */
    snprintf(body, sizeof(body), "{\"groups\":[\"");
    for (int i = 0; i < 129; i++) {
        strcat(body, "g");
    }
    strcat(body, "\"]}");
    run_expect("admin.users.update", ADMIN, "{\"id\":\"active\"}", body, 400, "invalid_field",
               "\"groups\"");
    run_expect("admin.users.update", ADMIN, "{\"id\":\"active\"}",
               "{\"groups\":[],\"x\":1}", 400, "unknown_field", NULL);
}
END_TEST

START_TEST(test_signup_bad_input)
{
    const char *bodies[] = {
        "{\"registration\":\"maybe\"}", "{\"registration\":null}", "{\"registration\":1}",
        "{\"allowed_domains\":\"example.com\"}", "{\"allowed_domains\":null}",
        "{\"allowed_domains\":[\"@example.com\"]}", "{\"allowed_domains\":[\"not a domain\"]}",
        "{\"allowed_domains\":[\"\"]}", "{\"allowed_domains\":[\"a..b\"]}",
        "{\"allowed_domains\":[\"-a.com\"]}", "{\"allowed_domains\":[3]}",
        "{\"registration\":\"open\",\"allowed_domains\":[\"ok.com\",\"bad_one.com\"]}",
        "{\"registration\":\"nope\",\"allowed_domains\":[\"ok.com\"]}",
    };

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        run_expect("admin.signup.update", ADMIN, "{}", bodies[i], 400, "invalid_field", NULL);
    }
    run_expect("admin.signup.update", ADMIN, "{}", "{\"mode\":\"open\"}", 400,
               "unknown_field", NULL);
    run_expect("admin.signup.update", ADMIN, "{}", "[]", 400, "invalid_json", NULL);
    run_expect("admin.signup.update", ADMIN, "{}", "", 400, "invalid_json", NULL);
}
END_TEST

START_TEST(test_invitation_bad_input)
{
    const char *bodies[] = {
        "{}", "{\"email\":\"nope\"}", "{\"email\":null}", "{\"email\":\"a@b.c\",\"role\":\"root\"}",
        "{\"email\":\"a@b.c\",\"groups\":[\"admin\"]}", "{\"email\":\"a@b.c\",\"groups\":\"x\"}",
        "{\"email\":\"a@b.c\",\"expires_in_days\":0}",
        "{\"email\":\"a@b.c\",\"expires_in_days\":91}",
        "{\"email\":\"a@b.c\",\"expires_in_days\":\"7\"}",
    };

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        run_expect("admin.invitations.create", ADMIN, "{}", bodies[i], 400, "invalid_field",
                   NULL);
    }
    run_expect("admin.invitations.create", ADMIN, "{}", "{\"email\":\"a@b.c\",\"code\":\"x\"}",
               400, "unknown_field", NULL);
    run_expect("admin.invitations.revoke", ADMIN, "{\"id\":\"nope\"}", "", 404, "not_found",
               NULL);
}
END_TEST

START_TEST(test_admin_cannot_lock_themselves_out)
{
    run_expect("admin.users.update", ADMIN, "{\"id\":\"admin\"}", "{\"disabled\":true}",
               400, "invalid_field", "disable their own account");
    run_expect("admin.users.update", ADMIN, "{\"id\":\"admin\"}", "{\"role\":\"user\"}",
               400, "invalid_field", "own admin role");
    run_expect("admin.users.update", ADMIN, "{\"id\":\"admin\"}",
               "{\"role\":\"admin\",\"disabled\":true}", 400, "invalid_field", NULL);
}
END_TEST

START_TEST(test_update_me_bad_input)
{
    char body[600];

    run_expect("users.update_me", USER, "{}", "{\"name\":\"x\"}", 400, "unknown_field", "name");
    run_expect("users.update_me", USER, "{}", "{\"role\":\"admin\"}", 400, "unknown_field", "role");
    run_expect("users.update_me", USER, "{}", "{\"disabled\":false}", 400, "unknown_field", NULL);
    run_expect("users.update_me", USER, "{}", "{\"username\":\"\"}", 400, "invalid_field", "username");
    run_expect("users.update_me", USER, "{}", "{\"username\":\"   \"}", 400, "invalid_field", "username");
    run_expect("users.update_me", USER, "{}", "{\"username\":null}", 400, "invalid_field", "username");
    run_expect("users.update_me", USER, "{}", "{\"username\":7}", 400, "invalid_field", "username");
    run_expect("users.update_me", USER, "{}", "{\"email\":\"nope\"}", 400, "invalid_field", "email");
    run_expect("users.update_me", USER, "{}", "{\"email\":\"a@b@c\"}", 400, "invalid_field", "email");
    run_expect("users.update_me", USER, "{}", "{\"email\":\"\"}", 400, "invalid_field", "email");
    run_expect("users.update_me", USER, "{}", "{\"email\":5}", 400, "invalid_field", "email");
    /* a bad field anywhere rejects the whole body (nothing is written) */
    run_expect("users.update_me", USER, "{}", "{\"username\":\"ok\",\"email\":\"bad\"}",
               400, "invalid_field", "email");

    snprintf(body, sizeof(body), "{\"username\":\"%0129d\"}", 0);
    run_expect("users.update_me", USER, "{}", body, 400, "invalid_field", "username");
}
END_TEST

START_TEST(test_handlers_are_dispatched)
{
    const char *jobs[] = { "users.me", "users.update_me", "users.export", "users.delete_me",
                           "admin.users.list", "admin.users.update" };

    for (size_t i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++) {
        const mg_job_def_t *d = mg_dispatch_find(jobs[i], strlen(jobs[i]));

        ck_assert_ptr_nonnull(d);
        ck_assert_uint_eq(d->flags & MG_JOB_AS_USER, MG_JOB_AS_USER);
    }
}
END_TEST

static Suite *
users_suite(void)
{
    Suite *s = suite_create("worker_users");
    TCase *pure = tcase_create("helpers");
    TCase *jobs = tcase_create("jobs");

    tcase_add_test(pure, test_like_pattern_escapes_metacharacters);
    tcase_add_test(pure, test_text_valid);
    tcase_add_test(pure, test_email_valid);
    tcase_add_test(pure, test_user_cursor_round_trip);
    tcase_add_test(pure, test_user_cursor_limits);
    tcase_add_test(pure, test_user_cursor_rejects_garbage);
    suite_add_tcase(s, pure);

    tcase_add_checked_fixture(jobs, setup, teardown);
    tcase_add_test(jobs, test_every_user_job_checks_status);
    tcase_add_test(jobs, test_admin_jobs_check_claims_too);
    tcase_add_test(jobs, test_admin_list_bad_query);
    tcase_add_test(jobs, test_admin_update_bad_input);
    tcase_add_test(jobs, test_admin_update_bad_groups);
    tcase_add_test(jobs, test_signup_bad_input);
    tcase_add_test(jobs, test_invitation_bad_input);
    tcase_add_test(jobs, test_admin_cannot_lock_themselves_out);
    tcase_add_test(jobs, test_update_me_bad_input);
    tcase_add_test(jobs, test_handlers_are_dispatched);
    suite_add_tcase(s, jobs);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(users_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
