/*
 * knowledge_search: owns POST /api/v1/knowledge-bases/{id}/search
 * (knowledge.search): validate, run the hybrid search (knowledge/search.c,
 * which finds no base of another owner: 404 knowledge_base_not_found, as
 * for every foreign row) and answer
 * {"items":[{chunk_id, document_id, document, page, heading, snippet,
 * text, score, similarity}], "embedding_model"}.
 */
#include "jobs/jobs.h"

#include <math.h>
#include <string.h>

#include "knowledge/rag.h"
#include "knowledge/search.h"
#include "util/log.h"
#include "validate.h"

static const mg_field_t mg_search_fields[] = {
    { "query",     MG_FIELD_STRING,  MG_FIELD_REQUIRED | MG_FIELD_NOT_BLANK, 1, 2000, NULL },
    { "top_k",     MG_FIELD_INTEGER, 0,                                      1, 50,   "5" },
    { "threshold", MG_FIELD_NUMBER,  MG_FIELD_NULLABLE,                      0, 1,    "null" },
};

static double
mg_search_round(double x)
{
    return floor(x * 10000.0 + 0.5) / 10000.0;
}

int
mg_job_knowledge_search(mg_job_t *job)
{
    json_t       *v, *items = NULL, *out = NULL, *thr;
    mg_verr_t     verr;
    const char   *id, *query, *code = "";
    const char   *ids[1];
    size_t        id_len, qlen, n = 0;
    mg_hit_t     *hits = NULL;
    char          model[256], err[256], snip[MG_SNIPPET_MAX + 1];
    int           top_k, status = 0, sent;
    double        threshold;

    v = mg_validate_body(job->body, job->body_len, mg_search_fields,
                         sizeof(mg_search_fields) / sizeof(mg_search_fields[0]),
                         MG_VALIDATE_CREATE, &verr);
    if (v == NULL) {
        return mg_job_reply_verr(job, &verr);
    }
    id = mg_job_param(job, "id", &id_len);
    if (id == NULL || !mg_uuid_valid(id, id_len)) {
        sent = mg_job_reply_error(job, 404, "knowledge_base_not_found", "knowledge base not found");
        goto done;
    }
    query = json_string_value(json_object_get(v, "query"));
    qlen = json_string_length(json_object_get(v, "query"));
    top_k = (int) json_integer_value(json_object_get(v, "top_k"));
    thr = json_object_get(v, "threshold");
    threshold = json_is_number(thr) ? json_number_value(thr) : 0.0;
    ids[0] = id;

    if (mg_search(job->db, job->user_id, ids, 1, query, top_k, threshold, &hits, &n, &status,
                  model, &code, err, sizeof(err)) != 0)
    {
        sent = mg_job_reply_error(job, status ? status : 500, *code ? code : "internal", err);
        goto done;
    }

    items = json_array();
    out = items ? json_pack("{s:o, s:s}", "items", items, "embedding_model", model) : NULL;
    if (out == NULL) {
        sent = mg_job_reply_error(job, 500, "internal", "internal error");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *it;

        mg_rag_snippet(hits[i].text, strlen(hits[i].text), query, qlen, snip);
        it = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:f, s:f}",
                       "chunk_id", hits[i].chunk_id, "document_id", hits[i].document_id,
                       "document", hits[i].document,
                       "page", hits[i].page > 0 ? json_integer(hits[i].page) : json_null(),
                       "heading", hits[i].heading, "snippet", snip, "text", hits[i].text,
                       "score", mg_search_round(hits[i].score),
                       "similarity", mg_search_round(hits[i].similarity));
        if (it == NULL || json_array_append_new(items, it) != 0) {
            sent = mg_job_reply_error(job, 500, "internal", "internal error");
            goto done;
        }
    }
    sent = mg_job_reply_json(job, 200, out, NULL);

done:
    mg_hits_free(hits, n);
    json_decref(out);
    json_decref(v);
    return sent;
}
