/*
 * check_worker_password: scrypt hashing and verification (worker/
 * password.c) and the password policy.  Most cases use small parameters
 * (ln=4) so the suite stays quick under valgrind; one round trip uses the
 * defaults and checks the stored string's shape.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_base64url.h"
#include "identity/password.h"

#define PW      "Correct-Horse-9"
#define PW_LEN  (sizeof(PW) - 1)

static char  stored[MG_PASSWORD_HASH_MAX];

static void
hash_small(const char *pw)
{
    ck_assert_int_eq(mg_password_hash_with(pw, strlen(pw), 4, 8, 1, stored, sizeof(stored)), 0);
}

START_TEST(test_default_round_trip)
{
    mg_scrypt_params_t p;

    ck_assert_int_eq(mg_password_hash(PW, PW_LEN, stored, sizeof(stored)), 0);
    ck_assert_msg(strncmp(stored, "$scrypt$ln=15,r=8,p=1$", 22) == 0, "%s", stored);
    /* 16-byte salt, 32-byte hash, base64url without padding */
    ck_assert_uint_eq(strlen(stored), 22 + 22 + 1 + 43);
    ck_assert_ptr_null(strpbrk(stored + 22, "+/="));
    ck_assert_int_eq(mg_password_parse(stored, &p), 0);
    ck_assert_uint_eq(p.salt_len, MG_SCRYPT_SALT_LEN);
    ck_assert_uint_eq(p.hash_len, MG_SCRYPT_HASH_LEN);
    ck_assert_int_eq(mg_password_verify(PW, PW_LEN, stored), 1);
}
END_TEST

START_TEST(test_wrong_password)
{
    hash_small(PW);
    ck_assert_int_eq(mg_password_verify(PW, PW_LEN, stored), 1);
    ck_assert_int_eq(mg_password_verify("Correct-Horse-8", PW_LEN, stored), 0);
    ck_assert_int_eq(mg_password_verify(PW, PW_LEN - 1, stored), 0);      /* prefix */
    ck_assert_int_eq(mg_password_verify("", 0, stored), 0);
    ck_assert_int_eq(mg_password_verify(NULL, 0, stored), 0);
    /* every byte counts, NULs included */
    ck_assert_int_eq(mg_password_hash_with("a\0b", 3, 4, 8, 1, stored, sizeof(stored)), 0);
    ck_assert_int_eq(mg_password_verify("a\0b", 3, stored), 1);
    ck_assert_int_eq(mg_password_verify("a\0c", 3, stored), 0);
    ck_assert_int_eq(mg_password_verify("a", 1, stored), 0);
}
END_TEST

START_TEST(test_salted)
{
    char first[MG_PASSWORD_HASH_MAX];

    hash_small(PW);
    memcpy(first, stored, sizeof(first));
    hash_small(PW);
    ck_assert_str_ne(first, stored);
    ck_assert_int_eq(mg_password_verify(PW, PW_LEN, first), 1);
    ck_assert_int_eq(mg_password_verify(PW, PW_LEN, stored), 1);
}
END_TEST

START_TEST(test_parameters_parsed)
{
    mg_scrypt_params_t p;

    /* verification uses the string's parameters, not the defaults */
    ck_assert_int_eq(mg_password_hash_with(PW, PW_LEN, 5, 4, 2, stored, sizeof(stored)), 0);
    ck_assert_msg(strncmp(stored, "$scrypt$ln=5,r=4,p=2$", 21) == 0, "%s", stored);
    ck_assert_int_eq(mg_password_parse(stored, &p), 0);
    ck_assert_uint_eq(p.ln, 5);
    ck_assert_uint_eq(p.r, 4);
    ck_assert_uint_eq(p.p, 2);
    ck_assert_int_eq(mg_password_verify(PW, PW_LEN, stored), 1);

    /* the same salt and hash under other parameters is another hash */
    {
        char other[MG_PASSWORD_HASH_MAX];

        snprintf(other, sizeof(other), "$scrypt$ln=6,r=4,p=2$%s", strchr(stored + 9, '$') + 1);
        ck_assert_int_eq(mg_password_verify(PW, PW_LEN, other), 0);
    }

    /* the dummy hash costs what a real one does */
    ck_assert_int_eq(mg_password_parse(mg_password_dummy_hash, &p), 0);
    ck_assert_uint_eq(p.ln, MG_SCRYPT_LN);
    ck_assert_uint_eq(p.r, MG_SCRYPT_R);
    ck_assert_uint_eq(p.p, MG_SCRYPT_P);
    ck_assert_uint_eq(p.salt_len, MG_SCRYPT_SALT_LEN);
    ck_assert_uint_eq(p.hash_len, MG_SCRYPT_HASH_LEN);
}
END_TEST

