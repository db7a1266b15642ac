/*
 * check_worker_validate: body validation (worker/validate.c) against a
 * table exercising every rule, and against the real bots field table.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/jobs.h"
#include "validate.h"

static const mg_field_t fields[] = {
    { "name",  MG_FIELD_STRING,  MG_FIELD_REQUIRED | MG_FIELD_NOT_BLANK, 1, 5,   NULL },
    { "note",  MG_FIELD_STRING,  0,                 0, 3,   "\"\"" },
    { "ratio", MG_FIELD_NUMBER,  0,                 0, 1,   "0.5" },
    { "count", MG_FIELD_INTEGER, 0,                 1, 10,  "4" },
    { "flag",  MG_FIELD_BOOL,    0,                 0, 0,   "false" },
    { "ref",   MG_FIELD_UUID,    MG_FIELD_NULLABLE, 0, 0,   "null" },
    { "must",  MG_FIELD_UUID,    0,                 0, 0,   NULL },
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static mg_verr_t err;

static json_t *
create(const char *body)
{
    memset(&err, 0, sizeof(err));
    return mg_validate_body(body, strlen(body), fields, NFIELDS, MG_VALIDATE_CREATE, &err);
}

static json_t *
patch(const char *body)
{
    memset(&err, 0, sizeof(err));
    return mg_validate_body(body, strlen(body), fields, NFIELDS, MG_VALIDATE_PATCH, &err);
}

/* body fails with 400 code and exactly message */
static void
expect_fail(json_t *v, const char *code, const char *message)
{
    ck_assert_ptr_null(v);
    ck_assert_int_eq(err.status, 400);
    ck_assert_str_eq(err.code, code);
    if (message != NULL) {
        ck_assert_str_eq(err.message, message);
    }
}

START_TEST(test_invalid_json)
{
    expect_fail(create(""), "invalid_json", "request body must be a JSON object");
    expect_fail(create("{"), "invalid_json", NULL);
    expect_fail(create("nope"), "invalid_json", NULL);
    expect_fail(create("[1,2]"), "invalid_json", NULL);
    expect_fail(create("\"name\""), "invalid_json", NULL);
    expect_fail(create("42"), "invalid_json", NULL);
    expect_fail(create("null"), "invalid_json", NULL);
    expect_fail(create("{\"name\":\"a\",\"name\":\"b\"}"), "invalid_json", NULL);
    expect_fail(create("{\"name\":\"a\"} x"), "invalid_json", NULL);
    expect_fail(patch(""), "invalid_json", NULL);
}
END_TEST

START_TEST(test_unknown_field)
{
    expect_fail(create("{\"name\":\"a\",\"nmae\":1}"), "unknown_field", "unknown field \"nmae\"");
    /* unknown beats invalid and missing */
    expect_fail(create("{\"ratio\":7,\"zzz\":1}"), "unknown_field", "unknown field \"zzz\"");
    expect_fail(patch("{\"id\":\"x\"}"), "unknown_field", "unknown field \"id\"");
}
END_TEST

START_TEST(test_unknown_field_long_name_clipped)
{
    char body[400], *p = body;

    p += sprintf(p, "{\"");
    for (int i = 0; i < 100; i++) {
        p += sprintf(p, "\xc3\xa9");        /* é, two bytes */
    }
    sprintf(p, "\":1}");
    expect_fail(create(body), "unknown_field", NULL);
    /* 64 bytes = 32 whole é, never half of one */
    ck_assert_uint_eq(strlen(err.message), strlen("unknown field \"\"") + 64);
}
END_TEST

