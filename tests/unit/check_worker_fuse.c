/* Check tests for reciprocal rank fusion (worker/knowledge/fuse.c): the
 * scores, the vector half re-ranked by distance, full-text-only chunks,
 * the threshold, top_k and the tie-breaks. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knowledge/fuse.h"

static mg_ranked_t
row(const char *id, double dist)
{
    mg_ranked_t r;

    snprintf(r.id, sizeof(r.id), "%s", id);
    r.dist = dist;
    return r;
}

START_TEST(first_in_both_scores_one)
{
    mg_ranked_t  vec[] = { row("a", 0.1), row("b", 0.2) };
    mg_ranked_t  txt[] = { row("a", 0.1), row("c", 0.5) };
    mg_fused_t   out[4];
    size_t       n = mg_fuse(vec, 2, txt, 2, 0.0, 10, out);

    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(out[0].id, "a");
    ck_assert(fabs(out[0].score - 1.0) < 1e-12);
    ck_assert_int_eq(out[0].rank_vec, 1);
    ck_assert_int_eq(out[0].rank_txt, 1);
    /* b: second of the vector half only; c: second of the full-text half
     * only: the same score, so the more similar goes first */
    ck_assert(fabs(out[1].score - 61.0 / 2 / 62) < 1e-12);
    ck_assert(fabs(out[1].score - out[2].score) < 1e-12);
    ck_assert_str_eq(out[1].id, "b");
    ck_assert_str_eq(out[2].id, "c");
    ck_assert_int_eq(out[2].rank_vec, 0);
    ck_assert_int_eq(out[2].rank_txt, 2);
    ck_assert(fabs(out[2].dist - 0.5) < 1e-12);
}
END_TEST

START_TEST(vector_half_is_ranked_by_distance_again)
{
    /* relaxed_order: rows may come slightly out of order */
    mg_ranked_t  vec[] = { row("far", 0.4), row("near", 0.1), row("mid", 0.2) };
    mg_fused_t   out[3];
    size_t       n = mg_fuse(vec, 3, NULL, 0, 0.0, 10, out);

    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(out[0].id, "near");
    ck_assert_str_eq(out[1].id, "mid");
    ck_assert_str_eq(out[2].id, "far");
    ck_assert_int_eq(out[2].rank_vec, 3);
}
END_TEST

START_TEST(agreement_beats_one_half)
{
    /* x is third in both halves, y first in the vector half only */
    mg_ranked_t  vec[] = { row("y", 0.1), row("p", 0.2), row("x", 0.3) };
    mg_ranked_t  txt[] = { row("q", 0.6), row("r", 0.7), row("x", 0.3) };
    mg_fused_t   out[6];
    size_t       n = mg_fuse(vec, 3, txt, 3, 0.0, 1, out);

    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(out[0].id, "x");
}
END_TEST

START_TEST(threshold_and_top_k)
{
    mg_ranked_t  vec[] = { row("a", 0.1), row("b", 0.5), row("c", 0.9) };
    mg_ranked_t  txt[] = { row("d", 1.5) };     /* opposite: similarity 0 */
    mg_fused_t   out[4];
    size_t       n = mg_fuse(vec, 3, txt, 1, 0.45, 10, out);

    ck_assert_uint_eq(n, 2);                    /* c (0.1) and d (0) fall */
    ck_assert_str_eq(out[0].id, "a");
    ck_assert_str_eq(out[1].id, "b");
    ck_assert_uint_eq(mg_fuse(vec, 3, txt, 1, 0.0, 2, out), 2);
    ck_assert_uint_eq(mg_fuse(vec, 3, txt, 1, 0.0, 0, out), 0);
    ck_assert_uint_eq(mg_fuse(vec, 0, txt, 0, 0.0, 5, out), 0);
}
END_TEST

START_TEST(similarity_is_clamped)
{
    ck_assert(mg_fuse_similarity(-0.25) == 1.0);
    ck_assert(mg_fuse_similarity(1.5) == 0.0);
    ck_assert(fabs(mg_fuse_similarity(0.25) - 0.75) < 1e-12);
}
END_TEST

START_TEST(equal_scores_and_similarity_go_by_id)
{
    mg_ranked_t  vec[] = { row("m", 0.3) };
    mg_ranked_t  txt[] = { row("k", 0.3) };
    mg_fused_t   out[2];

    ck_assert_uint_eq(mg_fuse(vec, 1, txt, 1, 0.0, 5, out), 2);
    ck_assert_str_eq(out[0].id, "k");
    ck_assert_str_eq(out[1].id, "m");
}
END_TEST

static Suite *
fuse_suite(void)
{
    Suite *s = suite_create("fuse");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, first_in_both_scores_one);
    tcase_add_test(tc, vector_half_is_ranked_by_distance_again);
    tcase_add_test(tc, agreement_beats_one_half);
    tcase_add_test(tc, threshold_and_top_k);
    tcase_add_test(tc, similarity_is_clamped);
    tcase_add_test(tc, equal_scores_and_similarity_go_by_id);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(fuse_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
