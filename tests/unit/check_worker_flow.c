/*
 * check_worker_flow: credit-based flow control (worker/flow.c) over real
 * ZeroMQ sockets: a ROUTER (ZMQ_ROUTER_MANDATORY, as the broker's
 * frontend) and a DEALER in the role of one nginx process, which reads
 * only when the test says so.  Sends within the window go at once; past
 * it they are held in order and the peer is reported blocked; CREDIT
 * releases them and reports it resumed; the window never grows past its
 * cap; a peer that leaves is found out (at once, or by the probe) and
 * what it held is dropped; peers do not hold each other up.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "flow.h"
#include "mg_protocol.h"
#include "util/clock.h"

static void *ctx, *router, *dealer, *dealer2;

/* what flow control reported, in order */
static struct {
    char             peer[16];
    mg_flow_event_t  event;
} events[16];
static int nevents;

static void
on_flow(void *ud, const void *peer, size_t len, mg_flow_event_t event)
{
    (void) ud;
    ck_assert_int_lt(nevents, 16);
    snprintf(events[nevents].peer, sizeof(events[nevents].peer), "%.*s", (int) len,
             (const char *) peer);
    events[nevents++].event = event;
}

static void *
connect_dealer(const char *id)
{
    void *d = zmq_socket(ctx, ZMQ_DEALER);
    int   hwm = 100000, zero = 0;
    char  ping[1];

    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(zmq_setsockopt(d, ZMQ_ROUTING_ID, id, strlen(id)), 0);
    ck_assert_int_eq(zmq_setsockopt(d, ZMQ_RCVHWM, &hwm, sizeof(hwm)), 0);
    ck_assert_int_eq(zmq_setsockopt(d, ZMQ_LINGER, &zero, sizeof(zero)), 0);
    ck_assert_int_eq(zmq_connect(d, "inproc://check-flow"), 0);
    /* the ROUTER knows a peer once a message from it came through */
    ck_assert_int_eq(zmq_send(d, "hi", 2, 0), 2);
    ck_assert_int_eq(zmq_recv(router, ping, 1, 0) > 0, 1);  /* its id */
    ck_assert_int_eq(zmq_recv(router, ping, 1, 0), 2);      /* "hi" */
    return d;
}

static void
setup(void)
{
    int one = 1, hwm = 100000, zero = 0;

    ctx = zmq_ctx_new();
    router = zmq_socket(ctx, ZMQ_ROUTER);
    ck_assert_int_eq(zmq_setsockopt(router, ZMQ_ROUTER_MANDATORY, &one, sizeof(one)), 0);
    ck_assert_int_eq(zmq_setsockopt(router, ZMQ_SNDHWM, &hwm, sizeof(hwm)), 0);
    ck_assert_int_eq(zmq_setsockopt(router, ZMQ_LINGER, &zero, sizeof(zero)), 0);
    ck_assert_int_eq(zmq_bind(router, "inproc://check-flow"), 0);
    dealer = connect_dealer("n1");
    dealer2 = connect_dealer("n2");
    nevents = 0;
}

static void
teardown(void)
{
    if (dealer != NULL) {
        zmq_close(dealer);
    }
    if (dealer2 != NULL) {
        zmq_close(dealer2);
    }
    zmq_close(router);
    zmq_ctx_term(ctx);
    dealer = dealer2 = NULL;
}

/* [peer]["m"][seq] through flow control */
static int
send_seq(mg_flow_t *f, const char *peer, int seq)
{
    zmq_msg_t  parts[3];
    char       num[16];
    int        len = snprintf(num, sizeof(num), "%d", seq);

    zmq_msg_init_size(&parts[0], strlen(peer));
    memcpy(zmq_msg_data(&parts[0]), peer, strlen(peer));
    zmq_msg_init_size(&parts[1], 1);
    memcpy(zmq_msg_data(&parts[1]), "m", 1);
    zmq_msg_init_size(&parts[2], (size_t) len);
    memcpy(zmq_msg_data(&parts[2]), num, (size_t) len);
    return mg_flow_send(f, parts, 3);
}

/* Read what the dealer has: packed frames of [m][seq] messages; check
 * they are from, from+1, ... in order.  Returns the count read; *frames
 * (when not NULL) the ZeroMQ frames they came in. */
