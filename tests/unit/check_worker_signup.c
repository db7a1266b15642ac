/*
 * check_worker_signup: signup.c's pure pieces: group names, domain
 * names, the e-mail allow-list (exact domain, any case), invitation codes
 * and taking an array member out of a body.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/jobs.h"

static int
group(const char *s)
{
    return mg_signup_group_valid(s, strlen(s));
}

static int
domain(const char *s)
{
    return mg_signup_domain_valid(s, strlen(s));
}

START_TEST(test_group_names)
{
    char long_name[200];

    ck_assert(group("publishers"));
    ck_assert(group("team-a"));
    ck_assert(group("Team_A.1"));
    ck_assert(group("équipe"));              /* UTF-8 is printable */
    ck_assert(group("x"));
    ck_assert(!group(""));
    ck_assert(!group("a b"));
    ck_assert(!group("tab\there"));
    ck_assert(!group("nl\n"));
    ck_assert(!group("del\x7f"));
    ck_assert(!group("admin"));              /* the role says that */
    ck_assert(group("Admin"));               /* not "admin": a group like any */
    ck_assert(!group("bad\xff"));            /* not UTF-8 */
    ck_assert(!mg_signup_group_valid("a\0b", 3));

    memset(long_name, 'g', 128);
    long_name[128] = '\0';
    ck_assert(group(long_name));
    long_name[128] = 'g';
    long_name[129] = '\0';
    ck_assert(!group(long_name));
}
END_TEST

START_TEST(test_group_lists)
{
    json_t *g;

    g = json_loads("[]", 0, NULL);
    ck_assert(mg_signup_groups_valid(g));
    json_decref(g);
    g = json_loads("[\"a\",\"b\"]", 0, NULL);
    ck_assert(mg_signup_groups_valid(g));
    json_decref(g);
    g = json_loads("[\"a\",1]", 0, NULL);
    ck_assert(!mg_signup_groups_valid(g));
    json_decref(g);
    g = json_loads("{\"a\":1}", 0, NULL);
    ck_assert(!mg_signup_groups_valid(g));
    json_decref(g);
    ck_assert(!mg_signup_groups_valid(NULL));

    g = json_array();
    for (int i = 0; i < 20; i++) {
        json_array_append_new(g, json_string("g"));
    }
    ck_assert(mg_signup_groups_valid(g));
    json_array_append_new(g, json_string("g"));
    ck_assert(!mg_signup_groups_valid(g));
    json_decref(g);
}
END_TEST

START_TEST(test_domain_names)
{
    char d[300];

    ck_assert(domain("example.com"));
    ck_assert(domain("Example.COM"));
    ck_assert(domain("a-b.example.co.uk"));
    ck_assert(domain("localhost"));
    ck_assert(domain("123.example"));
    ck_assert(!domain(""));
    ck_assert(!domain("@example.com"));
    ck_assert(!domain("user@example.com"));
    ck_assert(!domain("example.com."));
    ck_assert(!domain(".example.com"));
    ck_assert(!domain("a..b"));
    ck_assert(!domain("-a.com"));
    ck_assert(!domain("a-.com"));
    ck_assert(!domain("a.com-"));
    ck_assert(!domain("not a domain"));
    ck_assert(!domain("under_score.com"));
    ck_assert(!domain("exämple.com"));
    ck_assert(!mg_signup_domain_valid("a\0b.com", 7));

    memset(d, 'a', 63);
    strcpy(d + 63, ".com");
    ck_assert(domain(d));
    memset(d, 'a', 64);
    strcpy(d + 64, ".com");
    ck_assert(!domain(d));

    /* 253 in all is the most */
    for (int i = 0; i < 252; i += 2) {
        d[i] = 'a';
        d[i + 1] = '.';
    }
    d[252] = 'a';
    d[253] = '\0';
    ck_assert(domain(d));
    d[253] = 'a';
    d[254] = '\0';
    ck_assert(!domain(d));
}
END_TEST

