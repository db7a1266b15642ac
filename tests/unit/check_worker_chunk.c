/*
 * check_worker_chunk: chunking (worker/knowledge/chunk.c).  Chunks stay
 * within the token target, overlap their predecessor, cover the whole
 * text, start where headings start, carry the heading path and page in
 * force at their start, never cut a UTF-8 sequence, split a huge block at
 * sentences (then words), and come out the same every time.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knowledge/chunk.h"
#include "knowledge/extract.h"
#include "providers/provider.h"

/* Helpers */

static int
is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

/* A document from Markdown text. */
static void
md_doc(const char *md, mg_doc_t *d)
{
    char err[256] = "";

    ck_assert_msg(mg_extract("text/markdown", md, strlen(md), d, err, sizeof(err)) == 0,
                  "%s", err);
}

/* Deterministic filler: n words of sentences of 6..15 words. */
static void
filler(char *out, size_t cap, unsigned *seed, int words)
{
    static const char *const  vocab[] = { "alpha", "bravo", "charlie", "delta", "echo",
                                          "foxtrot", "golf", "hotel", "india", "juliet",
                                          "kilo", "lima", "mike" };
    size_t                    n = strlen(out);
    int                       in_sentence = 0, len = 0;

    for (int i = 0; i < words; i++) {
        *seed = *seed * 1103515245u + 12345u;
        if (in_sentence == 0) {
            len = 6 + (int) ((*seed >> 16) % 10);
        }
        n += (size_t) snprintf(out + n, cap - n, "%s%s", n && out[n - 1] != '\n' ? " " : "",
                               vocab[(*seed >> 8) % 13]);
        if (++in_sentence == len || i == words - 1) {
            n += (size_t) snprintf(out + n, cap - n, ".");
            in_sentence = 0;
        }
        ck_assert_uint_lt(n, cap - 32);
    }
}

/* What every chunking must hold; returns the chunks for more checks. */
static void
check_invariants(const mg_doc_t *d, const mg_chunk_t *c, size_t n, int target)
{
    size_t covered = 0;

    ck_assert_uint_gt(n, 0);
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_lt(c[i].start, c[i].end);
        ck_assert_uint_le(c[i].end, d->len);
        ck_assert_msg(mg_tokens_estimate(c[i].end - c[i].start) <= target,
                      "chunk %zu: %ld tokens > %d", i, mg_tokens_estimate(c[i].end - c[i].start),
                      target);
        ck_assert(!is_space(d->text[c[i].start]));
        ck_assert(!is_space(d->text[c[i].end - 1]));
        /* never inside a UTF-8 sequence */
        ck_assert((d->text[c[i].start] & 0xC0) != 0x80);
        ck_assert(c[i].end == d->len || (d->text[c[i].end] & 0xC0) != 0x80);
        ck_assert_ptr_nonnull(c[i].heading);
        if (i > 0) {
            ck_assert_uint_gt(c[i].start, c[i - 1].start);
            ck_assert_uint_gt(c[i].end, c[i - 1].end);
            /* no gap but white space between chunks */
            for (size_t k = c[i - 1].end; k < c[i].start; k++) {
                ck_assert_msg(is_space(d->text[k]), "byte %zu left out", k);
            }
        }
        covered = c[i].end;
    }
    for (size_t k = 0; k < c[0].start; k++) {
        ck_assert(is_space(d->text[k]));
    }
    for (size_t k = covered; k < d->len; k++) {
        ck_assert(is_space(d->text[k]));
    }
}


START_TEST(test_sizes_overlap_and_cover)
{
    static char         md[200000];
    unsigned            seed = 7;
    mg_doc_t            d;
    mg_chunk_t         *c;
    size_t              n, overlapping = 0;
    long                filled = 0;
    mg_chunk_opts_t     o = { 100, 20 };

    md[0] = '\0';
    for (int p = 0; p < 60; p++) {
        filler(md, sizeof(md), &seed, 5 + (int) (seed % 90));
        strcat(md, "\n\n");
    }
    md_doc(md, &d);
    ck_assert_int_eq(mg_chunk(&d, &o, &c, &n), 0);
    check_invariants(&d, c, n, o.target_tokens);
    ck_assert_uint_gt(n, 10);
    for (size_t i = 1; i < n; i++) {
        if (c[i].start < c[i - 1].end) {
            size_t ov = c[i - 1].end - c[i].start;

            overlapping++;
            ck_assert_msg(mg_tokens_estimate(ov) <= o.overlap_tokens + 1,
                          "overlap of %zu bytes", ov);
        }
        filled += mg_tokens_estimate(c[i].end - c[i].start);
    }
    /* chunks are well filled: on average more than half the target */
    ck_assert_int_gt(filled / (long) (n - 1), o.target_tokens / 2);
    /* without headings, every chunk after the first overlaps its predecessor */
    ck_assert_uint_eq(overlapping, n - 1);
    mg_chunks_free(c, n);

    /* no overlap asked: none given, and the chunks tile the text */
    o.overlap_tokens = 0;
    ck_assert_int_eq(mg_chunk(&d, &o, &c, &n), 0);
    check_invariants(&d, c, n, o.target_tokens);
    for (size_t i = 1; i < n; i++) {
        ck_assert_uint_ge(c[i].start, c[i - 1].end);
    }
    mg_chunks_free(c, n);
    mg_doc_free(&d);
}
END_TEST

