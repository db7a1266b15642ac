/*
 * check_worker_api_keys: the API keys' pure pieces (a new key's shape and
 * hash, the module's hash check, RFC 3339 expiries, the quota's
 * Retry-After) and every answer the key jobs give before touching the
 * database: a missing or malformed key hash (apikeys.verify and the
 * published.* jobs) and a published call's bad input, which must be
 * refused before the request is counted.  The job has no database
 * connection, so a handler that tried to use one here would crash the
 * test.  What needs the database is tests/e2e/test_api_keys.py.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "job.h"
#include "jobs/dispatch.h"
#include "jobs/jobs.h"
#include "mg_protocol.h"
#include "job_capture.h"

#define HASH "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

START_TEST(test_new_key_shape)
{
    char key[MG_APIKEY_LEN + 1], hash[MG_SHA256_HEX_LEN + 1];
    char key2[MG_APIKEY_LEN + 1], hash2[MG_SHA256_HEX_LEN + 1], check[MG_SHA256_HEX_LEN + 1];

    ck_assert_int_eq(mg_apikey_new(key, hash), 0);
    ck_assert_uint_eq(strlen(key), MG_APIKEY_LEN);
    ck_assert_int_eq(strncmp(key, "mgk_", 4), 0);
    for (size_t i = 4; i < MG_APIKEY_LEN; i++) {
        ck_assert_msg(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                             key[i]) != NULL, "key char %zu is %c", i, key[i]);
    }
    ck_assert(mg_apikey_hash_valid(hash, strlen(hash)));
    ck_assert_int_eq(mg_auth_token_hash(key, strlen(key), check), 0);
    ck_assert_str_eq(hash, check);
    ck_assert_int_eq(mg_apikey_new(key2, hash2), 0);
    ck_assert_str_ne(key, key2);
    ck_assert_str_ne(hash, hash2);
}
END_TEST

START_TEST(test_hash_valid)
{
    char upper[] = HASH;

    ck_assert(mg_apikey_hash_valid(HASH, 64));
    ck_assert(!mg_apikey_hash_valid(HASH, 63));
    ck_assert(!mg_apikey_hash_valid(NULL, 0));
    ck_assert(!mg_apikey_hash_valid("", 0));
    upper[10] = 'A';
    ck_assert(!mg_apikey_hash_valid(upper, 64));
    upper[10] = 'g';
    ck_assert(!mg_apikey_hash_valid(upper, 64));
    upper[10] = '\0';
    ck_assert(!mg_apikey_hash_valid(upper, 64));
}
END_TEST

START_TEST(test_time_parse)
{
    double e;

    ck_assert_int_eq(mg_apikey_time_parse("1970-01-01T00:00:00Z", &e), 0);
    ck_assert(e == 0);
    ck_assert_int_eq(mg_apikey_time_parse("2099-01-01T00:00:00Z", &e), 0);
    ck_assert(e == 4070908800.0);
    ck_assert_int_eq(mg_apikey_time_parse("2099-01-01T02:00:00+02:00", &e), 0);
    ck_assert(e == 4070908800.0);
    ck_assert_int_eq(mg_apikey_time_parse("2098-12-31T22:30:00-01:30", &e), 0);
    ck_assert(e == 4070908800.0);
    ck_assert_int_eq(mg_apikey_time_parse("2099-01-01t00:00:00.25z", &e), 0);
    ck_assert(e == 4070908800.25);
    ck_assert_int_eq(mg_apikey_time_parse("2024-02-29T00:00:00Z", &e), 0);

    const char *bad[] = { "", "tomorrow", "2099-01-01", "2099-01-01 00:00:00Z",
                          "2099-01-01T00:00:00", "2099-13-01T00:00:00Z",
                          "2099-02-30T00:00:00Z", "2023-02-29T00:00:00Z",
                          "2099-01-01T24:00:00Z", "2099-01-01T00:60:00Z",
                          "2099-01-01T00:00:00.Z", "2099-01-01T00:00:00Zjunk",
                          "2099-01-01T00:00:00+2:00", "2099-01-01T00:00:00+24:00",
                          "+099-01-01T00:00:00Z", "2099-1-01T00:00:00Z", "2099-01-01T0:00:00Z" };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(mg_apikey_time_parse(bad[i], &e) == -1, "\"%s\" parsed", bad[i]);
    }
}
END_TEST

START_TEST(test_retry_after)
{
    long r = mg_apikey_retry_after();
    time_t now = time(NULL);

    ck_assert(r >= 1 && r <= 86400);
    ck_assert_int_eq((now + r) % 86400 <= 1 || (now + r) % 86400 >= 86399, 1);
}
END_TEST

/* ---- handler answers that need no database ---- */