START_TEST(test_required_and_defaults)
{
    const char *uuid = "\"123e4567-e89b-12d3-a456-426614174000\"";
    char body[200];
    json_t *v;

    sprintf(body, "{\"must\":%s}", uuid);
    expect_fail(create(body), "invalid_field", "field \"name\" is required");

    sprintf(body, "{\"name\":\"ab\",\"must\":%s}", uuid);
    v = create(body);
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(json_string_value(json_object_get(v, "name")), "ab");
    ck_assert_str_eq(json_string_value(json_object_get(v, "note")), "");
    ck_assert(json_real_value(json_object_get(v, "ratio")) == 0.5);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "count")), 4);
    ck_assert(json_is_false(json_object_get(v, "flag")));
    ck_assert(json_is_null(json_object_get(v, "ref")));
    ck_assert_uint_eq(json_object_size(v), NFIELDS);
    json_decref(v);

    /* "must" has no default and is not required: omitted stays omitted */
    v = create("{\"name\":\"ab\"}");
    ck_assert_ptr_nonnull(v);
    ck_assert_ptr_null(json_object_get(v, "must"));
    json_decref(v);
}
END_TEST

START_TEST(test_patch_mode)
{
    json_t *v;

    v = patch("{}");
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(json_object_size(v), 0);
    json_decref(v);

    v = patch("{\"count\":3}");
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(json_object_size(v), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "count")), 3);
    json_decref(v);

    v = patch("{\"ref\":null}");
    ck_assert_ptr_nonnull(v);
    ck_assert(json_is_null(json_object_get(v, "ref")));
    json_decref(v);

    expect_fail(patch("{\"name\":null}"), "invalid_field", "field \"name\" must not be null");
    expect_fail(patch("{\"name\":\"\"}"), "invalid_field",
                "field \"name\" must be a string of 1 to 5 characters");
}
END_TEST

START_TEST(test_strings)
{
    json_t *v;

    expect_fail(patch("{\"name\":5}"), "invalid_field",
                "field \"name\" must be a string of 1 to 5 characters");
    expect_fail(patch("{\"name\":\"abcdef\"}"), "invalid_field", NULL);
    expect_fail(patch("{\"name\":[\"a\"]}"), "invalid_field", NULL);
    expect_fail(patch("{\"name\":{}}"), "invalid_field", NULL);
    expect_fail(patch("{\"name\":true}"), "invalid_field", NULL);
    expect_fail(patch("{\"name\":\"   \"}"), "invalid_field", "field \"name\" must not be blank");
    expect_fail(patch("{\"name\":\" \\t\\n\"}"), "invalid_field", "field \"name\" must not be blank");
    expect_fail(patch("{\"note\":\"abcd\"}"), "invalid_field",
                "field \"note\" must be a string of at most 3 characters");
    expect_fail(patch("{\"note\":null}"), "invalid_field", "field \"note\" must not be null");

    /* lengths are characters, not bytes: 5 x é (10 bytes) fits */
    v = patch("{\"name\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}");
    ck_assert_ptr_nonnull(v);
    json_decref(v);
    expect_fail(patch("{\"name\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}"),
                "invalid_field", NULL);
    /* an empty string is fine where min is 0; blank is only for "name" */
    v = patch("{\"note\":\"\",\"name\":\" a \"}");
    ck_assert_ptr_nonnull(v);
    json_decref(v);
    /* a NUL cannot be stored: never accepted */
    expect_fail(patch("{\"note\":\"a\\u0000\"}"), "invalid_json", NULL);
}
END_TEST

START_TEST(test_numbers)
{
    json_t *v;

    expect_fail(patch("{\"ratio\":1.5}"), "invalid_field",
                "field \"ratio\" must be a number between 0 and 1");
    expect_fail(patch("{\"ratio\":-0.1}"), "invalid_field", NULL);
    expect_fail(patch("{\"ratio\":\"0.5\"}"), "invalid_field", NULL);
    expect_fail(patch("{\"ratio\":true}"), "invalid_field", NULL);
    expect_fail(patch("{\"ratio\":null}"), "invalid_field", "field \"ratio\" must not be null");
    v = patch("{\"ratio\":1}");             /* an integer is a number */
    ck_assert_ptr_nonnull(v);
    json_decref(v);
    v = patch("{\"ratio\":0}");
    ck_assert_ptr_nonnull(v);
    json_decref(v);
    v = patch("{\"ratio\":0.7}");
    ck_assert_ptr_nonnull(v);
    ck_assert(json_number_value(json_object_get(v, "ratio")) == 0.7);
    json_decref(v);
}
END_TEST

