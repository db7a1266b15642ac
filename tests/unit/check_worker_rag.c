/* Check tests for the pure parts of grounded answers (worker/knowledge/
 * rag.c): snippets, relevance filtering, the grounded system prompt, the
 * citations JSON and the offline model's extractive answer, plus the local
 * provider answering a grounded turn. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "knowledge/rag.h"
#include "providers/provider.h"

/* Is s[0, len) valid UTF-8? */
static int
valid_utf8(const char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned char c = (unsigned char) s[i];
        size_t        n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;

        if (n == 0 || i + n > len) {
            return 0;
        }
        for (size_t k = 1; k < n; k++) {
            if (((unsigned char) s[i + k] & 0xC0) != 0x80) {
                return 0;
            }
        }
        i += n;
    }
    return 1;
}

static mg_hit_t
hit(const char *doc, const char *heading, const char *text, int page, double sim, int match)
{
    mg_hit_t h;

    memset(&h, 0, sizeof(h));
    strcpy(h.chunk_id, "11111111-1111-4111-8111-111111111111");
    strcpy(h.document_id, "22222222-2222-4222-8222-222222222222");
    h.document = strdup(doc);
    h.heading = strdup(heading);
    h.text = strdup(text);
    h.page = page;
    h.score = 0.5;
    h.similarity = sim;
    h.text_match = match;
    return h;
}

static const char doc_text[] =
    "Mangoo keeps its data in Postgres.  The office cat is called Biscuit.\n\n"
    "The capital of Zorbania is Quuxville, founded in 1642 by traders.   It rains "
    "there most afternoons.\n# Travel\nTrains leave hourly.";

START_TEST(snippet_picks_the_sentence_with_the_query_words)
{
    char    out[MG_SNIPPET_MAX + 1];
    size_t  n = mg_rag_snippet(doc_text, strlen(doc_text), "What is the capital of Zorbania?",
                               32, out);

    ck_assert_uint_eq(n, strlen(out));
    ck_assert_msg(strncmp(out, "The capital of Zorbania is Quuxville", 36) == 0, "got: %s", out);
    /* the whitespace run inside collapsed, the next sentence follows */
    ck_assert_ptr_nonnull(strstr(out, "traders. It rains there"));
    ck_assert_ptr_null(strstr(out, "  "));
    ck_assert_ptr_null(strstr(out, "Biscuit"));
    /* a blank line and a heading end a sentence: the heading is not glued on
     * unless it fits, and nothing is cut in the middle */
    ck_assert_ptr_null(strstr(out, "\n"));
}
END_TEST

START_TEST(snippet_stemming_and_case)
{
    char out[MG_SNIPPET_MAX + 1];

    mg_rag_snippet(doc_text, strlen(doc_text), "TRAIN departures", 16, out);
    ck_assert_msg(strncmp(out, "Trains leave hourly.", 20) == 0, "got: %s", out);
}
END_TEST

START_TEST(snippet_without_a_match_is_the_start)
{
    char out[MG_SNIPPET_MAX + 1];

    mg_rag_snippet(doc_text, strlen(doc_text), "zzz qqq", 7, out);
    ck_assert_msg(strncmp(out, "Mangoo keeps its data in Postgres.", 34) == 0, "got: %s", out);
}
END_TEST

START_TEST(snippet_is_bounded_and_cut_on_utf8)
{
    char    text[8192], out[MG_SNIPPET_MAX + 1];
    size_t  o = 0, n;

    /* one long sentence of two-byte characters and three-byte ones, the
     * query word deep inside */
    for (int i = 0; i < 400; i++) {
        o += (size_t) sprintf(text + o, "%s ", i % 2 ? "\xC3\xA9t\xC3\xA9" : "\xE2\x82\xAC\xE2\x82\xAC");
        if (i == 300) {
            o += (size_t) sprintf(text + o, "needle ");
        }
    }
    text[o] = '\0';
    n = mg_rag_snippet(text, o, "needle", 6, out);
    ck_assert_uint_le(n, MG_SNIPPET_MAX);
    ck_assert(valid_utf8(out, n));
    ck_assert_ptr_nonnull(strstr(out, "needle"));
    /* cut at both ends: an ellipsis each side */
    ck_assert(strncmp(out, "\xE2\x80\xA6", 3) == 0);
    ck_assert(strcmp(out + n - 3, "\xE2\x80\xA6") == 0);

    /* one giant word: cut inside it, still on a character boundary */
    o = 0;
    for (int i = 0; i < 500; i++) {
        memcpy(text + o, "\xE2\x82\xAC", 3);
        o += 3;
    }
    text[o] = '\0';
    n = mg_rag_snippet(text, o, "x", 1, out);
    ck_assert_uint_le(n, MG_SNIPPET_MAX);
    ck_assert_uint_gt(n, 200);
    ck_assert(valid_utf8(out, n));
}
END_TEST

