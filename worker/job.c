/*
 * mg_job: owns a job's decoded envelope (params and claims JSON) and the
 * encoding of its reply into protocol messages.  Borrowed pointers (name,
 * body) live in the request frames the pool keeps until mg_job_free.
 */
#include "job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "mg_json.h"

/* 15 significant digits print 0.7 as 0.7 (17 would say 0.69999999999999996)
 * and still round-trip every value a client can sensibly send. */
#define MG_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

static json_t *
mg_job_object(const mg_str_t *s, const char *what, char *err, size_t errlen)
{
    json_t  *v;

    if (s->len == 0) {
        return json_object();
    }
    v = json_loadb(s->data, s->len, 0, NULL);
    if (v == NULL || !json_is_object(v)) {
        snprintf(err, errlen, "%s is not a JSON object", what);
        json_decref(v);
        return NULL;
    }
    return v;
}

int
mg_job_init(mg_job_t *job, const mg_msg_t *req, char *err, size_t errlen)
{
    memset(job, 0, sizeof(*job));
    memcpy(job->rid, req->rid.data, MG_RID_LEN);
    job->rid[MG_RID_LEN] = '\0';
    job->name = req->job.data;
    job->name_len = req->job.len;
    job->body = req->body.data;
    job->body_len = req->body.len;
    job->params_text = req->params.data;
    job->params_len = req->params.len;

    job->params = mg_job_object(&req->params, "params", err, errlen);
    if (job->params == NULL) {
        return -1;
    }
    job->claims = mg_job_object(&req->claims, "claims", err, errlen);
    if (job->claims == NULL) {
        return -1;
    }
    return 0;
}

void
mg_job_free(mg_job_t *job)
{
    json_decref(job->params);
    json_decref(job->claims);
    job->params = NULL;
    job->claims = NULL;
}

int
mg_job_cancelled(const mg_job_t *job)
{
    return job->cancel != NULL && atomic_load(job->cancel) != 0;
}

/* Error codes are fixed strings in the code, so the label stays bounded;
 * anything else (too long, odd bytes) counts as "other". */
static void
mg_job_set_outcome(mg_job_t *job, const char *code, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = code[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
            len = 0;
            break;
        }
    }
    if (len == 0 || len >= sizeof(job->outcome)) {
        code = "other";
        len = sizeof("other") - 1;
    }
    memcpy(job->outcome, code, len);
    job->outcome[len] = '\0';
}

const char *
mg_job_outcome(const mg_job_t *job)
{
    return job->outcome[0] != '\0' ? job->outcome : "ok";
}

const char *
mg_job_param(const mg_job_t *job, const char *name, size_t *len)
{
    json_t  *v = json_object_get(job->params, name);

    if (!json_is_string(v)) {
        return NULL;
    }
    *len = json_string_length(v);
    return json_string_value(v);
}

const char *
mg_job_query(const mg_job_t *job, size_t *len)
{
    const char *q = mg_job_param(job, "query", len);

    if (q == NULL) {
        *len = 0;
        return "";
    }
    return q;
}

/* Common path of every reply: at most one per job, none once cancelled
 * (the module has forgotten the request). */
static int
mg_job_send(mg_job_t *job, mg_msg_t *msg)
{
    if (job->replied) {
        mg_log_error("job %.*s rid=%s: second reply dropped",
                     (int) job->name_len, job->name, job->rid);
        return -1;
    }
    job->replied = 1;
    if (msg->type == MG_MSG_ERR) {
        mg_job_set_outcome(job, msg->code.data, msg->code.len);
    }
    if (mg_job_cancelled(job)) {
        mg_job_set_outcome(job, "cancelled", sizeof("cancelled") - 1);
        mg_log_debug("job %.*s rid=%s: cancelled, reply dropped",
                     (int) job->name_len, job->name, job->rid);
        return 0;
    }
    msg->rid.data = job->rid;
    msg->rid.len = MG_RID_LEN;
    if (job->send(job->send_ctx, msg) != 0) {
        mg_log_warn("job %.*s rid=%s: reply not sent",
                    (int) job->name_len, job->name, job->rid);
        return -1;
    }
    return 0;
}

int
mg_job_send_part(mg_job_t *job, mg_msg_t *msg)
{
    job->replied = 1;
    msg->rid.data = job->rid;
    msg->rid.len = MG_RID_LEN;
    if (job->send(job->send_ctx, msg) != 0) {
        mg_log_warn("job %.*s rid=%s: stream part not sent",
                    (int) job->name_len, job->name, job->rid);
        return -1;
    }
    return 0;
}