static int
read_packed(void *d, int from, int *frames)
{
    int n = 0;

    if (frames != NULL) {
        *frames = 0;
    }
    for (;;) {
        zmq_msg_t  m;
        mg_str_t   f[MG_PROTO_MAX_FRAMES];
        size_t     off = 0;
        int        k;

        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, d, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return n;
        }
        ck_assert(!zmq_msg_more(&m));           /* one part, always */
        if (frames != NULL) {
            (*frames)++;
        }
        while ((k = mg_proto_unpack(zmq_msg_data(&m), zmq_msg_size(&m), &off, f)) > 0) {
            char num[16];

            ck_assert_int_eq(k, 2);
            ck_assert_uint_eq(f[0].len, 1);
            snprintf(num, sizeof(num), "%.*s", (int) f[1].len, f[1].data);
            ck_assert_int_eq(atoi(num), from + n);
            n++;
        }
        ck_assert_int_eq(k, 0);
        zmq_msg_close(&m);
    }
}

static int
read_seq(void *d, int from)
{
    return read_packed(d, from, NULL);
}

START_TEST(test_within_window)
{
    mg_flow_t *f = mg_flow_new(router, on_flow, NULL);

    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(send_seq(f, "n1", i), 0);
    }
    mg_flow_flush(f);
    ck_assert_uint_eq(mg_flow_held(f), 0);
    ck_assert_int_eq(read_seq(dealer, 0), 100);
    ck_assert_int_eq(nevents, 0);
    mg_flow_free(f);
}
END_TEST

START_TEST(test_packed_per_flush)
{
    mg_flow_t *f = mg_flow_new(router, on_flow, NULL);
    int        frames;

    /* one flush: one frame for all of them */
    for (int i = 0; i < 300; i++) {
        ck_assert_int_eq(send_seq(f, "n1", i), 0);
    }
    mg_flow_flush(f);
    ck_assert_int_eq(read_packed(dealer, 0, &frames), 300);
    ck_assert_int_eq(frames, 1);
    /* nothing packed: nothing sent */
    mg_flow_flush(f);
    ck_assert_int_eq(read_packed(dealer, 0, &frames), 0);
    ck_assert_int_eq(frames, 0);
    mg_flow_free(f);
}
END_TEST

START_TEST(test_big_messages_go_at_the_pack_limit)
{
    mg_flow_t *f = mg_flow_new(router, on_flow, NULL);
    zmq_msg_t  parts[3];
    size_t     big = MG_FLOW_PACK_MAX / 2 + 100;
    zmq_msg_t  m;
    int        got = 0;

    /* two messages past the limit: the second sends the pack at once */
    for (int i = 0; i < 2; i++) {
        zmq_msg_init_size(&parts[0], 2);
        memcpy(zmq_msg_data(&parts[0]), "n1", 2);
        zmq_msg_init_size(&parts[1], 1);
        memcpy(zmq_msg_data(&parts[1]), "b", 1);
        zmq_msg_init_size(&parts[2], big);
        memset(zmq_msg_data(&parts[2]), 'x', big);
        ck_assert_int_eq(mg_flow_send(f, parts, 3), 0);
    }
    zmq_msg_init(&m);
    ck_assert_int_ge(zmq_msg_recv(&m, dealer, ZMQ_DONTWAIT), 0);
    for (size_t off = 0; mg_proto_unpack(zmq_msg_data(&m), zmq_msg_size(&m), &off,
                                         (mg_str_t[MG_PROTO_MAX_FRAMES]){ 0 }) == 2; ) {
        got++;
    }
    ck_assert_int_eq(got, 2);
    zmq_msg_close(&m);
    mg_flow_free(f);
}
END_TEST

