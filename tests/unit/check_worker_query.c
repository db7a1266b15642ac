/*
 * check_worker_query: query-string parsing (worker/validate.c) and the
 * paging cursor codec (worker/cursor.c).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cursor.h"
#include "validate.h"

static int
get(const char *q, const char *name, char *out, size_t cap)
{
    size_t n = 0;
    int    rc = mg_query_get(q, strlen(q), name, out, cap, &n);

    if (rc == 1) {
        ck_assert_uint_eq(n, strlen(out));
    }
    return rc;
}

START_TEST(test_query_get)
{
    char v[64];

    ck_assert_int_eq(get("", "limit", v, sizeof(v)), 0);
    ck_assert_int_eq(get("limit=5", "limit", v, sizeof(v)), 1);
    ck_assert_str_eq(v, "5");
    ck_assert_int_eq(get("a=1&limit=7&b=2", "limit", v, sizeof(v)), 1);
    ck_assert_str_eq(v, "7");
    ck_assert_int_eq(get("limitx=1&xlimit=2", "limit", v, sizeof(v)), 0);
    /* first occurrence wins */
    ck_assert_int_eq(get("limit=1&limit=2", "limit", v, sizeof(v)), 1);
    ck_assert_str_eq(v, "1");
    /* no '=' or empty value: present and empty */
    ck_assert_int_eq(get("limit", "limit", v, sizeof(v)), 1);
    ck_assert_str_eq(v, "");
    ck_assert_int_eq(get("limit=&x=1", "limit", v, sizeof(v)), 1);
    ck_assert_str_eq(v, "");
    /* empty pairs are skipped */
    ck_assert_int_eq(get("&&limit=3&", "limit", v, sizeof(v)), 1);
    ck_assert_str_eq(v, "3");
    /* the raw pointer is bounded by len, not by a NUL */
    ck_assert_int_eq(mg_query_get("limit=9", 5, "limit", v, sizeof(v), NULL), 1);
    ck_assert_str_eq(v, "");
    ck_assert_int_eq(mg_query_get(NULL, 0, "limit", v, sizeof(v), NULL), 0);
}
END_TEST

START_TEST(test_query_percent)
{
    char v[16];

    ck_assert_int_eq(get("q=a%20b+c", "q", v, sizeof(v)), 1);
    ck_assert_str_eq(v, "a b c");
    ck_assert_int_eq(get("q=%41%6a%2F", "q", v, sizeof(v)), 1);
    ck_assert_str_eq(v, "Aj/");
    /* keys are decoded too */
    ck_assert_int_eq(get("li%6Dit=4", "limit", v, sizeof(v)), 1);
    ck_assert_str_eq(v, "4");
    /* bad escapes, NUL, too long */
    ck_assert_int_eq(get("q=%", "q", v, sizeof(v)), -1);
    ck_assert_int_eq(get("q=%4", "q", v, sizeof(v)), -1);
    ck_assert_int_eq(get("q=%zz", "q", v, sizeof(v)), -1);
    ck_assert_int_eq(get("q=%00", "q", v, sizeof(v)), -1);
    ck_assert_int_eq(get("q=0123456789abcdef", "q", v, sizeof(v)), -1);
    ck_assert_int_eq(get("q=0123456789abcde", "q", v, sizeof(v)), 1);
    /* a bad escape elsewhere does not matter */
    ck_assert_int_eq(get("x=%zz&q=1", "q", v, sizeof(v)), 1);
}
END_TEST

static mg_verr_t err;

static int
limit(const char *q, long *out)
{
    memset(&err, 0, sizeof(err));
    return mg_query_limit(q, strlen(q), 20, 1, 100, out, &err);
}

START_TEST(test_query_limit)
{
    long v;
    const char *bad[] = { "limit=0", "limit=101", "limit=-1", "limit=abc", "limit=",
                          "limit=1.5", "limit=+5", "limit=%205", "limit=5x",
                          "limit=99999999999999999999999", "limit=%zz", "limit" };

    ck_assert_int_eq(limit("", &v), 0);
    ck_assert_int_eq(v, 20);
    ck_assert_int_eq(limit("other=1", &v), 0);
    ck_assert_int_eq(v, 20);
    ck_assert_int_eq(limit("limit=1", &v), 0);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(limit("limit=100", &v), 0);
    ck_assert_int_eq(v, 100);
    ck_assert_int_eq(limit("limit=007", &v), 0);
    ck_assert_int_eq(v, 7);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(limit(bad[i], &v) == -1, "accepted %s", bad[i]);
        ck_assert_int_eq(err.status, 400);
        ck_assert_str_eq(err.code, "invalid_query");
        ck_assert_str_eq(err.message,
                         "query parameter \"limit\" must be an integer between 1 and 100");
    }
}
END_TEST

