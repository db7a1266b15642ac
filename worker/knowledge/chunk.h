/* Chunking of an extracted document into overlapping pieces of about target_tokens
 * tokens (mg_tokens_estimate), cut at block boundaries where possible. */
#ifndef MG_KNOWLEDGE_CHUNK_H
#define MG_KNOWLEDGE_CHUNK_H

#include <stddef.h>
#include "knowledge/extract.h"

typedef struct {
    size_t  start, end;      /* byte offsets into doc->text */
    int     page;            /* page of start, 0 when none */
    char   *heading;         /* heading path "Intro > Setup", owned, "" when none */
} mg_chunk_t;

typedef struct { int target_tokens; int overlap_tokens; } mg_chunk_opts_t;  /* 600, 80 */

int  mg_chunk(const mg_doc_t *doc, const mg_chunk_opts_t *opts, mg_chunk_t **out, size_t *n);
void mg_chunks_free(mg_chunk_t *chunks, size_t n);

#endif
