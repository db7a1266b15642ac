/*
 * check_worker_openapi: the API's OpenAPI document (shared/openapi.json,
 * compiled into the worker as mg_openapi_json) and the route table
 * (shared/mg_routes.c) name the same operations: every route is documented
 * with its path parameters, nothing is documented that is not routed,
 * public routes say "security": [] and only they do, streamed routes
 * answer text/event-stream; and openapi.get serves the document's bytes.
 */
#include <check.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "job.h"
#include "jobs/jobs.h"
#include "mg_protocol.h"
#include "mg_routes.h"

#define RID "0123456789abcdef0123456789abcdef"

static const char *const http_methods[] = {
    "get", "put", "post", "delete", "options", "head", "patch", "trace"
};

static json_t *
load_doc(void)
{
    json_error_t  e;
    json_t       *doc = json_loadb(mg_openapi_json, mg_openapi_json_len, 0, &e);

    ck_assert_msg(doc != NULL, "shared/openapi.json line %d: %s", e.line, e.text);
    return doc;
}

/* A parameter object, through its "#/components/parameters/..." $ref. */
static json_t *
deref(json_t *doc, json_t *node)
{
    const char *ref = json_string_value(json_object_get(node, "$ref"));
    const char *prefix = "#/components/parameters/";

    if (ref == NULL) {
        return node;
    }
    ck_assert_msg(strncmp(ref, prefix, strlen(prefix)) == 0, "unexpected $ref %s", ref);
    node = json_object_get(json_object_get(json_object_get(doc, "components"), "parameters"),
                           ref + strlen(prefix));
    ck_assert_msg(node != NULL, "$ref %s: no such parameter", ref);
    return node;
}

/* The route's operation object, or NULL. */
static json_t *
operation(json_t *doc, const mg_route_t *r)
{
    char  m[16];
    size_t i;

    for (i = 0; r->method[i] != '\0' && i < sizeof(m) - 1; i++) {
        m[i] = (char) tolower((unsigned char) r->method[i]);
    }
    m[i] = '\0';
    return json_object_get(json_object_get(json_object_get(doc, "paths"), r->pattern), m);
}

START_TEST(test_document_is_openapi_3_1)
{
    json_t *doc = load_doc();

    ck_assert_uint_eq(strlen(mg_openapi_json), mg_openapi_json_len);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    ck_assert_ptr_nonnull(json_object_get(json_object_get(json_object_get(doc, "components"),
                                                          "securitySchemes"), "bearer"));
    ck_assert_ptr_nonnull(json_object_get(json_object_get(json_object_get(doc, "components"),
                                                          "schemas"), "Error"));
    json_decref(doc);
}
END_TEST

START_TEST(test_every_route_is_documented)
{
    json_t *doc = load_doc();

    for (size_t i = 0; i < mg_routes_count; i++) {
        const mg_route_t  *r = &mg_routes[i];
        json_t            *op = operation(doc, r), *params, *p, *sec;
        const char        *s, *job;
        size_t             j, want = 0, have = 0;

        ck_assert_msg(op != NULL, "route %s %s is not in shared/openapi.json", r->method, r->pattern);

        job = json_string_value(json_object_get(op, "x-mangoo-job"));
        ck_assert_msg(job != NULL && strcmp(job, r->job) == 0,
                      "%s %s: x-mangoo-job is \"%s\", the route's job is \"%s\"",
                      r->method, r->pattern, job ? job : "(none)", r->job);

        /* every {name} of the pattern is a path parameter of that name */
        params = json_object_get(op, "parameters");
        for (s = strchr(r->pattern, '{'); s != NULL; s = strchr(s + 1, '{')) {
            size_t  n = strcspn(s + 1, "}");
            int     found = 0;

            want++;
            json_array_foreach(params, j, p) {
                p = deref(doc, p);
                const char *in = json_string_value(json_object_get(p, "in"));
                const char *name = json_string_value(json_object_get(p, "name"));

                if (in && name && strcmp(in, "path") == 0 && strlen(name) == n
                    && strncmp(name, s + 1, n) == 0)
                {
                    found = 1;
                    ck_assert_msg(json_is_true(json_object_get(p, "required")),
                                  "%s %s: path parameter %s is not required",
                                  r->method, r->pattern, name);
                }
            }
            ck_assert_msg(found, "%s %s: path parameter {%.*s} is not documented",
                          r->method, r->pattern, (int) n, s + 1);
        }
        json_array_foreach(params, j, p) {
            p = deref(doc, p);
            const char *in = json_string_value(json_object_get(p, "in"));

            if (in && strcmp(in, "path") == 0) {
                have++;
            }
        }
        ck_assert_msg(have == want, "%s %s: %zu path parameters documented, the pattern has %zu",
                      r->method, r->pattern, have, want);

        /* public: "security": [] overrides the document's bearer; an API
         * key's routes name the apiKey schemes instead; the others
         * inherit it and say nothing */
        sec = json_object_get(op, "security");
        if (r->flags & MG_ROUTE_PUBLIC) {
            ck_assert_msg(json_is_array(sec) && json_array_size(sec) == 0,
                          "%s %s is public: it needs \"security\": []", r->method, r->pattern);
        } else if (r->flags & MG_ROUTE_APIKEY) {
            ck_assert_msg(json_is_array(sec) && json_array_size(sec) == 2
                          && json_object_get(json_array_get(sec, 0), "apiKey") != NULL
                          && json_object_get(json_array_get(sec, 1), "apiKeyBearer") != NULL,
                          "%s %s takes an API key: it needs \"security\": [{\"apiKey\": []}, "
                          "{\"apiKeyBearer\": []}]", r->method, r->pattern);
        } else {
            ck_assert_msg(sec == NULL, "%s %s needs a token: it must not set \"security\"",
                          r->method, r->pattern);
        }

        if (r->flags & MG_ROUTE_STREAM) {
            ck_assert_msg(json_object_get(json_object_get(json_object_get(json_object_get(
                              json_object_get(op, "responses"), "200"), "content"),
                              "text/event-stream"), "x-mangoo-events") != NULL,
                          "%s %s streams: its 200 needs text/event-stream with x-mangoo-events",
                          r->method, r->pattern);
        }
    }
    json_decref(doc);
}
END_TEST

