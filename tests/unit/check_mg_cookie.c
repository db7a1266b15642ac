/*
 * check_mg_cookie: the session cookie's pure pieces (shared/mg_cookie.c):
 * finding a cookie in a Cookie header as browsers write it (several
 * cookies, blanks, quotes, look-alike names), the values allowed, the
 * loopback decision behind Secure, and the Set-Cookie text.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mg_cookie.h"

/* The value of name in header as a NUL-terminated copy, or NULL. */
static const char *
find(const char *header, const char *name)
{
    static char   out[256];
    const char   *v;
    size_t        len;

    if (!mg_cookie_find(header, strlen(header), name, &v, &len)) {
        return NULL;
    }
    ck_assert_uint_lt(len, sizeof(out));
    memcpy(out, v, len);
    out[len] = '\0';
    return out;
}

START_TEST(test_find_among_several)
{
    ck_assert_str_eq(find("mangoo_refresh=abc", "mangoo_refresh"), "abc");
    ck_assert_str_eq(find("a=1; mangoo_refresh=abc; b=2", "mangoo_refresh"), "abc");
    ck_assert_str_eq(find("a=1;mangoo_refresh=abc;b=2", "mangoo_refresh"), "abc");
    ck_assert_str_eq(find("a=1;   mangoo_refresh = abc  ;b=2", "mangoo_refresh"), "abc");
    ck_assert_str_eq(find("a=1; mangoo_refresh=abc", "a"), "1");
    ck_assert_str_eq(find("a=1; mangoo_refresh=abc", "mangoo_refresh"), "abc");
    /* the first one wins (browsers send the most specific path first) */
    ck_assert_str_eq(find("mangoo_refresh=first; mangoo_refresh=second", "mangoo_refresh"),
                     "first");
    /* a value may contain '=' (base64 padding) */
    ck_assert_str_eq(find("x=1; mangoo_refresh=ab==; y", "mangoo_refresh"), "ab==");
    /* quoted values are unquoted */
    ck_assert_str_eq(find("mangoo_refresh=\"abc\"", "mangoo_refresh"), "abc");
    /* empty value */
    ck_assert_str_eq(find("mangoo_refresh=; a=1", "mangoo_refresh"), "");
}
END_TEST

START_TEST(test_find_rejects_look_alikes)
{
    ck_assert_ptr_null(find("", "mangoo_refresh"));
    ck_assert_ptr_null(find("a=1; b=2", "mangoo_refresh"));
    ck_assert_ptr_null(find("xmangoo_refresh=abc", "mangoo_refresh"));
    ck_assert_ptr_null(find("mangoo_refreshx=abc", "mangoo_refresh"));
    ck_assert_ptr_null(find("Mangoo_Refresh=abc", "mangoo_refresh"));
    ck_assert_ptr_null(find("mangoo_refresh", "mangoo_refresh"));
    ck_assert_ptr_null(find("a=mangoo_refresh=abc", "mangoo_refresh"));
    ck_assert_ptr_null(find(";;; ;", "mangoo_refresh"));
    /* the header's length bounds the search, not a NUL */
    {
        const char  *h = "a=1; mangoo_refresh=abc";
        const char  *v;
        size_t       len;

        ck_assert_int_eq(mg_cookie_find(h, 6, "mangoo_refresh", &v, &len), 0);
        ck_assert_int_eq(mg_cookie_find(h, strlen(h) - 1, "mangoo_refresh", &v, &len), 1);
        ck_assert_uint_eq(len, 2);
    }
}
END_TEST

START_TEST(test_value_valid)
{
    char big[MG_COOKIE_VALUE_MAX + 2];

    ck_assert_int_eq(mg_cookie_value_valid("mgr_abc-DEF_123", 15), 1);
    ck_assert_int_eq(mg_cookie_value_valid("eyJ.a-b_c.d~e+f/g=", 18), 1);
    ck_assert_int_eq(mg_cookie_value_valid("", 0), 0);
    ck_assert_int_eq(mg_cookie_value_valid("a b", 3), 0);
    ck_assert_int_eq(mg_cookie_value_valid("a;b", 3), 0);
    ck_assert_int_eq(mg_cookie_value_valid("a,b", 3), 0);
    ck_assert_int_eq(mg_cookie_value_valid("a\"b", 3), 0);
    ck_assert_int_eq(mg_cookie_value_valid("a\\b", 3), 0);
    ck_assert_int_eq(mg_cookie_value_valid("a\rb", 3), 0);
    ck_assert_int_eq(mg_cookie_value_valid("a\nSet-Cookie: x=y", 17), 0);
    ck_assert_int_eq(mg_cookie_value_valid("a\0b", 3), 0);
    ck_assert_int_eq(mg_cookie_value_valid("\xc3\xa9", 2), 0);
    memset(big, 'a', sizeof(big));
    ck_assert_int_eq(mg_cookie_value_valid(big, MG_COOKIE_VALUE_MAX), 1);
    ck_assert_int_eq(mg_cookie_value_valid(big, MG_COOKIE_VALUE_MAX + 1), 0);
}
END_TEST