void
mg_job_handed_off(mg_job_t *job)
{
    job->replied = 1;
}

int
mg_job_reply_raw(mg_job_t *job, int status, const char *body, size_t len,
                 const json_t *headers)
{
    mg_msg_t  msg = { .type = MG_MSG_RES, .status = status };
    char     *h = NULL;
    int       rc = -1;

    if (headers != NULL) {
        h = json_dumps(headers, JSON_COMPACT);
        if (h == NULL) {
            mg_log_error("job rid=%s: cannot serialise headers", job->rid);
            goto done;
        }
        msg.headers.data = h;
        msg.headers.len = strlen(h);
    }
    msg.content_type.data = "application/json";
    msg.content_type.len = strlen("application/json");
    msg.body.data = body;
    msg.body.len = len;
    rc = mg_job_send(job, &msg);

done:
    if (rc != 0 && !job->replied) {
        /* the client still gets an answer; rc stays -1, the cause is logged */
        (void) mg_job_reply_error(job, 500, "internal", "internal error");
    }
    free(h);
    return rc;
}

int
mg_job_reply_json(mg_job_t *job, int status, const json_t *body, const json_t *headers)
{
    char  *b;
    int    rc;

    b = json_dumps(body, MG_JSON_FLAGS);
    if (b == NULL) {
        mg_log_error("job rid=%s: cannot serialise reply", job->rid);
        (void) mg_job_reply_error(job, 500, "internal", "internal error");
        return -1;
    }
    rc = mg_job_reply_raw(job, status, b, strlen(b), headers);
    free(b);
    return rc;
}

int
mg_job_reply_empty(mg_job_t *job, int status)
{
    mg_msg_t  msg = { .type = MG_MSG_RES, .status = status };

    return mg_job_send(job, &msg);
}

int
mg_job_reply_error(mg_job_t *job, int status, const char *code, const char *message)
{
    mg_msg_t  msg = { .type = MG_MSG_ERR, .status = status };

    msg.code.data = code;
    msg.code.len = strlen(code);
    msg.message.data = message;
    msg.message.len = strlen(message);
    mg_log_debug("job %.*s rid=%s: %d %s", (int) job->name_len, job->name,
                 job->rid, status, code);
    return mg_job_send(job, &msg);
}

int
mg_job_reply_verr(mg_job_t *job, const mg_verr_t *err)
{
    return mg_job_reply_error(job, err->status, err->code, err->message);
}

int
mg_job_reply_error_with(mg_job_t *job, int status, const char *code, const char *message,
                        const json_t *headers)
{
    char  *body = mg_json_error_body(code, message, job->rid);
    int    sent;

    if (body == NULL) {
        return mg_job_reply_error(job, 500, "internal", "internal error");
    }
    mg_log_debug("job %.*s rid=%s: %d %s", (int) job->name_len, job->name,
                 job->rid, status, code);
    if (!job->replied) {
        mg_job_set_outcome(job, code, strlen(code));
    }
    sent = mg_job_reply_raw(job, status, body, strlen(body), headers);
    free(body);
    return sent;
}

int
mg_job_reply_db_error(mg_job_t *job, mg_db_rc_t rc, const PGresult *res, const char *what)
{
    if (rc == MG_DB_UNAVAILABLE) {
        return mg_job_reply_error(job, 503, "database_unavailable", "database unavailable");
    }

    const char *msg = res ? PQresultErrorMessage(res) : "";
    mg_log_error("job %.*s rid=%s: %s failed: SQLSTATE %s: %.*s",
                 (int) job->name_len, job->name, job->rid, what,
                 mg_db_sqlstate(res), (int) strcspn(msg, "\n"), msg);
    return mg_job_reply_error(job, 500, "internal", "internal error");
}

int
mg_job_delete_owned(mg_job_t *job, mg_query_t q, const char *const *values,
                    int (*not_found)(mg_job_t *job), const char *what)
{
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    int          sent;

    rc = mg_db_exec(job->db, q, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, what);
    } else if (PQntuples(res) == 0) {
        sent = not_found(job);
    } else {
        sent = mg_job_reply_empty(job, 204);
    }
    PQclear(res);
    return sent;
}
