/* Check tests for gathering a step's tool calls from streamed pieces
 * (worker/agents/toolcalls.c): Bedrock's blocks, OpenAI's interleaved
 * deltas, and every way a model's request can be unusable. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "agents/toolcalls.h"

static char err[200];

#define BEGIN(tc, i, id, name) \
    mg_toolcalls_begin((tc), (i), (id), strlen(id), (name), strlen(name), err, sizeof(err))
#define INPUT(tc, i, s) mg_toolcalls_input((tc), (i), (s), strlen(s), err, sizeof(err))

START_TEST(bedrock_blocks)
{
    mg_toolcalls_t tc;

    memset(&tc, 0, sizeof(tc));
    /* block 0 was text; the tool is block 1, its input in three pieces */
    ck_assert_int_eq(BEGIN(&tc, 1, "tooluse_Ab-1", "calculator"), 0);
    ck_assert_int_eq(INPUT(&tc, 1, "{\"expr"), 0);
    ck_assert_int_eq(INPUT(&tc, 1, "ession\": \"2*"), 0);
    ck_assert_int_eq(INPUT(&tc, 1, "(3+4)\"}"), 0);
    ck_assert_int_eq(mg_toolcalls_finish(&tc, err, sizeof(err)), 0);
    ck_assert_uint_eq(tc.n, 1);
    ck_assert_str_eq(tc.calls[0].id, "tooluse_Ab-1");
    ck_assert_str_eq(tc.calls[0].name, "calculator");
    ck_assert_str_eq(json_string_value(json_object_get(tc.calls[0].input, "expression")), "2*(3+4)");
    mg_toolcalls_clear(&tc);
    ck_assert_uint_eq(tc.n, 0);
}
END_TEST

START_TEST(openai_interleaved_deltas)
{
    mg_toolcalls_t tc;

    memset(&tc, 0, sizeof(tc));
    ck_assert_int_eq(BEGIN(&tc, 0, "call_1", "current_time"), 0);
    ck_assert_int_eq(BEGIN(&tc, 1, "call_2", "knowledge_search"), 0);
    ck_assert_int_eq(INPUT(&tc, 1, "{\"query\":"), 0);
    ck_assert_int_eq(INPUT(&tc, 0, "{\"timezone\":\"Europe/Paris\"}"), 0);
    /* later deltas of a call repeat its index with no id or name */
    ck_assert_int_eq(BEGIN(&tc, 1, "", ""), 0);
    ck_assert_int_eq(INPUT(&tc, 1, "\"refunds\"}"), 0);
    ck_assert_int_eq(mg_toolcalls_finish(&tc, err, sizeof(err)), 0);
    ck_assert_uint_eq(tc.n, 2);
    ck_assert_str_eq(tc.calls[0].name, "current_time");
    ck_assert_str_eq(tc.calls[1].id, "call_2");
    ck_assert_str_eq(tc.calls[1].name, "knowledge_search");
    ck_assert_str_eq(json_string_value(json_object_get(tc.calls[1].input, "query")), "refunds");
    ck_assert_str_eq(json_string_value(json_object_get(tc.calls[0].input, "timezone")),
                     "Europe/Paris");
    mg_toolcalls_clear(&tc);
}
END_TEST

START_TEST(no_input_is_an_empty_object)
{
    mg_toolcalls_t tc;

    memset(&tc, 0, sizeof(tc));
    ck_assert_int_eq(BEGIN(&tc, 0, "t1", "current_time"), 0);
    ck_assert_int_eq(mg_toolcalls_finish(&tc, err, sizeof(err)), 0);
    ck_assert(json_is_object(tc.calls[0].input));
    ck_assert_uint_eq(json_object_size(tc.calls[0].input), 0);
    /* finishing twice replaces, never leaks */
    ck_assert_int_eq(mg_toolcalls_finish(&tc, err, sizeof(err)), 0);
    mg_toolcalls_clear(&tc);
}
END_TEST

