/*
 * extract: a document's bytes -> one UTF-8 text and its blocks (paragraphs
 * and headings, in document order), for chunk.c to cut up.
 *
 *   text/plain       UTF-8 only; paragraphs are separated by blank lines.
 *   text/markdown    the same, plus ATX (#..######) and setext headings;
 *                    a fenced code block stays one block; thematic breaks go.
 *   text/html        libxml2's HTML parser (recovering, no network): the
 *                    body's text; head, script, style, noscript, template
 *                    (and svg, iframe, object, canvas) dropped; h1..h6 are
 *                    headings; each block element closes a block (a
 *                    table row is one block, its cells joined by " | ");
 *                    whitespace collapsed except inside pre.
 *   application/pdf  poppler-glib, page by page: one block per paragraph
 *                    (blank-line separated in poppler's text) with its page.
 *
 * Invariants: doc->text is valid UTF-8 and NUL-terminated; blocks are
 * trimmed, non-empty, in order and joined in text by "\n\n"; every block's
 * [start, end) lies on UTF-8 character boundaries.  No glib or libxml2 type
 * leaves this file.  Errors are sentences for the document's owner.
 */
#include "knowledge/extract.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <poppler.h>

#include "util/errf.h"
#include "util/sb.h"

/* ------------------------------------------------------------------ */
/* The growing document                                                */

typedef struct {
    mg_doc_t  doc;
    size_t    cap, bcap;
    int       oom;
} mg_doc_build_t;

static int
mg_build_reserve(mg_doc_build_t *b, size_t more)
{
    char    *grown;
    size_t   cap;

    if (b->doc.len + more + 1 <= b->cap) {
        return 0;
    }
    cap = b->cap ? b->cap : 4096;
    while (cap < b->doc.len + more + 1) {
        cap *= 2;
    }
    grown = realloc(b->doc.text, cap);
    if (grown == NULL) {
        b->oom = 1;
        return -1;
    }
    b->doc.text = grown;
    b->cap = cap;
    return 0;
}

static int
mg_is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Append s[0..n) (valid UTF-8) as one block, trimmed; nothing when blank. */
static void
mg_build_block(mg_doc_build_t *b, mg_block_kind_t kind, int level, int page,
               const char *s, size_t n)
{
    mg_block_t  *blk;

    while (n > 0 && mg_is_space((unsigned char) s[0])) {
        s++;
        n--;
    }
    while (n > 0 && mg_is_space((unsigned char) s[n - 1])) {
        n--;
    }
    if (n == 0 || b->oom) {
        return;
    }
    if (b->doc.nblocks == b->bcap) {
        size_t       bcap = b->bcap ? b->bcap * 2 : 64;
        mg_block_t  *grown = realloc(b->doc.blocks, bcap * sizeof(*grown));

        if (grown == NULL) {
            b->oom = 1;
            return;
        }
        b->doc.blocks = grown;
        b->bcap = bcap;
    }
    if (mg_build_reserve(b, n + 2) != 0) {
        return;
    }
    if (b->doc.nblocks > 0) {
        memcpy(b->doc.text + b->doc.len, "\n\n", 2);
        b->doc.len += 2;
    }
    blk = &b->doc.blocks[b->doc.nblocks++];
    blk->kind = kind;
    blk->level = kind == MG_BLOCK_HEADING ? level : 0;
    blk->page = page;
    blk->start = b->doc.len;
    memcpy(b->doc.text + b->doc.len, s, n);
    b->doc.len += n;
    blk->end = b->doc.len;
    b->doc.text[b->doc.len] = '\0';
}

/* ------------------------------------------------------------------ */
/* UTF-8                                                               */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t
mg_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];

    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80
            || (c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F))
        {
            return 0;           /* short, overlong or a surrogate */
        }
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80
            || (s[3] & 0xC0) != 0x80 || (c == 0xF0 && s[1] < 0x90)
            || (c == 0xF4 && s[1] > 0x8F))
        {
            return 0;
        }
        return 4;
    }
    return 0;
}