START_TEST(test_integers)
{
    json_t *v;

    expect_fail(patch("{\"count\":0}"), "invalid_field",
                "field \"count\" must be an integer between 1 and 10");
    expect_fail(patch("{\"count\":11}"), "invalid_field", NULL);
    expect_fail(patch("{\"count\":2.5}"), "invalid_field", NULL);
    expect_fail(patch("{\"count\":\"3\"}"), "invalid_field", NULL);
    expect_fail(patch("{\"count\":false}"), "invalid_field", NULL);
    expect_fail(patch("{\"count\":-9223372036854775808}"), "invalid_field", NULL);
    v = patch("{\"count\":10}");
    ck_assert_ptr_nonnull(v);
    json_decref(v);
    /* 5.0 is the integer 5 (JSON has one number type) */
    v = patch("{\"count\":5.0}");
    ck_assert_ptr_nonnull(v);
    ck_assert(json_is_integer(json_object_get(v, "count")));
    ck_assert_int_eq(json_integer_value(json_object_get(v, "count")), 5);
    json_decref(v);
}
END_TEST

START_TEST(test_bools)
{
    json_t *v;

    expect_fail(patch("{\"flag\":1}"), "invalid_field", "field \"flag\" must be a boolean");
    expect_fail(patch("{\"flag\":\"true\"}"), "invalid_field", NULL);
    expect_fail(patch("{\"flag\":null}"), "invalid_field", "field \"flag\" must not be null");
    v = patch("{\"flag\":true}");
    ck_assert_ptr_nonnull(v);
    ck_assert(json_is_true(json_object_get(v, "flag")));
    json_decref(v);
}
END_TEST

START_TEST(test_uuids)
{
    json_t *v;

    expect_fail(patch("{\"ref\":\"nope\"}"), "invalid_field",
                "field \"ref\" must be a UUID or null");
    expect_fail(patch("{\"ref\":\"123e4567e89b12d3a456426614174000\"}"), "invalid_field", NULL);
    expect_fail(patch("{\"ref\":\"123e4567-e89b-12d3-a456-42661417400g\"}"), "invalid_field", NULL);
    expect_fail(patch("{\"ref\":\"123e4567-e89b-12d3-a456-4266141740000\"}"), "invalid_field", NULL);
    expect_fail(patch("{\"ref\":1}"), "invalid_field", NULL);
    expect_fail(patch("{\"must\":null}"), "invalid_field", "field \"must\" must not be null");
    expect_fail(patch("{\"must\":\"x\"}"), "invalid_field", "field \"must\" must be a UUID");
    v = patch("{\"ref\":\"123E4567-E89B-12D3-A456-426614174000\"}");
    ck_assert_ptr_nonnull(v);
    json_decref(v);
}
END_TEST

START_TEST(test_bad_default_is_internal)
{
    static const mg_field_t bad[] = {
        { "x", MG_FIELD_STRING, 0, 0, 3, "not json" },
    };
    json_t *v = mg_validate_body("{}", 2, bad, 1, MG_VALIDATE_CREATE, &err);

    ck_assert_ptr_null(v);
    ck_assert_int_eq(err.status, 500);
}
END_TEST

START_TEST(test_utf8_chars)
{
    ck_assert_uint_eq(mg_utf8_chars("", 0), 0);
    ck_assert_uint_eq(mg_utf8_chars("abc", 3), 3);
    ck_assert_uint_eq(mg_utf8_chars("\xc3\xa9", 2), 1);
    ck_assert_uint_eq(mg_utf8_chars("\xe2\x82\xac" "x", 4), 2);
    ck_assert_uint_eq(mg_utf8_chars("\xf0\x9f\x98\x80", 4), 1);
}
END_TEST

