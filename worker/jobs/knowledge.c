/*
 * knowledge: owns the knowledge bases API (knowledge.list/create/get/
 * update/delete).  Every statement is scoped by owner_id = the caller, so
 * another user's knowledge base is indistinguishable from a missing one:
 * both are 404 knowledge_base_not_found.  A base records its embedding
 * model, chosen at creation among those configured here
 * (mg_embed_available) and never changed after: every chunk in it was
 * embedded with that model.  Deleting a base removes its documents,
 * chunks and bot links (foreign keys cascade).
 */
#include "jobs/jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_write.h"
#include "jobs/page.h"
#include "knowledge/embed.h"
#include "util/log.h"
#include "util/uuid.h"
#include "validate.h"

#define MG_KB_LIMIT_DEFAULT  20
#define MG_KB_LIMIT_MAX      100

/* Mirrors the CHECK constraints on knowledge_bases (sql/001, sql/005). */
static const mg_field_t mg_kb_fields[] = {
    { "name",            MG_FIELD_STRING, MG_FIELD_REQUIRED | MG_FIELD_NOT_BLANK, 1, 255, NULL },
    { "description",     MG_FIELD_STRING, 0, 0, 2000, "\"\"" },
    { "embedding_model", MG_FIELD_STRING, 0, 1, 255, "\"local\"" },
};

#define MG_KB_NFIELDS (sizeof(mg_kb_fields) / sizeof(mg_kb_fields[0]))

static size_t
mg_kb_json_max(const PGresult *r, int row)
{
    /* keys and punctuation ~170, a uuid, five integers, two timestamps */
    return 512 + mg_jw_text_max(r, row, MG_KB_COL_NAME, MG_KB_COL_EMBEDDING_MODEL);
}

static char *
mg_kb_write(char *p, const PGresult *r, int row)
{
    p += sprintf(p, "{\"id\":\"%s\",", PQgetvalue(r, row, MG_KB_COL_ID));
    p = mg_jw_str(p, "name", r, row, MG_KB_COL_NAME);
    *p++ = ',';
    p = mg_jw_str(p, "description", r, row, MG_KB_COL_DESCRIPTION);
    *p++ = ',';
    p = mg_jw_str(p, "embedding_model", r, row, MG_KB_COL_EMBEDDING_MODEL);
    p += sprintf(p, ",\"embedding_dim\":%s,\"document_count\":%s,\"chunk_count\":%s,",
                 PQgetvalue(r, row, MG_KB_COL_EMBEDDING_DIM),
                 PQgetvalue(r, row, MG_KB_COL_DOCUMENT_COUNT),
                 PQgetvalue(r, row, MG_KB_COL_CHUNK_COUNT));
    p = mg_jw_ts(p, "created_at", r, row, MG_KB_COL_CREATED_US);
    *p++ = ',';
    p = mg_jw_ts(p, "updated_at", r, row, MG_KB_COL_UPDATED_US);
    *p++ = '}';
    return p;
}

static int
mg_kb_reply(mg_job_t *job, int status, const PGresult *r, int with_location)
{
    json_t  *headers = NULL;
    char    *body, *end;
    int      sent;

    body = malloc(mg_kb_json_max(r, 0));
    if (body == NULL) {
        return mg_job_reply_error(job, 500, "internal", "internal error");
    }
    end = mg_kb_write(body, r, 0);
    if (with_location) {
        headers = json_pack("{s:s+}", "Location", "/api/v1/knowledge-bases/",
                            PQgetvalue(r, 0, MG_KB_COL_ID));
    }
    sent = mg_job_reply_raw(job, status, body, (size_t) (end - body), headers);
    json_decref(headers);
    free(body);
    return sent;
}

static int
mg_kb_not_found(mg_job_t *job)
{
    return mg_job_reply_error(job, 404, "knowledge_base_not_found", "knowledge base not found");
}

static const char *
mg_kb_path_id(mg_job_t *job)
{
    size_t       len;
    const char  *id = mg_job_param(job, "id", &len);

    return (id != NULL && mg_uuid_valid(id, len)) ? id : NULL;
}

int
mg_knowledge_owned(mg_job_t *job, const char *id, size_t len)
{
    const char  *values[2];
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    int          owned;

    if (id == NULL || !mg_uuid_valid(id, len)) {
        return 0;
    }
    values[0] = id;
    values[1] = job->user_id;
    rc = mg_db_exec(job->db, MG_Q_KB_OWNED, values, &res);
    if (rc != MG_DB_OK) {
        (void) mg_job_reply_db_error(job, rc, res, "knowledge.owned");
        PQclear(res);
        return -1;
    }
    owned = PQntuples(res) == 1;
    PQclear(res);
    return owned;
}

int
mg_job_knowledge_get(mg_job_t *job)
{
    const char  *id, *values[2];
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    int          sent;

    id = mg_kb_path_id(job);
    if (id == NULL) {
        return mg_kb_not_found(job);
    }
    values[0] = id;
    values[1] = job->user_id;
    rc = mg_db_exec(job->db, MG_Q_KB_GET, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "knowledge.get");
    } else if (PQntuples(res) == 0) {
        sent = mg_kb_not_found(job);
    } else {
        sent = mg_kb_reply(job, 200, res, 0);
    }
    PQclear(res);
    return sent;
}

