/*
 * mg_job: one request being served by a pool thread, and the reply API
 * handlers use.  A job is answered exactly once: a whole JSON response,
 * an empty one (204), or an error (ERR, which the module turns into
 * {"error":{"code","message","request_id"}}).
 */
#ifndef MG_JOB_H
#define MG_JOB_H

#include <stdatomic.h>
#include <stddef.h>
#include <jansson.h>

#include "mg_protocol.h"
#include "db/db.h"
#include "validate.h"

/* How replies leave the process (the pool's thread provides it; tests can
 * capture replies with their own).  0, or -1 when the message was lost. */
typedef int (*mg_job_send_fn)(void *ctx, const mg_msg_t *msg);

typedef struct {
    char             rid[MG_RID_LEN + 1];
    const char      *name;          /* borrowed from the request frame */
    size_t           name_len;
    json_t          *params;        /* owned: path parameters plus "query" */
    const char      *params_text;   /* the same as sent, borrowed from the frame */
    size_t           params_len;
    json_t          *claims;        /* owned: the verified token payload */
    const char      *body;          /* borrowed from the request frame */
    size_t           body_len;
    const char      *user_id;       /* borrowed from claims, set by mg_users_ensure */
    mg_db_t         *db;            /* the thread's connection, borrowed */
    int              nthreads;      /* pool size, reported by health */
    atomic_int      *cancel;        /* set by the broker on CANCEL; may be NULL */
    mg_job_send_fn   send;
    void            *send_ctx;
    const void      *peer;          /* the module peer's routing id, borrowed */
    size_t           peer_len;
    int              replied;
    char             outcome[48];   /* the error code answered, "" for ok (metrics) */
} mg_job_t;

/* Fill job from a parsed REQ (frames must outlive the job).  params and
 * claims may be empty frames (= {}).  0, or -1 with a reason in err when
 * they are not JSON objects; the job then needs only mg_job_free. */
int  mg_job_init(mg_job_t *job, const mg_msg_t *req, char *err, size_t errlen);
void mg_job_free(mg_job_t *job);

int  mg_job_cancelled(const mg_job_t *job);

/* How the job was answered, for metrics: "ok", "cancelled" when its
 * answer was dropped, or the error code it answered with. */
const char *mg_job_outcome(const mg_job_t *job);

/* A string path parameter ("id"), or NULL; *len gets its length. */
const char *mg_job_param(const mg_job_t *job, const char *name, size_t *len);
/* The raw query string ("" when there is none). */
const char *mg_job_query(const mg_job_t *job, size_t *len);

/* Replies.  Each returns 0, or -1 when the reply could not be sent (logged).
 * headers (may be NULL) is an object of extra header name -> string. */
int mg_job_reply_json(mg_job_t *job, int status, const json_t *body, const json_t *headers);
/* body is already JSON text (e.g. serialised by Postgres). */
int mg_job_reply_raw(mg_job_t *job, int status, const char *body, size_t len,
                     const json_t *headers);
int mg_job_reply_empty(mg_job_t *job, int status);
int mg_job_reply_error(mg_job_t *job, int status, const char *code, const char *message);
int mg_job_reply_verr(mg_job_t *job, const mg_verr_t *err);
/* An error in the API's shape that carries extra headers (an ERR cannot):
 * written here as a whole reply, e.g. 429 with Retry-After, or 403 that
 * clears a cookie. */
int mg_job_reply_error_with(mg_job_t *job, int status, const char *code,
                            const char *message, const json_t *headers);

/* A streamed answer's parts (HEAD, DATA, END, ERR), sent by whoever owns
 * the stream; any number per job.  0 or -1. */
int mg_job_send_part(mg_job_t *job, mg_msg_t *msg);
/* The job's answer is now someone else's (a stream): no reply is due. */
void mg_job_handed_off(mg_job_t *job);

/* The reply for a statement that did not return MG_DB_OK: 503
 * database_unavailable, or 500 internal with the SQL error logged against
 * what.  Does not free res. */
int mg_job_reply_db_error(mg_job_t *job, mg_db_rc_t rc, const PGresult *res, const char *what);

/* Delete one of the caller's rows with q (its parameters in values; it
 * returns a row when it deleted one): 204, not_found's answer when nothing
 * was the caller's to delete, or the database's error (what names the
 * job in the log). */
int mg_job_delete_owned(mg_job_t *job, mg_query_t q, const char *const *values,
                        int (*not_found)(mg_job_t *job), const char *what);

#endif
