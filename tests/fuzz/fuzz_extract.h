/*
 * fuzz_extract.h: one document through mg_extract
 * (worker/knowledge/extract.c) as an upload's ingest runs it, for the
 * extract harnesses (each names its content type).  A document that
 * extracts must hold its own promises: NUL-terminated text of len bytes
 * without a NUL inside, blocks in order within the text, heading levels
 * 1..6.
 */
#ifndef MG_FUZZ_EXTRACT_H
#define MG_FUZZ_EXTRACT_H

#include <assert.h>

#include "fuzz.h"
#include "knowledge/extract.h"

static void
mg_fuzz_extract(const char *content_type, const uint8_t *data, size_t size)
{
    char       *buf = mg_fuzz_dup(data, size, 0);
    mg_doc_t    doc;
    char        err[256];
    size_t      prev = 0;

    memset(&doc, 0, sizeof(doc));
    if (mg_extract(content_type, buf, size, &doc, err, sizeof(err)) == 0) {
        assert(doc.text != NULL && doc.text[doc.len] == '\0');
        assert(strlen(doc.text) == doc.len);
        for (size_t i = 0; i < doc.nblocks; i++) {
            const mg_block_t *b = &doc.blocks[i];

            assert(b->start <= b->end && b->end <= doc.len && b->start >= prev);
            assert(b->kind != MG_BLOCK_HEADING || (b->level >= 1 && b->level <= 6));
            assert(b->page >= 0 && b->page <= doc.npages);
            prev = b->start;
        }
        mg_doc_free(&doc);
    } else {
        assert(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
    }
    free(buf);
}

#endif