/* Offset of the first invalid byte, or n when s is valid UTF-8. */
static size_t
mg_utf8_check(const char *s, size_t n)
{
    const unsigned char  *u = (const unsigned char *) s;
    size_t                i = 0, k;

    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        k = mg_utf8_seq(u + i, n - i);
        if (k == 0) {
            return i;
        }
        i += k;
    }
    return n;
}

/* A malloc'd copy of s with invalid sequences as U+FFFD, control bytes
 * other than tab and newline as spaces, CR and form feed as newlines. */
static char *
mg_utf8_clean(const char *s, size_t n, size_t *outlen)
{
    const unsigned char  *u = (const unsigned char *) s;
    char                 *out = malloc(3 * n + 1), *p = out;
    size_t                i = 0, k;

    if (out == NULL) {
        return NULL;
    }
    while (i < n) {
        if (u[i] < 0x80) {
            unsigned char c = u[i++];

            if (c == '\r' || c == '\f' || c == '\v') {
                c = '\n';
            } else if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7F) {
                c = ' ';
            }
            *p++ = (char) c;
            continue;
        }
        k = mg_utf8_seq(u + i, n - i);
        if (k == 0) {
            memcpy(p, "\xEF\xBF\xBD", 3);
            p += 3;
            i++;
            continue;
        }
        memcpy(p, u + i, k);
        p += k;
        i += k;
    }
    *p = '\0';
    *outlen = (size_t) (p - out);
    return out;
}

/* ------------------------------------------------------------------ */
/* Plain text and Markdown                                             */

/* Binary data sent as text: any NUL, or more than one byte in 16 of
 * control characters other than white space. */
static int
mg_looks_binary(const char *s, size_t n)
{
    size_t  ctl = 0;

    if (memchr(s, '\0', n) != NULL) {
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];

        if ((c < 0x20 && !mg_is_space(c) && c != 0x1B) || c == 0x7F) {
            ctl++;
        }
    }
    return ctl * 16 > n;
}

/* s[0..n) with the BOM dropped and CRLF / CR as LF: malloc'd. */
static char *
mg_text_normalise(const char *s, size_t n, size_t *outlen)
{
    char    *out, *p;

    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        s += 3;
        n -= 3;
    }
    out = malloc(n + 1);
    if (out == NULL) {
        return NULL;
    }
    p = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r') {
            *p++ = '\n';
            if (i + 1 < n && s[i + 1] == '\n') {
                i++;
            }
        } else {
            *p++ = s[i];
        }
    }
    *p = '\0';
    *outlen = (size_t) (p - out);
    return out;
}

static int
mg_line_blank(const char *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!mg_is_space((unsigned char) l[i])) {
            return 0;
        }
    }
    return 1;
}

/* Up to three spaces of indentation, as Markdown allows before a block. */
static size_t
mg_md_indent(const char *l, size_t n)
{
    size_t i = 0;

    while (i < n && i < 3 && l[i] == ' ') {
        i++;
    }
    return i;
}

/* An opening or closing code fence: its character and length, else 0. */
static size_t
mg_md_fence(const char *l, size_t n, char *ch)
{
    size_t i = mg_md_indent(l, n), k = 0;

    if (i < n && (l[i] == '`' || l[i] == '~')) {
        *ch = l[i];
        while (i + k < n && l[i + k] == *ch) {
            k++;
        }
    }
    return k >= 3 ? k : 0;
}

/* An ATX heading: its level, and its text in *t, *tn; else 0. */
static int
mg_md_atx(const char *l, size_t n, const char **t, size_t *tn)
{
    size_t  i = mg_md_indent(l, n), level = 0, e;

    while (i + level < n && l[i + level] == '#') {
        level++;
    }
    if (level == 0 || level > 6
        || (i + level < n && l[i + level] != ' ' && l[i + level] != '\t'))
    {
        return 0;
    }
    i += level;
    e = n;
    while (e > i && mg_is_space((unsigned char) l[e - 1])) {
        e--;
    }
    /* an optional closing run of #, after a space */
    {
        size_t c = e;

        while (c > i && l[c - 1] == '#') {
            c--;
        }
        if (c < e && (c == i || l[c - 1] == ' ' || l[c - 1] == '\t')) {
            e = c;
        }
    }
    *t = l + i;
    *tn = e - i;
    return (int) level;
}