START_TEST(test_cursor_round_trip)
{
    mg_cursor_t  c = { 1712345678123456LL, "123e4567-e89b-12d3-a456-426614174000" }, d;
    char         enc[MG_CURSOR_MAX];

    ck_assert_int_eq(mg_cursor_encode(&c, enc), 0);
    ck_assert_uint_eq(strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                      strlen(enc));
    ck_assert_int_eq(mg_cursor_decode(enc, strlen(enc), &d), 0);
    ck_assert(d.ts_us == c.ts_us);
    ck_assert_str_eq(d.id, c.id);

    /* extremes still fit */
    c.ts_us = -9223372036854775807LL - 1;
    ck_assert_int_eq(mg_cursor_encode(&c, enc), 0);
    ck_assert_int_eq(mg_cursor_decode(enc, strlen(enc), &d), 0);
    ck_assert(d.ts_us == c.ts_us);
    c.ts_us = 0;
    ck_assert_int_eq(mg_cursor_encode(&c, enc), 0);
    ck_assert_int_eq(mg_cursor_decode(enc, strlen(enc), &d), 0);
    ck_assert(d.ts_us == 0);

    /* not a uuid: refused */
    snprintf(c.id, sizeof(c.id), "not-a-uuid");
    ck_assert_int_eq(mg_cursor_encode(&c, enc), -1);
}
END_TEST

/* base64url of raw, for hand-made cursors */
#include "mg_base64url.h"
static void
b64(const char *raw, char *out)
{
    mg_b64url_encode((const unsigned char *) raw, strlen(raw), out);
}

START_TEST(test_cursor_decode_rejects)
{
    const char *raws[] = {
        "1712345678123456",                                   /* no separator */
        "|123e4567-e89b-12d3-a456-426614174000",              /* no timestamp */
        "-|123e4567-e89b-12d3-a456-426614174000",
        "+5|123e4567-e89b-12d3-a456-426614174000",
        " 5|123e4567-e89b-12d3-a456-426614174000",
        "5x|123e4567-e89b-12d3-a456-426614174000",
        "99999999999999999999|123e4567-e89b-12d3-a456-426614174000",  /* overflow */
        "5|123e4567-e89b-12d3-a456-42661417400",              /* short uuid */
        "5|123e4567-e89b-12d3-a456-4266141740000",
        "5|123e4567+e89b-12d3-a456-426614174000",
        "5|",
        "5|123e4567-e89b-12d3-a456-426614174000|x",
    };
    mg_cursor_t d;
    char        enc[200];

    for (size_t i = 0; i < sizeof(raws) / sizeof(raws[0]); i++) {
        b64(raws[i], enc);
        ck_assert_msg(mg_cursor_decode(enc, strlen(enc), &d) == -1, "accepted %s", raws[i]);
    }
    ck_assert_int_eq(mg_cursor_decode("", 0, &d), -1);
    ck_assert_int_eq(mg_cursor_decode("!!!!", 4, &d), -1);
    ck_assert_int_eq(mg_cursor_decode("abc=", 4, &d), -1);
    ck_assert_int_eq(mg_cursor_decode(NULL, 0, &d), -1);
    /* a NUL smuggled into the raw text */
    {
        unsigned char raw[] = "5\0|123e4567-e89b-12d3-a456-426614174000";
        mg_b64url_encode(raw, sizeof(raw) - 1, enc);
        ck_assert_int_eq(mg_cursor_decode(enc, strlen(enc), &d), -1);
    }
    /* uppercase uuid is accepted and normalised */
    b64("5|123E4567-E89B-12D3-A456-426614174000", enc);
    ck_assert_int_eq(mg_cursor_decode(enc, strlen(enc), &d), 0);
    ck_assert_str_eq(d.id, "123e4567-e89b-12d3-a456-426614174000");
}
END_TEST

START_TEST(test_query_cursor)
{
    mg_cursor_t  c = { 42, "123e4567-e89b-12d3-a456-426614174000" }, d;
    char         enc[MG_CURSOR_MAX], q[200];
    int          present;

    ck_assert_int_eq(mg_query_cursor("", 0, &d, &present, &err), 0);
    ck_assert_int_eq(present, 0);
    ck_assert_int_eq(mg_query_cursor("cursor=", 7, &d, &present, &err), 0);
    ck_assert_int_eq(present, 0);

    ck_assert_int_eq(mg_cursor_encode(&c, enc), 0);
    snprintf(q, sizeof(q), "limit=2&cursor=%s", enc);
    ck_assert_int_eq(mg_query_cursor(q, strlen(q), &d, &present, &err), 0);
    ck_assert_int_eq(present, 1);
    ck_assert(d.ts_us == 42);

    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(mg_query_cursor("cursor=garbage", 14, &d, &present, &err), -1);
    ck_assert_int_eq(err.status, 400);
    ck_assert_str_eq(err.code, "invalid_query");
    ck_assert_str_eq(err.message, "query parameter \"cursor\" is invalid");
    ck_assert_int_eq(mg_query_cursor("cursor=%zz", 10, &d, &present, &err), -1);

    /* longer than any cursor we make */
    memset(q, 'A', sizeof(q));
    memcpy(q, "cursor=", 7);
    q[sizeof(q) - 1] = '\0';
    ck_assert_int_eq(mg_query_cursor(q, strlen(q), &d, &present, &err), -1);
}
END_TEST

static Suite *
query_suite(void)
{
    Suite *s = suite_create("worker_query");
    TCase *tc = tcase_create("query");

    tcase_add_test(tc, test_query_get);
    tcase_add_test(tc, test_query_percent);
    tcase_add_test(tc, test_query_limit);
    tcase_add_test(tc, test_cursor_round_trip);
    tcase_add_test(tc, test_cursor_decode_rejects);
    tcase_add_test(tc, test_query_cursor);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(query_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
