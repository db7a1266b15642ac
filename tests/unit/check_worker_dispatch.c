/*
 * check_worker_dispatch: every job in the shared route table has a handler
 * (worker/jobs/dispatch.c), and the reply API (worker/job.c) encodes
 * replies as the protocol says.  Replies are captured through the job's
 * send hook; nothing here needs ZeroMQ or a database.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "jobs/dispatch.h"
#include "mg_protocol.h"
#include "mg_routes.h"

START_TEST(test_every_route_has_a_handler)
{
    ck_assert_uint_gt(mg_routes_count, 0);
    for (size_t i = 0; i < mg_routes_count; i++) {
        const char *job = mg_routes[i].job;

        ck_assert_msg(mg_dispatch_find(job, strlen(job)) != NULL,
                      "route %s %s: no handler for job \"%s\"",
                      mg_routes[i].method, mg_routes[i].pattern, job);
    }
    ck_assert_ptr_nonnull(mg_dispatch_find("health", 6));
}
END_TEST

START_TEST(test_table_is_sane)
{
    for (size_t i = 0; i < mg_job_defs_count; i++) {
        ck_assert_ptr_nonnull(mg_job_defs[i].handler);
        for (size_t j = i + 1; j < mg_job_defs_count; j++) {
            ck_assert_str_ne(mg_job_defs[i].name, mg_job_defs[j].name);
        }
    }
    ck_assert_ptr_null(mg_dispatch_find("bots", 4));
    ck_assert_ptr_null(mg_dispatch_find("bots.listx", 10));
    ck_assert_ptr_null(mg_dispatch_find("", 0));
    /* length-bounded: "bots.get" inside a longer buffer */
    ck_assert_ptr_nonnull(mg_dispatch_find("bots.getXYZ", 8));
}
END_TEST

/* ---- captured replies ---- */

typedef struct {
    int       n;
    mg_msg_t  msg;               /* last one; strings copied below */
    char      buf[4][512];
} capture_t;

static int
capture_send(void *ctx, const mg_msg_t *msg)
{
    capture_t *c = ctx;

    c->n++;
    c->msg = *msg;
    /* the job frees its buffers after sending: keep copies */
    snprintf(c->buf[0], sizeof(c->buf[0]), "%.*s", (int) msg->body.len, msg->body.data ? msg->body.data : "");
    snprintf(c->buf[1], sizeof(c->buf[1]), "%.*s", (int) msg->headers.len, msg->headers.data ? msg->headers.data : "");
    snprintf(c->buf[2], sizeof(c->buf[2]), "%.*s", (int) msg->code.len, msg->code.data ? msg->code.data : "");
    snprintf(c->buf[3], sizeof(c->buf[3]), "%.*s", (int) msg->message.len, msg->message.data ? msg->message.data : "");

    /* what goes on the wire must encode and parse back */
    {
        mg_str_t frames[MG_PROTO_MAX_FRAMES];
        char     status[4];
        mg_msg_t back;
        int      n = mg_proto_frames(msg, frames, status);

        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(mg_proto_parse(frames, (size_t) n, &back), 0);
        ck_assert_int_eq(back.type, msg->type);
    }
    return 0;
}

static const char RID[] = "0123456789abcdef0123456789abcdef";

static void
make_job(mg_job_t *job, capture_t *cap, const char *name, const char *claims)
{
    mg_msg_t  req = { .type = MG_MSG_REQ };
    char      err[96];

    memset(cap, 0, sizeof(*cap));
    req.rid.data = RID;
    req.rid.len = MG_RID_LEN;
    req.job.data = name;
    req.job.len = strlen(name);
    req.params.data = "{\"id\":\"x\",\"query\":\"limit=2\"}";
    req.params.len = strlen(req.params.data);
    req.claims.data = claims;
    req.claims.len = strlen(claims);
    req.body.data = "";
    ck_assert_int_eq(mg_job_init(job, &req, err, sizeof(err)), 0);
    job->send = capture_send;
    job->send_ctx = cap;
}

START_TEST(test_unknown_job_is_501)
{
    mg_job_t   job;
    capture_t  cap;

    make_job(&job, &cap, "bots.frobnicate", "{}");
    ck_assert_int_eq(mg_dispatch_run(&job), 0);
    ck_assert_int_eq(cap.n, 1);
    ck_assert_int_eq(cap.msg.type, MG_MSG_ERR);
    ck_assert_int_eq(cap.msg.status, 501);
    ck_assert_str_eq(cap.buf[2], "not_implemented");
    ck_assert_int_eq(cap.msg.rid.len, MG_RID_LEN);
    ck_assert(memcmp(cap.msg.rid.data, RID, MG_RID_LEN) == 0);
    mg_job_free(&job);
}
END_TEST

START_TEST(test_user_job_without_sub_is_401)
{
    const char *claims[] = { "{}", "{\"sub\":\"\"}", "{\"sub\":5}", "{\"sub\":null}" };

    for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++) {
        mg_job_t   job;
        capture_t  cap;

        make_job(&job, &cap, "bots.list", claims[i]);
        ck_assert_int_eq(mg_dispatch_run(&job), 0);
        ck_assert_int_eq(cap.n, 1);
        ck_assert_int_eq(cap.msg.type, MG_MSG_ERR);
        ck_assert_int_eq(cap.msg.status, 401);
        ck_assert_str_eq(cap.buf[2], "unauthorized");
        mg_job_free(&job);
    }
}
END_TEST

