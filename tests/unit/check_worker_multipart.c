/*
 * check_worker_multipart: the multipart/form-data reader of uploads
 * (mg_multipart_file in worker/jobs/documents.c): the boundary from the
 * Content-Type (plain or quoted), preambles, CRLF belonging to the
 * delimiter, part headers, and everything malformed being refused.  Each
 * body is copied into a buffer of exactly its size, so valgrind sees any
 * read past its end.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/jobs.h"

static mg_multipart_file_t f;
static char *buf;

/* Parse body (len bytes, NUL-free or not) with content type ct. */
static int
parse_n(const char *ct, const char *body, size_t len)
{
    free(buf);
    buf = malloc(len ? len : 1);
    memcpy(buf, body, len);
    return mg_multipart_file(ct, strlen(ct), buf, len, &f);
}

static int
parse(const char *ct, const char *body)
{
    return parse_n(ct, body, strlen(body));
}

static void
teardown(void)
{
    free(buf);
    buf = NULL;
}

static void
expect_data(const char *want)
{
    ck_assert_uint_eq(f.len, strlen(want));
    ck_assert(memcmp(f.data, want, f.len) == 0);
}

static void
expect_slice(const char *p, size_t len, const char *want)
{
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(len, strlen(want));
    ck_assert(memcmp(p, want, len) == 0);
}

#define CT "multipart/form-data; boundary=XyZ"

START_TEST(test_simple_file)
{
    ck_assert_int_eq(parse(CT,
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "hello\r\nworld\r\n"
        "--XyZ--\r\n"), 0);
    expect_data("hello\r\nworld");
    expect_slice(f.filename, f.filename_len, "a.txt");
    expect_slice(f.ctype, f.ctype_len, "text/plain");
}
END_TEST

START_TEST(test_file_among_other_parts_with_preamble)
{
    ck_assert_int_eq(parse("Multipart/Form-Data; charset=x; BOUNDARY=\"a b:c\"",
        "This is a preamble.\r\n"
        "--a b:c\r\n"
        "Content-Disposition: form-data; name=\"title\"\r\n"
        "\r\n"
        "not the file\r\n"
        "--a b:c  \t\r\n"
        "content-disposition: form-data; filename=\"q\\\"x;y.md\"; name=file\r\n"
        "\r\n"
        "# Doc\r\n"
        "--a b:c\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"second.txt\"\r\n"
        "\r\n"
        "ignored: the first file part wins\r\n"
        "--a b:c--"), 0);
    expect_data("# Doc");
    /* escapes are the caller's to drop */
    expect_slice(f.filename, f.filename_len, "q\\\"x;y.md");
    ck_assert_ptr_null(f.ctype);
    ck_assert_uint_eq(f.ctype_len, 0);
}
END_TEST

START_TEST(test_empty_and_binary_content)
{
    static const char body[] =
        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n"
        "\0\r\n--X\r\n\xff"        /* a NUL, a CR LF that is not a delimiter */
        "\r\n--XyZ--\r\n";

    ck_assert_int_eq(parse_n(CT, body, sizeof(body) - 1), 0);
    ck_assert_uint_eq(f.len, 9);
    ck_assert(memcmp(f.data, "\0\r\n--X\r\n\xff", 9) == 0);
    ck_assert_ptr_null(f.filename);

    ck_assert_int_eq(parse(CT,
        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"e\"\r\n"
        "\r\n\r\n--XyZ--\r\n"), 0);
    ck_assert_uint_eq(f.len, 0);
}
END_TEST

START_TEST(test_part_without_headers)
{
    /* a part with no headers has no name: no file part at all */
    ck_assert_int_eq(parse(CT, "--XyZ\r\n\r\nbody\r\n--XyZ--\r\n"), -1);
}
END_TEST

START_TEST(test_malformed)
{
    static const char *const bad[] = {
        /* truncated: no closing delimiter */
        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nhello",
        /* truncated inside the headers */
        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n",
        /* bare LF line ends */
        "--XyZ\nContent-Disposition: form-data; name=\"file\"\n\nhello\n--XyZ--\n",
        /* no delimiter at all */
        "hello",
        "",
        /* another boundary */
        "--Other\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--Other--\r\n",
        /* a header line without a colon */
        "--XyZ\r\nContent-Disposition form-data; name=\"file\"\r\n\r\nx\r\n--XyZ--\r\n",
        /* an unterminated quoted filename */
        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\r\n\r\nx\r\n"
        "--XyZ--\r\n",
        /* not form-data */
        "--XyZ\r\nContent-Disposition: attachment; name=\"file\"\r\n\r\nx\r\n--XyZ--\r\n",
        /* junk after a delimiter */
        "--XyZjunk\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--XyZ--\r\n",
        /* no "file" part */
        "--XyZ\r\nContent-Disposition: form-data; name=\"files\"\r\n\r\nx\r\n--XyZ--\r\n",
        /* only the close delimiter */
        "--XyZ--\r\n",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(parse(CT, bad[i]) == -1, "case %zu accepted", i);
    }
}
END_TEST

START_TEST(test_bad_content_types)
{
    static const char body[] =
        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--XyZ--\r\n";
    static const char *const bad[] = {
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"XyZ",
        "multipart/mixed; boundary=XyZ",
        "text/plain; boundary=XyZ",
        "multipart/form-data; boundary=0123456789012345678901234567890123456789"
        "0123456789012345678901234567890",          /* 71 characters */
    };

    ck_assert_int_eq(parse(CT, body), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(parse(bad[i], body) == -1, "content type %zu accepted", i);
    }
}
END_TEST

START_TEST(test_every_prefix_of_a_good_body_is_refused)
{
    static const char body[] =
        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n"
        "Content-Type: text/plain\r\n\r\nhello\r\n--XyZ--";
    size_t len = sizeof(body) - 1;

    ck_assert_int_eq(parse_n(CT, body, len), 0);
    for (size_t n = 0; n < len; n++) {
        ck_assert_msg(parse_n(CT, body, n) == -1, "prefix of %zu accepted", n);
    }
}
END_TEST

static Suite *
multipart_suite(void)
{
    Suite *s = suite_create("worker_multipart");
    TCase *tc = tcase_create("multipart");

    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_simple_file);
    tcase_add_test(tc, test_file_among_other_parts_with_preamble);
    tcase_add_test(tc, test_empty_and_binary_content);
    tcase_add_test(tc, test_part_without_headers);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_bad_content_types);
    tcase_add_test(tc, test_every_prefix_of_a_good_body_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(multipart_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
