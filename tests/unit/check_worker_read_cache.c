/*
 * check_worker_read_cache: the read cache (worker/read_cache.c) without a
 * database: a job whose replies are captured, a handler that counts its
 * runs.  Hits, misses by user, job and parameters, forgetting, the race
 * of a change announced while a read runs, trust, what is not kept, the
 * budget.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity/user_status.h"
#include "read_cache.h"

/* What the handler answers next, and what reached the "client". */
static int          runs;
static int          answer_status = 200;
static const char  *answer_headers;                 /* NULL: none */
static char         answer_body[16384] = "{\"items\":[]}";
static const char  *forget_during;                  /* a change announced mid-read */
static char         sent_body[16384];
static int          sent_status;

static int
capture_send(void *ctx, const mg_msg_t *msg)
{
    (void) ctx;
    sent_status = msg->status;
    snprintf(sent_body, sizeof(sent_body), "%.*s", (int) msg->body.len,
             msg->body.data != NULL ? msg->body.data : "");
    return 0;
}

static int
handler(mg_job_t *job)
{
    runs++;
    if (forget_during != NULL) {
        mg_rcache_forget(forget_during);
    }
    if (answer_headers != NULL) {
        json_t *h = json_pack("{s:s}", "X-Extra", answer_headers);
        int     rc = mg_job_reply_raw(job, answer_status, answer_body, strlen(answer_body), h);

        json_decref(h);
        return rc;
    }
    return mg_job_reply_raw(job, answer_status, answer_body, strlen(answer_body), NULL);
}

/* Serve one read of name by user with params; the body the client got. */
static const char *
serve(const char *user, const char *name, const char *params)
{
    mg_job_t job;

    memset(&job, 0, sizeof(job));
    snprintf(job.rid, sizeof(job.rid), "%032d", 7);
    job.name = name;
    job.name_len = strlen(name);
    job.params_text = params;
    job.params_len = strlen(params);
    job.user_id = user;
    job.send = capture_send;
    sent_body[0] = '\0';
    ck_assert_int_eq(mg_rcache_serve(&job, handler), 0);
    return sent_body;
}

static void
setup(void)
{
    mg_rcache_configure(1024 * 1024);
    mg_ustatus_set_trusted(&mg_user_statuses, 1);
    mg_rcache_clear();
    runs = 0;
    answer_status = 200;
    answer_headers = NULL;
    forget_during = NULL;
    snprintf(answer_body, sizeof(answer_body), "{\"items\":[]}");
}

static void
teardown(void)
{
    mg_rcache_clear();
    mg_ustatus_set_trusted(&mg_user_statuses, 0);
}

START_TEST(test_hit_and_miss)
{
    ck_assert_str_eq(serve("ann", "bots.list", "{}"), "{\"items\":[]}");
    ck_assert_int_eq(runs, 1);
    snprintf(answer_body, sizeof(answer_body), "{\"changed\":true}");   /* not asked again */
    ck_assert_str_eq(serve("ann", "bots.list", "{}"), "{\"items\":[]}");
    ck_assert_int_eq(sent_status, 200);
    ck_assert_int_eq(runs, 1);
    /* another user, job or parameters is another answer */
    ck_assert_str_eq(serve("bob", "bots.list", "{}"), "{\"changed\":true}");
    serve("ann", "bots.get", "{}");
    serve("ann", "bots.list", "{\"query\":\"limit=1\"}");
    ck_assert_int_eq(runs, 4);
    /* "ann" + "\0bots..." must not match a user "ann\0bots": the key keeps them apart */
    serve("an", "nbots.list", "{}");
    ck_assert_int_eq(runs, 5);
    ck_assert_uint_eq(mg_rcache_count(NULL), 5);
}
END_TEST

START_TEST(test_forget)
{
    serve("ann", "bots.list", "{}");
    serve("ann", "bots.get", "{\"id\":\"1\"}");
    serve("bob", "bots.list", "{}");
    ck_assert_int_eq(runs, 3);
    mg_rcache_forget("ann");                          /* ann's answers only */
    ck_assert_uint_eq(mg_rcache_count(NULL), 1);
    serve("bob", "bots.list", "{}");
    ck_assert_int_eq(runs, 3);
    serve("ann", "bots.list", "{}");
    ck_assert_int_eq(runs, 4);
    mg_rcache_forget("");                             /* everyone's */
    ck_assert_uint_eq(mg_rcache_count(NULL), 0);
    serve("bob", "bots.list", "{}");
    ck_assert_int_eq(runs, 5);
}
END_TEST

