/*
 * mg_fuse: the two halves of a hybrid search fused into one ranking
 * (fuse.c; search.c runs the halves).  Reciprocal rank fusion: a chunk
 * scores 1/(60 + rank) in each half it is in, summed and scaled by 61/2,
 * so that a chunk first in both scores 1.0 and first in one only about
 * 0.5.  Ties go to the more similar chunk, then to the smaller id.
 */
#ifndef MG_KNOWLEDGE_FUSE_H
#define MG_KNOWLEDGE_FUSE_H

#include <stddef.h>

#define MG_FUSE_K  60       /* RRF's constant */

/* A row of either half: the chunk and its cosine distance to the query. */
typedef struct {
    char    id[37];
    double  dist;
} mg_ranked_t;

typedef struct {
    char    id[37];
    int     rank_vec, rank_txt;     /* 1-based; 0: not in that half */
    double  dist;
    double  score;
} mg_fused_t;

/* vec (the vector half, re-sorted here by distance, then id: pgvector's
 * relaxed_order may yield rows slightly out of order) and txt (the
 * full-text half, best first) fused into out (room for nv + nt): the
 * number kept, best first, at most top_k, each with a similarity of at
 * least threshold. */
size_t mg_fuse(mg_ranked_t *vec, size_t nv, const mg_ranked_t *txt, size_t nt,
               double threshold, size_t top_k, mg_fused_t *out);

/* Cosine similarity for a distance: 1 - dist, clamped to [0, 1]. */
double mg_fuse_similarity(double dist);

#endif
