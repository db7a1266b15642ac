/* Text extraction for knowledge-base documents: text/plain, text/markdown, text/html and
 * application/pdf become one UTF-8 text with blocks (paragraphs and headings) in document
 * order.  No glib or libxml2 type appears here. */
#ifndef MG_KNOWLEDGE_EXTRACT_H
#define MG_KNOWLEDGE_EXTRACT_H

#include <stddef.h>

typedef enum { MG_BLOCK_TEXT = 0, MG_BLOCK_HEADING } mg_block_kind_t;

typedef struct {
    mg_block_kind_t  kind;
    int              level;   /* headings: 1..6 */
    int              page;    /* 1-based; 0 when the format has no pages */
    size_t           start, end;   /* byte offsets into mg_doc_t.text */
} mg_block_t;

typedef struct {
    char        *text;        /* valid UTF-8, NUL-terminated, owned */
    size_t       len;
    mg_block_t  *blocks;      /* in document order, owned */
    size_t       nblocks;
    int          npages;
} mg_doc_t;

/* content_type: "text/plain", "text/markdown", "text/html", "application/pdf"
 * (parameters such as charset allowed).  0, or -1 with a reason in err that can be
 * shown to the user (e.g. "the PDF is encrypted", "no text found", "not valid UTF-8"). */
int  mg_extract(const char *content_type, const char *data, size_t len,
                mg_doc_t *out, char *err, size_t errlen);
void mg_doc_free(mg_doc_t *doc);

#endif