static const char RID[] = "0123456789abcdef0123456789abcdef";

/* Run job name with claims, params and body; expect one error reply
 * with status and code. */
static void
run_expect(const char *name, const char *claims, const char *params, const char *body,
           int status, const char *code)
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
    ck_assert_msg(cap.msg.status == status, "%s %s: status %d, wanted %d (%s: %s)", name, body,
                  cap.msg.status, status, cap.code, cap.message);
    if (code != NULL) {
        ck_assert_str_eq(cap.code, code);
    }
    mg_job_free(&job);
}

START_TEST(test_verify_needs_a_hash)
{
    const char *params[] = { "{}", "{\"bot\":\"b\"}", "{\"key_hash\":5}",
                             "{\"key_hash\":\"" HASH "0\"}",
                             "{\"key_hash\":\"mgk_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
                             "{\"key_hash\":\"0123456789ABCDEF0123456789abcdef0123456789abcdef"
                             "0123456789abcdef\"}" };

    for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
        run_expect("apikeys.verify", "{}", params[i], "", 401, "invalid_api_key");
    }
}
END_TEST

START_TEST(test_published_needs_a_key)
{
    const char *claims[] = { "{}", "{\"sub\":\"someone\"}", "{\"api_key_id\":\"x\"}",
                             "{\"api_key_hash\":\"nope\"}", "{\"api_key_hash\":null}" };

    for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++) {
        run_expect("published.complete", claims[i], "{\"bot\":\"b\"}", "{\"message\":\"hi\"}",
                   401, "invalid_api_key");
        run_expect("published.stream", claims[i], "{\"bot\":\"b\"}", "{\"message\":\"hi\"}",
                   401, "invalid_api_key");
    }
}
END_TEST

START_TEST(test_published_bad_input_is_refused_first)
{
    const char *claims = "{\"api_key_id\":\"k\",\"api_key_hash\":\"" HASH "\"}";
    const char *bad[] = { "", "[]", "{", "{}", "{\"message\":\"\"}", "{\"message\":\"  \"}",
                          "{\"message\":5}", "{\"message\":\"hi\",\"bot_id\":\"x\"}",
                          "{\"message\":\"hi\",\"agent_id\":\"x\"}",
                          "{\"message\":\"hi\",\"chat_id\":\"nope\"}" };

    mg_chat_cfg.message_max = 10;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        run_expect("published.complete", claims, "{\"bot\":\"b\"}", bad[i], 400, NULL);
    }
    run_expect("published.stream", claims, "{\"bot\":\"b\"}",
               "{\"message\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9 hello\"}",
               413, "message_too_large");
    run_expect("published.complete", claims, "{}", "{\"message\":\"hi\"}", 404, "bot_not_found");
}
END_TEST

START_TEST(test_jobs_are_dispatched)
{
    const char *user_jobs[] = { "apikeys.list", "apikeys.create", "apikeys.revoke",
                                "apikeys.usage", "publication.get", "publication.update" };
    const char *key_jobs[] = { "apikeys.verify", "published.stream", "published.complete" };

    for (size_t i = 0; i < sizeof(user_jobs) / sizeof(user_jobs[0]); i++) {
        const mg_job_def_t *d = mg_dispatch_find(user_jobs[i], strlen(user_jobs[i]));

        ck_assert_ptr_nonnull(d);
        ck_assert_uint_eq(d->flags & MG_JOB_AS_USER, MG_JOB_AS_USER);
    }
    /* no users row to ensure: an API key is no user */
    for (size_t i = 0; i < sizeof(key_jobs) / sizeof(key_jobs[0]); i++) {
        const mg_job_def_t *d = mg_dispatch_find(key_jobs[i], strlen(key_jobs[i]));

        ck_assert_ptr_nonnull(d);
        ck_assert_uint_eq(d->flags & MG_JOB_AS_USER, 0);
    }
}
END_TEST

static Suite *
api_keys_suite(void)
{
    Suite *s = suite_create("worker_api_keys");
    TCase *pure = tcase_create("helpers");
    TCase *jobs = tcase_create("jobs");

    tcase_add_test(pure, test_new_key_shape);
    tcase_add_test(pure, test_hash_valid);
    tcase_add_test(pure, test_time_parse);
    tcase_add_test(pure, test_retry_after);
    suite_add_tcase(s, pure);

    tcase_add_test(jobs, test_verify_needs_a_hash);
    tcase_add_test(jobs, test_published_needs_a_key);
    tcase_add_test(jobs, test_published_bad_input_is_refused_first);
    tcase_add_test(jobs, test_jobs_are_dispatched);
    suite_add_tcase(s, jobs);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(api_keys_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