START_TEST(keep_relevant_filters_in_order_and_frees)
{
    mg_hit_t *h = calloc(4, sizeof(*h));
    size_t    n;

    h[0] = hit("a", "", "one", 0, 0.05, 0);     /* dropped */
    h[1] = hit("b", "", "two", 0, 0.10, 1);     /* a full-text match: kept */
    h[2] = hit("c", "", "three", 0, MG_RAG_FLOOR, 0);   /* similar enough: kept */
    h[3] = hit("d", "", "four", 0, MG_RAG_FLOOR - 0.01, 0);     /* dropped */
    n = mg_rag_keep_relevant(h, 4, MG_RAG_FLOOR);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(h[0].document, "b");
    ck_assert_str_eq(h[1].document, "c");
    mg_hits_free(h, n);
}
END_TEST

START_TEST(system_prompt_numbers_the_sources)
{
    mg_hit_t  h[2];
    char     *p;

    h[0] = hit("notes.md", "Intro > Setup", "Alpha fact.", 0, 0.5, 1);
    h[1] = hit("report.pdf", "", "Beta fact.", 3, 0.4, 0);
    p = mg_rag_system_prompt("Be brief.", h, 2);
    ck_assert_ptr_nonnull(p);
    ck_assert(strncmp(p, "Be brief.\n\n", 11) == 0);
    ck_assert_ptr_nonnull(strstr(p, "using only the numbered sources"));
    ck_assert_ptr_nonnull(strstr(p, "[1] notes.md > Intro > Setup\nAlpha fact."));
    ck_assert_ptr_nonnull(strstr(p, "[2] report.pdf (page 3)\nBeta fact."));
    ck_assert(strstr(p, "[1] notes.md") < strstr(p, "[2] report.pdf"));
    free(p);

    p = mg_rag_system_prompt("", h, 0);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(strstr(p, "nothing relevant was found"));
    ck_assert_ptr_nonnull(strstr(p, "cannot answer this from the documents"));
    ck_assert_ptr_null(strstr(p, "[1]"));
    free(p);
    for (int i = 0; i < 2; i++) {
        free(h[i].document);
        free(h[i].heading);
        free(h[i].text);
    }
}
END_TEST

START_TEST(citations_json)
{
    mg_hit_t  h[2];
    json_t   *a, *c;

    h[0] = hit("notes.md", "Intro", doc_text, 0, 0.61234, 1);
    h[1] = hit("report.pdf", "", "Beta fact.", 7, 0.4, 0);
    a = mg_rag_citations(h, 2, "capital of Zorbania", 19);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(json_array_size(a), 2);
    c = json_array_get(a, 0);
    ck_assert_int_eq(json_integer_value(json_object_get(c, "n")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(c, "document")), "notes.md");
    ck_assert_str_eq(json_string_value(json_object_get(c, "heading")), "Intro");
    ck_assert(json_is_null(json_object_get(c, "page")));
    ck_assert(strncmp(json_string_value(json_object_get(c, "snippet")),
                      "The capital of Zorbania", 23) == 0);
    ck_assert(json_real_value(json_object_get(c, "similarity")) == 0.6123);
    c = json_array_get(a, 1);
    ck_assert_int_eq(json_integer_value(json_object_get(c, "n")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(c, "page")), 7);
    json_decref(a);
    for (int i = 0; i < 2; i++) {
        free(h[i].document);
        free(h[i].heading);
        free(h[i].text);
    }
}
END_TEST

/* Anyone but a shared bot's owner: which source, never its text or ids. */
START_TEST(citations_for_others_name_the_source_only)
{
    mg_hit_t  h[2];
    json_t   *a, *c;
    char     *dump;

    h[0] = hit("notes.md", "Intro", doc_text, 0, 0.61234, 1);
    h[1] = hit("report.pdf", "Secret heading", "Beta fact.", 7, 0.4, 0);
    a = mg_rag_citations_others(h, 2);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(json_array_size(a), 2);
    for (size_t i = 0; i < 2; i++) {
        c = json_array_get(a, i);
        ck_assert_uint_eq(json_object_size(c), 2);
        ck_assert_int_eq(json_integer_value(json_object_get(c, "n")), (json_int_t) i + 1);
        ck_assert_str_eq(json_string_value(json_object_get(c, "document")), h[i].document);
    }
    dump = json_dumps(a, JSON_COMPACT);
    ck_assert_ptr_nonnull(dump);
    ck_assert_ptr_null(strstr(dump, "Zorbania"));
    ck_assert_ptr_null(strstr(dump, "Beta fact"));
    ck_assert_ptr_null(strstr(dump, "Secret heading"));
    ck_assert_ptr_null(strstr(dump, h[0].chunk_id));
    ck_assert_ptr_null(strstr(dump, h[0].document_id));
    free(dump);
    json_decref(a);
    a = mg_rag_citations_others(h, 0);
    ck_assert_uint_eq(json_array_size(a), 0);
    json_decref(a);
    for (int i = 0; i < 2; i++) {
        free(h[i].document);
        free(h[i].heading);
        free(h[i].text);
    }
}
END_TEST