START_TEST(test_tampered)
{
    mg_scrypt_params_t  p;
    char                t[MG_PASSWORD_HASH_MAX];
    size_t              n;
    const char         *salt = "AAAAAAAAAAAAAAAAAAAAAA";              /* 16 bytes */
    const char         *hash = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"; /* 32 */
    static const char  *bad[] = {
        "",
        "$scrypt$",
        "$argon2id$v=19$m=65536,t=3,p=4$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=15,r=8$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=15,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=15,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$",
        "$scrypt$ln=15,r=8,p=1$$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=015,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=0,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=21,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=20,r=32,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=16,r=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=15,r=8,p=17$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=15,r=-8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=15,r=8,p=1,x=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        /* padding, standard alphabet, short salt, short hash, trailing junk */
        "$scrypt$ln=15,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=15,r=8,p=1$AAAAAAAAAAAAAAAAAAAA+/$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=15,r=8,p=1$AAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=15,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=15,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA$",
        "$scrypt$ln=15,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA ",
        /* non-canonical trailing bits */
        "$scrypt$ln=15,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAB$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    };

    snprintf(t, sizeof(t), "$scrypt$ln=15,r=8,p=1$%s$%s", salt, hash);
    ck_assert_int_eq(mg_password_parse(t, &p), 0);
    ck_assert_int_eq(mg_password_parse(NULL, &p), -1);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(mg_password_parse(bad[i], &p) == -1, "accepted \"%s\"", bad[i]);
        ck_assert_int_eq(mg_password_verify(PW, PW_LEN, bad[i]), -1);
    }

    /* a real hash with one character of the hash or salt changed no longer matches */
    hash_small(PW);
    n = strlen(stored);
    memcpy(t, stored, n + 1);
    t[n - 2] = t[n - 2] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(mg_password_verify(PW, PW_LEN, t), 0);
    memcpy(t, stored, n + 1);
    t[strlen("$scrypt$ln=4,r=8,p=1$")] ^= 1;
    ck_assert_int_eq(mg_password_verify(PW, PW_LEN, t), mg_password_parse(t, &p) == 0 ? 0 : -1);
}
END_TEST

START_TEST(test_hash_refuses_bad_params)
{
    ck_assert_int_eq(mg_password_hash_with(PW, PW_LEN, 0, 8, 1, stored, sizeof(stored)), -1);
    ck_assert_int_eq(mg_password_hash_with(PW, PW_LEN, 21, 8, 1, stored, sizeof(stored)), -1);
    ck_assert_int_eq(mg_password_hash_with(PW, PW_LEN, 4, 0, 1, stored, sizeof(stored)), -1);
    ck_assert_int_eq(mg_password_hash_with(PW, PW_LEN, 4, 8, 0, stored, sizeof(stored)), -1);
    /* no room for the string */
    ck_assert_int_eq(mg_password_hash_with(PW, PW_LEN, 4, 8, 1, stored, 40), -1);
}
END_TEST

static char msg[128];

static int
policy(const char *pw)
{
    msg[0] = '\0';
    return mg_password_policy(pw, strlen(pw), msg, sizeof(msg));
}

START_TEST(test_policy)
{
    char  long_pw[300];

    ck_assert_int_eq(policy("Abcdefg1!"), 0);
    ck_assert_int_eq(policy("Aa1!aaaa"), 0);                     /* 8: the minimum */
    ck_assert_int_eq(policy("Aa1 aaaa"), 0);                     /* an inner space is a symbol */
    ck_assert_int_eq(policy("Aa1^$*.[]{}()?-\"!@#%&/\\,><':;|_~`+="), 0);

    ck_assert_int_eq(policy("Aa1!aaa"), -1);
    ck_assert_str_eq(msg, "must be 8 to 256 characters long");
    ck_assert_int_eq(policy(""), -1);
    ck_assert_str_eq(msg, "must be 8 to 256 characters long");

    ck_assert_int_eq(policy("ABCDEFG1!"), -1);
    ck_assert_str_eq(msg, "must contain a lowercase letter (a-z)");
    ck_assert_int_eq(policy("abcdefg1!"), -1);
    ck_assert_str_eq(msg, "must contain an uppercase letter (A-Z)");
    ck_assert_int_eq(policy("Abcdefgh!"), -1);
    ck_assert_str_eq(msg, "must contain a digit (0-9)");
    ck_assert_int_eq(policy("Abcdefgh1"), -1);
    ck_assert_str_eq(msg, "must contain a symbol such as ! @ # $ % ^ & * or a space");
    /* leading and trailing spaces are not symbols */
    ck_assert_int_eq(policy(" Abcdefgh1"), -1);
    ck_assert_int_eq(policy("Abcdefgh1 "), -1);
    /* non-ASCII letters are none of the four classes */
    ck_assert_int_eq(policy("Äbcdefgh1!"), -1);
    ck_assert_str_eq(msg, "must contain an uppercase letter (A-Z)");

    /* characters, not bytes: 8 characters in 16 bytes pass, 257 fail */
    ck_assert_int_eq(policy("Aa1!ééé\xc3\xa9"), 0);
    memset(long_pw, 'a', 252);
    memcpy(long_pw + 252, "A1!", 4);
    ck_assert_int_eq(policy(long_pw), 0);                        /* 255 */
    long_pw[255] = 'b';
    long_pw[256] = '\0';
    ck_assert_int_eq(policy(long_pw), 0);                        /* 256 */
    long_pw[256] = 'c';
    long_pw[257] = '\0';
    ck_assert_int_eq(policy(long_pw), -1);                       /* 257 */

    ck_assert_int_eq(mg_password_policy("Aa1!a\0aaa", 9, msg, sizeof(msg)), -1);
    ck_assert_str_eq(msg, "must not contain a NUL character");
}
END_TEST

static Suite *
password_suite(void)
{
    Suite  *s = suite_create("worker_password");
    TCase  *tc = tcase_create("password");

    /* the default-parameter KDF is slow under valgrind */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_default_round_trip);
    tcase_add_test(tc, test_wrong_password);
    tcase_add_test(tc, test_salted);
    tcase_add_test(tc, test_parameters_parsed);
    tcase_add_test(tc, test_tampered);
    tcase_add_test(tc, test_hash_refuses_bad_params);
    tcase_add_test(tc, test_policy);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner  *sr = srunner_create(password_suite());
    int       failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