START_TEST(test_packed_input_spends_credit_per_message)
{
    mg_flow_t *f = mg_flow_new(router, on_flow, NULL);
    char       bytes[32 * 64];
    size_t     len = 0;

    /* the engine's form: 20 messages packed already */
    for (int i = 0; i < 20; i++) {
        char      num[16];
        mg_str_t  fr[2] = { { "m", 1 }, { num, 0 } };

        fr[1].len = (size_t) snprintf(num, sizeof(num), "%d", MG_FLOW_WINDOW - 10 + i);
        mg_proto_pack(fr, 2, bytes + len);
        len += mg_proto_packed_size(fr, 2);
    }
    for (int i = 0; i < MG_FLOW_WINDOW - 10; i++) {
        ck_assert_int_eq(send_seq(f, "n1", i), 0);
    }
    /* ten fit the window, ten are held, each on its own */
    ck_assert_int_eq(mg_flow_send_packed(f, "n1", 2, bytes, len), 0);
    mg_flow_flush(f);
    ck_assert_uint_eq(mg_flow_held(f), 10);
    ck_assert_int_eq(read_seq(dealer, 0), MG_FLOW_WINDOW);
    mg_flow_credit(f, "n1", 2, 3);
    ck_assert_uint_eq(mg_flow_held(f), 7);
    ck_assert_int_eq(read_seq(dealer, MG_FLOW_WINDOW), 3);

    /* a pack cut short: what came whole before the cut still counts */
    ck_assert_int_eq(mg_flow_send_packed(f, "n2", 2, bytes, len - 1), -1);
    mg_flow_flush(f);
    ck_assert_int_eq(read_seq(dealer2, MG_FLOW_WINDOW - 10), 19);
    mg_flow_free(f);
}
END_TEST

START_TEST(test_held_in_order_then_released)
{
    mg_flow_t *f = mg_flow_new(router, on_flow, NULL);
    int        total = MG_FLOW_WINDOW + 10;

    for (int i = 0; i < total; i++) {
        ck_assert_int_eq(send_seq(f, "n1", i), 0);
    }
    mg_flow_flush(f);
    ck_assert_uint_eq(mg_flow_held(f), 10);
    ck_assert_int_eq(nevents, 1);
    ck_assert_str_eq(events[0].peer, "n1");
    ck_assert_int_eq(events[0].event, MG_FLOW_BLOCKED);

    /* a later message waits behind the held ones, never overtakes them */
    ck_assert_int_eq(read_seq(dealer, 0), MG_FLOW_WINDOW);
    ck_assert_int_eq(send_seq(f, "n1", total), 0);
    ck_assert_uint_eq(mg_flow_held(f), 11);

    /* credit for 5: five go, the rest still wait */
    mg_flow_credit(f, "n1", 2, 5);
    ck_assert_uint_eq(mg_flow_held(f), 6);
    ck_assert_int_eq(read_seq(dealer, MG_FLOW_WINDOW), 5);
    ck_assert_int_eq(nevents, 1);

    mg_flow_credit(f, "n1", 2, 512);
    ck_assert_uint_eq(mg_flow_held(f), 0);
    ck_assert_int_eq(read_seq(dealer, MG_FLOW_WINDOW + 5), 6);
    ck_assert_int_eq(nevents, 2);
    ck_assert_int_eq(events[1].event, MG_FLOW_RESUMED);
    mg_flow_free(f);
}
END_TEST

START_TEST(test_window_capped)
{
    mg_flow_t *f = mg_flow_new(router, on_flow, NULL);

    /* credit beyond the window (a late CREDIT, a probe's) is not kept */
    mg_flow_credit(f, "n1", 2, 1000000);
    for (int i = 0; i <= MG_FLOW_WINDOW; i++) {
        ck_assert_int_eq(send_seq(f, "n1", i), 0);
    }
    mg_flow_flush(f);
    ck_assert_uint_eq(mg_flow_held(f), 1);
    ck_assert_int_eq(read_seq(dealer, 0), MG_FLOW_WINDOW);
    mg_flow_free(f);
}
END_TEST

START_TEST(test_peers_independent)
{
    mg_flow_t *f = mg_flow_new(router, on_flow, NULL);

    for (int i = 0; i < MG_FLOW_WINDOW + 3; i++) {
        ck_assert_int_eq(send_seq(f, "n1", i), 0);
    }
    ck_assert_uint_eq(mg_flow_held(f), 3);
    /* n1 holds; n2 is not held up at all */
    for (int i = 0; i < 50; i++) {
        ck_assert_int_eq(send_seq(f, "n2", i), 0);
    }
    mg_flow_flush(f);
    ck_assert_uint_eq(mg_flow_held(f), 3);
    ck_assert_int_eq(read_seq(dealer2, 0), 50);
    ck_assert_int_eq(nevents, 1);
    ck_assert_str_eq(events[0].peer, "n1");
    mg_flow_free(f);
}
END_TEST