static int
loopback(const char *host)
{
    return mg_host_is_loopback(host, strlen(host));
}

START_TEST(test_loopback_hosts)
{
    ck_assert_int_eq(loopback("127.0.0.1"), 1);
    ck_assert_int_eq(loopback("127.0.0.1:8080"), 1);
    ck_assert_int_eq(loopback("localhost"), 1);
    ck_assert_int_eq(loopback("LocalHost:3000"), 1);
    ck_assert_int_eq(loopback("localhost."), 1);
    ck_assert_int_eq(loopback("localhost.:80"), 1);
    ck_assert_int_eq(loopback("[::1]"), 1);
    ck_assert_int_eq(loopback("[::1]:65535"), 1);

    ck_assert_int_eq(loopback(""), 0);
    ck_assert_int_eq(loopback("example.com"), 0);
    ck_assert_int_eq(loopback("example.com:8080"), 0);
    ck_assert_int_eq(loopback("127.0.0.10"), 0);
    ck_assert_int_eq(loopback("127.0.0.1.example.com"), 0);
    ck_assert_int_eq(loopback("localhost.example.com"), 0);
    ck_assert_int_eq(loopback("localhostx"), 0);
    ck_assert_int_eq(loopback("localhost:"), 0);
    ck_assert_int_eq(loopback("localhost:80x"), 0);
    ck_assert_int_eq(loopback("localhost:123456"), 0);
    ck_assert_int_eq(loopback("::1"), 0);
    ck_assert_int_eq(loopback("[::1]x"), 0);
    ck_assert_int_eq(loopback("10.0.0.1"), 0);
    /* the length bounds the host: "127.0.0.1" inside a longer buffer */
    ck_assert_int_eq(mg_host_is_loopback("127.0.0.1.evil", 9), 1);
    ck_assert_int_eq(mg_host_is_loopback("127.0.0.1", 8), 0);
}
END_TEST

START_TEST(test_format)
{
    char out[MG_COOKIE_HEADER_MAX];
    int  n;

    n = mg_cookie_format(out, sizeof(out), MG_COOKIE_REFRESH, "mgr_abc", 7, 2592000, 1);
    ck_assert_str_eq(out, "mangoo_refresh=mgr_abc; Path=/api/v1/auth; Max-Age=2592000; "
                          "HttpOnly; SameSite=Strict; Secure");
    ck_assert_int_eq(n, (int) strlen(out));

    n = mg_cookie_format(out, sizeof(out), MG_COOKIE_REFRESH, "mgr_abc", 7, 60, 0);
    ck_assert_str_eq(out, "mangoo_refresh=mgr_abc; Path=/api/v1/auth; Max-Age=60; "
                          "HttpOnly; SameSite=Strict");
    ck_assert_int_eq(n, (int) strlen(out));

    /* clearing */
    ck_assert_int_gt(mg_cookie_format(out, sizeof(out), MG_COOKIE_REFRESH, NULL, 0, 0, 1), 0);
    ck_assert_str_eq(out, "mangoo_refresh=; Path=/api/v1/auth; Max-Age=0; "
                          "HttpOnly; SameSite=Strict; Secure");

    /* only the first vlen bytes */
    ck_assert_int_gt(mg_cookie_format(out, sizeof(out), "c", "abcdef", 3, 1, 0), 0);
    ck_assert_str_eq(out, "c=abc; Path=/api/v1/auth; Max-Age=1; HttpOnly; SameSite=Strict");

    /* nothing that could split the header or smuggle attributes */
    ck_assert_int_eq(mg_cookie_format(out, sizeof(out), "c", "a; Domain=x", 11, 1, 0), -1);
    ck_assert_int_eq(mg_cookie_format(out, sizeof(out), "c", "a\r\nX: y", 7, 1, 0), -1);
    ck_assert_int_eq(mg_cookie_format(out, sizeof(out), "c", "abc", 3, -1, 0), -1);
    /* too small a buffer is an error, not a truncated cookie */
    ck_assert_int_eq(mg_cookie_format(out, 20, "c", "abc", 3, 1, 0), -1);
}
END_TEST

int
main(void)
{
    Suite   *s = suite_create("mg_cookie");
    TCase   *tc = tcase_create("cookie");
    SRunner *sr;
    int      failed;

    tcase_add_test(tc, test_find_among_several);
    tcase_add_test(tc, test_find_rejects_look_alikes);
    tcase_add_test(tc, test_value_valid);
    tcase_add_test(tc, test_loopback_hosts);
    tcase_add_test(tc, test_format);
    suite_add_tcase(s, tc);

    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