START_TEST(test_email_allow_list)
{
    json_t *none = json_array();
    json_t *list = json_loads("[\"example.com\",\"corp.example.org\"]", 0, NULL);

    /* no list: anyone, with or without an address */
    ck_assert(mg_signup_email_allowed(NULL, none));
    ck_assert(mg_signup_email_allowed("x@anywhere.net", none));

    ck_assert(mg_signup_email_allowed("ann@example.com", list));
    ck_assert(mg_signup_email_allowed("Ann@EXAMPLE.Com", list));
    ck_assert(mg_signup_email_allowed("bob@corp.example.org", list));
    ck_assert(!mg_signup_email_allowed(NULL, list));
    ck_assert(!mg_signup_email_allowed("ann@example.net", list));
    ck_assert(!mg_signup_email_allowed("ann@sub.example.com", list));     /* exact domain */
    ck_assert(!mg_signup_email_allowed("ann@example.org", list));
    ck_assert(!mg_signup_email_allowed("ann@example.com.evil.net", list));
    ck_assert(!mg_signup_email_allowed("ann@notexample.com", list));
    ck_assert(!mg_signup_email_allowed("example.com", list));             /* no '@' */
    ck_assert(!mg_signup_email_allowed("ann@", list));
    /* the last '@' starts the domain */
    ck_assert(!mg_signup_email_allowed("ann@example.com@evil.net", list));

    json_decref(none);
    json_decref(list);
}
END_TEST

START_TEST(test_invitation_codes)
{
    char a[MG_INVITE_CODE_LEN + 1], b[MG_INVITE_CODE_LEN + 1];

    ck_assert_int_eq(mg_invite_code_new(a), 0);
    ck_assert_int_eq(mg_invite_code_new(b), 0);
    ck_assert_uint_eq(strlen(a), MG_INVITE_CODE_LEN);
    ck_assert(strncmp(a, "mgi_", 4) == 0);
    ck_assert_str_ne(a, b);
    ck_assert(mg_invite_code_wellformed(a, strlen(a)));
    ck_assert(!mg_invite_code_wellformed(a, strlen(a) - 1));
    a[0] = 'x';
    ck_assert(!mg_invite_code_wellformed(a, strlen(a)));
    /* a refresh token has the same length, not the same prefix */
    memcpy(b, "mgr_", 4);
    ck_assert(!mg_invite_code_wellformed(b, strlen(b)));
    b[0] = 'm';
    memcpy(b, "mgi_", 4);
    b[10] = '!';
    ck_assert(!mg_invite_code_wellformed(b, strlen(b)));
}
END_TEST

START_TEST(test_take_array)
{
    json_t  *arr, *rest_v;
    char    *rest;
    size_t   len;
    const char *body = "{\"groups\":[\"a\"],\"role\":\"user\"}";

    ck_assert_int_eq(mg_body_take_array(body, strlen(body), "groups", &arr, &rest, &len), 0);
    ck_assert(json_is_array(arr));
    ck_assert_uint_eq(json_array_size(arr), 1);
    rest_v = json_loadb(rest, len, 0, NULL);
    ck_assert_ptr_nonnull(rest_v);
    ck_assert_uint_eq(json_object_size(rest_v), 1);
    ck_assert_ptr_null(json_object_get(rest_v, "groups"));
    json_decref(rest_v);
    json_decref(arr);
    free(rest);

    /* absent, or no object: the body goes on as it is */
    body = "{\"role\":\"user\"}";
    ck_assert_int_eq(mg_body_take_array(body, strlen(body), "groups", &arr, &rest, &len), 0);
    ck_assert_ptr_null(arr);
    ck_assert_str_eq(rest, body);
    free(rest);
    body = "not json";
    ck_assert_int_eq(mg_body_take_array(body, strlen(body), "groups", &arr, &rest, &len), 0);
    ck_assert_ptr_null(arr);
    ck_assert_str_eq(rest, body);
    ck_assert_uint_eq(len, strlen(body));
    free(rest);
    /* a duplicate key is no valid body either */
    body = "{\"groups\":[],\"groups\":[\"admin\"]}";
    ck_assert_int_eq(mg_body_take_array(body, strlen(body), "groups", &arr, &rest, &len), 0);
    ck_assert_ptr_null(arr);
    free(rest);
    ck_assert_int_eq(mg_body_take_array("", 0, "groups", &arr, &rest, &len), 0);
    ck_assert_ptr_null(arr);
    ck_assert_uint_eq(len, 0);
    free(rest);
}
END_TEST

static Suite *
signup_suite(void)
{
    Suite  *s = suite_create("worker_signup");
    TCase  *tc = tcase_create("pure");

    tcase_add_test(tc, test_group_names);
    tcase_add_test(tc, test_group_lists);
    tcase_add_test(tc, test_domain_names);
    tcase_add_test(tc, test_email_allow_list);
    tcase_add_test(tc, test_invitation_codes);
    tcase_add_test(tc, test_take_array);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(signup_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
