/*
 * check_worker_extract: text extraction (worker/knowledge/extract.c) for
 * each format: paragraphs and headings of plain text and Markdown, the
 * text of HTML without its scripts and styles, PDF pages (PDFs written
 * here by hand, with a correct xref table), and every refusal: empty,
 * binary sent as text, invalid UTF-8, encrypted, truncated or text-less PDF.
 */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knowledge/extract.h"

/* Helpers */

/* Block i's text, NUL-terminated, in a static buffer. */
static const char *
block(const mg_doc_t *d, size_t i)
{
    static char  buf[4096];
    size_t       n;

    ck_assert_uint_lt(i, d->nblocks);
    n = d->blocks[i].end - d->blocks[i].start;
    ck_assert_uint_lt(n, sizeof(buf));
    memcpy(buf, d->text + d->blocks[i].start, n);
    buf[n] = '\0';
    return buf;
}

static void
extract_ok(const char *ct, const char *data, size_t len, mg_doc_t *d)
{
    char err[256] = "";

    ck_assert_msg(mg_extract(ct, data, len, d, err, sizeof(err)) == 0, "%s: %s", ct, err);
    ck_assert_ptr_nonnull(d->text);
    ck_assert_uint_eq(strlen(d->text), d->len);
    for (size_t i = 0; i < d->nblocks; i++) {
        ck_assert_uint_lt(d->blocks[i].start, d->blocks[i].end);
        ck_assert_uint_le(d->blocks[i].end, d->len);
        if (i > 0) {
            ck_assert_uint_le(d->blocks[i - 1].end, d->blocks[i].start);
        }
    }
}

static void
extract_fails(const char *ct, const char *data, size_t len, const char *want)
{
    mg_doc_t  d;
    char      err[256] = "";

    ck_assert_int_eq(mg_extract(ct, data, len, &d, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, want) != NULL, "%s: wanted \"%s\", got \"%s\"", ct, want, err);
    ck_assert_ptr_null(d.text);
    ck_assert_ptr_null(d.blocks);
}

/* A PDF of npages pages, page i showing the lines lines[i][0..] (NULL
 * ends a page's list) in Helvetica; with encrypt, a Standard security
 * handler dictionary whose user password is not empty.  Malloc'd. */
static char *
make_pdf(const char *const *const *lines, int npages, int encrypt, size_t *len)
{
    char    *out = malloc(65536), *objs[64];
    size_t   n = 0, off[64], nobj = 0;
    char     kids[512] = "";

    ck_assert_ptr_nonnull(out);
    for (int i = 0; i < npages; i++) {
        snprintf(kids + strlen(kids), sizeof(kids) - strlen(kids), "%s%d 0 R",
                 i ? " " : "", 4 + 2 * i);
    }
    ck_assert_int_ne(asprintf(&objs[nobj++], "<< /Type /Catalog /Pages 2 0 R >>"), -1);
    ck_assert_int_ne(asprintf(&objs[nobj++], "<< /Type /Pages /Kids [%s] /Count %d >>",
                              kids, npages), -1);
    ck_assert_int_ne(asprintf(&objs[nobj++],
                              "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"), -1);
    for (int i = 0; i < npages; i++) {
        char    ops[4096];
        size_t  k = 0;

        k += (size_t) snprintf(ops + k, sizeof(ops) - k, "BT /F1 12 Tf 72 720 Td 14 TL\n");
        for (const char *const *l = lines[i]; *l != NULL; l++) {
            k += (size_t) snprintf(ops + k, sizeof(ops) - k, "(%s) Tj T*\n", *l);
        }
        k += (size_t) snprintf(ops + k, sizeof(ops) - k, "ET\n");
        ck_assert_int_ne(asprintf(&objs[nobj++],
                                  "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                                  "/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>",
                                  5 + 2 * i), -1);
        ck_assert_int_ne(asprintf(&objs[nobj++], "<< /Length %zu >>\nstream\n%sendstream",
                                  k, ops), -1);
    }
    if (encrypt) {
        ck_assert_int_ne(asprintf(&objs[nobj++],
                                  "<< /Filter /Standard /V 1 /R 2 /P -4 "
                                  "/O <1111111111111111111111111111111111111111111111111111111111111111> "
                                  "/U <2222222222222222222222222222222222222222222222222222222222222222> >>"),
                         -1);
    }
    n += (size_t) sprintf(out + n, "%%PDF-1.4\n");
    for (size_t i = 0; i < nobj; i++) {
        off[i] = n;
        n += (size_t) sprintf(out + n, "%zu 0 obj\n%s\nendobj\n", i + 1, objs[i]);
        free(objs[i]);
    }
    {
        size_t xref = n;

        n += (size_t) sprintf(out + n, "xref\n0 %zu\n0000000000 65535 f \n", nobj + 1);
        for (size_t i = 0; i < nobj; i++) {
            n += (size_t) sprintf(out + n, "%010zu 00000 n \n", off[i]);
        }
        n += (size_t) sprintf(out + n, "trailer\n<< /Size %zu /Root 1 0 R", nobj + 1);
        if (encrypt) {
            n += (size_t) sprintf(out + n, " /Encrypt %zu 0 R /ID [<0123456789abcdef0123456789abcdef>"
                                  " <0123456789abcdef0123456789abcdef>]", nobj);
        }
        n += (size_t) sprintf(out + n, " >>\nstartxref\n%zu\n%%%%EOF\n", xref);
    }
    *len = n;
    return out;
}