START_TEST(test_gone_at_send)
{
    mg_flow_t *f = mg_flow_new(router, on_flow, NULL);

    ck_assert_int_eq(send_seq(f, "nobody", 0), 0);
    ck_assert_int_eq(nevents, 0);
    mg_flow_flush(f);
    ck_assert_int_eq(nevents, 1);
    ck_assert_str_eq(events[0].peer, "nobody");
    ck_assert_int_eq(events[0].event, MG_FLOW_GONE);
    mg_flow_free(f);
}
END_TEST

START_TEST(test_gone_found_by_probe)
{
    mg_flow_t *f = mg_flow_new(router, on_flow, NULL);

    for (int i = 0; i < MG_FLOW_WINDOW + 4; i++) {
        ck_assert_int_eq(send_seq(f, "n1", i), 0);
    }
    mg_flow_flush(f);
    ck_assert_uint_eq(mg_flow_held(f), 4);

    /* alive but silent: the probe sends one past the window, nothing ends */
    mg_flow_tick(f, mg_now_ms() + MG_FLOW_PROBE_MS);
    ck_assert_uint_eq(mg_flow_held(f), 3);
    ck_assert_int_eq(nevents, 1);

    zmq_close(dealer);
    dealer = NULL;
    /* the ROUTER forgets a closed inproc peer once its pipe is torn down */
    for (int i = 0; i < 100 && nevents < 2; i++) {
        struct timespec ms = { 0, 10 * 1000 * 1000 };

        nanosleep(&ms, NULL);
        mg_flow_tick(f, mg_now_ms() + (i + 2) * MG_FLOW_PROBE_MS);
    }
    ck_assert_int_eq(nevents, 2);
    ck_assert_int_eq(events[1].event, MG_FLOW_GONE);
    ck_assert_uint_eq(mg_flow_held(f), 0);
    mg_flow_free(f);
}
END_TEST

START_TEST(test_idle_peer_forgotten)
{
    mg_flow_t *f = mg_flow_new(router, on_flow, NULL);

    for (int i = 0; i < MG_FLOW_WINDOW; i++) {
        ck_assert_int_eq(send_seq(f, "n1", i), 0);
    }
    mg_flow_flush(f);
    ck_assert_int_eq(read_seq(dealer, 0), MG_FLOW_WINDOW);
    /* forgotten after a long silence, it comes back with a whole window */
    mg_flow_tick(f, mg_now_ms() + MG_FLOW_FORGET_MS + 1);
    for (int i = 0; i < MG_FLOW_WINDOW; i++) {
        ck_assert_int_eq(send_seq(f, "n1", i), 0);
    }
    mg_flow_flush(f);
    ck_assert_uint_eq(mg_flow_held(f), 0);
    ck_assert_int_eq(read_seq(dealer, 0), MG_FLOW_WINDOW);
    mg_flow_free(f);
}
END_TEST

START_TEST(test_free_with_held)
{
    mg_flow_t *f = mg_flow_new(router, on_flow, NULL);

    /* what is held when the broker ends is freed with it (valgrind) */
    for (int i = 0; i < MG_FLOW_WINDOW + 20; i++) {
        ck_assert_int_eq(send_seq(f, "n1", i), 0);
    }
    ck_assert_uint_eq(mg_flow_held(f), 20);
    mg_flow_free(f);
}
END_TEST

static Suite *
flow_suite(void)
{
    Suite  *s = suite_create("worker_flow");
    TCase  *tc = tcase_create("flow");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_within_window);
    tcase_add_test(tc, test_packed_per_flush);
    tcase_add_test(tc, test_big_messages_go_at_the_pack_limit);
    tcase_add_test(tc, test_packed_input_spends_credit_per_message);
    tcase_add_test(tc, test_held_in_order_then_released);
    tcase_add_test(tc, test_window_capped);
    tcase_add_test(tc, test_peers_independent);
    tcase_add_test(tc, test_gone_at_send);
    tcase_add_test(tc, test_gone_found_by_probe);
    tcase_add_test(tc, test_idle_peer_forgotten);
    tcase_add_test(tc, test_free_with_held);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(flow_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
