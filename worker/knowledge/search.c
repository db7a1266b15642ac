/*
 * mg_search: owns hybrid retrieval (search.h), in round trips:
 *   1. the bases' embedding model, only of the caller's bases
 *      (MG_Q_KB_SEARCH_MODELS; none: 404; two models are refused: vectors
 *      of different models are not comparable);
 *   2. the query's embedding (mg_embed, blocking, on the calling thread);
 *   3. the vector half (MG_Q_KB_SEARCH_VEC) and the full-text half
 *      (MG_Q_KB_SEARCH_TXT), MG_SEARCH_CANDIDATES each, with distances;
 *   4. fused by reciprocal rank fusion (fuse.c), the threshold on cosine
 *      similarity applied, the best top_k kept;
 *   5. those chunks whole (MG_Q_KB_SEARCH_ROWS).
 *
 * Invariants: no base of another owner is searched (step 1 finds none);
 * the statements keep out chunks of other bases and of documents that are
 * not 'ready' (a chunk whose document went between steps is dropped);
 * every hit and its strings are owned by the array.
 */
#include "knowledge/search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knowledge/embed.h"
#include "knowledge/fuse.h"
#include "util/log.h"
#include "util/utf8.h"

void
mg_hits_free(mg_hit_t *hits, size_t n)
{
    if (hits == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        free(hits[i].document);
        free(hits[i].heading);
        free(hits[i].text);
    }
    free(hits);
}

/* "{id,id}": the ids are uuids (the caller's, validated, or the database's). */
static char *
mg_search_id_array(const char *const *kb_ids, size_t nkb)
{
    size_t  cap = 3 + nkb * 40, o = 0;
    char   *lit = malloc(cap);

    if (lit == NULL) {
        return NULL;
    }
    lit[o++] = '{';
    for (size_t i = 0; i < nkb; i++) {
        o += (size_t) snprintf(lit + o, cap - o, "%s%.36s", i ? "," : "", kb_ids[i]);
    }
    lit[o++] = '}';
    lit[o] = '\0';
    return lit;
}

/* A half's rows (chunk id, distance) as mg_fuse takes them; NULL when
 * out of memory (a zero-row half gives an empty, non-NULL array). */
static mg_ranked_t *
mg_search_ranked(const PGresult *res, size_t *n)
{
    int           rows = PQntuples(res);
    mg_ranked_t  *r = malloc((size_t) (rows + 1) * sizeof(*r));

    if (r == NULL) {
        return NULL;
    }
    for (int i = 0; i < rows; i++) {
        snprintf(r[i].id, sizeof(r[i].id), "%s", PQgetvalue(res, i, 0));
        r[i].dist = strtod(PQgetvalue(res, i, 1), NULL);
    }
    *n = (size_t) rows;
    return r;
}

/* The rows of MG_Q_KB_SEARCH_ROWS, in the order of best[0..nbest); a
 * chunk the rows lack (its document went) is left out. */
static int
mg_search_hits(const PGresult *res, const mg_fused_t *best, size_t nbest,
               mg_hit_t **hits, size_t *n)
{
    int        rows = PQntuples(res);
    size_t     k = 0;
    mg_hit_t  *h;

    if (rows == 0) {
        return 0;
    }
    h = calloc((size_t) rows, sizeof(*h));
    if (h == NULL) {
        return -1;
    }
    for (size_t b = 0; b < nbest; b++) {
        for (int i = 0; i < rows; i++) {
            if (strcmp(PQgetvalue(res, i, MG_HIT_COL_CHUNK_ID), best[b].id) != 0) {
                continue;
            }
            snprintf(h[k].chunk_id, sizeof(h[k].chunk_id), "%s", best[b].id);
            snprintf(h[k].document_id, sizeof(h[k].document_id), "%s",
                     PQgetvalue(res, i, MG_HIT_COL_DOCUMENT_ID));
            h[k].document = strdup(PQgetvalue(res, i, MG_HIT_COL_FILENAME));
            h[k].heading = strdup(PQgetvalue(res, i, MG_HIT_COL_HEADING));
            h[k].text = strdup(PQgetvalue(res, i, MG_HIT_COL_TEXT));
            h[k].page = PQgetisnull(res, i, MG_HIT_COL_PAGE)
                        ? 0 : atoi(PQgetvalue(res, i, MG_HIT_COL_PAGE));
            h[k].score = best[b].score;
            h[k].similarity = mg_fuse_similarity(best[b].dist);
            h[k].text_match = best[b].rank_txt > 0
                              && *PQgetvalue(res, i, MG_HIT_COL_WORDS_MATCH) == 't';
            k++;
            if (h[k - 1].document == NULL || h[k - 1].heading == NULL || h[k - 1].text == NULL) {
                mg_hits_free(h, k);
                return -1;
            }
            break;
        }
    }
    *hits = h;
    *n = k;
    return 0;
}

