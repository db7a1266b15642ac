/*
 * check_worker_transport: the stream engine's provider connection policy
 * (worker/providers/transport.c): which transfers wait to multiplex on a
 * connection being set up (https:// origins not known to be HTTP/1.1
 * only), what an answer teaches about its origin, forgetting, a full
 * table; and that libcurl takes every option on a multi and an easy
 * handle.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/transport.h"

static CURLM           *multi;
static mg_transport_t  *tp;

static void
setup(void)
{
    char err[128] = "";

    multi = curl_multi_init();
    ck_assert_ptr_nonnull(multi);
    tp = mg_transport_new(multi, err, sizeof(err));
    ck_assert_msg(tp != NULL, "mg_transport_new: %s", err);
}

static void
teardown(void)
{
    curl_multi_cleanup(multi);
    mg_transport_free(tp);
}

START_TEST(test_only_https_waits)
{
    ck_assert_int_eq(mg_transport_wait(tp, "https://bedrock.example:443/model/x", 0), 1);
    ck_assert_int_eq(mg_transport_wait(tp, "HTTPS://bedrock.example/model/x", 0), 1);
    ck_assert_int_eq(mg_transport_wait(tp, "http://127.0.0.1:9000/model/x", 0), 0);
    ck_assert_int_eq(mg_transport_wait(tp, "https:///nohost", 0), 0);
    ck_assert_int_eq(mg_transport_wait(tp, NULL, 0), 0);
}
END_TEST

START_TEST(test_http1_origin_stops_waiting_then_is_forgotten)
{
    const char *a = "https://a.example:8443/model/m/converse-stream";

    mg_transport_note(tp, a, 1, 1000);
    ck_assert_int_eq(mg_transport_wait(tp, a, 1000), 0);
    /* the same origin by another path, not another port or host */
    ck_assert_int_eq(mg_transport_wait(tp, "https://a.example:8443/v1/chat?x=1", 2000), 0);
    ck_assert_int_eq(mg_transport_wait(tp, "https://a.example:8444/v1", 2000), 1);
    ck_assert_int_eq(mg_transport_wait(tp, "https://b.example:8443/v1", 2000), 1);
    /* seen again: the clock restarts */
    mg_transport_note(tp, a, 1, 1000 + MG_TRANSPORT_H1_FORGET_MS);
    ck_assert_int_eq(mg_transport_wait(tp, a, 1000 + MG_TRANSPORT_H1_FORGET_MS + 10), 0);
    /* not seen for longer than the forget time: tried with h2 again */
    ck_assert_int_eq(mg_transport_wait(tp, a, 1001 + 2 * MG_TRANSPORT_H1_FORGET_MS), 1);
}
END_TEST

START_TEST(test_http2_answer_clears_the_origin)
{
    const char *a = "https://a.example/x";

    mg_transport_note(tp, a, 1, 5);
    ck_assert_int_eq(mg_transport_wait(tp, a, 6), 0);
    mg_transport_note(tp, a, 2, 7);
    ck_assert_int_eq(mg_transport_wait(tp, a, 8), 1);
    mg_transport_note(tp, "http://plain.example/x", 1, 9);     /* not https: nothing kept */
    ck_assert_int_eq(mg_transport_wait(tp, "https://plain.example/x", 10), 1);
}
END_TEST

START_TEST(test_full_table_drops_the_oldest)
{
    char url[64];

    for (int i = 0; i < MG_TRANSPORT_H1_ORIGINS; i++) {
        snprintf(url, sizeof(url), "https://h%d.example/", i);
        mg_transport_note(tp, url, 1, 100 + i);
    }
    mg_transport_note(tp, "https://new.example/", 1, 200);
    ck_assert_int_eq(mg_transport_wait(tp, "https://new.example/", 201), 0);
    ck_assert_int_eq(mg_transport_wait(tp, "https://h0.example/", 201), 1);     /* the oldest */
    for (int i = 1; i < MG_TRANSPORT_H1_ORIGINS; i++) {
        snprintf(url, sizeof(url), "https://h%d.example/", i);
        ck_assert_msg(mg_transport_wait(tp, url, 201) == 0, "%s was dropped", url);
    }
}
END_TEST

START_TEST(test_easy_options_taken)
{
    CURL *easy = curl_easy_init();
    long  version = 0;

    ck_assert_ptr_nonnull(easy);
    curl_easy_setopt(easy, CURLOPT_URL, "https://127.0.0.1:9/x");
    ck_assert_int_eq(mg_transport_easy(tp, easy, "/nonexistent/ca.pem", 1000, 0), 0);
    ck_assert_int_eq(mg_transport_easy(tp, easy, NULL, 1000, 0), 0);
    /* no answer yet: nothing is learned, the origin still waits */
    mg_transport_learn(tp, easy, 0);
    ck_assert_int_eq(curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version), CURLE_OK);
    ck_assert_int_eq(version, 0);
    ck_assert_int_eq(mg_transport_wait(tp, "https://127.0.0.1:9/x", 0), 1);
    curl_easy_cleanup(easy);
}
END_TEST

static Suite *
transport_suite(void)
{
    Suite *s = suite_create("transport");
    TCase *tc = tcase_create("policy");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_only_https_waits);
    tcase_add_test(tc, test_http1_origin_stops_waiting_then_is_forgotten);
    tcase_add_test(tc, test_http2_answer_clears_the_origin);
    tcase_add_test(tc, test_full_table_drops_the_oldest);
    tcase_add_test(tc, test_easy_options_taken);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(transport_suite());
    int      failed;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
