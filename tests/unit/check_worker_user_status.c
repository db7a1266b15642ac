/*
 * check_worker_user_status: the user status cache (worker/identity/user_status.c):
 * lookups, the generation rule that keeps a stale database read from
 * overwriting a newer invalidation, trust (bypass while the listener is
 * down, emptied when it comes back), the size bound, and probe runs
 * kept intact by eviction.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity/user_status.h"

static mg_ustatus_cache_t *
new_cache(size_t slots)
{
    mg_ustatus_cache_t  init = MG_USTATUS_INITIALIZER(slots);
    mg_ustatus_cache_t *c = malloc(sizeof(*c));

    ck_assert_ptr_nonnull(c);
    memcpy(c, &init, sizeof(*c));
    return c;
}

static void
free_cache(mg_ustatus_cache_t *c)
{
    mg_ustatus_reset(c);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

START_TEST(test_untrusted_cache_is_bypassed)
{
    mg_ustatus_cache_t *c = new_cache(64);
    uint64_t            gen;

    /* before the listener listens: nothing is stored, everything misses */
    ck_assert_int_eq(mg_ustatus_get(c, "u1", &gen), MG_USTATUS_MISS);
    mg_ustatus_put(c, "u1", MG_USTATUS_ACTIVE, gen);
    ck_assert_int_eq(mg_ustatus_get(c, "u1", &gen), MG_USTATUS_MISS);
    ck_assert_uint_eq(mg_ustatus_count(c), 0);
    ck_assert_int_eq(mg_ustatus_trusted(c), 0);

    mg_ustatus_set_trusted(c, 1);
    ck_assert_int_eq(mg_ustatus_get(c, "u1", &gen), MG_USTATUS_MISS);
    mg_ustatus_put(c, "u1", MG_USTATUS_ACTIVE, gen);
    ck_assert_int_eq(mg_ustatus_get(c, "u1", &gen), MG_USTATUS_ACTIVE);

    /* the listener lost its connection: emptied and bypassed */
    mg_ustatus_set_trusted(c, 0);
    ck_assert_uint_eq(mg_ustatus_count(c), 0);
    ck_assert_int_eq(mg_ustatus_get(c, "u1", &gen), MG_USTATUS_MISS);
    mg_ustatus_put(c, "u1", MG_USTATUS_ACTIVE, gen);
    ck_assert_int_eq(mg_ustatus_get(c, "u1", &gen), MG_USTATUS_MISS);
    free_cache(c);
}
END_TEST

START_TEST(test_statuses_round_trip)
{
    mg_ustatus_cache_t *c = new_cache(64);
    uint64_t            gen;

    mg_ustatus_set_trusted(c, 1);
    (void) mg_ustatus_get(c, "a", &gen);
    mg_ustatus_put(c, "a", MG_USTATUS_ACTIVE, gen);
    mg_ustatus_put(c, "d", MG_USTATUS_DISABLED, gen);
    mg_ustatus_put(c, "x", MG_USTATUS_DELETED, gen);
    mg_ustatus_put(c, "m", MG_USTATUS_MISS, gen);       /* never stored */
    ck_assert_int_eq(mg_ustatus_get(c, "a", &gen), MG_USTATUS_ACTIVE);
    ck_assert_int_eq(mg_ustatus_get(c, "d", &gen), MG_USTATUS_DISABLED);
    ck_assert_int_eq(mg_ustatus_get(c, "x", &gen), MG_USTATUS_DELETED);
    ck_assert_int_eq(mg_ustatus_get(c, "m", &gen), MG_USTATUS_MISS);
    ck_assert_int_eq(mg_ustatus_get(c, "", &gen), MG_USTATUS_MISS);
    ck_assert_uint_eq(mg_ustatus_count(c), 3);

    /* a newer read replaces the status of an id already there */
    mg_ustatus_put(c, "a", MG_USTATUS_DISABLED, gen);
    ck_assert_int_eq(mg_ustatus_get(c, "a", &gen), MG_USTATUS_DISABLED);
    ck_assert_uint_eq(mg_ustatus_count(c), 3);
    free_cache(c);
}
END_TEST

