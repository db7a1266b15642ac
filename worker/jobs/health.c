/*
 * health: owns the readiness answer: this worker is taking jobs and its
 * database answers.  Public (no token); the module maps it to GET /health.
 */
#include "jobs/jobs.h"

int
mg_job_health(mg_job_t *job)
{
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    json_t      *body;
    int          sent;

    rc = mg_db_exec(job->db, MG_Q_PING, NULL, &res);
    PQclear(res);
    if (rc != MG_DB_OK) {
        /* any failure of SELECT 1 means the database is not usable */
        return mg_job_reply_error(job, 503, "database_unavailable", "database unavailable");
    }

    body = json_pack("{s:s, s:s, s:i}", "status", "ok", "database", "ok",
                     "threads", job->nthreads);
    if (body == NULL) {
        return mg_job_reply_error(job, 500, "internal", "internal error");
    }
    sent = mg_job_reply_json(job, 200, body, NULL);
    json_decref(body);
    return sent;
}
