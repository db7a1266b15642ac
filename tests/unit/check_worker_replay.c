/* Check tests for an answer's replay buffer (worker/replay.c): ids in
 * order, the events after any id the client saw, the oldest dropped (and
 * reported gone) when the buffer is full, ids from the future refused,
 * and Last-Event-ID's parsing. */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"

/* Add one event "id: N\nevent: message\ndata: <body>\n\n"; its length. */
static size_t
add(mg_replay_t *r, const char *body, size_t max)
{
    char    ev[4096];
    size_t  n = mg_replay_id_line(r, ev);

    n += (size_t) snprintf(ev + n, sizeof(ev) - n, "event: message\ndata: %s\n\n", body);
    ck_assert_int_eq(mg_replay_add(r, ev, n, max), 0);
    return n;
}

/* The ids of the events in [at, at+len), comma-separated. */
static void
ids(const char *at, size_t len, char *out, size_t cap)
{
    size_t o = 0;

    out[0] = '\0';
    for (const char *p = at; p < at + len;) {
        const char *end = memmem(p, (size_t) (at + len - p), "\n\n", 2);
        unsigned    id = 0;

        ck_assert_ptr_nonnull(end);
        ck_assert_int_eq(strncmp(p, "id: ", 4), 0);
        for (p += 4; *p >= '0' && *p <= '9'; p++) {
            id = id * 10 + (unsigned) (*p - '0');
        }
        ck_assert_int_eq(*p, '\n');
        o += (size_t) snprintf(out + o, cap - o, "%s%u", o ? "," : "", id);
        p = end + 2;
    }
}

START_TEST(events_after_what_was_seen_in_order)
{
    mg_replay_t  r = { 0 };
    const char  *at;
    size_t       len;
    char         got[256];

    for (int i = 0; i < 5; i++) {
        add(&r, "{\"content\":\"x\"}", 4096);
    }
    ck_assert_uint_eq(r.last, 5);
    for (uint32_t seen = 0; seen <= 5; seen++) {
        char want[64] = "";
        size_t o = 0;

        for (uint32_t id = seen + 1; id <= 5; id++) {
            o += (size_t) snprintf(want + o, sizeof(want) - o, "%s%u", o ? "," : "", id);
        }
        ck_assert_int_eq(mg_replay_since(&r, seen, &at, &len), MG_REPLAY_EVENTS);
        ids(at, len, got, sizeof(got));
        ck_assert_str_eq(got, want);
    }
    mg_replay_free(&r);
}
END_TEST

START_TEST(a_full_buffer_drops_the_oldest_half_and_says_so)
{
    mg_replay_t  r = { 0 };
    const char  *at;
    size_t       len, one = 0;
    char         got[1024];

    for (int i = 0; i < 40; i++) {
        one = add(&r, "{\"content\":\"0123456789\"}", 400);
        ck_assert_uint_le(r.len, 400);
        ck_assert_uint_le(r.cap, 400);
    }
    ck_assert_uint_eq(r.last, 40);
    ck_assert_uint_gt(r.first, 1);
    /* everything from first on is held, whole */
    ck_assert_int_eq(mg_replay_since(&r, r.first - 1, &at, &len), MG_REPLAY_EVENTS);
    ck_assert_uint_eq(len, (r.last - r.first + 1) * one);
    ck_assert_int_eq(mg_replay_since(&r, r.first - 2, &at, &len), MG_REPLAY_GONE);
    ck_assert_int_eq(mg_replay_since(&r, 0, &at, &len), MG_REPLAY_GONE);
    ck_assert_int_eq(mg_replay_since(&r, 39, &at, &len), MG_REPLAY_EVENTS);
    ids(at, len, got, sizeof(got));
    ck_assert_str_eq(got, "40");
    mg_replay_free(&r);
}
END_TEST

START_TEST(an_event_bigger_than_the_buffer_is_not_held)
{
    mg_replay_t  r = { 0 };
    const char  *at;
    size_t       len;
    char         big[600];

    add(&r, "{}", 256);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    add(&r, big, 256);
    ck_assert_uint_eq(r.last, 2);
    ck_assert_int_eq(mg_replay_since(&r, 1, &at, &len), MG_REPLAY_GONE);
    ck_assert_int_eq(mg_replay_since(&r, 2, &at, &len), MG_REPLAY_EVENTS);
    ck_assert_uint_eq(len, 0);
    add(&r, "{}", 256);
    ck_assert_int_eq(mg_replay_since(&r, 2, &at, &len), MG_REPLAY_EVENTS);
    ck_assert_uint_gt(len, 0);
    ck_assert_int_eq(mg_replay_since(&r, 1, &at, &len), MG_REPLAY_GONE);
    mg_replay_free(&r);
}
END_TEST

START_TEST(ids_not_given_out_yet_are_ahead)
{
    mg_replay_t  r = { 0 };
    const char  *at;
    size_t       len;

    ck_assert_int_eq(mg_replay_since(&r, 0, &at, &len), MG_REPLAY_EVENTS);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(mg_replay_since(&r, 1, &at, &len), MG_REPLAY_AHEAD);
    add(&r, "{}", 1024);
    ck_assert_int_eq(mg_replay_since(&r, 2, &at, &len), MG_REPLAY_AHEAD);
    ck_assert_int_eq(mg_replay_since(&r, 4000000000u, &at, &len), MG_REPLAY_AHEAD);
    mg_replay_free(&r);
}
END_TEST

START_TEST(last_event_id_parses_digits_only)
{
    static const char *const bad[] = { "", "-1", "1.5", " 1", "1 ", "abc", "4294967296",
                                       "99999999999", "0x10" };
    uint32_t id = 7;

    ck_assert_int_eq(mg_replay_parse_id("0", 1, &id), 0);
    ck_assert_uint_eq(id, 0);
    ck_assert_int_eq(mg_replay_parse_id("4294967295", 10, &id), 0);
    ck_assert_uint_eq(id, 4294967295u);
    ck_assert_int_eq(mg_replay_parse_id("0042", 4, &id), 0);
    ck_assert_uint_eq(id, 42);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(mg_replay_parse_id(bad[i], strlen(bad[i]), &id) == -1, "\"%s\" taken", bad[i]);
    }
}
END_TEST

static Suite *
replay_suite(void)
{
    Suite *s = suite_create("replay");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, events_after_what_was_seen_in_order);
    tcase_add_test(tc, a_full_buffer_drops_the_oldest_half_and_says_so);
    tcase_add_test(tc, an_event_bigger_than_the_buffer_is_not_held);
    tcase_add_test(tc, ids_not_given_out_yet_are_ahead);
    tcase_add_test(tc, last_event_id_parses_digits_only);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(replay_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
