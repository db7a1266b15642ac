/*
 * check_mg_base64url: the base64url codec against RFC 4648's vectors (in
 * the url alphabet), round trips, and every input a strict decoder must
 * refuse.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mg_base64url.h"

#define CANARY 0xA5

static const struct {
    const char  *plain;
    const char  *encoded;
} rfc4648[] = {
    { "",       ""         },
    { "f",      "Zg"       },
    { "fo",     "Zm8"      },
    { "foo",    "Zm9v"     },
    { "foob",   "Zm9vYg"   },
    { "fooba",  "Zm9vYmE"  },
    { "foobar", "Zm9vYmFy" },
};

static ssize_t
decode_str(const char *s, unsigned char *out, size_t outcap)
{
    return mg_b64url_decode(s, strlen(s), out, outcap);
}

START_TEST(test_rfc4648_encode)
{
    size_t  i, n;
    char    out[32];

    for (i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
        n = strlen(rfc4648[i].plain);
        ck_assert_uint_eq(mg_b64url_encoded_len(n), strlen(rfc4648[i].encoded));
        memset(out, CANARY, sizeof(out));
        mg_b64url_encode((const unsigned char *) rfc4648[i].plain, n, out);
        ck_assert_str_eq(out, rfc4648[i].encoded);
        /* Exactly encoded_len chars and a NUL, nothing after. */
        ck_assert_int_eq((unsigned char) out[strlen(rfc4648[i].encoded) + 1], CANARY);
    }
}
END_TEST

START_TEST(test_rfc4648_decode)
{
    size_t         i;
    ssize_t        r;
    unsigned char  out[32];

    for (i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
        r = decode_str(rfc4648[i].encoded, out, sizeof(out));
        ck_assert_int_eq(r, (ssize_t) strlen(rfc4648[i].plain));
        ck_assert_mem_eq(out, rfc4648[i].plain, (size_t) r);
    }
}
END_TEST

START_TEST(test_url_alphabet)
{
    /* Bytes whose standard encoding is "+/+/" and "+/8=". */
    static const unsigned char  a[] = { 0xfb, 0xff, 0xbf };
    static const unsigned char  b[] = { 0xfb, 0xff };
    unsigned char               out[8];
    char                        enc[8];

    mg_b64url_encode(a, sizeof(a), enc);
    ck_assert_str_eq(enc, "-_-_");
    mg_b64url_encode(b, sizeof(b), enc);
    ck_assert_str_eq(enc, "-_8");

    ck_assert_int_eq(decode_str("-_-_", out, sizeof(out)), 3);
    ck_assert_mem_eq(out, a, sizeof(a));
    ck_assert_int_eq(decode_str("-_8", out, sizeof(out)), 2);
    ck_assert_mem_eq(out, b, sizeof(b));
}
END_TEST

START_TEST(test_round_trip_all_lengths)
{
    unsigned char  in[64], out[64 + 1];
    char           enc[128];
    size_t         n, i, elen;
    ssize_t        r;
    unsigned int   seed = 12345;

    for (n = 0; n <= 64; n++) {
        for (i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            in[i] = (unsigned char) (seed >> 16);
        }
        /* Cover 0x00 and 0xff at the ends too. */
        if (n > 0) {
            in[0] = (unsigned char) (n % 2 ? 0xff : 0x00);
        }

        elen = mg_b64url_encoded_len(n);
        memset(enc, CANARY, sizeof(enc));
        mg_b64url_encode(in, n, enc);
        ck_assert_uint_eq(strlen(enc), elen);
        ck_assert_int_eq((unsigned char) enc[elen + 1], CANARY);
        ck_assert_uint_ne(elen % 4, 1);
        for (i = 0; i < elen; i++) {
            ck_assert_msg(strchr("+/=", enc[i]) == NULL, "non-url char in %s", enc);
        }

        ck_assert_uint_ge(mg_b64url_decoded_max(elen), n);
        memset(out, CANARY, sizeof(out));
        r = mg_b64url_decode(enc, elen, out, n);    /* exact capacity */
        ck_assert_int_eq(r, (ssize_t) n);
        ck_assert_mem_eq(out, in, n);
        ck_assert_int_eq(out[n], CANARY);
    }
}
END_TEST

START_TEST(test_every_byte_value)
{
    unsigned char  in[256], out[256];
    char           enc[400];
    size_t         i;

    for (i = 0; i < 256; i++) {
        in[i] = (unsigned char) i;
    }
    mg_b64url_encode(in, sizeof(in), enc);
    ck_assert_int_eq(mg_b64url_decode(enc, strlen(enc), out, sizeof(out)), 256);
    ck_assert_mem_eq(out, in, sizeof(in));
}
END_TEST

START_TEST(test_reject_padding)
{
    unsigned char  out[16];

    ck_assert_int_eq(decode_str("Zg==", out, sizeof(out)), -1);
    ck_assert_int_eq(decode_str("Zm8=", out, sizeof(out)), -1);
    ck_assert_int_eq(decode_str("Zg=", out, sizeof(out)), -1);
    ck_assert_int_eq(decode_str("====", out, sizeof(out)), -1);
}
END_TEST

START_TEST(test_reject_standard_alphabet)
{
    unsigned char  out[16];

    ck_assert_int_eq(decode_str("+/+/", out, sizeof(out)), -1);
    ck_assert_int_eq(decode_str("Zm9+", out, sizeof(out)), -1);
    ck_assert_int_eq(decode_str("Zm9/", out, sizeof(out)), -1);
    ck_assert_int_eq(decode_str("+_8", out, sizeof(out)), -1);
}
END_TEST

