/* Check tests for the worker's stop sequence (worker/drain.c):
 * MANGOO_STOP_TIMEOUT's parsing, and what the broker is asked to do as
 * signals come and time passes: drain until the stop timeout, end the
 * streams then (at once with a timeout of 0, or on a second signal), and
 * abandon what still runs MG_DRAIN_END_MS later (at once on a third
 * signal). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "drain.h"

START_TEST(timeout_parses_whole_seconds)
{
    long long  ms = -1;
    char       err[160] = "";

    ck_assert_int_eq(mg_drain_parse_timeout(MG_STOP_TIMEOUT_DEFAULT, &ms, err, sizeof(err)), 0);
    ck_assert_int_eq(ms, 25000);
    ck_assert_int_eq(mg_drain_parse_timeout("0", &ms, err, sizeof(err)), 0);
    ck_assert_int_eq(ms, 0);
    ck_assert_int_eq(mg_drain_parse_timeout("3600", &ms, err, sizeof(err)), 0);
    ck_assert_int_eq(ms, 3600000);
    ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(bad_timeouts_are_refused_with_their_reason)
{
    static const char *const bad[] = {
        "-1", "3601", "soon", "", "2s", "1.5", " 5", "99999999999999999999999",
    };
    long long  ms = 42;
    char       err[160];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        ck_assert_msg(mg_drain_parse_timeout(bad[i], &ms, err, sizeof(err)) == -1,
                      "\"%s\" was taken", bad[i]);
        ck_assert_msg(strstr(err, "MANGOO_STOP_TIMEOUT must be an integer between 0 and 3600")
                      != NULL, "%s", err);
        ck_assert_msg(strstr(err, bad[i]) != NULL, "the value is not named: %s", err);
        ck_assert_int_eq(ms, 42);           /* left as it was */
    }
    ck_assert_int_eq(mg_drain_parse_timeout(NULL, &ms, err, sizeof(err)), -1);
}
END_TEST

START_TEST(serving_until_a_signal)
{
    mg_drain_t d;

    mg_drain_init(&d, 25000);
    ck_assert_int_eq(mg_drain_step(&d, 0, 1000), 0);
    ck_assert_int_eq(mg_drain_step(&d, 0, 1000000), 0);
    ck_assert_int_eq(d.phase, MG_DRAIN_SERVING);
    ck_assert_int_eq(mg_drain_wait_ms(&d, 1000000, 1000), 1000);
}
END_TEST

START_TEST(a_signal_drains_until_the_stop_timeout)
{
    mg_drain_t d;

    mg_drain_init(&d, 25000);
    ck_assert_int_eq(mg_drain_step(&d, 1, 1000), MG_DRAIN_BEGIN);
    ck_assert_int_eq(d.phase, MG_DRAIN_DRAINING);
    ck_assert_int_eq(d.begin_ms, 1000);
    /* nothing more to do until the deadline: the streams run on */
    ck_assert_int_eq(mg_drain_step(&d, 1, 1000), 0);
    ck_assert_int_eq(mg_drain_step(&d, 1, 25999), 0);
    ck_assert_int_eq(mg_drain_wait_ms(&d, 25900, 1000), 100);
    ck_assert_int_eq(mg_drain_wait_ms(&d, 2000, 100), 100);

    ck_assert_int_eq(mg_drain_step(&d, 1, 26000), MG_DRAIN_END_STREAMS);
    ck_assert_int_eq(d.phase, MG_DRAIN_ENDING);
    ck_assert_str_eq(d.cause, "stop timeout");
    /* asked once only */
    ck_assert_int_eq(mg_drain_step(&d, 1, 26001), 0);
    ck_assert_int_eq(mg_drain_wait_ms(&d, 26000, 100000), MG_DRAIN_END_MS);

    /* what still runs after the end's grace is left */
    ck_assert_int_eq(mg_drain_step(&d, 1, 26000 + MG_DRAIN_END_MS - 1), 0);
    ck_assert_int_eq(mg_drain_step(&d, 1, 26000 + MG_DRAIN_END_MS), MG_DRAIN_ABANDON);
    ck_assert_int_eq(mg_drain_wait_ms(&d, 30000 + MG_DRAIN_END_MS, 100), 0);
}
END_TEST

START_TEST(a_second_signal_ends_the_streams_at_once)
{
    mg_drain_t d;

    mg_drain_init(&d, 25000);
    ck_assert_int_eq(mg_drain_step(&d, 1, 1000), MG_DRAIN_BEGIN);
    ck_assert_int_eq(mg_drain_step(&d, 2, 3000), MG_DRAIN_END_STREAMS);
    ck_assert_str_eq(d.cause, "second signal");
    ck_assert_int_eq(d.abandon_ms, 3000 + MG_DRAIN_END_MS);
    /* the stop timeout no longer matters */
    ck_assert_int_eq(mg_drain_step(&d, 2, 26000), MG_DRAIN_ABANDON);

    /* a third leaves at once */
    mg_drain_init(&d, 25000);
    ck_assert_int_eq(mg_drain_step(&d, 1, 1000), MG_DRAIN_BEGIN);
    ck_assert_int_eq(mg_drain_step(&d, 2, 1500), MG_DRAIN_END_STREAMS);
    ck_assert_int_eq(mg_drain_step(&d, 3, 1600), MG_DRAIN_ABANDON);
}
END_TEST

START_TEST(signals_that_came_together_count_each)
{
    mg_drain_t d;

    mg_drain_init(&d, 25000);
    ck_assert_int_eq(mg_drain_step(&d, 2, 1000), MG_DRAIN_BEGIN | MG_DRAIN_END_STREAMS);
    ck_assert_str_eq(d.cause, "second signal");

    mg_drain_init(&d, 25000);
    ck_assert_int_eq(mg_drain_step(&d, 3, 1000),
                     MG_DRAIN_BEGIN | MG_DRAIN_END_STREAMS | MG_DRAIN_ABANDON);
}
END_TEST

START_TEST(no_stop_timeout_ends_the_streams_with_the_first_signal)
{
    mg_drain_t d;

    mg_drain_init(&d, 0);
    ck_assert_int_eq(mg_drain_step(&d, 1, 1000), MG_DRAIN_BEGIN | MG_DRAIN_END_STREAMS);
    ck_assert_int_eq(d.phase, MG_DRAIN_ENDING);
    ck_assert_str_eq(d.cause, "no stop timeout");
    ck_assert_int_eq(mg_drain_step(&d, 1, 1000 + MG_DRAIN_END_MS), MG_DRAIN_ABANDON);

    /* a negative timeout is taken as none */
    mg_drain_init(&d, -5);
    ck_assert_int_eq(mg_drain_step(&d, 1, 1000), MG_DRAIN_BEGIN | MG_DRAIN_END_STREAMS);
}
END_TEST

static Suite *
drain_suite(void)
{
    Suite *s = suite_create("drain");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, timeout_parses_whole_seconds);
    tcase_add_test(tc, bad_timeouts_are_refused_with_their_reason);
    tcase_add_test(tc, serving_until_a_signal);
    tcase_add_test(tc, a_signal_drains_until_the_stop_timeout);
    tcase_add_test(tc, a_second_signal_ends_the_streams_at_once);
    tcase_add_test(tc, signals_that_came_together_count_each);
    tcase_add_test(tc, no_stop_timeout_ends_the_streams_with_the_first_signal);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(drain_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