START_TEST(extractive_answer_quotes_with_numbers)
{
    mg_hit_t  h[2];
    char     *a;
    const char *q = "Which city is the capital of Zorbania?";

    h[0] = hit("atlas.md", "", doc_text, 0, 0.6, 1);
    h[1] = hit("misc.txt", "", "Unrelated words only. Nothing else here.", 0, 0.3, 0);
    a = mg_rag_extractive(q, strlen(q), h, 2);
    ck_assert_ptr_nonnull(a);
    ck_assert(strncmp(a, "This is Mangoo's offline model", 30) == 0);
    ck_assert_msg(strstr(a, "From atlas.md: \"The capital of Zorbania is Quuxville, founded in "
                            "1642 by traders.") != NULL, "got: %s", a);
    ck_assert_ptr_nonnull(strstr(a, "\" [1]"));
    /* a source sharing no word with the question is not quoted */
    ck_assert_ptr_null(strstr(a, "[2]"));
    free(a);

    /* sources sharing no word with the question: nothing to quote */
    a = mg_rag_extractive(q, strlen(q), h + 1, 1);
    ck_assert_ptr_nonnull(strstr(a, "nothing in the documents"));
    ck_assert_ptr_null(strstr(a, "Unrelated"));
    free(a);

    a = mg_rag_extractive(q, strlen(q), h, 0);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(strstr(a, "offline model"));
    ck_assert_ptr_nonnull(strstr(a, "nothing in the documents"));
    ck_assert_ptr_null(strstr(a, "["));
    free(a);
    for (int i = 0; i < 2; i++) {
        free(h[i].document);
        free(h[i].heading);
        free(h[i].text);
    }
}
END_TEST

/* The local provider's state for a grounded turn holds the extractive
 * answer; the stream engine delivers it word by word (check_worker_
 * providers covers that path), so the text is what matters here. */
START_TEST(local_provider_answers_grounded_turns)
{
    mg_hit_t            h = hit("atlas.md", "", doc_text, 0, 0.6, 1);
    mg_chat_turn_t      turn = { "user", "capital of Zorbania?", 20 };
    mg_chat_request_t   req = { "local", "sys", &turn, 1, 0.5, 1000, 1, &h, 1, NULL, 0 };
    mg_stream_t         s;
    char                err[128];
    struct { char *answer; size_t len; } *l;

    memset(&s, 0, sizeof(s));
    s.provider = &mg_provider_local;
    ck_assert_int_eq(mg_provider_local.prepare(&s, &req, err, sizeof(err)), 0);
    l = s.pdata;
    ck_assert_ptr_nonnull(strstr(l->answer, "offline model"));
    ck_assert_ptr_nonnull(strstr(l->answer, "Quuxville"));
    ck_assert_ptr_nonnull(strstr(l->answer, "[1]"));
    mg_provider_local.release(&s);

    req.nsources = 0;
    ck_assert_int_eq(mg_provider_local.prepare(&s, &req, err, sizeof(err)), 0);
    l = s.pdata;
    ck_assert_ptr_nonnull(strstr(l->answer, "nothing in the documents"));
    mg_provider_local.release(&s);
    free(h.document);
    free(h.heading);
    free(h.text);
}
END_TEST

static Suite *
rag_suite(void)
{
    Suite *s = suite_create("rag");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, snippet_picks_the_sentence_with_the_query_words);
    tcase_add_test(tc, snippet_stemming_and_case);
    tcase_add_test(tc, snippet_without_a_match_is_the_start);
    tcase_add_test(tc, snippet_is_bounded_and_cut_on_utf8);
    tcase_add_test(tc, keep_relevant_filters_in_order_and_frees);
    tcase_add_test(tc, system_prompt_numbers_the_sources);
    tcase_add_test(tc, citations_json);
    tcase_add_test(tc, citations_for_others_name_the_source_only);
    tcase_add_test(tc, extractive_answer_quotes_with_numbers);
    tcase_add_test(tc, local_provider_answers_grounded_turns);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(rag_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
