/*
 * mg_fuse: owns reciprocal rank fusion (fuse.h).  Pure: arrays in, arrays
 * out; the halves are at most a few hundred rows, so a candidate is found
 * by a linear scan.
 */
#include "knowledge/fuse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double
mg_fuse_similarity(double dist)
{
    double sim = 1.0 - dist;

    return sim < 0 ? 0 : sim > 1 ? 1 : sim;
}

static int
mg_fuse_by_dist(const void *a, const void *b)
{
    const mg_ranked_t *x = a, *y = b;

    if (x->dist != y->dist) {
        return x->dist < y->dist ? -1 : 1;
    }
    return strcmp(x->id, y->id);
}

static int
mg_fuse_by_score(const void *a, const void *b)
{
    const mg_fused_t *x = a, *y = b;
    double            sx = mg_fuse_similarity(x->dist), sy = mg_fuse_similarity(y->dist);

    if (x->score != y->score) {
        return x->score > y->score ? -1 : 1;
    }
    if (sx != sy) {
        return sx > sy ? -1 : 1;
    }
    return strcmp(x->id, y->id);
}

static mg_fused_t *
mg_fuse_find(mg_fused_t *out, size_t *n, const mg_ranked_t *r)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(out[i].id, r->id) == 0) {
            return &out[i];
        }
    }
    memset(&out[*n], 0, sizeof(out[*n]));
    snprintf(out[*n].id, sizeof(out[*n].id), "%s", r->id);
    out[*n].dist = r->dist;
    return &out[(*n)++];
}

size_t
mg_fuse(mg_ranked_t *vec, size_t nv, const mg_ranked_t *txt, size_t nt,
        double threshold, size_t top_k, mg_fused_t *out)
{
    size_t  n = 0, kept = 0;

    qsort(vec, nv, sizeof(*vec), mg_fuse_by_dist);
    for (size_t i = 0; i < nv; i++) {
        mg_fuse_find(out, &n, &vec[i])->rank_vec = (int) i + 1;
    }
    for (size_t i = 0; i < nt; i++) {
        mg_fused_t *f = mg_fuse_find(out, &n, &txt[i]);

        if (f->rank_txt == 0) {
            f->rank_txt = (int) i + 1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        out[i].score = ((out[i].rank_vec ? 1.0 / (MG_FUSE_K + out[i].rank_vec) : 0)
                        + (out[i].rank_txt ? 1.0 / (MG_FUSE_K + out[i].rank_txt) : 0))
                       * (MG_FUSE_K + 1) / 2.0;
    }
    qsort(out, n, sizeof(*out), mg_fuse_by_score);
    for (size_t i = 0; i < n && kept < top_k; i++) {
        if (mg_fuse_similarity(out[i].dist) >= threshold) {
            out[kept++] = out[i];
        }
    }
    return kept;
}