/* A setext underline: 1 for ===, 2 for ---, else 0. */
static int
mg_md_setext(const char *l, size_t n)
{
    size_t  i = mg_md_indent(l, n), k = 0;
    char    ch;

    if (i >= n || (l[i] != '=' && l[i] != '-')) {
        return 0;
    }
    ch = l[i];
    while (i + k < n && l[i + k] == ch) {
        k++;
    }
    if (!mg_line_blank(l + i + k, n - i - k)) {
        return 0;
    }
    return ch == '=' ? 1 : 2;
}

/* ***, --- or ___ (spaces allowed between), alone on its line. */
static int
mg_md_break(const char *l, size_t n)
{
    size_t  i = mg_md_indent(l, n), k = 0;
    char    ch;

    if (i >= n || (l[i] != '*' && l[i] != '-' && l[i] != '_')) {
        return 0;
    }
    ch = l[i];
    for (; i < n; i++) {
        if (l[i] == ch) {
            k++;
        } else if (l[i] != ' ' && l[i] != '\t') {
            return 0;
        }
    }
    return k >= 3;
}

static void
mg_text_blocks(mg_doc_build_t *b, const char *s, size_t n, int markdown)
{
    size_t  pos = 0, para = 0, para_end = 0, fence_start = 0, fence_len = 0;
    int     in_para = 0, in_fence = 0;
    char    fence_ch = 0, ch;

    while (pos < n) {
        const char  *l = s + pos, *nl = memchr(l, '\n', n - pos), *t;
        size_t       ln = nl ? (size_t) (nl - l) : n - pos, next = pos + ln + (nl ? 1 : 0), tn, k;
        int          level;

        if (in_fence) {
            k = mg_md_fence(l, ln, &ch);
            if (k >= fence_len && ch == fence_ch && mg_line_blank(l + mg_md_indent(l, ln) + k,
                                                                  ln - mg_md_indent(l, ln) - k))
            {
                mg_build_block(b, MG_BLOCK_TEXT, 0, 0, s + fence_start, pos + ln - fence_start);
                in_fence = 0;
            }
            pos = next;
            continue;
        }
        if (mg_line_blank(l, ln)) {
            if (in_para) {
                mg_build_block(b, MG_BLOCK_TEXT, 0, 0, s + para, para_end - para);
                in_para = 0;
            }
            pos = next;
            continue;
        }
        if (markdown) {
            if (in_para && (level = mg_md_setext(l, ln)) != 0) {
                mg_build_block(b, MG_BLOCK_HEADING, level, 0, s + para, para_end - para);
                in_para = 0;
                pos = next;
                continue;
            }
            if ((k = mg_md_fence(l, ln, &ch)) != 0) {
                if (in_para) {
                    mg_build_block(b, MG_BLOCK_TEXT, 0, 0, s + para, para_end - para);
                    in_para = 0;
                }
                in_fence = 1;
                fence_ch = ch;
                fence_len = k;
                fence_start = pos;
                pos = next;
                continue;
            }
            if ((level = mg_md_atx(l, ln, &t, &tn)) != 0) {
                if (in_para) {
                    mg_build_block(b, MG_BLOCK_TEXT, 0, 0, s + para, para_end - para);
                    in_para = 0;
                }
                mg_build_block(b, MG_BLOCK_HEADING, level, 0, t, tn);
                pos = next;
                continue;
            }
            if (mg_md_break(l, ln)) {
                if (in_para) {
                    mg_build_block(b, MG_BLOCK_TEXT, 0, 0, s + para, para_end - para);
                    in_para = 0;
                }
                pos = next;
                continue;
            }
        }
        if (!in_para) {
            in_para = 1;
            para = pos;
        }
        para_end = pos + ln;
        pos = next;
    }
    if (in_fence) {                 /* an unclosed fence runs to the end */
        mg_build_block(b, MG_BLOCK_TEXT, 0, 0, s + fence_start, n - fence_start);
    } else if (in_para) {
        mg_build_block(b, MG_BLOCK_TEXT, 0, 0, s + para, para_end - para);
    }
}

