/*
 * check_worker_cognito: the Cognito sign-in's pure helpers (form
 * encoding in worker/util/http_get.c, the PKCE verifier rule and the endpoint
 * URLs in worker/jobs/cognito.c), its handlers' answers that need no
 * identity provider (bad input refused before any call; a provider that
 * cannot be reached is 503), the session cookie's forms in Cognito mode,
 * and config.get in each mode (worker/jobs/config.c).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/http_get.h"
#include "job.h"
#include "jobs/jobs.h"
#include "util/log.h"
#include "job_capture.h"

/* ---- pure helpers ---- */

START_TEST(test_form_encoding)
{
    const char  *pairs[] = {
        "grant_type", "authorization_code",
        "skipped", NULL,
        "redirect_uri", "http://127.0.0.1:8080/auth/callback?x=1&y=2",
        "code", "a b+c/d=e~f_g.h-i",
        "utf8", "\xc3\xa9",
    };
    char        *s = mg_http_form(pairs, 5);

    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "grant_type=authorization_code"
                        "&redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fauth%2Fcallback%3Fx%3D1%26y%3D2"
                        "&code=a%20b%2Bc%2Fd%3De~f_g.h-i"
                        "&utf8=%C3%A9");
    free(s);

    s = mg_http_form(pairs, 0);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "");
    free(s);

    /* a NULL first pair leaves no leading '&' */
    s = mg_http_form(pairs + 2, 2);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fauth%2Fcallback%3Fx%3D1%26y%3D2");
    free(s);
}
END_TEST

START_TEST(test_verifier_rule)
{
    char  v[130];

    memset(v, 'a', sizeof(v));
    ck_assert_int_eq(mg_cognito_verifier_valid(v, 43), 1);
    ck_assert_int_eq(mg_cognito_verifier_valid(v, 128), 1);
    ck_assert_int_eq(mg_cognito_verifier_valid(v, 42), 0);
    ck_assert_int_eq(mg_cognito_verifier_valid(v, 129), 0);
    memcpy(v, "AZaz09-._~", 10);
    ck_assert_int_eq(mg_cognito_verifier_valid(v, 43), 1);
    v[5] = '+';
    ck_assert_int_eq(mg_cognito_verifier_valid(v, 43), 0);
    v[5] = '=';
    ck_assert_int_eq(mg_cognito_verifier_valid(v, 43), 0);
}
END_TEST

START_TEST(test_urls)
{
    char  out[64];

    ck_assert_int_eq(mg_cognito_url(out, sizeof(out), "https://x.auth.example", "token"), 0);
    ck_assert_str_eq(out, "https://x.auth.example/oauth2/token");
    ck_assert_int_eq(mg_cognito_url(out, sizeof(out), "https://x.auth.example//", "revoke"), 0);
    ck_assert_str_eq(out, "https://x.auth.example/oauth2/revoke");
    ck_assert_int_eq(mg_cognito_url(out, 20, "https://x.auth.example", "token"), -1);
}
END_TEST

/* ---- handlers ---- */

static const char RID[] = "0123456789abcdef0123456789abcdef";

/* Run handler on body with the module's params (NULL: {}). */
static void
run(int (*handler)(mg_job_t *), const char *body, const char *params, capture_t *cap)
{
    mg_msg_t   req = { .type = MG_MSG_REQ };
    mg_job_t   job;
    char       err[96];
    mg_db_t   *db;

    memset(cap, 0, sizeof(*cap));
    req.rid.data = RID;
    req.rid.len = MG_RID_LEN;
    req.job.data = "cognito.test";
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
    db = mg_db_new("host=/nonexistent/mangoo-check port=1", "check");
    ck_assert_ptr_nonnull(db);
    job.db = db;

    ck_assert_int_eq(handler(&job), 0);
    ck_assert_int_eq(cap->n, 1);

    mg_db_free(db);
    mg_job_free(&job);
}

static void
expect_error(const capture_t *cap, int status, const char *code)
{
    ck_assert_int_eq(cap->msg.type, MG_MSG_ERR);
    ck_assert_msg(cap->msg.status == status && strcmp(cap->code, code) == 0,
                  "expected %d %s, got %d %s (%s)", status, code, cap->msg.status,
                  cap->code, cap->message);
}