START_TEST(test_stale_read_is_not_stored)
{
    mg_ustatus_cache_t *c = new_cache(64);
    uint64_t            gen, gen2;

    mg_ustatus_set_trusted(c, 1);

    /* a request misses and reads "active" from the database; meanwhile
     * an admin disables the user and the notification arrives: the read
     * it started before must not be cached */
    ck_assert_int_eq(mg_ustatus_get(c, "u", &gen), MG_USTATUS_MISS);
    mg_ustatus_forget(c, "u");
    mg_ustatus_put(c, "u", MG_USTATUS_ACTIVE, gen);
    ck_assert_int_eq(mg_ustatus_get(c, "u", &gen2), MG_USTATUS_MISS);

    /* any eviction counts (the rule is per cache, not per id) */
    mg_ustatus_forget(c, "someone-else");
    mg_ustatus_put(c, "u", MG_USTATUS_ACTIVE, gen2);
    ck_assert_int_eq(mg_ustatus_get(c, "u", &gen), MG_USTATUS_MISS);

    /* so does a trust change, even back to trusted */
    mg_ustatus_set_trusted(c, 0);
    mg_ustatus_set_trusted(c, 1);
    mg_ustatus_put(c, "u", MG_USTATUS_ACTIVE, gen);
    ck_assert_int_eq(mg_ustatus_get(c, "u", &gen), MG_USTATUS_MISS);

    /* with nothing in between it is stored */
    mg_ustatus_put(c, "u", MG_USTATUS_ACTIVE, gen);
    ck_assert_int_eq(mg_ustatus_get(c, "u", &gen), MG_USTATUS_ACTIVE);
    free_cache(c);
}
END_TEST

START_TEST(test_notifications_evict)
{
    mg_ustatus_cache_t *c = new_cache(64);
    uint64_t            gen;

    mg_ustatus_set_trusted(c, 1);
    (void) mg_ustatus_get(c, "a", &gen);
    mg_ustatus_put(c, "a", MG_USTATUS_ACTIVE, gen);
    mg_ustatus_put(c, "b", MG_USTATUS_ACTIVE, gen);
    mg_ustatus_put(c, "c", MG_USTATUS_ACTIVE, gen);

    mg_ustatus_forget(c, "b");
    ck_assert_int_eq(mg_ustatus_get(c, "a", &gen), MG_USTATUS_ACTIVE);
    ck_assert_int_eq(mg_ustatus_get(c, "b", &gen), MG_USTATUS_MISS);
    ck_assert_int_eq(mg_ustatus_get(c, "c", &gen), MG_USTATUS_ACTIVE);
    ck_assert_uint_eq(mg_ustatus_count(c), 2);

    /* unknown ids and over-long ids are harmless */
    mg_ustatus_forget(c, "nobody");
    {
        char long_id[MG_USTATUS_ID_MAX + 10];

        memset(long_id, 'x', sizeof(long_id) - 1);
        long_id[sizeof(long_id) - 1] = '\0';
        mg_ustatus_forget(c, long_id);
        (void) mg_ustatus_get(c, long_id, &gen);
        mg_ustatus_put(c, long_id, MG_USTATUS_ACTIVE, gen);
        ck_assert_int_eq(mg_ustatus_get(c, long_id, &gen), MG_USTATUS_MISS);
    }
    ck_assert_uint_eq(mg_ustatus_count(c), 2);

    /* "" is everyone (TRUNCATE, or an id too long for a payload) */
    mg_ustatus_forget(c, "");
    ck_assert_uint_eq(mg_ustatus_count(c), 0);
    ck_assert_int_eq(mg_ustatus_get(c, "a", &gen), MG_USTATUS_MISS);
    free_cache(c);
}
END_TEST