START_TEST(test_every_documented_operation_is_routed)
{
    json_t      *doc = load_doc(), *item;
    const char  *path;

    json_object_foreach(json_object_get(doc, "paths"), path, item) {
        const char *key;
        json_t     *op;

        json_object_foreach(item, key, op) {
            int  is_method = 0, routed = 0;

            for (size_t k = 0; k < sizeof(http_methods) / sizeof(http_methods[0]); k++) {
                is_method |= strcmp(key, http_methods[k]) == 0;
            }
            if (!is_method) {
                continue;       /* "parameters", "summary", ... */
            }
            for (size_t i = 0; i < mg_routes_count; i++) {
                if (strcmp(mg_routes[i].pattern, path) == 0
                    && strcasecmp(mg_routes[i].method, key) == 0)
                {
                    routed = 1;
                }
            }
            ck_assert_msg(routed, "shared/openapi.json documents %s %s, which is not in the route table",
                          key, path);
        }
    }
    json_decref(doc);
}
END_TEST

/* ---- openapi.get serves the bytes ---- */

typedef struct {
    int     n, status;
    size_t  len;
    int     same;
    char    content_type[32];
} serve_capture_t;

static int
serve_send(void *ctx, const mg_msg_t *msg)
{
    serve_capture_t *c = ctx;

    c->n++;
    c->status = msg->status;
    c->len = msg->body.len;
    c->same = msg->body.len == mg_openapi_json_len
              && memcmp(msg->body.data, mg_openapi_json, mg_openapi_json_len) == 0;
    snprintf(c->content_type, sizeof(c->content_type), "%.*s", (int) msg->content_type.len,
             msg->content_type.data ? msg->content_type.data : "");
    return 0;
}

START_TEST(test_the_job_serves_the_document)
{
    mg_msg_t         req = { .type = MG_MSG_REQ };
    mg_job_t         job;
    serve_capture_t  cap = { 0 };
    char             err[96];

    req.rid.data = RID;
    req.rid.len = MG_RID_LEN;
    req.job.data = "openapi.get";
    req.job.len = strlen(req.job.data);
    req.params.data = "{\"query\":\"\"}";
    req.params.len = strlen(req.params.data);
    req.claims.data = "{}";
    req.claims.len = 2;
    req.body.data = "";
    ck_assert_int_eq(mg_job_init(&job, &req, err, sizeof(err)), 0);
    job.send = serve_send;
    job.send_ctx = &cap;

    ck_assert_int_eq(mg_job_openapi_get(&job), 0);
    ck_assert_int_eq(cap.n, 1);
    ck_assert_int_eq(cap.status, 200);
    ck_assert_str_eq(cap.content_type, "application/json");
    ck_assert_msg(cap.same, "served %zu bytes, the document has %zu", cap.len, mg_openapi_json_len);
    mg_job_free(&job);
}
END_TEST

static Suite *
openapi_suite(void)
{
    Suite *s = suite_create("worker_openapi");
    TCase *tc = tcase_create("openapi");

    tcase_add_test(tc, test_document_is_openapi_3_1);
    tcase_add_test(tc, test_every_route_is_documented);
    tcase_add_test(tc, test_every_documented_operation_is_routed);
    tcase_add_test(tc, test_the_job_serves_the_document);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(openapi_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
