/*
 * mg_rag: the pure parts of grounded answers (rag.c), with no database and
 * no network, so they are unit-tested directly: snippets around the query
 * terms, the system prompt with numbered sources, the citations JSON, and
 * the offline model's extractive answer.
 */
#ifndef MG_KNOWLEDGE_RAG_H
#define MG_KNOWLEDGE_RAG_H

#include <stddef.h>

#include <jansson.h>

#include "knowledge/search.h"

#define MG_SNIPPET_MAX     300     /* bytes, so at most as many characters */
#define MG_RAG_TOP_K       5       /* sources retrieved for a chat turn */
/* A chat source must match the full-text query or be at least this
 * similar to the question (cosine); below it the answer says the
 * documents have nothing on the question.  Measured with the local
 * embedder, whose hashed stop words give unrelated English texts
 * similarities up to about 0.33 while a paraphrase of a chunk scores
 * about 0.4 and a question it answers 0.45 and up. */
#define MG_RAG_FLOOR       0.35

/* The best sentence(s) of text for query: the sentence with the most
 * distinct query words (then the earliest), extended by the following
 * sentences while they fit; whitespace runs collapsed; at most
 * MG_SNIPPET_MAX bytes, cut at a word or at least a UTF-8 boundary, with
 * "…" where text was cut.  out has room for MG_SNIPPET_MAX + 1.  Returns
 * the length written. */
size_t mg_rag_snippet(const char *text, size_t len, const char *query, size_t qlen,
                      char *out);

/* Keep the hits that are relevant enough for a chat turn (a full-text
 * match, or similarity >= floor), in order; frees the others.  Returns
 * the new count. */
size_t mg_rag_keep_relevant(mg_hit_t *hits, size_t n, double floor);

/* The system prompt of a grounded turn: the bot's instructions, then the
 * rule (answer only from the sources, cite [n]) and the sources numbered
 * [1]..[n]; with n == 0, the rule that nothing relevant was found and the
 * answer must say so.  malloc'd, NULL when out of memory. */
char *mg_rag_system_prompt(const char *instructions, const mg_hit_t *hits, size_t n);

/* [{"n","chunk_id","document_id","document","page","heading","snippet",
 * "score"}] for hits (page null when 0).  NULL when out of memory. */
json_t *mg_rag_citations(const mg_hit_t *hits, size_t n, const char *query, size_t qlen);

/* The citations someone who is not the bot's owner sees (sql/013): which
 * source, [{"n","document"}], never its text nor the ids of the owner's
 * documents and knowledge bases.  NULL when out of memory. */
json_t *mg_rag_citations_others(const mg_hit_t *hits, size_t n);

/* The offline model's answer: it says it is the offline model, then
 * quotes the sentence(s) of each source that share the most words with
 * the question, each followed by its [n] (a source sharing no word is
 * not quoted); with no source to quote, that nothing in the documents
 * answers the question.  malloc'd, NULL when out of
 * memory. */
char *mg_rag_extractive(const char *question, size_t qlen, const mg_hit_t *hits, size_t n);

#endif
