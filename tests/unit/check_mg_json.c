/*
 * check_mg_json: the error body's and error object's exact bytes, compact dumps, and strict
 * object parsing with its error texts.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mg_json.h"

START_TEST(test_error_body_exact)
{
    char  *s;

    s = mg_json_error_body("not_found", "bot not found", "0123456789abcdef0123456789abcdef");
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "{\"error\":{\"code\":\"not_found\",\"message\":\"bot not found\","
                        "\"request_id\":\"0123456789abcdef0123456789abcdef\"}}");
    free(s);
}
END_TEST

START_TEST(test_error_body_without_request_id)
{
    char  *s;

    s = mg_json_error_body("unauthorized", "token expired", NULL);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "{\"error\":{\"code\":\"unauthorized\",\"message\":\"token expired\"}}");
    free(s);
}
END_TEST

START_TEST(test_error_body_escapes)
{
    char          *s;
    json_t        *v;
    json_error_t   e;
    const char    *msg = "say \"hi\"\n\\ </script> \x01 caf\xc3\xa9";

    s = mg_json_error_body("bad_request", msg, "r1");
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_null(strchr(s, '\n'));
    ck_assert_ptr_nonnull(strstr(s, "say \\\"hi\\\"\\n\\\\"));

    /* It parses back to the same message. */
    v = json_loads(s, 0, &e);
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(v, "error"), "message")), msg);
    json_decref(v);
    free(s);
}
END_TEST

START_TEST(test_error_body_not_utf8)
{
    char    *s;
    json_t  *v;

    /* Still a valid body: the stray bytes become '?'. */
    s = mg_json_error_body("internal", "bad \xff\xfe bytes", NULL);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "{\"error\":{\"code\":\"internal\",\"message\":\"bad ?? bytes\"}}");
    v = json_loads(s, 0, NULL);
    ck_assert_ptr_nonnull(v);
    json_decref(v);
    free(s);

    ck_assert_ptr_null(mg_json_error_body(NULL, "m", NULL));
    ck_assert_ptr_null(mg_json_error_body("c", NULL, NULL));
}
END_TEST

START_TEST(test_error_object)
{
    char    *s;
    json_t  *v;

    /* an SSE "error" event's data: the inner object, on one line */
    s = mg_json_error_object("worker_lost", "gone \"now\"\n", "0123456789abcdef0123456789abcdef");
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "{\"code\":\"worker_lost\",\"message\":\"gone \\\"now\\\"\\n\","
                        "\"request_id\":\"0123456789abcdef0123456789abcdef\"}");
    free(s);

    s = mg_json_error_object("internal", "bad \xff bytes", NULL);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "{\"code\":\"internal\",\"message\":\"bad ? bytes\"}");
    v = json_loads(s, 0, NULL);
    ck_assert_ptr_nonnull(v);
    json_decref(v);
    free(s);

    ck_assert_ptr_null(mg_json_error_object(NULL, "m", "r"));
}
END_TEST

START_TEST(test_dump_compact)
{
    json_t  *v;
    char    *s;
    size_t   len = 0;

    v = json_pack("{s:i, s:[b, n], s:s, s:{}}", "a", 1, "b", 1, "c", "x y", "d");
    ck_assert_ptr_nonnull(v);
    s = mg_json_dump(v, &len);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "{\"a\":1,\"b\":[true,null],\"c\":\"x y\",\"d\":{}}");
    ck_assert_uint_eq(len, strlen(s));
    free(s);
    json_decref(v);

    v = json_string("bare");
    s = mg_json_dump(v, NULL);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "\"bare\"");
    free(s);
    json_decref(v);

    ck_assert_ptr_null(mg_json_dump(NULL, &len));
}
END_TEST

START_TEST(test_parse_object_ok)
{
    static const char  body[] = "{\"name\":\"bot\",\"n\":2}trailing junk";
    char               err[128] = "";
    json_t            *v;

    /* Only len bytes are read: the buffer need not end there. */
    v = mg_json_parse_object(body, strlen("{\"name\":\"bot\",\"n\":2}"), err, sizeof(err));
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(json_string_value(json_object_get(v, "name")), "bot");
    ck_assert_int_eq(json_integer_value(json_object_get(v, "n")), 2);
    json_decref(v);
}
END_TEST

START_TEST(test_parse_object_duplicates)
{
    static const char  body[] = "{\"a\":1,\"a\":2}";
    char               err[128] = "";

    ck_assert_ptr_null(mg_json_parse_object(body, strlen(body), err, sizeof(err)));
    ck_assert_msg(strncmp(err, "malformed JSON: ", 16) == 0, "err: %s", err);
    ck_assert_msg(strstr(err, "duplicate") != NULL, "err: %s", err);
    ck_assert_msg(strstr(err, "at line 1 column ") != NULL, "err: %s", err);
}
END_TEST

