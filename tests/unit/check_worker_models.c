/*
 * check_worker_models: the models list (worker/jobs/models.c) built from
 * the providers' configuration: "local" always, Bedrock's and the
 * OpenAI-compatible server's models only when they are configured, the
 * lists' parsing, readable names and the default.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/jobs.h"

/* The list as compact JSON text (static buffer). */
static const char *
build(int bedrock, const char *bedrock_models, int openai, const char *openai_models)
{
    static char         out[4096];
    mg_models_input_t   in = { bedrock, bedrock_models, openai, openai_models };
    json_t             *v = mg_models_build(&in);
    char               *s;

    ck_assert_ptr_nonnull(v);
    s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_lt(strlen(s), sizeof(out));
    strcpy(out, s);
    free(s);
    json_decref(v);
    return out;
}

#define LOCAL "{\"id\":\"local\",\"name\":\"Offline model\",\"provider\":\"local\",\"offline\":true}"

START_TEST(test_nothing_configured)
{
    ck_assert_str_eq(build(0, NULL, 0, NULL), "{\"items\":[" LOCAL "],\"default\":\"local\"}");
    /* lists without their provider's configuration are not answerable */
    ck_assert_str_eq(build(0, "anthropic.x", 0, "llama3"),
                     "{\"items\":[" LOCAL "],\"default\":\"local\"}");
}
END_TEST

START_TEST(test_bedrock_default_list)
{
    const char *s = build(1, NULL, 0, NULL);

    ck_assert_str_eq(s, "{\"items\":[" LOCAL ","
        "{\"id\":\"anthropic.claude-3-5-sonnet-20241022-v2:0\",\"name\":\"Claude 3.5 Sonnet v2\","
        "\"provider\":\"bedrock\",\"offline\":false},"
        "{\"id\":\"anthropic.claude-3-5-haiku-20241022-v1:0\",\"name\":\"Claude 3.5 Haiku\","
        "\"provider\":\"bedrock\",\"offline\":false},"
        "{\"id\":\"anthropic.claude-3-haiku-20240307-v1:0\",\"name\":\"Claude 3 Haiku\","
        "\"provider\":\"bedrock\",\"offline\":false}],"
        "\"default\":\"anthropic.claude-3-5-sonnet-20241022-v2:0\"}");
}
END_TEST

START_TEST(test_bedrock_list_from_the_environment)
{
    /* blanks trimmed, empty entries, duplicates and other providers' ids
     * skipped; unknown ids are named by themselves */
    ck_assert_str_eq(build(1, " us.anthropic.claude-3-7-sonnet-20250219-v1:0 ,,my.model ,"
                              "my.model, local,openai:x", 0, NULL),
        "{\"items\":[" LOCAL ","
        "{\"id\":\"us.anthropic.claude-3-7-sonnet-20250219-v1:0\",\"name\":\"Claude 3.7 Sonnet\","
        "\"provider\":\"bedrock\",\"offline\":false},"
        "{\"id\":\"my.model\",\"name\":\"my.model\",\"provider\":\"bedrock\",\"offline\":false}],"
        "\"default\":\"us.anthropic.claude-3-7-sonnet-20250219-v1:0\"}");
    /* nothing usable listed: only local, which is then the default */
    ck_assert_str_eq(build(1, " , ,", 0, NULL), "{\"items\":[" LOCAL "],\"default\":\"local\"}");
}
END_TEST

START_TEST(test_openai_models)
{
    /* a server without a list: nothing listed (no network call here) */
    ck_assert_str_eq(build(0, NULL, 1, NULL), "{\"items\":[" LOCAL "],\"default\":\"local\"}");
    ck_assert_str_eq(build(0, NULL, 1, "llama3.1:8b, openai:gpt-4o-mini,llama3.1:8b"),
        "{\"items\":[" LOCAL ","
        "{\"id\":\"openai:llama3.1:8b\",\"name\":\"llama3.1:8b\",\"provider\":\"openai\","
        "\"offline\":false},"
        "{\"id\":\"openai:gpt-4o-mini\",\"name\":\"gpt-4o-mini\",\"provider\":\"openai\","
        "\"offline\":false}],\"default\":\"openai:llama3.1:8b\"}");
}
END_TEST

START_TEST(test_both_bedrock_first)
{
    json_t             *v;
    mg_models_input_t   in = { 1, "anthropic.claude-3-haiku-20240307-v1:0", 1, "m" };

    v = mg_models_build(&in);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(json_array_size(json_object_get(v, "items")), 3);
    ck_assert_str_eq(json_string_value(json_object_get(v, "default")),
                     "anthropic.claude-3-haiku-20240307-v1:0");
    ck_assert_str_eq(json_string_value(json_object_get(
        json_array_get(json_object_get(v, "items"), 2), "id")), "openai:m");
    json_decref(v);
}
END_TEST

START_TEST(test_overlong_ids_skipped)
{
    char  list[600];

    memset(list, 'a', 300);
    strcpy(list + 300, ",ok");
    ck_assert_str_eq(build(1, list, 0, NULL), "{\"items\":[" LOCAL ","
        "{\"id\":\"ok\",\"name\":\"ok\",\"provider\":\"bedrock\",\"offline\":false}],"
        "\"default\":\"ok\"}");
}
END_TEST

START_TEST(test_names)
{
    ck_assert_str_eq(mg_model_name("anthropic.claude-3-5-sonnet-20241022-v2:0"),
                     "Claude 3.5 Sonnet v2");
    ck_assert_str_eq(mg_model_name("eu.anthropic.claude-3-5-sonnet-20241022-v2:0"),
                     "Claude 3.5 Sonnet v2");
    ck_assert_ptr_null(mg_model_name("anthropic.claude-9"));
    ck_assert_ptr_null(mg_model_name("nodots"));
    ck_assert_ptr_null(mg_model_name("toolongprefix.anthropic.claude-3-5-sonnet-20241022-v2:0"));
}
END_TEST

int
main(void)
{
    Suite   *s = suite_create("worker_models");
    TCase   *tc = tcase_create("build");
    SRunner *sr;
    int      failed;

    tcase_add_test(tc, test_nothing_configured);
    tcase_add_test(tc, test_bedrock_default_list);
    tcase_add_test(tc, test_bedrock_list_from_the_environment);
    tcase_add_test(tc, test_openai_models);
    tcase_add_test(tc, test_both_bedrock_first);
    tcase_add_test(tc, test_overlong_ids_skipped);
    tcase_add_test(tc, test_names);
    suite_add_tcase(s, tc);

    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
