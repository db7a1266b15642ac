/*
 * mg_rag: owns the text work of grounded answers (rag.h): words, sentences,
 * snippets, the grounded system prompt, the citations and the offline
 * model's extractive answer.  Pure functions over their arguments: no
 * database, no network, no globals.
 *
 * Words are runs of ASCII letters and digits and of non-ASCII bytes (so a
 * UTF-8 character is never split), compared with ASCII case folded and a
 * light prefix rule standing in for stemming ("capital" ~ "capitals").
 * Every cut lands on a UTF-8 boundary.
 */
#include "knowledge/rag.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/sb.h"

#define MG_RAG_TERMS_MAX   32
#define MG_RAG_TERM_LEN    32
#define MG_RAG_QUOTE_MAX   400     /* bytes of one quoted passage */
#define MG_ELLIPSIS        "\xE2\x80\xA6"

typedef struct {
    char    w[MG_RAG_TERMS_MAX][MG_RAG_TERM_LEN];
    size_t  len[MG_RAG_TERMS_MAX];
    size_t  n;
} mg_rag_terms_t;

static const char *const mg_rag_stopwords[] = {
    "a", "about", "all", "an", "and", "any", "are", "as", "at", "be", "by", "can", "could",
    "did", "do", "does", "for", "from", "had", "has", "have", "how", "i", "if", "in", "into",
    "is", "it", "its", "me", "my", "of", "on", "or", "our", "say", "says", "tell", "that",
    "the", "their", "them", "there", "these", "they", "this", "to", "was", "we", "were",
    "what", "when", "where", "which", "who", "whom", "why", "will", "with", "would", "you",
    "your", NULL
};

static int
mg_rag_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

static int
mg_rag_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static unsigned char
mg_rag_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char) (c + 32) : c;
}