START_TEST(test_heading_paths)
{
    static char      md[100000];
    unsigned         seed = 3;
    mg_doc_t         d;
    mg_chunk_t      *c;
    size_t           n;
    mg_chunk_opts_t  o = { 120, 20 };
    int              seen_b = 0, seen_c = 0, seen_d = 0;

    strcpy(md, "# Guide\n\n");
    filler(md, sizeof(md), &seed, 120);
    strcat(md, "\n\n## Setup\n\n");
    filler(md, sizeof(md), &seed, 150);
    strcat(md, "\n\n### Linux   systems\n\n");
    filler(md, sizeof(md), &seed, 60);
    strcat(md, "\n\n## Usage\n\n");
    filler(md, sizeof(md), &seed, 60);
    md_doc(md, &d);
    ck_assert_int_eq(mg_chunk(&d, &o, &c, &n), 0);
    check_invariants(&d, c, n, o.target_tokens);
    ck_assert_str_eq(c[0].heading, "Guide");
    ck_assert_int_eq(strncmp(d.text + c[0].start, "Guide", 5), 0);
    for (size_t i = 0; i < n; i++) {
        const char *t = d.text + c[i].start;

        /* a heading after a non-trivial chunk starts the next one */
        if (strncmp(t, "Setup", 5) == 0) {
            ck_assert_str_eq(c[i].heading, "Guide > Setup");
            seen_b = 1;
        } else if (strncmp(t, "Linux", 5) == 0) {
            ck_assert_str_eq(c[i].heading, "Guide > Setup > Linux systems");
            seen_c = 1;
        } else if (strncmp(t, "Usage", 5) == 0) {
            ck_assert_str_eq(c[i].heading, "Guide > Usage");    /* deeper level gone */
            seen_d = 1;
            ck_assert_uint_ge(c[i].start, c[i - 1].end);         /* no overlap into it */
        }
        ck_assert_ptr_null(strstr(c[i].heading, "\n"));
    }
    ck_assert(seen_b && seen_c && seen_d);
    /* the text right after Setup's first chunk is still under Setup */
    for (size_t i = 0; i < n; i++) {
        if (strncmp(d.text + c[i].start, "Setup", 5) == 0 && i + 1 < n
            && strncmp(d.text + c[i + 1].start, "Linux", 5) != 0)
        {
            ck_assert_str_eq(c[i + 1].heading, "Guide > Setup");
        }
    }
    mg_chunks_free(c, n);
    mg_doc_free(&d);
}
END_TEST

START_TEST(test_small_sections_stay_together)
{
    mg_doc_t         d;
    mg_chunk_t      *c;
    size_t           n;
    mg_chunk_opts_t  o = { 600, 80 };

    md_doc("# Title\n\nA short intro.\n\n## Part\n\nSome text.\n", &d);
    ck_assert_int_eq(mg_chunk(&d, &o, &c, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(c[0].start, 0);
    ck_assert_uint_eq(c[0].end, d.len);
    ck_assert_str_eq(c[0].heading, "Title");
    ck_assert_int_eq(c[0].page, 0);
    mg_chunks_free(c, n);
    mg_doc_free(&d);

    md_doc("No heading at all.\n", &d);
    ck_assert_int_eq(mg_chunk(&d, NULL, &c, &n), 0);        /* defaults */
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(c[0].heading, "");
    mg_chunks_free(c, n);
    mg_doc_free(&d);
}
END_TEST

START_TEST(test_pages)
{
    static char      text[60000];
    mg_block_t       blocks[9];
    mg_doc_t         d;
    mg_chunk_t      *c;
    size_t           n, len = 0;
    unsigned         seed = 11;
    mg_chunk_opts_t  o = { 150, 30 };

    /* three pages of three paragraphs each */
    for (int b = 0; b < 9; b++) {
        char para[8000] = "";

        filler(para, sizeof(para), &seed, 70);
        if (b > 0) {
            memcpy(text + len, "\n\n", 2);
            len += 2;
        }
        blocks[b].kind = MG_BLOCK_TEXT;
        blocks[b].level = 0;
        blocks[b].page = 1 + b / 3;
        blocks[b].start = len;
        memcpy(text + len, para, strlen(para));
        len += strlen(para);
        blocks[b].end = len;
    }
    text[len] = '\0';
    d.text = text;
    d.len = len;
    d.blocks = blocks;
    d.nblocks = 9;
    d.npages = 3;
    ck_assert_int_eq(mg_chunk(&d, &o, &c, &n), 0);
    check_invariants(&d, c, n, o.target_tokens);
    for (size_t i = 0; i < n; i++) {
        int want = 0;

        for (int b = 0; b < 9; b++) {
            if (c[i].start >= blocks[b].start && c[i].start < blocks[b].end) {
                want = blocks[b].page;
            }
        }
        ck_assert_int_eq(c[i].page, want);
    }
    ck_assert_int_eq(c[0].page, 1);
    ck_assert_int_eq(c[n - 1].page, 3);
    mg_chunks_free(c, n);
}
END_TEST

START_TEST(test_huge_block_splits_at_sentences_then_words)
{
    static char      md[100000];
    unsigned         seed = 5;
    mg_doc_t         d;
    mg_chunk_t      *c;
    size_t           n;
    mg_chunk_opts_t  o = { 100, 0 };

    md[0] = '\0';
    filler(md, sizeof(md), &seed, 2000);        /* one paragraph, many sentences */
    md_doc(md, &d);
    ck_assert_uint_eq(d.nblocks, 1);
    ck_assert_int_eq(mg_chunk(&d, &o, &c, &n), 0);
    check_invariants(&d, c, n, o.target_tokens);
    ck_assert_uint_gt(n, 20);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(d.text[c[i].end - 1] == '.', "chunk %zu ends mid-sentence", i);
    }
    mg_chunks_free(c, n);
    mg_doc_free(&d);

    /* one endless sentence: cut at spaces */
    md[0] = '\0';
    for (int i = 0; i < 3000; i++) {
        strcat(md, i ? " word" : "word");
    }
    md_doc(md, &d);
    ck_assert_int_eq(mg_chunk(&d, &o, &c, &n), 0);
    check_invariants(&d, c, n, o.target_tokens);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(strncmp(d.text + c[i].start, "word", 4), 0);
        ck_assert_int_eq(strncmp(d.text + c[i].end - 4, "word", 4), 0);
    }
    mg_chunks_free(c, n);
    mg_doc_free(&d);
}
END_TEST

