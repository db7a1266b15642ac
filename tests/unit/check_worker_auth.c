/*
 * check_worker_auth: the local identity's pure helpers (worker/jobs/
 * auth.c: the username rule, refresh token shape and hash, access
 * token claims) and its handlers' answers that need no database: bad
 * input is refused before any statement runs (the job's connection points
 * at a socket that does not exist, so reaching the database would answer
 * 503 instead), and a database that is down is a 503.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "jobs/jobs.h"
#include "util/log.h"
#include "mg_jwt.h"
#include "job_capture.h"

/* ---- helpers ---- */

START_TEST(test_username_rule)
{
    ck_assert_int_eq(mg_auth_username_valid("abc", 3), 1);
    ck_assert_int_eq(mg_auth_username_valid("Alice.Smith_2-x", 15), 1);
    ck_assert_int_eq(mg_auth_username_valid("ab", 2), 0);
    ck_assert_int_eq(mg_auth_username_valid("", 0), 0);
    ck_assert_int_eq(mg_auth_username_valid("a b", 3), 0);
    ck_assert_int_eq(mg_auth_username_valid("a@b", 3), 0);
    ck_assert_int_eq(mg_auth_username_valid("ab\xc3\xa9", 4), 0);
    ck_assert_int_eq(mg_auth_username_valid("ab\0c", 4), 0);
    {
        char name[66];

        memset(name, 'x', sizeof(name));
        ck_assert_int_eq(mg_auth_username_valid(name, 64), 1);
        ck_assert_int_eq(mg_auth_username_valid(name, 65), 0);
    }
}
END_TEST