/* Plain text and Markdown */

START_TEST(test_plain_paragraphs_bom_crlf)
{
    static const char  in[] = "\xEF\xBB\xBF" "First line\r\nsecond line\r\n\r\n\r\n"
                              "# not a heading in plain text\r\n\r\n  caf\xC3\xA9  \n";
    mg_doc_t           d;

    extract_ok("text/plain; charset=utf-8", in, sizeof(in) - 1, &d);
    ck_assert_uint_eq(d.nblocks, 3);
    ck_assert_str_eq(block(&d, 0), "First line\nsecond line");
    ck_assert_str_eq(block(&d, 1), "# not a heading in plain text");
    ck_assert_str_eq(block(&d, 2), "caf\xC3\xA9");
    for (size_t i = 0; i < d.nblocks; i++) {
        ck_assert_int_eq(d.blocks[i].kind, MG_BLOCK_TEXT);
        ck_assert_int_eq(d.blocks[i].page, 0);
    }
    ck_assert_ptr_null(strchr(d.text, '\r'));
    ck_assert_int_eq(memcmp(d.text, "First", 5), 0);        /* no BOM */
    ck_assert_int_eq(d.npages, 0);
    mg_doc_free(&d);
}
END_TEST

START_TEST(test_markdown_headings_and_fences)
{
    static const char  in[] =
        "# Guide #\n\nIntro text\nstill intro\n\nSetup\n=====\n\n## Install\n"
        "Run it.\n\n```sh\nmake\n\nmake install\n```\n\n---\n\n"
        "Other Part\n----------\n\n####### seven is text\n#nospace\n";
    mg_doc_t           d;

    extract_ok("text/markdown", in, sizeof(in) - 1, &d);
    ck_assert_uint_eq(d.nblocks, 8);
    ck_assert_int_eq(d.blocks[0].kind, MG_BLOCK_HEADING);
    ck_assert_int_eq(d.blocks[0].level, 1);
    ck_assert_str_eq(block(&d, 0), "Guide");
    ck_assert_str_eq(block(&d, 1), "Intro text\nstill intro");
    ck_assert_int_eq(d.blocks[1].kind, MG_BLOCK_TEXT);
    ck_assert_int_eq(d.blocks[2].kind, MG_BLOCK_HEADING);           /* setext = */
    ck_assert_int_eq(d.blocks[2].level, 1);
    ck_assert_str_eq(block(&d, 2), "Setup");
    ck_assert_int_eq(d.blocks[3].level, 2);
    ck_assert_str_eq(block(&d, 3), "Install");
    ck_assert_str_eq(block(&d, 4), "Run it.");
    ck_assert_str_eq(block(&d, 5), "```sh\nmake\n\nmake install\n```");   /* one block */
    ck_assert_int_eq(d.blocks[6].kind, MG_BLOCK_HEADING);           /* setext - */
    ck_assert_int_eq(d.blocks[6].level, 2);
    ck_assert_str_eq(block(&d, 6), "Other Part");
    ck_assert_int_eq(d.blocks[7].kind, MG_BLOCK_TEXT);
    ck_assert_str_eq(block(&d, 7), "####### seven is text\n#nospace");
    ck_assert_ptr_null(strstr(d.text, "---"));                      /* thematic break gone */
    mg_doc_free(&d);
}
END_TEST