START_TEST(test_eviction_keeps_probe_runs)
{
    /* 16 slots, 8 ids: collisions are certain; removing any one id must
     * leave every other one findable */
    char                ids[8][8];
    uint64_t            gen;

    for (int victim = 0; victim < 8; victim++) {
        mg_ustatus_cache_t *c = new_cache(16);

        mg_ustatus_set_trusted(c, 1);
        (void) mg_ustatus_get(c, "x", &gen);
        for (int i = 0; i < 7; i++) {
            snprintf(ids[i], sizeof(ids[i]), "id%d", i);
            mg_ustatus_put(c, ids[i], MG_USTATUS_ACTIVE, gen);
        }
        ck_assert_uint_eq(mg_ustatus_count(c), 7);
        if (victim < 7) {
            mg_ustatus_forget(c, ids[victim]);
        }
        for (int i = 0; i < 7; i++) {
            ck_assert_int_eq(mg_ustatus_get(c, ids[i], &gen),
                             i == victim ? MG_USTATUS_MISS : MG_USTATUS_ACTIVE);
        }
        free_cache(c);
    }
}
END_TEST

START_TEST(test_cache_is_bounded)
{
    mg_ustatus_cache_t *c = new_cache(64);
    uint64_t            gen;
    char                id[32];

    mg_ustatus_set_trusted(c, 1);
    (void) mg_ustatus_get(c, "x", &gen);
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "user-%d", i);
        mg_ustatus_put(c, id, MG_USTATUS_ACTIVE, gen);
        ck_assert_uint_le(mg_ustatus_count(c), 32);
        /* the one just stored is always there */
        ck_assert_int_eq(mg_ustatus_get(c, id, &gen), MG_USTATUS_ACTIVE);
    }
    free_cache(c);
}
END_TEST

START_TEST(test_process_cache_resets)
{
    uint64_t gen;

    mg_ustatus_set_trusted(&mg_user_statuses, 1);
    (void) mg_ustatus_get(&mg_user_statuses, "p", &gen);
    mg_ustatus_put(&mg_user_statuses, "p", MG_USTATUS_DISABLED, gen);
    ck_assert_int_eq(mg_ustatus_get(&mg_user_statuses, "p", &gen), MG_USTATUS_DISABLED);
    mg_ustatus_reset(&mg_user_statuses);
    ck_assert_int_eq(mg_ustatus_trusted(&mg_user_statuses), 0);
    ck_assert_int_eq(mg_ustatus_get(&mg_user_statuses, "p", &gen), MG_USTATUS_MISS);
    ck_assert_uint_eq(mg_ustatus_count(&mg_user_statuses), 0);
}
END_TEST

/* ---- many threads at once ---- */

static mg_ustatus_cache_t *shared_cache;

static void *
hammer(void *arg)
{
    long      k = (long) arg;
    char      id[32];
    uint64_t  gen;

    for (int i = 0; i < 2000; i++) {
        snprintf(id, sizeof(id), "u%ld-%d", k, i % 50);
        if (mg_ustatus_get(shared_cache, id, &gen) == MG_USTATUS_MISS) {
            mg_ustatus_put(shared_cache, id, MG_USTATUS_ACTIVE, gen);
        }
        if (i % 97 == 0) {
            mg_ustatus_forget(shared_cache, id);
        }
    }
    return NULL;
}

START_TEST(test_concurrent_use)
{
    pthread_t t[4];

    shared_cache = new_cache(128);
    mg_ustatus_set_trusted(shared_cache, 1);
    for (long i = 0; i < 4; i++) {
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, (void *) i), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
    }
    ck_assert_uint_le(mg_ustatus_count(shared_cache), 64);
    free_cache(shared_cache);
}
END_TEST

static Suite *
user_status_suite(void)
{
    Suite *s = suite_create("worker_user_status");
    TCase *tc = tcase_create("cache");

    tcase_add_test(tc, test_untrusted_cache_is_bypassed);
    tcase_add_test(tc, test_statuses_round_trip);
    tcase_add_test(tc, test_stale_read_is_not_stored);
    tcase_add_test(tc, test_notifications_evict);
    tcase_add_test(tc, test_eviction_keeps_probe_runs);
    tcase_add_test(tc, test_cache_is_bounded);
    tcase_add_test(tc, test_process_cache_resets);
    tcase_add_test(tc, test_concurrent_use);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(user_status_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
