/* Embedding providers for knowledge bases: "local" (feature hashing, offline),
 * "amazon.titan-embed-text-v2:0" (Bedrock InvokeModel) and "openai:<model>"
 * (an OpenAI-compatible /embeddings endpoint).  Every vector is MG_EMBED_DIM floats,
 * L2-normalised. */
#ifndef MG_KNOWLEDGE_EMBED_H
#define MG_KNOWLEDGE_EMBED_H

#include <stddef.h>

#define MG_EMBED_DIM 1024

/* Is model configured here ("local" always; "amazon.titan-embed-text-v2:0" with Bedrock
 * credentials; "openai:<name>" with MANGOO_OPENAI_BASE_URL)? */
int  mg_embed_available(const char *model);

/* Embed n texts (a batch) into out[n * MG_EMBED_DIM], each L2-normalised.  Blocking
 * (pool thread or ingest thread).  0; -1 with err; retryable set when a retry may help
 * (throttling, 5xx, connection). */
int  mg_embed(const char *model, const char *const *texts, const size_t *lens, size_t n,
              float *out, int *retryable, char *err, size_t errlen);

/* pgvector's text form "[0.1,0.2,...]" of v into buf (at least MG_EMBED_TEXT_MAX). */
#define MG_EMBED_TEXT_MAX (MG_EMBED_DIM * 16 + 3)
size_t mg_embed_text(const float *v, char *buf);

/* pgvector's binary form of v (vector_recv: dimensions and a zero as
 * 16-bit, then the floats, all big-endian) into buf: MG_EMBED_BINARY_LEN
 * bytes.  A search sends the query this way: no text to format or parse. */
#define MG_EMBED_BINARY_LEN (4 + MG_EMBED_DIM * 4)
void   mg_embed_binary(const float *v, unsigned char *buf);

#endif