START_TEST(test_no_utf8_split)
{
    static char      md[60000];
    mg_doc_t         d;
    mg_chunk_t      *c;
    size_t           n;
    mg_chunk_opts_t  o = { 50, 10 };

    /* no spaces, no sentence ends: a run of 2- and 3-byte characters */
    md[0] = '\0';
    for (int i = 0; i < 4000; i++) {
        strcat(md, i % 3 ? "\xC3\xA9" : "\xE6\x97\xA5");
    }
    md_doc(md, &d);
    ck_assert_int_eq(mg_chunk(&d, &o, &c, &n), 0);
    check_invariants(&d, c, n, o.target_tokens);
    ck_assert_uint_gt(n, 50);
    mg_chunks_free(c, n);
    mg_doc_free(&d);

    /* CJK sentences end at 。 */
    md[0] = '\0';
    for (int i = 0; i < 400; i++) {
        strcat(md, "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE6\x96\x87\xE3\x80\x82");
    }
    md_doc(md, &d);
    ck_assert_int_eq(mg_chunk(&d, &o, &c, &n), 0);
    check_invariants(&d, c, n, o.target_tokens);
    for (size_t i = 0; i + 1 < n; i++) {
        ck_assert_int_eq(memcmp(d.text + c[i].end - 3, "\xE3\x80\x82", 3), 0);
    }
    mg_chunks_free(c, n);
    mg_doc_free(&d);
}
END_TEST

START_TEST(test_deterministic)
{
    static char      md[100000];
    unsigned         seed = 9;
    mg_doc_t         d;
    mg_chunk_t      *a, *b;
    size_t           na, nb;
    mg_chunk_opts_t  o = { 80, 16 };

    strcpy(md, "# One\n\n");
    filler(md, sizeof(md), &seed, 400);
    strcat(md, "\n\n## Two\n\n");
    filler(md, sizeof(md), &seed, 300);
    md_doc(md, &d);
    ck_assert_int_eq(mg_chunk(&d, &o, &a, &na), 0);
    ck_assert_int_eq(mg_chunk(&d, &o, &b, &nb), 0);
    ck_assert_uint_eq(na, nb);
    for (size_t i = 0; i < na; i++) {
        ck_assert_uint_eq(a[i].start, b[i].start);
        ck_assert_uint_eq(a[i].end, b[i].end);
        ck_assert_int_eq(a[i].page, b[i].page);
        ck_assert_str_eq(a[i].heading, b[i].heading);
    }
    mg_chunks_free(a, na);
    mg_chunks_free(b, nb);
    mg_chunks_free(NULL, 0);
    mg_doc_free(&d);
}
END_TEST

static Suite *
chunk_suite(void)
{
    Suite  *s = suite_create("mg_chunk");
    TCase  *tc = tcase_create("chunk");

    tcase_add_test(tc, test_sizes_overlap_and_cover);
    tcase_add_test(tc, test_heading_paths);
    tcase_add_test(tc, test_small_sections_stay_together);
    tcase_add_test(tc, test_pages);
    tcase_add_test(tc, test_huge_block_splits_at_sentences_then_words);
    tcase_add_test(tc, test_no_utf8_split);
    tcase_add_test(tc, test_deterministic);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner  *sr = srunner_create(chunk_suite());
    int       failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