/* A whole reply (not an ERR) of status whose body has error code. */
static void
expect_error_reply(const capture_t *cap, int status, const char *code)
{
    char  want[96];

    ck_assert_int_eq(cap->msg.type, MG_MSG_RES);
    ck_assert_int_eq(cap->msg.status, status);
    snprintf(want, sizeof(want), "{\"error\":{\"code\":\"%s\"", code);
    ck_assert_msg(strncmp(cap->body, want, strlen(want)) == 0, "body %s", cap->body);
}

static void
configure(const char *domain, mg_registration_t reg)
{
    mg_auth_config_t cfg = {
        .registration = reg, .issuer = "iss", .client_id = "app-client",
        .access_ttl = 900, .refresh_ttl = 3600,
        .cognito_domain = domain, .cognito_scopes = "openid email"
    };

    mg_auth_configure(&cfg);
}

#define VERIFIER "0123456789abcdefghij0123456789abcdefghij-._~"

START_TEST(test_cognito_off_by_default)
{
    capture_t cap;

    mg_auth_configure(NULL);
    run(mg_job_auth_cognito, "{\"code\":\"c\",\"code_verifier\":\"" VERIFIER "\","
        "\"redirect_uri\":\"http://localhost/cb\"}", NULL, &cap);
    expect_error(&cap, 403, "cognito_identity_disabled");
}
END_TEST

START_TEST(test_local_sign_in_refused_in_cognito_mode)
{
    capture_t cap;

    configure("http://127.0.0.1:1", MG_REGISTRATION_OPEN);
    run(mg_job_auth_login, "{\"username\":\"abc\",\"password\":\"Abcdefg1!\"}", NULL, &cap);
    expect_error(&cap, 403, "local_identity_disabled");
    run(mg_job_auth_register, "{\"username\":\"abc\",\"password\":\"Abcdefg1!\"}", NULL, &cap);
    expect_error(&cap, 403, "local_identity_disabled");
    mg_auth_configure(NULL);
}
END_TEST

START_TEST(test_cognito_bad_input)
{
    capture_t cap;

    configure("http://127.0.0.1:1", MG_REGISTRATION_OPEN);
    run(mg_job_auth_cognito, "", NULL, &cap);
    expect_error(&cap, 400, "invalid_json");
    run(mg_job_auth_cognito, "{\"code_verifier\":\"" VERIFIER "\","
        "\"redirect_uri\":\"http://localhost/cb\"}", NULL, &cap);
    expect_error(&cap, 400, "invalid_field");
    run(mg_job_auth_cognito, "{\"code\":5,\"code_verifier\":\"" VERIFIER "\","
        "\"redirect_uri\":\"http://localhost/cb\"}", NULL, &cap);
    expect_error(&cap, 400, "invalid_field");
    run(mg_job_auth_cognito, "{\"code\":\"c\",\"code_verifier\":\"short\","
        "\"redirect_uri\":\"http://localhost/cb\"}", NULL, &cap);
    expect_error(&cap, 400, "invalid_field");
    run(mg_job_auth_cognito, "{\"code\":\"c\",\"code_verifier\":\"" VERIFIER "+\","
        "\"redirect_uri\":\"http://localhost/cb\"}", NULL, &cap);
    expect_error(&cap, 400, "invalid_field");
    run(mg_job_auth_cognito, "{\"code\":\"c\",\"code_verifier\":\"" VERIFIER "\","
        "\"redirect_uri\":\"javascript:alert(1)\"}", NULL, &cap);
    expect_error(&cap, 400, "invalid_field");
    run(mg_job_auth_cognito, "{\"code\":\"c\",\"code_verifier\":\"" VERIFIER "\","
        "\"redirect_uri\":\"http://localhost/cb\",\"client_secret\":\"x\"}", NULL, &cap);
    expect_error(&cap, 400, "unknown_field");

    /* valid input goes to Cognito (here: nothing listens) */
    run(mg_job_auth_cognito, "{\"code\":\"c\",\"code_verifier\":\"" VERIFIER "\","
        "\"redirect_uri\":\"http://localhost/cb\"}", NULL, &cap);
    expect_error(&cap, 503, "identity_unavailable");
    mg_auth_configure(NULL);
}
END_TEST