START_TEST(test_text_refusals)
{
    static const char  png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10";
    static const char  latin1[] = "caf\xE9 au lait";
    static const char  overlong[] = "a\xC0\xAFz";
    static const char  surrogate[] = "a\xED\xA0\x80z";
    static const char  cut[] = "abc\xE2\x82";

    extract_fails("text/plain", "", 0, "the document is empty");
    extract_fails("application/pdf", "", 0, "the document is empty");
    extract_fails("text/plain", png, sizeof(png) - 1, "the file is not text");
    extract_fails("text/markdown", "a\0b", 3, "the file is not text");
    extract_fails("text/plain", latin1, sizeof(latin1) - 1, "not valid UTF-8");
    extract_fails("text/plain", overlong, sizeof(overlong) - 1, "not valid UTF-8");
    extract_fails("text/plain", surrogate, sizeof(surrogate) - 1, "not valid UTF-8");
    extract_fails("text/markdown", cut, sizeof(cut) - 1, "not valid UTF-8");
    extract_fails("text/plain", "\xFF\xFEh\0i\0", 6, "UTF-16");
    extract_fails("text/plain", " \n\n\t \r\n", 7, "no text found");
    extract_fails("image/png", "x", 1, "unsupported");
}
END_TEST


/* HTML */

START_TEST(test_html_text_headings_and_drops)
{
    static const char  in[] =
        "<!DOCTYPE html><html><head><title>Title is dropped</title>"
        "<style>body { color: red }</style><meta charset=\"utf-8\"></head><body>"
        "<script>var s = \"<p>not text</p>\";</script>"
        "<h1>Main &amp; more</h1>\n<p>First   paragraph\n  with <b>bold</b> "
        "&eacute;t&eacute; &#x263A; &lt;tag&gt;.</p><noscript>enable js</noscript>"
        "<template><p>template text</p></template>"
        "<ul><li>one</li><li>two<br>lines</li></ul>"
        "<pre>x  =  1\n  y</pre><h3>Deep</h3><div>div text<p>inner</p></div>"
        "<table><tr><th>Name</th><th>Size</th></tr><tr><td> a.txt </td><td>3 <i>KB</i></td></tr>"
        "</table><!-- a comment --></body></html>";
    mg_doc_t           d;

    extract_ok("text/html; charset=utf-8", in, sizeof(in) - 1, &d);
    ck_assert_uint_eq(d.nblocks, 10);
    ck_assert_int_eq(d.blocks[0].kind, MG_BLOCK_HEADING);
    ck_assert_int_eq(d.blocks[0].level, 1);
    ck_assert_str_eq(block(&d, 0), "Main & more");
    ck_assert_str_eq(block(&d, 1), "First paragraph with bold \xC3\xA9t\xC3\xA9 \xE2\x98\xBA <tag>.");
    ck_assert_str_eq(block(&d, 2), "one");
    ck_assert_str_eq(block(&d, 3), "two\nlines");
    ck_assert_str_eq(block(&d, 4), "x  =  1\n  y");               /* pre keeps spaces */
    ck_assert_int_eq(d.blocks[5].kind, MG_BLOCK_HEADING);
    ck_assert_int_eq(d.blocks[5].level, 3);
    ck_assert_str_eq(block(&d, 5), "Deep");
    ck_assert_str_eq(block(&d, 6), "div text");
    ck_assert_str_eq(block(&d, 7), "inner");
    ck_assert_int_eq(d.blocks[7].kind, MG_BLOCK_TEXT);
    ck_assert_str_eq(block(&d, 8), "Name | Size");
    ck_assert_str_eq(block(&d, 9), "a.txt | 3 KB");
    for (const char *const *gone = (const char *const[]) { "Title is dropped", "color",
                                                          "not text", "enable js",
                                                          "template text", "comment", NULL };
         *gone != NULL; gone++)
    {
        ck_assert_msg(strstr(d.text, *gone) == NULL, "\"%s\" should be dropped", *gone);
    }
    mg_doc_free(&d);
}
END_TEST

