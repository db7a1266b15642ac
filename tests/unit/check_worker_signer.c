/*
 * check_worker_signer: the worker's access token signer (worker/identity/signer.c)
 * over a real key directory, and key rotation and retirement (worker/
 * tokens.c): tokens verify against the directory's jwks.json, a rotation
 * is picked up after the check interval, a retired key leaves the key set,
 * the current key cannot be retired.  Keys are RSA-2048, generated here.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "mg_jwt.h"
#include "identity/signer.h"
#include "identity/tokens.h"

static char dir[64];

static void
setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/check-signer-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
    DIR            *d = opendir(dir);
    struct dirent  *e;
    char            path[512];

    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    rmdir(dir);
}

static mg_jwks_t *
load_jwks(void)
{
    char        path[512], err[128], *text;
    FILE       *f;
    long        n;
    mg_jwks_t  *jwks;

    snprintf(path, sizeof(path), "%s/jwks.json", dir);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = malloc((size_t) n + 1);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(fread(text, 1, (size_t) n, f), (size_t) n);
    fclose(f);
    jwks = mg_jwks_parse(text, (size_t) n, err, sizeof(err));
    free(text);
    ck_assert_msg(jwks != NULL, "%s", err);
    return jwks;
}

/* Sign a small claim set; the token must verify against jwks.json and
 * carry expect_kid. */
static void
sign_and_verify(mg_signer_t *s, const char *expect_kid)
{
    json_t           *claims, *back = NULL;
    char             *token, kid[MG_JWK_KID_MAX + 1], hkid[MG_JWK_KID_MAX + 1];
    mg_jwks_t        *jwks;
    mg_jwt_policy_t   policy = { "iss-t", "client-t", "access", (long long) time(NULL), 30 };

    claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "sub", "u-1", "iss", "iss-t",
                       "client_id", "client-t", "token_use", "access",
                       "iat", (json_int_t) time(NULL), "exp", (json_int_t) time(NULL) + 60);
    token = mg_signer_sign(s, claims, kid);
    ck_assert_ptr_nonnull(token);
    ck_assert_str_eq(kid, expect_kid);

    jwks = load_jwks();
    ck_assert_int_eq(mg_jwt_verify(token, strlen(token), jwks, &policy, &back, hkid), MG_JWT_OK);
    ck_assert_str_eq(hkid, expect_kid);
    ck_assert_str_eq(json_string_value(json_object_get(back, "sub")), "u-1");

    json_decref(back);
    mg_jwks_free(jwks);
    free(token);
    json_decref(claims);
}

START_TEST(test_no_key)
{
    mg_signer_t  *s = mg_signer_new(dir, 0);
    json_t       *claims = json_pack("{s:s}", "sub", "x");
    char          kid[MG_JWK_KID_MAX + 1];

    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_null(mg_signer_sign(s, claims, NULL));
    ck_assert_ptr_null(mg_signer_sign(s, claims, NULL));    /* logged once, still NULL */
    ck_assert_int_eq(mg_keys_current(dir, kid), 0);
    ck_assert_int_eq(mg_keys_retire(dir, "AAAA"), -1);
    json_decref(claims);
    mg_signer_free(s);
}
END_TEST

/* One flow, so that only two RSA keys are generated (slow under valgrind). */
START_TEST(test_key_lifecycle)
{
    char          k1[MG_JWK_KID_MAX + 1], k2[MG_JWK_KID_MAX + 1], again[MG_JWK_KID_MAX + 1];
    char          path[512], cur[512];
    mg_signer_t  *s, *slow;
    mg_jwks_t    *jwks;
    json_t       *claims = json_pack("{s:s}", "sub", "x");
    FILE         *f;

    /* made before the key exists: finds it later without a restart */
    s = mg_signer_new(dir, 0);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_null(mg_signer_sign(s, claims, NULL));

    ck_assert_int_eq(mg_keygen(dir, k1), 0);
    sign_and_verify(s, k1);
    /* plain keygen is idempotent */
    ck_assert_int_eq(mg_keygen(dir, again), 0);
    ck_assert_str_eq(again, k1);

    slow = mg_signer_new(dir, 3600 * 1000);
    ck_assert_ptr_nonnull(slow);
    sign_and_verify(slow, k1);

    /* rotate: a second key, current, both published */
    ck_assert_int_eq(mg_keygen_rotate(dir, 0, k2), 0);
    ck_assert_str_ne(k1, k2);
    ck_assert_int_eq(mg_keys_current(dir, again), 1);
    ck_assert_str_eq(again, k2);
    jwks = load_jwks();
    ck_assert_uint_eq(mg_jwks_count(jwks), 2);
    mg_jwks_free(jwks);
    /* a signer that looked recently keeps its key until its next check */
    sign_and_verify(slow, k1);
    sign_and_verify(s, k2);
    ck_assert_int_eq(mg_keygen(dir, again), 0);
    ck_assert_str_eq(again, k2);

    /* the current key cannot be retired; unknown or malformed kids neither */
    ck_assert_int_eq(mg_keys_retire(dir, k2), -1);
    ck_assert_int_eq(mg_keys_retire(dir, "no-such-kid"), -1);
    ck_assert_int_eq(mg_keys_retire(dir, "../current"), -1);
    ck_assert_int_eq(mg_keys_retire(dir, ""), -1);
    jwks = load_jwks();
    ck_assert_uint_eq(mg_jwks_count(jwks), 2);
    mg_jwks_free(jwks);

    /* retire the old one: gone from the directory and the key set */
    ck_assert_int_eq(mg_keys_retire(dir, k1), 0);
    snprintf(path, sizeof(path), "%s/%s.pem", dir, k1);
    ck_assert_int_ne(access(path, F_OK), 0);
    jwks = load_jwks();
    ck_assert_uint_eq(mg_jwks_count(jwks), 1);
    ck_assert_ptr_null(mg_jwks_find(jwks, k1, strlen(k1)));
    ck_assert_ptr_nonnull(mg_jwks_find(jwks, k2, strlen(k2)));
    mg_jwks_free(jwks);
    sign_and_verify(s, k2);

    /* current names a key whose file is missing: keep signing with k2 */
    snprintf(path, sizeof(path), "%s/current.tmp", dir);
    snprintf(cur, sizeof(cur), "%s/current", dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", f);
    fclose(f);
    ck_assert_int_eq(rename(path, cur), 0);
    sign_and_verify(s, k2);

    json_decref(claims);
    mg_signer_free(slow);
    mg_signer_free(s);
}
END_TEST

static Suite *
signer_suite(void)
{
    Suite  *s = suite_create("worker_signer");
    TCase  *tc = tcase_create("signer");

    tcase_add_checked_fixture(tc, setup, teardown);
    /* RSA key generation is slow under valgrind */
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_no_key);
    tcase_add_test(tc, test_key_lifecycle);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner  *sr = srunner_create(signer_suite());
    int       failed;

    /* the failures provoked here log errors by design */
    mg_log_set_level(MG_LOG_ERROR);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