static int
mg_extract_text(mg_doc_build_t *b, const char *data, size_t len, int markdown,
                char *err, size_t errlen)
{
    char    *text;
    size_t   n, bad;

    if (len >= 2 && (memcmp(data, "\xFF\xFE", 2) == 0 || memcmp(data, "\xFE\xFF", 2) == 0)) {
        mg_errf(err, errlen, "the file is UTF-16 text, not UTF-8; save it as UTF-8 and "
                "upload it again");
        return -1;
    }
    if (mg_looks_binary(data, len)) {
        mg_errf(err, errlen, "the file is not text");
        return -1;
    }
    bad = mg_utf8_check(data, len);
    if (bad != len) {
        mg_errf(err, errlen, "the file is not valid UTF-8 (invalid byte at offset %zu); "
                "save it as UTF-8 and upload it again", bad);
        return -1;
    }
    text = mg_text_normalise(data, len, &n);
    if (text == NULL) {
        b->oom = 1;
        return -1;
    }
    mg_text_blocks(b, text, n, markdown);
    free(text);
    return 0;
}

/* ------------------------------------------------------------------ */
/* HTML                                                                */

typedef struct {
    mg_doc_build_t  *b;
    mg_sb_t          buf;           /* the block being gathered */
    int              space;         /* a collapsed space is pending */
    int              pre;           /* inside pre: white space kept */
    int              heading;       /* level of the heading being gathered */
} mg_html_t;

static void
mg_html_put(mg_html_t *h, const char *s, size_t n)
{
    mg_sb_add(&h->buf, s, n);
    if (h->buf.oom) {
        h->b->oom = 1;
    }
}

static void
mg_html_text(mg_html_t *h, const char *s)
{
    if (h->pre) {
        mg_html_put(h, s, strlen(s));
        return;
    }
    for (; *s; s++) {
        if (mg_is_space((unsigned char) *s)) {
            h->space = 1;
            continue;
        }
        if (h->space && h->buf.len > 0 && h->buf.p[h->buf.len - 1] != '\n') {
            mg_html_put(h, " ", 1);
        }
        h->space = 0;
        mg_html_put(h, s, 1);
    }
}

static void
mg_html_flush(mg_html_t *h)
{
    if (h->buf.len > 0) {
        mg_build_block(h->b, h->heading ? MG_BLOCK_HEADING : MG_BLOCK_TEXT, h->heading, 0,
                       h->buf.p, h->buf.len);
    }
    h->buf.len = 0;
    h->space = 0;
}

static int
mg_html_is(const xmlNode *n, const char *const *names)
{
    for (; *names; names++) {
        if (xmlStrcasecmp(n->name, (const xmlChar *) *names) == 0) {
            return 1;
        }
    }
    return 0;
}

static const char *const mg_html_skip[] = {
    "head", "script", "style", "noscript", "template", "svg", "math", "iframe", "object",
    "canvas", "select", "button", NULL
};

static const char *const mg_html_blocks[] = {
    "p", "div", "li", "ul", "ol", "dl", "dt", "dd", "tr", "table", "thead",
    "tbody", "tfoot", "caption", "pre", "blockquote", "section", "article", "header",
    "footer", "main", "nav", "aside", "figure", "figcaption", "address", "form",
    "fieldset", "legend", "details", "summary", "hr", "body", "center", "option", NULL
};

static const char *const mg_html_cells[] = { "td", "th", NULL };

