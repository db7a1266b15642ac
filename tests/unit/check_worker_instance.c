/* Check tests for the worker's instance id (worker/instance.c): it is
 * the owner of the process's turns in flight (CHECK owner > 0) and the key
 * of its advisory lock, so it must be a positive bigint whatever the
 * random bytes, and its text form what the statements are given. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "instance.h"

START_TEST(the_id_is_the_bytes_as_a_positive_bigint)
{
    static const unsigned char b[8] = { 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0 };
    static const unsigned char top[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

    ck_assert_int_eq(mg_instance_id_from(b), 0x123456789abcdef0LL);
    /* the sign bit is dropped, never a negative key */
    ck_assert_int_eq(mg_instance_id_from(top), 0x7fffffffffffffffLL);
}
END_TEST

START_TEST(zero_is_never_an_id)
{
    static const unsigned char zero[8] = { 0 };
    static const unsigned char sign_only[8] = { 0x80, 0, 0, 0, 0, 0, 0, 0 };

    ck_assert_int_eq(mg_instance_id_from(zero), 1);
    ck_assert_int_eq(mg_instance_id_from(sign_only), 1);
}
END_TEST

START_TEST(init_chooses_a_decimal_id)
{
    char        first[MG_INSTANCE_ID_LEN + 1];
    long long   v;
    char       *end;

    ck_assert_str_eq(mg_instance_id(), "");
    ck_assert_int_eq(mg_instance_init(), 0);
    v = strtoll(mg_instance_id(), &end, 10);
    ck_assert_int_gt(v, 0);
    ck_assert_int_eq(*end, '\0');
    snprintf(first, sizeof(first), "%s", mg_instance_id());
    /* 63 random bits: two draws are not the same */
    ck_assert_int_eq(mg_instance_init(), 0);
    ck_assert_str_ne(mg_instance_id(), first);
}
END_TEST

static Suite *
instance_suite(void)
{
    Suite *s = suite_create("instance");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, the_id_is_the_bytes_as_a_positive_bigint);
    tcase_add_test(tc, zero_is_never_an_id);
    tcase_add_test(tc, init_chooses_a_decimal_id);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(instance_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