START_TEST(test_parse_object_malformed)
{
    static const char *const  bad[] = {
        "{", "{\"a\":}", "{\"a\":1} x", "{'a':1}", "{\"a\":1,}", "nul",
        "{\"a\":\"\\u0000\"}", "{\"a\":\"\xff\"}",
    };
    char                      err[128];
    size_t                    i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        ck_assert_msg(mg_json_parse_object(bad[i], strlen(bad[i]), err, sizeof(err)) == NULL,
                      "accepted %s", bad[i]);
        ck_assert_msg(strncmp(err, "malformed JSON: ", 16) == 0, "err: %s", err);
    }

    /* The position points at the fault. */
    ck_assert_ptr_null(mg_json_parse_object("{\n  \"a\": ?}", 11, err, sizeof(err)));
    ck_assert_msg(strstr(err, "at line 2 column") != NULL, "err: %s", err);
}
END_TEST

START_TEST(test_parse_object_not_object)
{
    static const char *const  bad[] = { "[1,2]", "42", "\"s\"", "null", "true" };
    char                      err[128];
    size_t                    i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        ck_assert_ptr_null(mg_json_parse_object(bad[i], strlen(bad[i]), err, sizeof(err)));
        ck_assert_str_eq(err, "expected a JSON object");
    }
}
END_TEST

START_TEST(test_parse_object_empty)
{
    char  err[128] = "";

    ck_assert_ptr_null(mg_json_parse_object("", 0, err, sizeof(err)));
    ck_assert_str_eq(err, "empty body");
    err[0] = '\0';
    ck_assert_ptr_null(mg_json_parse_object(NULL, 0, err, sizeof(err)));
    ck_assert_str_eq(err, "empty body");
    /* Whitespace only is not empty: jansson explains it. */
    ck_assert_ptr_null(mg_json_parse_object("  ", 2, err, sizeof(err)));
    ck_assert_msg(strncmp(err, "malformed JSON: ", 16) == 0, "err: %s", err);
}
END_TEST

START_TEST(test_parse_object_small_err)
{
    char  err[8];

    memset(err, 'x', sizeof(err));
    ck_assert_ptr_null(mg_json_parse_object("[", 1, err, 6));
    ck_assert_str_eq(err, "malfo");
    ck_assert_int_eq(err[6], 'x');

    /* No error buffer at all is fine too. */
    ck_assert_ptr_null(mg_json_parse_object("[", 1, NULL, 0));
}
END_TEST

START_TEST(test_escape)
{
    char        out[MG_JSON_ESCAPED_MAX(64)];
    const char  in[] = "a\"b\\c\nd\re\tf\x01g\x1f\x7fh \xc3\xa9";
    const char  want[] = "a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001f\\u007fh \xc3\xa9";
    size_t      n;
    json_t     *round;
    char        doc[sizeof(out) + 2];

    n = mg_json_escape(out, in, sizeof(in) - 1);
    ck_assert_uint_eq(n, sizeof(want) - 1);
    ck_assert_int_eq(memcmp(out, want, n), 0);

    /* what jansson reads back is the original text */
    doc[0] = '"';
    memcpy(doc + 1, out, n);
    doc[n + 1] = '"';
    round = json_loadb(doc, n + 2, JSON_DECODE_ANY, NULL);
    ck_assert_ptr_nonnull(round);
    ck_assert_uint_eq(json_string_length(round), sizeof(in) - 1);
    ck_assert_int_eq(memcmp(json_string_value(round), in, sizeof(in) - 1), 0);
    json_decref(round);

    /* the worst case fills the bound exactly */
    ck_assert_uint_eq(mg_json_escape(out, "\x01\x02", 2), MG_JSON_ESCAPED_MAX(2));
    ck_assert_uint_eq(mg_json_escape(out, "", 0), 0);
}
END_TEST

static Suite *
json_suite(void)
{
    Suite  *s = suite_create("mg_json");
    TCase  *tc = tcase_create("core");

    tcase_add_test(tc, test_error_body_exact);
    tcase_add_test(tc, test_error_body_without_request_id);
    tcase_add_test(tc, test_error_body_escapes);
    tcase_add_test(tc, test_error_body_not_utf8);
    tcase_add_test(tc, test_error_object);
    tcase_add_test(tc, test_dump_compact);
    tcase_add_test(tc, test_parse_object_ok);
    tcase_add_test(tc, test_parse_object_duplicates);
    tcase_add_test(tc, test_parse_object_malformed);
    tcase_add_test(tc, test_parse_object_not_object);
    tcase_add_test(tc, test_parse_object_empty);
    tcase_add_test(tc, test_parse_object_small_err);
    tcase_add_test(tc, test_escape);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner  *sr = srunner_create(json_suite());
    int       failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
