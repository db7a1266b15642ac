/*
 * check_worker_providers: the providers' answer parsing, driven without
 * an engine thread (frames go to a capture sink): OpenAI-compatible SSE
 * split at every byte boundary, Bedrock event-stream frames (built with
 * the encoder) split likewise, exceptions and corruption mid-stream, the
 * offline responder, and the choice of provider per model id.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "aws/credentials.h"
#include "aws/eventstream.h"
#include "providers/config.h"
#include "providers/provider.h"
#include "stream.h"

#define RID "0123456789abcdef0123456789abcdef"

static char   sent[65536];
static size_t sent_len;
static int    handed_on;

/* Keep the DATA bodies; count "P" hand-ons. */
static int
capture(const mg_str_t *frames, int n)
{
    if (frames[0].len == 1 && frames[0].data[0] == 'P') {
        handed_on++;
        return 0;
    }
    /* ["F"][peer]["DATA"][rid][bytes] */
    if (n == 5 && frames[2].len == 4 && memcmp(frames[2].data, "DATA", 4) == 0
        && sent_len + frames[4].len < sizeof(sent))
    {
        memcpy(sent + sent_len, frames[4].data, frames[4].len);
        sent_len += frames[4].len;
        sent[sent_len] = '\0';
    }
    return 0;
}

static mg_stream_t *
new_stream(const mg_provider_t *p)
{
    mg_stream_t        *s = mg_stream_new(RID, "peer", 4);

    ck_assert_ptr_nonnull(s);
    s->sse = 1;
    s->provider = p;
    s->model_id = strdup("m");
    sent_len = 0;
    sent[0] = '\0';
    handed_on = 0;
    return s;
}

/* A stream whose provider state comes from its own prepare. */
static mg_stream_t *
prepared(const mg_provider_t *p)
{
    mg_chat_turn_t     turn = { "user", "hi", 2 };
    mg_chat_request_t  req = { "model-x", "", &turn, 1, 0.5, 100, 0, NULL, 0, NULL, 0 };
    mg_stream_t       *s = new_stream(p);
    char               err[256];

    ck_assert_msg(p->prepare(s, &req, err, sizeof(err)) == 0, "%s", err);
    return s;
}

static void
setup(void)
{
    mg_streams_set_sink(capture);
    setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
    setenv("AWS_REGION", "eu-west-3", 1);
    mg_providers_cfg.openai_base_url = "http://127.0.0.1:9/v1/";
}

static void
teardown(void)
{
    mg_streams_set_sink(NULL);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_REGION");
    mg_aws_creds_reset();
    memset(&mg_providers_cfg, 0, sizeof(mg_providers_cfg));
}

/* ---- OpenAI-compatible ---------------------------------------------------- */

static const char openai_body[] =
    ": a comment line\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"},\"finish_reason\":null}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\r\n\r\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo \\\"w\\u00e9\\\"\\n\"},\"finish_reason\":null}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":3,\"total_tokens\":14}}\n\n"
    "data: [DONE]\n\n";

START_TEST(openai_any_split)
{
    size_t len = strlen(openai_body);

    for (size_t cut = 0; cut <= len; cut++) {
        mg_stream_t *s = prepared(&mg_provider_openai);

        ck_assert_int_eq(mg_provider_openai.on_body(s, openai_body, cut), 0);
        ck_assert_int_eq(mg_provider_openai.on_body(s, openai_body + cut, len - cut), 0);
        mg_provider_openai.on_end(s);
        ck_assert_int_eq(s->ended, 1);
        ck_assert_int_eq(s->status, MG_STREAM_COMPLETE);
        ck_assert_str_eq(s->text, "Hello \"w\xc3\xa9\"\n");
        ck_assert_str_eq(s->stop_reason, "max_tokens");
        ck_assert_int_eq(s->usage_known, 1);
        ck_assert_int_eq(s->input_tokens, 11);
        ck_assert_int_eq(s->output_tokens, 3);
        /* each delta is one SSE event with its id and one data line */
        ck_assert_str_eq(sent, "id: 1\nevent: message\ndata: {\"content\":\"Hel\"}\n\n"
                               "id: 2\nevent: message\ndata: {\"content\":\"lo \\\"w\xc3\xa9\\\"\\n\"}\n\n");
        mg_stream_free(s);
    }
}
END_TEST

START_TEST(openai_cut_off_and_error_event)
{
    mg_stream_t *s = prepared(&mg_provider_openai);
    const char   cut[] = "data: {\"choices\":[{\"delta\":{\"content\":\"par\"}}]}\n\n";
    const char   err[] = "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n";

    ck_assert_int_eq(mg_provider_openai.on_body(s, cut, strlen(cut)), 0);
    mg_provider_openai.on_end(s);
    ck_assert_int_eq(s->status, MG_STREAM_ERROR);
    ck_assert_str_eq(s->error_code, "provider_error");
    ck_assert_str_eq(s->text, "par");
    mg_stream_free(s);

    s = prepared(&mg_provider_openai);
    ck_assert_int_eq(mg_provider_openai.on_body(s, err, strlen(err)), -1);
    ck_assert_int_eq(s->status, MG_STREAM_ERROR);
    ck_assert_ptr_nonnull(strstr(s->error_message, "overloaded"));
    mg_stream_free(s);
}
END_TEST