START_TEST(test_reject_whitespace_and_junk)
{
    static const char *const  bad[] = {
        "Zm9v Yg", "Zm9v\nYg", "Zm9vYg\n", " Zm9v", "Zm9v\tYmFy", "Zm9v\rYmFy",
        "Zm.v", "Zm9v*", "Zm9\x80", "Zm9\xff",
    };
    unsigned char             out[16];
    size_t                    i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(decode_str(bad[i], out, sizeof(out)) == -1, "accepted \"%s\"", bad[i]);
    }
    /* An embedded NUL is not a terminator: it is a bad character. */
    ck_assert_int_eq(mg_b64url_decode("Zm\0v", 4, out, sizeof(out)), -1);
}
END_TEST

START_TEST(test_reject_impossible_length)
{
    unsigned char  out[16];

    ck_assert_int_eq(decode_str("Z", out, sizeof(out)), -1);
    ck_assert_int_eq(decode_str("Zm9vY", out, sizeof(out)), -1);
    ck_assert_int_eq(decode_str("Zm9vYmFyZ", out, sizeof(out)), -1);
    /* n decides, even when valid characters follow in the buffer. */
    ck_assert_int_eq(mg_b64url_decode("Zg", 1, out, sizeof(out)), -1);
    ck_assert_int_eq(mg_b64url_decode("Zm9vZg", 5, out, sizeof(out)), -1);
    ck_assert_int_eq(mg_b64url_decode("Zm9vYg", 4, out, sizeof(out)), 3);
}
END_TEST

START_TEST(test_reject_trailing_bits)
{
    unsigned char  out[16];

    /* "Zg" is "f"; "Zh".."Zv" carry bits beyond the one byte. */
    ck_assert_int_eq(decode_str("Zg", out, sizeof(out)), 1);
    ck_assert_int_eq(decode_str("Zh", out, sizeof(out)), -1);
    ck_assert_int_eq(decode_str("Zv", out, sizeof(out)), -1);
    ck_assert_int_eq(decode_str("Z_", out, sizeof(out)), -1);
    /* "Zm8" is "fo"; '9' = 61 leaves low bits set. */
    ck_assert_int_eq(decode_str("Zm8", out, sizeof(out)), 2);
    ck_assert_int_eq(decode_str("Zm9", out, sizeof(out)), -1);
    ck_assert_int_eq(decode_str("Zm-", out, sizeof(out)), -1);
}
END_TEST

START_TEST(test_never_past_outcap)
{
    unsigned char  out[16];
    size_t         cap;

    /* "foobar" needs 6 bytes: any smaller capacity fails untouched. */
    for (cap = 0; cap < 6; cap++) {
        memset(out, CANARY, sizeof(out));
        ck_assert_int_eq(mg_b64url_decode("Zm9vYmFy", 8, out, cap), -1);
        ck_assert_int_eq(out[0], CANARY);
        ck_assert_int_eq(out[cap], CANARY);
    }
    for (cap = 0; cap < 5; cap++) {
        memset(out, CANARY, sizeof(out));
        ck_assert_int_eq(mg_b64url_decode("Zm9vYmE", 7, out, cap), -1);
        ck_assert_int_eq(out[cap], CANARY);
    }

    memset(out, CANARY, sizeof(out));
    ck_assert_int_eq(mg_b64url_decode("Zm9vYmE", 7, out, 5), 5);
    ck_assert_int_eq(out[5], CANARY);

    /* Empty input needs no buffer at all. */
    ck_assert_int_eq(mg_b64url_decode("", 0, NULL, 0), 0);
}
END_TEST

START_TEST(test_lengths)
{
    ck_assert_uint_eq(mg_b64url_encoded_len(0), 0);
    ck_assert_uint_eq(mg_b64url_encoded_len(1), 2);
    ck_assert_uint_eq(mg_b64url_encoded_len(2), 3);
    ck_assert_uint_eq(mg_b64url_encoded_len(3), 4);
    ck_assert_uint_eq(mg_b64url_encoded_len(256), 342);
    ck_assert_uint_eq(mg_b64url_decoded_max(0), 0);
    ck_assert_uint_eq(mg_b64url_decoded_max(2), 1);
    ck_assert_uint_eq(mg_b64url_decoded_max(3), 2);
    ck_assert_uint_eq(mg_b64url_decoded_max(4), 3);
    ck_assert_uint_eq(mg_b64url_decoded_max(342), 256);
}
END_TEST

static Suite *
base64url_suite(void)
{
    Suite  *s = suite_create("mg_base64url");
    TCase  *tc = tcase_create("core");

    tcase_add_test(tc, test_rfc4648_encode);
    tcase_add_test(tc, test_rfc4648_decode);
    tcase_add_test(tc, test_url_alphabet);
    tcase_add_test(tc, test_round_trip_all_lengths);
    tcase_add_test(tc, test_every_byte_value);
    tcase_add_test(tc, test_reject_padding);
    tcase_add_test(tc, test_reject_standard_alphabet);
    tcase_add_test(tc, test_reject_whitespace_and_junk);
    tcase_add_test(tc, test_reject_impossible_length);
    tcase_add_test(tc, test_reject_trailing_bits);
    tcase_add_test(tc, test_never_past_outcap);
    tcase_add_test(tc, test_lengths);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner  *sr = srunner_create(base64url_suite());
    int       failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