START_TEST(unusable_requests)
{
    mg_toolcalls_t tc;
    char           id[16], *big;

    memset(&tc, 0, sizeof(tc));
    ck_assert_int_eq(INPUT(&tc, 3, "{}"), -1);
    ck_assert(strstr(err, "never opened") != NULL);
    ck_assert_int_eq(BEGIN(&tc, 0, "t 1", "calculator"), -1);
    ck_assert_int_eq(BEGIN(&tc, 0, "t1", "rm -rf /"), -1);
    ck_assert_int_eq(BEGIN(&tc, 0, "t1", "x\ny"), -1);
    ck_assert_int_eq(BEGIN(&tc, 0, "0123456789012345678901234567890123456789012345678901234567890123456789",
                           "calculator"), -1);
    ck_assert_uint_eq(tc.n, 0);

    for (int i = 0; i < MG_TOOLCALLS_MAX; i++) {
        snprintf(id, sizeof(id), "t%d", i);
        ck_assert_int_eq(BEGIN(&tc, i, id, "calculator"), 0);
    }
    ck_assert_int_eq(BEGIN(&tc, MG_TOOLCALLS_MAX, "t9", "calculator"), -1);
    ck_assert(strstr(err, "more than 8 tools") != NULL);
    mg_toolcalls_clear(&tc);

    big = malloc(MG_TOOLCALL_INPUT_MAX + 1);
    memset(big, ' ', MG_TOOLCALL_INPUT_MAX);
    big[MG_TOOLCALL_INPUT_MAX] = '\0';
    ck_assert_int_eq(BEGIN(&tc, 0, "t1", "calculator"), 0);
    ck_assert_int_eq(INPUT(&tc, 0, big), 0);            /* exactly the limit */
    ck_assert_int_eq(INPUT(&tc, 0, " "), -1);
    ck_assert(strstr(err, "larger than") != NULL);
    free(big);
    mg_toolcalls_clear(&tc);

    ck_assert_int_eq(BEGIN(&tc, 0, "t1", "calculator"), 0);
    /* a bad input is the call's problem, told to the model: the step goes on */
    ck_assert_int_eq(INPUT(&tc, 0, "{\"expression\": \"1+"), 0);
    ck_assert_int_eq(mg_toolcalls_finish(&tc, err, sizeof(err)), 0);
    ck_assert_str_eq(tc.calls[0].input_error, "the input is not a JSON object");
    ck_assert(json_is_object(tc.calls[0].input) && json_object_size(tc.calls[0].input) == 0);
    mg_toolcalls_clear(&tc);

    ck_assert_int_eq(BEGIN(&tc, 0, "t1", "calculator"), 0);
    ck_assert_int_eq(INPUT(&tc, 0, "[1, 2]"), 0);
    ck_assert_int_eq(mg_toolcalls_finish(&tc, err, sizeof(err)), 0);
    ck_assert_str_ne(tc.calls[0].input_error, "");
    mg_toolcalls_clear(&tc);

    ck_assert_int_eq(BEGIN(&tc, 0, "t1", "calculator"), 0);
    ck_assert_int_eq(INPUT(&tc, 0, "{\"a\":1,\"a\":2}"), 0);
    ck_assert_int_eq(mg_toolcalls_finish(&tc, err, sizeof(err)), 0);
    ck_assert_str_ne(tc.calls[0].input_error, "");
    mg_toolcalls_clear(&tc);

    /* OpenAI: arguments before the name arrived, and never a name */
    ck_assert_int_eq(BEGIN(&tc, 0, "call_1", ""), 0);
    ck_assert_int_eq(INPUT(&tc, 0, "{}"), 0);
    ck_assert_int_eq(mg_toolcalls_finish(&tc, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "the model asked for a tool without a name");
    mg_toolcalls_clear(&tc);
}
END_TEST

static Suite *
toolcalls_suite(void)
{
    Suite *s = suite_create("toolcalls");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, bedrock_blocks);
    tcase_add_test(tc, openai_interleaved_deltas);
    tcase_add_test(tc, no_input_is_an_empty_object);
    tcase_add_test(tc, unusable_requests);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(toolcalls_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