int
mg_search(mg_db_t *db, const char *owner, const char *const *kb_ids, size_t nkb,
          const char *query, int top_k, double threshold, mg_hit_t **hits, size_t *n,
          int *status, char *model, const char **code, char *err, size_t errlen)
{
    const char  *values[4], *dummy_code, *best_ids[MG_SEARCH_CANDIDATES];
    char        *ids = NULL, *q = NULL, cand[16];
    unsigned char *vec = NULL;
    /* the query's vector goes as pgvector's binary form ($2, then $4) */
    const int    vec_len[3] = { 0, MG_EMBED_BINARY_LEN, 0 }, vec_bin[3] = { 0, 1, 0 };
    const int    txt_len[4] = { 0, 0, 0, MG_EMBED_BINARY_LEN }, txt_bin[4] = { 0, 0, 0, 1 };
    char         used_model[256];
    float       *emb = NULL;
    size_t       qlen;
    PGresult    *res = NULL, *vres = NULL, *tres = NULL;
    mg_ranked_t *vrows = NULL, *trows = NULL;
    mg_fused_t  *best = NULL;
    size_t       nv = 0, nt = 0, nbest = 0;
    mg_db_rc_t   rc;
    int          retryable = 0, ret = -1;

    *hits = NULL;
    *n = 0;
    *status = 0;
    code = code ? code : &dummy_code;
    *code = "";
    used_model[0] = '\0';
    if (nkb == 0) {
        ret = 0;
        goto done;
    }

    ids = mg_search_id_array(kb_ids, nkb);
    if (ids == NULL) {
        goto oom;
    }
    values[0] = ids;
    values[1] = owner;
    rc = mg_db_exec(db, MG_Q_KB_SEARCH_MODELS, values, &res);
    if (rc != MG_DB_OK) {
        mg_log_error("search: models: %s", res ? PQresultErrorMessage(res) : "database unavailable");
        goto db_error;
    }
    if (PQntuples(res) == 0) {
        *status = 404;
        *code = "knowledge_base_not_found";
        snprintf(err, errlen, "knowledge base not found");
        goto done;
    }
    if (PQntuples(res) > 1) {
        *status = 400;
        *code = "embedding_model_mismatch";
        snprintf(err, errlen, "these knowledge bases use different embedding models");
        goto done;
    }
    snprintf(used_model, sizeof(used_model), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    res = NULL;
    if (!mg_embed_available(used_model)) {
        *status = 400;
        *code = "embedding_model_unavailable";
        snprintf(err, errlen, "the embedding model \"%s\" is not configured on this server",
                 used_model);
        goto done;
    }

    qlen = mg_utf8_cut(query, strlen(query), MG_SEARCH_QUERY_MAX);
    q = strndup(query, qlen);
    emb = malloc(MG_EMBED_DIM * sizeof(*emb));
    vec = malloc(MG_EMBED_BINARY_LEN);
    if (q == NULL || emb == NULL || vec == NULL) {
        goto oom;
    }
    {
        const char *texts[1] = { q };

        if (mg_embed(used_model, texts, &qlen, 1, emb, &retryable, err, errlen) != 0) {
            *status = retryable ? 503 : 502;
            *code = "embedding_failed";
            mg_log_warn("search: embedding the query with %s failed: %s", used_model, err);
            goto done;
        }
    }
    mg_embed_binary(emb, vec);

    snprintf(cand, sizeof(cand), "%d", MG_SEARCH_CANDIDATES);
    values[0] = ids;
    values[1] = (const char *) vec;
    values[2] = cand;
    rc = mg_db_exec_binary(db, MG_Q_KB_SEARCH_VEC, values, vec_len, vec_bin, &vres);
    if (rc != MG_DB_OK) {
        mg_log_error("search: vector half: %s", vres ? PQresultErrorMessage(vres) : "database unavailable");
        goto db_error;
    }
    values[1] = q;
    values[3] = (const char *) vec;
    rc = mg_db_exec_binary(db, MG_Q_KB_SEARCH_TXT, values, txt_len, txt_bin, &tres);
    if (rc != MG_DB_OK) {
        mg_log_error("search: full-text half: %s", tres ? PQresultErrorMessage(tres) : "database unavailable");
        goto db_error;
    }
    vrows = mg_search_ranked(vres, &nv);
    trows = mg_search_ranked(tres, &nt);
    best = malloc((nv + nt + 1) * sizeof(*best));
    if (vrows == NULL || trows == NULL || best == NULL) {
        goto oom;
    }
    nbest = mg_fuse(vrows, nv, trows, nt, threshold,
                    top_k < 1 ? 0 : top_k < MG_SEARCH_CANDIDATES ? (size_t) top_k : MG_SEARCH_CANDIDATES,
                    best);
    if (nbest == 0) {
        ret = 0;
        goto done;
    }
    for (size_t i = 0; i < nbest; i++) {
        best_ids[i] = best[i].id;
    }
    free(ids);
    ids = mg_search_id_array(best_ids, nbest);
    if (ids == NULL) {
        goto oom;
    }
    values[0] = ids;
    values[1] = q;
    rc = mg_db_exec(db, MG_Q_KB_SEARCH_ROWS, values, &res);
    if (rc != MG_DB_OK) {
        mg_log_error("search: rows: %s", res ? PQresultErrorMessage(res) : "database unavailable");
        goto db_error;
    }
    if (mg_search_hits(res, best, nbest, hits, n) != 0) {
        goto oom;
    }
    ret = 0;
    goto done;

db_error:
    *status = 503;
    *code = "unavailable";
    snprintf(err, errlen, "the database is unavailable, retry shortly");
    goto done;
oom:
    *status = 500;
    *code = "internal";
    snprintf(err, errlen, "out of memory");
done:
    if (model != NULL) {
        snprintf(model, 256, "%s", used_model);
    }
    PQclear(res);
    PQclear(vres);
    PQclear(tres);
    free(vrows);
    free(trows);
    free(best);
    free(ids);
    free(q);
    free(emb);
    free(vec);
    return ret;
}
