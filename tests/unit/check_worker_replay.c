/* Check tests for an answer's log of recent events (worker/replay.c): what
 * a resume gets after any id is byte for byte what was sent then, deltas
 * written again from the answer's text; the oldest dropped (and reported
 * gone) when the log is full, its size within the limit; an event too big
 * to hold; ids from the future refused; Last-Event-ID's parsing. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"

/* An answer as the engine makes it: the text so far, each event as sent
 * (with its id line) and where each began in `sent`. */
typedef struct {
    mg_replay_t  r;
    char         text[65536];
    size_t       text_len;
    char         sent[1 << 20];
    size_t       sent_len;
    size_t       at[4096];          /* at[id] */
} answer_t;

static answer_t *
answer_new(void)
{
    answer_t *a = calloc(1, sizeof(*a));

    ck_assert_ptr_nonnull(a);
    return a;
}

static void
answer_free(answer_t *a)
{
    mg_replay_free(&a->r);
    free(a);
}

static void
delta(answer_t *a, const char *piece, size_t max)
{
    size_t len = strlen(piece);

    memcpy(a->text + a->text_len, piece, len);
    a->text_len += len;
    a->at[a->r.last + 1] = a->sent_len;
    a->sent_len += mg_replay_id_line(&a->r, a->sent + a->sent_len);
    a->sent_len += mg_replay_delta_event(a->sent + a->sent_len, piece, len);
    ck_assert_int_eq(mg_replay_add_delta(&a->r, a->text_len, max), 0);
}

static void
other(answer_t *a, const char *ev, size_t max)
{
    size_t len = strlen(ev);

    a->at[a->r.last + 1] = a->sent_len;
    a->sent_len += mg_replay_id_line(&a->r, a->sent + a->sent_len);
    memcpy(a->sent + a->sent_len, ev, len);
    a->sent_len += len;
    ck_assert_int_eq(mg_replay_add_event(&a->r, ev, len, max), 0);
}

/* What a resume after seen gets equals what was sent after it. */
static void
check_since(answer_t *a, uint32_t seen)
{
    mg_sb_t  out = { 0 };
    char    *got;
    size_t   len;

    ck_assert_int_eq(mg_replay_since(&a->r, seen, a->text, &out), MG_REPLAY_EVENTS);
    len = out.len;
    got = mg_sb_done(&out);
    if (seen == a->r.last) {
        ck_assert_uint_eq(len, 0);
    } else {
        size_t from = a->at[seen + 1];

        ck_assert_ptr_nonnull(got);
        ck_assert_uint_eq(len, a->sent_len - from);
        ck_assert_msg(memcmp(got, a->sent + from, len) == 0, "after %u: %.*s", seen,
                      (int) len, got);
    }
    free(got);
}

START_TEST(a_resume_gets_what_was_sent_after_its_id)
{
    answer_t *a = answer_new();

    other(a, "event: start\ndata: {\"chat_id\":\"c\"}\n\n", 16384);
    delta(a, "Hello ", 16384);
    delta(a, "\"w\xc3\xa9\"\n", 16384);
    other(a, "event: tool_call\ndata: {\"id\":\"t1\"}\n\n", 16384);
    delta(a, "\n\n", 16384);
    delta(a, "again", 16384);
    ck_assert_uint_eq(a->r.last, 6);
    for (uint32_t seen = 0; seen <= 6; seen++) {
        check_since(a, seen);
    }
    /* a delta costs its entry, not its bytes */
    ck_assert_uint_le(a->r.other_len, 80);
    answer_free(a);
}
END_TEST

START_TEST(a_full_log_drops_the_oldest_half_and_says_so)
{
    answer_t  *a = answer_new();
    mg_sb_t    out = { 0 };
    char       ev[64];

    for (int i = 0; i < 300; i++) {
        if (i % 10 == 0) {
            snprintf(ev, sizeof(ev), "event: agent\ndata: {\"n\":%d}\n\n", i);
            other(a, ev, 512);
        } else {
            delta(a, "0123456789 ", 512);
        }
        ck_assert_uint_le(a->r.n * 4 + a->r.other_len, 512);
    }
    ck_assert_uint_eq(a->r.last, 300);
    ck_assert_uint_gt(a->r.first, 1);
    /* everything from first on is held, as sent */
    for (uint32_t seen = a->r.first - 1; seen <= 300; seen++) {
        check_since(a, seen);
    }
    ck_assert_int_eq(mg_replay_since(&a->r, a->r.first - 2, a->text, &out), MG_REPLAY_GONE);
    ck_assert_int_eq(mg_replay_since(&a->r, 0, a->text, &out), MG_REPLAY_GONE);
    ck_assert_uint_eq(out.len, 0);
    answer_free(a);
}
END_TEST

START_TEST(an_event_bigger_than_the_log_is_not_held)
{
    answer_t  *a = answer_new();
    mg_sb_t    out = { 0 };
    char       big[600];

    delta(a, "one ", 256);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    other(a, big, 256);
    ck_assert_int_eq(mg_replay_since(&a->r, 1, a->text, &out), MG_REPLAY_GONE);
    check_since(a, 2);
    /* the deltas after it are held, their text where it is */
    delta(a, "two ", 256);
    delta(a, "three", 256);
    check_since(a, 2);
    check_since(a, 3);
    ck_assert_int_eq(mg_replay_since(&a->r, 1, a->text, &out), MG_REPLAY_GONE);
    answer_free(a);
}
END_TEST

START_TEST(ids_not_given_out_yet_are_ahead_and_skipped_ones_are_gone)
{
    answer_t  *a = answer_new();
    mg_sb_t    out = { 0 };

    ck_assert_int_eq(mg_replay_since(&a->r, 0, a->text, &out), MG_REPLAY_EVENTS);
    ck_assert_int_eq(mg_replay_since(&a->r, 1, a->text, &out), MG_REPLAY_AHEAD);
    delta(a, "x", 1024);
    ck_assert_int_eq(mg_replay_since(&a->r, 2, a->text, &out), MG_REPLAY_AHEAD);
    ck_assert_int_eq(mg_replay_since(&a->r, 4000000000u, a->text, &out), MG_REPLAY_AHEAD);
    mg_replay_skip(&a->r);
    ck_assert_uint_eq(a->r.last, 2);
    ck_assert_int_eq(mg_replay_since(&a->r, 0, a->text, &out), MG_REPLAY_GONE);
    ck_assert_uint_eq(out.len, 0);
    answer_free(a);
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

    tcase_add_test(tc, a_resume_gets_what_was_sent_after_its_id);
    tcase_add_test(tc, a_full_log_drops_the_oldest_half_and_says_so);
    tcase_add_test(tc, an_event_bigger_than_the_log_is_not_held);
    tcase_add_test(tc, ids_not_given_out_yet_are_ahead_and_skipped_ones_are_gone);
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