START_TEST(test_job_params)
{
    mg_job_t     job;
    capture_t    cap;
    size_t       len;
    const char  *v;

    make_job(&job, &cap, "bots.get", "{\"sub\":\"u1\"}");
    v = mg_job_param(&job, "id", &len);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(len, 1);
    ck_assert_ptr_null(mg_job_param(&job, "nope", &len));
    v = mg_job_query(&job, &len);
    ck_assert_str_eq(v, "limit=2");
    mg_job_free(&job);
}
END_TEST

START_TEST(test_job_init_rejects_bad_envelope)
{
    mg_job_t  job;
    mg_msg_t  req = { .type = MG_MSG_REQ };
    char      err[96];

    req.rid.data = RID;
    req.rid.len = MG_RID_LEN;
    req.job.data = "health";
    req.job.len = 6;
    req.params.data = "[1]";
    req.params.len = 3;
    ck_assert_int_eq(mg_job_init(&job, &req, err, sizeof(err)), -1);
    mg_job_free(&job);

    req.params.data = "";
    req.params.len = 0;
    req.claims.data = "{bad";
    req.claims.len = 4;
    ck_assert_int_eq(mg_job_init(&job, &req, err, sizeof(err)), -1);
    mg_job_free(&job);
}
END_TEST

START_TEST(test_reply_json_with_headers)
{
    mg_job_t   job;
    capture_t  cap;
    json_t    *body = json_pack("{s:s, s:f, s:i}", "id", "b1", "temperature", 0.7, "n", 3);
    json_t    *hdrs = json_pack("{s:s}", "Location", "/api/v1/bots/b1");

    make_job(&job, &cap, "bots.create", "{}");
    ck_assert_int_eq(mg_job_reply_json(&job, 201, body, hdrs), 0);
    ck_assert_int_eq(cap.msg.type, MG_MSG_RES);
    ck_assert_int_eq(cap.msg.status, 201);
    ck_assert_str_eq(cap.buf[0], "{\"id\":\"b1\",\"temperature\":0.7,\"n\":3}");
    ck_assert_str_eq(cap.buf[1], "{\"Location\":\"/api/v1/bots/b1\"}");
    ck_assert_int_eq((int) cap.msg.content_type.len, 16);
    ck_assert(memcmp(cap.msg.content_type.data, "application/json", 16) == 0);

    /* a second reply is refused and not sent */
    ck_assert_int_eq(mg_job_reply_empty(&job, 204), -1);
    ck_assert_int_eq(cap.n, 1);
    json_decref(body);
    json_decref(hdrs);
    mg_job_free(&job);
}
END_TEST

START_TEST(test_reply_empty_and_error)
{
    mg_job_t   job;
    capture_t  cap;
    mg_verr_t  e = { 400, "invalid_field", "field \"x\" must be a boolean" };

    make_job(&job, &cap, "bots.delete", "{}");
    ck_assert_int_eq(mg_job_reply_empty(&job, 204), 0);
    ck_assert_int_eq(cap.msg.type, MG_MSG_RES);
    ck_assert_int_eq(cap.msg.status, 204);
    ck_assert_uint_eq(cap.msg.body.len, 0);
    ck_assert_uint_eq(cap.msg.headers.len, 0);
    mg_job_free(&job);

    make_job(&job, &cap, "bots.update", "{}");
    ck_assert_int_eq(mg_job_reply_verr(&job, &e), 0);
    ck_assert_int_eq(cap.msg.type, MG_MSG_ERR);
    ck_assert_int_eq(cap.msg.status, 400);
    ck_assert_str_eq(cap.buf[2], "invalid_field");
    ck_assert_str_eq(cap.buf[3], "field \"x\" must be a boolean");
    mg_job_free(&job);

    make_job(&job, &cap, "bots.get", "{}");
    ck_assert_int_eq(mg_job_reply_db_error(&job, MG_DB_UNAVAILABLE, NULL, "test"), 0);
    ck_assert_int_eq(cap.msg.status, 503);
    ck_assert_str_eq(cap.buf[2], "database_unavailable");
    ck_assert_str_eq(cap.buf[3], "database unavailable");
    mg_job_free(&job);
}
END_TEST

START_TEST(test_cancelled_job_sends_nothing)
{
    mg_job_t    job;
    capture_t   cap;
    atomic_int  cancel;

    atomic_init(&cancel, 1);
    make_job(&job, &cap, "bots.get", "{}");
    job.cancel = &cancel;
    ck_assert(mg_job_cancelled(&job));
    ck_assert_int_eq(mg_job_reply_error(&job, 404, "not_found", "bot not found"), 0);
    ck_assert_int_eq(cap.n, 0);
    mg_job_free(&job);
}
END_TEST

static Suite *
dispatch_suite(void)
{
    Suite *s = suite_create("worker_dispatch");
    TCase *tc = tcase_create("dispatch");

    tcase_add_test(tc, test_every_route_has_a_handler);
    tcase_add_test(tc, test_table_is_sane);
    tcase_add_test(tc, test_unknown_job_is_501);
    tcase_add_test(tc, test_user_job_without_sub_is_401);
    tcase_add_test(tc, test_job_params);
    tcase_add_test(tc, test_job_init_rejects_bad_envelope);
    tcase_add_test(tc, test_reply_json_with_headers);
    tcase_add_test(tc, test_reply_empty_and_error);
    tcase_add_test(tc, test_cancelled_job_sends_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(dispatch_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