START_TEST(test_a_change_during_the_read_is_not_overwritten)
{
    forget_during = "ann";                            /* NOTIFY arrived while we read */
    serve("ann", "bots.list", "{}");
    forget_during = NULL;
    ck_assert_uint_eq(mg_rcache_count(NULL), 0);
    serve("ann", "bots.list", "{}");
    serve("ann", "bots.list", "{}");
    ck_assert_int_eq(runs, 2);
}
END_TEST

START_TEST(test_untrusted_serves_nothing)
{
    serve("ann", "bots.list", "{}");
    mg_ustatus_set_trusted(&mg_user_statuses, 0);     /* the listener stopped */
    serve("ann", "bots.list", "{}");
    serve("ann", "bots.list", "{}");
    ck_assert_int_eq(runs, 3);
    mg_ustatus_set_trusted(&mg_user_statuses, 1);
    mg_rcache_forget(NULL);                           /* as the listener does on return */
    serve("ann", "bots.list", "{}");
    serve("ann", "bots.list", "{}");
    ck_assert_int_eq(runs, 4);
}
END_TEST

START_TEST(test_what_is_not_kept)
{
    answer_status = 404;
    snprintf(answer_body, sizeof(answer_body), "{\"error\":{}}");
    serve("ann", "bots.get", "{\"id\":\"x\"}");
    serve("ann", "bots.get", "{\"id\":\"x\"}");
    ck_assert_int_eq(sent_status, 404);
    ck_assert_int_eq(runs, 2);
    answer_status = 200;
    answer_headers = "yes";                           /* an answer with headers of its own */
    serve("ann", "bots.list", "{}");
    serve("ann", "bots.list", "{}");
    ck_assert_int_eq(runs, 4);
    ck_assert_uint_eq(mg_rcache_count(NULL), 0);
    /* no user: never cached */
    answer_headers = NULL;
    for (int i = 0; i < 2; i++) {
        mg_job_t job;

        memset(&job, 0, sizeof(job));
        snprintf(job.rid, sizeof(job.rid), "%032d", 8);
        job.name = "bots.list";
        job.name_len = 9;
        job.params_text = "{}";
        job.params_len = 2;
        job.send = capture_send;
        ck_assert_int_eq(mg_rcache_serve(&job, handler), 0);
    }
    ck_assert_int_eq(runs, 6);
}
END_TEST

START_TEST(test_budget)
{
    size_t  bytes;
    char    params[32];

    mg_rcache_configure(64 * 1024);
    memset(answer_body, 'x', 2000);                   /* about 2 KiB an answer */
    answer_body[0] = '"';
    answer_body[1999] = '"';
    answer_body[2000] = '\0';
    for (int i = 0; i < 100; i++) {
        snprintf(params, sizeof(params), "{\"n\":%d}", i);
        serve("ann", "bots.get", params);
    }
    ck_assert_uint_le(mg_rcache_count(&bytes), 32);
    ck_assert_uint_le(bytes, 64 * 1024);
    ck_assert_uint_gt(mg_rcache_count(NULL), 20);
    /* the most recent stayed, the first went */
    serve("ann", "bots.get", "{\"n\":99}");
    ck_assert_int_eq(runs, 100);
    serve("ann", "bots.get", "{\"n\":0}");
    ck_assert_int_eq(runs, 101);
    /* one answer over an eighth of the budget is not kept */
    memset(answer_body, 'y', 9000);
    answer_body[9000] = '\0';
    serve("bob", "bots.list", "{}");
    serve("bob", "bots.list", "{}");
    ck_assert_int_eq(runs, 103);
    /* off */
    mg_rcache_configure(0);
    serve("ann", "bots.get", "{\"n\":99}");
    ck_assert_int_eq(runs, 104);
}
END_TEST

/* The broker's shortcut: a REQ as the module sends it. */
static int
peek(const char *job, const char *claims, const char *params, char **body, size_t *len)
{
    mg_msg_t req = { .type = MG_MSG_REQ };

    req.job.data = job;
    req.job.len = strlen(job);
    req.claims.data = claims;
    req.claims.len = strlen(claims);
    req.params.data = params;
    req.params.len = strlen(params);
    return mg_rcache_peek(&req, body, len);
}