int
mg_job_knowledge_create(mg_job_t *job)
{
    json_t       *v = NULL;
    mg_verr_t     err;
    char          id[MG_UUID_LEN + 1];
    const char   *values[5], *model;
    PGresult     *res = NULL;
    mg_db_rc_t    rc;
    int           sent;

    v = mg_validate_body(job->body, job->body_len, mg_kb_fields, MG_KB_NFIELDS,
                         MG_VALIDATE_CREATE, &err);
    if (v == NULL) {
        sent = mg_job_reply_verr(job, &err);
        goto done;
    }
    model = json_string_value(json_object_get(v, "embedding_model"));
    if (!mg_embed_available(model)) {
        sent = mg_job_reply_error(job, 400, "embedding_model_unavailable",
                                  "that embedding model is not configured on this server");
        goto done;
    }
    if (mg_uuid_v4(id) != 0) {
        mg_log_error("knowledge.create rid=%s: no randomness for an id", job->rid);
        sent = mg_job_reply_error(job, 500, "internal", "internal error");
        goto done;
    }

    values[0] = id;
    values[1] = job->user_id;
    values[2] = json_string_value(json_object_get(v, "name"));
    values[3] = json_string_value(json_object_get(v, "description"));
    values[4] = model;
    rc = mg_db_exec(job->db, MG_Q_KB_INSERT, values, &res);
    if (rc == MG_DB_FAILED && strcmp(mg_db_sqlstate(res), "23503") == 0) {
        /* the users row went away behind the ensured-users cache */
        PQclear(res);
        res = NULL;
        mg_users_forget(job->user_id);
        if (mg_users_ensure(job, 1) != 0) {
            sent = 0;
            goto done;
        }
        rc = mg_db_exec(job->db, MG_Q_KB_INSERT, values, &res);
    }
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "knowledge.create");
        goto done;
    }
    if (PQntuples(res) == 0) {
        /* a re-run after a reconnect found the row its first run made */
        PQclear(res);
        res = NULL;
        rc = mg_db_exec(job->db, MG_Q_KB_GET, values, &res);
        if (rc != MG_DB_OK) {
            sent = mg_job_reply_db_error(job, rc, res, "knowledge.create");
            goto done;
        }
        if (PQntuples(res) == 0) {
            mg_log_error("knowledge.create rid=%s: inserted row not found", job->rid);
            sent = mg_job_reply_error(job, 500, "internal", "internal error");
            goto done;
        }
    }
    sent = mg_kb_reply(job, 201, res, 1);

done:
    PQclear(res);
    json_decref(v);
    return sent;
}

int
mg_job_knowledge_update(mg_job_t *job)
{
    json_t       *v = NULL, *f;
    mg_verr_t     err;
    const char   *id, *values[4];
    PGresult     *res = NULL;
    mg_db_rc_t    rc;
    int           sent;

    id = mg_kb_path_id(job);
    if (id == NULL) {
        sent = mg_kb_not_found(job);
        goto done;
    }
    v = mg_validate_body(job->body, job->body_len, mg_kb_fields, MG_KB_NFIELDS,
                         MG_VALIDATE_PATCH, &err);
    if (v == NULL) {
        sent = mg_job_reply_verr(job, &err);
        goto done;
    }

    values[0] = id;
    values[1] = job->user_id;
    f = json_object_get(v, "embedding_model");
    if (f != NULL) {
        /* the same model is no change; another would orphan every chunk */
        rc = mg_db_exec(job->db, MG_Q_KB_GET, values, &res);
        if (rc != MG_DB_OK) {
            sent = mg_job_reply_db_error(job, rc, res, "knowledge.update");
            goto done;
        }
        if (PQntuples(res) == 0) {
            sent = mg_kb_not_found(job);
            goto done;
        }
        if (strcmp(PQgetvalue(res, 0, MG_KB_COL_EMBEDDING_MODEL), json_string_value(f)) != 0) {
            sent = mg_job_reply_error(job, 400, "invalid_field",
                                      "embedding_model cannot be changed: make a new "
                                      "knowledge base for another model");
            goto done;
        }
        PQclear(res);
        res = NULL;
    }

    f = json_object_get(v, "name");
    values[2] = f != NULL ? json_string_value(f) : NULL;
    f = json_object_get(v, "description");
    values[3] = f != NULL ? json_string_value(f) : NULL;
    rc = mg_db_exec(job->db, (values[2] == NULL && values[3] == NULL) ? MG_Q_KB_GET
                                                                       : MG_Q_KB_UPDATE,
                    values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "knowledge.update");
    } else if (PQntuples(res) == 0) {
        sent = mg_kb_not_found(job);
    } else {
        sent = mg_kb_reply(job, 200, res, 0);
    }

done:
    PQclear(res);
    json_decref(v);
    return sent;
}

int
mg_job_knowledge_delete(mg_job_t *job)
{
    const char  *id = mg_kb_path_id(job), *values[2];

    if (id == NULL) {
        return mg_kb_not_found(job);
    }
    values[0] = id;
    values[1] = job->user_id;
    return mg_job_delete_owned(job, MG_Q_KB_DELETE, values, mg_kb_not_found, "knowledge.delete");
}

static const mg_page_cols_t mg_kb_cols = {
    MG_KB_COL_CREATED_US, MG_KB_COL_ID, mg_kb_json_max, mg_kb_write
};

int
mg_job_knowledge_list(mg_job_t *job)
{
    const char     *values[4];
    mg_page_req_t   req;
    int             sent;

    if (mg_page_query(job, MG_KB_LIMIT_DEFAULT, MG_KB_LIMIT_MAX, &req, &sent) != 0) {
        return sent;
    }
    values[0] = job->user_id;
    return mg_page_list(job, &req, MG_Q_KB_LIST_FIRST, MG_Q_KB_LIST_AFTER, values, 1,
                        &mg_kb_cols, "knowledge.list");
}
