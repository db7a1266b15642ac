/*
 * mg_search: owns hybrid retrieval (search.h).  Three steps, each its own
 * round trip: the bases' embedding model (MG_Q_KB_SEARCH_MODELS; two
 * models are refused: vectors of different models are not comparable),
 * the query's embedding (mg_embed, blocking, on the calling pool thread),
 * then one statement that ranks, fuses and filters (MG_Q_KB_SEARCH).
 *
 * Invariants: the caller has checked the bases are the user's; the
 * statement itself keeps out chunks of other bases and of documents that
 * are not 'ready'; every hit and its strings are owned by the array.
 */
#include "knowledge/search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knowledge/embed.h"
#include "util/log.h"

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

/* "{id,id}": the ids are uuids the caller validated. */
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

static size_t
mg_search_cut(const char *s, size_t len, size_t max)
{
    if (len <= max) {
        return len;
    }
    while (max > 0 && ((unsigned char) s[max] & 0xC0) == 0x80) {
        max--;
    }
    return max;
}

static int
mg_search_hits(const PGresult *res, mg_hit_t **hits, size_t *n)
{
    int        rows = PQntuples(res);
    mg_hit_t  *h;

    if (rows == 0) {
        return 0;
    }
    h = calloc((size_t) rows, sizeof(*h));
    if (h == NULL) {
        return -1;
    }
    for (int i = 0; i < rows; i++) {
        snprintf(h[i].chunk_id, sizeof(h[i].chunk_id), "%s", PQgetvalue(res, i, MG_HIT_COL_CHUNK_ID));
        snprintf(h[i].document_id, sizeof(h[i].document_id), "%s",
                 PQgetvalue(res, i, MG_HIT_COL_DOCUMENT_ID));
        h[i].document = strdup(PQgetvalue(res, i, MG_HIT_COL_FILENAME));
        h[i].heading = strdup(PQgetvalue(res, i, MG_HIT_COL_HEADING));
        h[i].text = strdup(PQgetvalue(res, i, MG_HIT_COL_TEXT));
        h[i].page = PQgetisnull(res, i, MG_HIT_COL_PAGE) ? 0 : atoi(PQgetvalue(res, i, MG_HIT_COL_PAGE));
        h[i].score = strtod(PQgetvalue(res, i, MG_HIT_COL_SCORE), NULL);
        h[i].similarity = strtod(PQgetvalue(res, i, MG_HIT_COL_SIMILARITY), NULL);
        h[i].text_match = *PQgetvalue(res, i, MG_HIT_COL_TEXT_MATCH) == 't';
        if (h[i].document == NULL || h[i].heading == NULL || h[i].text == NULL) {
            mg_hits_free(h, (size_t) rows);
            return -1;
        }
    }
    *hits = h;
    *n = (size_t) rows;
    return 0;
}

int
mg_search_model(mg_db_t *db, const char *const *kb_ids, size_t nkb, const char *query,
                int top_k, double threshold, mg_hit_t **hits, size_t *n, int *status,
                char *model, const char **code, char *err, size_t errlen)
{
    const char  *values[6], *dummy_code;
    char        *ids = NULL, *vec = NULL, *q = NULL, k[16], thr[32], cand[16];
    char         used_model[256];
    float       *emb = NULL;
    size_t       qlen;
    PGresult    *res = NULL;
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
    rc = mg_db_exec(db, MG_Q_KB_SEARCH_MODELS, values, &res);
    if (rc != MG_DB_OK) {
        mg_log_error("search: models: %s", res ? PQresultErrorMessage(res) : "database unavailable");
        goto db_error;
    }
    if (PQntuples(res) == 0) {
        ret = 0;                            /* the bases are gone */
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

    qlen = mg_search_cut(query, strlen(query), MG_SEARCH_QUERY_MAX);
    q = strndup(query, qlen);
    emb = malloc(MG_EMBED_DIM * sizeof(*emb));
    vec = malloc(MG_EMBED_TEXT_MAX);
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
    mg_embed_text(emb, vec);

    snprintf(cand, sizeof(cand), "%d", MG_SEARCH_CANDIDATES > top_k ? MG_SEARCH_CANDIDATES : top_k);
    snprintf(thr, sizeof(thr), "%.17g", threshold);
    snprintf(k, sizeof(k), "%d", top_k);
    values[0] = ids;
    values[1] = vec;
    values[2] = q;
    values[3] = cand;
    values[4] = thr;
    values[5] = k;
    rc = mg_db_exec(db, MG_Q_KB_SEARCH, values, &res);
    if (rc != MG_DB_OK) {
        mg_log_error("search: %s", res ? PQresultErrorMessage(res) : "database unavailable");
        goto db_error;
    }
    if (mg_search_hits(res, hits, n) != 0) {
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
    free(ids);
    free(q);
    free(emb);
    free(vec);
    return ret;
}

int
mg_search(mg_db_t *db, const char *const *kb_ids, size_t nkb, const char *query,
          int top_k, double threshold, mg_hit_t **hits, size_t *n, int *status,
          char *err, size_t errlen)
{
    return mg_search_model(db, kb_ids, nkb, query, top_k, threshold, hits, n, status,
                           NULL, NULL, err, errlen);
}