/* The real bots table: defaults and limits as the API documents them. */
static json_t *
bot(const char *body, mg_validate_mode_t mode)
{
    memset(&err, 0, sizeof(err));
    return mg_validate_body(body, strlen(body), mg_bot_fields, mg_bot_fields_count, mode, &err);
}

/* {"name":"nnn..","description":"ddd..","instructions":"iii..",
 * "max_tokens":65536,"temperature":1,"rag_enabled":true}, malloc'd */
static char *
bot_body(size_t name, size_t description, size_t instructions)
{
    size_t  cap = name + description + instructions + 256, n = 0;
    char   *b = malloc(cap);

    ck_assert_ptr_nonnull(b);
    n += (size_t) sprintf(b + n, "{\"name\":\"");
    memset(b + n, 'n', name);
    n += name;
    n += (size_t) sprintf(b + n, "\",\"description\":\"");
    memset(b + n, 'd', description);
    n += description;
    n += (size_t) sprintf(b + n, "\",\"instructions\":\"");
    memset(b + n, 'i', instructions);
    n += instructions;
    sprintf(b + n, "\",\"max_tokens\":65536,\"temperature\":1,\"rag_enabled\":true}");
    return b;
}

START_TEST(test_bot_defaults)
{
    json_t *v = bot("{\"name\":\"Helper\"}", MG_VALIDATE_CREATE);

    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(json_string_value(json_object_get(v, "description")), "");
    ck_assert_str_eq(json_string_value(json_object_get(v, "model_id")), "local");
    ck_assert_str_eq(json_string_value(json_object_get(v, "instructions")), "");
    ck_assert(json_number_value(json_object_get(v, "temperature")) == 0.7);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "max_tokens")), 4096);
    ck_assert(json_is_false(json_object_get(v, "rag_enabled")));
    ck_assert(json_is_null(json_object_get(v, "knowledge_base_id")));
    json_decref(v);
}
END_TEST

START_TEST(test_bot_limits)
{
    char   *big;
    json_t *v;

    expect_fail(bot("{}", MG_VALIDATE_CREATE), "invalid_field", "field \"name\" is required");
    expect_fail(bot("{\"name\":\"\"}", MG_VALIDATE_CREATE), "invalid_field",
                "field \"name\" must be a string of 1 to 255 characters");
    expect_fail(bot("{\"name\":\"  \"}", MG_VALIDATE_CREATE), "invalid_field",
                "field \"name\" must not be blank");
    expect_fail(bot("{\"name\":\"a\",\"temperature\":2}", MG_VALIDATE_CREATE), "invalid_field",
                "field \"temperature\" must be a number between 0 and 1");
    expect_fail(bot("{\"name\":\"a\",\"max_tokens\":0}", MG_VALIDATE_CREATE), "invalid_field",
                "field \"max_tokens\" must be an integer between 1 and 65536");
    expect_fail(bot("{\"name\":\"a\",\"max_tokens\":65537}", MG_VALIDATE_CREATE), "invalid_field", NULL);
    expect_fail(bot("{\"name\":\"a\",\"model_id\":\"\"}", MG_VALIDATE_CREATE), "invalid_field",
                "field \"model_id\" must be a string of 1 to 255 characters");
    expect_fail(bot("{\"name\":\"a\",\"rag_enabled\":\"yes\"}", MG_VALIDATE_CREATE), "invalid_field",
                "field \"rag_enabled\" must be a boolean");
    expect_fail(bot("{\"name\":\"a\",\"knowledge_base_id\":\"kb1\"}", MG_VALIDATE_CREATE),
                "invalid_field", "field \"knowledge_base_id\" must be a UUID or null");
    expect_fail(bot("{\"name\":\"a\",\"owner_id\":\"me\"}", MG_VALIDATE_CREATE), "unknown_field",
                "unknown field \"owner_id\"");

    /* boundaries: 255-char name, 2000-char description, 32000 instructions */
    big = bot_body(255, 2000, 32000);
    v = bot(big, MG_VALIDATE_CREATE);
    ck_assert_ptr_nonnull(v);
    json_decref(v);
    free(big);

    big = bot_body(256, 0, 0);
    expect_fail(bot(big, MG_VALIDATE_CREATE), "invalid_field", NULL);
    free(big);
    big = bot_body(1, 2001, 0);
    expect_fail(bot(big, MG_VALIDATE_CREATE), "invalid_field",
                "field \"description\" must be a string of at most 2000 characters");
    free(big);
    big = bot_body(1, 0, 32001);
    expect_fail(bot(big, MG_VALIDATE_CREATE), "invalid_field",
                "field \"instructions\" must be a string of at most 32000 characters");
    free(big);

    v = bot("{\"knowledge_base_id\":null}", MG_VALIDATE_PATCH);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(json_object_size(v), 1);
    json_decref(v);
    expect_fail(bot("{\"name\":null}", MG_VALIDATE_PATCH), "invalid_field",
                "field \"name\" must not be null");
}
END_TEST

