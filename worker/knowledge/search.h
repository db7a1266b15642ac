/*
 * mg_search: hybrid retrieval over knowledge bases (search.c).  The query
 * is embedded with the bases' embedding model; the HNSW cosine half and
 * the full-text half (MG_Q_KB_SEARCH_VEC, _TXT) are fused by reciprocal
 * rank fusion (fuse.c); only chunks of 'ready' documents of the given
 * bases come back.  README "Knowledge" says what the scores mean.
 */
#ifndef MG_KNOWLEDGE_SEARCH_H
#define MG_KNOWLEDGE_SEARCH_H

#include <stddef.h>

#include "db/db.h"

#define MG_SEARCH_CANDIDATES  50        /* per half, before fusion: at least top_k's 50 */
#define MG_SEARCH_QUERY_MAX   8000      /* bytes of a query embedded and parsed */

typedef struct {
    char    chunk_id[37], document_id[37];
    char   *document;   /* filename, owned */
    char   *heading;    /* owned */
    char   *text;       /* the chunk, owned */
    int     page;       /* 0: none */
    double  score;      /* fused score, higher is better: RRF scaled to (0, 1] */
    double  similarity; /* cosine similarity of the chunk to the query, [0, 1] */
    int     text_match; /* the chunk matched the full-text query */
} mg_hit_t;

/* Hybrid search over the knowledge bases kb_ids of owner, only documents
 * that are 'ready'.  threshold is the least similarity kept.  0 with
 * *hits (owned, free with mg_hits_free; NULL when *n is 0) and the bases'
 * embedding model in model (NULL, or at least 256 bytes), or -1 with
 * *status, a reason in err and its name in *code (NULL allowed): 404
 * "knowledge_base_not_found" (none of the bases is owner's: the ownership
 * check rides on the statement that reads the model), 400
 * "embedding_model_mismatch" (the bases use different models) or
 * "embedding_model_unavailable" (not configured here), 502/503
 * "embedding_failed", 503 "unavailable" (the database), 500 "internal". */
int  mg_search(mg_db_t *db, const char *owner, const char *const *kb_ids, size_t nkb,
               const char *query, int top_k, double threshold, mg_hit_t **hits, size_t *n,
               int *status, char *model, const char **code, char *err, size_t errlen);
void mg_hits_free(mg_hit_t *hits, size_t n);

#endif