START_TEST(test_refresh_token_shape)
{
    char  a[MG_REFRESH_TOKEN_LEN + 1], b[MG_REFRESH_TOKEN_LEN + 1];
    char  ha[MG_SHA256_HEX_LEN + 1], hb[MG_SHA256_HEX_LEN + 1];

    ck_assert_int_eq(mg_auth_refresh_token_new(a), 0);
    ck_assert_int_eq(mg_auth_refresh_token_new(b), 0);
    ck_assert_uint_eq(strlen(a), MG_REFRESH_TOKEN_LEN);
    ck_assert(strncmp(a, "mgr_", 4) == 0);
    ck_assert_str_ne(a, b);
    ck_assert_int_eq(mg_auth_refresh_token_wellformed(a, strlen(a)), 1);
    ck_assert_int_eq(mg_auth_refresh_token_wellformed(a, strlen(a) - 1), 0);
    ck_assert_int_eq(mg_auth_refresh_token_wellformed(a + 1, strlen(a) - 1), 0);
    memcpy(b, a, sizeof(b));
    b[0] = 'x';
    ck_assert_int_eq(mg_auth_refresh_token_wellformed(b, strlen(b)), 0);
    memcpy(b, a, sizeof(b));
    b[10] = '+';
    ck_assert_int_eq(mg_auth_refresh_token_wellformed(b, strlen(b)), 0);
    ck_assert_int_eq(mg_auth_refresh_token_wellformed("", 0), 0);

    /* SHA-256 in lowercase hex; the stored form of a token */
    ck_assert_int_eq(mg_auth_token_hash("abc", 3, ha), 0);
    ck_assert_str_eq(ha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ck_assert_int_eq(mg_auth_token_hash(a, strlen(a), ha), 0);
    ck_assert_int_eq(mg_auth_token_hash(a, strlen(a), hb), 0);
    ck_assert_str_eq(ha, hb);
    ck_assert_uint_eq(strlen(ha), MG_SHA256_HEX_LEN);
}
END_TEST

START_TEST(test_access_claims)
{
    mg_auth_config_t  cfg = {
        .registration = MG_REGISTRATION_OPEN, .issuer = "iss-x", .client_id = "client-y",
        .access_ttl = 900, .refresh_ttl = 60
    };
    json_t           *c, *g, *extra;

    c = mg_auth_access_claims(&cfg, "0b7c8f1e-0000-4000-8000-000000000001", "Alice", 1,
                              NULL, 1700000000, 1699999000);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(json_string_value(json_object_get(c, "sub")),
                     "0b7c8f1e-0000-4000-8000-000000000001");
    ck_assert_str_eq(json_string_value(json_object_get(c, "username")), "Alice");
    ck_assert_str_eq(json_string_value(json_object_get(c, "token_use")), "access");
    ck_assert_str_eq(json_string_value(json_object_get(c, "client_id")), "client-y");
    ck_assert_str_eq(json_string_value(json_object_get(c, "iss")), "iss-x");
    ck_assert_int_eq(json_integer_value(json_object_get(c, "iat")), 1700000000);
    ck_assert_int_eq(json_integer_value(json_object_get(c, "exp")), 1700000900);
    ck_assert_int_eq(json_integer_value(json_object_get(c, "auth_time")), 1699999000);
    ck_assert_uint_eq(json_string_length(json_object_get(c, "jti")), 36);
    ck_assert_ptr_null(json_object_get(c, "aud"));
    g = json_object_get(c, "cognito:groups");
    ck_assert_uint_eq(json_array_size(g), 1);
    ck_assert_str_eq(json_string_value(json_array_get(g, 0)), "admin");
    json_decref(c);

    c = mg_auth_access_claims(&cfg, "s", "bob", 0, NULL, 1, 1);
    ck_assert_ptr_nonnull(c);
    g = json_object_get(c, "cognito:groups");
    ck_assert(json_is_array(g));
    ck_assert_uint_eq(json_array_size(g), 0);
    json_decref(c);

    /* stored groups follow "admin"; a stored "admin" (or a non-string)
     * never makes one: only the role does */
    extra = json_loads("[\"publishers\",\"admin\",5,\"team-a\"]", 0, NULL);
    ck_assert_ptr_nonnull(extra);
    c = mg_auth_access_claims(&cfg, "s", "bob", 0, extra, 1, 1);
    ck_assert_ptr_nonnull(c);
    g = json_object_get(c, "cognito:groups");
    ck_assert_uint_eq(json_array_size(g), 2);
    ck_assert_str_eq(json_string_value(json_array_get(g, 0)), "publishers");
    ck_assert_str_eq(json_string_value(json_array_get(g, 1)), "team-a");
    json_decref(c);
    c = mg_auth_access_claims(&cfg, "s", "root", 1, extra, 1, 1);
    g = json_object_get(c, "cognito:groups");
    ck_assert_uint_eq(json_array_size(g), 3);
    ck_assert_str_eq(json_string_value(json_array_get(g, 0)), "admin");
    ck_assert_str_eq(json_string_value(json_array_get(g, 1)), "publishers");
    json_decref(c);
    json_decref(extra);
}
END_TEST

START_TEST(test_registration_parse)
{
    mg_registration_t r;

    ck_assert_int_eq(mg_registration_parse("open", &r), 0);
    ck_assert_int_eq(r, MG_REGISTRATION_OPEN);
    ck_assert_int_eq(mg_registration_parse("first-admin", &r), 0);
    ck_assert_int_eq(r, MG_REGISTRATION_FIRST_ADMIN);
    ck_assert_int_eq(mg_registration_parse("closed", &r), 0);
    ck_assert_int_eq(r, MG_REGISTRATION_CLOSED);
    ck_assert_int_eq(mg_registration_parse("Open", &r), -1);
    ck_assert_int_eq(mg_registration_parse("", &r), -1);
}
END_TEST

/* ---- handlers without a database ---- */


static const char RID[] = "0123456789abcdef0123456789abcdef";

/* Run handler on body with the module's params (NULL: {}); the reply
 * lands in cap. */
static void
run_with(int (*handler)(mg_job_t *), const char *body, const char *params, capture_t *cap)
{
    mg_msg_t   req = { .type = MG_MSG_REQ };
    mg_job_t   job;
    char       err[96];
    mg_db_t   *db;

    memset(cap, 0, sizeof(*cap));
    req.rid.data = RID;
    req.rid.len = MG_RID_LEN;
    req.job.data = "auth.test";
    req.job.len = strlen(req.job.data);
    req.body.data = body;
    req.body.len = strlen(body);
    if (params != NULL) {
        req.params.data = params;
        req.params.len = strlen(params);
    }
    ck_assert_int_eq(mg_job_init(&job, &req, err, sizeof(err)), 0);
    job.send = capture_send;
    job.send_ctx = cap;
    /* a database that cannot be reached, and fails at once */
    db = mg_db_new("host=/nonexistent/mangoo-check port=1", "check");
    ck_assert_ptr_nonnull(db);
    job.db = db;

    ck_assert_int_eq(handler(&job), 0);
    ck_assert_int_eq(cap->n, 1);

    mg_db_free(db);
    mg_job_free(&job);
}

static void
run(int (*handler)(mg_job_t *), const char *body, capture_t *cap)
{
    run_with(handler, body, NULL, cap);
}

static void
expect_error(const capture_t *cap, int status, const char *code)
{
    ck_assert_int_eq(cap->msg.type, MG_MSG_ERR);
    ck_assert_msg(cap->msg.status == status && strcmp(cap->code, code) == 0,
                  "expected %d %s, got %d %s (%s)", status, code, cap->msg.status,
                  cap->code, cap->message);
}

START_TEST(test_register_bad_input)
{
    capture_t cap;

    run(mg_job_auth_register, "", &cap);
    expect_error(&cap, 400, "invalid_json");
    run(mg_job_auth_register, "{\"username\":\"abc\",\"password\":\"Abcdefg1!\",\"x\":1}", &cap);
    expect_error(&cap, 400, "unknown_field");
    ck_assert_str_eq(cap.message, "unknown field \"x\"");
    run(mg_job_auth_register, "{\"password\":\"Abcdefg1!\"}", &cap);
    expect_error(&cap, 400, "invalid_field");
    run(mg_job_auth_register, "{\"username\":\"ab\",\"password\":\"Abcdefg1!\"}", &cap);
    expect_error(&cap, 400, "invalid_field");
    run(mg_job_auth_register, "{\"username\":\"a b c\",\"password\":\"Abcdefg1!\"}", &cap);
    expect_error(&cap, 400, "invalid_field");
    ck_assert_str_eq(cap.message, "field \"username\" must be 3 to 64 characters of A-Z, "
                     "a-z, 0-9, \".\", \"_\" and \"-\"");
    run(mg_job_auth_register, "{\"username\":\"abc\",\"password\":\"abcdefg1!\"}", &cap);
    expect_error(&cap, 400, "invalid_field");
    ck_assert_str_eq(cap.message, "field \"password\" must contain an uppercase letter (A-Z)");
    run(mg_job_auth_register, "{\"username\":\"abc\",\"password\":\"Abc1!\"}", &cap);
    expect_error(&cap, 400, "invalid_field");
    ck_assert_str_eq(cap.message, "field \"password\" must be a string of 8 to 256 characters");
    run(mg_job_auth_register,
        "{\"username\":\"abc\",\"password\":\"Abcdefg1!\",\"email\":\"nope\"}", &cap);
    expect_error(&cap, 400, "invalid_field");
    run(mg_job_auth_register,
        "{\"username\":\"abc\",\"password\":\"Abcdefg1!\",\"email\":5}", &cap);
    expect_error(&cap, 400, "invalid_field");
    run(mg_job_auth_register, "{\"username\":\"abc\",\"password\":12345678}", &cap);
    expect_error(&cap, 400, "invalid_field");

    /* valid input goes to the database first thing (here: down) */
    run(mg_job_auth_register,
        "{\"username\":\"abc\",\"password\":\"Abcdefg1!\",\"email\":null}", &cap);
    expect_error(&cap, 503, "database_unavailable");
}
END_TEST

START_TEST(test_session_field)
{
    capture_t cap;

    run(mg_job_auth_login, "{\"username\":\"abc\",\"password\":\"x\",\"session\":\"jwt\"}",
        &cap);
    expect_error(&cap, 400, "invalid_field");
    ck_assert_str_eq(cap.message, "field \"session\" must be \"cookie\" (or absent)");
    run(mg_job_auth_login, "{\"username\":\"abc\",\"password\":\"x\",\"session\":true}", &cap);
    expect_error(&cap, 400, "invalid_field");
    run(mg_job_auth_register, "{\"username\":\"abc\",\"password\":\"Abcdefg1!\","
        "\"session\":\"Cookie\"}", &cap);
    expect_error(&cap, 400, "invalid_field");
    run(mg_job_auth_register, "{\"username\":\"abc\",\"password\":\"Abcdefg1!\","
        "\"session\":null}", &cap);
    expect_error(&cap, 400, "invalid_field");
    /* the browser form is otherwise the same sign-in */
    run(mg_job_auth_login, "{\"username\":\"abc\",\"password\":\"x\",\"session\":\"cookie\"}",
        &cap);
    expect_error(&cap, 503, "database_unavailable");
}
END_TEST

/* The cookie's token is used when the body has none; the body's wins. */
START_TEST(test_cookie_sessions)
{
    capture_t  cap;
    char       token[MG_REFRESH_TOKEN_LEN + 1], params[160];

    /* not one of ours: refused, and the cookie is cleared (not Secure on
     * a loopback host, as the module said) */
    run_with(mg_job_auth_refresh, "", "{\"refresh_cookie\":\"nope\",\"cookie_secure\":false}",
             &cap);
    ck_assert_int_eq(cap.msg.type, MG_MSG_RES);
    ck_assert_int_eq(cap.msg.status, 401);
    ck_assert_str_eq(cap.headers, "{\"Cache-Control\":\"no-store\",\"Pragma\":\"no-cache\","
                     "\"Set-Cookie\":\"mangoo_refresh=; Path=/api/v1/auth; Max-Age=0; "
                     "HttpOnly; SameSite=Strict\"}");
    ck_assert_ptr_nonnull(strstr(cap.body, "\"code\":\"invalid_refresh_token\""));
    ck_assert_ptr_nonnull(strstr(cap.body, "\"request_id\":\"0123456789abcdef"));

    /* Secure unless the module says otherwise */
    run_with(mg_job_auth_refresh, "{}", "{\"refresh_cookie\":\"nope\"}", &cap);
    ck_assert_int_eq(cap.msg.status, 401);
    ck_assert_ptr_nonnull(strstr(cap.headers, "SameSite=Strict; Secure\""));

    /* a well-formed cookie goes to the database (down) */
    ck_assert_int_eq(mg_auth_refresh_token_new(token), 0);
    snprintf(params, sizeof(params), "{\"refresh_cookie\":\"%s\",\"cookie_secure\":true}", token);
    run_with(mg_job_auth_refresh, "", params, &cap);
    expect_error(&cap, 503, "database_unavailable");
    run_with(mg_job_auth_logout, "{}", params, &cap);
    expect_error(&cap, 503, "database_unavailable");

    /* a body token wins over the cookie, and is the JSON form */
    run_with(mg_job_auth_refresh, "{\"refresh_token\":\"not-a-token\"}", params, &cap);
    expect_error(&cap, 401, "invalid_refresh_token");

    /* logout with nothing to revoke still clears the cookie */
    run_with(mg_job_auth_logout, "", "{\"cookie_secure\":true}", &cap);
    ck_assert_int_eq(cap.msg.type, MG_MSG_RES);
    ck_assert_int_eq(cap.msg.status, 204);
    ck_assert_ptr_nonnull(strstr(cap.headers, "\"Set-Cookie\":\"mangoo_refresh=; "
                                              "Path=/api/v1/auth; Max-Age=0; HttpOnly; "
                                              "SameSite=Strict; Secure\""));
    /* ... but the JSON form does not touch cookies */
    run_with(mg_job_auth_logout, "{\"refresh_token\":\"garbage\"}", params, &cap);
    ck_assert_int_eq(cap.msg.status, 204);
    ck_assert_str_eq(cap.headers, "");
}
END_TEST

START_TEST(test_register_closed)
{
    mg_auth_config_t cfg = {
        .registration = MG_REGISTRATION_CLOSED, .issuer = "i", .client_id = "c",
        .access_ttl = 900, .refresh_ttl = 60
    };
    capture_t        cap;

    mg_auth_configure(&cfg);
    /* the mode an administrator set lives in the database (signup.c),
     * which may override MANGOO_REGISTRATION: here it is down */
    run(mg_job_auth_register, "{\"username\":\"abc\",\"password\":\"Abcdefg1!\"}", &cap);
    expect_error(&cap, 503, "database_unavailable");
    /* an invitation opens any mode; a code of the wrong shape is refused
     * before any statement */
    run(mg_job_auth_register, "{\"username\":\"abc\",\"password\":\"Abcdefg1!\","
        "\"invitation\":\"mgi_short\"}", &cap);
    expect_error(&cap, 403, "invitation_invalid");
    run(mg_job_auth_register, "{\"username\":\"abc\",\"password\":\"Abcdefg1!\","
        "\"invitation\":null}", &cap);
    expect_error(&cap, 400, "invalid_field");
    mg_auth_configure(NULL);
}
END_TEST

START_TEST(test_login_bad_input)
{
    capture_t cap;

    run(mg_job_auth_login, "[]", &cap);
    expect_error(&cap, 400, "invalid_json");
    run(mg_job_auth_login, "{\"username\":\"abc\"}", &cap);
    expect_error(&cap, 400, "invalid_field");
    run(mg_job_auth_login, "{\"username\":\"abc\",\"password\":\"\"}", &cap);
    expect_error(&cap, 400, "invalid_field");
    run(mg_job_auth_login, "{\"username\":\"abc\",\"password\":\"x\",\"otp\":1}", &cap);
    expect_error(&cap, 400, "unknown_field");
    run(mg_job_auth_login, "{\"username\":\"abc\",\"password\":\"whatever\"}", &cap);
    expect_error(&cap, 503, "database_unavailable");
}
END_TEST

START_TEST(test_refresh_and_logout_input)
{
    capture_t  cap;
    char       token[MG_REFRESH_TOKEN_LEN + 1], body[128];

    /* no token in the body and no cookie: no session */
    run(mg_job_auth_refresh, "{}", &cap);
    expect_error(&cap, 401, "invalid_refresh_token");
    run(mg_job_auth_refresh, "", &cap);
    expect_error(&cap, 401, "invalid_refresh_token");
    run(mg_job_auth_refresh, "{\"refresh_token\":null}", &cap);
    expect_error(&cap, 400, "invalid_field");
    run(mg_job_auth_logout, "{\"refresh_token\":\"x\",\"all\":true}", &cap);
    expect_error(&cap, 400, "unknown_field");

    /* not one of ours: refused without asking the database */
    run(mg_job_auth_refresh, "{\"refresh_token\":\"not-a-token\"}", &cap);
    expect_error(&cap, 401, "invalid_refresh_token");
    run(mg_job_auth_logout, "{\"refresh_token\":\"not-a-token\"}", &cap);
    ck_assert_int_eq(cap.msg.type, MG_MSG_RES);
    ck_assert_int_eq(cap.msg.status, 204);

    ck_assert_int_eq(mg_auth_refresh_token_new(token), 0);
    snprintf(body, sizeof(body), "{\"refresh_token\":\"%s\"}", token);
    run(mg_job_auth_refresh, body, &cap);
    expect_error(&cap, 503, "database_unavailable");
    run(mg_job_auth_logout, body, &cap);
    expect_error(&cap, 503, "database_unavailable");
}
END_TEST

static Suite *
auth_suite(void)
{
    Suite  *s = suite_create("worker_auth");
    TCase  *tc = tcase_create("helpers");
    TCase  *th = tcase_create("handlers");

    tcase_add_test(tc, test_username_rule);
    tcase_add_test(tc, test_refresh_token_shape);
    tcase_add_test(tc, test_access_claims);
    tcase_add_test(tc, test_registration_parse);
    suite_add_tcase(s, tc);

    tcase_add_test(th, test_register_bad_input);
    tcase_add_test(th, test_register_closed);
    tcase_add_test(th, test_login_bad_input);
    tcase_add_test(th, test_refresh_and_logout_input);
    tcase_add_test(th, test_session_field);
    tcase_add_test(th, test_cookie_sessions);
    suite_add_tcase(s, th);
    return s;
}

int
main(void)
{
    SRunner  *sr = srunner_create(auth_suite());
    int       failed;

    /* the unreachable database is expected: keep its warnings out */
    mg_log_set_level(MG_LOG_ERROR);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