/* The real chats table (chats.update, a PATCH): a title of 1 to 255
 * characters, not blank; {} is accepted and changes nothing. */
static json_t *
chat(const char *body)
{
    memset(&err, 0, sizeof(err));
    return mg_validate_body(body, strlen(body), mg_chat_fields, mg_chat_fields_count,
                            MG_VALIDATE_PATCH, &err);
}

START_TEST(test_chat_title)
{
    char    body[600];
    json_t *v;

    v = chat("{}");
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(json_object_size(v), 0);
    json_decref(v);

    v = chat("{\"title\":\"Trip \\u00e9\"}");
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(json_string_value(json_object_get(v, "title")), "Trip \xc3\xa9");
    json_decref(v);

    expect_fail(chat("{\"title\":\"\"}"), "invalid_field",
                "field \"title\" must be a string of 1 to 255 characters");
    expect_fail(chat("{\"title\":\" \\t\\n\"}"), "invalid_field",
                "field \"title\" must not be blank");
    expect_fail(chat("{\"title\":null}"), "invalid_field", "field \"title\" must not be null");
    expect_fail(chat("{\"title\":5}"), "invalid_field", NULL);
    expect_fail(chat("{\"title\":\"a\",\"bot_id\":null}"), "unknown_field",
                "unknown field \"bot_id\"");

    /* 255 characters of two bytes each pass; 256 do not */
    strcpy(body, "{\"title\":\"");
    for (int i = 0; i < 255; i++) {
        strcat(body, "\xc3\xa9");
    }
    strcat(body, "\"}");
    v = chat(body);
    ck_assert_ptr_nonnull(v);
    json_decref(v);
    strcpy(body + strlen(body) - 2, "x\"}");
    expect_fail(chat(body), "invalid_field", NULL);
}
END_TEST

static Suite *
validate_suite(void)
{
    Suite *s = suite_create("worker_validate");
    TCase *tc = tcase_create("body");

    tcase_add_test(tc, test_invalid_json);
    tcase_add_test(tc, test_unknown_field);
    tcase_add_test(tc, test_unknown_field_long_name_clipped);
    tcase_add_test(tc, test_required_and_defaults);
    tcase_add_test(tc, test_patch_mode);
    tcase_add_test(tc, test_strings);
    tcase_add_test(tc, test_numbers);
    tcase_add_test(tc, test_integers);
    tcase_add_test(tc, test_bools);
    tcase_add_test(tc, test_uuids);
    tcase_add_test(tc, test_bad_default_is_internal);
    tcase_add_test(tc, test_utf8_chars);
    tcase_add_test(tc, test_bot_defaults);
    tcase_add_test(tc, test_bot_limits);
    tcase_add_test(tc, test_chat_title);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(validate_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