static void
mg_html_walk(mg_html_t *h, xmlNode *node)
{
    for (xmlNode *n = node; n != NULL && !h->b->oom; n = n->next) {
        if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
            if (n->content != NULL) {
                mg_html_text(h, (const char *) n->content);
            }
            continue;
        }
        if (n->type != XML_ELEMENT_NODE || n->name == NULL) {
            continue;
        }
        if (mg_html_is(n, mg_html_skip)) {
            continue;
        }
        if (xmlStrcasecmp(n->name, (const xmlChar *) "br") == 0) {
            mg_html_put(h, "\n", 1);
            h->space = 0;
            continue;
        }
        if (n->name[0] != '\0' && (n->name[0] == 'h' || n->name[0] == 'H')
            && n->name[1] >= '1' && n->name[1] <= '6' && n->name[2] == '\0' && !h->heading)
        {
            mg_html_flush(h);
            h->heading = n->name[1] - '0';
            mg_html_walk(h, n->children);
            mg_html_flush(h);
            h->heading = 0;
            continue;
        }
        if (mg_html_is(n, mg_html_cells)) {
            /* a table row is one block, its cells apart */
            if (h->buf.len > 0 && h->buf.p[h->buf.len - 1] != '\n') {
                mg_html_put(h, " | ", 3);
            }
            h->space = 0;
            mg_html_walk(h, n->children);
            h->space = 0;
            continue;
        }
        if (mg_html_is(n, mg_html_blocks) && !h->heading) {
            int pre = xmlStrcasecmp(n->name, (const xmlChar *) "pre") == 0;

            mg_html_flush(h);
            h->pre += pre;
            mg_html_walk(h, n->children);
            mg_html_flush(h);
            h->pre -= pre;
            continue;
        }
        mg_html_walk(h, n->children);
    }
}

/* "charset=..." of a Content-Type's parameters, into out; else "". */
static void
mg_content_charset(const char *ct, char *out, size_t len)
{
    const char *p = ct;

    out[0] = '\0';
    while ((p = strchr(p, ';')) != NULL) {
        size_t n;

        p++;
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (strncasecmp(p, "charset=", 8) != 0) {
            continue;
        }
        p += 8;
        if (*p == '"') {
            p++;
        }
        n = strcspn(p, "\"; \t");
        if (n > 0 && n < len) {
            memcpy(out, p, n);
            out[n] = '\0';
        }
        return;
    }
}

static pthread_once_t mg_xml_once = PTHREAD_ONCE_INIT;

static void
mg_xml_init(void)
{
    xmlInitParser();
}

static int
mg_extract_html(mg_doc_build_t *b, const char *ct, const char *data, size_t len,
                char *err, size_t errlen)
{
    htmlDocPtr   doc;
    xmlNode     *root, *body = NULL;
    mg_html_t    h;
    char         charset[64];
    const char  *enc = NULL;

    pthread_once(&mg_xml_once, mg_xml_init);
    if (len > INT32_MAX) {
        mg_errf(err, errlen, "the HTML document is too large");
        return -1;
    }
    if (mg_looks_binary(data, len)) {
        mg_errf(err, errlen, "the file is not text");
        return -1;
    }
    /* the HTTP charset wins over a meta tag; libxml2 ignores one it does not know */
    mg_content_charset(ct, charset, sizeof(charset));
    if (charset[0] != '\0') {
        enc = charset;
    }
    doc = htmlReadMemory(data, (int) len, NULL, enc,
                         HTML_PARSE_RECOVER | HTML_PARSE_NONET | HTML_PARSE_NOERROR
                         | HTML_PARSE_NOWARNING | HTML_PARSE_COMPACT);
    if (doc == NULL) {
        mg_errf(err, errlen, "the HTML could not be read");
        return -1;
    }
    memset(&h, 0, sizeof(h));
    h.b = b;
    root = xmlDocGetRootElement(doc);
    for (xmlNode *n = root ? root->children : NULL; n != NULL; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && xmlStrcasecmp(n->name, (const xmlChar *) "body") == 0) {
            body = n;
            break;
        }
    }
    /* without a body (a fragment), everything outside head counts */
    mg_html_walk(&h, body != NULL ? body : root);
    mg_html_flush(&h);
    free(h.buf.p);
    xmlFreeDoc(doc);
    return 0;
}

/* The builder's blocks hold libxml2's text: make sure it is valid UTF-8.
 * libxml2 always produces UTF-8, so this only guards against surprises. */