/* ---- Bedrock ---------------------------------------------------------------- */

static size_t
frame(unsigned char *out, const char *mtype, const char *etype, const char *payload)
{
    mg_es_header_t  h[3];
    unsigned char  *buf;
    size_t          len;
    int             exc = strcmp(mtype, "exception") == 0;

    memset(h, 0, sizeof(h));
    h[0].name = ":message-type";
    h[0].name_len = strlen(h[0].name);
    h[0].type = MG_ES_STRING;
    h[0].data = (const unsigned char *) mtype;
    h[0].len = strlen(mtype);
    h[1].name = exc ? ":exception-type" : ":event-type";
    h[1].name_len = strlen(h[1].name);
    h[1].type = MG_ES_STRING;
    h[1].data = (const unsigned char *) etype;
    h[1].len = strlen(etype);
    h[2].name = ":content-type";
    h[2].name_len = strlen(h[2].name);
    h[2].type = MG_ES_STRING;
    h[2].data = (const unsigned char *) "application/json";
    h[2].len = 16;
    ck_assert_int_eq(mg_es_encode(h, 3, payload, strlen(payload), &buf, &len), 0);
    memcpy(out, buf, len);
    free(buf);
    return len;
}

/* The frames of one answer into b; *second: where the second frame starts. */
static size_t
bedrock_answer(unsigned char *b, int with_exception, size_t *second)
{
    size_t n = 0;

    n += frame(b + n, "event", "messageStart", "{\"role\":\"assistant\",\"p\":\"abc\"}");
    *second = n;
    n += frame(b + n, "event", "contentBlockDelta",
               "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Bon\"},\"p\":\"xyz\"}");
    n += frame(b + n, "event", "contentBlockDelta",
               "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"jour\"}}");
    if (with_exception) {
        n += frame(b + n, "exception", "modelStreamErrorException", "{\"message\":\"boom\"}");
        return n;
    }
    n += frame(b + n, "event", "contentBlockStop", "{\"contentBlockIndex\":0}");
    n += frame(b + n, "event", "messageStop", "{\"stopReason\":\"end_turn\"}");
    n += frame(b + n, "event", "metadata",
               "{\"usage\":{\"inputTokens\":9,\"outputTokens\":2,\"totalTokens\":11},"
               "\"metrics\":{\"latencyMs\":5}}");
    return n;
}

static mg_stream_t *
new_bedrock(void)
{
    return prepared(&mg_provider_bedrock);
}

START_TEST(bedrock_any_split)
{
    unsigned char  b[4096];
    size_t         second, len = bedrock_answer(b, 0, &second);

    for (size_t cut = 0; cut <= len; cut += 7) {
        mg_stream_t *s = new_bedrock();

        ck_assert_int_eq(mg_provider_bedrock.on_body(s, (char *) b, cut), 0);
        ck_assert_int_eq(mg_provider_bedrock.on_body(s, (char *) b + cut, len - cut), 0);
        mg_provider_bedrock.on_end(s);
        ck_assert_int_eq(s->status, MG_STREAM_COMPLETE);
        ck_assert_str_eq(s->text, "Bonjour");
        ck_assert_str_eq(s->stop_reason, "end_turn");
        ck_assert_int_eq(s->input_tokens, 9);
        ck_assert_int_eq(s->output_tokens, 2);
        mg_stream_free(s);
    }
}
END_TEST

START_TEST(bedrock_exception_and_corruption)
{
    unsigned char  b[4096];
    size_t         second, len = bedrock_answer(b, 1, &second);
    mg_stream_t   *s = new_bedrock();

    ck_assert_int_eq(mg_provider_bedrock.on_body(s, (char *) b, len), -1);
    ck_assert_int_eq(s->status, MG_STREAM_ERROR);
    ck_assert_str_eq(s->error_code, "provider_error");
    ck_assert_ptr_nonnull(strstr(s->error_message, "boom"));
    ck_assert_str_eq(s->text, "Bonjour");
    mg_stream_free(s);

    /* one flipped payload byte in the second frame: the message CRC fails */
    len = bedrock_answer(b, 0, &second);
    s = new_bedrock();
    b[second + 60] ^= 1;
    ck_assert_int_eq(mg_provider_bedrock.on_body(s, (char *) b, len), -1);
    ck_assert_int_eq(s->status, MG_STREAM_ERROR);
    ck_assert_ptr_nonnull(strstr(s->error_message, "corrupted"));
    ck_assert_ptr_null(s->text);            /* nothing from the bad frame on */
    mg_stream_free(s);

    /* an answer without messageStop was cut off */
    len = bedrock_answer(b, 0, &second);
    s = new_bedrock();
    ck_assert_int_eq(mg_provider_bedrock.on_body(s, (char *) b, len / 2), 0);
    mg_provider_bedrock.on_end(s);
    ck_assert_int_eq(s->status, MG_STREAM_ERROR);
    ck_assert_ptr_nonnull(strstr(s->error_message, "cut off"));
    mg_stream_free(s);
}
END_TEST