static int
mg_rag_stopword(const char *w, size_t len)
{
    for (size_t i = 0; mg_rag_stopwords[i] != NULL; i++) {
        if (strlen(mg_rag_stopwords[i]) == len && memcmp(mg_rag_stopwords[i], w, len) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The distinct content words of a query, lowercased. */
static void
mg_rag_terms(const char *q, size_t qlen, mg_rag_terms_t *t)
{
    size_t i = 0;

    t->n = 0;
    while (i < qlen && t->n < MG_RAG_TERMS_MAX) {
        size_t  s, wl;
        char    w[MG_RAG_TERM_LEN];
        int     dup = 0;

        while (i < qlen && !mg_rag_word_byte((unsigned char) q[i])) {
            i++;
        }
        s = i;
        while (i < qlen && mg_rag_word_byte((unsigned char) q[i])) {
            i++;
        }
        wl = i - s;
        if (wl == 0) {
            break;
        }
        if (wl >= MG_RAG_TERM_LEN) {
            wl = MG_RAG_TERM_LEN - 1;
            while (wl > 0 && ((unsigned char) q[s + wl] & 0xC0) == 0x80) {
                wl--;
            }
        }
        for (size_t k = 0; k < wl; k++) {
            w[k] = (char) mg_rag_lower((unsigned char) q[s + k]);
        }
        if ((wl < 2 && (unsigned char) w[0] < 0x80) || mg_rag_stopword(w, wl)) {
            continue;
        }
        for (size_t k = 0; k < t->n; k++) {
            dup |= t->len[k] == wl && memcmp(t->w[k], w, wl) == 0;
        }
        if (!dup) {
            memcpy(t->w[t->n], w, wl);
            t->len[t->n++] = wl;
        }
    }
}

/* Does the word w (any case) match term t (lowercase)? */
static int
mg_rag_word_matches(const char *w, size_t wl, const char *t, size_t tl)
{
    size_t p = 0, m = wl < tl ? wl : tl;

    while (p < m && mg_rag_lower((unsigned char) w[p]) == (unsigned char) t[p]) {
        p++;
    }
    if (p == wl && p == tl) {
        return 1;
    }
    return p >= 4 && p + 2 >= m;
}

/* Bitmask of the terms matched by the words of text[a, b). */
static uint32_t
mg_rag_match_mask(const char *text, size_t a, size_t b, const mg_rag_terms_t *t,
                  size_t *first_match)
{
    uint32_t  mask = 0;
    size_t    i = a;

    if (first_match != NULL) {
        *first_match = b;
    }
    while (i < b) {
        size_t s;

        while (i < b && !mg_rag_word_byte((unsigned char) text[i])) {
            i++;
        }
        s = i;
        while (i < b && mg_rag_word_byte((unsigned char) text[i])) {
            i++;
        }
        for (size_t k = 0; i > s && k < t->n; k++) {
            if (mg_rag_word_matches(text + s, i - s, t->w[k], t->len[k])) {
                mask |= (uint32_t) 1 << k;
                if (first_match != NULL && *first_match == b) {
                    *first_match = s;
                }
            }
        }
    }
    return mask;
}

static int
mg_rag_popcount(uint32_t m)
{
    int n = 0;

    for (; m != 0; m &= m - 1) {
        n++;
    }
    return n;
}

/* The next sentence at or after pos: [*a, *b), leading space skipped.
 * A sentence ends after . ! ? followed by space, at a blank line, before
 * a line that starts a heading, list item, table row or quote, and at the
 * end of a heading or table row line.
 * 0 when only space is left. */
static int
mg_rag_sentence(const char *text, size_t len, size_t pos, size_t *a, size_t *b)
{
    size_t i = pos;

    while (i < len && mg_rag_space((unsigned char) text[i])) {
        i++;
    }
    if (i >= len) {
        return 0;
    }
    *a = i;
    for (; i < len; i++) {
        char c = text[i];

        if ((c == '.' || c == '!' || c == '?') && (i + 1 == len || mg_rag_space((unsigned char) text[i + 1]))) {
            *b = i + 1;
            return 1;
        }
        if (c == '\n' && i > *a) {
            size_t j = i + 1;

            while (j < len && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r')) {
                j++;
            }
            if (j >= len || text[j] == '\n' || text[j] == '#' || text[j] == '-' || text[j] == '*'
                || text[j] == '|' || text[j] == '>' || text[*a] == '#' || text[*a] == '|')
            {
                *b = i;
                return 1;
            }
        }
    }
    *b = len;
    return 1;
}

/* Append text[a, b) to out (at *o) word by word with whitespace runs
 * collapsed, never past limit bytes.  1 when something was left out. */
static int
mg_rag_copy(char *out, size_t *o, size_t limit, const char *text, size_t a, size_t b)
{
    size_t i = a;

    while (i < b) {
        size_t s, wl;
        int    sp = 0;

        while (i < b && mg_rag_space((unsigned char) text[i])) {
            i++;
            sp = 1;
        }
        if (i >= b) {
            break;
        }
        s = i;
        while (i < b && !mg_rag_space((unsigned char) text[i])) {
            i++;
        }
        wl = i - s;
        sp = (sp || s == a) && *o > 0;
        if (*o + (size_t) sp + wl > limit) {
            if (*o == 0) {                  /* one word longer than the room */
                wl = limit;
                while (wl > 0 && ((unsigned char) text[s + wl] & 0xC0) == 0x80) {
                    wl--;
                }
                memcpy(out, text + s, wl);
                *o = wl;
            }
            return 1;
        }
        if (sp) {
            out[(*o)++] = ' ';
        }
        memcpy(out + *o, text + s, wl);
        *o += wl;
    }
    return 0;
}

/* The best sentence of text[0, len) for terms: [*a, *b); its score. */
static int
mg_rag_best_sentence(const char *text, size_t len, const mg_rag_terms_t *t, size_t *a, size_t *b)
{
    size_t  pos = 0, sa, sb;
    int     best = -1;

    *a = *b = 0;
    while (mg_rag_sentence(text, len, pos, &sa, &sb)) {
        int score = mg_rag_popcount(mg_rag_match_mask(text, sa, sb, t, NULL));

        if (score > best) {
            best = score;
            *a = sa;
            *b = sb;
        }
        pos = sb;
    }
    return best < 0 ? 0 : best;
}

/* A passage of at most limit bytes starting with the sentence [a, b),
 * extended by the following ones while they fit; a window around the
 * first matched word when the sentence alone is too long. */
static size_t
mg_rag_passage(const char *text, size_t len, size_t a, size_t b, const mg_rag_terms_t *t,
               char *out, size_t limit)
{
    size_t  o = 0, sa, sb, first;
    int     cut;

    if (b <= a) {
        out[0] = '\0';
        return 0;
    }
    if (b - a > limit) {
        mg_rag_match_mask(text, a, b, t, &first);
        if (first < b && first > a + limit / 3) {
            size_t s = first - limit / 3;

            while (s < first && !mg_rag_space((unsigned char) text[s - 1])) {
                s++;                        /* to a word start */
            }
            memcpy(out, MG_ELLIPSIS, 3);
            o = 3;
            a = s;
        }
    }
    cut = mg_rag_copy(out, &o, limit - 3, text, a, b);
    if (!cut) {
        size_t pos = b;

        while (mg_rag_sentence(text, len, pos, &sa, &sb)) {
            size_t save = o;

            if (o + 1 + (sb - sa) > limit - 3 || mg_rag_copy(out, &o, limit - 3, text, sa, sb)) {
                o = save;
                break;
            }
            pos = sb;
        }
    } else {
        memcpy(out + o, MG_ELLIPSIS, 3);
        o += 3;
    }
    out[o] = '\0';
    return o;
}

size_t
mg_rag_snippet(const char *text, size_t len, const char *query, size_t qlen, char *out)
{
    mg_rag_terms_t  t;
    size_t          a, b;

    mg_rag_terms(query, qlen, &t);
    if (mg_rag_best_sentence(text, len, &t, &a, &b) == 0) {
        mg_rag_sentence(text, len, 0, &a, &b);      /* no word matches: the start */
    }
    return mg_rag_passage(text, len, a, b, &t, out, MG_SNIPPET_MAX);
}

size_t
mg_rag_keep_relevant(mg_hit_t *hits, size_t n, double floor)
{
    size_t kept = 0;

    for (size_t i = 0; i < n; i++) {
        if (hits[i].text_match || hits[i].similarity >= floor) {
            if (kept != i) {
                hits[kept] = hits[i];
            }
            kept++;
        } else {
            free(hits[i].document);
            free(hits[i].heading);
            free(hits[i].text);
        }
    }
    return kept;
}

char *
mg_rag_system_prompt(const char *instructions, const mg_hit_t *hits, size_t n)
{
    mg_sb_t  b = { 0 };
    char          num[48];

    if (instructions != NULL && *instructions != '\0') {
        mg_sb_adds(&b, instructions);
        mg_sb_adds(&b, "\n\n");
    }
    if (n == 0) {
        mg_sb_adds(&b, "The user's documents were searched for this question and nothing "
                    "relevant was found. Say plainly that you cannot answer this from the "
                    "documents; do not guess and do not answer from general knowledge.");
        return mg_sb_done(&b);
    }
    mg_sb_adds(&b, "Answer the user's question using only the numbered sources below, "
                "which come from the user's documents. Cite every fact with the number of "
                "its source in square brackets, like [1]. If the sources do not contain the "
                "answer, say that you cannot answer it from the documents.\n\nSources:");
    for (size_t i = 0; i < n; i++) {
        snprintf(num, sizeof(num), "\n\n[%zu] ", i + 1);
        mg_sb_adds(&b, num);
        mg_sb_adds(&b, hits[i].document);
        if (hits[i].heading[0] != '\0') {
            mg_sb_adds(&b, " > ");
            mg_sb_adds(&b, hits[i].heading);
        }
        if (hits[i].page > 0) {
            snprintf(num, sizeof(num), " (page %d)", hits[i].page);
            mg_sb_adds(&b, num);
        }
        mg_sb_adds(&b, "\n");
        mg_sb_adds(&b, hits[i].text);
    }
    return mg_sb_done(&b);
}

static double
mg_rag_round(double x)
{
    return floor(x * 10000.0 + 0.5) / 10000.0;
}

json_t *
mg_rag_citations(const mg_hit_t *hits, size_t n, const char *query, size_t qlen)
{
    json_t  *arr = json_array();
    char     snip[MG_SNIPPET_MAX + 1];

    if (arr == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *c;

        mg_rag_snippet(hits[i].text, strlen(hits[i].text), query, qlen, snip);
        c = json_pack("{s:I, s:s, s:s, s:s, s:o, s:s, s:s, s:f, s:f}",
                      "n", (json_int_t) (i + 1), "chunk_id", hits[i].chunk_id,
                      "document_id", hits[i].document_id, "document", hits[i].document,
                      "page", hits[i].page > 0 ? json_integer(hits[i].page) : json_null(),
                      "heading", hits[i].heading, "snippet", snip,
                      "score", mg_rag_round(hits[i].score),
                      "similarity", mg_rag_round(hits[i].similarity));
        if (c == NULL || json_array_append_new(arr, c) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

json_t *
mg_rag_citations_others(const mg_hit_t *hits, size_t n)
{
    json_t  *arr = json_array();

    for (size_t i = 0; arr != NULL && i < n; i++) {
        json_t *c = json_pack("{s:I, s:s}", "n", (json_int_t) (i + 1),
                              "document", hits[i].document);

        if (c == NULL || json_array_append_new(arr, c) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

char *
mg_rag_extractive(const char *question, size_t qlen, const mg_hit_t *hits, size_t n)
{
    mg_sb_t    b = { 0 };
    mg_rag_terms_t  t;
    char            quote[MG_RAG_QUOTE_MAX + 1], num[32];

    size_t          quoted = 0;

    mg_rag_terms(question, qlen, &t);
    mg_sb_adds(&b, "This is Mangoo's offline model: no language model is configured, so I "
                "can only quote the passages of your documents that best match the question.");
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(hits[i].text), a, bb;

        if (mg_rag_best_sentence(hits[i].text, len, &t, &a, &bb) == 0) {
            continue;                       /* nothing of the question in this one */
        }
        if (mg_rag_passage(hits[i].text, len, a, bb, &t, quote, MG_RAG_QUOTE_MAX) == 0) {
            continue;
        }
        quoted++;
        mg_sb_adds(&b, "\n\n");
        mg_sb_adds(&b, "From ");
        mg_sb_adds(&b, hits[i].document);
        mg_sb_adds(&b, ": \"");
        mg_sb_adds(&b, quote);
        snprintf(num, sizeof(num), "\" [%zu]", i + 1);
        mg_sb_adds(&b, num);
    }
    if (quoted == 0) {
        b.len = 0;
        mg_sb_adds(&b, "This is Mangoo's offline model. I found nothing in the documents "
                    "that answers this question, so I cannot answer it from the documents.");
    }
    return mg_sb_done(&b);
}
