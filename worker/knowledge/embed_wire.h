/* The pieces of embed.c and embed_local.c that do no I/O, exposed for the
 * unit tests and the benchmark's corpus generator: the
 * local embedder, the request bodies and the answer parsers of the remote
 * ones.  Not for other callers: use embed.h. */
#ifndef MG_KNOWLEDGE_EMBED_WIRE_H
#define MG_KNOWLEDGE_EMBED_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "knowledge/embed.h"

#define MG_EMBED_TITAN_MODEL  "amazon.titan-embed-text-v2:0"

/* FNV-1a 64 of p[0..n) with a murmur3 finaliser: the local embedder's hash. */
uint64_t mg_embed_hash(const void *p, size_t n);

/* v scaled to unit length: 0, or -1 when v is zero (or not finite). */
int   mg_embed_normalise(float *v, size_t dim);

/* The local embedder: 0, or -1 when text has nothing to embed. */
int   mg_embed_local(const char *text, size_t len, float *out);

/* {"inputText":..,"dimensions":1024,"normalize":true}, malloc'd. */
char *mg_embed_titan_body(const char *text, size_t len);
/* {"embedding":[1024 numbers],...} -> out (normalised): 0, or -1 with err. */
int   mg_embed_titan_parse(const char *body, size_t len, float *out, char *err, size_t errlen);

/* {"model":..,"input":[..],"dimensions":1024}, malloc'd. */
char *mg_embed_openai_body(const char *model, const char *const *texts, const size_t *lens,
                           size_t n);
/* {"data":[{"index":i,"embedding":[..]}..]} for n inputs -> out[n * dim]
 * (normalised, by index): 0, or -1 with err. */
int   mg_embed_openai_parse(const char *body, size_t len, size_t n, float *out,
                            char *err, size_t errlen);

/* A failed answer's message: {"message"} (Bedrock) or {"error":{"message"}}
 * (OpenAI), else the first bytes of the body, into buf. */
void  mg_embed_error_message(const char *body, size_t len, char *buf, size_t buflen);

#endif