static int
mg_build_sanitise(mg_doc_build_t *b)
{
    char    *clean;
    size_t   n;

    if (b->doc.text == NULL || mg_utf8_check(b->doc.text, b->doc.len) == b->doc.len) {
        return 0;
    }
    /* rebuild block by block so that offsets follow the replacements */
    {
        mg_doc_build_t  nb;

        memset(&nb, 0, sizeof(nb));
        for (size_t i = 0; i < b->doc.nblocks; i++) {
            mg_block_t *k = &b->doc.blocks[i];

            clean = mg_utf8_clean(b->doc.text + k->start, k->end - k->start, &n);
            if (clean == NULL) {
                nb.oom = 1;
                break;
            }
            mg_build_block(&nb, k->kind, k->level, k->page, clean, n);
            free(clean);
        }
        nb.doc.npages = b->doc.npages;
        mg_doc_free(&b->doc);
        *b = nb;
    }
    return b->oom ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* PDF                                                                 */

/* poppler's global state is set up on first use; documents are kept to
 * one thread at a time here (ingestion is a thread or two per process). */
static pthread_mutex_t mg_pdf_lock = PTHREAD_MUTEX_INITIALIZER;

static void
mg_pdf_log(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
    (void) domain; (void) level; (void) message; (void) data;
    /* poppler's complaints about a broken file: the failure says enough */
}

static pthread_once_t mg_pdf_once = PTHREAD_ONCE_INIT;

static void
mg_pdf_init(void)
{
    g_log_set_handler("Poppler", G_LOG_LEVEL_MASK, mg_pdf_log, NULL);
}

/* Does a PDF line end a paragraph?  poppler gives lines, not paragraphs:
 * a line that ends a sentence and stops well short of the page's longest
 * line is taken as a paragraph's last. */
static int
mg_pdf_line_ends_para(const char *l, size_t n, size_t longest)
{
    unsigned char c;

    while (n > 0 && mg_is_space((unsigned char) l[n - 1])) {
        n--;
    }
    if (n == 0) {
        return 1;
    }
    c = (unsigned char) l[n - 1];
    if (c != '.' && c != '!' && c != '?' && c != ':' && c != '"' && c != ')'
        && !(n >= 3 && memcmp(l + n - 3, "\xE3\x80\x82", 3) == 0))
    {
        return 0;
    }
    return n * 5 < longest * 4;
}

/* One page's text: paragraphs at blank lines and at short lines that end
 * a sentence. */
static void
mg_pdf_page(mg_doc_build_t *b, const char *text, int page)
{
    char    *clean;
    size_t   n, pos, para = 0, longest = 0;
    int      in_para = 0;

    clean = mg_utf8_clean(text, strlen(text), &n);
    if (clean == NULL) {
        b->oom = 1;
        return;
    }
    for (pos = 0; pos < n; ) {
        const char  *nl = memchr(clean + pos, '\n', n - pos);
        size_t       ln = nl ? (size_t) (nl - clean - pos) : n - pos;

        longest = ln > longest ? ln : longest;
        pos += ln + 1;
    }
    for (pos = 0; pos < n; ) {
        const char  *l = clean + pos, *nl = memchr(l, '\n', n - pos);
        size_t       ln = nl ? (size_t) (nl - l) : n - pos;

        if (mg_line_blank(l, ln)) {
            if (in_para) {
                mg_build_block(b, MG_BLOCK_TEXT, 0, page, clean + para, pos - para);
                in_para = 0;
            }
        } else {
            if (!in_para) {
                in_para = 1;
                para = pos;
            }
            if (mg_pdf_line_ends_para(l, ln, longest)) {
                mg_build_block(b, MG_BLOCK_TEXT, 0, page, clean + para, pos + ln - para);
                in_para = 0;
            }
        }
        pos += ln + 1;
    }
    if (in_para) {
        mg_build_block(b, MG_BLOCK_TEXT, 0, page, clean + para, n - para);
    }
    free(clean);
}

static int
mg_extract_pdf(mg_doc_build_t *b, const char *data, size_t len, char *err, size_t errlen)
{
    GBytes           *bytes;
    PopplerDocument  *doc;
    GError           *gerr = NULL;
    int               npages, rc = 0;

    pthread_once(&mg_pdf_once, mg_pdf_init);
    pthread_mutex_lock(&mg_pdf_lock);
    bytes = g_bytes_new_static(data, len);      /* data outlives doc: freed below */
    doc = poppler_document_new_from_bytes(bytes, NULL, &gerr);
    if (doc == NULL) {
        if (gerr != NULL && gerr->domain == POPPLER_ERROR
            && gerr->code == POPPLER_ERROR_ENCRYPTED)
        {
            mg_errf(err, errlen, "the PDF is encrypted");
        } else {
            mg_errf(err, errlen, "the PDF could not be read");
        }
        rc = -1;
        goto done;
    }
    npages = poppler_document_get_n_pages(doc);
    b->doc.npages = npages > 0 ? npages : 0;
    for (int i = 0; i < npages && !b->oom; i++) {
        PopplerPage  *page = poppler_document_get_page(doc, i);
        char         *text;

        if (page == NULL) {
            continue;
        }
        text = poppler_page_get_text(page);
        if (text != NULL) {
            mg_pdf_page(b, text, i + 1);
            g_free(text);
        }
        g_object_unref(page);
    }
    g_object_unref(doc);

done:
    if (gerr != NULL) {
        g_error_free(gerr);
    }
    g_bytes_unref(bytes);
    pthread_mutex_unlock(&mg_pdf_lock);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The entry point                                                     */

/* The media type of ct, lower-cased, without parameters. */
static void
mg_media_type(const char *ct, char *out, size_t len)
{
    size_t  i = 0;

    while (*ct == ' ' || *ct == '\t') {
        ct++;
    }
    for (; ct[i] && ct[i] != ';' && ct[i] != ' ' && ct[i] != '\t' && i + 1 < len; i++) {
        out[i] = (char) tolower((unsigned char) ct[i]);
    }
    out[i] = '\0';
}

int
mg_extract(const char *content_type, const char *data, size_t len,
           mg_doc_t *out, char *err, size_t errlen)
{
    mg_doc_build_t  b;
    char            mt[128];
    int             rc, pdf = 0;

    memset(out, 0, sizeof(*out));
    memset(&b, 0, sizeof(b));
    mg_media_type(content_type != NULL ? content_type : "", mt, sizeof(mt));
    if (data == NULL || len == 0) {
        mg_errf(err, errlen, "the document is empty");
        return -1;
    }
    if (strcmp(mt, "text/plain") == 0) {
        rc = mg_extract_text(&b, data, len, 0, err, errlen);
    } else if (strcmp(mt, "text/markdown") == 0 || strcmp(mt, "text/x-markdown") == 0) {
        rc = mg_extract_text(&b, data, len, 1, err, errlen);
    } else if (strcmp(mt, "text/html") == 0 || strcmp(mt, "application/xhtml+xml") == 0) {
        rc = mg_extract_html(&b, content_type, data, len, err, errlen);
        if (rc == 0) {
            rc = mg_build_sanitise(&b);
        }
    } else if (strcmp(mt, "application/pdf") == 0) {
        pdf = 1;
        rc = mg_extract_pdf(&b, data, len, err, errlen);
    } else {
        mg_errf(err, errlen, "unsupported content type \"%s\"", mt);
        rc = -1;
    }
    if (b.oom) {
        mg_errf(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc == 0 && b.doc.nblocks == 0) {
        mg_errf(err, errlen, pdf ? "no text found (a scanned PDF?)" : "no text found");
        rc = -1;
    }
    if (rc != 0) {
        mg_doc_free(&b.doc);
        return -1;
    }
    *out = b.doc;
    return 0;
}

void
mg_doc_free(mg_doc_t *doc)
{
    if (doc == NULL) {
        return;
    }
    free(doc->text);
    free(doc->blocks);
    memset(doc, 0, sizeof(*doc));
}