START_TEST(test_html_charsets_and_fragments)
{
    static const char  meta[] = "<html><head><meta charset=\"iso-8859-1\"></head>"
                                "<body><p>caf\xE9</p></body></html>";
    static const char  bare[] = "<p>caf\xE9 sans meta</p>";
    static const char  frag[] = "Just text, <i>no</i> tags around &quot;it&quot;";
    mg_doc_t           d;

    extract_ok("text/html", meta, sizeof(meta) - 1, &d);
    ck_assert_str_eq(d.text, "caf\xC3\xA9");
    mg_doc_free(&d);
    /* the HTTP charset applies when the document says none */
    extract_ok("text/html; charset=windows-1252", bare, sizeof(bare) - 1, &d);
    ck_assert_str_eq(d.text, "caf\xC3\xA9 sans meta");
    mg_doc_free(&d);
    extract_ok("text/html", frag, sizeof(frag) - 1, &d);
    ck_assert_str_eq(d.text, "Just text, no tags around \"it\"");
    mg_doc_free(&d);
}
END_TEST

START_TEST(test_html_without_text)
{
    static const char  only_script[] = "<html><head><title>t</title></head><body>"
                                       "<script>document.write('hello')</script>"
                                       "<style>p{}</style>  </body></html>";

    extract_fails("text/html", only_script, sizeof(only_script) - 1, "no text found");
    extract_fails("text/html", "<html></html>", 13, "no text found");
}
END_TEST


/* PDF */

START_TEST(test_pdf_two_pages)
{
    static const char *const  p1[] = {
        "The first paragraph is a rather long line of text on page one,",
        "and it ends here.",
        "The second paragraph stands alone on this first page, long enough.",
        NULL };
    static const char *const  p2[] = { "Page two says hello.", NULL };
    const char *const *const  pages[] = { p1, p2 };
    size_t                    len;
    char                     *pdf = make_pdf(pages, 2, 0, &len);
    mg_doc_t                  d;

    extract_ok("application/pdf", pdf, len, &d);
    ck_assert_int_eq(d.npages, 2);
    ck_assert_uint_eq(d.nblocks, 3);
    ck_assert_str_eq(block(&d, 0), "The first paragraph is a rather long line of text on page one,\n"
                                   "and it ends here.");
    ck_assert_int_eq(d.blocks[0].page, 1);
    ck_assert_str_eq(block(&d, 1), "The second paragraph stands alone on this first page, "
                                   "long enough.");
    ck_assert_int_eq(d.blocks[1].page, 1);
    ck_assert_str_eq(block(&d, 2), "Page two says hello.");
    ck_assert_int_eq(d.blocks[2].page, 2);
    ck_assert_int_eq(d.blocks[2].kind, MG_BLOCK_TEXT);
    mg_doc_free(&d);
    free(pdf);
}
END_TEST

START_TEST(test_pdf_refusals)
{
    static const char *const  p1[] = { "Secret text.", NULL };
    static const char *const  none[] = { NULL };
    const char *const *const  one[] = { p1 };
    const char *const *const  blank[] = { none, none };
    size_t                    len;
    char                     *pdf;

    pdf = make_pdf(one, 1, 1, &len);
    extract_fails("application/pdf", pdf, len, "the PDF is encrypted");
    free(pdf);

    pdf = make_pdf(one, 1, 0, &len);
    extract_fails("application/pdf", pdf, len / 3, "the PDF could not be read");
    extract_fails("application/pdf", pdf, 9, "the PDF could not be read");
    free(pdf);

    extract_fails("application/pdf", "%PDF-1.4 garbage garbage", 24, "the PDF could not be read");
    extract_fails("application/pdf", "plain text is no PDF", 20, "the PDF could not be read");

    pdf = make_pdf(blank, 2, 0, &len);
    extract_fails("application/pdf", pdf, len, "no text found (a scanned PDF?)");
    free(pdf);
}
END_TEST

START_TEST(test_free_is_idempotent)
{
    mg_doc_t  d;

    extract_ok("text/plain", "x", 1, &d);
    mg_doc_free(&d);
    mg_doc_free(&d);
    mg_doc_free(NULL);
}
END_TEST

static Suite *
extract_suite(void)
{
    Suite  *s = suite_create("mg_extract");
    TCase  *tc = tcase_create("extract");

    tcase_add_test(tc, test_plain_paragraphs_bom_crlf);
    tcase_add_test(tc, test_markdown_headings_and_fences);
    tcase_add_test(tc, test_text_refusals);
    tcase_add_test(tc, test_html_text_headings_and_drops);
    tcase_add_test(tc, test_html_charsets_and_fragments);
    tcase_add_test(tc, test_html_without_text);
    tcase_add_test(tc, test_pdf_two_pages);
    tcase_add_test(tc, test_pdf_refusals);
    tcase_add_test(tc, test_free_is_idempotent);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner  *sr = srunner_create(extract_suite());
    int       failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