START_TEST(http_errors_map_to_codes)
{
    struct { long status; const char *code; } cases[] = {
        { 429, "provider_throttled" }, { 503, "provider_unavailable" },
        { 500, "provider_unavailable" }, { 400, "provider_error" }, { 403, "provider_error" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mg_stream_t *s = new_bedrock();

        mg_provider_bedrock.on_http_error(s, cases[i].status, "{\"message\":\"why\"}", 17);
        ck_assert_int_eq(s->ended, 1);
        ck_assert_str_eq(s->error_code, cases[i].code);
        ck_assert_ptr_nonnull(strstr(s->error_message, "why"));
        mg_stream_free(s);
    }
}
END_TEST

/* ---- local ------------------------------------------------------------------ */

START_TEST(local_answers_and_honours_max_tokens)
{
    mg_chat_turn_t     turn = { "user", "What is \"2+2\"?", 14 };
    mg_chat_request_t  req = { "local", "be nice", &turn, 1, 0.7, 1000, 0, NULL, 0, NULL, 0 };
    mg_stream_t       *s = new_stream(&mg_provider_local);
    char               err[64];

    mg_providers_cfg.local_delay_ms = 0;
    ck_assert_int_eq(mg_provider_local.prepare(s, &req, err, sizeof(err)), 0);
    mg_provider_local.on_timer(s);          /* no delay: the whole answer at once */
    ck_assert_int_eq(s->status, MG_STREAM_COMPLETE);
    ck_assert_ptr_nonnull(strstr(s->text, "offline model"));
    ck_assert_ptr_nonnull(strstr(s->text, "What is \"2+2\"?"));
    ck_assert_str_eq(s->stop_reason, "end_turn");
    ck_assert_int_gt(s->output_tokens, 10);
    ck_assert_ptr_nonnull(strstr(sent, "\\\"2+2\\\""));
    mg_stream_free(s);

    req.max_tokens = 4;
    s = new_stream(&mg_provider_local);
    ck_assert_int_eq(mg_provider_local.prepare(s, &req, err, sizeof(err)), 0);
    mg_provider_local.on_timer(s);
    ck_assert_str_eq(s->stop_reason, "max_tokens");
    ck_assert_int_eq(s->output_tokens, 4);
    ck_assert_str_eq(s->text, "This is Mangoo's offline ");
    mg_stream_free(s);
}
END_TEST

/* ---- provider choice --------------------------------------------------------- */

START_TEST(provider_choice)
{
    const char  *model;
    char         err[200];

    memset(&mg_providers_cfg, 0, sizeof(mg_providers_cfg));
    /* nothing configured: the offline model answers for every model */
    ck_assert_ptr_eq(mg_provider_for("anthropic.claude-3-5-sonnet-20241022-v2:0", &model, err,
                                     sizeof(err)), &mg_provider_local);
    ck_assert_ptr_eq(mg_provider_for("openai:gpt-4o", &model, err, sizeof(err)),
                     &mg_provider_local);

    mg_providers_cfg.bedrock = 1;
    ck_assert_ptr_eq(mg_provider_for("anthropic.claude-3-5-sonnet-20241022-v2:0", &model, err,
                                     sizeof(err)), &mg_provider_bedrock);
    ck_assert_str_eq(model, "anthropic.claude-3-5-sonnet-20241022-v2:0");
    ck_assert_ptr_null(mg_provider_for("openai:gpt-4o", &model, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "not configured"));
    ck_assert_ptr_eq(mg_provider_for("local", &model, err, sizeof(err)), &mg_provider_local);

    mg_providers_cfg.bedrock = 0;
    mg_providers_cfg.openai_base_url = "http://127.0.0.1:1/v1";
    ck_assert_ptr_eq(mg_provider_for("openai:gpt-4o", &model, err, sizeof(err)),
                     &mg_provider_openai);
    ck_assert_str_eq(model, "gpt-4o");
    ck_assert_ptr_null(mg_provider_for("openai:", &model, err, sizeof(err)));
    ck_assert_ptr_null(mg_provider_for("amazon.nova-pro-v1:0", &model, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "Bedrock"));
}
END_TEST

static Suite *
providers_suite(void)
{
    Suite  *s = suite_create("providers");
    TCase  *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, openai_any_split);
    tcase_add_test(tc, openai_cut_off_and_error_event);
    tcase_add_test(tc, bedrock_any_split);
    tcase_add_test(tc, bedrock_exception_and_corruption);
    tcase_add_test(tc, http_errors_map_to_codes);
    tcase_add_test(tc, local_answers_and_honours_max_tokens);
    tcase_add_test(tc, provider_choice);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner  *sr = srunner_create(providers_suite());
    int       failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