START_TEST(test_cognito_sessions_without_a_provider)
{
    capture_t cap;

    configure("http://127.0.0.1:1", MG_REGISTRATION_OPEN);
    /* no cookie, no body token: nothing to refresh; logout clears anyway */
    run(mg_job_auth_refresh, "", "{\"cookie_secure\":false}", &cap);
    expect_error(&cap, 401, "invalid_refresh_token");
    run(mg_job_auth_logout, "{}", "{\"cookie_secure\":false}", &cap);
    ck_assert_int_eq(cap.msg.type, MG_MSG_RES);
    ck_assert_int_eq(cap.msg.status, 204);
    ck_assert_ptr_nonnull(strstr(cap.headers, "\"Set-Cookie\":\"mangoo_refresh=; "
                                              "Path=/api/v1/auth; Max-Age=0; HttpOnly; "
                                              "SameSite=Strict\""));
    /* a Cognito refresh token is longer than a local one: accepted, then
     * Cognito is asked (down: 503, the cookie is kept for a retry) */
    run(mg_job_auth_refresh, "", "{\"refresh_cookie\":\"eyJjdHkiOiJKV1QiLCJlbmMiOiJBMjU2R0NN"
        "IiwiYWxnIjoiUlNBLU9BRVAifQ.abc.def.ghi.jkl\",\"cookie_secure\":true}", &cap);
    expect_error(&cap, 503, "identity_unavailable");
    /* logout cannot revoke: signed out here all the same */
    run(mg_job_auth_logout, "", "{\"refresh_cookie\":\"abc.def\",\"cookie_secure\":true}", &cap);
    expect_error_reply(&cap, 503, "identity_unavailable");
    ck_assert_ptr_nonnull(strstr(cap.headers, "mangoo_refresh=; Path=/api/v1/auth; Max-Age=0; "
                                              "HttpOnly; SameSite=Strict; Secure"));
    mg_auth_configure(NULL);
}
END_TEST

START_TEST(test_config_local_modes)
{
    capture_t cap;

    /* every local mode asks the database: an administrator's sign-up
     * rules (signup.c) override MANGOO_REGISTRATION (here: down) */
    configure(NULL, MG_REGISTRATION_OPEN);
    run(mg_job_config_get, "", NULL, &cap);
    expect_error(&cap, 503, "database_unavailable");
    configure(NULL, MG_REGISTRATION_CLOSED);
    run(mg_job_config_get, "", NULL, &cap);
    expect_error(&cap, 503, "database_unavailable");
    configure(NULL, MG_REGISTRATION_FIRST_ADMIN);
    run(mg_job_config_get, "", NULL, &cap);
    expect_error(&cap, 503, "database_unavailable");
    mg_auth_configure(NULL);
}
END_TEST

START_TEST(test_config_cognito_mode)
{
    capture_t cap;

    configure("https://app.auth.us-east-1.amazoncognito.com/", MG_REGISTRATION_FIRST_ADMIN);
    run(mg_job_config_get, "", NULL, &cap);
    ck_assert_int_eq(cap.msg.status, 200);
    ck_assert_str_eq(cap.body, "{\"identity\":\"cognito\",\"registration\":\"first-admin\","
                               "\"can_register\":false,\"cognito\":{\"domain\":"
                               "\"https://app.auth.us-east-1.amazoncognito.com\","
                               "\"client_id\":\"app-client\",\"scopes\":\"openid email\"},"
                               /* sign-up rules are the local identity's: no database */
                               "\"allowed_domains\":[],\"invitations\":false}");
    ck_assert_str_eq(cap.headers, "{\"Cache-Control\":\"no-store\"}");
    mg_auth_configure(NULL);
}
END_TEST

int
main(void)
{
    Suite   *s = suite_create("worker_cognito");
    TCase   *tc = tcase_create("helpers");
    TCase   *th = tcase_create("handlers");
    SRunner *sr;
    int      failed;

    tcase_add_test(tc, test_form_encoding);
    tcase_add_test(tc, test_verifier_rule);
    tcase_add_test(tc, test_urls);
    suite_add_tcase(s, tc);

    tcase_set_timeout(th, 30);
    tcase_add_test(th, test_cognito_off_by_default);
    tcase_add_test(th, test_local_sign_in_refused_in_cognito_mode);
    tcase_add_test(th, test_cognito_bad_input);
    tcase_add_test(th, test_cognito_sessions_without_a_provider);
    tcase_add_test(th, test_config_local_modes);
    tcase_add_test(th, test_config_cognito_mode);
    suite_add_tcase(s, th);

    /* the unreachable database and provider are expected: keep their
     * warnings out */
    mg_log_set_level(MG_LOG_ERROR);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