static void
user_status(const char *id, mg_ustatus_t st)
{
    uint64_t gen;

    mg_ustatus_forget(&mg_user_statuses, id);
    (void) mg_ustatus_get(&mg_user_statuses, id, &gen);
    mg_ustatus_put(&mg_user_statuses, id, st, gen);
}

START_TEST(test_the_brokers_shortcut)
{
    char    *body = NULL;
    size_t   len = 0;

    serve("ann", "bots.list", "{}");
    /* the user's status is not known yet: the job goes to a thread */
    ck_assert_int_eq(peek("bots.list", "{\"sub\":\"ann\"}", "{}", &body, &len), 0);
    user_status("ann", MG_USTATUS_ACTIVE);
    ck_assert_int_eq(peek("bots.list", "{\"sub\":\"ann\"}", "{}", &body, &len), 1);
    ck_assert_uint_eq(len, strlen("{\"items\":[]}"));
    ck_assert_int_eq(memcmp(body, "{\"items\":[]}", len), 0);
    free(body);
    /* other parameters, another user, a job not cached, no subject */
    ck_assert_int_eq(peek("bots.list", "{\"sub\":\"ann\"}", "{\"query\":\"x\"}", &body, &len), 0);
    ck_assert_int_eq(peek("bots.list", "{\"sub\":\"bob\"}", "{}", &body, &len), 0);
    ck_assert_int_eq(peek("bots.create", "{\"sub\":\"ann\"}", "{}", &body, &len), 0);
    ck_assert_int_eq(peek("bots.list", "{}", "{}", &body, &len), 0);
    ck_assert_int_eq(peek("bots.list", "not json", "{}", &body, &len), 0);
    /* a disabled user goes to a thread, which refuses */
    user_status("ann", MG_USTATUS_DISABLED);
    ck_assert_int_eq(peek("bots.list", "{\"sub\":\"ann\"}", "{}", &body, &len), 0);
    user_status("ann", MG_USTATUS_ACTIVE);
    mg_rcache_forget("ann");
    ck_assert_int_eq(peek("bots.list", "{\"sub\":\"ann\"}", "{}", &body, &len), 0);
    ck_assert_ptr_null(body);
}
END_TEST

/* Records of one's own (the chat turn's bot settings) keep the same rules. */
START_TEST(test_records)
{
    char      *body;
    size_t     len;
    uint64_t   gen, stale;

    ck_assert_int_eq(mg_rcache_find("ann", "chat.bot", "b1", &body, &len, &gen), 0);
    ck_assert_ptr_null(body);
    mg_rcache_keep("ann", "chat.bot", "b1", gen, "m\0i\0", 4);
    ck_assert_int_eq(mg_rcache_find("ann", "chat.bot", "b1", &body, &len, &gen), 1);
    ck_assert_uint_eq(len, 4);
    ck_assert_int_eq(memcmp(body, "m\0i\0", 4), 0);
    free(body);
    /* another user, another key, another space */
    ck_assert_int_eq(mg_rcache_find("bob", "chat.bot", "b1", &body, &len, &gen), 0);
    ck_assert_int_eq(mg_rcache_find("ann", "chat.bot", "b2", &body, &len, &gen), 0);
    ck_assert_int_eq(mg_rcache_find("ann", "bots.get", "b1", &body, &len, &gen), 0);
    /* a change announced between the miss and the keep: not kept */
    (void) mg_rcache_find("ann", "chat.bot", "b3", &body, &len, &stale);
    mg_rcache_forget("ann");
    mg_rcache_keep("ann", "chat.bot", "b3", stale, "old", 3);
    ck_assert_int_eq(mg_rcache_find("ann", "chat.bot", "b3", &body, &len, &gen), 0);
    ck_assert_int_eq(mg_rcache_find("ann", "chat.bot", "b1", &body, &len, &gen), 0);
}
END_TEST

static Suite *
read_cache_suite(void)
{
    Suite  *s = suite_create("worker_read_cache");
    TCase  *tc = tcase_create("cache");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_hit_and_miss);
    tcase_add_test(tc, test_forget);
    tcase_add_test(tc, test_a_change_during_the_read_is_not_overwritten);
    tcase_add_test(tc, test_untrusted_serves_nothing);
    tcase_add_test(tc, test_what_is_not_kept);
    tcase_add_test(tc, test_budget);
    tcase_add_test(tc, test_the_brokers_shortcut);
    tcase_add_test(tc, test_records);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(read_cache_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
