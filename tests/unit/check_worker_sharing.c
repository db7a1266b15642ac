/*
 * check_worker_sharing: the pure parts of bot sharing (jobs/bot_sharing.c):
 * the ?days= of a bot's usage.  The routes themselves are driven end to end
 * by tests/e2e/test_sharing.py.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/jobs.h"

static int
days_of(const char *query, long *days)
{
    return mg_bot_usage_days(query, strlen(query), days);
}

START_TEST(days_default_and_range)
{
    long d = -1;

    ck_assert_int_eq(days_of("", &d), 0);
    ck_assert_int_eq(d, 30);
    ck_assert_int_eq(days_of("other=5", &d), 0);
    ck_assert_int_eq(d, 30);
    ck_assert_int_eq(days_of("days=1", &d), 0);
    ck_assert_int_eq(d, 1);
    ck_assert_int_eq(days_of("x=1&days=366", &d), 0);
    ck_assert_int_eq(d, 366);
    ck_assert_int_eq(days_of("days=007", &d), 0);
    ck_assert_int_eq(d, 7);
    ck_assert_int_eq(days_of("days=7&days=900", &d), 0);     /* the first wins */
    ck_assert_int_eq(d, 7);
}
END_TEST

START_TEST(days_refused)
{
    static const char *const bad[] = {
        "days=", "days=0", "days=367", "days=-1", "days=+5", "days= 5", "days=5 ",
        "days=1.5", "days=abc", "days=99999999999999999999999", "days=%ZZ", "days=3x",
    };
    long d;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(days_of(bad[i], &d) == -1, "%s accepted", bad[i]);
    }
}
END_TEST

int
main(void)
{
    Suite    *s = suite_create("worker_sharing");
    TCase    *tc = tcase_create("days");
    SRunner  *sr;
    int       failed;

    tcase_add_test(tc, days_default_and_range);
    tcase_add_test(tc, days_refused);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
